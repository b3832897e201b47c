// The message head of HTTP/1.1: request line or status line, then header
// fields, then an empty line (RFC 9112 sections 2-5), and what the head says
// about framing the body (RFC 9112 section 6).
//
// Pure: bytes in, typed values out, no I/O. The decoders follow the one
// contract of lib/decode.ts: given the bytes received so far they return the
// head and how many bytes it used, or INCOMPLETE while the head is not all
// there (its length is never announced, so `bytesNeeded` is 0), or throw (DecodeError -> 400, HttpDecodeError -> its status, LimitError ->
// 414/431). Every bound is checked before the bytes are looked at, so a peer
// sending an endless line costs at most the limit.
//
// Strict where leniency enables request smuggling: a bare LF, obs-fold
// (RFC 9112 section 5.2), whitespace before the colon (section 5.1), both
// Content-Length and Transfer-Encoding (section 6.3), a list of differing
// Content-Length values, or a transfer coding other than a final "chunked"
// are all rejected. Left out: the authority-form (CONNECT, answered 501 by
// the server) and transfer codings other than chunked (501).

import type { Bytes } from "../bytes.ts";
import { type Decoded, INCOMPLETE } from "../decode.ts";
import { DecodeError, LimitError } from "../errors.ts";
import { HttpDecodeError } from "./errors.ts";
import { HttpHeaders, listTokens } from "./headers.ts";

/** Bounds on what a peer may send; names end with their unit. */
export interface HttpLimits {
  /** Longest request line: 8 KiB, the common default (nginx, Node); 414 past it. */
  requestLineBytes: number;
  /** Longest header section incl. the request line: 32 KiB; 431 past it. */
  headerBytes: number;
  /** Most header fields: 100, as Node's default; 431 past it. */
  headerCount: number;
  /** Longest chunk-size line, extensions included (RFC 9112 section 7.1.1). */
  chunkLineBytes: number;
  /** Longest trailer section (RFC 9112 section 7.1.2); 431 past it. */
  trailerBytes: number;
}

export const DEFAULT_LIMITS: Readonly<HttpLimits> = {
  requestLineBytes: 8 * 1024,
  headerBytes: 32 * 1024,
  headerCount: 100,
  chunkLineBytes: 4 * 1024,
  trailerBytes: 8 * 1024,
};

/** How the body that follows a head is delimited (RFC 9112 section 6.3). */
export type BodyFraming =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  /** Response bodies only: read until the server closes. */
  | { kind: "close" };

export interface RequestHead {
  method: string;
  /** The request target exactly as sent. */
  target: string;
  /** Path of the target (origin-form, or taken out of the absolute-form). */
  path: string;
  /** The query string without "?", or "". */
  query: string;
  /** "asterisk" only for `OPTIONS *`. */
  form: "origin" | "absolute" | "asterisk";
  version: "1.0" | "1.1";
  headers: HttpHeaders;
  framing: BodyFraming;
  /** True when the connection may carry another request after this one. */
  keepAlive: boolean;
  /** True when the client sent `Expect: 100-continue`. */
  expectContinue: boolean;
}

export interface ResponseHead {
  version: "1.0" | "1.1";
  status: number;
  reason: string;
  headers: HttpHeaders;
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COMMA = 0x2c;
const SLASH = 0x2f;
const QUESTION = 0x3f;
const FRAMING_NONE: BodyFraming = Object.freeze({ kind: "none" });
const FRAMING_CHUNKED: BodyFraming = Object.freeze({ kind: "chunked" });
/** Empty lines tolerated before a request line (RFC 9112 section 2.2). */
const MAX_LEADING_EMPTY_LINES = 4;

// tchar (RFC 9110 section 5.6.2) as a lookup table.
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TCHAR[c.charCodeAt(0)] = 1;
}

/**
 * Decodes a request head from `buf[from, to)`; INCOMPLETE until it is all there. Input
 * bytes are not kept. `bytesUsed` counts from `from`.
 *
 * This is the hottest code of every HTTP service, so it reads bytes rather
 * than strings: the request line and the field lines are validated in
 * place, the fields the server must interpret (Host, Connection,
 * Content-Length) are recognised and read as bytes, and header strings are
 * cut from one string of the section only when a handler looks at them
 * (HttpHeaders.fromSpans). A head with a rarer framing field
 * (Transfer-Encoding, Expect, repeats, a list in Content-Length) or a
 * target that is not origin-form is interpreted by the string-based
 * `interpretRequest`, the reference the fast path is tested against.
 *
 * `memo` (one per connection) remembers the last field section: keep-alive
 * clients repeat theirs (the same Host, User-Agent, Accept, cookies...), and
 * a section byte-for-byte equal to the last one means the same fields, so
 * it is compared instead of scanned and decoded again.
 */
