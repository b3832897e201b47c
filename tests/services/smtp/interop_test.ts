// Real clients against the smtp service: Python's smtplib (plain, AUTH on
// the submission port), nodemailer (pipelining, AUTH), and swaks (plain,
// --pipeline, --auth, BDAT) when installed. Each is skipped visibly when
// its client is missing, and required under REQUIRE_INTEROP=1.

import assert from "node:assert/strict";
import nodemailer from "nodemailer";
import { service } from "../../../services/smtp/mod.ts";
import { interopTest } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";

function startForClients() {
  return startService(service, {
    domain: ["example.test"],
    user: "carol",
    password: "s3cret",
    allowAuthWithoutTls: true,
  });
}

async function messagesIn(
  api: string,
  mailbox: string,
): Promise<{ subject: string; id: string }[]> {
  const response = await fetch(`${api}/mailboxes/${mailbox}/messages`);
  return await response.json();
}

const SMTPLIB = `
import smtplib, sys
from email.message import EmailMessage
port, sub = int(sys.argv[1]), int(sys.argv[2])
msg = EmailMessage()
msg["From"] = "py@far.test"
msg["To"] = "alice@example.test"
msg["Subject"] = "from smtplib"
msg.set_content("hello\\n.leading dot\\n")
with smtplib.SMTP("127.0.0.1", port) as s:
    s.send_message(msg)
msg.replace_header("Subject", "from smtplib with auth")
msg.replace_header("To", "dan@elsewhere.test")
with smtplib.SMTP("127.0.0.1", sub) as s:
    s.ehlo()
    s.login("carol", "s3cret")
    s.send_message(msg)
try:
    with smtplib.SMTP("127.0.0.1", port) as s:
        s.sendmail("py@far.test", ["victim@elsewhere.test"], "Subject: relay\\r\\n\\r\\nno\\r\\n")
    print("RELAYED")
except smtplib.SMTPRecipientsRefused as e:
    print("REFUSED", list(e.recipients.values())[0][0])
`;

interopTest("python smtplib sends plain and with AUTH; relay refused", {
  binaries: ["python3"],
  async fn() {
    await using smtp = await startForClients();
    const out = await new Deno.Command("python3", {
      args: [
        "-c",
        SMTPLIB,
        String(smtp.addresses.tcp.port),
        String(smtp.addresses.submission.port),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.equal(new TextDecoder().decode(out.stdout).trim(), "REFUSED 554");
    const api = `http://127.0.0.1:${smtp.addresses.admin.port}/api`;
    const inbox = await messagesIn(api, "alice@example.test");
    assert.deepEqual(inbox.map((m) => m.subject), ["from smtplib"]);
    const raw =
      await (await fetch(`${api}/mailboxes/alice@example.test/messages/${inbox[0].id}/raw`))
        .text();
    assert.match(raw, /\r\n\.leading dot\r\n/);
  },
});

Deno.test("nodemailer sends through the submission port with AUTH and pipelining", async () => {
  await using smtp = await startForClients();
  const transport = nodemailer.createTransport({
    host: "127.0.0.1",
    port: smtp.addresses.submission.port,
    secure: false,
    ignoreTLS: true,
    auth: { user: "carol", pass: "s3cret" },
  });
  try {
    const info = await transport.sendMail({
      from: "carol@example.test",
      to: ["alice@example.test", "bob@example.test"],
      subject: "from nodemailer",
      text: "plain",
      html: "<b>html</b>",
      attachments: [{ filename: "a.txt", content: "attached" }],
    });
    assert.deepEqual(info.accepted, ["alice@example.test", "bob@example.test"]);
    assert.match(info.response, /^250 2\.0\.0 OK/);
  } finally {
    transport.close();
  }
  const api = `http://127.0.0.1:${smtp.addresses.admin.port}/api`;
  const [message] = await messagesIn(api, "bob@example.test");
  const parsed = await (await fetch(`${api}/mailboxes/bob@example.test/messages/${message.id}`))
    .json();
  assert.equal(parsed.subject, "from nodemailer");
  assert.deepEqual(parsed.attachments.map((a: { filename: string }) => a.filename), ["a.txt"]);
});

interopTest("swaks sends plain, pipelined, with AUTH and with BDAT", {
  binaries: ["swaks"],
  async fn() {
    await using smtp = await startForClients();
    const port = String(smtp.addresses.tcp.port);
    const sub = String(smtp.addresses.submission.port);
    const runs: string[][] = [
      ["--server", `127.0.0.1:${port}`, "--to", "alice@example.test", "--header", "Subject: s1"],
      [
        "--server",
        `127.0.0.1:${port}`,
        "--to",
        "alice@example.test",
        "--pipeline",
        "--header",
        "Subject: s2",
      ],
      [
        "--server",
        `127.0.0.1:${sub}`,
        "--to",
        "alice@example.test",
        "--auth",
        "PLAIN",
        "--auth-user",
        "carol",
        "--auth-password",
        "s3cret",
        "--header",
        "Subject: s3",
      ],
    ];
    // swaks learned BDAT in release 20240103; older ones (Debian 12 has
    // 20201014) reject the flag.
    const help = await new Deno.Command("swaks", { args: ["--help"], stdout: "piped" }).output();
    const bdat = new TextDecoder().decode(help.stdout).includes("--bdat");
    if (bdat) {
      runs.push([
        "--server",
        `127.0.0.1:${port}`,
        "--to",
        "alice@example.test",
        "--bdat",
        "--header",
        "Subject: s4",
      ]);
    } else console.warn("swaks has no --bdat: BDAT run skipped (BDAT is tested over raw sockets)");
    for (const args of runs) {
      const out = await new Deno.Command("swaks", {
        args: ["--from", "sw@far.test", "--helo", "swaks.test", ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(
        out.code,
        0,
        new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
      );
    }
    const api = `http://127.0.0.1:${smtp.addresses.admin.port}/api`;
    const subjects = (await messagesIn(api, "alice@example.test")).map((m) => m.subject).sort();
    assert.deepEqual(subjects, bdat ? ["s1", "s2", "s3", "s4"] : ["s1", "s2", "s3"]);
  },
});
