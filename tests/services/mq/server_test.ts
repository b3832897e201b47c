// The mq service over real sockets: the STOMP conversation clients rely on,
// queue semantics, errors and bounds (raw frames), through lib/stomp's client.

import assert from "node:assert/strict";
import { headerOf } from "../../../lib/stomp/types.ts";
import { StompClient, StompError } from "../../../lib/stomp/client.ts";
import { service } from "../../../services/mq/mod.ts";
import { startService } from "../../_support/service.ts";
import { RawStomp } from "./raw.ts";

function portOf(svc: { addresses: Record<string, Deno.NetAddr> }): number {
  return svc.addresses.tcp.port;
}

Deno.test("mq: CONNECT, SEND with receipt, SUBSCRIBE, MESSAGE headers, ACK", async () => {
  await using mq = await startService(service);
  await using producer = await StompClient.connect({ port: portOf(mq) });
  assert.equal(producer.version, "1.2");
  assert.equal(headerOf(producer.connected, "server"), "underhood-mq");
  await producer.send("/queue/jobs", "hello", {
    receipt: true,
    headers: { "content-type": "text/plain", "x-trace": "abc" },
  });
  await using consumer = await StompClient.connect({ port: portOf(mq) });
  const sub = consumer.subscribe("/queue/jobs", { ack: "client-individual" });
  const message = await sub.next();
  assert.ok(message);
  assert.equal(message.text, "hello");
  assert.equal(message.destination, "/queue/jobs");
  assert.equal(message.subscription, sub.id);
  assert.equal(message.header("content-type"), "text/plain");
  assert.equal(message.header("x-trace"), "abc");
  assert.equal(message.header("redelivered"), "false");
  assert.equal(message.ackId, message.messageId);
  await consumer.ack(message, { receipt: true });
  await consumer.disconnect();
  await producer.disconnect();
});

Deno.test("mq: competing consumers get messages round-robin within their prefetch", async () => {
  await using mq = await startService(service);
  await using a = await StompClient.connect({ port: portOf(mq) });
  await using b = await StompClient.connect({ port: portOf(mq) });
  const subA = a.subscribe("/queue/work", {
    ack: "client-individual",
    headers: { "prefetch-count": 1 },
    receipt: true,
  });
  const subB = b.subscribe("/queue/work", {
    ack: "client-individual",
    headers: { "prefetch-count": 1 },
    receipt: true,
  });
  await subA.ready;
  await subB.ready;
  for (let i = 0; i < 4; i++) await a.send("/queue/work", `m${i}`, { receipt: true });
  const first = [await subA.next(), await subB.next()];
  assert.deepEqual(first.map((m) => m?.text).sort(), ["m0", "m1"]);
  assert.equal(await subA.next(50), undefined, "prefetch 1: nothing more before an ACK");
  await a.ack(first[0]!);
  await b.ack(first[1]!);
  const second = [await subA.next(), await subB.next()];
  assert.deepEqual(second.map((m) => m?.text).sort(), ["m2", "m3"]);
});

Deno.test("mq: a consumer that disconnects has its unacknowledged messages redelivered", async () => {
  await using mq = await startService(service);
  await using producer = await StompClient.connect({ port: portOf(mq) });
  await producer.send("/queue/r", "once", { receipt: true });
  const first = await StompClient.connect({ port: portOf(mq) });
  const sub1 = first.subscribe("/queue/r", { ack: "client" });
  const m1 = await sub1.next();
  assert.equal(m1?.header("redelivered"), "false");
  first.close();
  await using second = await StompClient.connect({ port: portOf(mq) });
  const m2 = await second.subscribe("/queue/r", { ack: "client" }).next();
  assert.equal(m2?.text, "once");
  assert.equal(m2?.header("redelivered"), "true");
  assert.equal(m2?.header("x-delivery-count"), "1");
  assert.equal(m2?.messageId, m1?.messageId);
});

