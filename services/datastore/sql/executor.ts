// The executor: plans a parsed statement against the SQL catalog and runs it
// in a storage engine transaction.
//
// Planning (`prepare`) is synchronous and needs no data: it resolves names,
// compiles every expression once (eval.ts), picks an access path, and knows
// the result's columns and the parameters' types before anything runs, which
// is what the extended protocol's Describe needs. Running (`Prepared.run`)
// pulls rows from the engine in batches of up to 256 and yields them in
// batches, so a large SELECT flows through in bounded memory; ORDER BY,
// GROUP BY, DISTINCT, set operations and the inner side of a join hold what
// they must.
//
// Access paths: the WHERE clause's top-level AND terms of the form
// `column op constant-or-parameter` choose, in order, the primary key (or a
// unique index) with every column equal (one B+tree descent: pgbench's
// SELECT by aid), the longest equal prefix of the key or of an index, a
// range on a key's or an index's first column, else a full scan. The whole
// WHERE is still checked on every row, so a path only narrows.
//
// Joins: equality ON/USING terms between the two sides make a hash join
// (the right side held in a map), anything else a nested loop over the
// right side held in memory. LEFT, RIGHT and FULL joins pad with NULLs.
//
// Subqueries in expressions (scalar, EXISTS, IN, ANY/ALL) run once, before
// the statement; a correlated one (reading the enclosing row) runs again for
// each row, before the expressions over that row are evaluated, because an
// expression's closure cannot await the engine. Aggregates: count, sum, avg,
// min, max, bool_and, bool_or, string_agg, jsonb_agg, with DISTINCT and FILTER;
// the rest, and ORDER BY inside any of them, are aggregates.ts's.
//
// Writes: UPDATE and DELETE change each row as their scan finds it when no
// change can move a row ahead of the scan, else find their rows first; what
// they set aside (moved rows, rows found, RETURNING) goes through a RowSpool,
// so memory stays bounded (dml_batches.ts, row_spool.ts). INSERT checks NOT NULL, fills DEFAULTs and
// SERIAL numbers, applies typmods (varchar(n), numeric(p,s)) as PostgreSQL's
// assignment casts do, and handles ON CONFLICT through the table's unique
// keys. A unique violation is 23505 with the constraint's SQL name.
//
// CHECK and FOREIGN KEY constraints are enforced by constraints.ts: a
// statement on a table that has or is referenced by one gets a
// ConstraintWork that checks rows as they change and applies the foreign
// keys at the statement's end.
//
// ALTER TABLE on columns and names lives in alter_columns.ts.
//
// Window functions: window.ts; SELECT ... FOR UPDATE: row_locks.ts;
// sequences: sequences.ts.
//
// Left out: correlated subqueries in HAVING and join conditions.

import type { Engine, Row, TableSpec, Transaction, Value } from "../storage/engine.ts";
import type { LockMode } from "../storage/locks.ts";
import { advisoryKey, AdvisoryLocks, type AdvisoryOwner } from "./advisory_locks.ts";
import { ConstraintError, DeadlockError, LockTimeoutError } from "../storage/engine.ts";
import { OID } from "../../../lib/pg/oids.ts";
import { formatText, parseText, type PgValue } from "../../../lib/pg/values.ts";
import { jsonOf, jsonValueText } from "./jsonb.ts";
import { enumOf, EnumTypes, TYPES_SPEC, typeStatement, useEnumTypes } from "./enums.ts";
import {
  checkIndexKeys,
  columnPaths,
  createExpressionIndex,
  expressionKey,
  indexColumnText,
  indexColumnType,
  indexKeyOfRow,
  indexKeyOfValues,
  indexName,
} from "./expression_indexes.ts";
import { arrayElementOf, arrayValue } from "./arrays.ts";
import { indexServes } from "./array_types.ts";
import {
  type AggregateSpec,
  arrayAgg,
  distinctByValue,
  jsonAgg,
  jsonObjectAgg,
  noSuchFunction,
  ORDERED_SET_AGGREGATES,
  orderedInput,
  orderedSetAgg,
  type SortKey,
  VARIANCE_AGGREGATES,
  varianceAgg,
} from "./aggregates.ts";
import { equalityKey, hashKeyOf, rowKey } from "./hash_keys.ts";
import { runDeferred, setConstraints } from "./deferred_constraints.ts";
import {
  addIntervals,
  formatInterval,
  type Interval,
  intervalFields,
  scaleInterval,
} from "../../../lib/pg/interval.ts";
import type {
  AlterAction,
  ColumnDef,
  CommonTableExpr,
  DeleteStatement,
  Expr,
  FromItem,
  FunctionCall,
  InsertStatement,
  LockingClause,
  OrderItem,
  QueryBody,
  SelectCore,
  SelectStatement,
  Statement,
  TableConstraint,
  TypeName,
  UpdateStatement,
  WindowSpec,
} from "./ast.ts";
import {
  CATALOG_SPEC,
  CATALOG_TABLE,
  columnIndex,
  decodeTable,
  encodeTable,
  engineColumnNames,
  engineKey,
  engineSpec,
  fromEngine,
  nextEngineNumber,
  rowFromEngine,
  rowToEngine,
  type SqlColumn,
  type SqlIndex,
  type SqlTable,
  toEngine,
} from "./catalog.ts";
import { CatalogBusyError, SqlError, type SqlNotice } from "./errors.ts";
import { batchesOf, openSpillPlace, RowSpool, type SpillPlace } from "./row_spool.ts";
import { changesInScan } from "./dml_batches.ts";
import {
  checkRow,
  type CheckTest,
  columnConstraints,
  compileChecks,
  type ConstraintHost,
  ConstraintWork,
  deferredLookups,
  duplicateKeyError,
  failingRow,
  hasConstraints,
  newCheck,
  newForeignKey,
  referencing,
  validateCheck,
  validateForeignKey,
} from "./constraints.ts";
import {
  castTo,
  coerce,
  commonType,
  comparator,
  compileComparison,
  type Compiled,
  compileExpr,
  type EvalContext,
  type SqlType,
  sqlTypeOf,
  toType,
  typeDisplayName,
} from "./eval.ts";
import { addDecimal, decimalFromBigInt, divideDecimal, fromDecimal, toDecimal } from "./numeric.ts";
import { IN_POSITIONS, parseStatement } from "./parser.ts";
import type { Savepoint } from "./savepoints.ts";
import { catalogExpr, type CatalogExprHost } from "./catalog_exprs.ts";
import { catalogRelation, type CatalogSource, defaultText, sequenceName } from "./pg_catalog.ts";
import { newView, requireTable, viewsReading } from "./views.ts";
import {
  createSequence,
  dropSequence,
  rememberSerial,
  SEQUENCE_DEFS_SPEC,
  sequenceArgument,
  sequenceFunction,
  Sequences,
  withSequenceWrites,
} from "./sequences.ts";
import {
  checkWindowArity,
  type CompiledWindow,
  computeWindows,
  resolveWindows,
  windowCalls,
  windowFunctionType,
} from "./window.ts";
import {
  recordText,
  regexpSplitToArray,
  SET_RETURNING,
  type SetColumn,
  setFunction,
  setFunctionColumnNames,
} from "./set_returning.ts";
import { checkLocking, clauseFor, exclusive, lockingName, lockRows } from "./row_locks.ts";
import { copyContext, type CopyFormat, copyFormat, type CopyRow } from "./copy.ts";
import { printExpr } from "./printer.ts";
import {
  addColumn,
  alterColumnType,
  type AlterHost,
  dropColumn,
  renameColumn,
  renameTable,
  setDefault,
  setNotNull,
} from "./alter_columns.ts";

/** Rows flow in batches of about this many. */
export const BATCH_ROWS = 256;

/** One column of a result, as RowDescription describes it. */
export interface ResultColumn {
  name: string;
  type: SqlType;
  tableOid: number;
  columnNumber: number;
  typeModifier: number;
}

/** What running a statement gives: rows (if it returns any) and its command tag. */
export interface Result {
  rows: AsyncGenerator<PgValue[][]> | null;
  /** The CommandComplete tag; call after `rows` is exhausted. */
  tag: () => string;
  /**
   * For SELECT: the tag for the rows one Execute sent. PostgreSQL counts the
   * rows of the last Execute of a portal run in pieces, not of the portal.
   */
  rowTag?: (rowsSent: number) => string;
  /** NOTICEs the statement raised (DROP ... CASCADE, IF EXISTS skipping), sent before its rows. */
  notices?: SqlNotice[];
}

/** Session facts the executor's functions read (version(), current_user, SHOW). */
export interface SessionInfo {
  user: string;
  database: string;
  /** Run-time settings by lower-case name. */
  settings: Map<string, string>;
  /** The session's open transaction, if any: it alone sees the tables it created. */
  transaction?: () => SqlTransaction | null;
  /** set_config(name, value, is_local): SET through a function; returns the value set. */
  setSetting?: (name: string, value: string, local: boolean) => string;
  /** The backend's process ID (pg_backend_pid; BackendKeyData's). */
  processId?: number;
  /** The session as an owner of advisory locks (none: the functions refuse). */
  advisoryOwner?: AdvisoryOwner;
  /** Whether a transaction block (BEGIN) is open: LOCK TABLE needs one. */
  inBlock?: () => boolean;
}

/** A transaction as the SQL layer sees it: the engine's, and catalog changes to undo. */
export class SqlTransaction {
  readonly tx: Transaction;
  /** Catalog entries as they were before this transaction changed them (undefined: absent). */
  readonly catalogUndo: [string, SqlTable | undefined, (() => void)?][] = [];
  /** Lets the event loop run (Database.yieldNow); none in tests that need no fairness. */
  readonly yieldNow?: () => Promise<void>;
  /** When the transaction started: now() for all of it, as in PostgreSQL. */
  readonly startMs: number = Date.now();
  /** The same instant in fractional milliseconds; as a bigint only if now() asks (most never do). */
  readonly #startExactMs: number = performance.timeOrigin + performance.now();
  #startMicros: bigint | undefined;
  /** The start in microseconds (now() has microseconds in PostgreSQL). */
  get startMicros(): bigint {
    return this.#startMicros ??= BigInt(Math.round(this.#startExactMs * 1000));
  }
  /** Savepoints set in this transaction block, oldest first (savepoints.ts). */
  readonly savepoints: Savepoint[] = [];
  constructor(tx: Transaction, yieldNow?: () => Promise<void>) {
    this.tx = tx;
    this.yieldNow = yieldNow;
  }
}

export interface RunContext {
  sqlTx: SqlTransaction;
  params: readonly PgValue[];
  /** Waits until every commit this transaction may have read is durable (see engine.ts). */
  durable: () => Promise<void>;
  /** Throws (57014) when the client asked to cancel; called between batches. */
  checkCancel?: () => void;
  /** Rows this statement holds in memory right now (see `holdRows`); made on first use. */
  rowsHeld?: { count: number };
  /** The bound on `rowsHeld`: ROWS_HELD_MAX unless a test sets a smaller one. */
  rowsHeldMax?: number;
}

/**
 * Rows one statement may hold in memory at once in its sorts, hash joins,
 * aggregates, DISTINCT and set operations. PostgreSQL spills such work to
 * disk past work_mem; we do not spill yet, so past this bound the statement
 * fails with 54000 instead of exhausting the process (and a sort this size
 * would also hold the event loop for seconds). A million narrow rows is a
 * few hundred MB of heap at most.
 */
export const ROWS_HELD_MAX = 1_000_000;

/** Counts `rows` more held in memory by the running statement; throws 54000 past the bound. */
function holdRows(ctx: RunContext, rows: number): void {
  const held = ctx.rowsHeld ??= { count: 0 };
  held.count += rows;
  const max = ctx.rowsHeldMax ?? ROWS_HELD_MAX;
  if (held.count > max) {
    throw new SqlError("54000", `statement needs more than ${max} rows in memory`, {
      hint: "Add a WHERE or LIMIT, or an index the ORDER BY or join can use: this server does " +
        "not spill sorts, hashes or aggregates to disk.",
    });
  }
}

/**
 * Runs a materializing operator's generator with a `hold(n)` that counts its
 * rows against the statement's bound, and gives them back when it finishes
 * or its consumer stops early (LIMIT, a correlated subquery run again).
 */
function holding(
  run: (ctx: RunContext, hold: (rows: number) => void) => AsyncGenerator<PgValue[][]>,
): (ctx: RunContext) => AsyncGenerator<PgValue[][]> {
  return async function* (ctx) {
    let held = 0;
    const hold = (rows: number) => {
      held += rows;
      holdRows(ctx, rows);
    };
    try {
      yield* run(ctx, hold);
    } finally {
      if (ctx.rowsHeld) ctx.rowsHeld.count -= held;
    }
  };
}

/** Row pairs a nested loop looks at between two yields to the event loop. */
const PAIRS_PER_YIELD = 65_536;

/** Batches read between two yields to the event loop (see `pause`). */
const BATCHES_PER_YIELD = 16;

/**
 * Every few batches a statement lets the event loop run, so a long scan or
 * join never stalls other sessions or the CancelRequest that would stop it;
 * then checks for that cancel.
 */
async function pause(
  ctx: RunContext,
  counter: { batches: number },
  every = BATCHES_PER_YIELD,
): Promise<void> {
  if (++counter.batches % every !== 0) return;
  await ctx.sqlTx.yieldNow?.();
  ctx.checkCancel?.();
}

export interface Prepared {
  statement: Statement;
  /** Result columns, or null when the statement returns no rows. */
  columns: ResultColumn[] | null;
  /** Parameter types, declared or inferred ("unknown" left as text). */
  paramTypes: SqlType[];
  run(ctx: RunContext): Promise<Result>;
  /** Set for a single-table point lookup with a plain projection (see `pointRead`). */
  point?: PointRead;
  /** Set for a single-row INSERT that can run without a promise (see `insertNow`). */
  insertNow?: InsertNow;
}

/**
 * Runs a single-row INSERT: the rows inserted when done synchronously, null
 * with nothing done when the caller must take `run` instead, or a promise
 * of the count when, its row computed, it had to wait.
 */
export type InsertNow = (
  sqlTx: SqlTransaction,
  params: readonly PgValue[],
) => number | null | Promise<number>;

/**
 * Runs a point lookup synchronously: its rows (none or one), or null when
 * the table's lock or the durability of what it read is not there yet and
 * the caller must take `run`, which waits for them.
 */
/**
 * A prepared point lookup run synchronously (`pointRead`); `alone` as the
 * engine's `getNow` takes it (the transaction's only statement, committed
 * before anything else runs).
 */
export type PointRead = (
  sqlTx: SqlTransaction,
  params: readonly PgValue[],
  alone?: boolean,
) => PgValue[][] | null;

export const SERVER_VERSION = "15.0";

/** Counter numbers reserved per write to `sql_sequences` (PostgreSQL's SEQ_LOG_VALS is 32). */
const SEQUENCE_RESERVE = 32n;
const SEQUENCES_TABLE = "sql_sequences";
/** The reservation of a counter that is not persisted (the hidden row number). */
const UNRESERVED = 1n << 62n;
const SEQUENCES_SPEC: TableSpec = {
  name: SEQUENCES_TABLE,
  columns: [
    { name: "name", type: "text", nullable: false },
    { name: "reserved", type: "int64", nullable: false },
  ],
  primaryKey: ["name"],
};
export const VERSION_STRING =
  `PostgreSQL ${SERVER_VERSION} (underhood datastore, TypeScript on Deno)`;

// The database: engine, catalog, counters --------------------------------------

/** The SQL layer over one engine: the catalog in memory and the SERIAL counters. */
export class Database {
  readonly engine: Engine;
  readonly tables = new Map<string, SqlTable>();
  /** CREATE SEQUENCE's sequences (sequences.ts). */
  sequences!: Sequences;
  /** Sessions' advisory locks (advisory_locks.ts). */
  readonly advisory = new AdvisoryLocks();
  /** CREATE TYPE ... AS ENUM's types (enums.ts). */
  enums!: EnumTypes;
  /** CREATE EXTENSION's names, for this process's life (see EXTENSIONS). */
  readonly extensions = new Set(["plpgsql"]);
  /** Bumped on every catalog change, so prepared statements know to plan again. */
  catalogVersion = 0;
  /** Per counter key: the highest reservation written, and the last write (see #reserve). */
  #reservedHigh = new Map<string, bigint>();
  #reserveTail = new Map<string, Promise<void>>();
  #counters = new Map<
    string,
    { next: bigint; reserved: bigint; reserving: Promise<void> | null }
  >();
  #channel: MessageChannel | null = null;
  #yieldWaiters: (() => void)[] = [];
  #nextEngine = 1;
  #nextOid = 16384;
  /** Tables created by transactions not yet ended, by name (see `visible`). */
  #createdBy = new Map<string, SqlTransaction>();
  /** Tables altered or dropped by transactions not yet ended, by name (see `table`). */
  #changedBy = new Map<string, SqlTransaction>();
  /** Where statements put the rows they set aside past a bound (row_spool.ts). */
  readonly spill: SpillPlace;

  private constructor(engine: Engine) {
    this.engine = engine;
    this.spill = openSpillPlace(engine.place.files, engine.place.dir);
  }

  /** Loads the catalog (creating its table on a new engine). */
  static async open(engine: Engine): Promise<Database> {
    const db = new Database(engine);
    const names = engine.tables().map((t) => t.name);
    for (const spec of [CATALOG_SPEC, SEQUENCES_SPEC, SEQUENCE_DEFS_SPEC, TYPES_SPEC]) {
      if (names.includes(spec.name)) continue;
      const tx = engine.begin();
      await tx.createTable(spec);
      await tx.commit();
    }
    const tx = engine.begin();
    for await (const batch of tx.scanBatches(CATALOG_TABLE, null)) {
      for (const row of batch) {
        const table = decodeTable(row[1] as string);
        db.tables.set(row[0] as string, table);
        db.#nextOid = Math.max(db.#nextOid, table.oid + 1);
      }
    }
    await tx.commit();
    db.sequences = await Sequences.load(engine);
    db.enums = await EnumTypes.load(engine);
    db.#nextOid = Math.max(db.#nextOid, db.enums.highestOid() + 1);
    const engineNames = engine.tables().flatMap((t) => [t.name, ...t.indexes.map((i) => i.name)]);
    db.#nextEngine = nextEngineNumber(engineNames);
    return db;
  }

  /**
   * Resolves on a later macrotask (a MessageChannel hop: no timer clamping),
   * letting other sessions' reads and writes run. The channel is made on
   * first use and closed by close().
   */
  yieldNow(): Promise<void> {
    if (this.#channel === null) {
      this.#channel = new MessageChannel();
      this.#channel.port1.onmessage = () => this.#yieldWaiters.shift()?.();
    }
    const channel = this.#channel;
    return new Promise<void>((resolve) => {
      this.#yieldWaiters.push(resolve);
      channel.port2.postMessage(null);
    });
  }

  /**
   * Records each counter's exact position, so a clean restart continues
   * where it stopped (as PostgreSQL does), and releases the event-loop
   * channel. The engine is closed by its owner, after this.
   */
  async close(): Promise<void> {
    for (const [key, counter] of this.#counters) {
      if (counter.reserving !== null) await counter.reserving.catch(() => {});
      if (counter.reserved === UNRESERVED || counter.reserved < counter.next) continue;
      await this.#reserve(key, counter.next - 1n).catch(() => {});
    }
    this.#channel?.port1.close();
    this.#channel?.port2.close();
    this.#channel = null;
    for (const resolve of this.#yieldWaiters.splice(0)) resolve();
  }

  table(name: string[], session?: SessionInfo): SqlTable {
    const bare = tableName(name);
    if (session) this.#checkUnchanged(bare, session);
    const table = this.tables.get(bare);
    if (!table || (session && !this.visible(bare, session))) {
      throw new SqlError("42P01", `relation "${name.join(".")}" does not exist`);
    }
    return table;
  }

  /**
   * Whether a session sees a table: a table created by a transaction that
   * is still open is seen by that transaction only, as PostgreSQL's
   * catalog rows are (other sessions get 42P01 until it commits).
   */
  visible(name: string, session: SessionInfo): boolean {
    const owner = this.#createdBy.get(name);
    if (owner === undefined) return true;
    if (owner.tx.state !== "open") {
      this.#createdBy.delete(name);
      return true;
    }
    return owner === session.transaction?.();
  }

  /**
   * Throws CatalogBusyError when another session's open transaction has
   * altered or dropped the table: PostgreSQL's DDL holds an exclusive lock
   * until its transaction ends, so no one else sees the change uncommitted.
   */
  #checkUnchanged(name: string, session: SessionInfo): void {
    const owner = this.#changedBy.get(name);
    if (owner === undefined) return;
    if (owner.tx.state !== "open") {
      this.#changedBy.delete(name);
      return;
    }
    if (owner !== session.transaction?.()) throw new CatalogBusyError(name);
  }

  /** The tables a session sees (see `visible`). */
  visibleTables(session: SessionInfo): SqlTable[] {
    return [...this.tables.values()].filter((t) => this.visible(t.name, session));
  }

  engineName(prefix: "t" | "i"): string {
    return `${prefix}${this.#nextEngine++}`;
  }

  newOid(): number {
    return this.#nextOid++;
  }

  /** Records a catalog change in the transaction (undone on rollback) and stores it. */
  async putTable(sqlTx: SqlTransaction, name: string, table: SqlTable | undefined): Promise<void> {
    const old = this.tables.get(name);
    this.catalogVersion++;
    sqlTx.catalogUndo.push([name, old]);
    if (old === undefined && table) this.#createdBy.set(name, sqlTx);
    if (old !== undefined && !this.#createdBy.has(name)) this.#changedBy.set(name, sqlTx);
    if (old) await sqlTx.tx.delete(CATALOG_TABLE, [name]);
    if (table) {
      await sqlTx.tx.insert(CATALOG_TABLE, [name, encodeTable(table)]);
      this.tables.set(name, table);
    } else {
      this.tables.delete(name);
    }
  }

  /**
   * Puts the in-memory catalog back after a rollback (of everything, or of
   * the changes after the first `keep`, for ROLLBACK TO SAVEPOINT).
   */
  undoCatalog(sqlTx: SqlTransaction, keep = 0): void {
    if (sqlTx.catalogUndo.length > keep) this.catalogVersion++;
    for (let i = sqlTx.catalogUndo.length - 1; i >= keep; i--) {
      const [name, table, undo] = sqlTx.catalogUndo[i];
      if (undo !== undefined) {
        undo(); // an enum type's change (enums.ts)
        continue;
      }
      if (table) this.tables.set(name, table);
      else this.tables.delete(name);
    }
    sqlTx.catalogUndo.length = keep;
  }

  /**
   * The next number of a table's counter (SERIAL column, or "" for the row
   * number). Counters are kept in memory and persisted ahead of use, as
   * PostgreSQL logs its sequences (SEQ_LOG_VALS): once the numbers reserved
   * in `sql_sequences` run out, the next SEQUENCE_RESERVE are reserved in a
   * transaction of their own, committed before any of them is given out. So
   * a number is never given twice, even after a crash or after the rows
   * holding the largest ones were deleted; at most SEQUENCE_RESERVE are
   * skipped by a restart. Counters belong to the table's OID: TRUNCATE keeps
   * them (unless RESTART IDENTITY), DROP TABLE and CREATE TABLE start anew.
   */
  async nextval(sqlTx: SqlTransaction, table: SqlTable, column: string): Promise<bigint> {
    const key = `${table.oid}.${column}`;
    for (;;) {
      const counter = this.#counters.get(key) ?? await this.startCounter(sqlTx, table, column);
      if (counter.next <= counter.reserved) return counter.next++;
      if (counter.reserving === null) {
        const c = counter;
        const upTo = c.next + SEQUENCE_RESERVE - 1n;
        c.reserving = this.#reserve(key, upTo, true).then(
          () => {
            if (upTo > c.reserved) c.reserved = upTo;
            c.reserving = null;
          },
          (error) => {
            c.reserving = null;
            throw error;
          },
        );
      }
      await counter.reserving;
    }
  }

  /**
   * A table's counter, started when it is not yet: past the larger of the
   * reservation stored and the largest number in the table. The hidden row
   * number is never seen, so reusing one after a crash or a delete does no
   * harm: it starts past the largest stored and is not reserved.
   */
  async startCounter(
    sqlTx: SqlTransaction,
    table: SqlTable,
    column: string,
  ): Promise<{ next: bigint; reserved: bigint; reserving: Promise<void> | null }> {
    const key = `${table.oid}.${column}`;
    const running = this.#counters.get(key);
    if (running !== undefined) return running;
    const hidden = column === "";
    const stored = hidden ? 0n : await this.#storedReservation(key);
    const largest = await this.#largest(sqlTx, table, column);
    let counter = this.#counters.get(key); // another caller may have started it meanwhile
    if (counter === undefined) {
      const start = (stored > largest ? stored : largest) + 1n;
      counter = { next: start, reserved: hidden ? UNRESERVED : start - 1n, reserving: null };
      this.#counters.set(key, counter);
    }
    return counter;
  }

  /** The SERIAL or identity column whose own sequence is named `name` (`t_id_seq`), or null. */
  serialSequence(name: string): { table: SqlTable; column: string } | null {
    for (const table of this.tables.values()) {
      if (table.view) continue;
      for (const column of table.columns) {
        if (column.serial && sequenceName(table, column) === name) {
          return { table, column: column.name };
        }
      }
    }
    return null;
  }

