// The message head of HTTP/1.1: request line or status line, then header
// fields, then an empty line (RFC 9112 sections 2-5), and what the head says
// about framing the body (RFC 9112 section 6).
//
// Pure: bytes in, typed values out, no I/O. The decoders follow the one
// contract of STYLE.md: given the bytes received so far they return the head
// and how many bytes it used, or null when the head is not complete yet, or
// throw (DecodeError -> 400, HttpDecodeError -> its status, LimitError ->
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

/** A decoded value and how many input bytes it used. */
export interface Decoded<T> {
  value: T;
  bytesUsed: number;
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
/** Empty lines tolerated before a request line (RFC 9112 section 2.2). */
const MAX_LEADING_EMPTY_LINES = 4;

// tchar (RFC 9110 section 5.6.2) as a lookup table.
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TCHAR[c.charCodeAt(0)] = 1;
}

/** Decodes a request head; null while incomplete. Input bytes are not kept. */
export function decodeRequestHead(
  buf: Bytes,
  limits: Readonly<HttpLimits> = DEFAULT_LIMITS,
): Decoded<RequestHead> | null {
  let pos = 0;
  // Skip a few empty lines left over from a previous message.
  for (let i = 0; i < MAX_LEADING_EMPTY_LINES && pos < buf.length; i++) {
    if (buf[pos] === CR) {
      if (pos + 1 >= buf.length) return null;
      if (buf[pos + 1] !== LF) throw new DecodeError("CR without LF");
      pos += 2;
    } else if (buf[pos] === LF) {
      throw new DecodeError("bare LF");
    } else break;
  }
  const headStart = pos;
  const lineEnd = findLineEnd(buf, pos, limits.requestLineBytes, "requestLineBytes");
  if (lineEnd === -1) return null;
  const { method, target, version } = parseRequestLine(buf, pos, lineEnd);
  pos = lineEnd + 2;
  const fields = parseFields(buf, pos, headStart, limits);
  if (fields === null) return null;
  const head = interpretRequest(method, target, version, fields.headers);
  return { value: head, bytesUsed: fields.end };
}

/** Decodes a response head; null while incomplete. */
export function decodeResponseHead(
  buf: Bytes,
  limits: Readonly<HttpLimits> = DEFAULT_LIMITS,
): Decoded<ResponseHead> | null {
  const lineEnd = findLineEnd(buf, 0, limits.requestLineBytes, "requestLineBytes");
  if (lineEnd === -1) return null;
  const line = latin1(buf, 0, lineEnd);
  const match = /^HTTP\/1\.([0-9]) ([1-5][0-9][0-9])(?: (.*))?$/.exec(line);
  if (!match) throw new DecodeError(`bad status line: ${JSON.stringify(line.slice(0, 80))}`);
  const fields = parseFields(buf, lineEnd + 2, 0, limits);
  if (fields === null) return null;
  return {
    value: {
      version: match[1] === "0" ? "1.0" : "1.1",
      status: Number(match[2]),
      reason: match[3] ?? "",
      headers: fields.headers,
    },
    bytesUsed: fields.end,
  };
}

/**
 * How a response body is framed (RFC 9112 section 6.3), given the request
 * method and the response head.
 */
export function responseFraming(requestMethod: string, head: ResponseHead): BodyFraming {
  if (requestMethod === "HEAD" || head.status < 200 || head.status === 204 || head.status === 304) {
    return { kind: "none" };
  }
  const framing = bodyFraming(head.headers, "1.1");
  return framing.kind === "none" ? { kind: "close" } : framing;
}

/**
 * The index of the CR of the next CRLF at or after `from`, or -1 when there
 * is none yet; throws past `maxBytes` and on a bare LF.
 */
function findLineEnd(buf: Bytes, from: number, maxBytes: number, limit: string): number {
  const lf = buf.indexOf(LF, from);
  if (lf === -1) {
    if (buf.length - from > maxBytes + 1) throw tooLong(limit, maxBytes);
    return -1;
  }
  if (lf === from || buf[lf - 1] !== CR) throw new DecodeError("bare LF in head");
  if (lf - 1 - from > maxBytes) throw tooLong(limit, maxBytes);
  return lf - 1;
}

