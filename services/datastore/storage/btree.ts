// B+tree over byte-string keys (compared with memcmp; row_codec.ts makes the
// keys order-preserving), stored in buffer-pool pages.
//
// Internal node: keys[i] separates children[i] (keys < keys[i]) from
// children[i + 1] (keys >= keys[i]). Leaves are chained to the right, but
// cursors move with their root-to-leaf path instead, so scans run both ways.
//
// The root page never moves: a root split copies the root into a new page
// and turns the root into an internal node over the two halves; a root left
// with one child takes over that child's contents. So the catalog records a
// root page once, at creation.
//
// Deletes merge a node that fell below a quarter page into a sibling when
// the two fit in one page (the separator included, for internal nodes); no
// redistribution between siblings. Keys are unique: indexes that allow
// duplicates append the primary key to make them so (engine.ts).
//
// Scans are batches (`scan`): each descends from the root, collects at most
// `limit` entries and returns; the caller resumes after the last key. Nothing
// is held between batches, so the pool may evict freely in between.

import type { Bytes } from "../../../lib/bytes.ts";
import { LimitError } from "../../../lib/errors.ts";
import type { BufferPool, Frame } from "./buffer_pool.ts";
import {
  type BtreeNode,
  compareNodeKey,
  compareNodeKeyFrom,
  decodeNode,
  nodeBytes,
  nodeChild,
  nodeCount,
  nodeKey,
  nodeValueView,
  PAGE_BYTES,
  PageType,
  type ReadNode,
  viewNode,
} from "./pages.ts";
import { compareBytes } from "./row_codec.ts";

/** Keys longer than this are refused: a node must hold several entries. */
export const KEY_BYTES_MAX = 1024;
/** Values (row ids) are small; bounded so any node of 4 entries fits a page. */
export const VALUE_BYTES_MAX = 64;
const MERGE_BELOW_BYTES = PAGE_BYTES / 4;

export interface Entry {
  key: Bytes;
  value: Bytes;
}

export interface Bound {
  key: Bytes;
  inclusive: boolean;
}

export interface ScanRange {
  lower?: Bound;
  upper?: Bound;
  reverse?: boolean;
}

interface Step {
  frame: Frame;
  node: BtreeNode;
  /** Child taken (internal) or entry position (leaf). */
  index: number;
}

interface ReadStep {
  frame: Frame;
  node: ReadNode;
  /** Child taken (internal) or entry position (leaf). */
  index: number;
}

function nodeOf(frame: Frame): BtreeNode {
  frame.node ??= decodeNode(frame.page);
  return frame.node;
}

/** The node for reading: the decoded one if a writer made it, else read in place. */
function readOf(frame: Frame): ReadNode {
  return frame.node ?? (frame.view ??= viewNode(frame.page));
}

// The read path's binary searches skip the bytes every remaining candidate
// shares with the key: keys sorted between two that both begin with the
// key's first m bytes begin with them too, so with `lcpLo` and `lcpHi`
// what the key shares with the keys just below and just above the window,
// each comparison starts at the smaller. Keys of one index often share
// most of their bytes (an int64 key is 9 bytes, of which pgbench's 100 000
// accounts differ in the last 3), and a point lookup makes about 50
// comparisons.

/** First index whose key is >= key (read path). */
function lowerBoundIn(node: ReadNode, key: Uint8Array): number {
  let lo = 0, hi = nodeCount(node), lcpLo = 0, lcpHi = 0;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const r = compareNodeKeyFrom(node, mid, key, lcpLo < lcpHi ? lcpLo : lcpHi);
    if (r < 0) {
      lo = mid + 1;
      lcpLo = -r - 1;
    } else {
      hi = mid;
      lcpHi = r === 0 ? key.length : r - 1;
    }
  }
  return lo;
}

/** First index whose key is > key (read path). */
function upperBoundIn(node: ReadNode, key: Uint8Array): number {
  let lo = 0, hi = nodeCount(node), lcpLo = 0, lcpHi = 0;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const r = compareNodeKeyFrom(node, mid, key, lcpLo < lcpHi ? lcpLo : lcpHi);
    if (r <= 0) {
      lo = mid + 1;
      lcpLo = r === 0 ? key.length : -r - 1;
    } else {
      hi = mid;
      lcpHi = r - 1;
    }
  }
  return lo;
}

