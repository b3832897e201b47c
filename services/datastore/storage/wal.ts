// The write-ahead log file: reading it back at open, buffered appends, and
// group commit. Records are encoded in wal_codec.ts.
//
// Group commit: `append()` only buffers; `waitDurable(lsn)` schedules one
// flush on the next macrotask (a MessageChannel hop, a few µs), so every
// committer that appends in the meantime shares one write and one fsync.
// The fsync uses the synchronous call, unless the `overlap` option says
// other work is waiting on it: an awaited one costs ~30 µs more on a quiet
// machine and several times that on a busy one, and when every session's
// work ends in its commit (autocommit statements) there is nothing to
// overlap, while a synchronous fsync lets every commit that arrives
// meanwhile join the next group. When transactions queue for locks
// (blocks, like pgbench's TPC-B-like script), the one a commit just let
// through (locks go before the fsync) would otherwise wait for that fsync
// too, with everyone queued behind it: then the fsync runs off the event
// loop (`syncDataAsync`) and the next flush starts the moment it returns,
// covering everything appended meanwhile. One fsync is in flight at a time;
// a synchronous flush (checkpoint, close) covers everything written, the
// in-flight fsync's bytes included.
//
// Tried for autocommit inserts and dropped (pgbench, 8 clients, 4000
// single-row INSERTs a run, alternating runs on a busy machine, commits and
// fsyncs from the datastore_commits_total / datastore_fsyncs_total metrics):
// the synchronous fsync groups about 5 commits per fsync (747-842 fsyncs).
// An fsync always off the event loop made groups smaller (897-1045 fsyncs)
// and cost more CPU per insert (115-145 µs against 80-102): the clients
// split into two halves, one committing while the other's fsync runs. A
// flush that waits further event-loop hops while each hop brings more
// committers gained nothing (790 fsyncs): the next requests come back after
// the clients' round trip, far more than a hop, so gathering them would take
// a delay (a timer, PostgreSQL's commit_delay), which costs a lone client.
//
// Gathering (`gather`; on in the datastore service): counting instead of
// timing. The flush is put off, on its hop, while fewer committers wait
// than the last flush covered, and runs the moment the count is reached,
// or after GATHER_MS at most. In a closed loop of clients (pgbench's
// eight) the last group's clients come back one round trip after their
// acknowledgement, a few event-loop turns after the hop, and now join the
// group instead of starting the next one; a lone client is its own last
// group and never waits; a client that leaves costs one wait, after which
// the count is the new group's. A wait that runs out (transactions of many
// statements, like TPC-B's, whose clients take longer to come back) turns
// waiting off for the next GATHER_BACKOFF_FLUSHES flushes. It only changes
// when a flush starts: what it writes and fsyncs, and when committers are
// answered (after that fsync), are as before. Measured with two servers
// side by side under the same load (`bench/datastore_commit.ts --modes
// default` beside `--modes no-gather`, started together, ten pairs on the
// shared machine at load 8-11, docs/datastore.md): more inserts per second
// in 8 pairs of 10 (median 1.10), 6.5-7.7 commits per fsync against
// 5.3-6.1, CPU per insert lower or within the noise.
//
// The sync thread (`syncThread` option; the service's `--wal-sync-thread`,
// off by default): group commit's fsyncs run on a worker with a descriptor
// of its own (lib/fs/sync_thread.ts), asked through shared memory and heard
// back through Atomics.waitAsync, so the event loop keeps executing
// statements during an fsync and stays cheaper per commit than the async
// file op above. The flush writes what is buffered and asks the thread to
// fsync up to the last LSN appended; while that fsync is in flight, commits
// only append (no write, no hop); when the thread reports it, the log wakes
// the committers it covers and at once writes and asks for everything
// appended meanwhile. The invariants stay: one fsync in flight; the LSN
// framed into a record is the one known durable when it was appended (the
// thread's report may be later, never earlier); a failed fsync (or a
// failed reopen) fails every waiter and every later commit; `restart`
// makes the old file durable synchronously before the thread reopens the
// path, so a late report of the old file only repeats what is durable; a
// synchronous flush (checkpoint, close) covers the bytes of an fsync in
// flight on the thread too. Until the worker has opened the file (about
// 25 ms), the log fsyncs itself.
//
// What it does to the autocommit INSERT (`bench/datastore_commit.ts`,
// alternating runs on the shared 2-core machine at load 5-9; see
// docs/datastore.md for the figures): the event loop's CPU per insert falls
// (55-115 µs against 64-133, it no longer runs the fdatasync, which costs
// about 100 µs of CPU per call on this virtual disk), but the groups halve
// (3.6-4.1 commits per fsync against 5.2-6.3: the clients split into two
// halves, one running while the other's fsync does), so the process spends
// more CPU per insert in all (90-190 µs against 76-157: more fsyncs, and the
// handoff). A model of the two: synchronous, a cycle of G commits costs
// F (the fsync) plus G·c (the event loop's work), G/(F + G·c) commits/s;
// on the thread, G/2 commits per fsync, one fsync after another, at most
// (G/2)/(F + d) where d is the handoff (thread wake-ups, 50-150 µs measured
// from request to seen completion beyond the fsync itself). The thread wins
// when the fsync is short against the event loop's work per cycle (a fast
// disk, and an idle core for the worker), and loses when the disk is slow
// or every core is busy: the measured runs fall on both sides, so it stays
// off by default until a quiet machine says which side ours is on.
//
// The file is preallocated with zeros in steps of PREALLOCATE_BYTES, so
// most commits overwrite space the file already has and their fdatasync
// need not also update the file size (about 2x faster on our machines).
// The zeros end the log when it is read back, like any record that is not
// the next one of this file.
//
// Reading it back: decodeLog() in wal_codec.ts ends the log at a torn tail
// and refuses (CorruptionError) when damage is followed by records written
// after it was fsynced. Every record is framed with this file's salt (a
// random number chosen per file, so leftovers of another file never pass as
// records of this one) and the LSN durable when it was appended.
//
// A log file starts with an 8-byte header (magic and format version, see
// wal_codec.ts), written and fsynced with its checkpoint record.
//
// Invariant that reading relies on: a file is only appended to by the Wal
// that created it (`restart`). After a crash the engine replays the log and
// takes a checkpoint, which moves to a new file and a new salt, before any
// new record is appended.

