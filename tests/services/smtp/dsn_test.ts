// DSN (RFC 3461) acted on, and the RFC 3464 reports it produces: first the
// pure parts (parameter syntax, which report a NOTIFY asks for, the report's
// fields and returned content), then end to end between two of our servers
// found through MX records on our dns and resolver (all on 127.0.0.0/8):
// a "delivered" report from the far server with ENVID and ORCPT carried
// through the sender's queue, NOTIFY=NEVER silencing a failure, RET=FULL
// and RET=HDRS, one "delayed" report that survives a restart, and a
// "relayed" report when the next hop does not speak DSN.

import assert from "node:assert/strict";
import { service as dnsService } from "../../../services/dns/mod.ts";
import { service as resolverService } from "../../../services/resolver/mod.ts";
import {
  deliveryReport,
  dsnParamError,
  parseNotify,
  rcptParamsFor,
  wants,
  xtextDecode,
  xtextEncode,
} from "../../../services/smtp/dsn.ts";
import { service } from "../../../services/smtp/mod.ts";
import { utf8 } from "../../../lib/bytes.ts";
import { DEAD_PORT } from "../../_support/dead_port.ts";
import { forwarder } from "../../_support/forwarder.ts";
import { startService } from "../../_support/service.ts";
import { waitFor } from "../cache/wait.ts";
import { LineReader, send } from "./socket_driver.ts";

Deno.test("parseNotify() takes NEVER alone or a list of SUCCESS, FAILURE, DELAY", () => {
  assert.deepEqual(parseNotify("NEVER"), []);
  assert.deepEqual(parseNotify("success,Delay"), ["SUCCESS", "DELAY"]);
  assert.equal(parseNotify("NEVER,SUCCESS"), undefined);
  assert.equal(parseNotify("SOMETIMES"), undefined);
  assert.equal(parseNotify(""), undefined);
});

Deno.test("dsnParamError() refuses malformed RET, ENVID, NOTIFY and ORCPT", () => {
  const table: [Record<string, string | true>, string | undefined][] = [
    [{ RET: "HDRS", ENVID: "QQ314159" }, undefined],
    [{ NOTIFY: "SUCCESS,FAILURE", ORCPT: "rfc822;bob+2Bx@example.test" }, undefined],
    [{ RET: "SOME" }, "Bad RET parameter"],
    [{ RET: true }, "Bad RET parameter"],
    [{ ENVID: "a=b" }, "Bad ENVID parameter"],
    [{ ENVID: "x".repeat(101) }, "Bad ENVID parameter"],
    [{ NOTIFY: "NEVER,DELAY" }, "Bad NOTIFY parameter"],
    [{ ORCPT: "bob@example.test" }, "Bad ORCPT parameter"],
    [{ ORCPT: "rfc822;bob+zz" }, "Bad ORCPT parameter"],
  ];
  for (const [params, expected] of table) {
    assert.equal(dsnParamError(new Map(Object.entries(params))), expected, JSON.stringify(params));
  }
});

Deno.test("wants(): no NOTIFY means failures only; NEVER means nothing", () => {
  assert.ok(wants(undefined, "FAILURE"));
  assert.ok(!wants(undefined, "SUCCESS") && !wants(undefined, "DELAY"));
  assert.ok(!wants({ notify: [] }, "FAILURE"));
  assert.ok(wants({ notify: ["DELAY"] }, "DELAY") && !wants({ notify: ["DELAY"] }, "FAILURE"));
});

Deno.test("xtext round trip, and the ORCPT a relay adds when the client gave none", () => {
  assert.equal(xtextEncode("a+b=c d@x.test"), "a+2Bb+3Dc+20d@x.test");
  assert.equal(xtextDecode("a+2Bb+3Dc+20d@x.test"), "a+b=c d@x.test");
  assert.equal(rcptParamsFor("bob@x.test", undefined), " ORCPT=rfc822;bob@x.test");
  assert.equal(
    rcptParamsFor("bob@x.test", { notify: [], orcpt: "rfc822;b@y.test" }),
    " NOTIFY=NEVER ORCPT=rfc822;b@y.test",
  );
});

const ORIGINAL = utf8(
  "Subject: the original\r\nFrom: <alice@home.test>\r\n\r\nthe secret body\r\n",
);

