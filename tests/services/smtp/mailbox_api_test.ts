// The mailbox API on the admin port: list, search, fetch raw and parsed,
// delete, after mail arrives over SMTP.

import assert from "node:assert/strict";
import { service } from "../../../services/smtp/mod.ts";
import { decodeWords, parseHead } from "../../../services/smtp/mailbox_api.ts";
import { startService } from "../../_support/service.ts";
import { LineReader, send } from "./socket_driver.ts";

const MIME = [
  "From: Sender <s@far.test>",
  "To: alice@example.test",
  "Subject: =?UTF-8?B?SGVsbG8g4pyT?= report",
  "Date: Wed, 02 Dec 2026 05:00:00 +0000",
  "MIME-Version: 1.0",
  'Content-Type: multipart/mixed; boundary="b1"',
  "",
  "--b1",
  "Content-Type: text/plain; charset=utf-8",
  "",
  "plain body",
  "--b1",
  "Content-Type: text/html",
  "",
  "<p>html body</p>",
  "--b1",
  'Content-Type: text/csv; name="data.csv"',
  'Content-Disposition: attachment; filename="data.csv"',
  "",
  "a,b",
  "--b1--",
  "",
].join("\r\n");

async function sendMail(port: number, to: string, body: string): Promise<void> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const reader = new LineReader(conn);
  await reader.reply();
  await send(conn, `HELO c\r\nMAIL FROM:<s@far.test>\r\nRCPT TO:<${to}>\r\nDATA\r\n`);
  for (let i = 0; i < 3; i++) assert.match((await reader.reply())[0], /^250 /);
  assert.match((await reader.reply())[0], /^354 /);
  await send(conn, body + ".\r\nQUIT\r\n");
  assert.match((await reader.reply())[0], /^250 /);
}

Deno.test("mailbox API lists, searches, fetches raw and parsed, and deletes", async () => {
  await using smtp = await startService(service, { domain: ["example.test"] });
  const port = smtp.addresses.tcp.port;
  const api = `http://127.0.0.1:${smtp.addresses.admin.port}/api`;
  await sendMail(port, "alice@example.test", MIME);
  await sendMail(port, "bob@example.test", "Subject: other\r\nFrom: x@far.test\r\n\r\nhi\r\n");

  const boxes = await (await fetch(`${api}/mailboxes`)).json();
  assert.deepEqual(
    boxes.map((b: { address: string }) => b.address).sort(),
    ["alice@example.test", "bob@example.test"],
  );
  const list = await (await fetch(`${api}/mailboxes/alice@example.test/messages`)).json();
  assert.equal(list.length, 1);
  assert.equal(list[0].subject, "Hello ✓ report");
  assert.equal(list[0].from, "Sender <s@far.test>");

  const found = await (await fetch(`${api}/search?subject=other`)).json();
  assert.equal(found.length, 1);
  assert.equal(found[0].mailbox, "bob@example.test");
  assert.deepEqual(await (await fetch(`${api}/search?from=nobody`)).json(), []);

  const id = list[0].id;
  const parsed = await (await fetch(`${api}/mailboxes/alice@example.test/messages/${id}`)).json();
  assert.ok(parsed.text.startsWith("plain body"), parsed.text);
  assert.ok(parsed.html.includes("<p>html body</p>"), parsed.html);
  assert.deepEqual(parsed.attachments.map((a: { filename: string }) => a.filename), ["data.csv"]);
  assert.ok(parsed.headers.some((h: { name: string }) => h.name === "received"));

  const raw = await fetch(`${api}/mailboxes/alice@example.test/messages/${id}/raw`);
  assert.equal(raw.headers.get("content-type"), "message/rfc822");
  assert.ok((await raw.text()).endsWith(MIME));

  const deleted = await fetch(`${api}/mailboxes/alice@example.test/messages/${id}`, {
    method: "DELETE",
  });
  assert.equal(deleted.status, 204);
  await deleted.body?.cancel();
  const gone = await fetch(`${api}/mailboxes/alice@example.test/messages/${id}/raw`);
  assert.equal(gone.status, 404);
  await gone.body?.cancel();
  const bad = await fetch(`${api}/mailboxes/alice@example.test/messages/..%2Fx`);
  assert.equal(bad.status, 400);
  await bad.body?.cancel();
});

Deno.test("parseHead() unfolds lines and decodes RFC 2047 words", () => {
  const head = parseHead(
    "Subject: =?ISO-8859-1?Q?caf=E9_au?=\r\n lait\r\nX: 1\r\n\r\nbody: no\r\n",
  );
  assert.equal(head.get("subject"), "café au lait");
  assert.equal(head.get("body"), undefined);
  assert.equal(decodeWords("=?UTF-8?B?YQ==?= =?UTF-8?B?Yg==?="), "ab");
});
