// A first-in first-out queue of rows that keeps a bounded amount of memory
// however many rows go through it: the rows a statement must set aside
// before it can use them (an UPDATE's rows whose key moved, the rows it
// found before changing any, its RETURNING rows, the changes its foreign
// keys check at the end). PostgreSQL keeps such rows in a tuplestore that
// moves to a temporary file past work_mem; this is the same idea, for one
// reader that takes rows in the order they were put.
//
// The first ITEMS_MAX rows stay as they are (most statements set aside a
// handful: pgbench's UPDATE by key sets aside none, and costs nothing
// here). Past them, rows are encoded into a byte buffer, and the buffer
// goes to a temporary file each time it passes BUFFER_BYTES; the reader
// takes them back in chunks of CHUNK_BYTES. So memory stays about
// BUFFER_BYTES + CHUNK_BYTES + ITEMS_MAX rows per queue, and the file
// holds the rest. Rows may be put while others are being taken (a foreign
// key cascade adds changes while the earlier ones are checked).
//
// The file is made on first need in the spill directory (the engine's
// directory's `tmp`, see `openSpillPlace`), written and read through the
// file layer (synchronous calls, like the engine's own: no fsync, nothing
// here needs to survive a crash), and removed by `close()`. Files left by a
// process that was killed are removed when the next one opens the
// directory.
//
// Encoding, per row: u32 byte length, u32 value count, then per value a tag
// byte and its bytes: null, false, true, float64, int64 (a bigint in
// range), a bigint as decimal text (out of range), UTF-8 text and raw
// bytes (u32 length first).

import { join } from "node:path";
import type { FileHandle, FileLayer } from "../../../lib/fs/file_layer.ts";
import type { Bytes } from "../../../lib/bytes.ts";
import type { Value } from "../storage/engine.ts";

/** Rows kept as they are before any is encoded (one engine batch). */
export const ITEMS_MAX = 256;
/** Encoded bytes kept in memory before they go to the file. */
export const BUFFER_BYTES = 1 << 20;
/** Bytes read back from the file at a time. */
const CHUNK_BYTES = 1 << 20;

/** Where temporary files go: a directory, through a file layer. */
export interface SpillPlace {
  files: FileLayer;
  dir: string;
}

const SPOOL_PREFIX = "spool-";

/**
 * The spill directory under an engine's directory: made if missing, with
 * any files a killed process left there removed (they belong to nobody:
 * one process owns the data directory at a time).
 */
export function openSpillPlace(files: FileLayer, engineDir: string): SpillPlace {
  const dir = join(engineDir, "tmp");
  files.makeDirectory(dir);
  for (const name of files.list(dir)) {
    if (name.startsWith(SPOOL_PREFIX)) files.remove(join(dir, name));
  }
  return { files, dir };
}

let spoolNumber = 0;

/** An open temporary file, to remove if its spool is dropped unclosed. */
interface SpillFile {
  files: FileLayer;
  path: string;
  handle: FileHandle;
}

/**
 * A safety net: a spool dropped without `close()` (a portal of a DML's
 * RETURNING rows left half read when its transaction ends) has its file
 * closed and removed when the spool is collected.
 */
const unclosed = new FinalizationRegistry<SpillFile>((file) => {
  try {
    file.handle.close();
    file.files.remove(file.path);
  } catch {
    // Nothing to do: the next start clears the directory.
  }
});

const EMPTY = new Uint8Array(0) as Bytes;

