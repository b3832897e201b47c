// The authoritative answer logic: a query in, a response out, no I/O.
//
// RFC 1034 4.3.2 (the lookup algorithm: referrals at zone cuts, CNAME
// chasing inside the zone, NXDOMAIN), RFC 2308 3 (NXDOMAIN and NODATA carry
// the zone's SOA in the authority section, TTL the lesser of the SOA's TTL
// and MINIMUM), RFC 4592 (wildcards: synthesised from "*." + the closest
// encloser, never across an existing name or a zone cut), RFC 8482 (a
// minimal answer to ANY: one RRset), RFC 6891 (EDNS in, EDNS out; BADVERS
// for versions above 0), RFC 6604 (the rcode follows the last name of a
// CNAME chain), RFC 1035 4.1.1 (FORMERR, NOTIMP, REFUSED).
//
// Left out: DNSSEC (no signatures, NSEC or DS handling), zone transfers
// (AXFR/IXFR are REFUSED), NOTIFY and UPDATE (NOTIMP).

import { isSubdomain, nameKey, parentName } from "../../lib/dns/name.ts";
import {
  type Edns,
  type Message,
  type Name,
  Opcode,
  Rcode,
  RecordClass,
  RecordType,
  type ResourceRecord,
} from "../../lib/dns/types.ts";
import type { RRset, Zone, ZoneNode } from "../../lib/dns/zone.ts";

/** The UDP payload size we advertise: the DNS Flag Day 2020 value NSD and BIND use. */
export const OUR_UDP_PAYLOAD_BYTES = 1232;
/** CNAME links followed inside our zones before giving up (a loop or a long chain). */
export const CNAME_CHAIN_MAX = 8;

/** The zones one server answers for, found by longest match. */
export class ZoneSet {
  #zones = new Map<string, Zone>();

