// Text and binary formats of the built-in types we serve (PostgreSQL
// documentation 8 "Data Types"; the binary forms are each type's send/recv
// functions in src/backend/utils/adt/). A value in JavaScript is:
//
//   int2, int4, float4, float8   number
//   int8                         bigint
//   numeric                      string, canonical decimal ("12.340", "NaN")
//   bool                         boolean
//   text, varchar, bpchar, name  string
//   bytea                        Bytes
//   date                         number: days since 1970-01-01
//   timestamp, timestamptz       bigint: microseconds since 1970-01-01 UTC
//                                (the storage engine's timestamp)
//   interval                     string: its canonical output text
//                                (lib/pg/interval.ts)
//   uuid                         string, lowercase with hyphens
//   json, jsonb                  string: json as given, jsonb normalized as
//                                PostgreSQL prints it
//   arrays (int4[], text[], ...) string: the canonical text array_out prints
//                                (lib/pg/arrays.ts)
//
// Output follows the server defaults psql and drivers expect: DateStyle ISO,
// TimeZone UTC, extra_float_digits 1 (shortest round-trip floats),
// bytea_output hex. Bad input throws PgValueError with PostgreSQL's SQLSTATE
// and message. Left out: BC dates and years past 9999, time zone names other than UTC/Z, and typmod coercion
// (varchar(n) length, numeric(p,s) rounding), which the executor applies.

import { formatTime, parseTime, timeFromBinary, timeToBinary } from "./time.ts";
import type { Bytes } from "../bytes.ts";
import { OID, typeByOid } from "./oids.ts";
import {
  formatInterval,
  intervalFields,
  intervalFromBinary,
  intervalToBinary,
  normalizeInterval,
} from "./interval.ts";

export type PgValue = null | boolean | number | bigint | string | Bytes;

import { PgValueError } from "./value_error.ts";
export { PgValueError };
import { arrayElementOid, arrayFromBinary, arrayToBinary, canonicalArray } from "./arrays.ts";

const INVALID_TEXT = "22P02";
const OUT_OF_RANGE = "22003";
const INVALID_DATETIME = "22007";
const DATETIME_OVERFLOW = "22008";
const INVALID_PARAMETER = "22023";

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function sqlName(oid: number): string {
  return typeByOid(oid)?.sqlName ?? String(oid);
}

function invalidSyntax(oid: number, text: string): PgValueError {
  return new PgValueError(INVALID_TEXT, `invalid input syntax for type ${sqlName(oid)}: "${text}"`);
}

// Integers ---------------------------------------------------------------

const INT_RANGE: Record<number, [bigint, bigint]> = {
  [OID.int2]: [-32768n, 32767n],
  [OID.int4]: [-2147483648n, 2147483647n],
  [OID.int8]: [-9223372036854775808n, 9223372036854775807n],
};

/** pg_strtoint16/32/64: optional spaces, a sign, decimal digits, optional spaces. */
function parseInteger(oid: number, text: string): number | bigint {
  const trimmed = text.trim();
  if (!/^[+-]?\d+$/.test(trimmed)) throw invalidSyntax(oid, text);
  const value = BigInt(trimmed);
  const [low, high] = INT_RANGE[oid];
  if (value < low || value > high) {
    throw new PgValueError(
      OUT_OF_RANGE,
      `value "${text}" is out of range for type ${sqlName(oid)}`,
    );
  }
  return oid === OID.int8 ? value : Number(value);
}

// Floats -----------------------------------------------------------------

const FLOAT_SYNTAX = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const FLOAT_SPECIAL = new Map([
  ["nan", NaN],
  ["infinity", Infinity],
  ["+infinity", Infinity],
  ["-infinity", -Infinity],
  ["inf", Infinity],
  ["+inf", Infinity],
  ["-inf", -Infinity],
]);

