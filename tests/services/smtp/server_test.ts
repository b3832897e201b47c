// The smtp service over real sockets: the scripted transcripts again, the
// Maildir delivery with its headers, the abuse bounds (early talkers, per
// client connections, long lines, timeouts) and the admin port.

import assert from "node:assert/strict";
import { fromUtf8 } from "../../../lib/bytes.ts";
import { parseUsers } from "../../../lib/users_file.ts";
import { service } from "../../../services/smtp/mod.ts";
import { startService } from "../../_support/service.ts";
import { LineReader, runOnSocket, send } from "./socket_driver.ts";
import { TEST_CONFIG, TRANSCRIPTS } from "./transcripts.ts";

/** The service with the transcripts' session settings. */
function startLikeTranscripts(overrides: Record<string, unknown> = {}) {
  return startService(service, {
    hostname: TEST_CONFIG.hostname,
    domain: [...TEST_CONFIG.localDomains],
    mailbox: [...TEST_CONFIG.mailboxes],
    maxMessageSize: TEST_CONFIG.sizeBytesMax,
    maxRecipients: TEST_CONFIG.recipientsMax,
    maxErrors: TEST_CONFIG.errorsMax,
    user: "carol",
    password: "s3cret",
    ...overrides,
  });
}

for (const transcript of TRANSCRIPTS) {
  Deno.test(`smtp over TCP: ${transcript.name}`, async () => {
    const c = transcript.config ?? {};
    await using smtp = await startLikeTranscripts({
      maxErrors: c.errorsMax ?? TEST_CONFIG.errorsMax,
      allowAuthWithoutTls: c.authWithoutTls ?? false,
      trustedNetwork: transcript.trusted ? ["127.0.0.0/8"] : [],
    });
    const port = c.submission ? smtp.addresses.submission.port : smtp.addresses.tcp.port;
    await runOnSocket(transcript, port);
  });
}

function maildirMessages(dataDir: string, address: string): string[] {
  const [user, domain] = address.split("@");
  const dir = `${dataDir}/mail/${domain}/${user}/new`;
  let names: string[];
  try {
    names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
  return names.map((n) => fromUtf8(Deno.readFileSync(`${dir}/${n}`)));
}

Deno.test("smtp writes each recipient's copy to its Maildir with Return-Path and Received", async () => {
  await using smtp = await startLikeTranscripts();
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: smtp.addresses.tcp.port });
  const reader = new LineReader(conn);
  await reader.reply();
  await send(
    conn,
    "EHLO client.test\r\nMAIL FROM:<s@far.test>\r\nRCPT TO:<alice@example.test>\r\n" +
      "RCPT TO:<bob@example.test>\r\nDATA\r\n",
  );
  await reader.reply();
  for (let i = 0; i < 3; i++) assert.match((await reader.reply())[0], /^250 /);
  assert.match((await reader.reply())[0], /^354 /);
  await send(conn, "Subject: test\r\n\r\nbody\r\n..\r\n.\r\n");
  assert.match((await reader.reply())[0], /^250 2\.0\.0 OK/);
  for (const rcpt of ["alice@example.test", "bob@example.test"]) {
    const messages = maildirMessages(smtp.dataDir, rcpt);
    assert.equal(messages.length, 1, rcpt);
    const text = messages[0];
    assert.ok(text.startsWith("Return-Path: <s@far.test>\r\n"), text);
    assert.match(text, new RegExp(`Delivered-To: ${rcpt}\r\n`));
    assert.match(
      text,
      /Received: from client\.test \(\[127\.0\.0\.1\]\)\r\n\tby mx\.test with ESMTP id /,
    );
    assert.ok(text.endsWith("Subject: test\r\n\r\nbody\r\n.\r\n"), text);
  }
});

Deno.test("smtp refuses an early talker with 554 and closes", async () => {
  await using smtp = await startLikeTranscripts({ greetDelayMs: 2_000 });
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: smtp.addresses.tcp.port });
  await send(conn, "EHLO hasty.test\r\n");
  const reader = new LineReader(conn);
  const r = await reader.reply();
  assert.match(r[0], /^554 5\.5\.1 /);
  assert.ok(await reader.closedByServer());
});

Deno.test("smtp greets a patient client after the greet delay", async () => {
  await using smtp = await startLikeTranscripts({ greetDelayMs: 50 });
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: smtp.addresses.tcp.port });
  const reader = new LineReader(conn);
  assert.match((await reader.reply())[0], /^220 /);
  await send(conn, "NOOP\r\n");
  assert.match((await reader.reply())[0], /^250 2\.0\.0/);
});

