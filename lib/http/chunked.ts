// The chunked transfer coding (RFC 9112 section 7.1), both ways.
//
// `ChunkedDecoder` is a push machine: feed it whatever bytes arrived, split
// anywhere, and it hands back views of the chunk data and says how many input
// bytes it consumed; it never buffers chunk data itself, so memory stays
// bounded whatever the body size. Chunk-size lines and trailer sections are
// bounded by `HttpLimits`. A chunk size that is not hex, overflows, or a
// chunk not followed by CRLF is a DecodeError (400 and close: the framing is
// lost). Chunk extensions are accepted and ignored (section 7.1.1); trailer
// fields are validated like header fields and kept.

import type { Bytes } from "../bytes.ts";
import { DecodeError, LimitError } from "../errors.ts";
import { DEFAULT_LIMITS, type HttpLimits } from "./head.ts";
import { HttpHeaders } from "./headers.ts";

const CR = 0x0d;
const LF = 0x0a;
/** 2^53 - 1 needs 14 hex digits; a longer size cannot be a real chunk. */
const MAX_SIZE_DIGITS = 14;

type State = "size" | "data" | "dataEnd" | "trailer" | "done";

export class ChunkedDecoder {
  #state: State = "size";
  #line = ""; // the size or trailer line received so far, without CRLF
  #sawCr = false;
  #remaining = 0; // data bytes left in the current chunk
  #trailerBytes = 0;
  #limits: Readonly<HttpLimits>;
  readonly trailers: HttpHeaders = new HttpHeaders();

  constructor(limits: Readonly<HttpLimits> = DEFAULT_LIMITS) {
    this.#limits = limits;
  }

  /** True once the last chunk and the trailer section have been read. */
  get done(): boolean {
    return this.#state === "done";
  }

  /**
   * Consumes bytes from `input`, appending views of chunk data to `out`.
   * Returns how many bytes were consumed: all of them, or fewer once the
   * body has ended (the rest belongs to the next message).
   */
  push(input: Bytes, out: Bytes[]): number {
    let pos = 0;
    while (pos < input.length && this.#state !== "done") {
      if (this.#state === "data") {
        const n = Math.min(this.#remaining, input.length - pos);
        out.push(input.subarray(pos, pos + n));
        pos += n;
        this.#remaining -= n;
        if (this.#remaining === 0) this.#state = "dataEnd";
        continue;
      }
      const byte = input[pos++];
      if (this.#state === "dataEnd") {
        // Exactly CRLF after the chunk data.
        if (!this.#sawCr) {
          if (byte !== CR) throw new DecodeError("chunk data not followed by CRLF");
          this.#sawCr = true;
        } else {
          if (byte !== LF) throw new DecodeError("chunk data not followed by CRLF");
          this.#sawCr = false;
          this.#state = "size";
        }
        continue;
      }
      // "size" or "trailer": collect one line.
      if (this.#sawCr) {
        if (byte !== LF) throw new DecodeError("CR without LF in chunked body");
        this.#sawCr = false;
        this.#endLine();
      } else if (byte === CR) {
        this.#sawCr = true;
      } else if (byte === LF) {
        throw new DecodeError("bare LF in chunked body");
      } else {
        this.#line += String.fromCharCode(byte);
        this.#checkLineLength();
      }
    }
    return pos;
  }

  #checkLineLength(): void {
    if (this.#state === "size") {
      if (this.#line.length > this.#limits.chunkLineBytes) {
        throw new LimitError("chunkLineBytes", "chunk-size line too long");
      }
    } else if (this.#trailerBytes + this.#line.length > this.#limits.trailerBytes) {
      throw new LimitError("trailerBytes", "trailer section too long");
    }
  }

  #endLine(): void {
    const line = this.#line;
    this.#line = "";
    if (this.#state === "size") {
      this.#remaining = parseChunkSize(line);
      this.#state = this.#remaining === 0 ? "trailer" : "data";
      return;
    }
    if (line === "") {
      this.#state = "done";
      return;
    }
    this.#trailerBytes += line.length + 2;
    this.trailers.append(...parseTrailerField(line));
  }
}

/** chunk-size [ chunk-ext ]: 1*HEXDIG *( BWS ";" BWS ext-name [ "=" ext-val ] ). */
function parseChunkSize(line: string): number {
  let i = 0;
  while (i < line.length && isHex(line.charCodeAt(i))) i++;
  if (i === 0) throw new DecodeError("invalid chunk size");
  if (i > MAX_SIZE_DIGITS) throw new DecodeError("chunk size too large");
  const rest = line.slice(i);
  if (rest !== "" && !/^[ \t]*;[\x20-\x7e\t]*$/.test(rest)) {
    throw new DecodeError("invalid chunk size");
  }
  const size = parseInt(line.slice(0, i), 16);
  if (!Number.isSafeInteger(size)) throw new DecodeError("chunk size too large");
  return size;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function parseTrailerField(line: string): [string, string] {
  const colon = line.indexOf(":");
  const name = colon === -1 ? "" : line.slice(0, colon);
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) throw new DecodeError("bad trailer field");
  const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) throw new DecodeError("bad byte in trailer value");
  }
  return [name, value];
}

const encoder = new TextEncoder();

/** One chunk on the wire: size in hex, CRLF, the data, CRLF. Empty data gives nothing. */
export function encodeChunk(data: Uint8Array): Bytes {
  if (data.length === 0) return new Uint8Array(0);
  const size = encoder.encode(data.length.toString(16) + "\r\n");
  const out = new Uint8Array(size.length + data.length + 2);
  out.set(size);
  out.set(data, size.length);
  out[out.length - 2] = CR;
  out[out.length - 1] = LF;
  return out;
}

/** The last chunk and an empty trailer section (or the given trailers). */
export function encodeLastChunk(trailers?: HttpHeaders): Bytes {
  let text = "0\r\n";
  if (trailers) { for (const [name, value] of trailers) text += `${name}: ${value}\r\n`; }
  return encoder.encode(text + "\r\n");
}
