// The admin endpoints every service answers (docs/architecture.md): `/healthz` and
// `/metrics`.
//
//   GET /healthz  200 {"status":"ok","checks":{"db":{"ok":true}}}, or 503
//                 with "status":"failing" when any check fails or throws.
//   GET /metrics  the registry in Prometheus text format 0.0.4.
//
// Services that speak HTTP mount both on their own router with
// `mountAdmin(router, options)`. Services that do not (dns, cache,
// datastore...) run them on their admin port:
//
//   const admin = startAdminServer({ hostname, port: adminPortOf(config), checks, registry });
//   admin.addr;          // the bound address (port 0 picks one)
//   await admin.close(); // on shutdown
//
// `checks` is optional (no checks means healthy); it is called on every
// /healthz request, so keep it cheap. A check slower than 2 s counts as failed.

import { logger } from "./log.ts";
import { METRICS_CONTENT_TYPE, type MetricsRegistry } from "./metrics.ts";
import { json } from "./http/message.ts";
import { Router } from "./http/router.ts";
import { serveHttp } from "./http/server.ts";

export interface CheckResult {
  ok: boolean;
  detail?: string;
}

export type HealthChecks = () => Promise<Record<string, CheckResult>> | Record<string, CheckResult>;

export interface AdminOptions {
  checks?: HealthChecks;
  registry?: MetricsRegistry;
}

export interface AdminServerOptions extends AdminOptions {
  hostname?: string;
  port: number;
}

export interface AdminServer {
  readonly addr: Deno.NetAddr;
  close(): Promise<void>;
}

const CHECK_TIMEOUT_MS = 2_000;

/** Adds GET /healthz and GET /metrics to `router`. */
export function mountAdmin(router: Router, options: AdminOptions = {}): Router {
  router.get("/healthz", async () => {
    const checks = await runChecks(options.checks);
    const ok = Object.values(checks).every((check) => check.ok);
    return json({ status: ok ? "ok" : "failing", checks }, ok ? 200 : 503, {
      "cache-control": "no-store",
    });
  });
  router.get("/metrics", () => ({
    status: 200,
    headers: { "content-type": METRICS_CONTENT_TYPE, "cache-control": "no-store" },
    body: options.registry?.render() ?? "",
  }));
  return router;
}

/** Serves only /healthz and /metrics on their own port. */
export function startAdminServer(options: AdminServerOptions): AdminServer {
  const router = mountAdmin(new Router({ bodyLimitBytes: 0 }), options);
  const server = serveHttp({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port,
    handler: router.handle,
    name: "admin",
    maxConnections: 64,
  });
  return { addr: server.addr, close: () => server.close(2_000) };
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
