// Sorted set commands (Redis "sorted-set" group) on zset.ts, following
// Redis 7.0 t_zset.c: option parsing order, error texts, scores printed with
// %.17g (RESP2 bulk strings, RESP3 doubles), WITHSCORES flat in RESP2 and
// as [member, score] pairs in RESP3. ZRANK/ZREVRANK take 7.2's WITHSCORE.
// The blocking pops (BZPOPMIN, BZPOPMAX, BZMPOP) are in blocking.ts, on
// the helpers exported here.

import type { Args } from "./context.ts";
import type { Db, Entry } from "../keyspace.ts";
import { argKey, globMatch, SetValue, toKey } from "../values.ts";
import { cursorArg, scanOptions } from "./keys.ts";
import {
  formatScore,
  lexGteMin,
  lexLteMax,
  type LexRange,
  NIL,
  parseLexBound,
  parseScore,
  parseScoreBound,
  scoreGteMin,
  scoreLteMax,
  type ScoreRange,
  type ScoreView,
  type ZPos,
  ZSetValue,
} from "../zset.ts";
import {
  argIs,
  int64Arg,
  intArg,
  intArgAt,
  LONG_RANGE,
  numkeysArg,
  positiveArg,
  REPEATED_REPLY_COUNT_MAX,
  scoreArgAt,
} from "./args.ts";
import { command, type CommandSpec, type Ctx, fail, lower, SYNTAX, WRONGTYPE } from "./context.ts";

type ZSetEntry = Entry & { value: ZSetValue };

const NOT_VALID_FLOAT = "ERR value is not a valid float";
const SCORE_RANGE_ERROR = "ERR min or max is not a float";
const LEX_RANGE_ERROR = "ERR min or max not valid string range item";

export function lookupZSet(db: Db, key: string): ZSetEntry | undefined {
  const entry = db.lookup(key);
  if (entry === undefined) return undefined;
  if (!(entry.value instanceof ZSetValue)) fail(WRONGTYPE);
  return entry as ZSetEntry;
}

/** The sorted set under `key` for a command that only reads it (lookupZSet without the Entry). */
function zsetAt(db: Db, key: string): ZSetValue | undefined {
  const value = db.get(key);
  if (value === undefined) return undefined;
  if (!(value instanceof ZSetValue)) fail(WRONGTYPE);
  return value;
}

/** A score as Redis 7.0 sends it: %.17g in a bulk string (RESP2) or a double (RESP3). */
function score(ctx: Ctx, n: number): void {
  // An integral score (counters, ZINCRBY's usual result) is written as its
  // digits, as %.17g prints it, without a string; -0 (stored as 0) and
  // larger magnitudes take formatScore.
  if ((n | 0) === n && n !== 0) ctx.out.integralDouble(n);
  else ctx.out.doubleText(formatScore(n));
}

function lexRangeArg(minArg: Uint8Array, maxArg: Uint8Array): LexRange {
  const min = parseLexBound(toKey(minArg));
  const max = parseLexBound(toKey(maxArg));
  if (min === null || max === null) fail(LEX_RANGE_ERROR);
  return { min, max };
}

/** Stores the change: deletes an emptied key, else updates its memory estimate. */
function settle(db: Db, entry: ZSetEntry): void {
  if (entry.value.size === 0) db.delete(entry.key);
  else db.resize(entry);
}

// ZADD's options, as bits.
const NX = 1;
const XX = 2;
const GT = 4;
const LT = 8;
const CH = 16;
const INCR = 32;

/** A score argument (ZADD, ZINCRBY), read in place when it is a plain integer. */
function scoreAt(args: Args, i: number): number {
  const n = scoreArgAt(args, i);
  if (n === null) fail(NOT_VALID_FLOAT);
  return n;
}

