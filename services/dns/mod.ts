// `underhood dns`: the authoritative DNS server.
//
// Loads every `--zone FILE` (RFC 1035 master format), refuses to start when
// one is broken, and serves them over UDP and TCP on one port. SIGHUP
// reloads every zone file; when any of them is broken the old zones stay in
// service and the error is logged with its file and line. Queries keep being
// answered throughout: a reload swaps one reference.
//
// The admin port (lib/admin.ts) tells what is served: /healthz checks
// that zones are loaded and that the last reload worked (a failed SIGHUP
// reload makes it fail, with the error, until a reload succeeds), and
// /metrics carries the last reload's result and time.

import { type AdminServer, type CheckResult, startAdminServer } from "../../lib/admin.ts";
import type { ConfigOf, FlagSpecs } from "../../lib/cli.ts";
import {
  DEFAULT_DNS_SERVER_LIMITS,
  type DnsServerStats,
  registerTransportMetrics,
  serveDns,
} from "../../lib/dns/server.ts";
import { rcodeName } from "../../lib/dns/types.ts";
import { Zone } from "../../lib/dns/zone.ts";
import { logger } from "../../lib/log.ts";
import { MetricsRegistry, syncCounter } from "../../lib/metrics.ts";
import { adminPortOf, commonFlags, defineService, type ServiceHandle } from "../../lib/service.ts";
import { ZoneSet } from "./authority.ts";
import { AuthoritativeHandler, type AuthoritativeStats } from "./handler.ts";
import { ResponseRateLimiter } from "./rrl.ts";

export const DNS_PORT = 1053;

export const flags = {
  ...commonFlags("dns", DNS_PORT),
  zone: {
    type: "strings",
    default: [],
    help: "zone file in RFC 1035 master format (repeat for several zones)",
  },
  "rrl-rate": {
    type: "integer",
    default: 200, // NSD's default rrl-ratelimit
    help: "UDP responses per second per source /24 (IPv6 /56); 0 turns rate limiting off",
  },
  "rrl-slip": {
    type: "integer",
    default: 2,
    help: "every Nth rate-limited response is sent truncated so clients retry over TCP",
  },
  "rrl-loopback": {
    type: "boolean",
    default: false,
    help:
      "rate-limit loopback sources too (they cannot be spoofed from outside, so by default they are not)",
  },
  "answer-cache-entries": {
    type: "integer",
    default: 10_000,
    help: "encoded UDP answers kept for repeated questions; 0 turns the cache off",
  },
  "tcp-idle-timeout-ms": {
    type: "integer",
    default: 10_000,
    help: "close a TCP connection idle this long",
  },
  "tcp-connections-max": {
    type: "integer",
    default: 512,
    help: "open TCP connections at once; past it the longest-idle one is closed",
  },
} as const satisfies FlagSpecs;

export type DnsConfig = ConfigOf<typeof flags>;

/**
 * Reads and parses every zone file. The origin is the file's `$ORIGIN`, or,
 * as a zone written for BIND or NSD without one expects, the file name
 * without a ".zone" suffix or "db." prefix ("example.com.zone").
 */
export async function loadZones(files: readonly string[]): Promise<ZoneSet> {
  const zones: Zone[] = [];
  for (const file of files) {
    const text = await Deno.readTextFile(file);
    zones.push(Zone.parse(text, { file, origin: originFromFileName(file) }));
  }
  return new ZoneSet(zones);
}

function originFromFileName(file: string): string | undefined {
  const base = file.split("/").at(-1) ?? file;
  const name = base.replace(/\.(zone|db)$/i, "").replace(/^db\./i, "");
  return /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(name) ? `${name}.` : undefined;
}