export function decodeRequestHead(
  buf: Bytes,
  limits: Readonly<HttpLimits> = DEFAULT_LIMITS,
  from = 0,
  to = buf.length,
  memo?: FieldsMemo,
): Decoded<RequestHead> {
  let pos = from;
  // Skip a few empty lines left over from a previous message.
  for (let i = 0; i < MAX_LEADING_EMPTY_LINES && pos < to; i++) {
    if (buf[pos] === CR) {
      if (pos + 1 >= to) return INCOMPLETE;
      if (buf[pos + 1] !== LF) throw new DecodeError("CR without LF");
      pos += 2;
    } else if (buf[pos] === LF) {
      throw new DecodeError("bare LF");
    } else break;
  }
  const headStart = pos;
  const lineEnd = findLineEnd(buf, pos, to, limits.requestLineBytes, "requestLineBytes");
  if (lineEnd === -1) return INCOMPLETE;
  // method SP request-target SP HTTP-version, exactly one SP each (section 3).
  let sp1 = pos;
  while (sp1 < lineEnd && buf[sp1] !== SP) {
    const c = buf[sp1];
    if (c >= 128 || TCHAR[c] === 0) throw new DecodeError("bad method");
    sp1++;
  }
  if (sp1 === lineEnd || sp1 === pos) throw new DecodeError("bad request line");
  let sp2 = sp1 + 1;
  let question = -1;
  while (sp2 < lineEnd && buf[sp2] !== SP) {
    const c = buf[sp2];
    if (c < SP || c >= 0x7f) throw new DecodeError("bad byte in request target");
    if (c === QUESTION && question === -1) question = sp2;
    sp2++;
  }
  if (sp2 === lineEnd || sp2 === sp1 + 1) throw new DecodeError("bad request line");
  const version = parseVersion(buf, sp2 + 1, lineEnd);

  const fieldsStart = lineEnd + 2;
  let fields = memo?.match(buf, fieldsStart, to) ?? null;
  if (fields !== null && fieldsStart - headStart + fields.bytes - 2 > limits.headerBytes) {
    fields = null; // the same fields after a longer request line: let the scan apply the limit
  }
  if (fields === null) {
    fields = scanFields(buf, fieldsStart, to, headStart, limits, true);
    if (fields === null) return INCOMPLETE;
    memo?.remember(buf, fieldsStart, fields);
  }
  const bytesUsed = fieldsStart + fields.bytes - from;
  const method = methodName(buf, pos, sp1);
  const target = latin1(buf, sp1 + 1, sp2, true); // validated: 0x21-0x7e
  const headers = HttpHeaders.fromSpans(fields.text, fields.spans, 0);
  if (fields.rare || buf[sp1 + 1] !== SLASH) {
    return { value: interpretRequest(method, target, version, headers), bytesUsed };
  }

  // The common case: origin-form, at most one Host, Connection and
  // Content-Length, no Transfer-Encoding or Expect.
  if (fields.host === HOST_MISSING) {
    if (version === "1.1") throw new DecodeError("missing Host header");
  } else if (fields.host === HOST_BAD) {
    throw new DecodeError("bad Host header");
  }
  const keepAlive = (fields.connection & CONNECTION_CLOSE) === 0 &&
    (version === "1.1" || (fields.connection & CONNECTION_KEEP_ALIVE) !== 0);
  return {
    value: {
      method,
      target,
      path: question === -1 ? target : target.slice(0, question - sp1 - 1),
      query: question === -1 ? "" : target.slice(question - sp1),
      form: "origin",
      version,
      headers,
      framing: fields.contentLength > 0
        ? { kind: "length", length: fields.contentLength }
        : FRAMING_NONE,
      keepAlive,
      expectContinue: false,
    },
    bytesUsed,
  };
}

/**
 * The last field section of a connection's requests, as bytes, with what
 * was read from it. Bounded: sections over FIELDS_MEMO_BYTES_MAX are not
 * remembered.
 */
