// What the balancer knows about one backend: requests in flight, active
// health (consecutive check results against rise/fall thresholds, as
// HAProxy counts them), passive ejection (consecutive failed requests take
// it out for a cool-down, as nginx's max_fails/fail_timeout), and slow start
// (a backend that comes back ramps from 10% to its full share). Pure: the
// caller passes the clock, so tests drive time by hand.
//
// A backend starts up: traffic flows before the first check completes, and
// a backend that is down is found by `fall` failed checks or by `failures`
// failed requests, whichever comes first.

import type { HealthCheckConfig } from "./config.ts";

/** The share a backend in slow start begins with. */
const SLOW_START_FLOOR = 0.1;

export type HealthState = "up" | "down" | "ejected";

export class BackendState {
  readonly url: string;
  weight: number;
  /** Requests in flight to it. */
  active = 0;
  /** Last active-check verdict. */
  #up = true;
  #passes = 0;
  #fails = 0;
  /** Consecutive failed requests (passive). */
  #requestFailures = 0;
  #ejectedUntilMs = 0;
  /** When it last came back (up after down, or its ejection ended): slow start runs from here. */
  #recoveredAtMs = -Infinity;

  constructor(url: string, weight: number) {
    this.url = url;
    this.weight = weight;
  }

  state(nowMs: number): HealthState {
    if (!this.#up) return "down";
    return nowMs < this.#ejectedUntilMs ? "ejected" : "up";
  }

  /** Up, not ejected, and under its cap of requests in flight. */
  available(nowMs: number, connectionsMax: number): boolean {
    return this.state(nowMs) === "up" && this.active < connectionsMax;
  }

  /** The slow-start factor in (0, 1]. */
  warmth(nowMs: number, slowStartMs: number): number {
    if (slowStartMs <= 0) return 1;
    const since = nowMs - this.#recoveredAtMs;
    if (since >= slowStartMs) return 1;
    return SLOW_START_FLOOR + (1 - SLOW_START_FLOOR) * Math.max(0, since) / slowStartMs;
  }

  /** One active check result; returns true when it changed the up/down verdict. */
  recordCheck(ok: boolean, nowMs: number, check: HealthCheckConfig): boolean {
    if (ok) {
      this.#fails = 0;
      this.#passes++;
      if (!this.#up && this.#passes >= check.rise) {
        this.#up = true;
        this.#requestFailures = 0;
        this.#ejectedUntilMs = 0;
        this.#recoveredAtMs = nowMs;
        return true;
      }
      // Ejected by failed requests while the checks never saw it down (it came
      // back before the next check): `rise` passes since the ejection end it
      // early, as HAProxy's checks bring back a server its traffic marked down.
      if (this.#up && nowMs < this.#ejectedUntilMs && this.#passes >= check.rise) {
        this.#requestFailures = 0;
        this.#ejectedUntilMs = 0;
        this.#recoveredAtMs = nowMs;
        return true;
      }
    } else {
      this.#passes = 0;
      this.#fails++;
      if (this.#up && this.#fails >= check.fall) {
        this.#up = false;
        return true;
      }
    }
    return false;
  }

  /** A request got a response from it. */
  recordSuccess(): void {
    this.#requestFailures = 0;
  }

  /**
   * A request failed at the connection level (refused, reset, timed out).
   * Returns true when this ejected the backend.
   */
  recordFailure(nowMs: number, passive: { failures: number; cooldownMs: number }): boolean {
    this.#requestFailures++;
    if (passive.failures === 0 || this.#requestFailures < passive.failures) return false;
    if (nowMs < this.#ejectedUntilMs) return false;
    this.#requestFailures = 0;
    this.#passes = 0; // only checks that pass after the ejection end it early
    this.#ejectedUntilMs = nowMs + passive.cooldownMs;
    this.#recoveredAtMs = this.#ejectedUntilMs;
    return true;
  }

  /** When an ejection ends (0: not ejected), for Retry-After. */
  get ejectedUntilMs(): number {
    return this.#ejectedUntilMs;
  }
}
