// The expressions catalog queries need beyond everyday SQL: casts to
// regclass, regtype and regnamespace, arrays (ARRAY[...], casts to array
// types, ANY/ALL and subscripts: array_types.ts for the array types, the
// text form of pg_catalog.ts for the catalog's name[] and oid[]), and
// the catalog functions psql calls (format_type, pg_get_expr,
// pg_get_indexdef, pg_get_constraintdef, pg_get_userbyid, ...). The
// executor's planner asks `catalogExpr` about these node kinds first.
//
// regclass follows what its uses in psql's queries need: a string
// ('16384' or 'name') becomes the relation's OID, for comparing with OID
// columns; an OID becomes the relation's name, for printing.

import { quoteIdentifier } from "./printer.ts";
import { formatText, type PgValue } from "../../../lib/pg/values.ts";
import { OID, typeByOid } from "../../../lib/pg/oids.ts";
import type { Expr, SelectStatement } from "./ast.ts";
import { SqlError } from "./errors.ts";
import { arrayValue } from "./arrays.ts";
import {
  type ArrayType,
  arrayTypeOf,
  castTo,
  coerce,
  commonType,
  compileComparison,
  type Compiled,
  elementType,
  isArrayType,
  type SqlType,
  sqlTypeOf,
  toType,
} from "./eval.ts";
import {
  accumulateArrays,
  arrayDimension,
  compileArrayConstructor,
  compileQuantifiedArray,
  compileSubscripts,
  type Subscript,
} from "./array_types.ts";
import type { TypeName } from "./ast.ts";
import {
  arrayText,
  type CatalogSource,
  columnDescriptionOf,
  constraintDefinitionOf,
  descriptionOf,
  formatType,
  indexDefinitionOf,
  namespaceName,
  parseArray,
  relationName,
  relationOid,
  roleName,
  typeOidOf,
} from "./pg_catalog.ts";

/** What catalog expressions need from the planner. */
export interface CatalogExprHost {
  compile(expr: Expr): Compiled;
  /** Plans a subquery; its rows are there when the expression runs. */
  subquery(query: SelectStatement): { rows: PgValue[][]; types: SqlType[] };
  source(): CatalogSource;
}

function text(value: PgValue, type: SqlType): string | null {
  if (value === null) return null;
  if (typeof value === "string") return value;
  return formatText(typeOidOf(type), value);
}

function asNumber(value: PgValue): number | null {
  if (value === null) return null;
  return typeof value === "string" ? Number(value) : Number(value as number | bigint);
}

/** A compiled catalog expression for `expr`, or null when it is everyday SQL. */
export function catalogExpr(expr: Expr, host: CatalogExprHost): Compiled | null {
  switch (expr.kind) {
    case "cast":
      return cast(expr, host);
    case "array": {
      if (expr.elements.length === 0) {
        // Only a cast says what an empty ARRAY[] holds (see `cast`); positions.ts points at it.
        throw new SqlError("42P18", "cannot determine type of empty array", {
          hint: "Explicitly cast to the desired type, for example ARRAY[]::integer[].",
        });
      }
      const elements = expr.elements.map((e) => host.compile(e));
      const compiled = compileArrayConstructor(elements, { commonType, toType });
      return arrayValue(compiled, elementType(compiled.type as ArrayType));
    }
    case "array_subquery": {
      const sub = host.subquery(expr.query);
      if (sub.types.length !== 1) {
        throw new SqlError("42601", "subquery must return only one column");
      }
      if (isArrayType(sub.types[0])) {
        // ARRAY(SELECT an array): one dimension more, as array_agg over arrays.
        const type = sub.types[0];
        return {
          type,
          evaluate: () =>
            sub.rows.length === 0
              ? "{}"
              : accumulateArrays(sub.rows.map((row) => row[0] as string | null)),
        };
      }
      return arrayValue({
        type: "text",
        evaluate: () => arrayText(sub.rows.map((row) => text(row[0], sub.types[0]))),
      }, sub.types[0]);
    }
    case "subscript": {
      const typed = typedSubscripts(expr, host);
      if (typed !== null) return typed;
      const array = host.compile(expr.operand);
      const index = host.compile(expr.index);
      // An element's type is not kept with the text: unknown, so it takes its context's type.
      return {
        type: "unknown",
        evaluate: (ctx) => {
          const a = array.evaluate(ctx);
          const i = asNumber(index.evaluate(ctx));
          if (a === null || i === null) return null;
          return parseArray(String(a))[i - 1] ?? null;
        },
      };
    }
    case "quantified_array":
      return quantified(expr, host);
    case "function":
      return catalogFunction(expr.name, expr.args, host);
    default:
      return null;
  }
}