export class FieldsMemo {
  #bytes: Bytes | undefined;
  #fields: Fields | undefined;

  /** The remembered fields if `buf[at, to)` starts with the remembered section. */
  match(buf: Bytes, at: number, to: number): Fields | null {
    const fields = this.#fields;
    if (fields === undefined || to - at < fields.bytes) return null;
    const bytes = this.#bytes!;
    for (let i = 0; i < fields.bytes; i++) {
      if (buf[at + i] !== bytes[i]) return null;
    }
    return fields;
  }

  remember(buf: Bytes, at: number, fields: Fields): void {
    if (fields.bytes > FIELDS_MEMO_BYTES_MAX) {
      this.#fields = undefined;
      return;
    }
    const bytes = this.#bytes ??= new Uint8Array(FIELDS_MEMO_BYTES_MAX);
    for (let i = 0; i < fields.bytes; i++) bytes[i] = buf[at + i];
    this.#fields = fields;
  }
}

/** Longest field section a FieldsMemo keeps (a browser's is well under this). */
const FIELDS_MEMO_BYTES_MAX = 2048;

/**
 * Decodes a response head from `buf[from, to)`; INCOMPLETE until it is all
 * there. `bytesUsed` counts from `from`; the headers are copies.
 *
 * `memo` (one per connection, used with the same limits each time)
 * remembers the last head: a server repeats its heads byte for byte but
 * for Date, which changes once a second, and a head equal to the last one
 * decodes to the same values, so it is compared instead of decoded again.
 */
export function decodeResponseHead(
  buf: Bytes,
  limits: Readonly<HttpLimits> = DEFAULT_LIMITS,
  from = 0,
  to = buf.length,
  memo?: ResponseHeadMemo,
): Decoded<ResponseHead> {
  if (memo !== undefined) {
    const remembered = memo.match(buf, from, to);
    if (remembered !== null) return remembered;
  }
  const lineEnd = findLineEnd(buf, from, to, limits.requestLineBytes, "requestLineBytes");
  if (lineEnd === -1) return INCOMPLETE;
  const line = latin1(buf, from, lineEnd);
  const match = /^HTTP\/1\.([0-9]) ([1-5][0-9][0-9])(?: (.*))?$/.exec(line);
  if (!match) throw new DecodeError(`bad status line: ${JSON.stringify(line.slice(0, 80))}`);
  const fields = scanFields(buf, lineEnd + 2, to, from, limits, false);
  if (fields === null) return INCOMPLETE;
  const version = match[1] === "0" ? "1.0" : "1.1";
  const status = Number(match[2]);
  const reason = match[3] ?? "";
  const bytesUsed = lineEnd + 2 + fields.bytes - from;
  memo?.remember(buf, from, bytesUsed, version, status, reason, fields);
  return {
    value: {
      version,
      status,
      reason,
      headers: HttpHeaders.fromSpans(fields.text, fields.spans, 0),
    },
    bytesUsed,
  };
}

/**
 * The last response head of a connection, as bytes, with what was decoded
 * from it (see decodeResponseHead). Bounded: heads over
 * RESPONSE_MEMO_BYTES_MAX are not remembered. A caller may keep what it
 * derives from the remembered head in `framing` and `keepAlive`: they are
 * cleared whenever another head is remembered.
 */
export class ResponseHeadMemo {
  #bytes: Bytes | undefined;
  #length = 0;
  #version: "1.0" | "1.1" = "1.1";
  #status = 0;
  #reason = "";
  #fields: Fields | undefined;
  /** True when the last head decoded with this memo is the remembered one. */
  current = false;
  /** The caller's: the framing of the remembered head for a request other than HEAD. */
  framing: BodyFraming | undefined = undefined;
  /** The caller's: whether the remembered head lets the connection be reused. */
  keepAlive = false;

  /** The remembered head if `buf[at, to)` starts with it, else null. */
  match(buf: Bytes, at: number, to: number): Decoded<ResponseHead> | null {
    const fields = this.#fields;
    const length = this.#length;
    if (fields === undefined || to - at < length) return this.#miss();
    const bytes = this.#bytes!;
    for (let i = 0; i < length; i++) {
      if (buf[at + i] !== bytes[i]) return this.#miss();
    }
    this.current = true;
    return {
      value: {
        version: this.#version,
        status: this.#status,
        reason: this.#reason,
        headers: HttpHeaders.fromSpans(fields.text, fields.spans, 0),
      },
      bytesUsed: length,
    };
  }