/** First index whose key is >= key. */
function lowerBound(keys: Bytes[], key: Uint8Array): number {
  let lo = 0, hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareBytes(keys[mid], key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose key is > key. */
function upperBound(keys: Bytes[], key: Uint8Array): number {
  let lo = 0, hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareBytes(keys[mid], key) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class BTree {
  #pool: BufferPool;
  readonly root: number;

  constructor(pool: BufferPool, root: number) {
    this.#pool = pool;
    this.root = root;
  }

  /** Allocates an empty tree and returns its root page. */
  static create(pool: BufferPool): number {
    const frame = pool.allocate(PageType.btree);
    frame.node = { leaf: true, keys: [], values: [], children: [], next: 0 };
    return frame.id;
  }

  #frame(id: number): Frame {
    return this.#pool.get(id);
  }

  /** Path to the leaf where `key` belongs (internal steps use upper bound). */
  #pathTo(key: Uint8Array): Step[] {
    const path: Step[] = [];
    let frame = this.#frame(this.root);
    for (;;) {
      const node = nodeOf(frame);
      if (node.leaf) {
        path.push({ frame, node, index: lowerBound(node.keys, key) });
        return path;
      }
      const index = upperBound(node.keys, key);
      path.push({ frame, node, index });
      frame = this.#frame(node.children[index]);
    }
  }

  get(key: Uint8Array): Bytes | undefined {
    return this.getView(key)?.slice();
  }

  /**
   * `get` without the copy: a view of the value inside its page, valid only
   * until the tree or the pool next changes (read it at once).
   */
  getView(key: Uint8Array): Uint8Array | undefined {
    let node = readOf(this.#frame(this.root));
    while (!node.leaf) node = readOf(this.#frame(nodeChild(node, upperBoundIn(node, key))));
    const i = lowerBoundIn(node, key);
    return i < nodeCount(node) && compareNodeKey(node, i, key) === 0
      ? nodeValueView(node, i)
      : undefined;
  }

  /**
   * The value (a copy) of the first key that starts with `prefix`, or
   * undefined: one descent. A unique index's entries are its columns' key
   * followed by the primary key, so this is its point lookup.
   */
  firstWithPrefix(prefix: Bytes): Bytes | undefined {
    const path = this.#seekFirst({ key: prefix, inclusive: true });
    if (!path) return undefined;
    const leaf = path[path.length - 1];
    const key = nodeKey(leaf.node, leaf.index);
    if (key.length < prefix.length) return undefined;
    for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return undefined;
    return nodeValueView(leaf.node, leaf.index).slice();
  }

  /** Inserts a new key; returns false (and changes nothing) if it exists. */
  insert(key: Bytes, value: Bytes): boolean {
    return this.insertWith(key, () => value);
  }

  /**
   * Inserts a new key whose value `makeValue` computes only once the key is
   * known to be absent (one descent for check-then-insert); returns false,
   * changing nothing and not calling `makeValue`, if the key exists.
   */
  insertWith(key: Bytes, makeValue: () => Bytes): boolean {
    if (key.length > KEY_BYTES_MAX) {
      throw new LimitError("keyBytesMax", `key of ${key.length} bytes exceeds ${KEY_BYTES_MAX}`);
    }
    const path = this.#pathTo(key);
    const leaf = path.at(-1)!;
    const i = leaf.index;
    if (i < leaf.node.keys.length && compareBytes(leaf.node.keys[i], key) === 0) return false;
    const value = makeValue();
    if (value.length > VALUE_BYTES_MAX) throw new RangeError("btree value too long");
    leaf.node.keys.splice(i, 0, key);
    leaf.node.values.splice(i, 0, value);
    if (leaf.node.bytes !== undefined) leaf.node.bytes += 4 + key.length + value.length;
    this.#pool.markDirty(leaf.frame);
    this.#splitUp(path);
    return true;
  }

  /** Replaces the value of an existing key; returns false if it is absent. */
  replace(key: Uint8Array, value: Bytes): boolean {
    const leaf = this.#pathTo(key).at(-1)!;
    const i = leaf.index;
    if (i >= leaf.node.keys.length || compareBytes(leaf.node.keys[i], key) !== 0) return false;
    leaf.node.values[i] = value;
    leaf.node.bytes = undefined;
    this.#pool.markDirty(leaf.frame);
    return true;
  }

  /** Removes a key; returns false if it was absent. */
  delete(key: Uint8Array): boolean {
    const path = this.#pathTo(key);
    const leaf = path.at(-1)!;
    const i = leaf.index;
    if (i >= leaf.node.keys.length || compareBytes(leaf.node.keys[i], key) !== 0) return false;
    const removed = 4 + leaf.node.keys[i].length + leaf.node.values[i].length;
    leaf.node.keys.splice(i, 1);
    leaf.node.values.splice(i, 1);
    if (leaf.node.bytes !== undefined) leaf.node.bytes -= removed;
    this.#pool.markDirty(leaf.frame);
    this.#mergeUp(path);
    return true;
  }

  #splitUp(path: Step[]): void {
    for (let level = path.length - 1; level >= 0; level--) {
      const { frame, node } = path[level];
      if (nodeBytes(node) <= PAGE_BYTES) return;
      const { separator, right } = this.#split(node);
      if (level === 0) {
        // Root split: move the left half out, keep the root page in place.
        const left = this.#pool.allocate(PageType.btree);
        left.node = node;
        frame.node = {
          leaf: false,
          keys: [separator],
          values: [],
          children: [left.id, right],
          next: 0,
        };
        this.#pool.markDirty(frame);
        return;
      }
      const parent = path[level - 1];
      parent.node.keys.splice(parent.index, 0, separator);
      parent.node.children.splice(parent.index + 1, 0, right);
      parent.node.bytes = undefined;
      this.#pool.markDirty(parent.frame);
    }
  }

  /** Splits `node` in place by bytes; returns the separator and the new right page. */
  #split(node: BtreeNode): { separator: Bytes; right: number } {
    const total = nodeBytes(node);
    node.bytes = undefined;
    let acc = 24, m = 0;
    const n = node.keys.length;
    while (m < n - 1 && acc < total / 2) {
      acc += 2 + node.keys[m].length + (node.leaf ? 2 + node.values[m].length : 4);
      m++;
    }
    const rightFrame = this.#pool.allocate(PageType.btree);
    if (node.leaf) {
      m = Math.max(1, Math.min(m, n - 1));
      const right: BtreeNode = {
        leaf: true,
        keys: node.keys.splice(m),
        values: node.values.splice(m),
        children: [],
        next: node.next,
      };
      node.next = rightFrame.id;
      rightFrame.node = right;
      return { separator: right.keys[0], right: rightFrame.id };
    }
    m = Math.max(1, Math.min(m, n - 2));
    const rightKeys = node.keys.splice(m);
    const separator = rightKeys.shift()!;
    const right: BtreeNode = {
      leaf: false,
      keys: rightKeys,
      values: [],
      children: node.children.splice(m + 1),
      next: 0,
    };
    rightFrame.node = right;
    return { separator, right: rightFrame.id };
  }

  #mergeUp(path: Step[]): void {
    for (let level = path.length - 1; level >= 1; level--) {
      const { node } = path[level];
      if (nodeBytes(node) >= MERGE_BELOW_BYTES) return;
      const parent = path[level - 1];
      const at = parent.index;
      // Merge with the right sibling if there is one, else into the left one.
      const leftIndex = at < parent.node.children.length - 1 ? at : at - 1;
      if (leftIndex < 0) return;
      const leftFrame = this.#frame(parent.node.children[leftIndex]);
      const rightFrame = this.#frame(parent.node.children[leftIndex + 1]);
      const left = nodeOf(leftFrame), right = nodeOf(rightFrame);
      const separator = parent.node.keys[leftIndex];
      const merged: BtreeNode = left.leaf
        ? {
          leaf: true,
          keys: [...left.keys, ...right.keys],
          values: [...left.values, ...right.values],
          children: [],
          next: right.next,
        }
        : {
          leaf: false,
          keys: [...left.keys, separator, ...right.keys],
          values: [],
          children: [...left.children, ...right.children],
          next: 0,
        };
      if (nodeBytes(merged) > PAGE_BYTES) return;
      leftFrame.node = merged;
      this.#pool.markDirty(leftFrame);
      parent.node.keys.splice(leftIndex, 1);
      parent.node.children.splice(leftIndex + 1, 1);
      parent.node.bytes = undefined;
      this.#pool.markDirty(parent.frame);
      this.#pool.free(rightFrame.id);
    }
    const root = path[0];
    if (!root.node.leaf && root.node.keys.length === 0) {
      // Root with one child: pull the child up into the root page.
      const childId = root.node.children[0];
      root.frame.node = nodeOf(this.#frame(childId));
      this.#pool.markDirty(root.frame);
      this.#pool.free(childId);
    }
  }

  /**
   * Up to `limit` entries in `range`, in key order (or reverse). To resume,
   * call again with the range narrowed past the last key returned. Keys may
   * be views into pages: valid until the tree changes or the pool flushes,
   * so copy one to keep it (values are always copies).
   */
  scan(range: ScanRange, limit: number): Entry[] {
    const out: Entry[] = [];
    this.visit(range, limit, (key, value) => {
      out.push({ key: key as Bytes, value: value.slice() });
    });
    return out;
  }

  /**
   * Calls `fn` with each entry in `range` (at most `limit`), in order, and
   * returns a copy of the last key visited (null if none), for resuming.
   * `key` and `value` may be views into pages: use them before returning.
   */
  visit(
    range: ScanRange,
    limit: number,
    fn: (key: Uint8Array, value: Uint8Array) => void,
  ): Bytes | null {
    if (limit <= 0) return null;
    const path = range.reverse ? this.#seekLast(range.upper) : this.#seekFirst(range.lower);
    if (!path) return null;
    let count = 0;
    let last: Uint8Array | null = null;
    for (;;) {
      const leaf = path.at(-1)!;
      const key = nodeKey(leaf.node, leaf.index);
      if (range.reverse) {
        if (range.lower && !inLower(key, range.lower)) break;
      } else if (range.upper && !inUpper(key, range.upper)) break;
      fn(key, nodeValueView(leaf.node, leaf.index));
      last = key;
      if (++count >= limit) break;
      if (!(range.reverse ? this.#prev(path) : this.#next(path))) break;
    }
    return last ? last.slice() : null;
  }

  /** Path to the first key within `lower`, or null if there is none. */
  #seekFirst(lower: Bound | undefined): ReadStep[] | null {
    const path: ReadStep[] = [];
    let frame = this.#frame(this.root);
    for (;;) {
      const node = readOf(frame);
      if (node.leaf) {
        const index = !lower
          ? 0
          : lower.inclusive
          ? lowerBoundIn(node, lower.key)
          : upperBoundIn(node, lower.key);
        path.push({ frame, node, index });
        break;
      }
      const index = lower ? upperBoundIn(node, lower.key) : 0;
      path.push({ frame, node, index });
      frame = this.#frame(nodeChild(node, index));
    }
    const leaf = path.at(-1)!;
    if (leaf.index < nodeCount(leaf.node)) return path;
    leaf.index = nodeCount(leaf.node) - 1;
    return this.#next(path) ? path : null;
  }

  /** Path to the last key within `upper`, or null if there is none. */
  #seekLast(upper: Bound | undefined): ReadStep[] | null {
    const path: ReadStep[] = [];
    let frame = this.#frame(this.root);
    const pick = (node: ReadNode) =>
      !upper
        ? nodeCount(node)
        : upper.inclusive
        ? upperBoundIn(node, upper.key)
        : lowerBoundIn(node, upper.key);
    for (;;) {
      const node = readOf(frame);
      if (node.leaf) {
        path.push({ frame, node, index: pick(node) - 1 });
        break;
      }
      const index = pick(node);
      path.push({ frame, node, index });
      frame = this.#frame(nodeChild(node, index));
    }
    const leaf = path.at(-1)!;
    if (leaf.index >= 0) return path;
    leaf.index = 0;
    return this.#prev(path) ? path : null;
  }

  /** Moves the path to the next entry; false at the end of the tree. */
  #next(path: ReadStep[]): boolean {
    const leaf = path.at(-1)!;
    if (leaf.index + 1 < nodeCount(leaf.node)) {
      leaf.index++;
      return true;
    }
    let level = path.length - 2;
    while (level >= 0 && path[level].index >= nodeCount(path[level].node)) level--;
    if (level < 0) return false;
    path[level].index++;
    path.length = level + 1;
    for (;;) {
      const top = path.at(-1)!;
      const frame = this.#frame(nodeChild(top.node, top.index));
      const node = readOf(frame);
      path.push({ frame, node, index: 0 });
      if (node.leaf) {
        if (nodeCount(node) > 0) return true;
        return this.#next(path);
      }
    }
  }

  /** Moves the path to the previous entry; false at the start of the tree. */
  #prev(path: ReadStep[]): boolean {
    const leaf = path.at(-1)!;
    if (leaf.index - 1 >= 0 && leaf.index - 1 < nodeCount(leaf.node)) {
      leaf.index--;
      return true;
    }
    let level = path.length - 2;
    while (level >= 0 && path[level].index <= 0) level--;
    if (level < 0) return false;
    path[level].index--;
    path.length = level + 1;
    for (;;) {
      const top = path.at(-1)!;
      const frame = this.#frame(nodeChild(top.node, top.index));
      const node = readOf(frame);
      // Internal nodes have count + 1 children; leaves count entries.
      const index = node.leaf ? nodeCount(node) - 1 : nodeCount(node);
      path.push({ frame, node, index });
      if (node.leaf) {
        if (nodeCount(node) > 0) return true;
        path.at(-1)!.index = 0;
        return this.#prev(path);
      }
    }
  }

  /** Every page of the tree (for freeing it and for checks). */
  pages(): number[] {
    const out: number[] = [];
    const walk = (id: number) => {
      out.push(id);
      const node = readOf(this.#frame(id));
      if (!node.leaf) { for (let i = 0; i <= nodeCount(node); i++) walk(nodeChild(node, i)); }
    };
    walk(this.root);
    return out;
  }
}

function inLower(key: Uint8Array, lower: Bound): boolean {
  const c = compareBytes(key, lower.key);
  return lower.inclusive ? c >= 0 : c > 0;
}

function inUpper(key: Uint8Array, upper: Bound): boolean {
  const c = compareBytes(key, upper.key);
  return upper.inclusive ? c <= 0 : c < 0;
}
