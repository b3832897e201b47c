// The resolver service end to end over real sockets, against scripted
// upstream servers on loopback.

import assert from "node:assert/strict";
import { BufferedReader } from "../../../lib/buffered_reader.ts";
import { concat } from "../../../lib/bytes.ts";
import { encodeMessage, encodeTcpFrame, wholeMessage } from "../../../lib/dns/codec.ts";
import { closeQuietly } from "../../../lib/net/close.ts";
import { writeAll } from "../../../lib/net/write_all.ts";
import {
  makeMessage,
  type Message,
  Opcode,
  Rcode,
  RecordClass,
  RecordType,
  type ResourceRecord,
} from "../../../lib/dns/types.ts";
import { formatHelp, parseFlags } from "../../../lib/cli.ts";
import { flags, service } from "../../../services/resolver/mod.ts";
import { interopTest, runClient } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";
import { fakeDns } from "./fake_dns.ts";

const IN = RecordClass.IN;
const A = (name: string, address: string, ttl = 300): ResourceRecord => ({
  name,
  type: RecordType.A,
  class: IN,
  ttl,
  data: { kind: "A", address },
});
const SOA = (zone: string): ResourceRecord => ({
  name: zone,
  type: RecordType.SOA,
  class: IN,
  ttl: 300,
  data: {
    kind: "SOA",
    mname: `ns.${zone}`,
    rname: `admin.${zone}`,
    serial: 1,
    refresh: 1,
    retry: 1,
    expire: 1,
    minimum: 60,
  },
});

async function ask(
  port: number,
  name: string,
  type: number = RecordType.A,
  fields: Partial<Message> = {},
): Promise<Message> {
  const socket = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  try {
    const id = Math.floor(Math.random() * 65535);
    const query = makeMessage({ id, rd: true, questions: [{ name, type, class: IN }], ...fields });
    await socket.send(encodeMessage(query), { transport: "udp", hostname: "127.0.0.1", port });
    const timer = setTimeout(() => socket.close(), 5000);
    const [bytes] = await socket.receive();
    clearTimeout(timer);
    const reply = wholeMessage(bytes);
    assert.equal(reply.id, id);
    return reply;
  } finally {
    closeQuietly(socket);
  }
}

function zoneServer(records: ResourceRecord[], zone: string) {
  return fakeDns((query) => {
    const q = query.questions[0];
    const answers = records.filter((r) =>
      r.name.toLowerCase() === q.name.toLowerCase() && r.type === q.type
    );
    if (answers.length > 0) return [{ aa: true, answers }];
    const exists = records.some((r) => r.name.toLowerCase() === q.name.toLowerCase());
    return [{ aa: true, rcode: exists ? Rcode.NOERROR : Rcode.NXDOMAIN, authority: [SOA(zone)] }];
  });
}

Deno.test("resolver answers from a stub zone with RA set, then from its cache with the TTL counting down", async () => {
  await using upstream = zoneServer([A("www.example.com.", "127.0.0.80", 300)], "example.com.");
  await using resolver = await startService(service, {
    stub: [`example.com=127.0.0.1:${upstream.port}`],
  });
  const port = resolver.addresses.udp.port;
  const first = await ask(port, "www.example.com.");
  assert.equal(first.rcode, Rcode.NOERROR);
  assert.equal(first.ra, true);
  assert.equal(first.aa, false);
  assert.deepEqual(first.answers.map((r) => r.data), [{ kind: "A", address: "127.0.0.80" }]);
  await new Promise((r) => setTimeout(r, 1100));
  const second = await ask(port, "WWW.EXAMPLE.COM.");
  assert.ok(second.answers[0].ttl < 300, `ttl ${second.answers[0].ttl} counts down`);
  assert.equal(upstream.queries.length, 1, "the second answer came from the cache");
});

