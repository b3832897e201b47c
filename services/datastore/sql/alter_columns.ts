// ALTER TABLE on columns and names: ADD COLUMN, DROP COLUMN, RENAME COLUMN,
// RENAME TO, ALTER COLUMN SET/DROP DEFAULT and SET/DROP NOT NULL
// (PostgreSQL 15 docs, SQL commands, ALTER TABLE).
//
// The engine cannot change a table's columns, and engine column `c<i>` is
// SQL column i (catalog.ts). So ADD COLUMN and DROP COLUMN rebuild the
// table into a new engine table in the same transaction, and the SQL name
// then points there (as TRUNCATE does; the old engine table is left
// behind, unreachable):
// - without a DEFAULT (or a serial counter) to compute, the engine copies
//   the rows in one logged step (Transaction.createTable with a copy spec,
//   -1 for the new column's NULLs), so the log grows by one record;
// - with one, every row is read, its new value computed (a DEFAULT per
//   row, as PostgreSQL evaluates a volatile one; a serial column numbers
//   the rows in key order) and inserted, one log record per row, so the
//   transaction's log bound (`transactionLogBytesMax`) bounds the table.
// Renames and defaults change the catalog only: constraints, indexes,
// foreign keys and views name columns and tables by SQL name, so they are
// rewritten with it (PostgreSQL's refer by number and need nothing).
// A crash or a rollback undoes all of it with the transaction.
//
// DROP COLUMN of a primary key column drops the key, as PostgreSQL does:
// the rows are then keyed by a hidden row number (catalog.ts), numbered as
// they are copied, one log record per row.
//
// ALTER COLUMN TYPE [USING expr] rewrites every row into a new engine table
// too, the column's value converted by the USING expression or, without
// one, by the assignment cast where PostgreSQL has an automatic one (a
// number to a wider or narrower one, anything to text, text to varchar,
// date and timestamps among themselves); 42804 otherwise, with
// PostgreSQL's hint. Indexes are rebuilt by the inserts, CHECKs over the
// column tested on each converted row; a column in a foreign key or read by a view is
// refused (0A000), as PostgreSQL refuses the view case.
//
// Left out: ADD COLUMN ... PRIMARY KEY (0A000); the
// actions of one ALTER TABLE run in the order written (PostgreSQL runs
// drops before adds). A view's text is rewritten on RENAME by name matching, so a
// view reading a same-named column of another table in a subquery would be
// rewritten too.

import {
  dropColumnKeys,
  hiddenCopyColumns,
  keysRead,
  renameColumnKeys,
} from "./expression_indexes.ts";
import type { PgValue } from "../../../lib/pg/values.ts";
import { ConstraintError, type Transaction } from "../storage/engine.ts";
import type {
  ColumnDef,
  Expr,
  SelectCore,
  SelectStatement,
  TableConstraint,
  TypeName,
} from "./ast.ts";
import {
  columnIndex,
  engineSpec,
  rowFromEngine,
  rowToEngine,
  type SqlColumn,
  type SqlTable,
} from "./catalog.ts";
import {
  type CheckTest,
  columnConstraints,
  columnsOf,
  keyText,
  newCheck,
  newForeignKey,
  validateCheck,
  validateForeignKey,
} from "./constraints.ts";
import { SqlError, type SqlNotice } from "./errors.ts";
import { castTo, type Compiled, type EvalContext } from "./eval.ts";
import type { Database, SqlTransaction } from "./executor.ts";
import { parseStatement } from "./parser.ts";
import { printExpr, printSelect } from "./printer.ts";
import { viewsReading } from "./views.ts";

/** What the executor lends the ALTER TABLE actions. */
export interface AlterHost {
  db: Database;
  sqlTx: SqlTransaction;
  notices: SqlNotice[];
  /** A column's DEFAULT, compiled with its assignment cast. */
  defaultOf(column: SqlColumn): (ctx: EvalContext) => PgValue;
  /** A CHECK expression compiled over a table's columns. */
  checkOf(table: SqlTable, expr: string): CheckTest;
  /** A fresh expression context for this statement (parameters, clock). */
  evalContext(): EvalContext;
  /** The table's write lock, taken before anything is read. */
  lockForWrite(tx: Transaction, table: SqlTable): Promise<void>;
  /** An expression compiled over a table's row (ALTER COLUMN TYPE's USING). */
  compileOver(table: SqlTable, expr: Expr): Compiled;
  /** A column of the new table, as CREATE TABLE would make it from `type`. */
  columnOfType(column: SqlColumn, type: TypeName): SqlColumn;
}

