// Answering one client query: access control, validation, then resolution
// through the shared cache, with the behaviours a resolver user expects:
//
// - concurrent identical questions share one resolution (inflight.ts);
// - serve-stale (RFC 8767): upstream is tried first; if it has not finished
//   after `staleWaitMs` (the RFC's "client response timer", 1.8 s) or it
//   fails, an expired answer still in its stale window is served with TTL
//   30, and the resolution goes on in the background to refresh the cache;
// - prefetch: a cache hit in the last `prefetchPercent` of its TTL starts a
//   background refresh, so popular names never expire for clients;
// - RD=0 queries are answered from the cache only (as Unbound does).
//
// Replies: RA always set, AA never. Header triage (lib/dns/triage.ts) runs
// before anything else, the reply cache included: runts and responses are
// dropped, other opcodes get NOTIMP, anything but one question FORMERR.
// Then FORMERR for malformed queries, REFUSED for clients outside the
// access list, for zone transfers and (with --local-only) for names outside
// the local zones, BADVERS for EDNS versions above 0 (RFC 6891 6.1.3),
// SERVFAIL when resolution fails (the reason goes to the log).

import { encodeMessage, wholeMessage } from "../../lib/dns/codec.ts";
import { headerReply, udpReplyBytesMax } from "../../lib/dns/reply.ts";
import type { DnsClient } from "../../lib/dns/server.ts";
import { triage, TRIAGE_DROP, TRIAGE_PASS } from "../../lib/dns/triage.ts";
import {
  type Edns,
  makeMessage,
  type Message,
  type Question,
  Rcode,
  RecordClass,
  RecordType,
  type ResourceRecord,
} from "../../lib/dns/types.ts";
import type { Bytes } from "../../lib/bytes.ts";
import type { AccessList } from "./acl.ts";
import type { RecordCache } from "./cache.ts";
import { Inflight } from "./inflight.ts";
import { ReplyCache } from "./reply_cache.ts";
import type { Iterator, Resolution } from "./iterator.ts";

export interface RecursiveOptions {
  /** Wait for upstream before serving stale data; 0 disables serve-stale. */
  staleWaitMs: number;
  /** Refresh entries hit in the last N% of their TTL; 0 disables prefetch. */
  prefetchPercent: number;
  /** Largest UDP reply we send, whatever the client advertises (RFC 6891 6.2.5). */
  udpPayloadBytesMax: number;
  /** CNAME hops followed when serving from the cache alone. */
  cnameHopsMax: number;
  /** Encoded replies kept for repeated questions; 0 turns that cache off. */
  replyCacheEntries: number;
}

export const DEFAULT_RECURSIVE: RecursiveOptions = {
  staleWaitMs: 1800,
  prefetchPercent: 10,
  udpPayloadBytesMax: 1232,
  cnameHopsMax: 12,
  replyCacheEntries: 10_000,
};

/** Entries shorter-lived than this are not worth prefetching (Unbound: 10 s). */
const PREFETCH_MIN_TTL_SEC = 10;

export interface RecursiveStats {
  queries: number;
  refused: number;
  formerr: number;
  servfail: number;
  staleAnswers: number;
  prefetches: number;
  /** Answers copied from the encoded-reply cache. */
  replyCacheHits: number;
}

/** Who asked: lib/dns/server.ts's client. */
export type Client = DnsClient;

export interface Answered {
  readonly reply: Bytes;
  /** Why the answer is SERVFAIL, for the log. */
  readonly failure?: string;
}

export class RecursiveService {
  readonly #iterator: Iterator;
  readonly #cache: RecordCache;
  readonly #acl: AccessList;
  readonly #options: RecursiveOptions;
  readonly #inflight = new Inflight<Resolution>();
  readonly #replies: ReplyCache;
  readonly #background = new Set<Promise<unknown>>();
  readonly stats: RecursiveStats = {
    queries: 0,
    refused: 0,
    formerr: 0,
    servfail: 0,
    staleAnswers: 0,
    prefetches: 0,
    replyCacheHits: 0,
  };

