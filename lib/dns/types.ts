// DNS message types and the numeric constants of the wire format.
//
// RFC 1035 section 4.1 (header, question, resource record), RFC 3596 (AAAA),
// RFC 2782 (SRV), RFC 8659 (CAA), RFC 3597 (unknown types kept as opaque
// RDATA), RFC 6891 (EDNS0 OPT pseudo-record). Names are kept in presentation
// form ("www.example.com.", always absolute); see name.ts.
//
// Left out: DNSSEC record types (they travel as opaque RDATA), TSIG, and
// classes other than IN and CH beyond their numbers.

import type { Bytes } from "../bytes.ts";

/** An absolute domain name in presentation form, e.g. "www.example.com." or "." */
export type Name = string;

/** Record types this codec knows by name (RFC 1035 3.2.2, 3.2.3 and later RFCs). */
export const RecordType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  HINFO: 13,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  DS: 43,
  RRSIG: 46,
  NSEC: 47,
  DNSKEY: 48,
  AXFR: 252,
  ANY: 255,
  CAA: 257,
} as const;

export const RecordClass = { IN: 1, CH: 3, NONE: 254, ANY: 255 } as const;

export const Opcode = { QUERY: 0, IQUERY: 1, STATUS: 2, NOTIFY: 4, UPDATE: 5 } as const;

/** Response codes (RFC 1035 4.1.1, RFC 6891 9 for BADVERS). */
export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  BADVERS: 16,
} as const;

const TYPE_NAMES = new Map<number, string>(
  Object.entries(RecordType).map(([name, code]) => [code, name]),
);
const CLASS_NAMES = new Map<number, string>(
  Object.entries(RecordClass).map(([name, code]) => [code, name]),
);
const RCODE_NAMES = new Map<number, string>(
  Object.entries(Rcode).map(([name, code]) => [code, name]),
);
const OPCODE_NAMES = new Map<number, string>(
  Object.entries(Opcode).map(([name, code]) => [code, name]),
);

/** "A", "MX", or the RFC 3597 generic form "TYPE65280". */
export function typeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `TYPE${type}`;
}

/** "IN", or the RFC 3597 generic form "CLASS32". */
export function className(klass: number): string {
  return CLASS_NAMES.get(klass) ?? `CLASS${klass}`;
}

export function rcodeName(rcode: number): string {
  return RCODE_NAMES.get(rcode) ?? `RCODE${rcode}`;
}

export function opcodeName(opcode: number): string {
  return OPCODE_NAMES.get(opcode) ?? `OPCODE${opcode}`;
}

/** Type number for "MX", "mx" or "TYPE15"; undefined when unknown. */
export function parseType(text: string): number | undefined {
  const upper = text.toUpperCase();
  const known = (RecordType as Record<string, number>)[upper];
  if (known !== undefined) return known;
  const generic = /^TYPE(\d{1,5})$/.exec(upper);
  if (generic && Number(generic[1]) <= 0xffff) return Number(generic[1]);
  return undefined;
}

/** Class number for "IN" or "CLASS1"; undefined when unknown. */
export function parseClass(text: string): number | undefined {
  const upper = text.toUpperCase();
  const known = (RecordClass as Record<string, number>)[upper];
  if (known !== undefined) return known;
  const generic = /^CLASS(\d{1,5})$/.exec(upper);
  if (generic && Number(generic[1]) <= 0xffff) return Number(generic[1]);
  return undefined;
}

/** The data of one record, by format. Byte fields are copies, never views. */
export type RData =
  | { readonly kind: "A"; readonly address: string }
  | { readonly kind: "AAAA"; readonly address: string }
  | { readonly kind: "NAME"; readonly target: Name } // CNAME, NS, PTR
  | { readonly kind: "MX"; readonly preference: number; readonly exchange: Name }
  | {
    readonly kind: "SOA";
    readonly mname: Name;
    readonly rname: Name;
    readonly serial: number;
    readonly refresh: number;
    readonly retry: number;
    readonly expire: number;
    readonly minimum: number;
  }
  | { readonly kind: "TXT"; readonly strings: readonly Bytes[] }
  | {
    readonly kind: "SRV";
    readonly priority: number;
    readonly weight: number;
    readonly port: number;
    readonly target: Name;
  }
  | { readonly kind: "CAA"; readonly flags: number; readonly tag: string; readonly value: Bytes }
  | { readonly kind: "OPAQUE"; readonly bytes: Bytes };

export interface ResourceRecord {
  readonly name: Name;
  readonly type: number;
  readonly class: number;
  readonly ttl: number;
  readonly data: RData;
}

export interface Question {
  readonly name: Name;
  readonly type: number;
  readonly class: number;
}

export interface EdnsOption {
  readonly code: number;
  readonly data: Bytes;
}

/** The EDNS0 OPT pseudo-record, unpacked (RFC 6891 6.1.2, 6.1.3). */
export interface Edns {
  /** Largest UDP payload the sender can reassemble (CLASS field). */
  readonly udpPayloadSize: number;
  /** Upper 8 bits of the 12-bit rcode. */
  readonly extendedRcode: number;
  readonly version: number;
  /** The DO bit (RFC 3225). */
  readonly dnssecOk: boolean;
  readonly options: readonly EdnsOption[];
}

/** A whole DNS message. The OPT record lives in `edns`, not in `additional`. */
export interface Message {
  readonly id: number;
  readonly qr: boolean;
  readonly opcode: number;
  readonly aa: boolean;
  readonly tc: boolean;
  readonly rd: boolean;
  readonly ra: boolean;
  readonly ad: boolean;
  readonly cd: boolean;
  /** The full rcode: low 4 bits from the header, upper bits from OPT when present. */
  readonly rcode: number;
  readonly questions: readonly Question[];
  readonly answers: readonly ResourceRecord[];
  readonly authority: readonly ResourceRecord[];
  readonly additional: readonly ResourceRecord[];
  readonly edns?: Edns;
}

/** A message with every field defaulted: a query unless overridden. */
export function makeMessage(fields: Partial<Message> = {}): Message {
  return {
    id: 0,
    qr: false,
    opcode: Opcode.QUERY,
    aa: false,
    tc: false,
    rd: false,
    ra: false,
    ad: false,
    cd: false,
    rcode: Rcode.NOERROR,
    questions: [],
    answers: [],
    authority: [],
    additional: [],
    ...fields,
  };
}
