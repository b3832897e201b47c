// Write-ahead log records: encoding and decoding. Pure: no I/O (the log
// file and group commit live in wal.ts).
//
// File header: every log file starts with 8 bytes, u32 magic "UHWL" and u32
// LOG_FORMAT_VERSION, written and fsynced with the file's checkpoint record
// before the rename that installs the file. A file of another version is
// refused with UnsupportedFormatError rather than misread; a file without
// the header (written before versions existed, or damaged) with
// CorruptionError.
//
// Record framing:
//   u32 body length | u32 CRC32C of the body | body
//   body = f64 LSN | u8 kind | u32 transaction id | u32 log salt
//          | f64 durable LSN | payload
// The salt and the durable LSN let recovery tell a torn tail from damage in
// the middle of the log (wal.ts explains how): the salt names the log file
// the record was written for (a random number chosen when the file is
// created, as SQLite's WAL frames carry their file's salt), and the durable
// LSN is the last LSN already fsynced when the record was appended. Records
// nested in a checkpoint record carry salt 0 (never a file's salt).
// Payloads are logical (redo by primary key, see table.ts): insert carries
// the table id and the new row, delete the old row, update both, so every
// record can also be undone. CREATE TABLE / CREATE INDEX / DROP INDEX carry JSON. A
// checkpoint record starts every log file and carries the records of the
// transactions still open at that checkpoint, so they can be undone if they
// never commit. decodeLog() reads a whole file and decides where it ends.

import { type Bytes, concat } from "../../../lib/bytes.ts";
import { DecodeError, LimitError } from "../../../lib/errors.ts";
import { crc32c } from "./crc32c.ts";
import { CorruptionError, UnsupportedFormatError } from "./errors.ts";

export const LOG_MAGIC = 0x5548574c; // "UHWL"
/**
 * Bump when the log's format changes; files of versions this build does not
 * know are then refused, not misread. Version 2 added the drop-index record
 * (kind 9); a version 1 file is a version 2 file without one, so it is read.
 * An older build refuses a version 2 file rather than take a drop-index
 * record for a torn tail.
 */
export const LOG_FORMAT_VERSION = 2;
/** The oldest log format version this build reads. */
export const LOG_FORMAT_VERSION_OLDEST = 1;
export const LOG_HEADER_BYTES = 8;

/** The header every log file starts with. */
export function encodeLogHeader(version: number = LOG_FORMAT_VERSION): Bytes {
  const header = new Uint8Array(LOG_HEADER_BYTES);
  const v = new DataView(header.buffer);
  v.setUint32(0, LOG_MAGIC);
  v.setUint32(4, version);
  return header;
}

export const RecordKind = {
  insert: 1,
  delete: 2,
  update: 3,
  commit: 4,
  abort: 5,
  createTable: 6,
  createIndex: 7,
  checkpoint: 8,
  dropIndex: 9,
} as const;
export type RecordKind = typeof RecordKind[keyof typeof RecordKind];

/** Frame fields that place a record in its log file (see wal.ts). */
export interface RecordFrame {
  /** The salt of the log file the record was written to; 0 when nested. */
  salt: number;
  /** The last LSN fsynced when the record was appended. */
  durableLsn: number;
}

export const NESTED: RecordFrame = { salt: 0, durableLsn: 0 };

export type WalRecord =
  | { kind: 1; lsn: number; txId: number; tableId: number; row: Bytes }
  | { kind: 2; lsn: number; txId: number; tableId: number; row: Bytes }
  | { kind: 3; lsn: number; txId: number; tableId: number; oldRow: Bytes; row: Bytes }
  | { kind: 4 | 5; lsn: number; txId: number }
  | { kind: 6 | 7 | 9; lsn: number; txId: number; json: string }
  | {
    kind: 8;
    lsn: number;
    txId: number;
    open: WalRecord[];
    /** More open records, already encoded (nested frame), written after `open` (record_list.ts). */
    openEncoded?: readonly Uint8Array[];
  };

/**
 * Bound on one record's body on read. Data records are bounded at write
 * time (rows by `rowBytesMax`); a checkpoint record carries every open
 * transaction's records (each bounded by `transactionLogBytesMax`), so this
 * only rejects lengths no file of ours can hold. Decoding never allocates
 * from the length: it takes views of the bytes already read.
 */
