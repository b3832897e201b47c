// The command layer without a socket: commands run through dispatch
// against a real Keyspace and plain-object sessions (harness.ts), replies
// decoded and compared as values. Time is not faked (the keyspace reads
// Date.now()); expiry is driven by moving a key's deadline into the past.

import assert from "node:assert/strict";
import { fromUtf8, utf8 } from "../../../lib/bytes.ts";
import {
  RespError,
  RespMap,
  RespSimple,
  type RespValue,
  RespVerbatim,
} from "../../../lib/resp/types.ts";
import { command } from "../../../services/cache/commands/context.ts";
import { CommandArgs } from "../../../lib/resp/codec.ts";
import { runCommand } from "../../../services/cache/commands/run.ts";
import { BLOCKED, commandCache } from "./harness.ts";

/** Replies as plain JSON-able values: bulks as text, simple strings as "+OK". */
function plain(value: RespValue | typeof BLOCKED): unknown {
  if (value === BLOCKED) return "<blocked>";
  if (value instanceof Uint8Array) return fromUtf8(value);
  if (value instanceof RespSimple) return `+${value.text}`;
  if (value instanceof RespError) return `-${value.message}`;
  if (value instanceof RespVerbatim) return fromUtf8(value.text);
  if (value instanceof RespMap) return value.entries.map(([k, v]) => [plain(k), plain(v)]);
  if (Array.isArray(value)) return value.map(plain);
  return value;
}

/** Moves a key's expiry into the past, as if its TTL ran out. */
function expireNow(cache: ReturnType<typeof commandCache>, key: string): void {
  const db = cache.server.keyspace.dbs[0];
  const entry = db.lookup(key);
  assert.ok(entry !== undefined, `${key} exists`);
  db.setExpire(entry, Date.now() - 1);
}

/** Runs a script of [command, expected reply] on one fresh session. */
function script(steps: [(string | number)[], unknown][]): void {
  const cache = commandCache();
  const client = cache.session();
  for (const [args, expected] of steps) {
    assert.deepEqual(plain(client.run(...args)), expected, args.join(" "));
  }
  assert.ok(client.quiet, "no reply left over");
}

Deno.test({
  name: "strings: SET with options, GET, INCR, APPEND, MGET, errors in Redis's words",
  permissions: "none",
  fn: () =>
    script([
      [["SET", "k", "v"], "+OK"],
      [["GET", "k"], "v"],
      [["SET", "k", "w", "NX"], null],
      [["SET", "k", "w", "XX", "GET"], "v"],
      [["APPEND", "k", "xyz"], 4],
      [["STRLEN", "k"], 4],
      [["GETRANGE", "k", 1, -1], "xyz"],
      [["INCR", "n"], 1],
      [["INCRBY", "n", 41], 42],
      [["DECR", "n"], 41],
      [["INCR", "k"], "-ERR value is not an integer or out of range"],
      [["MSET", "a", "1", "b", "2"], "+OK"],
      [["MGET", "a", "b", "nope"], ["1", "2", null]],
      [["GET"], "-ERR wrong number of arguments for 'get' command"],
      [["NOSUCH", "x"], "-ERR unknown command 'NOSUCH', with args beginning with: 'x' "],
    ]),
});

Deno.test({
  name: "lists: pushes, pops, ranges, LMOVE, WRONGTYPE",
  permissions: "none",
  fn: () =>
    script([
      [["RPUSH", "l", "a", "b", "c"], 3],
      [["LPUSH", "l", "z"], 4],
      [["LRANGE", "l", 0, -1], ["z", "a", "b", "c"]],
      [["LPOP", "l"], "z"],
      [["RPOP", "l", 2], ["c", "b"]],
      [["LLEN", "l"], 1],
      [["LMOVE", "l", "m", "LEFT", "RIGHT"], "a"],
      [["EXISTS", "l"], 0],
      [["LINDEX", "m", 0], "a"],
      [["SET", "s", "x"], "+OK"],
      [["LPUSH", "s", "y"], "-WRONGTYPE Operation against a key holding the wrong kind of value"],
    ]),
});

