// What a new user hits before the corpus does: commands whose cost a
// pattern or a count could make unbounded, blocked clients served while
// another client pushes, and lists moved onto themselves. Each test here
// failed before its fix (freeze, runaway, exception in the wrong
// connection, lost element).

import assert from "node:assert/strict";
import { fromUtf8, utf8 } from "../../../lib/bytes.ts";
import { logger } from "../../../lib/log.ts";
import { RespClient } from "../../../lib/resp/client.ts";
import { RespError, RespSimple, type RespValue } from "../../../lib/resp/types.ts";
import { CacheServer } from "../../../services/cache/server.ts";
import { globMatch } from "../../../services/cache/values.ts";
import { BLOCKED, commandCache } from "./harness.ts";
import { waitFor } from "./wait.ts";

/** Reads exactly `length` bytes (never past them); throws at end of stream. */
async function readExactly(conn: Deno.Conn, length: number): Promise<Uint8Array> {
  const into = new Uint8Array(length);
  let at = 0;
  while (at < length) {
    const n = await conn.read(into.subarray(at));
    if (n === null) throw new Error(`stream ended after ${at} of ${length} bytes`);
    at += n;
  }
  return into;
}

function plain(value: RespValue | typeof BLOCKED): unknown {
  if (value === BLOCKED) return "<blocked>";
  if (value instanceof Uint8Array) return fromUtf8(value);
  if (value instanceof RespSimple) return `+${value.text}`;
  if (value instanceof RespError) return `-${value.message}`;
  if (Array.isArray(value)) return value.map(plain);
  return value;
}

Deno.test({
  name: "globMatch() agrees with Redis on classes, escapes and stars",
  permissions: "none",
  fn() {
    const cases: [string, string, boolean][] = [
      ["*", "", true],
      ["", "", true],
      ["", "a", false],
      ["a*", "a", true],
      ["*a", "ba", true],
      ["*a", "ab", false],
      ["h?llo", "hello", true],
      ["h[ae]llo", "hallo", true],
      ["h[^e]llo", "hello", false],
      ["h[a-b]llo", "hbllo", true],
      ["h[b-a]llo", "hallo", true],
      ["h\\*llo", "h*llo", true],
      ["h\\*llo", "hello", false],
      ["*b*b*", "abab", true],
      ["a*b*c", "aXbYbZc", true],
      ["a*b*c", "aXbYbZ", false],
      ["[abc", "a", true],
      ["**a**", "bab", true],
    ];
    for (const [pattern, text, expected] of cases) {
      assert.equal(globMatch(pattern, text), expected, `${pattern} ~ ${text}`);
    }
  },
});

Deno.test({
  name: "KEYS and SCAN MATCH with many stars answer (the recursive matcher never returned)",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const client = cache.session();
    client.run("SET", "a".repeat(60), "v");
    // 25 stars then a letter absent from the key: exponential for a
    // backtracking matcher, a few thousand steps here.
    const pattern = "a*".repeat(25) + "b";
    assert.deepEqual(plain(client.run("KEYS", pattern)), []);
    assert.deepEqual(plain(client.run("SCAN", 0, "MATCH", pattern, "COUNT", 100)), ["0", []]);
    assert.deepEqual(plain(client.run("KEYS", "a*".repeat(25))), ["a".repeat(60)]);
  },
});

Deno.test({
  name: "SRANDMEMBER refuses counts that cannot be negated or answered",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const client = cache.session();
    client.run("SADD", "s", "a", "b", "c");
    assert.equal(
      plain(client.run("SRANDMEMBER", "s", "-9223372036854775808")),
      "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
    );
    assert.equal(
      plain(client.run("SRANDMEMBER", "s", "-9223372036854775807")),
      "-ERR value is out of range",
    );
    assert.equal(
      plain(client.run("SRANDMEMBER", "s", "9223372036854775808")),
      "-ERR value is not an integer or out of range",
    );
    assert.equal((client.run("SRANDMEMBER", "s", "9223372036854775807") as unknown[]).length, 3);
    assert.equal((client.run("SRANDMEMBER", "s", -5) as unknown[]).length, 5);
    assert.deepEqual(plain(client.run("RPUSH", "l", "a", "b")), 2);
    assert.equal(plain(client.run("LPOS", "l", "a", "RANK", "-9223372036854775808")), 0);
  },
});

