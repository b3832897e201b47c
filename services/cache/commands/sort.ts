// SORT and SORT_RO (Redis sort.c, 7.0): sort a list, set or sorted set
// numerically or (ALPHA) by bytes, by the element itself or by the keys a
// BY pattern names ("weight_*", "h_*->field"), with LIMIT, GET patterns
// ("#" for the element) and STORE into a list.
//
// As in Redis: BY a pattern with no "*" skips sorting (lists and sorted sets
// keep their order, LIMIT then picks a range directly); numeric sorting
// reads each value as C's strtod does and fails with "One or more scores
// can't be converted into double"; equal scores fall back to comparing the
// elements, so the order is deterministic. ALPHA compares bytes (Redis uses
// strcoll, which is byte order under the C locale it runs in by default).
//
// Bounded: a SORT that would load more than SORT_ELEMENTS_MAX elements is
// refused rather than holding the event loop for seconds.

import type { Args } from "./context.ts";
import type { Db } from "../keyspace.ts";
import { HashValue, ListValue, SetValue, toKey } from "../values.ts";
import { NIL, ZSetValue } from "../zset.ts";
import { command, type CommandSpec, type Ctx, fail, lower, SYNTAX, WRONGTYPE } from "./context.ts";
import { intArg } from "./args.ts";

/**
 * Elements one SORT may load: a million sorts in about a second here (as in
 * Redis); past it the command is refused instead of stalling every client.
 */
export const SORT_ELEMENTS_MAX = 1_000_000;

interface Item {
  readonly element: string;
  score: number;
  /** ALPHA BY: the value compared, or null when the pattern names nothing. */
  by: string | null;
}

/**
 * Redis's lookupKeyByPattern: "#" is the element itself; the first "*" is
 * replaced by the element; "->field" after it reads a hash field. Only
 * strings (or hash fields) answer; anything else is null.
 */
function lookupByPattern(db: Db, pattern: string, element: string): string | null {
  if (pattern === "#") return element;
  const star = pattern.indexOf("*");
  if (star === -1) return null;
  const arrow = pattern.indexOf("->", star + 1);
  const field = arrow !== -1 && arrow + 2 < pattern.length ? pattern.slice(arrow + 2) : undefined;
  const key = pattern.slice(0, star) + element +
    pattern.slice(star + 1, field === undefined ? pattern.length : arrow);
  const value = db.lookup(key)?.value;
  if (value === undefined) return null;
  if (field === undefined) return typeof value === "string" ? value : null;
  if (!(value instanceof HashValue)) return null;
  const expireAt = value.fieldExpires.get(field);
  if (expireAt !== undefined && expireAt <= Date.now()) return null;
  return value.fields.get(field) ?? null;
}

const C_SPACE = /^[ \t\n\v\f\r]*/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const HEX = /^[+-]?0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)([pP][+-]?\d+)?$/;
const INFINITY = /^[+-]?(inf|infinity)$/i;

/** A value as C's strtod reads it for SORT; null where Redis reports a conversion error. */
function strtod(text: string): number | null {
  // Redis hands strtod a C string: it ends at the first NUL byte.
  const nul = text.indexOf("\0");
  const rest = (nul === -1 ? text : text.slice(0, nul)).replace(C_SPACE, "");
  if (rest.length === 0) return 0; // strtod reads nothing and Redis takes the 0
  if (INFINITY.test(rest)) return rest[0] === "-" ? -Infinity : Infinity;
  let n: number;
  if (DECIMAL.test(rest)) n = Number(rest);
  else if (HEX.test(rest)) n = hexFloat(rest);
  else return null;
  // ERANGE: overflow to infinity, or a nonzero value too small for a double.
  if (!Number.isFinite(n)) return null;
  if (n === 0 && /[1-9]/.test(rest.replace(/[eEpP].*$/, "").replace(/^[+-]?0[xX]/, ""))) {
    return null;
  }
  return n;
}

function hexFloat(text: string): number {
  const negative = text[0] === "-";
  const body = text.replace(/^[+-]?0[xX]/, "");
  const [mantissa, exponent = "0"] = body.split(/[pP]/);
  const [whole, fraction = ""] = mantissa.split(".");
  let n = parseInt(whole || "0", 16);
  for (let i = 0; i < fraction.length; i++) n += parseInt(fraction[i], 16) / 16 ** (i + 1);
  n *= 2 ** Number(exponent);
  return negative ? -n : n;
}

