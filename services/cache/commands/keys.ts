// Keyspace commands (Redis "generic" group): deletion, TTLs, iteration,
// renaming and database selection.
//
// SCAN walks each database's dense entry array from the top down, so a
// key present for the whole scan is returned at least once even while
// others are deleted (a delete moves the last, already visited, entry
// into the hole). Left out: COPY, MOVE, OBJECT, DUMP/RESTORE, SORT, WAIT.

import type { Args } from "./context.ts";
import type { Db } from "../keyspace.ts";
import { ZSetValue } from "../zset.ts";
import {
  globMatch,
  HashValue,
  ListValue,
  parseInteger,
  SetValue,
  toKey,
  typeName,
  type Value,
} from "../values.ts";
import { int64Arg, intArg } from "./args.ts";
import {
  command,
  type CommandSpec,
  type Ctx,
  fail,
  lower,
  NO_SUCH_KEY,
  NOT_INTEGER,
  SYNTAX,
} from "./context.ts";

function del(ctx: Ctx, args: Args): void {
  let n = 0;
  for (let i = 1; i < args.length; i++) if (ctx.session.db.delete(toKey(args.at(i)))) n++;
  ctx.out.integer(n);
}

function exists(ctx: Ctx, args: Args): void {
  let n = 0;
  for (let i = 1; i < args.length; i++) if (ctx.session.db.lookupNoTouch(toKey(args.at(i)))) n++;
  ctx.out.integer(n);
}

