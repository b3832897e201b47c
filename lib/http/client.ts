// An HTTP/1.1 client on Deno.connect: a keep-alive connection pool per
// origin, streaming request and response bodies (chunked both ways),
// connect/header/body/idle timeouts and errors that say what went wrong.
// Used by the load balancer, the worker, the `curl` command and tests.
//
//   await using client = new HttpClient();
//   const response = await client.request("http://127.0.0.1:8001/api/spells", {
//     method: "POST", headers: { "content-type": "application/json" }, body: "{}",
//   });
//   response.status; await response.json();
//
// A response body must be read to the end (or cancelled) before its
// connection goes back to the pool; `text()`, `json()` and `bytes()` do so.
// A request that fails on a reused connection before any response byte
// arrives (the server closed an idle connection as we reused it) is retried
// once on a new connection when it is idempotent and its body is not a
// stream. https: uses Deno.connectTls. Left out: proxies, redirects (the
// caller sees 3xx), cookies, content codings, Expect: 100-continue.

import { type Bytes, concat } from "../bytes.ts";
import { isDisconnect, UnexpectedEofError } from "../errors.ts";
import { ChunkedDecoder, encodeChunk, encodeLastChunk } from "./chunked.ts";
import {
  type BodyFraming,
  decodeResponseHead,
  DEFAULT_LIMITS,
  type HttpLimits,
  responseFraming,
  type ResponseHead,
} from "./head.ts";
import { type HeadersInit, HttpHeaders, listTokens } from "./headers.ts";
import type { BodyInit } from "./message.ts";

export interface ClientOptions {
  /** Time to establish a TCP connection: 10 s. */
  connectTimeoutMs?: number;
  /** Time from the end of the request to the end of the response head: 30 s. */
  headerTimeoutMs?: number;
  /** Time allowed between two reads of a response body: 30 s. */
  bodyTimeoutMs?: number;
  /** How long an idle pooled connection is kept: 4 s (under servers' usual 5 s). */
  idleTimeoutMs?: number;
  /** Idle connections kept per origin: 32. */
  maxIdlePerOrigin?: number;
  limits?: Partial<HttpLimits>;
}

export interface RequestOptions {
  method?: string;
  headers?: HeadersInit;
  body?: BodyInit;
  /** Overrides the client's header timeout for this request. */
  headerTimeoutMs?: number;
}

export type ClientErrorCode = "connect" | "timeout" | "protocol" | "closed" | "usage";

/** Every failure of the client, with a code saying which kind it was. */
export class HttpClientError extends Error {
  override name = "HttpClientError";
  readonly code: ClientErrorCode;
  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export interface ClientResponse {
  readonly status: number;
  readonly reason: string;
  readonly version: "1.0" | "1.1";
  readonly headers: HttpHeaders;
  /** The body stream (empty for HEAD, 204, 304). */
  readonly body: ReadableStream<Bytes>;
  /** Trailer fields of a chunked body, once read to the end. */
  readonly trailers: HttpHeaders | undefined;
  bytes(): Promise<Bytes>;
  text(): Promise<string>;
  json<T = unknown>(): Promise<T>;
}

const encoder = new TextEncoder();
const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"]);
const READ_CHUNK_BYTES = 16 * 1024;

interface Origin {
  key: string;
  hostname: string;
  port: number;
  tls: boolean;
  hostHeader: string;
}

export class HttpClient {
  #options: Required<Omit<ClientOptions, "limits">> & { limits: Readonly<HttpLimits> };
  #idle = new Map<string, ClientConnection[]>();
  #closed = false;

  constructor(options: ClientOptions = {}) {
    this.#options = {
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      headerTimeoutMs: options.headerTimeoutMs ?? 30_000,
      bodyTimeoutMs: options.bodyTimeoutMs ?? 30_000,
      idleTimeoutMs: options.idleTimeoutMs ?? 4_000,
      maxIdlePerOrigin: options.maxIdlePerOrigin ?? 32,
      limits: { ...DEFAULT_LIMITS, ...options.limits },
    };
  }

