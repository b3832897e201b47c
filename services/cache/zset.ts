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

/** Skip list height bound and promotion odds, Redis's ZSKIPLIST_MAXLEVEL and P. */
const LEVEL_MAX = 32;
const LEVEL_P = 0.25;

/**
 * Approximate heap cost of one element beyond its member bytes: the node
 * object, its two small arrays, and the Map entry. An estimate, like
 * ELEMENT_OVERHEAD_BYTES for the other aggregates.
 */
export const ZSET_ELEMENT_OVERHEAD_BYTES = 128;

/** One element; `next[i]` skips `span[i]` elements at level i. */
export interface ZNode {
  readonly member: string;
  readonly score: number;
  backward: ZNode | null;
  readonly next: (ZNode | null)[];
  readonly span: number[];
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

function newNode(level: number, member: string, score: number): ZNode {
  return {
    member,
    score,
    backward: null,
    next: new Array<ZNode | null>(level).fill(null),
    span: new Array<number>(level).fill(0),
  };
}

/** (score, member) order: true when a sorts before b. */
function before(score: number, member: string, node: ZNode): boolean {
  return node.score < score || (node.score === score && node.member < member);
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

/** A sorted set value. */
export class ZSetValue {
  readonly scores = new Map<string, number>();
  bytes = 0;
  #head: ZNode = newNode(LEVEL_MAX, "", -Infinity);
  #tail: ZNode | null = null;
  #level = 1;

  get size(): number {
    return this.scores.size;
  }

  /** Adds a member or moves it to a new score. */
  set(member: string, score: number): void {
    // Redis's small sets (listpacks) store -0 as 0, and reply 0 afterwards;
    // its large ones keep -0. We keep the small-set behaviour throughout.
    if (score === 0) score = 0;
    const old = this.scores.get(member);
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
    return true;
  }

  #randomLevel(): number {
    let level = 1;
    while (level < LEVEL_MAX && Math.random() < LEVEL_P) level++;
    return level;
  }

  #insert(member: string, score: number): void {
    const update: ZNode[] = new Array(LEVEL_MAX);
    const rank: number[] = new Array(LEVEL_MAX).fill(0);
    let x = this.#head;
    for (let i = this.#level - 1; i >= 0; i--) {
      rank[i] = i === this.#level - 1 ? 0 : rank[i + 1];
      while (x.next[i] !== null && before(score, member, x.next[i]!)) {
        rank[i] += x.span[i];
        x = x.next[i]!;
      }
      update[i] = x;
    }
    const level = this.#randomLevel();
    if (level > this.#level) {
      for (let i = this.#level; i < level; i++) {
        rank[i] = 0;
        update[i] = this.#head;
        update[i].span[i] = this.scores.size - 1; // size already counts the new member
      }
      this.#level = level;
    }
    const node = newNode(level, member, score);
    for (let i = 0; i < level; i++) {
      node.next[i] = update[i].next[i];
      update[i].next[i] = node;
      node.span[i] = update[i].span[i] - (rank[0] - rank[i]);
      update[i].span[i] = rank[0] - rank[i] + 1;
    }
    for (let i = level; i < this.#level; i++) update[i].span[i]++;
    node.backward = update[0] === this.#head ? null : update[0];
    if (node.next[0] !== null) node.next[0]!.backward = node;
    else this.#tail = node;
  }

  #remove(member: string, score: number): void {
    const update: ZNode[] = new Array(LEVEL_MAX);
    let x = this.#head;
    for (let i = this.#level - 1; i >= 0; i--) {
      while (x.next[i] !== null && before(score, member, x.next[i]!)) x = x.next[i]!;
      update[i] = x;
    }
    const node = x.next[0]!;
    if (node === null || node.member !== member) {
      throw new Error("zset: member missing from skip list");
    }
    for (let i = 0; i < this.#level; i++) {
      if (update[i].next[i] === node) {
        update[i].span[i] += node.span[i] - 1;
        update[i].next[i] = node.next[i];
      } else {
        update[i].span[i]--;
      }
    }
    if (node.next[0] !== null) node.next[0]!.backward = node.backward;
    else this.#tail = node.backward;
    while (this.#level > 1 && this.#head.next[this.#level - 1] === null) this.#level--;
  }

  /** 0-based rank of a member in ascending order, or undefined. */
  rank(member: string): number | undefined {
    const score = this.scores.get(member);
    if (score === undefined) return undefined;
    let rank = 0;
    let x = this.#head;
    for (let i = this.#level - 1; i >= 0; i--) {
      while (
        x.next[i] !== null &&
        (x.next[i]!.score < score || (x.next[i]!.score === score && x.next[i]!.member <= member))
      ) {
        rank += x.span[i];
        x = x.next[i]!;
      }
      if (x.member === member && x !== this.#head) return rank - 1;
    }
    return undefined;
  }

  /** The element at a 0-based ascending rank, or null. */
  byRank(rank: number): ZNode | null {
    if (rank < 0 || rank >= this.scores.size) return null;
    const target = rank + 1;
    let traversed = 0;
    let x = this.#head;
    for (let i = this.#level - 1; i >= 0; i--) {
      while (x.next[i] !== null && traversed + x.span[i] <= target) {
        traversed += x.span[i];
        x = x.next[i]!;
      }
      if (traversed === target) return x;
    }
    return null;
  }

  first(): ZNode | null {
    return this.#head.next[0];
  }

  last(): ZNode | null {
    return this.#tail;
  }

  /** The first element (ascending) whose position satisfies `ok`, given `ok` is monotonic false..true. */
  #firstWhere(ok: (node: ZNode) => boolean): ZNode | null {
    let x = this.#head;
    for (let i = this.#level - 1; i >= 0; i--) {
      while (x.next[i] !== null && !ok(x.next[i]!)) x = x.next[i]!;
    }
    return x.next[0];
  }

  /** The last element (ascending) satisfying `ok`, given `ok` is monotonic true..false. */
  #lastWhere(ok: (node: ZNode) => boolean): ZNode | null {
    let x = this.#head;
    for (let i = this.#level - 1; i >= 0; i--) {
      while (x.next[i] !== null && ok(x.next[i]!)) x = x.next[i]!;
    }
    return x === this.#head ? null : x;
  }

  firstInScore(range: ScoreRange): ZNode | null {
    const node = this.#firstWhere((n) => scoreGteMin(n.score, range));
    return node !== null && scoreLteMax(node.score, range) ? node : null;
  }

  lastInScore(range: ScoreRange): ZNode | null {
    const node = this.#lastWhere((n) => scoreLteMax(n.score, range));
    return node !== null && scoreGteMin(node.score, range) ? node : null;
  }

  firstInLex(range: LexRange): ZNode | null {
    const node = this.#firstWhere((n) => lexGteMin(n.member, range.min));
    return node !== null && lexLteMax(node.member, range.max) ? node : null;
  }

  lastInLex(range: LexRange): ZNode | null {
    const node = this.#lastWhere((n) => lexLteMax(n.member, range.max));
    return node !== null && lexGteMin(node.member, range.min) ? node : null;
  }

  /** Members in ascending order (for COPY and tests). */
  *entries(): Generator<[string, number]> {
    for (let x = this.#head.next[0]; x !== null; x = x.next[0]) yield [x.member, x.score];
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

const FLOAT_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const INF_TEXT = /^[+-]?(inf|infinity)$/i;

/**
 * A score argument as Redis's getDoubleFromObject takes it (strtod on the
 * whole string): no leading space, no trailing bytes, no NaN, and no
 * overflow or underflow to zero (ERANGE). Null when not one.
 */
export function parseScore(text: string): number | null {
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
