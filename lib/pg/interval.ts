// The interval type (PostgreSQL documentation 8.5.4 "Interval Input" and
// 8.5.5 "Interval Output"; src/backend/utils/adt/timestamp.c and the
// DecodeInterval/EncodeInterval parts of datetime.c). PostgreSQL stores an
// interval as three independent fields, months (int32), days (int32) and
// microseconds (int64), because a month and a day have no fixed length:
// '1 mon' added to January 31st and '1 day' added across a daylight saving
// change mean calendar steps, not a number of seconds.
//
// As a JavaScript value an interval travels as its canonical output text
// (IntervalStyle postgres, what interval_out prints: "1 year 2 mons 3 days
// 04:05:06.5"), which is lossless: the three fields come back from it, the
// storage engine keeps it as text and the text wire format is the value
// itself. Arithmetic and comparison parse it (a fast split of the canonical
// form, not the whole input grammar) and print the result back.
//
// Input: the verbose forms (`1 year 2 months`, `3 days ago`, `@ 1 hour`,
// abbreviations, fractions such as `1.5 days`), `1 day 02:03:04.5`, a bare
// number (seconds), and ISO 8601 designators (`P1Y2M3DT4H5M6S`, `PT1H`,
// `P1W`). Left out: the ISO 8601 "alternative" form (`P0001-02-03T...`),
// SQL-standard `1-2` year-month input, and the interval qualifiers
// (`INTERVAL '1' DAY`, `interval(3)` precision).

import { PgValueError } from "./value_error.ts";

/** months, days, microseconds: interval's three fields, as PostgreSQL stores them. */
export interface Interval {
  months: number;
  days: number;
  micros: bigint;
}

const INVALID_DATETIME = "22007";
const DATETIME_OVERFLOW = "22008";
const FIELD_OVERFLOW = "22015";

export const MICROS_PER_SECOND = 1_000_000n;
export const MICROS_PER_MINUTE = 60_000_000n;
export const MICROS_PER_HOUR = 3_600_000_000n;
export const MICROS_PER_DAY = 86_400_000_000n;
/** PostgreSQL's DAYS_PER_MONTH: the length of a month where one must have a length. */
export const DAYS_PER_MONTH = 30;

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const INT64_MIN = -9223372036854775808n;
const INT64_MAX = 9223372036854775807n;

/** The result of arithmetic past int32/int64 fields: 22008 "interval out of range". */
export function intervalOutOfRange(): PgValueError {
  return new PgValueError(DATETIME_OVERFLOW, "interval out of range");
}

/** An interval whose fields fit their storage, or 22008. */
export function checkedInterval(months: number, days: number, micros: bigint): Interval {
  if (
    !Number.isInteger(months) || months < INT32_MIN || months > INT32_MAX ||
    !Number.isInteger(days) || days < INT32_MIN || days > INT32_MAX ||
    micros < INT64_MIN || micros > INT64_MAX
  ) {
    throw intervalOutOfRange();
  }
  return { months, days, micros };
}

// Output --------------------------------------------------------------------

/** One "N unit[s]" part of the postgres style, with AddPostgresIntPart's sign rules. */
function part(
  out: string[],
  value: number,
  unit: string,
  state: { zero: boolean; before: boolean },
): void {
  if (value === 0) return;
  const sign = state.before && value > 0 ? "+" : "";
  out.push(`${sign}${value} ${unit}${value !== 1 ? "s" : ""}`);
  state.before = value < 0;
  state.zero = false;
}

/** interval_out in IntervalStyle postgres: `1 year 2 mons -3 days +04:05:06.5`. */
export function formatInterval(value: Interval): string {
  const years = Math.trunc(value.months / 12);
  const months = value.months % 12;
  const out: string[] = [];
  const state = { zero: true, before: false };
  part(out, years, "year", state);
  part(out, months, "mon", state);
  part(out, value.days, "day", state);
  const micros = value.micros;
  if (state.zero || micros !== 0n) {
    const negative = micros < 0n;
    const abs = negative ? -micros : micros;
    const hours = abs / MICROS_PER_HOUR;
    const minutes = (abs % MICROS_PER_HOUR) / MICROS_PER_MINUTE;
    const seconds = (abs % MICROS_PER_MINUTE) / MICROS_PER_SECOND;
    const fraction = abs % MICROS_PER_SECOND;
    const sign = negative ? "-" : state.before ? "+" : "";
    let time = `${sign}${String(hours).padStart(2, "0")}:${String(minutes).padStart(2, "0")}:` +
      String(seconds).padStart(2, "0");
    if (fraction !== 0n) time += "." + String(fraction).padStart(6, "0").replace(/0+$/, "");
    out.push(time);
  }
  return out.join(" ");
}

