import assert from "node:assert/strict";
import { fromHex } from "../../../lib/bytes.ts";
import { wholeMessage } from "../../../lib/dns/codec.ts";
import { headerReply, udpReplyBytesMax } from "../../../lib/dns/reply.ts";
import { triage, TRIAGE_DROP, TRIAGE_PASS } from "../../../lib/dns/triage.ts";
import { Opcode, Rcode } from "../../../lib/dns/types.ts";
import { DIG_QUERY_MX, NSD_ANSWER_MX } from "./goldens.ts";

const pure = { permissions: "none" } as const;
const QUESTION = "076578616d706c6503636f6d00 0001 0001"; // example.com. A IN

/** A query header with the given flag octets and counts, then one question. */
function packet(flags: string, counts = "0001 0000 0000 0000"): Uint8Array {
  return fromHex(`1234 ${flags} ${counts} ${QUESTION}`);
}

const TRIAGE_TABLE: { name: string; bytes: Uint8Array; verdict: number }[] = [
  { name: "a query from dig", bytes: DIG_QUERY_MX, verdict: TRIAGE_PASS },
  { name: "a runt of 11 octets", bytes: DIG_QUERY_MX.subarray(0, 11), verdict: TRIAGE_DROP },
  { name: "a response (QR set)", bytes: NSD_ANSWER_MX, verdict: TRIAGE_DROP },
  { name: "an UPDATE (opcode 5)", bytes: packet("2900"), verdict: Rcode.NOTIMP },
  { name: "an unassigned opcode 3", bytes: packet("1910"), verdict: Rcode.NOTIMP },
  { name: "a STATUS (opcode 2)", bytes: packet("1100"), verdict: Rcode.NOTIMP },
  { name: "no question", bytes: fromHex("1234 0100 0000 0000 0000 0000"), verdict: Rcode.FORMERR },
  { name: "two questions", bytes: packet("0100", "0002 0000 0000 0000"), verdict: Rcode.FORMERR },
  {
    name: "an answer record",
    bytes: packet("0100", "0001 0001 0000 0000"),
    verdict: Rcode.FORMERR,
  },
  {
    name: "an authority record",
    bytes: packet("0100", "0001 0000 0001 0000"),
    verdict: Rcode.FORMERR,
  },
  { name: "an OPT record", bytes: packet("0100", "0001 0000 0000 0001"), verdict: TRIAGE_PASS },
];

for (const { name, bytes, verdict } of TRIAGE_TABLE) {
  Deno.test(`triage() of ${name}`, pure, () => {
    assert.equal(triage(bytes), verdict);
  });
}

Deno.test(
  "headerReply() to an unknown opcode echoes ID and opcode, and copies no RD or CD, sets no RA",
  pure,
  () => {
    // Opcode 3, RD set, CD set: flags 0x1910.
    const query = packet("1910");
    for (const recursionAvailable of [false, true]) {
      const reply = wholeMessage(headerReply(query, Rcode.NOTIMP, { recursionAvailable }));
      assert.equal(reply.id, 0x1234);
      assert.equal(reply.qr, true);
      assert.equal(reply.opcode, 3);
      assert.equal(reply.rcode, Rcode.NOTIMP);
      assert.equal(reply.rd, false, "RD is the opcode's to define");
      assert.equal(reply.cd, false, "CD is the opcode's to define");
      assert.equal(reply.ra, false, "RA is not set for an opcode we do not serve");
      assert.equal(reply.aa || reply.tc || reply.ad, false);
      assert.deepEqual(reply.questions, []);
    }
  },
);

Deno.test(
  "headerReply() FORMERR and REFUSED copy RD, set RA for a resolver, never CD",
  pure,
  () => {
    const query = packet("0110"); // QUERY, RD, CD
    const formerr = wholeMessage(headerReply(query, Rcode.FORMERR, { recursionAvailable: false }));
    assert.deepEqual(
      [formerr.opcode, formerr.rd, formerr.ra, formerr.cd, formerr.rcode],
      [Opcode.QUERY, true, false, false, Rcode.FORMERR],
    );
    const refused = wholeMessage(headerReply(query, Rcode.REFUSED, { recursionAvailable: true }));
    assert.deepEqual([refused.rd, refused.ra, refused.cd], [true, true, false]);
  },
);

Deno.test("headerReply() writes into the buffer it is given", pure, () => {
  const into = new Uint8Array(64).fill(0xff);
  const reply = headerReply(packet("0100"), Rcode.REFUSED, { recursionAvailable: false, into });
  assert.equal(reply.buffer, into.buffer);
  assert.equal(reply.length, 12);
  assert.deepEqual(reply, fromHex("1234 8105 0000 0000 0000 0000"));
});

Deno.test(
  "udpReplyBytesMax() is 512 without EDNS, else the client's size within 512..ours",
  pure,
  () => {
    const edns = (udpPayloadSize: number) => ({
      udpPayloadSize,
      extendedRcode: 0,
      version: 0,
      dnssecOk: false,
      options: [],
    });
    assert.equal(udpReplyBytesMax(undefined, 1232), 512);
    assert.equal(udpReplyBytesMax(edns(100), 1232), 512);
    assert.equal(udpReplyBytesMax(edns(1000), 1232), 1000);
    assert.equal(udpReplyBytesMax(edns(4096), 1232), 1232);
  },
);
