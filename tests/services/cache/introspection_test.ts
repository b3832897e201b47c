// MONITOR, SLOWLOG, CLIENT KILL/PAUSE/UNPAUSE/REPLY over real sockets; the
// MONITOR lines are compared with redis-server's (times and ports aside).

import assert from "node:assert/strict";
import { RespClient } from "../../../lib/resp/client.ts";
import { RespSimple, type RespValue } from "../../../lib/resp/types.ts";
import { service } from "../../../services/cache/mod.ts";
import { interopTest } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";
import { startRedis } from "./redis_server.ts";
import { waitFor } from "./wait.ts";

function text(value: RespValue): string {
  if (value instanceof RespSimple) return value.text;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  return String(value);
}

interopTest("MONITOR shows the commands others run as redis-server shows them", {
  binaries: ["redis-server"],
  async fn() {
    await using redis = await startRedis();
    await using cache = await startService(service);
    const lines: string[][] = [];
    for (const port of [cache.addresses.tcp.port, redis.port]) {
      const monitor = await RespClient.connect({ port });
      const client = await RespClient.connect({ port });
      try {
        assert.equal(text(await monitor.send("MONITOR")), "OK");
        await client.send("SET", "a b", 'x"y\nz\x01');
        await client.send("AUTH", "secret");
        await client.send("SELECT", "3");
        await client.send("GET", "k");
        await client.send("CONFIG", "GET", "maxmemory"); // admin: not shown
        await client.send("MULTI");
        await client.send("INCR", "n");
        await client.send("EXEC"); // shown after the INCR it ran
        await client.send("NOSUCHCOMMAND"); // rejected before it runs: not shown
        await client.send("PING");
        const seen: string[] = [];
        while (seen.length < 8) {
          // Time and client port vary; the rest must match.
          seen.push(
            text(await monitor.nextPush()).replace(/^\d+\.\d{6} \[(\d+) [\d.]+:\d+\]/, "[$1]"),
          );
        }
        lines.push(seen);
        // A monitor is a replica to Redis: it may not touch keys.
        seen.push(text(await monitor.send("GET", "k")));
      } finally {
        monitor.close();
        client.close();
      }
    }
    assert.deepEqual(lines[0], lines[1]);
    assert.equal(lines[0][0], '[0] "set" "a b" "x\\"y\\nz\\x01"'.replace('"set"', '"SET"'));
  },
});

Deno.test("SLOWLOG records commands over the threshold, shortened as Redis does", async () => {
  await using cache = await startService(service);
  const client = await RespClient.connect({ port: cache.addresses.tcp.port });
  try {
    await client.send("CONFIG", "SET", "slowlog-log-slower-than", "0");
    await client.send("CLIENT", "SETNAME", "tester");
    await client.send("RPUSH", "l", ...Array.from({ length: 40 }, (_, i) => `${i}`));
    await client.send("SET", "big", "x".repeat(200));
    const entries = await client.send("SLOWLOG", "GET", "2") as RespValue[][];
    assert.equal(entries.length, 2);
    const [newest, older] = entries;
    assert.equal(newest.length, 6);
    assert.deepEqual((newest[3] as RespValue[]).map(text), [
      "SET",
      "big",
      `${"x".repeat(128)}... (72 more bytes)`,
    ]);
    const args = (older[3] as RespValue[]).map(text);
    assert.equal(args.length, 32);
    assert.equal(args[31], "... (11 more arguments)");
    assert.equal(text(newest[5]), "tester");
    assert.ok(Number(await client.send("SLOWLOG", "LEN")) >= 2);
    await client.send("SLOWLOG", "RESET");
    await client.send("CONFIG", "SET", "slowlog-log-slower-than", "-1");
    await client.send("PING");
    // SLOWLOG RESET itself is logged (the threshold was still 0), as in Redis.
    assert.equal(await client.send("SLOWLOG", "LEN"), 1);
  } finally {
    client.close();
  }
});

Deno.test("CLIENT PAUSE WRITE holds writes until CLIENT UNPAUSE while reads go on", async () => {
  await using cache = await startService(service);
  const port = cache.addresses.tcp.port;
  const writer = await RespClient.connect({ port });
  const reader = await RespClient.connect({ port });
  try {
    await reader.send("SET", "k", "before");
    assert.equal(text(await reader.send("CLIENT", "PAUSE", "60000", "WRITE")), "OK");
    let done = false;
    const write = writer.send("SET", "k", "after").then((reply) => {
      done = true;
      return reply;
    });
    // The read is answered at once and sees the old value: the write waits.
    assert.equal(text(await reader.send("GET", "k")), "before");
    assert.equal(done, false);
    assert.equal(text(await reader.send("CLIENT", "UNPAUSE")), "OK");
    assert.equal(text(await write), "OK");
    assert.equal(text(await reader.send("GET", "k")), "after");
  } finally {
    writer.close();
    reader.close();
  }
});

Deno.test("CLIENT KILL closes another client by ID, and CLIENT REPLY OFF/SKIP drop replies", async () => {
  await using cache = await startService(service);
  const port = cache.addresses.tcp.port;
  const killer = await RespClient.connect({ port });
  const victim = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await victim.write(new TextEncoder().encode("CLIENT ID\r\n"));
    const buf = new Uint8Array(64);
    const n = await victim.read(buf);
    const id = Number(new TextDecoder().decode(buf.subarray(0, n!)).slice(1));
    assert.equal(await killer.send("CLIENT", "KILL", "ID", String(id)), 1);
    assert.equal(await victim.read(buf), null, "the victim's connection is closed");
    assert.equal(await killer.send("CLIENT", "KILL", "ID", String(id)), 0);
    await waitFor("the killed client to be gone", async () => {
      const list = text(await killer.send("CLIENT", "LIST"));
      return !list.includes(`id=${id} `);
    });
  } finally {
    victim.close();
    killer.close();
  }
  const raw = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const script = "CLIENT REPLY OFF\r\nPING\r\nCLIENT REPLY SKIP\r\nPING\r\nCLIENT REPLY ON\r\n" +
      "PING\r\nCLIENT REPLY SKIP\r\nPING\r\nPING\r\nQUIT\r\n";
    await raw.write(new TextEncoder().encode(script));
    let got = "";
    const buf = new Uint8Array(1024);
    while (true) {
      const n = await raw.read(buf);
      if (n === null) break;
      got += new TextDecoder().decode(buf.subarray(0, n));
    }
    // Redis 7.0.15 answers exactly this to the same script.
    assert.equal(got, "+OK\r\n+PONG\r\n+PONG\r\n+OK\r\n");
  } finally {
    raw.close();
  }
});
