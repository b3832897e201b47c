// Page layouts for the storage engine's data file. Pure: no I/O.
//
// Every page is PAGE_BYTES (8 KiB) and starts with a 16-byte header:
//   0..4   CRC32C of bytes 4..8192 (checked after every read, set before
//          every write)
//   4      page type (PageType)
//   5..8   zero
//   8..12  the page's own number (catches pages written to the wrong place)
//   12..16 type-specific
//
// Heap page (slotted, PostgreSQL-style): 12..14 bytes of live tuples, 14..16
// free slots, 16..18 slot count, 18..20 end of the slot array, 20..22 start
// of the tuple area; slots from 24, 4 bytes each
// (u16 offset, u16 length; offset 0 marks a free slot), tuples packed
// downwards from the end of the page. Deleting frees the slot; space is
// reclaimed by compacting the page when a tuple does not fit contiguously.
//
// Overflow page: 16..20 next page (0 = last), 20..24 bytes used, data from 24.
//
// B+tree node: 12 leaf flag, 16..18 entry count, 18..22 right sibling (leaf)
// or leftmost child (internal); entries from 24: u16 key length, key, then a
// leaf's u16 value length and value, or an internal node's u32 child.
//
// Meta page (page 0): 12..16 magic "UHDS", 16..24 checkpoint LSN (float64),
// 24..28 format version, 28..32 first page of the catalog chain, 32..36
// catalog length in bytes, 36 1 when no transaction was open at the
// checkpoint (the pages then hold committed work only; 0 means "maybe").

import type { Bytes } from "../../../lib/bytes.ts";
import { crc32c } from "./crc32c.ts";

export const PAGE_BYTES = 8192;
export const HEADER_BYTES = 16;

export const PageType = {
  free: 0,
  meta: 1,
  heap: 2,
  overflow: 3,
  btree: 4,
} as const;
export type PageType = typeof PageType[keyof typeof PageType];

export function newPage(pageId: number, type: PageType): Bytes {
  const page = new Uint8Array(PAGE_BYTES);
  page[4] = type;
  view(page).setUint32(8, pageId);
  if (type === PageType.heap) initHeap(page);
  return page;
}

function view(page: Uint8Array): DataView {
  return new DataView(page.buffer, page.byteOffset, page.byteLength);
}

export function pageType(page: Uint8Array): number {
  return page[4];
}

/** Sets the page's checksum; call right before writing it out. */
export function sealPage(page: Uint8Array): void {
  view(page).setUint32(0, crc32c(page.subarray(4)));
}

/** Why a page read back from disk cannot be trusted, or null if it can. */
export function pageProblem(page: Uint8Array, pageId: number): string | null {
  const v = view(page);
  if (v.getUint32(0) !== crc32c(page.subarray(4))) return "checksum mismatch";
  if (v.getUint32(8) !== pageId) return `page claims to be page ${v.getUint32(8)}`;
  return null;
}

// ---- heap pages ----

const SLOTS_AT = 24;
const SLOT_BYTES = 4;
/** The largest tuple a heap page can hold (one slot, empty page). */
export const HEAP_TUPLE_BYTES_MAX = PAGE_BYTES - SLOTS_AT - SLOT_BYTES;

// Header fields of a heap page (see the file comment).
const LIVE_BYTES_AT = 12; // u16: bytes of live tuples
const FREE_SLOTS_AT = 14; // u16: slots marked free
const SLOT_COUNT_AT = 16;
const SLOTS_END_AT = 18;
const TUPLES_START_AT = 20;

function initHeap(page: Uint8Array): void {
  const v = view(page);
  v.setUint16(SLOT_COUNT_AT, 0);
  v.setUint16(SLOTS_END_AT, SLOTS_AT);
  v.setUint16(TUPLES_START_AT, PAGE_BYTES);
}

function tuplesStart(v: DataView): number {
  return v.getUint16(TUPLES_START_AT);
}

export function heapSlotCount(page: Uint8Array): number {
  return view(page).getUint16(SLOT_COUNT_AT);
}

/** Bytes a new tuple could use after compaction (its slot's bytes already counted). */
export function heapFreeBytes(page: Uint8Array): number {
  const v = view(page);
  const slots = v.getUint16(SLOT_COUNT_AT);
  const used = SLOTS_AT + slots * SLOT_BYTES + v.getUint16(LIVE_BYTES_AT);
  const newSlot = v.getUint16(FREE_SLOTS_AT) > 0 ? 0 : SLOT_BYTES;
  return Math.max(0, PAGE_BYTES - used - newSlot);
}

