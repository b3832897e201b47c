// SELECT ... FOR UPDATE | FOR NO KEY UPDATE | FOR SHARE | FOR KEY SHARE
// [OF t, ...] [NOWAIT | SKIP LOCKED]: row locks held to the end of the
// transaction (PostgreSQL's "The Locking Clause" of SELECT, and its
// LockRows plan node, which sits above the sort and below the LIMIT).
//
// How it runs here. A query on one stored table with a primary key reads
// the table under an intention lock only (IX, or IS for the SHARE
// strengths; engine.ts `tableLock`), sorts, then locks each row it is about
// to return, one at a time, in the storage engine's key lock (X for the
// UPDATE strengths, S for the SHARE ones): so `FOR UPDATE SKIP LOCKED
// LIMIT 1` locks exactly one row, and concurrent workers get distinct
// rows. Once the lock is granted the row is read again: gone, it is left
// out; changed, the WHERE is checked again on the new version and the
// output computed from it (PostgreSQL's EvalPlanQual recheck). NOWAIT
// fails with 55P03 at a row held by another transaction; SKIP LOCKED
// leaves that row out; a wait may end in 40P01 as any lock wait does.
//
// Every other query (joins, tables keyed by the hidden row number, a WHERE
// or select list with subqueries) locks whole tables instead: the UPDATE
// strengths take the table's write lock before reading, the SHARE ones the
// read lock every scan takes. That is correct but serializes; NOWAIT and
// SKIP LOCKED then wait like a plain lock.
//
// Left out: KEY SHARE and NO KEY UPDATE are SHARE and UPDATE here (they
// conflict with each other, where PostgreSQL lets them pass); a row deleted
// by a transaction that then rolls back is not seen by a scan that ran
// while it was gone (PostgreSQL would wait for it).

import type { LockingClause, SelectCore } from "./ast.ts";
import { SqlError } from "./errors.ts";
import type { PgValue } from "../../../lib/pg/values.ts";
import { engineKey, rowFromEngine, rowToEngine, type SqlTable } from "./catalog.ts";
import type { Transaction } from "../storage/engine.ts";

/** The clause's name in PostgreSQL's messages: "FOR UPDATE", "FOR KEY SHARE", ... */
export function lockingName(clause: LockingClause): string {
  return `FOR ${clause.strength.toUpperCase()}`;
}

/** Whether a strength takes the row's write (X) lock rather than its read (S) lock. */
export function exclusive(clause: LockingClause): boolean {
  return clause.strength === "update" || clause.strength === "no key update";
}

/**
 * Checks a query body can take row locks, as PostgreSQL's
 * CheckSelectLocking does (0A000 otherwise), and that every name after OF
 * is in its FROM (42P01).
 */
export function checkLocking(
  core: SelectCore,
  clauses: LockingClause[],
  aggregated: boolean,
  fromNames: readonly string[],
): void {
  const name = lockingName(clauses[0]);
  const refuse = (what: string) => {
    throw new SqlError("0A000", `${name} is not allowed with ${what}`);
  };
  if (core.distinct !== false) refuse("DISTINCT clause");
  if (core.groupBy.length > 0) refuse("GROUP BY clause");
  if (core.having !== null) refuse("HAVING clause");
  if (aggregated) refuse("aggregate functions");
  for (const clause of clauses) {
    for (const of of clause.of) {
      if (!fromNames.includes(of)) {
        throw new SqlError(
          "42P01",
          `relation "${of}" in ${lockingName(clause)} clause not found in FROM clause`,
        );
      }
    }
  }
}

/** The clause that applies to the FROM item named `alias`, or null (the strongest, if several). */
export function clauseFor(clauses: LockingClause[], alias: string): LockingClause | null {
  let found: LockingClause | null = null;
  for (const clause of clauses) {
    if (clause.of.length > 0 && !clause.of.includes(alias)) continue;
    if (found === null || (exclusive(clause) && !exclusive(found))) found = clause;
  }
  return found;
}

/** One table's rows locked as they are returned (see the file comment). */
export interface RowLocking {
  table: SqlTable;
  clause: LockingClause;
  /** Output columns; the table's columns follow them in each row. */
  width: number;
  /** The output for a changed version of the row, or null when the WHERE no longer holds. */
  recheck: (values: PgValue[]) => PgValue[] | null;
}

/**
 * Locks the row behind each row of `rows` (outputs, then the table's
 * values), reads it again, and yields the outputs of those kept, one row
 * per batch, so that a LIMIT above stops the locking where it stops.
 */
export async function* lockRows(
  tx: Transaction,
  rows: AsyncGenerator<PgValue[][]>,
  locking: RowLocking,
): AsyncGenerator<PgValue[][]> {
  const { table, clause, width } = locking;
  const mode = exclusive(clause) ? "X" : "S";
  const wait = clause.wait === "nowait"
    ? "nowait"
    : clause.wait === "skip locked"
    ? "skip"
    : "wait";
  for await (const batch of rows) {
    for (const row of batch) {
      const seen = row.slice(width);
      const key = engineKey(table, rowToEngine(table, seen, null));
      if (!await tx.lockRow(table.engineName, key, mode, wait)) {
        if (wait === "skip") continue;
        throw new SqlError("55P03", `could not obtain lock on row in relation "${table.name}"`);
      }
      const stored = await tx.get(table.engineName, key);
      if (stored === undefined) continue;
      const values = rowFromEngine(table, stored);
      const out = sameRow(values, seen) ? row.slice(0, width) : locking.recheck(values);
      if (out !== null) yield [out];
    }
  }
}

function sameRow(a: PgValue[], b: PgValue[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = b[i];
    if (x === y) continue;
    if (x instanceof Uint8Array && y instanceof Uint8Array) {
      if (x.length !== y.length || x.some((v, j) => v !== y[j])) return false;
      continue;
    }
    return false;
  }
  return true;
}
