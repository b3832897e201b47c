// The storage engine's one public entry: open a directory, run
// transactions, checkpoint, close. The SQL layer sits on this API.
//
//   const engine = await Engine.open({ dir, bufferPoolPages: 4096 });
//   const tx = engine.begin();
//   await tx.createTable({ name: "t", columns: [...], primaryKey: ["id"] });
//   await tx.insert("t", [1n, "one"]);
//   await tx.commit();            // resolves once the commit is durable
//   for await (const row of engine.begin().scan("t")) ...
//   await engine.close();
//
// How the pieces fit (each file's header says more):
//   - Changes happen to pages in the buffer pool (buffer_pool.ts) through
//     table.ts, and are logged logically in the WAL (wal.ts) as they happen.
//     The data file is written only by checkpoints, through a double-write
//     file, after the log is fsynced: every change is logged before its page
//     is written, and pages are never torn.
//   - Commit appends a commit record, releases the transaction's locks
//     (early lock release: anyone who then reads its data commits later in
//     the same log, so cannot become durable before it), and resolves once
//     the group-committed fsync covers it. A reader that answers before it
//     commits waits only for the commits that wrote what it locked (the
//     lock manager remembers their LSNs: `Transaction.readLsn`).
//   - Rollback undoes the transaction's records newest first, in memory.
//   - Isolation: strict two-phase locking (locks.ts), serializable. A read
//     or write of one primary key locks that key (S or X) under an intention
//     lock on its table (IS or IX), so transactions on different rows of a
//     table run side by side; scans and unique-index lookups lock the whole
//     table S, and DDL, TRUNCATE and statements that write rows they find
//     by scanning lock it X (`lockForWrite`), which conflicts with every
//     key lock's intention lock. Writes to a table with a unique secondary
//     index lock the whole table X: the index's check would otherwise meet
//     another transaction's uncommitted entry. Deadlocks are refused at
//     once; waits time out after `lockTimeoutMs`. Either way the
//     transaction is rolled back and the error says so.
//   - Checkpoints run on `checkpoint()`, at close, when the log passes
//     `walCheckpointBytes`, and when the buffer pool is over its bound with
//     dirty pages (the only way dirty pages leave memory). With
//     `idleCheckpointMs`, also once no transaction has ended or been open
//     for that long while a quarter of either bound is used up: a
//     checkpoint blocks the event loop (it writes every dirty page twice
//     and fsyncs), so it is better paid in a pause than in the middle of
//     the next burst of work, which is where the bounds would force it.
//   - Open repairs torn pages from the double-write file, verifies every
//     page's checksum (and again whenever a page is read), replays the log
//     (recovery.ts), and takes a checkpoint. A page that fails its checksum
//     makes open (or the read) fail with CorruptionError, and so does a
//     missing log or data file, or a log damaged in its middle (a bad record
//     followed by records fsynced after it, see decodeLog in wal_codec.ts):
//     the engine never serves data it cannot trust.
//   - Files: every file call goes through the file layer (lib/fs/file_layer.ts,
//     option `files`), so tests/services/datastore/power_loss_test.ts can run
//     the engine on a simulated disk that loses whatever was not fsynced.
//     `recovery` reports what open did, for a health check.
//   - Bounds: rows (`rowBytesMax`), keys (1024 bytes, btree.ts), one
//     transaction's log (`transactionLogBytesMax`); past one, LimitError and
//     nothing changed.
//
// Left out: MVCC, key locks through secondary indexes, DROP TABLE, ALTER TABLE
// (the SQL layer rebuilds a table into a new one),
// returning an emptied table's heap pages to the file, shrinking the file.

import { join } from "node:path";
import { type FileLayer, realFiles } from "../../../lib/fs/file_layer.ts";
import { BTree } from "./btree.ts";
import { BufferPool, repairFromDoubleWrite } from "./buffer_pool.ts";
import {
  type CatalogDoc,
  checkIndexSpec,
  checkTableSpec,
  decodeCatalog,
  encodeCatalog,
  type IndexDef,
  type IndexSpec,
  type TableDef,
  type TableSpec,
} from "./catalog.ts";
import { LimitError } from "../../../lib/errors.ts";
import {
  ConstraintError,
  CorruptionError,
  SchemaError,
  TransactionClosedError,
  UnsupportedFormatError,
} from "./errors.ts";
import { readChain } from "./heap.ts";
import { RecordList } from "./record_list.ts";
import {
  FORMAT_VERSION,
  metaFormatVersion,
  OVERFLOW_DATA_BYTES,
  PageType,
  readMeta,
  readOverflow,
  writeMeta,
  writeOverflow,
} from "./pages.ts";
import { replay, type ReplaySummary } from "./recovery.ts";
import { decodeRow, encodeKey, prefixEnd, type Row, type Value } from "./row_codec.ts";
import { type Index, Table } from "./table.ts";
import { PREALLOCATE_BYTES, readLog, RecordKind, Wal, type WalRecord } from "./wal.ts";
import { covers, joinModes, LockManager, type LockMode } from "./locks.ts";
import type { Bound, ScanRange } from "./btree.ts";

export type { ColumnDef, IndexDef, IndexSpec, TableDef, TableSpec } from "./catalog.ts";
export type { ReplaySummary } from "./recovery.ts";
export type { ColumnType, Row, Value } from "./row_codec.ts";
export {
  ConstraintError,
  CorruptionError,
  DeadlockError,
  LockTimeoutError,
  SchemaError,
  TransactionClosedError,
  UnsupportedFormatError,
} from "./errors.ts";

export interface EngineOptions {
  /** Directory for data.db, data.dwrite and wal.log (created if missing). */
  dir: string;
  /** Buffer pool bound in 8 KiB pages (default 4096 = 32 MiB). */
  bufferPoolPages?: number;
  /** How long a transaction waits for a lock before giving up (default 5000). */
  lockTimeoutMs?: number;
  /** Largest row, all values counted in full (default 16 MiB). */
  rowBytesMax?: number;
  /** Checkpoint once the log grows past this (default 64 MiB). */
  walCheckpointBytes?: number;
  /** Check every page's checksum at open (default true; costs one read of the file). */
  verifyOnOpen?: boolean;
  /**
   * Where the files live (default: the real disk). Power-loss tests pass a
   * simulated disk (tests/_support/power_loss_fs.ts).
   */
  files?: FileLayer;
  /** Step in which the log file is extended with zeros (default 4 MiB, see wal.ts). */
  walPreallocateBytes?: number;
  /**
   * Largest total of one transaction's log records (default 256 MiB): they
   * are kept in memory for rollback (encoded, record_list.ts) and copied
   * into every checkpoint while the transaction is open.
   */
  transactionLogBytesMax?: number;
  /**
   * When > 0: checkpoint once the engine has been idle (no transaction
   * ended, none open) for this long while the dirty pages fill a quarter of
   * the pool or the log a quarter of `walCheckpointBytes` (default 0:
   * never; the datastore service turns it on). It runs from a timer, so it
   * stays off where tests replay the engine's disk operations in order.
   */
  idleCheckpointMs?: number;
  /**
   * Run group commit's fsyncs on a thread of their own when the file layer
   * offers one (default false; the service's `--wal-sync-thread`): see
   * wal.ts. Costs a worker per engine, and about 25 ms to start it.
   */
  walSyncThread?: boolean;
  /**
   * Put a group commit's flush off until as many committers wait as the
   * last one covered, for at most a millisecond (default false; the
   * datastore service turns it on): see wal.ts.
   */
  walGatherCommits?: boolean;
}