  #miss(): null {
    this.current = false;
    return null;
  }

  remember(
    buf: Bytes,
    at: number,
    length: number,
    version: "1.0" | "1.1",
    status: number,
    reason: string,
    fields: Fields,
  ): void {
    this.framing = undefined;
    this.keepAlive = false;
    if (length > RESPONSE_MEMO_BYTES_MAX) {
      this.#fields = undefined;
      this.current = false;
      return;
    }
    const bytes = this.#bytes ??= new Uint8Array(RESPONSE_MEMO_BYTES_MAX);
    for (let i = 0; i < length; i++) bytes[i] = buf[at + i];
    this.#length = length;
    this.#version = version;
    this.#status = status;
    this.#reason = reason;
    this.#fields = fields;
    this.current = true;
  }
}

/** Longest response head a ResponseHeadMemo keeps. */
const RESPONSE_MEMO_BYTES_MAX = 2048;

/**
 * How a response body is framed (RFC 9112 section 6.3), given the request
 * method and the response head.
 */
export function responseFraming(requestMethod: string, head: ResponseHead): BodyFraming {
  if (requestMethod === "HEAD" || head.status < 200 || head.status === 204 || head.status === 304) {
    return FRAMING_NONE;
  }
  const framing = bodyFraming(head.headers, "1.1");
  if (framing.kind !== "none") return framing;
  // Content-Length: 0 is an empty body; only a response with no framing field is read to close.
  return head.headers.has("content-length") ? FRAMING_NONE : { kind: "close" };
}

/**
 * The index of the CR of the next CRLF in `buf[from, to)`, or -1 when there
 * is none yet; throws past `bytesMax` and on a bare LF.
 */
function findLineEnd(buf: Bytes, from: number, to: number, bytesMax: number, limit: string) {
  const lf = indexOfByte(buf, LF, from, to);
  if (lf === -1) {
    if (to - from > bytesMax + 1) throw tooLong(limit, bytesMax);
    return -1;
  }
  if (lf === from || buf[lf - 1] !== CR) throw new DecodeError("bare LF in head");
  if (lf - 1 - from > bytesMax) throw tooLong(limit, bytesMax);
  return lf - 1;
}

/** `buf.indexOf(byte, from)` limited to `buf[from, to)`. */
function indexOfByte(buf: Bytes, byte: number, from: number, to: number): number {
  const at = buf.indexOf(byte, from);
  return at === -1 || at >= to ? -1 : at;
}

function tooLong(limit: string, bytesMax: number): LimitError {
  const what = limit === "requestLineBytes" ? "request line" : "header section";
  return new LimitError(limit, `${what} longer than ${bytesMax} bytes`);
}

/** HTTP-version = "HTTP/" DIGIT "." DIGIT in `buf[v, end)`, compared byte by byte. */
function parseVersion(buf: Bytes, v: number, end: number): "1.0" | "1.1" {
  if (
    end - v !== 8 || buf[v] !== 0x48 || buf[v + 1] !== 0x54 || buf[v + 2] !== 0x54 ||
    buf[v + 3] !== 0x50 || buf[v + 4] !== 0x2f || !isDigit(buf[v + 5]) || buf[v + 6] !== 0x2e ||
    !isDigit(buf[v + 7])
  ) {
    throw new DecodeError("bad HTTP version");
  }
  if (buf[v + 5] !== 0x31) throw new HttpDecodeError(505, "only HTTP/1.x is supported");
  // HTTP/1.x with x > 1 is answered as 1.1 (RFC 9110 section 6.2).
  return buf[v + 7] === 0x30 ? "1.0" : "1.1";
}

const COMMON_METHODS = ["GET", "POST", "PUT", "HEAD", "DELETE", "PATCH", "OPTIONS"];

