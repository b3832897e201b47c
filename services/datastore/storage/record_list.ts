// The log records of one open transaction, kept for its rollback and for
// the checkpoints it lives through (engine.ts). As objects, a row record
// costs about 500 bytes of heap beyond its log bytes (the object and two
// byte arrays, each with a buffer of its own): a transaction updating two
// million rows held about a gigabyte that way. So the first OBJECTS_MAX
// records stay objects (a transaction of a few changes, pgbench's, pays
// nothing) and the rest are kept as their log encoding (wal_codec.ts, the
// nested frame a checkpoint record carries them in), packed in chunks of
// CHUNK_BYTES: about their log size in memory, which
// `transactionLogBytesMax` bounds. A record is decoded again only when a
// rollback or a savepoint needs it; a checkpoint copies the encoded bytes
// as they are.

import {
  decodeRecord,
  encodeRecord,
  encodeRecordInto,
  framedBytes,
  NESTED,
  type WalRecord,
} from "./wal_codec.ts";

/** Records kept as objects before the rest are kept encoded. */
export const OBJECTS_MAX = 64;
/** Bytes per chunk of encoded records (a larger record gets a chunk of its own). */
const CHUNK_BYTES = 1 << 20;

export class RecordList {
  readonly #objects: WalRecord[] = [];
  readonly #chunks: Uint8Array[] = [];
  /** Bytes used in each chunk. */
  readonly #filled: number[] = [];
  /** Per encoded record: its chunk and where it starts there. */
  readonly #chunkOf: number[] = [];
  readonly #startOf: number[] = [];

  get length(): number {
    return this.#objects.length + this.#chunkOf.length;
  }

  push(record: WalRecord): void {
    if (this.#chunkOf.length === 0 && this.#objects.length < OBJECTS_MAX) {
      this.#objects.push(record);
      return;
    }
    const size = framedBytes(record);
    let c = this.#chunks.length - 1;
    if (c < 0 || this.#filled[c] + size > this.#chunks[c].length) {
      this.#chunks.push(new Uint8Array(Math.max(CHUNK_BYTES, size)));
      this.#filled.push(0);
      c++;
    }
    this.#chunkOf.push(c);
    this.#startOf.push(this.#filled[c]);
    this.#filled[c] += encodeRecordInto(record, NESTED, this.#chunks[c], this.#filled[c]);
  }

  /** Record `i` (0 the oldest), decoded again if it was kept encoded. */
  at(i: number): WalRecord {
    if (i < this.#objects.length) return this.#objects[i];
    const j = i - this.#objects.length;
    const chunk = this.#chunks[this.#chunkOf[j]];
    const decoded = decodeRecord(chunk.subarray(this.#startOf[j]));
    if (decoded.kind !== "record") throw new Error(`record list: record ${i} is cut short`);
    return decoded.record;
  }

  /** Records `from` onwards, oldest first. */
  slice(from: number): WalRecord[] {
    const out: WalRecord[] = [];
    for (let i = from; i < this.length; i++) out.push(this.at(i));
    return out;
  }

  /**
   * Every record in its nested log encoding, oldest first, as a few byte
   * arrays (views of the chunks: the caller copies them before another push).
   */
  encoded(): Uint8Array[] {
    const parts: Uint8Array[] = this.#objects.map((record) => encodeRecord(record));
    this.#chunks.forEach((chunk, c) => parts.push(chunk.subarray(0, this.#filled[c])));
    return parts;
  }
}