Deno.test("mq: NACK requeue:false and the delivery limit dead-letter to NAME.dlq with reasons", async () => {
  await using mq = await startService(service, { maxDeliveries: 2 });
  await using client = await StompClient.connect({ port: portOf(mq) });
  await client.send("/queue/d", "poison", { receipt: true });
  await client.send("/queue/d", "rejected", { receipt: true });
  const sub = client.subscribe("/queue/d", { ack: "client-individual" });
  const dlq = client.subscribe("/queue/d.dlq", { ack: "auto" });
  // "poison" twice (then the limit), "rejected" once.
  for (let i = 0; i < 3; i++) {
    const m = await sub.next();
    assert.ok(m);
    if (m.text === "rejected") await client.nack(m, { requeue: false });
    else await client.nack(m);
  }
  const dead = [await dlq.next(), await dlq.next()];
  const byBody = Object.fromEntries(dead.map((m) => [m!.text, m!]));
  assert.equal(byBody.rejected.header("x-death-reason"), "rejected");
  assert.equal(byBody.rejected.header("x-death-queue"), "/queue/d");
  assert.equal(byBody.poison.header("x-death-reason"), "delivery-limit");
  assert.equal(byBody.poison.header("x-delivery-count"), "2");
  assert.ok(Number(byBody.poison.header("x-death-time")) > 0);
});

Deno.test("mq: a topic fans out to every current subscriber", async () => {
  await using mq = await startService(service);
  await using a = await StompClient.connect({ port: portOf(mq) });
  await using b = await StompClient.connect({ port: portOf(mq) });
  const subA = a.subscribe("/topic/news", { receipt: true });
  const subB = b.subscribe("/topic/news", { receipt: true });
  await subA.ready;
  await subB.ready;
  await a.send("/topic/news", "extra", { receipt: true });
  assert.equal((await subA.next())?.text, "extra");
  const m = await subB.next();
  assert.equal(m?.text, "extra");
  assert.equal(m?.destination, "/topic/news");
});

