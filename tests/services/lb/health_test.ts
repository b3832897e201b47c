// Health state changes seen through the balancer: active checks take a
// backend out and bring it back, passive ejection after failed requests, a
// stale pooled connection retried, and /readyz and /metrics on the admin port.

import assert from "node:assert/strict";
import { HttpClient } from "../../../lib/http/client.ts";
import { serveHttp } from "../../../lib/http/server.ts";
import { get, startBackend, startTestLb, waitFor } from "./_support.ts";
import { DEAD_PORT } from "../../_support/dead_port.ts";

Deno.test("lb health checks take a failing backend out of rotation and bring it back", async () => {
  let healthy = true;
  const seen: string[] = [];
  const a = startBackend("a", {
    handler: (request) => {
      if (request.path === "/healthz") return { status: healthy ? 200 : 500, body: "" };
      seen.push("a");
      return { status: 200, body: "a" };
    },
  });
  const b = startBackend("b");
  const lb = await startTestLb({
    pools: {
      web: {
        backends: [a.url, b.url],
        healthCheck: { path: "/healthz", intervalMs: 20, timeoutMs: 500, rise: 2, fall: 2 },
      },
    },
    defaultPool: "web",
  });
  const client = new HttpClient();
  const admin = `http://127.0.0.1:${lb.addresses.admin.port}`;
  try {
    const up = () => get(client, `${admin}/metrics`).then((r) => String(r.body));
    await waitFor(
      async () => (await up()).includes(`lb_backend_up{pool="web",backend="${a.url}"} 1`),
      "a up",
    );
    healthy = false;
    await waitFor(
      async () => (await up()).includes(`lb_backend_up{pool="web",backend="${a.url}"} 0`),
      "a down",
    );
    seen.length = 0;
    for (let i = 0; i < 6; i++) assert.equal((await get(client, `${lb.url}/x`)).status, 200);
    assert.equal(seen.length, 0, "no traffic to a backend that is down");
    const ready = await get(client, `${admin}/readyz`);
    assert.equal(ready.status, 200, "the pool still has b");
    healthy = true;
    await waitFor(
      async () => (await up()).includes(`lb_backend_up{pool="web",backend="${a.url}"} 1`),
      "a back",
    );
    for (let i = 0; i < 6; i++) await get(client, `${lb.url}/x`);
    assert.ok(seen.length >= 2, "traffic returns once it is up");
    const metrics = await up();
    assert.match(
      metrics,
      /lb_backend_requests_total\{pool="web",backend="[^"]+",status="200"\} \d+/,
    );
    assert.match(metrics, /lb_backend_response_seconds_bucket\{pool="web"/);
    assert.match(metrics, /lb_backend_active_requests\{backend=/);
    assert.match(metrics, /lb_pool_idle_connections\{pool="web"\} [1-9]/);
  } finally {
    await client.close();
    await lb.close();
    await a.close();
    await b.close();
  }
});

Deno.test("lb /readyz fails while a pool has no backend up", async () => {
  const a = startBackend("a", { handler: () => ({ status: 503, body: "" }) });
  const lb = await startTestLb({
    pools: {
      web: { backends: [a.url], healthCheck: { intervalMs: 20, timeoutMs: 500, fall: 1 } },
    },
    defaultPool: "web",
  });
  const client = new HttpClient();
  try {
    const admin = `http://127.0.0.1:${lb.addresses.admin.port}`;
    await waitFor(async () => (await get(client, `${admin}/readyz`)).status === 503, "not ready");
    const r = await get(client, `${lb.url}/x`);
    assert.equal(r.status, 503);
    assert.equal(r.headers.get("retry-after"), "1");
    assert.equal((await get(client, `${admin}/healthz`)).status, 200, "alive all the same");
  } finally {
    await client.close();
    await lb.close();
    await a.close();
  }
});

Deno.test("lb ejects a backend after consecutive connection failures, for its cool-down", async () => {
  const good = startBackend("good");
  const deadUrl = `http://127.0.0.1:${DEAD_PORT}`;
  const lb = await startTestLb({
    pools: {
      web: {
        backends: [deadUrl, good.url],
        passive: { failures: 2, cooldownMs: 60_000 },
        retries: 1,
      },
    },
    defaultPool: "web",
    debugHeader: true,
  });
  const client = new HttpClient();
  try {
    const attempts: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await get(client, `${lb.url}/x`);
      assert.equal(r.status, 200);
      attempts.push(r.headers.get("x-lb-debug")!.split("attempt=")[1]);
    }
    // Two requests met the dead backend first (retried: attempt 2), then it was ejected.
    assert.equal(attempts.filter((a) => a === "2").length, 2);
    assert.deepEqual(attempts.slice(-4), ["1", "1", "1", "1"]);
    const metrics = String(
      (await get(client, `http://127.0.0.1:${lb.addresses.admin.port}/metrics`)).body,
    );
    assert.ok(metrics.includes(`lb_backend_ejected{pool="web",backend="${deadUrl}"} 1`));
    assert.match(metrics, /lb_retries_total\{pool="web"\} 2/);
    assert.match(metrics, /lb_backend_errors_total\{pool="web",backend="[^"]+",kind="connect"\} 2/);
  } finally {
    await client.close();
    await lb.close();
    await good.close();
  }
});

Deno.test("lb reuses pooled backend connections and survives the backend closing them while idle", async () => {
  // The backend closes idle keep-alive connections after 50 ms.
  const seen: number[] = [];
  const server = serveHttp({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeoutMs: 50,
    handler: (request) => {
      seen.push(request.remoteAddr!.port);
      return { status: 200, body: "ok" };
    },
  });
  const lb = await startTestLb({
    pools: { web: { backends: [`http://127.0.0.1:${server.addr.port}`], retries: 0 } },
    defaultPool: "web",
  });
  const client = new HttpClient();
  try {
    for (let i = 0; i < 3; i++) assert.equal((await get(client, `${lb.url}/x`)).status, 200);
    assert.equal(new Set(seen).size, 1, "one pooled backend connection for sequential requests");
    await waitFor(() => server.connections === 0, "the backend closed the idle connection");
    for (let i = 0; i < 3; i++) assert.equal((await get(client, `${lb.url}/x`)).status, 200);
    assert.equal(new Set(seen).size, 2);
  } finally {
    await client.close();
    await lb.close();
    await server.close(0);
  }
});
