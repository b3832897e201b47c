import assert from "node:assert/strict";
import { encodeMessage } from "../../../lib/dns/codec.ts";
import {
  makeMessage,
  Rcode,
  RecordClass,
  RecordType,
  type ResourceRecord,
} from "../../../lib/dns/types.ts";
import { QueryError } from "../../../lib/dns/client.ts";
import { randomCase, UdpTcpTransport } from "../../../services/resolver/upstream.ts";
import { fakeDns } from "./fake_dns.ts";

const QUESTION = { name: "www.example.com.", type: RecordType.A, class: RecordClass.IN };
const ANSWER: ResourceRecord = {
  name: "www.example.com.",
  type: RecordType.A,
  class: RecordClass.IN,
  ttl: 60,
  data: { kind: "A", address: "127.0.0.80" },
};

Deno.test("UdpTcpTransport sends EDNS with a random ID and returns the matching reply", async () => {
  await using server = fakeDns(() => [{ aa: true, answers: [ANSWER] }]);
  const transport = new UdpTcpTransport();
  const reply = await transport.query(server, QUESTION, { rd: false, timeoutMs: 2000 });
  assert.deepEqual(reply.answers, [ANSWER]);
  const sent = server.queries[0].message;
  assert.equal(sent.rd, false);
  assert.equal(sent.edns?.udpPayloadSize, 1232);
  await transport.query(server, QUESTION, { rd: true, timeoutMs: 2000 });
  assert.equal(server.queries[1].message.rd, true);
  assert.notEqual(server.queries[0].message.id, server.queries[1].message.id);
});

Deno.test("UdpTcpTransport ignores replies with the wrong ID, wrong question, or garbage", async () => {
  await using server = fakeDns((query) => [
    encodeMessage(
      makeMessage({
        id: (query.id + 1) & 0xffff,
        qr: true,
        questions: query.questions,
        answers: [{ ...ANSWER, data: { kind: "A", address: "127.0.0.66" } }],
      }),
    ),
    {
      questions: [{ ...QUESTION, name: "evil.example.com." }],
      answers: [{ ...ANSWER, data: { kind: "A", address: "127.0.0.67" } }],
    },
    new Uint8Array([1, 2, 3]),
    { qr: false } as never,
    { aa: true, answers: [ANSWER] },
  ]);
  const reply = await new UdpTcpTransport().query(server, QUESTION, { rd: false, timeoutMs: 2000 });
  assert.deepEqual(reply.answers, [ANSWER]);
});

Deno.test("UdpTcpTransport times out on a server that never answers", async () => {
  await using server = fakeDns(() => []);
  await assert.rejects(
    () => new UdpTcpTransport().query(server, QUESTION, { rd: false, timeoutMs: 200 }),
    QueryError,
  );
});

Deno.test("UdpTcpTransport retries over TCP when the UDP reply is truncated", async () => {
  await using server = fakeDns((_query, transport) =>
    transport === "udp" ? [{ tc: true }] : [{ aa: true, answers: [ANSWER, ANSWER] }]
  );
  const reply = await new UdpTcpTransport().query(server, QUESTION, { rd: false, timeoutMs: 2000 });
  assert.equal(reply.answers.length, 2);
  assert.deepEqual(server.queries.map((q) => q.transport), ["udp", "tcp"]);
});

Deno.test("UdpTcpTransport asks again without EDNS after FORMERR", async () => {
  await using server = fakeDns((query) =>
    query.edns ? [{ rcode: Rcode.FORMERR }] : [{ answers: [ANSWER] }]
  );
  const reply = await new UdpTcpTransport().query(server, QUESTION, { rd: false, timeoutMs: 2000 });
  assert.equal(reply.answers.length, 1);
  assert.equal(server.queries[1].message.edns, undefined);
});

Deno.test("UdpTcpTransport with 0x20 randomises case and rejects a reply that does not echo it", async () => {
  await using echoing = fakeDns(() => [{ answers: [ANSWER] }]);
  const transport = new UdpTcpTransport({ use0x20: true });
  await transport.query(echoing, QUESTION, { rd: false, timeoutMs: 2000 });
  assert.equal(echoing.queries[0].message.questions[0].name.toLowerCase(), "www.example.com.");
  await using lowercasing = fakeDns((query) => [{
    questions: [{ ...query.questions[0], name: query.questions[0].name.toLowerCase() }],
    answers: [ANSWER],
  }]);
  // A name with this many letters is all-lowercase by chance only 1 time in 2^13.
  await assert.rejects(
    () => transport.query(lowercasing, QUESTION, { rd: false, timeoutMs: 300 }),
    QueryError,
  );
});

Deno.test("randomCase() changes only letters", () => {
  const out = randomCase("a-1.Example.COM.");
  assert.equal(out.toLowerCase(), "a-1.example.com.");
});
