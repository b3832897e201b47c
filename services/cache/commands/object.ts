// OBJECT (ENCODING, REFCOUNT, IDLETIME, FREQ, HELP), MEMORY (USAGE, PURGE,
// HELP), DUMP and RESTORE (Redis object.c and cluster.c, 7.0).
//
// OBJECT ENCODING names the encoding Redis 7.0 would use for the value as
// it is now: strings "int" (an integer of at most 20 characters), "embstr"
// (at most 44 bytes) or "raw"; lists "quicklist"; sets "intset" (integers
// only, at most set-max-intset-entries) or "hashtable"; hashes and sorted
// sets "listpack" (at most 128 entries of at most 64 bytes) or "hashtable"
// / "skiplist". Redis never converts back to the small encoding and makes
// APPENDed or SETRANGEd strings "raw": we answer from the value's current
// shape, so those cases differ. OBJECT and DUMP do not count as an access
// (LRU/LFU), as in Redis. DUMP/RESTORE payloads: rdb.ts.
//
// MEMORY USAGE answers our estimate of the key (what used_memory counts for
// it, keyspace.ts), not Redis's allocator figure; SAMPLES is checked and
// ignored (aggregates keep their size, nothing is sampled). MEMORY PURGE
// runs V8's last-resort full collection, which also shrinks the young
// generation, when the process was started with the GC exposed
// (`--v8-flags=--expose-gc`, as bench/cache.ts starts it, so RSS is
// measured without garbage) and otherwise does nothing, as Redis's does
// without jemalloc.

import type { Args } from "./context.ts";
import type { Entry } from "../keyspace.ts";
import { lfuCounter } from "../keyspace.ts";
import { decodeDump, encodeDump } from "../rdb.ts";
import { HashValue, ListValue, parseInteger, SetValue, toKey } from "../values.ts";
import { ZSetValue } from "../zset.ts";
import { int64Arg } from "./args.ts";
import { command, type CommandSpec, type Ctx, fail, lower, SYNTAX } from "./context.ts";

/** Redis's defaults for the encoding thresholds (CONFIG GET shows them). */
const LISTPACK_ENTRIES_MAX = 128;
const LISTPACK_VALUE_BYTES_MAX = 64;
const INTSET_ENTRIES_MAX = 512;
const EMBSTR_BYTES_MAX = 44;
/** Redis's OBJ_SHARED_REFCOUNT: the shared integers 0..9999 report it. */
const SHARED_REFCOUNT = 2147483647;
const SHARED_INTEGERS = 10000;

function isIntString(value: string): boolean {
  if (value.length > 20 || value.length === 0) return false;
  const n = parseInteger(Uint8Array.from(value, (c) => c.charCodeAt(0)));
  return n !== null && String(n) === value;
}

function small(entries: Iterable<string>, size: number): boolean {
  if (size > LISTPACK_ENTRIES_MAX) return false;
  for (const text of entries) if (text.length > LISTPACK_VALUE_BYTES_MAX) return false;
  return true;
}

/** The encoding Redis 7.0 would report for a value in this shape. */
export function encodingOf(value: Entry["value"]): string {
  if (typeof value === "string") {
    if (isIntString(value)) return "int";
    return value.length <= EMBSTR_BYTES_MAX ? "embstr" : "raw";
  }
  if (value instanceof ListValue) return "quicklist";
  if (value instanceof SetValue) {
    if (value.members.size > INTSET_ENTRIES_MAX) return "hashtable";
    for (const member of value.members) if (!isIntString(member)) return "hashtable";
    return "intset";
  }
  if (value instanceof HashValue) {
    const texts = [...value.fields.keys(), ...value.fields.values()];
    return small(texts, value.fields.size) ? "listpack" : "hashtable";
  }
  if (value instanceof ZSetValue) {
    return small(value.scores.keys(), value.size) ? "listpack" : "skiplist";
  }
  return "raw";
}

