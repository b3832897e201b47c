// One SMTP session as pure logic (STYLE.md habit 6): the server feeds it
// events (a command line, the end of a message body, a store finished) and
// carries out the effects it returns (read a body, store a message, start
// TLS, close). No sockets, no clock, no disk: transcripts run as unit tests.
//
// What it implements: RFC 5321 (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP,
// VRFY answered 252, HELP, QUIT, the command sequence of 4.1.4 with 503 for
// commands out of order), with the ESMTP extensions PIPELINING (RFC 2920),
// SIZE (RFC 1870, checked at MAIL and while the data arrives), 8BITMIME
// (RFC 6152), ENHANCEDSTATUSCODES (RFC 2034 and 3463, on every reply after
// the greeting), SMTPUTF8 (RFC 6531), CHUNKING/BDAT (RFC 3030), DSN (RFC
// 3461: the parameters are checked and kept with the envelope; dsn.ts says
// which reports they ask for), STARTTLS (RFC 3207, when the server has a
// certificate: the session forgets everything after the handshake) and AUTH
// PLAIN and LOGIN (RFC 4954, 4616) on the submission port, over TLS only
// unless allowed.
//
// Routing (no open relay): a recipient in a local domain is delivered to
// its mailbox (550 5.1.1 when mailboxes are listed and it is not one of
// them); any other domain only from an authenticated session or a trusted
// network, into the outbound queue; else 554 5.7.1.
//
// Bounds: recipients per message (RFC 5321 4.5.3.1.8 asks for at least 100:
// we take 100), message size, and errors per session (past `errorsMax` the
// client gets 421 4.7.0 and is disconnected, as Postfix's
// smtpd_hard_error_limit does).

import { domainOf } from "../../lib/smtp/command.ts";
import { type CommandLine, type Params, parseCommand } from "../../lib/smtp/command.ts";
import { type Reply, reply } from "../../lib/smtp/reply.ts";
import { dsnParamError } from "./dsn.ts";

export interface SessionConfig {
  /** Our host name, in the greeting, EHLO and Received headers. */
  hostname: string;
  /** Domains whose mail is delivered here, lower-cased. */
  localDomains: ReadonlySet<string>;
  /** Known mailboxes, lower-cased; empty: every address of a local domain is accepted. */
  mailboxes: ReadonlySet<string>;
  /** Largest message accepted, in octets (advertised as SIZE). */
  sizeBytesMax: number;
  recipientsMax: number;
  /** Errors (4xx/5xx replies to commands) before the session is closed with 421. */
  errorsMax: number;
  /** The submission port (RFC 6409): AUTH offered, MAIL needs it. */
  submission: boolean;
  /** STARTTLS can be offered (a certificate is configured). */
  tlsAvailable: boolean;
  /** AUTH allowed over a connection without TLS (for tests and local use). */
  authWithoutTls: boolean;
  /** user -> password. */
  users: ReadonlyMap<string, string>;
}

export interface Recipient {
  readonly address: string;
  /** Delivered to a local mailbox, or queued for another server. */
  readonly local: boolean;
  readonly params: Params;
}

/** What the server stores once a message is whole. */
export interface Envelope {
  /** The reverse path: "" for the null sender <>. */
  readonly from: string;
  readonly recipients: readonly Recipient[];
  readonly mailParams: Params;
  /** The client's EHLO/HELO name, for the Received header. */
  readonly helo: string;
  readonly protocol: string;
  readonly authUser: string | undefined;
}

type Phase =
  | "command"
  | "data"
  | "bdat"
  | "auth-plain"
  | "auth-login-user"
  | "auth-login-password"
  | "storing"
  | "closed";

export interface SessionState {
  phase: Phase;
  /** The client's address, for the Received header and trusted networks. */
  readonly clientAddress: string;
  /** The client's address is in a trusted network: it may relay. */
  readonly trusted: boolean;
  helo: string | undefined;
  esmtp: boolean;
  tls: boolean;
  authUser: string | undefined;
  loginUser: string | undefined;
  from: string | undefined;
  mailParams: Params;
  recipients: Recipient[];
  /** BDAT: octets received so far in this transaction; a failed BDAT poisons the rest. */
  bdatBytes: number;
  bdatFailed: boolean;
  errors: number;
}

