// Indexes on expressions and partial unique indexes (PostgreSQL 15 docs 11.7
// "Indexes on Expressions", 11.8 "Partial Indexes"; CREATE INDEX):
// `CREATE [UNIQUE] INDEX ON users (lower(email))`, `CREATE UNIQUE INDEX ON t
// (email) WHERE deleted_at IS NULL`.
//
// - The engine indexes stored columns only, so each expression key is a
//   hidden engine column (`x<k>`, after the SQL columns; catalog.ts's
//   SqlTable.keyExprs) that rowToEngine fills on every write from the row's
//   values. Creating such an index rebuilds the table into a new engine
//   table with the extra column (as ADD COLUMN does), its rows copied and
//   the key computed for each; the index is then an ordinary engine index
//   over the hidden column, unique ones included (23505 with PostgreSQL's
//   `Key (lower(email))=(a@x) already exists.`).
// - A partial unique index keys each row by `CASE WHEN predicate THEN key
//   END`: rows outside the predicate hold NULL, which a unique index never
//   compares. A partial index that is not unique indexes every row (a
//   superset is correct: the planner checks the whole WHERE on each row);
//   the predicate is kept for psql's `\d`.
// - The planner (executor.ts #accessPath) uses an expression index for
//   `expr op constant` when the expression prints as the key does (table
//   qualifiers aside); partial unique indexes are never used for lookups.
// - As PostgreSQL: functions that are not immutable are 42P17 `functions in
//   index expression must be marked IMMUTABLE`, subqueries 0A000,
//   aggregates 42803, and an expression index is named after its first
//   function (`users_lower_idx`).
//
// - ALTER TABLE (alter_columns.ts) carries hidden keys through its
//   rebuilds; DROP COLUMN drops the indexes reading the column, as
//   PostgreSQL; RENAME COLUMN rewrites the stored expressions.
//
// Left out: ALTER COLUMN TYPE of a column a key expression reads (0A000:
// the hidden column's type may change), ON CONFLICT (expr) inference,
// lookups through a partial index, DROP INDEX giving back the hidden
// column (it stays, filled, unused).

import type { Row, Value } from "../storage/engine.ts";
import type { PgValue } from "../../../lib/pg/values.ts";
import type { Expr } from "./ast.ts";
import {
  columnIndex,
  engineSpec,
  keyName,
  keyNumber,
  rowFromEngine,
  rowToEngine,
  type SqlIndex,
  type SqlKeyExpr,
  type SqlTable,
  toEngine,
} from "./catalog.ts";
import { SqlError } from "./errors.ts";
import type { SqlType } from "./eval.ts";
import { compileOver, parseExpr } from "./key_columns.ts";
import { printExpr } from "./printer.ts";
import type { Transaction } from "../storage/engine.ts";
import { ConstraintError } from "../storage/engine.ts";

/** Functions whose answer changes between calls or with the session: not in an index. */
const NOT_IMMUTABLE: ReadonlySet<string> = new Set([
  "now",
  "random",
  "clock_timestamp",
  "statement_timestamp",
  "transaction_timestamp",
  "timeofday",
  "nextval",
  "currval",
  "lastval",
  "setval",
  "gen_random_uuid",
  "uuid_generate_v4",
  "txid_current",
  "pg_current_xact_id",
  "current_setting",
  "set_config",
  "age",
  "to_char",
  "to_timestamp",
  "date_trunc",
  "version",
  "current_database",
  "current_schema",
  "pg_backend_pid",
]);

const AGGREGATES: ReadonlySet<string> = new Set([
  "count",
  "sum",
  "avg",
  "min",
  "max",
  "string_agg",
  "array_agg",
  "bool_and",
  "bool_or",
  "every",
  "json_agg",
  "jsonb_agg",
]);

/** Every object node of a parsed expression (the tree is plain data). */
function nodes(node: unknown, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(node)) {
    for (const item of node) nodes(item, out);
  } else if (node !== null && typeof node === "object") {
    out.push(node as Record<string, unknown>);
    for (const value of Object.values(node)) nodes(value, out);
  }
  return out;
}

/** The column references of an expression. */
export function columnPaths(expr: Expr): string[][] {
  return nodes(expr).filter((n) => n.kind === "column").map((n) => n.path as string[]);
}

/** PostgreSQL's checks on an index expression or predicate (CheckMutability, transformExpr). */
function checkIndexExpr(expr: Expr, what: "expression" | "predicate"): void {
  for (const node of nodes(expr)) {
    const kind = node.kind;
    if (
      kind === "subquery" || kind === "exists" || kind === "in_subquery" ||
      kind === "array_subquery" || (kind === "quantified" && "query" in node)
    ) {
      throw new SqlError("0A000", `cannot use subquery in index ${what}`);
    }
    if (kind === "sql_function") {
      throw new SqlError("42P17", `functions in index ${what} must be marked IMMUTABLE`);
    }
    if (kind === "function") {
      const path = node.name as string[];
      const name = path[path.length - 1];
      if (AGGREGATES.has(name)) {
        throw new SqlError("42803", `aggregate functions are not allowed in index ${what}s`);
      }
      if (NOT_IMMUTABLE.has(name)) {
        throw new SqlError("42P17", `functions in index ${what} must be marked IMMUTABLE`);
      }
    }
  }
}

