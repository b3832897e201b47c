// Two things a backend can say with its status rather than its connection:
// 5xx answers counted by passive health (`passive.failureStatuses`), and an
// answer that comes before the request body was read (413, 401: RFC 9112
// section 9.5), which must reach the client while the upload is stopped,
// with the client's connection then closed or drained (RFC 9112 9.6).

import assert from "node:assert/strict";
import { HttpClient } from "../../../lib/http/client.ts";
import type { HttpRequest } from "../../../lib/http/message.ts";
import { parseConfig } from "../../../services/lb/config.ts";
import { interopTest } from "../../_support/interop.ts";
import { get, startBackend, startTestLb } from "./_support.ts";

Deno.test("lb config: passive.failureStatuses takes codes and classes, names a bad entry", () => {
  const pool = (failureStatuses?: unknown) =>
    parseConfig({
      pools: { web: { backends: ["http://127.0.0.1:1"], passive: { failureStatuses } } },
      defaultPool: "web",
    }).pools.web.passive.failureStatuses;
  assert.equal(pool().length, 0, "answers are answers by default");
  assert.equal(pool(["5xx"]).length, 100, "a class is its hundred codes");
  assert.deepEqual(pool([]), []);
  assert.deepEqual(pool([503, "4xx"]).slice(-2), [499, 503]);
  assert.throws(
    () => pool(["6xx"]),
    /pools\.web\.passive\.failureStatuses\[0\]: expected a status from 100 to 599/,
  );
  assert.throws(() => pool([99]), /failureStatuses\[0\]/);
});

/** Backend "bad" answers `status` to everything; "good" answers 200. */
async function statusRun(
  status: number,
  failureStatuses: unknown,
): Promise<{ statuses: number[]; ejected: boolean }> {
  const bad = startBackend("bad", { handler: () => ({ status, body: "broken" }) });
  const good = startBackend("good");
  const passive: Record<string, unknown> = { failures: 2, cooldownMs: 60_000 };
  if (failureStatuses !== undefined) passive.failureStatuses = failureStatuses;
  const lb = await startTestLb({
    pools: { web: { backends: [bad.url, good.url], passive } },
    defaultPool: "web",
  });
  const client = new HttpClient();
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await get(client, `${lb.url}/x`)).status);
    const metrics = String(
      (await get(client, `http://127.0.0.1:${lb.addresses.admin.port}/metrics`)).body,
    );
    return {
      statuses,
      ejected: metrics.includes(`lb_backend_ejected{pool="web",backend="${bad.url}"} 1`),
    };
  } finally {
    await client.close();
    await lb.close();
    await bad.close();
    await good.close();
  }
}

Deno.test("lb passive health: consecutive 5xx answers eject a backend; the answers still reach the client", async () => {
  const { statuses, ejected } = await statusRun(500, ["5xx"]);
  // Round robin: bad, good, bad (second 500 in a row from it: ejected), then good only.
  assert.deepEqual(statuses.filter((s) => s === 500).length, 2, statuses.join(","));
  assert.deepEqual(statuses.slice(-5), [200, 200, 200, 200, 200]);
  assert.ok(ejected);
});

Deno.test("lb passive health: only the configured statuses count", async () => {
  for (const statuses of [undefined, []]) {
    const none = await statusRun(500, statuses);
    assert.equal(none.statuses.filter((s) => s === 500).length, 5, "never ejected: none count");
    assert.ok(!none.ejected);
  }
  const other = await statusRun(500, [502, 503]);
  assert.equal(other.statuses.filter((s) => s === 500).length, 5, "500 is not in the list");
  const listed = await statusRun(429, [429]);
  assert.equal(listed.statuses.filter((s) => s === 429).length, 2, "429 listed: ejected");
  assert.ok(listed.ejected);
});

const MIB = 1024 * 1024;
const UPLOAD_BYTES = 64 * MIB;

/** A backend that refuses every POST at once with `status`, reading none of its body. */
function refusingBackend(status: number) {
  const received = { posts: 0, gets: 0 };
  const backend = startBackend("refuser", {
    handler: (request: HttpRequest) => {
      if (request.method === "POST") {
        received.posts++;
        return { status, headers: { "content-type": "text/plain" }, body: "no thanks\n" };
      }
      received.gets++;
      return { status: 200, body: "fine" };
    },
  });
  return { backend, received };
}

