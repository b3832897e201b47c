// The SQL catalog: how SQL tables map onto the storage engine's tables.
//
// The engine knows tables of six column types with a primary key and
// secondary indexes, named by a strict pattern, and it cannot drop, rename
// or alter anything. The SQL layer keeps its own description of each table
// (SQL types with their modifiers, NOT NULL, DEFAULT, SERIAL, constraints by
// their SQL names) in one engine table, `sql_catalog` (name, JSON), written
// in the same transaction as the change it describes, so DDL commits and
// rolls back with everything else and survives a crash.
//
// - Engine names are generated: table `t<N>`, columns `c<i>`, indexes
//   `i<N>`; SQL names may be anything PostgreSQL allows.
// - A table without a primary key gets a hidden first column `r`, an int8
//   row number, as its engine key (PostgreSQL's heap needs none; our B+tree
//   heap does). ALTER TABLE ADD PRIMARY KEY on such a table builds a unique
//   index over the named columns (pgbench -i adds its keys that way).
// - DROP TABLE and TRUNCATE point the SQL name elsewhere (a new, empty engine
//   table for TRUNCATE) and leave the old engine table behind, unreachable:
//   the engine cannot drop tables yet, so their pages are not reused.
// - SERIAL, BIGSERIAL and GENERATED ... AS IDENTITY columns draw from
//   counters that the executor keeps in memory and reserves ahead, 32
//   numbers at a time, in the engine table `sql_sequences` (see
//   Database.nextval): never a number twice, even after a crash; numbers
//   taken by transactions that rolled back are skipped, as PostgreSQL's
//   sequences do. The hidden row number starts past the largest stored.
//
// Pure: no I/O; the executor reads and writes `sql_catalog`.

import type { Row, TableSpec, Value } from "../storage/engine.ts";
import type { ColumnType } from "../storage/row_codec.ts";
import type { PgValue } from "../../../lib/pg/values.ts";
import type { TypeName } from "./ast.ts";
import { SqlError } from "./errors.ts";
import { keyValues } from "./key_columns.ts";
import type { SqlType } from "./eval.ts";

export const CATALOG_TABLE = "sql_catalog";
export const CATALOG_SPEC: TableSpec = {
  name: CATALOG_TABLE,
  columns: [
    { name: "name", type: "text", nullable: false },
    { name: "def", type: "text", nullable: false },
  ],
  primaryKey: ["name"],
};

export interface SqlColumn {
  name: string;
  type: SqlType;
  /** As declared, for its modifiers (varchar(10), numeric(5,2)). */
  typeName: TypeName;
  notNull: boolean;
  /** DEFAULT's expression as SQL text, or null. */
  default: string | null;
  /** SERIAL or IDENTITY: the default is the table's counter for this column. */
  serial: boolean;
  /** GENERATED ALWAYS ("a") or BY DEFAULT ("d") AS IDENTITY, as pg_attribute.attidentity. */
  identity?: "a" | "d";
  /**
   * The counter's sequence name once a rename made it differ from
   * `<table>_<column>_seq` (PostgreSQL's sequence keeps its first name).
   */
  sequence?: string;
  /** COMMENT ON COLUMN (col_description). */
  comment?: string;
}

export interface SqlIndex {
  /** The SQL name (constraint or index name). */
  name: string;
  columns: string[];
  unique: boolean;
  /** The engine's index name, or null when this is the engine's primary key. */
  engineIndex: string | null;
  /** True for the PRIMARY KEY constraint. */
  primary: boolean;
  /** True when a PRIMARY KEY or UNIQUE constraint made it (not CREATE INDEX); absent in old catalogs. */
  constraint?: boolean;
  /** COMMENT ON INDEX (obj_description). */
  comment?: string;
  /**
   * An expression index's keys as written (`lower(email)`), null for a
   * plain column; `columns` then names the hidden key column (see keyName).
   */
  keys?: (string | null)[];
  /** A partial index's WHERE as SQL text. */
  where?: string;
  /** Operator classes as written (null: the default), and INCLUDE's columns: for display. */
  opclasses?: (string | null)[];
  include?: string[];
}

