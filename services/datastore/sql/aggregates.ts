// Aggregates beyond the executor's own count/sum/avg/min/max/bool_*/
// string_agg/jsonb_agg (PostgreSQL 15 documentation 9.21, tables 9.58-9.62;
// src/backend/utils/adt/numeric.c, float.c, orderedsetaggs.c, json.c):
//
// - ORDER BY inside any aggregate's parentheses (`orderedInput`): the
//   group's input rows are held with their sort keys and fed, sorted, to the
//   plain aggregate when the group ends;
// - array_agg, json_agg, json_object_agg (json, not jsonb: their own
//   spacing, `[1, 2]` and `{ "k" : v }`);
// - stddev/stddev_samp/stddev_pop and variance/var_samp/var_pop, exact for
//   integers and numeric (numeric.c's N*Sxx-Sx^2 over N*(N-1), with its
//   result scale) and Youngs-Cramer for floats (float.c), so the digits
//   match PostgreSQL's;
// - the ordered-set aggregates percentile_cont, percentile_disc (one
//   fraction or an array of them) and mode(), WITHIN GROUP (ORDER BY ...).
//
// Every row an aggregate holds (ORDER BY input, array_agg elements,
// ordered-set values) counts against the statement's work-memory bound
// through `hold`, so a huge group fails with 54000 rather than exhausting
// the process. Left out: hypothetical-set aggregates (rank() WITHIN GROUP),
// percentile_cont over interval, multidimensional array_agg.

import type { PgValue } from "../../../lib/pg/values.ts";
import { SqlError } from "./errors.ts";
import { arrayTypeOf, type EvalContext, isArrayType, type SqlType } from "./eval.ts";
import { accumulateArrays } from "./array_types.ts";
import { arrayText, parseArray } from "./pg_catalog.ts";
import {
  addDecimal,
  compareDecimal,
  decimalFromBigInt,
  divideDecimal,
  fromDecimal,
  multiplyDecimal,
  type NumericValue,
  subtractDecimal,
  toDecimal,
} from "./numeric.ts";

type Evaluate = (ctx: EvalContext) => PgValue;
type Accumulator = Record<string, unknown>;

/** The executor's aggregate contract; `hold(n)` counts rows kept in memory. */
export interface AggregateSpec {
  type: SqlType;
  /** Set when the result is an array (its text form) of this element type. */
  element?: SqlType;
  start(): Accumulator;
  step(acc: Accumulator, ctx: EvalContext, hold?: (rows: number) => void): void;
  finish(acc: Accumulator): PgValue;
}

/** 42883 for an aggregate called with argument types it has no version for, as PostgreSQL words it. */
export function noSuchFunction(name: string, argTypes: string[]): SqlError {
  return new SqlError("42883", `function ${name}(${argTypes.join(", ")}) does not exist`, {
    hint:
      "No function matches the given name and argument types. You might need to add explicit type casts.",
  });
}

/** One compiled sort key of an aggregate's ORDER BY. */
export interface SortKey {
  evaluate: Evaluate;
  compare: (a: PgValue, b: PgValue) => number;
  desc: boolean;
  /** ASC NULLS LAST and DESC NULLS FIRST by default, as in ORDER BY. */
  nullsFirst: boolean;
}

/** Compares two rows of key values by `keys`. */
export function compareKeys(keys: readonly SortKey[], a: PgValue[], b: PgValue[]): number {
  for (let i = 0; i < keys.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x === null || y === null) {
      if (x === y) continue;
      return (x === null) === keys[i].nullsFirst ? -1 : 1;
    }
    const c = keys[i].compare(x, y);
    if (c !== 0) return keys[i].desc ? -c : c;
  }
  return 0;
}

/**
 * `inner(... ORDER BY keys)`: holds each input row (past FILTER) with its
 * keys, and at the group's end feeds them sorted, stably, to `inner`.
 * DISTINCT stays `inner`'s business: its arguments are the sort keys
 * (PostgreSQL requires that), so the first of equal values is kept.
 */
/**
 * DISTINCT by value for an aggregate whose argument's equal values may
 * differ in text (numeric 1.0 and 1, see hash_keys.ts): FILTER first, then
 * each value's canonical key, and `inner` (made without DISTINCT or FILTER)
 * sees each value once.
 */