/** Rows to copy into a new table (Transaction.createTable). */
export interface CopySpec {
  /** The table whose rows are copied. */
  from: string;
  /**
   * For each column of the new table, the index of the old table's column
   * it takes, or -1 for NULL (a column the old table does not have).
   */
  columns: number[];
}

export interface ScanOptions {
  /** Lower bound on the key (a prefix of the key's columns). */
  lower?: Value[];
  lowerInclusive?: boolean;
  /** Upper bound on the key (a prefix of the key's columns). */
  upper?: Value[];
  upperInclusive?: boolean;
  /** Descending key order. */
  reverse?: boolean;
  /** At most this many rows. */
  limit?: number;
  /**
   * Lock the table in this intention mode instead of S: the caller locks
   * each row it keeps with `lockRow` and reads it again under that lock
   * (SELECT ... FOR UPDATE/SHARE), so other transactions may go on
   * writing the rows it does not keep.
   */
  tableLock?: "IS" | "IX";
}

/**
 * What opening the engine did to recover, for a health check (/readyz):
 * an engine exists only once recovery is done, so `done` is true on every
 * open engine; the counts say how much work the last crash left.
 */
export interface RecoveryReport {
  readonly done: true;
  /** True when open found no files and created a new, empty engine. */
  readonly created: boolean;
  /** Log records redone over the last checkpoint. */
  readonly recordsReplayed: number;
  /** Log records undone (transactions that never committed). */
  readonly recordsUndone: number;
  /** Transactions rolled back because the log ended before their commit. */
  readonly transactionsUndone: number;
  /** Pages copied back from the double-write file (a checkpoint torn by the crash). */
  readonly doubleWritePagesRestored: number;
}

export interface EngineStats {
  commits: number;
  rollbacks: number;
  /** Transactions waiting for a lock right now. */
  lockWaits: number;
  /** Lock requests that had to wait, since open. */
  lockWaitsTotal: number;
  /** Time the granted ones waited, in ms, since open. */
  lockWaitedMs: number;
  /** Lock requests refused as deadlock victims, and after lockTimeoutMs. */
  deadlocks: number;
  lockTimeouts: number;
  fsyncs: number;
  /** Log flushes that waited for committers (`walGatherCommits`), and the waits that ran out. */
  commitGathers: number;
  commitGatherTimeouts: number;
  checkpoints: number;
  /** Of those, the ones taken because the engine was idle (`idleCheckpointMs`). */
  idleCheckpoints: number;
  pagesRead: number;
  pagesWritten: number;
  poolPages: number;
  recovery: ReplaySummary | null;
  doubleWritePagesRestored: number;
}

const SCAN_BATCH_ROWS = 256;
const DATA_FILE = "data.db";
const DWRITE_FILE = "data.dwrite";
const WAL_FILE = "wal.log";

interface Doc extends CatalogDoc {
  nextTxId: number;
}

export class Engine {
  #dir: string;
  #pool: BufferPool;
  #wal!: Wal;
  #doc: Doc;
  #tables = new Map<string, Table>();
  #tablesById = new Map<number, Table>();
  #catalogPages: number[] = [];
  #locks = new LockManager();
  #active = new Set<Transaction>();
  #options: Required<EngineOptions>;
  #closed = false;
  #stats = { commits: 0, rollbacks: 0, checkpoints: 0, idleCheckpoints: 0 };
  /** The idle checkpoint's timer (`idleCheckpointMs`), and the transactions ended when it was set. */
  #idleTimer: ReturnType<typeof setTimeout> | null = null;
  #idleEnded = 0;
  #recovery: ReplaySummary | null = null;
  #restored = 0;
  #files: FileLayer;
  /** Whether open had to create one of the engine's files. */
  #createdFiles: boolean;