Deno.test({
  name: "hashes: HSET, HGET, HGETALL, HINCRBY, HDEL",
  permissions: "none",
  fn: () =>
    script([
      [["HSET", "h", "f1", "v1", "f2", "v2"], 2],
      [["HGET", "h", "f1"], "v1"],
      [["HGETALL", "h"], ["f1", "v1", "f2", "v2"]],
      [["HINCRBY", "h", "n", 5], 5],
      [["HLEN", "h"], 3],
      [["HDEL", "h", "f1", "nope"], 1],
      [["HEXISTS", "h", "f1"], 0],
      [["HMGET", "h", "f2", "f1"], ["v2", null]],
    ]),
});

Deno.test({
  name: "sets: SADD, SISMEMBER, SCARD, SINTER, SREM",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const client = cache.session();
    assert.equal(client.run("SADD", "s", "a", "b", "c", "a"), 3);
    assert.equal(client.run("SISMEMBER", "s", "b"), 1);
    assert.equal(client.run("SCARD", "s"), 3);
    client.run("SADD", "t", "b", "c", "d");
    assert.deepEqual((plain(client.run("SINTER", "s", "t")) as string[]).sort(), ["b", "c"]);
    assert.equal(client.run("SREM", "s", "a", "x"), 1);
    assert.deepEqual((plain(client.run("SMEMBERS", "s")) as string[]).sort(), ["b", "c"]);
  },
});

Deno.test({
  name: "sorted sets: ZADD options, ranges, ranks, pops, TYPE, COPY and RENAME",
  permissions: "none",
  fn() {
    script([
      [["ZADD", "z", 1, "a", 2, "b", 3, "c"], 3],
      [["ZADD", "z", "GT", "CH", 1, "a", 5, "b"], 1],
      [["ZADD", "z", "INCR", 0.1, "a"], "1.1000000000000001"],
      [["ZADD", "z", "NX", "INCR", 1, "a"], null],
      [["ZRANGE", "z", 0, -1, "WITHSCORES"], ["a", "1.1000000000000001", "c", "3", "b", "5"]],
      [["ZRANGE", "z", "+inf", "(1.1", "BYSCORE", "REV", "LIMIT", 0, 1], ["b"]],
      [["ZRANGEBYSCORE", "z", "-inf", "(5"], ["a", "c"]],
      [["ZRANK", "z", "c", "WITHSCORE"], [1, "3"]],
      [["ZREVRANK", "z", "c"], 1],
      [["ZCOUNT", "z", "(1.1", 5], 2],
      [["TYPE", "z"], "+zset"],
      [["COPY", "z", "y"], 1],
      [["RENAME", "y", "x"], "+OK"],
      [["ZPOPMAX", "x", 2], ["b", "5", "c", "3"]],
      [["ZCARD", "z"], 3],
      [
        ["ZRANGE", "z", 0, 1, "LIMIT", 0, 1],
        "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
      ],
      [
        ["ZADD", "z", "NX", "XX", 1, "a"],
        "-ERR XX and NX options at the same time are not compatible",
      ],
      [["ZADD", "z", "x", "a"], "-ERR value is not a valid float"],
      [["ZRANGEBYSCORE", "z", "x", 1], "-ERR min or max is not a float"],
      [["ZRANGEBYLEX", "z", "a", "+"], "-ERR min or max not valid string range item"],
    ]);
  },
});

Deno.test({
  name: "sorted sets: a large set ranks, ranges and removes by rank past Redis's listpack size",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const client = cache.session();
    const before = cache.server.keyspace.usedBytes;
    const args: (string | number)[] = [];
    for (let i = 0; i < 1000; i++) args.push(i % 10, `m${String(i).padStart(4, "0")}`);
    assert.equal(client.run("ZADD", "big", ...args), 1000);
    assert.ok(cache.server.keyspace.usedBytes > before + 1000 * 5, "memory estimate grows");
    assert.equal(client.run("ZRANK", "big", "m0001"), 100);
    assert.deepEqual(plain(client.run("ZRANGE", "big", 100, 101)), ["m0001", "m0011"]);
    assert.equal(client.run("ZCOUNT", "big", 3, "(5"), 200);
    assert.equal(client.run("ZREMRANGEBYRANK", "big", 0, 499), 500);
    assert.deepEqual(plain(client.run("ZPOPMIN", "big")), ["m0005", "5"]);
    assert.equal(client.run("ZREMRANGEBYSCORE", "big", "-inf", "+inf"), 499);
    assert.equal(client.run("EXISTS", "big"), 0);
    assert.equal(cache.server.keyspace.usedBytes, before, "memory estimate returns");
  },
});