/** The array type a TypeName names, or "unknown" for an element type we do not have (name[]). */
function arrayTypeOrNull(type: TypeName): SqlType {
  try {
    return sqlTypeOf(type);
  } catch {
    return "unknown";
  }
}

/**
 * `a[i][j]`, `a[i:j]` over a typed array (array_types.ts), or null for
 * the catalog's text arrays, which the one-subscript reading below serves.
 */
function typedSubscripts(
  expr: Extract<Expr, { kind: "subscript" }>,
  host: CatalogExprHost,
): Compiled | null {
  const chain: Extract<Expr, { kind: "subscript" }>[] = [];
  let base: Expr = expr;
  while (base.kind === "subscript") {
    chain.unshift(base);
    base = base.operand;
  }
  const array = host.compile(base);
  if (!isArrayType(array.type)) return null;
  const subscripts: Subscript[] = chain.map((s) => ({
    index: s.lowerOmitted ? null : host.compile(s.index),
    upper: s.upper === undefined || s.upper === null ? s.upper : host.compile(s.upper),
    slice: s.slice === true,
  }));
  return compileSubscripts(array, subscripts, toType);
}

function cast(expr: Extract<Expr, { kind: "cast" }>, host: CatalogExprHost): Compiled | null {
  const name = expr.type.name;
  if (expr.type.array && isArrayType(arrayTypeOrNull(expr.type))) {
    // A type we have: array_in (or an element-wise cast) through castTo. An
    // empty ARRAY[] takes the cast's type, as '{}' would.
    const empty = expr.operand.kind === "array" && expr.operand.elements.length === 0;
    const operand: Compiled = empty
      ? { type: "unknown", evaluate: () => "{}", constant: { value: "{}" } }
      : host.compile(expr.operand);
    const cast = castTo(operand, expr.type);
    return arrayValue(cast, elementType(cast.type as ArrayType));
  }
  if (expr.type.array) {
    // name[], oid[]: the text form, checked no further; elements read as text.
    const operand = coerce(host.compile(expr.operand), "text");
    let element: SqlType = "text";
    try {
      element = sqlTypeOf({ ...expr.type, array: false });
    } catch {
      // a type we do not have (name[], oid[]): its elements read as text
    }
    return arrayValue({ type: operand.type, evaluate: operand.evaluate }, element);
  }
  if (name === "name" || name === "char") {
    return coerce(host.compile(expr.operand), "text");
  }
  if (name === "oid" || name === "regproc") return coerce(host.compile(expr.operand), "int8");
  if (name !== "regclass" && name !== "regtype" && name !== "regnamespace") return null;
  const operand = host.compile(expr.operand);
  if (operand.type === "unknown" || operand.type === "text" || operand.type === "varchar") {
    // 'name' or '16384' to an OID.
    return {
      type: "int8",
      evaluate: (ctx) => {
        const value = operand.evaluate(ctx);
        if (value === null) return null;
        const s = String(value);
        if (/^\d+$/.test(s)) return BigInt(s);
        if (name === "regtype") {
          // A built-in by its name, or an enum (enums.ts).
          const bare = s.replace(/^(pg_catalog|public)\./, "");
          const oid = [...Object.values(OID)].find((o) => {
            const t = typeByOid(o)!;
            return t.name === bare || t.sqlName === bare;
          }) ?? host.source().enums?.find((e) => e.name === bare)?.oid;
          if (oid === undefined) throw new SqlError("42704", `type "${s}" does not exist`);
          return BigInt(oid);
        }
        const oid = name === "regclass" ? relationOid(host.source(), s) : null;
        if (oid === null) {
          throw new SqlError("42P01", `relation "${s}" does not exist`);
        }
        return BigInt(oid);
      },
    };
  }
  return {
    type: "text",
    evaluate: (ctx) => {
      const value = operand.evaluate(ctx);
      if (value === null) return null;
      const oid = value as number | bigint;
      if (name === "regclass") return relationName(host.source(), oid) ?? String(oid);
      if (name === "regnamespace") return namespaceName(oid) ?? String(oid);
      return typeByOid(Number(oid))?.sqlName ??
        host.source().enums?.find((e) => e.oid === Number(oid))?.name ?? String(oid);
    },
  };
}