function report(action: "failed" | "delivered", ret: "FULL" | "HDRS" | undefined): string {
  return deliveryReport({
    hostname: "mail.home.test",
    id: "q1",
    to: "alice@home.test",
    message: { ret, envid: "QQ+2B314159" },
    arrivalMs: 0,
    nowMs: 0,
    entries: [{
      recipient: "bob@remote.test",
      dsn: { notify: ["SUCCESS", "FAILURE"], orcpt: "rfc822;Bob+2BX@remote.test" },
      action,
      status: action === "failed" ? "5.1.1" : "2.0.0",
      diagnostic: action === "failed" ? "550 5.1.1 no such user" : undefined,
    }],
    original: ORIGINAL,
  });
}

Deno.test("deliveryReport(): RFC 3464 fields, ENVID and ORCPT decoded", () => {
  const text = report("failed", undefined);
  assert.match(text, /report-type=delivery-status/);
  assert.match(
    text,
    /Reporting-MTA: dns; mail\.home\.test\r\nOriginal-Envelope-Id: QQ\+314159\r\n/,
  );
  assert.match(
    text,
    /Original-Recipient: rfc822; Bob\+X@remote\.test\r\nFinal-Recipient: rfc822; bob@remote\.test\r\nAction: failed\r\nStatus: 5\.1\.1\r\n/,
  );
  assert.match(text, /Diagnostic-Code: smtp; 550 5\.1\.1 no such user/);
});

Deno.test("deliveryReport(): RET=FULL returns the body on failure only; HDRS never", () => {
  const full = report("failed", "FULL");
  assert.match(full, /Content-Type: message\/rfc822\r\n\r\nSubject: the original/);
  assert.match(full, /the secret body/);
  for (const [action, ret] of [["failed", "HDRS"], ["delivered", "FULL"]] as const) {
    const text = report(action, ret);
    assert.match(text, /Content-Type: text\/rfc822-headers\r\n\r\nSubject: the original/);
    assert.doesNotMatch(text, /the secret body/, `${action} with RET=${ret}`);
  }
});

// End to end.

function zone(name: string): string {
  return [
    `$ORIGIN ${name}.`,
    "$TTL 60",
    `@ IN SOA ns1.${name}. hostmaster.${name}. 1 3600 900 604800 60`,
    `  IN NS ns1.${name}.`,
    `  IN MX 10 mx1.${name}.`,
    "ns1 IN A 127.0.0.1",
    "mx1 IN A 127.0.0.1",
  ].join("\n");
}

