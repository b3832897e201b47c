// Array types as real SQL types (PostgreSQL documentation 8.15 and 9.19):
// the columns `text[]`, `int4[]`, ... and what reads them. A value is its
// canonical text (lib/pg/arrays.ts), so storage, hashing (GROUP BY,
// DISTINCT, joins) and the wire's text format take it as it is; the
// functions here take it apart when they need the elements:
//
// - casts: a string to an array type (array_in through the element's input,
//   22P02 with PostgreSQL's detail), an array to text, and an array to
//   another array type element by element (array_coerce);
// - ordering (array_cmp: element by element with NULLs last, then the number
//   of elements, of dimensions, the dimensions and the lower bounds), which
//   `=`, `<`, ORDER BY, min/max and B-tree keys use;
// - `@>`, `<@` and `&&` (array_contain_compare: NULL elements never match,
//   dimensions ignored);
// - subscripts `a[i]`, `a[i][j]` and slices `a[i:j]` (NULL out of range, as
//   PostgreSQL; a slice's lower bounds start again at 1);
// - `x op ANY/ALL (array)` with the operator's own type resolution;
// - ARRAY[...] over scalars or over arrays (one dimension more, 2202E for
//   sub-arrays that do not match), array_agg over arrays, `||` and
//   array_cat over several dimensions, element assignment (`a[i] = v`),
//   array_fill, trim_array, and which indexes may serve an array column.
//
// Cost: every operator parses the text again (linear in its length); the
// comparator remembers what it read (memoReader), since a sort compares
// each value about log2(n) times.

import {
  type ArrayShape,
  formatArray,
  formatList,
  parseArrayText,
} from "../../../lib/pg/arrays.ts";
import { formatText, parseText, type PgValue } from "../../../lib/pg/values.ts";
import { SqlError } from "./errors.ts";
import { ARRAY_OID_OF } from "../../../lib/pg/arrays.ts";
import { OID, typeByOid } from "../../../lib/pg/oids.ts";
import type { ArrayType, Compiled, EvalContext, ScalarType, SqlType } from "./eval.ts";

// The helpers over type names live here, not in eval.ts, so that this file
// imports nothing from eval.ts at run time (eval.ts imports this one; an
// import cycle is refused by tests/main_test.ts). eval.ts re-exports them.

/** Whether a type is an array type. */
export function isArrayType(type: SqlType): type is ArrayType {
  return type.endsWith("[]");
}

/** The element type of an array type. */
export function elementType(type: ArrayType): ScalarType {
  return type.slice(0, -2) as ScalarType;
}

/** The array type of an element type (unknown elements are text, as ARRAY['a'] is text[]). */
export function arrayTypeOf(element: SqlType): ArrayType {
  if (isArrayType(element)) return element;
  if (element.startsWith("enum:")) {
    throw new SqlError("0A000", "arrays of enum types are not supported");
  }
  return `${element === "unknown" ? "text" : element}[]` as ArrayType;
}

/** A scalar type's OID by its name, until eval.ts hands in its own table (useTypeOids). */
let scalarOid = (type: SqlType): number => (OID as Record<string, number>)[type];

/** eval.ts hands in its type table, the one source of scalar types' OIDs. */
export function useTypeOids(oidOfScalar: (type: SqlType) => number): void {
  scalarOid = oidOfScalar;
}

/** The OID of any type, arrays included (RowDescription's). */
function typeOid(type: SqlType): number {
  return isArrayType(type) ? ARRAY_OID_OF.get(scalarOid(elementType(type)))! : scalarOid(type);
}

/** The name PostgreSQL's messages use: `integer[]`. */
export function typeDisplayName(type: SqlType): string {
  return typeByOid(typeOid(type))?.sqlName ?? type;
}

const STRING_ELEMENTS: ReadonlySet<SqlType> = new Set(["text", "varchar", "bpchar"]);

/** How to read an element's text as its type's value (strings as they are). */
export function elementReader(element: SqlType): (text: string) => PgValue {
  if (STRING_ELEMENTS.has(element)) return (text) => text;
  const oid = typeOid(element);
  return (text) => parseText(oid, text);
}

/** How to write an element's value as the text an array holds. */
export function elementWriter(element: SqlType): (value: PgValue) => string | null {
  if (STRING_ELEMENTS.has(element)) return (value) => value === null ? null : String(value);
  const oid = typeOid(element);
  return (value) => value === null ? null : formatText(oid, value);
}

