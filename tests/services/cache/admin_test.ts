import assert from "node:assert/strict";
import { RespClient } from "../../../lib/resp/client.ts";
import { service } from "../../../services/cache/mod.ts";
import { startService } from "../../_support/service.ts";

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
  const health = await fetch(`${admin}/healthz`);
  assert.equal(health.status, 200);
  await health.body?.cancel();
  const metrics = await (await fetch(`${admin}/metrics`)).text();
  assert.match(metrics, /^cache_commands_total [3-9]$/m);
  assert.match(metrics, /^cache_keyspace_lookups_total\{result="hit"\} 1$/m);
  assert.match(metrics, /^cache_keyspace_lookups_total\{result="miss"\} 1$/m);
  assert.match(metrics, /^cache_keys\{db="0"\} 1$/m);
  assert.match(metrics, /^cache_used_memory_bytes [1-9]/m);
});
