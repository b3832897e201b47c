// Delivery status notifications: what RFC 3461 asks a server to do with the
// DSN parameters a client gave, and the RFC 3464 report it sends. Pure: the
// delivery worker (delivery.ts) and the server (server.ts) decide when, this
// file decides whether and writes the bytes.
//
// The parameters (RFC 3461 section 4):
//   MAIL ... RET=FULL|HDRS ENVID=<xtext>   the whole message or its headers
//                                          back in a failure report; the
//                                          sender's own id for the message
//   RCPT ... NOTIFY=NEVER | SUCCESS,FAILURE,DELAY   which reports it wants
//            ORCPT=rfc822;<xtext>          the recipient as first given
// Absent NOTIFY means "FAILURE" here (4.1 lets a server choose FAILURE or
// FAILURE,DELAY; Postfix's default sends no delay notice unless asked).
// Absent RET: the headers only (4.3 leaves it to the server).
//
// Which report, when (RFC 3461 5.2, 6.2):
//   failed     a 5xx, a null MX, giving up         NOTIFY has FAILURE
//   delayed    still deferred past the delay       NOTIFY has DELAY, once
//              threshold                           per recipient
//   delivered  stored in a local mailbox           NOTIFY has SUCCESS
//   relayed    handed to a server that does not    NOTIFY has SUCCESS
//              speak DSN (one that does gets the
//              parameters and reports itself)
// Only a failure report carries the whole message, and only with RET=FULL;
// every other report returns the headers (RFC 3461 4.3). No report ever
// goes to the null sender <> (no bounce of a bounce, RFC 3461 6.2).
//
// Left out: the "expanded" action (no aliases or lists here), MT-priority,
// and reports in languages other than English.

import type { Params } from "../../lib/smtp/command.ts";
import { rfc5322Date } from "./date.ts";

export type Notify = "SUCCESS" | "FAILURE" | "DELAY";
export type Action = "failed" | "delayed" | "delivered" | "relayed";

/** The DSN parameters of one recipient, as kept in the outbound queue. */
export interface RecipientDsn {
  /** Reports wanted; [] for NEVER; undefined when the client gave no NOTIFY. */
  notify?: Notify[];
  /** ORCPT as given ("rfc822;bob+2Bx@example.test"), still xtext-encoded. */
  orcpt?: string;
}

/** The message's DSN parameters. */
export interface MessageDsn {
  ret?: "FULL" | "HDRS";
  /** ENVID as given (xtext). */
  envid?: string;
}

/**
 * NOTIFY's value: "NEVER", or one or more of SUCCESS, FAILURE, DELAY
 * separated by commas (RFC 3461 4.1). Undefined when malformed.
 */
export function parseNotify(value: string): Notify[] | undefined {
  const words = value.toUpperCase().split(",");
  if (words.length === 1 && words[0] === "NEVER") return [];
  const out: Notify[] = [];
  for (const word of words) {
    if (word !== "SUCCESS" && word !== "FAILURE" && word !== "DELAY") return undefined;
    if (!out.includes(word)) out.push(word);
  }
  return out;
}

/** Checks the DSN parameters of MAIL and RCPT; the reason when one is malformed. */
export function dsnParamError(params: Params): string | undefined {
  const ret = params.get("RET");
  if (ret !== undefined && (ret === true || !["FULL", "HDRS"].includes(ret.toUpperCase()))) {
    return "Bad RET parameter";
  }
  const envid = params.get("ENVID");
  // RFC 3461 4.4: at most 100 characters of xtext.
  if (envid !== undefined && (envid === true || envid.length > 100 || !isXtext(envid))) {
    return "Bad ENVID parameter";
  }
  const notify = params.get("NOTIFY");
  if (notify !== undefined && (notify === true || parseNotify(notify) === undefined)) {
    return "Bad NOTIFY parameter";
  }
  const orcpt = params.get("ORCPT");
  // RFC 3461 4.2: addr-type ";" xtext, at most 500 characters.
  if (
    orcpt !== undefined &&
    (orcpt === true || orcpt.length > 500 || !/^[A-Za-z0-9-]+;/.test(orcpt) ||
      !isXtext(orcpt.slice(orcpt.indexOf(";") + 1)))
  ) {
    return "Bad ORCPT parameter";
  }
  return undefined;
}

