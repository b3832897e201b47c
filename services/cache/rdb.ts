// DUMP and RESTORE payloads in Redis's own format (rdb.c, cluster.c
// createDumpPayload): one RDB-serialized value, then the RDB version (2
// bytes, little-endian) and a CRC-64 (Jones polynomial, reflected, as
// Redis's crc64.c) of everything before it, little-endian.
//
// We write RDB version 10 (Redis 7.0) with the plain encodings every Redis
// since 2.x loads: strings (small integers in the int encodings, as Redis
// does; never LZF-compressed), lists as RDB_TYPE_LIST, sets as
// RDB_TYPE_SET, hashes as RDB_TYPE_HASH, sorted sets as RDB_TYPE_ZSET_2. So
// DUMP of a string of up to 20 bytes is byte for byte Redis's, and any of
// our payloads RESTOREs into Redis 7. We read those plus what Redis 7.0
// writes for small values: LZF-compressed strings, intsets, listpacks
// (hashes, sorted sets) and quicklists of listpacks, so a payload DUMPed by
// Redis RESTOREs here. Hash field TTLs are not carried. Pure: no I/O.

import type { Bytes } from "../../lib/bytes.ts";
import { HashValue, ListValue, SetValue, type Value } from "./values.ts";
import { NIL, parseScore, ZSetValue } from "./zset.ts";

/** Redis 7.0's RDB_VERSION: payloads from a newer Redis are refused, as Redis refuses them. */
export const RDB_VERSION = 10;

const TYPE_STRING = 0;
const TYPE_LIST = 1;
const TYPE_SET = 2;
const TYPE_ZSET = 3;
const TYPE_HASH = 4;
const TYPE_ZSET_2 = 5;
const TYPE_SET_INTSET = 11;
const TYPE_HASH_LISTPACK = 16;
const TYPE_ZSET_LISTPACK = 17;
const TYPE_LIST_QUICKLIST_2 = 18;
const TYPE_SET_LISTPACK = 20;

/** Elements one payload may declare: Redis's own bound on aggregate lengths is memory. */
const ELEMENTS_MAX = 1 << 28;

// ---- CRC-64 (Jones, reflected): Redis's crc64(0, ...). ----

const CRC_TABLE: bigint[] = (() => {
  const poly = 0x95ac9329ac4bc9b5n; // 0xad93d23594c935a9 reflected
  const table: bigint[] = [];
  for (let n = 0n; n < 256n; n++) {
    let crc = n;
    for (let k = 0; k < 8; k++) crc = crc & 1n ? (crc >> 1n) ^ poly : crc >> 1n;
    table.push(crc);
  }
  return table;
})();

/** Redis's crc64 of `bytes`, starting from 0. */
export function crc64(bytes: Uint8Array): bigint {
  let crc = 0n;
  for (let i = 0; i < bytes.length; i++) {
    crc = CRC_TABLE[Number((crc ^ BigInt(bytes[i])) & 0xffn)] ^ (crc >> 8n);
  }
  return crc;
}

// ---- writing ----

class Writer {
  #bytes: number[] = [];

  byte(b: number): void {
    this.#bytes.push(b & 0xff);
  }

  length(n: number): void {
    if (n < 64) this.byte(n);
    else if (n < 16384) {
      this.byte(0x40 | (n >> 8));
      this.byte(n);
    } else {
      this.byte(0x80);
      for (let shift = 24; shift >= 0; shift -= 8) this.byte(n >>> shift);
    }
  }

  /** A string as rdbSaveRawString writes it: small canonical integers int-encoded. */
  string(text: string): void {
    if (text.length <= 11 && /^(0|-?[1-9]\d*)$/.test(text)) {
      const n = Number(text);
      if (n >= -128 && n <= 127) return this.#int(0xc0, n, 1);
      if (n >= -32768 && n <= 32767) return this.#int(0xc1, n, 2);
      if (n >= -2147483648 && n <= 2147483647) return this.#int(0xc2, n, 4);
    }
    this.length(text.length);
    for (let i = 0; i < text.length; i++) this.byte(text.charCodeAt(i));
  }

