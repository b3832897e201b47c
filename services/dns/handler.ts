// The authoritative server's handler for lib/dns/server.ts: one query in,
// its encoded reply out, no I/O.
//
// Past triage (lib/dns/triage.ts) every query gets an answer: FORMERR when
// it does not decode, the authority's answer otherwise. UDP answers are cut
// to 512 octets, or to the client's EDNS size capped at ours, with TC set
// when the answer does not fit (RFC 1035 4.2.1, RFC 6891 6.2.5); the same
// query over TCP gets the whole answer. UDP answers pass through response
// rate limiting (rrl.ts) first; repeated plain UDP questions are answered
// from the encoded-answer cache (answer_cache.ts) without a decode.

import type { Bytes } from "../../lib/bytes.ts";
import { encodeMessage, wholeMessage } from "../../lib/dns/codec.ts";
import { headerReply, truncatedReply, udpReplyBytesMax } from "../../lib/dns/reply.ts";
import type { DnsClient, DnsReply } from "../../lib/dns/server.ts";
import { triage, TRIAGE_DROP, TRIAGE_PASS } from "../../lib/dns/triage.ts";
import { type Message, Rcode } from "../../lib/dns/types.ts";
import { DecodeError, LimitError } from "../../lib/errors.ts";
import { AnswerCache } from "./answer_cache.ts";
import {
  answerQuery,
  authorityIsOptional,
  OUR_UDP_PAYLOAD_BYTES,
  type ZoneSet,
} from "./authority.ts";
import type { ResponseRateLimiter } from "./rrl.ts";

export interface Reply {
  readonly response: Message;
  /** Largest UDP answer this client can take. */
  readonly udpBytesMax: number;
}

/**
 * The reply to one packet, or null when it must be dropped (triage: shorter
 * than a header, or itself a response). Triage errors and undecodable
 * queries get their header-only reply: the one wire-error mapper of this
 * service.
 */
export function replyTo(packet: Uint8Array, zones: ZoneSet): Reply | null {
  const verdict = triage(packet);
  if (verdict === TRIAGE_DROP) return null;
  if (verdict !== TRIAGE_PASS) return errorReply(packet, verdict);
  let query: Message;
  try {
    query = wholeMessage(packet);
  } catch (error) {
    const rcode = error instanceof DecodeError || error instanceof LimitError
      ? Rcode.FORMERR
      : Rcode.SERVFAIL;
    return errorReply(packet, rcode);
  }
  return {
    response: answerQuery(query, zones),
    udpBytesMax: udpReplyBytesMax(query.edns, OUR_UDP_PAYLOAD_BYTES),
  };
}

/** The header-only reply of lib/dns/reply.ts, as a message. */
function errorReply(packet: Uint8Array, rcode: number): Reply {
  const bytes = headerReply(packet, rcode, { recursionAvailable: false });
  return { response: wholeMessage(bytes), udpBytesMax: bytes.length };
}

/** The encoded UDP answer (truncated to fit), or the slip reply (empty, TC set). */
export function encodeUdpReply(reply: Reply, slip = false): Bytes {
  if (slip) return encodeMessage(truncatedReply(reply.response));
  return encodeMessage(reply.response, {
    bytesMax: reply.udpBytesMax,
    authorityOptional: authorityIsOptional(reply.response),
  });
}

/** Counters of the handler for /metrics. */
export interface AuthoritativeStats {
  rateLimitDropped: number;
  rateLimitSlipped: number;
  answerCacheHits: number;
}

export interface AuthoritativeOptions {
  /** The zones to answer from; called per query, so a reload swaps them atomically. */
  readonly zones: () => ZoneSet;
  readonly rateLimiter: ResponseRateLimiter;
  /** Encoded answers kept for repeated plain queries (0: no cache). */
  readonly answerCacheEntries: number;
}

/** The handler: `answer` is given to lib/dns/server.ts's serveDns(). */
export class AuthoritativeHandler {
  readonly stats: AuthoritativeStats = {
    rateLimitDropped: 0,
    rateLimitSlipped: 0,
    answerCacheHits: 0,
  };
  readonly #options: AuthoritativeOptions;
  readonly #cache: AnswerCache | undefined;

  constructor(options: AuthoritativeOptions) {
    this.#options = options;
    this.#cache = options.answerCacheEntries > 0
      ? new AnswerCache(options.answerCacheEntries)
      : undefined;
  }

  readonly answer = (query: Bytes, client: DnsClient): DnsReply => {
    const zones = this.#options.zones();
    if (client.transport === "tcp") {
      const reply = replyTo(query, zones);
      return reply === null ? undefined : encodeMessage(reply.response);
    }
    const { rateLimiter } = this.#options;
    const decision = rateLimiter.enabled ? rateLimiter.check(client.address, Date.now()) : "send";
    if (decision === "drop") {
      this.stats.rateLimitDropped++;
      return undefined;
    }
    if (decision === "slip") this.stats.rateLimitSlipped++;
    const cache = decision === "send" ? this.#cache : undefined;
    const cached = cache?.answer(query, zones, client.replyBuffer);
    if (cached) {
      this.stats.answerCacheHits++;
      return cached;
    }
    const reply = replyTo(query, zones);
    if (reply === null) return undefined;
    const out = encodeUdpReply(reply, decision === "slip");
    cache?.remember(query, out, zones);
    return out;
  };
}