/** float4in / float8in, including their overflow and underflow checks. */
function parseFloat8or4(oid: number, text: string): number {
  const trimmed = text.trim();
  const special = FLOAT_SPECIAL.get(trimmed.toLowerCase());
  if (special !== undefined) return special;
  if (!FLOAT_SYNTAX.test(trimmed)) throw invalidSyntax(oid, text);
  const parsed = Number(trimmed);
  const value = oid === OID.float4 ? Math.fround(parsed) : parsed;
  const nonzeroInput = /[1-9]/.test(trimmed.replace(/e.*$/i, ""));
  if (!Number.isFinite(value) || (value === 0 && nonzeroInput)) {
    throw new PgValueError(OUT_OF_RANGE, `"${trimmed}" is out of range for type ${sqlName(oid)}`);
  }
  return value;
}

/** Shortest digits that read back as the same float4. */
function float4Exponential(value: number): string {
  for (let precision = 1; precision < 9; precision++) {
    const text = value.toExponential(precision - 1);
    if (Math.fround(Number(text)) === value) return text;
  }
  return value.toExponential(8);
}

/**
 * float8out / float4out with extra_float_digits = 1: the shortest exact
 * digits, in positional form unless the exponent is below -4 or at least
 * DBL_DIG (15) / FLT_DIG (6), then as 1.5e+20 with a two-digit exponent.
 */
export function formatFloat(value: number, oid: number = OID.float8): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "Infinity";
  if (value === -Infinity) return "-Infinity";
  if (value === 0) return Object.is(value, -0) ? "-0" : "0";
  const exponential = oid === OID.float4 ? float4Exponential(value) : value.toExponential();
  const [mantissa, exponentText] = exponential.split("e");
  const exponent = Number(exponentText);
  const negative = mantissa.startsWith("-");
  const digits = mantissa.replace(/[-.]/g, "").replace(/0+$/, "") || "0";
  const sign = negative ? "-" : "";
  if (exponent < -4 || exponent >= (oid === OID.float4 ? 6 : 15)) {
    const fraction = digits.length > 1 ? `.${digits.slice(1)}` : "";
    const magnitude = String(Math.abs(exponent)).padStart(2, "0");
    return `${sign}${digits[0]}${fraction}e${exponent < 0 ? "-" : "+"}${magnitude}`;
  }
  if (exponent < 0) return `${sign}0.${"0".repeat(-exponent - 1)}${digits}`;
  if (digits.length <= exponent + 1) {
    return sign + digits + "0".repeat(exponent + 1 - digits.length);
  }
  return `${sign}${digits.slice(0, exponent + 1)}.${digits.slice(exponent + 1)}`;
}

// Numeric ----------------------------------------------------------------

const NUMERIC_SYNTAX = /^([+-])?(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i;
/** PostgreSQL's NUMERIC_MAX_DISPLAY_SCALE and digits before the point (131072). */
const NUMERIC_SCALE_MAX = 16383;
const NUMERIC_WEIGHT_DIGITS_MAX = 131072;

/** numeric_in: the canonical text of a decimal, keeping its scale ("1.50" stays "1.50"). */
export function parseNumeric(text: string): string {
  const trimmed = text.trim();
  const lower = trimmed.toLowerCase();
  if (lower === "nan") return "NaN";
  if (lower === "infinity" || lower === "+infinity" || lower === "inf" || lower === "+inf") {
    return "Infinity";
  }
  if (lower === "-infinity" || lower === "-inf") return "-Infinity";
  const match = NUMERIC_SYNTAX.exec(trimmed);
  if (match === null || (match[2] === "" && (match[3] ?? "") === "")) {
    throw invalidSyntax(OID.numeric, text);
  }
  const exponent = match[4] === undefined ? 0 : Number(match[4]);
  if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > 2 * NUMERIC_WEIGHT_DIGITS_MAX) {
    throw invalidSyntax(OID.numeric, text);
  }
  let whole = match[2];
  let fraction = match[3] ?? "";
  const scale = Math.max(0, fraction.length - exponent);
  if (exponent > 0) {
    const moved = fraction.padEnd(exponent, "0");
    whole += moved.slice(0, exponent);
    fraction = moved.slice(exponent);
  } else if (exponent < 0) {
    const padded = whole.padStart(-exponent, "0");
    fraction = padded.slice(padded.length + exponent) + fraction;
    whole = padded.slice(0, padded.length + exponent);
  }
  fraction = fraction.padEnd(scale, "0").slice(0, scale);
  whole = whole.replace(/^0+/, "") || "0";
  if (scale > NUMERIC_SCALE_MAX || whole.length > NUMERIC_WEIGHT_DIGITS_MAX) {
    throw new PgValueError(OUT_OF_RANGE, "value overflows numeric format");
  }
  const zero = whole === "0" && !/[1-9]/.test(fraction);
  const sign = match[1] === "-" && !zero ? "-" : "";
  return scale > 0 ? `${sign}${whole}.${fraction}` : sign + whole;
}

