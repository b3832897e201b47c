// The keyspace: numbered databases of entries, with TTLs, memory accounting
// and the hooks WATCH and blocking list pops need.
//
// Each entry records its expiry (ms since the epoch, 0 for none), its last
// access (for LRU) or an LFU counter, and its estimated size. Every entry
// sits in a dense array as well as the Map, and every entry with a TTL in a
// second array, so expiry and eviction can sample random keys in O(1) as
// Redis samples its dicts (Redis: db.c, expire.c, evict.c).
//
// Memory is an estimate of the JS heap our data holds (key and value bytes
// plus a fixed per-entry and per-element overhead measured on V8), not
// the process RSS; see docs/cache.md.

import { typeName, type Value } from "./values.ts";

/**
 * Estimated heap cost of one key beyond its bytes: Entry object, Map slot,
 * array slot, string headers. Calibrated on 1M small keys: 176 bytes per
 * key of heap after a full GC (bench/micro/cache_memory.ts), 173 to 280 of
 * RSS; 200 plus the key and value lengths keeps the estimate above the heap.
 */
export const ENTRY_OVERHEAD_BYTES = 200;
/** What an empty server reports as used, like Redis's ~1 MB baseline. */
export const BASELINE_BYTES = 1024 * 1024;

export class Entry {
  key: string;
  value: Value;
  expireAt = 0;
  /** Index in Db.#all. */
  slot = -1;
  /** Index in Db.#volatile, or -1. */
  vslot = -1;
  /** Last access in seconds since the keyspace's epoch (LRU), or an LFU word. */
  access = 0;
  bytes = 0;
  constructor(key: string, value: Value) {
    this.key = key;
    this.value = value;
  }
}

/** Size estimate of a value. */
export function valueBytes(value: Value): number {
  return typeof value === "string" ? value.length : value.bytes;
}

export interface KeyspaceHooks {
  /**
   * A key was created, changed (set, resize), deleted, given or cleared a
   * TTL, or found expired: WATCH bookkeeping. Called from the Db methods
   * themselves, so a command invalidates exactly the watches of the keys
   * it changed, as Redis's signalModifiedKey does (a write command that
   * changes nothing, such as SMOVE of a missing member, touches nothing).
   */
  touched(db: number, key: string): void;
  /**
   * A key was created: clients blocked on it (BLPOP, BZPOPMIN ...) may now
   * be served. Redis signals the same from dbAdd for lists and sorted sets,
   * whichever command created the key (a push, a STORE, RENAME, COPY ...).
   */
  created(db: Db, key: string, value: Value): void;
  /** A key was found expired and deleted (lazily, or by the active cycle): WATCH and notifications. */
  expired(db: Db, key: string): void;
  /**
   * A lookup while `Keyspace.readLookups` is on (a command reading keys,
   * Redis's lookupKeyRead): hit or miss, for keyspace_hits/misses and the
   * "keymiss" event.
   */
  read(db: Db, key: string, hit: boolean): void;
}

/** One numbered database. */
export class Db {
  readonly index: number;
  readonly #space: Keyspace;
  readonly #map = new Map<string, Entry>();
  readonly #all: Entry[] = [];
  readonly #volatile: Entry[] = [];
  /** Keys expired lazily or actively, for INFO. */

  constructor(index: number, space: Keyspace) {
    this.index = index;
    this.#space = space;
  }

  get size(): number {
    return this.#map.size;
  }

  get volatileCount(): number {
    return this.#volatile.length;
  }

  /** Finds a live entry, deleting it first when it has expired. Does not count as access. */
  peek(key: string): Entry | undefined {
    const entry = this.#map.get(key);
    if (entry === undefined) return undefined;
    if (entry.expireAt !== 0 && entry.expireAt <= Date.now()) {
      this.#remove(entry);
      this.#space.expiredKeys++;
      this.#space.hooks.expired(this, key);
      return undefined;
    }
    return entry;
  }