export const RECORD_BYTES_MAX = 0x7fff_ffff;
const HEAD_BYTES = 8;
const BODY_HEAD_BYTES = 25;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes one framed record (one allocation for the common row records). */
export function encodeRecord(record: WalRecord, frame: RecordFrame = NESTED): Bytes {
  const payload = payloadOf(record);
  const out = new Uint8Array(HEAD_BYTES + BODY_HEAD_BYTES + payload.bytes);
  writeFramed(record, frame, payload, out, 0);
  return out;
}

/**
 * A record as the parts to write one after another: for a checkpoint
 * record, the frame's head and then the open records' encodings as they
 * are, the checksum computed across them, so that carrying a large open
 * transaction into the new log copies its records no more than the write
 * does (joining them cost three copies of up to `transactionLogBytesMax`
 * each). Any other record is one part, as `encodeRecord` makes it.
 */
export function encodeRecordParts(record: WalRecord, frame: RecordFrame): Uint8Array[] {
  if (record.kind !== 8) return [encodeRecord(record, frame)];
  const parts: Uint8Array[] = [
    ...record.open.map((inner) => encodeRecord(inner)),
    ...record.openEncoded ?? [],
  ];
  const payloadBytes = parts.reduce((n, part) => n + part.length, 0);
  const head = new Uint8Array(HEAD_BYTES + BODY_HEAD_BYTES);
  const v = new DataView(head.buffer);
  v.setUint32(0, BODY_HEAD_BYTES + payloadBytes);
  v.setFloat64(HEAD_BYTES, record.lsn);
  v.setUint8(HEAD_BYTES + 8, record.kind);
  v.setUint32(HEAD_BYTES + 9, record.txId);
  v.setUint32(HEAD_BYTES + 13, frame.salt);
  v.setFloat64(HEAD_BYTES + 17, frame.durableLsn);
  let crc = crc32c(head.subarray(HEAD_BYTES));
  for (const part of parts) crc = crc32c(part, crc);
  v.setUint32(4, crc);
  return [head, ...parts];
}

/**
 * Encodes one framed record into `out` at `at` (the log's buffer, so an
 * append allocates nothing); returns the bytes written. `out` must have
 * room for `framedBytes(record)` (wal.ts grows its buffer first).
 */
export function encodeRecordInto(
  record: WalRecord,
  frame: RecordFrame,
  out: Uint8Array,
  at: number,
): number {
  return writeFramed(record, frame, payloadOf(record), out, at);
}

/** The size of a record once framed. */
export function framedBytes(record: WalRecord): number {
  switch (record.kind) {
    case 1:
    case 2:
      return HEAD_BYTES + BODY_HEAD_BYTES + 4 + record.row.length;
    case 3:
      return HEAD_BYTES + BODY_HEAD_BYTES + 8 + record.oldRow.length + record.row.length;
    case 4:
    case 5:
      return HEAD_BYTES + BODY_HEAD_BYTES;
    default:
      return HEAD_BYTES + BODY_HEAD_BYTES + payloadOf(record).bytes;
  }
}

/** A record's payload size, with the bytes of the kinds that must be encoded first. */
function payloadOf(record: WalRecord): { bytes: number; encoded: Uint8Array | null } {
  switch (record.kind) {
    case 1:
    case 2:
      return { bytes: 4 + record.row.length, encoded: null };
    case 3:
      return { bytes: 8 + record.oldRow.length + record.row.length, encoded: null };
    case 4:
    case 5:
      return { bytes: 0, encoded: null };
    case 6:
    case 7:
    case 9: {
      const json = encoder.encode(record.json);
      return { bytes: json.length, encoded: json };
    }
    case 8: {
      const nested = joinBytes([
        ...record.open.map((inner) => encodeRecord(inner)),
        ...record.openEncoded ?? [],
      ]);
      return { bytes: nested.length, encoded: nested };
    }
  }
}

