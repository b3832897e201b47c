// The expression evaluator: checks an expression's types once, as
// PostgreSQL's parse analysis does, and compiles it to a closure that the
// executor calls per row. Pure: rows, parameters and the statement's clock
// come in through EvalContext.
//
// - Types: the built-ins of lib/pg/values.ts, with PostgreSQL's rules for
//   constants (an integer that fits int4 is int4, then int8, then numeric;
//   a decimal is numeric; a string is "unknown" and takes the type the
//   context wants), and for mixing numeric types (the wider integer;
//   numeric over integers; double precision over everything, except real
//   with real).
// - Three-valued logic: AND, OR, NOT, IN, BETWEEN, CASE and comparisons
//   treat NULL as unknown exactly as SQL does (documentation 9.1, 9.2).
// - Errors are SqlError, NumericError or PgValueError, each with the
//   SQLSTATE and message PostgreSQL gives (integer out of range 22003,
//   division by zero 22012, operator does not exist 42883, ...).
//
// tests/services/datastore/sql/eval_test.ts compares our answers with
// PostgreSQL 15's on a table of expressions.
//
// Date/time and interval operators are datetime.ts's, jsonb's beyond ->
// and ->> are jsonb.ts's. Left out for now: aggregates, subqueries and `*`
// (the executor's), numeric ^, text collations other than code point order
// (PostgreSQL's "C"). Array types (`int4[]`) are array_types.ts's: casts,
// ordering, @> <@ &&, subscripts.

import type { Bytes } from "../../../lib/bytes.ts";
import { OID, typeByOid } from "../../../lib/pg/oids.ts";
import { formatText, parseText, type PgValue } from "../../../lib/pg/values.ts";
import type { Expr, TypeName } from "./ast.ts";
import { SqlError } from "./errors.ts";
import { moreFunctions } from "./functions.ts";
import { enumByName, enumCast, enumComparator, enumFunction, enumOf } from "./enums.ts";
import { timeArithmetic, timeCast, timeFunction, timePrecision } from "./time.ts";
import { smallFunction } from "./small_functions.ts";
import { compareJsonb, jsonbFunction, jsonbGet, jsonbOperator } from "./jsonb.ts";
import { ARRAY_VALUES, arrayConcat } from "./arrays.ts";
import { ARRAY_OID_OF } from "../../../lib/pg/arrays.ts";
import {
  arrayAssignable,
  arrayCast,
  arrayComparator,
  arrayContainment,
  arrayTypeOf,
  commonArrayType,
  elementType,
  isArrayType,
  mapArrayElements,
  useTypeOids,
} from "./array_types.ts";
import { checkInput, compilePattern, parseFlags, similarPattern } from "./regex.ts";
import {
  compareIntervalValues,
  datetimeArithmetic,
  datetimeFunction,
  dateToTimestamp,
  isFiniteTimestamp,
  negateIntervalValue,
} from "./datetime.ts";
import { DATE_INFINITY, DATE_MINUS_INFINITY, TIMESTAMP_INFINITY } from "../../../lib/pg/values.ts";
import {
  addDecimal,
  compareDecimal,
  decimalFromBigInt,
  decimalFromNumber,
  decimalToBigInt,
  decimalToNumber,
  divideDecimal,
  fromDecimal,
  moduloDecimal,
  multiplyDecimal,
  negateDecimal,
  type NumericValue,
  roundDecimal,
  subtractDecimal,
  toDecimal,
} from "./numeric.ts";

/** A type that is not an array. */
export type ScalarType =
  | "bool"
  | "int2"
  | "int4"
  | "int8"
  | "numeric"
  | "float4"
  | "float8"
  | "text"
  | "varchar"
  | "bpchar"
  | "bytea"
  | "date"
  | "timestamp"
  | "timestamptz"
  | "interval"
  /** time without time zone: microseconds since midnight (time.ts). */
  | "time"
  | "uuid"
  | "json"
  | "jsonb";

/** An array of a scalar type, `int4[]` (any number of dimensions, as PostgreSQL's types). */
export type ArrayType = `${ScalarType}[]`;

export type SqlType =
  | ScalarType
  | ArrayType
  /** A string constant or untyped parameter whose type the context decides. */
  | "unknown"
  /** CREATE TYPE ... AS ENUM's types (enums.ts). */
  | `enum:${string}`;

const TYPE_OID: Record<ScalarType | "unknown", number> = {
  bool: OID.bool,
  int2: OID.int2,
  int4: OID.int4,
  int8: OID.int8,
  numeric: OID.numeric,
  float4: OID.float4,
  float8: OID.float8,
  text: OID.text,
  varchar: OID.varchar,
  bpchar: OID.bpchar,
  bytea: OID.bytea,
  date: OID.date,
  timestamp: OID.timestamp,
  timestamptz: OID.timestamptz,
  interval: OID.interval,
  time: OID.time,
  uuid: OID.uuid,
  json: OID.json,
  jsonb: OID.jsonb,
  unknown: OID.unknown,
};

/** The OID of a type, for RowDescription. */
export function typeOid(type: SqlType): number {
  if (type.endsWith("[]")) return ARRAY_OID_OF.get(TYPE_OID[elementType(type as ArrayType)])!;
  return TYPE_OID[type as ScalarType | "unknown"] ?? enumOf(type)!.oid;
}
useTypeOids((type) => TYPE_OID[type as ScalarType | "unknown"]);

/** The name PostgreSQL's messages and pg_typeof() use: integer, double precision, ... */
export function typeDisplayName(type: SqlType): string {
  return typeByOid(typeOid(type))?.sqlName ?? enumOf(type)?.name ?? type;
}

export { arrayTypeOf, elementType, isArrayType };

/** What an expression sees while it runs. */
export interface EvalContext {
  row: readonly PgValue[];
  /** Bound parameters: typed values, or text (a string) for parameters of unknown type. */
  params: readonly PgValue[];
  /** The statement's start (now(), CURRENT_TIMESTAMP), microseconds since the Unix epoch. */
  nowMicros: bigint;
}

export interface Compiled {
  type: SqlType;
  evaluate: (ctx: EvalContext) => PgValue;
  /** Set for a literal: known at compile time, so coercions happen then (as PostgreSQL's do). */
  constant?: { value: PgValue };
  /** Set for a parameter of unknown type: told the type the context coerces it to. */
  inferType?: (type: SqlType) => void;
}

export interface CompileOptions {
  /** Finds a column reference in the FROM clause's row; null when there is none. */
  resolveColumn?: (path: string[]) => { index: number; type: SqlType } | null;
  /** Declared parameter types ($1 is [0]); missing ones are unknown. */
  paramTypes?: readonly SqlType[];
  /**
   * Filled in with the type each undeclared parameter is coerced to, as
   * PostgreSQL infers them for ParameterDescription (`aid = $1` makes $1 the
   * column's type); the first coercion wins.
   */
  inferredParamTypes?: SqlType[];
  /**
   * The executor's part: aggregates, subqueries, `*`, the functions that
   * read the session or the catalog (version(), current_database(), ...),
   * and columns of an outer query (correlated subqueries).
   * Asked first for those kinds of node; null leaves the node to this file.
   */
  extension?: (expr: Expr) => Compiled | null;
}

