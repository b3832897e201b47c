// The everyday string, math and date functions beyond the few eval.ts
// compiles itself (PostgreSQL 15 docs, 9.4 "String Functions", 9.3
// "Mathematical Functions", 9.9 "Date/Time Functions"), with PostgreSQL's
// result types and NULL handling: NULL in, NULL out, unless said.
//
// Strings count characters (code points), as PostgreSQL does in UTF8.
// numeric results go through numeric.ts, so they keep PostgreSQL's scale;
// float results are JavaScript doubles. Dates are days since 1970-01-01 and
// timestamps microseconds since 1970-01-01 00:00 UTC (the only zone).
//
// Interval functions, age(), to_timestamp(), make_timestamp() and to_char()
// are datetime.ts's; jsonb's are jsonb.ts's. The regular expression
// functions run regex.ts's translation (regexp_matches and the
// regexp_split_to_* functions are set_returning.ts's). encode/decode (hex,
// base64 with its 76-character lines, escape), convert_to/convert_from
// (UTF8, SQL_ASCII, LATIN1) and num_nulls/num_nonnulls are here too. Left
// out: to_date/to_number, locale-dependent functions, regexp_instr and
// regexp_substr.

import type { PgValue } from "../../../lib/pg/values.ts";
import { civilFromDays, daysFromCivil, formatText } from "../../../lib/pg/values.ts";
import { SqlError } from "./errors.ts";
import { strict } from "./strict.ts";
import { dateToTimestamp, extractInterval, isFiniteTimestamp } from "./datetime.ts";
import type { Compiled, EvalContext, SqlType } from "./eval.ts";
import type { TypeName } from "./ast.ts";

/**
 * What this file needs from eval.ts, handed in by it (eval.ts calls
 * `moreFunctions`, so importing it back would make an import cycle).
 */
export interface FunctionSupport {
  /** Brings a value to a type as eval.ts's implicit casts do. */
  toType(value: Compiled, type: SqlType): Compiled;
  typeOid(type: SqlType): number;
  /** An explicit or assignment cast (eval.ts castTo). */
  castTo(value: Compiled, type: TypeName, assignment?: boolean): Compiled;
}

let support: FunctionSupport;
const toType = (value: Compiled, type: SqlType) => support.toType(value, type);
const typeOid = (type: SqlType) => support.typeOid(type);
import { decimalFromBigInt, fromDecimal } from "./numeric.ts";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import {
  advancePastEmpty,
  checkInput,
  compilePattern,
  expandReplacement,
  parseFlags,
  type RegexFlags,
  textArray,
} from "./regex.ts";
import { RESERVED } from "./keywords.ts";
import { arrayFunction } from "./arrays.ts";

type Evaluate = (ctx: EvalContext) => PgValue;

const STRINGS: ReadonlySet<SqlType> = new Set(["text", "varchar", "bpchar", "unknown"]);
const INTEGERS: ReadonlySet<SqlType> = new Set(["int2", "int4", "int8"]);

function chars(value: PgValue): string[] {
  return [...String(value)];
}

function text(arg: Compiled): Evaluate {
  if (STRINGS.has(arg.type)) return arg.evaluate;
  // Any other type reads as its output form (concat's 't' for true, as in PostgreSQL).
  const oid = typeOid(arg.type);
  const evaluate = arg.evaluate;
  return (ctx) => {
    const v = evaluate(ctx);
    return v === null ? null : formatText(oid, v);
  };
}

function int(arg: Compiled): Evaluate {
  return toType(arg, "int4").evaluate;
}

