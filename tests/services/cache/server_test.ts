// Behaviour over a real socket that the differential corpus cannot cover:
// bounds and protocol errors, slow and malicious clients, expiry, maxmemory
// eviction under a long random workload, blocking pops, RESP3 pushes and
// hash-field expiry (Redis 7.4+, absent from redis-server 7.0).

import assert from "node:assert/strict";
import { fromUtf8, utf8 } from "../../../lib/bytes.ts";
import { logger } from "../../../lib/log.ts";
import { RespClient } from "../../../lib/resp/client.ts";
import { RespError, RespPush, RespSimple, type RespValue } from "../../../lib/resp/types.ts";
import { service } from "../../../services/cache/mod.ts";
import { CacheServer } from "../../../services/cache/server.ts";
import { startService } from "../../_support/service.ts";
import { readBytes, readUntilClosed, waitFor } from "./wait.ts";

function text(value: RespValue): string {
  if (value instanceof Uint8Array) return fromUtf8(value);
  if (value instanceof RespError) return `-${value.message}`;
  if (value instanceof RespSimple) return value.text;
  return String(value);
}

/**
 * Sends raw bytes and reads the reply: `expected.length` bytes, or until
 * the server closes ("<closed>" is appended then), whichever comes first.
 */
async function rawExchange(port: number, input: string, expected: string): Promise<string> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(utf8(input));
  if (expected.endsWith("<closed>")) {
    const text = await readUntilClosed(conn);
    return text.endsWith("<still open>") ? text : text + "<closed>";
  }
  return await readBytes(conn, expected.length);
}

/** Asserts the raw reply to `input`. */
async function assertExchange(port: number, input: string, expected: string): Promise<void> {
  assert.equal(await rawExchange(port, input, expected), expected);
}

/** Waits until INFO reports `count` blocked clients. */
async function blockedClients(client: RespClient, count: number): Promise<void> {
  await waitFor(`${count} blocked clients`, async () => {
    const info = text(await client.send("INFO", "clients"));
    return info.includes(`blocked_clients:${count}\r\n`);
  });
}

Deno.test("an inline PING typed into nc gets +PONG, pipelined commands all answer", async () => {
  await using cache = await startService(service);
  const port = cache.addresses.tcp.port;
  await assertExchange(port, "PING\r\n", "+PONG\r\n");
  await assertExchange(port, "*1\r\n$4\r\nPING\r\n".repeat(500), "+PONG\r\n".repeat(500));
});

Deno.test("protocol errors get Redis's error and the connection is dropped", async () => {
  await using cache = await startService(service);
  const port = cache.addresses.tcp.port;
  await assertExchange(
    port,
    "*1\r\n$999999999999\r\n",
    "-ERR Protocol error: invalid bulk length\r\n<closed>",
  );
  await assertExchange(
    port,
    "*99999999\r\n",
    "-ERR Protocol error: invalid multibulk length\r\n<closed>",
  );
  await assertExchange(
    port,
    "*1\r\n+PING\r\n",
    "-ERR Protocol error: expected '$', got '+'\r\n<closed>",
  );
  await assertExchange(
    port,
    "x".repeat(70_000),
    "-ERR Protocol error: too big inline request\r\n<closed>",
  );
  // Commands before the bad one are answered first.
  await assertExchange(
    port,
    'PING\r\nSET "a\r\n',
    "+PONG\r\n-ERR Protocol error: unbalanced quotes in request\r\n<closed>",
  );
});

Deno.test("a command split across many writes is answered once complete", async () => {
  await using cache = await startService(service);
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: cache.addresses.tcp.port });
  const value = "v".repeat(100_000);
  const command = `*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$${value.length}\r\n${value}\r\n`;
  const bytes = utf8(command);
  for (let at = 0; at < bytes.length; at += 7919) {
    await conn.write(bytes.subarray(at, Math.min(bytes.length, at + 7919)));
  }
  const buf = new Uint8Array(16);
  const n = await conn.read(buf);
  assert.equal(fromUtf8(buf.subarray(0, n ?? 0)), "+OK\r\n");
  using client = await RespClient.connect({ port: cache.addresses.tcp.port });
  assert.equal(text(await client.send("STRLEN", "big")), "100000");
});

