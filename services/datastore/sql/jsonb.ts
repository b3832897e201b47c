// jsonb's operators and functions beyond -> and ->> (PostgreSQL 15
// documentation 9.16.1, tables 9.45-9.47; src/backend/utils/adt/jsonb_op.c,
// jsonfuncs.c, jsonb_util.c): #> and #>> by path, @> and <@ containment,
// ? ?| ?& key existence, || concatenation, - by key or index,
// jsonb_typeof, jsonb_array_length, jsonb_build_object, jsonb_build_array,
// to_jsonb, jsonb_set, jsonb_strip_nulls; and the json (not jsonb) to_json,
// row_to_json, json_build_object, json_build_array, whose text keeps json.c's
// spacing (`{"k" : 1}`, `[1, 2]`) and key order.
//
// A jsonb value travels as its normalized text (lib/pg/values.ts). Here it
// is parsed into a tree whose numbers keep their text (1.50 stays 1.50, as
// numeric keeps it), worked on, printed, and normalized again.
//
// Paths and key lists are text[] arrays, which this datastore carries as
// their text ('{a,b}', documentation 8.15.2); parseTextArray reads them.
//
// The set-returning jsonb_each, jsonb_array_elements and jsonb_object_keys
// are set_returning.ts's. Left out: jsonpath, jsonb_insert, the json (not
// jsonb) forms of these functions. An array (an array type, or a catalog
// array that arrays.ts ARRAY_VALUES marks) becomes a JSON array; other text
// a JSON string.

import { OID } from "../../../lib/pg/oids.ts";
import { formatText, parseText, type PgValue } from "../../../lib/pg/values.ts";
import { SqlError } from "./errors.ts";
import { arrayElementOf } from "./arrays.ts";
import { arrayToJsonText } from "./array_types.ts";
import type { Compiled, EvalContext, SqlType } from "./eval.ts";
import { compareDecimal, toDecimal } from "./numeric.ts";

/** A number with the text it was written with. */
export class JsonNumber {
  constructor(readonly text: string) {}
}

export type Json = null | boolean | string | JsonNumber | Json[] | Map<string, Json>;

/** What this file needs from eval.ts (handed in, to avoid an import cycle). */
export interface JsonbSupport {
  toType(value: Compiled, type: SqlType): Compiled;
  typeOid(type: SqlType): number;
}

type Evaluate = (ctx: EvalContext) => PgValue;

/** A jsonb value's tree (the text is already valid and normalized). */
export function parseJsonb(text: string): Json {
  return JSON.parse(text, function (_key, value, context?: { source?: string }) {
    if (typeof value === "number") return new JsonNumber(context?.source ?? String(value));
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      return new Map(Object.entries(value as Record<string, Json>));
    }
    return value;
  });
}

function print(value: Json): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return String(value);
  if (typeof value === "string") return JSON.stringify(value);
  if (value instanceof JsonNumber) return value.text;
  if (Array.isArray(value)) return `[${value.map(print).join(",")}]`;
  return `{${[...value].map(([k, v]) => `${JSON.stringify(k)}:${print(v)}`).join(",")}}`;
}

/** jsonb_pretty's layout: one member or element a line, four spaces a level. */
function pretty(value: Json, level: number): string {
  const pad = "    ".repeat(level);
  const inner = pad + "    ";
  if (Array.isArray(value)) {
    if (value.length === 0) return `[\n${pad}]`;
    return `[\n${value.map((v) => inner + pretty(v, level + 1)).join(",\n")}\n${pad}]`;
  }
  if (isObject(value)) {
    if (value.size === 0) return `{\n${pad}}`;
    const members = [...value].map(([k, v]) =>
      `${inner}${JSON.stringify(k)}: ${pretty(v, level + 1)}`
    );
    return `{\n${members.join(",\n")}\n${pad}}`;
  }
  return print(value);
}