/** Node kinds `CompileOptions.extension` is asked about. */
const EXTENSIBLE: ReadonlySet<Expr["kind"]> = new Set([
  "column",
  "function",
  "sql_function",
  "subquery",
  "exists",
  "in_subquery",
  "quantified",
  "star",
  "cast",
  "array",
  "array_subquery",
  "quantified_array",
  "subscript",
  "field",
]);

const INTEGERS: ReadonlySet<SqlType> = new Set(["int2", "int4", "int8"]);
const NUMBERS: ReadonlySet<SqlType> = new Set([
  "int2",
  "int4",
  "int8",
  "numeric",
  "float4",
  "float8",
]);
const STRINGS: ReadonlySet<SqlType> = new Set(["text", "varchar", "bpchar"]);
const JSONB_OPERATORS: ReadonlySet<string> = new Set(["#>", "#>>", "@>", "<@", "?", "?|", "?&"]);
const DATETIMES: ReadonlySet<SqlType> = new Set(["date", "timestamp", "timestamptz", "interval"]);

const INT_LIMITS: Record<string, [bigint, bigint, string]> = {
  int2: [-32768n, 32767n, "smallint out of range"],
  int4: [-2147483648n, 2147483647n, "integer out of range"],
  int8: [-9223372036854775808n, 9223372036854775807n, "bigint out of range"],
};

function checkInteger(type: SqlType, value: bigint): number | bigint {
  const [low, high, message] = INT_LIMITS[type];
  if (value < low || value > high) throw new SqlError("22003", message);
  return type === "int8" ? value : Number(value);
}

function checkFloat(type: SqlType, value: number, inputsFinite: boolean): number {
  const result = type === "float4" ? Math.fround(value) : value;
  if (!Number.isFinite(result) && !Number.isNaN(result) && inputsFinite) {
    throw new SqlError("22003", "value out of range: overflow");
  }
  return result;
}

/** rint(): to the nearest integer, ties to even, as float to integer casts round. */
function roundHalfEven(x: number): number {
  const rounded = Math.round(x);
  return Math.abs(x % 1) === 0.5 && rounded % 2 !== 0 ? rounded - 1 : rounded;
}

/** A value of a numeric type as numeric. */
function asDecimal(type: SqlType, value: PgValue): NumericValue {
  if (INTEGERS.has(type)) return decimalFromBigInt(BigInt(value as number | bigint));
  if (type === "numeric") return toDecimal(value as string);
  return decimalFromNumber(value as number);
}

function asNumber(type: SqlType, value: PgValue): number {
  if (type === "numeric") return decimalToNumber(toDecimal(value as string));
  return Number(value as number | bigint);
}

/** The common type of numbers, by PostgreSQL's operator and cast resolution. */
function numericCommonType(a: SqlType, b: SqlType): SqlType {
  if (a === "float4" && b === "float4") return "float4";
  if (a === "float4" || a === "float8" || b === "float4" || b === "float8") return "float8";
  if (a === "numeric" || b === "numeric") return "numeric";
  if (a === "int8" || b === "int8") return "int8";
  if (a === "int4" || b === "int4") return "int4";
  return "int2";
}

/** The type CASE, COALESCE, IN and comparisons resolve mixed inputs to (10.5 "UNION, CASE"). */
export function commonType(types: SqlType[], what: string): SqlType {
  const known = types.filter((t) => t !== "unknown");
  if (known.length === 0) return "text";
  let result: SqlType = known[0];
  for (const type of known.slice(1)) {
    if (type === result) continue;
    if (NUMBERS.has(type) && NUMBERS.has(result)) result = numericCommonType(result, type);
    else if (STRINGS.has(type) && STRINGS.has(result)) result = "text";
    else if (isTimestamp(type) && isTimestamp(result)) result = "timestamptz";
    else {
      throw new SqlError(
        "42804",
        `${what} types ${typeDisplayName(result)} and ${typeDisplayName(type)} cannot be matched`,
      );
    }
  }
  return result;
}

function isTimestamp(type: SqlType): boolean {
  return type === "date" || type === "timestamp" || type === "timestamptz";
}

// Casts ------------------------------------------------------------------------

/** The SqlType of a TypeName from the parser, with its modifiers applied by castTo. */
export function sqlTypeOf(type: TypeName): SqlType {
  if (type.array || type.name.endsWith("[]")) {
    // `{ name: "int4[]" }` is how a column's SqlType comes back as a TypeName.
    return arrayTypeOf(
      sqlTypeOf({ ...type, name: type.name.replace(/(\[\])+$/, ""), array: false }),
    );
  }
  const name = type.name === "bool" ? "bool" : type.name;
  if (name in TYPE_OID && name !== "unknown") return name as SqlType;
  const enumType = enumOf(name as SqlType) ?? enumByName(name);
  if (enumType !== undefined) return enumType.type;
  throw new SqlError("42704", `type "${type.name}" does not exist`);
}

/** The cast of a value of type `from` to `to` (documentation 10.3; pg_cast), or an error. */
function castFunction(from: SqlType, to: SqlType): ((value: PgValue) => PgValue) | null {
  if (from === to) return (value) => value;
  if (isArrayType(from) || isArrayType(to)) {
    return arrayCast(from, to, castFunction);
  }
  const enumCasting = enumCast(from, to, (t) => STRINGS.has(t));
  if (enumCasting !== undefined) return enumCasting;
  const timeCasting = timeCast(from, to);
  if (timeCasting !== undefined) return timeCasting;
  const toOid = typeOid(to);
  if (from === "unknown" || STRINGS.has(from)) {
    if (STRINGS.has(to)) return (value) => value;
    return (value) => parseText(toOid, value as string);
  }
  if (from === "bool" && STRINGS.has(to)) return (value) => (value ? "true" : "false"); // booltext
  if (STRINGS.has(to)) {
    const fromOid = typeOid(from);
    return (value) => formatText(fromOid, value as Exclude<PgValue, null>);
  }
  if (NUMBERS.has(from) && NUMBERS.has(to)) {
    if (INTEGERS.has(to)) {
      if (INTEGERS.has(from)) return (value) => checkInteger(to, BigInt(value as number | bigint));
      if (from === "numeric") {
        return (value) =>
          checkInteger(to, decimalToBigInt(toDecimal(value as string), typeDisplayName(to)));
      }
      return (value) => {
        const x = value as number;
        if (!Number.isFinite(x)) throw new SqlError("22003", INT_LIMITS[to][2]);
        return checkInteger(to, BigInt(roundHalfEven(x)));
      };
    }
    if (to === "numeric") return (value) => fromDecimal(asDecimal(from, value));
    return (value) => checkFloat(to, asNumber(from, value), true);
  }
  if (from === "int4" && to === "bool") return (value) => value !== 0;
  if (from === "bool" && to === "int4") return (value) => (value ? 1 : 0);
  if (from === "date" && (to === "timestamp" || to === "timestamptz")) {
    return (value) => dateToTimestamp(value as number);
  }
  if (isTimestamp(from) && to === "date") {
    return (value) => {
      const micros = value as bigint;
      if (!isFiniteTimestamp(micros)) {
        return micros === TIMESTAMP_INFINITY ? DATE_INFINITY : DATE_MINUS_INFINITY;
      }
      const day = 86_400_000_000n;
      return Number((micros - ((micros % day) + day) % day) / day);
    };
  }
  if (
    (from === "timestamp" && to === "timestamptz") || (from === "timestamptz" && to === "timestamp")
  ) {
    return (value) => value; // the session time zone is UTC
  }
  if ((from === "json" && to === "jsonb") || (from === "jsonb" && to === "json")) {
    return (value) => parseText(toOid, value as string);
  }
  if (from === "jsonb" && (NUMBERS.has(to) || to === "bool")) return jsonbScalarCast(to);
  return null;
}

