// DUMP and RESTORE against redis-server 7: payloads go both ways (Redis's
// listpacks, intsets, quicklists and LZF strings read here; ours, in the
// plain RDB encodings, restore there), short strings DUMP to Redis's exact
// bytes, and RESTORE's checks answer as Redis's do.

import assert from "node:assert/strict";
import { RespClient } from "../../../lib/resp/client.ts";
import { RespError, RespSimple, type RespValue } from "../../../lib/resp/types.ts";
import { crc64, decodeDump, encodeDump } from "../../../services/cache/rdb.ts";
import { service } from "../../../services/cache/mod.ts";
import { interopTest } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";
import { startRedis } from "./redis_server.ts";

Deno.test({
  name: "crc64() is Redis's CRC-64 (Jones), and a payload round-trips",
  permissions: "none",
  fn() {
    // Redis's crc64.c test vector.
    assert.equal(crc64(new TextEncoder().encode("123456789")), 0xe9c6d914c4b8d9can);
    const decoded = decodeDump(encodeDump("hello"));
    assert.deepEqual(decoded, { ok: true, value: "hello" });
    const corrupt = encodeDump("hello");
    corrupt[2] ^= 1;
    assert.deepEqual(decodeDump(corrupt), {
      ok: false,
      error: "ERR DUMP payload version or checksum are wrong",
    });
  },
});

/** Commands that build one key of every shape, small and large. */
const FIXTURES: (string | number)[][] = [
  ["SET", "s:int", "12345"],
  ["SET", "s:neg", "-7"],
  ["SET", "s:short", "hello"],
  ["SET", "s:long", "x".repeat(300)],
  ["SET", "s:big", "abc".repeat(10000)],
  ["RPUSH", "l:small", "a", "1", "-300", "b".repeat(100)],
  ["RPUSH", "l:big", ...Array.from({ length: 300 }, (_, i) => `item${i}`)],
  ["SADD", "set:int", "1", "2", "-3", "70000", "9000000000"],
  ["SADD", "set:str", "x", "y"],
  ["HSET", "h:small", "f", "v", "n", "12"],
  ["HSET", "h:big", ...Array.from({ length: 300 }, (_, i) => [`f${i}`, `v${i}`]).flat()],
  ["ZADD", "z:small", "1.5", "a", "-2", "b", "inf", "c"],
  ["ZADD", "z:big", ...Array.from({ length: 300 }, (_, i) => [String(i / 3), `m${i}`]).flat()],
];

/** Reads a key back as comparable text, whatever its type. */
async function contents(client: RespClient, key: string): Promise<string> {
  const type = String((await client.send("TYPE", key) as RespSimple).text);
  const read: Record<string, (string | number)[]> = {
    string: ["GET", key],
    list: ["LRANGE", key, 0, -1],
    set: ["SORT", key, "ALPHA"],
    hash: ["HGETALL", key],
    zset: ["ZRANGE", key, 0, -1, "WITHSCORES"],
  };
  const reply = await client.send(...read[type]);
  const text = (value: RespValue): unknown =>
    value instanceof Uint8Array
      ? new TextDecoder().decode(value)
      : Array.isArray(value)
      ? value.map(text)
      : value;
  const shown = text(reply);
  return `${type}:${JSON.stringify(type === "hash" ? (shown as string[]).join(",") : shown)}`;
}

interopTest("DUMP payloads move between redis-server and our cache both ways", {
  binaries: ["redis-server"],
  async fn() {
    await using redis = await startRedis();
    await using cache = await startService(service);
    const theirs = await RespClient.connect({ port: redis.port });
    const ours = await RespClient.connect({ port: cache.addresses.tcp.port });
    try {
      for (const fixture of FIXTURES) {
        await theirs.send(...fixture);
        await ours.send(...fixture);
        const key = String(fixture[1]);
        const expected = await contents(theirs, key);
        const fromRedis = await theirs.send("DUMP", key);
        assert.ok(fromRedis instanceof Uint8Array);
        const restored = await ours.send("RESTORE", `${key}:copy`, 0, fromRedis);
        assert.ok(restored instanceof RespSimple, `${key}: ${restored}`);
        assert.equal(await contents(ours, `${key}:copy`), expected, `Redis's ${key} read here`);
        const fromUs = await ours.send("DUMP", key);
        assert.ok(fromUs instanceof Uint8Array);
        const back = await theirs.send("RESTORE", `${key}:back`, 0, fromUs);
        assert.ok(back instanceof RespSimple, `${key}: ${back}`);
        assert.equal(await contents(theirs, `${key}:back`), expected, `our ${key} read by Redis`);
        if (key === "s:int" || key === "s:neg" || key === "s:short") {
          assert.deepEqual(fromUs, fromRedis, `${key} DUMPs to Redis's bytes`);
        }
      }
      const payload = await ours.send("DUMP", "s:short") as Uint8Array;
      for (
        const args of [
          ["RESTORE", "s:short", 0, payload],
          ["RESTORE", "fresh", -1, payload],
          ["RESTORE", "fresh", 0, payload, "IDLETIME", 1, "FREQ", 1],
          ["RESTORE", "fresh", 0, payload, "FREQ", 256],
          ["RESTORE", "fresh", 0, "garbage-payload"],
          ["RESTORE", "fresh", 0, payload.slice(1)],
        ]
      ) {
        const a = await ours.send(...args);
        const b = await theirs.send(...args);
        assert.ok(a instanceof RespError && b instanceof RespError);
        assert.equal(a.message, b.message);
      }
      assert.equal(await ours.send("DUMP", "missing"), null);
    } finally {
      theirs.close();
      ours.close();
    }
  },
});