/** A string function's compiled form, or null when `fn` is not one of them. */
function stringFunction(fn: string, args: Compiled[]): Compiled | null {
  const t = (i: number) => text(args[i]);
  const n = (i: number) => int(args[i]);
  const make = (type: SqlType, evaluate: Evaluate): Compiled => ({ type, evaluate });
  const arity = (...counts: number[]) => counts.includes(args.length);
  switch (fn) {
    case "substring":
      if (arity(2) && (STRINGS.has(args[1].type))) return regexFunction(fn, args);
      if (!arity(2, 3)) return null;
      return stringFunction("substr", args);
    case "substr":
      if (!arity(2, 3)) return null;
      if (args[0].type === "bytea") {
        return make(
          "bytea",
          strict(
            [args[0].evaluate, ...args.slice(1).map((_, i) => n(i + 1))],
            ([b, from, count]) => {
              if (count !== undefined && (count as number) < 0) {
                throw new SqlError("22011", "negative substring length not allowed");
              }
              const bytes = b as Uint8Array;
              const start = from as number;
              const end = count === undefined ? bytes.length + 1 : start + (count as number);
              return bytes.slice(Math.max(start, 1) - 1, Math.max(end - 1, 0));
            },
          ),
        );
      }
      return make(
        "text",
        strict(args.length === 3 ? [t(0), n(1), n(2)] : [t(0), n(1)], ([s, from, count]) => {
          const cs = chars(s);
          const start = from as number;
          if (count !== undefined && (count as number) < 0) {
            throw new SqlError("22011", "negative substring length not allowed");
          }
          const end = count === undefined ? cs.length + 1 : start + (count as number);
          return cs.slice(Math.max(start, 1) - 1, Math.max(end - 1, 0)).join("");
        }),
      );
    case "replace":
      if (!arity(3)) return null;
      return make(
        "text",
        strict(
          [t(0), t(1), t(2)],
          ([s, from, to]) => from === "" ? s : String(s).split(String(from)).join(String(to)),
        ),
      );
    case "left":
    case "right":
      if (!arity(2)) return null;
      return make(
        "text",
        strict([t(0), n(1)], ([s, k]) => {
          const cs = chars(s);
          const count = k as number;
          const take = count >= 0 ? Math.min(count, cs.length) : Math.max(cs.length + count, 0);
          return fn === "left" ? cs.slice(0, take).join("") : cs.slice(cs.length - take).join("");
        }),
      );
    case "concat": {
      const parts = args.map((a) => text(a));
      return make("text", (ctx) => parts.map((p) => p(ctx) ?? "").join(""));
    }
    case "concat_ws": {
      if (args.length < 1) return null;
      const [separator, ...rest] = args.map((a) => text(a));
      return make("text", (ctx) => {
        const sep = separator(ctx);
        if (sep === null) return null;
        return rest.map((p) => p(ctx)).filter((v) => v !== null).join(String(sep));
      });
    }
    case "repeat":
      if (!arity(2)) return null;
      return make(
        "text",
        strict([t(0), n(1)], ([s, k]) => String(s).repeat(Math.max(k as number, 0))),
      );
    case "reverse":
      if (!arity(1)) return null;
      return make("text", strict([t(0)], ([s]) => chars(s).reverse().join("")));
    case "strpos":
    case "position":
      if (!arity(2)) return null;
      if (fn === "position" && args[0].type === "bytea" && args[1].type === "bytea") {
        return make(
          "int4",
          strict([args[0].evaluate, args[1].evaluate], ([b, sub]) => {
            const at = Buffer.from(b as Uint8Array).indexOf(sub as Uint8Array);
            return at + 1;
          }),
        );
      }
      return make(
        "int4",
        strict([t(0), t(1)], ([s, sub]) => {
          const at = String(s).indexOf(String(sub));
          return at < 0 ? 0 : [...String(s).slice(0, at)].length + 1;
        }),
      );
    case "lpad":
    case "rpad":
      if (!arity(2, 3)) return null;
      return make(
        "text",
        strict(args.length === 3 ? [t(0), n(1), t(2)] : [t(0), n(1)], ([s, k, fill]) => {
          const cs = chars(s);
          const length = Math.max(k as number, 0);
          if (cs.length >= length) return cs.slice(0, length).join("");
          const pad = chars(fill ?? " ");
          if (pad.length === 0) return cs.join("");
          const padding: string[] = [];
          while (padding.length < length - cs.length) {
            padding.push(pad[padding.length % pad.length]);
          }
          return fn === "lpad" ? padding.join("") + cs.join("") : cs.join("") + padding.join("");
        }),
      );
    case "ltrim":
    case "rtrim":
    case "btrim":
    case "trim":
      if (!arity(1, 2)) return null;
      return make(
        "text",
        strict(args.length === 2 ? [t(0), t(1)] : [t(0)], ([s, set]) => {
          const remove = new Set(chars(set ?? " "));
          let cs = chars(s);
          if (fn !== "rtrim") {
            let i = 0;
            while (i < cs.length && remove.has(cs[i])) i++;
            cs = cs.slice(i);
          }
          if (fn !== "ltrim") {
            let j = cs.length;
            while (j > 0 && remove.has(cs[j - 1])) j--;
            cs = cs.slice(0, j);
          }
          return cs.join("");
        }),
      );
    case "initcap":
      if (!arity(1)) return null;
      return make(
        "text",
        strict(
          [t(0)],
          ([s]) =>
            String(s).toLowerCase().replace(
              /(^|[^\p{L}\p{N}])(\p{L})/gu,
              (_, a, b) => a + b.toUpperCase(),
            ),
        ),
      );
    case "split_part":
      if (!arity(3)) return null;
      return make(
        "text",
        strict([t(0), t(1), n(2)], ([s, sep, k]) => {
          const index = k as number;
          if (index === 0) throw new SqlError("22023", "field position must not be zero");
          const parts = sep === "" ? [String(s)] : String(s).split(String(sep));
          const at = index > 0 ? index - 1 : parts.length + index;
          return parts[at] ?? "";
        }),
      );
    case "starts_with":
      if (!arity(2)) return null;
      return make("bool", strict([t(0), t(1)], ([s, p]) => String(s).startsWith(String(p))));
    case "octet_length":
      if (!arity(1)) return null;
      if (args[0].type === "bytea") {
        return make("int4", strict([args[0].evaluate], ([b]) => (b as Uint8Array).length));
      }
      return make("int4", strict([t(0)], ([s]) => new TextEncoder().encode(String(s)).length));
    case "ascii":
      if (!arity(1)) return null;
      return make("int4", strict([t(0)], ([s]) => String(s).codePointAt(0) ?? 0));
    case "chr":
      if (!arity(1)) return null;
      return make("text", strict([n(0)], ([c]) => String.fromCodePoint(c as number)));
    case "translate":
      if (!arity(3)) return null;
      return make(
        "text",
        strict([t(0), t(1), t(2)], ([s, from, to]) => {
          const f = chars(from);
          const tt = chars(to);
          return chars(s).map((c) => {
            const i = f.indexOf(c);
            return i < 0 ? c : tt[i] ?? "";
          }).join("");
        }),
      );
    default:
      return null;
  }
}

