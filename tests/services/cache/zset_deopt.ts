// Run by zset_test.ts under --trace-deopt: inserts, moves and deletes
// members of one ZSetValue, so the test can count how often V8 threw away
// the optimized sorted set code. Prints nothing itself.
//
//   deno run --v8-flags=--trace-deopt tests/services/cache/zset_deopt.ts [N]

import { ZSetValue } from "../../../services/cache/zset.ts";

const count = Number(Deno.args[0] ?? 50_000);
const zset = new ZSetValue();
for (let i = 0; i < count; i++) zset.set(`m:${i}`, i % 1000);
for (let i = 0; i < count; i++) zset.set(`m:${(i * 7919) % count}`, i * 0.5);
for (let i = 0; i < count; i += 2) zset.delete(`m:${i}`);
if (zset.size !== count / 2) throw new Error(`size ${zset.size}`);