  /**
   * nextval('t_id_seq') inside an expression, which cannot await (the
   * counter was started before the statement ran, see `startCounter`): a
   * reserved number when one is left; else the next SEQUENCE_RESERVE are
   * reserved in memory at once and their reservation written, and the
   * returned write must be durable before the statement answers (the
   * sequences' `settled`, as their own log-ahead writes). Reservations
   * only ever move up, so writes landing out of order lose nothing.
   */
  drawNow(table: SqlTable, column: string): { value: bigint; write: Promise<void> | null } {
    const key = `${table.oid}.${column}`;
    const counter = this.#counters.get(key);
    if (counter === undefined) {
      throw new SqlError("55000", `sequence of "${table.name}.${column}" is not ready`);
    }
    if (counter.next <= counter.reserved) return { value: counter.next++, write: null };
    const upTo = counter.next + SEQUENCE_RESERVE - 1n;
    counter.reserved = upTo;
    return { value: counter.next++, write: this.#reserve(key, upTo, true) };
  }

  /**
   * setval on a SERIAL column's sequence: the next number drawn is `value`
   * + 1 (or `value` when not `called`); the reservation is written up to it
   * at once (it only moves up: going back skips numbers after a crash,
   * never repeats them).
   */
  setCounter(table: SqlTable, column: string, value: bigint, called: boolean): Promise<void> {
    const key = `${table.oid}.${column}`;
    const next = called ? value + 1n : value;
    const counter = this.#counters.get(key);
    if (counter === undefined) {
      throw new SqlError("55000", `sequence of "${table.name}.${column}" is not ready`);
    }
    counter.next = next;
    counter.reserved = next - 1n;
    return this.#reserve(key, next - 1n, true);
  }

  /**
   * Whether every counter an INSERT into `table` draws from is started:
   * starting one scans the table (`#largest`), a read lock that a
   * transaction already writing the table would have to upgrade.
   */
  /**
   * `nextval` when it needs no wait: the counter is started and has a
   * reserved number left (always, for the hidden row number once started);
   * null, drawing nothing, otherwise.
   */
  nextvalNow(table: SqlTable, column: string): bigint | null {
    const counter = this.#counters.get(`${table.oid}.${column}`);
    if (counter === undefined || counter.next > counter.reserved) return null;
    return counter.next++;
  }

  /** Whether `nextvalNow` would give a number for each of `columns` now. */
  numbersReadyNow(table: SqlTable, columns: readonly string[]): boolean {
    for (const column of columns) {
      const counter = this.#counters.get(`${table.oid}.${column}`);
      if (counter === undefined || counter.next > counter.reserved) return false;
    }
    return true;
  }

  countersReady(table: SqlTable): boolean {
    if (table.rowid && !this.#counters.has(`${table.oid}.`)) return false;
    for (const column of table.columns) {
      if (column.serial && !this.#counters.has(`${table.oid}.${column.name}`)) return false;
    }
    return true;
  }

  /**
   * A serial column renamed: its counter moves to the new name, reserved as
   * far as the old one was (so no number is given twice). A rollback of the
   * rename leaves both reserved: numbers are skipped, never repeated.
   */
  async renameCounter(table: SqlTable, from: string, to: string): Promise<void> {
    const oldKey = `${table.oid}.${from}`;
    const newKey = `${table.oid}.${to}`;
    const counter = this.#counters.get(oldKey);
    if (counter?.reserving) await counter.reserving.catch(() => {});
    const stored = await this.#storedReservation(oldKey);
    const upTo = counter && counter.reserved !== UNRESERVED && counter.reserved > stored
      ? counter.reserved
      : stored;
    await this.#reserve(newKey, upTo);
    if (counter) this.#counters.set(newKey, { ...counter, reserving: null });
    this.#counters.delete(oldKey);
  }

  /** Restarts a table's counters (TRUNCATE ... RESTART IDENTITY). */
  async resetCounters(table: SqlTable): Promise<void> {
    for (const column of table.columns.filter((c) => c.serial).map((c) => c.name)) {
      const key = `${table.oid}.${column}`;
      this.#counters.set(key, { next: 1n, reserved: 0n, reserving: null });
      await this.#reserve(key, 0n);
    }
  }

  async #storedReservation(key: string): Promise<bigint> {
    const tx = this.engine.begin();
    try {
      const row = await tx.get(SEQUENCES_TABLE, [key]);
      return row ? row[1] as bigint : 0n;
    } finally {
      await tx.commit();
    }
  }

  /**
   * Stores a counter's reservation, in a transaction of its own, after the
   * key's earlier writes (so they land in order); with `onlyUp`, never below
   * the highest this process reserved for the key (a counter starts above
   * the stored one, so that covers it too).
   */
  #reserve(key: string, upTo: bigint, onlyUp = false): Promise<void> {
    let value = upTo;
    if (onlyUp) {
      const high = this.#reservedHigh.get(key);
      if (high !== undefined && high > value) value = high;
    }
    this.#reservedHigh.set(key, value);
    const before = this.#reserveTail.get(key) ?? Promise.resolve();
    const write = before.catch(() => {}).then(() => this.#writeReservation(key, value));
    this.#reserveTail.set(key, write);
    const clear = () => {
      if (this.#reserveTail.get(key) === write) this.#reserveTail.delete(key);
    };
    write.then(clear, clear);
    return write;
  }

  async #writeReservation(key: string, upTo: bigint): Promise<void> {
    const tx = this.engine.begin();
    try {
      if (!await tx.update(SEQUENCES_TABLE, [key], [key, upTo])) {
        await tx.insert(SEQUENCES_TABLE, [key, upTo]);
      }
    } catch (error) {
      if (tx.state === "open") await tx.rollback();
      throw error;
    }
    await tx.commit();
  }

  async #largest(sqlTx: SqlTransaction, table: SqlTable, column: string): Promise<bigint> {
    const tx = sqlTx.tx;
    if (column === "") {
      for await (
        const batch of tx.scanBatches(table.engineName, null, { reverse: true, limit: 1 })
      ) {
        return batch[0][0] as bigint;
      }
      return 0n;
    }
    const at = columnIndex(table, column);
    let largest = 0n;
    for await (const batch of tx.scanBatches(table.engineName, null)) {
      for (const row of batch) {
        const value = row[at];
        if (typeof value === "bigint" && value > largest) largest = value;
      }
    }
    return largest;
  }
}

/** The bare table name of a possibly qualified one ("public" is the only schema). */
function tableName(name: string[]): string {
  if (name.length === 1) return name[0];
  if (name.length === 2 && name[0] === "public") return name[1];
  if (name.length === 3 && name[1] === "public") return name[2];
  throw new SqlError("42P01", `relation "${name.join(".")}" does not exist`);
}

// Scopes ---------------------------------------------------------------------

interface ScopeColumn {
  /** The table name or alias it comes from, or null. */
  table: string | null;
  name: string;
  type: SqlType;
  tableOid: number;
  columnNumber: number;
  typeModifier: number;
  /**
   * The alias of a one-column function in FROM whose column is named
   * otherwise (jsonb_array_elements' `value`): the alias alone is its
   * whole-row reference, which for one column is that column's value.
   */
  wholeRow?: string;
}

/** A column path `${SCOPE_INDEX}i` is scope column i: how `*` names a column whose name repeats. */
const SCOPE_INDEX = "\0";

function resolveIn(
  scope: readonly ScopeColumn[],
  path: string[],
): { index: number; type: SqlType } | null {
  const name = path[path.length - 1];
  if (path.length === 1 && name.startsWith(SCOPE_INDEX)) {
    const i = Number(name.slice(SCOPE_INDEX.length));
    return scope[i] === undefined ? null : { index: i, type: scope[i].type };
  }
  const table = path.length >= 2 ? path[path.length - 2] : null;
  let found = -1;
  for (let i = 0; i < scope.length; i++) {
    const c = scope[i];
    if (c.name !== name || (table !== null && c.table !== table)) continue;
    if (found >= 0) throw new SqlError("42702", `column reference "${name}" is ambiguous`);
    found = i;
  }
  if (found < 0 && table === null) found = scope.findIndex((c) => c.wholeRow === name);
  return found < 0 ? null : { index: found, type: scope[found].type };
}

function typeModifierOf(type: TypeName): number {
  const [first, second] = type.modifiers;
  if (first === undefined) return -1;
  if (type.name === "numeric") return ((first << 16) | (second ?? 0)) + 4;
  if (type.name === "varchar" || type.name === "bpchar") return first + 4;
  if (type.name === "time") return first;
  return -1;
}

// Planning context -----------------------------------------------------------

interface Subquery {
  plan: RowPlan;
  /** Filled before the statement runs, or before each outer row when correlated. */
  rows: PgValue[][];
  /** Set when the subquery reads columns of an outer query's row. */
  outer?: OuterFrame;
  /**
   * The execution whose `rows` these are (uncorrelated ones run once per
   * execution). A plan outlives one execution (prepared statements, the
   * statement cache), so the rows of an earlier one are stale.
   */
  ranIn?: RunContext;
}

/** An enclosing query's row, as a correlated subquery sees it. */
/** Runs a data-modifying CTE once per execution (see Planner.#cte). */
type CteWriter = (ctx: RunContext) => Promise<void>;

interface OuterFrame {
  scope: readonly ScopeColumn[];
  row: PgValue[];
  used: boolean;
}

/** State shared while planning one statement. */
class Planner {
  readonly db: Database;
  readonly session: SessionInfo;
  readonly paramTypes: SqlType[];
  readonly inferred: SqlType[];
  readonly subqueries: Subquery[] = [];
  /** Subqueries that run again for each row of an outer query. */
  readonly correlated: Subquery[] = [];
  /** The rows of the queries enclosing the subquery being planned, innermost last. */
  readonly outer: OuterFrame[] = [];
  readonly ctes = new Map<string, RowPlan>();
  /** How each table is read, in planning order (tests read it). */
  readonly scans: string[] = [];
  /**
   * EXPLAIN's plan trees: a scan pushes its node, a join replaces the two
   * newest (its sides, planned left then right) with its own.
   */
  readonly explainRoots: ExplainNode[] = [];
  /** Set when the statement calls nextval or setval: it waits for their log writes. */
  usesSequences = false;
  /** Work before the statement runs (starting a SERIAL counter nextval names). */
  readonly preludes: ((ctx: RunContext) => Promise<void>)[] = [];
  /** True until the statement's outermost query starts planning: data-modifying CTEs go there only. */
  #topLevel = true;
  /** A SELECT's locking clauses, until its query body's #core takes them (row_locks.ts). */
  #pendingLock: LockingClause[] | null = null;
  /** While a locking #core plans its FROM: the clauses, and the alias locked row by row. */
  #fromLock: { clauses: LockingClause[]; rowAlias: string | null } | null = null;

  constructor(db: Database, session: SessionInfo, paramTypes: SqlType[]) {
    this.db = db;
    this.session = session;
    this.paramTypes = paramTypes;
    this.inferred = [];
  }

  /** Compiles an expression over a scope, with the executor's functions and subqueries. */
  compile(
    expr: Expr,
    scope: readonly ScopeColumn[],
    extra?: (e: Expr) => Compiled | null,
  ): Compiled {
    return compileExpr(expr, {
      resolveColumn: (path) => resolveIn(scope, path),
      paramTypes: this.paramTypes,
      inferredParamTypes: this.inferred,
      extension: (e) => extra?.(e) ?? this.#extension(e, scope, extra),
    });
  }

  #extension(
    expr: Expr,
    scope: readonly ScopeColumn[],
    extra?: (e: Expr) => Compiled | null,
    /** How a grouped query compiles the parts (its group and aggregate columns), if this is one. */
    compileIn?: (e: Expr) => Compiled,
  ): Compiled | null {
    switch (expr.kind) {
      case "cast":
      case "array":
      case "array_subquery":
      case "quantified_array":
      case "subscript":
        return catalogExpr(expr, this.#catalogHost(scope, extra, compileIn));
      case "column": {
        if (resolveIn(scope, expr.path) !== null) return null;
        for (let i = this.outer.length - 1; i >= 0; i--) {
          const frame = this.outer[i];
          const found = resolveIn(frame.scope, expr.path);
          if (found === null) continue;
          frame.used = true;
          const index = found.index;
          return { type: found.type, evaluate: () => frame.row[index] };
        }
        return null;
      }
      case "function":
        if (AGGREGATES.has(functionName(expr))) {
          throw new SqlError("42803", "aggregate functions are not allowed here");
        }
        if (SET_RETURNING.has(functionName(expr))) {
          throw new SqlError("0A000", "set-returning functions are not allowed here");
        }
        if (ROW_JSON_FUNCTIONS.has(functionName(expr)) && expr.args.length === 1) {
          const row = this.#wholeRow(expr.args[0], scope);
          // row_to_json and to_json give the row's json text; to_jsonb normalizes it.
          if (row !== null && functionName(expr) !== "to_jsonb") return row;
          if (row !== null) {
            return {
              type: "jsonb",
              evaluate: (ctx) => parseText(OID.jsonb, row.evaluate(ctx) as string),
            };
          }
        }
        return catalogExpr(expr, this.#catalogHost(scope, extra, compileIn)) ??
          this.#sessionFunction(expr, scope, extra);
      case "sql_function":
        if (
          expr.name === "current_user" || expr.name === "session_user" || expr.name === "user" ||
          expr.name === "current_role"
        ) {
          const user = this.session.user;
          return { type: "text", evaluate: () => user };
        }
        if (expr.name === "current_schema") return { type: "text", evaluate: () => "public" };
        if (expr.name === "current_catalog") {
          const database = this.session.database;
          return { type: "text", evaluate: () => database };
        }
        return null;
      case "subquery": {
        const sub = this.subquery(expr.query, scope);
        if (sub.plan.columns.length !== 1) {
          throw new SqlError("42601", "subquery must return only one column");
        }
        return {
          type: sub.plan.columns[0].type,
          evaluate: () => {
            if (sub.rows.length > 1) {
              throw new SqlError(
                "21000",
                "more than one row returned by a subquery used as an expression",
              );
            }
            return sub.rows.length === 0 ? null : sub.rows[0][0];
          },
        };
      }
      case "exists": {
        const sub = this.subquery(expr.query, scope);
        return { type: "bool", evaluate: () => sub.rows.length > 0 };
      }
      case "in_subquery":
      case "quantified": {
        const sub = this.subquery(expr.query, scope);
        // (a, b) IN (SELECT x, y ...): a row compared with each row of the subquery.
        const items = expr.operand.kind === "row" ? expr.operand.items : null;
        const width = items?.length ?? 1;
        if (sub.plan.columns.length !== width) {
          throw new SqlError(
            "42601",
            `subquery has too ${sub.plan.columns.length > width ? "many" : "few"} columns`,
            { position: IN_POSITIONS.get(expr) },
          );
        }
        const op = expr.kind === "in_subquery" ? "=" : expr.op;
        const all = expr.kind === "quantified" && expr.quantifier === "all";
        const not = expr.kind === "in_subquery" && expr.not;
        const slot: PgValue[] = new Array(width).fill(null);
        const elementAt = (i: number): Compiled => ({
          type: sub.plan.columns[i].type,
          evaluate: () => slot[i],
        });
        let test: (ctx: EvalContext) => PgValue;
        if (items === null) {
          test = compileComparison(op, this.compile(expr.operand, scope, extra), elementAt(0))
            .evaluate;
        } else {
          if (op !== "=" && op !== "<>") {
            throw new SqlError(
              "0A000",
              `row comparison with ${op} and a subquery is not supported`,
            );
          }
          // Rows are equal when every pair is (NULL when none differs but some are NULL);
          // unequal when some pair is.
          const tests = items.map((item, i) =>
            compileComparison(op, this.compile(item, scope, extra), elementAt(i)).evaluate
          );
          const decisive = op === "<>";
          test = (ctx) => {
            let sawNull = false;
            for (const t of tests) {
              const r = t(ctx);
              if (r === null) sawNull = true;
              else if (r === decisive) return decisive;
            }
            return sawNull ? null : !decisive;
          };
        }
        return {
          type: "bool",
          evaluate: (ctx) => {
            let sawNull = false;
            for (const row of sub.rows) {
              for (let i = 0; i < width; i++) slot[i] = row[i];
              const r = test(ctx);
              if (r === null) sawNull = true;
              else if (r !== all) {
                const answer = !all;
                return not ? !answer : answer;
              }
            }
            if (sawNull) return null;
            return not ? !all : all;
          },
        };
      }
      case "star":
        throw new SqlError("42601", "a * is not allowed here");
      default:
        return null;
    }
  }

  /** What catalog expressions (catalog_exprs.ts) need from this planner. */
  #catalogHost(
    scope: readonly ScopeColumn[],
    extra?: (e: Expr) => Compiled | null,
    compileIn?: (e: Expr) => Compiled,
  ): CatalogExprHost {
    return {
      compile: compileIn ?? ((e) => this.compile(e, scope, extra)),
      subquery: (query) => {
        const sub = this.subquery(query, scope);
        return {
          get rows() {
            return sub.rows;
          },
          types: sub.plan.columns.map((c) => c.type),
        };
      },
      source: () => this.catalogSource(),
    };
  }

  /** The catalog as this session sees it, for pg_catalog relations and functions. */
  catalogSource(): CatalogSource {
    return {
      tables: this.db.visibleTables(this.session),
      enums: [...this.db.enums.byName.values()],
      user: this.session.user,
      database: this.session.database,
    };
  }

  /**
   * Plans a subquery of an expression over `scope`. One that reads the
   * enclosing row runs again for each of its rows (see `needs`); any other
   * runs once, before the statement.
   */
  subquery(query: SelectStatement, scope: readonly ScopeColumn[] = []): Subquery {
    const frame: OuterFrame = { scope, row: [], used: false };
    this.outer.push(frame);
    let plan: RowPlan;
    try {
      plan = this.select(query);
    } finally {
      this.outer.pop();
    }
    const sub: Subquery = { plan, rows: [] };
    if (frame.used) {
      sub.outer = frame;
      this.correlated.push(sub);
    } else this.subqueries.push(sub);
    return sub;
  }

  /** The correlated subqueries planned since `mark` whose enclosing row is a row of `scope`. */
  needs(mark: number, scope: readonly ScopeColumn[]): Subquery[] {
    return this.correlated.slice(mark).filter((sub) => sub.outer!.scope === scope);
  }

  /**
   * The advisory lock functions (advisory_locks.ts). pg_advisory_lock may
   * wait, and an expression cannot: it runs as an uncorrelated subquery
   * does, before the statement's rows, and the call reads its result. Its
   * key may not depend on a row (0A000); the others run where they stand.
   */
  #advisoryFunction(
    name: string,
    expr: FunctionCall,
    scope: readonly ScopeColumn[],
    extra?: (e: Expr) => Compiled | null,
  ): Compiled | null {
    const owner = this.session.advisoryOwner;
    const locks = this.db.advisory;
    if (name === "pg_advisory_unlock_all") {
      if (expr.args.length !== 0) return null;
      return {
        type: "text", // PostgreSQL says void; its text is the same empty string
        evaluate: () => {
          if (owner) locks.unlockAll(owner);
          return "";
        },
      };
    }
    if (expr.args.length !== 1 && expr.args.length !== 2) return null;
    const keyTypes = expr.args.length === 1 ? ["int8"] : ["int4", "int4"];
    const compileKey = (s: readonly ScopeColumn[]) =>
      expr.args.map((a, i) => coerce(this.compile(a, s, extra), keyTypes[i] as SqlType));
    const keyOf = (keys: Compiled[], e: EvalContext): string | null => {
      const values = keys.map((k) => k.evaluate(e));
      if (values.some((v) => v === null)) return null;
      return advisoryKey(values as (number | bigint)[]);
    };
    const need = (): AdvisoryOwner => {
      if (owner === undefined) throw new SqlError("0A000", `${name} is not available here`);
      return owner;
    };
    // The _xact_ forms are released when the transaction ends (its commit or rollback).
    const xact = name.includes("_xact_");
    const session = this.session;
    const releaseAtEnd = (key: string, holder: AdvisoryOwner) => {
      const tx = session.transaction?.();
      if (!tx) throw new SqlError("0A000", `${name} is not available here`);
      tx.tx.onFinish(() => locks.unlock(key, holder));
    };
    if (name !== "pg_advisory_lock" && name !== "pg_advisory_xact_lock") {
      const keys = compileKey(scope);
      return {
        type: "bool",
        evaluate: (e) => {
          const key = keyOf(keys, e);
          if (key === null) return null;
          if (name === "pg_advisory_unlock") return locks.unlock(key, need());
          const taken = locks.tryLock(key, need());
          if (taken && xact) releaseAtEnd(key, need());
          return taken;
        },
      };
    }
    let keys: Compiled[];
    try {
      keys = compileKey([]);
    } catch (error) {
      if (error instanceof SqlError && error.code === "42703") {
        throw new SqlError("0A000", "pg_advisory_lock with a key read from a row is not supported");
      }
      throw error;
    }
    const sub: Subquery = {
      rows: [],
      plan: {
        columns: [],
        async *run(ctx) {
          const key = keyOf(keys, evalContext(ctx, []));
          if (key !== null) {
            await locks.lock(key, need(), () => ctx.checkCancel?.());
            if (xact) releaseAtEnd(key, need());
          }
          yield [[key === null ? null : ""]];
        },
      },
    };
    this.subqueries.push(sub);
    return { type: "text", evaluate: () => sub.rows[0]?.[0] ?? null }; // void, as text
  }

