// The load balancer's /metrics, per backend: requests by status, errors by
// kind, retries, time to the response head, health state and requests in
// flight (each one holds one backend connection). Label values are bounded:
// pools and backends come from the configuration, statuses are three digits,
// error kinds a fixed list.

import type { Counter, Histogram } from "../../lib/metrics.ts";
import { MetricsRegistry } from "../../lib/metrics.ts";
import type { ReverseProxy } from "./proxy.ts";

export interface LbMetrics {
  readonly registry: MetricsRegistry;
  readonly requests: Counter;
  readonly errors: Counter;
  readonly retries: Counter;
  /** Answers the balancer gave itself (404, 502, 503, 504). */
  readonly local: Counter;
  readonly latency: Histogram;
}

export function lbMetrics(registry = new MetricsRegistry()): LbMetrics {
  return {
    registry,
    requests: registry.counter(
      "lb_backend_requests_total",
      "responses received from backends, by status",
      ["pool", "backend", "status"],
    ),
    errors: registry.counter(
      "lb_backend_errors_total",
      "failed attempts (connect, connect_timeout, header_timeout, closed, protocol, body)",
      ["pool", "backend", "kind"],
    ),
    retries: registry.counter("lb_retries_total", "attempts retried on another backend", [
      "pool",
    ]),
    local: registry.counter(
      "lb_local_responses_total",
      "answers from the balancer itself (no route, no backend, backend failed)",
      ["status"],
    ),
    latency: registry.histogram(
      "lb_backend_response_seconds",
      "time from the request's arrival to the backend's response head",
      { labelNames: ["pool", "backend"] },
    ),
  };
}

/** Health and in-flight gauges, read from the proxy at scrape time. */
export function watchBackends(metrics: LbMetrics, proxy: () => ReverseProxy): void {
  const up = metrics.registry.gauge(
    "lb_backend_up",
    "1 when the backend takes traffic, 0 when its checks failed or it is ejected",
    ["pool", "backend"],
  );
  const ejected = metrics.registry.gauge(
    "lb_backend_ejected",
    "1 while the backend is ejected after consecutive failed requests",
    ["pool", "backend"],
  );
  const active = metrics.registry.gauge(
    "lb_backend_active_requests",
    "requests in flight, each on its own backend connection",
    ["backend"],
  );
  const idle = metrics.registry.gauge(
    "lb_pool_idle_connections",
    "keep-alive backend connections waiting in the pool's client for the next request",
    ["pool"],
  );
  metrics.registry.onCollect(() => {
    const now = performance.now();
    for (const [pool, runtime] of proxy().pools) {
      idle.set({ pool }, runtime.client.idleConnections);
      for (const b of runtime.backends) {
        const state = b.state(now);
        up.set({ pool, backend: b.url }, state === "up" ? 1 : 0);
        ejected.set({ pool, backend: b.url }, state === "ejected" ? 1 : 0);
        active.set({ backend: b.url }, b.active);
      }
    }
  });
}