/** The tuple in `slot` as a view, or null when the slot is free or absent. */
export function heapRead(page: Uint8Array, slot: number): Uint8Array | null {
  // Byte arithmetic rather than a DataView: this runs once per row read.
  if (slot >= ((page[SLOT_COUNT_AT] << 8) | page[SLOT_COUNT_AT + 1])) return null;
  const at = SLOTS_AT + slot * SLOT_BYTES;
  const offset = (page[at] << 8) | page[at + 1];
  if (offset === 0) return null;
  return page.subarray(offset, offset + ((page[at + 2] << 8) | page[at + 3]));
}

/** Inserts a tuple; returns its slot, or -1 when the page has no room. */
export function heapInsert(page: Uint8Array, tuple: Uint8Array): number {
  if (tuple.length > heapFreeBytes(page)) return -1;
  const v = view(page);
  const slots = v.getUint16(SLOT_COUNT_AT);
  let slot = slots;
  if (v.getUint16(FREE_SLOTS_AT) > 0) {
    slot = 0;
    while (v.getUint16(SLOTS_AT + slot * SLOT_BYTES) !== 0) slot++;
    v.setUint16(FREE_SLOTS_AT, v.getUint16(FREE_SLOTS_AT) - 1);
  } else {
    v.setUint16(SLOT_COUNT_AT, slots + 1);
    v.setUint16(SLOTS_END_AT, SLOTS_AT + (slots + 1) * SLOT_BYTES);
  }
  place(page, v, slot, tuple);
  return slot;
}

/** Writes `tuple` into the tuple area for `slot`, compacting first if needed. */
function place(page: Uint8Array, v: DataView, slot: number, tuple: Uint8Array): void {
  if (tuplesStart(v) - tuple.length < v.getUint16(SLOTS_END_AT)) heapCompact(page);
  const start = tuplesStart(v) - tuple.length;
  page.set(tuple, start);
  v.setUint16(SLOTS_AT + slot * SLOT_BYTES, start);
  v.setUint16(SLOTS_AT + slot * SLOT_BYTES + 2, tuple.length);
  v.setUint16(TUPLES_START_AT, start);
  v.setUint16(LIVE_BYTES_AT, v.getUint16(LIVE_BYTES_AT) + tuple.length);
}

/** Frees a slot. Returns false if it was not in use. */
export function heapDelete(page: Uint8Array, slot: number): boolean {
  const v = view(page);
  const at = SLOTS_AT + slot * SLOT_BYTES;
  if (slot >= v.getUint16(SLOT_COUNT_AT) || v.getUint16(at) === 0) return false;
  v.setUint16(LIVE_BYTES_AT, v.getUint16(LIVE_BYTES_AT) - v.getUint16(at + 2));
  v.setUint16(at, 0);
  v.setUint16(at + 2, 0);
  v.setUint16(FREE_SLOTS_AT, v.getUint16(FREE_SLOTS_AT) + 1);
  return true;
}

/** Replaces the tuple in `slot` if the page has room; returns false otherwise. */
export function heapReplace(page: Uint8Array, slot: number, tuple: Uint8Array): boolean {
  const v = view(page);
  const at = SLOTS_AT + slot * SLOT_BYTES;
  const oldLength = v.getUint16(at + 2);
  if (tuple.length <= oldLength) {
    page.set(tuple, v.getUint16(at));
    v.setUint16(at + 2, tuple.length);
    v.setUint16(LIVE_BYTES_AT, v.getUint16(LIVE_BYTES_AT) - oldLength + tuple.length);
    return true;
  }
  const used = SLOTS_AT + v.getUint16(SLOT_COUNT_AT) * SLOT_BYTES + v.getUint16(LIVE_BYTES_AT);
  if (tuple.length > PAGE_BYTES - used + oldLength) return false;
  v.setUint16(at, 0);
  v.setUint16(at + 2, 0);
  v.setUint16(LIVE_BYTES_AT, v.getUint16(LIVE_BYTES_AT) - oldLength);
  place(page, v, slot, tuple);
  return true;
}

/** Packs live tuples against the end of the page, keeping their slots. */
export function heapCompact(page: Uint8Array): void {
  const v = view(page);
  const slots = v.getUint16(SLOT_COUNT_AT);
  const live: { slot: number; bytes: Uint8Array }[] = [];
  for (let s = 0; s < slots; s++) {
    const tuple = heapRead(page, s);
    if (tuple) live.push({ slot: s, bytes: tuple.slice() });
  }
  let end = PAGE_BYTES;
  for (const { slot, bytes } of live) {
    end -= bytes.length;
    page.set(bytes, end);
    v.setUint16(SLOTS_AT + slot * SLOT_BYTES, end);
  }
  page.fill(0, v.getUint16(SLOTS_END_AT), end);
  v.setUint16(TUPLES_START_AT, end);
}

// ---- overflow pages ----

