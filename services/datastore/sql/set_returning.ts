// Set-returning functions (PostgreSQL 15 documentation 9.25 "Set Returning
// Functions", 9.7.3 for the regexp ones, 9.16.1 for jsonb's): one
// definition per function, used both in FROM (a Function Scan) and in a
// select list (ProjectSet, executor.ts's #projectSet).
//
// A call is planned once (`setFunction`: argument types checked, the output
// columns known) and then started per input row (`rows`), which yields its
// rows one at a time, lazily: generate_series(1, 1e9) is never held, and a
// consumer that stops early (LIMIT) stops the work. The executor batches the
// rows and checks statement_timeout between batches.
//
// Functions: generate_series over integers, numeric and timestamps;
// unnest(array); regexp_matches (with 'g' every match, else the first) and
// regexp_split_to_table; regexp_split_to_array (a plain function, here
// for the shared splitting; string_to_array is arrays.ts's); jsonb_array_elements(_text),
// jsonb_each(_text), jsonb_object_keys, and their json (not jsonb) forms.
// unnest's element type is its argument's array type's (array_types.ts);
// for the catalog's text arrays, from the argument's expression (a cast to
// name[] or oid[]), text otherwise.
//
// Cost bounds: the regexp functions run regex.ts's checked patterns
// (length, nesting) on inputs of at most INPUT_CHARS_MAX characters, and
// refuse, as its other extracting functions do, the alternations and
// non-greedy quantifiers whose match may differ from PostgreSQL's.

import { formatText, parseText, type PgValue } from "../../../lib/pg/values.ts";
import { intervalFields } from "../../../lib/pg/interval.ts";
import type { Expr, FunctionCall } from "./ast.ts";
import { addIntervalToTimestamp, isFiniteTimestamp } from "./datetime.ts";
import { SqlError } from "./errors.ts";
import {
  type ArrayType,
  coerce,
  commonType,
  type Compiled,
  elementType as elementOf,
  type EvalContext,
  isArrayType,
  type SqlType,
  sqlTypeOf,
  toType,
  typeDisplayName,
  typeOid,
} from "./eval.ts";
import { type Json, jsonbText, JsonNumber, parseJsonb } from "./jsonb.ts";
import { addDecimal, compareDecimal, fromDecimal, toDecimal } from "./numeric.ts";
import { parseArray } from "./pg_catalog.ts";
import { arrayDimension, elementReader } from "./array_types.ts";
import { advancePastEmpty, checkInput, compilePattern, parseFlags, textArray } from "./regex.ts";

/** The functions of this file that return sets. */
export const SET_RETURNING: ReadonlySet<string> = new Set([
  "generate_series",
  "unnest",
  "generate_subscripts",
  "regexp_matches",
  "regexp_split_to_table",
  "jsonb_array_elements",
  "jsonb_array_elements_text",
  "jsonb_each",
  "jsonb_each_text",
  "jsonb_object_keys",
  "json_array_elements",
  "json_array_elements_text",
  "json_each",
  "json_each_text",
  "json_object_keys",
]);

/** A set-returning function's column names, before its call is planned (for `(f(...)).*`). */
export function setFunctionColumnNames(name: string): string[] {
  if (/^jsonb?_each(_text)?$/.test(name)) return ["key", "value"];
  if (/^jsonb?_array_elements(_text)?$/.test(name)) return ["value"];
  return [name];
}

export interface SetColumn {
  name: string;
  type: SqlType;
  /**
   * An OUT parameter's name (jsonb_array_elements' `value`): in FROM it
   * names the column whatever the alias; an unnamed result takes the alias.
   */
  named?: boolean;
}

/** A planned call of a set-returning function. */
export interface SetFunction {
  /** One column for most; jsonb_each has two (key, value). */
  columns: SetColumn[];
  /** Evaluates the arguments over `ctx`'s row and yields the call's rows. */
  rows(ctx: EvalContext): Iterator<PgValue[]>;
}

const EMPTY: Iterator<PgValue[]> = { next: () => ({ done: true, value: undefined }) };

/** 42725: every argument an untyped literal, and several versions would take them. */
function notUnique(name: string, args: Compiled[]): SqlError {
  return new SqlError(
    "42725",
    `function ${name}(${args.map(() => "unknown").join(", ")}) is not unique`,
    {
      hint:
        "Could not choose a best candidate function. You might need to add explicit type casts.",
    },
  );
}

