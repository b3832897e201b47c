// The broker's semantics without sockets: ports that collect frames, a clock
// moved by hand.

import assert from "node:assert/strict";
import { utf8 } from "../../../lib/bytes.ts";
import { type Frame, headerOf } from "../../../lib/stomp/types.ts";
import { Broker, type ConnectionPort } from "../../../services/mq/broker.ts";
import {
  type AckMode,
  DEFAULT_SESSION_LIMITS,
  parseDestination,
  type SubscriptionSpec,
} from "../../../services/mq/session.ts";
import { MessageLog } from "../../../services/mq/message_log.ts";
import { SimulatedDisk } from "../../_support/power_loss_fs.ts";

class Port implements ConnectionPort {
  readonly id: string;
  readonly version = "1.2" as const;
  frames: Frame[] = [];
  room = true;
  constructor(id: string) {
    this.id = id;
  }
  hasRoom(): boolean {
    return this.room;
  }
  write(frame: Frame): void {
    this.frames.push(frame);
  }
  bodies(): string[] {
    return this.frames.map((f) => new TextDecoder().decode(f.body));
  }
}

function spec(id: string, destination: string, ack: AckMode = "client-individual", prefetch = 100) {
  return {
    id,
    destination: parseDestination(destination, DEFAULT_SESSION_LIMITS),
    destinationText: destination,
    ack,
    prefetch,
  } satisfies SubscriptionSpec;
}

function send(
  broker: Broker,
  from: string,
  destination: string,
  body: string,
  headers: [string, string][] = [],
) {
  return broker.publish(from, {
    destination: parseDestination(destination, DEFAULT_SESSION_LIMITS),
    destinationText: destination,
    headers,
    body: utf8(body),
  });
}

function setup(options: ConstructorParameters<typeof Broker>[0] = {}) {
  let now = 1_000_000;
  const broker = new Broker({ ...options, now: () => now });
  const producer = new Port("p");
  const consumer = new Port("c");
  broker.connect(producer);
  broker.connect(consumer);
  return { broker, producer, consumer, advance: (ms: number) => now += ms, now: () => now };
}

Deno.test("broker: higher priority first, then arrival order", () => {
  const { broker, consumer } = setup();
  send(broker, "p", "/queue/p", "low", [["priority", "1"]]);
  send(broker, "p", "/queue/p", "normal");
  send(broker, "p", "/queue/p", "high", [["priority", "9"]]);
  send(broker, "p", "/queue/p", "normal2");
  broker.subscribe("c", spec("s", "/queue/p"));
  assert.deepEqual(consumer.bodies(), ["high", "normal", "normal2", "low"]);
});

Deno.test("broker: expired messages are not delivered; they go to the DLQ as expired", () => {
  const { broker, consumer, advance, now } = setup();
  send(broker, "p", "/queue/e", "ttl", [["expiration", "1000"]]);
  send(broker, "p", "/queue/e", "abs", [["expires", String(now() + 500)]]);
  send(broker, "p", "/queue/e", "keep");
  advance(2000);
  broker.tick();
  broker.subscribe("c", spec("s", "/queue/e"));
  broker.subscribe("c", spec("d", "/queue/e.dlq"));
  const byDest = (d: string) =>
    consumer.frames.filter((f) => headerOf(f, "destination") === d).map((f) =>
      new TextDecoder().decode(f.body)
    );
  assert.deepEqual(byDest("/queue/e"), ["keep"]);
  assert.deepEqual(byDest("/queue/e.dlq").sort(), ["abs", "ttl"]);
  const dead = consumer.frames.find((f) => headerOf(f, "destination") === "/queue/e.dlq")!;
  assert.equal(headerOf(dead, "x-death-reason"), "expired");
  assert.equal(broker.queue("e")!.stats.expired, 2);
});

