// String commands (Redis "string" group): GET SET and its options, the
// counters, ranges and multi-key forms, with Redis 7's argument rules.
// Values are binary strings (values.ts). Left out: LCS, SUBSTR.

import type { Bytes } from "../../../lib/bytes.ts";
import type { Args } from "./context.ts";
import type { Db, Entry } from "../keyspace.ts";
import { addInteger, argKey, parseInteger, toKey } from "../values.ts";
import { int64Arg, intArg } from "./args.ts";
import {
  addLongDouble,
  formatLongDouble,
  isInfinite,
  type LongDoubleValue,
  parseLongDouble,
  ZERO,
} from "../long_double.ts";
import {
  arityError,
  command,
  type CommandSpec,
  type Ctx,
  fail,
  lower,
  NOT_INTEGER,
  OVERFLOW,
  SYNTAX,
  WRONGTYPE,
} from "./context.ts";

/** proto-max-bulk-len: the largest string SETRANGE/APPEND may build. */
const STRING_BYTES_MAX = 512 * 1024 * 1024;

/** The string at `key`, undefined when absent, WRONGTYPE for other types. */
export function getString(db: Db, key: string): string | undefined {
  const value = db.get(key);
  if (value === undefined) return undefined;
  if (typeof value !== "string") fail(WRONGTYPE);
  return value;
}

function get(ctx: Ctx, args: Args): void {
  // keyspace_hits/misses and "keymiss" are counted by the read lookup (read_lookups.ts).
  const value = ctx.session.db.get(argKey(args, 1));
  if (value === undefined) return ctx.out.nullBulk();
  if (typeof value !== "string") fail(WRONGTYPE);
  ctx.out.bulkString(value);
}

/** Parses a TTL option value to an absolute ms time, with Redis's checks. */
export function expireAtFrom(
  arg: Uint8Array,
  unit: "ex" | "px" | "exat" | "pxat",
  commandName: string,
): number {
  const n = int64Arg(arg);
  const invalid = `ERR invalid expire time in '${commandName}' command`;
  if (Number(n) <= 0) fail(invalid);
  let ms = unit === "ex" || unit === "exat" ? BigInt(n) * 1000n : BigInt(n);
  if (unit === "ex" || unit === "px") ms += BigInt(Date.now());
  if (ms > 9223372036854775807n) fail(invalid);
  return Number(ms);
}

function set(ctx: Ctx, args: Args): void {
  const db = ctx.session.db;
  const key = argKey(args, 1);
  if (args.length === 3) {
    db.store(key, argKey(args, 2)); // the common case: no options, no lookup first, no view
    ctx.out.ok();
    return;
  }
  let nx = false;
  let xx = false;
  let returnOld = false;
  let keepTtl = false;
  let expireAt = 0;
  let hasExpire = false;
  for (let i = 3; i < args.length; i++) {
    const option = lower(args.at(i));
    const last = i === args.length - 1;
    if (option === "nx" && !xx) nx = true;
    else if (option === "xx" && !nx) xx = true;
    else if (option === "get") returnOld = true;
    else if (option === "keepttl" && !hasExpire) keepTtl = true;
    else if (
      (option === "ex" || option === "px" || option === "exat" || option === "pxat") &&
      !keepTtl && !hasExpire && !last
    ) {
      hasExpire = true;
      expireAt = expireAtFrom(args.at(++i), option, "set");
    } else {
      fail(SYNTAX);
    }
  }
  const entry = db.lookup(key);
  let old: string | undefined;
  if (returnOld && entry !== undefined) {
    if (typeof entry.value !== "string") fail(WRONGTYPE);
    old = entry.value;
  }
  if ((nx && entry !== undefined) || (xx && entry === undefined)) {
    if (returnOld) {
      if (old === undefined) ctx.out.nullBulk();
      else ctx.out.bulkString(old);
    } else ctx.out.nullBulk();
    return;
  }
  const keptExpire = keepTtl && entry !== undefined ? entry.expireAt : 0;
  const stored = db.set(key, toKey(args.at(2)));
  if (hasExpire) db.setExpire(stored, expireAt);
  else if (keptExpire !== 0) db.setExpire(stored, keptExpire);
  if (returnOld) {
    if (old === undefined) ctx.out.nullBulk();
    else ctx.out.bulkString(old);
  } else ctx.out.ok();
}

function setWithTtl(unit: "ex" | "px", name: string) {
  return (ctx: Ctx, args: Args) => {
    const expireAt = expireAtFrom(args.at(2), unit, name);
    const entry = ctx.session.db.set(toKey(args.at(1)), toKey(args.at(3)));
    ctx.session.db.setExpire(entry, expireAt);
    ctx.out.ok();
  };
}

function setnx(ctx: Ctx, args: Args): void {
  const db = ctx.session.db;
  const key = toKey(args.at(1));
  if (db.lookup(key) !== undefined) {
    ctx.out.integer(0);
    return;
  }
  db.set(key, toKey(args.at(2)));
  ctx.out.integer(1);
}

