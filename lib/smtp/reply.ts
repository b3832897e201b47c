// SMTP replies (RFC 5321 section 4.2) with RFC 3463 enhanced status codes
// (RFC 2034): the one formatter the server answers with, and the decoder
// the client reads with.
//
// A reply is a three-digit code and one or more lines of text; every line
// but the last has a hyphen after the code ("250-first", "250 last"). Once
// ENHANCEDSTATUSCODES is advertised, RFC 2034 section 3 puts the enhanced
// code ("2.1.0") at the start of every line's text; we do so on every reply,
// as smtp-server and Postfix do, except the greeting and EHLO's first line
// (RFC 2034 section 3 leaves those out: the client has not asked yet).
//
// Limits: a reply line is at most 512 octets with its CRLF (RFC 5321
// 4.5.3.1.5); a reply has at most `replyLinesMax` lines (100: an EHLO
// answer lists a dozen extensions). The decoder returns copies (strings).

import { CR, LF, utf8 } from "../bytes.ts";
import type { Bytes } from "../bytes.ts";
import { type Decoded, INCOMPLETE } from "../decode.ts";
import { DecodeError, LimitError } from "../errors.ts";

/** One SMTP reply. */
export interface Reply {
  /** 211..554 (RFC 5321 4.2.3). */
  readonly code: number;
  /** RFC 3463 "class.subject.detail", or undefined for none. */
  readonly enhanced?: string;
  /** The text, one entry per line, without code or enhanced code. */
  readonly lines: readonly string[];
}

export interface ReplyLimits {
  /** A reply line with its CRLF (RFC 5321 4.5.3.1.5: 512). */
  lineBytesMax: number;
  /** Lines in one reply. */
  linesMax: number;
}

export const DEFAULT_REPLY_LIMITS: ReplyLimits = Object.freeze({
  lineBytesMax: 512,
  linesMax: 100,
});

/** Shorthand for building a reply. */
export function reply(code: number, enhanced: string | undefined, ...lines: string[]): Reply {
  return { code, enhanced, lines: lines.length === 0 ? [""] : lines };
}

/** The reply as wire text, CRLF after every line; the enhanced code leads every line. */
export function formatReply(value: Reply): string {
  const prefix = value.enhanced === undefined ? "" : `${value.enhanced} `;
  const lines = value.lines.length === 0 ? [""] : value.lines;
  let out = "";
  for (let i = 0; i < lines.length; i++) {
    const separator = i === lines.length - 1 ? " " : "-";
    // Never let text carry a line end of its own into the reply.
    const text = lines[i].replace(/[\r\n]/g, " ");
    out += `${value.code}${separator}${prefix}${text}\r\n`;
  }
  return out;
}

/** The reply as wire bytes. */
export function encodeReply(value: Reply): Bytes {
  return utf8(formatReply(value));
}

const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3}) /;

/**
 * Reads one whole reply (every continuation line and the last) from
 * `buf[from, to)`. Accepts a bare LF as a line end, as clients must be
 * liberal with servers. The enhanced code is taken from the first line when
 * it starts with one whose class matches the reply's first digit.
 */
export function decodeReply(
  buf: Bytes,
  limits: ReplyLimits,
  from = 0,
  to = buf.length,
): Decoded<Reply> {
  const lines: string[] = [];
  let code = 0;
  let at = from;
  while (true) {
    let end = -1;
    const stop = Math.min(to, at + limits.lineBytesMax);
    for (let i = at; i < stop; i++) {
      if (buf[i] === LF) {
        end = i;
        break;
      }
    }
    if (end < 0) {
      if (to - at >= limits.lineBytesMax) {
        throw new LimitError("lineBytesMax", `reply line longer than ${limits.lineBytesMax}`);
      }
      return INCOMPLETE;
    }
    const textEnd = end > at && buf[end - 1] === CR ? end - 1 : end;
    const line = new TextDecoder().decode(buf.subarray(at, textEnd));
    if (!/^[2-5][0-9][0-9]([ -]|$)/.test(line)) {
      throw new DecodeError(`not an SMTP reply line: ${JSON.stringify(line.slice(0, 40))}`);
    }
    const lineCode = Number(line.slice(0, 3));
    if (lines.length > 0 && lineCode !== code) {
      throw new DecodeError(`reply code changed from ${code} to ${lineCode} inside one reply`);
    }
    code = lineCode;
    lines.push(line.slice(4));
    at = end + 1;
    if (line[3] !== "-") break;
    if (lines.length >= limits.linesMax) {
      throw new LimitError("linesMax", `reply longer than ${limits.linesMax} lines`);
    }
  }
  const match = ENHANCED.exec(lines[0]);
  let enhanced: string | undefined;
  let text = lines;
  if (match !== null && match[1] === String(code)[0]) {
    enhanced = `${match[1]}.${match[2]}.${match[3]}`;
    const prefix = `${enhanced} `;
    text = lines.map((l) => l.startsWith(prefix) ? l.slice(prefix.length) : l);
  }
  return { value: { code, enhanced, lines: text }, bytesUsed: at - from };
}
