// Command tests through the npm ioredis client: what an application sees.
// Errors must carry Redis's wording so ioredis's ReplyError maps them.

import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { service } from "../../../services/cache/mod.ts";
import { startService } from "../../_support/service.ts";
import { waitFor } from "./wait.ts";

function client(port: number, options: Record<string, unknown> = {}): Redis {
  return new Redis({
    host: "127.0.0.1",
    port,
    lazyConnect: false,
    maxRetriesPerRequest: 1,
    ...options,
  });
}

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "ioredis: strings, keys, TTLs and errors",
  ...opts,
  async fn() {
    await using cache = await startService(service);
    const redis = client(cache.addresses.tcp.port);
    try {
      assert.equal(await redis.set("greeting", "hello", "EX", 100), "OK");
      assert.equal(await redis.get("greeting"), "hello");
      assert.equal(await redis.ttl("greeting"), 100);
      assert.equal(await redis.incr("n"), 1);
      assert.equal(await redis.incrby("n", 41), 42);
      assert.equal(await redis.incrbyfloat("f", "1.5"), "1.5");
      assert.deepEqual(await redis.mget("greeting", "n", "none"), ["hello", "42", null]);
      assert.equal(await redis.append("greeting", " world"), 11);
      assert.equal(await redis.getrange("greeting", 0, 4), "hello");
      assert.equal(await redis.exists("greeting", "none"), 1);
      assert.equal(await redis.type("n"), "string");
      assert.equal(await redis.del("n", "f"), 2);
      await redis.rpush("list", "a");
      await assert.rejects(redis.get("list"), /^ReplyError: WRONGTYPE Operation against a key/);
      await assert.rejects(redis.incr("greeting"), /value is not an integer or out of range/);
      await assert.rejects(redis.call("nosuch"), /unknown command 'nosuch'/);
      const buf = Buffer.from([0, 1, 2, 255]);
      await redis.set("bin", buf);
      assert.deepEqual(await redis.getBuffer("bin"), buf);
      assert.equal(await redis.dbsize(), 3);
    } finally {
      await redis.quit();
    }
  },
});

Deno.test({
  name: "ioredis: hashes, lists, sets and SCAN",
  ...opts,
  async fn() {
    await using cache = await startService(service);
    const redis = client(cache.addresses.tcp.port);
    try {
      assert.equal(await redis.hset("h", { a: "1", b: "2" }), 2);
      assert.deepEqual(await redis.hgetall("h"), { a: "1", b: "2" });
      assert.equal(await redis.hincrby("h", "a", 9), 10);
      assert.deepEqual(await redis.hkeys("h"), ["a", "b"]);
      assert.equal(await redis.lpush("l", "c", "b", "a"), 3);
      assert.deepEqual(await redis.lrange("l", 0, -1), ["a", "b", "c"]);
      assert.equal(await redis.lpos("l", "c"), 2);
      assert.deepEqual(await redis.lpop("l", 2), ["a", "b"]);
      assert.equal(await redis.sadd("s", "x", "y", "z"), 3);
      assert.deepEqual((await redis.smembers("s")).sort(), ["x", "y", "z"]);
      assert.equal(await redis.sismember("s", "y"), 1);
      for (let i = 0; i < 50; i++) await redis.set(`scan:${i}`, i);
      const seen = new Set<string>();
      let cursor = "0";
      let rounds = 0;
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", "scan:*", "COUNT", 7);
        for (const key of keys) seen.add(key);
        cursor = next;
      } while (cursor !== "0" && ++rounds < 1000);
      assert.equal(seen.size, 50);
    } finally {
      await redis.quit();
    }
  },
});

Deno.test({
  name: "ioredis: pipelines, MULTI/EXEC and WATCH",
  ...opts,
  async fn() {
    await using cache = await startService(service);
    const redis = client(cache.addresses.tcp.port);
    const other = client(cache.addresses.tcp.port);
    try {
      const pipeline = redis.pipeline();
      for (let i = 0; i < 100; i++) pipeline.incr("counter");
      const results = await pipeline.exec();
      assert.deepEqual(results?.at(-1), [null, 100]);
      assert.deepEqual(await redis.multi().set("a", "1").incr("a").get("a").exec(), [
        [null, "OK"],
        [null, 2],
        [null, "2"],
      ]);
      await redis.watch("a");
      await other.set("a", "changed");
      assert.equal(await redis.multi().set("a", "mine").exec(), null);
      assert.equal(await redis.get("a"), "changed");
    } finally {
      await redis.quit();
      await other.quit();
    }
  },
});

Deno.test({
  name: "ioredis: pub/sub and BLPOP wake-up",
  ...opts,
  async fn() {
    await using cache = await startService(service);
    const port = cache.addresses.tcp.port;
    const sub = client(port);
    const pub = client(port);
    const blocker = client(port);
    try {
      const received = new Promise<[string, string]>((resolve) => {
        sub.on("message", (channel: string, message: string) => resolve([channel, message]));
      });
      const preceived = new Promise<string>((resolve) => {
        sub.on(
          "pmessage",
          (_pattern: string, _channel: string, message: string) => resolve(message),
        );
      });
      await sub.subscribe("news");
      await sub.psubscribe("n*");
      assert.equal(await pub.publish("news", "hi"), 2);
      assert.deepEqual(await received, ["news", "hi"]);
      assert.equal(await preceived, "hi");
      const popped = blocker.blpop("jobs", 10);
      await waitFor("the BLPOP to park", async () => {
        return (await pub.info("clients")).includes("blocked_clients:1");
      });
      await pub.rpush("jobs", "job1");
      assert.deepEqual(await popped, ["jobs", "job1"]);
      assert.equal(await blocker.blpop("empty", 0.05), null);
    } finally {
      await sub.quit();
      await pub.quit();
      await blocker.quit();
    }
  },
});

Deno.test({
  name: "ioredis: AUTH with --requirepass",
  ...opts,
  async fn() {
    await using cache = await startService(service, { requirepass: "s3cret" });
    const anonymous = client(cache.addresses.tcp.port, { enableReadyCheck: false });
    const authed = client(cache.addresses.tcp.port, { password: "s3cret" });
    try {
      await assert.rejects(anonymous.get("k"), /NOAUTH Authentication required/);
      assert.equal(await authed.set("k", "v"), "OK");
      assert.equal(await authed.get("k"), "v");
    } finally {
      anonymous.disconnect();
      await authed.quit();
    }
  },
});
