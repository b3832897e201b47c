// The everyday array functions (PostgreSQL 15 documentation 9.19, table
// 9.66): string_to_array, array_append, array_prepend, array_cat,
// array_remove, array_replace, array_position(s), array_lower, array_ndims,
// array_dims, and `||` between an array and an element or another array.
//
// An array value is its canonical text (lib/pg/arrays.ts) and its type is an
// array type (`int4[]`, array_types.ts), so these functions work on columns
// too. The functions searching or replacing elements (array_position(s),
// array_remove, array_replace) compare elements by their text: `1` finds `1`
// in ARRAY[1, 2], `1.0` does not find `1.00`. `ARRAY_VALUES` also marks the
// catalog's arrays of types we do not have (name[], oid[]), which stay text;
// a text column holding '{1,2}' stays text, so `||` on it is text
// concatenation. `||` and array_cat join multidimensional arrays as
// PostgreSQL's array_cat; array_append, array_prepend, array_remove and
// array_replace keep the lower bounds. array_to_string, array_length, array_upper and cardinality
// are catalog_exprs.ts's. Left out: array_fill, trim_array.

import { formatText, parseText, type PgValue } from "../../../lib/pg/values.ts";
import { SqlError } from "./errors.ts";
import {
  appendElement,
  arrayDimension,
  arraySetElement,
  arraySetSlice,
  arrayTypeOf,
  concatArrays,
  elementType,
  fillArray,
  isArrayType,
  removeOrReplace,
  trimArray,
  typeDisplayName,
} from "./array_types.ts";
import type { Compiled, EvalContext, SqlType } from "./eval.ts";
import type { TypeName } from "./ast.ts";
import { arrayText, parseArray } from "./pg_catalog.ts";

/** The Compiled values known to be arrays (their text form), with their elements' type. */
export const ARRAY_VALUES: WeakMap<Compiled, SqlType> = new WeakMap();

/** The element type of an array expression (marked, or of an array type), else undefined. */
export function arrayElementOf(compiled: Compiled): SqlType | undefined {
  return ARRAY_VALUES.get(compiled) ??
    (isArrayType(compiled.type) ? elementType(compiled.type) : undefined);
}

/**
 * Marks `compiled` as an array of `element` values and returns it, typed as
 * that array type (`int4[]`, array_types.ts) so that RowDescription,
 * comparisons and columns know it.
 */
export function arrayValue(compiled: Compiled, element: SqlType = "text"): Compiled {
  const of: SqlType = element === "unknown"
    ? "text"
    : isArrayType(element)
    ? elementType(element)
    : element;
  const typed = compiled.type === arrayTypeOf(of)
    ? compiled
    : { ...compiled, type: arrayTypeOf(of) };
  ARRAY_VALUES.set(typed, of);
  return typed;
}

/** The element type of an array argument, else the type of a would-be element. */
function elementTypeOf(array: Compiled, element?: Compiled): SqlType {
  if (isArrayType(array.type)) return elementType(array.type);
  return ARRAY_VALUES.get(array) ?? element?.type ?? "text";
}

type Evaluate = (ctx: EvalContext) => PgValue;

/** An element's text as the array holds it; strings as they are. */
function elementText(
  type: SqlType,
  oidOf: (type: SqlType) => number,
): (v: PgValue) => string | null {
  return (v) => v === null ? null : typeof v === "string" ? v : formatText(oidOf(type), v);
}

function elements(value: PgValue): (string | null)[] {
  return value === null ? [] : parseArray(String(value));
}

/** `a || b` where one side is an array: concatenation, or append/prepend of an element. */
export function arrayConcat(
  left: Compiled,
  right: Compiled,
  oidOf: (type: SqlType) => number,
): Compiled {
  const leftArray = ARRAY_VALUES.has(left) || isArrayType(left.type);
  const rightArray = ARRAY_VALUES.has(right) || isArrayType(right.type);
  if (isArrayType(left.type) && isArrayType(right.type) && left.type !== right.type) {
    // anyarray || anyarray takes one array type: int4[] || text[] does not exist.
    throw new SqlError(
      "42883",
      `operator does not exist: ${typeDisplayName(left.type)} || ${typeDisplayName(right.type)}`,
      {
        hint:
          "No operator matches the given name and argument types. You might need to add explicit type casts.",
      },
    );
  }
  const side = (c: Compiled, array: boolean): Evaluate => {
    if (array) return c.evaluate;
    const text = elementText(c.type, oidOf);
    const evaluate = c.evaluate;
    // An untyped NULL beside an array is taken as an empty array, as PostgreSQL resolves it;
    // another string constant is an array literal of the other side's type (22P02 if not).
    const other = c === left ? right : left;
    if (c.type === "unknown" && isArrayType(other.type)) {
      const oid = oidOf(other.type);
      return (ctx) => {
        const v = evaluate(ctx);
        return v === null ? "{}" : parseText(oid, String(v));
      };
    }
    if (c.type === "unknown") {
      return (ctx) => {
        const v = evaluate(ctx);
        return v === null ? "{}" : arrayText([text(v)]);
      };
    }
    return (ctx) => arrayText([text(evaluate(ctx))]);
  };
  const l = side(left, leftArray || (left.type === "unknown" && !rightArray));
  const r = side(right, rightArray || (right.type === "unknown" && !leftArray));
  const element = leftArray ? elementTypeOf(left, right) : elementTypeOf(right, left);
  return arrayValue({
    type: "text",
    evaluate: (ctx) => {
      const a = l(ctx);
      const b = r(ctx);
      if (a === null && b === null) return null;
      return concatArrays(a === null ? "{}" : String(a), b === null ? "{}" : String(b));
    },
  }, element);
}

