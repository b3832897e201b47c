// A cache of encoded UDP answers, reused until the zones change.
//
// An authoritative answer depends only on the query's two flag octets, its
// question compared case-insensitively, and its OPT header (payload size,
// extended rcode, version, DO). The ID and the spelling of the question are
// copied in from each query; owner names that repeat the question are
// compression pointers to it (see lib/dns/wire.ts), so they take its case.
//
// Only plain queries qualify: one question with an uncompressed name, no
// records but an OPT, nothing after it. Everything else takes the full
// decode path, which also reports every error. On loopback this skips
// decode, lookup and encode for repeated questions, about 1 µs instead of
// 5-9 µs of work per query. It is a fast path and reads like one: the scan
// keeps no allocations and keys are 32-bit FNV-1a hashes checked byte by
// byte, one entry per hash (a collision just replaces the entry).
//
// Memory: at most `entriesMax` answers; the cache is emptied when full.

import type { Bytes } from "../../lib/bytes.ts";
import type { ZoneSet } from "./authority.ts";

interface Entry {
  /** The query octets the answer depends on, name lowercased (see keyOf). */
  readonly key: Uint8Array;
  readonly answer: Bytes;
}

// Results of the last scan(): where the name ends and where the OPT starts (0: none).
let scannedNameEnd = 0;
let scannedOptAt = 0;

export class AnswerCache {
  #zones: ZoneSet | undefined;
  #entries = new Map<number, Entry>();
  #entriesMax: number;

