// The admin endpoints every service answers (docs/architecture.md): `/healthz`,
// `/readyz` and `/metrics`.
//
//   GET /healthz  alive: 200 {"status":"ok","checks":{"db":{"ok":true}}}, or
//                 503 with "status":"failing" when any check fails or throws.
//   GET /readyz   ready to take traffic (dependencies reachable, recovery
//                 done): the same JSON shape, from `readiness` (or `checks`
//                 when the service gives no readiness checks).
//   GET /metrics  the registry in Prometheus text format 0.0.4.
//
// Services that speak HTTP mount them on their own router with
// `mountAdmin(router, options)`. Services that do not (dns, cache,
// datastore...) run them on their admin port:
//
//   const admin = startAdminServer({ hostname, port: adminPortOf(config), checks, readiness, registry });
//   admin.addr;          // the bound address (port 0 picks one)
//   await admin.close(); // on shutdown
//
// `checks` and `readiness` are optional (none means healthy / ready); they
// run on every request, so keep them cheap. A check slower than 2 s counts
// as failed.
//
// Health checks must always get through, so the admin port stands on
// lib/net's cap with idle eviction: up to 1024 connections, and at the cap
// a new client closes the longest-idle one (an idle keep-alive, or a
// slowloris head still trickling in) instead of being refused; heads get
// 2 s (HEADER_TIMEOUT_MS) before a 408. A probe is refused (503) only when
// 1024 requests are in flight at once.

import { logger } from "./log.ts";
import { METRICS_CONTENT_TYPE, type MetricsRegistry } from "./metrics.ts";
import { type HttpResponse, json } from "./http/message.ts";
import { Router } from "./http/router.ts";
import { serveHttp } from "./http/server.ts";

export interface CheckResult {
  ok: boolean;
  detail?: string;
}

export type HealthChecks = () => Promise<Record<string, CheckResult>> | Record<string, CheckResult>;

export interface AdminOptions {
  /** Liveness checks, for /healthz (and /readyz when `readiness` is not given). */
  checks?: HealthChecks;
  /** Readiness checks, for /readyz: dependencies reachable, recovery done. */
  readiness?: HealthChecks;
  registry?: MetricsRegistry;
}

export interface AdminServerOptions extends AdminOptions {
  hostname?: string;
  port: number;
  /** For messages, e.g. "cache admin port": default "admin port". */
  label?: string;
  /** Open connections at most: 1024 (docs/http.md). */
  connectionsMax?: number;
  /** A connection's request head must be complete within this: 2 s (probes send it at once). */
  headerTimeoutMs?: number;
}

export interface AdminServer {
  readonly addr: Deno.NetAddr;
  /** Open connections right now. */
  readonly connections: number;
  close(): Promise<void>;
}

const CHECK_TIMEOUT_MS = 2_000;
/** A probe sends its whole head at once; anything slower is not a probe. */
const HEADER_TIMEOUT_MS = 2_000;
const ADMIN_CONNECTIONS_MAX = 1024;

/** Adds GET /healthz, GET /readyz and GET /metrics to `router`. */
export function mountAdmin(router: Router, options: AdminOptions = {}): Router {
  router.get("/healthz", () => checksResponse(options.checks));
  router.get("/readyz", () => checksResponse(options.readiness ?? options.checks));
  router.get("/metrics", () => ({
    status: 200,
    headers: { "content-type": METRICS_CONTENT_TYPE, "cache-control": "no-store" },
    body: options.registry?.render() ?? "",
  }));
  return router;
}

/** Serves only /healthz, /readyz and /metrics on their own port. */
export function startAdminServer(options: AdminServerOptions): AdminServer {
  const router = mountAdmin(new Router({ bodyLimitBytes: 0 }), options);
  const server = serveHttp({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port,
    handler: router.handle,
    name: "admin",
    label: options.label ?? "admin port",
    connectionsMax: options.connectionsMax ?? ADMIN_CONNECTIONS_MAX,
    headerTimeoutMs: options.headerTimeoutMs ?? HEADER_TIMEOUT_MS,
  });
  return {
    addr: server.addr,
    get connections() {
      return server.connections;
    },
    close: () => server.close(2_000),
  };
}

async function checksResponse(checks: HealthChecks | undefined): Promise<HttpResponse> {
  const results = await runChecks(checks);
  const ok = Object.values(results).every((check) => check.ok);
  return json({ status: ok ? "ok" : "failing", checks: results }, ok ? 200 : 503, {
    "cache-control": "no-store",
  });
}

async function runChecks(checks: HealthChecks | undefined): Promise<Record<string, CheckResult>> {
  if (checks === undefined) return {};
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      Promise.resolve(checks()),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("checks timed out")), CHECK_TIMEOUT_MS);
      }),
    ]);
  } catch (error) {
    logger("admin").warn("health checks failed: {error}", { error: String(error) });
    return {
      checks: { ok: false, detail: error instanceof Error ? error.message : String(error) },
    };
  } finally {
    clearTimeout(timer);
  }
}