/**
 * A hidden engine column holding an index key computed from the row
 * (expression_indexes.ts): engine columns `x<k>` after the SQL columns.
 */
export interface SqlKeyExpr {
  /** SQL text over the table's columns. */
  expr: string;
  type: SqlType;
}

/** How an index's `columns` names hidden key column k (no SQL name holds a NUL). */
export function keyName(k: number): string {
  return `\u0000x${k}`;
}

/** k for a hidden key column's name, else -1. */
export function keyNumber(name: string): number {
  return name.charCodeAt(0) === 0 ? Number(name.slice(2)) : -1;
}

export interface SqlTable {
  name: string;
  /** The engine's table name. */
  engineName: string;
  /** A stable number for RowDescription's table OID and pg_class. */
  oid: number;
  columns: SqlColumn[];
  /** True when the engine key is the hidden row number in engine column 0. */
  rowid: boolean;
  /** Primary key and unique constraints, and plain indexes. */
  indexes: SqlIndex[];
  /** CHECK constraints (absent in catalogs written before they were enforced). */
  checks?: SqlCheck[];
  /** FOREIGN KEY constraints this table holds. */
  foreignKeys?: SqlForeignKey[];
  /** Set for a view: no engine table; `columns` are its output columns. */
  view?: SqlView;
  /** COMMENT ON TABLE / VIEW (obj_description). */
  comment?: string;
  /** Hidden key columns of expression and partial unique indexes (expression_indexes.ts). */
  keyExprs?: SqlKeyExpr[];
}

/** Engine types for SQL types: integers and dates as int64, numeric and strings as text. */
const ENGINE_TYPE: Record<Exclude<SqlType, `${string}[]`>, ColumnType> = {
  bool: "bool",
  int2: "int64",
  int4: "int64",
  int8: "int64",
  numeric: "text",
  float4: "float64",
  float8: "float64",
  text: "text",
  varchar: "text",
  bpchar: "text",
  bytea: "bytes",
  date: "int64",
  timestamp: "timestamp",
  timestamptz: "timestamp",
  interval: "text",
  time: "int64",
  uuid: "text",
  json: "text",
  jsonb: "text",
  unknown: "text",
};

export function engineType(type: SqlType): ColumnType {
  // An array is kept as its canonical text (lib/pg/arrays.ts), as an interval is.
  if (type.endsWith("[]")) return "text";
  // An enum (enums.ts) keeps its label.
  return ENGINE_TYPE[type as Exclude<SqlType, `${string}[]`>] ?? "text";
}

/** A SQL value as the engine stores it. */
export function toEngine(type: SqlType, value: PgValue): Value {
  if (value === null) return null;
  if (type === "int2" || type === "int4" || type === "date") return BigInt(value as number);
  return value as Value;
}

/** An engine value as a SQL value. */
export function fromEngine(type: SqlType, value: Value): PgValue {
  if (value === null) return null;
  if (type === "int2" || type === "int4" || type === "date") return Number(value as bigint);
  return value as PgValue;
}

/** Engine column index of SQL column `i`. */
export function engineColumn(table: SqlTable, i: number): number {
  return table.rowid ? i + 1 : i;
}

/** A stored row as SQL values in column order. */
export function rowFromEngine(table: SqlTable, row: Row): PgValue[] {
  const offset = table.rowid ? 1 : 0;
  const out = new Array<PgValue>(table.columns.length);
  for (let i = 0; i < out.length; i++) out[i] = fromEngine(table.columns[i].type, row[i + offset]);
  return out;
}

/** SQL values as a stored row (the row number first when the table has one). */
export function rowToEngine(table: SqlTable, values: PgValue[], rowid: bigint | null): Row {
  const out: Row = table.rowid ? [rowid] : [];
  for (let i = 0; i < table.columns.length; i++) {
    out.push(toEngine(table.columns[i].type, values[i]));
  }
  if (table.keyExprs !== undefined) {
    const keys = keyValues(table, values);
    for (let k = 0; k < keys.length; k++) out.push(toEngine(table.keyExprs[k].type, keys[k]));
  }
  return out;
}

