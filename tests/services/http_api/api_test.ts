// The http-api against the real datastore, cache, mq and objects services,
// all in-process on port 0: every endpoint, the cache-aside path, the
// spell.created event as the worker will read it, images, and errors as
// problem+json.

import assert from "node:assert/strict";
import { PgClient } from "../../../lib/pg/client.ts";
import { RespClient } from "../../../lib/resp/client.ts";
import { StompClient } from "../../../lib/stomp/client.ts";
import { eventually, startApi, startDeps } from "./_deps.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

Deno.test("http-api: create, read (cache miss then hit), list, search, replace, patch, delete", async () => {
  await using deps = await startDeps();
  await using api = await startApi(deps);

  // The seed: Accio and Lumos, in a new table.
  const seeded = await api.call("GET", "/api/spells");
  assert.equal(seeded.status, 200);
  assert.deepEqual((seeded.body as Json).items.map((s: Json) => s.name), ["Accio", "Lumos"]);

  const created = await api.call("POST", "/api/spells", {
    name: "Nox",
    incantation: "Nox!",
    description: "Puts out the wand's light.",
  });
  assert.equal(created.status, 201, created.text);
  const nox = created.body as Json;
  assert.equal(created.headers.get("location"), `/api/spells/${nox.id}`);
  assert.equal(nox.image, null);
  assert.match(nox.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

  const first = await api.call("GET", `/api/spells/${nox.id}`);
  assert.equal(first.headers.get("x-cache"), "miss");
  const second = await api.call("GET", `/api/spells/${nox.id}`);
  assert.equal(second.headers.get("x-cache"), "hit");
  assert.deepEqual(second.body, nox);
  // The entry is in the cache, with a TTL.
  {
    using redis = await RespClient.connect({ port: deps.cache.port });
    const ttl = await redis.send("PTTL", `spell:${nox.id}`);
    assert.ok(typeof ttl === "number" && ttl > 0 && ttl <= 60_000, String(ttl));
  }

  // Names are unique whatever their case: 409 with the field.
  const taken = await api.call("POST", "/api/spells", { name: "NOX", incantation: "x" });
  assert.equal(taken.status, 409);
  assert.equal(taken.headers.get("content-type"), "application/problem+json");
  assert.deepEqual((taken.body as Json).errors, [{ field: "name", message: "is taken" }]);

  // PATCH invalidates the cache entry: the next read is a miss with the new value.
  const patched = await api.call("PATCH", `/api/spells/${nox.id}`, { description: "Darkness." });
  assert.equal(patched.status, 200);
  assert.equal((patched.body as Json).description, "Darkness.");
  assert.ok((patched.body as Json).updatedAt >= nox.updatedAt);
  const afterPatch = await api.call("GET", `/api/spells/${nox.id}`);
  assert.equal(afterPatch.headers.get("x-cache"), "miss");
  assert.equal((afterPatch.body as Json).description, "Darkness.");

  // PUT replaces every field (description back to its default when left out).
  const replaced = await api.call("PUT", `/api/spells/${nox.id}`, {
    name: "Nox Maxima",
    incantation: "Nox maxima!",
  });
  assert.equal(replaced.status, 200);
  assert.equal((replaced.body as Json).description, "");
  assert.equal((await api.call("GET", `/api/spells/${nox.id}`)).headers.get("x-cache"), "miss");
  const renameClash = await api.call("PUT", `/api/spells/${nox.id}`, {
    name: "lumos",
    incantation: "x",
  });
  assert.equal(renameClash.status, 409);

  // Search: case-insensitive substring, LIKE wildcards taken literally.
  await api.call("POST", "/api/spells", { name: "100% Lumos_Solem", incantation: "x" });
  const search = await api.call("GET", "/api/spells?q=LUMOS");
  assert.deepEqual((search.body as Json).items.map((s: Json) => s.name), [
    "Lumos",
    "100% Lumos_Solem",
  ]);
  const literal = await api.call("GET", "/api/spells?q=" + encodeURIComponent("0%"));
  assert.deepEqual((literal.body as Json).items.map((s: Json) => s.name), ["100% Lumos_Solem"]);
  assert.deepEqual(((await api.call("GET", "/api/spells?q=m_s")).body as Json).items, []);

  // DELETE: 204, then 404 everywhere, cache entry gone.
  assert.equal((await api.call("DELETE", `/api/spells/${nox.id}`)).status, 204);
  assert.equal((await api.call("GET", `/api/spells/${nox.id}`)).status, 404);
  assert.equal((await api.call("DELETE", `/api/spells/${nox.id}`)).status, 404);
  assert.equal((await api.call("PATCH", `/api/spells/${nox.id}`, { name: "x" })).status, 404);
});

Deno.test("http-api: offset and cursor pages walk every spell once, in id order", async () => {
  await using deps = await startDeps();
  await using api = await startApi(deps);
  for (let i = 0; i < 7; i++) {
    assert.equal(
      (await api.call("POST", "/api/spells", { name: `Spell ${i}`, incantation: "x" })).status,
      201,
    );
  }
  // 9 spells: 2 seeds + 7.
  const byOffset: number[] = [];
  for (let offset = 0; offset < 12; offset += 4) {
    const page = (await api.call("GET", `/api/spells?limit=4&offset=${offset}`)).body as Json;
    assert.equal(page.offset, offset);
    byOffset.push(...page.items.map((s: Json) => s.id));
  }
  const byCursor: number[] = [];
  let next = "/api/spells?limit=4";
  for (let pages = 0; pages < 5; pages++) {
    const page = (await api.call("GET", next)).body as Json;
    byCursor.push(...page.items.map((s: Json) => s.id));
    if (page.nextCursor === null) break;
    next = `/api/spells?limit=4&cursor=${page.nextCursor}`;
  }
  assert.equal(byOffset.length, 9);
  assert.deepEqual(byCursor, byOffset);
  assert.deepEqual(byOffset, [...byOffset].sort((a, b) => a - b));
  const bad = await api.call("GET", "/api/spells?limit=1000");
  assert.equal(bad.status, 422);
  assert.equal((bad.body as Json).errors[0].field, "limit");
});

Deno.test("http-api: POST publishes spell.created to the mq, persistent, as the worker's contract says", async () => {
  await using deps = await startDeps();
  await using api = await startApi(deps);
  const created = (await api.call("POST", "/api/spells", {
    name: "Accio Firebolt",
    incantation: "Accio Firebolt!",
    description: "Summons a broom.",
  })).body as Json;
  await using stomp = await StompClient.connect({ port: deps.mq.port });
  const subscription = stomp.subscribe("/queue/spell.created", { ack: "client-individual" });
  const message = await subscription.next(10_000);
  assert.ok(message !== undefined, "the event is waiting in the queue");
  assert.equal(message.header("content-type"), "application/json");
  assert.equal(message.header("persistent"), "true");
  assert.deepEqual(JSON.parse(message.text), {
    event: "spell.created",
    spell: {
      id: created.id,
      name: "Accio Firebolt",
      incantation: "Accio Firebolt!",
      description: "Summons a broom.",
      createdAt: created.createdAt,
    },
  });
  await stomp.ack(message);
  const metrics = (await api.call("GET", "/metrics")).text;
  assert.match(metrics, /^http_api_events_published_total 1$/m);
});

Deno.test("http-api: an image goes to the object store and comes back; the spell points at it", async () => {
  await using deps = await startDeps();
  await using api = await startApi(deps);
  const png = new Uint8Array(300_000).map((_, i) => i * 7);
  png.set([0x89, 0x50, 0x4e, 0x47]);
  assert.equal((await api.call("GET", "/api/spells/1/image")).status, 404);
  const stored = await api.call("PUT", "/api/spells/1/image", png, { "content-type": "image/png" });
  assert.equal(stored.status, 200, stored.text);
  assert.equal((stored.body as Json).image, "/api/spells/1/image");
  // The cached spell was invalidated: the next read shows the image.
  assert.equal(
    ((await api.call("GET", "/api/spells/1")).body as Json).image,
    "/api/spells/1/image",
  );

  const response = await api.client.request(`${api.base}/api/spells/1/image`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "image/png");
  assert.deepEqual(await response.bytes(), png);

  // Stored in the objects service, in its bucket, signed with SigV4 (the anonymous GET is refused).
  const anonymous = await api.client.request(
    `http://127.0.0.1:${deps.objects.port}/spell-images/spells/1`,
  );
  assert.equal(anonymous.status, 403);
  await anonymous.body.cancel();

  assert.equal(
    (await api.call("PUT", "/api/spells/1/image", png, { "content-type": "text/plain" })).status,
    415,
  );
  assert.equal(
    (await api.call("PUT", "/api/spells/99/image", png, { "content-type": "image/png" })).status,
    404,
  );
  // Deleting the spell deletes its image.
  assert.equal((await api.call("DELETE", "/api/spells/1")).status, 204);
  assert.equal((await api.call("GET", "/api/spells/1/image")).status, 404);
});

Deno.test("http-api: bad requests are problem+json with the status that says why", async () => {
  await using deps = await startDeps();
  await using api = await startApi(deps);
  const cases: [string, string, unknown, number][] = [
    ["POST", "/api/spells", { name: "", incantation: 1 }, 422],
    ["GET", "/api/spells/abc", undefined, 404],
    ["GET", "/api/spells/0", undefined, 404],
    ["GET", "/nowhere", undefined, 404],
    ["DELETE", "/api/spells", undefined, 405],
  ];
  for (const [method, path, body, status] of cases) {
    const response = await api.call(method, path, body);
    assert.equal(response.status, status, `${method} ${path}: ${response.text}`);
    assert.equal(response.headers.get("content-type"), "application/problem+json", path);
    assert.equal((response.body as Json).status, status);
  }
  const notJson = await api.client.request(`${api.base}/api/spells`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{nope",
  });
  assert.equal(notJson.status, 400);
  assert.equal(notJson.headers.get("content-type"), "application/problem+json");
  await notJson.body.cancel();
  const tooBig = await api.client.request(`${api.base}/api/spells`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "x", incantation: "y", description: "z".repeat(20_000) }),
  });
  assert.equal(tooBig.status, 413);
  await tooBig.body.cancel();
  const allow = await api.call("DELETE", "/api/spells");
  assert.equal(allow.headers.get("allow"), "GET, HEAD, POST");
});