function tooLong(limit: string, maxBytes: number): LimitError {
  const what = limit === "requestLineBytes" ? "request line" : "header section";
  return new LimitError(limit, `${what} longer than ${maxBytes} bytes`);
}

function parseRequestLine(buf: Bytes, start: number, end: number) {
  // method SP request-target SP HTTP-version, exactly one SP each (section 3).
  const sp1 = buf.indexOf(SP, start);
  if (sp1 === -1 || sp1 >= end || sp1 === start) throw new DecodeError("bad request line");
  const sp2 = buf.indexOf(SP, sp1 + 1);
  if (sp2 === -1 || sp2 >= end || sp2 === sp1 + 1) throw new DecodeError("bad request line");
  for (let i = start; i < sp1; i++) {
    const c = buf[i];
    if (c >= 128 || TCHAR[c] === 0) throw new DecodeError("bad method");
  }
  for (let i = sp1 + 1; i < sp2; i++) {
    const c = buf[i];
    if (c <= SP || c >= 0x7f) throw new DecodeError("bad byte in request target");
  }
  // HTTP-version = "HTTP/" DIGIT "." DIGIT, compared byte by byte (hot path).
  const v = sp2 + 1;
  if (
    end - v !== 8 || buf[v] !== 0x48 || buf[v + 1] !== 0x54 || buf[v + 2] !== 0x54 ||
    buf[v + 3] !== 0x50 || buf[v + 4] !== 0x2f || !isDigit(buf[v + 5]) || buf[v + 6] !== 0x2e ||
    !isDigit(buf[v + 7])
  ) {
    throw new DecodeError("bad HTTP version");
  }
  if (buf[v + 5] !== 0x31) throw new HttpDecodeError(505, "only HTTP/1.x is supported");
  return {
    method: latin1(buf, start, sp1),
    target: latin1(buf, sp1 + 1, sp2),
    // HTTP/1.x with x > 1 is answered as 1.1 (RFC 9110 section 6.2).
    version: buf[v + 7] === 0x30 ? "1.0" as const : "1.1" as const,
  };
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * Parses header field lines from `pos` to the empty line; null while
 * incomplete. The first pass only validates bytes and records offsets; the
 * strings are cut from one decode of the whole section once it is complete,
 * so an incomplete head allocates nothing and a complete one decodes once.
 */
function parseFields(
  buf: Bytes,
  pos: number,
  headStart: number,
  limits: Readonly<HttpLimits>,
): { headers: HttpHeaders; end: number } | null {
  const fieldsStart = pos;
  const spans: number[] = []; // name start, name end, value start, value end
  while (true) {
    const budget = limits.headerBytes - (pos - headStart);
    if (budget < 0) throw tooLong("headerBytes", limits.headerBytes);
    const lineEnd = findLineEnd(buf, pos, budget, "headerBytes");
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
    }
    spans.push(pos, colon, valueStart, valueEnd);
    pos = lineEnd + 2;
  }
  const headers = new HttpHeaders();
  const text = latin1(buf, fieldsStart, pos);
  for (let i = 0; i < spans.length; i += 4) {
    headers.append(
      text.slice(spans[i] - fieldsStart, spans[i + 1] - fieldsStart),
      text.slice(spans[i + 2] - fieldsStart, spans[i + 3] - fieldsStart),
    );
  }
  return { headers, end: pos + 2 };
}

function interpretRequest(
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
    return { kind: "chunked" };
  }
  if (cl.length === 0) return { kind: "none" };
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
  return length === 0 ? { kind: "none" } : { kind: "length", length: length! };
}

/**
 * Bytes to a string, one char per byte (latin1). Short runs are built in
 * plain JavaScript (cheaper than a runtime call); longer ones go through
 * one TextDecoder call.
 */
export function latin1(buf: Bytes, start: number, end: number): string {
  if (end - start < 32) {
    let out = "";
    for (let i = start; i < end; i++) out += String.fromCharCode(buf[i]);
    return out;
  }
  return latin1Decoder.decode(buf.subarray(start, end));
}

const latin1Decoder = new TextDecoder("latin1");
