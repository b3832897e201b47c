// Redis 7.0's configuration parameters, every one `CONFIG GET *` lists on
// redis-server 7.0.15, with their defaults (redis.conf), how CONFIG SET
// checks a value (config.c's types: bool, int and memory with their
// bounds, enum with its names, plain strings, and a few with their own
// syntax), which ones are immutable at run time or protected, and the old
// names Redis still accepts (slave-*, *-ziplist-*, lua-time-limit, slaveof).
// The table was read off redis-server itself: CONFIG SET of each parameter
// with its own value, with "x", and with out-of-range numbers, whose error
// texts name the type and bounds (tests/services/cache/config_test.ts
// compares every answer with redis-server's).
//
// CONFIG GET answers them all and CONFIG SET accepts every value Redis
// accepts, so client libraries and test harnesses that set encoding
// thresholds or replication options before they start work unchanged. The
// parameters that mean something here (maxmemory, maxmemory-policy,
// timeout, requirepass, maxclients, client-query-buffer-limit,
// client-output-buffer-limit, proto-max-bulk-len, notify-keyspace-events,
// slowlog-*) are applied by CONFIG SET in commands/server.ts; the rest are
// stored. Instance values (port, bind, dir, databases, maxclients ...) are
// set by the server at start.

/** How Redis parses a parameter's value (config.c). */
export type ConfigKind = "int" | "memory" | "bool" | "enum" | "string" | "special";

export interface StandardConfig {
  readonly name: string;
  readonly kind: ConfigKind;
  /** The default, as CONFIG GET shows it. */
  readonly value: string;
  /** The older name Redis still accepts for it (one value under both). */
  readonly alias?: string;
  /** Bounds of an int or memory parameter, inclusive. */
  readonly min?: bigint;
  readonly max?: bigint;
  /** The names an enum parameter takes, in Redis's order (its error lists them). */
  readonly values?: readonly string[];
  /** Set only at start ("can't set immutable config"). */
  readonly immutable?: true;
  /** Refused while enable-protected-configs is no, its default ("can't set protected config"). */
  readonly protected?: true;
}

