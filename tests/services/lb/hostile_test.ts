// Every request lib/http's server refuses (tests/lib/http/_hostile_cases.ts:
// smuggling variants, oversized parts, bad chunking, bad bytes) is refused
// by the balancer with the same status and never forwarded: not even the
// head of a request whose (small) body breaks its framing reaches the
// backend. The good rows of the table go through.

import assert from "node:assert/strict";
import { CASES } from "../../lib/http/_hostile_cases.ts";
import { RawClient } from "../../lib/http/_raw.ts";
import { startBackend, startTestLb } from "./_support.ts";

Deno.test("lb refuses every request lib/http refuses, and forwards none of them", async (t) => {
  const backend = startBackend("b");
  const lb = await startTestLb({ pools: { b: { backends: [backend.url] } }, defaultPool: "b" });
  try {
    const refused = CASES.filter((c) => c.status >= 400 && !c.fromApp);
    assert.ok(refused.length >= 40, `only ${refused.length} refused cases`);
    for (const c of CASES) {
      await t.step(c.name, async () => {
        const before = backend.seen.length;
        const headsBefore = backend.heads.count;
        using client = await RawClient.connect(lb.addresses.http.port);
        await client.send(c.request);
        const response = await client.response(c.method);
        assert.ok(response, "no response before the connection ended");
        if (c.status >= 400 && !c.fromApp) {
          assert.equal(response.status, c.status, response.body);
          assert.equal(backend.seen.length, before, "the backend saw it");
          assert.equal(backend.heads.count, headsBefore, "not even its head reached the backend");
        } else {
          // Good requests and those only an app refuses are the backend's to answer.
          assert.equal(response.status, 200, response.body);
          assert.equal(backend.seen.length, before + 1);
        }
      });
    }
  } finally {
    await lb.close();
    await backend.close();
  }
});