  constructor(zones: readonly Zone[]) {
    for (const zone of zones) {
      const key = nameKey(zone.origin);
      if (this.#zones.has(key)) throw new Error(`zone ${zone.origin} is loaded twice`);
      this.#zones.set(key, zone);
    }
  }

  get size(): number {
    return this.#zones.size;
  }

  /** The zone `name` falls in: the one whose origin is its longest suffix. */
  find(name: Name): Zone | undefined {
    let current: Name | undefined = name;
    while (current !== undefined) {
      const zone = this.#zones.get(nameKey(current));
      if (zone) return zone;
      current = parentName(current);
    }
    return undefined;
  }

  zones(): IterableIterator<Zone> {
    return this.#zones.values();
  }
}

interface Draft {
  rcode: number;
  /** An RFC 8482 answer to ANY: no additional section. */
  minimal: boolean;
  aa: boolean;
  answers: ResourceRecord[];
  authority: ResourceRecord[];
  additional: ResourceRecord[];
}

/** The response to one decoded query. */
export function answerQuery(query: Message, zones: ZoneSet): Message {
  const edns: Edns | undefined = query.edns
    ? {
      udpPayloadSize: OUR_UDP_PAYLOAD_BYTES,
      extendedRcode: 0,
      version: 0,
      dnssecOk: query.edns.dnssecOk,
      options: [],
    }
    : undefined;
  const reply = (rcode: number, draft?: Partial<Draft>): Message => ({
    id: query.id,
    qr: true,
    opcode: query.opcode,
    aa: draft?.aa ?? false,
    tc: false,
    rd: query.rd,
    ra: false,
    ad: false,
    cd: query.cd,
    rcode,
    questions: query.questions.slice(0, 1),
    answers: draft?.answers ?? [],
    authority: draft?.authority ?? [],
    additional: draft?.additional ?? [],
    ...(edns ? { edns } : {}),
  });
  if (query.opcode !== Opcode.QUERY) {
    // A bare header echoing ID and opcode: what the other bits mean is the
    // opcode's to say (lib/dns/reply.ts; lib/dns/triage.ts answers these
    // before a query gets here).
    return { ...reply(Rcode.NOTIMP), rd: false, cd: false, questions: [], edns: undefined };
  }
  if (query.qr || query.questions.length !== 1) return reply(Rcode.FORMERR);
  if (query.answers.length > 0 || query.authority.length > 0) return reply(Rcode.FORMERR);
  if (query.edns && query.edns.version > 0) return reply(Rcode.BADVERS);
  const question = query.questions[0];
  if (question.class !== RecordClass.IN && question.class !== RecordClass.ANY) {
    return reply(Rcode.REFUSED);
  }
  if (question.type === RecordType.OPT) return reply(Rcode.FORMERR);
  const zone = zones.find(question.name);
  if (zone === undefined) return reply(Rcode.REFUSED);
  if (question.type === RecordType.AXFR || question.type === 251 /* IXFR */) {
    return reply(Rcode.REFUSED);
  }
  const draft: Draft = {
    rcode: Rcode.NOERROR,
    minimal: false,
    aa: true,
    answers: [],
    authority: [],
    additional: [],
  };
  lookup(zone, question.name, question.type, draft, 0);
  addAdditional(draft, zones);
  return reply(draft.rcode, draft);
}

/**
 * True when the authority section of `response` may be left out when it
 * does not fit, instead of truncating: a positive answer's NS RRset is a
 * courtesy, while a referral's NS and a negative answer's SOA are the answer.
 */
export function authorityIsOptional(response: Message): boolean {
  return response.rcode === Rcode.NOERROR && response.answers.length > 0;
}

function lookup(zone: Zone, qname: Name, qtype: number, draft: Draft, depth: number): void {
  const cut = findZoneCut(zone, qname, qtype);
  if (cut) {
    referral(zone, cut, draft);
    return;
  }
  let node: ZoneNode | undefined = zone.node(qname);
  if (node === undefined) {
    node = wildcardFor(zone, qname);
    if (node === undefined) {
      draft.rcode = Rcode.NXDOMAIN;
      draft.authority.push(negativeSoa(zone));
      return;
    }
  }
  const cname = node.rrsets.get(RecordType.CNAME);
  if (cname && qtype !== RecordType.CNAME) {
    draft.answers.push(...withOwner(cname, qname));
    const target = (cname.records[0].data as { target: Name }).target;
    if (depth + 1 < CNAME_CHAIN_MAX && isSubdomain(target, zone.origin)) {
      if (!draft.answers.some((r) => nameKey(r.name) === nameKey(target))) {
        lookup(zone, target, qtype, draft, depth + 1);
      }
    }
    return;
  }
  if (qtype === RecordType.ANY) {
    // RFC 8482 4.1: one RRset of the name, the first in zone order (what NSD picks),
    // with nothing in the authority or additional sections.
    const first = node.rrsets.values().next().value;
    if (first === undefined) draft.authority.push(negativeSoa(zone));
    else draft.answers.push(...withOwner(first, qname));
    draft.minimal = true;
    return;
  }
  const rrset = node.rrsets.get(qtype);
  if (rrset === undefined) {
    draft.authority.push(negativeSoa(zone));
    return;
  }
  draft.answers.push(...withOwner(rrset, qname));
  // A positive answer names the zone's servers too, as NSD does; unless the
  // answer is that very RRset.
  const apexNs = zone.node(zone.origin)?.rrsets.get(RecordType.NS);
  if (apexNs && !(qtype === RecordType.NS && nameKey(rrset.name) === nameKey(zone.origin))) {
    draft.authority.push(...apexNs.records);
  }
}

/** The highest delegation (NS below the apex) on the way down to `qname`. */
function findZoneCut(zone: Zone, qname: Name, qtype: number): ZoneNode | undefined {
  const chain: Name[] = [];
  let current: Name | undefined = qname;
  while (current !== undefined && nameKey(current) !== nameKey(zone.origin)) {
    chain.push(current);
    current = parentName(current);
  }
  for (let i = chain.length - 1; i >= 0; i--) {
    const node = zone.node(chain[i]);
    if (node === undefined) return undefined;
    // DS lives on the parent side of a cut (RFC 4035 3.1.4.1).
    if (node.rrsets.has(RecordType.NS) && !(i === 0 && qtype === RecordType.DS)) return node;
  }
  return undefined;
}

function referral(zone: Zone, cut: ZoneNode, draft: Draft): void {
  const ns = cut.rrsets.get(RecordType.NS)!;
  draft.aa = false;
  draft.authority.push(...ns.records);
  // Glue: addresses of in-zone name servers (RFC 1034 4.2.1), below the cut or not.
  for (const record of ns.records) {
    const target = (record.data as { target: Name }).target;
    if (!isSubdomain(target, zone.origin)) continue;
    const node = zone.node(target);
    for (const type of [RecordType.A, RecordType.AAAA]) {
      const glue = node?.rrsets.get(type);
      if (glue) draft.additional.push(...glue.records);
    }
  }
}

/** RFC 4592 3.3.1: the source of synthesis under the closest encloser, if any. */
function wildcardFor(zone: Zone, qname: Name): ZoneNode | undefined {
  let encloser = parentName(qname);
  while (encloser !== undefined && zone.node(encloser) === undefined) {
    encloser = parentName(encloser);
  }
  if (encloser === undefined || !isSubdomain(encloser, zone.origin)) return undefined;
  return zone.node(encloser === "." ? "*." : `*.${encloser}`);
}

function withOwner(rrset: RRset, owner: Name): ResourceRecord[] {
  return rrset.records.map((r) => r.name === owner ? r : { ...r, name: owner });
}

function negativeSoa(zone: Zone): ResourceRecord {
  const soa = zone.soa;
  const minimum = soa.data.kind === "SOA" ? soa.data.minimum : soa.ttl;
  return { ...soa, ttl: Math.min(soa.ttl, minimum) };
}

/**
 * Addresses of MX, NS and SRV targets we are authoritative for (RFC 1035
 * 3.3.9, 3.3.11, RFC 2782): every A first, then every AAAA, in the order
 * the targets appear (NSD's order).
 */
function addAdditional(draft: Draft, zones: ZoneSet): void {
  if (draft.minimal || draft.additional.length > 0) return; // a referral carries its glue
  const targets = new Map<string, Name>();
  for (const record of [...draft.answers, ...draft.authority]) {
    let target: Name | undefined;
    if (record.data.kind === "MX") target = record.data.exchange;
    else if (record.data.kind === "SRV") target = record.data.target;
    else if (record.type === RecordType.NS && record.data.kind === "NAME") {
      target = record.data.target;
    }
    if (target !== undefined && !targets.has(nameKey(target))) {
      targets.set(nameKey(target), target);
    }
  }
  for (const type of [RecordType.A, RecordType.AAAA]) {
    for (const target of targets.values()) {
      const rrset = zones.find(target)?.node(target)?.rrsets.get(type);
      if (rrset) draft.additional.push(...rrset.records);
    }
  }
}