const NUMERIC_POS = 0x0000;
const NUMERIC_NEG = 0x4000;
const NUMERIC_NAN = 0xc000;
const NUMERIC_PINF = 0xd000;
const NUMERIC_NINF = 0xf000;

/** numeric_send: ndigits, weight, sign, dscale, then base-10000 digits. */
function numericToBinary(value: string): Bytes {
  const special = value === "NaN"
    ? NUMERIC_NAN
    : value === "Infinity"
    ? NUMERIC_PINF
    : value === "-Infinity"
    ? NUMERIC_NINF
    : -1;
  // PostgreSQL sends ±Infinity with a dscale of 32: numeric_send reads the
  // special value's header bits through the short-format dscale mask.
  if (special !== -1) return packInt16s([0, 0, special, special === NUMERIC_NAN ? 0 : 32]);
  const negative = value.startsWith("-");
  const [whole, fraction = ""] = (negative ? value.slice(1) : value).split(".");
  const dscale = fraction.length;
  const wholePadded = whole.padStart(Math.ceil(whole.length / 4) * 4, "0");
  const fractionPadded = fraction.padEnd(Math.ceil(fraction.length / 4) * 4, "0");
  const groups: number[] = [];
  for (let i = 0; i < wholePadded.length; i += 4) groups.push(Number(wholePadded.slice(i, i + 4)));
  for (let i = 0; i < fractionPadded.length; i += 4) {
    groups.push(Number(fractionPadded.slice(i, i + 4)));
  }
  let weight = wholePadded.length / 4 - 1;
  while (groups.length > 0 && groups[0] === 0) {
    groups.shift();
    weight--;
  }
  while (groups.length > 0 && groups[groups.length - 1] === 0) groups.pop();
  if (groups.length === 0) weight = 0;
  return packInt16s([
    groups.length,
    weight,
    negative ? NUMERIC_NEG : NUMERIC_POS,
    dscale,
    ...groups,
  ]);
}

function numericFromBinary(bytes: Bytes): string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8) {
    throw new PgValueError(INVALID_PARAMETER, "insufficient data left in message");
  }
  const count = view.getUint16(0);
  const weight = view.getInt16(2);
  const sign = view.getUint16(4);
  const dscale = view.getUint16(6);
  if (bytes.length !== 8 + 2 * count) {
    throw new PgValueError(INVALID_PARAMETER, 'invalid length in external "numeric" value');
  }
  if (sign === NUMERIC_NAN) return "NaN";
  if (sign === NUMERIC_PINF) return "Infinity";
  if (sign === NUMERIC_NINF) return "-Infinity";
  if (sign !== NUMERIC_POS && sign !== NUMERIC_NEG) {
    throw new PgValueError(INVALID_PARAMETER, 'invalid sign in external "numeric" value');
  }
  let whole = "";
  let fraction = "";
  for (let i = 0; i < count; i++) {
    const digit = view.getUint16(8 + 2 * i);
    if (digit > 9999) {
      throw new PgValueError(INVALID_PARAMETER, 'invalid digit in external "numeric" value');
    }
    const text = String(digit).padStart(4, "0");
    if (weight - i >= 0) whole += text;
    else fraction += text;
  }
  // Groups between the last digit and the point, or between the point and the first.
  if (count > 0 && weight - (count - 1) > 0) whole += "0000".repeat(weight - (count - 1));
  if (weight < -1) fraction = "0000".repeat(-1 - weight) + fraction;
  whole = whole.replace(/^0+/, "") || "0";
  fraction = fraction.padEnd(dscale, "0").slice(0, dscale);
  const zero = whole === "0" && !/[1-9]/.test(fraction);
  const signText = sign === NUMERIC_NEG && !zero ? "-" : "";
  return dscale > 0 ? `${signText}${whole}.${fraction}` : signText + whole;
}

