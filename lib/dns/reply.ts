// The replies every DNS server here builds the same way: header-only error
// replies, the UDP size a client can take, and the empty truncated reply.
//
// Header-only replies (RFC 1035 4.1.1) copy the query's ID and opcode and
// set QR. What else is copied depends on the rcode:
// - NOTIMP (an opcode we do not serve): nothing else. The other header bits
//   mean what that opcode defines, so RD, CD and RA are not echoed or set
//   (RFC 6895 2: the opcode decides the rest of the message's layout).
//   NSD echoes RD and CD here; we follow the stricter reading.
// - FORMERR, REFUSED, SERVFAIL: RD is copied (RFC 1035 4.1.1: "copied into
//   the response"), RA is set by a server that offers recursion.
// Every count is 0: the question may be what could not be read, and a
// reply no larger than the query gives an amplifier nothing.
//
// Pure: no I/O.

import type { Bytes } from "../bytes.ts";
import { CLASSIC_UDP_BYTES, HEADER_BYTES } from "./codec.ts";
import type { Edns, Message } from "./types.ts";
import { Rcode } from "./types.ts";

export interface HeaderReplyOptions {
  /** Set RA: the server offers recursion (a resolver). */
  readonly recursionAvailable: boolean;
  /** Where to write the 12 octets (a view of it is returned); default a new array. */
  readonly into?: Bytes;
}

/** A 12-octet reply to the query in `query` (its first 12 octets at least), with `rcode`. */
export function headerReply(query: Uint8Array, rcode: number, options: HeaderReplyOptions): Bytes {
  const out = options.into !== undefined && options.into.length >= HEADER_BYTES
    ? options.into.subarray(0, HEADER_BYTES)
    : new Uint8Array(HEADER_BYTES);
  out.fill(0);
  out[0] = query[0];
  out[1] = query[1];
  const opcodeBits = query[2] & 0x78;
  if (rcode === Rcode.NOTIMP) {
    out[2] = 0x80 | opcodeBits;
    out[3] = Rcode.NOTIMP;
  } else {
    out[2] = 0x80 | opcodeBits | (query[2] & 0x01);
    out[3] = (options.recursionAvailable ? 0x80 : 0) | (rcode & 0x0f);
  }
  return out;
}

/**
 * The largest UDP reply a client can take: 512 octets without EDNS
 * (RFC 1035 4.2.1), else the size it advertises, never below 512 and never
 * above what we advertise ourselves (RFC 6891 6.2.5).
 */
export function udpReplyBytesMax(edns: Edns | undefined, ourUdpPayloadBytes: number): number {
  if (edns === undefined) return CLASSIC_UDP_BYTES;
  return Math.min(Math.max(edns.udpPayloadSize, CLASSIC_UDP_BYTES), ourUdpPayloadBytes);
}

/**
 * `message` with TC set and every record left out but its OPT: the reply
 * that sends a client to TCP (RFC 1035 4.2.1; the "slip" of response rate
 * limiting).
 */
export function truncatedReply(message: Message): Message {
  return { ...message, tc: true, answers: [], authority: [], additional: [] };
}