const TAG_NULL = 0;
const TAG_FALSE = 1;
const TAG_TRUE = 2;
const TAG_FLOAT = 3;
const TAG_INT64 = 4;
const TAG_BIGINT_TEXT = 5;
const TAG_TEXT = 6;
const TAG_BYTES = 7;

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class RowSpool<R extends Value[] = Value[]> {
  readonly #place: SpillPlace | null;
  /** The oldest rows, as they were put (until the first is encoded). */
  #items: (R | undefined)[] = [];
  #itemsTaken = 0;
  /** Encoded rows not yet in the file: logical bytes [#flushed, #flushed + #used). */
  #buffer = EMPTY;
  #view = new DataView(EMPTY.buffer);
  #used = 0;
  /** Bytes written to the file: logical bytes [0, #flushed). */
  #flushed = 0;
  /** Where the next encoded row to take starts (logical). */
  #readAt = 0;
  /** The file part last read: logical bytes [#chunkAt, #chunkAt + #chunk.length). */
  #chunk: Uint8Array = EMPTY;
  #chunkAt = 0;
  #file: SpillFile | null = null;
  #length = 0;
  #closed = false;

  /** `place` null: everything stays in memory (for tests of the encoding). */
  constructor(place: SpillPlace | null) {
    this.#place = place;
  }

  /** Rows put and not yet taken. */
  get length(): number {
    return this.#length;
  }

  /** Whether any row went to the temporary file. */
  get spilled(): boolean {
    return this.#file !== null;
  }

  push(row: R): void {
    if (this.#closed) throw new Error("row spool is closed");
    this.#length++;
    if (this.#readAt === this.#flushed + this.#used && this.#items.length < ITEMS_MAX) {
      this.#items.push(row);
      return;
    }
    this.#encode(row);
    if (this.#used >= BUFFER_BYTES && this.#place !== null) this.#flush();
  }

  /** The oldest row not yet taken, or undefined when there is none. */
  shift(): R | undefined {
    if (this.#itemsTaken < this.#items.length) {
      const row = this.#items[this.#itemsTaken];
      this.#items[this.#itemsTaken++] = undefined;
      this.#length--;
      if (this.#itemsTaken === this.#items.length && this.#readAt === this.#flushed + this.#used) {
        this.#items = [];
        this.#itemsTaken = 0;
      }
      return row;
    }
    if (this.#readAt === this.#flushed + this.#used) return undefined;
    let row: R;
    if (this.#readAt >= this.#flushed) {
      const at = this.#readAt - this.#flushed;
      const size = this.#view.getUint32(at);
      row = decodeRow(this.#buffer, at + 4, size) as R;
      this.#readAt += 4 + size;
      if (this.#readAt === this.#flushed + this.#used) {
        // Everything taken: start over (a queue read as it fills stays small).
        this.#readAt = this.#flushed;
        this.#used = 0;
        this.#items = [];
        this.#itemsTaken = 0;
      }
    } else {
      row = this.#readFromFile();
      if (this.#readAt === this.#flushed + this.#used) {
        this.#items = [];
        this.#itemsTaken = 0;
      }
    }
    this.#length--;
    return row;
  }

  /** Takes every row, oldest first. */
  *drain(): Generator<R> {
    for (let row = this.shift(); row !== undefined; row = this.shift()) yield row;
  }

  /** Forgets the rows and removes the temporary file; the spool cannot be used again. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#items = [];
    this.#buffer = EMPTY;
    this.#chunk = EMPTY;
    this.#length = 0;
    if (this.#file !== null) {
      unclosed.unregister(this);
      this.#file.handle.close();
      this.#file.files.remove(this.#file.path);
      this.#file = null;
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #readFromFile(): R {
    const header = this.#fromFile(this.#readAt, 4);
    const size = new DataView(header.buffer, header.byteOffset, 4).getUint32(0);
    const bytes = this.#fromFile(this.#readAt + 4, size);
    this.#readAt += 4 + size;
    return decodeRow(bytes, 0, size) as R;
  }

  /** `length` bytes of the file part from logical `at`, read in chunks. */
  #fromFile(at: number, length: number): Uint8Array {
    if (at < this.#chunkAt || at + length > this.#chunkAt + this.#chunk.length) {
      const size = Math.min(Math.max(CHUNK_BYTES, length), this.#flushed - at);
      const chunk = new Uint8Array(size);
      const read = this.#file!.handle.readAt(chunk, at);
      if (read !== size) throw new Error(`row spool: read ${read} of ${size} bytes`);
      this.#chunk = chunk;
      this.#chunkAt = at;
    }
    const from = at - this.#chunkAt;
    return this.#chunk.subarray(from, from + length);
  }

  #flush(): void {
    if (this.#file === null) {
      const { files, dir } = this.#place!;
      const path = join(dir, `${SPOOL_PREFIX}${Date.now()}-${++spoolNumber}`);
      this.#file = { files, path, handle: files.open(path, { create: true, truncate: true }) };
      unclosed.register(this, this.#file, this);
    }
    // Rows the reader already took from the buffer are not written.
    const skip = Math.max(0, this.#readAt - this.#flushed);
    if (skip > 0) {
      this.#flushed += skip;
      this.#used -= skip;
      this.#buffer.copyWithin(0, skip, skip + this.#used);
    }
    this.#file.handle.writeAt(this.#buffer.subarray(0, this.#used), this.#flushed);
    this.#flushed += this.#used;
    this.#used = 0;
  }

  #ensure(more: number): void {
    const need = this.#used + more;
    if (need <= this.#buffer.length) return;
    const grown = new Uint8Array(Math.max(need, this.#buffer.length * 2, 4096)) as Bytes;
    grown.set(this.#buffer.subarray(0, this.#used));
    this.#buffer = grown;
    this.#view = new DataView(grown.buffer);
  }

  #encode(row: Value[]): void {
    const start = this.#used;
    this.#ensure(8);
    this.#view.setUint32(start + 4, row.length);
    this.#used += 8;
    for (const v of row) {
      if (v === null) this.#tag(TAG_NULL);
      else if (v === false) this.#tag(TAG_FALSE);
      else if (v === true) this.#tag(TAG_TRUE);
      else if (typeof v === "number") {
        this.#ensure(9);
        this.#buffer[this.#used] = TAG_FLOAT;
        this.#view.setFloat64(this.#used + 1, v);
        this.#used += 9;
      } else if (typeof v === "bigint") {
        if (v >= INT64_MIN && v <= INT64_MAX) {
          this.#ensure(9);
          this.#buffer[this.#used] = TAG_INT64;
          this.#view.setBigInt64(this.#used + 1, v);
          this.#used += 9;
        } else this.#text(TAG_BIGINT_TEXT, v.toString());
      } else if (typeof v === "string") this.#text(TAG_TEXT, v);
      else {
        this.#ensure(5 + v.length);
        this.#buffer[this.#used] = TAG_BYTES;
        this.#view.setUint32(this.#used + 1, v.length);
        this.#buffer.set(v, this.#used + 5);
        this.#used += 5 + v.length;
      }
    }
    this.#view.setUint32(start, this.#used - start - 4);
  }

  #tag(tag: number): void {
    this.#ensure(1);
    this.#buffer[this.#used++] = tag;
  }

  #text(tag: number, text: string): void {
    this.#ensure(5 + text.length * 3);
    this.#buffer[this.#used] = tag;
    const { written } = encoder.encodeInto(text, this.#buffer.subarray(this.#used + 5));
    this.#view.setUint32(this.#used + 1, written);
    this.#used += 5 + written;
  }
}

/**
 * The rows of `spool` in batches of up to `batchRows`, oldest first; the
 * spool is closed when the last is read or the reader stops.
 */
export async function* batchesOf<R extends Value[]>(
  spool: RowSpool<R>,
  batchRows: number,
): AsyncGenerator<R[]> {
  try {
    while (spool.length > 0) {
      const batch: R[] = [];
      for (let row = spool.shift(); row !== undefined; row = spool.shift()) {
        batch.push(row);
        if (batch.length === batchRows) break;
      }
      yield batch;
    }
  } finally {
    spool.close();
  }
}

/** One encoded row from `bytes[at, at + size)` (its length prefix already read). */
function decodeRow(bytes: Uint8Array, at: number, size: number): Value[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = at + size;
  const count = view.getUint32(at);
  let p = at + 4;
  const row = new Array<Value>(count);
  for (let i = 0; i < count; i++) {
    const tag = bytes[p++];
    switch (tag) {
      case TAG_NULL:
        row[i] = null;
        break;
      case TAG_FALSE:
        row[i] = false;
        break;
      case TAG_TRUE:
        row[i] = true;
        break;
      case TAG_FLOAT:
        row[i] = view.getFloat64(p);
        p += 8;
        break;
      case TAG_INT64:
        row[i] = view.getBigInt64(p);
        p += 8;
        break;
      default: {
        const n = view.getUint32(p);
        p += 4;
        const slice = bytes.subarray(p, p + n);
        p += n;
        if (tag === TAG_TEXT) row[i] = decoder.decode(slice);
        else if (tag === TAG_BIGINT_TEXT) row[i] = BigInt(decoder.decode(slice));
        else if (tag === TAG_BYTES) row[i] = slice.slice() as Bytes;
        else throw new Error(`row spool: bad tag ${tag}`);
      }
    }
  }
  if (p !== end) throw new Error(`row spool: row of ${size} bytes decoded to ${p - at}`);
  return row;
}
