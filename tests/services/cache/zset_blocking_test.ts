// BZPOPMIN, BZPOPMAX and BZMPOP on the blocking machinery (blocking.ts):
// parked until a sorted set appears under one of their keys, whichever
// command creates it (ZADD, a STORE, RENAME, MULTI/EXEC), oldest waiter
// first, served once, and never through a key of another type.

import assert from "node:assert/strict";
import { BLOCKED, commandCache, plainReply as plain } from "./harness.ts";

Deno.test({
  name: "BZPOPMIN and BZPOPMAX wait for a ZADD and are served oldest first",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const first = cache.session();
    const second = cache.session();
    const writer = cache.session();
    assert.equal(first.run("BZPOPMIN", "z", 0), BLOCKED);
    assert.equal(second.run("BZPOPMAX", "other", "z", 0), BLOCKED);
    assert.equal(writer.run("ZADD", "z", 1, "a", 2, "b", 3, "c"), 3);
    assert.deepEqual(plain(first.reply()), ["z", "a", "1"]);
    assert.deepEqual(plain(second.reply()), ["z", "c", "3"]);
    assert.deepEqual(plain(writer.run("ZRANGE", "z", 0, -1)), ["b"]);
    assert.equal(cache.server.blocking.size, 0);
  },
});

Deno.test({
  name: "a sorted set made by ZUNIONSTORE, RENAME or EXEC wakes a BZMPOP waiter",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const waiter = cache.session();
    const writer = cache.session();
    writer.run("ZADD", "src", 1, "a", 2, "b");
    assert.equal(waiter.run("BZMPOP", 0, 1, "u", "MAX", "COUNT", 5), BLOCKED);
    writer.run("ZUNIONSTORE", "u", 1, "src");
    assert.deepEqual(plain(waiter.reply()), ["u", [["b", "2"], ["a", "1"]]]);
    assert.equal(waiter.run("BZPOPMIN", "moved", 0), BLOCKED);
    writer.run("RENAME", "src", "moved");
    assert.deepEqual(plain(waiter.reply()), ["moved", "a", "1"]);
    assert.equal(waiter.run("BZPOPMIN", "t", 0), BLOCKED);
    writer.run("MULTI");
    writer.run("ZADD", "t", 5, "x");
    writer.run("ZINCRBY", "t", 1, "x");
    assert.ok(waiter.quiet, "nothing is served before EXEC");
    assert.deepEqual(plain(writer.run("EXEC")), [1, "6"]);
    assert.deepEqual(plain(waiter.reply()), ["t", "x", "6"]);
  },
});

Deno.test({
  name: "a sorted-set waiter passes over a key that became a list, and is served once",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const waiter = cache.session();
    const writer = cache.session();
    assert.equal(waiter.run("BZPOPMIN", "k", "k", 0), BLOCKED);
    writer.run("RPUSH", "k", "x");
    assert.ok(waiter.quiet && waiter.blocked, "a list does not serve a sorted-set pop");
    writer.run("DEL", "k");
    writer.run("ZADD", "k", 1, "a", 2, "b");
    assert.deepEqual(plain(waiter.reply()), ["k", "a", "1"]);
    assert.ok(waiter.quiet, "one reply for a key named twice");
    assert.equal(writer.run("ZCARD", "k"), 1);
    writer.run("MULTI");
    writer.run("BZPOPMIN", "none", 0);
    assert.deepEqual(plain(writer.run("EXEC")), [null]);
  },
});
