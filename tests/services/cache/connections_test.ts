// Connections on lib/net: the idle timeout (Redis `timeout`), the cap
// (--maxclients: the longest-idle client makes room, else Redis's refusal),
// and which clients count as idle: never one blocked in BLPOP or
// subscribed to pub/sub. No sleeps: each test waits for what it expects.

import assert from "node:assert/strict";
import { fromUtf8, utf8 } from "../../../lib/bytes.ts";
import { logger } from "../../../lib/log.ts";
import { RespClient } from "../../../lib/resp/client.ts";
import { RespError, RespSimple, type RespValue } from "../../../lib/resp/types.ts";
import { type CacheOptions, CacheServer } from "../../../services/cache/server.ts";
import { readBytes, readUntilClosed, waitFor } from "./wait.ts";

function text(value: RespValue): string {
  if (value instanceof Uint8Array) return fromUtf8(value);
  if (value instanceof RespError) return `-${value.message}`;
  if (value instanceof RespSimple) return value.text;
  if (Array.isArray(value)) return value.map(text).join(" ");
  return String(value);
}

function startCache(options: Partial<CacheOptions> = {}) {
  const server = new CacheServer({
    host: "127.0.0.1",
    port: 0,
    databases: 16,
    maxmemoryBytes: 0,
    policy: "noeviction",
    log: logger("cache"),
    ...options,
  });
  const { port } = server.listen("127.0.0.1", 0);
  return { server, port, [Symbol.asyncDispose]: () => server.close(1_000) };
}

/** A raw connection that has run one PING, so it sits idle between commands. */
async function idleClient(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(utf8("PING\r\n"));
  assert.equal(await readBytes(conn, 7), "+PONG\r\n");
  return conn;
}

Deno.test("a client idle past the timeout is closed; blocked and subscribed clients are not", async () => {
  await using cache = startCache({ idleTimeoutMs: 1_000 });
  const { port, server } = cache;
  using blocked = await RespClient.connect({ port });
  const popped = blocked.send("BLPOP", "q", 0);
  using subscriber = await RespClient.connect({ port });
  assert.equal(text(await subscriber.send("SUBSCRIBE", "news")), "subscribe news 1");
  await waitFor("the BLPOP to park", () => server.blocking.size === 1);
  using idle = await idleClient(port);
  // Closed by the idle timeout, with nothing said (as Redis does).
  assert.equal(await readUntilClosed(idle), "");
  // The other two have waited longer than the timeout and are still there.
  using pusher = await RespClient.connect({ port });
  await pusher.send("RPUSH", "q", "job");
  assert.equal(text(await popped), "q job");
  assert.equal(await pusher.send("PUBLISH", "news", "hello"), 1);
  assert.equal(text(await subscriber.nextPush()), "message news hello");
});

Deno.test("CONFIG SET timeout takes seconds, refuses what Redis refuses, and applies to idle clients", async () => {
  await using cache = startCache();
  using admin = await RespClient.connect({ port: cache.port });
  assert.equal(text(await admin.send("CONFIG", "GET", "timeout")), "timeout 0");
  assert.equal(
    text(await admin.send("CONFIG", "SET", "timeout", "-1")),
    "-ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be between 0 and 2147483647 inclusive",
  );
  assert.equal(
    text(await admin.send("CONFIG", "SET", "maxclients", "0")),
    "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and 4294967295 inclusive",
  );
  assert.equal(text(await admin.send("CONFIG", "SET", "timeout", "1")), "OK");
  assert.equal(text(await admin.send("CONFIG", "GET", "timeout")), "timeout 1");
  assert.equal(cache.server.idleTimeoutMs, 1_000);
  using idle = await idleClient(cache.port);
  assert.equal(await readUntilClosed(idle), "");
});

Deno.test("CONFIG SET maxclients moves the cap for the next clients, as in Redis", async () => {
  await using cache = startCache();
  using admin = await RespClient.connect({ port: cache.port });
  assert.equal(text(await admin.send("CONFIG", "SET", "maxclients", "1")), "OK");
  assert.equal(text(await admin.send("CONFIG", "GET", "maxclients")), "maxclients 1");
  // At the new cap of one, the next client makes room by closing the idle admin.
  using next = await RespClient.connect({ port: cache.port });
  assert.equal(text(await next.send("PING")), "PONG");
  assert.equal(cache.server.connectionsEvicted, 1);
});

Deno.test("at the cap, the longest-idle client is closed to make room", async () => {
  await using cache = startCache({ limits: { connectionsMax: 2 } });
  using first = await idleClient(cache.port);
  using second = await idleClient(cache.port);
  using third = await RespClient.connect({ port: cache.port });
  assert.equal(text(await third.send("PING")), "PONG");
  assert.equal(await readUntilClosed(first), "");
  await second.write(utf8("PING\r\n"));
  assert.equal(await readBytes(second, 7), "+PONG\r\n");
  assert.equal(cache.server.connectionsEvicted, 1);
});

Deno.test("at the cap with every client blocked or subscribed, a new client gets Redis's refusal", async () => {
  await using cache = startCache({ limits: { connectionsMax: 2 } });
  const { port, server } = cache;
  using blocked = await RespClient.connect({ port });
  const popped = blocked.send("BLPOP", "q", 0);
  using subscriber = await RespClient.connect({ port });
  await subscriber.send("SUBSCRIBE", "news");
  await waitFor("the BLPOP to park", () => server.blocking.size === 1);
  using refused = await Deno.connect({ hostname: "127.0.0.1", port });
  assert.equal(await readUntilClosed(refused), "-ERR max number of clients reached\r\n");
  assert.equal(server.connectionsRefused, 1);
  // Neither was evicted: the subscriber unsubscribes, becomes idle, and
  // makes room for a client that pushes to the blocked one.
  await subscriber.send("UNSUBSCRIBE");
  using pusher = await RespClient.connect({ port });
  await pusher.send("LPUSH", "q", "x");
  assert.equal(text(await popped), "q x");
  await assert.rejects(subscriber.send("PING"));
});
