// The HTTP/1.1 server: accept loop, one connection loop per client, body
// streaming, keep-alive, pipelining, timeouts, connection cap and graceful
// shutdown (RFC 9112; semantics from RFC 9110). Built on Deno.listen only.
//
// Each connection owns one read buffer. Request heads are decoded from it by
// the pure codec in head.ts (with a FieldsMemo for repeated field
// sections); bodies are handed to the handler as a lazy ReadableStream that
// pulls from the same buffer (Content-Length or chunked, bounded by
// `request.bodyLimitBytes`). Responses are encoded into the connection's
// OutputQueue; those to pipelined requests are written together once no
// complete request is left in the buffer: one write per read, the biggest
// throughput lever on TCP. A write is awaited before the next read, so the
// queue's buffer is never changed under a write in flight.
//
// The hot path (a sync handler returning a small fixed response) makes no
// allocation it can avoid: see docs/http.md, "How it is fast".
//
// Timeouts come from one sweep timer per server rather than a timer per
// read: each connection carries a deadline for what it is waiting for (the
// next request, the rest of a head, body bytes, a write) and the sweep
// closes the ones past it (408 when a head was cut short).
//
// Left out: TLS, HTTP/2 and upgrades (101), trailers in responses, and
// request bodies on HTTP/1.0 without Content-Length (411 is not sent; such a
// request simply has no body).

import type { Bytes } from "../bytes.ts";
import { UnexpectedEofError } from "../errors.ts";
import { isDisconnect } from "../net/disconnect.ts";
import { logger } from "../log.ts";
import type {
  BoundCounter,
  BoundHistogram,
  Counter,
  Gauge,
  Histogram,
  MetricsRegistry,
} from "../metrics.ts";
import { toWireError } from "./errors.ts";
import {
  decodeRequestHead,
  DEFAULT_LIMITS,
  FieldsMemo,
  type HttpLimits,
  type RequestHead,
} from "./head.ts";
import { HttpHeaders } from "./headers.ts";
import type { Handler, HttpResponse } from "./message.ts";
import { LARGE_PIECE_BYTES, OutputQueue } from "./output.ts";
import {
  httpDate,
  REPEAT_BODY_CHARS_MAX,
  RepeatedResponse,
  responseHeadText,
} from "./response_head.ts";
import { type BodySource, BodyState, ServerRequest } from "./server_request.ts";
import { statusHasNoBody, statusText } from "./status.ts";

type RecordHeaders = Readonly<Record<string, string>> | undefined;

export interface ServerOptions {
  handler: Handler;
  hostname?: string;
  /** 0 picks a free port. */
  port?: number;
  limits?: Partial<HttpLimits>;
  /** Default body limit for requests (routes may set their own): 1 MiB. */
  bodyLimitBytes?: number;
  /** Time allowed from the first byte of a request to the end of its head (slowloris). */
  headerTimeoutMs?: number;
  /** Time allowed between two reads of a body, and for each write. */
  bodyTimeoutMs?: number;
  /** How long an idle keep-alive connection is kept: 5 s, as Node's default. */
  idleTimeoutMs?: number;
  /** Most open connections; past it new ones get 503 and are closed. */
  maxConnections?: number;
  /** Where request counts and latencies are recorded (optional). */
  registry?: MetricsRegistry;
  /** Log category suffix, e.g. the service name. */
  name?: string;
}

export interface HttpServer {
  readonly addr: Deno.NetAddr;
  /** Open connections right now. */
  readonly connections: number;
  /**
   * Stops accepting, lets in-flight requests finish within `drainTimeoutMs`
   * (default 10 s), closes idle keep-alive connections at once, then closes
   * whatever is left.
   */
  close(drainTimeoutMs?: number): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const encoder = new TextEncoder();
/** Queued response bytes flushed even if more pipelined requests wait. */
const QUEUE_FLUSH_BYTES = 64 * 1024;
const READ_CHUNK_BYTES = 16 * 1024;
/** Lingering close after an error response: at most this long, this many bytes. */
const LINGER_MS = 1_000;
const LINGER_BYTES_MAX = 1024 * 1024;
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]);

interface Resolved {
  handler: Handler;
  limits: Readonly<HttpLimits>;
  bodyLimitBytes: number;
  headerTimeoutMs: number;
  bodyTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnections: number;
  log: ReturnType<typeof logger>;
  metrics?: ServerMetrics;
  /**
   * A coarse clock (performance.now() as of the last sweep): deadlines are
   * set from it, so the hot path makes no clock call per request. A
   * deadline may fire up to one sweep interval late, which is fine for
   * timeouts measured in seconds.
   */
  now: number;
  repeated: RepeatedResponse;
}

