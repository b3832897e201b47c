// A buffered reader over a byte source such as a `Deno.Conn`.
//
// Every TCP protocol in the stack frames its input with three questions:
// "give me the next line", "give me exactly N bytes", "give me everything up
// to this delimiter". This reader answers them with one growable buffer:
// bytes are read from the source in large chunks, consumed from the front,
// and compacted only when the free tail runs out, so there is no per-byte
// allocation and no quadratic growth. Every read has an explicit bound, and a
// peer that closes mid-message gets an UnexpectedEofError, not a hang.
//
// Returned byte arrays are copies: they stay valid after later reads.

import { type Bytes, CR, LF } from "./bytes.ts";
import { DecodeError, LimitError, UnexpectedEofError } from "./errors.ts";

/** Anything with a `Deno.Conn`-style `read`. */
export interface ByteSource {
  read(into: Uint8Array): Promise<number | null>;
}

export interface BufferedReaderOptions {
  /** Bytes requested from the source per read; 16 KiB matches a TCP window. */
  chunkBytes?: number;
}

export interface ReadLineOptions {
  /** Longest line accepted, not counting its terminator. */
  maxBytes: number;
  /**
   * How a bare LF (without CR) is treated: "reject" throws a DecodeError
   * (SMTP and strict HTTP: bare LF enables smuggling), "accept" ends the line
   * there (RFC 9112 section 2.2 allows a lenient recipient to do this).
   */
  bareLf?: "reject" | "accept";
}

const DEFAULT_CHUNK_BYTES = 16 * 1024;

export class BufferedReader {
  #source: ByteSource;
  #buffer: Bytes;
  #start = 0; // first unconsumed byte
  #end = 0; // one past the last buffered byte
  #eof = false;
  #chunkBytes: number;

  constructor(source: ByteSource, options: BufferedReaderOptions = {}) {
    this.#source = source;
    this.#chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    if (!(this.#chunkBytes >= 1)) throw new RangeError("chunkBytes must be at least 1");
    this.#buffer = new Uint8Array(this.#chunkBytes);
  }

  /** Bytes already buffered and not yet consumed. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** True once the source has reported end of stream. */
  get eof(): boolean {
    return this.#eof;
  }

  /** A view of the buffered, unconsumed bytes (valid until the next call). */
  peekBuffered(): Bytes {
    return this.#buffer.subarray(this.#start, this.#end);
  }

