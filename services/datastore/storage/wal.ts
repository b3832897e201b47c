// The write-ahead log: record encoding (pure) and the log file with group
// commit.
//
// Record framing:
//   u32 body length | u32 CRC32C of the body | body
//   body = f64 LSN | u8 kind | u32 transaction id | payload
// Payloads are logical (redo by primary key, see table.ts): insert carries
// the table id and the new row, delete the old row, update both, so every
// record can also be undone. CREATE TABLE / CREATE INDEX carry JSON. A
// checkpoint record starts every log file and carries the records of the
// transactions still open at that checkpoint, so they can be undone if they
// never commit.
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
// A zero length word ends the log.
//
// Torn tail: reading stops at the first record whose length or checksum is
// wrong; the file is cut there. Such a record was never acknowledged (its
// commit waited for the fsync). Left out: telling a torn tail from damage in
// the middle of the log (both end the log).

import type { Bytes } from "../../../lib/bytes.ts";
import { DecodeError, LimitError } from "../../../lib/errors.ts";
import { crc32c } from "./crc32c.ts";

export const RecordKind = {
  insert: 1,
  delete: 2,
  update: 3,
  commit: 4,
  abort: 5,
  createTable: 6,
  createIndex: 7,
  checkpoint: 8,
} as const;
export type RecordKind = typeof RecordKind[keyof typeof RecordKind];

export type WalRecord =
  | { kind: 1; lsn: number; txId: number; tableId: number; row: Bytes }
  | { kind: 2; lsn: number; txId: number; tableId: number; row: Bytes }
  | { kind: 3; lsn: number; txId: number; tableId: number; oldRow: Bytes; row: Bytes }
  | { kind: 4 | 5; lsn: number; txId: number }
  | { kind: 6 | 7; lsn: number; txId: number; json: string }
  | { kind: 8; lsn: number; txId: number; open: WalRecord[] };

/**
 * Bound on one record's body on read. Data records are bounded at write
 * time (rows by `rowBytesMax`); a checkpoint record carries every open
 * transaction's records (each bounded by `transactionLogBytesMax`), so this
 * only rejects lengths no file of ours can hold. Decoding never allocates
 * from the length: it takes views of the bytes already read.
 */
export const RECORD_BYTES_MAX = 0x7fff_ffff;
const HEAD_BYTES = 8;
const PREALLOCATE_BYTES = 4 * 1024 * 1024;
const ZEROS = new Uint8Array(1024 * 1024);
const BODY_HEAD_BYTES = 13;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes one framed record (one allocation for the common row records). */
export function encodeRecord(record: WalRecord): Bytes {
  let payloadBytes: number;
  let nested: Bytes | null = null;
  let json: Uint8Array | null = null;
  switch (record.kind) {
    case 1:
    case 2:
      payloadBytes = 4 + record.row.length;
      break;
    case 3:
      payloadBytes = 8 + record.oldRow.length + record.row.length;
      break;
    case 4:
    case 5:
      payloadBytes = 0;
      break;
    case 6:
    case 7:
      json = encoder.encode(record.json);
      payloadBytes = json.length;
      break;
    case 8:
      nested = joinBytes(record.open.map(encodeRecord));
      payloadBytes = nested.length;
      break;
  }
  const out = new Uint8Array(HEAD_BYTES + BODY_HEAD_BYTES + payloadBytes);
  const v = new DataView(out.buffer);
  v.setUint32(0, BODY_HEAD_BYTES + payloadBytes);
  v.setFloat64(HEAD_BYTES, record.lsn);
  v.setUint8(HEAD_BYTES + 8, record.kind);
  v.setUint32(HEAD_BYTES + 9, record.txId);
  const at = HEAD_BYTES + BODY_HEAD_BYTES;
  switch (record.kind) {
    case 1:
    case 2:
      v.setUint32(at, record.tableId);
      out.set(record.row, at + 4);
      break;
    case 3:
      v.setUint32(at, record.tableId);
      v.setUint32(at + 4, record.oldRow.length);
      out.set(record.oldRow, at + 8);
      out.set(record.row, at + 8 + record.oldRow.length);
      break;
    case 6:
    case 7:
      out.set(json!, at);
      break;
    case 8:
      out.set(nested!, at);
      break;
  }
  v.setUint32(4, crc32c(out.subarray(HEAD_BYTES)));
  return out;
}

