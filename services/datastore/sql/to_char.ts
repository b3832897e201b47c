// to_char() for timestamps, dates, intervals and numbers (PostgreSQL 15
// documentation 9.8 "Data Type Formatting Functions", tables 9.26-9.29;
// src/backend/utils/adt/formatting.c).
//
// Date/time patterns: YYYY YYY YY Y, MM, MONTH Month month MON Mon mon,
// DDD DD D, DAY Day day DY Dy dy, HH HH12 HH24, MI, SS, MS, US, AM PM am pm
// A.M. P.M. a.m. p.m., Q, TZ (UTC), the FM prefix (no padding), "quoted
// text" (\" for a quote); anything else is copied.
// Number patterns: 9, 0, . and D, , and G, S, MI, PL, SG and FM; the
// number rounds to the pattern's fractional digits and prints as # when its
// integer part does not fit.
//
// Left out: ISO week patterns (IYYY, IW, ID), WW, J, CC, TH suffixes, RN,
// EEEE, V, L, PR, and time zones other than UTC.

import { civilFromDays } from "../../../lib/pg/values.ts";
import { SqlError } from "./errors.ts";

export const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];
export const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

const DAY_MICROS = 86_400_000_000n;

interface Fields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  micro: number;
  dow: number;
  doy: number;
}

function fieldsOf(micros: bigint): Fields {
  let days = micros / DAY_MICROS;
  let rest = micros % DAY_MICROS;
  if (rest < 0n) {
    rest += DAY_MICROS;
    days -= 1n;
  }
  const { year, month, day } = civilFromDays(Number(days));
  const seconds = Number(rest / 1_000_000n);
  const jan1 = Number(days) - (civilDayOfYear(year, month, day) - 1);
  return {
    year,
    month,
    day,
    hour: Math.floor(seconds / 3600),
    minute: Math.floor(seconds / 60) % 60,
    second: seconds % 60,
    micro: Number(rest % 1_000_000n),
    dow: ((Number(days) % 7) + 11) % 7,
    doy: Number(days) - jan1 + 1,
  };
}

function civilDayOfYear(year: number, month: number, day: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const before = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334][month - 1];
  return before + day + (leap && month > 2 ? 1 : 0);
}

/** Date/time patterns, longest first so HH24 wins over HH and MONTH over MON. */
export const DATE_PATTERNS = [
  "A.M.",
  "a.m.",
  "P.M.",
  "p.m.",
  "HH24",
  "HH12",
  "YYYY",
  "MONTH",
  "Month",
  "month",
  "YYY",
  "MON",
  "Mon",
  "mon",
  "DDD",
  "DAY",
  "Day",
  "day",
  "HH",
  "MI",
  "SS",
  "MS",
  "US",
  "AM",
  "am",
  "PM",
  "pm",
  "YY",
  "MM",
  "DD",
  "DY",
  "Dy",
  "dy",
  "TZ",
  "tz",
  "Y",
  "D",
  "Q",
];

function cased(word: string, pattern: string): string {
  if (pattern === pattern.toUpperCase()) return word.toUpperCase();
  if (pattern === pattern.toLowerCase()) return word.toLowerCase();
  return word;
}