export const STANDARD_CONFIG: readonly StandardConfig[] = [
  {
    name: "acl-pubsub-default",
    kind: "enum",
    value: "resetchannels",
    values: ["allchannels", "resetchannels"],
  },
  { name: "aclfile", kind: "string", value: "", immutable: true },
  { name: "acllog-max-len", kind: "int", value: "128", min: 0n, max: 9223372036854775807n },
  { name: "active-defrag-cycle-max", kind: "int", value: "25", min: 1n, max: 99n },
  { name: "active-defrag-cycle-min", kind: "int", value: "1", min: 1n, max: 99n },
  { name: "active-defrag-ignore-bytes", kind: "memory", value: "104857600", min: 1n },
  {
    name: "active-defrag-max-scan-fields",
    kind: "int",
    value: "1000",
    min: 1n,
    max: 9223372036854775807n,
  },
  { name: "active-defrag-threshold-lower", kind: "int", value: "10", min: 0n, max: 1000n },
  { name: "active-defrag-threshold-upper", kind: "int", value: "100", min: 0n, max: 1000n },
  { name: "active-expire-effort", kind: "int", value: "1", min: 1n, max: 10n },
  { name: "activedefrag", kind: "bool", value: "no" },
  { name: "activerehashing", kind: "bool", value: "yes" },
  { name: "always-show-logo", kind: "string", value: "no", immutable: true },
  { name: "aof-disable-auto-gc", kind: "bool", value: "no" },
  { name: "aof-load-truncated", kind: "bool", value: "yes" },
  { name: "aof-rewrite-incremental-fsync", kind: "bool", value: "yes" },
  { name: "aof-timestamp-enabled", kind: "bool", value: "no" },
  { name: "aof-use-rdb-preamble", kind: "bool", value: "yes" },
  { name: "aof_rewrite_cpulist", kind: "string", value: "", immutable: true },
  { name: "appenddirname", kind: "string", value: "appendonlydir", immutable: true },
  { name: "appendfilename", kind: "string", value: "appendonly.aof", immutable: true },
  { name: "appendfsync", kind: "enum", value: "everysec", values: ["everysec", "always", "no"] },
  { name: "appendonly", kind: "bool", value: "no" },
  { name: "auto-aof-rewrite-min-size", kind: "memory", value: "67108864" },
  { name: "auto-aof-rewrite-percentage", kind: "int", value: "100", min: 0n, max: 2147483647n },
  { name: "bgsave_cpulist", kind: "string", value: "", immutable: true },
  { name: "bind", kind: "special", value: "* -::*" },
  { name: "bind-source-addr", kind: "string", value: "" },
  { name: "bio_cpulist", kind: "string", value: "", immutable: true },
  {
    name: "busy-reply-threshold",
    alias: "lua-time-limit",
    kind: "int",
    value: "5000",
    min: 0n,
    max: 9223372036854775807n,
  },
  {
    name: "client-output-buffer-limit",
    kind: "special",
    value: "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
  },
  { name: "client-query-buffer-limit", kind: "memory", value: "1073741824", min: 1048576n },
  { name: "cluster-allow-pubsubshard-when-down", kind: "bool", value: "yes" },
  { name: "cluster-allow-reads-when-down", kind: "bool", value: "no" },
  { name: "cluster-allow-replica-migration", kind: "bool", value: "yes" },
  { name: "cluster-announce-bus-port", kind: "int", value: "0", min: 0n, max: 65535n },
  { name: "cluster-announce-hostname", kind: "string", value: "" },
  { name: "cluster-announce-ip", kind: "string", value: "" },
  { name: "cluster-announce-port", kind: "int", value: "0", min: 0n, max: 65535n },
  { name: "cluster-announce-tls-port", kind: "int", value: "0", min: 0n, max: 65535n },
  { name: "cluster-config-file", kind: "string", value: "nodes.conf", immutable: true },
  { name: "cluster-enabled", kind: "string", value: "no", immutable: true },
  { name: "cluster-link-sendbuf-limit", kind: "memory", value: "0" },
  { name: "cluster-migration-barrier", kind: "int", value: "1", min: 0n, max: 2147483647n },
  { name: "cluster-node-timeout", kind: "int", value: "15000", min: 0n, max: 9223372036854775807n },
  { name: "cluster-port", kind: "string", value: "0", immutable: true },
  {
    name: "cluster-preferred-endpoint-type",
    kind: "enum",
    value: "ip",
    values: ["ip", "hostname", "unknown-endpoint"],
  },
  {
    name: "cluster-replica-no-failover",
    alias: "cluster-slave-no-failover",
    kind: "bool",
    value: "no",
  },
  {
    name: "cluster-replica-validity-factor",
    alias: "cluster-slave-validity-factor",
    kind: "int",
    value: "10",
    min: 0n,
    max: 2147483647n,
  },
  { name: "cluster-require-full-coverage", kind: "bool", value: "yes" },
  { name: "crash-log-enabled", kind: "bool", value: "yes" },
  { name: "crash-memcheck-enabled", kind: "bool", value: "yes" },
  { name: "daemonize", kind: "string", value: "no", immutable: true },
  { name: "databases", kind: "string", value: "16", immutable: true },
  { name: "dbfilename", kind: "string", value: "dump.rdb", protected: true },
  { name: "dir", kind: "string", value: "", protected: true },
  { name: "disable-thp", kind: "string", value: "yes", immutable: true },
  { name: "dynamic-hz", kind: "bool", value: "yes" },
  { name: "enable-debug-command", kind: "string", value: "no", immutable: true },
  { name: "enable-module-command", kind: "string", value: "no", immutable: true },
  {
    name: "enable-protected-configs",
    kind: "string",
    value: "no",
    immutable: true,
    protected: true,
  },
  {
    name: "hash-max-listpack-entries",
    alias: "hash-max-ziplist-entries",
    kind: "int",
    value: "512",
    min: 0n,
    max: 9223372036854775807n,
  },
  { name: "hash-max-listpack-value", alias: "hash-max-ziplist-value", kind: "memory", value: "64" },
  { name: "hll-sparse-max-bytes", kind: "memory", value: "3000" },
  { name: "hz", kind: "int", value: "10", min: 0n, max: 2147483647n },
  { name: "ignore-warnings", kind: "string", value: "" },
  { name: "io-threads", kind: "string", value: "1", immutable: true },
  { name: "io-threads-do-reads", kind: "string", value: "no", immutable: true },
  { name: "jemalloc-bg-thread", kind: "bool", value: "yes" },
  {
    name: "latency-monitor-threshold",
    kind: "int",
    value: "0",
    min: 0n,
    max: 9223372036854775807n,
  },
  { name: "latency-tracking", kind: "bool", value: "yes" },
  { name: "latency-tracking-info-percentiles", kind: "special", value: "50 99 99.9" },
  { name: "lazyfree-lazy-eviction", kind: "bool", value: "no" },
  { name: "lazyfree-lazy-expire", kind: "bool", value: "no" },
  { name: "lazyfree-lazy-server-del", kind: "bool", value: "no" },
  { name: "lazyfree-lazy-user-del", kind: "bool", value: "no" },
  { name: "lazyfree-lazy-user-flush", kind: "bool", value: "no" },
  { name: "lfu-decay-time", kind: "int", value: "1", min: 0n, max: 2147483647n },
  { name: "lfu-log-factor", kind: "int", value: "10", min: 0n, max: 2147483647n },
  { name: "list-compress-depth", kind: "int", value: "0", min: 0n, max: 2147483647n },
  {
    name: "list-max-listpack-size",
    alias: "list-max-ziplist-size",
    kind: "int",
    value: "-2",
    min: -2147483648n,
    max: 2147483647n,
  },
  { name: "logfile", kind: "string", value: "", immutable: true },
  {
    name: "loglevel",
    kind: "enum",
    value: "notice",
    values: ["debug", "verbose", "notice", "warning"],
  },
  { name: "masterauth", kind: "string", value: "" },
  { name: "masteruser", kind: "string", value: "" },
  { name: "maxclients", kind: "int", value: "10000", min: 1n, max: 4294967295n },
  { name: "maxmemory", kind: "memory", value: "0" },
  { name: "maxmemory-clients", kind: "special", value: "0" },
  { name: "maxmemory-eviction-tenacity", kind: "int", value: "10", min: 0n, max: 100n },
  {
    name: "maxmemory-policy",
    kind: "enum",
    value: "noeviction",
    values: [
      "volatile-lru",
      "volatile-lfu",
      "volatile-random",
      "volatile-ttl",
      "allkeys-lru",
      "allkeys-lfu",
      "allkeys-random",
      "noeviction",
    ],
  },
  { name: "maxmemory-samples", kind: "int", value: "5", min: 1n, max: 2147483647n },
  {
    name: "min-replicas-max-lag",
    alias: "min-slaves-max-lag",
    kind: "int",
    value: "10",
    min: 0n,
    max: 2147483647n,
  },
  {
    name: "min-replicas-to-write",
    alias: "min-slaves-to-write",
    kind: "int",
    value: "0",
    min: 0n,
    max: 2147483647n,
  },
  { name: "no-appendfsync-on-rewrite", kind: "bool", value: "no" },
  { name: "notify-keyspace-events", kind: "special", value: "" },
  {
    name: "oom-score-adj",
    kind: "enum",
    value: "no",
    values: ["no", "yes", "relative", "absolute"],
  },
  { name: "oom-score-adj-values", kind: "special", value: "0 200 800" },
  { name: "pidfile", kind: "string", value: "", immutable: true },
  { name: "port", kind: "special", value: "0" },
  { name: "proc-title-template", kind: "string", value: "{title} {listen-addr} {server-mode}" },
  {
    name: "propagation-error-behavior",
    kind: "enum",
    value: "ignore",
    values: ["ignore", "panic", "panic-on-replicas"],
  },
  { name: "protected-mode", kind: "bool", value: "yes" },
  { name: "proto-max-bulk-len", kind: "memory", value: "536870912", min: 1048576n },
  { name: "rdb-del-sync-files", kind: "bool", value: "no" },
  { name: "rdb-save-incremental-fsync", kind: "bool", value: "yes" },
  { name: "rdbchecksum", kind: "string", value: "yes", immutable: true },
  { name: "rdbcompression", kind: "bool", value: "yes" },
  { name: "repl-backlog-size", kind: "memory", value: "1048576", min: 1n },
  { name: "repl-backlog-ttl", kind: "int", value: "3600", min: 0n, max: 9223372036854775807n },
  { name: "repl-disable-tcp-nodelay", kind: "bool", value: "no" },
  {
    name: "repl-diskless-load",
    kind: "enum",
    value: "disabled",
    values: ["disabled", "on-empty-db", "swapdb"],
  },
  { name: "repl-diskless-sync", kind: "bool", value: "yes" },
  { name: "repl-diskless-sync-delay", kind: "int", value: "5", min: 0n, max: 2147483647n },
  { name: "repl-diskless-sync-max-replicas", kind: "int", value: "0", min: 0n, max: 2147483647n },
  {
    name: "repl-ping-replica-period",
    alias: "repl-ping-slave-period",
    kind: "int",
    value: "10",
    min: 1n,
    max: 2147483647n,
  },
  { name: "repl-timeout", kind: "int", value: "60", min: 1n, max: 2147483647n },
  { name: "replica-announce-ip", alias: "slave-announce-ip", kind: "string", value: "" },
  {
    name: "replica-announce-port",
    alias: "slave-announce-port",
    kind: "int",
    value: "0",
    min: 0n,
    max: 65535n,
  },
  { name: "replica-announced", kind: "bool", value: "yes" },
  { name: "replica-ignore-disk-write-errors", kind: "bool", value: "no" },
  { name: "replica-ignore-maxmemory", alias: "slave-ignore-maxmemory", kind: "bool", value: "yes" },
  { name: "replica-lazy-flush", alias: "slave-lazy-flush", kind: "bool", value: "no" },
  {
    name: "replica-priority",
    alias: "slave-priority",
    kind: "int",
    value: "100",
    min: 0n,
    max: 2147483647n,
  },
  { name: "replica-read-only", alias: "slave-read-only", kind: "bool", value: "yes" },
  { name: "replica-serve-stale-data", alias: "slave-serve-stale-data", kind: "bool", value: "yes" },
  { name: "replicaof", alias: "slaveof", kind: "string", value: "", immutable: true },
  { name: "requirepass", kind: "string", value: "" },
  { name: "sanitize-dump-payload", kind: "enum", value: "no", values: ["no", "yes", "clients"] },
  { name: "save", kind: "special", value: "" },
  { name: "server_cpulist", kind: "string", value: "", immutable: true },
  { name: "set-max-intset-entries", kind: "int", value: "512", min: 0n, max: 9223372036854775807n },
  { name: "set-proc-title", kind: "string", value: "yes", immutable: true },
  {
    name: "shutdown-on-sigint",
    kind: "enum",
    value: "default",
    values: ["default", "save", "nosave", "now", "force"],
  },
  {
    name: "shutdown-on-sigterm",
    kind: "enum",
    value: "default",
    values: ["default", "save", "nosave", "now", "force"],
  },
  { name: "shutdown-timeout", kind: "int", value: "10", min: 0n, max: 2147483647n },
  {
    name: "slowlog-log-slower-than",
    kind: "int",
    value: "10000",
    min: -1n,
    max: 9223372036854775807n,
  },
  { name: "slowlog-max-len", kind: "int", value: "128", min: 0n, max: 9223372036854775807n },
  { name: "socket-mark-id", kind: "string", value: "0", immutable: true },
  { name: "stop-writes-on-bgsave-error", kind: "bool", value: "yes" },
  { name: "stream-node-max-bytes", kind: "memory", value: "4096" },
  {
    name: "stream-node-max-entries",
    kind: "int",
    value: "100",
    min: 0n,
    max: 9223372036854775807n,
  },
  { name: "supervised", kind: "string", value: "no", immutable: true },
  { name: "syslog-enabled", kind: "string", value: "no", immutable: true },
  { name: "syslog-facility", kind: "string", value: "local0", immutable: true },
  { name: "syslog-ident", kind: "string", value: "redis", immutable: true },
  { name: "tcp-backlog", kind: "string", value: "511", immutable: true },
  { name: "tcp-keepalive", kind: "int", value: "300", min: 0n, max: 2147483647n },
  { name: "timeout", kind: "int", value: "0", min: 0n, max: 2147483647n },
  { name: "tls-auth-clients", kind: "enum", value: "yes", values: ["no", "yes", "optional"] },
  { name: "tls-ca-cert-dir", kind: "string", value: "" },
  { name: "tls-ca-cert-file", kind: "string", value: "" },
  { name: "tls-cert-file", kind: "string", value: "" },
  { name: "tls-ciphers", kind: "string", value: "" },
  { name: "tls-ciphersuites", kind: "string", value: "" },
  { name: "tls-client-cert-file", kind: "string", value: "" },
  { name: "tls-client-key-file", kind: "string", value: "" },
  { name: "tls-client-key-file-pass", kind: "string", value: "" },
  { name: "tls-cluster", kind: "bool", value: "no" },
  { name: "tls-dh-params-file", kind: "string", value: "" },
  { name: "tls-key-file", kind: "string", value: "" },
  { name: "tls-key-file-pass", kind: "string", value: "" },
  { name: "tls-port", kind: "int", value: "0", min: 0n, max: 65535n },
  { name: "tls-prefer-server-ciphers", kind: "bool", value: "no" },
  { name: "tls-protocols", kind: "string", value: "" },
  { name: "tls-replication", kind: "bool", value: "no" },
  { name: "tls-session-cache-size", kind: "int", value: "20480", min: 0n, max: 2147483647n },
  { name: "tls-session-cache-timeout", kind: "int", value: "300", min: 0n, max: 2147483647n },
  { name: "tls-session-caching", kind: "bool", value: "yes" },
  {
    name: "tracking-table-max-keys",
    kind: "int",
    value: "1000000",
    min: 0n,
    max: 9223372036854775807n,
  },
  { name: "unixsocket", kind: "string", value: "", immutable: true },
  { name: "unixsocketperm", kind: "string", value: "0", immutable: true },
  {
    name: "zset-max-listpack-entries",
    alias: "zset-max-ziplist-entries",
    kind: "int",
    value: "128",
    min: 0n,
    max: 9223372036854775807n,
  },
  { name: "zset-max-listpack-value", alias: "zset-max-ziplist-value", kind: "memory", value: "64" },
];