function expireGeneric(unit: "s" | "ms", absolute: boolean, name: string) {
  return (ctx: Ctx, args: Args) => {
    const db = ctx.session.db;
    const key = toKey(args.at(1));
    const raw = int64Arg(args.at(2));
    let nx = false, xx = false, gt = false, lt = false;
    for (let i = 3; i < args.length; i++) {
      const option = lower(args.at(i));
      if (option === "nx") nx = true;
      else if (option === "xx") xx = true;
      else if (option === "gt") gt = true;
      else if (option === "lt") lt = true;
      else fail(`ERR Unsupported option ${toKey(args.at(i))}`);
    }
    if (nx && (xx || gt || lt)) {
      fail("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if (gt && lt) fail("ERR GT and LT options at the same time are not compatible");
    let ms = BigInt(raw) * (unit === "s" ? 1000n : 1n);
    const invalid = `ERR invalid expire time in '${name}' command`;
    if (unit === "s" && (ms > 9223372036854775807n || ms < -9223372036854775808n)) fail(invalid);
    if (!absolute) ms += BigInt(Date.now());
    if (ms > 9223372036854775807n || ms < -9223372036854775808n) fail(invalid);
    const entry = db.lookup(key);
    if (entry === undefined) {
      ctx.out.integer(0);
      return;
    }
    const at = Number(ms);
    const current = entry.expireAt;
    if (nx && current !== 0) return ctx.out.integer(0);
    if (xx && current === 0) return ctx.out.integer(0);
    if (gt && (current === 0 || at <= current)) return ctx.out.integer(0);
    if (lt && current !== 0 && at >= current) return ctx.out.integer(0);
    if (at <= Date.now()) db.delete(key);
    else db.setExpire(entry, at === 0 ? 1 : at);
    ctx.out.integer(1);
  };
}

function ttlGeneric(kind: "ttl" | "pttl" | "expiretime" | "pexpiretime") {
  return (ctx: Ctx, args: Args) => {
    const entry = ctx.session.db.lookupNoTouch(toKey(args.at(1)));
    if (entry === undefined) return ctx.out.integer(-2);
    if (entry.expireAt === 0) return ctx.out.integer(-1);
    const left = Math.max(0, entry.expireAt - Date.now());
    if (kind === "ttl") ctx.out.integer(Math.floor((left + 500) / 1000));
    else if (kind === "pttl") ctx.out.integer(left);
    else if (kind === "expiretime") ctx.out.integer(Math.floor(entry.expireAt / 1000));
    else ctx.out.integer(entry.expireAt);
  };
}

function persist(ctx: Ctx, args: Args): void {
  const entry = ctx.session.db.lookup(toKey(args.at(1)));
  if (entry === undefined || entry.expireAt === 0) return ctx.out.integer(0);
  ctx.session.db.setExpire(entry, 0);
  ctx.out.integer(1);
}

function type(ctx: Ctx, args: Args): void {
  const entry = ctx.session.db.lookupNoTouch(toKey(args.at(1)));
  ctx.out.simple(entry === undefined ? "none" : typeName(entry.value));
}

function keys(ctx: Ctx, args: Args): void {
  const pattern = toKey(args.at(1));
  const db = ctx.session.db;
  const found: string[] = [];
  const all = pattern === "*";
  for (const key of [...db.keys()]) {
    if ((all || globMatch(pattern, key)) && db.peek(key) !== undefined) found.push(key);
  }
  ctx.out.arrayHeader(found.length);
  for (const key of found) ctx.out.bulkString(key);
}

interface ScanOptions {
  pattern: string | undefined;
  count: number;
  type: string | undefined;
}

/** Parses MATCH / COUNT / TYPE after the cursor (TYPE only for SCAN). */
export function scanOptions(args: Args, from: number, allowType: boolean): ScanOptions {
  const options: ScanOptions = { pattern: undefined, count: 10, type: undefined };
  for (let i = from; i < args.length; i++) {
    const option = lower(args.at(i));
    const hasValue = i + 1 < args.length;
    if (option === "match" && hasValue) options.pattern = toKey(args.at(++i));
    else if (option === "count" && hasValue) {
      options.count = intArg(args.at(++i));
      if (options.count < 1) fail(SYNTAX);
    } else if (option === "type" && hasValue && allowType) options.type = lower(args.at(++i));
    else fail(SYNTAX);
  }
  return options;
}

/** Parses a SCAN cursor: an unsigned 64-bit integer. */
export function cursorArg(arg: Uint8Array): number {
  const text = toKey(arg);
  if (!/^\d+$/.test(text) || BigInt(text) > 18446744073709551615n) fail("ERR invalid cursor");
  return Number(text);
}

function scan(ctx: Ctx, args: Args): void {
  const db: Db = ctx.session.db;
  const cursor = cursorArg(args.at(1));
  const options = scanOptions(args, 2, true);
  let position = cursor === 0 ? db.slots : Math.min(cursor, db.slots);
  const found: string[] = [];
  let visited = 0;
  while (position > 0 && visited < options.count) {
    position--;
    visited++;
    const expireAt = db.expireAtSlot(position);
    if (expireAt !== 0 && expireAt <= Date.now()) continue;
    const key = db.keyAt(position);
    if (options.pattern !== undefined && !globMatch(options.pattern, key)) continue;
    if (options.type !== undefined && typeName(db.valueAt(position)) !== options.type) continue;
    found.push(key);
  }
  ctx.out.arrayHeader(2);
  ctx.out.bulkString(String(position));
  ctx.out.arrayHeader(found.length);
  for (const key of found) ctx.out.bulkString(key);
}

function renameGeneric(nx: boolean) {
  return (ctx: Ctx, args: Args) => {
    const db = ctx.session.db;
    const from = toKey(args.at(1));
    const to = toKey(args.at(2));
    const entry = db.lookup(from);
    if (entry === undefined) fail(NO_SUCH_KEY);
    if (from === to) return nx ? ctx.out.integer(0) : ctx.out.ok();
    if (nx && db.peek(to) !== undefined) return ctx.out.integer(0);
    const { value, expireAt } = entry;
    db.delete(from);
    const moved = db.set(to, value);
    if (expireAt !== 0) db.setExpire(moved, expireAt);
    if (value instanceof ListValue) ctx.server.signalReady(db, to);
    ctx.server.touch(db, from);
    if (nx) ctx.out.integer(1);
    else ctx.out.ok();
  };
}

function randomkey(ctx: Ctx): void {
  const db = ctx.session.db;
  for (let tries = 0; tries < 100; tries++) {
    const slot = db.randomSlot();
    if (slot === -1) break;
    const key = db.keyAt(slot);
    if (db.peek(key) !== undefined) return ctx.out.bulkString(key);
  }
  ctx.out.nullBulk();
}

function flushOption(args: Args): void {
  if (args.length > 2) fail(SYNTAX);
  if (args.length === 2) {
    const option = lower(args.at(1));
    if (option !== "async" && option !== "sync") fail(SYNTAX);
  }
}

function flushdb(ctx: Ctx, args: Args): void {
  flushOption(args);
  touchAll(ctx, ctx.session.db);
  ctx.session.db.flush();
  ctx.out.ok();
}

function flushall(ctx: Ctx, args: Args): void {
  flushOption(args);
  for (const db of ctx.server.keyspace.dbs) {
    touchAll(ctx, db);
    db.flush();
  }
  ctx.out.ok();
}

function touchAll(ctx: Ctx, db: Db): void {
  for (const key of db.keys()) ctx.server.touch(db, key);
}

function swapdb(ctx: Ctx, args: Args): void {
  const a = intArg(args.at(1), "ERR invalid first DB index");
  const b = intArg(args.at(2), "ERR invalid second DB index");
  const dbs = ctx.server.keyspace.dbs;
  if (a < 0 || a >= dbs.length || b < 0 || b >= dbs.length) fail("ERR DB index is out of range");
  if (a !== b) {
    touchAll(ctx, dbs[a]);
    touchAll(ctx, dbs[b]);
    dbs[a].swapWith(dbs[b]);
    touchAll(ctx, dbs[a]);
    touchAll(ctx, dbs[b]);
    // Clients blocked on a key that now holds a list are served, as Redis does.
    ctx.server.blocking.signalDatabase(dbs[a]);
    ctx.server.blocking.signalDatabase(dbs[b]);
  }
  ctx.out.ok();
}

/** A deep copy of a value, for COPY (strings are immutable and shared). */
function copyValue(value: Value): Value {
  if (typeof value === "string") return value;
  if (value instanceof ListValue) {
    const copy = new ListValue();
    copy.replace(value.toArray());
    return copy;
  }
  if (value instanceof ZSetValue) {
    const copy = new ZSetValue();
    for (const [member, score] of value.entries()) copy.set(member, score);
    return copy;
  }
  if (value instanceof SetValue) {
    const copy = new SetValue();
    for (const member of value.members) copy.add(member);
    return copy;
  }
  const copy = new HashValue();
  for (const [field, text] of value.fields) copy.set(field, text);
  for (const [field, at] of value.fieldExpires) copy.fieldExpires.set(field, at);
  return copy;
}

/** COPY source destination [DB destination-db] [REPLACE] (Redis 6.2). */
function copy(ctx: Ctx, args: Args): void {
  const dbs = ctx.server.keyspace.dbs;
  let target = ctx.session.db;
  let replace = false;
  for (let i = 3; i < args.length; i++) {
    const option = lower(args.at(i));
    if (option === "replace") replace = true;
    else if (option === "db" && i + 1 < args.length) {
      const index = intArg(args.at(++i));
      if (index < 0 || index >= dbs.length) fail("ERR DB index is out of range");
      target = dbs[index];
    } else fail(SYNTAX);
  }
  const from = toKey(args.at(1));
  const to = toKey(args.at(2));
  if (target === ctx.session.db && from === to) {
    fail("ERR source and destination objects are the same");
  }
  const source = ctx.session.db.lookup(from);
  if (source === undefined) return ctx.out.integer(0);
  if (target.peek(to) !== undefined) {
    if (!replace) return ctx.out.integer(0);
    target.delete(to);
  }
  const copied = target.set(to, copyValue(source.value));
  if (source.expireAt !== 0) target.setExpire(copied, source.expireAt);
  if (copied.value instanceof ListValue) ctx.server.signalReady(target, to);
  ctx.out.integer(1);
}

/**
 * MOVE key db: to another database of this server, keeping its TTL; 0 when
 * the key is missing or the target holds one (Redis 7.0 moveCommand, its
 * checks in its order).
 */
function move(ctx: Ctx, args: Args): void {
  const dbs = ctx.server.keyspace.dbs;
  const n = parseInteger(args.at(2));
  if (n === null) fail(NOT_INTEGER);
  if (n < -2147483648 || n > 2147483647) {
    fail("ERR value is out of range, value must between -2147483648 and 2147483647");
  }
  const index = Number(n);
  if (index < 0 || index >= dbs.length) fail("ERR DB index is out of range");
  const source = ctx.session.db;
  const target = dbs[index];
  if (target === source) fail("ERR source and destination objects are the same");
  const key = toKey(args.at(1));
  const entry = source.lookup(key);
  if (entry === undefined || target.lookup(key) !== undefined) return ctx.out.integer(0);
  const { value, expireAt } = entry;
  // Out of the source first: the events read move_from, then move_to (notify.ts).
  source.delete(key);
  const moved = target.set(key, value);
  if (expireAt !== 0) target.setExpire(moved, expireAt);
  ctx.out.integer(1);
}

const k1 = { firstKey: 1, lastKey: 1, step: 1, group: "generic" } as const;
const kAll = { firstKey: 1, lastKey: -1, step: 1, group: "generic" } as const;

export const KEY_COMMANDS: CommandSpec[] = [
  command("del", -2, ["write"], del, kAll),
  command("copy", -3, ["write", "denyoom"], copy, { firstKey: 1, lastKey: 2, step: 1 }),
  command("move", 3, ["write", "fast"], move, k1),
  command("unlink", -2, ["write", "fast"], del, kAll),
  command("exists", -2, ["readonly", "fast"], exists, kAll),
  command("touch", -2, ["readonly", "fast"], exists, kAll),
  command("expire", -3, ["write", "fast"], expireGeneric("s", false, "expire"), k1),
  command("pexpire", -3, ["write", "fast"], expireGeneric("ms", false, "pexpire"), k1),
  command("expireat", -3, ["write", "fast"], expireGeneric("s", true, "expireat"), k1),
  command("pexpireat", -3, ["write", "fast"], expireGeneric("ms", true, "pexpireat"), k1),
  command("ttl", 2, ["readonly", "fast"], ttlGeneric("ttl"), k1),
  command("pttl", 2, ["readonly", "fast"], ttlGeneric("pttl"), k1),
  command("expiretime", 2, ["readonly", "fast"], ttlGeneric("expiretime"), k1),
  command("pexpiretime", 2, ["readonly", "fast"], ttlGeneric("pexpiretime"), k1),
  command("persist", 2, ["write", "fast"], persist, k1),
  command("type", 2, ["readonly", "fast"], type, k1),
  command("keys", 2, ["readonly"], keys, { group: "generic" }),
  command("scan", -2, ["readonly"], scan, { group: "generic" }),
  command("rename", 3, ["write"], renameGeneric(false), { ...k1, lastKey: 2 }),
  command("renamenx", 3, ["write", "fast"], renameGeneric(true), { ...k1, lastKey: 2 }),
  command("randomkey", 1, ["readonly"], randomkey, { group: "generic" }),
  command("dbsize", 1, ["readonly", "fast"], (ctx) => ctx.out.integer(ctx.session.db.size), {
    group: "server",
  }),
  command("flushdb", -1, ["write"], flushdb, { group: "server" }),
  command("flushall", -1, ["write"], flushall, { group: "server" }),
  command("swapdb", 3, ["write", "fast"], swapdb, { group: "server" }),
];
