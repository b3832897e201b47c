// Two-phase locking on named resources, held until the transaction ends,
// in the four modes of hierarchical locking (Gray et al., "Granularity of
// Locks and Degrees of Consistency in a Shared Data Base", 1976):
//
//   resource  mode  taken by
//   table     IS    a read of one key (with S on the key)
//   table     IX    a write of one key (with X on the key)
//   table     S     a scan, an index lookup
//   table     X     a write of the whole table, DDL, TRUNCATE
//   key       S/X   the read / write of that key
//
//          IS   IX   S    X        A transaction asking for a mode weaker than
//   IS     ok   ok   ok   -        the one it holds has it already; asking for
//   IX     ok   ok   -    -        another, it asks for the least mode covering
//   S      ok   -    ok   -        both (IX with S gives X: there is no SIX).
//   X      -    -    -    -
//
// Waiters queue FIFO per resource; a holder asking for more (an upgrade)
// goes ahead of the queue when the other holders allow it. Before a
// transaction starts waiting, the wait-for graph is searched from it (an
// edge to every holder whose mode conflicts with the wait, and to every
// waiter queued ahead); if the wait would close a cycle, the requester is
// the victim and gets a DeadlockError at once. Every wait also has a timeout
// (LockTimeoutError), which catches anything the graph cannot see.
//
// Early lock release and durability: the engine releases a transaction's
// locks when its commit record is appended, before the fsync. So whoever is
// granted a resource next may read what that commit wrote before it is
// durable. `releaseAll(txId, commitLsn)` remembers, for each resource the
// committer held in X or IX mode, the commit's LSN; `writtenLsn(resource,
// mode)` tells a later holder what it must wait for before answering with
// what it read there: S or X on a table covers every row, so the last X or
// IX holder's commit; IS or IX covers no row (its key locks do), so only the
// last X holder's, who may have written any row. Entries whose LSN is
// durable say nothing more and are pruned (`forgetDurable`).

import { DeadlockError, LockTimeoutError, TransactionClosedError } from "./errors.ts";

export type LockMode = "IS" | "IX" | "S" | "X";

interface Waiter {
  txId: number;
  mode: LockMode;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * One resource's holders (ids and modes in step: plain arrays, since most
 * resources are one row's key, held by one transaction for a moment) and
 * its queue.
 */
interface LockState {
  txs: number[];
  modes: LockMode[];
  queue: Waiter[];
}

function newState(): LockState {
  return { txs: [], modes: [], queue: [] };
}

function modeOf(state: LockState, txId: number): LockMode | undefined {
  const at = state.txs.indexOf(txId);
  return at < 0 ? undefined : state.modes[at];
}

/** Whether a lock in mode `a` may be held while another transaction holds `b`. */
export function compatible(a: LockMode, b: LockMode): boolean {
  if (a === "X" || b === "X") return false;
  if (a === "IS" || b === "IS") return true;
  return a === b; // IX with IX, S with S
}

/** Whether holding `held` already grants `wanted`. */
export function covers(held: LockMode, wanted: LockMode): boolean {
  return held === wanted || held === "X" || wanted === "IS";
}

/** The least mode that covers both (IX and S give X, for want of SIX). */
export function joinModes(held: LockMode | undefined, wanted: LockMode): LockMode {
  if (held === undefined || held === "IS") return wanted;
  if (covers(held, wanted)) return held;
  return "X";
}

export class LockManager {
  #locks = new Map<string, LockState>();
  /** What each waiting transaction waits for, and in which mode. */
  #waitingOn = new Map<number, { resource: string; mode: LockMode }>();
  /** Resources each transaction holds. */
  #held = new Map<number, string[]>();
  /** Commit LSN of the last X holder of a resource, while it may not be durable. */
  #written = new Map<string, number>();
  /** Commit LSN of the last X or IX holder of a resource, likewise. */
  #writtenAny = new Map<string, number>();
  /** Prune `#written` when it grows past this (doubles when little is durable yet). */
  #writtenPruneAt = 1024;
  deadlocks = 0;
  timeouts = 0;
  /** Lock requests that had to wait (granted later, or refused). */
  waits = 0;
  /** Time waited by the requests granted after waiting, in ms. */
  waitedMs = 0;

