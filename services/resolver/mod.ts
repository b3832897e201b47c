// `underhood resolver`: a recursive, caching DNS resolver in the spirit of
// Unbound. See iterator.ts (resolution), cache.ts (the cache),
// recursive.ts (per-query behaviour) and upstream.ts (queries to other
// servers); lib/dns/server.ts serves it over UDP and TCP.
//
// `--local-only` makes it hermetic, as the stack runs it: only the stub
// zones (and the forwarders, when given) are answered, every other name is
// REFUSED without a packet leaving the machine. Without it, names outside
// the stubs are resolved iteratively from the root hints.

import { type CheckResult, startAdminServer } from "../../lib/admin.ts";
import type { FlagSpecs } from "../../lib/cli.ts";
import { parseName } from "../../lib/dns/name.ts";
import { Rcode, rcodeName } from "../../lib/dns/types.ts";
import {
  DEFAULT_DNS_SERVER_LIMITS,
  type DnsHandler,
  type DnsReply,
  type DnsServerStats,
  registerTransportMetrics,
  serveDns,
} from "../../lib/dns/server.ts";
import { logger } from "../../lib/log.ts";
import { MetricsRegistry, syncCounter } from "../../lib/metrics.ts";
import { adminPortOf, commonFlags, defineService } from "../../lib/service.ts";
import { AccessList, DEFAULT_ALLOWED, parseAddress } from "./acl.ts";
import { RecordCache } from "./cache.ts";
import {
  DEFAULT_RESOLVER_LIMITS,
  Iterator,
  type ServerAddress,
  type StubZone,
} from "./iterator.ts";
import { type Answered, RecursiveService } from "./recursive.ts";
import { BUILTIN_ROOT_SERVERS, parseRootHints } from "./root_hints.ts";
import { ServerStats } from "./servers.ts";
import { UdpTcpTransport } from "./upstream.ts";

