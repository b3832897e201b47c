// The RESP codec: pure functions from bytes to commands and replies and back.
//
// Implements RESP2 and RESP3 framing (Redis protocol spec, "RESP protocol
// description"): requests as arrays of bulk strings or as inline commands
// (a line split like Redis's sdssplitargs, so `PING` typed into nc works),
// replies of every RESP3 type. `decodeCommand` and `decodeReply` follow the
// one decoder contract of lib/decode.ts, `(buf, limits, from, to)`: a value
// and the bytes it used, or "incomplete" with how many more bytes must
// arrive first, or a thrown DecodeError/LimitError whose message is the one
// Redis sends ("Protocol error: invalid bulk length").
// Every length is checked against `RespLimits` before anything is allocated.
// Decoded command arguments are views into the input (no copies): a caller
// that keeps one past the next read must copy it.
//
// Left out: streamed strings and aggregates (`$?`), attributes (`|`) and big
// numbers as anything but bigint.

import type { Bytes } from "../bytes.ts";
import { type Decoded, INCOMPLETE, isIncomplete, needMore } from "../decode.ts";
import { DecodeError, LimitError } from "../errors.ts";
import {
  RespDouble,
  RespError,
  type RespLimits,
  RespMap,
  RespPush,
  RespSet,
  RespSimple,
  type RespValue,
  RespVerbatim,
} from "./types.ts";

const CR = 13;
const LF = 10;
const STAR = 42; // '*'
const DOLLAR = 36; // '$'
/** The smallest bulk string on the wire: "$0\r\n\r\n". */
const MIN_BULK_BYTES = 6;

/**
 * Parses the decimal integer in buf[start, end). Returns NaN when it is not
 * one (empty, stray characters, or more than 18 digits), as Redis's
 * string2ll rejects them.
 */
function parseLength(buf: Uint8Array, start: number, end: number): number {
  if (start >= end || end - start > 19) return NaN;
  let i = start;
  let negative = false;
  if (buf[i] === 45) { // '-'
    negative = true;
    i++;
    if (i === end) return NaN;
  }
  let n = 0;
  for (; i < end; i++) {
    const digit = buf[i] - 48;
    if (digit < 0 || digit > 9) return NaN;
    n = n * 10 + digit;
  }
  return negative ? -n : n;
}

/**
 * Index of the first CR in buf[from, end), or -1. Length headers are a few
 * bytes long, and a plain loop finds their CR faster than the indexOf
 * builtin's call overhead; longer runs fall back to the builtin.
 */
function findCR(buf: Uint8Array, from: number, end: number): number {
  const stop = Math.min(end, from + 24);
  for (let i = from; i < stop; i++) if (buf[i] === CR) return i;
  if (stop === end) return -1;
  const at = buf.indexOf(CR, stop);
  return at === -1 || at >= end ? -1 : at;
}

/**
 * Where the arguments of one array command lie, as (start, length) pairs
 * relative to the command's first byte: one Int32Array however many
 * arguments there are, instead of an object per argument. It is also the
 * state of `decodeCommandSpans` between calls: a command arriving in many
 * reads is parsed once, resuming where the last call stopped, not from the
 * start on every read. The caller resets it after each command.
 */
export class CommandSpans {
  /** (start, length) of each argument found, relative to the command's start. */
  offsets: Int32Array = new Int32Array(2 * SPANS_KEPT);
  /** Arguments found so far (all of them once the command is complete). */
  count = 0;
  /** The argument count the header announced; -1 before the header is read. */
  announced = -1;
  /** Where parsing resumes, relative to the command's start. */
  resumeAt = 0;

  /** Forgets the command; a table grown past SPANS_KEPT pairs is given back. */
  reset(): void {
    this.count = 0;
    this.announced = -1;
    this.resumeAt = 0;
    if (this.offsets.length > 2 * SPANS_KEPT) this.offsets = new Int32Array(2 * SPANS_KEPT);
  }

  /** Records one argument, growing the table by doubling (only as arguments arrive). */
  add(start: number, length: number): void {
    const at = 2 * this.count;
    if (at + 2 > this.offsets.length) {
      const grown = new Int32Array(Math.max(this.offsets.length * 2, 2 * SPANS_KEPT));
      grown.set(this.offsets);
      this.offsets = grown;
    }
    this.offsets[at] = start;
    this.offsets[at + 1] = length;
    this.count++;
  }

