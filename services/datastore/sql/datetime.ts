// Date, timestamp and interval arithmetic as PostgreSQL 15 does it
// (documentation 9.9 "Date/Time Functions and Operators", table 9.31;
// src/backend/utils/adt/date.c and timestamp.c): the operators, age(),
// justify_*(), extract() on intervals, to_timestamp(), make_timestamp()
// and make_interval().
//
// Values: a date is days since 1970-01-01 (a number), a timestamp
// microseconds since 1970-01-01 UTC (a bigint; the session time zone is
// always UTC, so timestamp and timestamptz compute alike), an interval its
// canonical text (lib/pg/interval.ts). 'infinity' dates and timestamps are
// the ends of int32/int64, as in PostgreSQL, and stay infinite under +/-
// interval.
//
// Left out: time and timetz, overlaps, date_bin, time zones other than UTC.

import {
  addIntervals,
  checkedInterval,
  compareIntervals,
  formatInterval,
  type Interval,
  intervalFields,
  justifyDays,
  justifyHours,
  justifyInterval,
  MICROS_PER_DAY,
  MICROS_PER_HOUR,
  MICROS_PER_MINUTE,
  MICROS_PER_SECOND,
  negateInterval,
  scaleInterval,
} from "../../../lib/pg/interval.ts";
import {
  civilFromDays,
  DATE_INFINITY,
  DATE_MINUS_INFINITY,
  daysFromCivil,
  type PgValue,
  TIMESTAMP_INFINITY,
  TIMESTAMP_MINUS_INFINITY,
} from "../../../lib/pg/values.ts";
import { SqlError } from "./errors.ts";
import { binary } from "./strict.ts";
import { parseDateTime } from "./to_timestamp.ts";
import { fromZoneWallClock, toZoneWallClock, zoneNamed, zoneOfOffset } from "./time_zones.ts";
import { formatDateTime, formatNumber } from "./to_char.ts";
import type { Compiled, EvalContext, SqlType } from "./eval.ts";

/** What this file needs from eval.ts (handed in, to avoid an import cycle). */
export interface DatetimeSupport {
  toType(value: Compiled, type: SqlType): Compiled;
}

type Evaluate = (ctx: EvalContext) => PgValue;

const INTEGERS: ReadonlySet<SqlType> = new Set(["int2", "int4", "int8"]);
const NUMBERS: ReadonlySet<SqlType> = new Set([
  "int2",
  "int4",
  "int8",
  "numeric",
  "float4",
  "float8",
]);

/** PostgreSQL's timestamp range (MIN_TIMESTAMP, END_TIMESTAMP) from the Unix epoch; the end is cut to int64. */
const TIMESTAMP_MIN = -212_760_172_800_000_000n;
const TIMESTAMP_END = 9_223_372_036_854_775_806n;
/** date's range: 4714-11-24 BC to 5874897-12-31 (DATETIME_MIN_JULIAN .. DATE_END_JULIAN). */
const DATE_MIN = -2_440_588;
const DATE_END = 2_145_031_948;

export function isFiniteTimestamp(micros: bigint): boolean {
  return micros !== TIMESTAMP_INFINITY && micros !== TIMESTAMP_MINUS_INFINITY;
}

function isFiniteDate(days: number): boolean {
  return days !== DATE_INFINITY && days !== DATE_MINUS_INFINITY;
}

function checkTimestamp(micros: bigint): bigint {
  if (micros < TIMESTAMP_MIN || micros >= TIMESTAMP_END) {
    throw new SqlError("22008", "timestamp out of range");
  }
  return micros;
}

function checkDate(days: number): number {
  if (days < DATE_MIN || days >= DATE_END) throw new SqlError("22008", "date out of range");
  return days;
}

/** A date's first microsecond, keeping infinity (date_timestamp). */
export function dateToTimestamp(days: number): bigint {
  if (days === DATE_INFINITY) return TIMESTAMP_INFINITY;
  if (days === DATE_MINUS_INFINITY) return TIMESTAMP_MINUS_INFINITY;
  return BigInt(days) * MICROS_PER_DAY;
}

