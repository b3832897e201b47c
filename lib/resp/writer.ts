// A growable reply buffer that encodes RESP2 or RESP3 replies in place.
//
// The server appends every reply produced by one read of pipelined commands
// here and sends them with one write (the biggest throughput lever on TCP,
// docs/architecture.md). Methods pick the RESP2 or RESP3 form from `protocol`: a null
// is `$-1`/`*-1` in RESP2 and `_` in RESP3, a map is a flat array in RESP2
// and `%` in RESP3, and so on (protocol spec, "RESP3 types").
//
// Two buffers alternate: `take()` hands out a view of the filled one and
// continues in the other, so the view stays valid while it is being written
// even if replies (pub/sub pushes) arrive meanwhile.

import type { Bytes } from "../bytes.ts";

// Memory: a writer starts with 4 KiB (a pipeline of 16 small replies is
// well under 1 KiB) and its spare buffer is allocated on the first take();
// after a big reply, `shrink()` gives back buffers past SHRINK_ABOVE_BYTES,
// so an idle connection never keeps what one KEYS or large GET needed.
const INITIAL_BYTES = 4 * 1024;
const SHRINK_ABOVE_BYTES = 64 * 1024;
const EMPTY: Bytes = new Uint8Array(0);

export class ReplyWriter {
  #buf: Bytes = new Uint8Array(INITIAL_BYTES);
  #spare: Bytes = EMPTY;
  #len = 0;
  /** 2 or 3, as negotiated with HELLO. */
  protocol: 2 | 3 = 2;

  /** Bytes waiting to be written. */
  get length(): number {
    return this.#len;
  }

  /** The pending bytes as a view; the writer continues in its other buffer. */
  take(): Bytes {
    const out = this.#buf.subarray(0, this.#len);
    const spare = this.#spare;
    this.#spare = this.#buf;
    this.#buf = spare;
    this.#len = 0;
    return out;
  }

  /** Bytes held by both buffers (for CLIENT LIST and memory accounting). */
  get capacity(): number {
    return this.#buf.length + this.#spare.length;
  }

