// The load balancer's request handler: route, pick a backend, forward the
// request with its body streamed, stream the answer back. Runs inside
// lib/http's server (which has already refused anything its parser would
// not accept, so nothing malformed is ever forwarded) and sends through
// lib/http's client (which refuses to write a head with CR, LF or other
// disallowed bytes).
//
// Per request (RFC 9110 section 7.6, RFC 7239):
// - hop-by-hop fields (Connection and the fields it names, Keep-Alive,
//   Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade) are dropped
//   both ways; Expect too, since this hop answers 100-continue itself (the
//   server sends 100 Continue once the body is first read, which is when it
//   is forwarded);
// - X-Forwarded-For and Forwarded get the client appended, X-Forwarded-Proto
//   and X-Forwarded-Host are set (a client's own values are replaced), Via
//   gets "1.1 underhood-lb" appended both ways;
// - the request target goes out byte for byte as received, unless the route
//   strips or rewrites its prefix; Host is kept.
//
// Bodies up to 64 KiB are read whole before a backend is chosen: a small
// body that breaks its framing is refused before anything is sent, and the
// request can be sent again. Larger bodies stream.
//
// Failures: a connection that cannot be made is retried on another backend
// for any method (nothing was sent); one that fails after sending and before
// any response arrived is retried only for idempotent methods whose body was
// read whole; nothing is retried once a response head has arrived, nor past the
// retry budget. Connect and response-header timeouts answer 504, other
// connection failures 502, a pool with no backend available 503 with
// Retry-After. Connection failures count towards passive ejection, and so
// do answers whose status the pool lists in `passive.failureStatuses` (5xx
// by default); such an answer still goes to the client as it is.
//
// A backend may answer before it has read a streamed request body (413,
// 401: RFC 9112 section 9.5): lib/http's client reads the head while it
// sends, stops the upload when the answer comes, and the answer is relayed;
// the server then drains the client's unread rest or closes its connection
// (RFC 9112 section 9.6), as it does for any body a handler leaves unread.

import { type Bytes, ByteSlab, concat } from "../../lib/bytes.ts";
import {
  type ClientResponse,
  type ExchangeHandler,
  HttpClient,
  HttpClientError,
  type RequestOptions,
} from "../../lib/http/client.ts";
import { type HttpHeaders, listTokens } from "../../lib/http/headers.ts";
import { statusText } from "../../lib/http/status.ts";
import type { HttpRequest, HttpResponse } from "../../lib/http/message.ts";
import type { Logger } from "../../lib/log.ts";
import type { BoundCounter, BoundHistogram } from "../../lib/metrics.ts";
import { BackendState } from "./backend_state.ts";
import { Balancer, type Candidate, type PickOptions } from "./balancer.ts";
import type { LbConfig, PoolConfig } from "./config.ts";
import type { LbMetrics } from "./metrics.ts";
import { RetryBudget } from "./retry_budget.ts";
import { matchRoute, type RouteMatch } from "./routes.ts";
import { openTunnel, TunnelError, wantsUpgrade } from "./tunnel.ts";

/** Fields that describe one hop and never cross a proxy (RFC 9110 section 7.6.1). */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);
/** Request fields this hop sets or handles itself. */
const REQUEST_OWN = new Set([
  "expect",
  "content-length",
  "x-forwarded-proto",
  "x-forwarded-host",
]);
const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"]);
const VIA = "1.1 underhood-lb";
/** Response bodies up to this size are read whole and sent in one write. */
const BUFFERED_RESPONSE_BYTES_MAX = 64 * 1024;

interface BackendSeries {
  latency: BoundHistogram;
  byStatus: Map<number, BoundCounter>;
}

/** One pool as it runs: its configuration, balancer, backends and client. */
export interface PoolRuntime {
  readonly name: string;
  readonly config: PoolConfig;
  readonly balancer: Balancer;
  readonly backends: readonly BackendState[];
  readonly client: HttpClient;
  /** 1 at each status that counts as a failure for passive health (index: the status). */
  readonly failureStatus: Uint8Array;
  /** One candidate per backend (same order), refreshed at each pick. */
  readonly candidates: MutableCandidate[];
}

type MutableCandidate = { -readonly [K in keyof Candidate]: Candidate[K] };

export interface ProxyOptions {
  metrics: LbMetrics;
  log: Logger;
  accessLog: Logger;
  /** Monotonic milliseconds; performance.now() by default. */
  now?: () => number;
}

export class ReverseProxy {
  #config!: LbConfig;
  #pools = new Map<string, PoolRuntime>();
  #states = new Map<string, BackendState>();
  #budget: RetryBudget;
  #metrics: LbMetrics;
  #log: Logger;
  #access: Logger;
  #now: () => number;
  /** #now is performance.now(), so a request's `startedMs` is on the same clock. */
  #serverClock: boolean;
  /** Bound metric series per pool and backend (bounded by the configurations seen). */
  #series = new Map<string, Map<string, BackendSeries>>();
  /** Requests using each client; a client replaced by a reload is closed once at zero. */
  #uses = new Map<HttpClient, number>();
  #retired = new Set<HttpClient>();

  constructor(config: LbConfig, options: ProxyOptions) {
    this.#metrics = options.metrics;
    this.#log = options.log;
    this.#access = options.accessLog;
    this.#now = options.now ?? (() => performance.now());
    this.#serverClock = options.now === undefined;
    this.#budget = new RetryBudget(config.retryBudget, this.#now());
    this.apply(config);
  }

  get config(): LbConfig {
    return this.#config;
  }

  get pools(): ReadonlyMap<string, PoolRuntime> {
    return this.#pools;
  }