/** An array value taken apart, its elements read as values of `element`. */
export function arrayValues(value: string, element: SqlType): PgValue[] {
  const read = elementReader(element);
  return parseArrayText(value).items.map((e) => (e === null ? null : read(e)));
}

/**
 * The cast between `from` and `to` where one is an array type, or null
 * when there is none (42846 then). `castElement` is eval.ts's castFunction.
 */
export function arrayCast(
  from: SqlType,
  to: SqlType,
  castElement: (from: SqlType, to: SqlType) => ((value: PgValue) => PgValue) | null,
): ((value: PgValue) => PgValue) | null {
  if (from === "unknown" || (STRING_ELEMENTS.has(from) && isArrayType(to))) {
    const oid = typeOid(to);
    return (value) => parseText(oid, value as string);
  }
  if (isArrayType(from) && STRING_ELEMENTS.has(to)) return (value) => value;
  if (!isArrayType(from) || !isArrayType(to)) return null;
  const f = elementType(from);
  const t = elementType(to);
  if (STRING_ELEMENTS.has(f) && STRING_ELEMENTS.has(t)) return (value) => value;
  const cast = castElement(f, t);
  if (cast === null) return null;
  const read = elementReader(f);
  const write = elementWriter(t);
  return (value) => {
    const shape = parseArrayText(value as string);
    return formatArray({
      ...shape,
      items: shape.items.map((e) => (e === null ? null : write(cast(read(e))))),
    });
  };
}

/** An array taken apart with its elements read as values (null for NULL). */
interface ReadArray {
  dims: number[];
  lbounds: number[];
  values: PgValue[];
}

/**
 * Characters of array text one memo holds before it starts again: a sort
 * compares each value about log2(n) times, and reading it once instead of
 * every time is most of its cost (ORDER BY an int[] column of 20000 rows:
 * 168 ms of server CPU without the memo, 61-75 with it, see docs/datastore.md).
 * Bounded, since the memo lives as long as the plan (a prepared statement's
 * too): at most 256 Ki characters of values it also keeps alive.
 */
const MEMO_CHARS_MAX = 1 << 18;

/**
 * `value -> its elements read as `element`s`, remembered for the values seen
 * last (up to MEMO_CHARS_MAX characters of them): for a comparator that
 * sees each row's value many times.
 */
function memoReader(element: SqlType): (value: string) => ReadArray {
  const read = elementReader(element);
  let memo = new Map<string, ReadArray>();
  let chars = 0;
  return (value) => {
    const found = memo.get(value);
    if (found !== undefined) return found;
    const shape = parseArrayText(value);
    const out: ReadArray = {
      dims: shape.dims,
      lbounds: shape.lbounds,
      values: shape.items.map((e) => (e === null ? null : read(e))),
    };
    if (chars + value.length > MEMO_CHARS_MAX) {
      memo = new Map();
      chars = 0;
    }
    memo.set(value, out);
    chars += value.length;
    return out;
  };
}

/** array_cmp for two non-null arrays of `type`, given its elements' comparator. */
export function arrayComparator(
  type: ArrayType,
  compareElements: (a: PgValue, b: PgValue) => number,
): (a: PgValue, b: PgValue) => number {
  const readArray = memoReader(elementType(type));
  return (a, b) => {
    if (a === b) return 0;
    const x = readArray(a as string);
    const y = readArray(b as string);
    const n = Math.min(x.values.length, y.values.length);
    for (let i = 0; i < n; i++) {
      const p = x.values[i];
      const q = y.values[i];
      if (p === null || q === null) {
        if (p === q) continue;
        return p === null ? 1 : -1; // NULL sorts after any value
      }
      const order = compareElements(p, q);
      if (order !== 0) return order;
    }
    if (x.values.length !== y.values.length) return x.values.length < y.values.length ? -1 : 1;
    if (x.dims.length !== y.dims.length) return x.dims.length < y.dims.length ? -1 : 1;
    for (let i = 0; i < x.dims.length; i++) {
      if (x.dims[i] !== y.dims[i]) return x.dims[i] < y.dims[i] ? -1 : 1;
    }
    for (let i = 0; i < x.lbounds.length; i++) {
      if (x.lbounds[i] !== y.lbounds[i]) return x.lbounds[i] < y.lbounds[i] ? -1 : 1;
    }
    return 0;
  };
}