/** Days and microseconds of the day of a finite timestamp. */
function splitTimestamp(micros: bigint): { days: number; time: bigint } {
  let days = micros / MICROS_PER_DAY;
  let time = micros % MICROS_PER_DAY;
  if (time < 0n) {
    time += MICROS_PER_DAY;
    days -= 1n;
  }
  return { days: Number(days), time };
}

function daysInMonth(year: number, month: number): number {
  return daysFromCivil(month === 12 ? year + 1 : year, month === 12 ? 1 : month + 1, 1) -
    daysFromCivil(year, month, 1);
}

/**
 * timestamp_pl_interval: the months as calendar months (the day clamped to
 * the new month's last, so January 31st plus a month is February 29th in a
 * leap year), then the days, then the microseconds.
 */
export function addIntervalToTimestamp(micros: bigint, span: Interval): bigint {
  if (!isFiniteTimestamp(micros)) return micros;
  let result = micros;
  if (span.months !== 0) {
    const { days, time } = splitTimestamp(result);
    const date = civilFromDays(days);
    const monthIndex = date.year * 12 + (date.month - 1) + span.months;
    const year = Math.floor(monthIndex / 12);
    const month = monthIndex - year * 12 + 1;
    const day = Math.min(date.day, daysInMonth(year, month));
    result = checkTimestamp(BigInt(daysFromCivil(year, month, day)) * MICROS_PER_DAY + time);
  }
  if (span.days !== 0) {
    const { days, time } = splitTimestamp(result);
    result = checkTimestamp(BigInt(days + span.days) * MICROS_PER_DAY + time);
  }
  return checkTimestamp(result + span.micros);
}

/** timestamp_mi: the difference as days and time (justify_hours), never months. */
function subtractTimestamps(a: bigint, b: bigint): Interval {
  if (!isFiniteTimestamp(a) || !isFiniteTimestamp(b)) {
    throw new SqlError("22008", "cannot subtract infinite timestamps");
  }
  return justifyHours(checkedInterval(0, 0, a - b));
}

/** The broken-down fields of a finite timestamp. */
function fields(micros: bigint) {
  const { days, time } = splitTimestamp(micros);
  const { year, month, day } = civilFromDays(days);
  return {
    year,
    month,
    day,
    hour: Number(time / MICROS_PER_HOUR),
    minute: Number((time % MICROS_PER_HOUR) / MICROS_PER_MINUTE),
    second: Number((time % MICROS_PER_MINUTE) / MICROS_PER_SECOND),
    micro: Number(time % MICROS_PER_SECOND),
  };
}

/**
 * PostgreSQL 15's age() does not test for infinity: 'infinity' (int64's
 * largest, counted from 2000-01-01) breaks down into a date in the year
 * 294277 and '-infinity' fails the breakdown. The same here.
 */
function ageOperand(micros: bigint): bigint {
  if (micros === TIMESTAMP_MINUS_INFINITY) throw new SqlError("22008", "timestamp out of range");
  if (micros === TIMESTAMP_INFINITY) return TIMESTAMP_INFINITY + 946_684_800_000_000n;
  return micros;
}

/**
 * age(a, b) (timestamp_age): field-by-field differences, each negative field
 * borrowed from the next larger one, a month borrowed as the length of the
 * earlier timestamp's month; so age('2024-03-01', '2023-02-28') is
 * '1 year 1 day', where a - b would be '367 days'.
 */
