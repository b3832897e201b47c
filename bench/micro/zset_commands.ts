// The cache's CPU per sorted-set command in-process (no sockets): decode
// plus dispatch of bench/cache_cpu.ts's workloads (ZADD, ZRANGEBYSCORE from
// a random score LIMIT 0 10, ZINCRBY, ZSCORE, GET) on a sorted set of
// --members members, with redis-benchmark's 12-digit __rand_int__ values,
// against a loop that only decodes the same commands (the floor). What this
// prints is the part of a request's cost our code adds above the socket;
// bench/cache_cpu.ts measures the whole request against redis-server.
//
//   deno run -A bench/micro/zset_commands.ts [--members 1000000] [--requests 50000] [--rounds 9]

import process from "node:process";
import { parseArgs } from "node:util";
import { isIncomplete } from "../../lib/decode.ts";
import {
  CommandArgs,
  CommandSpans,
  decodeCommandSpans,
  encodeCommand,
} from "../../lib/resp/codec.ts";
import { DEFAULT_LIMITS } from "../../lib/resp/types.ts";
import { dispatch } from "../../services/cache/dispatch.ts";
import { inProcessCache } from "./_cache_context.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    members: { type: "string", default: "1000000" },
    requests: { type: "string", default: "50000" },
    rounds: { type: "string", default: "9" },
    workloads: { type: "string", default: "ZADD,ZRANGE,ZINCRBY,ZSCORE,GET" },
  },
  strict: true,
});
const members = Number(values.members);
const requests = Number(values.requests);

const WORKLOADS: Record<string, string[]> = {
  ZADD: ["ZADD", "bench:z", "__rand_int__", "m:__rand_int__"],
  ZRANGE: ["ZRANGEBYSCORE", "bench:z", "__rand_int__", "+inf", "LIMIT", "0", "10"],
  ZINCRBY: ["ZINCRBY", "bench:z", "1", "m:__rand_int__"],
  ZSCORE: ["ZSCORE", "bench:z", "m:__rand_int__"],
  GET: ["GET", "key:__rand_int__"],
};

/** `count` commands as redis-benchmark -r sends them: each __rand_int__ a 12-digit number. */
function commands(template: string[], count: number): Uint8Array<ArrayBuffer> {
  // Encoded once with a placeholder of the same length, then copied with
  // the digits written in (encoding each command would be most of the run).
  const one = encodeCommand(template.map((arg) => arg.replace("__rand_int__", "############")));
  const holes: number[] = [];
  for (let i = 0; i < one.length; i++) {
    if (one[i] === 35 && (i === 0 || one[i - 1] !== 35)) holes.push(i);
  }
  const buf = new Uint8Array(one.length * count);
  for (let c = 0; c < count; c++) {
    const at = c * one.length;
    buf.set(one, at);
    let n = Math.floor(Math.random() * members);
    for (let d = 11; d >= 0; d--) {
      for (const hole of holes) buf[at + hole + d] = 48 + (n % 10);
      n = Math.floor(n / 10);
    }
  }
  return buf;
}

const { out, ctx } = inProcessCache();
const spans = new CommandSpans();

/** Decodes (and runs) every command in `buf` as the read loop does; returns CPU ns per command
 * (user plus system time of the process: on a busy machine, wall time is not ours). */
function run(buf: Uint8Array<ArrayBuffer>, execute: boolean): number {
  let start = 0;
  let count = 0;
  const began = process.cpuUsage();
  while (start < buf.length) {
    const decoded = decodeCommandSpans(buf, DEFAULT_LIMITS, start, buf.length, spans);
    if (isIncomplete(decoded)) break;
    const args = CommandArgs.fromSpans(buf, start, spans);
    spans.reset();
    start += decoded.bytesUsed;
    count++;
    if (execute) dispatch(ctx, args);
    // One reply batch per command, as an unpipelined client gets.
    out.take();
  }
  const used = process.cpuUsage(began);
  return (used.user + used.system) * 1000 / count;
}

// The set filled as bench/cache_cpu.ts fills it: members m:000000000000 .. (redis-benchmark
// spells __rand_int__ with 12 digits, so ZADD and ZINCRBY update members), score = index.
for (let i = 0; i < members; i += 1000) {
  const batch = ["ZADD", "bench:z"];
  for (let j = i; j < Math.min(members, i + 1000); j++) {
    batch.push(String(j), `m:${String(j).padStart(12, "0")}`);
  }
  run(encodeCommand(batch), true);
}

// Rounds interleave the workloads; the least CPU of the rounds is printed,
// since a busy machine only ever adds to it.
const names = values.workloads.split(",");
const best = new Map(names.map((name) => [name, { bare: Infinity, full: Infinity }]));
for (let round = 0; round < Number(values.rounds); round++) {
  for (const name of names) {
    const buf = commands(WORKLOADS[name], requests);
    const b = best.get(name)!;
    b.bare = Math.min(b.bare, run(buf, false));
    b.full = Math.min(b.full, run(buf, true));
  }
}
console.log(
  `${members} members, ${values.rounds} rounds of ${requests} requests; least CPU ns per command`,
);
console.log("| workload | decode only | decode + dispatch | dispatch |");
console.log("|----------|-------------|-------------------|----------|");
for (const [name, { bare, full }] of best) {
  console.log(
    `| ${name} | ${bare.toFixed(0)} | ${full.toFixed(0)} | ${(full - bare).toFixed(0)} |`,
  );
}
