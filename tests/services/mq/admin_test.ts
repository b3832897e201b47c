// The mq admin API on its admin port: list, publish, peek, purge, redrive,
// /metrics, /healthz, /readyz.

import assert from "node:assert/strict";
import { StompClient } from "../../../lib/stomp/client.ts";
import { service } from "../../../services/mq/mod.ts";
import { startService } from "../../_support/service.ts";

async function call(base: string, path: string, init?: RequestInit) {
  const response = await fetch(base + path, init);
  const text = await response.text();
  return { status: response.status, text, json: () => JSON.parse(text) };
}

Deno.test("mq admin: publish, peek without consuming, list, purge, redrive, metrics, probes", async () => {
  await using mq = await startService(service);
  const base = `http://127.0.0.1:${mq.addresses.admin.port}`;
  const published = await call(base, "/api/queues/jobs/messages", {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: "from http",
  });
  assert.equal(published.status, 201);
  const peek = (await call(base, "/api/queues/jobs/messages?count=5")).json();
  assert.equal(peek.messages.length, 1);
  assert.equal(peek.messages[0].body, "from http");
  assert.equal(peek.messages[0].headers["content-type"], "text/plain");
  const again = (await call(base, "/api/queues/jobs/messages")).json();
  assert.equal(again.messages.length, 1, "peeking does not consume");

  // A consumer rejects it: the dead letter shows in the listing, then goes back.
  await using client = await StompClient.connect({ port: mq.addresses.tcp.port });
  const sub = client.subscribe("/queue/jobs", { ack: "client-individual" });
  const message = await sub.next();
  assert.equal(message?.text, "from http");
  await client.nack(message!, { requeue: false, receipt: true });
  await client.unsubscribe(sub.id, true);
  const jobs = (await call(base, "/api/queues/jobs")).json();
  assert.equal(jobs.depth, 0);
  assert.equal(jobs.deadLetters, 1);
  assert.equal(jobs.stats.deadLettered, 1);
  const list = (await call(base, "/api/queues")).json();
  assert.deepEqual(list.queues.map((q: { name: string }) => q.name).sort(), ["jobs", "jobs.dlq"]);
  const moved = (await call(base, "/api/queues/jobs/redrive", { method: "POST" })).json();
  assert.equal(moved.moved, 1);
  assert.equal((await call(base, "/api/queues/jobs")).json().depth, 1);

  const metrics = (await call(base, "/metrics")).text;
  assert.match(metrics, /mq_queue_depth\{queue="jobs"\} 1/);
  assert.match(metrics, /mq_messages_dead_lettered_total\{queue="jobs"\} 1/);

  const purged = (await call(base, "/api/queues/jobs/messages", { method: "DELETE" })).json();
  assert.equal(purged.purged, 1);
  assert.equal((await call(base, "/api/queues/nope")).status, 404);
  assert.equal((await call(base, "/healthz")).status, 200);
  const ready = (await call(base, "/readyz")).json();
  assert.equal(ready.status, "ok");
  assert.equal(ready.checks.disk.ok, true);
  assert.equal(ready.checks.recovery.ok, true);
});
