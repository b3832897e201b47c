// CHECK and FOREIGN KEY constraints: their names and checks at DDL time,
// and their enforcement while a statement changes rows.
//
// PostgreSQL checks a row's CHECK constraints (in name order) right after
// its NOT NULL columns and before its unique indexes, and its foreign keys
// in AFTER triggers that run once the statement has made all its changes
// (PostgreSQL 15 docs, "Constraints" 5.4 and CREATE TABLE's REFERENCES). We
// do the same: a statement records the rows it inserted, updated and
// deleted in a `ConstraintWork`, and `finish()` runs at its end, in the
// order the changes happened:
//
// - a row inserted or updated in a referencing table must find its key in
//   the referenced table's primary key or unique constraint, unless one of
//   its key columns is NULL (MATCH SIMPLE, the default);
// - a referenced row deleted, or updated so that its key changed, applies
//   the constraint's action to the rows still pointing at the old key:
//   NO ACTION fails unless a row with that key exists again by then,
//   RESTRICT fails, CASCADE deletes them (or carries the new key over),
//   SET NULL and SET DEFAULT change them. Those changes are recorded in the
//   same work, so they cascade further and are checked in turn.
//
// A referencing table's rows are found through an index whose leading
// columns are the key's, when there is one, else by a scan: as in
// PostgreSQL, an unindexed foreign key makes deletes from the referenced
// table read the whole referencing table.
//
// Error texts (SQLSTATE 23514 and 23503, message and detail) are
// PostgreSQL 15's. Left out: MATCH FULL, DEFERRABLE constraints, ON DELETE
// SET NULL (column list), NOT VALID.

import type { Row, Transaction, Value } from "../storage/engine.ts";
import { ConstraintError } from "../storage/engine.ts";
import { OID } from "../../../lib/pg/oids.ts";
import { formatText, type PgValue } from "../../../lib/pg/values.ts";
import type { Expr, References, ReferentialAction, TableConstraint } from "./ast.ts";
import {
  columnIndex,
  engineKey,
  engineType,
  rowFromEngine,
  rowToEngine,
  type SqlCheck,
  type SqlForeignKey,
  type SqlIndex,
  type SqlTable,
  toEngine,
} from "./catalog.ts";
import {
  defer,
  type DeferredLookups,
  deferReferenced,
  isDeferred,
} from "./deferred_constraints.ts";
import { SqlError } from "./errors.ts";
import type { EvalContext, SqlType } from "./eval.ts";
import { RowSpool, type SpillPlace } from "./row_spool.ts";
import { printExpr } from "./printer.ts";

/** A compiled CHECK expression: true, false or NULL for the row in `ctx.row`. */
export type CheckTest = (ctx: EvalContext) => PgValue;

/** What enforcement needs from the executor: the catalog, and compiled expressions. */
export interface ConstraintHost {
  tables: ReadonlyMap<string, SqlTable>;
  /** Compiles a CHECK expression (SQL text) over the table's columns. */
  compileCheck(table: SqlTable, expr: string): CheckTest;
  /** A column's DEFAULT for ON DELETE SET DEFAULT (null when it has none). */
  defaultOf(table: SqlTable, column: number, ctx: EvalContext): PgValue;
}

// Names --------------------------------------------------------------------------

/** Every constraint name a table uses (PostgreSQL keeps them unique per table). */
function namesIn(
  table: { indexes: SqlIndex[]; checks?: SqlCheck[]; foreignKeys?: SqlForeignKey[] },
) {
  return new Set([
    ...table.indexes.map((i) => i.name),
    ...(table.checks ?? []).map((c) => c.name),
    ...(table.foreignKeys ?? []).map((f) => f.name),
  ]);
}

/** PostgreSQL's ChooseConstraintName: `base`, else `base1`, `base2`, ... */
function chooseName(base: string, taken: Set<string>): string {
  let name = base;
  for (let n = 1; taken.has(name); n++) name = `${base}${n}`;
  taken.add(name);
  return name;
}

/** The columns an expression reads, once each, in order of appearance. */
export function columnsOf(expr: Expr): string[] {
  const out: string[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
    } else if (node !== null && typeof node === "object") {
      const e = node as { kind?: string; path?: string[] };
      if (e.kind === "column" && e.path) {
        const name = e.path[e.path.length - 1];
        if (!out.includes(name)) out.push(name);
        return;
      }
      for (const value of Object.values(node)) visit(value);
    }
  };
  visit(expr);
  return out;
}

// DDL ----------------------------------------------------------------------------

