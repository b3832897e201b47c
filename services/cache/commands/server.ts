// Connection and server commands: PING ECHO QUIT RESET HELLO AUTH SELECT
// CLIENT INFO CONFIG COMMAND TIME, in Redis 7's formats (INFO sections as
// "# Server\r\nkey:value", CLIENT LIST lines, COMMAND INFO's ten fields),
// so redis-cli, redis-benchmark and client libraries are satisfied.
// Left out: ACL users (only "default"), CLIENT KILL/PAUSE/TRACKING,
// SAVE/BGSAVE (nothing is persisted), DEBUG, MONITOR, SLOWLOG.

import { CommandArgs } from "../../../lib/resp/codec.ts";
import type { Args } from "./context.ts";
import { BASELINE_BYTES, type EvictionPolicy } from "../keyspace.ts";
import process from "node:process";
import {
  canonicalConfigValue,
  configValueError,
  STANDARD_CONFIG_BY_NAME,
  type StandardConfig,
} from "../config.ts";
import { formatNotifyFlags, parseNotifyFlags } from "../notify.ts";
import { globMatch, parseInteger, toKey } from "../values.ts";
import { intArg } from "./args.ts";
import {
  arityError,
  command,
  type CommandSpec,
  type Ctx,
  fail,
  lower,
  type Session,
  SYNTAX,
} from "./context.ts";

/** What we tell clients we are: Redis 7.0-compatible. */
export const REDIS_VERSION = "7.0.15";

function ping(ctx: Ctx, args: Args): void {
  if (args.length > 2) fail(arityError("ping"));
  const subscribed = ctx.session.channels.size + ctx.session.patterns.size > 0;
  if (subscribed && ctx.session.protocol === 2) {
    ctx.out.arrayHeader(2);
    ctx.out.bulkString("pong");
    ctx.out.bulkString(args.length === 2 ? toKey(args.at(1)) : "");
    return;
  }
  if (args.length === 2) ctx.out.bulk(args.at(1));
  else ctx.out.simple("PONG");
}

function checkPassword(ctx: Ctx, user: string, password: string): void {
  const required = ctx.server.requirepass;
  if (required === undefined || user !== "default" || password !== required) {
    fail("WRONGPASS invalid username-password pair or user is disabled.");
  }
  ctx.session.authenticated = true;
}

function auth(ctx: Ctx, args: Args): void {
  if (args.length > 3) fail("ERR syntax error");
  if (ctx.server.requirepass === undefined && args.length === 2) {
    fail(
      "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
    );
  }
  const user = args.length === 3 ? toKey(args.at(1)) : "default";
  checkPassword(ctx, user, toKey(args.at(args.length - 1)));
  ctx.out.ok();
}

function hello(ctx: Ctx, args: Args): void {
  let protocol = ctx.session.protocol;
  if (args.length >= 2) {
    const version = Number(toKey(args.at(1)));
    if (!Number.isInteger(version) || !/^-?\d+$/.test(toKey(args.at(1)))) {
      fail("ERR Protocol version is not an integer or out of range");
    }
    if (version !== 2 && version !== 3) fail("NOPROTO unsupported protocol version");
    protocol = version;
  }
  let name: string | undefined;
  for (let i = 2; i < args.length; i++) {
    const option = lower(args.at(i));
    if (option === "auth" && i + 2 < args.length) {
      checkPassword(ctx, toKey(args.at(i + 1)), toKey(args.at(i + 2)));
      i += 2;
    } else if (option === "setname" && i + 1 < args.length) {
      name = validName(toKey(args.at(++i)));
    } else {
      fail(`ERR Syntax error in HELLO option '${toKey(args.at(i))}'`);
    }
  }
  if (ctx.server.requirepass !== undefined && !ctx.session.authenticated) {
    fail(
      "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
    );
  }
  if (name !== undefined) ctx.session.name = name;
  ctx.session.protocol = protocol;
  ctx.out.protocol = protocol;
  ctx.out.mapHeader(7);
  ctx.out.bulkString("server");
  ctx.out.bulkString("redis");
  ctx.out.bulkString("version");
  ctx.out.bulkString(REDIS_VERSION);
  ctx.out.bulkString("proto");
  ctx.out.integer(protocol);
  ctx.out.bulkString("id");
  ctx.out.integer(ctx.session.id);
  ctx.out.bulkString("mode");
  ctx.out.bulkString("standalone");
  ctx.out.bulkString("role");
  ctx.out.bulkString("master");
  ctx.out.bulkString("modules");
  ctx.out.arrayHeader(0);
}

function validName(name: string): string {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 33 || c > 126) {
      fail("ERR Client names cannot contain spaces, newlines or special characters.");
    }
  }
  return name;
}

/**
 * A client's flags as CLIENT LIST shows them, in Redis's order
 * (networking.c catClientInfoString): P subscribed, x in MULTI, b blocked,
 * d a watched key changed, c closing after its reply; N for none.
 */
function clientFlags(session: Session): string {
  let flags = "";
  if (session.channels.size + session.patterns.size > 0) flags += "P";
  if (session.multi !== undefined) flags += "x";
  if (session.blocked) flags += "b";
  if (session.watchDirty) flags += "d";
  if (session.closing) flags += "c";
  return flags === "" ? "N" : flags;
}