function numeric(arg: Compiled): Evaluate {
  return toType(arg, "numeric").evaluate;
}

function float(arg: Compiled): Evaluate {
  return toType(arg, "float8").evaluate;
}

/** floor/ceil/trunc of a numeric's text to `scale` fractional digits (scale >= 0). */
function roundTowards(value: string, scale: number, mode: "floor" | "ceil" | "trunc"): string {
  if (!/^-?\d+(\.\d+)?$/.test(value)) return value; // NaN, Infinity
  const places = Math.max(scale, 0);
  const negative = value.startsWith("-");
  const [whole, fraction = ""] = (negative ? value.slice(1) : value).split(".");
  const rest = /[1-9]/.test(fraction.slice(places));
  let digits = BigInt(whole + fraction.slice(0, places).padEnd(places, "0"));
  if (rest && ((mode === "floor" && negative) || (mode === "ceil" && !negative))) digits += 1n;
  const text = digits.toString().padStart(places + 1, "0");
  const out = places > 0 ? `${text.slice(0, -places)}.${text.slice(-places)}` : text;
  return negative && digits !== 0n ? `-${out}` : out;
}

function mathFunction(fn: string, args: Compiled[]): Compiled | null {
  const make = (type: SqlType, evaluate: Evaluate): Compiled => ({ type, evaluate });
  const arity = (...counts: number[]) => counts.includes(args.length);
  const first = args[0];
  switch (fn) {
    case "ceil":
    case "ceiling":
    case "floor":
      if (!arity(1)) return null;
      if (first.type === "numeric" || INTEGERS.has(first.type)) {
        const mode = fn === "floor" ? "floor" : "ceil";
        return make("numeric", strict([numeric(first)], ([v]) => roundTowards(String(v), 0, mode)));
      }
      return make(
        "float8",
        strict([float(first)], ([v]) => (fn === "floor" ? Math.floor : Math.ceil)(v as number)),
      );
    case "trunc":
      if (!arity(1, 2)) return null;
      if (first.type === "float8" || first.type === "float4") {
        if (args.length === 2) return null;
        return make("float8", strict([float(first)], ([v]) => Math.trunc(v as number)));
      }
      return make(
        "numeric",
        strict(
          args.length === 2 ? [numeric(first), int(args[1])] : [numeric(first)],
          ([v, s]) => roundTowards(String(v), (s as number | undefined) ?? 0, "trunc"),
        ),
      );
    case "sign":
      if (!arity(1)) return null;
      if (first.type === "float8" || first.type === "float4") {
        return make("float8", strict([float(first)], ([v]) => Math.sign(v as number)));
      }
      return make(
        "numeric",
        strict([numeric(first)], ([v]) => {
          const x = Number(v);
          return x > 0 ? "1" : x < 0 ? "-1" : "0";
        }),
      );
    case "mod":
    case "div":
      if (!arity(2)) return null;
      if (INTEGERS.has(args[0].type) && INTEGERS.has(args[1].type) && fn === "mod") {
        const type: SqlType = args[0].type === "int8" || args[1].type === "int8"
          ? "int8"
          : args[0].type === "int4" || args[1].type === "int4"
          ? "int4"
          : "int2";
        return make(
          type,
          strict([toType(args[0], "int8").evaluate, toType(args[1], "int8").evaluate], ([a, b]) => {
            if (b === 0n) throw new SqlError("22012", "division by zero");
            const r = (a as bigint) % (b as bigint);
            return type === "int8" ? r : Number(r);
          }),
        );
      }
      return make(
        "numeric",
        strict([numeric(args[0]), numeric(args[1])], ([a, b]) => {
          const x = BigInt(String(a).split(".")[0]);
          const y = BigInt(String(b).split(".")[0]);
          if (Number(b) === 0) throw new SqlError("22012", "division by zero");
          if (fn === "div") return fromDecimal(decimalFromBigInt(x / y));
          return fromDecimal(decimalFromBigInt(x % y));
        }),
      );
    case "power":
    case "pow":
      if (!arity(2)) return null;
      return make(
        "float8",
        strict([float(args[0]), float(args[1])], ([a, b]) => Math.pow(a as number, b as number)),
      );
    case "sqrt":
    case "exp":
    case "ln":
    case "cbrt":
      if (!arity(1)) return null;
      return make(
        "float8",
        strict([float(first)], ([v]) => {
          const x = v as number;
          if (fn === "sqrt" && x < 0) {
            throw new SqlError("2201F", "cannot take square root of a negative number");
          }
          if (fn === "ln" && x <= 0) {
            throw new SqlError(
              x === 0 ? "2201E" : "2201E",
              x === 0
                ? "cannot take logarithm of zero"
                : "cannot take logarithm of a negative number",
            );
          }
          return fn === "sqrt"
            ? Math.sqrt(x)
            : fn === "exp"
            ? Math.exp(x)
            : fn === "ln"
            ? Math.log(x)
            : Math.cbrt(x);
        }),
      );
    case "log":
      if (!arity(1)) return null;
      return make("float8", strict([float(first)], ([v]) => Math.log10(v as number)));
    case "pi":
      if (!arity(0)) return null;
      return make("float8", () => Math.PI);
    case "gcd":
    case "lcm":
      if (!arity(2) || !INTEGERS.has(args[0].type) || !INTEGERS.has(args[1].type)) return null;
      return make(
        args[0].type === "int8" || args[1].type === "int8" ? "int8" : "int4",
        strict([toType(args[0], "int8").evaluate, toType(args[1], "int8").evaluate], ([a, b]) => {
          let x = (a as bigint) < 0n ? -(a as bigint) : (a as bigint);
          let y = (b as bigint) < 0n ? -(b as bigint) : (b as bigint);
          const product = x * y;
          while (y !== 0n) [x, y] = [y, x % y];
          const r = fn === "gcd" ? x : x === 0n ? 0n : product / x;
          return args[0].type === "int8" || args[1].type === "int8" ? r : Number(r);
        }),
      );
    default:
      return null;
  }
}

