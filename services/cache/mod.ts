// The `cache` service: an in-memory key-value store over the Redis protocol
// (RESP2, and RESP3 after HELLO 3), with TTLs, --maxmemory eviction,
// transactions, pub/sub and blocking list pops. See docs/cache.md.

import { type AdminServer, startAdminServer } from "../../lib/admin.ts";
import type { FlagSpecs } from "../../lib/cli.ts";
import { logger } from "../../lib/log.ts";
import { MetricsRegistry, syncCounter } from "../../lib/metrics.ts";
import { adminPortOf, commonFlags, defineService, type ServiceHandle } from "../../lib/service.ts";
import { parseMemory } from "./commands/server.ts";
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
    const server = new CacheServer({
      host: config.host,
      port: config.port,
      databases: config.databases,
      maxmemoryBytes,
      policy: config.maxmemoryPolicy as EvictionPolicy,
      requirepass: config.requirepass,
      log: logger("cache"),
    });
    const tcp = server.listen(config.host, config.port);
    let admin: AdminServer;
    try {
      admin = startAdminServer({
        hostname: config.host,
        port: adminPortOf(config),
        registry: cacheMetrics(server),
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
  registry.onCollect(() => {
    syncCounter(commands, server.stats.commands);
    syncCounter(connections, server.stats.connections);
    syncCounter(lookups, server.stats.keyspaceHits, { result: "hit" });
    syncCounter(lookups, server.stats.keyspaceMisses, { result: "miss" });
    syncCounter(expired, server.keyspace.expiredKeys);
    syncCounter(evicted, server.keyspace.evictedKeys);
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
