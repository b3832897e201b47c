// The http-api while a dependency is down, and after it comes back: each
// real service is stopped in-process and started again on the same port and
// data directory, and the API must degrade as documented and recover by
// itself, without a restart (docs/http_api.md, "When a dependency is down").

import assert from "node:assert/strict";
import { StompClient } from "../../../lib/stomp/client.ts";
import { eventually, startApi, startDeps } from "./_deps.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

Deno.test("cache down: reads skip it and still answer; back: reads hit again", async () => {
  await using deps = await startDeps();
  await using api = await startApi(deps);
  assert.equal((await api.call("GET", "/api/spells/1")).headers.get("x-cache"), "miss");
  assert.equal((await api.call("GET", "/api/spells/1")).headers.get("x-cache"), "hit");

  await deps.cache.stop();
  for (let i = 0; i < 5; i++) {
    const read = await api.call("GET", "/api/spells/1");
    assert.equal(read.status, 200);
    assert.equal(read.headers.get("x-cache"), "skip");
    assert.equal((read.body as Json).name, "Accio");
  }
  // Writes go on too (their invalidation is lost and counted; the TTL bounds it).
  assert.equal((await api.call("PATCH", "/api/spells/2", { description: "Bright." })).status, 200);
  const ready = await api.call("GET", "/readyz");
  assert.equal(ready.status, 503);
  assert.equal((ready.body as Json).checks.cache.ok, false);
  assert.equal((ready.body as Json).checks.datastore.ok, true);
  assert.match(
    (await api.call("GET", "/metrics")).text,
    /^http_api_dependency_up\{dependency="cache"\} 0$/m,
  );

  await deps.cache.start(); // an empty cache on the same port
  await eventually("the cache to be used again", async () => {
    await api.call("GET", "/api/spells/1");
    return (await api.call("GET", "/api/spells/1")).headers.get("x-cache") === "hit";
  });
  await eventually("/readyz 200", async () => (await api.call("GET", "/readyz")).status === 200);
  const metrics = (await api.call("GET", "/metrics")).text;
  const skips = Number(/^http_api_cache_lookups_total\{result="skip"\} (\d+)$/m.exec(metrics)?.[1]);
  assert.ok(skips >= 5, metrics); // and some more while the backoff ran out
  assert.match(metrics, /^http_api_cache_errors_total [1-9]/m);
});

Deno.test("datastore down: writes and uncached reads are 503 problem+json; back: they work again", async () => {
  await using deps = await startDeps();
  await using api = await startApi(deps);
  assert.equal((await api.call("GET", "/api/spells/1")).status, 200); // now cached

  await deps.datastore.stop();
  const write = await api.call("POST", "/api/spells", { name: "Protego", incantation: "Protego!" });
  assert.equal(write.status, 503, write.text);
  assert.equal(write.headers.get("content-type"), "application/problem+json");
  assert.equal(write.headers.get("retry-after"), "1");
  assert.equal((write.body as Json).dependency, "datastore");
  assert.equal((await api.call("GET", "/api/spells")).status, 503);
  assert.equal((await api.call("GET", "/api/spells/2")).status, 503);
  // A spell in the cache is still served.
  assert.equal((await api.call("GET", "/api/spells/1")).headers.get("x-cache"), "hit");
  assert.equal((await api.call("GET", "/healthz")).status, 200, "alive, just not ready");
  const ready = await api.call("GET", "/readyz");
  assert.equal(ready.status, 503);
  assert.equal((ready.body as Json).checks.datastore.ok, false);

  await deps.datastore.start();
  await eventually("a write to succeed", async () => {
    const retry = await api.call("POST", "/api/spells", {
      name: "Protego",
      incantation: "Protego!",
    });
    return retry.status === 201;
  });
  assert.equal((await api.call("GET", "/api/spells?q=protego")).status, 200);
  await eventually("/readyz 200", async () => (await api.call("GET", "/readyz")).status === 200);
});

/** Fast enough for a test: a publish gives up after 500 ms, the relay looks every 100 ms. */
const QUICK_EVENTS = { mqTimeoutMs: 500, outboxIntervalMs: 100 };

/** The spell names in the spell.created events that arrive within `ms` of quiet. */
async function eventNames(port: number, quietMs = 3_000): Promise<string[]> {
  await using stomp = await StompClient.connect({ port });
  const subscription = stomp.subscribe("/queue/spell.created", { ack: "auto" });
  const names: string[] = [];
  for (;;) {
    const message = await subscription.next(quietMs);
    if (message === undefined) return names;
    names.push(JSON.parse(message.text).spell.name);
  }
}

