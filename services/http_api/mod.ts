// The `http-api` service: the spells REST JSON API (app.ts) on lib/http's
// server, standing on the datastore (SQL over the PostgreSQL wire
// protocol), the cache (RESP, cache-aside), the mq (STOMP, spell.created)
// and the object store (S3, images). The stack runs two copies (8001, 8002)
// behind the lb. See docs/http_api.md.
//
// /healthz (alive), /readyz (a check per dependency, with its latency) and
// /metrics are on the API port, where the lb checks them, and on the admin
// port (port + 10000) as on every service. Start does not wait for the
// dependencies: it listens at once, creates the schema and the image bucket
// when they answer, and each dependency reconnects by itself (pool.ts).

import type { AdminServer } from "../../lib/admin.ts";
import { startAdminServer } from "../../lib/admin.ts";
import { type ConfigOf, type FlagSpecs, UsageError } from "../../lib/cli.ts";
import { HttpClient } from "../../lib/http/client.ts";
import { serveHttp } from "../../lib/http/server.ts";
import { logger } from "../../lib/log.ts";
import { MetricsRegistry } from "../../lib/metrics.ts";
import { S3Client } from "../../lib/s3/client.ts";
import { adminPortOf, commonFlags, defineService, type ServiceHandle } from "../../lib/service.ts";
import { type ApiDeps, apiMetrics, ensureBucket, readiness, spellsApi } from "./app.ts";
import { SpellCache } from "./cache.ts";
import { SpellsTable } from "./datastore.ts";
import { EventPublisher } from "./events.ts";
import { OutboxRelay } from "./outbox.ts";
import { describe } from "./pool.ts";

export const HTTP_API_PORT = 8001;

export const httpApiFlags = {
  ...commonFlags("http-api", HTTP_API_PORT),
  datastore: {
    type: "string",
    default: "127.0.0.1:8004",
    help: "the datastore (PostgreSQL wire protocol) as ADDR:PORT",
  },
  "datastore-user": { type: "string", default: "spells", help: "user to connect as" },
  "datastore-password": {
    type: "string",
    help: "password for the datastore (when it runs with --password)",
  },
  "datastore-database": { type: "string", default: "spells", help: "database name" },
  "datastore-connections": {
    type: "integer",
    default: 4,
    help: "connections to the datastore at most",
  },
  cache: { type: "string", default: "127.0.0.1:8005", help: "the cache (RESP) as ADDR:PORT" },
  "cache-password": { type: "string", help: "AUTH password for the cache (its --requirepass)" },
  "cache-ttl-ms": {
    type: "integer",
    default: 60_000,
    help: "how long a spell stays in the cache (bounds staleness when an invalidation is lost)",
  },
  mq: { type: "string", default: "127.0.0.1:8006", help: "the mq (STOMP) as ADDR:PORT" },
  "mq-timeout-ms": {
    type: "integer",
    default: 2_000,
    help: "time for connecting to the mq and for each event's receipt",
  },
  "outbox-interval-ms": {
    type: "integer",
    default: 1_000,
    help: "how often unpublished spell.created events are looked for and relayed",
  },
  "mq-user": { type: "string", help: "STOMP login (the mq's --user)" },
  "mq-password": { type: "string", help: "STOMP passcode (the mq's --password)" },
  objects: {
    type: "string",
    default: "http://127.0.0.1:8007",
    help: "the object store's S3 endpoint URL",
  },
  "objects-access-key": {
    type: "string",
    default: "underhood",
    help: "S3 access key id (the objects service's --access-key)",
  },
  "objects-secret-key": {
    type: "string",
    default: "underhood-secret-key",
    help: "S3 secret access key (the objects service's --secret-key)",
  },
  "objects-region": { type: "string", default: "us-east-1", help: "S3 region to sign for" },
  "images-bucket": {
    type: "string",
    default: "spell-images",
    help: "bucket the spell images go in (created if missing)",
  },
} as const satisfies FlagSpecs;

