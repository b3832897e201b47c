// time without time zone in expressions (PostgreSQL 15 docs 9.9, table
// 9.31 "Date/Time Operators"): values are microseconds since midnight (a
// bigint; lib/pg/time.ts reads and writes them), stored as the engine's
// int64, ordered as numbers.
//
// - Operators: time ± interval (the interval's time part only, wrapping
//   round midnight: months and days do nothing, as time_pl_interval),
//   interval + time, time - time (an interval), date + time and time +
//   date (a timestamp). An unknown operand is read as an interval after +
//   and as a time after -, as PostgreSQL resolves them; time + time is
//   42725 as there.
// - Casts: timestamp[tz] to time (its time of day), time to interval, and
//   interval to time (its time part modulo a day); text both ways through
//   values.ts. `time(p)` rounds to p fractional digits.
// - Functions: extract() and date_part() for hour, minute, second,
//   milliseconds, microseconds and epoch (0A000 for other units, as
//   PostgreSQL), make_time(hour, min, sec).
//
// Left out: timetz, AT TIME ZONE on a time, LOCALTIME/CURRENT_TIME,
// date_trunc and to_char of a time (PostgreSQL reads the time as an
// interval there).

import { formatInterval, intervalFields, MICROS_PER_DAY } from "../../../lib/pg/interval.ts";
import type { PgValue } from "../../../lib/pg/values.ts";
import { dateToTimestamp, isFiniteTimestamp } from "./datetime.ts";
import { SqlError } from "./errors.ts";
import { binary } from "./strict.ts";
import type { Compiled, SqlType } from "./eval.ts";

type ToType = (value: Compiled, type: SqlType) => Compiled;

/** A value modulo a day, never negative. */
function wrap(micros: bigint): bigint {
  return ((micros % MICROS_PER_DAY) + MICROS_PER_DAY) % MICROS_PER_DAY;
}

const timePart = (interval: PgValue) => intervalFields(interval as string).micros;

/** An operator with a time on one side, or null when none exists (42883 for the caller). */
export function timeArithmetic(
  op: string,
  leftIn: Compiled,
  rightIn: Compiled,
  toType: ToType,
): Compiled | null {
  let left = leftIn;
  let right = rightIn;
  if (left.type === "unknown") left = toType(left, op === "-" ? "time" : "interval");
  if (right.type === "unknown") right = toType(right, op === "-" ? "time" : "interval");
  const l = left.type;
  const r = right.type;
  const L = left.evaluate;
  const R = right.evaluate;
  if (l === "time" && r === "interval" && (op === "+" || op === "-")) {
    const sign = op === "+" ? 1n : -1n;
    return binary("time", L, R, (a, b) => wrap((a as bigint) + sign * timePart(b)));
  }
  if (l === "interval" && r === "time" && op === "+") {
    return binary("time", L, R, (a, b) => wrap((b as bigint) + timePart(a)));
  }
  if (l === "time" && r === "time") {
    if (op === "-") {
      return binary(
        "interval",
        L,
        R,
        (a, b) => formatInterval({ months: 0, days: 0, micros: (a as bigint) - (b as bigint) }),
      );
    }
    if (op === "+") {
      throw new SqlError(
        "42725",
        "operator is not unique: time without time zone + time without time zone",
        {
          hint:
            "Could not choose a best candidate operator. You might need to add explicit type casts.",
        },
      );
    }
  }
  if (op === "+" && ((l === "date" && r === "time") || (l === "time" && r === "date"))) {
    const [day, time] = l === "date" ? [L, R] : [R, L];
    return binary("timestamp", day, time, (d, t) => {
      const midnight = dateToTimestamp(d as number);
      return isFiniteTimestamp(midnight) ? midnight + (t as bigint) : midnight;
    });
  }
  return null;
}