Deno.test("mq down: POST still answers 201, the event waits in the outbox; back: the relay publishes it, once", async () => {
  await using deps = await startDeps();
  await using api = await startApi(deps, QUICK_EVENTS);
  await deps.mq.stop();
  const created = await api.call("POST", "/api/spells", {
    name: "Silencio",
    incantation: "Silencio!",
  });
  assert.equal(created.status, 201);
  assert.match(
    (await api.call("GET", "/metrics")).text,
    /^http_api_events_unpublished_total 1$/m,
  );
  assert.equal(((await api.call("GET", "/api/spells?q=silencio")).body as Json).items.length, 1);

  await deps.mq.start();
  // No further POST: the outbox relay finds the event by itself.
  await eventually("the event to be relayed", async () => {
    return /^http_api_events_relayed_total 1$/m.test((await api.call("GET", "/metrics")).text);
  });
  // New events flow directly again.
  const direct = await api.call("POST", "/api/spells", {
    name: "Sonorus",
    incantation: "Sonorus!",
  });
  assert.equal(direct.status, 201);
  assert.deepEqual(await eventNames(deps.mq.port), ["Silencio", "Sonorus"]);
  assert.match((await api.call("GET", "/metrics")).text, /^http_api_events_published_total 1$/m);
});

Deno.test("outbox: events a stopped API could not publish are relayed by the next one, each once, with two copies relaying", async () => {
  await using deps = await startDeps();
  await deps.mq.stop();
  const names = Array.from({ length: 12 }, (_, i) => `Lumos ${i}`);
  {
    await using first = await startApi(deps, QUICK_EVENTS);
    for (const name of names) {
      const created = await first.call("POST", "/api/spells", { name, incantation: "Lumos!" });
      assert.equal(created.status, 201, created.text);
    }
  } // stopped with its events unpublished
  // A spell deleted before its event goes out is not announced.
  await using second = await startApi(deps, QUICK_EVENTS);
  await using third = await startApi(deps, QUICK_EVENTS);
  const gone = ((await second.call("GET", "/api/spells?q=Lumos%2011")).body as Json).items[0];
  assert.equal((await second.call("DELETE", `/api/spells/${gone.id}`)).status, 204);
  await deps.mq.start();
  const relayed = async () => {
    let total = 0;
    for (const api of [second, third]) {
      const text = (await api.call("GET", "/metrics")).text;
      total += Number(/^http_api_events_relayed_total (\d+)$/m.exec(text)?.[1] ?? 0);
    }
    return total;
  };
  await eventually("the events to be relayed", async () => (await relayed()) === 11);
  const received = await eventNames(deps.mq.port);
  assert.deepEqual(received.toSorted(), names.slice(0, 11).toSorted());
  assert.equal(await relayed(), 11, "no event published twice");
});

Deno.test("objects down: the image routes answer 503, the rest of the API does not care; back: images work", async () => {
  await using deps = await startDeps();
  await using api = await startApi(deps);
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
  await deps.objects.stop();
  const put = await api.call("PUT", "/api/spells/1/image", png, { "content-type": "image/png" });
  assert.equal(put.status, 503, put.text);
  assert.equal((put.body as Json).dependency, "objects");
  assert.equal((await api.call("GET", "/api/spells/1/image")).status, 503);
  assert.equal((await api.call("GET", "/api/spells/1")).status, 200);

  await deps.objects.start();
  await eventually(
    "an image upload to succeed",
    async () =>
      (await api.call("PUT", "/api/spells/1/image", png, { "content-type": "image/png" }))
        .status === 200,
  );
  const image = await api.call("GET", "/api/spells/1/image");
  assert.equal(image.status, 200);
});

Deno.test("started before its datastore: 503 until it answers, then the schema and seeds are made", async () => {
  await using deps = await startDeps();
  await deps.datastore.stop();
  await using api = await startApi(deps);
  assert.equal((await api.call("GET", "/healthz")).status, 200);
  assert.equal((await api.call("GET", "/api/spells")).status, 503);
  await deps.datastore.start();
  await eventually("the seeded list", async () => {
    const list = await api.call("GET", "/api/spells");
    return list.status === 200 && (list.body as Json).items.length === 2;
  });
});

Deno.test("a datastore restart while the API is idle: the first read after it answers 200 (stale connections are replaced, not taken for an outage)", async () => {
  await using deps = await startDeps();
  await using api = await startApi(deps);
  // Open a few pooled connections.
  await Promise.all([1, 2, 3].map(() => api.call("GET", "/api/spells")));
  await deps.datastore.stop();
  await deps.datastore.start();
  const read = await api.call("GET", "/api/spells");
  assert.equal(read.status, 200, read.text);
  const one = await api.call("GET", "/api/spells/2");
  assert.equal(one.status, 200, one.text);
});
