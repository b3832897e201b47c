// List commands (Redis "list" group, t_list.c). A push signals the key as
// ready, so clients blocked on it (BLPOP and friends, blocking.ts) are
// served. The blocking forms (BLPOP ... BLMPOP) are in blocking.ts.

import type { Args } from "./context.ts";
import type { Db, Entry } from "../keyspace.ts";
import { argKey, ListValue, parseInteger, toKey } from "../values.ts";
import { int64Arg, intArg, numkeysArg, positiveArg } from "./args.ts";
import {
  arityError,
  command,
  type CommandSpec,
  type Ctx,
  fail,
  INDEX_RANGE,
  lower,
  NO_SUCH_KEY,
  SYNTAX,
  WRONGTYPE,
} from "./context.ts";

export type ListEntry = Entry & { value: ListValue };

export function lookupList(db: Db, key: string): ListEntry | undefined {
  const entry = db.lookup(key);
  if (entry === undefined) return undefined;
  if (!(entry.value instanceof ListValue)) fail(WRONGTYPE);
  return entry as ListEntry;
}

function push(front: boolean, onlyIfExists: boolean) {
  return (ctx: Ctx, args: Args) => {
    const db = ctx.session.db;
    const key = argKey(args, 1);
    let entry = lookupList(db, key);
    if (entry === undefined) {
      if (onlyIfExists) return ctx.out.integer(0);
      entry = db.set(key, new ListValue()) as ListEntry;
    }
    const list = entry.value;
    for (let i = 2; i < args.length; i++) {
      if (front) list.pushFront(argKey(args, i));
      else list.pushBack(argKey(args, i));
    }
    db.resize(entry);
    ctx.server.signalReady(db, key);
    ctx.out.integer(list.length);
  };
}

/** Pops one element and deletes the key when the list empties. */
export function popOne(db: Db, entry: ListEntry, front: boolean): string {
  const value = front ? entry.value.popFront()! : entry.value.popBack()!;
  if (entry.value.length === 0) db.delete(entry.key);
  else db.resize(entry);
  return value;
}

function pop(front: boolean) {
  return (ctx: Ctx, args: Args) => {
    if (args.length > 3) fail(arityError(front ? "lpop" : "rpop"));
    const db = ctx.session.db;
    const count = args.length === 3 ? positiveArg(args.at(2)) : -1;
    const entry = lookupList(db, argKey(args, 1));
    if (entry === undefined) {
      return count === -1 ? ctx.out.nullBulk() : ctx.out.nullArray();
    }
    if (count === -1) return ctx.out.bulkString(popOne(db, entry, front));
    const n = Math.min(count, entry.value.length);
    ctx.out.arrayHeader(n);
    for (let i = 0; i < n; i++) ctx.out.bulkString(popOne(db, entry, front));
  };
}

/** Resolves a possibly negative index range like Redis's LRANGE. */
function range(start: number, stop: number, length: number): [number, number] {
  if (start < 0) start = length + start;
  if (stop < 0) stop = length + stop;
  if (start < 0) start = 0;
  if (stop >= length) stop = length - 1;
  return [start, stop];
}

function lrange(ctx: Ctx, args: Args): void {
  const startArg = intArg(args.at(2));
  const stopArg = intArg(args.at(3));
  const list = lookupList(ctx.session.db, toKey(args.at(1)))?.value;
  if (list === undefined) return ctx.out.arrayHeader(0);
  const [start, stop] = range(startArg, stopArg, list.length);
  if (start > stop || start >= list.length) return ctx.out.arrayHeader(0);
  ctx.out.arrayHeader(stop - start + 1);
  for (let i = start; i <= stop; i++) ctx.out.bulkString(list.get(i)!);
}

function llen(ctx: Ctx, args: Args): void {
  ctx.out.integer(lookupList(ctx.session.db, toKey(args.at(1)))?.value.length ?? 0);
}

function lindex(ctx: Ctx, args: Args): void {
  // Redis looks the key up before it parses the index (t_list.c).
  const list = lookupList(ctx.session.db, toKey(args.at(1)))?.value;
  if (list === undefined) return ctx.out.nullBulk();
  let index = intArg(args.at(2));
  if (index < 0) index += list.length;
  const value = list.get(index);
  if (value === undefined) ctx.out.nullBulk();
  else ctx.out.bulkString(value);
}

function lset(ctx: Ctx, args: Args): void {
  const db = ctx.session.db;
  // Redis looks the key up before it parses the index (t_list.c).
  const entry = lookupList(db, toKey(args.at(1)));
  if (entry === undefined) fail(NO_SUCH_KEY);
  let index = intArg(args.at(2));
  if (index < 0) index += entry.value.length;
  if (index < 0 || index >= entry.value.length) fail(INDEX_RANGE);
  entry.value.set(index, toKey(args.at(3)));
  db.resize(entry);
  ctx.out.ok();
}

