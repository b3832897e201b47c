// The primitive reads and writes of the PostgreSQL protocol (55.6 "Message
// Data Types"): big-endian Int8/16/32, null-terminated UTF-8 strings
// (String), and Byte arrays. The reader works inside one message already
// known to be whole, so running out of bytes is a malformed message, never
// "incomplete"; its errors carry PostgreSQL's own wording.

import type { Bytes } from "../bytes.ts";
import { DecodeError } from "../errors.ts";

const utf8Strict = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

/**
 * Reads the body of one message, bounded to `[at, end)`. Integers are put
 * together from bytes rather than read through a DataView: a server makes
 * a reader per message, and a DataView per message cost more than the
 * few shifts.
 */
export class MessageReader {
  readonly buf: Bytes;
  at: number;
  readonly end: number;

  constructor(buf: Bytes, at: number, end: number) {
    this.buf = buf;
    this.at = at;
    this.end = end;
  }

  #need(bytes: number): void {
    if (this.end - this.at < bytes) {
      throw new DecodeError("insufficient data left in message");
    }
  }

  int8(): number {
    this.#need(1);
    return this.buf[this.at++];
  }

  int16(): number {
    return (this.uint16() << 16) >> 16;
  }

  uint16(): number {
    this.#need(2);
    const b = this.buf, at = this.at;
    this.at = at + 2;
    return (b[at] << 8) | b[at + 1];
  }

  int32(): number {
    this.#need(4);
    const b = this.buf, at = this.at;
    this.at = at + 4;
    return (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
  }

  uint32(): number {
    return this.int32() >>> 0;
  }

  /**
   * A String: UTF-8 up to a zero byte, which it consumes. Short ASCII
   * (statement and portal names) is read in place, without the view the
   * decoder needs: one typed array fewer per name, several per Bind.
   */
  cstring(): string {
    const buf = this.buf;
    const zero = buf.indexOf(0, this.at);
    if (zero === -1 || zero >= this.end) throw new DecodeError("invalid string in message");
    let text = "";
    let i = this.at;
    if (zero - i <= ASCII_FAST_BYTES_MAX) {
      for (; i < zero && buf[i] < 0x80; i++) text += String.fromCharCode(buf[i]);
    }
    if (i < zero) text = decodeUtf8(buf.subarray(this.at, zero));
    this.at = zero + 1;
    return text;
  }

  /** `length` bytes as a view into the buffer. */
  bytes(length: number): Bytes {
    if (length < 0) throw new DecodeError("invalid message format");
    this.#need(length);
    const out = this.buf.subarray(this.at, this.at + length);
    this.at += length;
    return out;
  }

  /** The rest of the message, as a view. */
  rest(): Bytes {
    return this.bytes(this.end - this.at);
  }

  /** A message must be used up exactly (PostgreSQL's pq_getmsgend). */
  finish(): void {
    if (this.at !== this.end) throw new DecodeError("invalid message format");
  }
}

/**
 * Longest text decodeUtf8 and sizedText try to copy as plain ASCII before
 * calling the runtime's decoder or encoder.
 */
const ASCII_FAST_BYTES_MAX = 32;

/** Strict UTF-8, as PostgreSQL checks client input (SQLSTATE 22021). */
export function decodeUtf8(bytes: Uint8Array): string {
  // Fast path: statement and portal names (mostly empty) and short text
  // parameters are ASCII, and building those few characters here is cheaper
  // than a call into the runtime's decoder.
  if (bytes.length <= ASCII_FAST_BYTES_MAX) {
    let text = "";
    let i = 0;
    for (; i < bytes.length && bytes[i] < 0x80; i++) text += String.fromCharCode(bytes[i]);
    if (i === bytes.length) return text;
  }
  try {
    return utf8Strict.decode(bytes);
  } catch {
    throw new DecodeError('invalid byte sequence for encoding "UTF8"');
  }
}

/** Builds one or more messages into a growing buffer. */
export class MessageWriter {
  #buf: Bytes = new Uint8Array(256);
  #view = new DataView(this.#buf.buffer);
  #length = 0;
  #messageStart = -1;

  #reserve(bytes: number): void {
    if (this.#length + bytes <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#length + bytes) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.#buf.subarray(0, this.#length));
    this.#buf = grown;
    this.#view = new DataView(grown.buffer);
  }

  /** Starts a message: its type byte (none for startup packets) and a length to patch. */
  begin(type: string | null): this {
    if (type !== null) this.int8(type.charCodeAt(0));
    this.#messageStart = this.#length;
    return this.int32(0);
  }

  /** Ends the message begun last, writing its length (which counts itself). */
  end(): this {
    this.#view.setInt32(this.#messageStart, this.#length - this.#messageStart);
    this.#messageStart = -1;
    return this;
  }

  int8(value: number): this {
    this.#reserve(1);
    this.#buf[this.#length++] = value;
    return this;
  }

  int16(value: number): this {
    this.#reserve(2);
    this.#view.setInt16(this.#length, value);
    this.#length += 2;
    return this;
  }

  int32(value: number): this {
    this.#reserve(4);
    this.#view.setInt32(this.#length, value);
    this.#length += 4;
    return this;
  }

  cstring(text: string): this {
    // A UTF-8 character takes at most 3 bytes per UTF-16 unit.
    this.#reserve(text.length * 3 + 1);
    const { written } = utf8Encoder.encodeInto(text, this.#buf.subarray(this.#length));
    this.#length += written;
    this.#buf[this.#length++] = 0;
    return this;
  }

  /**
   * A sized value, as DataRow and Bind carry them: Int32 byte count, then
   * `text` as UTF-8. Short ASCII text (every number, date and most keys) is
   * copied by hand: cheaper than a call into the runtime's encoder.
   */
  sizedText(text: string): this {
    // A UTF-8 character takes at most 3 bytes per UTF-16 unit.
    this.#reserve(4 + text.length * 3);
    const start = this.#length + 4;
    let written = -1;
    if (text.length <= ASCII_FAST_BYTES_MAX) {
      const buf = this.#buf;
      let i = 0;
      for (; i < text.length; i++) {
        const code = text.charCodeAt(i);
        if (code >= 0x80) break;
        buf[start + i] = code;
      }
      if (i === text.length) written = i;
    }
    if (written === -1) {
      written = utf8Encoder.encodeInto(text, this.#buf.subarray(start)).written;
    }
    this.#view.setInt32(this.#length, written);
    this.#length = start + written;
    return this;
  }

  /** A sized value: Int32 byte count then the bytes, or -1 alone for NULL. */
  sizedBytes(data: Uint8Array | null): this {
    if (data === null) return this.int32(-1);
    return this.int32(data.length).bytes(data);
  }

  bytes(data: Uint8Array): this {
    this.#reserve(data.length);
    this.#buf.set(data, this.#length);
    this.#length += data.length;
    return this;
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#length;
  }

  /** The bytes written so far, as a view: valid until the writer is next written to or reset. */
  view(): Bytes {
    return this.#buf.subarray(0, this.#length);
  }

  /** The bytes written so far, as a copy; the writer may be reused after reset(). */
  finish(): Bytes {
    return this.#buf.slice(0, this.#length);
  }

  reset(): void {
    this.#length = 0;
  }
}