/** zaddGenericCommand: `flags` are ZADD's option bits, the score-member pairs start at `first`. */
function zaddGeneric(ctx: Ctx, args: Args, flags: number, first: number): void {
  const elements = args.length - first;
  if (elements % 2 !== 0 || elements === 0) fail(SYNTAX);
  const incr = (flags & INCR) !== 0;
  if (incr && elements > 2) fail("ERR INCR option supports a single increment-element pair");
  if ((flags & (NX | XX)) === (NX | XX)) {
    fail("ERR XX and NX options at the same time are not compatible");
  }
  if (
    (flags & (GT | NX)) === (GT | NX) || (flags & (LT | NX)) === (LT | NX) ||
    (flags & (GT | LT)) === (GT | LT)
  ) {
    fail("ERR GT, LT, and/or NX options at the same time are not compatible");
  }
  // Every score is checked before anything changes (Redis parses them all first).
  // One pair (ZADD k s m, ZINCRBY) needs no array.
  const single = elements === 2 ? scoreAt(args, first) : 0;
  let scores: number[] | undefined;
  if (elements > 2) {
    scores = [];
    for (let i = first; i < args.length; i += 2) scores.push(scoreAt(args, i));
  }
  const db = ctx.session.db;
  const key = argKey(args, 1);
  let entry = lookupZSet(db, key);
  let added = 0;
  let updated = 0;
  let processed = 0;
  let last = 0;
  if (entry !== undefined || (flags & XX) === 0) {
    entry ??= db.set(key, new ZSetValue()) as ZSetEntry;
    const zset = entry.value;
    const count = elements / 2;
    for (let i = 0; i < count; i++) {
      // The member as a string, read in place: the index is probed with it,
      // and a new member is stored as it.
      const member = argKey(args, first + 2 * i + 1);
      let next = scores === undefined ? single : scores[i];
      const pos = zset.find(member);
      if (pos !== NIL) {
        if (flags & NX) continue;
        const current = zset.scoreAt(pos);
        if (incr) {
          next += current;
          if (Number.isNaN(next)) {
            settle(db, entry);
            fail("ERR resulting score is not a number (NaN)");
          }
        }
        if (((flags & LT) && next >= current) || ((flags & GT) && next <= current)) continue;
        if (next !== current) {
          zset.move(pos, next);
          updated++;
        }
      } else {
        if (flags & XX) continue;
        zset.add(member, next);
        added++;
      }
      processed++;
      last = next;
    }
    if (added + updated > 0 || zset.size === 0) settle(db, entry);
  }
  if (incr) {
    if (processed > 0) score(ctx, last);
    else ctx.out.nullBulk();
  } else {
    ctx.out.integer(flags & CH ? added + updated : added);
  }
}

/** ZADD's option words, read in place (scores never match: no option is a number). */
function zaddOption(args: Args, i: number): number {
  const n = args.lengthOf(i);
  if (n === 2) {
    if (argIs(args, i, "nx")) return NX;
    if (argIs(args, i, "xx")) return XX;
    if (argIs(args, i, "gt")) return GT;
    if (argIs(args, i, "lt")) return LT;
    if (argIs(args, i, "ch")) return CH;
  } else if (n === 4 && argIs(args, i, "incr")) return INCR;
  return 0;
}

function zadd(ctx: Ctx, args: Args): void {
  let flags = 0;
  let i = 2;
  for (; i < args.length; i++) {
    const option = zaddOption(args, i);
    if (option === 0) break;
    flags |= option;
  }
  zaddGeneric(ctx, args, flags, i);
}

function zincrby(ctx: Ctx, args: Args): void {
  zaddGeneric(ctx, args, INCR, 2);
}

function zcard(ctx: Ctx, args: Args): void {
  ctx.out.integer(zsetAt(ctx.session.db, argKey(args, 1))?.size ?? 0);
}

function zscore(ctx: Ctx, args: Args): void {
  const zset = zsetAt(ctx.session.db, argKey(args, 1));
  const pos = zset === undefined ? NIL : zset.find(argKey(args, 2));
  if (pos === NIL) ctx.out.nullBulk();
  else score(ctx, zset!.scoreAt(pos));
}

function zmscore(ctx: Ctx, args: Args): void {
  const zset = zsetAt(ctx.session.db, argKey(args, 1));
  ctx.out.arrayHeader(args.length - 2);
  for (let i = 2; i < args.length; i++) {
    const pos = zset?.findBytes(args.at(i)) ?? NIL;
    if (pos === NIL) ctx.out.nullBulk();
    else score(ctx, zset!.scoreAt(pos));
  }
}

function zrem(ctx: Ctx, args: Args): void {
  const db = ctx.session.db;
  const entry = lookupZSet(db, argKey(args, 1));
  if (entry === undefined) return ctx.out.integer(0);
  let removed = 0;
  for (let i = 2; i < args.length; i++) if (entry.value.delete(toKey(args.at(i)))) removed++;
  if (removed > 0) settle(db, entry);
  ctx.out.integer(removed);
}

function zrankGeneric(reverse: boolean) {
  return (ctx: Ctx, args: Args): void => {
    let withScore = false;
    if (args.length > 4) fail(SYNTAX);
    if (args.length === 4) {
      if (lower(args.at(3)) !== "withscore") fail(SYNTAX);
      withScore = true;
    }
    const zset = zsetAt(ctx.session.db, argKey(args, 1));
    const pos = zset?.findBytes(args.at(2)) ?? NIL;
    if (zset === undefined || pos === NIL) {
      return withScore ? ctx.out.nullArray() : ctx.out.nullBulk();
    }
    const rank = zset.rankAt(pos);
    const position = reverse ? zset.size - 1 - rank : rank;
    if (!withScore) return ctx.out.integer(position);
    ctx.out.arrayHeader(2);
    ctx.out.integer(position);
    score(ctx, zset.scoreAt(pos));
  };
}