  /**
   * Switches to `config`. Backends that stay (same URL) keep their state
   * object, so health, ejection and requests in flight carry over; requests
   * already running finish on the pool they started with.
   */
  apply(config: LbConfig): void {
    const old = this.#pools;
    const pools = new Map<string, PoolRuntime>();
    const states = new Map<string, BackendState>();
    for (const [name, pool] of Object.entries(config.pools)) {
      const backends = pool.backends.map((b) => {
        const state = states.get(b.url) ?? this.#states.get(b.url) ?? new BackendState(b.url, 1);
        state.weight = b.weight;
        states.set(b.url, state);
        return state;
      });
      const previous = old.get(name);
      const sameClient = previous !== undefined &&
        JSON.stringify(previous.config.timeouts) === JSON.stringify(pool.timeouts) &&
        previous.config.connectionsMax === pool.connectionsMax;
      const balancer = previous !== undefined && previous.config.algorithm === pool.algorithm
        ? previous.balancer
        : new Balancer(pool.algorithm);
      const client = sameClient ? previous.client : new HttpClient({
        connectTimeoutMs: pool.timeouts.connectMs,
        headerTimeoutMs: pool.timeouts.responseHeaderMs,
        bodyTimeoutMs: pool.timeouts.idleMs,
        idlePerOriginMax: pool.connectionsMax,
        keepHeadBytes: true,
      });
      const failureStatus = new Uint8Array(600);
      for (const status of pool.passive.failureStatuses) failureStatus[status] = 1;
      const candidates = backends.map((b) => ({
        id: b.url,
        weight: b.weight,
        warmth: 1,
        active: 0,
        available: true,
      }));
      pools.set(name, {
        name,
        config: pool,
        balancer,
        backends,
        client,
        failureStatus,
        candidates,
      });
    }
    const kept = new Set([...pools.values()].map((p) => p.client));
    this.#pools = pools;
    this.#states = states;
    this.#config = config;
    this.#budget = new RetryBudget(config.retryBudget, this.#now());
    for (const pool of old.values()) {
      if (kept.has(pool.client)) continue;
      if ((this.#uses.get(pool.client) ?? 0) === 0) pool.client.close();
      else this.#retired.add(pool.client);
    }
  }

  /** Every backend state now configured, by URL. */
  get backends(): ReadonlyMap<string, BackendState> {
    return this.#states;
  }

  /** Closes the idle connections of every client; responses in flight finish on their own. */
  async close(): Promise<void> {
    for (const pool of this.#pools.values()) await pool.client.close();
    for (const client of this.#retired) await client.close();
    this.#retired.clear();
  }

  /** Marks `client` in use by one request; `#release` ends that use. */
  #hold(client: HttpClient): void {
    this.#uses.set(client, (this.#uses.get(client) ?? 0) + 1);
  }

  #release(client: HttpClient): void {
    const left = this.#uses.get(client)! - 1;
    if (left > 0) return void this.#uses.set(client, left);
    this.#uses.delete(client);
    if (this.#retired.delete(client)) client.close();
  }

  /**
   * Not async itself: a local answer (404) goes back without a promise, and
   * a forwarded request costs one promise (#forward's), not two.
   */
  handle = (request: HttpRequest): HttpResponse | Promise<HttpResponse> => {
    // The server's own reading when it took one (one clock call less per request).
    const started = this.#serverClock && request.startedMs !== undefined
      ? request.startedMs
      : this.#now();
    const config = this.#config;
    const route = matchRoute(config.routes, config.defaultPool, {
      method: request.method,
      // Only rules look at the host: none, no lookup.
      host: config.routes.length === 0 ? undefined : request.headers.get("host"),
      path: request.path,
      target: request.target,
    });
    if (route === undefined) {
      return this.#local(request, started, 404, "no route matches this request", {});
    }
    const pool = this.#pools.get(route.pool)!;
    if ((request.body === null || request.declaredBodyBytes === 0) && !wantsUpgrade(request)) {
      return this.#plain(request, started, route, pool);
    }
    return this.#forward(request, started, route, pool);
  };

  /**
   * A request without a body (most of them): asked through lib/http's
   * client exchange(), whose handler (#plainHandler, made once) answers in
   * the turn the backend's head arrives, so the request costs one small
   * object (PlainAttempt) instead of an async function of its own.
   * Attempts, retries and answers are #forward's, step for step.
   */
  #plain(
    request: HttpRequest,
    started: number,
    route: RouteMatch,
    pool: PoolRuntime,
  ): HttpResponse | Promise<HttpResponse> {
    this.#hold(pool.client);
    let options: RequestOptions;
    try {
      options = this.#prepare(request, route, undefined);
    } catch (error) {
      this.#release(pool.client);
      throw error;
    }
    this.#budget.deposit(started);
    return this.#attempt({
      request,
      started,
      route,
      pool,
      options,
      key: hashKey(pool.config, request),
      backend: undefined,
      attempt: 0,
      tried: undefined,
    });
  }

  /** The next attempt of a plain request, or the client's answer when no backend is left. */
  #attempt(plain: PlainAttempt): HttpResponse | Promise<HttpResponse> {
    const attempt = ++plain.attempt;
    const pool = plain.pool;
    // The handler's clock reading serves the first attempt.
    const now = attempt > 1 ? this.#now() : plain.started;
    const backend = this.#pick(pool, now, plain.key, plain.tried);
    if (backend === undefined) {
      this.#release(pool.client);
      return this.#noBackend(plain.request, plain.started, plain.route, pool, plain.tried, now);
    }
    backend.active++;
    plain.backend = backend;
    return pool.client.exchange(backend.url, plain.options, this.#plainHandler, plain);
  }