  /**
   * Reads one line ending in CRLF (or LF, if accepted) and returns it without
   * its terminator. Returns null on a clean end of stream before any byte of
   * the line; throws UnexpectedEofError if the stream ends mid-line and
   * LimitError("line") once the line is longer than `maxBytes`.
   */
  async readLine(options: ReadLineOptions): Promise<Bytes | null> {
    const { maxBytes, bareLf = "reject" } = options;
    let scanned = 0; // bytes of the current line already searched for LF
    while (true) {
      const lf = this.#buffer.indexOf(LF, this.#start + scanned);
      if (lf !== -1 && lf < this.#end) {
        const hasCr = lf > this.#start && this.#buffer[lf - 1] === CR;
        if (!hasCr && bareLf === "reject") throw new DecodeError("bare LF in line");
        const lineEnd = hasCr ? lf - 1 : lf;
        if (lineEnd - this.#start > maxBytes) throw lineTooLong(maxBytes);
        const line = this.#buffer.slice(this.#start, lineEnd);
        this.#start = lf + 1;
        return line;
      }
      scanned = this.#end - this.#start;
      // A CR may still be followed by LF, so allow one byte of slack.
      if (scanned > maxBytes + 1) throw lineTooLong(maxBytes);
      if (!(await this.#fill(maxBytes + 2))) {
        if (this.buffered === 0) return null;
        throw new UnexpectedEofError("connection closed in the middle of a line");
      }
    }
  }

  /**
   * Reads exactly `length` bytes. Returns null on a clean end of stream
   * before the first byte; throws UnexpectedEofError if it ends part way.
   * The caller checks `length` against its own limit first.
   */
  async readExact(length: number): Promise<Bytes | null> {
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new RangeError(`readExact: bad length ${length}`);
    }
    if (length === 0) return new Uint8Array(0);
    if (this.buffered >= length) return this.#take(length);
    if (this.buffered === 0 && this.#eof) return null;
    // Large reads go straight into the result instead of through the buffer.
    const out = new Uint8Array(length);
    let filled = this.buffered;
    out.set(this.#buffer.subarray(this.#start, this.#end));
    this.#start = this.#end = 0;
    while (filled < length) {
      const n = this.#eof ? null : await this.#source.read(out.subarray(filled));
      if (n === null) {
        this.#eof = true;
        if (filled === 0) return null;
        throw new UnexpectedEofError(`connection closed after ${filled} of ${length} bytes`);
      }
      filled += n;
    }
    return out;
  }

  /**
   * Reads up to and including `delimiter`, returning the bytes before it.
   * Returns null on a clean end of stream before any byte; throws
   * LimitError("delimited") once more than `maxBytes` precede the delimiter.
   */
  async readUntil(delimiter: Uint8Array, maxBytes: number): Promise<Bytes | null> {
    if (delimiter.length === 0) throw new RangeError("readUntil: empty delimiter");
    let searchFrom = 0;
    while (true) {
      const at = indexOfIn(this.#buffer, delimiter, this.#start + searchFrom, this.#end);
      if (at !== -1) {
        if (at - this.#start > maxBytes) throw tooLong("delimited", maxBytes);
        const out = this.#buffer.slice(this.#start, at);
        this.#start = at + delimiter.length;
        return out;
      }
      // The delimiter may straddle what we have and what comes next.
      searchFrom = Math.max(0, this.buffered - delimiter.length + 1);
      if (searchFrom > maxBytes) throw tooLong("delimited", maxBytes);
      if (!(await this.#fill(maxBytes + delimiter.length))) {
        if (this.buffered === 0) return null;
        throw new UnexpectedEofError("connection closed before the delimiter");
      }
    }
  }

  /**
   * Reads at most `maxBytes` (at least one) from what is buffered, reading
   * the source only when the buffer is empty. Returns null at end of stream.
   * Used to stream bodies through without holding them whole.
   */
  async readSome(maxBytes: number): Promise<Bytes | null> {
    if (!(maxBytes >= 1)) throw new RangeError("readSome: maxBytes must be at least 1");
    if (this.buffered === 0 && !(await this.#fill(1))) return null;
    return this.#take(Math.min(maxBytes, this.buffered));
  }

  #take(length: number): Bytes {
    const out = this.#buffer.slice(this.#start, this.#start + length);
    this.#start += length;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return out;
  }

  /**
   * Reads more bytes from the source, making room first. `wantBytes` is how
   * much the caller may need buffered at once; the buffer never grows past
   * it (plus one chunk), which is what keeps every read bounded. Returns
   * false at end of stream.
   */
  async #fill(wantBytes: number): Promise<boolean> {
    if (this.#eof) return false;
    // Make room when the free tail is gone, or too small to be worth a
    // read while consumed bytes sit at the front.
    const free = this.#buffer.length - this.#end;
    if (free === 0 || (free < this.#chunkBytes / 2 && this.#start > 0)) this.#makeRoom(wantBytes);
    const n = await this.#source.read(this.#buffer.subarray(this.#end));
    if (n === null) {
      this.#eof = true;
      return false;
    }
    this.#end += n;
    return true;
  }

  #makeRoom(wantBytes: number): void {
    const live = this.#end - this.#start;
    if (this.#start > 0 && live < this.#buffer.length / 2) {
      // Slide the unconsumed bytes to the front: cheap, and amortised
      // because it only happens when at least half the buffer is free.
      this.#buffer.copyWithin(0, this.#start, this.#end);
    } else {
      const capacity = Math.max(
        this.#buffer.length * 2,
        Math.min(live + this.#chunkBytes, wantBytes + this.#chunkBytes),
      );
      const grown = new Uint8Array(Math.max(capacity, live + 1));
      grown.set(this.#buffer.subarray(this.#start, this.#end));
      this.#buffer = grown;
    }
    this.#start = 0;
    this.#end = live;
  }
}

function indexOfIn(haystack: Bytes, needle: Uint8Array, from: number, end: number): number {
  const last = end - needle.length;
  let i = haystack.indexOf(needle[0], from);
  while (i !== -1 && i <= last) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
    i = haystack.indexOf(needle[0], i + 1);
  }
  return -1;
}

function lineTooLong(maxBytes: number): LimitError {
  return tooLong("line", maxBytes);
}

function tooLong(limit: string, maxBytes: number): LimitError {
  return new LimitError(limit, `${limit} longer than ${maxBytes} bytes`);
}