/** One CLIENT LIST line, in Redis 7's field order. */
export function clientLine(ctx: Ctx, session: Session): string {
  const now = Date.now();
  const memory = session.memory();
  const multi = session.multi === undefined ? -1 : session.multi.length;
  const space = ctx.server.keyspace;
  const idle = Math.max(0, Math.floor((now - space.epochMs) / 1000) - session.interactedAt);
  return `id=${session.id} addr=${session.addr} laddr=${session.laddr} fd=8 name=${session.name} ` +
    `age=${Math.floor((now - session.createdAt) / 1000)} idle=${idle} flags=${
      clientFlags(session)
    } db=${session.db.index} ` +
    `sub=${session.channels.size} psub=${session.patterns.size} ssub=0 multi=${multi} ` +
    `qbuf=${memory.queryBytes} qbuf-free=${memory.queryFreeBytes} argv-mem=${memory.argvBytes} ` +
    `multi-mem=0 rbs=${memory.replyBufferBytes} rbp=0 obl=0 oll=0 omem=${memory.outputBytes} ` +
    `tot-mem=${memory.totalBytes} events=r cmd=${session.lastCommand} user=default redir=-1 ` +
    `resp=${session.protocol}\n`;
}

const clientSubcommands = [
  command("client|setname", 3, ["noscript", "loading", "stale"], (ctx, a) => {
    ctx.session.name = validName(toKey(a.at(2)));
    ctx.out.ok();
  }, { group: "connection" }),
  command("client|getname", 2, ["noscript", "loading", "stale"], (ctx) => {
    if (ctx.session.name === "") ctx.out.nullBulk();
    else ctx.out.bulkString(ctx.session.name);
  }, { group: "connection" }),
  command("client|id", 2, ["noscript", "loading", "stale"], (ctx) => {
    ctx.out.integer(ctx.session.id);
  }, { group: "connection" }),
  command("client|info", 2, ["noscript", "loading", "stale"], (ctx) => {
    ctx.out.verbatim(clientLine(ctx, ctx.session));
  }, { group: "connection" }),
  command("client|list", -2, ["admin", "noscript", "loading", "stale"], (ctx) => {
    let text = "";
    for (const session of ctx.server.sessions.values()) text += clientLine(ctx, session);
    ctx.out.verbatim(text);
  }, { group: "connection" }),
  command("client|setinfo", 4, ["noscript", "loading", "stale"], (ctx) => ctx.out.ok(), {
    group: "connection",
  }),
  command("client|no-evict", 3, ["admin", "noscript"], (ctx, a) => {
    const mode = lower(a.at(2));
    if (mode !== "on" && mode !== "off") fail(SYNTAX);
    ctx.out.ok();
  }, { group: "connection" }),
  command("client|reply", 3, ["noscript", "loading", "stale"], (ctx, a) => {
    const mode = lower(a.at(2));
    if (mode !== "on" && mode !== "off" && mode !== "skip") fail(SYNTAX);
    // OFF and SKIP are not answered; dispatch drops the replies that follow.
    if (mode === "on") ctx.out.ok();
    ctx.session.replyMode = mode;
  }, { group: "connection" }),
  command("client|kill", -3, ["admin", "noscript", "loading", "stale"], clientKill, {
    group: "connection",
  }),
  command("client|pause", -3, ["admin", "noscript", "loading", "stale"], (ctx, a) => {
    const timeout = intArg(a.at(2), "ERR timeout is not an integer or out of range");
    if (timeout < 0) fail("ERR timeout is negative");
    let all = true;
    if (a.length === 4) {
      const mode = lower(a.at(3));
      if (mode === "write") all = false;
      else if (mode !== "all") fail("ERR CLIENT PAUSE mode must be WRITE or ALL");
    } else if (a.length > 4) fail(SYNTAX);
    ctx.server.pause(Date.now() + timeout, all);
    ctx.out.ok();
  }, { group: "connection" }),
  command("client|unpause", 2, ["admin", "noscript", "loading", "stale"], (ctx) => {
    ctx.server.unpause();
    ctx.out.ok();
  }, { group: "connection" }),
];

/**
 * CLIENT KILL addr:port (the old form: OK, or "No such client"), or
 * CLIENT KILL with filters ID, TYPE, USER, ADDR, LADDR, SKIPME (the count
 * killed). A client killing itself is closed after its reply.
 */
function clientKill(ctx: Ctx, args: Args): void {
  const sessions = [...ctx.server.sessions.values()];
  const kill = (session: Session) => {
    if (session === ctx.session) session.closing = true;
    else session.kill();
  };
  if (args.length === 3) {
    const addr = toKey(args.at(2));
    const found = sessions.find((session) => session.addr === addr);
    if (found === undefined) fail("ERR No such client");
    ctx.out.ok();
    kill(found);
    return;
  }
  if (args.length % 2 !== 0) fail(SYNTAX);
  const filters: ((session: Session) => boolean)[] = [];
  let skipMe = true;
  for (let i = 2; i < args.length; i += 2) {
    const option = lower(args.at(i));
    const value = toKey(args.at(i + 1));
    if (option === "id") {
      const id = parseInteger(args.at(i + 1));
      if (id === null || id <= 0) fail("ERR client-id should be greater than 0");
      filters.push((session) => session.id === Number(id));
    } else if (option === "type") {
      const type = value.toLowerCase();
      if (!["normal", "master", "slave", "replica", "pubsub"].includes(type)) {
        fail(`ERR Unknown client type '${value}'`);
      }
      const pubsub = (session: Session) => session.channels.size + session.patterns.size > 0;
      filters.push((session) =>
        type === "normal"
          ? !pubsub(session) && !ctx.server.monitors.has(session)
          : type === "pubsub"
          ? pubsub(session)
          : type === "slave" || type === "replica"
          ? ctx.server.monitors.has(session)
          : false
      );
    } else if (option === "user") {
      if (value !== "default") fail(`ERR No such user '${value}'`);
    } else if (option === "addr") filters.push((session) => session.addr === value);
    else if (option === "laddr") filters.push((session) => session.laddr === value);
    else if (option === "skipme") {
      const yes = value.toLowerCase();
      if (yes === "yes") skipMe = true;
      else if (yes === "no") skipMe = false;
      else fail(SYNTAX);
    } else fail(SYNTAX);
  }
  let killed = 0;
  for (const session of sessions) {
    if (skipMe && session === ctx.session) continue;
    if (!filters.every((matches) => matches(session))) continue;
    kill(session);
    killed++;
  }
  ctx.out.integer(killed);
}

