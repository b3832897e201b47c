// Redis 7.0's standard configuration parameters that have no effect of
// their own here, with their defaults (redis.conf), so CONFIG GET answers
// and CONFIG SET accepts them as Redis does: client libraries and test
// setups set encoding thresholds (hash-max-listpack-entries ...) and
// notify-keyspace-events before they start. Values are checked the way
// Redis checks their type and then stored; the parameters that mean
// something here (maxmemory, timeout, requirepass, client-query-buffer-limit,
// client-output-buffer-limit ...) are applied by CONFIG SET in
// commands/server.ts. Renamed parameters keep their old names as aliases
// (the ziplist names of 6.2 for the listpack ones of 7.0).

/** How Redis parses a parameter's value. */
export type ConfigKind = "int" | "memory" | "bool" | "string";

export interface StandardConfig {
  readonly name: string;
  readonly kind: ConfigKind;
  readonly value: string;
  /** The older name Redis still accepts for it. */
  readonly alias?: string;
}

export const STANDARD_CONFIG: readonly StandardConfig[] = [
  {
    name: "hash-max-listpack-entries",
    alias: "hash-max-ziplist-entries",
    kind: "int",
    value: "512",
  },
  { name: "hash-max-listpack-value", alias: "hash-max-ziplist-value", kind: "int", value: "64" },
  { name: "list-max-listpack-size", alias: "list-max-ziplist-size", kind: "int", value: "-2" },
  { name: "list-compress-depth", kind: "int", value: "0" },
  { name: "set-max-intset-entries", kind: "int", value: "512" },
  {
    name: "zset-max-listpack-entries",
    alias: "zset-max-ziplist-entries",
    kind: "int",
    value: "128",
  },
  { name: "zset-max-listpack-value", alias: "zset-max-ziplist-value", kind: "int", value: "64" },
  { name: "hll-sparse-max-bytes", kind: "memory", value: "3000" },
  { name: "stream-node-max-bytes", kind: "memory", value: "4096" },
  { name: "stream-node-max-entries", kind: "int", value: "100" },
  { name: "activerehashing", kind: "bool", value: "yes" },
  { name: "activedefrag", kind: "bool", value: "no" },
  { name: "lazyfree-lazy-eviction", kind: "bool", value: "no" },
  { name: "lazyfree-lazy-expire", kind: "bool", value: "no" },
  { name: "lazyfree-lazy-server-del", kind: "bool", value: "no" },
  { name: "lazyfree-lazy-user-del", kind: "bool", value: "no" },
  { name: "lazyfree-lazy-user-flush", kind: "bool", value: "no" },
  { name: "notify-keyspace-events", kind: "string", value: "" },
  { name: "slowlog-log-slower-than", kind: "int", value: "10000" },
  { name: "slowlog-max-len", kind: "int", value: "128" },
  { name: "latency-monitor-threshold", kind: "int", value: "0" },
  { name: "hz", kind: "int", value: "10" },
  { name: "dynamic-hz", kind: "bool", value: "yes" },
  { name: "maxmemory-eviction-tenacity", kind: "int", value: "10" },
  { name: "lfu-log-factor", kind: "int", value: "10" },
  { name: "lfu-decay-time", kind: "int", value: "1" },
  { name: "active-expire-effort", kind: "int", value: "1" },
  { name: "tcp-keepalive", kind: "int", value: "300" },
  { name: "busy-reply-threshold", alias: "lua-time-limit", kind: "int", value: "5000" },
  { name: "appendfsync", kind: "string", value: "everysec" },
  { name: "loglevel", kind: "string", value: "notice" },
  { name: "tracking-table-max-keys", kind: "int", value: "1000000" },
  { name: "stop-writes-on-bgsave-error", kind: "bool", value: "yes" },
  { name: "rdbcompression", kind: "bool", value: "yes" },
  { name: "replica-read-only", alias: "slave-read-only", kind: "bool", value: "yes" },
  { name: "close-on-oom", kind: "bool", value: "no" },
];

/** Name or alias to its entry. */
export const STANDARD_CONFIG_BY_NAME: ReadonlyMap<string, StandardConfig> = new Map(
  STANDARD_CONFIG.flatMap((entry) =>
    entry.alias === undefined ? [[entry.name, entry]] : [[entry.name, entry], [entry.alias, entry]]
  ),
);

/** Redis's reason a value does not fit a parameter's type, or undefined when it fits. */
export function configValueError(kind: ConfigKind, value: string): string | undefined {
  if (kind === "int" && !/^-?\d{1,19}$/.test(value)) {
    return "argument couldn't be parsed into an integer";
  }
  if (kind === "memory" && !/^\d+(b|k|kb|m|mb|g|gb)?$/i.test(value)) {
    return "argument must be a memory value";
  }
  if (kind === "bool" && value !== "yes" && value !== "no") {
    return "argument must be 'yes' or 'no'";
  }
  return undefined;
}