/** Name or alias to its entry. */
export const STANDARD_CONFIG_BY_NAME: ReadonlyMap<string, StandardConfig> = new Map(
  STANDARD_CONFIG.flatMap((entry) =>
    entry.alias === undefined ? [[entry.name, entry]] : [[entry.name, entry], [entry.alias, entry]]
  ),
);

const INT64_MIN = -9223372036854775808n;
const INT64_MAX = 9223372036854775807n;

/** A memory value in bytes (memtoull: digits with an optional unit), or undefined. */
export function parseMemoryValue(text: string): bigint | undefined {
  const match = /^(\d+)(b|k|kb|m|mb|g|gb)?$/i.exec(text);
  if (!match) return undefined;
  const units: Record<string, bigint> = {
    b: 1n,
    k: 1000n,
    kb: 1024n,
    m: 1000n ** 2n,
    mb: 1024n ** 2n,
    g: 1000n ** 3n,
    gb: 1024n ** 3n,
  };
  const bytes = BigInt(match[1]) * units[(match[2] ?? "b").toLowerCase()];
  return bytes <= INT64_MAX ? bytes : undefined;
}

function boundsError(entry: StandardConfig, n: bigint): string | undefined {
  const min = entry.min ?? (entry.kind === "memory" ? 0n : INT64_MIN);
  const max = entry.max ?? INT64_MAX;
  if (n < min || n > max) return `argument must be between ${min} and ${max} inclusive`;
  return undefined;
}