/**
 * jsonb to a number or boolean (PostgreSQL 11+'s jsonb_int4, jsonb_bool,
 * ...): a jsonb number goes through numeric to the type, a jsonb boolean to
 * bool; any other kind is 22023 "cannot cast jsonb string to type integer"
 * (a number is "numeric" there, as PostgreSQL words it).
 */
function jsonbScalarCast(to: SqlType): (value: PgValue) => PgValue {
  const fromNumeric = to === "numeric" ? null : castFunction("numeric", to);
  return (value) => {
    const text = (value as string).trim();
    const kind = text.startsWith('"')
      ? "string"
      : text.startsWith("{")
      ? "object"
      : text.startsWith("[")
      ? "array"
      : text === "null"
      ? "null"
      : text === "true" || text === "false"
      ? "boolean"
      : "numeric";
    if (to === "bool" ? kind !== "boolean" : kind !== "numeric") {
      throw new SqlError("22023", `cannot cast jsonb ${kind} to type ${typeDisplayName(to)}`);
    }
    if (to === "bool") return text === "true";
    const numeric = parseText(TYPE_OID.numeric, text) as string;
    return fromNumeric === null ? numeric : fromNumeric(numeric);
  };
}

/**
 * Applies a TypeName's modifiers: numeric(p,s) rounds; varchar(n) and
 * char(n) cut an explicit cast to n characters (and char(n) pads), while an
 * assignment (a value stored in a column) may drop only trailing spaces past
 * n: anything else is 22001, as PostgreSQL's assignment casts do.
 */
function applyModifiers(
  type: TypeName,
  target: SqlType,
  assignment: boolean,
): ((value: PgValue) => PgValue) | null {
  const [first, second = 0] = type.modifiers;
  if (first === undefined) return null;
  if (target === "time") return timePrecision(first);
  if (isArrayType(target)) {
    // varchar(3)[]: each element as its own type would be (array_coerce).
    const element = elementType(target);
    const inner = applyModifiers(type, element, assignment);
    if (inner === null) return null;
    return (value) => mapArrayElements(value as string, element, inner);
  }
  if (target === "varchar" || target === "bpchar") {
    const typeText = target === "varchar" ? "character varying" : "character";
    const cut = (text: string): string => {
      const chars = [...text];
      if (chars.length <= first) return text;
      if (assignment && chars.slice(first).some((c) => c !== " ")) {
        throw new SqlError("22001", `value too long for type ${typeText}(${first})`);
      }
      return chars.slice(0, first).join("");
    };
    if (target === "varchar") return (value) => cut(value as string);
    return (value) => {
      const text = cut(value as string);
      const length = [...text].length;
      return length >= first ? text : text + " ".repeat(first - length);
    };
  }
  if (target === "numeric") {
    return (value) => {
      const rounded = roundDecimal(toDecimal(value as string), second);
      const text = fromDecimal(rounded);
      const wholeDigits = text.replace(/^-/, "").split(".")[0].replace(/^0+/, "").length;
      if (typeof rounded !== "string" && wholeDigits > first - second) {
        throw new SqlError("22003", "numeric field overflow", {
          detail:
            `A field with precision ${first}, scale ${second} must round to an absolute value ` +
            `less than ${first - second === 0 ? "1" : `10^${first - second}`}.`,
        });
      }
      return text;
    };
  }
  return null;
}

/** A cast to `type`; `assignment` for a value stored in a column (see applyModifiers). */
export function castTo(value: Compiled, type: TypeName, assignment = false): Compiled {
  const target = sqlTypeOf(type);
  value.inferType?.(target); // $1::int8 declares $1 an int8, as in PostgreSQL
  const cast = assignment && isArrayType(target) && !arrayAssignable(value.type, target)
    ? null
    : castFunction(value.type, target);
  if (cast === null) {
    throw new SqlError(
      "42846",
      `cannot cast type ${typeDisplayName(value.type)} to ${typeDisplayName(target)}`,
    );
  }
  const modify = applyModifiers(type, target, assignment);
  if (value.type === "unknown" && value.constant !== undefined) {
    // A string constant is converted while the statement is analysed, as
    // PostgreSQL's parser does: a bad one fails before any row is written.
    const input = value.constant.value;
    let output = input === null ? null : cast(input);
    if (output !== null && modify !== null) output = modify(output);
    return constant(target, output);
  }
  const evaluate = value.evaluate;
  return {
    type: target,
    evaluate: (ctx) => {
      const input = evaluate(ctx);
      if (input === null) return null;
      const output = cast(input);
      return modify === null || output === null ? output : modify(output);
    },
  };
}

/** Implicit coercion of an unknown (a string constant or text parameter) to `type`. */
export function coerce(value: Compiled, type: SqlType): Compiled {
  if (value.type === type || value.type !== "unknown") return value;
  value.inferType?.(type);
  const oid = typeOid(type);
  const evaluate = value.evaluate;
  if (STRINGS.has(type)) return { type, evaluate, constant: value.constant };
  if (oid === undefined) {
    // An enum (enums.ts): the label is checked, now for a literal.
    const cast = castFunction("unknown", type)!;
    if (value.constant !== undefined) {
      const literal = value.constant.value;
      return constant(type, literal === null ? null : cast(literal));
    }
    return {
      type,
      evaluate: (ctx) => {
        const input = evaluate(ctx);
        return input === null ? null : cast(input);
      },
    };
  }
  // A literal is converted now, so 'x' in a branch never taken still fails, as in PostgreSQL.
  if (value.constant !== undefined) {
    const literal = value.constant.value;
    return constant(type, literal === null ? null : parseText(oid, literal as string));
  }
  return {
    type,
    evaluate: (ctx) => {
      const input = evaluate(ctx);
      return input === null ? null : parseText(oid, input as string);
    },
  };
}

/** Brings two numbers to one type, for arithmetic and comparison. */
export function toType(value: Compiled, type: SqlType): Compiled {
  if (value.type === type) return value;
  if (value.type === "unknown") return coerce(value, type);
  const cast = castFunction(value.type, type)!;
  const evaluate = value.evaluate;
  return {
    type,
    evaluate: (ctx) => {
      const input = evaluate(ctx);
      return input === null ? null : cast(input);
    },
  };
}

// Operators --------------------------------------------------------------------

