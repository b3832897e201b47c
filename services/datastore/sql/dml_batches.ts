// How UPDATE and DELETE change any number of rows in bounded memory.
//
// The danger a writer that scans its own table must avoid is the Halloween
// problem: a row changed so that it lands ahead of the scan, met again and
// changed twice. Our statements used to find every row first and change
// them afterwards, which is safe but holds every row found. Instead:
//
//   - In place, as the scan finds them, when no change can move a row
//     ahead of the scan. The engine's scan reads a batch of rows and
//     resumes after the last key it returned (storage/engine.ts), so a row
//     deleted or updated behind it is never met again, provided its key in
//     the tree being scanned stays the same. DELETE always qualifies. An
//     UPDATE qualifies when it sets no column of the index it scans (the
//     primary key's rows stay where they are when the key does not change).
//     A row whose primary key changes is deleted at once and its new
//     version set aside (the executor's `moves`), to be inserted once every
//     old row is out, as before: so `SET id = id + 1` still succeeds
//     whenever the result is unique (see docs/datastore.md), and the moved
//     rows are nowhere a scan could meet them.
//   - Otherwise (an UPDATE that sets a column of the secondary index it
//     scans, or a statement with a correlated subquery, which runs against
//     the table while the statement changes it), the rows are found first,
//     as before, but set aside in a RowSpool (row_spool.ts), which moves to
//     a temporary file past a bound, and changed afterwards.
//
// Each row is still changed once, in scan order, with the same RETURNING
// rows and the same errors as when every row was found first; what differs
// is only which error comes first when several rows would fail, and the
// in-place order is PostgreSQL's (it too changes each row as its scan
// reaches it).
//
// UPDATE ... FROM and DELETE ... USING join the target's scan (the outer,
// streamed side) to the other items (held, hashed), so a target row's
// joined rows come out one after another: the first that passes the WHERE
// is kept by comparing its key with the last one kept, with no set of every
// key seen. Its scan is a full scan of the primary key, so the same rules
// hold.

import type { SqlIndex, SqlTable } from "./catalog.ts";

/**
 * Whether an UPDATE (`setColumns`: indexes of the columns it sets) or a
 * DELETE (`setColumns` null) may change each row as its scan over
 * `scanIndex` (an engine index name, null for the primary key) finds it.
 * `correlated`: the statement has a subquery that reads the row, which
 * runs again for each row and would see the rows already changed.
 */
export function changesInScan(
  table: SqlTable,
  scanIndex: string | null,
  setColumns: readonly number[] | null,
  correlated: boolean,
): boolean {
  if (correlated) return false;
  if (setColumns === null || scanIndex === null) return true;
  const index = table.indexes.find((i) => i.engineIndex === scanIndex);
  if (index === undefined || !plainColumns(index)) return false;
  const names = new Set(setColumns.map((i) => table.columns[i].name));
  // A secondary index's entries end with the primary key's columns.
  const primary = table.indexes.find((i) => i.primary)?.columns ?? [];
  return ![...index.columns, ...primary].some((c) => names.has(c));
}

/** An index over plain columns only (an index over expressions may read any column). */
function plainColumns(index: SqlIndex): boolean {
  return Object.keys(index).every((k) => KNOWN_INDEX_FIELDS.has(k));
}

/** The fields of an index over columns; an index with any other is treated as moving rows. */
const KNOWN_INDEX_FIELDS: ReadonlySet<string> = new Set([
  "name",
  "columns",
  "unique",
  "engineIndex",
  "primary",
  "constraint",
]);
