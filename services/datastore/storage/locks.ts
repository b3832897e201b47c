// Two-phase locking: shared (S) and exclusive (X) locks on named resources
// (the engine locks whole tables: "t:<id>"), held until the transaction ends.
//
// Waiters queue FIFO per resource. Before a transaction starts waiting, the
// wait-for graph is searched from it; if the wait would close a cycle, the
// requester is the victim and gets a DeadlockError at once. Every wait also
// has a timeout (LockTimeoutError), which catches anything the graph cannot
// see. An S holder asking for X is an upgrade: granted when it is the only
// holder, otherwise it waits like anyone else (two upgraders deadlock and
// one of them is refused).

import { DeadlockError, LockTimeoutError } from "./errors.ts";

export type LockMode = "S" | "X";

interface Waiter {
  txId: number;
  mode: LockMode;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface LockState {
  holders: Map<number, LockMode>;
  queue: Waiter[];
}

export class LockManager {
  #locks = new Map<string, LockState>();
  /** What each waiting transaction waits for. */
  #waitingOn = new Map<number, string>();
  /** Resources each transaction holds. */
  #held = new Map<number, Set<string>>();
  deadlocks = 0;
  timeouts = 0;

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
    if (!state) {
      state = { holders: new Map(), queue: [] };
      this.#locks.set(resource, state);
    }
    const current = state.holders.get(txId);
    if (current === "X" || current === mode) return null;
    if (this.#grantable(state, txId, mode) && (state.queue.length === 0 || current)) {
      this.#grant(state, txId, resource, mode);
      return null;
    }
    if (this.#closesCycle(txId, state)) {
      this.deadlocks++;
      return Promise.reject(
        new DeadlockError(`deadlock detected: transaction ${txId} waiting for ${resource}`),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        txId,
        mode,
        resolve,
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
      state.queue.push(waiter);
      this.#waitingOn.set(txId, resource);
    });
  }

  /**
   * Takes a lock only if it is granted at once (as `acquire` would grant
   * it); otherwise returns false and queues nothing: for a synchronous fast
   * path that falls back to `acquire` when it would have to wait.
   */
  tryAcquire(txId: number, resource: string, mode: LockMode): boolean {
    const state = this.#locks.get(resource);
    if (!state) {
      this.#locks.set(resource, { holders: new Map(), queue: [] });
      this.#grant(this.#locks.get(resource)!, txId, resource, mode);
      return true;
    }
    const current = state.holders.get(txId);
    if (current === "X" || current === mode) return true;
    if (this.#grantable(state, txId, mode) && (state.queue.length === 0 || current)) {
      this.#grant(state, txId, resource, mode);
      return true;
    }
    return false;
  }

  /** Releases every lock a transaction holds and wakes whoever can now proceed. */
  releaseAll(txId: number): void {
    const held = this.#held.get(txId);
    this.#held.delete(txId);
    if (!held) return;
    for (const resource of held) {
      const state = this.#locks.get(resource)!;
      state.holders.delete(txId);
      this.#wake(resource, state);
    }
  }

  holds(txId: number, resource: string): LockMode | undefined {
    return this.#locks.get(resource)?.holders.get(txId);
  }

  #grantable(state: LockState, txId: number, mode: LockMode): boolean {
    for (const [holder, held] of state.holders) {
      if (holder === txId) continue;
      if (mode === "X" || held === "X") return false;
    }
    return true;
  }

  #grant(state: LockState, txId: number, resource: string, mode: LockMode): void {
    state.holders.set(txId, mode);
    let held = this.#held.get(txId);
    if (!held) this.#held.set(txId, held = new Set());
    held.add(resource);
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
    if (state.holders.size === 0 && state.queue.length === 0) this.#locks.delete(resource);
  }

  /** True if `txId` waiting on `state` would wait, transitively, on itself. */
  #closesCycle(txId: number, state: LockState): boolean {
    const seen = new Set<number>();
    const stack = [...state.holders.keys(), ...state.queue.map((w) => w.txId)]
      .filter((t) => t !== txId);
    while (stack.length > 0) {
      const t = stack.pop()!;
      if (t === txId) return true;
      if (seen.has(t)) continue;
      seen.add(t);
      const resource = this.#waitingOn.get(t);
      if (!resource) continue;
      const other = this.#locks.get(resource)!;
      for (const holder of other.holders.keys()) if (holder !== t) stack.push(holder);
    }
    return false;
  }
}
