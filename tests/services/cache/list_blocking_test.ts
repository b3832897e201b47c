// BLMPOP on the blocking machinery (blocking.ts): Redis 7.0's replies and
// errors, parked until a list appears under one of its keys whichever
// command makes it (a push, LMOVE, RENAME, SWAPDB, RESTORE), never blocking
// inside MULTI, and the keyspace events its late reply causes. Every
// expectation is what redis-server 7.0.15 answers (checked with redis-cli).

import assert from "node:assert/strict";
import { RespClient } from "../../../lib/resp/client.ts";
import type { RespValue } from "../../../lib/resp/types.ts";
import { service } from "../../../services/cache/mod.ts";
import { interopTest } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";
import { startRedis } from "./redis_server.ts";
import { BLOCKED, commandCache, type FakeSession, plainReply as plain } from "./harness.ts";

function text(value: RespValue | typeof BLOCKED): unknown {
  return plain(value);
}

Deno.test({
  name: "BLMPOP answers at once from the first non-empty list, with Redis 7.0's errors",
  permissions: "none",
  fn() {
    const client = commandCache().session();
    client.run("RPUSH", "l", "a", "b", "c");
    assert.deepEqual(text(client.run("BLMPOP", 0, 2, "x", "l", "RIGHT", "COUNT", 2)), [
      "l",
      ["c", "b"],
    ]);
    assert.deepEqual(text(client.run("BLMPOP", 0, 1, "l", "LEFT", "COUNT", 5)), ["l", ["a"]]);
    assert.equal(client.run("EXISTS", "l"), 0);
    const errors: [(string | number)[], string][] = [
      [["x", 1, "l", "LEFT"], "-ERR timeout is not a float or out of range"],
      [[-1, 1, "l", "LEFT"], "-ERR timeout is negative"],
      // numkeys, the side and COUNT are checked before the timeout.
      [["x", 0, "l", "LEFT"], "-ERR numkeys should be greater than 0"],
      [["x", "x", "l", "LEFT"], "-ERR numkeys should be greater than 0"],
      [["x", 1, "l", "UP"], "-ERR syntax error"],
      [["x", 1, "l", "LEFT", "COUNT", 0], "-ERR count should be greater than 0"],
      [["x", 1, "l", "LEFT", "COUNT", "x"], "-ERR count should be greater than 0"],
      [["x", 2, "l", "LEFT"], "-ERR syntax error"],
      [[0, 1, "l", "LEFT", "FOO"], "-ERR syntax error"],
      [[0, 1, "l", "LEFT", "COUNT", 1, "COUNT", 2], "-ERR syntax error"],
    ];
    for (const [args, expected] of errors) {
      assert.equal(text(client.run("BLMPOP", ...args)), expected, args.join(" "));
    }
    client.run("SET", "s", "v");
    assert.equal(
      text(client.run("BLMPOP", 0, 2, "x", "s", "LEFT")),
      "-WRONGTYPE Operation against a key holding the wrong kind of value",
    );
  },
});

Deno.test({
  name: "BLMPOP waits for a push and is served oldest first, once, with COUNT",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const first = cache.session();
    const second = cache.session();
    const writer = cache.session();
    assert.equal(first.run("BLMPOP", 0, 2, "a", "q", "LEFT", "COUNT", 2), BLOCKED);
    assert.equal(second.run("BLMPOP", 0, 2, "q", "q", "RIGHT", "COUNT", 5), BLOCKED);
    assert.equal(writer.run("RPUSH", "q", "x", "y", "z"), 3);
    assert.deepEqual(text(first.reply()), ["q", ["x", "y"]]);
    assert.deepEqual(text(second.reply()), ["q", ["z"]]);
    assert.ok(second.quiet, "one reply for a key named twice");
    assert.equal(cache.server.blocking.size, 0);
    assert.equal(writer.run("EXISTS", "q"), 0);
  },
});

