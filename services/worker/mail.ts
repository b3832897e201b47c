// The notification mail for one spell (RFC 5322 message format, MIME
// RFC 2045-2047). Pure: a spell and the envelope in, the message's bytes out.
//
// - Message-ID is derived from the spell id and the sender's domain only,
//   `<spell-12.created@example.com>`: the same event mailed twice (the
//   at-least-once case, docs/worker.md) carries the same Message-ID, so a
//   receiver can drop the duplicate. It does not name the worker's host on
//   purpose: any worker sending it must produce the same one.
// - The subject carries the spell's name; a name outside printable ASCII
//   goes in RFC 2047 encoded-words (control characters become spaces),
//   folded so no encoded-word passes 75 characters (RFC 2047 section 2).
// - The body is UTF-8 in quoted-printable (RFC 2045 section 6.7): 7-bit
//   clean and no line past 76 characters, whatever the description holds,
//   so no SMTP server has to refuse a 998-octet line (RFC 5321 4.5.3.1.6).
// - `Auto-Submitted: auto-generated` (RFC 3834) tells autoresponders not
//   to answer it.

import { utf8 } from "../../lib/bytes.ts";
import type { Bytes } from "../../lib/bytes.ts";
import type { Spell } from "./event.ts";

export interface Envelope {
  /** The sender, also the From: header: e.g. "spells@example.com". */
  readonly from: string;
  /** The one recipient, also the To: header. */
  readonly to: string;
  /** When the mail is written (the Date: header). */
  readonly date: Date;
}

/** `<spell-ID.created@DOMAIN>`, the same for every copy of one event. */
export function messageIdOf(spell: Pick<Spell, "id">, from: string): string {
  return `<spell-${spell.id}.created@${from.slice(from.lastIndexOf("@") + 1).toLowerCase()}>`;
}

/** The whole message: header fields, a blank line, the quoted-printable body (CRLF lines). */
export function composeNotification(spell: Spell, envelope: Envelope): Bytes {
  const header = [
    `From: Spells <${envelope.from}>`,
    `To: <${envelope.to}>`,
    `Subject: ${encodeHeaderText(`New spell: ${oneLine(spell.name)}`)}`,
    `Date: ${rfc5322Date(envelope.date)}`,
    `Message-ID: ${messageIdOf(spell, envelope.from)}`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: quoted-printable",
    "Auto-Submitted: auto-generated",
    `X-Spell-Id: ${spell.id}`,
  ];
  const text = [
    "A new spell was added to the book.",
    "",
    `Name:        ${spell.name}`,
    `Incantation: ${spell.incantation}`,
    `Created:     ${spell.createdAt}`,
    `Id:          ${spell.id}`,
    "",
    spell.description === "" ? "(no description)" : spell.description,
    "",
  ].join("\n");
  return utf8(`${header.join("\r\n")}\r\n\r\n${encodeQuotedPrintable(text)}`);
}

/** Each run of control characters (CR, LF, TAB...) as one space: a subject is one line. */
function oneLine(text: string): string {
  let out = "";
  let control = false;
  for (const char of text) {
    const code = char.charCodeAt(0);
    const isControl = code < 0x20 || code === 0x7f;
    if (!isControl) out += char;
    else if (!control) out += " ";
    control = isControl;
  }
  return out;
}

/** "Wed, 02 Dec 2026 07:00:00 +0000" (RFC 5322 3.3), always in UTC. */
export function rfc5322Date(date: Date): string {
  return date.toUTCString().replace(/GMT$/, "+0000");
}

/**
 * UTF-8 octets per encoded-word: 39 in base64 is 52 characters, 64 with
 * `=?UTF-8?B?` and `?=`, so even the first one after "Subject: " keeps the
 * line within 78 characters (RFC 5322 2.1.1).
 */
const ENCODED_WORD_BYTES_MAX = 39;

/**
 * Header text as is when it is printable ASCII, else as RFC 2047 B
 * encoded-words (whole characters each), folded onto continuation lines.
 */
export function encodeHeaderText(text: string): string {
  if (/^[\x20-\x7e]*$/.test(text)) return text;
  const words: string[] = [];
  let chunk: number[] = [];
  const flush = () => {
    words.push(`=?UTF-8?B?${btoa(String.fromCharCode(...chunk))}?=`);
    chunk = [];
  };
  for (const char of text) {
    const bytes = utf8(char);
    if (chunk.length + bytes.length > ENCODED_WORD_BYTES_MAX) flush();
    chunk.push(...bytes);
  }
  if (chunk.length > 0) flush();
  return words.join("\r\n ");
}

/** Characters per encoded line, the soft break's "=" included (RFC 2045 6.7 rule 5). */
const QP_LINE_CHARS_MAX = 76;

/**
 * Quoted-printable of `text`'s UTF-8, its "\n" (or "\r\n") line breaks
 * turned into CRLF. Printable ASCII but "=" passes through; a space or tab
 * is encoded at the end of a line (rule 3); long lines get soft breaks.
 */
export function encodeQuotedPrintable(text: string): string {
  const out: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const bytes = utf8(line);
    let current = "";
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i];
      const last = i === bytes.length - 1;
      const literal = (byte >= 33 && byte <= 126 && byte !== 61) ||
        ((byte === 32 || byte === 9) && !last);
      const piece = literal
        ? String.fromCharCode(byte)
        : `=${byte.toString(16).toUpperCase().padStart(2, "0")}`;
      // Keep room for the soft break's "=" unless this is the line's end.
      const room = last ? QP_LINE_CHARS_MAX : QP_LINE_CHARS_MAX - 1;
      if (current.length + piece.length > room) {
        out.push(current + "=");
        current = "";
      }
      current += piece;
    }
    out.push(current);
  }
  return out.join("\r\n");
}
