// The sorted set: a skip list with span counts (Pugh 1990; Redis t_zset.c
// keeps the same shape) ordered by (score, member), plus a member -> node
// map. Lookups by member are O(1); insert, delete, rank, the element at a
// rank, and the first/last element in a score or lex range are O(log n)
// expected. Members are binary strings (one char per byte), so JS string
// comparison is Redis's memcmp order.
//
// The whole skip list lives in one typed pool and an array of member
// strings, with no object per element: a node is a number (its block in the
// pool, a `ZPos`) that stays valid until the set next changes. That keeps
// an element to its member string, a Map slot and about four pool words
// (the garbage collector has nothing else to trace), and a search step to
// one cache line.
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
 * and maxmemory: the member string's header, its Map entry with the
 * table's slack, its slot in the member array, its pool block with the
 * pool's growth slack. Measured (bench/micro/zset_memory.ts, 1M members of
 * 8 bytes, heap after a full GC plus the pool): 124 bytes a member, so 116
 * beyond its bytes; kept a little above so maxmemory stays conservative.
 */
export const ZSET_ELEMENT_OVERHEAD_BYTES = 128;

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

/** A read-only member -> score view of a sorted set, shaped like a ReadonlyMap's reading side. */
export interface ScoreView extends Iterable<[string, number]> {
  readonly size: number;
  get(member: string): number | undefined;
  has(member: string): boolean;
  keys(): IterableIterator<string>;
}

/** A sorted set value. */
export class ZSetValue {
  /** member -> its block. */
  readonly #blocks = new Map<string, ZPos>();
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
    const blocks = this.#blocks;
    const scoreOf = (block: ZPos): number => this.#f64[block];
    this.scores = {
      get size() {
        return blocks.size;
      },
      get: (member) => {
        const block = blocks.get(member);
        return block === undefined ? undefined : scoreOf(block);
      },
      has: (member) => blocks.has(member),
      keys: () => blocks.keys(),
      *[Symbol.iterator]() {
        for (const [member, block] of blocks) yield [member, scoreOf(block)];
      },
    };
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
    for (const [member, score] of elements) this.#blocks.set(member, this.#insert(member, score));
  }

  get size(): number {
    return this.#blocks.size;
  }

  /** The node of a member, or NIL. */
  find(member: string): ZPos {
    return this.#blocks.get(member) ?? NIL;
  }

  /** A member's score, or undefined. */
  score(member: string): number | undefined {
    const block = this.#blocks.get(member);
    return block === undefined ? undefined : this.#f64[block];
  }

  has(member: string): boolean {
    return this.#blocks.has(member);
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
    const block = this.#blocks.get(member);
    if (block === undefined) this.add(member, score);
    else this.move(block, score);
  }

  /** Adds a member that is not in the set (a caller that already looked it up). */
  add(member: string, score: number): void {
    // Redis's small sets (listpacks) store -0 as 0, and reply 0 afterwards;
    // its large ones keep -0. We keep the small-set behaviour throughout.
    if (score === 0) score = 0;
    this.bytes += member.length + ZSET_ELEMENT_OVERHEAD_BYTES;
    this.#blocks.set(member, this.#insert(member, score));
  }

  /**
   * Gives the element at `pos` a new score. As Redis's zslUpdateScore, it
   * stays where it is when its neighbours still bound it (no search, no
   * relinking), else it is unlinked and linked again: the same block, so
   * the member map is not touched either way.
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
    const block = this.#blocks.get(member);
    if (block === undefined) return false;
    this.#unlink(block);
    this.#release(block);
    this.#blocks.delete(member);
    this.bytes -= member.length + ZSET_ELEMENT_OVERHEAD_BYTES;
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
    const block = this.#blocks.get(member);
    if (block === undefined) return undefined;
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
