// The HTTP/1.1 server: accept loop, one connection loop per client, body
// streaming, keep-alive, pipelining, timeouts, connection cap and graceful
// shutdown (RFC 9112; semantics from RFC 9110). Built on lib/net: its TCP
// server owns the accept loop, the connection cap (the longest-idle
// keep-alive connection is closed to make room; 503 only when every
// connection is busy), the deadline sweep and the drain on close; this file
// is the connection handler.
//
// Each connection owns one read buffer (lib/net/read_buffer.ts). Request heads are decoded from it by
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
// Timeouts come from the TCP server's one sweep timer rather than a timer
// per read: each connection carries a deadline for what it is waiting for
// (the next request, the rest of a head, body bytes, a write) and the sweep
// closes the ones past it (408 when a head was cut short). A connection is
// idle for the cap (evictable) from the end of its last response until a
// complete request head arrives, so idle keep-alive clients and slowloris
// heads alike make room for new clients.
//
// Upgrades (101, RFC 9110 section 7.8): a handler that answers 101 with an
// `upgrade` function gets the socket once the 101 head is written, and the
// connection ends when that function does (used by the load balancer to
// tunnel WebSocket). Left out: TLS, HTTP/2, trailers in responses, and
// request bodies on HTTP/1.0 without Content-Length (411 is not sent; such a
// request simply has no body).

import type { Bytes } from "../bytes.ts";
import { isIncomplete } from "../decode.ts";
import { UnexpectedEofError } from "../errors.ts";
import { isDisconnect } from "../net/disconnect.ts";
import { ReadBuffer } from "../net/read_buffer.ts";
import { serveTcp, type TcpConnection } from "../net/tcp_server.ts";
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
  checkField,
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
  /**
   * Most open connections: 1024. Past it a new client closes the longest-idle
   * connection, or gets 503 when every connection is busy with a request.
   */
  connectionsMax?: number;
  /** SO_REUSEPORT: several processes may serve the same port. */
  reusePort?: boolean;
  /** Where request counts and latencies are recorded (optional). */
  registry?: MetricsRegistry;
  /** Log category suffix, e.g. the service name. */
  name?: string;
  /** What this listener is, for messages ("http-api port"); default "<name> HTTP port". */
  label?: string;
}

export interface HttpServer {
  readonly addr: Deno.NetAddr;
  /** Open connections right now. */
  readonly connections: number;
  /** Idle connections closed to make room for new clients, since start. */
  readonly evicted: number;
  /** Clients answered 503 because every connection was busy, since start. */
  readonly refused: number;
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
/** Deadline reasons, as `TcpConnection.deadlineFor`. */
const FOR_HEAD = "head";
const FOR_IDLE = "idle";
const FOR_BODY = "body";
const FOR_LINGER = "linger";
/**
 * Lingering close after an error response: at most this long. Bounded by
 * time only, as nginx's lingering_time is: a client uploading at loopback
 * speed sends megabytes before it reads the answer and stops, and a byte
 * budget it outruns ends in the reset the linger is there to avoid.
 * Discarding costs one read per chunk, so the time bound bounds the work.
 */
const LINGER_MS = 1_000;
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]);

