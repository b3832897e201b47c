// Domain names: presentation form <-> wire labels, and the bounds-checked,
// loop-safe decompression of names read from a message.
//
// RFC 1035 2.3.4 (labels of at most 63 octets, names of at most 255 octets
// on the wire), 3.1 (name encoding), 4.1.4 (message compression), 5.1
// (presentation escapes `\X` and `\DDD`). Comparisons are case-insensitive
// for ASCII letters only (RFC 4343); the original case is kept in the value.
//
// Left out: IDNA (names are octets; non-ASCII input is taken as UTF-8) and
// the extended label types of RFC 6891 section 5 (obsolete; rejected).

import { type Bytes, utf8 } from "../bytes.ts";
import { DecodeError, LimitError } from "../errors.ts";
import type { Name } from "./types.ts";

/** RFC 1035 2.3.4: a label is at most 63 octets. */
export const MAX_LABEL_BYTES = 63;
/** RFC 1035 2.3.4: a name is at most 255 octets on the wire, length octets included. */
export const MAX_NAME_BYTES = 255;
/**
 * Pointers followed while reading one name. A name of 255 octets has at most
 * 127 labels, so a legitimate chain never needs more hops than that.
 */
export const MAX_POINTER_HOPS = 127;

/** The root name. */
export const ROOT: Name = ".";

interface Parsed {
  /** Wire labels, most specific first, without the root's empty label. */
  readonly labels: readonly Bytes[];
  /** Lowercased presentation form of each suffix, labels[i..] (for compression). */
  readonly suffixKeys: readonly string[];
}

// Names are parsed into labels over and over while encoding answers; a
// bounded memo keeps that to one parse per distinct name. Cleared when full.
const MEMO_ENTRIES_MAX = 8192;
const memo = new Map<string, Parsed>();

/** Wire labels of an absolute name, most specific first (root has none). */
export function nameLabels(name: Name): readonly Bytes[] {
  return parsed(name).labels;
}

/** The lowercased key of each suffix of `name`, for a compression table. */
export function suffixKeys(name: Name): readonly string[] {
  return parsed(name).suffixKeys;
}

function parsed(name: Name): Parsed {
  let entry = memo.get(name);
  if (entry === undefined) {
    const labels = textToLabels(name);
    const texts = labels.map(labelToText);
    const suffixKeys = texts.map((_, i) => nameKey(texts.slice(i).join(".") + "."));
    entry = { labels, suffixKeys };
    if (memo.size >= MEMO_ENTRIES_MAX) memo.clear();
    memo.set(name, entry);
  }
  return entry;
}

/**
 * Parses a name as written in a zone file or on a command line. A name not
 * ending in "." is relative to `origin` (RFC 1035 5.1); "@" is the origin.
 * Returns the canonical presentation form (escapes normalised, case kept).
 */
export function parseName(text: string, origin: Name = ROOT): Name {
  if (text === "@") return origin;
  if (text === "") throw new DecodeError("empty name");
  if (text === ".") return ROOT;
  const labels = textToLabels(text);
  const absolute = endsWithUnescapedDot(text);
  const all = absolute ? labels : [...labels, ...nameLabels(origin)];
  return labelsToName(all);
}

/** Builds a name from wire labels, checking the RFC 1035 bounds. */
export function labelsToName(labels: readonly Uint8Array[]): Name {
  let wireBytes = 1;
  for (const label of labels) {
    if (label.length === 0) throw new DecodeError("empty label inside a name");
    if (label.length > MAX_LABEL_BYTES) {
      throw new LimitError("labelBytes", `label of ${label.length} octets (most is 63)`);
    }
    wireBytes += 1 + label.length;
  }
  if (wireBytes > MAX_NAME_BYTES) {
    throw new LimitError("nameBytes", `name of ${wireBytes} octets (most is 255)`);
  }
  if (labels.length === 0) return ROOT;
  return labels.map(labelToText).join(".") + ".";
}

/** Case-insensitive comparison key: ASCII letters lowercased (RFC 4343). */
export function nameKey(name: Name): string {
  return name.toLowerCase();
}

/** True when `name` equals `ancestor` or lies below it. */
export function isSubdomain(name: Name, ancestor: Name): boolean {
  const a = nameKey(ancestor);
  if (a === ".") return true;
  const n = nameKey(name);
  return n === a ||
    (n.endsWith(a) && n.length > a.length && isLabelBoundary(n, n.length - a.length));
}

function isLabelBoundary(name: string, at: number): boolean {
  // The character before `at` must be an unescaped dot.
  if (name[at - 1] !== ".") return false;
  let backslashes = 0;
  for (let i = at - 2; i >= 0 && name[i] === "\\"; i--) backslashes++;
  return backslashes % 2 === 0;
}