/** Rank of a JSON kind in jsonb's B-tree order (documentation 8.14.4). */
function kindRank(value: Json): number {
  if (value === null) return 0;
  if (typeof value === "string") return 1;
  if (value instanceof JsonNumber) return 2;
  if (typeof value === "boolean") return 3;
  return Array.isArray(value) ? 4 : 5;
}

function compareTrees(a: Json, b: Json, top: boolean): number {
  // "For historical reasons, an empty top-level array sorts less than null."
  const rank = (v: Json) => (top && Array.isArray(v) && v.length === 0 ? -1 : kindRank(v));
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  if (a === null || b === null) return 0;
  if (typeof a === "string") {
    const x = b as string;
    return a === x ? 0 : a < x ? -1 : 1; // code unit order is code point order outside surrogates
  }
  if (a instanceof JsonNumber) {
    return compareDecimal(toDecimal(a.text), toDecimal((b as JsonNumber).text));
  }
  if (typeof a === "boolean") return a === b ? 0 : a ? 1 : -1;
  if (Array.isArray(a)) {
    const y = b as Json[];
    if (a.length !== y.length) return a.length < y.length ? -1 : 1;
    for (let i = 0; i < a.length; i++) {
      const c = compareTrees(a[i], y[i], false);
      if (c !== 0) return c;
    }
    return 0;
  }
  const x = [...(a as Map<string, Json>)];
  const y = [...(b as Map<string, Json>)];
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  // Keys in jsonb's storage order: shorter first, then bytewise.
  const order = (p: [string, Json], q: [string, Json]) =>
    p[0].length - q[0].length || (p[0] < q[0] ? -1 : p[0] > q[0] ? 1 : 0);
  x.sort(order);
  y.sort(order);
  for (let i = 0; i < x.length; i++) {
    // Pairs meet in storage order, but their keys compare as strings: {"aa": 1} < {"b": 0}.
    const [p, q] = [x[i][0], y[i][0]];
    if (p !== q) return p < q ? -1 : 1;
    const c = compareTrees(x[i][1], y[i][1], false);
    if (c !== 0) return c;
  }
  return 0;
}

/**
 * jsonb's ordering (ORDER BY, <, DISTINCT): object > array > boolean >
 * number > string > null; longer containers after shorter ones, then
 * element by element (objects pair by pair in key order); numbers as
 * numbers, so 5 sorts before 10.
 */
export function compareJsonb(a: string, b: string): number {
  if (a === b) return 0;
  return compareTrees(parseJsonb(a), parseJsonb(b), true);
}

/** A tree as jsonb's normalized text. */
export function jsonbText(value: Json): string {
  return parseText(OID.jsonb, print(value)) as string;
}

function isObject(value: Json): value is Map<string, Json> {
  return value instanceof Map;
}

function isScalar(value: Json): boolean {
  return !Array.isArray(value) && !isObject(value);
}

function typeOf(value: Json): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "string") return "string";
  if (value instanceof JsonNumber) return "number";
  return Array.isArray(value) ? "array" : "object";
}

/** Equality of two scalars as jsonb compares them (numbers by value). */
function scalarEqual(a: Json, b: Json): boolean {
  if (a instanceof JsonNumber && b instanceof JsonNumber) {
    return parseText(OID.numeric, a.text) === parseText(OID.numeric, b.text) ||
      Number(a.text) === Number(b.text);
  }
  return a === b;
}

/**
 * JsonbDeepContains: every pair of an object on the right is in the left's,
 * every element of an array on the right is in some element of the left's
 * (a scalar on the right may match a scalar element of an array).
 */
function contains(a: Json, b: Json): boolean {
  if (isObject(b)) {
    if (!isObject(a)) return false;
    for (const [k, v] of b) {
      if (!a.has(k)) return false;
      const mine = a.get(k)!;
      if (isScalar(v) ? !(isScalar(mine) && scalarEqual(mine, v)) : !contains(mine, v)) {
        return false;
      }
    }
    return true;
  }
  if (Array.isArray(b)) {
    if (!Array.isArray(a)) return false;
    return b.every((item) =>
      isScalar(item)
        ? a.some((mine) => isScalar(mine) && scalarEqual(mine, item))
        : a.some((mine) => !isScalar(mine) && contains(mine, item))
    );
  }
  if (Array.isArray(a)) return a.some((mine) => isScalar(mine) && scalarEqual(mine, b));
  return isScalar(a) && scalarEqual(a, b);
}

