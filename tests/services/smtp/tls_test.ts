// STARTTLS with a certificate made by openssl in the test: the handshake,
// the session reset after it (RFC 3207 4.2), pipelined bytes before the
// handshake discarded, AUTH allowed only over TLS; then Python's smtplib
// and swaks --tls.

import assert from "node:assert/strict";
import { service } from "../../../services/smtp/mod.ts";
import { interopTest } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";
import { LineReader, send } from "./socket_driver.ts";

/** A self-signed certificate for localhost and 127.0.0.1, made once per test run. */
async function makeCertificate(): Promise<{ dir: string; cert: string; key: string }> {
  const dir = await Deno.makeTempDir({ prefix: "underhood-smtp-tls-" });
  const out = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-keyout",
      `${dir}/key.pem`,
      "-out",
      `${dir}/cert.pem`,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return { dir, cert: `${dir}/cert.pem`, key: `${dir}/key.pem` };
}

async function startWithTls(files: { cert: string; key: string }) {
  return await startService(service, {
    domain: ["example.test"],
    user: "carol",
    password: "s3cret",
    tlsCert: files.cert,
    tlsKey: files.key,
  });
}

interopTest("STARTTLS: handshake, pipelined bytes dropped, state reset, AUTH only over TLS", {
  binaries: ["openssl"],
  async fn() {
    const files = await makeCertificate();
    try {
      await using smtp = await startWithTls(files);
      using tcp = await Deno.connect({
        hostname: "127.0.0.1",
        port: smtp.addresses.submission.port,
      });
      const plain = new LineReader(tcp);
      await plain.reply();
      await send(tcp, "EHLO c.test\r\n");
      const ehlo = await plain.reply();
      assert.ok(ehlo.includes("250-STARTTLS"), ehlo.join("\n"));
      assert.ok(!ehlo.some((l) => l.includes("AUTH")), "no AUTH offered before TLS");
      await send(tcp, "AUTH PLAIN AGNhcm9sAHMzY3JldA==\r\n");
      assert.match((await plain.reply())[0], /^538 5\.7\.11 /);
      // An injected command pipelined behind STARTTLS must never be answered.
      await send(tcp, "STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\n");
      assert.match((await plain.reply())[0], /^220 2\.0\.0 /);
      const caCert = await Deno.readTextFile(files.cert);
      using tls = await Deno.startTls(tcp, { hostname: "localhost", caCerts: [caCert] });
      const secure = new LineReader(tls);
      await send(tls, "MAIL FROM:<a@example.test>\r\n");
      assert.match((await secure.reply())[0], /^503 5\.5\.1 EHLO/, "the session was reset");
      await send(tls, "EHLO c.test\r\n");
      const again = await secure.reply();
      assert.ok(!again.includes("250-STARTTLS"), again.join("\n"));
      assert.ok(again.includes("250-AUTH PLAIN LOGIN"), again.join("\n"));
      await send(tls, "AUTH PLAIN AGNhcm9sAHMzY3JldA==\r\n");
      assert.match((await secure.reply())[0], /^235 2\.7\.0 /);
      await send(tls, "MAIL FROM:<carol@example.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n");
      assert.match((await secure.reply())[0], /^250 /);
      assert.match((await secure.reply())[0], /^250 /);
      assert.match((await secure.reply())[0], /^354 /);
      await send(tls, "Subject: over tls\r\n\r\nsecret\r\n.\r\nQUIT\r\n");
      assert.match((await secure.reply())[0], /^250 2\.0\.0 OK/);
      assert.match((await secure.reply())[0], /^221 /);
      const api = `http://127.0.0.1:${smtp.addresses.admin.port}/api`;
      const [summary] = await (await fetch(`${api}/mailboxes/alice@example.test/messages`)).json();
      const raw = await (await fetch(
        `${api}/mailboxes/alice@example.test/messages/${summary.id}/raw`,
      )).text();
      assert.match(raw, / with ESMTPSA id /, "Received names the protocol (RFC 3848)");
    } finally {
      await Deno.remove(files.dir, { recursive: true });
    }
  },
});