const DAY_MICROS = 86_400_000_000n;

/** The parts of a timestamp (microseconds since the epoch, UTC). */
function parts(micros: bigint) {
  let days = micros / DAY_MICROS;
  let rest = micros % DAY_MICROS;
  if (rest < 0n) {
    rest += DAY_MICROS;
    days -= 1n;
  }
  const { year, month, day } = civilFromDays(Number(days));
  const seconds = Number(rest / 1_000_000n);
  return {
    days: Number(days),
    year,
    month,
    day,
    hour: Math.floor(seconds / 3600),
    minute: Math.floor((seconds % 3600) / 60),
    second: seconds % 60,
    micro: Number(rest % 1_000_000n),
  };
}

function timestampOf(type: SqlType, value: PgValue): bigint {
  return type === "date" ? dateToTimestamp(value as number) : value as bigint;
}

/** The fields whose value at +/-infinity is +/-Infinity; the others are NULL there. */
const UNBOUNDED_FIELDS = new Set(["year", "decade", "century", "millennium", "epoch", "isoyear"]);
const KNOWN_FIELDS = new Set([
  ...UNBOUNDED_FIELDS,
  "month",
  "day",
  "hour",
  "minute",
  "second",
  "milliseconds",
  "microseconds",
  "dow",
  "isodow",
  "doy",
  "quarter",
  "week",
]);

/** extract(field FROM source) as numeric text, as PostgreSQL 14+ returns it; NULL for some fields of infinity. */
function extractField(field: string, type: SqlType, value: PgValue): string | null {
  const micros = timestampOf(type, value);
  if (!isFiniteTimestamp(micros)) {
    const f = field.toLowerCase();
    if (KNOWN_FIELDS.has(f)) {
      if (!UNBOUNDED_FIELDS.has(f)) return null;
      return micros > 0n ? "Infinity" : "-Infinity";
    }
  }
  const p = parts(micros);
  const dow = ((p.days % 7) + 11) % 7; // 1970-01-01 was a Thursday (4)
  const doy = p.days - daysFromCivil(p.year, 1, 1) + 1;
  const seconds = () => `${p.second}.${String(p.micro).padStart(6, "0")}`;
  switch (field.toLowerCase()) {
    case "year":
      return String(p.year);
    case "month":
      return String(p.month);
    case "day":
      return String(p.day);
    case "hour":
      return String(p.hour);
    case "minute":
      return String(p.minute);
    case "second":
      return seconds();
    case "milliseconds":
      return (p.second * 1000 + p.micro / 1000).toFixed(3);
    case "microseconds":
      return String(p.second * 1_000_000 + p.micro);
    case "dow":
      return String(dow);
    case "isodow":
      return String(dow === 0 ? 7 : dow);
    case "doy":
      return String(doy);
    case "quarter":
      return String(Math.floor((p.month - 1) / 3) + 1);
    case "week":
    case "isoyear": {
      // ISO 8601: a week runs Monday to Sunday and belongs to the year of its Thursday.
      const thursday = p.days - ((dow + 6) % 7) + 3;
      const year = civilFromDays(thursday).year;
      if (field.toLowerCase() === "isoyear") return String(year);
      return String(Math.floor((thursday - daysFromCivil(year, 1, 1)) / 7) + 1);
    }
    case "decade":
      return String(Math.floor(p.year / 10));
    case "century":
      return String(p.year > 0 ? Math.floor((p.year - 1) / 100) + 1 : Math.floor(p.year / 100));
    case "millennium":
      return String(p.year > 0 ? Math.floor((p.year - 1) / 1000) + 1 : Math.floor(p.year / 1000));
    case "epoch": {
      if (type === "date") return String(BigInt(value as number) * 86400n);
      const whole = micros / 1_000_000n;
      const frac = micros % 1_000_000n;
      const negative = micros < 0n && frac !== 0n;
      const seconds = negative ? whole - 1n : whole;
      const fraction = negative ? 1_000_000n + frac : frac;
      return `${seconds}.${String(fraction).padStart(6, "0")}`;
    }
    default:
      throw new SqlError(
        "22023",
        `unit "${field.toLowerCase()}" not recognized for type ${
          type === "date"
            ? "date"
            : type === "timestamptz"
            ? "timestamp with time zone"
            : "timestamp without time zone"
        }`,
      );
  }
}