/**
 * The value of `SET a[...] = v` (args: the column, v, the column's name) as
 * `type`, an assignment; 42804 as PostgreSQL words it when v is no such value.
 */
function assignedValue(
  args: Compiled[],
  type: SqlType,
  castTo: ArraySupport["castTo"],
): Compiled {
  const refused = () =>
    new SqlError(
      "42804",
      `subscripted assignment to "${args[2].constant?.value}" requires type ${
        typeDisplayName(type)
      } but expression is of type ${typeDisplayName(args[1].type)}`,
      { hint: "You will need to rewrite or cast the expression." },
    );
  // A string-typed value into another element type needs an explicit cast, as in a column.
  const strings = ["text", "varchar", "bpchar"];
  if (strings.includes(args[1].type) && !strings.includes(type)) throw refused();
  try {
    return castTo(args[1], { name: type, modifiers: [], array: false }, true);
  } catch (error) {
    if (!(error instanceof SqlError) || error.code !== "42846") throw error;
    throw refused();
  }
}

/** What the functions below need from eval.ts, handed in (importing it would be a cycle). */
export interface ArraySupport {
  typeOid(type: SqlType): number;
  toType(value: Compiled, type: SqlType): Compiled;
  castTo(value: Compiled, type: TypeName, assignment?: boolean): Compiled;
}

