// SMTP command lines (RFC 5321 section 4.1): framing under the one decoder
// contract (lib/decode.ts) and parsing into typed commands.
//
// Framing. A command is one line ending in CRLF. RFC 5321 4.5.3.1.4 bounds
// it at 512 octets with the CRLF, and lets extensions raise that: SIZE,
// 8BITMIME, DSN and SMTPUTF8 add parameters to MAIL and RCPT, and AUTH
// (RFC 4954 section 4) carries a base64 initial response on the line. We
// take `lineBytesMax` = 4096: room for every parameter we advertise and
// credentials of a few kilobytes, far below what would let a client make us
// buffer much. Postfix's line_length_limit is 2048; Exim's is 16 KiB.
//
// Line ends. Only CRLF ends a line (RFC 5321 2.3.8). A bare LF or bare CR
// is a DecodeError: the server answers 500 5.5.2 and closes, as Postfix does
// with smtpd_forbid_bare_newline (a client that sends them is either broken
// or probing for SMTP smuggling). A NUL byte is a DecodeError too.
//
// The decoder returns copies (strings), never views. Characters above 0x7F
// are kept as UTF-8 (SMTPUTF8, RFC 6531); invalid UTF-8 becomes U+FFFD,
// which the address parser then refuses.
//
// Left out: source routes in paths are accepted and dropped (RFC 5321
// appendix C says to ignore them); quoted local parts are kept as written.

import { CR, LF } from "../bytes.ts";
import type { Bytes } from "../bytes.ts";
import { type Decoded, INCOMPLETE } from "../decode.ts";
import { DecodeError, LimitError } from "../errors.ts";

/** Bounds on what a client may send in the command phase. */
export interface CommandLimits {
  /** A command line with its CRLF, in octets (see the file comment). */
  lineBytesMax: number;
}

export const DEFAULT_COMMAND_LIMITS: CommandLimits = Object.freeze({ lineBytesMax: 4096 });

/** One command line: the verb upper-cased, the rest as written. */
export interface CommandLine {
  readonly verb: string;
  /** Everything after the verb and one space, without the CRLF. */
  readonly args: string;
  /** The whole line as sent, without the CRLF (AUTH responses are case-sensitive). */
  readonly text: string;
}

const NUL = 0x00;
const utf8Decoder = new TextDecoder();

/**
 * Reads one command line from `buf[from, to)`. Throws LimitError when no
 * CRLF comes within `lineBytesMax`, DecodeError on a bare CR, bare LF or NUL.
 */
export function decodeCommandLine(
  buf: Bytes,
  limits: CommandLimits,
  from = 0,
  to = buf.length,
): Decoded<CommandLine> {
  // The CR of a line at the limit sits at from + lineBytesMax - 2.
  const end = Math.min(to, from + limits.lineBytesMax - 1);
  for (let i = from; i < end; i++) {
    const byte = buf[i];
    if (byte === LF) throw new DecodeError("bare LF in a command line (RFC 5321 2.3.8)");
    if (byte === NUL) throw new DecodeError("NUL in a command line");
    if (byte !== CR) continue;
    if (i + 1 >= to) return INCOMPLETE;
    if (buf[i + 1] !== LF) throw new DecodeError("bare CR in a command line (RFC 5321 2.3.8)");
    const text = utf8Decoder.decode(buf.subarray(from, i));
    const space = text.indexOf(" ");
    const verb = (space < 0 ? text : text.slice(0, space)).toUpperCase();
    const args = space < 0 ? "" : text.slice(space + 1);
    return { value: { verb, args, text }, bytesUsed: i + 2 - from };
  }
  if (to - from >= limits.lineBytesMax) {
    throw new LimitError("lineBytesMax", `command line longer than ${limits.lineBytesMax} octets`);
  }
  return INCOMPLETE;
}

/** MAIL FROM and RCPT TO parameters (RFC 5321 4.1.2 esmtp-param), keyword upper-cased. */
export type Params = ReadonlyMap<string, string | true>;

/** A parsed command, or why it could not be parsed. */
export type Command =
  | { kind: "EHLO" | "HELO"; domain: string }
  | { kind: "MAIL"; from: string; params: Params }
  | { kind: "RCPT"; to: string; params: Params }
  | { kind: "DATA" | "RSET" | "QUIT" | "STARTTLS" }
  | { kind: "NOOP" | "HELP" | "VRFY" | "EXPN"; arg: string }
  | { kind: "BDAT"; sizeBytes: number; last: boolean }
  | { kind: "AUTH"; mechanism: string; initial: string | undefined }
  | { kind: "unknown"; verb: string }
  | { kind: "syntax"; verb: string; message: string };

/** Longest BDAT chunk size we parse: 2^53 is where numbers stop being exact. */
const BDAT_DIGITS_MAX = 15;

