// The iterative algorithm against scripted servers: each test lists what
// each server answers, and checks the resolution and what was asked.

import assert from "node:assert/strict";
import { RecordCache } from "../../../services/resolver/cache.ts";
import {
  DEFAULT_RESOLVER_LIMITS,
  Iterator,
  type IteratorConfig,
  type QueryOptions,
  type ServerAddress,
  type Transport,
} from "../../../services/resolver/iterator.ts";
import { ServerStats } from "../../../services/resolver/servers.ts";
import {
  makeMessage,
  type Message,
  type Question,
  Rcode,
  RecordClass,
  RecordType,
  type ResourceRecord,
} from "../../../lib/dns/types.ts";

const IN = RecordClass.IN;
const T = RecordType;

function rr(name: string, type: number, data: ResourceRecord["data"], ttl = 300): ResourceRecord {
  return { name, type, class: IN, ttl, data };
}
const A = (name: string, address: string, ttl = 300) => rr(name, T.A, { kind: "A", address }, ttl);
const NS = (zone: string, target: string) => rr(zone, T.NS, { kind: "NAME", target }, 3600);
const CNAME = (name: string, target: string) => rr(name, T.CNAME, { kind: "NAME", target });
const SOA = (zone: string, minimum = 60) =>
  rr(zone, T.SOA, {
    kind: "SOA",
    mname: `ns.${zone}`,
    rname: `admin.${zone}`,
    serial: 1,
    refresh: 1,
    retry: 1,
    expire: 1,
    minimum,
  }, 600);

type Reply = Partial<Message> | "timeout";
/** server address -> "qname TYPE" -> reply */
type Script = Record<string, Record<string, Reply>>;

class ScriptedTransport implements Transport {
  asked: string[] = [];
  constructor(readonly script: Script) {}
  query(server: ServerAddress, question: Question, options: QueryOptions): Promise<Message> {
    const key = `${question.name.toLowerCase()} ${typeNameOf(question.type)}`;
    this.asked.push(`${server.address} ${key}${options.rd ? " +rd" : ""}`);
    const reply = this.script[server.address]?.[key] ?? this.script[server.address]?.["*"];
    if (reply === undefined) {
      return Promise.reject(new Error(`unscripted ${server.address} ${key}`));
    }
    if (reply === "timeout") return Promise.reject(new Error("timed out"));
    return Promise.resolve(makeMessage({ qr: true, questions: [question], ...reply }));
  }
}

function typeNameOf(type: number): string {
  return Object.entries(T).find(([, v]) => v === type)![0];
}

const ROOT = { address: "127.0.0.2", port: 53 };

function setup(script: Script, config: Partial<IteratorConfig> = {}) {
  const transport = new ScriptedTransport(script);
  const cache = new RecordCache();
  const iterator = new Iterator(
    {
      rootServers: [ROOT],
      stubs: [],
      forwarders: [],
      limits: { ...DEFAULT_RESOLVER_LIMITS, queryTimeoutMs: 100 },
      ...config,
    },
    transport,
    cache,
    new ServerStats(),
  );
  return { transport, cache, iterator };
}

const q = (name: string, type: number = T.A): Question => ({ name, type, class: IN });

// A small hierarchy: . -> com. -> example.com.
const ROOT_REFERRAL: Partial<Message> = {
  authority: [NS("com.", "a.gtld.com.")],
  additional: [A("a.gtld.com.", "127.0.0.3")],
};
const COM_REFERRAL: Partial<Message> = {
  authority: [NS("example.com.", "ns1.example.com.")],
  additional: [A("ns1.example.com.", "127.0.0.4")],
};

