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
// stream. The method, target and header fields are checked before anything
// is sent (request_check.ts): a CR LF in any of them would split one
// request into two on the wire, so they are refused with a TypeError.
// Timeouts use lib/net's deadline sweep (one timer per client) and each
// connection reads into a lib/net ReadBuffer. https: uses Deno.connectTls. Left out: proxies, redirects (the
// caller sees 3xx), cookies, content codings, Expect: 100-continue.

import { type Bytes, concat } from "../bytes.ts";
import { isIncomplete } from "../decode.ts";
import { UnexpectedEofError } from "../errors.ts";
import { closeQuietly } from "../net/close.ts";
import { DeadlineSweep, type Expiring, sweepIntervalMs } from "../net/deadlines.ts";
import { isDisconnect } from "../net/disconnect.ts";
import { ReadBuffer } from "../net/read_buffer.ts";
import { ChunkedDecoder, encodeChunk, encodeLastChunk } from "./chunked.ts";
import { LARGE_PIECE_BYTES, OutputQueue } from "./output.ts";
import { checkFieldLines, checkMethod, checkRequestHead, checkTarget } from "./request_check.ts";
import {
  type BodyFraming,
  decodeResponseHead,
  DEFAULT_LIMITS,
  type HttpLimits,
  responseFraming,
  type ResponseHead,
  ResponseHeadMemo,
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
  idlePerOriginMax?: number;
  /**
   * Keep a copy of each response head as received (`ClientResponse.headBytes`),
   * for a proxy that relays it as bytes: false.
   */
  keepHeadBytes?: boolean;
  limits?: Partial<HttpLimits>;
}

export interface RequestOptions {
  method?: string;
  headers?: HeadersInit;
  body?: BodyInit;
  /** Overrides the client's header timeout for this request. */
  headerTimeoutMs?: number;
  /**
   * Field lines already serialized (`name: value`, each ending in CR LF),
   * sent instead of `headers`: a proxy passes on what its server decoded
   * without building a field list. Checked in one pass like every other
   * part of the head (checkFieldLines). They must carry Host and no framing
   * field (Content-Length, Transfer-Encoding): the client adds the framing
   * of `body`, which must then be a string, bytes or null.
   */
  fieldLines?: string;
  /**
   * The request target to write, exactly as given (checked like every other
   * part of the head), instead of the URL's path and query: a proxy passes
   * on what its client sent, which URL parsing would normalize ("/a/../b",
   * escapes). The URL then only names the origin.
   */
  target?: string;
}

/**
 * Where `HttpClient.exchange()` hands a request's outcome, with the
 * request's own `context`: made once and used for every request.
 */
export interface ExchangeHandler<C, T> {
  /** The response head has arrived (its body may still be coming). */
  answered(response: ClientResponse, context: C): T;
  /** The request failed before a response head arrived. */
  failed(error: unknown, context: C): T | Promise<T>;
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
  /**
   * The head exactly as received (status line to the empty line), when the
   * client keeps head bytes; it passed the same strict decoder as `headers`
   * (no bare LF, no obs-fold, no control bytes in values). A view into the
   * connection's read buffer, not a copy: valid until the body is read
   * (`bufferedBody()` reads nothing, so it stays valid across that call);
   * copy it to keep it.
   */
  readonly headBytes: Bytes | undefined;
  bytes(): Promise<Bytes>;
  /**
   * The whole body at once, without a promise, when it has a length and
   * every byte of it has already arrived (it often came in the same read as
   * the head); undefined otherwise, and then nothing was consumed. A proxy's
   * fast path: a small answer relayed in the turn its head arrived.
   * `headroomBytes`: that many bytes (zero) are left free before the body in
   * the array returned, so a caller putting a head there copies the body
   * once instead of twice. `allocate`: where that array comes from (a new
   * one by default; e.g. a ByteSlab's `take`), exactly as long as asked.
   */
  bufferedBody(headroomBytes?: number, allocate?: (bytes: number) => Bytes): Bytes | undefined;
  /**
   * Reads the next piece of the body into `into`: what is already buffered
   * first, then, for a sized body, straight from the socket (one read, no
   * copy made or kept), so a large download costs one syscall per
   * `into.length` bytes. Resolves with how many bytes, or null at the end.
   * Not together with `body`.
   */
  readBodyInto(into: Uint8Array): Promise<number | null>;
  text(): Promise<string>;
  json<T = unknown>(): Promise<T>;
}

