// The `cache` service: an in-memory key-value store over the Redis protocol
// (RESP2, and RESP3 after HELLO 3), with TTLs, --maxmemory eviction,
// transactions, pub/sub and blocking list pops. See docs/cache.md.

import { fixMallocThreshold } from "../../lib/malloc_tuning.ts";
import { type AdminServer, type CheckResult, startAdminServer } from "../../lib/admin.ts";
import type { FlagSpecs } from "../../lib/cli.ts";
import { logger } from "../../lib/log.ts";
import { MetricsRegistry, syncCounter } from "../../lib/metrics.ts";
import { adminPortOf, commonFlags, defineService, type ServiceHandle } from "../../lib/service.ts";
import { parseMemory, TIMEOUT_SECONDS_MAX } from "./commands/server.ts";
import { EVICTION_POLICIES, type EvictionPolicy } from "./keyspace.ts";
import { CacheServer } from "./server.ts";

export const CACHE_PORT = 8005;

export const cacheFlags = {
  ...commonFlags("cache", CACHE_PORT),
  requirepass: { type: "string", help: "password clients must AUTH with (default: none)" },
  maxmemory: {
    type: "string",
    default: "0",
    help: "memory bound for data, e.g. 100mb (0: unbounded)",
  },
  "maxmemory-policy": {
    type: "string",
    default: "noeviction",
    choices: EVICTION_POLICIES,
    help: "what to evict past --maxmemory",
  },
  databases: { type: "integer", default: 16, help: "number of databases (SELECT 0..N-1)" },
  timeout: {
    type: "integer",
    default: 0,
    help: "close a client idle this many seconds, not blocked or subscribed (0: never)",
  },
  maxclients: {
    type: "integer",
    default: 10_000,
    help: "open connections at most; past it the longest-idle one is closed, else refused",
  },
} as const satisfies FlagSpecs;

export const service = defineService({
  name: "cache",
  summary: "in-memory key-value cache over the Redis protocol (port 8005)",
  flags: cacheFlags,
  start(config): Promise<ServiceHandle> {
    const maxmemoryBytes = parseMemory(config.maxmemory);
    if (maxmemoryBytes === undefined) {
      return Promise.reject(new TypeError(`--maxmemory: not a memory amount: ${config.maxmemory}`));
    }
    if (config.databases < 1 || config.databases > 10_000) {
      return Promise.reject(new RangeError("--databases must be between 1 and 10000"));
    }
    if (config.timeout < 0 || config.timeout > TIMEOUT_SECONDS_MAX) {
      return Promise.reject(
        new RangeError(`--timeout must be between 0 and ${TIMEOUT_SECONDS_MAX}`),
      );
    }
    if (config.maxclients < 1) {
      return Promise.reject(new RangeError("--maxclients must be at least 1"));
    }
    // A big command's buffers must not stay in the allocator's arenas (lib/malloc_tuning.ts).
    fixMallocThreshold();
    const server = new CacheServer({
      host: config.host,
      port: config.port,
      databases: config.databases,
      maxmemoryBytes,
      policy: config.maxmemoryPolicy as EvictionPolicy,
      requirepass: config.requirepass,
      idleTimeoutMs: config.timeout * 1000,
      drainTimeoutMs: config.drainTimeoutMs,
      limits: { connectionsMax: config.maxclients },
      log: logger("cache"),
    });
    const tcp = server.listen(config.host, config.port);
    let admin: AdminServer;
    try {
      admin = startAdminServer({
        hostname: config.host,
        port: adminPortOf(config),
        registry: cacheMetrics(server),
        checks: () => cacheChecks(server),
      });
    } catch (error) {
      return server.close().then(() => Promise.reject(error));
    }
    let closing: Promise<void> | undefined;
    const close = () => closing ??= server.close().then(() => admin.close());
    return Promise.resolve({
      addresses: { tcp, admin: admin.addr },
      ready: Promise.resolve(),
      close,
      [Symbol.asyncDispose]: close,
    });
  },
});

/**
 * The cache's /healthz checks, cheap enough for every probe:
 * - memory: fails only when used memory is over --maxmemory with the
 *   noeviction policy, the state in which writes are refused (under an
 *   eviction policy the bound is kept by evicting, which is normal work);
 * - keyspace: the number of keys, for the record (always ok);
 * - clients: fails when every connection slot is taken, so one more client
 *   would be refused unless an idle one can be closed.
 */
export function cacheChecks(server: CacheServer): Record<string, CheckResult> {
  const space = server.keyspace;
  const bound = space.maxmemoryBytes;
  const over = bound !== 0 && space.usedBytes > bound;
  let keys = 0;
  for (const db of space.dbs) keys += db.size;
  const connected = server.sessions.size;
  const cap = server.limits.connectionsMax;
  return {
    memory: {
      ok: !(over && space.policy === "noeviction"),
      detail: bound === 0
        ? `${space.usedBytes} bytes used, no maxmemory`
        : `${space.usedBytes} of ${bound} bytes used (${space.policy})`,
    },
    keyspace: { ok: true, detail: `${keys} keys` },
    clients: { ok: connected < cap, detail: `${connected} of ${cap} connections` },
  };
}

/** The cache's /metrics, read from the server at scrape time (as INFO reads them). */
function cacheMetrics(server: CacheServer): MetricsRegistry {
  const registry = new MetricsRegistry();
  const commands = registry.counter("cache_commands_total", "commands processed");
  const connections = registry.counter("cache_connections_total", "connections accepted");
  const lookups = registry.counter("cache_keyspace_lookups_total", "key lookups by result", [
    "result",
  ]);
  const expired = registry.counter("cache_expired_keys_total", "keys removed by expiry");
  const evicted = registry.counter("cache_evicted_keys_total", "keys removed for maxmemory");
  const clients = registry.gauge("cache_connected_clients", "open client connections");
  const keys = registry.gauge("cache_keys", "keys held, by database", ["db"]);
  const memory = registry.gauge("cache_used_memory_bytes", "memory accounted to data");
  const maxmemory = registry.gauge("cache_maxmemory_bytes", "the memory bound (0: none)");
  const refused = registry.counter(
    "cache_connections_refused_total",
    "clients refused at --maxclients with every connection busy",
  );
  const evictedClients = registry.counter(
    "cache_connections_evicted_total",
    "idle clients closed to make room at --maxclients",
  );
  registry.onCollect(() => {
    syncCounter(commands, server.stats.commands);
    syncCounter(connections, server.stats.connections);
    syncCounter(lookups, server.stats.keyspaceHits, { result: "hit" });
    syncCounter(lookups, server.stats.keyspaceMisses, { result: "miss" });
    syncCounter(expired, server.keyspace.expiredKeys);
    syncCounter(evicted, server.keyspace.evictedKeys);
    syncCounter(refused, server.connectionsRefused);
    syncCounter(evictedClients, server.connectionsEvicted);
    clients.set(undefined, server.sessions.size);
    for (const db of server.keyspace.dbs) {
      if (db.size > 0 || keys.value({ db: String(db.index) }) > 0) {
        keys.set({ db: String(db.index) }, db.size);
      }
    }
    memory.set(undefined, server.keyspace.usedBytes);
    maxmemory.set(undefined, server.keyspace.maxmemoryBytes);
  });
  return registry;
}