function lrem(ctx: Ctx, args: Args): void {
  const db = ctx.session.db;
  const count = intArg(args.at(2));
  const entry = lookupList(db, toKey(args.at(1)));
  if (entry === undefined) return ctx.out.integer(0);
  const target = toKey(args.at(3));
  const items = entry.value.toArray();
  let removed = 0;
  const limit = count === 0 ? Infinity : Math.abs(count);
  const keep: (string | undefined)[] = [...items];
  if (count >= 0) {
    for (let i = 0; i < keep.length && removed < limit; i++) {
      if (keep[i] === target) {
        keep[i] = undefined;
        removed++;
      }
    }
  } else {
    for (let i = keep.length - 1; i >= 0 && removed < limit; i--) {
      if (keep[i] === target) {
        keep[i] = undefined;
        removed++;
      }
    }
  }
  if (removed > 0) {
    entry.value.replace(keep.filter((v): v is string => v !== undefined));
    if (entry.value.length === 0) db.delete(entry.key);
    else db.resize(entry);
  }
  ctx.out.integer(removed);
}

function ltrim(ctx: Ctx, args: Args): void {
  const db = ctx.session.db;
  const startArg = intArg(args.at(2));
  const stopArg = intArg(args.at(3));
  const entry = lookupList(db, toKey(args.at(1)));
  if (entry === undefined) return ctx.out.ok();
  const [start, stop] = range(startArg, stopArg, entry.value.length);
  if (start > stop || start >= entry.value.length) db.delete(entry.key);
  else {
    entry.value.replace(entry.value.toArray(start, stop + 1));
    db.resize(entry);
  }
  ctx.out.ok();
}

function linsert(ctx: Ctx, args: Args): void {
  const db = ctx.session.db;
  const where = lower(args.at(2));
  if (where !== "before" && where !== "after") fail(SYNTAX);
  const entry = lookupList(db, toKey(args.at(1)));
  if (entry === undefined) return ctx.out.integer(0);
  const pivot = toKey(args.at(3));
  const items = entry.value.toArray();
  const at = items.indexOf(pivot);
  if (at === -1) return ctx.out.integer(-1);
  items.splice(where === "before" ? at : at + 1, 0, toKey(args.at(4)));
  entry.value.replace(items);
  db.resize(entry);
  ctx.out.integer(items.length);
}

function lpos(ctx: Ctx, args: Args): void {
  let rank = 1;
  let count = -1;
  let maxlen = 0;
  for (let i = 3; i < args.length; i++) {
    const option = lower(args.at(i));
    if (i + 1 >= args.length) fail(SYNTAX);
    if (option === "rank") {
      const exact = int64Arg(args.at(++i));
      // Redis 7.0 negates RANK in a C long: -2^63 stays negative and the
      // first match from the tail counts, as RANK -1 does.
      rank = exact === -9223372036854775808n ? -1 : Number(exact);
      if (rank === 0) {
        fail(
          "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
        );
      }
    } else if (option === "count") {
      count = intArg(args.at(++i), "ERR COUNT can't be negative");
      if (count < 0) fail("ERR COUNT can't be negative");
    } else if (option === "maxlen") {
      maxlen = intArg(args.at(++i), "ERR MAXLEN can't be negative");
      if (maxlen < 0) fail("ERR MAXLEN can't be negative");
    } else fail(SYNTAX);
  }
  const list = lookupList(ctx.session.db, toKey(args.at(1)))?.value;
  if (list === undefined) return count === -1 ? ctx.out.nullBulk() : ctx.out.arrayHeader(0);
  const target = toKey(args.at(2));
  const found: number[] = [];
  const wanted = count === -1 ? 1 : count === 0 ? Infinity : count;
  let skip = Math.abs(rank) - 1;
  const n = list.length;
  for (let step = 0; step < n && found.length < wanted; step++) {
    if (maxlen !== 0 && step >= maxlen) break;
    const index = rank > 0 ? step : n - 1 - step;
    if (list.get(index) === target) {
      if (skip > 0) skip--;
      else found.push(index);
    }
  }
  if (count === -1) {
    if (found.length === 0) ctx.out.nullBulk();
    else ctx.out.integer(found[0]);
    return;
  }
  ctx.out.arrayHeader(found.length);
  for (const index of found) ctx.out.integer(index);
}

/** LEFT or RIGHT, as LMOVE and BLMOVE take them: true for left. */
export function side(arg: Uint8Array): boolean {
  const where = lower(arg);
  if (where === "left") return true;
  if (where === "right") return false;
  fail(SYNTAX);
}

