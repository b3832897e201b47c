// Keyspace notifications (Redis notify.c, 7.0): with notify-keyspace-events
// set, a change to a key publishes its event name on
// `__keyspace@<db>__:<key>` (class K) and the key on
// `__keyevent@<db>__:<event>` (class E), for the event classes chosen:
// g generic, $ string, l list, s set, h hash, z sorted set, x expired,
// e evicted, n new key, m key miss, t stream, d module (A: g$lshzxetd).
//
// Which event a command emits is this table, with Redis's names: after a
// write command runs, each key it changed (the keyspace reports them, in
// order) gets the command's event, then "del" when the change emptied it
// (a pop of the last element). A few commands name different events per
// key (LMOVE pops from one and pushes to the other, RENAME's rename_from
// and rename_to) or per outcome (EXPIRE in the past deletes). Expiry,
// eviction and key creation ("new") are reported by the keyspace itself,
// and key misses ("keymiss", class m) by the read lookups of
// read_lookups.ts. Left out: streams and modules (no such types).

import type { Bytes } from "../../lib/bytes.ts";
import type { Args } from "./commands/context.ts";

export const NOTIFY_KEYSPACE = 1 << 0; // K
export const NOTIFY_KEYEVENT = 1 << 1; // E
export const NOTIFY_GENERIC = 1 << 2; // g
export const NOTIFY_STRING = 1 << 3; // $
export const NOTIFY_LIST = 1 << 4; // l
export const NOTIFY_SET = 1 << 5; // s
export const NOTIFY_HASH = 1 << 6; // h
export const NOTIFY_ZSET = 1 << 7; // z
export const NOTIFY_EXPIRED = 1 << 8; // x
export const NOTIFY_EVICTED = 1 << 9; // e
export const NOTIFY_STREAM = 1 << 10; // t
export const NOTIFY_KEY_MISS = 1 << 11; // m
export const NOTIFY_MODULE = 1 << 12; // d
export const NOTIFY_NEW = 1 << 13; // n
const NOTIFY_ALL = NOTIFY_GENERIC | NOTIFY_STRING | NOTIFY_LIST | NOTIFY_SET | NOTIFY_HASH |
  NOTIFY_ZSET | NOTIFY_EXPIRED | NOTIFY_EVICTED | NOTIFY_STREAM | NOTIFY_MODULE;

const CLASS_BY_CHAR: Record<string, number> = {
  A: NOTIFY_ALL,
  g: NOTIFY_GENERIC,
  $: NOTIFY_STRING,
  l: NOTIFY_LIST,
  s: NOTIFY_SET,
  h: NOTIFY_HASH,
  z: NOTIFY_ZSET,
  x: NOTIFY_EXPIRED,
  e: NOTIFY_EVICTED,
  K: NOTIFY_KEYSPACE,
  E: NOTIFY_KEYEVENT,
  t: NOTIFY_STREAM,
  m: NOTIFY_KEY_MISS,
  d: NOTIFY_MODULE,
  n: NOTIFY_NEW,
};

/** notify-keyspace-events text to flags (keyspaceEventsStringToFlags); null when invalid. */
export function parseNotifyFlags(text: string): number | null {
  let flags = 0;
  for (const c of text) {
    const bit = CLASS_BY_CHAR[c];
    if (bit === undefined) return null;
    flags |= bit;
  }
  return flags;
}

/** Flags back to text as CONFIG GET shows them (keyspaceEventsFlagsToString). */
export function formatNotifyFlags(flags: number): string {
  let text = "";
  if ((flags & NOTIFY_ALL) === NOTIFY_ALL) text += "A";
  else {
    const order: [number, string][] = [
      [NOTIFY_GENERIC, "g"],
      [NOTIFY_STRING, "$"],
      [NOTIFY_LIST, "l"],
      [NOTIFY_SET, "s"],
      [NOTIFY_HASH, "h"],
      [NOTIFY_ZSET, "z"],
      [NOTIFY_EXPIRED, "x"],
      [NOTIFY_EVICTED, "e"],
      [NOTIFY_STREAM, "t"],
      [NOTIFY_MODULE, "d"],
    ];
    for (const [bit, c] of order) if (flags & bit) text += c;
  }
  if (flags & NOTIFY_KEYSPACE) text += "K";
  if (flags & NOTIFY_KEYEVENT) text += "E";
  if (flags & NOTIFY_KEY_MISS) text += "m";
  if (flags & NOTIFY_NEW) text += "n";
  return text;
}