const SMTPLIB_TLS = `
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as s:
    s.starttls(context=ctx)
    s.login("carol", "s3cret")
    s.sendmail("carol@example.test", ["alice@example.test"], "Subject: py tls\\r\\n\\r\\nhi\\r\\n")
print("SENT")
`;

interopTest("python smtplib: STARTTLS, verified certificate, AUTH", {
  binaries: ["openssl", "python3"],
  async fn() {
    const files = await makeCertificate();
    try {
      await using smtp = await startWithTls(files);
      const out = await new Deno.Command("python3", {
        args: ["-c", SMTPLIB_TLS, String(smtp.addresses.submission.port), files.cert],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.equal(new TextDecoder().decode(out.stdout).trim(), "SENT");
    } finally {
      await Deno.remove(files.dir, { recursive: true });
    }
  },
});

interopTest("swaks --tls with AUTH on the submission port", {
  binaries: ["openssl", "swaks"],
  async fn() {
    const files = await makeCertificate();
    try {
      await using smtp = await startWithTls(files);
      const out = await new Deno.Command("swaks", {
        args: [
          "--server",
          `127.0.0.1:${smtp.addresses.submission.port}`,
          "--tls",
          "--auth",
          "LOGIN",
          "--auth-user",
          "carol",
          "--auth-password",
          "s3cret",
          "--from",
          "carol@example.test",
          "--to",
          "alice@example.test",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
      assert.match(text, /TLS started/);
    } finally {
      await Deno.remove(files.dir, { recursive: true });
    }
  },
});

/** Connects to the submission port and starts TLS; returns a reader on the TLS session. */
async function secureSession(port: number, cert: string) {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  const plain = new LineReader(tcp);
  await plain.reply();
  await send(tcp, "EHLO c.test\r\n");
  await plain.reply();
  await send(tcp, "STARTTLS\r\n");
  assert.match((await plain.reply())[0], /^220 /);
  const tls = await Deno.startTls(tcp, {
    hostname: "localhost",
    caCerts: [await Deno.readTextFile(cert)],
  });
  await send(tls, "EHLO c.test\r\n");
  const reader = new LineReader(tls);
  assert.match((await reader.reply()).at(-1)!, /^250 /);
  return { tls, reader };
}

// Each 421 the server says on its own (a timeout, shutdown, too many errors)
// must go out inside the TLS session: written to the raw socket, the client's
// TLS layer sees garbage and the reply is lost.
interopTest("a 421 inside a TLS session goes out over TLS (timeout, shutdown, too many errors)", {
  binaries: ["openssl"],
  async fn() {
    const files = await makeCertificate();
    try {
      {
        await using smtp = await startService(service, {
          domain: ["example.test"],
          tlsCert: files.cert,
          tlsKey: files.key,
          commandTimeoutMs: 300,
        });
        const { tls, reader } = await secureSession(smtp.addresses.submission.port, files.cert);
        assert.match((await reader.reply())[0], /^421 4\.4\.2 /, "the timeout's 421");
        tls.close();
      }
      {
        const smtp = await startService(service, {
          domain: ["example.test"],
          tlsCert: files.cert,
          tlsKey: files.key,
        });
        const { tls, reader } = await secureSession(smtp.addresses.submission.port, files.cert);
        const closing = smtp.close();
        assert.match((await reader.reply())[0], /^421 4\.3\.2 /, "the shutdown's 421");
        await closing;
        tls.close();
      }
      {
        await using smtp = await startService(service, {
          domain: ["example.test"],
          tlsCert: files.cert,
          tlsKey: files.key,
          maxErrors: 2,
        });
        const { tls, reader } = await secureSession(smtp.addresses.submission.port, files.cert);
        await send(tls, "BOGUS\r\nBOGUS\r\nBOGUS\r\n");
        const replies = [await reader.reply(), await reader.reply(), await reader.reply()];
        assert.match(replies.at(-1)![0], /^421 4\.7\.0 /, "too many errors: 421");
        tls.close();
      }
    } finally {
      await Deno.remove(files.dir, { recursive: true });
    }
  },
});