// Input ---------------------------------------------------------------------

type Unit =
  | "microsecond"
  | "millisecond"
  | "second"
  | "minute"
  | "hour"
  | "day"
  | "week"
  | "month"
  | "year"
  | "decade"
  | "century"
  | "millennium";

/** The unit names and abbreviations datetime.c's deltatktbl knows. */
const UNITS = new Map<string, Unit>();
for (
  const [unit, names] of [
    ["microsecond", "microsecond microseconds microsecon us usec usecs useconds"],
    ["millisecond", "millisecond milliseconds millisecon ms msec msecs mseconds"],
    ["second", "second seconds s sec secs"],
    ["minute", "minute minutes m min mins"],
    ["hour", "hour hours h hr hrs"],
    ["day", "day days d"],
    ["week", "week weeks w"],
    ["month", "month months mon mons"],
    ["year", "year years y yr yrs"],
    ["decade", "decade decades dec decs"],
    ["century", "century centuries c cent"],
    ["millennium", "millennium millennia mil mils"],
  ] as const
) {
  for (const name of names.split(" ")) UNITS.set(name, unit);
}

/** Fields accumulate in floating-point-free parts while parsing, as struct pg_itm_in does. */
interface Accumulator {
  months: number;
  days: number;
  micros: bigint;
}

function invalid(text: string): PgValueError {
  return new PgValueError(INVALID_DATETIME, `invalid input syntax for type interval: "${text}"`);
}

function fieldOverflow(text: string): PgValueError {
  return new PgValueError(FIELD_OVERFLOW, `interval field value out of range: "${text}"`);
}

/** Microseconds of `fraction * scaleMicros`, rounded as AdjustFractMicroseconds does (rint). */
function fractionMicros(fraction: number, scaleMicros: number): bigint {
  const exact = fraction * scaleMicros;
  const whole = Math.trunc(exact);
  return BigInt(whole) + BigInt(roundHalfEven(exact - whole));
}

/** rint(): to the nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const rounded = Math.round(x);
  return Math.abs(x % 1) === 0.5 && rounded % 2 !== 0 ? rounded - 1 : rounded;
}

/** Adds `whole.fraction` of a unit to the accumulator (DecodeInterval's switch on the unit). */
function addUnit(acc: Accumulator, unit: Unit, whole: number, fraction: number): void {
  const micros = (per: bigint, perNumber: number) => {
    acc.micros += BigInt(whole) * per + fractionMicros(fraction, perNumber);
  };
  const fractDays = (f: number) => {
    const days = Math.trunc(f);
    acc.days += days;
    acc.micros += fractionMicros(f - days, 86_400_000_000);
  };
  const years = (scale: number) => {
    acc.months += whole * scale * 12 + roundHalfEven(fraction * scale * 12);
  };
  switch (unit) {
    case "microsecond":
      return micros(1n, 1);
    case "millisecond":
      return micros(1000n, 1000);
    case "second":
      return micros(MICROS_PER_SECOND, 1_000_000);
    case "minute":
      return micros(MICROS_PER_MINUTE, 60_000_000);
    case "hour":
      return micros(MICROS_PER_HOUR, 3_600_000_000);
    case "day":
      acc.days += whole;
      acc.micros += fractionMicros(fraction, 86_400_000_000);
      return;
    case "week":
      acc.days += whole * 7;
      return fractDays(fraction * 7);
    case "month":
      acc.months += whole;
      return fractDays(fraction * DAYS_PER_MONTH);
    case "year":
      return years(1);
    case "decade":
      return years(10);
    case "century":
      return years(100);
    case "millennium":
      return years(1000);
  }
}