Deno.test("broker: delayed messages wait for their time", () => {
  const { broker, consumer, advance } = setup();
  broker.subscribe("c", spec("s", "/queue/later"));
  send(broker, "p", "/queue/later", "later", [["x-delay", "5000"]]);
  send(broker, "p", "/queue/later", "now");
  assert.deepEqual(consumer.bodies(), ["now"]);
  advance(4000);
  broker.tick();
  assert.deepEqual(consumer.bodies(), ["now"]);
  advance(1000);
  broker.tick();
  assert.deepEqual(consumer.bodies(), ["now", "later"]);
});

Deno.test("broker: a delivery past the ack timeout is redelivered", () => {
  const { broker, consumer, advance } = setup({ ackTimeoutMs: 30_000 });
  broker.subscribe("c", spec("s", "/queue/v", "client-individual", 1));
  send(broker, "p", "/queue/v", "slow");
  assert.equal(consumer.frames.length, 1);
  advance(29_000);
  broker.tick();
  assert.equal(consumer.frames.length, 1);
  advance(2_000);
  broker.tick();
  assert.equal(consumer.frames.length, 2);
  assert.equal(headerOf(consumer.frames[1], "redelivered"), "true");
  // The first delivery's ACK is now stale and ignored; the second one counts.
  broker.ack("c", headerOf(consumer.frames[1], "ack")!);
  assert.equal(broker.queue("v")!.stats.acked, 1);
});

Deno.test("broker: ack:client acknowledges cumulatively, NACK too", async () => {
  const { broker, consumer } = setup();
  broker.subscribe("c", spec("s", "/queue/c", "client"));
  for (const body of ["a", "b", "c", "d"]) send(broker, "p", "/queue/c", body);
  broker.ack("c", headerOf(consumer.frames[1], "ack")!);
  const queue = broker.queue("c")!;
  assert.equal(queue.stats.acked, 2);
  assert.equal(queue.inFlight, 2);
  broker.nack("c", headerOf(consumer.frames[3], "ack")!, true);
  await Promise.resolve();
  assert.deepEqual(consumer.bodies().slice(4), ["c", "d"], "both handed back, in order");
});

Deno.test("broker: overflow reject-publish refuses, drop-head drops the oldest, block waits", async () => {
  {
    const { broker } = setup({ depthMax: 2, overflow: "reject-publish" });
    send(broker, "p", "/queue/f", "1");
    send(broker, "p", "/queue/f", "2");
    assert.throws(() => send(broker, "p", "/queue/f", "3"), /full/);
  }
  {
    const { broker, consumer } = setup({ depthMax: 2, overflow: "drop-head" });
    for (const body of ["1", "2", "3"]) send(broker, "p", "/queue/f", body);
    broker.subscribe("c", spec("s", "/queue/f"));
    assert.deepEqual(consumer.bodies(), ["2", "3"]);
    assert.equal(broker.queue("f")!.stats.dropped, 1);
  }
  {
    const { broker, consumer } = setup({ depthMax: 1, overflow: "block" });
    send(broker, "p", "/queue/f", "1");
    const result = send(broker, "p", "/queue/f", "2");
    assert.equal(result.kind, "blocked");
    broker.subscribe("c", spec("s", "/queue/f", "auto"));
    if (result.kind === "blocked") await result.room;
    assert.equal(send(broker, "p", "/queue/f", "2").kind, "accepted");
    assert.deepEqual(consumer.bodies(), ["1", "2"]);
  }
});

Deno.test("broker: bodies past the memory window are read back from the log", () => {
  const disk = new SimulatedDisk();
  const { log } = MessageLog.open({ files: disk, dir: "/mq" });
  const { broker, consumer } = setup({ log, bodyWindowBytes: 1000 });
  for (let i = 0; i < 10; i++) send(broker, "p", "/queue/w", String(i).repeat(400));
  const queue = broker.queue("w")!;
  assert.ok(queue.memoryBytes <= 1000, `${queue.memoryBytes} bytes held`);
  broker.subscribe("c", spec("s", "/queue/w", "auto"));
  assert.deepEqual(consumer.bodies(), Array.from({ length: 10 }, (_, i) => String(i).repeat(400)));
  log.close();
});