  #plainHandler: ExchangeHandler<PlainAttempt, HttpResponse | Promise<HttpResponse>> = {
    answered: (response, plain) => {
      const { request, started, route, pool, backend, attempt } = plain;
      const client = pool.client;
      let answer: HttpResponse | undefined;
      try {
        answer = this.#answered(request, started, route, pool, backend!, attempt, response);
      } catch (error) {
        this.#release(client);
        throw error;
      }
      if (answer !== undefined) {
        this.#release(client);
        return answer;
      }
      // A streamed answer releases the client at its end.
      const streamed = this.#isStreamed(request, response);
      const relaying = this.#relayAnswer(
        request,
        started,
        route,
        pool,
        backend!,
        attempt,
        response,
        streamed ? client : null,
      );
      return streamed ? relaying : relaying.finally(() => this.#release(client));
    },
    failed: (error, plain) => {
      const { request, started, route, pool, backend, attempt } = plain;
      let local: HttpResponse | undefined;
      try {
        local = this.#failed(error, request, started, route, pool, backend!, attempt, RESENDABLE);
      } catch (failure) {
        this.#release(pool.client);
        throw failure;
      }
      if (local !== undefined) {
        this.#release(pool.client);
        return local;
      }
      (plain.tried ??= new Set()).add(backend!.url);
      return this.#attempt(plain);
    },
  };

  /**
   * Kept short on purpose, like lib/http's client exchange: V8 gives an
   * async function a register file as large as all its locals and
   * temporaries, allocated per call and copied out and back at each await,
   * so what happens before the backend is asked (#prepare), after a failure
   * (#failed) and after the answer (#answered, #relayAnswer) lives in other
   * methods. That cut the bytes allocated per proxied request by a third.
   */
  async #forward(
    request: HttpRequest,
    started: number,
    route: RouteMatch,
    pool: PoolRuntime,
  ): Promise<HttpResponse> {
    const client = pool.client;
    this.#hold(client);
    /** Set when a streamed answer takes over the release (at its end). */
    let handedOff = false;
    try {
      if (wantsUpgrade(request)) return await this.#tunnel(request, started, route, pool);
      const hasBody = request.body !== null && request.declaredBodyBytes !== 0;
      // A small body is read whole first: a body that breaks its framing is
      // then refused before any backend sees even its head, and the request
      // can be retried because its body can be sent again. Larger ones stream.
      const watched = hasBody ? await readSmallBody(this.#bodyOf(request)) : undefined;
      const options = this.#prepare(request, route, watched);
      const key = hashKey(pool.config, request);
      /** Backends tried (made on the first retry: most requests have none). */
      let tried: Set<string> | undefined;
      this.#budget.deposit(started);
      for (let attempt = 1;; attempt++) {
        // The handler's clock reading serves a first attempt that did not wait for a body.
        const now = attempt > 1 || hasBody ? this.#now() : started;
        const backend = this.#pick(pool, now, key, tried);
        if (backend === undefined) {
          return this.#noBackend(request, started, route, pool, tried, now);
        }
        backend.active++;
        let response: ClientResponse;
        try {
          response = await client.request(backend.url, options);
        } catch (error) {
          // The client's body broke its framing or limit while being forwarded:
          // the backend got a head and part of a body but never the end of it.
          // The client gets the parser's own answer (400, 413...), as without us.
          if (watched?.error !== undefined) {
            backend.active--;
            throw watched.error;
          }
          const local = this.#failed(error, request, started, route, pool, backend, attempt, {
            resendable: !(options.body instanceof ReadableStream),
          });
          if (local !== undefined) return local;
          (tried ??= new Set()).add(backend.url);
          continue;
        }
        const answer = this.#answered(request, started, route, pool, backend, attempt, response);
        if (answer !== undefined) return answer;
        const streamed = this.#isStreamed(request, response);
        if (streamed) handedOff = true;
        return await this.#relayAnswer(
          request,
          started,
          route,
          pool,
          backend,
          attempt,
          response,
          streamed ? client : null,
        );
      }
    } finally {
      if (!handedOff) this.#release(client);
    }
  }

  /** The request's body stream, which the balancer streams through whatever its size. */
  #bodyOf(request: HttpRequest): ReadableStream<Bytes> {
    // Size limits are the backend's to set.
    request.bodyLimitBytes = Infinity;
    return request.body!;
  }

  /** What lib/http's client is asked to send upstream, the same for every attempt. */
  #prepare(
    request: HttpRequest,
    route: RouteMatch,
    watched: ForwardedBody | undefined,
  ): RequestOptions {
    // A request without a body and without a field this hop acts on goes
    // up with its field lines as received, ours appended (plainFieldLines).
    const fieldLines = watched === undefined ? plainFieldLines(request) : undefined;
    const headers = fieldLines === undefined ? forwardHeaders(request) : undefined;
    const body = watched?.bytes ?? watched?.stream ?? null;
    if (watched?.stream !== undefined && request.declaredBodyBytes !== undefined) {
      headers!.push(["content-length", String(request.declaredBodyBytes)]);
    }
    return { method: request.method, target: route.target, headers, fieldLines, body };
  }

  /** 503 when no backend of the pool is available; 502 once every one tried failed. */
  #noBackend(
    request: HttpRequest,
    started: number,
    route: RouteMatch,
    pool: PoolRuntime,
    tried: Set<string> | undefined,
    now: number,
  ): HttpResponse {
    if (tried !== undefined) {
      return this.#local(request, started, 502, "every backend tried failed", {}, route.rule);
    }
    return this.#local(
      request,
      started,
      503,
      `no healthy backend in pool ${pool.name}`,
      { "retry-after": String(this.#retryAfterSeconds(pool, now)) },
      route.rule,
    );
  }

  /**
   * After a failed attempt: counts it (metrics, passive health) and returns
   * the client's answer, or undefined when the request goes to another
   * backend (a retry, already counted).
   */
  #failed(
    error: unknown,
    request: HttpRequest,
    started: number,
    route: RouteMatch,
    pool: PoolRuntime,
    backend: BackendState,
    attempt: number,
    body: { resendable: boolean },
  ): HttpResponse | undefined {
    backend.active--;
    const failure = classify(error, pool, backend.url);
    this.#metrics.errors.inc({ pool: pool.name, backend: backend.url, kind: failure.kind });
    if (failure.countsAgainstBackend && backend.recordFailure(this.#now(), pool.config.passive)) {
      this.#log.warn("backend {backend} ejected for {ms} ms after repeated failures", {
        backend: backend.url,
        ms: pool.config.passive.cooldownMs,
      });
    }
    const retryable = failure.beforeSending ||
      (failure.retryIfIdempotent && IDEMPOTENT.has(request.method) && body.resendable);
    if (retryable && attempt <= pool.config.retries && this.#budget.tryWithdraw(this.#now())) {
      this.#metrics.retries.inc({ pool: pool.name });
      return undefined;
    }
    if (!(error instanceof HttpClientError) && !(error instanceof TypeError)) {
      this.#log.error("proxying to {backend} failed: {error}", {
        backend: backend.url,
        error: String(error),
      });
    }
    return this.#local(request, started, failure.status, failure.message, {}, route.rule, {
      backend: backend.url,
      attempt,
    });
  }

  /**
   * The answer to the client once the backend's head has arrived, when it
   * can be given in this turn: relayed as bytes (wireAnswer), a small body
   * that came with its head, or a 502 for a 101 nobody asked for.
   * Undefined when the body has to be read or streamed (#relayAnswer).
   */
  #answered(
    request: HttpRequest,
    started: number,
    route: RouteMatch,
    pool: PoolRuntime,
    backend: BackendState,
    attempt: number,
    response: ClientResponse,
  ): HttpResponse | undefined {
    const status = response.status;
    if (status < 200) {
      // A 101 nobody asked for (interim 1xx are skipped by the client).
      backend.active--;
      // Cancelling closes the backend connection at once; nothing to wait for.
      response.body.cancel().catch(() => {});
      this.#metrics.errors.inc({ pool: pool.name, backend: backend.url, kind: "protocol" });
      return this.#local(
        request,
        started,
        502,
        `backend ${backend.url} switched protocols unasked`,
        {},
        route.rule,
        { backend: backend.url, attempt },
      );
    }
    if (pool.failureStatus[status] !== 1) backend.recordSuccess();
    else if (backend.recordFailure(this.#now(), pool.config.passive)) {
      // Still an answer: it goes to the client, and nothing is retried.
      this.#log.warn("backend {backend} ejected for {ms} ms after repeated {status} answers", {
        backend: backend.url,
        ms: pool.config.passive.cooldownMs,
        status,
      });
    }
    const series = this.#seriesOf(pool.name, backend.url);
    series.latency.observe((this.#now() - started) / 1000);
    this.#statusCounter(series, pool.name, backend.url, status).inc();
    const debug = this.#config.debugHeader;
    // The common answer relayed as bytes: its head as received plus Via, and its body.
    const wire = debug || request.method === "HEAD" ? undefined : wireAnswer(response);
    if (wire !== undefined) {
      backend.active--;
      this.#logAccess(request, status, started, backend.url, attempt);
      return { status, wire };
    }
    // The common small answer: its body came with its head, relayed in this turn.
    const whole = request.method === "HEAD" ? undefined : smallBufferedBody(response);
    if (whole === undefined) return undefined;
    backend.active--;
    this.#logAccess(request, status, started, backend.url, attempt);
    return { status, headers: this.#answerHeaders(response, route, backend, attempt), body: whole };
  }

  /** The backend's fields as they go to the client, with the debug field when configured. */
  #answerHeaders(
    response: ClientResponse,
    route: RouteMatch,
    backend: BackendState,
    attempt: number,
  ): [string, string][] {
    const out = responseHeaders(response.headers);
    if (this.#config.debugHeader) {
      out.push(["x-lb-debug", `rule=${route.rule}; backend=${backend.url}; attempt=${attempt}`]);
    }
    return out;
  }

  /** Relays an answer whose body has not all arrived with its head (#relay). */
  async #relayAnswer(
    request: HttpRequest,
    started: number,
    route: RouteMatch,
    pool: PoolRuntime,
    backend: BackendState,
    attempt: number,
    response: ClientResponse,
    client: HttpClient | null,
  ): Promise<HttpResponse> {
    const out = this.#answerHeaders(response, route, backend, attempt);
    let relayed: HttpResponse;
    try {
      relayed = await this.#relay(request, response, out, backend, client);
    } catch (error) {
      // A small sized body is read whole before anything is sent: when the
      // backend stalls or drops it, the client can still get a clear answer.
      if (!(error instanceof HttpClientError)) throw error;
      this.#metrics.errors.inc({ pool: pool.name, backend: backend.url, kind: "body" });
      backend.recordFailure(this.#now(), pool.config.passive);
      const timedOut = error.code === "timeout";
      const message = timedOut
        ? `backend ${backend.url} stalled for ${pool.config.timeouts.idleMs} ms inside its response body`
        : `backend ${backend.url} closed the connection inside its response body`;
      return this.#local(request, started, timedOut ? 504 : 502, message, {}, route.rule, {
        backend: backend.url,
        attempt,
      });
    }
    this.#logAccess(request, response.status, started, backend.url, attempt);
    return relayed;
  }

  /** An upgrade (WebSocket): one attempt, on a connection of its own (tunnel.ts). */
  async #tunnel(
    request: HttpRequest,
    started: number,
    route: RouteMatch,
    pool: PoolRuntime,
  ): Promise<HttpResponse> {
    const now = this.#now();
    const backend = this.#pick(pool, now, hashKey(pool.config, request), new Set());
    if (backend === undefined) {
      return this.#local(
        request,
        started,
        503,
        `no healthy backend in pool ${pool.name}`,
        { "retry-after": String(this.#retryAfterSeconds(pool, now)) },
        route.rule,
      );
    }
    backend.active++;
    const timeouts = pool.config.timeouts;
    try {
      const response = await openTunnel(backend.url, request, {
        target: route.target,
        headers: forwardHeaders(request),
        responseHeaders: (head) => responseHeaders(head.headers, head.status !== 101),
        connectTimeoutMs: timeouts.connectMs,
        responseHeaderTimeoutMs: timeouts.responseHeaderMs,
        done: () => backend.active--,
      });
      backend.recordSuccess();
      const series = this.#seriesOf(pool.name, backend.url);
      this.#statusCounter(series, pool.name, backend.url, response.status).inc();
      this.#logAccess(request, response.status, started, backend.url, 1);
      return response;
    } catch (error) {
      if (!(error instanceof TunnelError)) {
        return this.#local(request, started, 502, "the request could not be forwarded safely", {});
      }
      this.#metrics.errors.inc({ pool: pool.name, backend: backend.url, kind: error.kind });
      if (error.kind !== "protocol") backend.recordFailure(this.#now(), pool.config.passive);
      const status = error.kind.endsWith("timeout") ? 504 : 502;
      return this.#local(request, started, status, error.message, {}, route.rule, {
        backend: backend.url,
        attempt: 1,
      });
    }
  }

  /** The bound series of one backend: label text is built once, not per request. */
  #seriesOf(pool: string, backend: string): BackendSeries {
    // Two levels keyed by the configuration's own strings (whose hashes V8
    // keeps), rather than one key string built and hashed per request.
    let ofPool = this.#series.get(pool);
    if (ofPool === undefined) this.#series.set(pool, ofPool = new Map());
    let series = ofPool.get(backend);
    if (series === undefined) {
      series = {
        latency: this.#metrics.latency.labels({ pool, backend }),
        byStatus: new Map(),
      };
      ofPool.set(backend, series);
    }
    return series;
  }

  #statusCounter(series: BackendSeries, pool: string, backend: string, status: number) {
    let counter = series.byStatus.get(status);
    if (counter === undefined) {
      counter = this.#metrics.requests.labels({ pool, backend, status: String(status) });
      series.byStatus.set(status, counter);
    }
    return counter;
  }

  #pick(
    pool: PoolRuntime,
    now: number,
    key: string | undefined,
    tried: ReadonlySet<string> | undefined,
  ): BackendState | undefined {
    const config = pool.config;
    // The pool's candidate objects, refreshed in place: no allocation per pick.
    const candidates = pool.candidates;
    for (let i = 0; i < candidates.length; i++) {
      const b = pool.backends[i];
      const c = candidates[i];
      c.weight = b.weight;
      c.warmth = b.warmth(now, config.slowStartMs);
      c.active = b.active;
      c.available = b.available(now, config.connectionsMax);
    }
    const chosen = pool.balancer.pick(
      candidates,
      key === undefined && tried === undefined ? NO_PICK_OPTIONS : { key, exclude: tried },
    );
    // The balancer hands back one of the candidates given, in the backends' order.
    return chosen === undefined ? undefined : pool.backends[candidates.indexOf(chosen)];
  }

  /** Whether #relay streams this answer (and so releases the client at the stream's end). */
  #isStreamed(request: HttpRequest, response: ClientResponse): boolean {
    const status = response.status;
    if (request.method === "HEAD" || status === 204 || status === 304) return false;
    const length = response.headers.get("content-length");
    // The exact complement of #relay's test (a length that is not a number streams there too).
    return length === undefined || !(Number(length) <= BUFFERED_RESPONSE_BYTES_MAX);
  }

  /** Seconds until a backend of `pool` may be back: the soonest ejection end, or a check interval. */
  #retryAfterSeconds(pool: PoolRuntime, now: number): number {
    let soonestMs = Infinity;
    for (const b of pool.backends) {
      if (b.ejectedUntilMs > now) soonestMs = Math.min(soonestMs, b.ejectedUntilMs - now);
    }
    if (soonestMs === Infinity) soonestMs = pool.config.healthCheck?.intervalMs ?? 1000;
    return Math.max(1, Math.ceil(soonestMs / 1000));
  }

  /**
   * Streams (or, when small, copies) the backend's body to the client.
   * `client`: given when the answer streams (#isStreamed), whose use is then
   * released at the stream's end instead of by the caller.
   */
  async #relay(
    request: HttpRequest,
    response: ClientResponse,
    headers: [string, string][],
    backend: BackendState,
    client: HttpClient | null,
  ): Promise<HttpResponse> {
    const status = response.status;
    const length = response.headers.get("content-length");
    const noBody = request.method === "HEAD" || status === 204 || status === 304;
    if (noBody) {
      // The client has nothing to read; the connection is back in its pool.
      backend.active--;
      return { status, headers, body: null };
    }
    if (length !== undefined && Number(length) <= BUFFERED_RESPONSE_BYTES_MAX) {
      try {
        const bytes = await response.bytes();
        return { status, headers, body: bytes };
      } finally {
        backend.active--;
      }
    }
    const reader = response.body.getReader();
    let finished = false;
    const finish = () => {
      if (!finished) {
        finished = true;
        backend.active--;
        if (client !== null) this.#release(client);
      }
    };
    // highWaterMark 0: the next piece is read from the backend only once the
    // server has written the previous one to the client (backpressure).
    const body = new ReadableStream<Bytes>({
      async pull(controller) {
        try {
          const { value, done } = await reader.read();
          if (done) {
            finish();
            controller.close();
          } else controller.enqueue(value);
        } catch (error) {
          finish();
          throw error;
        }
      },
      cancel(reason) {
        finish();
        return reader.cancel(reason);
      },
    }, { highWaterMark: 0 });
    return { status, headers, body };
  }

  /** An answer from the balancer itself (404, 502, 503, 504). */
  #local(
    request: HttpRequest,
    started: number,
    status: number,
    message: string,
    extra: Record<string, string>,
    rule = "none",
    via: { backend: string; attempt: number } = { backend: "-", attempt: 0 },
  ): HttpResponse {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "cache-control": "no-store",
      ...extra,
    };
    if (this.#config.debugHeader) {
      headers["x-lb-debug"] = `rule=${rule}; backend=${via.backend}; attempt=${via.attempt}`;
    }
    this.#metrics.local.inc({ status: String(status) });
    this.#logAccess(request, status, started, via.backend, via.attempt);
    return { status, headers, body: JSON.stringify({ error: message }) };
  }

  #logAccess(
    request: HttpRequest,
    status: number,
    started: number,
    backend: string,
    attempt: number,
  ): void {
    if (!this.#access.isEnabledFor("info")) return;
    this.#access.info("{client} {method} {target} {status} {backend} attempt={attempt} {ms}ms", {
      client: request.remoteAddr?.hostname ?? "-",
      method: request.method,
      target: request.target,
      status,
      backend,
      attempt,
      ms: Math.round((this.#now() - started) * 10) / 10,
    });
  }
}

