// What a handler gets from the server: the request, a thin view of its
// decoded head, and the body, read lazily from the connection's buffer
// (Content-Length or chunked), under the request's body limit, with
// `100 Continue` sent only when the handler starts reading.

import { type Bytes, concat } from "../bytes.ts";
import { LimitError } from "../errors.ts";
import { ChunkedDecoder } from "./chunked.ts";
import type { RequestHead } from "./head.ts";
import type { HttpHeaders } from "./headers.ts";
import type { HttpRequest } from "./message.ts";

/** Unread body bytes we read and discard to keep a connection; past this we close. */
const DRAIN_BYTES_MAX = 64 * 1024;

/** The connection as a body sees it: its read buffer and a way to fill it. */
export interface BodySource {
  /** Bytes buffered and not consumed yet. */
  readonly buffered: number;
  /** Takes up to `max` buffered bytes (a copy). */
  take(max: number): Bytes;
  /** Moves up to `into.length` buffered bytes into `into`; returns how many. */
  takeInto(into: Uint8Array): number;
  /** Runs `fn` over the buffered bytes; it returns how many it consumed. */
  consume(fn: (view: Bytes) => number): void;
  /** Reads more bytes under the body timeout; throws at end of stream. */
  fillForBody(): Promise<void>;
  /**
   * Reads from the socket straight into `into` (the buffer must be empty),
   * under the body timeout; returns how many bytes, throws at end of stream.
   */
  readForBody(into: Uint8Array): Promise<number>;
  /** Sends `100 Continue`. */
  sendContinue(): Promise<void>;
}

/** The body of one request, read from the connection's buffer on demand. */
export class BodyState {
  #head: RequestHead;
  #conn: BodySource;
  #remaining: number; // for Content-Length
  #decoder: ChunkedDecoder | undefined;
  #read = 0;
  /** What a chunked piece had beyond the caller's buffer (`nextInto`). */
  #leftover: Bytes | undefined;
  #continueSent = false;
  limit = Infinity;
  done = false;
  /** Set when the body broke its framing or limit: the connection must close. */
  broken = false;

  constructor(head: RequestHead, conn: BodySource) {
    this.#head = head;
    this.#conn = conn;
    this.#remaining = head.framing.kind === "length" ? head.framing.length : 0;
    if (head.framing.kind === "chunked") this.#decoder = new ChunkedDecoder();
  }

  get trailers(): HttpHeaders | undefined {
    return this.#decoder?.trailers;
  }

  /** The next piece of the body, or null at its end. */
  async next(): Promise<Bytes | null> {
    const leftover = this.#leftover;
    if (leftover !== undefined) {
      this.#leftover = undefined;
      return leftover;
    }
    if (this.done) return null;
    try {
      await this.#beforeRead();
      const chunk = await this.#pull(Infinity);
      if (chunk !== null) this.#count(chunk.length);
      return chunk;
    } catch (error) {
      this.broken = true;
      throw error;
    }
  }

  /**
   * Reads the next body bytes into `into`; returns how many, or null at the
   * end. A Content-Length body not buffered yet is read from the socket
   * straight into `into` (at most what remains of the body); a chunked body
   * is decoded as `next()` does and copied, keeping what does not fit.
   */
  async nextInto(into: Uint8Array): Promise<number | null> {
    if (into.length === 0) throw new RangeError("nextInto needs room for at least one byte");
    const leftover = this.#leftover;
    if (leftover !== undefined) {
      const n = Math.min(leftover.length, into.length);
      into.set(n === leftover.length ? leftover : leftover.subarray(0, n));
      this.#leftover = n === leftover.length ? undefined : leftover.subarray(n);
      return n;
    }
    if (this.done) return null;
    try {
      await this.#beforeRead();
      if (this.#decoder !== undefined) {
        const chunk = await this.#pull(Infinity);
        if (chunk === null) return null;
        this.#count(chunk.length);
        const n = Math.min(chunk.length, into.length);
        into.set(n === chunk.length ? chunk : chunk.subarray(0, n));
        if (n < chunk.length) this.#leftover = chunk.subarray(n);
        return n;
      }
      if (this.#remaining === 0) {
        this.done = true;
        return null;
      }
      const want = Math.min(this.#remaining, into.length);
      const target = want === into.length ? into : into.subarray(0, want);
      const n = this.#conn.buffered > 0
        ? this.#conn.takeInto(target)
        : await this.#conn.readForBody(target);
      this.#remaining -= n;
      if (this.#remaining === 0) this.done = true;
      this.#count(n);
      return n;
    } catch (error) {
      this.broken = true;
      throw error;
    }
  }

  /** The checks and the `100 Continue` that come before reading body bytes. */
  async #beforeRead(): Promise<void> {
    if (this.#head.framing.kind === "length" && this.#head.framing.length > this.limit) {
      throw new LimitError("bodyBytes", `request body larger than ${this.limit} bytes`);
    }
    if (this.#head.expectContinue && !this.#continueSent) {
      this.#continueSent = true;
      await this.#conn.sendContinue();
    }
  }

  #count(bytes: number): void {
    this.#read += bytes;
    if (this.#read > this.limit) {
      throw new LimitError("bodyBytes", `request body larger than ${this.limit} bytes`);
    }
  }

