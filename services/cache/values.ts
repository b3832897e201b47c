// The cache's value types and the byte/number helpers every command shares.
//
// Keys and every stored value (strings, hash fields and values, list
// elements, set members) are binary strings: one char per byte, 0-255, so
// any byte sequence round-trips exactly. V8 stores these one byte per char,
// far smaller than a Uint8Array per value (which costs ~150 bytes of object). Integers follow
// Redis's string2ll (int64, no leading "+", no spaces), floats its
// strtold-based rules (no "nan", no trailing space).

import type { Bytes } from "../../lib/bytes.ts";
import type { CommandArgs } from "../../lib/resp/codec.ts";
import { ZSetValue } from "./zset.ts";

/** Approximate heap cost of one element inside an aggregate, beyond its bytes. */
export const ELEMENT_OVERHEAD_BYTES = 48;

const SCRATCH_CHARS_MAX = 64;
/** One reused array per length, so apply sees exactly `n` arguments. */
const SCRATCH_CHARS: number[][] = Array.from(
  { length: SCRATCH_CHARS_MAX + 1 },
  (_, n) => new Array<number>(n).fill(0),
);

/** A binary string from bytes, one char per byte. */
export function toKey(bytes: Uint8Array): string {
  return bytesToKey(bytes, 0, bytes.length);
}

/**
 * Argument `i` of a command as a binary string, read in place from the
 * read buffer when the arguments lie in one (no view made: see
 * CommandArgs.buffer). The hot commands' keys and values come this way.
 */
export function argKey(args: CommandArgs, i: number): string {
  const buffer = args.buffer;
  if (buffer === undefined) return toKey(args.at(i));
  return bytesToKey(buffer, args.startOf(i), args.lengthOf(i));
}

/** The binary string of `n` bytes at `start` of `bytes`. */
function bytesToKey(bytes: Uint8Array, start: number, n: number): string {
  switch (n) { // tiny values (counters, flags) skip the apply machinery
    case 0:
      return "";
    case 1:
      return String.fromCharCode(bytes[start]);
    case 2:
      return String.fromCharCode(bytes[start], bytes[start + 1]);
    case 3:
      return String.fromCharCode(bytes[start], bytes[start + 1], bytes[start + 2]);
    case 4:
      return String.fromCharCode(
        bytes[start],
        bytes[start + 1],
        bytes[start + 2],
        bytes[start + 3],
      );
  }
  // fromCharCode.apply is the fastest exact way V8 offers (about twice as
  // fast as concatenating chars). Short keys are copied into a reused plain
  // array of their length first: apply reads a packed array of small integers faster than
  // a typed array (about 50 ns against 70 for a 20-byte key). Long values
  // are chunked so the argument count stays far below the engine's limit.
  if (n <= SCRATCH_CHARS_MAX) {
    const chars = SCRATCH_CHARS[n];
    for (let i = 0; i < n; i++) chars[i] = bytes[start + i];
    return String.fromCharCode.apply(null, chars);
  }
  if (start !== 0 || n !== bytes.length) bytes = bytes.subarray(start, start + n);
  if (n <= 8192) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  let s = "";
  for (let i = 0; i < n; i += 8192) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192) as unknown as number[]);
  }
  return s;
}

/** Bytes from a binary string. */
export function fromKey(text: string): Bytes {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/** Copies a view (argument views die with the read buffer). */
export function copy(bytes: Uint8Array): Bytes {
  return bytes.slice() as Bytes;
}

/** Bytes of an integer or float in decimal. */
export function numberBytes(n: number | bigint): Bytes {
  return fromKey(String(n));
}

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/** Parses an int64 like Redis's string2ll; null when not one. */
export function parseInteger(bytes: Uint8Array): number | bigint | null {
  const n = bytes.length;
  if (n === 0 || n > 20) return null;
  let i = 0;
  let negative = false;
  if (bytes[0] === 45) {
    if (n === 1) return null;
    negative = true;
    i = 1;
  }
  if (bytes[i] === 48 && n > i + 1) return null; // no leading zeros
  if (negative && bytes[i] === 48) return null; // "-0" is not accepted
  let value = 0;
  for (let j = i; j < n; j++) {
    const d = bytes[j] - 48;
    if (d < 0 || d > 9) return null;
    value = value * 10 + d;
  }
  if (n - i <= 15) return negative ? -value : value;
  const big = BigInt(toKey(bytes));
  if (big > INT64_MAX || big < INT64_MIN) return null;
  return Number.isSafeInteger(Number(big)) ? Number(big) : big;
}

/** Adds two int64s; null on overflow. */
export function addInteger(a: number | bigint, b: number | bigint): number | bigint | null {
  if (typeof a === "number" && typeof b === "number") {
    const sum = a + b;
    if (Number.isSafeInteger(sum)) return sum;
  }
  const sum = BigInt(a) + BigInt(b);
  if (sum > INT64_MAX || sum < INT64_MIN) return null;
  return Number.isSafeInteger(Number(sum)) ? Number(sum) : sum;
}

/** Parses a float as Redis does for INCRBYFLOAT and HINCRBYFLOAT; null when not one. */
export function parseFloatArg(bytes: Uint8Array): number | null {
  const text = toKey(bytes);
  if (text.length === 0 || /^\s|\s$/.test(text)) return null;
  const lower = text.toLowerCase();
  if (lower === "inf" || lower === "+inf" || lower === "infinity") return Infinity;
  if (lower === "-inf" || lower === "-infinity") return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text)) return null;
  return Number(text);
}