export type Effect =
  /** Read the DATA body with the dot machine (lib/smtp/data.ts), then call `dataEnded`. */
  | { kind: "read-data" }
  /** Read exactly `sizeBytes` octets, then call `chunkEnded`. */
  | { kind: "read-chunk"; sizeBytes: number; last: boolean; discard: boolean }
  /** Drop every byte already buffered, then run the TLS handshake; then call `tlsStarted`. */
  | { kind: "start-tls" }
  /** Store the message, then call `stored`; the final reply waits for it. */
  | { kind: "store"; envelope: Envelope }
  /** Close the connection after writing the replies. */
  | { kind: "close" };

export interface Outcome {
  replies: Reply[];
  effects: Effect[];
}

/** How a message body ended, as the body machine saw it. */
export interface BodyResult {
  sizeBytes: number;
  tooLarge: boolean;
  bareLineEnds: boolean;
  nul: boolean;
}

export function newSession(
  clientAddress: string,
  options: { trusted?: boolean; tls?: boolean } = {},
): SessionState {
  return {
    phase: "command",
    clientAddress,
    trusted: options.trusted ?? false,
    helo: undefined,
    esmtp: false,
    tls: options.tls ?? false,
    authUser: undefined,
    loginUser: undefined,
    from: undefined,
    mailParams: new Map(),
    recipients: [],
    bdatBytes: 0,
    bdatFailed: false,
    errors: 0,
  };
}

/** The 220 greeting (no enhanced code: RFC 2034 section 3). */
export function greeting(config: SessionConfig): Reply {
  return reply(220, undefined, `${config.hostname} ESMTP underhood ready`);
}

/** The reply to a client that talked before the greeting (Postfix's postscreen "pregreet"). */
export function earlyTalker(): Outcome {
  return {
    replies: [reply(554, "5.5.1", "Protocol error: talked before the greeting")],
    effects: [{ kind: "close" }],
  };
}

/** The reply when the command line was malformed (too long, bare CR/LF): close. */
export function badLine(state: SessionState, reason: "too-long" | "bare-line-end"): Outcome {
  state.phase = "closed";
  const r = reason === "too-long"
    ? reply(500, "5.5.6", "Line too long")
    : reply(500, "5.5.2", "Bare CR or LF not allowed (RFC 5321 2.3.8)");
  return { replies: [r], effects: [{ kind: "close" }] };
}

const ok = (r: Reply): Outcome => ({ replies: [r], effects: [] });