  async #pull(max: number): Promise<Bytes | null> {
    if (this.#decoder === undefined) {
      if (this.#remaining === 0) {
        this.done = true;
        return null;
      }
      if (this.#conn.buffered === 0) await this.#conn.fillForBody();
      const chunk = this.#conn.take(Math.min(this.#remaining, max));
      this.#remaining -= chunk.length;
      if (this.#remaining === 0) this.done = true;
      return chunk;
    }
    const decoder = this.#decoder;
    while (true) {
      if (this.#conn.buffered === 0) await this.#conn.fillForBody();
      const parts: Bytes[] = [];
      this.#conn.consume((view) => decoder.push(view, parts));
      if (decoder.done) this.done = true;
      if (parts.length > 0) return concat(parts);
      if (this.done) return null;
    }
  }

  /**
   * True when the unread rest may be discarded to keep the connection: its
   * framing is sound, the client was not left waiting for 100 Continue, and
   * a known length is small.
   */
  canDrain(): boolean {
    if (this.broken) return false;
    if (this.#head.expectContinue && !this.#continueSent) return false;
    if (this.#decoder === undefined) return this.#remaining <= DRAIN_BYTES_MAX;
    return true;
  }

  /** Reads and discards the rest, up to DRAIN_BYTES_MAX; throws past it. */
  async drain(): Promise<void> {
    let budget = DRAIN_BYTES_MAX;
    while (!this.done) {
      const chunk = await this.#pull(budget);
      if (chunk === null) break;
      budget -= chunk.length;
      if (budget < 0) throw new LimitError("bodyBytes", "unread body too large to drain");
    }
  }
}

/** A request as the handler sees it: a thin view of the decoded head. */
export class ServerRequest implements HttpRequest {
  #head: RequestHead;
  #conn: Deno.TcpConn;
  #params: Record<string, string> | undefined;
  #bodyState: BodyState | undefined;
  #stream: ReadableStream<Bytes> | null | undefined;
  readonly startedMs: number | undefined;

  constructor(
    head: RequestHead,
    body: BodyState | undefined,
    bodyLimitBytes: number,
    conn: Deno.TcpConn,
    startedMs?: number,
  ) {
    this.startedMs = startedMs;
    this.#head = head;
    this.#conn = conn;
    this.#bodyState = body;
    if (body) body.limit = bodyLimitBytes;
    this.#bodyLimit = bodyLimitBytes;
  }

  get method(): string {
    return this.#head.method;
  }

  get target(): string {
    return this.#head.target;
  }

  get path(): string {
    return this.#head.path;
  }

  get query(): string {
    return this.#head.query;
  }

  get version(): "1.0" | "1.1" {
    return this.#head.version;
  }

  get headers(): HttpHeaders {
    return this.#head.headers;
  }

  get remoteAddr(): Deno.NetAddr {
    return this.#conn.remoteAddr;
  }

  get declaredBodyBytes(): number | undefined {
    const framing = this.#head.framing;
    return framing.kind === "length" ? framing.length : framing.kind === "none" ? 0 : undefined;
  }

  /** Route parameters; the object is made when first asked for. */
  get params(): Record<string, string> {
    return this.#params ??= {};
  }

  set params(value: Record<string, string>) {
    this.#params = value;
  }

  #bodyLimit: number;

  get bodyLimitBytes(): number {
    return this.#bodyLimit;
  }

  set bodyLimitBytes(value: number) {
    this.#bodyLimit = value;
    if (this.#bodyState) this.#bodyState.limit = value;
  }

  /** Trailer fields of a chunked body, once it has been read to the end. */
  get trailers(): HttpHeaders | undefined {
    return this.#bodyState?.trailers;
  }

  readBodyInto(into: Uint8Array): Promise<number | null> {
    const state = this.#bodyState;
    if (state === undefined) return Promise.resolve(null);
    if (this.#stream != null) {
      return Promise.reject(new TypeError("the body is being read as a stream"));
    }
    return state.nextInto(into);
  }

  get body(): ReadableStream<Bytes> | null {
    if (this.#stream !== undefined) return this.#stream;
    const state = this.#bodyState;
    if (state === undefined) return this.#stream = null;
    // highWaterMark 0: nothing is read (and no 100 Continue sent) until the
    // handler asks for it.
    this.#stream = new ReadableStream<Bytes>({
      async pull(controller) {
        const chunk = await state.next();
        if (chunk === null) controller.close();
        else controller.enqueue(chunk);
      },
    }, { highWaterMark: 0 });
    return this.#stream;
  }
}