export function distinctByValue(
  inner: AggregateSpec,
  filter: Evaluate | null,
  evaluate: Evaluate,
  keyOf: (values: PgValue[]) => string,
): AggregateSpec {
  return {
    type: inner.type,
    element: inner.element,
    start: () => ({ inner: inner.start(), seen: new Set<string>() }),
    step(acc, ctx, hold) {
      if (filter !== null && filter(ctx) !== true) return;
      const v = evaluate(ctx);
      if (v !== null) {
        const key = keyOf([v]);
        const seen = acc.seen as Set<string>;
        if (seen.has(key)) return;
        seen.add(key);
      }
      inner.step(acc.inner as Accumulator, ctx, hold);
    },
    finish: (acc) => inner.finish(acc.inner as Accumulator),
  };
}

export function orderedInput(
  inner: AggregateSpec,
  filter: Evaluate | null,
  keys: readonly SortKey[],
): AggregateSpec {
  type Held = { row: readonly PgValue[]; keys: PgValue[] };
  return {
    type: inner.type,
    element: inner.element,
    start: () => ({ items: [] as Held[], ctx: null }),
    step(acc, ctx, hold) {
      if (filter !== null && filter(ctx) !== true) return;
      hold?.(1);
      acc.ctx = ctx;
      (acc.items as Held[]).push({ row: ctx.row, keys: keys.map((k) => k.evaluate(ctx)) });
    },
    finish(acc) {
      const items = acc.items as Held[];
      const result = inner.start();
      if (items.length === 0) return inner.finish(result);
      items.sort((a, b) => compareKeys(keys, a.keys, b.keys));
      const ctx = acc.ctx as { row: readonly PgValue[] };
      const row = ctx.row;
      try {
        for (const item of items) {
          ctx.row = item.row;
          inner.step(result, ctx as EvalContext);
        }
      } finally {
        ctx.row = row;
      }
      return inner.finish(result);
    },
  };
}

/** A step that applies FILTER and DISTINCT (on `key`) before `add`; NULLs are kept. */
function filtered(
  filter: Evaluate | null,
  distinct: boolean,
  evaluate: Evaluate,
  add: (acc: Accumulator, v: PgValue, ctx: EvalContext) => void,
): AggregateSpec["step"] {
  return (acc, ctx, hold) => {
    if (filter !== null && filter(ctx) !== true) return;
    const v = evaluate(ctx);
    if (distinct) {
      const seen = (acc.seen ??= new Set<string>()) as Set<string>;
      const key = v === null ? "\u0001N" : typeof v === "object" ? String(v) : `${typeof v}:${v}`;
      if (seen.has(key)) return;
      seen.add(key);
    }
    hold?.(1);
    add(acc, v, ctx);
  };
}

/** array_agg(x): every value, NULLs too, as an array of x's type (of arrays: one dimension more). */
export function arrayAgg(
  filter: Evaluate | null,
  distinct: boolean,
  evaluate: Evaluate,
  format: (v: Exclude<PgValue, null>) => string,
  element: SqlType,
): AggregateSpec {
  return {
    // An array of the input's type; of arrays, an array of one dimension more.
    type: arrayTypeOf(element),
    element,
    start: () => ({ items: [] as (string | null)[] }),
    step: filtered(filter, distinct, evaluate, (acc, v) => {
      (acc.items as (string | null)[]).push(v === null ? null : format(v));
    }),
    finish: (acc) => {
      const items = acc.items as (string | null)[];
      if (items.length === 0) return null;
      return isArrayType(element) ? accumulateArrays(items) : arrayText(items);
    },
  };
}

/**
 * json_agg(x): json.c's json_agg_transfn writes `[a, b]`, and puts a
 * newline and a space before each later element that is an array or a row.
 */
export function jsonAgg(
  filter: Evaluate | null,
  distinct: boolean,
  evaluate: Evaluate,
  json: (v: PgValue) => string,
  structured: boolean,
): AggregateSpec {
  const separator = structured ? ", \n " : ", ";
  return {
    type: "json",
    start: () => ({ parts: [] as string[] }),
    step: filtered(filter, distinct, evaluate, (acc, v) => {
      (acc.parts as string[]).push(json(v));
    }),
    finish: (acc) => {
      const parts = acc.parts as string[];
      return parts.length === 0 ? null : `[${parts.join(separator)}]`;
    },
  };
}