Deno.test("a stalled half-sent command and a non-reading subscriber do not stall others", async () => {
  const server = new CacheServer({
    host: "127.0.0.1",
    port: 0,
    databases: 16,
    maxmemoryBytes: 0,
    policy: "noeviction",
    limits: { outputBytesMax: 256 * 1024 },
    log: logger("cache"),
  });
  const { port } = server.listen("127.0.0.1", 0);
  try {
    // A client that announces a large bulk and then goes quiet.
    using stalled = await Deno.connect({ hostname: "127.0.0.1", port });
    await stalled.write(utf8("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$400000000\r\nabc"));
    // A subscriber that never reads its socket.
    using deaf = await Deno.connect({ hostname: "127.0.0.1", port });
    await deaf.write(utf8("*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nnews\r\n"));
    using publisher = await RespClient.connect({ port });
    using other = await RespClient.connect({ port });
    const message = "m".repeat(16 * 1024);
    let receivers = 1;
    for (let i = 0; i < 2000 && receivers > 0; i++) {
      receivers = Number(await publisher.send("PUBLISH", "news", message));
    }
    // The deaf subscriber was cut off past the output bound; others carry on.
    assert.equal(receivers, 0);
    assert.equal(text(await other.send("SET", "a", "1")), "OK");
    assert.equal(text(await other.send("GET", "a")), "1");
  } finally {
    await server.close();
  }
});

Deno.test("active expiry deletes keys nobody reads", async () => {
  await using cache = await startService(service);
  using client = await RespClient.connect({ port: cache.addresses.tcp.port });
  const commands = [];
  for (let i = 0; i < 300; i++) commands.push(["SET", `temp:${i}`, "x", "PX", "50"]);
  await client.pipeline(commands);
  await client.send("SET", "keeper", "x");
  await waitFor("active expiry to delete the 300 keys", async () => {
    return Number(await client.send("DBSIZE")) === 1;
  }, { attempts: 1_000 });
  const info = text(await client.send("INFO", "stats"));
  assert.match(info, /expired_keys:300/);
});

for (
  const policy of [
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-ttl",
  ] as const
) {
  Deno.test(`maxmemory holds under a long random workload (${policy})`, async () => {
    const maxmemory = 3 * 1024 * 1024;
    await using cache = await startService(service, {
      maxmemory: String(maxmemory),
      maxmemoryPolicy: policy,
    });
    using client = await RespClient.connect({ port: cache.addresses.tcp.port });
    const volatile = policy.startsWith("volatile");
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    let largestWrite = 0;
    for (let batch = 0; batch < 60; batch++) {
      const commands: (string | number)[][] = [];
      for (let i = 0; i < 200; i++) {
        const key = `key:${Math.floor(random() * 50_000)}`;
        const size = 10 + Math.floor(random() * 2000);
        largestWrite = Math.max(largestWrite, size + key.length + 200);
        const pick = random();
        if (pick < 0.7) {
          commands.push(
            volatile ? ["SET", key, "x".repeat(size), "EX", 1000] : ["SET", key, "x".repeat(size)],
          );
        } else if (pick < 0.8) commands.push(["RPUSH", `list:${key}`, "y".repeat(size)]);
        else if (pick < 0.9) commands.push(["HSET", `hash:${key}`, "f", "z".repeat(size)]);
        else commands.push(["GET", key]);
      }
      const replies = await client.pipeline(commands);
      const info = text(await client.send("INFO", "memory"));
      const used = Number(/used_memory:(\d+)/.exec(info)![1]);
      assert.ok(used <= maxmemory + largestWrite, `batch ${batch}: used ${used} > ${maxmemory}`);
      if (!volatile) {
        for (const reply of replies) assert.ok(!(reply instanceof RespError), String(reply));
      }
    }
    const stats = text(await client.send("INFO", "stats"));
    assert.ok(Number(/evicted_keys:(\d+)/.exec(stats)![1]) > 0);
  });
}

