// Per-query CPU cost of the DNS server's paths, without sockets:
//   deno bench -A bench/micro/dns_codec_bench.ts
// The answer cache is the baseline; the full path decodes, looks up and encodes.

import { encodeMessage, wholeMessage } from "../../lib/dns/codec.ts";
import { Zone } from "../../lib/dns/zone.ts";
import { AnswerCache } from "../../services/dns/answer_cache.ts";
import { ZoneSet } from "../../services/dns/authority.ts";
import { encodeUdpReply, replyTo } from "../../services/dns/handler.ts";
import { DIG_QUERY_MX, NSD_ANSWER_MX } from "../../tests/lib/dns/goldens.ts";

const zoneText = await Deno.readTextFile(
  new URL("../../config/zones/example.com.zone", import.meta.url),
);
const zones = new ZoneSet([Zone.parse(zoneText)]);
const cache = new AnswerCache();
cache.answer(DIG_QUERY_MX, zones);
cache.remember(DIG_QUERY_MX, encodeUdpReply(replyTo(DIG_QUERY_MX, zones)!), zones);
const into = new Uint8Array(65535);
const decodedAnswer = wholeMessage(NSD_ANSWER_MX);

Deno.bench("answer from the cache", { group: "query", baseline: true }, () => {
  cache.answer(DIG_QUERY_MX, zones, into);
});

Deno.bench("full path: decode, look up, encode", { group: "query" }, () => {
  encodeUdpReply(replyTo(DIG_QUERY_MX, zones)!);
});

Deno.bench("wholeMessage(NSD's MX answer)", { group: "codec" }, () => {
  wholeMessage(NSD_ANSWER_MX);
});

Deno.bench("encodeMessage(NSD's MX answer)", { group: "codec" }, () => {
  encodeMessage(decodedAnswer);
});