  /** The arguments as views into `buf`, whose command starts at `from` (no copies). */
  views(buf: Bytes, from: number): Bytes[] {
    const n = this.count;
    const args: Bytes[] = new Array(n);
    const base = buf.byteOffset + from;
    for (let i = 0; i < n; i++) {
      // Built from the buffer directly: about 25% cheaper in V8 than
      // subarray(), which looks up a species constructor on every call.
      args[i] = new Uint8Array(buf.buffer, base + this.offsets[2 * i], this.offsets[2 * i + 1]);
    }
    return args;
  }
}

/**
 * A command's arguments without an object per argument: the buffer and the
 * (start, length) pairs of CommandSpans, a view made only when an argument
 * is asked for (`at`), so even a million-argument command holds one buffer
 * and one Int32Array, and the views it hands out die young. Valid until the
 * buffer is reused (the next read): a caller keeping arguments copies them.
 * `of` wraps an ordinary array (copies queued by MULTI, tests).
 */
export class CommandArgs implements Iterable<Bytes> {
  readonly length: number;
  readonly #buf: Bytes | undefined;
  readonly #base: number;
  readonly #offsets: Int32Array | undefined;
  readonly #views: Bytes[] | undefined;

  private constructor(
    length: number,
    buf: Bytes | undefined,
    base: number,
    offsets: Int32Array | undefined,
    views: Bytes[] | undefined,
  ) {
    this.length = length;
    this.#buf = buf;
    this.#base = base;
    this.#offsets = offsets;
    this.#views = views;
  }

  /** The arguments of `spans`, whose command starts at `from` in `buf`. */
  static fromSpans(buf: Bytes, from: number, spans: CommandSpans): CommandArgs {
    return new CommandArgs(spans.count, buf, buf.byteOffset + from, spans.offsets, undefined);
  }

  static of(views: Bytes[]): CommandArgs {
    return new CommandArgs(views.length, undefined, 0, undefined, views);
  }

