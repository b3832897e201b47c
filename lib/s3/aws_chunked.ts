// The aws-chunked content coding S3 takes for streamed uploads (what the AWS
// SDKs and the aws CLI send by default): the body is a series of chunks,
// each `hex-size[;chunk-signature=hex]\r\n data \r\n`, ended by a chunk of
// size 0 and, for the *-TRAILER variants, trailing header lines (a
// checksum, and for signed ones x-amz-trailer-signature), then an empty
// line.
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html
//
// A push machine in the style of lib/http/chunked.ts: bytes go in as they
// arrive, split anywhere; events come out. Memory is bounded by the line
// limit (a chunk header or trailer line is buffered until its CRLF); chunk
// data is never buffered: `data` events are views into the pushed input,
// valid until the next push. Checking signatures and checksums is the
// caller's (it owns the keys and the hashes). Pure: no I/O.

import { LimitError } from "../errors.ts";

export interface AwsChunkedLimits {
  /** A chunk header or trailer line: 4 KiB (a signature line is about 90 bytes). */
  lineBytesMax: number;
  /** Trailer lines: 16. */
  trailersMax: number;
}

export const AWS_CHUNKED_LIMITS: AwsChunkedLimits = { lineBytesMax: 4096, trailersMax: 16 };

export type AwsChunkedEvent =
  /** A chunk begins; size 0 is the last one. */
  | { kind: "chunk"; sizeBytes: number; signature: string | undefined }
  /** Data of the current chunk: a view into the input. */
  | { kind: "data"; bytes: Uint8Array }
  /** The current chunk's data ended (after its CRLF). */
  | { kind: "chunk-end" }
  /** One trailing header line, name lower-cased. */
  | { kind: "trailer"; name: string; value: string }
  /** The body ended: nothing may follow. */
  | { kind: "end" };

/** Thrown for bytes that are not aws-chunked. */
export class AwsChunkedSyntaxError extends SyntaxError {
  override name = "AwsChunkedSyntaxError";
}

type State = "header" | "data" | "data-cr" | "data-lf" | "trailer" | "done";

const CR = 0x0d, LF = 0x0a;
const decoder = new TextDecoder();

export class AwsChunkedDecoder {
  readonly #limits: AwsChunkedLimits;
  #state: State = "header";
  #line: number[] = [];
  #remaining = 0;
  #trailers = 0;

  constructor(limits: Partial<AwsChunkedLimits> = {}) {
    this.#limits = { ...AWS_CHUNKED_LIMITS, ...limits };
  }

  get done(): boolean {
    return this.#state === "done";
  }

  /** Consumes all of `input`, appending what it completes to `out`. */
  push(input: Uint8Array, out: AwsChunkedEvent[]): void {
    let i = 0;
    while (i < input.length) {
      switch (this.#state) {
        case "data": {
          const n = Math.min(this.#remaining, input.length - i);
          out.push({ kind: "data", bytes: input.subarray(i, i + n) });
          i += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#state = "data-cr";
          break;
        }
        case "data-cr":
          if (input[i++] !== CR) throw new AwsChunkedSyntaxError("chunk data not followed by CRLF");
          this.#state = "data-lf";
          break;
        case "data-lf":
          if (input[i++] !== LF) throw new AwsChunkedSyntaxError("chunk data not followed by CRLF");
          out.push({ kind: "chunk-end" });
          this.#state = "header";
          break;
        case "header":
        case "trailer": {
          const line = this.#takeLine(input, i);
          i = line.next;
          if (line.text === undefined) break;
          if (this.#state === "header") this.#header(line.text, out);
          else this.#trailer(line.text, out);
          break;
        }
        case "done":
          throw new AwsChunkedSyntaxError("bytes after the end of an aws-chunked body");
      }
    }
  }

  /** Gathers a line up to CRLF; text is undefined until it is complete. */
  #takeLine(input: Uint8Array, from: number): { text: string | undefined; next: number } {
    for (let i = from; i < input.length; i++) {
      const byte = input[i];
      if (byte === LF) {
        const line = this.#line;
        if (line.length === 0 || line[line.length - 1] !== CR) {
          throw new AwsChunkedSyntaxError("bare LF in an aws-chunked line");
        }
        this.#line = [];
        return { text: decoder.decode(Uint8Array.from(line.slice(0, -1))), next: i + 1 };
      }
      if (this.#line.length >= this.#limits.lineBytesMax) {
        throw new LimitError(
          "lineBytesMax",
          `aws-chunked line longer than ${this.#limits.lineBytesMax} bytes`,
        );
      }
      this.#line.push(byte);
    }
    return { text: undefined, next: input.length };
  }

  #header(text: string, out: AwsChunkedEvent[]): void {
    const m = /^([0-9a-fA-F]{1,15})(?:;chunk-signature=([0-9a-f]{64}))?$/.exec(text);
    if (m === null) throw new AwsChunkedSyntaxError(`bad chunk header: ${text.slice(0, 100)}`);
    const sizeBytes = parseInt(m[1], 16);
    out.push({ kind: "chunk", sizeBytes, signature: m[2] });
    if (sizeBytes === 0) this.#state = "trailer";
    else {
      this.#remaining = sizeBytes;
      this.#state = "data";
    }
  }

  #trailer(text: string, out: AwsChunkedEvent[]): void {
    if (text === "") {
      this.#state = "done";
      out.push({ kind: "end" });
      return;
    }
    const colon = text.indexOf(":");
    if (colon <= 0) throw new AwsChunkedSyntaxError(`bad trailer line: ${text.slice(0, 100)}`);
    if (++this.#trailers > this.#limits.trailersMax) {
      throw new LimitError("trailersMax", `more than ${this.#limits.trailersMax} trailer lines`);
    }
    out.push({
      kind: "trailer",
      name: text.slice(0, colon).trim().toLowerCase(),
      value: text.slice(colon + 1).trim(),
    });
  }
}