Deno.test("smtp bounds connections per client address with 421, others unaffected", async () => {
  await using smtp = await startLikeTranscripts({ maxConnectionsPerClient: 2 });
  const port = smtp.addresses.tcp.port;
  using a = await Deno.connect({ hostname: "127.0.0.1", port });
  using b = await Deno.connect({ hostname: "127.0.0.1", port });
  const ra = new LineReader(a);
  const rb = new LineReader(b);
  await ra.reply();
  await rb.reply();
  using c = await Deno.connect({ hostname: "127.0.0.1", port });
  const rc = new LineReader(c);
  assert.match((await rc.reply())[0], /^421 4\.7\.0 /);
  assert.ok(await rc.closedByServer());
  await send(a, "NOOP\r\n");
  assert.match((await ra.reply())[0], /^250 /);
});

Deno.test("smtp closes a client whose command line passes the bound, others unaffected", async () => {
  await using smtp = await startLikeTranscripts();
  const port = smtp.addresses.tcp.port;
  using good = await Deno.connect({ hostname: "127.0.0.1", port });
  const rg = new LineReader(good);
  await rg.reply();
  using bad = await Deno.connect({ hostname: "127.0.0.1", port });
  const rb = new LineReader(bad);
  await rb.reply();
  await send(bad, "NOOP " + "x".repeat(5000) + "\r\n");
  assert.match((await rb.reply())[0], /^500 5\.5\.6 /);
  assert.ok(await rb.closedByServer());
  await send(good, "NOOP\r\n");
  assert.match((await rg.reply())[0], /^250 /);
});

Deno.test("smtp answers 421 to a client silent past the command timeout", async () => {
  await using smtp = await startLikeTranscripts({ commandTimeoutMs: 100 });
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: smtp.addresses.tcp.port });
  const reader = new LineReader(conn);
  await reader.reply();
  assert.match((await reader.reply())[0], /^421 4\.4\.2 /);
  assert.ok(await reader.closedByServer());
});

Deno.test("smtp /healthz checks the spool", async () => {
  await using smtp = await startLikeTranscripts();
  const response = await fetch(`http://127.0.0.1:${smtp.addresses.admin.port}/healthz`);
  const body = await response.json();
  assert.equal(response.status, 200);
  assert.equal(body.checks.spool.ok, true);
});

Deno.test("smtp answers 421 to a client silent past the data timeout inside a message", async () => {
  await using smtp = await startLikeTranscripts({ dataTimeoutMs: 100 });
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: smtp.addresses.tcp.port });
  const reader = new LineReader(conn);
  await reader.reply();
  await send(conn, "HELO c\r\nMAIL FROM:<s@far.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n");
  for (let i = 0; i < 3; i++) assert.match((await reader.reply())[0], /^250 /);
  assert.match((await reader.reply())[0], /^354 /);
  await send(conn, "Subject: half a message\r\n");
  assert.match((await reader.reply())[0], /^421 4\.4\.2 /);
  assert.ok(await reader.closedByServer());
});

Deno.test("smtp closes the longest-idle client with 421 4.3.2 to make room at the cap", async () => {
  await using smtp = await startLikeTranscripts({ maxConnections: 1 });
  const port = smtp.addresses.tcp.port;
  using idle = await Deno.connect({ hostname: "127.0.0.1", port });
  const ri = new LineReader(idle);
  await ri.reply();
  using fresh = await Deno.connect({ hostname: "127.0.0.1", port });
  const rf = new LineReader(fresh);
  assert.match((await rf.reply())[0], /^220 /);
  assert.match((await ri.reply())[0], /^421 4\.3\.2 /);
  await send(fresh, "NOOP\r\n");
  assert.match((await rf.reply())[0], /^250 /);
});

Deno.test("smtp accepts SMTPUTF8 addresses and says so in the Received header", async () => {
  await using smtp = await startLikeTranscripts({ mailbox: [] });
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: smtp.addresses.tcp.port });
  const reader = new LineReader(conn);
  await reader.reply();
  await send(
    conn,
    "EHLO c\r\nMAIL FROM:<发件人@far.test> SMTPUTF8\r\nRCPT TO:<用户@example.test>\r\nDATA\r\n",
  );
  await reader.reply();
  for (let i = 0; i < 2; i++) assert.match((await reader.reply())[0], /^250 /);
  assert.match((await reader.reply())[0], /^354 /);
  await send(conn, "Subject: utf8\r\n\r\n你好\r\n.\r\n");
  assert.match((await reader.reply())[0], /^250 2\.0\.0 OK/);
  const [text] = maildirMessages(smtp.dataDir, "%e7%94%a8%e6%88%b7@example.test");
  assert.ok(text.startsWith("Return-Path: <发件人@far.test>\r\n"), text);
  assert.match(text, / with UTF8ESMTP id /);
});

Deno.test("parseUsers() reads user:password lines, skipping comments", () => {
  assert.deepEqual(
    [...parseUsers("# accounts\ncarol:s3cret\n\ndan:a:b\n")],
    [["carol", "s3cret"], ["dan", "a:b"]],
  );
  assert.throws(() => parseUsers("nopassword\n"), TypeError);
});
