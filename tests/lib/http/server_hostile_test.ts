// Malformed and hostile requests against a live lib/http server: each row
// gives the exact bytes, the status expected, and whether the connection
// must stay open (probed with a good request afterwards) or be closed
// because the framing can no longer be trusted.

import assert from "node:assert/strict";
import { serveHttp } from "../../../lib/http/server.ts";
import { testRouter } from "./_app.ts";
import { GOOD_REQUEST, RawClient } from "./_raw.ts";
import { CASES } from "./_hostile_cases.ts";

Deno.test("lib/http server answers each hostile request with the right status", async (t) => {
  assert.ok(CASES.length >= 40, `only ${CASES.length} cases`);
  await using server = serveHttp({ handler: testRouter().handle, port: 0 });
  for (const c of CASES) {
    await t.step(c.name, async () => {
      using client = await RawClient.connect(server.addr.port);
      await client.send(c.request);
      const response = await client.response(c.method);
      assert.ok(response, "no response before the connection ended");
      assert.equal(response.status, c.status, response.body);
      assert.doesNotMatch(response.body, /secret internal detail|at .*\.ts:\d+/);
      if (c.open) {
        assert.notEqual(response.headers.get("connection"), "close");
        await client.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n");
        const next = await client.response();
        assert.equal(next?.status, 200, "connection did not stay usable");
      } else {
        assert.equal(response.headers.get("connection"), "close");
        assert.ok(await client.closedByPeer(), "connection stayed open");
      }
    });
  }
  // The server keeps answering everyone after all of that.
  using probe = await RawClient.connect(server.addr.port);
  await probe.send(GOOD_REQUEST);
  assert.equal((await probe.response())?.status, 200);
});
