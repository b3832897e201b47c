// Fuzzing the decoder and the server's reply path with mutated golden packets
// and random bytes: every input either decodes or fails with DecodeError or
// LimitError, the reply path never throws, UDP replies always fit, and
// whatever decodes survives an encode/decode round trip. Seeded, so a
// failure reproduces; bounded in count.

import assert from "node:assert/strict";
import { encodeMessage, wholeMessage } from "../../../lib/dns/codec.ts";
import { Zone } from "../../../lib/dns/zone.ts";
import { DecodeError, LimitError } from "../../../lib/errors.ts";
import { ZoneSet } from "../../../services/dns/authority.ts";
import { AnswerCache, isPlainQuery } from "../../../services/dns/answer_cache.ts";
import { encodeUdpReply, replyTo } from "../../../services/dns/handler.ts";
import { mutate, random } from "./mutate.ts";
import { DIG_QUERY_A_NOEDNS, DIG_QUERY_MX, NSD_ANSWER_A, NSD_ANSWER_MX } from "./goldens.ts";

const ITERATIONS = 20_000;

const zones = new ZoneSet([
  Zone.parse(
    `$ORIGIN example.com.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\n@ MX 10 mail\n` +
      `ns A 127.0.0.1\nmail A 127.0.0.1\n*.w TXT "${"x".repeat(200)}" "${"y".repeat(200)}" "z"\n`,
  ),
]);

Deno.test("fuzz: wholeMessage() and the reply path survive mutated packets", {
  permissions: "none",
}, () => {
  const next = random(0x5eed);
  const seeds = [DIG_QUERY_MX, DIG_QUERY_A_NOEDNS, NSD_ANSWER_MX, NSD_ANSWER_A];
  let decoded = 0;
  let plain = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const packet = mutate(next, seeds);
    try {
      const message = wholeMessage(packet);
      decoded++;
      assert.deepEqual(wholeMessage(encodeMessage(message)), message, `round trip #${i}`);
    } catch (error) {
      if (!(error instanceof DecodeError || error instanceof LimitError)) {
        throw new Error(`packet #${i} threw ${error}`, { cause: error });
      }
    }
    const reply = replyTo(packet, zones);
    if (reply !== null) {
      const bytes = encodeUdpReply(reply);
      assert.ok(bytes.length <= reply.udpBytesMax, `reply #${i} is ${bytes.length} octets`);
      wholeMessage(bytes);
      if (isPlainQuery(packet)) {
        // The cached answer to a respelled question equals the full path's.
        wholeMessage(packet);
        const cache = new AnswerCache();
        cache.answer(packet, zones);
        cache.remember(packet, bytes, zones);
        const respelled = packet.slice();
        for (let at = 12; respelled[at] !== 0; at += 1 + respelled[at]) {
          for (let j = at + 1; j <= at + respelled[at]; j++) {
            if (/[a-z]/i.test(String.fromCharCode(respelled[j])) && next() % 2) {
              respelled[j] ^= 0x20;
            }
          }
        }
        respelled[0] ^= 0xff;
        const cached = cache.answer(respelled, zones);
        if (cached !== undefined) {
          assert.deepEqual(cached, encodeUdpReply(replyTo(respelled, zones)!), `cached #${i}`);
          plain++;
        }
      }
    }
  }
  assert.ok(
    decoded > ITERATIONS / 20,
    `only ${decoded} packets decoded: the mutations are too blunt`,
  );
});
