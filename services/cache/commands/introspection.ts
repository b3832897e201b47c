// MONITOR, SLOWLOG and LATENCY (Redis replication.c replicationFeedMonitors,
// slowlog.c, latency.c, 7.0).
//
// MONITOR: every command run afterwards by any client (admin commands and
// EXEC excepted, AUTH's arguments redacted, as in Redis) is sent to the
// monitors as `+<unix time with microseconds> [<db> <addr>] "cmd" "arg"...`
// with Redis's quoting. A monitor may not run commands that read or write
// keys ("Replica can't interact with the keyspace", as Redis answers its
// monitors, which it treats as replicas).
//
// SLOWLOG: commands slower than slowlog-log-slower-than microseconds, at
// most slowlog-max-len kept, arguments shortened as Redis shortens them (32
// arguments, 128 bytes). A clock read costs here about what a whole O(1)
// command does (0.2-0.4 us measured on our machines), so with the default
// threshold (10 ms) only commands whose work grows with their input are
// timed: not Redis's "fast" ones, nor SET and its kin (O(1), flagged slow
// in Redis only for their options), which never approach 10 ms. Below 1 ms
// every command is timed, as Redis times them all.
//
// LATENCY: the latency monitor is off (latency-monitor-threshold 0, Redis's
// default) and has no events: LATEST and HISTORY are empty, RESET counts 0,
// GRAPH has no samples, and DOCTOR says so in Redis's words. HISTOGRAM
// answers an empty map (per-command latency histograms are not kept).

import type { Args } from "./context.ts";
import { toKey } from "../values.ts";
import { intArg } from "./args.ts";
import { command, type CommandSpec, type Ctx, fail, type Session } from "./context.ts";

/** Below this threshold every command is timed; above it, only those that can take long. */
const TIME_EVERY_COMMAND_BELOW_US = 1000;
/** O(1) commands Redis does not flag "fast" (for their options), as hot as GET. */
const CONSTANT_TIME = new Set(["set", "setex", "psetex", "getset", "getex", "getdel", "setnx"]);

/** Redis's SLOWLOG_ENTRY_MAX_ARGC and SLOWLOG_ENTRY_MAX_STRING. */
const SLOWLOG_ARGS_MAX = 32;
const SLOWLOG_ARG_BYTES_MAX = 128;

export interface SlowlogEntry {
  readonly id: number;
  readonly timeSeconds: number;
  readonly durationUs: number;
  readonly args: string[];
  readonly addr: string;
  readonly name: string;
}

/** The slow log of one server, newest first. */
export class Slowlog {
  /** slowlog-log-slower-than: negative disables, 0 logs every command. */
  thresholdUs = 10_000;

  /** Whether a command is worth two clock reads at the current threshold. */
  times(spec: CommandSpec): boolean {
    if (this.thresholdUs < 0 || spec.name === "exec") return false; // EXEC's commands are timed
    if (this.thresholdUs < TIME_EVERY_COMMAND_BELOW_US) return true;
    return !spec.flags.includes("fast") && !CONSTANT_TIME.has(spec.name);
  }
  /** slowlog-max-len. */
  lengthMax = 128;
  entries: SlowlogEntry[] = [];
  #nextId = 0;

  /** Records a command that took `durationUs`, if over the threshold. */
  record(session: Session, args: Args, durationUs: number): void {
    if (this.thresholdUs < 0 || durationUs < this.thresholdUs) return;
    const count = Math.min(args.length, SLOWLOG_ARGS_MAX);
    const shown: string[] = [];
    for (let i = 0; i < count; i++) {
      if (count === SLOWLOG_ARGS_MAX && i === SLOWLOG_ARGS_MAX - 1) {
        shown.push(`... (${args.length - SLOWLOG_ARGS_MAX + 1} more arguments)`);
        break;
      }
      const arg = args.at(i);
      shown.push(
        arg.length > SLOWLOG_ARG_BYTES_MAX
          ? `${toKey(arg.subarray(0, SLOWLOG_ARG_BYTES_MAX))}... (${
            arg.length - SLOWLOG_ARG_BYTES_MAX
          } more bytes)`
          : toKey(arg),
      );
    }
    this.entries.unshift({
      id: this.#nextId++,
      timeSeconds: Math.floor(Date.now() / 1000),
      durationUs: Math.round(durationUs),
      args: shown,
      addr: session.addr,
      name: session.name,
    });
    if (this.entries.length > this.lengthMax) this.entries.length = Math.max(0, this.lengthMax);
  }
}