Deno.test({
  name: "a list made by LMOVE, RENAME, SWAPDB, RESTORE or EXEC wakes a BLMPOP waiter",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const waiter = cache.session();
    const writer = cache.session();
    const wakes: [string, (w: FakeSession) => void, unknown][] = [
      ["lmove", (w) => {
        w.run("RPUSH", "src", "a", "b");
        w.run("LMOVE", "src", "k", "LEFT", "LEFT");
      }, ["k", ["a"]]],
      ["rename", (w) => w.run("RENAME", "src", "k"), ["k", ["b"]]],
      ["swapdb", (w) => {
        w.run("SELECT", 1);
        w.run("RPUSH", "k", "c");
        w.run("SWAPDB", 0, 1);
        w.run("SELECT", 0);
      }, ["k", ["c"]]],
      ["restore", (w) => {
        w.run("RPUSH", "tmp", "d");
        const dump = w.run("DUMP", "tmp") as Uint8Array;
        w.run("RESTORE", "k", 0, dump);
      }, ["k", ["d"]]],
    ];
    for (const [label, wake, expected] of wakes) {
      assert.equal(waiter.run("BLMPOP", 0, 1, "k", "RIGHT"), BLOCKED, label);
      wake(writer);
      assert.deepEqual(text(waiter.reply()), expected, label);
      assert.ok(!waiter.blocked, label);
    }
    assert.equal(waiter.run("BLMPOP", 0, 1, "t", "LEFT"), BLOCKED);
    writer.run("MULTI");
    writer.run("RPUSH", "t", "e");
    assert.ok(waiter.quiet, "nothing is served before EXEC");
    assert.deepEqual(text(writer.run("EXEC")), [1]);
    assert.deepEqual(text(waiter.reply()), ["t", ["e"]]);
  },
});

Deno.test({
  name: "BLMPOP inside MULTI does not block, and a waiter passes over a key of another type",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const client = cache.session();
    client.run("MULTI");
    client.run("BLMPOP", 0, 1, "none", "LEFT");
    client.run("RPUSH", "m", "a");
    client.run("BLMPOP", 0, 1, "m", "LEFT");
    assert.deepEqual(text(client.run("EXEC")), [null, 1, ["m", ["a"]]]);
    const waiter = cache.session();
    assert.equal(waiter.run("BLMPOP", 0, 1, "k", "LEFT"), BLOCKED);
    client.run("ZADD", "k", 1, "a");
    assert.ok(waiter.quiet && waiter.blocked, "a sorted set does not serve a list pop");
    client.run("DEL", "k");
    client.run("LPUSH", "k", "x");
    assert.deepEqual(text(waiter.reply()), ["k", ["x"]]);
  },
});

Deno.test({
  name: "a BLMPOP served late publishes the pop and del events as Redis does",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const waiter = cache.session();
    const writer = cache.session();
    const listener = cache.session();
    writer.run("CONFIG", "SET", "notify-keyspace-events", "KEA");
    listener.run("PSUBSCRIBE", "__keyevent*");
    assert.equal(waiter.run("BLMPOP", 0, 2, "a", "q", "LEFT", "COUNT", 5), BLOCKED);
    writer.run("RPUSH", "q", "x", "y");
    assert.deepEqual(text(waiter.reply()), ["q", ["x", "y"]]);
    writer.run("RPUSH", "src", "e");
    assert.equal(waiter.run("BLMPOP", 0, 1, "dst", "RIGHT"), BLOCKED);
    writer.run("LMOVE", "src", "dst", "LEFT", "LEFT");
    assert.deepEqual(text(waiter.reply()), ["dst", ["e"]]);
    const events: string[] = [];
    while (!listener.quiet) {
      const message = text(listener.reply()) as string[];
      if (message[0] === "pmessage") events.push(message.slice(-2).join(" "));
    }
    assert.deepEqual(events, [
      "__keyevent@0__:rpush q",
      "__keyevent@0__:lpop q",
      "__keyevent@0__:del q",
      "__keyevent@0__:rpush src",
      "__keyevent@0__:lpush dst",
      "__keyevent@0__:lpop src",
      "__keyevent@0__:del src",
      "__keyevent@0__:rpop dst",
      "__keyevent@0__:del dst",
    ]);
  },
});

interopTest("COMMAND INFO and DOCS describe LMPOP, BLMPOP, ZMPOP and BZMPOP as redis-server does", {
  binaries: ["redis-server"],
  async fn() {
    await using redis = await startRedis();
    await using cache = await startService(service);
    using ours = await RespClient.connect({ port: cache.addresses.tcp.port });
    using theirs = await RespClient.connect({ port: redis.port });
    const names = ["lmpop", "blmpop", "zmpop", "bzmpop"];
    assert.deepEqual(
      await ours.send("COMMAND", "INFO", ...names),
      await theirs.send("COMMAND", "INFO", ...names),
    );
    for (const name of names) {
      // Redis's docs carry arguments and complexity too; the fields we give must agree.
      const mine = await ours.send("COMMAND", "DOCS", name) as RespValue[];
      const reference = await theirs.send("COMMAND", "DOCS", name) as RespValue[];
      const fields = (docs: RespValue[]) => {
        const list = docs[1] as RespValue[];
        const found = new Map<string, unknown>();
        for (let i = 0; i < list.length; i += 2) {
          found.set(String(plain(list[i])), plain(list[i + 1]));
        }
        return found;
      };
      const ourFields = fields(mine);
      const theirFields = fields(reference);
      for (const [field, value] of ourFields) {
        assert.deepEqual(value, theirFields.get(field), `${name} ${field}`);
      }
    }
  },
});
