// One DNS server loop for every DNS service here (as miekg/dns has `Server`
// and `Handler`): UDP through lib/net/udp_server.ts and TCP through
// lib/net/tcp_server.ts on the same port, each query triaged by its header
// (triage.ts) and then handed to the service's handler, which returns the
// encoded reply. The authoritative server and the resolver differ only in
// their handler.
//
// UDP (RFC 1035 4.2.1): the handler sees each datagram in a reused receive
// buffer and may write a synchronous reply into the loop's reply buffer;
// it must fit the reply to the client's UDP size itself (reply.ts). A
// handler that answers with a promise counts against `udpPendingMax`.
//
// TCP (RFC 7766): a 2-octet length prefix per message, several queries per
// connection. Replies answered synchronously are written together, one
// write per read; promised ones go out as they finish, in any order (RFC
// 7766 6.2.1.1), one whole frame at a time. A connection has at most
// `tcpQueriesInFlightMax` queries pending; past it, reading waits. It is
// idle while nothing is in flight and nothing buffered: idle past
// `idleTimeoutMs` it is closed (RFC 7766 6.2.3, through lib/net's deadline
// sweep), and at `connectionsMax` the longest-idle one is closed to make
// room for a new client. A frame that triage drops (a response, a runt)
// closes the connection; a zero-length frame too.
//
// Left out: EDNS TCP keepalive (RFC 7828), DNS over TLS.

