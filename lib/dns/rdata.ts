// RDATA of each record type: wire read/write, presentation parse/format.
//
// RFC 1035 3.3 and 3.4 (A, CNAME, MX, NS, PTR, SOA, TXT), RFC 3596 (AAAA),
// RFC 2782 (SRV), RFC 8659 4.1 (CAA), RFC 3597 (unknown types: opaque on the
// wire, `\# <length> <hex>` in text, and names inside them never
// compressed). Only the RFC 1035 types may have compressed names in RDATA
// (RFC 3597 section 4), so SRV targets are written uncompressed.
//
// Left out: typed handling of DNSSEC and other newer types (they round-trip
// as opaque RDATA, which is all an authoritative server needs).

import { type Bytes, fromAscii, toHex } from "../bytes.ts";
import { DecodeError } from "../errors.ts";
import { parseName, readName } from "./name.ts";
import { type Name, type RData, RecordType } from "./types.ts";
import type { WireWriter } from "./wire.ts";

/** The RData format used for a record type. */
export function kindOf(type: number): RData["kind"] {
  switch (type) {
    case RecordType.A:
      return "A";
    case RecordType.AAAA:
      return "AAAA";
    case RecordType.CNAME:
    case RecordType.NS:
    case RecordType.PTR:
      return "NAME";
    case RecordType.MX:
      return "MX";
    case RecordType.SOA:
      return "SOA";
    case RecordType.TXT:
      return "TXT";
    case RecordType.SRV:
      return "SRV";
    case RecordType.CAA:
      return "CAA";
    default:
      return "OPAQUE";
  }
}

// ---------------------------------------------------------------- wire

/**
 * Reads the RDATA of `length` octets at `offset` in `buf` (the whole message,
 * so compressed names resolve). Every field must end exactly at the end of
 * the RDATA; byte fields are copies.
 */
export function readRData(buf: Uint8Array, offset: number, length: number, type: number): RData {
  const end = offset + length;
  if (end > buf.length) throw new DecodeError("RDATA runs past the end of the message");
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const need = (n: number, at: number) => {
    if (at + n > end) throw new DecodeError(`RDATA of type ${type} too short`);
  };
  const exact = (at: number) => {
    if (at !== end) throw new DecodeError(`RDATA of type ${type} has ${end - at} stray octets`);
  };
  const nameAt = (at: number) => {
    const read = readName(buf, at);
    if (read.end > end) throw new DecodeError("name runs past the end of its RDATA");
    return read;
  };
  switch (kindOf(type)) {
    case "A": {
      if (length !== 4) throw new DecodeError("A RDATA must be 4 octets");
      return { kind: "A", address: Array.from(buf.subarray(offset, end)).join(".") };
    }
    case "AAAA": {
      if (length !== 16) throw new DecodeError("AAAA RDATA must be 16 octets");
      return { kind: "AAAA", address: formatIpv6(buf.subarray(offset, end)) };
    }
    case "NAME": {
      const target = nameAt(offset);
      exact(target.end);
      return { kind: "NAME", target: target.name };
    }
    case "MX": {
      need(2, offset);
      const exchange = nameAt(offset + 2);
      exact(exchange.end);
      return { kind: "MX", preference: view.getUint16(offset), exchange: exchange.name };
    }
    case "SOA": {
      const mname = nameAt(offset);
      const rname = nameAt(mname.end);
      need(20, rname.end);
      exact(rname.end + 20);
      const at = rname.end;
      return {
        kind: "SOA",
        mname: mname.name,
        rname: rname.name,
        serial: view.getUint32(at),
        refresh: view.getUint32(at + 4),
        retry: view.getUint32(at + 8),
        expire: view.getUint32(at + 12),
        minimum: view.getUint32(at + 16),
      };
    }
    case "TXT": {
      const strings: Bytes[] = [];
      let at = offset;
      while (at < end) {
        const size = buf[at];
        need(1 + size, at);
        strings.push(buf.slice(at + 1, at + 1 + size));
        at += 1 + size;
      }
      if (strings.length === 0) throw new DecodeError("TXT RDATA holds no string");
      return { kind: "TXT", strings };
    }
    case "SRV": {
      need(6, offset);
      const target = nameAt(offset + 6);
      exact(target.end);
      return {
        kind: "SRV",
        priority: view.getUint16(offset),
        weight: view.getUint16(offset + 2),
        port: view.getUint16(offset + 4),
        target: target.name,
      };
    }
    case "CAA": {
      need(2, offset);
      const tagLength = buf[offset + 1];
      need(2 + tagLength, offset);
      if (tagLength === 0) throw new DecodeError("CAA tag is empty");
      return {
        kind: "CAA",
        flags: buf[offset],
        tag: String.fromCharCode(...buf.subarray(offset + 2, offset + 2 + tagLength)),
        value: buf.slice(offset + 2 + tagLength, end),
      };
    }
    case "OPAQUE":
      return { kind: "OPAQUE", bytes: buf.slice(offset, end) };
  }
}