  #int(tag: number, n: number, bytes: number): void {
    this.byte(tag);
    for (let i = 0; i < bytes; i++) this.byte(n >> (8 * i));
  }

  double(n: number): void {
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, n, true);
    for (let i = 0; i < 8; i++) this.byte(view.getUint8(i));
  }

  finish(): Bytes {
    this.byte(RDB_VERSION);
    this.byte(0);
    const body = Uint8Array.from(this.#bytes);
    const crc = crc64(body);
    const out = new Uint8Array(body.length + 8);
    out.set(body);
    for (let i = 0; i < 8; i++) out[body.length + i] = Number((crc >> BigInt(8 * i)) & 0xffn);
    return out;
  }
}

/** DUMP's payload for a value. */
export function encodeDump(value: Value): Bytes {
  const w = new Writer();
  if (typeof value === "string") {
    w.byte(TYPE_STRING);
    w.string(value);
  } else if (value instanceof ListValue) {
    w.byte(TYPE_LIST);
    w.length(value.length);
    for (const item of value.toArray()) w.string(item);
  } else if (value instanceof SetValue) {
    w.byte(TYPE_SET);
    w.length(value.members.size);
    for (const member of value.ordered()) w.string(member);
  } else if (value instanceof HashValue) {
    const now = Date.now();
    const live = [...value.fields].filter(([field]) => {
      const at = value.fieldExpires.get(field);
      return at === undefined || at > now;
    });
    w.byte(TYPE_HASH);
    w.length(live.length);
    for (const [field, text] of live) {
      w.string(field);
      w.string(text);
    }
  } else {
    w.byte(TYPE_ZSET_2);
    w.length(value.size);
    // Redis writes a skiplist from its tail, so loading inserts at the head.
    for (let pos = value.last(); pos !== NIL; pos = value.prev(pos)) {
      w.string(value.memberAt(pos));
      w.double(value.scoreAt(pos));
    }
  }
  return w.finish();
}

// ---- reading ----

/** Why a payload was refused, in RESTORE's words. */
export type DumpError = "ERR DUMP payload version or checksum are wrong" | "ERR Bad data format";

class BadData extends Error {}

class Reader {
  readonly #bytes: Uint8Array;
  #at: number;
  readonly #end: number;

  constructor(bytes: Uint8Array, from = 0, end = bytes.length) {
    this.#bytes = bytes;
    this.#at = from;
    this.#end = end;
  }

  get done(): boolean {
    return this.#at >= this.#end;
  }

  byte(): number {
    if (this.#at >= this.#end) throw new BadData();
    return this.#bytes[this.#at++];
  }

  take(n: number): Uint8Array {
    if (n < 0 || this.#at + n > this.#end) throw new BadData();
    const out = this.#bytes.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }

  uint(n: number, littleEndian: boolean): number {
    const bytes = this.take(n);
    let value = 0;
    for (let i = 0; i < n; i++) {
      value = value * 256 + bytes[littleEndian ? n - 1 - i : i];
    }
    return value;
  }

  /** A length, or an encoded-string tag (`special`). */
  length(): { n: number; special: boolean } {
    const first = this.byte();
    const kind = first >> 6;
    if (kind === 0) return { n: first & 0x3f, special: false };
    if (kind === 1) return { n: ((first & 0x3f) << 8) | this.byte(), special: false };
    if (kind === 3) return { n: first & 0x3f, special: true };
    if (first === 0x80) return { n: this.uint(4, false), special: false };
    if (first === 0x81) {
      const n = this.uint(8, false);
      if (n > Number.MAX_SAFE_INTEGER) throw new BadData();
      return { n, special: false };
    }
    throw new BadData();
  }

  count(): number {
    const { n, special } = this.length();
    if (special || n > ELEMENTS_MAX) throw new BadData();
    return n;
  }

  string(): string {
    const { n, special } = this.length();
    if (!special) return binary(this.take(n));
    if (n === 0) return String(signed(this.uint(1, true), 8));
    if (n === 1) return String(signed(this.uint(2, true), 16));
    if (n === 2) return String(signed(this.uint(4, true), 32));
    if (n === 3) {
      const compressed = this.count();
      const length = this.count();
      return binary(lzfDecompress(this.take(compressed), length));
    }
    throw new BadData();
  }

  /** A string's raw bytes (listpack and intset blobs). */
  blob(): Uint8Array {
    const text = this.string();
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }

  doubleBinary(): number {
    const bytes = this.take(8);
    return new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0, true);
  }

  /** RDB_TYPE_ZSET's text double: 253 nan, 254 +inf, 255 -inf, else length + text. */
  doubleText(): number {
    const n = this.byte();
    if (n === 253) return NaN;
    if (n === 254) return Infinity;
    if (n === 255) return -Infinity;
    return Number(binary(this.take(n)));
  }
}

function signed(n: number, bits: number): number {
  return n >= 2 ** (bits - 1) ? n - 2 ** bits : n;
}

function binary(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192) as unknown as number[]);
  }
  return s;
}