/** The method as a string; the common ones without allocating. */
function methodName(buf: Bytes, start: number, end: number): string {
  const length = end - start;
  for (const method of COMMON_METHODS) {
    if (method.length !== length) continue;
    let i = 0;
    while (i < length && buf[start + i] === method.charCodeAt(i)) i++;
    if (i === length) return method;
  }
  return latin1(buf, start, end);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * A validated field section and what the request fast path reads from it.
 * Immutable once made (a FieldsMemo shares it between requests).
 */
export interface Fields {
  /** Bytes of the section, the final empty line included. */
  readonly bytes: number;
  /** The field lines as a string. */
  readonly text: string;
  /** Per field, offsets into `text`: name start, name end, value start, value end. */
  readonly spans: readonly number[];
  /** HOST_OK, HOST_MISSING or HOST_BAD. */
  readonly host: number;
  /** CONNECTION_CLOSE and CONNECTION_KEEP_ALIVE bits of the Connection field. */
  readonly connection: number;
  /** The Content-Length value when it is plain digits, else 0 (none) or -1 (see `rare`). */
  readonly contentLength: number;
  /** Transfer-Encoding, Expect, a repeated framing field or a Content-Length list. */
  readonly rare: boolean;
}

const HOST_OK = 0;
const HOST_MISSING = 1;
const HOST_BAD = 2;

// Field names the request fast path recognises, lowercase, as bytes.
const HOST = asciiBytes("host");
const CONNECTION = asciiBytes("connection");
const CONTENT_LENGTH = asciiBytes("content-length");
const TRANSFER_ENCODING = asciiBytes("transfer-encoding");
const EXPECT = asciiBytes("expect");

/**
 * Validates the header field lines from `pos` to the empty line; null
 * while incomplete (having allocated nothing but offsets). With
 * `recognise`, also reads the framing fields of a request.
 */
function scanFields(
  buf: Bytes,
  pos: number,
  to: number,
  headStart: number,
  limits: Readonly<HttpLimits>,
  recognise: boolean,
): Fields | null {
  const start = pos;
  const spans: number[] = [];
  let host = HOST_MISSING;
  let connection = 0;
  let contentLength = 0;
  let rare = false;
  let seen = 0; // bits: 1 Host, 2 Connection, 4 Content-Length
  let high = 0; // every value byte ORed: under 0x80 means the section is ASCII
  while (true) {
    const budget = limits.headerBytes - (pos - headStart);
    if (budget < 0) throw tooLong("headerBytes", limits.headerBytes);
    const lineEnd = findLineEnd(buf, pos, to, budget, "headerBytes");
    if (lineEnd === -1) return null;
    if (lineEnd === pos) break;
    if (spans.length >= limits.headerCount * 4) {
      throw new LimitError("headerCount", `more than ${limits.headerCount} header fields`);
    }
    const first = buf[pos];
    if (first === SP || first === HTAB) throw new DecodeError("obsolete line folding");
    let colon = pos;
    while (colon < lineEnd && buf[colon] !== 0x3a) {
      const c = buf[colon];
      if (c >= 128 || TCHAR[c] === 0) throw new DecodeError("bad byte in header name");
      colon++;
    }
    if (colon === lineEnd || colon === pos) throw new DecodeError("header line without a name");
    let valueStart = colon + 1;
    let valueEnd = lineEnd;
    while (valueStart < valueEnd && (buf[valueStart] === SP || buf[valueStart] === HTAB)) {
      valueStart++;
    }
    while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) {
      valueEnd--;
    }
    for (let i = valueStart; i < valueEnd; i++) {
      const c = buf[i];
      // field-vchar / SP / HTAB / obs-text; NUL, CR, LF and other controls are out.
      if ((c < SP && c !== HTAB) || c === 0x7f) throw new DecodeError("bad byte in header value");
      high |= c;
    }
    if (recognise) {
      if (nameIs(buf, pos, colon, HOST)) {
        rare ||= (seen & 1) !== 0;
        seen |= 1;
        host = isHostBytes(buf, valueStart, valueEnd) ? HOST_OK : HOST_BAD;
      } else if (nameIs(buf, pos, colon, CONNECTION)) {
        rare ||= (seen & 2) !== 0;
        seen |= 2;
        connection = connectionTokens(buf, valueStart, valueEnd);
      } else if (nameIs(buf, pos, colon, CONTENT_LENGTH)) {
        rare ||= (seen & 4) !== 0;
        seen |= 4;
        contentLength = digitsValue(buf, valueStart, valueEnd);
        rare ||= contentLength === -1;
      } else if (nameIs(buf, pos, colon, TRANSFER_ENCODING) || nameIs(buf, pos, colon, EXPECT)) {
        rare = true;
      }
    }
    spans.push(pos - start, colon - start, valueStart - start, valueEnd - start);
    pos = lineEnd + 2;
  }
  return {
    bytes: pos + 2 - start,
    // Names are tchars and CRLFs are ASCII: the values decide.
    text: latin1(buf, start, pos, high < 0x80),
    spans,
    host,
    connection,
    contentLength,
    rare,
  };
}