function packInt16s(values: number[]): Bytes {
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  values.forEach((value, i) => view.setUint16(i * 2, value & 0xffff));
  return out;
}

// Booleans ----------------------------------------------------------------

/** parse_bool: any unambiguous prefix of true/false/yes/no, on/off, 1/0. */
function parseBool(text: string): boolean {
  const word = text.trim().toLowerCase();
  if (word.length > 0) {
    if ("true".startsWith(word) || "yes".startsWith(word) || word === "on" || word === "1") {
      return true;
    }
    if ("false".startsWith(word) || "no".startsWith(word) || word === "of" || word === "off") {
      return false;
    }
    if (word === "0") return false;
  }
  throw invalidSyntax(OID.bool, text);
}

// bytea -------------------------------------------------------------------

const HEX = "0123456789abcdef";

/** byteain: hex format (\x...) or the traditional escape format. */
function parseBytea(text: string): Bytes {
  if (text.startsWith("\\x")) {
    const out: number[] = [];
    let i = 2;
    while (i < text.length) {
      const c = text[i];
      if (c === " " || c === "\t" || c === "\n" || c === "\r") {
        i++;
        continue;
      }
      const high = HEX.indexOf(c.toLowerCase());
      if (high === -1) {
        throw new PgValueError(INVALID_PARAMETER, `invalid hexadecimal digit: "${c}"`);
      }
      if (i + 1 >= text.length) {
        throw new PgValueError(INVALID_PARAMETER, "invalid hexadecimal data: odd number of digits");
      }
      const low = HEX.indexOf(text[i + 1].toLowerCase());
      if (low === -1) {
        throw new PgValueError(INVALID_PARAMETER, `invalid hexadecimal digit: "${text[i + 1]}"`);
      }
      out.push(high * 16 + low);
      i += 2;
    }
    return new Uint8Array(out);
  }
  const out: number[] = [];
  const bytes = encoder.encode(text);
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0x5c) {
      out.push(bytes[i]);
    } else if (bytes[i + 1] === 0x5c) {
      out.push(0x5c);
      i++;
    } else if (
      i + 3 < bytes.length + 0 &&
      /^[0-3][0-7][0-7]$/.test(String.fromCharCode(...bytes.subarray(i + 1, i + 4)))
    ) {
      out.push(parseInt(String.fromCharCode(...bytes.subarray(i + 1, i + 4)), 8));
      i += 3;
    } else {
      throw new PgValueError(INVALID_TEXT, "invalid input syntax for type bytea");
    }
  }
  return new Uint8Array(out);
}

function formatBytea(bytes: Uint8Array): string {
  let out = "\\x";
  for (const byte of bytes) out += HEX[byte >> 4] + HEX[byte & 15];
  return out;
}

// Dates and timestamps -----------------------------------------------------

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) +
    dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}

/** The date `days` after 1970-01-01 (civil_from_days). */
export function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const dayOfEra = z - era * 146097;
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36524) -
      Math.floor(dayOfEra / 146096)) / 365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) -
    Math.floor(yearOfEra / 100));
  const mp = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

function daysInMonth(year: number, month: number): number {
  return daysFromCivil(month === 12 ? year + 1 : year, month === 12 ? 1 : month + 1, 1) -
    daysFromCivil(year, month, 1);
}

const DATE_TIME = new RegExp(
  "^(\\d{4})-(\\d{1,2})-(\\d{1,2})" + // date
    "(?:[T ]+(\\d{1,2}):(\\d{2})(?::(\\d{2})(?:\\.(\\d+))?)?)?" + // time
    "\\s*(Z|UTC|[+-]\\d{1,2}(?::?\\d{2})?)?$", // zone
  "i",
);

