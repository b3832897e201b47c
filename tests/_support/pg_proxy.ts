// A recording TCP proxy for capturing real PostgreSQL wire bytes: it accepts
// on 127.0.0.1 (port 0), forwards each connection to an upstream server, and
// keeps every byte each side sent, in order. Used by tests/_support/
// pg_capture.ts to write the golden fixtures of tests/lib/pg/fixtures/.

import { concat } from "../../lib/bytes.ts";

/** The bytes of one proxied connection, per direction. */
export interface Recording {
  frontend: Uint8Array;
  backend: Uint8Array;
}

/** A running proxy: connect clients to `port`; `recordings` fill as connections end. */
export interface RecordingProxy {
  port: number;
  recordings: Recording[];
  /** Resolves once `count` connections have ended. */
  waitFor(count: number): Promise<void>;
  close(): void;
}

async function pump(
  from: Deno.TcpConn,
  to: Deno.TcpConn,
  chunks: Uint8Array[],
): Promise<void> {
  const buffer = new Uint8Array(65536);
  try {
    while (true) {
      const n = await from.read(buffer);
      if (n === null) break;
      const chunk = buffer.slice(0, n);
      chunks.push(chunk);
      let written = 0;
      while (written < n) written += await to.write(chunk.subarray(written));
    }
  } catch {
    // either side went away: the recording ends here
  }
  try {
    to.closeWrite();
  } catch {
    // already closed
  }
}

/** Starts a proxy in front of `upstreamPort` on 127.0.0.1. */
export function startRecordingProxy(upstreamPort: number): RecordingProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const recordings: Recording[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const settle = () => {
    for (const waiter of waiters) if (recordings.length >= waiter.count) waiter.resolve();
  };
  (async () => {
    for await (const client of listener) {
      (async () => {
        const server = await Deno.connect({ hostname: "127.0.0.1", port: upstreamPort });
        const frontend: Uint8Array[] = [];
        const backend: Uint8Array[] = [];
        await Promise.all([pump(client, server, frontend), pump(server, client, backend)]);
        client.close();
        server.close();
        recordings.push({ frontend: concat(frontend), backend: concat(backend) });
        settle();
      })();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    recordings,
    waitFor: (count) =>
      new Promise((resolve) => {
        waiters.push({ count, resolve });
        settle();
      }),
    close: () => listener.close(),
  };
}