/** One event: its class and name. */
export interface KeyEvent {
  readonly type: number;
  readonly name: string;
}

/** What a command emits for one key it changed, or a fixed event. */
export type EventRule = KeyEvent | ((args: Args, key: string, exists: boolean) => KeyEvent[]);

const g = (name: string): KeyEvent => ({ type: NOTIFY_GENERIC, name });
const str = (name: string): KeyEvent => ({ type: NOTIFY_STRING, name });
const list = (name: string): KeyEvent => ({ type: NOTIFY_LIST, name });
const set = (name: string): KeyEvent => ({ type: NOTIFY_SET, name });
const hash = (name: string): KeyEvent => ({ type: NOTIFY_HASH, name });
const zset = (name: string): KeyEvent => ({ type: NOTIFY_ZSET, name });

function lowerArg(arg: Bytes | undefined): string {
  return arg === undefined ? "" : String.fromCharCode(...arg.subarray(0, 16)).toLowerCase();
}

function keyArg(arg: Bytes): string {
  let s = "";
  for (let i = 0; i < arg.length; i++) s += String.fromCharCode(arg[i]);
  return s;
}

/** A store into a key: the event when it holds a value, "del" when the result was empty. */
function stored(event: KeyEvent): EventRule {
  return (_args, _key, exists) => [exists ? event : g("del")];
}

/** An expiry change: "expire", or "del" when a time in the past deleted the key. */
const expiry: EventRule = (_args, _key, exists) => [exists ? g("expire") : g("del")];

/** SET and friends: "set", and "expire" when the command gave a TTL. */
function setWith(ttlAt: (args: Args) => boolean): EventRule {
  return (args, _key, exists) =>
    exists ? (ttlAt(args) ? [str("set"), g("expire")] : [str("set")]) : [g("del")];
}

const hasTtlOption = (args: Args) =>
  args.slice(3).some((a) => ["ex", "px", "exat", "pxat"].includes(lowerArg(a)));

/** LMOVE-style: a push to the destination, then a pop from the source (Redis's order). */
function moveRule(fromLeft: (args: Args) => boolean, toLeft: (args: Args) => boolean) {
  return (args: Args, key: string): KeyEvent[] => {
    const events: KeyEvent[] = [];
    if (key === keyArg(args.at(2))) events.push(list(toLeft(args) ? "lpush" : "rpush"));
    if (key === keyArg(args.at(1))) events.push(list(fromLeft(args) ? "lpop" : "rpop"));
    return events;
  };
}

/** Commands whose "new" events Redis publishes before any other (MOVE adds, then deletes). */
export const NEW_FIRST = new Set(["move"]);

/** Commands whose destination (the second key argument) Redis reports before the source. */
export const DESTINATION_FIRST = new Set(["lmove", "blmove", "rpoplpush", "brpoplpush"]);

/** ZMPOP/BZMPOP/LMPOP/BLMPOP: the side is an argument after the keys. */
function mpopRule(whereFrom: number, left: string, right: string, make: typeof list) {
  return (args: Args): KeyEvent[] => {
    const numkeys = Number(keyArg(args.at(whereFrom)));
    const where = lowerArg(args.at(whereFrom + 1 + numkeys));
    return [make(where === "left" || where === "min" ? left : right)];
  };
}