function quantified(
  expr: Extract<Expr, { kind: "quantified_array" }>,
  host: CatalogExprHost,
): Compiled {
  const operand = host.compile(expr.operand);
  const all = expr.quantifier === "all";
  if (expr.array.kind !== "array") {
    let array = host.compile(expr.array);
    if (array.type === "unknown") {
      // x = ANY('{1,2}'); two unknowns ('a' LIKE ANY ('{a%}')) are text, as PostgreSQL resolves them.
      array = coerce(array, arrayTypeOf(operand.type === "unknown" ? "text" : operand.type));
    }
    if (isArrayType(array.type)) {
      return compileQuantifiedArray(
        array,
        all,
        (element) => compileComparison(expr.op, operand, element),
      );
    }
  }
  // ARRAY[...] keeps its elements' types: compare them as the operator would.
  if (expr.array.kind === "array") {
    // ARRAY['1', '2'] of untyped literals is text[], as PostgreSQL resolves it (so 1 = ANY
    // (ARRAY['1']) is 42883 there too).
    let elements = expr.array.elements.map((e) => host.compile(e));
    if (elements.length > 0 && elements.every((e) => e.type === "unknown")) {
      elements = elements.map((e) => coerce(e, "text"));
    }
    const tests = elements.map((e) => compileComparison(expr.op, operand, e).evaluate);
    return { type: "bool", evaluate: (ctx) => fold(tests.map((t) => t(ctx)), all) };
  }
  // Any other array is text: elements compare as text with the operand's text form.
  const array = host.compile(expr.array);
  if (expr.op !== "=" && expr.op !== "<>") {
    throw new SqlError("0A000", `operator ${expr.op} with ANY/ALL over an array is not supported`);
  }
  return {
    type: "bool",
    evaluate: (ctx) => {
      const a = array.evaluate(ctx);
      if (a === null) return null;
      const v = text(operand.evaluate(ctx), operand.type);
      return fold(
        parseArray(String(a)).map((e) =>
          e === null || v === null ? null : (e === v) === (expr.op === "=")
        ),
        all,
      );
    },
  };
}

/** Three-valued ANY (or ALL) over comparison results. */
function fold(results: PgValue[], all: boolean): PgValue {
  let sawNull = false;
  for (const r of results) {
    if (r === null) sawNull = true;
    else if (r !== all) return !all;
  }
  return sawNull ? null : all;
}

const CATALOG_FUNCTIONS = new Set([
  "pg_get_userbyid",
  "pg_table_is_visible",
  "pg_type_is_visible",
  "format_type",
  "pg_get_expr",
  "pg_get_indexdef",
  "pg_get_constraintdef",
  "pg_encoding_to_char",
  "array_to_string",
  "array_upper",
  "array_length",
  "cardinality",
  "pg_relation_is_publishable",
  "pg_get_statisticsobjdef_columns",
  "pg_get_triggerdef",
  "pg_partition_ancestors",
  "obj_description",
  "col_description",
  "shobj_description",
  "pg_get_viewdef",
  "has_table_privilege",
  "has_schema_privilege",
  "has_database_privilege",
  "pg_is_in_recovery",
  "pg_postmaster_start_time",
  "quote_ident",
  "to_regclass",
]);

