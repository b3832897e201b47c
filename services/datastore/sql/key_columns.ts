// The values of a table's hidden key columns (expression_indexes.ts): each
// is an expression over the row's SQL values, compiled once per catalog
// entry and evaluated for every row written (catalog.ts's rowToEngine).
// Apart from expression_indexes.ts so that catalog.ts, which calls it, and
// expression_indexes.ts, which calls catalog.ts, make no import cycle.

import type { PgValue } from "../../../lib/pg/values.ts";
import type { Expr, SelectCore, SelectStatement } from "./ast.ts";
import type { SqlTable } from "./catalog.ts";
import { type Compiled, compileExpr, type EvalContext } from "./eval.ts";
import { parseStatement } from "./parser.ts";

/** An expression stored as SQL text. */
export function parseExpr(text: string): Expr {
  const statement = parseStatement(`SELECT ${text}`) as SelectStatement;
  return (statement.body as SelectCore).columns[0].expr;
}

/** Compiles an expression over a table's row (its SQL values). */
export function compileOver(table: SqlTable, expr: Expr): Compiled {
  return compileExpr(expr, {
    resolveColumn: (path) => {
      if (path.length > 2 || (path.length === 2 && path[0] !== table.name)) return null;
      const index = table.columns.findIndex((c) => c.name === path[path.length - 1]);
      return index < 0 ? null : { index, type: table.columns[index].type };
    },
  });
}

const evaluators = new WeakMap<SqlTable, Compiled[]>();

/** The hidden key columns' SQL values for a row's SQL values. */
export function keyValues(table: SqlTable, values: PgValue[]): PgValue[] {
  let compiled = evaluators.get(table);
  if (compiled === undefined) {
    compiled = table.keyExprs!.map((k) => compileOver(table, parseExpr(k.expr)));
    evaluators.set(table, compiled);
  }
  const ctx: EvalContext = { row: values, params: [], nowMicros: 0n };
  return compiled.map((c) => c.evaluate(ctx));
}
