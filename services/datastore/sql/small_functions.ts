// Small functions a probe of ORM and application traffic found missing
// (PostgreSQL 15 docs 9.3 "Mathematical Functions", 9.4 "String
// Functions", 9.5 "Binary String Functions"), with PostgreSQL's result
// types and errors; NULL in, NULL out.
//
// - overlay(s PLACING r FROM n [FOR m]) on text and bytea (textoverlay:
//   22011 for a start below 1).
// - log(b, x) on numeric, exactly as numeric.c's log_var: both logarithms
//   in 60-digit fixed point (bigints), the quotient rounded half away from
//   zero at the scale log_var picks (16 significant digits from its
//   estimate of the result's weight, at least either input's scale);
//   2201E for zero or a negative argument, 22012 for base 1.
// - log10, the trigonometric functions in radians (sin ... atan2),
//   degrees, radians, on double precision (log10 of a numeric as log(10,
//   x)); to_hex; quote_literal, quote_nullable; bit_length; scale, min_scale,
//   trim_scale; pg_size_pretty; isfinite of dates, timestamps, intervals;
//   to_number for the common formats (see toNumber).
//
// The session's functions (txid_current) are the executor's.

import type { Bytes } from "../../../lib/bytes.ts";
import { DATE_INFINITY, DATE_MINUS_INFINITY, type PgValue } from "../../../lib/pg/values.ts";
import { SqlError } from "./errors.ts";
import { strict } from "./strict.ts";
import type { Compiled, EvalContext, SqlType } from "./eval.ts";
import { isFiniteTimestamp } from "./datetime.ts";
import { fromDecimal, roundDecimal, toDecimal } from "./numeric.ts";

type ToType = (value: Compiled, type: SqlType) => Compiled;
type Evaluate = (ctx: EvalContext) => PgValue;

const INTEGERS: ReadonlySet<SqlType> = new Set(["int2", "int4", "int8"]);
const STRINGS: ReadonlySet<SqlType> = new Set(["text", "varchar", "bpchar", "unknown"]);

function make(type: SqlType, args: Evaluate[], f: (values: PgValue[]) => PgValue): Compiled {
  return { type, evaluate: strict(args, f) };
}

// log(b, x) ----------------------------------------------------------------------

/**
 * Fixed-point digits of the logarithms: results are right to about 55
 * digits, past the 16 significant ones log_var gives unless an input has
 * more decimal places than that (its scale then sets the result's).
 */
const DIGITS = 60;
const ONE = 10n ** BigInt(DIGITS);

/** ln(y) by 2 atanh((y - 1) / (y + 1)) for y (scaled by ONE) in [1, 2]: z at most 1/3. */
function lnNearOne(y: bigint): bigint {
  const z = (y - ONE) * ONE / (y + ONE);
  const z2 = z * z / ONE;
  let term = z;
  let sum = 0n;
  for (let k = 1n; term !== 0n; k += 2n) {
    sum += term / k;
    term = term * z2 / ONE;
  }
  return 2n * sum;
}

const LN2 = lnNearOne(2n * ONE);
const LN10 = 3n * LN2 + lnNearOne(ONE * 5n / 4n);

/** ln of a positive decimal `unscaled / 10^scale`, scaled by ONE. */
function lnScaled(unscaled: bigint, scale: number): bigint {
  const digits = unscaled.toString().length;
  // unscaled = m * 10^(digits - 1) with m in [1, 10)
  const m = unscaled * ONE / 10n ** BigInt(digits - 1);
  let y = m;
  let twos = 0n;
  while (y >= 2n * ONE) {
    y /= 2n;
    twos++;
  }
  return lnNearOne(y) + twos * LN2 + BigInt(digits - 1 - scale) * LN10;
}

/** numeric.c's estimate_ln_dweight, for a positive decimal `unscaled / 10^scale`. */
function lnWeightEstimate(unscaled: bigint, scale: number): number {
  const one = 10n ** BigInt(scale);
  if (unscaled * 10n >= 9n * one && unscaled * 10n <= 11n * one) {
    // 0.9 <= x <= 1.1: ln(x) is close to x - 1, whose weight is exact here.
    const d = unscaled > one ? unscaled - one : one - unscaled;
    return d === 0n ? 0 : d.toString().length - 1 - scale;
  }
  // ln from the leading digits and the decimal exponent (no overflow for any scale).
  const digits = unscaled.toString();
  const lead = digits.slice(0, 15);
  const ln = Math.log(Number(lead)) + (digits.length - lead.length - scale) * Math.LN10;
  return Math.trunc(Math.log10(Math.abs(ln)));
}