function noFunction(name: string, args: Compiled[]): SqlError {
  return new SqlError(
    "42883",
    `function ${name}(${args.map((a) => typeDisplayName(a.type)).join(", ")}) does not exist`,
    {
      hint:
        "No function matches the given name and argument types. You might need to add explicit type casts.",
    },
  );
}

const INTEGERS: ReadonlySet<SqlType> = new Set(["int2", "int4", "int8"]);
const TEXTS: ReadonlySet<SqlType> = new Set(["text", "varchar", "bpchar", "unknown"]);

/** Plans `call` with its compiled arguments; throws 42883 when they fit no version. */
export function setFunction(
  call: FunctionCall,
  args: Compiled[],
  compile: (e: Expr) => Compiled,
): SetFunction {
  const name = call.name[call.name.length - 1];
  switch (name) {
    case "generate_series":
      return generateSeries(args);
    case "unnest":
      if (args.length > 1 && args.every((a) => isArrayType(a.type))) return unnestMany(args);
      if (args.length !== 1) throw noFunction(name, args);
      if (args[0].type === "unknown") throw notUnique(name, args);
      return unnest(call.args[0], args[0], compile);
    case "generate_subscripts":
      if ((args.length !== 2 && args.length !== 3) || !isArrayType(args[0].type)) {
        throw noFunction(name, args);
      }
      return generateSubscripts(args);
    case "regexp_matches":
      if (args.length < 2 || args.length > 3 || !args.every((a) => TEXTS.has(a.type))) {
        throw noFunction(name, args);
      }
      return regexpMatches(args);
    case "regexp_split_to_table":
      if (args.length < 2 || args.length > 3 || !args.every((a) => TEXTS.has(a.type))) {
        throw noFunction(name, args);
      }
      return {
        columns: [{ name, type: "text" }],
        rows(ctx) {
          const values = textArgs(args, ctx);
          if (values === null) return EMPTY;
          return split(values, "regexp_split_to_table").map((s) => [s])[Symbol.iterator]();
        },
      };
    default:
      return name.startsWith("jsonb_") ? jsonbSet(name, args) : jsonSet(name, args);
  }
}

/** The arguments as strings, or null when one is NULL (a strict function's empty set). */
function textArgs(args: Compiled[], ctx: EvalContext): string[] | null {
  const out: string[] = [];
  for (const a of args) {
    const v = coerce(a, "text").evaluate(ctx);
    if (v === null) return null;
    out.push(String(v));
  }
  return out;
}

// generate_series ------------------------------------------------------------------

function generateSeries(argsIn: Compiled[]): SetFunction {
  const name = "generate_series";
  if (argsIn.length !== 2 && argsIn.length !== 3) throw noFunction(name, argsIn);
  if (argsIn.every((a) => a.type === "unknown")) throw notUnique(name, argsIn);
  const bounds = argsIn.slice(0, 2);
  const known = bounds.map((a) => a.type).filter((t) => t !== "unknown");
  const datetimes = ["timestamp", "timestamptz", "date"];
  if (known.length > 0 && known.every((t) => datetimes.includes(t))) {
    // (timestamp[tz], timestamp[tz], interval): the step is required. A date
    // takes the timestamptz version, the preferred type of its category.
    const type: SqlType = known.every((t) => t === "timestamp") ? "timestamp" : "timestamptz";
    if (argsIn.length !== 3 || !["interval", "unknown"].includes(argsIn[2].type)) {
      throw noFunction(name, argsIn);
    }
    const [start, stop] = bounds.map((a) => toType(a, type).evaluate);
    const step = coerce(argsIn[2], "interval").evaluate;
    return {
      columns: [{ name, type }],
      rows(ctx) {
        const [a, b, s] = [start(ctx), stop(ctx), step(ctx)];
        if (a === null || b === null || s === null) return EMPTY;
        const span = intervalFields(s as string);
        if (span.months === 0 && span.days === 0 && span.micros === 0n) {
          throw new SqlError("22023", "step size cannot equal zero");
        }
        if (!isFiniteTimestamp(a as bigint) || !isFiniteTimestamp(b as bigint)) {
          throw new SqlError("22023", "start and stop values cannot be infinity");
        }
        return timestampSeries(a as bigint, b as bigint, span);
      },
    };
  }
  const types = argsIn.map((a) => a.type === "unknown" ? "int4" : a.type);
  if (!types.every((t) => INTEGERS.has(t) || t === "numeric")) throw noFunction(name, argsIn);
  const type: SqlType = types.includes("numeric")
    ? "numeric"
    : types.includes("int8")
    ? "int8"
    : "int4";
  const args = argsIn.map((a) => toType(a, type).evaluate);
  return {
    columns: [{ name, type }],
    rows(ctx) {
      const values = args.map((f) => f(ctx));
      if (values.some((v) => v === null)) return EMPTY;
      if (type === "numeric") {
        return numericSeries(values[0] as string, values[1] as string, values[2] as string);
      }
      const step = values.length === 3 ? BigInt(values[2] as number | bigint) : 1n;
      if (step === 0n) throw new SqlError("22023", "step size cannot equal zero");
      return integerSeries(
        BigInt(values[0] as number | bigint),
        BigInt(values[1] as number | bigint),
        step,
        type === "int8",
      );
    },
  };
}

