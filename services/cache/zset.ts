// The sorted set: a counted B+tree ordered by (score, member), plus a
// member -> element hash index. Lookups by member are O(1); insert, delete,
// rank, the element at a rank, and the first/last element in a score or lex
// range are O(log n), in a tree of fanout 64: a 1M-member set is a root, two
// levels of inner nodes and its leaves, so a search reads four nodes, each a
// few adjacent cache lines (a skip list's search over 1M nodes reads about
// 40 nodes scattered over memory, one cache miss each). Members are binary
// strings (one char per byte), so JS string comparison is Redis's memcmp
// order.
//
// Layout, with no object per element:
// - An element is an id: its member string at #members[id], the leaf that
//   holds it at #leafOf[id], and its slot in the member index.
// - A leaf holds up to 64 elements in order: their scores (a Float64Array
//   slice, searched by binary search), their ids (an Int32Array slice),
//   its size and the next and previous leaves, all in one block of the leaf
//   pool (one ArrayBuffer seen as Float64Array and Int32Array).
// - An inner node holds up to 64 children: for each its block, the number
//   of elements under it (for ranks) and a separator, the (score, member)
//   key at or below every key of that child and above every key of the
//   child before it (the child's first key when it was made; deleting that
//   element leaves the separator valid, so deletes never update it). The
//   separators' scores are a Float64Array slice; their members, strings in
//   #separators.
// - A position (ZPos) is a leaf and an index in it, leaf * 64 + index: it
//   names an element until the set next changes.
// Leaves and nodes split in halves when full (except an append at the very
// end: see LEAF_APPEND_KEEP), and merge with or borrow from a sibling below
// a quarter full.
//
// Lex ranges assume every member has the same score, as Redis documents;
// with mixed scores the answer is only as defined as Redis's own (its small
// sets scan a listpack in order, which is what a monotonic search here gives
// when the predicate happens to be monotonic). Pure: no I/O.

/**
 * Estimated memory of one element beyond its member bytes, for used_memory
 * and maxmemory: the member string's header, its slot in the member array,
 * in #leafOf and in the member index, its score and id in a leaf (leaves
 * are half to 7/8 used) and its share of the inner nodes, with the pools'
 * and the index's growth slack. Measured (bench/micro/zset_memory.ts, 0.3M
 * to 1.4M members of 7-9 bytes filled in order, heap after a full GC plus
 * the pools and index outside it): 90-111 bytes a member in all, member
 * bytes included; random order leaves leaves emptier (a few bytes more).
 * Kept above so maxmemory stays conservative.
 */
export const ZSET_ELEMENT_OVERHEAD_BYTES = 112;

/** An element's place: leaf * 64 + its index in the leaf; valid until the set changes. */
export type ZPos = number;

/** No element (the end of a walk, an empty range). */
export const NIL: ZPos = -1;

/** A score bound: `exclusive` is Redis's "(" prefix. */
export interface ScoreRange {
  min: number;
  max: number;
  minExclusive: boolean;
  maxExclusive: boolean;
}

/** A lex bound: "-" and "+" are the infinities, else "[x" or "(x". */
export type LexBound = { kind: "-" } | { kind: "+" } | {
  kind: "value";
  value: string;
  exclusive: boolean;
};

export interface LexRange {
  min: LexBound;
  max: LexBound;
}

export function scoreGteMin(score: number, range: ScoreRange): boolean {
  return range.minExclusive ? score > range.min : score >= range.min;
}

export function scoreLteMax(score: number, range: ScoreRange): boolean {
  return range.maxExclusive ? score < range.max : score <= range.max;
}

export function lexGteMin(member: string, min: LexBound): boolean {
  if (min.kind === "-") return true;
  if (min.kind === "+") return false;
  return min.exclusive ? member > min.value : member >= min.value;
}

export function lexLteMax(member: string, max: LexBound): boolean {
  if (max.kind === "+") return true;
  if (max.kind === "-") return false;
  return max.exclusive ? member < max.value : member <= max.value;
}

/**
 * The member index: open addressing with linear probing over an
 * Int32Array of slots of two int32s, an element id plus one (0 marks an
 * empty slot) and its member's hash, at most 3/4 full. A lookup hashes the
 * member's bytes straight from the request (no string made, none hashed by
 * V8: measured 0.5 us against 1.1-1.9 for Map.get(toKey(bytes)) on 1M
 * members) and compares a candidate's member string char by char only when
 * the hashes match: a probe passing other members' slots reads no string
 * (two cache misses each, the member array and the string), only adjacent
 * slots, which is what lets the table be 3/4 full (a miss then passes
 * about 8 slots, one or two cache lines); growing or shrinking it rehashes
 * nothing. The table costs 11-21 bytes a member, a Map about 40.
 * The hash is seeded per process, as V8's own string hash is, so a client
 * cannot choose members that collide.
 */
const INDEX_SLOTS_INITIAL = 8;
const HASH_SEED = (Math.random() * 0x7fff_ffff) | 0;

/** murmur3's 32-bit finalizer, in int32 arithmetic. */
function mix(h: number): number {
  h ^= (h >> 16) & 0xffff;
  h = Math.imul(h, 0x85eb_ca6b);
  h ^= (h >> 13) & 0x7_ffff;
  h = Math.imul(h, 0xc2b2_ae35);
  return h ^ ((h >> 16) & 0xffff);
}

/** The hash of a member given as a binary string (one char per byte). */
function hashString(member: string): number {
  let h = HASH_SEED ^ member.length;
  for (let i = 0; i < member.length; i++) {
    h = Math.imul(h ^ member.charCodeAt(i), 0x5bd1_e995);
    h ^= (h >> 15) & 0x1_ffff;
  }
  return mix(h);
}

/** The same hash of a member given as bytes. */
function hashBytes(member: Uint8Array): number {
  let h = HASH_SEED ^ member.length;
  for (let i = 0; i < member.length; i++) {
    h = Math.imul(h ^ member[i], 0x5bd1_e995);
    h ^= (h >> 15) & 0x1_ffff;
  }
  return mix(h);
}