function isHostBytes(buf: Bytes, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c >= 128 || HOST_CHAR[c] === 0) return false;
  }
  return true;
}

/** Whether the token `buf[start, end)` is `lower`, ignoring ASCII case. */
function nameIs(buf: Bytes, start: number, end: number, lower: Bytes): boolean {
  if (end - start !== lower.length) return false;
  // Names are validated tchars, so `| 0x20` only folds the letters A-Z.
  for (let i = 0; i < lower.length; i++) {
    if ((buf[start + i] | 0x20) !== lower[i]) return false;
  }
  return true;
}

const CONNECTION_CLOSE = 1;
const CONNECTION_KEEP_ALIVE = 2;
const CLOSE = asciiBytes("close");
const KEEP_ALIVE = asciiBytes("keep-alive");

/** The close and keep-alive options of a Connection value in `buf[start, end)`, as bits. */
function connectionTokens(buf: Bytes, start: number, end: number): number {
  let bits = 0;
  let i = start;
  while (i < end) {
    let comma = indexOfByte(buf, COMMA, i, end);
    if (comma === -1) comma = end;
    let a = i;
    let b = comma;
    while (a < b && (buf[a] === SP || buf[a] === HTAB)) a++;
    while (b > a && (buf[b - 1] === SP || buf[b - 1] === HTAB)) b--;
    if (caseFoldEquals(buf, a, b, CLOSE)) bits |= CONNECTION_CLOSE;
    else if (caseFoldEquals(buf, a, b, KEEP_ALIVE)) bits |= CONNECTION_KEEP_ALIVE;
    i = comma + 1;
  }
  return bits;
}

/** Like nameIs, for bytes that are not validated tchars. */
function caseFoldEquals(buf: Bytes, start: number, end: number, lower: Bytes): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const c = buf[start + i];
    const folded = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
    if (folded !== lower[i]) return false;
  }
  return true;
}

/** The value of 1 to 15 decimal digits in `buf[start, end)`, or -1. */
function digitsValue(buf: Bytes, start: number, end: number): number {
  if (end - start < 1 || end - start > 15) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c < 0x30 || c > 0x39) return -1;
    value = value * 10 + (c - 0x30);
  }
  return value;
}

function asciiBytes(text: string): Bytes {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/**
 * The meaning of a decoded request line and header fields (RFC 9112
 * sections 3 and 6, RFC 9110 section 7.2): the reference the fast path of
 * decodeRequestHead must agree with, and the path for rarer heads.
 */
export function interpretRequest(
  method: string,
  target: string,
  version: "1.0" | "1.1",
  headers: HttpHeaders,
): RequestHead {
  const hostCount = headers.count("host");
  if (version === "1.1" && hostCount === 0) throw new DecodeError("missing Host header");
  if (hostCount > 1) throw new DecodeError("more than one Host header");
  if (hostCount === 1 && !isHostValue(headers.get("host")!)) {
    throw new DecodeError("bad Host header");
  }
  let form: RequestHead["form"];
  let path: string;
  let query = "";
  if (target.charCodeAt(0) === 0x2f) {
    form = "origin";
    path = target;
  } else if (target === "*") {
    if (method !== "OPTIONS") throw new DecodeError("asterisk-form is only for OPTIONS");
    form = "asterisk";
    path = "*";
  } else if (/^https?:\/\//i.test(target)) {
    form = "absolute";
    const slash = target.indexOf("/", target.indexOf("//") + 2);
    const q = target.indexOf("?", target.indexOf("//") + 2);
    const cut = slash === -1 ? q : q === -1 ? slash : Math.min(slash, q);
    path = cut === -1 ? "/" : target.slice(cut);
    if (path.charCodeAt(0) === 0x3f) path = "/" + path;
  } else if (method === "CONNECT") {
    throw new HttpDecodeError(501, "CONNECT is not supported");
  } else {
    throw new DecodeError("bad request target");
  }
  const q = path.indexOf("?");
  if (q !== -1) {
    query = path.slice(q + 1);
    path = path.slice(0, q);
  }
  const framing = bodyFraming(headers, version);
  const connection = listTokens(headers.get("connection"));
  const keepAlive = version === "1.1"
    ? !connection.includes("close")
    : connection.includes("keep-alive") && !connection.includes("close");
  const expect = headers.get("expect");
  let expectContinue = false;
  if (expect !== undefined) {
    if (expect.toLowerCase() !== "100-continue") {
      throw new HttpDecodeError(417, "only Expect: 100-continue is supported");
    }
    // HTTP/1.0 clients do not know 100 (RFC 9110 section 10.1.1).
    expectContinue = version === "1.1";
  }
  return {
    method,
    target,
    path,
    query,
    form,
    version,
    headers,
    framing,
    keepAlive,
    expectContinue,
  };
}

// uri-host [ ":" port ] (RFC 3986 section 3.2.2): unreserved, sub-delims, "%", ":", "[", "]".
const HOST_CHAR = new Uint8Array(128);
for (
  const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_~!$&'()*+,;=%:[]"
) {
  HOST_CHAR[c.charCodeAt(0)] = 1;
}

function isHostValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 128 || HOST_CHAR[c] === 0) return false;
  }
  return true;
}

