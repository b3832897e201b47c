import assert from "node:assert/strict";
import { RecordCache, STALE_ANSWER_TTL_SEC } from "../../../services/resolver/cache.ts";
import { RecordClass, RecordType, type ResourceRecord } from "../../../lib/dns/types.ts";

const IN = RecordClass.IN;

function a(name: string, address: string, ttl: number): ResourceRecord {
  return { name, type: RecordType.A, class: IN, ttl, data: { kind: "A", address } };
}

function soa(zone: string, ttl: number, minimum: number): ResourceRecord {
  return {
    name: zone,
    type: RecordType.SOA,
    class: IN,
    ttl,
    data: {
      kind: "SOA",
      mname: `ns1.${zone}`,
      rname: `hostmaster.${zone}`,
      serial: 1,
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum,
    },
  };
}

class Clock {
  ms = 1_000_000;
  now = () => this.ms;
  advance(sec: number) {
    this.ms += sec * 1000;
  }
}

Deno.test("RecordCache serves an RRset with its TTL counting down, then misses once expired", () => {
  const clock = new Clock();
  const cache = new RecordCache({}, clock.now);
  cache.putRrset(
    [a("www.example.com.", "127.0.0.1", 300), a("www.example.com.", "127.0.0.2", 200)],
    "answer",
  );
  let hit = cache.get("WWW.Example.COM.", RecordType.A, IN);
  assert.equal(hit?.kind, "rrset");
  assert.deepEqual(hit.kind === "rrset" && hit.records.map((r) => r.ttl), [200, 200]);
  clock.advance(150);
  hit = cache.get("www.example.com.", RecordType.A, IN);
  assert.deepEqual(hit?.kind === "rrset" && hit.records.map((r) => r.ttl), [50, 50]);
  clock.advance(50);
  assert.equal(cache.get("www.example.com.", RecordType.A, IN), undefined);
  assert.equal(cache.get("www.example.com.", RecordType.AAAA, IN), undefined);
});

Deno.test("RecordCache serves an expired entry stale (TTL 30) only when asked, within the stale window", () => {
  const clock = new Clock();
  const cache = new RecordCache({ staleTtlSec: 600 }, clock.now);
  cache.putRrset([a("x.test.", "127.0.0.9", 60)], "answer");
  clock.advance(100);
  assert.equal(cache.get("x.test.", RecordType.A, IN), undefined);
  const stale = cache.get("x.test.", RecordType.A, IN, { allowStale: true });
  assert.equal(stale?.stale, true);
  assert.equal(stale?.kind === "rrset" && stale.records[0].ttl, STALE_ANSWER_TTL_SEC);
  clock.advance(600);
  assert.equal(cache.get("x.test.", RecordType.A, IN, { allowStale: true }), undefined);
  assert.equal(cache.stats().entries, 0);
});

Deno.test("RecordCache caps TTLs at ttlSecMax", () => {
  const clock = new Clock();
  const cache = new RecordCache({ ttlSecMax: 100 }, clock.now);
  cache.putRrset([a("long.test.", "127.0.0.1", 999_999)], "answer");
  const hit = cache.get("long.test.", RecordType.A, IN);
  assert.equal(hit?.kind === "rrset" && hit.records[0].ttl, 100);
});

Deno.test("RecordCache caches NXDOMAIN for every type of the name, for min(SOA TTL, MINIMUM)", () => {
  const clock = new Clock();
  const cache = new RecordCache({}, clock.now);
  cache.putNegative(
    { name: "gone.example.com.", type: RecordType.A, class: IN },
    "nxdomain",
    soa("example.com.", 3600, 60),
  );
  for (const type of [RecordType.A, RecordType.MX, RecordType.TXT]) {
    const hit = cache.get("gone.example.com.", type, IN);
    assert.equal(hit?.kind, "nxdomain");
    assert.equal(hit.soa?.ttl, 60);
  }
  clock.advance(61);
  assert.equal(cache.get("gone.example.com.", RecordType.A, IN), undefined);
});