/** Moves one element; undefined when the source is empty. */
export function move(ctx: Ctx, from: string, to: string, fromLeft: boolean, toLeft: boolean) {
  const db = ctx.session.db;
  const source = lookupList(db, from);
  if (source === undefined) return undefined;
  const target = lookupList(db, to);
  if (from === to) {
    // Same list (RPOPLPUSH l l): a rotation. Popping first would delete a
    // one-element list and push into the detached entry, losing the element.
    const list = source.value;
    const value = fromLeft ? list.popFront()! : list.popBack()!;
    if (toLeft) list.pushFront(value);
    else list.pushBack(value);
    // Reported as a change (WATCH, and the push and pop events Redis emits for it).
    db.resize(source);
    ctx.server.signalReady(db, to);
    ctx.server.touch(db, from);
    return value;
  }
  const value = popOne(db, source, fromLeft);
  const dest = target ?? db.set(to, new ListValue()) as ListEntry;
  if (toLeft) dest.value.pushFront(value);
  else dest.value.pushBack(value);
  db.resize(dest);
  ctx.server.signalReady(db, to);
  ctx.server.touch(db, from);
  ctx.server.touch(db, to);
  return value;
}

function lmove(ctx: Ctx, args: Args): void {
  const fromLeft = side(args.at(3));
  const toLeft = side(args.at(4));
  const value = move(ctx, toKey(args.at(1)), toKey(args.at(2)), fromLeft, toLeft);
  if (value === undefined) ctx.out.nullBulk();
  else ctx.out.bulkString(value);
}

function rpoplpush(ctx: Ctx, args: Args): void {
  const value = move(ctx, toKey(args.at(1)), toKey(args.at(2)), false, true);
  if (value === undefined) ctx.out.nullBulk();
  else ctx.out.bulkString(value);
}

/** LMPOP's and BLMPOP's parsed arguments. */
export interface LMPopCall {
  readonly keys: string[];
  readonly front: boolean;
  readonly count: number;
}

/**
 * numkeys key [key ...] LEFT|RIGHT [COUNT count], from `numkeysAt`, checked
 * in Redis's order (lmpopGenericCommand): numkeys, the side, COUNT.
 */
export function lmpopArgs(args: Args, numkeysAt: number): LMPopCall {
  const numkeys = numkeysArg(args.at(numkeysAt));
  const whereAt = numkeysAt + 1 + numkeys;
  if (whereAt >= args.length) fail(SYNTAX);
  const front = side(args.at(whereAt));
  let count = -1;
  for (let i = whereAt + 1; i < args.length; i++) {
    if (count === -1 && lower(args.at(i)) === "count" && i + 1 < args.length) {
      const n = parseInteger(args.at(++i));
      if (n === null || n <= 0) fail("ERR count should be greater than 0");
      count = Number(n);
    } else fail(SYNTAX);
  }
  const keys = args.slice(numkeysAt + 1, whereAt).map(toKey);
  return { keys, front, count: count === -1 ? 1 : count };
}

/** LMPOP's reply from one key, [key, [element ...]]; false when the key is missing. */
export function lmpopFrom(ctx: Ctx, key: string, call: LMPopCall): boolean {
  const db = ctx.session.db;
  const entry = lookupList(db, key);
  if (entry === undefined) return false;
  const n = Math.min(call.count, entry.value.length);
  ctx.out.arrayHeader(2);
  ctx.out.bulkString(key);
  ctx.out.arrayHeader(n);
  for (let j = 0; j < n; j++) ctx.out.bulkString(popOne(db, entry, call.front));
  return true;
}

/** LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count] (Redis 7.0); BLMPOP is in blocking.ts. */
function lmpop(ctx: Ctx, args: Args): void {
  const call = lmpopArgs(args, 1);
  for (const key of call.keys) if (lmpopFrom(ctx, key, call)) return;
  ctx.out.nullArray();
}

const k1 = { firstKey: 1, lastKey: 1, step: 1, group: "list" } as const;
const k2 = { firstKey: 1, lastKey: 2, step: 1, group: "list" } as const;

export const LIST_COMMANDS: CommandSpec[] = [
  command("lpush", -3, ["write", "denyoom", "fast"], push(true, false), k1),
  command("rpush", -3, ["write", "denyoom", "fast"], push(false, false), k1),
  command("lpushx", -3, ["write", "denyoom", "fast"], push(true, true), k1),
  command("rpushx", -3, ["write", "denyoom", "fast"], push(false, true), k1),
  command("lpop", -2, ["write", "fast"], pop(true), k1),
  command("rpop", -2, ["write", "fast"], pop(false), k1),
  command("lrange", 4, ["readonly"], lrange, k1),
  command("llen", 2, ["readonly", "fast"], llen, k1),
  command("lindex", 3, ["readonly"], lindex, k1),
  command("lset", 4, ["write", "denyoom"], lset, k1),
  command("lrem", 4, ["write"], lrem, k1),
  command("ltrim", 4, ["write"], ltrim, k1),
  command("linsert", 5, ["write", "denyoom"], linsert, k1),
  command("lpos", -3, ["readonly"], lpos, k1),
  command("lmove", 5, ["write", "denyoom"], lmove, k2),
  command("rpoplpush", 3, ["write", "denyoom"], rpoplpush, k2),
  command("lmpop", -4, ["write"], lmpop, {
    group: "list",
    summary: "Pop elements from a list",
    since: "7.0.0",
    numkeysAt: 1,
  }),
];