/** The cast between time and another date/time type, undefined when time is not involved. */
export function timeCast(
  from: SqlType,
  to: SqlType,
): ((value: PgValue) => PgValue) | null | undefined {
  if (from !== "time" && to !== "time") return undefined;
  if (to === "time" && (from === "timestamp" || from === "timestamptz")) {
    return (value) => {
      if (!isFiniteTimestamp(value as bigint)) {
        throw new SqlError("22008", "timestamp out of range");
      }
      return wrap(value as bigint);
    };
  }
  if (from === "time" && to === "interval") {
    return (value) => formatInterval({ months: 0, days: 0, micros: value as bigint });
  }
  if (from === "interval" && to === "time") return (value) => wrap(timePart(value));
  return undefined;
}

/** time(p): rounds to p fractional digits (half up, as AdjustTimeForTypmod). */
export function timePrecision(digits: number): (value: PgValue) => PgValue {
  const unit = 10n ** BigInt(6 - Math.min(6, Math.max(0, digits)));
  return (value) => {
    const micros = value as bigint;
    return (micros + unit / 2n) / unit * unit;
  };
}

const EXTRACT_SCALE: Record<string, number> = {
  hour: 0,
  minute: 0,
  second: 6,
  milliseconds: 3,
  microseconds: 0,
  epoch: 6,
};

/** extract(field FROM time) as numeric text, with PostgreSQL 15's scales. */
function extractTime(field: string, micros: bigint): string {
  const unit = field.toLowerCase();
  const scale = EXTRACT_SCALE[unit];
  if (scale === undefined) {
    throw new SqlError("0A000", `unit "${unit}" not supported for type time without time zone`);
  }
  let value: bigint; // in millionths, then shown at `scale`
  if (unit === "hour") value = micros / 3_600_000_000n * 1_000_000n;
  else if (unit === "minute") value = micros / 60_000_000n % 60n * 1_000_000n;
  else if (unit === "second") value = micros % 60_000_000n;
  else if (unit === "milliseconds") value = micros % 60_000_000n * 1000n;
  else if (unit === "microseconds") value = micros % 60_000_000n * 1_000_000n;
  else value = micros;
  const whole = value / 1_000_000n;
  const fraction = String(value % 1_000_000n).padStart(6, "0").slice(0, scale);
  return scale === 0 ? String(whole) : `${whole}.${fraction}`;
}

/** extract/date_part of a time and make_time; null for anything else. */
export function timeFunction(fn: string, args: Compiled[], toType: ToType): Compiled | null {
  if ((fn === "extract" || fn === "date_part") && args.length === 2 && args[1].type === "time") {
    const field = toType(args[0], "text").evaluate;
    const source = args[1].evaluate;
    const numeric = fn === "extract";
    return binary(numeric ? "numeric" : "float8", field, source, (f, v) => {
      const out = extractTime(f as string, v as bigint);
      return numeric ? out : Number(out);
    });
  }
  if (fn === "make_time" && args.length === 3) {
    const hour = toType(args[0], "int4").evaluate;
    const minute = toType(args[1], "int4").evaluate;
    const second = toType(args[2], "float8").evaluate;
    return {
      type: "time",
      evaluate: (ctx) => {
        const h = hour(ctx);
        const m = minute(ctx);
        const s = second(ctx);
        if (h === null || m === null || s === null) return null;
        const [hh, mm, ss] = [h as number, m as number, s as number];
        const micros = BigInt(Math.round(ss * 1e6)) + BigInt((hh * 60 + mm) * 60) * 1_000_000n;
        if (
          hh < 0 || hh > 24 || mm < 0 || mm > 59 || ss < 0 || ss > 60 || micros > MICROS_PER_DAY
        ) {
          throw new SqlError(
            "22008",
            `time field value out of range: ${hh}:${String(mm).padStart(2, "0")}:${
              String(ss).padStart(2, "0")
            }`,
          );
        }
        return micros;
      },
    };
  }
  return null;
}