interface ServerMetrics {
  requests: Counter;
  duration: Histogram;
  open: Gauge;
  /** Bound series by method, then status: no label formatting per request. */
  byMethod: Map<string, MethodMetrics>;
}

interface MethodMetrics {
  duration: BoundHistogram;
  byStatus: Map<number, BoundCounter>;
}

/** Starts listening at once; the returned server is already accepting. */
export function serveHttp(options: ServerOptions): HttpServer {
  const listener = Deno.listen({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
  });
  const config: Resolved = {
    handler: options.handler,
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    bodyLimitBytes: options.bodyLimitBytes ?? 1024 * 1024,
    headerTimeoutMs: options.headerTimeoutMs ?? 10_000,
    bodyTimeoutMs: options.bodyTimeoutMs ?? 30_000,
    idleTimeoutMs: options.idleTimeoutMs ?? 5_000,
    maxConnections: options.maxConnections ?? 1024,
    log: logger(...(options.name ? [options.name, "http"] : ["http"])),
    metrics: options.registry ? registerMetrics(options.registry) : undefined,
    now: performance.now(),
    repeated: new RepeatedResponse(),
  };
  return new Server(listener, config);
}

function registerMetrics(registry: MetricsRegistry): ServerMetrics {
  return {
    requests: registry.counter(
      "http_requests_total",
      "HTTP requests answered, by method and status.",
      [
        "method",
        "status",
      ],
    ),
    duration: registry.histogram(
      "http_request_duration_seconds",
      "Time from a complete request head to the end of the response.",
      { labelNames: ["method"] },
    ),
    open: registry.gauge("http_connections_open", "Open HTTP connections."),
    byMethod: new Map(),
  };
}

class Server implements HttpServer {
  #listener: Deno.Listener<Deno.TcpConn, Deno.NetAddr>;
  #config: Resolved;
  #connections = new Set<Connection>();
  #acceptLoop: Promise<void>;
  #sweeper: ReturnType<typeof setInterval>;
  #closing: Promise<void> | undefined;

  constructor(listener: Deno.Listener<Deno.TcpConn, Deno.NetAddr>, config: Resolved) {
    this.#listener = listener;
    this.#config = config;
    const shortest = Math.min(config.headerTimeoutMs, config.bodyTimeoutMs, config.idleTimeoutMs);
    this.#sweeper = setInterval(() => this.#sweep(), Math.min(250, Math.max(10, shortest / 4)));
    this.#acceptLoop = this.#accept();
  }

  get addr(): Deno.NetAddr {
    return this.#listener.addr;
  }

  get connections(): number {
    return this.#connections.size;
  }