Deno.test("RecordCache caches NODATA for one type only, and not without an SOA", () => {
  const clock = new Clock();
  const cache = new RecordCache({}, clock.now);
  cache.putNegative(
    { name: "www.example.com.", type: RecordType.AAAA, class: IN },
    "nodata",
    soa("example.com.", 30, 300),
  );
  const hit = cache.get("www.example.com.", RecordType.AAAA, IN);
  assert.equal(hit?.kind, "nodata");
  assert.equal(hit.soa?.ttl, 30);
  assert.equal(cache.get("www.example.com.", RecordType.A, IN), undefined);
  cache.putNegative({ name: "b.test.", type: RecordType.A, class: IN }, "nodata", undefined);
  assert.equal(cache.get("b.test.", RecordType.A, IN), undefined);
});

Deno.test("RecordCache caps negative TTLs at negativeTtlSecMax", () => {
  const cache = new RecordCache({ negativeTtlSecMax: 10 }, new Clock().now);
  cache.putNegative(
    { name: "n.test.", type: RecordType.A, class: IN },
    "nxdomain",
    soa("test.", 86400, 86400),
  );
  assert.equal(cache.get("n.test.", RecordType.A, IN)?.remainingSec, 10);
});

Deno.test("RecordCache keeps fresh answer data over glue for the same RRset", () => {
  const clock = new Clock();
  const cache = new RecordCache({}, clock.now);
  cache.putRrset([a("ns1.example.com.", "127.0.0.5", 300)], "answer");
  cache.putRrset([a("ns1.example.com.", "127.0.0.66", 300)], "glue");
  let hit = cache.get("ns1.example.com.", RecordType.A, IN);
  assert.equal(
    hit?.kind === "rrset" && hit.records[0].data.kind === "A" && hit.records[0].data.address,
    "127.0.0.5",
  );
  clock.advance(301);
  cache.putRrset([a("ns1.example.com.", "127.0.0.66", 300)], "glue");
  hit = cache.get("ns1.example.com.", RecordType.A, IN);
  assert.equal(
    hit?.kind === "rrset" && hit.records[0].data.kind === "A" && hit.records[0].data.address,
    "127.0.0.66",
  );
});

Deno.test("RecordCache stays under its memory bound, evicting the least recently used", () => {
  const clock = new Clock();
  const cache = new RecordCache({ cacheBytesMax: 20_000 }, clock.now);
  cache.putRrset([a("keep.test.", "127.0.0.1", 300)], "answer");
  for (let i = 0; i < 2000; i++) {
    cache.putRrset([a(`host${i}.test.`, "127.0.0.1", 300)], "answer");
    cache.get("keep.test.", RecordType.A, IN); // keep it recently used
    assert.ok(cache.stats().bytes <= 20_000);
  }
  const stats = cache.stats();
  assert.ok(stats.evictions > 1500, `${stats.evictions} evictions`);
  assert.ok(cache.get("keep.test.", RecordType.A, IN), "the hot entry survived");
  assert.equal(cache.get("host0.test.", RecordType.A, IN), undefined, "the cold entry went");
  assert.ok(cache.get("host1999.test.", RecordType.A, IN));
});

Deno.test("RecordCache counts hits, stale hits and misses", () => {
  const clock = new Clock();
  const cache = new RecordCache({}, clock.now);
  cache.putRrset([a("c.test.", "127.0.0.1", 10)], "answer");
  cache.get("c.test.", RecordType.A, IN);
  cache.get("c.test.", RecordType.A, IN);
  cache.get("d.test.", RecordType.A, IN);
  clock.advance(11);
  cache.get("c.test.", RecordType.A, IN, { allowStale: true });
  const { hits, staleHits, misses } = cache.stats();
  assert.deepEqual({ hits, staleHits, misses }, { hits: 2, staleHits: 1, misses: 1 });
});
