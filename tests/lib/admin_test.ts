// The admin endpoints: /healthz 200 or 503 with JSON checks, /metrics in
// Prometheus text, on their own port (startAdminServer) and mounted on a
// service's router (mountAdmin).

import assert from "node:assert/strict";
import { type CheckResult, mountAdmin, startAdminServer } from "../../lib/admin.ts";
import { HttpClient } from "../../lib/http/client.ts";
import { Router } from "../../lib/http/router.ts";
import { serveHttp } from "../../lib/http/server.ts";
import { MetricsRegistry } from "../../lib/metrics.ts";

Deno.test("startAdminServer serves /healthz (200, then 503) and /metrics", async () => {
  const registry = new MetricsRegistry();
  registry.counter("things_total", "Things.").inc(undefined, 3);
  let checks: Record<string, CheckResult> = { disk: { ok: true } };
  const admin = startAdminServer({ port: 0, registry, checks: () => Promise.resolve(checks) });
  await using client = new HttpClient();
  try {
    const base = `http://127.0.0.1:${admin.addr.port}`;
    const healthy = await client.request(`${base}/healthz`);
    assert.equal(healthy.status, 200);
    assert.deepEqual(await healthy.json(), { status: "ok", checks: { disk: { ok: true } } });
    checks = { disk: { ok: false, detail: "read-only" } };
    const failing = await client.request(`${base}/healthz`);
    assert.equal(failing.status, 503);
    assert.deepEqual(await failing.json(), {
      status: "failing",
      checks: { disk: { ok: false, detail: "read-only" } },
    });
    const metrics = await client.request(`${base}/metrics`);
    assert.match(metrics.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    assert.match(await metrics.text(), /^things_total 3$/m);
    assert.equal(
      (await client.request(`${base}/other`).then(async (r) => (await r.text(), r))).status,
      404,
    );
  } finally {
    await client.close();
    await admin.close();
  }
});

Deno.test("mountAdmin adds the same routes to a service's router, and a throwing check is a failure", async () => {
  const router = new Router();
  router.get("/", () => ({ status: 200, body: "app" }));
  mountAdmin(router, { checks: () => Promise.reject(new Error("db down")) });
  await using server = serveHttp({ handler: router.handle });
  await using client = new HttpClient();
  const response = await client.request(`http://127.0.0.1:${server.addr.port}/healthz`);
  assert.equal(response.status, 503);
  assert.match(await response.text(), /db down/);
});

Deno.test("/readyz runs the readiness checks, or falls back to the health checks", async () => {
  let ready = false;
  const admin = startAdminServer({
    port: 0,
    checks: () => ({ alive: { ok: true } }),
    readiness: () => ({ recovery: ready ? { ok: true } : { ok: false, detail: "replaying log" } }),
  });
  const router = mountAdmin(new Router(), { checks: () => ({ alive: { ok: true } }) });
  await using mounted = serveHttp({ handler: router.handle });
  await using client = new HttpClient();
  try {
    const base = `http://127.0.0.1:${admin.addr.port}`;
    const healthz = await client.request(`${base}/healthz`);
    assert.equal(healthz.status, 200, "alive while not ready");
    await healthz.text();
    const notReady = await client.request(`${base}/readyz`);
    assert.equal(notReady.status, 503);
    assert.deepEqual(await notReady.json(), {
      status: "failing",
      checks: { recovery: { ok: false, detail: "replaying log" } },
    });
    ready = true;
    const nowReady = await client.request(`${base}/readyz`);
    assert.equal(nowReady.status, 200);
    assert.deepEqual(await nowReady.json(), { status: "ok", checks: { recovery: { ok: true } } });
    const fallback = await client.request(`http://127.0.0.1:${mounted.addr.port}/readyz`);
    assert.equal(fallback.status, 200);
    assert.deepEqual(await fallback.json(), { status: "ok", checks: { alive: { ok: true } } });
  } finally {
    await client.close();
    await admin.close();
  }
});