const NO_PICK_OPTIONS: PickOptions = {};
/** A request without a body can always be sent again. */
const RESENDABLE = { resendable: true };

/** One plain request (no body, no upgrade) across its attempts. */
interface PlainAttempt {
  readonly request: HttpRequest;
  readonly started: number;
  readonly route: RouteMatch;
  readonly pool: PoolRuntime;
  readonly options: RequestOptions;
  /** The consistent-hash key, when the pool hashes. */
  readonly key: string | undefined;
  /** The backend of the current attempt. */
  backend: BackendState | undefined;
  attempt: number;
  /** Backends tried (made on the first retry). */
  tried: Set<string> | undefined;
}

/** The response field names wireAnswer leaves to responseHeaders (hop-by-hop, Via), by length. */
const WIRE_REFUSED_BY_LENGTH: (string[] | undefined)[] = [];
for (const name of [...HOP_BY_HOP, "via"]) (WIRE_REFUSED_BY_LENGTH[name.length] ??= []).push(name);
const VIA_AND_END = new TextEncoder().encode(`via: ${VIA}\r\n\r\n`);
/** Status lines by status, encoded once each (at most 400: 200 to 599). */
const STATUS_LINES = new Map<number, Bytes>();

function statusLine(status: number): Bytes {
  let line = STATUS_LINES.get(status);
  if (line === undefined) {
    line = new TextEncoder().encode(`HTTP/1.1 ${status} ${statusText(status)}\r\n`);
    STATUS_LINES.set(status, line);
  }
  return line;
}