/** The expression with table qualifiers dropped, as SQL text: what keys compare by. */
export function keyText(expr: Expr): string {
  const copy = structuredClone(expr);
  for (const node of nodes(copy)) {
    if (node.kind === "column") {
      const path = node.path as string[];
      node.path = [path[path.length - 1]];
    }
  }
  return printExpr(copy);
}

/** The SQL type of an index column: a table column's, or a hidden key's. */
export function indexColumnType(table: SqlTable, name: string): SqlType {
  const k = keyNumber(name);
  if (k >= 0) return table.keyExprs![k].type;
  return table.columns.find((c) => c.name === name)!.type;
}

/** An index column as PostgreSQL prints it (`email`, `lower(email)`). */
export function indexColumnText(index: SqlIndex, i: number): string {
  return index.keys?.[i] ?? index.columns[i];
}

/** An index's key values in a stored (engine) row, for a unique violation's detail. */
export function indexKeyOfRow(table: SqlTable, index: SqlIndex, row: Row): Value[] {
  return index.columns.map((name) => row[columnIndex(table, name)]);
}

/** An index's engine key for a row's SQL values (ON CONFLICT's lookups). */
export function indexKeyOfValues(table: SqlTable, index: SqlIndex, values: PgValue[]): Value[] {
  if (index.columns.every((name) => keyNumber(name) < 0)) {
    return index.columns.map((name) => {
      const i = table.columns.findIndex((c) => c.name === name);
      return toEngine(table.columns[i].type, values[i]);
    });
  }
  return indexKeyOfRow(table, index, rowToEngine(table, values, null));
}

/**
 * For the planner: the hidden key column an indexed expression is stored
 * in, when `expr` prints as the key of a non-partial index of `table`.
 */
export function expressionKey(
  table: SqlTable,
  expr: Expr,
): { name: string; type: SqlType; text: string } | null {
  if (table.keyExprs === undefined || expr.kind === "column") return null;
  const text = keyText(expr);
  for (const index of table.indexes) {
    if (index.keys === undefined || index.where !== undefined) continue;
    const i = index.keys.findIndex((k) => k === text);
    if (i < 0) continue;
    const name = index.columns[i];
    return { name, type: indexColumnType(table, name), text };
  }
  return null;
}

/**
 * PostgreSQL's checks of CREATE INDEX's expressions and WHERE, before it
 * looks at the name: mutability, subqueries, aggregates, columns that exist.
 */
export function checkIndexKeys(table: SqlTable, exprs: Expr[], where: Expr | null): void {
  for (const e of exprs) {
    if (e.kind === "column") continue;
    checkIndexExpr(e, "expression");
    compileOver(table, e);
  }
  if (where !== null) {
    checkIndexExpr(where, "predicate");
    const test = compileOver(table, where);
    if (test.type !== "bool" && test.type !== "unknown") {
      throw new SqlError("42804", "argument of WHERE must be type boolean");
    }
  }
}

/** What CREATE INDEX's executor needs to build an index over expressions or with WHERE. */
export interface IndexWork {
  tx: Transaction;
  /** A fresh engine name ("t12", "i13"). */
  engineName(prefix: "t" | "i"): string;
  /** Stores the changed table in the catalog (undone by a rollback). */
  putTable(table: SqlTable): Promise<void>;
}

/** CREATE INDEX's default name: the table, each column or expression's function (ChooseIndexColumnNames), `idx`. */
export function indexName(table: SqlTable, keys: Expr[]): string {
  const parts = keys.map((e) => {
    if (e.kind === "column") return e.path[e.path.length - 1];
    if (e.kind === "function") return e.name[e.name.length - 1];
    return "expr";
  });
  return `${table.name}_${parts.join("_")}_idx`;
}

/**
 * CREATE [UNIQUE] INDEX over expressions, or a partial one, on `table`.
 * Returns false when there is nothing of the kind (plain columns, no WHERE:
 * the executor's own path), else builds it.
 */
