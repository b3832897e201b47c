// Blocking commands and the clients waiting in them (Redis: blocked.c,
// t_list.c, t_zset.c): BLPOP, BRPOP, BLMOVE, BRPOPLPUSH and BLMPOP on
// lists, BZPOPMIN, BZPOPMAX and BZMPOP on sorted sets.
//
// A blocking command that finds every key empty returns a `Blocked`
// description instead of replying. The server parks the client here
// (`park`); a push to one of its keys marks the key ready
// (`signalReady`; the keyspace also signals every key it creates, as
// Redis's dbAdd does), and after the command that pushed, `serveReady` retries
// the waiters of each ready key, oldest first, until the key runs dry
// (FIFO among waiters, as Redis serves them). At its deadline a waiter gets
// a null reply. Inside MULTI (EXEC) these commands never block: they answer
// at once with what is there, or null.
//
// The registry belongs to one server (`ServerState.blocking`). A waiter's
// deadline is its own timer: these are rare (one per parked client) and a
// BLPOP with a 0.05 s timeout must not wait for a coarse sweep.

import type { Args } from "./context.ts";
import type { Db } from "../keyspace.ts";
import { ListValue, toKey } from "../values.ts";
import {
  type Blocked,
  command,
  CommandError,
  type CommandSpec,
  type Ctx,
  fail,
  type Session,
} from "./context.ts";
import { lmpopArgs, lmpopFrom, lookupList, move, popOne, side } from "./lists.ts";
import { lookupZSet, mpopArgs, mpopFrom, popScored } from "./zsets.ts";
import { ZSetValue } from "../zset.ts";

/** Rounds of retries per `serveReady` call: each round may make other keys ready (BLMOVE). */
const SERVE_ROUNDS_MAX = 1000;

interface Waiter {
  readonly ctx: Ctx;
  readonly blocked: Blocked;
  /** The "db\0key" ids it waits on. */
  readonly ids: string[];
  readonly wake: () => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** The clients of one server parked in a blocking command. */
export class BlockedClients {
  #byKey = new Map<string, Waiter[]>();
  #bySession = new Map<Session, Waiter>();
  #ready = new Set<string>();

  /** How many clients are parked. */
  get size(): number {
    return this.#bySession.size;
  }