/** Whether `buf[from, from + name.length)` is `name` (lowercase ASCII) in any case. */
function nameIs(buf: Bytes, from: number, name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    let c = buf[from + i];
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== name.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * The value from `from` to the line's CR as a number when it is 1 to 5
 * digits around optional SP/HTAB, else -1.
 */
function plainDigits(buf: Bytes, from: number, to: number): number {
  while (from < to && (buf[from] === 0x20 || buf[from] === 0x09)) from++;
  while (to > from && (buf[to - 1] === 0x20 || buf[to - 1] === 0x09)) to--;
  if (to === from || to - from > 5) return -1;
  let value = 0;
  for (let i = from; i < to; i++) {
    const digit = buf[i] - 0x30;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * The backend's answer as one message of bytes, when nothing in it needs
 * rewriting: an HTTP/1.1 answer with one plain Content-Length up to
 * BUFFERED_RESPONSE_BYTES_MAX whose body has all arrived, and no hop-by-hop
 * field and no Via. Its field lines go out as received (lib/http's decoder
 * has already refused bare LF, obs-fold, bad names and control bytes in
 * values), after our own status line and before `Via: 1.1 underhood-lb`;
 * the backend's Date stays (the server adds none to such a message).
 * Otherwise undefined, with nothing consumed: responseHeaders does the work.
 * The field names are read from the head's bytes: no strings are made.
 */
function wireAnswer(response: ClientResponse): { message: Bytes; headBytes: number } | undefined {
  const head = response.headBytes;
  const status = response.status;
  if (head === undefined || response.version !== "1.1" || status === 204 || status === 304) {
    return undefined;
  }
  const fieldsFrom = head.indexOf(0x0a) + 1;
  const fieldsTo = head.length - 2;
  let length = -1;
  for (let pos = fieldsFrom; pos < fieldsTo;) {
    const colon = head.indexOf(0x3a, pos);
    const lineEnd = head.indexOf(0x0a, colon);
    const nameLength = colon - pos;
    if (nameLength === 14 && nameIs(head, pos, "content-length")) {
      if (length !== -1) return undefined;
      length = plainDigits(head, colon + 1, lineEnd - 1);
      if (length === -1) return undefined;
    } else {
      const refused = WIRE_REFUSED_BY_LENGTH[nameLength];
      if (refused !== undefined) {
        for (const name of refused) if (nameIs(head, pos, name)) return undefined;
      }
    }
    pos = lineEnd + 1;
  }
  if (length === -1 || length > BUFFERED_RESPONSE_BYTES_MAX) return undefined;
  const line = statusLine(status);
  // The fields without the head's empty line, then Via and the empty line.
  const fields = head.subarray(fieldsFrom, fieldsTo);
  const headBytes = line.length + fields.length + VIA_AND_END.length;
  // The body copied once, straight into the message, behind room for the head
  // (`head` is a view of the read buffer, which bufferedBody leaves as it is).
  const message = response.bufferedBody(headBytes, takeMessage);
  if (message === undefined) return undefined;
  message.set(line);
  message.set(fields, line.length);
  message.set(VIA_AND_END, line.length + fields.length);
  return { message, headBytes };
}

/**
 * Relayed answers are cut from a slab rather than each allocated: the
 * server writes one and drops it, so a slab is freed soon after it is full.
 */
const messageSlab = new ByteSlab(16 * 1024);
const takeMessage = (bytes: number): Bytes => messageSlab.take(bytes);

/** A sized answer up to BUFFERED_RESPONSE_BYTES_MAX already whole in the buffer, else undefined. */
function smallBufferedBody(response: ClientResponse): Bytes | undefined {
  const status = response.status;
  if (status === 204 || status === 304) return undefined;
  const length = response.headers.get("content-length");
  if (length === undefined || Number(length) > BUFFERED_RESPONSE_BYTES_MAX) return undefined;
  return response.bufferedBody();
}

/** Request bodies up to this size are read whole before a backend is chosen. */
const PREREAD_BODY_BYTES_MAX = 64 * 1024;

interface ForwardedBody {
  /** The whole body, when it fit in PREREAD_BODY_BYTES_MAX. */
  bytes?: Bytes;
  /** Otherwise the body as a stream: what was read, then the rest. */
  stream?: ReadableStream<Bytes>;
  /**
   * Set when reading the rest from the client failed (bad chunking, over a
   * limit, the client went away): that is the client's fault, not the backend's.
   */
  error?: unknown;
}

/**
 * Reads up to PREREAD_BODY_BYTES_MAX of `source`. Errors while doing so
 * reach the server, which answers them as its parser would (400, 413...).
 */
async function readSmallBody(source: ReadableStream<Bytes>): Promise<ForwardedBody> {
  const reader = source.getReader();
  const parts: Bytes[] = [];
  let total = 0;
  while (total <= PREREAD_BODY_BYTES_MAX) {
    const { value, done } = await reader.read();
    if (done) return { bytes: concat(parts) };
    parts.push(value);
    total += value.length;
  }
  const forwarded: ForwardedBody = {};
  forwarded.stream = new ReadableStream<Bytes>({
    async pull(controller) {
      const first = parts.shift();
      if (first !== undefined) return controller.enqueue(first);
      let result: ReadableStreamReadResult<Bytes>;
      try {
        result = await reader.read();
      } catch (error) {
        forwarded.error = error;
        throw error;
      }
      if (result.done) controller.close();
      else controller.enqueue(result.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  return forwarded;
}

/**
 * Lengths of every field name forwardHeaders and responseHeaders act on:
 * a name of another length is copied without being lowercased (most are).
 */
const ACTED_ON_LENGTHS = new Uint8Array(32);
for (const name of [...HOP_BY_HOP, ...REQUEST_OWN, "x-forwarded-for", "forwarded", "via", "date"]) {
  ACTED_ON_LENGTHS[name.length] = 1;
}

/** The lowercase name when `name` may be one acted on (or Connection names some), else "". */
function lowerIfActedOn(name: string, named: Set<string>): string {
  return named.size > 0 || (name.length < 32 && ACTED_ON_LENGTHS[name.length] === 1)
    ? name.toLowerCase()
    : "";
}

/**
 * The request's field lines as they go upstream, when nothing in them needs
 * rewriting: no hop-by-hop field, none this hop sets or handles (Expect,
 * Content-Length, X-Forwarded-*, Forwarded, Via), and a Host. They are the
 * lines lib/http's strict parser accepted, passed on as received, followed
 * by the same X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host,
 * Forwarded and Via lines forwardHeaders adds. Otherwise undefined:
 * forwardHeaders does the work.
 */
export function plainFieldLines(request: HttpRequest): string | undefined {
  const lines = request.headers.fieldLines();
  if (lines === undefined) return undefined;
  const client = request.remoteAddr?.hostname ?? "unknown";
  // A keep-alive client repeats its fields: the same lines from the same
  // client give the same answer, and the same string (which the client
  // then need not check again).
  const last = lastPlain;
  if (last.lines === lines && last.client === client) return last.joined;
  const joined = joinedFieldLines(request, lines, client);
  lastPlain = { lines, client, joined };
  return joined;
}

/** The last request fields plainFieldLines answered for, and its answer. */
let lastPlain: { lines: string; client: string; joined: string | undefined } = {
  lines: "",
  client: "",
  joined: undefined,
};

function joinedFieldLines(
  request: HttpRequest,
  lines: string,
  client: string,
): string | undefined {
  for (let at = 0; at < lines.length;) {
    const colon = lines.indexOf(":", at);
    const length = colon - at;
    if (length < 32 && ACTED_ON_LENGTHS[length] === 1) {
      const name = lines.slice(at, colon).toLowerCase();
      if (
        HOP_BY_HOP.has(name) || REQUEST_OWN.has(name) || name === "x-forwarded-for" ||
        name === "forwarded" || name === "via"
      ) return undefined;
    }
    at = lines.indexOf("\n", colon) + 1;
  }
  const host = request.headers.get("host");
  if (host === undefined) return undefined;
  return lines + forwardedLines(client, host);
}

/** The last client and host seen, with their forwarding lines: one client often sends many requests. */
let lastForwarded = { client: "", host: "", lines: "" };

/** The lines forwardHeaders appends for a request without forwarding fields of its own. */
function forwardedLines(client: string, host: string): string {
  const last = lastForwarded;
  if (last.client === client && last.host === host) return last.lines;
  const node = client.includes(":") ? `"[${client}]"` : client;
  const lines = `x-forwarded-for: ${client}\r\nx-forwarded-proto: http\r\n` +
    `x-forwarded-host: ${host}\r\nforwarded: for=${node};proto=http;host=${
      quoteIfNeeded(host)
    }\r\n` +
    `via: ${VIA}\r\n`;
  lastForwarded = { client, host, lines };
  return lines;
}

/** The request's fields as they go upstream. */
export function forwardHeaders(request: HttpRequest): [string, string][] {
  const fields = request.headers;
  const named = connectionNamed(fields.get("connection"));
  const out: [string, string][] = [];
  let forwardedFor: string | undefined;
  let forwarded: string | undefined;
  let via: string | undefined;
  for (const field of fields) {
    const lower = lowerIfActedOn(field[0], named);
    if (lower === "") {
      out.push(field);
      continue;
    }
    if (HOP_BY_HOP.has(lower) || REQUEST_OWN.has(lower) || named.has(lower)) continue;
    const value = field[1];
    // Repeated fields of these lists are joined into one (RFC 9110 section 5.3).
    if (lower === "x-forwarded-for") {
      forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
    } else if (lower === "forwarded") {
      forwarded = forwarded === undefined ? value : `${forwarded}, ${value}`;
    } else if (lower === "via") {
      via = via === undefined ? value : `${via}, ${value}`;
    } else out.push(field);
  }
  const client = request.remoteAddr?.hostname ?? "unknown";
  const host = fields.get("host");
  out.push(["x-forwarded-for", forwardedFor === undefined ? client : `${forwardedFor}, ${client}`]);
  out.push(["x-forwarded-proto", "http"]);
  if (host !== undefined) out.push(["x-forwarded-host", host]);
  const node = client.includes(":") ? `"[${client}]"` : client;
  let element = `for=${node};proto=http`;
  if (host !== undefined) element += `;host=${quoteIfNeeded(host)}`;
  out.push(["forwarded", forwarded === undefined ? element : `${forwarded}, ${element}`]);
  out.push(["via", via === undefined ? VIA : `${via}, ${VIA}`]);
  return out;
}

/**
 * The backend's fields as they go to the client. With `dropDate` (every
 * answer but a 101, whose head the server writes as given) the backend's
 * Date is left out: the server writes its own, and Date is a singleton
 * field (RFC 9110 section 6.6.1), so passing it on gave the client two.
 */
export function responseHeaders(headers: HttpHeaders, dropDate = true): [string, string][] {
  const named = connectionNamed(headers.get("connection"));
  const out: [string, string][] = [];
  let via: string | undefined;
  for (const field of headers) {
    const lower = lowerIfActedOn(field[0], named);
    if (lower === "") {
      out.push(field);
      continue;
    }
    if (HOP_BY_HOP.has(lower) || named.has(lower) || (dropDate && lower === "date")) continue;
    if (lower === "via") via = via === undefined ? field[1] : `${via}, ${field[1]}`;
    else out.push(field);
  }
  out.push(["via", via === undefined ? VIA : `${via}, ${VIA}`]);
  return out;
}

function connectionNamed(value: string | undefined): Set<string> {
  return value === undefined ? EMPTY : new Set(listTokens(value).map((t) => t.toLowerCase()));
}

const EMPTY: Set<string> = new Set();

/** A Forwarded value is a token or a quoted string (RFC 7239 section 4). */
function quoteIfNeeded(value: string): string {
  return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(value)
    ? value
    : `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** The consistent-hash key for `request`, when the pool hashes. */
function hashKey(pool: PoolConfig, request: HttpRequest): string | undefined {
  const hash = pool.hash;
  if (hash === undefined || pool.algorithm !== "consistent-hash") return undefined;
  switch (hash.on) {
    case "client":
      return request.remoteAddr?.hostname;
    case "header":
      return request.headers.get(hash.name!);
    case "cookie":
      return cookieValue(request.headers.getAll("cookie"), hash.name!);
  }
}

/** The value of cookie `name` in Cookie fields (RFC 6265 section 5.4), or undefined. */
export function cookieValue(fields: readonly string[], name: string): string | undefined {
  for (const field of fields) {
    for (const pair of field.split(";")) {
      const eq = pair.indexOf("=");
      if (eq !== -1 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
    }
  }
  return undefined;
}

interface Failure {
  status: 502 | 504;
  message: string;
  kind: "connect" | "connect_timeout" | "header_timeout" | "closed" | "protocol" | "refused";
  /** Nothing reached the backend: any method may go elsewhere. */
  beforeSending: boolean;
  /** Sent, but no response arrived: idempotent requests without a body may go elsewhere. */
  retryIfIdempotent: boolean;
  countsAgainstBackend: boolean;
}

function classify(error: unknown, pool: PoolRuntime, backend: string): Failure {
  if (error instanceof HttpClientError) {
    switch (error.code) {
      case "connect":
        return failure(502, `cannot connect to backend ${backend}`, "connect", true, true);
      case "timeout":
        if (error.message.startsWith("connect to")) {
          return failure(
            504,
            `connecting to backend ${backend} timed out after ${pool.config.timeouts.connectMs} ms`,
            "connect_timeout",
            true,
            true,
          );
        }
        return {
          status: 504,
          message:
            `backend ${backend} sent no response head within ${pool.config.timeouts.responseHeaderMs} ms`,
          kind: "header_timeout",
          beforeSending: false,
          retryIfIdempotent: false,
          countsAgainstBackend: true,
        };
      case "closed":
        return failure(
          502,
          `backend ${backend} closed the connection without a response`,
          "closed",
          false,
          true,
        );
      case "protocol":
        return failure(
          502,
          `backend ${backend} sent a malformed response`,
          "protocol",
          false,
          false,
        );
      case "usage":
        break;
    }
  }
  if (error instanceof TypeError) {
    // The client refused to write the head (request_check.ts): never sent.
    return {
      status: 502,
      message: "the request could not be forwarded safely",
      kind: "refused",
      beforeSending: false,
      retryIfIdempotent: false,
      countsAgainstBackend: false,
    };
  }
  return failure(502, `proxying to backend ${backend} failed`, "closed", false, false);
}

function failure(
  status: 502 | 504,
  message: string,
  kind: Failure["kind"],
  beforeSending: boolean,
  retryIfIdempotent: boolean,
): Failure {
  return {
    status,
    message,
    kind,
    beforeSending,
    retryIfIdempotent,
    countsAgainstBackend: kind !== "protocol",
  };
}
