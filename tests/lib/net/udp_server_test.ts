import assert from "node:assert/strict";
import type { Bytes } from "../../../lib/bytes.ts";
import { listenUdp, serveUdp, type UdpHandler } from "../../../lib/net/udp_server.ts";

const LOOPBACK = { transport: "udp", hostname: "127.0.0.1" } as const;

function start(handler: UdpHandler, pendingMax = 100) {
  const socket = listenUdp({ label: "test service port", hostname: "127.0.0.1", port: 0 });
  return serveUdp(socket, { label: "test service port", handler, pendingMax });
}

/** Receives one datagram, or null once `timeoutMs` passes. */
async function receiveOrNull(socket: Deno.DatagramConn, timeoutMs: number) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) =>
    timer = setTimeout(() => resolve(null), timeoutMs)
  );
  try {
    return await Promise.race([socket.receive().then(([data]) => data), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !condition(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.ok(condition(), "condition never became true");
}

Deno.test("serveUdp() answers synchronously from the loop's reply buffer", async () => {
  const server = start(({ datagram, replyBuffer }) => {
    const out = replyBuffer.subarray(0, datagram.length);
    for (let i = 0; i < datagram.length; i++) out[i] = datagram[i] + 1;
    return out;
  });
  const client = Deno.listenDatagram({ ...LOOPBACK, port: 0 });
  try {
    for (let round = 0; round < 20; round++) {
      await client.send(new Uint8Array([round, 2, 3]), { ...LOOPBACK, port: server.addr.port });
      const [reply] = await client.receive();
      assert.deepEqual(reply, new Uint8Array([round + 1, 3, 4]));
    }
    assert.equal(server.stats.received, 20);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("serveUdp() reuses one receive buffer: a promised reply must copy first", async () => {
  const seen: Bytes[] = [];
  const server = start(async ({ datagram }) => {
    const copy = datagram.slice();
    seen.push(datagram);
    await new Promise((resolve) => setTimeout(resolve, 1));
    return copy;
  });
  const client = Deno.listenDatagram({ ...LOOPBACK, port: 0 });
  try {
    for (const byte of [1, 2, 3]) {
      await client.send(new Uint8Array([byte]), { ...LOOPBACK, port: server.addr.port });
      assert.deepEqual((await client.receive())[0], new Uint8Array([byte]));
    }
    // The views all point into the loops' few 64 KiB buffers, not one array each.
    assert.ok(seen.every((view) => view.buffer.byteLength === 65535));
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("serveUdp() drops datagrams past pendingMax, and answers again once work ends", async () => {
  const release: (() => void)[] = [];
  const server = start(({ datagram }) => {
    const copy = datagram.slice();
    return new Promise<Bytes>((resolve) => release.push(() => resolve(copy)));
  }, 3);
  const client = Deno.listenDatagram({ ...LOOPBACK, port: 0 });
  const to = { ...LOOPBACK, port: server.addr.port };
  try {
    for (let i = 0; i < 3; i++) await client.send(new Uint8Array([i]), to);
    await waitFor(() => server.pending === 3);
    for (let i = 3; i < 8; i++) await client.send(new Uint8Array([i]), to);
    await waitFor(() => server.stats.dropped === 5);
    assert.equal(release.length, 3, "the dropped datagrams never reached the handler");
    release.splice(0).forEach((resolve) => resolve());
    const replies = new Set<number>();
    for (let i = 0; i < 3; i++) replies.add((await client.receive())[0][0]);
    assert.deepEqual([...replies].sort(), [0, 1, 2]);
    await waitFor(() => server.pending === 0);
    await client.send(new Uint8Array([9]), to);
    await waitFor(() => release.length === 1);
    release.splice(0).forEach((resolve) => resolve());
    assert.deepEqual((await client.receive())[0], new Uint8Array([9]));
  } finally {
    release.forEach((resolve) => resolve());
    client.close();
    await server.close();
  }
});

Deno.test("serveUdp() survives a handler that throws, and sends nothing for undefined", async () => {
  const server = start(({ datagram }) => {
    if (datagram[0] === 0) throw new Error("boom");
    if (datagram[0] === 1) return undefined;
    return datagram.slice();
  });
  const client = Deno.listenDatagram({ ...LOOPBACK, port: 0 });
  const to = { ...LOOPBACK, port: server.addr.port };
  try {
    await client.send(new Uint8Array([0]), to);
    await client.send(new Uint8Array([1]), to);
    await client.send(new Uint8Array([2]), to);
    assert.deepEqual(await receiveOrNull(client, 10_000), new Uint8Array([2]));
    assert.equal(server.stats.failed, 1);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("close() sends the pending replies first", async () => {
  let release: (() => void) | undefined;
  const server = start(({ datagram }) => {
    const copy = datagram.slice();
    return new Promise<Bytes>((resolve) => release = () => resolve(copy));
  });
  const client = Deno.listenDatagram({ ...LOOPBACK, port: 0 });
  try {
    await client.send(new Uint8Array([7]), { ...LOOPBACK, port: server.addr.port });
    await waitFor(() => release !== undefined);
    const closing = server.close();
    release!();
    await closing;
    assert.deepEqual(await receiveOrNull(client, 10_000), new Uint8Array([7]));
  } finally {
    client.close();
  }
});

Deno.test("listenUdp() names the listener and its address when the port is taken", () => {
  const taken = Deno.listenDatagram({ ...LOOPBACK, port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    assert.throws(
      () => listenUdp({ label: "dns service port", hostname: "127.0.0.1", port }),
      (error: Error) =>
        error instanceof Deno.errors.AddrInUse &&
        error.message === `dns service port 127.0.0.1:${port}/udp: address already in use`,
    );
  } finally {
    taken.close();
  }
});
