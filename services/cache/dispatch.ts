// Command dispatch: the typed table, then Redis's checks in Redis's order
// (server.c processCommand): unknown command, arity, authentication, the
// RESP2 pub/sub context, MULTI queueing, maxmemory; then the handler, with
// WATCH bookkeeping for writes. Transactions (MULTI EXEC DISCARD WATCH
// UNWATCH) live here because they wrap dispatch itself (multi.c).

import type { Bytes } from "../../lib/bytes.ts";
import { HASH_COMMANDS } from "./commands/hashes.ts";
import { KEY_COMMANDS } from "./commands/keys.ts";
import { LIST_COMMANDS } from "./commands/lists.ts";
import { PUBSUB_COMMANDS } from "./commands/pubsub.ts";
import { SERVER_COMMANDS } from "./commands/server.ts";
import { SET_COMMANDS } from "./commands/sets.ts";
import { STRING_COMMANDS } from "./commands/strings.ts";
import {
  arityError,
  type Blocked,
  command,
  CommandError,
  type CommandSpec,
  type Ctx,
  fail,
  lower,
} from "./commands/context.ts";
import { unsubscribeAll } from "./commands/pubsub.ts";
import { freeMemoryIfNeeded, OOM_ERROR } from "./eviction.ts";
import { toKey } from "./values.ts";

function multi(ctx: Ctx): void {
  if (ctx.session.multi !== undefined) fail("ERR MULTI calls can not be nested");
  ctx.session.multi = [];
  ctx.session.multiError = false;
  ctx.out.ok();
}

function discard(ctx: Ctx): void {
  if (ctx.session.multi === undefined) fail("ERR DISCARD without MULTI");
  endTransaction(ctx);
  ctx.out.ok();
}

function endTransaction(ctx: Ctx): void {
  ctx.session.multi = undefined;
  ctx.session.multiError = false;
  unwatchAll(ctx);
}

function exec(ctx: Ctx): void {
  const queued = ctx.session.multi;
  if (queued === undefined) fail("ERR EXEC without MULTI");
  if (ctx.session.multiError) {
    endTransaction(ctx);
    fail("EXECABORT Transaction discarded because of previous errors.");
  }
  const dirty = ctx.session.watchDirty;
  endTransaction(ctx);
  if (dirty) return ctx.out.nullArray();
  ctx.out.arrayHeader(queued.length);
  const inner: Ctx = { ...ctx, inExec: true };
  for (const args of queued) runCommand(inner, args, COMMANDS.get(lower(args[0]))!);
}

function watchKey(ctx: Ctx, name: string): string {
  return `${ctx.session.db.index}\0${name}`;
}

function watch(ctx: Ctx, args: Bytes[]): void {
  if (ctx.session.multi !== undefined) fail("ERR WATCH inside MULTI is not allowed");
  for (let i = 1; i < args.length; i++) {
    const id = watchKey(ctx, toKey(args[i]));
    if (ctx.session.watched.has(id)) continue;
    ctx.session.watched.add(id);
    let set = WATCHERS.get(id);
    if (set === undefined) WATCHERS.set(id, set = new Set());
    set.add(ctx.session);
  }
  ctx.out.ok();
}

function unwatchAll(ctx: Ctx): void {
  for (const id of ctx.session.watched) {
    const set = WATCHERS.get(id);
    set?.delete(ctx.session);
    if (set?.size === 0) WATCHERS.delete(id);
  }
  ctx.session.watched.clear();
  ctx.session.watchDirty = false;
}

/** Sessions watching each "db\0key"; module-level since WATCH spans the process. */
const WATCHERS = new Map<string, Set<Ctx["session"]>>();

/** Marks sessions watching a key as dirty (their EXEC will fail). */
export function touchWatched(dbIndex: number, key: string): void {
  if (WATCHERS.size === 0) return;
  const set = WATCHERS.get(`${dbIndex}\0${key}`);
  if (set === undefined) return;
  for (const session of set) session.watchDirty = true;
}

/** Forgets a disconnected session's watches. */
export function forgetSession(ctx: Ctx): void {
  unwatchAll(ctx);
}

