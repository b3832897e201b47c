// What every command handler sees, and the shape of the typed dispatch
// table: a handler writes its reply to `ctx.out` or throws a CommandError
// whose message is Redis's own wording, so client libraries map it.

import type { CommandArgs } from "../../../lib/resp/codec.ts";

/** A command's arguments (0 is its name): views made on access, see lib/resp/codec.ts. */
export type Args = CommandArgs;
import type { ReplyWriter } from "../../../lib/resp/writer.ts";
import type { Db, Keyspace } from "../keyspace.ts";
import type { Entry } from "../keyspace.ts";
import type { Value } from "../values.ts";
import type { BlockedClients } from "./blocking.ts";
import type { Slowlog } from "./introspection.ts";
import type { Watches } from "./transactions.ts";

/** An error reply; `message` is sent as is after "-". */
export class CommandError extends Error {
  override name = "CommandError";
}

export const WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value";
export const SYNTAX = "ERR syntax error";
export const NOT_INTEGER = "ERR value is not an integer or out of range";
export const NOT_FLOAT = "ERR value is not a valid float";
export const OVERFLOW = "ERR increment or decrement would overflow";
export const NO_SUCH_KEY = "ERR no such key";
export const INDEX_RANGE = "ERR index out of range";

export function fail(message: string): never {
  throw new CommandError(message);
}

export function arityError(name: string): string {
  return `ERR wrong number of arguments for '${name}' command`;
}

/** A blocking command that found nothing to pop: the server parks the client. */
export interface Blocked {
  readonly blocked: true;
  readonly keys: string[];
  /** Absolute deadline in ms, or 0 to wait forever. */
  readonly deadline: number;
  /** Tries again once a key is ready; true when it replied. */
  retry(ctx: Ctx): boolean;
  /** The reply when the deadline passes. */
  timeout(ctx: Ctx): void;
  /** The command and its arguments (copies), for the events its late reply causes. */
  command?: { name: string; args: Args };
}

/** A command MULTI queued, already resolved, with copies of its arguments. */
export interface QueuedCommand {
  readonly spec: CommandSpec;
  readonly args: Args;
}

/** A connection's memory, as CLIENT LIST shows it (qbuf, argv-mem, rbs, omem, tot-mem). */
export interface ClientMemory {
  /** Unparsed input buffered (qbuf). */
  queryBytes: number;
  /** Capacity of the read buffer not holding input (qbuf-free). */
  queryFreeBytes: number;
  /** The arguments of the command being run (argv-mem), an estimate. */
  argvBytes: number;
  /** Capacity of the reply buffers (rbs). */
  replyBufferBytes: number;
  /** Replies waiting to be written (omem). */
  outputBytes: number;
  /** All of the above that is allocated (tot-mem). */
  totalBytes: number;
}

/** Counters INFO stats shows. */
export interface ServerStats {
  commands: number;
  connections: number;
  keyspaceHits: number;
  keyspaceMisses: number;
  /** Bytes read from and written to clients (total_net_input/output_bytes). */
  netInputBytes: number;
  netOutputBytes: number;
  /** Socket reads and writes (total_reads/writes_processed). */
  reads: number;
  writes: number;
  errorReplies: number;
  /** The highest used_memory seen (sampled at each expiry cycle and INFO). */
  peakMemoryBytes: number;
}

/** One line of INFO commandstats. */
export interface CommandStat {
  calls: number;
  failed: number;
}

/** Per-connection state commands read and change. */
export interface Session {
  readonly id: number;
  db: Db;
  protocol: 2 | 3;
  name: string;
  authenticated: boolean;
  readonly createdAt: number;
  lastCommand: string;
  readonly addr: string;
  readonly laddr: string;
  /** Commands queued after MULTI, or undefined outside a transaction. */
  multi: QueuedCommand[] | undefined;
  /** Set when a queued command was rejected: EXEC then aborts. */
  multiError: boolean;
  /** Keys watched ("db\0key"), and whether one was touched since. */
  readonly watched: Set<string>;
  watchDirty: boolean;
  readonly channels: Set<string>;
  readonly patterns: Set<string>;
  /** The keyspace's clock (seconds) at this client's last read, for CLIENT LIST idle. */
  readonly interactedAt: number;
  /** Waiting in a blocking command (BLPOP ...). */
  readonly blocked: boolean;
  /** Asked to close after its replies are written (QUIT, CLIENT KILL). */
  closing: boolean;
  /** CLIENT REPLY: replies sent ("on"), dropped ("off"), or the next one dropped ("skip"). */
  replyMode: "on" | "off" | "skip";
  /** Closes the connection now (CLIENT KILL of another client). */
  kill(): void;
  /** Bytes of replies waiting to be written, for CLIENT LIST omem. */
  pendingBytes(): number;
  /** What this connection holds in memory, for CLIENT LIST and INFO. */
  memory(): ClientMemory;
  /** Appends a push message (pub/sub) to this client's output and flushes it. */
  deliver(write: (out: ReplyWriter) => void): void;
}