function truncate(field: string, micros: bigint): bigint {
  if (!isFiniteTimestamp(micros)) return micros;
  const p = parts(micros);
  const at = (y: number, m: number, d: number, h = 0, mi = 0, s = 0, us = 0) =>
    BigInt(daysFromCivil(y, m, d)) * DAY_MICROS +
    BigInt(((h * 60 + mi) * 60 + s) * 1_000_000 + us);
  switch (field.toLowerCase()) {
    case "microseconds":
      return micros;
    case "milliseconds":
      return at(p.year, p.month, p.day, p.hour, p.minute, p.second, p.micro - (p.micro % 1000));
    case "second":
      return at(p.year, p.month, p.day, p.hour, p.minute, p.second);
    case "minute":
      return at(p.year, p.month, p.day, p.hour, p.minute);
    case "hour":
      return at(p.year, p.month, p.day, p.hour);
    case "day":
      return at(p.year, p.month, p.day);
    case "week": {
      const dow = ((p.days % 7) + 10) % 7; // Monday 0
      return BigInt(p.days - dow) * DAY_MICROS;
    }
    case "month":
      return at(p.year, p.month, 1);
    case "quarter":
      return at(p.year, Math.floor((p.month - 1) / 3) * 3 + 1, 1);
    case "year":
      return at(p.year, 1, 1);
    case "decade":
      return at(Math.floor(p.year / 10) * 10, 1, 1);
    case "century":
      return at(Math.floor((p.year - 1) / 100) * 100 + 1, 1, 1);
    default:
      throw new SqlError(
        "22023",
        `unit "${field.toLowerCase()}" not recognized for type timestamp without time zone`,
      );
  }
}

const DATELIKE: ReadonlySet<SqlType> = new Set(["date", "timestamp", "timestamptz"]);

function dateFunction(fn: string, args: Compiled[]): Compiled | null {
  switch (fn) {
    case "extract":
    case "date_part": {
      if (args.length !== 2) return null;
      let source = args[1];
      if (source.type === "unknown") source = toType(source, "timestamp");
      const field = text(args[0]);
      if (source.type === "interval") {
        return {
          type: fn === "extract" ? "numeric" : "float8",
          evaluate: strict([field, source.evaluate], ([f, v]) => {
            const out = extractInterval(String(f), v);
            return fn === "extract" ? out : Number(out);
          }),
        };
      }
      if (!DATELIKE.has(source.type)) return null;
      const type = source.type;
      return {
        type: fn === "extract" ? "numeric" : "float8",
        evaluate: strict([field, source.evaluate], ([f, v]) => {
          const out = extractField(String(f), type, v);
          if (out === null) return null;
          return fn === "extract" ? out : Number(out);
        }),
      };
    }
    case "date_trunc": {
      if (args.length !== 2) return null;
      let source = args[1];
      if (source.type === "unknown") source = toType(source, "timestamp");
      if (!DATELIKE.has(source.type)) return null;
      // A date goes in as timestamptz (the preferred type of its category), as in PostgreSQL.
      const type = source.type === "date" ? "timestamptz" : source.type;
      const from = source.type;
      return {
        type,
        evaluate: strict(
          [text(args[0]), source.evaluate],
          ([f, v]) => truncate(String(f), timestampOf(from, v)),
        ),
      };
    }
    case "make_date":
      if (args.length !== 3) return null;
      return {
        type: "date",
        evaluate: strict(
          [int(args[0]), int(args[1]), int(args[2])],
          ([y, m, d]) => daysFromCivil(y as number, m as number, d as number),
        ),
      };
    default:
      return null;
  }
}

/** A function of this file, or null when `fn` is none of them (or the arguments do not fit). */
export function moreFunctions(
  fn: string,
  args: Compiled[],
  helpers: FunctionSupport,
): Compiled | null {
  support = helpers;
  return stringFunction(fn, args) ?? mathFunction(fn, args) ?? dateFunction(fn, args) ??
    regexFunction(fn, args) ?? miscFunction(fn, args) ?? arrayFunction(fn, args, support);
}

