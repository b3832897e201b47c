// CONFIG GET and CONFIG SET for every parameter redis-server 7.0.15 lists:
// the same names (aliases included), and the same answer to CONFIG SET of
// each with its own value, with "x", and with the int64 extremes, so type
// checks, bounds, enum names and immutable/protected refusals are Redis's
// (services/cache/config.ts was read off these same answers).

import assert from "node:assert/strict";
import { RespClient } from "../../../lib/resp/client.ts";
import type { RespValue } from "../../../lib/resp/types.ts";
import { service } from "../../../services/cache/mod.ts";
import { interopTest } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";
import { plainReply as plain } from "./harness.ts";
import { startRedis } from "./redis_server.ts";
import { commandCache } from "./harness.ts";

async function configMap(client: RespClient): Promise<Map<string, string>> {
  const reply = plain(await client.send("CONFIG", "GET", "*")) as string[] | string[][];
  const map = new Map<string, string>();
  // RESP2: a flat array of name, value.
  const flat = (reply as unknown[]).flat() as string[];
  for (let i = 0; i < flat.length; i += 2) map.set(flat[i], flat[i + 1]);
  return map;
}

/** Values that depend on the instance: each server is given its own. */
const OWN_VALUE = new Set(["port", "bind", "dir", "databases", "maxclients"]);

interopTest("CONFIG SET answers every parameter redis-server 7.0 lists as redis-server does", {
  binaries: ["redis-server"],
  async fn() {
    await using redis = await startRedis();
    await using cache = await startService(service);
    using ours = await RespClient.connect({ port: cache.addresses.tcp.port });
    using theirs = await RespClient.connect({ port: redis.port });
    const ourConfig = await configMap(ours);
    const theirConfig = await configMap(theirs);
    assert.deepEqual([...ourConfig.keys()].sort(), [...theirConfig.keys()].sort());
    const differences: string[] = [];
    const set = async (client: RespClient, name: string, value: string) =>
      plain(await client.send("CONFIG", "SET", name, value) as RespValue);
    for (const [name, redisValue] of theirConfig) {
      const ourOwn = OWN_VALUE.has(name) ? ourConfig.get(name)! : redisValue;
      const tries: [string, string][] = [[ourOwn, redisValue]];
      // requirepass "x" would lock the test out of both servers.
      if (name !== "requirepass") {
        for (const value of ["x", "-9223372036854775808", "9223372036854775807", "-1", "0"]) {
          tries.push([value, value]);
        }
      }
      for (const [ourValue, theirValue] of tries) {
        // A known difference: our listener is bound once, so another address
        // or port is refused ("Failed to bind", "Unable to listen") where
        // Redis rebinds (it takes "0" and "-1" as addresses, port 0 as none).
        if (name === "bind" && ourValue !== ourOwn) continue;
        if (name === "port" && ourValue === "0") continue;
        const a = await set(ours, name, ourValue);
        const b = await set(theirs, name, theirValue);
        const mine = typeof a === "string" ? a.replaceAll(ourValue, "<v>") : a;
        const reference = typeof b === "string" ? b.replaceAll(theirValue, "<v>") : b;
        if (JSON.stringify(mine) !== JSON.stringify(reference)) {
          differences.push(`CONFIG SET ${name} ${ourValue}: ours ${a}, redis ${b}`);
        }
        // Back to the value each started with.
        await set(ours, name, ourOwn);
        await set(theirs, name, redisValue);
      }
    }
    assert.deepEqual(differences, []);
  },
});

Deno.test({
  name: "CONFIG SET applies maxmemory, timeout and maxclients, and keeps aliases in step",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const client = cache.session();
    assert.equal(plain(client.run("CONFIG", "SET", "maxmemory", "1mb", "timeout", "7")), "+OK");
    assert.equal(cache.server.keyspace.maxmemoryBytes, 1024 * 1024);
    assert.equal(cache.server.idleTimeoutMs, 7000);
    assert.deepEqual(plain(client.run("CONFIG", "GET", "maxmemory")), ["maxmemory", "1048576"]);
    assert.equal(plain(client.run("CONFIG", "SET", "maxclients", "42")), "+OK");
    assert.equal(cache.server.limits.connectionsMax, 42);
    client.run("CONFIG", "SET", "slave-read-only", "NO");
    assert.deepEqual(plain(client.run("CONFIG", "GET", "replica-read-only")), [
      "replica-read-only",
      "no",
    ]);
    assert.equal(
      plain(client.run("CONFIG", "SET", "hash-max-listpack-value", "-1")),
      "-ERR CONFIG SET failed (possibly related to argument 'hash-max-listpack-value') - argument must be a memory value",
    );
  },
});