/** The array functions of this file, or null for another name or arguments that do not fit. */
export function arrayFunction(
  fn: string,
  args: Compiled[],
  support: ArraySupport,
): Compiled | null {
  const { castTo, toType } = support;
  const oidOf = support.typeOid;
  const text = (c: Compiled) => elementText(c.type, oidOf);
  switch (fn) {
    case "string_to_array": {
      if (args.length !== 2 && args.length !== 3) return null;
      const [s, sep, nullText] = args.map((a) => ({ evaluate: a.evaluate, text: text(a) }));
      return arrayValue({
        type: "text",
        evaluate: (ctx) => {
          const value = s.text(s.evaluate(ctx));
          if (value === null) return null;
          const separator = sep.text(sep.evaluate(ctx));
          const nulls = nullText ? nullText.text(nullText.evaluate(ctx)) : null;
          if (value === "") return "{}";
          const parts = separator === null
            ? [...value]
            : separator === ""
            ? [value]
            : value.split(separator);
          return arrayText(parts.map((p) => (nulls !== null && p === nulls ? null : p)));
        },
      });
    }
    case "array_append":
    case "array_prepend": {
      if (args.length !== 2) return null;
      const [array, element] = fn === "array_append" ? args : [args[1], args[0]];
      const t = text(element);
      return arrayValue({
        type: "text",
        evaluate: (ctx) => {
          const a = array.evaluate(ctx);
          const e = t(element.evaluate(ctx));
          return appendElement(a === null ? null : String(a), e, fn === "array_append");
        },
      }, elementTypeOf(array, element));
    }
    case "array_cat": {
      if (args.length !== 2) return null;
      return arrayValue({
        type: "text",
        evaluate: (ctx) => {
          const a = args[0].evaluate(ctx);
          const b = args[1].evaluate(ctx);
          if (a === null && b === null) return null;
          return concatArrays(a === null ? "{}" : String(a), b === null ? "{}" : String(b));
        },
      }, elementTypeOf(args[0], undefined));
    }
    case "array_remove":
    case "array_replace": {
      if (args.length !== (fn === "array_remove" ? 2 : 3)) return null;
      const from = text(args[1]);
      const to = fn === "array_replace" ? text(args[2]) : null;
      return arrayValue({
        type: "text",
        evaluate: (ctx) => {
          const a = args[0].evaluate(ctx);
          if (a === null) return null;
          const target = from(args[1].evaluate(ctx));
          const replacement = to === null ? undefined : to(args[2].evaluate(ctx));
          return removeOrReplace(String(a), target, replacement);
        },
      }, elementTypeOf(args[0], args[1]));
    }
    case "array_position":
    case "array_positions": {
      if (args.length !== 2 && !(fn === "array_position" && args.length === 3)) return null;
      const t = text(args[1]);
      const compiled: Compiled = {
        type: fn === "array_position" ? "int4" : "text",
        evaluate: (ctx) => {
          const a = args[0].evaluate(ctx);
          if (a === null) return null;
          const target = t(args[1].evaluate(ctx));
          const items = elements(a);
          if (fn === "array_positions") {
            return arrayText(
              items.flatMap((e, i) => (e === target ? [String(i + 1)] : [])),
            );
          }
          let start = 1;
          if (args.length === 3) {
            const s = args[2].evaluate(ctx);
            if (s === null) {
              throw new SqlError("22004", "initial position must not be null");
            }
            start = Number(s);
          }
          for (let i = Math.max(start, 1) - 1; i < items.length; i++) {
            if (items[i] === target) return i + 1;
          }
          return null;
        },
      };
      return fn === "array_positions" ? arrayValue(compiled, "int4") : compiled;
    }
    case "array_lower":
    case "array_ndims":
    case "array_dims": {
      if (args.length !== (fn === "array_ndims" || fn === "array_dims" ? 1 : 2)) return null;
      return {
        type: fn === "array_dims" ? "text" : "int4",
        evaluate: (ctx) => {
          const a = args[0].evaluate(ctx);
          if (a === null) return null;
          const dim = fn === "array_lower" ? args[1].evaluate(ctx) : null;
          if (fn === "array_lower" && dim === null) return null;
          return arrayDimension(fn, String(a), dim === null ? null : Number(dim));
        },
      };
    }
    case "trim_array": {
      // trim_array(a, n): the first dimension cut by n (2202E past its length, as PostgreSQL).
      if (args.length !== 2 || !isArrayType(args[0].type)) return null;
      const count = toType(args[1], "int4");
      return {
        type: args[0].type,
        evaluate: (ctx) => {
          const a = args[0].evaluate(ctx);
          const n = count.evaluate(ctx);
          if (a === null || n === null) return null;
          return trimArray(String(a), Number(n));
        },
      };
    }
    case "array_fill": {
      // array_fill(value, dims[, lower bounds]).
      if (args.length !== 2 && args.length !== 3) return null;
      if (args[0].type === "unknown") {
        throw new SqlError(
          "42804",
          "could not determine polymorphic type because input has type unknown",
        );
      }
      const write = text(args[0]);
      const dims = toType(args[1], "int4[]");
      const lbounds = args[2] ? toType(args[2], "int4[]") : null;
      return arrayValue({
        type: "text",
        evaluate: (ctx) => {
          const d = dims.evaluate(ctx);
          const l = lbounds ? lbounds.evaluate(ctx) : null;
          if (d === null || (lbounds && l === null)) {
            throw new SqlError("22004", "dimension array or low bound array cannot be null");
          }
          return fillArray(write(args[0].evaluate(ctx)), String(d), l === null ? null : String(l));
        },
      }, args[0].type);
    }
    case "array_set_slice": {
      // UPDATE ... SET a[i:j] = v (parser.ts): v cast to the column's type as an assignment.
      if (args.length < 6 || args.length % 2 === 1 || !isArrayType(args[0].type)) return null;
      const type = args[0].type;
      const value = assignedValue(args, type, castTo);
      const omitted = Number(args[3].constant?.value ?? 0);
      const bounds = args.slice(4).map((a) => toType(a, "int4"));
      return {
        type,
        evaluate: (ctx) => {
          const at: (number | null)[] = [];
          for (const [k, b] of bounds.entries()) {
            if ((omitted >> k) & 1) {
              at.push(null);
              continue;
            }
            const v = b.evaluate(ctx);
            if (v === null) {
              throw new SqlError("22004", "array subscript in assignment must not be null");
            }
            at.push(Number(v));
          }
          const a = args[0].evaluate(ctx);
          const v = value.evaluate(ctx);
          if (v === null) return a; // a NULL source leaves the array as it was
          return arraySetSlice(a === null ? null : String(a), String(v), at);
        },
      };
    }
    case "array_set_element": {
      // UPDATE ... SET a[i] = v (parser.ts): v cast to the element type as an assignment.
      if (args.length < 4 || !isArrayType(args[0].type)) return null;
      const element = elementType(args[0].type);
      const value = assignedValue(args, element, castTo);
      const write = elementText(element, oidOf);
      const indexes = args.slice(3).map((a) => toType(a, "int4"));
      return {
        type: args[0].type,
        evaluate: (ctx) => {
          const at: number[] = [];
          for (const i of indexes) {
            const v = i.evaluate(ctx);
            if (v === null) {
              throw new SqlError("22004", "array subscript in assignment must not be null");
            }
            at.push(Number(v));
          }
          const a = args[0].evaluate(ctx);
          return arraySetElement(a === null ? null : String(a), write(value.evaluate(ctx)), at);
        },
      };
    }
    default:
      return null;
  }
}