/** The regular expression functions (documentation 9.7.3), over regex.ts. */
function regexFunction(fn: string, args: Compiled[]): Compiled | null {
  const t = (i: number) => text(args[i]);
  const flagsOf = (value: PgValue | undefined): RegexFlags => parseFlags(String(value ?? ""));
  switch (fn) {
    case "substring":
      return {
        type: "text",
        evaluate: strict([t(0), t(1)], ([s, p]) => {
          const re = compilePattern(String(p), flagsOf(""), { extracting: true });
          const m = re.exec(checkInput(String(s)));
          if (m === null) return null;
          return m.length > 1 ? m[1] ?? null : m[0];
        }),
      };
    case "regexp_like":
      if (args.length !== 2 && args.length !== 3) return null;
      return {
        type: "bool",
        evaluate: strict(args.map((_, i) => t(i)), ([s, p, f]) => {
          const flags = flagsOf(f);
          if (flags.global) {
            throw new SqlError("22023", 'regexp_like() does not support the "global" option');
          }
          const re = compilePattern(String(p), flags, { extracting: false });
          return re.test(checkInput(String(s)));
        }),
      };
    case "regexp_match":
      if (args.length !== 2 && args.length !== 3) return null;
      return {
        type: "text[]",
        evaluate: strict(args.map((_, i) => t(i)), ([s, p, f]) => {
          const flags = flagsOf(f);
          if (flags.global) {
            throw new SqlError("22023", 'regexp_match() does not support the "global" option', {
              hint: "Use the regexp_matches function instead.",
            });
          }
          const m = compilePattern(String(p), flags, { extracting: true }).exec(
            checkInput(String(s)),
          );
          if (m === null) return null;
          return textArray(m.length > 1 ? m.slice(1).map((g) => g ?? null) : [m[0]]);
        }),
      };
    case "regexp_count":
      if (args.length < 2 || args.length > 4) return null;
      return {
        type: "int4",
        evaluate: strict(
          args.map((_, i) => (i === 2 ? int(args[i]) : t(i))),
          ([s, p, start, f]) => {
            const from = (start as number | undefined) ?? 1;
            if (from <= 0) {
              throw new SqlError("22023", `invalid value for parameter "start": ${from}`);
            }
            const re = compilePattern(String(p), flagsOf(f), { extracting: true });
            const cs = [...checkInput(String(s))];
            const input = cs.slice(from - 1).join("");
            let count = 0;
            for (let m = re.exec(input); m !== null; m = re.exec(input)) {
              count++;
              if (m[0] === "") advancePastEmpty(re, input);
            }
            return count;
          },
        ),
      };
    case "regexp_replace":
      if (args.length !== 3 && args.length !== 4) return null;
      if (args.length === 4 && !STRINGS.has(args[3].type)) return null;
      return {
        type: "text",
        evaluate: strict(args.map((_, i) => t(i)), ([s, p, r, f]) => {
          const flags = flagsOf(f);
          const re = compilePattern(String(p), flags, { extracting: true });
          const input = checkInput(String(s));
          const replacement = String(r);
          let out = "";
          let last = 0;
          for (let m = re.exec(input); m !== null; m = re.exec(input)) {
            out += input.slice(last, m.index) + expandReplacement(replacement, m);
            last = m.index + m[0].length;
            if (!flags.global) break;
            if (m[0] === "") advancePastEmpty(re, input);
          }
          return out + input.slice(last);
        }),
      };
    default:
      return null;
  }
}

/** format()'s %I: an identifier quoted when PostgreSQL's quote_ident would. */
function quoteIdent(s: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(s) && !RESERVED.has(s) ? s : `"${s.replace(/"/g, '""')}"`;
}

/** format()'s %L: quote_literal, E'' when a backslash is in it; NULL unquoted. */
function quoteLiteral(s: string | null): string {
  if (s === null) return "NULL";
  const quoted = s.replace(/'/g, "''");
  return s.includes("\\") ? `E'${quoted.replace(/\\/g, "\\\\")}'` : `'${quoted}'`;
}

const FORMAT_HINT = { hint: 'For a single "%" use "%%".' };

/** format(formatstr, ...) (documentation 9.4.1): %s %I %L %%, positions n$, flag -, widths. */
function formatString(spec: string, values: (string | null)[]): string {
  let out = "";
  let next = 0;
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i];
    if (c !== "%") {
      out += c;
      continue;
    }
    const m = /^%(?:(\d+)\$)?(-)?(\d+)?([a-zA-Z%]?)/.exec(spec.slice(i));
    if (m === null || (m[4] === "" && i + m[0].length >= spec.length)) {
      throw new SqlError("22023", "unterminated format() type specifier", FORMAT_HINT);
    }
    i += m[0].length - 1;
    const type = m[4];
    if (type === "%" && m[0] === "%%") {
      out += "%";
      continue;
    }
    if (type !== "s" && type !== "I" && type !== "L") {
      throw new SqlError(
        "22023",
        `unrecognized format() type specifier "${type === "" ? spec[i + 1] : type}"`,
        FORMAT_HINT,
      );
    }
    let index = next;
    if (m[1] !== undefined) {
      index = Number(m[1]) - 1;
      if (index < 0) {
        throw new SqlError(
          "22023",
          "format specifies argument 0, but arguments are numbered from 1",
        );
      }
    }
    if (index >= values.length) throw new SqlError("22023", "too few arguments for format()");
    next = index + 1;
    const value = values[index];
    let piece: string;
    if (type === "s") piece = value ?? "";
    else if (type === "L") piece = quoteLiteral(value);
    else {
      if (value === null) {
        throw new SqlError("22004", "null values cannot be formatted as an SQL identifier");
      }
      piece = quoteIdent(value);
    }
    const width = m[3] === undefined ? 0 : Number(m[3]);
    const length = [...piece].length;
    if (length < width) {
      piece = m[2] === "-"
        ? piece + " ".repeat(width - length)
        : " ".repeat(width - length) + piece;
    }
    out += piece;
  }
  return out;
}