Deno.test("resolver returns NXDOMAIN with the SOA and caches it", async () => {
  await using upstream = zoneServer([], "example.com.");
  await using resolver = await startService(service, {
    stub: [`example.com=127.0.0.1:${upstream.port}`],
  });
  const reply = await ask(resolver.addresses.udp.port, "missing.example.com.");
  assert.equal(reply.rcode, Rcode.NXDOMAIN);
  assert.equal(reply.authority[0]?.type, RecordType.SOA);
  await ask(resolver.addresses.udp.port, "missing.example.com.", RecordType.MX);
  assert.equal(upstream.queries.length, 1);
});

Deno.test("resolver shares one upstream query among concurrent identical client queries", async () => {
  let asked = 0;
  // An upstream that never answers: the burst must not become 20 resolutions.
  await using upstream = fakeDns(() => {
    asked++;
    return [];
  });
  await using resolver = await startService(service, {
    stub: [`slow.test=127.0.0.1:${upstream.port}`],
    queryTimeoutMs: 300,
    resolutionTimeoutMs: 1000,
  });
  const burst = Array.from({ length: 20 }, () => ask(resolver.addresses.udp.port, "a.slow.test."));
  const replies = await Promise.all(burst);
  assert.ok(replies.every((r) => r.rcode === Rcode.SERVFAIL));
  // One resolution: the server was asked at most twice (two rounds), not 20 times.
  assert.ok(asked <= 2, `${asked} upstream queries`);
});

Deno.test("resolver refuses clients outside the access list", async () => {
  await using resolver = await startService(service, { allow: ["10.0.0.0/8"] });
  const reply = await ask(resolver.addresses.udp.port, "www.example.com.");
  assert.equal(reply.rcode, Rcode.REFUSED);
});

Deno.test("resolver answers FORMERR, NOTIMP, REFUSED and BADVERS where the query calls for it", async () => {
  await using resolver = await startService(service, {});
  const port = resolver.addresses.udp.port;
  assert.equal((await ask(port, "x.test.", RecordType.A, { opcode: 2 })).rcode, Rcode.NOTIMP);
  assert.equal((await ask(port, "x.test.", RecordType.AXFR)).rcode, Rcode.REFUSED);
  assert.equal((await ask(port, "x.test.", RecordType.A, { questions: [] })).rcode, Rcode.FORMERR);
  const badvers = await ask(port, "x.test.", RecordType.A, {
    edns: { udpPayloadSize: 1232, extendedRcode: 0, version: 1, dnssecOk: false, options: [] },
  });
  assert.equal(badvers.rcode, Rcode.BADVERS);
  // A truncated packet: FORMERR with the same ID.
  const socket = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  try {
    await socket.send(new Uint8Array([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0x77]), {
      transport: "udp",
      hostname: "127.0.0.1",
      port,
    });
    const [bytes] = await socket.receive();
    const reply = wholeMessage(bytes);
    assert.equal(reply.id, 0x1234);
    assert.equal(reply.rcode, Rcode.FORMERR);
  } finally {
    socket.close();
  }
});

Deno.test("resolver answers NOTIMP to other opcodes, even for a cached name, with no RD, CD or RA", async () => {
  await using upstream = zoneServer([A("www.example.com.", "127.0.0.80")], "example.com.");
  await using resolver = await startService(service, {
    stub: [`example.com=127.0.0.1:${upstream.port}`],
  });
  const port = resolver.addresses.udp.port;
  for (let i = 0; i < 3; i++) {
    assert.equal((await ask(port, "www.example.com.")).answers.length, 1);
  }
  for (const opcode of [Opcode.UPDATE, Opcode.STATUS, Opcode.NOTIFY, 3]) {
    const reply = await ask(port, "www.example.com.", RecordType.A, { opcode, cd: true });
    assert.deepEqual([reply.rcode, reply.opcode], [Rcode.NOTIMP, opcode], `opcode ${opcode}`);
    assert.deepEqual([reply.rd, reply.cd, reply.ra], [false, false, false], `opcode ${opcode}`);
    assert.deepEqual(reply.answers, [], `opcode ${opcode}`);
  }
});

