// The cache's admin port: /metrics read at scrape time, and /healthz with
// real checks (memory against --maxmemory, the keyspace, clients against
// the cap).

import assert from "node:assert/strict";
import { logger } from "../../../lib/log.ts";
import { RespClient } from "../../../lib/resp/client.ts";
import { RespError, type RespValue } from "../../../lib/resp/types.ts";
import { cacheChecks, service } from "../../../services/cache/mod.ts";
import { CacheServer } from "../../../services/cache/server.ts";
import { startService } from "../../_support/service.ts";
import { waitFor } from "./wait.ts";

async function health(adminPort: number): Promise<{ status: number; body: HealthBody }> {
  const response = await fetch(`http://127.0.0.1:${adminPort}/healthz`);
  return { status: response.status, body: await response.json() };
}

interface HealthBody {
  status: string;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

Deno.test("cache serves /healthz and /metrics on its admin port", async () => {
  await using cache = await startService(service);
  const client = await RespClient.connect({
    hostname: "127.0.0.1",
    port: cache.addresses.tcp.port,
  });
  try {
    await client.send("SET", "a", "1");
    await client.send("GET", "a");
    await client.send("GET", "missing");
  } finally {
    client.close();
  }
  const admin = `http://127.0.0.1:${cache.addresses.admin.port}`;
  const metrics = await (await fetch(`${admin}/metrics`)).text();
  assert.match(metrics, /^cache_commands_total [3-9]$/m);
  assert.match(metrics, /^cache_keyspace_lookups_total\{result="hit"\} 1$/m);
  assert.match(metrics, /^cache_keyspace_lookups_total\{result="miss"\} 1$/m);
  assert.match(metrics, /^cache_keys\{db="0"\} 1$/m);
  assert.match(metrics, /^cache_used_memory_bytes [1-9]/m);
  assert.match(metrics, /^cache_connections_refused_total 0$/m);
  const { status, body } = await health(cache.addresses.admin.port);
  assert.equal(status, 200);
  assert.equal(body.status, "ok");
  assert.deepEqual(Object.keys(body.checks).sort(), ["clients", "keyspace", "memory"]);
  assert.equal(body.checks.keyspace.detail, "1 keys");
  assert.match(body.checks.memory.detail!, /^\d+ bytes used, no maxmemory$/);
  assert.match(body.checks.clients.detail!, /^[01] of 10000 connections$/);
});

Deno.test("/healthz fails the memory check once noeviction refuses writes, and recovers", async () => {
  await using cache = await startService(service, { maxmemory: "1200kb" });
  using client = await RespClient.connect({ port: cache.addresses.tcp.port });
  let refused: RespValue = null;
  for (let i = 0; i < 2000 && !(refused instanceof RespError); i++) {
    refused = await client.send("SET", `k${i}`, "v".repeat(1000));
  }
  assert.ok(refused instanceof RespError);
  const failing = await health(cache.addresses.admin.port);
  assert.equal(failing.status, 503);
  assert.equal(failing.body.status, "failing");
  assert.equal(failing.body.checks.memory.ok, false);
  assert.match(failing.body.checks.memory.detail!, /of 1228800 bytes used \(noeviction\)$/);
  assert.equal(failing.body.checks.keyspace.ok, true);
  await client.send("FLUSHALL");
  assert.equal((await health(cache.addresses.admin.port)).status, 200);
});

Deno.test("the clients check fails when every connection slot is taken", async () => {
  const server = new CacheServer({
    host: "127.0.0.1",
    port: 0,
    databases: 1,
    maxmemoryBytes: 0,
    policy: "noeviction",
    limits: { connectionsMax: 2 },
    log: logger("cache"),
  });
  const { port } = server.listen("127.0.0.1", 0);
  try {
    using first = await RespClient.connect({ port });
    await first.send("PING");
    assert.deepEqual(cacheChecks(server).clients, { ok: true, detail: "1 of 2 connections" });
    using second = await RespClient.connect({ port });
    await second.send("PING");
    assert.deepEqual(cacheChecks(server).clients, { ok: false, detail: "2 of 2 connections" });
    second.close();
    await waitFor("the server to see the client go", () => server.sessions.size === 1);
    assert.equal(cacheChecks(server).clients.ok, true);
  } finally {
    await server.close(1_000);
  }
});