/** The name one label up, or undefined for the root. */
export function parentName(name: Name): Name | undefined {
  const labels = nameLabels(name);
  if (labels.length === 0) return undefined;
  return labelsToName(labels.slice(1));
}

/** Number of labels (root has 0). */
export function labelCount(name: Name): number {
  return nameLabels(name).length;
}

/** Wire length of a name without compression. */
export function wireLength(name: Name): number {
  let length = 1;
  for (const label of nameLabels(name)) length += 1 + label.length;
  return length;
}

export interface NameRead {
  readonly name: Name;
  /** Offset just past the name where it started (after its first pointer, if any). */
  readonly end: number;
}

/**
 * Reads a possibly compressed name at `offset` (RFC 1035 4.1.4). Every read
 * is checked against the buffer; a pointer must point strictly before
 * itself, hops are counted, and the 255-octet budget is checked before each
 * label is taken, so loops and overlong names fail fast with a DecodeError
 * or LimitError instead of spinning.
 */
export function readName(buf: Uint8Array, offset: number): NameRead {
  const labels: Uint8Array[] = [];
  let position = offset;
  let end = -1;
  let hops = 0;
  let wireBytes = 1;
  for (;;) {
    if (position >= buf.length) throw new DecodeError("name runs past the end of the message");
    const length = buf[position];
    const kind = length & 0xc0;
    if (kind === 0xc0) {
      if (position + 1 >= buf.length) throw new DecodeError("truncated compression pointer");
      const target = ((length & 0x3f) << 8) | buf[position + 1];
      if (end === -1) end = position + 2;
      if (target >= position) throw new DecodeError("compression pointer does not point back");
      if (++hops > MAX_POINTER_HOPS) throw new DecodeError("too many compression pointers");
      position = target;
      continue;
    }
    if (kind !== 0) throw new DecodeError(`unsupported label type 0x${kind.toString(16)}`);
    if (length === 0) {
      if (end === -1) end = position + 1;
      break;
    }
    wireBytes += 1 + length;
    if (wireBytes > MAX_NAME_BYTES) {
      throw new LimitError("nameBytes", "name longer than 255 octets");
    }
    if (position + 1 + length > buf.length) throw new DecodeError("label runs past the end");
    labels.push(buf.subarray(position + 1, position + 1 + length));
    position += 1 + length;
  }
  return { name: labelsToName(labels), end };
}

// Presentation form: which octets print as themselves.
const SPECIAL = new Set([0x2e, 0x5c, 0x22, 0x3b, 0x28, 0x29, 0x40, 0x24]); // . \ " ; ( ) @ $

function labelToText(label: Uint8Array): string {
  let out = "";
  for (const byte of label) {
    if (byte <= 0x20 || byte >= 0x7f) out += "\\" + String(byte).padStart(3, "0");
    else if (SPECIAL.has(byte)) out += "\\" + String.fromCharCode(byte);
    else out += String.fromCharCode(byte);
  }
  return out;
}

function endsWithUnescapedDot(text: string): boolean {
  if (!text.endsWith(".")) return false;
  let backslashes = 0;
  for (let i = text.length - 2; i >= 0 && text[i] === "\\"; i--) backslashes++;
  return backslashes % 2 === 0;
}

/** Splits presentation text into wire labels, decoding escapes. */
function textToLabels(text: string): Bytes[] {
  if (text === "." || text === "") return [];
  const labels: Bytes[] = [];
  let current: number[] = [];
  let i = 0;
  const finish = () => {
    if (current.length === 0) throw new DecodeError(`empty label in "${text}"`);
    if (current.length > MAX_LABEL_BYTES) {
      throw new LimitError("labelBytes", `label of ${current.length} octets (most is 63) in "${text}"`);
    }
    labels.push(new Uint8Array(current));
    current = [];
  };
  while (i < text.length) {
    const char = text[i];
    if (char === ".") {
      finish();
      i++;
    } else if (char === "\\") {
      const digits = /^\d{3}/.exec(text.slice(i + 1, i + 4));
      if (digits) {
        const value = Number(digits[0]);
        if (value > 255) throw new DecodeError(`escape \\${digits[0]} is over 255`);
        current.push(value);
        i += 4;
      } else if (i + 1 < text.length) {
        current.push(...utf8(text[i + 1]));
        i += 2;
      } else {
        throw new DecodeError(`name "${text}" ends in a lone backslash`);
      }
    } else {
      const code = text.charCodeAt(i);
      if (code < 0x80) current.push(code);
      else current.push(...utf8(char));
      i++;
    }
  }
  if (current.length > 0) finish();
  let wireBytes = 1;
  for (const label of labels) wireBytes += 1 + label.length;
  if (wireBytes > MAX_NAME_BYTES) {
    throw new LimitError("nameBytes", `name of ${wireBytes} octets (most is 255)`);
  }
  return labels;
}
