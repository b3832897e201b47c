// Deferrable foreign keys (CREATE TABLE ... REFERENCES ... DEFERRABLE
// [INITIALLY DEFERRED | IMMEDIATE], SET CONSTRAINTS): Django declares every
// foreign key DEFERRABLE INITIALLY DEFERRED, so a transaction may insert a
// row before the row it references, as long as that row exists by COMMIT.
//
// A deferred constraint's check of a referencing row (its key must be in
// the referenced table) is queued on the transaction instead of run at the
// statement's end, and the queue runs before the commit: a key still
// missing then is 23503 at COMMIT, and the transaction is rolled back, as
// in PostgreSQL. SET CONSTRAINTS ... IMMEDIATE runs the queued checks of
// those constraints at once. ROLLBACK TO SAVEPOINT drops what was queued
// since the savepoint. The queue holds each distinct (constraint, key) once
// and at most DEFERRED_CHECKS_MAX of them (54000 past it).
//
// Both sides wait: a referencing row's key must be in the referenced table
// by COMMIT, unless no row holds that key any more (it was deleted or
// changed since, as PostgreSQL skips a check whose row is gone); a deleted
// or changed referenced key (NO ACTION) must be referenced by no row by
// COMMIT, unless the key is back.

import type { PgValue } from "../../../lib/pg/values.ts";
import type { Transaction } from "../storage/engine.ts";
import type { SqlForeignKey, SqlTable } from "./catalog.ts";
import { SqlError } from "./errors.ts";

/** Distinct deferred checks one transaction may queue. */
export const DEFERRED_CHECKS_MAX = 1_000_000;
/** Deferred checks run between turns of the event loop. */
const YIELD_EVERY = 256;

interface Check {
  /** The referencing side (a key that must exist) or the referenced (one that must be free). */
  side: "referencing" | "referenced";
  /** The table whose change queued it. */
  table: string;
  /** The referencing table (for the referenced side's message and check). */
  child: string;
  fk: SqlForeignKey;
  key: PgValue[];
  detail: string;
}

interface Deferred {
  checks: Map<string, Check>;
  /** SET CONSTRAINTS ALL: true deferred, false immediate, null as declared. */
  all: boolean | null;
  /** SET CONSTRAINTS name: by constraint name. */
  named: Map<string, boolean>;
}

const byTransaction = new WeakMap<Transaction, Deferred>();

function stateOf(tx: Transaction): Deferred {
  let state = byTransaction.get(tx);
  if (state === undefined) {
    state = { checks: new Map(), all: null, named: new Map() };
    byTransaction.set(tx, state);
  }
  return state;
}

/** Whether `fk`'s checks wait for the commit in `tx`. */
export function isDeferred(tx: Transaction, fk: SqlForeignKey): boolean {
  if (!fk.deferrable) return false;
  const state = byTransaction.get(tx);
  return state?.named.get(fk.name) ?? state?.all ?? fk.initiallyDeferred === true;
}

/** Queues the check that `key` of `table` is present where `fk` points. */
export function defer(
  tx: Transaction,
  table: string,
  fk: SqlForeignKey,
  key: PgValue[],
  detail: string,
): void {
  queue(tx, { side: "referencing", table, child: table, fk, key, detail });
}

/** Queues the check that no row of `child` references `key` of `table` through `fk`. */
export function deferReferenced(
  tx: Transaction,
  table: string,
  child: string,
  fk: SqlForeignKey,
  key: PgValue[],
  detail: string,
): void {
  queue(tx, { side: "referenced", table, child, fk, key, detail });
}

function queue(tx: Transaction, check: Check): void {
  const { side, table, fk, key } = check;
  const checks = stateOf(tx).checks;
  const id = `${side}\u0000${table}\u0000${fk.name}\u0000${JSON.stringify(key, jsonSafe)}`;
  if (checks.has(id)) return;
  if (checks.size >= DEFERRED_CHECKS_MAX) {
    throw new SqlError(
      "54000",
      `more than ${DEFERRED_CHECKS_MAX} deferred foreign key checks in one transaction`,
    );
  }
  checks.set(id, check);
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Uint8Array) return [...value];
  return value;
}