Deno.test("broker: restart recovers unacknowledged messages in order, not acknowledged ones", () => {
  const disk = new SimulatedDisk();
  const first = MessageLog.open({ files: disk, dir: "/mq" });
  const { broker, consumer } = setup({ log: first.log });
  for (const body of ["a", "b", "c"]) send(broker, "p", "/queue/r", body);
  broker.subscribe("c", spec("s", "/queue/r"));
  broker.ack("c", headerOf(consumer.frames[1], "ack")!);
  first.log.close();
  const second = MessageLog.open({ files: disk, dir: "/mq" });
  const again = setup({ log: second.log, recovered: second.recovered.messages });
  again.broker.subscribe("c", spec("s", "/queue/r"));
  assert.deepEqual(again.consumer.bodies(), ["a", "c"]);
  second.log.close();
});

Deno.test("broker: temp queues and topic subscriptions go away with their connection", () => {
  const { broker, consumer } = setup();
  broker.subscribe("c", spec("t", "/temp-queue/replies"));
  broker.subscribe("c", spec("n", "/topic/news"));
  assert.ok([...broker.queues.keys()].some((name) => name.startsWith("amq.tmp.")));
  assert.equal(broker.topics.get("news")?.size, 1);
  send(broker, "p", "/topic/news", "hello");
  assert.deepEqual(consumer.bodies(), ["hello"]);
  broker.disconnect("c");
  assert.deepEqual([...broker.queues.keys()], []);
  assert.equal(broker.topics.has("news"), false);
});

Deno.test("broker: a connection whose output is backed up gets no more deliveries, in any ack mode", () => {
  const { broker, consumer } = setup();
  consumer.room = false;
  broker.subscribe("c", spec("s", "/queue/slow", "client-individual", 100));
  for (const body of ["1", "2", "3"]) send(broker, "p", "/queue/slow", body);
  assert.deepEqual(consumer.bodies(), []);
  consumer.room = true;
  broker.wake("c");
  assert.deepEqual(consumer.bodies(), ["1", "2", "3"]);
});

Deno.test("broker: delayed messages come due in order of their time, whatever the order sent", () => {
  const { broker, consumer, advance } = setup();
  broker.subscribe("c", spec("s", "/queue/d"));
  for (const delay of [300, 100, 200, 100]) {
    send(broker, "p", "/queue/d", `${delay}`, [["x-delay", String(delay)]]);
  }
  for (let i = 0; i < 3; i++) {
    advance(100);
    broker.tick();
  }
  assert.deepEqual(consumer.bodies(), ["100", "100", "200", "300"]);
});

Deno.test("broker: past the index window a queue's tail stays in the log and comes back in order", () => {
  const disk = new SimulatedDisk();
  const first = MessageLog.open({ files: disk, dir: "/mq", segmentBytesMax: 2048 });
  const { broker, consumer } = setup({ log: first.log, indexWindow: 10 });
  const bodies = Array.from({ length: 50 }, (_, i) => `m${i}`);
  for (const body of bodies) send(broker, "p", "/queue/deep", body, [["n", body]]);
  send(broker, "p", "/queue/other", "interleaved");
  const queue = broker.queue("deep")!;
  assert.equal(queue.indexed, 10);
  assert.equal(queue.depth, 50);
  broker.subscribe("c", spec("s", "/queue/deep", "client-individual", 7));
  const seen: string[] = [];
  while (consumer.frames.length > 0) {
    const frames = consumer.frames.splice(0);
    for (const frame of frames) {
      seen.push(new TextDecoder().decode(frame.body));
      assert.equal(headerOf(frame, "n"), seen.at(-1));
      broker.ack("c", headerOf(frame, "ack")!);
    }
    broker.dispatch(queue);
  }
  assert.deepEqual(seen, bodies);
  assert.equal(queue.depth, 0);
  assert.equal(queue.spill, undefined);
  first.log.close();
});