function integerSeries(
  start: bigint,
  stop: bigint,
  step: bigint,
  wide: boolean,
): Iterator<PgValue[]> {
  if (wide) return bigintSeries(start, stop, step);
  // int4 bounds and step: every value fits a double exactly, so count in numbers
  // (a generator and bigint arithmetic per value cost several times more).
  let v = Number(start);
  const last = Number(stop);
  const by = Number(step);
  const result: IteratorResult<PgValue[]> = { done: false, value: [] };
  return {
    next() {
      if (by > 0 ? v > last : v < last) return { done: true, value: undefined };
      result.value = [v];
      v += by;
      return result;
    },
  };
}

function* bigintSeries(start: bigint, stop: bigint, step: bigint) {
  for (let v = start; step > 0n ? v <= stop : v >= stop; v += step) yield [v];
}

function* numericSeries(start: string, stop: string, stepText: string | undefined) {
  const step = toDecimal(stepText ?? "1");
  const [a, b] = [toDecimal(start), toDecimal(stop)];
  for (const [v, what] of [[a, "start"], [b, "stop"], [step, "step size"]] as const) {
    if (v === "NaN") throw new SqlError("22023", `${what} cannot be NaN`);
    if (v === "Infinity" || v === "-Infinity") {
      throw new SqlError("22023", `${what} cannot be infinity`);
    }
  }
  const sign = compareDecimal(step, toDecimal("0"));
  if (sign === 0) throw new SqlError("22023", "step size cannot equal zero");
  for (let v = a; sign > 0 ? compareDecimal(v, b) <= 0 : compareDecimal(v, b) >= 0;) {
    yield [fromDecimal(v)];
    v = addDecimal(v, step);
  }
}

function* timestampSeries(
  start: bigint,
  stop: bigint,
  span: ReturnType<typeof intervalFields>,
) {
  // The direction is the step's sign at the start, as generate_series_timestamp compares.
  const up = addIntervalToTimestamp(start, span) >= start;
  for (let v = start; up ? v <= stop : v >= stop; v = addIntervalToTimestamp(v, span)) yield [v];
}

// unnest ---------------------------------------------------------------------------------

/**
 * The element type an array expression's text holds (arrays are text, see
 * the top): a cast's (`'{1,2}'::int[]`), ARRAY[...]'s elements' common type,
 * else text.
 */
function elementType(expr: Expr, compile: (e: Expr) => Compiled): SqlType {
  let type: SqlType = "text";
  try {
    if (expr.kind === "cast" && expr.type.array) type = sqlTypeOf({ ...expr.type, array: false });
    else if (expr.kind === "array" && expr.elements.length > 0) {
      type = commonType(expr.elements.map((e) => compile(e).type), "ARRAY");
    }
  } catch {
    return "text";
  }
  return type === "unknown" ? "text" : type;
}

