// composeNotification(): the message a real mail parser (npm:mailparser, as
// the smtp mailbox API uses) reads back as written, whatever the spell holds.

import assert from "node:assert/strict";
import { fromUtf8 } from "../../../lib/bytes.ts";
import type { Spell } from "../../../services/worker/event.ts";
import {
  composeNotification,
  encodeHeaderText,
  encodeQuotedPrintable,
  messageIdOf,
  rfc5322Date,
} from "../../../services/worker/mail.ts";

const ENVELOPE = {
  from: "spells@Example.com",
  to: "dev@example.com",
  date: new Date("2026-12-02T07:00:00Z"),
};

const ACCIO: Spell = {
  id: "12",
  name: "Accio",
  incantation: "Accio!",
  description: "Summons an object.",
  createdAt: "2026-12-02T07:00:00.000Z",
};

async function parse(bytes: Uint8Array) {
  const { simpleParser } = await import("mailparser");
  return await simpleParser(new TextDecoder().decode(bytes));
}

Deno.test("composeNotification() writes the spell's name in the subject and a stable Message-ID", async () => {
  const bytes = composeNotification(ACCIO, ENVELOPE);
  const text = fromUtf8(bytes);
  assert.match(text, /^From: Spells <spells@Example\.com>\r\nTo: <dev@example\.com>\r\n/);
  assert.match(text, /\r\nSubject: New spell: Accio\r\n/);
  assert.match(text, /\r\nDate: Wed, 02 Dec 2026 07:00:00 \+0000\r\n/);
  assert.match(text, /\r\nMessage-ID: <spell-12\.created@example\.com>\r\n/);
  assert.ok(!/[^\r]\n/.test(text), "every line ends in CRLF");
  const mail = await parse(bytes);
  assert.equal(mail.subject, "New spell: Accio");
  assert.equal(mail.messageId, "<spell-12.created@example.com>");
  assert.match(mail.text ?? "", /Incantation: Accio!\n/);
  assert.match(mail.text ?? "", /Summons an object\./);
});

Deno.test("composeNotification() keeps the Message-ID across copies and dates", () => {
  const later = { ...ENVELOPE, date: new Date("2026-12-03T00:00:00Z") };
  assert.equal(messageIdOf(ACCIO, ENVELOPE.from), "<spell-12.created@example.com>");
  const idOf = (b: Uint8Array) => /Message-ID: (.*)\r\n/.exec(fromUtf8(b))?.[1];
  assert.equal(idOf(composeNotification(ACCIO, ENVELOPE)), idOf(composeNotification(ACCIO, later)));
});

Deno.test("composeNotification() carries non-ASCII, header-breaking and long text intact", async () => {
  const spell: Spell = {
    ...ACCIO,
    name: "Wingardium Leviósa ✨\r\nBcc: evil@example.net " + "é".repeat(60),
    description: "=".repeat(90) + " trailing space \n" + "ünïcødé ".repeat(300),
  };
  const bytes = composeNotification(spell, ENVELOPE);
  const text = fromUtf8(bytes);
  for (const line of text.split("\r\n")) {
    assert.ok(line.length <= 78, `line of ${line.length}: ${line}`);
    assert.ok(/^[\x20-\x7e]*$/.test(line), `7-bit line: ${line}`);
  }
  const header = text.slice(0, text.indexOf("\r\n\r\n"));
  assert.ok(!/^Bcc:/m.test(header), "no header injected");
  const mail = await parse(bytes);
  assert.equal(mail.subject, `New spell: ${spell.name.replace("\r\n", " ")}`);
  assert.equal(mail.headers.get("bcc"), undefined);
  assert.ok(mail.text?.includes("ünïcødé ".repeat(300).trimEnd()), "description intact");
  assert.ok(mail.text?.includes("=".repeat(90) + " trailing space \n"), "trailing space kept");
});

Deno.test("encodeHeaderText() leaves printable ASCII alone and splits encoded-words at 75", () => {
  assert.equal(encodeHeaderText("New spell: Lumos"), "New spell: Lumos");
  const encoded = encodeHeaderText("ü".repeat(50));
  for (const word of encoded.split("\r\n ")) {
    assert.match(word, /^=\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=$/);
    assert.ok(word.length <= 75);
  }
});

Deno.test("encodeQuotedPrintable() follows RFC 2045 6.7", () => {
  assert.equal(encodeQuotedPrintable("a=b"), "a=3Db");
  assert.equal(encodeQuotedPrintable("end \nnext\t"), "end=20\r\nnext=09");
  assert.equal(encodeQuotedPrintable("é"), "=C3=A9");
  const long = encodeQuotedPrintable("x".repeat(200));
  assert.deepEqual(long.split("\r\n").map((l) => l.length), [76, 76, 50]);
  assert.equal(long.replace(/=\r\n/g, ""), "x".repeat(200));
});

Deno.test("rfc5322Date() writes UTC as +0000", () => {
  assert.equal(rfc5322Date(new Date(0)), "Thu, 01 Jan 1970 00:00:00 +0000");
});