function writeFramed(
  record: WalRecord,
  frame: RecordFrame,
  payload: { bytes: number; encoded: Uint8Array | null },
  out: Uint8Array,
  start: number,
): number {
  const total = HEAD_BYTES + BODY_HEAD_BYTES + payload.bytes;
  const v = new DataView(out.buffer, out.byteOffset + start, total);
  v.setUint32(0, BODY_HEAD_BYTES + payload.bytes);
  v.setFloat64(HEAD_BYTES, record.lsn);
  v.setUint8(HEAD_BYTES + 8, record.kind);
  v.setUint32(HEAD_BYTES + 9, record.txId);
  v.setUint32(HEAD_BYTES + 13, frame.salt);
  v.setFloat64(HEAD_BYTES + 17, frame.durableLsn);
  const at = HEAD_BYTES + BODY_HEAD_BYTES;
  switch (record.kind) {
    case 1:
    case 2:
      v.setUint32(at, record.tableId);
      out.set(record.row, start + at + 4);
      break;
    case 3:
      v.setUint32(at, record.tableId);
      v.setUint32(at + 4, record.oldRow.length);
      out.set(record.oldRow, start + at + 8);
      out.set(record.row, start + at + 8 + record.oldRow.length);
      break;
    case 6:
    case 7:
    case 8:
    case 9:
      out.set(payload.encoded!, start + at);
      break;
  }
  v.setUint32(4, crc32c(out.subarray(start + HEAD_BYTES, start + total)));
  return total;
}

/** Joins byte arrays into one new array (lib/bytes.ts's concat, under the name the log code uses). */
export const joinBytes: (parts: readonly Uint8Array[]) => Bytes = concat;

export type DecodeResult =
  | { kind: "record"; record: WalRecord; frame: RecordFrame; bytesUsed: number }
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
  const bv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const frame = { salt: bv.getUint32(13), durableLsn: bv.getFloat64(17) };
  return { kind: "record", record: decodeBody(body), frame, bytesUsed: HEAD_BYTES + length };
}

/**
 * Where the salt sits in a framed record, counted from the record's first
 * byte: recovery compares it before spending a checksum on a candidate.
 */
export const SALT_OFFSET = HEAD_BYTES + 13;

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
    case 9:
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

/** The records of one log file, as recovery replays them. */
export interface DecodedLog {
  records: WalRecord[];
  /** Where the log ends: the byte after its last good record. */
  validBytes: number;
  /** The file's salt, from its first record (0 for an empty log). */
  salt: number;
}

/**
 * Reads the records of a whole log file and decides where it ends, telling a
 * torn tail from damage in the middle of the log.
 *
 * The log is read up to the first record that is not the next record of this
 * file: torn or garbled (length or CRC32C wrong), preallocated zeros, a
 * record of another file (its salt differs), or a record out of sequence
 * (LSNs within one file go up by exactly one). What comes next decides:
 *
 *   - A torn tail: the crash interrupted the last write. That write was not
 *     fsynced, so no commit in it was acknowledged, and the log ends here.
 *     Records of the same write may still follow intact (a power cut can
 *     persist the sectors of one write in any order); they are dropped too.
 *   - Damage in the middle: the bad record had been fsynced, and records
 *     written by later flushes follow it. Ending the log here would silently
 *     drop committed transactions, so recovery refuses with CorruptionError.
 *
 * Every record carries the last LSN that was fsynced when it was appended
 * (flushes run one at a time, and a flush writes and fsyncs everything
 * appended before it). So an intact record of this file whose durable LSN
 * is at or past the bad record's LSN proves that the bad record was fsynced
 * before it was written: that is damage in the middle. Records of the same
 * unfinished write all carry a durable LSN below the bad one. After the end,
 * the rest of the file is scanned at every byte offset for such a record
 * (the salt is compared before the checksum is computed, so a scan over
 * megabytes of preallocated zeros costs a few milliseconds).
 *
 * Leftovers are never mistaken for later records: the salt is a random
 * number chosen for each new log file, so records from an earlier file whose
 * bytes a reused file still holds (a file reused in place, or a block a
 * filesystem handed back) never match, whatever their LSNs. SQLite's WAL
 * uses salts the same way (frames whose salt differs from the WAL header's
 * are stale: https://www.sqlite.org/fileformat2.html#walformat), as does
 * RocksDB's recyclable log format (each record names its log number).
 * PostgreSQL and SQLite both end their log at the first bad record
 * whatever follows, so damage in the middle of their log goes unnoticed;
 * telling it apart from a torn write by what follows it is the approach of
 * "Protocol-Aware Recovery for Consensus-Based Storage" (Alagappan et al.,
 * FAST 2018), and TigerBeetle's WAL recovery does it with redundant headers.
 *
 * What it cannot tell: damage confined to the last write of the log (the
 * last group of commits, fsynced but followed by nothing yet) looks exactly
 * like a torn write, and is cut off as one.
 *
 * A log file always starts with its checkpoint record (written to a new file
 * and fsynced before the rename that installs it), so a file whose first
 * record is bad is damaged, unless it holds nothing but zeros.
 */
