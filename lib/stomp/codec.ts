// The STOMP frame codec: bytes to frames and back, no I/O.
//
// Implements framing of STOMP 1.0, 1.1 and 1.2 (stomp.github.io,
// "STOMP Protocol Specification, Version 1.2", sections "STOMP Frames",
// "Value Encoding", "Header Escaping", "Size Limits" and "Heart-beating"):
//
//   frame = command EOL *( header EOL ) EOL *OCTET NUL *( EOL )
//   EOL   = [CR] LF
//
// `decodeFrame` follows the one decoder contract (lib/decode.ts). An EOL
// where a frame would start is a heart-beat: it decodes as `null` with the
// one or two bytes it used, so a reader sees every heart-beat and nothing
// accumulates in its buffer. A body is read up to `content-length` bytes
// when that header is present (so it may hold NUL octets), else up to the
// first NUL; with a length known, an incomplete frame says exactly how many
// bytes it still needs. Header values are unescaped as the frame's version
// says (1.2: \r \n \c \\; 1.1: \n \c \\; 1.0: none), except in CONNECT,
// STOMP and CONNECTED frames, which the spec leaves unescaped; an undefined
// escape is a DecodeError, as 1.2 asks ("MUST treat ... as a fatal protocol
// error"). A CR before a LF is part of the EOL in every version (1.0 and 1.1
// brokers accept it too). Every header line, the header count and the frame
// size are checked against StompLimits before anything is copied. Decoded
// headers are strings and bodies are copies: nothing refers to the input.
//
// Left out: header names and values are decoded as UTF-8 leniently
// (an invalid sequence becomes U+FFFD) rather than rejected.

import { type Bytes, utf8 } from "../bytes.ts";
import { type Decoded, INCOMPLETE, needMore } from "../decode.ts";
import { DecodeError, LimitError } from "../errors.ts";
import {
  DEFAULT_LIMITS,
  type Frame,
  type Header,
  type StompLimits,
  type StompVersion,
} from "./types.ts";

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;
const COLON = 0x3a;
const BACKSLASH = 0x5c;

const utf8Decoder = new TextDecoder();

/** Frames whose headers are never escaped (1.2 "Value Encoding"). */
function escapesHeaders(command: string, version: StompVersion): boolean {
  return version !== "1.0" && command !== "CONNECT" && command !== "STOMP" &&
    command !== "CONNECTED";
}

/**
 * Decodes one frame (or one heart-beat EOL, as `null`) from `buf[from, to)`.
 * `version` picks the header escaping (the one negotiated; "1.2" before).
 */
export function decodeFrame(
  buf: Uint8Array,
  limits: StompLimits = DEFAULT_LIMITS,
  from = 0,
  to: number = buf.length,
  version: StompVersion = "1.2",
): Decoded<Frame | null> {
  if (from >= to) return INCOMPLETE;
  // Heart-beats: a bare EOL between frames.
  if (buf[from] === LF) return { value: null, bytesUsed: 1 };
  if (buf[from] === CR) {
    if (from + 1 >= to) return INCOMPLETE;
    if (buf[from + 1] === LF) return { value: null, bytesUsed: 2 };
    throw new DecodeError("a CR not followed by LF where a frame should start");
  }

  const commandEnd = lineEnd(buf, from, to, limits);
  if (commandEnd < 0) return INCOMPLETE;
  const command = decodeCommand(buf, from, commandEnd);
  let pos = commandEnd + 1;
  const escaped = escapesHeaders(command, version);

  const headers: Header[] = [];
  let contentLength = -1;
  while (true) {
    if (pos - from > limits.frameBytesMax) {
      throw new LimitError("frameBytesMax", `frame longer than ${limits.frameBytesMax} bytes`);
    }
    const end = lineEnd(buf, pos, to, limits);
    if (end < 0) return INCOMPLETE;
    const contentEnd = end > pos && buf[end - 1] === CR ? end - 1 : end;
    if (contentEnd === pos) {
      pos = end + 1;
      break;
    }
    if (headers.length >= limits.headersMax) {
      throw new LimitError("headersMax", `more than ${limits.headersMax} headers`);
    }
    const header = decodeHeader(buf, pos, contentEnd, escaped, version);
    if (
      contentLength < 0 && header[0] === "content-length" && !hasHeader(headers, "content-length")
    ) {
      contentLength = parseContentLength(header[1]);
    }
    headers.push(header);
    pos = end + 1;
  }

  let bodyEnd: number;
  if (contentLength >= 0) {
    bodyEnd = pos + contentLength;
    if (bodyEnd + 1 - from > limits.frameBytesMax) {
      throw new LimitError(
        "frameBytesMax",
        `content-length ${contentLength} makes the frame longer than ${limits.frameBytesMax} bytes`,
      );
    }
    if (bodyEnd >= to) return needMore(bodyEnd + 1 - to);
    if (buf[bodyEnd] !== NUL) throw new DecodeError("the body is not followed by a NUL octet");
  } else {
    bodyEnd = buf.indexOf(NUL, pos);
    if (bodyEnd < 0 || bodyEnd >= to) {
      if (to - from >= limits.frameBytesMax) {
        throw new LimitError("frameBytesMax", `frame longer than ${limits.frameBytesMax} bytes`);
      }
      return INCOMPLETE;
    }
    if (bodyEnd + 1 - from > limits.frameBytesMax) {
      throw new LimitError("frameBytesMax", `frame longer than ${limits.frameBytesMax} bytes`);
    }
  }
  const body = buf.slice(pos, bodyEnd) as Bytes;
  return { value: { command, headers, body }, bytesUsed: bodyEnd + 1 - from };
}

