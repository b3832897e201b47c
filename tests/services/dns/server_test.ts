import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { concat, fromHex } from "../../../lib/bytes.ts";
import { query } from "../../../lib/dns/client.ts";
import { encodeMessage, encodeTcpFrame, wholeMessage } from "../../../lib/dns/codec.ts";
import { makeMessage, type Message, Rcode, RecordType } from "../../../lib/dns/types.ts";
import { service } from "../../../services/dns/mod.ts";
import { startService, type TestService } from "../../_support/service.ts";
import { DIG_QUERY_A_NOEDNS, DIG_QUERY_MX } from "../../lib/dns/goldens.ts";
import { mutate, random } from "../../lib/dns/mutate.ts";

const FIXTURE = fileURLToPath(new URL("./fixtures/interop.example.zone", import.meta.url));
const EXAMPLE = fileURLToPath(new URL("../../../config/zones/example.com.zone", import.meta.url));
const ZONES = [FIXTURE, EXAMPLE];

function server(svc: TestService) {
  return { hostname: "127.0.0.1", port: svc.addresses.udp.port };
}

function queryBytes(id: number, name: string, type: number): Uint8Array {
  return encodeMessage(makeMessage({ id, questions: [{ name, type, class: 1 }] }));
}

/** Receives one datagram or resolves null after `timeoutMs`. */
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

/** Reads length-prefixed messages from a TCP connection until `count` or EOF. */
async function readFrames(conn: Deno.Conn, count: number): Promise<Message[]> {
  const out: Message[] = [];
  let buffered = new Uint8Array(0);
  const chunk = new Uint8Array(4096);
  while (out.length < count) {
    const n = await conn.read(chunk);
    if (n === null) break;
    buffered = concat([buffered, chunk.subarray(0, n)]);
    while (buffered.length >= 2 && buffered.length >= 2 + ((buffered[0] << 8) | buffered[1])) {
      const length = (buffered[0] << 8) | buffered[1];
      out.push(wholeMessage(buffered.subarray(2, 2 + length)));
      buffered = buffered.slice(2 + length);
    }
  }
  return out;
}

Deno.test("the server answers the same over UDP and TCP", async () => {
  await using svc = await startService(service, { zone: ZONES, rrlRate: 0 });
  const udp = await query(server(svc), "www.interop.example.", RecordType.A);
  const tcp = await query(server(svc), "www.interop.example.", RecordType.A, { tcp: true });
  assert.equal(udp.transport, "udp");
  assert.equal(tcp.transport, "tcp");
  assert.deepEqual(udp.message.answers, tcp.message.answers);
  assert.equal(udp.message.answers[0].data.kind, "A");
  assert.equal(udp.message.aa, true);
});

Deno.test("answers over 512 octets set TC on UDP and come whole over TCP", async () => {
  await using svc = await startService(service, { zone: ZONES, rrlRate: 0 });
  const classic = await query(server(svc), "big.interop.example.", RecordType.TXT, { ednsSize: 0 });
  assert.equal(classic.message.tc, true);
  assert.ok(classic.sizeBytes <= 512);
  assert.equal(classic.message.answers.length, 0);
  const small = await query(server(svc), "big.interop.example.", RecordType.TXT, { ednsSize: 600 });
  assert.equal(small.message.tc, true, "the client's EDNS size is the limit");
  const roomy = await query(server(svc), "big.interop.example.", RecordType.TXT);
  assert.equal(roomy.message.tc, false, "1232 octets is enough");
  const tcp = await query(server(svc), "big.interop.example.", RecordType.TXT, {
    tcp: true,
    ednsSize: 0,
  });
  assert.equal(tcp.message.tc, false);
  assert.equal(tcp.message.answers.length, 1);
});

Deno.test("one TCP connection carries several queries, answered in order", async () => {
  await using svc = await startService(service, { zone: ZONES, rrlRate: 0 });
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: svc.addresses.tcp.port });
  const names = ["www.interop.example.", "mail.interop.example.", "nope.interop.example."];
  const frames = names.map((name, i) => encodeTcpFrame(queryBytes(100 + i, name, RecordType.A)));
  const stream = concat(frames);
  // The first two in one write, the third split across three writes.
  const cut = frames[0].length + frames[1].length;
  await conn.write(stream.subarray(0, cut));
  for (const [from, to] of [[cut, cut + 1], [cut + 1, cut + 7], [cut + 7, stream.length]]) {
    await conn.write(stream.subarray(from, to));
  }
  const answers = await readFrames(conn, 3);
  assert.deepEqual(answers.map((m) => m.id), [100, 101, 102]);
  assert.deepEqual(answers.map((m) => m.rcode), [Rcode.NOERROR, Rcode.NOERROR, Rcode.NXDOMAIN]);
});