/** Parses "100mb"-style memory amounts as Redis's memtoull does. */
export function parseMemory(text: string): number | undefined {
  const match = /^(\d+)(b|k|kb|m|mb|g|gb)?$/i.exec(text);
  if (!match) return undefined;
  const units: Record<string, number> = {
    b: 1,
    k: 1000,
    kb: 1024,
    m: 1000 ** 2,
    mb: 1024 ** 2,
    g: 1000 ** 3,
    gb: 1024 ** 3,
  };
  return Number(match[1]) * units[(match[2] ?? "b").toLowerCase()];
}

/**
 * `client-output-buffer-limit` as Redis takes it: groups of "class hard
 * soft seconds"; the hard limit of each class, or undefined when malformed.
 * Only the pubsub class applies here (normal clients are read from only as
 * fast as their replies are written).
 */
function parseOutputLimits(text: string): Map<string, number> | undefined {
  const words = text.trim().split(/\s+/);
  if (words.length % 4 !== 0) return undefined;
  const limits = new Map<string, number>();
  for (let i = 0; i < words.length; i += 4) {
    const kind = words[i].toLowerCase();
    const name = kind === "slave" || kind === "replica" ? "replica" : kind;
    if (!["normal", "replica", "pubsub"].includes(name)) return undefined;
    const hard = parseMemory(words[i + 1]);
    if (hard === undefined || parseMemory(words[i + 2]) === undefined) return undefined;
    if (!/^\d+$/.test(words[i + 3])) return undefined;
    limits.set(name, hard);
  }
  return limits;
}

/** Redis's `timeout` is an int config from 0 to INT_MAX seconds. */
export const TIMEOUT_SECONDS_MAX = 2_147_483_647;

function configGet(ctx: Ctx, args: Args): void {
  const found = new Map<string, string>();
  for (let i = 2; i < args.length; i++) {
    const pattern = lower(args.at(i));
    for (const [name, value] of ctx.server.config) {
      if (globMatch(pattern, name)) found.set(name, value);
    }
  }
  ctx.out.mapHeader(found.size);
  for (const [name, value] of found) {
    ctx.out.bulkString(name);
    ctx.out.bulkString(value);
  }
}

/**
 * Why a value of one of the parameters with their own syntax is refused,
 * in Redis's words (config.c's set functions), or undefined when it is fine.
 */
function specialConfigError(ctx: Ctx, name: string, value: string): string | undefined {
  switch (name) {
    case "save": {
      const words = value.trim() === "" ? [] : value.trim().split(/\s+/);
      if (words.length % 2 !== 0 || words.some((w) => !/^\d{1,18}$/.test(w))) {
        return "Invalid save parameters";
      }
      return undefined;
    }
    case "client-output-buffer-limit":
      return parseOutputLimits(value) === undefined
        ? "Wrong number of arguments in buffer limit configuration."
        : undefined;
    case "notify-keyspace-events":
      return parseNotifyFlags(value) === null
        ? "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
        : undefined;
    case "maxmemory-clients": {
      const percent = /^(\d+)%$/.exec(value);
      if (percent !== null) {
        return Number(percent[1]) > 100
          ? "percentage argument must be less or equal to 100"
          : undefined;
      }
      return parseMemory(value) === undefined
        ? "argument must be a memory or percent value"
        : undefined;
    }
    case "oom-score-adj-values": {
      const words = value.trim().split(/\s+/);
      if (words.length !== 3) return "wrong number of arguments";
      if (words.some((w) => !/^-?\d+$/.test(w) || Math.abs(Number(w)) > 2000)) {
        return "Invalid oom-score-adj-values, elements must be between -2000 and 2000.";
      }
      return undefined;
    }
    case "latency-tracking-info-percentiles": {
      const words = value.trim() === "" ? [] : value.trim().split(/\s+/);
      if (words.some((w) => !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(w))) {
        return "Invalid latency-tracking-info-percentiles parameters";
      }
      if (words.some((w) => Number(w) < 0 || Number(w) > 100)) {
        return "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]";
      }
      return undefined;
    }
    // The listener is bound once: the addresses and port it has are accepted
    // (Redis rebinds to the same ones), others are refused as a failed bind.
    case "bind":
      return value === ctx.server.config.get("bind")
        ? undefined
        : "Failed to bind to specified addresses.";
    case "port": {
      if (!/^-?\d{1,19}$/.test(value)) return "argument couldn't be parsed into an integer";
      if (Number(value) < 0 || Number(value) > 65535) {
        return "argument must be between 0 and 65535 inclusive";
      }
      return value === ctx.server.config.get("port") ? undefined : "Unable to listen on this port";
    }
    default:
      return undefined;
  }
}

