// The `lb` service: an HTTP/1.1 load balancer and reverse proxy on lib/http.
// Every request on a keep-alive connection is routed on its own (path,
// host, method) to a pool, balanced across its backends (balancer.ts),
// forwarded with its body streamed both ways (proxy.ts), with active and
// passive health (health.ts, backend_state.ts) and retries within a budget.
// SIGHUP reloads --config without dropping a request in flight; SIGTERM
// drains. /healthz, /readyz and /metrics are on the admin port (port +
// 10000), never on the proxied port, where every path belongs to the
// backends. See docs/lb.md.

import { parse as parseToml } from "smol-toml";
import { type AdminServer, startAdminServer } from "../../lib/admin.ts";
import type { FlagSpecs } from "../../lib/cli.ts";
import { serveHttp } from "../../lib/http/server.ts";
import { logger } from "../../lib/log.ts";
import { adminPortOf, commonFlags, defineService, type ServiceHandle } from "../../lib/service.ts";
import { ConfigError, configFromFlags, type LbConfig, parseConfig } from "./config.ts";
import { HealthChecker } from "./health.ts";
import { lbMetrics, watchBackends } from "./metrics.ts";
import { ReverseProxy } from "./proxy.ts";

export const LB_PORT = 8080;

export const lbFlags = {
  ...commonFlags("lb", LB_PORT),
  config: {
    type: "string",
    help: "configuration file (JSON, or TOML if named *.toml; docs/lb.md)",
  },
  backend: {
    type: "strings",
    help: "backend URL of the default round-robin pool (repeatable; instead of --config)",
  },
  route: {
    type: "strings",
    help: "PREFIX=URL: send paths under PREFIX to URL (repeatable; instead of --config)",
  },
  "connections-max": {
    type: "integer",
    default: 4096,
    help: "client connections at most (idle ones are closed to make room)",
  },
  "idle-timeout-ms": {
    type: "integer",
    default: 60_000,
    help: "how long an idle client keep-alive connection is kept",
  },
} as const satisfies FlagSpecs;

export type LbFlags = typeof lbFlags;

/** Reads the configuration the flags name: a file, or --backend/--route. */
export async function loadConfig(
  flags: { config?: string; backend?: readonly string[]; route?: readonly string[] },
): Promise<LbConfig> {
  const backends = flags.backend ?? [];
  const routes = flags.route ?? [];
  if (flags.config !== undefined) {
    if (backends.length > 0 || routes.length > 0) {
      throw new ConfigError("give --config or --backend/--route, not both");
    }
    const text = await Deno.readTextFile(flags.config);
    const toml = flags.config.endsWith(".toml");
    let parsed: unknown;
    try {
      parsed = toml ? parseToml(text) : JSON.parse(text);
    } catch (error) {
      const format = toml ? "TOML" : "JSON";
      throw new ConfigError(`${flags.config}: not ${format}: ${(error as Error).message}`);
    }
    try {
      return parseConfig(parsed);
    } catch (error) {
      if (error instanceof ConfigError) {
        throw new ConfigError(`${flags.config}: ${error.message}`);
      }
      throw error;
    }
  }
  if (backends.length === 0 && routes.length === 0) {
    throw new ConfigError("nothing to balance: give --config FILE, --backend URL or --route P=URL");
  }
  return configFromFlags(backends, routes);
}

/** A running balancer, with `reload()` for tests and SIGHUP alike. */
export interface LbHandle extends ServiceHandle {
  /** Reads the configuration again; on error the old one stays and the error is thrown. */
  reload(): Promise<void>;
}

export async function startLb(
  flags: Parameters<typeof loadConfig>[0] & {
    host: string;
    port: number;
    adminPort?: number;
    drainTimeoutMs: number;
    connectionsMax?: number;
    idleTimeoutMs?: number;
  },
  options: { signals?: boolean } = {},
): Promise<LbHandle> {
  const log = logger("lb");
  const config = await loadConfig(flags);
  const metrics = lbMetrics();
  const proxy = new ReverseProxy(config, { metrics, log, accessLog: logger("lb", "access") });
  watchBackends(metrics, () => proxy);
  const health = new HealthChecker({ log });
  health.update(proxy.pools.values());
  const server = serveHttp({
    hostname: flags.host,
    port: flags.port,
    handler: proxy.handle,
    name: "lb",
    label: "lb port",
    connectionsMax: flags.connectionsMax ?? 4096,
    idleTimeoutMs: flags.idleTimeoutMs ?? 60_000,
    bodyLimitBytes: Infinity,
    registry: metrics.registry,
  });
  let admin: AdminServer;
  try {
    admin = startAdminServer({
      hostname: flags.host,
      port: adminPortOf(flags),
      label: "lb admin port",
      registry: metrics.registry,
      readiness: () => readiness(proxy),
    });
  } catch (error) {
    await server.close(0);
    await health.close();
    await proxy.close();
    throw error;
  }
  let reloading = Promise.resolve();
  const reload = () => {
    const next = reloading.then(async () => {
      const fresh = await loadConfig(flags);
      proxy.apply(fresh);
      health.update(proxy.pools.values());
      log.info("configuration reloaded: {pools} pool(s), {routes} route(s)", {
        pools: Object.keys(fresh.pools).length,
        routes: fresh.routes.length,
      });
    });
    reloading = next.catch(() => {});
    return next;
  };
  const onHangup = () => {
    reload().catch((error) => {
      log.error("reload failed, keeping the old configuration: {error}", {
        error: error instanceof Error ? error.message : String(error),
      });
    });
  };
  if (options.signals) Deno.addSignalListener("SIGHUP", onHangup);
  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= (async () => {
      if (options.signals) Deno.removeSignalListener("SIGHUP", onHangup);
      await reloading;
      await server.close(flags.drainTimeoutMs);
      await health.close();
      await proxy.close();
      await admin.close();
    })();
  return {
    addresses: { http: server.addr, admin: admin.addr },
    ready: Promise.resolve(),
    reload,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Ready while every pool has a backend that takes traffic. */
function readiness(proxy: ReverseProxy) {
  const now = performance.now();
  const results: Record<string, { ok: boolean; detail?: string }> = {};
  for (const [name, pool] of proxy.pools) {
    const up = pool.backends.filter((b) => b.state(now) === "up").length;
    results[`pool ${name}`] = {
      ok: up > 0,
      detail: `${up} of ${pool.backends.length} backend(s) up`,
    };
  }
  return results;
}

export const service = defineService({
  name: "lb",
  summary: "HTTP load balancer and reverse proxy (port 8080)",
  flags: lbFlags,
  start(config): Promise<ServiceHandle> {
    return startLb(config, { signals: Deno.build.os !== "windows" });
  },
});