  /** Finds a live entry and records the access for LRU/LFU. */
  lookup(key: string): Entry | undefined {
    const entry = this.peek(key);
    if (entry !== undefined) this.#space.recordAccess(entry);
    if (this.#space.readLookups) this.#space.hooks.read(this, key, entry !== undefined);
    return entry;
  }

  /**
   * Finds a live entry without recording an access, but reported as a read
   * like `lookup` (Redis's LOOKUP_NOTOUCH: EXISTS, TYPE, TTL).
   */
  lookupNoTouch(key: string): Entry | undefined {
    const entry = this.peek(key);
    if (this.#space.readLookups) this.#space.hooks.read(this, key, entry !== undefined);
    return entry;
  }

  /** Stores a new value under `key`, replacing any entry and clearing its TTL. */
  set(key: string, value: Value, quiet = false): Entry {
    let entry = this.#map.get(key);
    if (entry === undefined) {
      entry = new Entry(key, value);
      entry.slot = this.#all.length;
      this.#all.push(entry);
      this.#map.set(key, entry);
      entry.bytes = ENTRY_OVERHEAD_BYTES + key.length + valueBytes(value);
      this.#space.usedBytes += entry.bytes;
      if (!quiet) this.#space.hooks.touched(this.index, key);
      this.#space.hooks.created(this, key, value);
    } else {
      entry.value = value;
      if (entry.expireAt !== 0) this.setExpire(entry, 0);
      this.resize(entry);
    }
    this.#space.recordAccess(entry);
    return entry;
  }

  /**
   * Recomputes an entry's size after its value changed in place. `quiet`:
   * not reported as a change (a string grown with zeros by a BITFIELD whose
   * every write failed, which Redis does not signal).
   */
  resize(entry: Entry, quiet = false): void {
    const bytes = ENTRY_OVERHEAD_BYTES + entry.key.length + valueBytes(entry.value);
    this.#space.usedBytes += bytes - entry.bytes;
    entry.bytes = bytes;
    if (!quiet) this.#space.hooks.touched(this.index, entry.key);
  }

  /** Sets or clears (0) an entry's expiry time. */
  setExpire(entry: Entry, at: number): void {
    if (at !== 0 && entry.vslot === -1) {
      entry.vslot = this.#volatile.length;
      this.#volatile.push(entry);
    } else if (at === 0 && entry.vslot !== -1) {
      this.#dropVolatile(entry);
    }
    entry.expireAt = at;
    this.#space.hooks.touched(this.index, entry.key);
  }

  delete(key: string): boolean {
    const entry = this.#map.get(key);
    if (entry === undefined) return false;
    const live = entry.expireAt === 0 || entry.expireAt > Date.now();
    this.#remove(entry);
    this.#space.hooks.touched(this.index, key);
    return live;
  }

  /** Removes an entry we already hold (eviction, expiry). */
  remove(entry: Entry): void {
    this.#remove(entry);
  }

  #remove(entry: Entry): void {
    this.#map.delete(entry.key);
    const last = this.#all.pop()!;
    if (last !== entry) {
      this.#all[entry.slot] = last;
      last.slot = entry.slot;
    }
    entry.slot = -1;
    if (entry.vslot !== -1) this.#dropVolatile(entry);
    this.#space.usedBytes -= entry.bytes;
  }

  #dropVolatile(entry: Entry): void {
    const last = this.#volatile.pop()!;
    if (last !== entry) {
      this.#volatile[entry.vslot] = last;
      last.vslot = entry.vslot;
    }
    entry.vslot = -1;
  }

