// The sorted set: a skip list with span counts (Pugh 1990; Redis t_zset.c
// keeps the same shape) ordered by (score, member), plus a member -> score
// map. Lookups by member are O(1); insert, delete, rank, the element at a
// rank, and the first/last element in a score or lex range are O(log n)
// expected. Members are binary strings (one char per byte), so JS string
// comparison is Redis's memcmp order.
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
 * Approximate heap cost of one element beyond its member bytes: the node
 * object, its two small arrays, and the Map entry. An estimate, like
 * ELEMENT_OVERHEAD_BYTES for the other aggregates.
 */
export const ZSET_ELEMENT_OVERHEAD_BYTES = 128;

/** One element, linked to its neighbours in ascending order. */
export interface ZNode {
  readonly member: string;
  readonly score: number;
  /** The previous element, or null for the first. */
  backward: ZNode | null;
  /** The next element, or null for the last. */
  forward: ZNode | null;
}

interface Node extends ZNode {
  /** This node's block in the link pool. */
  readonly block: number;
}

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

/** Block of the head (LEVEL_MAX levels, score -inf); NIL ends a level. */
const HEAD = 0;
const NIL = -1;
/** 8-byte units a block of `level` levels takes: score, level, then (forward, span) pairs. */
function blockUnits(level: number): number {
  return 2 + level;
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
const RANK = new Float64Array(LEVEL_MAX);

/** A sorted set value. */
export class ZSetValue {
  readonly scores = new Map<string, number>();
  bytes = 0;
  // The skip list lives in one typed pool: block b holds its score at
  // f64[b], its level at i32[2b + 2], and for level i its forward block at
  // i32[2b + 4 + 2i] and that link's span at i32[2b + 5 + 2i]. A search step
  // then reads one cache line, where nodes as objects with link arrays and
  // boxed scores took three (measured: about twice the ZADD rate on 1M).
  #f64 = new Float64Array(0);
  #i32 = new Int32Array(0);
  #top = 0;
  /** Freed blocks by level. */
  #free: number[][] = [];
  /** The element object of each block. */
  #nodes: (Node | undefined)[] = [];
  #tail: Node | null = null;
  #level = 1;
  /** Elements in the skip list (the member map may already count one being inserted). */
  #length = 0;

  constructor() {
    this.#reset(POOL_UNITS_INITIAL);
  }

  /** An empty skip list in a new pool of `units`. */
  #reset(units: number): void {
    const buffer = new ArrayBuffer(units * 8);
    this.#f64 = new Float64Array(buffer);
    this.#i32 = new Int32Array(buffer);
    this.#f64[HEAD] = -Infinity;
    this.#i32[2 * HEAD + 2] = LEVEL_MAX;
    for (let i = 0; i < LEVEL_MAX; i++) {
      this.#i32[2 * HEAD + 4 + 2 * i] = NIL;
      this.#i32[2 * HEAD + 5 + 2 * i] = 0;
    }
    this.#top = blockUnits(LEVEL_MAX);
    this.#free = [];
    this.#nodes = [];
    this.#tail = null;
    this.#level = 1;
    this.#length = 0;
  }

  /** Rebuilds the skip list in a pool sized to its elements (new ZNode objects). */
  #compact(): void {
    const elements = [...this.entries()];
    this.#reset(Math.max(POOL_UNITS_INITIAL, blockUnits(LEVEL_MAX) + 8 * elements.length));
    for (const [member, score] of elements) this.#insert(member, score);
  }

  get size(): number {
    return this.scores.size;
  }

  /** Adds a member or moves it to a new score. */
  set(member: string, score: number): void {
    this.update(member, score, this.scores.get(member));
  }

  /**
   * `set` for a caller that already looked the member up: `old` is its
   * current score, undefined when absent (one member-map probe fewer, which
   * on a large set is a cache miss or two).
   */
  update(member: string, score: number, old: number | undefined): void {
    // Redis's small sets (listpacks) store -0 as 0, and reply 0 afterwards;
    // its large ones keep -0. We keep the small-set behaviour throughout.
    if (score === 0) score = 0;
    if (old !== undefined) {
      if (old === score) return; // Redis compares with ==, so -0 keeps 0
      this.#remove(member, old);
    } else {
      this.bytes += member.length + ZSET_ELEMENT_OVERHEAD_BYTES;
    }
    this.scores.set(member, score);
    this.#insert(member, score);
  }

  delete(member: string): boolean {
    const score = this.scores.get(member);
    if (score === undefined) return false;
    this.#remove(member, score);
    this.scores.delete(member);
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

  /** A block of `level` levels, from the free list or the end of the pool (grown by doubling). */
  #alloc(level: number): number {
    const free = this.#free[level];
    if (free !== undefined && free.length > 0) return free.pop()!;
    const block = this.#top;
    const end = block + blockUnits(level);
    if (end > this.#f64.length) {
      const buffer = new ArrayBuffer(Math.max(end, this.#f64.length * 2) * 8);
      const f64 = new Float64Array(buffer);
      f64.set(this.#f64);
      this.#f64 = f64;
      this.#i32 = new Int32Array(buffer);
    }
    this.#top = end;
    return block;
  }

  #release(block: number): void {
    const level = this.#i32[2 * block + 2];
    (this.#free[level] ??= []).push(block);
    this.#nodes[block] = undefined;
  }

  /** (score, member) order: true when block `b` sorts before (score, member). */
  #before(b: number, score: number, member: string): boolean {
    const s = this.#f64[b];
    return s < score || (s === score && this.#nodes[b]!.member < member);
  }

  #insert(member: string, score: number): void {
    let i32 = this.#i32;
    let x = HEAD;
    for (let i = this.#level - 1; i >= 0; i--) {
      RANK[i] = i === this.#level - 1 ? 0 : RANK[i + 1];
      let f = i32[2 * x + 4 + 2 * i];
      while (f !== NIL && this.#before(f, score, member)) {
        RANK[i] += i32[2 * x + 5 + 2 * i];
        x = f;
        f = i32[2 * x + 4 + 2 * i];
      }
      UPDATE[i] = x;
    }
    const level = this.#randomLevel();
    if (level > this.#level) {
      for (let i = this.#level; i < level; i++) {
        RANK[i] = 0;
        UPDATE[i] = HEAD;
        i32[2 * HEAD + 5 + 2 * i] = this.#length;
      }
      this.#level = level;
    }
    const block = this.#alloc(level);
    i32 = this.#i32;
    this.#f64[block] = score;
    i32[2 * block + 2] = level;
    for (let i = 0; i < level; i++) {
      const u = UPDATE[i];
      i32[2 * block + 4 + 2 * i] = i32[2 * u + 4 + 2 * i];
      i32[2 * u + 4 + 2 * i] = block;
      i32[2 * block + 5 + 2 * i] = i32[2 * u + 5 + 2 * i] - (RANK[0] - RANK[i]);
      i32[2 * u + 5 + 2 * i] = RANK[0] - RANK[i] + 1;
    }
    for (let i = level; i < this.#level; i++) i32[2 * UPDATE[i] + 5 + 2 * i]++;
    const backward = UPDATE[0] === HEAD ? null : this.#nodes[UPDATE[0]]!;
    const next = i32[2 * block + 4];
    const forward = next === NIL ? null : this.#nodes[next]!;
    const node: Node = { member, score, backward, forward, block };
    this.#nodes[block] = node;
    if (backward !== null) backward.forward = node;
    if (forward !== null) forward.backward = node;
    else this.#tail = node;
    this.#length++;
  }

  #remove(member: string, score: number): void {
    const i32 = this.#i32;
    let x = HEAD;
    for (let i = this.#level - 1; i >= 0; i--) {
      let f = i32[2 * x + 4 + 2 * i];
      while (f !== NIL && this.#before(f, score, member)) {
        x = f;
        f = i32[2 * x + 4 + 2 * i];
      }
      UPDATE[i] = x;
    }
    const block = i32[2 * x + 4];
    const node = block === NIL ? undefined : this.#nodes[block];
    if (node === undefined || node.member !== member) {
      throw new Error("zset: member missing from skip list");
    }
    for (let i = 0; i < this.#level; i++) {
      const u = UPDATE[i];
      if (i32[2 * u + 4 + 2 * i] === block) {
        i32[2 * u + 5 + 2 * i] += i32[2 * block + 5 + 2 * i] - 1;
        i32[2 * u + 4 + 2 * i] = i32[2 * block + 4 + 2 * i];
      } else {
        i32[2 * u + 5 + 2 * i]--;
      }
    }
    if (node.forward !== null) node.forward.backward = node.backward;
    else this.#tail = node.backward as Node | null;
    if (node.backward !== null) node.backward.forward = node.forward;
    this.#release(block);
    this.#length--;
    while (this.#level > 1 && i32[2 * HEAD + 4 + 2 * (this.#level - 1)] === NIL) this.#level--;
  }

  /** 0-based rank of a member in ascending order, or undefined. */
  rank(member: string): number | undefined {
    const score = this.scores.get(member);
    if (score === undefined) return undefined;
    const i32 = this.#i32;
    const f64 = this.#f64;
    let rank = 0;
    let x = HEAD;
    for (let i = this.#level - 1; i >= 0; i--) {
      let f = i32[2 * x + 4 + 2 * i];
      while (
        f !== NIL &&
        (f64[f] < score || (f64[f] === score && this.#nodes[f]!.member <= member))
      ) {
        rank += i32[2 * x + 5 + 2 * i];
        x = f;
        f = i32[2 * x + 4 + 2 * i];
      }
      if (x !== HEAD && this.#nodes[x]!.member === member) return rank - 1;
    }
    return undefined;
  }

  /** The element at a 0-based ascending rank, or null. */
  byRank(rank: number): ZNode | null {
    if (rank < 0 || rank >= this.scores.size) return null;
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
      if (traversed === target) return this.#nodes[x]!;
    }
    return null;
  }

  first(): ZNode | null {
    const block = this.#i32[2 * HEAD + 4];
    return block === NIL ? null : this.#nodes[block]!;
  }

  last(): ZNode | null {
    return this.#tail;
  }

  /** The first element (ascending) whose position satisfies `ok`, given `ok` is monotonic false..true. */
  #firstWhere(ok: (block: number) => boolean): ZNode | null {
    const i32 = this.#i32;
    let x = HEAD;
    for (let i = this.#level - 1; i >= 0; i--) {
      let f = i32[2 * x + 4 + 2 * i];
      while (f !== NIL && !ok(f)) {
        x = f;
        f = i32[2 * x + 4 + 2 * i];
      }
    }
    const block = i32[2 * x + 4];
    return block === NIL ? null : this.#nodes[block]!;
  }

  /** The last element (ascending) satisfying `ok`, given `ok` is monotonic true..false. */
  #lastWhere(ok: (block: number) => boolean): ZNode | null {
    const i32 = this.#i32;
    let x = HEAD;
    for (let i = this.#level - 1; i >= 0; i--) {
      let f = i32[2 * x + 4 + 2 * i];
      while (f !== NIL && ok(f)) {
        x = f;
        f = i32[2 * x + 4 + 2 * i];
      }
    }
    return x === HEAD ? null : this.#nodes[x]!;
  }

  firstInScore(range: ScoreRange): ZNode | null {
    const f64 = this.#f64;
    const node = this.#firstWhere((b) => scoreGteMin(f64[b], range));
    return node !== null && scoreLteMax(node.score, range) ? node : null;
  }

  lastInScore(range: ScoreRange): ZNode | null {
    const f64 = this.#f64;
    const node = this.#lastWhere((b) => scoreLteMax(f64[b], range));
    return node !== null && scoreGteMin(node.score, range) ? node : null;
  }

  firstInLex(range: LexRange): ZNode | null {
    const node = this.#firstWhere((b) => lexGteMin(this.#nodes[b]!.member, range.min));
    return node !== null && lexLteMax(node.member, range.max) ? node : null;
  }

  lastInLex(range: LexRange): ZNode | null {
    const node = this.#lastWhere((b) => lexLteMax(this.#nodes[b]!.member, range.max));
    return node !== null && lexGteMin(node.member, range.min) ? node : null;
  }

  /** Members in ascending order (for COPY and tests). */
  *entries(): Generator<[string, number]> {
    for (let x = this.first(); x !== null; x = x.forward) yield [x.member, x.score];
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