  /**
   * pg_sleep(seconds): waits before the statement's rows (as pg_advisory_lock
   * does, an uncorrelated subquery), a slice of at most SLEEP_SLICE_MS at a
   * time so that a cancel or statement_timeout ends it (57014); returns void
   * (as text, the empty string). Its argument may not read a row (0A000).
   */
  #sleepFunction(expr: FunctionCall): Compiled {
    let seconds: Compiled;
    try {
      seconds = coerce(this.compile(expr.args[0], []), "float8");
    } catch (error) {
      if (error instanceof SqlError && error.code === "42703") {
        throw new SqlError("0A000", "pg_sleep with a duration read from a row is not supported");
      }
      throw error;
    }
    const sub: Subquery = {
      rows: [],
      plan: {
        columns: [],
        async *run(ctx) {
          const value = seconds.evaluate(evalContext(ctx, []));
          if (value !== null) {
            const end = performance.now() + Math.max(0, Number(value)) * 1000;
            for (let left = end - performance.now(); left > 0; left = end - performance.now()) {
              await new Promise((resolve) => setTimeout(resolve, Math.min(left, SLEEP_SLICE_MS)));
              ctx.checkCancel?.();
            }
          }
          yield [[value === null ? null : ""]];
        },
      },
    };
    this.subqueries.push(sub);
    return { type: "text", evaluate: () => sub.rows[0]?.[0] ?? null };
  }

  #sessionFunction(
    expr: FunctionCall,
    scope: readonly ScopeColumn[],
    extra?: (e: Expr) => Compiled | null,
  ): Compiled | null {
    const name = functionName(expr);
    const text = (value: string): Compiled => ({ type: "text", evaluate: () => value });
    switch (name) {
      case "version":
        return text(VERSION_STRING);
      case "current_database":
        return text(this.session.database);
      case "current_schema":
        return text("public");
      case "current_schemas": {
        // The search path's schemas that exist, pg_catalog first when asked for (name[], as text).
        if (expr.args.length !== 1) return null;
        const implicit = coerce(this.compile(expr.args[0], scope, extra), "bool");
        return arrayValue({
          type: "text",
          evaluate: (ctx) => {
            const include = implicit.evaluate(ctx);
            return include === null ? null : include ? "{pg_catalog,public}" : "{public}";
          },
        });
      }
      case "current_setting": {
        const arg = this.compile(expr.args[0], scope, extra);
        const settings = this.session.settings;
        return {
          type: "text",
          evaluate: (ctx) => {
            const key = String(coerce(arg, "text").evaluate(ctx)).toLowerCase();
            const value = settings.get(key);
            if (value === undefined) {
              throw new SqlError("42704", `unrecognized configuration parameter "${key}"`);
            }
            return value;
          },
        };
      }
      case "set_config": {
        if (expr.args.length !== 3) return null;
        const [name, value, local] = expr.args.map((a) => this.compile(a, scope, extra));
        const session = this.session;
        return {
          type: "text",
          evaluate: (ctx) => {
            const key = coerce(name, "text").evaluate(ctx);
            const text = coerce(value, "text").evaluate(ctx);
            if (key === null) {
              throw new SqlError("22004", "SET requires parameter name");
            }
            const isLocal = coerce(local, "bool").evaluate(ctx) === true;
            const set = session.setSetting;
            if (!set) throw new SqlError("0A000", "set_config is not available here");
            return set(String(key).toLowerCase(), text === null ? "" : String(text), isLocal);
          },
        };
      }
      case "pg_advisory_lock":
      case "pg_try_advisory_lock":
      case "pg_advisory_xact_lock":
      case "pg_try_advisory_xact_lock":
      case "pg_advisory_unlock":
      case "pg_advisory_unlock_all":
        return this.#advisoryFunction(name, expr, scope, extra);
      case "pg_backend_pid": {
        const pid = this.session.processId ?? 0;
        return { type: "int4", evaluate: () => pid };
      }
      case "pg_sleep":
        return expr.args.length === 1 ? this.#sleepFunction(expr) : null;
      case "txid_current":
      case "pg_current_xact_id": {
        // The engine's transaction number: the same all through a block, and
        // increasing across restarts (the log keeps the largest).
        // Read when evaluated (CREATE TABLE AS plans its query while running).
        if (expr.args.length !== 0) return null;
        let id: bigint | null = null;
        this.preludes.push((ctx) => {
          id = BigInt(ctx.sqlTx.tx.id);
          return Promise.resolve();
        });
        const session = this.session;
        return {
          type: "int8",
          evaluate: () => {
            const tx = session.transaction?.();
            return tx ? BigInt(tx.tx.id) : id;
          },
        };
      }
      case "pg_get_userbyid":
        return text(this.session.user);
      case "pg_table_is_visible":
        return { type: "bool", evaluate: () => true };
      case "pg_typeof": {
        const arg = this.compile(expr.args[0], scope, extra);
        return text(typeDisplayName(arg.type));
      }
      case "regexp_split_to_array": {
        const split = regexpSplitToArray(expr.args.map((a) => this.compile(a, scope, extra)));
        return split === null ? null : arrayValue(split);
      }
      case "gen_random_uuid":
      case "uuid_generate_v4": // uuid-ossp's name for the same (CREATE EXTENSION "uuid-ossp")
        return { type: "uuid", evaluate: () => crypto.randomUUID() };
      case "random":
        return { type: "float8", evaluate: () => Math.random() };
      case "nextval":
      case "setval":
      case "currval":
      case "lastval":
      case "pg_get_serial_sequence": {
        if (name === "nextval" || name === "setval") this.usesSequences = true;
        const args = expr.args.map((a) => this.compile(a, scope, extra));
        return sequenceFunction(name, args, {
          db: this.db,
          session: this.session,
          prelude: (run) => this.preludes.push(run),
          named: this.#serialSequenceNamed(expr.args[0]),
        });
      }
      default:
        return null;
    }
  }

  /** `pg_get_serial_sequence('t', 'c')` of constants: the sequence's name, known before running. */
  #serialSequenceNamed(arg: Expr | undefined): string | undefined {
    if (arg?.kind !== "function" || functionName(arg) !== "pg_get_serial_sequence") {
      return undefined;
    }
    const [t, c] = arg.args;
    if (t?.kind !== "string" || c?.kind !== "string") return undefined;
    const table = this.db.tables.get(sequenceArgument(t.value));
    const column = table?.columns.find((x) => x.name === c.value);
    return table && column?.serial ? sequenceName(table, column) : undefined;
  }

  // SELECT ---------------------------------------------------------------------

  select(statement: SelectStatement): RowPlan {
    const saved = new Map(this.ctes);
    const top = this.#topLevel;
    this.#topLevel = false;
    try {
      const writers: CteWriter[] = [];
      for (const cte of statement.with?.ctes ?? []) {
        const writer = this.#cte(cte, statement.with!.recursive, top);
        if (writer) writers.push(writer);
      }
      if (writers.length > 0) {
        const plan = this.#limit(
          this.#body(statement.body, statement.orderBy),
          statement.limit,
          statement.offset,
        );
        return {
          columns: plan.columns,
          async *run(ctx) {
            for (const writer of writers) await writer(ctx);
            yield* plan.run(ctx);
          },
        };
      }
      if (statement.locking) {
        const name = lockingName(statement.locking[0]);
        if (statement.body.kind === "set_operation") {
          throw new SqlError("0A000", `${name} is not allowed with UNION/INTERSECT/EXCEPT`);
        }
        if (statement.body.kind !== "select_core") {
          throw new SqlError("0A000", `${name} cannot be applied to VALUES`);
        }
        this.#pendingLock = statement.locking;
      }
      let plan = this.#body(statement.body, statement.orderBy);
      plan = this.#limit(plan, statement.limit, statement.offset);
      return plan;
    } finally {
      this.ctes.clear();
      for (const [k, v] of saved) this.ctes.set(k, v);
    }
  }

  /**
   * Plans one CTE under its name. A data-modifying one (INSERT, UPDATE or
   * DELETE, allowed in the top-level statement's WITH only, as in
   * PostgreSQL) returns the function that runs it: the statement runs it
   * once before its own work, whether or not anything reads it, and its
   * RETURNING rows are what readers of the name see (held, and counted
   * against the statement's row bound, like any CTE's).
   */
  #cte(cte: CommonTableExpr, recursive: boolean, top: boolean): CteWriter | null {
    if (cte.query.kind !== "select") {
      if (!top) {
        throw new SqlError(
          "0A000",
          "WITH clause containing a data-modifying statement must be at the top level",
        );
      }
      return this.#writingCte(cte, cte.query);
    }
    if (recursive && refersTo(cte.query, cte.name)) {
      this.ctes.set(cte.name, this.#recursiveCte(cte, cte.query));
      return null;
    }
    const plan = this.select(cte.query);
    const columns = plan.columns.map((c, i) => ({ ...c, name: cte.columns[i] ?? c.name }));
    this.ctes.set(cte.name, materialized({ ...plan, columns }));
    return null;
  }

  #writingCte(
    cte: CommonTableExpr,
    query: InsertStatement | UpdateStatement | DeleteStatement,
  ): CteWriter {
    const dml = query.kind === "insert" ? this.insert(query) : this.change(query);
    const runs = new WeakMap<RunContext, PgValue[][]>();
    const writer: CteWriter = async (ctx) => {
      if (runs.has(ctx)) return;
      let result: Result;
      try {
        result = await dml.run(ctx);
      } catch (error) {
        throw lockErrorToSql(error);
      }
      const rows: PgValue[][] = [];
      if (result.rows !== null) {
        for await (const batch of result.rows) {
          holdRows(ctx, batch.length);
          for (const row of batch) rows.push(row);
        }
      }
      runs.set(ctx, rows);
    };
    const returning = dml.columns;
    const name = cte.name;
    const columns: ScopeColumn[] = (returning ?? []).map((c, i) => ({
      ...c,
      table: null,
      name: cte.columns[i] ?? c.name,
    }));
    this.ctes.set(name, {
      columns,
      writesWithoutReturning: returning === null,
      async *run(ctx) {
        await writer(ctx);
        const rows = runs.get(ctx)!;
        for (let i = 0; i < rows.length; i += BATCH_ROWS) yield rows.slice(i, i + BATCH_ROWS);
      },
    });
    return writer;
  }

  /**
   * WITH RECURSIVE: the non-recursive term's rows, then the recursive term
   * run again over the rows the previous round added (the working table)
   * until a round adds none, as PostgreSQL iterates. UNION drops rows seen
   * before (which ends a walk round a cycle); UNION ALL keeps them. Rows are
   * produced as they are found, so a LIMIT above stops an endless one; held
   * rows count against the statement's bound, and the cancel and
   * statement_timeout checks run between batches.
   */
  #recursiveCte(cte: CommonTableExpr, query: SelectStatement): RowPlan {
    const name = cte.name;
    const body = query.body;
    if (
      body.kind !== "set_operation" || body.op !== "union" || query.orderBy.length > 0 ||
      query.limit !== null || query.offset !== null
    ) {
      if (body.kind === "set_operation" && body.op === "union") {
        const what = query.orderBy.length > 0
          ? "ORDER BY"
          : query.offset !== null
          ? "OFFSET"
          : "LIMIT";
        throw new SqlError("0A000", `${what} in a recursive query is not implemented`);
      }
      throw new SqlError(
        "42P19",
        `recursive query "${name}" does not have the form non-recursive-term UNION [ALL] recursive-term`,
      );
    }
    if (refersTo(body.left, name)) {
      throw new SqlError(
        "42P19",
        `recursive reference to query "${name}" must not appear within its non-recursive term`,
      );
    }
    checkRecursiveTerm(body.right, name);
    const left = this.#body(body.left, []);
    if (cte.columns.length > left.columns.length) {
      throw new SqlError(
        "42P10",
        `WITH query "${name}" has ${left.columns.length} columns available but ${cte.columns.length} columns specified`,
      );
    }
    const columns = left.columns.map((c, i) => ({ ...c, name: cte.columns[i] ?? c.name }));
    let working: PgValue[][] = [];
    this.ctes.set(name, {
      columns,
      async *run() {
        for (let i = 0; i < working.length; i += BATCH_ROWS) {
          yield working.slice(i, i + BATCH_ROWS);
        }
      },
    });
    const right = this.#body(body.right, []);
    if (right.columns.length !== left.columns.length) {
      throw new SqlError("42601", "each UNION query must have the same number of columns");
    }
    const converts = right.columns.map((c, i) => {
      const want = left.columns[i].type;
      const overall = commonType([want, c.type], "UNION");
      if (overall !== want) {
        throw new SqlError(
          "42804",
          `recursive query "${name}" column ${i + 1} has type ${typeDisplayName(want)} in ` +
            `non-recursive term but type ${typeDisplayName(overall)} overall`,
          { hint: "Cast the output of the non-recursive term to the correct type." },
        );
      }
      if (c.type === want) return null;
      return toType({ type: c.type, evaluate: (e: EvalContext) => e.row[0] }, want).evaluate;
    });
    const convert = converts.every((f) => f === null)
      ? null
      : (row: PgValue[], ctx: RunContext) => {
        const e = evalContext(ctx, []);
        return row.map((v, i) => {
          const f = converts[i];
          if (f === null || v === null) return v;
          return f({ ...e, row: [v] } as EvalContext);
        });
      };
    const all = body.all;
    const keyOf = hashKeyOf(columns.map((c) => c.type));
    return {
      columns,
      run: holding(async function* (ctx, hold) {
        const seen = all ? null : new Set<string>();
        const counter = { batches: 0 };
        const keep = (batch: PgValue[][]): PgValue[][] => {
          if (seen === null) return batch;
          return batch.filter((r) => {
            const k = keyOf(r);
            if (seen.has(k)) return false;
            hold(1);
            seen.add(k);
            return true;
          });
        };
        let next: PgValue[][] = [];
        for await (const batch of left.run(ctx)) {
          const out = keep(batch);
          if (out.length === 0) continue;
          hold(out.length);
          next.push(...out);
          yield out;
          await pause(ctx, counter, 1);
        }
        while (next.length > 0) {
          working = next;
          next = [];
          for await (const batch of right.run(ctx)) {
            const rows = convert === null ? batch : batch.map((r) => convert(r, ctx));
            const out = keep(rows);
            if (out.length > 0) {
              hold(out.length);
              next.push(...out);
              yield out;
            }
            await pause(ctx, counter, 1);
          }
          hold(-working.length);
          working = [];
          await pause(ctx, counter, 1);
        }
      }),
    };
  }

  #body(body: QueryBody, orderBy: OrderItem[]): RowPlan {
    if (body.kind === "select_core") return this.#core(body, orderBy);
    let plan: RowPlan;
    if (body.kind === "select") plan = this.select(body);
    else if (body.kind === "values") plan = this.#values(body.rows);
    else {plan = this.#setOperation(
        body.op,
        body.all,
        this.#body(body.left, []),
        this.#body(body.right, []),
      );}
    if (orderBy.length === 0) return plan;
    const scope = plan.columns.map((c) => ({ ...c, table: null }));
    const keys = orderBy.map((item) => {
      const ordinal = outputReference(item.expr, plan.columns.map((c) => c.name));
      const compiled = ordinal !== null
        ? { type: plan.columns[ordinal].type, evaluate: (ctx: EvalContext) => ctx.row[ordinal] }
        : this.compile(item.expr, scope);
      return { compiled, item };
    });
    return sortPlan(plan, keys, plan.columns.length);
  }

  #values(rows: Expr[][]): RowPlan {
    const width = rows[0].length;
    if (rows.some((r) => r.length !== width)) {
      throw new SqlError("42601", "VALUES lists must all be the same length");
    }
    rows.forEach((row) => row.forEach((e) => refuseSetFunctions(e, "VALUES")));
    const compiled = rows.map((row) => row.map((e) => this.compile(e, [])));
    const types = Array.from(
      { length: width },
      (_, i) => commonType(compiled.map((r) => r[i].type), "VALUES"),
    );
    const evaluates = compiled.map((row) => row.map((c, i) => toType(c, types[i]).evaluate));
    const subs = this.subqueries;
    return {
      columns: types.map((type, i) => plainColumn(`column${i + 1}`, type)),
      async *run(ctx) {
        await runSubqueries(subs, ctx);
        const e = evalContext(ctx, []);
        yield evaluates.map((row) => row.map((f) => f(e)));
      },
    };
  }

  #setOperation(op: string, all: boolean, left: RowPlan, right: RowPlan): RowPlan {
    if (left.columns.length !== right.columns.length) {
      throw new SqlError(
        "42601",
        `each ${op.toUpperCase()} query must have the same number of columns`,
      );
    }
    const types = left.columns.map((c, i) =>
      commonType([c.type, right.columns[i].type], op.toUpperCase())
    );
    const columns = left.columns.map((c, i) => ({ ...c, type: types[i] }));
    const keyOf = hashKeyOf(types);
    return {
      columns,
      run: holding(async function* (ctx, hold) {
        const rightRows: PgValue[][] = [];
        for await (const batch of right.run(ctx)) {
          hold(batch.length);
          rightRows.push(...batch);
        }
        if (op === "union") {
          const seen = new Set<string>();
          const emit = (rows: PgValue[][]) =>
            all ? rows : rows.filter((r) => {
              const k = keyOf(r);
              if (seen.has(k)) return false;
              hold(1);
              seen.add(k);
              return true;
            });
          for await (const batch of left.run(ctx)) {
            const out = emit(batch);
            if (out.length > 0) yield out;
          }
          const out = emit(rightRows);
          if (out.length > 0) yield out;
          return;
        }
        const counts = new Map<string, number>();
        for (const r of rightRows) counts.set(keyOf(r), (counts.get(keyOf(r)) ?? 0) + 1);
        const seen = new Set<string>();
        for await (const batch of left.run(ctx)) {
          const out: PgValue[][] = [];
          for (const r of batch) {
            const k = keyOf(r);
            const n = counts.get(k) ?? 0;
            const keep = op === "intersect" ? n > 0 : n === 0;
            if (!keep) {
              if (op === "except" && all && n > 0) counts.set(k, n - 1);
              continue;
            }
            if (!all) {
              if (seen.has(k)) continue;
              hold(1);
              seen.add(k);
            } else if (op === "intersect") counts.set(k, n - 1);
            out.push(r);
          }
          if (out.length > 0) yield out;
        }
      }),
    };
  }

  #limit(plan: RowPlan, limit: Expr | null, offset: Expr | null): RowPlan {
    if (limit === null && offset === null) return plan;
    const limitC = limit === null ? null : toType(this.compile(limit, []), "int8").evaluate;
    const offsetC = offset === null ? null : toType(this.compile(offset, []), "int8").evaluate;
    return {
      columns: plan.columns,
      async *run(ctx) {
        const e = evalContext(ctx, []);
        const l = limitC?.(e);
        let remaining = l === null || l === undefined ? Infinity : Number(l);
        let skip = Number(offsetC?.(e) ?? 0n);
        if (remaining < 0) throw new SqlError("2201W", "LIMIT must not be negative");
        if (skip < 0) throw new SqlError("2201X", "OFFSET must not be negative");
        if (remaining === 0) return;
        for await (let batch of plan.run(ctx)) {
          if (skip > 0) {
            const n = Math.min(skip, batch.length);
            skip -= n;
            batch = batch.slice(n);
          }
          if (batch.length === 0) continue;
          if (batch.length >= remaining) {
            yield batch.slice(0, remaining);
            return;
          }
          remaining -= batch.length;
          yield batch;
        }
      },
    };
  }

  #core(core: SelectCore, orderBy: OrderItem[]): RowPlan {
    if (core.where !== null) refuseSetFunctions(core.where, "WHERE");
    const locking = this.#pendingLock;
    this.#pendingLock = null;
    const rowAlias = locking === null ? null : this.#rowLockAlias(core, locking);
    const outerLock = this.#fromLock;
    this.#fromLock = locking === null ? null : { clauses: locking, rowAlias };
    let source: RowPlan;
    try {
      source = this.#from(core.from, core.where);
    } finally {
      this.#fromLock = outerLock;
    }
    const scope = source.columns;
    if (core.where !== null && !source.filtered) {
      const mark = this.correlated.length;
      const where = requireBool(this.compile(core.where, scope), "WHERE");
      source = filterPlan(source, where, this.needs(mark, scope));
    }
    const aggregated = core.groupBy.length > 0 || core.having !== null ||
      core.columns.some((c) => hasAggregate(c.expr)) || orderBy.some((o) => hasAggregate(o.expr));
    if (locking !== null) checkLocking(core, locking, aggregated, fromNames(core.from));
    const windows = [...core.columns.map((c) => c.expr), ...orderBy.map((o) => o.expr)]
      .flatMap((e) => windowCalls(e));
    const specs = resolveWindows(windows, core.windows ?? []);
    if (windows.length > 0 && locking !== null) {
      throw new SqlError(
        "0A000",
        `${lockingName(locking[0])} is not allowed with window functions`,
      );
    }
    // The select list, with * expanded.
    const items: { expr: Expr; name: string }[] = [];
    for (const item of core.columns) {
      if (item.expr.kind === "star") {
        const table = item.expr.table.length > 0
          ? item.expr.table[item.expr.table.length - 1]
          : null;
        let any = false;
        scope.forEach((c, i) => {
          if (table === null || c.table === table) {
            // A name twice in one item (unnest(a, b), a subquery's `1 AS a, 2 AS a`) is
            // referred to by position, which SQL cannot spell (SCOPE_INDEX).
            const twice = scope.some((d, j) => j !== i && d.table === c.table && d.name === c.name);
            items.push({
              expr: {
                kind: "column",
                path: twice ? [`${SCOPE_INDEX}${i}`] : c.table ? [c.table, c.name] : [c.name],
              },
              name: c.name,
            });
            any = true;
          }
        });
        if (!any && table !== null) {
          throw new SqlError("42P01", `missing FROM-clause entry for table "${table}"`);
        }
        if (!any && table === null && core.from.length === 0) {
          throw new SqlError("42601", "SELECT * with no tables specified is not valid");
        }
      } else if (item.expr.kind === "field" && item.expr.field === null) {
        // (f(...)).*: each column of a set-returning call.
        const operand = item.expr.operand;
        if (operand.kind !== "function" || !SET_RETURNING.has(functionName(operand))) {
          throw new SqlError("0A000", "only the columns of a set-returning call can be selected");
        }
        const names = setFunctionColumnNames(functionName(operand));
        if (names.length === 1) {
          // Not a composite: ProjectSet's `extra` refuses it with the call's type (42809).
          items.push({ expr: item.expr, name: names[0] });
          continue;
        }
        for (const name of names) {
          items.push({ expr: { kind: "field", operand, field: name }, name });
        }
      } else {
        items.push({ expr: item.expr, name: item.alias ?? columnNameOf(item.expr) });
      }
    }
    const names = items.map((i) => i.name);
    // ORDER BY terms that name an output column use it; others are computed as hidden columns.
    const orderRefs = orderBy.map((o) => outputReference(o.expr, names));
    const hidden = orderBy.filter((_, i) => orderRefs[i] === null).map((o) => o.expr);
    // How the select list reads the rows below it; `extra` adds ProjectSet's values.
    let compileWith: (e: Expr, extra?: (e: Expr) => Compiled | null) => Compiled;
    let input: RowPlan = source;
    let outScope = scope;
    if (aggregated) {
      const groupExprs = core.groupBy.map((g) => {
        const ordinal = outputReference(g, names, true);
        return ordinal !== null ? items[ordinal].expr : g;
      });
      // A window's own expressions may hold aggregates too: rank() OVER (ORDER BY count(*)).
      const windowExprs = windows.flatMap((w) => [
        ...w.args,
        ...specs.get(w)!.partitionBy,
        ...specs.get(w)!.orderBy.map((o) => o.expr),
      ]);
      const agg = this.#aggregate(source, groupExprs, core.groupingSets ?? null, [
        ...items.map((i) => i.expr),
        ...(core.having ? [core.having] : []),
        ...hidden,
        ...windowExprs,
      ]);
      input = agg.plan;
      compileWith = agg.compile;
      if (core.having !== null) {
        refuseSetFunctions(core.having, "HAVING");
        input = filterPlan(input, requireBool(agg.compile(core.having), "HAVING"));
      }
      if (windows.length > 0) {
        const windowed = this.#windows(input, windows, specs, (e) => agg.compile(e), true);
        input = windowed.plan;
        compileWith = (e, x) => agg.compile(e, (n) => windowed.extra(n) ?? x?.(n) ?? null);
      }
    } else if (windows.length > 0) {
      const windowed = this.#windows(source, windows, specs, (e) => this.compile(e, scope));
      input = windowed.plan;
      outScope = windowed.plan.columns;
      compileWith = (e, x) => this.compile(e, outScope, (n) => windowed.extra(n) ?? x?.(n) ?? null);
    } else {
      compileWith = (e, x) => this.compile(e, scope, x);
    }
    // Set-returning functions in the select list (or ORDER BY): ProjectSet.
    const setCalls = [
      ...items.map((i) => i.expr),
      ...hidden,
      ...(Array.isArray(core.distinct) ? core.distinct : []),
    ].flatMap((e) => setReturningCalls(e));
    let compileOut: (e: Expr) => Compiled = (e) => compileWith(e);
    // Calls nested in others' arguments run in a ProjectSet below theirs, as
    // PostgreSQL stacks them: generate_series(1, generate_series(1, 3)).
    // Each call runs at the lowest level its arguments allow, so calls of one
    // level advance in lockstep whatever their nesting in the select list.
    const levels: FunctionCall[][] = [];
    const levelOf = (call: FunctionCall): number => {
      const inner = call.args.flatMap((a) => setReturningCalls(a));
      const level = inner.reduce((m, c) => Math.max(m, levelOf(c) + 1), 0);
      (levels[level] ??= []).includes(call) || levels[level].push(call);
      return level;
    };
    setCalls.forEach(levelOf);
    let setExtra: ((e: Expr) => Compiled | null) | undefined;
    for (const calls of levels) {
      const mark = this.correlated.length;
      const below = setExtra;
      const projected = this.#projectSet(input, calls, (e) => compileWith(e, below));
      const needs = aggregated ? [] : this.needs(mark, outScope);
      const plan = projected.plan;
      input = needs.length === 0 ? plan : {
        columns: plan.columns,
        run: (ctx) => plan.run(ctx, needs),
      };
      setExtra = (e) => projected.extra(e) ?? below?.(e) ?? null;
    }
    if (setExtra !== undefined) {
      const extra = setExtra;
      compileOut = (e) => compileWith(e, extra);
    }
    const outMark = this.correlated.length;
    const outputs = items.map((i) => compileOut(i.expr));
    const hiddenCompiled = hidden.map((e) => compileOut(e));
    // DISTINCT ON's expressions: output columns, or hidden ones after the ORDER BY's.
    const distinctOn = Array.isArray(core.distinct) ? core.distinct : null;
    const distinctRefs = (distinctOn ?? []).map((e) => outputReference(e, names));
    const distinctHidden = (distinctOn ?? []).filter((_, i) => distinctRefs[i] === null)
      .map((e) => compileOut(e));
    const outNeeds = aggregated ? [] : this.needs(outMark, outScope);
    // Locked row by row: the table's columns ride along after the outputs (row_locks.ts).
    const lockValues: Compiled[] = rowAlias === null ? [] : scope.map((c, i) => ({
      type: c.type,
      evaluate: (ctx: EvalContext) => ctx.row[i],
    }));
    const all = [...outputs, ...lockValues, ...hiddenCompiled, ...distinctHidden].map((c) =>
      c.type === "unknown" ? coerce(c, "text") : c
    );
    const columns: ResultColumn[] = items.map((item, i) => {
      const expr = item.expr;
      const source = expr.kind === "column" && !aggregated ? resolveIn(scope, expr.path) : null;
      const s = source ? scope[source.index] : null;
      return {
        name: item.name,
        type: all[i].type,
        tableOid: s?.tableOid ?? 0,
        columnNumber: s?.columnNumber ?? 0,
        typeModifier: s?.typeModifier ?? -1,
      };
    });
    const evaluates = all.map((c) => c.evaluate);
    const projected: RowPlan = {
      columns: [
        ...columns.map((c) => ({ ...c, table: null })),
        ...lockValues.map((c, i) => plainColumn(`?lock${i}`, c.type)),
        ...hiddenCompiled.map((c, i) => plainColumn(`?order${i}`, c.type)),
        ...distinctHidden.map((c, i) => plainColumn(`?distinct${i}`, c.type)),
      ],
      async *run(ctx) {
        for await (const batch of input.run(ctx)) {
          const e = evalContext(ctx, []);
          const out = new Array<PgValue[]>(batch.length);
          for (let r = 0; r < batch.length; r++) {
            if (outNeeds.length > 0) await runCorrelated(outNeeds, batch[r], ctx);
            e.row = batch[r];
            const row = new Array<PgValue>(evaluates.length);
            for (let c = 0; c < evaluates.length; c++) row[c] = evaluates[c](e);
            out[r] = row;
          }
          yield out;
        }
      },
    };
    let plan = projected;
    if (core.distinct === true) plan = distinctPlan(plan, columns.length);
    const width = columns.length + lockValues.length;
    let h = width;
    const orderAt = orderBy.map((_, i) => orderRefs[i] ?? h++);
    const distinctAt = distinctRefs.map((ref) => ref ?? h++);
    if (distinctOn !== null) checkDistinctOn(distinctOn, distinctRefs, orderBy, orderRefs);
    if (orderBy.length > 0 || distinctOn !== null) {
      const key = (at: number, item: OrderItem) => ({
        compiled: { type: plan.columns[at].type, evaluate: (ctx: EvalContext) => ctx.row[at] },
        item,
      });
      const keys = orderBy.map((item, i) => key(orderAt[i], item));
      // DISTINCT ON's expressions the ORDER BY leaves out sort after it, as in PostgreSQL.
      distinctAt.forEach((at, i) => {
        if (
          !orderAt.includes(at) &&
          !keys.some((k) => printExpr(k.item.expr) === printExpr(distinctOn![i]))
        ) {
          keys.push(key(at, { expr: distinctOn![i], direction: null, nulls: null }));
        }
      });
      plan = sortPlan(plan, keys, distinctOn === null ? width : h);
    }
    if (distinctOn !== null) plan = distinctOnPlan(plan, distinctAt, width);
    if (rowAlias !== null) {
      const clause = clauseFor(locking!, rowAlias)!;
      plan = this.#lockedRows(core, plan, { scope, all, width: columns.length, clause });
    }
    // Still a point lookup when nothing was stacked on the table's read.
    const point = source.point && plan === projected && !aggregated && outNeeds.length === 0 &&
        hiddenCompiled.length === 0 && locking === null && setCalls.length === 0
      ? { ...source.point, outputs: evaluates }
      : undefined;
    return {
      columns: columns.map((c) => ({ ...c, table: null })),
      run: plan.run,
      filtered: true,
      point,
    };
  }

  /**
   * ProjectSet, as PostgreSQL 10+ runs set-returning functions in a select
   * list: for each input row, every call starts over that row and they
   * advance in lockstep, one output row per step, a call that ran out giving
   * NULL, until all have run out (an input row whose calls give no rows at
   * all gives none). The calls' values are appended to the row; `extra`
   * points the select list's call nodes at them. A call of several columns
   * (jsonb_each) is one record value. Output is batched and the cancel and
   * statement_timeout checks run between batches, so a long series streams.
   */
  #projectSet(
    input: RowPlan,
    calls: FunctionCall[],
    compileIn: (e: Expr) => Compiled,
  ): {
    plan: RowPlan & {
      run(ctx: RunContext, needs?: Subquery[]): AsyncGenerator<PgValue[][]>;
    };
    extra: (e: Expr) => Compiled | null;
  } {
    const functions = calls.map((call) => setFunction(call, call.args.map(compileIn), compileIn));
    const width = input.columns.length;
    const n = functions.length;
    // Every column of every call is appended: calls[i]'s first at width + offsets[i].
    const offsets: number[] = [];
    let total = 0;
    for (const f of functions) {
      offsets.push(width + total);
      total += f.columns.length;
    }
    const widths = functions.map((f) => f.columns.length);
    const extra = (e: Expr): Compiled | null => {
      if (e.kind === "field") {
        const at = calls.indexOf(e.operand as FunctionCall);
        if (at < 0) return null;
        const { columns } = functions[at];
        if (columns.length === 1 && e.field === null) {
          throw new SqlError("42809", `type ${typeDisplayName(columns[0].type)} is not composite`);
        }
        if (columns.length === 1) {
          throw new SqlError(
            "42809",
            `column notation .${e.field} applied to type ${
              typeDisplayName(columns[0].type)
            }, which is not a composite type`,
          );
        }
        const column = columns.findIndex((c) => c.name === e.field);
        if (column < 0) {
          throw new SqlError("42703", `could not identify column "${e.field}" in record data type`);
        }
        const index = offsets[at] + column;
        return { type: functions[at].columns[column].type, evaluate: (ctx) => ctx.row[index] };
      }
      const at = calls.indexOf(e as FunctionCall);
      if (at < 0) return null;
      const { columns } = functions[at];
      const first = offsets[at];
      if (columns.length === 1) {
        return { type: columns[0].type, evaluate: (ctx) => ctx.row[first] };
      }
      // A call of several columns is one record value (PostgreSQL's type record, text here);
      // NULL when the call has run out (its columns padded: jsonb_each's key is never NULL).
      const types = columns.map((c) => c.type);
      return {
        type: "text",
        evaluate: (ctx) => {
          const values = ctx.row.slice(first, first + columns.length);
          return values.every((v) => v === null) ? null : recordText(values, types);
        },
      };
    };
    const plan = {
      columns: [
        ...input.columns,
        ...functions.flatMap((f, i) =>
          f.columns.map((c, j) => plainColumn(`?srf${i}.${j}`, c.type))
        ),
      ],
      async *run(ctx: RunContext, needs: Subquery[] = []): AsyncGenerator<PgValue[][]> {
        const counter = { batches: 0 };
        const e = evalContext(ctx, []);
        let out: PgValue[][] = [];
        for await (const batch of input.run(ctx)) {
          for (const row of batch) {
            if (needs.length > 0) await runCorrelated(needs, row, ctx);
            e.row = row;
            const iterators: (Iterator<PgValue[]> | null)[] = functions.map((f) => f.rows(e));
            for (;;) {
              let any = false;
              const next = new Array<PgValue>(width + total);
              for (let c = 0; c < width; c++) next[c] = row[c];
              for (let i = 0; i < n; i++) {
                const it = iterators[i];
                const step = it === null ? null : it.next();
                const at = offsets[i];
                const columns = widths[i];
                if (step === null || step.done) {
                  iterators[i] = null;
                  for (let c = 0; c < columns; c++) next[at + c] = null;
                  continue;
                }
                any = true;
                const value = step.value;
                for (let c = 0; c < columns; c++) next[at + c] = value[c];
              }
              if (!any) break;
              out.push(next);
              if (out.length >= BATCH_ROWS) {
                yield out;
                out = [];
                await pause(ctx, counter);
              }
            }
          }
        }
        if (out.length > 0) yield out;
      },
    };
    return { plan, extra };
  }

  /**
   * The query's rows with each window function's value appended (window.ts),
   * and how the select list reads those values.
   */
  #windows(
    source: RowPlan,
    calls: FunctionCall[],
    specs: ReadonlyMap<FunctionCall, WindowSpec>,
    compileIn: (e: Expr) => Compiled,
    grouped = false,
  ): { plan: RowPlan; extra: (e: Expr) => Compiled | null } {
    const scope = source.columns;
    const compiled: CompiledWindow[] = calls.map((call) => {
      const name = functionName(call);
      for (const arg of call.args) refuseSetFunctions(arg, "window");
      const over = specs.get(call)!;
      if (over.frame && over.frame.mode !== "rows") {
        const offsets = [over.frame.start, over.frame.end].some((b) => b.offset !== undefined);
        if (over.frame.mode === "groups" || offsets) {
          throw new SqlError(
            "0A000",
            `${over.frame.mode.toUpperCase()} frames with offsets are not supported`,
          );
        }
      }
      const partition = over.partitionBy.map((e) => compileIn(e).evaluate);
      const order = over.orderBy.map((item) => {
        const c = compileIn(item.expr);
        const desc = item.direction === "desc";
        return {
          evaluate: c.evaluate,
          compare: comparator(c.type === "unknown" ? "text" : c.type),
          desc,
          nullsFirst: item.nulls === null ? desc : item.nulls === "first",
        };
      });
      if (AGGREGATES.has(name)) {
        if (grouped) {
          throw new SqlError("0A000", "aggregates over windows of grouped rows are not supported");
        }
        const spec = this.#aggregateSpec({ ...call, over: undefined }, scope);
        return {
          name,
          type: spec.type,
          partition,
          order,
          frame: over.frame,
          args: [],
          aggregate: spec,
        };
      }
      const args = call.args.map((a) => compileIn(a));
      const argTypes = args.map((a) => a.type === "unknown" ? "text" as SqlType : a.type);
      const type = windowFunctionType(name, argTypes);
      if (type === null) {
        throw new SqlError("42809", `${name} is not a window function nor an aggregate function`);
      }
      checkWindowArity(name, args.length, argTypes.map(typeDisplayName));
      // lag/lead's default takes the value's type; ntile's and the offsets are integers.
      const evaluators = args.map((a, i) =>
        (name === "lag" || name === "lead") && i === 2
          ? coerce(a, type).evaluate
          : (name === "lag" || name === "lead") && i === 1
          ? coerce(a, "int8").evaluate
          : name === "ntile"
          ? coerce(a, "int8").evaluate
          : a.type === "unknown"
          ? coerce(a, "text").evaluate
          : a.evaluate
      );
      return { name, type, partition, order, frame: over.frame, args: evaluators };
    });
    const width = scope.length;
    const columns = [
      ...scope,
      ...compiled.map((w, i) => plainColumn(`?window${i}`, w.type)),
    ];
    const extra = (e: Expr): Compiled | null => {
      const at = calls.indexOf(e as FunctionCall);
      if (at < 0) return null;
      return { type: compiled[at].type, evaluate: (ctx) => ctx.row[width + at] };
    };
    const plan: RowPlan = {
      columns,
      run: holding(async function* (ctx, hold) {
        const rows: PgValue[][] = [];
        for await (const batch of source.run(ctx)) {
          hold(batch.length);
          for (const row of batch) rows.push(row);
        }
        const out = computeWindows(rows, compiled, (row) => evalContext(ctx, row));
        for (let i = 0; i < out.length; i += BATCH_ROWS) yield out.slice(i, i + BATCH_ROWS);
      }),
    };
    return { plan, extra };
  }

  /**
   * The alias of the one stored table a locking query locks row by row, or
   * null when it locks whole tables instead (see row_locks.ts).
   */
  #rowLockAlias(core: SelectCore, clauses: LockingClause[]): string | null {
    if (core.from.length !== 1 || core.from[0].kind !== "table") return null;
    const item = core.from[0];
    const alias = item.alias?.name ?? item.name[item.name.length - 1];
    if (clauseFor(clauses, alias) === null) return null;
    if (item.name.length === 1 && this.ctes.has(item.name[0])) return null;
    const table = item.name.length === 1 ? this.db.tables.get(item.name[0]) : undefined;
    if (table === undefined || table.view || table.rowid) return null;
    const exprs = [...core.columns.map((c) => c.expr), ...(core.where ? [core.where] : [])];
    return exprs.some(hasSubquery) ? null : alias;
  }

  /** A locking query's rows, locked one by one as they leave (see row_locks.ts). */
  #lockedRows(
    core: SelectCore,
    input: RowPlan,
    options: {
      scope: readonly ScopeColumn[];
      all: Compiled[];
      width: number;
      clause: LockingClause;
    },
  ): RowPlan {
    const { scope, all, width, clause } = options;
    const item = core.from[0] as Extract<FromItem, { kind: "table" }>;
    const table = this.db.table(item.name, this.session);
    const where = core.where ? requireBool(this.compile(core.where, scope), "WHERE") : null;
    const outputs = all.slice(0, width).map((c) => c.evaluate);
    return {
      columns: input.columns.slice(0, width),
      run(ctx) {
        const e = evalContext(ctx, []);
        const recheck = (values: PgValue[]): PgValue[] | null => {
          e.row = values;
          if (where !== null && where.evaluate(e) !== true) return null;
          return outputs.map((f) => f(e));
        };
        return lockRows(ctx.sqlTx.tx, input.run(ctx), { table, clause, width, recheck });
      },
    };
  }

  #aggregate(
    source: RowPlan,
    groupExprs: Expr[],
    groupingSets: number[][] | null,
    exprs: Expr[],
  ): {
    plan: RowPlan;
    compile: (e: Expr, extra?: (e: Expr) => Compiled | null) => Compiled;
  } {
    const scope = source.columns;
    const groups = groupExprs.map((g) => this.compile(g, scope));
    const groupText = groupExprs.map((g) => printExpr(g));
    const sets = groupingSets;
    const aggregates: { text: string; spec: AggregateSpec }[] = [];
    const collect = (e: Expr): void => {
      walk(e, (node) => {
        if (node.kind === "function" && AGGREGATES.has(functionName(node))) {
          const text = printExpr(node);
          if (!aggregates.some((a) => a.text === text)) {
            aggregates.push({ text, spec: this.#aggregateSpec(node, scope) });
          }
          return false;
        }
        return node.kind !== "subquery" && node.kind !== "exists" && node.kind !== "in_subquery";
      });
    };
    exprs.forEach(collect);
    const width = groups.length;
    const compile = (e: Expr, extra?: (e: Expr) => Compiled | null): Compiled => {
      const inner = (node: Expr): Compiled | null => {
        const text = printExpr(node);
        const g = groupText.indexOf(text);
        if (g >= 0) {
          const type = groups[g].type;
          return { type, evaluate: (ctx) => ctx.row[g] };
        }
        const a = aggregates.findIndex((x) => x.text === text);
        if (a >= 0) {
          const { type, element } = aggregates[a].spec;
          const value: Compiled = { type, evaluate: (ctx) => ctx.row[width + a] };
          return element === undefined ? value : arrayValue(value, element);
        }
        if (node.kind === "function" && functionName(node) === "grouping" && !node.over) {
          return groupingCall(node, groupText, sets, width + aggregates.length);
        }
        return null;
      };
      const direct = inner(e);
      if (direct) return direct;
      return compileExpr(e, {
        resolveColumn: (path) => {
          const g = groupExprs.findIndex((x) =>
            x.kind === "column" && resolveIn(scope, x.path)?.index === resolveIn(scope, path)?.index
          );
          if (g >= 0) return { index: g, type: groups[g].type };
          if (resolveIn(scope, path) === null) return null;
          throw new SqlError(
            "42803",
            `column "${
              path.join(".")
            }" must appear in the GROUP BY clause or be used in an aggregate function`,
          );
        },
        paramTypes: this.paramTypes,
        inferredParamTypes: this.inferred,
        // ARRAY[...] and the catalog functions compile their parts as grouped too.
        extension: (node) =>
          extra?.(node) ?? inner(node) ??
            this.#extension(node, scope, undefined, (part) => compile(part, extra)),
      });
    };
    const groupEvals = groups.map((g) => g.evaluate);
    const groupKey = equalityKey(groups.map((g) => g.type));
    const specs = aggregates.map((a) => a.spec);
    // Grouping sets: each row joins one group per set, keyed by the set's
    // number and its expressions (the others NULL); the set's number rides
    // along after the aggregates, for grouping().
    const masks = (sets ?? [groups.map((_, i) => i)]).map((set) =>
      groups.map((_, i) => set.includes(i))
    );
    const plan: RowPlan = {
      columns: [
        ...groups.map((g, i) => plainColumn(`?group${i}`, g.type)),
        ...specs.map((s, i) => plainColumn(`?agg${i}`, s.type)),
        plainColumn("?set", "int4"),
      ],
      run: holding(async function* (ctx, hold) {
        const states = new Map<string, { key: PgValue[]; set: number; accs: Accumulator[] }>();
        for await (const batch of source.run(ctx)) {
          const e = evalContext(ctx, []);
          for (const row of batch) {
            e.row = row;
            const values = groupEvals.map((f) => f(e));
            for (let set = 0; set < masks.length; set++) {
              const mask = masks[set];
              const key = sets === null ? values : values.map((v, i) => mask[i] ? v : null);
              const k = rowKey(groupKey === null ? key : groupKey(key)) +
                (sets === null ? "" : `\u0003${set}`);
              let state = states.get(k);
              if (!state) {
                hold(1);
                state = { key, set, accs: specs.map((s) => s.start()) };
                states.set(k, state);
              }
              for (let i = 0; i < specs.length; i++) specs[i].step(state.accs[i], e, hold);
            }
          }
        }
        // An empty grouping set has its row even with no input, as GROUP BY () does.
        const empty = masks.flatMap((mask, set) => mask.some((m) => m) ? [] : [set]);
        if (states.size === 0 && empty.length > 0) {
          yield empty.map((set) => [
            ...groups.map(() => null),
            ...specs.map((s) => s.finish(s.start())),
            set,
          ]);
          return;
        }
        let out: PgValue[][] = [];
        for (const state of states.values()) {
          out.push([
            ...state.key,
            ...state.accs.map((acc, i) => specs[i].finish(acc)),
            state.set,
          ]);
          if (out.length >= BATCH_ROWS) {
            yield out;
            out = [];
          }
        }
        if (out.length > 0) yield out;
      }),
    };
    return { plan, compile };
  }

  /** `sorted`: the call's input arrives sorted already (the inner spec of `orderedInput`). */
  #aggregateSpec(call: FunctionCall, scope: readonly ScopeColumn[], sorted = false): AggregateSpec {
    const name = functionName(call);
    for (const arg of call.args) refuseSetFunctions(arg, "aggregate");
    const filter = call.filter
      ? requireBool(this.compile(call.filter, scope), "FILTER").evaluate
      : null;
    if (ORDERED_SET_AGGREGATES.has(name) !== (call.withinGroup === true)) {
      // No such signature: WITHIN GROUP's keys count as arguments, as in PostgreSQL.
      const types = [...call.args, ...(call.withinGroup ? call.orderBy.map((o) => o.expr) : [])]
        .map((e) => typeDisplayName(this.compile(e, scope).type));
      throw noSuchFunction(name, types);
    }
    if (call.withinGroup) return this.#orderedSetSpec(name, call, scope, filter);
    if (call.distinct && call.orderBy.length === 0 && !sorted && ORDER_SENSITIVE.has(name)) {
      // PostgreSQL meets DISTINCT by sorting the input: the values come out in order.
      const orderBy = call.args.slice(0, 1).map((expr) => ({ expr, direction: null, nulls: null }));
      return this.#aggregateSpec({ ...call, orderBy }, scope);
    }
    if (call.distinct && call.args.length === 1 && !call.star) {
      const arg = this.compile(call.args[0], scope);
      if (equalityKey([arg.type]) !== null) {
        const inner = this.#aggregateSpec({ ...call, distinct: false, filter: null }, scope);
        return distinctByValue(inner, filter, arg.evaluate, hashKeyOf([arg.type]));
      }
    }
    if (call.orderBy.length > 0) {
      if (call.distinct) {
        const args = call.args.map((a) => printExpr(a));
        if (call.orderBy.some((o) => !args.includes(printExpr(o.expr)))) {
          throw new SqlError(
            "42P10",
            "in an aggregate with DISTINCT, ORDER BY expressions must appear in argument list",
          );
        }
      }
      const inner = this.#aggregateSpec({ ...call, orderBy: [], filter: null }, scope, true);
      return orderedInput(inner, filter, this.#sortKeys(call.orderBy, scope));
    }
    if (name === "count" && call.star) {
      return aggregate("int8", filter, null, false, {
        start: () => ({ n: 0n }),
        add: (acc) => void (acc.n = (acc.n as bigint) + 1n),
        finish: (acc) => acc.n as bigint,
      });
    }
    if (call.args.length === 0) throw new SqlError("42883", `function ${name}() does not exist`);
    let arg = this.#wholeRow(call.args[0], scope) ?? this.compile(call.args[0], scope);
    if (arg.type === "unknown") arg = coerce(arg, "text");
    const type = arg.type;
    const numeric = ["int2", "int4", "int8", "numeric", "float4", "float8"].includes(type);
    const distinct = call.distinct;
    switch (name) {
      case "count":
        return aggregate("int8", filter, arg.evaluate, distinct, {
          start: () => ({ n: 0n }),
          add: (acc) => void (acc.n = (acc.n as bigint) + 1n),
          finish: (acc) => acc.n as bigint,
        }, type);
      case "sum":
      case "avg": {
        if (type === "interval") return intervalSumOrAverage(name, filter, arg.evaluate, distinct);
        if (!numeric) {
          throw noSuchFunction(name, [typeDisplayName(type)]);
        }
        const float = type === "float4" || type === "float8";
        const resultType: SqlType = name === "avg"
          ? (float ? "float8" : "numeric")
          : float
          ? (type === "float4" ? "float4" : "float8")
          : type === "int8" || type === "numeric"
          ? "numeric"
          : "int8";
        return aggregate(resultType, filter, arg.evaluate, distinct, {
          start: () => ({ n: 0n, sum: null }),
          add: (acc, v) => {
            acc.n = (acc.n as bigint) + 1n;
            if (float) acc.sum = ((acc.sum as number | null) ?? 0) + (v as number);
            else {
              const d = type === "numeric"
                ? toDecimal(v as string)
                : decimalFromBigInt(BigInt(v as number));
              acc.sum = acc.sum === null
                ? d
                : addDecimal(acc.sum as ReturnType<typeof toDecimal>, d);
            }
          },
          finish: (acc) => {
            if (acc.sum === null) return null;
            if (float) {
              return name === "avg" ? (acc.sum as number) / Number(acc.n) : acc.sum as number;
            }
            const sum = acc.sum as ReturnType<typeof toDecimal>;
            if (name === "avg") {
              return fromDecimal(divideDecimal(sum, decimalFromBigInt(acc.n as bigint)));
            }
            if (resultType === "int8") return BigInt(fromDecimal(sum));
            return fromDecimal(sum);
          },
        }, type);
      }
      case "min":
      case "max": {
        // PostgreSQL 15 has no min/max over these (bool_and/bool_or stand in for booleans).
        if (NO_MIN_MAX.has(type)) throw noSuchFunction(name, [typeDisplayName(type)]);
        const compare = comparator(type);
        const sign = name === "max" ? 1 : -1;
        return aggregate(type, filter, arg.evaluate, false, {
          start: () => ({ best: null }),
          add: (acc, v) => {
            if (acc.best === null || compare(v, acc.best as PgValue) * sign >= 0) {
              acc.best = v as never;
            }
          },
          finish: (acc) => acc.best as PgValue,
        });
      }
      case "bool_and":
      case "bool_or":
      case "every": {
        if (type !== "bool") {
          throw noSuchFunction(name, [typeDisplayName(type)]);
        }
        const or = name === "bool_or";
        return aggregate("bool", filter, arg.evaluate, false, {
          start: () => ({ best: null }),
          add: (acc, v) => {
            acc.best = acc.best === null
              ? v as never
              : (or ? (acc.best || v) : (acc.best && v)) as never;
          },
          finish: (acc) => acc.best as PgValue,
        });
      }
      case "string_agg": {
        const sep = call.args[1]
          ? coerce(this.compile(call.args[1], scope), "text").evaluate
          : () => ",";
        const evaluate = arg.evaluate;
        return aggregate(
          "text",
          filter,
          (ctx) => {
            const v = evaluate(ctx);
            return v === null ? null : `${sep(ctx) ?? ""}\u0000${formatValue(type, v)}`;
          },
          distinct,
          {
            start: () => ({ best: null }),
            add: (acc, v) => {
              const [s, text] = (v as string).split("\u0000");
              acc.best = (acc.best === null ? text : `${acc.best}${s}${text}`) as never;
            },
            finish: (acc) => acc.best as PgValue,
          },
        );
      }
      case "jsonb_agg":
      case "jsonb_object_agg": {
        const value = arg.evaluate;
        const key = name === "jsonb_object_agg" ? arg : null;
        const second = name === "jsonb_object_agg" ? this.compile(call.args[1], scope) : arg;
        const secondType = second.type === "unknown" ? "text" : second.type;
        const json = (v: PgValue) => jsonOf(secondType, v, typeOidOf);
        // Each row's element as JSON text; NULL values count (as JSON null), unlike string_agg's.
        const element = key === null
          ? (ctx: EvalContext) => json(value(ctx))
          : (ctx: EvalContext) => {
            const k = value(ctx);
            if (k === null) throw new SqlError("22023", "field name must not be null");
            return `${JSON.stringify(formatValue(type, k))}:${json(second.evaluate(ctx))}`;
          };
        const open = key === null ? "[" : "{";
        const close = key === null ? "]" : "}";
        return aggregate("jsonb", filter, element, distinct, {
          start: () => ({ parts: [] as string[] }),
          add: (acc, v) => void (acc.parts as string[]).push(v as string),
          finish: (acc) => {
            const parts = acc.parts as string[];
            return parts.length === 0
              ? null
              : parseText(OID.jsonb, `${open}${parts.join(",")}${close}`);
          },
        });
      }
      case "array_agg":
        return arrayAgg(filter, distinct, arg.evaluate, (v) => formatValue(type, v), type);
      case "json_agg": {
        const element = arrayElementOf(arg);
        const json = (v: PgValue) => jsonValueText(type, v, typeOidOf, element);
        const structured = WHOLE_ROWS.has(arg) || element !== undefined;
        return jsonAgg(filter, distinct, arg.evaluate, json, structured);
      }
      case "json_object_agg": {
        if (call.args.length !== 2) {
          throw new SqlError("42883", `function ${name} does not exist`);
        }
        const value = this.compile(call.args[1], scope);
        const valueType = value.type === "unknown" ? "text" : value.type;
        const key = (ctx: EvalContext) => {
          const k = arg.evaluate(ctx);
          return k === null ? null : formatValue(type, k);
        };
        const json = (v: PgValue) => jsonValueText(valueType, v, typeOidOf);
        return jsonObjectAgg(filter, key, value.evaluate, json);
      }
      default:
        if (VARIANCE_AGGREGATES.has(name)) {
          if (!numeric) {
            throw noSuchFunction(name, [typeDisplayName(type)]);
          }
          return varianceAgg(name, type, filter, distinct, arg.evaluate);
        }
        throw new SqlError("42883", `function ${name} does not exist`);
    }
  }

  /** An aggregate's ORDER BY (or WITHIN GROUP) keys, compiled over its input rows. */
  #sortKeys(items: OrderItem[], scope: readonly ScopeColumn[]): SortKey[] {
    return items.map((item) => {
      const c = this.compile(item.expr, scope);
      const desc = item.direction === "desc";
      return {
        evaluate: c.evaluate,
        compare: comparator(c.type === "unknown" ? "text" : c.type),
        desc,
        nullsFirst: item.nulls === null ? desc : item.nulls === "first",
      };
    });
  }

  /** percentile_cont, percentile_disc and mode() WITHIN GROUP (ORDER BY key). */
  #orderedSetSpec(
    name: string,
    call: FunctionCall,
    scope: readonly ScopeColumn[],
    filter: ((ctx: EvalContext) => PgValue) | null,
  ): AggregateSpec {
    const keyCompiled = this.compile(call.orderBy[0].expr, scope);
    const keyType: SqlType = keyCompiled.type === "unknown" ? "text" : keyCompiled.type;
    const [key] = this.#sortKeys(call.orderBy, scope);
    const signature = (args: string[]) => noSuchFunction(name, args);
    const keyName = typeDisplayName(keyType);
    if (name === "mode") {
      if (call.args.length !== 0 || call.orderBy.length !== 1) {
        throw signature([...call.args.map(() => "unknown"), keyName]);
      }
      return orderedSetAgg(name, filter, key, keyType, null, formatValue);
    }
    if (call.args.length !== 1 || call.orderBy.length !== 1) {
      throw signature([...call.args.map(() => "numeric"), keyName]);
    }
    const array = call.args[0].kind === "array";
    const fraction = array
      ? this.compile(call.args[0], scope)
      : coerce(this.compile(call.args[0], scope), "float8");
    const fractionName = array ? "numeric[]" : "numeric";
    const numeric = ["int2", "int4", "int8", "numeric", "float4", "float8"].includes(keyType);
    if (name === "percentile_cont" && !numeric) throw signature([fractionName, keyName]);
    return orderedSetAgg(
      name,
      filter,
      key,
      keyType,
      { evaluate: fraction.evaluate, array },
      formatValue,
    );
  }

  /**
   * A whole-row reference (`t` naming a FROM item) as the argument of the
   * json functions that take a row: its row_to_json text, typed json.
   * Anywhere else a row value is still refused (no composite types yet).
   */
  #wholeRow(expr: Expr, scope: readonly ScopeColumn[]): Compiled | null {
    if (expr.kind !== "column" || expr.path.length !== 1) return null;
    if (resolveIn(scope, expr.path) !== null) return null;
    const table = expr.path[0];
    const columns = scope.map((c, index) => ({ c, index })).filter(({ c }) => c.table === table);
    if (columns.length === 0) return null;
    const parts = columns.map(({ c, index }) => ({
      prefix: JSON.stringify(c.name) + ":",
      type: c.type,
      index,
    }));
    const compiled: Compiled = {
      type: "json",
      evaluate: (ctx) =>
        `{${
          parts.map((p) => p.prefix + jsonValueText(p.type, ctx.row[p.index], typeOidOf)).join(",")
        }}`,
    };
    WHOLE_ROWS.add(compiled);
    return compiled;
  }

  // FROM -------------------------------------------------------------------------

  #from(from: FromItem[], where: Expr | null): RowPlan {
    if (from.length === 0) return oneRowPlan(this.subqueries);
    if (from.length === 1 && from[0].kind === "table") return this.#table(from[0], where);
    // A comma join's WHERE equalities between the tables joined so far and
    // the next one join them by hash, as an inner join's ON would: a cross
    // product filtered afterwards explodes with the number of tables (ten
    // tables of 50 rows never finished). The WHERE is still applied in full
    // afterwards; FROM order, and so the column order, stay as written.
    const equalities = where === null
      ? []
      : conjuncts(where).filter((t) => t.kind === "binary" && t.op === "=");
    let plan = this.#fromItem(from[0]);
    for (const item of from.slice(1)) {
      if (isLateral(item)) {
        plan = this.#lateral("inner", plan, item, null);
        continue;
      }
      const right = this.#fromItem(item);
      const on = equalities.filter((t) => {
        if (t.kind !== "binary") return false;
        const a = sideOf(t.left, plan.columns, right.columns);
        const b = sideOf(t.right, plan.columns, right.columns);
        return (a === "left" && b === "right") || (a === "right" && b === "left");
      });
      const condition = on.reduce<Expr | null>(
        (all, t) => all === null ? t : { kind: "binary", op: "and", left: all, right: t },
        null,
      );
      plan = this.#join(condition === null ? "cross" : "inner", plan, right, condition);
    }
    return withSubqueries(plan, this.subqueries);
  }

  #fromItem(item: FromItem): RowPlan {
    switch (item.kind) {
      case "table":
        return this.#table(item, null);
      case "subquery": {
        if (item.lateral) throw new SqlError("0A000", "LATERAL is not supported");
        const plan = this.select(item.query);
        const alias = item.alias?.name ?? null;
        if (alias === null) throw new SqlError("42601", "subquery in FROM must have an alias");
        return renamed(plan, alias, item.alias!.columns);
      }
      case "function":
        return this.#functionInFrom(item);
      case "join": {
        const left = this.#fromItem(item.left);
        if (isLateral(item.right)) {
          if (item.type === "right" || item.type === "full") {
            throw new SqlError(
              "42P10",
              `invalid reference to FROM-clause entry for table "${left.columns[0]?.table}"`,
              { detail: "The combining JOIN type must be INNER or LEFT for a LATERAL reference." },
            );
          }
          if (item.natural || item.using) {
            throw new SqlError("0A000", "LATERAL with NATURAL or USING is not supported");
          }
          return this.#lateral(item.type, left, item.right, item.on);
        }
        const right = this.#fromItem(item.right);
        let on = item.on;
        const using = item.natural
          ? left.columns.filter((c) => right.columns.some((r) => r.name === c.name)).map((c) =>
            c.name
          )
          : item.using;
        if (using && using.length > 0) {
          on = using.map((name): Expr => ({
            kind: "binary",
            op: "=",
            left: {
              kind: "column",
              path: [left.columns.find((c) => c.name === name)?.table ?? "", name],
            },
            right: {
              kind: "column",
              path: [right.columns.find((c) => c.name === name)?.table ?? "", name],
            },
          })).reduce((a, b) => ({ kind: "binary", op: "and", left: a, right: b }));
        }
        return this.#join(item.type, left, right, on);
      }
    }
  }

  /**
   * A LATERAL subquery joined to the FROM items before it: planned with
   * their row as an enclosing row (as a correlated subquery's), then run
   * again for each of their rows, a nested loop. A LEFT join pads a row
   * that finds nothing with NULLs.
   */
  #lateral(
    type: string,
    left: RowPlan,
    item: Extract<FromItem, { kind: "subquery" | "function" }>,
    on: Expr | null,
  ): RowPlan {
    const alias = item.alias?.name ?? null;
    if (alias === null && item.kind === "subquery") {
      throw new SqlError("42601", "subquery in FROM must have an alias");
    }
    const frame: OuterFrame = { scope: left.columns, row: [], used: false };
    this.outer.push(frame);
    const roots = this.explainRoots.length;
    let right: RowPlan;
    try {
      right = item.kind === "function"
        ? this.#functionInFrom(item)
        : renamed(this.select(item.query), alias!, item.alias!.columns);
    } finally {
      this.outer.pop();
    }
    if (item.kind === "function" && this.explainRoots.length === roots) {
      const name = functionName(item.call);
      this.explainRoots.push({
        label: `Function Scan on ${name}${alias === null || alias === name ? "" : ` ${alias}`}`,
        details: [],
        children: [],
      });
    }
    const columns = [...left.columns, ...right.columns];
    if (on) refuseSetFunctions(on, "JOIN conditions");
    const condition = on ? requireBool(this.compile(on, columns), "JOIN/ON").evaluate : null;
    const nr = right.columns.length;
    const pad = type === "left";
    this.#explainJoin(([outer, inner]) => ({
      label: pad ? "Nested Loop Left Join" : "Nested Loop",
      details: [],
      children: [outer, inner],
    }));
    return {
      columns,
      async *run(ctx) {
        const e = evalContext(ctx, []);
        const counter = { batches: 0 };
        for await (const batch of left.run(ctx)) {
          const out: PgValue[][] = [];
          for (const row of batch) {
            frame.row = row;
            let found = false;
            for await (const inner of right.run(ctx)) {
              for (const r of inner) {
                const joined = [...row, ...r];
                if (condition !== null) {
                  e.row = joined;
                  if (condition(e) !== true) continue;
                }
                found = true;
                out.push(joined);
              }
            }
            if (!found && pad) out.push([...row, ...new Array(nr).fill(null)]);
            if (out.length >= BATCH_ROWS) {
              yield out.splice(0);
              await pause(ctx, counter);
            }
          }
          if (out.length > 0) yield out;
        }
      },
    };
  }

  /**
   * A function in FROM: a set-returning function of set_returning.ts, or
   * pg_partition_ancestors (a table is its own). A one-column function's
   * column takes the alias's name; WITH ORDINALITY numbers the rows.
   */
  #functionInFrom(item: Extract<FromItem, { kind: "function" }>): RowPlan {
    const name = functionName(item.call);
    const args = item.call.args.map((a) => this.compile(a, []));
    let columnsOut: SetColumn[];
    // Each call yields its rows one by one, computed as they are read, so a
    // series of ten million rows is never held.
    let rowsOf: (ctx: RunContext) => Iterator<PgValue[]>;
    if (SET_RETURNING.has(name)) {
      const fn = setFunction(item.call, args, (e) => this.compile(e, []));
      columnsOut = fn.columns;
      rowsOf = (ctx) => fn.rows(evalContext(ctx, []));
    } else if (name === "pg_partition_ancestors" && args.length === 1) {
      columnsOut = [{ name, type: "int8" }];
      rowsOf = (ctx) =>
        [[coerce(args[0], "int8").evaluate(evalContext(ctx, []))]][Symbol.iterator]();
    } else {
      throw new SqlError("0A000", `function ${name} in FROM is not supported`);
    }
    const alias = item.alias?.name ?? name;
    const names = item.alias?.columns ?? [];
    const single = columnsOut.length === 1;
    const columns: ScopeColumn[] = columnsOut.map((c, i) => ({
      ...plainColumn(names[i] ?? (single && item.alias && !c.named ? alias : c.name), c.type),
      table: alias,
      ...(single && c.named && names.length === 0 ? { wholeRow: alias } : {}),
    }));
    if (item.ordinality) {
      columns.push({
        ...plainColumn(names[columnsOut.length] ?? "ordinality", "int8"),
        table: alias,
      });
    }
    if (names.length > columns.length) {
      throw new SqlError(
        "42P10",
        `table "${alias}" has ${columns.length} columns available but ${names.length} columns specified`,
      );
    }
    const subs = this.subqueries;
    const ordinality = item.ordinality === true;
    return {
      columns,
      async *run(ctx) {
        await runSubqueries(subs, ctx);
        const counter = { batches: 0 };
        let ordinal = 0n;
        const rows = rowsOf(ctx);
        let out: PgValue[][] = [];
        for (let r = rows.next(); !r.done; r = rows.next()) {
          out.push(ordinality ? [...r.value, ++ordinal] : r.value);
          if (out.length >= BATCH_ROWS) {
            yield out;
            out = [];
            await pause(ctx, counter);
          }
        }
        if (out.length > 0) yield out;
      },
    };
  }

  #table(item: Extract<FromItem, { kind: "table" }>, where: Expr | null): RowPlan {
    const alias = item.alias?.name ?? item.name[item.name.length - 1];
    // The statement's uncorrelated subqueries (WHERE x IN (SELECT ...)) run
    // before the rows are read; a stored table's plan runs them itself.
    const cte = item.name.length === 1 ? this.ctes.get(item.name[0]) : undefined;
    if (cte?.writesWithoutReturning) {
      throw new SqlError("0A000", `WITH query "${item.name[0]}" does not have a RETURNING clause`);
    }
    if (cte) return withSubqueries(renamed(cte, alias, item.alias?.columns ?? []), this.subqueries);
    const virtual = virtualTable(this.db, this.session, item.name);
    if (virtual) {
      return withSubqueries(renamed(virtual, alias, item.alias?.columns ?? []), this.subqueries);
    }
    const table = this.db.table(item.name, this.session);
    if (table.view) {
      return withSubqueries(this.#view(table, alias, item.alias?.columns ?? []), this.subqueries);
    }
    const scope: ScopeColumn[] = table.columns.map((c, i) => ({
      table: alias,
      name: item.alias?.columns[i] ?? c.name,
      type: c.type,
      tableOid: table.oid,
      columnNumber: i + 1,
      typeModifier: typeModifierOf(c.typeName),
    }));
    const path = where ? this.#accessPath(table, scope, where) : null;
    this.#describeScan(table, path, alias);
    const mark = this.correlated.length;
    const filter = where ? requireBool(this.compile(where, scope), "WHERE").evaluate : null;
    const needs = this.needs(mark, scope);
    const subs = this.subqueries;
    // FOR UPDATE/SHARE (row_locks.ts): the row-locked table is read under an
    // intention lock; any other locked table wholly, for writing if UPDATE.
    const lock = this.#fromLock;
    const clause = lock === null ? null : clauseFor(lock.clauses, alias);
    const tableLock = clause === null || lock?.rowAlias !== alias
      ? undefined
      : exclusive(clause)
      ? "IX" as const
      : "IS" as const;
    const lockTable = clause !== null && tableLock === undefined && exclusive(clause);
    const point = path !== null && path.unique && path.equal.length === path.types.length &&
        needs.length === 0 && clause === null
      ? { table, path, filter }
      : undefined;
    return {
      columns: scope,
      filtered: where !== null,
      point,
      async *run(ctx) {
        await runSubqueries(subs, ctx);
        if (lockTable) await ctx.sqlTx.tx.lockForWrite(table.engineName);
        const e = evalContext(ctx, []);
        for await (const rows of scanTable(ctx, table, path, e, tableLock)) {
          const out: PgValue[][] = [];
          for (const row of rows) {
            const values = rowFromEngine(table, row);
            if (filter !== null) {
              if (needs.length > 0) await runCorrelated(needs, values, ctx);
              e.row = values;
              if (filter(e) !== true) continue;
            }
            out.push(values);
          }
          if (out.length > 0) yield out;
        }
      },
    } as RowPlan;
  }

  /** A view read in FROM: its query planned in place, as a subquery there would be. */
  #view(view: SqlTable, alias: string, names: string[]): RowPlan {
    const parsed = parseStatement(view.view!.query) as SelectStatement;
    const ctes = new Map(this.ctes);
    const outer = this.outer.splice(0);
    this.ctes.clear();
    try {
      const plan = this.select(parsed);
      return renamed(plan, alias, view.columns.map((c, i) => names[i] ?? c.name));
    } finally {
      this.outer.push(...outer);
      for (const [k, v] of ctes) this.ctes.set(k, v);
    }
  }

  #describeScan(table: SqlTable, path: AccessPath | null, alias = table.name): void {
    const on = alias === table.name ? table.name : `${table.name} ${alias}`;
    if (path === null) {
      this.scans.push(`Seq Scan on ${table.name}`);
      this.explainRoots.push({ label: `Seq Scan on ${on}`, details: [], children: [] });
      return;
    }
    const index = path.index === null
      ? table.indexes.find((i) => i.primary && i.engineIndex === null)
      : table.indexes.find((i) => i.engineIndex === path.index);
    const cond = index!.columns.slice(0, path.equal.length).map((c) => `${c} = ?`);
    const next = index!.columns[path.equal.length];
    if (path.lower) cond.push(`${next} ${path.lower.inclusive ? ">=" : ">"} ?`);
    if (path.upper) cond.push(`${next} ${path.upper.inclusive ? "<=" : "<"} ?`);
    this.scans.push(`Index Scan using ${index!.name} on ${table.name} (${cond.join(" AND ")})`);
    this.explainRoots.push({
      label: `Index Scan using ${index!.name} on ${on}`,
      details: [`Index Cond: (${path.conds.join(" AND ")})`],
      children: [],
    });
  }

  /** Replaces the two newest plan trees (a join's sides) with the join's node. */
  #explainJoin(label: (inner: ExplainNode[]) => ExplainNode): void {
    if (this.explainRoots.length < 2) return;
    const right = this.explainRoots.pop()!;
    const left = this.explainRoots.pop()!;
    this.explainRoots.push(label([left, right]));
  }

  /**
   * `expr op constant` where `expr` is an indexed expression of the table
   * (expression_indexes.ts): a term on its hidden key column.
   */
  #expressionTerm(
    table: SqlTable,
    scope: ScopeColumn[],
    expr: Expr,
    other: Expr,
    op: string,
  ): { column: string; op: string; value: Compiled; text: string } | null {
    const key = expressionKey(table, expr);
    if (key === null) return null;
    if (columnPaths(expr).some((path) => !resolveIn(scope, path))) return null;
    let value: Compiled;
    try {
      value = this.compile(other, []);
    } catch {
      return null;
    }
    if (value.type === "unknown") value = coerce(value, key.type);
    if (value.type !== key.type) return null;
    return { column: key.name, op, value, text: `${key.text} ${op} ${printExpr(other)}` };
  }

  /** Picks the index and key bounds for a WHERE clause over one table (see the header). */
  #accessPath(table: SqlTable, scope: ScopeColumn[], where: Expr): AccessPath | null {
    const terms: { column: string; op: string; value: Compiled; text: string }[] = [];
    for (const term of conjuncts(where)) {
      if (term.kind !== "binary" || !["=", "<", "<=", ">", ">="].includes(term.op)) continue;
      for (
        const [col, other, op] of [
          [term.left, term.right, term.op],
          [term.right, term.left, FLIP[term.op]],
        ] as const
      ) {
        if (col.kind !== "column" && isConstant(other)) {
          const term = this.#expressionTerm(table, scope, col, other, op);
          if (term !== null) terms.push(term);
          continue;
        }
        if (col.kind !== "column" || !isConstant(other)) continue;
        const found = resolveIn(scope, col.path);
        if (!found) continue;
        const column = table.columns[found.index];
        if (!indexServes(column.type, op)) continue; // arrays: equality only (array_types.ts)
        let value: Compiled;
        try {
          value = this.compile(other, []);
        } catch {
          continue;
        }
        if (value.type === "unknown") value = coerce(value, column.type);
        if (op !== "=" && enumOf(column.type) !== undefined) continue; // stored by label, not order
        const sameFamily = value.type === column.type ||
          (INTEGER_TYPES.has(value.type) && INTEGER_TYPES.has(column.type)) ||
          (TEXT_TYPES.has(value.type) && TEXT_TYPES.has(column.type) && column.type !== "bpchar");
        if (!sameFamily) continue;
        terms.push({
          column: column.name,
          op,
          value,
          text: `${column.name} ${op} ${printExpr(other)}`,
        });
      }
    }
    if (terms.length === 0) return null;
    const candidates: { index: string | null; columns: string[]; unique: boolean }[] = [];
    for (const index of table.indexes) {
      if (index.engineIndex === null && !table.rowid) {
        candidates.push({ index: null, columns: index.columns, unique: true });
      } else if (index.engineIndex !== null) {
        candidates.push({ index: index.engineIndex, columns: index.columns, unique: index.unique });
      }
    }
    let best: AccessPath | null = null;
    let bestScore = 0;
    for (const c of candidates) {
      const equal: Compiled[] = [];
      const conds: string[] = [];
      for (const name of c.columns) {
        const t = terms.find((x) => x.column === name && x.op === "=");
        if (!t) break;
        equal.push(t.value);
        conds.push(t.text);
      }
      const types = c.columns.map((name) => indexColumnType(table, name));
      let score = equal.length * 10 + (c.unique && equal.length === c.columns.length ? 100 : 0);
      const path: AccessPath = { index: c.index, equal, types, unique: c.unique, conds };
      if (equal.length < c.columns.length) {
        const next = c.columns[equal.length];
        let lowerText: string | null = null;
        let upperText: string | null = null;
        for (const t of terms) {
          if (t.column !== next || t.op === "=") continue;
          if (t.op === ">" || t.op === ">=") {
            path.lower = { value: t.value, inclusive: t.op === ">=" };
            lowerText = t.text;
          } else {
            path.upper = { value: t.value, inclusive: t.op === "<=" };
            upperText = t.text;
          }
        }
        for (const text of [lowerText, upperText]) if (text !== null) conds.push(text);
        if (path.lower || path.upper) score += 5;
      }
      if (score > bestScore) {
        best = path;
        bestScore = score;
      }
    }
    return best;
  }

  #join(type: string, left: RowPlan, right: RowPlan, on: Expr | null): RowPlan {
    if (type === "right") {
      const n = this.explainRoots.length;
      if (n >= 2) {
        [this.explainRoots[n - 2], this.explainRoots[n - 1]] = [
          this.explainRoots[n - 1],
          this.explainRoots[n - 2],
        ];
      }
      const swapped = this.#join("left", right, left, on);
      const nr = right.columns.length;
      const nl = left.columns.length;
      return {
        columns: [...left.columns, ...right.columns],
        async *run(ctx) {
          for await (const batch of swapped.run(ctx)) {
            yield batch.map((r) => [...r.slice(nr, nr + nl), ...r.slice(0, nr)]);
          }
        },
      };
    }
    const scope = [...left.columns, ...right.columns];
    const nl = left.columns.length;
    const nr = right.columns.length;
    // Equality terms between the two sides make a hash join.
    const leftKeys: Compiled[] = [];
    const rightKeys: Compiled[] = [];
    const rest: Expr[] = [];
    const hashTerms: string[] = [];
    const sides = this.explainRoots.splice(Math.max(0, this.explainRoots.length - 2));
    for (const term of on ? conjuncts(on) : []) {
      if (term.kind === "binary" && term.op === "=") {
        const sides = sideOf(term.left, left.columns, right.columns);
        const other = sideOf(term.right, left.columns, right.columns);
        if ((sides === "left" && other === "right") || (sides === "right" && other === "left")) {
          const l = sides === "left" ? term.left : term.right;
          const r = sides === "left" ? term.right : term.left;
          const lc = this.compile(l, left.columns);
          const rc = this.compile(r, right.columns);
          const t = commonType([lc.type, rc.type], "JOIN");
          leftKeys.push(toType(lc, t));
          rightKeys.push(toType(rc, t));
          hashTerms.push(`(${printExpr(l)} = ${printExpr(r)})`);
          // Checked again in full, so that comparisons stay exact.
        }
      }
      rest.push(term);
    }
    if (on) refuseSetFunctions(on, "JOIN conditions");
    const condition = on ? requireBool(this.compile(on, scope), "JOIN/ON").evaluate : null;
    const hash = leftKeys.length > 0;
    const keyOf = hashKeyOf(leftKeys.map((k) => k.type));
    // EXPLAIN: PostgreSQL's node names; the right side is the one held (hashed or looped over).
    this.explainRoots.push(...sides);
    const kind = type === "left" ? " Left" : type === "full" ? " Full" : "";
    this.#explainJoin(([outer, inner]) =>
      hash
        ? {
          label: `Hash${kind} Join`,
          details: [
            `Hash Cond: ${hashTerms.length === 1 ? hashTerms[0] : `(${hashTerms.join(" AND ")})`}`,
          ],
          children: [outer, { label: "Hash", details: [], children: [inner] }],
        }
        : {
          label: `Nested Loop${kind}${type === "inner" || type === "cross" ? "" : " Join"}`,
          details: on ? [`Join Filter: ${parenthesized(printExpr(on))}`] : [],
          children: [outer, { label: "Materialize", details: [], children: [inner] }],
        }
    );
    const outerLeft = type === "left" || type === "full";
    const outerRight = type === "full";
    return {
      columns: scope,
      run: holding(async function* (ctx, hold) {
        const e = evalContext(ctx, []);
        const inner: PgValue[][] = [];
        for await (const batch of right.run(ctx)) {
          hold(batch.length);
          inner.push(...batch);
        }
        const matched = outerRight ? new Uint8Array(inner.length) : null;
        let table: Map<string, number[]> | null = null;
        if (hash) {
          table = new Map();
          for (let i = 0; i < inner.length; i++) {
            e.row = inner[i];
            const key = rightKeys.map((k) => k.evaluate(e));
            if (key.some((v) => v === null)) continue;
            const k = keyOf(key);
            const list = table.get(k);
            if (list) list.push(i);
            else table.set(k, [i]);
          }
        }
        const nullsRight = new Array<PgValue>(nr).fill(null);
        // Output goes out in batches of BATCH_ROWS, and the loop yields to the
        // event loop every PAIRS_PER_YIELD pairs it looks at, matched or not.
        const counter = { batches: 0 };
        let pairs = 0;
        let out: PgValue[][] = [];
        for await (const batch of left.run(ctx)) {
          for (const l of batch) {
            let candidates: Iterable<number>;
            if (table) {
              e.row = l;
              const key = leftKeys.map((k) => k.evaluate(e));
              candidates = key.some((v) => v === null) ? [] : table.get(keyOf(key)) ?? [];
            } else candidates = inner.keys();
            let any = false;
            for (const i of candidates) {
              if (++pairs % PAIRS_PER_YIELD === 0) await pause(ctx, counter, 1);
              const row = [...l, ...inner[i]];
              if (condition) {
                e.row = row;
                if (condition(e) !== true) continue;
              }
              any = true;
              if (matched) matched[i] = 1;
              out.push(row);
              if (out.length >= BATCH_ROWS) {
                yield out;
                out = [];
              }
            }
            if (!any && outerLeft) out.push([...l, ...nullsRight]);
          }
          if (out.length > 0) {
            yield out;
            out = [];
          }
        }
        if (matched) {
          const nullsLeft = new Array<PgValue>(nl).fill(null);
          const out = inner.filter((_, i) => !matched[i]).map((r) => [...nullsLeft, ...r]);
          if (out.length > 0) yield out;
        }
      }),
    };
  }

  // Data changes -------------------------------------------------------------------

  /**
   * WITH in front of INSERT, UPDATE or DELETE: the CTEs are planned as a
   * SELECT's are, then the statement itself; data-modifying CTEs run first.
   */
  #withDml(
    statement: InsertStatement | UpdateStatement | DeleteStatement,
    plan: (s: InsertStatement | UpdateStatement | DeleteStatement) => DmlPlan,
  ): DmlPlan {
    const saved = new Map(this.ctes);
    const top = this.#topLevel;
    this.#topLevel = false;
    try {
      const writers: CteWriter[] = [];
      for (const cte of statement.with!.ctes) {
        const writer = this.#cte(cte, statement.with!.recursive, top);
        if (writer) writers.push(writer);
      }
      const inner = plan({ ...statement, with: null });
      if (writers.length === 0) return { columns: inner.columns, run: inner.run };
      return {
        columns: inner.columns,
        async run(ctx) {
          for (const writer of writers) await writer(ctx);
          return inner.run(ctx);
        },
      };
    } finally {
      this.ctes.clear();
      for (const [k, v] of saved) this.ctes.set(k, v);
    }
  }

  insert(statement: InsertStatement): DmlPlan {
    if (statement.with) return this.#withDml(statement, (s) => this.insert(s as InsertStatement));
    this.#topLevel = false;
    const table = this.db.table(statement.table, this.session);
    requireTable(table, "insert into");
    const targetNames = statement.columns ?? table.columns.map((c) => c.name);
    const targets = targetNames.map((name) => {
      const i = table.columns.findIndex((c) => c.name === name);
      if (i < 0) {
        throw new SqlError("42703", `column "${name}" of relation "${table.name}" does not exist`);
      }
      return i;
    });
    // Each source row: one compiled value per target column, or null for DEFAULT.
    let sourceRows: (Compiled | null)[][] | null = null;
    let sourcePlan: RowPlan | null = null;
    const body = statement.source?.body;
    if (statement.source === null) sourceRows = [[]];
    else if (
      body?.kind === "values" && statement.source.orderBy.length === 0 &&
      statement.source.limit === null && statement.source.offset === null
    ) {
      sourceRows = body.rows.map((row) => {
        if (row.length > targets.length) {
          throw new SqlError("42601", "INSERT has more expressions than target columns");
        }
        return row.map((e, i) =>
          e.kind === "default" ? null : assign(this.compile(e, []), table.columns[targets[i]])
        );
      });
    } else {
      sourcePlan = this.select(statement.source!);
      if (sourcePlan.columns.length > targets.length) {
        throw new SqlError("42601", "INSERT has more expressions than target columns");
      }
    }
    const defaults = table.columns.map((c) => c.default === null ? null : this.defaultOf(c));
    const tableScope = scopeOf(table, statement.alias ?? table.name);
    const returning = this.#returning(statement.returning, tableScope);
    const conflict = statement.onConflict;
    let conflictKeys: SqlIndex[] = uniqueKeys(table);
    let update: { set: [number, Compiled][]; where: Compiled | null } | null = null;
    if (conflict) {
      if (conflict.columns) {
        const wanted = conflict.columns.join(",");
        conflictKeys = conflictKeys.filter((k) => k.columns.join(",") === wanted);
        if (conflictKeys.length === 0) {
          throw new SqlError(
            "42P10",
            "there is no unique or exclusion constraint matching the ON CONFLICT specification",
          );
        }
      } else if (conflict.constraint) {
        conflictKeys = conflictKeys.filter((k) => k.name === conflict.constraint);
      }
      if (conflict.action.kind === "update") {
        const scope = [...tableScope, ...scopeOf(table, "excluded")];
        update = {
          set: conflict.action.set.map((a) => {
            const i = table.columns.findIndex((c) => c.name === a.column);
            if (i < 0) {
              throw new SqlError(
                "42703",
                `column "${a.column}" of relation "${table.name}" does not exist`,
              );
            }
            return [i, assign(this.compile(a.value, scope), table.columns[i])];
          }),
          where: conflict.action.where ? this.compile(conflict.action.where, scope) : null,
        };
      }
    }
    const db = this.db;
    const session = this.session;
    const subs = this.subqueries;
    const rules = this.constraintsOf(table);
    // Rows given as values, and nothing read first from the table itself:
    // the engine locks each new row's key (with the table's intention lock),
    // so inserts of other keys, and updates of other rows, go on meanwhile.
    // Anything that reads before it writes takes the table's write lock
    // first (see lockForWrite).
    const keyed = sourceRows !== null && !conflict && subs.length === 0 &&
      !(table.foreignKeys ?? []).some((fk) => fk.table === table.name);
    const now = sourceRows?.length === 1 && !conflict && !returning && subs.length === 0 &&
        rules === null && keyed
      ? insertNow(db, table, targets, sourceRows[0], { defaults, session: this.session })
      : undefined;
    const sourceTypes = sourcePlan?.columns.map((c) => c.type) ?? [];
    const sourceCasts = sourcePlan
      ? sourceTypes.map((type, i) => {
        const slot: Compiled = { type, evaluate: (ctx) => ctx.row[i] };
        return assign(slot, table.columns[targets[i]]).evaluate;
      })
      : [];
    return {
      columns: returning?.columns ?? null,
      now,
      async run(ctx) {
        if (!keyed || !db.countersReady(table)) await lockForWrite(ctx.sqlTx.tx, table);
        await runSubqueries(subs, ctx);
        const e = evalContext(ctx, []);
        const work = rules ? new ConstraintWork(rules.host, db.spill) : null;
        // Rows this statement inserted or updated (ON CONFLICT DO UPDATE may
        // not update them), counted against the statement's row bound: a
        // set to look rows up in cannot wait in a file.
        const touched = new Set<string>();
        const touch = (key: string) => {
          const size = touched.size;
          touched.add(key);
          if (touched.size > size) holdRows(ctx, 1);
        };
        let count = 0;
        const out = returning ? new RowSpool<PgValue[]>(db.spill) : null;
        const insertOne = async (given: (PgValue | undefined)[]) => {
          const values = new Array<PgValue>(table.columns.length);
          for (let i = 0; i < table.columns.length; i++) {
            const v = given[i];
            if (v !== undefined) values[i] = v;
            else if (table.columns[i].serial) {
              const n = await db.nextval(ctx.sqlTx, table, table.columns[i].name);
              rememberSerial(session, table, table.columns[i], n);
              values[i] = fromCounter(table.columns[i].type, n);
            } else if (defaults[i] !== null) {
              e.row = [];
              values[i] = defaults[i]!(e);
            } else values[i] = null;
          }
          checkNotNull(table, values);
          if (rules) checkRow(table, rules.checks, values, e);
          if (conflict) {
            const existing = await findConflict(ctx.sqlTx.tx, table, conflictKeys, values);
            if (existing) {
              if (!update) return;
              if (touched.has(rowKey(existing))) {
                throw new SqlError(
                  "21000",
                  "ON CONFLICT DO UPDATE command cannot affect row a second time",
                  {
                    hint:
                      "Ensure that no rows proposed for insertion within the same command have duplicate constrained values.",
                  },
                );
              }
              e.row = [...existing, ...values];
              if (update.where && update.where.evaluate(e) !== true) return;
              const next = [...existing];
              for (const [i, c] of update.set) next[i] = c.evaluate(e);
              checkNotNull(table, next);
              if (rules) checkRow(table, rules.checks, next, e);
              await replaceRow(ctx.sqlTx.tx, table, existing, next);
              work?.updated(table, existing, next);
              touch(rowKey(next));
              count++;
              if (out) out.push(returning!.project(next, e));
              return;
            }
          }
          const rowid = table.rowid ? await db.nextval(ctx.sqlTx, table, "") : null;
          await insertRow(ctx.sqlTx.tx, table, rowToEngine(table, values, rowid));
          work?.inserted(table, values);
          if (update) touch(rowKey(values));
          count++;
          if (out) out.push(returning!.project(values, e));
        };
        try {
          if (sourceRows) {
            for (const row of sourceRows) {
              const given = new Array<PgValue | undefined>(table.columns.length).fill(undefined);
              for (let i = 0; i < row.length; i++) {
                const c = row[i];
                if (c !== null) given[targets[i]] = c.evaluate(e);
              }
              await insertOne(given);
            }
          } else {
            for await (const batch of sourcePlan!.run(ctx)) {
              for (const row of batch) {
                const given = new Array<PgValue | undefined>(table.columns.length).fill(undefined);
                e.row = row;
                for (let i = 0; i < row.length; i++) given[targets[i]] = sourceCasts[i](e);
                await insertOne(given);
              }
            }
          }
          await work?.finish(ctx.sqlTx.tx, e);
        } catch (error) {
          out?.close();
          throw error;
        } finally {
          work?.close();
          if (ctx.rowsHeld) ctx.rowsHeld.count -= touched.size;
        }
        return { rows: out ? batchesOf(out, BATCH_ROWS) : null, tag: () => `INSERT 0 ${count}` };
      },
    };
  }

  /**
   * CHECK and FOREIGN KEY enforcement for a statement changing `table`, or
   * null when it has none to enforce (no cost on the common path).
   */
  constraintsOf(table: SqlTable): { host: ConstraintHost; checks: CompiledCheck[] } | null {
    if (!hasConstraints(this.db.tables, table)) return null;
    const host: ConstraintHost = {
      tables: this.db.tables,
      compileCheck: (t, expr) => this.checkOf(t, expr),
      defaultOf: (t, i, ctx) => {
        const column = t.columns[i];
        if (column.default === null) return null;
        const saved = ctx.row;
        ctx.row = [];
        try {
          return this.defaultOf(column)(ctx);
        } finally {
          ctx.row = saved;
        }
      },
    };
    return { host, checks: compileChecks(host, table) };
  }

  /** A CHECK expression (SQL text) compiled over a table's columns. */
  checkOf(table: SqlTable, expr: string): CheckTest {
    const statement = parseStatement(`SELECT ${expr}`);
    const parsed = ((statement as SelectStatement).body as SelectCore).columns[0].expr;
    return requireBool(this.compile(parsed, scopeOf(table, table.name)), "CHECK").evaluate;
  }

  /** A column's DEFAULT, compiled (SERIAL columns are the counters' business). */
  defaultOf(column: SqlColumn): (ctx: EvalContext) => PgValue {
    const statement = parseStatement(`SELECT ${column.default}`);
    const expr = ((statement as SelectStatement).body as SelectCore).columns[0].expr;
    return assign(this.compile(expr, []), column).evaluate;
  }

  #returning(items: { expr: Expr; alias: string | null }[], scope: ScopeColumn[]) {
    if (items.length === 0) return null;
    for (const item of items) refuseSetFunctions(item.expr, "RETURNING");
    const expanded: { expr: Expr; name: string }[] = [];
    for (const item of items) {
      if (item.expr.kind === "star") {
        const table = item.expr.table.at(-1) ?? null;
        const columns = scope.filter((c) => table === null || c.table === table);
        if (columns.length === 0) {
          throw new SqlError("42P01", `missing FROM-clause entry for table "${table}"`);
        }
        for (const c of columns) {
          expanded.push({ expr: { kind: "column", path: [c.table!, c.name] }, name: c.name });
        }
      } else expanded.push({ expr: item.expr, name: item.alias ?? columnNameOf(item.expr) });
    }
    const compiled = expanded.map((x) => {
      const c = this.compile(x.expr, scope);
      return c.type === "unknown" ? coerce(c, "text") : c;
    });
    const columns = expanded.map((x, i) => {
      const found = x.expr.kind === "column" ? resolveIn(scope, x.expr.path) : null;
      const s = found ? scope[found.index] : null;
      return {
        name: x.name,
        type: compiled[i].type,
        tableOid: s?.tableOid ?? 0,
        columnNumber: s?.columnNumber ?? 0,
        typeModifier: s?.typeModifier ?? -1,
      };
    });
    return {
      columns,
      project(row: PgValue[], e: EvalContext): PgValue[] {
        e.row = row;
        return compiled.map((c) => c.evaluate(e));
      },
    };
  }

  /**
   * UPDATE's SET list compiled over `scope`: each target column's index with
   * its value (null for DEFAULT), and the DEFAULT expressions those need.
   */
  #assignments(
    statement: Extract<Statement, { kind: "update" | "delete" }>,
    table: SqlTable,
    scope: ScopeColumn[],
  ) {
    const set = statement.kind === "update"
      ? statement.set.map((a): [number, Compiled | null] => {
        const i = table.columns.findIndex((c) => c.name === a.column);
        if (i < 0) {
          throw new SqlError(
            "42703",
            `column "${a.column}" of relation "${table.name}" does not exist`,
          );
        }
        return [
          i,
          a.value.kind === "default"
            ? null
            : assign(this.compile(a.value, scope), table.columns[i]),
        ];
      })
      : [];
    const defaults = set.map(([i, c]) =>
      c === null && table.columns[i].default !== null ? this.defaultOf(table.columns[i]) : null
    );
    return { set, defaults };
  }

  /** UPDATE and DELETE: change the rows as the scan finds them, or find them first (dml_batches.ts). */
  change(statement: Extract<Statement, { kind: "update" | "delete" }>): DmlPlan {
    if (statement.with) return this.#withDml(statement, (s) => this.change(s as typeof statement));
    this.#topLevel = false;
    if (statement.kind === "update") {
      for (const a of statement.set) refuseSetFunctions(a.value, "UPDATE");
    }
    if ((statement.kind === "update" ? statement.from : statement.using).length > 0) {
      return this.#changeJoined(statement);
    }
    const table = this.db.table(statement.table, this.session);
    requireTable(table, statement.kind === "update" ? "update" : "delete from");
    const alias = statement.alias ?? table.name;
    const scope = scopeOf(table, alias);
    const path = statement.where ? this.#accessPath(table, scope, statement.where) : null;
    this.#describeScan(table, path);
    const mark = this.correlated.length;
    const where = statement.where
      ? requireBool(this.compile(statement.where, scope), "WHERE").evaluate
      : null;
    const { set, defaults } = this.#assignments(statement, table, scope);
    const returning = this.#returning(statement.returning, scope);
    const needs = this.needs(mark, scope);
    const subs = this.subqueries;
    const kind = statement.kind;
    const rules = this.constraintsOf(table);
    // By the whole primary key, with no subquery: lock just that row's key
    // before reading it (Transaction.lockKeyForWrite), so writers of other
    // rows of the table are not held up.
    const keyed = path !== null && path.index === null && path.unique &&
        path.equal.length === path.types.length && subs.length === 0 && needs.length === 0
      ? path
      : null;
    // Change rows as the scan finds them unless a change could move one
    // ahead of it (dml_batches.ts); else find them all first, set aside.
    const inScan = changesInScan(
      table,
      path?.index ?? null,
      kind === "update" ? set.map(([i]) => i) : null,
      needs.length > 0,
    );
    const spill = this.db.spill;
    return {
      columns: returning?.columns ?? null,
      async run(ctx) {
        if (keyed === null) await lockForWrite(ctx.sqlTx.tx, table);
        else {
          const key = pointKey(keyed, evalContext(ctx, []));
          if (key !== null) await ctx.sqlTx.tx.lockKeyForWrite(table.engineName, key);
        }
        await runSubqueries(subs, ctx);
        const e = evalContext(ctx, []);
        const out = returning ? new RowSpool<PgValue[]>(spill) : null;
        const work = rules ? new ConstraintWork(rules.host, spill) : null;
        const moves = new RowSpool(spill);
        let count = 0;
        const changeOne = async (row: Row, old: PgValue[]) => {
          count++;
          e.row = old;
          if (kind === "delete") {
            await ctx.sqlTx.tx.delete(table.engineName, engineKey(table, row));
            work?.deleted(table, old);
            if (out) out.push(returning!.project(old, e));
            return;
          }
          const next = [...old];
          set.forEach(([i, c], j) => {
            next[i] = c ? c.evaluate(e) : defaults[j] ? defaults[j]!(e) : null;
          });
          checkNotNull(table, next);
          if (rules) checkRow(table, rules.checks, next, e);
          await replaceRow(ctx.sqlTx.tx, table, old, next, row, moves);
          work?.updated(table, old, next);
          if (out) out.push(returning!.project(next, e));
        };
        try {
          if (inScan) {
            for await (const rows of scanTable(ctx, table, path, e)) {
              for (const row of rows) {
                const old = rowFromEngine(table, row);
                if (where) {
                  e.row = old;
                  if (where(e) !== true) continue;
                }
                await changeOne(row, old);
              }
            }
          } else {
            using found = new RowSpool(spill);
            for await (const rows of scanTable(ctx, table, path, e)) {
              for (const row of rows) {
                if (where) {
                  e.row = rowFromEngine(table, row);
                  if (needs.length > 0) await runCorrelated(needs, e.row, ctx);
                  if (where(e) !== true) continue;
                }
                found.push(row);
              }
            }
            for (const row of found.drain()) {
              const old = rowFromEngine(table, row);
              if (needs.length > 0) await runCorrelated(needs, old, ctx);
              await changeOne(row, old);
            }
          }
          // Rows whose key changed go in once every old row is out, so
          // `SET id = id + 1` never meets a row it is about to move.
          for (const moved of moves.drain()) await insertRow(ctx.sqlTx.tx, table, moved);
          await work?.finish(ctx.sqlTx.tx, e);
        } catch (error) {
          out?.close();
          throw error;
        } finally {
          moves.close();
          work?.close();
        }
        const tag = `${kind.toUpperCase()} ${count}`;
        return { rows: out ? batchesOf(out, BATCH_ROWS) : null, tag: () => tag };
      },
    };
  }
  /**
   * UPDATE ... FROM and DELETE ... USING: the target table joined to the
   * other FROM items (by hash on the WHERE's equalities between the two
   * sides, as a comma join is), the WHERE applied to the joined row, and
   * each target row changed once: PostgreSQL too takes one of the joined
   * rows, unspecified which, when several match. SET, WHERE and RETURNING
   * see the columns of every item. The target's rows travel through the
   * join as values, with its hidden row number (if it has one) in a column
   * nobody can name; the engine row is rebuilt from them (the table is
   * locked for writing before the scan, so it is the stored one).
   */
  #changeJoined(statement: Extract<Statement, { kind: "update" | "delete" }>): DmlPlan {
    const table = this.db.table(statement.table, this.session);
    requireTable(table, statement.kind === "update" ? "update" : "delete from");
    const alias = statement.alias ?? table.name;
    const targetScope = scopeOf(table, alias);
    const hidden: ScopeColumn = {
      table: null,
      name: "",
      type: "int8",
      tableOid: 0,
      columnNumber: 0,
      typeModifier: -1,
    };
    const target: RowPlan = {
      columns: [...targetScope, hidden],
      async *run(ctx) {
        const e = evalContext(ctx, []);
        for await (const rows of scanTable(ctx, table, null, e)) {
          yield rows.map((row) => [
            ...rowFromEngine(table, row),
            table.rowid ? row[0] as bigint : null,
          ]);
        }
      },
    };
    this.#describeScan(table, null, alias);
    const others = this.#from(statement.kind === "update" ? statement.from : statement.using, null);
    const width = targetScope.length;
    const equalities = statement.where === null ? [] : conjuncts(statement.where).filter((t) => {
      if (t.kind !== "binary" || t.op !== "=") return false;
      const a = sideOf(t.left, target.columns, others.columns);
      const b = sideOf(t.right, target.columns, others.columns);
      return (a === "left" && b === "right") || (a === "right" && b === "left");
    });
    const on = equalities.reduce<Expr | null>(
      (all, t) => all === null ? t : { kind: "binary", op: "and", left: all, right: t },
      null,
    );
    const joined = this.#join(on === null ? "cross" : "inner", target, others, on);
    const scope = [...targetScope, ...others.columns];
    const mark = this.correlated.length;
    const where = statement.where
      ? requireBool(this.compile(statement.where, scope), "WHERE").evaluate
      : null;
    const { set, defaults } = this.#assignments(statement, table, scope);
    const returning = this.#returning(statement.returning, scope);
    const needs = this.needs(mark, scope);
    const subs = this.subqueries;
    const kind = statement.kind;
    const rules = this.constraintsOf(table);
    // The target's scan is a full scan of its primary key: rows change as
    // the join meets them unless a correlated subquery could see them
    // changed (dml_batches.ts).
    const inScan = changesInScan(table, null, null, needs.length > 0);
    const spill = this.db.spill;
    return {
      columns: returning?.columns ?? null,
      async run(ctx) {
        await lockForWrite(ctx.sqlTx.tx, table);
        await runSubqueries(subs, ctx);
        const e = evalContext(ctx, []);
        const out = returning ? new RowSpool<PgValue[]>(spill) : null;
        const work = rules ? new ConstraintWork(rules.host, spill) : null;
        const moves = new RowSpool(spill);
        let count = 0;
        const changeOne = async (row: Row, joint: PgValue[]) => {
          count++;
          const old = joint.slice(0, width);
          e.row = joint;
          if (kind === "delete") {
            await ctx.sqlTx.tx.delete(table.engineName, engineKey(table, row));
            work?.deleted(table, old);
            if (out) out.push(returning!.project(joint, e));
            return;
          }
          const next = [...old];
          set.forEach(([i, c], j) => {
            next[i] = c ? c.evaluate(e) : defaults[j] ? defaults[j]!(e) : null;
          });
          checkNotNull(table, next);
          if (rules) checkRow(table, rules.checks, next, e);
          await replaceRow(ctx.sqlTx.tx, table, old, next, row, moves);
          work?.updated(table, old, next);
          if (out) out.push(returning!.project([...next, ...joint.slice(width)], e));
        };
        // Each target row once, with the first joined row that passed the
        // WHERE. The join streams the target (its outer side) and emits a
        // target row's matches one after another, so the last key kept is
        // all it takes to skip the others.
        let lastKept: string | null = null;
        try {
          using found = inScan ? null : new RowSpool<PgValue[]>(spill);
          for await (const rows of joined.run(ctx)) {
            for (const r of rows) {
              const joint = [...r.slice(0, width), ...r.slice(width + 1)];
              if (where) {
                e.row = joint;
                if (needs.length > 0) await runCorrelated(needs, joint, ctx);
                if (where(e) !== true) continue;
              }
              const rowid = r[width] as bigint | null;
              const row = rowToEngine(table, r.slice(0, width), rowid);
              const id = engineKey(table, row).map(keyText).join("\u0000");
              if (id === lastKept) continue;
              lastKept = id;
              if (found === null) await changeOne(row, joint);
              else found.push([...joint, rowid]);
            }
          }
          if (found !== null) {
            for (const kept of found.drain()) {
              const joint = kept.slice(0, -1);
              const row = rowToEngine(table, joint.slice(0, width), kept.at(-1) as bigint | null);
              if (needs.length > 0) await runCorrelated(needs, joint, ctx);
              await changeOne(row, joint);
            }
          }
          for (const moved of moves.drain()) await insertRow(ctx.sqlTx.tx, table, moved);
          await work?.finish(ctx.sqlTx.tx, e);
        } catch (error) {
          out?.close();
          throw error;
        } finally {
          moves.close();
          work?.close();
        }
        const tag = `${kind.toUpperCase()} ${count}`;
        return { rows: out ? batchesOf(out, BATCH_ROWS) : null, tag: () => tag };
      },
    };
  }
}

