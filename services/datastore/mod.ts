// The `datastore` service: a persistent SQL row store over the PostgreSQL
// wire protocol (port 8004), so psql, drivers and pgbench work against it.
// The storage engine (storage/) keeps the rows, the SQL layer (sql/) plans
// and runs statements, session.ts speaks the protocol, server.ts serves it.
// See docs/datastore.md.

import { type AdminServer, type CheckResult, startAdminServer } from "../../lib/admin.ts";
import type { FlagSpecs } from "../../lib/cli.ts";
import { logger } from "../../lib/log.ts";
import { linearRegexEngine, V8_FLAGS_ARG } from "../../lib/v8_flags.ts";
import { MetricsRegistry, syncCounter } from "../../lib/metrics.ts";
import { scramSecret } from "../../lib/pg/scram.ts";
import { adminPortOf, commonFlags, defineService, type ServiceHandle } from "../../lib/service.ts";
import { PgServer } from "./server.ts";
import { Database } from "./sql/executor.ts";
import { Engine } from "./storage/engine.ts";

export const DATASTORE_PORT = 8004;

/**
 * A checkpoint blocks the event loop (32 MiB of dirty pages: about 0.1 s on
 * a quiet disk, over a second on a busy one), so the service takes one
 * after this long with no transaction ending or open, once a quarter of a
 * bound is used, rather than wait for the bound to force one mid-burst:
 * after `pgbench -i` that forced checkpoint landed in the first seconds of
 * every benchmark run that followed. Short, so that the pauses of a busy
 * client count too; a checkpoint started just before a request delays it by
 * what the forced one would have cost later anyway.
 */
const IDLE_CHECKPOINT_MS = 20;

export const datastoreFlags = {
  ...commonFlags("datastore", DATASTORE_PORT),
  password: {
    type: "string",
    help: "password every client must give (SCRAM-SHA-256); default: trust, no password",
  },
  "max-connections": {
    type: "integer",
    default: 100,
    help: "open connections at most; past it clients get 53300 (PostgreSQL's max_connections)",
  },
  "statement-timeout-ms": {
    type: "integer",
    default: 0,
    help: "statement_timeout's default: a statement running longer fails with 57014; 0: none",
  },
  "buffer-pool-pages": {
    type: "integer",
    default: 4096,
    help: "pages of 8 KiB the storage engine keeps in memory",
  },
} as const satisfies FlagSpecs;

export const service = defineService({
  name: "datastore",
  summary: "persistent SQL row store over the PostgreSQL wire protocol (port 8004)",
  flags: datastoreFlags,
  async start(config): Promise<ServiceHandle> {
    if (config.maxConnections < 1) throw new RangeError("--max-connections must be at least 1");
    if (config.statementTimeoutMs < 0 || config.statementTimeoutMs > 2_147_483_647) {
      throw new RangeError("--statement-timeout-ms must be between 0 and 2147483647");
    }
    const log = logger("datastore");
    if (!linearRegexEngine()) {
      log.warn(
        `started without ${V8_FLAGS_ARG}: regular expressions that repeat a group holding ` +
          "alternation or an unbounded quantifier are refused (deno task datastore passes it)",
      );
    }
    const engine = await Engine.open({
      dir: config.dataDir,
      bufferPoolPages: config.bufferPoolPages,
      idleCheckpointMs: IDLE_CHECKPOINT_MS,
    });
    let server: PgServer;
    let admin: AdminServer;
    let db: Database;
    try {
      db = await Database.open(engine);
      const secret = config.password === undefined
        ? null
        : await scramSecret(config.password, crypto.getRandomValues(new Uint8Array(16)));
      server = new PgServer({
        db,
        hostname: config.host,
        port: config.port,
        connectionsMax: config.maxConnections,
        statementTimeoutMs: config.statementTimeoutMs,
        secret,
        log,
      });
    } catch (error) {
      await engine.close();
      throw error;
    }
    try {
      admin = startAdminServer({
        hostname: config.host,
        port: adminPortOf(config),
        label: "datastore admin port",
        registry: datastoreMetrics(server, engine),
        checks: () => datastoreChecks(server, engine, config.maxConnections),
      });
    } catch (error) {
      await server.close();
      await engine.close();
      throw error;
    }
    let closing: Promise<void> | undefined;
    const close = () =>
      closing ??= (async () => {
        await server.close(config.drainTimeoutMs);
        await admin.close();
        await db.close();
        await engine.close();
      })();
    return {
      addresses: { tcp: server.addr, admin: admin.addr },
      ready: Promise.resolve(),
      close,
      [Symbol.asyncDispose]: close,
    };
  },
});

/** /healthz and /readyz: recovery done (an open engine has recovered), connection slots. */
export function datastoreChecks(
  server: PgServer,
  engine: Engine,
  connectionsMax: number,
): Record<string, CheckResult> {
  const recovery = engine.recovery;
  const connected = server.sessions.size;
  return {
    recovery: {
      ok: recovery.done,
      detail: recovery.created
        ? "new data directory"
        : `${recovery.recordsReplayed} log records replayed, ${recovery.transactionsUndone} transactions undone`,
    },
    clients: {
      ok: connected < connectionsMax,
      detail: `${connected} of ${connectionsMax} connections`,
    },
  };
}

function datastoreMetrics(server: PgServer, engine: Engine): MetricsRegistry {
  const registry = new MetricsRegistry();
  const connections = registry.counter("datastore_connections_total", "connections accepted");
  const queries = registry.counter("datastore_queries_total", "Query and Execute messages");
  const commits = registry.counter(
    "datastore_commits_total",
    "engine transactions committed (with the empty ones reads commit to wait for durability)",
  );
  const rollbacks = registry.counter(
    "datastore_rollbacks_total",
    "engine transactions rolled back",
  );
  const fsyncs = registry.counter("datastore_fsyncs_total", "log fsyncs (group commit)");
  const checkpoints = registry.counter("datastore_checkpoints_total", "checkpoints taken");
  const idleCheckpoints = registry.counter(
    "datastore_idle_checkpoints_total",
    "checkpoints taken because the engine was idle",
  );
  const clients = registry.gauge("datastore_connected_clients", "open sessions");
  const lockWaiting = registry.gauge(
    "datastore_lock_waiting",
    "transactions waiting for a lock now",
  );
  const lockWaits = registry.counter("datastore_lock_waits_total", "lock requests that waited");
  const lockWaited = registry.counter(
    "datastore_lock_wait_seconds_total",
    "time the lock requests granted after a wait waited",
  );
  const deadlocks = registry.counter(
    "datastore_deadlocks_total",
    "transactions refused as deadlock victims",
  );
  registry.onCollect(() => {
    const stats = engine.stats();
    syncCounter(connections, server.stats.connections);
    syncCounter(queries, server.stats.queries);
    syncCounter(commits, stats.commits);
    syncCounter(rollbacks, stats.rollbacks);
    syncCounter(fsyncs, stats.fsyncs);
    syncCounter(checkpoints, stats.checkpoints);
    syncCounter(idleCheckpoints, stats.idleCheckpoints);
    clients.set(undefined, server.sessions.size);
    lockWaiting.set(undefined, stats.lockWaits);
    syncCounter(lockWaits, stats.lockWaitsTotal);
    syncCounter(lockWaited, stats.lockWaitedMs / 1000);
    syncCounter(deadlocks, stats.deadlocks);
  });
  return registry;
}
