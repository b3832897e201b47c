// time without time zone (OID 1083): microseconds since midnight, 0 to
// 24:00:00 inclusive, as PostgreSQL's TimeADT (an int64). PostgreSQL 15
// docs 8.5.1.2 "Times"; time_in, time_out, time_recv, time_send in
// src/backend/utils/adt/date.c.
//
// Input: `hh:mm[:ss[.ffffff]]` with an optional AM/PM, a leading date
// (`2024-01-02 12:34`, dropped as time_in drops it) and a trailing zone
// (`+02`, `Z`: ignored, as time_in ignores it), `allballs`; fractions past
// microseconds round half up; 24:00:00 is the largest value. Output:
// `hh:mm:ss` with the fraction's trailing zeros dropped. Binary: int64
// microseconds, big-endian. Left out: `now` and the other special words
// but allballs, the compact ISO forms (`123456`, `T12:34`), leap second 60.
// Bad input throws PgValueError with PostgreSQL's SQLSTATE and message.

import { PgValueError } from "./value_error.ts";

export const MICROS_PER_DAY = 86_400_000_000n;

const TIME_TEXT =
  /^(?:\d{4}-\d{1,2}-\d{1,2}[ tT]+)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d*))?)?\s*(am|pm|a\.m\.|p\.m\.)?\s*(?:z|utc|[+-]\d{1,2}(?::?\d{2})?)?$/i;

/** A time's text input as microseconds since midnight. */
export function parseTime(text: string): bigint {
  const trimmed = text.trim();
  if (trimmed.toLowerCase() === "allballs") return 0n;
  const match = TIME_TEXT.exec(trimmed);
  if (match === null) {
    throw new PgValueError("22007", `invalid input syntax for type time: "${text}"`);
  }
  const [, h, mi, s = "0", fraction = "", meridiem] = match;
  let hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (meridiem !== undefined) {
    if (hour < 1 || hour > 12) {
      throw new PgValueError("22008", `date/time field value out of range: "${text}"`);
    }
    const pm = meridiem[0].toLowerCase() === "p";
    hour = hour % 12 + (pm ? 12 : 0);
  }
  let micros = BigInt((fraction + "000000").slice(0, 6));
  if (fraction.length > 6 && Number(fraction[6]) >= 5) micros++;
  const value = BigInt((hour * 60 + minute) * 60 + second) * 1_000_000n + micros;
  if (hour > 24 || minute > 59 || second > 59 || value > MICROS_PER_DAY) {
    throw new PgValueError("22008", `date/time field value out of range: "${text}"`);
  }
  return value;
}

/** A time's text output: hh:mm:ss[.ffffff without trailing zeros]. */
export function formatTime(micros: bigint): string {
  const two = (n: bigint) => String(n).padStart(2, "0");
  const seconds = micros / 1_000_000n;
  const fraction = micros % 1_000_000n;
  const out = `${two(seconds / 3600n)}:${two(seconds / 60n % 60n)}:${two(seconds % 60n)}`;
  if (fraction === 0n) return out;
  return `${out}.${String(fraction).padStart(6, "0").replace(/0+$/, "")}`;
}

/** time_recv: 8 bytes of microseconds, checked against the day's range. */
export function timeFromBinary(view: DataView): bigint {
  const micros = view.getBigInt64(0);
  if (micros < 0n || micros > MICROS_PER_DAY) {
    throw new PgValueError("22008", "time out of range");
  }
  return micros;
}

/** time_send. */
export function timeToBinary(micros: bigint): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, micros);
  return out;
}
