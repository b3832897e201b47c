// Iterative resolution (RFC 1034 section 5.3.3, RFC 1035 section 7): start
// from the closest zone whose name servers we know (the cache, a stub zone,
// or the root hints), ask one of them, and follow referrals down until a
// server answers with authority; chase CNAMEs (bounded); cache everything
// that is in bailiwick; answer SERVFAIL with a reason when it cannot finish.
//
// The algorithm works on decoded messages through an injected `Transport`,
// so it can be tested against an in-memory hierarchy with no sockets;
// upstream.ts is the real transport (UDP with TCP fallback, ID and question
// matching, 0x20).
//
// Defences (RFC 5452 and the usual resolver practice):
// - every client query has a budget: referrals, upstream queries, CNAME
//   hops, nesting when name server addresses must be looked up, and time;
// - only records inside the bailiwick of the zone being asked are cached
//   (a server for example.com cannot plant records for bank.test), and glue
//   is taken only for name servers inside the delegating zone;
// - a referral must move strictly down towards the query name; anything
//   else is a lame answer and the next server is tried.
//
// Left out: DNSSEC validation, QNAME minimisation (RFC 9156), DNS cookies.

import { isSubdomain, nameKey, parentName, ROOT } from "../../lib/dns/name.ts";
import {
  type Message,
  type Name,
  type Question,
  Rcode,
  RecordClass,
  RecordType,
  type ResourceRecord,
} from "../../lib/dns/types.ts";
import type { RecordCache } from "./cache.ts";
import type { ServerStats } from "./servers.ts";

/** Where to send a query: an IP address and port. */
export interface ServerAddress {
  readonly address: string;
  readonly port: number;
}

export interface QueryOptions {
  /** Recursion desired: true when talking to a forwarder. */
  readonly rd: boolean;
  readonly timeoutMs: number;
}

/** Sends one query and returns the matching reply; throws on timeout or failure. */
export interface Transport {
  query(server: ServerAddress, question: Question, options: QueryOptions): Promise<Message>;
}

/** A zone served by fixed servers, asked without recursion (Unbound's stub-zone). */
export interface StubZone {
  readonly zone: Name;
  readonly servers: readonly ServerAddress[];
}

export interface ResolverLimits {
  /** Referrals followed for one name (Unbound's max is about 30 with target fetches). */
  referralsMax: number;
  /** Upstream queries for one client query, all lookups included. */
  upstreamQueriesMax: number;
  /** CNAME hops followed (BIND follows 16, Unbound about 11). */
  cnameHopsMax: number;
  /** Depth of nested lookups for name server addresses without glue. */
  nestingMax: number;
  /** Wait for one upstream reply. */
  queryTimeoutMs: number;
  /** Total time for one client query. */
  resolutionTimeoutMs: number;
}

export const DEFAULT_RESOLVER_LIMITS: ResolverLimits = {
  referralsMax: 20,
  upstreamQueriesMax: 64,
  cnameHopsMax: 12,
  nestingMax: 4,
  queryTimeoutMs: 1500,
  resolutionTimeoutMs: 10_000,
};

export interface IteratorConfig {
  /** Root server addresses (from the hints file). */
  readonly rootServers: readonly ServerAddress[];
  readonly stubs: readonly StubZone[];
  /** When set, every query outside a stub zone goes to these, with RD. */
  readonly forwarders: readonly ServerAddress[];
  /** When set, iterative queries to learned name servers use this port (tests). */
  readonly upstreamPort?: number;
  /**
   * Hermetic mode: names outside the stub zones (when there are no
   * forwarders) are REFUSED without a packet sent; the root hints are never
   * used.
   */
  readonly localOnly?: boolean;
  /** Called each time local-only mode refuses a name (for a log line). */
  readonly onRefusedOutside?: (name: Name) => void;
  readonly limits: ResolverLimits;
}

