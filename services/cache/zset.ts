// The sorted set: a skip list with span counts (Pugh 1990; Redis t_zset.c
// keeps the same shape) ordered by (score, member), plus a member -> node
// map. Lookups by member are O(1); insert, delete, rank, the element at a
// rank, and the first/last element in a score or lex range are O(log n)
// expected. Members are binary strings (one char per byte), so JS string
// comparison is Redis's memcmp order.
//
// The whole skip list lives in one typed pool and an array of member
// strings, with no object per element: a node is a number (its block in the
// pool, a `ZPos`) that stays valid until the set next changes. The member
// index is a hash table of blocks in an Int32Array, probed with the
// request's bytes. That keeps an element to its member string, an array
// slot, about four pool words and two index slots (the garbage collector
// has nothing else to trace), and a search step to one cache line.
//
// Lex ranges assume every member has the same score, as Redis documents;
// with mixed scores the answer is only as defined as Redis's own (its small
// sets scan a listpack in order, which is what a monotonic search here gives
// when the predicate happens to be monotonic). Pure: no I/O.

/**
 * Skip list height bound, Redis's ZSKIPLIST_MAXLEVEL. Its promotion odds,
 * ZSKIPLIST_P = 1/4, are two zero bits of a random word per level.
 */
const LEVEL_MAX = 32;

/**
 * Estimated memory of one element beyond its member bytes, for used_memory
 * and maxmemory: the member string's header, its slot in the member array
 * and in the member index, its pool block, with the pool's and the index's
 * growth slack. Measured (bench/micro/zset_memory.ts, 0.3M to 1.4M members
 * of 7-9 bytes, heap after a full GC plus the pool and index outside it):
 * 77-90 bytes a member in all; kept above so maxmemory stays conservative.
 */
export const ZSET_ELEMENT_OVERHEAD_BYTES = 96;

/** A node of the skip list: its block in the pool; valid until the set changes. */
export type ZPos = number;

/** No node (the end of a walk, an empty range). */
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

/** Block of the head (LEVEL_MAX levels, score -inf). */
const HEAD = 0;
/** 8-byte units a block of `level` levels takes: score, (level, backward), then (forward, span) pairs. */
function blockUnits(level: number): number {
  return 2 + level;
}
/**
 * A block's index in the member array. Blocks are at least 3 units long
 * and never overlap, so distinct blocks have distinct thirds: the array
 * stays about 90% dense, where indexing by block left two holes in three.
 */
function slot(block: number): number {
  return (block / 3) | 0;
}
/** Units of a new set's pool: the head and a few small elements. */
const POOL_UNITS_INITIAL = 64;
/**
 * A pool at least this large (32 KiB) is rebuilt when its elements would
 * fill under a sixteenth of it (about a fifth in use, blocks averaging 3.3
 * units): freed blocks are only reused, never given back, so a drained
 * large set would otherwise keep its peak memory, unseen by `bytes`.
 */
const POOL_UNITS_SHRINK_MIN = 4096;
const POOL_UNITS_PER_ELEMENT_SHRINK = 16;

/**
 * xorshift32 (Marsaglia 2003) state for skip list levels, seeded once. Int32
 * arithmetic only: V8's optimizing tiers speculate int32 on the level and
 * the word, and a double there (Math.random() * 2 ** 32, `>>> 0` above
 * 2 ** 31, Math.min's result) made them deoptimize and reoptimize the
 * insert path over and over (measured: 20-40 us per insert into a 1M set,
 * about 1 us without).
 */
let randomState = (Math.random() * 0x7fff_ffff) | 1;

/** The next 32 random bits, as an int32. */
function randomWord(): number {
  let x = randomState;
  x ^= x << 13;
  x ^= (x >> 17) & 0x7fff;
  x ^= x << 5;
  randomState = x;
  return x;
}

/** Search scratch (update vector and ranks), reused: the set is used by one caller at a time. */
const UPDATE = new Int32Array(LEVEL_MAX);
const RANK = new Int32Array(LEVEL_MAX);