Deno.test("http-api: the schema is made once; a restarted API neither re-seeds nor loses rows; SQL sees the table", async () => {
  await using deps = await startDeps();
  {
    await using api = await startApi(deps);
    assert.equal((await api.call("DELETE", "/api/spells/1")).status, 204);
    assert.equal(
      (await api.call("POST", "/api/spells", { name: "Reparo", incantation: "Reparo!" })).status,
      201,
    );
  }
  // Two copies starting together on the existing table: no second seed.
  await using a = await startApi(deps);
  await using b = await startApi(deps);
  const [one, two] = await Promise.all([
    a.call("GET", "/api/spells"),
    b.call("GET", "/api/spells"),
  ]);
  assert.deepEqual((one.body as Json).items.map((s: Json) => s.name), ["Lumos", "Reparo"]);
  assert.deepEqual(one.body, two.body);
  await using pg = await PgClient.connect({ port: deps.datastore.port, user: "spells" });
  const [result] = await pg.query("SELECT name, name_key FROM spells ORDER BY id");
  assert.deepEqual(result.rows, [["Lumos", "lumos"], ["Reparo", "reparo"]]);
});

Deno.test("http-api: /healthz is alive on its own; /readyz has a check and a latency per dependency", async () => {
  await using deps = await startDeps();
  await using api = await startApi(deps);
  assert.equal((await api.call("GET", "/healthz")).status, 200);
  await eventually("ready", async () => (await api.call("GET", "/readyz")).status === 200);
  const ready = (await api.call("GET", "/readyz")).body as Json;
  assert.deepEqual(Object.keys(ready.checks).sort(), ["cache", "datastore", "mq", "objects"]);
  for (const check of Object.values(ready.checks) as Json[]) {
    assert.equal(check.ok, true);
    assert.equal(typeof check.latencyMs, "number");
  }
  // The same on the admin port, as every service has.
  const admin = await api.client.request(
    `http://127.0.0.1:${api.handle.addresses.admin.port}/readyz`,
  );
  assert.equal(admin.status, 200);
  assert.deepEqual(Object.keys((await admin.json<Json>()).checks).sort(), [
    "cache",
    "datastore",
    "mq",
    "objects",
  ]);
});
