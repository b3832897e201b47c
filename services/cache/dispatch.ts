// Command dispatch: the typed table, then Redis's checks in Redis's order
// (server.c processCommand): unknown command, arity, authentication, the
// RESP2 pub/sub context, maxmemory, MULTI queueing; then the handler
// (commands/run.ts), and after it the clients blocked on keys it filled.
// Transactions live in commands/transactions.ts and blocked clients in
// commands/blocking.ts; both keep their state in the server they belong to.

import { CommandArgs } from "../../lib/resp/codec.ts";
import type { Args } from "./commands/context.ts";
import { BIT_COMMANDS } from "./commands/bits.ts";
import { BLOCKING_COMMANDS } from "./commands/blocking.ts";
import { HASH_COMMANDS } from "./commands/hashes.ts";
import { HLL_COMMANDS } from "./commands/hyperloglog.ts";
import { KEY_COMMANDS } from "./commands/keys.ts";
import { LCS_COMMANDS } from "./commands/lcs.ts";
import { LIST_COMMANDS } from "./commands/lists.ts";
import { PUBSUB_COMMANDS } from "./commands/pubsub.ts";
import { SERVER_COMMANDS } from "./commands/server.ts";
import { INTROSPECTION_COMMANDS } from "./commands/introspection.ts";
import { OBJECT_COMMANDS } from "./commands/object.ts";
import { SET_COMMANDS } from "./commands/sets.ts";
import { SORT_COMMANDS } from "./commands/sort.ts";
import { STRING_COMMANDS } from "./commands/strings.ts";
import { ZSET_COMMANDS } from "./commands/zsets.ts";
import { MULTI_IMMEDIATE, TRANSACTION_COMMANDS } from "./commands/transactions.ts";
import { arityError, type Blocked, type CommandSpec, type Ctx, lower } from "./commands/context.ts";
import { runCommand } from "./commands/run.ts";
import { freeMemoryIfNeeded, OOM_ERROR } from "./eviction.ts";
import { toKey } from "./values.ts";