  /** Parked clients with a deadline (INFO clients_in_timeout_table). */
  get timedCount(): number {
    let n = 0;
    for (const waiter of this.#bySession.values()) if (waiter.timer !== undefined) n++;
    return n;
  }

  isBlocked(session: Session): boolean {
    return this.#bySession.has(session);
  }

  /** True when a key with waiters got elements since the last `serveReady`. */
  get hasReady(): boolean {
    return this.#ready.size > 0;
  }

  /**
   * Parks a client until one of its keys serves it, its deadline passes
   * (it then gets the command's timeout reply), or `release` is called.
   */
  park(ctx: Ctx, blocked: Blocked): Promise<void> {
    return new Promise<void>((resolve) => {
      const dbIndex = ctx.session.db.index;
      const waiter: Waiter = {
        ctx,
        blocked,
        // Deduplicated: BLPOP k k 0 must sit in k's queue once, or one push
        // would serve it twice (two replies, two elements popped).
        ids: [...new Set(blocked.keys.map((key) => `${dbIndex}\0${key}`))],
        wake: resolve,
        timer: undefined,
      };
      this.#bySession.set(ctx.session, waiter);
      for (const id of waiter.ids) {
        let list = this.#byKey.get(id);
        if (list === undefined) this.#byKey.set(id, list = []);
        list.push(waiter);
      }
      if (blocked.deadline !== 0) {
        waiter.timer = setTimeout(() => {
          blocked.timeout(ctx);
          this.release(ctx.session);
        }, Math.max(0, blocked.deadline - Date.now()));
      }
    });
  }

  /** Unparks a client without a reply (disconnect, shutdown); its `park` resolves. */
  release(session: Session): void {
    const waiter = this.#bySession.get(session);
    if (waiter === undefined) return;
    this.#bySession.delete(session);
    for (const id of waiter.ids) {
      const list = this.#byKey.get(id);
      if (list === undefined) continue;
      const at = list.indexOf(waiter);
      if (at !== -1) list.splice(at, 1);
      if (list.length === 0) this.#byKey.delete(id);
    }
    if (waiter.timer !== undefined) clearTimeout(waiter.timer);
    waiter.wake();
  }

  /** A list key got elements: its waiters are served after the current command. */
  signalReady(db: Db, key: string): void {
    if (this.#byKey.size === 0) return;
    const id = `${db.index}\0${key}`;
    if (this.#byKey.has(id)) this.#ready.add(id);
  }

  /**
   * After SWAPDB: every key of `db` with waiters that now exists is ready
   * (a waiter skips a key of a type it does not pop).
   */
  signalDatabase(db: Db): void {
    const prefix = `${db.index}\0`;
    for (const id of this.#byKey.keys()) {
      if (!id.startsWith(prefix)) continue;
      if (db.peek(id.slice(prefix.length)) !== undefined) this.#ready.add(id);
    }
  }

  /** Serves clients blocked on keys that got elements, oldest first. */
  serveReady(): void {
    for (let round = 0; round < SERVE_ROUNDS_MAX && this.#ready.size > 0; round++) {
      const ids = [...this.#ready];
      this.#ready.clear();
      for (const id of ids) {
        const list = this.#byKey.get(id);
        if (list === undefined) continue;
        for (const waiter of [...list]) {
          // Served meanwhile through another key, or gone: never twice.
          if (this.#bySession.get(waiter.ctx.session) !== waiter) continue;
          if (!this.#serve(waiter)) break;
        }
      }
    }
  }

  /**
   * Retries one waiter; true when it was answered (and released). An error
   * serving it (BLMOVE into a key that now holds a string) is its own
   * reply: written to the waiter, which is released, as Redis does; it
   * never reaches the client whose push woke it, nor the other waiters.
   */
  #serve(waiter: Waiter): boolean {
    const out = waiter.ctx.out;
    const mark = out.length;
    const server = waiter.ctx.server;
    const command = waiter.blocked.command;
    const notifying = server.notifyFlags !== 0 && command !== undefined;
    if (notifying) server.startChanges();
    try {
      if (!waiter.blocked.retry(waiter.ctx)) return false;
    } catch (error) {
      out.truncate(mark);
      out.error(
        error instanceof CommandError
          ? error.message
          : `ERR ${error instanceof Error ? error.message : String(error)}`,
      );
    } finally {
      if (notifying) server.emitChanges(command.name, command.args);
    }
    this.release(waiter.ctx.session);
    return true;
  }
}

/** Parses a blocking timeout in seconds to an absolute deadline (0: forever). */
export function deadlineArg(arg: Uint8Array): number {
  const text = toKey(arg);
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) {
    fail("ERR timeout is not a float or out of range");
  }
  const seconds = Number(text);
  if (seconds < 0) fail("ERR timeout is negative");
  if (!Number.isFinite(seconds)) fail("ERR timeout is not a float or out of range");
  return seconds === 0 ? 0 : Date.now() + Math.max(1, Math.round(seconds * 1000));
}

/** BLPOP / BRPOP: pop from the first non-empty key, or wait for one. */
function bpop(front: boolean) {
  return (ctx: Ctx, args: Args): void | Blocked => {
    const deadline = deadlineArg(args.at(args.length - 1));
    const keys = args.slice(1, -1).map(toKey);
    // Served later (`serving`), a key that now holds another type is
    // passed over and the client stays blocked, as in Redis; only the
    // first attempt answers WRONGTYPE.
    const attempt = (c: Ctx, serving: boolean): boolean => {
      const db = c.session.db;
      for (const key of keys) {
        if (serving && !(db.peek(key)?.value instanceof ListValue)) continue;
        const entry = lookupList(db, key);
        if (entry === undefined) continue;
        c.out.arrayHeader(2);
        c.out.bulkString(key);
        c.out.bulkString(popOne(db, entry, front));
        c.server.touch(db, key);
        return true;
      }
      return false;
    };
    if (attempt(ctx, false)) return;
    if (ctx.inExec) return ctx.out.nullArray();
    return {
      blocked: true,
      keys,
      deadline,
      retry: (c) => attempt(c, true),
      timeout: (c) => c.out.nullArray(),
    };
  };
}

/** BLMOVE / BRPOPLPUSH: move one element, or wait for the source to get one. */
function bmove(ctx: Ctx, args: Args, fromLeft: boolean, toLeft: boolean, timeoutAt: number) {
  const from = toKey(args.at(1));
  const to = toKey(args.at(2));
  const deadline = deadlineArg(args.at(timeoutAt));
  const attempt = (c: Ctx, serving: boolean): boolean => {
    if (serving && !(c.session.db.peek(from)?.value instanceof ListValue)) return false;
    // A destination of another type throws WRONGTYPE before anything moves.
    const value = move(c, from, to, fromLeft, toLeft);
    if (value === undefined) return false;
    c.out.bulkString(value);
    return true;
  };
  if (attempt(ctx, false)) return;
  if (ctx.inExec) return ctx.out.nullBulk();
  const blocked: Blocked = {
    blocked: true,
    keys: [from],
    deadline,
    retry: (c) => attempt(c, true),
    timeout: (c) => c.out.nullArray(),
  };
  return blocked;
}

/** BZPOPMIN / BZPOPMAX key [key ...] timeout: [key, member, score], or wait. */
function bzpop(max: boolean) {
  return (ctx: Ctx, args: Args): void | Blocked => {
    const deadline = deadlineArg(args.at(args.length - 1));
    const keys = args.slice(1, -1).map(toKey);
    const attempt = (c: Ctx, serving: boolean): boolean => {
      const db = c.session.db;
      for (const key of keys) {
        if (serving && !(db.peek(key)?.value instanceof ZSetValue)) continue;
        const entry = lookupZSet(db, key);
        if (entry === undefined) continue;
        c.out.arrayHeader(3);
        c.out.bulkString(key);
        popScored(c, entry, max, 1, false);
        return true;
      }
      return false;
    };
    if (attempt(ctx, false)) return;
    if (ctx.inExec) return ctx.out.nullArray();
    return {
      blocked: true,
      keys,
      deadline,
      retry: (c) => attempt(c, true),
      timeout: (c) => c.out.nullArray(),
    };
  };
}

/**
 * The blocking *MPOP: pops from the first of `keys` holding a `Type` value
 * now, or parks the client and retries each time one of them is created
 * (then skipping keys of another type, as Redis serves only its own kind).
 */
function blockingMpop<Call extends { keys: string[] }>(
  ctx: Ctx,
  call: Call,
  deadline: number,
  type: abstract new (...args: never[]) => unknown,
  popFrom: (c: Ctx, key: string, call: Call) => boolean,
): void | Blocked {
  const attempt = (c: Ctx, serving: boolean): boolean => {
    for (const key of call.keys) {
      if (serving && !(c.session.db.peek(key)?.value instanceof type)) continue;
      if (popFrom(c, key, call)) return true;
    }
    return false;
  };
  if (attempt(ctx, false)) return;
  if (ctx.inExec) return ctx.out.nullArray();
  return {
    blocked: true,
    keys: call.keys,
    deadline,
    retry: (c) => attempt(c, true),
    timeout: (c) => c.out.nullArray(),
  };
}

/** BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]: ZMPOP, or wait. */
function bzmpop(ctx: Ctx, args: Args): void | Blocked {
  // Redis parses numkeys, the keys, MIN|MAX and COUNT before the timeout.
  const call = mpopArgs(args, 2);
  return blockingMpop(ctx, call, deadlineArg(args.at(1)), ZSetValue, mpopFrom);
}

/** BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]: LMPOP, or wait. */
function blmpop(ctx: Ctx, args: Args): void | Blocked {
  // As BZMPOP: numkeys, the side and COUNT are checked before the timeout.
  const call = lmpopArgs(args, 2);
  return blockingMpop(ctx, call, deadlineArg(args.at(1)), ListValue, lmpopFrom);
}

const k2 = { firstKey: 1, lastKey: 2, step: 1, group: "list" } as const;
const kz = { firstKey: 1, lastKey: -2, step: 1, group: "sorted-set" } as const;
const kb = { firstKey: 1, lastKey: -2, step: 1, group: "list" } as const;

export const BLOCKING_COMMANDS: CommandSpec[] = [
  command("blpop", -3, ["write", "blocking"], bpop(true), kb),
  command("brpop", -3, ["write", "blocking"], bpop(false), kb),
  command("blmove", 6, ["write", "denyoom", "blocking"], (ctx, a) => {
    return bmove(ctx, a, side(a.at(3)), side(a.at(4)), 5);
  }, k2),
  command("brpoplpush", 4, ["write", "denyoom", "blocking"], (ctx, a) => {
    return bmove(ctx, a, false, true, 3);
  }, k2),
  command("bzpopmin", -3, ["write", "blocking", "fast"], bzpop(false), kz),
  command("bzpopmax", -3, ["write", "blocking", "fast"], bzpop(true), kz),
  command("bzmpop", -5, ["write", "blocking"], bzmpop, {
    group: "sorted-set",
    summary:
      "Remove and return members with scores in a sorted set or block until one is available",
    since: "7.0.0",
    numkeysAt: 2,
  }),
  command("blmpop", -5, ["write", "blocking"], blmpop, {
    group: "list",
    summary: "Pop elements from a list, or block until one is available",
    since: "7.0.0",
    numkeysAt: 2,
  }),
];
