// The arithmetic of INCRBYFLOAT and HINCRBYFLOAT as Redis does it: in C
// `long double`, which on x86-64 (where Redis runs in practice) is the x87
// 80-bit format with a 64-bit significand and a 15-bit exponent, printed
// with "%.17Lf" and trailing zeros trimmed (util.c ld2string, LD_STR_HUMAN).
// In IEEE doubles 0.1 + 0.2 is 0.30000000000000004 and 1e308 + 1e308
// overflows; in long double they are "0.3" and a 309-digit integer, which
// is what clients of Redis see. So the values here are exact binary
// fractions held in BigInts, rounded to 64 significant bits after every
// operation (round half to even, as the x87 unit does by default).
//
// Left out: subnormals (values below about 3.4e-4932 become 0) and hex
// float input, which strtold accepts and no client sends.

/** A finite long double: sign × significand × 2^exponent, significand < 2^64. */
export interface LongDouble {
  readonly negative: boolean;
  readonly significand: bigint;
  readonly exponent: number;
}

/** A long double value, or one of the infinities (NaN never survives parsing). */
export type LongDoubleValue = LongDouble | "inf" | "-inf";

/** Zero, where INCRBYFLOAT starts on a missing key. */
export const ZERO: LongDouble = { negative: false, significand: 0n, exponent: 0 };

const SIGNIFICAND_BITS = 64n;
/** Largest binary exponent of the x87 format: past it the value is infinite. */
const EXPONENT_MAX = 16383;
/** Decimal exponents past these are certainly infinite or zero in long double. */
const DECIMAL_EXPONENT_MAX = 5000;
/** Digits after the point in "%.17Lf". */
const FRACTION_DIGITS = 17;
const FRACTION_SCALE = 10n ** BigInt(FRACTION_DIGITS);

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/** n / 2^shift rounded half to even (shift >= 0). */
function shiftRound(n: bigint, shift: number): bigint {
  if (shift <= 0) return n << BigInt(-shift);
  const s = BigInt(shift);
  const q = n >> s;
  const r = n - (q << s);
  const half = 1n << (s - 1n);
  if (r > half || (r === half && (q & 1n) === 1n)) return q + 1n;
  return q;
}

/** num / den (both positive) rounded half to even. */
function divideRound(num: bigint, den: bigint): bigint {
  const q = num / den;
  const r2 = (num - q * den) * 2n;
  if (r2 > den || (r2 === den && (q & 1n) === 1n)) return q + 1n;
  return q;
}

/** Rounds sign × n × 2^exponent to 64 significant bits. */
function normalize(negative: boolean, n: bigint, exponent: number): LongDoubleValue {
  if (n === 0n) return { negative, significand: 0n, exponent: 0 };
  const excess = bitLength(n) - Number(SIGNIFICAND_BITS);
  if (excess > 0) {
    n = shiftRound(n, excess);
    exponent += excess;
    if (bitLength(n) > Number(SIGNIFICAND_BITS)) {
      n >>= 1n;
      exponent += 1;
    }
  }
  if (exponent + bitLength(n) - 1 > EXPONENT_MAX) return negative ? "-inf" : "inf";
  return { negative, significand: n, exponent };
}

/**
 * Parses a decimal float as strtold does for Redis's string2ld: no
 * surrounding spaces, "inf"/"infinity" in any case with a sign; null for
 * anything else, NaN included.
 */
export function parseLongDouble(text: string): LongDoubleValue | null {
  const lower = text.toLowerCase();
  if (lower === "inf" || lower === "+inf" || lower === "infinity" || lower === "+infinity") {
    return "inf";
  }
  if (lower === "-inf" || lower === "-infinity") return "-inf";
  const match = /^([+-]?)(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i.exec(text);
  if (match === null) return null;
  const [, sign, whole, fraction = "", exponentText] = match;
  if (whole.length === 0 && fraction.length === 0) return null;
  const negative = sign === "-";
  const digits = BigInt((whole + fraction) || "0");
  const exponent10 = Number(exponentText ?? "0") - fraction.length;
  if (digits === 0n) return { negative, significand: 0n, exponent: 0 };
  if (exponent10 > DECIMAL_EXPONENT_MAX) return negative ? "-inf" : "inf";
  if (exponent10 < -DECIMAL_EXPONENT_MAX) return { negative, significand: 0n, exponent: 0 };
  if (exponent10 >= 0) return normalize(negative, digits * 10n ** BigInt(exponent10), 0);
  // digits / 10^k: scale so the quotient has at least 66 bits, then round once.
  const den = 10n ** BigInt(-exponent10);
  const shift = Math.max(0, Number(SIGNIFICAND_BITS) + 2 - (bitLength(digits) - bitLength(den)));
  const scaled = digits << BigInt(shift);
  const q = scaled / den;
  // Keep the remainder as a sticky bit so the final rounding sees it.
  const sticky = q * den === scaled ? 0n : 1n;
  return normalize(negative, (q << 1n) | sticky, -shift - 1);
}

/** a + b, rounded to long double; inf + -inf is NaN, returned as null. */
export function addLongDouble(a: LongDoubleValue, b: LongDoubleValue): LongDoubleValue | null {
  if (typeof a === "string" || typeof b === "string") {
    if (typeof a === "string" && typeof b === "string" && a !== b) return null;
    return typeof a === "string" ? a : b;
  }
  const exponent = Math.min(a.exponent, b.exponent);
  const x = a.significand << BigInt(a.exponent - exponent);
  const y = b.significand << BigInt(b.exponent - exponent);
  const sum = (a.negative ? -x : x) + (b.negative ? -y : y);
  if (sum === 0n) {
    // IEEE: -0 + -0 is -0, any other exact zero sum is +0.
    return { negative: a.negative && b.negative, significand: 0n, exponent: 0 };
  }
  return normalize(sum < 0n, sum < 0n ? -sum : sum, exponent);
}

/** True for the infinities. */
export function isInfinite(value: LongDoubleValue): value is "inf" | "-inf" {
  return typeof value === "string";
}

/** "%.17Lf" with trailing zeros (and a bare point) removed, "-0" as "0". */
export function formatLongDouble(value: LongDouble): string {
  const { significand, exponent } = value;
  let scaled: bigint;
  if (exponent >= 0) scaled = (significand << BigInt(exponent)) * FRACTION_SCALE;
  else scaled = divideRound(significand * FRACTION_SCALE, 1n << BigInt(-exponent));
  const whole = scaled / FRACTION_SCALE;
  let fraction = (scaled % FRACTION_SCALE).toString().padStart(FRACTION_DIGITS, "0");
  fraction = fraction.replace(/0+$/, "");
  const text = fraction.length > 0 ? `${whole}.${fraction}` : `${whole}`;
  if (text === "0") return "0";
  return value.negative ? `-${text}` : text;
}