/** The array type two sides of an array operator meet at, or null. */
export function commonArrayType(left: SqlType, right: SqlType): ArrayType | null {
  if (left === "unknown" && isArrayType(right)) return right;
  if (right === "unknown" && isArrayType(left)) return left;
  if (!isArrayType(left) || !isArrayType(right)) return null;
  // Array operators take two arrays of one type: int4[] = int8[] and even varchar[] = text[]
  // do not exist, as in PostgreSQL.
  return left === right ? left : null;
}

/**
 * `@>`, `<@` and `&&` over two arrays brought to one type by `toType`
 * (array_contain_compare; elements equal by the comparator).
 */
export function arrayContainment(
  op: "@>" | "<@" | "&&",
  left: Compiled,
  right: Compiled,
  helpers: {
    toType: (value: Compiled, type: SqlType) => Compiled;
    comparator: (type: SqlType) => (a: PgValue, b: PgValue) => number;
  },
): Compiled | null {
  const type = commonArrayType(left.type, right.type);
  if (type === null) return null;
  const element = elementType(type);
  const compare = helpers.comparator(element);
  const l = helpers.toType(left, type).evaluate;
  const r = helpers.toType(right, type).evaluate;
  // Does every non-null element of `inner` equal some element of `outer`? (&&: any)
  const test = (outer: PgValue[], inner: PgValue[], any: boolean): boolean => {
    for (const e of inner) {
      const found = e !== null && outer.some((o) => o !== null && compare(o, e) === 0);
      if (any && found) return true;
      if (!any && !found) return false;
    }
    return !any;
  };
  return {
    type: "bool",
    evaluate: (ctx) => {
      const a = l(ctx);
      if (a === null) return null;
      const b = r(ctx);
      if (b === null) return null;
      const x = arrayValues(a as string, element);
      const y = arrayValues(b as string, element);
      if (op === "@>") return test(x, y, false);
      if (op === "<@") return test(y, x, false);
      return test(x, y, true);
    },
  };
}

/** One subscript: `[i]`, or `[lower:upper]` (a bound left out is the array's own). */
export interface Subscript {
  index: Compiled | null;
  upper?: Compiled | null;
  slice: boolean;
}

function subscriptValue(
  c: Compiled | null | undefined,
  ctx: EvalContext,
): number | null | undefined {
  if (c === null || c === undefined) return undefined;
  const v = c.evaluate(ctx);
  if (v === null) return null;
  return Number(v);
}

const INTEGER_TYPES: ReadonlySet<SqlType> = new Set(["int2", "int4", "int8"]);

/** A subscript as int4, the cast PostgreSQL applies (numeric 1.5 rounds to 2; 'x' is 22P02). */
function subscriptInteger(
  c: Compiled,
  toType: (value: Compiled, type: SqlType) => Compiled,
): Compiled {
  if (INTEGER_TYPES.has(c.type)) return c;
  if (c.type === "unknown" || ["numeric", "float4", "float8"].includes(c.type)) {
    return toType(c, "int4");
  }
  throw new SqlError("42804", "array subscript must have type integer");
}