  async #accept(): Promise<void> {
    while (true) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing) return;
        if (error instanceof Deno.errors.BadResource) return;
        this.#config.log.warn("accept failed: {error}", { error: String(error) });
        continue;
      }
      if (this.#closing) {
        conn.close();
        continue;
      }
      if (this.#connections.size >= this.#config.maxConnections) {
        refuse(conn);
        continue;
      }
      try {
        conn.setNoDelay(true);
      } catch { /* already closed by the peer */ }
      const connection = new Connection(conn, this.#config);
      this.#connections.add(connection);
      this.#config.metrics?.open.inc();
      connection.run().finally(() => {
        this.#connections.delete(connection);
        this.#config.metrics?.open.dec();
      });
    }
  }

  #sweep(): void {
    const now = this.#config.now = performance.now();
    for (const connection of this.#connections) connection.checkDeadline(now);
  }

  close(drainTimeoutMs = 10_000): Promise<void> {
    return this.#closing ??= this.#shutdown(drainTimeoutMs);
  }

  async #shutdown(drainTimeoutMs: number): Promise<void> {
    try {
      this.#listener.close();
    } catch { /* already closed */ }
    await this.#acceptLoop;
    for (const connection of this.#connections) connection.shutdown();
    const deadline = Date.now() + drainTimeoutMs;
    while (this.#connections.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (const connection of this.#connections) connection.abort();
    while (this.#connections.size > 0) await new Promise((resolve) => setTimeout(resolve, 1));
    clearInterval(this.#sweeper);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Over the connection cap: a short 503 and close, without reading anything. */
function refuse(conn: Deno.TcpConn): void {
  const body = "too many connections\n";
  const response = encoder.encode(
    `HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nconnection: close\r\nretry-after: 1\r\n\r\n${body}`,
  );
  conn.write(response).catch(() => {}).finally(() => {
    try {
      conn.close();
    } catch { /* already closed */ }
  });
}

type Phase = "idle" | "head" | "handling" | "closed";

/** Why a connection loop stops reading. */
class ConnectionDone extends Error {}

class Connection implements BodySource {
  #conn: Deno.TcpConn;
  #config: Resolved;
  #buf: Bytes = new Uint8Array(READ_CHUNK_BYTES);
  #fieldsMemo = new FieldsMemo();
  #start = 0;
  #end = 0;
  /** Responses queued and not written yet. */
  #out = new OutputQueue();
  #phase: Phase = "idle";
  #deadline = 0;
  #shuttingDown = false;
  #closed = false;
  /** Set when we answer an error and close: drain the socket briefly first. */
  #linger = false;

  constructor(conn: Deno.TcpConn, config: Resolved) {
    this.#conn = conn;
    this.#config = config;
  }

  async run(): Promise<void> {
    const config = this.#config;
    try {
      while (!this.#closed) {
        // Fast path: decode straight from the buffer, no await unless bytes are missing.
        let head: RequestHead | null = null;
        if (this.#end > this.#start) {
          let decoded;
          try {
            decoded = decodeRequestHead(
              this.#buf,
              config.limits,
              this.#start,
              this.#end,
              this.#fieldsMemo,
            );
          } catch (error) {
            await this.#sendError(error);
            break;
          }
          if (decoded !== null) {
            this.#start += decoded.bytesUsed;
            head = decoded.value;
          } else if (this.#phase !== "head") {
            this.#phase = "head";
            this.#deadline = config.now + config.headerTimeoutMs;
          }
        } else {
          if (this.#shuttingDown) break;
          this.#phase = "idle";
          this.#deadline = config.now + config.idleTimeoutMs;
        }
        if (head === null) {
          // #fill inlined (the hot path): write what is queued, then read.
          if (this.#out.length > 0) {
            const bytes = this.#takeQueued();
            if (this.#closed) throw new ConnectionDone();
            const written = await this.#conn.write(bytes);
            if (written < bytes.length) await this.#writeAll(bytes.subarray(written));
          }
          const n = await this.#conn.read(this.#readView());
          // EOF: clean between requests, otherwise a truncated head (nobody to answer).
          if (n === null) break;
          this.#end += n;
          if (this.#phase === "idle") {
            this.#phase = "head";
            this.#deadline = config.now + config.headerTimeoutMs;
          }
          continue;
        }
        let keep = this.#handle(head);
        if (typeof keep !== "boolean") keep = await keep;
        if (!keep || this.#shuttingDown) break;
      }
      await this.#flush();
      if (this.#linger) await this.#lingerClose();
    } catch (error) {
      // A connection closed under us (timeout, abort) ends its read or write with an error.
      const expected = error instanceof ConnectionDone || isDisconnect(error) || this.#closed;
      if (!expected) {
        this.#config.log.warn("connection error: {error}", { error: String(error) });
      }
    } finally {
      this.#close();
    }
  }

  /**
   * After an error response, the client may still be sending (a body we
   * refused, a huge header). Closing with unread bytes makes the kernel
   * send a reset that can destroy our response before the client reads it,
   * so half-close and discard what arrives for a little while first
   * (RFC 9112 section 9.6).
   */
  async #lingerClose(): Promise<void> {
    try {
      await this.#conn.closeWrite();
    } catch {
      return;
    }
    this.#deadline = this.#config.now + LINGER_MS;
    this.#phase = "handling";
    let budget = LINGER_BYTES_MAX;
    const scratch = new Uint8Array(READ_CHUNK_BYTES);
    while (budget > 0 && !this.#closed) {
      const n = await this.#conn.read(scratch).catch(() => null);
      if (n === null) return;
      budget -= n;
    }
  }

  /** Called by the sweep timer. */
  checkDeadline(now: number): void {
    if (this.#deadline === 0 || now < this.#deadline || this.#closed) return;
    if (this.#phase === "head") {
      // A head cut short: tell the client, then close (RFC 9110 section 15.5.9).
      const response = errorResponseBytes(408, "request head not received in time", true);
      this.#conn.write(response).catch(() => {}).finally(() => this.#close());
      this.#deadline = 0;
      return;
    }
    this.#close();
  }

  /** Graceful shutdown: idle connections close now, busy ones after their response. */
  shutdown(): void {
    this.#shuttingDown = true;
    if (this.#phase === "idle") this.#close();
  }

  abort(): void {
    this.#close();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#phase = "closed";
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  /** Reads more bytes into the buffer; null at end of stream. Writes queued output first. */
  async #fill(): Promise<number | null> {
    // The run loop does the same inline (an async call per request costs).
    if (this.#out.length > 0) await this.#writeQueued();
    let n: number | null;
    try {
      n = await this.#conn.read(this.#readView());
    } catch (error) {
      if (this.#closed) throw new ConnectionDone();
      throw error;
    }
    if (n === null) return null;
    this.#end += n;
    return n;
  }

  /**
   * Writes the queued responses. They are written before the next read: a
   * client that pipelines without reading gets no further reads until it
   * does (backpressure, bounded memory). Awaiting the write op directly is
   * cheaper than keeping a write and a read in flight together (measured:
   * a promise reaction per write costs more than the overlap gains).
   */
  #writeQueued(): Promise<void> {
    if (this.#closed) throw new ConnectionDone();
    return this.#writeAll(this.#takeQueued());
  }

  /** Where the next read goes: the free tail of the buffer, made room for first. */
  #readView(): Bytes {
    if (this.#closed) throw new ConnectionDone();
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
      return this.#buf;
    }
    if (this.#end === this.#buf.length) {
      const live = this.#end - this.#start;
      if (this.#start > 0 && live <= this.#buf.length / 2) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        // Heads are bounded by the limits (the decoder throws past them),
        // so the buffer never grows far beyond headerBytes.
        const grown = new Uint8Array(Math.max(this.#buf.length * 2, live + READ_CHUNK_BYTES));
        grown.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = grown;
      }
      this.#start = 0;
      this.#end = live;
    }
    return this.#buf.subarray(this.#end);
  }

  /**
   * Runs the handler for one request and queues the response. Synchronous
   * when the handler is (no request body, a fixed response body): the
   * common case costs no extra await.
   */
  #handle(head: RequestHead): boolean | Promise<boolean> {
    const config = this.#config;
    const started = config.metrics ? performance.now() : 0;
    this.#phase = "handling";
    this.#deadline = 0;
    const body = head.framing.kind === "none" ? undefined : new BodyState(head, this);
    const request = new ServerRequest(head, body, config.bodyLimitBytes, this.#conn);
    let result: HttpResponse | Promise<HttpResponse>;
    try {
      result = config.handler(request);
    } catch (error) {
      result = Promise.reject(error);
    }
    if (
      result instanceof Promise || body !== undefined || typeof result !== "object" ||
      result === null || result.body instanceof ReadableStream
    ) {
      return this.#handleSlow(head, body, result, started);
    }
    let closeAfter = !head.keepAlive || this.#shuttingDown;
    try {
      this.#queueFixed(head, result, closeAfter);
    } catch (error) {
      closeAfter = true;
      this.#badResponse(head, error);
    }
    this.#count(head, result.status, started);
    if (this.#out.length >= QUEUE_FLUSH_BYTES || closeAfter) {
      return this.#flush().then(() => !closeAfter);
    }
    return !closeAfter;
  }

  async #handleSlow(
    head: RequestHead,
    body: BodyState | undefined,
    result: HttpResponse | Promise<HttpResponse>,
    started: number,
  ): Promise<boolean> {
    const config = this.#config;
    let response: HttpResponse;
    let closeAfter = !head.keepAlive;
    try {
      response = await result;
      if (typeof response !== "object" || response === null) {
        throw new TypeError(`handler returned ${String(response)} instead of a response`);
      }
    } catch (error) {
      const wire = toWireError(error);
      if (wire.internal) {
        config.log.error("handler failed on {method} {path}: {error}", {
          method: head.method,
          path: head.path,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        });
      }
      closeAfter ||= wire.close;
      this.#linger ||= wire.close;
      response = errorResponse(wire.status, wire.message);
    }
    if (body && body.broken) closeAfter = true;
    // A body the handler did not read: drain a little to keep the connection.
    if (body && !body.done && !closeAfter) {
      closeAfter = !body.canDrain();
    }
    if (body && !body.done && closeAfter) this.#linger = true;
    if (this.#shuttingDown) closeAfter = true;
    // HTTP/1.0 has no chunked coding: a stream of unknown length ends with the connection.
    if (
      head.version === "1.0" && response.body instanceof ReadableStream &&
      !new HttpHeaders(response.headers).has("content-length")
    ) {
      closeAfter = true;
    }
    try {
      if (!this.#queueFixed(head, response, closeAfter)) {
        await this.#writeStream(head, response, closeAfter);
      }
    } catch (error) {
      if (isDisconnect(error) || this.#closed || error instanceof ConnectionDone) {
        throw new ConnectionDone();
      }
      closeAfter = true;
      this.#badResponse(head, error);
    }
    if (body && !body.done && !closeAfter) {
      try {
        await body.drain();
      } catch {
        closeAfter = true;
      }
    }
    this.#count(head, response.status, started);
    if (this.#out.length >= QUEUE_FLUSH_BYTES || closeAfter) await this.#flush();
    return !closeAfter;
  }

  /** The response itself was bad (e.g. an invalid header): nothing of it was queued. */
  #badResponse(head: RequestHead, error: unknown): void {
    this.#config.log.error("bad response for {method} {path}: {error}", {
      method: head.method,
      path: head.path,
      error: String(error),
    });
    this.#queue(errorResponseBytes(500, "internal server error", true));
  }

  #count(head: RequestHead, status: number, started: number): void {
    const metrics = this.#config.metrics;
    if (metrics === undefined) return;
    // The label sets are few (8 methods x the statuses sent) and bound once each.
    const method = KNOWN_METHODS.has(head.method) ? head.method : "OTHER";
    // A bad status from a handler was answered with 500.
    if (!Number.isInteger(status) || status < 200 || status > 599) status = 500;
    let perMethod = metrics.byMethod.get(method);
    if (perMethod === undefined) {
      perMethod = { duration: metrics.duration.labels({ method }), byStatus: new Map() };
      metrics.byMethod.set(method, perMethod);
    }
    let requests = perMethod.byStatus.get(status);
    if (requests === undefined) {
      requests = metrics.requests.labels({ method, status: String(status) });
      perMethod.byStatus.set(status, requests);
    }
    requests.inc();
    perMethod.duration.observe((performance.now() - started) / 1000);
  }

  /** Queues a response whose body is not a stream; false (nothing queued) for a stream. */
  #queueFixed(head: RequestHead, response: HttpResponse, closeAfter: boolean): boolean {
    const body = response.body ?? null;
    if (body instanceof ReadableStream) return false;
    const status = response.status;
    const headers = response.headers;
    const noBody = statusHasNoBody(status);
    const isHead = head.method === "HEAD";
    // The common small text/JSON answer: remembered whole, or encoded in one go.
    const small = typeof body === "string" && body.length < REPEAT_BODY_CHARS_MAX && !noBody &&
      !isHead && !Array.isArray(headers) && !(headers instanceof HttpHeaders);
    const flags = (closeAfter ? 1 : 0) | (head.version === "1.0" ? 2 : 0);
    const out = this.#out;
    const repeated = this.#config.repeated;
    if (small) {
      const remembered = repeated.head(status, headers as RecordHeaders, flags);
      if (remembered !== undefined) {
        const bytes = repeated.bytes(body);
        if (bytes !== null) out.push(bytes);
        else repeated.sent(body, out.pushResponse(remembered, body));
        return true;
      }
    }
    let { text, userLength } = responseHeadText(status, headers, closeAfter, head.version);
    if (typeof body === "string" && !noBody && !isHead && body.length < LARGE_PIECE_BYTES) {
      out.pushResponse(text, body);
      if (small) repeated.remember(status, headers as RecordHeaders, flags, text, body);
      return true;
    }
    const bytes = body === null ? null : typeof body === "string" ? encoder.encode(body) : body;
    if (!noBody) {
      const length = bytes === null && isHead && userLength !== undefined
        ? userLength
        : String(bytes?.length ?? 0);
      text += `content-length: ${length}\r\n`;
    }
    out.pushText(text + "\r\n");
    if (bytes !== null && !isHead && !noBody) out.push(bytes as Bytes);
    return true;
  }

  /**
   * Writes a streamed response: Content-Length when the handler gave one,
   * else chunked (HTTP/1.1) or delimited by closing the connection (HTTP/1.0).
   */
  async #writeStream(head: RequestHead, response: HttpResponse, closeAfter: boolean) {
    const body = response.body as ReadableStream<Uint8Array>;
    let { text, userLength } = responseHeadText(
      response.status,
      response.headers,
      closeAfter,
      head.version,
    );
    const noBody = statusHasNoBody(response.status);
    const chunked = userLength === undefined && head.version === "1.1";
    if (noBody || head.method === "HEAD") {
      if (userLength !== undefined && !noBody) text += `content-length: ${userLength}\r\n`;
      this.#out.pushText(text + "\r\n");
      await body.cancel().catch(() => {});
      return;
    }
    if (userLength !== undefined) text += `content-length: ${userLength}\r\n`;
    else if (chunked) text += "transfer-encoding: chunked\r\n";
    else if (!closeAfter) throw new TypeError("unreachable: HTTP/1.0 stream without close");
    this.#out.pushText(text + "\r\n");
    await this.#flush();
    const reader = body.getReader();
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        if (value.length === 0) continue;
        // Backpressure: the next chunk is only pulled once this one is written.
        if (chunked) {
          this.#out.pushText(`${value.length.toString(16)}\r\n`);
          this.#out.push(value as Bytes);
          this.#out.pushText("\r\n");
        } else {
          this.#out.push(value as Bytes);
        }
        await this.#flush();
      }
    } catch (error) {
      // Headers are gone already: the only honest signal left is to close.
      if (!isDisconnect(error)) {
        this.#config.log.error("response stream failed: {error}", { error: String(error) });
      }
      await reader.cancel().catch(() => {});
      throw new ConnectionDone();
    }
    if (chunked) this.#out.pushText("0\r\n\r\n");
  }

  #queue(bytes: Bytes): void {
    this.#out.push(bytes);
  }

  #takeQueued(): Bytes {
    return this.#out.take();
  }

  /** Writes everything queued. */
  async #flush(): Promise<void> {
    if (this.#out.length > 0) await this.#writeAll(this.#takeQueued());
  }

  async #writeAll(bytes: Bytes): Promise<void> {
    if (this.#closed) throw new ConnectionDone();
    // While handling, nothing else bounds the wait for a peer that does not
    // read: give the write its own deadline. (Between requests the idle or
    // head deadline already applies.)
    let mine = 0;
    if (this.#deadline === 0) {
      this.#deadline = mine = this.#config.now + this.#config.bodyTimeoutMs;
    }
    let offset = await this.#conn.write(bytes);
    while (offset < bytes.length) offset += await this.#conn.write(bytes.subarray(offset));
    if (mine !== 0 && this.#deadline === mine) this.#deadline = 0;
  }

  /** Answers a request whose head could not be decoded, then the caller closes. */
  async #sendError(error: unknown): Promise<void> {
    const wire = toWireError(error);
    this.#phase = "handling";
    this.#linger = true;
    this.#queue(errorResponseBytes(wire.status, wire.message, true));
    await this.#flush().catch(() => {});
    const method = "OTHER";
    this.#config.metrics?.requests.inc({ method, status: String(wire.status) });
  }

  // --- used by BodyState ---

  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Takes up to `max` buffered bytes (a copy). */
  take(max: number): Bytes {
    const n = Math.min(max, this.#end - this.#start);
    const out = this.#buf.slice(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  /** Runs `fn` over the buffered bytes; it returns how many it consumed. */
  consume(fn: (view: Bytes) => number): void {
    this.#start += fn(this.#buf.subarray(this.#start, this.#end));
  }

  async fillForBody(): Promise<void> {
    this.#deadline = this.#config.now + this.#config.bodyTimeoutMs;
    const n = await this.#fill();
    this.#deadline = 0;
    if (n === null) throw new UnexpectedEofError("connection closed in the middle of the body");
  }

  async sendContinue(): Promise<void> {
    this.#queue(CONTINUE);
    await this.#flush();
  }
}

const CONTINUE = encoder.encode("HTTP/1.1 100 Continue\r\n\r\n");

function errorResponse(status: number, message: string): HttpResponse {
  return {
    status,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ error: message }),
  };
}

function errorResponseBytes(status: number, message: string, close: boolean): Bytes {
  const body = JSON.stringify({ error: message });
  return encoder.encode(
    `HTTP/1.1 ${status} ${statusText(status)}\r\ncontent-type: application/json\r\n` +
      `content-length: ${encoder.encode(body).length}\r\ndate: ${httpDate()}\r\n` +
      (close ? "connection: close\r\n" : "") + `\r\n${body}`,
  );
}