/** A text[] constant's elements ('{a,"b c",NULL}'), documentation 8.15.2; one dimension. */
export function parseTextArray(text: string): (string | null)[] {
  const malformed = () =>
    new SqlError("22P02", `malformed array literal: "${text}"`, {
      detail: 'Array value must start with "{" or dimension information.',
    });
  const trimmed = text.trim();
  if (!trimmed.startsWith("{") || !trimmed.endsWith("}")) throw malformed();
  const body = trimmed.slice(1, -1);
  const out: (string | null)[] = [];
  if (body.trim() === "") return out;
  let at = 0;
  while (at <= body.length) {
    while (body[at] === " ") at++;
    let item = "";
    let quoted = false;
    if (body[at] === '"') {
      quoted = true;
      at++;
      while (at < body.length && body[at] !== '"') {
        if (body[at] === "\\") at++;
        item += body[at++] ?? "";
      }
      at++;
    } else {
      while (at < body.length && body[at] !== ",") {
        if (body[at] === "\\") at++;
        item += body[at++] ?? "";
      }
      item = item.trim();
    }
    while (body[at] === " ") at++;
    out.push(!quoted && item.toUpperCase() === "NULL" ? null : item);
    if (at >= body.length) break;
    if (body[at] !== ",") throw malformed();
    at++;
  }
  return out;
}

/** An array index from a path element, as jsonb_get_element reads it; null when not an integer. */
function pathIndex(step: string): number | null {
  return /^\s*[+-]?\d+\s*$/.test(step) ? Number(step) : null;
}

/** #> : the element at a path, or undefined when there is none. */
function atPath(value: Json, path: (string | null)[]): Json | undefined {
  let at: Json = value;
  for (const step of path) {
    if (step === null) return undefined;
    if (isObject(at)) {
      if (!at.has(step)) return undefined;
      at = at.get(step)!;
    } else if (Array.isArray(at)) {
      const i = pathIndex(step);
      if (i === null) return undefined;
      const element: Json | undefined = at[i < 0 ? at.length + i : i];
      if (element === undefined) return undefined;
      at = element;
    } else return undefined;
  }
  return at;
}

/** The text ->> and #>> give: a string's contents, null for JSON null, else jsonb text. */
function asText(value: Json): PgValue {
  if (value === null) return null;
  if (typeof value === "string") return value;
  return jsonbText(value);
}

/**
 * jsonb -> key or index, and ->> (`asText`): a field of an object, an
 * element of an array (negative from the end), or a scalar itself at index
 * 0 and -1 (jsonb keeps a scalar as a one-element raw array).
 */
export function jsonbGet(document: string, key: string | number | bigint, text: boolean): PgValue {
  const value = parseJsonb(document);
  let field: Json | undefined;
  if (typeof key === "string") {
    if (!isObject(value)) return null;
    field = value.get(key);
  } else if (Array.isArray(value)) {
    const i = Number(key);
    field = value[i < 0 ? value.length + i : i];
  } else if (!isObject(value) && (Number(key) === 0 || Number(key) === -1)) field = value;
  if (field === undefined) return null;
  return text ? asText(field) : jsonbText(field);
}

/** jsonb || jsonb (jsonb_concat). */
function concat(a: Json, b: Json): Json {
  if (isObject(a) && isObject(b)) return new Map([...a, ...b]);
  const left = Array.isArray(a) ? a : [a];
  const right = Array.isArray(b) ? b : [b];
  return [...left, ...right];
}