/** `array[i][j]...` (an element, NULL out of range) or, with any slice, the sub-array. */
export function compileSubscripts(
  array: Compiled,
  given: Subscript[],
  toType: (value: Compiled, type: SqlType) => Compiled,
): Compiled {
  const type = array.type as ArrayType;
  const element = elementType(type);
  const subscripts = given.map((s) => ({
    slice: s.slice,
    index: s.index ? subscriptInteger(s.index, toType) : s.index,
    upper: s.upper ? subscriptInteger(s.upper, toType) : s.upper,
  }));
  if (subscripts.length > 6) {
    throw new SqlError(
      "54000",
      `number of array dimensions (${subscripts.length}) exceeds the maximum allowed (6)`,
    );
  }
  const slice = subscripts.some((s) => s.slice);
  const evaluate = array.evaluate;
  if (!slice) {
    const read = elementReader(element);
    return {
      type: element,
      evaluate: (ctx) => {
        const a = evaluate(ctx);
        if (a === null) return null;
        const indexes: number[] = [];
        for (const s of subscripts) {
          const i = subscriptValue(s.index, ctx);
          if (i === null || i === undefined) return null;
          indexes.push(i);
        }
        const shape = parseArrayText(a as string);
        if (indexes.length !== shape.dims.length) return null;
        let offset = 0;
        for (let d = 0; d < indexes.length; d++) {
          const at = indexes[d] - shape.lbounds[d];
          if (at < 0 || at >= shape.dims[d]) return null;
          offset = offset * shape.dims[d] + at;
        }
        const item = shape.items[offset];
        return item === null ? null : read(item);
      },
    };
  }
  return {
    type,
    evaluate: (ctx) => {
      const a = evaluate(ctx);
      if (a === null) return null;
      const shape = parseArrayText(a as string);
      if (shape.dims.length === 0 || subscripts.length > shape.dims.length) return "{}";
      const lows: number[] = [];
      const highs: number[] = [];
      for (let d = 0; d < shape.dims.length; d++) {
        const first = shape.lbounds[d];
        const last = first + shape.dims[d] - 1;
        const s = subscripts[d];
        if (s === undefined) {
          lows.push(first);
          highs.push(last);
          continue;
        }
        let low: number | null | undefined;
        let high: number | null | undefined;
        if (s.slice) {
          low = subscriptValue(s.index, ctx);
          high = subscriptValue(s.upper, ctx);
        } else {
          low = 1;
          high = subscriptValue(s.index, ctx);
        }
        if (low === null || high === null) return null;
        lows.push(Math.max(low ?? first, first));
        highs.push(Math.min(high ?? last, last));
      }
      if (lows.some((l, d) => l > highs[d])) return "{}";
      return formatArray(sliceOf(shape, lows, highs));
    },
  };
}

function sliceOf(shape: ArrayShape, lows: number[], highs: number[]): ArrayShape {
  const dims = lows.map((l, d) => highs[d] - l + 1);
  const items: (string | null)[] = [];
  const walk = (d: number, offset: number): void => {
    for (let i = lows[d]; i <= highs[d]; i++) {
      const at = offset * shape.dims[d] + (i - shape.lbounds[d]);
      if (d === shape.dims.length - 1) items.push(shape.items[at]);
      else walk(d + 1, at);
    }
  };
  walk(0, 0);
  return { dims, lbounds: dims.map(() => 1), items };
}

/**
 * `operand op ANY/ALL (array)` over a typed array: each element compared by
 * `compare`, the comparison compiled once against a stand-in for the element.
 */
export function compileQuantifiedArray(
  array: Compiled,
  all: boolean,
  compile: (element: Compiled) => Compiled,
): Compiled {
  const type = array.type as ArrayType;
  const element = elementType(type);
  let current: PgValue = null;
  const test = compile({ type: element, evaluate: () => current }).evaluate;
  const read = elementReader(element);
  const evaluateArray = array.evaluate;
  return {
    type: "bool",
    evaluate: (ctx) => {
      const a = evaluateArray(ctx);
      if (a === null) return null;
      let sawNull = false;
      for (const item of parseArrayText(a as string).items) {
        current = item === null ? null : read(item);
        const r = test(ctx);
        if (r === null) sawNull = true;
        else if (r !== all) return !all;
      }
      return sawNull ? null : all;
    },
  };
}

/**
 * ARRAY[...]: elements of one type (commonType's rules, 42804 otherwise), or
 * arrays, which give an array of one dimension more (2202E when they differ).
 */
export function compileArrayConstructor(
  elements: Compiled[],
  helpers: {
    commonType: (types: SqlType[], what: string) => SqlType;
    toType: (value: Compiled, type: SqlType) => Compiled;
  },
): Compiled {
  const types = elements.map((e) => e.type);
  if (types.length > 0 && types.some(isArrayType)) {
    const type = helpers.commonType(types, "ARRAY") as ArrayType;
    if (!isArrayType(type)) {
      throw new SqlError("42804", `ARRAY types ${typeDisplayName(type)} cannot be matched`);
    }
    const parts = elements.map((e) => helpers.toType(e, type).evaluate);
    return {
      type,
      evaluate: (ctx) => {
        const shapes: ArrayShape[] = [];
        for (const p of parts) {
          const v = p(ctx);
          if (v === null) continue; // PostgreSQL skips NULL sub-arrays
          shapes.push(parseArrayText(v as string));
        }
        const nonEmpty = shapes.filter((s) => s.items.length > 0);
        if (nonEmpty.length === 0) return "{}";
        const first = nonEmpty[0];
        if (
          nonEmpty.length !== shapes.length ||
          nonEmpty.some((s) =>
            s.dims.length !== first.dims.length || s.dims.some((d, i) => d !== first.dims[i])
          )
        ) {
          throw new SqlError(
            "2202E",
            "multidimensional arrays must have array expressions with matching dimensions",
          );
        }
        if (first.dims.length >= 6) {
          throw new SqlError(
            "54000",
            `number of array dimensions (${first.dims.length + 1}) exceeds the maximum allowed (6)`,
          );
        }
        return formatArray({
          dims: [shapes.length, ...first.dims],
          lbounds: [1, ...first.lbounds],
          items: shapes.flatMap((s) => s.items),
        });
      },
    };
  }
  const element = helpers.commonType(types, "ARRAY");
  const writers = elements.map((e) => {
    const evaluate = helpers.toType(e, element).evaluate;
    const write = elementWriter(element);
    return (ctx: EvalContext) => write(evaluate(ctx));
  });
  return {
    type: arrayTypeOf(element),
    evaluate: (ctx) => formatList(writers.map((w) => w(ctx))),
  };
}