const DEPENDENTS_HINT = "Use DROP ... CASCADE to drop the dependent objects too.";

/** A copy of `table` under a new engine table (and new engine index names). */
function rehomed(db: Database, table: SqlTable): SqlTable {
  const next: SqlTable = structuredClone(table);
  next.engineName = db.engineName("t");
  next.indexes = next.indexes.map((i) => ({
    ...i,
    engineIndex: i.engineIndex === null ? null : db.engineName("i"),
  }));
  return next;
}

function containsNulls(column: string, table: string): SqlError {
  return new SqlError("23502", `column "${column}" of relation "${table}" contains null values`, {
    table,
    column,
  });
}

/**
 * A rebuilt table's unique index (or primary key) met a duplicate:
 * PostgreSQL's 23505 "could not create unique index", with the key of the
 * row being copied (`values`, in the new table's columns) in the detail.
 */
function duplicated(
  next: SqlTable,
  error: ConstraintError,
  values: PgValue[] | null,
  table: string,
): SqlError {
  const index = next.indexes.find((i) => i.engineIndex === error.constraint) ??
    next.indexes.find((i) => i.primary);
  const offset = next.rowid ? 1 : 0;
  const detail = index && values
    ? `${
      keyText(
        next,
        index.columns,
        index.columns.map((c) => values[columnIndex(next, c) - offset]),
      )
    } is duplicated.`
    : undefined;
  return new SqlError("23505", `could not create unique index "${index?.name ?? "?"}"`, {
    ...(detail ? { detail } : {}),
    table,
  });
}

/** ALTER TABLE ADD [COLUMN] [IF NOT EXISTS] name type [constraints]. */
export async function addColumn(
  host: AlterHost,
  table: SqlTable,
  def: ColumnDef,
  column: SqlColumn,
  ifNotExists: boolean,
): Promise<SqlTable> {
  const { db, sqlTx } = host;
  if (table.columns.some((c) => c.name === column.name)) {
    const message = `column "${column.name}" of relation "${table.name}" already exists`;
    if (!ifNotExists) throw new SqlError("42701", message);
    host.notices.push({ code: "00000", message: `${message}, skipping` });
    return table;
  }
  if (def.constraints.some((k) => k.kind === "primary_key")) {
    if (table.indexes.some((i) => i.primary)) {
      throw new SqlError(
        "42P16",
        `multiple primary keys for table "${table.name}" are not allowed`,
      );
    }
    throw new SqlError("0A000", "ALTER TABLE ADD COLUMN ... PRIMARY KEY is not supported");
  }
  const tx = sqlTx.tx;
  await host.lockForWrite(tx, table);
  const next = rehomed(db, table);
  next.columns.push(column);
  for (const k of def.constraints) {
    if (k.kind !== "unique") continue;
    next.indexes.push({
      name: k.name ?? `${table.name}_${column.name}_key`,
      columns: [column.name],
      unique: true,
      primary: false,
      engineIndex: db.engineName("i"),
      constraint: true,
    });
  }
  const offset = table.rowid ? 1 : 0;
  let lastValues: PgValue[] | null = null; // the row being copied, for a duplicate's detail
  try {
    if (column.default === null && !column.serial) {
      const columns = [
        ...Array(offset + table.columns.length).keys(),
        -1,
        ...hiddenCopyColumns(table),
      ];
      await tx.createTable(engineSpec(next), { from: table.engineName, columns });
    } else {
      await tx.createTable(engineSpec(next));
      const fill = column.serial ? null : host.defaultOf(column);
      const e = host.evalContext();
      for await (const batch of tx.scanBatches(table.engineName, null)) {
        for (const row of batch) {
          const values = rowFromEngine(table, row);
          lastValues = values;
          let value: PgValue;
          if (fill === null) {
            const n = await db.nextval(sqlTx, next, column.name);
            value = column.type === "int8" ? n : Number(n);
          } else {
            e.row = [];
            value = fill(e);
          }
          if (value === null && column.notNull) throw containsNulls(column.name, table.name);
          values.push(value);
          await tx.insert(
            next.engineName,
            rowToEngine(next, values, table.rowid ? row[0] as bigint : null),
          );
        }
      }
    }
  } catch (error) {
    if (error instanceof ConstraintError && error.constraint === "not_null") {
      throw containsNulls(column.name, table.name);
    }
    if (error instanceof ConstraintError) throw duplicated(next, error, lastValues, table.name);
    throw error;
  }
  await addColumnConstraints(host, next, columnConstraints([def]));
  await db.putTable(sqlTx, table.name, next);
  return next;
}