/** to_char(timestamp, text): `withZone` for timestamptz (TZ prints UTC). */
export function formatDateTime(micros: bigint, format: string, withZone: boolean): string {
  const f = fieldsOf(micros);
  let out = "";
  let at = 0;
  while (at < format.length) {
    let fm = false;
    if (format.startsWith("FM", at) || format.startsWith("fm", at)) {
      fm = true;
      at += 2;
    }
    const c = format[at];
    if (c === '"') {
      at++;
      while (at < format.length && format[at] !== '"') {
        if (format[at] === "\\" && at + 1 < format.length) at++;
        out += format[at++];
      }
      at++;
      continue;
    }
    if (c === "\\" && format[at + 1] === '"') {
      out += '"';
      at += 2;
      continue;
    }
    const pattern = DATE_PATTERNS.find((p) => format.startsWith(p, at));
    if (pattern === undefined) {
      if (at < format.length) out += c;
      at++;
      continue;
    }
    at += pattern.length;
    const num = (n: number, width: number) =>
      fm
        ? String(n)
        : (n < 0 ? "-" + String(-n).padStart(width, "0") : String(n).padStart(width, "0"));
    const word = (w: string, width: number) => (fm ? w : w.padEnd(width, " "));
    const hour12 = f.hour % 12 === 0 ? 12 : f.hour % 12;
    switch (pattern.toUpperCase()) {
      case "YYYY":
        out += num(f.year, 4);
        break;
      case "YYY":
        out += num(f.year % 1000, 3);
        break;
      case "YY":
        out += num(f.year % 100, 2);
        break;
      case "Y":
        out += num(f.year % 10, 1);
        break;
      case "MM":
        out += num(f.month, 2);
        break;
      case "MONTH":
        out += cased(word(MONTHS[f.month - 1], 9), pattern);
        break;
      case "MON":
        out += cased(MONTHS[f.month - 1].slice(0, 3), pattern);
        break;
      case "DDD":
        out += num(f.doy, 3);
        break;
      case "DD":
        out += num(f.day, 2);
        break;
      case "D":
        out += String(f.dow + 1);
        break;
      case "DAY":
        out += cased(word(DAYS[f.dow], 9), pattern);
        break;
      case "DY":
        out += cased(DAYS[f.dow].slice(0, 3), pattern);
        break;
      case "HH24":
        out += num(f.hour, 2);
        break;
      case "HH12":
      case "HH":
        out += num(hour12, 2);
        break;
      case "MI":
        out += num(f.minute, 2);
        break;
      case "SS":
        out += num(f.second, 2);
        break;
      case "MS":
        out += num(Math.floor(f.micro / 1000), 3);
        break;
      case "US":
        out += num(f.micro, 6);
        break;
      case "AM":
      case "PM":
        out += cased(f.hour < 12 ? "AM" : "PM", pattern);
        break;
      case "A.M.":
      case "P.M.":
        out += cased(f.hour < 12 ? "A.M." : "P.M.", pattern);
        break;
      case "Q":
        out += String(Math.floor((f.month - 1) / 3) + 1);
        break;
      case "TZ":
        out += withZone ? cased("UTC", pattern) : "";
        break;
    }
  }
  return out;
}

// Numbers ---------------------------------------------------------------------

interface NumberFormat {
  /** Digit positions before the decimal point: "9" or "0". */
  integer: string[];
  /** Where the group separators sit: after how many integer digit positions. */
  groups: number[];
  fraction: string[];
  point: boolean;
  fm: boolean;
  /** An explicit sign: where, and which. */
  sign: { at: "start" | "end"; kind: "S" | "MI" | "PL" | "SG" } | null;
  prefix: string;
  suffix: string;
}

function parseNumberFormat(format: string): NumberFormat {
  const out: NumberFormat = {
    integer: [],
    groups: [],
    fraction: [],
    point: false,
    fm: false,
    sign: null,
    prefix: "",
    suffix: "",
  };
  let at = 0;
  let seenDigit = false;
  while (at < format.length) {
    const rest = format.slice(at).toUpperCase();
    if (rest.startsWith("FM")) {
      out.fm = true;
      at += 2;
    } else if (rest.startsWith("MI") || rest.startsWith("PL") || rest.startsWith("SG")) {
      out.sign = { at: seenDigit ? "end" : "start", kind: rest.slice(0, 2) as "MI" | "PL" | "SG" };
      at += 2;
    } else if (rest[0] === "S") {
      out.sign = { at: seenDigit ? "end" : "start", kind: "S" };
      at++;
    } else if (rest[0] === "9" || rest[0] === "0") {
      (out.point ? out.fraction : out.integer).push(rest[0]);
      seenDigit = true;
      at++;
    } else if (rest[0] === "." || rest[0] === "D") {
      if (out.point) throw new SqlError("42601", "multiple decimal points");
      out.point = true;
      seenDigit = true;
      at++;
    } else if (rest[0] === "," || rest[0] === "G") {
      if (!out.point) out.groups.push(out.integer.length);
      at++;
    } else {
      if (seenDigit) out.suffix += format[at];
      else out.prefix += format[at];
      at++;
    }
  }
  return out;
}