Deno.test("mq: request/reply through /temp-queue/ and a rewritten reply-to", async () => {
  await using mq = await startService(service);
  await using requester = await StompClient.connect({ port: portOf(mq) });
  await using responder = await StompClient.connect({ port: portOf(mq) });
  const requests = responder.subscribe("/queue/rpc", { receipt: true });
  const replies = requester.subscribe("/temp-queue/answers", { receipt: true });
  await requests.ready;
  await replies.ready;
  await requester.send("/queue/rpc", "2+2", {
    headers: { "reply-to": "/temp-queue/answers", "correlation-id": "q1" },
    receipt: true,
  });
  const request = await requests.next();
  const replyTo = request?.header("reply-to");
  assert.match(replyTo ?? "", /^\/reply-queue\//);
  await responder.send(replyTo!, "4", { headers: { "correlation-id": "q1" }, receipt: true });
  const reply = await replies.next();
  assert.equal(reply?.text, "4");
  assert.equal(reply?.header("correlation-id"), "q1");
});

Deno.test("mq: SENDs and ACKs in a transaction wait for COMMIT; ABORT drops them", async () => {
  await using mq = await startService(service);
  await using client = await StompClient.connect({ port: portOf(mq) });
  const sub = client.subscribe("/queue/tx", { receipt: true });
  await sub.ready;
  await client.begin("t1");
  await client.send("/queue/tx", "dropped", { transaction: "t1" });
  await client.abort("t1", true);
  await client.begin("t2");
  await client.send("/queue/tx", "kept", { transaction: "t2", receipt: true });
  assert.equal(await sub.next(50), undefined, "nothing before COMMIT");
  await client.commit("t2", true);
  assert.equal((await sub.next())?.text, "kept");
  assert.equal(await sub.next(50), undefined);
});

Deno.test("mq: a bad frame gets an ERROR naming the problem, with its receipt-id, and a close", async () => {
  await using mq = await startService(service);
  await using raw = await RawStomp.connected(portOf(mq));
  await raw.write("SEND\ndestination:/nowhere/x\nreceipt:r9\n\nbody\0");
  const frames = await raw.readToEnd();
  assert.equal(frames.length, 1);
  assert.equal(frames[0].command, "ERROR");
  assert.equal(headerOf(frames[0], "receipt-id"), "r9");
  assert.match(headerOf(frames[0], "message") ?? "", /Unknown destination/);
});

Deno.test("mq: an oversized frame closes that connection only", async () => {
  await using mq = await startService(service, { frameBytesMax: 1024 });
  await using bystander = await StompClient.connect({ port: portOf(mq) });
  await using raw = await RawStomp.connected(portOf(mq));
  await raw.write(`SEND\ndestination:/queue/big\n\n${"x".repeat(5000)}\0`);
  const frames = await raw.readToEnd();
  assert.equal(frames.at(-1)?.command, "ERROR");
  assert.match(headerOf(frames.at(-1)!, "message") ?? "", /1024/);
  await bystander.send("/queue/small", "still fine", { receipt: true });
});

Deno.test("mq: too many headers, a too-long header, too many subscriptions each get an ERROR", async () => {
  await using mq = await startService(service);
  const cases = [
    "SEND\ndestination:/queue/h\n" + "a:b\n".repeat(1001) + "\n\0",
    "SEND\ndestination:/queue/h\nlong:" + "y".repeat(11_000) + "\n\n\0",
    Array.from({ length: 1025 }, (_, i) => `SUBSCRIBE\nid:${i}\ndestination:/queue/s\n\n\0`).join(
      "",
    ),
    "SUBSCRIBE\nid:p\ndestination:/queue/s\nprefetch-count:70000\n\n\0",
  ];
  for (const bytes of cases) {
    await using raw = await RawStomp.connected(portOf(mq));
    await raw.write(bytes).catch(() => {});
    const frames = await raw.readToEnd();
    assert.equal(frames.at(-1)?.command, "ERROR", bytes.slice(0, 40));
  }
});

Deno.test("mq: version negotiation picks the highest common version; none is an ERROR", async () => {
  await using mq = await startService(service);
  for (const [accept, expected] of [["1.0,1.1", "1.1"], ["", "1.0"]]) {
    const headers = accept ? `accept-version:${accept}\n` : "";
    await using raw = await RawStomp.connected(portOf(mq), headers);
    assert.equal(raw.version, expected);
  }
  await using raw = await RawStomp.open(portOf(mq));
  await raw.write("CONNECT\naccept-version:2.0\n\n\0");
  const frames = await raw.readToEnd();
  assert.equal(frames[0].command, "ERROR");
  assert.equal(headerOf(frames[0], "version"), "1.0,1.1,1.2");
});

Deno.test("mq: with --user, CONNECT needs the login and passcode", async () => {
  await using mq = await startService(service, { user: "guest", password: "secret" });
  await assert.rejects(
    StompClient.connect({ port: portOf(mq), login: "guest", passcode: "wrong" }),
    StompError,
  );
  await using ok = await StompClient.connect({
    port: portOf(mq),
    login: "guest",
    passcode: "secret",
  });
  assert.equal(ok.version, "1.2");
});

Deno.test("mq: --users-file lets each login:passcode line CONNECT, beside --user", async () => {
  const file = await Deno.makeTempFile({ suffix: ".users" });
  try {
    await Deno.writeTextFile(file, "# mq users\nalice:wonder:land\n\nbob:builder\n");
    await using mq = await startService(service, {
      user: "guest",
      password: "secret",
      usersFile: file,
    });
    const port = portOf(mq);
    for (
      const [login, passcode] of [["alice", "wonder:land"], ["bob", "builder"], ["guest", "secret"]]
    ) {
      const client = await StompClient.connect({ port, login, passcode });
      await client.disconnect();
    }
    for (const [login, passcode] of [["alice", "wonder"], ["bob", "secret"], ["carol", "x"]]) {
      await assert.rejects(StompClient.connect({ port, login, passcode }), StompError);
    }
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("mq: a client that stops heart-beating is dropped and its messages redelivered", async () => {
  await using mq = await startService(service, { heartBeatMinMs: 50 });
  await using producer = await StompClient.connect({ port: portOf(mq) });
  await producer.send("/queue/hb", "m", { receipt: true });
  await using silent = await RawStomp.connected(
    portOf(mq),
    "accept-version:1.2\nheart-beat:50,0\n",
  );
  await silent.write("SUBSCRIBE\nid:1\ndestination:/queue/hb\nack:client\n\n\0");
  const first = await silent.read();
  assert.equal(first?.command, "MESSAGE");
  // Say nothing: the broker must drop us after twice the period.
  assert.equal(await silent.read(), null);
  await using other = await StompClient.connect({ port: portOf(mq) });
  const again = await other.subscribe("/queue/hb").next();
  assert.equal(again?.header("redelivered"), "true");
});

Deno.test("mq: SENDs with receipts from many in flight share fsyncs (group commit)", async () => {
  await using mq = await startService(service);
  await using producer = await StompClient.connect({ port: portOf(mq) });
  const messages = 640;
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < messages) {
      next++;
      await producer.send("/queue/batch", "x", { receipt: true });
    }
  }));
  const metrics = await (await fetch(`http://127.0.0.1:${mq.addresses.admin.port}/metrics`)).text();
  const syncs = Number(/mq_server\{name="log_syncs"\} (\d+)/.exec(metrics)?.[1]);
  // One fsync per message would mean each frame waited for its own commit.
  assert.ok(syncs < messages / 4, `${syncs} fsyncs for ${messages} receipted messages`);
});