function miscFunction(fn: string, args: Compiled[]): Compiled | null {
  switch (fn) {
    case "get_byte":
    case "set_byte": {
      if (args.length !== (fn === "get_byte" ? 2 : 3) || args[0].type !== "bytea") return null;
      const inputs = [args[0].evaluate, int(args[1]), ...(fn === "set_byte" ? [int(args[2])] : [])];
      return {
        type: fn === "get_byte" ? "int4" : "bytea",
        evaluate: strict(inputs, ([b, n, v]) => {
          const bytes = b as Uint8Array;
          const at = n as number;
          if (at < 0 || at >= bytes.length) {
            throw new SqlError(
              "2202E",
              `index ${at} out of valid range, 0..${bytes.length - 1}`,
            );
          }
          if (fn === "get_byte") return bytes[at];
          const out = bytes.slice();
          out[at] = (v as number) & 0xff;
          return out;
        }),
      };
    }
    case "md5":
      if (args.length !== 1) return null;
      if (args[0].type === "bytea") {
        return {
          type: "text",
          evaluate: strict(
            [args[0].evaluate],
            ([b]) => createHash("md5").update(b as Uint8Array).digest("hex"),
          ),
        };
      }
      if (!STRINGS.has(args[0].type)) return null;
      return {
        type: "text",
        evaluate: strict(
          [text(args[0])],
          ([s]) => createHash("md5").update(String(s), "utf8").digest("hex"),
        ),
      };
    case "sha224":
    case "sha256":
    case "sha384":
    case "sha512": {
      if (args.length !== 1) return null;
      const arg = args[0].type === "unknown" ? toType(args[0], "bytea") : args[0];
      if (arg.type !== "bytea") return null;
      return {
        type: "bytea",
        evaluate: strict(
          [arg.evaluate],
          ([b]) => new Uint8Array(createHash(fn).update(b as Uint8Array).digest()) as PgValue,
        ),
      };
    }
    case "clock_timestamp":
      if (args.length !== 0) return null;
      return {
        type: "timestamptz",
        evaluate: () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)),
      };
    case "statement_timestamp":
    case "transaction_timestamp":
      if (args.length !== 0) return null;
      return { type: "timestamptz", evaluate: (ctx) => ctx.nowMicros };
    case "num_nulls":
    case "num_nonnulls": {
      if (args.length === 0) return null;
      const evaluators = args.map((a) => a.evaluate);
      const nulls = fn === "num_nulls";
      return {
        type: "int4",
        evaluate: (ctx) => {
          let n = 0;
          for (const e of evaluators) if ((e(ctx) === null) === nulls) n++;
          return n;
        },
      };
    }
    case "encode":
    case "decode":
    case "convert_to":
    case "convert_from":
      return byteFunction(fn, args);
    case "format": {
      if (args.length < 1) return null;
      const [spec, ...rest] = args.map((a) => text(a));
      return {
        type: "text",
        evaluate: (ctx) => {
          const s = spec(ctx);
          if (s === null) return null;
          return formatString(String(s), rest.map((r) => r(ctx) as string | null));
        },
      };
    }
    default:
      return null;
  }
}

// encode/decode and convert_to/convert_from (documentation 9.5, "Binary String Functions") ----

function byteFunction(fn: string, args: Compiled[]): Compiled | null {
  if (args.length !== 2) return null;
  const bytesIn = fn === "encode" || fn === "convert_from";
  const first = toType(args[0], bytesIn ? "bytea" : "text");
  if (bytesIn ? first.type !== "bytea" : !STRINGS.has(first.type)) return null;
  if (!STRINGS.has(args[1].type)) return null;
  const type: SqlType = fn === "encode" || fn === "convert_from" ? "text" : "bytea";
  return {
    type,
    evaluate: strict([first.evaluate, text(args[1])], ([value, format]) => {
      const name = String(format);
      switch (fn) {
        case "encode":
          return encodeBytes(value as Uint8Array, name);
        case "decode":
          return decodeText(String(value), name) as PgValue;
        case "convert_to":
          return convertTo(String(value), name) as PgValue;
        default:
          return convertFrom(value as Uint8Array, name);
      }
    }),
  };
}

const HEX = "0123456789abcdef";

