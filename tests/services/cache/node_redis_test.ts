// The npm `redis` client (node-redis v5), as applications use it: strings,
// lists, hashes, sets, sorted sets, pub/sub, MULTI/EXEC with WATCH,
// blocking pops, and the SCAN iterators, over RESP2 and RESP3.

import assert from "node:assert/strict";
import { createClient } from "redis";
import { service } from "../../../services/cache/mod.ts";
import { startService } from "../../_support/service.ts";
import { waitFor } from "./wait.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function connect(port: number, resp: 2 | 3) {
  const client = createClient({ socket: { host: "127.0.0.1", port }, RESP: resp });
  client.on("error", () => {});
  await client.connect();
  return client;
}

for (const resp of [2, 3] as const) {
  Deno.test({
    name: `node-redis (RESP${resp}): strings, lists, hashes, sets and sorted sets`,
    ...opts,
    async fn() {
      await using cache = await startService(service);
      const client = await connect(cache.addresses.tcp.port, resp);
      try {
        assert.equal(await client.set("greeting", "hello", { EX: 100 }), "OK");
        assert.equal(await client.get("greeting"), "hello");
        assert.equal(await client.ttl("greeting"), 100);
        assert.equal(await client.incrBy("n", 42), 42);
        assert.equal(Number(await client.incrByFloat("f", 1.5)), 1.5);
        assert.deepEqual(await client.mGet(["greeting", "n", "none"]), ["hello", "42", null]);
        await assert.rejects(client.incr("greeting"), /value is not an integer or out of range/);
        assert.equal(await client.rPush("list", ["a", "b", "c"]), 3);
        assert.deepEqual(await client.lRange("list", 0, -1), ["a", "b", "c"]);
        assert.equal(await client.lPop("list"), "a");
        assert.equal(await client.hSet("user:1", { name: "ann", age: "30" }), 2);
        assert.deepEqual({ ...await client.hGetAll("user:1") }, { name: "ann", age: "30" });
        assert.equal(await client.hIncrBy("user:1", "age", 1), 31);
        assert.equal(await client.sAdd("tags", ["x", "y", "z"]), 3);
        assert.deepEqual((await client.sMembers("tags")).sort(), ["x", "y", "z"]);
        assert.equal(await client.sIsMember("tags", "y"), 1);
        assert.equal(
          await client.zAdd("board", [{ score: 10, value: "ann" }, { score: 5, value: "bob" }]),
          2,
        );
        assert.equal(await client.zIncrBy("board", 7, "bob"), 12);
        assert.deepEqual(await client.zRangeWithScores("board", 0, -1), [
          { value: "ann", score: 10 },
          { value: "bob", score: 12 },
        ]);
        assert.equal(await client.zRank("board", "bob"), 1);
        assert.deepEqual(await client.zRange("board", 11, 20, { BY: "SCORE" }), ["bob"]);
        assert.deepEqual(await client.zPopMin("board"), { value: "ann", score: 10 });
        assert.equal(await client.type("board"), "zset");
      } finally {
        client.destroy();
      }
    },
  });

  Deno.test({
    name: `node-redis (RESP${resp}): MULTI/EXEC with WATCH, blocking pops, SCAN iterators`,
    ...opts,
    async fn() {
      await using cache = await startService(service);
      const port = cache.addresses.tcp.port;
      const client = await connect(port, resp);
      const other = await connect(port, resp);
      try {
        const replies = await client.multi().set("a", "1").incr("a").get("a").exec();
        assert.deepEqual(replies, ["OK", 2, "2"]);
        await client.watch("a");
        await other.set("a", "changed");
        await assert.rejects(
          client.multi().set("a", "mine").exec(),
          /watched keys has been changed/,
        );
        assert.equal(await client.get("a"), "changed");

        const popped = client.blPop("jobs", 5);
        await waitFor("the BLPOP to block", async () => {
          const info = await other.info("clients");
          return /blocked_clients:1\b/.test(String(info));
        });
        await other.rPush("jobs", "job1");
        assert.deepEqual(await popped, { key: "jobs", element: "job1" });
        const zpopped = client.bzPopMax("scores", 5);
        await waitFor("the BZPOPMAX to block", async () => {
          const info = await other.info("clients");
          return /blocked_clients:1\b/.test(String(info));
        });
        await other.zAdd("scores", [{ score: 1, value: "low" }, { score: 9, value: "high" }]);
        assert.deepEqual(await zpopped, { key: "scores", value: "high", score: 9 });

        for (let i = 0; i < 250; i++) await client.set(`key:${i}`, String(i));
        const keys: string[] = [];
        for await (const batch of client.scanIterator({ MATCH: "key:*", COUNT: 50 })) {
          keys.push(...batch);
        }
        assert.equal(new Set(keys).size, 250);
        await client.hSet(
          "h",
          Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`f${i}`, `${i}`])),
        );
        const fields = new Set<string>();
        for await (const entries of client.hScanIterator("h")) {
          for (const entry of entries) fields.add(entry.field);
        }
        assert.equal(fields.size, 300);
        await client.sAdd("s", Array.from({ length: 300 }, (_, i) => `m${i}`));
        const members = new Set<string>();
        for await (const batch of client.sScanIterator("s")) for (const m of batch) members.add(m);
        assert.equal(members.size, 300);
        await client.zAdd(
          "z",
          Array.from({ length: 300 }, (_, i) => ({ score: i, value: `m${i}` })),
        );
        const scored = new Set<string>();
        for await (const batch of client.zScanIterator("z")) {
          for (const { value } of batch) scored.add(value);
        }
        assert.equal(scored.size, 300);
      } finally {
        client.destroy();
        other.destroy();
      }
    },
  });

  Deno.test({
    name: `node-redis (RESP${resp}): pub/sub with a subscribed duplicate`,
    ...opts,
    async fn() {
      await using cache = await startService(service);
      const client = await connect(cache.addresses.tcp.port, resp);
      const subscriber = client.duplicate();
      subscriber.on("error", () => {});
      await subscriber.connect();
      try {
        const got: string[] = [];
        await subscriber.subscribe("news", (message) => got.push(`news:${message}`));
        await subscriber.pSubscribe(
          "sport.*",
          (message, channel) => got.push(`${channel}:${message}`),
        );
        assert.equal(await client.publish("news", "hello"), 1);
        assert.equal(await client.publish("sport.tennis", "ace"), 1);
        await waitFor("both messages", () => got.length === 2);
        assert.deepEqual(got.sort(), ["news:hello", "sport.tennis:ace"]);
        await subscriber.unsubscribe("news");
        assert.equal(await client.publish("news", "again"), 0);
      } finally {
        subscriber.destroy();
        client.destroy();
      }
    },
  });
}