  /** Idle pooled connections right now (all origins). */
  get idleConnections(): number {
    let n = 0;
    for (const list of this.#idle.values()) n += list.length;
    return n;
  }

  /** Sends one request and resolves once the response head has arrived. */
  async request(url: string | URL, options: RequestOptions = {}): Promise<ClientResponse> {
    if (this.#closed) throw new HttpClientError("usage", "client is closed");
    const target = typeof url === "string" ? parseUrl(url) : url;
    const origin = originOf(target);
    const method = (options.method ?? "GET").toUpperCase();
    const canRetry = IDEMPOTENT.has(method) && !(options.body instanceof ReadableStream);
    const pooled = this.#takeIdle(origin.key);
    if (pooled) {
      try {
        return await this.#exchange(pooled, origin, target, method, options);
      } catch (error) {
        if (!(canRetry && error instanceof StaleConnectionError)) throw unwrap(error);
      }
    }
    const conn = await this.#connect(origin);
    try {
      return await this.#exchange(conn, origin, target, method, options);
    } catch (error) {
      throw unwrap(error);
    }
  }

  /** Closes idle connections; responses in flight finish on their own. */
  close(): Promise<void> {
    this.#closed = true;
    for (const list of this.#idle.values()) for (const conn of list) conn.close();
    this.#idle.clear();
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #takeIdle(key: string): ClientConnection | undefined {
    const list = this.#idle.get(key);
    while (list && list.length > 0) {
      const conn = list.pop()!;
      conn.stopIdleTimer();
      if (!conn.closed) return conn;
    }
    return undefined;
  }

  #release(key: string, conn: ClientConnection): void {
    if (this.#closed || conn.closed) return conn.close();
    let list = this.#idle.get(key);
    if (!list) this.#idle.set(key, list = []);
    if (list.length >= this.#options.maxIdlePerOrigin) return conn.close();
    list.push(conn);
    conn.startIdleTimer(this.#options.idleTimeoutMs, () => {
      const at = list!.indexOf(conn);
      if (at !== -1) list!.splice(at, 1);
    });
  }

  async #connect(origin: Origin): Promise<ClientConnection> {
    const connecting: Promise<Deno.Conn> = origin.tls
      ? Deno.connectTls({ hostname: origin.hostname, port: origin.port })
      : Deno.connect({ hostname: origin.hostname, port: origin.port });
    let conn: Deno.Conn;
    try {
      conn = await withTimeout(connecting, this.#options.connectTimeoutMs, () => {
        connecting.then((c) => c.close(), () => {});
      });
    } catch (error) {
      if (error instanceof TimeoutSignal) {
        throw new HttpClientError(
          "timeout",
          `connect to ${origin.key} timed out after ${this.#options.connectTimeoutMs} ms`,
        );
      }
      throw new HttpClientError("connect", `cannot connect to ${origin.key}: ${message(error)}`, {
        cause: error,
      });
    }
    if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
    return new ClientConnection(conn);
  }

  async #exchange(
    conn: ClientConnection,
    origin: Origin,
    url: URL,
    method: string,
    options: RequestOptions,
  ): Promise<ClientResponse> {
    const reused = conn.used;
    conn.used = true;
    const headers = new HttpHeaders(options.headers);
    if (!headers.has("host")) headers.set("host", origin.hostHeader);
    const body = options.body ?? null;
    let text = `${method} ${url.pathname}${url.search} HTTP/1.1\r\n`;
    let streamBody: ReadableStream<Uint8Array> | null = null;
    let fixed: Uint8Array | null = null;
    // The framing fields are ours to write: never both (RFC 9112 section 6.3).
    headers.delete("transfer-encoding");
    if (body instanceof ReadableStream) {
      streamBody = body;
      if (!headers.has("content-length")) headers.set("transfer-encoding", "chunked");
    } else if (body !== null) {
      fixed = typeof body === "string" ? encoder.encode(body) : body;
      headers.set("content-length", String(fixed.length));
    } else if (method === "POST" || method === "PUT" || method === "PATCH") {
      headers.set("content-length", "0");
    } else {
      headers.delete("content-length");
    }
    for (const [name, value] of headers) {
      if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name) || /[\0\r\n]/.test(value)) {
        throw new HttpClientError("usage", `invalid header field ${JSON.stringify(name)}`);
      }
      text += `${name}: ${value}\r\n`;
    }
    const head = encoder.encode(text + "\r\n");
    try {
      if (fixed !== null && fixed.length < 64 * 1024) {
        const out = new Uint8Array(head.length + fixed.length);
        out.set(head);
        out.set(fixed, head.length);
        await conn.write(out);
      } else {
        await conn.write(head);
        if (fixed !== null) await conn.write(fixed as Bytes);
      }
      if (streamBody !== null) {
        const chunked = headers.get("transfer-encoding") === "chunked";
        for await (const chunk of streamBody) {
          if (chunk.length > 0) await conn.write(chunked ? encodeChunk(chunk) : chunk as Bytes);
        }
        if (chunked) await conn.write(encodeLastChunk());
      }
    } catch (error) {
      conn.close();
      if (reused && isDisconnect(error)) throw new StaleConnectionError(error);
      throw new HttpClientError("closed", `sending to ${origin.key} failed: ${message(error)}`, {
        cause: error,
      });
    }
    let responseHead: ResponseHead;
    try {
      responseHead = await conn.readHead(
        this.#options.limits,
        options.headerTimeoutMs ?? this.#options.headerTimeoutMs,
      );
    } catch (error) {
      conn.close();
      if (reused && conn.receivedNothing && isDisconnect(error)) {
        throw new StaleConnectionError(error);
      }
      throw error;
    }
    const framing = responseFraming(method, responseHead);
    const keepAlive = responseHead.version === "1.1"
      ? !listTokens(responseHead.headers.get("connection")).includes("close")
      : listTokens(responseHead.headers.get("connection")).includes("keep-alive");
    return new IncomingResponse(conn, responseHead, framing, this.#options, () => {
      if (keepAlive && framing.kind !== "close") this.#release(origin.key, conn);
      else conn.close();
    });
  }
}

