// The DNS server's I/O: one UDP socket and one TCP listener on the same port.
//
// Triage first (miekg/dns's lesson: "any reply can be used to amplify"):
// datagrams shorter than a header and messages with QR set are dropped
// without a word. Everything else gets an answer: FORMERR when it does not
// decode, the authority's answer otherwise. UDP answers are cut to 512
// octets, or to the client's EDNS size capped at ours, with TC set when the
// answer does not fit (RFC 1035 4.2.1, RFC 6891 6.2.5); the same query over
// TCP gets the whole answer. TCP (RFC 7766): a 2-octet length prefix,
// several queries per connection answered in order with one write per read,
// an idle timeout, a cap on open connections; a frame that is not a query
// closes the connection. UDP responses pass through the rate limiter.
//
// Left out: EDNS TCP keepalive (RFC 7828) and out-of-order TCP answers.

import { type Bytes, concat } from "../../lib/bytes.ts";
import {
  CLASSIC_UDP_BYTES,
  decodeMessage,
  decodeTcpFrame,
  encodeMessage,
  encodeTcpFrame,
  HEADER_BYTES,
} from "../../lib/dns/codec.ts";
import { makeMessage, type Message, Rcode } from "../../lib/dns/types.ts";
import { MAX_MESSAGE_BYTES } from "../../lib/dns/wire.ts";
import { DecodeError, LimitError } from "../../lib/errors.ts";
import { isDisconnect } from "../../lib/net/disconnect.ts";
import type { Logger } from "../../lib/log.ts";
import {
  answerQuery,
  authorityIsOptional,
  OUR_UDP_PAYLOAD_BYTES,
  type ZoneSet,
} from "./authority.ts";
import { AnswerCache } from "./answer_cache.ts";
import type { ResponseRateLimiter } from "./rrl.ts";
import { writeAll } from "../../lib/net/write_all.ts";

export interface DnsServerOptions {
  readonly hostname: string;
  readonly port: number;
  /** The zones to answer from; called per query, so a reload swaps them atomically. */
  readonly zones: () => ZoneSet;
  readonly rateLimiter: ResponseRateLimiter;
  /** Encoded answers kept for repeated plain queries (0: no cache). */
  readonly answerCacheEntries?: number;
  /** A TCP connection with no complete read for this long is closed (RFC 7766 6.2.3). */
  readonly tcpIdleTimeoutMs: number;
  /** Open TCP connections at once; past it new ones are closed at once. */
  readonly tcpConnectionsMax: number;
  readonly log: Logger;
}

export interface Reply {
  readonly response: Message;
  /** Largest UDP answer this client can take. */
  readonly udpBytesMax: number;
}

/**
 * The reply to one packet, or null when it must be dropped (shorter than a
 * header, or itself a response). Undecodable queries get FORMERR: the one
 * wire-error mapper of this service.
 */
export function replyTo(packet: Uint8Array, zones: ZoneSet): Reply | null {
  if (packet.length < HEADER_BYTES) return null;
  if ((packet[2] & 0x80) !== 0) return null; // QR set: a response, never answered
  let query: Message;
  try {
    query = decodeMessage(packet);
  } catch (error) {
    return { response: errorResponse(packet, error), udpBytesMax: CLASSIC_UDP_BYTES };
  }
  const udpBytesMax = query.edns
    ? Math.min(Math.max(query.edns.udpPayloadSize, CLASSIC_UDP_BYTES), OUR_UDP_PAYLOAD_BYTES)
    : CLASSIC_UDP_BYTES;
  return { response: answerQuery(query, zones), udpBytesMax };
}

/** Maps a failure to decode a query to its DNS rcode reply (header fields copied). */
export function errorResponse(packet: Uint8Array, error: unknown): Message {
  const rcode = error instanceof DecodeError || error instanceof LimitError
    ? Rcode.FORMERR
    : Rcode.SERVFAIL;
  return makeMessage({
    id: (packet[0] << 8) | packet[1],
    qr: true,
    opcode: (packet[2] >>> 3) & 0x0f,
    rd: (packet[2] & 0x01) !== 0,
    rcode,
  });
}

