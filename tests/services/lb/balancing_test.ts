// Balancing through the balancer: sticky sessions by cookie and header,
// weighted round-robin shares, the per-backend cap on requests in flight,
// and the retry budget.

import assert from "node:assert/strict";
import { HttpClient } from "../../../lib/http/client.ts";
import { DEAD_PORT } from "../../_support/dead_port.ts";
import { get, startBackend, startTestLb, waitFor } from "./_support.ts";

function nameOf(r: { body: unknown }): string {
  return (r.body as { name: string }).name;
}

Deno.test("lb consistent-hash on a cookie keeps each session on one backend", async () => {
  const backends = ["a", "b", "c"].map((n) => startBackend(n));
  const lb = await startTestLb({
    pools: {
      web: {
        algorithm: "consistent-hash",
        hash: { on: "cookie", name: "session" },
        backends: backends.map((b) => b.url),
      },
    },
    defaultPool: "web",
  });
  const client = new HttpClient();
  try {
    const used = new Set<string>();
    for (let s = 0; s < 12; s++) {
      const cookie = `theme=dark; session=user-${s}`;
      const first = nameOf(await get(client, `${lb.url}/x`, { headers: { cookie } }));
      used.add(first);
      for (let i = 0; i < 3; i++) {
        assert.equal(nameOf(await get(client, `${lb.url}/y`, { headers: { cookie } })), first);
      }
    }
    assert.ok(used.size >= 2, "sessions spread over the backends");
  } finally {
    await client.close();
    await lb.close();
    for (const b of backends) await b.close();
  }
});

Deno.test("lb weighted-round-robin gives each backend its weight's share", async () => {
  const a = startBackend("a");
  const b = startBackend("b");
  const lb = await startTestLb({
    pools: {
      web: { algorithm: "weighted-round-robin", backends: [{ url: a.url, weight: 3 }, b.url] },
    },
    defaultPool: "web",
  });
  const client = new HttpClient();
  try {
    const names: string[] = [];
    for (let i = 0; i < 8; i++) names.push(nameOf(await get(client, `${lb.url}/x`)));
    assert.deepEqual(names, ["a", "a", "b", "a", "a", "a", "b", "a"]);
  } finally {
    await client.close();
    await lb.close();
    await a.close();
    await b.close();
  }
});

Deno.test("lb counts a backend at connectionsMax requests in flight as full", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  let started = 0;
  const slow = startBackend("slow", {
    handler: async () => {
      started++;
      await gate;
      return { status: 200, body: "slow" };
    },
  });
  const lb = await startTestLb({
    pools: { web: { backends: [slow.url], connectionsMax: 1 } },
    defaultPool: "web",
  });
  const client = new HttpClient();
  try {
    const first = client.request(`${lb.url}/1`);
    await waitFor(() => started === 1, "the first request in flight");
    const second = await get(client, `${lb.url}/2`);
    assert.equal(second.status, 503, "the only backend is full");
    assert.equal(started, 1);
    release();
    assert.equal(await (await first).text(), "slow");
    assert.equal((await get(client, `${lb.url}/3`)).status, 200, "room again");
  } finally {
    release();
    await client.close();
    await lb.close();
    await slow.close();
  }
});

Deno.test("lb retries no more than its retry budget allows", async () => {
  // Three backends that refuse connections (three loopback addresses, one
  // dead port); a budget with no stock and no floor.
  const hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
  const lb = await startTestLb({
    pools: {
      dead: {
        backends: hosts.map((host) => `http://${host}:${DEAD_PORT}`),
        passive: { failures: 0, cooldownMs: 0 },
        retries: 2,
      },
    },
    defaultPool: "dead",
    retryBudget: { ratio: 0, minPerSecond: 0 },
    debugHeader: true,
  });
  const client = new HttpClient();
  try {
    for (let i = 0; i < 5; i++) {
      const r = await get(client, `${lb.url}/x`);
      assert.equal(r.status, 502);
      assert.match(r.headers.get("x-lb-debug")!, /attempt=1$/, "no retry without budget");
    }
  } finally {
    await client.close();
    await lb.close();
  }
});
