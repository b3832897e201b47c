// Micro-benchmarks of the cache's per-command cost, in-process (no sockets):
// decoding 16 pipelined SETs against a bare scan of the same bytes
// (baseline), and decode plus dispatch of SET, GET, INCR, LPUSH and LPOP
// (the commands bench/cache.ts drives, with redis-benchmark's keys).
//
//   deno bench -A bench/micro/resp_bench.ts

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

function pipelined(args: string[], count = 16): Uint8Array<ArrayBuffer> {
  const one = encodeCommand(args);
  const buf = new Uint8Array(one.length * count);
  for (let i = 0; i < count; i++) buf.set(one, i * one.length);
  return buf;
}

const SETS = pipelined(["SET", "key:__rand_int__", "xxx"]);
const GETS = pipelined(["GET", "key:__rand_int__"]);
const INCRS = pipelined(["INCR", "counter:__rand_int__"]);
const LPUSHES = pipelined(["LPUSH", "mylist", "xxx"]);
const LPOPS = pipelined(["LPOP", "mylist"]);

const { out, ctx } = inProcessCache();

const spans = new CommandSpans();

/** Decodes (and runs) every command in `buf` the way the server's read loop does. */
function run(buf: Uint8Array<ArrayBuffer>, execute: boolean): void {
  let start = 0;
  while (start < buf.length) {
    const decoded = decodeCommandSpans(buf, DEFAULT_LIMITS, start, buf.length, spans);
    if (isIncomplete(decoded)) break;
    const args = CommandArgs.fromSpans(buf, start, spans);
    spans.reset();
    start += decoded.bytesUsed;
    if (execute) dispatch(ctx, args);
  }
  out.take();
}

Deno.bench("scan 16 pipelined SETs for CR (baseline)", { group: "decode", baseline: true }, () => {
  let n = 0;
  for (let i = 0; i < SETS.length; i++) if (SETS[i] === 13) n++;
  if (n === 0) throw new Error("no CR");
});

Deno.bench("decodeCommandSpans() 16 pipelined SETs", { group: "decode" }, () => run(SETS, false));

Deno.bench("decode and dispatch 16 SETs", { group: "execute" }, () => run(SETS, true));

Deno.bench("decode and dispatch 16 GETs", { group: "execute" }, () => run(GETS, true));

Deno.bench("decode and dispatch 16 INCRs", { group: "execute" }, () => run(INCRS, true));

// LPUSH then LPOP on one list, so it stays the same length across
// iterations; the list starts with 300k elements, as bench/cache.ts leaves
// it after a few rounds of LPUSH.
for (let i = 0; i < 300_000 / 16; i++) run(LPUSHES, true);
Deno.bench("decode and dispatch 16 LPUSHes and 16 LPOPs", { group: "execute" }, () => {
  run(LPUSHES, true);
  run(LPOPS, true);
});