/**
 * array_length, array_upper, array_lower (of dimension `dim`), array_ndims,
 * array_dims and cardinality of a non-null array: NULL for a dimension it
 * does not have, as PostgreSQL.
 */
export function arrayDimension(
  fn: "array_length" | "array_upper" | "array_lower" | "array_ndims" | "array_dims" | "cardinality",
  value: string,
  dim: number | null,
): PgValue {
  const shape = parseArrayText(value);
  if (fn === "cardinality") return shape.items.length;
  if (shape.dims.length === 0) return null;
  if (fn === "array_ndims") return shape.dims.length;
  if (fn === "array_dims") {
    return shape.dims.map((d, i) => `[${shape.lbounds[i]}:${shape.lbounds[i] + d - 1}]`).join("");
  }
  if (dim === null || dim < 1 || dim > shape.dims.length) return null;
  const d = shape.dims[dim - 1];
  const lower = shape.lbounds[dim - 1];
  return fn === "array_length" ? d : fn === "array_lower" ? lower : lower + d - 1;
}

/** An array with `f` applied to each non-null element (read and written as `element`). */
export function mapArrayElements(
  value: string,
  element: SqlType,
  f: (value: PgValue) => PgValue,
): string {
  const read = elementReader(element);
  const write = elementWriter(element);
  const shape = parseArrayText(value);
  return formatArray({
    ...shape,
    items: shape.items.map((e) => (e === null ? null : write(f(read(e))))),
  });
}

/**
 * array_cat / `||` of two arrays (array_cat in arrayfuncs.c): of the same
 * dimensions, joined along the first; one of a dimension fewer, added as a
 * last (or first) element of the other; 2202E otherwise.
 */
export function concatArrays(a: string, b: string): string {
  const x = parseArrayText(a);
  const y = parseArrayText(b);
  if (x.items.length === 0) return formatArray(y);
  if (y.items.length === 0) return formatArray(x);
  const incompatible = (detail: string) =>
    new SqlError("2202E", "cannot concatenate incompatible arrays", { detail });
  if (x.dims.length === y.dims.length) {
    if (x.dims.slice(1).some((d, i) => d !== y.dims[i + 1])) {
      throw incompatible(
        "Arrays with differing element dimensions are not compatible for concatenation.",
      );
    }
    return formatArray({
      dims: [x.dims[0] + y.dims[0], ...x.dims.slice(1)],
      lbounds: x.lbounds,
      items: [...x.items, ...y.items],
    });
  }
  if (x.dims.length === y.dims.length + 1) {
    if (x.dims.slice(1).some((d, i) => d !== y.dims[i])) {
      throw incompatible("Arrays with differing dimensions are not compatible for concatenation.");
    }
    return formatArray({
      dims: [x.dims[0] + 1, ...x.dims.slice(1)],
      lbounds: x.lbounds,
      items: [...x.items, ...y.items],
    });
  }
  if (y.dims.length === x.dims.length + 1) {
    if (y.dims.slice(1).some((d, i) => d !== x.dims[i])) {
      throw incompatible("Arrays with differing dimensions are not compatible for concatenation.");
    }
    return formatArray({
      dims: [y.dims[0] + 1, ...y.dims.slice(1)],
      lbounds: [1, ...y.lbounds.slice(1)],
      items: [...x.items, ...y.items],
    });
  }
  throw incompatible(
    `Arrays of ${x.dims.length} and ${y.dims.length} dimensions are not compatible for concatenation.`,
  );
}