/** The outcome of resolving one question. */
export interface Resolution {
  readonly rcode: number;
  readonly answers: readonly ResourceRecord[];
  readonly authority: readonly ResourceRecord[];
  /** Why resolution failed, for logs (SERVFAIL only). */
  readonly reason?: string;
  /** Set when the final step was answered from the cache. */
  readonly cached?: { readonly remainingSec: number; readonly originalTtlSec: number };
}

/** Resolution could not finish: becomes SERVFAIL with this reason. */
export class ResolutionError extends Error {
  override name = "ResolutionError";
}

/** Local-only mode met a name outside the local zones: becomes REFUSED. */
class OutsideLocalZones extends Error {
  override name = "OutsideLocalZones";
}

interface Budget {
  queries: number;
  readonly deadlineMs: number;
}

type Step =
  | { kind: "answer"; records: ResourceRecord[]; cached?: Resolution["cached"] }
  | { kind: "cname"; record: ResourceRecord; target: Name }
  | { kind: "nxdomain" | "nodata"; soa?: ResourceRecord };

export class Iterator {
  readonly #config: IteratorConfig;
  readonly #transport: Transport;
  readonly #cache: RecordCache;
  readonly #servers: ServerStats;

  constructor(
    config: IteratorConfig,
    transport: Transport,
    cache: RecordCache,
    servers: ServerStats,
  ) {
    this.#config = config;
    this.#transport = transport;
    this.#cache = cache;
    this.#servers = servers;
  }

  /** Resolves `question` fully: CNAME chain, answers and negative answers. */
  async resolve(question: Question, options: { skipCache?: boolean } = {}): Promise<Resolution> {
    const budget: Budget = {
      queries: 0,
      deadlineMs: Date.now() + this.#config.limits.resolutionTimeoutMs,
    };
    try {
      return await this.#resolveChain(question, budget, 0, options.skipCache ?? false);
    } catch (error) {
      if (error instanceof OutsideLocalZones) {
        return { rcode: Rcode.REFUSED, answers: [], authority: [] };
      }
      const reason = error instanceof Error ? error.message : String(error);
      return { rcode: Rcode.SERVFAIL, answers: [], authority: [], reason };
    }
  }