type TableShape = Pick<SqlTable, "name" | "columns" | "indexes" | "checks" | "foreignKeys">;

/**
 * A CHECK constraint for `table`, named as PostgreSQL names it: `t_col_check`
 * when the expression reads exactly one column, else `t_check`. Compiles it
 * once (through `compile`) so a bad expression fails at DDL time.
 */
export function newCheck(
  table: TableShape,
  constraint: { name: string | null; expr: Expr },
  compile: (expr: string) => void,
): SqlCheck {
  const columns = columnsOf(constraint.expr);
  const text = printExpr(constraint.expr);
  compile(text);
  const taken = namesIn(table);
  if (constraint.name !== null) {
    if (taken.has(constraint.name)) {
      throw new SqlError(
        "42710",
        `constraint "${constraint.name}" for relation "${table.name}" already exists`,
      );
    }
    return { name: constraint.name, expr: text };
  }
  const base = columns.length === 1 ? `${table.name}_${columns[0]}_check` : `${table.name}_check`;
  return { name: chooseName(base, taken), expr: text };
}

function action(a: ReferentialAction | null): SqlForeignKey["onDelete"] {
  return a ?? "no action";
}

/**
 * A FOREIGN KEY of `table` (which may be the referenced table itself),
 * checked as PostgreSQL checks it: the columns exist, as many on both
 * sides, and the referenced ones (the primary key when not named) carry a
 * primary key or unique constraint.
 */
export function newForeignKey(
  tables: ReadonlyMap<string, SqlTable>,
  table: TableShape,
  constraint: { name: string | null; columns: string[]; references: References },
): SqlForeignKey {
  const refName = constraint.references.table[constraint.references.table.length - 1];
  const parent = refName === table.name ? table : tables.get(refName);
  if (!parent || (parent as SqlTable).view) {
    throw new SqlError(
      "42P01",
      `relation "${constraint.references.table.join(".")}" does not exist`,
    );
  }
  for (const name of constraint.columns) {
    if (!table.columns.some((c) => c.name === name)) {
      throw new SqlError(
        "42703",
        `column "${name}" referenced in foreign key constraint does not exist`,
      );
    }
  }
  let refColumns = constraint.references.columns;
  if (refColumns.length === 0) {
    const primary = parent.indexes.find((i) => i.primary);
    if (!primary) {
      throw new SqlError("42830", `there is no primary key for referenced table "${parent.name}"`);
    }
    refColumns = primary.columns;
  } else {
    for (const name of refColumns) {
      if (!parent.columns.some((c) => c.name === name)) {
        throw new SqlError(
          "42703",
          `column "${name}" referenced in foreign key constraint does not exist`,
        );
      }
    }
  }
  if (refColumns.length !== constraint.columns.length) {
    throw new SqlError(
      "42830",
      "number of referencing and referenced columns for foreign key disagree",
    );
  }
  if (!uniqueOver(parent.indexes, refColumns)) {
    throw new SqlError(
      "42830",
      `there is no unique constraint matching given keys for referenced table "${parent.name}"`,
    );
  }
  const taken = namesIn(table);
  let name = constraint.name;
  if (name !== null && taken.has(name)) {
    throw new SqlError("42710", `constraint "${name}" for relation "${table.name}" already exists`);
  }
  name ??= chooseName(`${table.name}_${constraint.columns.join("_")}_fkey`, taken);
  return {
    name,
    columns: [...constraint.columns],
    table: parent.name,
    refColumns: [...refColumns],
    onDelete: action(constraint.references.onDelete),
    onUpdate: action(constraint.references.onUpdate),
    ...(constraint.references.deferrable ? { deferrable: true } : {}),
    ...(constraint.references.initiallyDeferred ? { initiallyDeferred: true } : {}),
  };
}

/** The unique key (primary or unique constraint or index) over exactly these columns. */
function uniqueOver(indexes: SqlIndex[], columns: string[]): SqlIndex | undefined {
  return indexes.find((i) =>
    i.unique && i.columns.length === columns.length && columns.every((c) => i.columns.includes(c))
  );
}

/** Column-level CHECK and REFERENCES as the table constraints they are. */
export function columnConstraints(
  columns: { name: string; constraints: { kind: string; name: string | null }[] }[],
): TableConstraint[] {
  const out: TableConstraint[] = [];
  for (const column of columns) {
    for (const k of column.constraints) {
      if (k.kind === "check") {
        out.push({ name: k.name, kind: "check", expr: (k as unknown as { expr: Expr }).expr });
      } else if (k.kind === "references") {
        const references = (k as unknown as { references: References }).references;
        out.push({ name: k.name, kind: "foreign_key", columns: [column.name], references });
      }
    }
  }
  return out;
}