Deno.test("a 60 000-octet query trickled over TCP is answered", async () => {
  await using svc = await startService(service, { zone: ZONES, rrlRate: 0 });
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: svc.addresses.tcp.port });
  const padding = { code: 12, data: new Uint8Array(60_000) }; // RFC 7830 padding
  const big = encodeMessage(makeMessage({
    id: 7,
    questions: [{ name: "www.interop.example.", type: RecordType.A, class: 1 }],
    edns: {
      udpPayloadSize: 1232,
      extendedRcode: 0,
      version: 0,
      dnssecOk: false,
      options: [padding],
    },
  }));
  const frame = encodeTcpFrame(big);
  for (let at = 0; at < frame.length; at += 997) await conn.write(frame.subarray(at, at + 997));
  const [answer] = await readFrames(conn, 1);
  assert.equal(answer.id, 7);
  assert.equal(answer.answers.length, 1);
});

Deno.test("malformed UDP queries get FORMERR; runts and responses get nothing", async () => {
  await using svc = await startService(service, { zone: ZONES, rrlRate: 0 });
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const to = { transport: "udp" as const, ...server(svc) };
    await socket.send(fromHex("1234 01"), to); // shorter than a header: dropped
    await socket.send(fromHex("4321 8100 0000 0000 0000 0000"), to); // QR set: dropped
    // A compression loop in the question: FORMERR with our ID.
    await socket.send(fromHex("abcd 0100 0001 0000 0000 0000 c00c 0001 0001"), to);
    const first = await receiveOrNull(socket, 10_000);
    assert.ok(first, "no answer to the malformed query");
    const formerr = wholeMessage(first);
    assert.equal(formerr.id, 0xabcd);
    assert.equal(formerr.rcode, Rcode.FORMERR);
    await socket.send(DIG_QUERY_A_NOEDNS, to);
    const second = wholeMessage((await receiveOrNull(socket, 10_000))!);
    assert.equal(second.id, 0x0f30, "the runt and the response got no answer");
  } finally {
    socket.close();
  }
});

Deno.test("garbage on TCP gets FORMERR or a closed connection, never a crash", async () => {
  await using svc = await startService(service, { zone: ZONES, rrlRate: 0 });
  const port = svc.addresses.tcp.port;
  {
    // A framed message that is not DNS: FORMERR, and the connection stays usable.
    using conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(encodeTcpFrame(fromHex("beef 0100 0001 0000 0000 0000 ff ff ff ff")));
    await conn.write(encodeTcpFrame(DIG_QUERY_MX));
    const [formerr, answer] = await readFrames(conn, 2);
    assert.equal(formerr.rcode, Rcode.FORMERR);
    assert.equal(formerr.id, 0xbeef);
    assert.equal(answer.id, 0xed7d);
  }
  for (
    const garbage of [
      fromHex("0000"),
      fromHex("0005 0102030405"),
      fromHex("000c 1234 8180 0000 0000 0000 0000"),
    ]
  ) {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(garbage);
    assert.deepEqual(await readFrames(conn, 1), [], "the server closes the connection");
  }
  const still = await query(server(svc), "www.interop.example.", RecordType.A, { tcp: true });
  assert.equal(still.message.rcode, Rcode.NOERROR);
});

Deno.test("fuzz: mutated packets over UDP and TCP leave the server answering", async () => {
  await using svc = await startService(service, { zone: ZONES, rrlRate: 0 });
  const next = random(0xd15);
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const to = { transport: "udp" as const, ...server(svc) };
    for (let i = 0; i < 300; i++) {
      await socket.send(mutate(next, [DIG_QUERY_MX, DIG_QUERY_A_NOEDNS]), to);
    }
  } finally {
    socket.close();
  }
  for (let i = 0; i < 20; i++) {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: svc.addresses.tcp.port });
    const junk = mutate(next, [encodeTcpFrame(DIG_QUERY_MX), encodeTcpFrame(DIG_QUERY_A_NOEDNS)]);
    await conn.write(junk);
    await conn.closeWrite();
    await readFrames(conn, 10); // whatever comes back, until the server closes
  }
  const udp = await query(server(svc), "www.interop.example.", RecordType.A);
  const tcp = await query(server(svc), "www.interop.example.", RecordType.A, { tcp: true });
  assert.equal(udp.message.rcode, Rcode.NOERROR);
  assert.equal(tcp.message.rcode, Rcode.NOERROR);
});