  constructor(
    parts: { iterator: Iterator; cache: RecordCache; acl: AccessList; now?: () => number },
    options: Partial<RecursiveOptions> = {},
  ) {
    this.#iterator = parts.iterator;
    this.#cache = parts.cache;
    this.#acl = parts.acl;
    this.#options = { ...DEFAULT_RECURSIVE, ...options };
    this.#replies = new ReplyCache({
      entriesMax: this.#options.replyCacheEntries,
      prefetchPercent: this.#options.prefetchPercent,
      now: parts.now,
    });
  }

  /**
   * Answers one query; undefined means drop it silently. Cache hits and
   * errors are answered synchronously (no promise, no timer): that is most
   * of a resolver's traffic, and per-query overhead is what bounds it.
   * `bytes` is read before this returns, so the caller may reuse it.
   */
  answer(
    bytes: Uint8Array,
    client: Client,
  ): Answered | undefined | Promise<Answered | undefined> {
    // Triage first (lib/dns/triage.ts): runts and responses are dropped, other
    // opcodes get NOTIMP before the reply cache is looked at, since its key
    // holds the question only.
    const verdict = triage(bytes);
    if (verdict === TRIAGE_DROP) return undefined;
    this.stats.queries++;
    if (verdict !== TRIAGE_PASS) {
      if (verdict === Rcode.FORMERR) this.stats.formerr++;
      return { reply: headerReply(bytes, verdict, { recursionAvailable: true }) };
    }
    if (!this.#acl.allows(client.address)) {
      this.stats.refused++;
      return { reply: headerReply(bytes, Rcode.REFUSED, { recursionAvailable: true }) };
    }
    const ready = this.#replies.answer(bytes, client.transport, client.replyBuffer);
    if (ready) {
      this.stats.replyCacheHits++;
      return { reply: ready };
    }
    const id = (bytes[0] << 8) | bytes[1];
    const rd = (bytes[2] & 0x01) !== 0;
    let query: Message;
    try {
      query = wholeMessage(bytes);
    } catch {
      this.stats.formerr++;
      return { reply: headerReply(bytes, Rcode.FORMERR, { recursionAvailable: true }) };
    }
    const edns = query.edns ? ourEdns(this.#options.udpPayloadBytesMax) : undefined;
    const reply = (fields: Partial<Message>): Answered => ({
      reply: encodeMessage(
        makeMessage({
          id,
          qr: true,
          rd,
          ra: true,
          cd: query.cd,
          questions: query.questions,
          edns,
          ...fields,
        }),
        { bytesMax: this.#replyLimit(query, client) },
      ),
    });
    if (query.edns && query.edns.version > 0) return reply({ rcode: Rcode.BADVERS });
    if (query.questions.length !== 1) {
      this.stats.formerr++;
      return reply({ rcode: Rcode.FORMERR });
    }
    const question = query.questions[0];
    if (question.type === RecordType.OPT) {
      this.stats.formerr++;
      return reply({ rcode: Rcode.FORMERR });
    }
    if (
      question.class !== RecordClass.IN || question.type === RecordType.AXFR ||
      question.type === 251
    ) {
      this.stats.refused++;
      return reply({ rcode: Rcode.REFUSED });
    }
    const finish = (result: Resolution): Answered => {
      if (result.rcode === Rcode.SERVFAIL) this.stats.servfail++;
      if (result.rcode === Rcode.REFUSED) this.stats.refused++;
      const answered = reply({
        rcode: result.rcode,
        answers: result.answers,
        authority: result.authority,
      });
      return result.reason ? { ...answered, failure: result.reason } : answered;
    };
    if (!query.rd) return finish(this.#fromCacheOnly(question));
    const cached = this.#fromCacheFresh(question);
    if (cached) {
      const answered = finish(cached.result);
      // Not while a refresh is under way: the reply would outlive the data it came from.
      if (!cached.prefetching) this.#replies.remember(bytes, client.transport, answered.reply);
      return answered;
    }
    return this.#resolve(question).then(finish);
  }

  /** A fresh answer from the cache alone, starting a prefetch when it is due. */
  #fromCacheFresh(question: Question): { result: Resolution; prefetching: boolean } | undefined {
    const result = this.#fromCache(question, false);
    if (result === undefined) return undefined;
    const key = `${question.name.toLowerCase()}|${question.type}|${question.class}`;
    return { result, prefetching: this.#maybePrefetch(key, question, result) };
  }

  /** Waits for background refreshes (for a clean shutdown and for tests). */
  async settle(): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
  }

  #replyLimit(query: Message, client: Client): number {
    if (client.transport === "tcp") return 65535;
    return udpReplyBytesMax(query.edns, this.#options.udpPayloadBytesMax);
  }

  async #resolve(question: Question): Promise<Resolution> {
    const key = `${question.name.toLowerCase()}|${question.type}|${question.class}`;
    const work = this.#inflight.run(key, () => this.#iterator.resolve(question));
    this.#track(work);
    const { staleWaitMs } = this.#options;
    const first = staleWaitMs > 0 ? await raceTimer(work, staleWaitMs) : await work;
    if (first !== "timer" && first.rcode !== Rcode.SERVFAIL) {
      this.#maybePrefetch(key, question, first);
      return first;
    }
    const stale = staleWaitMs > 0 ? this.#fromCache(question, true) : undefined;
    if (stale) {
      this.stats.staleAnswers++;
      return stale;
    }
    return first === "timer" ? await work : first;
  }

  /** Starts a background refresh when `result` is near the end of its TTL; true if it did. */
  #maybePrefetch(key: string, question: Question, result: Resolution): boolean {
    const cached = result.cached;
    const percent = this.#options.prefetchPercent;
    if (!cached || percent <= 0 || cached.originalTtlSec < PREFETCH_MIN_TTL_SEC) return false;
    if (cached.remainingSec > (cached.originalTtlSec * percent) / 100) return false;
    this.stats.prefetches++;
    this.#track(
      this.#inflight.run(
        `prefetch|${key}`,
        () => this.#iterator.resolve(question, { skipCache: true }),
      ),
    );
    return true;
  }

  #fromCacheOnly(question: Question): Resolution {
    return this.#fromCache(question, false) ?? { rcode: Rcode.REFUSED, answers: [], authority: [] };
  }

  /** Follows the question (and CNAMEs) through the cache alone. */
  #fromCache(question: Question, allowStale: boolean): Resolution | undefined {
    const answers: ResourceRecord[] = [];
    let name = question.name;
    for (let hop = 0; hop <= this.#options.cnameHopsMax; hop++) {
      const hit = this.#cache.get(name, question.type, question.class, { allowStale });
      if (hit?.kind === "rrset") {
        return {
          rcode: Rcode.NOERROR,
          answers: answers.length === 0 ? hit.records : [...answers, ...hit.records],
          authority: [],
          cached: { remainingSec: hit.remainingSec, originalTtlSec: hit.originalTtlSec },
        };
      }
      if (hit) {
        return {
          rcode: hit.kind === "nxdomain" ? Rcode.NXDOMAIN : Rcode.NOERROR,
          answers,
          authority: hit.soa ? [hit.soa] : [],
        };
      }
      const cname = this.#cache.get(name, RecordType.CNAME, question.class, { allowStale });
      if (cname?.kind !== "rrset" || cname.records[0].data.kind !== "NAME") return undefined;
      answers.push(cname.records[0]);
      name = cname.records[0].data.target;
    }
    return undefined;
  }

  #track(work: Promise<unknown>): void {
    const tracked = work.catch(() => {}).finally(() => this.#background.delete(tracked));
    this.#background.add(tracked);
  }
}

function ourEdns(udpPayloadSize: number): Edns {
  return { udpPayloadSize, extendedRcode: 0, version: 0, dnssecOk: false, options: [] };
}

async function raceTimer<T>(work: Promise<T>, ms: number): Promise<T | "timer"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<"timer">((resolve) => timer = setTimeout(() => resolve("timer"), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