function unnest(expr: Expr, array: Compiled, compile: (e: Expr) => Compiled): SetFunction {
  const typed = isArrayType(array.type);
  if (!typed && array.type !== "text" && array.type !== "unknown") {
    throw noFunction("unnest", [array]);
  }
  const type = typed ? elementOf(array.type as ArrayType) : elementType(expr, compile);
  const oid = typeOid(type);
  const convert = type === "text" ? null : (s: string) => parseText(oid, s);
  const evaluate = array.evaluate;
  return {
    columns: [{ name: "unnest", type }],
    rows(ctx) {
      const a = evaluate(ctx);
      if (a === null) return EMPTY;
      const items = parseArray(String(a));
      return items.map((s) => [s === null || convert === null ? s : convert(s)])[
        Symbol.iterator
      ]();
    },
  };
}

/**
 * unnest(a, b, ...) in FROM: the arrays side by side, one column each, the
 * shorter ones padded with NULLs (the bulk-insert idiom `INSERT ... SELECT *
 * FROM unnest($1::int[], $2::text[])`). PostgreSQL allows it in FROM only;
 * here it also runs in a select list.
 */
function unnestMany(arrays: Compiled[]): SetFunction {
  const readers = arrays.map((a) => elementReader(elementOf(a.type as ArrayType)));
  return {
    columns: arrays.map((a) => ({ name: "unnest", type: elementOf(a.type as ArrayType) })),
    rows(ctx) {
      const lists = arrays.map((a, i) => {
        const v = a.evaluate(ctx);
        if (v === null) return [];
        return parseArray(String(v)).map((e) => (e === null ? null : readers[i](e)));
      });
      const length = Math.max(...lists.map((l) => l.length));
      let at = 0;
      return {
        next: () => {
          if (at >= length) return { done: true, value: undefined };
          const row = lists.map((l) => (at < l.length ? l[at] : null));
          at++;
          return { done: false, value: row };
        },
      };
    },
  };
}

/** generate_subscripts(array, dim [, reverse]): the subscripts of one dimension. */
function generateSubscripts(args: Compiled[]): SetFunction {
  return {
    columns: [{ name: "generate_subscripts", type: "int4" }],
    rows(ctx) {
      const a = args[0].evaluate(ctx);
      const dim = args[1].evaluate(ctx);
      const reverse = args[2]?.evaluate(ctx) === true;
      if (a === null || dim === null) return EMPTY;
      const lower = arrayDimension("array_lower", String(a), Number(dim));
      const upper = arrayDimension("array_upper", String(a), Number(dim));
      if (lower === null || upper === null) return EMPTY;
      const out: PgValue[][] = [];
      for (let i = Number(lower); i <= Number(upper); i++) out.push([i]);
      if (reverse) out.reverse();
      return out[Symbol.iterator]();
    },
  };
}

// regexp_matches and regexp_split_to_* -------------------------------------------------------

function regexpMatches(args: Compiled[]): SetFunction {
  return {
    columns: [{ name: "regexp_matches", type: "text" }],
    rows(ctx) {
      const values = textArgs(args, ctx);
      if (values === null) return EMPTY;
      const [s, p, f] = values;
      const flags = parseFlags(f ?? "");
      const re = compilePattern(p, flags, { extracting: true });
      const input = checkInput(s);
      const global = flags.global;
      let done = false;
      return {
        next() {
          if (done) return { done: true, value: undefined };
          const m = re.exec(input);
          if (m === null) {
            done = true;
            return { done: true, value: undefined };
          }
          if (!global) done = true;
          else if (m[0] === "") advancePastEmpty(re, input);
          const groups = m.length > 1 ? m.slice(1).map((g) => g ?? null) : [m[0]];
          return { done: false, value: [textArray(groups)] };
        },
      };
    },
  };
}

/**
 * regexp_split_to_table's pieces: the text between matches, ignoring the
 * degenerate ones PostgreSQL ignores (an empty match at the start or end of
 * the string, or right after the previous match).
 */
export function split(values: string[], fn: string): string[] {
  const [s, p, f] = values;
  const flags = parseFlags(f ?? "");
  if (flags.global) {
    throw new SqlError("22023", `${fn}() does not support the "global" option`);
  }
  const re = compilePattern(p, { ...flags, global: true }, { extracting: true });
  const input = checkInput(s);
  const out: string[] = [];
  let previousEnd = 0;
  let searchFrom = 0;
  while (searchFrom <= input.length) {
    re.lastIndex = searchFrom;
    const m = re.exec(input);
    if (m === null) break;
    const start = m.index;
    const end = start + m[0].length;
    if (start < input.length && end > previousEnd) {
      out.push(input.slice(previousEnd, start));
      previousEnd = end;
    }
    if (end === start) {
      // Past the character there, a surrogate pair whole (the RegExp counts code units).
      re.lastIndex = end;
      advancePastEmpty(re, input);
      searchFrom = re.lastIndex;
    } else searchFrom = end;
  }
  out.push(input.slice(previousEnd));
  return out;
}

