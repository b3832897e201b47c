// Hashing by value for GROUP BY, DISTINCT, set operations, hash joins and
// aggregates' DISTINCT: values that PostgreSQL's equality calls equal must
// hash alike, though their text differs. A numeric keeps its scale (1.0 and
// 1 print differently, compare equal), an interval is compared by its span
// ('1 mon' = '30 days'), and jsonb compares numbers as numerics
// ('{"a": 1.0}' = '{"a": 1}'), and char(n) ignores trailing spaces
// ('a ' = 'a'), and arrays of these compare element by element. `equalityKey` maps such values to a
// canonical form before `rowKey` makes the hash key; other types pass
// unchanged.

import type { PgValue } from "../../../lib/pg/values.ts";
import type { SqlType } from "./eval.ts";
import { canonicalArray } from "../../../lib/pg/arrays.ts";
import { intervalFields, intervalSpan } from "../../../lib/pg/interval.ts";

/** Types whose equal values may differ in text. */
const CANONICAL: ReadonlySet<SqlType> = new Set<SqlType>([
  "numeric",
  "interval",
  "jsonb",
  "bpchar",
]);

/**
 * The values' canonical forms for hashing, or null when no type needs one
 * (the common case: the caller then hashes the values themselves).
 */
export function equalityKey(types: readonly SqlType[]): ((values: PgValue[]) => PgValue[]) | null {
  if (!types.some(needsCanonical)) return null;
  return (values) => values.map((v, i) => v === null ? v : canonical(types[i], v));
}

/** Whether a type's equal values may differ in text (an array: when its elements' may). */
function needsCanonical(type: SqlType): boolean {
  return CANONICAL.has(type.endsWith("[]") ? type.slice(0, -2) as SqlType : type);
}

/** One value's canonical form (see `equalityKey`). */
export function canonical(type: SqlType, value: PgValue): PgValue {
  if (typeof value !== "string") return value;
  if (type.endsWith("[]")) {
    // Element by element; dimensions and lower bounds stay (they count in array_eq).
    const element = type.slice(0, -2) as SqlType;
    if (!CANONICAL.has(element)) return value;
    return canonicalArray(value, (e) => String(canonical(element, e)));
  }
  switch (type) {
    case "numeric":
      return canonicalNumeric(value);
    case "interval":
      return `\u0002${intervalSpan(intervalFields(value))}`;
    case "jsonb":
      return canonicalJsonb(value);
    case "bpchar": // char(n) compares without its trailing spaces
      return value.replace(/ +$/, "");
    default:
      return value;
  }
}

/** A numeric's text without trailing fractional zeros ("1.50" and "1.5" alike; "-0.0" is "0"). */
export function canonicalNumeric(text: string): string {
  const dot = text.indexOf(".");
  let end = text.length;
  if (dot >= 0) {
    while (end > dot + 1 && text.charCodeAt(end - 1) === 0x30) end--;
    if (end === dot + 1) end = dot;
  }
  const out = end === text.length ? text : text.slice(0, end);
  return out === "-0" ? "0" : out;
}

/**
 * A jsonb text (already in jsonb's output form: keys sorted and unique)
 * with every number outside strings in canonical numeric form.
 */
export function canonicalJsonb(text: string): string {
  let out = "";
  let copied = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) { // a string: skip to its closing quote
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) {
        if (text.charCodeAt(i) === 0x5c) i++;
      }
      continue;
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let end = i + 1;
      while (end < text.length && isNumberChar(text.charCodeAt(end))) end++;
      const number = text.slice(i, end);
      const normal = canonicalNumeric(number);
      if (normal !== number) {
        out += text.slice(copied, i) + normal;
        copied = end;
      }
      i = end - 1;
    }
  }
  return copied === 0 ? text : out + text.slice(copied);
}

function isNumberChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b ||
    c === 0x2d;
}

/** A key for hashing a row of values (DISTINCT, GROUP BY, joins). */
export function rowKey(values: PgValue[]): string {
  let k = "";
  for (const v of values) {
    if (v === null) k += "\u0001N";
    else if (typeof v === "bigint") k += `\u0001i${v}`;
    else if (typeof v === "number") k += `\u0001i${Object.is(v, -0) ? 0 : v}`;
    else if (v instanceof Uint8Array) k += `\u0001b${[...v].join(",")}`;
    else k += `\u0001${typeof v}${v}`;
  }
  return k;
}

/** `rowKey` of the values' canonical forms (see `equalityKey`). */
export function hashKeyOf(types: readonly SqlType[]): (values: PgValue[]) => string {
  const normalize = equalityKey(types);
  return normalize === null ? rowKey : (values) => rowKey(normalize(values));
}
