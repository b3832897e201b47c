import assert from "node:assert/strict";
import { formatRData } from "../../../lib/dns/rdata.ts";
import {
  makeMessage,
  type Message,
  Opcode,
  Rcode,
  RecordType,
  type ResourceRecord,
  typeName,
} from "../../../lib/dns/types.ts";
import { Zone } from "../../../lib/dns/zone.ts";
import { answerQuery, ZoneSet } from "../../../services/dns/authority.ts";

const pure = { permissions: "none" } as const;

const ZONE = `
$ORIGIN example.test.
$TTL 300
@        SOA  ns1 hostmaster 1 3600 900 604800 60
         NS   ns1
         MX   10 mail
ns1      A    127.0.0.2
mail     A    127.0.0.4
         AAAA ::4
www      A    127.0.0.10
alias    CNAME www
loop1    CNAME loop2
loop2    CNAME loop1
*.wild   CNAME www
*.any    A    127.0.0.7
exists.any TXT "here"
sub      NS   ns.sub
ns.sub   A    127.0.0.9
_x._tcp  SRV  0 0 80 mail
`;

const OTHER = `
$ORIGIN other.test.
$TTL 60
@ SOA ns hm 1 2 3 4 5
@ NS ns.example.test.
`;

const zones = new ZoneSet([Zone.parse(ZONE), Zone.parse(OTHER)]);

function ask(name: string, type: number, fields: Partial<Message> = {}): Message {
  return answerQuery(
    makeMessage({ id: 99, rd: true, questions: [{ name, type, class: 1 }], ...fields }),
    zones,
  );
}

function show(records: readonly ResourceRecord[]): string[] {
  return records.map((r) => `${r.name} ${r.ttl} ${typeName(r.type)} ${formatRData(r.data)}`);
}

Deno.test("a positive answer is authoritative, with NS and addresses", pure, () => {
  const m = ask("example.test.", RecordType.MX);
  assert.equal(m.id, 99);
  assert.equal(m.qr && m.aa && m.rd && !m.ra, true);
  assert.equal(m.rcode, Rcode.NOERROR);
  assert.deepEqual(show(m.answers), ["example.test. 300 MX 10 mail.example.test."]);
  assert.deepEqual(show(m.authority), ["example.test. 300 NS ns1.example.test."]);
  assert.deepEqual(show(m.additional), [
    "mail.example.test. 300 A 127.0.0.4",
    "ns1.example.test. 300 A 127.0.0.2",
    "mail.example.test. 300 AAAA ::4",
  ]);
});

Deno.test("answers keep the case the question was asked in", pure, () => {
  const m = ask("WWW.Example.TEST.", RecordType.A);
  assert.deepEqual(show(m.answers), ["WWW.Example.TEST. 300 A 127.0.0.10"]);
  assert.equal(m.questions[0].name, "WWW.Example.TEST.");
});

Deno.test("a CNAME is followed by its in-zone target", pure, () => {
  const m = ask("alias.example.test.", RecordType.A);
  assert.deepEqual(show(m.answers), [
    "alias.example.test. 300 CNAME www.example.test.",
    "www.example.test. 300 A 127.0.0.10",
  ]);
  const direct = ask("alias.example.test.", RecordType.CNAME);
  assert.deepEqual(show(direct.answers), ["alias.example.test. 300 CNAME www.example.test."]);
});

Deno.test("a CNAME loop ends without hanging", pure, () => {
  const m = ask("loop1.example.test.", RecordType.A);
  assert.equal(m.rcode, Rcode.NOERROR);
  assert.deepEqual(show(m.answers), [
    "loop1.example.test. 300 CNAME loop2.example.test.",
    "loop2.example.test. 300 CNAME loop1.example.test.",
  ]);
});

Deno.test("NXDOMAIN and NODATA carry the SOA with the negative TTL (RFC 2308)", pure, () => {
  const nx = ask("nope.example.test.", RecordType.A);
  assert.equal(nx.rcode, Rcode.NXDOMAIN);
  assert.equal(nx.aa, true);
  assert.deepEqual(show(nx.authority), [
    "example.test. 60 SOA ns1.example.test. hostmaster.example.test. 1 3600 900 604800 60",
  ]);
  const nodata = ask("www.example.test.", RecordType.TXT);
  assert.equal(nodata.rcode, Rcode.NOERROR);
  assert.equal(nodata.answers.length, 0);
  assert.equal(nodata.authority[0].type, RecordType.SOA);
});

