// Hash commands (Redis "hash" group), plus hash-field expiry as in Redis
// 7.4+ (HEXPIRE HPEXPIRE HEXPIREAT HPEXPIREAT HTTL HPTTL HPERSIST) and
// Redis 8's HGETEX. Expired fields are dropped lazily whenever their hash
// is looked up; a hash left empty is deleted. Left out: HRANDFIELD,
// HGETDEL, HSETEX.

import type { Args } from "./context.ts";
import type { Db, Entry } from "../keyspace.ts";
import { addInteger, globMatch, HashValue, parseInteger, toKey } from "../values.ts";
import { int64Arg, intArg, REPEATED_REPLY_COUNT_MAX, signedCountArg } from "./args.ts";
import {
  addLongDouble,
  formatLongDouble,
  isInfinite,
  type LongDoubleValue,
  parseLongDouble,
  ZERO,
} from "../long_double.ts";
import { expireAtFrom } from "./strings.ts";
import { cursorArg, scanOptions } from "./keys.ts";
import {
  arityError,
  command,
  type CommandSpec,
  type Ctx,
  fail,
  lower,
  OVERFLOW,
  SYNTAX,
  WRONGTYPE,
} from "./context.ts";

type HashEntry = Entry & { value: HashValue };

/** The hash at key with expired fields dropped; undefined when absent. */
function lookupHash(db: Db, key: string): HashEntry | undefined {
  const entry = db.lookup(key);
  if (entry === undefined) return undefined;
  if (!(entry.value instanceof HashValue)) fail(WRONGTYPE);
  const hash = entry.value;
  if (hash.fieldExpires.size > 0) {
    hash.expireFields(Date.now());
    if (hash.fields.size === 0) {
      db.delete(key);
      return undefined;
    }
    db.resize(entry);
  }
  return entry as HashEntry;
}

function hashForWrite(db: Db, key: string): HashEntry {
  return lookupHash(db, key) ?? db.set(key, new HashValue()) as HashEntry;
}

function hset(name: string) {
  return (ctx: Ctx, args: Args) => {
    if (args.length % 2 !== 0) fail(arityError(name));
    const db = ctx.session.db;
    const entry = hashForWrite(db, toKey(args.at(1)));
    let added = 0;
    for (let i = 2; i < args.length; i += 2) {
      const field = toKey(args.at(i));
      entry.value.fieldExpires.delete(field);
      if (entry.value.set(field, toKey(args.at(i + 1)))) added++;
    }
    db.resize(entry);
    if (name === "hmset") ctx.out.ok();
    else ctx.out.integer(added);
  };
}

function hsetnx(ctx: Ctx, args: Args): void {
  const db = ctx.session.db;
  const entry = hashForWrite(db, toKey(args.at(1)));
  const field = toKey(args.at(2));
  if (entry.value.fields.has(field)) return ctx.out.integer(0);
  entry.value.set(field, toKey(args.at(3)));
  db.resize(entry);
  ctx.out.integer(1);
}

function hget(ctx: Ctx, args: Args): void {
  const value = lookupHash(ctx.session.db, toKey(args.at(1)))?.value.fields.get(toKey(args.at(2)));
  if (value === undefined) ctx.out.nullBulk();
  else ctx.out.bulkString(value);
}

function hmget(ctx: Ctx, args: Args): void {
  const hash = lookupHash(ctx.session.db, toKey(args.at(1)))?.value;
  ctx.out.arrayHeader(args.length - 2);
  for (let i = 2; i < args.length; i++) {
    const value = hash?.fields.get(toKey(args.at(i)));
    if (value === undefined) ctx.out.nullBulk();
    else ctx.out.bulkString(value);
  }
}

function hgetall(ctx: Ctx, args: Args): void {
  const hash = lookupHash(ctx.session.db, toKey(args.at(1)))?.value;
  if (hash === undefined) return ctx.out.mapHeader(0);
  ctx.out.mapHeader(hash.fields.size);
  for (const [field, value] of hash.fields) {
    ctx.out.bulkString(field);
    ctx.out.bulkString(value);
  }
}

