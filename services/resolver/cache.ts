// The resolver's record cache: RRsets and negative answers keyed by name,
// type and class, with TTLs counting down, a memory bound, and stale entries
// kept for serve-stale.
//
// - TTLs: an RRset lives for the smallest TTL of its records (RFC 2181 5.2),
//   capped at `ttlSecMax`; answers served from the cache carry the
//   remaining TTL, so it counts down (RFC 1035 7.4).
// - Negative caching (RFC 2308): NXDOMAIN is cached for the name as a whole
//   (every type), NODATA for the one type; both for min(SOA TTL, SOA
//   MINIMUM), capped at `negativeTtlSecMax` (section 5 suggests 1-3 hours).
// - Trust (RFC 2181 5.4.1): data from an authoritative answer is not
//   replaced by glue or referral data while it is still fresh.
// - Serve-stale (RFC 8767): an expired entry is kept for `staleTtlSec`
//   more, returned only when asked for stale data, with a TTL of 30 s.
// - Memory: each entry's size is estimated from its names and RDATA; past
//   `cacheBytesMax` the least recently used entries go first (a Map kept in use
//   order makes that O(1)).

import type { Name, ResourceRecord } from "../../lib/dns/types.ts";

export interface CacheLimits {
  /** Bound on the estimated bytes of all entries. */
  cacheBytesMax: number;
  /** No positive entry lives longer than this (Unbound: cache-max-ttl, 1 day). */
  ttlSecMax: number;
  /** No negative entry lives longer than this (RFC 2308 section 5: 1-3 hours). */
  negativeTtlSecMax: number;
  /** How long past expiry an entry may still be served stale (RFC 8767 4: 1-3 days). */
  staleTtlSec: number;
}

export const DEFAULT_CACHE_LIMITS: CacheLimits = {
  cacheBytesMax: 64 * 1024 * 1024,
  ttlSecMax: 86_400,
  negativeTtlSecMax: 3_600,
  staleTtlSec: 86_400,
};

/** TTL put on answers served stale (RFC 8767 section 4 recommends 30 s). */
export const STALE_ANSWER_TTL_SEC = 30;

/** How much a piece of data is believed, highest last (RFC 2181 5.4.1, simplified). */
export type Trust = "glue" | "authority" | "answer";
const TRUST_RANK: Record<Trust, number> = { glue: 0, authority: 1, answer: 2 };

export type CacheHit =
  | {
    readonly kind: "rrset";
    /** The records with their remaining TTLs. */
    readonly records: readonly ResourceRecord[];
    readonly stale: boolean;
    readonly remainingSec: number;
    readonly originalTtlSec: number;
    readonly hits: number;
  }
  | {
    readonly kind: "nxdomain" | "nodata";
    /** The zone's SOA with its remaining TTL, for the authority section. */
    readonly soa?: ResourceRecord;
    readonly stale: boolean;
    readonly remainingSec: number;
    readonly originalTtlSec: number;
    readonly hits: number;
  };

interface Entry {
  kind: "rrset" | "nxdomain" | "nodata";
  records: readonly ResourceRecord[];
  soa?: ResourceRecord;
  trust: Trust;
  storedAtMs: number;
  ttlSec: number;
  sizeBytes: number;
  hits: number;
}

export interface CacheStats {
  entries: number;
  bytes: number;
  hits: number;
  staleHits: number;
  misses: number;
  evictions: number;
}

/** Fixed cost per entry: the Map slot, the key string, the entry object. */
const ENTRY_OVERHEAD_BYTES = 160;
/** Cost per record beyond its names and RDATA: the record object. */
const RECORD_OVERHEAD_BYTES = 80;
/** Key for a name-wide NXDOMAIN. */
const ANY_TYPE = "*";

export class RecordCache {
  readonly #limits: CacheLimits;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;
  #stats = { hits: 0, staleHits: 0, misses: 0, evictions: 0 };

  constructor(limits: Partial<CacheLimits> = {}, now: () => number = Date.now) {
    this.#limits = { ...DEFAULT_CACHE_LIMITS, ...limits };
    this.#now = now;
  }