export const flags = {
  ...commonFlags("resolver", 5354),
  stub: {
    type: "strings",
    default: [],
    help:
      "serve ZONE from these servers without recursion: ZONE=ADDR[:PORT][,ADDR[:PORT]] (repeatable)",
  },
  forward: {
    type: "strings",
    default: [],
    help: "send every other query to ADDR[:PORT] with recursion desired (repeatable)",
  },
  "root-hints": {
    type: "string",
    help: "root hints file (named.root format); default: the real root servers",
  },
  "upstream-port": {
    type: "port",
    help: "port for every iterative upstream query (for private test hierarchies)",
  },
  allow: {
    type: "strings",
    default: [...DEFAULT_ALLOWED],
    help: "client network allowed to query, CIDR (repeatable)",
  },
  "local-only": {
    type: "boolean",
    default: false,
    help:
      "answer only the --stub zones (and --forward, if given); REFUSE every other name without asking upstream",
  },
  "cache-bytes-max": {
    type: "integer",
    default: 64 * 1024 * 1024,
    help: "memory bound of the cache",
    aliases: ["cache-max-bytes"],
  },
  "stale-ttl-sec": {
    type: "integer",
    default: 86_400,
    help: "how long expired answers may be served stale (0 disables serve-stale)",
  },
  "stale-wait-ms": {
    type: "integer",
    default: 1800,
    help: "wait for upstream before answering stale",
  },
  "prefetch-percent": {
    type: "integer",
    default: 10,
    help: "refresh entries hit in the last N% of their TTL (0 disables)",
  },
  "use-0x20": {
    type: "boolean",
    default: false,
    help: "randomise query name case upstream (0x20)",
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
  "query-timeout-ms": { type: "integer", default: 1500, help: "wait for one upstream reply" },
  "resolution-timeout-ms": {
    type: "integer",
    default: 10_000,
    help: "total time for one client query",
  },
} as const satisfies FlagSpecs;

export const service = defineService({
  name: "resolver",
  summary: "recursive caching DNS resolver (UDP and TCP)",
  flags,
  async start(config) {
    const log = logger("resolver");
    const stubs = await Promise.all(
      config.stub.map(parseStub).map(async (stub) => ({
        ...stub,
        servers: await Promise.all(stub.servers.map(resolveServerName)),
      })),
    );
    const forwarders = await Promise.all(
      config.forward.map((text) => resolveServerName(parseServer(text, 53))),
    );
    const rootServers = config.rootHints
      ? parseRootHints(
        await Deno.readTextFile(config.rootHints),
        config.rootHints,
        config.upstreamPort ?? 53,
      )
      : BUILTIN_ROOT_SERVERS.map((address) => ({ address, port: config.upstreamPort ?? 53 }));
    const cache = new RecordCache({
      cacheBytesMax: config.cacheBytesMax,
      staleTtlSec: config.staleTtlSec,
    });
    let warnedOutside = false;
    const iterator = new Iterator(
      {
        rootServers,
        stubs,
        forwarders,
        upstreamPort: config.upstreamPort,
        localOnly: config.localOnly,
        onRefusedOutside: (name) => {
          if (warnedOutside) return;
          warnedOutside = true;
          log.warn(
            "refused {name}: outside the local zones (--local-only); --forward ADDR:PORT " +
              "or dropping --local-only resolves such names",
            { name },
          );
        },
        limits: {
          ...DEFAULT_RESOLVER_LIMITS,
          queryTimeoutMs: config.queryTimeoutMs,
          resolutionTimeoutMs: config.resolutionTimeoutMs,
        },
      },
      new UdpTcpTransport({ use0x20: config.use0x20 }),
      cache,
      new ServerStats(),
    );
    const recursive = new RecursiveService(
      { iterator, cache, acl: new AccessList(config.allow) },
      {
        staleWaitMs: config.staleTtlSec > 0 ? config.staleWaitMs : 0,
        prefetchPercent: config.prefetchPercent,
      },
    );
    const toReply = (answered: Answered | undefined): DnsReply => {
      if (answered?.failure) log.info("SERVFAIL: {reason}", { reason: answered.failure });
      return answered?.reply;
    };
    const handler: DnsHandler = (query, client) => {
      const answered = recursive.answer(query, client);
      return answered instanceof Promise ? answered.then(toReply) : toReply(answered);
    };
    const server = serveDns({
      label: "resolver service port",
      hostname: config.host,
      port: config.port,
      handler,
      recursionAvailable: true,
      limits: {
        ...DEFAULT_DNS_SERVER_LIMITS,
        connectionsMax: config.tcpConnectionsMax,
        idleTimeoutMs: config.tcpIdleTimeoutMs,
      },
      log,
    });
    const registry = resolverMetrics(recursive, cache, server.stats);
    registerTransportMetrics(registry, { prefix: "resolver", server });
    let admin;
    try {
      admin = startAdminServer({
        hostname: config.host,
        port: adminPortOf(config),
        checks: () => resolverChecks({ stubs, forwarders, rootServers, cache, config }),
        registry,
      });
    } catch (error) {
      await server.close();
      throw error;
    }
    if (config.localOnly) {
      log.info(
        "local-only: answering {zones} and {rest}; --forward ADDR:PORT or dropping --local-only " +
          "resolves names beyond them",
        {
          zones: stubs.length > 0 ? stubs.map((stub) => stub.zone).join(", ") : "no zones",
          rest: forwarders.length > 0
            ? "forwarding the rest"
            : "refusing every other name (nothing is sent upstream)",
        },
      );
    }
    for (const stub of stubs) {
      log.info("stub zone {zone} -> {servers}", {
        zone: stub.zone,
        servers: stub.servers.map((s) => `${s.address}:${s.port}`).join(", "),
      });
    }
    const close = async () => {
      await server.close(config.drainTimeoutMs);
      await recursive.settle();
      await admin.close();
    };
    return {
      addresses: { udp: server.udpAddress, tcp: server.tcpAddress, admin: admin.addr },
      ready: Promise.resolve(),
      close,
      [Symbol.asyncDispose]: close,
    };
  },
});

/**
 * /healthz: whether the resolver can answer at all. It needs somewhere to
 * send questions (stub zones, forwarders, or root hints when not local-only)
 * and a cache within its memory bound.
 */
function resolverChecks(parts: {
  stubs: readonly StubZone[];
  forwarders: readonly ServerAddress[];
  rootServers: readonly ServerAddress[];
  cache: RecordCache;
  config: { localOnly: boolean; cacheBytesMax: number };
}): Record<string, CheckResult> {
  const { stubs, forwarders, rootServers, cache, config } = parts;
  const sources = [
    stubs.length > 0 ? `${stubs.length} stub zone(s)` : "",
    forwarders.length > 0 ? `${forwarders.length} forwarder(s)` : "",
    !config.localOnly && forwarders.length === 0 ? `${rootServers.length} root server(s)` : "",
  ].filter((text) => text !== "");
  const bytes = cache.stats().bytes;
  return {
    upstreams: sources.length > 0
      ? { ok: true, detail: sources.join(", ") + (config.localOnly ? " (local-only)" : "") }
      : {
        ok: false,
        detail: "local-only with no --stub zones and no --forward: nothing to answer",
      },
    cache: bytes <= config.cacheBytesMax
      ? { ok: true, detail: `${bytes} of ${config.cacheBytesMax} bytes` }
      : { ok: false, detail: `${bytes} bytes, over the bound of ${config.cacheBytesMax}` },
  };
}

/** "example.com=127.0.0.1:1053,127.0.0.2" */
export function parseStub(text: string): StubZone {
  const eq = text.indexOf("=");
  if (eq <= 0) throw new SyntaxError(`--stub: expected ZONE=ADDR[:PORT], got "${text}"`);
  const zone = parseName(
    text.slice(0, eq).endsWith(".") ? text.slice(0, eq) : text.slice(0, eq) + ".",
  );
  const servers = text.slice(eq + 1).split(",").map((s) => parseServer(s, 53));
  return { zone, servers };
}

/** "127.0.0.1", "127.0.0.1:1053", "[::1]:53" or "::1". */
export function parseServer(text: string, defaultPort: number): ServerAddress {
  let address = text;
  let port = defaultPort;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) {
    address = bracketed[1];
    if (bracketed[2]) port = Number(bracketed[2]);
  } else if ((text.match(/:/g) ?? []).length === 1) {
    const [host, portText] = text.split(":");
    address = host;
    port = Number(portText);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535 || address === "") {
    throw new SyntaxError(`bad server address "${text}"`);
  }
  return { address, port };
}

