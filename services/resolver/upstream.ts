// The resolver's real transport: one upstream query over UDP, with TCP when
// the reply is truncated, built on lib/dns/client.ts's `exchange()`.
//
// What the client already guarantees (RFC 5452 section 9): a random ID
// from the system's CSPRNG, a fresh UDP socket on a kernel-chosen ephemeral
// port per query, and a reply accepted only from the server's address and
// port, with our ID and our question; anything else is ignored while we
// keep waiting. On top of that, this transport adds:
// - 0x20 (`use0x20`): the query name's letters get random case and the
//   reply must echo it exactly (draft-vixie-dnsext-dns0x20), more entropy
//   for a spoofer to guess;
// - EDNS0 with a 1232-octet UDP payload (DNS flag day 2020); a server that
//   answers FORMERR to EDNS is asked again without it (RFC 6891 7);
// - TC=1 retries the same question over TCP (RFC 7766 5);
// - one deadline across all of it.

import { exchange } from "../../lib/dns/client.ts";
import { makeMessage, type Message, type Question, Rcode } from "../../lib/dns/types.ts";
import type { QueryOptions, ServerAddress, Transport } from "./iterator.ts";

export interface UpstreamOptions {
  /** Randomise the case of query names and require it echoed. */
  use0x20: boolean;
  /** UDP payload size advertised upstream (RFC 6891; 1232 avoids fragmentation). */
  ednsUdpBytes: number;
}

export const DEFAULT_UPSTREAM: UpstreamOptions = { use0x20: false, ednsUdpBytes: 1232 };

export class UdpTcpTransport implements Transport {
  readonly #options: UpstreamOptions;

  constructor(options: Partial<UpstreamOptions> = {}) {
    this.#options = { ...DEFAULT_UPSTREAM, ...options };
  }

  async query(server: ServerAddress, question: Question, options: QueryOptions): Promise<Message> {
    const deadline = Date.now() + options.timeoutMs;
    const exactCase = this.#options.use0x20;
    const asked: Question = {
      ...question,
      name: exactCase ? randomCase(question.name) : question.name,
    };
    const target = { hostname: server.address, port: server.port };
    const send = async (query: Message, tcp: boolean) =>
      (await exchange(target, query, { tcp, exactCase, timeoutMs: remaining(deadline) })).message;
    let query = this.#buildQuery(asked, options.rd, true);
    let reply = await send(query, false);
    if (reply.rcode === Rcode.FORMERR && query.edns) {
      query = this.#buildQuery(asked, options.rd, false);
      reply = await send(query, false);
    }
    if (reply.tc) reply = await send(query, true);
    return reply;
  }

  #buildQuery(question: Question, rd: boolean, edns: boolean): Message {
    return makeMessage({
      id: crypto.getRandomValues(new Uint16Array(1))[0],
      rd,
      questions: [question],
      edns: edns
        ? {
          udpPayloadSize: this.#options.ednsUdpBytes,
          extendedRcode: 0,
          version: 0,
          dnssecOk: false,
          options: [],
        }
        : undefined,
    });
  }
}

/** Randomises the case of each ASCII letter (0x20 bit encoding). */
export function randomCase(name: string): string {
  const bits = new Uint8Array(name.length);
  crypto.getRandomValues(bits);
  let out = "";
  for (let i = 0; i < name.length; i++) {
    const c = name[i];
    out += /[a-zA-Z]/.test(c) ? (bits[i] & 1 ? c.toUpperCase() : c.toLowerCase()) : c;
  }
  return out;
}

function remaining(deadline: number): number {
  return Math.max(1, deadline - Date.now());
}