/** timestamp 'infinity' and '-infinity': int64's ends, as PostgreSQL's DT_NOEND and DT_NOBEGIN. */
export const TIMESTAMP_INFINITY = 9223372036854775807n;
export const TIMESTAMP_MINUS_INFINITY = -9223372036854775808n;
/** date 'infinity' and '-infinity': int32's ends (DATEVAL_NOEND, DATEVAL_NOBEGIN). */
export const DATE_INFINITY = 2147483647;
export const DATE_MINUS_INFINITY = -2147483648;

/**
 * The special inputs of documentation 8.5.1.4 as microseconds, or undefined:
 * 'epoch', 'infinity', '-infinity', and 'now', 'today', 'tomorrow',
 * 'yesterday' read from the system clock (PostgreSQL reads the transaction's
 * start; a literal is converted once, when the statement is planned).
 */
function specialDateTime(text: string): bigint | undefined {
  const day = 86_400_000_000n;
  const now = () => BigInt(Date.now()) * 1000n;
  const today = () => {
    const micros = now(); // read once: a second reading may be a millisecond later
    return micros - micros % day;
  };
  switch (text.trim().toLowerCase()) {
    case "epoch":
      return 0n;
    case "infinity":
    case "+infinity":
      return TIMESTAMP_INFINITY;
    case "-infinity":
      return TIMESTAMP_MINUS_INFINITY;
    case "now":
      return now();
    case "today":
      return today();
    case "tomorrow":
      return today() + day;
    case "yesterday":
      return today() - day;
    default:
      return undefined;
  }
}

/** Microseconds since the Unix epoch from date/time text; `withZone` honours an offset. */
function parseDateTime(oid: number, text: string): bigint {
  const special = specialDateTime(text);
  if (special !== undefined) return special;
  const match = DATE_TIME.exec(text.trim());
  if (match === null) {
    throw new PgValueError(
      INVALID_DATETIME,
      `invalid input syntax for type ${sqlName(oid)}: "${text}"`,
    );
  }
  const [, y, mo, d, h = "0", mi = "0", s = "0", fraction = "", zone] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (
    year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) ||
    hour > 24 || minute > 59 || second > 60 ||
    (hour === 24 && (minute > 0 || second > 0 || /[1-9]/.test(fraction)))
  ) {
    throw new PgValueError(DATETIME_OVERFLOW, `date/time field value out of range: "${text}"`);
  }
  // Rounded to microseconds, half away from zero, as PostgreSQL does.
  let micros = Number((fraction + "000000").slice(0, 6));
  if (fraction.length > 6 && Number(fraction[6]) >= 5) micros++;
  let offsetSeconds = 0;
  if (zone !== undefined && oid === OID.timestamptz) {
    const z = zone.toUpperCase();
    if (z !== "Z" && z !== "UTC") {
      const zoneMatch = /^([+-])(\d{1,2}):?(\d{2})?$/.exec(z)!;
      offsetSeconds = (Number(zoneMatch[2]) * 3600 + Number(zoneMatch[3] ?? 0) * 60) *
        (zoneMatch[1] === "-" ? -1 : 1);
    }
  }
  const days = BigInt(daysFromCivil(year, month, day));
  const seconds = BigInt(hour * 3600 + minute * 60 + second - offsetSeconds);
  return (days * 86400n + seconds) * 1_000_000n + BigInt(micros);
}

function two(n: number): string {
  return String(n).padStart(2, "0");
}

function formatDate(days: number): string {
  if (days === DATE_INFINITY) return "infinity";
  if (days === DATE_MINUS_INFINITY) return "-infinity";
  const { year, month, day } = civilFromDays(days);
  return `${String(year).padStart(4, "0")}-${two(month)}-${two(day)}`;
}

