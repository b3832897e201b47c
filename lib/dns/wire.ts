// WireWriter: big-endian writes into one reusable scratch buffer, with the
// name compression table of RFC 1035 4.1.4.
//
// Compression keys are lowercased suffixes, so a later "WWW.Example.com"
// points at an earlier "www.example.com": the first spelling written wins,
// which is how the question's case reaches the answer's owner names (what
// NSD and BIND do too). Offsets past 0x3FFF cannot be pointed at (14 bits).

import type { Bytes } from "../bytes.ts";
import { LimitError } from "../errors.ts";
import { nameLabels, suffixKeys } from "./name.ts";
import type { Name } from "./types.ts";

/** RFC 1035 4.2.2: a TCP message is at most 65535 octets (2-byte length). */
export const MAX_MESSAGE_BYTES = 65535;
const POINTER_OFFSET_MAX = 0x3fff;

// One scratch buffer for every encode: encoding is synchronous, so it is
// never shared between two messages at once; the result is copied out.
const scratch = new Uint8Array(MAX_MESSAGE_BYTES + 1024);

export class WireWriter {
  #pos = 0;
  #compression = new Map<string, number>();
  #limit: number;

  constructor(limitBytes = MAX_MESSAGE_BYTES) {
    this.#limit = Math.min(limitBytes, MAX_MESSAGE_BYTES);
  }

  get position(): number {
    return this.#pos;
  }

  /** True while everything written fits the writer's limit. */
  get fits(): boolean {
    return this.#pos <= this.#limit;
  }

  /**
   * Goes back to `position`, forgetting compression targets written after
   * it (used when a record does not fit and is left out).
   */
  rewind(position: number): void {
    this.#pos = position;
    for (const [key, offset] of this.#compression) {
      if (offset >= position) this.#compression.delete(key);
    }
  }

  #room(bytes: number): void {
    // Writes may run past `limit` (the caller checks `fits`), never past the scratch.
    if (this.#pos + bytes > scratch.length) {
      throw new LimitError("messageBytes", "message larger than 65535 octets");
    }
  }

  u8(value: number): void {
    this.#room(1);
    scratch[this.#pos++] = value;
  }

  u16(value: number): void {
    this.#room(2);
    scratch[this.#pos++] = value >>> 8;
    scratch[this.#pos++] = value & 0xff;
  }

  u32(value: number): void {
    this.#room(4);
    scratch[this.#pos++] = value >>> 24;
    scratch[this.#pos++] = (value >>> 16) & 0xff;
    scratch[this.#pos++] = (value >>> 8) & 0xff;
    scratch[this.#pos++] = value & 0xff;
  }

  bytes(data: Uint8Array): void {
    this.#room(data.length);
    scratch.set(data, this.#pos);
    this.#pos += data.length;
  }

  /** Overwrites a 16-bit value already written (counts, RDLENGTH). */
  patchU16(at: number, value: number): void {
    scratch[at] = value >>> 8;
    scratch[at + 1] = value & 0xff;
  }

  /** Writes a name, pointing at an earlier copy of its longest known suffix when `compress`. */
  name(name: Name, compress: boolean): void {
    const labels = nameLabels(name);
    const keys = suffixKeys(name);
    for (let i = 0; i < labels.length; i++) {
      if (compress) {
        const target = this.#compression.get(keys[i]);
        if (target !== undefined) {
          this.u16(0xc000 | target);
          return;
        }
      }
      if (this.#pos <= POINTER_OFFSET_MAX && !this.#compression.has(keys[i])) {
        this.#compression.set(keys[i], this.#pos);
      }
      this.u8(labels[i].length);
      this.bytes(labels[i]);
    }
    this.u8(0);
  }

  /** A copy of everything written so far. */
  finish(): Bytes {
    return scratch.slice(0, this.#pos);
  }
}
