// Outbound delivery end to end, all on 127.0.0.0/8: our DNS server serves
// zones whose MX records point at 127.0.0.1, our resolver answers only
// those zones (--local-only with --stub: nothing is ever asked of the
// public roots), and one smtp instance relays to another found through the
// MX. Then a null MX and a 5xx from the receiver, each bounced to the
// sender as an RFC 3464 report, and a retry that succeeds once the
// receiver is up, across a restart of the sender.

import assert from "node:assert/strict";
import { service as dnsService } from "../../../services/dns/mod.ts";
import { service as resolverService } from "../../../services/resolver/mod.ts";
import { service } from "../../../services/smtp/mod.ts";
import { DEAD_PORT } from "../../_support/dead_port.ts";
import { interopTest } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";
import { waitFor } from "../cache/wait.ts";
import { LineReader, send } from "./socket_driver.ts";

const ZONES: Record<string, string> = {
  "remote.test": [
    "$ORIGIN remote.test.",
    "$TTL 60",
    "@ IN SOA ns1.remote.test. hostmaster.remote.test. 1 3600 900 604800 60",
    "  IN NS ns1.remote.test.",
    "  IN MX 20 mx2.remote.test.",
    "  IN MX 10 mx1.remote.test.",
    "ns1 IN A 127.0.0.1",
    "mx1 IN A 127.0.0.1",
    "mx2 IN A 127.0.0.2",
  ].join("\n"),
  "nullmx.test": [
    "$ORIGIN nullmx.test.",
    "$TTL 60",
    "@ IN SOA ns1.nullmx.test. hostmaster.nullmx.test. 1 3600 900 604800 60",
    "  IN NS ns1.nullmx.test.",
    "  IN MX 0 .",
    "ns1 IN A 127.0.0.1",
  ].join("\n"),
};