Deno.test("noeviction refuses writes past maxmemory with Redis's OOM error, reads still work", async () => {
  await using cache = await startService(service, { maxmemory: "1200kb" });
  using client = await RespClient.connect({ port: cache.addresses.tcp.port });
  let refused: RespValue = null;
  for (let i = 0; i < 2000 && !(refused instanceof RespError); i++) {
    refused = await client.send("SET", `k${i}`, "v".repeat(1000));
  }
  assert.ok(refused instanceof RespError);
  assert.equal(refused.message, "OOM command not allowed when used memory > 'maxmemory'.");
  assert.equal(text(await client.send("GET", "k0")), "v".repeat(1000));
  assert.equal(text(await client.send("DEL", "k0")), "1");
});

Deno.test("BLPOP serves waiters in order, times out with a null, and never blocks in MULTI", async () => {
  await using cache = await startService(service);
  const port = cache.addresses.tcp.port;
  using first = await RespClient.connect({ port });
  using second = await RespClient.connect({ port });
  using pusher = await RespClient.connect({ port });
  const a = first.send("BLPOP", "q", 10);
  await blockedClients(pusher, 1);
  const b = second.send("BRPOP", "q", 10);
  await blockedClients(pusher, 2);
  assert.equal(text(await pusher.send("RPUSH", "q", "one", "two")), "2");
  assert.deepEqual((await a as RespValue[]).map(text), ["q", "one"]);
  assert.deepEqual((await b as RespValue[]).map(text), ["q", "two"]);
  assert.equal(await first.send("BLPOP", "q", 0.05), null);
  const replies = await pusher.pipeline([["MULTI"], ["BLPOP", "q", 0], ["EXEC"]]);
  assert.deepEqual(replies.map(text), ["OK", "QUEUED", ""]);
  assert.deepEqual(replies[2], [null]);
});

Deno.test("RESP3 clients get pub/sub messages as push frames", async () => {
  await using cache = await startService(service);
  const port = cache.addresses.tcp.port;
  using sub = await RespClient.connect({ port });
  using pub = await RespClient.connect({ port });
  await sub.send("HELLO", 3);
  await sub.send("SUBSCRIBE", "ch");
  // In RESP3 a subscriber may still run normal commands.
  assert.equal(text(await sub.send("SET", "k", "v")), "OK");
  assert.equal(text(await pub.send("PUBLISH", "ch", "hi")), "1");
  const push = await sub.nextPush();
  assert.ok(push instanceof RespPush);
  assert.deepEqual(push.items.map(text), ["message", "ch", "hi"]);
});

Deno.test("hash-field expiry: HEXPIRE, HTTL, HPERSIST, HGETEX", async () => {
  await using cache = await startService(service);
  using client = await RespClient.connect({ port: cache.addresses.tcp.port });
  await client.send("HSET", "h", "a", "1", "b", "2", "c", "3");
  assert.deepEqual(await client.send("HEXPIRE", "h", 100, "FIELDS", 2, "a", "nope"), [1, -2]);
  assert.deepEqual(await client.send("HTTL", "h", "FIELDS", 2, "a", "b"), [100, -1]);
  assert.deepEqual(await client.send("HPERSIST", "h", "FIELDS", 1, "a"), [1]);
  assert.deepEqual(await client.send("HTTL", "h", "FIELDS", 1, "a"), [-1]);
  assert.deepEqual(await client.send("HPEXPIRE", "h", 50, "FIELDS", 1, "b"), [1]);
  const values = await client.send("HGETEX", "h", "PX", 50, "FIELDS", 1, "c");
  assert.deepEqual((values as RespValue[]).map(text), ["3"]);
  await waitFor("b and c to expire", async () => await client.send("HLEN", "h") === 1);
  assert.equal(await client.send("HGET", "h", "b"), null);
  await client.send("HPEXPIRE", "h", 10, "FIELDS", 1, "a");
  // Nothing may look at the fields meanwhile: wait on the clock, the same
  // one the server reads.
  const expiresAt = Date.now() + 10;
  await waitFor("a's deadline to pass", () => Date.now() > expiresAt);
  assert.equal(await client.send("EXISTS", "h"), 1); // lazily dropped on the next lookup
  assert.equal(await client.send("HLEN", "h"), 0);
  assert.equal(await client.send("EXISTS", "h"), 0);
});

