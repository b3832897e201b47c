// The app the server tests run: a few routes that exercise bodies, limits,
// streaming and errors.

import { type Handler, json, readJson, readText, text } from "../../../lib/http/message.ts";
import { Router } from "../../../lib/http/router.ts";

export function testRouter(): Router {
  const router = new Router({ bodyLimitBytes: 64 * 1024 });
  router.get("/", () => text("hello"));
  router.get("/spells/:id", (request) => json({ id: request.params.id }));
  router.post("/echo", async (request) => text(await readText(request)));
  router.put("/echo", async (request) => text(await readText(request)));
  router.post("/small", async (request) => text(await readText(request)), { bodyLimitBytes: 16 });
  router.post("/big", async (request) => {
    let total = 0;
    for await (const chunk of request.body ?? []) total += chunk.length;
    return json({ bytes: total });
  }, { bodyLimitBytes: 64 * 1024 * 1024 });
  router.put("/big", async (request) => {
    let total = 0;
    for await (const chunk of request.body ?? []) total += chunk.length;
    return json({ bytes: total });
  }, { bodyLimitBytes: 64 * 1024 * 1024 });
  router.post("/ignore", () => text("ignored"));
  router.post("/trailers", async (request) => {
    const body = await readText(request);
    return json({ body, trailers: request.trailers?.toObject() ?? null });
  });
  router.post("/json", async (request) => json({ got: await readJson(request) }));
  // A buggy handler that forgets to return a response.
  router.get("/nothing", (() => undefined) as unknown as Handler);
  router.get("/boom", () => {
    throw new Error("secret internal detail");
  });
  router.get("/stream", () => ({
    status: 200,
    body: new ReadableStream<Uint8Array>({
      start(controller) {
        for (const part of ["one ", "two ", "three"]) {
          controller.enqueue(new TextEncoder().encode(part));
        }
        controller.close();
      },
    }),
  }));
  return router;
}
