// DNS messages: bytes <-> Message, and the TCP length-prefix framing.
//
// RFC 1035 4.1 (header, question, record layout), 4.1.4 (compression),
// 4.2.1 (UDP: 512 octets unless EDNS says more), 4.2.2 (TCP: 2-octet length
// prefix); RFC 6891 6 (the OPT record: root owner, CLASS = UDP payload size,
// TTL = extended rcode, version and DO bit; at most one per message);
// RFC 2181 9 (TC when a needed RRset does not fit; the additional section
// may simply be cut short).
//
// Pure: no I/O. Decoders follow lib/decode.ts. decodeMessage() returns
// values that own their bytes (names are strings, byte fields copies), so
// the input buffer may be reused; decodeTcpFrame() returns a view.
//
// Left out: TSIG and SIG(0) (a record after OPT in the additional section is
// accepted as an ordinary record).

import type { Bytes } from "../bytes.ts";
import { type Decoded, INCOMPLETE, isIncomplete, needMore } from "../decode.ts";
import { DecodeError, LimitError } from "../errors.ts";
import { type NameMemo, readName, ROOT } from "./name.ts";
import { readRData, writeRData } from "./rdata.ts";
import {
  type Edns,
  type EdnsOption,
  type Message,
  type Question,
  RecordType,
  type ResourceRecord,
} from "./types.ts";
import { MAX_MESSAGE_BYTES, WireWriter } from "./wire.ts";

/** RFC 1035 4.1.1: the header is 12 octets. */
export const HEADER_BYTES = 12;
/** RFC 1035 4.2.1: UDP messages without EDNS carry at most 512 octets. */
export const CLASSIC_UDP_BYTES = 512;

export interface DecodeLimits {
  /** Records read across all sections; the smallest record takes 11 octets. */
  readonly recordsMax: number;
  /** Questions read; a query has one (RFC 9619), we allow a few for clients. */
  readonly questionsMax: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  recordsMax: Math.floor(MAX_MESSAGE_BYTES / 11),
  questionsMax: 16,
};

/**
 * Decodes one message from `buf[from, to)` (lib/decode.ts contract). A UDP
 * datagram or a TCP frame's payload is one whole message: callers holding
 * one use wholeMessage(), which also rejects octets after the last record.
 * Incomplete when the bytes end before the header's counts are met (how
 * many more is known only for the header itself).
 */
export function decodeMessage(
  buf: Uint8Array,
  limits: DecodeLimits = DEFAULT_DECODE_LIMITS,
  from = 0,
  to = buf.length,
): Decoded<Message> {
  if (to - from < HEADER_BYTES) return needMore(HEADER_BYTES - (to - from));
  // Compression pointers count from the message's first octet, so the
  // message is read through a view that starts there.
  const msg = from === 0 && to === buf.length ? buf : buf.subarray(from, to);
  const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const flags = view.getUint16(2);
  const qdcount = view.getUint16(4);
  const counts = [view.getUint16(6), view.getUint16(8), view.getUint16(10)];
  if (qdcount > limits.questionsMax) {
    throw new LimitError("questionsMax", `${qdcount} questions (most is ${limits.questionsMax})`);
  }
  if (counts[0] + counts[1] + counts[2] > limits.recordsMax) {
    throw new LimitError("recordsMax", "more records than a message can hold");
  }
  let at = HEADER_BYTES;
  const memo: NameMemo = new Map();
  const questions: Question[] = [];
  for (let i = 0; i < qdcount; i++) {
    if (!nameFits(msg, at)) return INCOMPLETE;
    const name = readName(msg, at, memo);
    if (name.end + 4 > msg.length) return INCOMPLETE;
    questions.push({
      name: name.name,
      type: view.getUint16(name.end),
      class: view.getUint16(name.end + 2),
    });
    at = name.end + 4;
  }
  const sections: ResourceRecord[][] = [[], [], []];
  let edns: Edns | undefined;
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s]; i++) {
      if (!nameFits(msg, at)) return INCOMPLETE;
      const name = readName(msg, at, memo);
      if (name.end + 10 > msg.length) return INCOMPLETE;
      const type = view.getUint16(name.end);
      const klass = view.getUint16(name.end + 2);
      const ttl = view.getUint32(name.end + 4);
      const rdlength = view.getUint16(name.end + 8);
      const rdStart = name.end + 10;
      if (rdStart + rdlength > msg.length) return needMore(rdStart + rdlength - msg.length);
      if (type === RecordType.OPT) {
        // RFC 6891 6.1.1: only in the additional section, once, owned by the root.
        if (s !== 2) throw new DecodeError("OPT record outside the additional section");
        if (edns !== undefined) throw new DecodeError("more than one OPT record");
        if (name.name !== ROOT) throw new DecodeError("OPT record not owned by the root");
        edns = {
          udpPayloadSize: klass,
          extendedRcode: ttl >>> 24,
          version: (ttl >>> 16) & 0xff,
          dnssecOk: (ttl & 0x8000) !== 0,
          options: readOptions(msg, rdStart, rdlength),
        };
      } else {
        sections[s].push({
          name: name.name,
          type,
          class: klass,
          ttl,
          data: readRData(msg, rdStart, rdlength, type, memo),
        });
      }
      at = rdStart + rdlength;
    }
  }
  if (at > MAX_MESSAGE_BYTES) {
    throw new LimitError("messageBytes", "message larger than 65535 octets");
  }
  const lowRcode = flags & 0x0f;
  const message: Message = {
    id: view.getUint16(0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >>> 11) & 0x0f,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    ad: (flags & 0x0020) !== 0,
    cd: (flags & 0x0010) !== 0,
    rcode: edns ? (edns.extendedRcode << 4) | lowRcode : lowRcode,
    questions,
    answers: sections[0],
    authority: sections[1],
    additional: sections[2],
    ...(edns ? { edns } : {}),
  };
  return { value: message, bytesUsed: at };
}