async function startDns() {
  const dir = await Deno.makeTempDir({ prefix: "underhood-smtp-dsn-zones-" });
  const names = ["home.test", "remote.test"];
  const paths: string[] = [];
  for (const name of names) {
    await Deno.writeTextFile(`${dir}/${name}.zone`, zone(name) + "\n");
    paths.push(`${dir}/${name}.zone`);
  }
  const dns = await startService(dnsService, { zone: paths, rrlRate: 0 });
  const resolver = await startService(resolverService, {
    stub: names.map((z) => `${z}=127.0.0.1:${dns.addresses.udp.port}`),
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

/** One message over SMTP with the given MAIL and per-recipient RCPT parameters; expects 250s. */
async function submit(
  port: number,
  mail: string,
  rcpts: string[],
  subject: string,
): Promise<void> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const reader = new LineReader(conn);
  await reader.reply();
  await send(conn, "EHLO c.test\r\n");
  await reader.reply();
  await send(conn, `MAIL FROM:${mail}\r\n${rcpts.map((r) => `RCPT TO:${r}\r\n`).join("")}DATA\r\n`);
  for (let i = 0; i <= rcpts.length; i++) assert.match((await reader.reply())[0], /^250 /);
  assert.match((await reader.reply())[0], /^354 /);
  await send(conn, `Subject: ${subject}\r\n\r\nthe secret body\r\n.\r\nQUIT\r\n`);
  assert.match((await reader.reply())[0], /^250 /);
}

async function mailbox(adminPort: number, address: string): Promise<string[]> {
  const api = `http://127.0.0.1:${adminPort}/api/mailboxes/${address}/messages`;
  const list: { id: string }[] = await (await fetch(api)).json();
  return await Promise.all(list.map(async (m) => await (await fetch(`${api}/${m.id}/raw`)).text()));
}

function queueEmpty(dataDir: string): boolean {
  return [...Deno.readDirSync(`${dataDir}/queue`)].length === 0;
}

Deno.test("DSN between two of our servers: delivered with ENVID and ORCPT, NEVER, RET", async () => {
  await using dns = await startDns();
  // Each delivers to the other: remote reaches home through a port held from
  // the start (a port released for home to bind later could be taken by a
  // test running alongside).
  await using homePort = forwarder();
  await using remote = await startService(service, {
    hostname: "mx1.remote.test",
    mailbox: ["bob@remote.test"],
    resolver: dns.resolver,
    deliveryPort: homePort.port,
  });
  await using home = await startService(service, {
    hostname: "mx1.home.test",
    domain: ["home.test"],
    trustedNetwork: ["127.0.0.0/8"],
    resolver: dns.resolver,
    deliveryPort: remote.addresses.tcp.port,
  });
  homePort.to(home.addresses.tcp.port);
  const port = home.addresses.tcp.port;
  // Delivered at the far end: the report comes from there, with the ENVID
  // and ORCPT that travelled through home's queue.
  await submit(port, "<alice@home.test> RET=HDRS ENVID=QQ314159", [
    "<bob@remote.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob+2BTag@remote.test",
    "<nobody@remote.test> NOTIFY=NEVER",
  ], "asked for success");
  // Refused at the far end with RET=FULL: the whole message comes back.
  await submit(port, "<alice@home.test> RET=FULL", [
    "<ghost@remote.test> NOTIFY=FAILURE",
  ], "returned whole");
  // A local recipient at home asking for SUCCESS.
  await submit(port, "<alice@home.test>", ["<carol@home.test> NOTIFY=SUCCESS"], "local");
  // No NOTIFY, refused: the default is a failure report; RET=HDRS cuts the body.
  await submit(port, "<alice@home.test> RET=HDRS", ["<nemo@remote.test>"], "headers only");
  await waitFor("home's queue emptied", () => queueEmpty(home.dataDir), { attempts: 1_000 });
  await waitFor(
    "four reports to alice",
    async () => (await mailbox(home.addresses.admin.port, "alice@home.test")).length === 4,
    { attempts: 1_000 },
  );
  await waitFor("remote's queue emptied", () => queueEmpty(remote.dataDir));
  const reports = await mailbox(home.addresses.admin.port, "alice@home.test");
  const find = (pattern: RegExp) => {
    const found = reports.filter((r) => pattern.test(r));
    assert.equal(found.length, 1, `one report matching ${pattern}`);
    return found[0];
  };
  const delivered = find(/Subject: asked for success/);
  assert.match(delivered, /Reporting-MTA: dns; mx1\.remote\.test/, "reported by the far server");
  assert.match(delivered, /Original-Envelope-Id: QQ314159/);
  assert.match(
    delivered,
    /Original-Recipient: rfc822; Bob\+Tag@remote\.test\r\nFinal-Recipient: rfc822; bob@remote\.test\r\nAction: delivered\r\nStatus: 2\.0\.0/,
  );
  assert.doesNotMatch(delivered, /the secret body/);
  assert.doesNotMatch(reports.join("\n"), /nobody@remote\.test/, "NOTIFY=NEVER: no report");
  const full = find(/Subject: returned whole/);
  assert.match(full, /Action: failed\r\nStatus: 5\.1\.1/);
  assert.match(full, /Content-Type: message\/rfc822/);
  assert.match(full, /the secret body/, "RET=FULL returns the body");
  const local = find(/Subject: local/);
  assert.match(local, /Reporting-MTA: dns; mx1\.home\.test/);
  assert.match(local, /Final-Recipient: rfc822; carol@home\.test\r\nAction: delivered/);
  const hdrs = find(/Subject: headers only/);
  assert.match(hdrs, /Final-Recipient: rfc822; nemo@remote\.test\r\nAction: failed/);
  assert.doesNotMatch(hdrs, /the secret body/, "RET=HDRS returns the headers only");
  for (const r of reports) assert.match(r, /^Return-Path: <>/, "reports come from <>");
});

Deno.test("NOTIFY=DELAY: one delayed report past the threshold, remembered across a restart", async () => {
  await using dns = await startDns();
  const dataDir = await Deno.makeTempDir({ prefix: "underhood-smtp-dsn-delay-" });
  try {
    const config = {
      hostname: "mx1.home.test",
      domain: ["home.test"],
      trustedNetwork: ["127.0.0.0/8"],
      resolver: dns.resolver,
      deliveryPort: DEAD_PORT, // nobody listens: every attempt is deferred
      retryBaseMs: 20,
      retryMaxMs: 40,
      delayWarningMs: 1,
      dataDir,
    };
    const attempts = () => {
      const env = [...Deno.readDirSync(`${dataDir}/queue`)].find((e) => e.name.endsWith(".env"));
      return env === undefined
        ? { attempts: 0 }
        : JSON.parse(Deno.readTextFileSync(`${dataDir}/queue/${env.name}`));
    };
    {
      await using home = await startService(service, config);
      await submit(home.addresses.tcp.port, "<alice@home.test> ENVID=late1", [
        "<bob@remote.test> NOTIFY=DELAY,FAILURE",
        "<dan@remote.test> NOTIFY=FAILURE",
      ], "slow");
      await waitFor("three attempts", () => attempts().attempts >= 3, { attempts: 1_000 });
      assert.deepEqual(attempts().delayNotified, ["bob@remote.test"], "kept in the .env file");
    }
    const before = attempts().attempts;
    await using home = await startService(service, config);
    await waitFor("two more attempts after the restart", () => attempts().attempts >= before + 2, {
      attempts: 1_000,
    });
    const reports = await mailbox(home.addresses.admin.port, "alice@home.test");
    assert.equal(reports.length, 1, "one delayed report, not one per attempt or per start");
    assert.match(reports[0], /Original-Envelope-Id: late1/);
    assert.match(reports[0], /Final-Recipient: rfc822; bob@remote\.test\r\nAction: delayed\r\n/);
    assert.match(reports[0], /Will-Retry-Until: /);
    assert.doesNotMatch(reports[0], /dan@remote\.test/, "dan asked for failures only");
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});

/**
 * A scripted next hop that takes any mail and offers no DSN (as many
 * servers do): just enough SMTP for one message per connection.
 */
function plainExchanger(): { port: number; close(): Promise<void>; mailLines: string[] } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const mailLines: string[] = [];
  const serve = async (conn: Deno.Conn) => {
    const reader = new LineReader(conn);
    await send(conn, "220 plain.remote.test ESMTP\r\n");
    while (true) {
      const line = await reader.line();
      if (line === undefined) return;
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === "EHLO") await send(conn, "250-plain.remote.test\r\n250 8BITMIME\r\n");
      else if (verb === "MAIL" || verb === "RCPT") {
        mailLines.push(line);
        await send(conn, "250 OK\r\n");
      } else if (verb === "DATA") {
        await send(conn, "354 go on\r\n");
        while ((await reader.line()) !== ".") { /* the body */ }
        await send(conn, "250 OK\r\n");
      } else if (verb === "QUIT") {
        await send(conn, "221 bye\r\n");
        return;
      } else await send(conn, "250 OK\r\n");
    }
  };
  const conns: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      conns.push(serve(conn).catch(() => {}).finally(() => conn.close()));
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    mailLines,
    async close() {
      listener.close();
      await accepting.catch(() => {});
      await Promise.all(conns);
    },
  };
}