function numericLog(base: string, num: string): string {
  const b = toDecimal(base);
  const x = toDecimal(num);
  if (typeof b === "string" || typeof x === "string") {
    throw new SqlError("0A000", "log() of NaN or infinity is not supported");
  }
  for (const v of [b, x]) {
    if (v.unscaled === 0n) throw new SqlError("2201E", "cannot take logarithm of zero");
    if (v.unscaled < 0n) {
      throw new SqlError("2201E", "cannot take logarithm of a negative number");
    }
  }
  const lnBase = lnScaled(b.unscaled, b.scale);
  if (lnBase === 0n || (b.unscaled === 10n ** BigInt(b.scale))) {
    throw new SqlError("22012", "division by zero");
  }
  const resultWeight = lnWeightEstimate(x.unscaled, x.scale) -
    lnWeightEstimate(b.unscaled, b.scale);
  const rscale = Math.min(1000, Math.max(16 - resultWeight, b.scale, x.scale, 0));
  const quotient = lnScaled(x.unscaled, x.scale) * ONE / lnBase;
  return fromDecimal(roundDecimal({ unscaled: quotient, scale: DIGITS }, rscale));
}

// overlay ------------------------------------------------------------------------

function overlayParts<T>(
  source: T[],
  placing: T[],
  from: number,
  count: number | null,
): [T[], T[], T[]] {
  const length = count ?? placing.length;
  if (from < 1) throw new SqlError("22011", "negative substring length not allowed");
  const start = from - 1;
  const end = length < 0 ? start : start + length;
  return [source.slice(0, start), placing, source.slice(Math.max(end, start))];
}

// Everything else ---------------------------------------------------------------

