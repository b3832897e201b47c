import assert from "node:assert/strict";
import type { Bytes } from "../../../lib/bytes.ts";
import { encodeMessage, wholeMessage } from "../../../lib/dns/codec.ts";
import { makeMessage, RecordType } from "../../../lib/dns/types.ts";
import { Zone } from "../../../lib/dns/zone.ts";
import { AnswerCache, isPlainQuery } from "../../../services/dns/answer_cache.ts";
import { ZoneSet } from "../../../services/dns/authority.ts";
import { encodeUdpReply, replyTo } from "../../../services/dns/handler.ts";
import { DIG_QUERY_MX } from "../../lib/dns/goldens.ts";

const pure = { permissions: "none" } as const;
const TEXT = "$ORIGIN example.com.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 127.0.0.1\n" +
  "www A 127.0.0.2\nalias CNAME www\n";

function ask(id: number, name: string, type: number = RecordType.A): Uint8Array {
  return encodeMessage(makeMessage({ id, rd: true, questions: [{ name, type, class: 1 }] }));
}

function fullPath(packet: Uint8Array, zones: ZoneSet): Bytes {
  return encodeUdpReply(replyTo(packet, zones)!);
}

Deno.test("the answer cache gives each query its own ID and spelling", pure, () => {
  const zones = new ZoneSet([Zone.parse(TEXT)]);
  const cache = new AnswerCache();
  const first = ask(1, "alias.example.com.");
  assert.equal(cache.answer(first, zones), undefined, "a miss first");
  cache.remember(first, fullPath(first, zones), zones);
  const again = ask(2, "ALIAS.Example.COM.");
  const cached = cache.answer(again, zones);
  assert.ok(cached);
  assert.deepEqual(cached, fullPath(again, zones));
  const message = wholeMessage(cached);
  assert.equal(message.id, 2);
  assert.equal(message.answers[0].name, "ALIAS.Example.COM.");
  assert.equal(cache.answer(ask(3, "alias.example.com.", RecordType.AAAA), zones), undefined);
});

Deno.test("the answer cache empties when the zones are replaced", pure, () => {
  const cache = new AnswerCache();
  const before = new ZoneSet([Zone.parse(TEXT)]);
  const packet = ask(1, "www.example.com.");
  cache.answer(packet, before);
  cache.remember(packet, fullPath(packet, before), before);
  assert.ok(cache.answer(packet, before));
  const after = new ZoneSet([Zone.parse(TEXT.replace("127.0.0.2", "127.0.0.3"))]);
  assert.equal(cache.answer(packet, after), undefined);
  assert.equal(cache.size, 0);
});

Deno.test("only plain queries are cached", pure, () => {
  assert.ok(isPlainQuery(DIG_QUERY_MX), "an EDNS query with a cookie option");
  assert.ok(isPlainQuery(ask(1, "www.example.com.")));
  const compressed = ask(1, "www.example.com.");
  assert.ok(!isPlainQuery(new Uint8Array([...compressed, 0])), "trailing octets");
  const twoQuestions = ask(1, "www.example.com.");
  twoQuestions[5] = 2;
  assert.ok(!isPlainQuery(twoQuestions));
  const response = ask(1, "www.example.com.");
  response[2] |= 0x80;
  assert.ok(!isPlainQuery(response));
});