Deno.test("resolver takes --cache-max-bytes, the old name of --cache-bytes-max", () => {
  assert.equal(parseFlags(flags, ["--cache-max-bytes", "1000"]).config.cacheBytesMax, 1000);
  assert.equal(parseFlags(flags, ["--cache-bytes-max", "2000"]).config.cacheBytesMax, 2000);
  assert.equal(parseFlags(flags, []).config.cacheBytesMax, 64 * 1024 * 1024);
  assert.match(formatHelp("resolver", "", flags), /--cache-bytes-max N .*also --cache-max-bytes/);
});

Deno.test("resolver serves a stale answer when upstream stops answering (RFC 8767)", async () => {
  let up = true;
  await using upstream = fakeDns((query) =>
    up ? [{ aa: true, answers: [A(query.questions[0].name, "127.0.0.80", 1)] }] : []
  );
  await using resolver = await startService(service, {
    stub: [`example.com=127.0.0.1:${upstream.port}`],
    staleWaitMs: 200,
    queryTimeoutMs: 200,
    resolutionTimeoutMs: 600,
  });
  const port = resolver.addresses.udp.port;
  assert.equal((await ask(port, "www.example.com.")).answers.length, 1);
  up = false;
  await new Promise((r) => setTimeout(r, 1200));
  const stale = await ask(port, "www.example.com.");
  assert.equal(stale.rcode, Rcode.NOERROR);
  assert.equal(stale.answers[0]?.ttl, 30);
});

Deno.test("resolver gives SERVFAIL, never a hang, when upstream is dead", async () => {
  await using upstream = fakeDns(() => []);
  await using resolver = await startService(service, {
    stub: [`dead.test=127.0.0.1:${upstream.port}`],
    queryTimeoutMs: 100,
    resolutionTimeoutMs: 500,
  });
  const reply = await ask(resolver.addresses.udp.port, "x.dead.test.");
  assert.equal(reply.rcode, Rcode.SERVFAIL);
});

Deno.test("resolver follows a private hierarchy from root hints over a shared upstream port", async () => {
  // Three servers on 127.0.0.2/3/4, one port, like real servers on port 53.
  const root = fakeDns(() => [{
    authority: [{
      name: "test.",
      type: RecordType.NS,
      class: IN,
      ttl: 3600,
      data: { kind: "NAME", target: "ns.test." },
    }],
    additional: [A("ns.test.", "127.0.0.3")],
  }], { hostname: "127.0.0.2" });
  await using _root = root;
  await using _tld = fakeDns(() => [{
    authority: [{
      name: "example.test.",
      type: RecordType.NS,
      class: IN,
      ttl: 3600,
      data: { kind: "NAME", target: "ns.example.test." },
    }],
    additional: [A("ns.example.test.", "127.0.0.4")],
  }], { hostname: "127.0.0.3", port: root.port });
  await using _leaf = fakeDns(
    (q) => [{ aa: true, answers: [A(q.questions[0].name, "127.0.0.99")] }],
    {
      hostname: "127.0.0.4",
      port: root.port,
    },
  );
  const hints = await Deno.makeTempFile({ suffix: ".root" });
  await Deno.writeTextFile(hints, ". 3600000 NS a.root.test.\na.root.test. 3600000 A 127.0.0.2\n");
  try {
    await using resolver = await startService(service, {
      rootHints: hints,
      upstreamPort: root.port,
    });
    const reply = await ask(resolver.addresses.udp.port, "www.example.test.");
    assert.equal(reply.rcode, Rcode.NOERROR);
    assert.equal(reply.answers[0].data.kind === "A" && reply.answers[0].data.address, "127.0.0.99");
  } finally {
    await Deno.remove(hints);
  }
});