/**
 * An array with one element assigned: `UPDATE t SET a[i] = v` (the parser
 * turns it into array_set_element(a, v, i...)). A one-dimensional array
 * grows to take a subscript past either end, the gap filled with NULLs, as
 * PostgreSQL's array_set_element; a NULL or empty array becomes `[i:i]={v}`.
 * Several dimensions: the subscripts must be inside (2202E otherwise).
 */
export function arraySetElement(
  array: string | null,
  element: string | null,
  indexes: number[],
): string {
  const shape = array === null
    ? { dims: [], lbounds: [], items: [] } as ArrayShape
    : parseArrayText(array);
  if (shape.dims.length === 0) {
    if (indexes.length > 6) {
      throw new SqlError(
        "54000",
        `number of array dimensions (${indexes.length}) exceeds the maximum allowed (6)`,
      );
    }
    return formatArray({
      dims: indexes.map(() => 1),
      lbounds: indexes,
      items: [element],
    });
  }
  if (indexes.length !== shape.dims.length) {
    throw new SqlError("2202E", "wrong number of array subscripts");
  }
  if (shape.dims.length === 1) {
    const [i] = indexes;
    let lower = shape.lbounds[0];
    const items = [...shape.items];
    if (i < lower) {
      items.unshift(...new Array<null>(lower - i).fill(null));
      lower = i;
    }
    const at = i - lower;
    while (items.length <= at) items.push(null);
    items[at] = element;
    return formatArray({ dims: [items.length], lbounds: [lower], items });
  }
  let offset = 0;
  for (let d = 0; d < indexes.length; d++) {
    const at = indexes[d] - shape.lbounds[d];
    if (at < 0 || at >= shape.dims[d]) throw new SqlError("2202E", "array subscript out of range");
    offset = offset * shape.dims[d] + at;
  }
  const items = [...shape.items];
  items[offset] = element;
  return formatArray({ ...shape, items });
}

/** array_agg over arrays (array_agg_array_transfn): one dimension more, sub-arrays alike. */
export function accumulateArrays(values: readonly (string | null)[]): string {
  // In input order, as accumArrayResultArr checks: a NULL anywhere, an empty first array,
  // then any later one (empty too) whose dimensions differ from the first's.
  const shapes: ArrayShape[] = [];
  for (const v of values) {
    if (v === null) throw new SqlError("22004", "cannot accumulate null arrays");
    const shape = parseArrayText(v);
    const first = shapes[0];
    if (first === undefined && shape.items.length === 0) {
      throw new SqlError("2202E", "cannot accumulate empty arrays");
    }
    if (
      first !== undefined &&
      (shape.dims.length !== first.dims.length || shape.dims.some((d, i) => d !== first.dims[i]))
    ) {
      throw new SqlError("2202E", "cannot accumulate arrays of different dimensionality");
    }
    shapes.push(shape);
  }
  const first = shapes[0];
  if (first.dims.length >= 6) {
    throw new SqlError(
      "54000",
      `number of array dimensions (${first.dims.length + 1}) exceeds the maximum allowed (6)`,
    );
  }
  return formatArray({
    dims: [shapes.length, ...first.dims],
    lbounds: [1, ...first.lbounds],
    items: shapes.flatMap((s) => s.items),
  });
}

/**
 * Whether a value of `from` may be stored in a column of array type `to`
 * (an assignment cast, pg_cast's castcontext 'a' or 'i', element by
 * element): numbers to numbers, anything to strings, an element type to
 * itself; a string or string array to another element type needs an
 * explicit cast (42804 then, as PostgreSQL).
 */
export function arrayAssignable(from: SqlType, to: ArrayType): boolean {
  if (from === "unknown" || from === to) return true;
  if (!isArrayType(from)) return false;
  const f = elementType(from);
  const t = elementType(to);
  const numbers = ["int2", "int4", "int8", "numeric", "float4", "float8"];
  if (f === t || STRING_ELEMENTS.has(t)) return true;
  if (numbers.includes(f) && numbers.includes(t)) return true;
  if (
    (f === "date" || f === "timestamp" || f === "timestamptz") &&
    (t === "timestamp" || t === "timestamptz" || t === "date")
  ) return true;
  return (f === "json" && t === "jsonb") || (f === "jsonb" && t === "json");
}

