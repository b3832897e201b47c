// The keyspace: numbered databases of keys, with TTLs, memory accounting
// and the hooks WATCH and blocking list pops need.
//
// A database is a table of columns rather than one object per key: a Map
// from key to slot, and per slot the key, the value, an access word (LRU
// clock or LFU counter) and the index of the key's TTL among the volatile
// keys (-1 for none). Keys with a TTL also sit in two dense columns (their
// slot, their expiry), so expiry and eviction sample random keys in O(1)
// as Redis samples its dicts (Redis: db.c, expire.c, evict.c), and only
// they pay for an expiry time, as Redis keeps TTLs in a second dict.
//
// Why columns: an object per key (7 fields, 80 bytes on V8 without pointer
// compression) plus its slot in the dense array was half of what a small
// key cost. The slots are dense: deleting swaps the last slot into the
// hole, so a slot only ever moves down, which SCAN relies on (it walks
// slots from the top down, so a key present for the whole scan is never
// skipped).
//
// Commands see a key through an `Entry`, a short-lived view (key, slot)
// made by lookup() and set(). A view re-finds its slot if another key's
// deletion moved it, so it stays valid for the command that made it; it
// must not be kept across commands (blocked clients keep key names).
//
// Memory is an estimate of the JS heap our data holds (key and value bytes
// plus a fixed per-key and per-element overhead measured on V8), not the
// process RSS; see docs/cache.md.

import { typeName, type Value } from "./values.ts";

/**
 * Estimated heap cost of one key beyond its key and value bytes, apart
 * from the Map (counted by MAP_ENTRY_BYTES): two string headers (16 bytes
 * each, rounded up to 8: about 40), its slots in the key and value columns
 * (8 bytes each, up to 1.5x as V8 grows arrays: 24) and in the access and
 * TTL-index columns (4 each, up to 2x: 16). Checked against
 * bench/micro/cache_memory.ts (heap plus array buffers after a full GC) from
 * 100k to 1.5M keys: the estimate stays within a few percent above the heap
 * (112 to 158 bytes/key for 11-byte keys and 4-byte values, depending on
 * how full the Map's table and the columns are), so maxmemory stays on the
 * safe side.
 */
export const ENTRY_OVERHEAD_BYTES = 88;
/**
 * One entry of V8's Map table: key, value and chain words (24 bytes) plus
 * half a bucket word. The table's capacity is a power of two that doubles
 * when full and halves below a quarter full; we mirror it per database, so
 * used_memory follows the table's steps as Redis's follows its dict's.
 */
export const MAP_ENTRY_BYTES = 28;
/** The smallest Map capacity we account beyond the baseline. */
const MAP_CAPACITY_MIN = 16;
/** What an empty server reports as used, like Redis's ~1 MB baseline. */
export const BASELINE_BYTES = 1024 * 1024;

/** Slots a new table starts with; the columns double as they fill. */
const TABLE_INITIAL_SLOTS = 16;

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

/** An Int32Array twice as long, with the old contents. */
function grownInt32(column: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const next = new Int32Array(column.length * 2);
  next.set(column);
  return next;
}

/** One database's columns. Slot i of every column describes the same key. */
class Table {
  readonly index = new Map<string, number>();
  readonly keys: string[] = [];
  readonly values: Value[] = [];
  /** LRU clock (seconds since the keyspace's epoch) or LFU word, per slot. */
  access: Int32Array<ArrayBuffer> = new Int32Array(TABLE_INITIAL_SLOTS);
  /** Index of the slot's key in the volatile columns, or -1. */
  vslots: Int32Array<ArrayBuffer> = new Int32Array(TABLE_INITIAL_SLOTS);
  /** The volatile keys: the slot of each, and its expiry (ms since the epoch). */
  volatileSlots: Int32Array<ArrayBuffer> = new Int32Array(TABLE_INITIAL_SLOTS);
  volatileAt: Float64Array<ArrayBuffer> = new Float64Array(TABLE_INITIAL_SLOTS);
  volatileCount = 0;
  /** Our model of the index Map's table capacity (see MAP_ENTRY_BYTES). */
  mapCapacity = MAP_CAPACITY_MIN;

  get size(): number {
    return this.keys.length;
  }

  expireAt(slot: number): number {
    const v = this.vslots[slot];
    return v === -1 ? 0 : this.volatileAt[v];
  }

  /** Appends a key; returns its slot. */
  add(key: string, value: Value): number {
    const slot = this.keys.length;
    if (slot === this.access.length) {
      this.access = grownInt32(this.access);
      this.vslots = grownInt32(this.vslots);
    }
    this.keys.push(key);
    this.values.push(value);
    this.vslots[slot] = -1;
    this.index.set(key, slot);
    return slot;
  }

