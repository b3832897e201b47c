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
// A log file starts with an 8-byte header (magic and format version, see
// wal_codec.ts), written and fsynced with its checkpoint record.
//
// Invariant that reading relies on: a file is only appended to by the Wal
// that created it (`restart`). After a crash the engine replays the log and
// takes a checkpoint, which moves to a new file and a new salt, before any
// new record is appended.

import { directoryOf, type FileHandle, type FileLayer } from "../../../lib/fs/file_layer.ts";
import {
  type DecodedLog,
  decodeLog,
  encodeLogHeader,
  encodeRecord,
  encodeRecordInto,
  framedBytes,
  joinBytes,
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
}

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

  constructor(path: string, options: WalOptions) {
    this.#path = path;
    this.#files = options.files;
    this.#preallocateBytes = options.preallocateBytes ?? PREALLOCATE_BYTES;
    this.#salt = options.salt;
    this.#file = options.files.open(path, { create: true });
    this.#file.truncate(options.validBytes);
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
    const size = framedBytes(record);
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
    if (this.#buffered > 0) {
      const upTo = this.appendedLsn;
      const bytes = this.#buffer.subarray(0, this.#buffered);
      this.#buffered = 0;
      if (this.#buffer.length > APPEND_BUFFER_BYTES) {
        this.#buffer = new Uint8Array(APPEND_BUFFER_BYTES); // `bytes` keeps the old one
      }
      try {
        const end = this.sizeBytes;
        if (end > this.#fileBytes) this.#preallocate(end);
        this.#file.writeAt(bytes, end - bytes.length);
        this.#file.syncData();
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
    const bytes = joinBytes([
      encodeLogHeader(),
      encodeRecord(checkpoint, { salt, durableLsn: this.durableLsn }),
    ]);
    const tmp = `${this.#path}.tmp`;
    const files = this.#files;
    {
      using file = files.open(tmp, { create: true, truncate: true });
      file.writeAt(bytes, 0);
      writeZeros(file, bytes.length, this.#preallocateBytes);
      file.sync();
    }
    files.rename(tmp, this.#path);
    files.syncDirectory(directoryOf(this.#path));
    this.#file.close();
    this.#file = files.open(this.#path);
    this.#salt = salt;
    this.sizeBytes = bytes.length;
    this.#fileBytes = bytes.length + this.#preallocateBytes;
    this.durableLsn = this.appendedLsn;
  }

  /** Closes without writing what is buffered (tests simulating a crash). */
  abandon(): void {
    this.#buffered = 0;
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

function writeZeros(file: FileHandle, position: number, count: number): void {
  for (let done = 0; done < count;) {
    const n = Math.min(count - done, ZEROS.length);
    file.writeAt(ZEROS.subarray(0, n), position + done);
    done += n;
  }
}
