// The `cache` service: an in-memory key-value store over the Redis protocol
// (RESP2, and RESP3 after HELLO 3), with TTLs, --maxmemory eviction,
// transactions, pub/sub and blocking list pops. See docs/cache.md.

import type { FlagSpecs } from "../../lib/cli.ts";
import { logger } from "../../lib/log.ts";
import { commonFlags, defineService, type ServiceHandle } from "../../lib/service.ts";
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
    let closing: Promise<void> | undefined;
    const close = () => closing ??= server.close();
    return Promise.resolve({
      addresses: { tcp },
      ready: Promise.resolve(),
      close,
      [Symbol.asyncDispose]: close,
    });
  },
});