/** The encoded UDP answer (truncated to fit), or the slip reply (empty, TC set). */
export function encodeUdpReply(reply: Reply, slip = false): Bytes {
  if (slip) {
    return encodeMessage({
      ...reply.response,
      tc: true,
      answers: [],
      authority: [],
      additional: [],
    });
  }
  return encodeMessage(reply.response, {
    maxBytes: reply.udpBytesMax,
    authorityOptional: authorityIsOptional(reply.response),
  });
}

/**
 * UDP receive loops sharing the socket: while one handles a packet, the
 * others' receives are already queued, which keeps the socket drained.
 */
const UDP_RECEIVERS = 4;
/** Octets asked of the kernel per TCP read. */
const TCP_READ_BYTES = 16 * 1024;

/** A running server; `close()` stops both sockets and every connection. */
/** Counters for /metrics, kept as plain numbers on the hot path. */
export interface DnsServerStats {
  udpQueries: number;
  tcpQueries: number;
  /** Replies by rcode (index 0-15: the header's rcode field). */
  rcodes: number[];
  rateLimitDropped: number;
  rateLimitSlipped: number;
  answerCacheHits: number;
}

export class DnsServer {
  readonly udpAddress: Deno.NetAddr;
  readonly tcpAddress: Deno.NetAddr;
  readonly stats: DnsServerStats = {
    udpQueries: 0,
    tcpQueries: 0,
    rcodes: new Array(16).fill(0),
    rateLimitDropped: 0,
    rateLimitSlipped: 0,
    answerCacheHits: 0,
  };
  #udp: Deno.DatagramConn;
  #tcp: Deno.Listener;
  #options: DnsServerOptions;
  #connections = new Set<Deno.Conn>();
  #loops: Promise<void>[] = [];
  #closing = false;
  #cache: AnswerCache | undefined;

  private constructor(udp: Deno.DatagramConn, tcp: Deno.Listener, options: DnsServerOptions) {
    this.#udp = udp;
    this.#tcp = tcp;
    this.#options = options;
    const entries = options.answerCacheEntries ?? 10_000;
    this.#cache = entries > 0 ? new AnswerCache(entries) : undefined;
    this.udpAddress = udp.addr as Deno.NetAddr;
    this.tcpAddress = tcp.addr as Deno.NetAddr;
    this.#loops.push(this.#acceptTcp());
    for (let i = 0; i < UDP_RECEIVERS; i++) this.#loops.push(this.#serveUdp());
  }

