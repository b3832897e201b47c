import assert from "node:assert/strict";
import type { Bytes } from "../../../lib/bytes.ts";
import { encodeMessage, wholeMessage } from "../../../lib/dns/codec.ts";
import {
  makeMessage,
  type Message,
  Rcode,
  RecordClass,
  RecordType,
} from "../../../lib/dns/types.ts";
import { queryKey, ReplyCache, scanReply } from "../../../services/resolver/reply_cache.ts";

const EDNS = { udpPayloadSize: 1232, extendedRcode: 0, version: 0, dnssecOk: false, options: [] };

function query(id: number, name: string, fields: Partial<Message> = {}): Uint8Array {
  return encodeMessage(
    makeMessage({
      id,
      rd: true,
      questions: [{ name, type: RecordType.A, class: RecordClass.IN }],
      ...fields,
    }),
  );
}

function reply(name: string, ttl: number, fields: Partial<Message> = {}): Bytes {
  return encodeMessage(makeMessage({
    id: 1,
    qr: true,
    rd: true,
    ra: true,
    questions: [{ name, type: RecordType.A, class: RecordClass.IN }],
    answers: [{
      name,
      type: RecordType.A,
      class: RecordClass.IN,
      ttl,
      data: { kind: "A", address: "127.0.0.1" },
    }],
    edns: EDNS,
    ...fields,
  }));
}

Deno.test("ReplyCache answers with the client's ID and question case, TTLs counted down", () => {
  let now = 0;
  const cache = new ReplyCache({ now: () => now });
  cache.remember(
    query(1, "www.example.com.", { edns: EDNS }),
    "udp",
    reply("www.example.com.", 300),
  );
  now = 7_500;
  const out = cache.answer(query(0xbeef, "WWW.Example.com.", { edns: EDNS }), "udp");
  assert.ok(out);
  const message = wholeMessage(out);
  assert.equal(message.id, 0xbeef);
  assert.equal(message.questions[0].name, "WWW.Example.com.");
  assert.equal(message.answers[0].ttl, 293);
  assert.equal(message.edns?.udpPayloadSize, 1232, "the OPT record is left alone");

  // Into a caller's buffer: the same bytes, in a view of that buffer; a
  // buffer too small for the reply is not used.
  const buffer = new Uint8Array(512).fill(0xff);
  const again = cache.answer(query(0xbeef, "WWW.Example.com.", { edns: EDNS }), "udp", buffer);
  assert.ok(again);
  assert.equal(again.buffer, buffer.buffer);
  assert.deepEqual(again, out);
  now = 8_000;
  const tiny = new Uint8Array(4);
  const fresh = cache.answer(query(3, "www.example.com.", { edns: EDNS }), "udp", tiny);
  assert.ok(fresh && fresh.buffer !== tiny.buffer);
  assert.equal(wholeMessage(fresh).answers[0].ttl, 292);
  now = 300_000 + 1_000; // past every TTL: the entry is gone
  const expired = cache.answer(query(2, "www.example.com.", { edns: EDNS }), "udp", buffer);
  assert.equal(expired, undefined);
});

Deno.test("ReplyCache keeps queries of different shapes apart", () => {
  const cache = new ReplyCache();
  cache.remember(query(1, "a.test.", { edns: EDNS }), "udp", reply("a.test.", 300));
  assert.equal(
    cache.answer(query(2, "a.test."), "udp"),
    undefined,
    "no EDNS: a different size limit",
  );
  assert.equal(cache.answer(query(2, "a.test.", { edns: EDNS }), "tcp"), undefined);
  assert.equal(cache.answer(query(2, "a.test.", { edns: EDNS, rd: false }), "udp"), undefined);
  assert.equal(cache.answer(query(2, "b.test.", { edns: EDNS }), "udp"), undefined);
  assert.ok(cache.answer(query(2, "a.test.", { edns: EDNS }), "udp"));
});

Deno.test("ReplyCache lets an entry go before the prefetch window of its smallest TTL", () => {
  let now = 0;
  const cache = new ReplyCache({ now: () => now, prefetchPercent: 10 });
  const q = query(1, "a.test.");
  cache.remember(q, "udp", reply("a.test.", 100, { edns: undefined }));
  now = 88_000;
  assert.ok(cache.answer(q, "udp"));
  now = 89_000;
  assert.equal(cache.answer(q, "udp"), undefined);
});

Deno.test("ReplyCache does not keep truncated, SERVFAIL or TTL-less replies", () => {
  const cache = new ReplyCache();
  const q = query(1, "a.test.");
  cache.remember(q, "udp", reply("a.test.", 300, { tc: true, edns: undefined }));
  cache.remember(q, "udp", reply("a.test.", 300, { rcode: Rcode.SERVFAIL, edns: undefined }));
  cache.remember(q, "udp", reply("a.test.", 1, { edns: undefined }));
  cache.remember(
    q,
    "udp",
    encodeMessage(
      makeMessage({
        qr: true,
        rcode: Rcode.NXDOMAIN,
        questions: [{ name: "a.test.", type: 1, class: 1 }],
      }),
    ),
  );
  assert.equal(cache.size, 0);
});

Deno.test("queryKey() refuses queries that are not plain", () => {
  assert.equal(queryKey(new Uint8Array(5), "udp"), undefined);
  const two = encodeMessage(
    makeMessage({
      questions: [{ name: "a.", type: 1, class: 1 }, { name: "b.", type: 1, class: 1 }],
    }),
  );
  assert.equal(queryKey(two, "udp"), undefined);
  const withAnswer = encodeMessage(makeMessage({
    questions: [{ name: "a.", type: 1, class: 1 }],
    answers: [{ name: "a.", type: 1, class: 1, ttl: 1, data: { kind: "A", address: "127.0.0.1" } }],
  }));
  assert.equal(queryKey(withAnswer, "udp"), undefined);
  const trailing = new Uint8Array([...query(1, "a."), 0, 0]);
  assert.equal(queryKey(trailing, "udp"), undefined);
  assert.ok(queryKey(query(1, "a."), "udp"));
});

Deno.test("queryKey() keeps no key for opcodes other than QUERY", () => {
  for (const opcode of [1, 2, 3, 4, 5, 15]) {
    const bytes = query(1, "a.");
    bytes[2] |= opcode << 3;
    assert.equal(queryKey(bytes, "udp"), undefined, `opcode ${opcode}`);
  }
});

Deno.test("scanReply() finds every TTL except the OPT record's", () => {
  const scan = scanReply(reply("a.test.", 42));
  assert.equal(scan?.ttlOffsets.length, 1);
  assert.equal(scan?.minTtlSec, 42);
  assert.equal(scanReply(new Uint8Array([1, 2, 3])), undefined);
});