Deno.test("broker: a spilled tail is recovered, purged and redriven like the rest", () => {
  const disk = new SimulatedDisk();
  const first = MessageLog.open({ files: disk, dir: "/mq" });
  const one = setup({ log: first.log, indexWindow: 4 });
  for (let i = 0; i < 20; i++) send(one.broker, "p", "/queue/q", `m${i}`);
  first.log.close();
  const second = MessageLog.open({ files: disk, dir: "/mq" });
  const two = setup({ log: second.log, recovered: second.recovered.messages, indexWindow: 4 });
  const queue = two.broker.queue("q")!;
  assert.equal(queue.depth, 20);
  assert.ok(queue.indexed <= 4);
  assert.equal(two.broker.purge(queue), 20);
  assert.equal(queue.depth, 0);
  for (let i = 0; i < 12; i++) {
    send(two.broker, "p", "/queue/q", `d${i}`);
  }
  two.broker.subscribe("c", spec("s", "/queue/q", "client-individual"));
  for (const frame of two.consumer.frames.splice(0)) {
    two.broker.nack("c", headerOf(frame, "ack")!, false);
  }
  const dlq = two.broker.queue("q.dlq")!;
  two.broker.unsubscribe("c", "s");
  assert.equal(dlq.depth, 12);
  assert.equal(two.broker.redrive(queue), 12);
  assert.equal(queue.depth, 12);
  second.log.close();
  const third = MessageLog.open({ files: disk, dir: "/mq" });
  assert.deepEqual(
    third.recovered.messages.all().map((m) => m.queue + ":" + m.seq).length,
    12,
    "only the redriven twelve are live",
  );
  third.log.close();
});

Deno.test("broker: a recovered spilled tail does not bring back what was acknowledged before the restart", () => {
  const disk = new SimulatedDisk();
  const first = MessageLog.open({ files: disk, dir: "/mq" });
  const one = setup({ log: first.log, indexWindow: 100 });
  for (let i = 0; i < 30; i++) send(one.broker, "p", "/queue/q", `m${i}`);
  one.broker.subscribe("c", spec("s", "/queue/q", "client-individual"));
  // Acknowledge every other message: the live ones are sparse in the log.
  one.consumer.frames.forEach((frame, i) => {
    if (i % 2 === 0) one.broker.ack("c", headerOf(frame, "ack")!);
  });
  first.log.close();
  const second = MessageLog.open({ files: disk, dir: "/mq" });
  const two = setup({ log: second.log, recovered: second.recovered.messages, indexWindow: 4 });
  two.broker.subscribe("c", spec("s", "/queue/q", "auto"));
  assert.deepEqual(
    two.consumer.bodies(),
    Array.from({ length: 15 }, (_, i) => `m${2 * i + 1}`),
  );
  second.log.close();
});

Deno.test("broker: a slow topic subscriber holds at most the window; the oldest are dropped", () => {
  const { broker, consumer } = setup({ indexWindow: 5 });
  const fast = new Port("f");
  broker.connect(fast);
  consumer.room = false;
  broker.subscribe("c", spec("slow", "/topic/t", "auto"));
  broker.subscribe("f", spec("fast", "/topic/t", "auto"));
  for (let i = 0; i < 20; i++) send(broker, "p", "/topic/t", `n${i}`);
  assert.equal(fast.frames.length, 20, "the fast subscriber is not held back");
  const slow = [...broker.topics.get("t")!].find((q) => q.owner === "c")!;
  assert.equal(slow.depth, 5);
  assert.equal(slow.stats.dropped, 15);
  consumer.room = true;
  broker.wake("c");
  assert.deepEqual(consumer.bodies(), ["n15", "n16", "n17", "n18", "n19"]);
});