import {
  directoryOf,
  type FileHandle,
  type FileLayer,
  type SyncThread,
} from "../../../lib/fs/file_layer.ts";
import {
  type DecodedLog,
  decodeLog,
  encodeLogHeader,
  encodeRecordInto,
  encodeRecordParts,
  framedBytes,
  type WalRecord,
} from "./wal_codec.ts";

export {
  type DecodedLog,
  decodeLog,
  decodeRecord,
  type DecodeResult,
  encodeLogHeader,
  encodeRecord,
  LOG_FORMAT_VERSION,
  LOG_HEADER_BYTES,
  RECORD_BYTES_MAX,
  RecordKind,
  type WalRecord,
} from "./wal_codec.ts";

/** Default step of preallocation (see the file comment). */
export const PREALLOCATE_BYTES = 4 * 1024 * 1024;
const ZEROS = new Uint8Array(1024 * 1024);
/**
 * Appended records are encoded straight into one buffer of this size (it
 * grows for a larger group, and shrinks back after it is written), so an
 * append or a flush allocates nothing.
 */
const APPEND_BUFFER_BYTES = 64 * 1024;
/**
 * Past this many buffered bytes, an append writes the buffer to the file
 * first (no fsync: nothing becomes durable before a commit asks): a
 * transaction changing millions of rows logs hundreds of MiB before any
 * commit flushes the log, and the buffer held all of it until the next
 * checkpoint.
 */
const WRITE_AHEAD_BYTES = 4 * 1024 * 1024;

/**
 * Reads a log file (decodeLog: records up to the end of the log, throwing
 * CorruptionError for damage in its middle); a missing file is an empty log.
 */