/** RESET: the connection back to its state right after connecting. */
function reset(ctx: Ctx): void {
  const session = ctx.session;
  session.multi = undefined;
  session.multiError = false;
  unwatchAll(ctx);
  unsubscribeAll(ctx);
  session.db = ctx.server.keyspace.dbs[0];
  session.name = "";
  session.protocol = 2;
  ctx.out.protocol = 2;
  session.authenticated = ctx.server.requirepass === undefined;
  ctx.out.simple("RESET");
}

const TRANSACTION_COMMANDS: CommandSpec[] = [
  command("reset", 1, ["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"], reset, {
    group: "connection",
  }),
  command("multi", 1, ["noscript", "loading", "stale", "fast", "allow_busy"], multi, {
    group: "transactions",
  }),
  command("exec", 1, ["noscript", "loading", "stale", "skip_slowlog" as "stale"], exec, {
    group: "transactions",
  }),
  command("discard", 1, ["noscript", "loading", "stale", "fast", "allow_busy"], discard, {
    group: "transactions",
  }),
  command("watch", -2, ["noscript", "loading", "stale", "fast", "allow_busy"], watch, {
    group: "transactions",
    firstKey: 1,
    lastKey: -1,
    step: 1,
  }),
  command("unwatch", 1, ["noscript", "loading", "stale", "fast", "allow_busy"], (ctx) => {
    unwatchAll(ctx);
    ctx.out.ok();
  }, { group: "transactions" }),
];

/** The dispatch table: lowercase name to spec. */
export const COMMANDS: ReadonlyMap<string, CommandSpec> = new Map(
  [
    ...STRING_COMMANDS,
    ...KEY_COMMANDS,
    ...HASH_COMMANDS,
    ...LIST_COMMANDS,
    ...SET_COMMANDS,
    ...PUBSUB_COMMANDS,
    ...SERVER_COMMANDS,
    ...TRANSACTION_COMMANDS,
  ].map((spec) => [spec.name, spec]),
);

/**
 * A case-insensitive hash of a command name, computed from the bytes
 * without building a string: the hot path finds SET or GET with one numeric
 * Map lookup and a byte compare.
 */
function nameHash(bytes: Uint8Array): number {
  let h = bytes.length;
  for (let i = 0; i < bytes.length; i++) h = (Math.imul(h, 33) + (bytes[i] | 0x20)) >>> 0;
  return h;
}

const BY_HASH = new Map<number, CommandSpec>();
for (const spec of COMMANDS.values()) {
  const hash = nameHash(new TextEncoder().encode(spec.name));
  // A collision would make both names take the slow path; none exist today.
  if (BY_HASH.has(hash)) BY_HASH.delete(hash);
  else BY_HASH.set(hash, spec);
}

function fastLookup(name: Uint8Array): CommandSpec | undefined {
  if (name.length > 16) return undefined;
  const spec = BY_HASH.get(nameHash(name));
  if (spec === undefined || spec.name.length !== name.length) return undefined;
  for (let i = 0; i < name.length; i++) {
    if ((name[i] | 0x20) !== spec.name.charCodeAt(i) && name[i] !== spec.name.charCodeAt(i)) {
      return undefined;
    }
  }
  return spec;
}

/** Commands a RESP2 client may run while subscribed. */
const SUBSCRIBED_ALLOWED = new Set([
  "subscribe",
  "psubscribe",
  "unsubscribe",
  "punsubscribe",
  "ping",
  "quit",
  "reset",
]);

/** Commands that run at once even inside MULTI. */
const MULTI_IMMEDIATE = new Set(["exec", "discard", "multi", "watch", "quit", "reset"]);

function quoteArg(arg: Uint8Array): string {
  return `'${toKey(arg.subarray(0, 128))}' `;
}