  /** A uniformly random entry, or undefined when empty (may be expired). */
  randomEntry(): Entry | undefined {
    if (this.#all.length === 0) return undefined;
    return this.#all[Math.floor(Math.random() * this.#all.length)];
  }

  /** A random entry with a TTL, or undefined. */
  randomVolatile(): Entry | undefined {
    if (this.#volatile.length === 0) return undefined;
    return this.#volatile[Math.floor(Math.random() * this.#volatile.length)];
  }

  /** Entry at a position of the dense array (SCAN cursors walk it). */
  entryAt(index: number): Entry | undefined {
    return this.#all[index];
  }

  get slots(): number {
    return this.#all.length;
  }

  keys(): IterableIterator<string> {
    return this.#map.keys();
  }

  flush(): void {
    for (const entry of this.#all) this.#space.usedBytes -= entry.bytes;
    this.#map.clear();
    this.#all.length = 0;
    this.#volatile.length = 0;
  }

  /** Swaps contents with another database (SWAPDB). */
  swapWith(other: Db): void {
    const mine = [...this.#all];
    const theirs = [...other.#all];
    const used = this.#space.usedBytes;
    this.flush();
    other.flush();
    for (const entry of theirs) this.#adopt(entry);
    for (const entry of mine) other.#adopt(entry);
    this.#space.usedBytes = used;
  }

  #adopt(entry: Entry): void {
    entry.slot = this.#all.length;
    this.#all.push(entry);
    this.#map.set(entry.key, entry);
    entry.vslot = -1;
    if (entry.expireAt !== 0) {
      entry.vslot = this.#volatile.length;
      this.#volatile.push(entry);
    }
  }

  typeOf(key: string): string {
    const entry = this.peek(key);
    return entry === undefined ? "none" : typeName(entry.value);
  }
}

export type EvictionPolicy =
  | "noeviction"
  | "allkeys-lru"
  | "allkeys-lfu"
  | "allkeys-random"
  | "volatile-lru"
  | "volatile-lfu"
  | "volatile-random"
  | "volatile-ttl";

/** In the order Redis lists them in its CONFIG SET error. */
export const EVICTION_POLICIES: readonly EvictionPolicy[] = [
  "volatile-lru",
  "volatile-lfu",
  "volatile-random",
  "volatile-ttl",
  "allkeys-lru",
  "allkeys-lfu",
  "allkeys-random",
  "noeviction",
];

/** All databases plus the global counters. */
export class Keyspace {
  readonly dbs: Db[];
  /** Data plus client buffers (Redis's used_memory), compared with maxmemory. */
  usedBytes = BASELINE_BYTES;
  /** The client buffers' share of usedBytes (Redis's mem_clients_normal). */
  clientBytes = 0;
  expiredKeys = 0;
  evictedKeys = 0;
  maxmemoryBytes = 0;
  hooks: KeyspaceHooks = { touched() {}, created() {}, expired() {}, read() {} };
  /**
   * On while a command whose lookups are reads runs (set by the server per
   * command, read_lookups.ts): `lookup` then reports each to `hooks.read`.
   */
  readLookups = false;

  constructor(databases: number) {
    this.dbs = Array.from({ length: databases }, (_, i) => new Db(i, this));
  }

  /** Where the LRU/LFU clocks start, so their values stay small integers. */
  readonly epochMs = Date.now();

  /**
   * The LRU clock in seconds since `epochMs` (Redis's LRU clock also ticks
   * once a second). Small integers are stored unboxed by V8, which saves
   * about 16 bytes per key against a millisecond timestamp. The server
   * refreshes it once per batch of pipelined commands.
   */
  clock = 0;

  /** Refreshes the LRU clock from the wall clock. */
  tick(): void {
    this.clock = Math.floor((Date.now() - this.epochMs) / 1000);
  }

  recordAccess(entry: Entry): void {
    if (this.#lfu) entry.access = lfuIncrement(entry.access, this.epochMs);
    else entry.access = this.clock;
  }

  #lfu = false;

  get policy(): EvictionPolicy {
    return this.#policy;
  }

  set policy(policy: EvictionPolicy) {
    this.#policy = policy;
    this.#lfu = policy === "allkeys-lfu" || policy === "volatile-lfu";
  }

  #policy: EvictionPolicy = "noeviction";
}

/** Redis's LFU_INIT_VAL: new keys start at 5 so they are not evicted at once. */
const LFU_INIT = 5;
/** lfu-log-factor default. */
const LFU_LOG_FACTOR = 10;
/** lfu-decay-time default: one step of decay per minute idle. */
const LFU_DECAY_MS = 60_000;

/**
 * Decays then logarithmically increments an LFU word: the counter in the
 * low 8 bits, minutes since `epochMs` above.
 */
export function lfuIncrement(word: number, epochMs: number): number {
  let counter = lfuCounter(word, epochMs);
  if (counter < 255) {
    const base = Math.max(0, counter - LFU_INIT);
    if (Math.random() < 1 / (base * LFU_LOG_FACTOR + 1)) counter++;
  }
  return Math.floor((Date.now() - epochMs) / LFU_DECAY_MS) * 256 + counter;
}

/** The LFU counter after decay for the minutes since its last access. */
export function lfuCounter(word: number, epochMs: number): number {
  if (word === 0) return LFU_INIT;
  const counter = word & 255;
  const minutes = Math.floor((Date.now() - epochMs) / LFU_DECAY_MS) - Math.floor(word / 256);
  return Math.max(0, counter - Math.max(0, minutes));
}
