// The resolver against a private DNS hierarchy built from our own
// authoritative server: a root zone, a TLD, and zones below it, each served
// on its own 127.0.0.x address on one shared port, the way real servers all
// listen on port 53. The resolver starts from root hints pointing at
// 127.0.0.2 and is told to use the shared port for every upstream query.

import assert from "node:assert/strict";
import { encodeMessage, wholeMessage } from "../../../lib/dns/codec.ts";
import {
  makeMessage,
  type Message,
  Rcode,
  RecordClass,
  RecordType,
} from "../../../lib/dns/types.ts";
import { closeQuietly } from "../../../lib/net/close.ts";
import { service as dnsService } from "../../../services/dns/mod.ts";
import { service as resolverService } from "../../../services/resolver/mod.ts";
import { interopTest, runClient } from "../../_support/interop.ts";
import { startService, type TestService } from "../../_support/service.ts";

const ZONES: Record<string, { address: string; text: string }> = {
  "root": {
    address: "127.0.0.2",
    text: `$ORIGIN .
$TTL 3600
@            SOA a.root. admin.root. 1 3600 600 86400 300
@            NS  a.root.
a.root.      A   127.0.0.2
test.        NS  ns.test.
ns.test.     A   127.0.0.3
`,
  },
  "test": {
    address: "127.0.0.3",
    text: `$ORIGIN test.
$TTL 3600
@              SOA ns admin 1 3600 600 86400 300
@              NS  ns
ns             A   127.0.0.3
example        NS  ns1.example
ns1.example    A   127.0.0.4
; other.test's server lives in example.test: no glue can be given here.
other          NS  ns.example.test.
; lame: delegated to a server that does not serve the zone.
lame           NS  ns1.example.test.
`,
  },
  "example.test": {
    address: "127.0.0.4",
    text: `$ORIGIN example.test.
$TTL 300
@      SOA ns1 admin 1 3600 600 86400 60
@      NS  ns1
ns1    A   127.0.0.4
ns     A   127.0.0.5
www    A   127.0.0.80
alias  CNAME www.other.test.
@      MX  10 mail
mail   A   127.0.0.25
`,
  },
  "other.test": {
    address: "127.0.0.5",
    text: `$ORIGIN other.test.
$TTL 300
@      SOA ns.example.test. admin 1 3600 600 86400 60
@      NS  ns.example.test.
www    A   127.0.0.81
`,
  },
};

interface Hierarchy extends AsyncDisposable {
  port: number;
  resolver: TestService;
}

