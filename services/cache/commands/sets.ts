// Set commands (Redis "set" group). Members are binary strings in a JS Set;
// replies use the RESP3 set type where Redis 7 does (SMEMBERS, SINTER,
// SUNION, SDIFF, SPOP with a count). Random picks walk the set, O(n), which
// Redis avoids with its dict; fine for the set sizes a cache holds.
// Left out: SINTERCARD's LIMIT shortcut beyond counting.

import type { Args } from "./context.ts";
import type { Db, Entry } from "../keyspace.ts";
import { globMatch, parseInteger, SetValue, toKey } from "../values.ts";
import { numkeysArg, positiveArg, signedCountArg } from "./args.ts";
import { cursorArg, scanOptions } from "./keys.ts";
import { command, type CommandSpec, type Ctx, fail, lower, SYNTAX, WRONGTYPE } from "./context.ts";

type SetEntry = Entry & { value: SetValue };

function lookupSet(db: Db, key: string): SetEntry | undefined {
  const entry = db.lookup(key);
  if (entry === undefined) return undefined;
  if (!(entry.value instanceof SetValue)) fail(WRONGTYPE);
  return entry as SetEntry;
}

function sadd(ctx: Ctx, args: Args): void {
  const db = ctx.session.db;
  const key = toKey(args.at(1));
  const entry = lookupSet(db, key) ?? db.set(key, new SetValue()) as SetEntry;
  let added = 0;
  for (let i = 2; i < args.length; i++) if (entry.value.add(toKey(args.at(i)))) added++;
  // Only a change touches the key (WATCH), as Redis signals only then.
  if (added > 0) db.resize(entry);
  ctx.out.integer(added);
}

function srem(ctx: Ctx, args: Args): void {
  const db = ctx.session.db;
  const entry = lookupSet(db, toKey(args.at(1)));
  if (entry === undefined) return ctx.out.integer(0);
  let removed = 0;
  for (let i = 2; i < args.length; i++) if (entry.value.delete(toKey(args.at(i)))) removed++;
  if (removed === 0) return ctx.out.integer(0);
  if (entry.value.members.size === 0) db.delete(entry.key);
  else db.resize(entry);
  ctx.out.integer(removed);
}

function writeSet(ctx: Ctx, members: Iterable<string>, size: number): void {
  ctx.out.setHeader(size);
  for (const member of members) ctx.out.bulkString(member);
}

function smembers(ctx: Ctx, args: Args): void {
  const set = lookupSet(ctx.session.db, toKey(args.at(1)))?.value;
  if (set === undefined) return ctx.out.setHeader(0);
  writeSet(ctx, set.ordered(), set.members.size);
}

function sismember(ctx: Ctx, args: Args): void {
  const set = lookupSet(ctx.session.db, toKey(args.at(1)))?.value;
  ctx.out.integer(set?.members.has(toKey(args.at(2))) ? 1 : 0);
}

function smismember(ctx: Ctx, args: Args): void {
  const set = lookupSet(ctx.session.db, toKey(args.at(1)))?.value;
  ctx.out.arrayHeader(args.length - 2);
  for (let i = 2; i < args.length; i++) {
    ctx.out.integer(set?.members.has(toKey(args.at(i))) ? 1 : 0);
  }
}

function scard(ctx: Ctx, args: Args): void {
  ctx.out.integer(lookupSet(ctx.session.db, toKey(args.at(1)))?.value.members.size ?? 0);
}

function randomMembers(set: SetValue, count: number): string[] {
  const all = [...set.members];
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, count);
}

function spop(ctx: Ctx, args: Args): void {
  if (args.length > 3) fail(SYNTAX);
  const db = ctx.session.db;
  const count = args.length === 3 ? positiveArg(args.at(2)) : -1;
  const entry = lookupSet(db, toKey(args.at(1)));
  if (entry === undefined) return count === -1 ? ctx.out.nullBulk() : ctx.out.setHeader(0);
  const picked = randomMembers(entry.value, count === -1 ? 1 : count);
  for (const member of picked) entry.value.delete(member);
  if (entry.value.members.size === 0) db.delete(entry.key);
  else db.resize(entry);
  if (count === -1) ctx.out.bulkString(picked[0]);
  else writeSet(ctx, picked, picked.length);
}

function srandmember(ctx: Ctx, args: Args): void {
  if (args.length > 3) fail(SYNTAX);
  const count = args.length === 3 ? signedCountArg(args.at(2)) : undefined;
  const set = lookupSet(ctx.session.db, toKey(args.at(1)))?.value;
  if (count === undefined) {
    if (set === undefined) return ctx.out.nullBulk();
    return ctx.out.bulkString(randomMembers(set, 1)[0]);
  }
  if (set === undefined || count === 0) return ctx.out.arrayHeader(0);
  if (count > 0) {
    const picked = randomMembers(set, count);
    ctx.out.arrayHeader(picked.length);
    for (const member of picked) ctx.out.bulkString(member);
    return;
  }
  const all = [...set.members];
  ctx.out.arrayHeader(-count);
  for (let i = 0; i < -count; i++) {
    ctx.out.bulkString(all[Math.floor(Math.random() * all.length)]);
  }
}

type SetOp = "inter" | "union" | "diff";

function combine(db: Db, keys: string[], op: SetOp): Set<string> {
  const sets = keys.map((key) => lookupSet(db, key)?.value.members);
  if (op === "inter") {
    if (sets.some((set) => set === undefined)) return new Set();
    const [first, ...rest] = sets as Set<string>[];
    const out = new Set<string>();
    for (const member of first) if (rest.every((set) => set.has(member))) out.add(member);
    return out;
  }
  if (op === "union") {
    const out = new Set<string>();
    for (const set of sets) if (set) { for (const member of set) out.add(member); }
    return out;
  }
  const out = new Set<string>(sets[0] ?? []);
  for (const set of sets.slice(1)) if (set) { for (const member of set) out.delete(member); }
  return out;
}