export function readLog(files: FileLayer, path: string): DecodedLog & { fileBytes: number } {
  const bytes = files.readFile(path);
  if (bytes === null) return { records: [], validBytes: 0, salt: 0, fileBytes: 0 };
  return { ...decodeLog(bytes, path), fileBytes: bytes.length };
}

export interface WalOptions {
  files: FileLayer;
  /** LSN of the last record the file holds (or of the checkpoint, if later). */
  lastLsn: number;
  /** Where the file's records end (decodeLog's `validBytes`). */
  validBytes: number;
  /** The file's salt (decodeLog's `salt`). */
  salt: number;
  /** Preallocation step (default PREALLOCATE_BYTES; tests use less). */
  preallocateBytes?: number;
  /**
   * Whether other work waits to run during an fsync (the engine:
   * transactions wait for locks); then the fsync runs off the event loop.
   * Default: never.
   */
  overlap?: () => boolean;
  /**
   * Run group commit's fsyncs on a sync thread (lib/fs/sync_thread.ts)
   * when the file layer offers one (default false; the service's
   * `--wal-sync-thread`). See the file comment.
   */
  syncThread?: boolean;
  /**
   * Put a synchronous group commit's flush off until as many committers
   * wait as the last one covered, for at most GATHER_MS (default false;
   * the datastore service turns it on). See the file comment.
   */
  gather?: boolean;
  /** The longest such a wait lasts (default GATHER_MS; tests set their own). */
  gatherMs?: number;
}

/** The longest a flush waits for the last group's committers to come back (`gather`). */
const GATHER_MS = 1;
/** Flushes that do not wait after a wait ran out (`gather`). */
const GATHER_BACKOFF_FLUSHES = 16;

/** The open log file: buffered appends, group-committed fsyncs. */
export class Wal {
  #path: string;
  #files: FileLayer;
  #file: FileHandle;
  #preallocateBytes: number;
  /** Records appended and not yet written: `#buffer[0, #buffered)`. */
  #buffer = new Uint8Array(APPEND_BUFFER_BYTES);
  #buffered = 0;
  #waiters: { lsn: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  #channel = new MessageChannel();
  #scheduled = false;
  #gather: boolean;
  #gatherMs: number;
  /** Committers the last synchronous flush covered. */
  #lastGroup = 0;
  /** The timer bounding a flush put off (`gather`), or null when none is. */
  #gathering: ReturnType<typeof setTimeout> | null = null;
  /** The next flush runs without waiting (the wait ended). */
  #gathered = false;
  /** Flushes left that do not wait, since a wait ran out. */
  #gatherBackoff = 0;
  /** Flushes that waited for committers, and those whose wait ran out. */
  gathers = 0;
  gatherTimeouts = 0;
  #failed: unknown = null;
  /** An fsync off the event loop is in flight (see the file comment). */
  #syncing = false;
  /** Bumped when the file is replaced or closed: a late fsync of the old one is moot. */
  #generation = 0;
  #overlap: () => boolean;
  /** The sync thread (used once it is ready, see the file comment); undefined: fsyncs here. */
  #thread: SyncThread | undefined;
  /** Highest LSN the thread was asked to make durable. */
  #requestedLsn = 0;
  /** A `changedSince` of the thread is pending. */
  #watching = false;
  /** fsyncs run on this thread (the sync thread counts its own). */
  #fsyncs = 0;
  /** This file's salt, framed into every record appended to it. */
  #salt: number;
  /** LSN of the last record appended (buffered or written). */
  appendedLsn: number;
  /** LSN up to which the log is on disk and fsynced. */
  durableLsn: number;
  sizeBytes: number;
  /**
   * The size right after the last restart: the header and the checkpoint
   * record, which carries the records of the transactions still open.
   */
  restartBytes = 0;
  /** Bytes the file holds, records plus preallocated zeros. */
  #fileBytes: number;