// Plans ---------------------------------------------------------------------------

/** An engine key value as text, to tell rows apart (the types differ in their spelling). */
function keyText(value: Value): string {
  if (value instanceof Uint8Array) return `x${Array.from(value).join(",")}`;
  return `${typeof value}:${String(value)}`;
}

/** One node of EXPLAIN's plan tree, printed as PostgreSQL prints its own. */
interface ExplainNode {
  label: string;
  details: string[];
  children: ExplainNode[];
}

function parenthesized(text: string): string {
  return text.startsWith("(") && text.endsWith(")") ? text : `(${text})`;
}

/** PostgreSQL's EXPLAIN text: `->  ` before each child, its details indented under it. */
function explainLines(node: ExplainNode, depth = 0, out: string[] = []): string[] {
  const pad = depth === 0 ? "" : " ".repeat(6 * depth - 6) + "  ->  ";
  const detailPad = depth === 0 ? "  " : " ".repeat(6 * depth + 2);
  out.push(pad + node.label);
  for (const d of node.details) out.push(detailPad + d);
  for (const child of node.children) explainLines(child, depth + 1, out);
  return out;
}

interface RowPlan {
  columns: ScopeColumn[];
  /** Set when the plan already applied the statement's WHERE. */
  filtered?: boolean;
  /** Set while the plan is still a key-equality lookup on one unique key (see `pointRead`). */
  point?: PointPlan;
  /** A data-modifying CTE without RETURNING: reading it is 0A000. */
  writesWithoutReturning?: boolean;
  run(ctx: RunContext): AsyncGenerator<PgValue[][]>;
}

