// Active health checks: every backend of a pool with a `healthCheck` is sent
// `GET <path>` every `intervalMs` (the first after a random part of one
// interval, so a restart does not check every backend at the same moment);
// the expected status within `timeoutMs` is a pass, anything else a failure,
// and BackendState turns runs of those into up/down with the pool's
// rise/fall thresholds. Checks use their own clients (one connection per
// check, the body is not read), so a check never waits behind proxied
// traffic.

import { HttpClient } from "../../lib/http/client.ts";
import type { Logger } from "../../lib/log.ts";
import type { BackendState } from "./backend_state.ts";
import type { HealthCheckConfig } from "./config.ts";
import type { PoolRuntime } from "./proxy.ts";

interface Target {
  state: BackendState;
  check: HealthCheckConfig;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class HealthChecker {
  #targets = new Map<string, Target>();
  /** One client per check timeout (its connect timeout is the check's). */
  #clients = new Map<number, HttpClient>();
  #log: Logger;
  #now: () => number;
  #closed = false;
  #running = new Set<Promise<void>>();

  constructor(options: { log: Logger; now?: () => number }) {
    this.#log = options.log;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Checks the backends of `pools` from now on (after a reload: the new set). */
  update(pools: Iterable<PoolRuntime>): void {
    const wanted = new Map<string, { state: BackendState; check: HealthCheckConfig }>();
    for (const pool of pools) {
      const check = pool.config.healthCheck;
      if (check === undefined) continue;
      for (const state of pool.backends) {
        // A backend in several pools is checked once, with the first pool's check.
        if (!wanted.has(state.url)) wanted.set(state.url, { state, check });
      }
    }
    for (const [url, target] of this.#targets) {
      const next = wanted.get(url);
      if (next === undefined || JSON.stringify(next.check) !== JSON.stringify(target.check)) {
        clearTimeout(target.timer);
        this.#targets.delete(url);
      }
    }
    for (const [url, { state, check }] of wanted) {
      if (this.#targets.has(url)) continue;
      const target: Target = { state, check, timer: undefined };
      this.#targets.set(url, target);
      this.#schedule(target, Math.random() * Math.min(check.intervalMs, 1000));
    }
  }

  #schedule(target: Target, delayMs: number): void {
    if (this.#closed) return;
    target.timer = setTimeout(() => {
      const run = this.#probe(target).finally(() => {
        this.#running.delete(run);
        if (this.#targets.get(target.state.url) === target) {
          this.#schedule(target, target.check.intervalMs);
        }
      });
      this.#running.add(run);
    }, delayMs);
  }

  async #probe(target: Target): Promise<void> {
    const { state, check } = target;
    let ok = false;
    let detail = "";
    try {
      let client = this.#clients.get(check.timeoutMs);
      if (client === undefined) {
        client = new HttpClient({ connectTimeoutMs: check.timeoutMs, idlePerOriginMax: 1 });
        this.#clients.set(check.timeoutMs, client);
      }
      const response = await client.request(`${state.url}${check.path}`, {
        headerTimeoutMs: check.timeoutMs,
        headers: { "user-agent": "underhood-lb health check" },
      });
      await response.body.cancel().catch(() => {});
      ok = response.status === check.expectStatus;
      if (!ok) detail = `status ${response.status}`;
    } catch (error) {
      detail = error instanceof Error ? error.message : String(error);
    }
    if (this.#closed) return;
    if (state.recordCheck(ok, this.#now(), check)) {
      if (ok) this.#log.info("backend {backend} is up", { backend: state.url });
      else this.#log.warn("backend {backend} is down: {detail}", { backend: state.url, detail });
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const target of this.#targets.values()) clearTimeout(target.timer);
    this.#targets.clear();
    await Promise.allSettled([...this.#running]);
    for (const client of this.#clients.values()) await client.close();
  }
}
