// Write-ahead log records: encoding and decoding. Pure: no I/O (the log
// file and group commit live in wal.ts).
//
// Record framing:
//   u32 body length | u32 CRC32C of the body | body
//   body = f64 LSN | u8 kind | u32 transaction id | payload
// Payloads are logical (redo by primary key, see table.ts): insert carries
// the table id and the new row, delete the old row, update both, so every
// record can also be undone. CREATE TABLE / CREATE INDEX carry JSON. A
// checkpoint record starts every log file and carries the records of the
// transactions still open at that checkpoint, so they can be undone if they
// never commit. A zero length word ends the log (preallocated space).

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

export function joinBytes(parts: Uint8Array[]): Bytes {
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