  /**
   * Gives back buffers grown past SHRINK_ABOVE_BYTES. Call only when nothing
   * is pending and no view from `take()` is still being written.
   */
  shrink(): void {
    if (this.#len !== 0) return;
    if (this.#buf.length > SHRINK_ABOVE_BYTES) this.#buf = new Uint8Array(INITIAL_BYTES);
    if (this.#spare.length > SHRINK_ABOVE_BYTES) this.#spare = EMPTY;
  }

  /** Drops everything written since `mark` (used when a command is undone). */
  truncate(mark: number): void {
    this.#len = mark;
  }

  #reserve(extra: number): void {
    const need = this.#len + extra;
    if (need <= this.#buf.length) return;
    let size = Math.max(this.#buf.length * 2, INITIAL_BYTES);
    while (size < need) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.#buf.subarray(0, this.#len));
    this.#buf = grown;
  }

  /** Appends raw, already-encoded bytes. */
  raw(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#buf.set(bytes, this.#len);
    this.#len += bytes.length;
  }

  #ascii(text: string): void {
    const n = text.length;
    this.#reserve(n);
    const buf = this.#buf;
    let at = this.#len;
    for (let i = 0; i < n; i++) buf[at++] = text.charCodeAt(i);
    this.#len = at;
  }

  #crlf(): void {
    this.#reserve(2);
    this.#buf[this.#len++] = 13;
    this.#buf[this.#len++] = 10;
  }

  #header(type: number, n: number): void {
    this.#reserve(24);
    const buf = this.#buf;
    let at = this.#len;
    buf[at++] = type;
    if (n >= 0 && n < 10) {
      buf[at++] = 48 + n;
    } else if (n >= 10 && n < 100) {
      buf[at++] = 48 + Math.floor(n / 10);
      buf[at++] = 48 + (n % 10);
    } else {
      const digits = String(n);
      for (let i = 0; i < digits.length; i++) buf[at++] = digits.charCodeAt(i);
    }
    buf[at++] = 13;
    buf[at++] = 10;
    this.#len = at;
  }

  /** `+text` (text must not contain CR or LF). */
  simple(text: string): void {
    this.#reserve(text.length + 3);
    this.#buf[this.#len++] = 43;
    this.#ascii(text);
    this.#crlf();
  }

  ok(): void {
    this.raw(OK);
  }

  /** `-message`: the message starts with its code, e.g. "ERR syntax error". */
  error(message: string): void {
    this.#reserve(message.length + 3);
    this.#buf[this.#len++] = 45;
    this.#ascii(message.replace(/[\r\n]/g, " "));
    this.#crlf();
  }

  integer(n: number | bigint): void {
    if (typeof n === "number" && n >= 0 && n < 10) {
      this.#reserve(4);
      const buf = this.#buf;
      buf[this.#len++] = 58;
      buf[this.#len++] = 48 + n;
      buf[this.#len++] = 13;
      buf[this.#len++] = 10;
      return;
    }
    this.#reserve(24);
    const buf = this.#buf;
    buf[this.#len++] = 58;
    if (typeof n === "number" && n > 0 && n <= 0x7fffffff && (n | 0) === n) {
      // Digits written straight into the buffer, right to left, in int32
      // arithmetic: list lengths and counters need no intermediate string.
      let digits = 1;
      for (let x = n; x >= 10; x = (x / 10) | 0) digits++;
      let at = this.#len + digits;
      this.#len = at;
      for (let x = n; x !== 0; x = (x / 10) | 0) buf[--at] = 48 + (x % 10);
    } else {
      this.#ascii(String(n));
    }
    this.#crlf();
  }

  /** A bulk string from bytes. */
  bulk(bytes: Uint8Array): void {
    this.#header(36, bytes.length);
    this.#reserve(bytes.length + 2);
    this.#buf.set(bytes, this.#len);
    this.#len += bytes.length;
    this.#buf[this.#len++] = 13;
    this.#buf[this.#len++] = 10;
  }

  /** A bulk string from a binary string (one char per byte). */
  bulkString(text: string): void {
    this.#header(36, text.length);
    this.#ascii(text);
    this.#crlf();
  }

  /** A bulk string from UTF-8 text. */
  bulkText(text: string): void {
    this.bulk(encoder.encode(text));
  }

  /** Null bulk string: `$-1` / `_`. */
  nullBulk(): void {
    this.raw(this.protocol === 3 ? NULL3 : NULL_BULK);
  }

  /** Null array: `*-1` / `_`. */
  nullArray(): void {
    this.raw(this.protocol === 3 ? NULL3 : NULL_ARRAY);
  }

  arrayHeader(n: number): void {
    this.#header(42, n);
  }

  /** A map of `n` pairs: `%n` in RESP3, an array of 2n in RESP2. */
  mapHeader(n: number): void {
    if (this.protocol === 3) this.#header(37, n);
    else this.#header(42, n * 2);
  }

  /** A set: `~n` in RESP3, an array in RESP2. */
  setHeader(n: number): void {
    this.#header(this.protocol === 3 ? 126 : 42, n);
  }

  /** A push: `>n` in RESP3, an array in RESP2. */
  pushHeader(n: number): void {
    this.#header(this.protocol === 3 ? 62 : 42, n);
  }

  /** A double: `,` in RESP3, a bulk string in RESP2. */
  double(n: number): void {
    this.doubleText(formatDouble(n));
  }

  /**
   * A double already formatted (the cache prints sorted-set scores with
   * Redis's %.17g, not formatDouble): `,text` in RESP3, a bulk string in RESP2.
   */
  doubleText(text: string): void {
    if (this.protocol === 3) {
      this.#reserve(text.length + 3);
      this.#buf[this.#len++] = 44;
      this.#ascii(text);
      this.#crlf();
    } else {
      this.bulkString(text);
    }
  }

  /**
   * A double that is a positive or negative integer below 2^31 in
   * magnitude, written as its digits (what %.17g and formatDouble print
   * for it) without making a string: `,n` in RESP3, a bulk string in RESP2.
   * Not for -0, which prints as "-0".
   */
  integralDouble(n: number): void {
    const magnitude = n < 0 ? -n : n;
    let digits = 1;
    for (let x = magnitude; x >= 10; x = (x / 10) | 0) digits++;
    const length = n < 0 ? digits + 1 : digits;
    this.#reserve(length + 16);
    const buf = this.#buf;
    let at = this.#len;
    if (this.protocol === 3) buf[at++] = 44;
    else {
      buf[at++] = 36;
      if (length >= 10) buf[at++] = 48 + ((length / 10) | 0);
      buf[at++] = 48 + (length % 10);
      buf[at++] = 13;
      buf[at++] = 10;
    }
    if (n < 0) buf[at++] = 45;
    at += digits;
    for (let x = magnitude, i = at; i > at - digits; x = (x / 10) | 0) buf[--i] = 48 + (x % 10);
    buf[at++] = 13;
    buf[at++] = 10;
    this.#len = at;
  }

  /** A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2. */
  boolean(value: boolean): void {
    if (this.protocol === 3) this.#ascii(value ? "#t\r\n" : "#f\r\n");
    else this.integer(value ? 1 : 0);
  }

  /** A verbatim string (`=len\r\ntxt:...`) in RESP3, a bulk string in RESP2. */
  verbatim(text: string): void {
    if (this.protocol !== 3) {
      this.bulkText(text);
      return;
    }
    const bytes = encoder.encode(text);
    this.#header(61, bytes.length + 4);
    this.#ascii("txt:");
    this.raw(bytes);
    this.#crlf();
  }
}

const encoder = new TextEncoder();
const OK = encoder.encode("+OK\r\n");
const NULL3 = encoder.encode("_\r\n");
const NULL_BULK = encoder.encode("$-1\r\n");
const NULL_ARRAY = encoder.encode("*-1\r\n");

/** Formats a double as Redis does for RESP3 doubles and INCRBYFLOAT. */
export function formatDouble(n: number): string {
  if (n === Infinity) return "inf";
  if (n === -Infinity) return "-inf";
  if (Number.isNaN(n)) return "nan";
  // Redis prints with %.17g, which a JS double can render shorter and exact;
  // rounding to 17 significant digits then back keeps the same value.
  const text = String(n);
  if (!text.includes("e")) return text;
  return n.toFixed(Math.abs(n) < 1 ? 17 : 0).replace(/\.?0+$/, "");
}