/**
 * A stored table read by every column of its primary key or of a unique
 * index, the WHERE checked on the one row, and, once the select list is
 * planned, plain expressions over that row as the output.
 */
interface PointPlan {
  table: SqlTable;
  path: AccessPath;
  filter: ((e: EvalContext) => PgValue) | null;
  outputs?: ((e: EvalContext) => PgValue)[];
}

/**
 * The fast path of a prepared `SELECT ... WHERE key = $1`: the same lookup
 * and projection as the plan's generators, with no generator, batch or run
 * context, and no await when the lock is free and the row's commit durable
 * (the engine's `getNow`). Chosen once per plan, in `prepare`.
 */
function pointRead(point: PointPlan): PointRead | undefined {
  const { table, path, filter, outputs } = point;
  if (outputs === undefined) return undefined;
  return (sqlTx, params, alone) => {
    const e = new PointContext(sqlTx, params);
    const key = new Array<Value>(path.equal.length);
    for (let i = 0; i < key.length; i++) {
      const v = path.equal[i].evaluate(e);
      if (v === null) return [];
      key[i] = toEngine(path.types[i], normalizeKey(path.types[i], v));
    }
    const found = sqlTx.tx.getNow(table.engineName, path.index, key, alone);
    if (found === null) return null;
    if (found.row === undefined) return [];
    e.row = rowFromEngine(table, found.row);
    if (filter !== null && filter(e) !== true) return [];
    const out = new Array<PgValue>(outputs.length);
    for (let c = 0; c < outputs.length; c++) out[c] = outputs[c](e);
    return [out];
  };
}