  private constructor(
    options: Required<EngineOptions>,
    opened: { restored: number; createdFiles: boolean },
  ) {
    this.#options = options;
    this.#dir = options.dir;
    this.#files = options.files;
    this.#restored = opened.restored;
    this.#createdFiles = opened.createdFiles;
    this.#pool = new BufferPool({
      files: options.files,
      dataPath: join(options.dir, DATA_FILE),
      doubleWritePath: join(options.dir, DWRITE_FILE),
      capacityPages: options.bufferPoolPages,
    });
    this.#doc = { nextTableId: 1, tables: [], pageCount: 0, freePages: [], nextTxId: 1 };
  }

  /** Opens (creating or recovering) the engine in `options.dir`. */
  static open(options: EngineOptions): Promise<Engine> {
    const full: Required<EngineOptions> = {
      bufferPoolPages: 4096,
      lockTimeoutMs: 5000,
      rowBytesMax: 16 * 1024 * 1024,
      walCheckpointBytes: 64 * 1024 * 1024,
      verifyOnOpen: true,
      transactionLogBytesMax: 256 * 1024 * 1024,
      files: realFiles,
      walPreallocateBytes: PREALLOCATE_BYTES,
      idleCheckpointMs: 0,
      walSyncThread: false,
      walGatherCommits: false,
      ...options,
    };
    const files = full.files;
    files.makeDirectory(full.dir);
    const createdFiles = [DATA_FILE, DWRITE_FILE, WAL_FILE].some((name) =>
      files.sizeOf(join(full.dir, name)) === null
    );
    const restored = repairFromDoubleWrite(files, {
      dataPath: join(full.dir, DATA_FILE),
      doubleWritePath: join(full.dir, DWRITE_FILE),
    });
    const engine = new Engine(full, { restored, createdFiles });
    try {
      engine.#start();
    } catch (error) {
      engine.#pool.close();
      return Promise.reject(error);
    }
    return Promise.resolve(engine);
  }

  #start(): void {
    const walPath = join(this.#dir, WAL_FILE);
    const walExists = this.#files.sizeOf(walPath) !== null;
    if (this.#pool.pageCount === 0) {
      if (walExists && readLog(this.#files, walPath).records.length > 0) {
        throw new CorruptionError(
          `${this.#dir}: ${DATA_FILE} is missing or empty but ${WAL_FILE} has records`,
        );
      }
      const meta = this.#pool.allocate(PageType.meta);
      if (meta.id !== 0) throw new Error("meta page must be page 0");
      this.#openWal(walPath, { lastLsn: 0, validBytes: 0, salt: 0 });
      this.checkpoint();
      return;
    }
    if (!walExists) {
      // Every checkpoint leaves a log behind; without it, commits since the
      // last checkpoint would silently vanish.
      throw new CorruptionError(
        `${this.#dir}: ${WAL_FILE} is missing; refusing to start without it`,
      );
    }
    const metaPage = this.#pool.get(0).page;
    const version = metaFormatVersion(metaPage);
    if (version !== null && version !== FORMAT_VERSION) {
      throw new UnsupportedFormatError(
        `${this.#dir}: ${DATA_FILE} has format version ${version}; this build reads version ` +
          `${FORMAT_VERSION} only`,
        { path: join(this.#dir, DATA_FILE), version },
      );
    }
    const meta = readMeta(metaPage);
    if (typeof meta === "string") throw new CorruptionError(`${this.#dir}: ${meta}`);
    this.#loadCatalog(meta.catalogPage, meta.catalogBytes);
    if (this.#options.verifyOnOpen) this.#pool.verifyAll();
    const log = readLog(this.#files, walPath);
    const lastLsn = Math.max(meta.checkpointLsn, log.records.at(-1)?.lsn ?? 0);
    this.#openWal(walPath, { lastLsn, validBytes: log.validBytes, salt: log.salt });
    const summary = replay(log.records, meta, {
      redo: (record) => this.#redo(record),
      undo: (record) => this.#undo(record),
    });
    this.#recovery = summary;
    this.#doc.nextTxId = Math.max(this.#doc.nextTxId, summary.txIdMax + 1);
    this.checkpoint();
  }

  /**
   * Opens the log, then, when open created any of the engine's files, fsyncs
   * the directory before anything is written into them: otherwise a power
   * cut could keep one file's name and lose another's (a data file with no
   * log, or torn pages with no double-write file to repair them).
   */
  #openWal(path: string, start: { lastLsn: number; validBytes: number; salt: number }): void {
    this.#wal = new Wal(path, {
      ...start,
      files: this.#files,
      preallocateBytes: this.#options.walPreallocateBytes,
      // Transactions waiting for locks: the one a commit just let through
      // (locks go before the fsync) should not wait for that fsync as well.
      overlap: () => this.#locks.waiting > 0,
      syncThread: this.#options.walSyncThread,
      gather: this.#options.walGatherCommits,
    });
    if (this.#createdFiles) this.#files.syncDirectory(this.#dir);
  }

  #loadCatalog(firstPage: number, bytes: number): void {
    const text = new TextDecoder().decode(readChain(this.#pool, { firstPage, totalBytes: bytes }));
    let doc: Doc;
    try {
      doc = decodeCatalog(text) as Doc;
    } catch (error) {
      throw new CorruptionError(`${this.#dir}: catalog unreadable: ${(error as Error).message}`);
    }
    this.#doc = doc;
    this.#catalogPages = chainPages(this.#pool, firstPage, bytes);
    this.#pool.pageCount = doc.pageCount;
    this.#pool.freePages = doc.freePages;
    for (const def of doc.tables) this.#addTable(def);
  }

  #addTable(def: TableDef): Table {
    const table = new Table(this.#pool, def, { rowBytesMax: this.#options.rowBytesMax });
    this.#tables.set(def.name, table);
    this.#tablesById.set(def.id, table);
    return table;
  }

  /**
   * The engine's directory and the file layer it reaches its files through:
   * the SQL layer keeps its temporary files beside them (sql/row_spool.ts).
   */
  get place(): { dir: string; files: FileLayer } {
    return { dir: this.#dir, files: this.#files };
  }

  /** Starts a transaction. */
  begin(): Transaction {
    this.#checkOpen();
    const tx = new Transaction(this, this.#doc.nextTxId++);
    this.#active.add(tx);
    return tx;
  }

  /**
   * Resolves once the log is durable up to everything appended so far, so
   * a reader that calls it after reading covers every commit it may have
   * seen (locks are released before the fsync). Cheaper than committing an
   * empty transaction: no transaction id, no entry in the active set.
   */
  durable(): Promise<void> {
    this.#checkOpen();
    return this.#wal.waitDurable(this.#wal.appendedLsn);
  }

  /** @internal The log's end now (Transaction records it when it takes a lock). */
  get appendedLsn(): number {
    return this.#wal.appendedLsn;
  }

  /** @internal Resolves once the log is durable up to `lsn`. */
  waitDurable(lsn: number): Promise<void> {
    this.#checkOpen();
    return this.#wal.waitDurable(lsn);
  }

  /** Names and definitions of every table. */
  tables(): TableDef[] {
    return [...this.#tables.values()].map((t) => structuredClone(t.def));
  }

  /** What open did to recover (see RecoveryReport). */
  get recovery(): RecoveryReport {
    const summary = this.#recovery;
    return {
      done: true,
      created: summary === null,
      recordsReplayed: summary?.redone ?? 0,
      recordsUndone: summary?.undone ?? 0,
      transactionsUndone: summary?.losers.length ?? 0,
      doubleWritePagesRestored: this.#restored,
    };
  }

  stats(): EngineStats {
    return {
      ...this.#stats,
      lockWaits: this.#locks.waiting,
      lockWaitsTotal: this.#locks.waits,
      lockWaitedMs: this.#locks.waitedMs,
      deadlocks: this.#locks.deadlocks,
      lockTimeouts: this.#locks.timeouts,
      fsyncs: this.#wal.fsyncs,
      commitGathers: this.#wal.gathers,
      commitGatherTimeouts: this.#wal.gatherTimeouts,
      pagesRead: this.#pool.reads,
      pagesWritten: this.#pool.writes,
      poolPages: this.#pool.size,
      recovery: this.#recovery,
      doubleWritePagesRestored: this.#restored,
    };
  }

  /**
   * Writes every dirty page and restarts the log. Runs synchronously, so it
   * always sees whole operations.
   */
  checkpoint(hooks: { afterDoubleWrite?: () => void } = {}): void {
    this.#wal.flush();
    this.#writeCatalog(this.#wal.appendedLsn);
    this.#pool.flush(hooks);
    // The open transactions' records, as the bytes they are kept in (record_list.ts).
    const openEncoded = [...this.#active].flatMap((tx) => tx.records.encoded());
    this.#wal.restart({ kind: RecordKind.checkpoint, lsn: 0, txId: 0, open: [], openEncoded });
    this.#pool.evict();
    this.#stats.checkpoints++;
  }

  #writeCatalog(checkpointLsn: number): void {
    for (const page of this.#catalogPages) this.#pool.free(page);
    // Reserve pages until the document (which lists the free pages and the
    // page count, both changed by reserving) fits in them.
    const pages: number[] = [];
    let bytes: Uint8Array;
    for (;;) {
      this.#doc.pageCount = this.#pool.pageCount;
      this.#doc.freePages = this.#pool.freePages;
      bytes = new TextEncoder().encode(encodeCatalog(this.#doc));
      if (pages.length * OVERFLOW_DATA_BYTES >= bytes.length && pages.length > 0) break;
      pages.push(this.#pool.allocate(PageType.overflow).id);
    }
    pages.forEach((id, i) => {
      const frame = this.#pool.get(id);
      const data = bytes.subarray(i * OVERFLOW_DATA_BYTES, (i + 1) * OVERFLOW_DATA_BYTES);
      writeOverflow(frame.page, pages[i + 1] ?? 0, data);
      this.#pool.markDirty(frame);
    });
    this.#catalogPages = pages;
    const meta = this.#pool.get(0);
    writeMeta(meta.page, {
      checkpointLsn,
      catalogPage: pages[0],
      catalogBytes: bytes.length,
      committedOnly: this.#active.size === 0,
    });
    this.#pool.markDirty(meta);
  }

  /** Rolls back open transactions, checkpoints, and closes the files. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#stopIdleTimer();
    for (const tx of [...this.#active]) tx.rollbackSync();
    this.checkpoint();
    this.#closed = true;
    this.#wal.close();
    this.#pool.close();
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Test hook: drops everything not yet on disk and closes the files, as a
   * kill -9 would (buffered log records and dirty pages are lost).
   */
  crashForTesting(): void {
    if (this.#closed) return;
    this.#stopIdleTimer();
    this.#closed = true;
    this.#wal.abandon();
    this.#pool.close();
  }

  /** Sets the idle checkpoint's timer (one at a time: a commit costs a null check). */
  #armIdleTimer(): void {
    this.#idleEnded = this.#stats.commits + this.#stats.rollbacks;
    const timer = setTimeout(() => this.#idleTick(), this.#options.idleCheckpointMs);
    Deno.unrefTimer(timer);
    this.#idleTimer = timer;
  }

  #stopIdleTimer(): void {
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }

  /**
   * The idle checkpoint (see `idleCheckpointMs`). Nothing due (under a
   * quarter of both bounds): stop until the next transaction ends. Due but
   * busy since the timer was set (a transaction ended, or one is open):
   * look again later. Due and idle: checkpoint.
   */
  #idleTick(): void {
    this.#idleTimer = null;
    if (this.#closed) return;
    const due = this.#wal.sizeBytes >= this.#options.walCheckpointBytes / 4 ||
      this.#pool.dirtyCount() >= this.#pool.capacity / 4;
    if (!due) return;
    const busy = this.#active.size > 0 ||
      this.#stats.commits + this.#stats.rollbacks !== this.#idleEnded;
    if (busy) {
      this.#armIdleTimer();
      return;
    }
    try {
      this.checkpoint();
      this.#stats.idleCheckpoints++;
    } catch {
      // Only a failed log makes it throw (it flushes the log first): every
      // commit reports that error already, and so will the next checkpoint.
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new TransactionClosedError("engine is closed");
  }

  // ---- used by Transaction ----

  /** @internal */
  tableNamed(name: string): Table {
    this.#checkOpen();
    const table = this.#tables.get(name);
    if (!table) throw new SchemaError(`no table named ${name}`);
    return table;
  }

  /** @internal */
  lock(tx: Transaction, resource: string, mode: LockMode): Promise<void> | null {
    return this.#locks.acquire(
      tx.id,
      resource,
      mode,
      tx.lockTimeoutMs ?? this.#options.lockTimeoutMs,
    );
  }

  /** @internal Takes a lock if it is free now; false (nothing queued) if it is not. */
  tryLock(tx: Transaction, resource: string, mode: LockMode): boolean {
    return this.#locks.tryAcquire(tx.id, resource, mode);
  }

  /**
   * @internal The LSN a transaction granted `resource` in `mode` must see
   * durable before it answers with what it read there (locks.ts).
   */
  writtenLsn(resource: string, mode: LockMode): number {
    return this.#locks.writtenLsn(resource, mode);
  }

  /**
   * @internal Whether a read may skip its locks on `resource` (see
   * `Transaction.getNow`'s `alone`): nobody holds or waits for it, and every
   * record appended so far is durable.
   */
  readsAlone(resource: string): boolean {
    return this.#locks.isFree(resource) && this.#wal.isDurableNow(this.#wal.appendedLsn);
  }

  /** @internal True when every record up to `lsn` is durable already. */
  isDurable(lsn: number): boolean {
    return lsn <= this.#wal.durableLsn;
  }

  /**
   * @internal Logs a record of `tx` (the change is already made in memory).
   * Past `transactionLogBytesMax` the change is undone and LimitError thrown;
   * the transaction stays open with its earlier changes.
   */
  log(tx: Transaction, record: WalRecord): void {
    const bytes = recordBytes(record);
    if (tx.logBytes + bytes > this.#options.transactionLogBytesMax) {
      this.#undo(record);
      throw new LimitError(
        "transactionLogBytesMax",
        `transaction ${tx.id} would log more than ${this.#options.transactionLogBytesMax} bytes`,
      );
    }
    tx.logBytes += bytes;
    this.#wal.append(record);
    tx.records.push(record);
  }

  /**
   * @internal Between operations: keep the pool and the log within bounds.
   * The log's bound counts what it grew since the last checkpoint: a
   * checkpoint carries the records of the transactions still open into the
   * new log, and one transaction may log more than the bound (up to
   * `transactionLogBytesMax`); counting those too checkpointed after every
   * operation once it did (an UPDATE of a million rows never finished).
   */
  afterOp(): void {
    if (
      this.#pool.needsCheckpoint() ||
      this.#wal.sizeBytes - this.#wal.restartBytes > this.#options.walCheckpointBytes
    ) {
      this.checkpoint();
    }
  }

  /**
   * @internal `finish(tx, true)` when it would resolve at once: `tx`
   * changed nothing and the log is durable, unfailed, past everything it
   * read. True then (the transaction is finished); false, with nothing
   * done, otherwise.
   */
  finishNow(tx: Transaction): boolean {
    if (tx.records.length > 0 || !this.#wal.isDurableNow(tx.readLsn ?? this.#wal.appendedLsn)) {
      return false;
    }
    this.#active.delete(tx);
    this.#locks.releaseAll(tx.id);
    this.#stats.commits++;
    tx.runFinishHooks();
    return true;
  }

  /** @internal */
  finish(tx: Transaction, committed: boolean): Promise<void> {
    this.#active.delete(tx);
    // A transaction that changed nothing waits only for the commits it read.
    let lsn = tx.readLsn ?? this.#wal.appendedLsn;
    if (tx.records.length > 0) {
      lsn = this.#wal.append({
        kind: committed ? RecordKind.commit : RecordKind.abort,
        lsn: 0,
        txId: tx.id,
      });
    }
    this.#locks.releaseAll(tx.id, committed && tx.records.length > 0 ? lsn : undefined);
    this.#locks.forgetDurable(this.#wal.durableLsn);
    tx.runFinishHooks();
    if (committed) this.#stats.commits++;
    else this.#stats.rollbacks++;
    if (this.#idleTimer === null && this.#options.idleCheckpointMs > 0) this.#armIdleTimer();
    // A rollback needs no fsync: if its abort record is lost, recovery
    // undoes the transaction anyway.
    return committed ? this.#wal.waitDurable(lsn) : Promise.resolve();
  }

  /** @internal Undoes one record (rollback and recovery). */
  undo(record: WalRecord): void {
    this.#undo(record);
  }

  /** @internal */
  createTable(spec: TableSpec, id?: number): Table {
    checkTableSpec(spec);
    if (this.#tables.has(spec.name)) throw new SchemaError(`table ${spec.name} already exists`);
    const def: TableDef = {
      id: id ?? this.#doc.nextTableId,
      name: spec.name,
      columns: spec.columns.map((c) => ({ ...c })),
      primaryKey: [...spec.primaryKey],
      primaryRoot: BTree.create(this.#pool),
      indexes: [],
      heap: { lastPage: 0, freeSpacePages: [] },
    };
    this.#doc.nextTableId = Math.max(this.#doc.nextTableId, def.id + 1);
    this.#doc.tables.push(def);
    const table = this.#addTable(def);
    for (const index of spec.indexes ?? []) this.createIndex(table, index);
    return table;
  }

  /** @internal Builds an index over the table's rows; throws (changing nothing) on a duplicate. */
  createIndex(table: Table, spec: IndexSpec): Index {
    checkIndexSpec(table.def.columns, spec);
    if (table.indexes.some((i) => i.def.name === spec.name)) {
      throw new SchemaError(`index ${spec.name} already exists on ${table.def.name}`);
    }
    const def: IndexDef = {
      name: spec.name,
      columns: [...spec.columns],
      unique: spec.unique ?? false,
      root: BTree.create(this.#pool),
    };
    const index = table.addIndex(def);
    try {
      let range: ScanRange = {};
      for (;;) {
        const batch = table.primary.scan(range, SCAN_BATCH_ROWS);
        for (const entry of batch) {
          const row = table.readRidBytes(entry.value);
          if (def.unique) {
            const values = index.columns.map((i) => row[i]);
            // The index built so far answers whether the values are taken
            // (a set of every key seen held the whole index in memory once more).
            if (
              !values.some((v) => v === null) &&
              index.tree.firstWithPrefix(encodeKey(index.types, values)) !== undefined
            ) {
              throw new ConstraintError(
                def.name,
                `duplicate key while building unique index ${def.name}`,
              );
            }
          }
          index.tree.insert(table.indexKey(index, row), entry.value);
        }
        if (batch.length < SCAN_BATCH_ROWS) break;
        range = { lower: { key: batch.at(-1)!.key.slice(), inclusive: false } };
      }
    } catch (error) {
      table.indexes.pop();
      for (const page of index.tree.pages()) this.#pool.free(page);
      throw error;
    }
    table.def.indexes.push(def);
    return index;
  }

  /** @internal Removes an index and frees its pages. */
  dropIndex(table: Table, name: string): void {
    const at = table.indexes.findIndex((i) => i.def.name === name);
    if (at < 0) throw new SchemaError(`no index ${name} on ${table.def.name}`);
    for (const page of table.indexes[at].tree.pages()) this.#pool.free(page);
    table.indexes.splice(at, 1);
    table.def.indexes.splice(table.def.indexes.findIndex((i) => i.name === name), 1);
  }

  /**
   * @internal Inserts every row of `from` into `to`, columns picked by
   * `columns` (-1: NULL, for a column `from` does not have).
   */
  copyRows(from: Table, to: Table, columns: number[]): void {
    if (columns.length !== to.def.columns.length) {
      throw new SchemaError(`${to.def.name}: a row needs ${to.def.columns.length} values`);
    }
    for (const i of columns) {
      if (!Number.isInteger(i) || i < -1 || i >= from.def.columns.length) {
        throw new SchemaError(`${from.def.name} has no column ${i}`);
      }
    }
    let range: ScanRange = {};
    for (;;) {
      const batch = from.primary.scan(range, SCAN_BATCH_ROWS);
      for (const entry of batch) {
        const row = from.readRidBytes(entry.value);
        to.insert(columns.map((i) => i < 0 ? null : row[i]));
      }
      if (batch.length < SCAN_BATCH_ROWS) break;
      range = { lower: { key: batch.at(-1)!.key.slice(), inclusive: false } };
    }
  }

  /** @internal Drops a table made by this transaction that failed before it was logged. */
  dropTable(table: Table): void {
    this.#dropTable(table);
  }

  #dropTable(table: Table): void {
    for (const page of table.releaseRows()) this.#pool.free(page);
    for (const page of table.primary.pages()) this.#pool.free(page);
    for (const index of table.indexes) for (const page of index.tree.pages()) this.#pool.free(page);
    this.#tables.delete(table.def.name);
    this.#tablesById.delete(table.def.id);
    this.#doc.tables = this.#doc.tables.filter((t) => t.id !== table.def.id);
  }

  #table(id: number): Table {
    const table = this.#tablesById.get(id);
    if (!table) throw new CorruptionError(`log refers to unknown table ${id}`);
    return table;
  }

  #redo(record: WalRecord): void {
    switch (record.kind) {
      case RecordKind.insert: {
        const table = this.#table(record.tableId);
        table.insert(decodeRow(table.types, record.row));
        break;
      }
      case RecordKind.delete: {
        const table = this.#table(record.tableId);
        table.delete(table.pkKey(table.pkOf(decodeRow(table.types, record.row))));
        break;
      }
      case RecordKind.update: {
        const table = this.#table(record.tableId);
        const old = decodeRow(table.types, record.oldRow);
        table.update(table.pkKey(table.pkOf(old)), decodeRow(table.types, record.row));
        break;
      }
      case RecordKind.createTable: {
        const { id, spec, copy } = JSON.parse(record.json) as {
          id: number;
          spec: TableSpec;
          copy?: { fromId: number; columns: number[] };
        };
        const table = this.createTable(spec, id);
        if (copy) this.copyRows(this.#table(copy.fromId), table, copy.columns);
        break;
      }
      case RecordKind.createIndex: {
        const { tableId, spec } = JSON.parse(record.json) as { tableId: number; spec: IndexSpec };
        this.createIndex(this.#table(tableId), spec);
        break;
      }
      case RecordKind.dropIndex: {
        const { tableId, spec } = JSON.parse(record.json) as { tableId: number; spec: IndexSpec };
        this.dropIndex(this.#table(tableId), spec.name);
        break;
      }
    }
  }

  #undo(record: WalRecord): void {
    switch (record.kind) {
      case RecordKind.insert: {
        const table = this.#table(record.tableId);
        table.delete(table.pkKey(table.pkOf(decodeRow(table.types, record.row))));
        break;
      }
      case RecordKind.delete: {
        const table = this.#table(record.tableId);
        table.insert(decodeRow(table.types, record.row));
        break;
      }
      case RecordKind.update: {
        const table = this.#table(record.tableId);
        const row = decodeRow(table.types, record.row);
        table.update(table.pkKey(table.pkOf(row)), decodeRow(table.types, record.oldRow));
        break;
      }
      case RecordKind.createTable: {
        const { id } = JSON.parse(record.json) as { id: number };
        const table = this.#tablesById.get(id);
        if (table) this.#dropTable(table);
        break;
      }
      case RecordKind.createIndex: {
        const { tableId, spec } = JSON.parse(record.json) as { tableId: number; spec: IndexSpec };
        const table = this.#tablesById.get(tableId);
        if (table && table.indexes.some((i) => i.def.name === spec.name)) {
          this.dropIndex(table, spec.name);
        }
        break;
      }
      case RecordKind.dropIndex: {
        // The table's rows are as they were when the index was dropped
        // (undo runs newest first), so the rebuild cannot meet a duplicate.
        const { tableId, spec } = JSON.parse(record.json) as { tableId: number; spec: IndexSpec };
        const table = this.#tablesById.get(tableId);
        if (table && !table.indexes.some((i) => i.def.name === spec.name)) {
          this.createIndex(table, spec);
        }
        break;
      }
    }
  }
}

/**
 * Flattens batches into rows. Written by hand rather than as an async
 * generator: rows already in hand cost one resolved promise each, without a
 * generator's request queue.
 */
function rowsOf(batches: AsyncGenerator<Row[]>): AsyncIterableIterator<Row> {
  let batch: Row[] = [];
  let at = 0;
  const iterator: AsyncIterableIterator<Row> = {
    [Symbol.asyncIterator]: () => iterator,
    next(): Promise<IteratorResult<Row>> {
      if (at < batch.length) return Promise.resolve({ value: batch[at++], done: false });
      return batches.next().then((result) => {
        if (result.done) return { value: undefined, done: true };
        batch = result.value;
        at = 1;
        return { value: batch[0], done: false };
      });
    },
    return(): Promise<IteratorResult<Row>> {
      batch = [];
      return batches.return(undefined).then(() => ({ value: undefined, done: true }));
    },
  };
  return iterator;
}

/** About how many bytes a record takes in the log. */
function recordBytes(record: WalRecord): number {
  switch (record.kind) {
    case RecordKind.insert:
    case RecordKind.delete:
      return 40 + record.row.length;
    case RecordKind.update:
      return 44 + record.oldRow.length + record.row.length;
    case RecordKind.createTable:
    case RecordKind.createIndex:
    case RecordKind.dropIndex:
      return 40 + record.json.length;
    default:
      return 40;
  }
}

/** The pages of an overflow chain, in order. */
function chainPages(pool: BufferPool, firstPage: number, bytes: number): number[] {
  const pages: number[] = [];
  const count = Math.max(1, Math.ceil(bytes / OVERFLOW_DATA_BYTES));
  for (let page = firstPage; page !== 0 && pages.length < count;) {
    pages.push(page);
    page = readOverflow(pool.get(page).page).next;
  }
  return pages;
}

/** Lock resource names of tables, by table id (made once each). */
const tableResources: string[] = [];

/** The lock resource of a whole table. */
function tableResource(table: Table): string {
  const id = table.def.id;
  return tableResources[id] ??= `t:${id}`;
}

/** The lock resource of one primary key of a table (`key` encoded, as the tree holds it). */
function keyResource(table: Table, key: Uint8Array): string {
  let name = `k${table.def.id}:`;
  for (let i = 0; i < key.length; i++) name += String.fromCharCode(key[i]);
  return name;
}

/**
 * Whether two keys hold the same values: by `===` (numbers, bigints,
 * strings, booleans, null); byte strings only when the same array, so two
 * equal ones are merely not recognized (and encoded, to the same name).
 */
function sameValues(a: readonly Value[], b: readonly Value[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A transaction: every read and write goes through one. */
export class Transaction {
  readonly id: number;
  /** @internal The log records of this transaction's changes, oldest first (most kept encoded). */
  readonly records: RecordList = new RecordList();
  /** @internal Their size in the log. */
  logBytes = 0;
  /**
   * @internal The largest commit LSN among the transactions that last wrote
   * what this one has locked (undefined before its first lock): every
   * commit whose changes it can read. A writer appends its commit before
   * releasing its locks, and the lock manager remembers that LSN for the
   * next holder (locks.ts); locks are held to the end, so anything read
   * later under them is that or this transaction's own work.
   */
  readLsn: number | undefined;
  /**
   * How long this transaction's next lock waits may last (PostgreSQL's
   * lock_timeout, set per statement by the SQL layer); undefined: the
   * engine's `lockTimeoutMs`.
   */
  lockTimeoutMs: number | undefined;
  /**
   * The mode this transaction holds each resource in (the lock manager's,
   * mirrored); made at the first lock, since many transactions take none.
   */
  #modesMap: Map<string, LockMode> | null = null;
  #engine: Engine;
  #state: "open" | "committed" | "rolled back" = "open";

  /** @internal */
  constructor(engine: Engine, id: number) {
    this.#engine = engine;
    this.id = id;
  }

  get state(): "open" | "committed" | "rolled back" {
    return this.#state;
  }

  #finishHooks: (() => void)[] | null = null;

  /**
   * Runs `hook` once when this transaction ends, committed or rolled back,
   * as its locks are released (the SQL layer's transaction-scoped advisory
   * locks go then).
   */
  onFinish(hook: () => void): void {
    (this.#finishHooks ??= []).push(hook);
  }

  /** @internal */
  runFinishHooks(): void {
    const hooks = this.#finishHooks;
    this.#finishHooks = null;
    if (hooks !== null) { for (const hook of hooks) hook(); }
  }

  #checkOpen(): void {
    if (this.#state !== "open") {
      throw new TransactionClosedError(`transaction ${this.id} is ${this.#state}`);
    }
  }

  /**
   * Takes `mode` on `resource` unless this transaction holds it already:
   * null when it holds it now, else a promise that resolves when granted.
   * On deadlock or timeout rolls this transaction back and rejects.
   */
  #lock(resource: string, mode: LockMode): Promise<void> | null {
    const held = this.#modesMap?.get(resource);
    if (held !== undefined && covers(held, mode)) return null;
    const wait = this.#engine.lock(this, resource, mode);
    if (wait === null) {
      this.#granted(resource, joinModes(held, mode));
      return null;
    }
    return wait.then(
      () => {
        this.#granted(resource, joinModes(held, mode));
        this.#checkOpen();
      },
      (error) => {
        this.rollbackSync();
        throw error;
      },
    );
  }

  /** `#lock` when granted at once; false (nothing queued) when it would wait. */
  #tryLock(resource: string, mode: LockMode): boolean {
    const held = this.#modesMap?.get(resource);
    if (held !== undefined && covers(held, mode)) return true;
    if (!this.#engine.tryLock(this, resource, mode)) return false;
    this.#granted(resource, joinModes(held, mode));
    return true;
  }

  #granted(resource: string, mode: LockMode): void {
    (this.#modesMap ??= new Map()).set(resource, mode);
    const lsn = this.#engine.writtenLsn(resource, mode);
    if (this.readLsn === undefined || lsn > this.readLsn) this.readLsn = lsn;
  }

  /** Locks a table; on deadlock or timeout rolls this transaction back and rethrows. */
  async #table(name: string, mode: LockMode): Promise<Table> {
    this.#checkOpen();
    const table = this.#engine.tableNamed(name);
    const wait = this.#lock(tableResource(table), mode);
    if (wait === null) return table;
    await wait;
    return this.#engine.tableNamed(name);
  }

  /**
   * Locks the rows of `name` with primary keys `keys(table)` (encoded) in
   * `mode` (S or X), under the table's intention lock; X on the whole table
   * instead when writing a table with a unique secondary index (see the
   * file comment).
   */
  async #keys(name: string, mode: "S" | "X", keys: Value[][]): Promise<Table> {
    this.#checkOpen();
    let table = this.#engine.tableNamed(name);
    const whole = this.#modesMap?.get(tableResource(table));
    // The whole table locked already (a bulk load, a scan): no key locks, so
    // a COPY of a million rows holds one lock, not a million.
    if (whole === "X" || whole === mode) return table;
    if (mode === "X" && table.indexes.some((i) => i.def.unique)) return this.#table(name, "X");
    const intention = this.#lock(tableResource(table), mode === "X" ? "IX" : "IS");
    if (intention !== null) {
      await intention;
      table = this.#engine.tableNamed(name);
    }
    for (const key of keys) {
      const wait = this.#lock(this.#keyResource(table, key), mode);
      if (wait !== null) {
        await wait;
        table = this.#engine.tableNamed(name);
      }
    }
    return table;
  }

  /** The last key `#keyResource` named, and its name. */
  #lastKey: { table: Table; key: Value[]; resource: string } | null = null;

  /**
   * The lock resource of a primary key. One statement names the same key
   * several times (UPDATE by key: its lock, its read, its write), so the
   * last one is remembered and compared by value: cheaper than encoding it.
   */
  #keyResource(table: Table, key: Value[]): string {
    const last = this.#lastKey;
    if (last !== null && last.table === table && sameValues(last.key, key)) return last.resource;
    const resource = keyResource(table, table.pkKey(key));
    this.#lastKey = { table, key: [...key], resource }; // a copy: callers may reuse their array
    return resource;
  }

  /**
   * Resolves once every commit this transaction may have read is durable
   * (see `readLsn`; everything appended so far when it has read no table):
   * what a reader waits for before it answers, since locks are released
   * before the commit's fsync. Its own changes are not waited for.
   */
  readsDurable(): Promise<void> {
    return this.#engine.waitDurable(this.readLsn ?? this.#engine.appendedLsn);
  }

  async #ddl(): Promise<void> {
    this.#checkOpen();
    await this.#lock("ddl", "X");
  }

  /**
   * Creates a table. With `copy`, fills it with the rows of table `from`
   * (column `i` of the new table taken from column `columns[i]` of the
   * old): how the SQL layer gives a table a new primary key. The copy is
   * logged as part of the create record, not row by row, and redone from
   * the old table's rows, which only later records change. A row the new
   * table refuses (duplicate key, NULL in the key) throws ConstraintError
   * and leaves nothing behind.
   */
  async createTable(spec: TableSpec, copy?: CopySpec): Promise<void> {
    await this.#ddl();
    const from = copy ? await this.#table(copy.from, "S") : null;
    const table = this.#engine.createTable(spec);
    await this.#lock(tableResource(table), "X");
    if (from !== null) {
      try {
        this.#engine.copyRows(from, table, copy!.columns);
      } catch (error) {
        this.#engine.dropTable(table);
        throw error;
      }
    }
    const json = from === null
      ? { id: table.def.id, spec }
      : { id: table.def.id, spec, copy: { fromId: from.def.id, columns: copy!.columns } };
    this.#engine.log(this, {
      kind: RecordKind.createTable,
      lsn: 0,
      txId: this.id,
      json: JSON.stringify(json),
    });
    this.#engine.afterOp();
  }

  async createIndex(tableName: string, spec: IndexSpec): Promise<void> {
    await this.#ddl();
    const table = await this.#table(tableName, "X");
    this.#engine.createIndex(table, spec);
    this.#engine.log(this, {
      kind: RecordKind.createIndex,
      lsn: 0,
      txId: this.id,
      json: JSON.stringify({ tableId: table.def.id, spec }),
    });
    this.#engine.afterOp();
  }

  /**
   * Drops a secondary index (its pages are freed now; a rollback, or
   * recovery's undo if the transaction never commits, builds it again).
   */
  async dropIndex(tableName: string, indexName: string): Promise<void> {
    await this.#ddl();
    const table = await this.#table(tableName, "X");
    const def = table.def.indexes.find((i) => i.name === indexName);
    if (!def) throw new SchemaError(`no index ${indexName} on ${tableName}`);
    const spec: IndexSpec = { name: def.name, columns: [...def.columns], unique: def.unique };
    this.#engine.dropIndex(table, indexName);
    this.#engine.log(this, {
      kind: RecordKind.dropIndex,
      lsn: 0,
      txId: this.id,
      json: JSON.stringify({ tableId: table.def.id, spec }),
    });
    this.#engine.afterOp();
  }

  /**
   * Takes the table's write lock now, for a statement that reads before it
   * writes: two such statements that both took the read lock first would
   * each wait for the other to upgrade (a deadlock every time).
   */
  async lockForWrite(tableName: string): Promise<void> {
    await this.#table(tableName, "X");
  }

  /** LOCK TABLE: the table's lock in `mode`, held until the transaction ends. */
  async lockTable(tableName: string, mode: LockMode): Promise<void> {
    await this.#table(tableName, mode);
  }

  /**
   * Takes the write lock of the row whose primary key is `key` (whether or
   * not it exists) now, for a statement that reads that row before it
   * writes it (UPDATE or DELETE by key, as `lockForWrite` for one row): it
   * then reads the version the last writer committed, as PostgreSQL's READ
   * COMMITTED re-reads a row it waited for.
   */
  async lockKeyForWrite(tableName: string, key: Value[]): Promise<void> {
    await this.#keys(tableName, "X", [key]);
  }

  /**
   * Locks the row whose primary key is `key` in `mode` until the end of
   * the transaction (SELECT ... FOR UPDATE is X, FOR SHARE is S). `wait`:
   * "wait" queues as any lock does (deadlock and timeout included);
   * "nowait" and "skip" take it only if it is free now and otherwise
   * return false with nothing queued. On a table with a unique secondary
   * index an X row lock is the whole table's, as for any write there.
   */
  async lockRow(
    tableName: string,
    key: Value[],
    mode: "S" | "X",
    wait: "wait" | "nowait" | "skip",
  ): Promise<boolean> {
    if (wait === "wait") {
      await this.#keys(tableName, mode, [key]);
      return true;
    }
    this.#checkOpen();
    const table = this.#engine.tableNamed(tableName);
    const whole = this.#modesMap?.get(tableResource(table));
    if (whole === "X" || whole === mode) return true;
    if (mode === "X" && table.indexes.some((i) => i.def.unique)) {
      return this.#tryLock(tableResource(table), "X");
    }
    return this.#tryLock(tableResource(table), mode === "X" ? "IX" : "IS") &&
      this.#tryLock(this.#keyResource(table, key), mode);
  }

  /** Inserts a row (values in column order). ConstraintError on a duplicate key. */
  async insert(tableName: string, row: Row): Promise<void> {
    const table = await this.#keys(tableName, "X", [this.#engine.tableNamed(tableName).pkOf(row)]);
    this.#insertLocked(table, row);
  }

  /** The insert itself, its locks held: the row into the table, its record into the log. */
  #insertLocked(table: Table, row: Row): void {
    const logical = table.insert(row);
    this.#engine.log(this, {
      kind: RecordKind.insert,
      lsn: 0,
      txId: this.id,
      tableId: table.def.id,
      row: logical,
    });
    this.#engine.afterOp();
  }

  /**
   * `insert` done synchronously when its locks are free now: true, the row
   * inserted and logged; false when a lock would have to be waited for,
   * with nothing changed and nothing queued (an intention lock granted on
   * the way stays held, as `insert` would take it again). Throws what
   * `insert` throws (ConstraintError on a duplicate key, changing nothing).
   * For a prepared autocommit INSERT (session.ts), whose Execute then
   * needs no promise.
   *
   * `freshKey`: the caller guarantees that no other transaction can ever
   * name this row's primary key (the SQL layer's hidden row number, drawn
   * from a counter that never gives a number twice and that no statement
   * can address): then the table's intention lock alone guards the row, as
   * nobody can wait for, read or write that key by itself; readers of the
   * table scan it under the table's S lock, which conflicts with the
   * intention lock and learns the commit's LSN from it. That spares the
   * lock manager a resource, and its release, per insert.
   */
  insertNow(tableName: string, row: Row, options: { freshKey?: boolean } = {}): boolean {
    this.#checkOpen();
    const table = this.#engine.tableNamed(tableName);
    const whole = this.#modesMap?.get(tableResource(table));
    if (whole !== "X") {
      if (table.indexes.some((i) => i.def.unique)) {
        if (!this.#tryLock(tableResource(table), "X")) return false;
      } else {
        if (!this.#tryLock(tableResource(table), "IX")) return false;
        if (
          !options.freshKey && !this.#tryLock(this.#keyResource(table, table.pkOf(row)), "X")
        ) return false;
      }
    }
    this.#insertLocked(table, row);
    return true;
  }

  /** Replaces the row whose primary key is `key`; false if there is none. */
  async update(tableName: string, key: Value[], row: Row): Promise<boolean> {
    const next = this.#engine.tableNamed(tableName).pkOf(row);
    const table = await this.#keys(tableName, "X", sameValues(key, next) ? [key] : [key, next]);
    const result = table.update(table.pkKey(key), row);
    if (!result) return false;
    this.#engine.log(this, {
      kind: RecordKind.update,
      lsn: 0,
      txId: this.id,
      tableId: table.def.id,
      oldRow: result.oldLogical,
      row: result.logical,
    });
    this.#engine.afterOp();
    return true;
  }

  /** Deletes the row whose primary key is `key`; false if there is none. */
  async delete(tableName: string, key: Value[]): Promise<boolean> {
    const table = await this.#keys(tableName, "X", [key]);
    const deleted = table.delete(table.pkKey(key));
    if (!deleted) return false;
    this.#engine.log(this, {
      kind: RecordKind.delete,
      lsn: 0,
      txId: this.id,
      tableId: table.def.id,
      row: deleted.oldLogical,
    });
    this.#engine.afterOp();
    return true;
  }

  /** The row whose primary key is `key`, or undefined. */
  async get(tableName: string, key: Value[]): Promise<Row | undefined> {
    const table = await this.#keys(tableName, "S", [key]);
    const row = table.get(table.pkKey(key));
    this.#engine.afterOp();
    return row;
  }

  /**
   * `get` (no `indexName`) or `getByUnique`, done synchronously when it can
   * be: its locks are free now, and every commit this read depends on is
   * durable, so the caller may answer at once. Returns
   * `{ row }` then, or null when it would have to wait (the caller takes
   * the async path, which waits; a lock taken here stays held, as any read
   * lock does until the transaction ends). For a prepared point lookup,
   * whose Bind/Execute then cost little more than the tree descent.
   *
   * `alone`: the caller promises that this read is the transaction's only
   * statement and that it commits before anything else runs (a prepared
   * point lookup whose Sync follows in the same packet: the session commits
   * it synchronously). Then, when the transaction holds nothing yet, nobody
   * holds or waits for any lock on the table, and the whole log is durable,
   * the row is read without taking its locks: taken and released within one
   * synchronous step, they could not have kept anyone out, and there is no
   * commit it read that could still be lost. A read-only burst (pgbench -S)
   * then costs the lock manager nothing.
   */
  getNow(
    tableName: string,
    indexName: string | null,
    key: Value[],
    alone = false,
  ): { row: Row | undefined } | null {
    this.#checkOpen();
    const table = this.#engine.tableNamed(tableName);
    let row: Row | undefined;
    if (indexName === null) {
      const pk = table.pkKey(key);
      if (alone && this.#modesMap === null && this.#engine.readsAlone(tableResource(table))) {
        row = table.get(pk);
        this.#engine.afterOp();
        return { row };
      }
      const whole = this.#modesMap?.get(tableResource(table));
      if (whole !== "S" && whole !== "X") {
        if (!this.#tryLock(tableResource(table), "IS")) return null;
        if (!this.#tryLock(keyResource(table, pk), "S")) return null;
      }
      if (!this.#engine.isDurable(this.readLsn!)) return null;
      row = table.get(pk);
    } else {
      if (!this.#tryLock(tableResource(table), "S")) return null;
      if (!this.#engine.isDurable(this.readLsn!)) return null;
      const index = table.indexes.find((i) => i.def.name === indexName);
      if (!index?.def.unique || key.length !== index.types.length) {
        throw new SchemaError(`no unique index ${indexName} of ${key.length} columns`);
      }
      row = key.includes(null) ? undefined : table.getByUnique(index, key);
    }
    this.#engine.afterOp();
    return { row };
  }

  /**
   * The row whose columns of unique index `indexName` hold `values`, or
   * undefined: one index probe and one row read. A NULL among `values`
   * matches nothing (a unique index may hold many rows with NULLs).
   */
  async getByUnique(
    tableName: string,
    indexName: string,
    values: Value[],
  ): Promise<Row | undefined> {
    const table = await this.#table(tableName, "S");
    const index = table.indexes.find((i) => i.def.name === indexName);
    if (!index) throw new SchemaError(`no index ${indexName} on ${tableName}`);
    if (!index.def.unique) throw new SchemaError(`index ${indexName} is not unique`);
    if (values.length !== index.types.length) {
      throw new SchemaError(`index ${indexName} has ${index.types.length} columns`);
    }
    if (values.includes(null)) return undefined;
    const row = table.getByUnique(index, values);
    this.#engine.afterOp();
    return row;
  }

  /** Rows in primary key order (or reverse), optionally bounded. */
  scan(tableName: string, options: ScanOptions = {}): AsyncIterableIterator<Row> {
    return rowsOf(this.#scan(tableName, null, options));
  }

  /** Rows in the order of index `indexName` (or reverse), bounded on its columns. */
  indexScan(
    tableName: string,
    indexName: string,
    options: ScanOptions = {},
  ): AsyncIterableIterator<Row> {
    return rowsOf(this.#scan(tableName, indexName, options));
  }

  /**
   * Like `scan`/`indexScan` (index null for the primary key), in batches of
   * up to 256 rows: one await per batch instead of one per row.
   */
  scanBatches(
    tableName: string,
    indexName: string | null,
    options: ScanOptions = {},
  ): AsyncGenerator<Row[]> {
    return this.#scan(tableName, indexName, options);
  }

  async *#scan(
    tableName: string,
    indexName: string | null,
    options: ScanOptions,
  ): AsyncGenerator<Row[]> {
    let table = await this.#table(tableName, options.tableLock ?? "S");
    const types = () => {
      if (indexName === null) return table.pkTypes;
      const index = table.indexes.find((i) => i.def.name === indexName);
      if (!index) throw new SchemaError(`no index ${indexName} on ${tableName}`);
      return index.types;
    };
    const keyTypes = types();
    const range: ScanRange = { reverse: options.reverse ?? false };
    if (options.lower) {
      const key = encodeKey(keyTypes, options.lower);
      range.lower = options.lowerInclusive === false
        ? { key: prefixEnd(key), inclusive: true }
        : { key, inclusive: true };
    }
    if (options.upper) {
      const key = encodeKey(keyTypes, options.upper);
      range.upper = options.upperInclusive === false
        ? { key, inclusive: false }
        : { key: prefixEnd(key), inclusive: false };
    }
    let remaining = options.limit ?? Infinity;
    while (remaining > 0) {
      this.#checkOpen();
      table = this.#engine.tableNamed(tableName);
      const tree = indexName === null
        ? table.primary
        : table.indexes.find((i) => i.def.name === indexName)?.tree;
      if (!tree) throw new SchemaError(`no index ${indexName} on ${tableName}`);
      const want = Math.min(SCAN_BATCH_ROWS, remaining);
      const rows: Row[] = [];
      const current = table;
      const lastKey = tree.visit(range, want, (_key, rid) => rows.push(current.readRidBytes(rid)));
      this.#engine.afterOp();
      if (rows.length > 0) yield rows;
      remaining -= rows.length;
      if (rows.length < want || !lastKey) return;
      const last: Bound = { key: lastKey, inclusive: false };
      if (range.reverse) range.upper = last;
      else range.lower = last;
    }
  }

  /** Makes the transaction's changes durable; resolves once the log is fsynced. */
  commit(): Promise<void> {
    this.#checkOpen();
    this.#state = "committed";
    return this.#engine.finish(this, true);
  }

  /**
   * `commit` done synchronously when there is nothing to wait for: the
   * transaction changed nothing and every commit it read is durable (a
   * read-only transaction whose reads were `getNow`s, typically). True
   * then, committed; false, still open, when `commit` must be awaited.
   */
  commitNow(): boolean {
    this.#checkOpen();
    if (!this.#engine.finishNow(this)) return false;
    this.#state = "committed";
    return true;
  }

  /** Undoes the transaction's changes. */
  rollback(): Promise<void> {
    this.#checkOpen();
    this.rollbackSync();
    return Promise.resolve();
  }

  /** @internal */
  rollbackSync(): void {
    if (this.#state !== "open") return;
    this.#state = "rolled back";
    for (let i = this.records.length - 1; i >= 0; i--) this.#engine.undo(this.records.at(i));
    void this.#engine.finish(this, false);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#state === "open") await this.rollback();
  }
}