/** The message's parameters from MAIL's. */
export function messageDsnOf(params: Params): MessageDsn {
  const out: MessageDsn = {};
  const ret = params.get("RET");
  if (typeof ret === "string") out.ret = ret.toUpperCase() === "FULL" ? "FULL" : "HDRS";
  const envid = params.get("ENVID");
  if (typeof envid === "string") out.envid = envid;
  return out;
}

/** A recipient's parameters from its RCPT's. */
export function recipientDsnOf(params: Params): RecipientDsn {
  const out: RecipientDsn = {};
  const notify = params.get("NOTIFY");
  if (typeof notify === "string") out.notify = parseNotify(notify);
  const orcpt = params.get("ORCPT");
  if (typeof orcpt === "string") out.orcpt = orcpt;
  return out;
}

/** Whether the recipient asked for this kind of report (absent NOTIFY: failures only). */
export function wants(dsn: RecipientDsn | undefined, kind: Notify): boolean {
  const notify = dsn?.notify;
  if (notify === undefined) return kind === "FAILURE";
  return notify.includes(kind);
}

/** The MAIL parameters passed on to a next hop that speaks DSN. */
export function mailParamsFor(dsn: MessageDsn): string {
  let out = "";
  if (dsn.ret !== undefined) out += ` RET=${dsn.ret}`;
  if (dsn.envid !== undefined) out += ` ENVID=${dsn.envid}`;
  return out;
}

/**
 * The RCPT parameters passed on to a next hop that speaks DSN. Without an
 * ORCPT of its own, the recipient as we got it becomes one (RFC 3461 4.2
 * asks a relay to keep the original address).
 */
export function rcptParamsFor(address: string, dsn: RecipientDsn | undefined): string {
  let out = "";
  if (dsn?.notify !== undefined) {
    out += ` NOTIFY=${dsn.notify.length === 0 ? "NEVER" : dsn.notify.join(",")}`;
  }
  out += ` ORCPT=${dsn?.orcpt ?? `rfc822;${xtextEncode(address)}`}`;
  return out;
}

/** xtext (RFC 3461 4): printable ASCII except "+" and "=", and "+XX" hex escapes. */
export function isXtext(text: string): boolean {
  return /^(?:[!-*,-<>-~]|\+[0-9A-F]{2})*$/.test(text);
}