/** Element types whose equal values can differ in text (1.5 and 1.50, 0 and -0, '1 mon' and '30 days'). */
const TEXT_NOT_KEY: ReadonlySet<SqlType> = new Set([
  "numeric",
  "float4",
  "float8",
  "interval",
  "json",
  "jsonb",
  "bpchar",
]);

/**
 * Whether an index over a column of this type may serve `op`: an array's
 * index orders its canonical text, not array_cmp's order, so only `=`, and
 * only where equal arrays have one text.
 */
export function indexServes(type: SqlType, op: string): boolean {
  if (!isArrayType(type)) return true;
  return op === "=" && !TEXT_NOT_KEY.has(elementType(type));
}

/** An array as JSON (array_to_json): nested as its dimensions, each element by `leaf`. */
export function arrayToJsonText(value: string, leaf: (item: string | null) => string): string {
  const shape = parseArrayText(value);
  if (shape.items.length === 0) return "[]";
  let k = 0;
  const level = (d: number): string => {
    const parts: string[] = [];
    for (let i = 0; i < shape.dims[d]; i++) {
      parts.push(d === shape.dims.length - 1 ? leaf(shape.items[k++]) : level(d + 1));
    }
    return `[${parts.join(",")}]`;
  };
  return level(0);
}

/**
 * array_append / array_prepend: one element more at the end (or the start),
 * the lower bound kept; 22000 for an array of several dimensions.
 */
export function appendElement(
  array: string | null,
  element: string | null,
  atEnd: boolean,
): string {
  const shape = array === null ? null : parseArrayText(array);
  if (shape === null || shape.items.length === 0) return formatList([element]);
  if (shape.dims.length > 1) {
    throw new SqlError("22000", "argument must be empty or one-dimensional array");
  }
  return formatArray({
    dims: [shape.dims[0] + 1],
    lbounds: shape.lbounds,
    items: atEnd ? [...shape.items, element] : [element, ...shape.items],
  });
}

/**
 * array_remove (no `replacement`) and array_replace over an array's text:
 * elements equal to `target` (compared as text; NULL finds NULLs) dropped or
 * replaced, the lower bounds kept; array_remove refuses several dimensions
 * (0A000, as PostgreSQL).
 */
export function removeOrReplace(
  array: string,
  target: string | null,
  replacement?: string | null,
): string {
  const shape = parseArrayText(array);
  if (replacement !== undefined) {
    return formatArray({
      ...shape,
      items: shape.items.map((e) => (e === target ? replacement : e)),
    });
  }
  if (shape.dims.length > 1) {
    throw new SqlError("0A000", "removing elements from multidimensional arrays is not supported");
  }
  const items = shape.items.filter((e) => e !== target);
  if (items.length === 0) return "{}";
  return formatArray({ dims: [items.length], lbounds: shape.lbounds, items });
}

/** trim_array(a, n): a without its last n elements of the first dimension. */
export function trimArray(array: string, n: number): string {
  const shape = parseArrayText(array);
  const length = shape.dims[0] ?? 0;
  if (n < 0 || n > length) {
    throw new SqlError("2202E", "number of elements to trim must be between 0 and " + length);
  }
  if (n === length) return "{}";
  const per = shape.items.length / length;
  return formatArray({
    dims: [length - n, ...shape.dims.slice(1)],
    lbounds: shape.lbounds,
    items: shape.items.slice(0, (length - n) * per),
  });
}

/**
 * Elements array_fill may make: the one call that builds an array from a
 * few bytes of input. PostgreSQL's bound is MaxArraySize (about 134
 * million); ours keeps one call's array (a JS array of 8-byte slots and
 * its text) within tens of MiB, as a 16 MiB message bounds parsed arrays.
 */
const FILL_ELEMENTS_MAX = 1 << 22;