function hdel(ctx: Ctx, args: Args): void {
  const db = ctx.session.db;
  const key = toKey(args.at(1));
  const entry = lookupHash(db, key);
  if (entry === undefined) return ctx.out.integer(0);
  let n = 0;
  for (let i = 2; i < args.length; i++) if (entry.value.delete(toKey(args.at(i)))) n++;
  if (n === 0) return ctx.out.integer(0);
  if (entry.value.fields.size === 0) db.delete(key);
  else db.resize(entry);
  ctx.out.integer(n);
}

function hexists(ctx: Ctx, args: Args): void {
  const hash = lookupHash(ctx.session.db, toKey(args.at(1)))?.value;
  ctx.out.integer(hash?.fields.has(toKey(args.at(2))) ? 1 : 0);
}

function hlen(ctx: Ctx, args: Args): void {
  ctx.out.integer(lookupHash(ctx.session.db, toKey(args.at(1)))?.value.fields.size ?? 0);
}

function hstrlen(ctx: Ctx, args: Args): void {
  const value = lookupHash(ctx.session.db, toKey(args.at(1)))?.value.fields.get(toKey(args.at(2)));
  ctx.out.integer(value?.length ?? 0);
}

function hkeys(ctx: Ctx, args: Args): void {
  const hash = lookupHash(ctx.session.db, toKey(args.at(1)))?.value;
  ctx.out.arrayHeader(hash?.fields.size ?? 0);
  if (hash) { for (const field of hash.fields.keys()) ctx.out.bulkString(field); }
}

function hvals(ctx: Ctx, args: Args): void {
  const hash = lookupHash(ctx.session.db, toKey(args.at(1)))?.value;
  ctx.out.arrayHeader(hash?.fields.size ?? 0);
  if (hash) { for (const value of hash.fields.values()) ctx.out.bulkString(value); }
}

function hincrby(ctx: Ctx, args: Args): void {
  const delta = int64Arg(args.at(3));
  const db = ctx.session.db;
  const entry = hashForWrite(db, toKey(args.at(1)));
  const field = toKey(args.at(2));
  const old = entry.value.fields.get(field);
  let current: number | bigint = 0;
  if (old !== undefined) {
    const parsed = parseInteger(binary(old));
    if (parsed === null) fail("ERR hash value is not an integer");
    current = parsed;
  }
  const result = addInteger(current, delta);
  if (result === null) fail(OVERFLOW);
  entry.value.set(field, String(result));
  db.resize(entry);
  ctx.out.integer(result);
}

function hincrbyfloat(ctx: Ctx, args: Args): void {
  // In long double, as Redis computes it (long_double.ts); the increment
  // is checked before the key (t_hash.c).
  const delta = parseLongDouble(toKey(args.at(3)));
  if (delta === null) fail("ERR value is not a valid float");
  if (isInfinite(delta)) fail("ERR value is NaN or Infinity");
  const db = ctx.session.db;
  const entry = hashForWrite(db, toKey(args.at(1)));
  const field = toKey(args.at(2));
  const old = entry.value.fields.get(field);
  let current: LongDoubleValue | null = ZERO;
  if (old !== undefined) {
    current = parseLongDouble(old);
    if (current === null) fail("ERR hash value is not a float");
  }
  const result = addLongDouble(current, delta);
  if (result === null || isInfinite(result)) fail("ERR increment would produce NaN or Infinity");
  const text = formatLongDouble(result);
  entry.value.set(field, text);
  db.resize(entry);
  ctx.out.bulkString(text);
}