  /** Log fsyncs so far, ours and the sync thread's. */
  get fsyncs(): number {
    return this.#fsyncs + (this.#thread?.fsyncs ?? 0);
  }

  constructor(path: string, options: WalOptions) {
    this.#path = path;
    this.#files = options.files;
    this.#preallocateBytes = options.preallocateBytes ?? PREALLOCATE_BYTES;
    this.#salt = options.salt;
    this.#overlap = options.overlap ?? (() => false);
    this.#gather = options.gather ?? false;
    this.#gatherMs = options.gatherMs ?? GATHER_MS;
    this.#file = options.files.open(path, { create: true });
    this.#file.truncate(options.validBytes);
    this.sizeBytes = options.validBytes;
    this.#fileBytes = options.validBytes;
    this.appendedLsn = options.lastLsn;
    this.durableLsn = options.lastLsn;
    this.#channel.port1.onmessage = () => {
      this.#scheduled = false;
      this.#flushGroup();
    };
    if (options.syncThread) this.#thread = options.files.syncThread?.(path);
  }

  /** Buffers a record (its `lsn` field is assigned here) and returns its LSN. */
  append(record: WalRecord): number {
    const lsn = ++this.appendedLsn;
    record.lsn = lsn;
    const size = framedBytes(record);
    if (this.#buffered > 0 && this.#buffered + size > WRITE_AHEAD_BYTES && !this.#failed) {
      try {
        this.#write();
      } catch (error) {
        this.#fail(error); // every later commit fails, as after a failed flush
      }
    }
    if (this.#buffered + size > this.#buffer.length) {
      let capacity = this.#buffer.length * 2;
      while (capacity < this.#buffered + size) capacity *= 2;
      const grown = new Uint8Array(capacity);
      grown.set(this.#buffer.subarray(0, this.#buffered));
      this.#buffer = grown;
    }
    const frame = { salt: this.#salt, durableLsn: this.durableLsn };
    this.#buffered += encodeRecordInto(record, frame, this.#buffer, this.#buffered);
    this.sizeBytes += size;
    return lsn;
  }

  /** Resolves once every record up to `lsn` is durable. */
  /** True when `waitDurable(lsn)` would resolve at once: on disk already, and no failure. */
  isDurableNow(lsn: number): boolean {
    return this.#failed === null && lsn <= this.durableLsn;
  }

  waitDurable(lsn: number): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (lsn <= this.durableLsn) return Promise.resolve();
    const promise = new Promise<void>((resolve, reject) =>
      this.#waiters.push({ lsn, resolve, reject })
    );
    if (this.#gathering !== null) {
      if (this.#waiters.length >= this.#lastGroup) this.#endGathering();
      return promise;
    }
    // While an fsync is in flight (here or on the sync thread), the flush
    // that follows it covers this one.
    if (!this.#scheduled && !this.#syncing && !this.#threadSyncing()) {
      this.#scheduled = true;
      this.#channel.port2.postMessage(null);
    }
    return promise;
  }

  /**
   * Group commit's flush: writes what is buffered, then fsyncs it, off the
   * event loop when `overlap` says work waits on it (see the file comment).
   * When that fsync returns, the next flush starts at once if anyone waits.
   */
  #flushGroup(): void {
    if (this.#syncing || this.#failed) return;
    const thread = this.#thread;
    if (thread?.ready) {
      this.#flushToThread(thread);
      return;
    }
    const file = this.#file;
    if (!file.syncDataAsync || this.#buffered === 0 || !this.#overlap()) {
      const waiting = this.#waiters.length;
      if (this.#gatherBackoff > 0) this.#gatherBackoff--;
      else if (this.#gather && !this.#gathered && waiting < this.#lastGroup && this.#buffered > 0) {
        this.gathers++;
        this.#gathering = setTimeout(() => {
          this.gatherTimeouts++;
          this.#gatherBackoff = GATHER_BACKOFF_FLUSHES;
          this.#endGathering();
        }, this.#gatherMs);
        return;
      }
      this.#gathered = false;
      try {
        this.flush();
      } catch {
        // The waiters were rejected with the error; later calls fail too.
      }
      this.#lastGroup = waiting - this.#waiters.length;
      return;
    }
    const upTo = this.appendedLsn;
    try {
      this.#write();
    } catch (error) {
      this.#fail(error);
      return;
    }
    this.#syncing = true;
    const generation = this.#generation;
    file.syncDataAsync().then(
      () => {
        if (generation !== this.#generation) return;
        this.#syncing = false;
        this.#fsyncs++;
        if (upTo > this.durableLsn) this.durableLsn = upTo;
        this.#wake();
        if (this.#waiters.length > 0) this.#flushGroup();
      },
      (error) => {
        if (generation !== this.#generation) return;
        this.#syncing = false;
        this.#fail(error);
      },
    );
  }

  /** Ends a flush's wait for committers (`gather`): it runs on the next hop. */
  #endGathering(): void {
    if (this.#gathering === null) return;
    clearTimeout(this.#gathering);
    this.#gathering = null;
    this.#gathered = true;
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.#channel.port2.postMessage(null);
    }
  }

  /** An fsync asked of the sync thread has not been seen to return yet. */
  #threadSyncing(): boolean {
    return this.#watching && this.#requestedLsn > this.durableLsn;
  }

  /**
   * Group commit's flush on the sync thread: writes what is buffered and
   * asks the thread to fsync it, unless an fsync is in flight there: then
   * the records wait in the buffer, and the flush that follows that fsync
   * (`#watch`) writes them all at once.
   */
  #flushToThread(thread: SyncThread): void {
    if (this.#buffered > 0 && this.#requestedLsn <= this.durableLsn) {
      const upTo = this.appendedLsn;
      try {
        this.#write();
      } catch (error) {
        this.#fail(error);
        return;
      }
      this.#requestedLsn = upTo;
      thread.request(upTo);
    }
    this.#watch(thread);
  }

  /**
   * Learns what the sync thread has made durable since last time: wakes
   * the committers it covers, and waits for its next change while anything
   * asked of it is not durable yet.
   */
  #watch(thread: SyncThread): void {
    if (this.#watching || this.#thread !== thread) return;
    const version = thread.version;
    const failure = thread.failure;
    if (failure !== null) {
      this.#fail(failure);
      return;
    }
    const synced = thread.syncedMark;
    if (synced > this.durableLsn) {
      this.durableLsn = synced;
      this.#wake();
    }
    if (this.#requestedLsn <= this.durableLsn) {
      // Records appended during that fsync: the next one, now.
      if (this.#buffered > 0 && this.#waiters.length > 0) this.#flushToThread(thread);
      return;
    }
    this.#watching = true;
    thread.changedSince(version).then(() => {
      this.#watching = false;
      this.#watch(thread);
    });
  }

  /** Writes the buffered records to the file (no fsync). */
  #write(): void {
    const bytes = this.#buffer.subarray(0, this.#buffered);
    this.#buffered = 0;
    if (this.#buffer.length > APPEND_BUFFER_BYTES) {
      this.#buffer = new Uint8Array(APPEND_BUFFER_BYTES); // `bytes` keeps the old one
    }
    const end = this.sizeBytes;
    if (end > this.#fileBytes) this.#preallocate(end);
    this.#file.writeAt(bytes, end - bytes.length);
  }

  /**
   * A failed write or fsync leaves the file's state unknown: fail every
   * waiter, and every later commit, rather than guess (the "fsyncgate"
   * lesson). durableLsn never moves past the failed write again, so no
   * record claims it durable (decodeLog relies on that).
   */
  #fail(error: unknown): void {
    this.#failed = error;
    for (const w of this.#waiters.splice(0)) w.reject(error);
  }

  /** Resolves the waiters the durable LSN covers. */
  #wake(): void {
    const durable = this.durableLsn;
    const done = this.#waiters.filter((w) => w.lsn <= durable);
    this.#waiters = this.#waiters.filter((w) => w.lsn > durable);
    for (const w of done) w.resolve();
  }

  /**
   * Writes and fsyncs everything appended so far, then wakes the committers
   * it covers. Throws if this or any earlier write or fsync failed: nothing
   * may rely on the log (a checkpoint writing pages) once it is in doubt.
   */
  flush(): void {
    if (this.#failed) {
      for (const w of this.#waiters.splice(0)) w.reject(this.#failed);
      throw this.#failed;
    }
    // Bytes written for an fsync still in flight (here or on the sync
    // thread) are not durable yet either.
    if (this.#buffered > 0 || this.#syncing || this.#requestedLsn > this.durableLsn) {
      const upTo = this.appendedLsn;
      try {
        if (this.#buffered > 0) this.#write();
        this.#file.syncData();
        this.#fsyncs++;
      } catch (error) {
        this.#fail(error);
        throw error;
      }
      this.durableLsn = upTo;
    }
    this.#wake();
  }

  /** Extends the file with zeros to at least `end`. */
  #preallocate(end: number): void {
    const target = Math.max(end, this.#fileBytes + this.#preallocateBytes);
    writeZeros(this.#file, this.#fileBytes, target - this.#fileBytes);
    this.#fileBytes = target;
  }

  /**
   * Replaces the log with one holding only `checkpoint` (after a checkpoint
   * made everything before it redundant): write a new file, fsync, rename
   * over the old one, fsync the directory.
   */
  restart(checkpoint: WalRecord): void {
    this.flush();
    checkpoint.lsn = ++this.appendedLsn;
    const salt = newSalt(this.#salt);
    // Written part by part: the checkpoint record may carry hundreds of MiB of open records.
    const parts = [
      encodeLogHeader(),
      ...encodeRecordParts(checkpoint, { salt, durableLsn: this.durableLsn }),
    ];
    const tmp = `${this.#path}.tmp`;
    const files = this.#files;
    let written = 0;
    {
      using file = files.open(tmp, { create: true, truncate: true });
      for (const part of parts) {
        file.writeAt(part, written);
        written += part.length;
      }
      writeZeros(file, written, this.#preallocateBytes);
      file.sync();
    }
    files.rename(tmp, this.#path);
    files.syncDirectory(directoryOf(this.#path));
    this.#generation++; // flush() above made the old file durable
    this.#syncing = false;
    this.#file.close();
    this.#file = files.open(this.#path);
    this.#thread?.reopen();
    this.#salt = salt;
    this.sizeBytes = written;
    this.restartBytes = written;
    this.#fileBytes = written + this.#preallocateBytes;
    this.durableLsn = this.appendedLsn;
  }

  /** Closes without writing what is buffered (tests simulating a crash). */
  abandon(): void {
    this.#stopGathering();
    this.#buffered = 0;
    this.#generation++;
    this.#closeThread();
    this.#syncing = false;
    this.#channel.port1.close();
    this.#channel.port2.close();
    this.#file.close();
  }

  close(): void {
    this.#stopGathering();
    try {
      this.flush();
    } finally {
      this.#closeThread();
    }
    this.#generation++;
    this.#syncing = false;
    this.#channel.port1.close();
    this.#channel.port2.close();
    this.#file.close();
  }

  #stopGathering(): void {
    if (this.#gathering !== null) clearTimeout(this.#gathering);
    this.#gathering = null;
  }

  #closeThread(): void {
    const thread = this.#thread;
    this.#thread = undefined;
    thread?.close();
  }
}

/** A random salt for a new log file: never 0 (nested records) nor the old file's. */
function newSalt(old: number): number {
  const salt = crypto.getRandomValues(new Uint32Array(1))[0];
  return salt === 0 || salt === old ? newSalt(old) : salt;
}

function writeZeros(file: FileHandle, position: number, count: number): void {
  for (let done = 0; done < count;) {
    const n = Math.min(count - done, ZEROS.length);
    file.writeAt(ZEROS.subarray(0, n), position + done);
    done += n;
  }
}