Deno.test("NOTIFY=SUCCESS to a next hop without DSN: a relayed report, no parameters sent", async () => {
  await using dns = await startDns();
  const exchanger = plainExchanger();
  try {
    await using home = await startService(service, {
      hostname: "mx1.home.test",
      domain: ["home.test"],
      trustedNetwork: ["127.0.0.0/8"],
      resolver: dns.resolver,
      deliveryPort: exchanger.port,
    });
    await submit(home.addresses.tcp.port, "<alice@home.test> ENVID=r1", [
      "<bob@remote.test> NOTIFY=SUCCESS",
    ], "relayed");
    await waitFor(
      "the relayed report",
      async () => (await mailbox(home.addresses.admin.port, "alice@home.test")).length === 1,
      { attempts: 1_000 },
    );
    const [report] = await mailbox(home.addresses.admin.port, "alice@home.test");
    assert.match(report, /Final-Recipient: rfc822; bob@remote\.test\r\nAction: relayed\r\n/);
    assert.match(report, /Remote-MTA: dns; mx1\.remote\.test/);
    assert.deepEqual(exchanger.mailLines, [
      "MAIL FROM:<alice@home.test> BODY=8BITMIME",
      "RCPT TO:<bob@remote.test>",
    ]);
  } finally {
    await exchanger.close();
  }
});