/** Writes RDATA (without its length prefix). */
export function writeRData(w: WireWriter, type: number, data: RData): void {
  // Only RFC 1035 types compress names inside RDATA (RFC 3597 section 4).
  const compress = type === RecordType.CNAME || type === RecordType.NS ||
    type === RecordType.PTR || type === RecordType.MX || type === RecordType.SOA;
  switch (data.kind) {
    case "A":
      w.bytes(parseIpv4(data.address));
      return;
    case "AAAA":
      w.bytes(parseIpv6(data.address));
      return;
    case "NAME":
      w.name(data.target, compress);
      return;
    case "MX":
      w.u16(data.preference);
      w.name(data.exchange, compress);
      return;
    case "SOA":
      w.name(data.mname, compress);
      w.name(data.rname, compress);
      w.u32(data.serial);
      w.u32(data.refresh);
      w.u32(data.retry);
      w.u32(data.expire);
      w.u32(data.minimum);
      return;
    case "TXT":
      for (const string of data.strings) {
        w.u8(string.length);
        w.bytes(string);
      }
      return;
    case "SRV":
      w.u16(data.priority);
      w.u16(data.weight);
      w.u16(data.port);
      w.name(data.target, false);
      return;
    case "CAA":
      w.u8(data.flags);
      w.u8(data.tag.length);
      w.bytes(fromAscii(data.tag));
      w.bytes(data.value);
      return;
    case "OPAQUE":
      w.bytes(data.bytes);
      return;
  }
}

// ---------------------------------------------------------------- text

/** One token of a zone file line: its raw text (escapes kept) and whether it was quoted. */
export interface Token {
  readonly text: string;
  readonly quoted: boolean;
}

/**
 * Parses RDATA from zone-file tokens (RFC 1035 5.1). Names are relative to
 * `origin`. Any type accepts the RFC 3597 generic form `\# <length> <hex>`.
 * Throws DecodeError naming the problem (the caller adds file and line).
 */
export function parseRData(type: number, tokens: readonly Token[], origin: Name): RData {
  if (tokens.length > 0 && !tokens[0].quoted && tokens[0].text === "\\#") {
    return parseGeneric(type, tokens.slice(1));
  }
  const kind = kindOf(type);
  const count = (n: number) => {
    if (tokens.length !== n) {
      throw new DecodeError(`expected ${n} RDATA field(s), found ${tokens.length}`);
    }
  };
  const name = (i: number) => parseName(tokens[i].text, origin);
  switch (kind) {
    case "A":
      count(1);
      parseIpv4(tokens[0].text);
      return { kind, address: tokens[0].text };
    case "AAAA":
      count(1);
      return { kind, address: formatIpv6(parseIpv6(tokens[0].text)) };
    case "NAME":
      count(1);
      return { kind, target: name(0) };
    case "MX":
      count(2);
      return { kind, preference: u16(tokens[0].text), exchange: name(1) };
    case "SOA":
      count(7);
      return {
        kind,
        mname: name(0),
        rname: name(1),
        serial: u32(tokens[2].text),
        refresh: ttlValue(tokens[3].text),
        retry: ttlValue(tokens[4].text),
        expire: ttlValue(tokens[5].text),
        minimum: ttlValue(tokens[6].text),
      };
    case "TXT":
      if (tokens.length === 0) throw new DecodeError("TXT needs at least one string");
      return { kind, strings: tokens.map((t) => characterString(t.text)) };
    case "SRV":
      count(4);
      return {
        kind,
        priority: u16(tokens[0].text),
        weight: u16(tokens[1].text),
        port: u16(tokens[2].text),
        target: name(3),
      };
    case "CAA": {
      count(3);
      const flags = Number(tokens[0].text);
      if (!/^\d+$/.test(tokens[0].text) || flags > 255) throw new DecodeError("bad CAA flags");
      if (!/^[A-Za-z0-9]{1,255}$/.test(tokens[1].text)) throw new DecodeError("bad CAA tag");
      return { kind, flags, tag: tokens[1].text, value: unescapeText(tokens[2].text) };
    }
    case "OPAQUE":
      throw new DecodeError("records of this type need the generic form \\# <length> <hex>");
  }
}

function parseGeneric(type: number, tokens: readonly Token[]): RData {
  if (tokens.length === 0 || !/^\d+$/.test(tokens[0].text)) {
    throw new DecodeError("\\# needs a length");
  }
  const length = Number(tokens[0].text);
  const hex = tokens.slice(1).map((t) => t.text).join("");
  if (hex.length !== length * 2 || /[^0-9a-fA-F]/.test(hex)) {
    throw new DecodeError(`\\# ${length}: expected ${length} octets of hex`);
  }
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  if (kindOf(type) === "OPAQUE") return { kind: "OPAQUE", bytes };
  return readRData(bytes, 0, length, type);
}

/** Presentation form of RDATA, as dig and zone files write it. */
export function formatRData(data: RData): string {
  switch (data.kind) {
    case "A":
    case "AAAA":
      return data.address;
    case "NAME":
      return data.target;
    case "MX":
      return `${data.preference} ${data.exchange}`;
    case "SOA":
      return [
        data.mname,
        data.rname,
        data.serial,
        data.refresh,
        data.retry,
        data.expire,
        data.minimum,
      ].join(" ");
    case "TXT":
      return data.strings.map(quoteText).join(" ");
    case "SRV":
      return `${data.priority} ${data.weight} ${data.port} ${data.target}`;
    case "CAA":
      return `${data.flags} ${data.tag} ${quoteText(data.value)}`;
    case "OPAQUE":
      return `\\# ${data.bytes.length}${data.bytes.length ? " " + toHex(data.bytes) : ""}`;
  }
}