/**
 * How many elements lie from `first` to `last`, both included; 0 when
 * `last` is missing or before `first` (a lex range over mixed scores).
 */
function span(zset: ZSetValue, first: ZPos, last: ZPos): number {
  if (last === NIL) return 0;
  return Math.max(0, zset.rankAt(last) - zset.rankAt(first) + 1);
}

function zcount(ctx: Ctx, args: Args): void {
  const range = scoreRangeAt(args, 2, 3);
  const zset = zsetAt(ctx.session.db, argKey(args, 1));
  const first = zset?.firstInScore(range) ?? NIL;
  if (zset === undefined || first === NIL) return ctx.out.integer(0);
  ctx.out.integer(span(zset, first, zset.lastInScore(range)));
}

function zlexcount(ctx: Ctx, args: Args): void {
  const range = lexRangeArg(args.at(2), args.at(3));
  const zset = zsetAt(ctx.session.db, argKey(args, 1));
  const first = zset?.firstInLex(range) ?? NIL;
  if (zset === undefined || first === NIL) return ctx.out.integer(0);
  ctx.out.integer(span(zset, first, zset.lastInLex(range)));
}

type RangeType = "auto" | "rank" | "score" | "lex";

interface RangeCall {
  /** Index of the first range argument (after the key). */
  rangeType: RangeType;
  reverse: boolean | undefined;
  /** Whether BYSCORE/BYLEX and REV may be given (ZRANGE only). */
  options: boolean;
  /** ZRANGESTORE: store the range at the first key and reply its size. */
  store?: boolean;
}

/** ZRANGESTORE's result: replaces the destination (deletes it when empty), replies the count. */
function storeRange(ctx: Ctx, dest: string, from: ZSetValue | undefined, nodes: ZPos[]): void {
  const db = ctx.session.db;
  const zset = new ZSetValue();
  for (const pos of nodes) zset.set(from!.memberAt(pos), from!.scoreAt(pos));
  if (zset.size === 0) db.delete(dest);
  else db.set(dest, zset);
  ctx.out.integer(zset.size);
}

/** Writes nodes of `zset` as the range commands reply: members, or members with scores. */
function writeRange(
  ctx: Ctx,
  zset: ZSetValue | undefined,
  nodes: ZPos[],
  withScores: boolean,
): void {
  const pairs = withScores && ctx.out.protocol === 3;
  ctx.out.arrayHeader(withScores && !pairs ? nodes.length * 2 : nodes.length);
  for (const pos of nodes) {
    if (pairs) ctx.out.arrayHeader(2);
    ctx.out.bulkString(zset!.memberAt(pos));
    if (withScores) score(ctx, zset!.scoreAt(pos));
  }
}

/** Redis's rank sanitizing (start/end from the end when negative); null when empty. */
function rankRange(start: number, end: number, size: number): [number, number] | null {
  if (start < 0) start += size;
  if (end < 0) end += size;
  if (start < 0) start = 0;
  if (start > end || start >= size) return null;
  if (end >= size) end = size - 1;
  return [start, end];
}

/**
 * One bound of a score range read in place: the usual open ends and an
 * optionally exclusive short integer without a string, anything else as
 * zset.ts's parseScoreBound reads it. Sets `bound` and returns true, or
 * returns false when it is not a bound.
 */
function scoreBoundAt(
  args: Args,
  i: number,
  bound: { value: number; exclusive: boolean },
): boolean {
  const n = args.lengthOf(i);
  const bytes = args.buffer ?? args.at(i);
  const start = args.buffer === undefined ? 0 : args.startOf(i);
  let from = 0;
  const exclusive = n > 0 && bytes[start] === 40; // "("
  if (exclusive) from = 1;
  let value = 0;
  let digits = 0;
  let j = from;
  const negative = j < n && bytes[start + j] === 45; // "-"
  if (negative) j++;
  for (; j < n && digits <= 15; j++, digits++) {
    const d = bytes[start + j] - 48;
    if (d < 0 || d > 9) break;
    value = value * 10 + d;
  }
  if (j === n && digits >= 1 && digits <= 15) {
    bound.value = negative ? -value : value;
    bound.exclusive = exclusive;
    return true;
  }
  const parsed = parseScoreBound(argKey(args, i));
  if (parsed === null) return false;
  bound.value = parsed.value;
  bound.exclusive = parsed.exclusive;
  return true;
}

/** A score range's two bounds (arguments `minAt` and `maxAt`); fails with Redis's error. */
function scoreRangeAt(args: Args, minAt: number, maxAt: number): ScoreRange {
  const min = { value: 0, exclusive: false };
  const max = { value: 0, exclusive: false };
  if (!scoreBoundAt(args, minAt, min) || !scoreBoundAt(args, maxAt, max)) {
    fail(SCORE_RANGE_ERROR);
  }
  return {
    min: min.value,
    max: max.value,
    minExclusive: min.exclusive,
    maxExclusive: max.exclusive,
  };
}