const TIME = /^([+-]?)(\d+):(\d+)(?::(\d+)(?:\.(\d*))?)?$/;
const NUMBER = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)$/;
const NUMBER_UNIT = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)([a-z]+)$/;

/** A signed decimal as a whole part and a fraction of the same sign. */
function splitNumber(sign: string, digits: string, text: string): [number, number] {
  const value = Number(digits);
  const whole = Math.trunc(value);
  // The number is read as a signed int32 (strtoint), so -2147483648 fits and 2147483648 does not.
  if (!Number.isSafeInteger(whole) || whole > (sign === "-" ? -INT32_MIN : INT32_MAX)) {
    throw fieldOverflow(text);
  }
  const fraction = value - whole;
  return sign === "-" ? [-whole + 0, -fraction + 0] : [whole, fraction];
}

/** interval_in: the fields of any input form listed in this file's header. */
export function parseInterval(text: string): Interval {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === "") throw invalid(text);
  if (trimmed.startsWith("p")) return parseIso(trimmed, text);
  let tokens = trimmed.split(/\s+/);
  if (tokens[0] === "@") tokens = tokens.slice(1);
  else if (tokens[0].startsWith("@")) tokens[0] = tokens[0].slice(1);
  let ago = false;
  if (tokens.length > 1 && tokens[tokens.length - 1] === "ago") {
    ago = true;
    tokens.pop();
  }
  if (tokens.length === 0) throw invalid(text);
  const acc: Accumulator = { months: 0, days: 0, micros: 0n };
  const seen = new Set<string>();
  const mark = (field: string) => {
    if (seen.has(field)) throw invalid(text);
    seen.add(field);
  };
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    const time = TIME.exec(token);
    if (time !== null) {
      mark("hour");
      mark("minute");
      mark("second");
      const [, sign, h, m, s = "0", f = ""] = time;
      if (Number(m) > 59 || Number(s) > 59) throw fieldOverflow(text);
      const hours = BigInt(h);
      if (hours > 2562047788n) throw fieldOverflow(text);
      let micros = hours * MICROS_PER_HOUR + BigInt(m) * MICROS_PER_MINUTE +
        BigInt(s) * MICROS_PER_SECOND + fractionMicros(Number(`0.${f || "0"}`), 1_000_000);
      // The magnitude is built first, then negated: -2562047788:00:54.775808
      // (int64's smallest) does not fit it, and PostgreSQL calls that bad syntax.
      if (micros > INT64_MAX) {
        if (sign === "-") throw invalid(text);
        throw fieldOverflow(text);
      }
      if (sign === "-") micros = -micros;
      acc.micros += micros;
      continue;
    }
    let sign: string, digits: string, unitName: string | undefined;
    const withUnit = NUMBER_UNIT.exec(token);
    const bare = NUMBER.exec(token);
    if (withUnit !== null) [, sign, digits, unitName] = withUnit;
    else if (bare !== null) {
      [, sign, digits] = bare;
      const next = tokens[i + 1];
      if (next !== undefined && UNITS.has(next)) {
        unitName = next;
        i++;
      }
    } else throw invalid(text);
    if (unitName !== undefined && !UNITS.has(unitName)) throw invalid(text);
    const unit: Unit = unitName === undefined ? "second" : UNITS.get(unitName)!;
    mark(unit);
    const [whole, fraction] = splitNumber(sign, digits, text);
    addUnit(acc, unit, whole, fraction);
  }
  return finish(acc, ago, text);
}

function finish(acc: Accumulator, ago: boolean, text: string): Interval {
  const sign = ago ? -1 : 1;
  const months = acc.months * sign;
  const days = acc.days * sign;
  const micros = ago ? -acc.micros : acc.micros;
  if (
    months < INT32_MIN || months > INT32_MAX || days < INT32_MIN || days > INT32_MAX ||
    micros < INT64_MIN || micros > INT64_MAX
  ) {
    throw fieldOverflow(text);
  }
  return { months: months + 0, days: days + 0, micros };
}

const ISO_DATE_UNITS: Record<string, Unit> = { y: "year", m: "month", w: "week", d: "day" };
const ISO_TIME_UNITS: Record<string, Unit> = { h: "hour", m: "minute", s: "second" };

