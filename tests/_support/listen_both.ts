// A TCP listener and a UDP socket on one loopback port, for the scripted DNS
// servers of the tests. Port 0 gives a port free for TCP only: a UDP socket
// (a DNS client's, of a test running alongside) may already hold it, and
// then another port is tried, as lib/dns/server.ts does for our servers.

/** How many ports to try for one free on both TCP and UDP. */
const BIND_ATTEMPTS_MAX = 20;

export interface BothSockets {
  readonly listener: Deno.TcpListener;
  readonly socket: Deno.DatagramConn;
}

/** Binds TCP and UDP on `port` (0: one free for both). */
export function listenBoth(hostname: string, port: number): BothSockets {
  for (let attempt = 1;; attempt++) {
    const listener = Deno.listen({ hostname, port });
    try {
      const socket = Deno.listenDatagram({ hostname, port: listener.addr.port, transport: "udp" });
      return { listener, socket };
    } catch (error) {
      listener.close();
      const retry = error instanceof Deno.errors.AddrInUse && port === 0 &&
        attempt < BIND_ATTEMPTS_MAX;
      if (!retry) throw error;
    }
  }
}