/** Index of the LF ending the line at `start`, or -1; a line past the bound throws. */
function lineEnd(buf: Uint8Array, start: number, to: number, limits: StompLimits): number {
  const stop = Math.min(to, start + limits.headerBytesMax + 2);
  const found = buf.subarray(start, stop).indexOf(LF);
  if (found >= 0) return start + found;
  if (to - start > limits.headerBytesMax + 1) {
    throw new LimitError(
      "headerBytesMax",
      `a header line longer than ${limits.headerBytesMax} bytes`,
    );
  }
  return -1;
}

function decodeCommand(buf: Uint8Array, start: number, end: number): string {
  if (end > start && buf[end - 1] === CR) end--;
  if (end === start) throw new DecodeError("empty command line");
  let command = "";
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c < 0x41 || c > 0x5a) throw new DecodeError("the command line is not an upper-case word");
    command += String.fromCharCode(c);
  }
  return command;
}

function decodeHeader(
  buf: Uint8Array,
  start: number,
  end: number,
  escaped: boolean,
  version: StompVersion,
): Header {
  const colon = buf.indexOf(COLON, start);
  if (colon < 0 || colon >= end) throw new DecodeError("a header line without a colon");
  const name = decodeText(buf, start, colon, escaped, version);
  const value = decodeText(buf, colon + 1, end, escaped, version);
  return [name, value];
}

function decodeText(
  buf: Uint8Array,
  start: number,
  end: number,
  escaped: boolean,
  version: StompVersion,
): string {
  const bytes = buf.subarray(start, end);
  const text = utf8Decoder.decode(bytes);
  // Search the field only: buf.indexOf(BACKSLASH, start) ran to the end of
  // the read buffer (bodies and every later frame in it) for each header.
  if (!escaped || bytes.indexOf(BACKSLASH) < 0) return text;
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== "\\") {
      out += c;
      continue;
    }
    const next = text[++i];
    if (next === "n") out += "\n";
    else if (next === "c") out += ":";
    else if (next === "\\") out += "\\";
    else if (next === "r" && version === "1.2") out += "\r";
    else throw new DecodeError(`undefined escape sequence \\${next ?? ""} in a header`);
  }
  return out;
}

function hasHeader(headers: readonly Header[], name: string): boolean {
  for (const [key] of headers) if (key === name) return true;
  return false;
}

function parseContentLength(text: string): number {
  if (!/^[0-9]{1,15}$/.test(text.trim())) {
    throw new DecodeError(`content-length is not a number of octets: ${text}`);
  }
  return Number(text.trim());
}

function escapeText(text: string, version: StompVersion): string {
  if (!/[\\\r\n:]/.test(text)) return text;
  let out = "";
  for (const c of text) {
    if (c === "\\") out += "\\\\";
    else if (c === "\n") out += "\\n";
    else if (c === ":") out += "\\c";
    else if (c === "\r" && version === "1.2") out += "\\r";
    else out += c;
  }
  return out;
}

/**
 * Encodes a frame for a peer speaking `version`: headers escaped as that
 * version says, written in order as given (add `content-length` when the
 * body may hold NUL), then the body and the NUL. A header that cannot be
 * written in that version (a newline in a 1.0 or CONNECT header) is a
 * TypeError: the caller built a frame the protocol cannot carry.
 */
export function encodeFrame(frame: Frame, version: StompVersion = "1.2"): Bytes {
  const escaped = escapesHeaders(frame.command, version);
  let head = frame.command + "\n";
  for (const [name, value] of frame.headers) {
    if (escaped) {
      head += escapeText(name, version) + ":" + escapeText(value, version) + "\n";
    } else {
      if (/[\r\n]/.test(name) || /[\r\n]/.test(value) || name.includes(":")) {
        throw new TypeError(`header ${JSON.stringify(name)} cannot be carried unescaped`);
      }
      head += name + ":" + value + "\n";
    }
  }
  head += "\n";
  const headBytes = utf8(head);
  const out = new Uint8Array(headBytes.length + frame.body.length + 1);
  out.set(headBytes);
  out.set(frame.body, headBytes.length);
  out[out.length - 1] = NUL;
  return out;
}

/** One heart-beat: a bare EOL. */
export const HEART_BEAT: Bytes = new Uint8Array([LF]);

/**
 * Parses a `heart-beat` header "cx,cy" (1.1 "Heart-beating"); absent means
 * "0,0". A malformed value is a DecodeError.
 */
export function parseHeartBeat(value: string | undefined): [number, number] {
  if (value === undefined || value === "") return [0, 0];
  const match = /^\s*([0-9]{1,9})\s*,\s*([0-9]{1,9})\s*$/.exec(value);
  if (match === null) throw new DecodeError(`heart-beat is not "cx,cy": ${value}`);
  return [Number(match[1]), Number(match[2])];
}

/**
 * How often one side must hear from the other, given what the sender can
 * send and what the receiver wants (1.1 "Heart-beating"): 0 when either
 * side says 0, else the larger of the two.
 */
export function heartBeatIntervalMs(canSendMs: number, wantsMs: number): number {
  return canSendMs === 0 || wantsMs === 0 ? 0 : Math.max(canSendMs, wantsMs);
}