/** ISO 8601 "format with designators": P[nY][nM][nW][nD][T[nH][nM][nS]]. */
function parseIso(lower: string, text: string): Interval {
  const acc: Accumulator = { months: 0, days: 0, micros: 0n };
  let inTime = false;
  let at = 1;
  if (at >= lower.length) throw invalid(text);
  const designator = /([+-]?(?:\d+(?:\.\d*)?|\.\d+))([a-z])/y;
  while (at < lower.length) {
    if (lower[at] === "t" && !inTime) {
      inTime = true;
      at++;
      if (at >= lower.length) throw invalid(text);
      continue;
    }
    designator.lastIndex = at;
    const match = designator.exec(lower);
    if (match === null) throw invalid(text);
    const unit = (inTime ? ISO_TIME_UNITS : ISO_DATE_UNITS)[match[2]];
    if (unit === undefined) throw invalid(text);
    const negative = match[1].startsWith("-");
    const digits = match[1].replace(/^[+-]/, "");
    const [whole, fraction] = splitNumber(negative ? "-" : "", digits, text);
    addUnit(acc, unit, whole, fraction);
    at = designator.lastIndex;
  }
  return finish(acc, false, text);
}

// The canonical text, fast ------------------------------------------------------

const CANONICAL_PART = /^([+-]?\d+) (year|mon|day)s?$/;

/**
 * The fields of a value this module printed (formatInterval's output), or
 * of any other input through parseInterval. Values in the executor are
 * always canonical, so the fast split is the common case.
 */
export function intervalFields(text: string): Interval {
  const out: Interval = { months: 0, days: 0, micros: 0n };
  for (const token of splitCanonical(text)) {
    const match = CANONICAL_PART.exec(token);
    if (match !== null) {
      const n = Number(match[1]);
      if (match[2] === "year") out.months += n * 12;
      else if (match[2] === "mon") out.months += n;
      else out.days += n;
      continue;
    }
    const time = TIME.exec(token);
    if (time === null) return parseInterval(text);
    const [, sign, h, m, s = "0", f = ""] = time;
    const micros = BigInt(h) * MICROS_PER_HOUR + BigInt(m) * MICROS_PER_MINUTE +
      BigInt(s) * MICROS_PER_SECOND + BigInt((f + "000000").slice(0, 6));
    out.micros = sign === "-" ? -micros : micros;
  }
  return out;
}

/** "1 year 2 mons 03:00:00" as ["1 year", "2 mons", "03:00:00"]. */
function splitCanonical(text: string): string[] {
  const words = text.split(" ");
  const out: string[] = [];
  for (let i = 0; i < words.length; i++) {
    if (words[i].includes(":")) out.push(words[i]);
    else out.push(`${words[i]} ${words[++i] ?? ""}`);
  }
  return out;
}

/** An interval's canonical text, from any input form (the text parseText returns). */
export function normalizeInterval(text: string): string {
  return formatInterval(parseInterval(text));
}

// Binary (interval_send / interval_recv) ------------------------------------------

/** 8 bytes of microseconds, 4 of days, 4 of months, big-endian. */
export function intervalToBinary(value: Interval): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  view.setBigInt64(0, value.micros);
  view.setInt32(8, value.days);
  view.setInt32(12, value.months);
  return out;
}

export function intervalFromBinary(view: DataView): Interval {
  return { micros: view.getBigInt64(0), days: view.getInt32(8), months: view.getInt32(12) };
}

// Arithmetic and order (timestamp.c) -------------------------------------------------

/** interval_cmp_value: one number for ordering, a month counting 30 days and a day 24 hours. */
export function intervalSpan(value: Interval): bigint {
  return value.micros + BigInt(value.days) * MICROS_PER_DAY +
    BigInt(value.months) * BigInt(DAYS_PER_MONTH) * MICROS_PER_DAY;
}