Deno.test("broker: reply-to:/temp-queue/NAME gets the replies without a SUBSCRIBE, as RabbitMQ does", () => {
  const { broker, producer, consumer } = setup();
  broker.subscribe("c", spec("s", "/queue/rpc", "auto"));
  send(broker, "p", "/queue/rpc", "question", [["reply-to", "/temp-queue/answers"]]);
  const replyTo = headerOf(consumer.frames[0], "reply-to")!;
  assert.match(replyTo, /^\/reply-queue\//);
  send(broker, "c", replyTo, "answer");
  assert.deepEqual(producer.bodies(), ["answer"]);
  assert.equal(headerOf(producer.frames[0], "subscription"), "/temp-queue/answers");
  // An explicit SUBSCRIBE takes the implicit one's place: no reply goes to both.
  broker.subscribe("p", spec("mine", "/temp-queue/answers", "auto"));
  send(broker, "c", replyTo, "again");
  assert.deepEqual(producer.frames.slice(1).map((f) => headerOf(f, "subscription")), ["mine"]);
});

Deno.test("broker: delivery counts survive a restart (redelivered, x-delivery-count, the DLQ limit)", () => {
  const disk = new SimulatedDisk();
  let opened = MessageLog.open({ files: disk, dir: "/mq" });
  let { broker, consumer } = setup({ log: opened.log, deliveriesMax: 3 });
  send(broker, "p", "/queue/dc", "poison");
  broker.subscribe("c", spec("s", "/queue/dc"));
  assert.equal(headerOf(consumer.frames[0], "redelivered"), "false");
  // Two broker lifetimes that each deliver it once and die with it unacknowledged.
  for (const expected of ["1", "2"]) {
    opened.log.close();
    opened = MessageLog.open({ files: disk, dir: "/mq" });
    ({ broker, consumer } = setup({
      log: opened.log,
      recovered: opened.recovered.messages,
      deliveriesMax: 3,
    }));
    broker.subscribe("c", spec("s", "/queue/dc"));
    assert.equal(headerOf(consumer.frames[0], "redelivered"), "true");
    assert.equal(headerOf(consumer.frames[0], "x-delivery-count"), expected);
  }
  // Its third delivery was the last: handed back, it goes to the DLQ.
  broker.nack("c", headerOf(consumer.frames[0], "ack")!, true);
  assert.equal(broker.queue("dc")!.depth, 0);
  assert.equal(broker.queue("dc.dlq")!.depth, 1);
  opened.log.close();
});

Deno.test("broker: compaction under a stuck consumer and a spilled tail; a restart recovers both in order", () => {
  const disk = new SimulatedDisk();
  const first = MessageLog.open({ files: disk, dir: "/mq", segmentBytesMax: 2048 });
  const { broker, producer, consumer } = setup({ log: first.log, indexWindow: 4 });
  const stuck = new Port("stuck");
  broker.connect(stuck);
  const body = (n: number) => `${n}`.padStart(200, "0");
  send(broker, "p", "/queue/cq", body(0));
  broker.subscribe("stuck", spec("s", "/queue/cq", "client-individual", 1));
  assert.equal(stuck.frames.length, 1, "the stuck consumer holds message 0");
  broker.subscribe("c", spec("s", "/queue/cq", "auto"));
  for (let n = 1; n <= 200; n++) send(broker, "p", "/queue/cq", body(n));
  assert.equal(consumer.frames.length, 200);
  assert.ok(first.log.compactions > 0);
  assert.ok(first.log.segmentCount <= 3, `${first.log.segmentCount} segments kept`);
  // A backlog past the index window, then a restart with it and message 0 in flight.
  broker.unsubscribe("c", "s");
  for (let n = 201; n <= 230; n++) send(broker, "p", "/queue/cq", body(n));
  assert.ok(broker.queue("cq")!.spill !== undefined, "the tail is spilled");
  first.log.close();
  void producer;
  const second = MessageLog.open({ files: disk, dir: "/mq", segmentBytesMax: 2048 });
  const again = setup({ log: second.log, recovered: second.recovered.messages, indexWindow: 4 });
  again.broker.subscribe("c", spec("s", "/queue/cq", "client-individual", 1000));
  const want = [0, ...Array.from({ length: 30 }, (_, i) => 201 + i)].map(body);
  assert.deepEqual(again.consumer.bodies(), want);
  assert.equal(headerOf(again.consumer.frames[0], "redelivered"), "true");
  for (const frame of again.consumer.frames) again.broker.ack("c", headerOf(frame, "ack")!);
  assert.equal(second.log.segmentCount, 1);
  second.log.close();
});