Deno.test({
  name: "RPOPLPUSH, LMOVE, BLMOVE and BRPOPLPUSH onto the same list rotate it",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const client = cache.session();
    client.run("RPUSH", "l", "a");
    assert.equal(plain(client.run("RPOPLPUSH", "l", "l")), "a");
    assert.deepEqual(plain(client.run("LRANGE", "l", 0, -1)), ["a"]);
    assert.equal(plain(client.run("LMOVE", "l", "l", "LEFT", "RIGHT")), "a");
    assert.deepEqual(plain(client.run("LRANGE", "l", 0, -1)), ["a"]);
    client.run("RPUSH", "l", "b", "c");
    assert.equal(plain(client.run("LMOVE", "l", "l", "LEFT", "RIGHT")), "a");
    assert.deepEqual(plain(client.run("LRANGE", "l", 0, -1)), ["b", "c", "a"]);
    assert.equal(plain(client.run("BLMOVE", "l", "l", "RIGHT", "LEFT", 0)), "a");
    assert.deepEqual(plain(client.run("LRANGE", "l", 0, -1)), ["a", "b", "c"]);
    const waiter = cache.session();
    assert.equal(waiter.run("BRPOPLPUSH", "r", "r", 0), BLOCKED);
    client.run("RPUSH", "r", "x");
    assert.equal(plain(waiter.reply()), "x");
    assert.deepEqual(plain(client.run("LRANGE", "r", 0, -1)), ["x"]);
  },
});

Deno.test({
  name: "an error serving a woken client is its own reply, never the pusher's",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const waiter = cache.session();
    const pusher = cache.session();
    pusher.run("SET", "dst", "foo");
    assert.equal(waiter.run("BRPOPLPUSH", "src", "dst", 0), BLOCKED);
    assert.equal(plain(pusher.run("LPUSH", "src", "x")), 1);
    assert.ok(pusher.quiet);
    assert.equal(
      plain(waiter.reply()),
      "-WRONGTYPE Operation against a key holding the wrong kind of value",
    );
    assert.ok(!waiter.blocked);
    assert.deepEqual(plain(pusher.run("LRANGE", "src", 0, -1)), ["x"]);
  },
});

Deno.test({
  name: "a client blocked on a key that became a string stays blocked (MULTI LPUSH DEL SET EXEC)",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const waiter = cache.session();
    const pusher = cache.session();
    assert.equal(waiter.run("BLPOP", "k", 0), BLOCKED);
    pusher.run("MULTI");
    pusher.run("LPUSH", "k", "a");
    pusher.run("DEL", "k");
    pusher.run("SET", "k", "foo");
    assert.deepEqual(plain(pusher.run("EXEC")), [1, 1, "+OK"]);
    assert.ok(waiter.blocked && waiter.quiet);
    pusher.run("DEL", "k");
    pusher.run("RPUSH", "k", "z");
    assert.deepEqual(plain(waiter.reply()), ["k", "z"]);
  },
});

Deno.test({
  name: "BLPOP naming one key twice is served once, with one element",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const waiter = cache.session();
    const pusher = cache.session();
    assert.equal(waiter.run("BLPOP", "k", "k", 0), BLOCKED);
    pusher.run("RPUSH", "k", "a", "b");
    assert.deepEqual(plain(waiter.reply()), ["k", "a"]);
    assert.ok(waiter.quiet, "one reply only");
    assert.deepEqual(plain(pusher.run("LRANGE", "k", 0, -1)), ["b"]);
  },
});

Deno.test("a push while a BLPOP's earlier replies are still being written wakes it", async () => {
  const server = new CacheServer({
    host: "127.0.0.1",
    port: 0,
    databases: 16,
    maxmemoryBytes: 0,
    policy: "noeviction",
    log: logger("cache"),
  });
  const { port } = server.listen("127.0.0.1", 0);
  try {
    using pusher = await RespClient.connect({ port });
    // Larger than loopback socket buffers can absorb (a few MB each way).
    const bigBytes = 32 * 1024 * 1024;
    await pusher.send("SET", "big", "x".repeat(bigBytes));
    // GET big then BLPOP in one read; we do not read, so the 32 MB reply
    // cannot be written out before the push below.
    using conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(utf8("GET big\r\nBLPOP q 0\r\n"));
    await waitFor("the BLPOP to park", () => server.blocking.size === 1);
    assert.equal(await pusher.send("RPUSH", "q", "job"), 1);
    const header = `$${bigBytes}\r\n`;
    const tail = "*2\r\n$1\r\nq\r\n$3\r\njob\r\n";
    const got = await readExactly(conn, header.length + bigBytes + 2 + tail.length);
    assert.equal(fromUtf8(got.subarray(0, header.length)), header);
    assert.equal(fromUtf8(got.subarray(got.length - tail.length)), tail);
    assert.deepEqual(plain(await pusher.send("LLEN", "q")), 0);
  } finally {
    await server.close(1_000);
  }
});
