// The mq driven by a published npm STOMP client, unchanged: @stomp/stompjs 7
// (the most used JavaScript STOMP client), over TCP through the adapter its
// authors publish for Node, @stomp/tcp-wrapper (a node:net socket behind the
// WebSocket interface stompjs expects). Covered: login, SEND with receipts,
// SUBSCRIBE in each ack mode (client-individual ACK and NACK with the
// redelivery, cumulative client ACK, auto), transactions (ABORT drops,
// COMMIT delivers), a binary body with NUL octets, and an ERROR frame
// reaching onStompError.

import assert from "node:assert/strict";
import { Client, type IFrame, type IMessage } from "@stomp/stompjs";
import { TCPWrapper } from "@stomp/tcp-wrapper";
import { service } from "../../../services/mq/mod.ts";
import { startService, type TestService } from "../../_support/service.ts";

interface Connected {
  client: Client;
  errors: IFrame[];
  closed: Promise<void>;
}

async function connect(mq: TestService): Promise<Connected> {
  const errors: IFrame[] = [];
  let closed!: () => void;
  const closedPromise = new Promise<void>((resolve) => closed = resolve);
  const client = new Client({
    webSocketFactory: () => new TCPWrapper("127.0.0.1", mq.addresses.tcp.port),
    connectHeaders: { login: "guest", passcode: "secret", host: "/" },
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    debug: () => {},
  });
  client.onStompError = (frame) => errors.push(frame);
  client.onWebSocketClose = () => closed();
  const connected = new Promise<void>((resolve, reject) => {
    client.onConnect = () => resolve();
    client.onWebSocketError = (error) => reject(error);
  });
  client.activate();
  await connected;
  return { client, errors, closed: closedPromise };
}

/** Publishes with a receipt and waits for it. */
function publish(
  client: Client,
  destination: string,
  body: string | Uint8Array<ArrayBuffer>,
  headers: Record<string, string> = {},
): Promise<void> {
  const receipt = `r-${crypto.randomUUID()}`;
  const done = new Promise<void>((resolve) => client.watchForReceipt(receipt, () => resolve()));
  if (typeof body === "string") {
    client.publish({ destination, body, headers: { ...headers, receipt } });
  } else {
    client.publish({ destination, binaryBody: body, headers: { ...headers, receipt } });
  }
  return done;
}

/** Collects messages of a subscription; `take(n)` waits until n arrived. */
function collect(client: Client, destination: string, headers: Record<string, string>) {
  const messages: IMessage[] = [];
  const waiters: (() => void)[] = [];
  client.subscribe(destination, (message) => {
    messages.push(message);
    for (const wake of waiters.splice(0)) wake();
  }, headers);
  return {
    messages,
    async take(n: number): Promise<IMessage[]> {
      while (messages.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
      return messages.slice(0, n);
    },
  };
}

async function stop(connected: Connected): Promise<void> {
  await connected.client.deactivate();
}

Deno.test("mq: @stomp/stompjs (npm) over TCP: receipts, each ack mode, NACK, transactions, binary bodies, errors", async (t) => {
  await using mq = await startService(service, { user: "guest", password: "secret" });

  await t.step("client-individual: ACK one by one, NACK redelivers", async () => {
    const c = await connect(mq);
    for (const n of [1, 2, 3]) await publish(c.client, "/queue/js-ci", `m${n}`, { "x-app": "js" });
    const sub = collect(c.client, "/queue/js-ci", { ack: "client-individual" });
    const [m1, m2, m3] = await sub.take(3);
    assert.deepEqual([m1.body, m2.body, m3.body], ["m1", "m2", "m3"]);
    assert.equal(m1.headers["x-app"], "js");
    assert.equal(m1.headers["redelivered"], "false");
    m1.ack();
    m3.ack();
    m2.nack();
    const [, , , again] = await sub.take(4);
    assert.equal(again.body, "m2");
    assert.equal(again.headers["redelivered"], "true");
    again.ack();
    await stop(c);
    assert.deepEqual(c.errors, []);
  });

  await t.step("client: an ACK covers every earlier message", async () => {
    const c = await connect(mq);
    for (const n of [1, 2, 3]) await publish(c.client, "/queue/js-cl", `m${n}`);
    const sub = collect(c.client, "/queue/js-cl", { ack: "client" });
    const [, m2] = await sub.take(3);
    m2.ack();
    // A receipt after the ACK: the ACK was carried out before it.
    await publish(c.client, "/queue/js-barrier", "x");
    await stop(c);
    const d = await connect(mq);
    const rest = collect(d.client, "/queue/js-cl", { ack: "auto" });
    const [m3] = await rest.take(1);
    assert.equal(m3.body, "m3");
    assert.equal(m3.headers["redelivered"], "true");
    await publish(d.client, "/queue/js-barrier", "y");
    assert.equal(rest.messages.length, 1, "m1 and m2 were acknowledged by the one ACK");
    await stop(d);
  });

  await t.step("transactions: ABORT drops, COMMIT delivers", async () => {
    const c = await connect(mq);
    const sub = collect(c.client, "/queue/js-tx", { ack: "auto" });
    const aborted = c.client.begin();
    c.client.publish({
      destination: "/queue/js-tx",
      body: "no",
      headers: { transaction: aborted.id },
    });
    aborted.abort();
    const committed = c.client.begin();
    for (const body of ["yes1", "yes2"]) {
      c.client.publish({
        destination: "/queue/js-tx",
        body,
        headers: { transaction: committed.id },
      });
    }
    committed.commit();
    const got = await sub.take(2);
    assert.deepEqual(got.map((m) => m.body), ["yes1", "yes2"]);
    await publish(c.client, "/queue/js-barrier", "z");
    assert.equal(sub.messages.length, 2);
    await stop(c);
  });

  await t.step("a binary body with NUL octets arrives whole", async () => {
    const c = await connect(mq);
    const body = new Uint8Array([0, 1, 2, 0, 255, 0]);
    await publish(c.client, "/queue/js-bin", body, { "content-type": "application/octet-stream" });
    const sub = collect(c.client, "/queue/js-bin", { ack: "auto" });
    const [message] = await sub.take(1);
    assert.deepEqual([...message.binaryBody], [...body]);
    assert.equal(message.headers["content-type"], "application/octet-stream");
    await stop(c);
  });

  await t.step("an ERROR frame reaches onStompError, and the connection closes", async () => {
    const c = await connect(mq);
    c.client.publish({ destination: "/nowhere/x", body: "lost" });
    await c.closed;
    assert.equal(c.errors.length, 1);
    assert.match(c.errors[0].headers["message"], /Unknown destination/);
    await stop(c);
  });
});
