// The one read buffer every TCP connection decodes from.
//
// Bytes are read from the socket into the free tail of one buffer and
// decoded in place from `bytes[start, end)`; a decoder says how many it used
// (`consume(n)`) or that it needs more (`fill(conn, bytesNeeded)`). Two rules,
// both measured in this repository, keep it cheap and safe:
//
// - Compact only when the free tail is short. An empty buffer restarts at 0
//   for free; otherwise unconsumed bytes are slid to the front only when the
//   tail left for the next read is under `readBytesMin` (a read into a few
//   bytes of tail costs a system call for nothing) and they fill at most half
//   the buffer, so each byte is copied a bounded number of times.
// - Grow toward an announced length only as bytes arrive. A decoder's
//   `bytesNeeded` (a RESP bulk length, a DNS frame length) is a peer's claim:
//   the buffer grows only once more than half of it holds bytes that really
//   arrived (and compacting cannot make a useful tail), then at most to twice its size, or to exactly what the message still
//   needs if that is less. A peer announcing 512 MiB and sending 10 bytes
//   costs 16 KiB. Past `sizeBytesMax` the next fill throws LimitError.
//
// After a large message the buffer shrinks back to its initial size once it
// is empty, so a connection does not keep what one big command needed.
//
//   const input = new ReadBuffer({ sizeBytesMax: limits.messageBytesMax + 1024 });
//   while (true) {
//     const decoded = decodeX(input.bytes, limits, input.start, input.end);
//     if (isIncomplete(decoded)) {
//       if (await input.fill(conn, decoded.bytesNeeded) === null) break; // EOF
//       continue;
//     }
//     input.consume(decoded.bytesUsed);
//     ...
//   }
//
// `bytes` is replaced when the buffer grows or shrinks: read it again after
// every fill, and copy what must outlive the next one. Loops that inline
// their awaits use `reserve()` (room made, the tail returned) and
// `commit(n)` instead of `fill()`; `append()` takes bytes read elsewhere.

import type { Bytes } from "../bytes.ts";
import { LimitError } from "../errors.ts";

/** Anything with a `Deno.Conn`-style `read`. */
export interface ByteSource {
  read(into: Uint8Array): Promise<number | null>;
}

export interface ReadBufferOptions {
  /** Size of the buffer at first and after a big message: 16 KiB (a typical TCP read), or sizeBytesMax if less. */
  initialBytes?: number;
  /** The buffer never grows past this; a fill that would need more throws LimitError. */
  sizeBytesMax: number;
  /** Shortest free tail worth a read; below it the buffer is compacted or grown. Default: initialBytes / 4. */
  readBytesMin?: number;
}

export const READ_BUFFER_INITIAL_BYTES = 16 * 1024;

export class ReadBuffer {
  #bytes: Bytes;
  #start = 0;
  #end = 0;
  #initialBytes: number;
  #sizeBytesMax: number;
  #readBytesMin: number;

  constructor(options: ReadBufferOptions) {
    const initial = options.initialBytes ??
      Math.min(READ_BUFFER_INITIAL_BYTES, options.sizeBytesMax);
    if (!(initial >= 1)) throw new RangeError("initialBytes must be at least 1");
    if (!(options.sizeBytesMax >= initial)) {
      throw new RangeError("sizeBytesMax must be at least initialBytes");
    }
    this.#initialBytes = initial;
    this.#sizeBytesMax = options.sizeBytesMax;
    this.#readBytesMin = Math.max(1, Math.min(initial, options.readBytesMin ?? initial >> 2));
    this.#bytes = new Uint8Array(initial);
  }

  /** The whole buffer; the unconsumed bytes are `bytes[start, end)`. Replaced on growth. */
  get bytes(): Bytes {
    return this.#bytes;
  }

  /** First unconsumed byte. */
  get start(): number {
    return this.#start;
  }

  /** One past the last byte read. */
  get end(): number {
    return this.#end;
  }

  /** Unconsumed bytes. */
  get length(): number {
    return this.#end - this.#start;
  }