/** A reused connection that died before answering: safe to retry once. */
class StaleConnectionError extends Error {
  constructor(cause: unknown) {
    super("stale pooled connection", { cause });
  }
}

function unwrap(error: unknown): unknown {
  if (error instanceof StaleConnectionError) {
    return new HttpClientError("closed", "server closed the connection", { cause: error.cause });
  }
  if (error instanceof HttpClientError) return error;
  if (isDisconnect(error)) {
    return new HttpClientError("closed", `server closed the connection: ${message(error)}`, {
      cause: error,
    });
  }
  if (error instanceof SyntaxError || error instanceof RangeError) {
    return new HttpClientError("protocol", `bad response: ${error.message}`, { cause: error });
  }
  return error;
}

class TimeoutSignal extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        onTimeout();
        reject(new TimeoutSignal());
      }, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** One TCP connection with its read buffer. */
class ClientConnection {
  #conn: Deno.Conn;
  #buf: Bytes = new Uint8Array(READ_CHUNK_BYTES);
  #start = 0;
  #end = 0;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  closed = false;
  used = false;
  /** True until the first byte of the current response arrives. */
  receivedNothing = true;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async write(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) offset += await this.#conn.write(bytes.subarray(offset));
  }

  async readHead(limits: Readonly<HttpLimits>, timeoutMs: number): Promise<ResponseHead> {
    this.receivedNothing = this.#end === this.#start;
    const deadline = Date.now() + timeoutMs;
    while (true) {
      if (this.#end > this.#start) {
        const decoded = decodeResponseHead(this.#buf.subarray(this.#start, this.#end), limits);
        if (decoded !== null) {
          this.#start += decoded.bytesUsed;
          // Interim 1xx responses (100 Continue, 103) are skipped (RFC 9110 section 15.2).
          if (decoded.value.status < 200 && decoded.value.status !== 101) continue;
          return decoded.value;
        }
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw headTimeout(timeoutMs);
      const n = await this.fill(remaining).catch((error) => {
        throw error instanceof TimeoutSignal ? headTimeout(timeoutMs) : error;
      });
      if (n === null) {
        throw new UnexpectedEofError(
          this.#end > this.#start
            ? "connection closed inside the response head"
            : "connection closed before a response",
        );
      }
      this.receivedNothing = false;
    }
  }

  get buffered(): number {
    return this.#end - this.#start;
  }

  take(max: number): Bytes {
    const n = Math.min(max, this.#end - this.#start);
    const out = this.#buf.slice(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  consume(fn: (view: Bytes) => number): void {
    this.#start += fn(this.#buf.subarray(this.#start, this.#end));
  }

  /** Reads more into the buffer within `timeoutMs`; null at end of stream. */
  async fill(timeoutMs: number): Promise<number | null> {
    if (this.#start === this.#end) this.#start = this.#end = 0;
    else if (this.#end === this.#buf.length) {
      // Only heads accumulate here (bounded by the limits): slide or grow.
      const live = this.#end - this.#start;
      if (live <= this.#buf.length / 2) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        const grown = new Uint8Array(this.#buf.length * 2);
        grown.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = grown;
      }
      this.#start = 0;
      this.#end = live;
    }
    const n = await withTimeout(
      this.#conn.read(this.#buf.subarray(this.#end)),
      timeoutMs,
      () => this.close(),
    );
    if (n === null) return null;
    this.#end += n;
    return n;
  }

  startIdleTimer(ms: number, onExpire: () => void): void {
    this.#idleTimer = setTimeout(() => {
      onExpire();
      this.close();
    }, ms);
  }

  stopIdleTimer(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  close(): void {
    this.stopIdleTimer();
    if (this.closed) return;
    this.closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }
}

function headTimeout(ms: number): HttpClientError {
  return new HttpClientError("timeout", `no response head within ${ms} ms`);
}

class IncomingResponse implements ClientResponse {
  readonly status: number;
  readonly reason: string;
  readonly version: "1.0" | "1.1";
  readonly headers: HttpHeaders;
  readonly body: ReadableStream<Bytes>;
  #decoder: ChunkedDecoder | undefined;

  constructor(
    conn: ClientConnection,
    head: ResponseHead,
    framing: BodyFraming,
    options: { bodyTimeoutMs: number; limits: Readonly<HttpLimits> },
    done: () => void,
  ) {
    this.status = head.status;
    this.reason = head.reason;
    this.version = head.version;
    this.headers = head.headers;
    let remaining = framing.kind === "length" ? framing.length : 0;
    const decoder = framing.kind === "chunked" ? new ChunkedDecoder(options.limits) : undefined;
    this.#decoder = decoder;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      done();
    };
    const fill = async () => {
      const n = await conn.fill(options.bodyTimeoutMs).catch((error) => {
        throw error instanceof TimeoutSignal
          ? new HttpClientError("timeout", `response body stalled for ${options.bodyTimeoutMs} ms`)
          : unwrap(error);
      });
      return n;
    };
    if (framing.kind === "none") {
      this.body = new ReadableStream<Bytes>({ start: (c) => c.close() });
      finish();
      return;
    }
    this.body = new ReadableStream<Bytes>({
      async pull(controller) {
        try {
          if (framing.kind === "length") {
            if (conn.buffered === 0 && (await fill()) === null) {
              throw new HttpClientError(
                "closed",
                `connection closed with ${remaining} body bytes missing`,
              );
            }
            const chunk = conn.take(remaining);
            remaining -= chunk.length;
            controller.enqueue(chunk);
            if (remaining === 0) {
              controller.close();
              finish();
            }
          } else if (framing.kind === "chunked") {
            while (true) {
              if (conn.buffered === 0 && (await fill()) === null) {
                throw new HttpClientError("closed", "connection closed inside a chunked body");
              }
              const parts: Bytes[] = [];
              conn.consume((view) => decoder!.push(view, parts));
              const copy = parts.length === 0 ? null : concat(parts);
              if (copy) controller.enqueue(copy);
              if (decoder!.done) {
                controller.close();
                finish();
                return;
              }
              if (copy) return;
            }
          } else {
            if (conn.buffered === 0 && (await fill()) === null) {
              controller.close();
              conn.close();
              return;
            }
            controller.enqueue(conn.take(Infinity));
          }
        } catch (error) {
          conn.close();
          finished = true;
          throw error instanceof HttpClientError ? error : unwrap(error);
        }
      },
      cancel() {
        // Unread body: the connection cannot be reused.
        finished = true;
        conn.close();
      },
    }, { highWaterMark: 0 });
  }

  get trailers(): HttpHeaders | undefined {
    return this.#decoder?.trailers;
  }

  async bytes(): Promise<Bytes> {
    const parts: Bytes[] = [];
    for await (const chunk of this.body) parts.push(chunk);
    return concat(parts);
  }

  async text(): Promise<string> {
    return new TextDecoder().decode(await this.bytes());
  }

  async json<T = unknown>(): Promise<T> {
    const text = await this.text();
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw new HttpClientError("protocol", `response is not JSON: ${message(error)}`);
    }
  }
}

function parseUrl(text: string): URL {
  try {
    return new URL(text);
  } catch {
    throw new HttpClientError("usage", `not a URL: ${text}`);
  }
}

function originOf(url: URL): Origin {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new HttpClientError("usage", `unsupported scheme ${url.protocol}`);
  }
  const tls = url.protocol === "https:";
  const port = url.port === "" ? (tls ? 443 : 80) : Number(url.port);
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  return { key: `${url.protocol}//${url.host}`, hostname, port, tls, hostHeader: url.host };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
