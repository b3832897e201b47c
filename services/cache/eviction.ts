// Eviction under --maxmemory, approximated by sampling as Redis does
// (evict.c): before a command that may grow memory runs, while the
// estimate is over the bound, sample `EVICTION_SAMPLES` keys per database
// from the set the policy allows (all keys, or keys with a TTL) and evict
// the best candidate: least recently used, least frequently used, soonest
// to expire, or any one for the random policies. With noeviction, or when
// nothing can be evicted, the command is refused with Redis's OOM error.
//
// Left out: Redis's 16-entry candidate pool carried between rounds; plain
// sampling of 5 is what Redis did before 3.0 and is close enough here.

import { type Db, type Keyspace, lfuCounter } from "./keyspace.ts";

/** maxmemory-samples default. */
export const EVICTION_SAMPLES = 5;
/** Bound on evictions per command, so one huge write cannot spin forever. */
const EVICTIONS_PER_CALL_MAX = 10_000;

export const OOM_ERROR = "OOM command not allowed when used memory > 'maxmemory'.";

/**
 * Frees memory until under the bound. Returns false when the bound is
 * still exceeded (the caller then refuses write commands).
 */
export function freeMemoryIfNeeded(
  space: Keyspace,
  onEvict: (db: Db, key: string) => void,
): boolean {
  if (space.maxmemoryBytes === 0 || space.usedBytes <= space.maxmemoryBytes) return true;
  if (space.policy === "noeviction") return false;
  const volatileOnly = space.policy.startsWith("volatile-");
  for (let n = 0; n < EVICTIONS_PER_CALL_MAX; n++) {
    if (space.usedBytes <= space.maxmemoryBytes) return true;
    // Nothing changes while sampling, so the slots stay put until the removal.
    let best = -1;
    let bestDb: Db | undefined;
    let bestScore = -Infinity;
    for (const db of space.dbs) {
      const count = volatileOnly ? db.volatileCount : db.size;
      if (count === 0) continue;
      for (let s = 0; s < EVICTION_SAMPLES; s++) {
        const slot = volatileOnly ? db.randomVolatileSlot() : db.randomSlot();
        if (slot === -1) break;
        const score = evictionScore(space, db, slot);
        if (score > bestScore) {
          bestScore = score;
          best = slot;
          bestDb = db;
        }
      }
    }
    if (best === -1 || bestDb === undefined) return false;
    const key = bestDb.keyAt(best);
    bestDb.removeSlot(best);
    space.evictedKeys++;
    onEvict(bestDb, key);
  }
  return space.usedBytes <= space.maxmemoryBytes;
}

/** Higher is a better eviction candidate. */
function evictionScore(space: Keyspace, db: Db, slot: number): number {
  switch (space.policy) {
    case "allkeys-lru":
    case "volatile-lru":
      return -db.accessAt(slot); // oldest access first
    case "allkeys-lfu":
    case "volatile-lfu":
      return 255 - lfuCounter(db.accessAt(slot), space.epochMs);
    case "volatile-ttl":
      return -db.expireAtSlot(slot); // soonest expiry first
    default:
      return Math.random();
  }
}