/**
 * The member index: open addressing with linear probing over an
 * Int32Array of blocks (0, the head's block, marks an empty slot), at most
 * half full. A lookup hashes the member's bytes straight from the request
 * (no string made, none hashed by V8: measured 0.5 us against 1.1-1.9 for
 * Map.get(toKey(bytes)) on 1M members) and compares the candidate's member
 * string char by char; the table costs 8-16 bytes a member, a Map about 40.
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

/** A sorted set value. */
export class ZSetValue {
  /** The member index (see INDEX_SLOTS_INITIAL): blocks by member hash. */
  #index = new Int32Array(INDEX_SLOTS_INITIAL);
  /** Members in the index (the skip list's count can lag by one inside a move). */
  #count = 0;
  /** Members and scores, by member (for code that reads a set as a map). */
  readonly scores: ScoreView;
  bytes = 0;
  // The skip list lives in one typed pool: block b holds its score at
  // f64[b], its level at i32[2b + 2], the previous element's block (or
  // NIL) at i32[2b + 3], and for level i its forward block at
  // i32[2b + 4 + 2i] and that link's span at i32[2b + 5 + 2i]. Its member
  // is #members[slot(b)].
  #f64 = new Float64Array(0);
  #i32 = new Int32Array(0);
  #members: string[] = [];
  #top = 0;
  /** Freed blocks by level. */
  #free: number[][] = [];
  #tail: ZPos = NIL;
  #level = 1;
  /** Elements linked into the skip list. */
  #length = 0;

  constructor() {
    this.#reset(POOL_UNITS_INITIAL);
    this.scores = new ScoresOf(this);
  }

