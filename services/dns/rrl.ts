// Response rate limiting per source network, in bounded memory.
//
// UDP source addresses can be forged, so an open authoritative server can be
// aimed at a victim as an amplifier. Like BIND's and NSD's RRL, responses
// are counted per source prefix (IPv4 /24, IPv6 /56) with a token bucket;
// past the rate, most responses are dropped and every `slip`-th one is
// sent as an empty truncated reply (TC=1), so a real client behind that
// prefix retries over TCP, which cannot be spoofed.
//
// Memory: at most `entriesMax` buckets; the least recently seen is evicted
// first (a Map keeps insertion order, and a touched entry is re-inserted).
//
// Left out: BIND's separate accounting per response kind (NXDOMAIN, errors)
// and per query name; one bucket per prefix is enough to stop amplification.

import { parseIpv6 } from "../../lib/dns/rdata.ts";

export interface RateLimitOptions {
  /** Responses per second allowed per prefix; 0 turns limiting off. */
  readonly responsesPerSecond: number;
  /** Every slip-th limited response goes out truncated; 0 drops them all. BIND's default is 2. */
  readonly slip?: number;
  /** Buckets kept at once. */
  readonly entriesMax?: number;
}

export type RateDecision = "send" | "slip" | "drop";

interface Bucket {
  tokens: number;
  lastMs: number;
  limited: number;
}

export class ResponseRateLimiter {
  #rate: number;
  #slip: number;
  #entriesMax: number;
  #buckets = new Map<string, Bucket>();

  constructor(options: RateLimitOptions) {
    this.#rate = options.responsesPerSecond;
    this.#slip = options.slip ?? 2;
    this.#entriesMax = options.entriesMax ?? 100_000;
  }

  get enabled(): boolean {
    return this.#rate > 0;
  }

  /** Buckets currently held (never more than entriesMax). */
  get size(): number {
    return this.#buckets.size;
  }

  /** Decides the fate of one response to `address` at time `nowMs`. */
  check(address: string, nowMs: number): RateDecision {
    if (this.#rate <= 0) return "send";
    const key = prefixOf(address);
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      // Burst allowance: one second's worth of responses.
      bucket = { tokens: this.#rate, lastMs: nowMs, limited: 0 };
      if (this.#buckets.size >= this.#entriesMax) {
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
    } else {
      this.#buckets.delete(key);
      const elapsedMs = Math.max(0, nowMs - bucket.lastMs);
      bucket.tokens = Math.min(this.#rate, bucket.tokens + (elapsedMs * this.#rate) / 1000);
      bucket.lastMs = nowMs;
    }
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return "send";
    }
    bucket.limited++;
    if (this.#slip > 0 && bucket.limited % this.#slip === 0) return "slip";
    return "drop";
  }
}

/** The network a source address is counted under: IPv4 /24, IPv6 /56. */
export function prefixOf(address: string): string {
  if (!address.includes(":")) {
    const last = address.lastIndexOf(".");
    return last === -1 ? address : address.slice(0, last);
  }
  try {
    const bytes = parseIpv6(address.replace(/%.*$/, ""));
    return Array.from(bytes.subarray(0, 7), (b) => b.toString(16).padStart(2, "0")).join("");
  } catch {
    return address;
  }
}