/** Redis's sdscatrepr: a quoted string with C escapes, \xHH for what is not printable. */
export function quoteRepr(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c) out += "\\\\";
    else if (c === 0x22) out += '\\"';
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x07) out += "\\a";
    else if (c === 0x08) out += "\\b";
    else if (c >= 0x20 && c <= 0x7e) out += text[i];
    else out += `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return out + '"';
}

/** Sends one executed command to every monitor (replicationFeedMonitors). */
export function feedMonitors(ctx: Ctx, name: string, args: Args): void {
  const monitors = ctx.server.monitors;
  const micros = Math.round((performance.timeOrigin + performance.now()) * 1000);
  let line = `${Math.floor(micros / 1e6)}.${
    String(micros % 1e6).padStart(6, "0")
  } [${ctx.session.db.index} ${ctx.session.addr}]`;
  for (let i = 0; i < args.length; i++) {
    line += ` ${i > 0 && name === "auth" ? '"(redacted)"' : quoteRepr(toKey(args.at(i)))}`;
  }
  for (const monitor of monitors) monitor.deliver((out) => out.simple(line));
}

function monitor(ctx: Ctx): void {
  if (ctx.server.monitors.has(ctx.session)) return; // already one: no reply, as Redis
  ctx.server.monitors.add(ctx.session);
  ctx.out.ok();
}

const SLOWLOG_HELP = [
  "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
  "GET [<count>]",
  "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
  "    Entries are made of:",
  "    id, timestamp, time in microseconds, arguments array, client IP and port,",
  "    client name",
  "LEN",
  "    Return the length of the slowlog.",
  "RESET",
  "    Reset the slowlog.",
  "HELP",
  "    Prints this help.",
];

function slowlogGet(ctx: Ctx, args: Args): void {
  let count = 10;
  if (args.length === 3) {
    count = intArg(args.at(2), "ERR count should be greater than or equal to -1");
    if (count < -1) fail("ERR count should be greater than or equal to -1");
  }
  const entries = ctx.server.slowlog.entries;
  const shown = count === -1 ? entries : entries.slice(0, count);
  ctx.out.arrayHeader(shown.length);
  for (const entry of shown) {
    ctx.out.arrayHeader(6);
    ctx.out.integer(entry.id);
    ctx.out.integer(entry.timeSeconds);
    ctx.out.integer(entry.durationUs);
    ctx.out.arrayHeader(entry.args.length);
    for (const arg of entry.args) ctx.out.bulkString(arg);
    ctx.out.bulkString(entry.addr);
    ctx.out.bulkString(entry.name);
  }
}

const DOCTOR_DISABLED =
  `I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use "CONFIG SET latency-monitor-threshold <milliseconds>." in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n`;
const DOCTOR_QUIET =
  "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sleep tonight.\n";

const LATENCY_HELP = [
  "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
  "DOCTOR",
  "    Return a human readable latency analysis report.",
  "GRAPH <event>",
  "    Return an ASCII latency graph for the <event> class.",
  "HISTORY <event>",
  "    Return time-latency samples for the <event> class.",
  "LATEST",
  "    Return the latest latency samples for all events.",
  "RESET [<event> ...]",
  "    Reset latency data of one or more <event> classes.",
  "    (default: reset all data for all event classes)",
  "HISTOGRAM [COMMAND ...]",
  "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
  "    If no commands are specified then all histograms are replied.",
  "HELP",
  "    Prints this help.",
];

function helpReply(lines: string[]) {
  return (ctx: Ctx): void => {
    ctx.out.arrayHeader(lines.length);
    for (const line of lines) ctx.out.simple(line);
  };
}

const admin = ["admin", "noscript", "loading", "stale"] as const;
const g = { group: "server" } as const;

export const INTROSPECTION_COMMANDS: CommandSpec[] = [
  command("monitor", 1, ["admin", "noscript", "loading", "stale"], monitor, g),
  command("slowlog", -2, [], () => {}, {
    ...g,
    subcommands: [
      command("slowlog|get", -2, admin, slowlogGet, g),
      command(
        "slowlog|len",
        2,
        admin,
        (ctx) => ctx.out.integer(ctx.server.slowlog.entries.length),
        g,
      ),
      command("slowlog|reset", 2, admin, (ctx) => {
        ctx.server.slowlog.entries = [];
        ctx.out.ok();
      }, g),
      command("slowlog|help", 2, ["loading", "stale"], helpReply(SLOWLOG_HELP), g),
    ],
  }),
  command("latency", -2, [], () => {}, {
    ...g,
    subcommands: [
      command("latency|latest", 2, admin, (ctx) => ctx.out.arrayHeader(0), g),
      command("latency|history", 3, admin, (ctx) => ctx.out.arrayHeader(0), g),
      command("latency|reset", -2, admin, (ctx) => ctx.out.integer(0), g),
      command("latency|graph", 3, admin, (_ctx, a) => {
        fail(`ERR No samples available for event '${toKey(a.at(2))}'`);
      }, g),
      command("latency|doctor", 2, admin, (ctx) => {
        const off = ctx.server.config.get("latency-monitor-threshold") === "0";
        ctx.out.verbatim(off ? DOCTOR_DISABLED : DOCTOR_QUIET);
      }, g),
      command("latency|histogram", -2, admin, (ctx) => ctx.out.mapHeader(0), g),
      command("latency|help", 2, ["loading", "stale"], helpReply(LATENCY_HELP), g),
    ],
  }),
];
