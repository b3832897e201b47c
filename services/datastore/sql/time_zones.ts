// AT TIME ZONE and timezone(zone, value) (PostgreSQL documentation 9.9.4):
// a timestamptz seen as the wall-clock time of a zone (a timestamp), and a
// timestamp read as the wall-clock time of a zone (a timestamptz).
//
// Zones: IANA names through the runtime's ICU (Intl.DateTimeFormat; case
// does not matter, as in PostgreSQL), the common abbreviations of
// PostgreSQL's Default set (PST, CET, JST, ...), and POSIX offsets such as
// '+05', 'UTC+5' or '-03:30', which count hours WEST of Greenwich as
// PostgreSQL reads them; an interval gives the offset east of Greenwich.
// Anything else is 22023 "time zone ... not recognized".
//
// A wall-clock time a zone skips (spring forward) is read with the offset
// before the change, one it repeats (fall back) with the offset after, as
// PostgreSQL's DetermineTimeZoneOffset does.

import { SqlError } from "./errors.ts";

const MICROS_PER_SECOND = 1_000_000n;

/** A zone: its offset east of Greenwich, in seconds, at a UTC instant (µs). */
type Zone = (utcMicros: bigint) => number;

/** Abbreviations PostgreSQL's Default set gives a fixed offset (hours east). */
const ABBREVIATIONS: Record<string, number> = {
  utc: 0,
  gmt: 0,
  z: 0,
  ut: 0,
  wet: 0,
  west: 1,
  bst: 1,
  cet: 1,
  cest: 2,
  met: 1,
  mest: 2,
  eet: 2,
  eest: 3,
  msk: 3,
  jst: 9,
  kst: 9,
  aest: 10,
  aedt: 11,
  acst: 9.5,
  awst: 8,
  nzst: 12,
  nzdt: 13,
  hst: -10,
  akst: -9,
  akdt: -8,
  pst: -8,
  pdt: -7,
  mst: -7,
  mdt: -6,
  cst: -6,
  cdt: -5,
  est: -5,
  edt: -4,
  ast: -4,
  adt: -3,
  nst: -3.5,
  ndt: -2.5,
};

/** Named zones resolved so far (bounded: names come from queries). */
const named = new Map<string, Zone>();
const NAMED_MAX = 256;

/** The zone a name (or POSIX offset) stands for; 22023 when none. */
export function zoneNamed(name: string): Zone {
  const key = name.toLowerCase();
  const cached = named.get(key);
  if (cached) return cached;
  const zone = resolve(name, key);
  if (named.size >= NAMED_MAX) named.clear();
  named.set(key, zone);
  return zone;
}

/** The zone of an interval offset (east of Greenwich, ISO sign). */
export function zoneOfOffset(seconds: number): Zone {
  return () => seconds;
}

function resolve(name: string, key: string): Zone {
  if (key in ABBREVIATIONS) return zoneOfOffset(Math.round(ABBREVIATIONS[key] * 3600));
  const posix = /^([a-z]{3,})?([+-]?)(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?$/.exec(key);
  if (posix) {
    const seconds = Number(posix[3]) * 3600 + Number(posix[4] ?? 0) * 60 + Number(posix[5] ?? 0);
    return zoneOfOffset(posix[2] === "-" ? seconds : -seconds);
  }
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: name,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
      era: "short",
    });
  } catch {
    throw new SqlError("22023", `time zone "${name}" not recognized`);
  }
  return (utcMicros) => {
    const ms = Number(utcMicros / 1000n);
    const seconds = Math.floor(ms / 1000) * 1000;
    const parts: Record<string, string> = {};
    for (const part of format.formatToParts(new Date(seconds))) parts[part.type] = part.value;
    let year = Number(parts.year);
    if (parts.era === "BC" || parts.era === "B") year = 1 - year;
    const wall = Date.UTC(
      0,
      Number(parts.month) - 1,
      Number(parts.day),
      Number(parts.hour),
      Number(parts.minute),
      Number(parts.second),
    );
    // Date.UTC maps years 0-99 to 1900-1999: set the year apart.
    const date = new Date(wall);
    date.setUTCFullYear(year);
    return Math.round((date.getTime() - seconds) / 1000);
  };
}

/** timestamptz AT TIME ZONE zone: the zone's wall-clock time (a timestamp). */
export function toZoneWallClock(utcMicros: bigint, zone: Zone): bigint {
  return utcMicros + BigInt(zone(utcMicros)) * MICROS_PER_SECOND;
}

/** timestamp AT TIME ZONE zone: the instant (a timestamptz) of that wall-clock time there. */
export function fromZoneWallClock(wallMicros: bigint, zone: Zone): bigint {
  const day = 86_400n * MICROS_PER_SECOND;
  const before = BigInt(zone(wallMicros - day)) * MICROS_PER_SECOND;
  const after = BigInt(zone(wallMicros + day)) * MICROS_PER_SECOND;
  if (before === after) return wallMicros - before;
  const asAfter = wallMicros - after;
  if (BigInt(zone(asAfter)) * MICROS_PER_SECOND === after) return asAfter; // repeated: the later
  return wallMicros - before; // skipped, or only the earlier reading fits
}
