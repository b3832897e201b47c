// Per-connection memory: small when idle, given back after a big command,
// counted in used_memory (so maxmemory sees it) and shown in CLIENT LIST
// and INFO memory, as Redis shows qbuf, argv-mem, rbs, omem and tot-mem.

import assert from "node:assert/strict";
import { fromUtf8 } from "../../../lib/bytes.ts";
import { logger } from "../../../lib/log.ts";
import { RespClient } from "../../../lib/resp/client.ts";
import type { RespValue } from "../../../lib/resp/types.ts";
import { ReplyWriter } from "../../../lib/resp/writer.ts";
import { ENTRY_OVERHEAD_BYTES, MAP_ENTRY_BYTES } from "../../../services/cache/keyspace.ts";
import { CacheServer } from "../../../services/cache/server.ts";

function text(value: RespValue): string {
  if (value instanceof Uint8Array) return fromUtf8(value);
  if (typeof value === "object" && value !== null && "text" in value) {
    return fromUtf8(value.text as Uint8Array);
  }
  return String(value);
}

function field(line: string, name: string): number {
  const match = new RegExp(`(?:^| )${name}=(\\d+)`).exec(line);
  assert.ok(match !== null, `${name} in ${line}`);
  return Number(match[1]);
}

Deno.test({
  name: "ReplyWriter gives back a buffer a big reply grew, and starts small",
  permissions: "none",
  fn() {
    const out = new ReplyWriter();
    assert.ok(out.capacity <= 4096, `starts at ${out.capacity}`);
    out.bulkString("x".repeat(1024 * 1024));
    out.take();
    out.shrink();
    out.bulkString("y");
    assert.equal(fromUtf8(out.take()), "$1\r\ny\r\n");
    out.shrink();
    assert.ok(out.capacity <= 8192, `after shrink: ${out.capacity}`);
  },
});

Deno.test("a connection's buffers shrink after a big command and are counted in INFO and CLIENT LIST", async () => {
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
    using client = await RespClient.connect({ port });
    const bigBytes = 2 * 1024 * 1024;
    await client.send("SET", "big", "x".repeat(bigBytes));
    assert.equal((await client.send("GET", "big") as Uint8Array).length, bigBytes);
    // A 100,000-argument DEL: its parsed arguments are counted while it runs.
    const del = ["DEL", ...Array.from({ length: 100_000 }, (_, i) => `k${i}`)];
    assert.equal(await client.send(...del), 0);
    const line = text(await client.send("CLIENT", "INFO"));
    const total = field(line, "tot-mem");
    assert.ok(total > 0 && total < 64 * 1024, `tot-mem ${total} after the big commands`);
    assert.ok(field(line, "rbs") < 64 * 1024, line);
    // Idle connections cost little, and all of it is in used_memory.
    const idle = await Promise.all(
      Array.from({ length: 20 }, () => RespClient.connect({ port })),
    );
    try {
      for (const other of idle) await other.send("PING");
      const info = text(await client.send("INFO", "memory"));
      const clients = Number(/mem_clients_normal:(\d+)/.exec(info)![1]);
      assert.ok(clients > 0, info);
      assert.ok(clients / 21 < 32 * 1024, `${clients / 21} bytes per idle client`);
      assert.equal(server.keyspace.clientBytes, clients);
    } finally {
      for (const other of idle) other.close();
    }
  } finally {
    await server.close(1_000);
  }
});

Deno.test("MEMORY USAGE answers what used_memory counts for a key; MEMORY PURGE answers OK", async () => {
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
    using client = await RespClient.connect({ port });
    await client.send("SET", "key:0000001", "v123");
    const usage = await client.send("MEMORY", "USAGE", "key:0000001");
    assert.equal(usage, ENTRY_OVERHEAD_BYTES + MAP_ENTRY_BYTES + 11 + 4);
    await client.send("RPUSH", "list", "a", "b", "c");
    const list = await client.send("MEMORY", "USAGE", "list", "SAMPLES", "0") as number;
    assert.ok(list > ENTRY_OVERHEAD_BYTES + 3 * 3, `list: ${list}`);
    assert.equal(await client.send("MEMORY", "USAGE", "missing"), null);
    assert.match(JSON.stringify(await client.send("MEMORY", "PURGE")), /OK/);
  } finally {
    await server.close();
  }
});
