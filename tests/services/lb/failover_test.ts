// The balancer under a bounded load loop while one of three backends is
// killed and later restarted on the same port, and the configuration is
// reloaded twice in between: idempotent GETs see no failure at all, the dead
// backend stops getting attempts once one check (or one failed request)
// has found it, keeps that state across both reloads, and gets traffic back
// once it recovers.

import assert from "node:assert/strict";
import { HttpClient } from "../../../lib/http/client.ts";
import type { HttpServer } from "../../../lib/http/server.ts";
import { serveHttp } from "../../../lib/http/server.ts";
import { startTestLb, waitFor } from "./_support.ts";

const WORKERS = 4;
const REBIND_MS = 20_000;

/** `start()` again until the port it binds is free, for a bounded time. */
async function serveAgain(start: () => HttpServer): Promise<HttpServer> {
  const deadline = Date.now() + REBIND_MS;
  for (;;) {
    try {
      return start();
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
/** Each worker's requests at most: the loop is bounded however long a phase takes. */
const REQUESTS_PER_WORKER_MAX = 20_000;

Deno.test("lb keeps idempotent GETs whole while a backend dies, reloads twice, and comes back", async () => {
  const hits = new Map<string, number>();
  const serve = (name: string, port = 0): HttpServer =>
    serveHttp({
      hostname: "127.0.0.1",
      port,
      handler: (request) => {
        if (request.path !== "/healthz") hits.set(name, (hits.get(name) ?? 0) + 1);
        return { status: 200, body: name };
      },
    });
  const servers = new Map<string, HttpServer>([["a", serve("a")], ["b", serve("b")], [
    "c",
    serve("c"),
  ]]);
  const url = (name: string) => `http://127.0.0.1:${servers.get(name)!.addr.port}`;
  const cPort = servers.get("c")!.addr.port;
  const config = (weightA: number) => ({
    pools: {
      web: {
        algorithm: "weighted-round-robin",
        backends: [{ url: url("a"), weight: weightA }, url("b"), url("c")],
        // A dead backend fails its check at once (the connect is refused);
        // the timeout only has to spare the live ones on a busy machine,
        // where a 200 ms one failed them (fall: 1) and every request got 503.
        healthCheck: { path: "/healthz", intervalMs: 50, timeoutMs: 5_000, rise: 1, fall: 1 },
        passive: { failures: 1, cooldownMs: 60_000 },
        retries: 2,
      },
    },
    defaultPool: "web",
    retryBudget: { ratio: 0.5, minPerSecond: 100 },
  });
  const lb = await startTestLb(config(1));
  const client = new HttpClient();
  const statuses = new Map<number, number>();
  let stop = false;
  const workers = Array.from({ length: WORKERS }, async () => {
    for (let i = 0; i < REQUESTS_PER_WORKER_MAX && !stop; i++) {
      const response = await client.request(`${lb.url}/spell`);
      await response.text();
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    }
  });
  const adminUrl = `http://127.0.0.1:${lb.addresses.admin.port}/metrics`;
  const metrics = async () => await (await client.request(adminUrl)).text();
  const connectErrorsToC = async () => {
    const m = (await metrics()).match(
      new RegExp(
        `lb_backend_errors_total\\{pool="web",backend="${url("c")}",kind="connect"\\} (\\d+)`,
      ),
    );
    return m === null ? 0 : Number(m[1]);
  };
  try {
    await waitFor(() => ["a", "b", "c"].every((n) => (hits.get(n) ?? 0) >= 20), "warm-up");

    // Kill c.
    await servers.get("c")!.close(0);
    await waitFor(
      async () => (await metrics()).includes(`lb_backend_up{pool="web",backend="${url("c")}"} 0`),
      "c marked down",
    );
    const errorsWhenFound = await connectErrorsToC();
    // One failed request ejects it (passive); requests already in flight may each meet it once.
    assert.ok(errorsWhenFound <= WORKERS, `${errorsWhenFound} attempts reached the dead backend`);

    // Two reloads while c is down: a changed weight, then back. State is kept.
    const before = hits.get("a") ?? 0;
    await lb.write(config(3));
    await lb.reload();
    await waitFor(() => (hits.get("a") ?? 0) >= before + 30, "traffic after the first reload");
    await lb.write(config(1));
    await lb.reload();
    const afterReloads = (hits.get("a") ?? 0) + (hits.get("b") ?? 0);
    await waitFor(
      () => (hits.get("a") ?? 0) + (hits.get("b") ?? 0) >= afterReloads + 30,
      "traffic after the second reload",
    );
    assert.equal(await connectErrorsToC(), errorsWhenFound, "c stayed out across both reloads");

    // Restart c on its port: traffic comes back. The released port may be
    // held a moment by a socket of a test running alongside: retried.
    servers.set("c", await serveAgain(() => serve("c", cPort)));
    const cBefore = hits.get("c") ?? 0;
    await waitFor(() => (hits.get("c") ?? 0) >= cBefore + 10, "traffic back on c");
  } finally {
    stop = true;
    await Promise.all(workers);
    await client.close();
    await lb.close();
    for (const server of servers.values()) await server.close(0);
  }
  assert.deepEqual([...statuses.keys()], [200], `statuses seen: ${JSON.stringify([...statuses])}`);
});