  /** Removes the key at `slot`, moving the last slot into its place. */
  removeAt(slot: number): void {
    this.index.delete(this.keys[slot]);
    if (this.vslots[slot] !== -1) this.dropVolatile(slot);
    const last = this.keys.length - 1;
    if (slot !== last) {
      const key = this.keys[last];
      this.keys[slot] = key;
      this.values[slot] = this.values[last];
      this.access[slot] = this.access[last];
      const v = this.vslots[last];
      this.vslots[slot] = v;
      if (v !== -1) this.volatileSlots[v] = slot;
      this.index.set(key, slot);
    }
    this.keys.pop();
    this.values.pop();
    // Give memory back after a mass deletion (at a quarter full, so a
    // size hovering at a boundary does not reallocate on every change).
    if (last < this.access.length / 4 && this.access.length > TABLE_INITIAL_SLOTS) {
      this.access = this.access.slice(0, this.access.length / 2);
      this.vslots = this.vslots.slice(0, this.vslots.length / 2);
    }
  }

  setExpire(slot: number, at: number): void {
    let v = this.vslots[slot];
    if (at === 0) {
      if (v !== -1) this.dropVolatile(slot);
      return;
    }
    if (v === -1) {
      v = this.volatileCount++;
      if (v === this.volatileSlots.length) {
        this.volatileSlots = grownInt32(this.volatileSlots);
        const at = new Float64Array(this.volatileAt.length * 2);
        at.set(this.volatileAt);
        this.volatileAt = at;
      }
      this.volatileSlots[v] = slot;
      this.vslots[slot] = v;
    }
    this.volatileAt[v] = at;
  }

  dropVolatile(slot: number): void {
    const v = this.vslots[slot];
    const last = --this.volatileCount;
    if (v !== last) {
      const moved = this.volatileSlots[last];
      this.volatileSlots[v] = moved;
      this.volatileAt[v] = this.volatileAt[last];
      this.vslots[moved] = v;
    }
    this.vslots[slot] = -1;
    const length = this.volatileSlots.length;
    if (last < length / 4 && length > TABLE_INITIAL_SLOTS) {
      this.volatileSlots = this.volatileSlots.slice(0, length / 2);
      this.volatileAt = this.volatileAt.slice(0, length / 2);
    }
  }
}

/** Reads an Entry's slot from outside the class (set in its static block). */
let slotOf: (entry: Entry) => number;
/** Db's value replacement with its accounting, for Entry (set in Db's static block). */
let replaceValue: (db: Db, slot: number, value: Value) => void;

/**
 * A view of one key for the command at hand: its name and its value,
 * expiry and access word, read from and written to the table's columns.
 */
export class Entry {
  /** The key, as stored. */
  readonly key: string;
  readonly #db: Db;
  readonly #table: Table;
  #slot: number;

  constructor(db: Db, table: Table, slot: number) {
    this.#db = db;
    this.#table = table;
    this.#slot = slot;
    this.key = table.keys[slot];
  }

  static {
    slotOf = (entry) => entry.#resolve();
  }