function noOperator(op: string, left: SqlType, right: SqlType): SqlError {
  return new SqlError(
    "42883",
    `operator does not exist: ${typeDisplayName(left)} ${op} ${typeDisplayName(right)}`,
    {
      hint:
        "No operator matches the given name and argument types. You might need to add explicit type casts.",
    },
  );
}

type Binary = (a: PgValue, b: PgValue) => PgValue;

function integerArithmetic(op: string, type: SqlType): Binary | null {
  const check = (value: bigint) => checkInteger(type, value);
  switch (op) {
    case "+":
      return (a, b) => check(BigInt(a as number | bigint) + BigInt(b as number | bigint));
    case "-":
      return (a, b) => check(BigInt(a as number | bigint) - BigInt(b as number | bigint));
    case "*":
      return (a, b) => check(BigInt(a as number | bigint) * BigInt(b as number | bigint));
    case "/":
      return (a, b) => {
        const divisor = BigInt(b as number | bigint);
        if (divisor === 0n) throw new SqlError("22012", "division by zero");
        return check(BigInt(a as number | bigint) / divisor); // truncates toward zero
      };
    case "%":
      return (a, b) => {
        const divisor = BigInt(b as number | bigint);
        if (divisor === 0n) throw new SqlError("22012", "division by zero");
        return check(BigInt(a as number | bigint) % divisor);
      };
    default:
      return null;
  }
}

function numericArithmetic(op: string): Binary | null {
  const run = (f: (x: NumericValue, y: NumericValue) => NumericValue): Binary => (a, b) =>
    fromDecimal(f(toDecimal(a as string), toDecimal(b as string)));
  switch (op) {
    case "+":
      return run(addDecimal);
    case "-":
      return run(subtractDecimal);
    case "*":
      return run(multiplyDecimal);
    case "/":
      return run(divideDecimal);
    case "%":
      return run(moduloDecimal);
    default:
      return null;
  }
}

function floatArithmetic(op: string, type: SqlType): Binary | null {
  const finite = (a: number, b: number) => Number.isFinite(a) && Number.isFinite(b);
  switch (op) {
    case "+":
      return (a, b) =>
        checkFloat(type, (a as number) + (b as number), finite(a as number, b as number));
    case "-":
      return (a, b) =>
        checkFloat(type, (a as number) - (b as number), finite(a as number, b as number));
    case "*":
      return (a, b) =>
        checkFloat(type, (a as number) * (b as number), finite(a as number, b as number));
    case "/":
      return (a, b) => {
        if (b === 0) throw new SqlError("22012", "division by zero");
        return checkFloat(type, (a as number) / (b as number), finite(a as number, b as number));
      };
    case "^":
      return (a, b) => {
        const x = a as number;
        const y = b as number;
        if (x === 0 && y < 0) {
          throw new SqlError("2201F", "zero raised to a negative power is undefined");
        }
        if (x < 0 && !Number.isInteger(y)) {
          throw new SqlError(
            "2201F",
            "a negative number raised to a non-integer power yields a complex result",
          );
        }
        return checkFloat(type, x ** y, finite(x, y));
      };
    default:
      return null;
  }
}

/** -1, 0, 1 for two non-null values of one type. */
export function comparator(type: SqlType): (a: PgValue, b: PgValue) => number {
  const enumType = enumOf(type);
  if (enumType !== undefined) return enumComparator(enumType);
  if (isArrayType(type)) return arrayComparator(type, comparator(elementType(type)));
  switch (type) {
    case "numeric":
      return (a, b) => compareDecimal(toDecimal(a as string), toDecimal(b as string));
    case "float4":
    case "float8":
      // PostgreSQL orders NaN above everything and equal to itself.
      return (a, b) => {
        const x = a as number;
        const y = b as number;
        if (Number.isNaN(x)) return Number.isNaN(y) ? 0 : 1;
        if (Number.isNaN(y)) return -1;
        return x < y ? -1 : x > y ? 1 : 0;
      };
    case "bytea":
      return (a, b) => {
        const x = a as Bytes;
        const y = b as Bytes;
        for (let i = 0; i < Math.min(x.length, y.length); i++) {
          if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
        }
        return x.length - y.length < 0 ? -1 : x.length > y.length ? 1 : 0;
      };
    case "interval":
      return compareIntervalValues;
    case "bpchar":
      // Trailing spaces do not count in char(n) comparisons.
      return (a, b) =>
        compareCodePoints((a as string).replace(/ +$/, ""), (b as string).replace(/ +$/, ""));
    case "jsonb":
      return (a, b) => compareJsonb(a as string, b as string);
    case "text":
    case "varchar":
    case "uuid":
    case "json":
      return (a, b) => compareCodePoints(a as string, b as string);
    default:
      return (
        a,
        b,
      ) => ((a as number | bigint | boolean) < (b as number | bigint | boolean)
        ? -1
        : a === b
        ? 0
        : (a as number) > (b as number)
        ? 1
        : 0);
  }
}

/** Code point order: PostgreSQL's "C" collation for UTF-8 text. */
function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i].codePointAt(0)! < y[i].codePointAt(0)! ? -1 : 1;
  }
  return x.length < y.length ? -1 : 1;
}

const COMPARISONS: Record<string, (order: number) => boolean> = {
  "=": (order) => order === 0,
  "<>": (order) => order !== 0,
  "<": (order) => order < 0,
  "<=": (order) => order <= 0,
  ">": (order) => order > 0,
  ">=": (order) => order >= 0,
};

/** Both sides of a comparison brought to one type, with its ordering. */
function comparable(
  left: Compiled,
  right: Compiled,
  op: string,
): [Compiled, Compiled, (a: PgValue, b: PgValue) => number] {
  let type: SqlType;
  if (left.type === "unknown" && right.type === "unknown") type = "text";
  else if (left.type === "unknown") type = right.type;
  else if (right.type === "unknown") type = left.type;
  else if (left.type === right.type) type = left.type;
  else if (NUMBERS.has(left.type) && NUMBERS.has(right.type)) {
    type = numericCommonType(left.type, right.type);
  } else if (STRINGS.has(left.type) && STRINGS.has(right.type)) {
    type = left.type === "bpchar" && right.type === "bpchar" ? "bpchar" : "text";
  } else if (isTimestamp(left.type) && isTimestamp(right.type)) type = "timestamptz";
  else type = commonArrayType(left.type, right.type) ?? noOperatorThrown(op, left, right);
  return [toType(left, type), toType(right, type), comparator(type)];
}

export function compileComparison(
  op: string,
  leftExpr: Compiled,
  rightExpr: Compiled,
): Compiled {
  const like = LIKE_OPERATORS[op];
  if (like !== undefined) return likeOf(leftExpr, rightExpr, null, like);
  const [left, right, compare] = comparable(leftExpr, rightExpr, op);
  const test = COMPARISONS[op];
  const l = left.evaluate;
  const r = right.evaluate;
  return {
    type: "bool",
    evaluate: (ctx) => {
      const a = l(ctx);
      if (a === null) return null;
      const b = r(ctx);
      if (b === null) return null;
      return test(compare(a, b));
    },
  };
}

function noOperatorThrown(op: string, left: Compiled, right: Compiled): never {
  throw noOperator(op, left.type, right.type);
}