/** LZF decompression (lzf_d.c) into exactly `length` bytes. */
export function lzfDecompress(input: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let ip = 0;
  let op = 0;
  while (ip < input.length) {
    const ctrl = input[ip++];
    if (ctrl < 32) {
      const run = ctrl + 1;
      if (op + run > length || ip + run > input.length) throw new BadData();
      out.set(input.subarray(ip, ip + run), op);
      ip += run;
      op += run;
    } else {
      let run = ctrl >> 5;
      if (run === 7) {
        if (ip >= input.length) throw new BadData();
        run += input[ip++];
      }
      if (ip >= input.length) throw new BadData();
      let ref = op - ((ctrl & 0x1f) << 8) - 1 - input[ip++];
      run += 2;
      if (ref < 0 || op + run > length) throw new BadData();
      while (run-- > 0) out[op++] = out[ref++];
    }
  }
  if (op !== length) throw new BadData();
  return out;
}

/** The entries of a listpack (listpack.c), as strings (integers in decimal). */
function listpackEntries(blob: Uint8Array): string[] {
  const r = new Reader(blob);
  const total = r.uint(4, true);
  if (total !== blob.length) throw new BadData();
  r.uint(2, true); // element count (65535 when unknown): the walk decides
  const entries: string[] = [];
  while (true) {
    const first = r.byte();
    let size: number;
    if (first === 0xff) break;
    if ((first & 0x80) === 0) {
      entries.push(String(first & 0x7f));
      size = 1;
    } else if ((first & 0xc0) === 0x80) {
      const n = first & 0x3f;
      entries.push(binary(r.take(n)));
      size = 1 + n;
    } else if ((first & 0xe0) === 0xc0) {
      entries.push(String(signed(((first & 0x1f) << 8) | r.byte(), 13)));
      size = 2;
    } else if ((first & 0xf0) === 0xe0) {
      const n = ((first & 0x0f) << 8) | r.byte();
      entries.push(binary(r.take(n)));
      size = 2 + n;
    } else if (first === 0xf0) {
      const n = r.uint(4, true);
      entries.push(binary(r.take(n)));
      size = 5 + n;
    } else if (first >= 0xf1 && first <= 0xf4) {
      const bytes = [2, 3, 4, 8][first - 0xf1];
      const raw = r.take(bytes);
      let n = 0n;
      for (let i = bytes - 1; i >= 0; i--) n = (n << 8n) | BigInt(raw[i]);
      entries.push(String(BigInt.asIntN(bytes * 8, n)));
      size = 1 + bytes;
    } else throw new BadData();
    // The back-length: how many bytes the entry took, in 1 to 5 bytes.
    r.take(size < 128 ? 1 : size < 16384 ? 2 : size < 2097152 ? 3 : size < 268435456 ? 4 : 5);
  }
  if (!r.done) throw new BadData();
  return entries;
}

/** The members of an intset blob (intset.c): encoding, length, little-endian integers. */
function intsetMembers(blob: Uint8Array): string[] {
  const r = new Reader(blob);
  const width = r.uint(4, true);
  const length = r.uint(4, true);
  if ((width !== 2 && width !== 4 && width !== 8) || 8 + width * length !== blob.length) {
    throw new BadData();
  }
  const members: string[] = [];
  for (let i = 0; i < length; i++) {
    const raw = r.take(width);
    let n = 0n;
    for (let j = width - 1; j >= 0; j--) n = (n << 8n) | BigInt(raw[j]);
    members.push(String(BigInt.asIntN(width * 8, n)));
  }
  return members;
}