function lfuPolicy(ctx: Ctx): boolean {
  return ctx.server.keyspace.policy.endsWith("-lfu");
}

/** OBJECT's subcommands look the key up without touching it; missing keys answer null. */
function objectSub(
  name: string,
  reply: (ctx: Ctx, entry: Entry) => void,
): CommandSpec {
  return command(`object|${name}`, 3, ["readonly"], (ctx, args) => {
    const entry = ctx.session.db.lookupNoTouch(toKey(args.at(2)));
    if (entry === undefined) return ctx.out.nullBulk();
    reply(ctx, entry);
  }, { firstKey: 2, lastKey: 2, step: 1, group: "generic" });
}

const OBJECT_HELP = [
  "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
  "ENCODING <key>",
  "    Return the kind of internal representation used in order to store the value",
  "    associated with a <key>.",
  "FREQ <key>",
  "    Return the access frequency index of the <key>. The returned integer is",
  "    proportional to the logarithm of the recent access frequency of the key.",
  "IDLETIME <key>",
  "    Return the idle time of the <key>, that is the approximated number of",
  "    seconds elapsed since the last access to the key.",
  "REFCOUNT <key>",
  "    Return the number of references of the value associated with the specified",
  "    <key>.",
  "HELP",
  "    Prints this help.",
];

const objectSubcommands = [
  objectSub("encoding", (ctx, entry) => ctx.out.bulkString(encodingOf(entry.value))),
  objectSub("refcount", (ctx, entry) => {
    const value = entry.value;
    const shared = typeof value === "string" && isIntString(value) &&
      Number(value) >= 0 && Number(value) < SHARED_INTEGERS && !lfuPolicy(ctx) &&
      !ctx.server.keyspace.policy.endsWith("-lru");
    ctx.out.integer(shared ? SHARED_REFCOUNT : 1);
  }),
  objectSub("idletime", (ctx, entry) => {
    if (lfuPolicy(ctx)) {
      fail(
        "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
      );
    }
    ctx.out.integer(Math.max(0, ctx.server.keyspace.clock - entry.access));
  }),
  objectSub("freq", (ctx, entry) => {
    if (!lfuPolicy(ctx)) {
      fail(
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
      );
    }
    ctx.out.integer(lfuCounter(entry.access, ctx.server.keyspace.epochMs));
  }),
  command("object|help", 2, ["loading", "stale"], (ctx) => {
    ctx.out.arrayHeader(OBJECT_HELP.length);
    for (const line of OBJECT_HELP) ctx.out.simple(line);
  }, { group: "generic" }),
];

function dump(ctx: Ctx, args: Args): void {
  // lookupKeyRead: a miss is a "keymiss".
  const entry = ctx.session.db.lookup(toKey(args.at(1)));
  if (entry === undefined) return ctx.out.nullBulk();
  ctx.out.bulk(encodeDump(entry.value));
}

/** RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency], in Redis's order. */
function restore(ctx: Ctx, args: Args): void {
  let replace = false;
  let absTtl = false;
  let idle = -1;
  let freq = -1;
  for (let j = 4; j < args.length; j++) {
    const option = lower(args.at(j));
    const more = args.length - j - 1;
    if (option === "replace") replace = true;
    else if (option === "absttl") absTtl = true;
    else if (option === "idletime" && more >= 1 && freq === -1) {
      idle = Number(int64Arg(args.at(++j)));
      if (idle < 0) fail("ERR Invalid IDLETIME value, must be >= 0");
    } else if (option === "freq" && more >= 1 && idle === -1) {
      freq = Number(int64Arg(args.at(++j)));
      if (freq < 0 || freq > 255) fail("ERR Invalid FREQ value, must be >= 0 and <= 255");
    } else fail(SYNTAX);
  }
  const db = ctx.session.db;
  const key = toKey(args.at(1));
  if (!replace && db.peek(key) !== undefined) fail("BUSYKEY Target key name already exists.");
  let ttl = Number(int64Arg(args.at(2)));
  if (ttl < 0) fail("ERR Invalid TTL value, must be >= 0");
  const decoded = decodeDump(args.at(3));
  if (!decoded.ok) fail(decoded.error);
  if (replace) db.delete(key);
  if (ttl !== 0 && !absTtl) ttl += Date.now();
  if (ttl !== 0 && ttl <= Date.now()) return ctx.out.ok();
  const entry = db.set(key, decoded.value);
  if (ttl !== 0) db.setExpire(entry, ttl);
  const space = ctx.server.keyspace;
  if (freq !== -1 && lfuPolicy(ctx)) {
    entry.access = Math.floor((Date.now() - space.epochMs) / 60_000) * 256 + freq;
  } else if (idle !== -1 && !lfuPolicy(ctx)) entry.access = space.clock - idle;
  ctx.out.ok();
}