export async function createExpressionIndex(
  work: IndexWork,
  table: SqlTable,
  statement: {
    name: string;
    unique: boolean;
    exprs: Expr[];
    where: Expr | null;
    /** Operator classes and INCLUDE, for display. */
    shown: Pick<SqlIndex, "opclasses" | "include">;
  },
): Promise<boolean> {
  const { exprs, where, unique, name } = statement;
  const plain = exprs.every((e) => e.kind === "column");
  if (plain && where === null) return false;
  if (table.view) throw new SqlError("42809", `"${table.name}" is not a table`);
  const whereText = where === null ? undefined : keyText(where);
  const keyTexts = exprs.map((e) => (e.kind === "column" ? null : keyText(e)));
  // Plain columns of a partial index that is not unique: every row indexed.
  const hidden = !plain || unique;
  const next: SqlTable = structuredClone(table);
  const keyExprs: SqlKeyExpr[] = [...(table.keyExprs ?? [])];
  const columns = exprs.map((e, i) => {
    if (!hidden) return (e as Extract<Expr, { kind: "column" }>).path.at(-1)!;
    const compiled = compileOver(table, e);
    if (e.kind === "column" && compiled.type === "unknown") return e.path.at(-1)!;
    const type: SqlType = compiled.type === "unknown" ? "text" : compiled.type;
    const text = keyTexts[i] ?? keyText(e);
    const expr = whereText === undefined ? text : `CASE WHEN ${whereText} THEN ${text} END`;
    keyExprs.push({ expr, type });
    return keyName(keyExprs.length - 1);
  });
  const index: SqlIndex = {
    name,
    columns,
    unique,
    primary: false,
    engineIndex: work.engineName("i"),
    ...statement.shown,
    ...(hidden ? { keys: keyTexts.map((k, i) => k ?? keyText(exprs[i])) } : {}),
    ...(whereText === undefined ? {} : { where: whereText }),
  };
  if (!hidden || keyExprs.length === (table.keyExprs ?? []).length) {
    await work.tx.createIndex(table.engineName, {
      name: index.engineIndex!,
      columns: engineSpecColumns(table, columns),
      unique,
    });
    next.indexes.push(index);
    await work.putTable(next);
    return true;
  }
  // A new hidden column: the rows move to a new engine table that has it.
  next.keyExprs = keyExprs;
  next.engineName = work.engineName("t");
  next.indexes = next.indexes.map((i) =>
    i.engineIndex === null ? i : { ...i, engineIndex: work.engineName("i") }
  );
  next.indexes.push(index);
  await work.tx.createTable(engineSpec(next));
  for await (const batch of work.tx.scanBatches(table.engineName, null)) {
    for (const row of batch) {
      const stored = rowToEngine(
        next,
        rowFromEngine(table, row),
        table.rowid ? row[0] as bigint : null,
      );
      try {
        await work.tx.insert(next.engineName, stored);
      } catch (error) {
        if (!(error instanceof ConstraintError) || error.constraint !== index.engineIndex) {
          throw error;
        }
        throw new SqlError("23505", `could not create unique index "${name}"`, {
          detail: `Key (${columns.map((_, i) => indexColumnText(index, i)).join(", ")})=(${
            indexKeyOfRow(next, index, stored).map((v) => v === null ? "null" : String(v)).join(
              ", ",
            )
          }) is duplicated.`,
          table: table.name,
          constraint: name,
        });
      }
    }
  }
  await work.putTable(next);
  return true;
}

/** Engine column names for index columns (catalog.ts's engineColumnNames, for hidden keys too). */
function engineSpecColumns(table: SqlTable, columns: string[]): string[] {
  return columns.map((name) =>
    keyNumber(name) >= 0
      ? `x${keyNumber(name)}`
      : `c${table.columns.findIndex((c) => c.name === name)}`
  );
}

// ALTER TABLE on a table with hidden key columns ---------------------------------

/** The old engine positions of the hidden key columns, for an engine copy's column list. */
export function hiddenCopyColumns(table: SqlTable): number[] {
  const first = (table.rowid ? 1 : 0) + table.columns.length;
  return (table.keyExprs ?? []).map((_, k) => first + k);
}

/** Whether an index's expressions or predicate read column `name`. */
function indexReads(index: SqlIndex, name: string): boolean {
  const texts = [...(index.keys ?? []).filter((k) => k !== null), index.where ?? null];
  return texts.some((t) =>
    t !== null && columnPaths(parseExpr(t)).some((p) => p[p.length - 1] === name)
  );
}

/** Whether a hidden key expression reads column `name` (ALTER COLUMN TYPE refuses those). */
export function keysRead(table: SqlTable, name: string): boolean {
  return (table.keyExprs ?? []).some((k) =>
    columnPaths(parseExpr(k.expr)).some((p) => p[p.length - 1] === name)
  );
}

/**
 * DROP COLUMN: indexes whose expressions or predicate read the column go
 * with it, as in PostgreSQL; hidden keys reading it become NULL (they keep
 * their place: other keys are numbered after them).
 */
export function dropColumnKeys(next: SqlTable, name: string): void {
  next.indexes = next.indexes.filter((i) => !indexReads(i, name));
  for (const key of next.keyExprs ?? []) {
    if (columnPaths(parseExpr(key.expr)).some((p) => p[p.length - 1] === name)) key.expr = "NULL";
  }
}

/** RENAME COLUMN: the stored expressions name the column by its new name. */
export function renameColumnKeys(next: SqlTable, from: string, to: string): void {
  const rename = (text: string) => {
    const expr = parseExpr(text);
    for (const node of nodes(expr)) {
      const path = node.path as string[] | undefined;
      if (node.kind === "column" && path![path!.length - 1] === from) node.path = [to];
    }
    return keyText(expr);
  };
  for (const key of next.keyExprs ?? []) key.expr = rename(key.expr);
  for (const index of next.indexes) {
    if (index.keys) index.keys = index.keys.map((k) => k === null ? null : rename(k));
    if (index.where !== undefined) index.where = rename(index.where);
  }
}