function configSet(ctx: Ctx, args: Args): void {
  if (args.length % 2 !== 0) fail(arityError("config|set"));
  const updates: [StandardConfig, string][] = [];
  for (let i = 2; i < args.length; i += 2) {
    const name = lower(args.at(i));
    const value = toKey(args.at(i + 1));
    const entry = STANDARD_CONFIG_BY_NAME.get(name);
    if (entry === undefined) {
      fail(`ERR Unknown option or number of arguments for CONFIG SET - '${name}'`);
    }
    const failed = (why: string) =>
      fail(`ERR CONFIG SET failed (possibly related to argument '${name}') - ${why}`);
    // Redis's order (configSetCommand): immutable, protected, then the value.
    if (entry.immutable) failed("can't set immutable config");
    if (entry.protected) failed("can't set protected config");
    const problem = entry.kind === "special"
      ? specialConfigError(ctx, entry.name, value)
      : configValueError(entry, value);
    if (problem !== undefined) failed(problem);
    updates.push([entry, value]);
  }
  const server = ctx.server;
  for (const [entry, raw] of updates) {
    const value = entry.kind === "special" ? raw : canonicalConfigValue(entry, raw);
    switch (entry.name) {
      case "maxmemory":
        server.keyspace.maxmemoryBytes = Number(value);
        break;
      case "maxmemory-policy":
        server.keyspace.policy = value as EvictionPolicy;
        break;
      case "requirepass":
        server.requirepass = value === "" ? undefined : value;
        break;
      case "timeout":
        server.idleTimeoutMs = Number(value) * 1000;
        break;
      case "maxclients":
        server.setConnectionsMax(Number(value));
        break;
      case "slowlog-log-slower-than":
        server.slowlog.thresholdUs = Number(value);
        break;
      case "slowlog-max-len":
        server.slowlog.lengthMax = Number(value);
        break;
      // Every connection's read buffer takes the new bound before its next read.
      case "client-query-buffer-limit":
        server.limits.queryBufferBytesMax = Number(value);
        break;
      // The decoder reads the bound at every command.
      case "proto-max-bulk-len":
        server.limits.bulkBytesMax = Number(value);
        break;
      case "client-output-buffer-limit": {
        const pubsub = parseOutputLimits(value)!.get("pubsub");
        if (pubsub !== undefined && pubsub > 0) server.limits.outputBytesMax = pubsub;
        break;
      }
      case "notify-keyspace-events":
        server.notifyFlags = parseNotifyFlags(value)!;
        server.config.set(entry.name, formatNotifyFlags(server.notifyFlags));
        continue;
    }
    // One value under both names, as Redis keeps aliases.
    server.config.set(entry.name, value);
    if (entry.alias !== undefined) server.config.set(entry.alias, value);
  }
  ctx.out.ok();
}

const configSubcommands = [
  command("config|get", -3, ["admin", "noscript", "loading", "stale"], configGet, {
    group: "server",
  }),
  command("config|set", -4, ["admin", "noscript", "loading", "stale"], configSet, {
    group: "server",
  }),
  command("config|resetstat", 2, ["admin", "noscript"], (ctx) => ctx.out.ok(), {
    group: "server",
  }),
];