/** The column's CHECK and REFERENCES constraints, validated against the rows. */
async function addColumnConstraints(
  host: AlterHost,
  next: SqlTable,
  constraints: TableConstraint[],
): Promise<void> {
  const tx = host.sqlTx.tx;
  for (const c of constraints) {
    if (c.kind === "check") {
      const check = newCheck(next, c, (expr) => host.checkOf(next, expr));
      const test = host.checkOf(next, check.expr);
      await validateCheck(tx, next, { name: check.name, test }, host.evalContext());
      (next.checks ??= []).push(check);
    } else if (c.kind === "foreign_key") {
      const fk = newForeignKey(host.db.tables, next, c);
      await validateForeignKey(tx, host.db.tables, next, fk);
      (next.foreignKeys ??= []).push(fk);
    }
  }
}

/** ALTER TABLE DROP [COLUMN] [IF EXISTS] name [CASCADE]. */
export async function dropColumn(
  host: AlterHost,
  table: SqlTable,
  name: string,
  ifExists: boolean,
  cascade: boolean,
): Promise<SqlTable> {
  const { db, sqlTx } = host;
  const at = table.columns.findIndex((c) => c.name === name);
  if (at < 0) {
    const message = `column "${name}" of relation "${table.name}" does not exist`;
    if (!ifExists) throw new SqlError("42703", message);
    host.notices.push({ code: "00000", message: `${message}, skipping` });
    return table;
  }
  // Outside the table: foreign keys of other tables over the column, and views naming it.
  const dependents: { line: string; drop: () => Promise<void> }[] = [];
  for (const other of db.tables.values()) {
    if (other.name === table.name) continue;
    for (const fk of other.foreignKeys ?? []) {
      if (fk.table !== table.name || !fk.refColumns.includes(name)) continue;
      dependents.push({
        line:
          `constraint ${fk.name} on table ${other.name} depends on column ${name} of table ${table.name}`,
        drop: async () => {
          const current = structuredClone(db.tables.get(other.name)!);
          current.foreignKeys = current.foreignKeys?.filter((f) => f.name !== fk.name);
          await db.putTable(sqlTx, other.name, current);
        },
      });
    }
  }
  const word = new RegExp(`(^|[^A-Za-z0-9_$"])"?${escapeRegExp(name)}"?($|[^A-Za-z0-9_$"])`);
  for (const view of viewsReading(db.tables, table.name)) {
    if (!word.test(view.view!.query)) continue;
    dependents.push({
      line: `view ${view.name} depends on column ${name} of table ${table.name}`,
      drop: () => db.putTable(sqlTx, view.name, undefined),
    });
  }
  if (dependents.length > 0) {
    if (!cascade) {
      throw new SqlError(
        "2BP01",
        `cannot drop column ${name} of table ${table.name} because other objects depend on it`,
        { detail: dependents.map((d) => d.line).join("\n"), hint: DEPENDENTS_HINT },
      );
    }
    const dropped = dependents.map((d) => d.line.replace(/ depends on .*$/, ""));
    host.notices.push(
      dropped.length === 1 ? { code: "00000", message: `drop cascades to ${dropped[0]}` } : {
        code: "00000",
        message: `drop cascades to ${dropped.length} other objects`,
        detail: dropped.map((line) => `drop cascades to ${line}`).join("\n"),
      },
    );
    for (const d of dependents) await d.drop();
  }
  const tx = sqlTx.tx;
  await host.lockForWrite(tx, table);
  const next = rehomed(db, table);
  next.columns.splice(at, 1);
  // Indexes and constraints over the column go with it, as in PostgreSQL.
  next.indexes = next.indexes.filter((i) => !i.columns.includes(name));
  dropColumnKeys(next, name); // expression indexes (expression_indexes.ts)
  next.checks = next.checks?.filter((c) => !columnsOf(parseExpr(c.expr)).includes(name));
  next.foreignKeys = next.foreignKeys?.filter((f) =>
    !f.columns.includes(name) && !(f.table === table.name && f.refColumns.includes(name))
  );
  const offset = table.rowid ? 1 : 0;
  if (!table.rowid && !next.indexes.some((i) => i.primary)) {
    // The primary key went with the column: the rows are keyed by a hidden row number now,
    // numbered as they are copied (the engine's copy cannot make numbers up).
    next.rowid = true;
    await tx.createTable(engineSpec(next));
    let rowid = 0n;
    for await (const batch of tx.scanBatches(table.engineName, null)) {
      for (const row of batch) {
        const values = rowFromEngine(table, row);
        values.splice(at, 1);
        await tx.insert(next.engineName, rowToEngine(next, values, ++rowid));
      }
    }
  } else {
    const columns = [...Array(offset + table.columns.length).keys()].filter((i) =>
      i !== at + offset
    ).concat(hiddenCopyColumns(table));
    await tx.createTable(engineSpec(next), { from: table.engineName, columns });
  }
  await db.putTable(sqlTx, table.name, next);
  return next;
}