/** Tables whose foreign keys reference `table` (itself included), with those keys. */
export function referencing(
  tables: ReadonlyMap<string, SqlTable>,
  table: string,
): { child: SqlTable; fk: SqlForeignKey }[] {
  const out: { child: SqlTable; fk: SqlForeignKey }[] = [];
  for (const child of tables.values()) {
    for (const fk of child.foreignKeys ?? []) {
      if (fk.table === table) out.push({ child, fk });
    }
  }
  return out;
}

/** True when a statement changing `table` has constraints to enforce. */
export function hasConstraints(tables: ReadonlyMap<string, SqlTable>, table: SqlTable): boolean {
  if ((table.checks?.length ?? 0) > 0 || (table.foreignKeys?.length ?? 0) > 0) return true;
  for (const other of tables.values()) {
    if (other.foreignKeys?.some((fk) => fk.table === table.name)) return true;
  }
  return false;
}

// Values in messages ------------------------------------------------------------------

function textOf(type: SqlType, value: PgValue): string {
  if (value === null) return "null";
  if (typeof value === "string") return value;
  const oid = (OID as Record<string, number>)[type] ?? OID.text;
  return formatText(oid, value);
}

/**
 * The error of a unique index build that met a duplicate, with PostgreSQL's
 * detail: the smallest key held twice (its build sorts the rows and stops
 * at the first pair), found by reading the table again.
 */
export async function duplicateKeyError(
  tx: Transaction,
  table: SqlTable,
  index: { name: string; columns: string[] },
): Promise<SqlError> {
  const seen = new Set<string>();
  let smallest: PgValue[] | null = null;
  const compare = (a: PgValue[], b: PgValue[]) => {
    for (let i = 0; i < a.length; i++) {
      const x = a[i], y = b[i];
      if (x === y) continue;
      // deno-lint-ignore no-explicit-any
      return (x as any) < (y as any) ? -1 : (x as any) > (y as any) ? 1 : 0;
    }
    return 0;
  };
  for await (const batch of tx.scanBatches(table.engineName, null)) {
    for (const row of batch) {
      const key = valuesAt(table, rowFromEngine(table, row), index.columns);
      if (key.some((v) => v === null)) continue;
      const text = JSON.stringify(key, (_, v) => typeof v === "bigint" ? `${v}n` : v);
      if (!seen.has(text)) seen.add(text);
      else if (smallest === null || compare(key, smallest) < 0) smallest = key;
    }
  }
  return new SqlError("23505", `could not create unique index "${index.name}"`, {
    ...(smallest ? { detail: `${keyText(table, index.columns, smallest)} is duplicated.` } : {}),
    table: table.name,
    constraint: index.name,
  });
}

/** PostgreSQL's "Failing row contains (...)" detail. */
export function failingRow(table: SqlTable, values: PgValue[]): string {
  return `Failing row contains (${
    values.map((v, i) => textOf(table.columns[i].type, v)).join(", ")
  }).`;
}

export function keyText(table: SqlTable, columns: string[], values: PgValue[]): string {
  const types = columns.map((c) => table.columns.find((x) => x.name === c)!.type);
  return `Key (${columns.join(", ")})=(${values.map((v, i) => textOf(types[i], v)).join(", ")})`;
}

// Enforcement ---------------------------------------------------------------------------

/** CHECK constraints of one table, compiled, in name order (PostgreSQL's order). */
export function compileChecks(
  host: ConstraintHost,
  table: SqlTable,
): { name: string; test: CheckTest }[] {
  return [...(table.checks ?? [])]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((c) => ({ name: c.name, test: host.compileCheck(table, c.expr) }));
}

/** Throws 23514 when a row fails one of the checks (NULL passes, as in SQL). */
export function checkRow(
  table: SqlTable,
  checks: { name: string; test: CheckTest }[],
  values: PgValue[],
  ctx: EvalContext,
): void {
  if (checks.length === 0) return;
  const saved = ctx.row;
  ctx.row = values;
  try {
    for (const check of checks) {
      if (check.test(ctx) === false) {
        throw new SqlError(
          "23514",
          `new row for relation "${table.name}" violates check constraint "${check.name}"`,
          { detail: failingRow(table, values), table: table.name, constraint: check.name },
        );
      }
    }
  } finally {
    ctx.row = saved;
  }
}