export function xtextDecode(text: string): string {
  return text.replace(/\+([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
}

export function xtextEncode(text: string): string {
  return text.replace(
    /[^!-*,-<>-~]/g,
    (c) =>
      Array.from(
        new TextEncoder().encode(c),
        (b) => `+${b.toString(16).toUpperCase().padStart(2, "0")}`,
      ).join(""),
  );
}

/** One recipient's line of a report. */
export interface ReportEntry {
  recipient: string;
  dsn?: RecipientDsn;
  action: Action;
  /** RFC 3463 code: 2.0.0 delivered or relayed, 4.x.x delayed, 5.x.x failed. */
  status: string;
  diagnostic?: string;
  remoteMta?: string;
  /** Delayed: when we stop trying (ms since the epoch). */
  willRetryUntilMs?: number;
}

export interface ReportOptions {
  /** Our host name: Reporting-MTA, the From and Message-ID. */
  hostname: string;
  /** The queue id of the message reported on (for Message-ID and the boundary). */
  id: string;
  /** Where the report goes: the original reverse path. */
  to: string;
  message: MessageDsn;
  arrivalMs: number;
  nowMs: number;
  entries: readonly ReportEntry[];
  /** The original message (headers and body). */
  original: Uint8Array;
}

const SUBJECTS: Record<Action, string> = {
  failed: "Undelivered Mail Returned to Sender",
  delayed: "Delayed Mail (still being retried)",
  delivered: "Successful Mail Delivery Report",
  relayed: "Successful Mail Delivery Report (relayed)",
};

const EXPLANATIONS: Record<Action, string> = {
  failed: "could not be delivered to",
  delayed: "has not yet been delivered to",
  delivered: "was delivered to",
  relayed: "was relayed, to a server that sends no delivery reports, for",
};

/**
 * An RFC 3464 report (multipart/report; report-type=delivery-status): a
 * text part for people, the message/delivery-status part, then the returned
 * content: the whole message (message/rfc822) in a failure report with
 * RET=FULL, else its headers (text/rfc822-headers).
 */
export function deliveryReport(options: ReportOptions): string {
  const { hostname, id, entries } = options;
  const action = entries.some((e) => e.action === "failed")
    ? "failed"
    : entries.some((e) => e.action === "delayed")
    ? "delayed"
    : entries[0].action;
  const boundary = `${id}.${action}/${hostname}`;
  const perMessage = [`Reporting-MTA: dns; ${hostname}`];
  if (options.message.envid !== undefined) {
    perMessage.push(`Original-Envelope-Id: ${oneLine(xtextDecode(options.message.envid))}`);
  }
  perMessage.push(`Arrival-Date: ${rfc5322Date(options.arrivalMs)}`);
  const perRecipient = entries.map((e) => {
    const lines: string[] = [];
    const orcpt = e.dsn?.orcpt;
    if (orcpt !== undefined) {
      const semi = orcpt.indexOf(";");
      lines.push(
        `Original-Recipient: ${orcpt.slice(0, semi)}; ${
          oneLine(xtextDecode(orcpt.slice(semi + 1)))
        }`,
      );
    }
    lines.push(`Final-Recipient: rfc822; ${e.recipient}`, `Action: ${e.action}`);
    lines.push(`Status: ${e.status}`);
    if (e.remoteMta !== undefined) lines.push(`Remote-MTA: dns; ${e.remoteMta}`);
    if (e.diagnostic !== undefined) lines.push(`Diagnostic-Code: smtp; ${oneLine(e.diagnostic)}`);
    lines.push(`Last-Attempt-Date: ${rfc5322Date(options.nowMs)}`);
    if (e.willRetryUntilMs !== undefined) {
      lines.push(`Will-Retry-Until: ${rfc5322Date(e.willRetryUntilMs)}`);
    }
    return lines.join("\r\n") + "\r\n";
  });
  const full = action === "failed" && options.message.ret === "FULL";
  const text = new TextDecoder().decode(options.original);
  const headEnd = text.indexOf("\r\n\r\n");
  const returned = full ? text : headEnd < 0 ? text : text.slice(0, headEnd + 2);
  return [
    `From: Mail Delivery System <MAILER-DAEMON@${hostname}>`,
    `To: <${options.to}>`,
    `Subject: ${SUBJECTS[action]}`,
    `Date: ${rfc5322Date(options.nowMs)}`,
    `Message-ID: <${id}.${action}@${hostname}>`,
    "Auto-Submitted: auto-replied",
    "MIME-Version: 1.0",
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    "",
    `--${boundary}`,
    "Content-Type: text/plain; charset=utf-8",
    "",
    `Your message ${EXPLANATIONS[action]} ${entries.length} recipient(s):`,
    ...entries.map((e) => `  <${e.recipient}>${e.diagnostic ? `: ${oneLine(e.diagnostic)}` : ""}`),
    "",
    `--${boundary}`,
    "Content-Type: message/delivery-status",
    "",
    ...perMessage,
    "",
    perRecipient.join("\r\n"),
    `--${boundary}`,
    full ? "Content-Type: message/rfc822" : "Content-Type: text/rfc822-headers",
    "",
    returned.endsWith("\r\n") ? returned.slice(0, -2) : returned,
    `--${boundary}--`,
    "",
  ].join("\r\n");
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, " ");
}