/** A point lookup's EvalContext: a class, so making one per lookup makes no accessor. */
class PointContext implements RowContext {
  row: PgValue[] = [];
  readonly params: readonly PgValue[];
  readonly #sqlTx: SqlTransaction;
  constructor(sqlTx: SqlTransaction, params: readonly PgValue[]) {
    this.#sqlTx = sqlTx;
    this.params = params;
  }
  get nowMicros(): bigint {
    return this.#sqlTx.startMicros;
  }
}

interface DmlPlan {
  columns: ResultColumn[] | null;
  run(ctx: RunContext): Promise<Result>;
  /** Set for a single-row INSERT that can run synchronously (see `insertNow`). */
  now?: InsertNow;
}

/**
 * The synchronous path of a single-row `INSERT ... VALUES` (pgbench's
 * autocommit insert), for a table without CHECK or foreign keys, with no
 * ON CONFLICT, RETURNING or subquery: the same steps as the general
 * `insertOne` in the same order (values given, then counters and defaults
 * column by column, NOT NULL, the hidden row number, the engine's insert
 * under the row's key lock), with no promise when nothing waits. Null,
 * with nothing done, when a counter is not started or must reserve numbers
 * first (the general path reserves them). Once the row is computed, a lock
 * that must be waited for, or a row the engine refuses, continues in the
 * general path's `insertRow` with that same row, so the wait, the
 * deadlock and timeout errors and the unique violation's message are the
 * general path's.
 */
function insertNow(
  db: Database,
  table: SqlTable,
  targets: number[],
  source: (Compiled | null)[],
  options: {
    defaults: (((ctx: EvalContext) => PgValue) | null)[];
    /** Whose currval a SERIAL number drawn sets. */
    session: object;
  },
): InsertNow {
  const { defaults, session } = options;
  const n = table.columns.length;
  const givenColumns = new Set(targets.filter((_, i) => i < source.length && source[i] !== null));
  const serials = table.columns.filter((c, i) => c.serial && !givenColumns.has(i)).map((c) =>
    c.name
  );
  return (sqlTx, params) => {
    if (!db.countersReady(table) || !db.numbersReadyNow(table, serials)) return null;
    const e: RowContext = {
      row: [],
      params,
      get nowMicros() {
        return sqlTx.startMicros;
      },
    };
    const given = new Array<PgValue | undefined>(n).fill(undefined);
    for (let i = 0; i < source.length; i++) {
      const c = source[i];
      if (c !== null) given[targets[i]] = c.evaluate(e);
    }
    const values = new Array<PgValue>(n);
    for (let i = 0; i < n; i++) {
      const v = given[i];
      if (v !== undefined) values[i] = v;
      else if (table.columns[i].serial) {
        const drawn = db.nextvalNow(table, table.columns[i].name)!;
        rememberSerial(session, table, table.columns[i], drawn);
        values[i] = fromCounter(table.columns[i].type, drawn);
      } else if (defaults[i] !== null) values[i] = defaults[i]!(e);
      else values[i] = null;
    }
    checkNotNull(table, values);
    const row = rowToEngine(table, values, table.rowid ? db.nextvalNow(table, "")! : null);
    let inserted = false;
    try {
      // A hidden row number is never given twice nor named by any statement.
      inserted = sqlTx.tx.insertNow(table.engineName, row, { freshKey: table.rowid });
    } catch (error) {
      if (!(error instanceof ConstraintError)) throw error;
    }
    return inserted ? 1 : insertRow(sqlTx.tx, table, row).then(() => 1);
  };
}

interface AccessPath {
  /** Engine index name, or null for the engine's primary key. */
  index: string | null;
  equal: Compiled[];
  types: SqlType[];
  /** True when the index is unique: all of its columns equal find at most one row. */
  unique: boolean;
  lower?: { value: Compiled; inclusive: boolean };
  upper?: { value: Compiled; inclusive: boolean };
  /** The terms it uses as SQL text, for EXPLAIN's Index Cond. */
  conds: string[];
}

const FLIP: Record<string, string> = { "=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<=" };
const INTEGER_TYPES: ReadonlySet<SqlType> = new Set(["int2", "int4", "int8"]);
const TEXT_TYPES: ReadonlySet<SqlType> = new Set(["text", "varchar", "bpchar"]);

async function* scanTable(
  ctx: RunContext,
  table: SqlTable,
  path: AccessPath | null,
  e: EvalContext,
  tableLock?: "IS" | "IX",
): AsyncGenerator<Row[]> {
  const tx = ctx.sqlTx.tx;
  const counter = { batches: 0 };
  if (path === null) {
    for await (const batch of tx.scanBatches(table.engineName, null, { tableLock })) {
      yield batch;
      await pause(ctx, counter);
    }
    return;
  }
  const key = pointKey(path, e);
  if (key === null) return;
  if (path.unique && key.length === path.types.length && tableLock === undefined) {
    // Fast path: the whole primary key, or every column of a unique index,
    // is given, so at most one row: one descent of the tree and one row
    // read, instead of a batched range scan that finds the same row.
    const row = path.index === null
      ? await tx.get(table.engineName, key)
      : await tx.getByUnique(table.engineName, path.index, key);
    if (row !== undefined) yield [row];
    return;
  }
  const options: Parameters<Transaction["scanBatches"]>[2] = { tableLock };
  if (key.length > 0) {
    options.lower = key;
    options.upper = key;
  }
  const type = path.types[path.equal.length];
  if (path.lower) {
    const v = path.lower.value.evaluate(e);
    if (v === null) return;
    options.lower = [...key, toEngine(type, normalizeKey(type, v))];
    options.lowerInclusive = path.lower.inclusive;
  }
  if (path.upper) {
    const v = path.upper.value.evaluate(e);
    if (v === null) return;
    options.upper = [...key, toEngine(type, normalizeKey(type, v))];
    options.upperInclusive = path.upper.inclusive;
  }
  for await (const batch of tx.scanBatches(table.engineName, path.index, options)) {
    yield batch;
    await pause(ctx, counter);
  }
}

/** The values of an access path's equal columns, as the engine keys them; null if one is NULL (no row matches). */
function pointKey(path: AccessPath, e: EvalContext): Value[] | null {
  const key: Value[] = [];
  for (let i = 0; i < path.equal.length; i++) {
    const v = path.equal[i].evaluate(e);
    if (v === null) return null;
    key.push(toEngine(path.types[i], normalizeKey(path.types[i], v)));
  }
  return key;
}

/** A key constant of an integer family as the column's JS representation. */
function normalizeKey(type: SqlType, value: PgValue): PgValue {
  if (INTEGER_TYPES.has(type)) return type === "int8" ? BigInt(value as number) : Number(value);
  return value;
}

function filterPlan(plan: RowPlan, condition: Compiled, needs: Subquery[] = []): RowPlan {
  const test = condition.evaluate;
  return {
    columns: plan.columns,
    async *run(ctx) {
      const e = evalContext(ctx, []);
      for await (const batch of plan.run(ctx)) {
        const out: PgValue[][] = [];
        for (const row of batch) {
          if (needs.length > 0) await runCorrelated(needs, row, ctx);
          e.row = row;
          if (test(e) === true) out.push(row);
        }
        if (out.length > 0) yield out;
      }
    },
  };
}

function distinctPlan(plan: RowPlan, width: number): RowPlan {
  const normalize = equalityKey(plan.columns.slice(0, width).map((c) => c.type));
  return {
    columns: plan.columns,
    run: holding(async function* (ctx, hold) {
      const seen = new Set<string>();
      for await (const batch of plan.run(ctx)) {
        const out = batch.filter((row) => {
          const values = row.slice(0, width);
          const k = rowKey(normalize === null ? values : normalize(values));
          if (seen.has(k)) return false;
          hold(1);
          seen.add(k);
          return true;
        });
        if (out.length > 0) yield out;
      }
    }),
  };
}

/**
 * SELECT DISTINCT ON (...): the first row of each run of rows with equal
 * `keys` (column positions) in sorted input, cut to `width` columns.
 */
function distinctOnPlan(plan: RowPlan, keys: number[], width: number): RowPlan {
  const keyOf = hashKeyOf(keys.map((at) => plan.columns[at].type));
  return {
    columns: plan.columns.slice(0, width),
    async *run(ctx) {
      let last: string | null = null;
      for await (const batch of plan.run(ctx)) {
        const out: PgValue[][] = [];
        for (const row of batch) {
          const k = keyOf(keys.map((at) => row[at]));
          if (k === last) continue;
          last = k;
          out.push(row.length === width ? row : row.slice(0, width));
        }
        if (out.length > 0) yield out;
      }
    },
  };
}

/**
 * PostgreSQL's rule: the ORDER BY's leading items must be DISTINCT ON
 * expressions (42P10 otherwise), so that equal keys sort next to each other.
 */
function checkDistinctOn(
  distinctOn: Expr[],
  distinctRefs: (number | null)[],
  orderBy: OrderItem[],
  orderRefs: (number | null)[],
): void {
  const name = (ref: number | null, e: Expr) => ref !== null ? `#${ref}` : printExpr(e);
  const distinct = new Set(distinctOn.map((e, i) => name(distinctRefs[i], e)));
  for (let i = 0; i < Math.min(orderBy.length, distinctOn.length); i++) {
    if (!distinct.has(name(orderRefs[i], orderBy[i].expr))) {
      throw new SqlError(
        "42P10",
        "SELECT DISTINCT ON expressions must match initial ORDER BY expressions",
      );
    }
  }
}

function sortPlan(
  plan: RowPlan,
  keys: { compiled: Compiled; item: OrderItem }[],
  width: number,
): RowPlan {
  const compares = keys.map(({ compiled, item }) => {
    const compare = comparator(compiled.type);
    const desc = item.direction === "desc";
    // NULLS LAST is the default for ascending order, NULLS FIRST for descending.
    const nullsFirst = item.nulls === null ? desc : item.nulls === "first";
    return { evaluate: compiled.evaluate, compare, desc, nullsFirst };
  });
  return {
    columns: plan.columns.slice(0, width),
    run: holding(async function* (ctx, hold) {
      const all: { row: PgValue[]; key: PgValue[] }[] = [];
      const e = evalContext(ctx, []);
      for await (const batch of plan.run(ctx)) {
        hold(batch.length);
        for (const row of batch) {
          e.row = row;
          all.push({ row, key: compares.map((c) => c.evaluate(e)) });
        }
      }
      all.sort((a, b) => {
        for (let i = 0; i < compares.length; i++) {
          const c = compares[i];
          const x = a.key[i];
          const y = b.key[i];
          if (x === null || y === null) {
            if (x === y) continue;
            return (x === null) === c.nullsFirst ? -1 : 1;
          }
          const r = c.compare(x, y);
          if (r !== 0) return c.desc ? -r : r;
        }
        return 0;
      });
      for (let i = 0; i < all.length; i += BATCH_ROWS) {
        yield all.slice(i, i + BATCH_ROWS).map((x) =>
          x.row.length > width ? x.row.slice(0, width) : x.row
        );
      }
    }),
  };
}

/**
 * A plan run once per statement execution however often it is read (a CTE):
 * its rows are kept for that execution only (keyed by its RunContext, so a
 * prepared statement run again reads the tables again) and count against the
 * statement's bound until it ends.
 */
function materialized(plan: RowPlan): RowPlan {
  const runs = new WeakMap<RunContext, PgValue[][]>();
  return {
    columns: plan.columns,
    async *run(ctx) {
      let rows = runs.get(ctx);
      if (rows === undefined) {
        const all: PgValue[][] = [];
        for await (const batch of plan.run(ctx)) {
          holdRows(ctx, batch.length);
          for (const row of batch) all.push(row);
        }
        runs.set(ctx, rows = all);
      }
      for (let i = 0; i < rows.length; i += BATCH_ROWS) yield rows.slice(i, i + BATCH_ROWS);
    },
  };
}

function renamed(plan: RowPlan, alias: string, names: string[]): RowPlan {
  return {
    columns: plan.columns.map((c, i) => ({ ...c, table: alias, name: names[i] ?? c.name })),
    run: (ctx) => plan.run(ctx),
  };
}

function oneRowPlan(subs: Subquery[]): RowPlan {
  return {
    columns: [],
    async *run(ctx) {
      await runSubqueries(subs, ctx);
      yield [[]];
    },
  };
}

function withSubqueries(plan: RowPlan, subs: Subquery[]): RowPlan {
  return {
    columns: plan.columns,
    async *run(ctx) {
      await runSubqueries(subs, ctx);
      yield* plan.run(ctx);
    },
  };
}

async function runSubqueries(subs: Subquery[], ctx: RunContext): Promise<void> {
  for (const sub of subs) {
    if (sub.ranIn === ctx) continue;
    sub.ranIn = ctx;
    const rows: PgValue[][] = [];
    for await (const batch of sub.plan.run(ctx)) rows.push(...batch);
    sub.rows = rows;
  }
}

/** Runs the correlated subqueries of one outer row, so its expressions can read their rows. */
async function runCorrelated(subs: Subquery[], row: PgValue[], ctx: RunContext): Promise<void> {
  for (const sub of subs) {
    sub.outer!.row = row;
    const rows: PgValue[][] = [];
    for await (const batch of sub.plan.run(ctx)) rows.push(...batch);
    sub.rows = rows;
  }
}

async function* fromArray(rows: PgValue[][]): AsyncGenerator<PgValue[][]> {
  for (let i = 0; i < rows.length; i += BATCH_ROWS) yield rows.slice(i, i + BATCH_ROWS);
}

// Aggregates ----------------------------------------------------------------------

const AGGREGATES: ReadonlySet<string> = new Set([
  "count",
  "sum",
  "avg",
  "min",
  "max",
  "bool_and",
  "bool_or",
  "every",
  "string_agg",
  "jsonb_agg",
  "jsonb_object_agg",
  "array_agg",
  "json_agg",
  "json_object_agg",
  ...VARIANCE_AGGREGATES,
  ...ORDERED_SET_AGGREGATES,
]);

/** The functions that take a whole-row reference (`row_to_json(t)`), see #wholeRow. */
const ROW_JSON_FUNCTIONS: ReadonlySet<string> = new Set(["row_to_json", "to_json", "to_jsonb"]);

/** Compiled whole-row references: json_agg puts a newline between rows, as PostgreSQL. */
const WHOLE_ROWS = new WeakSet<Compiled>();

type Accumulator = Record<string, unknown>;

/** sum(interval) field by field, avg(interval) as that sum / count (interval_div), as PostgreSQL. */
function intervalSumOrAverage(
  name: string,
  filter: ((ctx: EvalContext) => PgValue) | null,
  evaluate: (ctx: EvalContext) => PgValue,
  distinct: boolean,
): AggregateSpec {
  return aggregate("interval", filter, evaluate, distinct, {
    start: () => ({ n: 0n, sum: null }),
    add: (acc, v) => {
      acc.n = (acc.n as bigint) + 1n;
      const value = intervalFields(v as string);
      acc.sum = (acc.sum === null ? value : addIntervals(acc.sum as Interval, value, 1)) as never;
    },
    finish: (acc) => {
      if (acc.sum === null) return null;
      const sum = acc.sum as Interval;
      return formatInterval(name === "avg" ? scaleInterval(sum, Number(acc.n), true) : sum);
    },
  }, "interval");
}

/** pg_sleep looks for a cancel or statement_timeout this often. */
const SLEEP_SLICE_MS = 50;

/** Types PostgreSQL 15 has no min() or max() for. */
const NO_MIN_MAX: ReadonlySet<SqlType> = new Set<SqlType>([
  "bool",
  "uuid",
  "bytea",
  "json",
  "jsonb",
]);

/** Aggregates whose result shows the order of their input (DISTINCT then sorts it). */
const ORDER_SENSITIVE = new Set([
  "array_agg",
  "string_agg",
  "json_agg",
  "jsonb_agg",
  "json_object_agg",
  "jsonb_object_agg",
]);

function aggregate(
  type: SqlType,
  filter: ((ctx: EvalContext) => PgValue) | null,
  arg: ((ctx: EvalContext) => PgValue) | null,
  distinct: boolean,
  f: {
    start(): Accumulator;
    add(acc: Accumulator, v: PgValue): void;
    finish(acc: Accumulator): PgValue;
  },
  /** The argument's type, when DISTINCT must compare its values as that type does. */
  argType: SqlType = "text",
): AggregateSpec {
  const distinctKey = distinct ? hashKeyOf([argType]) : rowKey;
  return {
    type,
    start: () => {
      const acc = f.start();
      if (distinct) acc.seen = new Set<string>();
      return acc;
    },
    step(acc, ctx) {
      if (filter !== null && filter(ctx) !== true) return;
      const v = arg === null ? true : arg(ctx);
      if (v === null) return;
      if (distinct) {
        const seen = acc.seen as Set<string>;
        const k = distinctKey([v]);
        if (seen.has(k)) return;
        seen.add(k);
      }
      f.add(acc, v);
    },
    finish: f.finish,
  };
}

/**
 * grouping(a, b, ...): a bit per argument, the first the highest, set when
 * the row's grouping set leaves that expression out (PostgreSQL 15 9.22).
 */
function groupingCall(
  call: FunctionCall,
  groupText: string[],
  sets: number[][] | null,
  setColumn: number,
): Compiled {
  const indexes = call.args.map((a) => groupText.indexOf(printExpr(a)));
  if (call.args.length === 0 || indexes.some((i) => i < 0)) {
    throw new SqlError(
      "42803",
      "arguments to GROUPING must be grouping expressions of the associated query level",
    );
  }
  const values = (sets ?? [groupText.map((_, i) => i)]).map((set) =>
    indexes.reduce((bits, i) => (bits << 1) | (set.includes(i) ? 0 : 1), 0)
  );
  return { type: "int4", evaluate: (ctx) => values[ctx.row[setColumn] as number] };
}

function functionName(call: FunctionCall): string {
  const name = call.name;
  return name.length === 2 && name[0] === "pg_catalog" ? name[1] : name.join(".");
}

/** Whether an expression holds a subquery of any kind. */
function hasSubquery(expr: Expr): boolean {
  let found = false;
  walk(expr, (node) => {
    if (
      node.kind === "subquery" || node.kind === "exists" || node.kind === "in_subquery" ||
      node.kind === "quantified" || node.kind === "array_subquery"
    ) found = true;
    return !found;
  });
  return found;
}

/** The names a FROM list's items go by (table aliases, subquery and function aliases). */
function fromNames(from: FromItem[]): string[] {
  const names: string[] = [];
  const visit = (item: FromItem): void => {
    if (item.kind === "join") {
      visit(item.left);
      visit(item.right);
    } else if (item.kind === "table") {
      names.push(item.alias?.name ?? item.name[item.name.length - 1]);
    } else if (item.alias) names.push(item.alias.name);
  };
  from.forEach(visit);
  return names;
}

function hasAggregate(expr: Expr): boolean {
  let found = false;
  walk(expr, (node) => {
    if (node.kind === "function" && node.over) return false; // a window function (window.ts)
    if (node.kind === "function" && AGGREGATES.has(functionName(node))) found = true;
    // grouping() makes a grouped query too (and is refused without GROUP BY, as PostgreSQL).
    if (node.kind === "function" && functionName(node) === "grouping") found = true;
    return !found && node.kind !== "subquery" && node.kind !== "exists" &&
      node.kind !== "in_subquery";
  });
  return found;
}

/** The set-returning calls of a select-list expression (not looking into subqueries). */
function setReturningCalls(expr: Expr): FunctionCall[] {
  const out: FunctionCall[] = [];
  walk(expr, (node) => {
    if (node.kind === "case") {
      refuseSetFunctions(node, "CASE");
      return false;
    }
    if (node.kind !== "function") return true;
    const name = functionName(node);
    if (name === "coalesce") {
      refuseSetFunctions(node, "COALESCE");
      return false;
    }
    if (node.over || AGGREGATES.has(name)) return false;
    if (SET_RETURNING.has(name)) {
      out.push(node);
      return false;
    }
    return true;
  });
  return out;
}

/**
 * PostgreSQL's 0A000 for a set-returning function where it may not run:
 * WHERE, HAVING, JOIN conditions, VALUES, CASE, COALESCE, inside an
 * aggregate's or window function's arguments.
 */
function refuseSetFunctions(expr: Expr, clause: string): void {
  walk(expr, (node) => {
    if (node.kind !== "function" || !SET_RETURNING.has(functionName(node))) return true;
    if (clause === "aggregate" || clause === "window") {
      throw new SqlError(
        "0A000",
        `${clause} function calls cannot contain set-returning function calls`,
        { hint: "You might be able to move the set-returning function into a LATERAL FROM item." },
      );
    }
    throw new SqlError(
      "0A000",
      `set-returning functions are not allowed in ${clause}`,
      clause === "CASE" || clause === "COALESCE"
        ? { hint: "You might be able to move the set-returning function into a LATERAL FROM item." }
        : undefined,
    );
  });
}

/** Visits an expression's nodes, descending while `visit` returns true. */
function walk(expr: Expr, visit: (e: Expr) => boolean): void {
  if (!visit(expr)) return;
  const go = (e: Expr | null) => e && walk(e, visit);
  switch (expr.kind) {
    case "unary":
    case "not":
    case "is":
      go(expr.operand);
      break;
    case "binary":
    case "distinct_from":
      go(expr.left);
      go(expr.right);
      break;
    case "between":
      go(expr.operand);
      go(expr.low);
      go(expr.high);
      break;
    case "like":
      go(expr.operand);
      go(expr.pattern);
      go(expr.escape);
      break;
    case "in_list":
      go(expr.operand);
      expr.list.forEach(go);
      break;
    case "in_subquery":
    case "quantified":
      go(expr.operand);
      break;
    case "case":
      go(expr.operand);
      for (const w of expr.whens) {
        go(w.when);
        go(w.then);
      }
      go(expr.else);
      break;
    case "cast":
    case "field":
      go(expr.operand);
      break;
    case "function":
      expr.args.forEach(go);
      go(expr.filter);
      break;
    case "array":
      expr.elements.forEach(go);
      break;
    case "subscript":
      go(expr.operand);
      go(expr.index);
      go(expr.upper ?? null);
      break;
    case "quantified_array":
      go(expr.operand);
      go(expr.array);
      break;
    default:
      break;
  }
}

// Helpers ---------------------------------------------------------------------------

/** An EvalContext whose row the executor moves along. */
interface RowContext extends EvalContext {
  row: PgValue[];
}

function evalContext(ctx: RunContext, row: PgValue[]): RowContext {
  // now() is rare: read the clock only when an expression asks for it.
  return {
    row,
    params: ctx.params,
    get nowMicros() {
      return statementClock(ctx);
    },
  };
}

/** now() is the transaction's start, as in PostgreSQL. */
function statementClock(ctx: RunContext): bigint {
  return ctx.sqlTx.startMicros;
}

function requireBool(value: Compiled, what: string): Compiled {
  if (value.type === "unknown") return coerce(value, "bool");
  if (value.type !== "bool") {
    throw new SqlError(
      "42804",
      `argument of ${what} must be type boolean, not type ${typeDisplayName(value.type)}`,
    );
  }
  return value;
}

/** A value's text form (rowKey, string_agg). */
function formatValue(type: SqlType, value: Exclude<PgValue, null>): string {
  if (type === "unknown" || typeof value === "string") return String(value);
  return formatText(typeOidOf(type), value);
}

function typeOidOf(type: SqlType): number {
  return (OID as Record<string, number>)[type] ?? OID.text;
}

function conjuncts(expr: Expr): Expr[] {
  if (expr.kind === "binary" && expr.op === "and") {
    return [...conjuncts(expr.left), ...conjuncts(expr.right)];
  }
  return [expr];
}

/** True for an expression with no column references or subqueries: a constant or parameter. */
function isConstant(expr: Expr): boolean {
  let constant = true;
  walk(expr, (e) => {
    if (
      e.kind === "column" || e.kind === "subquery" || e.kind === "exists" ||
      e.kind === "in_subquery" || e.kind === "quantified"
    ) {
      constant = false;
    }
    if (e.kind === "function" && functionName(e) === "random") constant = false;
    return constant;
  });
  return constant;
}

function sideOf(
  expr: Expr,
  left: ScopeColumn[],
  right: ScopeColumn[],
): "left" | "right" | "both" | "none" {
  let l = false;
  let r = false;
  let other = false;
  walk(expr, (e) => {
    if (e.kind === "column") {
      let inLeft = false;
      let inRight = false;
      try {
        inLeft = resolveIn(left, e.path) !== null;
        inRight = resolveIn(right, e.path) !== null;
      } catch {
        other = true;
      }
      if (inLeft && inRight) other = true;
      l ||= inLeft;
      r ||= inRight;
    } else if (e.kind === "subquery" || e.kind === "exists" || e.kind === "in_subquery") {
      other = true;
    }
    return true;
  });
  if (other || (l && r)) return "both";
  return l ? "left" : r ? "right" : "none";
}

/** An ORDER BY or GROUP BY term that names an output column: its index, or null. */
function outputReference(expr: Expr, names: string[], groupBy = false): number | null {
  if (expr.kind === "number" && /^\d+$/.test(expr.text)) {
    const n = Number(expr.text);
    if (n < 1 || n > names.length) {
      throw new SqlError(
        "42P10",
        `${groupBy ? "GROUP" : "ORDER"} BY position ${n} is not in select list`,
      );
    }
    return n - 1;
  }
  if (!groupBy && expr.kind === "column" && expr.path.length === 1) {
    const i = names.indexOf(expr.path[0]);
    if (i >= 0 && names.lastIndexOf(expr.path[0]) === i) return i;
  }
  return null;
}

/** The column name PostgreSQL gives an unaliased select item. */
function columnNameOf(expr: Expr): string {
  switch (expr.kind) {
    case "column":
      return expr.path[expr.path.length - 1];
    case "function":
      return expr.name[expr.name.length - 1];
    case "sql_function":
      return expr.name;
    case "cast":
      // FigureColname: a name of strength 2 inside wins over the type's.
      return ["column", "function", "array", "array_subquery", "exists"].includes(
          expr.operand.kind,
        )
        ? columnNameOf(expr.operand)
        : expr.type.name === "int4"
        ? "int4"
        : expr.type.name;
    case "case":
      return expr.rowComparison ? "?column?" : "case";
    case "field":
      return expr.field ?? "?column?";
    case "exists":
      return "exists";
    case "subscript":
      return columnNameOf(expr.operand); // `n[1]` is n, as FigureColname reads through subscripts
    case "array":
    case "array_subquery":
      return "array";
    case "subquery": {
      const body = expr.query.body;
      return body.kind === "select_core" && body.columns.length === 1
        ? body.columns[0].alias ?? columnNameOf(body.columns[0].expr)
        : "?column?";
    }
    default:
      return "?column?";
  }
}

function plainColumn(name: string, type: SqlType): ScopeColumn {
  return { table: null, name, type, tableOid: 0, columnNumber: 0, typeModifier: -1 };
}