Deno.test("mq: past --queues-max a new queue name gets an ERROR", async () => {
  await using mq = await startService(service, { queuesMax: 3 });
  await using client = await StompClient.connect({ port: portOf(mq) });
  for (const name of ["a", "b", "c"]) await client.send(`/queue/${name}`, "x", { receipt: true });
  await client.send("/queue/a", "existing queues still take messages", { receipt: true });
  await assert.rejects(client.send("/queue/d", "x", { receipt: true }), /more than 3 queues/);
});

Deno.test("mq: the broker heart-beats a client that asked for it", async () => {
  await using mq = await startService(service, { heartBeatMinMs: 20 });
  await using raw = await RawStomp.open(portOf(mq));
  await raw.write("CONNECT\naccept-version:1.2\nheart-beat:0,20\n\n\0");
  // Read raw bytes: after the CONNECTED frame, bare EOLs keep arriving.
  const buffer = new Uint8Array(4096);
  let text = "";
  while ((text.match(/\n/g) ?? []).length < 12 || !text.includes("\0")) {
    const n = await raw.conn.read(buffer);
    if (n === null) break;
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  assert.match(text, /^CONNECTED\n/);
  const after = text.slice(text.indexOf("\0") + 1);
  assert.match(after, /^\n+$/, "only heart-beats after CONNECTED");
  assert.ok(after.length >= 3, `${after.length} heart-beats`);
});

Deno.test("mq: a reply to a requester that left is dropped, the responder unharmed", async () => {
  await using mq = await startService(service);
  const requester = await StompClient.connect({ port: portOf(mq) });
  const sub = requester.subscribe("/temp-queue/r", { receipt: true });
  await sub.ready;
  await requester.send("/queue/ask", "?", {
    headers: { "reply-to": "/temp-queue/r" },
    receipt: true,
  });
  await using responder = await StompClient.connect({ port: portOf(mq) });
  const request = await responder.subscribe("/queue/ask").next();
  const replyTo = request!.header("reply-to")!;
  await requester.disconnect();
  // The reply is dropped, as RabbitMQ drops it; the responder is not harmed.
  await responder.send(replyTo, "late", { receipt: true });
  const base = `http://127.0.0.1:${mq.addresses.admin.port}`;
  const queues = await (await fetch(`${base}/api/queues`)).json();
  assert.deepEqual(queues.queues.map((q: { name: string }) => q.name), ["ask"]);
});

Deno.test("mq: a header with a newline from a 1.2 producer reaches a 1.0 consumer as a space", async () => {
  await using mq = await startService(service);
  await using old = await RawStomp.connected(portOf(mq), "");
  assert.equal(old.version, "1.0");
  await old.write("SUBSCRIBE\ndestination:/queue/nl\n\n\0");
  await using producer = await StompClient.connect({ port: portOf(mq) });
  await producer.send("/queue/nl", "x", { headers: { note: "two\nlines" }, receipt: true });
  const message = await old.read();
  assert.equal(message?.command, "MESSAGE");
  assert.equal(headerOf(message!, "note"), "two lines");
});

Deno.test("mq: a client that closes its writing side right after a SEND still gets the RECEIPT", async () => {
  await using mq = await startService(service);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: mq.addresses.tcp.port });
  try {
    await conn.write(new TextEncoder().encode(
      "CONNECT\naccept-version:1.2\nhost:/\n\n\0SEND\ndestination:/queue/half\nreceipt:r1\n\nhello\0",
    ));
    await conn.closeWrite();
    let text = "";
    const buf = new Uint8Array(4096);
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    assert.match(text, /^CONNECTED\n/);
    assert.match(text, /RECEIPT\nreceipt-id:r1\n\n\0$/);
  } finally {
    conn.close();
  }
});