function setOp(op: SetOp) {
  return (ctx: Ctx, args: Args) => {
    const result = combine(ctx.session.db, args.slice(1).map(toKey), op);
    const value = new SetValue();
    for (const member of result) value.add(member);
    writeSet(ctx, value.ordered(), result.size);
  };
}

function setOpStore(op: SetOp) {
  return (ctx: Ctx, args: Args) => {
    const db = ctx.session.db;
    const result = combine(db, args.slice(2).map(toKey), op);
    const dest = toKey(args.at(1));
    if (result.size === 0) {
      db.delete(dest);
    } else {
      const value = new SetValue();
      for (const member of result) value.add(member);
      db.set(dest, value);
    }
    ctx.out.integer(result.size);
  };
}

function smove(ctx: Ctx, args: Args): void {
  const db = ctx.session.db;
  // Redis's order (t_set.c): a missing source answers 0 before any type check.
  const source = lookupSet(db, toKey(args.at(1)));
  if (source === undefined) return ctx.out.integer(0);
  const destKey = toKey(args.at(2));
  const dest = lookupSet(db, destKey);
  const member = toKey(args.at(3));
  // Same set: nothing changes (and a one-member set must not lose its member).
  if (dest !== undefined && dest.key === source.key) {
    return ctx.out.integer(source.value.members.has(member) ? 1 : 0);
  }
  if (!source.value.members.has(member)) return ctx.out.integer(0);
  source.value.delete(member);
  if (source.value.members.size === 0) db.delete(source.key);
  else db.resize(source);
  const target = dest ?? lookupSet(db, destKey) ?? db.set(destKey, new SetValue()) as SetEntry;
  // A destination that had the member already is not changed (no WATCH, no "sadd"), as in Redis.
  if (!target.value.members.has(member)) {
    target.value.add(member);
    db.resize(target);
  }
  ctx.out.integer(1);
}

function sscan(ctx: Ctx, args: Args): void {
  const cursor = cursorArg(args.at(2));
  const options = scanOptions(args, 3, false);
  const set = lookupSet(ctx.session.db, toKey(args.at(1)))?.value;
  const members = set ? [...set.members] : [];
  const end = Math.min(members.length, cursor + Math.max(options.count, 128));
  const found: string[] = [];
  for (let i = cursor; i < end; i++) {
    if (options.pattern === undefined || globMatch(options.pattern, members[i])) {
      found.push(members[i]);
    }
  }
  ctx.out.arrayHeader(2);
  ctx.out.bulkString(end >= members.length ? "0" : String(end));
  ctx.out.arrayHeader(found.length);
  for (const member of found) ctx.out.bulkString(member);
}

/** SINTERCARD numkeys key [key ...] [LIMIT limit] (Redis 7.0). */
function sintercard(ctx: Ctx, args: Args): void {
  const numkeys = numkeysArg(args.at(1));
  if (numkeys > args.length - 2) fail("ERR Number of keys can't be greater than number of args");
  let limit = 0;
  for (let i = 2 + numkeys; i < args.length; i++) {
    if (lower(args.at(i)) === "limit" && i + 1 < args.length) {
      const n = parseInteger(args.at(++i));
      if (n === null || n < 0) fail("ERR LIMIT can't be negative");
      limit = Number(n);
    } else fail(SYNTAX);
  }
  const db = ctx.session.db;
  const sets: Set<string>[] = [];
  let empty = false;
  // Every key is type-checked, even after a missing one (Redis does the same).
  for (let i = 2; i < 2 + numkeys; i++) {
    const set = lookupSet(db, toKey(args.at(i)))?.value.members;
    if (set === undefined) empty = true;
    else sets.push(set);
  }
  if (empty) return ctx.out.integer(0);
  sets.sort((a, b) => a.size - b.size);
  let count = 0;
  for (const member of sets[0]) {
    if (sets.every((set) => set.has(member))) {
      count++;
      if (limit !== 0 && count >= limit) break;
    }
  }
  ctx.out.integer(count);
}

const k1 = { firstKey: 1, lastKey: 1, step: 1, group: "set" } as const;
const kAll = { firstKey: 1, lastKey: -1, step: 1, group: "set" } as const;

export const SET_COMMANDS: CommandSpec[] = [
  command("sadd", -3, ["write", "denyoom", "fast"], sadd, k1),
  command("srem", -3, ["write", "fast"], srem, k1),
  command("smembers", 2, ["readonly"], smembers, k1),
  command("sismember", 3, ["readonly", "fast"], sismember, k1),
  command("smismember", -3, ["readonly", "fast"], smismember, k1),
  command("scard", 2, ["readonly", "fast"], scard, k1),
  command("spop", -2, ["write", "fast"], spop, k1),
  command("srandmember", -2, ["readonly"], srandmember, k1),
  command("sinter", -2, ["readonly"], setOp("inter"), kAll),
  command("sunion", -2, ["readonly"], setOp("union"), kAll),
  command("sdiff", -2, ["readonly"], setOp("diff"), kAll),
  command("sinterstore", -3, ["write", "denyoom"], setOpStore("inter"), kAll),
  command("sunionstore", -3, ["write", "denyoom"], setOpStore("union"), kAll),
  command("sdiffstore", -3, ["write", "denyoom"], setOpStore("diff"), kAll),
  command("smove", 4, ["write", "fast"], smove, { ...k1, lastKey: 2 }),
  command("sscan", -3, ["readonly"], sscan, k1),
  command("sintercard", -3, ["readonly"], sintercard, { group: "set" }),
];