export function compareIntervals(a: Interval, b: Interval): number {
  const x = intervalSpan(a);
  const y = intervalSpan(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function addIntervals(a: Interval, b: Interval, sign: 1 | -1): Interval {
  return checkedInterval(
    a.months + sign * b.months,
    a.days + sign * b.days,
    sign === 1 ? a.micros + b.micros : a.micros - b.micros,
  );
}

export function negateInterval(a: Interval): Interval {
  return checkedInterval(-a.months + 0, -a.days + 0, -a.micros);
}

/** TSROUND: a double rounded to microsecond precision. */
function tsRound(x: number): number {
  return roundHalfEven(x * 1e6) / 1e6;
}

/**
 * interval_mul and interval_div: each field scaled, the fractional months
 * carried into days (30 a month) and the fractional days into microseconds.
 */
export function scaleInterval(span: Interval, factor: number, divide: boolean): Interval {
  if (divide && factor === 0) throw new PgValueError("22012", "division by zero");
  const scale = (x: number) => (divide ? x / factor : x * factor);
  const monthsDouble = scale(span.months);
  const daysDouble = scale(span.days);
  if (
    !Number.isFinite(monthsDouble) || monthsDouble < INT32_MIN || monthsDouble > INT32_MAX ||
    !Number.isFinite(daysDouble) || daysDouble < INT32_MIN || daysDouble > INT32_MAX
  ) {
    throw intervalOutOfRange();
  }
  const months = Math.trunc(monthsDouble);
  let days = Math.trunc(daysDouble);
  const monthRemainderDays = tsRound((monthsDouble - months) * DAYS_PER_MONTH);
  let secondRemainder = tsRound(
    (daysDouble - days + monthRemainderDays - Math.trunc(monthRemainderDays)) * 86400,
  );
  if (Math.abs(secondRemainder) >= 86400) {
    const extraDays = Math.trunc(secondRemainder / 86400);
    days += extraDays;
    secondRemainder -= extraDays * 86400;
  }
  days += Math.trunc(monthRemainderDays);
  const microsDouble = roundHalfEven(scale(Number(span.micros)) + secondRemainder * 1e6);
  if (!Number.isFinite(microsDouble) || Math.abs(microsDouble) >= 9.223372036854775807e18) {
    throw intervalOutOfRange();
  }
  return checkedInterval(months + 0, days + 0, BigInt(microsDouble));
}

/** justify_hours: whole days out of the microseconds, signs made to agree. */
export function justifyHours(a: Interval): Interval {
  let days = a.days + Number(a.micros / MICROS_PER_DAY);
  let micros = a.micros % MICROS_PER_DAY;
  if (days > 0 && micros < 0n) {
    micros += MICROS_PER_DAY;
    days--;
  } else if (days < 0 && micros > 0n) {
    micros -= MICROS_PER_DAY;
    days++;
  }
  return checkedInterval(a.months, days, micros);
}

/** justify_days: whole months (of 30 days) out of the days, signs made to agree. */
export function justifyDays(a: Interval): Interval {
  let months = a.months + Math.trunc(a.days / DAYS_PER_MONTH);
  let days = a.days % DAYS_PER_MONTH;
  if (months > 0 && days < 0) {
    days += DAYS_PER_MONTH;
    months--;
  } else if (months < 0 && days > 0) {
    days -= DAYS_PER_MONTH;
    months++;
  }
  return checkedInterval(months, days + 0, a.micros);
}

/**
 * justify_interval: days out of the microseconds and months out of the
 * days, with the signs of all three fields made to agree (timestamp.c's
 * order of steps, which decides the result for mixed signs).
 */
export function justifyInterval(a: Interval): Interval {
  let months = a.months;
  let days = a.days;
  let micros = a.micros;
  if ((days > 0 && micros > 0n) || (days < 0 && micros < 0n)) {
    days += Number(micros / MICROS_PER_DAY);
    micros %= MICROS_PER_DAY;
  }
  months += Math.trunc(days / DAYS_PER_MONTH);
  days %= DAYS_PER_MONTH;
  if (months > 0 && (days < 0 || (days === 0 && micros < 0n))) {
    days += DAYS_PER_MONTH;
    months--;
  } else if (months < 0 && (days > 0 || (days === 0 && micros > 0n))) {
    days -= DAYS_PER_MONTH;
    months++;
  }
  days += Number(micros / MICROS_PER_DAY);
  micros %= MICROS_PER_DAY;
  if (days > 0 && micros < 0n) {
    micros += MICROS_PER_DAY;
    days--;
  } else if (days < 0 && micros > 0n) {
    micros -= MICROS_PER_DAY;
    days++;
  }
  return checkedInterval(months + 0, days + 0, micros);
}