const MEMORY_HELP = [
  "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
  "DOCTOR",
  "    Return memory problems reports.",
  "MALLOC-STATS",
  "    Return internal statistics report from the memory allocator.",
  "PURGE",
  "    Attempt to purge dirty pages for reclamation by the allocator.",
  "USAGE <key> [SAMPLES <count>]",
  "    Return memory in bytes used by <key> and its value. Nested values are",
  "    sampled up to <count> times (default: 5, 0 means sample all).",
  "HELP",
  "    Prints this help.",
];

/** The options V8's exposed gc() takes. */
interface GcOptions {
  type: "major" | "minor";
  execution: "sync" | "async";
  flavor: "regular" | "last-resort";
}

/** MEMORY USAGE key [SAMPLES count]: options are checked first, as Redis checks them. */
function memoryUsage(ctx: Ctx, args: Args): void {
  for (let j = 3; j < args.length; j++) {
    if (lower(args.at(j)) === "samples" && j + 1 < args.length) {
      if (int64Arg(args.at(++j)) < 0) fail(SYNTAX);
    } else fail(SYNTAX);
  }
  const entry = ctx.session.db.peek(toKey(args.at(2)));
  if (entry === undefined) return ctx.out.nullBulk();
  ctx.out.integer(entry.bytes);
}

const memorySubcommands = [
  command("memory|usage", -3, ["readonly"], memoryUsage, {
    firstKey: 2,
    lastKey: 2,
    step: 1,
    group: "server",
    summary: "Estimate the memory usage of a key",
    since: "4.0.0",
  }),
  // Redis's doctor speaks only when it finds a problem; there is no fragmentation report here.
  command("memory|doctor", 2, [], (ctx) => {
    ctx.out.verbatim("Sam, I have no memory problems");
  }, { group: "server" }),
  // Redis's words for an allocator without statistics (libc here).
  command("memory|malloc-stats", 2, [], (ctx) => {
    ctx.out.bulkString("Stats not supported for the current allocator");
  }, { group: "server" }),
  command("memory|purge", 2, [], (ctx) => {
    const gc = (globalThis as { gc?: (options?: GcOptions) => void }).gc;
    // "last-resort": the collection V8 runs before giving up on memory,
    // which also gives back the young generation a burst of traffic grew.
    if (typeof gc === "function") gc({ type: "major", execution: "sync", flavor: "last-resort" });
    ctx.out.ok();
  }, { group: "server" }),
  command("memory|help", 2, ["loading", "stale"], (ctx) => {
    ctx.out.arrayHeader(MEMORY_HELP.length);
    for (const line of MEMORY_HELP) ctx.out.simple(line);
  }, { group: "server" }),
];

export const OBJECT_COMMANDS: CommandSpec[] = [
  command("memory", -2, [], () => {}, { group: "server", subcommands: memorySubcommands }),
  command("object", -2, [], () => {}, { group: "generic", subcommands: objectSubcommands }),
  command("dump", 2, ["readonly"], dump, { firstKey: 1, lastKey: 1, step: 1 }),
  command("restore", -4, ["write", "denyoom"], restore, { firstKey: 1, lastKey: 1, step: 1 }),
];