Deno.test("Iterator follows referrals with in-bailiwick glue down to the answer", async () => {
  const { iterator, transport, cache } = setup({
    "127.0.0.2": { "*": ROOT_REFERRAL },
    "127.0.0.3": { "*": COM_REFERRAL },
    "127.0.0.4": {
      "www.example.com. A": { aa: true, answers: [A("www.example.com.", "127.0.0.80")] },
    },
  });
  const result = await iterator.resolve(q("www.example.com."));
  assert.equal(result.rcode, Rcode.NOERROR);
  assert.deepEqual(result.answers.map((r) => r.data), [{ kind: "A", address: "127.0.0.80" }]);
  assert.deepEqual(transport.asked, [
    "127.0.0.2 www.example.com. A",
    "127.0.0.3 www.example.com. A",
    "127.0.0.4 www.example.com. A",
  ]);
  assert.equal(cache.get("example.com.", T.NS, IN)?.kind, "rrset", "the delegation is cached");
  // A second name in the zone starts at the cached delegation.
  transport.script["127.0.0.4"]["mail.example.com. A"] = {
    aa: true,
    answers: [A("mail.example.com.", "127.0.0.25")],
  };
  const second = await iterator.resolve(q("mail.example.com."));
  assert.equal(second.answers.length, 1);
  assert.equal(transport.asked.at(-1), "127.0.0.4 mail.example.com. A");
  assert.equal(transport.asked.length, 4);
});

Deno.test("Iterator answers repeated questions from the cache", async () => {
  const { iterator, transport } = setup({
    "127.0.0.2": { "*": ROOT_REFERRAL },
    "127.0.0.3": { "*": COM_REFERRAL },
    "127.0.0.4": {
      "www.example.com. A": { aa: true, answers: [A("www.example.com.", "127.0.0.80")] },
    },
  });
  await iterator.resolve(q("www.example.com."));
  const again = await iterator.resolve(q("WWW.example.com."));
  assert.equal(again.answers.length, 1);
  assert.ok(again.cached);
  assert.equal(transport.asked.length, 3);
});

Deno.test("Iterator ignores out-of-bailiwick glue and looks the name server up instead", async () => {
  const { iterator, transport, cache } = setup({
    "127.0.0.2": {
      "*": ROOT_REFERRAL,
      "ns.other.net. A": {
        authority: [NS("net.", "a.gtld.net.")],
        additional: [A("a.gtld.net.", "127.0.0.5")],
      },
    },
    "127.0.0.3": {
      // The com server tries to plant an address for a .net name: ignored.
      "*": {
        authority: [NS("example.com.", "ns.other.net.")],
        additional: [A("ns.other.net.", "127.0.0.66")],
      },
    },
    "127.0.0.5": { "ns.other.net. A": { aa: true, answers: [A("ns.other.net.", "127.0.0.6")] } },
    "127.0.0.6": {
      "www.example.com. A": { aa: true, answers: [A("www.example.com.", "127.0.0.80")] },
    },
  });
  const result = await iterator.resolve(q("www.example.com."));
  assert.equal(result.rcode, Rcode.NOERROR, result.reason);
  assert.ok(
    !transport.asked.some((l) => l.startsWith("127.0.0.66")),
    "the planted glue was never used",
  );
  const cached = cache.get("ns.other.net.", T.A, IN);
  assert.equal(
    cached?.kind === "rrset" && cached.records[0].data.kind === "A" &&
      cached.records[0].data.address,
    "127.0.0.6",
  );
});

Deno.test("Iterator does not cache records outside the answering server's zone", async () => {
  const { iterator, cache } = setup({
    "127.0.0.2": { "*": ROOT_REFERRAL },
    "127.0.0.3": { "*": COM_REFERRAL },
    "127.0.0.4": {
      "www.example.com. A": {
        aa: true,
        answers: [A("www.example.com.", "127.0.0.80"), A("bank.test.", "127.0.0.66")],
      },
    },
  });
  await iterator.resolve(q("www.example.com."));
  assert.equal(cache.get("bank.test.", T.A, IN), undefined);
});