/** jsonb - text: a key from an object, or equal strings from an array. */
function deleteKey(a: Json, key: string): Json {
  if (isObject(a)) {
    const out = new Map(a);
    out.delete(key);
    return out;
  }
  if (Array.isArray(a)) return a.filter((item) => item !== key);
  throw new SqlError("22023", "cannot delete from scalar");
}

/** jsonb - integer: an array element (negative from the end). */
function deleteIndex(a: Json, index: number): Json {
  if (isObject(a)) throw new SqlError("22023", "cannot delete from object using integer index");
  if (!Array.isArray(a)) throw new SqlError("22023", "cannot delete from scalar");
  const i = index < 0 ? a.length + index : index;
  return a.filter((_, j) => j !== i);
}

/** jsonb_set(target, path, value, create_if_missing). */
function setPath(
  target: Json,
  path: (string | null)[],
  value: Json,
  create: boolean,
  depth = 0,
): Json {
  if (path.length === 0) return target;
  const step = path[depth];
  if (step === null) {
    throw new SqlError("22004", `path element at position ${depth + 1} is null`);
  }
  const last = depth === path.length - 1;
  if (isObject(target)) {
    const out = new Map(target);
    if (out.has(step)) {
      out.set(step, last ? value : setPath(out.get(step)!, path, value, create, depth + 1));
    } else if (last && create) out.set(step, value);
    return out;
  }
  if (Array.isArray(target)) {
    const index = pathIndex(step);
    if (index === null) {
      throw new SqlError(
        "22P02",
        `path element at position ${depth + 1} is not an integer: "${step}"`,
      );
    }
    const out = [...target];
    let i = index < 0 ? out.length + index : index;
    if (i >= 0 && i < out.length) {
      out[i] = last ? value : setPath(out[i], path, value, create, depth + 1);
    } else if (last && create) {
      if (i < 0) i = 0;
      if (i === 0 && index < 0) out.unshift(value);
      else out.push(value);
    }
    return out;
  }
  if (depth === 0) throw new SqlError("22023", "cannot set path in scalar");
  return target;
}

function stripNulls(value: Json): Json {
  if (isObject(value)) {
    const out = new Map<string, Json>();
    for (const [k, v] of value) if (v !== null) out.set(k, stripNulls(v));
    return out;
  }
  if (Array.isArray(value)) return value.map(stripNulls);
  return value;
}

// SQL values to jsonb (to_jsonb, jsonb_build_*) -------------------------------------

/** to_jsonb of a value of `type` (datum_to_jsonb): numbers as numbers, dates in ISO 8601 with a T. */
export function toJson(type: SqlType, value: PgValue, oidOf: (type: SqlType) => number): Json {
  if (value === null) return null;
  switch (type) {
    case "jsonb":
    case "json":
      return parseJsonb(parseText(OID.jsonb, value as string) as string);
    case "bool":
      return value as boolean;
    case "int2":
    case "int4":
    case "int8":
      return new JsonNumber(String(value));
    case "numeric":
    case "float4":
    case "float8": {
      const text = formatText(oidOf(type), value);
      return /^-?\d/.test(text) && !/Infinity|NaN/.test(text) ? new JsonNumber(text) : text;
    }
    case "timestamp":
    case "timestamptz":
      return formatText(oidOf(type), value).replace(" ", "T").replace(/\+00$/, "+00:00");
    default:
      return type === "unknown" ? value as string : formatText(oidOf(type), value);
  }
}

/** An array element's value from its text. */
function elementValue(element: SqlType, text: string, oidOf: (type: SqlType) => number): PgValue {
  return element === "text" || element === "varchar" || element === "bpchar"
    ? text
    : parseText(oidOf(element), text);
}

/** A SQL value as JSON text (not yet normalized); SQL NULL is JSON null. */
export function jsonOf(type: SqlType, value: PgValue, oidOf: (type: SqlType) => number): string {
  return print(toJson(type, value, oidOf));
}

/**
 * A SQL value as json (not jsonb) text, as json.c's datum_to_json writes it:
 * json values verbatim, jsonb in its normalized text, NULL as null.
 */