function binary(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

function hscan(ctx: Ctx, args: Args): void {
  const cursor = cursorArg(args.at(2));
  const options = scanOptions(args, 3, false);
  const hash = lookupHash(ctx.session.db, toKey(args.at(1)))?.value;
  const fields = hash ? [...hash.fields] : [];
  const end = Math.min(fields.length, cursor + Math.max(options.count, 128));
  const found: [string, string][] = [];
  for (let i = cursor; i < end; i++) {
    const [field, value] = fields[i];
    if (options.pattern === undefined || globMatch(options.pattern, field)) {
      found.push([field, value]);
    }
  }
  ctx.out.arrayHeader(2);
  ctx.out.bulkString(end >= fields.length ? "0" : String(end));
  ctx.out.arrayHeader(found.length * 2);
  for (const [field, value] of found) {
    ctx.out.bulkString(field);
    ctx.out.bulkString(value);
  }
}

/** Parses "FIELDS numfields field..." starting at `at`. */
function fieldsArg(args: Args, at: number): string[] {
  if (at >= args.length || lower(args.at(at)) !== "fields") {
    fail("ERR Mandatory argument FIELDS is missing or not at the right position");
  }
  const count = intArg(args.at(at + 1) ?? new Uint8Array());
  if (count <= 0) fail("ERR Parameter `numFields` should be greater than 0");
  if (args.length - at - 2 !== count) {
    fail("ERR The `numfields` parameter must match the number of arguments");
  }
  return args.slice(at + 2).map(toKey);
}

function hexpireGeneric(unit: "ex" | "px" | "exat" | "pxat", name: string) {
  return (ctx: Ctx, args: Args) => {
    const db = ctx.session.db;
    const key = toKey(args.at(1));
    const at = expireAtFrom(args.at(2), unit, name);
    let i = 3;
    let condition = "";
    const option = i < args.length ? lower(args.at(i)) : "";
    if (option === "nx" || option === "xx" || option === "gt" || option === "lt") {
      condition = option;
      i++;
    }
    const fields = fieldsArg(args, i);
    const entry = lookupHash(db, key);
    if (entry === undefined) {
      ctx.out.arrayHeader(fields.length);
      for (let n = 0; n < fields.length; n++) ctx.out.integer(-2);
      return;
    }
    const hash = entry.value;
    ctx.out.arrayHeader(fields.length);
    for (const field of fields) {
      if (!hash.fields.has(field)) {
        ctx.out.integer(-2);
        continue;
      }
      const current = hash.fieldExpires.get(field) ?? 0;
      if (
        (condition === "nx" && current !== 0) || (condition === "xx" && current === 0) ||
        (condition === "gt" && (current === 0 || at <= current)) ||
        (condition === "lt" && current !== 0 && at >= current)
      ) {
        ctx.out.integer(0);
        continue;
      }
      if (at <= Date.now()) {
        hash.delete(field);
        ctx.out.integer(2);
      } else {
        hash.fieldExpires.set(field, at);
        ctx.out.integer(1);
      }
    }
    if (hash.fields.size === 0) db.delete(key);
    else db.resize(entry);
  };
}

function httlGeneric(kind: "ttl" | "pttl" | "persist") {
  return (ctx: Ctx, args: Args) => {
    const fields = fieldsArg(args, 2);
    const hash = lookupHash(ctx.session.db, toKey(args.at(1)))?.value;
    ctx.out.arrayHeader(fields.length);
    for (const field of fields) {
      if (hash === undefined || !hash.fields.has(field)) {
        ctx.out.integer(-2);
        continue;
      }
      const at = hash.fieldExpires.get(field);
      if (at === undefined) {
        ctx.out.integer(-1);
        continue;
      }
      const left = Math.max(0, at - Date.now());
      if (kind === "ttl") ctx.out.integer(Math.floor((left + 500) / 1000));
      else if (kind === "pttl") ctx.out.integer(left);
      else {
        hash.fieldExpires.delete(field);
        ctx.out.integer(1);
      }
    }
  };
}

function hgetex(ctx: Ctx, args: Args): void {
  const db = ctx.session.db;
  let i = 2;
  let at = -1;
  const option = i < args.length ? lower(args.at(i)) : "";
  if (option === "ex" || option === "px" || option === "exat" || option === "pxat") {
    if (i + 1 >= args.length) fail(SYNTAX);
    at = expireAtFrom(args.at(i + 1), option, "hgetex");
    i += 2;
  } else if (option === "persist") {
    at = 0;
    i++;
  }
  const fields = fieldsArg(args, i);
  const key = toKey(args.at(1));
  const entry = lookupHash(db, key);
  ctx.out.arrayHeader(fields.length);
  for (const field of fields) {
    const value = entry?.value.fields.get(field);
    if (value === undefined) {
      ctx.out.nullBulk();
      continue;
    }
    ctx.out.bulkString(value);
    if (at === 0) entry!.value.fieldExpires.delete(field);
    else if (at > 0 && at <= Date.now()) entry!.value.delete(field);
    else if (at > 0) entry!.value.fieldExpires.set(field, at);
  }
  if (entry !== undefined) {
    if (entry.value.fields.size === 0) db.delete(key);
    else db.resize(entry);
  }
}

/**
 * HRANDFIELD key [count [WITHVALUES]] (Redis 6.2): distinct fields for a
 * positive count, repeats allowed for a negative one (bounded, args.ts).
 */
function hrandfield(ctx: Ctx, args: Args): void {
  if (args.length > 4 || (args.length === 4 && lower(args.at(3)) !== "withvalues")) fail(SYNTAX);
  const withValues = args.length === 4;
  const count = args.length >= 3 ? signedCountArg(args.at(2)) : undefined;
  // WITHVALUES doubles the reply: Redis refuses counts whose double overflows.
  if (withValues && count !== undefined && count < -REPEATED_REPLY_COUNT_MAX / 2) {
    fail("ERR value is out of range");
  }
  const hash = lookupHash(ctx.session.db, toKey(args.at(1)))?.value;
  if (count === undefined) {
    if (hash === undefined) return ctx.out.nullBulk();
    const fields = [...hash.fields.keys()];
    return ctx.out.bulkString(fields[Math.floor(Math.random() * fields.length)]);
  }
  if (hash === undefined || count === 0) return ctx.out.arrayHeader(0);
  const entries = [...hash.fields];
  let picked: [string, string][];
  if (count > 0) {
    for (let i = entries.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [entries[i], entries[j]] = [entries[j], entries[i]];
    }
    picked = entries.slice(0, count);
  } else {
    picked = Array.from(
      { length: -count },
      () => entries[Math.floor(Math.random() * entries.length)],
    );
  }
  // RESP3 pairs each field with its value; RESP2 flattens them.
  const paired = withValues && ctx.out.protocol === 3;
  ctx.out.arrayHeader(withValues && !paired ? picked.length * 2 : picked.length);
  for (const [field, text] of picked) {
    if (paired) ctx.out.arrayHeader(2);
    ctx.out.bulkString(field);
    if (withValues) ctx.out.bulkString(text);
  }
}

const k1 = { firstKey: 1, lastKey: 1, step: 1, group: "hash" } as const;

export const HASH_COMMANDS: CommandSpec[] = [
  command("hrandfield", -2, ["readonly"], hrandfield, k1),
  command("hset", -4, ["write", "denyoom", "fast"], hset("hset"), k1),
  command("hmset", -4, ["write", "denyoom", "fast"], hset("hmset"), k1),
  command("hsetnx", 4, ["write", "denyoom", "fast"], hsetnx, k1),
  command("hget", 3, ["readonly", "fast"], hget, k1),
  command("hmget", -3, ["readonly", "fast"], hmget, k1),
  command("hgetall", 2, ["readonly"], hgetall, k1),
  command("hdel", -3, ["write", "fast"], hdel, k1),
  command("hexists", 3, ["readonly", "fast"], hexists, k1),
  command("hlen", 2, ["readonly", "fast"], hlen, k1),
  command("hstrlen", 3, ["readonly", "fast"], hstrlen, k1),
  command("hkeys", 2, ["readonly"], hkeys, k1),
  command("hvals", 2, ["readonly"], hvals, k1),
  command("hincrby", 4, ["write", "denyoom", "fast"], hincrby, k1),
  command("hincrbyfloat", 4, ["write", "denyoom", "fast"], hincrbyfloat, k1),
  command("hscan", -3, ["readonly"], hscan, k1),
  command("hexpire", -6, ["write", "fast"], hexpireGeneric("ex", "hexpire"), k1),
  command("hpexpire", -6, ["write", "fast"], hexpireGeneric("px", "hpexpire"), k1),
  command("hexpireat", -6, ["write", "fast"], hexpireGeneric("exat", "hexpireat"), k1),
  command("hpexpireat", -6, ["write", "fast"], hexpireGeneric("pxat", "hpexpireat"), k1),
  command("httl", -5, ["readonly", "fast"], httlGeneric("ttl"), k1),
  command("hpttl", -5, ["readonly", "fast"], httlGeneric("pttl"), k1),
  command("hpersist", -5, ["write", "fast"], httlGeneric("persist"), k1),
  command("hgetex", -5, ["write", "fast"], hgetex, k1),
];