Deno.test("Iterator chases a CNAME into another zone", async () => {
  const { iterator } = setup({
    "127.0.0.2": {
      "*": ROOT_REFERRAL,
      "cdn.test. A": {
        authority: [NS("test.", "ns.test.")],
        additional: [A("ns.test.", "127.0.0.7")],
      },
    },
    "127.0.0.3": { "*": COM_REFERRAL },
    "127.0.0.4": {
      "www.example.com. A": { aa: true, answers: [CNAME("www.example.com.", "cdn.test.")] },
    },
    "127.0.0.7": { "cdn.test. A": { aa: true, answers: [A("cdn.test.", "127.0.0.90")] } },
  });
  const result = await iterator.resolve(q("www.example.com."));
  assert.equal(result.rcode, Rcode.NOERROR, result.reason);
  assert.deepEqual(result.answers.map((r) => `${r.name} ${r.type}`), [
    "www.example.com. 5",
    "cdn.test. 1",
  ]);
});

Deno.test("Iterator returns NXDOMAIN with the SOA and caches it for every type", async () => {
  const { iterator, transport } = setup({
    "127.0.0.2": { "*": ROOT_REFERRAL },
    "127.0.0.3": { "*": COM_REFERRAL },
    "127.0.0.4": { "*": { aa: true, rcode: Rcode.NXDOMAIN, authority: [SOA("example.com.")] } },
  });
  const result = await iterator.resolve(q("nope.example.com."));
  assert.equal(result.rcode, Rcode.NXDOMAIN);
  assert.equal(result.authority[0].type, T.SOA);
  const asked = transport.asked.length;
  const mx = await iterator.resolve(q("nope.example.com.", T.MX));
  assert.equal(mx.rcode, Rcode.NXDOMAIN);
  assert.equal(transport.asked.length, asked, "answered from the negative cache");
});

Deno.test("Iterator returns NODATA (NOERROR, SOA, no answers)", async () => {
  const { iterator } = setup({
    "127.0.0.2": { "*": ROOT_REFERRAL },
    "127.0.0.3": { "*": COM_REFERRAL },
    "127.0.0.4": { "*": { aa: true, authority: [SOA("example.com.")] } },
  });
  const result = await iterator.resolve(q("www.example.com.", T.AAAA));
  assert.equal(result.rcode, Rcode.NOERROR);
  assert.equal(result.answers.length, 0);
  assert.equal(result.authority[0].type, T.SOA);
});

Deno.test("Iterator moves past a server that times out and one that is lame", async () => {
  const { iterator } = setup({
    "127.0.0.2": { "*": ROOT_REFERRAL },
    "127.0.0.3": {
      "*": {
        authority: [
          NS("example.com.", "ns1.example.com."),
          NS("example.com.", "ns2.example.com."),
          NS("example.com.", "ns3.example.com."),
        ],
        additional: [
          A("ns1.example.com.", "127.0.0.11"),
          A("ns2.example.com.", "127.0.0.12"),
          A("ns3.example.com.", "127.0.0.13"),
        ],
      },
    },
    "127.0.0.11": { "*": "timeout" },
    "127.0.0.12": { "*": { rcode: Rcode.REFUSED } },
    "127.0.0.13": {
      "www.example.com. A": { aa: true, answers: [A("www.example.com.", "127.0.0.80")] },
    },
  });
  const result = await iterator.resolve(q("www.example.com."));
  assert.equal(result.rcode, Rcode.NOERROR, result.reason);
});

Deno.test("Iterator gives SERVFAIL with a reason when every server is lame", async () => {
  const { iterator } = setup({
    "127.0.0.2": { "*": ROOT_REFERRAL },
    "127.0.0.3": { "*": COM_REFERRAL },
    // Lame: not authoritative, no referral, no SOA.
    "127.0.0.4": { "*": {} },
  });
  const result = await iterator.resolve(q("www.example.com."));
  assert.equal(result.rcode, Rcode.SERVFAIL);
  assert.match(result.reason!, /lame/);
});

