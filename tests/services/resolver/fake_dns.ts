// A scripted DNS server for resolver tests: UDP and TCP on one loopback
// port, answering each query with whatever the test's handler returns,
// including replies a well-behaved server would never send.

import { BufferedReader } from "../../../lib/buffered_reader.ts";
import { encodeMessage, encodeTcpFrame, wholeMessage } from "../../../lib/dns/codec.ts";
import { makeMessage, type Message } from "../../../lib/dns/types.ts";
import { closeQuietly } from "../../../lib/net/close.ts";
import { listenBoth } from "../../_support/listen_both.ts";

/** What to send back: messages (or raw bytes) in order, or nothing. */
export type FakeReply = (Partial<Message> | Uint8Array)[];

export interface FakeDns extends AsyncDisposable {
  /** The server's IP address (usable as a ServerAddress). */
  readonly address: string;
  readonly port: number;
  /** Every query received, with the transport it came over. */
  readonly queries: { transport: "udp" | "tcp"; message: Message }[];
}

export function fakeDns(
  handler: (query: Message, transport: "udp" | "tcp") => FakeReply,
  options: { hostname?: string; port?: number } = {},
): FakeDns {
  const hostname = options.hostname ?? "127.0.0.1";
  const { listener, socket } = listenBoth(hostname, options.port ?? 0);
  const port = listener.addr.port;
  const queries: FakeDns["queries"] = [];
  const conns = new Set<Deno.Conn>();
  const encode = (query: Message, reply: Partial<Message> | Uint8Array) =>
    reply instanceof Uint8Array ? reply : encodeMessage(
      makeMessage({ id: query.id, qr: true, questions: query.questions, ...reply }),
    );

  const udp = (async () => {
    while (true) {
      let datagram;
      try {
        datagram = await socket.receive();
      } catch {
        return;
      }
      const query = wholeMessage(datagram[0]);
      queries.push({ transport: "udp", message: query });
      for (const reply of handler(query, "udp")) {
        await socket.send(encode(query, reply), datagram[1]).catch(() => {});
      }
    }
  })();
  const tcp = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      (async () => {
        const reader = new BufferedReader(conn);
        try {
          while (true) {
            const prefix = await reader.readExact(2);
            if (prefix === null) break;
            const body = await reader.readExact((prefix[0] << 8) | prefix[1]);
            if (body === null) break;
            const query = wholeMessage(body);
            queries.push({ transport: "tcp", message: query });
            for (const reply of handler(query, "tcp")) {
              await conn.write(encodeTcpFrame(encode(query, reply)));
            }
          }
        } catch {
          /* closed */
        } finally {
          conns.delete(conn);
          closeQuietly(conn);
        }
      })();
    }
  })().catch(() => {});
  return {
    address: hostname,
    port,
    queries,
    async [Symbol.asyncDispose]() {
      listener.close();
      socket.close();
      for (const conn of conns) conn.close();
      await Promise.allSettled([udp, tcp]);
    },
  };
}