async function hierarchy(): Promise<Hierarchy> {
  const dir = await Deno.makeTempDir({ prefix: "underhood-hierarchy-" });
  const servers: TestService[] = [];
  let port = 0;
  try {
    for (const [name, zone] of Object.entries(ZONES)) {
      const file = `${dir}/${name}.zone`;
      await Deno.writeTextFile(file, zone.text);
      const server = await startService(dnsService, {
        host: zone.address,
        port,
        zone: [file],
        rrlRate: 0,
      });
      servers.push(server);
      port = server.addresses.udp.port;
    }
    const hints = `${dir}/root.hints`;
    await Deno.writeTextFile(hints, ".  3600000 NS a.root.\na.root. 3600000 A 127.0.0.2\n");
    const resolver = await startService(resolverService, {
      rootHints: hints,
      upstreamPort: port,
      queryTimeoutMs: 500,
    });
    servers.push(resolver);
    return {
      port: resolver.addresses.udp.port,
      resolver,
      async [Symbol.asyncDispose]() {
        for (const server of servers.reverse()) await server.close();
        await Deno.remove(dir, { recursive: true });
      },
    };
  } catch (error) {
    for (const server of servers) await server.close();
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}

async function ask(port: number, name: string, type: number = RecordType.A): Promise<Message> {
  const socket = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const timer = setTimeout(() => socket.close(), 10_000);
  try {
    const query = makeMessage({
      id: 4242,
      rd: true,
      questions: [{ name, type, class: RecordClass.IN }],
    });
    await socket.send(encodeMessage(query), { transport: "udp", hostname: "127.0.0.1", port });
    return wholeMessage((await socket.receive())[0]);
  } finally {
    clearTimeout(timer);
    closeQuietly(socket);
  }
}

function addresses(reply: Message): string[] {
  return reply.answers.flatMap((r) => r.data.kind === "A" ? [r.data.address] : []);
}

Deno.test("resolver walks root -> test -> example.test using glue", async () => {
  await using h = await hierarchy();
  const reply = await ask(h.port, "www.example.test.");
  assert.equal(reply.rcode, Rcode.NOERROR);
  assert.equal(reply.ra, true);
  assert.deepEqual(addresses(reply), ["127.0.0.80"]);
});

Deno.test("resolver looks up a name server that has no glue", async () => {
  await using h = await hierarchy();
  const reply = await ask(h.port, "www.other.test.");
  assert.equal(reply.rcode, Rcode.NOERROR);
  assert.deepEqual(addresses(reply), ["127.0.0.81"]);
});

Deno.test("resolver chases a CNAME into another zone", async () => {
  await using h = await hierarchy();
  const reply = await ask(h.port, "alias.example.test.");
  assert.equal(reply.rcode, Rcode.NOERROR);
  assert.deepEqual(reply.answers.map((r) => r.type), [RecordType.CNAME, RecordType.A]);
  assert.deepEqual(addresses(reply), ["127.0.0.81"]);
});

Deno.test("resolver returns NXDOMAIN and NODATA with the zone's SOA, cached negatively", async () => {
  await using h = await hierarchy();
  const nx = await ask(h.port, "nope.example.test.");
  assert.equal(nx.rcode, Rcode.NXDOMAIN);
  assert.equal(nx.authority[0]?.type, RecordType.SOA);
  assert.equal(nx.authority[0]?.name.toLowerCase(), "example.test.");
  const nodata = await ask(h.port, "www.example.test.", RecordType.AAAA);
  assert.equal(nodata.rcode, Rcode.NOERROR);
  assert.equal(nodata.answers.length, 0);
  assert.equal(nodata.authority[0]?.type, RecordType.SOA);
  await new Promise((r) => setTimeout(r, 1100));
  const again = await ask(h.port, "nope.example.test.");
  assert.equal(again.rcode, Rcode.NXDOMAIN);
  assert.ok(again.authority[0].ttl < nx.authority[0].ttl, "the negative answer's TTL counts down");
});

Deno.test("resolver answers MX and counts TTLs down from the cache", async () => {
  await using h = await hierarchy();
  const first = await ask(h.port, "example.test.", RecordType.MX);
  assert.equal(first.answers[0]?.type, RecordType.MX);
  assert.equal(first.answers[0].ttl, 300);
  await new Promise((r) => setTimeout(r, 1100));
  const second = await ask(h.port, "example.test.", RecordType.MX);
  assert.ok(second.answers[0].ttl < 300);
});

Deno.test("resolver gives SERVFAIL for a lame delegation", async () => {
  await using h = await hierarchy();
  const reply = await ask(h.port, "www.lame.test.");
  assert.equal(reply.rcode, Rcode.SERVFAIL);
});

interopTest("dig and kdig resolve through the private hierarchy", {
  binaries: ["dig", "kdig"],
  async fn() {
    await using h = await hierarchy();
    for (const binary of ["dig", "kdig"]) {
      const result = await runClient(binary, [
        "@127.0.0.1",
        "-p",
        String(h.port),
        "alias.example.test",
        "+tcp",
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /status: NOERROR/);
      assert.match(result.stdout, /CNAME\s+www\.other\.test\./);
      assert.match(result.stdout, /127\.0\.0\.81/);
    }
  },
});