/** regexp_split_to_array(s, pattern[, flags]) as a text[] (text here). */
export function regexpSplitToArray(args: Compiled[]): Compiled | null {
  if (args.length < 2 || args.length > 3 || !args.every((a) => TEXTS.has(a.type))) return null;
  return {
    type: "text",
    evaluate: (ctx) => {
      const values = textArgs(args, ctx);
      return values === null ? null : textArray(split(values, "regexp_split_to_array"));
    },
  };
}

// jsonb --------------------------------------------------------------------------------------

const encoder = new TextEncoder();

/** jsonb's key order: shorter first, then by bytes (the order jsonb stores them in). */
function jsonbKeyOrder(a: string, b: string): number {
  const ea = encoder.encode(a);
  const eb = encoder.encode(b);
  if (ea.length !== eb.length) return ea.length - eb.length;
  for (let i = 0; i < ea.length; i++) if (ea[i] !== eb[i]) return ea[i] - eb[i];
  return 0;
}

/** A jsonb value as text: strings unquoted, JSON null as SQL NULL (the _text variants). */
function asText(value: Json): PgValue {
  if (value === null) return null;
  if (typeof value === "string") return value;
  if (value instanceof JsonNumber) return value.text;
  return jsonbText(value);
}

function describe(value: Json): "an object" | "an array" | "a scalar" {
  return value instanceof Map ? "an object" : Array.isArray(value) ? "an array" : "a scalar";
}

function jsonbSet(name: string, args: Compiled[]): SetFunction {
  if (!SET_RETURNING.has(name) || args.length !== 1) throw noFunction(name, args);
  const arg = coerce(args[0], "jsonb");
  if (arg.type !== "jsonb") throw noFunction(name, args);
  const text = name.endsWith("_text");
  // A number, boolean or null prints as its own normalized text; strings and containers
  // go through jsonbText (PostgreSQL's escapes and spacing).
  const value = (v: Json): PgValue =>
    text
      ? asText(v)
      : v instanceof JsonNumber
      ? v.text
      : v === null || typeof v === "boolean"
      ? String(v)
      : jsonbText(v);
  const columns: SetColumn[] = name.startsWith("jsonb_each")
    ? [{ name: "key", type: "text" }, { name: "value", type: text ? "text" : "jsonb" }]
    : name === "jsonb_object_keys"
    ? [{ name, type: "text" }]
    : [{ name: "value", type: text ? "text" : "jsonb", named: true }];
  return {
    columns,
    rows(ctx) {
      const d = arg.evaluate(ctx);
      if (d === null) return EMPTY;
      const tree = parseJsonb(String(d));
      if (name.startsWith("jsonb_array_elements")) {
        if (!Array.isArray(tree)) {
          throw new SqlError(
            "22023",
            `cannot extract elements from ${tree instanceof Map ? "an object" : "a scalar"}`,
          );
        }
        return tree.map((v) => [value(v)])[Symbol.iterator]();
      }
      if (!(tree instanceof Map)) {
        throw new SqlError(
          "22023",
          name === "jsonb_object_keys"
            ? `cannot call ${name} on ${describe(tree)}`
            : `cannot call ${name} on a non-object`,
        );
      }
      const keys = [...tree.keys()].sort(jsonbKeyOrder);
      if (name === "jsonb_object_keys") return keys.map((k) => [k])[Symbol.iterator]();
      return keys.map((k) => [k, value(tree.get(k)!)])[Symbol.iterator]();
    },
  };
}

// json (not jsonb) -----------------------------------------------------------------------

/**
 * The json functions keep the document's own text: values as written
 * (whitespace inside them, escapes, key order and duplicate keys kept), as
 * PostgreSQL's json does. A scan of the (already valid) text finds each
 * member's span, with no tree built and no recursion, so any nesting depth
 * costs one pass.
 */
interface JsonMember {
  key: string | null;
  /** The value's text as written. */
  raw: string;
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && " \t\n\r".includes(text[i])) i++;
  return i;
}