/** array_fill(value, dims[, lbounds]): an array of that shape, every element `value`. */
export function fillArray(value: string | null, dims: string, lbounds: string | null): string {
  const sizes = parseArrayText(dims).items.map(Number);
  const lows = lbounds === null ? sizes.map(() => 1) : parseArrayText(lbounds).items.map(Number);
  if (sizes.length > 6) {
    throw new SqlError(
      "54000",
      `number of array dimensions (${sizes.length}) exceeds the maximum allowed (6)`,
    );
  }
  if (lows.length !== sizes.length) {
    throw new SqlError(
      "2202E",
      "wrong number of array subscripts",
      { detail: "Low bound array has different size than dimensions array." },
    );
  }
  if (sizes.length === 0 || sizes.some((d) => d <= 0)) return "{}";
  const count = sizes.reduce((a, b) => a * b, 1);
  if (count > FILL_ELEMENTS_MAX) {
    throw new SqlError("54000", `array size exceeds the maximum allowed (${FILL_ELEMENTS_MAX})`);
  }
  return formatArray({ dims: sizes, lbounds: lows, items: new Array(count).fill(value) });
}

/**
 * An array with a slice assigned: `UPDATE t SET a[2:3] = '{x,y}'`
 * (array_set_slice). `bounds` holds each subscript's lower and upper bound,
 * null where left out (the array's own bound). A one-dimensional array grows
 * to take the slice, NULLs in any gap; an empty or NULL one needs every
 * bound; several dimensions must stay inside. The source gives its first
 * elements in order and must have enough (2202E "source array too small").
 */
export function arraySetSlice(
  array: string | null,
  source: string,
  bounds: (number | null)[],
): string {
  const shape = array === null
    ? { dims: [], lbounds: [], items: [] } as ArrayShape
    : parseArrayText(array);
  const from = parseArrayText(source).items;
  const n = bounds.length / 2;
  if (n > 6) {
    throw new SqlError(
      "54000",
      `number of array dimensions (${n}) exceeds the maximum allowed (6)`,
    );
  }
  const tooSmall = () => new SqlError("2202E", "source array too small");
  if (shape.dims.length === 0) {
    if (bounds.some((b) => b === null)) {
      throw new SqlError("2202E", "array slice subscript must provide both boundaries", {
        detail:
          "When assigning to a slice of an empty array value, slice boundaries must be fully specified.",
      });
    }
    const lows: number[] = [];
    const dims: number[] = [];
    for (let k = 0; k < n; k++) {
      const low = bounds[2 * k]!;
      const high = bounds[2 * k + 1]!;
      if (high < low) throw new SqlError("2202E", "upper bound cannot be less than lower bound");
      lows.push(low);
      dims.push(high - low + 1);
    }
    const count = dims.reduce((a, b) => a * b, 1);
    if (from.length < count) throw tooSmall();
    return formatArray({ dims, lbounds: lows, items: from.slice(0, count) });
  }
  if (n !== shape.dims.length) {
    throw new SqlError("2202E", "wrong number of array subscripts");
  }
  const lows = bounds.filter((_, i) => i % 2 === 0).map((b, k) => b ?? shape.lbounds[k]);
  const highs = bounds.filter((_, i) => i % 2 === 1).map((b, k) =>
    b ?? shape.lbounds[k] + shape.dims[k] - 1
  );
  if (lows.some((l, k) => highs[k] < l)) {
    throw new SqlError("2202E", "upper bound cannot be less than lower bound");
  }
  if (n === 1) {
    let lower = shape.lbounds[0];
    const items = [...shape.items];
    const count = highs[0] - lows[0] + 1;
    if (from.length < count) throw tooSmall();
    if (lows[0] < lower) {
      items.unshift(...new Array<null>(lower - lows[0]).fill(null));
      lower = lows[0];
    }
    while (items.length < highs[0] - lower + 1) items.push(null);
    for (let i = 0; i < count; i++) items[lows[0] - lower + i] = from[i];
    return formatArray({ dims: [items.length], lbounds: [lower], items });
  }
  for (let k = 0; k < n; k++) {
    if (lows[k] < shape.lbounds[k] || highs[k] > shape.lbounds[k] + shape.dims[k] - 1) {
      throw new SqlError("2202E", "array subscript out of range");
    }
  }
  const count = lows.reduce((a, l, k) => a * (highs[k] - l + 1), 1);
  if (from.length < count) throw tooSmall();
  const items = [...shape.items];
  let next = 0;
  const walk = (k: number, offset: number): void => {
    for (let i = lows[k]; i <= highs[k]; i++) {
      const at = offset * shape.dims[k] + (i - shape.lbounds[k]);
      if (k === n - 1) items[at] = from[next++];
      else walk(k + 1, at);
    }
  };
  walk(0, 0);
  return formatArray({ ...shape, items });
}
