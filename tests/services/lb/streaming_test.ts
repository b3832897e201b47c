// Bodies streamed through the balancer both ways with flat memory: a
// 200 MiB upload and a 200 MiB download grow the balancer process's RSS
// (sampled all along) by far less than their size. Plus chunked and fixed-length bodies, HEAD, and
// Expect: 100-continue on a raw socket.

import assert from "node:assert/strict";
import { HttpClient } from "../../../lib/http/client.ts";
import type { HttpRequest } from "../../../lib/http/message.ts";
import { spawnService } from "../../_support/subprocess.ts";
import { startBackend, startTestLb } from "./_support.ts";

const MIB = 1024 * 1024;
const BIG_BYTES = 200 * MIB;
/** Far under the body size: the body must never be held whole. */
const RSS_GROWTH_BYTES_MAX = 64 * MIB;

function pieces(total: number, pieceBytes = 64 * 1024): ReadableStream<Uint8Array> {
  const piece = new Uint8Array(pieceBytes).fill(0x61);
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      const n = Math.min(pieceBytes, total - sent);
      sent += n;
      // A fresh view each time: the writer may still hold the last one.
      controller.enqueue(n === pieceBytes ? piece.slice() : piece.subarray(0, n).slice());
    },
  }, { highWaterMark: 0 });
}

async function drainCount(body: ReadableStream<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const chunk of body) n += chunk.length;
  return n;
}

/** The resident set of process `pid` in bytes (Linux /proc), or undefined elsewhere. */
async function rssOf(pid: number): Promise<number | undefined> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const kib = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}