const encoder = new TextEncoder();
/** The (unused, never changed) field list of a request sent with fieldLines. */
const NO_FIELDS = new HttpHeaders();
const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"]);
const READ_CHUNK_BYTES = 16 * 1024;
const FOR_HEAD = "head";
const FOR_BODY = "body";
const FOR_IDLE = "idle";
/** Largest announced body `bytes()` allocates before reading it. */
const DIRECT_BODY_BYTES_MAX = 1024 * 1024;
/** URL strings kept parsed per client (backends of a proxy, a worker's few services). */
const PARSED_URLS_MAX = 256;

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
  /**
   * Timeouts come from one sweep timer per client, not a timer per read
   * (a Deno timer costs about 1.2 µs to set and clear, a large part of a
   * small request): each connection carries the deadline of what it waits
   * for (head, body, or idle in the pool), and the sweep closes the ones
   * past it, which ends their read. A timeout may fire up to one sweep
   * interval off: a quarter of the shortest configured timeout, at most
   * 250 ms. The timer does not keep the process alive.
   */
  #sweep: DeadlineSweep;
  #closed = false;
  #urls = new Map<string, { target: URL; origin: Origin }>();
  /** The last `fieldLines` that passed checkFieldLines (strings do not change). */
  #checkedLines: string | undefined = undefined;
  /** The last head sent with fieldLines and no body, and its bytes once it repeated. */
  #lastHead: { method: string; target: string; lines: string; bytes: Bytes | undefined } = {
    method: "",
    target: "",
    lines: "",
    bytes: undefined,
  };

  constructor(options: ClientOptions = {}) {
    this.#options = {
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      headerTimeoutMs: options.headerTimeoutMs ?? 30_000,
      bodyTimeoutMs: options.bodyTimeoutMs ?? 30_000,
      idleTimeoutMs: options.idleTimeoutMs ?? 4_000,
      idlePerOriginMax: options.idlePerOriginMax ?? 32,
      keepHeadBytes: options.keepHeadBytes ?? false,
      limits: { ...DEFAULT_LIMITS, ...options.limits },
    };
    const o = this.#options;
    this.#sweep = new DeadlineSweep({
      intervalMs: sweepIntervalMs(o.headerTimeoutMs, o.bodyTimeoutMs, o.idleTimeoutMs),
    });
  }

  /** Idle pooled connections right now (all origins). */
  get idleConnections(): number {
    let n = 0;
    for (const list of this.#idle.values()) for (const conn of list) if (!conn.closed) n++;
    return n;
  }

  /**
   * Sends one request and resolves once the response head has arrived.
   * Not async itself (one promise layer less per request): what it refuses
   * before sending comes back as a rejected promise all the same.
   */
  request(url: string | URL, options: RequestOptions = {}): Promise<ClientResponse> {
    try {
      return this.#request(url, options) as Promise<ClientResponse>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Sends one request like `request()`, but hands the response to
   * `handler.answered(response, context)` in the turn its head arrives, or
   * a failure (refused before sending, connect, timeout, closed, protocol:
   * what `request()` rejects with) to `handler.failed(error, context)`, and
   * resolves with what they return. A proxy's fast path: its own async
   * function (a promise, a frame and an await per request) goes away, and
   * `handler` is made once, so a request costs only its `context` object.
   * Never rejects unless a handler method throws.
   */
  exchange<C, T>(
    url: string | URL,
    options: RequestOptions,
    handler: ExchangeHandler<C, T>,
    context: C,
  ): Promise<Awaited<T>> {
    try {
      return this.#request(url, options, handler, context) as Promise<Awaited<T>>;
    } catch (error) {
      try {
        return Promise.resolve(handler.failed(error, context)) as Promise<Awaited<T>>;
      } catch (failure) {
        return Promise.reject(failure);
      }
    }
  }

  #request<C, T>(
    url: string | URL,
    options: RequestOptions,
    handler?: ExchangeHandler<C, T>,
    context?: C,
  ): Promise<ClientResponse | T> {
    if (this.#closed) throw new HttpClientError("usage", "client is closed");
    const { target, origin } = typeof url === "string"
      ? this.#parsed(url)
      : { target: url, origin: originOf(url) };
    const method = (options.method ?? "GET").toUpperCase();
    const lines = options.fieldLines;
    const headers = lines === undefined ? new HttpHeaders(options.headers) : NO_FIELDS;
    const requestTarget = options.target ?? `${target.pathname}${target.search}`;
    // Refused before anything is written (or even connected).
    if (lines === undefined) checkRequestHead(method, requestTarget, headers);
    else {
      checkMethod(method);
      checkTarget(requestTarget);
      // A proxy passes the same lines again and again (one client's repeated fields).
      if (lines !== this.#checkedLines) {
        checkFieldLines(lines);
        this.#checkedLines = lines;
      }
      if (options.body instanceof ReadableStream) {
        throw new TypeError("fieldLines take a string, bytes or no body, not a stream");
      }
    }
    const canRetry = IDEMPOTENT.has(method) && !(options.body instanceof ReadableStream);
    return this.#exchange(
      this.#takeIdle(origin.key),
      origin,
      requestTarget,
      method,
      headers,
      options,
      canRetry,
      handler,
      context,
    );
  }

  /**
   * The bytes of a body-less head with fieldLines when it is the same as the
   * last one (a proxy relaying one client's requests): encoded once, when it
   * first repeats, and sent as they are from then on; undefined otherwise.
   */
  #repeatedHead(method: string, target: string, lines: string): Bytes | undefined {
    const last = this.#lastHead;
    if (last.lines === lines && last.target === target && last.method === method) {
      return last.bytes ??= encoder.encode(linesHead(method, target, lines, null));
    }
    this.#lastHead = { method, target, lines, bytes: undefined };
    return undefined;
  }

  /**
   * A URL string parsed once: a proxy or worker sends to the same few
   * backend URLs again and again, and URL parsing was a visible share of
   * a small proxied request. Bounded: past PARSED_URLS_MAX the cache
   * starts over.
   */
  #parsed(text: string): { target: URL; origin: Origin } {
    let parsed = this.#urls.get(text);
    if (parsed === undefined) {
      const target = parseUrl(text);
      parsed = { target, origin: originOf(target) };
      if (this.#urls.size >= PARSED_URLS_MAX) this.#urls.clear();
      this.#urls.set(text, parsed);
    }
    return parsed;
  }

  /** Closes idle connections; responses in flight finish on their own. */
  close(): Promise<void> {
    this.#closed = true;
    for (const list of this.#idle.values()) for (const conn of list) conn.close();
    this.#idle.clear();
    this.#sweep.close();
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #takeIdle(key: string): ClientConnection | undefined {
    const list = this.#idle.get(key);
    if (list === undefined || list.length === 0) return undefined;
    while (list.length > 0) {
      const conn = list.pop()!;
      if (!conn.closed) {
        conn.deadline = 0;
        return conn;
      }
    }
    return undefined;
  }

  /** #release as a function made once, handed to each response (no closure per request). */
  #releaseTo = (key: string, conn: ClientConnection): void => this.#release(key, conn);

  #release(key: string, conn: ClientConnection): void {
    if (this.#closed || conn.closed) return conn.close();
    let list = this.#idle.get(key);
    if (!list) this.#idle.set(key, list = []);
    // Connections closed by the idle sweep leave the pool here.
    if (list.length > 0 && list[0].closed) {
      list.splice(
        0,
        list.length,
        ...list.filter((c) => !c.closed),
      );
    }
    if (list.length >= this.#options.idlePerOriginMax) return conn.close();
    conn.setDeadline(this.#options.idleTimeoutMs, FOR_IDLE);
    list.push(conn);
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
    const connection = new ClientConnection(conn, this.#sweep, this.#options.limits);
    connection.keepHeadBytes = this.#options.keepHeadBytes;
    return connection;
  }

  /**
   * Sends the request on `first` (a pooled connection) or a new one, and
   * reads the response head. A pooled connection the server closed before
   * answering (StaleConnectionError) is replaced once by a new one when
   * `canRetry`.
   *
   * Kept short on purpose: V8 gives an async function a register file as
   * large as all its locals and temporaries, allocated per call and copied
   * out and back at each await. The synchronous work before and after the
   * socket ops (#queueHead, #responseFor) lives in plain methods, which
   * halved this function's registers and the bytes allocated per request.
   */
  async #exchange<C, T>(
    first: ClientConnection | undefined,
    origin: Origin,
    target: string,
    method: string,
    headers: HttpHeaders,
    options: RequestOptions,
    canRetry: boolean,
    handler: ExchangeHandler<C, T> | undefined,
    context: C | undefined,
  ): Promise<ClientResponse | T> {
    let conn = first;
    while (true) {
      let response: ClientResponse;
      try {
        if (conn === undefined) conn = await this.#connect(origin);
        const reused = conn.used;
        conn.used = true;
        const body = options.body ?? null;
        const streamBody = body instanceof ReadableStream ? body : null;
        const headerTimeoutMs = options.headerTimeoutMs ?? this.#options.headerTimeoutMs;
        try {
          // Head and a small body go out in one write from the connection's reused buffer.
          const large = this.#queueHead(conn, origin, target, method, headers, options);
          const bytes = conn.out.take();
          // Awaiting the socket op itself: the usual whole write costs no extra promise.
          const written = await conn.writeSome(bytes);
          if (written < bytes.length) await conn.write(bytes.subarray(written));
          if (large !== null) await conn.write(large);
        } catch (error) {
          conn.close();
          if (reused && isDisconnect(error)) throw new StaleConnectionError(error);
          throw sendFailed(origin.key, error);
        }
        let responseHead: ResponseHead;
        /** False when the server answered before the whole body was sent. */
        let bodySent = true;
        try {
          if (streamBody !== null) {
            const early = await this.#sendStream(conn, streamBody, {
              chunked: headers.get("transfer-encoding") === "chunked",
              headerTimeoutMs,
              origin: origin.key,
            });
            responseHead = early.head;
            bodySent = early.bodySent;
          } else {
            // ClientConnection.readHead inlined (the hot path): decode what is
            // buffered, await only the socket's read when bytes are missing.
            conn.receivedNothing = conn.buffered === 0;
            conn.setDeadline(headerTimeoutMs, FOR_HEAD);
            let head = conn.decodeHead(this.#options.limits);
            while (head === undefined) {
              let n: number | null;
              try {
                n = await conn.readSome();
              } catch (error) {
                throw conn.timedOut ? headTimeout(headerTimeoutMs) : error;
              }
              head = conn.committed(n, this.#options.limits);
            }
            conn.deadline = 0;
            responseHead = head;
          }
        } catch (error) {
          conn.close();
          if (reused && conn.receivedNothing && isDisconnect(error)) {
            throw new StaleConnectionError(error);
          }
          throw error;
        }
        response = this.#responseFor(conn, origin, method, responseHead, bodySent);
      } catch (error) {
        if (conn === first && canRetry && error instanceof StaleConnectionError) {
          conn = undefined;
          continue;
        }
        if (handler === undefined) throw unwrap(error);
        return handler.failed(unwrap(error), context!);
      }
      return handler === undefined ? response : handler.answered(response, context!);
    }
  }

  /**
   * Queues the request head (and a small body) in `conn.out`; returns a body
   * of LARGE_PIECE_BYTES or more, which goes out in a write of its own, or null.
   */
  #queueHead(
    conn: ClientConnection,
    origin: Origin,
    target: string,
    method: string,
    headers: HttpHeaders,
    options: RequestOptions,
  ): Uint8Array | null {
    const body = options.body ?? null;
    let fixed: Uint8Array | null = null;
    if (body !== null && !(body instanceof ReadableStream)) {
      fixed = typeof body === "string" ? encoder.encode(body) : body;
    }
    const lines = options.fieldLines;
    // Checked in request(): the caller's lines, then the framing of a string or bytes body.
    const repeated = lines !== undefined && body === null
      ? this.#repeatedHead(method, target, lines)
      : undefined;
    if (repeated !== undefined) conn.out.push(repeated);
    else if (lines !== undefined) conn.out.pushText(linesHead(method, target, lines, fixed));
    else {
      conn.out.pushText(
        `${method} ${target} HTTP/1.1\r\n` +
          fieldsText(headers, {
            origin,
            method,
            streamed: body instanceof ReadableStream,
            fixed,
          }) +
          "\r\n",
      );
    }
    if (fixed === null) return null;
    if (fixed.length < LARGE_PIECE_BYTES) {
      conn.out.push(fixed as Bytes);
      return null;
    }
    return fixed;
  }

  /** The response to hand out once its head has arrived on `conn`. */
  #responseFor(
    conn: ClientConnection,
    origin: Origin,
    method: string,
    responseHead: ResponseHead,
    bodySent: boolean,
  ): ClientResponse {
    // A head equal to the connection's last one has the same framing (but for HEAD).
    const memo = conn.headMemo;
    let framing: BodyFraming;
    let keepAlive: boolean;
    if (memo.current && memo.framing !== undefined && method !== "HEAD") {
      framing = memo.framing;
      keepAlive = memo.keepAlive;
    } else {
      framing = responseFraming(method, responseHead);
      keepAlive = responseHead.version === "1.1"
        ? !listTokens(responseHead.headers.get("connection")).includes("close")
        : listTokens(responseHead.headers.get("connection")).includes("keep-alive");
      if (memo.current && method !== "HEAD") {
        memo.framing = framing;
        memo.keepAlive = keepAlive;
      }
    }
    // A request whose body was cut short leaves the connection mid-message.
    const reuse = keepAlive && bodySent && framing.kind !== "close";
    const response = new IncomingResponse(
      conn,
      responseHead,
      framing,
      this.#options,
      reuse ? this.#releaseTo : undefined,
      origin.key,
    );
    if (this.#options.keepHeadBytes) response.headBytes = conn.lastHeadBytes;
    return response;
  }

  /**
   * Sends a streamed body while already reading the response head: a server
   * may answer before it has read the whole body (413, 401, 417: RFC 9112
   * section 9.5), and may stop reading it, so a client that only listens
   * once it has sent everything waits forever or dies on a reset. When the
   * head comes first, the rest of the body is not sent (the stream is
   * cancelled) and the connection is not reused. The head's deadline runs
   * only from the end of the body: an upload may take as long as it takes.
   */
  async #sendStream(
    conn: ClientConnection,
    body: ReadableStream<Uint8Array>,
    options: { chunked: boolean; headerTimeoutMs: number; origin: string },
  ): Promise<{ head: ResponseHead; bodySent: boolean }> {
    const { chunked, headerTimeoutMs } = options;
    const reading = conn.readHead(this.#options.limits, headerTimeoutMs, false);
    // Settled either way below; never an unhandled rejection meanwhile.
    reading.catch(() => {});
    const reader = body.getReader();
    let answered = false;
    let bodyError: unknown = undefined;
    const sending = (async () => {
      while (!answered) {
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await reader.read();
        } catch (error) {
          bodyError = error;
          throw error;
        }
        if (result.done) break;
        const chunk = result.value;
        if (chunk.length > 0) await conn.write(chunked ? encodeChunk(chunk) : chunk as Bytes);
      }
      if (chunked && !answered) await conn.write(encodeLastChunk());
    })();
    const first = await Promise.race([
      sending.then(() => "sent" as const, (error) => ({ error })),
      reading.then(() => "head" as const, () => "head" as const),
    ]);
    if (first === "head") {
      answered = true;
      // An early answer, or the connection broke: stop the upload either way.
      reader.cancel().catch(() => {});
      sending.catch(() => {});
      const head = await reading;
      return { head, bodySent: false };
    }
    if (first !== "sent") {
      // The body's own source failed (the caller's client broke its framing): not the server's doing.
      if (bodyError !== undefined) throw bodyError;
      // The write failed: the server may still have answered before it closed.
      conn.setDeadline(headerTimeoutMs, FOR_HEAD);
      try {
        return { head: await reading, bodySent: false };
      } catch {
        throw sendFailed(options.origin, first.error);
      }
    }
    conn.setDeadline(headerTimeoutMs, FOR_HEAD);
    return { head: await reading, bodySent: true };
  }
}

/** A whole head from checked field lines, with the framing of a string or bytes body. */
function linesHead(method: string, target: string, lines: string, fixed: Uint8Array | null) {
  let text = `${method} ${target} HTTP/1.1\r\n${lines}`;
  if (fixed !== null) text += `content-length: ${fixed.length}\r\n`;
  else if (method === "POST" || method === "PUT" || method === "PATCH") {
    text += "content-length: 0\r\n";
  }
  return text + "\r\n";
}

/** The field lines of `headers`, with Host and the framing fields of the body set. */
function fieldsText(
  headers: HttpHeaders,
  body: { origin: Origin; method: string; streamed: boolean; fixed: Uint8Array | null },
): string {
  const { method, fixed } = body;
  if (!headers.has("host")) headers.set("host", body.origin.hostHeader);
  // The framing fields are ours to write: never both (RFC 9112 section 6.3).
  headers.delete("transfer-encoding");
  if (body.streamed) {
    if (!headers.has("content-length")) headers.set("transfer-encoding", "chunked");
  } else if (fixed !== null) {
    headers.set("content-length", String(fixed.length));
  } else if (method === "POST" || method === "PUT" || method === "PATCH") {
    headers.set("content-length", "0");
  } else {
    headers.delete("content-length");
  }
  // Checked in request(); the host and framing fields set here are ours.
  let text = "";
  for (const [name, value] of headers) text += `${name}: ${value}\r\n`;
  return text;
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

/** One TCP connection with its read buffer and deadline. */
class ClientConnection implements Expiring {
  #conn: Deno.Conn;
  #input: ReadBuffer;
  #sweep: DeadlineSweep;
  /** On the sweep's clock; 0: not waiting. */
  deadline = 0;
  /** Set when the sweep closed the connection for missing its deadline. */
  #timedOut = false;
  /** Requests are encoded here; reused once each write completes. */
  readonly out = new OutputQueue();
  closed = false;
  used = false;
  /** True until the first byte of the current response arrives. */
  receivedNothing = true;
  /** Set by the client with keepHeadBytes: decodeHead keeps each head as received. */
  keepHeadBytes = false;
  /** The last head decodeHead took, as received, when keepHeadBytes is set. */
  lastHeadBytes: Bytes | undefined = undefined;
  /** The last response head, to compare the next one with instead of decoding it. */
  readonly headMemo = new ResponseHeadMemo();

  constructor(conn: Deno.Conn, sweep: DeadlineSweep, limits: Readonly<HttpLimits>) {
    this.#conn = conn;
    this.#sweep = sweep;
    // Only heads accumulate in the buffer (bodies are taken as they come),
    // and the decoder throws past the header limits: one read more is enough.
    this.#input = new ReadBuffer({
      sizeBytesMax: limits.requestLineBytes + limits.headerBytes + 2 * READ_CHUNK_BYTES,
    });
    sweep.track(this);
  }

  setDeadline(timeoutMs: number, _reason: string): void {
    this.deadline = this.#sweep.now + timeoutMs;
  }

  /** One write op: how many bytes the socket took (the caller writes the rest). */
  writeSome(bytes: Uint8Array): Promise<number> {
    return this.#conn.write(bytes);
  }

  async write(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) offset += await this.#conn.write(bytes.subarray(offset));
  }

  /**
   * Reads the next response head. `deadlineNow` false: the caller arms the
   * deadline later (once a streamed body is sent); `timeoutMs` still names it.
   */
  async readHead(
    limits: Readonly<HttpLimits>,
    timeoutMs: number,
    deadlineNow = true,
  ): Promise<ResponseHead> {
    this.receivedNothing = this.#input.length === 0;
    if (deadlineNow) this.setDeadline(timeoutMs, FOR_HEAD);
    try {
      return await this.#readHead(limits, timeoutMs);
    } finally {
      this.deadline = 0;
    }
  }

  async #readHead(limits: Readonly<HttpLimits>, timeoutMs: number): Promise<ResponseHead> {
    while (true) {
      const head = this.decodeHead(limits);
      if (head !== undefined) return head;
      const n = await this.fill().catch((error) => {
        throw error instanceof TimeoutSignal ? headTimeout(timeoutMs) : error;
      });
      if (n === null) throw this.endedInHead();
      this.receivedNothing = false;
    }
  }

  /**
   * The next final response head decoded from what is buffered (consumed),
   * or undefined when it has not all arrived. Interim 1xx responses (100
   * Continue, 103) are skipped (RFC 9110 section 15.2); a 101 is final.
   */
  decodeHead(limits: Readonly<HttpLimits>): ResponseHead | undefined {
    const input = this.#input;
    while (input.length > 0) {
      const decoded = decodeResponseHead(
        input.bytes,
        limits,
        input.start,
        input.end,
        this.headMemo,
      );
      if (isIncomplete(decoded)) return undefined;
      if (this.keepHeadBytes) {
        // A view: the buffer is only compacted by the next read.
        this.lastHeadBytes = input.bytes.subarray(input.start, input.start + decoded.bytesUsed);
      }
      input.consume(decoded.bytesUsed);
      if (decoded.value.status >= 200 || decoded.value.status === 101) return decoded.value;
    }
    return undefined;
  }

  /**
   * Makes room and starts one read: the socket's own promise, so a hot loop
   * awaits nothing else. Pass what it returns to `commit`.
   */
  readSome(): Promise<number | null> {
    return this.#conn.read(this.#input.reserve());
  }

  commit(n: number): void {
    this.#input.commit(n);
  }

  /**
   * Records what `readSome()` returned and decodes the next head: it, or
   * undefined while it has not all arrived. Throws at end of stream.
   */
  committed(n: number | null, limits: Readonly<HttpLimits>): ResponseHead | undefined {
    if (n === null) throw this.endedInHead();
    this.#input.commit(n);
    this.receivedNothing = false;
    return this.decodeHead(limits);
  }

  /** True once the sweep closed this connection for missing its deadline. */
  get timedOut(): boolean {
    return this.#timedOut;
  }

  /** The error for a connection that ended before the head was whole. */
  endedInHead(): Error {
    return new UnexpectedEofError(
      this.#input.length > 0
        ? "connection closed inside the response head"
        : "connection closed before a response",
    );
  }

  get buffered(): number {
    return this.#input.length;
  }

  /** Copies up to `max` buffered bytes into `out` at `at`; returns how many. */
  copyInto(out: Uint8Array, at: number, max: number): number {
    const input = this.#input;
    const n = Math.min(max, input.length);
    out.set(input.bytes.subarray(input.start, input.start + n), at);
    input.consume(n);
    return n;
  }

  take(max: number): Bytes {
    return this.#input.take(max);
  }

  /** One read straight into `into`, past the buffer (empty), with its own deadline. */
  async readInto(into: Uint8Array, timeoutMs: number): Promise<number | null> {
    if (this.#timedOut) throw new TimeoutSignal();
    this.setDeadline(timeoutMs, FOR_BODY);
    try {
      return await this.#conn.read(into);
    } catch (error) {
      if (this.#timedOut) throw new TimeoutSignal();
      throw error;
    } finally {
      this.deadline = 0;
    }
  }

  consume(fn: (view: Bytes) => number): void {
    this.#input.consume(fn(this.#input.view()));
  }

  /**
   * Reads more into the buffer; null at end of stream. With `timeoutMs`
   * the read has its own deadline, else the caller's (readHead) applies;
   * throws TimeoutSignal once the sweep has closed the connection for it.
   */
  async fill(timeoutMs?: number): Promise<number | null> {
    if (this.#timedOut) throw new TimeoutSignal();
    if (timeoutMs !== undefined) this.setDeadline(timeoutMs, FOR_BODY);
    let n: number | null;
    try {
      n = await this.#input.fill(this.#conn);
    } catch (error) {
      if (this.#timedOut) throw new TimeoutSignal();
      throw error;
    } finally {
      if (timeoutMs !== undefined) this.deadline = 0;
    }
    return n;
  }

  /** Called by the client's sweep once the deadline has passed. */
  expire(): void {
    if (this.closed) return;
    this.#timedOut = true;
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#sweep.untrack(this);
    closeQuietly(this.#conn);
  }
}

function sendFailed(origin: string, error: unknown): HttpClientError {
  return new HttpClientError("closed", `sending to ${origin} failed: ${message(error)}`, {
    cause: error,
  });
}

function headTimeout(ms: number): HttpClientError {
  return new HttpClientError("timeout", `no response head within ${ms} ms`);
}

class IncomingResponse implements ClientResponse {
  readonly status: number;
  readonly reason: string;
  readonly version: "1.0" | "1.1";
  readonly headers: HttpHeaders;
  headBytes: Bytes | undefined = undefined;
  #conn: ClientConnection;
  #framing: BodyFraming;
  #options: { bodyTimeoutMs: number; limits: Readonly<HttpLimits> };
  /** Where the connection goes back once the body is read; undefined: closed then. */
  #release: ((key: string, conn: ClientConnection) => void) | undefined;
  #originKey: string;
  #finished = false;
  /** Body bytes still to come (Content-Length framing). */
  #remaining: number;
  #decoder: ChunkedDecoder | undefined;
  /** Made when first asked for: `bytes()` reads a sized body without a stream. */
  #stream: ReadableStream<Bytes> | undefined;
  /** What `readBodyInto` had no room for, of a piece of a chunked body. */
  #pending: Bytes | undefined;

  constructor(
    conn: ClientConnection,
    head: ResponseHead,
    framing: BodyFraming,
    options: { bodyTimeoutMs: number; limits: Readonly<HttpLimits> },
    release: ((key: string, conn: ClientConnection) => void) | undefined,
    originKey: string,
  ) {
    this.status = head.status;
    this.reason = head.reason;
    this.version = head.version;
    this.headers = head.headers;
    this.#conn = conn;
    this.#framing = framing;
    this.#options = options;
    this.#release = release;
    this.#originKey = originKey;
    this.#remaining = framing.kind === "length" ? framing.length : 0;
    if (framing.kind === "chunked") this.#decoder = new ChunkedDecoder(options.limits);
    if (framing.kind === "none") this.#finish();
  }

  get trailers(): HttpHeaders | undefined {
    return this.#decoder?.trailers;
  }

  get body(): ReadableStream<Bytes> {
    if (this.#stream !== undefined) return this.#stream;
    if (this.#framing.kind === "none" || (this.#finished && this.#remaining === 0)) {
      return this.#stream = new ReadableStream<Bytes>({ start: (c) => c.close() });
    }
    return this.#stream = new ReadableStream<Bytes>({
      pull: async (controller) => {
        try {
          const chunk = await this.#next();
          if (chunk === null) controller.close();
          else controller.enqueue(chunk);
        } catch (error) {
          this.#fail();
          throw error instanceof HttpClientError ? error : unwrap(error);
        }
      },
      cancel: () => {
        // Unread body: the connection cannot be reused.
        this.#finished = true;
        this.#conn.close();
      },
    }, { highWaterMark: 0 });
  }

  bufferedBody(headroomBytes = 0, allocate?: (bytes: number) => Bytes): Bytes | undefined {
    if (this.#stream !== undefined || this.#framing.kind !== "length") return undefined;
    const remaining = this.#remaining;
    if (this.#conn.buffered < remaining) return undefined;
    const out = allocate === undefined
      ? new Uint8Array(headroomBytes + remaining)
      : allocate(headroomBytes + remaining);
    this.#conn.copyInto(out, headroomBytes, remaining);
    this.#remaining = 0;
    this.#finish();
    return out;
  }

  async readBodyInto(into: Uint8Array): Promise<number | null> {
    if (this.#stream !== undefined) throw new TypeError("the body is being read as a stream");
    if (into.length === 0) throw new RangeError("readBodyInto needs room for a byte");
    try {
      if (this.#framing.kind !== "length") {
        let piece = this.#pending ?? await this.#next();
        this.#pending = undefined;
        if (piece === null) return null;
        if (piece.length > into.length) {
          this.#pending = piece.subarray(into.length);
          piece = piece.subarray(0, into.length);
        }
        into.set(piece);
        return piece.length;
      }
      if (this.#remaining === 0) return null;
      const want = Math.min(into.length, this.#remaining);
      let n: number;
      if (this.#conn.buffered > 0) n = this.#conn.copyInto(into, 0, want);
      else {
        const read = await this.#conn.readInto(into.subarray(0, want), this.#options.bodyTimeoutMs)
          .catch(this.#bodyError);
        if (read === null) {
          throw new HttpClientError(
            "closed",
            `connection closed with ${this.#remaining} body bytes missing`,
          );
        }
        n = read;
      }
      this.#remaining -= n;
      if (this.#remaining === 0) this.#finish();
      return n;
    } catch (error) {
      this.#fail();
      throw error instanceof HttpClientError ? error : unwrap(error);
    }
  }

  async bytes(): Promise<Bytes> {
    if (
      this.#stream === undefined && this.#framing.kind === "length" &&
      this.#remaining <= DIRECT_BODY_BYTES_MAX
    ) {
      // A sized body read straight into one array, without a stream. Only
      // up to a bound: the length is the server's word, and a larger body
      // is collected as it actually arrives instead of allocated up front.
      const out = new Uint8Array(this.#remaining);
      let at = 0;
      try {
        while (this.#remaining > 0) {
          if (this.#conn.buffered === 0) await this.#fill(this.#remaining);
          const n = this.#conn.copyInto(out, at, this.#remaining);
          at += n;
          this.#remaining -= n;
        }
      } catch (error) {
        this.#fail();
        throw error instanceof HttpClientError ? error : unwrap(error);
      }
      this.#finish();
      return out;
    }
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

  /** The next piece of the body, or null at its end. */
  async #next(): Promise<Bytes | null> {
    const conn = this.#conn;
    switch (this.#framing.kind) {
      case "none":
        return null;
      case "length": {
        if (this.#remaining === 0) return null;
        if (conn.buffered === 0) await this.#fill(this.#remaining);
        const chunk = conn.take(this.#remaining);
        this.#remaining -= chunk.length;
        if (this.#remaining === 0) this.#finish();
        return chunk;
      }
      case "chunked": {
        const decoder = this.#decoder!;
        while (true) {
          if (decoder.done) return null;
          if (conn.buffered === 0) {
            if ((await conn.fill(this.#options.bodyTimeoutMs).catch(this.#bodyError)) === null) {
              throw new HttpClientError("closed", "connection closed inside a chunked body");
            }
          }
          const parts: Bytes[] = [];
          conn.consume((view) => decoder.push(view, parts));
          if (decoder.done) this.#finish();
          if (parts.length > 0) return concat(parts);
        }
      }
      case "close": {
        if (conn.buffered === 0) {
          if ((await conn.fill(this.#options.bodyTimeoutMs).catch(this.#bodyError)) === null) {
            conn.close();
            this.#finished = true;
            return null;
          }
        }
        return conn.take(Infinity);
      }
    }
  }

  /** Reads more of a sized body; throws when the connection ends first. */
  async #fill(missing: number): Promise<void> {
    const n = await this.#conn.fill(this.#options.bodyTimeoutMs).catch(this.#bodyError);
    if (n === null) {
      throw new HttpClientError("closed", `connection closed with ${missing} body bytes missing`);
    }
  }

  #bodyError = (error: unknown): never => {
    throw error instanceof TimeoutSignal
      ? new HttpClientError(
        "timeout",
        `response body stalled for ${this.#options.bodyTimeoutMs} ms`,
      )
      : unwrap(error);
  };

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    const release = this.#release;
    if (release !== undefined) release(this.#originKey, this.#conn);
    else this.#conn.close();
  }

  #fail(): void {
    this.#conn.close();
    this.#finished = true;
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