/** The resolver's /metrics: its own counters and the cache's, read at scrape time. */
function resolverMetrics(
  recursive: RecursiveService,
  cache: RecordCache,
  server: DnsServerStats,
): MetricsRegistry {
  const registry = new MetricsRegistry();
  const queries = registry.counter("resolver_queries_total", "client queries received");
  const errors = registry.counter("resolver_error_replies_total", "replies by error rcode", [
    "rcode",
  ]);
  const stale = registry.counter("resolver_stale_answers_total", "answers served stale (RFC 8767)");
  const prefetches = registry.counter("resolver_prefetches_total", "background refreshes started");
  const lookups = registry.counter(
    "resolver_cache_lookups_total",
    "cache lookups by result (reply: the encoded-reply cache)",
    [
      "result",
    ],
  );
  const evictions = registry.counter(
    "resolver_cache_evictions_total",
    "entries evicted for memory",
  );
  const entries = registry.gauge("resolver_cache_entries", "entries in the cache");
  const bytes = registry.gauge("resolver_cache_bytes", "estimated bytes held by the cache");
  registry.onCollect(() => {
    const s = recursive.stats;
    // Counted by the server loop, whose triage answers some queries itself.
    syncCounter(queries, server.udpQueries + server.tcpQueries);
    for (const rcode of [Rcode.FORMERR, Rcode.SERVFAIL, Rcode.NOTIMP, Rcode.REFUSED]) {
      syncCounter(errors, server.rcodes[rcode], { rcode: rcodeName(rcode) });
    }
    syncCounter(stale, s.staleAnswers);
    syncCounter(prefetches, s.prefetches);
    const c = cache.stats();
    syncCounter(lookups, s.replyCacheHits, { result: "reply" });
    syncCounter(lookups, c.hits, { result: "hit" });
    syncCounter(lookups, c.staleHits, { result: "stale" });
    syncCounter(lookups, c.misses, { result: "miss" });
    syncCounter(evictions, c.evictions);
    entries.set(undefined, c.entries);
    bytes.set(undefined, c.bytes);
  });
  return registry;
}

/**
 * Turns a server given by name ("dns:1053" in compose) into its address,
 * once at start: upstream replies are matched on their source address, so
 * the resolver must know the address it sends to.
 */
async function resolveServerName(server: ServerAddress): Promise<ServerAddress> {
  if (parseAddress(server.address) !== undefined) return server;
  if (server.address === "localhost") return { ...server, address: "127.0.0.1" };
  const [address] = await Deno.resolveDns(server.address, "A");
  if (address === undefined) throw new Error(`no address for upstream server "${server.address}"`);
  return { ...server, address };
}