export function age(a: bigint, b: bigint): Interval {
  const x = fields(ageOperand(a));
  const y = fields(ageOperand(b));
  const tm = {
    micro: x.micro - y.micro,
    second: x.second - y.second,
    minute: x.minute - y.minute,
    hour: x.hour - y.hour,
    day: x.day - y.day,
    month: x.month - y.month,
    year: x.year - y.year,
  };
  const flip = a < b;
  const negate = () => {
    for (const key of Object.keys(tm) as (keyof typeof tm)[]) tm[key] = -tm[key];
  };
  if (flip) negate();
  while (tm.micro < 0) {
    tm.micro += 1_000_000;
    tm.second--;
  }
  while (tm.second < 0) {
    tm.second += 60;
    tm.minute--;
  }
  while (tm.minute < 0) {
    tm.minute += 60;
    tm.hour--;
  }
  while (tm.hour < 0) {
    tm.hour += 24;
    tm.day--;
  }
  while (tm.day < 0) {
    const earlier = flip ? x : y;
    tm.day += daysInMonth(earlier.year, earlier.month);
    tm.month--;
  }
  while (tm.month < 0) {
    tm.month += 12;
    tm.year--;
  }
  if (flip) negate();
  const micros = BigInt(tm.hour) * MICROS_PER_HOUR + BigInt(tm.minute) * MICROS_PER_MINUTE +
    BigInt(tm.second) * MICROS_PER_SECOND + BigInt(tm.micro);
  return checkedInterval(tm.year * 12 + tm.month + 0, tm.day + 0, micros);
}

// Operators -----------------------------------------------------------------

const span = (value: PgValue) => intervalFields(value as string);

function notUnique(op: string, left: SqlType, right: SqlType): SqlError {
  return new SqlError(
    "42725",
    `operator is not unique: ${displayName(left)} ${op} ${displayName(right)}`,
    {
      hint:
        "Could not choose a best candidate operator. You might need to add explicit type casts.",
    },
  );
}

function displayName(type: SqlType): string {
  switch (type) {
    case "timestamp":
      return "timestamp without time zone";
    case "timestamptz":
      return "timestamp with time zone";
    default:
      return type;
  }
}

/**
 * The unknown side of a date/time operator: the known side's own type when
 * that operator exists (PostgreSQL's first rule for unknown operands),
 * else the one candidate left, else 42725.
 */
function resolveUnknown(op: string, known: SqlType, knownOnLeft: boolean): SqlType {
  const same: Record<string, ReadonlySet<SqlType>> = {
    "-": new Set(["date", "timestamp", "timestamptz", "interval"]),
    "+": new Set(["interval"]),
  };
  if (same[op]?.has(known)) return known;
  if (known === "timestamp" || known === "timestamptz") {
    if (op === "+") return "interval";
  }
  if (known === "interval" && (op === "*" || (op === "/" && knownOnLeft))) return "float8";
  if (known === "interval" && op === "+") return "interval";
  return "unknown";
}

/**
 * A date/time operator over `left` and `right` (at least one of them a
 * date, timestamp or interval), or null when none exists (the caller
 * reports 42883).
 */
