// Big commands: a 1,000,000-argument DEL (Redis's array bound, 7 MB on the
// wire) repeated must not keep growing the process (measured as a real
// process, from /proc/PID/status), and the bounds Redis puts on a client's
// input, client-query-buffer-limit and proto-max-bulk-len, apply as soon as
// CONFIG SET changes them, to connections already open too, as in
// redis-server 7.0.15 (the same script runs against both).

import assert from "node:assert/strict";
import { spawnService } from "../../_support/subprocess.ts";
import { interopTest } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";
import { service } from "../../../services/cache/mod.ts";
import { startRedis } from "./redis_server.ts";

const DEL_ARGS = 1_000_000;

function rssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** Reads until `expected` bytes arrived, or the peer closed: what arrived. */
async function readReply(conn: Deno.Conn, expected: number): Promise<string> {
  const chunk = new Uint8Array(4096);
  let text = "";
  while (text.length < expected) {
    const n = await conn.read(chunk);
    if (n === null) break;
    text += new TextDecoder().decode(chunk.subarray(0, n));
  }
  return text;
}

function hugeDel(): Uint8Array {
  const parts: string[] = [`*${DEL_ARGS + 1}\r\n$3\r\nDEL\r\n`];
  for (let i = 0; i < DEL_ARGS; i++) {
    const key = `k${i}`;
    parts.push(`$${key.length}\r\n${key}\r\n`);
  }
  return new TextEncoder().encode(parts.join(""));
}

Deno.test({
  name: "repeated 1,000,000-argument DELs do not keep growing the cache process",
  ignore: Deno.build.os !== "linux",
  async fn() {
    // With the GC exposed, MEMORY PURGE is a full collection: RSS is then
    // measured without the V8 garbage a huge command leaves until the next
    // major GC. Without it, whether that GC had run was a matter of timing
    // (the third DEL's RSS was +90 MiB in about half the runs on a quiet
    // machine), which made this test flaky. What it shows now is what stays
    // after a full collection; the glibc arena growth lib/malloc_tuning.ts
    // fixes does not show in this measurement (V8's last-resort collection
    // gives that memory back too), so tests/lib/malloc_tuning_test.ts
    // guards that fix instead.
    const cache = await spawnService(["cache", "--port", "0", "--admin-port", "0"], {
      denoFlags: ["--v8-flags=--expose-gc"],
    });
    try {
      const port = Object.values(cache.ports)[0];
      const pid = cache.process.pid;
      const bytes = hugeDel();
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      const rss: number[] = [];
      try {
        for (let round = 0; round < 3; round++) {
          await writeAll(conn, bytes);
          assert.equal(await readReply(conn, 4), ":0\r\n");
          await writeAll(conn, new TextEncoder().encode("MEMORY PURGE\r\n"));
          assert.equal(await readReply(conn, 5), "+OK\r\n");
          rss.push(rssBytes(pid));
        }
      } finally {
        conn.close();
      }
      // Before lib/malloc_tuning.ts the two later DELs added 130-170 MiB
      // (freed buffers kept in glibc's arenas); now about 3 MiB. Redis
      // itself grows about 30 MiB over the same three.
      const growth = rss[2] - rss[0];
      assert.ok(
        growth < 64 * 1024 * 1024,
        `RSS after each DEL: ${rss.map((b) => (b / 1048576).toFixed(0)).join(", ")} MiB`,
      );
    } finally {
      cache.kill();
      await cache.exited();
    }
  },
});

/**
 * The same exchanges against any server: a bulk past proto-max-bulk-len is a
 * protocol error, and a command past client-query-buffer-limit closes the
 * connection, both after CONFIG SET on a connection already open.
 */
async function inputBounds(port: number): Promise<string[]> {
  const seen: string[] = [];
  const admin = await Deno.connect({ hostname: "127.0.0.1", port });
  const victim = await Deno.connect({ hostname: "127.0.0.1", port });
  const other = await Deno.connect({ hostname: "127.0.0.1", port });
  const run = async (conn: Deno.Conn, command: string, expected: number) => {
    await writeAll(conn, new TextEncoder().encode(command));
    return await readReply(conn, expected);
  };
  const config = (name: string, value: string) =>
    `*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$${name.length}\r\n${name}\r\n$${value.length}\r\n${value}\r\n`;
  try {
    assert.equal(await run(victim, "*1\r\n$4\r\nPING\r\n", 7), "+PONG\r\n");
    assert.equal(await run(other, "*1\r\n$4\r\nPING\r\n", 7), "+PONG\r\n");
    seen.push(await run(admin, config("proto-max-bulk-len", "1000"), 1));
    seen.push(await run(admin, config("proto-max-bulk-len", "1mb"), 5));
    seen.push(await run(admin, config("client-query-buffer-limit", "1mb"), 5));
    // A 2 MB value: the bulk length is refused before any of it is read.
    const big = 2 * 1024 * 1024;
    seen.push(await run(victim, `*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${big}\r\n`, 45));
    victim.close();
    // Under the bulk bound, over the query buffer bound: the connection is closed.
    seen.push(await run(admin, config("proto-max-bulk-len", "8mb"), 5));
    try {
      const value = "x".repeat(3 * 1024 * 1024);
      const command = `*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${value.length}\r\n${value}\r\n`;
      try {
        seen.push(`closed: ${JSON.stringify(await run(other, command, 1))}`);
      } catch (error) {
        // The peer may reset the connection while we are still writing.
        seen.push(`closed: ${error instanceof Deno.errors.ConnectionReset ? '""' : error}`);
      }
    } finally {
      other.close();
    }
  } finally {
    await run(admin, config("proto-max-bulk-len", "512mb"), 5);
    await run(admin, config("client-query-buffer-limit", "1gb"), 5);
    admin.close();
  }
  return seen;
}

const EXPECTED = [
  "-ERR CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - argument must be between 1048576 and 9223372036854775807 inclusive\r\n",
  "+OK\r\n",
  "+OK\r\n",
  "-ERR Protocol error: invalid bulk length\r\n",
  "+OK\r\n",
  'closed: ""',
];

Deno.test("CONFIG SET proto-max-bulk-len and client-query-buffer-limit bound open connections", async () => {
  await using cache = await startService(service);
  assert.deepEqual(await inputBounds(cache.addresses.tcp.port), EXPECTED);
});

interopTest("redis-server bounds its input the same way", {
  binaries: ["redis-server"],
  async fn() {
    await using redis = await startRedis();
    assert.deepEqual(await inputBounds(redis.port), EXPECTED);
  },
});