/** The end of the string starting at `i` (a quote). */
function stringEnd(text: string, i: number): number {
  for (i++; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === '"') return i + 1;
  }
  return i;
}

/** The end of the value starting at `i`. */
function valueEnd(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return stringEnd(text, i);
  if (c !== "{" && c !== "[") {
    while (i < text.length && !",}] \t\n\r".includes(text[i])) i++;
    return i;
  }
  let depth = 0;
  while (i < text.length) {
    const d = text[i];
    if (d === '"') {
      i = stringEnd(text, i);
      continue;
    }
    if (d === "{" || d === "[") depth++;
    else if (d === "}" || d === "]") {
      depth--;
      if (depth === 0) return i + 1;
    }
    i++;
  }
  return i;
}

/** The kind of a json document and, for an array or object, its members in order. */
function jsonMembers(text: string): { kind: "object" | "array" | "scalar"; members: JsonMember[] } {
  let i = skipSpace(text, 0);
  const open = text[i];
  if (open !== "{" && open !== "[") return { kind: "scalar", members: [] };
  const object = open === "{";
  const members: JsonMember[] = [];
  i = skipSpace(text, i + 1);
  while (i < text.length && text[i] !== (object ? "}" : "]")) {
    let key: string | null = null;
    if (object) {
      const end = stringEnd(text, i);
      key = JSON.parse(text.slice(i, end)) as string;
      i = skipSpace(text, skipSpace(text, end) + 1); // past the colon
    }
    const end = valueEnd(text, i);
    members.push({ key, raw: text.slice(i, end) });
    i = skipSpace(text, end);
    if (text[i] === ",") i = skipSpace(text, i + 1);
  }
  return { kind: object ? "object" : "array", members };
}

/** A json value's text for the _text variants: a string decoded, null as SQL NULL. */
function jsonAsText(raw: string): PgValue {
  if (raw === "null") return null;
  return raw.startsWith('"') ? JSON.parse(raw) as string : raw;
}

function jsonSet(name: string, args: Compiled[]): SetFunction {
  if (!SET_RETURNING.has(name) || args.length !== 1) throw noFunction(name, args);
  const arg = coerce(args[0], "json");
  if (arg.type !== "json") throw noFunction(name, args);
  const text = name.endsWith("_text");
  const value = (raw: string): PgValue => text ? jsonAsText(raw) : raw;
  const columns: SetColumn[] = name.startsWith("json_each")
    ? [{ name: "key", type: "text" }, { name: "value", type: text ? "text" : "json" }]
    : name === "json_object_keys"
    ? [{ name, type: "text" }]
    : [{ name: "value", type: text ? "text" : "json", named: true }];
  return {
    columns,
    rows(ctx) {
      const d = arg.evaluate(ctx);
      if (d === null) return EMPTY;
      const { kind, members } = jsonMembers(String(d));
      if (name.startsWith("json_array_elements")) {
        if (kind !== "array") {
          throw new SqlError(
            "22023",
            `cannot call ${name} on ${kind === "object" ? "a non-array" : "a scalar"}`,
          );
        }
        return members.map((m) => [value(m.raw)])[Symbol.iterator]();
      }
      if (kind !== "object") {
        throw new SqlError(
          "22023",
          name === "json_object_keys"
            ? `cannot call ${name} on ${kind === "array" ? "an array" : "a scalar"}`
            : kind === "array"
            ? "cannot deconstruct an array as an object"
            : "cannot deconstruct a scalar",
        );
      }
      if (name === "json_object_keys") return members.map((m) => [m.key])[Symbol.iterator]();
      return members.map((m) => [m.key, value(m.raw)])[Symbol.iterator]();
    },
  };
}

/**
 * A row of several columns as a select-list value: PostgreSQL's record text,
 * `(a,1)`, each field quoted when it is empty or holds a delimiter, a quote,
 * a backslash or a space (record_out).
 */
export function recordText(values: PgValue[], types: SqlType[]): string {
  const fields = values.map((v, i) => {
    if (v === null) return "";
    const s = typeof v === "string" ? v : formatText(typeOid(types[i]), v);
    if (s === "" || /[(),"\\\s]/.test(s)) return `"${s.replace(/["\\]/g, (c) => c + c)}"`;
    return s;
  });
  return `(${fields.join(",")})`;
}