function catalogFunction(path: string[], args: Expr[], host: CatalogExprHost): Compiled | null {
  const name = path.length === 2 && path[0] === "pg_catalog" ? path[1] : path.join(".");
  if (!CATALOG_FUNCTIONS.has(name)) return null;
  const compiled = args.map((a) => host.compile(a));
  const value = (i: number, ctx: Parameters<Compiled["evaluate"]>[0]) =>
    compiled[i]?.evaluate(ctx) ?? null;
  const make = (type: SqlType, f: (ctx: Parameters<Compiled["evaluate"]>[0]) => PgValue) => ({
    type,
    evaluate: f,
  });
  switch (name) {
    case "pg_get_userbyid":
      return make("text", (ctx) => {
        const oid = asNumber(value(0, ctx));
        return oid === null ? null : roleName(host.source(), oid);
      });
    case "pg_table_is_visible":
    case "pg_type_is_visible":
    case "has_table_privilege":
    case "has_schema_privilege":
    case "has_database_privilege":
      return make("bool", () => true);
    case "pg_relation_is_publishable":
    case "pg_is_in_recovery":
      return make("bool", () => false);
    case "format_type":
      return make(
        "text",
        (ctx) => formatType(asNumber(value(0, ctx)), asNumber(value(1, ctx)), host.source().enums),
      );
    case "pg_get_expr":
      return make("text", (ctx) => value(0, ctx) as string | null);
    case "pg_get_indexdef":
      return make("text", (ctx) => {
        const oid = asNumber(value(0, ctx));
        return oid === null ? null : indexDefinitionOf(host.source(), oid);
      });
    case "pg_get_constraintdef":
      return make("text", (ctx) => {
        const oid = asNumber(value(0, ctx));
        if (oid === null) return null;
        const definition = constraintDefinitionOf(host.source(), oid);
        // Not pretty (no second argument, or false): an operator expression
        // in a CHECK gets parentheses of its own, as PostgreSQL's deparser.
        return definition === null || value(1, ctx) === true
          ? definition
          : unprettyCheck(definition);
      });
    case "pg_get_viewdef":
      return make("text", (ctx) => {
        const oid = asNumber(value(0, ctx));
        const view = host.source().tables.find((t) => t.oid === oid && t.view);
        return view ? ` ${view.view!.query};` : null;
      });
    case "obj_description":
      return make("text", (ctx) => {
        const oid = asNumber(value(0, ctx));
        return oid === null ? null : descriptionOf(host.source(), oid);
      });
    case "col_description":
      return make("text", (ctx) => {
        const oid = asNumber(value(0, ctx));
        const attnum = asNumber(value(1, ctx));
        return oid === null || attnum === null
          ? null
          : columnDescriptionOf(host.source(), oid, Number(attnum));
      });
    case "pg_encoding_to_char":
      return make("text", (ctx) => (asNumber(value(0, ctx)) === 6 ? "UTF8" : ""));
    case "array_to_string":
      return make("text", (ctx) => {
        const a = value(0, ctx);
        const separator = value(1, ctx);
        if (a === null || separator === null) return null;
        const nullText = value(2, ctx);
        return parseArray(String(a))
          .flatMap((e) => (e === null ? (nullText === null ? [] : [String(nullText)]) : [e]))
          .join(String(separator));
      });
    case "array_upper":
    case "array_length":
    case "cardinality":
      return make("int4", (ctx) => {
        const a = value(0, ctx);
        if (a === null) return null;
        const dim = name === "cardinality" ? null : value(1, ctx);
        if (name !== "cardinality" && dim === null) return null;
        try {
          return arrayDimension(name, String(a), dim === null ? null : Number(dim));
        } catch {
          // a catalog text that is no array literal: one dimension of its items
          const length = parseArray(String(a)).length;
          if (name === "cardinality") return length;
          return length === 0 || Number(dim) !== 1 ? null : length;
        }
      });
    case "pg_partition_ancestors":
      // A table that is no partition is its own only ancestor.
      return compiled.length === 1 ? coerce(compiled[0], "int8") : null;
    case "to_regclass":
      // The relation's name if it exists (regclass prints as its name), else NULL.
      return make("text", (ctx) => {
        const v = value(0, ctx);
        if (v === null) return null;
        const oid = relationOid(host.source(), String(v));
        return oid === null ? null : relationName(host.source(), oid) ?? String(oid);
      });
    case "quote_ident":
      return make("text", (ctx) => {
        const v = value(0, ctx);
        if (v === null) return null;
        const s = String(v);
        return quoteIdentifier(s); // keywords other than unreserved ones quoted, as quote_ident
      });
    default:
      return make("text", () => null);
  }
}

/** `CHECK (a > 0)` as the non-pretty deparse prints it: `CHECK ((a > 0))`. */
function unprettyCheck(definition: string): string {
  const match = /^CHECK \((.*)\)( NOT VALID)?$/s.exec(definition);
  if (match === null) return definition;
  const expr = match[1];
  let depth = 0;
  let operator = false;
  for (const c of expr) {
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === " " && depth === 0) operator = true;
  }
  return operator ? `CHECK ((${expr}))${match[2] ?? ""}` : definition;
}