export function datetimeArithmetic(
  op: string,
  leftIn: Compiled,
  rightIn: Compiled,
  support: DatetimeSupport,
): Compiled | null {
  let left = leftIn;
  let right = rightIn;
  if (left.type === "unknown") {
    const type = resolveUnknown(op, right.type, false);
    if (type === "unknown") throw notUnique(op, left.type, right.type);
    left = support.toType(left, type);
  }
  if (right.type === "unknown") {
    const type = resolveUnknown(op, left.type, true);
    if (type === "unknown") throw notUnique(op, left.type, right.type);
    right = support.toType(right, type);
  }
  const l = left.type;
  const r = right.type;
  const L = left.evaluate;
  const R = right.evaluate;
  const timestampLike = (t: SqlType) => t === "timestamp" || t === "timestamptz";
  const asTimestamp = (c: Compiled): Evaluate =>
    c.type === "date" ? support.toType(c, "timestamp").evaluate : c.evaluate;
  // date +/- integer, date - date
  if (l === "date" && INTEGERS.has(r) && r !== "int8" && (op === "+" || op === "-")) {
    const sign = op === "+" ? 1 : -1;
    return binary("date", L, R, (a, b) => {
      const days = a as number;
      if (!isFiniteDate(days)) return days;
      return checkDate(days + sign * (b as number));
    });
  }
  if (INTEGERS.has(l) && l !== "int8" && r === "date" && op === "+") {
    return binary("date", L, R, (a, b) => {
      const days = b as number;
      return isFiniteDate(days) ? checkDate(days + (a as number)) : days;
    });
  }
  if (l === "date" && r === "date" && op === "-") {
    return binary("int4", L, R, (a, b) => {
      if (!isFiniteDate(a as number) || !isFiniteDate(b as number)) {
        throw new SqlError("22008", "cannot subtract infinite dates");
      }
      return (a as number) - (b as number);
    });
  }
  // timestamp/date +/- interval
  if ((timestampLike(l) || l === "date") && r === "interval" && (op === "+" || op === "-")) {
    const type: SqlType = l === "timestamptz" ? "timestamptz" : "timestamp";
    const from = asTimestamp(left);
    return binary(type, from, R, (a, b) => {
      const s = span(b);
      return addIntervalToTimestamp(a as bigint, op === "+" ? s : negateInterval(s));
    });
  }
  if (l === "interval" && (timestampLike(r) || r === "date") && op === "+") {
    const type: SqlType = r === "timestamptz" ? "timestamptz" : "timestamp";
    return binary(
      type,
      L,
      asTimestamp(right),
      (a, b) => addIntervalToTimestamp(b as bigint, span(a)),
    );
  }
  // timestamp - timestamp (a date taken as its midnight)
  if (
    op === "-" && (timestampLike(l) || l === "date") && (timestampLike(r) || r === "date") &&
    !(l === "date" && r === "date")
  ) {
    return binary(
      "interval",
      asTimestamp(left),
      asTimestamp(right),
      (a, b) => formatInterval(subtractTimestamps(a as bigint, b as bigint)),
    );
  }
  // interval arithmetic
  if (l === "interval" && r === "interval" && (op === "+" || op === "-")) {
    const sign = op === "+" ? 1 : -1;
    return binary("interval", L, R, (a, b) => formatInterval(addIntervals(span(a), span(b), sign)));
  }
  if (l === "interval" && NUMBERS.has(r) && (op === "*" || op === "/")) {
    const factor = support.toType(right, "float8").evaluate;
    return binary(
      "interval",
      L,
      factor,
      (a, b) => formatInterval(scaleInterval(span(a), b as number, op === "/")),
    );
  }
  if (NUMBERS.has(l) && r === "interval" && op === "*") {
    const factor = support.toType(left, "float8").evaluate;
    return binary(
      "interval",
      factor,
      R,
      (a, b) => formatInterval(scaleInterval(span(b), a as number, false)),
    );
  }
  return null;
}

/** -interval. */
export function negateIntervalValue(value: PgValue): PgValue {
  return formatInterval(negateInterval(span(value)));
}

/** Orders two intervals by their length, a month counting 30 days (interval_cmp). */
export function compareIntervalValues(a: PgValue, b: PgValue): number {
  return compareIntervals(span(a), span(b));
}

// Functions -----------------------------------------------------------------

const INTERVAL_UNITS = new Set([
  "microseconds",
  "milliseconds",
  "second",
  "minute",
  "hour",
  "day",
  "month",
  "quarter",
  "year",
  "decade",
  "century",
  "millennium",
  "epoch",
]);

/** Unit names as extract() accepts them (DecodeUnits): plural and abbreviated forms too. */
function canonicalUnit(field: string): string {
  const f = field.toLowerCase();
  const map: Record<string, string> = {
    microsecond: "microseconds",
    microseconds: "microseconds",
    us: "microseconds",
    usec: "microseconds",
    usecs: "microseconds",
    millisecond: "milliseconds",
    milliseconds: "milliseconds",
    ms: "milliseconds",
    msec: "milliseconds",
    msecs: "milliseconds",
    second: "second",
    seconds: "second",
    sec: "second",
    secs: "second",
    s: "second",
    minute: "minute",
    minutes: "minute",
    min: "minute",
    mins: "minute",
    m: "minute",
    hour: "hour",
    hours: "hour",
    h: "hour",
    hr: "hour",
    hrs: "hour",
    day: "day",
    days: "day",
    d: "day",
    month: "month",
    months: "month",
    mon: "month",
    mons: "month",
    quarter: "quarter",
    qtr: "quarter",
    year: "year",
    years: "year",
    y: "year",
    yr: "year",
    yrs: "year",
    decade: "decade",
    decades: "decade",
    dec: "decade",
    century: "century",
    centuries: "century",
    c: "century",
    millennium: "millennium",
    millennia: "millennium",
    epoch: "epoch",
  };
  return map[f] ?? f;
}

