// Interop with the real Redis tools: redis-cli (plain, RESP3 with -3, and
// --pipe mass insertion) and a short redis-benchmark run.

import assert from "node:assert/strict";
import { service } from "../../../services/cache/mod.ts";
import { interopTest, runClient } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";

interopTest("redis-cli runs commands against the cache", {
  binaries: ["redis-cli"],
  async fn() {
    await using cache = await startService(service);
    const port = String(cache.addresses.tcp.port);
    const cli = (...args: string[]) =>
      runClient("redis-cli", ["-h", "127.0.0.1", "-p", port, ...args], { timeoutMs: 20_000 });
    assert.equal((await cli("PING")).stdout.trim(), "PONG");
    assert.equal((await cli("SET", "k", "v")).stdout.trim(), "OK");
    assert.equal((await cli("GET", "k")).stdout.trim(), "v");
    assert.equal((await cli("RPUSH", "l", "a", "b")).stdout.trim(), "2");
    assert.equal((await cli("LRANGE", "l", "0", "-1")).stdout.trim(), "a\nb");
    assert.match((await cli("GET", "l")).stdout, /WRONGTYPE/);
    assert.match((await cli("INFO", "keyspace")).stdout, /db0:keys=2,expires=0/);
    // RESP3: a map reply, printed by redis-cli in its RESP3 layout.
    assert.equal((await cli("HSET", "h", "f", "v")).stdout.trim(), "1");
    const resp3 = await cli("-3", "HGETALL", "h");
    assert.equal(resp3.code, 0);
    assert.equal(resp3.stdout.trim(), "f v"); // a RESP3 map, printed as key-value lines
    const hello = await cli("-3", "HELLO", "3");
    assert.match(hello.stdout, /proto/);
  },
});

interopTest("redis-cli --pipe mass-inserts 10000 keys", {
  binaries: ["redis-cli"],
  async fn() {
    await using cache = await startService(service);
    const port = String(cache.addresses.tcp.port);
    let input = "";
    for (let i = 0; i < 10_000; i++) {
      const key = `key:${i}`;
      const value = `value:${i}`;
      input += `*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${value.length}\r\n${value}\r\n`;
    }
    const result = await runClient("redis-cli", ["-h", "127.0.0.1", "-p", port, "--pipe"], {
      stdin: input,
      timeoutMs: 60_000,
    });
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.match(result.stdout, /errors: 0, replies: 10000/);
    const size = await runClient("redis-cli", ["-h", "127.0.0.1", "-p", port, "DBSIZE"]);
    assert.equal(size.stdout.trim(), "10000");
  },
});

interopTest("redis-benchmark completes a short run against the cache", {
  binaries: ["redis-benchmark"],
  async fn() {
    await using cache = await startService(service);
    const port = String(cache.addresses.tcp.port);
    const result = await runClient("redis-benchmark", [
      "-h",
      "127.0.0.1",
      "-p",
      port,
      "-t",
      "set,get,incr,lpush,lpop",
      "-n",
      "2000",
      "-c",
      "10",
      "-P",
      "4",
      "-q",
      "--csv",
    ], { timeoutMs: 120_000 });
    assert.equal(result.code, 0, result.stderr);
    for (const test of ["SET", "GET", "INCR", "LPUSH", "LPOP"]) {
      assert.match(result.stdout, new RegExp(`"${test}"`), result.stdout);
    }
  },
});