const NUMBERS = new Set(["int2", "int4", "int8", "numeric", "float4", "float8"]);
const STRINGS = new Set(["text", "varchar", "bpchar"]);
const TIMES = new Set(["date", "timestamp", "timestamptz"]);

/** Whether PostgreSQL converts `from` to `to` on its own (an implicit or assignment cast). */
function automaticCast(from: string, to: string): boolean {
  if (from === to || STRINGS.has(to)) return true;
  // int4[] to int8[]: element by element, when the elements convert so (array_coerce).
  if (from.endsWith("[]") && to.endsWith("[]")) {
    return automaticCast(from.slice(0, -2), to.slice(0, -2));
  }
  if (from.endsWith("[]") || to.endsWith("[]")) return false;
  if (NUMBERS.has(from) && NUMBERS.has(to)) return true;
  if (TIMES.has(from) && TIMES.has(to)) return true;
  return from === "json" && to === "jsonb";
}

/** PostgreSQL's spelling of a type in messages (format_type). */
function typeWords(type: TypeName, sqlType: string): string {
  const words: Record<string, string> = {
    int2: "smallint",
    int4: "integer",
    int8: "bigint",
    float4: "real",
    float8: "double precision",
    bool: "boolean",
    varchar: "character varying",
    bpchar: "character",
    timestamp: "timestamp without time zone",
    timestamptz: "timestamp with time zone",
  };
  const array = sqlType.endsWith("[]") ? "[]" : "";
  const element = sqlType.slice(0, sqlType.length - array.length);
  const base = words[element] ?? element;
  return (type.modifiers.length > 0 ? `${base}(${type.modifiers.join(",")})` : base) + array;
}