function compileArithmetic(op: string, leftExpr: Compiled, rightExpr: Compiled): Compiled {
  let left = leftExpr;
  let right = rightExpr;
  if (left.type === "unknown" && right.type === "unknown") {
    throw new SqlError("42725", `operator is not unique: unknown ${op} unknown`);
  }
  if (left.type === "jsonb" && op === "-") {
    const found = jsonbOperator(op, left, right, { toType, typeOid });
    if (found === null) throw noOperator(op, left.type, right.type);
    return found;
  }
  if (left.type === "time" || right.type === "time") {
    const found = timeArithmetic(op, left, right, toType);
    if (found === null) throw noOperator(op, left.type, right.type);
    return found;
  }
  if (DATETIMES.has(left.type) || DATETIMES.has(right.type)) {
    const found = datetimeArithmetic(op, left, right, { toType });
    if (found === null) throw noOperator(op, left.type, right.type);
    return found;
  }
  if (left.type === "unknown") left = coerce(left, right.type);
  if (right.type === "unknown") right = coerce(right, left.type);
  if (!NUMBERS.has(left.type) || !NUMBERS.has(right.type)) {
    throw noOperator(op, left.type, right.type);
  }
  // ^ exists for double precision (and numeric, left out); integers go to double precision.
  let type = op === "^" ? "float8" as SqlType : numericCommonType(left.type, right.type);
  if (op === "^" && left.type === "numeric" && right.type === "numeric") {
    throw new SqlError("0A000", "numeric ^ numeric is not supported yet");
  }
  if (op === "^" && (left.type === "float4" && right.type === "float4")) type = "float8";
  const f = INTEGERS.has(type)
    ? integerArithmetic(op, type)
    : type === "numeric"
    ? numericArithmetic(op)
    : floatArithmetic(op, type);
  if (f === null) throw noOperator(op, type, type);
  const l = toType(left, type).evaluate;
  const r = toType(right, type).evaluate;
  return {
    type,
    evaluate: (ctx) => {
      const a = l(ctx);
      if (a === null) return null;
      const b = r(ctx);
      return b === null ? null : f(a, b);
    },
  };
}

function compileConcat(leftExpr: Compiled, rightExpr: Compiled): Compiled {
  if (
    ARRAY_VALUES.has(leftExpr) || ARRAY_VALUES.has(rightExpr) || isArrayType(leftExpr.type) ||
    isArrayType(rightExpr.type)
  ) {
    return arrayConcat(leftExpr, rightExpr, typeOid);
  }
  if (leftExpr.type === "jsonb" || rightExpr.type === "jsonb") {
    const found = jsonbOperator("||", leftExpr, rightExpr, { toType, typeOid });
    if (found !== null) return found;
  }
  if (
    (leftExpr.type === "bytea" || rightExpr.type === "bytea") &&
    [leftExpr.type, rightExpr.type].every((t) => t === "bytea" || t === "unknown")
  ) {
    return compileByteaConcat(toType(leftExpr, "bytea"), toType(rightExpr, "bytea"));
  }
  const side = (value: Compiled) => {
    if (value.type === "unknown") return coerce(value, "text").evaluate;
    if (value.type === "bpchar") {
      // char(n) to text drops the padding (rtrim1), as its cast does.
      const evaluate = value.evaluate;
      return (ctx: EvalContext) => {
        const v = evaluate(ctx);
        return v === null ? null : (v as string).replace(/ +$/, "");
      };
    }
    if (STRINGS.has(value.type)) return value.evaluate;
    if (value.type === "bool") {
      // bool to text is 'true' / 'false' (booltext), not the output form 't'.
      const evaluate = value.evaluate;
      return (ctx: EvalContext) => {
        const v = evaluate(ctx);
        return v === null ? null : String(v);
      };
    }
    const oid = typeOid(value.type);
    const evaluate = value.evaluate;
    return (ctx: EvalContext) => {
      const v = evaluate(ctx);
      return v === null ? null : formatText(oid, v);
    };
  };
  if (
    !STRINGS.has(leftExpr.type) && leftExpr.type !== "unknown" && !STRINGS.has(rightExpr.type) &&
    rightExpr.type !== "unknown"
  ) {
    throw noOperator("||", leftExpr.type, rightExpr.type);
  }
  const l = side(leftExpr);
  const r = side(rightExpr);
  return {
    type: "text",
    evaluate: (ctx) => {
      const a = l(ctx);
      if (a === null) return null;
      const b = r(ctx);
      return b === null ? null : (a as string) + (b as string);
    },
  };
}

/** bytea || bytea (byteacat). */
function compileByteaConcat(left: Compiled, right: Compiled): Compiled {
  return {
    type: "bytea",
    evaluate: (ctx) => {
      const a = left.evaluate(ctx);
      if (a === null) return null;
      const b = right.evaluate(ctx);
      if (b === null) return null;
      const out = new Uint8Array((a as Bytes).length + (b as Bytes).length);
      out.set(a as Bytes);
      out.set(b as Bytes, (a as Bytes).length);
      return out;
    },
  };
}

/**
 * json/jsonb `->` (a field or element as json) and `->>` (as text), by key
 * (text) or index (integer, negative from the end), documentation 9.16.1.
 * Numbers go through JavaScript's doubles, so digits past 17 are lost.
 */
function compileJsonField(op: string, leftExpr: Compiled, rightExpr: Compiled): Compiled {
  const type = leftExpr.type;
  if (type !== "json" && type !== "jsonb") throw noOperator(op, leftExpr.type, rightExpr.type);
  const key = rightExpr.type === "unknown" ? coerce(rightExpr, "text") : rightExpr;
  if (!STRINGS.has(key.type) && !INTEGERS.has(key.type)) throw noOperator(op, type, key.type);
  const l = leftExpr.evaluate;
  const r = key.evaluate;
  const asText = op === "->>";
  const oid = typeOid(type);
  return {
    type: asText ? "text" : type,
    evaluate: (ctx) => {
      const document = l(ctx);
      const k = r(ctx);
      if (document === null || k === null) return null;
      if (type === "jsonb") {
        return jsonbGet(document as string, k as string | number | bigint, asText);
      }
      const value: unknown = JSON.parse(document as string);
      let field: unknown;
      if (typeof k === "string") {
        if (value === null || typeof value !== "object" || Array.isArray(value)) return null;
        if (!Object.hasOwn(value, k)) return null;
        field = (value as Record<string, unknown>)[k];
      } else {
        if (!Array.isArray(value)) return null;
        const i = Number(k);
        field = value[i < 0 ? value.length + i : i];
        if (field === undefined) return null;
      }
      if (asText) {
        if (field === null) return null;
        return typeof field === "string" ? field : JSON.stringify(field);
      }
      return parseText(oid, JSON.stringify(field));
    },
  };
}