function joinBytes(parts: Uint8Array[]): Bytes {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export type DecodeResult =
  | { kind: "record"; record: WalRecord; bytesUsed: number }
  | { kind: "incomplete"; bytesNeeded: number };

/**
 * Decodes one framed record from the front of `buf`. Throws DecodeError on a
 * checksum mismatch or a malformed body, LimitError on an impossible length.
 * Returned row bytes are copies.
 */
export function decodeRecord(buf: Uint8Array): DecodeResult {
  if (buf.length < HEAD_BYTES) return { kind: "incomplete", bytesNeeded: HEAD_BYTES - buf.length };
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const length = v.getUint32(0);
  if (length > RECORD_BYTES_MAX) {
    throw new LimitError("recordBytesMax", `log record of ${length} bytes`);
  }
  if (length < BODY_HEAD_BYTES) throw new DecodeError("log record too short");
  if (buf.length < HEAD_BYTES + length) {
    return { kind: "incomplete", bytesNeeded: HEAD_BYTES + length - buf.length };
  }
  const body = buf.subarray(HEAD_BYTES, HEAD_BYTES + length);
  if (crc32c(body) !== v.getUint32(4)) throw new DecodeError("log record checksum mismatch");
  return { kind: "record", record: decodeBody(body), bytesUsed: HEAD_BYTES + length };
}

function decodeBody(body: Uint8Array): WalRecord {
  const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const lsn = v.getFloat64(0);
  const kind = v.getUint8(8);
  const txId = v.getUint32(9);
  const payload = body.subarray(BODY_HEAD_BYTES);
  const pv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  switch (kind) {
    case 1:
    case 2:
      if (payload.length < 4) throw new DecodeError("log record: short row payload");
      return { kind, lsn, txId, tableId: pv.getUint32(0), row: payload.slice(4) };
    case 3: {
      if (payload.length < 8) throw new DecodeError("log record: short update payload");
      const oldLength = pv.getUint32(4);
      if (8 + oldLength > payload.length) throw new DecodeError("log record: bad old row length");
      return {
        kind,
        lsn,
        txId,
        tableId: pv.getUint32(0),
        oldRow: payload.slice(8, 8 + oldLength),
        row: payload.slice(8 + oldLength),
      };
    }
    case 4:
    case 5:
      return { kind, lsn, txId };
    case 6:
    case 7:
      return { kind, lsn, txId, json: decoder.decode(payload) };
    case 8: {
      const open: WalRecord[] = [];
      let at = 0;
      while (at < payload.length) {
        const inner = decodeRecord(payload.subarray(at));
        if (inner.kind === "incomplete") throw new DecodeError("checkpoint record: truncated");
        open.push(inner.record);
        at += inner.bytesUsed;
      }
      return { kind, lsn, txId, open };
    }
    default:
      throw new DecodeError(`log record: unknown kind ${kind}`);
  }
}

/** Reads every whole record of a log file; `validBytes` is where the good part ends. */
export function readLog(
  path: string,
): { records: WalRecord[]; validBytes: number; fileBytes: number } {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { records: [], validBytes: 0, fileBytes: 0 };
    throw error;
  }
  const records: WalRecord[] = [];
  let at = 0;
  let lastLsn = -Infinity;
  while (at < bytes.length) {
    let result: DecodeResult;
    try {
      result = decodeRecord(bytes.subarray(at));
    } catch {
      break;
    }
    if (result.kind === "incomplete") break;
    if (result.record.lsn <= lastLsn) break; // stale bytes from an older file generation
    lastLsn = result.record.lsn;
    records.push(result.record);
    at += result.bytesUsed;
  }
  return { records, validBytes: at, fileBytes: bytes.length };
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
  /** LSN of the last record appended (buffered or written). */
  appendedLsn: number;
  /** LSN up to which the log is on disk and fsynced. */
  durableLsn: number;
  sizeBytes: number;
  /** Bytes the file holds, records plus preallocated zeros. */
  #fileBytes: number;
  fsyncs = 0;

  constructor(path: string, options: { lastLsn: number; validBytes: number }) {
    this.#path = path;
    this.#file = Deno.openSync(path, { read: true, write: true, create: true });
    this.#file.truncateSync(options.validBytes);
    this.#file.seekSync(options.validBytes, Deno.SeekMode.Start);
    this.sizeBytes = options.validBytes;
    this.#fileBytes = options.validBytes;
    this.appendedLsn = options.lastLsn;
    this.durableLsn = options.lastLsn;
    this.#channel.port1.onmessage = () => {
      this.#scheduled = false;
      this.flush();
    };
  }

  /** Buffers a record (its `lsn` field is assigned here) and returns its LSN. */
  append(record: WalRecord): number {
    const lsn = ++this.appendedLsn;
    record.lsn = lsn;
    const bytes = encodeRecord(record);
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

  /** Writes and fsyncs everything appended so far, then wakes the committers it covers. */
  flush(): void {
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
        this.#failed = error;
        for (const w of this.#waiters.splice(0)) w.reject(error);
        return;
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
    const bytes = encodeRecord(checkpoint);
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