function getset(ctx: Ctx, args: Args): void {
  const db = ctx.session.db;
  const key = toKey(args.at(1));
  const old = getString(db, key);
  db.set(key, toKey(args.at(2)));
  if (old === undefined) ctx.out.nullBulk();
  else ctx.out.bulkString(old);
}

function getdel(ctx: Ctx, args: Args): void {
  const db = ctx.session.db;
  const key = toKey(args.at(1));
  const old = getString(db, key);
  if (old === undefined) {
    ctx.out.nullBulk();
    return;
  }
  db.delete(key);
  ctx.out.bulkString(old);
}

function getex(ctx: Ctx, args: Args): void {
  const db = ctx.session.db;
  const key = toKey(args.at(1));
  // Redis's order: option syntax, then the key and its type, then the time.
  let unit: "ex" | "px" | "exat" | "pxat" | undefined;
  let timeArg: Bytes | undefined;
  let persist = false;
  for (let i = 2; i < args.length; i++) {
    const option = lower(args.at(i));
    const last = i === args.length - 1;
    if (
      (option === "ex" || option === "px" || option === "exat" || option === "pxat") &&
      unit === undefined && !persist && !last
    ) {
      unit = option;
      timeArg = args.at(++i);
    } else if (option === "persist" && unit === undefined && !persist) {
      persist = true;
    } else {
      fail(SYNTAX);
    }
  }
  const entry = db.lookup(key);
  if (entry === undefined) {
    ctx.out.nullBulk();
    return;
  }
  if (typeof entry.value !== "string") fail(WRONGTYPE);
  const value = entry.value;
  if (unit !== undefined) {
    const expireAt = expireAtFrom(timeArg!, unit, "getex");
    if (expireAt <= Date.now()) db.delete(key);
    else db.setExpire(entry, expireAt);
  } else if (persist) {
    db.setExpire(entry, 0);
  }
  ctx.out.bulkString(value);
}

function mget(ctx: Ctx, args: Args): void {
  ctx.out.arrayHeader(args.length - 1);
  for (let i = 1; i < args.length; i++) {
    const entry = ctx.session.db.lookup(toKey(args.at(i)));
    if (entry === undefined || typeof entry.value !== "string") ctx.out.nullBulk();
    else ctx.out.bulkString(entry.value);
  }
}

function mset(ctx: Ctx, args: Args): void {
  if (args.length % 2 === 0) fail(arityError("mset"));
  for (let i = 1; i < args.length; i += 2) {
    ctx.session.db.set(toKey(args.at(i)), toKey(args.at(i + 1)));
  }
  ctx.out.ok();
}

function msetnx(ctx: Ctx, args: Args): void {
  if (args.length % 2 === 0) fail(arityError("msetnx"));
  for (let i = 1; i < args.length; i += 2) {
    if (ctx.session.db.lookup(toKey(args.at(i))) !== undefined) {
      ctx.out.integer(0);
      return;
    }
  }
  for (let i = 1; i < args.length; i += 2) {
    ctx.session.db.set(toKey(args.at(i)), toKey(args.at(i + 1)));
  }
  ctx.out.integer(1);
}

/** Adds to the integer at key, creating it at 0; replies with the result. */
function incrementBy(ctx: Ctx, keyArg: Bytes, delta: number | bigint): void {
  const db = ctx.session.db;
  const key = toKey(keyArg);
  const entry = db.lookup(key);
  let current: number | bigint = 0;
  if (entry !== undefined) {
    if (typeof entry.value !== "string") fail(WRONGTYPE);
    const parsed = parseIntegerString(entry.value);
    if (parsed === null) fail(NOT_INTEGER);
    current = parsed;
  }
  const result = addInteger(current, delta);
  if (result === null) fail(OVERFLOW);
  const text = String(result);
  if (entry === undefined) db.set(key, text);
  else {
    entry.value = text;
    db.resize(entry);
  }
  ctx.out.integer(result);
}

function parseIntegerString(text: string): number | bigint | null {
  const n = text.length;
  if (n === 0 || n > 20) return null;
  // Fast path: up to 15 digits, no sign or leading zero, fits a double exactly.
  if (n <= 15 && (text.charCodeAt(0) !== 48 || n === 1)) {
    let value = 0;
    let i = 0;
    for (; i < n; i++) {
      const d = text.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      value = value * 10 + d;
    }
    if (i === n) return value;
  }
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return parseInteger(bytes);
}

/** INCRBYFLOAT in long double, as Redis computes it (long_double.ts). */
function incrbyfloat(ctx: Ctx, args: Args): void {
  const db = ctx.session.db;
  const key = toKey(args.at(1));
  // Redis's order (t_string.c): the key's type, its value, then the increment.
  const entry = db.lookup(key);
  let current: LongDoubleValue | null = ZERO;
  if (entry !== undefined) {
    if (typeof entry.value !== "string") fail(WRONGTYPE);
    current = parseLongDouble(entry.value);
    if (current === null) fail("ERR value is not a valid float");
  }
  const delta = parseLongDouble(toKey(args.at(2)));
  if (delta === null) fail("ERR value is not a valid float");
  const result = addLongDouble(current, delta);
  if (result === null || isInfinite(result)) fail("ERR increment would produce NaN or Infinity");
  const text = formatLongDouble(result);
  if (entry === undefined) db.set(key, text);
  else {
    entry.value = text;
    db.resize(entry);
  }
  ctx.out.bulkString(text);
}

