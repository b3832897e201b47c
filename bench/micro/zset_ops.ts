// CPU time per sorted set operation, in-process, on a set of 1M members
// filled as bench/cache.ts fills its set ("m:N" at score N), for the
// operations bench/cache.ts's sorted set workloads drive: ZADD and ZINCRBY
// (members as redis-benchmark's -r writes them, "m:" and 12 digits, so
// mostly new members, some moved), ZRANGEBYSCORE from a random score LIMIT
// 0 10, and ZSCORE; plus ZRANK and a delete. No server, no socket: this is
// the data structure's own share of a request.
//
//   deno run bench/micro/zset_ops.ts [--members 1000000] [--ops 200000] [--module PATH]
//
// --module compares another implementation with the same interface (a
// copy of an older zset.ts).

import process from "node:process";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    members: { type: "string", default: "1000000" },
    ops: { type: "string", default: "200000" },
    module: { type: "string", default: "../../services/cache/zset.ts" },
  },
  strict: true,
});
const modulePath = values.module.startsWith("/") ? `file://${values.module}` : values.module;
const { NIL, ZSetValue } = await import(modulePath);

const members = Number(values.members);
const ops = Number(values.ops);

/** A seeded generator (xorshift32), the same stream for every implementation. */
let state = 2463534242;
function randomInt(n: number): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) % n;
}

/** "m:" and 12 digits, as redis-benchmark expands m:__rand_int__. */
function benchMember(n: number): Uint8Array {
  return new TextEncoder().encode(`m:${String(n).padStart(12, "0")}`);
}

function toKey(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

/** CPU time (user + system) of this process so far, in nanoseconds: the machine may be busy. */
function cpuNs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) * 1000;
}

function time(name: string, run: () => void): void {
  const start = cpuNs();
  run();
  const ns = (cpuNs() - start) / ops;
  console.log(`${name.padEnd(12)} ${ns.toFixed(0).padStart(6)} ns/op`);
}

const zset = new ZSetValue();
const fillStart = cpuNs();
for (let i = 0; i < members; i++) zset.add(`m:${i}`.split("").join(""), i);
console.log(`fill         ${((cpuNs() - fillStart) / members).toFixed(0).padStart(6)} ns/op`);

// Requests made up front, so their making is not timed.
const zaddMembers = Array.from({ length: ops }, () => benchMember(randomInt(members)));
const zaddScores = Array.from({ length: ops }, () => randomInt(members));
const incrMembers = Array.from({ length: ops }, () => benchMember(randomInt(members)));
// The strings a new member is stored as (made by the server from the request, not timed here).
const zaddKeys = zaddMembers.map(toKey);
const incrKeys = incrMembers.map(toKey);
const rangeMins = Array.from({ length: ops }, () => randomInt(members));
const scoreMembers = Array.from({ length: ops }, () => benchMember(randomInt(members)));
let sink = 0;

time("ZADD", () => {
  for (let i = 0; i < ops; i++) {
    const pos = zset.findBytes(zaddMembers[i]);
    if (pos === NIL) zset.add(zaddKeys[i], zaddScores[i]);
    else if (zset.scoreAt(pos) !== zaddScores[i]) zset.move(pos, zaddScores[i]);
  }
});
time("ZRANGE", () => {
  const range = { min: 0, max: Infinity, minExclusive: false, maxExclusive: false };
  for (let i = 0; i < ops; i++) {
    range.min = rangeMins[i];
    let pos = zset.firstInScore(range);
    for (let k = 0; k < 10 && pos !== NIL; k++) {
      sink += zset.memberAt(pos).length + zset.scoreAt(pos);
      pos = zset.next(pos);
    }
  }
});
time("ZINCRBY", () => {
  for (let i = 0; i < ops; i++) {
    const pos = zset.findBytes(incrMembers[i]);
    if (pos === NIL) zset.add(incrKeys[i], 1);
    else zset.move(pos, zset.scoreAt(pos) + 1);
  }
});
time("ZSCORE", () => {
  for (let i = 0; i < ops; i++) {
    const pos = zset.findBytes(scoreMembers[i]);
    if (pos !== NIL) sink += zset.scoreAt(pos);
  }
});
time("ZRANK", () => {
  for (let i = 0; i < ops; i++) {
    const pos = zset.findBytes(zaddMembers[i]);
    if (pos !== NIL) sink += zset.rankAt(pos);
  }
});
time("ZREM", () => {
  for (let i = 0; i < ops; i++) zset.delete(`m:${randomInt(members)}`);
});
if (sink === -1) console.log(sink);
console.log(`size ${zset.size}`);