  /** Argument `i` (0 is the command name), a view into the buffer. */
  at(i: number): Bytes {
    if (this.#views !== undefined) return this.#views[i];
    const offsets = this.#offsets!;
    return new Uint8Array(this.#buf!.buffer, this.#base + offsets[2 * i], offsets[2 * i + 1]);
  }

  /**
   * The buffer the arguments lie in, for hot paths that read an argument in
   * place (`startOf`, `lengthOf`) instead of making a view: constructing a
   * Uint8Array view costs V8 about as much as the rest of a GET's parsing.
   * Undefined for `of`, whose arguments are separate arrays (use `at`).
   */
  get buffer(): Bytes | undefined {
    return this.#buf;
  }

  /** Where argument `i` starts in `buffer`. */
  startOf(i: number): number {
    return this.#base - this.#buf!.byteOffset + this.#offsets![2 * i];
  }

  /** Argument `i`'s length in bytes. */
  lengthOf(i: number): number {
    if (this.#views !== undefined) return this.#views[i].length;
    return this.#offsets![2 * i + 1];
  }

  /** Arguments `start` to `end` (exclusive; negative from the end) as an array of views. */
  slice(start = 0, end = this.length): Bytes[] {
    if (start < 0) start = Math.max(0, this.length + start);
    if (end < 0) end = Math.max(0, this.length + end);
    end = Math.min(end, this.length);
    const out: Bytes[] = [];
    for (let i = start; i < end; i++) out.push(this.at(i));
    return out;
  }

  map<T>(fn: (arg: Bytes, i: number) => T): T[] {
    const out: T[] = new Array(this.length);
    for (let i = 0; i < this.length; i++) out[i] = fn(this.at(i), i);
    return out;
  }

  some(fn: (arg: Bytes, i: number) => boolean): boolean {
    for (let i = 0; i < this.length; i++) if (fn(this.at(i), i)) return true;
    return false;
  }

  *[Symbol.iterator](): Iterator<Bytes> {
    for (let i = 0; i < this.length; i++) yield this.at(i);
  }
}

/** Argument pairs a CommandSpans keeps between commands (a 64-argument command). */
const SPANS_KEPT = 64;

/**
 * Decodes one array command from buf[from, to) into `spans`: where each
 * argument lies, no argument objects. Called again on the same command
 * (same `from`, more bytes), it resumes from `spans.resumeAt`. Returns the
 * spans and the bytes used, or "incomplete" with the fewest bytes the rest
 * can take (every element still to come is at least "$0\r\n\r\n"). An
 * empty request (`*0`, `*-1`) decodes to no arguments. Inline commands
 * (not starting with "*") are `decodeCommand`'s.
 */
export function decodeCommandSpans(
  buf: Bytes,
  limits: RespLimits,
  from: number,
  to: number,
  spans: CommandSpans,
): Decoded<CommandSpans> {
  let pos: number;
  if (spans.announced === -1) {
    if (from >= to) return INCOMPLETE;
    const lineEnd = findCR(buf, from, to);
    if (lineEnd === -1) {
      if (to - from > limits.inlineBytesMax) {
        throw new LimitError("inlineBytesMax", "Protocol error: too big mbulk count string");
      }
      return INCOMPLETE;
    }
    if (lineEnd + 1 >= to) return INCOMPLETE; // only the LF is missing
    const count = parseLength(buf, from + 1, lineEnd);
    if (Number.isNaN(count) || count > limits.arrayLengthMax) {
      throw new LimitError("arrayLengthMax", "Protocol error: invalid multibulk length");
    }
    pos = lineEnd + 2;
    spans.announced = Math.max(0, count);
    spans.resumeAt = pos - from;
  } else {
    pos = from + spans.resumeAt;
  }
  const count = spans.announced;
  for (let n = spans.count; n < count; n++) {
    // Every element still to come takes at least "$0\r\n\r\n": saying so in
    // `bytesNeeded` lets the reader wait instead of calling again per read.
    const restMin = (count - n - 1) * MIN_BULK_BYTES;
    if (pos >= to) return needMore(pos + MIN_BULK_BYTES + restMin - to);
    if (buf[pos] !== DOLLAR) {
      throw new DecodeError(
        `Protocol error: expected '$', got '${String.fromCharCode(buf[pos])}'`,
      );
    }
    // Fast path: the usual header is "$" and a few digits then CR, read in
    // one pass; anything else (a sign, no digits, a missing CR, more than 15
    // digits) takes the general path below, which decides it as before.
    let length = 0;
    let lineEnd = pos + 1;
    while (lineEnd < to) {
      const digit = buf[lineEnd] - 48;
      if (digit < 0 || digit > 9) break;
      length = length * 10 + digit;
      lineEnd++;
    }
    if (lineEnd === pos + 1 || lineEnd - pos > 16 || lineEnd >= to || buf[lineEnd] !== CR) {
      lineEnd = findCR(buf, pos, to);
      if (lineEnd === -1) {
        if (to - pos > limits.inlineBytesMax) {
          throw new LimitError("inlineBytesMax", "Protocol error: too big bulk count string");
        }
        return needMore(pos + MIN_BULK_BYTES + restMin - to);
      }
      length = parseLength(buf, pos + 1, lineEnd);
    }
    if (Number.isNaN(length) || length < 0 || length > limits.bulkBytesMax) {
      throw new LimitError("bulkBytesMax", "Protocol error: invalid bulk length");
    }
    const start = lineEnd + 2;
    // Redis skips the two bytes after the payload without looking at them.
    if (start + length + 2 > to) return needMore(start + length + 2 + restMin - to);
    spans.add(start - from, length);
    pos = start + length + 2;
    spans.resumeAt = pos - from;
  }
  return { value: spans, bytesUsed: pos - from };
}

/**
 * Decodes one command from buf[from, to): its arguments, as views into
 * `buf` (no copies), and the bytes it used. An empty request (`*0`, `*-1`,
 * a blank inline line) decodes to no arguments; the caller skips it as
 * Redis does. Stateless: a server reading many commands uses
 * `decodeCommandSpans` with one CommandSpans per connection instead.
 */
export function decodeCommand(
  buf: Bytes,
  limits: RespLimits,
  from = 0,
  to: number = buf.length,
): Decoded<Bytes[]> {
  if (from >= to) return INCOMPLETE;
  if (buf[from] !== STAR) return decodeInline(buf, limits, from, to);
  const spans = new CommandSpans();
  const decoded = decodeCommandSpans(buf, limits, from, to, spans);
  if (isIncomplete(decoded)) return decoded;
  return { value: spans.views(buf, from), bytesUsed: decoded.bytesUsed };
}

function decodeInline(buf: Bytes, limits: RespLimits, from: number, to: number): Decoded<Bytes[]> {
  const newline = buf.indexOf(LF, from);
  if (newline === -1 || newline >= to) {
    if (to - from > limits.inlineBytesMax) {
      throw new LimitError("inlineBytesMax", "Protocol error: too big inline request");
    }
    return INCOMPLETE;
  }
  let lineEnd = newline;
  if (lineEnd > from && buf[lineEnd - 1] === CR) lineEnd--;
  const args = splitInline(buf.subarray(from, lineEnd));
  return { value: args, bytesUsed: newline + 1 - from };
}

function isSpace(byte: number): boolean {
  return byte === 32 || byte === 9 || byte === 10 || byte === 13 || byte === 11 || byte === 12;
}

function hexValue(byte: number): number {
  if (byte >= 48 && byte <= 57) return byte - 48;
  if (byte >= 97 && byte <= 102) return byte - 87;
  if (byte >= 65 && byte <= 70) return byte - 55;
  return -1;
}

const ESCAPES: Record<number, number> = { 110: 10, 114: 13, 116: 9, 98: 8, 97: 7 };

/**
 * Splits an inline command line into arguments the way Redis's sdssplitargs
 * does: whitespace separates, "double quotes" take C escapes (\n \xHH ...),
 * 'single quotes' take only \'. A closing quote must be followed by a space
 * or the end of line.
 */
export function splitInline(line: Uint8Array): Bytes[] {
  const args: Bytes[] = [];
  let i = 0;
  while (true) {
    while (i < line.length && isSpace(line[i])) i++;
    if (i >= line.length) return args;
    const out: number[] = [];
    let inDouble = false;
    let inSingle = false;
    let done = false;
    while (!done) {
      if (inDouble) {
        if (i >= line.length) throw new DecodeError("Protocol error: unbalanced quotes in request");
        const c = line[i];
        if (
          c === 92 && i + 3 < line.length && line[i + 1] === 120 &&
          hexValue(line[i + 2]) >= 0 && hexValue(line[i + 3]) >= 0
        ) {
          out.push(hexValue(line[i + 2]) * 16 + hexValue(line[i + 3]));
          i += 3;
        } else if (c === 92 && i + 1 < line.length) {
          i++;
          out.push(ESCAPES[line[i]] ?? line[i]);
        } else if (c === 34) {
          if (i + 1 < line.length && !isSpace(line[i + 1])) {
            throw new DecodeError("Protocol error: unbalanced quotes in request");
          }
          done = true;
        } else {
          out.push(c);
        }
      } else if (inSingle) {
        if (i >= line.length) throw new DecodeError("Protocol error: unbalanced quotes in request");
        const c = line[i];
        if (c === 92 && i + 1 < line.length && line[i + 1] === 39) {
          i++;
          out.push(39);
        } else if (c === 39) {
          if (i + 1 < line.length && !isSpace(line[i + 1])) {
            throw new DecodeError("Protocol error: unbalanced quotes in request");
          }
          done = true;
        } else {
          out.push(c);
        }
      } else {
        if (i >= line.length) break;
        const c = line[i];
        if (isSpace(c)) done = true;
        else if (c === 34) inDouble = true;
        else if (c === 39) inSingle = true;
        else out.push(c);
      }
      if (i < line.length) i++;
    }
    args.push(new Uint8Array(out));
  }
}

// ---------------------------------------------------------------------------
// Encoding requests (client side).

const encoder = new TextEncoder();

/** Encodes a command as a RESP array of bulk strings. */
export function encodeCommand(args: readonly (string | Uint8Array | number)[]): Bytes {
  const parts: Uint8Array[] = [];
  let size = 0;
  const head = encoder.encode(`*${args.length}\r\n`);
  parts.push(head);
  size += head.length;
  for (const arg of args) {
    const bytes = arg instanceof Uint8Array ? arg : encoder.encode(String(arg));
    const len = encoder.encode(`$${bytes.length}\r\n`);
    parts.push(len, bytes, CRLF_BYTES);
    size += len.length + bytes.length + 2;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const CRLF_BYTES = new Uint8Array([CR, LF]);

// ---------------------------------------------------------------------------
// Decoding replies (client side; trusts lengths less than a server would
// need to, but still bounds them).

function latin1(buf: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]);
  return s;
}

/**
 * Decodes one reply from buf[from, to). Bulk strings are copies, so values
 * outlive the buffer.
 */
export function decodeReply(
  buf: Uint8Array,
  limits: RespLimits,
  from = 0,
  to: number = buf.length,
): Decoded<RespValue> {
  if (from >= to) return INCOMPLETE;
  const lineEnd = findCR(buf, from, to);
  if (lineEnd === -1 || lineEnd + 1 >= to) {
    if (to - from > limits.inlineBytesMax) {
      throw new LimitError("inlineBytesMax", "reply line too long");
    }
    return INCOMPLETE;
  }
  const type = buf[from];
  const line = latin1(buf, from + 1, lineEnd);
  const next = lineEnd + 2;
  const lineUsed = next - from;
  switch (type) {
    case 43: // '+'
      return { value: new RespSimple(line), bytesUsed: lineUsed };
    case 45: // '-'
      return { value: new RespError(line), bytesUsed: lineUsed };
    case 58: // ':'
      return { value: toInteger(line), bytesUsed: lineUsed };
    case 95: // '_'
      return { value: null, bytesUsed: lineUsed };
    case 35: // '#'
      return { value: line === "t", bytesUsed: lineUsed };
    case 44: // ','
      return { value: new RespDouble(parseDouble(line)), bytesUsed: lineUsed };
    case 40: // '('
      return { value: BigInt(line), bytesUsed: lineUsed };
    case 36: // '$'
    case 61: // '='
    case 33: { // '!'
      const length = parseLength(buf, from + 1, lineEnd);
      if (Number.isNaN(length) || length > limits.bulkBytesMax) {
        throw new DecodeError(`invalid bulk length ${line}`);
      }
      if (length < 0) return { value: null, bytesUsed: lineUsed };
      if (next + length + 2 > to) return needMore(next + length + 2 - to);
      const bytes = buf.slice(next, next + length) as Bytes;
      const bytesUsed = next + length + 2 - from;
      if (type === 36) return { value: bytes, bytesUsed };
      if (type === 33) return { value: new RespError(latin1(bytes, 0, bytes.length)), bytesUsed };
      return {
        value: new RespVerbatim(latin1(bytes, 0, 3), bytes.slice(4) as Bytes),
        bytesUsed,
      };
    }
    case 42: // '*'
    case 126: // '~'
    case 62: // '>'
    case 37: { // '%'
      const count = parseLength(buf, from + 1, lineEnd);
      if (Number.isNaN(count) || count > limits.arrayLengthMax) {
        throw new DecodeError(`invalid aggregate length ${line}`);
      }
      if (count < 0) return { value: null, bytesUsed: lineUsed };
      const total = type === 37 ? count * 2 : count;
      const items: RespValue[] = [];
      let pos = next;
      for (let n = 0; n < total; n++) {
        // An element's own answer is also the aggregate's: the bytes still
        // missing are counted from the same end.
        const item = decodeReply(buf, limits, pos, to);
        if (isIncomplete(item)) return item;
        items.push(item.value);
        pos += item.bytesUsed;
      }
      const bytesUsed = pos - from;
      if (type === 42) return { value: items, bytesUsed };
      if (type === 126) return { value: new RespSet(items), bytesUsed };
      if (type === 62) return { value: new RespPush(items), bytesUsed };
      const entries: [RespValue, RespValue][] = [];
      for (let n = 0; n < items.length; n += 2) entries.push([items[n], items[n + 1]]);
      return { value: new RespMap(entries), bytesUsed };
    }
    default:
      throw new DecodeError(`unknown reply type byte ${type}`);
  }
}

function toInteger(text: string): number | bigint {
  const n = Number(text);
  if (!Number.isInteger(n)) throw new DecodeError(`invalid integer ${text}`);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

function parseDouble(text: string): number {
  if (text === "inf") return Infinity;
  if (text === "-inf") return -Infinity;
  if (text === "nan") return NaN;
  return Number(text);
}
