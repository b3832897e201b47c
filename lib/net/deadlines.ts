// Timeouts without a timer per read: one sweep timer per server.
//
// Each tracked item (a connection) carries `deadline`, a time on the
// sweep's coarse clock, or 0 for none; setting or clearing it is one field
// write. Every `intervalMs` the sweep reads the clock once into `now` and
// calls `expire()` on each item past its deadline (clearing the deadline
// first, so it fires once). Deadlines are set from `now` too, so the hot
// path makes no clock call and no timer: a timeout may fire up to one
// interval late, which is fine for timeouts counted in seconds.
//
//   const sweep = new DeadlineSweep({ intervalMs: sweepIntervalMs(headerTimeoutMs, idleTimeoutMs) });
//   sweep.track(item);                            // item: { deadline, expire() }
//   item.deadline = sweep.now + idleTimeoutMs;    // wait for the next request
//   item.deadline = 0;                            // busy: no deadline
//   sweep.untrack(item);                          // when the connection ends
//   sweep.close();                                // when the server ends
//
// The timer is unref'd: a sweep never keeps a process alive by itself.

/** Something with a deadline: a connection, a pending request. */
export interface Expiring {
  /** When it expires, on the sweep's clock (`sweep.now + timeoutMs`); 0 for never. */
  deadline: number;
  /** Called by the sweep once the deadline has passed (after it is reset to 0). */
  expire(now: number): void;
}

export interface DeadlineSweepOptions {
  /** How often deadlines are checked: how late a timeout may fire. */
  intervalMs: number;
}

/** A sweep interval for these timeouts: a quarter of the shortest, within [10, 250] ms. */
export function sweepIntervalMs(...timeoutsMs: number[]): number {
  const shortest = Math.min(...timeoutsMs.filter((ms) => ms > 0));
  return Number.isFinite(shortest) ? Math.min(250, Math.max(10, Math.floor(shortest / 4))) : 250;
}

export class DeadlineSweep {
  /** The coarse clock (performance.now() as of the last sweep). */
  now: number = performance.now();
  #items = new Set<Expiring>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #intervalMs: number;

  constructor(options: DeadlineSweepOptions) {
    if (!(options.intervalMs >= 1)) throw new RangeError("intervalMs must be at least 1");
    this.#intervalMs = options.intervalMs;
  }

  /** Items tracked right now. */
  get size(): number {
    return this.#items.size;
  }

  /** Starts checking `item`'s deadline. The timer starts with the first item. */
  track(item: Expiring): void {
    this.#items.add(item);
    if (this.#timer === undefined) {
      this.now = performance.now();
      const timer = setInterval(() => this.sweep(performance.now()), this.#intervalMs);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  untrack(item: Expiring): void {
    this.#items.delete(item);
  }

  /**
   * Advances the clock to `now` and expires what is past its deadline. The
   * timer calls it; tests call it with a chosen time instead of waiting.
   */
  sweep(now: number): void {
    this.now = now;
    for (const item of this.#items) {
      const deadline = item.deadline;
      if (deadline === 0 || now < deadline) continue;
      item.deadline = 0;
      item.expire(now);
    }
  }

  /** Stops the timer; tracked items are forgotten. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#items.clear();
  }
}
