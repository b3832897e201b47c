// Choosing a backend for one request, per pool. Pure: no I/O, no clock
// (the caller passes effective weights and counts, and a random source).
//
// Algorithms:
//
// - round-robin: each available backend in turn. Implemented as smooth
//   weighted round-robin with every configured weight taken as 1, so a
//   backend in slow start (weight scaled down) still gets its smaller share.
// - weighted-round-robin: nginx's smooth weighted round-robin. Each pick adds
//   every candidate's weight to its running score, takes the highest score,
//   and subtracts the total from the winner: weights 5,1,1 give
//   a a b a c a a rather than a a a a a b c, so no backend gets a burst.
// - least-connections: fewest requests in flight relative to weight
//   (active / weight), ties broken by round-robin order so idle pools still
//   spread.
// - power-of-two-choices: two distinct random candidates, the one with less
//   in flight relative to weight wins (Mitzenmacher; what Envoy calls
//   LEAST_REQUEST). Nearly as good as least-connections without scanning,
//   and no herd onto one "least loaded" backend when state is stale.
// - consistent-hash: a ring of points (POINTS_PER_WEIGHT per unit of weight)
//   placed by hashing "<backend id>#<i>"; a key (client address, a header or
//   a cookie value) goes to the first point clockwise whose backend is
//   available. The ring is built from every configured backend, healthy or
//   not, so an ejected backend's keys move to their ring neighbours and come
//   back when it does; adding one backend moves only about 1/n of the keys.
//   Keys without a value fall back to round-robin.
//
// Left out: EWMA latency-based picks (Finagle's peak EWMA), maglev tables.

export const ALGORITHMS = [
  "round-robin",
  "weighted-round-robin",
  "least-connections",
  "power-of-two-choices",
  "consistent-hash",
] as const;
export type Algorithm = typeof ALGORITHMS[number];

/** A backend as the balancer sees it at one pick. */
export interface Candidate {
  /** Stable identity (the backend URL): ring points and scores hang on it. */
  readonly id: string;
  /** Configured weight, > 0. */
  readonly weight: number;
  /** Slow-start factor in (0, 1]: a recovered backend's share ramps up with it (default 1). */
  readonly warmth?: number;
  /** Requests in flight to it right now. */
  readonly active: number;
  /** False when unhealthy, ejected, or at its connection cap. */
  readonly available: boolean;
}

export interface PickOptions {
  /** The hash key (consistent-hash only); undefined falls back to round-robin. */
  key?: string;
  /** Backends already tried for this request (retries go elsewhere). */
  exclude?: ReadonlySet<string>;
}

/** Whether `c` may be picked: available, weighted, and not tried already. */
function isUsable(c: Candidate, exclude: ReadonlySet<string> | undefined): boolean {
  return c.available && c.weight > 0 && !(exclude?.has(c.id));
}

/** Ring points per unit of weight: ~160 keeps the spread within a few percent (ketama). */
export const POINTS_PER_WEIGHT = 160;
/** Ring points at most per backend, so a weight of 1000 cannot build a huge ring. */
const POINTS_PER_BACKEND_MAX = 160 * 16;

export class Balancer {
  readonly algorithm: Algorithm;
  #random: () => number;
  /** Smooth WRR running scores, by backend id. */
  #scores = new Map<string, number>();
  /** Round-robin cursor for least-connections ties. */
  #next = 0;
  #ring: { hashes: Uint32Array; ids: string[] } | undefined;
  #ringKey = "";

  constructor(algorithm: Algorithm, options: { random?: () => number } = {}) {
    this.algorithm = algorithm;
    this.#random = options.random ?? Math.random;
  }

  /** The chosen candidate, or undefined when none is available. */
  pick(candidates: readonly Candidate[], options: PickOptions = {}): Candidate | undefined {
    const exclude = options.exclude;
    // Usually every candidate is usable: then no new array (nor closure) per pick.
    let all = true;
    for (let i = 0; i < candidates.length && all; i++) all = isUsable(candidates[i], exclude);
    const usable = all ? candidates : candidates.filter((c) => isUsable(c, exclude));
    if (usable.length === 0) return undefined;
    switch (this.algorithm) {
      case "round-robin":
        return this.#smooth(usable, true);
      case "weighted-round-robin":
        return this.#smooth(usable, false);
      case "least-connections":
        return this.#least(usable);
      case "power-of-two-choices":
        return this.#twoChoices(usable);
      case "consistent-hash":
        if (options.key === undefined) return this.#smooth(usable, true);
        return this.#hashed(candidates, usable, options.key);
    }
  }