function append(ctx: Ctx, args: Args): void {
  const db = ctx.session.db;
  const key = toKey(args.at(1));
  const entry = db.lookup(key);
  const tail = toKey(args.at(2));
  if (entry === undefined) {
    db.set(key, tail);
    ctx.out.integer(tail.length);
    return;
  }
  if (typeof entry.value !== "string") fail(WRONGTYPE);
  if (entry.value.length + tail.length > STRING_BYTES_MAX) {
    fail("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
  }
  entry.value += tail;
  db.resize(entry);
  ctx.out.integer(entry.value.length);
}

function strlen(ctx: Ctx, args: Args): void {
  const value = getString(ctx.session.db, toKey(args.at(1)));
  ctx.out.integer(value === undefined ? 0 : value.length);
}

function getrange(ctx: Ctx, args: Args): void {
  let start = intArg(args.at(2));
  let end = intArg(args.at(3));
  const value = getString(ctx.session.db, toKey(args.at(1))) ?? "";
  const n = value.length;
  if (start < 0 && end < 0 && start > end) {
    ctx.out.bulkString("");
    return;
  }
  if (start < 0) start = n + start;
  if (end < 0) end = n + end;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= n) end = n - 1;
  if (start > end || n === 0) {
    ctx.out.bulkString("");
    return;
  }
  ctx.out.bulkString(value.slice(start, end + 1));
}

function setrange(ctx: Ctx, args: Args): void {
  const db = ctx.session.db;
  const key = toKey(args.at(1));
  const offset = intArg(args.at(2));
  if (offset < 0) fail("ERR offset is out of range");
  const patch = toKey(args.at(3));
  const entry: Entry | undefined = db.lookup(key);
  if (entry !== undefined && typeof entry.value !== "string") fail(WRONGTYPE);
  const current = entry === undefined ? "" : entry.value as string;
  if (patch.length === 0) {
    ctx.out.integer(current.length);
    return;
  }
  if (offset + patch.length > STRING_BYTES_MAX) {
    fail("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
  }
  const padded = current.length < offset ? current + "\0".repeat(offset - current.length) : current;
  const next = padded.slice(0, offset) + patch + padded.slice(offset + patch.length);
  if (entry === undefined) db.set(key, next);
  else {
    entry.value = next;
    db.resize(entry);
  }
  ctx.out.integer(next.length);
}

const g = { group: "string" } as const;
const k1 = { firstKey: 1, lastKey: 1, step: 1, group: "string" } as const;

export const STRING_COMMANDS: CommandSpec[] = [
  command("get", 2, ["readonly", "fast"], get, {
    ...k1,
    summary: "Returns the string value of a key.",
  }),
  command("set", -3, ["write", "denyoom"], set, {
    ...k1,
    summary: "Sets the string value of a key.",
  }),
  command("setex", 4, ["write", "denyoom"], setWithTtl("ex", "setex"), k1),
  command("psetex", 4, ["write", "denyoom"], setWithTtl("px", "psetex"), k1),
  command("setnx", 3, ["write", "denyoom", "fast"], setnx, k1),
  command("getset", 3, ["write", "denyoom", "fast"], getset, k1),
  command("getdel", 2, ["write", "fast"], getdel, k1),
  command("getex", -2, ["write", "fast"], getex, k1),
  command("mget", -2, ["readonly", "fast"], mget, { ...g, firstKey: 1, lastKey: -1, step: 1 }),
  command("mset", -3, ["write", "denyoom"], mset, { ...g, firstKey: 1, lastKey: -1, step: 2 }),
  command("msetnx", -3, ["write", "denyoom"], msetnx, { ...g, firstKey: 1, lastKey: -1, step: 2 }),
  command("incr", 2, ["write", "denyoom", "fast"], (ctx, a) => incrementBy(ctx, a.at(1), 1), k1),
  command("decr", 2, ["write", "denyoom", "fast"], (ctx, a) => incrementBy(ctx, a.at(1), -1), k1),
  command("incrby", 3, ["write", "denyoom", "fast"], (ctx, a) => {
    incrementBy(ctx, a.at(1), int64Arg(a.at(2)));
  }, k1),
  command("decrby", 3, ["write", "denyoom", "fast"], (ctx, a) => {
    const n = int64Arg(a.at(2));
    if (n === -9223372036854775808n) fail("ERR decrement would overflow");
    incrementBy(ctx, a.at(1), typeof n === "bigint" ? -n : -n);
  }, k1),
  command("incrbyfloat", 3, ["write", "denyoom", "fast"], incrbyfloat, k1),
  command("append", 3, ["write", "denyoom", "fast"], append, k1),
  command("strlen", 2, ["readonly", "fast"], strlen, k1),
  command("getrange", 4, ["readonly"], getrange, k1),
  command("setrange", 4, ["write", "denyoom"], setrange, k1),
];
