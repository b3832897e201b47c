// A retry budget: retries may add at most a fixed share of the traffic, so
// when every backend is failing the balancer does not multiply the load of
// an outage by the retry count (Finagle's RetryBudget, Envoy's
// retry_budget). Pure: the caller passes the clock.
//
// A token bucket: every request deposits `ratio` tokens, time deposits
// `minPerSecond` per second (so a quiet balancer can still retry), a retry
// takes one token. The balance is capped at one second's `minPerSecond`
// plus `ratio` x 100 requests, so a long calm does not stock a burst.

export class RetryBudget {
  #ratio: number;
  #minPerSecond: number;
  #capacity: number;
  #balance: number;
  #lastMs: number;

  constructor(options: { ratio: number; minPerSecond: number }, nowMs: number) {
    this.#ratio = options.ratio;
    this.#minPerSecond = options.minPerSecond;
    this.#capacity = options.minPerSecond + options.ratio * 100;
    this.#balance = this.#capacity;
    this.#lastMs = nowMs;
  }

  /** Counts one request (not a retry). */
  deposit(nowMs: number): void {
    this.#refill(nowMs);
    this.#balance = Math.min(this.#capacity, this.#balance + this.#ratio);
  }

  /** True (and one token spent) when a retry is allowed now. */
  tryWithdraw(nowMs: number): boolean {
    this.#refill(nowMs);
    if (this.#balance < 1) return false;
    this.#balance -= 1;
    return true;
  }

  #refill(nowMs: number): void {
    const elapsedMs = nowMs - this.#lastMs;
    if (elapsedMs <= 0) return;
    this.#lastMs = nowMs;
    this.#balance = Math.min(
      this.#capacity,
      this.#balance + (this.#minPerSecond * elapsedMs) / 1000,
    );
  }
}