/** ALTER TABLE ALTER [COLUMN] name [SET DATA] TYPE type [USING expr]. */
export async function alterColumnType(
  host: AlterHost,
  table: SqlTable,
  name: string,
  type: TypeName,
  using: Expr | null,
): Promise<SqlTable> {
  const { db, sqlTx } = host;
  const at = table.columns.findIndex((c) => c.name === name);
  if (at < 0) {
    throw new SqlError("42703", `column "${name}" of relation "${table.name}" does not exist`);
  }
  const old = table.columns[at];
  const column = host.columnOfType(old, type);
  if (keysRead(table, name)) {
    // Its hidden key column (expression_indexes.ts) may change type too.
    throw new SqlError(
      "0A000",
      `ALTER COLUMN TYPE of a column read by an expression or partial unique index is not supported`,
    );
  }
  const inForeignKey = [...db.tables.values()].some((t) =>
    (t.foreignKeys ?? []).some((f) =>
      (t.name === table.name && f.columns.includes(name)) ||
      (f.table === table.name && f.refColumns.includes(name))
    )
  );
  if (inForeignKey) {
    throw new SqlError(
      "0A000",
      `changing the type of column "${name}", which a foreign key uses, is not supported`,
    );
  }
  const word = new RegExp(`(^|[^A-Za-z0-9_$"])"?${escapeRegExp(name)}"?($|[^A-Za-z0-9_$"])`);
  const view = viewsReading(db.tables, table.name).find((v) => word.test(v.view!.query));
  if (view !== undefined) {
    throw new SqlError("0A000", "cannot alter type of a column used by a view or rule", {
      detail: `rule _RETURN on view ${view.name} depends on column "${name}"`,
    });
  }
  let convert: Compiled;
  if (using !== null) {
    convert = castTo(host.compileOver(table, using), { ...type, name: column.type }, true);
  } else {
    if (!automaticCast(old.type, column.type)) {
      const words = typeWords(type, column.type);
      throw new SqlError(
        "42804",
        `column "${name}" cannot be cast automatically to type ${words}`,
        { hint: `You might need to specify "USING ${name}::${words}".` },
      );
    }
    const read: Compiled = { type: old.type, evaluate: (e) => e.row[at] };
    convert = castTo(read, { ...type, name: column.type }, true);
  }
  const tx = sqlTx.tx;
  await host.lockForWrite(tx, table);
  const next = rehomed(db, table);
  next.columns[at] = column;
  if (column.default !== null) {
    try {
      host.defaultOf(column);
    } catch {
      throw new SqlError(
        "42804",
        `default for column "${name}" cannot be cast automatically to type ${
          typeWords(type, column.type)
        }`,
      );
    }
  }
  await tx.createTable(engineSpec(next));
  const e = host.evalContext();
  const check = host.evalContext();
  // CHECKs over the column hold for each converted row, checked as it is written (PostgreSQL's order).
  const checks = (next.checks ?? []).filter((c) => columnsOf(parseExpr(c.expr)).includes(name))
    .map((c) => ({ name: c.name, test: host.checkOf(next, c.expr) }));
  let lastValues: PgValue[] | null = null;
  try {
    for await (const batch of tx.scanBatches(table.engineName, null)) {
      for (const row of batch) {
        const values = rowFromEngine(table, row);
        e.row = values;
        const value = convert.evaluate(e);
        if (value === null && column.notNull) throw containsNulls(name, table.name);
        const nextValues = [...values];
        nextValues[at] = value;
        lastValues = nextValues;
        check.row = nextValues;
        const failed = checks.find((c) => c.test(check) === false);
        if (failed !== undefined) {
          throw new SqlError(
            "23514",
            `check constraint "${failed.name}" of relation "${table.name}" is violated by some row`,
          );
        }
        await tx.insert(
          next.engineName,
          rowToEngine(next, nextValues, table.rowid ? row[0] as bigint : null),
        );
      }
    }
  } catch (error) {
    if (error instanceof ConstraintError && error.constraint !== "not_null") {
      throw duplicated(next, error, lastValues, table.name);
    }
    throw error;
  }
  await db.putTable(sqlTx, table.name, next);
  return next;
}