/** POSIX regular expression match (documentation 9.7.3), translated by regex.ts. */
function compileRegex(op: string, leftExpr: Compiled, rightExpr: Compiled): Compiled {
  const text = (value: Compiled) => {
    if (value.type === "unknown") return coerce(value, "text");
    if (!STRINGS.has(value.type)) throw noOperator(op, leftExpr.type, rightExpr.type);
    return value;
  };
  const l = text(leftExpr).evaluate;
  const r = text(rightExpr).evaluate;
  const negate = op.startsWith("!");
  const flags = parseFlags(op.endsWith("*") ? "i" : "");
  return {
    type: "bool",
    evaluate: (ctx) => {
      const a = l(ctx);
      const b = r(ctx);
      if (a === null || b === null) return null;
      const re = compilePattern(b as string, flags, { extracting: false });
      return re.test(checkInput(a as string)) !== negate;
    },
  };
}

function requireBool(value: Compiled, what: string): Compiled {
  if (value.type === "unknown") return coerce(value, "bool");
  if (value.type !== "bool") {
    throw new SqlError(
      "42804",
      `argument of ${what} must be type boolean, not type ${typeDisplayName(value.type)}`,
    );
  }
  return value;
}

/** LIKE's pattern as a regular expression (documentation 9.7.1). */
function likePattern(pattern: string, escape: string, caseInsensitive: boolean): RegExp {
  let source = "";
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (escape !== "" && c === escape) {
      if (i + 1 >= chars.length) {
        throw new SqlError("22025", "LIKE pattern must not end with escape character");
      }
      source += chars[++i].replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    } else if (c === "%") source += "[\\s\\S]*";
    else if (c === "_") source += "[\\s\\S]";
    else source += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${source}$`, caseInsensitive ? "iu" : "u");
}

// Compilation --------------------------------------------------------------------

/** Compiles an expression, checking its types; throws SqlError for what cannot run. */
export function compileExpr(expr: Expr, options: CompileOptions = {}): Compiled {
  const compile = (e: Expr) => compileExpr(e, options);
  if (options.extension !== undefined && EXTENSIBLE.has(expr.kind)) {
    const extended = options.extension(expr);
    if (extended !== null) return extended;
  }
  switch (expr.kind) {
    case "number":
      return numberConstant(expr.text);
    case "string":
      return constant("unknown", expr.value);
    case "boolean":
      return constant("bool", expr.value);
    case "null":
      return constant("unknown", null);
    case "param": {
      const index = expr.index - 1;
      const type = options.paramTypes?.[index] ?? "unknown";
      const inferred = options.inferredParamTypes;
      const compiled: Compiled = { type, evaluate: (ctx) => ctx.params[index] ?? null };
      if (type === "unknown" && inferred !== undefined) {
        compiled.inferType = (to) => {
          inferred[index] ??= to;
        };
      }
      return compiled;
    }
    case "column": {
      const found = options.resolveColumn?.(expr.path) ?? null;
      if (found === null) {
        // PostgreSQL quotes a bare name only: column "x" but column t.x.
        const name = expr.path.length === 1 ? `"${expr.path[0]}"` : expr.path.join(".");
        throw new SqlError("42703", `column ${name} does not exist`);
      }
      const index = found.index;
      return { type: found.type, evaluate: (ctx) => ctx.row[index] };
    }
    case "unary": {
      // PostgreSQL's grammar folds a minus into a numeric constant (gram.y doNegate),
      // so -2147483648 is an integer and -(-2147483648) a bigint.
      const folded = foldNegation(expr);
      if (folded !== null) return numberConstant(folded);
      return compileUnary(expr.op, compile(expr.operand));
    }
    case "binary":
      return compileBinary(expr.op, compile(expr.left), compile(expr.right));
    case "not": {
      const operand = requireBool(compile(expr.operand), "NOT").evaluate;
      return {
        type: "bool",
        evaluate: (ctx) => {
          const v = operand(ctx);
          return v === null ? null : !v;
        },
      };
    }
    case "is":
      return compileIs(expr.test, expr.not, compile(expr.operand));
    case "distinct_from": {
      const [left, right, compare] = comparable(
        compile(expr.left),
        compile(expr.right),
        "IS DISTINCT FROM",
      );
      const not = expr.not;
      return {
        type: "bool",
        evaluate: (ctx) => {
          const a = left.evaluate(ctx);
          const b = right.evaluate(ctx);
          const distinct = a === null || b === null ? a !== b : compare(a, b) !== 0;
          return not ? !distinct : distinct;
        },
      };
    }
    case "between":
      return compileBetween(expr, compile);
    case "in_list":
      return compileIn(expr.not, compile(expr.operand), expr.list.map(compile));
    case "like":
      return compileLike(expr, compile);
    case "case":
      return compileCase(expr, compile);
    case "cast":
      return castTo(compile(expr.operand), expr.type);
    case "function":
      if (expr.star || expr.distinct || expr.filter !== null || expr.orderBy.length > 0) {
        throw new SqlError("0A000", "aggregate functions are evaluated by the executor");
      }
      return compileFunction(expr.name, expr.args.map(compile));
    case "sql_function":
      return compileSqlFunction(expr.name);
    case "default":
      throw new SqlError("42601", "DEFAULT is not allowed in this context");
    case "star":
    case "subquery":
    case "exists":
    case "in_subquery":
    case "quantified":
    case "array":
    case "array_subquery":
    case "quantified_array":
    case "subscript":
      throw new SqlError("0A000", `${expr.kind} is evaluated by the executor`);
    case "field":
      throw new SqlError("0A000", "only the columns of a set-returning call can be selected");
    case "row":
      throw new SqlError("0A000", "row values are only supported compared with another row");
  }
}

/** A numeric constant's type: int4 if it fits, then int8, then numeric (parse_node.c make_const). */
function numberConstant(text: string): Compiled {
  if (/^-?\d+$/.test(text)) {
    const value = BigInt(text);
    if (value >= -2147483648n && value <= 2147483647n) return constant("int4", Number(value));
    if (value >= -9223372036854775808n && value <= 9223372036854775807n) {
      return constant("int8", value);
    }
  }
  return constant("numeric", parseText(OID.numeric, text));
}

/** The text of `-...-n` folded into one constant, or null when the operand is not a number. */
function foldNegation(expr: Expr): string | null {
  if (expr.kind === "number") return expr.text;
  if (expr.kind !== "unary" || expr.op !== "-") return null;
  const inner = foldNegation(expr.operand);
  if (inner === null) return null;
  return inner.startsWith("-") ? inner.slice(1) : `-${inner}`;
}

function constant(type: SqlType, value: PgValue): Compiled {
  return { type, evaluate: () => value, constant: { value } };
}

function compileUnary(op: string, operandExpr: Compiled): Compiled {
  const operand = operandExpr.type === "unknown" ? coerce(operandExpr, "numeric") : operandExpr;
  if (operand.type === "interval" && (op === "-" || op === "+")) {
    if (op === "+") return operand;
    const evaluate = operand.evaluate;
    return {
      type: "interval",
      evaluate: (ctx) => {
        const value = evaluate(ctx);
        return value === null ? null : negateIntervalValue(value);
      },
    };
  }
  if (NUMBERS.has(operand.type) && op === "@") return compileFunction(["abs"], [operand]);
  if (NUMBERS.has(operand.type) && (op === "|/" || op === "||/")) {
    return compileFunction([op === "|/" ? "sqrt" : "cbrt"], [toType(operand, "float8")]);
  }
  if (!NUMBERS.has(operand.type) || (op !== "-" && op !== "+")) {
    throw new SqlError("42883", `operator does not exist: ${op} ${typeDisplayName(operand.type)}`);
  }
  const type = operand.type;
  const evaluate = operand.evaluate;
  if (op === "+") return operand;
  const negate: (value: PgValue) => PgValue = INTEGERS.has(type)
    ? (value) => checkInteger(type, -BigInt(value as number | bigint))
    : type === "numeric"
    ? (value) => fromDecimal(negateDecimal(toDecimal(value as string)))
    : (value) => -(value as number);
  return {
    type,
    evaluate: (ctx) => {
      const value = evaluate(ctx);
      return value === null ? null : negate(value);
    },
  };
}

function compileBinary(op: string, left: Compiled, right: Compiled): Compiled {
  if (op === "and" || op === "or") {
    const what = op.toUpperCase();
    const l = requireBool(left, what).evaluate;
    const r = requireBool(right, what).evaluate;
    // Three-valued: FALSE AND NULL is FALSE, TRUE OR NULL is TRUE (9.1).
    const decisive = op === "or";
    return {
      type: "bool",
      evaluate: (ctx) => {
        const a = l(ctx);
        if (a === decisive) return decisive;
        const b = r(ctx);
        if (b === decisive) return decisive;
        return a === null || b === null ? null : !decisive;
      },
    };
  }
  if (op in COMPARISONS) return compileComparison(op, left, right);
  if (op === "||") return compileConcat(left, right);
  if (op === "~" || op === "!~" || op === "~*" || op === "!~*") {
    return compileRegex(op, left, right);
  }
  if (op === "->" || op === "->>") return compileJsonField(op, left, right);
  if (
    (op === "@>" || op === "<@" || op === "&&") &&
    (isArrayType(left.type) || isArrayType(right.type))
  ) {
    const found = arrayContainment(op, left, right, { toType, comparator });
    if (found === null) throw noOperator(op, left.type, right.type);
    return found;
  }
  if (JSONB_OPERATORS.has(op)) {
    const found = jsonbOperator(op, left, right, { toType, typeOid });
    if (found === null) throw noOperator(op, left.type, right.type);
    return found;
  }
  if (["+", "-", "*", "/", "%", "^"].includes(op)) return compileArithmetic(op, left, right);
  throw noOperator(op, left.type, right.type);
}

function compileIs(
  test: "null" | "true" | "false" | "unknown",
  not: boolean,
  operand: Compiled,
): Compiled {
  const evaluate =
    (test === "null" ? operand : requireBool(operand, "IS " + test.toUpperCase())).evaluate;
  const check = test === "null" || test === "unknown"
    ? (v: PgValue) => v === null
    : test === "true"
    ? (v: PgValue) => v === true
    : (v: PgValue) => v === false;
  return { type: "bool", evaluate: (ctx) => check(evaluate(ctx)) !== not };
}

function compileBetween(
  expr: Extract<Expr, { kind: "between" }>,
  compile: (e: Expr) => Compiled,
): Compiled {
  const operand = compile(expr.operand);
  const low = compile(expr.low);
  const high = compile(expr.high);
  const above = compileComparison(">=", operand, low).evaluate;
  const below = compileComparison("<=", operand, high).evaluate;
  const aboveSwapped = compileComparison(">=", operand, high).evaluate;
  const belowSwapped = compileComparison("<=", operand, low).evaluate;
  const and = (a: PgValue, b: PgValue) =>
    a === false || b === false ? false : a === null || b === null ? null : true;
  const or = (a: PgValue, b: PgValue) =>
    a === true || b === true ? true : a === null || b === null ? null : false;
  const not = expr.not;
  const symmetric = expr.symmetric;
  return {
    type: "bool",
    evaluate: (ctx) => {
      let result = and(above(ctx), below(ctx));
      if (symmetric) result = or(result, and(aboveSwapped(ctx), belowSwapped(ctx)));
      return result === null ? null : result !== not;
    },
  };
}

function compileIn(not: boolean, operand: Compiled, list: Compiled[]): Compiled {
  const type = commonType([operand.type, ...list.map((item) => item.type)], "IN");
  const tests = list.map((item) =>
    compileComparison("=", toType(operand, type), toType(item, type)).evaluate
  );
  return {
    type: "bool",
    evaluate: (ctx) => {
      // TRUE if any is equal; else NULL if any comparison was unknown; else FALSE.
      let unknown = false;
      for (const test of tests) {
        const result = test(ctx);
        if (result === true) return !not;
        if (result === null) unknown = true;
      }
      return unknown ? null : not;
    },
  };
}

function compileLike(
  expr: Extract<Expr, { kind: "like" }>,
  compile: (e: Expr) => Compiled,
): Compiled {
  return likeOf(
    compile(expr.operand),
    compile(expr.pattern),
    expr.escape === null ? null : compile(expr.escape),
    expr,
  );
}

/** LIKE's operators by name, for `x LIKE ANY (array)` and the like (quantified comparisons). */
const LIKE_OPERATORS: Record<string, { not: boolean; caseInsensitive: boolean }> = {
  "~~": { not: false, caseInsensitive: false },
  "~~*": { not: false, caseInsensitive: true },
  "!~~": { not: true, caseInsensitive: false },
  "!~~*": { not: true, caseInsensitive: true },
};

/** LIKE, ILIKE or SIMILAR TO over compiled operands. */
function likeOf(
  operandExpr: Compiled,
  patternExpr: Compiled,
  escapeExpr: Compiled | null,
  flags: { not: boolean; caseInsensitive: boolean; similar?: boolean },
): Compiled {
  const text = (value: Compiled) => {
    if (value.type === "unknown") return coerce(value, "text").evaluate;
    if (!STRINGS.has(value.type)) {
      throw noOperator(flags.caseInsensitive ? "~~*" : "~~", value.type, "text");
    }
    return value.evaluate;
  };
  const operand = text(operandExpr);
  const pattern = text(patternExpr);
  const escape = escapeExpr === null ? null : text(escapeExpr);
  const { not, caseInsensitive } = flags;
  const expr = flags;
  let cachedPattern: string | null = null;
  let cachedEscape: string | null = null;
  let cached: RegExp | null = null;
  return {
    type: "bool",
    evaluate: (ctx) => {
      const value = operand(ctx);
      const p = pattern(ctx);
      const e = escape === null ? "\\" : escape(ctx);
      if (value === null || p === null || e === null) return null;
      if (cached === null || p !== cachedPattern || e !== cachedEscape) {
        if ([...(e as string)].length > 1) {
          throw new SqlError("22019", "invalid escape string", {
            hint: "Escape string must be empty or one character.",
          });
        }
        cached = expr.similar
          ? similarPattern(p as string, e as string)
          : likePattern(p as string, e as string, caseInsensitive);
        cachedPattern = p as string;
        cachedEscape = e as string;
      }
      return cached.test(value as string) !== not;
    },
  };
}

function compileCase(
  expr: Extract<Expr, { kind: "case" }>,
  compile: (e: Expr) => Compiled,
): Compiled {
  const results = expr.whens.map((w) => compile(w.then));
  const otherwise = expr.else === null ? constant("unknown", null) : compile(expr.else);
  // PostgreSQL resolves the ELSE first, so its type names come first in the error.
  const type = commonType([otherwise, ...results].map((r) => r.type), "CASE");
  const thens = results.map((r) => toType(r, type).evaluate);
  const elseValue = toType(otherwise, type).evaluate;
  const operand = expr.operand === null ? null : compile(expr.operand);
  const conditions = expr.whens.map((w) =>
    operand === null
      ? requireBool(compile(w.when), "CASE/WHEN").evaluate
      : compileComparison("=", operand, compile(w.when)).evaluate
  );
  return {
    type,
    evaluate: (ctx) => {
      for (let i = 0; i < conditions.length; i++) {
        if (conditions[i](ctx) === true) return thens[i](ctx);
      }
      return elseValue(ctx);
    },
  };
}

function compileSqlFunction(name: string): Compiled {
  switch (name) {
    case "current_timestamp":
      return { type: "timestamptz", evaluate: (ctx) => ctx.nowMicros };
    case "localtimestamp":
      return { type: "timestamp", evaluate: (ctx) => ctx.nowMicros };
    case "localtime":
      return {
        type: "time",
        evaluate: (ctx) => ((ctx.nowMicros % 86_400_000_000n) + 86_400_000_000n) % 86_400_000_000n,
      };
    case "current_date":
      return {
        type: "date",
        evaluate: (ctx) =>
          Number(
            (ctx.nowMicros -
              ((ctx.nowMicros % 86_400_000_000n) + 86_400_000_000n) % 86_400_000_000n) /
              86_400_000_000n,
          ),
      };
    default:
      throw new SqlError("0A000", `${name.toUpperCase()} is not supported yet`);
  }
}

/**
 * lower()/upper() character by character, as PostgreSQL's towlower/towupper:
 * a character whose case mapping is several characters (ß) stays as it is.
 */
function changeCase(text: string, to: "lower" | "upper"): string {
  let out = "";
  for (const c of text) {
    const mapped = to === "lower" ? c.toLowerCase() : c.toUpperCase();
    out += [...mapped].length === 1 ? mapped : c;
  }
  return out;
}

function compileFunction(name: string[], args: Compiled[]): Compiled {
  const fn = name.length === 2 && name[0] === "pg_catalog" ? name[1] : name.join(".");
  const signature = () =>
    `function ${fn}(${
      args.map((a) => typeDisplayName(a.type === "unknown" ? "unknown" : a.type)).join(", ")
    }) does not exist`;
  const missing = () =>
    new SqlError("42883", signature(), {
      hint:
        "No function matches the given name and argument types. You might need to add explicit type casts.",
    });
  switch (fn) {
    case "coalesce":
    case "greatest":
    case "least": {
      const type = commonType(args.map((a) => a.type), fn.toUpperCase());
      const evaluates = args.map((a) => toType(a, type).evaluate);
      if (fn === "coalesce") {
        return {
          type,
          evaluate: (ctx) => {
            for (const evaluate of evaluates) {
              const value = evaluate(ctx);
              if (value !== null) return value;
            }
            return null;
          },
        };
      }
      const compare = comparator(type);
      const sign = fn === "greatest" ? 1 : -1;
      return {
        type,
        evaluate: (ctx) => {
          let best: PgValue = null;
          for (const evaluate of evaluates) {
            const value = evaluate(ctx);
            if (value !== null && (best === null || compare(value, best) * sign > 0)) best = value;
          }
          return best;
        },
      };
    }
    case "nullif": {
      if (args.length !== 2) throw missing();
      const equal = compileComparison("=", args[0], args[1]).evaluate;
      const type = args[0].type === "unknown" ? "text" : args[0].type;
      const first = toType(args[0], type).evaluate;
      return { type, evaluate: (ctx) => (equal(ctx) === true ? null : first(ctx)) };
    }
    case "lower":
    case "upper":
    case "length":
    case "char_length": {
      if (fn === "length" && args.length === 1 && args[0].type === "bytea") {
        const evaluate = args[0].evaluate;
        return {
          type: "int4",
          evaluate: (ctx) => {
            const value = evaluate(ctx);
            return value === null ? null : (value as Bytes).length;
          },
        };
      }
      if (args.length !== 1 || !(args[0].type === "unknown" || STRINGS.has(args[0].type))) {
        throw missing();
      }
      const evaluate = args[0].evaluate;
      const f: (s: string) => PgValue = fn === "lower"
        ? (s) => changeCase(s, "lower")
        : fn === "upper"
        ? (s) => changeCase(s, "upper")
        : (s) => [...(args[0].type === "bpchar" ? s.replace(/ +$/, "") : s)].length;
      return {
        type: fn === "lower" || fn === "upper" ? "text" : "int4",
        evaluate: (ctx) => {
          const value = evaluate(ctx);
          return value === null ? null : f(value as string);
        },
      };
    }
    case "abs": {
      if (args.length !== 1) throw missing();
      const arg = args[0].type === "unknown" ? coerce(args[0], "float8") : args[0];
      if (!NUMBERS.has(arg.type)) throw missing();
      const type = arg.type;
      const evaluate = arg.evaluate;
      const abs: (v: PgValue) => PgValue = INTEGERS.has(type)
        ? (v) =>
          checkInteger(
            type,
            BigInt(v as number | bigint) < 0n
              ? -BigInt(v as number | bigint)
              : BigInt(v as number | bigint),
          )
        : type === "numeric"
        ? (v) => (v as string).replace(/^-/, "")
        : (v) => Math.abs(v as number);
      return {
        type,
        evaluate: (ctx) => {
          const value = evaluate(ctx);
          return value === null ? null : abs(value);
        },
      };
    }
    case "round": {
      if (args.length < 1 || args.length > 2) throw missing();
      const arg = args[0];
      if (arg.type === "float8" || arg.type === "float4" || INTEGERS.has(arg.type)) {
        if (args.length === 2) throw missing();
        const evaluate = toType(arg, "float8").evaluate;
        return {
          type: "float8",
          evaluate: (ctx) => {
            const value = evaluate(ctx);
            return value === null ? null : roundHalfEven(value as number);
          },
        };
      }
      const evaluate = toType(arg, "numeric").evaluate;
      const digits = args.length === 2 ? toType(args[1], "int4").evaluate : () => 0;
      return {
        type: "numeric",
        evaluate: (ctx) => {
          const value = evaluate(ctx);
          const places = digits(ctx);
          if (value === null || places === null) return null;
          return fromDecimal(roundDecimal(toDecimal(value as string), places as number));
        },
      };
    }
    case "now":
      if (args.length !== 0) throw missing();
      return compileSqlFunction("current_timestamp");
    default: {
      const found = timeFunction(fn, args, toType) ?? smallFunction(fn, args, toType) ??
        datetimeFunction(fn, args, { toType }) ??
        jsonbFunction(fn, args, { toType, typeOid }) ??
        moreFunctions(fn, args, { toType, typeOid, castTo }) ??
        enumFunction(fn, args, toType) ?? null;
      if (found === null) throw missing();
      return found;
    }
  }
}