/**
 * The message that fills `bytes` exactly (a UDP datagram, a TCP frame's
 * payload): a message cut short, or followed by stray octets, is a
 * DecodeError, since nothing more will arrive.
 */
export function wholeMessage(
  bytes: Uint8Array,
  limits: DecodeLimits = DEFAULT_DECODE_LIMITS,
): Message {
  if (bytes.length > MAX_MESSAGE_BYTES) {
    throw new LimitError("messageBytes", "message larger than 65535 octets");
  }
  const result = decodeMessage(bytes, limits);
  if (isIncomplete(result)) {
    throw new DecodeError(
      bytes.length < HEADER_BYTES
        ? "message shorter than its header"
        : "message ends before its header's counts are met",
    );
  }
  if (result.bytesUsed !== bytes.length) {
    throw new DecodeError(`${bytes.length - result.bytesUsed} octets after the last record`);
  }
  return result.value;
}

/**
 * True when the labels of the name at `at`, up to its end or its first
 * pointer, lie inside `msg`: only then can running out of bytes not be the
 * reason readName() fails (a pointer points back, at bytes already here).
 */
function nameFits(msg: Uint8Array, at: number): boolean {
  for (let position = at; position < msg.length;) {
    const length = msg[position];
    if (length === 0) return true;
    if ((length & 0xc0) !== 0) return position + 2 <= msg.length || (length & 0xc0) !== 0xc0;
    position += 1 + length;
  }
  return false;
}

function readOptions(buf: Uint8Array, offset: number, length: number): EdnsOption[] {
  const options: EdnsOption[] = [];
  const end = offset + length;
  let at = offset;
  while (at < end) {
    if (at + 4 > end) throw new DecodeError("EDNS option header runs past the OPT RDATA");
    const code = (buf[at] << 8) | buf[at + 1];
    const size = (buf[at + 2] << 8) | buf[at + 3];
    if (at + 4 + size > end) throw new DecodeError("EDNS option runs past the OPT RDATA");
    options.push({ code, data: buf.slice(at + 4, at + 4 + size) });
    at += 4 + size;
  }
  return options;
}

export interface EncodeOptions {
  /**
   * Largest message wanted (the UDP limit: 512, or the EDNS size the client
   * advertised). When the answer or authority section does not fit, the
   * result holds the header, question and OPT only, with TC set; records of
   * the additional section that do not fit are left out without TC.
   */
  bytesMax?: number;
  /** Compress names (default true). */
  compress?: boolean;
  /**
   * When the answer fits but the authority section does not, leave the
   * authority and additional sections out instead of setting TC (a server
   * adding its NS RRset to a positive answer, RFC 2181 9).
   */
  authorityOptional?: boolean;
}

/** Encodes a message; see EncodeOptions for truncation. */
export function encodeMessage(message: Message, options: EncodeOptions = {}): Bytes {
  const bytesMax = Math.max(HEADER_BYTES, options.bytesMax ?? MAX_MESSAGE_BYTES);
  const compress = options.compress ?? true;
  const optBytes = message.edns ? optLength(message.edns) : 0;
  // The OPT record must always fit (RFC 6891 7), so its room is kept back.
  const w = new WireWriter(bytesMax - optBytes);
  writeHeader(w, message, message.tc, [
    message.questions.length,
    message.answers.length,
    message.authority.length,
    message.additional.length + (message.edns ? 1 : 0),
  ]);
  for (const q of message.questions) {
    w.name(q.name, compress);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const record of message.answers) writeRecord(w, record, compress);
  if (!w.fits) return encodeTruncated(message, bytesMax, compress);
  const afterAnswers = w.position;
  for (const record of message.authority) writeRecord(w, record, compress);
  let additionalRecords = message.additional;
  if (!w.fits) {
    if (!options.authorityOptional) return encodeTruncated(message, bytesMax, compress);
    w.rewind(afterAnswers);
    w.patchU16(8, 0);
    additionalRecords = [];
  }
  let additional = 0;
  for (const record of additionalRecords) {
    const before = w.position;
    writeRecord(w, record, compress);
    if (!w.fits) {
      w.rewind(before);
      break;
    }
    additional++;
  }
  if (message.edns) writeOpt(w, message.edns, message.rcode);
  w.patchU16(10, additional + (message.edns ? 1 : 0));
  return w.finish();
}