/** A character-string in quotes, `"` and `\` escaped, other unprintables as \DDD. */
export function quoteText(bytes: Uint8Array): string {
  let out = '"';
  for (const byte of bytes) {
    if (byte === 0x22 || byte === 0x5c) out += "\\" + String.fromCharCode(byte);
    else if (byte < 0x20 || byte >= 0x7f) out += "\\" + String(byte).padStart(3, "0");
    else out += String.fromCharCode(byte);
  }
  return out + '"';
}

/** Decodes `\X` and `\DDD` escapes of a zone-file string into octets. */
export function unescapeText(text: string): Bytes {
  const out: number[] = [];
  const encoder = new TextEncoder();
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === "\\") {
      const digits = /^\d{3}/.exec(text.slice(i + 1, i + 4));
      if (digits) {
        if (Number(digits[0]) > 255) throw new DecodeError(`escape \\${digits[0]} is over 255`);
        out.push(Number(digits[0]));
        i += 3;
      } else if (i + 1 < text.length) {
        out.push(...encoder.encode(text[i + 1]));
        i += 1;
      } else {
        throw new DecodeError("string ends in a lone backslash");
      }
    } else {
      out.push(...encoder.encode(char));
    }
  }
  return new Uint8Array(out);
}

function characterString(text: string): Bytes {
  const bytes = unescapeText(text);
  // RFC 1035 3.3: a <character-string> is one length octet and up to 255 octets.
  if (bytes.length > 255) throw new DecodeError("character-string longer than 255 octets");
  return bytes;
}

function u16(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 0xffff) {
    throw new DecodeError(`"${text}" is not a 16-bit number`);
  }
  return Number(text);
}

function u32(text: string): number {
  if (!/^\d{1,10}$/.test(text) || Number(text) > 0xffffffff) {
    throw new DecodeError(`"${text}" is not a 32-bit number`);
  }
  return Number(text);
}

const TTL_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/**
 * A TTL: plain seconds (RFC 1035), or BIND's unit form such as "1h30m" or
 * "2D", which NSD accepts too. At most 2^31-1 (RFC 2181 8).
 */
export function ttlValue(text: string): number {
  let value: number;
  if (/^\d+$/.test(text)) {
    value = Number(text);
  } else if (/^(\d+[smhdwSMHDW])+$/.test(text)) {
    value = 0;
    for (const [, n, unit] of text.matchAll(/(\d+)([smhdwSMHDW])/g)) {
      value += Number(n) * TTL_UNITS[unit.toLowerCase()];
    }
  } else {
    throw new DecodeError(`"${text}" is not a TTL`);
  }
  if (value > 0x7fffffff) throw new DecodeError(`TTL ${text} is over 2^31-1`);
  return value;
}

// ---------------------------------------------------------------- addresses

/** Four octets of a dotted-quad IPv4 address; throws DecodeError otherwise. */
export function parseIpv4(text: string): Bytes {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new DecodeError(`"${text}" is not an IPv4 address`);
  }
  return new Uint8Array(parts.map(Number));
}

/** Sixteen octets of an IPv6 address (RFC 4291 2.2 text forms). */
export function parseIpv6(text: string): Bytes {
  const bad = () => new DecodeError(`"${text}" is not an IPv6 address`);
  let head = text;
  if (text.includes(".")) {
    // An embedded IPv4 tail ("::ffff:127.0.0.1") becomes two hex groups.
    const lastColon = text.lastIndexOf(":");
    if (lastColon < 0) throw bad();
    const v4 = parseIpv4(text.slice(lastColon + 1));
    const high = ((v4[0] << 8) | v4[1]).toString(16);
    const low = ((v4[2] << 8) | v4[3]).toString(16);
    head = `${text.slice(0, lastColon + 1)}${high}:${low}`;
  }
  const groupsWanted = 8;
  const halves = head.split("::");
  if (halves.length > 2) throw bad();
  const parse = (part: string) => part === "" ? [] : part.split(":");
  const left = parse(halves[0]);
  const right = halves.length === 2 ? parse(halves[1]) : [];
  const fill = groupsWanted - left.length - right.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) throw bad();
  const groups = [...left, ...Array(Math.max(0, fill)).fill("0"), ...right];
  const out = new Uint8Array(16);
  groups.forEach((group, i) => {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) throw bad();
    const value = parseInt(group, 16);
    out[i * 2] = value >> 8;
    out[i * 2 + 1] = value & 0xff;
  });
  return out;
}

/** RFC 5952 text form: lowercase, leading zeros dropped, longest zero run as "::". */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(":");
  const left = hex.slice(0, bestStart).join(":");
  const right = hex.slice(bestStart + bestLength).join(":");
  return `${left}::${right}`;
}
