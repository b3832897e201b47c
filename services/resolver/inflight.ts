// Concurrent identical client queries share one upstream resolution: the
// first caller starts it, later callers with the same key wait on the same
// promise until it settles. Unbound calls this "mesh"; it is what keeps a
// burst of identical queries from becoming a burst of upstream traffic.

export class Inflight<T> {
  readonly #pending = new Map<string, Promise<T>>();

  /** Runs `work` for `key` unless a run for it is already under way. */
  run(key: string, work: () => Promise<T>): Promise<T> {
    const existing = this.#pending.get(key);
    if (existing !== undefined) return existing;
    const promise = work().finally(() => this.#pending.delete(key));
    this.#pending.set(key, promise);
    return promise;
  }

  get size(): number {
    return this.#pending.size;
  }
}