  constructor(entriesMax = 10_000) {
    this.#entriesMax = entriesMax;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * The answer to `packet` (ID and name as asked), or undefined. Written into
   * `into` when given (a view of it is returned: the caller reuses one
   * buffer per receive loop instead of allocating per packet), else a copy.
   */
  answer(packet: Uint8Array, zones: ZoneSet, into?: Bytes): Bytes | undefined {
    if (zones !== this.#zones) {
      this.#zones = zones;
      this.#entries.clear();
      return undefined;
    }
    const hash = scan(packet);
    if (hash < 0) return undefined;
    const entry = this.#entries.get(hash);
    if (entry === undefined || !sameKey(entry.key, packet)) return undefined;
    const size = entry.answer.length;
    const out = into && into.length >= size ? into.subarray(0, size) : new Uint8Array(size);
    out.set(entry.answer);
    out[0] = packet[0];
    out[1] = packet[1];
    out.set(packet.subarray(12, scannedNameEnd), 12);
    return out;
  }

  /** Keeps `answer` (the full path's encoded reply to `packet`) when `packet` is plain. */
  remember(packet: Uint8Array, answer: Bytes, zones: ZoneSet): void {
    if (zones !== this.#zones) return;
    const hash = scan(packet);
    if (hash < 0 || !echoesQuestion(answer, packet)) return;
    if (this.#entries.size >= this.#entriesMax) this.#entries.clear();
    this.#entries.set(hash, { key: keyOf(packet), answer: answer.slice() });
  }
}

/**
 * True when `answer` repeats the question of `packet` at offset 12, as the
 * ID-and-name patching needs (a NOTIMP or FORMERR answer may leave it out).
 */
function echoesQuestion(answer: Uint8Array, packet: Uint8Array): boolean {
  if (answer[4] !== 0 || answer[5] !== 1 || answer.length < scannedNameEnd + 4) return false;
  for (let i = 12; i < scannedNameEnd + 4; i++) if (answer[i] !== packet[i]) return false;
  return true;
}

/** True when `packet` is a plain query this cache can answer. */
export function isPlainQuery(packet: Uint8Array): boolean {
  return scan(packet) >= 0;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function lower(byte: number): number {
  return byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte;
}

/**
 * Checks that `packet` is a plain query and hashes the octets its answer
 * depends on; -1 when it is not plain. Sets scannedNameEnd and scannedOptAt.
 */
function scan(packet: Uint8Array): number {
  const length = packet.length;
  if (length < 17 || (packet[2] & 0x80) !== 0) return -1;
  // QDCOUNT 1, ANCOUNT 0, NSCOUNT 0, ARCOUNT 0 or 1.
  if (packet[4] !== 0 || packet[5] !== 1 || packet[6] !== 0 || packet[7] !== 0) return -1;
  if (packet[8] !== 0 || packet[9] !== 0 || packet[10] !== 0 || packet[11] > 1) return -1;
  let hash = FNV_OFFSET;
  hash = Math.imul(hash ^ packet[2], FNV_PRIME);
  hash = Math.imul(hash ^ packet[3], FNV_PRIME);
  let at = 12;
  for (;;) {
    if (at >= length) return -1;
    const label = packet[at];
    if (label === 0) break;
    // RFC 1035 2.3.4: labels up to 63 octets, names up to 255.
    if (label > 63 || at + 1 + label >= length || at + 1 + label > 12 + 255) return -1;
    for (let i = at; i <= at + label; i++) hash = Math.imul(hash ^ lower(packet[i]), FNV_PRIME);
    at += 1 + label;
  }
  at += 1;
  scannedNameEnd = at;
  if (at + 4 > length) return -1;
  for (let i = at; i < at + 4; i++) hash = Math.imul(hash ^ packet[i], FNV_PRIME);
  at += 4;
  if (packet[11] === 0) {
    scannedOptAt = 0;
    return at === length ? hash >>> 1 : -1;
  }
  // The OPT record: root owner, TYPE 41, CLASS, TTL, RDLENGTH, then options.
  if (at + 11 > length || packet[at] !== 0 || packet[at + 1] !== 0 || packet[at + 2] !== 41) {
    return -1;
  }
  const rdlength = (packet[at + 9] << 8) | packet[at + 10];
  if (at + 11 + rdlength !== length) return -1;
  for (let option = at + 11; option < length;) {
    if (option + 4 > length) return -1;
    option += 4 + ((packet[option + 2] << 8) | packet[option + 3]);
    if (option > length) return -1;
  }
  scannedOptAt = at;
  for (let i = at + 3; i < at + 9; i++) hash = Math.imul(hash ^ packet[i], FNV_PRIME);
  return hash >>> 1;
}

/** The octets a cached answer depends on; call right after a successful scan(). */
function keyOf(packet: Uint8Array): Uint8Array {
  const nameEnd = scannedNameEnd;
  const optAt = scannedOptAt;
  const key = new Uint8Array(2 + (nameEnd - 12) + 4 + (optAt ? 6 : 0) + 1);
  let k = 0;
  key[k++] = packet[2];
  key[k++] = packet[3];
  for (let i = 12; i < nameEnd; i++) key[k++] = lower(packet[i]);
  for (let i = nameEnd; i < nameEnd + 4; i++) key[k++] = packet[i];
  key[k++] = optAt ? 1 : 0;
  if (optAt) { for (let i = optAt + 3; i < optAt + 9; i++) key[k++] = packet[i]; }
  return key;
}

/** keyOf(packet) equals `key`, compared without building it. */
function sameKey(key: Uint8Array, packet: Uint8Array): boolean {
  const nameEnd = scannedNameEnd;
  const optAt = scannedOptAt;
  if (key.length !== 2 + (nameEnd - 12) + 4 + (optAt ? 6 : 0) + 1) return false;
  let k = 0;
  if (key[k++] !== packet[2] || key[k++] !== packet[3]) return false;
  for (let i = 12; i < nameEnd; i++) if (key[k++] !== lower(packet[i])) return false;
  for (let i = nameEnd; i < nameEnd + 4; i++) if (key[k++] !== packet[i]) return false;
  if (key[k++] !== (optAt ? 1 : 0)) return false;
  if (optAt) {
    for (let i = optAt + 3; i < optAt + 9; i++) {
      if (key[k++] !== packet[i]) return false;
    }
  }
  return true;
}