interopTest("dig and kdig query the resolver over UDP and TCP", {
  binaries: ["dig", "kdig"],
  async fn() {
    await using upstream = zoneServer([A("www.example.com.", "127.0.0.80")], "example.com.");
    await using resolver = await startService(service, {
      stub: [`example.com=127.0.0.1:${upstream.port}`],
    });
    const port = String(resolver.addresses.udp.port);
    for (
      const [binary, extra] of [["dig", []], ["dig", ["+tcp"]], ["kdig", []], ["kdig", [
        "+tcp",
      ]]] as const
    ) {
      const result = await runClient(binary, [
        "@127.0.0.1",
        "-p",
        port,
        "www.example.com",
        "A",
        ...extra,
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /status: NOERROR/, `${binary} ${extra.join(" ")}`);
      assert.match(result.stdout, /\bra\b/);
      assert.match(result.stdout, /127\.0\.0\.80/);
    }
    const nx = await runClient("dig", ["@127.0.0.1", "-p", port, "nope.example.com"]);
    assert.match(nx.stdout, /status: NXDOMAIN/);
  },
});

Deno.test("resolver serves /healthz and /metrics on its admin port", async () => {
  await using upstream = zoneServer([A("www.example.com.", "127.0.0.80")], "example.com.");
  await using resolver = await startService(service, {
    stub: [`example.com=127.0.0.1:${upstream.port}`],
  });
  await ask(resolver.addresses.udp.port, "www.example.com.");
  await ask(resolver.addresses.udp.port, "www.example.com.");
  const admin = `http://127.0.0.1:${resolver.addresses.admin.port}`;
  const health = await fetch(`${admin}/healthz`);
  assert.equal(health.status, 200);
  await health.body?.cancel();
  const metrics = await (await fetch(`${admin}/metrics`)).text();
  assert.match(metrics, /^resolver_queries_total 2$/m);
  assert.match(metrics, /^resolver_cache_lookups_total\{result="(hit|reply)"\} [1-9]/m);
  assert.match(metrics, /^resolver_cache_entries [1-9]/m);
  assert.match(metrics, /^resolver_tcp_connections 0$/m);
  // Triage answers an UPDATE itself; the metrics still see the query and its NOTIMP.
  await ask(resolver.addresses.udp.port, "www.example.com.", RecordType.A, { opcode: 5 });
  const after = await (await fetch(`${admin}/metrics`)).text();
  assert.match(after, /^resolver_queries_total 3$/m);
  assert.match(after, /^resolver_error_replies_total\{rcode="NOTIMP"\} 1$/m);
  assert.match(metrics, /^resolver_tcp_evicted_total 0$/m);
});

Deno.test("resolver accepts a stub server given by host name", async () => {
  await using upstream = zoneServer([A("www.example.com.", "127.0.0.80")], "example.com.");
  await using resolver = await startService(service, {
    stub: [`example.com=localhost:${upstream.port}`],
  });
  const reply = await ask(resolver.addresses.udp.port, "www.example.com.");
  assert.equal(reply.rcode, Rcode.NOERROR);
});

Deno.test("resolver answers 100 queries pipelined on one TCP connection, each once", async () => {
  await using upstream = zoneServer([A("www.example.com.", "127.0.0.80")], "example.com.");
  await using resolver = await startService(service, {
    stub: [`example.com=127.0.0.1:${upstream.port}`],
  });
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: resolver.addresses.tcp.port });
  const frames = [];
  for (let id = 1; id <= 100; id++) {
    const name = id % 2 === 0 ? "www.example.com." : `nope${id}.example.com.`;
    frames.push(
      encodeTcpFrame(
        encodeMessage(
          makeMessage({ id, rd: true, questions: [{ name, type: RecordType.A, class: IN }] }),
        ),
      ),
    );
  }
  await writeAll(conn, concat(frames));
  const reader = new BufferedReader(conn);
  const seen = new Set<number>();
  for (let i = 0; i < 100; i++) {
    const prefix = await reader.readExact(2);
    assert.ok(prefix, `reply ${i + 1} arrived`);
    const reply = wholeMessage((await reader.readExact((prefix[0] << 8) | prefix[1]))!);
    assert.ok(!seen.has(reply.id), `id ${reply.id} answered once`);
    seen.add(reply.id);
    assert.equal(reply.rcode, reply.id % 2 === 0 ? Rcode.NOERROR : Rcode.NXDOMAIN);
  }
  assert.equal(seen.size, 100);
});