/** json_object_agg(k, v): `{ "k" : v, "k2" : v2 }` (json_object_agg_transfn's spacing). */
export function jsonObjectAgg(
  filter: Evaluate | null,
  key: Evaluate,
  value: Evaluate,
  json: (v: PgValue) => string,
): AggregateSpec {
  return {
    type: "json",
    start: () => ({ parts: [] as string[] }),
    step(acc, ctx, hold) {
      if (filter !== null && filter(ctx) !== true) return;
      const k = key(ctx);
      if (k === null) throw new SqlError("22023", "field name must not be null");
      hold?.(1);
      (acc.parts as string[]).push(`${JSON.stringify(String(k))} : ${json(value(ctx))}`);
    },
    finish: (acc) => {
      const parts = acc.parts as string[];
      return parts.length === 0 ? null : `{ ${parts.join(", ")} }`;
    },
  };
}

// Variance and standard deviation -----------------------------------------------

export const VARIANCE_AGGREGATES: ReadonlySet<string> = new Set([
  "stddev",
  "stddev_samp",
  "stddev_pop",
  "variance",
  "var_samp",
  "var_pop",
]);

/** The variance family over `type`: numeric for integers and numeric, float8 for floats. */
export function varianceAgg(
  name: string,
  type: SqlType,
  filter: Evaluate | null,
  distinct: boolean,
  evaluate: Evaluate,
): AggregateSpec {
  const sample = name === "stddev" || name === "stddev_samp" || name === "variance" ||
    name === "var_samp";
  const root = name.startsWith("stddev");
  const notNull = (
    add: (acc: Accumulator, v: PgValue) => void,
  ): AggregateSpec["step"] => {
    const step = filtered(filter, distinct, evaluate, (acc, v) => {
      if (v !== null) add(acc, v);
    });
    // DISTINCT holds its values; a plain variance holds nothing.
    return (acc, ctx, hold) => step(acc, ctx, distinct ? hold : undefined);
  };
  if (type === "float4" || type === "float8") {
    return {
      type: "float8",
      start: () => ({ n: 0, sx: 0, sxx: 0 }),
      // float8_accum: Youngs-Cramer, which keeps precision that sum-of-squares loses.
      step: notNull((acc, v) => {
        const x = v as number;
        const n0 = acc.n as number;
        const n = n0 + 1;
        const sx = (acc.sx as number) + x;
        if (n0 > 0) {
          const tmp = x * n - sx;
          acc.sxx = (acc.sxx as number) + tmp * tmp / (n * n0);
        } else acc.sxx = Number.isNaN(x) || !Number.isFinite(x) ? NaN : 0;
        acc.n = n;
        acc.sx = sx;
      }),
      finish: (acc) => {
        const n = acc.n as number;
        if (n === 0 || (sample && n === 1)) return null;
        const variance = (acc.sxx as number) / (sample ? n - 1 : n);
        return root ? Math.sqrt(variance) : variance;
      },
    };
  }
  if (!["int2", "int4", "int8", "numeric"].includes(type)) {
    return { type: "numeric", start: () => ({}), step: () => {}, finish: () => null };
  }
  return {
    type: "numeric",
    start: () => ({ n: 0n, sx: decimalFromBigInt(0n), sxx: decimalFromBigInt(0n) }),
    step: notNull((acc, v) => {
      const x = type === "numeric"
        ? toDecimal(v as string)
        : decimalFromBigInt(BigInt(v as number));
      acc.n = (acc.n as bigint) + 1n;
      acc.sx = addDecimal(acc.sx as NumericValue, x);
      acc.sxx = addDecimal(acc.sxx as NumericValue, multiplyDecimal(x, x));
    }),
    finish: (acc) => numericVariance(acc, sample, root),
  };
}

/** numeric_stddev_internal: (N*Sxx - Sx^2) / (N*(N-1) or N^2), then its square root. */
function numericVariance(acc: Accumulator, sample: boolean, root: boolean): PgValue {
  const n = acc.n as bigint;
  if (n === 0n || (sample && n === 1n)) return null;
  const sx = acc.sx as NumericValue;
  const sxx = acc.sxx as NumericValue;
  if (typeof sx === "string" || typeof sxx === "string") return "NaN";
  const numerator = subtractDecimal(
    multiplyDecimal(decimalFromBigInt(n), sxx),
    multiplyDecimal(sx, sx),
  );
  if (compareDecimal(numerator, decimalFromBigInt(0n)) <= 0) return "0";
  const denominator = decimalFromBigInt(n * (sample ? n - 1n : n));
  const variance = divideDecimal(numerator, denominator);
  if (!root || typeof variance === "string") return fromDecimal(variance);
  return fromDecimal(sqrtDecimal(variance.unscaled, variance.scale));
}