/**
 * Redis's glob matching (stringmatchlen): * ? [abc] [^a] [a-z] and \ escapes.
 *
 * Backtracking-free: every token but `*` matches exactly one character, so
 * after a `*` only the most recent star needs a resume point (a later star
 * subsumes every choice an earlier one could make). Cost is at most
 * O(pattern × text) steps, whatever the pattern: Redis's recursive matcher
 * takes exponential time on `*a*a*a...b` (7.0 bounds only its nesting), and
 * KEYS with 20 stars would never return.
 */
export function globMatch(pattern: string, text: string, nocase = false): boolean {
  if (nocase) {
    pattern = pattern.toLowerCase();
    text = text.toLowerCase();
  }
  const p = pattern;
  const s = text;
  let pi = 0;
  let si = 0;
  // Where to resume after the last star: the token after it, and the text position it absorbed up to.
  let starPi = -1;
  let starSi = 0;
  while (si < s.length) {
    if (pi < p.length && p[pi] === "*") {
      while (pi < p.length && p[pi] === "*") pi++;
      if (pi === p.length) return true;
      starPi = pi;
      starSi = si;
      continue;
    }
    const next = pi < p.length ? matchOne(p, pi, s[si]) : -1;
    if (next !== -1) {
      pi = next;
      si++;
      continue;
    }
    if (starPi === -1) return false;
    // Let the last star absorb one more character and retry from after it.
    pi = starPi;
    si = ++starSi;
  }
  while (pi < p.length && p[pi] === "*") pi++;
  return pi === p.length;
}

/**
 * Matches the one-character token at `p[pi]` (not a star) against `c`:
 * the index after the token, or -1. An unterminated `[` class runs to the
 * end of the pattern, as in Redis.
 */
function matchOne(p: string, pi: number, c: string): number {
  const t = p[pi];
  if (t === "?") return pi + 1;
  if (t === "[") {
    pi++;
    const negate = p[pi] === "^";
    if (negate) pi++;
    let matched = false;
    while (pi < p.length && p[pi] !== "]") {
      if (p[pi] === "\\" && pi + 1 < p.length) {
        pi++;
        if (p[pi] === c) matched = true;
      } else if (pi + 2 < p.length && p[pi + 1] === "-" && p[pi + 2] !== "]") {
        let lo = p[pi];
        let hi = p[pi + 2];
        if (lo > hi) [lo, hi] = [hi, lo];
        if (c >= lo && c <= hi) matched = true;
        pi += 2;
      } else if (p[pi] === c) {
        matched = true;
      }
      pi++;
    }
    if (negate) matched = !matched;
    if (!matched) return -1;
    return pi < p.length ? pi + 1 : pi; // past ']'
  }
  if (t === "\\" && pi + 1 < p.length) pi++;
  return p[pi] === c ? pi + 1 : -1;
}

/** A hash: fields to values, with optional per-field expiry (Redis 7.4 HEXPIRE). */
export class HashValue {
  readonly fields = new Map<string, string>();
  /** Field expiry times in ms since the epoch; absent when the field has none. */
  readonly fieldExpires = new Map<string, number>();
  bytes = 0;

  set(field: string, value: string): boolean {
    const old = this.fields.get(field);
    if (old !== undefined) this.bytes -= old.length;
    else this.bytes += field.length + ELEMENT_OVERHEAD_BYTES;
    this.bytes += value.length;
    this.fields.set(field, value);
    return old === undefined;
  }

  delete(field: string): boolean {
    const old = this.fields.get(field);
    if (old === undefined) return false;
    this.bytes -= old.length + field.length + ELEMENT_OVERHEAD_BYTES;
    this.fields.delete(field);
    this.fieldExpires.delete(field);
    return true;
  }