export function jsonValueText(
  type: SqlType,
  value: PgValue,
  oidOf: (type: SqlType) => number,
  element?: SqlType,
): string {
  if (value === null) return "null";
  if (element !== undefined) {
    // An array (its text form) of `element` values: array_to_json's `[1,2]`, `[[1],[2]]`.
    const leaf = (e: string | null) =>
      e === null ? "null" : jsonValueText(element, elementValue(element, e, oidOf), oidOf);
    try {
      return arrayToJsonText(value as string, leaf);
    } catch {
      return `[${parseTextArray(value as string).map(leaf).join(",")}]`; // a catalog text array
    }
  }
  if (type === "json" || type === "jsonb") return value as string;
  return print(toJson(type, value, oidOf));
}

// Compiling -----------------------------------------------------------------------

function strict(type: SqlType, args: Evaluate[], f: (values: PgValue[]) => PgValue): Compiled {
  return {
    type,
    evaluate: (ctx) => {
      const values: PgValue[] = [];
      for (const arg of args) {
        const v = arg(ctx);
        if (v === null) return null;
        values.push(v);
      }
      return f(values);
    },
  };
}

const tree = (v: PgValue) => parseJsonb(v as string);

/** A jsonb operator (#> #>> @> <@ ? ?| ?& || -), or null when `op` over these types is none. */
export function jsonbOperator(
  op: string,
  leftIn: Compiled,
  rightIn: Compiled,
  support: JsonbSupport,
): Compiled | null {
  const asJsonb = (c: Compiled) => (c.type === "unknown" ? support.toType(c, "jsonb") : c);
  const textArg = (c: Compiled) => (c.type === "unknown" ? support.toType(c, "text") : c);
  const textLike = (t: SqlType) => t === "text" || t === "varchar" || t === "bpchar";
  const left = leftIn.type === "unknown" && op !== "-" ? asJsonb(leftIn) : leftIn;
  if (left.type !== "jsonb") {
    if (op === "||" && rightIn.type === "jsonb" && leftIn.type === "unknown") {
      return jsonbOperator(op, asJsonb(leftIn), rightIn, support);
    }
    if (op === "<@" && rightIn.type === "jsonb") {
      return jsonbOperator(op, asJsonb(leftIn), rightIn, support);
    }
    return null;
  }
  switch (op) {
    case "#>":
    case "#>>": {
      const right = textArg(rightIn);
      if (!textLike(right.type)) return null;
      return strict(op === "#>" ? "jsonb" : "text", [left.evaluate, right.evaluate], ([d, p]) => {
        const found = atPath(tree(d), parseTextArray(p as string));
        if (found === undefined) return null;
        return op === "#>" ? jsonbText(found) : asText(found);
      });
    }
    case "@>":
    case "<@": {
      const right = asJsonb(rightIn);
      if (right.type !== "jsonb") return null;
      return strict(
        "bool",
        [left.evaluate, right.evaluate],
        ([a, b]) => op === "@>" ? contains(tree(a), tree(b)) : contains(tree(b), tree(a)),
      );
    }
    case "?":
    case "?|":
    case "?&": {
      const right = textArg(rightIn);
      if (!textLike(right.type)) return null;
      // A text[] literal is read while the statement is analysed, as PostgreSQL's
      // array input does: a malformed one fails even when no row is read.
      const literal = rightIn.constant?.value;
      if (op !== "?" && rightIn.type === "unknown" && typeof literal === "string") {
        parseTextArray(literal);
      }
      return strict("bool", [left.evaluate, right.evaluate], ([d, k]) => {
        const value = tree(d);
        const has = (key: string) =>
          isObject(value)
            ? value.has(key)
            : Array.isArray(value)
            ? value.some((item) => item === key)
            : value === key;
        if (op === "?") return has(k as string);
        const keys = parseTextArray(k as string).filter((key): key is string => key !== null);
        return op === "?|" ? keys.some(has) : keys.every(has);
      });
    }
    case "||": {
      const right = asJsonb(rightIn);
      if (right.type !== "jsonb") return null;
      return strict(
        "jsonb",
        [left.evaluate, right.evaluate],
        ([a, b]) => jsonbText(concat(tree(a), tree(b))),
      );
    }
    case "-": {
      const right = rightIn.type === "unknown" ? support.toType(rightIn, "text") : rightIn;
      if (textLike(right.type)) {
        return strict(
          "jsonb",
          [left.evaluate, right.evaluate],
          ([a, k]) => jsonbText(deleteKey(tree(a), k as string)),
        );
      }
      if (right.type === "int2" || right.type === "int4") {
        return strict(
          "jsonb",
          [left.evaluate, right.evaluate],
          ([a, i]) => jsonbText(deleteIndex(tree(a), i as number)),
        );
      }
      return null;
    }
    default:
      return null;
  }
}