interface Resolved {
  handler: Handler;
  limits: Readonly<HttpLimits>;
  bodyLimitBytes: number;
  headerTimeoutMs: number;
  bodyTimeoutMs: number;
  idleTimeoutMs: number;
  /** The read buffer's bound: the longest head, plus one read. */
  bufferBytesMax: number;
  log: ReturnType<typeof logger>;
  metrics?: ServerMetrics;
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
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const config: Resolved = {
    handler: options.handler,
    limits,
    bodyLimitBytes: options.bodyLimitBytes ?? 1024 * 1024,
    headerTimeoutMs: options.headerTimeoutMs ?? 10_000,
    bodyTimeoutMs: options.bodyTimeoutMs ?? 30_000,
    idleTimeoutMs: options.idleTimeoutMs ?? 5_000,
    bufferBytesMax: limits.requestLineBytes + limits.headerBytes + 2 * READ_CHUNK_BYTES,
    log: logger(...(options.name ? [options.name, "http"] : ["http"])),
    metrics: options.registry ? registerMetrics(options.registry) : undefined,
    repeated: new RepeatedResponse(),
  };
  const metrics = config.metrics;
  const tcp = serveTcp({
    label: options.label ?? `${options.name ?? "http"} HTTP port`,
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    reusePort: options.reusePort,
    connectionsMax: options.connectionsMax ?? 1024,
    refusalBytes: REFUSAL,
    timeoutsMs: [config.headerTimeoutMs, config.bodyTimeoutMs, config.idleTimeoutMs],
    log: config.log,
    handler: async (connection) => {
      metrics?.open.inc();
      try {
        await new Connection(connection, config).run();
      } finally {
        metrics?.open.dec();
      }
    },
  });
  return {
    get addr() {
      return tcp.addr;
    },
    get connections() {
      return tcp.connections;
    },
    get evicted() {
      return tcp.evicted;
    },
    get refused() {
      return tcp.refused;
    },
    close: (drainTimeoutMs?: number) => tcp.close(drainTimeoutMs),
    [Symbol.asyncDispose]: () => tcp.close(),
  };
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

/** Every connection busy with a request: a short 503 and close, without reading anything. */
const REFUSAL = encoder.encode(
  "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 21\r\n" +
    "connection: close\r\nretry-after: 1\r\n\r\ntoo many connections\n",
);

type Phase = "idle" | "head" | "handling" | "closed";

/** Why a connection loop stops reading. */
class ConnectionDone extends Error {}

/** #handle's answer when the run loop is to await the handler's promise (Connection.#pending). */
const AWAIT_RESPONSE = 0;

class Connection implements BodySource {
  #tc: TcpConnection;
  #conn: Deno.TcpConn;
  #config: Resolved;
  #input: ReadBuffer;
  #fieldsMemo = new FieldsMemo();
  /** Responses queued and not written yet. */
  #out = new OutputQueue();
  #phase: Phase = "idle";
  /** Set when we answer an error and close: drain the socket briefly first. */
  #linger = false;
  /** The handler's promised answer the run loop awaits (#handle returned AWAIT_RESPONSE). */
  #pending: Promise<HttpResponse> | undefined = undefined;
  /** When that request's handling started (for the duration metric). */
  #started = 0;

  constructor(tc: TcpConnection, config: Resolved) {
    this.#tc = tc;
    this.#conn = tc.conn;
    this.#config = config;
    this.#input = new ReadBuffer({ sizeBytesMax: config.bufferBytesMax });
    tc.onDeadline = this.#onDeadline;
  }

  get #closed(): boolean {
    return this.#tc.closed;
  }