function formatTimestamp(micros: bigint, withZone: boolean): string {
  if (micros === TIMESTAMP_INFINITY) return "infinity";
  if (micros === TIMESTAMP_MINUS_INFINITY) return "-infinity";
  const days = micros >= 0n
    ? micros / 86_400_000_000n
    : -((-micros + 86_399_999_999n) / 86_400_000_000n);
  const rest = Number(micros - days * 86_400_000_000n);
  const seconds = Math.floor(rest / 1_000_000);
  const fraction = rest % 1_000_000;
  let text = `${formatDate(Number(days))} ${two(Math.floor(seconds / 3600))}:` +
    `${two(Math.floor(seconds / 60) % 60)}:${two(seconds % 60)}`;
  if (fraction > 0) text += "." + String(fraction).padStart(6, "0").replace(/0+$/, "");
  return withZone ? text + "+00" : text;
}

/** Days between 1970-01-01 and 2000-01-01, PostgreSQL's epoch for binary dates and timestamps. */
const PG_EPOCH_DAYS = 10957;
const PG_EPOCH_MICROS = 946_684_800_000_000n;

// UUID and JSON --------------------------------------------------------------

/** uuid_in: 32 hex digits, optionally in braces, a hyphen allowed after any group of four. */
function parseUuid(text: string): string {
  const inner = text.startsWith("{") && text.endsWith("}") ? text.slice(1, -1) : text;
  if (!/^[0-9a-f]{4}(-?[0-9a-f]{4}){7}$/i.test(inner)) throw invalidSyntax(OID.uuid, text);
  const hex = inner.replace(/-/g, "").toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20)
  }`;
}

/** A JSON string token (RFC 8259 7): no raw control characters. Sticky: matches at lastIndex. */
// deno-lint-ignore no-control-regex
const JSON_STRING = /"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const JSON_LITERAL = /true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** Nesting bound for JSON input: PostgreSQL stops at its stack depth limit; ours is explicit. */
const JSON_DEPTH_MAX = 1000;

/**
 * jsonb's normal form as jsonb_out prints it: `, ` and `: ` separators,
 * object keys sorted by length then bytes with the last duplicate kept,
 * numbers as numeric prints them.
 */
function normalizeJsonb(text: string): string {
  let at = 0;
  const fail = (): never => {
    throw new PgValueError(INVALID_TEXT, "invalid input syntax for type json");
  };
  const space = () => {
    while (at < text.length && " \t\n\r".includes(text[at])) at++;
  };
  const string = (): string => {
    JSON_STRING.lastIndex = at;
    const match = JSON_STRING.exec(text);
    if (match === null) return fail();
    at += match[0].length;
    const value = JSON.parse(match[0]) as string;
    if (value.includes("\u0000")) {
      throw new PgValueError("22P05", "unsupported Unicode escape sequence");
    }
    return value;
  };
  const value = (depth: number): string => {
    if (depth > JSON_DEPTH_MAX) {
      throw new PgValueError("54001", "stack depth limit exceeded");
    }
    space();
    const c = text[at];
    if (c === "{") {
      at++;
      const members = new Map<string, string>();
      space();
      if (text[at] === "}") {
        at++;
        return "{}";
      }
      while (true) {
        space();
        const key = string();
        space();
        if (text[at++] !== ":") fail();
        members.set(key, value(depth + 1));
        space();
        if (text[at] === ",") {
          at++;
          continue;
        }
        if (text[at++] !== "}") fail();
        break;
      }
      const keys = [...members.keys()].sort((a, b) => {
        const ab = encoder.encode(a);
        const bb = encoder.encode(b);
        if (ab.length !== bb.length) return ab.length - bb.length;
        for (let i = 0; i < ab.length; i++) if (ab[i] !== bb[i]) return ab[i] - bb[i];
        return 0;
      });
      return `{${keys.map((key) => `${escapeJson(key)}: ${members.get(key)}`).join(", ")}}`;
    }
    if (c === "[") {
      at++;
      const items: string[] = [];
      space();
      if (text[at] === "]") {
        at++;
        return "[]";
      }
      while (true) {
        items.push(value(depth + 1));
        space();
        if (text[at] === ",") {
          at++;
          continue;
        }
        if (text[at++] !== "]") fail();
        break;
      }
      return `[${items.join(", ")}]`;
    }
    if (c === '"') return escapeJson(string());
    JSON_LITERAL.lastIndex = at;
    const literal = JSON_LITERAL.exec(text);
    if (literal === null) return fail();
    at += literal[0].length;
    const word = literal[0];
    return word === "true" || word === "false" || word === "null" ? word : parseNumeric(word);
  };
  const result = value(0);
  space();
  if (at !== text.length) fail();
  return result;
}

/** escape_json: quotes, backslashes and control characters escaped, the rest kept. */
function escapeJson(text: string): string {
  let out = '"';
  for (const c of text) {
    const code = c.charCodeAt(0);
    if (c === '"') out += '\\"';
    else if (c === "\\") out += "\\\\";
    else if (c === "\b") out += "\\b";
    else if (c === "\f") out += "\\f";
    else if (c === "\n") out += "\\n";
    else if (c === "\r") out += "\\r";
    else if (c === "\t") out += "\\t";
    else if (code < 0x20) out += "\\u" + code.toString(16).padStart(4, "0");
    else out += c;
  }
  return out + '"';
}

function parseJson(text: string): string {
  normalizeJsonb(text); // the same grammar check
  return text;
}

// The four entry points -------------------------------------------------------

/** A value from its text format (what a Bind parameter of format 0 or a literal carries). */
export function parseText(oid: number, text: string): PgValue {
  switch (oid) {
    case OID.int2:
    case OID.int4:
    case OID.int8:
      return parseInteger(oid, text);
    case OID.float4:
    case OID.float8:
      return parseFloat8or4(oid, text);
    case OID.numeric:
      return parseNumeric(text);
    case OID.bool:
      return parseBool(text);
    case OID.bytea:
      return parseBytea(text);
    case OID.date: {
      // date_in accepts a time of day and drops it.
      const micros = parseDateTime(oid, text);
      if (micros === TIMESTAMP_INFINITY) return DATE_INFINITY;
      if (micros === TIMESTAMP_MINUS_INFINITY) return DATE_MINUS_INFINITY;
      const day = 86_400_000_000n;
      return Number((micros - ((micros % day) + day) % day) / day);
    }
    case OID.timestamp:
    case OID.timestamptz:
      return parseDateTime(oid, text);
    case OID.uuid:
      return parseUuid(text);
    case OID.interval:
      return normalizeInterval(text);
    case OID.time:
      return parseTime(text);
    case OID.json:
      return parseJson(text);
    case OID.jsonb:
      return normalizeJsonb(text);
    default: {
      const element = arrayElementOid(oid);
      if (element === undefined) return text;
      // An array is its canonical text; each element goes through its own type's input.
      return canonicalArray(text, (e) => formatText(element, parseText(element, e)!));
    }
  }
}

/** A value's text format (a DataRow column of format 0). */
export function formatText(oid: number, value: Exclude<PgValue, null>): string {
  switch (oid) {
    case OID.float4:
    case OID.float8:
      return formatFloat(value as number, oid);
    case OID.bool:
      return value ? "t" : "f";
    case OID.bytea:
      return formatBytea(value as Bytes);
    case OID.date:
      return formatDate(value as number);
    case OID.timestamp:
      return formatTimestamp(value as bigint, false);
    case OID.timestamptz:
      return formatTimestamp(value as bigint, true);
    case OID.time:
      return formatTime(value as bigint);
    default:
      return String(value);
  }
}

function fixedLength(bytes: Bytes, length: number, oid: number): DataView {
  if (bytes.length !== length) {
    throw new PgValueError(
      "08P01",
      `incorrect binary data format in bind parameter of type ${sqlName(oid)}`,
    );
  }
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A value from its binary format (typreceive). */
export function parseBinary(oid: number, bytes: Bytes): PgValue {
  switch (oid) {
    case OID.int2:
      return fixedLength(bytes, 2, oid).getInt16(0);
    case OID.int4:
      return fixedLength(bytes, 4, oid).getInt32(0);
    case OID.int8:
      return fixedLength(bytes, 8, oid).getBigInt64(0);
    case OID.float4:
      return fixedLength(bytes, 4, oid).getFloat32(0);
    case OID.float8:
      return fixedLength(bytes, 8, oid).getFloat64(0);
    case OID.bool:
      return fixedLength(bytes, 1, oid).getUint8(0) !== 0;
    case OID.numeric:
      return numericFromBinary(bytes);
    case OID.bytea:
      return bytes.slice();
    case OID.date: {
      const days = fixedLength(bytes, 4, oid).getInt32(0);
      return days === DATE_INFINITY || days === DATE_MINUS_INFINITY ? days : days + PG_EPOCH_DAYS;
    }
    case OID.timestamp:
    case OID.timestamptz: {
      const micros = fixedLength(bytes, 8, oid).getBigInt64(0);
      return micros === TIMESTAMP_INFINITY || micros === TIMESTAMP_MINUS_INFINITY
        ? micros
        : micros + PG_EPOCH_MICROS;
    }
    case OID.interval:
      return formatInterval(intervalFromBinary(fixedLength(bytes, 16, oid)));
    case OID.time:
      return timeFromBinary(fixedLength(bytes, 8, oid));
    case OID.uuid: {
      fixedLength(bytes, 16, oid);
      return parseUuid(formatBytea(bytes).slice(2));
    }
    case OID.jsonb: {
      if (bytes[0] !== 1) {
        throw new PgValueError(INVALID_PARAMETER, `unsupported jsonb version number ${bytes[0]}`);
      }
      return normalizeJsonb(utf8Text(bytes.subarray(1)));
    }
    case OID.json:
      return parseJson(utf8Text(bytes));
    default: {
      const element = arrayElementOid(oid);
      if (element === undefined) return utf8Text(bytes);
      return arrayFromBinary(
        bytes,
        element,
        (e) => formatText(element, parseBinary(element, e as Bytes)!),
      );
    }
  }
}

function utf8Text(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new PgValueError("22021", 'invalid byte sequence for encoding "UTF8"');
  }
}

/** A value's binary format (typsend). */
export function formatBinary(oid: number, value: Exclude<PgValue, null>): Bytes {
  const fixed = (length: number, write: (view: DataView) => void): Bytes => {
    const out = new Uint8Array(length);
    write(new DataView(out.buffer));
    return out;
  };
  switch (oid) {
    case OID.int2:
      return fixed(2, (v) => v.setInt16(0, value as number));
    case OID.int4:
      return fixed(4, (v) => v.setInt32(0, value as number));
    case OID.int8:
      return fixed(8, (v) => v.setBigInt64(0, value as bigint));
    case OID.float4:
      return fixed(4, (v) => v.setFloat32(0, value as number));
    case OID.float8:
      return fixed(8, (v) => v.setFloat64(0, value as number));
    case OID.bool:
      return new Uint8Array([value ? 1 : 0]);
    case OID.numeric:
      return numericToBinary(value as string);
    case OID.bytea:
      return (value as Bytes).slice();
    case OID.date: {
      const days = value as number;
      const finite = days !== DATE_INFINITY && days !== DATE_MINUS_INFINITY;
      return fixed(4, (v) => v.setInt32(0, finite ? days - PG_EPOCH_DAYS : days));
    }
    case OID.timestamp:
    case OID.timestamptz: {
      const micros = value as bigint;
      const finite = micros !== TIMESTAMP_INFINITY && micros !== TIMESTAMP_MINUS_INFINITY;
      return fixed(8, (v) => v.setBigInt64(0, finite ? micros - PG_EPOCH_MICROS : micros));
    }
    case OID.interval:
      return intervalToBinary(intervalFields(value as string));
    case OID.time:
      return timeToBinary(value as bigint);
    case OID.uuid: {
      const hex = (value as string).replace(/-/g, "");
      return new Uint8Array(
        Array.from({ length: 16 }, (_, i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)),
      );
    }
    case OID.jsonb: {
      const text = encoder.encode(value as string);
      const out = new Uint8Array(text.length + 1);
      out[0] = 1;
      out.set(text, 1);
      return out;
    }
    default: {
      const element = arrayElementOid(oid);
      if (element === undefined) return encoder.encode(String(value));
      return arrayToBinary(
        value as string,
        element,
        (e) => formatBinary(element, parseText(element, e)!),
      );
    }
  }
}