Deno.test({
  name: "sorted sets: regressions found against redis-server 7.0",
  permissions: "none",
  fn() {
    script([
      // ZPOPMIN/ZPOPMAX with count 0 still checks the key's type.
      [["HSET", "h", "f", "v"], 1],
      [["ZPOPMAX", "h", 0], "-WRONGTYPE Operation against a key holding the wrong kind of value"],
      // A -0 score is replied as computed, then stored as 0 (a listpack in Redis).
      [["ZINCRBY", "z", "-0", "a"], "-0"],
      [["ZSCORE", "z", "a"], "0"],
      // 1e16 prints with no trailing dot.
      [["ZADD", "z", "1e16", "b"], 1],
      [["ZSCORE", "z", "b"], "10000000000000000"],
      // A lex range over mixed scores answers instead of failing inside.
      // REV, BYSCORE and BYLEX may each be given once.
      [["ZRANGE", "z", 0, 1, "REV", "REV"], "-ERR syntax error"],
      [["ZRANGE", "z", 0, 1, "BYSCORE", "BYLEX"], "-ERR syntax error"],
      [["ZADD", "mixed", 0, "d", 1, "a"], 2],
      [["ZLEXCOUNT", "mixed", "(c", "[d"], 0],
      [["ZREMRANGEBYLEX", "mixed", "(c", "[d"], 0],
    ]);
  },
});

Deno.test({
  name: "expiry: TTL counts down, a key past its deadline is gone, PERSIST keeps it",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const client = cache.session();
    client.run("SET", "k", "v", "EX", 100);
    assert.equal(client.run("TTL", "k"), 100);
    client.run("SET", "kept", "v", "PX", 100_000);
    assert.equal(client.run("PERSIST", "kept"), 1);
    assert.equal(client.run("TTL", "kept"), -1);
    expireNow(cache, "k");
    assert.equal(client.run("GET", "k"), null);
    assert.equal(client.run("TTL", "k"), -2);
    assert.equal(client.run("DBSIZE"), 1);
    assert.equal(cache.server.keyspace.expiredKeys, 1);
  },
});

Deno.test({
  name: "MULTI queues, EXEC runs in order, a queueing error aborts, DISCARD drops",
  permissions: "none",
  fn: () =>
    script([
      [["MULTI"], "+OK"],
      [["SET", "a", "1"], "+QUEUED"],
      [["INCR", "a"], "+QUEUED"],
      [["GET", "a"], "+QUEUED"],
      [["EXEC"], ["+OK", 2, "2"]],
      [["MULTI"], "+OK"],
      [["INCR", "a"], "+QUEUED"],
      [["GET"], "-ERR wrong number of arguments for 'get' command"],
      [["EXEC"], "-EXECABORT Transaction discarded because of previous errors."],
      [["GET", "a"], "2"],
      [["MULTI"], "+OK"],
      [["DEL", "a"], "+QUEUED"],
      [["DISCARD"], "+OK"],
      [["EXEC"], "-ERR EXEC without MULTI"],
      [["GET", "a"], "2"],
      [["MULTI"], "+OK"],
      [["MULTI"], "-ERR MULTI calls can not be nested"],
      [["WATCH", "a"], "-ERR WATCH inside MULTI is not allowed"],
      [["CONFIG", "GET", "maxmemory"], "+QUEUED"],
      [["EXEC"], [["maxmemory", "0"]]],
    ]),
});

