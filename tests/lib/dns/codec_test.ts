import assert from "node:assert/strict";
import { concat, fromHex } from "../../../lib/bytes.ts";
import {
  decodeMessage,
  decodeTcpFrame,
  DEFAULT_DECODE_LIMITS,
  DEFAULT_FRAME_LIMITS,
  encodeMessage,
  encodeTcpFrame,
  wholeMessage,
} from "../../../lib/dns/codec.ts";
import { readName } from "../../../lib/dns/name.ts";
import {
  makeMessage,
  type Message,
  Rcode,
  RecordType,
  type ResourceRecord,
} from "../../../lib/dns/types.ts";
import { DecodeError, LimitError } from "../../../lib/errors.ts";
import type { Bytes } from "../../../lib/bytes.ts";
import { isIncomplete } from "../../../lib/decode.ts";
import { assertDecodesEveryWay, splitEveryWay } from "../../_support/split.ts";
import { DIG_QUERY_A_NOEDNS, DIG_QUERY_MX, NSD_ANSWER_A, NSD_ANSWER_MX } from "./goldens.ts";

const pure = { permissions: "none" } as const;
const GOLDENS = { DIG_QUERY_MX, NSD_ANSWER_MX, DIG_QUERY_A_NOEDNS, NSD_ANSWER_A };

const decodeBound = (buf: Bytes, from: number, to: number) =>
  decodeMessage(buf, DEFAULT_DECODE_LIMITS, from, to);

Deno.test("decodeMessage() reads a query captured from dig, however it arrives", pure, () => {
  const m = assertDecodesEveryWay(decodeBound, DIG_QUERY_MX);
  assert.equal(m.id, 0xed7d);
  assert.equal(m.qr, false);
  assert.equal(m.rd, true);
  assert.equal(m.ad, true);
  assert.deepEqual(m.questions, [{ name: "example.com.", type: RecordType.MX, class: 1 }]);
  assert.deepEqual(m.additional, []);
  assert.equal(m.edns?.udpPayloadSize, 1232);
  assert.equal(m.edns?.version, 0);
  assert.equal(m.edns?.dnssecOk, false);
  assert.equal(m.edns?.options.length, 1);
  assert.equal(m.edns?.options[0].code, 10);
  assert.deepEqual(m.edns?.options[0].data, fromHex("ac3b0e2a18a623f1"));
});

Deno.test("decodeMessage() follows NSD's compression pointers, however they arrive", pure, () => {
  const m = assertDecodesEveryWay(decodeBound, NSD_ANSWER_MX);
  assert.equal(m.qr && m.aa && m.rd, true);
  assert.deepEqual(m.answers, [{
    name: "example.com.",
    type: RecordType.MX,
    class: 1,
    ttl: 3600,
    data: { kind: "MX", preference: 10, exchange: "mail.example.com." },
  }]);
  assert.deepEqual(m.authority[0].data, { kind: "NAME", target: "ns1.example.com." });
  assert.deepEqual(
    m.additional.map((r) => [r.name, r.type, r.data]),
    [
      ["mail.example.com.", RecordType.A, { kind: "A", address: "127.0.0.1" }],
      ["ns1.example.com.", RecordType.A, { kind: "A", address: "127.0.0.1" }],
      ["mail.example.com.", RecordType.AAAA, { kind: "AAAA", address: "::1" }],
    ],
  );
});

Deno.test("decodeMessage() decodes every golden message every way", pure, () => {
  for (const golden of Object.values(GOLDENS)) assertDecodesEveryWay(decodeBound, golden);
});

Deno.test("decodeMessage() stops at the last record and reports the bytes it used", pure, () => {
  const stream = concat([DIG_QUERY_MX, NSD_ANSWER_A]) as Bytes;
  const first = decodeMessage(stream);
  if (isIncomplete(first)) throw new Error("incomplete");
  assert.equal(first.bytesUsed, DIG_QUERY_MX.length);
  const second = decodeMessage(stream, DEFAULT_DECODE_LIMITS, first.bytesUsed);
  if (isIncomplete(second)) throw new Error("incomplete");
  assert.equal(second.bytesUsed, NSD_ANSWER_A.length);
  assert.deepEqual(second.value, wholeMessage(NSD_ANSWER_A));
});

