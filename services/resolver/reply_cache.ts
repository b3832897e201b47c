// A cache of encoded replies for repeated questions, in front of the record
// cache: the hot path of a busy resolver.
//
// A cache hit through the record cache costs a decode, record copies and an
// encode (about 3 µs); most of a resolver's traffic is the same few
// questions again and again. This cache keeps the encoded reply per query
// shape (question, RD/CD bits, EDNS presence and size) and answers with a
// copy whose ID and question are the client's and whose TTLs are counted
// down by the seconds elapsed (RFC 1035 7.4), without decoding anything.
//
// An entry lives while every TTL in it is still above the prefetch window
// (the last `prefetchPercent` of the smallest TTL), so a name near expiry
// goes through the full path again, which starts the background refresh.
// Only the first 512 octets of the question area are looked at; queries with
// anything unusual (several questions, records in other sections besides one
// OPT, a pointer in the question) never use this cache.

import type { Bytes } from "../../lib/bytes.ts";

const HEADER_BYTES = 12;
const TYPE_OPT = 41;

interface Entry {
  /** The query bytes from the flags to the end of the question, lowercased: the exact key. */
  key: string;
  reply: Bytes;
  /** Offsets of the 32-bit TTL fields to count down (the OPT record excluded). */
  ttlOffsets: number[];
  storedAtMs: number;
  expiresAtMs: number;
}

export class ReplyCache {
  readonly #entries = new Map<string, Entry>();
  readonly #entriesMax: number;
  readonly #prefetchPercent: number;
  readonly #now: () => number;

