// Exact decimal arithmetic for NUMERIC, on the canonical strings of
// lib/pg/values.ts ("12.340", "-0.5", "NaN", "Infinity"): each value is a
// bigint scaled by a power of ten, so sums and products are exact, and the
// scale of each result is the one PostgreSQL's numeric.c chooses (add/sub:
// the larger scale; mul: the sum of scales; div: select_div_scale, at least
// 16 significant digits). Rounding is half away from zero, as numeric.c's
// round_var. Special values follow PostgreSQL 14+: NaN equals NaN and sorts
// above everything, Infinity arithmetic as IEEE except where PostgreSQL
// raises an error.

import { parseNumeric } from "../../../lib/pg/values.ts";

export interface Decimal {
  /** The digits as an integer: value = unscaled / 10^scale. */
  unscaled: bigint;
  /** Digits after the point (dscale). */
  scale: number;
}

export type NumericValue = Decimal | "NaN" | "Infinity" | "-Infinity";

/** NUMERIC_MAX_DISPLAY_SCALE and NUMERIC_MIN_SIG_DIGITS of numeric.c. */
const SCALE_MAX = 1000;
const SIGNIFICANT_DIGITS_MIN = 16;

/** A numeric error with its SQLSTATE (22012 division by zero, 22003 out of range). */
export class NumericError extends RangeError {
  override name = "NumericError";
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export function toDecimal(text: string): NumericValue {
  if (text === "NaN" || text === "Infinity" || text === "-Infinity") return text;
  const negative = text.startsWith("-");
  const [whole, fraction = ""] = (negative ? text.slice(1) : text).split(".");
  const unscaled = BigInt(whole + fraction);
  return { unscaled: negative ? -unscaled : unscaled, scale: fraction.length };
}

export function fromDecimal(value: NumericValue): string {
  if (typeof value === "string") return value;
  const negative = value.unscaled < 0n;
  const digits = (negative ? -value.unscaled : value.unscaled).toString().padStart(
    value.scale + 1,
    "0",
  );
  const whole = digits.slice(0, digits.length - value.scale);
  const text = value.scale > 0 ? `${whole}.${digits.slice(digits.length - value.scale)}` : whole;
  return negative && value.unscaled !== 0n ? `-${text}` : text;
}

function pow10(n: number): bigint {
  return 10n ** BigInt(n);
}

function rescale(value: Decimal, scale: number): Decimal {
  if (scale >= value.scale) return { unscaled: value.unscaled * pow10(scale - value.scale), scale };
  return { unscaled: divideRounded(value.unscaled, pow10(value.scale - scale)), scale };
}

/** a / b rounded half away from zero (b > 0 or < 0). */
function divideRounded(a: bigint, b: bigint): bigint {
  const quotient = a / b;
  const remainder = a % b;
  const twice = (remainder < 0n ? -remainder : remainder) * 2n;
  const magnitude = b < 0n ? -b : b;
  if (twice < magnitude) return quotient;
  return (a < 0n) !== (b < 0n) ? quotient - 1n : quotient + 1n;
}

/** Rounds to `scale` digits after the point; a negative scale rounds to tens, hundreds... */
export function roundDecimal(value: NumericValue, scale: number): NumericValue {
  if (typeof value === "string") return value;
  if (scale >= 0) return rescale(value, Math.min(scale, SCALE_MAX));
  const unit = pow10(Math.min(-scale, SCALE_MAX));
  return { unscaled: divideRounded(rescale(value, 0).unscaled, unit) * unit, scale: 0 };
}

function sign(value: NumericValue): number {
  if (value === "NaN") return NaN;
  if (value === "Infinity") return 1;
  if (value === "-Infinity") return -1;
  return value.unscaled > 0n ? 1 : value.unscaled < 0n ? -1 : 0;
}

function infinity(positive: boolean): NumericValue {
  return positive ? "Infinity" : "-Infinity";
}

export function addDecimal(a: NumericValue, b: NumericValue): NumericValue {
  if (a === "NaN" || b === "NaN") return "NaN";
  if (typeof a === "string" || typeof b === "string") {
    if (typeof a === "string" && typeof b === "string" && a !== b) return "NaN"; // inf + -inf
    return typeof a === "string" ? a : b;
  }
  const scale = Math.max(a.scale, b.scale);
  return { unscaled: rescale(a, scale).unscaled + rescale(b, scale).unscaled, scale };
}

export function negateDecimal(a: NumericValue): NumericValue {
  if (a === "NaN") return a;
  if (a === "Infinity") return "-Infinity";
  if (a === "-Infinity") return "Infinity";
  return { unscaled: -a.unscaled, scale: a.scale };
}

export function subtractDecimal(a: NumericValue, b: NumericValue): NumericValue {
  return addDecimal(a, negateDecimal(b));
}

export function multiplyDecimal(a: NumericValue, b: NumericValue): NumericValue {
  if (a === "NaN" || b === "NaN") return "NaN";
  if (typeof a === "string" || typeof b === "string") {
    const product = sign(a) * sign(b);
    return product === 0 ? "NaN" : infinity(product > 0);
  }
  const scale = a.scale + b.scale;
  const product = { unscaled: a.unscaled * b.unscaled, scale };
  return scale > SCALE_MAX ? rescale(product, SCALE_MAX) : product;
}

/** The base-10000 weight and first digit numeric.c sees, for select_div_scale. */
function baseWeight(value: Decimal): { weight: number; first: number } {
  if (value.unscaled === 0n) return { weight: 0, first: 0 };
  const digits = (value.unscaled < 0n ? -value.unscaled : value.unscaled).toString();
  const wholeDigits = digits.length - value.scale; // may be <= 0
  // Pad so the point falls on a group boundary, then find the first nonzero group.
  const leftPad = ((4 - (wholeDigits % 4)) % 4 + 4) % 4;
  const padded = "0".repeat(leftPad) + digits;
  const groupsBeforePoint = (wholeDigits + leftPad) / 4;
  let group = 0;
  while (Number(padded.slice(group * 4, group * 4 + 4).padEnd(4, "0")) === 0) group++;
  return {
    weight: groupsBeforePoint - 1 - group,
    first: Number(padded.slice(group * 4, group * 4 + 4).padEnd(4, "0")),
  };
}

export function divideDecimal(a: NumericValue, b: NumericValue): NumericValue {
  if (a === "NaN" || b === "NaN") return "NaN";
  if (sign(b) === 0) throw new NumericError("22012", "division by zero");
  if (typeof a === "string") {
    if (typeof b === "string") return "NaN";
    return infinity(sign(a) * sign(b) > 0);
  }
  if (typeof b === "string") return { unscaled: 0n, scale: 0 };
  const wa = baseWeight(a);
  const wb = baseWeight(b);
  let weight = wa.weight - wb.weight;
  if (wa.first <= wb.first) weight--;
  let scale = SIGNIFICANT_DIGITS_MIN - weight * 4;
  scale = Math.min(Math.max(scale, a.scale, b.scale, 0), SCALE_MAX);
  // a / b at `scale` digits: scale both to integers, then divide with rounding.
  const numerator = a.unscaled * pow10(scale + b.scale);
  const denominator = b.unscaled * pow10(a.scale);
  return { unscaled: divideRounded(numerator, denominator), scale };
}

/** Remainder with the sign of the dividend, at the larger scale (numeric.c mod_var). */
export function moduloDecimal(a: NumericValue, b: NumericValue): NumericValue {
  if (a === "NaN" || b === "NaN") return "NaN";
  if (sign(b) === 0) throw new NumericError("22012", "division by zero");
  if (typeof a === "string") return "NaN";
  if (typeof b === "string") return a;
  const scale = Math.max(a.scale, b.scale);
  const x = rescale(a, scale).unscaled;
  const y = rescale(b, scale).unscaled;
  return { unscaled: x % y, scale };
}

/** -1, 0 or 1; NaN is equal to itself and above everything (numeric.c cmp_numerics). */
export function compareDecimal(a: NumericValue, b: NumericValue): number {
  if (a === "NaN") return b === "NaN" ? 0 : 1;
  if (b === "NaN") return -1;
  if (typeof a === "string" || typeof b === "string") {
    const rank = (v: NumericValue) => v === "Infinity" ? 1 : v === "-Infinity" ? -1 : 0;
    const ra = rank(a);
    const rb = rank(b);
    return ra === rb ? 0 : ra < rb ? -1 : 1;
  }
  const scale = Math.max(a.scale, b.scale);
  const x = rescale(a, scale).unscaled;
  const y = rescale(b, scale).unscaled;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** To the nearest integer, half away from zero (numeric to int casts). */
export function decimalToBigInt(value: NumericValue, typeName: string): bigint {
  if (typeof value === "string") {
    throw new NumericError(
      "0A000",
      `cannot convert ${value === "NaN" ? "NaN" : "infinity"} to ${typeName}`,
    );
  }
  return rescale(value, 0).unscaled;
}

export function decimalFromBigInt(value: bigint): Decimal {
  return { unscaled: value, scale: 0 };
}

/**
 * A float as numeric (float8_numeric): PostgreSQL prints it with DBL_DIG
 * (15) significant digits, as %g does, and reads that back.
 */
export function decimalFromNumber(value: number): NumericValue {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return infinity(value > 0);
  const [mantissa, exponent = "0"] = value.toPrecision(15).split("e");
  const trimmed = mantissa.includes(".")
    ? mantissa.replace(/0+$/, "").replace(/\.$/, "")
    : mantissa;
  return toDecimal(parseNumeric(`${trimmed}e${exponent}`));
}

export function decimalToNumber(value: NumericValue): number {
  if (value === "NaN") return NaN;
  if (value === "Infinity") return Infinity;
  if (value === "-Infinity") return -Infinity;
  return Number(fromDecimal(value));
}