Deno.test("decodeMessage() says how much of a header is missing", pure, () => {
  assert.deepEqual(decodeMessage(DIG_QUERY_MX.subarray(0, 5)), {
    incomplete: true,
    bytesNeeded: 7,
  });
});

Deno.test("encodeMessage() compresses exactly as NSD does", pure, () => {
  for (const [label, golden] of Object.entries(GOLDENS)) {
    assert.deepEqual(encodeMessage(wholeMessage(golden)), golden, label);
  }
});

Deno.test("readName() decodes the RFC 1035 4.1.4 compression example", pure, () => {
  const buf = new Uint8Array(100);
  // Offset 20: F.ISI.ARPA; offset 40: FOO + pointer to 20; offset 64: pointer to 26 (ARPA).
  buf.set(fromHex("01 46 03 495349 04 41525041 00"), 20);
  buf.set(fromHex("03 464f4f c014"), 40);
  buf.set(fromHex("c01a"), 64);
  buf.set(fromHex("00"), 92);
  assert.deepEqual(readName(buf, 20), { name: "F.ISI.ARPA.", end: 32 });
  assert.deepEqual(readName(buf, 40), { name: "FOO.F.ISI.ARPA.", end: 46 });
  assert.deepEqual(readName(buf, 64), { name: "ARPA.", end: 66 });
  assert.deepEqual(readName(buf, 92), { name: ".", end: 93 });
});

const header = "1234 0100 0001 0000 0000 0000";
const BAD_PACKETS: { name: string; hex: string; error: typeof DecodeError | typeof LimitError }[] =
  [
    { name: "shorter than a header", hex: "1234 0100 0001", error: DecodeError },
    { name: "a pointer to itself", hex: `${header} c00c 0001 0001`, error: DecodeError },
    { name: "a forward pointer", hex: `${header} c00e 0001 0001 00`, error: DecodeError },
    {
      name: "a two-pointer loop",
      hex: `1234 0100 0002 0000 0000 0000 01 61 c012 0001 0001 c00c 0001 0001`,
      error: DecodeError,
    },
    {
      name: "a label over 63 octets (0x40 type)",
      hex: `${header} 40 ${"61".repeat(64)} 00 0001 0001`,
      error: DecodeError,
    },
    {
      name: "a name over 255 octets",
      hex: `${header} ${("3f" + "61".repeat(63)).repeat(4)} 00 0001 0001`,
      error: LimitError,
    },
    {
      name: "a question count that lies",
      hex: `1234 0100 0002 0000 0000 0000 00 0001 0001`,
      error: DecodeError,
    },
    {
      name: "an answer count that lies",
      hex: `1234 0100 0001 0005 0000 0000 00 0001 0001`,
      error: DecodeError,
    },
    { name: "trailing garbage", hex: `${header} 00 0001 0001 ff`, error: DecodeError },
    {
      name: "RDATA longer than the packet",
      hex: `1234 8100 0000 0001 0000 0000 00 0001 0001 00000000 0010 7f000001`,
      error: DecodeError,
    },
    {
      name: "an A record of 5 octets",
      hex: `1234 8100 0000 0001 0000 0000 00 0001 0001 00000000 0005 7f00000101`,
      error: DecodeError,
    },
    {
      name: "two OPT records",
      hex: `1234 0100 0000 0000 0000 0002 00 0029 1000 00000000 0000 00 0029 1000 00000000 0000`,
      error: DecodeError,
    },
    {
      name: "OPT in the answer section",
      hex: `1234 0100 0000 0001 0000 0000 00 0029 1000 00000000 0000`,
      error: DecodeError,
    },
  ];

for (const bad of BAD_PACKETS) {
  Deno.test(`wholeMessage() rejects ${bad.name}`, pure, () => {
    assert.throws(() => wholeMessage(fromHex(bad.hex)), bad.error);
  });
}