interface Change {
  table: SqlTable;
  old: PgValue[] | null;
  next: PgValue[] | null;
}

function valuesAt(table: SqlTable, row: PgValue[], columns: string[]): PgValue[] {
  return columns.map((name) => row[table.columns.findIndex((c) => c.name === name)]);
}

function sameValue(a: Value, b: Value): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }
  return a === b;
}

function sameKey(a: PgValue[], b: PgValue[]): boolean {
  return a.every((v, i) => sameValue(v as Value, b[i] as Value));
}

/**
 * The foreign key work of one statement: the rows it changed, checked and
 * acted on at its end (`finish`). Made only for tables with constraints.
 * The changes wait in a RowSpool (row_spool.ts), so a statement that
 * changes millions of rows keeps them in a temporary file, not in memory;
 * `close()` removes it.
 */
export class ConstraintWork {
  readonly #host: ConstraintHost;
  /** Per change: its table's number, whether it has an old and a new row, then those rows. */
  readonly #changes: RowSpool<PgValue[]>;
  readonly #tables: SqlTable[] = [];
  readonly #tableNumbers = new Map<SqlTable, number>();
  readonly #checks = new Map<string, { name: string; test: CheckTest }[]>();

  /** `spill`: where the changes go past a bound (null: they stay in memory, encoded). */
  constructor(host: ConstraintHost, spill: SpillPlace | null = null) {
    this.#host = host;
    this.#changes = new RowSpool(spill);
  }

  inserted(table: SqlTable, next: PgValue[]): void {
    if ((table.foreignKeys?.length ?? 0) > 0) this.#push(table, null, next);
  }

  updated(table: SqlTable, old: PgValue[], next: PgValue[]): void {
    this.#push(table, old, next);
  }

  deleted(table: SqlTable, old: PgValue[]): void {
    this.#push(table, old, null);
  }

  /** Runs the checks and actions of every change, cascaded ones included, in order. */
  async finish(tx: Transaction, ctx: EvalContext): Promise<void> {
    for (let change = this.#shift(); change !== undefined; change = this.#shift()) {
      if (change.next !== null) await this.#checkParents(tx, change);
      if (change.old !== null) await this.#actOnChildren(tx, change, ctx);
    }
  }

  /** Forgets the changes not yet finished and removes their temporary file. */
  close(): void {
    this.#changes.close();
  }