/**
 * Redis's reason a value does not fit a parameter, or undefined when it
 * fits, for the kinds the table describes; "special" parameters are
 * checked by CONFIG SET itself.
 */
export function configValueError(entry: StandardConfig, value: string): string | undefined {
  switch (entry.kind) {
    case "int": {
      if (!/^-?\d{1,19}$/.test(value)) return "argument couldn't be parsed into an integer";
      const n = BigInt(value);
      if (n < INT64_MIN || n > INT64_MAX) return "argument couldn't be parsed into an integer";
      return boundsError(entry, n);
    }
    case "memory": {
      const bytes = parseMemoryValue(value);
      if (bytes === undefined) return "argument must be a memory value";
      return boundsError(entry, bytes);
    }
    case "bool":
      return /^(yes|no)$/i.test(value) ? undefined : "argument must be 'yes' or 'no'";
    case "enum":
      return entry.values!.includes(value.toLowerCase())
        ? undefined
        : `argument(s) must be one of the following: ${entry.values!.join(", ")}`;
    default:
      return undefined;
  }
}

/** The value as CONFIG GET shows it after CONFIG SET (memory in bytes, names in lower case). */
export function canonicalConfigValue(entry: StandardConfig, value: string): string {
  if (entry.kind === "memory") return String(parseMemoryValue(value));
  if (entry.kind === "bool" || entry.kind === "enum") return value.toLowerCase();
  if (entry.kind === "int") return String(BigInt(value));
  return value;
}