function encodeTruncated(message: Message, bytesMax: number, compress: boolean): Bytes {
  const w = new WireWriter(MAX_MESSAGE_BYTES);
  writeHeader(w, message, true, [message.questions.length, 0, 0, message.edns ? 1 : 0]);
  for (const q of message.questions) {
    w.name(q.name, compress);
    w.u16(q.type);
    w.u16(q.class);
  }
  if (message.edns) writeOpt(w, message.edns, message.rcode);
  if (w.position > bytesMax) throw new LimitError("bytesMax", "question alone exceeds the limit");
  return w.finish();
}

function writeHeader(w: WireWriter, m: Message, tc: boolean, counts: number[]): void {
  w.u16(m.id);
  w.u16(
    (m.qr ? 0x8000 : 0) | ((m.opcode & 0x0f) << 11) | (m.aa ? 0x0400 : 0) |
      (tc ? 0x0200 : 0) | (m.rd ? 0x0100 : 0) | (m.ra ? 0x0080 : 0) |
      (m.ad ? 0x0020 : 0) | (m.cd ? 0x0010 : 0) | (m.rcode & 0x0f),
  );
  for (const count of counts) w.u16(count);
}

function writeRecord(w: WireWriter, record: ResourceRecord, compress: boolean): void {
  w.name(record.name, compress);
  w.u16(record.type);
  w.u16(record.class);
  w.u32(record.ttl);
  const lengthAt = w.position;
  w.u16(0);
  writeRData(w, record.type, record.data);
  w.patchU16(lengthAt, w.position - lengthAt - 2);
}

function optLength(edns: Edns): number {
  let length = 11;
  for (const option of edns.options) length += 4 + option.data.length;
  return length;
}

function writeOpt(w: WireWriter, edns: Edns, rcode: number): void {
  w.u8(0); // root owner
  w.u16(RecordType.OPT);
  w.u16(edns.udpPayloadSize);
  w.u8(rcode >>> 4); // extended rcode: the upper 8 bits
  w.u8(edns.version);
  w.u16(edns.dnssecOk ? 0x8000 : 0);
  const lengthAt = w.position;
  w.u16(0);
  for (const option of edns.options) {
    w.u16(option.code);
    w.u16(option.data.length);
    w.bytes(option.data);
  }
  w.patchU16(lengthAt, w.position - lengthAt - 2);
}

// ---------------------------------------------------------------- TCP framing

/** Bounds of the TCP framing. */
export interface FrameLimits {
  /** Largest message accepted in a frame; the 2-octet prefix allows 65535 (RFC 1035 4.2.2). */
  readonly messageBytesMax: number;
}

export const DEFAULT_FRAME_LIMITS: FrameLimits = { messageBytesMax: MAX_MESSAGE_BYTES };

/**
 * Finds one length-prefixed message at `buf[from]` (RFC 1035 4.2.2,
 * RFC 7766 8). The value is a view of the message inside `buf`, valid
 * until the buffer is reused; incomplete results say how many more octets
 * the prefix announces. A zero length is a DecodeError (no message is that
 * short), a length past `messageBytesMax` a LimitError.
 */
export function decodeTcpFrame(
  buf: Uint8Array,
  limits: FrameLimits = DEFAULT_FRAME_LIMITS,
  from = 0,
  to = buf.length,
): Decoded<Uint8Array> {
  const have = to - from;
  if (have < 2) return needMore(2 - have);
  const length = (buf[from] << 8) | buf[from + 1];
  if (length === 0) throw new DecodeError("zero-length TCP message");
  if (length > limits.messageBytesMax) {
    throw new LimitError(
      "messageBytesMax",
      `TCP message of ${length} octets (most is ${limits.messageBytesMax})`,
    );
  }
  if (have < 2 + length) return needMore(2 + length - have);
  return { value: buf.subarray(from + 2, from + 2 + length), bytesUsed: 2 + length };
}

/** Prefixes a message with its 2-octet length. */
export function encodeTcpFrame(message: Uint8Array): Bytes {
  if (message.length > MAX_MESSAGE_BYTES) {
    throw new LimitError("messageBytes", "message larger than 65535 octets");
  }
  const out = new Uint8Array(2 + message.length);
  out[0] = message.length >>> 8;
  out[1] = message.length & 0xff;
  out.set(message, 2);
  return out;
}
