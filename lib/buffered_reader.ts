// A buffered reader over a byte source such as a `Deno.Conn`.
//
// Every TCP protocol in the stack frames its input with three questions:
// "give me the next line", "give me exactly N bytes", "give me everything up
// to this delimiter". This reader answers them over lib/net's ReadBuffer
// (the one read buffer: large reads into its free tail, compacted only when
// that tail is short, grown only as bytes arrive), so there is no per-byte
// allocation and no quadratic growth. Every read has an explicit bound, and
// a peer that closes mid-message gets an UnexpectedEofError, not a hang.
//
// Returned byte arrays are copies: they stay valid after later reads.

import { type Bytes, CR, LF } from "./bytes.ts";
import { DecodeError, LimitError, UnexpectedEofError } from "./errors.ts";
import { type ByteSource, ReadBuffer } from "./net/read_buffer.ts";

export type { ByteSource };

export interface BufferedReaderOptions {
  /** Bytes requested from the source per read at first; 16 KiB matches a TCP window. */
  chunkBytes?: number;
  /**
   * The buffer's hard bound: 16 MiB. Each read also has its own limit
   * (`bytesMax`), which is what normally stops a peer first.
   */
  bufferBytesMax?: number;
}

export interface ReadLineOptions {
  /** Longest line accepted, not counting its terminator. */
  bytesMax: number;
  /**
   * How a bare LF (without CR) is treated: "reject" throws a DecodeError
   * (SMTP and strict HTTP: bare LF enables smuggling), "accept" ends the line
   * there (RFC 9112 section 2.2 allows a lenient recipient to do this).
   */
  bareLf?: "reject" | "accept";
}

const DEFAULT_CHUNK_BYTES = 16 * 1024;
const DEFAULT_BUFFER_BYTES_MAX = 16 * 1024 * 1024;

export class BufferedReader {
  #source: ByteSource;
  #input: ReadBuffer;
  #eof = false;

  constructor(source: ByteSource, options: BufferedReaderOptions = {}) {
    this.#source = source;
    const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    if (!(chunkBytes >= 1)) throw new RangeError("chunkBytes must be at least 1");
    this.#input = new ReadBuffer({
      initialBytes: chunkBytes,
      sizeBytesMax: Math.max(chunkBytes, options.bufferBytesMax ?? DEFAULT_BUFFER_BYTES_MAX),
    });
  }

  /** Bytes already buffered and not yet consumed. */
  get buffered(): number {
    return this.#input.length;
  }

  /** True once the source has reported end of stream. */
  get eof(): boolean {
    return this.#eof;
  }

  /** A view of the buffered, unconsumed bytes (valid until the next call). */
  peekBuffered(): Bytes {
    return this.#input.view();
  }

  /**
   * Reads one line ending in CRLF (or LF, if accepted) and returns it without
   * its terminator. Returns null on a clean end of stream before any byte of
   * the line; throws UnexpectedEofError if the stream ends mid-line and
   * LimitError("line") once the line is longer than `bytesMax`.
   */
  async readLine(options: ReadLineOptions): Promise<Bytes | null> {
    const { bytesMax, bareLf = "reject" } = options;
    const input = this.#input;
    let scanned = 0; // bytes of the current line already searched for LF
    while (true) {
      const buf = input.bytes;
      const start = input.start;
      const lf = buf.indexOf(LF, start + scanned);
      if (lf !== -1 && lf < input.end) {
        const hasCr = lf > start && buf[lf - 1] === CR;
        if (!hasCr && bareLf === "reject") throw new DecodeError("bare LF in line");
        const lineEnd = hasCr ? lf - 1 : lf;
        if (lineEnd - start > bytesMax) throw lineTooLong(bytesMax);
        const line = buf.slice(start, lineEnd);
        input.consume(lf + 1 - start);
        return line;
      }
      scanned = input.length;
      // A CR may still be followed by LF, so allow one byte of slack.
      if (scanned > bytesMax + 1) throw lineTooLong(bytesMax);
      if (!(await this.#fill())) {
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
    const input = this.#input;
    if (input.length >= length) return input.take(length);
    if (input.length === 0 && this.#eof) return null;
    // Large reads go straight into the result instead of through the buffer.
    const out = new Uint8Array(length);
    let filled = input.length;
    out.set(input.view());
    input.consume(filled);
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
   * LimitError("delimited") once more than `bytesMax` precede the delimiter.
   */
  async readUntil(delimiter: Uint8Array, bytesMax: number): Promise<Bytes | null> {
    if (delimiter.length === 0) throw new RangeError("readUntil: empty delimiter");
    const input = this.#input;
    let searchFrom = 0;
    while (true) {
      const start = input.start;
      const at = indexOfIn(input.bytes, delimiter, start + searchFrom, input.end);
      if (at !== -1) {
        if (at - start > bytesMax) throw tooLong("delimited", bytesMax);
        const out = input.bytes.slice(start, at);
        input.consume(at + delimiter.length - start);
        return out;
      }
      // The delimiter may straddle what we have and what comes next.
      searchFrom = Math.max(0, this.buffered - delimiter.length + 1);
      if (searchFrom > bytesMax) throw tooLong("delimited", bytesMax);
      if (!(await this.#fill())) {
        if (this.buffered === 0) return null;
        throw new UnexpectedEofError("connection closed before the delimiter");
      }
    }
  }

  /**
   * Reads at most `bytesMax` (at least one) from what is buffered, reading
   * the source only when the buffer is empty. Returns null at end of stream.
   * Used to stream bodies through without holding them whole.
   */
  async readSome(bytesMax: number): Promise<Bytes | null> {
    if (!(bytesMax >= 1)) throw new RangeError("readSome: bytesMax must be at least 1");
    if (this.buffered === 0 && !(await this.#fill())) return null;
    return this.#input.take(Math.min(bytesMax, this.buffered));
  }

  /** One read from the source into the buffer; false at end of stream. */
  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    if (await this.#input.fill(this.#source) === null) {
      this.#eof = true;
      return false;
    }
    return true;
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

function lineTooLong(bytesMax: number): LimitError {
  return tooLong("line", bytesMax);
}

function tooLong(limit: string, bytesMax: number): LimitError {
  return new LimitError(limit, `${limit} longer than ${bytesMax} bytes`);
}
