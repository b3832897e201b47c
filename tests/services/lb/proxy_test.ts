// The balancer end to end against small lib/http backends: routing, round
// robin per request on one keep-alive connection, header rewriting, the
// target passed through as received, 404/503/502 of its own.

import assert from "node:assert/strict";
import { HttpClient } from "../../../lib/http/client.ts";
import { get, startBackend, startTestLb } from "./_support.ts";

Deno.test("lb round-robins every request on one keep-alive connection", async () => {
  const a = startBackend("a");
  const b = startBackend("b");
  const lb = await startTestLb({
    pools: { web: { backends: [a.url, b.url] } },
    defaultPool: "web",
  });
  const client = new HttpClient();
  try {
    const names: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await get(client, `${lb.url}/x`);
      assert.equal(r.status, 200);
      names.push((r.body as { name: string }).name);
    }
    assert.deepEqual(names, ["a", "b", "a", "b", "a", "b"]);
    assert.equal(client.idleConnections, 1, "one client connection carried them all");
  } finally {
    await client.close();
    await lb.close();
    await a.close();
    await b.close();
  }
});