function scopeOf(table: SqlTable, alias: string): ScopeColumn[] {
  return table.columns.map((c, i) => ({
    table: alias,
    name: c.name,
    type: c.type,
    tableOid: table.oid,
    columnNumber: i + 1,
    typeModifier: typeModifierOf(c.typeName),
  }));
}

/** Assignment to a column: the value cast to the column's type with its modifiers. */
function assign(value: Compiled, column: SqlColumn): Compiled {
  if (value.type === column.type && column.typeName.modifiers.length === 0) return value;
  try {
    return castTo(value, { ...column.typeName, name: column.type }, true);
  } catch (error) {
    // A string constant that is no value of the type fails as itself (22P02, 22007, ...).
    if (value.type === "unknown" && !(error instanceof SqlError && error.code === "42846")) {
      throw error;
    }
    throw new SqlError(
      "42804",
      `column "${column.name}" is of type ${
        typeDisplayName(column.type)
      } but expression is of type ${typeDisplayName(value.type)}`,
      { hint: "You will need to rewrite or cast the expression." },
    );
  }
}

function fromCounter(type: SqlType, n: bigint): PgValue {
  return type === "int8" ? n : Number(n);
}

type CompiledCheck = { name: string; test: CheckTest };

function checkNotNull(table: SqlTable, values: PgValue[]): void {
  for (let i = 0; i < table.columns.length; i++) {
    if (values[i] === null && table.columns[i].notNull) {
      throw new SqlError(
        "23502",
        `null value in column "${
          table.columns[i].name
        }" of relation "${table.name}" violates not-null constraint`,
        { detail: failingRow(table, values), table: table.name, column: table.columns[i].name },
      );
    }
  }
}

function uniqueKeys(table: SqlTable): SqlIndex[] {
  return table.indexes.filter((i) => i.unique);
}

async function findConflict(
  tx: Transaction,
  table: SqlTable,
  keys: SqlIndex[],
  values: PgValue[],
): Promise<PgValue[] | null> {
  for (const key of keys) {
    const engineValues = indexKeyOfValues(table, key, values);
    if (engineValues.some((v) => v === null)) continue;
    const batches = tx.scanBatches(table.engineName, key.engineIndex, {
      lower: engineValues,
      upper: engineValues,
      limit: 1,
    });
    for await (const batch of batches) {
      if (batch.length > 0) return rowFromEngine(table, batch[0]);
    }
  }
  return null;
}

function constraintName(table: SqlTable, error: ConstraintError): string {
  if (error.constraint === "primary_key") {
    return table.indexes.find((i) => i.primary)?.name ?? `${table.name}_pkey`;
  }
  return table.indexes.find((i) => i.engineIndex === error.constraint)?.name ?? error.constraint;
}

function uniqueViolation(table: SqlTable, error: ConstraintError, row?: Row): SqlError {
  const name = constraintName(table, error);
  const index = table.indexes.find((i) => i.name === name);
  let detail: string | undefined;
  if (row && index) {
    // PostgreSQL's detail: the key's columns and the new row's values for them.
    const key = indexKeyOfRow(table, index, row);
    const text = index.columns.map((c, i) => {
      const type = indexColumnType(table, c);
      const v = key[i] === null ? null : fromEngine(type, key[i]);
      return v === null ? "null" : formatValue(type, v);
    });
    const names = index.columns.map((_, i) => indexColumnText(index, i));
    detail = `Key (${names.join(", ")})=(${text.join(", ")}) already exists.`;
  }
  return new SqlError(
    "23505",
    `duplicate key value violates unique constraint "${name}"`,
    { ...(detail === undefined ? {} : { detail }), table: table.name, constraint: name },
  );
}

/**
 * Takes the table's write lock before a statement reads it, so two writers
 * never both hold the read lock and wait to upgrade (a deadlock every
 * time).
 */
export async function lockForWrite(tx: Transaction, table: SqlTable): Promise<void> {
  await tx.lockForWrite(table.engineName);
}

async function insertRow(tx: Transaction, table: SqlTable, row: Row): Promise<void> {
  try {
    await tx.insert(table.engineName, row);
  } catch (error) {
    if (error instanceof ConstraintError) {
      throw uniqueViolation(table, await firstViolated(tx, table, row, error), row);
    }
    throw error;
  }
}

/**
 * Which unique key PostgreSQL would name when a new row breaks several: the
 * first in index order, the primary key before the others. The engine may
 * have found another first; on this error path, look again.
 */
async function firstViolated(
  tx: Transaction,
  table: SqlTable,
  row: Row,
  error: ConstraintError,
): Promise<ConstraintError> {
  const keys = [
    ...table.indexes.filter((i) => i.primary),
    ...table.indexes.filter((i) => !i.primary),
  ];
  for (const index of keys) {
    if (!index.unique) continue;
    const key = indexKeyOfRow(table, index, row);
    if (key.some((v) => v === null)) continue;
    const found = tx.scanBatches(table.engineName, index.engineIndex, {
      lower: key,
      upper: key,
      limit: 1,
    });
    let hit = false;
    for await (const batch of found) hit ||= batch.length > 0;
    if (!hit) continue;
    const constraint = index.engineIndex ?? "primary_key";
    return constraint === error.constraint ? error : new ConstraintError(constraint, error.message);
  }
  return error;
}

/**
 * Replaces a row: an engine update when the key stays, else delete and
 * insert (the insert left to the caller when it passes `moves`).
 */
async function replaceRow(
  tx: Transaction,
  table: SqlTable,
  old: PgValue[],
  next: PgValue[],
  stored?: Row,
  moves?: { push(row: Row): void },
): Promise<void> {
  const oldRow = stored ?? rowToEngine(table, old, null);
  const key = engineKey(table, oldRow);
  const rowid = table.rowid ? (oldRow[0] as bigint) : null;
  const newRow = rowToEngine(table, next, rowid);
  const newKey = engineKey(table, newRow);
  try {
    if (rowKey(key as PgValue[]) === rowKey(newKey as PgValue[])) {
      await tx.update(table.engineName, key, newRow);
    } else {
      await tx.delete(table.engineName, key);
      if (moves) moves.push(newRow);
      else await tx.insert(table.engineName, newRow);
    }
  } catch (error) {
    if (error instanceof ConstraintError) throw uniqueViolation(table, error, newRow);
    throw error;
  }
}

// Statements -------------------------------------------------------------------------

/** Plans a statement the executor runs (queries, data changes, DDL). */
export function prepare(
  db: Database,
  session: SessionInfo,
  statement: Statement,
  declaredTypes: SqlType[] = [],
): Prepared {
  useEnumTypes(db.enums);
  const planner = new Planner(db, session, declaredTypes);
  const done = (columns: ResultColumn[] | null, run: Prepared["run"]): Prepared => {
    const paramTypes = [...declaredTypes];
    for (let i = 0; i < planner.inferred.length; i++) {
      if ((paramTypes[i] ?? "unknown") === "unknown" && planner.inferred[i]) {
        paramTypes[i] = planner.inferred[i];
      }
    }
    for (let i = 0; i < paramTypes.length; i++) paramTypes[i] ??= "unknown";
    const highest = highestParam(statement);
    while (paramTypes.length < highest) paramTypes.push("unknown");
    const preludes = planner.preludes;
    const started: Prepared["run"] = preludes.length === 0 ? run : async (ctx) => {
      for (const prelude of preludes) await prelude(ctx);
      return run(ctx);
    };
    return {
      statement,
      columns,
      paramTypes,
      run: planner.usesSequences ? withSequenceWrites(started, db.sequences) : started,
      scans: planner.scans,
      explain: planner.explainRoots.flatMap((root) => explainLines(root)),
    } as Prepared;
  };
  switch (statement.kind) {
    case "select": {
      const plan = planner.select(statement);
      const columns = plan.columns.map((c) => ({
        name: c.name,
        type: c.type === "unknown" ? "text" as SqlType : c.type,
        tableOid: c.tableOid,
        columnNumber: c.columnNumber,
        typeModifier: c.typeModifier,
      }));
      // Subqueries anywhere in the statement run before its rows: not a point lookup then.
      const point = plan.point && (statement.with?.ctes.length ?? 0) === 0 &&
          planner.subqueries.length === 0 && planner.correlated.length === 0
        ? pointRead(plan.point)
        : undefined;
      const prepared = done(columns, (ctx) => {
        let count = 0;
        async function* rows() {
          let first = true;
          for await (const batch of plan.run(ctx)) {
            if (first) {
              await ctx.durable();
              first = false;
            }
            count += batch.length;
            yield batch;
          }
        }
        return Promise.resolve({
          rows: rows(),
          tag: () => `SELECT ${count}`,
          rowTag: (sent: number) => `SELECT ${sent}`,
        });
      });
      if (point && !planner.usesSequences) prepared.point = point;
      return prepared;
    }
    case "insert": {
      const plan = planner.insert(statement);
      const prepared = done(plan.columns, (ctx) => translateErrors(plan.run(ctx)));
      if (plan.now && !planner.usesSequences) prepared.insertNow = plan.now;
      return prepared;
    }
    case "update":
    case "delete": {
      const plan = planner.change(statement);
      return done(plan.columns, (ctx) => translateErrors(plan.run(ctx)));
    }
    case "create_table":
      return done(null, (ctx) => createTable(db, ctx.sqlTx, statement, planner));
    case "drop_table":
      return done(null, async (ctx) => {
        const notices: SqlNotice[] = [];
        for (const name of statement.names) {
          const bare = name[name.length - 1];
          if (!db.tables.has(bare)) {
            if (statement.ifExists) continue;
            throw new SqlError("42P01", `table "${bare}" does not exist`);
          }
          if (db.tables.get(bare)!.view) {
            throw new SqlError("42809", `"${bare}" is not a table`, {
              hint: "Use DROP VIEW to remove a view.",
            });
          }
          await dropDependentKeys(db, ctx.sqlTx, bare, statement, notices);
          await db.putTable(ctx.sqlTx, bare, undefined);
        }
        return { rows: null, tag: () => "DROP TABLE", notices };
      });
    case "create_view":
      return done(null, async (ctx) => {
        const plan = planner.select(statement.query);
        const name = tableName(statement.name);
        const view = newView(db.tables, { ...statement, name }, plan.columns, db.newOid());
        await db.putTable(ctx.sqlTx, name, view);
        return { rows: null, tag: () => "CREATE VIEW" };
      });
    case "drop_view":
      return done(null, async (ctx) => {
        const notices: SqlNotice[] = [];
        for (const name of statement.names) {
          const bare = name[name.length - 1];
          const found = db.tables.get(bare);
          if (!found) {
            if (!statement.ifExists) throw new SqlError("42P01", `view "${bare}" does not exist`);
            notices.push({ code: "00000", message: `view "${bare}" does not exist, skipping` });
            continue;
          }
          if (!found.view) {
            throw new SqlError("42809", `"${bare}" is not a view`, {
              hint: "Use DROP TABLE to remove a table.",
            });
          }
          await dropDependentKeys(db, ctx.sqlTx, bare, statement, notices);
          await db.putTable(ctx.sqlTx, bare, undefined);
        }
        return { rows: null, tag: () => "DROP VIEW", notices };
      });
    case "truncate":
      return done(null, async (ctx) => {
        const notices: SqlNotice[] = [];
        for (const name of truncated(db, statement, notices)) {
          const table = db.table(name, session);
          const fresh: SqlTable = { ...table, engineName: db.engineName("t") };
          fresh.indexes = table.indexes.map((i) => ({
            ...i,
            engineIndex: i.engineIndex === null ? null : db.engineName("i"),
          }));
          await ctx.sqlTx.tx.createTable(engineSpec(fresh));
          await db.putTable(ctx.sqlTx, table.name, fresh);
          if (statement.restartIdentity) await db.resetCounters(fresh);
        }
        return { rows: null, tag: () => "TRUNCATE TABLE", notices };
      });
    case "create_index":
      return done(null, async (ctx) => {
        const table = db.table(statement.table, session);
        const exprs = statement.columns.map((c) => c.expr);
        checkIndexKeys(table, exprs, statement.where);
        const name = statement.name ?? indexName(table, exprs);
        if (table.indexes.some((i) => i.name === name)) {
          if (statement.ifNotExists) return { rows: null, tag: () => "CREATE INDEX" };
          throw new SqlError("42P07", `relation "${name}" already exists`);
        }
        // Expressions and WHERE: expression_indexes.ts (hidden key columns).
        const work = {
          tx: ctx.sqlTx.tx,
          engineName: (prefix: "t" | "i") => db.engineName(prefix),
          putTable: (next: SqlTable) => db.putTable(ctx.sqlTx, table.name, next),
        };
        // Operator classes and INCLUDE change nothing here but what \d shows.
        const shown = {
          ...(statement.columns.some((c) => c.opclass !== undefined)
            ? { opclasses: statement.columns.map((c) => c.opclass ?? null) }
            : {}),
          ...(statement.include ? { include: statement.include } : {}),
        };
        const spec = { name, unique: statement.unique, exprs, where: statement.where, shown };
        if (await createExpressionIndex(work, table, spec)) {
          return { rows: null, tag: () => "CREATE INDEX" };
        }
        const columns = exprs.map((e) => (e as Extract<Expr, { kind: "column" }>).path.at(-1)!);
        await addIndex(db, ctx.sqlTx, table, {
          name,
          columns,
          unique: statement.unique,
          primary: false,
          ...shown,
        });
        return { rows: null, tag: () => "CREATE INDEX" };
      });
    case "drop_index":
      return done(null, async (ctx) => {
        const notices: SqlNotice[] = [];
        for (const name of statement.names) {
          const bare = tableName(name);
          const table = db.visibleTables(session).find((t) =>
            t.indexes.some((i) => i.name === bare)
          );
          if (!table) {
            if (db.tables.has(bare)) {
              throw new SqlError("42809", `"${bare}" is not an index`, {
                hint: `Use DROP ${db.tables.get(bare)!.view ? "VIEW" : "TABLE"} to remove a ${
                  db.tables.get(bare)!.view ? "view" : "table"
                }.`,
              });
            }
            if (!statement.ifExists) {
              throw new SqlError("42704", `index "${bare}" does not exist`);
            }
            notices.push({ code: "00000", message: `index "${bare}" does not exist, skipping` });
            continue;
          }
          db.table([table.name], session); // another session's uncommitted DDL: wait
          const index = table.indexes.find((i) => i.name === bare)!;
          if (index.primary || index.constraint) {
            throw new SqlError(
              "2BP01",
              `cannot drop index ${bare} because constraint ${bare} on table ${table.name} requires it`,
              { hint: `You can drop constraint ${bare} on table ${table.name} instead.` },
            );
          }
          await ctx.sqlTx.tx.dropIndex(table.engineName, index.engineIndex!);
          const next: SqlTable = structuredClone(table);
          next.indexes = next.indexes.filter((i) => i.name !== bare);
          await db.putTable(ctx.sqlTx, table.name, next);
        }
        return { rows: null, tag: () => "DROP INDEX", notices };
      });
    case "alter_table":
      return done(null, async (ctx) => {
        if (statement.ifExists && !db.tables.has(statement.table[statement.table.length - 1])) {
          const message = `relation "${statement.table.join(".")}" does not exist, skipping`;
          return { rows: null, tag: () => "ALTER TABLE", notices: [{ code: "00000", message }] };
        }
        const notices: SqlNotice[] = [];
        const host: AlterHost = {
          db,
          sqlTx: ctx.sqlTx,
          notices,
          defaultOf: (column) => planner.defaultOf(column),
          checkOf: (t, expr) => planner.checkOf(t, expr),
          evalContext: () => evalContext(ctx, []),
          lockForWrite,
          compileOver: (t, expr) => planner.compile(expr, scopeOf(t, t.name)),
          columnOfType: (c, type) => {
            const made = sqlColumn({ name: c.name, type, constraints: [] });
            return { ...c, type: made.type, typeName: made.typeName };
          },
        };
        for (const action of statement.actions) {
          // Each action sees the table as the previous ones left it.
          const table = db.table(statement.table, session);
          if (table.view && action.kind !== "rename_table") {
            throw new SqlError(
              "42809",
              `ALTER action ${
                alterActionName(action)
              } cannot be performed on relation "${table.name}"`,
              { detail: "This operation is not supported for views." },
            );
          }
          switch (action.kind) {
            case "add_column":
              await addColumn(
                host,
                table,
                action.column,
                sqlColumn(action.column),
                action.ifNotExists,
              );
              continue;
            case "drop_column":
              await dropColumn(host, table, action.name, action.ifExists, action.cascade);
              continue;
            case "rename_column":
              await renameColumn(host, table, action.from, action.to);
              continue;
            case "rename_table":
              await renameTable(host, table, action.to);
              continue;
            case "set_default":
              await setDefault(host, table, action.column, action.expr);
              continue;
            case "set_not_null":
              await setNotNull(host, table, action.column, action.notNull);
              continue;
            case "alter_type":
              await alterColumnType(host, table, action.column, action.type, action.using);
              continue;
          }
          if (
            action.kind === "drop_constraint" || action.kind === "validate_constraint" ||
            (action.kind === "add_constraint" &&
              (action.constraint.kind === "check" || action.constraint.kind === "foreign_key"))
          ) {
            await alterConstraint(db, ctx, planner, table, action, notices);
            continue;
          }
          const c = action.constraint;
          if (action.notValid) {
            throw new SqlError(
              "0A000",
              `${
                c.kind === "primary_key" ? "PRIMARY KEY" : "UNIQUE"
              } constraints cannot be marked NOT VALID`,
            );
          }
          if (c.kind === "primary_key" || c.kind === "unique") {
            if (c.kind === "primary_key" && table.indexes.some((i) => i.primary)) {
              throw new SqlError(
                "42P16",
                `multiple primary keys for table "${table.name}" are not allowed`,
              );
            }
            const name = c.name ??
              (c.kind === "primary_key"
                ? `${table.name}_pkey`
                : `${table.name}_${c.columns.join("_")}_key`);
            await addIndex(db, ctx.sqlTx, table, {
              name,
              columns: c.columns,
              unique: true,
              primary: c.kind === "primary_key",
              constraint: true,
            });
          }
        }
        return { rows: null, tag: () => "ALTER TABLE", notices };
      });
    case "explain": {
      // The scans and joins in PostgreSQL's shape (Seq Scan, Index Scan using,
      // Hash Join with its Hash Cond, Nested Loop), without costs, sorts or aggregates.
      const inner = prepare(db, session, statement.statement, declaredTypes);
      const lines = (inner as Prepared & { explain?: string[] }).explain ?? [];
      return done(
        [{ name: "QUERY PLAN", type: "text", tableOid: 0, columnNumber: 0, typeModifier: -1 }],
        () => Promise.resolve({ rows: fromArray(lines.map((l) => [l])), tag: () => "EXPLAIN" }),
      );
    }
    case "create_table_as":
      return done(null, (ctx) => createTableAs(db, ctx, statement, planner));
    case "create_sequence":
      return done(null, () => createSequence(db, statement));
    case "drop_sequence":
      return done(null, () => dropSequence(db, statement));
    case "create_schema": {
      // One schema, public (pg_catalog is the system's): creating it again is
      // what migration tools do first, with IF NOT EXISTS.
      const { name } = statement;
      if (name.startsWith("pg_")) {
        throw new SqlError("42939", `unacceptable schema name "${name}"`, {
          detail: 'The prefix "pg_" is reserved for system schemas.',
        });
      }
      if (name !== "public" && name !== "information_schema") {
        throw new SqlError("0A000", `schemas other than public are not supported: "${name}"`);
      }
      const message = `schema "${name}" already exists`;
      if (!statement.ifNotExists) throw new SqlError("42P06", message);
      return done(null, () =>
        Promise.resolve({
          rows: null,
          tag: () => "CREATE SCHEMA",
          notices: [{ code: "00000", message: `${message}, skipping` }],
        }));
    }
    case "create_extension":
    case "drop_extension":
      return done(null, () => Promise.resolve(extensionStatement(db, statement)));
    case "lock_table": {
      if (session.inBlock?.() === false) {
        throw new SqlError("25P01", "LOCK TABLE can only be used in transaction blocks");
      }
      const tables = statement.tables.map((name) => db.table(name, session));
      for (const t of tables) requireTable(t, "lock");
      const mode = LOCK_MODES[statement.mode] ?? "X";
      return done(null, async (ctx) => {
        for (const t of tables) await ctx.sqlTx.tx.lockTable(t.engineName, mode);
        return { rows: null, tag: () => "LOCK TABLE" };
      });
    }
    case "session_characteristics":
      return done(null, () => Promise.resolve({ rows: null, tag: () => "SET" }));
    case "comment":
      return done(null, async (ctx) => {
        await commentOn(db, session, ctx.sqlTx, statement);
        return { rows: null, tag: () => "COMMENT" };
      });
    case "set_constraints":
      return done(null, async (ctx) => {
        const tag = () => "SET CONSTRAINTS";
        if (!session.inBlock?.()) {
          const message = "SET CONSTRAINTS can only be used in transaction blocks";
          return { rows: null, tag, notices: [{ code: "25P01", message, severity: "WARNING" }] };
        }
        const tx = ctx.sqlTx.tx;
        const now = setConstraints(tx, db.tables.values(), statement.names, statement.deferred);
        if (now !== null) {
          await runDeferred(tx, deferredLookups(tx, db.tables), now);
        }
        return { rows: null, tag };
      });
    case "create_enum":
    case "alter_enum":
    case "drop_type":
      return done(null, async (ctx) => {
        const { tag, notices } = await typeStatement({ db, sqlTx: ctx.sqlTx }, statement);
        return { rows: null, tag: () => tag, notices };
      });
    case "vacuum":
      return done(null, () => Promise.resolve({ rows: null, tag: () => "VACUUM" }));
    case "analyze":
      return done(null, () => Promise.resolve({ rows: null, tag: () => "ANALYZE" }));
    default:
      throw new SqlError(
        "0A000",
        `${statement.kind.replace(/_/g, " ").toUpperCase()} is not supported`,
      );
  }
}

/**
 * LOCK TABLE's modes on our table locks (storage/locks.ts): the ones that
 * let others read and write take an intention lock, SHARE the shared lock,
 * the rest the exclusive one (stricter than PostgreSQL's EXCLUSIVE, which
 * still lets plain reads through: ours wait).
 */
const LOCK_MODES: Readonly<Record<string, LockMode>> = {
  "ACCESS SHARE": "IS",
  "ROW SHARE": "IS",
  "ROW EXCLUSIVE": "IX",
  "SHARE": "S",
};

/**
 * The extensions whose functions are built in: CREATE EXTENSION of one of
 * them succeeds (migration tools run it first), of any other is 0A000 as
 * PostgreSQL 16 words a missing extension. Which ones were created is kept
 * for the life of the process only (plpgsql always), so a second CREATE
 * without IF NOT EXISTS is 42710 as in PostgreSQL until a restart.
 */
const EXTENSIONS = new Set(["plpgsql", "pgcrypto", "uuid-ossp"]);

function extensionStatement(
  db: Database,
  statement: Extract<Statement, { kind: "create_extension" | "drop_extension" }>,
): Result {
  const notices: SqlNotice[] = [];
  if (statement.kind === "create_extension") {
    const { name } = statement;
    if (!EXTENSIONS.has(name)) {
      throw new SqlError("0A000", `extension "${name}" is not available`, {
        // PostgreSQL's words, its path included: what a client of PostgreSQL 15 sees.
        detail:
          `Could not open extension control file "/usr/share/postgresql/15/extension/${name}.control": No such file or directory.`,
        hint: "The extension must first be installed on the system where PostgreSQL is running.",
      });
    }
    if (db.extensions.has(name)) {
      const message = `extension "${name}" already exists`;
      if (!statement.ifNotExists) throw new SqlError("42710", message);
      notices.push({ code: "00000", message: `${message}, skipping` });
    }
    db.extensions.add(name);
    return { rows: null, tag: () => "CREATE EXTENSION", notices };
  }
  for (const name of statement.names) {
    if (db.extensions.has(name)) continue;
    const message = `extension "${name}" does not exist`;
    if (!statement.ifExists) throw new SqlError("42704", message);
    notices.push({ code: "00000", message: `${message}, skipping` });
  }
  for (const name of statement.names) db.extensions.delete(name);
  return { rows: null, tag: () => "DROP EXTENSION", notices };
}

/** COMMENT ON: the text kept in the catalog (undone with the transaction, as all DDL). */
async function commentOn(
  db: Database,
  session: SessionInfo,
  sqlTx: SqlTransaction,
  statement: Extract<Statement, { kind: "comment" }>,
): Promise<void> {
  const path = statement.target === "column" ? statement.name.slice(0, -1) : statement.name;
  const text = statement.text === null || statement.text === "" ? undefined : statement.text;
  if (statement.target === "index") {
    const bare = path[path.length - 1];
    const table = [...db.tables.values()].find((t) => t.indexes.some((i) => i.name === bare));
    if (!table) throw new SqlError("42P01", `relation "${path.join(".")}" does not exist`);
    db.table([table.name], session); // another session's uncommitted DDL: wait
    const next: SqlTable = structuredClone(table);
    const index = next.indexes.find((i) => i.name === bare)!;
    if (text === undefined) delete index.comment;
    else index.comment = text;
    await db.putTable(sqlTx, table.name, next);
    return;
  }
  if (path.length === 0) throw new SqlError("42601", "column name must be qualified");
  const table = db.table(path, session);
  if (statement.target === "table" && table.view) {
    throw new SqlError("42809", `"${table.name}" is not a table`);
  }
  if (statement.target === "view" && !table.view) {
    throw new SqlError("42809", `"${table.name}" is not a view`);
  }
  const next: SqlTable = structuredClone(table);
  let holder: { comment?: string } = next;
  if (statement.target === "column") {
    const name = statement.name[statement.name.length - 1];
    const column = next.columns.find((c) => c.name === name);
    if (!column) {
      throw new SqlError("42703", `column "${name}" of relation "${table.name}" does not exist`);
    }
    holder = column;
  }
  if (text === undefined) delete holder.comment;
  else holder.comment = text;
  await db.putTable(sqlTx, table.name, next);
}

/** An ALTER TABLE action as PostgreSQL's errors name it. */
function alterActionName(action: AlterAction): string {
  switch (action.kind) {
    case "add_column":
      return "ADD COLUMN";
    case "drop_column":
      return "DROP COLUMN";
    case "rename_column":
      return "RENAME COLUMN";
    case "rename_table":
      return "RENAME";
    case "add_constraint":
      return "ADD CONSTRAINT";
    case "validate_constraint":
      return "VALIDATE CONSTRAINT";
    case "drop_constraint":
      return "DROP CONSTRAINT";
    case "set_default":
      return action.expr === null
        ? "ALTER COLUMN ... DROP DEFAULT"
        : "ALTER COLUMN ... SET DEFAULT";
    case "set_not_null":
      return action.notNull ? "ALTER COLUMN ... SET NOT NULL" : "ALTER COLUMN ... DROP NOT NULL";
    case "alter_type":
      return "ALTER COLUMN TYPE";
  }
}

async function translateErrors(result: Promise<Result>): Promise<Result> {
  try {
    return await result;
  } catch (error) {
    throw lockErrorToSql(error);
  }
}

/**
 * The engine's lock errors as PostgreSQL words them (40P01, 55P03); any
 * other error as it is. For statements that read (a SELECT waits for a row
 * lock too) as well as those that write.
 */
export function lockErrorToSql(error: unknown): unknown {
  if (error instanceof DeadlockError) {
    return new SqlError("40P01", "deadlock detected", {
      hint: "See server log for query details.",
    });
  }
  if (error instanceof LockTimeoutError) {
    return new SqlError("55P03", "canceling statement due to lock timeout");
  }
  return error;
}

/** The largest $n in a statement (parameters the client must bind). */
function highestParam(statement: Statement): number {
  // A walk over the tree (plain objects and arrays, no cycles): the same keys
  // a JSON.stringify replacer saw, without building the string.
  let highest = 0;
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
    } else if (node !== null && typeof node === "object") {
      for (const [key, value] of Object.entries(node)) {
        if (key === "index" && typeof value === "number") highest = Math.max(highest, value);
        else visit(value);
      }
    }
  };
  visit(statement);
  return highest;
}

/**
 * CREATE TABLE name [(columns)] AS query: a table (with no primary key)
 * whose columns are the query's, filled with its rows; the tag counts them.
 */
async function createTableAs(
  db: Database,
  ctx: RunContext,
  statement: Extract<Statement, { kind: "create_table_as" }>,
  planner: Planner,
): Promise<Result> {
  const name = tableName(statement.name);
  if (db.tables.has(name) || db.sequences.has(name)) {
    if (!statement.ifNotExists) throw new SqlError("42P07", `relation "${name}" already exists`);
    return {
      rows: null,
      tag: () => "CREATE TABLE AS",
      notices: [{ code: "42P07", message: `relation "${name}" already exists, skipping` }],
    };
  }
  const plan = planner.select(statement.query);
  if (statement.columns.length > plan.columns.length) {
    throw new SqlError("42601", "too many column names were specified");
  }
  const columns: ColumnDef[] = plan.columns.map((c, i) => {
    const typmod = c.typeModifier - 4;
    const modifiers = typmod < 0
      ? []
      : c.type === "numeric"
      ? [typmod >> 16, typmod & 0xffff]
      : c.type === "varchar" || c.type === "bpchar"
      ? [typmod]
      : [];
    return {
      name: statement.columns[i] ?? c.name,
      type: { name: c.type === "unknown" ? "text" : c.type, modifiers, array: false },
      constraints: [],
    };
  });
  await createTable(db, ctx.sqlTx, {
    kind: "create_table",
    name: statement.name,
    ifNotExists: false,
    temporary: statement.temporary,
    columns,
    constraints: [],
  }, planner);
  const table = db.tables.get(name)!;
  let count = 0;
  for await (const batch of plan.run(ctx)) {
    for (const values of batch) {
      const rowid = table.rowid ? await db.nextval(ctx.sqlTx, table, "") : null;
      await insertRow(ctx.sqlTx.tx, table, rowToEngine(table, values, rowid));
      count++;
    }
  }
  return { rows: null, tag: () => `SELECT ${count}` };
}