/** Turns a command line into a typed command (never throws). */
export function parseCommand(line: Pick<CommandLine, "verb" | "args">): Command {
  const { verb, args } = line;
  switch (verb) {
    case "EHLO":
    case "HELO": {
      const domain = args.trim();
      if (domain === "" || /\s/.test(domain)) {
        return { kind: "syntax", verb, message: `${verb} needs one domain or address literal` };
      }
      return { kind: verb, domain };
    }
    case "MAIL":
      return parsePathCommand(verb, args, "FROM:");
    case "RCPT":
      return parsePathCommand(verb, args, "TO:");
    case "DATA":
    case "RSET":
    case "QUIT":
    case "STARTTLS":
      if (args.trim() !== "") {
        return { kind: "syntax", verb, message: `${verb} takes no arguments` };
      }
      return { kind: verb };
    case "NOOP":
    case "HELP":
    case "VRFY":
    case "EXPN":
      return { kind: verb, arg: args.trim() };
    case "BDAT": {
      const parts = args.trim().split(/ +/);
      const size = parts[0] ?? "";
      const last = parts.length === 2 && parts[1].toUpperCase() === "LAST";
      if (!/^[0-9]+$/.test(size) || size.length > BDAT_DIGITS_MAX || parts.length > 2) {
        return { kind: "syntax", verb, message: "BDAT needs a size and optionally LAST" };
      }
      if (parts.length === 2 && !last) {
        return { kind: "syntax", verb, message: "BDAT's second argument can only be LAST" };
      }
      return { kind: "BDAT", sizeBytes: Number(size), last };
    }
    case "AUTH": {
      const parts = args.trim().split(/ +/);
      if (parts[0] === "" || parts.length > 2) {
        return { kind: "syntax", verb, message: "AUTH needs a mechanism" };
      }
      return { kind: "AUTH", mechanism: parts[0].toUpperCase(), initial: parts[1] };
    }
    default:
      return { kind: "unknown", verb };
  }
}

function parsePathCommand(verb: "MAIL" | "RCPT", args: string, prefix: string): Command {
  if (args.slice(0, prefix.length).toUpperCase() !== prefix) {
    return { kind: "syntax", verb, message: `expected ${verb} ${prefix}<address>` };
  }
  // Some clients write "MAIL FROM: <a@b>"; Postfix and Exim accept the space.
  const rest = args.slice(prefix.length).trimStart();
  if (!rest.startsWith("<")) {
    return { kind: "syntax", verb, message: "the address must be in angle brackets" };
  }
  const close = rest.indexOf(">");
  if (close < 0) return { kind: "syntax", verb, message: "missing '>' after the address" };
  let address = rest.slice(1, close);
  // A source route "<@a,@b:user@c>" (RFC 5321 appendix C): keep the mailbox.
  if (address.startsWith("@")) {
    const colon = address.indexOf(":");
    if (colon < 0) return { kind: "syntax", verb, message: "bad source route" };
    address = address.slice(colon + 1);
  }
  if (address !== "" && !isMailbox(address)) {
    return { kind: "syntax", verb, message: `not a mailbox: <${address}>` };
  }
  if (verb === "RCPT" && address === "") {
    return { kind: "syntax", verb, message: "the null path <> is only for MAIL FROM" };
  }
  const params = parseParams(rest.slice(close + 1));
  if (params === undefined) return { kind: "syntax", verb, message: "bad parameters" };
  return verb === "MAIL" ? { kind: "MAIL", from: address, params } : {
    kind: "RCPT",
    to: address,
    params,
  };
}

function parseParams(text: string): Map<string, string | true> | undefined {
  const params = new Map<string, string | true>();
  const trimmed = text.trim();
  if (trimmed === "") return params;
  if (text[0] !== " ") return undefined;
  for (const part of trimmed.split(/ +/)) {
    const eq = part.indexOf("=");
    const key = (eq < 0 ? part : part.slice(0, eq)).toUpperCase();
    if (!/^[A-Z0-9][A-Z0-9-]*$/.test(key)) return undefined;
    params.set(key, eq < 0 ? true : part.slice(eq + 1));
  }
  return params;
}

/**
 * A plausible mailbox "local@domain" (RFC 5321 4.1.2, with RFC 6531's UTF-8):
 * no controls, spaces outside quotes, or U+FFFD; local part at most 64
 * octets and domain at most 255 (RFC 5321 4.5.3.1.1 and 4.5.3.1.2).
 */
export function isMailbox(address: string): boolean {
  const at = address.lastIndexOf("@");
  if (at <= 0 || at === address.length - 1) return false;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (new TextEncoder().encode(local).length > 64) return false;
  if (new TextEncoder().encode(domain).length > 255) return false;
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f\ufffd<>]/.test(address)) return false;
  if (!local.startsWith('"') && /[\s(),:;\\[\]]/.test(local)) return false;
  if (domain.startsWith("[")) return domain.endsWith("]");
  return /^[^\s.@]+(\.[^\s.@]+)*$/.test(domain);
}

/** The domain of a mailbox, lower-cased. */
export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1).toLowerCase();
}
