// Session-level advisory locks (PostgreSQL documentation 9.27.10):
// pg_advisory_lock, pg_try_advisory_lock, pg_advisory_unlock and
// pg_advisory_unlock_all, on one bigint key or two int keys. Migration
// tools take one before they migrate (Prisma, node-pg-migrate, Rails), so
// two deploys never migrate at once.
//
// A lock belongs to a session, not a transaction: it survives COMMIT and
// ROLLBACK, is re-entrant (each lock needs its own unlock), and goes when
// the session ends. They are exclusive; the shared variants are left out.
// A session waiting for a lock another holds polls every WAIT_POLL_MS and
// on every unlock, so a cancel or statement_timeout (57014) ends the wait;
// a wait that would close a cycle of sessions waiting on each other's
// advisory locks fails at once with 40P01, as PostgreSQL's deadlock check
// does (a cycle through row or table locks is not seen here).

import { SqlError } from "./errors.ts";

/** How often a waiting session looks again (besides every unlock). */
const WAIT_POLL_MS = 50;
/**
 * Distinct keys held at once across the process: past it a new key is
 * 53200, as PostgreSQL's shared lock table runs out, so a client taking
 * keys in a loop cannot grow the process without bound.
 */
export const ADVISORY_KEYS_MAX = 100_000;

/** One session's identity as an owner of advisory locks. */
export interface AdvisoryOwner {
  readonly id: number;
}

interface Held {
  owner: AdvisoryOwner;
  count: number;
}

/** The advisory locks of one datastore process. */
export class AdvisoryLocks {
  #held = new Map<string, Held>();
  #keysMax: number;

  constructor(keysMax = ADVISORY_KEYS_MAX) {
    this.#keysMax = keysMax;
  }

  /** What each waiting owner waits for, to find cycles. */
  #waitingFor = new Map<AdvisoryOwner, string>();
  #wakers = new Set<() => void>();

  /** Takes the lock if it is free or already ours; false if another session holds it. */
  tryLock(key: string, owner: AdvisoryOwner): boolean {
    const held = this.#held.get(key);
    if (held === undefined) {
      if (this.#held.size >= this.#keysMax) {
        throw new SqlError("53200", "out of shared memory", {
          hint: "You might need to increase max_locks_per_transaction.",
        });
      }
      this.#held.set(key, { owner, count: 1 });
      return true;
    }
    if (held.owner !== owner) return false;
    held.count++;
    return true;
  }

  /** Waits for the lock; `check` throws to end the wait (cancel, statement timeout). */
  async lock(key: string, owner: AdvisoryOwner, check: () => void): Promise<void> {
    while (!this.tryLock(key, owner)) {
      if (this.#closesCycle(key, owner)) {
        throw new SqlError("40P01", "deadlock detected", {
          detail: `Process ${owner.id} waits for advisory lock [${key}]; blocked by process ${
            this.#held.get(key)!.owner.id
          }, which waits on this process's locks.`,
          hint: "See server log for query details.",
        });
      }
      this.#waitingFor.set(owner, key);
      try {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, WAIT_POLL_MS);
          const wakers = this.#wakers;
          function done() {
            clearTimeout(timer);
            wakers.delete(done);
            resolve();
          }
          wakers.add(done);
        });
      } finally {
        this.#waitingFor.delete(owner);
      }
      check();
    }
  }

  /** Releases one hold of the lock; false (and PostgreSQL's WARNING) when we do not hold it. */
  unlock(key: string, owner: AdvisoryOwner): boolean {
    const held = this.#held.get(key);
    if (held === undefined || held.owner !== owner) return false;
    if (--held.count === 0) {
      this.#held.delete(key);
      this.#wake();
    }
    return true;
  }

  /** Releases every lock the owner holds (pg_advisory_unlock_all, and the end of a session). */
  unlockAll(owner: AdvisoryOwner): void {
    let any = false;
    for (const [key, held] of this.#held) {
      if (held.owner !== owner) continue;
      this.#held.delete(key);
      any = true;
    }
    if (any) this.#wake();
  }

  /** How many locks are held (for tests). */
  get size(): number {
    return this.#held.size;
  }

  #wake(): void {
    for (const wake of [...this.#wakers]) wake();
  }

  /** Whether waiting for `key` would make `owner` wait, through others, on itself. */
  #closesCycle(key: string, owner: AdvisoryOwner): boolean {
    const seen = new Set<AdvisoryOwner>();
    let holder = this.#held.get(key)?.owner;
    while (holder !== undefined && !seen.has(holder)) {
      if (holder === owner) return true;
      seen.add(holder);
      const next = this.#waitingFor.get(holder);
      holder = next === undefined ? undefined : this.#held.get(next)?.owner;
    }
    return false;
  }
}

/** The key text of pg_advisory_lock(bigint) or of its (int, int) form. */
export function advisoryKey(values: readonly (number | bigint)[]): string {
  return values.map(String).join(",");
}