  #push(table: SqlTable, old: PgValue[] | null, next: PgValue[] | null): void {
    let number = this.#tableNumbers.get(table);
    if (number === undefined) {
      number = this.#tables.push(table) - 1;
      this.#tableNumbers.set(table, number);
    }
    const row: PgValue[] = [number, old !== null, next !== null];
    row.push(...(old ?? []), ...(next ?? []));
    this.#changes.push(row);
  }

  #shift(): Change | undefined {
    const row = this.#changes.shift();
    if (row === undefined) return undefined;
    const table = this.#tables[row[0] as number];
    const width = table.columns.length;
    const old = row[1] === true ? row.slice(3, 3 + width) : null;
    const from = old === null ? 3 : 3 + width;
    const next = row[2] === true ? row.slice(from, from + width) : null;
    return { table, old, next };
  }

  /** The referencing side: every non-NULL key must be present in its referenced table. */
  async #checkParents(tx: Transaction, change: Change): Promise<void> {
    const { table, old, next } = change;
    for (const fk of table.foreignKeys ?? []) {
      const key = valuesAt(table, next!, fk.columns);
      if (key.some((v) => v === null)) continue;
      if (old !== null && sameKey(key, valuesAt(table, old, fk.columns))) continue;
      const detail = `${keyText(table, fk.columns, key)} is not present in table "${fk.table}".`;
      if (isDeferred(tx, fk)) {
        defer(tx, table.name, fk, key, detail);
        continue;
      }
      const parent = this.#host.tables.get(fk.table);
      if (parent && await this.#parentHas(tx, parent, fk, key)) continue;
      throw new SqlError(
        "23503",
        `insert or update on table "${table.name}" violates foreign key constraint "${fk.name}"`,
        {
          detail,
          table: table.name,
          constraint: fk.name,
        },
      );
    }
  }

  async #parentHas(
    tx: Transaction,
    parent: SqlTable,
    fk: SqlForeignKey,
    key: PgValue[],
  ): Promise<boolean> {
    const rows = await findRows(tx, parent, fk.refColumns, key, 1);
    return rows.length > 0;
  }

  /** The referenced side: a deleted key, or one an update changed, meets its referencing rows. */
  async #actOnChildren(tx: Transaction, change: Change, ctx: EvalContext): Promise<void> {
    const { table, old, next } = change;
    for (const { child, fk } of referencing(this.#host.tables, table.name)) {
      const key = valuesAt(table, old!, fk.refColumns);
      if (key.some((v) => v === null)) continue;
      const newKey = next === null ? null : valuesAt(table, next, fk.refColumns);
      if (newKey !== null && sameKey(key, newKey)) continue;
      const rule = next === null ? fk.onDelete : fk.onUpdate;
      if (rule === "no action" && isDeferred(tx, fk)) {
        // Checked at COMMIT: the key may come back, or its referencing rows go, by then.
        deferReferenced(
          tx,
          table.name,
          child.name,
          fk,
          key,
          `${keyText(table, fk.refColumns, key)} is still referenced from table "${child.name}".`,
        );
        continue;
      }
      if (rule === "no action" && await this.#parentHas(tx, table, fk, key)) continue;
      const current = this.#host.tables.get(child.name) ?? child;
      const rows = await findRows(
        tx,
        current,
        fk.columns,
        key,
        rule === "no action" || rule === "restrict" ? 1 : Infinity,
      );
      if (rows.length === 0) continue;
      if (rule === "no action" || rule === "restrict") {
        throw new SqlError(
          "23503",
          `update or delete on table "${table.name}" violates foreign key constraint "${fk.name}" on table "${child.name}"`,
          {
            detail: `${
              keyText(table, fk.refColumns, key)
            } is still referenced from table "${child.name}".`,
            table: child.name,
            constraint: fk.name,
          },
        );
      }
      await lockForWrite(tx, current);
      for (const row of rows) {
        const values = rowFromEngine(current, row);
        if (rule === "cascade" && next === null) {
          await tx.delete(current.engineName, engineKey(current, row));
          this.deleted(current, values);
          continue;
        }
        const changed = [...values];
        fk.columns.forEach((name, j) => {
          const at = current.columns.findIndex((c) => c.name === name);
          changed[at] = rule === "cascade"
            ? newKey![j]
            : rule === "set null"
            ? null
            : this.#host.defaultOf(current, at, ctx);
        });
        checkNotNullOf(current, changed);
        let checks = this.#checks.get(current.name);
        if (!checks) this.#checks.set(current.name, checks = compileChecks(this.#host, current));
        checkRow(current, checks, changed, ctx);
        await replace(tx, current, row, changed);
        this.updated(current, values, changed);
      }
    }
  }
}

function checkNotNullOf(table: SqlTable, values: PgValue[]): void {
  for (let i = 0; i < table.columns.length; i++) {
    if (values[i] === null && table.columns[i].notNull) {
      throw new SqlError(
        "23502",
        `null value in column "${
          table.columns[i].name
        }" of relation "${table.name}" violates not-null constraint`,
        { detail: failingRow(table, values) },
      );
    }
  }
}

/** The write lock before changing a table (see executor.ts lockForWrite). */
async function lockForWrite(tx: Transaction, table: SqlTable): Promise<void> {
  await tx.lockForWrite(table.engineName);
}

async function replace(tx: Transaction, table: SqlTable, row: Row, next: PgValue[]): Promise<void> {
  const key = engineKey(table, row);
  const stored = rowToEngine(table, next, table.rowid ? row[0] as bigint : null);
  const newKey = engineKey(table, stored);
  try {
    if (key.every((v, i) => sameValue(v, newKey[i]))) {
      await tx.update(table.engineName, key, stored);
    } else {
      await tx.delete(table.engineName, key);
      await tx.insert(table.engineName, stored);
    }
  } catch (error) {
    if (error instanceof ConstraintError) {
      throw new SqlError(
        "23505",
        `duplicate key value violates unique constraint "${error.constraint}"`,
      );
    }
    throw error;
  }
}

/**
 * Stored rows of `table` whose `columns` equal `values` (at most `limit`):
 * through an index (or the engine key) led by those columns when there is
 * one, else by a scan.
 */