/** ALTER TABLE RENAME [COLUMN] from TO to: the catalog only. */
export async function renameColumn(
  host: AlterHost,
  table: SqlTable,
  from: string,
  to: string,
): Promise<void> {
  const { db, sqlTx } = host;
  const column = table.columns.find((c) => c.name === from);
  if (!column) throw new SqlError("42703", `column "${from}" does not exist`);
  if (table.columns.some((c) => c.name === to)) {
    throw new SqlError("42701", `column "${to}" of relation "${table.name}" already exists`);
  }
  await host.lockForWrite(sqlTx.tx, table);
  const swap = (names: string[]) => names.map((n) => n === from ? to : n);
  const next: SqlTable = structuredClone(table);
  const renamed = next.columns.find((c) => c.name === from)!;
  if (renamed.serial) renamed.sequence ??= `${table.name}_${from}_seq`;
  renamed.name = to;
  for (const index of next.indexes) index.columns = swap(index.columns);
  renameColumnKeys(next, from, to); // expression indexes (expression_indexes.ts)
  for (const check of next.checks ?? []) {
    check.expr = printExpr(renameColumns(parseExpr(check.expr), new Set([table.name]), from, to));
  }
  for (const fk of next.foreignKeys ?? []) {
    fk.columns = swap(fk.columns);
    if (fk.table === table.name) fk.refColumns = swap(fk.refColumns);
  }
  if (column.serial) await db.renameCounter(table, from, to);
  await db.putTable(sqlTx, table.name, next);
  for (const other of [...db.tables.values()]) {
    if (other.name === table.name) continue;
    let changed: SqlTable | null = null;
    for (const fk of other.foreignKeys ?? []) {
      if (fk.table !== table.name || !fk.refColumns.includes(from)) continue;
      changed ??= structuredClone(other);
      changed.foreignKeys!.find((f) => f.name === fk.name)!.refColumns = swap(fk.refColumns);
    }
    if (other.view?.reads?.includes(table.name)) {
      const query = parseStatement(other.view.query) as SelectStatement;
      const names = new Set([table.name, ...aliasesOf(query, table.name)]);
      changed ??= structuredClone(other);
      changed.view!.query = printSelect(renameColumns(query, names, from, to));
    }
    if (changed) await db.putTable(sqlTx, other.name, changed);
  }
}

/** ALTER TABLE name RENAME TO new: the catalog only. */
export async function renameTable(host: AlterHost, table: SqlTable, to: string): Promise<void> {
  const { db, sqlTx } = host;
  if (db.tables.has(to)) throw new SqlError("42P07", `relation "${to}" already exists`);
  const from = table.name;
  if (!table.view) await host.lockForWrite(sqlTx.tx, table);
  const next: SqlTable = structuredClone(table);
  next.name = to;
  for (const c of next.columns) if (c.serial) c.sequence ??= `${from}_${c.name}_seq`;
  for (const fk of next.foreignKeys ?? []) if (fk.table === from) fk.table = to;
  await db.putTable(sqlTx, from, undefined);
  await db.putTable(sqlTx, to, next);
  for (const other of [...db.tables.values()]) {
    if (other.name === to) continue;
    let changed: SqlTable | null = null;
    for (const fk of other.foreignKeys ?? []) {
      if (fk.table !== from) continue;
      changed ??= structuredClone(other);
      changed.foreignKeys!.find((f) => f.name === fk.name)!.table = to;
    }
    if (other.view?.reads?.includes(from)) {
      const query = parseStatement(other.view.query) as SelectStatement;
      changed ??= structuredClone(other);
      changed.view!.query = printSelect(renameRelation(query, from, to));
      changed.view!.reads = other.view.reads.map((n) => n === from ? to : n);
    }
    if (changed) await db.putTable(sqlTx, other.name, changed);
  }
}

/** ALTER [COLUMN] name SET DEFAULT expr / DROP DEFAULT: the catalog only. */
export async function setDefault(
  host: AlterHost,
  table: SqlTable,
  name: string,
  expr: Expr | null,
): Promise<void> {
  const at = table.columns.findIndex((c) => c.name === name);
  if (at < 0) {
    throw new SqlError("42703", `column "${name}" of relation "${table.name}" does not exist`);
  }
  const next: SqlTable = structuredClone(table);
  const column = next.columns[at];
  if (expr === null) {
    column.default = null;
    if (!column.identity) column.serial = false;
  } else {
    column.default = printExpr(expr);
    host.defaultOf(column); // compiles it: a bad default fails now, as in PostgreSQL
    if (!column.identity) column.serial = false;
  }
  await host.db.putTable(host.sqlTx, table.name, next);
}

/**
 * ALTER [COLUMN] name SET NOT NULL (existing rows checked) / DROP NOT NULL.
 * DROP NOT NULL rebuilds the table when the engine column refuses NULLs
 * (declared NOT NULL when the table was made); SET NOT NULL is enforced
 * by the executor, so the engine column may stay nullable.
 */
