// The write-ahead log file: reading it back at open, buffered appends, and
// group commit. Records are encoded in wal_codec.ts.
//
// Group commit: `append()` only buffers; `waitDurable(lsn)` schedules one
// flush on the next macrotask (a MessageChannel hop, a few µs), so every
// committer that appends in the meantime shares one write and one fsync.
// The fsync uses the synchronous call: an awaited one costs ~30 µs more per
// commit on our machines.
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
// Invariant that reading relies on: a file is only appended to by the Wal
// that created it (`restart`). After a crash the engine replays the log and
// takes a checkpoint, which moves to a new file and a new salt, before any
// new record is appended.

import {
  type DecodedLog,
  decodeLog,
  encodeRecord,
  joinBytes,
  type WalRecord,
} from "./wal_codec.ts";

export {
  type DecodedLog,
  decodeLog,
  decodeRecord,
  type DecodeResult,
  encodeRecord,
  RECORD_BYTES_MAX,
  RecordKind,
  type WalRecord,
} from "./wal_codec.ts";

const PREALLOCATE_BYTES = 4 * 1024 * 1024;
const ZEROS = new Uint8Array(1024 * 1024);

/**
 * Reads a log file (decodeLog: records up to the end of the log, throwing
 * CorruptionError for damage in its middle); a missing file is an empty log.
 */
export function readLog(path: string): DecodedLog & { fileBytes: number } {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { records: [], validBytes: 0, salt: 0, fileBytes: 0 };
    }
    throw error;
  }
  return { ...decodeLog(bytes, path), fileBytes: bytes.length };
}

/** The open log file: buffered appends, group-committed fsyncs. */
export class Wal {
  #path: string;
  #file: Deno.FsFile;
  #pending: Uint8Array[] = [];
  #waiters: { lsn: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  #channel = new MessageChannel();
  #scheduled = false;
  #failed: unknown = null;
  /** This file's salt, framed into every record appended to it. */
  #salt: number;
  /** LSN of the last record appended (buffered or written). */
  appendedLsn: number;
  /** LSN up to which the log is on disk and fsynced. */
  durableLsn: number;
  sizeBytes: number;
  /** Bytes the file holds, records plus preallocated zeros. */
  #fileBytes: number;
  fsyncs = 0;

  constructor(path: string, options: { lastLsn: number; validBytes: number; salt: number }) {
    this.#path = path;
    this.#salt = options.salt;
    this.#file = Deno.openSync(path, { read: true, write: true, create: true });
    this.#file.truncateSync(options.validBytes);
    this.#file.seekSync(options.validBytes, Deno.SeekMode.Start);
    this.sizeBytes = options.validBytes;
    this.#fileBytes = options.validBytes;
    this.appendedLsn = options.lastLsn;
    this.durableLsn = options.lastLsn;
    this.#channel.port1.onmessage = () => {
      this.#scheduled = false;
      try {
        this.flush();
      } catch {
        // The waiters were rejected with the error; later calls fail too.
      }
    };
  }

  /** Buffers a record (its `lsn` field is assigned here) and returns its LSN. */
  append(record: WalRecord): number {
    const lsn = ++this.appendedLsn;
    record.lsn = lsn;
    const bytes = encodeRecord(record, { salt: this.#salt, durableLsn: this.durableLsn });
    this.#pending.push(bytes);
    this.sizeBytes += bytes.length;
    return lsn;
  }

  /** Resolves once every record up to `lsn` is durable. */
  waitDurable(lsn: number): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (lsn <= this.durableLsn) return Promise.resolve();
    const promise = new Promise<void>((resolve, reject) =>
      this.#waiters.push({ lsn, resolve, reject })
    );
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.#channel.port2.postMessage(null);
    }
    return promise;
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
    if (this.#pending.length > 0) {
      const upTo = this.appendedLsn;
      const bytes = joinBytes(this.#pending);
      this.#pending = [];
      try {
        const end = this.sizeBytes;
        if (end > this.#fileBytes) this.#preallocate(end, end - bytes.length);
        let at = 0;
        while (at < bytes.length) at += this.#file.writeSync(bytes.subarray(at));
        this.#file.syncDataSync();
        this.fsyncs++;
      } catch (error) {
        // A failed fsync leaves the file's state unknown: fail every waiter,
        // and every later commit, rather than guess (the "fsyncgate" lesson).
        // durableLsn never moves past the failed write again, so no record
        // claims it durable (decodeLog relies on that).
        this.#failed = error;
        for (const w of this.#waiters.splice(0)) w.reject(error);
        throw error;
      }
      this.durableLsn = upTo;
    }
    const done = this.#waiters.filter((w) => w.lsn <= this.durableLsn);
    this.#waiters = this.#waiters.filter((w) => w.lsn > this.durableLsn);
    for (const w of done) w.resolve();
  }

  /** Extends the file with zeros past `end`, then returns to the write position. */
  #preallocate(end: number, writeAt: number): void {
    const target = Math.max(end, this.#fileBytes + PREALLOCATE_BYTES);
    this.#file.seekSync(this.#fileBytes, Deno.SeekMode.Start);
    writeZeros(this.#file, target - this.#fileBytes);
    this.#fileBytes = target;
    this.#file.seekSync(writeAt, Deno.SeekMode.Start);
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
    const bytes = encodeRecord(checkpoint, { salt, durableLsn: this.durableLsn });
    const tmp = `${this.#path}.tmp`;
    {
      using file = Deno.openSync(tmp, { write: true, create: true, truncate: true });
      let at = 0;
      while (at < bytes.length) at += file.writeSync(bytes.subarray(at));
      writeZeros(file, PREALLOCATE_BYTES);
      file.syncSync();
    }
    Deno.renameSync(tmp, this.#path);
    syncDirectory(this.#path);
    this.#file.close();
    this.#file = Deno.openSync(this.#path, { read: true, write: true });
    this.#file.seekSync(bytes.length, Deno.SeekMode.Start);
    this.#salt = salt;
    this.sizeBytes = bytes.length;
    this.#fileBytes = bytes.length + PREALLOCATE_BYTES;
    this.durableLsn = this.appendedLsn;
  }

  /** Closes without writing what is buffered (tests simulating a crash). */
  abandon(): void {
    this.#pending = [];
    this.#channel.port1.close();
    this.#channel.port2.close();
    this.#file.close();
  }

  close(): void {
    this.flush();
    this.#channel.port1.close();
    this.#channel.port2.close();
    this.#file.close();
  }
}

/** A random salt for a new log file: never 0 (nested records) nor the old file's. */
function newSalt(old: number): number {
  const salt = crypto.getRandomValues(new Uint32Array(1))[0];
  return salt === 0 || salt === old ? newSalt(old) : salt;
}

function writeZeros(file: Deno.FsFile, count: number): void {
  while (count > 0) {
    const n = file.writeSync(ZEROS.subarray(0, Math.min(count, ZEROS.length)));
    count -= n;
  }
}

/** fsyncs the directory holding `path`, so a rename in it is durable. */
export function syncDirectory(path: string): void {
  const dir = path.slice(0, Math.max(path.lastIndexOf("/"), 1));
  try {
    using handle = Deno.openSync(dir, { read: true });
    handle.syncSync();
  } catch {
    // Some platforms cannot fsync a directory; the rename is then as durable as the OS makes it.
  }
}