  /** Transactions waiting for a lock right now. */
  get waiting(): number {
    return this.#waitingOn.size;
  }

  /**
   * Takes a lock. Returns null when granted at once, else a promise that
   * settles when granted or refused.
   */
  acquire(txId: number, resource: string, mode: LockMode, timeoutMs: number): Promise<void> | null {
    let state = this.#locks.get(resource);
    if (state === undefined) {
      state = newState();
      this.#locks.set(resource, state);
    }
    const current = modeOf(state, txId);
    if (current !== undefined && covers(current, mode)) return null;
    const target = joinModes(current, mode);
    if (this.#grantable(state, txId, target) && (state.queue.length === 0 || current)) {
      this.#grant(state, txId, resource, target);
      return null;
    }
    if (this.#closesCycle(txId, state, target, current !== undefined)) {
      this.deadlocks++;
      if (state.txs.length === 0 && state.queue.length === 0) this.#locks.delete(resource);
      return Promise.reject(
        new DeadlockError(`deadlock detected: transaction ${txId} waiting for ${resource}`),
      );
    }
    this.waits++;
    const startMs = performance.now();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        txId,
        mode: target,
        resolve: () => {
          this.waitedMs += performance.now() - startMs;
          resolve();
        },
        reject,
        timer: setTimeout(() => {
          state.queue.splice(state.queue.indexOf(waiter), 1);
          this.#waitingOn.delete(txId);
          this.timeouts++;
          reject(
            new LockTimeoutError(
              `lock timeout: transaction ${txId} waited ${timeoutMs} ms for ${resource}`,
            ),
          );
          this.#wake(resource, state);
        }, timeoutMs),
      };
      // An upgrade waits ahead of the queue, as it would have been granted ahead of it.
      if (current) state.queue.unshift(waiter);
      else state.queue.push(waiter);
      this.#waitingOn.set(txId, { resource, mode: target });
    });
  }

  /**
   * Takes a lock only if it is granted at once (as `acquire` would grant
   * it); otherwise returns false and queues nothing: for a synchronous fast
   * path that falls back to `acquire` when it would have to wait.
   */
  tryAcquire(txId: number, resource: string, mode: LockMode): boolean {
    const state = this.#locks.get(resource);
    if (state === undefined) {
      const fresh = newState();
      this.#locks.set(resource, fresh);
      this.#grant(fresh, txId, resource, mode);
      return true;
    }
    const current = modeOf(state, txId);
    if (current !== undefined && covers(current, mode)) return true;
    const target = joinModes(current, mode);
    if (this.#grantable(state, txId, target) && (state.queue.length === 0 || current)) {
      this.#grant(state, txId, resource, target);
      return true;
    }
    return false;
  }

  /**
   * Releases every lock a transaction holds and wakes whoever can now
   * proceed. With `commitLsn` (a commit), resources held in X mode remember
   * it (see `writtenLsn`).
   */
  releaseAll(txId: number, commitLsn?: number): void {
    this.#cancelWait(txId);
    const held = this.#held.get(txId);
    this.#held.delete(txId);
    if (!held) return;
    for (const resource of held) {
      const state = this.#locks.get(resource)!;
      const at = state.txs.indexOf(txId);
      const mode = state.modes[at];
      if (commitLsn !== undefined) {
        if (mode === "X") this.#written.set(resource, commitLsn);
        if (mode === "X" || mode === "IX") this.#writtenAny.set(resource, commitLsn);
      }
      const last = state.txs.length - 1;
      state.txs[at] = state.txs[last];
      state.modes[at] = state.modes[last];
      state.txs.pop();
      state.modes.pop();
      this.#wake(resource, state);
    }
  }

  /**
   * Takes a transaction that ends while it waits (its session went away,
   * the engine closes) out of its queue: granted later, the lock would be
   * held by nobody who will ever release it.
   */
  #cancelWait(txId: number): void {
    const waiting = this.#waitingOn.get(txId);
    if (waiting === undefined) return;
    this.#waitingOn.delete(txId);
    const state = this.#locks.get(waiting.resource)!;
    const at = state.queue.findIndex((w) => w.txId === txId);
    const [waiter] = state.queue.splice(at, 1);
    clearTimeout(waiter.timer);
    waiter.reject(new TransactionClosedError(`transaction ${txId} ended while waiting for a lock`));
    this.#wake(waiting.resource, state);
  }

  /**
   * What a holder of `resource` in `mode` may have read that is not known
   * durable: the commit LSN of the last transaction that held it in X mode
   * (for IS and IX) or in X or IX mode (for S and X); 0 when none did or
   * that was pruned as durable.
   */
  writtenLsn(resource: string, mode: LockMode): number {
    const map = mode === "S" || mode === "X" ? this.#writtenAny : this.#written;
    return map.get(resource) ?? 0;
  }

  /** Forgets written LSNs up to `durableLsn`, once there are enough to be worth a pass. */
  forgetDurable(durableLsn: number): void {
    if (this.#writtenAny.size < this.#writtenPruneAt) return;
    for (const map of [this.#written, this.#writtenAny]) {
      for (const [resource, lsn] of map) if (lsn <= durableLsn) map.delete(resource);
    }
    this.#writtenPruneAt = Math.max(1024, this.#writtenAny.size * 2);
  }

  /** Whether nobody holds `resource` or waits for it. */
  isFree(resource: string): boolean {
    return !this.#locks.has(resource);
  }

  holds(txId: number, resource: string): LockMode | undefined {
    const state = this.#locks.get(resource);
    return state === undefined ? undefined : modeOf(state, txId);
  }

  #grantable(state: LockState, txId: number, mode: LockMode): boolean {
    const { txs, modes } = state;
    for (let i = 0; i < txs.length; i++) {
      if (txs[i] !== txId && !compatible(mode, modes[i])) return false;
    }
    return true;
  }

  #grant(state: LockState, txId: number, resource: string, mode: LockMode): void {
    const at = state.txs.indexOf(txId);
    if (at >= 0) {
      state.modes[at] = mode; // an upgrade: the resource is listed already
      return;
    }
    state.txs.push(txId);
    state.modes.push(mode);
    const held = this.#held.get(txId);
    if (held === undefined) this.#held.set(txId, [resource]);
    else held.push(resource);
  }

  #wake(resource: string, state: LockState): void {
    while (state.queue.length > 0) {
      const next = state.queue[0];
      if (!this.#grantable(state, next.txId, next.mode)) break;
      state.queue.shift();
      clearTimeout(next.timer);
      this.#waitingOn.delete(next.txId);
      this.#grant(state, next.txId, resource, next.mode);
      next.resolve();
    }
    if (state.txs.length === 0 && state.queue.length === 0) this.#locks.delete(resource);
  }

  /**
   * Whom a wait in `mode` on `state` waits for: the holders whose modes
   * conflict with it and, unless it is an upgrade (which goes first), every
   * transaction queued ahead (`ahead` of them; all, for a new waiter).
   */
  #blockers(
    txId: number,
    state: LockState,
    mode: LockMode,
    upgrade: boolean,
    ahead: number,
  ): number[] {
    const out: number[] = [];
    for (let i = 0; i < state.txs.length; i++) {
      if (state.txs[i] !== txId && !compatible(mode, state.modes[i])) out.push(state.txs[i]);
    }
    if (!upgrade) {
      for (let i = 0; i < ahead && i < state.queue.length; i++) {
        if (state.queue[i].txId !== txId) out.push(state.queue[i].txId);
      }
    }
    return out;
  }

  /** True if `txId` waiting on `state` in `mode` would wait, transitively, on itself. */
  #closesCycle(txId: number, state: LockState, mode: LockMode, upgrade: boolean): boolean {
    const seen = new Set<number>();
    const stack = this.#blockers(txId, state, mode, upgrade, state.queue.length);
    while (stack.length > 0) {
      const t = stack.pop()!;
      if (t === txId) return true;
      if (seen.has(t)) continue;
      seen.add(t);
      const waiting = this.#waitingOn.get(t);
      if (!waiting) continue;
      const other = this.#locks.get(waiting.resource)!;
      const at = other.queue.findIndex((w) => w.txId === t);
      const upgrading = other.txs.includes(t);
      for (const b of this.#blockers(t, other, waiting.mode, upgrading, at)) stack.push(b);
    }
    return false;
  }
}