function equalsBytes(member: string, bytes: Uint8Array): boolean {
  if (member.length !== bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (member.charCodeAt(i) !== bytes[i]) return false;
  return true;
}

/** A read-only member -> score view of a sorted set, shaped like a ReadonlyMap's reading side. */
export interface ScoreView extends Iterable<[string, number]> {
  readonly size: number;
  get(member: string): number | undefined;
  has(member: string): boolean;
  keys(): IterableIterator<string>;
}

/** Elements a leaf holds at most (a power of two: a position is leaf << LEAF_SHIFT | index). */
const LEAF_CAPACITY = 64;
const LEAF_SHIFT = 6;
const LEAF_INDEX_MASK = LEAF_CAPACITY - 1;
/**
 * Elements an append past the last element leaves in the full leaf, the
 * rest starting the next one: a set filled in order has leaves 7/8 full,
 * so inserts that follow at random places split few of them (full leaves
 * would all split at once: each a new leaf, elements moved, pool growth).
 */
const LEAF_APPEND_KEEP = LEAF_CAPACITY - LEAF_CAPACITY / 8;
/** A leaf below this many elements merges with or borrows from a sibling. */
const LEAF_MIN = LEAF_CAPACITY / 4;
/** A leaf's block in 8-byte units: 64 scores, 64 int32 ids, then int32 size, next, prev, spare. */
const LEAF_UNITS = LEAF_CAPACITY + LEAF_CAPACITY / 2 + 2;
/** Int32 offsets in a leaf's block (which starts at int32 2 * LEAF_UNITS * leaf). */
const LEAF_IDS = 2 * LEAF_CAPACITY;
const LEAF_SIZE = LEAF_IDS + LEAF_CAPACITY;
const LEAF_NEXT = LEAF_SIZE + 1;
const LEAF_PREV = LEAF_SIZE + 2;

/** Children an inner node holds at most, and the fewest a non-root one keeps. */
const FANOUT = 64;
const FANOUT_MIN = FANOUT / 4;
/** A node's block in 8-byte units: 64 separator scores, 64 int32 children, 64 int32 counts, size. */
const NODE_UNITS = FANOUT + FANOUT + 1;
/** Int32 offsets in a node's block (which starts at int32 2 * NODE_UNITS * node). */
const NODE_CHILDREN = 2 * FANOUT;
const NODE_COUNTS = NODE_CHILDREN + FANOUT;
const NODE_SIZE = NODE_COUNTS + FANOUT;

/**
 * Inner levels at most: a non-root node has at least 16 children, so 8
 * levels hold over 2^31 elements (more than an Int32Array can index).
 */
const HEIGHT_MAX = 8;

/**
 * A pool of at least this many leaves is rebuilt when a quarter of it or
 * less is in use (or when a quarter or less of the element ids ever given
 * out are in use): freed blocks and ids are reused but never given back,
 * so a drained large set would otherwise keep its peak memory, unseen by
 * `bytes`.
 */
const COMPACT_LEAVES_MIN = 64;
const COMPACT_IDS_MIN = 4096;

const EMPTY_F64 = new Float64Array(0);
const EMPTY_I32 = new Int32Array(0);

/**
 * The path of the last descent: the inner node at each level and the child
 * taken. Reused: a set is used by one caller at a time, and no method
 * keeps a path across calls.
 */
const PATH_NODE = new Int32Array(HEIGHT_MAX);
const PATH_SLOT = new Int32Array(HEIGHT_MAX);

/** Two siblings' contents side by side, while they share them out evenly. */
const SHARE_SCORES = new Float64Array(2 * FANOUT);
const SHARE_IDS = new Int32Array(2 * FANOUT);
const SHARE_COUNTS = new Int32Array(2 * FANOUT);
const SHARE_SEPARATORS: string[] = new Array(2 * FANOUT).fill("");

/** A sorted set value. */
export class ZSetValue {
  /** The member index (see INDEX_SLOTS_INITIAL): (element id + 1, hash) by member hash. */
  #index = new Int32Array(2 * INDEX_SLOTS_INITIAL);
  /**
   * Where the last findBytes() that missed ended (an empty slot) and the
   * hash it probed, until the index next changes (-1 then): add() of that
   * member, which usually follows, takes the slot without probing again.
   */
  #missSlot = -1;
  #missHash = 0;
  /** Members in the set. */
  #count = 0;
  /** Members and scores, by member (for code that reads a set as a map). */
  readonly scores: ScoreView;
  bytes = 0;
  /** Per element id: its member ("" when free) and the leaf holding it. */
  #members: string[] = [];
  #leafOf = EMPTY_I32;
  #freeIds: number[] = [];
  /** The leaf pool: one ArrayBuffer of LEAF_UNITS blocks, seen as doubles and as int32s. */
  #leafF64 = EMPTY_F64;
  #leafI32 = EMPTY_I32;
  #leafTop = 0;
  #freeLeaves: number[] = [];
  /** The inner node pool, likewise, and its separators' members (node * FANOUT + child). */
  #nodeF64 = EMPTY_F64;
  #nodeI32 = EMPTY_I32;
  #nodeTop = 0;
  #freeNodes: number[] = [];
  #separators: string[] = [];
  /** The root's block, and the inner levels above the leaves (0: the root is a leaf). */
  #root = 0;
  #height = 0;
  /** The first and last leaves. */
  #head = 0;
  #tail = 0;

  constructor() {
    this.#reset();
    this.scores = new ScoresOf(this);
  }

  /** An empty tree: one empty leaf, the root. */
  #reset(): void {
    this.#members = [];
    this.#leafOf = new Int32Array(8);
    this.#freeIds = [];
    this.#leafF64 = EMPTY_F64;
    this.#leafI32 = EMPTY_I32;
    this.#leafTop = 0;
    this.#freeLeaves = [];
    this.#nodeF64 = EMPTY_F64;
    this.#nodeI32 = EMPTY_I32;
    this.#nodeTop = 0;
    this.#freeNodes = [];
    this.#separators = [];
    this.#root = this.#newLeaf();
    this.#height = 0;
    this.#head = this.#root;
    this.#tail = this.#root;
  }

  // --- The member index ---------------------------------------------------

  /** The slot of `member` (hash `hash`) in the index, or of the empty slot its probe ends at. */
  #probe(member: string, hash: number): number {
    const index = this.#index;
    const mask = (index.length >> 1) - 1;
    const members = this.#members;
    let j = hash & mask;
    for (;;) {
      const entry = index[2 * j];
      if (entry === 0 || (index[2 * j + 1] === hash && members[entry - 1] === member)) return j;
      j = (j + 1) & mask;
    }
  }

  /** The element of a member given as bytes (from the request, no string made), or NIL. */
  findBytes(member: Uint8Array): ZPos {
    const index = this.#index;
    const mask = (index.length >> 1) - 1;
    const members = this.#members;
    const hash = hashBytes(member);
    let j = hash & mask;
    for (;;) {
      const entry = index[2 * j];
      if (entry === 0) {
        this.#missSlot = j;
        this.#missHash = hash;
        return NIL;
      }
      if (index[2 * j + 1] === hash && equalsBytes(members[entry - 1], member)) {
        return this.#positionOf(entry - 1);
      }
      j = (j + 1) & mask;
    }
  }

  /** Enters an element id whose member is known to be absent. */
  #indexAdd(id: number): void {
    // Grown past 3/4 full (slots are index.length / 2).
    if ((this.#count + 1) * 8 > this.#index.length * 3) this.#reindex(this.#index.length);
    const member = this.#members[id];
    const hash = hashString(member);
    const j = this.#missSlot >= 0 && this.#missHash === hash
      ? this.#missSlot
      : this.#probe(member, hash);
    this.#index[2 * j] = id + 1;
    this.#index[2 * j + 1] = hash;
    this.#missSlot = -1;
    this.#count++;
  }

  /** Removes the index slot `j` (linear probing's backward shift: no tombstones). */
  #indexRemove(j: number): void {
    const index = this.#index;
    const mask = (index.length >> 1) - 1;
    index[2 * j] = 0;
    for (let k = (j + 1) & mask; index[2 * k] !== 0; k = (k + 1) & mask) {
      const home = index[2 * k + 1] & mask;
      // Move the entry back to j unless its home lies cyclically in (j, k].
      const stays = j <= k ? home > j && home <= k : home > j || home <= k;
      if (!stays) {
        index[2 * j] = index[2 * k];
        index[2 * j + 1] = index[2 * k + 1];
        index[2 * k] = 0;
        j = k;
      }
    }
    this.#missSlot = -1;
    this.#count--;
  }

  /** Moves the index into `slots` slots (a power of two), with the hashes it holds. */
  #reindex(slots: number): void {
    const old = this.#index;
    const index = new Int32Array(2 * slots);
    const mask = slots - 1;
    for (let k = 0; k < old.length; k += 2) {
      if (old[k] === 0) continue;
      let j = old[k + 1] & mask;
      while (index[2 * j] !== 0) j = (j + 1) & mask;
      index[2 * j] = old[k];
      index[2 * j + 1] = old[k + 1];
    }
    this.#index = index;
    this.#missSlot = -1;
  }

  // --- Elements, leaves and nodes -----------------------------------------

  /** A new element id for `member`. */
  #newId(member: string): number {
    const id = this.#freeIds.length > 0 ? this.#freeIds.pop()! : this.#members.length;
    if (id === this.#members.length) this.#members.push(member);
    else this.#members[id] = member;
    if (id >= this.#leafOf.length) {
      const leafOf = new Int32Array(this.#leafOf.length + (this.#leafOf.length >> 1) + 8);
      leafOf.set(this.#leafOf);
      this.#leafOf = leafOf;
    }
    return id;
  }

  #freeId(id: number): void {
    this.#members[id] = "";
    this.#freeIds.push(id);
  }

  /** The position of element `id`: its leaf's ids scanned for it. */
  #positionOf(id: number): ZPos {
    const leaf = this.#leafOf[id];
    const ids = this.#leafI32;
    const start = 2 * LEAF_UNITS * leaf + LEAF_IDS;
    const end = start + ids[start - LEAF_IDS + LEAF_SIZE];
    for (let k = start; k < end; k++) {
      if (ids[k] === id) return (leaf << LEAF_SHIFT) | (k - start);
    }
    throw new Error("zset: element missing from its leaf");
  }

  /**
   * An empty leaf, unlinked, from the free list or the end of the pool.
   * The pool doubles when full: each growth copies it into a new buffer,
   * whose pages the kernel must also zero and map (measured: about 5 ms per
   * MB moved on a busy machine), so fewer, larger steps.
   */
  #newLeaf(): number {
    let leaf: number;
    if (this.#freeLeaves.length > 0) {
      leaf = this.#freeLeaves.pop()!;
    } else {
      leaf = this.#leafTop++;
      const units = this.#leafTop * LEAF_UNITS;
      if (units > this.#leafF64.length) {
        const leaves = 2 * this.#leafTop;
        const f64 = new Float64Array(new ArrayBuffer(leaves * LEAF_UNITS * 8));
        f64.set(this.#leafF64);
        this.#leafF64 = f64;
        this.#leafI32 = new Int32Array(f64.buffer);
      }
    }
    const base = 2 * LEAF_UNITS * leaf;
    this.#leafI32[base + LEAF_SIZE] = 0;
    this.#leafI32[base + LEAF_NEXT] = NIL;
    this.#leafI32[base + LEAF_PREV] = NIL;
    return leaf;
  }

  /** An empty inner node, from the free list or the end of the pool (grown by half). */
  #newNode(): number {
    let node: number;
    if (this.#freeNodes.length > 0) {
      node = this.#freeNodes.pop()!;
    } else {
      node = this.#nodeTop++;
      if (this.#nodeTop * NODE_UNITS > this.#nodeF64.length) {
        const nodes = Math.max(this.#nodeTop, this.#nodeTop + (this.#nodeTop >> 1));
        const f64 = new Float64Array(new ArrayBuffer(nodes * NODE_UNITS * 8));
        f64.set(this.#nodeF64);
        this.#nodeF64 = f64;
        this.#nodeI32 = new Int32Array(f64.buffer);
        while (this.#separators.length < nodes * FANOUT) this.#separators.push("");
      }
    }
    this.#nodeI32[2 * NODE_UNITS * node + NODE_SIZE] = 0;
    return node;
  }

  #freeNode(node: number): void {
    const separators = this.#separators;
    for (let j = 0; j < FANOUT; j++) separators[node * FANOUT + j] = "";
    this.#freeNodes.push(node);
  }

  /** Rebuilds the tree and the index from the elements, in pools sized to them. */
  #compact(): void {
    const elements = [...this.entries()];
    this.#reset();
    let slots = INDEX_SLOTS_INITIAL;
    while (slots * 3 < 4 * elements.length) slots *= 2;
    this.#index = new Int32Array(2 * slots);
    this.#count = 0;
    for (const [member, score] of elements) {
      const id = this.#newId(member);
      this.#insert(id, score);
      this.#indexAdd(id);
    }
  }

  // --- Reading ---------------------------------------------------------------

  get size(): number {
    return this.#count;
  }

  /** The element of a member, or NIL. */
  find(member: string): ZPos {
    const entry = this.#index[2 * this.#probe(member, hashString(member))];
    return entry === 0 ? NIL : this.#positionOf(entry - 1);
  }

  /** A member's score, or undefined. */
  score(member: string): number | undefined {
    const pos = this.find(member);
    return pos === NIL ? undefined : this.scoreAt(pos);
  }

  has(member: string): boolean {
    return this.#index[2 * this.#probe(member, hashString(member))] !== 0;
  }

  memberAt(pos: ZPos): string {
    return this.#members[
      this.#leafI32[2 * LEAF_UNITS * (pos >> LEAF_SHIFT) + LEAF_IDS + (pos & LEAF_INDEX_MASK)]
    ];
  }

  scoreAt(pos: ZPos): number {
    return this.#leafF64[LEAF_UNITS * (pos >> LEAF_SHIFT) + (pos & LEAF_INDEX_MASK)];
  }

  /** The next element in ascending order, or NIL. */
  next(pos: ZPos): ZPos {
    const leaf = pos >> LEAF_SHIFT;
    const base = 2 * LEAF_UNITS * leaf;
    if ((pos & LEAF_INDEX_MASK) + 1 < this.#leafI32[base + LEAF_SIZE]) return pos + 1;
    const next = this.#leafI32[base + LEAF_NEXT];
    return next === NIL ? NIL : next << LEAF_SHIFT;
  }

  /** The previous element in ascending order, or NIL. */
  prev(pos: ZPos): ZPos {
    if ((pos & LEAF_INDEX_MASK) > 0) return pos - 1;
    const prev = this.#leafI32[2 * LEAF_UNITS * (pos >> LEAF_SHIFT) + LEAF_PREV];
    if (prev === NIL) return NIL;
    return (prev << LEAF_SHIFT) | (this.#leafI32[2 * LEAF_UNITS * prev + LEAF_SIZE] - 1);
  }

  first(): ZPos {
    return this.#count === 0 ? NIL : this.#head << LEAF_SHIFT;
  }

  last(): ZPos {
    if (this.#count === 0) return NIL;
    const tail = this.#tail;
    return (tail << LEAF_SHIFT) | (this.#leafI32[2 * LEAF_UNITS * tail + LEAF_SIZE] - 1);
  }

  /** 0-based rank of a member in ascending order, or undefined. */
  rank(member: string): number | undefined {
    const pos = this.find(member);
    return pos === NIL ? undefined : this.rankAt(pos);
  }

  /** 0-based rank of an element in ascending order: the counts left of its path, and its index. */
  rankAt(pos: ZPos): number {
    const leaf = this.#descend(this.scoreAt(pos), this.memberAt(pos));
    if (leaf !== pos >> LEAF_SHIFT) throw new Error("zset: element off its search path");
    const counts = this.#nodeI32;
    let rank = pos & LEAF_INDEX_MASK;
    for (let d = 0; d < this.#height; d++) {
      const base = 2 * NODE_UNITS * PATH_NODE[d] + NODE_COUNTS;
      const end = base + PATH_SLOT[d];
      for (let k = base; k < end; k++) rank += counts[k];
    }
    return rank;
  }

  /** The element at a 0-based ascending rank, or NIL. */
  byRank(rank: number): ZPos {
    if (rank < 0 || rank >= this.#count) return NIL;
    const i32 = this.#nodeI32;
    let x = this.#root;
    for (let d = 0; d < this.#height; d++) {
      const base = 2 * NODE_UNITS * x;
      let k = base + NODE_COUNTS;
      while (rank >= i32[k]) rank -= i32[k++];
      x = i32[k - NODE_COUNTS + NODE_CHILDREN];
    }
    return (x << LEAF_SHIFT) | rank;
  }

  /**
   * The first element with a score above `min` (or at least `min` unless
   * `exclusive`), or NIL. At each node, the child before the first
   * separator that passes: everything left of it is below that separator,
   * which fails; if nothing in the leaf passes, the next leaf's first does.
   */
  #firstFromScore(min: number, exclusive: boolean): ZPos {
    const nodeF64 = this.#nodeF64;
    const nodeI32 = this.#nodeI32;
    let x = this.#root;
    for (let d = 0; d < this.#height; d++) {
      const base = NODE_UNITS * x;
      let lo = 1;
      let hi = nodeI32[2 * base + NODE_SIZE];
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const s = nodeF64[base + mid];
        if (exclusive ? s <= min : s < min) lo = mid + 1;
        else hi = mid;
      }
      x = nodeI32[2 * base + NODE_CHILDREN + lo - 1];
    }
    const leafF64 = this.#leafF64;
    const base = LEAF_UNITS * x;
    const size = this.#leafI32[2 * base + LEAF_SIZE];
    let lo = 0;
    let hi = size;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const s = leafF64[base + mid];
      if (exclusive ? s <= min : s < min) lo = mid + 1;
      else hi = mid;
    }
    if (lo < size) return (x << LEAF_SHIFT) | lo;
    const next = this.#leafI32[2 * base + LEAF_NEXT];
    return next === NIL ? NIL : next << LEAF_SHIFT;
  }

  /** The first element whose member satisfies `ok`, given `ok` is monotonic false..true in order. */
  #firstWhere(ok: (member: string) => boolean): ZPos {
    const nodeI32 = this.#nodeI32;
    const separators = this.#separators;
    let x = this.#root;
    for (let d = 0; d < this.#height; d++) {
      let lo = 1;
      let hi = nodeI32[2 * NODE_UNITS * x + NODE_SIZE];
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (!ok(separators[x * FANOUT + mid])) lo = mid + 1;
        else hi = mid;
      }
      x = nodeI32[2 * NODE_UNITS * x + NODE_CHILDREN + lo - 1];
    }
    const leafI32 = this.#leafI32;
    const members = this.#members;
    const base = 2 * LEAF_UNITS * x;
    const size = leafI32[base + LEAF_SIZE];
    let lo = 0;
    let hi = size;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (!ok(members[leafI32[base + LEAF_IDS + mid]])) lo = mid + 1;
      else hi = mid;
    }
    if (lo < size) return (x << LEAF_SHIFT) | lo;
    const next = leafI32[base + LEAF_NEXT];
    return next === NIL ? NIL : next << LEAF_SHIFT;
  }

  /** The element before `pos`, where NIL is the end: the last element before it. */
  #before(pos: ZPos): ZPos {
    return pos === NIL ? this.last() : this.prev(pos);
  }

  firstInScore(range: ScoreRange): ZPos {
    const pos = this.#firstFromScore(range.min, range.minExclusive);
    return pos !== NIL && scoreLteMax(this.scoreAt(pos), range) ? pos : NIL;
  }

  lastInScore(range: ScoreRange): ZPos {
    // The element before the first one past the maximum.
    const pos = this.#before(this.#firstFromScore(range.max, !range.maxExclusive));
    return pos !== NIL && scoreGteMin(this.scoreAt(pos), range) ? pos : NIL;
  }

  firstInLex(range: LexRange): ZPos {
    const pos = this.#firstWhere((member) => lexGteMin(member, range.min));
    return pos !== NIL && lexLteMax(this.memberAt(pos), range.max) ? pos : NIL;
  }

  lastInLex(range: LexRange): ZPos {
    const pos = this.#before(this.#firstWhere((member) => !lexLteMax(member, range.max)));
    return pos !== NIL && lexGteMin(this.memberAt(pos), range.min) ? pos : NIL;
  }

  /** Members and scores in ascending order (for COPY, DUMP and tests). */
  *entries(): Generator<[string, number]> {
    for (let x = this.first(); x !== NIL; x = this.next(x)) {
      yield [this.memberAt(x), this.scoreAt(x)];
    }
  }

  // --- Changing --------------------------------------------------------------

  /** Adds a member or moves it to a new score. */
  set(member: string, score: number): void {
    const pos = this.find(member);
    if (pos === NIL) this.add(member, score);
    else this.move(pos, score);
  }

  /** Adds a member that is not in the set (a caller that already looked it up). */
  add(member: string, score: number): void {
    // Redis's small sets (listpacks) store -0 as 0, and reply 0 afterwards;
    // its large ones keep -0. We keep the small-set behaviour throughout.
    if (score === 0) score = 0;
    this.bytes += member.length + ZSET_ELEMENT_OVERHEAD_BYTES;
    const id = this.#newId(member);
    this.#insert(id, score);
    this.#indexAdd(id);
  }

  /**
   * Gives the element at `pos` a new score. As Redis's zslUpdateScore, it
   * stays where it is when its neighbours in its leaf still bound it on the
   * side it moves towards (no search; the separators above still hold, as
   * it moves away from them); else it moves within its leaf when the leaf's
   * other keys bound it (a ZINCRBY's small step, usually); else it is taken
   * out and inserted again. Its id stays, so the member index is not
   * touched either way.
   */
  move(pos: ZPos, score: number): void {
    if (score === 0) score = 0;
    const leafF64 = this.#leafF64;
    const leafI32 = this.#leafI32;
    const leaf = pos >> LEAF_SHIFT;
    const i = pos & LEAF_INDEX_MASK;
    const f = LEAF_UNITS * leaf + i;
    const current = leafF64[f];
    if (current === score) return; // Redis compares with ==, so -0 keeps 0
    const members = this.#members;
    const ids = 2 * LEAF_UNITS * leaf + LEAF_IDS + i;
    const id = leafI32[ids];
    const member = members[id];
    if (score > current) {
      if (i + 1 < leafI32[2 * LEAF_UNITS * leaf + LEAF_SIZE]) {
        const s = leafF64[f + 1];
        if (s > score || (s === score && members[leafI32[ids + 1]] > member)) {
          leafF64[f] = score;
          return;
        }
      }
    } else if (i > 0) {
      const s = leafF64[f - 1];
      if (s < score || (s === score && members[leafI32[ids - 1]] < member)) {
        leafF64[f] = score;
        return;
      }
    }
    if (this.#moveInLeaf(leaf, i, score)) return;
    this.#remove(pos);
    this.#insert(id, score);
  }

  /**
   * Moves the element at index `i` of `leaf` to `score` within the leaf
   * when the new key lies strictly between the leaf's other first and last
   * keys: no search from the root, no count changes, and the separators
   * above still hold, as those two bound it. False when it does not.
   */
  #moveInLeaf(leaf: number, i: number, score: number): boolean {
    const leafF64 = this.#leafF64;
    const leafI32 = this.#leafI32;
    const members = this.#members;
    const f = LEAF_UNITS * leaf;
    const ids = 2 * f + LEAF_IDS;
    const size = leafI32[2 * f + LEAF_SIZE];
    const low = i === 0 ? 1 : 0;
    const high = i === size - 1 ? size - 2 : size - 1;
    if (low >= high) return false;
    const id = leafI32[ids + i];
    const member = members[id];
    const lowScore = leafF64[f + low];
    const highScore = leafF64[f + high];
    if (lowScore > score || (lowScore === score && members[leafI32[ids + low]] > member)) {
      return false;
    }
    if (highScore < score || (highScore === score && members[leafI32[ids + high]] < member)) {
      return false;
    }
    for (let k = i; k < size - 1; k++) {
      leafF64[f + k] = leafF64[f + k + 1];
      leafI32[ids + k] = leafI32[ids + k + 1];
    }
    let lo = 0;
    let hi = size - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const s = leafF64[f + mid];
      if (s < score || (s === score && members[leafI32[ids + mid]] < member)) lo = mid + 1;
      else hi = mid;
    }
    for (let k = size - 1; k > lo; k--) {
      leafF64[f + k] = leafF64[f + k - 1];
      leafI32[ids + k] = leafI32[ids + k - 1];
    }
    leafF64[f + lo] = score;
    leafI32[ids + lo] = id;
    return true;
  }

  delete(member: string): boolean {
    const j = this.#probe(member, hashString(member));
    const entry = this.#index[2 * j];
    if (entry === 0) return false;
    const id = entry - 1;
    this.#remove(this.#positionOf(id));
    this.#indexRemove(j); // before the id lets go of its member
    this.#freeId(id);
    this.bytes -= member.length + ZSET_ELEMENT_OVERHEAD_BYTES;
    const slots = this.#index.length >> 1;
    if (slots > INDEX_SLOTS_INITIAL && this.#count * 8 < slots) this.#reindex(slots / 2);
    const leaves = this.#leafTop;
    if (
      (leaves >= COMPACT_LEAVES_MIN && (leaves - this.#freeLeaves.length) * 4 <= leaves) ||
      (this.#members.length >= COMPACT_IDS_MIN && this.#count * 4 <= this.#members.length)
    ) this.#compact();
    return true;
  }

  /**
   * Descends from the root to the leaf where the key (score, member) is or
   * belongs, recording the path: at each node, the last child whose
   * separator is at or below the key (the first child when none is).
   */
  #descend(score: number, member: string): number {
    const nodeF64 = this.#nodeF64;
    const nodeI32 = this.#nodeI32;
    const separators = this.#separators;
    let x = this.#root;
    for (let d = 0; d < this.#height; d++) {
      const base = NODE_UNITS * x;
      let lo = 1;
      let hi = nodeI32[2 * base + NODE_SIZE];
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const s = nodeF64[base + mid];
        if (s < score || (s === score && separators[x * FANOUT + mid] <= member)) lo = mid + 1;
        else hi = mid;
      }
      PATH_NODE[d] = x;
      PATH_SLOT[d] = lo - 1;
      x = nodeI32[2 * base + NODE_CHILDREN + lo - 1];
    }
    return x;
  }

  /** Links element `id` (its member set) in at `score`. */
  #insert(id: number, score: number): void {
    const members = this.#members;
    const member = members[id];
    const leaf = this.#descend(score, member);
    const nodeI32 = this.#nodeI32;
    for (let d = 0; d < this.#height; d++) {
      nodeI32[2 * NODE_UNITS * PATH_NODE[d] + NODE_COUNTS + PATH_SLOT[d]]++;
    }
    const leafF64 = this.#leafF64;
    const leafI32 = this.#leafI32;
    const f = LEAF_UNITS * leaf;
    const ids = 2 * f + LEAF_IDS;
    const size = leafI32[2 * f + LEAF_SIZE];
    // The first index whose key is above (score, member).
    let lo = 0;
    let hi = size;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const s = leafF64[f + mid];
      if (s < score || (s === score && members[leafI32[ids + mid]] < member)) lo = mid + 1;
      else hi = mid;
    }
    if (size < LEAF_CAPACITY) {
      for (let k = size; k > lo; k--) {
        leafF64[f + k] = leafF64[f + k - 1];
        leafI32[ids + k] = leafI32[ids + k - 1];
      }
      leafF64[f + lo] = score;
      leafI32[ids + lo] = id;
      leafI32[2 * f + LEAF_SIZE] = size + 1;
      this.#leafOf[id] = leaf;
      return;
    }
    this.#splitLeaf(leaf, lo, id, score);
  }

  /** Inserts into a full leaf at index `at`: splits it, and its new sibling goes up a level. */
  #splitLeaf(leaf: number, at: number, id: number, score: number): void {
    const right = this.#newLeaf();
    const leafF64 = this.#leafF64;
    const leafI32 = this.#leafI32;
    const leafOf = this.#leafOf;
    const l = LEAF_UNITS * leaf;
    const r = LEAF_UNITS * right;
    // An append past the last element keeps 7/8 of the leaf; else halves.
    const append = at === LEAF_CAPACITY && leafI32[2 * l + LEAF_NEXT] === NIL;
    const keep = append ? LEAF_APPEND_KEEP : LEAF_CAPACITY / 2;
    for (let k = keep; k < LEAF_CAPACITY; k++) {
      leafF64[r + k - keep] = leafF64[l + k];
      const moved = leafI32[2 * l + LEAF_IDS + k];
      leafI32[2 * r + LEAF_IDS + k - keep] = moved;
      leafOf[moved] = right;
    }
    leafI32[2 * l + LEAF_SIZE] = keep;
    leafI32[2 * r + LEAF_SIZE] = LEAF_CAPACITY - keep;
    const next = leafI32[2 * l + LEAF_NEXT];
    leafI32[2 * r + LEAF_NEXT] = next;
    leafI32[2 * r + LEAF_PREV] = leaf;
    leafI32[2 * l + LEAF_NEXT] = right;
    if (next === NIL) this.#tail = right;
    else leafI32[2 * LEAF_UNITS * next + LEAF_PREV] = right;
    // The new element: into the left half, or the right (always, for an append).
    const into = at < keep || (at === keep && !append) ? leaf : right;
    const base = into === leaf ? l : r;
    const index = into === leaf ? at : at - keep;
    const size = leafI32[2 * base + LEAF_SIZE];
    for (let k = size; k > index; k--) {
      leafF64[base + k] = leafF64[base + k - 1];
      leafI32[2 * base + LEAF_IDS + k] = leafI32[2 * base + LEAF_IDS + k - 1];
    }
    leafF64[base + index] = score;
    leafI32[2 * base + LEAF_IDS + index] = id;
    leafI32[2 * base + LEAF_SIZE] = size + 1;
    leafOf[id] = into;
    this.#addChild(
      this.#height - 1,
      right,
      leafF64[r],
      this.#members[leafI32[2 * r + LEAF_IDS]],
      leafI32[2 * l + LEAF_SIZE],
      leafI32[2 * r + LEAF_SIZE],
      append,
    );
  }

  /**
   * Puts `child`, just split off the child the path took at level `d`, in
   * after it with its separator, and sets both children's counts (their
   * sum is already counted above). Level -1 is above the root: a new root.
   */
  #addChild(
    d: number,
    child: number,
    separatorScore: number,
    separator: string,
    leftCount: number,
    rightCount: number,
    append: boolean,
  ): void {
    if (d < 0) {
      const root = this.#newNode();
      const base = NODE_UNITS * root;
      const i32 = this.#nodeI32;
      i32[2 * base + NODE_CHILDREN] = this.#root;
      i32[2 * base + NODE_CHILDREN + 1] = child;
      i32[2 * base + NODE_COUNTS] = leftCount;
      i32[2 * base + NODE_COUNTS + 1] = rightCount;
      i32[2 * base + NODE_SIZE] = 2;
      this.#nodeF64[base + 1] = separatorScore;
      this.#separators[root * FANOUT + 1] = separator;
      this.#root = root;
      this.#height++;
      if (this.#height > HEIGHT_MAX) throw new Error("zset: tree too tall");
      return;
    }
    const x = PATH_NODE[d];
    const at = PATH_SLOT[d] + 1;
    const size = this.#nodeI32[2 * NODE_UNITS * x + NODE_SIZE];
    this.#nodeI32[2 * NODE_UNITS * x + NODE_COUNTS + at - 1] = leftCount;
    if (size < FANOUT) {
      this.#putChild(x, at, child, separatorScore, separator, rightCount);
      return;
    }
    // Full: split it as a leaf splits, then put the child in its half.
    const right = this.#newNode();
    const f64 = this.#nodeF64;
    const i32 = this.#nodeI32;
    const separators = this.#separators;
    const l = NODE_UNITS * x;
    const r = NODE_UNITS * right;
    const keep = append && at === FANOUT ? FANOUT : FANOUT / 2;
    for (let k = keep; k < FANOUT; k++) {
      f64[r + k - keep] = f64[l + k];
      separators[right * FANOUT + k - keep] = separators[x * FANOUT + k];
      separators[x * FANOUT + k] = "";
      i32[2 * r + NODE_CHILDREN + k - keep] = i32[2 * l + NODE_CHILDREN + k];
      i32[2 * r + NODE_COUNTS + k - keep] = i32[2 * l + NODE_COUNTS + k];
    }
    i32[2 * l + NODE_SIZE] = keep;
    i32[2 * r + NODE_SIZE] = FANOUT - keep;
    if (at < keep || (at === keep && !(append && keep === FANOUT))) {
      this.#putChild(x, at, child, separatorScore, separator, rightCount);
    } else {
      this.#putChild(right, at - keep, child, separatorScore, separator, rightCount);
    }
    this.#addChild(
      d - 1,
      right,
      f64[r],
      separators[right * FANOUT],
      this.#total(x),
      this.#total(right),
      append,
    );
  }

  /** Inserts a child with its separator and count at index `at` of a node with room. */
  #putChild(
    x: number,
    at: number,
    child: number,
    separatorScore: number,
    separator: string,
    count: number,
  ): void {
    const f64 = this.#nodeF64;
    const i32 = this.#nodeI32;
    const separators = this.#separators;
    const base = NODE_UNITS * x;
    const size = i32[2 * base + NODE_SIZE];
    for (let k = size; k > at; k--) {
      f64[base + k] = f64[base + k - 1];
      separators[x * FANOUT + k] = separators[x * FANOUT + k - 1];
      i32[2 * base + NODE_CHILDREN + k] = i32[2 * base + NODE_CHILDREN + k - 1];
      i32[2 * base + NODE_COUNTS + k] = i32[2 * base + NODE_COUNTS + k - 1];
    }
    f64[base + at] = separatorScore;
    separators[x * FANOUT + at] = separator;
    i32[2 * base + NODE_CHILDREN + at] = child;
    i32[2 * base + NODE_COUNTS + at] = count;
    i32[2 * base + NODE_SIZE] = size + 1;
  }

  /** The elements under a node: its children's counts summed. */
  #total(x: number): number {
    const i32 = this.#nodeI32;
    const base = 2 * NODE_UNITS * x;
    let total = 0;
    for (let k = 0; k < i32[base + NODE_SIZE]; k++) total += i32[base + NODE_COUNTS + k];
    return total;
  }

  /** Takes the element at `pos` out of the tree (its id stays allocated). */
  #remove(pos: ZPos): void {
    const leaf = this.#descend(this.scoreAt(pos), this.memberAt(pos));
    if (leaf !== pos >> LEAF_SHIFT) throw new Error("zset: element off its search path");
    const nodeI32 = this.#nodeI32;
    for (let d = 0; d < this.#height; d++) {
      nodeI32[2 * NODE_UNITS * PATH_NODE[d] + NODE_COUNTS + PATH_SLOT[d]]--;
    }
    const leafF64 = this.#leafF64;
    const leafI32 = this.#leafI32;
    const f = LEAF_UNITS * leaf;
    const ids = 2 * f + LEAF_IDS;
    const size = leafI32[2 * f + LEAF_SIZE] - 1;
    for (let k = pos & LEAF_INDEX_MASK; k < size; k++) {
      leafF64[f + k] = leafF64[f + k + 1];
      leafI32[ids + k] = leafI32[ids + k + 1];
    }
    leafI32[2 * f + LEAF_SIZE] = size;
    if (size < LEAF_MIN && this.#height > 0) this.#rebalanceLeaf();
  }

  /**
   * The leaf at the end of the path fell below LEAF_MIN: it and a sibling
   * (the one before it, else the one after) merge when they fit in one
   * leaf, else share their elements evenly and the right one's separator
   * becomes its new first key.
   */
  #rebalanceLeaf(): void {
    const d = this.#height - 1;
    const parent = PATH_NODE[d];
    const slot = PATH_SLOT[d];
    const nodeI32 = this.#nodeI32;
    const p = 2 * NODE_UNITS * parent;
    const at = slot > 0 ? slot - 1 : slot;
    const left = nodeI32[p + NODE_CHILDREN + at];
    const right = nodeI32[p + NODE_CHILDREN + at + 1];
    const leafF64 = this.#leafF64;
    const leafI32 = this.#leafI32;
    const leafOf = this.#leafOf;
    const l = LEAF_UNITS * left;
    const r = LEAF_UNITS * right;
    const leftSize = leafI32[2 * l + LEAF_SIZE];
    const rightSize = leafI32[2 * r + LEAF_SIZE];
    const total = leftSize + rightSize;
    if (total <= LEAF_CAPACITY) {
      for (let k = 0; k < rightSize; k++) {
        leafF64[l + leftSize + k] = leafF64[r + k];
        const moved = leafI32[2 * r + LEAF_IDS + k];
        leafI32[2 * l + LEAF_IDS + leftSize + k] = moved;
        leafOf[moved] = left;
      }
      leafI32[2 * l + LEAF_SIZE] = total;
      const next = leafI32[2 * r + LEAF_NEXT];
      leafI32[2 * l + LEAF_NEXT] = next;
      if (next === NIL) this.#tail = left;
      else leafI32[2 * LEAF_UNITS * next + LEAF_PREV] = left;
      this.#freeLeaves.push(right);
      nodeI32[p + NODE_COUNTS + at] = total;
      this.#removeChild(parent, at + 1);
      this.#rebalanceNode(d);
      return;
    }
    // Side by side in the scratch arrays, then the first half left, the rest right.
    for (let k = 0; k < leftSize; k++) {
      SHARE_SCORES[k] = leafF64[l + k];
      SHARE_IDS[k] = leafI32[2 * l + LEAF_IDS + k];
    }
    for (let k = 0; k < rightSize; k++) {
      SHARE_SCORES[leftSize + k] = leafF64[r + k];
      SHARE_IDS[leftSize + k] = leafI32[2 * r + LEAF_IDS + k];
    }
    const half = total >> 1;
    for (let k = 0; k < half; k++) {
      leafF64[l + k] = SHARE_SCORES[k];
      leafI32[2 * l + LEAF_IDS + k] = SHARE_IDS[k];
      leafOf[SHARE_IDS[k]] = left;
    }
    for (let k = half; k < total; k++) {
      leafF64[r + k - half] = SHARE_SCORES[k];
      leafI32[2 * r + LEAF_IDS + k - half] = SHARE_IDS[k];
      leafOf[SHARE_IDS[k]] = right;
    }
    leafI32[2 * l + LEAF_SIZE] = half;
    leafI32[2 * r + LEAF_SIZE] = total - half;
    nodeI32[p + NODE_COUNTS + at] = half;
    nodeI32[p + NODE_COUNTS + at + 1] = total - half;
    this.#nodeF64[NODE_UNITS * parent + at + 1] = leafF64[r];
    this.#separators[parent * FANOUT + at + 1] = this.#members[leafI32[2 * r + LEAF_IDS]];
  }

  /** Removes child `at` (its separator and count with it) from node `x`. */
  #removeChild(x: number, at: number): void {
    const f64 = this.#nodeF64;
    const i32 = this.#nodeI32;
    const separators = this.#separators;
    const base = NODE_UNITS * x;
    const size = i32[2 * base + NODE_SIZE] - 1;
    for (let k = at; k < size; k++) {
      f64[base + k] = f64[base + k + 1];
      separators[x * FANOUT + k] = separators[x * FANOUT + k + 1];
      i32[2 * base + NODE_CHILDREN + k] = i32[2 * base + NODE_CHILDREN + k + 1];
      i32[2 * base + NODE_COUNTS + k] = i32[2 * base + NODE_COUNTS + k + 1];
    }
    separators[x * FANOUT + size] = "";
    i32[2 * base + NODE_SIZE] = size;
  }

  /**
   * The node at level `d` of the path lost a child: a root left with one
   * child gives way to it; another node below FANOUT_MIN merges with or
   * shares with a sibling, as leaves do, the parent's separator between
   * them going down between their children (and a new one coming up).
   */
  #rebalanceNode(d: number): void {
    const x = PATH_NODE[d];
    const i32 = this.#nodeI32;
    const size = i32[2 * NODE_UNITS * x + NODE_SIZE];
    if (d === 0) {
      if (size === 1) {
        this.#root = i32[2 * NODE_UNITS * x + NODE_CHILDREN];
        this.#height--;
        this.#freeNode(x);
      }
      return;
    }
    if (size >= FANOUT_MIN) return;
    const parent = PATH_NODE[d - 1];
    const slot = PATH_SLOT[d - 1];
    const p = NODE_UNITS * parent;
    const at = slot > 0 ? slot - 1 : slot;
    const left = i32[2 * p + NODE_CHILDREN + at];
    const right = i32[2 * p + NODE_CHILDREN + at + 1];
    const f64 = this.#nodeF64;
    const separators = this.#separators;
    const l = NODE_UNITS * left;
    const r = NODE_UNITS * right;
    const leftSize = i32[2 * l + NODE_SIZE];
    const rightSize = i32[2 * r + NODE_SIZE];
    const total = leftSize + rightSize;
    // Both nodes' children side by side; the parent's separator goes between.
    for (let k = 0; k < leftSize; k++) {
      SHARE_SCORES[k] = f64[l + k];
      SHARE_SEPARATORS[k] = separators[left * FANOUT + k];
      SHARE_IDS[k] = i32[2 * l + NODE_CHILDREN + k];
      SHARE_COUNTS[k] = i32[2 * l + NODE_COUNTS + k];
    }
    for (let k = 0; k < rightSize; k++) {
      SHARE_SCORES[leftSize + k] = f64[r + k];
      SHARE_SEPARATORS[leftSize + k] = separators[right * FANOUT + k];
      SHARE_IDS[leftSize + k] = i32[2 * r + NODE_CHILDREN + k];
      SHARE_COUNTS[leftSize + k] = i32[2 * r + NODE_COUNTS + k];
    }
    SHARE_SCORES[leftSize] = f64[p + at + 1];
    SHARE_SEPARATORS[leftSize] = separators[parent * FANOUT + at + 1];
    const half = total <= FANOUT ? total : total >> 1;
    this.#fillNode(left, 0, half);
    if (half === total) {
      i32[2 * p + NODE_COUNTS + at] = this.#total(left);
      this.#freeNode(right);
      this.#removeChild(parent, at + 1);
      this.#rebalanceNode(d - 1);
    } else {
      this.#fillNode(right, half, total);
      i32[2 * p + NODE_COUNTS + at] = this.#total(left);
      i32[2 * p + NODE_COUNTS + at + 1] = this.#total(right);
      f64[p + at + 1] = SHARE_SCORES[half];
      separators[parent * FANOUT + at + 1] = SHARE_SEPARATORS[half];
    }
    SHARE_SEPARATORS.fill("", 0, total);
  }

  /**
   * Checks the tree's invariants and throws on the first broken one (for
   * tests): every count is its subtree's size, separators bound their
   * children, keys ascend through the leaf chain, every leaf but a lone
   * root holds an element, #leafOf and the member index point at each
   * element.
   */
  verify(): void {
    const fail = (what: string) => {
      throw new Error(`zset: ${what}`);
    };
    const leafF64 = this.#leafF64;
    const leafI32 = this.#leafI32;
    const nodeF64 = this.#nodeF64;
    const nodeI32 = this.#nodeI32;
    const members = this.#members;
    const before = (s1: number, m1: string, s2: number, m2: string) =>
      s1 < s2 || (s1 === s2 && m1 < m2);
    const leaves: number[] = [];
    /** Elements under x at `depth`; each key checked against [low, high) given as (score, member). */
    const walk = (
      x: number,
      depth: number,
      low: [number, string] | null,
      high: [number, string] | null,
    ): number => {
      if (depth === this.#height) {
        leaves.push(x);
        const size = leafI32[2 * LEAF_UNITS * x + LEAF_SIZE];
        if (size < 1 && this.#height > 0) fail(`leaf ${x} empty`);
        for (let i = 0; i < size; i++) {
          const id = leafI32[2 * LEAF_UNITS * x + LEAF_IDS + i];
          const score = leafF64[LEAF_UNITS * x + i];
          if (this.#leafOf[id] !== x) fail(`leafOf[${id}] is not ${x}`);
          if (low !== null && before(score, members[id], low[0], low[1])) {
            fail("key below separator");
          }
          if (high !== null && !before(score, members[id], high[0], high[1])) {
            fail("key at or above the next separator");
          }
          if (this.find(members[id]) !== ((x << LEAF_SHIFT) | i)) fail(`index of ${members[id]}`);
        }
        return size;
      }
      const base = NODE_UNITS * x;
      const size = nodeI32[2 * base + NODE_SIZE];
      if (size < (depth === 0 ? 2 : 1)) fail(`node ${x} has ${size} children`);
      let total = 0;
      for (let j = 0; j < size; j++) {
        const from: [number, string] | null = j === 0
          ? low
          : [nodeF64[base + j], this.#separators[x * FANOUT + j]];
        const to: [number, string] | null = j + 1 < size
          ? [nodeF64[base + j + 1], this.#separators[x * FANOUT + j + 1]]
          : high;
        if (from !== null && to !== null && !before(from[0], from[1], to[0], to[1])) {
          fail(`separators out of order in node ${x}`);
        }
        const count = walk(nodeI32[2 * base + NODE_CHILDREN + j], depth + 1, from, to);
        if (count !== nodeI32[2 * base + NODE_COUNTS + j]) fail(`count of child ${j} of ${x}`);
        total += count;
      }
      return total;
    };
    if (walk(this.#root, 0, null, null) !== this.#count) fail("size");
    if (this.#head !== leaves[0] || this.#tail !== leaves.at(-1)) fail("head or tail");
    let previous: [number, string] | null = null;
    for (let k = 0; k < leaves.length; k++) {
      const leaf = leaves[k];
      const next = leafI32[2 * LEAF_UNITS * leaf + LEAF_NEXT];
      const prev = leafI32[2 * LEAF_UNITS * leaf + LEAF_PREV];
      if (next !== (k + 1 < leaves.length ? leaves[k + 1] : NIL)) fail(`next of leaf ${leaf}`);
      if (prev !== (k > 0 ? leaves[k - 1] : NIL)) fail(`prev of leaf ${leaf}`);
      for (let i = 0; i < leafI32[2 * LEAF_UNITS * leaf + LEAF_SIZE]; i++) {
        const key: [number, string] = [
          leafF64[LEAF_UNITS * leaf + i],
          members[leafI32[2 * LEAF_UNITS * leaf + LEAF_IDS + i]],
        ];
        if (previous !== null && !before(previous[0], previous[1], key[0], key[1])) {
          fail("keys out of order");
        }
        previous = key;
      }
    }
  }

  /** Node `x` gets the shared children [from, to). */
  #fillNode(x: number, from: number, to: number): void {
    const f64 = this.#nodeF64;
    const i32 = this.#nodeI32;
    const separators = this.#separators;
    const base = NODE_UNITS * x;
    for (let k = from; k < to; k++) {
      f64[base + k - from] = SHARE_SCORES[k];
      separators[x * FANOUT + k - from] = SHARE_SEPARATORS[k];
      i32[2 * base + NODE_CHILDREN + k - from] = SHARE_IDS[k];
      i32[2 * base + NODE_COUNTS + k - from] = SHARE_COUNTS[k];
    }
    for (let k = to - from; k < FANOUT; k++) separators[x * FANOUT + k] = "";
    i32[2 * base + NODE_SIZE] = to - from;
  }
}

/** The member -> score view of a ZSetValue, iterated in rank order (a Map's would be insertion order; no caller depends on either). */
class ScoresOf implements ScoreView {
  readonly #zset: ZSetValue;

  constructor(zset: ZSetValue) {
    this.#zset = zset;
  }

  get size(): number {
    return this.#zset.size;
  }

  get(member: string): number | undefined {
    return this.#zset.score(member);
  }

  has(member: string): boolean {
    return this.#zset.has(member);
  }

  *keys(): IterableIterator<string> {
    const zset = this.#zset;
    for (let x = zset.first(); x !== NIL; x = zset.next(x)) yield zset.memberAt(x);
  }

  [Symbol.iterator](): Iterator<[string, number]> {
    return this.#zset.entries();
  }
}

/**
 * Formats a score as Redis 7.0 does (`%.17g`): 0.1 is "0.10000000000000001",
 * 1e20 is "1e+20". Infinities are "inf" and "-inf".
 */
export function formatScore(n: number): string {
  if (n === Infinity) return "inf";
  if (n === -Infinity) return "-inf";
  if (n === 0) return Object.is(n, -0) ? "-0" : "0";
  // Fast path: a safe integer has at most 16 digits, which %.17g prints
  // exactly and so does String (its shortest round trip is the integer).
  if (Number.isSafeInteger(n)) return String(n);
  const [mantissa, expText] = n.toExponential(16).split("e");
  const exp = Number(expText);
  if (exp < -4 || exp >= 17) {
    const digits = mantissa.replace(/\.?0+$/, "");
    const sign = exp < 0 ? "-" : "+";
    const abs = Math.abs(exp);
    return `${digits}e${sign}${abs < 10 ? "0" : ""}${abs}`;
  }
  const negative = mantissa.startsWith("-");
  const allDigits = mantissa.replace(/[-.]/g, ""); // 17 significant digits
  const whole = exp >= 0 ? allDigits.slice(0, exp + 1) : "0";
  const fraction = (exp >= 0 ? allDigits.slice(exp + 1) : "0".repeat(-exp - 1) + allDigits)
    .replace(/0+$/, "");
  const text = fraction === "" ? whole : `${whole}.${fraction}`;
  return negative ? "-" + text : text;
}

/**
 * Fast path of the parsers: an optional "-" and 1 to 15 digits, which
 * Number reads exactly as strtod does (no regular expression, no range
 * check needed).
 */
function isShortInteger(text: string): boolean {
  const n = text.length;
  let i = n > 0 && text.charCodeAt(0) === 45 ? 1 : 0; // "-"
  if (n - i < 1 || n - i > 15) return false;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

const FLOAT_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const INF_TEXT = /^[+-]?(inf|infinity)$/i;

/**
 * A score argument as Redis's getDoubleFromObject takes it (strtod on the
 * whole string): no leading space, no trailing bytes, no NaN, and no
 * overflow or underflow to zero (ERANGE). Null when not one.
 */
export function parseScore(text: string): number | null {
  if (isShortInteger(text)) return Number(text);
  if (INF_TEXT.test(text)) return text.startsWith("-") ? -Infinity : Infinity;
  if (!FLOAT_TEXT.test(text)) return null;
  const n = Number(text);
  if (!Number.isFinite(n)) return null;
  if (n === 0 && /[1-9]/.test(text.replace(/e.*$/i, ""))) return null;
  return n;
}

/**
 * One bound of ZRANGEBYSCORE and friends, as zslParseRange reads it: plain
 * strtod without the range check (so "1e400" is inf), leading spaces
 * allowed, an empty string is 0. Null when not one.
 */
export function parseScoreBound(text: string): { value: number; exclusive: boolean } | null {
  let exclusive = false;
  if (text.startsWith("(")) {
    exclusive = true;
    text = text.slice(1);
  }
  if (text === "") return { value: 0, exclusive };
  if (isShortInteger(text)) return { value: Number(text), exclusive };
  // The usual open ends, without the regular expressions below.
  if (text === "+inf" || text === "inf") return { value: Infinity, exclusive };
  if (text === "-inf") return { value: -Infinity, exclusive };
  const body = text.replace(/^[ \t\n\v\f\r]+/, "");
  if (INF_TEXT.test(body)) return { value: body.startsWith("-") ? -Infinity : Infinity, exclusive };
  if (!FLOAT_TEXT.test(body)) return null;
  return { value: Number(body), exclusive };
}

/** One bound of ZRANGEBYLEX and friends; null when not valid. */
export function parseLexBound(text: string): LexBound | null {
  if (text === "-") return { kind: "-" };
  if (text === "+") return { kind: "+" };
  if (text.startsWith("[")) return { kind: "value", value: text.slice(1), exclusive: false };
  if (text.startsWith("(")) return { kind: "value", value: text.slice(1), exclusive: true };
  return null;
}