Deno.test("loopback sources are not rate-limited unless asked", async () => {
  await using svc = await startService(service, { zone: ZONES, rrlRate: 1 });
  for (let i = 0; i < 5; i++) {
    const udp = await query(server(svc), "www.interop.example.", RecordType.A, {
      timeoutMs: 10_000,
    });
    assert.equal(udp.message.tc, false);
  }
});

Deno.test("idle TCP connections are closed; at the cap the longest-idle one makes room", async () => {
  await using svc = await startService(service, {
    zone: ZONES,
    rrlRate: 0,
    tcpIdleTimeoutMs: 60_000,
    tcpConnectionsMax: 1,
  });
  const port = svc.addresses.tcp.port;
  using first = await Deno.connect({ hostname: "127.0.0.1", port });
  await first.write(encodeTcpFrame(DIG_QUERY_MX));
  assert.equal((await readFrames(first, 1)).length, 1);
  using second = await Deno.connect({ hostname: "127.0.0.1", port });
  await second.write(encodeTcpFrame(DIG_QUERY_MX));
  assert.equal((await readFrames(second, 1)).length, 1, "the new client is answered");
  assert.equal(await first.read(new Uint8Array(16)), null, "the idle one was closed for it");
  const metrics = await (await fetch(`http://127.0.0.1:${svc.addresses.admin.port}/metrics`))
    .text();
  assert.match(metrics, /^dns_tcp_evicted_total 1$/m);
  assert.match(metrics, /^dns_tcp_connections 1$/m);
  assert.match(metrics, /^dns_udp_dropped_total 0$/m);
});

Deno.test("an idle TCP connection is closed after --tcp-idle-timeout-ms", async () => {
  await using svc = await startService(service, {
    zone: ZONES,
    rrlRate: 0,
    tcpIdleTimeoutMs: 100,
  });
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: svc.addresses.tcp.port });
  await conn.write(encodeTcpFrame(DIG_QUERY_MX));
  assert.equal((await readFrames(conn, 1)).length, 1);
  assert.equal(await conn.read(new Uint8Array(16)), null, "idle: closed by the server");
});

Deno.test("NOTIMP to an unknown opcode echoes it, with no RD, CD or RA (UDP and TCP)", async () => {
  await using svc = await startService(service, { zone: ZONES, rrlRate: 0 });
  // Opcode 3 (unassigned), RD and CD set, a question for a name we serve.
  const bytes = queryBytes(0x4242, "www.interop.example.", RecordType.A);
  bytes[2] = 0x19;
  bytes[3] = 0x10;
  const replies: Message[] = [];
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    await socket.send(bytes, { transport: "udp", ...server(svc) });
    replies.push(wholeMessage((await receiveOrNull(socket, 10_000))!));
  } finally {
    socket.close();
  }
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: svc.addresses.tcp.port });
  await conn.write(encodeTcpFrame(bytes));
  replies.push(...await readFrames(conn, 1));
  for (const reply of replies) {
    assert.deepEqual(
      [reply.id, reply.qr, reply.opcode, reply.rcode],
      [0x4242, true, 3, Rcode.NOTIMP],
    );
    assert.deepEqual([reply.rd, reply.cd, reply.ra, reply.aa], [false, false, false, false]);
    assert.deepEqual(reply.questions, []);
  }
});

Deno.test("response rate limiting drops most of a flood and slips some as TC", async () => {
  await using svc = await startService(service, {
    zone: ZONES,
    rrlRate: 5,
    rrlSlip: 2,
    rrlLoopback: true,
  });
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const sent = 40;
  let full = 0;
  let truncated = 0;
  try {
    const to = { transport: "udp" as const, ...server(svc) };
    for (let i = 0; i < sent; i++) {
      await socket.send(queryBytes(i, "www.interop.example.", RecordType.A), to);
    }
    for (;;) {
      const data = await receiveOrNull(socket, 1500);
      if (data === null) break;
      if (wholeMessage(data).tc) truncated++;
      else full++;
    }
  } finally {
    socket.close();
  }
  assert.ok(full >= 1 && full < sent / 2, `${full} full answers of ${sent}`);
  assert.ok(truncated >= 1, "some limited answers slip through truncated");
  assert.ok(full + truncated < sent, "the rest are dropped");
  // TCP is never limited.
  const tcp = await query(server(svc), "www.interop.example.", RecordType.A, { tcp: true });
  assert.equal(tcp.message.answers.length, 1);
});
