import assert from "node:assert/strict";
import type { Bytes } from "../../../lib/bytes.ts";
import { query } from "../../../lib/dns/client.ts";
import { encodeMessage, encodeTcpFrame, wholeMessage } from "../../../lib/dns/codec.ts";
import {
  DEFAULT_DNS_SERVER_LIMITS,
  type DnsHandler,
  type DnsServerLimits,
  serveDns,
} from "../../../lib/dns/server.ts";
import { makeMessage, Opcode, Rcode, RecordType } from "../../../lib/dns/types.ts";
import { logger } from "../../../lib/log.ts";
import { closeQuietly } from "../../../lib/net/close.ts";

/** A handler answering every query with an empty NOERROR reply echoing the question. */
const echo: DnsHandler = (bytes) => {
  const q = wholeMessage(bytes);
  return encodeMessage({ ...q, qr: true });
};

function start(handler: DnsHandler, limits: Partial<DnsServerLimits> = {}) {
  return serveDns({
    label: "test dns port",
    hostname: "127.0.0.1",
    port: 0,
    handler,
    recursionAvailable: false,
    limits: { ...DEFAULT_DNS_SERVER_LIMITS, ...limits },
    log: logger("test"),
  });
}

function frame(id: number, name: string, opcode: number = Opcode.QUERY): Bytes {
  return encodeTcpFrame(
    encodeMessage(makeMessage({ id, opcode, questions: [{ name, type: RecordType.A, class: 1 }] })),
  );
}

/** Reads `count` frames from `conn` (or fewer at EOF), returning their IDs in arrival order. */
async function readIds(conn: Deno.Conn, count: number): Promise<number[]> {
  const ids: number[] = [];
  let buffered = new Uint8Array(0);
  const chunk = new Uint8Array(4096);
  while (ids.length < count) {
    const n = await conn.read(chunk);
    if (n === null) break;
    const joined = new Uint8Array(buffered.length + n);
    joined.set(buffered);
    joined.set(chunk.subarray(0, n), buffered.length);
    buffered = joined;
    while (buffered.length >= 2 && buffered.length >= 2 + ((buffered[0] << 8) | buffered[1])) {
      const length = (buffered[0] << 8) | buffered[1];
      ids.push(wholeMessage(buffered.subarray(2, 2 + length)).id);
      buffered = buffered.slice(2 + length);
    }
  }
  return ids;
}

Deno.test("serveDns() answers over UDP and TCP on one port, triaging first", async () => {
  const server = start(echo);
  try {
    assert.equal(server.udpAddress.port, server.tcpAddress.port);
    const target = { hostname: "127.0.0.1", port: server.udpAddress.port };
    for (const tcp of [false, true]) {
      const reply = await query(target, "a.test.", RecordType.A, { tcp, timeoutMs: 10_000 });
      assert.equal(reply.message.rcode, Rcode.NOERROR);
    }
    // An UPDATE never reaches the handler.
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.tcpAddress.port });
    await conn.write(frame(7, "a.test.", Opcode.UPDATE));
    let buffered = new Uint8Array(14);
    let filled = 0;
    while (filled < 14) {
      const n = await conn.read(buffered.subarray(filled));
      assert.notEqual(n, null);
      filled += n!;
    }
    buffered = buffered.subarray(2);
    const reply = wholeMessage(buffered);
    assert.deepEqual([reply.id, reply.opcode, reply.rcode], [7, Opcode.UPDATE, Rcode.NOTIMP]);
    assert.equal(server.stats.rcodes[Rcode.NOTIMP], 1);
  } finally {
    await server.close();
  }
});

Deno.test("serveDns() answers pipelined TCP queries, slow ones out of order", async () => {
  const slow = new Set(["slow.test."]);
  const server = start((bytes) => {
    const q = wholeMessage(bytes);
    const reply = encodeMessage({ ...q, qr: true });
    if (!slow.has(q.questions[0].name)) return reply;
    return new Promise((resolve) => setTimeout(() => resolve(reply), 50));
  });
  try {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.tcpAddress.port });
    const frames = [frame(1, "slow.test."), frame(2, "b.test."), frame(3, "c.test.")];
    const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const f of frames) {
      all.set(f, at);
      at += f.length;
    }
    await conn.write(all);
    assert.deepEqual(await readIds(conn, 3), [2, 3, 1]);
  } finally {
    await server.close();
  }
});

Deno.test("serveDns() closes a TCP connection idle past idleTimeoutMs, not one waiting on an answer", async () => {
  let release: (() => void) | undefined;
  const server = start((bytes) => {
    const reply = encodeMessage({ ...wholeMessage(bytes), qr: true });
    return new Promise((resolve) => release = () => resolve(reply));
  }, { idleTimeoutMs: 50 });
  try {
    using idle = await Deno.connect({ hostname: "127.0.0.1", port: server.tcpAddress.port });
    assert.equal(await idle.read(new Uint8Array(16)), null, "idle: closed by the server");
    using busy = await Deno.connect({ hostname: "127.0.0.1", port: server.tcpAddress.port });
    await busy.write(frame(9, "a.test."));
    // Several idle timeouts pass while the answer is being worked out.
    for (let i = 0; i < 20 && release === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    release!();
    assert.deepEqual(await readIds(busy, 1), [9]);
  } finally {
    release?.();
    await server.close();
  }
});

Deno.test("with connectionsMax idle TCP connections open, a new client is answered at once (RFC 7766 6.2.3)", async () => {
  const connectionsMax = 512;
  // An idle timeout far longer than the query's own: only eviction can answer it.
  const server = start(echo, { connectionsMax, idleTimeoutMs: 600_000 });
  const idle: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < connectionsMax; i++) {
      idle.push(await Deno.connect({ hostname: "127.0.0.1", port: server.tcpAddress.port }));
    }
    for (let i = 0; i < 200 && server.tcp.connections < connectionsMax; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(server.tcp.connections, connectionsMax);
    const reply = await query(
      { hostname: "127.0.0.1", port: server.tcpAddress.port },
      "fresh.test.",
      RecordType.A,
      { tcp: true, timeoutMs: 30_000 },
    );
    assert.equal(reply.message.rcode, Rcode.NOERROR);
    assert.ok(server.tcp.evicted >= 1, "the longest-idle connection made room");
    assert.equal(await idle[0].read(new Uint8Array(16)), null, "the oldest idle one was closed");
  } finally {
    for (const conn of idle) closeQuietly(conn);
    await server.close();
  }
});

Deno.test("serveDns() closes a TCP connection that sends a response or a zero-length frame", async () => {
  const server = start(echo);
  try {
    for (
      const bad of [
        encodeTcpFrame(encodeMessage(makeMessage({ id: 1, qr: true }))),
        new Uint8Array([0, 0]),
      ]
    ) {
      using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.tcpAddress.port });
      await conn.write(bad);
      assert.deepEqual(await readIds(conn, 1), []);
    }
  } finally {
    await server.close();
  }
});

Deno.test("serveDns() names the listener when its port is taken", () => {
  const taken = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    assert.throws(
      () =>
        serveDns({
          label: "dns service port",
          hostname: "127.0.0.1",
          port,
          handler: echo,
          recursionAvailable: false,
          limits: DEFAULT_DNS_SERVER_LIMITS,
          log: logger("test"),
        }),
      (error: Error) =>
        error.message === `dns service port 127.0.0.1:${port}/udp: address already in use`,
    );
  } finally {
    taken.close();
  }
});