async function startDns() {
  const dir = await Deno.makeTempDir({ prefix: "underhood-smtp-zones-" });
  const paths: string[] = [];
  for (const [name, text] of Object.entries(ZONES)) {
    const path = `${dir}/${name}.zone`;
    await Deno.writeTextFile(path, text + "\n");
    paths.push(path);
  }
  const dns = await startService(dnsService, { zone: paths, rrlRate: 0 });
  const resolver = await startService(resolverService, {
    stub: Object.keys(ZONES).map((z) => `${z}=127.0.0.1:${dns.addresses.udp.port}`),
    localOnly: true,
  });
  return {
    resolver: `127.0.0.1:${resolver.addresses.udp.port}`,
    async [Symbol.asyncDispose]() {
      await resolver.close();
      await dns.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function submit(port: number, from: string, to: string, subject: string): Promise<void> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const reader = new LineReader(conn);
  await reader.reply();
  await send(conn, `HELO c\r\nMAIL FROM:<${from}>\r\nRCPT TO:<${to}>\r\nDATA\r\n`);
  for (let i = 0; i < 3; i++) assert.match((await reader.reply())[0], /^250 /);
  assert.match((await reader.reply())[0], /^354 /);
  await send(conn, `Subject: ${subject}\r\n\r\nhello\r\n.\r\nQUIT\r\n`);
  assert.match((await reader.reply())[0], /^250 /);
}

async function messages(
  adminPort: number,
  mailbox: string,
): Promise<{ subject: string; id: string }[]> {
  return await (await fetch(`http://127.0.0.1:${adminPort}/api/mailboxes/${mailbox}/messages`))
    .json();
}

Deno.test("smtp delivers through the MX found by our resolver, and bounces what fails", async () => {
  await using dns = await startDns();
  await using receiver = await startService(service, {
    hostname: "mx1.remote.test",
    mailbox: ["bob@remote.test"],
  });
  await using sender = await startService(service, {
    hostname: "mail.home.test",
    domain: ["home.test"],
    trustedNetwork: ["127.0.0.0/8"],
    resolver: dns.resolver,
    deliveryPort: receiver.addresses.tcp.port,
    retryBaseMs: 100,
  });
  const port = sender.addresses.tcp.port;
  await submit(port, "alice@home.test", "bob@remote.test", "relayed");
  await waitFor(
    "the relayed message at the receiver",
    async () => (await messages(receiver.addresses.admin.port, "bob@remote.test")).length === 1,
  );
  const [relayed] = await messages(receiver.addresses.admin.port, "bob@remote.test");
  assert.equal(relayed.subject, "relayed");
  const raw = await (await fetch(
    `http://127.0.0.1:${receiver.addresses.admin.port}/api/mailboxes/bob@remote.test/messages/${relayed.id}/raw`,
  )).text();
  assert.match(raw, /by mx1\.remote\.test with ESMTP/, "the receiver's Received header");
  assert.match(raw, /by mail\.home\.test with SMTP/, "the sender's Received header, kept");

  await submit(port, "alice@home.test", "nobody@remote.test", "to an unknown user");
  await submit(port, "alice@home.test", "x@nullmx.test", "to a null MX");
  await waitFor(
    "two bounces to the sender",
    async () => (await messages(sender.addresses.admin.port, "alice@home.test")).length === 2,
  );
  const bounces = await messages(sender.addresses.admin.port, "alice@home.test");
  const texts = await Promise.all(bounces.map(async (b) =>
    await (await fetch(
      `http://127.0.0.1:${sender.addresses.admin.port}/api/mailboxes/alice@home.test/messages/${b.id}/raw`,
    )).text()
  ));
  const all = texts.join("\n");
  assert.match(all, /report-type=delivery-status/);
  assert.match(
    all,
    /Final-Recipient: rfc822; nobody@remote\.test\r\nAction: failed\r\nStatus: 5\.1\.1/,
  );
  assert.match(
    all,
    /Final-Recipient: rfc822; x@nullmx\.test\r\nAction: failed\r\nStatus: 5\.1\.10/,
  );
  assert.match(all, /Return-Path: <>/, "bounces come from the null sender");
});

Deno.test("smtp retries with backoff until the exchanger answers, across a restart", async () => {
  await using dns = await startDns();
  // First the exchanger's port refuses every attempt; then the sender is
  // restarted with the port of a receiver that is up, and its queue carries
  // the message over. (A port released for the receiver to bind later could
  // be taken meanwhile by a test running alongside.)
  const dataDir = await Deno.makeTempDir({ prefix: "underhood-smtp-retry-" });
  try {
    const config = {
      hostname: "mail.home.test",
      domain: ["home.test"],
      trustedNetwork: ["127.0.0.0/8"],
      resolver: dns.resolver,
      deliveryPort: DEAD_PORT,
      retryBaseMs: 50,
      retryMaxMs: 200,
      dataDir,
    };
    {
      await using sender = await startService(service, config);
      await submit(sender.addresses.tcp.port, "alice@home.test", "bob@remote.test", "late");
      await waitFor("a failed attempt recorded", () => {
        const env = [...Deno.readDirSync(`${dataDir}/queue`)].find((e) => e.name.endsWith(".env"));
        if (env === undefined) return false;
        return JSON.parse(Deno.readTextFileSync(`${dataDir}/queue/${env.name}`)).attempts >= 1;
      });
    }
    assert.ok([...Deno.readDirSync(`${dataDir}/queue`)].some((e) => e.name.endsWith(".env")));
    await using receiver = await startService(service, {
      hostname: "mx1.remote.test",
      domain: ["remote.test"],
    });
    await using _restarted = await startService(service, {
      ...config,
      deliveryPort: receiver.addresses.tcp.port,
    });
    await waitFor(
      "the retried message at the receiver",
      async () => (await messages(receiver.addresses.admin.port, "bob@remote.test")).length === 1,
    );
    await waitFor(
      "the queue emptied",
      () => [...Deno.readDirSync(`${dataDir}/queue`)].length === 0,
    );
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});

async function certificateFor(name: string): Promise<{ dir: string; cert: string; key: string }> {
  const dir = await Deno.makeTempDir({ prefix: "underhood-smtp-mxcert-" });
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
      `/CN=${name}`,
      "-addext",
      `subjectAltName=DNS:${name}`,
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

interopTest(
  "smtp delivers over STARTTLS to a trusted exchanger, in plain text to an untrusted one",
  {
    binaries: ["openssl"],
    async fn() {
      await using dns = await startDns();
      const files = await certificateFor("mx1.remote.test");
      try {
        await using receiver = await startService(service, {
          hostname: "mx1.remote.test",
          domain: ["remote.test"],
          tlsCert: files.cert,
          tlsKey: files.key,
        });
        const base = {
          domain: ["home.test"],
          trustedNetwork: ["127.0.0.0/8"],
          resolver: dns.resolver,
          deliveryPort: receiver.addresses.tcp.port,
        };
        await using trusting = await startService(service, {
          ...base,
          hostname: "trusting.home.test",
          deliveryCaCert: files.cert,
        });
        await using doubting = await startService(service, {
          ...base,
          hostname: "doubting.home.test",
        });
        await submit(trusting.addresses.tcp.port, "a@home.test", "bob@remote.test", "tls");
        await submit(doubting.addresses.tcp.port, "a@home.test", "bob@remote.test", "plain");
        await waitFor(
          "both messages at the receiver",
          async () =>
            (await messages(receiver.addresses.admin.port, "bob@remote.test")).length === 2,
        );
        const admin =
          `http://127.0.0.1:${receiver.addresses.admin.port}/api/mailboxes/bob@remote.test`;
        const bySubject = new Map<string, string>();
        for (const m of await messages(receiver.addresses.admin.port, "bob@remote.test")) {
          bySubject.set(m.subject, await (await fetch(`${admin}/messages/${m.id}/raw`)).text());
        }
        assert.match(bySubject.get("tls")!, /by mx1\.remote\.test with ESMTPS id/);
        assert.match(bySubject.get("plain")!, /by mx1\.remote\.test with ESMTP id/);
      } finally {
        await Deno.remove(files.dir, { recursive: true });
      }
    },
  },
);