Deno.test("Iterator rejects a referral that does not move down towards the name", async () => {
  const { iterator } = setup({
    "127.0.0.2": { "*": ROOT_REFERRAL },
    // com. refers back up to the root: a loop, so lame.
    "127.0.0.3": {
      "*": { authority: [NS(".", "a.root.")], additional: [A("a.root.", "127.0.0.2")] },
    },
  });
  const result = await iterator.resolve(q("www.example.com."));
  assert.equal(result.rcode, Rcode.SERVFAIL);
});

Deno.test("Iterator stops a CNAME loop and an over-long chain", async () => {
  const { iterator } = setup({
    "127.0.0.2": { "*": ROOT_REFERRAL },
    "127.0.0.3": { "*": COM_REFERRAL },
    "127.0.0.4": {
      "a.example.com. A": { aa: true, answers: [CNAME("a.example.com.", "b.example.com.")] },
      "b.example.com. A": { aa: true, answers: [CNAME("b.example.com.", "a.example.com.")] },
    },
  });
  const loop = await iterator.resolve(q("a.example.com."));
  assert.equal(loop.rcode, Rcode.SERVFAIL);
  assert.match(loop.reason!, /CNAME loop/);

  const chain: Record<string, Reply> = {};
  for (let i = 0; i < 20; i++) {
    chain[`c${i}.example.com. A`] = {
      aa: true,
      answers: [CNAME(`c${i}.example.com.`, `c${i + 1}.example.com.`)],
    };
  }
  const long = setup({
    "127.0.0.2": { "*": ROOT_REFERRAL },
    "127.0.0.3": { "*": COM_REFERRAL },
    "127.0.0.4": chain,
  });
  const result = await long.iterator.resolve(q("c0.example.com."));
  assert.equal(result.rcode, Rcode.SERVFAIL);
  assert.match(result.reason!, /CNAME chain longer/);
});

Deno.test("Iterator bounds the upstream queries of one client query", async () => {
  // Every server refers to a new, deeper, glue-less zone whose servers must be looked up.
  const { iterator, transport } = setup({
    "127.0.0.2": { "*": "timeout" },
  }, { limits: { ...DEFAULT_RESOLVER_LIMITS, queryTimeoutMs: 10, upstreamQueriesMax: 5 } });
  const result = await iterator.resolve(q("www.example.com."));
  assert.equal(result.rcode, Rcode.SERVFAIL);
  assert.ok(transport.asked.length <= 5);
});

Deno.test("Iterator sends to a stub zone's servers without recursion, and to forwarders with it", async () => {
  const stub = setup({
    "127.0.0.40": {
      "www.example.com. A": { aa: true, answers: [A("www.example.com.", "127.0.0.80")] },
    },
  }, { stubs: [{ zone: "example.com.", servers: [{ address: "127.0.0.40", port: 1053 }] }] });
  assert.equal((await stub.iterator.resolve(q("www.example.com."))).answers.length, 1);
  assert.deepEqual(stub.transport.asked, ["127.0.0.40 www.example.com. A"]);

  const forward = setup({
    "127.0.0.50": { "*": { ra: true, answers: [A("anything.test.", "127.0.0.1")] } },
  }, { forwarders: [{ address: "127.0.0.50", port: 53 }] });
  assert.equal((await forward.iterator.resolve(q("anything.test."))).answers.length, 1);
  assert.deepEqual(forward.transport.asked, ["127.0.0.50 anything.test. A +rd"]);
});

Deno.test("Iterator uses the upstream port override for learned servers", async () => {
  const ports: number[] = [];
  const { iterator, transport } = setup({
    "127.0.0.2": { "*": ROOT_REFERRAL },
    "127.0.0.3": { "*": COM_REFERRAL },
    "127.0.0.4": { "*": { aa: true, answers: [A("www.example.com.", "127.0.0.80")] } },
  }, { upstreamPort: 5300, rootServers: [{ address: "127.0.0.2", port: 5300 }] });
  const original = transport.query.bind(transport);
  transport.query = (server, question, options) => {
    ports.push(server.port);
    return original(server, question, options);
  };
  await iterator.resolve(q("www.example.com."));
  assert.deepEqual(ports, [5300, 5300, 5300]);
});
