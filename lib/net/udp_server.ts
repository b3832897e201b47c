// A UDP server loop: a few receive loops share one socket, each reading into
// its own reused buffer, and hand every datagram to a handler that returns
// the reply.
//
// Why reused buffers: `DatagramConn.receive()` without a buffer allocates
// 64 KiB per datagram, which costs more than everything else a cached DNS
// answer does (an echo loop measured 59k datagrams/s without, 199k with).
// Why several loops: while one handles a datagram, the others' receives are
// already queued in the runtime, which keeps the socket drained.
//
// The handler answers synchronously (the common case: a cache hit, an error
// reply) or with a promise (work that waits on something). A synchronous
// reply may be a view of the loop's reply buffer: it is sent before that
// loop receives again. A promised reply must own its bytes, and the handler
// must read what it needs of the datagram before its first await, since
// the receive buffer is reused at once. Promised replies are bounded by
// `pendingMax`: past it new datagrams are dropped, which a UDP client sees
// as a lost packet and retries.
//
// Left out: connected sockets, multicast, sending from another socket.

import type { Bytes } from "../bytes.ts";
import type { Logger } from "../log.ts";
import { closeQuietly } from "./close.ts";

/** RFC 768: a UDP payload is at most 65535 - 8 octets; one buffer fits any. */
export const DATAGRAM_BYTES_MAX = 65535;

/** What the handler returns: the reply to send, or undefined to send nothing. */
export type UdpReply = Bytes | undefined;

export interface UdpRequest {
  /** The datagram: a view of the loop's receive buffer, valid until the handler returns or first awaits. */
  readonly datagram: Bytes;
  readonly peer: Deno.NetAddr;
  /** Scratch space for a synchronous reply; see the header comment. */
  readonly replyBuffer: Bytes;
}

export type UdpHandler = (request: UdpRequest) => UdpReply | Promise<UdpReply>;

export interface UdpServerOptions {
  /** Names the listener in errors and logs, e.g. "dns service port". */
  readonly label: string;
  readonly handler: UdpHandler;
  /** Datagrams whose promised reply is still pending; past it new ones are dropped. */
  readonly pendingMax: number;
  /** Receive loops sharing the socket (default 4). */
  readonly receivers?: number;
  readonly log?: Logger;
}

/** Counters for /metrics, plain numbers on the hot path. */
export interface UdpServerStats {
  received: number;
  /** Dropped because `pendingMax` replies were pending. */
  dropped: number;
  /** Handler errors (the datagram gets no reply). */
  failed: number;
}

export interface UdpServer {
  readonly addr: Deno.NetAddr;
  readonly stats: UdpServerStats;
  /** Datagrams whose promised reply is pending. */
  readonly pending: number;
  /** Stops receiving, waits for pending replies, closes the socket. */
  close(): Promise<void>;
}

const DEFAULT_RECEIVERS = 4;

/**
 * Binds a UDP socket; a port already taken is reported with the listener's
 * name and address ("dns service port 127.0.0.1:1053/udp: address already
 * in use") instead of Deno's bare "Address already in use".
 */
export function listenUdp(
  options: { label: string; hostname: string; port: number },
): Deno.DatagramConn {
  const { label, hostname, port } = options;
  try {
    return Deno.listenDatagram({ transport: "udp", hostname, port });
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new Deno.errors.AddrInUse(
        `${label} ${hostname}:${port}/udp: address already in use`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** Serves `socket` with `options.handler` until close(); the server owns the socket from now on. */
export function serveUdp(socket: Deno.DatagramConn, options: UdpServerOptions): UdpServer {
  const { handler, pendingMax, log } = options;
  const stats: UdpServerStats = { received: 0, dropped: 0, failed: 0 };
  const pending = new Set<Promise<void>>();
  let closing = false;

  const onError = (error: unknown) => {
    stats.failed++;
    if (!closing) {
      log?.warning("{label}: UDP reply failed: {error}", { label: options.label, error });
    }
  };

  const receiveLoop = async () => {
    const receiveBuffer = new Uint8Array(DATAGRAM_BYTES_MAX);
    const replyBuffer = new Uint8Array(DATAGRAM_BYTES_MAX);
    while (!closing) {
      let datagram: Uint8Array;
      let from: Deno.Addr;
      try {
        [datagram, from] = await socket.receive(receiveBuffer);
      } catch (error) {
        if (closing) return;
        log?.debug("{label}: UDP receive failed: {error}", { label: options.label, error });
        continue;
      }
      if (closing) return;
      stats.received++;
      if (pending.size >= pendingMax) {
        stats.dropped++;
        continue;
      }
      const peer = from as Deno.NetAddr;
      let reply: UdpReply | Promise<UdpReply>;
      try {
        reply = handler({ datagram: datagram as Bytes, peer, replyBuffer });
      } catch (error) {
        onError(error);
        continue;
      }
      if (reply instanceof Promise) {
        const tracked: Promise<void> = reply
          .then((bytes) => bytes === undefined ? undefined : socket.send(bytes, peer))
          .then(() => {}, onError)
          .finally(() => pending.delete(tracked));
        pending.add(tracked);
      } else if (reply !== undefined) {
        // Awaited before the next receive: the reply may live in replyBuffer.
        try {
          await socket.send(reply, peer);
        } catch (error) {
          if (!closing) {
            log?.debug("{label}: UDP send failed: {error}", { label: options.label, error });
          }
        }
      }
    }
  };
  const loops = Array.from({ length: options.receivers ?? DEFAULT_RECEIVERS }, receiveLoop);
  const addr = socket.addr as Deno.NetAddr;

  let closed: Promise<void> | undefined;
  return {
    addr,
    stats,
    get pending() {
      return pending.size;
    },
    close() {
      return closed ??= (async () => {
        closing = true;
        // Pending replies are sent first, then the socket goes.
        await Promise.allSettled([...pending]);
        closeQuietly(socket);
        await Promise.allSettled(loops);
      })();
    },
  };
}