/** The jsonb functions of this file, or null for another name or arguments that do not fit. */
export function jsonbFunction(
  fn: string,
  args: Compiled[],
  support: JsonbSupport,
): Compiled | null {
  const jsonbArg = (c: Compiled) => (c.type === "unknown" ? support.toType(c, "jsonb") : c);
  const value = (c: Compiled): Evaluate => {
    const type = c.type === "unknown" ? "text" : c.type;
    const evaluate = c.evaluate;
    const element = arrayElementOf(c);
    return (ctx) => {
      const v = evaluate(ctx);
      if (v === null) return null;
      return element === undefined
        ? print(toJson(type, v, support.typeOid))
        : jsonValueText(type, v, support.typeOid, element);
    };
  };
  switch (fn) {
    case "jsonb_typeof": {
      if (args.length !== 1) return null;
      const a = jsonbArg(args[0]);
      if (a.type !== "jsonb") return null;
      return strict("text", [a.evaluate], ([d]) => typeOf(tree(d)));
    }
    case "jsonb_pretty": {
      if (args.length !== 1) return null;
      const a = jsonbArg(args[0]);
      if (a.type !== "jsonb") return null;
      return strict("text", [a.evaluate], ([d]) => pretty(tree(d), 0));
    }
    case "jsonb_array_length": {
      if (args.length !== 1) return null;
      const a = jsonbArg(args[0]);
      if (a.type !== "jsonb") return null;
      return strict("int4", [a.evaluate], ([d]) => {
        const v = tree(d);
        if (Array.isArray(v)) return v.length;
        throw new SqlError(
          "22023",
          isObject(v)
            ? "cannot get array length of a non-array"
            : "cannot get array length of a scalar",
        );
      });
    }
    case "to_jsonb": {
      if (args.length !== 1) return null;
      if (args[0].type === "unknown") {
        throw new SqlError(
          "42804",
          "could not determine polymorphic type because input has type unknown",
        );
      }
      const v = value(args[0]);
      return strict("jsonb", [v], ([text]) => jsonbText(parseJsonb(text as string)));
    }
    case "jsonb_build_object": {
      if (args.length % 2 !== 0) {
        throw new SqlError("22023", "argument list must have even number of elements", {
          hint:
            "The arguments of jsonb_build_object() must consist of alternating keys and values.",
        });
      }
      const keys = args.filter((_, i) => i % 2 === 0).map((c) => {
        const type = c.type === "unknown" ? "text" : c.type;
        const evaluate = c.evaluate;
        return (ctx: EvalContext) => {
          const v = evaluate(ctx);
          return v === null
            ? null
            : type === "text" || type === "varchar" || type === "bpchar"
            ? v as string
            : formatText(support.typeOid(type), v);
        };
      });
      const values = args.filter((_, i) => i % 2 === 1).map(value);
      return {
        type: "jsonb",
        evaluate: (ctx) => {
          const out = new Map<string, Json>();
          for (let i = 0; i < keys.length; i++) {
            const k = keys[i](ctx);
            if (k === null) {
              throw new SqlError("22023", `argument ${2 * i + 1}: key must not be null`);
            }
            const v = values[i](ctx);
            out.set(k as string, v === null ? null : parseJsonb(v as string));
          }
          return jsonbText(out);
        },
      };
    }
    case "to_json":
    case "array_to_json":
    case "row_to_json": {
      // row_to_json takes a row (the executor's whole-row reference) or json.
      if (args.length !== 1 || (fn === "row_to_json" && args[0].type !== "json")) return null;
      if (fn === "array_to_json" && arrayElementOf(args[0]) === undefined) return null;
      if (args[0].type === "unknown") {
        throw new SqlError(
          "42804",
          "could not determine polymorphic type because input has type unknown",
        );
      }
      const type = args[0].type;
      const element = arrayElementOf(args[0]);
      return strict(
        "json",
        [args[0].evaluate],
        ([v]) => jsonValueText(type, v, support.typeOid, element),
      );
    }
    case "json_build_object": {
      if (args.length % 2 !== 0) {
        throw new SqlError("22023", "argument list must have even number of elements", {
          hint: "The arguments of json_build_object() must consist of alternating keys and values.",
        });
      }
      const pairs: {
        key: Evaluate;
        keyType: SqlType;
        value: Evaluate;
        valueType: SqlType;
        element?: SqlType;
      }[] = [];
      for (let i = 0; i < args.length; i += 2) {
        const key = args[i];
        const keyType = key.type === "unknown" ? "text" : key.type;
        const value = args[i + 1];
        const valueType = value.type === "unknown" ? "text" : value.type;
        const element = arrayElementOf(value);
        pairs.push({ key: key.evaluate, keyType, value: value.evaluate, valueType, element });
      }
      return {
        type: "json",
        evaluate: (ctx) => {
          const parts = pairs.map((p, i) => {
            const k = p.key(ctx);
            if (k === null) {
              throw new SqlError("22023", `argument ${2 * i + 1} cannot be null`, {
                hint: "Object keys should be text.",
              });
            }
            const name = typeof k === "string" ? k : formatText(support.typeOid(p.keyType), k);
            return `${JSON.stringify(name)} : ${
              jsonValueText(p.valueType, p.value(ctx), support.typeOid, p.element)
            }`;
          });
          return `{${parts.join(", ")}}`;
        },
      };
    }
    case "json_build_array": {
      const values = args.map((a) => ({
        evaluate: a.evaluate,
        type: a.type === "unknown" ? "text" as SqlType : a.type,
        element: arrayElementOf(a),
      }));
      return {
        type: "json",
        evaluate: (ctx) =>
          `[${
            values.map((v) => jsonValueText(v.type, v.evaluate(ctx), support.typeOid, v.element))
              .join(", ")
          }]`,
      };
    }
    case "jsonb_build_array": {
      const values = args.map(value);
      return {
        type: "jsonb",
        evaluate: (ctx) =>
          jsonbText(values.map((v) => {
            const text = v(ctx);
            return text === null ? null : parseJsonb(text as string);
          })),
      };
    }
    case "jsonb_set": {
      if (args.length !== 3 && args.length !== 4) return null;
      const target = jsonbArg(args[0]);
      const path = args[1].type === "unknown" ? support.toType(args[1], "text") : args[1];
      const replacement = jsonbArg(args[2]);
      const create = args.length === 4 ? support.toType(args[3], "bool").evaluate : () => true;
      if (target.type !== "jsonb" || replacement.type !== "jsonb") return null;
      return strict(
        "jsonb",
        [target.evaluate, path.evaluate, replacement.evaluate, create],
        ([t, p, r, c]) =>
          jsonbText(setPath(tree(t), parseTextArray(p as string), tree(r), c as boolean)),
      );
    }
    case "jsonb_strip_nulls": {
      if (args.length !== 1) return null;
      const a = jsonbArg(args[0]);
      if (a.type !== "jsonb") return null;
      return strict("jsonb", [a.evaluate], ([d]) => jsonbText(stripNulls(tree(d))));
    }
    default:
      return null;
  }
}