export const OVERFLOW_DATA_AT = 24;
export const OVERFLOW_DATA_BYTES = PAGE_BYTES - OVERFLOW_DATA_AT;

export function writeOverflow(page: Uint8Array, next: number, data: Uint8Array): void {
  const v = view(page);
  v.setUint32(16, next);
  v.setUint32(20, data.length);
  page.set(data, OVERFLOW_DATA_AT);
}

export function readOverflow(page: Uint8Array): { next: number; data: Uint8Array } {
  const v = view(page);
  const used = Math.min(v.getUint32(20), OVERFLOW_DATA_BYTES);
  return { next: v.getUint32(16), data: page.subarray(OVERFLOW_DATA_AT, OVERFLOW_DATA_AT + used) };
}

// ---- B+tree nodes ----

/** A decoded B+tree node. Leaves hold values; internal nodes hold children. */
export interface BtreeNode {
  leaf: boolean;
  keys: Bytes[];
  /** Leaf only: one value per key. */
  values: Bytes[];
  /** Internal only: keys.length + 1 children. */
  children: number[];
  /** Leaf only: the next leaf to the right, 0 for none. */
  next: number;
  /** Cached `nodeBytes()`; whoever changes the node updates or clears it. */
  bytes?: number;
}

export const NODE_ENTRIES_AT = 24;

/** Bytes the node takes once encoded. */
export function nodeBytes(node: BtreeNode): number {
  if (node.bytes !== undefined) return node.bytes;
  let size = NODE_ENTRIES_AT;
  for (let i = 0; i < node.keys.length; i++) {
    size += 2 + node.keys[i].length + (node.leaf ? 2 + node.values[i].length : 4);
  }
  node.bytes = size;
  return size;
}

export function encodeNode(page: Uint8Array, node: BtreeNode): void {
  const v = view(page);
  page.fill(0, 12);
  v.setUint8(12, node.leaf ? 1 : 0);
  v.setUint16(16, node.keys.length);
  v.setUint32(18, node.leaf ? node.next : node.children[0]);
  let at = NODE_ENTRIES_AT;
  for (let i = 0; i < node.keys.length; i++) {
    const key = node.keys[i];
    v.setUint16(at, key.length);
    page.set(key, at + 2);
    at += 2 + key.length;
    if (node.leaf) {
      const value = node.values[i];
      v.setUint16(at, value.length);
      page.set(value, at + 2);
      at += 2 + value.length;
    } else {
      v.setUint32(at, node.children[i + 1]);
      at += 4;
    }
  }
}

/** Decodes a node; keys and values are copies. */
export function decodeNode(page: Uint8Array): BtreeNode {
  const v = view(page);
  const leaf = v.getUint8(12) === 1;
  const count = v.getUint16(16);
  const node: BtreeNode = { leaf, keys: [], values: [], children: [], next: 0 };
  if (leaf) node.next = v.getUint32(18);
  else node.children.push(v.getUint32(18));
  let at = NODE_ENTRIES_AT;
  for (let i = 0; i < count; i++) {
    const keyLength = v.getUint16(at);
    node.keys.push(page.slice(at + 2, at + 2 + keyLength));
    at += 2 + keyLength;
    if (leaf) {
      const valueLength = v.getUint16(at);
      node.values.push(page.slice(at + 2, at + 2 + valueLength));
      at += 2 + valueLength;
    } else {
      node.children.push(v.getUint32(at));
      at += 4;
    }
  }
  return node;
}

/**
 * A B+tree node read in place: entry offsets found by one walk over the
 * lengths, keys and values read as views of the page on demand. Read paths
 * use this so a page fetched from disk for a lookup or a scan is not
 * decoded into hundreds of small arrays; writers decode (`decodeNode`).
 */
export interface PageNode {
  page: Uint8Array;
  leaf: boolean;
  count: number;
  offsets: Uint16Array;
  /** Right sibling (leaf) or leftmost child (internal). */
  head: number;
}

export type ReadNode = BtreeNode | PageNode;

export function viewNode(page: Uint8Array): PageNode {
  const v = view(page);
  const leaf = v.getUint8(12) === 1;
  const count = v.getUint16(16);
  const offsets = new Uint16Array(count);
  let at = NODE_ENTRIES_AT;
  for (let i = 0; i < count; i++) {
    offsets[i] = at;
    at += 2 + v.getUint16(at);
    at += leaf ? 2 + v.getUint16(at) : 4;
  }
  return { page, leaf, count, offsets, head: v.getUint32(18) };
}

function isPageNode(node: ReadNode): node is PageNode {
  return "offsets" in node;
}

export function nodeCount(node: ReadNode): number {
  return isPageNode(node) ? node.count : node.keys.length;
}