export function decodeLog(bytes: Uint8Array, fileName: string): DecodedLog {
  const records: WalRecord[] = [];
  if (!bytes.some((b) => b !== 0)) return { records, validBytes: 0, salt: 0 };
  checkHeader(bytes, fileName);
  let at = LOG_HEADER_BYTES;
  let salt = 0;
  let lastLsn = 0;
  while (at < bytes.length) {
    const found = recordAt(bytes, at);
    if (!found) break;
    if (records.length === 0) {
      if (found.record.kind !== RecordKind.checkpoint || found.frame.salt === 0) break;
      salt = found.frame.salt;
    } else if (found.frame.salt !== salt || found.record.lsn !== lastLsn + 1) {
      break;
    }
    records.push(found.record);
    lastLsn = found.record.lsn;
    at += found.bytesUsed;
  }
  if (records.length === 0) {
    throw new CorruptionError(
      `${fileName}: the log's first record (byte ${LOG_HEADER_BYTES}) is damaged; refusing to start`,
      { path: fileName, offsetBytes: LOG_HEADER_BYTES },
    );
  }
  const later = laterDurableRecord(bytes, at, salt, lastLsn + 1);
  if (later) {
    throw new CorruptionError(
      `${fileName}: the log record at byte ${at} (LSN ${lastLsn + 1}) is damaged, but ` +
        `intact records written after it was fsynced follow (byte ${later.offset}, ` +
        `LSN ${later.lsn}): this is damage in the middle of the log, not a torn write. ` +
        `Refusing to start: ending the log there would lose committed transactions`,
      { path: fileName, offsetBytes: at },
    );
  }
  return { records, validBytes: at, salt };
}

/** Throws unless `bytes` start with a log header of this version. */
function checkHeader(bytes: Uint8Array, fileName: string): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < LOG_HEADER_BYTES || v.getUint32(0) !== LOG_MAGIC) {
    throw new CorruptionError(
      `${fileName}: no log header ("UHWL"): written by a build from before log format ` +
        `versions, or damaged; refusing to start`,
      { path: fileName, offsetBytes: 0 },
    );
  }
  const version = v.getUint32(4);
  if (version < LOG_FORMAT_VERSION_OLDEST || version > LOG_FORMAT_VERSION) {
    throw new UnsupportedFormatError(
      `${fileName}: log format version ${version}; this build reads versions ` +
        `${LOG_FORMAT_VERSION_OLDEST} to ${LOG_FORMAT_VERSION}`,
      { path: fileName, version },
    );
  }
}

/** The record framed at `at`, or null if there is none whole and intact. */
function recordAt(
  bytes: Uint8Array,
  at: number,
): { record: WalRecord; frame: RecordFrame; bytesUsed: number } | null {
  try {
    const result = decodeRecord(bytes.subarray(at));
    return result.kind === "record" ? result : null;
  } catch {
    return null; // DecodeError or LimitError: a bad length, checksum or body
  }
}

/**
 * The first intact record from `from` on with this file's salt that was
 * appended once `badLsn` was durable (see decodeLog), or null.
 */
function laterDurableRecord(
  bytes: Uint8Array,
  from: number,
  salt: number,
  badLsn: number,
): { offset: number; lsn: number } | null {
  const saltBytes = [salt >>> 24, (salt >>> 16) & 0xff, (salt >>> 8) & 0xff, salt & 0xff];
  // Jump between occurrences of one nonzero byte of the salt (native
  // indexOf), so runs of zeros and unrelated bytes cost next to nothing.
  const k = saltBytes.findIndex((b) => b !== 0);
  const last = bytes.length - SALT_OFFSET - 4;
  let offset = from;
  while (offset <= last) {
    const hit = bytes.indexOf(saltBytes[k], offset + SALT_OFFSET + k);
    if (hit === -1) break;
    offset = hit - SALT_OFFSET - k;
    if (offset > last) break;
    const s = offset + SALT_OFFSET;
    if (
      bytes[s] === saltBytes[0] && bytes[s + 1] === saltBytes[1] &&
      bytes[s + 2] === saltBytes[2] && bytes[s + 3] === saltBytes[3]
    ) {
      const found = recordAt(bytes, offset);
      if (
        found && found.frame.salt === salt && found.frame.durableLsn >= badLsn &&
        found.record.lsn > found.frame.durableLsn
      ) {
        return { offset, lsn: found.record.lsn };
      }
    }
    offset++;
  }
  return null;
}