  async #resolveChain(question: Question, budget: Budget, depth: number, skipCache: boolean) {
    const answers: ResourceRecord[] = [];
    const seen = new Set<string>();
    let name = question.name;
    for (let hop = 0; hop <= this.#config.limits.cnameHopsMax; hop++) {
      if (seen.has(nameKey(name))) throw new ResolutionError(`CNAME loop at ${name}`);
      seen.add(nameKey(name));
      const step = await this.#resolveName(
        { ...question, name },
        budget,
        depth,
        skipCache && hop === 0,
      );
      switch (step.kind) {
        case "answer":
          answers.push(...step.records);
          return { rcode: Rcode.NOERROR, answers, authority: [], cached: step.cached };
        case "cname":
          answers.push(step.record);
          name = step.target;
          continue;
        case "nxdomain":
        case "nodata":
          return {
            rcode: step.kind === "nxdomain" ? Rcode.NXDOMAIN : Rcode.NOERROR,
            answers,
            authority: step.soa ? [step.soa] : [],
          };
      }
    }
    throw new ResolutionError(`CNAME chain longer than ${this.#config.limits.cnameHopsMax}`);
  }

  /** One name, one type: from the cache, or by iterating. */
  async #resolveName(
    question: Question,
    budget: Budget,
    depth: number,
    skipCache: boolean,
  ): Promise<Step> {
    if (!skipCache) {
      const cached = this.#fromCache(question);
      if (cached) return cached;
    }
    const stub = this.#stubFor(question.name);
    if (stub) return await this.#iterate(question, stub.zone, stub.servers, budget, depth, false);
    if (this.#config.forwarders.length > 0) {
      return await this.#iterate(question, ROOT, this.#config.forwarders, budget, depth, true);
    }
    if (this.#config.localOnly) {
      this.#config.onRefusedOutside?.(question.name);
      throw new OutsideLocalZones(`${question.name} is outside the local zones`);
    }
    const start = await this.#closestServers(question.name, budget, depth);
    return await this.#iterate(question, start.zone, start.servers, budget, depth, false);
  }

  #fromCache(question: Question): Step | undefined {
    const hit = this.#cache.get(question.name, question.type, question.class);
    if (hit?.kind === "rrset") {
      return {
        kind: "answer",
        records: [...hit.records],
        cached: { remainingSec: hit.remainingSec, originalTtlSec: hit.originalTtlSec },
      };
    }
    if (hit) return { kind: hit.kind, soa: hit.soa };
    if (question.type !== RecordType.CNAME) {
      const cname = this.#cache.get(question.name, RecordType.CNAME, question.class);
      if (cname?.kind === "rrset" && cname.records[0].data.kind === "NAME") {
        return { kind: "cname", record: cname.records[0], target: cname.records[0].data.target };
      }
    }
    return undefined;
  }

  /** True when local-only mode refuses `name` without asking anyone. */
  refusesOutright(name: Name): boolean {
    return this.#config.localOnly === true && this.#config.forwarders.length === 0 &&
      this.#stubFor(name) === undefined;
  }

  #stubFor(name: Name): StubZone | undefined {
    let best: StubZone | undefined;
    for (const stub of this.#config.stubs) {
      if (isSubdomain(name, stub.zone) && (!best || stub.zone.length > best.zone.length)) {
        best = stub;
      }
    }
    return best;
  }

  /**
   * The deepest ancestor of `name` whose name servers have known addresses,
   * from the cache; the root hints when none is known.
   */
  async #closestServers(
    name: Name,
    budget: Budget,
    depth: number,
  ): Promise<{ zone: Name; servers: ServerAddress[] }> {
    for (let zone: Name | undefined = name; zone !== undefined; zone = parentName(zone)) {
      const ns = this.#cache.get(zone, RecordType.NS, RecordClass.IN);
      if (ns?.kind !== "rrset") continue;
      const servers = this.#cachedAddresses(ns.records);
      if (servers.length > 0) return { zone, servers };
      const looked = await this.#lookUpAddresses(ns.records, zone, budget, depth);
      if (looked.length > 0) return { zone, servers: looked };
    }
    return { zone: ROOT, servers: [...this.#config.rootServers] };
  }

  #cachedAddresses(nsRecords: readonly ResourceRecord[]): ServerAddress[] {
    const out: ServerAddress[] = [];
    for (const ns of nsRecords) {
      if (ns.data.kind !== "NAME") continue;
      for (const type of [RecordType.A, RecordType.AAAA]) {
        const hit = this.#cache.get(ns.data.target, type, RecordClass.IN);
        if (hit?.kind !== "rrset") continue;
        for (const record of hit.records) {
          if (record.data.kind === "A" || record.data.kind === "AAAA") {
            out.push({ address: record.data.address, port: this.#config.upstreamPort ?? 53 });
          }
        }
      }
    }
    return out;
  }

  /** Resolves the addresses of name servers that came without glue. */
  async #lookUpAddresses(
    nsRecords: readonly ResourceRecord[],
    zone: Name,
    budget: Budget,
    depth: number,
  ): Promise<ServerAddress[]> {
    if (depth >= this.#config.limits.nestingMax) return [];
    for (const ns of nsRecords) {
      if (ns.data.kind !== "NAME") continue;
      // A name server inside the zone it serves can only be found through glue.
      if (isSubdomain(ns.data.target, zone)) continue;
      const question = { name: ns.data.target, type: RecordType.A, class: RecordClass.IN };
      const result = await this.#resolveChain(question, budget, depth + 1, false).catch(() =>
        undefined
      );
      const addresses = result?.answers.flatMap((r) =>
        r.data.kind === "A"
          ? [{ address: r.data.address, port: this.#config.upstreamPort ?? 53 }]
          : []
      ) ?? [];
      if (addresses.length > 0) {
        return addresses;
      }
    }
    return [];
  }

  /**
   * Asks `servers` (authoritative for `zone`) about `question`, following
   * referrals downwards until an authoritative answer or a negative one.
   */
  async #iterate(
    question: Question,
    startZone: Name,
    startServers: readonly ServerAddress[],
    budget: Budget,
    depth: number,
    recursive: boolean,
  ): Promise<Step> {
    let zone = startZone;
    let servers = startServers;
    for (let referrals = 0; referrals <= this.#config.limits.referralsMax; referrals++) {
      const { reply, step } = await this.#askServers(question, zone, servers, budget, recursive);
      if (step) return step;
      // A referral: NS records for a zone strictly below the current one.
      const delegation = referralOf(reply, zone, question.name);
      if (delegation === undefined) {
        throw new ResolutionError(`no usable answer for ${question.name}`);
      }
      this.#cache.putRrset(delegation.ns, "authority");
      for (const glue of groupRrsets(delegation.glue)) this.#cache.putRrset(glue, "glue");
      zone = delegation.zone;
      servers = this.#cachedAddresses(delegation.ns);
      if (servers.length === 0) {
        servers = await this.#lookUpAddresses(delegation.ns, zone, budget, depth);
      }
      if (servers.length === 0) {
        throw new ResolutionError(`no address for any name server of ${zone}`);
      }
    }
    throw new ResolutionError(`more than ${this.#config.limits.referralsMax} referrals`);
  }

  /**
   * Tries the servers in order (fastest first) until one gives a usable
   * reply: an answer, a negative answer (returned as `step`), or a referral
   * (returned as `reply`). Timeouts, errors and lame replies move on.
   */
  async #askServers(
    question: Question,
    zone: Name,
    servers: readonly ServerAddress[],
    budget: Budget,
    recursive: boolean,
  ): Promise<{ reply: Message; step?: Step }> {
    const byKey = new Map(servers.map((s) => [serverKey(s), s]));
    const order = this.#servers.order([...byKey.keys()]);
    const failures: string[] = [];
    // Two rounds over the set: a lost UDP packet should not fail the query.
    for (const key of [...order, ...order]) {
      const server = byKey.get(key)!;
      const remainingMs = budget.deadlineMs - Date.now();
      if (remainingMs <= 0) throw new ResolutionError(`timed out resolving ${question.name}`);
      if (++budget.queries > this.#config.limits.upstreamQueriesMax) {
        throw new ResolutionError(
          `more than ${this.#config.limits.upstreamQueriesMax} upstream queries`,
        );
      }
      const sentAt = Date.now();
      let reply: Message;
      try {
        reply = await this.#transport.query(server, question, {
          rd: recursive,
          timeoutMs: Math.min(this.#config.limits.queryTimeoutMs, remainingMs),
        });
      } catch (error) {
        this.#servers.recordTimeout(key);
        failures.push(`${key}: ${error instanceof Error ? error.message : error}`);
        continue;
      }
      this.#servers.recordReply(key, Date.now() - sentAt);
      const step = this.#classify(reply, question, zone, recursive);
      if (step === "lame") {
        failures.push(`${key}: lame reply (rcode ${reply.rcode})`);
        continue;
      }
      if (step === "referral") return { reply };
      return { reply, step };
    }
    throw new ResolutionError(
      `no server for ${zone} answered ${question.name}: ${failures.join("; ")}`,
    );
  }

  /** Turns a reply into a step (caching what is in bailiwick), a referral, or "lame". */
  #classify(
    reply: Message,
    question: Question,
    zone: Name,
    recursive: boolean,
  ): Step | "referral" | "lame" {
    // A forwarder answers for the whole tree; a server answers for its zone.
    const bailiwick = recursive ? ROOT : zone;
    const inZone = (r: ResourceRecord) =>
      isSubdomain(r.name, bailiwick) && r.class === question.class;
    if (reply.rcode === Rcode.NXDOMAIN) {
      const soa = negativeSoa(reply, bailiwick, question.name);
      // CNAMEs before the NXDOMAIN are cached and chased by the caller.
      const cname = this.#cacheAnswers(reply, question, inZone);
      if (cname) return cname;
      this.#cache.putNegative(question, "nxdomain", soa);
      return { kind: "nxdomain", soa };
    }
    if (reply.rcode !== Rcode.NOERROR) return "lame";
    const found = this.#cacheAnswers(reply, question, inZone);
    if (found) return found;
    if (referralOf(reply, zone, question.name) !== undefined && !recursive) return "referral";
    // No answer and no referral: NODATA if the server is authoritative
    // (or a forwarder vouches for it), otherwise lame.
    const soa = negativeSoa(reply, bailiwick, question.name);
    if (reply.aa || soa || recursive) {
      this.#cache.putNegative(question, "nodata", soa);
      return { kind: "nodata", soa };
    }
    return "lame";
  }

  /**
   * Caches the in-bailiwick RRsets of the answer section and returns the
   * step they give for `question`: its records, or the CNAME to follow.
   */
  #cacheAnswers(
    reply: Message,
    question: Question,
    inZone: (r: ResourceRecord) => boolean,
  ): Step | undefined {
    const usable = reply.answers.filter(inZone);
    for (const rrset of groupRrsets(usable)) this.#cache.putRrset(rrset, "answer");
    const wanted = usable.filter((r) =>
      sameName(r.name, question.name) &&
      (r.type === question.type || question.type === RecordType.ANY)
    );
    if (wanted.length > 0) return { kind: "answer", records: wanted };
    const cname = usable.find((r) =>
      sameName(r.name, question.name) && r.type === RecordType.CNAME
    );
    if (cname && cname.data.kind === "NAME") {
      return { kind: "cname", record: cname, target: cname.data.target };
    }
    return undefined;
  }
}

