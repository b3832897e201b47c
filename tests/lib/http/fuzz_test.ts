// Throws random and mutated requests at a live server (seeded, so a failure
// replays) and checks that every answer is a well-formed HTTP response with
// a 2xx or 4xx/501/505 status (never a 500, never a hang) and that the server
// still answers a good request afterwards. Bounded: 1000 inputs, 8 at a time.

import assert from "node:assert/strict";
import { concat } from "../../../lib/bytes.ts";
import { isIncomplete } from "../../../lib/decode.ts";
import { decodeResponseHead } from "../../../lib/http/head.ts";
import { json, readText, text } from "../../../lib/http/message.ts";
import { Router } from "../../../lib/http/router.ts";
import { serveHttp } from "../../../lib/http/server.ts";
import { GOOD_REQUEST, RawClient } from "./_raw.ts";

const INPUTS = 1000;
const PARALLEL = 8;
const ALLOWED = new Set([200, 400, 404, 405, 408, 413, 414, 415, 417, 431, 501, 505]);

const SEEDS = [
  "GET /spells/1?x=2 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n",
  "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
  "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n",
  "PUT /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
  "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.1\r\nHost: b\r\n\r\n",
];
const INTERESTING = [0x00, 0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x2c, 0x3b, 0x30, 0x66, 0x2d, 0x7f, 0xff];

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeInput(random: () => number): Uint8Array {
  const int = (n: number) => Math.floor(random() * n);
  if (random() < 0.15) return Uint8Array.from({ length: int(300) }, () => int(256));
  let bytes = Array.from(new TextEncoder().encode(SEEDS[int(SEEDS.length)]));
  const mutations = 1 + int(4);
  for (let m = 0; m < mutations && bytes.length > 0; m++) {
    const at = int(bytes.length);
    switch (int(5)) {
      case 0:
        bytes[at] = int(256);
        break;
      case 1:
        bytes.splice(at, 0, INTERESTING[int(INTERESTING.length)]);
        break;
      case 2:
        bytes.splice(at, 1 + int(8));
        break;
      case 3:
        bytes.splice(at, 0, ...bytes.slice(at, at + 1 + int(16)));
        break;
      default:
        bytes = bytes.slice(0, at);
    }
  }
  return Uint8Array.from(bytes);
}

async function exchange(port: number, input: Uint8Array): Promise<number[]> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(input).catch(() => 0);
    await conn.closeWrite().catch(() => {});
    // Read until the server closes (it must: our side has ended).
    let received = new Uint8Array(0);
    const buf = new Uint8Array(16 * 1024);
    while (true) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      received = concat([received, buf.subarray(0, n)]);
    }
    const statuses: number[] = [];
    let rest = received;
    while (rest.length > 0) {
      const decoded = decodeResponseHead(rest);
      assert.ok(
        !isIncomplete(decoded),
        `not an HTTP response: ${JSON.stringify(new TextDecoder().decode(rest).slice(0, 80))}`,
      );
      statuses.push(decoded.value.status);
      const length = Number(decoded.value.headers.get("content-length") ?? 0);
      rest = rest.subarray(decoded.bytesUsed + (decoded.value.status === 100 ? 0 : length));
    }
    return statuses;
  } finally {
    conn.close();
  }
}

Deno.test("the server survives random and mutated requests and keeps answering", async () => {
  const router = new Router({ bodyLimitBytes: 1024 });
  router.get("/", () => text("hello"));
  router.get("/spells/:id", (r) => json({ id: r.params.id }));
  router.post("/echo", async (r) => text(await readText(r)));
  router.put("/echo", async (r) => text(await readText(r)));
  await using server = serveHttp({
    handler: router.handle,
    headerTimeoutMs: 2_000,
    bodyTimeoutMs: 2_000,
  });
  const random = prng(20261124);
  const seen = new Map<number, number>();
  const inputs = Array.from({ length: INPUTS }, () => makeInput(random));
  for (let i = 0; i < inputs.length; i += PARALLEL) {
    const batch = inputs.slice(i, i + PARALLEL);
    const results = await Promise.all(batch.map((input) => exchange(server.addr.port, input)));
    results.forEach((statuses, j) => {
      for (const s of statuses) seen.set(s, (seen.get(s) ?? 0) + 1);
      for (const status of statuses) {
        if (status === 100) continue;
        assert.ok(
          ALLOWED.has(status),
          `input ${i + j} got ${status}: ${JSON.stringify(new TextDecoder().decode(batch[j]))}`,
        );
      }
    });
  }
  // The inputs reach both the handlers and the error paths.
  assert.ok((seen.get(200) ?? 0) > 0 && (seen.get(400) ?? 0) > 0, JSON.stringify([...seen]));
  using probe = await RawClient.connect(server.addr.port);
  await probe.send(GOOD_REQUEST);
  assert.equal((await probe.response())?.status, 200);
});