Deno.test("requirepass: NOAUTH until AUTH, WRONGPASS on a bad password", async () => {
  await using cache = await startService(service, { requirepass: "pw" });
  using client = await RespClient.connect({ port: cache.addresses.tcp.port });
  assert.equal(text(await client.send("GET", "k")), "-NOAUTH Authentication required.");
  assert.equal(
    text(await client.send("AUTH", "bad")),
    "-WRONGPASS invalid username-password pair or user is disabled.",
  );
  assert.equal(text(await client.send("AUTH", "pw")), "OK");
  assert.equal(await client.send("GET", "k"), null);
});

Deno.test("a client that hangs up while blocked is not handed an element", async () => {
  await using cache = await startService(service);
  const port = cache.addresses.tcp.port;
  const gone = await RespClient.connect({ port });
  using pusher = await RespClient.connect({ port });
  const never = gone.send("BLPOP", "jobs", 0).catch(() => "closed");
  await blockedClients(pusher, 1);
  gone.close();
  assert.equal(await never, "closed");
  await blockedClients(pusher, 0);
  using worker = await RespClient.connect({ port });
  const waiting = worker.send("BLPOP", "jobs", 10);
  await blockedClients(pusher, 1);
  await pusher.send("RPUSH", "jobs", "job1");
  assert.deepEqual((await waiting as RespValue[]).map(text), ["jobs", "job1"]);
});

Deno.test("commands pipelined behind a blocking pop run after it is served", async () => {
  await using cache = await startService(service);
  const port = cache.addresses.tcp.port;
  using client = await RespClient.connect({ port });
  using pusher = await RespClient.connect({ port });
  const replies = client.pipeline([["BLPOP", "q", 10], ["SET", "after", "1"], ["GET", "after"]]);
  await blockedClients(pusher, 1);
  assert.equal(await pusher.send("GET", "after"), null);
  await pusher.send("LPUSH", "q", "x");
  const [popped, set, get] = await replies;
  assert.deepEqual((popped as RespValue[]).map(text), ["q", "x"]);
  assert.equal(text(set), "OK");
  assert.equal(text(get), "1");
});

Deno.test("RESET drops MULTI, subscriptions, the selected db and RESP3", async () => {
  await using cache = await startService(service);
  using client = await RespClient.connect({ port: cache.addresses.tcp.port });
  await client.send("HELLO", 3);
  await client.send("SELECT", 3);
  await client.send("SET", "in3", "x");
  await client.send("MULTI");
  assert.equal(text(await client.send("RESET")), "RESET");
  assert.equal(await client.send("GET", "in3"), null); // back in db 0, RESP2 null
  assert.equal(text(await client.send("EXEC")), "-ERR EXEC without MULTI");
});

Deno.test("a 200,000-argument command trickling in small writes is answered", async () => {
  await using cache = await startService(service);
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: cache.addresses.tcp.port });
  const count = 200_000;
  const bytes = utf8(`*${count + 1}\r\n$3\r\nDEL\r\n` + "$1\r\nk\r\n".repeat(count));
  for (let at = 0; at < bytes.length; at += 7919) {
    await conn.write(bytes.subarray(at, Math.min(bytes.length, at + 7919)));
  }
  const buf = new Uint8Array(16);
  const n = await conn.read(buf);
  assert.equal(fromUtf8(buf.subarray(0, n ?? 0)), ":0\r\n");
});