Deno.test({
  name: "WATCH: a write by another client fails EXEC with a null, UNWATCH and EXEC clear it",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const alice = cache.session();
    const bob = cache.session();
    alice.run("WATCH", "k");
    bob.run("SET", "k", "from bob");
    alice.run("MULTI");
    alice.run("SET", "k", "from alice");
    assert.equal(alice.run("EXEC"), null);
    assert.equal(plain(bob.run("GET", "k")), "from bob");
    // EXEC dropped the watch: the next transaction goes through.
    alice.run("MULTI");
    alice.run("SET", "k", "from alice");
    assert.deepEqual(plain(alice.run("EXEC")), ["+OK"]);
    alice.run("WATCH", "k");
    alice.run("UNWATCH");
    bob.run("DEL", "k");
    alice.run("MULTI");
    alice.run("GET", "k");
    assert.deepEqual(plain(alice.run("EXEC")), [null]);
    // A key watched in another database is another key.
    alice.run("WATCH", "k");
    bob.run("SELECT", 1);
    bob.run("SET", "k", "in db 1");
    alice.run("MULTI");
    assert.deepEqual(plain(alice.run("EXEC")), []);
  },
});

Deno.test({
  name: "WATCH is invalidated by expiry of the watched key",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const alice = cache.session();
    alice.run("SET", "k", "v", "EX", 100);
    alice.run("WATCH", "k");
    expireNow(cache, "k");
    assert.equal(alice.run("GET", "k"), null); // the lookup finds it expired
    alice.run("MULTI");
    alice.run("SET", "k", "again");
    assert.equal(alice.run("EXEC"), null);
  },
});

Deno.test({
  name: "WATCH belongs to one cache: a write to another cache in the process leaves it alone",
  permissions: "none",
  fn() {
    const first = commandCache();
    const second = commandCache();
    const watcher = first.session();
    const writer = second.session();
    watcher.run("WATCH", "shared");
    writer.run("SET", "shared", "elsewhere");
    watcher.run("MULTI");
    watcher.run("SET", "shared", "mine");
    assert.deepEqual(plain(watcher.run("EXEC")), ["+OK"]);
    assert.equal(first.server.watches.size, 0);
  },
});

Deno.test({
  name: "a command with the write flag anywhere among its flags invalidates WATCH",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const alice = cache.session();
    const bob = cache.session();
    // `write` last, where Redis's COMMAND output would never put it.
    const store = command("store", 3, ["denyoom", "fast", "write"], (ctx, args) => {
      ctx.session.db.set(fromUtf8(args.at(1)), fromUtf8(args.at(2)));
      ctx.out.ok();
    }, { firstKey: 1, lastKey: 1, step: 1 });
    alice.run("WATCH", "k");
    runCommand(bob.ctx, CommandArgs.of(["store", "k", "v"].map(utf8)), store);
    assert.equal(plain(bob.reply()), "+OK");
    alice.run("MULTI");
    alice.run("GET", "k");
    assert.equal(alice.run("EXEC"), null);
  },
});

Deno.test({
  name: "blocking pops: parked until a push, served oldest first, never blocking in EXEC",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const first = cache.session();
    const second = cache.session();
    const pusher = cache.session();
    assert.equal(first.run("BLPOP", "q", 0), BLOCKED);
    assert.equal(second.run("BRPOP", "q", "other", 0), BLOCKED);
    assert.ok(first.blocked && second.blocked);
    assert.equal(cache.server.blocking.size, 2);
    assert.equal(pusher.run("RPUSH", "q", "one"), 1);
    assert.deepEqual(plain(first.reply()), ["q", "one"]);
    assert.ok(!first.blocked && second.blocked);
    assert.ok(second.quiet);
    pusher.run("LPUSH", "other", "two");
    assert.deepEqual(plain(second.reply()), ["other", "two"]);
    assert.equal(cache.server.blocking.size, 0);
    pusher.run("MULTI");
    pusher.run("BLPOP", "q", 0);
    assert.deepEqual(plain(pusher.run("EXEC")), [null]);
  },
});

Deno.test({
  name: "a blocked client that disconnects is released and not handed an element",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const gone = cache.session();
    const worker = cache.session();
    const pusher = cache.session();
    assert.equal(gone.run("BLPOP", "jobs", 0), BLOCKED);
    gone.close();
    assert.equal(worker.run("BLMOVE", "jobs", "done", "LEFT", "RIGHT", 0), BLOCKED);
    pusher.run("RPUSH", "jobs", "job1");
    assert.equal(plain(worker.reply()), "job1");
    assert.ok(gone.quiet);
    assert.deepEqual(plain(pusher.run("LRANGE", "done", 0, -1)), ["job1"]);
  },
});