function unrecognized(format: string): SqlError {
  return new SqlError("22023", `unrecognized encoding: "${format}"`);
}

function encodeBytes(bytes: Uint8Array, format: string): string {
  switch (format.toLowerCase()) {
    case "hex": {
      let out = "";
      for (const b of bytes) out += HEX[b >> 4] + HEX[b & 15];
      return out;
    }
    case "base64": {
      // PostgreSQL's base64 breaks a line after every 76 characters.
      const all = btoa(latin1Text(bytes));
      return all.match(/.{1,76}/g)?.join("\n") ?? "";
    }
    case "escape": {
      // Zero bytes and bytes with the high bit set as \ooo, a backslash doubled.
      let out = "";
      for (const b of bytes) {
        if (b === 0 || b >= 0x80) out += "\\" + b.toString(8).padStart(3, "0");
        else if (b === 0x5c) out += "\\\\";
        else out += String.fromCharCode(b);
      }
      return out;
    }
    default:
      throw unrecognized(format);
  }
}

function decodeText(input: string, format: string): Uint8Array<ArrayBuffer> {
  switch (format.toLowerCase()) {
    case "hex": {
      const digits = input.replace(/[ \t\n\r]/g, "");
      const bad = [...digits].find((c) => !/[0-9a-fA-F]/.test(c));
      if (bad !== undefined) throw new SqlError("22023", `invalid hexadecimal digit: "${bad}"`);
      if (digits.length % 2 !== 0) {
        throw new SqlError("22023", "invalid hexadecimal data: odd number of digits");
      }
      const out = new Uint8Array(digits.length / 2);
      for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
      return out;
    }
    case "base64": {
      const clean = input.replace(/[ \t\n\r]/g, "");
      const bad = [...clean].find((c) => !/[A-Za-z0-9+/=]/.test(c));
      if (bad !== undefined) {
        throw new SqlError(
          "22023",
          `invalid symbol "${bad}" found while decoding base64 sequence`,
        );
      }
      let binary: string;
      try {
        if (clean.length % 4 !== 0) throw new RangeError("truncated");
        binary = atob(clean);
      } catch {
        throw new SqlError("22023", "invalid base64 end sequence", {
          hint: "Input data is missing padding, is truncated, or is otherwise corrupted.",
        });
      }
      return Uint8Array.from(binary, (c) => c.charCodeAt(0));
    }
    case "escape": {
      const out: number[] = [];
      const bytes = new TextEncoder().encode(input);
      for (let i = 0; i < bytes.length; i++) {
        if (bytes[i] !== 0x5c) {
          out.push(bytes[i]);
        } else if (bytes[i + 1] === 0x5c) {
          out.push(0x5c);
          i++;
        } else if (
          i + 3 < bytes.length &&
          [1, 2, 3].every((k) => bytes[i + k] >= 0x30 && bytes[i + k] <= 0x37)
        ) {
          out.push(parseInt(String.fromCharCode(bytes[i + 1], bytes[i + 2], bytes[i + 3]), 8));
          i += 3;
        } else {
          throw new SqlError("22P02", "invalid input syntax for type bytea");
        }
      }
      return new Uint8Array(out);
    }
    default:
      throw unrecognized(format);
  }
}

/** The encodings this server converts between: its own (UTF8), SQL_ASCII (bytes as they are), LATIN1. */
function encodingOf(name: string): "utf8" | "ascii" | "latin1" | null {
  const key = name.toLowerCase().replace(/[^a-z0-9]/g, "");
  if (key === "utf8" || key === "unicode") return "utf8";
  if (key === "sqlascii") return "ascii";
  if (key === "latin1" || key === "iso88591") return "latin1";
  return null;
}

function convertTo(value: string, name: string): Uint8Array<ArrayBuffer> {
  const encoding = encodingOf(name);
  if (encoding === null) {
    throw new SqlError("22023", `invalid destination encoding name "${name}"`);
  }
  if (encoding !== "latin1") return new TextEncoder().encode(value);
  const out = new Uint8Array(value.length);
  let n = 0;
  for (const c of value) {
    const code = c.codePointAt(0)!;
    if (code > 0xff) {
      const hex = [...new TextEncoder().encode(c)].map((b) => `0x${b.toString(16)}`).join(" ");
      throw new SqlError(
        "22P05",
        `character with byte sequence ${hex} in encoding "UTF8" has no equivalent in encoding "LATIN1"`,
      );
    }
    out[n++] = code;
  }
  return out.slice(0, n);
}

function convertFrom(bytes: Uint8Array, name: string): string {
  const encoding = encodingOf(name);
  if (encoding === null) throw new SqlError("22023", `invalid source encoding name "${name}"`);
  if (encoding === "latin1") return latin1Text(bytes);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const at = bytes.findIndex((b) => b >= 0x80);
    throw new SqlError(
      "22021",
      `invalid byte sequence for encoding "UTF8": 0x${(bytes[Math.max(at, 0)] ?? 0).toString(16)}`,
    );
  }
}

/** Each byte as the character of that code, in chunks (spreading a large array overflows the stack). */
function latin1Text(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}