  /** Binds UDP, then TCP on the same port (a few tries when the port was 0). */
  static start(options: DnsServerOptions): DnsServer {
    for (let attempt = 0;; attempt++) {
      const udp = Deno.listenDatagram({
        transport: "udp",
        hostname: options.hostname,
        port: options.port,
      });
      const port = (udp.addr as Deno.NetAddr).port;
      try {
        const tcp = Deno.listen({ transport: "tcp", hostname: options.hostname, port });
        return new DnsServer(udp, tcp, options);
      } catch (error) {
        udp.close();
        if (!(error instanceof Deno.errors.AddrInUse) || options.port !== 0 || attempt >= 10) {
          throw error;
        }
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#udp.close();
    this.#tcp.close();
    for (const conn of this.#connections) closeQuietly(conn);
    await Promise.allSettled(this.#loops);
  }

  async #serveUdp(): Promise<void> {
    const { rateLimiter, log } = this.#options;
    const buffer = new Uint8Array(MAX_MESSAGE_BYTES);
    // Cached answers are written here; safe to reuse, as each send is awaited.
    const answerBuffer = new Uint8Array(MAX_MESSAGE_BYTES);
    while (!this.#closing) {
      let packet: Uint8Array;
      let peer: Deno.Addr;
      try {
        [packet, peer] = await this.#udp.receive(buffer);
      } catch (error) {
        if (this.#closing) return;
        log.debug("udp receive failed: {error}", { error: String(error) });
        continue;
      }
      let out: Bytes;
      try {
        const decision = rateLimiter.enabled
          ? rateLimiter.check((peer as Deno.NetAddr).hostname, Date.now())
          : "send";
        this.stats.udpQueries++;
        if (decision === "drop") {
          this.stats.rateLimitDropped++;
          continue;
        }
        if (decision === "slip") this.stats.rateLimitSlipped++;
        const zones = this.#options.zones();
        const cache = decision === "send" ? this.#cache : undefined;
        const cached = cache?.answer(packet, zones, answerBuffer);
        if (cached) {
          this.stats.answerCacheHits++;
          out = cached;
        } else {
          const reply = replyTo(packet, zones);
          if (reply === null) continue;
          out = encodeUdpReply(reply, decision === "slip");
          cache?.remember(packet, out, zones);
        }
      } catch (error) {
        log.error("could not answer a UDP query: {error}", { error: String(error) });
        continue;
      }
      this.stats.rcodes[out[3] & 0x0f]++;
      try {
        await this.#udp.send(out, peer);
      } catch (error) {
        if (!this.#closing) log.debug("udp send failed: {error}", { error: String(error) });
      }
    }
  }

  async #acceptTcp(): Promise<void> {
    const { log, tcpConnectionsMax } = this.#options;
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.#tcp.accept();
      } catch (error) {
        if (this.#closing) return;
        log.debug("tcp accept failed: {error}", { error: String(error) });
        continue;
      }
      if (this.#closing || this.#connections.size >= tcpConnectionsMax) {
        closeQuietly(conn);
        continue;
      }
      this.#connections.add(conn);
      const loop = this.#serveConnection(conn).finally(() => {
        this.#connections.delete(conn);
        closeQuietly(conn);
        const index = this.#loops.indexOf(loop);
        if (index !== -1) this.#loops.splice(index, 1);
      });
      this.#loops.push(loop);
    }
  }

  async #serveConnection(conn: Deno.Conn): Promise<void> {
    const { log, tcpIdleTimeoutMs } = this.#options;
    // One buffer holds the largest frame (2 + 65535 octets) plus one read;
    // reads land in place and only a partial frame is moved to the front, so
    // a peer trickling a large frame costs no repeated copying.
    const buffer = new Uint8Array(2 + MAX_MESSAGE_BYTES + TCP_READ_BYTES);
    let start = 0;
    let end = 0;
    try {
      for (;;) {
        if (start > 0 && buffer.length - end < TCP_READ_BYTES) {
          buffer.copyWithin(0, start, end);
          end -= start;
          start = 0;
        }
        const n = await readWithTimeout(
          conn,
          buffer.subarray(end, Math.min(buffer.length, end + TCP_READ_BYTES)),
          tcpIdleTimeoutMs,
        );
        if (n === null) return;
        end += n;
        const replies: Bytes[] = [];
        for (;;) {
          const frame = decodeTcpFrame(buffer.subarray(start, end));
          if (frame.kind === "incomplete") break;
          this.stats.tcpQueries++;
          const reply = replyTo(frame.message, this.#options.zones());
          if (reply === null) {
            log.debug("closing a TCP connection that sent a non-query");
            if (replies.length > 0) await writeAll(conn, concat(replies));
            return;
          }
          this.stats.rcodes[reply.response.rcode & 0x0f]++;
          replies.push(encodeTcpFrame(encodeMessage(reply.response)));
          start += frame.used;
        }
        if (start === end) start = end = 0;
        if (replies.length > 0) await writeAll(conn, concat(replies));
      }
    } catch (error) {
      if (error instanceof DecodeError) {
        log.debug("closing a TCP connection: {error}", { error: error.message });
      } else if (!isDisconnect(error) && !this.#closing) {
        log.warning("TCP connection failed: {error}", { error: String(error) });
      }
    }
  }
}

/** Reads once; resolves null at end of stream or when the idle timeout passes. */
async function readWithTimeout(
  conn: Deno.Conn,
  into: Uint8Array,
  timeoutMs: number,
): Promise<number | null> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    closeQuietly(conn);
  }, timeoutMs);
  try {
    return await conn.read(into);
  } catch (error) {
    if (timedOut) return null;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}
