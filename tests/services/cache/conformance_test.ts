// Behaviour that differed from Redis 7.0 as a new user found it: error
// texts, INFO sections, CONFIG parameters, MULTI under maxmemory, SWAPDB
// waking blocked clients, SMOVE and WATCH. Each expectation is what
// redis-server 7.0.15 answers.

import assert from "node:assert/strict";
import { fromUtf8 } from "../../../lib/bytes.ts";
import { RespError, RespSimple, type RespValue, RespVerbatim } from "../../../lib/resp/types.ts";
import { BLOCKED, commandCache } from "./harness.ts";

function plain(value: RespValue | typeof BLOCKED): unknown {
  if (value === BLOCKED) return "<blocked>";
  if (value instanceof Uint8Array) return fromUtf8(value);
  if (value instanceof RespSimple) return `+${value.text}`;
  if (value instanceof RespError) return `-${value.message}`;
  if (value instanceof RespVerbatim) return fromUtf8(value.text);
  if (Array.isArray(value)) return value.map(plain);
  return value;
}

Deno.test({
  name: "LPOP/RPOP with extra arguments and HINCRBYFLOAT with inf answer in Redis's words",
  permissions: "none",
  fn() {
    const client = commandCache().session();
    client.run("RPUSH", "l", "a");
    assert.equal(
      plain(client.run("LPOP", "l", "a", "b")),
      "-ERR wrong number of arguments for 'lpop' command",
    );
    assert.equal(
      plain(client.run("RPOP", "l", "a", "b")),
      "-ERR wrong number of arguments for 'rpop' command",
    );
    assert.equal(
      plain(client.run("HINCRBYFLOAT", "h", "f", "inf")),
      "-ERR value is NaN or Infinity",
    );
    assert.equal(
      plain(client.run("HINCRBYFLOAT", "l", "f", "-inf")),
      "-ERR value is NaN or Infinity",
    );
    assert.equal(
      plain(client.run("HINCRBYFLOAT", "h", "f", "nan")),
      "-ERR value is not a valid float",
    );
  },
});

Deno.test({
  name: "past maxmemory, commands queued in MULTI are refused at queue time and EXEC aborts",
  permissions: "none",
  fn() {
    const client = commandCache({ maxmemoryBytes: 1 }).session();
    assert.equal(plain(client.run("MULTI")), "+OK");
    assert.equal(
      plain(client.run("GET", "k")),
      "-OOM command not allowed when used memory > 'maxmemory'.",
    );
    assert.equal(
      plain(client.run("EXEC")),
      "-EXECABORT Transaction discarded because of previous errors.",
    );
    assert.equal(plain(client.run("GET", "k")), null);
  },
});

Deno.test({
  name: "SWAPDB wakes clients blocked on keys that now hold a list",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const waiter = cache.session();
    const other = cache.session();
    assert.equal(waiter.run("BLPOP", "k", 0), BLOCKED);
    other.run("SELECT", 1);
    other.run("RPUSH", "k", "x");
    assert.equal(plain(other.run("SWAPDB", 0, 1)), "+OK");
    assert.deepEqual(plain(waiter.reply()), ["k", "x"]);
    assert.ok(!waiter.blocked);
  },
});

Deno.test({
  name: "SMOVE leaves a WATCH alone when it moves nothing, and a set moved onto itself intact",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const watcher = cache.session();
    const other = cache.session();
    other.run("SADD", "s", "a");
    watcher.run("WATCH", "s", "d");
    assert.equal(plain(other.run("SMOVE", "s", "d", "missing")), 0);
    watcher.run("MULTI");
    watcher.run("SET", "x", "1");
    assert.deepEqual(plain(watcher.run("EXEC")), ["+OK"]);
    assert.equal(plain(other.run("SMOVE", "s", "s", "a")), 1);
    assert.deepEqual(plain(other.run("SMEMBERS", "s")), ["a"]);
    watcher.run("WATCH", "s");
    assert.equal(plain(other.run("SMOVE", "s", "d", "a")), 1);
    watcher.run("MULTI");
    watcher.run("SET", "x", "2");
    assert.equal(plain(watcher.run("EXEC")), null);
  },
});

Deno.test({
  name: "CONFIG SET accepts Redis's standard parameters and their ziplist aliases",
  permissions: "none",
  fn() {
    const client = commandCache().session();
    assert.deepEqual(plain(client.run("CONFIG", "GET", "hash-max-ziplist-entries")), [
      "hash-max-ziplist-entries",
      "512",
    ]);
    assert.equal(plain(client.run("CONFIG", "SET", "hash-max-ziplist-entries", 100)), "+OK");
    assert.deepEqual(plain(client.run("CONFIG", "GET", "hash-max-listpack-entries")), [
      "hash-max-listpack-entries",
      "100",
    ]);
    for (
      const name of [
        "list-compress-depth",
        "set-max-intset-entries",
        "zset-max-listpack-entries",
        "zset-max-ziplist-value",
        "list-max-ziplist-size",
      ]
    ) {
      assert.equal(plain(client.run("CONFIG", "SET", name, 3)), "+OK", name);
    }
    assert.equal(plain(client.run("CONFIG", "SET", "notify-keyspace-events", "KEA")), "+OK");
    assert.equal(
      plain(client.run("CONFIG", "SET", "set-max-intset-entries", "abc")),
      "-ERR CONFIG SET failed (possibly related to argument 'set-max-intset-entries') - argument couldn't be parsed into an integer",
    );
    assert.equal(plain(client.run("CONFIG", "SET", "client-query-buffer-limit", "2mb")), "+OK");
    assert.deepEqual(plain(client.run("CONFIG", "GET", "client-query-buffer-limit")), [
      "client-query-buffer-limit",
      String(2 * 1024 * 1024),
    ]);
  },
});

