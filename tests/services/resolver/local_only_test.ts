// The resolver's hermetic mode (--local-only, as the stack runs it) and its
// /healthz: local zones answer, every other name is REFUSED and nothing is
// sent anywhere else. A fake root server stands where the root hints point,
// counting what reaches it.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { query } from "../../../lib/dns/client.ts";
import { Rcode, RecordType } from "../../../lib/dns/types.ts";
import { service as dnsService } from "../../../services/dns/mod.ts";
import { service } from "../../../services/resolver/mod.ts";
import { startService } from "../../_support/service.ts";
import { fakeDns } from "./fake_dns.ts";

const ZONE = fileURLToPath(new URL("../../../config/zones/example.com.zone", import.meta.url));

/** A fake root (REFUSED to everything) and a root hints file pointing at it. */
async function fakeRoot() {
  const root = fakeDns(() => [{ rcode: Rcode.REFUSED }]);
  const dir = await Deno.makeTempDir({ prefix: "underhood-hints-" });
  const hints = `${dir}/root.hints`;
  await Deno.writeTextFile(hints, ". 3600000 NS a.root.test.\na.root.test. 3600000 A 127.0.0.1\n");
  return {
    root,
    hints,
    async [Symbol.asyncDispose]() {
      await root[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

function ask(port: number, name: string, options: { rd?: boolean; tcp?: boolean } = {}) {
  return query({ hostname: "127.0.0.1", port }, name, RecordType.A, {
    recursionDesired: options.rd ?? true,
    tcp: options.tcp,
    timeoutMs: 10_000,
  });
}

Deno.test("--local-only answers the stub zone and REFUSES other names without a packet sent", async () => {
  await using dns = await startService(dnsService, { zone: [ZONE], rrlRate: 0 });
  await using fake = await fakeRoot();
  await using resolver = await startService(service, {
    stub: [`example.com=127.0.0.1:${dns.addresses.udp.port}`],
    localOnly: true,
    rootHints: fake.hints,
    upstreamPort: fake.root.port,
    queryTimeoutMs: 500,
    resolutionTimeoutMs: 2000,
  });
  const port = resolver.addresses.udp.port;
  const local = await ask(port, "www.example.com.");
  assert.equal(local.message.rcode, Rcode.NOERROR);
  assert.equal(local.message.answers[0]?.data.kind, "A");
  for (const name of ["www.example.org.", "example.", "com.", "elsewhere.test."]) {
    for (const options of [{}, { rd: false }, { tcp: true }]) {
      const outside = await ask(port, name, options);
      assert.equal(outside.message.rcode, Rcode.REFUSED, `${name} ${JSON.stringify(options)}`);
      assert.equal(outside.message.answers.length, 0);
    }
  }
  assert.deepEqual(fake.root.queries, [], "nothing reached the root hints' server");
});

Deno.test("without --local-only the same resolver asks the root hints' server (the control)", async () => {
  await using fake = await fakeRoot();
  await using resolver = await startService(service, {
    rootHints: fake.hints,
    upstreamPort: fake.root.port,
    queryTimeoutMs: 500,
    resolutionTimeoutMs: 2000,
  });
  await ask(resolver.addresses.udp.port, "www.example.org.");
  assert.ok(fake.root.queries.length > 0, "iterative resolution started at the root");
});

Deno.test("--local-only with --forward forwards the other names", async () => {
  await using fake = await fakeRoot();
  await using forwarder = fakeDns((q) => [{
    ra: true,
    answers: [{
      name: q.questions[0].name,
      type: RecordType.A,
      class: 1,
      ttl: 60,
      data: { kind: "A", address: "127.0.0.9" },
    }],
  }]);
  await using resolver = await startService(service, {
    forward: [`127.0.0.1:${forwarder.port}`],
    localOnly: true,
    rootHints: fake.hints,
    upstreamPort: fake.root.port,
  });
  const reply = await ask(resolver.addresses.udp.port, "www.example.org.");
  assert.equal(reply.message.rcode, Rcode.NOERROR);
  assert.equal(forwarder.queries.length, 1);
  assert.deepEqual(fake.root.queries, []);
});

async function health(port: number) {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`);
  return { status: response.status, body: await response.json() };
}

Deno.test("resolver /healthz says whether it has anywhere to send questions", async () => {
  {
    await using resolver = await startService(service, { localOnly: true });
    const { status, body } = await health(resolver.addresses.admin.port);
    assert.equal(status, 503, "local-only with no zones can answer nothing");
    assert.equal(body.checks.upstreams.ok, false);
    assert.match(body.checks.upstreams.detail, /no --stub zones and no --forward/);
  }
  {
    await using resolver = await startService(service, {
      localOnly: true,
      stub: ["example.com=127.0.0.1:1053"],
    });
    const { status, body } = await health(resolver.addresses.admin.port);
    assert.equal(status, 200);
    assert.match(body.checks.upstreams.detail, /1 stub zone\(s\) \(local-only\)/);
    assert.equal(body.checks.cache.ok, true);
    assert.match(body.checks.cache.detail, /^0 of 67108864 bytes$/);
  }
  {
    await using resolver = await startService(service, {});
    const { status, body } = await health(resolver.addresses.admin.port);
    assert.equal(status, 200);
    assert.match(body.checks.upstreams.detail, /^13 root server\(s\)$/);
  }
});
