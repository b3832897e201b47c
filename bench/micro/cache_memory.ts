// Heap bytes per key of the cache's keyspace, measured in-process after a
// full GC: N string keys set as `SET key:NNNNNNN vNNN` would set them.
// Counts the V8 heap plus array buffers (`external`: the keyspace's typed
// columns live outside the heap).
// Run with the GC exposed (bench/cache.ts does this):
//
//   deno run --v8-flags=--expose-gc bench/micro/cache_memory.ts [N]

import { Keyspace } from "../../services/cache/keyspace.ts";

const gc = (globalThis as unknown as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");

const count = Number(Deno.args[0] ?? 1_000_000);
/** V8 heap plus array buffers in use, after a full GC. */
function usedBytes(): number {
  gc!();
  const usage = Deno.memoryUsage();
  return usage.heapUsed + usage.external;
}

const before = usedBytes();
const space = new Keyspace(16);
const db = space.dbs[0];
for (let i = 0; i < count; i++) {
  // Built the way the server builds them: fresh strings from bytes.
  const key = `key:${String(i).padStart(7, "0")}`;
  db.set(key.split("").join(""), `v${i % 1000}`.split("").join(""));
}
const after = usedBytes();
console.log(
  JSON.stringify({
    keys: db.size,
    heapBytes: after - before,
    bytesPerKey: Math.round((after - before) / count),
    estimatedBytesPerKey: Math.round((space.usedBytes - 1024 * 1024) / count),
  }),
);
