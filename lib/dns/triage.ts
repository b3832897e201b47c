// Header triage: what a server does with a packet before decoding it.
//
// miekg/dns's lesson ("any reply can be used to amplify"): look at the
// 12-octet header alone and decide whether the packet deserves a reply at
// all, and whether its kind is one we serve, before spending a full decode
// on it. One place decides it for every DNS server here:
//
// - shorter than a header: dropped (no ID to answer with);
// - QR set: dropped, a response is never answered (no reflection loops);
// - an opcode other than QUERY: NOTIMP (RFC 1035 4.1.1; the rest of the
//   header means what that opcode says, so only ID and opcode are echoed:
//   see reply.ts);
// - QDCOUNT other than 1 (RFC 9619: a query has exactly one question), or
//   records in the answer or authority section: FORMERR.
//
// Pure: reads six octets, allocates nothing.

import { HEADER_BYTES } from "./codec.ts";
import { Opcode, Rcode } from "./types.ts";

/** Triage verdict: drop the packet without a word. */
export const TRIAGE_DROP = -1;
/** Triage verdict: a plain query, go on and answer it. */
export const TRIAGE_PASS = 0;

/**
 * TRIAGE_DROP, TRIAGE_PASS, or the rcode of the header-only reply the
 * packet gets instead of an answer (Rcode.NOTIMP or Rcode.FORMERR).
 */
export function triage(packet: Uint8Array): number {
  if (packet.length < HEADER_BYTES) return TRIAGE_DROP;
  const flagsHigh = packet[2];
  if ((flagsHigh & 0x80) !== 0) return TRIAGE_DROP;
  if (((flagsHigh >>> 3) & 0x0f) !== Opcode.QUERY) return Rcode.NOTIMP;
  if (packet[4] !== 0 || packet[5] !== 1) return Rcode.FORMERR;
  if ((packet[6] | packet[7] | packet[8] | packet[9]) !== 0) return Rcode.FORMERR;
  return TRIAGE_PASS;
}