/** Reads from `conn` until EOF (or `capBytes`); the text, and whether the peer closed. */
async function readAll(conn: Deno.Conn, capBytes: number): Promise<{ text: string; eof: boolean }> {
  const buf = new Uint8Array(65536);
  let text = "";
  while (text.length < capBytes) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) return { text, eof: true };
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return { text, eof: false };
}

Deno.test("lb relays a backend's early 413 to a client still uploading, stops the upload and closes", async () => {
  const { backend, received } = refusingBackend(413);
  await using lb = await startTestLb({
    pools: { web: { backends: [backend.url] } },
    defaultPool: "web",
  });
  try {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: lb.addresses.http.port });
    const head = `POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: ${UPLOAD_BYTES}\r\n\r\n`;
    await conn.write(new TextEncoder().encode(head));
    // Keep sending (bounded: at most the declared length) while reading the answer.
    const piece = new Uint8Array(256 * 1024).fill(0x61);
    let sent = 0;
    let stop = false;
    const writing = (async () => {
      while (!stop && sent < UPLOAD_BYTES) {
        try {
          sent += await conn.write(piece.subarray(0, Math.min(piece.length, UPLOAD_BYTES - sent)));
        } catch {
          return; // the balancer closed: expected once the answer is out
        }
      }
    })();
    const { text, eof } = await readAll(conn, 64 * 1024);
    stop = true;
    await writing;
    assert.match(text, /^HTTP\/1\.1 413 /, text.slice(0, 200));
    assert.match(text, /\r\nconnection: close\r\n/i, "the unread upload ends the connection");
    assert.match(text, /no thanks\n$/);
    assert.ok(eof, "closed by the balancer");
    assert.ok(sent < UPLOAD_BYTES, `the upload was cut short (${sent} of ${UPLOAD_BYTES} bytes)`);
    assert.equal(received.posts, 1);
    // The backend connection cut mid-body is not reused: the next request is whole.
    const client = new HttpClient();
    try {
      const r = await get(client, `${lb.url}/after`);
      assert.equal(r.status, 200);
      assert.equal(r.body, "fine");
    } finally {
      await client.close();
    }
  } finally {
    await backend.close();
  }
});

Deno.test("lb: lib/http's client gets the early 401 while its own streamed upload is still going", async () => {
  const { backend } = refusingBackend(401);
  await using lb = await startTestLb({
    pools: { web: { backends: [backend.url] } },
    defaultPool: "web",
  });
  const client = new HttpClient();
  try {
    const piece = new Uint8Array(256 * 1024).fill(0x62);
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled >= UPLOAD_BYTES) return controller.close();
        pulled += piece.length;
        controller.enqueue(piece.slice());
      },
    }, { highWaterMark: 0 });
    const response = await client.request(`${lb.url}/upload`, {
      method: "POST",
      headers: { "content-length": String(UPLOAD_BYTES) },
      body,
    });
    assert.equal(response.status, 401);
    assert.equal(await response.text(), "no thanks\n");
    assert.ok(pulled < UPLOAD_BYTES, `upload stopped early (${pulled} bytes pulled)`);
  } finally {
    await client.close();
    await backend.close();
  }
});

interopTest("curl gets a backend's early 413 through the balancer during a 64 MiB upload", {
  binaries: ["curl"],
  async fn() {
    const { backend } = refusingBackend(413);
    await using lb = await startTestLb({
      pools: { web: { backends: [backend.url] } },
      defaultPool: "web",
    });
    const dir = await Deno.makeTempDir({ prefix: "underhood-lb-upload-" });
    try {
      const file = `${dir}/big`;
      using f = await Deno.open(file, { write: true, create: true });
      await f.truncate(UPLOAD_BYTES);
      const out = await new Deno.Command("curl", {
        args: [
          "-sS",
          "-o",
          "-",
          "-w",
          "\n%{http_code} %{size_upload}",
          "-H",
          "expect:",
          "--data-binary",
          `@${file}`,
          `${lb.url}/upload`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
      const [bodyText, summary] = text.split("\n").filter((l) => l !== "").slice(-2);
      assert.equal(bodyText, "no thanks");
      const [code, uploaded] = summary.split(" ");
      assert.equal(code, "413");
      assert.ok(Number(uploaded) < UPLOAD_BYTES, `curl stopped uploading at ${uploaded} bytes`);
    } finally {
      await Deno.remove(dir, { recursive: true });
      await backend.close();
    }
  },
});
