// Active expiry: keys with a TTL are also deleted when nobody reads them.
//
// Lazy expiry (a key found expired on access is deleted, keyspace.ts)
// alone lets expired keys pile up. Like Redis's activeExpireCycle
// (expire.c), a timer samples 20 keys with a TTL per database, deletes
// the expired ones, and repeats while more than a quarter of a sample was
// expired, within a time budget per run so clients are not starved.

import type { Db, Keyspace } from "./keyspace.ts";

/** ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP in Redis. */
const KEYS_PER_LOOP = 20;
/** Redis runs its cycle at hz=10. */
export const EXPIRE_CYCLE_INTERVAL_MS = 100;
/** Budget per run: Redis's slow cycle takes at most 25% of CPU; 25 ms of each 100 ms. */
const CYCLE_BUDGET_MS = 25;

/** Runs one active-expiry cycle over every database; returns how many keys it deleted. */
export function activeExpireCycle(
  space: Keyspace,
  onExpire: (db: Db, key: string) => void,
): number {
  const started = Date.now();
  let deleted = 0;
  for (const db of space.dbs) {
    while (db.volatileCount > 0) {
      let expired = 0;
      const now = Date.now();
      const samples = Math.min(KEYS_PER_LOOP, db.volatileCount);
      for (let i = 0; i < samples; i++) {
        const slot = db.randomVolatileSlot();
        if (slot === -1) break;
        if (db.expireAtSlot(slot) <= now) {
          const key = db.keyAt(slot);
          db.removeSlot(slot);
          space.expiredKeys++;
          expired++;
          onExpire(db, key);
        }
      }
      deleted += expired;
      if (expired * 4 <= samples) break;
      if (Date.now() - started > CYCLE_BUDGET_MS) return deleted;
    }
  }
  return deleted;
}