/**
 * to_char(number, text) for a number given as decimal text ("-12.345",
 * "NaN"), already of the right magnitude; rounds half away from zero.
 */
export function formatNumber(value: string, format: string): string {
  const f = parseNumberFormat(format);
  const negative = value.startsWith("-");
  const digits = negative ? value.slice(1) : value;
  const places = f.fraction.length;
  let [whole, fraction = ""] = digits.split(".");
  // Round to the pattern's fractional digits, half away from zero.
  if (fraction.length > places) {
    const up = Number(fraction[places]) >= 5;
    let scaled = BigInt(whole + fraction.slice(0, places));
    if (up) scaled += 1n;
    const text = scaled.toString().padStart(places + 1, "0");
    whole = text.slice(0, text.length - places);
    fraction = text.slice(text.length - places);
  } else fraction = fraction.padEnd(places, "0");
  whole = whole.replace(/^0+/, "");
  const width = f.integer.length;
  const isZero = !/[1-9]/.test(whole + fraction);
  const minus = negative && !isZero;
  let integerPart: string;
  let fractionPart: string;
  if (whole.length > width) {
    integerPart = "#".repeat(width);
    fractionPart = "#".repeat(places);
  } else {
    const zeroStart = f.integer.indexOf("0");
    let text = "";
    for (let i = 0; i < width; i++) {
      const fromEnd = width - i;
      if (fromEnd <= whole.length) text += whole[whole.length - fromEnd];
      else if (zeroStart >= 0 && i >= zeroStart) text += "0";
      else text += " ";
    }
    // A lone 9 before the point prints 0 when nothing else would show (to_char(0, '9') is ' 0').
    if (whole.length === 0 && width > 0 && !f.point && text.trim() === "") {
      text = text.slice(0, -1) + "0";
    }
    integerPart = text;
    fractionPart = fraction;
    if (f.fm) {
      // FM drops the trailing zeros that 9 positions would print.
      let keep = fractionPart.length;
      while (keep > 0 && f.fraction[keep - 1] === "9" && fractionPart[keep - 1] === "0") keep--;
      fractionPart = fractionPart.slice(0, keep);
    }
  }
  // Group separators: a comma once a digit has been printed to its left, else a space.
  let grouped = "";
  for (let i = 0; i < integerPart.length; i++) {
    if (f.groups.includes(i) && i > 0) {
      grouped += /[0-9#]/.test(integerPart.slice(0, i)) ? "," : " ";
    }
    grouped += integerPart[i];
  }
  if (f.groups.includes(integerPart.length) && integerPart.length > 0) grouped += ",";
  const firstDigit = grouped.search(/[^ ]/);
  const lead = firstDigit < 0 ? grouped : grouped.slice(0, firstDigit);
  const body = firstDigit < 0 ? "" : grouped.slice(firstDigit);
  const point = f.point ? "." : "";
  let signText = minus ? "-" : "+";
  let start = "";
  let end = "";
  if (f.sign === null) start = minus ? "-" : " ";
  else {
    const kind = f.sign.kind;
    if (kind === "MI") signText = minus ? "-" : " ";
    if (kind === "PL") signText = minus ? "" : "+";
    if (kind === "MI" && f.fm && !minus) signText = "";
    if (f.sign.at === "end") end = signText;
    else if (kind === "S" || kind === "MI") start = signText;
    else {
      // PL and SG print where they are written, before the number's own blanks;
      // PL keeps the slot where a minus would go.
      f.prefix = signText + f.prefix;
      if (kind === "PL") start = minus ? "-" : " ";
    }
  }
  if (f.fm) {
    if (f.sign === null && !minus) start = "";
    return `${f.prefix}${start}${body.replace(/^ +/, "")}${point}${fractionPart}${end}${f.suffix}`;
  }
  return `${f.prefix}${lead}${start}${body}${point}${fractionPart}${end}${f.suffix}`;
}
