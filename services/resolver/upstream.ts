// The resolver's real transport: one upstream query over UDP, with TCP when
// the reply is truncated, and the anti-spoofing checks of RFC 5452.
//
// - Every query gets a random ID (crypto.getRandomValues) and a fresh UDP
//   socket on a kernel-chosen ephemeral port (Linux randomises it), so an
//   off-path attacker must guess both (RFC 5452 section 9.2).
// - A datagram is accepted only if it comes from the server's address and
//   port, decodes, is a response, carries our ID and repeats our question
//   exactly; anything else is ignored while we keep waiting (section 9.1).
// - With `use0x20`, the query name's letters get random case and the reply
//   must echo that case exactly (draft-vixie-dnsext-dns0x20), adding entropy.
// - EDNS0 advertises a 1232-octet UDP payload (DNS flag day 2020); a server
//   that answers FORMERR to EDNS is asked again without it (RFC 6891 7).
// - TC=1 retries the same question over TCP (RFC 7766 5).

import { BufferedReader } from "../../lib/buffered_reader.ts";
import { decodeMessage, encodeMessage, encodeTcpFrame } from "../../lib/dns/codec.ts";
import { makeMessage, type Message, type Question, Rcode } from "../../lib/dns/types.ts";
import { TimeoutError } from "../../lib/errors.ts";
import type { QueryOptions, ServerAddress, Transport } from "./iterator.ts";
import { parseAddress } from "./acl.ts";

export interface UpstreamOptions {
  /** Randomise the case of query names and require it echoed. */
  use0x20: boolean;
  /** UDP payload size advertised upstream (RFC 6891; 1232 avoids fragmentation). */
  ednsUdpBytes: number;
}

export const DEFAULT_UPSTREAM: UpstreamOptions = { use0x20: false, ednsUdpBytes: 1232 };

/** Largest reply read over TCP (the whole 16-bit range). */
const TCP_REPLY_BYTES_MAX = 65535;

export class UdpTcpTransport implements Transport {
  readonly #options: UpstreamOptions;

  constructor(options: Partial<UpstreamOptions> = {}) {
    this.#options = { ...DEFAULT_UPSTREAM, ...options };
  }

  async query(server: ServerAddress, question: Question, options: QueryOptions): Promise<Message> {
    const deadline = Date.now() + options.timeoutMs;
    const asked: Question = {
      ...question,
      name: this.#options.use0x20 ? randomCase(question.name) : question.name,
    };
    let query = this.#buildQuery(asked, options.rd, true);
    let reply = await udpExchange(server, query, deadline, this.#options.use0x20);
    if (reply.rcode === Rcode.FORMERR && query.edns) {
      query = this.#buildQuery(asked, options.rd, false);
      reply = await udpExchange(server, query, deadline, this.#options.use0x20);
    }
    if (reply.tc) reply = await tcpExchange(server, query, deadline, this.#options.use0x20);
    return reply;
  }

  #buildQuery(question: Question, rd: boolean, edns: boolean): Message {
    return makeMessage({
      id: randomId(),
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

async function udpExchange(
  server: ServerAddress,
  query: Message,
  deadline: number,
  exactCase: boolean,
): Promise<Message> {
  const v6 = server.address.includes(":");
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: v6 ? "::" : "0.0.0.0",
    port: 0,
  });
  const timer = setTimeout(() => socket.close(), Math.max(0, deadline - Date.now()));
  try {
    await socket.send(encodeMessage(query), {
      transport: "udp",
      hostname: server.address,
      port: server.port,
    });
    while (true) {
      let datagram: [Uint8Array, Deno.Addr];
      try {
        datagram = await socket.receive();
      } catch {
        throw new TimeoutError(`no reply from ${server.address}:${server.port}`);
      }
      const [bytes, from] = datagram;
      if (!sameEndpoint(from as Deno.NetAddr, server)) continue;
      const reply = tryDecode(bytes);
      if (reply && matches(reply, query, exactCase)) return reply;
    }
  } finally {
    clearTimeout(timer);
    try {
      socket.close();
    } catch { /* closed by the timer */ }
  }
}

async function tcpExchange(
  server: ServerAddress,
  query: Message,
  deadline: number,
  exactCase: boolean,
): Promise<Message> {
  const connecting = Deno.connect({ hostname: server.address, port: server.port });
  const conn = await withDeadline(
    connecting,
    deadline,
    `TCP connect to ${server.address}:${server.port}`,
  )
    .catch((error) => {
      connecting.then((late) => late.close(), () => {}); // do not leak a late connection
      throw error;
    });
  const timer = setTimeout(() => conn.close(), Math.max(0, deadline - Date.now()));
  try {
    await conn.write(encodeTcpFrame(encodeMessage(query)));
    const reader = new BufferedReader(conn);
    while (true) {
      const prefix = await reader.readExact(2).catch(() => null);
      if (prefix === null) {
        throw new TimeoutError(`no TCP reply from ${server.address}:${server.port}`);
      }
      const length = (prefix[0] << 8) | prefix[1];
      if (length > TCP_REPLY_BYTES_MAX || length === 0) throw new Error("bad TCP reply length");
      const body = await reader.readExact(length).catch(() => null);
      if (body === null) throw new TimeoutError(`TCP reply cut short by ${server.address}`);
      const reply = tryDecode(body);
      if (reply && matches(reply, query, exactCase)) return reply;
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

/** A reply answers our query: response bit, same ID, same question. */
export function matches(reply: Message, query: Message, exactCase: boolean): boolean {
  if (!reply.qr || reply.id !== query.id) return false;
  if (reply.questions.length !== 1) return false;
  const got = reply.questions[0];
  const sent = query.questions[0];
  if (got.type !== sent.type || got.class !== sent.class) return false;
  return exactCase ? got.name === sent.name : got.name.toLowerCase() === sent.name.toLowerCase();
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

function randomId(): number {
  return crypto.getRandomValues(new Uint16Array(1))[0];
}

function tryDecode(bytes: Uint8Array): Message | undefined {
  try {
    return decodeMessage(bytes);
  } catch {
    return undefined; // garbage is ignored, as if it never came
  }
}

function sameEndpoint(from: Deno.NetAddr, server: ServerAddress): boolean {
  if (from.port !== server.port) return false;
  if (from.hostname === server.address) return true;
  const a = parseAddress(from.hostname);
  const b = parseAddress(server.address);
  return a !== undefined && b !== undefined && a.length === b.length &&
    a.every((x, i) => x === b[i]);
}

async function withDeadline<T>(work: Promise<T>, deadline: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TimeoutError(`${what} timed out`)),
      Math.max(0, deadline - Date.now()),
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
