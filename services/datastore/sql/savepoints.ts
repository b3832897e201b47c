// Savepoints: SAVEPOINT, ROLLBACK TO SAVEPOINT and RELEASE SAVEPOINT inside a
// transaction block (PostgreSQL 15 docs, SQL commands SAVEPOINT, ROLLBACK TO
// SAVEPOINT, RELEASE SAVEPOINT).
//
// The storage engine has no subtransactions: a transaction's changes are
// undone only all together. A savepoint is therefore a mark in the
// transaction's own list of log records (and in its list of catalog
// changes), and ROLLBACK TO undoes what came after the mark by
// compensation: for each later record, newest first, the opposite change
// through the engine's ordinary API (an insert is deleted, a delete
// inserted again, an update put back), which logs records of its own. A
// crash before the commit undoes all of them; after the commit, redo
// replays both the changes and their compensations, so the outcome is the
// same either way.
//
// A statement that fails inside a block with a savepoint leaves the
// engine transaction open (PostgreSQL keeps the block and its locks
// too): only ROLLBACK TO or ROLLBACK leaves the aborted state. That is
// how psql's ON_ERROR_ROLLBACK works (a savepoint before every statement).
//
// An index built after the mark (CREATE [UNIQUE] INDEX, ADD UNIQUE) is
// dropped through the engine's logged index drop, so it no longer refuses
// duplicates, and recovery after a crash drops it too.
//
// Left out: an engine table created after the mark stays behind,
// unreachable from SQL (the engine cannot drop one; as with DROP TABLE).
// A deadlock or lock
// timeout rolls the whole engine transaction back, so ROLLBACK TO after one
// finds no savepoint (3B001) and the block stays aborted.

import type { Row, Transaction } from "../storage/engine.ts";
import { decodeRow } from "../storage/row_codec.ts";
import type { ColumnType } from "../storage/row_codec.ts";
import type { WalRecord } from "../storage/wal_codec.ts";
import { RecordKind } from "../storage/wal_codec.ts";
import type { Engine } from "../storage/engine.ts";
import { deferredCount, truncateDeferred } from "./deferred_constraints.ts";
import { SqlError } from "./errors.ts";
import type { Database, SqlTransaction } from "./executor.ts";

export interface Savepoint {
  name: string;
  /** How many deferred foreign key checks were queued (deferred_constraints.ts). */
  deferred: number;
  /** How many log records the transaction had when the savepoint was set. */
  records: number;
  /** How many catalog changes it had. */
  catalogChanges: number;
}

function missing(name: string): SqlError {
  return new SqlError("3B001", `savepoint "${name}" does not exist`);
}

/** The newest savepoint of that name (names may repeat: the newest wins, as in PostgreSQL). */
export function findSavepoint(savepoints: readonly Savepoint[], name: string): number {
  for (let i = savepoints.length - 1; i >= 0; i--) {
    if (savepoints[i].name === name) return i;
  }
  throw missing(name);
}

/**
 * Undoes, newest first, every change `tx` made after `records` of its log
 * records, by logging the opposite change.
 */
export async function compensate(engine: Engine, tx: Transaction, records: number): Promise<void> {
  const later: WalRecord[] = tx.records.slice(records);
  if (later.length === 0) return;
  const tables = new Map<number, { name: string; types: ColumnType[]; key: number[] }>();
  for (const def of engine.tables()) {
    tables.set(def.id, {
      name: def.name,
      types: def.columns.map((c) => c.type),
      key: def.primaryKey.map((name) => def.columns.findIndex((c) => c.name === name)),
    });
  }
  const keyOf = (key: number[], row: Row) => key.map((i) => row[i]);
  for (let i = later.length - 1; i >= 0; i--) {
    const record = later[i];
    if (record.kind === RecordKind.createIndex) {
      // An index built after the mark is dropped (logged, so recovery agrees).
      const { tableId, spec } = JSON.parse(record.json) as {
        tableId: number;
        spec: { name: string };
      };
      const def = engine.tables().find((t) => t.id === tableId);
      if (def?.indexes.some((x) => x.name === spec.name)) await tx.dropIndex(def.name, spec.name);
      continue;
    }
    if (
      record.kind !== RecordKind.insert && record.kind !== RecordKind.delete &&
      record.kind !== RecordKind.update
    ) {
      continue; // tables and indexes stay (see the header)
    }
    const table = tables.get(record.tableId);
    if (!table) continue; // a table created after the mark whose def is gone
    const row = decodeRow(table.types, record.row);
    if (record.kind === RecordKind.insert) {
      await tx.delete(table.name, keyOf(table.key, row));
    } else if (record.kind === RecordKind.delete) {
      await tx.insert(table.name, row);
    } else {
      await tx.update(table.name, keyOf(table.key, row), decodeRow(table.types, record.oldRow));
    }
  }
}

/** SAVEPOINT name: a mark at the transaction's current end. */
export function setSavepoint(sqlTx: SqlTransaction, name: string): void {
  sqlTx.savepoints.push({
    name,
    deferred: deferredCount(sqlTx.tx),
    records: sqlTx.tx.records.length,
    catalogChanges: sqlTx.catalogUndo.length,
  });
}

/** RELEASE SAVEPOINT name: forgets it and every later one; the changes stay. */
export function releaseSavepoint(sqlTx: SqlTransaction, name: string): void {
  sqlTx.savepoints.length = findSavepoint(sqlTx.savepoints, name);
}

/**
 * ROLLBACK TO SAVEPOINT name: undoes the changes made since, catalog
 * included; the savepoint stays, later ones are forgotten.
 */
export async function rollbackToSavepoint(
  db: Database,
  sqlTx: SqlTransaction,
  name: string,
): Promise<void> {
  const at = findSavepoint(sqlTx.savepoints, name);
  const mark = sqlTx.savepoints[at];
  sqlTx.savepoints.length = at + 1;
  if (sqlTx.tx.state !== "open") throw missing(name);
  await compensate(db.engine, sqlTx.tx, mark.records);
  db.undoCatalog(sqlTx, mark.catalogChanges);
  truncateDeferred(sqlTx.tx, mark.deferred);
}