/** How many checks `tx` has queued (a savepoint remembers it). */
export function deferredCount(tx: Transaction): number {
  return byTransaction.get(tx)?.checks.size ?? 0;
}

/** Drops the checks queued after the first `count` (ROLLBACK TO SAVEPOINT). */
export function truncateDeferred(tx: Transaction, count: number): void {
  const checks = byTransaction.get(tx)?.checks;
  if (checks === undefined || checks.size <= count) return;
  let i = 0;
  for (const id of [...checks.keys()]) if (i++ >= count) checks.delete(id);
}

/**
 * SET CONSTRAINTS { ALL | names } { DEFERRED | IMMEDIATE } in `tx`: names
 * must be constraints of some table (42704 otherwise), deferrable foreign
 * keys (42809 for any other). Returns the constraint names made
 * immediate, whose queued checks the caller runs now.
 */
export function setConstraints(
  tx: Transaction,
  tables: Iterable<SqlTable>,
  names: string[] | null,
  deferred: boolean,
): ((fk: SqlForeignKey) => boolean) | null {
  const state = stateOf(tx);
  if (names === null) {
    state.all = deferred;
    state.named.clear();
    return deferred ? null : () => true;
  }
  const list = [...tables];
  const all = list.flatMap((t) => t.foreignKeys ?? []);
  const others = new Set(list.flatMap((t) => [
    ...t.indexes.filter((i) => i.unique).map((i) => i.name),
    ...(t.checks ?? []).map((c) => c.name),
  ]));
  for (const name of names) {
    const found = all.filter((fk) => fk.name === name);
    if (found.length === 0 && !others.has(name)) {
      throw new SqlError("42704", `constraint "${name}" does not exist`);
    }
    if (found.length === 0 || found.some((fk) => !fk.deferrable)) {
      throw new SqlError("42809", `constraint "${name}" is not deferrable`);
    }
    state.named.set(name, deferred);
  }
  return deferred ? null : (fk) => names.includes(fk.name);
}

/** How the queued checks look at the tables (constraints.ts). */
export interface DeferredLookups {
  /** Whether `fk`'s referenced table holds `key`. */
  referenced(fk: SqlForeignKey, key: PgValue[]): Promise<boolean>;
  /** Whether some row of `child` references `key` through `fk`. */
  referencing(child: string, fk: SqlForeignKey, key: PgValue[]): Promise<boolean>;
}

/**
 * Runs the queued checks (those `which` selects; all by default); the
 * first that fails is 23503 as at the statement's end. The checks run are
 * dropped from the queue.
 */
export async function runDeferred(
  tx: Transaction,
  lookups: DeferredLookups,
  which: (fk: SqlForeignKey) => boolean = () => true,
): Promise<void> {
  const checks = byTransaction.get(tx)?.checks;
  if (checks === undefined || checks.size === 0) return;
  let run = 0;
  for (const [id, check] of [...checks]) {
    if (!which(check.fk)) continue;
    checks.delete(id);
    // Up to a million checks: let other sessions run between batches of them.
    if (++run % YIELD_EVERY === 0) await new Promise((resolve) => setTimeout(resolve, 0));
    const { fk, key, child } = check;
    const referenced = await lookups.referenced(fk, key);
    if (check.side === "referencing") {
      if (referenced || !await lookups.referencing(child, fk, key)) continue;
      throw new SqlError(
        "23503",
        `insert or update on table "${check.table}" violates foreign key constraint "${fk.name}"`,
        { detail: check.detail, table: check.table, constraint: fk.name },
      );
    }
    if (referenced || !await lookups.referencing(child, fk, key)) continue;
    throw new SqlError(
      "23503",
      `update or delete on table "${check.table}" violates foreign key constraint "${fk.name}" on table "${child}"`,
      { detail: check.detail, table: child, constraint: fk.name },
    );
  }
}