/** Microseconds as numeric text with six decimals ("-1.500000"). */
function microsAsSeconds(micros: bigint): string {
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  const text = `${abs / 1_000_000n}.${String(abs % 1_000_000n).padStart(6, "0")}`;
  return negative ? `-${text}` : text;
}

/** extract(field FROM interval) as numeric text (interval_part_common, PostgreSQL 14+). */
export function extractInterval(field: string, value: PgValue): string {
  const s = span(value);
  const unit = canonicalUnit(field);
  const years = Math.trunc(s.months / 12);
  const time = s.micros;
  const hours = time / MICROS_PER_HOUR;
  const minutes = (time % MICROS_PER_HOUR) / MICROS_PER_MINUTE;
  const secondsMicros = time % MICROS_PER_MINUTE;
  switch (unit) {
    case "microseconds":
      return String(secondsMicros);
    case "milliseconds": {
      const text = microsAsSeconds(secondsMicros * 1000n);
      return text.replace(/(\.\d{3})\d{3}$/, "$1");
    }
    case "second":
      return microsAsSeconds(secondsMicros);
    case "minute":
      return String(minutes);
    case "hour":
      return String(hours);
    case "day":
      return String(s.days);
    case "month":
      return String(s.months % 12 + 0);
    case "quarter":
      return String(Math.trunc((s.months % 12) / 3) + 1);
    case "year":
      return String(years);
    case "decade":
      return String(Math.trunc(years / 10));
    case "century":
      return String(Math.trunc(years / 100));
    case "millennium":
      return String(Math.trunc(years / 1000));
    case "epoch": {
      // 365.25 days a year, 30 a month: whole years as 31557600 seconds.
      const yearsPart = BigInt(years) * 31_557_600n * MICROS_PER_SECOND;
      const monthsPart = BigInt(s.months % 12) * 30n * MICROS_PER_DAY;
      return microsAsSeconds(yearsPart + monthsPart + BigInt(s.days) * MICROS_PER_DAY + time);
    }
    default:
      if (INTERVAL_UNITS.has(unit) || unit === "dow" || unit === "doy" || unit === "week") {
        throw new SqlError(
          "0A000",
          `unit "${field.toLowerCase()}" not supported for type interval`,
        );
      }
      throw new SqlError("22023", `unit "${field.toLowerCase()}" not recognized for type interval`);
  }
}