export async function findRows(
  tx: Transaction,
  table: SqlTable,
  columns: string[],
  values: PgValue[],
  limit: number,
): Promise<Row[]> {
  const engineValues = columns.map((name, i) => {
    const value = toEngine(table.columns.find((c) => c.name === name)!.type, values[i]);
    // A key of another integer width (int4 referencing int8): the engine keeps int64s.
    return typeof value === "number" &&
        engineType(table.columns.find((c) => c.name === name)!.type) === "int64"
      ? BigInt(value)
      : value;
  });
  const at = columns.map((name) => columnIndex(table, name));
  const matches = (row: Row) => at.every((a, i) => sameValue(row[a], engineValues[i]));
  const led = (keyColumns: string[]) =>
    keyColumns.length >= columns.length &&
    keyColumns.slice(0, columns.length).every((c) => columns.includes(c));
  let index: string | null | undefined = undefined;
  let keyColumns: string[] = [];
  const primary = table.indexes.find((i) => i.primary && i.engineIndex === null);
  if (!table.rowid && primary && led(primary.columns)) {
    index = null;
    keyColumns = primary.columns;
  } else {
    const found = table.indexes.find((i) => i.engineIndex !== null && led(i.columns));
    if (found) {
      index = found.engineIndex;
      keyColumns = found.columns;
    }
  }
  const out: Row[] = [];
  if (index !== undefined) {
    const bound = keyColumns.slice(0, columns.length).map((c) => engineValues[columns.indexOf(c)]);
    for await (
      const batch of tx.scanBatches(table.engineName, index, { lower: bound, upper: bound })
    ) {
      for (const row of batch) {
        if (!matches(row)) continue;
        out.push(row);
        if (out.length >= limit) return out;
      }
    }
    return out;
  }
  for await (const batch of tx.scanBatches(table.engineName, null)) {
    for (const row of batch) {
      if (!matches(row)) continue;
      out.push(row);
      if (out.length >= limit) return out;
    }
  }
  return out;
}

/** Validates existing rows for ALTER TABLE ADD CONSTRAINT CHECK (23514 when one fails). */
export async function validateCheck(
  tx: Transaction,
  table: SqlTable,
  check: { name: string; test: CheckTest },
  ctx: EvalContext,
): Promise<void> {
  for await (const batch of tx.scanBatches(table.engineName, null)) {
    for (const row of batch) {
      ctx.row = rowFromEngine(table, row);
      if (check.test(ctx) === false) {
        throw new SqlError(
          "23514",
          `check constraint "${check.name}" of relation "${table.name}" is violated by some row`,
        );
      }
    }
  }
}

/** Validates existing rows for ALTER TABLE ADD FOREIGN KEY (23503 for the first orphan). */
export async function validateForeignKey(
  tx: Transaction,
  tables: ReadonlyMap<string, SqlTable>,
  table: SqlTable,
  fk: SqlForeignKey,
): Promise<void> {
  const parent = fk.table === table.name ? table : tables.get(fk.table)!;
  for await (const batch of tx.scanBatches(table.engineName, null)) {
    for (const row of batch) {
      const key = valuesAt(table, rowFromEngine(table, row), fk.columns);
      if (key.some((v) => v === null)) continue;
      if ((await findRows(tx, parent, fk.refColumns, key, 1)).length > 0) continue;
      throw new SqlError(
        "23503",
        `insert or update on table "${table.name}" violates foreign key constraint "${fk.name}"`,
        {
          detail: `${keyText(table, fk.columns, key)} is not present in table "${fk.table}".`,
          table: table.name,
          constraint: fk.name,
        },
      );
    }
  }
}

/** Whether some row of `fk`'s referencing table `child` holds `key` (deferred checks at commit). */
export async function referencingHas(
  tx: Transaction,
  tables: ReadonlyMap<string, SqlTable>,
  child: string,
  fk: SqlForeignKey,
  key: PgValue[],
): Promise<boolean> {
  const table = tables.get(child);
  if (!table) return false;
  return (await findRows(tx, table, fk.columns, key, 1)).length > 0;
}

/** Whether `fk`'s referenced table (in `tables`) holds `key` (deferred checks at commit). */
export async function referencedHas(
  tx: Transaction,
  tables: ReadonlyMap<string, SqlTable>,
  fk: SqlForeignKey,
  key: PgValue[],
): Promise<boolean> {
  const parent = tables.get(fk.table);
  if (!parent) return false;
  return (await findRows(tx, parent, fk.refColumns, key, 1)).length > 0;
}

/** What the deferred checks (deferred_constraints.ts) read, within `tx`. */
export function deferredLookups(
  tx: Transaction,
  tables: ReadonlyMap<string, SqlTable>,
): DeferredLookups {
  return {
    referenced: (fk, key) => referencedHas(tx, tables, fk, key),
    referencing: (child, fk, key) => referencingHas(tx, tables, child, fk, key),
  };
}