async function createTable(
  db: Database,
  sqlTx: SqlTransaction,
  statement: Extract<Statement, { kind: "create_table" }>,
  planner: Planner,
): Promise<Result> {
  const name = tableName(statement.name);
  const tag = () => "CREATE TABLE";
  if (db.tables.has(name) || db.sequences.has(name)) {
    if (statement.ifNotExists) return { rows: null, tag };
    throw new SqlError("42P07", `relation "${name}" already exists`);
  }
  const columns: SqlColumn[] = statement.columns.map((c) => sqlColumn(c));
  const seen = new Set<string>();
  for (const c of columns) {
    if (seen.has(c.name)) {
      throw new SqlError("42701", `column "${c.name}" specified more than once`);
    }
    seen.add(c.name);
  }
  const constraints: TableConstraint[] = [...statement.constraints];
  for (const c of statement.columns) {
    for (const k of c.constraints) {
      if (k.kind === "primary_key") {
        constraints.push({ name: k.name, kind: "primary_key", columns: [c.name] });
      }
      if (k.kind === "unique") {
        constraints.push({ name: k.name, kind: "unique", columns: [c.name] });
      }
    }
  }
  const primaries = constraints.filter((c) => c.kind === "primary_key");
  if (primaries.length > 1) {
    throw new SqlError("42P16", `multiple primary keys for table "${name}" are not allowed`);
  }
  const table: SqlTable = {
    name,
    engineName: db.engineName("t"),
    oid: db.newOid(),
    columns,
    rowid: primaries.length === 0,
    indexes: [],
  };
  for (const c of constraints) {
    if (c.kind !== "primary_key" && c.kind !== "unique") continue;
    for (const col of c.columns) {
      if (!columns.some((x) => x.name === col)) {
        throw new SqlError("42703", `column "${col}" named in key does not exist`);
      }
    }
    const primary = c.kind === "primary_key";
    if (primary) {
      for (const col of c.columns) columns.find((x) => x.name === col)!.notNull = true;
    }
    table.indexes.push({
      name: c.name ?? (primary ? `${name}_pkey` : `${name}_${c.columns.join("_")}_key`),
      columns: c.columns,
      unique: true,
      primary,
      engineIndex: primary ? null : db.engineName("i"),
      constraint: true,
    });
  }
  for (const c of [...columnConstraints(statement.columns), ...statement.constraints]) {
    if (c.kind === "check") {
      (table.checks ??= []).push(newCheck(table, c, (expr) => planner.checkOf(table, expr)));
    } else if (c.kind === "foreign_key") {
      (table.foreignKeys ??= []).push(newForeignKey(db.tables, table, c));
    }
  }
  await sqlTx.tx.createTable(engineSpec(table));
  await db.putTable(sqlTx, name, table);
  return { rows: null, tag };
}

/** ALTER TABLE ADD CONSTRAINT CHECK / FOREIGN KEY (validating existing rows) and DROP CONSTRAINT. */
async function alterConstraint(
  db: Database,
  ctx: RunContext,
  planner: Planner,
  table: SqlTable,
  action: Extract<
    AlterAction,
    { kind: "add_constraint" | "drop_constraint" | "validate_constraint" }
  >,
  notices: SqlNotice[],
): Promise<void> {
  const next: SqlTable = structuredClone(table);
  const tx = ctx.sqlTx.tx;
  if (action.kind === "validate_constraint") {
    const check = next.checks?.find((c) => c.name === action.name);
    const fk = next.foreignKeys?.find((f) => f.name === action.name);
    if (!check && !fk) {
      if (table.indexes.some((i) => i.name === action.name && (i.primary || i.unique))) {
        throw new SqlError(
          "42809",
          `constraint "${action.name}" of relation "${table.name}" is not a foreign key or check constraint`,
        );
      }
      throw new SqlError(
        "42704",
        `constraint "${action.name}" of relation "${table.name}" does not exist`,
      );
    }
    if (!(check ?? fk)!.notValid) return; // valid already: nothing to do
    await lockForWrite(tx, table);
    if (check) {
      const test = planner.checkOf(next, check.expr);
      await validateCheck(tx, table, { name: check.name, test }, evalContext(ctx, []));
      delete check.notValid;
    } else {
      await validateForeignKey(tx, db.tables, next, fk!);
      delete fk!.notValid;
    }
    await db.putTable(ctx.sqlTx, table.name, next);
    return;
  }
  if (action.kind === "drop_constraint") {
    const checks = next.checks?.filter((c) => c.name !== action.name) ?? [];
    const keys = next.foreignKeys?.filter((f) => f.name !== action.name) ?? [];
    if (
      checks.length === (next.checks?.length ?? 0) &&
      keys.length === (next.foreignKeys?.length ?? 0)
    ) {
      if (table.indexes.some((i) => i.name === action.name && (i.primary || i.unique))) {
        throw new SqlError("0A000", "ALTER TABLE DROP CONSTRAINT of a key is not supported");
      }
      if (action.ifExists) {
        notices.push({
          code: "00000",
          message:
            `constraint "${action.name}" of relation "${table.name}" does not exist, skipping`,
        });
        return;
      }
      throw new SqlError(
        "42704",
        `constraint "${action.name}" of relation "${table.name}" does not exist`,
      );
    }
    next.checks = checks;
    next.foreignKeys = keys;
    await db.putTable(ctx.sqlTx, table.name, next);
    return;
  }
  const c = action.constraint;
  await lockForWrite(tx, table);
  // NOT VALID: the rows already there are not checked (VALIDATE CONSTRAINT does that).
  const notValid = action.notValid === true;
  if (c.kind === "check") {
    const check = newCheck(next, c, (expr) => planner.checkOf(next, expr));
    if (notValid) check.notValid = true;
    else {
      await validateCheck(
        tx,
        table,
        { name: check.name, test: planner.checkOf(next, check.expr) },
        evalContext(ctx, []),
      );
    }
    (next.checks ??= []).push(check);
  } else if (c.kind === "foreign_key") {
    const fk = newForeignKey(db.tables, next, c);
    if (notValid) fk.notValid = true;
    else await validateForeignKey(tx, db.tables, next, fk);
    (next.foreignKeys ??= []).push(fk);
  }
  await db.putTable(ctx.sqlTx, table.name, next);
}

/**
 * DROP TABLE of a table other tables reference: 2BP01 as in PostgreSQL,
 * unless CASCADE, which drops those foreign keys (not the tables).
 */
async function dropDependentKeys(
  db: Database,
  sqlTx: SqlTransaction,
  name: string,
  statement: Extract<Statement, { kind: "drop_table" | "drop_view" }>,
  notices: SqlNotice[],
): Promise<void> {
  const dropping = new Set(statement.names.map((n) => n[n.length - 1]));
  const dependents = referencing(db.tables, name).filter((r) => !dropping.has(r.child.name));
  // Views reading it, and the views reading those, in the order found.
  const views: SqlTable[] = [];
  const kindOf = (n: string) => db.tables.get(n)?.view ? "view" : "table";
  const kind = kindOf(name);
  const lines = dependents.map((d) =>
    `constraint ${d.fk.name} on table ${d.child.name} depends on ${kind} ${name}`
  );
  const pending = [name];
  while (pending.length > 0) {
    const read = pending.shift()!;
    for (const view of viewsReading(db.tables, read)) {
      if (dropping.has(view.name) || views.includes(view)) continue;
      views.push(view);
      lines.push(`view ${view.name} depends on ${kindOf(read)} ${read}`);
      pending.push(view.name);
    }
  }
  if (lines.length === 0) return;
  if (!statement.cascade) {
    throw new SqlError("2BP01", `cannot drop ${kind} ${name} because other objects depend on it`, {
      detail: lines.join("\n"),
      hint: "Use DROP ... CASCADE to drop the dependent objects too.",
    });
  }
  for (const view of views) await db.putTable(sqlTx, view.name, undefined);
  const dropped = lines.map((line) => line.replace(/ depends on .*$/, ""));
  notices.push(
    dropped.length === 1 ? { code: "00000", message: `drop cascades to ${dropped[0]}` } : {
      code: "00000",
      message: `drop cascades to ${dropped.length} other objects`,
      detail: dropped.map((line) => `drop cascades to ${line}`).join("\n"),
    },
  );
  for (const { child } of dependents) {
    const current = db.tables.get(child.name);
    if (!current) continue;
    const next: SqlTable = structuredClone(current);
    next.foreignKeys = next.foreignKeys?.filter((f) => f.table !== name);
    await db.putTable(sqlTx, child.name, next);
  }
}

/** TRUNCATE of a referenced table without its referencing tables: 0A000, as in PostgreSQL. */
/**
 * The tables TRUNCATE empties: those named and, with CASCADE, every table
 * referencing one of them, transitively (a NOTICE for each, as PostgreSQL
 * gives); without CASCADE a referencing table left out is 0A000.
 */
function truncated(
  db: Database,
  statement: Extract<Statement, { kind: "truncate" }>,
  notices: SqlNotice[],
): string[][] {
  const names = new Set(statement.tables.map((n) => n[n.length - 1]));
  const out = [...statement.tables];
  for (const name of names) { // a Set iterates over what is added while it runs
    for (const { child } of referencing(db.tables, name)) {
      if (names.has(child.name)) continue;
      if (statement.cascade) {
        names.add(child.name);
        out.push([child.name]);
        notices.push({ code: "00000", message: `truncate cascades to table "${child.name}"` });
        continue;
      }
      throw new SqlError(
        "0A000",
        "cannot truncate a table referenced in a foreign key constraint",
        {
          detail: `Table "${child.name}" references "${name}".`,
          hint: `Truncate table "${child.name}" at the same time, or use TRUNCATE ... CASCADE.`,
        },
      );
    }
  }
  return out;
}

function sqlColumn(c: ColumnDef): SqlColumn {
  const serialTypes: Record<string, SqlType> = {
    serial: "int4",
    bigserial: "int8",
    smallserial: "int2",
  };
  const serialType = serialTypes[c.type.name];
  let typeName: TypeName = serialType ? { name: serialType, modifiers: [], array: false } : c.type;
  const type = sqlTypeOf(typeName);
  // An enum column names its type by the type's identity, not its name,
  // which ALTER TYPE ... RENAME TO may change (enums.ts).
  if (enumOf(type) !== undefined) typeName = { ...typeName, name: type };
  let notNull = serialType !== undefined;
  let def: string | null = null;
  let serial = serialType !== undefined;
  let identity: "a" | "d" | undefined;
  for (const k of c.constraints) {
    if (k.kind === "not_null") notNull = true;
    if (k.kind === "default") def = printExpr(k.expr);
    if (k.kind === "identity") {
      serial = true;
      notNull = true;
      identity = k.always ? "a" : "d";
    }
  }
  return {
    name: c.name,
    type,
    typeName,
    notNull,
    default: def,
    serial,
    ...(identity ? { identity } : {}),
  };
}

async function addIndex(
  db: Database,
  sqlTx: SqlTransaction,
  table: SqlTable,
  index: {
    name: string;
    columns: string[];
    unique: boolean;
    primary: boolean;
    constraint?: boolean;
    opclasses?: (string | null)[];
    include?: string[];
  },
): Promise<void> {
  if (index.primary && table.rowid) return await addPrimaryKey(db, sqlTx, table, index);
  const engineIndex = db.engineName("i");
  const columns = engineColumnNames(table, index.columns);
  try {
    await sqlTx.tx.createIndex(table.engineName, {
      name: engineIndex,
      columns,
      unique: index.unique,
    });
  } catch (error) {
    if (error instanceof ConstraintError) {
      throw await duplicateKeyError(sqlTx.tx, table, index);
    }
    throw error;
  }
  const next: SqlTable = structuredClone(table);
  next.indexes.push({ ...index, engineIndex });
  if (index.primary) {
    for (const name of index.columns) next.columns.find((c) => c.name === name)!.notNull = true;
  }
  await db.putTable(sqlTx, table.name, next);
}

/**
 * ALTER TABLE ADD PRIMARY KEY on a table keyed by its hidden row number
 * (pgbench -i adds its keys this way): the rows move to a new engine table
 * keyed by the named columns, copied by the engine in one logged step, so
 * the table then has the same fast paths as one declared with its key (a
 * lookup by key is one descent of the primary tree, an update touches no
 * secondary index). The old engine table is left behind, as TRUNCATE
 * leaves it. A NULL in the key is 23502, a duplicate 23505, as PostgreSQL.
 */
async function addPrimaryKey(
  db: Database,
  sqlTx: SqlTransaction,
  table: SqlTable,
  index: { name: string; columns: string[] },
): Promise<void> {
  engineColumnNames(table, index.columns); // 42703 for a column that does not exist
  // The copy holds the old table's read lock to the end, so no writer changes it meanwhile;
  // taking it after the DDL lock (createTable's) keeps the order CREATE INDEX uses.
  const next: SqlTable = structuredClone(table);
  next.engineName = db.engineName("t");
  next.rowid = false;
  for (const name of index.columns) next.columns.find((c) => c.name === name)!.notNull = true;
  next.indexes = next.indexes.map((i) => ({ ...i, engineIndex: db.engineName("i") }));
  next.indexes.push({ ...index, unique: true, primary: true, engineIndex: null });
  try {
    await sqlTx.tx.createTable(engineSpec(next), {
      from: table.engineName,
      // Past the row number; hidden key columns (expression_indexes.ts) too.
      columns: [...table.columns, ...(table.keyExprs ?? [])].map((_, i) => i + 1),
    });
  } catch (error) {
    if (error instanceof ConstraintError && error.constraint === "not_null") {
      const column = index.columns.find((name) =>
        !table.columns.find((c) => c.name === name)!.notNull
      );
      throw new SqlError(
        "23502",
        `column "${column}" of relation "${table.name}" contains null values`,
      );
    }
    if (error instanceof ConstraintError) {
      throw await duplicateKeyError(sqlTx.tx, table, index);
    }
    throw error;
  }
  await db.putTable(sqlTx, table.name, next);
}

// The catalog as relations (pg_catalog, information_schema) ----------------------------

function virtualTable(db: Database, session: SessionInfo, name: string[]): RowPlan | null {
  const schema = name.length >= 2 ? name[name.length - 2] : null;
  const bare = name[name.length - 1];
  if (schema !== null && schema !== "pg_catalog" && schema !== "information_schema") return null;
  if (schema === null && !bare.startsWith("pg_")) return null;
  const tables = db.visibleTables(session);
  const col = (n: string, type: SqlType) => plainColumn(n, type);
  const make = (columns: ScopeColumn[], rows: () => PgValue[][]): RowPlan => ({
    columns,
    async *run() {
      yield rows();
    },
  });
  if (schema !== "information_schema") {
    // Read again when the plan runs: a prepared statement sees the catalog of its run.
    const source = () => ({
      tables: db.visibleTables(session),
      enums: [...db.enums.byName.values()],
      user: session.user,
      database: session.database,
    });
    const relation = catalogRelation(source(), bare);
    if (relation) {
      return make(
        relation.columns.map(([n, type]) => col(n, type)),
        () => catalogRelation(source(), bare)!.rows,
      );
    }
  }
  switch (bare) {
    case "pg_namespace":
      return make(
        [col("oid", "int8"), col("nspname", "text")],
        () => [[11n, "pg_catalog"], [2200n, "public"], [13000n, "information_schema"]],
      );
    case "pg_class":
      return make(
        [
          col("oid", "int8"),
          col("relname", "text"),
          col("relnamespace", "int8"),
          col("relkind", "text"),
          col("relowner", "int8"),
          col("relam", "int8"),
        ],
        () => tables.map((t) => [BigInt(t.oid), t.name, 2200n, "r", 10n, 2n]),
      );
    case "pg_am":
      return make(
        [col("oid", "int8"), col("amname", "text")],
        () => [[2n, "heap"], [403n, "btree"]],
      );
    case "pg_tables":
      return make(
        [col("schemaname", "text"), col("tablename", "text"), col("tableowner", "text")],
        () => tables.map((t) => ["public", t.name, session.user]),
      );
    case "pg_database":
      return make([col("oid", "int8"), col("datname", "text")], () => [[5n, session.database]]);
    case "pg_type":
      return make(
        [
          col("oid", "int8"),
          col("typname", "text"),
          col("typarray", "int8"),
          col("typelem", "int8"),
          col("typcategory", "text"),
        ],
        () => Object.entries(OID).map(([n, oid]) => [BigInt(oid), n, 0n, 0n, "U"]),
      );
    case "pg_partitioned_table":
      return make([col("partrelid", "int8"), col("partstrat", "text")], () => []);
    case "pg_inherits":
      return make([col("inhrelid", "int8"), col("inhparent", "int8")], () => []);
    case "pg_settings":
      return make(
        [col("name", "text"), col("setting", "text")],
        () => [...session.settings].map(([k, v]) => [k, v]),
      );
    case "tables":
      if (schema !== "information_schema") return null;
      return make(
        [
          col("table_catalog", "text"),
          col("table_schema", "text"),
          col("table_name", "text"),
          col("table_type", "text"),
          col("self_referencing_column_name", "text"),
          col("reference_generation", "text"),
          col("user_defined_type_catalog", "text"),
          col("user_defined_type_schema", "text"),
          col("user_defined_type_name", "text"),
          col("is_insertable_into", "text"),
          col("is_typed", "text"),
          col("commit_action", "text"),
        ],
        () =>
          tables.map((t) => [
            session.database,
            "public",
            t.name,
            t.view ? "VIEW" : "BASE TABLE",
            null,
            null,
            null,
            null,
            null,
            t.view ? "NO" : "YES", // our views are not updatable
            "NO",
            null,
          ]),
      );
    case "columns":
      if (schema !== "information_schema") return null;
      return make(
        INFORMATION_SCHEMA_COLUMNS.map(([n, type]) => col(n, type)),
        () =>
          tables.flatMap((t) =>
            t.columns.map((c, i) => informationSchemaColumn(session.database, t, c, i))
          ),
      );
    default:
      return null;
  }
}

/** information_schema.columns: the columns drivers and ORMs read (SQL standard order). */
const INFORMATION_SCHEMA_COLUMNS: [string, SqlType][] = [
  ["table_catalog", "text"],
  ["table_schema", "text"],
  ["table_name", "text"],
  ["column_name", "text"],
  ["ordinal_position", "int4"],
  ["column_default", "text"],
  ["is_nullable", "text"],
  ["data_type", "text"],
  ["character_maximum_length", "int4"],
  ["character_octet_length", "int4"],
  ["numeric_precision", "int4"],
  ["numeric_precision_radix", "int4"],
  ["numeric_scale", "int4"],
  ["datetime_precision", "int4"],
  ["udt_catalog", "text"],
  ["udt_schema", "text"],
  ["udt_name", "text"],
  ["is_identity", "text"],
  ["identity_generation", "text"],
  ["is_generated", "text"],
];

/** Bits of precision of the binary numeric types (information_schema, radix 2). */
const BINARY_PRECISION: Partial<Record<SqlType, number>> = {
  int2: 16,
  int4: 32,
  int8: 64,
  float4: 24,
  float8: 53,
};

/**
 * One row of information_schema.columns, as PostgreSQL 15's view computes
 * it (src/backend/catalog/information_schema.sql): lengths of character
 * types (octets: 4 per character in UTF8, 1 GiB when unbounded), numeric
 * precision in bits (radix 2) or digits (radix 10), timestamps' 6 digits.
 */
function informationSchemaColumn(
  database: string,
  table: SqlTable,
  c: SqlColumn,
  i: number,
): PgValue[] {
  const [first, second] = c.typeName.modifiers;
  const character = c.type === "varchar" || c.type === "bpchar" || c.type === "text";
  const length = c.type === "bpchar" ? (first ?? 1) : c.type === "varchar" ? first ?? null : null;
  const bits = BINARY_PRECISION[c.type];
  const numeric = c.type === "numeric";
  return [
    database,
    "public",
    table.name,
    c.name,
    i + 1,
    c.default !== null
      ? defaultText(table, c)
      : c.serial && !c.identity
      ? `nextval('${sequenceName(table, c)}'::regclass)`
      : null,
    c.notNull ? "NO" : "YES",
    c.type.endsWith("[]") ? "ARRAY" : typeDisplayName(c.type),
    length,
    character ? (length === null ? 1073741824 : length * 4) : null,
    bits ?? (numeric ? first ?? null : null),
    bits !== undefined ? 2 : numeric ? 10 : null,
    c.type === "int2" || c.type === "int4" || c.type === "int8"
      ? 0
      : numeric && first !== undefined
      ? second ?? 0
      : null,
    c.type === "date" ? 0 : c.type === "timestamp" || c.type === "timestamptz" ? first ?? 6 : null,
    database,
    "pg_catalog",
    c.type.endsWith("[]") ? `_${c.type.slice(0, -2)}` : c.type,
    c.identity ? "YES" : "NO",
    c.identity === "a" ? "ALWAYS" : c.identity === "d" ? "BY DEFAULT" : null,
    "NEVER",
  ];
}

// COPY ... FROM STDIN ------------------------------------------------------------------

/** Where COPY FROM puts rows: the table, its target columns, and how to convert each field. */
export interface CopyTarget {
  table: SqlTable;
  /** The data's format (copy.ts) and the target columns' names (HEADER MATCH). */
  format: CopyFormat;
  names: string[];
  /** CHECK and FOREIGN KEY enforcement, when the table has any. */
  rules: { host: ConstraintHost; checks: CompiledCheck[] } | null;
  targets: number[];
  convert: ((ctx: EvalContext) => PgValue)[];
  /** DEFAULT of each column, for those COPY does not name. */
  defaults: (((ctx: EvalContext) => PgValue) | null)[];
  rows: number;
}

/** Plans COPY table [(columns)] FROM STDIN (text or CSV). */
export function copyTarget(
  db: Database,
  session: SessionInfo,
  statement: Extract<Statement, { kind: "copy" }>,
): CopyTarget {
  const format = copyFormat(statement.options, "from");
  const table = db.table(statement.table, session);
  requireTable(table, "copy to");
  useEnumTypes(db.enums);
  const names = statement.columns ?? table.columns.map((c) => c.name);
  const targets = names.map((name) => {
    const i = table.columns.findIndex((c) => c.name === name);
    if (i < 0) {
      throw new SqlError("42703", `column "${name}" of relation "${table.name}" does not exist`);
    }
    return i;
  });
  const convert = targets.map((t, i) =>
    assign({ type: "unknown", evaluate: (ctx) => ctx.row[i] }, table.columns[t]).evaluate
  );
  const planner = new Planner(db, session, []);
  const defaults = table.columns.map((c, i) =>
    targets.includes(i) || c.default === null ? null : planner.defaultOf(c)
  );
  const rules = planner.constraintsOf(table);
  return { table, format, names, rules, targets, convert, defaults, rows: 0 };
}

/** What COPY ... TO STDOUT reads: a query, its format, and which columns FORCE_QUOTE names. */
export interface CopySource {
  prepared: Prepared;
  format: CopyFormat;
  names: string[];
  forced: boolean[];
}

/** Plans COPY table [(columns)] TO STDOUT or COPY (query) TO STDOUT as the query it is. */
export function copySource(
  db: Database,
  session: SessionInfo,
  statement: Extract<Statement, { kind: "copy" }>,
): CopySource {
  const format = copyFormat(statement.options, "to");
  let query = statement.query;
  if (!query) {
    const table = db.table(statement.table, session);
    const names = statement.columns ?? table.columns.map((c) => c.name);
    for (const name of names) {
      if (!table.columns.some((c) => c.name === name)) {
        throw new SqlError("42703", `column "${name}" of relation "${table.name}" does not exist`);
      }
    }
    const quoted = (name: string) => `"${name.replace(/"/g, '""')}"`;
    query = parseStatement(
      `SELECT ${names.map(quoted).join(", ")} FROM ${quoted(table.name)}`,
    ) as SelectStatement;
  }
  const prepared = prepare(db, session, query);
  const names = prepared.columns!.map((c) => c.name);
  const forced = names.map((n) => format.forceQuote === true || format.forceQuote.includes(n));
  return { prepared, format, names, forced };
}

/** A value as COPY writes it: PostgreSQL's text output of its type. */
export function copyText(type: SqlType, value: PgValue): string | null {
  return value === null ? null : formatValue(type, value);
}

/** Inserts rows of COPY text fields (null for \N), filling defaults for the other columns. */
export async function copyRows(
  db: Database,
  ctx: RunContext,
  target: CopyTarget,
  rows: CopyRow[],
): Promise<void> {
  const { table, targets, convert, rules } = target;
  await lockForWrite(ctx.sqlTx.tx, table);
  const e = evalContext(ctx, []);
  const work = rules ? new ConstraintWork(rules.host) : null;
  for (const { fields, line, raw } of rows) {
    try {
      if (fields.length !== targets.length) {
        throw new SqlError(
          "22P04",
          fields.length < targets.length
            ? `missing data for column "${table.columns[targets[fields.length]].name}"`
            : "extra data after last expected column",
        );
      }
      e.row = fields;
      const values = new Array<PgValue>(table.columns.length).fill(null);
      const given = new Array<boolean>(table.columns.length).fill(false);
      for (let i = 0; i < targets.length; i++) {
        try {
          values[targets[i]] = convert[i](e);
        } catch (error) {
          // A field that does not convert: PostgreSQL's context names the column and the field.
          const code = (error as { code?: unknown }).code;
          if (!(error instanceof Error) || typeof code !== "string") throw error;
          if (error instanceof SqlError && error.where !== undefined) throw error;
          const field = fields[i];
          const { detail, hint } = error as { detail?: string; hint?: string };
          throw new SqlError(code, error.message, {
            detail,
            hint,
            where: `COPY ${table.name}, line ${line}, column ${table.columns[targets[i]].name}: ${
              field === null ? "null input" : `"${field}"`
            }`,
          });
        }
        given[targets[i]] = true;
      }
      for (let i = 0; i < table.columns.length; i++) {
        if (given[i]) continue;
        const column = table.columns[i];
        if (column.serial) {
          values[i] = fromCounter(column.type, await db.nextval(ctx.sqlTx, table, column.name));
        } else if (target.defaults[i] !== null) {
          e.row = [];
          values[i] = target.defaults[i]!(e);
        }
      }
      checkNotNull(table, values);
      if (rules) checkRow(table, rules.checks, values, e);
      const rowid = table.rowid ? await db.nextval(ctx.sqlTx, table, "") : null;
      await insertRow(ctx.sqlTx.tx, table, rowToEngine(table, values, rowid));
      work?.inserted(table, values);
      target.rows++;
    } catch (error) {
      if (!(error instanceof SqlError) || error.where !== undefined) throw error;
      throw new SqlError(error.code, error.message, {
        detail: error.detail,
        hint: error.hint,
        where: copyContext(table.name, line, raw),
      });
    }
  }
  await work?.finish(ctx.sqlTx.tx, e);
}

/** Whether any part of a statement's tree reads a table (or WITH query) called `name`. */
function refersTo(node: unknown, name: string): boolean {
  if (node === null || typeof node !== "object") return false;
  if (Array.isArray(node)) return node.some((n) => refersTo(n, name));
  const o = node as Record<string, unknown>;
  if (o.kind === "table" && Array.isArray(o.name) && o.name.length === 1 && o.name[0] === name) {
    return true;
  }
  for (const key in o) if (refersTo(o[key], name)) return true;
  return false;
}

/**
 * PostgreSQL's rules for a recursive term (42P19): the WITH query is read
 * once, directly in its FROM, not on the nullable side of an outer join,
 * nor in a subquery, and the term has no aggregates.
 */
function checkRecursiveTerm(term: QueryBody, name: string): void {
  const fail = (where: string) => {
    throw new SqlError("42P19", `recursive reference to query "${name}" must not appear ${where}`);
  };
  if (term.kind !== "select_core") {
    if (refersTo(term, name)) fail("within a subquery");
    return;
  }
  let count = 0;
  const visit = (item: FromItem, nullable: boolean): void => {
    if (item.kind === "table") {
      if (item.name.length === 1 && item.name[0] === name) {
        if (nullable) fail("within an outer join");
        if (++count > 1) fail("more than once");
      }
      return;
    }
    if (item.kind === "subquery" && item.query.body.kind === "select_core") {
      // A subquery in FROM may read it, under the same rules.
      const core = item.query.body;
      for (const inner of core.from) visit(inner, nullable);
      const { from: _inner, ...others } = core;
      if (refersTo([others, item.query.with, item.query.orderBy], name)) fail("within a subquery");
      return;
    }
    if (item.kind !== "join") {
      if (refersTo(item, name)) fail("within a subquery");
      return;
    }
    visit(item.left, nullable || item.type === "right" || item.type === "full");
    visit(item.right, nullable || item.type === "left" || item.type === "full");
    if (refersTo(item.on, name)) fail("within a subquery");
  };
  for (const item of term.from) visit(item, false);
  const { from: _from, ...rest } = term;
  if (refersTo(rest, name)) fail("within a subquery");
  const exprs = [
    ...rest.columns.map((c) => c.expr),
    ...(rest.having ? [rest.having] : []),
  ];
  if (exprs.some(hasAggregate)) {
    throw new SqlError(
      "42P19",
      "aggregate functions are not allowed in a recursive query's recursive term",
    );
  }
}

/**
 * A FROM item run again for each row of the items before it: a LATERAL
 * subquery, or a function whose arguments read columns (in PostgreSQL a
 * function in FROM may always read the items before it).
 */
function isLateral(
  item: FromItem,
): item is Extract<FromItem, { kind: "subquery" | "function" }> {
  if (item.kind === "subquery") return item.lateral;
  return item.kind === "function" && (item.lateral || readsColumns(item.call.args));
}

/** Whether an expression tree reads a column anywhere. */
function readsColumns(node: unknown): boolean {
  if (node === null || typeof node !== "object") return false;
  if (Array.isArray(node)) return node.some(readsColumns);
  const o = node as Record<string, unknown>;
  if (o.kind === "column") return true;
  for (const key in o) if (readsColumns(o[key])) return true;
  return false;
}