/** "127.0.0.1:53" or "[::1]:53". */
export function serverKey(server: ServerAddress): string {
  return server.address.includes(":")
    ? `[${server.address}]:${server.port}`
    : `${server.address}:${server.port}`;
}

/**
 * The delegation in a reply, if it is one: NS records in the authority
 * section for a zone strictly below `zone` and at or above `qname`, plus the
 * glue addresses for those name servers that lie inside `zone`.
 */
export function referralOf(
  reply: Message,
  zone: Name,
  qname: Name,
): { zone: Name; ns: ResourceRecord[]; glue: ResourceRecord[] } | undefined {
  if (reply.answers.length > 0) return undefined;
  const ns = reply.authority.filter((r) => r.type === RecordType.NS);
  if (ns.length === 0) return undefined;
  const child = ns[0].name;
  if (!ns.every((r) => sameName(r.name, child))) return undefined;
  if (sameName(child, zone) || !isSubdomain(child, zone) || !isSubdomain(qname, child)) {
    return undefined;
  }
  const targets = new Set(
    ns.flatMap((r) => r.data.kind === "NAME" ? [nameKey(r.data.target)] : []),
  );
  const glue = reply.additional.filter((r) =>
    (r.type === RecordType.A || r.type === RecordType.AAAA) &&
    targets.has(nameKey(r.name)) && isSubdomain(r.name, zone)
  );
  return { zone: child, ns, glue };
}

/** The SOA that makes a reply negative: in the authority section, for a zone above qname, in bailiwick. */
function negativeSoa(reply: Message, bailiwick: Name, qname: Name): ResourceRecord | undefined {
  return reply.authority.find((r) =>
    r.type === RecordType.SOA && isSubdomain(r.name, bailiwick) && isSubdomain(qname, r.name)
  );
}

/** Splits records into RRsets (same name, type and class), keeping order. */
export function groupRrsets(records: readonly ResourceRecord[]): ResourceRecord[][] {
  const sets = new Map<string, ResourceRecord[]>();
  for (const record of records) {
    const key = `${nameKey(record.name)}|${record.type}|${record.class}`;
    let set = sets.get(key);
    if (set === undefined) sets.set(key, set = []);
    set.push(record);
  }
  return [...sets.values()];
}

function sameName(a: Name, b: Name): boolean {
  return nameKey(a) === nameKey(b);
}