/** The reply to one command line. */
export function handleLine(
  config: SessionConfig,
  state: SessionState,
  line: CommandLine,
): Outcome {
  switch (state.phase) {
    case "auth-plain":
      return authPlainResponse(config, state, line.text);
    case "auth-login-user":
      return authLoginUser(state, line.text);
    case "auth-login-password":
      return authLoginPassword(config, state, line.text);
    case "closed":
      return { replies: [], effects: [] };
    default:
      break;
  }
  const command = parseCommand(line);
  switch (command.kind) {
    case "EHLO":
    case "HELO":
      resetTransaction(state);
      state.helo = command.domain;
      state.esmtp = command.kind === "EHLO";
      return ok(
        command.kind === "EHLO" ? ehloReply(config, state) : reply(
          250,
          undefined,
          `${config.hostname} greets ${command.domain}`,
        ),
      );
    case "MAIL":
      return mail(config, state, command.from, command.params);
    case "RCPT":
      return rcpt(config, state, command.to, command.params);
    case "DATA":
      if (state.from === undefined) return fail(config, state, reply(503, "5.5.1", "MAIL first"));
      if (state.recipients.length === 0) {
        return fail(config, state, reply(503, "5.5.1", "RCPT first (no valid recipients)"));
      }
      if (state.bdatBytes > 0) {
        return fail(config, state, reply(503, "5.5.1", "DATA not allowed after BDAT"));
      }
      state.phase = "data";
      return {
        replies: [reply(354, undefined, "End data with <CR><LF>.<CR><LF>")],
        effects: [{ kind: "read-data" }],
      };
    case "BDAT":
      return bdat(config, state, command.sizeBytes, command.last);
    case "RSET":
      resetTransaction(state);
      return ok(reply(250, "2.0.0", "Flushed"));
    case "NOOP":
      return ok(reply(250, "2.0.0", "OK"));
    case "QUIT":
      state.phase = "closed";
      return {
        replies: [reply(221, "2.0.0", `${config.hostname} closing connection`)],
        effects: [{ kind: "close" }],
      };
    case "VRFY":
      // RFC 5321 3.5.3: 252 when we will not say; never a directory of users.
      return ok(
        reply(252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery"),
      );
    case "EXPN":
      return fail(config, state, reply(502, "5.5.1", "EXPN not available"));
    case "HELP":
      return ok(reply(
        214,
        "2.0.0",
        "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT STARTTLS AUTH",
        "See RFC 5321",
      ));
    case "STARTTLS":
      if (!config.tlsAvailable) {
        return fail(config, state, reply(502, "5.5.1", "TLS not available"));
      }
      if (state.tls) return fail(config, state, reply(503, "5.5.1", "TLS already active"));
      return {
        replies: [reply(220, "2.0.0", "Ready to start TLS")],
        effects: [{ kind: "start-tls" }],
      };
    case "AUTH":
      return auth(config, state, command.mechanism, command.initial);
    case "unknown":
      return fail(config, state, reply(500, "5.5.2", `Command unrecognized: ${command.verb}`));
    case "syntax":
      return fail(config, state, reply(501, "5.5.4", `Syntax error: ${command.message}`));
  }
}

function ehloReply(config: SessionConfig, state: SessionState): Reply {
  const lines = [
    `${config.hostname} greets ${state.helo}`,
    "PIPELINING",
    `SIZE ${config.sizeBytesMax}`,
    "8BITMIME",
    "ENHANCEDSTATUSCODES",
    "SMTPUTF8",
    "CHUNKING",
    "DSN",
  ];
  if (config.tlsAvailable && !state.tls) lines.push("STARTTLS");
  if (config.submission && (state.tls || config.authWithoutTls) && state.authUser === undefined) {
    lines.push("AUTH PLAIN LOGIN");
  }
  lines.push("HELP");
  return reply(250, undefined, ...lines);
}

function mail(config: SessionConfig, state: SessionState, from: string, params: Params): Outcome {
  if (state.helo === undefined) {
    return fail(config, state, reply(503, "5.5.1", "EHLO or HELO first"));
  }
  if (state.from !== undefined) {
    return fail(config, state, reply(503, "5.5.1", "Nested MAIL command"));
  }
  if (config.submission && state.authUser === undefined) {
    return fail(config, state, reply(530, "5.7.0", "Authentication required"));
  }
  const size = params.get("SIZE");
  if (size !== undefined) {
    if (size === true || !/^[0-9]{1,15}$/.test(size)) {
      return fail(config, state, reply(501, "5.5.4", "Bad SIZE parameter"));
    }
    if (Number(size) > config.sizeBytesMax) {
      return fail(config, state, reply(552, "5.3.4", "Message size exceeds fixed maximum"));
    }
  }
  const body = params.get("BODY");
  if (body !== undefined && (body === true || !["7BIT", "8BITMIME"].includes(body.toUpperCase()))) {
    return fail(config, state, reply(501, "5.5.4", "Bad BODY parameter"));
  }
  for (const key of params.keys()) {
    if (!MAIL_PARAMS.has(key)) {
      return fail(config, state, reply(555, "5.5.4", `Unsupported MAIL parameter ${key}`));
    }
  }
  const dsnError = dsnParamError(params);
  if (dsnError !== undefined) return fail(config, state, reply(501, "5.5.4", dsnError));
  state.from = from;
  state.mailParams = params;
  return ok(reply(250, "2.1.0", "Sender OK"));
}

const MAIL_PARAMS = new Set(["SIZE", "BODY", "SMTPUTF8", "RET", "ENVID", "AUTH"]);
const RCPT_PARAMS = new Set(["NOTIFY", "ORCPT"]);

function rcpt(config: SessionConfig, state: SessionState, to: string, params: Params): Outcome {
  if (state.from === undefined) return fail(config, state, reply(503, "5.5.1", "MAIL first"));
  for (const key of params.keys()) {
    if (!RCPT_PARAMS.has(key)) {
      return fail(config, state, reply(555, "5.5.4", `Unsupported RCPT parameter ${key}`));
    }
  }
  const dsnError = dsnParamError(params);
  if (dsnError !== undefined) return fail(config, state, reply(501, "5.5.4", dsnError));
  if (state.recipients.length >= config.recipientsMax) {
    // RFC 5321 4.5.3.1.10: 452, and the client sends the rest later.
    return fail(config, state, reply(452, "4.5.3", "Too many recipients"));
  }
  const domain = domainOf(to);
  const local = config.localDomains.has(domain);
  if (local) {
    if (config.mailboxes.size > 0 && !config.mailboxes.has(to.toLowerCase())) {
      return fail(config, state, reply(550, "5.1.1", `<${to}>: no such user here`));
    }
  } else if (state.authUser === undefined && !state.trusted) {
    return fail(config, state, reply(554, "5.7.1", `<${to}>: Relay access denied`));
  }
  state.recipients.push({ address: to, local, params });
  return ok(reply(250, "2.1.5", "Recipient OK"));
}

function bdat(
  config: SessionConfig,
  state: SessionState,
  sizeBytes: number,
  last: boolean,
): Outcome {
  // RFC 3030 section 2: the chunk is read whatever the answer, so the
  // connection stays in step; a failed transaction discards it.
  const refused = state.from === undefined || state.recipients.length === 0 ||
    state.bdatBytes + sizeBytes > config.sizeBytesMax;
  if (refused) state.bdatFailed = true;
  state.phase = "bdat";
  return {
    replies: [],
    effects: [{ kind: "read-chunk", sizeBytes, last, discard: state.bdatFailed }],
  };
}

/** After the BDAT chunk is read. */
export function chunkEnded(
  config: SessionConfig,
  state: SessionState,
  chunk: { sizeBytes: number; last: boolean },
): Outcome {
  state.phase = "command";
  if (state.bdatFailed || state.from === undefined || state.recipients.length === 0) {
    const wasLast = chunk.last;
    const noTransaction = state.from === undefined || state.recipients.length === 0;
    const r = noTransaction
      ? reply(503, "5.5.1", "BDAT without MAIL and RCPT")
      : state.bdatBytes + chunk.sizeBytes > config.sizeBytesMax
      ? reply(552, "5.3.4", "Message size exceeds fixed maximum")
      : reply(554, "5.5.0", "Earlier BDAT failed; transaction discarded");
    if (wasLast) resetTransaction(state);
    else state.bdatBytes += chunk.sizeBytes;
    return fail(config, state, r);
  }
  state.bdatBytes += chunk.sizeBytes;
  if (!chunk.last) {
    return ok(reply(250, "2.0.0", `${chunk.sizeBytes} octets received`));
  }
  state.phase = "storing";
  return { replies: [], effects: [{ kind: "store", envelope: envelopeOf(state, "ESMTP") }] };
}

/** After the DATA body's end line. */
export function dataEnded(config: SessionConfig, state: SessionState, body: BodyResult): Outcome {
  state.phase = "command";
  if (body.tooLarge) {
    resetTransaction(state);
    return fail(config, state, reply(552, "5.3.4", "Message size exceeds fixed maximum"));
  }
  if (body.bareLineEnds || body.nul) {
    resetTransaction(state);
    return fail(
      config,
      state,
      reply(550, "5.6.0", "Message refused: bare CR, bare LF or NUL in the data (RFC 5321 2.3.8)"),
    );
  }
  state.phase = "storing";
  return { replies: [], effects: [{ kind: "store", envelope: envelopeOf(state, "SMTP") }] };
}

/** After the store effect: the final reply of the transaction. */
export function stored(
  config: SessionConfig,
  state: SessionState,
  result: { ok: true; id: string } | { ok: false; message: string },
): Outcome {
  state.phase = "command";
  resetTransaction(state);
  if (result.ok) return ok(reply(250, "2.0.0", `OK: queued as ${result.id}`));
  return fail(config, state, reply(451, "4.3.0", `Local error in processing: ${result.message}`));
}

/** After the TLS handshake: forget everything (RFC 3207 section 4.2). */
export function tlsStarted(state: SessionState): void {
  resetTransaction(state);
  state.helo = undefined;
  state.esmtp = false;
  state.authUser = undefined;
  state.tls = true;
}

/** Drops the transaction (an injected failure at the end of the data). */
export function abortTransaction(state: SessionState): void {
  state.phase = "command";
  resetTransaction(state);
}

function envelopeOf(state: SessionState, base: "SMTP" | "ESMTP"): Envelope {
  // RFC 3848 protocol names for the Received header's WITH clause.
  let protocol = state.esmtp || base === "ESMTP" ? "ESMTP" : "SMTP";
  if (state.tls) protocol += "S";
  if (state.authUser !== undefined) protocol += "A";
  if (state.mailParams.has("SMTPUTF8")) protocol = "UTF8" + protocol;
  return {
    from: state.from ?? "",
    recipients: state.recipients,
    mailParams: state.mailParams,
    helo: state.helo ?? "",
    protocol,
    authUser: state.authUser,
  };
}

function resetTransaction(state: SessionState): void {
  state.from = undefined;
  state.mailParams = new Map();
  state.recipients = [];
  state.bdatBytes = 0;
  state.bdatFailed = false;
  if (state.phase !== "closed") state.phase = "command";
}

/** An error reply; past `errorsMax` errors the session ends with 421. */
function fail(config: SessionConfig, state: SessionState, r: Reply): Outcome {
  state.errors++;
  if (state.errors >= config.errorsMax) {
    state.phase = "closed";
    return {
      replies: [r, reply(421, "4.7.0", `${config.hostname} Too many errors, closing connection`)],
      effects: [{ kind: "close" }],
    };
  }
  return ok(r);
}

// AUTH (RFC 4954) with PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login).

function auth(
  config: SessionConfig,
  state: SessionState,
  mechanism: string,
  initial: string | undefined,
): Outcome {
  if (!config.submission) return fail(config, state, reply(502, "5.5.1", "AUTH not available"));
  if (state.helo === undefined || !state.esmtp) {
    return fail(config, state, reply(503, "5.5.1", "EHLO first"));
  }
  if (state.authUser !== undefined) {
    return fail(config, state, reply(503, "5.5.1", "Already authenticated"));
  }
  if (state.from !== undefined) {
    return fail(config, state, reply(503, "5.5.1", "AUTH not allowed during a transaction"));
  }
  if (!state.tls && !config.authWithoutTls) {
    return fail(
      config,
      state,
      reply(538, "5.7.11", "Encryption required for requested authentication mechanism"),
    );
  }
  if (mechanism === "PLAIN") {
    if (initial === undefined) {
      state.phase = "auth-plain";
      return ok(reply(334, undefined, ""));
    }
    return authPlainResponse(config, state, initial);
  }
  if (mechanism === "LOGIN") {
    if (initial === undefined) {
      state.phase = "auth-login-user";
      return ok(reply(334, undefined, btoa("Username:")));
    }
    return authLoginUser(state, initial);
  }
  return fail(config, state, reply(504, "5.5.4", `Unrecognized authentication type ${mechanism}`));
}

function authPlainResponse(config: SessionConfig, state: SessionState, text: string): Outcome {
  state.phase = "command";
  if (text === "*") return fail(config, state, reply(501, "5.0.0", "Authentication cancelled"));
  const decoded = decodeBase64(text);
  if (decoded === undefined) return fail(config, state, reply(501, "5.5.2", "Bad base64"));
  const parts = decoded.split("\0");
  if (parts.length !== 3) return fail(config, state, reply(501, "5.5.2", "Bad PLAIN response"));
  const [authzid, user, password] = parts;
  if (authzid !== "" && authzid !== user) return authFailed(config, state);
  return checkPassword(config, state, user, password);
}

function authLoginUser(state: SessionState, text: string): Outcome {
  if (text === "*") {
    state.phase = "command";
    return ok(reply(501, "5.0.0", "Authentication cancelled"));
  }
  const user = decodeBase64(text);
  if (user === undefined) {
    state.phase = "command";
    return ok(reply(501, "5.5.2", "Bad base64"));
  }
  state.loginUser = user;
  state.phase = "auth-login-password";
  return ok(reply(334, undefined, btoa("Password:")));
}

function authLoginPassword(config: SessionConfig, state: SessionState, text: string): Outcome {
  state.phase = "command";
  const user = state.loginUser ?? "";
  state.loginUser = undefined;
  if (text === "*") return fail(config, state, reply(501, "5.0.0", "Authentication cancelled"));
  const password = decodeBase64(text);
  if (password === undefined) return fail(config, state, reply(501, "5.5.2", "Bad base64"));
  return checkPassword(config, state, user, password);
}

function checkPassword(
  config: SessionConfig,
  state: SessionState,
  user: string,
  password: string,
): Outcome {
  const expected = config.users.get(user);
  if (expected === undefined || !sameText(expected, password)) return authFailed(config, state);
  state.authUser = user;
  return ok(reply(235, "2.7.0", "Authentication successful"));
}

function authFailed(config: SessionConfig, state: SessionState): Outcome {
  return fail(config, state, reply(535, "5.7.8", "Authentication credentials invalid"));
}

/** Compares without stopping at the first difference (no timing hint of the prefix). */
function sameText(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

function decodeBase64(text: string): string | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  try {
    const binary = atob(text);
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