  async run(): Promise<void> {
    const config = this.#config;
    const tc = this.#tc;
    const input = this.#input;
    try {
      while (!tc.closed) {
        // Fast path: decode straight from the buffer, no await unless bytes are missing.
        let head: RequestHead | null = null;
        if (input.end > input.start) {
          let decoded;
          try {
            decoded = decodeRequestHead(
              input.bytes,
              config.limits,
              input.start,
              input.end,
              this.#fieldsMemo,
            );
          } catch (error) {
            await this.#sendError(error);
            break;
          }
          if (!isIncomplete(decoded)) {
            input.consume(decoded.bytesUsed);
            head = decoded.value;
          } else if (this.#phase !== "head") {
            this.#phase = "head";
            tc.setDeadline(config.headerTimeoutMs, FOR_HEAD);
          }
        } else {
          if (tc.draining) break;
          this.#phase = "idle";
          tc.setDeadline(config.idleTimeoutMs, FOR_IDLE);
        }
        if (head === null) {
          // #fill inlined (the hot path): write what is queued, then read.
          if (this.#out.length > 0) {
            const bytes = this.#takeQueued();
            if (tc.closed) throw new ConnectionDone();
            const written = await this.#conn.write(bytes);
            if (written < bytes.length) await this.#writeAll(bytes.subarray(written));
          }
          // No request in flight: the server may close this one to make room.
          tc.markIdle();
          if (tc.closed) throw new ConnectionDone();
          const n = await this.#conn.read(input.reserve());
          // EOF: clean between requests, otherwise a truncated head (nobody to answer).
          if (n === null) break;
          input.commit(n);
          if (this.#phase === "idle") {
            this.#phase = "head";
            tc.setDeadline(config.headerTimeoutMs, FOR_HEAD);
          }
          continue;
        }
        tc.markBusy();
        let keep = this.#handle(head);
        if (keep === AWAIT_RESPONSE) {
          // The handler's promise awaited here rather than in an async
          // #handleSlow: one promise layer less for the proxied request.
          const pending = this.#pending!;
          this.#pending = undefined;
          let result: HttpResponse | Promise<HttpResponse>;
          try {
            result = await pending;
          } catch (error) {
            result = Promise.reject(error);
          }
          keep = this.#respond(head, result, this.#started);
        }
        if (typeof keep !== "boolean") keep = await keep;
        if (!keep || tc.draining) break;
      }
      await this.#flush();
      if (this.#linger) await this.#lingerClose();
    } catch (error) {
      // A connection closed under us (timeout, eviction, drain) ends its read or write with an error.
      const expected = error instanceof ConnectionDone || isDisconnect(error) || tc.closed;
      if (!expected) {
        this.#config.log.warn("connection error: {error}", { error: String(error) });
      }
    } finally {
      tc.close();
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
    this.#tc.setDeadline(LINGER_MS, FOR_LINGER);
    this.#phase = "handling";
    const scratch = this.#input.bytes;
    while (!this.#closed) {
      const n = await this.#conn.read(scratch).catch(() => null);
      if (n === null) return;
    }
  }

  /** Called by the sweep once the deadline has passed. */
  #onDeadline = (reason: string): void => {
    if (reason === FOR_HEAD && this.#phase === "head") {
      // A head cut short: tell the client, then close (RFC 9110 section 15.5.9).
      const response = errorResponseBytes(408, "request head not received in time", true);
      this.#conn.write(response).catch(() => {}).finally(() => this.#tc.close());
      return;
    }
    this.#tc.close();
  };

  /** Reads more bytes into the buffer; null at end of stream. Writes queued output first. */
  async #fill(): Promise<number | null> {
    // The run loop does the same inline (an async call per request costs).
    if (this.#out.length > 0) await this.#writeQueued();
    if (this.#closed) throw new ConnectionDone();
    let n: number | null;
    try {
      n = await this.#conn.read(this.#input.reserve());
    } catch (error) {
      if (this.#closed) throw new ConnectionDone();
      throw error;
    }
    if (n === null) return null;
    this.#input.commit(n);
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

  /**
   * Runs the handler for one request and queues the response. Synchronous
   * when the handler is (no request body, a fixed response body): the
   * common case costs no extra await.
   */
  #handle(head: RequestHead): boolean | Promise<boolean> | typeof AWAIT_RESPONSE {
    const config = this.#config;
    const started = config.metrics ? performance.now() : 0;
    this.#phase = "handling";
    this.#tc.deadline = 0;
    const body = head.framing.kind === "none" ? undefined : new BodyState(head, this);
    const request = new ServerRequest(
      head,
      body,
      config.bodyLimitBytes,
      this.#conn,
      config.metrics ? started : undefined,
    );
    let result: HttpResponse | Promise<HttpResponse>;
    try {
      result = config.handler(request);
    } catch (error) {
      result = Promise.reject(error);
    }
    if (body !== undefined) return this.#handleSlow(head, body, result, started);
    if (result instanceof Promise) {
      // A request without a body answered later (a proxied request): the
      // run loop awaits the answer itself, then calls #respond.
      this.#pending = result;
      this.#started = started;
      return AWAIT_RESPONSE;
    }
    return this.#respond(head, result, started);
  }

  /**
   * Queues the answer to a request without a body: at once when it is a
   * fixed response, through #handleSlow otherwise (a stream, a 101, a
   * rejected promise, not a response).
   */
  #respond(
    head: RequestHead,
    result: HttpResponse | Promise<HttpResponse>,
    started: number,
  ): boolean | Promise<boolean> {
    if (
      result instanceof Promise || typeof result !== "object" || result === null ||
      result.body instanceof ReadableStream || result.status === 101
    ) {
      return this.#handleSlow(head, undefined, result, started);
    }
    let closeAfter = !head.keepAlive || this.#tc.draining;
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
    if (response.status === 101 && response.upgrade !== undefined) {
      await this.#switchProtocols(head, response, started);
      return false;
    }
    if (body && body.broken) closeAfter = true;
    // A body the handler did not read: drain a little to keep the connection.
    if (body && !body.done && !closeAfter) {
      closeAfter = !body.canDrain();
    }
    if (body && !body.done && closeAfter) this.#linger = true;
    if (this.#tc.draining) closeAfter = true;
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

  /**
   * Writes a 101 head (the handler's fields, Connection included) and hands
   * the socket to `response.upgrade` with what is left in the read buffer.
   * No deadline applies from then on: the new protocol keeps its own; drain
   * still closes it at the drain timeout.
   */
  async #switchProtocols(head: RequestHead, response: HttpResponse, started: number) {
    let text = "HTTP/1.1 101 Switching Protocols\r\n";
    for (const [name, value] of new HttpHeaders(response.headers)) {
      checkField(name, value);
      text += `${name}: ${value}\r\n`;
    }
    this.#out.pushText(text + "\r\n");
    await this.#flush();
    this.#count(head, 101, started);
    this.#tc.deadline = 0;
    this.#tc.markBusy();
    const buffered = this.#input.take(Infinity);
    try {
      await response.upgrade!(this.#conn, buffered);
    } catch (error) {
      if (!isDisconnect(error)) {
        this.#config.log.warn("upgraded connection failed: {error}", { error: String(error) });
      }
    }
    throw new ConnectionDone();
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
    if (!Number.isInteger(status) || (status < 200 && status !== 101) || status > 599) status = 500;
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
    if (response.wire !== undefined) {
      this.#queueWire(response.wire, head, closeAfter);
      return true;
    }
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

  /** Queues a message serialized by the handler (HttpResponse.wire), adding only Connection. */
  #queueWire(wire: { message: Bytes; headBytes: number }, head: RequestHead, closeAfter: boolean) {
    const { message, headBytes } = wire;
    const connection = closeAfter
      ? "connection: close\r\n\r\n"
      : head.version === "1.0"
      ? "connection: keep-alive\r\n\r\n"
      : undefined;
    // A HEAD request gets the head alone.
    const end = head.method === "HEAD" ? headBytes : message.length;
    if (connection === undefined) {
      this.#out.push(end === message.length ? message : message.subarray(0, end));
      return;
    }
    // Connection goes before the head's empty line (its last two bytes).
    this.#out.push(message.subarray(0, headBytes - 2));
    this.#out.pushText(connection);
    if (end > headBytes) this.#out.push(message.subarray(headBytes, end));
  }

  /**
   * Writes a streamed response: Content-Length when the handler gave one,
   * else chunked (HTTP/1.1) or delimited by closing the connection (HTTP/1.0).
   */
  async #writeStream(head: RequestHead, response: HttpResponse, closeAfter: boolean) {
    const body = response.body as ReadableStream<Uint8Array>;
    let chunked: boolean;
    try {
      let { text, userLength } = responseHeadText(
        response.status,
        response.headers,
        closeAfter,
        head.version,
      );
      const noBody = statusHasNoBody(response.status);
      chunked = userLength === undefined && head.version === "1.1";
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
    } catch (error) {
      // A head that could not be made or sent: the body is never read, so
      // it is cancelled here, or what it holds (an open file) would stay.
      await body.cancel().catch(() => {});
      throw error;
    }
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
    const tc = this.#tc;
    let mine = 0;
    if (tc.deadline === 0) {
      tc.setDeadline(this.#config.bodyTimeoutMs, FOR_BODY);
      mine = tc.deadline;
    }
    let offset = await this.#conn.write(bytes);
    while (offset < bytes.length) offset += await this.#conn.write(bytes.subarray(offset));
    if (mine !== 0 && tc.deadline === mine) tc.deadline = 0;
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
    return this.#input.length;
  }

  /** Takes up to `max` buffered bytes (a copy). */
  take(max: number): Bytes {
    return this.#input.take(max);
  }

  takeInto(into: Uint8Array): number {
    const view = this.#input.view();
    const n = Math.min(view.length, into.length);
    into.set(n === view.length ? view : view.subarray(0, n));
    this.#input.consume(n);
    return n;
  }

  /** Runs `fn` over the buffered bytes; it returns how many it consumed. */
  consume(fn: (view: Bytes) => number): void {
    this.#input.consume(fn(this.#input.view()));
  }

  async fillForBody(): Promise<void> {
    this.#tc.setDeadline(this.#config.bodyTimeoutMs, FOR_BODY);
    const n = await this.#fill();
    this.#tc.deadline = 0;
    if (n === null) throw new UnexpectedEofError("connection closed in the middle of the body");
  }

  async readForBody(into: Uint8Array): Promise<number> {
    if (this.#input.length > 0) throw new Error("readForBody with bytes still buffered");
    this.#tc.setDeadline(this.#config.bodyTimeoutMs, FOR_BODY);
    if (this.#out.length > 0) await this.#writeQueued();
    if (this.#closed) throw new ConnectionDone();
    let n: number | null;
    try {
      n = await this.#conn.read(into as Bytes);
    } catch (error) {
      if (this.#closed) throw new ConnectionDone();
      throw error;
    }
    this.#tc.deadline = 0;
    if (n === null) throw new UnexpectedEofError("connection closed in the middle of the body");
    return n;
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
