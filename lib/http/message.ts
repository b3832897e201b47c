// What a handler sees and returns, and helpers to build and read them.
//
// A handler is `(request) => response`: the same shape whether the request
// came off a socket (server.ts) or was built in a test, so routers and whole
// apps can be tested without a socket. Request bodies are `ReadableStream`s
// read lazily (nothing is read until the handler asks, which is also when
// the server sends `100 Continue`); `readBody`/`readJson` read them whole
// under a byte limit and throw HttpErrors (400/413) that say what is wrong.

import type { Bytes } from "../bytes.ts";
import { HttpError } from "./errors.ts";
import { type HeadersInit, HttpHeaders } from "./headers.ts";

export interface HttpRequest {
  readonly method: string;
  /** The request target as sent. */
  readonly target: string;
  /** The path, without the query. Percent-escapes are left as sent. */
  readonly path: string;
  /** The query string without "?", or "". */
  readonly query: string;
  readonly version: "1.0" | "1.1";
  readonly headers: HttpHeaders;
  /** The body, or null when the request has none. Read it at most once. */
  readonly body: ReadableStream<Bytes> | null;
  /**
   * Reads the next body bytes into `into` and returns how many, or null at
   * the end of the body. Bytes the server has buffered already are copied;
   * otherwise one socket read lands in `into` directly, as much as the
   * socket holds up to `into.length`, so a large upload crosses no
   * intermediate buffer and needs one read per several hundred KiB (the
   * `body` stream reads 16 KiB at a time, and each read costs a system
   * call and several promise hops). Use either this or `body`, never both.
   * Present on requests read from a socket.
   */
  readBodyInto?(into: Uint8Array): Promise<number | null>;
  /** Route parameters, filled in by the router (`/spells/:id` -> { id }). */
  params: Record<string, string>;
  /**
   * The most body bytes this request may send; the router sets it from the
   * route, the server enforces it while the body is read (413 past it).
   */
  bodyLimitBytes: number;
  /** Trailer fields of a chunked body, once the body has been read to its end. */
  readonly trailers?: HttpHeaders;
  /** Where the request came from, when it came from a socket. */
  readonly remoteAddr?: Deno.NetAddr;
  /**
   * The body length the head declared (0 for none), when the server knows
   * it without reading headers: lets a router refuse a large body cheaply.
   * Undefined for a chunked body or a request built elsewhere.
   */
  readonly declaredBodyBytes?: number;
  /**
   * `performance.now()` when the server began handling this request (the
   * start of its duration metric), when it read the clock for one: a
   * handler timing the request can start from it instead of reading the
   * clock again (about 0.1-0.2 µs a reading in Deno).
   */
  readonly startedMs?: number;
}

export type BodyInit = string | Uint8Array | ReadableStream<Uint8Array> | null;

export interface HttpResponse {
  status: number;
  headers?: HeadersInit;
  /** A string (sent as UTF-8), bytes, or a stream (chunked unless Content-Length is set). */
  body?: BodyInit;
  /**
   * With status 101 only: once the 101 head is written, the server hands the
   * socket over, with any bytes the client sent after the request head, and
   * closes it when the returned promise settles (RFC 9110 section 7.8).
   */
  upgrade?: (socket: Deno.Conn, buffered: Uint8Array) => Promise<void>;
  /**
   * The whole message already serialized, written as is instead of
   * `headers` and `body` (`status` still counts it): a proxy relaying an
   * answer its client decoded strictly. `headBytes` is the length of the
   * head, which ends in the empty line and carries no Connection field: the
   * server inserts its own there when it closes the connection (or keeps an
   * HTTP/1.0 one), and adds nothing else (no Date). Only the head is sent
   * to a HEAD request. Whoever builds it answers for its framing.
   */
  wire?: { message: Bytes; headBytes: number };
}

export type Handler = (request: HttpRequest) => HttpResponse | Promise<HttpResponse>;

/** A text/plain response. */
export function text(
  body: string,
  status = 200,
  headers: Record<string, string> = {},
): HttpResponse {
  return { status, headers: { "content-type": "text/plain; charset=utf-8", ...headers }, body };
}

/** An application/json response. */
export function json(
  value: unknown,
  status = 200,
  headers: Record<string, string> = {},
): HttpResponse {
  return {
    status,
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(value),
  };
}

/** A JSON error body: `{ "error": message }`. */
export function jsonError(
  status: number,
  message: string,
  headers: Record<string, string> = {},
): HttpResponse {
  return json({ error: message }, status, headers);
}

/** Builds a request by hand, for tests and in-process calls. */
export function makeRequest(
  method: string,
  target: string,
  options: { headers?: HttpHeaders; body?: Uint8Array | string; bodyLimitBytes?: number } = {},
): HttpRequest {
  const q = target.indexOf("?");
  const body = options.body === undefined ? null : new ReadableStream<Bytes>({
    start(controller) {
      const bytes = typeof options.body === "string"
        ? new TextEncoder().encode(options.body)
        : options.body!;
      if (bytes.length > 0) controller.enqueue(new Uint8Array(bytes) as Bytes);
      controller.close();
    },
  });
  return {
    method,
    target,
    path: q === -1 ? target : target.slice(0, q),
    query: q === -1 ? "" : target.slice(q + 1),
    version: "1.1",
    headers: options.headers ?? new HttpHeaders(),
    body,
    params: {},
    bodyLimitBytes: options.bodyLimitBytes ?? 1024 * 1024,
  };
}

/**
 * Reads the whole body, at most `bytesMax` (default: the request's limit).
 * Throws HttpError 413 past the limit.
 */
export async function readBody(
  request: HttpRequest,
  bytesMax: number = request.bodyLimitBytes,
): Promise<Bytes> {
  if (request.body === null) return new Uint8Array(0);
  const declared = request.declaredBodyBytes ??
    Number(request.headers.get("content-length") ?? "0");
  if (declared > bytesMax) throw bodyTooLarge(bytesMax);
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of request.body) {
    total += chunk.length;
    if (total > bytesMax) throw bodyTooLarge(bytesMax);
    parts.push(chunk);
  }
  if (parts.length === 1) return parts[0] as Bytes;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Reads the body as UTF-8 text under `bytesMax`. */
export async function readText(request: HttpRequest, bytesMax?: number): Promise<string> {
  return new TextDecoder().decode(await readBody(request, bytesMax));
}

/**
 * Reads and parses a JSON body under `bytesMax`. Throws HttpError 400 that
 * says what is wrong (empty body, bad JSON and where), 413 past the limit,
 * 415 when Content-Type is present and not JSON.
 */
export async function readJson<T = unknown>(request: HttpRequest, bytesMax?: number): Promise<T> {
  const type = request.headers.get("content-type");
  if (type !== undefined && !/^application\/([a-z0-9.+-]*\+)?json\b/i.test(type)) {
    throw new HttpError(415, `expected a JSON body, got Content-Type ${type.slice(0, 60)}`);
  }
  const body = await readText(request, bytesMax);
  if (body.trim() === "") throw new HttpError(400, "request body is empty; expected JSON");
  try {
    return JSON.parse(body) as T;
  } catch (error) {
    const detail = error instanceof SyntaxError ? error.message : "unparsable";
    throw new HttpError(400, `invalid JSON: ${detail}`);
  }
}

function bodyTooLarge(bytesMax: number): HttpError {
  return new HttpError(413, `request body larger than ${bytesMax} bytes`, { close: true });
}
