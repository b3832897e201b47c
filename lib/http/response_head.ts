// The head of a response the server writes: status line, the handler's
// fields (checked against response splitting), Date, and the framing and
// connection fields the server owns (RFC 9112 sections 4, 6 and 9.6).
//
// Pure but for the clock behind `httpDate`. `RepeatedResponse` remembers
// the bytes of a small fixed response sent twice in a row, so a handler
// that answers the same thing again (a health check, a static JSON
// document, the "hello" of a benchmark) costs one comparison instead of
// building and encoding a head.

import type { Bytes } from "../bytes.ts";
import type { HeadersInit } from "./headers.ts";
import { statusText } from "./status.ts";

export interface ResponseHeadText {
  /** Status line and fields, without Content-Length/Transfer-Encoding and the final CRLF. */
  text: string;
  /** The Content-Length the handler set, if any (kept for HEAD and streams). */
  userLength: string | undefined;
}

/**
 * The status line and header fields of a response. Transfer-Encoding and
 * Connection from the handler are dropped (the server frames the message),
 * Content-Length is handed back separately. Throws TypeError on a bad
 * status or field.
 */
export function responseHeadText(
  status: number,
  headers: HeadersInit | undefined,
  closeAfter: boolean,
  version: "1.0" | "1.1",
): ResponseHeadText {
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    throw new TypeError(`bad response status ${status}`);
  }
  let text = `HTTP/1.1 ${status} ${statusText(status)}\r\n`;
  let userLength: string | undefined;
  if (headers !== undefined) {
    const pairs = Symbol.iterator in headers
      ? headers as Iterable<readonly [string, string]>
      : Object.entries(headers);
    for (const [name, value] of pairs) {
      checkField(name, value);
      // Only names of these lengths can be a field the server owns: most skip the lowercasing.
      if (name.length === 14 || name.length === 17 || name.length === 10) {
        const lower = name.toLowerCase();
        if (lower === "content-length") {
          userLength = value;
          continue;
        }
        if (lower === "transfer-encoding" || lower === "connection") continue;
      }
      text += `${name}: ${value}\r\n`;
    }
  }
  text += `date: ${httpDate()}\r\n`;
  if (closeAfter) text += "connection: close\r\n";
  else if (version === "1.0") text += "connection: keep-alive\r\n";
  return { text, userLength };
}

/** Response fields must be tokens and carry no CR, LF or NUL (response splitting). */
export function checkField(name: string, value: string): void {
  let ok = name.length > 0;
  for (let i = 0; ok && i < name.length; i++) {
    const c = name.charCodeAt(i);
    ok = c < 128 && TCHAR[c] === 1;
  }
  for (let i = 0; ok && i < value.length; i++) {
    const c = value.charCodeAt(i);
    ok = c !== 0 && c !== 0x0a && c !== 0x0d;
  }
  if (!ok) throw new TypeError(`invalid response header field ${JSON.stringify(name)}`);
}

const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TCHAR[c.charCodeAt(0)] = 1;
}

let dateText = "";
let dateSecond = -1;

/** The Date field value (RFC 9110 section 6.6.1), formatted once per second. */
export function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

/** Bodies up to this many characters are worth remembering. */
export const REPEAT_BODY_CHARS_MAX = 2048;
/** Responses with more fields than this are not remembered. */
const REPEAT_FIELDS_MAX = 32;

/**
 * The last small response with plain-object headers and a string body: its
 * head text, and its bytes once the same response has been sent twice in a
 * row. `head` compares status, fields and flags (string literals from the
 * same handler are the same strings, so most comparisons are pointer
 * checks) and hands back the head text to reuse: a JSON API's responses
 * differ in their bodies but rarely in their heads. `bytes` then hands back
 * the whole response when the body is the same too. The Date field makes an
 * entry last at most a second. Bytes are copied only for a response seen
 * twice, so a stream of different bodies costs no allocation here. Safe to
 * share the bytes: queued bytes are never written to.
 */
export class RepeatedResponse {
  #status = 0;
  #names: string[] = [];
  #values: string[] = [];
  #fields = -1; // -1: nothing remembered
  #flags = 0;
  #date = "";
  #headText = "";
  #body = "";
  #bytes: Bytes | null = null;
  /** The last bytes() call found the same body but no bytes yet. */
  #bodySeenAgain = false;

  /**
   * The remembered head text (status line and fields, Date included, no
   * Content-Length) if status, fields and flags equal the last response's
   * within the same Date second; else undefined.
   */
  head(
    status: number,
    headers: Readonly<Record<string, string>> | undefined,
    flags: number,
  ): string | undefined {
    if (
      this.#fields === -1 || status !== this.#status || flags !== this.#flags ||
      this.#date !== httpDate()
    ) {
      return undefined;
    }
    const names = this.#names;
    const values = this.#values;
    let i = 0;
    for (const name in headers) {
      if (i === this.#fields || names[i] !== name || values[i] !== headers![name]) return undefined;
      i++;
    }
    return i === this.#fields ? this.#headText : undefined;
  }

  /** After `head` matched: the remembered bytes if `body` is the same too, else null. */
  bytes(body: string): Bytes | null {
    this.#bodySeenAgain = false;
    if (body !== this.#body) return null;
    if (this.#bytes === null) this.#bodySeenAgain = true;
    return this.#bytes;
  }

  /**
   * After `head` matched and `bytes` did not: records what was sent for
   * `body`, keeping a copy when the same body was sent just before.
   */
  sent(body: string, bytes: Bytes): void {
    if (this.#bodySeenAgain) {
      this.#bytes = bytes.slice();
      this.#bodySeenAgain = false;
      return;
    }
    this.#body = body;
    this.#bytes = null;
  }

  /** After `head` missed: remembers this response's parts and head text. */
  remember(
    status: number,
    headers: Readonly<Record<string, string>> | undefined,
    flags: number,
    headText: string,
    body: string,
  ): void {
    let count = 0;
    for (const name in headers) {
      if (count === REPEAT_FIELDS_MAX) {
        this.#fields = -1;
        return;
      }
      this.#names[count] = name;
      this.#values[count] = headers![name];
      count++;
    }
    this.#fields = count;
    this.#status = status;
    this.#flags = flags;
    this.#date = httpDate();
    this.#headText = headText;
    this.#body = body;
    this.#bytes = null;
    this.#bodySeenAgain = false;
  }
}