/** Framing from Transfer-Encoding and Content-Length (RFC 9112 section 6.3). */
function bodyFraming(headers: HttpHeaders, version: "1.0" | "1.1"): BodyFraming {
  const te = headers.get("transfer-encoding");
  const cl = headers.getAll("content-length");
  if (te !== undefined) {
    if (cl.length > 0) throw new DecodeError("both Content-Length and Transfer-Encoding");
    if (version === "1.0") throw new DecodeError("Transfer-Encoding in an HTTP/1.0 message");
    const codings = listTokens(te);
    if (codings.length === 0) throw new DecodeError("empty Transfer-Encoding");
    for (const coding of codings) {
      if (coding !== "chunked") {
        throw new HttpDecodeError(501, `transfer coding "${coding.slice(0, 40)}" not implemented`);
      }
    }
    if (codings.length > 1) throw new DecodeError("chunked applied more than once");
    return FRAMING_CHUNKED;
  }
  if (cl.length === 0) return FRAMING_NONE;
  let length: number | undefined;
  for (const field of cl) {
    for (const part of field.split(",")) {
      const text = part.trim();
      if (!/^[0-9]{1,15}$/.test(text)) throw new DecodeError("invalid Content-Length");
      const value = Number(text);
      if (length !== undefined && value !== length) {
        throw new DecodeError("conflicting Content-Length values");
      }
      length = value;
    }
  }
  return length === 0 ? FRAMING_NONE : { kind: "length", length: length! };
}

/**
 * Bytes to a string, one char per byte (ISO-8859-1, so every byte survives
 * a round trip). Measured in this Deno for a head's few dozen bytes: a
 * plain loop is cheapest up to about two dozen bytes; past that, bytes
 * known to be ASCII go through the UTF-8 TextDecoder (about 100 ns whatever
 * the length, its ASCII path makes the string directly), and others
 * through String.fromCharCode over a view. TextDecoder's "latin1" is really
 * windows-1252, so it is not used.
 */
export function latin1(buf: Bytes, start: number, end: number, ascii = false): string {
  const length = end - start;
  if (length <= LATIN1_SHORT) {
    let out = "";
    let i = start;
    for (; i + 4 <= end; i += 4) {
      out += String.fromCharCode(buf[i], buf[i + 1], buf[i + 2], buf[i + 3]);
    }
    for (; i < end; i++) out += String.fromCharCode(buf[i]);
    return out;
  }
  if (ascii) return asciiDecoder.decode(buf.subarray(start, end));
  if (length <= LATIN1_RUN) return fromCharCodes(buf.subarray(start, end));
  let out = "";
  for (let at = start; at < end; at += LATIN1_RUN) {
    out += fromCharCodes(buf.subarray(at, Math.min(end, at + LATIN1_RUN)));
  }
  return out;
}

/** Up to this many bytes a plain loop is cheaper than a view and a call. */
const LATIN1_SHORT = 24;
/** Longest run passed as arguments at once (well under V8's argument limit). */
const LATIN1_RUN = 4096;
const asciiDecoder = new TextDecoder();

function fromCharCodes(codes: Bytes): string {
  return String.fromCharCode.apply(null, codes as unknown as number[]);
}