Deno.test("wholeMessage() throws only DecodeError on every strict prefix", pure, () => {
  for (const [label, golden] of Object.entries(GOLDENS)) {
    for (let length = 0; length < golden.length; length++) {
      assert.throws(
        () => wholeMessage(golden.subarray(0, length)),
        DecodeError,
        `${label}[0..${length}]`,
      );
    }
  }
});

function record(
  type: number,
  data: ResourceRecord["data"],
  name = "x.example.com.",
): ResourceRecord {
  return { name, type, class: 1, ttl: 300, data };
}

const ROUND_TRIP: ResourceRecord[] = [
  record(RecordType.A, { kind: "A", address: "127.0.0.1" }),
  record(RecordType.AAAA, { kind: "AAAA", address: "2001:db8::1" }),
  record(RecordType.CNAME, { kind: "NAME", target: "www.example.com." }),
  record(RecordType.NS, { kind: "NAME", target: "ns1.example.com." }),
  record(RecordType.PTR, { kind: "NAME", target: "host.example.com." }),
  record(RecordType.MX, { kind: "MX", preference: 10, exchange: "mail.example.com." }),
  record(RecordType.SOA, {
    kind: "SOA",
    mname: "ns1.example.com.",
    rname: "hostmaster.example.com.",
    serial: 4294967295,
    refresh: 3600,
    retry: 900,
    expire: 604800,
    minimum: 300,
  }),
  record(RecordType.TXT, {
    kind: "TXT",
    strings: [new TextEncoder().encode("v=spf1 -all"), new Uint8Array(0), new Uint8Array([0, 255])],
  }),
  record(RecordType.SRV, {
    kind: "SRV",
    priority: 1,
    weight: 2,
    port: 5060,
    target: "sip.example.com.",
  }),
  record(RecordType.CAA, {
    kind: "CAA",
    flags: 128,
    tag: "issue",
    value: new TextEncoder().encode("letsencrypt.org"),
  }),
  record(65280, { kind: "OPAQUE", bytes: fromHex("0a000001") }),
  record(RecordType.DNSKEY, { kind: "OPAQUE", bytes: new Uint8Array(0) }),
];

Deno.test("every record type survives encode and decode", pure, () => {
  const message = makeMessage({
    id: 7,
    qr: true,
    aa: true,
    rcode: Rcode.NXDOMAIN,
    questions: [{ name: "x.example.com.", type: RecordType.ANY, class: 1 }],
    answers: ROUND_TRIP,
    authority: ROUND_TRIP.slice(0, 3),
    additional: ROUND_TRIP.slice(3),
    edns: {
      udpPayloadSize: 4096,
      extendedRcode: 0,
      version: 0,
      dnssecOk: true,
      options: [{ code: 10, data: fromHex("0102030405060708") }],
    },
  });
  const again = wholeMessage(encodeMessage(message));
  assert.deepEqual(again, message);
  assert.deepEqual(wholeMessage(encodeMessage(message, { compress: false })), message);
});

Deno.test("the extended rcode travels in the OPT record (BADVERS = 16)", pure, () => {
  const edns = { udpPayloadSize: 1232, extendedRcode: 1, version: 0, dnssecOk: false, options: [] };
  const message = makeMessage({ qr: true, rcode: Rcode.BADVERS, edns });
  const bytes = encodeMessage(message);
  assert.equal(bytes[3] & 0x0f, 0);
  assert.equal(wholeMessage(bytes).rcode, Rcode.BADVERS);
});

Deno.test("owner names take the question's case through compression", pure, () => {
  const message = makeMessage({
    qr: true,
    questions: [{ name: "WwW.Example.COM.", type: 1, class: 1 }],
    answers: [record(1, { kind: "A", address: "127.0.0.1" }, "www.example.com.")],
  });
  const bytes = encodeMessage(message);
  assert.equal(bytes.length, 12 + 21 + 16); // the owner is a 2-octet pointer
  assert.equal(wholeMessage(bytes).answers[0].name, "WwW.Example.COM.");
});

