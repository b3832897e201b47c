// The message body after DATA (RFC 5321 4.1.1.4 and 4.5.2) and after BDAT
// (RFC 3030): push machines that take bytes as they arrive, hand the
// message on in pieces, and keep a few bytes of state at most, so a message
// of any size flows through in bounded memory.
//
// DATA. The body ends at exactly CRLF "." CRLF; the first CRLF is the last
// line's own end and belongs to the message. A line starting with "." has
// that dot removed (dot-unstuffing, 4.5.2). Nothing else ends the data:
// SMTP smuggling (2023, CVE-2023-51764/51765/51766) hides a second message
// after a "\n.\n" or "\r.\r" that one server takes for the end and another
// does not. Here a bare LF or a bare CR never starts a line, so a dot after
// one is an ordinary character, and the message is flagged
// (`bareLineEnds`): the session refuses it once the real end arrives (550
// 5.6.0), as Postfix does with smtpd_forbid_bare_newline. A NUL is flagged
// the same way (RFC 5321 does not allow it in text, nor does 8BITMIME).
//
// Size. The unstuffed bytes are counted as they pass; past `sizeBytesMax`
// the machine stops handing them on and sets `tooLarge`, but reads on to
// the end so the session can answer 552 and carry on (RFC 1870 section 6).
//
// Output. `onData` receives views into the input buffer (or a shared
// constant), valid only during the call: copy or write them out at once.

import { CR, LF } from "../bytes.ts";
import type { Bytes } from "../bytes.ts";

const DOT = 0x2e;
const NUL = 0x00;
const CR_BYTES: Bytes = new Uint8Array([CR]);

const LINE_START = 0;
const DOT_SEEN = 1;
const DOT_CR_SEEN = 2;
const IN_LINE = 3;
const CR_SEEN = 4;

export interface BodyOptions {
  /** Bytes handed on at most; past it `tooLarge` is set and the rest dropped. */
  sizeBytesMax: number;
  /** Receives the body in order: views valid only during the call. */
  onData: (bytes: Bytes) => void;
}

/** The DATA body: dot-unstuffing and the exact end CRLF.CRLF. */
export class DotDecoder {
  #state = LINE_START;
  #sizeBytesMax: number;
  #onData: (bytes: Bytes) => void;
  /** Bytes of the message after unstuffing, counted even past the limit. */
  sizeBytes = 0;
  /** True once the end-of-data line has been read. */
  done = false;
  /** More than `sizeBytesMax` bytes arrived. */
  tooLarge = false;
  /** A CR not followed by LF, or an LF not after CR, appeared. */
  bareLineEnds = false;
  /** A NUL octet appeared. */
  nul = false;

  constructor(options: BodyOptions) {
    this.#sizeBytesMax = options.sizeBytesMax;
    this.#onData = options.onData;
  }

  /**
   * Reads from `buf[from, to)` until the end of data or of the input;
   * returns how many bytes it used (through the final CRLF when `done`).
   * Bytes after the end are the client's next (pipelined) commands.
   */
  push(buf: Bytes, from = 0, to = buf.length): number {
    if (this.done) return 0;
    let state = this.#state;
    let runStart = from;
    let i = from;
    for (; i < to; i++) {
      const byte = buf[i];
      switch (state) {
        case LINE_START:
          if (byte === DOT) {
            // Either the end line or a stuffed dot: never part of the body.
            this.#emit(buf, runStart, i);
            runStart = i + 1;
            state = DOT_SEEN;
            continue;
          }
          break;
        case DOT_SEEN:
          if (byte === CR) {
            runStart = i + 1;
            state = DOT_CR_SEEN;
            continue;
          }
          break;
        case DOT_CR_SEEN:
          if (byte === LF) {
            this.done = true;
            this.#state = LINE_START;
            return i + 1 - from;
          }
          // ".\r" then something else: the dot was stuffing, the CR is bare.
          this.bareLineEnds = true;
          this.#emit(CR_BYTES, 0, 1);
          runStart = i;
          break;
        case CR_SEEN:
          if (byte === LF) {
            state = LINE_START;
            continue;
          }
          this.bareLineEnds = true;
          break;
      }
      // An ordinary byte inside a line.
      if (byte === CR) state = CR_SEEN;
      else {
        if (byte === LF) this.bareLineEnds = true;
        else if (byte === NUL) this.nul = true;
        state = IN_LINE;
      }
    }
    this.#emit(buf, runStart, i);
    this.#state = state;
    return to - from;
  }

  #emit(buf: Bytes, start: number, end: number): void {
    if (end <= start) return;
    this.sizeBytes += end - start;
    if (this.sizeBytes > this.#sizeBytesMax) {
      this.tooLarge = true;
      return;
    }
    this.#onData(buf.subarray(start, end));
  }
}

/** One BDAT chunk (RFC 3030 section 2): exactly `chunkBytes` octets, taken as they are. */
export class ChunkReader {
  #left: number;
  #onData: (bytes: Bytes) => void;
  done: boolean;

  constructor(chunkBytes: number, onData: (bytes: Bytes) => void) {
    this.#left = chunkBytes;
    this.#onData = onData;
    this.done = chunkBytes === 0;
  }

  /** Bytes of the chunk still to come. */
  get bytesLeft(): number {
    return this.#left;
  }

  /** Takes up to what the chunk still needs from `buf[from, to)`; returns how many. */
  push(buf: Bytes, from = 0, to = buf.length): number {
    const n = Math.min(this.#left, to - from);
    if (n > 0) this.#onData(buf.subarray(from, from + n));
    this.#left -= n;
    if (this.#left === 0) this.done = true;
    return n;
  }
}

/**
 * The sending side of DATA (RFC 5321 4.5.2): a dot doubled at the start of
 * every line, and the end line ".\r\n" (after a CRLF added when the body
 * does not end with one). Push machine: one byte of state, any split.
 */
export class DotEncoder {
  /** The last two bytes pushed; the DATA command's own CRLF at first. */
  #prev = LF;
  #prevPrev = CR;

  /** The stuffed form of `bytes`. */
  push(bytes: Uint8Array): Bytes {
    let dots = 0;
    let before = this.#prev;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] === DOT && before === LF) dots++;
      before = bytes[i];
    }
    const out = new Uint8Array(bytes.length + dots);
    let o = 0;
    before = this.#prev;
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i];
      if (byte === DOT && before === LF) out[o++] = DOT;
      out[o++] = byte;
      before = byte;
    }
    if (bytes.length >= 2) {
      this.#prevPrev = bytes[bytes.length - 2];
      this.#prev = bytes[bytes.length - 1];
    } else if (bytes.length === 1) {
      this.#prevPrev = this.#prev;
      this.#prev = bytes[0];
    }
    return out;
  }

  /** The end of data: CRLF if the body did not end with one, then ".\r\n". */
  end(): Bytes {
    const ended = this.#prev === LF && this.#prevPrev === CR;
    return new TextEncoder().encode(ended ? ".\r\n" : "\r\n.\r\n") as Bytes;
  }
}