  /** Drops fields whose expiry has passed. */
  expireFields(now: number): void {
    if (this.fieldExpires.size === 0) return;
    for (const [field, at] of this.fieldExpires) {
      if (at <= now) this.delete(field);
    }
  }
}

/** Redis's set-max-intset-entries: small all-integer sets reply in numeric order. */
const INTSET_ENTRIES_MAX = 512;
const CANONICAL_INT = /^(0|-?[1-9]\d{0,18})$/;

/** A set of binary-string members. */
export class SetValue {
  readonly members = new Set<string>();
  bytes = 0;
  #nonIntegers = 0;

  add(member: string): boolean {
    if (this.members.has(member)) return false;
    this.members.add(member);
    this.bytes += member.length + ELEMENT_OVERHEAD_BYTES;
    if (!CANONICAL_INT.test(member)) this.#nonIntegers++;
    return true;
  }

  delete(member: string): boolean {
    if (!this.members.delete(member)) return false;
    this.bytes -= member.length + ELEMENT_OVERHEAD_BYTES;
    if (!CANONICAL_INT.test(member)) this.#nonIntegers--;
    return true;
  }

  /**
   * Members in reply order: numeric order while the set would be an intset
   * in Redis (all integers, at most 512), insertion order otherwise.
   */
  ordered(): Iterable<string> {
    if (this.#nonIntegers > 0 || this.members.size > INTSET_ENTRIES_MAX) return this.members;
    return [...this.members].sort((a, b) => {
      const x = BigInt(a);
      const y = BigInt(b);
      return x < y ? -1 : x > y ? 1 : 0;
    });
  }
}

/** A list as a growable ring buffer: O(1) push and pop at both ends. */
export class ListValue {
  #items: (string | undefined)[] = new Array(8);
  #head = 0;
  #size = 0;
  bytes = 0;

  get length(): number {
    return this.#size;
  }

  #grow(): void {
    const old = this.#items;
    const items: (string | undefined)[] = new Array(old.length * 2);
    for (let i = 0; i < this.#size; i++) items[i] = old[(this.#head + i) & (old.length - 1)];
    this.#items = items;
    this.#head = 0;
  }

  pushBack(value: string): void {
    if (this.#size === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#size) & (this.#items.length - 1)] = value;
    this.#size++;
    this.bytes += value.length + ELEMENT_OVERHEAD_BYTES;
  }

  pushFront(value: string): void {
    if (this.#size === this.#items.length) this.#grow();
    this.#head = (this.#head - 1) & (this.#items.length - 1);
    this.#items[this.#head] = value;
    this.#size++;
    this.bytes += value.length + ELEMENT_OVERHEAD_BYTES;
  }

  popFront(): string | undefined {
    if (this.#size === 0) return undefined;
    const value = this.#items[this.#head]!;
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#items.length - 1);
    this.#size--;
    this.bytes -= value.length + ELEMENT_OVERHEAD_BYTES;
    return value;
  }

  popBack(): string | undefined {
    if (this.#size === 0) return undefined;
    const at = (this.#head + this.#size - 1) & (this.#items.length - 1);
    const value = this.#items[at]!;
    this.#items[at] = undefined;
    this.#size--;
    this.bytes -= value.length + ELEMENT_OVERHEAD_BYTES;
    return value;
  }

  get(index: number): string | undefined {
    if (index < 0 || index >= this.#size) return undefined;
    return this.#items[(this.#head + index) & (this.#items.length - 1)];
  }

  set(index: number, value: string): void {
    const at = (this.#head + index) & (this.#items.length - 1);
    this.bytes += value.length - this.#items[at]!.length;
    this.#items[at] = value;
  }

  toArray(start = 0, end = this.#size): string[] {
    const out: string[] = [];
    for (let i = start; i < end; i++) out.push(this.get(i)!);
    return out;
  }

  /** Replaces the whole contents (for LREM, LTRIM, LINSERT). */
  replace(values: string[]): void {
    let size = 8;
    while (size < values.length) size *= 2;
    this.#items = new Array(size);
    this.#head = 0;
    this.#size = 0;
    this.bytes = 0;
    for (const value of values) this.pushBack(value);
  }
}

export type Value = string | HashValue | ListValue | SetValue | ZSetValue;

/** The TYPE name of a value. */
export function typeName(value: Value): string {
  if (typeof value === "string") return "string";
  if (value instanceof HashValue) return "hash";
  if (value instanceof ListValue) return "list";
  if (value instanceof ZSetValue) return "zset";
  return "set";
}