function bigAnswer(strings: number): Message {
  const text = new TextEncoder().encode("x".repeat(200));
  return makeMessage({
    qr: true,
    questions: [{ name: "big.example.com.", type: RecordType.TXT, class: 1 }],
    answers: Array.from(
      { length: strings },
      (_, i) =>
        record(
          RecordType.TXT,
          { kind: "TXT", strings: [text, new Uint8Array([i])] },
          "big.example.com.",
        ),
    ),
    additional: [record(1, { kind: "A", address: "127.0.0.1" })],
    edns: { udpPayloadSize: 1232, extendedRcode: 0, version: 0, dnssecOk: false, options: [] },
  });
}

Deno.test(
  "encodeMessage() sets TC and keeps question and OPT when answers do not fit",
  pure,
  () => {
    const bytes = encodeMessage(bigAnswer(5), { bytesMax: 512 });
    assert.ok(bytes.length <= 512);
    const m = wholeMessage(bytes);
    assert.equal(m.tc, true);
    assert.equal(m.answers.length, 0);
    assert.equal(m.questions.length, 1);
    assert.equal(m.edns?.udpPayloadSize, 1232);
    assert.equal(wholeMessage(encodeMessage(bigAnswer(5))).answers.length, 5);
  },
);

Deno.test("encodeMessage() drops additional records that do not fit, without TC", pure, () => {
  const full = encodeMessage(bigAnswer(2));
  const bytes = encodeMessage(bigAnswer(2), { bytesMax: full.length - 1 });
  const m = wholeMessage(bytes);
  assert.equal(m.tc, false);
  assert.equal(m.answers.length, 2);
  assert.equal(m.additional.length, 0);
  assert.ok(m.edns);
});

Deno.test("decodeTcpFrame() finds the same messages however the stream is split", pure, () => {
  const stream = concat([encodeTcpFrame(DIG_QUERY_MX), encodeTcpFrame(DIG_QUERY_A_NOEDNS)]);
  for (const { label, chunks } of splitEveryWay(stream)) {
    let buffered = new Uint8Array(0);
    const found: Uint8Array[] = [];
    for (const chunk of chunks) {
      buffered = concat([buffered, chunk]);
      for (;;) {
        const frame = decodeTcpFrame(buffered);
        if (isIncomplete(frame)) {
          assert.ok(frame.bytesNeeded > 0, label);
          break;
        }
        found.push(frame.value.slice());
        buffered = buffered.slice(frame.bytesUsed);
      }
    }
    assert.deepEqual(found, [DIG_QUERY_MX, DIG_QUERY_A_NOEDNS], label);
    assert.equal(buffered.length, 0, label);
  }
});

Deno.test("decodeTcpFrame() finds a frame however it arrives", pure, () => {
  const payload = assertDecodesEveryWay(
    (buf, from, to) => decodeTcpFrame(buf, DEFAULT_FRAME_LIMITS, from, to),
    concat([encodeTcpFrame(NSD_ANSWER_MX), encodeTcpFrame(DIG_QUERY_MX)]),
    { bytesUsed: 2 + NSD_ANSWER_MX.length },
  );
  assert.deepEqual(payload, NSD_ANSWER_MX);
});

Deno.test("decodeTcpFrame() says how many octets it still needs", pure, () => {
  const frame = encodeTcpFrame(DIG_QUERY_MX);
  assert.deepEqual(decodeTcpFrame(frame.subarray(0, 1)), { incomplete: true, bytesNeeded: 1 });
  assert.deepEqual(decodeTcpFrame(frame.subarray(0, 10)), {
    incomplete: true,
    bytesNeeded: frame.length - 10,
  });
  assert.throws(() => decodeTcpFrame(new Uint8Array([0, 0])), DecodeError);
  assert.throws(
    () => decodeTcpFrame(new Uint8Array([0, 200]), { messageBytesMax: 100 }),
    LimitError,
  );
});