import type { Bytes } from "../bytes.ts";
import { isIncomplete } from "../decode.ts";
import { DecodeError, LimitError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { type MetricsRegistry, syncCounter } from "../metrics.ts";
import { ReadBuffer } from "../net/read_buffer.ts";
import { serveTcp, type TcpConnection, type TcpServer } from "../net/tcp_server.ts";
import { listenUdp, serveUdp, type UdpRequest, type UdpServer } from "../net/udp_server.ts";
import { writeAll } from "../net/write_all.ts";
import { decodeTcpFrame, DEFAULT_FRAME_LIMITS } from "./codec.ts";
import { headerReply } from "./reply.ts";
import { triage, TRIAGE_DROP, TRIAGE_PASS } from "./triage.ts";
import { MAX_MESSAGE_BYTES } from "./wire.ts";

/** Who asked, as the handler sees it. */
export interface DnsClient {
  /** The client's IP address. */
  readonly address: string;
  readonly transport: "udp" | "tcp";
  /**
   * UDP only: where a synchronous reply may be written instead of a new
   * array (return a view of it); the server sends it before reusing it.
   */
  readonly replyBuffer?: Bytes;
}

/** The encoded reply to send, or undefined to send nothing. */
export type DnsReply = Bytes | undefined;

/**
 * Answers one query that passed triage (QR clear, opcode QUERY, one
 * question, no answer or authority records). `query` is a view that is
 * reused once the handler returns or first awaits: read it before that.
 * A UDP reply must already fit the client's UDP size.
 */
export type DnsHandler = (query: Bytes, client: DnsClient) => DnsReply | Promise<DnsReply>;

/** The bounds of one DNS server, unit last (docs/architecture.md). */
export interface DnsServerLimits {
  /** UDP queries whose promised reply is pending; past it datagrams are dropped. */
  readonly udpPendingMax: number;
  /** Open TCP connections; past it the longest-idle one is closed for a new client. */
  readonly connectionsMax: number;
  /** A TCP connection with nothing in flight for this long is closed (RFC 7766 6.2.3). */
  readonly idleTimeoutMs: number;
  /** Queries of one TCP connection pending at once; more wait unread. */
  readonly tcpQueriesInFlightMax: number;
}

export const DEFAULT_DNS_SERVER_LIMITS: DnsServerLimits = {
  udpPendingMax: 10_000,
  connectionsMax: 512,
  idleTimeoutMs: 10_000,
  tcpQueriesInFlightMax: 32,
};

export interface DnsServerOptions {
  /** Names the listener in errors and logs: "dns service port". */
  readonly label: string;
  readonly hostname: string;
  /** 0 picks a port free for both UDP and TCP. */
  readonly port: number;
  readonly handler: DnsHandler;
  /** Set RA in the triage's error replies (a resolver). */
  readonly recursionAvailable: boolean;
  readonly limits: DnsServerLimits;
  readonly log: Logger;
}

/** Counters for /metrics, plain numbers on the hot path. */
export interface DnsServerStats {
  udpQueries: number;
  tcpQueries: number;
  /** Replies sent, by the header's 4-bit rcode. */
  rcodes: number[];
}

export interface DnsServer {
  readonly udpAddress: Deno.NetAddr;
  readonly tcpAddress: Deno.NetAddr;
  readonly stats: DnsServerStats;
  readonly udp: UdpServer;
  readonly tcp: TcpServer;
  /** Stops both transports: pending UDP replies are sent, TCP drains within `drainTimeoutMs`. */
  close(drainTimeoutMs?: number): Promise<void>;
}

/** Binds attempts when port 0 gave a UDP port whose TCP twin is taken. */
const BIND_ATTEMPTS_MAX = 10;
/** Octets of read buffer a TCP connection starts with (grown toward a long frame as it arrives). */
const TCP_READ_BYTES = 4 * 1024;

/** Binds UDP, then TCP on the same port, and serves both. */
export function serveDns(options: DnsServerOptions): DnsServer {
  const { label, hostname, limits } = options;
  const stats: DnsServerStats = { udpQueries: 0, tcpQueries: 0, rcodes: new Array(16).fill(0) };
  for (let attempt = 1;; attempt++) {
    const socket = listenUdp({ label, hostname, port: options.port });
    const port = (socket.addr as Deno.NetAddr).port;
    let tcp: TcpServer;
    try {
      tcp = serveTcp({
        label,
        hostname,
        port,
        connectionsMax: limits.connectionsMax,
        timeoutsMs: [limits.idleTimeoutMs],
        log: options.log,
        handler: (connection) => serveConnection(connection, options, stats),
      });
    } catch (error) {
      socket.close();
      const retry = error instanceof Deno.errors.AddrInUse && options.port === 0 &&
        attempt < BIND_ATTEMPTS_MAX;
      if (retry) continue;
      throw error;
    }
    const udp = serveUdp(socket, {
      label,
      pendingMax: limits.udpPendingMax,
      log: options.log,
      handler: udpHandler(options, stats),
    });
    let closed: Promise<void> | undefined;
    return {
      udpAddress: udp.addr,
      tcpAddress: tcp.addr,
      stats,
      udp,
      tcp,
      close: (drainTimeoutMs?: number) =>
        closed ??= Promise.all([udp.close(), tcp.close(drainTimeoutMs)]).then(() => {}),
    };
  }
}

function udpHandler(options: DnsServerOptions, stats: DnsServerStats) {
  const { handler, recursionAvailable } = options;
  const count = (reply: DnsReply): DnsReply => {
    if (reply !== undefined && reply.length >= 4) stats.rcodes[reply[3] & 0x0f]++;
    return reply;
  };
  return ({ datagram, peer, replyBuffer }: UdpRequest) => {
    stats.udpQueries++;
    const verdict = triage(datagram);
    if (verdict === TRIAGE_DROP) return undefined;
    if (verdict !== TRIAGE_PASS) {
      return count(headerReply(datagram, verdict, { recursionAvailable, into: replyBuffer }));
    }
    const reply = handler(datagram, { address: peer.hostname, transport: "udp", replyBuffer });
    return reply instanceof Promise ? reply.then(count) : count(reply);
  };
}

/** One TCP connection: frames in, replies out, until EOF, a bad frame, or idle. */
async function serveConnection(
  connection: TcpConnection,
  options: DnsServerOptions,
  stats: DnsServerStats,
): Promise<void> {
  const { handler, limits, log, recursionAvailable } = options;
  const conn = connection.conn;
  const client: DnsClient = {
    address: (conn.remoteAddr as Deno.NetAddr).hostname,
    transport: "tcp",
  };
  const input = new ReadBuffer({
    initialBytes: TCP_READ_BYTES,
    sizeBytesMax: 2 + MAX_MESSAGE_BYTES + TCP_READ_BYTES,
  });
  let inFlight = 0;
  let slotFreed: (() => void) | undefined;
  // Frames go out whole and in the order they were queued.
  let writing: Promise<void> = Promise.resolve();
  const send = (replies: Bytes[]) => {
    for (const reply of replies) stats.rcodes[reply[3] & 0x0f]++;
    const bytes = frameAll(replies);
    writing = writing.then(() => connection.closed ? undefined : writeAll(conn, bytes));
    writing.catch(() => connection.close());
    return writing;
  };
  // Idle is only "nothing in flight": a slow answer keeps the connection.
  connection.onDeadline = () => {
    if (inFlight > 0) connection.setDeadline(limits.idleTimeoutMs, "idle");
    else connection.close();
  };
  const answered = (reply: DnsReply) => {
    if (reply !== undefined) send([reply]).catch(() => {});
  };
  const settled = () => {
    inFlight--;
    if (inFlight === 0 && input.length === 0) connection.markIdle();
    slotFreed?.();
  };
  let bytesNeeded = 0;
  try {
    for (;;) {
      const batch: Bytes[] = [];
      let stop = false;
      let framesLeft = false;
      for (;;) {
        const frame = decodeTcpFrame(input.bytes, DEFAULT_FRAME_LIMITS, input.start, input.end);
        if (isIncomplete(frame)) {
          bytesNeeded = frame.bytesNeeded;
          break;
        }
        input.consume(frame.bytesUsed);
        stats.tcpQueries++;
        const query = frame.value as Bytes;
        const verdict = triage(query);
        if (verdict === TRIAGE_DROP) {
          log.debug("{label}: closing a TCP connection that sent a non-query", {
            label: options.label,
          });
          stop = true;
          break;
        }
        if (verdict !== TRIAGE_PASS) {
          batch.push(headerReply(query, verdict, { recursionAvailable }));
          continue;
        }
        const reply = handler(query, client);
        if (reply instanceof Promise) {
          inFlight++;
          reply.then(answered, (error) => {
            log.warning("{label}: a TCP query failed: {error}", { label: options.label, error });
          }).finally(settled);
        } else if (reply !== undefined) {
          batch.push(reply);
        }
        if (inFlight >= limits.tcpQueriesInFlightMax) {
          framesLeft = true;
          break;
        }
      }
      if (batch.length > 0) await send(batch);
      if (stop || connection.closed) break;
      // A client that pipelines faster than we answer waits for a slot.
      while (inFlight >= limits.tcpQueriesInFlightMax && !connection.closed) {
        await new Promise<void>((resolve) => slotFreed = resolve);
        slotFreed = undefined;
      }
      if (inFlight === 0 && input.length === 0) connection.markIdle();
      if (connection.draining && inFlight === 0) break;
      connection.setDeadline(limits.idleTimeoutMs, "idle");
      if (framesLeft) continue;
      const n = await input.fill(conn, bytesNeeded);
      if (n === null) break;
      connection.markBusy();
    }
  } catch (error) {
    if (error instanceof DecodeError || error instanceof LimitError) {
      log.debug("{label}: closing a TCP connection: {error}", {
        label: options.label,
        error: error.message,
      });
    } else if (!connection.closed) {
      throw error;
    }
  } finally {
    // Answers still being worked out go out before the connection closes.
    while (inFlight > 0 && !connection.closed) {
      await new Promise<void>((resolve) => slotFreed = resolve);
    }
    await writing.catch(() => {});
  }
}

/** Length-prefixes each reply (RFC 1035 4.2.2) into one buffer, for one write. */
function frameAll(replies: readonly Bytes[]): Bytes {
  let total = 0;
  for (const reply of replies) total += 2 + reply.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const reply of replies) {
    out[at] = reply.length >>> 8;
    out[at + 1] = reply.length & 0xff;
    out.set(reply, at + 2);
    at += 2 + reply.length;
  }
  return out;
}

/**
 * Adds the transport's own figures to a service's /metrics, read at scrape
 * time: `<prefix>_tcp_connections`, `<prefix>_tcp_evicted_total` (idle
 * connections closed to make room), `<prefix>_tcp_refused_total` (every
 * connection busy) and `<prefix>_udp_dropped_total` (past udpPendingMax).
 */
export function registerTransportMetrics(
  registry: MetricsRegistry,
  options: { prefix: string; server: DnsServer },
): void {
  const { prefix, server } = options;
  const connections = registry.gauge(`${prefix}_tcp_connections`, "open TCP connections");
  const evicted = registry.counter(
    `${prefix}_tcp_evicted_total`,
    "idle TCP connections closed to make room for a new client",
  );
  const refused = registry.counter(
    `${prefix}_tcp_refused_total`,
    "TCP clients refused because every connection was busy",
  );
  const dropped = registry.counter(
    `${prefix}_udp_dropped_total`,
    "UDP queries dropped because too many were pending",
  );
  registry.onCollect(() => {
    connections.set(undefined, server.tcp.connections);
    syncCounter(evicted, server.tcp.evicted);
    syncCounter(refused, server.tcp.refused);
    syncCounter(dropped, server.udp.stats.dropped);
  });
}
