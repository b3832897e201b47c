// The worker against the real services (tests/services/worker/_fixture.ts):
// dns and our resolver find example.com's MX, the mq holds the events, the
// smtp takes the mail and shows it through its mailbox API.

import assert from "node:assert/strict";
import { DEAD_PORT } from "../../_support/dead_port.ts";
import { waitFor } from "../cache/wait.ts";
import { Fixture, spellEvent } from "./_fixture.ts";

const WAIT = { attempts: 1_000, intervalMs: 20 };

Deno.test("worker: an event becomes one mail with the spell's name, acknowledged", async () => {
  await using stack = await Fixture.start();
  const worker = await stack.startWorker();
  await stack.publish(spellEvent(12, "Accio"));
  await waitFor("the mail", async () => (await stack.mails()).length === 1, WAIT);
  const [mail] = await stack.mails();
  assert.equal(mail.subject, "New spell: Accio");
  const raw = await stack.rawMail(mail.id);
  assert.match(raw, /\r\nMessage-ID: <spell-12\.created@example\.com>\r\n/);
  assert.match(raw, /\r\nTo: <dev@example\.com>\r\n/);
  await waitFor("the ACK", async () => (await stack.queue()).stats.acked === 1, WAIT);
  const queue = await stack.queue();
  assert.equal(queue.depth + queue.inFlight, 0);
  assert.equal(await stack.workerMetric("worker_events_processed_total"), 1);
  const ready = await fetch(`http://127.0.0.1:${worker.addresses.admin.port}/readyz`);
  const body = await ready.json();
  assert.equal(ready.status, 200, JSON.stringify(body));
  assert.match(body.checks.resolver.detail, /MX example\.com: mail\.example\.com\./);
});

Deno.test("worker: acknowledges only after the 250; with the smtp down the message waits and is redelivered", async () => {
  await using stack = await Fixture.start();
  await stack.stopSmtp();
  await stack.startWorker();
  await stack.publish(spellEvent(7, "Lumos"));
  await waitFor("a retry, then a redelivery", async () => {
    const queue = await stack.queue();
    return queue.stats.redelivered >= 2 && await stack.workerMetric("worker_retries_total") >= 2;
  }, WAIT);
  let queue = await stack.queue();
  assert.equal(queue.stats.acked, 0, "nothing acknowledged without a 250");
  assert.equal(queue.depth + queue.inFlight, 1, "the message is still there");
  assert.equal(queue.deadLetters, 0);
  assert.ok(await stack.workerMetric("worker_events_requeued_total") >= 1);

  await stack.startSmtp();
  await waitFor(
    "the mail once the smtp is back",
    async () => (await stack.mails()).length >= 1,
    WAIT,
  );
  await waitFor("the ACK", async () => (await stack.queue()).stats.acked === 1, WAIT);
  queue = await stack.queue();
  assert.equal(queue.depth + queue.inFlight, 0);
  const mails = await stack.mails();
  assert.equal(mails.length, 1, "one mail: every failed attempt was refused before the data");
  assert.equal(mails[0].subject, "New spell: Lumos");
});

Deno.test("worker: a poison body goes to the dead-letter queue at once, never retried", async () => {
  await using stack = await Fixture.start();
  await stack.startWorker();
  await stack.publish("{not json");
  await stack.publish(JSON.stringify({ event: "spell.created", spell: { id: 1 } }));
  await waitFor("two dead letters", async () => (await stack.queue()).deadLetters === 2, WAIT);
  const dead = await stack.peek("spell.created.dlq");
  assert.deepEqual(dead.map((m) => m.body), [
    "{not json",
    '{"event":"spell.created","spell":{"id":1}}',
  ]);
  for (const m of dead) assert.equal(m.headers["x-death-reason"], "rejected");
  const queue = await stack.queue();
  assert.equal(queue.stats.redelivered, 0, "never handed back for another try");
  assert.equal(queue.depth + queue.inFlight, 0);
  assert.equal(
    await stack.workerMetric('worker_events_dead_lettered_total{reason="poison"}'),
    2,
  );
  // The queue goes on: a good event after the poison is mailed.
  await stack.publish(spellEvent(3, "Nox"));
  await waitFor("the good one's mail", async () => (await stack.mails()).length === 1, WAIT);
});

Deno.test("worker: a permanent 5xx dead-letters the event", async () => {
  await using stack = await Fixture.start();
  await stack.startWorker();
  const fault = await fetch(`http://127.0.0.1:${stack.smtpAdminPort}/api/faults`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ command: "DATA-END", count: 1, code: 554, text: "no thanks" }),
  });
  assert.equal(fault.status, 201, await fault.text());
  await stack.publish(spellEvent(5, "Alohomora"));
  await waitFor("the dead letter", async () => (await stack.queue()).deadLetters === 1, WAIT);
  assert.equal(await stack.workerMetric("worker_retries_total"), 0, "a 5xx is not retried");
  assert.equal(
    await stack.workerMetric('worker_events_dead_lettered_total{reason="permanent"}'),
    1,
  );
  assert.equal((await stack.mails()).length, 0);
});

Deno.test("worker: a temporary failure that lasts ends in the dead-letter queue after the mq's deliveries", async () => {
  await using stack = await Fixture.start({ mq: { maxDeliveries: 3 } });
  await stack.stopSmtp();
  // Not the smtp's released port, which a test running alongside could be given.
  await stack.startWorker({ attempts: 1, smtpPort: DEAD_PORT });
  await stack.publish(spellEvent(9, "Expelliarmus"));
  await waitFor("the dead letter", async () => (await stack.queue()).deadLetters === 1, WAIT);
  const [dead] = await stack.peek("spell.created.dlq");
  assert.equal(dead.headers["x-death-reason"], "delivery-limit");
  assert.equal((await stack.queue()).stats.delivered, 3);
  // The worker counts a NACK once its receipt is back, which may be after the
  // mq has already dead-lettered the message.
  await waitFor(
    "the third requeue counted",
    async () => await stack.workerMetric("worker_events_requeued_total") === 3,
    WAIT,
  );
});

Deno.test("worker: reconnects by itself when the mq comes back, and /readyz says when it is away", async () => {
  await using stack = await Fixture.start();
  const worker = await stack.startWorker();
  const readyz = async () => {
    const response = await fetch(`http://127.0.0.1:${worker.addresses.admin.port}/readyz`);
    await response.body?.cancel();
    return response.status;
  };
  await waitFor("ready", async () => await readyz() === 200, WAIT);
  await stack.mq.close();
  await waitFor("not ready without the mq", async () => await readyz() === 503, WAIT);
  await stack.startMq();
  await waitFor("ready again", async () => await readyz() === 200, WAIT);
  await stack.publish(spellEvent(21, "Reparo"));
  await waitFor("the mail", async () => (await stack.mails()).length === 1, WAIT);
  assert.ok(await stack.workerMetric("worker_mq_reconnects_total") >= 1);
});