/** The dispatch table: lowercase name to spec. */
export const COMMANDS: ReadonlyMap<string, CommandSpec> = new Map(
  [
    ...STRING_COMMANDS,
    ...LCS_COMMANDS,
    ...KEY_COMMANDS,
    ...HASH_COMMANDS,
    ...LIST_COMMANDS,
    ...BLOCKING_COMMANDS,
    ...SET_COMMANDS,
    ...ZSET_COMMANDS,
    ...BIT_COMMANDS,
    ...HLL_COMMANDS,
    ...SORT_COMMANDS,
    ...OBJECT_COMMANDS,
    ...INTROSPECTION_COMMANDS,
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
function nameHash(bytes: Uint8Array, start = 0, length = bytes.length): number {
  let h = length;
  for (let i = start; i < start + length; i++) h = (Math.imul(h, 33) + (bytes[i] | 0x20)) >>> 0;
  return h;
}

const BY_HASH = new Map<number, CommandSpec>();
for (const spec of COMMANDS.values()) {
  const hash = nameHash(new TextEncoder().encode(spec.name));
  // A collision would make both names take the slow path; none exist today.
  if (BY_HASH.has(hash)) BY_HASH.delete(hash);
  else BY_HASH.set(hash, spec);
}

/** The command named by argument 0, read in place (no view); undefined: take the slow path. */
function fastLookup(args: Args): CommandSpec | undefined {
  const length = args.lengthOf(0);
  if (length > 16) return undefined;
  const buffer = args.buffer ?? args.at(0);
  const start = args.buffer === undefined ? 0 : args.startOf(0);
  const spec = BY_HASH.get(nameHash(buffer, start, length));
  if (spec === undefined || spec.name.length !== length) return undefined;
  for (let i = 0; i < length; i++) {
    const byte = buffer[start + i];
    if ((byte | 0x20) !== spec.name.charCodeAt(i) && byte !== spec.name.charCodeAt(i)) {
      return undefined;
    }
  }
  return spec;
}

/** Commands that run past maxmemory even inside MULTI. */
const MULTI_OOM_EXEMPT = new Set(["exec", "discard", "quit", "reset"]);

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

function quoteArg(arg: Uint8Array): string {
  return `'${toKey(arg.subarray(0, 128))}' `;
}

/** Resolves a command and, for containers, its subcommand; or returns an error message. */
function resolve(args: Args): CommandSpec | string {
  // Clients send names in upper case (redis-benchmark, most libraries) or
  // lower case; both are in LOOKUP, so the common path lowercases nothing.
  const spec = fastLookup(args) ?? COMMANDS.get(lower(args.at(0)));
  if (spec === undefined) {
    let message = `ERR unknown command '${
      toKey(args.at(0).subarray(0, 128))
    }', with args beginning with: `;
    for (let i = 1; i < args.length && message.length < 1024; i++) message += quoteArg(args.at(i));
    return message;
  }
  if (spec.subcommands !== undefined && (args.length >= 2 || spec.name !== "command")) {
    if (args.length < 2) return arityError(spec.name);
    const sub = spec.subcommands.get(lower(args.at(1)));
    if (sub === undefined) {
      return `ERR unknown subcommand '${
        toKey(args.at(1).subarray(0, 128))
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

/**
 * Whether CLIENT PAUSE holds this command: every command in ALL mode, and
 * in WRITE mode the ones that may write (as Redis 7.0 pauses them).
 */
export function pausedBy(args: Args, writesOnly: boolean): boolean {
  if (!writesOnly) return true;
  const spec = fastLookup(args) ?? COMMANDS.get(lower(args.at(0)));
  if (spec === undefined) return false;
  return spec.flags.includes("write") || spec.name === "publish";
}

/** Runs one command from the wire. Returns a Blocked description when the client must wait. */
export function dispatch(ctx: Ctx, args: Args): void | Blocked {
  const session = ctx.session;
  const resolved = resolve(args);
  if (typeof resolved === "string") {
    if (session.multi !== undefined) session.multiError = true;
    ctx.server.countError(resolved);
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
    ctx.server.countError("NOAUTH Authentication required.");
    ctx.out.error("NOAUTH Authentication required.");
    return;
  }
  if (
    session.protocol === 2 && (session.channels.size > 0 || session.patterns.size > 0) &&
    !SUBSCRIBED_ALLOWED.has(name)
  ) {
    const message =
      `ERR Can't execute '${name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`;
    ctx.server.countError(message);
    ctx.out.error(message);
    return;
  }
  if (
    ctx.server.monitors.size > 0 && ctx.server.monitors.has(session) &&
    (spec.flags.includes("write") || spec.flags.includes("readonly"))
  ) {
    // Redis treats a monitor as a replica: it may not touch keys.
    ctx.server.countError("ERR Replica can't interact with the keyspace");
    ctx.out.error("ERR Replica can't interact with the keyspace");
    return;
  }
  const space = ctx.server.keyspace;
  if (space.maxmemoryBytes !== 0 && space.usedBytes > space.maxmemoryBytes) {
    const fits = freeMemoryIfNeeded(space, (db, key) => ctx.server.evicted(db, key));
    // Inside MULTI every command but EXEC, DISCARD, QUIT and RESET is
    // refused, since queueing itself takes memory (Redis processCommand).
    if (
      !fits &&
      (spec.flags.includes("denyoom") ||
        (session.multi !== undefined && !MULTI_OOM_EXEMPT.has(name)))
    ) {
      if (session.multi !== undefined) session.multiError = true;
      ctx.server.countError(OOM_ERROR);
      ctx.out.error(OOM_ERROR);
      return;
    }
  }
  if (session.multi !== undefined && !MULTI_IMMEDIATE.has(name.split("|")[0])) {
    session.multi.push({ spec, args: CommandArgs.of(args.map((arg) => arg.slice())) });
    ctx.out.simple("QUEUED");
    return;
  }
  const replyMode = session.replyMode;
  const mark = ctx.out.length;
  const blocked = runCommand(ctx, args, spec);
  if (replyMode !== "on") {
    // CLIENT REPLY OFF drops every reply but CLIENT REPLY ON's; SKIP drops this one.
    if (replyMode === "skip" || session.replyMode !== "on") ctx.out.truncate(mark);
    if (replyMode === "skip" && session.replyMode === "skip") session.replyMode = "on";
  }
  // A push (or EXEC holding one) may have filled keys clients wait on;
  // they are served now, before the next command, as Redis does.
  if (ctx.server.blocking.hasReady) ctx.server.blocking.serveReady();
  // A parked command keeps copies of its arguments for the events its late reply causes.
  if (blocked !== undefined) {
    return { ...blocked, command: { name, args: CommandArgs.of(args.map((arg) => arg.slice())) } };
  }
  return blocked;
}