function pairs(entries: string[]): [string, string][] {
  if (entries.length % 2 !== 0) throw new BadData();
  const out: [string, string][] = [];
  for (let i = 0; i < entries.length; i += 2) out.push([entries[i], entries[i + 1]]);
  return out;
}

function readValue(r: Reader): Value {
  const type = r.byte();
  switch (type) {
    case TYPE_STRING:
      return r.string();
    case TYPE_LIST: {
      const list = new ListValue();
      for (let n = r.count(); n > 0; n--) list.pushBack(r.string());
      if (list.length === 0) throw new BadData();
      return list;
    }
    case TYPE_SET:
    case TYPE_SET_INTSET:
    case TYPE_SET_LISTPACK: {
      const set = new SetValue();
      const members = type === TYPE_SET
        ? Array.from({ length: r.count() }, () => r.string())
        : type === TYPE_SET_INTSET
        ? intsetMembers(r.blob())
        : listpackEntries(r.blob());
      for (const member of members) if (!set.add(member)) throw new BadData();
      if (set.members.size === 0) throw new BadData();
      return set;
    }
    case TYPE_HASH:
    case TYPE_HASH_LISTPACK: {
      const hash = new HashValue();
      const fields = type === TYPE_HASH
        ? Array.from({ length: r.count() }, () => [r.string(), r.string()] as [string, string])
        : pairs(listpackEntries(r.blob()));
      for (const [field, text] of fields) if (!hash.set(field, text)) throw new BadData();
      if (hash.fields.size === 0) throw new BadData();
      return hash;
    }
    case TYPE_ZSET:
    case TYPE_ZSET_2:
    case TYPE_ZSET_LISTPACK: {
      const zset = new ZSetValue();
      const members: [string, number][] = type === TYPE_ZSET_LISTPACK
        ? pairs(listpackEntries(r.blob())).map((
          [member, score],
        ) => [member, parseScore(score) ?? NaN])
        : Array.from({ length: r.count() }, () => {
          const member = r.string();
          return [member, type === TYPE_ZSET ? r.doubleText() : r.doubleBinary()];
        });
      for (const [member, score] of members) {
        if (Number.isNaN(score) || zset.scores.has(member)) throw new BadData();
        zset.set(member, score);
      }
      if (zset.size === 0) throw new BadData();
      return zset;
    }
    case TYPE_LIST_QUICKLIST_2: {
      const list = new ListValue();
      for (let nodes = r.count(); nodes > 0; nodes--) {
        const container = r.count();
        const blob = r.blob();
        if (container === 1) list.pushBack(binary(blob)); // a plain node: one big element
        else if (container === 2) { for (const item of listpackEntries(blob)) list.pushBack(item); }
        else throw new BadData();
      }
      if (list.length === 0) throw new BadData();
      return list;
    }
  }
  throw new BadData();
}

/** What RESTORE makes of a payload: the value, or its error. */
export type Restored = { ok: true; value: Value } | { ok: false; error: DumpError };

const WRONG_VERSION: Restored = {
  ok: false,
  error: "ERR DUMP payload version or checksum are wrong",
};
const BAD_FORMAT: Restored = { ok: false, error: "ERR Bad data format" };

/** RESTORE's payload check and decode. */
export function decodeDump(payload: Uint8Array): Restored {
  const n = payload.length;
  if (n < 10) return WRONG_VERSION;
  const version = payload[n - 10] | (payload[n - 9] << 8);
  if (version > RDB_VERSION) return WRONG_VERSION;
  let crc = 0n;
  for (let i = 7; i >= 0; i--) crc = (crc << 8n) | BigInt(payload[n - 8 + i]);
  if (crc64(payload.subarray(0, n - 8)) !== crc) return WRONG_VERSION;
  try {
    const r = new Reader(payload, 0, n - 10);
    const value = readValue(r);
    return r.done ? { ok: true, value } : BAD_FORMAT;
  } catch (error) {
    if (error instanceof BadData || error instanceof RangeError) return BAD_FORMAT;
    throw error;
  }
}
