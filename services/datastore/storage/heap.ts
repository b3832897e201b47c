// Heap files: a table's rows in slotted heap pages (layout in pages.ts),
// addressed by row id (page, slot), plus overflow chains for long values.
//
// Free-space tracking: the table remembers its last heap page and a short
// list of older pages that deletes and shrinking updates left at least a
// quarter empty; inserts try the last page, then that list, then allocate.
// The list is bounded (FREE_LIST_PAGES_MAX) and saved in the catalog at every
// checkpoint, so freed space is reused across restarts too. A page that
// empties completely stays with the table (it is not returned to the file's
// free list) — simpler, at the cost of never shrinking a table's footprint.

import type { Bytes } from "../../../lib/bytes.ts";
import type { BufferPool } from "./buffer_pool.ts";
import {
  heapDelete,
  heapFreeBytes,
  heapInsert,
  heapRead,
  heapReplace,
  OVERFLOW_DATA_BYTES,
  PAGE_BYTES,
  PageType,
  readOverflow,
  writeOverflow,
} from "./pages.ts";
import { CorruptionError } from "./errors.ts";
import type { OverflowRef } from "./row_codec.ts";

const FREE_LIST_PAGES_MAX = 256;
const REUSE_ABOVE_BYTES = PAGE_BYTES / 4;

/** Where a table's heap stands; persisted in the catalog. */
export interface HeapState {
  lastPage: number;
  freeSpacePages: number[];
}

/** A row's address: heap page and slot. */
export interface Rid {
  page: number;
  slot: number;
}

export function encodeRid(rid: Rid): Bytes {
  // Byte by byte: a DataView over `out.buffer` would move this small array
  // off the JS heap, and every row's rid stays in its B+tree leaf.
  const out = new Uint8Array(6);
  const { page, slot } = rid;
  out[0] = page >>> 24;
  out[1] = page >>> 16;
  out[2] = page >>> 8;
  out[3] = page;
  out[4] = slot >>> 8;
  out[5] = slot;
  return out;
}

export function decodeRid(bytes: Uint8Array): Rid {
  const page = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
  return { page, slot: (bytes[4] << 8) | bytes[5] };
}

export class Heap {
  #pool: BufferPool;
  readonly state: HeapState;

  constructor(pool: BufferPool, state: HeapState) {
    this.#pool = pool;
    this.state = state;
  }

  insert(tuple: Uint8Array): Rid {
    const { state } = this;
    if (state.lastPage !== 0) {
      const slot = this.#tryInsert(state.lastPage, tuple);
      if (slot >= 0) return { page: state.lastPage, slot };
    }
    for (let i = state.freeSpacePages.length - 1; i >= 0; i--) {
      const page = state.freeSpacePages[i];
      const slot = this.#tryInsert(page, tuple);
      const frame = this.#pool.get(page);
      if (heapFreeBytes(frame.page) < REUSE_ABOVE_BYTES / 2) state.freeSpacePages.splice(i, 1);
      if (slot >= 0) return { page, slot };
    }
    const frame = this.#pool.allocate(PageType.heap);
    state.lastPage = frame.id;
    const slot = heapInsert(frame.page, tuple);
    if (slot < 0) throw new RangeError("heap: tuple larger than an empty page");
    return { page: frame.id, slot };
  }

  #tryInsert(pageId: number, tuple: Uint8Array): number {
    const frame = this.#pool.get(pageId);
    const slot = heapInsert(frame.page, tuple);
    if (slot >= 0) this.#pool.markDirty(frame);
    return slot;
  }

  /** The stored tuple (a view into the page: copy or decode before the next operation). */
  read(rid: Rid): Uint8Array {
    const tuple = heapRead(this.#pool.get(rid.page).page, rid.slot);
    if (!tuple) {
      throw new CorruptionError(`index points at empty heap slot ${rid.page}:${rid.slot}`);
    }
    return tuple;
  }

  delete(rid: Rid): void {
    const frame = this.#pool.get(rid.page);
    if (!heapDelete(frame.page, rid.slot)) {
      throw new CorruptionError(`delete of empty heap slot ${rid.page}:${rid.slot}`);
    }
    this.#pool.markDirty(frame);
    this.#noteFree(rid.page, frame.page);
  }

  /** Replaces a tuple, in place when its page has room; returns where it now lives. */
  replace(rid: Rid, tuple: Uint8Array): Rid {
    const frame = this.#pool.get(rid.page);
    if (heapReplace(frame.page, rid.slot, tuple)) {
      this.#pool.markDirty(frame);
      this.#noteFree(rid.page, frame.page);
      return rid;
    }
    this.delete(rid);
    return this.insert(tuple);
  }

  #noteFree(pageId: number, page: Uint8Array): void {
    const list = this.state.freeSpacePages;
    if (pageId === this.state.lastPage || list.length >= FREE_LIST_PAGES_MAX) return;
    if (heapFreeBytes(page) >= REUSE_ABOVE_BYTES && !list.includes(pageId)) list.push(pageId);
  }
}

// ---- overflow chains ----

/** Stores `value` in a new chain of overflow pages. */
export function writeChain(pool: BufferPool, value: Uint8Array): OverflowRef {
  const count = Math.max(1, Math.ceil(value.length / OVERFLOW_DATA_BYTES));
  const frames = Array.from({ length: count }, () => pool.allocate(PageType.overflow));
  frames.forEach((frame, i) => {
    const next = i + 1 < count ? frames[i + 1].id : 0;
    const data = value.subarray(i * OVERFLOW_DATA_BYTES, (i + 1) * OVERFLOW_DATA_BYTES);
    writeOverflow(frame.page, next, data);
  });
  return { totalBytes: value.length, firstPage: frames[0].id };
}

/** Reads a chain back into one new array. */
export function readChain(pool: BufferPool, ref: OverflowRef): Bytes {
  const out = new Uint8Array(ref.totalBytes);
  let at = 0;
  let page = ref.firstPage;
  let hops = 0;
  const hopsMax = Math.ceil(ref.totalBytes / OVERFLOW_DATA_BYTES) + 1;
  while (at < ref.totalBytes) {
    if (page === 0 || ++hops > hopsMax) throw new CorruptionError("overflow chain ends early");
    const { next, data } = readOverflow(pool.get(page).page);
    const take = Math.min(data.length, ref.totalBytes - at);
    out.set(data.subarray(0, take), at);
    at += take;
    page = next;
  }
  return out;
}

/** Frees every page of a chain. */
export function freeChain(pool: BufferPool, ref: OverflowRef): void {
  let page = ref.firstPage;
  const count = Math.max(1, Math.ceil(ref.totalBytes / OVERFLOW_DATA_BYTES));
  for (let i = 0; i < count && page !== 0; i++) {
    const { next } = readOverflow(pool.get(page).page);
    pool.free(page);
    page = next;
  }
}
