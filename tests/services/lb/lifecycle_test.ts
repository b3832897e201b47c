// Reload and drain: a reload keeps requests in flight (even when their
// pool's client is replaced), a broken file keeps the old configuration,
// and close() (what SIGTERM runs) finishes in-flight requests while closing
// idle client connections at once.

import assert from "node:assert/strict";
import { HttpClient } from "../../../lib/http/client.ts";
import { get, startBackend, startTestLb, waitFor } from "./_support.ts";

function slowBackend() {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  let started = 0;
  const backend = startBackend("slow", {
    handler: async () => {
      started++;
      await gate;
      return { status: 200, body: "slow done" };
    },
  });
  return { backend, release, started: () => started };
}

Deno.test("lb reload keeps a request in flight whose pool client is replaced", async () => {
  const { backend, release, started } = slowBackend();
  const config = (connectMs: number) => ({
    pools: { web: { backends: [backend.url], timeouts: { connectMs } } },
    defaultPool: "web",
  });
  const lb = await startTestLb(config(1000));
  const client = new HttpClient();
  try {
    const pending = client.request(`${lb.url}/x`);
    await waitFor(() => started() === 1, "the request reached the backend");
    await lb.write(config(2000)); // new timeouts: the pool gets a new client
    await lb.reload();
    release();
    const response = await pending;
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "slow done");
    assert.equal((await get(client, `${lb.url}/y`)).status, 200, "the new client works");
  } finally {
    await client.close();
    await lb.close();
    await backend.close();
  }
});

Deno.test("lb reload with a broken file keeps the old configuration and says why", async () => {
  const a = startBackend("a");
  const lb = await startTestLb({ pools: { web: { backends: [a.url] } }, defaultPool: "web" });
  const client = new HttpClient();
  try {
    await lb.write({ pools: { web: { backends: [a.url], algorithm: "fastest" } } });
    await assert.rejects(lb.reload(), /pools\.web\.algorithm: expected one of/);
    await Deno.writeTextFile(lb.file, "{ not json");
    await assert.rejects(lb.reload(), /not JSON/);
    assert.equal((await get(client, `${lb.url}/x`)).status, 200);
  } finally {
    await client.close();
    await lb.close();
    await a.close();
  }
});

Deno.test("lb close() finishes in-flight requests and closes idle client connections at once", async () => {
  const { backend, release, started } = slowBackend();
  const lb = await startTestLb(
    { pools: { web: { backends: [backend.url] } }, defaultPool: "web" },
    { drainTimeoutMs: 10_000 },
  );
  const idle = await Deno.connect({ hostname: "127.0.0.1", port: lb.addresses.http.port });
  const client = new HttpClient();
  try {
    const pending = client.request(`${lb.url}/x`);
    await waitFor(() => started() === 1, "the request reached the backend");
    const closing = lb.close();
    // The idle connection is closed without waiting for the drain.
    const n = await idle.read(new Uint8Array(16)).catch(() => null);
    assert.equal(n, null, "idle connection closed");
    await assert.rejects(
      Deno.connect({ hostname: "127.0.0.1", port: lb.addresses.http.port }).then((c) => c.close()),
      "no longer accepting",
    );
    release();
    const response = await pending;
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("connection"), "close");
    assert.equal(await response.text(), "slow done");
    await closing;
  } finally {
    idle.close();
    await client.close();
    await lb.close();
    await backend.close();
  }
});