Deno.test({
  name: "INFO has Redis 7's sections; commandstats only with all, everything or by name",
  permissions: "none",
  fn() {
    const client = commandCache().session();
    client.run("GET", "k");
    const headers = (text: string) => text.split("\r\n").filter((line) => line.startsWith("#"));
    const byDefault = headers(plain(client.run("INFO")) as string);
    assert.deepEqual(byDefault, [
      "# Server",
      "# Clients",
      "# Memory",
      "# Persistence",
      "# Stats",
      "# Replication",
      "# CPU",
      "# Modules",
      "# Errorstats",
      "# Cluster",
      "# Keyspace",
    ]);
    const all = plain(client.run("INFO", "all")) as string;
    assert.deepEqual(headers(all), [
      ...byDefault.slice(0, 8),
      "# Commandstats",
      "# Errorstats",
      "# Latencystats",
      ...byDefault.slice(9),
    ]);
    assert.match(all, /^cmdstat_get:calls=1,/m);
    assert.match(plain(client.run("INFO", "cpu")) as string, /^used_cpu_user:\d+\.\d{6}$/m);
    assert.match(plain(client.run("INFO", "replication")) as string, /^role:master$/m);
    assert.match(plain(client.run("INFO", "commandstats")) as string, /^cmdstat_info:calls=/m);
  },
});

Deno.test({
  name: "COPY, SINTERCARD, LMPOP, HRANDFIELD and WAIT answer as Redis 7.0",
  permissions: "none",
  fn() {
    const client = commandCache().session();
    client.run("RPUSH", "l", "a", "b", "c");
    client.run("SADD", "s", "a", "b", "c");
    client.run("SADD", "t", "b", "c", "d");
    client.run("HSET", "h", "f", "1", "g", "2");
    assert.equal(
      plain(client.run("COPY", "l", "l")),
      "-ERR source and destination objects are the same",
    );
    assert.equal(plain(client.run("COPY", "l", "m")), 1);
    assert.equal(plain(client.run("COPY", "l", "m")), 0);
    assert.equal(plain(client.run("COPY", "l", "m", "DB", 99)), "-ERR DB index is out of range");
    assert.equal(plain(client.run("COPY", "l", "l", "DB", 1)), 1);
    client.run("RPUSH", "m", "d");
    assert.deepEqual(plain(client.run("LRANGE", "l", 0, -1)), ["a", "b", "c"]);
    assert.equal(plain(client.run("SINTERCARD", 2, "s", "t")), 2);
    assert.equal(plain(client.run("SINTERCARD", 2, "s", "t", "LIMIT", 1)), 1);
    assert.equal(plain(client.run("SINTERCARD", 0, "s")), "-ERR numkeys should be greater than 0");
    assert.equal(
      plain(client.run("SINTERCARD", 3, "s", "t")),
      "-ERR Number of keys can't be greater than number of args",
    );
    assert.equal(
      plain(client.run("SINTERCARD", 2, "s", "t", "LIMIT", -1)),
      "-ERR LIMIT can't be negative",
    );
    assert.deepEqual(plain(client.run("LMPOP", 2, "x", "l", "RIGHT", "COUNT", 5)), ["l", [
      "c",
      "b",
      "a",
    ]]);
    assert.equal(plain(client.run("LMPOP", 1, "x", "LEFT")), null);
    assert.equal(plain(client.run("LMPOP", 2, "l", "LEFT")), "-ERR syntax error");
    assert.equal(
      plain(client.run("LMPOP", 1, "m", "LEFT", "COUNT", 0)),
      "-ERR count should be greater than 0",
    );
    assert.deepEqual((plain(client.run("HRANDFIELD", "h", 5, "WITHVALUES")) as string[]).sort(), [
      "1",
      "2",
      "f",
      "g",
    ]);
    assert.equal((client.run("HRANDFIELD", "h", -5) as unknown[]).length, 5);
    assert.equal(
      plain(client.run("HRANDFIELD", "h", "-9223372036854775808")),
      "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
    );
    assert.equal(plain(client.run("WAIT", 0, 0)), 0);
    assert.equal(plain(client.run("WAIT", 0, -1)), "-ERR timeout is negative");
  },
});