/** ZRANGE and its older forms: zrangeGenericCommand. */
function zrangeGeneric(call: RangeCall) {
  return (ctx: Ctx, args: Args): void => {
    // ZRANGESTORE names its destination first; the rest is ZRANGE's.
    const at = call.store ? 1 : 0;
    let withScores = false;
    let offset = 0;
    let limit = -1;
    let reverse = call.reverse;
    let rangeType = call.rangeType;
    // Options read in place (argIs, intArgAt): no view or string per argument.
    for (let j = 4 + at; j < args.length; j++) {
      const left = args.length - j - 1;
      if (!call.store && argIs(args, j, "withscores")) withScores = true;
      else if (left >= 2 && argIs(args, j, "limit")) {
        offset = intArgAt(args, j + 1);
        limit = intArgAt(args, j + 2);
        j += 2;
        // Each of REV and BYSCORE/BYLEX once (Redis: a repeat is a syntax error).
      } else if (call.options && reverse === undefined && argIs(args, j, "rev")) reverse = true;
      else if (call.options && rangeType === "auto" && argIs(args, j, "bylex")) rangeType = "lex";
      else if (call.options && rangeType === "auto" && argIs(args, j, "byscore")) {
        rangeType = "score";
      } else fail(SYNTAX);
    }
    reverse ??= false;
    if (rangeType === "auto") rangeType = "rank";
    if (limit !== -1 && rangeType === "rank") {
      fail("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
    }
    if (withScores && rangeType === "lex") {
      fail("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    // The range arguments; REV of a score or lex range names its maximum first.
    const swap = reverse && rangeType !== "rank";
    const minAt = (swap ? 3 : 2) + at;
    const maxAt = (swap ? 2 : 3) + at;
    const db = ctx.session.db;
    const key = argKey(args, 1 + at);
    const nodes: ZPos[] = [];
    let zset: ZSetValue | undefined;
    if (rangeType === "rank") {
      const start = intArgAt(args, minAt);
      const end = intArgAt(args, maxAt);
      zset = zsetAt(db, key);
      const bounds = zset === undefined ? null : rankRange(start, end, zset.size);
      if (zset !== undefined && bounds !== null) {
        const count = bounds[1] - bounds[0] + 1;
        let pos = reverse ? zset.byRank(zset.size - 1 - bounds[0]) : zset.byRank(bounds[0]);
        for (let i = 0; i < count && pos !== NIL; i++) {
          nodes.push(pos);
          pos = reverse ? zset.prev(pos) : zset.next(pos);
        }
      }
    } else {
      const scoreRange = rangeType === "score" ? scoreRangeAt(args, minAt, maxAt) : undefined;
      const lexRange = rangeType === "lex"
        ? lexRangeArg(args.at(minAt), args.at(maxAt))
        : undefined;
      zset = zsetAt(db, key);
      if (zset !== undefined && offset >= 0 && (offset === 0 || offset < zset.size)) {
        let pos: ZPos;
        if (scoreRange !== undefined) {
          pos = reverse ? zset.lastInScore(scoreRange) : zset.firstInScore(scoreRange);
        } else pos = reverse ? zset.lastInLex(lexRange!) : zset.firstInLex(lexRange!);
        while (pos !== NIL && offset > 0) {
          pos = reverse ? zset.prev(pos) : zset.next(pos);
          offset--;
        }
        while (pos !== NIL && limit !== 0) {
          // Still in range: checked at the end the walk goes towards.
          if (scoreRange !== undefined) {
            const n = zset.scoreAt(pos);
            if (reverse ? !scoreGteMin(n, scoreRange) : !scoreLteMax(n, scoreRange)) break;
          } else {
            const member = zset.memberAt(pos);
            if (reverse ? !lexGteMin(member, lexRange!.min) : !lexLteMax(member, lexRange!.max)) {
              break;
            }
          }
          nodes.push(pos);
          pos = reverse ? zset.prev(pos) : zset.next(pos);
          if (limit > 0) limit--;
        }
      }
    }
    if (call.store) storeRange(ctx, argKey(args, 1), zset, nodes);
    else writeRange(ctx, zset, nodes, withScores);
  };
}

type RemoveBy = "rank" | "score" | "lex";

/** ZREMRANGEBYRANK/BYSCORE/BYLEX: zremrangeGenericCommand. */
function zremrange(by: RemoveBy) {
  return (ctx: Ctx, args: Args): void => {
    let start = 0;
    let end = 0;
    let scoreRange: ScoreRange | undefined;
    let lexRange: LexRange | undefined;
    if (by === "rank") {
      start = intArg(args.at(2));
      end = intArg(args.at(3));
    } else if (by === "score") scoreRange = scoreRangeAt(args, 2, 3);
    else lexRange = lexRangeArg(args.at(2), args.at(3));
    const db = ctx.session.db;
    const entry = lookupZSet(db, argKey(args, 1));
    if (entry === undefined) return ctx.out.integer(0);
    const zset = entry.value;
    let first: ZPos;
    let count: number;
    if (by === "rank") {
      const bounds = rankRange(start, end, zset.size);
      if (bounds === null) return ctx.out.integer(0);
      first = zset.byRank(bounds[0]);
      count = bounds[1] - bounds[0] + 1;
    } else {
      first = scoreRange ? zset.firstInScore(scoreRange) : zset.firstInLex(lexRange!);
      if (first === NIL) return ctx.out.integer(0);
      count = span(
        zset,
        first,
        scoreRange ? zset.lastInScore(scoreRange) : zset.lastInLex(lexRange!),
      );
    }
    const doomed: string[] = [];
    for (let pos = first; pos !== NIL && doomed.length < count; pos = zset.next(pos)) {
      doomed.push(zset.memberAt(pos));
    }
    for (const member of doomed) zset.delete(member);
    if (doomed.length > 0) settle(db, entry);
    ctx.out.integer(doomed.length);
  };
}

/** ZPOPMIN/ZPOPMAX key [count]. */
function zpop(max: boolean) {
  return (ctx: Ctx, args: Args): void => {
    if (args.length > 3) fail(SYNTAX);
    let count = 1;
    const counted = args.length === 3;
    if (counted) {
      count = positiveArg(args.at(2));
    }
    const db = ctx.session.db;
    const entry = lookupZSet(db, argKey(args, 1));
    if (entry === undefined || count === 0) return ctx.out.arrayHeader(0);
    const zset = entry.value;
    const n = Math.min(count, zset.size);
    const nested = counted && ctx.out.protocol === 3;
    ctx.out.arrayHeader(nested ? n : n * 2);
    for (let i = 0; i < n; i++) {
      const pos = max ? zset.last() : zset.first();
      const member = zset.memberAt(pos);
      const value = zset.scoreAt(pos);
      zset.delete(member);
      if (nested) ctx.out.arrayHeader(2);
      ctx.out.bulkString(member);
      score(ctx, value);
    }
    settle(db, entry);
  };
}

/**
 * Pops up to `count` elements from one end, each as member and score
 * (`pairs`: each in its own two-element array), and settles the key.
 */
export function popScored(
  ctx: Ctx,
  entry: ZSetEntry,
  max: boolean,
  count: number,
  pairs: boolean,
): void {
  const zset = entry.value;
  const n = Math.min(count, zset.size);
  for (let i = 0; i < n; i++) {
    const pos = max ? zset.last() : zset.first();
    const member = zset.memberAt(pos);
    const value = zset.scoreAt(pos);
    zset.delete(member);
    if (pairs) ctx.out.arrayHeader(2);
    ctx.out.bulkString(member);
    score(ctx, value);
  }
  settle(ctx.session.db, entry);
}

/** ZMPOP's and BZMPOP's arguments after numkeys. */
export interface MPopCall {
  keys: string[];
  max: boolean;
  count: number;
}

/** numkeys key [key ...] MIN|MAX [COUNT count], numkeys at `numkeysAt`, in Redis's order. */
export function mpopArgs(args: Args, numkeysAt: number): MPopCall {
  const numkeys = numkeysArg(args.at(numkeysAt));
  const whereAt = numkeysAt + 1 + numkeys;
  if (whereAt >= args.length) fail(SYNTAX);
  const where = lower(args.at(whereAt));
  if (where !== "min" && where !== "max") fail(SYNTAX);
  let count = -1;
  for (let i = whereAt + 1; i < args.length; i++) {
    if (count === -1 && lower(args.at(i)) === "count" && i + 1 < args.length) {
      const n = int64Arg(args.at(++i), "ERR count should be greater than 0");
      if (n <= 0) fail("ERR count should be greater than 0");
      count = Number(n);
    } else fail(SYNTAX);
  }
  const keys = args.slice(numkeysAt + 1, whereAt).map(toKey);
  return { keys, max: where === "max", count: count === -1 ? 1 : count };
}

/** ZMPOP's reply from one key, [key, [[member, score] ...]]; false when the key is missing. */
export function mpopFrom(ctx: Ctx, key: string, call: MPopCall): boolean {
  const entry = lookupZSet(ctx.session.db, key);
  if (entry === undefined) return false;
  ctx.out.arrayHeader(2);
  ctx.out.bulkString(key);
  ctx.out.arrayHeader(Math.min(call.count, entry.value.size));
  popScored(ctx, entry, call.max, call.count, true);
  return true;
}

/** ZMPOP numkeys key [key ...] MIN|MAX [COUNT count] (Redis 7.0). */
function zmpop(ctx: Ctx, args: Args): void {
  const call = mpopArgs(args, 1);
  for (const key of call.keys) if (mpopFrom(ctx, key, call)) return;
  ctx.out.nullArray();
}

/** Redis's bound on ZRANDMEMBER's count with WITHSCORES (its reply doubles): LONG_MAX / 2. */
const WITHSCORES_COUNT_MAX = 4611686018427387903n;

/**
 * ZRANDMEMBER key [count [WITHSCORES]]: without a count one random member
 * (or null); a count past the set's size gives the whole set in reverse
 * rank order, as Redis 7.0 does; a negative count may repeat members and is
 * bounded like SRANDMEMBER's (REPEATED_REPLY_COUNT_MAX).
 */
function zrandmember(ctx: Ctx, args: Args): void {
  let count: number | undefined;
  let withScores = false;
  if (args.length >= 3) {
    const n = int64Arg(args.at(2));
    if (n === -9223372036854775808n) fail(LONG_RANGE);
    if (args.length > 4 || (args.length === 4 && lower(args.at(3)) !== "withscores")) fail(SYNTAX);
    withScores = args.length === 4;
    if (withScores && (n < -WITHSCORES_COUNT_MAX || n > WITHSCORES_COUNT_MAX)) {
      fail("ERR value is out of range");
    }
    count = Number(n);
    if (count < -REPEATED_REPLY_COUNT_MAX / (withScores ? 2 : 1)) fail("ERR value is out of range");
  }
  const zset = zsetAt(ctx.session.db, argKey(args, 1));
  if (count === undefined) {
    if (zset === undefined) return ctx.out.nullBulk();
    return ctx.out.bulkString(zset.memberAt(zset.byRank(Math.floor(Math.random() * zset.size))));
  }
  if (zset === undefined || count === 0) return ctx.out.arrayHeader(0);
  const size = zset.size;
  const nodes: ZPos[] = [];
  if (count < 0) {
    for (let i = 0; i < -count; i++) nodes.push(zset.byRank(Math.floor(Math.random() * size)));
  } else if (count >= size) {
    for (let pos = zset.last(); pos !== NIL; pos = zset.prev(pos)) nodes.push(pos);
  } else {
    // A partial Fisher-Yates over ranks: count distinct picks.
    const ranks = Array.from({ length: size }, (_, i) => i);
    for (let i = 0; i < count; i++) {
      const j = i + Math.floor(Math.random() * (size - i));
      [ranks[i], ranks[j]] = [ranks[j], ranks[i]];
      nodes.push(zset.byRank(ranks[i]));
    }
  }
  writeRange(ctx, zset, nodes, withScores);
}

/** ZINTERCARD numkeys key [key ...] [LIMIT limit] (Redis 7.0); plain sets count with score 1. */
function zintercard(ctx: Ctx, args: Args): void {
  const numkeys = intArg(args.at(1));
  if (numkeys < 1) fail("ERR at least 1 input key is needed for 'zintercard' command");
  if (numkeys > args.length - 2) fail(SYNTAX);
  const db = ctx.session.db;
  const sources: Source[] = [];
  for (let i = 0; i < numkeys; i++) sources.push(sourceOf(db, toKey(args.at(2 + i))));
  let limit = 0;
  for (let i = 2 + numkeys; i < args.length; i++) {
    if (lower(args.at(i)) === "limit" && i + 1 < args.length) {
      const n = int64Arg(args.at(++i), "ERR LIMIT can't be negative");
      if (n < 0) fail("ERR LIMIT can't be negative");
      limit = Number(n);
    } else fail(SYNTAX);
  }
  if (sources.some((source) => source.size === 0)) return ctx.out.integer(0);
  const [first, ...rest] = [...sources].sort((a, b) => a.size - b.size);
  let found = 0;
  for (const member of first.scores!.keys()) {
    if (rest.every((source) => source.scores!.has(member))) {
      found++;
      if (limit !== 0 && found >= limit) break;
    }
  }
  ctx.out.integer(found);
}

type Combine = "union" | "inter" | "diff";
type Aggregate = "sum" | "min" | "max";

/** A source of ZUNION and friends: a zset, a plain set (every score 1), or nothing. */
interface Source {
  scores: ScoreView | undefined;
  size: number;
  weight: number;
}

function sourceOf(db: Db, key: string): Source {
  const entry = db.lookup(key);
  if (entry === undefined) return { scores: undefined, size: 0, weight: 1 };
  const value = entry.value;
  if (value instanceof ZSetValue) return { scores: value.scores, size: value.size, weight: 1 };
  if (value instanceof SetValue) {
    const scores = new Map<string, number>();
    for (const member of value.members) scores.set(member, 1);
    return { scores, size: scores.size, weight: 1 };
  }
  fail(WRONGTYPE);
}

/** Redis's zunionInterAggregate: a NaN sum (inf + -inf) becomes 0. */
function aggregate(into: number, value: number, how: Aggregate): number {
  if (how === "min") return value < into ? value : into;
  if (how === "max") return value > into ? value : into;
  const sum = into + value;
  return Number.isNaN(sum) ? 0 : sum;
}

function weighted(score: number, weight: number): number {
  const n = score * weight;
  return Number.isNaN(n) ? 0 : n; // inf * 0
}

/**
 * ZUNION/ZINTER/ZDIFF and their STORE forms (zunionInterDiffGenericCommand):
 * numkeys, then every key type-checked, then WEIGHTS, AGGREGATE and
 * (without a destination) WITHSCORES; sources run smallest first, as in Redis.
 */
function combineGeneric(op: Combine, store: boolean) {
  return (ctx: Ctx, args: Args): void => {
    const numkeysAt = store ? 2 : 1;
    const setnum = intArg(args.at(numkeysAt));
    const name = `${op === "inter" ? "zinter" : op === "union" ? "zunion" : "zdiff"}${
      store ? "store" : ""
    }`;
    if (setnum < 1) fail(`ERR at least 1 input key is needed for '${name}' command`);
    if (setnum > args.length - (numkeysAt + 1)) fail(SYNTAX);
    const db = ctx.session.db;
    const sources: Source[] = [];
    let j = numkeysAt + 1;
    for (let i = 0; i < setnum; i++, j++) sources.push(sourceOf(db, toKey(args.at(j))));
    let how: Aggregate = "sum";
    let withScores = false;
    while (j < args.length) {
      const option = lower(args.at(j));
      const remaining = args.length - j;
      if (op !== "diff" && remaining >= setnum + 1 && option === "weights") {
        j++;
        for (let i = 0; i < setnum; i++, j++) {
          const weight = parseScore(toKey(args.at(j)));
          if (weight === null) fail("ERR weight value is not a float");
          sources[i].weight = weight;
        }
      } else if (op !== "diff" && remaining >= 2 && option === "aggregate") {
        const value = lower(args.at(j + 1));
        if (value !== "sum" && value !== "min" && value !== "max") fail(SYNTAX);
        how = value;
        j += 2;
      } else if (!store && option === "withscores") {
        withScores = true;
        j++;
      } else {
        fail(SYNTAX);
      }
    }
    const result = new Map<string, number>();
    if (op === "diff") {
      const [first, ...rest] = sources;
      for (const [member, score] of first.scores ?? []) {
        if (!rest.some((source) => source.scores?.has(member))) result.set(member, score);
      }
    } else {
      const ordered = sources.map((source, i) => ({ source, i }))
        .sort((a, b) => a.source.size - b.source.size || a.i - b.i)
        .map(({ source }) => source);
      if (op === "inter") {
        const [first, ...rest] = ordered;
        if (first.size > 0) {
          for (const [member, score] of first.scores!) {
            let total = weighted(score, first.weight);
            let everywhere = true;
            for (const other of rest) {
              const value = other.scores?.get(member);
              if (value === undefined) {
                everywhere = false;
                break;
              }
              // Unlike the first source's, a later one's NaN (inf * 0) is not
              // made 0 first, as in Redis: a SUM with it is 0, MIN and MAX keep the total.
              total = aggregate(total, value * other.weight, how);
            }
            if (everywhere) result.set(member, total);
          }
        }
      } else {
        for (const source of ordered) {
          for (const [member, score] of source.scores ?? []) {
            const value = weighted(score, source.weight);
            const seen = result.get(member);
            result.set(member, seen === undefined ? value : aggregate(seen, value, how));
          }
        }
      }
    }
    const zset = new ZSetValue();
    for (const [member, score] of result) zset.set(member, score);
    if (store) {
      const dest = argKey(args, 1);
      if (zset.size === 0) db.delete(dest);
      else db.set(dest, zset);
      return ctx.out.integer(zset.size);
    }
    const nodes: ZPos[] = [];
    for (let pos = zset.first(); pos !== NIL; pos = zset.next(pos)) nodes.push(pos);
    writeRange(ctx, zset, nodes, withScores);
  };
}

/**
 * ZSCAN key cursor [MATCH pattern] [COUNT count]: pages of at least 128
 * members by rank, members with their scores as bulk strings (%.17g, as a
 * Redis listpack holds them). The cursor is a rank, so concurrent changes
 * may skip or repeat members, as for HSCAN and SSCAN here.
 */
function zscan(ctx: Ctx, args: Args): void {
  // Redis's order: the cursor, then the key (missing: an empty page
  // whatever the options), then the options.
  const cursor = cursorArg(args.at(2));
  const zset = zsetAt(ctx.session.db, argKey(args, 1));
  if (zset === undefined) {
    ctx.out.arrayHeader(2);
    ctx.out.bulkString("0");
    return ctx.out.arrayHeader(0);
  }
  const options = scanOptions(args, 3, false);
  const size = zset.size;
  // A set Redis would keep as a listpack (128 entries) comes whole, whatever the cursor.
  const start = size <= 128 ? 0 : cursor;
  const end = Math.min(size, start + Math.max(options.count, 128));
  const found: ZPos[] = [];
  let pos = start < size ? zset.byRank(start) : NIL;
  for (let i = start; i < end && pos !== NIL; i++, pos = zset.next(pos)) {
    if (options.pattern === undefined || globMatch(options.pattern, zset.memberAt(pos))) {
      found.push(pos);
    }
  }
  ctx.out.arrayHeader(2);
  ctx.out.bulkString(end >= size ? "0" : String(end));
  ctx.out.arrayHeader(found.length * 2);
  for (const hit of found) {
    ctx.out.bulkString(zset.memberAt(hit));
    ctx.out.bulkString(formatScore(zset.scoreAt(hit)));
  }
}

const k1 = { firstKey: 1, lastKey: 1, step: 1, group: "sorted-set" } as const;
const kStore = { firstKey: 1, lastKey: 1, step: 1, group: "sorted-set" } as const;
const kNone = { group: "sorted-set" } as const;

export const ZSET_COMMANDS: CommandSpec[] = [
  command("zadd", -4, ["write", "denyoom", "fast"], zadd, k1),
  command("zincrby", 4, ["write", "denyoom", "fast"], zincrby, k1),
  command("zcard", 2, ["readonly", "fast"], zcard, k1),
  command("zscore", 3, ["readonly", "fast"], zscore, k1),
  command("zmscore", -3, ["readonly", "fast"], zmscore, k1),
  command("zrem", -3, ["write", "fast"], zrem, k1),
  command("zrank", -3, ["readonly", "fast"], zrankGeneric(false), k1),
  command("zrevrank", -3, ["readonly", "fast"], zrankGeneric(true), k1),
  command("zcount", 4, ["readonly", "fast"], zcount, k1),
  command("zlexcount", 4, ["readonly", "fast"], zlexcount, k1),
  command(
    "zrange",
    -4,
    ["readonly"],
    zrangeGeneric({ rangeType: "auto", reverse: undefined, options: true }),
    k1,
  ),
  command(
    "zrevrange",
    -4,
    ["readonly"],
    zrangeGeneric({ rangeType: "rank", reverse: true, options: false }),
    k1,
  ),
  command(
    "zrangebyscore",
    -4,
    ["readonly"],
    zrangeGeneric({ rangeType: "score", reverse: false, options: false }),
    k1,
  ),
  command(
    "zrevrangebyscore",
    -4,
    ["readonly"],
    zrangeGeneric({ rangeType: "score", reverse: true, options: false }),
    k1,
  ),
  command(
    "zrangebylex",
    -4,
    ["readonly"],
    zrangeGeneric({ rangeType: "lex", reverse: false, options: false }),
    k1,
  ),
  command(
    "zrevrangebylex",
    -4,
    ["readonly"],
    zrangeGeneric({ rangeType: "lex", reverse: true, options: false }),
    k1,
  ),
  command(
    "zrangestore",
    -5,
    ["write", "denyoom"],
    zrangeGeneric({ rangeType: "auto", reverse: undefined, options: true, store: true }),
    { ...k1, lastKey: 2 },
  ),
  command("zremrangebyrank", 4, ["write"], zremrange("rank"), k1),
  command("zremrangebyscore", 4, ["write"], zremrange("score"), k1),
  command("zremrangebylex", 4, ["write"], zremrange("lex"), k1),
  command("zpopmin", -2, ["write", "fast"], zpop(false), k1),
  command("zpopmax", -2, ["write", "fast"], zpop(true), k1),
  command("zunionstore", -4, ["write", "denyoom"], combineGeneric("union", true), kStore),
  command("zinterstore", -4, ["write", "denyoom"], combineGeneric("inter", true), kStore),
  command("zdiffstore", -4, ["write", "denyoom"], combineGeneric("diff", true), kStore),
  command("zscan", -3, ["readonly"], zscan, k1),
  command("zunion", -3, ["readonly"], combineGeneric("union", false), kNone),
  command("zinter", -3, ["readonly"], combineGeneric("inter", false), kNone),
  command("zdiff", -3, ["readonly"], combineGeneric("diff", false), kNone),
  command("zintercard", -3, ["readonly"], zintercard, kNone),
  command("zmpop", -4, ["write"], zmpop, {
    ...kNone,
    summary: "Remove and return members with scores in a sorted set",
    since: "7.0.0",
    numkeysAt: 1,
  }),
  command("zrandmember", -2, ["readonly"], zrandmember, k1),
];
