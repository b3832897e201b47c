// Byte helpers shared by every codec.
//
// `Bytes` is `Uint8Array<ArrayBuffer>`: the type Web and Deno APIs accept
// under TypeScript 6 (a plain `Uint8Array` may be backed by a
// SharedArrayBuffer and is rejected there).

export type Bytes = Uint8Array<ArrayBuffer>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const latin1 = new TextDecoder("latin1");

export const CR = 0x0d;
export const LF = 0x0a;
export const CRLF: Bytes = new Uint8Array([CR, LF]);

/** Encodes a string as UTF-8. */
export function utf8(text: string): Bytes {
  return encoder.encode(text) as Bytes;
}

/** Decodes UTF-8 bytes (invalid sequences become U+FFFD). */
export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/**
 * Decodes bytes one character per byte (ISO-8859-1). Protocol heads (HTTP,
 * SMTP, STOMP commands) are ASCII on the wire; latin1 keeps any stray high
 * byte as one character so lengths and round trips stay exact.
 */
export function ascii(bytes: Uint8Array): string {
  return latin1.decode(bytes);
}

/** Encodes a string whose characters are all below U+0100, one byte each. */
export function fromAscii(text: string): Bytes {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

/** Joins byte arrays into one new array. */
export function concat(parts: readonly Uint8Array[]): Bytes {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Index of `needle` in `haystack` at or after `from`, or -1. Uses the
 * native single-byte search to find candidates, so long buffers scan fast.
 */
export function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  if (needle.length === 0) return from <= haystack.length ? from : -1;
  const first = needle[0];
  const last = haystack.length - needle.length;
  let i = haystack.indexOf(first, from);
  while (i !== -1 && i <= last) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
    i = haystack.indexOf(first, i + 1);
  }
  return -1;
}

/** True when both arrays hold the same bytes. */
export function equals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Lowercase hex of the bytes, for logs and tests. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += byte.toString(16).padStart(2, "0");
  return out;
}

/**
 * Parses hex, ignoring whitespace and `#` comments to end of line, so golden
 * packets in tests can be written as commented hex dumps.
 */
export function fromHex(text: string): Bytes {
  const digits = text.replace(/#[^\n]*/g, "").replace(/\s+/g, "");
  if (digits.length % 2 !== 0 || /[^0-9a-fA-F]/.test(digits)) {
    throw new SyntaxError("fromHex: not an even run of hex digits");
  }
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = parseInt(digits.slice(i * 2, i * 2 + 2), 16);
  }
  return out;
}

/**
 * Small byte arrays cut one after the other from a shared slab, for code
 * that makes one short-lived array per message: in Deno a
 * `new Uint8Array(n)` costs several times a view of an existing buffer (an
 * ArrayBuffer with its own backing store each time). A region is handed out
 * once and never again, so arrays never overlap; a full slab is left to the
 * garbage collector once the last array cut from it is gone (so a kept array
 * keeps its whole slab alive: for arrays that are dropped soon after use).
 * Arrays over a quarter of the slab get their own buffer.
 */
export class ByteSlab {
  #slabBytes: number;
  #buffer: ArrayBuffer;
  #used = 0;

  constructor(slabBytes = 16 * 1024) {
    if (!(slabBytes >= 16)) throw new RangeError("slabBytes must be at least 16");
    this.#slabBytes = slabBytes;
    this.#buffer = new ArrayBuffer(slabBytes);
  }

  /** A zero-filled array of `bytes` bytes that nothing else shares. */
  take(bytes: number): Bytes {
    if (bytes > this.#slabBytes >> 2) return new Uint8Array(bytes);
    if (this.#used + bytes > this.#slabBytes) {
      this.#buffer = new ArrayBuffer(this.#slabBytes);
      this.#used = 0;
    }
    const out = new Uint8Array(this.#buffer, this.#used, bytes);
    this.#used += bytes;
    return out;
  }
}