/** INFO text for the requested sections, in Redis's "# Section" format. */
/** Redis's bytesToHuman: B below 1 KiB, else K/M/G/T/P with two decimals. */
export function bytesToHuman(bytes: number): string {
  const units = ["K", "M", "G", "T", "P"];
  if (bytes < 1024) return `${bytes}B`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(2)}${units[unit]}`;
}

/** Total system memory, 0 when the process may not ask (Deno's --allow-sys). */
function systemMemoryBytes(): number {
  try {
    return Deno.systemMemoryInfo().total;
  } catch {
    return 0;
  }
}

function ratio(a: number, b: number): string {
  return (b === 0 ? 0 : a / b).toFixed(2);
}

/**
 * INFO text for the requested sections, in Redis 7.0's "# Section" format,
 * with every field redis-server 7.0.15 shows, in its order. Fields of
 * machinery we do not have (forks, AOF, Lua, replicas, active defrag,
 * client tracking, I/O threads) show what Redis shows without it (0, ok,
 * -1); the allocator fields describe V8's heap and the process. Left out:
 * latencystats (no per-command latency histograms are kept).
 */
export function infoText(ctx: Ctx, sections: string[]): string {
  const server = ctx.server;
  const space = server.keyspace;
  const stats = server.stats;
  // Redis 7.0 (server.c genRedisInfoString): no argument or "default" is
  // every section but commandstats and latencystats; "all" adds those;
  // "everything" adds modules' sections too (none here).
  const everything = sections.includes("all") || sections.includes("everything");
  const byDefault = everything || sections.length === 0 || sections.includes("default");
  const want = (name: string) =>
    sections.includes(name) ||
    (name === "commandstats" || name === "latencystats" ? everything : byDefault);
  const parts: string[] = [];
  const now = Date.now();
  const uptime = Math.floor((now - server.startedAt) / 1000);
  if (space.usedBytes > stats.peakMemoryBytes) stats.peakMemoryBytes = space.usedBytes;
  if (want("server")) {
    parts.push(
      "# Server",
      `redis_version:${REDIS_VERSION}`,
      "redis_git_sha1:00000000",
      "redis_git_dirty:0",
      "redis_build_id:0",
      "redis_mode:standalone",
      `os:${Deno.build.os} ${Deno.build.arch}`,
      "arch_bits:64",
      "monotonic_clock:POSIX clock_gettime",
      `multiplexing_api:${Deno.build.os === "linux" ? "epoll" : "kqueue"}`,
      "atomicvar_api:c11-builtin",
      "gcc_version:0.0.0",
      `process_id:${Deno.pid}`,
      "process_supervised:no",
      `run_id:${server.runId}`,
      `tcp_port:${server.port}`,
      `server_time_usec:${now * 1000}`,
      `uptime_in_seconds:${uptime}`,
      `uptime_in_days:${Math.floor(uptime / 86400)}`,
      `hz:${server.config.get("hz") ?? 10}`,
      `configured_hz:${server.config.get("hz") ?? 10}`,
      // Redis's LRU clock: seconds, in 24 bits.
      `lru_clock:${Math.floor(now / 1000) & 0xffffff}`,
      "executable:underhood-cache",
      "config_file:",
      "io_threads_active:0",
      "",
    );
  }
  if (want("clients")) {
    let maxInput = 0;
    let maxOutput = 0;
    for (const session of server.sessions.values()) {
      const memory = session.memory();
      maxInput = Math.max(maxInput, memory.queryBytes + memory.queryFreeBytes);
      maxOutput = Math.max(maxOutput, memory.outputBytes);
    }
    parts.push(
      "# Clients",
      `connected_clients:${server.sessions.size}`,
      "cluster_connections:0",
      `maxclients:${server.config.get("maxclients") ?? 10000}`,
      `client_recent_max_input_buffer:${maxInput}`,
      `client_recent_max_output_buffer:${maxOutput}`,
      `blocked_clients:${server.blocking.size}`,
      "tracking_clients:0",
      `clients_in_timeout_table:${server.blocking.timedCount}`,
      "",
    );
  }
  if (want("memory")) {
    const usage = Deno.memoryUsage();
    const used = space.usedBytes;
    const peak = stats.peakMemoryBytes;
    const overhead = BASELINE_BYTES + space.clientBytes;
    const dataset = Math.max(0, used - overhead);
    const allocated = usage.heapUsed + usage.external;
    const active = usage.heapTotal + usage.external;
    const total = systemMemoryBytes();
    parts.push(
      "# Memory",
      `used_memory:${used}`,
      `used_memory_human:${bytesToHuman(used)}`,
      `used_memory_rss:${usage.rss}`,
      `used_memory_rss_human:${bytesToHuman(usage.rss)}`,
      `used_memory_peak:${peak}`,
      `used_memory_peak_human:${bytesToHuman(peak)}`,
      `used_memory_peak_perc:${(peak === 0 ? 0 : used / peak * 100).toFixed(2)}%`,
      `used_memory_overhead:${overhead}`,
      `used_memory_startup:${BASELINE_BYTES}`,
      `used_memory_dataset:${dataset}`,
      `used_memory_dataset_perc:${
        (used - BASELINE_BYTES === 0 ? 0 : dataset / (used - BASELINE_BYTES) * 100).toFixed(2)
      }%`,
      `allocator_allocated:${allocated}`,
      `allocator_active:${active}`,
      `allocator_resident:${usage.rss}`,
      `total_system_memory:${total}`,
      `total_system_memory_human:${bytesToHuman(total)}`,
      "used_memory_lua:0",
      "used_memory_vm_eval:0",
      "used_memory_lua_human:0B",
      "used_memory_scripts_eval:0",
      "number_of_cached_scripts:0",
      "number_of_functions:0",
      "number_of_libraries:0",
      "used_memory_vm_functions:0",
      "used_memory_vm_total:0",
      "used_memory_vm_total_human:0B",
      "used_memory_functions:0",
      "used_memory_scripts:0",
      "used_memory_scripts_human:0B",
      `maxmemory:${space.maxmemoryBytes}`,
      `maxmemory_human:${bytesToHuman(space.maxmemoryBytes)}`,
      `maxmemory_policy:${space.policy}`,
      `allocator_frag_ratio:${ratio(active, allocated)}`,
      `allocator_frag_bytes:${active - allocated}`,
      `allocator_rss_ratio:${ratio(usage.rss, active)}`,
      `allocator_rss_bytes:${usage.rss - active}`,
      `rss_overhead_ratio:${ratio(usage.rss, usage.rss)}`,
      "rss_overhead_bytes:0",
      `mem_fragmentation_ratio:${ratio(usage.rss, used)}`,
      `mem_fragmentation_bytes:${usage.rss - used}`,
      "mem_not_counted_for_evict:0",
      "mem_replication_backlog:0",
      "mem_total_replication_buffers:0",
      "mem_clients_slaves:0",
      `mem_clients_normal:${space.clientBytes}`,
      "mem_cluster_links:0",
      "mem_aof_buffer:0",
      "mem_allocator:libc",
      "active_defrag_running:0",
      "lazyfree_pending_objects:0",
      "lazyfreed_objects:0",
      "",
    );
  }
  if (want("persistence")) {
    parts.push(
      "# Persistence",
      "loading:0",
      "async_loading:0",
      "current_cow_peak:0",
      "current_cow_size:0",
      "current_cow_size_age:0",
      "current_fork_perc:0.00",
      "current_save_keys_processed:0",
      "current_save_keys_total:0",
      "rdb_changes_since_last_save:0",
      "rdb_bgsave_in_progress:0",
      `rdb_last_save_time:${Math.floor(server.startedAt / 1000)}`,
      "rdb_last_bgsave_status:ok",
      "rdb_last_bgsave_time_sec:-1",
      "rdb_current_bgsave_time_sec:-1",
      "rdb_saves:0",
      "rdb_last_cow_size:0",
      "rdb_last_load_keys_expired:0",
      "rdb_last_load_keys_loaded:0",
      "aof_enabled:0",
      "aof_rewrite_in_progress:0",
      "aof_rewrite_scheduled:0",
      "aof_last_rewrite_time_sec:-1",
      "aof_current_rewrite_time_sec:-1",
      "aof_last_bgrewrite_status:ok",
      "aof_rewrites:0",
      "aof_rewrites_consecutive_failures:0",
      "aof_last_write_status:ok",
      "aof_last_cow_size:0",
      "module_fork_in_progress:0",
      "module_fork_last_cow_size:0",
      "",
    );
  }
  if (want("stats")) {
    parts.push(
      "# Stats",
      `total_connections_received:${stats.connections}`,
      `total_commands_processed:${stats.commands}`,
      "instantaneous_ops_per_sec:0",
      `total_net_input_bytes:${stats.netInputBytes}`,
      `total_net_output_bytes:${stats.netOutputBytes}`,
      "total_net_repl_input_bytes:0",
      "total_net_repl_output_bytes:0",
      "instantaneous_input_kbps:0.00",
      "instantaneous_output_kbps:0.00",
      "instantaneous_input_repl_kbps:0.00",
      "instantaneous_output_repl_kbps:0.00",
      `rejected_connections:${server.connectionsRefused}`,
      "sync_full:0",
      "sync_partial_ok:0",
      "sync_partial_err:0",
      `expired_keys:${space.expiredKeys}`,
      "expired_stale_perc:0.00",
      "expired_time_cap_reached_count:0",
      "expire_cycle_cpu_milliseconds:0",
      `evicted_keys:${space.evictedKeys}`,
      "evicted_clients:0",
      "total_eviction_exceeded_time:0",
      "current_eviction_exceeded_time:0",
      `keyspace_hits:${stats.keyspaceHits}`,
      `keyspace_misses:${stats.keyspaceMisses}`,
      `pubsub_channels:${server.channels.size}`,
      `pubsub_patterns:${server.patterns.size}`,
      "pubsubshard_channels:0",
      "latest_fork_usec:0",
      "total_forks:0",
      "migrate_cached_sockets:0",
      "slave_expires_tracked_keys:0",
      "active_defrag_hits:0",
      "active_defrag_misses:0",
      "active_defrag_key_hits:0",
      "active_defrag_key_misses:0",
      "total_active_defrag_time:0",
      "current_active_defrag_time:0",
      "tracking_total_keys:0",
      "tracking_total_items:0",
      "tracking_total_prefixes:0",
      "unexpected_error_replies:0",
      `total_error_replies:${stats.errorReplies}`,
      "dump_payload_sanitizations:0",
      `total_reads_processed:${stats.reads}`,
      `total_writes_processed:${stats.writes}`,
      "io_threaded_reads_processed:0",
      "io_threaded_writes_processed:0",
      "reply_buffer_shrinks:0",
      "reply_buffer_expands:0",
      "",
    );
  }
  if (want("replication")) {
    parts.push(
      "# Replication",
      "role:master",
      "connected_slaves:0",
      "master_failover_state:no-failover",
      `master_replid:${server.replId}`,
      `master_replid2:${"0".repeat(40)}`,
      "master_repl_offset:0",
      "second_repl_offset:-1",
      "repl_backlog_active:0",
      "repl_backlog_size:1048576",
      "repl_backlog_first_byte_offset:0",
      "repl_backlog_histlen:0",
      "",
    );
  }
  if (want("cpu")) {
    const cpu = process.cpuUsage();
    const seconds = (micros: number) => (micros / 1e6).toFixed(6);
    parts.push(
      "# CPU",
      `used_cpu_sys:${seconds(cpu.system)}`,
      `used_cpu_user:${seconds(cpu.user)}`,
      "used_cpu_sys_children:0.000000",
      "used_cpu_user_children:0.000000",
      `used_cpu_sys_main_thread:${seconds(cpu.system)}`,
      `used_cpu_user_main_thread:${seconds(cpu.user)}`,
      "",
    );
  }
  if (want("modules")) parts.push("# Modules", "");
  if (want("commandstats")) {
    parts.push("# Commandstats");
    for (const [name, stat] of server.commandStats) {
      parts.push(
        `cmdstat_${name}:calls=${stat.calls},usec=0,usec_per_call=0.00,rejected_calls=0,failed_calls=${stat.failed}`,
      );
    }
    parts.push("");
  }
  if (want("errorstats")) {
    parts.push("# Errorstats");
    // Redis keeps them in a radix tree: sorted by name.
    for (const code of [...server.errorStats.keys()].sort()) {
      parts.push(`errorstat_${code}:count=${server.errorStats.get(code)}`);
    }
    parts.push("");
  }
  if (want("latencystats")) parts.push("# Latencystats", "");
  if (want("cluster")) parts.push("# Cluster", "cluster_enabled:0", "");
  if (want("keyspace")) {
    parts.push("# Keyspace");
    for (const db of space.dbs) {
      if (db.size > 0) {
        parts.push(`db${db.index}:keys=${db.size},expires=${db.volatileCount},avg_ttl=0`);
      }
    }
    parts.push("");
  }
  return parts.join("\r\n");
}

function info(ctx: Ctx, args: Args): void {
  ctx.out.verbatim(infoText(ctx, args.slice(1).map(lower)));
}

/** ACL category of a command group, as Redis names them. */
const GROUP_CATEGORIES: Record<string, string> = {
  string: "@string",
  list: "@list",
  set: "@set",
  "sorted-set": "@sortedset",
  hash: "@hash",
  hyperloglog: "@hyperloglog",
  bitmap: "@bitmap",
  pubsub: "@pubsub",
  generic: "@keyspace",
  connection: "@connection",
  transactions: "@transaction",
};

/** A command's ACL categories derived as Redis derives them: read/write, type, speed, danger. */
function aclCategories(spec: CommandSpec): string[] {
  const categories: string[] = [];
  if (spec.flags.includes("write")) categories.push("@write");
  if (spec.flags.includes("readonly")) categories.push("@read");
  const group = GROUP_CATEGORIES[spec.group];
  if (group !== undefined) categories.push(group);
  if (spec.flags.includes("admin")) categories.push("@admin");
  categories.push(spec.flags.includes("fast") ? "@fast" : "@slow");
  if (spec.flags.includes("blocking")) categories.push("@blocking");
  if (spec.flags.includes("admin")) categories.push("@dangerous");
  return categories;
}

function commandInfo(ctx: Ctx, spec: CommandSpec): void {
  ctx.out.arrayHeader(10);
  ctx.out.bulkString(spec.name);
  ctx.out.integer(spec.arity);
  const flags = spec.numkeysAt === undefined ? spec.flags : [...spec.flags, "movablekeys"];
  ctx.out.setHeader(flags.length);
  for (const flag of flags) ctx.out.simple(flag);
  ctx.out.integer(spec.firstKey);
  ctx.out.integer(spec.lastKey);
  ctx.out.integer(spec.step);
  const categories = aclCategories(spec);
  ctx.out.setHeader(categories.length);
  for (const category of categories) ctx.out.simple(category);
  ctx.out.setHeader(0);
  if (spec.numkeysAt !== undefined) {
    keynumSpec(ctx, spec);
  } else if (spec.firstKey > 0) {
    // One key specification from the legacy positions (Redis 7 gives finer ones).
    ctx.out.arrayHeader(1);
    ctx.out.mapHeader(3);
    ctx.out.bulkString("flags");
    ctx.out.setHeader(2);
    ctx.out.simple(spec.flags.includes("write") ? "RW" : "RO");
    ctx.out.simple(spec.flags.includes("write") ? "update" : "access");
    ctx.out.bulkString("begin_search");
    ctx.out.mapHeader(2);
    ctx.out.bulkString("type");
    ctx.out.bulkString("index");
    ctx.out.bulkString("spec");
    ctx.out.mapHeader(1);
    ctx.out.bulkString("index");
    ctx.out.integer(spec.firstKey);
    ctx.out.bulkString("find_keys");
    ctx.out.mapHeader(2);
    ctx.out.bulkString("type");
    ctx.out.bulkString("range");
    ctx.out.bulkString("spec");
    ctx.out.mapHeader(3);
    ctx.out.bulkString("lastkey");
    ctx.out.integer(spec.lastKey < 0 ? spec.lastKey : spec.lastKey - spec.firstKey);
    ctx.out.bulkString("keystep");
    ctx.out.integer(spec.step);
    ctx.out.bulkString("limit");
    ctx.out.integer(0);
  } else {
    ctx.out.arrayHeader(0);
  }
  const subs = spec.subcommands ? [...spec.subcommands.values()] : [];
  ctx.out.arrayHeader(subs.length);
  for (const sub of subs) commandInfo(ctx, sub);
}

/**
 * The key specification of a command whose keys follow a numkeys argument,
 * as Redis 7.0 gives it for LMPOP and its family: the keys are popped from
 * (RW access delete) and counted by the argument before them.
 */
function keynumSpec(ctx: Ctx, spec: CommandSpec): void {
  ctx.out.arrayHeader(1);
  ctx.out.mapHeader(3);
  ctx.out.bulkString("flags");
  ctx.out.setHeader(3);
  for (const flag of ["RW", "access", "delete"]) ctx.out.simple(flag);
  ctx.out.bulkString("begin_search");
  ctx.out.mapHeader(2);
  ctx.out.bulkString("type");
  ctx.out.bulkString("index");
  ctx.out.bulkString("spec");
  ctx.out.mapHeader(1);
  ctx.out.bulkString("index");
  ctx.out.integer(spec.numkeysAt!);
  ctx.out.bulkString("find_keys");
  ctx.out.mapHeader(2);
  ctx.out.bulkString("type");
  ctx.out.bulkString("keynum");
  ctx.out.bulkString("spec");
  ctx.out.mapHeader(3);
  ctx.out.bulkString("keynumidx");
  ctx.out.integer(0);
  ctx.out.bulkString("firstkey");
  ctx.out.integer(1);
  ctx.out.bulkString("keystep");
  ctx.out.integer(1);
}

function commandDocs(ctx: Ctx, spec: CommandSpec): void {
  ctx.out.mapHeader(3);
  ctx.out.bulkString("summary");
  ctx.out.bulkString(spec.summary || `The ${spec.name.toUpperCase()} command.`);
  ctx.out.bulkString("since");
  ctx.out.bulkString(spec.since);
  ctx.out.bulkString("group");
  ctx.out.bulkString(spec.group);
}

function selectSpecs(ctx: Ctx, args: Args): CommandSpec[] {
  if (args.length <= 2) return [...ctx.server.commands.values()];
  return args.slice(2).map((a) => ctx.server.commands.get(lower(a))).filter((s) =>
    s !== undefined
  ) as CommandSpec[];
}

/** A numkeys argument and the keys after it: their positions, or undefined when invalid. */
function keynumPositions(args: Args, numkeysAt: number): number[] | undefined {
  const numkeys = numkeysAt < args.length ? parseInteger(args.at(numkeysAt)) : null;
  if (numkeys === null || numkeys < 1 || numkeysAt + Number(numkeys) >= args.length) {
    return undefined;
  }
  return Array.from({ length: Number(numkeys) }, (_, i) => numkeysAt + 1 + i);
}

/**
 * Key positions of the commands whose keys move (Redis's getkeys_proc and
 * keynum key specifications); undefined when the arguments do not parse.
 */
const MOVABLE_KEYS: ReadonlyMap<string, (args: Args) => number[] | undefined> = new Map<
  string,
  (args: Args) => number[] | undefined
>([
  ...["zunionstore", "zinterstore", "zdiffstore"].map((name) =>
    [name, (args: Args) => {
      const sources = keynumPositions(args, 2);
      return sources === undefined ? undefined : [1, ...sources];
    }] as const
  ),
  ...["zunion", "zinter", "zdiff", "zintercard", "sintercard"].map((name) =>
    [name, (args: Args) => keynumPositions(args, 1)] as const
  ),
  // sortGetKeys: the sorted key, and the last STORE's destination.
  ...["sort", "sort_ro"].map((name) =>
    [name, (args: Args) => {
      let store = -1;
      for (let i = 2; i < args.length; i++) {
        const option = lower(args.at(i));
        if (option === "limit") i += 2;
        else if (option === "get" || option === "by") i++;
        else if (option === "store" && i + 1 < args.length) store = ++i;
      }
      return store === -1 ? [1] : [1, store];
    }] as const
  ),
]);

/** COMMAND GETKEYS command [arg ...]: where the keys are, as Redis finds them. */
function commandGetKeys(ctx: Ctx, args: Args): void {
  const target = CommandArgs.of(args.slice(2));
  let spec = ctx.server.commands.get(lower(target.at(0)));
  if (spec === undefined) fail("ERR Invalid command specified");
  if (spec.subcommands !== undefined) {
    // A container's subcommand is the command (Redis's lookupCommand).
    const sub = target.length >= 2 ? spec.subcommands.get(lower(target.at(1))) : undefined;
    if (sub === undefined) fail("ERR Invalid command specified");
    spec = sub;
  }
  // Redis's order (getKeysSubcommandImpl): keys at all, then the arity, then the keys.
  const movable = MOVABLE_KEYS.get(spec.name);
  if (movable === undefined && spec.numkeysAt === undefined && spec.firstKey <= 0) {
    fail("ERR The command has no key arguments");
  }
  const argc = target.length;
  if ((spec.arity > 0 && argc !== spec.arity) || argc < -spec.arity) {
    fail("ERR Invalid number of arguments specified for command");
  }
  let positions: number[] | undefined;
  if (movable !== undefined) positions = movable(target);
  else if (spec.numkeysAt !== undefined) positions = keynumPositions(target, spec.numkeysAt);
  else {
    positions = [];
    const last = spec.lastKey < 0 ? argc + spec.lastKey : spec.lastKey;
    for (let i = spec.firstKey; i <= last && i < argc; i += spec.step) positions.push(i);
  }
  if (positions === undefined || positions.length === 0) {
    fail("ERR Invalid arguments specified for command");
  }
  ctx.out.arrayHeader(positions.length);
  for (const at of positions) ctx.out.bulk(target.at(at));
}

const commandSubcommands = [
  command("command|count", 2, ["loading", "stale"], (ctx) => {
    ctx.out.integer(ctx.server.commands.size);
  }, { group: "server" }),
  command("command|info", -2, ["loading", "stale"], (ctx, a) => {
    const names = a.slice(2).map(lower);
    if (names.length === 0) {
      const specs = [...ctx.server.commands.values()];
      ctx.out.arrayHeader(specs.length);
      for (const spec of specs) commandInfo(ctx, spec);
      return;
    }
    ctx.out.arrayHeader(names.length);
    for (const name of names) {
      const spec = ctx.server.commands.get(name);
      if (spec === undefined) ctx.out.nullArray();
      else commandInfo(ctx, spec);
    }
  }, { group: "server" }),
  command("command|docs", -2, ["loading", "stale"], (ctx, a) => {
    const specs = selectSpecs(ctx, a);
    ctx.out.mapHeader(specs.length);
    for (const spec of specs) {
      ctx.out.bulkString(spec.name);
      commandDocs(ctx, spec);
    }
  }, { group: "server" }),
  command("command|getkeys", -4, ["loading", "stale"], commandGetKeys, { group: "server" }),
  command("command|list", -2, ["loading", "stale"], (ctx) => {
    ctx.out.arrayHeader(ctx.server.commands.size);
    for (const name of ctx.server.commands.keys()) ctx.out.bulkString(name);
  }, { group: "server" }),
];

function commandAll(ctx: Ctx): void {
  const specs = [...ctx.server.commands.values()];
  ctx.out.arrayHeader(specs.length);
  for (const spec of specs) commandInfo(ctx, spec);
}

function time(ctx: Ctx): void {
  const micros = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
  ctx.out.arrayHeader(2);
  ctx.out.bulkString(String(micros / 1_000_000n));
  ctx.out.bulkString(String(micros % 1_000_000n));
}

const conn = { group: "connection" } as const;

export const SERVER_COMMANDS: CommandSpec[] = [
  command("ping", -1, ["fast", "stale", "loading"], ping, conn),
  // WAIT numreplicas timeout: there are no replicas, so none acknowledged.
  command("wait", 3, ["noscript"], (ctx, a) => {
    intArg(a.at(1));
    const timeout = parseInteger(a.at(2));
    if (timeout === null) fail("ERR timeout is not an integer or out of range");
    if (timeout < 0) fail("ERR timeout is negative");
    ctx.out.integer(0);
  }, { group: "generic" }),
  command("echo", 2, ["fast", "stale", "loading"], (ctx, a) => ctx.out.bulk(a.at(1)), conn),
  command("quit", -1, ["no_auth", "fast", "allow_busy"], (ctx) => {
    ctx.session.closing = true;
    ctx.out.ok();
  }, conn),
  command("auth", -2, ["no_auth", "noscript", "loading", "stale", "fast"], auth, conn),
  command("hello", -1, ["no_auth", "noscript", "loading", "stale", "fast"], hello, conn),
  command("client", -2, [], () => {}, { ...conn, subcommands: clientSubcommands }),
  command("config", -2, [], () => {}, { group: "server", subcommands: configSubcommands }),
  command("command", -1, ["loading", "stale"], commandAll, {
    group: "server",
    subcommands: commandSubcommands,
  }),
  command("info", -1, ["loading", "stale"], info, { group: "server" }),
  command("time", 1, ["loading", "stale", "fast"], time, { group: "server" }),
  command("lastsave", 1, ["loading", "stale", "fast"], (ctx) => {
    ctx.out.integer(Math.floor(ctx.server.startedAt / 1000));
  }, { group: "server" }),
  command("select", 2, ["loading", "stale", "fast"], (ctx, a) => {
    const index = intArg(a.at(1));
    const dbs = ctx.server.keyspace.dbs;
    if (index < 0 || index >= dbs.length) fail("ERR DB index is out of range");
    ctx.session.db = dbs[index];
    ctx.out.ok();
  }, conn),
];