  /** The slot of `member` in the index, or of the empty slot its probe ends at. */
  #probe(member: string): number {
    const index = this.#index;
    const mask = index.length - 1;
    const members = this.#members;
    let j = hashString(member) & mask;
    for (;;) {
      const block = index[j];
      if (block === 0 || members[slot(block)] === member) return j;
      j = (j + 1) & mask;
    }
  }

  /** The node of a member given as bytes (from the request, no string made), or NIL. */
  findBytes(member: Uint8Array): ZPos {
    const index = this.#index;
    const mask = index.length - 1;
    const members = this.#members;
    let j = hashBytes(member) & mask;
    for (;;) {
      const block = index[j];
      if (block === 0) return NIL;
      if (equalsBytes(members[slot(block)], member)) return block;
      j = (j + 1) & mask;
    }
  }

  /** Enters a member known to be absent, its block already holding it. */
  #indexAdd(member: string, block: ZPos): void {
    if ((this.#count + 1) * 2 > this.#index.length) this.#reindex(this.#index.length * 2);
    this.#index[this.#probe(member)] = block;
    this.#count++;
  }

  /** Removes the index slot `j` (linear probing's backward shift: no tombstones). */
  #indexRemove(j: number): void {
    const index = this.#index;
    const mask = index.length - 1;
    const members = this.#members;
    index[j] = 0;
    for (let k = (j + 1) & mask; index[k] !== 0; k = (k + 1) & mask) {
      const block = index[k];
      const home = hashString(members[slot(block)]) & mask;
      // Move the entry back to j unless its home lies cyclically in (j, k].
      const stays = j <= k ? home > j && home <= k : home > j || home <= k;
      if (!stays) {
        index[j] = block;
        index[k] = 0;
        j = k;
      }
    }
    this.#count--;
  }

  /** Rebuilds the index with `slots` slots (a power of two) from the skip list. */
  #reindex(slots: number): void {
    this.#index = new Int32Array(slots);
    const mask = slots - 1;
    const members = this.#members;
    for (let x = this.first(); x !== NIL; x = this.next(x)) {
      let j = hashString(members[slot(x)]) & mask;
      while (this.#index[j] !== 0) j = (j + 1) & mask;
      this.#index[j] = x;
    }
  }

  /** An empty skip list in a new pool of `units`. */
  #reset(units: number): void {
    const buffer = new ArrayBuffer(units * 8);
    this.#f64 = new Float64Array(buffer);
    this.#i32 = new Int32Array(buffer);
    this.#f64[HEAD] = -Infinity;
    this.#i32[2 * HEAD + 2] = LEVEL_MAX;
    this.#i32[2 * HEAD + 3] = NIL;
    for (let i = 0; i < LEVEL_MAX; i++) {
      this.#i32[2 * HEAD + 4 + 2 * i] = NIL;
      this.#i32[2 * HEAD + 5 + 2 * i] = 0;
    }
    this.#members = [];
    this.#top = blockUnits(LEVEL_MAX);
    this.#free = [];
    this.#tail = NIL;
    this.#level = 1;
    this.#length = 0;
  }

  /** Rebuilds the skip list in a pool sized to its elements. */
  #compact(): void {
    const elements = [...this.entries()];
    this.#reset(Math.max(POOL_UNITS_INITIAL, blockUnits(LEVEL_MAX) + 8 * elements.length));
    for (const [member, score] of elements) this.#insert(member, score);
    let slots = INDEX_SLOTS_INITIAL;
    while (slots < 2 * elements.length) slots *= 2;
    this.#reindex(slots);
  }

  get size(): number {
    return this.#count;
  }

  /** The node of a member, or NIL. */
  find(member: string): ZPos {
    const block = this.#index[this.#probe(member)];
    return block === 0 ? NIL : block;
  }

  /** A member's score, or undefined. */
  score(member: string): number | undefined {
    const block = this.find(member);
    return block === NIL ? undefined : this.#f64[block];
  }

  has(member: string): boolean {
    return this.find(member) !== NIL;
  }

  memberAt(pos: ZPos): string {
    return this.#members[slot(pos)];
  }

  scoreAt(pos: ZPos): number {
    return this.#f64[pos];
  }

  /** The next element in ascending order, or NIL. */
  next(pos: ZPos): ZPos {
    return this.#i32[2 * pos + 4];
  }

  /** The previous element in ascending order, or NIL. */
  prev(pos: ZPos): ZPos {
    return this.#i32[2 * pos + 3];
  }

  /** Adds a member or moves it to a new score. */
  set(member: string, score: number): void {
    const block = this.find(member);
    if (block === NIL) this.add(member, score);
    else this.move(block, score);
  }

  /** Adds a member that is not in the set (a caller that already looked it up). */
  add(member: string, score: number): void {
    // Redis's small sets (listpacks) store -0 as 0, and reply 0 afterwards;
    // its large ones keep -0. We keep the small-set behaviour throughout.
    if (score === 0) score = 0;
    this.bytes += member.length + ZSET_ELEMENT_OVERHEAD_BYTES;
    this.#indexAdd(member, this.#insert(member, score));
  }

  /**
   * Gives the element at `pos` a new score. As Redis's zslUpdateScore, it
   * stays where it is when its neighbours still bound it (no search, no
   * relinking), else it is unlinked and linked again: the same block, so
   * the member index is not touched either way.
   */
  move(pos: ZPos, score: number): void {
    if (score === 0) score = 0;
    const f64 = this.#f64;
    if (f64[pos] === score) return; // Redis compares with ==, so -0 keeps 0
    const members = this.#members;
    const member = members[slot(pos)];
    const prev = this.#i32[2 * pos + 3];
    const next = this.#i32[2 * pos + 4];
    if (
      (prev === NIL || f64[prev] < score ||
        (f64[prev] === score && members[slot(prev)] < member)) &&
      (next === NIL || f64[next] > score || (f64[next] === score && members[slot(next)] > member))
    ) {
      f64[pos] = score;
      return;
    }
    this.#unlink(pos);
    f64[pos] = score;
    this.#link(pos);
  }

  delete(member: string): boolean {
    const j = this.#probe(member);
    const block = this.#index[j];
    if (block === 0) return false;
    this.#indexRemove(j); // before the block lets go of its member
    this.#unlink(block);
    this.#release(block);
    this.bytes -= member.length + ZSET_ELEMENT_OVERHEAD_BYTES;
    const slots = this.#index.length;
    if (slots > INDEX_SLOTS_INITIAL && this.#count * 8 < slots) this.#reindex(slots / 2);
    const units = this.#f64.length;
    if (
      units >= POOL_UNITS_SHRINK_MIN && this.#length * POOL_UNITS_PER_ELEMENT_SHRINK < units
    ) this.#compact();
    return true;
  }

  /**
   * 1 + the pairs of leading zero bits of a random word: level k has odds
   * 4^-(k-1), and 17 (a zero word) is the most, under LEVEL_MAX.
   */
  #randomLevel(): number {
    return 1 + (Math.clz32(randomWord()) >> 1);
  }

  /** A block of `level` levels, from the free list or the end of the pool (grown by half). */
  #alloc(level: number): number {
    const free = this.#free[level];
    if (free !== undefined && free.length > 0) return free.pop()!;
    const block = this.#top;
    const end = block + blockUnits(level);
    if (end > this.#f64.length) {
      const units = Math.max(end, this.#f64.length + (this.#f64.length >> 1));
      const f64 = new Float64Array(new ArrayBuffer(units * 8));
      f64.set(this.#f64);
      this.#f64 = f64;
      this.#i32 = new Int32Array(f64.buffer);
    }
    this.#top = end;
    return block;
  }

  #release(block: number): void {
    const level = this.#i32[2 * block + 2];
    (this.#free[level] ??= []).push(block);
    this.#members[slot(block)] = "";
  }

  /** A new block for (member, score), linked in; returns it. */
  #insert(member: string, score: number): ZPos {
    const level = this.#randomLevel();
    const block = this.#alloc(level);
    this.#f64[block] = score;
    this.#i32[2 * block + 2] = level;
    this.#members[slot(block)] = member;
    this.#link(block);
    return block;
  }

  /** Links an unlinked block (score, level and member set) at its place. */
  #link(block: number): void {
    const i32 = this.#i32;
    const f64 = this.#f64;
    const members = this.#members;
    const score = f64[block];
    const member = members[slot(block)];
    const top = this.#level;
    let rank = 0;
    let x = HEAD;
    for (let i = top - 1; i >= 0; i--) {
      let f = i32[2 * x + 4 + 2 * i];
      while (f !== NIL) {
        const s = f64[f];
        if (s > score || (s === score && members[slot(f)] >= member)) break;
        rank += i32[2 * x + 5 + 2 * i];
        x = f;
        f = i32[2 * x + 4 + 2 * i];
      }
      UPDATE[i] = x;
      RANK[i] = rank;
    }
    const level = i32[2 * block + 2];
    if (level > top) {
      for (let i = top; i < level; i++) {
        RANK[i] = 0;
        UPDATE[i] = HEAD;
        i32[2 * HEAD + 5 + 2 * i] = this.#length;
      }
      this.#level = level;
    }
    for (let i = 0; i < level; i++) {
      const u = UPDATE[i];
      const skipped = rank - RANK[i];
      i32[2 * block + 4 + 2 * i] = i32[2 * u + 4 + 2 * i];
      i32[2 * u + 4 + 2 * i] = block;
      i32[2 * block + 5 + 2 * i] = i32[2 * u + 5 + 2 * i] - skipped;
      i32[2 * u + 5 + 2 * i] = skipped + 1;
    }
    for (let i = level; i < this.#level; i++) i32[2 * UPDATE[i] + 5 + 2 * i]++;
    const prev = UPDATE[0];
    i32[2 * block + 3] = prev === HEAD ? NIL : prev;
    const next = i32[2 * block + 4];
    if (next !== NIL) i32[2 * next + 3] = block;
    else this.#tail = block;
    this.#length++;
  }

  /** Unlinks a linked block, keeping its score, level and member. */
  #unlink(block: number): void {
    const i32 = this.#i32;
    const f64 = this.#f64;
    const members = this.#members;
    const score = f64[block];
    const member = members[slot(block)];
    let x = HEAD;
    for (let i = this.#level - 1; i >= 0; i--) {
      let f = i32[2 * x + 4 + 2 * i];
      while (f !== NIL) {
        const s = f64[f];
        if (s > score || (s === score && members[slot(f)] >= member)) break;
        x = f;
        f = i32[2 * x + 4 + 2 * i];
      }
      UPDATE[i] = x;
    }
    if (i32[2 * x + 4] !== block) throw new Error("zset: member missing from skip list");
    for (let i = 0; i < this.#level; i++) {
      const u = UPDATE[i];
      if (i32[2 * u + 4 + 2 * i] === block) {
        i32[2 * u + 5 + 2 * i] += i32[2 * block + 5 + 2 * i] - 1;
        i32[2 * u + 4 + 2 * i] = i32[2 * block + 4 + 2 * i];
      } else {
        i32[2 * u + 5 + 2 * i]--;
      }
    }
    const prev = i32[2 * block + 3];
    const next = i32[2 * block + 4];
    if (next !== NIL) i32[2 * next + 3] = prev;
    else this.#tail = prev;
    this.#length--;
    while (this.#level > 1 && i32[2 * HEAD + 4 + 2 * (this.#level - 1)] === NIL) this.#level--;
  }

  /** 0-based rank of a member in ascending order, or undefined. */
  rank(member: string): number | undefined {
    const block = this.find(member);
    if (block === NIL) return undefined;
    return this.rankAt(block);
  }

  /** 0-based rank of a node in ascending order. */
  rankAt(block: ZPos): number {
    const i32 = this.#i32;
    const f64 = this.#f64;
    const members = this.#members;
    const score = f64[block];
    const member = members[slot(block)];
    let rank = 0;
    let x = HEAD;
    for (let i = this.#level - 1; i >= 0; i--) {
      let f = i32[2 * x + 4 + 2 * i];
      while (f !== NIL) {
        const s = f64[f];
        if (s > score || (s === score && members[slot(f)] > member)) break;
        rank += i32[2 * x + 5 + 2 * i];
        x = f;
        f = i32[2 * x + 4 + 2 * i];
      }
      if (x === block) return rank - 1;
    }
    throw new Error("zset: node missing from skip list");
  }

  /** The element at a 0-based ascending rank, or NIL. */
  byRank(rank: number): ZPos {
    if (rank < 0 || rank >= this.#length) return NIL;
    const i32 = this.#i32;
    const target = rank + 1;
    let traversed = 0;
    let x = HEAD;
    for (let i = this.#level - 1; i >= 0; i--) {
      let f = i32[2 * x + 4 + 2 * i];
      while (f !== NIL && traversed + i32[2 * x + 5 + 2 * i] <= target) {
        traversed += i32[2 * x + 5 + 2 * i];
        x = f;
        f = i32[2 * x + 4 + 2 * i];
      }
      if (traversed === target) return x;
    }
    return NIL;
  }

  first(): ZPos {
    return this.#i32[2 * HEAD + 4];
  }

  last(): ZPos {
    return this.#tail;
  }

  /** The first element with a score of at least the range's minimum, or NIL. */
  #firstFromScore(range: ScoreRange): ZPos {
    const i32 = this.#i32;
    const f64 = this.#f64;
    const min = range.min;
    const exclusive = range.minExclusive;
    let x = HEAD;
    for (let i = this.#level - 1; i >= 0; i--) {
      let f = i32[2 * x + 4 + 2 * i];
      while (f !== NIL && (exclusive ? f64[f] <= min : f64[f] < min)) {
        x = f;
        f = i32[2 * x + 4 + 2 * i];
      }
    }
    return i32[2 * x + 4];
  }

  /** The last element with a score of at most the range's maximum, or NIL. */
  #lastToScore(range: ScoreRange): ZPos {
    const i32 = this.#i32;
    const f64 = this.#f64;
    const max = range.max;
    const exclusive = range.maxExclusive;
    let x = HEAD;
    for (let i = this.#level - 1; i >= 0; i--) {
      let f = i32[2 * x + 4 + 2 * i];
      while (f !== NIL && (exclusive ? f64[f] < max : f64[f] <= max)) {
        x = f;
        f = i32[2 * x + 4 + 2 * i];
      }
    }
    return x === HEAD ? NIL : x;
  }

  /** The first element (ascending) whose member satisfies `ok`, given `ok` is monotonic false..true. */
  #firstWhere(ok: (member: string) => boolean): ZPos {
    const i32 = this.#i32;
    const members = this.#members;
    let x = HEAD;
    for (let i = this.#level - 1; i >= 0; i--) {
      let f = i32[2 * x + 4 + 2 * i];
      while (f !== NIL && !ok(members[slot(f)])) {
        x = f;
        f = i32[2 * x + 4 + 2 * i];
      }
    }
    return i32[2 * x + 4];
  }

  /** The last element (ascending) whose member satisfies `ok`, given `ok` is monotonic true..false. */
  #lastWhere(ok: (member: string) => boolean): ZPos {
    const i32 = this.#i32;
    const members = this.#members;
    let x = HEAD;
    for (let i = this.#level - 1; i >= 0; i--) {
      let f = i32[2 * x + 4 + 2 * i];
      while (f !== NIL && ok(members[slot(f)])) {
        x = f;
        f = i32[2 * x + 4 + 2 * i];
      }
    }
    return x === HEAD ? NIL : x;
  }

  firstInScore(range: ScoreRange): ZPos {
    const pos = this.#firstFromScore(range);
    return pos !== NIL && scoreLteMax(this.#f64[pos], range) ? pos : NIL;
  }

  lastInScore(range: ScoreRange): ZPos {
    const pos = this.#lastToScore(range);
    return pos !== NIL && scoreGteMin(this.#f64[pos], range) ? pos : NIL;
  }

  firstInLex(range: LexRange): ZPos {
    const pos = this.#firstWhere((member) => lexGteMin(member, range.min));
    return pos !== NIL && lexLteMax(this.memberAt(pos), range.max) ? pos : NIL;
  }

  lastInLex(range: LexRange): ZPos {
    const pos = this.#lastWhere((member) => lexLteMax(member, range.max));
    return pos !== NIL && lexGteMin(this.memberAt(pos), range.min) ? pos : NIL;
  }

  /** Members and scores in ascending order (for COPY, DUMP and tests). */
  *entries(): Generator<[string, number]> {
    for (let x = this.first(); x !== NIL; x = this.next(x)) {
      yield [this.memberAt(x), this.scoreAt(x)];
    }
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