/** The square root of unscaled/10^scale at `scale` digits, rounded half up (sqrt_var). */
function sqrtDecimal(unscaled: bigint, scale: number): NumericValue {
  // sqrt(u / 10^s) * 10^(s+1) = sqrt(u * 10^(s+2)): one guard digit, then rounded.
  const guarded = integerSqrt(unscaled * 10n ** BigInt(scale + 2));
  return { unscaled: (guarded + 5n) / 10n, scale };
}

function integerSqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = BigInt(Math.floor(Math.sqrt(Number(n))));
  // Newton's method from the double's estimate, then settle on floor(sqrt(n)).
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) break;
    x = y;
  }
  while (x * x > n) x--;
  while ((x + 1n) * (x + 1n) <= n) x++;
  return x;
}

// Ordered-set aggregates ----------------------------------------------------------

export const ORDERED_SET_AGGREGATES: ReadonlySet<string> = new Set([
  "percentile_cont",
  "percentile_disc",
  "mode",
]);

/**
 * percentile_cont/percentile_disc(fraction or fraction array) and mode(),
 * WITHIN GROUP (ORDER BY key): the group's non-NULL keys held and sorted.
 * `fraction` is evaluated once per group, against one of its rows.
 */
export function orderedSetAgg(
  name: string,
  filter: Evaluate | null,
  key: SortKey,
  keyType: SqlType,
  fraction: { evaluate: Evaluate; array: boolean } | null,
  format: (type: SqlType, v: Exclude<PgValue, null>) => string,
): AggregateSpec {
  const cont = name === "percentile_cont";
  const type: SqlType = cont ? "float8" : keyType;
  const asNumber = (v: PgValue) =>
    typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : Number(v as string);
  const pick = (sorted: PgValue[], p: number): PgValue => {
    if (!(p >= 0 && p <= 1)) {
      throw new SqlError("22003", `percentile value ${p} is not between 0 and 1`);
    }
    if (sorted.length === 0) return null;
    if (!cont) return sorted[Math.max(Math.ceil(p * sorted.length), 1) - 1];
    const at = p * (sorted.length - 1);
    const lo = asNumber(sorted[Math.floor(at)]);
    const hi = asNumber(sorted[Math.ceil(at)]);
    return lo + (at - Math.floor(at)) * (hi - lo);
  };
  return {
    type: fraction?.array ? "text" : type,
    element: fraction?.array ? type : undefined,
    start: () => ({ values: [] as PgValue[], fraction: undefined }),
    step(acc, ctx, hold) {
      if (filter !== null && filter(ctx) !== true) return;
      if (fraction !== null && acc.fraction === undefined) acc.fraction = fraction.evaluate(ctx);
      const v = key.evaluate(ctx);
      if (v === null) return;
      hold?.(1);
      (acc.values as PgValue[]).push(v);
    },
    finish(acc) {
      const values = acc.values as PgValue[];
      const sorted = values.slice().sort((a, b) =>
        key.desc ? key.compare(b, a) : key.compare(a, b)
      );
      if (fraction === null) return mode(sorted, key.compare);
      const p = acc.fraction as PgValue | undefined;
      if (p === undefined || p === null) return null;
      if (!fraction.array) return pick(sorted, asNumber(p));
      if (sorted.length === 0) return null;
      return arrayText(
        parseArray(String(p)).map((f) => {
          if (f === null) return null;
          const v = pick(sorted, Number(f));
          return v === null ? null : format(type, v);
        }),
      );
    },
  };
}

/** mode(): the most frequent value, the first in sort order among ties (mode_final). */
function mode(sorted: PgValue[], compare: (a: PgValue, b: PgValue) => number): PgValue {
  let best: PgValue = null;
  let bestCount = 0;
  for (let i = 0; i < sorted.length;) {
    let j = i + 1;
    while (j < sorted.length && compare(sorted[i], sorted[j]) === 0) j++;
    if (j - i > bestCount) {
      best = sorted[i];
      bestCount = j - i;
    }
    i = j;
  }
  return best;
}