/** The engine's key of a stored row. */
export function engineKey(table: SqlTable, row: Row): Value[] {
  if (table.rowid) return [row[0]];
  const primary = table.indexes.find((i) => i.primary)!;
  return primary.columns.map((name) => row[columnIndex(table, name)]);
}

export function columnIndex(table: SqlTable, name: string): number {
  const k = keyNumber(name);
  const i = k >= 0 ? table.columns.length + k : table.columns.findIndex((c) => c.name === name);
  return table.rowid ? i + 1 : i;
}

/** The engine table spec for a new SQL table. */
export function engineSpec(table: SqlTable): TableSpec {
  const columns = table.columns.map((c, i) => ({
    name: `c${i}`,
    type: engineType(c.type),
    nullable: !c.notNull,
  }));
  for (const [k, key] of (table.keyExprs ?? []).entries()) {
    columns.push({ name: `x${k}`, type: engineType(key.type), nullable: true });
  }
  if (table.rowid) columns.unshift({ name: "r", type: "int64", nullable: false });
  const engineName = (name: string) =>
    keyNumber(name) >= 0
      ? `x${keyNumber(name)}`
      : `c${table.columns.findIndex((c) => c.name === name)}`;
  const primary = table.indexes.find((i) => i.primary && i.engineIndex === null);
  return {
    name: table.engineName,
    columns,
    primaryKey: table.rowid ? ["r"] : primary!.columns.map(engineName),
    indexes: table.indexes.filter((i) => i.engineIndex !== null).map((i) => ({
      name: i.engineIndex!,
      columns: i.columns.map(engineName),
      unique: i.unique,
    })),
  };
}

/** Engine column names for SQL columns. */
export function engineColumnNames(table: SqlTable, names: string[]): string[] {
  return names.map((name) => {
    if (keyNumber(name) >= 0) return `x${keyNumber(name)}`;
    const i = table.columns.findIndex((c) => c.name === name);
    if (i < 0) throw new SqlError("42703", `column "${name}" does not exist`);
    return `c${i}`;
  });
}

/** Parses a stored table description. */
export function decodeTable(json: string): SqlTable {
  return JSON.parse(json) as SqlTable;
}

export function encodeTable(table: SqlTable): string {
  return JSON.stringify(table);
}

/** The next free engine table or index number, from the names in use. */
export function nextEngineNumber(names: Iterable<string>): number {
  let max = 0;
  for (const name of names) {
    const match = /^[ti](\d+)$/.exec(name);
    if (match) max = Math.max(max, Number(match[1]));
  }
  return max + 1;
}

/** A CHECK constraint: its SQL name and its expression as SQL text over the table's columns. */
export interface SqlCheck {
  name: string;
  expr: string;
  /** ADD CONSTRAINT ... NOT VALID: rows that were there are not known to pass (convalidated). */
  notValid?: boolean;
}

export type SqlReferentialAction =
  | "no action"
  | "restrict"
  | "cascade"
  | "set null"
  | "set default";

/** A FOREIGN KEY constraint of the table that holds it (the referencing table). */
export interface SqlForeignKey {
  name: string;
  columns: string[];
  /** The referenced table's SQL name and columns (a primary key or unique constraint of it). */
  table: string;
  refColumns: string[];
  onDelete: SqlReferentialAction;
  onUpdate: SqlReferentialAction;
  /** ADD CONSTRAINT ... NOT VALID, until VALIDATE CONSTRAINT. */
  notValid?: boolean;
  /** DEFERRABLE; INITIALLY DEFERRED (deferred_constraints.ts). Absent: neither. */
  deferrable?: boolean;
  initiallyDeferred?: boolean;
}

/** A view: its query as SQL text and its column names. */
export interface SqlView {
  query: string;
  columns: string[];
  /** Tables and views the query reads, for DROP's dependency checks. */
  reads?: string[];
}