export const service = defineService({
  name: "dns",
  summary: "authoritative DNS server (UDP and TCP, port 1053)",
  flags,
  async start(config: DnsConfig): Promise<ServiceHandle> {
    const log = logger("dns");
    if (config.zone.length === 0) throw new Error("no zones: give at least one --zone FILE");
    let zones = await loadZones(config.zone);
    for (const zone of zones.zones()) {
      log.info("loaded zone {origin} ({count} records)", {
        origin: zone.origin,
        count: zone.recordCount,
      });
    }
    const handler = new AuthoritativeHandler({
      zones: () => zones,
      rateLimiter: new ResponseRateLimiter({
        responsesPerSecond: config.rrlRate,
        slip: config.rrlSlip,
        exemptLoopback: !config.rrlLoopback,
      }),
      answerCacheEntries: config.answerCacheEntries,
    });
    const server = serveDns({
      label: "dns service port",
      hostname: config.host,
      port: config.port,
      handler: handler.answer,
      recursionAvailable: false,
      limits: {
        ...DEFAULT_DNS_SERVER_LIMITS,
        connectionsMax: config.tcpConnectionsMax,
        idleTimeoutMs: config.tcpIdleTimeoutMs,
      },
      log,
    });
    const reload: ReloadState = { ok: true, atMs: Date.now(), error: "" };
    const registry = dnsMetrics(server.stats, handler.stats, () => zones, reload);
    registerTransportMetrics(registry, { prefix: "dns", server });
    let admin: AdminServer;
    try {
      admin = startAdminServer({
        hostname: config.host,
        port: adminPortOf(config),
        checks: () => dnsChecks(zones, reload),
        registry,
      });
    } catch (error) {
      await server.close();
      throw error;
    }
    let reloading = Promise.resolve();
    const onHangup = () => {
      reloading = reloading.then(async () => {
        try {
          zones = await loadZones(config.zone);
          Object.assign(reload, { ok: true, atMs: Date.now(), error: "" });
          log.info("reloaded {count} zone(s)", { count: zones.size });
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          Object.assign(reload, { ok: false, atMs: Date.now(), error: message });
          log.error("reload failed, keeping the old zones: {error}", { error: message });
        }
      });
    };
    Deno.addSignalListener("SIGHUP", onHangup);
    let closed: Promise<void> | undefined;
    const close = () =>
      closed ??= (async () => {
        Deno.removeSignalListener("SIGHUP", onHangup);
        await reloading;
        await server.close(config.drainTimeoutMs);
        await admin.close();
      })();
    return {
      addresses: { udp: server.udpAddress, tcp: server.tcpAddress, admin: admin.addr },
      ready: Promise.resolve(),
      close,
      [Symbol.asyncDispose]: close,
    };
  },
});

/** The last zone load: at start, then each SIGHUP reload. */
interface ReloadState {
  ok: boolean;
  atMs: number;
  /** Why the last reload failed ("" when it worked). */
  error: string;
}

/** /healthz: zones are loaded, and the last reload worked. */
function dnsChecks(zones: ZoneSet, reload: ReloadState): Record<string, CheckResult> {
  const loadedAt = new Date(reload.atMs).toISOString();
  return {
    zones: zones.size > 0
      ? { ok: true, detail: `${zones.size} zone(s) loaded` }
      : { ok: false, detail: "no zones loaded" },
    reload: reload.ok ? { ok: true, detail: `zones loaded at ${loadedAt}` } : {
      ok: false,
      detail: `reload at ${loadedAt} failed, serving the previous zones: ${reload.error}`,
    },
  };
}

/** The server's /metrics: its counters and the zones served, read at scrape time. */
function dnsMetrics(
  stats: DnsServerStats,
  handlerStats: AuthoritativeStats,
  zones: () => ZoneSet,
  reload: ReloadState,
): MetricsRegistry {
  const registry = new MetricsRegistry();
  const queries = registry.counter("dns_queries_total", "queries received", ["transport"]);
  const replies = registry.counter("dns_replies_total", "replies sent, by rcode", ["rcode"]);
  const limited = registry.counter(
    "dns_rate_limited_total",
    "UDP responses held back by response rate limiting",
    ["action"],
  );
  const cacheHits = registry.counter(
    "dns_answer_cache_hits_total",
    "answers from the encoded-answer cache",
  );
  const zoneCount = registry.gauge("dns_zones", "zones loaded");
  const reloadOk = registry.gauge(
    "dns_zone_reload_success",
    "1 when the last zone load (start or SIGHUP) worked, 0 when it failed",
  );
  const reloadTime = registry.gauge(
    "dns_zone_reload_timestamp_seconds",
    "when the zones were last loaded or a reload failed (unix seconds)",
  );
  registry.onCollect(() => {
    syncCounter(queries, stats.udpQueries, { transport: "udp" });
    syncCounter(queries, stats.tcpQueries, { transport: "tcp" });
    stats.rcodes.forEach((count, rcode) => {
      if (count > 0) syncCounter(replies, count, { rcode: rcodeName(rcode) });
    });
    syncCounter(limited, handlerStats.rateLimitDropped, { action: "drop" });
    syncCounter(limited, handlerStats.rateLimitSlipped, { action: "slip" });
    syncCounter(cacheHits, handlerStats.answerCacheHits);
    zoneCount.set(undefined, zones().size);
    reloadOk.set(undefined, reload.ok ? 1 : 0);
    reloadTime.set(undefined, Math.floor(reload.atMs / 1000));
  });
  return registry;
}