  /** Stores one RRset: records sharing name, type and class. */
  putRrset(records: readonly ResourceRecord[], trust: Trust): void {
    if (records.length === 0) return;
    const { name, type, class: klass } = records[0];
    const key = keyOf(name, type, klass);
    const ttlSec = Math.min(this.#limits.ttlSecMax, ...records.map((r) => r.ttl));
    const existing = this.#entries.get(key);
    if (
      existing && existing.kind === "rrset" && this.#isFresh(existing) &&
      TRUST_RANK[existing.trust] > TRUST_RANK[trust]
    ) {
      return; // keep the better-sourced data until it expires
    }
    this.#store(key, {
      kind: "rrset",
      records,
      trust,
      storedAtMs: this.#now(),
      ttlSec,
      sizeBytes: sizeOf(key, records),
      hits: 0,
    });
  }

  /**
   * Stores a negative answer: NXDOMAIN for the whole name, NODATA for one
   * type. Without an SOA there is no TTL to use (RFC 2308 section 5), so
   * nothing is cached.
   */
  putNegative(
    question: { name: Name; type: number; class: number },
    kind: "nxdomain" | "nodata",
    soa: ResourceRecord | undefined,
  ): void {
    if (soa === undefined || soa.data.kind !== "SOA") return;
    const ttlSec = Math.min(soa.ttl, soa.data.minimum, this.#limits.negativeTtlSecMax);
    const type = kind === "nxdomain" ? ANY_TYPE : question.type;
    const key = keyOf(question.name, type, question.class);
    this.#store(key, {
      kind,
      records: [],
      soa,
      trust: "answer",
      storedAtMs: this.#now(),
      ttlSec,
      sizeBytes: sizeOf(key, [soa]),
      hits: 0,
    });
  }

  /**
   * Looks up name/type/class. A name-wide NXDOMAIN answers every type. With
   * `allowStale`, an expired entry within its stale window is returned with
   * `stale: true`; otherwise expired entries count as misses.
   */
  get(
    name: Name,
    type: number,
    klass: number,
    options: { allowStale?: boolean } = {},
  ): CacheHit | undefined {
    const hit = this.#lookup(keyOf(name, type, klass), options) ??
      this.#lookup(keyOf(name, ANY_TYPE, klass), options);
    if (hit === undefined) this.#stats.misses++;
    return hit;
  }

  /** Drops one entry (for tests and administrative flushes). */
  delete(name: Name, type: number, klass: number): void {
    this.#remove(keyOf(name, type, klass));
  }

  stats(): CacheStats {
    return { entries: this.#entries.size, bytes: this.#bytes, ...this.#stats };
  }

  #lookup(key: string, options: { allowStale?: boolean }): CacheHit | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    const ageSec = Math.floor((this.#now() - entry.storedAtMs) / 1000);
    const remaining = entry.ttlSec - ageSec;
    let stale = false;
    if (remaining <= 0) {
      if (ageSec > entry.ttlSec + this.#limits.staleTtlSec) {
        this.#remove(key);
        return undefined;
      }
      if (!options.allowStale) return undefined;
      stale = true;
    }
    // Move to the back: the Map's order is least recently used first.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    entry.hits++;
    if (stale) this.#stats.staleHits++;
    else this.#stats.hits++;
    const ttl = stale ? STALE_ANSWER_TTL_SEC : remaining;
    const common = {
      stale,
      remainingSec: Math.max(remaining, 0),
      originalTtlSec: entry.ttlSec,
      hits: entry.hits,
    };
    if (entry.kind === "rrset") {
      return { kind: "rrset", records: entry.records.map((r) => ({ ...r, ttl })), ...common };
    }
    const soa = entry.soa && { ...entry.soa, ttl: Math.min(ttl, entry.soa.ttl) };
    return { kind: entry.kind, soa, ...common };
  }

  #isFresh(entry: Entry): boolean {
    return this.#now() - entry.storedAtMs < entry.ttlSec * 1000;
  }

  #store(key: string, entry: Entry): void {
    this.#remove(key);
    if (entry.ttlSec <= 0 && this.#limits.staleTtlSec <= 0) return;
    this.#entries.set(key, entry);
    this.#bytes += entry.sizeBytes;
    for (const [oldKey] of this.#entries) {
      if (this.#bytes <= this.#limits.cacheBytesMax) break;
      this.#remove(oldKey);
      this.#stats.evictions++;
    }
  }

  #remove(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.sizeBytes;
  }
}

/** Names compare case-insensitively (RFC 4343), so keys use lowercase. */
function keyOf(name: Name, type: number | typeof ANY_TYPE, klass: number): string {
  return `${name.toLowerCase()}|${type}|${klass}`;
}

function sizeOf(key: string, records: readonly ResourceRecord[]): number {
  let bytes = ENTRY_OVERHEAD_BYTES + key.length * 2;
  for (const record of records) {
    bytes += RECORD_OVERHEAD_BYTES + record.name.length * 2 + rdataSize(record);
  }
  return bytes;
}

function rdataSize(record: ResourceRecord): number {
  const data = record.data;
  switch (data.kind) {
    case "A":
    case "AAAA":
      return data.address.length * 2;
    case "NAME":
      return data.target.length * 2;
    case "MX":
      return 8 + data.exchange.length * 2;
    case "SOA":
      return 40 + (data.mname.length + data.rname.length) * 2;
    case "TXT":
      return data.strings.reduce((n, s) => n + s.length + 32, 0);
    case "SRV":
      return 24 + data.target.length * 2;
    case "CAA":
      return 16 + data.tag.length * 2 + data.value.length;
    case "OPAQUE":
      return data.bytes.length + 32;
  }
}