/** Resolves a command and, for containers, its subcommand; or returns an error message. */
function resolve(args: Bytes[]): CommandSpec | string {
  // Clients send names in upper case (redis-benchmark, most libraries) or
  // lower case; both are in LOOKUP, so the common path lowercases nothing.
  const spec = fastLookup(args[0]) ?? COMMANDS.get(lower(args[0]));
  if (spec === undefined) {
    let message = `ERR unknown command '${
      toKey(args[0].subarray(0, 128))
    }', with args beginning with: `;
    for (let i = 1; i < args.length && message.length < 1024; i++) message += quoteArg(args[i]);
    return message;
  }
  if (spec.subcommands !== undefined && (args.length >= 2 || spec.name !== "command")) {
    if (args.length < 2) return arityError(spec.name);
    const sub = spec.subcommands.get(lower(args[1]));
    if (sub === undefined) {
      return `ERR unknown subcommand '${
        toKey(args[1].subarray(0, 128))
      }'. Try ${spec.name.toUpperCase()} HELP.`;
    }
    return checkArity(sub, args.length) ?? sub;
  }
  return checkArity(spec, args.length) ?? spec;
}

function checkArity(spec: CommandSpec, argc: number): string | undefined {
  if ((spec.arity > 0 && argc !== spec.arity) || argc < -spec.arity) return arityError(spec.name);
  return undefined;
}

/** Runs one command from the wire. Returns a Blocked description when the client must wait. */
export function dispatch(ctx: Ctx, args: Bytes[]): void | Blocked {
  const session = ctx.session;
  const resolved = resolve(args);
  if (typeof resolved === "string") {
    if (session.multi !== undefined) session.multiError = true;
    ctx.out.error(resolved);
    return;
  }
  const spec = resolved;
  const name = spec.name;
  session.lastCommand = name;
  if (
    ctx.server.requirepass !== undefined && !session.authenticated &&
    !spec.flags.includes("no_auth")
  ) {
    if (session.multi !== undefined) session.multiError = true;
    ctx.out.error("NOAUTH Authentication required.");
    return;
  }
  if (
    session.protocol === 2 && (session.channels.size > 0 || session.patterns.size > 0) &&
    !SUBSCRIBED_ALLOWED.has(name)
  ) {
    ctx.out.error(
      `ERR Can't execute '${name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`,
    );
    return;
  }
  const space = ctx.server.keyspace;
  if (space.maxmemoryBytes !== 0 && space.usedBytes > space.maxmemoryBytes) {
    const fits = freeMemoryIfNeeded(space, (db, key) => ctx.server.touch(db, key));
    if (!fits && spec.flags.includes("denyoom")) {
      if (session.multi !== undefined) session.multiError = true;
      ctx.out.error(OOM_ERROR);
      return;
    }
  }
  if (session.multi !== undefined && !MULTI_IMMEDIATE.has(name.split("|")[0])) {
    session.multi.push(args.map((arg) => arg.slice()));
    ctx.out.simple("QUEUED");
    return;
  }
  return runCommand(ctx, args, spec);
}

/** Calls the handler, turning a CommandError into an error reply. */
function runCommand(ctx: Ctx, args: Bytes[], found: CommandSpec): void | Blocked {
  let spec = found;
  if (spec.subcommands !== undefined && args.length >= 2) {
    spec = spec.subcommands.get(lower(args[1])) ?? spec;
  }
  const mark = ctx.out.length;
  ctx.server.stats.commands++;
  try {
    const result = spec.run(ctx, args);
    if (spec.firstKey > 0 && spec.flags[0] === "write") touchKeys(ctx, spec, args);
    return result;
  } catch (error) {
    ctx.out.truncate(mark);
    if (error instanceof CommandError) {
      ctx.out.error(error.message);
      return;
    }
    ctx.out.error(`ERR ${error instanceof Error ? error.message : String(error)}`);
  }
}

function touchKeys(ctx: Ctx, spec: CommandSpec, args: Bytes[]): void {
  if (WATCHERS.size === 0) return;
  const last = spec.lastKey < 0 ? args.length + spec.lastKey : spec.lastKey;
  for (let i = spec.firstKey; i <= last; i += spec.step) {
    touchWatched(ctx.session.db.index, toKey(args[i]));
  }
}