/** The server-wide state commands reach. */
export interface ServerState {
  readonly keyspace: Keyspace;
  readonly startedAt: number;
  readonly port: number;
  requirepass: string | undefined;
  /** Clients idle this long are closed (Redis `timeout`, in ms); 0: never. */
  idleTimeoutMs: number;
  readonly sessions: ReadonlyMap<number, Session>;
  readonly channels: Map<string, Set<Session>>;
  readonly patterns: Map<string, Set<Session>>;
  readonly config: Map<string, string>;
  readonly stats: ServerStats;
  /** Error replies by their first word (ERR, WRONGTYPE ...), for INFO errorstats. */
  readonly errorStats: Map<string, number>;
  /** Counts one error reply (INFO errorstats and total_error_replies). */
  countError(message: string): void;
  /** Random 40-hex identities Redis shows in INFO (run_id, master_replid). */
  readonly runId: string;
  readonly replId: string;
  /** Calls and failures per command ("config|get" for subcommands), for INFO commandstats. */
  readonly commandStats: Map<string, CommandStat>;
  /** Bounds CONFIG SET may change (client-query-buffer-limit, client-output-buffer-limit, proto-max-bulk-len). */
  readonly limits: { queryBufferBytesMax: number; outputBytesMax: number; bulkBytesMax: number };
  /** Clients refused at the connection cap since start (INFO rejected_connections). */
  readonly connectionsRefused: number;
  /** CONFIG SET maxclients: the connection cap from now on. */
  setConnectionsMax(n: number): void;
  /** Clients waiting in BLPOP and friends (blocking.ts). */
  readonly blocking: BlockedClients;
  /** Keys watched for MULTI/EXEC by this server's sessions (transactions.ts). */
  readonly watches: Watches;
  /** A list key got elements: wake clients blocked on it. */
  signalReady(db: Db, key: string): void;
  /** Touch a key for WATCH. */
  touch(db: Db, key: string): void;
  /** A key was evicted under maxmemory: WATCH and the "evicted" event. */
  evicted(db: Db, key: string): void;
  /** The dispatch table, for COMMAND. */
  readonly commands: ReadonlyMap<string, CommandSpec>;
  /** Clients in MONITOR mode. */
  readonly monitors: Set<Session>;
  /** The slow log (SLOWLOG). */
  readonly slowlog: Slowlog;
  /** CLIENT PAUSE: hold every command (`all`) or only writes until `untilMs`. */
  pause(untilMs: number, all: boolean): void;
  /** CLIENT UNPAUSE. */
  unpause(): void;
  /** notify-keyspace-events as flags (notify.ts); 0: off, and nothing is recorded. */
  notifyFlags: number;
  /**
   * Before a command runs: whether its lookups are reads (read_lookups.ts),
   * for keyspace_hits/misses and "keymiss" events; returns the outer
   * command's setting, which `leaveLookups` restores (EXEC nests).
   */
  enterLookups(spec: CommandSpec, args: Args): boolean | "quiet" | string[];
  leaveLookups(outer: boolean | "quiet" | string[]): void;
  /** Starts recording the keys the next command changes (nested for EXEC). */
  startChanges(): void;
  /** Stops recording and publishes the keyspace events the command caused. */
  emitChanges(command: string, args: Args): void;
}

export interface Ctx {
  readonly server: ServerState;
  readonly session: Session;
  readonly out: ReplyWriter;
  /** True while EXEC runs queued commands: blocking commands do not block. */
  readonly inExec: boolean;
}

export type Handler = (ctx: Ctx, args: Args) => void | Blocked;

export type CommandFlag =
  | "write"
  | "readonly"
  | "denyoom"
  | "admin"
  | "pubsub"
  | "noscript"
  | "blocking"
  | "loading"
  | "stale"
  | "fast"
  | "no_auth"
  | "allow_busy"
  | "no_multi";

export interface CommandSpec {
  readonly name: string;
  /** Redis arity: N means exactly N arguments with the name, -N at least N. */
  readonly arity: number;
  readonly flags: readonly CommandFlag[];
  readonly firstKey: number;
  readonly lastKey: number;
  readonly step: number;
  readonly group: string;
  readonly summary: string;
  /** The Redis version that added it, for COMMAND DOCS. */
  readonly since: string;
  /**
   * Where a numkeys argument says how many keys follow (LMPOP, BLMPOP,
   * ZMPOP, BZMPOP): COMMAND INFO then shows "movablekeys" and a keynum key
   * specification, as Redis does, instead of fixed positions.
   */
  readonly numkeysAt?: number;
  readonly run: Handler;
  /** Subcommands (CONFIG GET, CLIENT ID ...), dispatched on the second argument. */
  readonly subcommands?: ReadonlyMap<string, CommandSpec>;
}

/** Builds a table entry; key positions default to "no keys". */
export function command(
  name: string,
  arity: number,
  flags: readonly CommandFlag[],
  run: Handler,
  options:
    & Partial<
      Pick<
        CommandSpec,
        "firstKey" | "lastKey" | "step" | "group" | "summary" | "since" | "numkeysAt"
      >
    >
    & { subcommands?: CommandSpec[] } = {},
): CommandSpec {
  return {
    name,
    arity,
    flags,
    run,
    firstKey: options.firstKey ?? 0,
    lastKey: options.lastKey ?? 0,
    step: options.step ?? 0,
    group: options.group ?? "generic",
    summary: options.summary ?? "",
    since: options.since ?? "1.0.0",
    numkeysAt: options.numkeysAt,
    subcommands: options.subcommands
      ? new Map(options.subcommands.map((sub) => [sub.name.split("|")[1], sub]))
      : undefined,
  };
}

/** Looks up a key of the expected type; undefined when absent; WRONGTYPE otherwise. */
export function lookupTyped<T extends Value>(
  db: Db,
  key: string,
  guard: (value: Value) => value is T,
): Entry & { value: T } | undefined {
  const entry = db.lookup(key);
  if (entry === undefined) return undefined;
  if (!guard(entry.value)) fail(WRONGTYPE);
  return entry as Entry & { value: T };
}

/** Lowercased ASCII of an argument, for option names. */
export function lower(arg: Uint8Array): string {
  let s = "";
  for (let i = 0; i < arg.length; i++) {
    const c = arg[i];
    s += String.fromCharCode(c >= 65 && c <= 90 ? c + 32 : c);
  }
  return s;
}