  /** nginx's smooth weighted round-robin over `usable`. */
  #smooth(usable: readonly Candidate[], equal: boolean): Candidate {
    let total = 0;
    let best: Candidate | undefined;
    let bestScore = -Infinity;
    for (const c of usable) {
      // Round-robin takes the configured weight as 1; slow start still scales it.
      const weight = (equal ? 1 : c.weight) * (c.warmth ?? 1);
      const score = (this.#scores.get(c.id) ?? 0) + weight;
      this.#scores.set(c.id, score);
      total += weight;
      if (score > bestScore) {
        bestScore = score;
        best = c;
      }
    }
    this.#scores.set(best!.id, bestScore - total);
    if (this.#scores.size > usable.length * 4) this.#forget(usable);
    return best!;
  }

  /** Drops scores of backends no longer configured (after a reload). */
  #forget(usable: readonly Candidate[]): void {
    const keep = new Set(usable.map((c) => c.id));
    for (const id of this.#scores.keys()) if (!keep.has(id)) this.#scores.delete(id);
  }

  #least(usable: readonly Candidate[]): Candidate {
    const start = this.#next++ % usable.length;
    let best = usable[start];
    for (let i = 1; i < usable.length; i++) {
      const c = usable[(start + i) % usable.length];
      if (load(c) < load(best)) best = c;
    }
    return best;
  }

  #twoChoices(usable: readonly Candidate[]): Candidate {
    if (usable.length === 1) return usable[0];
    const i = Math.floor(this.#random() * usable.length) % usable.length;
    let j = Math.floor(this.#random() * (usable.length - 1)) % (usable.length - 1);
    if (j >= i) j++;
    const a = usable[i];
    const b = usable[j];
    return load(b) < load(a) ? b : a;
  }

  #hashed(all: readonly Candidate[], usable: readonly Candidate[], key: string): Candidate {
    const ring = this.#ringFor(all);
    const ok = new Set(usable.map((c) => c.id));
    const byId = new Map(usable.map((c) => [c.id, c]));
    const h = fnv1a(key);
    let at = lowerBound(ring.hashes, h);
    for (let step = 0; step < ring.hashes.length; step++, at++) {
      const id = ring.ids[at % ring.ids.length];
      if (ok.has(id)) return byId.get(id)!;
    }
    return usable[0];
  }

  /** The ring for this set of backends, rebuilt only when the set or weights change. */
  #ringFor(all: readonly Candidate[]): { hashes: Uint32Array; ids: string[] } {
    const key = all.map((c) => `${c.id}*${configuredWeight(c)}`).join("\n");
    if (this.#ring !== undefined && key === this.#ringKey) return this.#ring;
    this.#ring = buildRing(all.map((c) => ({ id: c.id, weight: configuredWeight(c) })));
    this.#ringKey = key;
    return this.#ring;
  }
}

/**
 * The ring uses whole configured weights (at least 1), never the slow-start
 * factor: points must not move while a backend warms up.
 */
function configuredWeight(c: Candidate): number {
  return Math.max(1, Math.round(c.weight));
}

/** Requests in flight per unit of effective weight. */
function load(c: Candidate): number {
  return (c.active + 1) / (c.weight * (c.warmth ?? 1));
}

/** Points sorted by hash; `ids[i]` owns `hashes[i]`. */
export function buildRing(
  backends: readonly { id: string; weight: number }[],
): { hashes: Uint32Array; ids: string[] } {
  const points: [number, string][] = [];
  for (const b of backends) {
    const n = Math.min(POINTS_PER_BACKEND_MAX, POINTS_PER_WEIGHT * Math.max(1, b.weight));
    for (let i = 0; i < n; i++) points.push([fnv1a(`${b.id}#${i}`), b.id]);
  }
  points.sort((x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0));
  return { hashes: Uint32Array.from(points, (p) => p[0]), ids: points.map((p) => p[1]) };
}

/** First index whose hash is >= h (hashes.length wraps to 0 at the caller). */
function lowerBound(hashes: Uint32Array, h: number): number {
  let lo = 0;
  let hi = hashes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (hashes[mid] < h) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * 32-bit FNV-1a over the UTF-16 code units, with a final avalanche
 * (murmur3's fmix32): plain FNV clusters similar keys such as "a#1", "a#2"
 * on the ring.
 */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
