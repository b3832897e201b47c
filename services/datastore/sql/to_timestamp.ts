// to_timestamp(text, format) and to_date(text, format) (PostgreSQL 15
// documentation 9.8, "Usage notes for date/time formatting"): the input
// read field by field as the template says, with to_char's patterns.
//
// Read: YYYY, YYY, YY (1970-2069), Y, MM, DD, DDD, HH24, HH12/HH with
// AM/PM (A.M./P.M., any case), MI, SS, MS, US, Mon/MON/mon and
// Month/MONTH/month (names in any case), Dy/Day (read and ignored), and
// "quoted text" (as many characters skipped). As in PostgreSQL without
// FX, spaces before a field are skipped, a separator in the template skips
// one separator of the input, and a numeric field reads up to its width
// (or to the next non-digit). A value out of its field's range is 22008;
// input that does not fit the template is 22007.
//
// Left out: FX and FM (FM is accepted and ignored), TZ/TZH/TZM/OF, ISO
// weeks (IYYY, IW, ID), WW, J, CC, Q, RM, and the TH suffixes.

import { SqlError } from "./errors.ts";
import { DATE_PATTERNS, DAYS, MONTHS } from "./to_char.ts";

export interface ParsedDateTime {
  year: number;
  month: number;
  day: number;
  /** Day of the year (DDD), when given: it wins over month and day. */
  dayOfYear: number | null;
  hour: number;
  minute: number;
  second: number;
  micro: number;
}

const WIDTH: Record<string, number> = {
  YYYY: 4,
  YYY: 3,
  YY: 2,
  Y: 1,
  MM: 2,
  DD: 2,
  DDD: 3,
  HH24: 2,
  HH12: 2,
  HH: 2,
  MI: 2,
  SS: 2,
  MS: 3,
  US: 6,
  D: 1,
};

const UNSUPPORTED = new Set(["TZ", "tz", "Q"]);

export function parseDateTime(input: string, format: string): ParsedDateTime {
  const out: ParsedDateTime = {
    year: 1,
    month: 1,
    day: 1,
    dayOfYear: null,
    hour: 0,
    minute: 0,
    second: 0,
    micro: 0,
  };
  let hour12: number | null = null;
  let pm: boolean | null = null;
  let at = 0; // in the input
  let f = 0; // in the format
  const skipSpaces = () => {
    while (at < input.length && input[at] === " ") at++;
  };
  const bad = (pattern: string) =>
    new SqlError("22007", `invalid value "${input.slice(at, at + 8)}" for "${pattern}"`, {
      detail: at >= input.length
        ? "Field requires more characters, but only 0 remain."
        : `Value must be ${WIDTH[pattern] ? "an integer" : "in the list of valid values"}.`,
    });
  const number = (pattern: string): number => {
    skipSpaces();
    const start = at;
    if (input[at] === "-" || input[at] === "+") at++;
    // YYYY reads every digit there is, unless a field follows with no separator.
    const fieldNext = DATE_PATTERNS.some((q) => format.startsWith(q, f));
    const width = pattern === "YYYY" && !fieldNext ? Infinity : WIDTH[pattern];
    while (at < input.length && at - start < width && input[at] >= "0" && input[at] <= "9") at++;
    const text = input.slice(start, at);
    if (!/\d/.test(text)) {
      at = start;
      throw bad(pattern);
    }
    return Number(text);
  };
  const word = (pattern: string, names: string[], length: number | null): number => {
    skipSpaces();
    const rest = input.slice(at).toLowerCase();
    for (let i = 0; i < names.length; i++) {
      const name = (length === null ? names[i] : names[i].slice(0, length)).toLowerCase();
      if (rest.startsWith(name)) {
        at += name.length;
        return i;
      }
    }
    throw bad(pattern);
  };
  while (f < format.length) {
    if (format.startsWith("FM", f) || format.startsWith("fm", f)) {
      f += 2;
      continue;
    }
    if (format[f] === '"') {
      // Quoted text skips as many input characters as it holds.
      let end = f + 1;
      let length = 0;
      while (end < format.length && format[end] !== '"') {
        if (format[end] === "\\") end++;
        end++;
        length++;
      }
      at = Math.min(input.length, at + length);
      f = end + 1;
      continue;
    }
    const pattern = DATE_PATTERNS.find((p) => format.startsWith(p, f));
    if (pattern === undefined) {
      // A separator or other character: a space skips spaces, another
      // character skips one separator (or nothing, if a field follows).
      const c = format[f++];
      if (c === " ") skipSpaces();
      else if (at < input.length && !/[A-Za-z0-9]/.test(input[at])) at++;
      continue;
    }
    f += pattern.length;
    if (UNSUPPORTED.has(pattern)) {
      throw new SqlError("0A000", `formatting field "${pattern}" is only supported in to_char`);
    }
    const upper = pattern.toUpperCase();
    switch (upper) {
      case "YYYY":
        out.year = number(upper);
        break;
      case "YYY": {
        const y = number(upper);
        out.year = y < 100 ? y + 2000 : y + 1000;
        break;
      }
      case "YY": {
        const y = number(upper);
        out.year = y < 70 ? 2000 + y : 1900 + y;
        break;
      }
      case "Y":
        out.year = 2000 + number(upper);
        break;
      case "MM":
        out.month = number(upper);
        break;
      case "DD":
        out.day = number(upper);
        break;
      case "DDD":
        out.dayOfYear = number(upper);
        break;
      case "HH24":
        out.hour = number(upper);
        break;
      case "HH12":
      case "HH":
        hour12 = number(upper);
        break;
      case "MI":
        out.minute = number(upper);
        break;
      case "SS":
        out.second = number(upper);
        break;
      case "MS":
        out.micro = number(upper) * 1000;
        break;
      case "US":
        out.micro = number(upper);
        break;
      case "D":
        number(upper);
        break;
      case "MONTH":
        out.month = word(pattern, MONTHS, null) + 1;
        break;
      case "MON":
        out.month = word(pattern, MONTHS, 3) + 1;
        break;
      case "DAY":
        word(pattern, DAYS, null);
        break;
      case "DY":
        word(pattern, DAYS, 3);
        break;
      case "AM":
      case "PM":
      case "A.M.":
      case "P.M.": {
        skipSpaces();
        const dotted = upper.includes(".");
        const text = input.slice(at, at + (dotted ? 4 : 2)).toUpperCase();
        if (text === (dotted ? "A.M." : "AM")) pm = false;
        else if (text === (dotted ? "P.M." : "PM")) pm = true;
        else throw bad(pattern);
        at += text.length;
        break;
      }
    }
  }
  if (hour12 !== null) {
    if (hour12 < 1 || hour12 > 12) {
      throw new SqlError("22007", `hour "${hour12}" is invalid for the 12-hour clock`, {
        hint: "Use the 24-hour clock, or give an hour between 1 and 12.",
      });
    }
    out.hour = (hour12 % 12) + (pm ? 12 : 0);
  } else if (pm !== null) {
    out.hour = (out.hour % 12) + (pm ? 12 : 0);
  }
  return out;
}