export async function setNotNull(
  host: AlterHost,
  table: SqlTable,
  name: string,
  notNull: boolean,
): Promise<void> {
  const { db, sqlTx } = host;
  const at = table.columns.findIndex((c) => c.name === name);
  if (at < 0) {
    throw new SqlError("42703", `column "${name}" of relation "${table.name}" does not exist`);
  }
  if (table.columns[at].notNull === notNull) return;
  const tx = sqlTx.tx;
  await host.lockForWrite(tx, table);
  if (notNull) {
    const i = columnIndex(table, name);
    for await (const batch of tx.scanBatches(table.engineName, null)) {
      if (batch.some((row) => row[i] === null)) throw containsNulls(name, table.name);
    }
    const next: SqlTable = structuredClone(table);
    next.columns[at].notNull = true;
    await db.putTable(sqlTx, table.name, next);
    return;
  }
  if (table.indexes.some((i) => i.primary && i.columns.includes(name))) {
    throw new SqlError("42P16", `column "${name}" is in a primary key`);
  }
  if (table.columns[at].identity) {
    throw new SqlError(
      "42P16",
      `column "${name}" of relation "${table.name}" is an identity column`,
    );
  }
  const engineColumn = db.engine.tables().find((t) => t.name === table.engineName)
    ?.columns[columnIndex(table, name)];
  let next: SqlTable = structuredClone(table);
  if (engineColumn && engineColumn.nullable === false) {
    next = rehomed(db, table);
    next.columns[at].notNull = false;
    const width = (table.rowid ? 1 : 0) + table.columns.length;
    await tx.createTable(engineSpec(next), {
      from: table.engineName,
      columns: [...Array(width).keys(), ...hiddenCopyColumns(table)],
    });
  }
  next.columns[at].notNull = false;
  await db.putTable(sqlTx, table.name, next);
}

// Rewriting names in stored SQL text ----------------------------------------------------

function parseExpr(text: string): Expr {
  const statement = parseStatement(`SELECT ${text}`) as SelectStatement;
  return (statement.body as SelectCore).columns[0].expr;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** A deep copy of a parsed tree with `visit` applied to every object node. */
function rewrite<T>(node: T, visit: (n: Record<string, unknown>) => void): T {
  const copy = structuredClone(node);
  const walk = (n: unknown): void => {
    if (Array.isArray(n)) {
      for (const item of n) walk(item);
    } else if (n !== null && typeof n === "object") {
      visit(n as Record<string, unknown>);
      for (const value of Object.values(n)) walk(value);
    }
  };
  walk(copy);
  return copy;
}

/** The aliases a query gives table `name` in its FROM items. */
function aliasesOf(query: SelectStatement, name: string): string[] {
  const out: string[] = [];
  rewrite(query, (n) => {
    const item = n as { kind?: string; name?: unknown; alias?: { name?: string } | null };
    if (item.kind === "table" && Array.isArray(item.name) && item.name.at(-1) === name) {
      if (item.alias?.name) out.push(item.alias.name);
    }
  });
  return out;
}

/** Column references to `from` (bare, or qualified by one of `tables`) renamed to `to`. */
function renameColumns<T>(node: T, tables: Set<string>, from: string, to: string): T {
  return rewrite(node, (n) => {
    if (n.kind !== "column" || !Array.isArray(n.path)) return;
    const path = n.path as string[];
    if (path.at(-1) !== from) return;
    if (path.length >= 2 && !tables.has(path[path.length - 2])) return;
    path[path.length - 1] = to;
  });
}

/** References to relation `from` (in FROM and as a column qualifier) renamed to `to`. */
function renameRelation<T>(node: T, from: string, to: string): T {
  return rewrite(node, (n) => {
    if (n.kind === "table" && Array.isArray(n.name)) {
      const name = n.name as string[];
      if (name.at(-1) === from) name[name.length - 1] = to;
    } else if (n.kind === "column" && Array.isArray(n.path)) {
      const path = n.path as string[];
      if (path.length >= 2 && path[path.length - 2] === from) path[path.length - 2] = to;
    }
  });
}