  /**
   * The bound the buffer may grow to. May be changed while in use (Redis's
   * CONFIG SET client-query-buffer-limit applies to every client): the next
   * growth past it throws LimitError.
   */
  get sizeBytesMax(): number {
    return this.#sizeBytesMax;
  }

  set sizeBytesMax(bytes: number) {
    if (!(bytes >= this.#initialBytes)) {
      throw new RangeError("sizeBytesMax must be at least initialBytes");
    }
    this.#sizeBytesMax = bytes;
  }

  /** Current capacity (for tests and memory accounting). */
  get capacity(): number {
    return this.#bytes.length;
  }

  /** A view of the unconsumed bytes, valid until the next fill. */
  view(): Bytes {
    return this.#bytes.subarray(this.#start, this.#end);
  }

  /** Marks `n` bytes at the front as used. */
  consume(n: number): void {
    if (!(n >= 0 && n <= this.#end - this.#start)) {
      throw new RangeError(`consume(${n}) with ${this.#end - this.#start} bytes buffered`);
    }
    this.#start += n;
  }

  /** Copies up to `max` bytes out of the front and consumes them. */
  take(max: number): Bytes {
    const n = Math.min(max, this.#end - this.#start);
    const out = this.#bytes.slice(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  /**
   * One read from `source` into the free tail, after making room.
   * `bytesNeeded` is how many more bytes the decoder said it needs (0 when
   * unknown): the buffer grows toward it, never past what arrived times two.
   * Returns how many bytes arrived, or null at end of stream. Throws
   * LimitError when the buffer is full at `sizeBytesMax`.
   */
  fill(source: ByteSource, bytesNeeded = 0): Promise<number | null> {
    let into: Bytes;
    try {
      into = this.reserve(bytesNeeded);
    } catch (error) {
      return Promise.reject(error);
    }
    return source.read(into).then((n) => {
      if (n !== null) this.#end += n;
      return n;
    });
  }

  /**
   * Makes room for a read and returns the free tail to read into; call
   * `commit(n)` with what the read returned. `fill()` does both; loops that
   * inline their awaits (lib/http/server.ts) use the pair to save a promise.
   */
  reserve(bytesNeeded = 0): Bytes {
    const bytes = this.#bytes;
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
      if (bytes.length > this.#initialBytes * 4) this.#bytes = new Uint8Array(this.#initialBytes);
      // The whole buffer itself: no view allocated for the common case.
      return this.#bytes;
    }
    if (bytes.length - this.#end < this.#readBytesMin) this.#makeRoom(bytesNeeded);
    return this.#bytes.subarray(this.#end);
  }

  /** Records `n` bytes read into the tail returned by `reserve()`. */
  commit(n: number): void {
    this.#end += n;
  }

  /** Appends bytes read elsewhere (e.g. into a side buffer). */
  append(data: Uint8Array): void {
    while (this.#bytes.length - this.#end < data.length) this.#makeRoom(data.length);
    this.#bytes.set(data, this.#end);
    this.#end += data.length;
  }

  #makeRoom(bytesNeeded: number): void {
    const bytes = this.#bytes;
    const live = this.#end - this.#start;
    const full = bytes.length >= this.#sizeBytesMax;
    if (this.#start > 0 && (live <= bytes.length >> 1 || full)) {
      // At most half full (or as large as allowed): slide to the front.
      bytes.copyWithin(0, this.#start, this.#end);
    } else {
      if (full) {
        throw new LimitError(
          "read buffer",
          `message longer than the ${this.#sizeBytesMax}-byte read buffer`,
        );
      }
      // More than half full of bytes that arrived: grow, at most twofold,
      // or to what the message still needs when the decoder knows and it is less.
      const target = bytesNeeded > 0
        ? Math.min(live + Math.max(bytesNeeded, this.#readBytesMin), bytes.length * 2)
        : bytes.length * 2;
      const size = Math.min(this.#sizeBytesMax, Math.max(target, live + this.#readBytesMin));
      const grown = new Uint8Array(size);
      grown.set(bytes.subarray(this.#start, this.#end));
      this.#bytes = grown;
    }
    this.#start = 0;
    this.#end = live;
  }
}