/** The date/time functions of this file, or null for another name or arguments that do not fit. */
export function datetimeFunction(
  fn: string,
  args: Compiled[],
  support: DatetimeSupport,
): Compiled | null {
  const strict = (
    type: SqlType,
    evaluates: Evaluate[],
    f: (values: PgValue[]) => PgValue,
  ): Compiled => ({
    type,
    evaluate: (ctx) => {
      const values: PgValue[] = [];
      for (const e of evaluates) {
        const v = e(ctx);
        if (v === null) return null;
        values.push(v);
      }
      return f(values);
    },
  });
  const timestampArg = (c: Compiled): Compiled =>
    c.type === "unknown" || c.type === "date" ? support.toType(c, "timestamp") : c;
  switch (fn) {
    case "timezone": {
      // timezone(zone, value): the function behind AT TIME ZONE.
      if (args.length !== 2) return null;
      const [zoneArg, valueArg] = args;
      let value = valueArg;
      if (value.type === "unknown" || value.type === "date") {
        value = support.toType(value, "timestamptz");
      }
      if (value.type !== "timestamp" && value.type !== "timestamptz") return null;
      const zoneOf = zoneArg.type === "interval"
        ? (v: PgValue) => {
          const span = intervalFields(v as string);
          if (span.months !== 0 || span.days !== 0) {
            throw new SqlError(
              "22023",
              `interval time zone "${v}" must not include months or days`,
            );
          }
          return zoneOfOffset(Number(span.micros / 1_000_000n));
        }
        : zoneArg.type === "unknown" || zoneArg.type === "text" || zoneArg.type === "varchar"
        ? (v: PgValue) => zoneNamed(String(v))
        : null;
      if (zoneOf === null) return null;
      const zoneText = zoneArg.type === "unknown" ? support.toType(zoneArg, "text") : zoneArg;
      const toWall = value.type === "timestamptz";
      return strict(
        toWall ? "timestamp" : "timestamptz",
        [zoneText.evaluate, value.evaluate],
        ([z, v]) => {
          const zone = zoneOf(z);
          const micros = v as bigint;
          if (!isFiniteTimestamp(micros)) return micros;
          return checkTimestamp(
            toWall ? toZoneWallClock(micros, zone) : fromZoneWallClock(micros, zone),
          );
        },
      );
    }
    case "age": {
      if (args.length === 2) {
        const a = timestampArg(args[0]);
        const b = timestampArg(args[1]);
        if (
          a.type !== b.type && !(a.type.startsWith("timestamp") && b.type.startsWith("timestamp"))
        ) {
          return null;
        }
        if (!a.type.startsWith("timestamp") || !b.type.startsWith("timestamp")) return null;
        return strict(
          "interval",
          [a.evaluate, b.evaluate],
          ([x, y]) => formatInterval(age(x as bigint, y as bigint)),
        );
      }
      if (args.length === 1) {
        const a = timestampArg(args[0]);
        if (!a.type.startsWith("timestamp")) return null;
        return {
          type: "interval",
          evaluate: (ctx) => {
            const v = a.evaluate(ctx);
            if (v === null) return null;
            const midnight = ctx.nowMicros -
              (((ctx.nowMicros % MICROS_PER_DAY) + MICROS_PER_DAY) % MICROS_PER_DAY);
            return formatInterval(age(midnight, v as bigint));
          },
        };
      }
      return null;
    }
    case "justify_hours":
    case "justify_days":
    case "justify_interval": {
      if (args.length !== 1) return null;
      const a = support.toType(args[0], args[0].type === "unknown" ? "interval" : args[0].type);
      if (a.type !== "interval") return null;
      const f = fn === "justify_hours"
        ? justifyHours
        : fn === "justify_days"
        ? justifyDays
        : justifyInterval;
      return strict("interval", [a.evaluate], ([v]) => formatInterval(f(span(v))));
    }
    case "to_date":
    case "to_timestamp": {
      if (args.length === 2) {
        const [text, format] = args.map((a) => support.toType(a, "text").evaluate);
        const date = fn === "to_date";
        return strict(date ? "date" : "timestamptz", [text, format], ([t, f]) => {
          const parsed = parseDateTime(String(t), String(f));
          let days: number;
          if (parsed.dayOfYear !== null) {
            days = daysFromCivil(parsed.year, 1, 1) + parsed.dayOfYear - 1;
          } else {
            if (
              parsed.month < 1 || parsed.month > 12 || parsed.day < 1 ||
              parsed.day > daysInMonth(parsed.year, parsed.month)
            ) {
              throw outOfRange(String(t));
            }
            days = daysFromCivil(parsed.year, parsed.month, parsed.day);
          }
          if (date) return checkDate(days);
          if (
            parsed.hour > 24 || parsed.minute > 59 || parsed.second > 60 ||
            parsed.micro > 999_999
          ) {
            throw outOfRange(String(t));
          }
          return checkTimestamp(
            BigInt(days) * MICROS_PER_DAY + BigInt(parsed.hour) * MICROS_PER_HOUR +
              BigInt(parsed.minute) * MICROS_PER_MINUTE + BigInt(parsed.second) * 1_000_000n +
              BigInt(parsed.micro),
          );
        });
      }
      if (args.length !== 1 || fn === "to_date") return null;
      const a = support.toType(args[0], "float8");
      return strict("timestamptz", [a.evaluate], ([v]) => {
        const seconds = v as number;
        if (Number.isNaN(seconds)) {
          throw new SqlError("22008", "timestamp cannot be NaN");
        }
        if (seconds === Infinity) return TIMESTAMP_INFINITY;
        if (seconds === -Infinity) return TIMESTAMP_MINUS_INFINITY;
        const micros = Math.round(seconds * 1e6);
        if (micros < Number(TIMESTAMP_MIN) || micros >= Number(TIMESTAMP_END)) {
          throw new SqlError("22008", `timestamp out of range: "${String(seconds)}"`);
        }
        return BigInt(micros);
      });
    }
    case "make_interval": {
      // make_interval(years, months, weeks, days, hours, mins, secs), each 0 when left out.
      if (args.length > 7) return null;
      const given = args.map((a, i) => support.toType(a, i === 6 ? "float8" : "int4").evaluate);
      const zero: Evaluate = () => 0;
      while (given.length < 7) given.push(zero);
      return strict("interval", given, (v) => {
        const [years, months, weeks, days, hours, mins] = v as number[];
        const secs = v[6] as number;
        if (!Number.isFinite(secs)) throw new SqlError("22008", "interval out of range");
        return formatInterval({
          months: years * 12 + months,
          days: weeks * 7 + days,
          micros: (BigInt(hours) * 60n + BigInt(mins)) * 60_000_000n +
            BigInt(Math.round(secs * 1e6)),
        });
      });
    }
    case "make_timestamp":
    case "make_timestamptz": {
      if (args.length !== 6) return null;
      const ints = args.slice(0, 5).map((a) => support.toType(a, "int4").evaluate);
      const sec = support.toType(args[5], "float8").evaluate;
      return strict(fn === "make_timestamp" ? "timestamp" : "timestamptz", [...ints, sec], (v) => {
        const [y, mo, d, h, mi] = v as number[];
        const s = v[5] as number;
        if (y <= 0 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) {
          throw new SqlError("22008", `date field value out of range: ${y}-${mo}-${d}`);
        }
        if (h < 0 || h > 23 || mi < 0 || mi > 59 || !(s >= 0 && s < 60)) {
          throw new SqlError(
            "22008",
            `time field value out of range: ${h}:${mi}:${String(s).padStart(2, "0")}`,
          );
        }
        const micros = BigInt(daysFromCivil(y, mo, d)) * MICROS_PER_DAY +
          BigInt(h) * MICROS_PER_HOUR + BigInt(mi) * MICROS_PER_MINUTE +
          BigInt(Math.round(s * 1e6));
        return micros;
      });
    }
    case "to_char": {
      if (args.length !== 2) return null;
      const source = args[0];
      const format = support.toType(args[1], "text").evaluate;
      const type = source.type;
      if (type === "timestamp" || type === "timestamptz" || type === "date") {
        const from = type === "date" ? support.toType(source, "timestamp") : source;
        return strict("text", [from.evaluate, format], ([v, f]) => {
          const micros = v as bigint;
          if (!isFiniteTimestamp(micros)) return null;
          return formatDateTime(micros, f as string, type === "timestamptz");
        });
      }
      if (NUMBERS.has(type)) {
        const decimal = (v: PgValue): string => {
          if (type === "float4" || type === "float8") {
            const x = v as number;
            return Number.isFinite(x) ? x.toFixed(Math.abs(x) >= 1e21 ? 0 : 15) : String(x);
          }
          return String(v);
        };
        return strict("text", [source.evaluate, format], ([v, f]) => {
          const text = decimal(v);
          if (!/^-?\d/.test(text)) return null;
          return formatNumber(text, f as string);
        });
      }
      return null;
    }
    default:
      return null;
  }
}

/**
 * to_date/to_timestamp's 22008: the input's message, but no position (it is
 * the function's argument, not a literal of the type; position 0 keeps
 * positions.ts from pointing at it).
 */
function outOfRange(input: string): SqlError {
  return new SqlError("22008", `date/time field value out of range: "${input}"`, { position: 0 });
}

/** Days as a timestamp for functions that take either (exported for functions.ts). */
export function timestampMicros(type: SqlType, value: PgValue): bigint {
  return type === "date" ? dateToTimestamp(value as number) : value as bigint;
}