/** Byte order of two binary strings (memcmp, then length). */
function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortGeneric(readOnly: boolean) {
  return (ctx: Ctx, args: Args): void => {
    let desc = false;
    let alpha = false;
    let limitStart = 0;
    let limitCount = -1;
    let store: string | undefined;
    let by: string | undefined;
    let dontSort = false;
    const gets: string[] = [];
    for (let j = 2; j < args.length; j++) {
      const option = lower(args.at(j));
      const left = args.length - j - 1;
      if (option === "asc") desc = false;
      else if (option === "desc") desc = true;
      else if (option === "alpha") alpha = true;
      else if (option === "limit" && left >= 2) {
        limitStart = intArg(args.at(j + 1));
        limitCount = intArg(args.at(j + 2));
        j += 2;
      } else if (!readOnly && option === "store" && left >= 1) {
        store = toKey(args.at(++j));
      } else if (option === "by" && left >= 1) {
        by = toKey(args.at(++j));
        // A later BY with a "*" does not undo an earlier one without (as in Redis).
        if (!by.includes("*")) dontSort = true;
      } else if (option === "get" && left >= 1) {
        gets.push(toKey(args.at(++j)));
      } else fail(SYNTAX);
    }
    const db = ctx.session.db;
    const value = db.lookup(toKey(args.at(1)))?.value;
    if (
      value !== undefined && !(value instanceof ListValue) && !(value instanceof SetValue) &&
      !(value instanceof ZSetValue)
    ) {
      fail(WRONGTYPE);
    }
    // A set has no order of its own: stored, it is sorted by its bytes.
    if (dontSort && value instanceof SetValue && store !== undefined) {
      dontSort = false;
      alpha = true;
      by = undefined;
    }
    const size = value === undefined
      ? 0
      : value instanceof ListValue
      ? value.length
      : value instanceof SetValue
      ? value.members.size
      : value.size;
    let start = limitStart < 0 ? 0 : limitStart;
    let end = limitCount < 0 ? size - 1 : start + limitCount - 1;
    if (start >= size) {
      start = size - 1;
      end = size - 2;
    }
    if (end >= size) end = size - 1;
    const ordered = value instanceof ListValue || value instanceof ZSetValue;
    const direct = ordered && dontSort;
    const loading = direct ? Math.max(0, end - start + 1) : size;
    if (loading > SORT_ELEMENTS_MAX) {
      fail(
        `ERR SORT would load ${loading} elements, more than ${SORT_ELEMENTS_MAX}: use LIMIT with BY nosort, or SCAN`,
      );
    }
    let items: Item[] = [];
    const add = (element: string) => items.push({ element, score: 0, by: null });
    if (direct) {
      // The range straight from the list or sorted set, in its order (reversed by DESC).
      for (let i = start; i <= end; i++) {
        const at = desc ? size - 1 - i : i;
        add(value instanceof ListValue ? value.get(at)! : value.memberAt(value.byRank(at)));
      }
      end -= start;
      start = 0;
    } else if (value instanceof ListValue) {
      for (let i = 0; i < size; i++) add(value.get(i)!);
    } else if (value instanceof SetValue) {
      for (const member of value.ordered()) add(member);
    } else if (value instanceof ZSetValue) {
      for (let pos = value.first(); pos !== NIL; pos = value.next(pos)) add(value.memberAt(pos));
    }
    let conversionError = false;
    if (!dontSort) {
      for (const item of items) {
        const byValue = by === undefined ? item.element : lookupByPattern(db, by, item.element);
        if (byValue === null) continue;
        if (alpha) {
          if (by !== undefined) item.by = byValue;
        } else {
          const score = strtod(byValue);
          if (score === null) conversionError = true;
          else item.score = score;
        }
      }
      const sign = desc ? -1 : 1;
      items = items.sort((a, b) => {
        let cmp: number;
        if (!alpha) {
          cmp = a.score > b.score ? 1 : a.score < b.score ? -1 : compareBytes(a.element, b.element);
        } else if (by !== undefined) {
          cmp = a.by === null || b.by === null
            ? (a.by === b.by ? 0 : a.by === null ? -1 : 1)
            : compareBytes(a.by, b.by);
        } else cmp = compareBytes(a.element, b.element);
        return sign * cmp;
      });
    }
    if (conversionError) fail("ERR One or more scores can't be converted into double");
    const picked = items.slice(start, end + 1);
    if (store === undefined) {
      ctx.out.arrayHeader(gets.length > 0 ? gets.length * picked.length : picked.length);
      for (const item of picked) {
        if (gets.length === 0) ctx.out.bulkString(item.element);
        for (const pattern of gets) {
          const found = lookupByPattern(db, pattern, item.element);
          if (found === null) ctx.out.nullBulk();
          else ctx.out.bulkString(found);
        }
      }
      return;
    }
    const list = new ListValue();
    for (const item of picked) {
      if (gets.length === 0) list.pushBack(item.element);
      for (const pattern of gets) list.pushBack(lookupByPattern(db, pattern, item.element) ?? "");
    }
    if (list.length > 0) db.set(store, list);
    else db.delete(store);
    ctx.out.integer(list.length);
  };
}

export const SORT_COMMANDS: CommandSpec[] = [
  command("sort", -2, ["write", "denyoom"], sortGeneric(false), {
    firstKey: 1,
    lastKey: 1,
    step: 1,
  }),
  command("sort_ro", -2, ["readonly"], sortGeneric(true), { firstKey: 1, lastKey: 1, step: 1 }),
];
