// The persistent catalog: tables, their columns and types, primary keys,
// secondary indexes, and where each one's pages start; plus the file-level
// bookkeeping (page count, free pages). Pure: no I/O.
//
// The catalog is small, so it is kept as a JSON document in memory and
// written, at every checkpoint, into a chain of overflow pages that the meta
// page points at. Those pages go through the double-write file with all the
// others, so the catalog and the pages it describes always change together.
// Between checkpoints, catalog changes (CREATE TABLE, CREATE INDEX) are
// redone from their log records.

import { SchemaError } from "./errors.ts";
import type { HeapState } from "./heap.ts";
import { COLUMN_TYPES, type ColumnType } from "./row_codec.ts";

export interface ColumnDef {
  name: string;
  type: ColumnType;
  /** Default true; primary key columns are never nullable. */
  nullable?: boolean;
}

export interface IndexSpec {
  name: string;
  columns: string[];
  unique?: boolean;
}

export interface TableSpec {
  name: string;
  columns: ColumnDef[];
  /** One or more column names; every table has a primary key. */
  primaryKey: string[];
  indexes?: IndexSpec[];
}

export interface IndexDef {
  name: string;
  columns: string[];
  unique: boolean;
  /** Root page of its B+tree (never moves, see btree.ts). */
  root: number;
}

export interface TableDef {
  id: number;
  name: string;
  columns: ColumnDef[];
  primaryKey: string[];
  primaryRoot: number;
  indexes: IndexDef[];
  heap: HeapState;
}

export interface CatalogDoc {
  nextTableId: number;
  tables: TableDef[];
  pageCount: number;
  freePages: number[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
export const COLUMNS_MAX = 1000;

export function checkName(kind: string, name: string): void {
  if (!NAME.test(name)) throw new SchemaError(`invalid ${kind} name ${JSON.stringify(name)}`);
}

/** Validates a CREATE TABLE; throws SchemaError. */
export function checkTableSpec(spec: TableSpec): void {
  checkName("table", spec.name);
  if (spec.columns.length === 0 || spec.columns.length > COLUMNS_MAX) {
    throw new SchemaError(`a table needs 1 to ${COLUMNS_MAX} columns`);
  }
  const seen = new Set<string>();
  for (const column of spec.columns) {
    checkName("column", column.name);
    if (seen.has(column.name)) throw new SchemaError(`duplicate column ${column.name}`);
    seen.add(column.name);
    if (!COLUMN_TYPES.includes(column.type)) throw new SchemaError(`unknown type ${column.type}`);
  }
  checkColumns(spec.name, spec.columns, spec.primaryKey);
  for (const index of spec.indexes ?? []) checkIndexSpec(spec.columns, index);
}

export function checkIndexSpec(columns: ColumnDef[], index: IndexSpec): void {
  checkName("index", index.name);
  checkColumns(index.name, columns, index.columns);
}

function checkColumns(owner: string, columns: ColumnDef[], names: string[]): void {
  if (names.length === 0) throw new SchemaError(`${owner}: key needs at least one column`);
  if (new Set(names).size !== names.length) throw new SchemaError(`${owner}: repeated key column`);
  for (const name of names) {
    if (!columns.some((c) => c.name === name)) throw new SchemaError(`${owner}: no column ${name}`);
  }
}

export function columnIndexes(table: TableDef, names: string[]): number[] {
  return names.map((name) => table.columns.findIndex((c) => c.name === name));
}

export function encodeCatalog(doc: CatalogDoc): string {
  return JSON.stringify(doc);
}

export function decodeCatalog(text: string): CatalogDoc {
  const doc = JSON.parse(text) as CatalogDoc;
  if (!Array.isArray(doc.tables) || typeof doc.pageCount !== "number") {
    throw new SyntaxError("catalog: not a catalog document");
  }
  return doc;
}
