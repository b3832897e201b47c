// Transactions (Redis "transactions" group, multi.c): MULTI queues the
// commands that follow, EXEC runs them back to back, DISCARD drops them;
// WATCH makes the next EXEC fail (a null array) when a watched key was
// written since, by anyone. RESET lives here too, since it ends a
// transaction and drops the watches.
//
// The watch registry belongs to one server (`ServerState.watches`): two
// caches in one process never see each other's keys. A command dirties the
// keys it names when its spec carries the `write` flag (run.ts); expiry,
// eviction and the commands that move values between keys (RENAME, LMOVE,
// FLUSHDB...) touch keys themselves through `ServerState.touch`.
//
// A command queued after MULTI keeps its resolved spec, so EXEC runs it
// without looking it up again. Commands rejected while queueing (unknown,
// wrong arity, NOAUTH, OOM) make EXEC answer EXECABORT, as in Redis 2.6+.

import type { Args } from "./context.ts";
import { toKey } from "../values.ts";
import { command, type CommandSpec, type Ctx, fail, type Session } from "./context.ts";
import { unsubscribeAll } from "./pubsub.ts";
import { runCommand } from "./run.ts";

/** Sessions watching each key of one server, by "db\0key". */
export class Watches {
  #watchers = new Map<string, Set<Session>>();

  /** Keys watched by anyone: zero makes `touch` a single compare. */
  get size(): number {
    return this.#watchers.size;
  }

  watch(session: Session, dbIndex: number, key: string): void {
    const id = `${dbIndex}\0${key}`;
    if (session.watched.has(id)) return;
    session.watched.add(id);
    let set = this.#watchers.get(id);
    if (set === undefined) this.#watchers.set(id, set = new Set());
    set.add(session);
  }

  /** Forgets every watch of a session (EXEC, DISCARD, UNWATCH, RESET, disconnect). */
  unwatchAll(session: Session): void {
    for (const id of session.watched) {
      const set = this.#watchers.get(id);
      set?.delete(session);
      if (set?.size === 0) this.#watchers.delete(id);
    }
    session.watched.clear();
    session.watchDirty = false;
  }

  /** A key was written: every session watching it will fail its EXEC. */
  touch(dbIndex: number, key: string): void {
    if (this.#watchers.size === 0) return;
    const set = this.#watchers.get(`${dbIndex}\0${key}`);
    if (set === undefined) return;
    for (const session of set) session.watchDirty = true;
  }
}

function multi(ctx: Ctx): void {
  if (ctx.session.multi !== undefined) fail("ERR MULTI calls can not be nested");
  ctx.session.multi = [];
  ctx.session.multiError = false;
  ctx.out.ok();
}

function endTransaction(ctx: Ctx): void {
  ctx.session.multi = undefined;
  ctx.session.multiError = false;
  ctx.server.watches.unwatchAll(ctx.session);
}

function discard(ctx: Ctx): void {
  if (ctx.session.multi === undefined) fail("ERR DISCARD without MULTI");
  endTransaction(ctx);
  ctx.out.ok();
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
  for (const { spec, args } of queued) runCommand(inner, args, spec);
}

function watch(ctx: Ctx, args: Args): void {
  if (ctx.session.multi !== undefined) fail("ERR WATCH inside MULTI is not allowed");
  const dbIndex = ctx.session.db.index;
  for (let i = 1; i < args.length; i++) {
    ctx.server.watches.watch(ctx.session, dbIndex, toKey(args.at(i)));
  }
  ctx.out.ok();
}

function unwatch(ctx: Ctx): void {
  ctx.server.watches.unwatchAll(ctx.session);
  ctx.out.ok();
}

/** RESET: the connection back to its state right after connecting. */
function reset(ctx: Ctx): void {
  const session = ctx.session;
  endTransaction(ctx);
  unsubscribeAll(ctx);
  session.db = ctx.server.keyspace.dbs[0];
  session.name = "";
  session.protocol = 2;
  ctx.out.protocol = 2;
  session.authenticated = ctx.server.requirepass === undefined;
  ctx.out.simple("RESET");
}

/** Commands that run at once even inside MULTI. */
export const MULTI_IMMEDIATE: ReadonlySet<string> = new Set([
  "exec",
  "discard",
  "multi",
  "watch",
  "quit",
  "reset",
]);

const g = { group: "transactions" } as const;

export const TRANSACTION_COMMANDS: CommandSpec[] = [
  command("reset", 1, ["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"], reset, {
    group: "connection",
  }),
  command("multi", 1, ["noscript", "loading", "stale", "fast", "allow_busy"], multi, g),
  command("exec", 1, ["noscript", "loading", "stale", "skip_slowlog" as "stale"], exec, g),
  command("discard", 1, ["noscript", "loading", "stale", "fast", "allow_busy"], discard, g),
  command("watch", -2, ["noscript", "loading", "stale", "fast", "allow_busy"], watch, {
    ...g,
    firstKey: 1,
    lastKey: -1,
    step: 1,
  }),
  command("unwatch", 1, ["noscript", "loading", "stale", "fast", "allow_busy"], unwatch, g),
];