Deno.test({
  name:
    "writes that change nothing (SADD of a member, SREM and HDEL of absent ones) leave a WATCH alone",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const watcher = cache.session();
    const other = cache.session();
    other.run("SADD", "s", "a");
    other.run("HSET", "h", "f", "1");
    watcher.run("WATCH", "s", "h");
    assert.equal(plain(other.run("SADD", "s", "a")), 0);
    assert.equal(plain(other.run("SREM", "s", "zz")), 0);
    assert.equal(plain(other.run("HDEL", "h", "zz")), 0);
    watcher.run("MULTI");
    watcher.run("SET", "x", "1");
    assert.deepEqual(plain(watcher.run("EXEC")), ["+OK"]);
  },
});

Deno.test({
  name: "MOVE answers as Redis 7.0, keeps the TTL, and refuses a key the target holds",
  permissions: "none",
  fn() {
    const client = commandCache().session();
    client.run("SET", "k", "v");
    const errors: [string | number, string][] = [
      ["x", "-ERR value is not an integer or out of range"],
      [99999999999, "-ERR value is out of range, value must between -2147483648 and 2147483647"],
      [16, "-ERR DB index is out of range"],
      [-1, "-ERR DB index is out of range"],
      [0, "-ERR source and destination objects are the same"],
    ];
    for (const [db, expected] of errors) assert.equal(plain(client.run("MOVE", "k", db)), expected);
    assert.equal(client.run("MOVE", "nokey", 1), 0);
    assert.equal(client.run("MOVE", "k", 1), 1);
    assert.equal(client.run("EXISTS", "k"), 0);
    client.run("SET", "k", "v2");
    assert.equal(client.run("MOVE", "k", 1), 0, "the target has one");
    client.run("SELECT", 1);
    assert.equal(plain(client.run("GET", "k")), "v");
    assert.equal(client.run("TTL", "k"), -1);
  },
});

Deno.test({
  name: "MEMORY USAGE counts a key's bytes as used_memory does, with Redis 7.0's errors",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const client = cache.session();
    client.run("SET", "k", "v");
    const bytes = client.run("MEMORY", "USAGE", "k");
    assert.equal(bytes, cache.server.keyspace.dbs[0].peek("k")!.bytes);
    assert.equal(client.run("MEMORY", "USAGE", "k", "SAMPLES", 0), bytes);
    assert.equal(plain(client.run("MEMORY", "USAGE", "nokey")), null);
    const errors: [(string | number)[], string][] = [
      [["SAMPLES", "x"], "-ERR value is not an integer or out of range"],
      [["SAMPLES", -1], "-ERR syntax error"],
      [["FOO"], "-ERR syntax error"],
      [["SAMPLES"], "-ERR syntax error"],
    ];
    for (const [tail, expected] of errors) {
      assert.equal(plain(client.run("MEMORY", "USAGE", "k", ...tail)), expected);
    }
    assert.equal(
      plain(client.run("MEMORY", "USAGE")),
      "-ERR wrong number of arguments for 'memory|usage' command",
    );
    assert.equal(plain(client.run("MEMORY", "PURGE")), "+OK");
    assert.equal(
      plain(client.run("MEMORY", "FOO")),
      "-ERR unknown subcommand 'FOO'. Try MEMORY HELP.",
    );
  },
});

Deno.test({
  name: "LCS gives the subsequence, its length and the matching ranges as Redis 7.0",
  permissions: "none",
  fn() {
    const client = commandCache().session();
    client.run("MSET", "key1", "ohmytext", "key2", "mynewtext", "z1", "AAGGTTCCAAGGTT");
    client.run("SET", "z2", "GGTTAAGGCCTT");
    client.run("SADD", "st", "x");
    assert.equal(plain(client.run("LCS", "key1", "key2")), "mytext");
    assert.equal(client.run("LCS", "key1", "key2", "LEN"), 6);
    assert.equal(plain(client.run("LCS", "key1", "nokey")), "");
    // redis-server 7.0.15's ranges, last match first.
    assert.deepEqual(plain(client.run("LCS", "z1", "z2", "IDX", "WITHMATCHLEN")), [
      "matches",
      [[[12, 13], [10, 11], 2], [[8, 11], [4, 7], 4], [[2, 5], [0, 3], 4]],
      "len",
      10,
    ]);
    assert.deepEqual(plain(client.run("LCS", "key1", "key2", "IDX", "MINMATCHLEN", 4)), [
      "matches",
      [[[4, 7], [5, 8]]],
      "len",
      6,
    ]);
    const errors: [(string | number)[], string][] = [
      [
        ["key1", "key2", "LEN", "IDX"],
        "-ERR If you want both the length and indexes, please just use IDX.",
      ],
      [["key1", "key2", "FOO"], "-ERR syntax error"],
      [["key1", "key2", "MINMATCHLEN", "x"], "-ERR value is not an integer or out of range"],
      [["st", "key1"], "-ERR The specified keys must contain string values"],
    ];
    for (const [args, expected] of errors) {
      assert.equal(plain(client.run("LCS", ...args)), expected);
    }
    client.run("CONFIG", "SET", "proto-max-bulk-len", "1mb");
    client.run("SET", "l1", "a".repeat(600));
    client.run("SET", "l2", "b".repeat(600));
    assert.equal(
      plain(client.run("LCS", "l1", "l2", "LEN")),
      "-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
    );
  },
});
