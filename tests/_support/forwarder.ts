// A loopback TCP port a test holds from the start and points at a server
// later, for two servers that must each know the other's port before either
// starts (two smtp instances that deliver to each other). Releasing a port
// for the second server to bind later would race the tests running
// alongside, which can be given it in between; this port is never released
// until close(). Connections that arrive before to() wait for it.
//
//   await using home = forwarder();
//   const remote = await startService(smtp, { deliveryPort: home.port });
//   const homeServer = await startService(smtp, {});
//   home.to(homeServer.addresses.tcp.port);

import { closeQuietly } from "../../lib/net/close.ts";
import { writeAll } from "../../lib/net/write_all.ts";

export interface Forwarder extends AsyncDisposable {
  /** The port held, on 127.0.0.1. */
  readonly port: number;
  /** Forwards every connection, past and future, to 127.0.0.1:`port`. */
  to(port: number): void;
  close(): Promise<void>;
}

export function forwarder(): Forwarder {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let setTarget!: (port: number) => void;
  const target = new Promise<number>((resolve) => setTarget = resolve);
  const open = new Set<Deno.Conn>();
  const piping = new Set<Promise<void>>();
  const forward = async (client: Deno.Conn) => {
    const server = await Deno.connect({ hostname: "127.0.0.1", port: await target });
    open.add(server);
    try {
      await Promise.all([pump(client, server), pump(server, client)]);
    } finally {
      open.delete(server);
      closeQuietly(server);
    }
  };
  const accepting = (async () => {
    for await (const client of listener) {
      open.add(client);
      const done = forward(client).catch(() => {}).finally(() => {
        open.delete(client);
        closeQuietly(client);
        piping.delete(done);
      });
      piping.add(done);
    }
  })().catch(() => {});
  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= (async () => {
      closeQuietly(listener);
      await accepting;
      setTarget(0); // unblocks connections still waiting: the connect to port 0 fails
      for (const conn of open) closeQuietly(conn);
      await Promise.all(piping);
    })();
  return { port: listener.addr.port, to: setTarget, close, [Symbol.asyncDispose]: close };
}

/** Copies `from` to `to` until `from` ends, then half-closes `to`. */
async function pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(16 * 1024);
  try {
    for (;;) {
      const n = await from.read(buffer);
      if (n === null) break;
      await writeAll(to, buffer.subarray(0, n));
    }
    await to.closeWrite();
  } catch {
    // a reset or a close on either side ends both directions
    closeQuietly(from);
    closeQuietly(to);
  }
}
