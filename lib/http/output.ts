// What a connection writes next, in order, with as few allocations as the
// bytes allow.
//
// In this Deno a `new Uint8Array(n)` costs about 0.6 µs whatever its size
// (an ArrayBuffer with an external backing store each time), several times
// the cost of copying a response head. So text and small pieces are
// encoded or copied into one buffer that the queue owns and reuses; pieces
// of LARGE_PIECE_BYTES and more are kept by reference. `take()` hands out
// everything queued as one piece when it lies in the buffer (the usual
// case, pipelined responses included) and only joins pieces into a new
// array when a large piece sits between others.
//
// Reuse rule: the buffer is written again by the first push after
// `take()`, so the caller must finish writing what `take()` returned before
// pushing more. The HTTP server awaits each write before it queues again.

import { type Bytes, concat } from "../bytes.ts";

/** Pieces at least this long are queued by reference, not copied. */
export const LARGE_PIECE_BYTES = 4096;
/** The buffer's first size, and the most it keeps between uses. */
const BUFFER_BYTES = 4096;
const BUFFER_BYTES_KEPT = 64 * 1024;

const encoder = new TextEncoder();
const EMPTY: Bytes = new Uint8Array(0);

export class OutputQueue {
  #buf: Bytes = EMPTY;
  /** Bytes of #buf in use. */
  #used = 0;
  /** A piece queued alone, by reference (the usual case: one remembered response). */
  #lone: Bytes | undefined;
  /** Otherwise the queued pieces in order: views of #buf or large pieces by reference. */
  #pieces: Bytes[] = [];
  /** Where the last piece starts in #buf, when it is a view of #buf ending at #used; else -1. */
  #tailStart = -1;
  #length = 0;

  /** Bytes queued. */
  get length(): number {
    return this.#length;
  }

  /**
   * Queues bytes. A large piece, or a piece queued alone, is kept by
   * reference: it must not change until written.
   */
  push(bytes: Bytes): void {
    if (bytes.length === 0) return;
    if (this.#length === 0) {
      this.#lone = bytes;
      this.#length = bytes.length;
      return;
    }
    if (bytes.length >= LARGE_PIECE_BYTES) {
      this.#spillLone(0);
      this.#pieces.push(bytes);
      this.#tailStart = -1;
      this.#length += bytes.length;
      return;
    }
    const at = this.#reserve(bytes.length);
    this.#buf.set(bytes, at);
    this.#appended(at, bytes.length);
  }

  /** Queues text as UTF-8. */
  pushText(text: string): void {
    const at = this.#reserve(text.length * 3);
    const written = encoder.encodeInto(text, this.#buf.subarray(at)).written;
    this.#appended(at, written);
  }

  /**
   * Queues `head`, a Content-Length field with the UTF-8 length of `body`,
   * the empty line and `body`: a whole response from strings, encoded
   * straight into the buffer. Returns a view of the bytes queued (valid
   * until the buffer is reused; copy it to keep it).
   */
  pushResponse(head: string, body: string): Bytes {
    // The body goes in first, past room for the head, and is moved next to it.
    const headRoom = head.length * 3 + CONTENT_LENGTH_LINE_BYTES_MAX;
    const at = this.#reserve(headRoom + body.length * 3);
    const buf = this.#buf;
    const bodyAt = at + headRoom;
    const bodyBytes = encoder.encodeInto(body, buf.subarray(bodyAt)).written;
    const headText = `${head}content-length: ${bodyBytes}\r\n\r\n`;
    const headBytes = encoder.encodeInto(headText, buf.subarray(at)).written;
    buf.copyWithin(at + headBytes, bodyAt, bodyAt + bodyBytes);
    this.#appended(at, headBytes + bodyBytes);
    return buf.subarray(at, at + headBytes + bodyBytes);
  }

  /** Everything queued, as one piece; the queue is empty afterwards. */
  take(): Bytes {
    let out: Bytes;
    if (this.#lone !== undefined) {
      out = this.#lone;
      this.#lone = undefined;
    } else {
      const pieces = this.#pieces;
      out = pieces.length === 1 ? pieces[0] : pieces.length === 0 ? EMPTY : concat(pieces);
      if (pieces.length > 0) this.#pieces = [];
    }
    this.#length = 0;
    this.#used = 0;
    this.#tailStart = -1;
    if (this.#buf.length > BUFFER_BYTES_KEPT) this.#buf = EMPTY;
    return out;
  }

  /** Makes room for `bytes` more at the end of the buffer; returns where they go. */
  #reserve(bytes: number): number {
    this.#spillLone(bytes);
    return this.#room(bytes);
  }

  /**
   * Moves a lone piece into the list before another joins it: a small one
   * is copied into the buffer (with room for `next` bytes after it), so
   * what follows lies next to it and take() needs no join.
   */
  #spillLone(next: number): void {
    const lone = this.#lone;
    if (lone === undefined) return;
    this.#lone = undefined;
    this.#length = 0;
    if (lone.length >= LARGE_PIECE_BYTES) {
      this.#pieces.push(lone);
      this.#tailStart = -1;
      this.#length = lone.length;
      return;
    }
    const at = this.#room(lone.length + next);
    this.#buf.set(lone, at);
    this.#appended(at, lone.length);
  }

  #room(bytes: number): number {
    if (this.#used + bytes <= this.#buf.length) return this.#used;
    // Views already queued keep the old buffer alive; new bytes start a new one.
    this.#buf = new Uint8Array(Math.max(BUFFER_BYTES, bytes, this.#buf.length * 2));
    this.#used = 0;
    this.#tailStart = -1;
    return 0;
  }

  /** Records `bytes` written at `at`, extending the last piece when it is contiguous. */
  #appended(at: number, bytes: number): void {
    if (bytes === 0) return;
    if (this.#tailStart !== -1 && at === this.#used) {
      this.#pieces[this.#pieces.length - 1] = this.#buf.subarray(this.#tailStart, at + bytes);
    } else {
      this.#pieces.push(this.#buf.subarray(at, at + bytes));
      this.#tailStart = at;
    }
    this.#used = at + bytes;
    this.#length += bytes;
  }
}

/** "content-length: " + up to 16 digits + CRLF CRLF. */
const CONTENT_LENGTH_LINE_BYTES_MAX = 16 + 16 + 4;