  /** The key's slot now: another key's deletion may have moved it. */
  #resolve(): number {
    const table = this.#table;
    if (table.keys[this.#slot] === this.key) return this.#slot;
    const slot = table.index.get(this.key);
    // A view of a deleted key is a bug in the command that holds it.
    if (slot === undefined) throw new Error(`keyspace: view of deleted key ${this.key}`);
    return this.#slot = slot;
  }

  get value(): Value {
    return this.#table.values[this.#resolve()];
  }

  /**
   * Replaces the value, keeping the TTL (APPEND, SETRANGE, INCR ...) and
   * accounting its size; the caller then calls Db.resize, which signals
   * the change.
   */
  set value(value: Value) {
    replaceValue(this.#db, this.#resolve(), value);
  }

  /** Expiry in ms since the epoch, 0 for none. */
  get expireAt(): number {
    return this.#table.expireAt(this.#resolve());
  }

  /** What used_memory counts for this key (MEMORY USAGE), its share of the Map included. */
  get bytes(): number {
    return ENTRY_OVERHEAD_BYTES + MAP_ENTRY_BYTES + this.key.length + valueBytes(this.value);
  }

  /** LRU clock of the last access, or the LFU word. */
  get access(): number {
    return this.#table.access[this.#resolve()];
  }

  set access(word: number) {
    this.#table.access[this.#resolve()] = Math.max(-0x80000000, Math.min(0x7fffffff, word));
  }
}

/**
 * Estimated bytes of one key: overhead, key, and its value as last
 * accounted (strings are accounted when stored, aggregates by resize()).
 */
function keyBytes(space: Keyspace, key: string, value: Value): number {
  return ENTRY_OVERHEAD_BYTES + key.length +
    (typeof value === "string" ? value.length : space.accountedBytes(value));
}

/** One numbered database. */
export class Db {
  readonly index: number;
  readonly #space: Keyspace;
  #table = new Table();

  constructor(index: number, space: Keyspace) {
    this.index = index;
    this.#space = space;
  }

  static {
    replaceValue = (db, slot, value) => db.#replace(slot, value);
  }

  /** Stores a value in an existing slot, accounting the size difference. */
  #replace(slot: number, value: Value): void {
    const space = this.#space;
    const values = this.#table.values;
    const old = values[slot];
    space.usedBytes -= typeof old === "string" ? old.length : space.accountedBytes(old);
    if (typeof value !== "string") space.account(value);
    space.usedBytes += typeof value === "string" ? value.length : value.bytes;
    values[slot] = value;
  }

  get size(): number {
    return this.#table.size;
  }

  get volatileCount(): number {
    return this.#table.volatileCount;
  }

  /** The live slot of `key`, deleting the key first when it has expired. */
  #find(key: string): number {
    const table = this.#table;
    const slot = table.index.get(key);
    if (slot === undefined) return -1;
    const v = table.vslots[slot];
    if (v !== -1 && table.volatileAt[v] <= Date.now()) {
      this.#removeAt(slot);
      this.#space.expiredKeys++;
      this.#space.hooks.expired(this, key);
      return -1;
    }
    return slot;
  }

