// Bytes per member of one large sorted set: ours (the heap of a ZSetValue
// after a full GC plus its pool and index outside the heap, in-process,
// members built as the server builds them) against redis-server's INFO
// used_memory growth for the same ZADDs (its skiplist encoding: a dict
// entry, a skiplist node, an sds per member). Members "m:N", scores N, as
// bench/cache.ts fills its set.
//
//   deno run -A --v8-flags=--expose-gc bench/micro/zset_memory.ts [members]

import { commandText } from "../_process.ts";
import { ZSetValue } from "../../services/cache/zset.ts";
import { freePort, waitForPort } from "../_ports.ts";

const gc = (globalThis as unknown as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");

const members = Number(Deno.args[0] ?? 1_000_000);

/** The JS heap and the memory outside it (ArrayBuffers: the leaf and node pools and the index). */
function heapAndExternal(): number {
  const usage = Deno.memoryUsage();
  return usage.heapUsed + usage.external;
}

function ours(): { heapBytes: number; estimatedBytes: number } {
  gc!();
  const before = heapAndExternal();
  const zset = new ZSetValue();
  // Fresh strings, as the server makes them from request bytes.
  for (let i = 0; i < members; i++) zset.add(`m:${i}`.split("").join(""), i);
  gc!();
  const heapBytes = heapAndExternal() - before;
  if (zset.size !== members) throw new Error("size");
  return { heapBytes, estimatedBytes: zset.bytes };
}

function redisCli(port: number, args: string[], stdin?: Uint8Array): Promise<string> {
  return commandText("redis-cli", ["-p", String(port), ...args], stdin);
}

async function redis(): Promise<number> {
  const port = freePort();
  const server = new Deno.Command("redis-server", {
    args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    stdout: "null",
  }).spawn();
  try {
    await waitForPort(port);
    const used = async () =>
      Number(/used_memory:(\d+)/.exec(await redisCli(port, ["INFO", "memory"]))![1]);
    const before = await used();
    const parts: string[] = [];
    for (let i = 0; i < members; i += 1000) {
      const batch = ["ZADD", "z"];
      for (let j = i; j < Math.min(members, i + 1000); j++) batch.push(String(j), `m:${j}`);
      parts.push(`*${batch.length}\r\n${batch.map((a) => `$${a.length}\r\n${a}\r\n`).join("")}`);
    }
    await redisCli(port, ["--pipe"], new TextEncoder().encode(parts.join("")));
    return await used() - before;
  } finally {
    server.kill("SIGTERM");
    await server.status;
  }
}

const mine = ours();
const theirs = await redis();
console.log(JSON.stringify({
  members,
  oursHeapBytesPerMember: Math.round(mine.heapBytes / members),
  oursEstimatedBytesPerMember: Math.round(mine.estimatedBytes / members),
  redisUsedMemoryBytesPerMember: Math.round(theirs / members),
}));
