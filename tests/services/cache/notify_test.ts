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