  /** Finds a live entry, deleting it first when it has expired. Does not count as access. */
  peek(key: string): Entry | undefined {
    const slot = this.#find(key);
    return slot === -1 ? undefined : new Entry(this, this.#table, slot);
  }

  /** Finds a live entry and records the access for LRU/LFU. */
  lookup(key: string): Entry | undefined {
    const slot = this.#find(key);
    if (this.#space.readLookups) this.#space.hooks.read(this, key, slot !== -1);
    if (slot === -1) return undefined;
    this.#touchAccess(slot);
    return new Entry(this, this.#table, slot);
  }

  /**
   * Finds a live entry without recording an access, but reported as a read
   * like `lookup` (Redis's LOOKUP_NOTOUCH: EXISTS, TYPE, TTL).
   */
  lookupNoTouch(key: string): Entry | undefined {
    const slot = this.#find(key);
    if (this.#space.readLookups) this.#space.hooks.read(this, key, slot !== -1);
    return slot === -1 ? undefined : new Entry(this, this.#table, slot);
  }

  /** The live value under `key` with the access recorded (lookup without a view). */
  get(key: string): Value | undefined {
    const slot = this.#find(key);
    if (this.#space.readLookups) this.#space.hooks.read(this, key, slot !== -1);
    if (slot === -1) return undefined;
    this.#touchAccess(slot);
    return this.#table.values[slot];
  }

  #touchAccess(slot: number): void {
    const access = this.#table.access;
    access[slot] = this.#space.accessWord(access[slot]);
  }

  /** Stores a new value under `key`, replacing any entry and clearing its TTL. */
  set(key: string, value: Value, quiet = false): Entry {
    return new Entry(this, this.#table, this.store(key, value, quiet));
  }

  /** set() without a view: returns the key's slot (the SET fast path). */
  store(key: string, value: Value, quiet = false): number {
    const table = this.#table;
    const space = this.#space;
    let slot = table.index.get(key);
    if (slot === undefined) {
      slot = table.add(key, value);
      if (typeof value !== "string") space.account(value);
      space.usedBytes += keyBytes(space, key, value);
      if (slot === table.mapCapacity) {
        space.usedBytes += MAP_ENTRY_BYTES * table.mapCapacity;
        table.mapCapacity *= 2;
      }
      table.access[slot] = space.accessWord(0);
      if (!quiet) space.hooks.touched(this.index, key);
      space.hooks.created(this, key, value);
      return slot;
    }
    this.#replace(slot, value);
    if (table.vslots[slot] !== -1) table.dropVolatile(slot);
    table.access[slot] = space.accessWord(table.access[slot]);
    space.hooks.touched(this.index, key);
    return slot;
  }

  /**
   * Accounts an entry's value after it changed: a string replaced through
   * `entry.value`, or an aggregate changed in place. `quiet`: not reported
   * as a change (a string grown with zeros by a BITFIELD whose every write
   * failed, which Redis does not signal).
   */
  resize(entry: Entry, quiet = false): void {
    const slot = slotOf(entry);
    const table = this.#table;
    const space = this.#space;
    const value = table.values[slot];
    if (typeof value !== "string") { // strings were accounted when stored
      space.usedBytes += value.bytes - space.accountedBytes(value);
      space.account(value);
    }
    if (!quiet) space.hooks.touched(this.index, entry.key);
  }

  /** Sets or clears (0) an entry's expiry time. */
  setExpire(entry: Entry, at: number): void {
    this.#table.setExpire(slotOf(entry), at);
    this.#space.hooks.touched(this.index, entry.key);
  }

  delete(key: string): boolean {
    const table = this.#table;
    const slot = table.index.get(key);
    if (slot === undefined) return false;
    const at = table.expireAt(slot);
    const live = at === 0 || at > Date.now();
    this.#removeAt(slot);
    this.#space.hooks.touched(this.index, key);
    return live;
  }

  /** Removes an entry we hold a view of. */
  remove(entry: Entry): void {
    this.#removeAt(slotOf(entry));
  }

  /** Removes the key at a slot (eviction, active expiry; no hooks). */
  removeSlot(slot: number): void {
    this.#removeAt(slot);
  }

  #removeAt(slot: number): void {
    const table = this.#table;
    this.#space.usedBytes -= keyBytes(this.#space, table.keys[slot], table.values[slot]);
    table.removeAt(slot);
    if (table.size < table.mapCapacity / 4 && table.mapCapacity > MAP_CAPACITY_MIN) {
      table.mapCapacity /= 2;
      this.#space.usedBytes -= MAP_ENTRY_BYTES * table.mapCapacity;
    }
  }

  /** Slots in use: slots 0 .. slots-1 each hold a key (SCAN cursors walk them). */
  get slots(): number {
    return this.#table.size;
  }

  keyAt(slot: number): string {
    return this.#table.keys[slot];
  }

  valueAt(slot: number): Value {
    return this.#table.values[slot];
  }

  /** Expiry of the key at a slot, 0 for none. */
  expireAtSlot(slot: number): number {
    return this.#table.expireAt(slot);
  }

  accessAt(slot: number): number {
    return this.#table.access[slot];
  }

  /** A uniformly random slot, or -1 when empty (its key may have expired). */
  randomSlot(): number {
    const size = this.#table.size;
    return size === 0 ? -1 : Math.floor(Math.random() * size);
  }

  /** The slot of a random key with a TTL, or -1. */
  randomVolatileSlot(): number {
    const table = this.#table;
    if (table.volatileCount === 0) return -1;
    return table.volatileSlots[Math.floor(Math.random() * table.volatileCount)];
  }

  keys(): IterableIterator<string> {
    return this.#table.index.keys();
  }

  flush(): void {
    const table = this.#table;
    for (let slot = 0; slot < table.size; slot++) {
      this.#space.usedBytes -= keyBytes(this.#space, table.keys[slot], table.values[slot]);
    }
    this.#space.usedBytes -= MAP_ENTRY_BYTES * (table.mapCapacity - MAP_CAPACITY_MIN);
    this.#table = new Table();
  }

  /** Swaps contents with another database (SWAPDB): O(1), the tables trade places. */
  swapWith(other: Db): void {
    const mine = this.#table;
    this.#table = other.#table;
    other.#table = mine;
  }

  typeOf(key: string): string {
    const slot = this.#find(key);
    return slot === -1 ? "none" : typeName(this.#table.values[slot]);
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
   * once a second), kept in an Int32Array column. The server refreshes it
   * from its 100 ms expiry timer, as Redis refreshes its LRU clock from
   * serverCron: reading the wall clock on every read cost about as much as
   * a whole GET's command lookup.
   */
  clock = 0;

  /** Refreshes the LRU clock from the wall clock. */
  tick(): void {
    this.clock = Math.floor((Date.now() - this.epochMs) / 1000);
  }

  /** A key's access word after an access: the LRU clock, or the LFU counter bumped. */
  accessWord(word: number): number {
    return this.#lfu ? lfuIncrement(word, this.epochMs) : this.clock;
  }

  /**
   * Aggregate values' sizes as last accounted in usedBytes (they change in
   * place, so resize() needs the old figure); strings need none, their
   * length is their size. Weak, so a deleted value's figure goes with it.
   */
  readonly #accounted = new WeakMap<object, number>();

  accountedBytes(value: Exclude<Value, string>): number {
    return this.#accounted.get(value) ?? 0;
  }

  /** Records an aggregate's current size as accounted. */
  account(value: Exclude<Value, string>): void {
    this.#accounted.set(value, value.bytes);
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
