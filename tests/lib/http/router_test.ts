// Router: parameters, 404, 405 with Allow, HEAD falling back to GET, the
// per-route body limit, and JSON helpers, all without a socket.

import assert from "node:assert/strict";
import { HttpError } from "../../../lib/http/errors.ts";
import { HttpHeaders } from "../../../lib/http/headers.ts";
import { json, makeRequest, readJson } from "../../../lib/http/message.ts";
import { Router } from "../../../lib/http/router.ts";

function router(): Router {
  return new Router()
    .get("/api/spells", () => json([]))
    .get("/api/spells/:id", (r) => json({ id: r.params.id }))
    .delete("/api/spells/:id", () => ({ status: 204 }))
    .post("/api/spells", async (r) => json(await readJson(r), 201), { bodyLimitBytes: 32 })
    .get("/files/*", (r) => json({ key: r.params["*"] }));
}

function body(response: { body?: unknown }): unknown {
  return JSON.parse(String(response.body));
}

Deno.test({
  name: "Router matches parameters and wildcards, percent-decoded",
  permissions: "none",
  async fn() {
    const r = router();
    assert.deepEqual(body(await r.handle(makeRequest("GET", "/api/spells/a%20b?x=1"))), {
      id: "a b",
    });
    assert.deepEqual(body(await r.handle(makeRequest("GET", "/files/a/b/c.txt"))), {
      key: "a/b/c.txt",
    });
    assert.equal((await r.handle(makeRequest("DELETE", "/api/spells/7"))).status, 204);
  },
});

Deno.test({
  name: "Router answers 404 for unknown paths and 405 with Allow for other methods",
  permissions: "none",
  async fn() {
    const r = router();
    assert.equal((await r.handle(makeRequest("GET", "/nope"))).status, 404);
    const wrong = await r.handle(makeRequest("PUT", "/api/spells/1"));
    assert.equal(wrong.status, 405);
    assert.equal((wrong.headers as Record<string, string>).allow, "DELETE, GET, HEAD");
    assert.equal((await r.handle(makeRequest("HEAD", "/api/spells"))).status, 200);
  },
});

Deno.test({
  name: "Router refuses a declared body over the route limit with 413 before reading",
  permissions: "none",
  async fn() {
    const r = router();
    const headers = new HttpHeaders({ "content-length": "100" });
    await assert.rejects(
      async () => await r.handle(makeRequest("POST", "/api/spells", { headers, body: "x" })),
      (e) => e instanceof HttpError && e.status === 413,
    );
    // A server request says what its head declared without the headers being read.
    const declared = {
      ...makeRequest("POST", "/api/spells", { body: "x" }),
      declaredBodyBytes: 100,
    };
    await assert.rejects(
      async () => await r.handle(declared),
      (e) => e instanceof HttpError && e.status === 413,
    );
  },
});

Deno.test({
  name: "readJson says what is wrong with a body: empty, bad JSON, wrong type, too large",
  permissions: "none",
  async fn() {
    const r = router();
    const post = (body: string, type = "application/json") =>
      r.handle(
        makeRequest("POST", "/api/spells", {
          headers: new HttpHeaders({ "content-type": type }),
          body,
        }),
      );
    assert.equal((await post('{"name":"x"}')).status, 201);
    await assert.rejects(async () => await post(""), /empty/);
    await assert.rejects(
      async () => await post("{bad"),
      (e) => e instanceof HttpError && e.status === 400 && /invalid JSON/.test(e.message),
    );
    await assert.rejects(
      async () => await post("{}", "text/plain"),
      (e) => e instanceof HttpError && e.status === 415,
    );
    await assert.rejects(
      async () => await post(`{"a":"${"x".repeat(64)}"}`),
      (e) => e instanceof HttpError && e.status === 413,
    );
  },
});