  constructor(options: { entriesMax?: number; prefetchPercent?: number; now?: () => number } = {}) {
    this.#entriesMax = options.entriesMax ?? 10_000;
    this.#prefetchPercent = options.prefetchPercent ?? 10;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * The reply to `query` with its ID, question case and TTLs made current,
   * or undefined. Written into `into` when it is big enough (a view of it is
   * returned: a new Uint8Array costs about 0.6 µs in this Deno, more than
   * the rest of a hit), else into a new array.
   */
  answer(query: Uint8Array, transport: "udp" | "tcp", into?: Bytes): Bytes | undefined {
    const key = queryKey(query, transport);
    if (key === undefined) return undefined;
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    const now = this.#now();
    if (now >= entry.expiresAtMs) {
      this.#entries.delete(key);
      return undefined;
    }
    const size = entry.reply.length;
    const out = into !== undefined && into.length >= size
      ? into.subarray(0, size)
      : new Uint8Array(size);
    out.set(entry.reply);
    out[0] = query[0];
    out[1] = query[1];
    const questionEnd = questionEndOf(query);
    out.set(query.subarray(HEADER_BYTES, questionEnd), HEADER_BYTES);
    const elapsedSec = Math.floor((now - entry.storedAtMs) / 1000);
    if (elapsedSec > 0) {
      for (const offset of entry.ttlOffsets) {
        const ttl = out[offset] * 0x1000000 + (out[offset + 1] << 16) + (out[offset + 2] << 8) +
          out[offset + 3];
        const left = Math.max(0, ttl - elapsedSec);
        out[offset] = left >>> 24;
        out[offset + 1] = (left >>> 16) & 0xff;
        out[offset + 2] = (left >>> 8) & 0xff;
        out[offset + 3] = left & 0xff;
      }
    }
    return out;
  }

  /** Keeps `reply`, the full path's answer to `query`, if both are plain enough. */
  remember(query: Uint8Array, transport: "udp" | "tcp", reply: Uint8Array): void {
    if (this.#entriesMax <= 0) return;
    const key = queryKey(query, transport);
    if (key === undefined) return;
    const scan = scanReply(reply);
    if (scan === undefined || scan.minTtlSec <= 0) return;
    const windowSec = Math.ceil((scan.minTtlSec * this.#prefetchPercent) / 100);
    const lifetimeSec = scan.minTtlSec - windowSec - 1;
    if (lifetimeSec < 1) return;
    if (this.#entries.size >= this.#entriesMax) this.#entries.clear();
    const now = this.#now();
    this.#entries.set(key, {
      key,
      reply: reply.slice(),
      ttlOffsets: scan.ttlOffsets,
      storedAtMs: now,
      expiresAtMs: now + lifetimeSec * 1000,
    });
  }
}

/**
 * The cache key of a plain query: flags (RD and CD only), the question
 * lowercased, EDNS presence and payload size, transport. Undefined for
 * anything else (several questions, a pointer in the question, answer or
 * authority records, more than one additional record).
 */
export function queryKey(query: Uint8Array, transport: "udp" | "tcp"): string | undefined {
  if (query.length < HEADER_BYTES + 5) return undefined;
  // A query (QR clear) with opcode QUERY: the key below keeps only RD and CD.
  if ((query[2] & 0xf8) !== 0) return undefined;
  if (query[4] !== 0 || query[5] !== 1) return undefined; // exactly one question
  if (query[6] | query[7] | query[8] | query[9] | query[10]) return undefined;
  if (query[11] > 1) return undefined;
  const end = questionEndOf(query);
  if (end < 0 || end > query.length) return undefined;
  const flags = query[2] & 0x01; // RD
  const cd = query[3] & 0x10;
  let key = `${transport}${flags}${cd}|`;
  for (let i = HEADER_BYTES; i < end; i++) {
    const c = query[i];
    key += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
  }
  if (query[11] === 1) {
    // One additional record: it must be an OPT with a root owner; its size matters.
    if (end + 11 > query.length || query[end] !== 0) return undefined;
    if (((query[end + 1] << 8) | query[end + 2]) !== TYPE_OPT) return undefined;
    key += `|edns${(query[end + 3] << 8) | query[end + 4]}v${query[end + 6]}`;
  } else if (end !== query.length) {
    return undefined;
  }
  return key;
}

/** Offset just past the question (name, type, class), or -1 if it has a pointer or runs out. */
function questionEndOf(query: Uint8Array): number {
  let at = HEADER_BYTES;
  for (let labels = 0; labels < 128; labels++) {
    if (at >= query.length) return -1;
    const length = query[at];
    if (length === 0) return at + 1 + 4 <= query.length ? at + 5 : -1;
    if (length > 63) return -1;
    at += 1 + length;
  }
  return -1;
}

/**
 * Walks an encoded reply's records: where each TTL sits (OPT excluded) and
 * the smallest TTL. Undefined for replies this cache should not keep
 * (truncated, an error rcode other than NXDOMAIN, or unparsable).
 */
export function scanReply(
  reply: Uint8Array,
): { ttlOffsets: number[]; minTtlSec: number } | undefined {
  if (reply.length < HEADER_BYTES) return undefined;
  const tc = (reply[2] & 0x02) !== 0;
  const rcode = reply[3] & 0x0f;
  if (tc || (rcode !== 0 && rcode !== 3)) return undefined;
  const view = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
  const qdcount = view.getUint16(4);
  const rrcount = view.getUint16(6) + view.getUint16(8) + view.getUint16(10);
  let at = HEADER_BYTES;
  for (let i = 0; i < qdcount; i++) {
    at = skipName(reply, at);
    if (at < 0) return undefined;
    at += 4;
  }
  const ttlOffsets: number[] = [];
  let minTtlSec = Infinity;
  for (let i = 0; i < rrcount; i++) {
    at = skipName(reply, at);
    if (at < 0 || at + 10 > reply.length) return undefined;
    const type = view.getUint16(at);
    if (type !== TYPE_OPT) {
      ttlOffsets.push(at + 4);
      minTtlSec = Math.min(minTtlSec, view.getUint32(at + 4));
    }
    at += 10 + view.getUint16(at + 8);
  }
  if (at !== reply.length || ttlOffsets.length === 0) return undefined;
  return { ttlOffsets, minTtlSec };
}

function skipName(buf: Uint8Array, start: number): number {
  let at = start;
  for (let labels = 0; labels < 128; labels++) {
    if (at >= buf.length) return -1;
    const length = buf[at];
    if (length === 0) return at + 1;
    if ((length & 0xc0) === 0xc0) return at + 2 <= buf.length ? at + 2 : -1;
    if (length > 63) return -1;
    at += 1 + length;
  }
  return -1;
}