Deno.test("wildcards synthesise answers, but not over existing names (RFC 4592)", pure, () => {
  assert.deepEqual(show(ask("a.b.any.example.test.", RecordType.A).answers), [
    "a.b.any.example.test. 300 A 127.0.0.7",
  ]);
  assert.deepEqual(show(ask("x.wild.example.test.", RecordType.A).answers), [
    "x.wild.example.test. 300 CNAME www.example.test.",
    "www.example.test. 300 A 127.0.0.10",
  ]);
  const exists = ask("exists.any.example.test.", RecordType.A);
  assert.equal(exists.answers.length, 0, "an existing name is not covered by the wildcard");
  assert.equal(exists.rcode, Rcode.NOERROR);
  assert.equal(ask("x.exists.any.example.test.", RecordType.A).rcode, Rcode.NXDOMAIN);
});

Deno.test("names under a delegation get a referral with glue", pure, () => {
  const m = ask("deep.sub.example.test.", RecordType.A);
  assert.equal(m.aa, false);
  assert.equal(m.rcode, Rcode.NOERROR);
  assert.deepEqual(m.answers, []);
  assert.deepEqual(show(m.authority), ["sub.example.test. 300 NS ns.sub.example.test."]);
  assert.deepEqual(show(m.additional), ["ns.sub.example.test. 300 A 127.0.0.9"]);
});

Deno.test("SRV targets get their addresses in the additional section", pure, () => {
  const m = ask("_x._tcp.example.test.", RecordType.SRV);
  assert.deepEqual(show(m.additional).slice(0, 1), ["mail.example.test. 300 A 127.0.0.4"]);
});

Deno.test("ANY gets one RRset and nothing else (RFC 8482)", pure, () => {
  const m = ask("example.test.", RecordType.ANY);
  assert.deepEqual(m.answers.map((r) => r.type), [RecordType.SOA]);
  assert.deepEqual(m.authority, []);
  assert.deepEqual(m.additional, []);
});

Deno.test("the longest matching zone answers", pure, () => {
  const m = ask("other.test.", RecordType.NS);
  assert.deepEqual(show(m.answers), ["other.test. 60 NS ns.example.test."]);
  assert.deepEqual(show(m.additional), [], "ns.example.test. has no address in either zone");
});

Deno.test("errors: REFUSED, FORMERR, NOTIMP, BADVERS", pure, () => {
  const outside = ask("example.org.", RecordType.A);
  assert.equal(outside.rcode, Rcode.REFUSED);
  assert.equal(outside.aa, false);
  assert.equal(ask("example.test.", RecordType.AXFR).rcode, Rcode.REFUSED);
  assert.equal(ask("example.test.", RecordType.A, { questions: [] }).rcode, Rcode.FORMERR);
  const two = [
    { name: "a.example.test.", type: 1, class: 1 },
    { name: "b.example.test.", type: 1, class: 1 },
  ];
  assert.equal(ask("x.", 1, { questions: two }).rcode, Rcode.FORMERR);
  const notimp = ask("example.test.", RecordType.A, { opcode: Opcode.UPDATE, rd: true, cd: true });
  assert.equal(notimp.rcode, Rcode.NOTIMP);
  assert.equal(notimp.opcode, Opcode.UPDATE);
  assert.deepEqual([notimp.rd, notimp.cd, notimp.ra], [false, false, false]);
  const edns = { udpPayloadSize: 4096, extendedRcode: 0, version: 1, dnssecOk: false, options: [] };
  const badvers = ask("example.test.", RecordType.A, { edns });
  assert.equal(badvers.rcode, Rcode.BADVERS);
  assert.equal(badvers.edns?.version, 0);
  assert.equal(
    ask("example.test.", RecordType.A, {
      questions: [{ name: "example.test.", type: 1, class: 3 }],
    }).rcode,
    Rcode.REFUSED,
  );
});

Deno.test("EDNS in the query brings EDNS in the answer, with our payload size", pure, () => {
  const edns = { udpPayloadSize: 4096, extendedRcode: 0, version: 0, dnssecOk: true, options: [] };
  const m = ask("www.example.test.", RecordType.A, { edns });
  assert.equal(m.edns?.udpPayloadSize, 1232);
  assert.equal(m.edns?.dnssecOk, true);
  assert.equal(ask("www.example.test.", RecordType.A).edns, undefined);
});