/** "127.0.0.1:8004" as hostname and port; a UsageError naming the flag otherwise. */
export function parseHostPort(text: string, flag: string): { hostname: string; port: number } {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/.exec(text);
  const port = match === null ? NaN : Number(match[2]);
  if (match === null || port < 1 || port > 65535) {
    throw new UsageError(`--${flag} ${text}: expected ADDR:PORT, e.g. 127.0.0.1:8004`);
  }
  return { hostname: match[1].replace(/^\[|\]$/g, ""), port };
}

export const service = defineService({
  name: "http-api",
  summary: "the spells REST JSON API over HTTP/1.1 (port 8001)",
  flags: httpApiFlags,
  start: startHttpApi,
});

export type HttpApiConfig = ConfigOf<typeof httpApiFlags>;

export async function startHttpApi(config: HttpApiConfig): Promise<ServiceHandle> {
  const log = logger("http-api");
  const datastore = parseHostPort(config.datastore, "datastore");
  const cacheAddress = parseHostPort(config.cache, "cache");
  const mqAddress = parseHostPort(config.mq, "mq");
  if (config.cacheTtlMs < 1) throw new UsageError("--cache-ttl-ms must be at least 1");
  if (config.mqTimeoutMs < 1) throw new UsageError("--mq-timeout-ms must be at least 1");
  if (config.outboxIntervalMs < 1) throw new UsageError("--outbox-interval-ms must be at least 1");
  if (config.datastoreConnections < 1) {
    throw new UsageError("--datastore-connections must be at least 1");
  }
  const http = new HttpClient({ connectTimeoutMs: 2_000, headerTimeoutMs: 10_000 });
  const deps: ApiDeps = {
    log,
    registry: new MetricsRegistry(),
    spells: new SpellsTable({
      ...datastore,
      user: config.datastoreUser,
      password: config.datastorePassword,
      database: config.datastoreDatabase,
      poolSize: config.datastoreConnections,
      log,
    }),
    cache: new SpellCache({
      ...cacheAddress,
      password: config.cachePassword,
      ttlMs: config.cacheTtlMs,
      log,
    }),
    events: new EventPublisher({
      ...mqAddress,
      login: config.mqUser,
      passcode: config.mqPassword,
      timeoutMs: config.mqTimeoutMs,
      log,
    }),
    // A publish takes at most a connect and a receipt, each within the timeout.
    eventClaimMs: 3 * config.mqTimeoutMs,
    images: {
      s3: new S3Client({
        endpoint: config.objects,
        credentials: { accessKey: config.objectsAccessKey, secretKey: config.objectsSecretKey },
        region: config.objectsRegion,
        http,
      }),
      bucket: config.imagesBucket,
    },
  };
  const metrics = apiMetrics(deps.registry, () => deps);
  const relay = new OutboxRelay({
    spells: deps.spells,
    events: deps.events,
    log,
    intervalMs: config.outboxIntervalMs,
    claimMs: deps.eventClaimMs,
    onRelayed: () => metrics.eventsRelayed.inc(),
  });
  const handler = spellsApi(deps, metrics);
  const server = serveHttp({
    hostname: config.host,
    port: config.port,
    handler,
    registry: deps.registry,
    name: "http-api",
    label: "http-api port",
  });
  let admin: AdminServer;
  try {
    admin = startAdminServer({
      hostname: config.host,
      port: adminPortOf(config),
      label: "http-api admin port",
      registry: deps.registry,
      readiness: () => readiness(deps),
    });
  } catch (error) {
    await server.close(0);
    throw error;
  }
  // Not awaited: the API listens at once and makes these when their services answer.
  deps.spells.ensureReady().catch((error) =>
    log.warn(
      "datastore not reachable at start ({error}); the schema is made at the first request",
      {
        error: describe(error),
      },
    )
  );
  ensureBucket(deps.images).catch((error) =>
    log.warn("objects not reachable at start ({error}); the bucket is made at the first upload", {
      error: describe(error),
    })
  );
  relay.start();
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      await server.close(config.drainTimeoutMs);
      await admin.close();
      await relay.close();
      deps.spells.close();
      deps.cache.close();
      await deps.events.close();
      await http.close();
    })();
  return {
    addresses: { http: server.addr, admin: admin.addr },
    ready: Promise.resolve(),
    close,
    [Symbol.asyncDispose]: close,
  };
}