function quoteLiteral(text: string): string {
  const body = text.replace(/'/g, "''");
  return text.includes("\\") ? `E'${body.replace(/\\/g, "\\\\")}'` : `'${body}'`;
}

/**
 * pg_size_pretty(bigint) as PostgreSQL 15's: bytes below 10240, then kB, MB,
 * GB, TB, PB each below 20479 of its half-units, halved with rounding away
 * from zero (the value is carried one bit finer than the unit for that).
 */
function sizePretty(bytes: bigint): string {
  const units = ["bytes", "kB", "MB", "GB", "TB", "PB"];
  let size = bytes;
  for (let unit = 0;; unit++) {
    const abs = size < 0n ? -size : size;
    const last = unit === units.length - 1;
    if (last || abs < (unit === 0 ? 10n * 1024n : 20n * 1024n - 1n)) {
      if (unit > 0) size = (size + (size < 0n ? -1n : 1n)) / 2n;
      return `${size} ${units[unit]}`;
    }
    size /= unit === 0 ? 512n : 1024n;
  }
}

/**
 * to_number(text, format), the common shapes (formatting.c's NUM_processor
 * reads the input against the format node by node; this reads it whole):
 * the digits in order, at most as many after the decimal point (D or .)
 * as the format has digit positions there, and before it as many as it has
 * before; a minus sign anywhere or angle brackets (PR) make it negative;
 * group separators, currency and other characters are skipped.
 */
function toNumber(input: string, format: string): string {
  const fmt = format.toUpperCase().replace(/FM/g, "");
  const point = fmt.search(/[D.]/);
  const whole = (point < 0 ? fmt : fmt.slice(0, point)).replace(/[^90]/g, "").length;
  const fraction = point < 0 ? 0 : fmt.slice(point + 1).replace(/[^90]/g, "").length;
  let intDigits = "";
  let fracDigits = "";
  let seenPoint = false;
  for (const c of input) {
    if (c >= "0" && c <= "9") {
      if (!seenPoint) intDigits += c;
      else if (fracDigits.length < fraction) fracDigits += c;
    } else if (c === "." && point >= 0) seenPoint = true;
  }
  if (intDigits === "" && fracDigits === "") {
    throw new SqlError("22P02", `invalid input syntax for type numeric: " "`);
  }
  intDigits = intDigits.slice(0, Math.max(whole, 1)).replace(/^0+(?=\d)/, "");
  const negative = input.includes("-") || (/^\s*<.*>\s*$/.test(input) && fmt.includes("PR"));
  const text = fracDigits === "" ? intDigits : `${intDigits || "0"}.${fracDigits}`;
  return negative && /[1-9]/.test(text) ? `-${text}` : text;
}

/** The functions above; null for any other name or signature. */
export function smallFunction(fn: string, args: Compiled[], toType: ToType): Compiled | null {
  const float = (i: number) => toType(args[i], "float8").evaluate;
  const trig: Record<string, (x: number) => number> = {
    log10: Math.log10,
    sin: Math.sin,
    cos: Math.cos,
    tan: Math.tan,
    asin: Math.asin,
    acos: Math.acos,
    atan: Math.atan,
    cot: (x) => 1 / Math.tan(x),
    degrees: (x) => x * 180 / Math.PI,
    radians: (x) => x * Math.PI / 180,
  };
  if ((fn === "log10" || fn === "log") && args.length === 1 && args[0].type === "numeric") {
    return make("numeric", [args[0].evaluate], ([x]) => numericLog("10", x as string));
  }
  if (fn in trig && args.length === 1 && args[0].type !== "numeric") {
    const f = trig[fn];
    return make("float8", [float(0)], ([x]) => {
      const value = x as number;
      if (fn === "log10" && value <= 0) {
        throw new SqlError(
          "2201E",
          value === 0
            ? "cannot take logarithm of zero"
            : "cannot take logarithm of a negative number",
        );
      }
      if ((fn === "asin" || fn === "acos") && (value < -1 || value > 1)) {
        throw new SqlError("22003", "input is out of range");
      }
      return f(value);
    });
  }
  switch (fn) {
    case "atan2":
      if (args.length !== 2) return null;
      return make("float8", [float(0), float(1)], ([y, x]) => Math.atan2(y as number, x as number));
    case "log": {
      if (args.length !== 2) return null;
      const numeric = (c: Compiled) =>
        c.type === "numeric" || c.type === "unknown" || INTEGERS.has(c.type);
      if (!numeric(args[0]) || !numeric(args[1])) return null;
      const [b, x] = args.map((a) => toType(a, "numeric").evaluate);
      return make("numeric", [b, x], ([base, num]) => numericLog(base as string, num as string));
    }
    case "overlay": {
      if (args.length !== 3 && args.length !== 4) return null;
      const bytes = args[0].type === "bytea" || args[1].type === "bytea";
      const type: SqlType = bytes ? "bytea" : "text";
      const from = toType(args[2], "int4").evaluate;
      const count = args.length === 4 ? toType(args[3], "int4").evaluate : () => -1;
      const source = toType(args[0], type).evaluate;
      const placing = toType(args[1], type).evaluate;
      const hasCount = args.length === 4;
      return make(type, [source, placing, from, count], ([s, r, n, m]) => {
        const length = hasCount ? m as number : null;
        if (bytes) {
          const parts = overlayParts([...(s as Bytes)], [...(r as Bytes)], n as number, length);
          return new Uint8Array(parts.flat());
        }
        return overlayParts([...(s as string)], [...(r as string)], n as number, length)
          .map((p) => p.join("")).join("");
      });
    }
    case "to_hex": {
      if (args.length !== 1 || !INTEGERS.has(args[0].type)) return null;
      const bits = args[0].type === "int8" ? 64n : 32n;
      return make(
        "text",
        [args[0].evaluate],
        ([v]) => BigInt.asUintN(Number(bits), BigInt(v as number | bigint)).toString(16),
      );
    }
    case "quote_literal":
    case "quote_nullable": {
      if (args.length !== 1) return null;
      const text = toType(args[0], "text").evaluate;
      if (fn === "quote_literal") return make("text", [text], ([v]) => quoteLiteral(v as string));
      return {
        type: "text",
        evaluate: (ctx) => {
          const v = text(ctx);
          return v === null ? "NULL" : quoteLiteral(v as string);
        },
      };
    }
    case "bit_length": {
      if (args.length !== 1) return null;
      if (args[0].type === "bytea") {
        return make("int4", [args[0].evaluate], ([v]) => (v as Bytes).length * 8);
      }
      if (!STRINGS.has(args[0].type)) return null;
      const text = toType(args[0], "text").evaluate;
      return make("int4", [text], ([v]) => new TextEncoder().encode(v as string).length * 8);
    }
    case "scale":
    case "min_scale":
    case "trim_scale": {
      if (args.length !== 1 || !(args[0].type === "numeric" || INTEGERS.has(args[0].type))) {
        return null;
      }
      const value = toType(args[0], "numeric").evaluate;
      return make(fn === "trim_scale" ? "numeric" : "int4", [value], ([v]) => {
        const text = v as string;
        const fraction = text.includes(".") ? text.split(".")[1] : "";
        if (fn === "scale") return fraction.length;
        const trimmed = fraction.replace(/0+$/, "");
        if (fn === "min_scale") return trimmed.length;
        return trimmed.length === 0 ? text.split(".")[0] : `${text.split(".")[0]}.${trimmed}`;
      });
    }
    case "to_number": {
      if (args.length !== 2) return null;
      const [input, format] = args.map((a) => toType(a, "text").evaluate);
      return make("numeric", [input, format], ([i, f]) => toNumber(i as string, f as string));
    }
    case "pg_size_pretty": {
      if (args.length !== 1 || !INTEGERS.has(args[0].type)) return null;
      return make("text", [args[0].evaluate], ([v]) => sizePretty(BigInt(v as number | bigint)));
    }
    case "isfinite": {
      if (args.length !== 1) return null;
      const type = args[0].type;
      const value = args[0].evaluate;
      if (type === "date") {
        return make("bool", [value], ([v]) => v !== DATE_INFINITY && v !== DATE_MINUS_INFINITY);
      }
      if (type === "timestamp" || type === "timestamptz") {
        return make("bool", [value], ([v]) => isFiniteTimestamp(v as bigint));
      }
      if (type === "interval") return make("bool", [value], () => true);
      return null;
    }
    default:
      return null;
  }
}
