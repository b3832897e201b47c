// Keyspace notifications beyond what the random differential test
// compares with redis-server: "new", "expired" and "evicted" events, and
// notify-keyspace-events as CONFIG GET shows it.

import assert from "node:assert/strict";
import { commandCache, type FakeSession, plainReply as plain } from "./harness.ts";

/** Every message or pmessage the listener got, as "channel message". */
function events(listener: FakeSession): string[] {
  const seen: string[] = [];
  while (!listener.quiet) {
    const message = plain(listener.reply()) as string[];
    seen.push(message.slice(-2).join(" "));
  }
  return seen;
}

Deno.test({
  name: "keyspace notifications: new, command events, expired, and flags as CONFIG GET shows them",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const writer = cache.session();
    const listener = cache.session();
    assert.equal(
      plain(writer.run("CONFIG", "SET", "notify-keyspace-events", "Z")),
      "-ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.",
    );
    writer.run("CONFIG", "SET", "notify-keyspace-events", "KEA");
    assert.deepEqual(plain(writer.run("CONFIG", "GET", "notify-keyspace-events")), [
      "notify-keyspace-events",
      "AKE",
    ]);
    writer.run("CONFIG", "SET", "notify-keyspace-events", "Eglxn");
    listener.run("PSUBSCRIBE", "__key*__:*");
    writer.run("RPUSH", "q", "a");
    writer.run("LPOP", "q");
    writer.run("SET", "k", "v", "PX", 100000);
    assert.deepEqual(events(listener), [
      "__keyevent@0__:new q",
      "__keyevent@0__:rpush q",
      "__keyevent@0__:lpop q",
      "__keyevent@0__:del q",
      "__keyevent@0__:new k",
      "__keyevent@0__:expire k",
    ]);
    const db = cache.server.keyspace.dbs[0];
    db.setExpire(db.peek("k")!, Date.now() - 1);
    assert.equal(writer.run("GET", "k"), null);
    assert.deepEqual(events(listener), ["__keyevent@0__:expired k"]);
  },
});

Deno.test({
  name: "keyspace notifications: an evicted key is published under e",
  permissions: "none",
  fn() {
    const cache = commandCache({ maxmemoryBytes: 1024 * 1024 + 4096, policy: "allkeys-random" });
    const writer = cache.session();
    const listener = cache.session();
    writer.run("CONFIG", "SET", "notify-keyspace-events", "Ee");
    listener.run("SUBSCRIBE", "__keyevent@0__:evicted");
    for (let i = 0; i < 50; i++) writer.run("SET", `key:${i}`, "x".repeat(200));
    const evicted = events(listener);
    assert.ok(evicted.length > 0, "some keys were evicted");
    assert.ok(evicted.every((e) => /^__keyevent@0__:evicted key:\d+$/.test(e)), evicted.join());
  },
});

Deno.test({
  name:
    "key-miss events (class m, not in A) and keyspace_hits/misses as redis-server 7.0 gives them",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const writer = cache.session();
    const listener = cache.session();
    listener.run("PSUBSCRIBE", "__keyevent*");
    writer.run("CONFIG", "SET", "notify-keyspace-events", "KEA");
    writer.run("GET", "nokey");
    assert.deepEqual(events(listener), [], "A does not include m");
    writer.run("CONFIG", "SET", "notify-keyspace-events", "Em");
    assert.deepEqual(plain(writer.run("CONFIG", "GET", "notify-keyspace-events")), [
      "notify-keyspace-events",
      "Em",
    ]);
    writer.run("CONFIG", "SET", "notify-keyspace-events", "KEAm");
    assert.deepEqual(plain(writer.run("CONFIG", "GET", "notify-keyspace-events")), [
      "notify-keyspace-events",
      "AKEm",
    ]);
    writer.run("CONFIG", "RESETSTAT");
    const before = info(writer);
    writer.run("GET", "nokey");
    writer.run("SET", "k", "v", "PX", 100000);
    const db = cache.server.keyspace.dbs[0];
    db.setExpire(db.peek("k")!, Date.now() - 1);
    writer.run("MGET", "k", "x", "k");
    writer.run("SET", "s", "v");
    writer.run("GET", "s");
    writer.run("EXISTS", "s", "nokey");
    writer.run("SET", "g", "v", "GET");
    writer.run("LPUSH", "l", "a");
    writer.run("LRANGE", "nol", 0, 1);
    writer.run("OBJECT", "ENCODING", "nokey");
    writer.run("TTL", "nokey");
    writer.run("TYPE", "nokey");
    // The sequence redis-server 7.0.15 publishes for the same commands.
    assert.deepEqual(events(listener), [
      "__keyevent@0__:keymiss nokey",
      "__keyevent@0__:set k",
      "__keyevent@0__:expire k",
      "__keyevent@0__:expired k",
      "__keyevent@0__:keymiss k",
      "__keyevent@0__:keymiss x",
      "__keyevent@0__:keymiss k",
      "__keyevent@0__:set s",
      "__keyevent@0__:keymiss nokey",
      "__keyevent@0__:keymiss g",
      "__keyevent@0__:set g",
      "__keyevent@0__:lpush l",
      "__keyevent@0__:keymiss nol",
      "__keyevent@0__:keymiss nokey",
      "__keyevent@0__:keymiss nokey",
    ]);
    const after = info(writer);
    assert.equal(after.hits - before.hits, 2);
    assert.equal(after.misses - before.misses, 10);
  },
});

function info(session: FakeSession): { hits: number; misses: number } {
  const text = String(plain(session.run("INFO", "stats")));
  return {
    hits: Number(/keyspace_hits:(\d+)/.exec(text)![1]),
    misses: Number(/keyspace_misses:(\d+)/.exec(text)![1]),
  };
}

Deno.test({
  name:
    "MOVE, an SMOVE onto a member already there, and a BITFIELD that grows a string publish what Redis does",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const writer = cache.session();
    const listener = cache.session();
    writer.run("CONFIG", "SET", "notify-keyspace-events", "KEA");
    listener.run("PSUBSCRIBE", "__keyevent*");
    writer.run("SET", "k", "v", "PX", 100000);
    writer.run("CONFIG", "SET", "notify-keyspace-events", "KEAn");
    assert.equal(writer.run("MOVE", "k", 3), 1);
    writer.run("SELECT", 3);
    assert.ok((writer.run("PTTL", "k") as number) > 90_000, "MOVE keeps the TTL");
    writer.run("SELECT", 0);
    writer.run("SADD", "s", "a", "b");
    writer.run("SADD", "d", "a");
    assert.equal(writer.run("SMOVE", "s", "d", "a"), 1);
    writer.run("DEL", "bf");
    assert.deepEqual(plain(writer.run("BITFIELD", "bf", "INCRBY", "u8", 8, 0)), [0]);
    // What redis-server 7.0.15 publishes for the same commands.
    assert.deepEqual(events(listener), [
      "__keyevent@0__:set k",
      "__keyevent@0__:expire k",
      "__keyevent@3__:new k",
      "__keyevent@0__:move_from k",
      "__keyevent@3__:move_to k",
      "__keyevent@0__:new s",
      "__keyevent@0__:sadd s",
      "__keyevent@0__:new d",
      "__keyevent@0__:sadd d",
      "__keyevent@0__:srem s",
      "__keyevent@0__:new bf",
      "__keyevent@0__:setbit bf",
    ]);
  },
});