/** Events by command name. Commands absent here emit nothing per key. */
export const EVENTS: ReadonlyMap<string, EventRule> = new Map<string, EventRule>([
  ["set", setWith(hasTtlOption)],
  ["setex", setWith(() => true)],
  ["psetex", setWith(() => true)],
  ["setnx", str("set")],
  ["getset", str("set")],
  ["mset", str("set")],
  ["msetnx", str("set")],
  ["getdel", g("del")],
  ["getex", (args) => [lowerArg(args.at(2)) === "persist" ? g("persist") : g("expire")]],
  ["append", str("append")],
  ["setrange", str("setrange")],
  ["incr", str("incrby")],
  ["decr", str("incrby")],
  ["incrby", str("incrby")],
  ["decrby", str("incrby")],
  ["incrbyfloat", str("incrbyfloat")],
  ["setbit", str("setbit")],
  ["bitfield", str("setbit")],
  ["bitop", stored(str("set"))],
  ["pfadd", str("pfadd")],
  ["pfmerge", str("pfadd")],
  ["del", g("del")],
  ["unlink", g("del")],
  ["expire", expiry],
  ["pexpire", expiry],
  ["expireat", expiry],
  ["pexpireat", expiry],
  ["persist", g("persist")],
  ["rename", (args, key) => [g(key === keyArg(args.at(1)) ? "rename_from" : "rename_to")]],
  ["renamenx", (args, key) => [g(key === keyArg(args.at(1)) ? "rename_from" : "rename_to")]],
  ["copy", g("copy_to")],
  // The same key name in two databases: gone from the source, there in the target.
  ["move", (_args, _key, exists) => [g(exists ? "move_to" : "move_from")]],
  ["restore", g("restore")],
  ["sort", stored(list("sortstore"))],
  ["lpush", list("lpush")],
  ["rpush", list("rpush")],
  ["lpushx", list("lpush")],
  ["rpushx", list("rpush")],
  ["lpop", list("lpop")],
  ["rpop", list("rpop")],
  ["blpop", list("lpop")],
  ["brpop", list("rpop")],
  ["linsert", list("linsert")],
  ["lset", list("lset")],
  ["lrem", list("lrem")],
  ["ltrim", list("ltrim")],
  ["lmove", moveRule((a) => lowerArg(a.at(3)) === "left", (a) => lowerArg(a.at(4)) === "left")],
  ["blmove", moveRule((a) => lowerArg(a.at(3)) === "left", (a) => lowerArg(a.at(4)) === "left")],
  ["rpoplpush", moveRule(() => false, () => true)],
  ["brpoplpush", moveRule(() => false, () => true)],
  ["lmpop", mpopRule(1, "lpop", "rpop", list)],
  ["blmpop", mpopRule(2, "lpop", "rpop", list)],
  ["hset", hash("hset")],
  ["hmset", hash("hset")],
  ["hsetnx", hash("hset")],
  ["hdel", hash("hdel")],
  ["hincrby", hash("hincrby")],
  ["hincrbyfloat", hash("hincrbyfloat")],
  ["sadd", set("sadd")],
  ["srem", set("srem")],
  ["spop", set("spop")],
  ["smove", (args, key) => [set(key === keyArg(args.at(1)) ? "srem" : "sadd")]],
  ["sinterstore", stored(set("sinterstore"))],
  ["sunionstore", stored(set("sunionstore"))],
  ["sdiffstore", stored(set("sdiffstore"))],
  // ZADD INCR reports "zincr", as ZINCRBY does.
  ["zadd", (args) => [zset(args.some((a) => lowerArg(a) === "incr") ? "zincr" : "zadd")]],
  ["zincrby", zset("zincr")],
  ["zrem", zset("zrem")],
  ["zremrangebyscore", zset("zremrangebyscore")],
  ["zremrangebyrank", zset("zremrangebyrank")],
  ["zremrangebylex", zset("zremrangebylex")],
  ["zpopmin", zset("zpopmin")],
  ["zpopmax", zset("zpopmax")],
  ["bzpopmin", zset("zpopmin")],
  ["bzpopmax", zset("zpopmax")],
  ["zmpop", mpopRule(1, "zpopmin", "zpopmax", zset)],
  ["bzmpop", mpopRule(2, "zpopmin", "zpopmax", zset)],
  ["zunionstore", stored(zset("zunionstore"))],
  ["zinterstore", stored(zset("zinterstore"))],
  ["zdiffstore", stored(zset("zdiffstore"))],
  ["zrangestore", stored(zset("zrangestore"))],
]);

/**
 * Events that remove elements: when the key is gone afterwards, Redis
 * follows the event with "del" (the pop emptied it).
 */
export const EMPTYING = new Set([
  "lpop",
  "rpop",
  "lrem",
  "ltrim",
  "hdel",
  "srem",
  "spop",
  "zrem",
  "zremrangebyscore",
  "zremrangebyrank",
  "zremrangebylex",
  "zpopmin",
  "zpopmax",
]);

/** The events one command emits for one key it changed, "del" included. */
export function eventsFor(
  command: string,
  args: Args,
  key: string,
  exists: boolean,
): KeyEvent[] {
  const rule = EVENTS.get(command);
  if (rule === undefined) return [];
  const events = typeof rule === "function" ? rule(args, key, exists) : [rule];
  const last = events[events.length - 1];
  if (!exists && last !== undefined && EMPTYING.has(last.name)) events.push(g("del"));
  return events;
}