Deno.test("lb streams a 200 MiB upload and a 200 MiB download with flat memory", async (t) => {
  let uploaded = 0;
  const backend = startBackend("big", {
    handler: async (request: HttpRequest) => {
      if (request.method === "POST") {
        uploaded = await drainCount(request.body!);
        return { status: 200, body: String(uploaded) };
      }
      return {
        status: 200,
        headers: { "content-length": String(BIG_BYTES) },
        body: pieces(BIG_BYTES),
      };
    },
  });
  // The balancer in a process of its own, so its memory is measured alone
  // (test modules run in parallel share this one).
  const lb = await spawnService(
    ["lb", "--port", "0", "--admin-port", "0", "--backend", backend.url],
    { roles: ["http"] },
  );
  const client = new HttpClient();
  try {
    const pid = lb.process.pid;
    const url = `http://127.0.0.1:${lb.ports.http}`;
    // Warm up: code compiled and buffers made before the baseline is taken.
    await (await client.request(`${url}/warm`, { method: "POST", body: "x" })).text();
    const before = await rssOf(pid);
    if (before === undefined) {
      console.log("skipped: no /proc to read the balancer's memory from");
      return;
    }
    let peak = before;
    let sampling = true;
    const sampler = (async () => {
      // Bounded: at most 20 minutes of 50 ms samples, stopped when the transfers end.
      for (let i = 0; sampling && i < 24_000; i++) {
        peak = Math.max(peak, (await rssOf(pid)) ?? 0);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await t.step("upload", async () => {
      const up = await client.request(`${url}/upload`, {
        method: "POST",
        headers: { "content-length": String(BIG_BYTES) },
        body: pieces(BIG_BYTES),
      });
      assert.equal(up.status, 200);
      assert.equal(await up.text(), String(BIG_BYTES));
    });
    await t.step("download", async () => {
      const down = await client.request(`${url}/download`);
      assert.equal(down.status, 200);
      assert.equal(down.headers.get("content-length"), String(BIG_BYTES));
      assert.equal(await drainCount(down.body), BIG_BYTES);
    });
    sampling = false;
    await sampler;
    peak = Math.max(peak, (await rssOf(pid)) ?? 0);
    assert.ok(
      peak - before < RSS_GROWTH_BYTES_MAX,
      `moving 2 x 200 MiB grew the balancer's RSS by ${((peak - before) / MIB).toFixed(1)} MiB`,
    );
  } finally {
    await client.close();
    lb.kill("SIGTERM");
    await lb.exited();
    await backend.close();
  }
});

Deno.test("lb forwards chunked and fixed-length bodies both ways, and HEAD", async () => {
  const backend = startBackend("echo", {
    handler: async (request: HttpRequest) => {
      const body = request.body === null ? "" : await new Response(request.body).text();
      const te = request.headers.get("transfer-encoding") ?? "-";
      const length = request.headers.get("content-length") ?? "-";
      const text = `${request.method} te=${te} length=${length} body=${body}`;
      if (request.path === "/chunked") {
        return { status: 200, body: ReadableStream.from([new TextEncoder().encode(text)]) };
      }
      return { status: 200, headers: { "x-len": String(text.length) }, body: text };
    },
  });
  const lb = await startTestLb({
    pools: { echo: { backends: [backend.url] } },
    defaultPool: "echo",
  });
  const client = new HttpClient();
  try {
    const fixed = await client.request(`${lb.url}/fixed`, { method: "PUT", body: "hello" });
    assert.equal(await fixed.text(), "PUT te=- length=5 body=hello");
    // A small chunked body is read whole first and sent with a length...
    const smallChunked = await client.request(`${lb.url}/fixed`, {
      method: "POST",
      body: ReadableStream.from([new TextEncoder().encode("he"), new TextEncoder().encode("llo")]),
    });
    assert.equal(await smallChunked.text(), "POST te=- length=5 body=hello");
    // ...a large one streams on chunked.
    const big = "x".repeat(100 * 1024);
    const bigChunked = await client.request(`${lb.url}/fixed`, {
      method: "POST",
      body: ReadableStream.from([
        new TextEncoder().encode(big.slice(0, 70_000)),
        new TextEncoder().encode(big.slice(70_000)),
      ]),
    });
    assert.equal(await bigChunked.text(), `POST te=chunked length=- body=${big}`);
    const chunkedDown = await client.request(`${lb.url}/chunked`);
    assert.equal(chunkedDown.headers.get("transfer-encoding"), "chunked");
    assert.equal(await chunkedDown.text(), "GET te=- length=- body=");
    const head = await client.request(`${lb.url}/fixed`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), "24"); // "HEAD te=- length=- body="
    assert.equal(await head.text(), "");
    // The connection is still in step after HEAD.
    assert.equal(await (await client.request(`${lb.url}/fixed`)).text(), "GET te=- length=- body=");
  } finally {
    await client.close();
    await lb.close();
    await backend.close();
  }
});

Deno.test("lb answers Expect: 100-continue itself and forwards the body after it", async () => {
  const backend = startBackend("echo", {
    handler: async (request: HttpRequest) => ({
      status: 200,
      body: `expect=${request.headers.get("expect") ?? "-"} body=${await new Response(request.body)
        .text()}`,
    }),
  });
  const lb = await startTestLb({
    pools: { echo: { backends: [backend.url] } },
    defaultPool: "echo",
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: lb.addresses.http.port });
  try {
    await conn.write(new TextEncoder().encode(
      "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    ));
    const buf = new Uint8Array(4096);
    let text = "";
    while (!text.includes("\r\n\r\n")) {
      const n = await conn.read(buf);
      assert.notEqual(n, null);
      text += new TextDecoder().decode(buf.subarray(0, n!));
    }
    assert.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\n$/);
    await conn.write(new TextEncoder().encode("hello"));
    text = "";
    while (!text.endsWith("body=hello")) {
      const n = await conn.read(buf);
      assert.notEqual(n, null);
      text += new TextDecoder().decode(buf.subarray(0, n!));
    }
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(
      text.endsWith("expect=- body=hello"),
      "the Expect field is this hop's, not forwarded",
    );
  } finally {
    conn.close();
    await lb.close();
    await backend.close();
  }
});