/** Key `i`; a view into the page for a PageNode (copy it to keep it). */
export function nodeKey(node: ReadNode, i: number): Uint8Array {
  if (!isPageNode(node)) return node.keys[i];
  const at = node.offsets[i];
  const length = (node.page[at] << 8) | node.page[at + 1];
  return node.page.subarray(at + 2, at + 2 + length);
}

/**
 * Compares key `i` with `key` as unsigned bytes (<0, 0, >0), reading a
 * PageNode's key in place: a lookup's binary search makes no view per step.
 */
export function compareNodeKey(node: ReadNode, i: number, key: Uint8Array): number {
  let bytes: Uint8Array;
  let start: number;
  let length: number;
  if (isPageNode(node)) {
    bytes = node.page;
    const at = node.offsets[i];
    length = (bytes[at] << 8) | bytes[at + 1];
    start = at + 2;
  } else {
    bytes = node.keys[i];
    start = 0;
    length = bytes.length;
  }
  const n = length < key.length ? length : key.length;
  for (let j = 0; j < n; j++) {
    const d = bytes[start + j] - key[j];
    if (d !== 0) return d;
  }
  return length - key.length;
}

/**
 * `compareNodeKey` for a binary search that knows key `i` and `key` agree on
 * their first `from` bytes (both are at least that long): the comparison
 * starts there, and says how far the two agree. Returns 0 when they are
 * equal; otherwise the sign of key `i` minus `key`, times one more than the
 * length of their common prefix (so `lcp = |r| - 1`).
 */
export function compareNodeKeyFrom(
  node: ReadNode,
  i: number,
  key: Uint8Array,
  from: number,
): number {
  let bytes: Uint8Array;
  let start: number;
  let length: number;
  if (isPageNode(node)) {
    bytes = node.page;
    const at = node.offsets[i];
    length = (bytes[at] << 8) | bytes[at + 1];
    start = at + 2;
  } else {
    bytes = node.keys[i];
    start = 0;
    length = bytes.length;
  }
  const n = length < key.length ? length : key.length;
  for (let j = from; j < n; j++) {
    const d = bytes[start + j] - key[j];
    if (d !== 0) return d < 0 ? -(j + 1) : j + 1;
  }
  if (length === key.length) return 0;
  return length < key.length ? -(n + 1) : n + 1;
}

/** Value `i` of a leaf; a view into the page for a PageNode (copy it to keep it). */
export function nodeValueView(node: ReadNode, i: number): Uint8Array {
  if (!isPageNode(node)) return node.values[i];
  let at = node.offsets[i];
  at += 2 + ((node.page[at] << 8) | node.page[at + 1]);
  const length = (node.page[at] << 8) | node.page[at + 1];
  return node.page.subarray(at + 2, at + 2 + length);
}

/** Child `i` (0..count) of an internal node. */
export function nodeChild(node: ReadNode, i: number): number {
  if (!isPageNode(node)) return node.children[i];
  if (i === 0) return node.head;
  let at = node.offsets[i - 1];
  at += 2 + ((node.page[at] << 8) | node.page[at + 1]);
  return view(node.page).getUint32(at);
}

// ---- meta page ----

export const META_MAGIC = 0x55484453; // "UHDS"
export const FORMAT_VERSION = 1;

export interface MetaFields {
  checkpointLsn: number;
  catalogPage: number;
  catalogBytes: number;
  /** No transaction was open at the checkpoint: the pages hold committed work only. */
  committedOnly: boolean;
}

export function writeMeta(page: Uint8Array, meta: MetaFields): void {
  const v = view(page);
  v.setUint32(12, META_MAGIC);
  v.setFloat64(16, meta.checkpointLsn);
  v.setUint32(24, FORMAT_VERSION);
  v.setUint32(28, meta.catalogPage);
  v.setUint32(32, meta.catalogBytes);
  page[36] = meta.committedOnly ? 1 : 0;
}

/** The format version a meta page declares, or null when it is not a meta page. */
export function metaFormatVersion(page: Uint8Array): number | null {
  const v = view(page);
  if (page[4] !== PageType.meta || v.getUint32(12) !== META_MAGIC) return null;
  return v.getUint32(24);
}

export function readMeta(page: Uint8Array): MetaFields | string {
  const v = view(page);
  if (page[4] !== PageType.meta || v.getUint32(12) !== META_MAGIC) return "not a datastore file";
  if (v.getUint32(24) !== FORMAT_VERSION) return `unsupported format version ${v.getUint32(24)}`;
  return {
    checkpointLsn: v.getFloat64(16),
    catalogPage: v.getUint32(28),
    catalogBytes: v.getUint32(32),
    committedOnly: page[36] === 1,
  };
}
