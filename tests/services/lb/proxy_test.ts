// The balancer end to end against small lib/http backends: routing, round
// robin per request on one keep-alive connection, header rewriting, the
// target passed through as received, 404/503/502 of its own.

import assert from "node:assert/strict";
import { HttpClient } from "../../../lib/http/client.ts";
import { decodeRequestHead } from "../../../lib/http/head.ts";
import type { HttpRequest } from "../../../lib/http/message.ts";
import { closeQuietly } from "../../../lib/net/close.ts";
import { forwardHeaders, plainFieldLines } from "../../../services/lb/proxy.ts";
import { DEAD_PORT } from "../../_support/dead_port.ts";
import { get, startBackend, startTestLb } from "./_support.ts";

Deno.test("lb round-robins every request on one keep-alive connection", async () => {
  const a = startBackend("a");
  const b = startBackend("b");
  const lb = await startTestLb({
    pools: { web: { backends: [a.url, b.url] } },
    defaultPool: "web",
  });
  const client = new HttpClient();
  try {
    const names: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await get(client, `${lb.url}/x`);
      assert.equal(r.status, 200);
      names.push((r.body as { name: string }).name);
    }
    assert.deepEqual(names, ["a", "b", "a", "b", "a", "b"]);
    assert.equal(client.idleConnections, 1, "one client connection carried them all");
  } finally {
    await client.close();
    await lb.close();
    await a.close();
    await b.close();
  }
});

function header(seen: [string, string][], name: string): string[] {
  return seen.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);
}

Deno.test("lb rewrites hop-by-hop and forwarding headers both ways", async () => {
  // Raw, since lib/http's server would not send a Connection field of ours.
  const backend = rawBackend(
    "HTTP/1.1 200 OK\r\nx-keep: 1\r\nkeep-alive: timeout=5\r\nx-secret-hop: drop me\r\n" +
      "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n" +
      "connection: x-secret-hop\r\nvia: 1.0 origin\r\ncontent-length: 5\r\n\r\nhello",
  );
  const echo = startBackend("echo");
  const lb = await startTestLb({
    pools: { a: { backends: [backend.url] }, echo: { backends: [echo.url] } },
    routes: [{ prefix: "/echo", pool: "echo" }],
    defaultPool: "a",
  });
  const client = new HttpClient();
  try {
    const r = await get(client, `${lb.url}/x`);
    assert.equal(r.body, "hello");
    assert.equal(r.headers.get("x-keep"), "1");
    assert.equal(r.headers.has("keep-alive"), false);
    assert.equal(r.headers.has("x-secret-hop"), false);
    assert.equal(r.headers.get("via"), "1.0 origin, 1.1 underhood-lb");
    // Date is a singleton: the server writes its own, the backend's is not passed on too.
    const dated = await client.request(`${lb.url}/x`);
    await dated.text();
    assert.equal(dated.headers.count("date"), 1);
    assert.notEqual(dated.headers.get("date"), "Sun, 06 Nov 1994 08:49:37 GMT");

    await get(client, `${lb.url}/echo/y`, {
      headers: {
        host: "Example.COM:8080",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-proto": "https", // a client's claim is replaced
        forwarded: "for=203.0.113.7",
        "x-private": "gone",
        "X-Not-Passed": "gone too",
        connection: "x-private, x-not-passed",
        te: "trailers",
        "keep-alive": "timeout=1",
        "x-kept": "yes",
      },
    });
    const seen = echo.seen.at(-1)!.headers;
    assert.deepEqual(header(seen, "host"), ["Example.COM:8080"]);
    assert.deepEqual(header(seen, "x-forwarded-for"), ["203.0.113.7, 127.0.0.1"]);
    assert.deepEqual(header(seen, "x-forwarded-proto"), ["http"]);
    assert.deepEqual(header(seen, "x-forwarded-host"), ["Example.COM:8080"]);
    assert.deepEqual(header(seen, "forwarded"), [
      'for=203.0.113.7, for=127.0.0.1;proto=http;host="Example.COM:8080"',
    ]);
    assert.deepEqual(header(seen, "via"), ["1.1 underhood-lb"]);
    assert.deepEqual(header(seen, "x-kept"), ["yes"]);
    for (const gone of ["x-private", "x-not-passed", "te", "keep-alive", "connection"]) {
      assert.deepEqual(header(seen, gone), [], gone);
    }
  } finally {
    await client.close();
    await lb.close();
    await backend.close();
    await echo.close();
  }
});

Deno.test("lb relays a plain small answer as received, Via appended, to 1.1, 1.0 and closing clients", async () => {
  // No field this hop acts on: the fast path sends the backend's field lines
  // byte for byte (names' case and its Date kept) after our status line.
  const fields = "X-Case: Kept\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 5\r\n";
  const backend = rawBackend(`HTTP/1.1 200 Fine\r\n${fields}\r\nhello`);
  await using lb = await startTestLb({
    pools: { a: { backends: [backend.url] } },
    defaultPool: "a",
  });
  const port = lb.addresses.http.port;
  const expected = (connection: string) =>
    `HTTP/1.1 200 OK\r\n${fields}via: 1.1 underhood-lb\r\n${connection}\r\nhello`;
  try {
    const cases = [
      ["GET / HTTP/1.1\r\nHost: a\r\n\r\n", expected(""), false],
      [
        "GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
        expected("connection: keep-alive\r\n"),
        false,
      ],
      [
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        expected("connection: close\r\n"),
        true,
      ],
    ] as const;
    for (const [request, answer, closes] of cases) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        // Twice on one connection unless it closes: the second comes over the pooled backend connection.
        for (let i = 0; i < (closes ? 1 : 2); i++) {
          await conn.write(new TextEncoder().encode(request));
          assert.equal(await readExactly(conn, answer.length), answer, request);
        }
        if (closes) assert.equal(await conn.read(new Uint8Array(1)), null);
      } finally {
        closeQuietly(conn);
      }
    }
  } finally {
    await backend.close();
  }
});

/** Reads `length` bytes (or to EOF) as text. */
async function readExactly(conn: Deno.Conn, length: number): Promise<string> {
  const out = new Uint8Array(length);
  let at = 0;
  while (at < length) {
    const n = await conn.read(out.subarray(at));
    if (n === null) break;
    at += n;
  }
  return new TextDecoder().decode(out.subarray(0, at));
}

Deno.test("lb passes the request target exactly as received, or with its prefix stripped", async () => {
  const echo = startBackend("echo");
  const lb = await startTestLb({
    pools: { echo: { backends: [echo.url] } },
    routes: [{ prefix: "/files/", pool: "echo", stripPrefix: true }],
    defaultPool: "echo",
  });
  const client = new HttpClient();
  try {
    for (const target of ["/a/../b", "/a//b?x=%zz&y", "/%2e%2e/x", "/files"]) {
      await get(client, lb.url, { target });
      assert.equal(echo.seen.at(-1)!.target, target);
    }
    await get(client, lb.url, { target: "/files/a/../b?v=1" });
    assert.equal(echo.seen.at(-1)!.target, "/a/../b?v=1");
  } finally {
    await client.close();
    await lb.close();
    await echo.close();
  }
});

Deno.test("lb answers 404 with no route, 503 + Retry-After with no backend up, and debug headers", async () => {
  const a = startBackend("a");
  const lb = await startTestLb({
    pools: {
      a: { backends: [a.url] },
      // Nothing listens here once the probe socket is closed; ejected after one failure.
      dead: {
        backends: [a.url.replace(/:\d+$/, ":1")],
        passive: { failures: 1, cooldownMs: 30_000 },
        retries: 0,
      },
    },
    routes: [{ prefix: "/a", pool: "a" }, { prefix: "/dead", pool: "dead" }],
    debugHeader: true,
  });
  const client = new HttpClient();
  try {
    const missing = await get(client, `${lb.url}/nowhere`);
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, { error: "no route matches this request" });
    const ok = await get(client, `${lb.url}/a/1`);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("x-lb-debug"), `rule=0; backend=${a.url}; attempt=1`);
    const failed = await get(client, `${lb.url}/dead`);
    assert.equal(failed.status, 502);
    assert.match((failed.body as { error: string }).error, /cannot connect to backend/);
    const none = await get(client, `${lb.url}/dead`);
    assert.equal(none.status, 503);
    assert.equal(none.headers.get("retry-after"), "30");
    assert.deepEqual(none.body, { error: "no healthy backend in pool dead" });
  } finally {
    await client.close();
    await lb.close();
    await a.close();
  }
});

Deno.test("lb retries an idempotent request on another backend when one refuses, not a POST with a body", async () => {
  const a = startBackend("a");
  const lb = await startTestLb({
    pools: {
      web: {
        backends: [`http://127.0.0.1:${DEAD_PORT}`, a.url],
        passive: { failures: 0, cooldownMs: 0 }, // keep the dead one in rotation
      },
    },
    defaultPool: "web",
    debugHeader: true,
  });
  const client = new HttpClient();
  try {
    for (let i = 0; i < 4; i++) {
      const r = await get(client, `${lb.url}/x`);
      assert.equal(r.status, 200, "a refused connection is retried for any method");
    }
    // A POST whose connection was refused was never sent: retried as well.
    const post = await client.request(`${lb.url}/p`, { method: "POST", body: "data" });
    assert.equal(post.status, 200);
    await post.text();
  } finally {
    await client.close();
    await lb.close();
    await a.close();
  }
});

Deno.test("lb retries a GET whose backend closes without answering, but not a POST", async () => {
  // A backend that reads a head and closes the connection without a byte.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let accepted = 0;
  const serving = (async () => {
    for await (const conn of listener) {
      accepted++;
      const buf = new Uint8Array(4096);
      await conn.read(buf).catch(() => null);
      conn.close();
    }
  })();
  const good = startBackend("good");
  const lb = await startTestLb({
    pools: {
      web: {
        algorithm: "weighted-round-robin",
        backends: [{ url: `http://127.0.0.1:${listener.addr.port}`, weight: 100 }, good.url],
        passive: { failures: 0, cooldownMs: 0 },
      },
    },
    defaultPool: "web",
  });
  const client = new HttpClient();
  try {
    const r = await get(client, `${lb.url}/x`);
    assert.equal(r.status, 200);
    assert.equal((r.body as { name: string }).name, "good");
    const post = await client.request(`${lb.url}/p`, { method: "POST", body: "once" });
    assert.equal(post.status, 502, "a POST that reached a backend is not sent twice");
    await post.text();
    assert.equal(good.seen.filter((s) => s.method === "POST").length, 0);
  } finally {
    await client.close();
    await lb.close();
    await good.close();
    listener.close();
    await serving.catch(() => {});
  }
  assert.ok(accepted >= 2);
});

Deno.test("lb answers 504 when a backend sends no response head in time, and does not retry it", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const serving = (async () => {
    for await (const conn of listener) held.push(conn); // reads nothing, answers nothing
  })();
  const lb = await startTestLb({
    pools: {
      slow: {
        backends: [`http://127.0.0.1:${listener.addr.port}`],
        timeouts: { responseHeaderMs: 200 },
      },
    },
    defaultPool: "slow",
  });
  const client = new HttpClient();
  try {
    const r = await get(client, `${lb.url}/x`);
    assert.equal(r.status, 504);
    assert.match((r.body as { error: string }).error, /no response head within 200 ms/);
    assert.equal(held.length, 1, "no second attempt");
  } finally {
    await client.close();
    await lb.close();
    for (const conn of held) conn.close();
    listener.close();
    await serving.catch(() => {});
  }
});

/** A backend that answers every request head with `response`, byte for byte. */
function rawBackend(response: string): { url: string; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const handlers: Promise<void>[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      handlers.push((async () => {
        const buf = new Uint8Array(16 * 1024);
        let pending = "";
        while (true) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) break;
          pending += new TextDecoder().decode(buf.subarray(0, n));
          while (pending.includes("\r\n\r\n")) {
            pending = pending.slice(pending.indexOf("\r\n\r\n") + 4);
            await conn.write(new TextEncoder().encode(response)).catch(() => {});
          }
        }
        conns.delete(conn);
        closeQuietly(conn);
      })());
    }
  })();
  return {
    url: `http://127.0.0.1:${listener.addr.port}`,
    async close() {
      listener.close();
      for (const conn of conns) closeQuietly(conn);
      await serving.catch(() => {});
      await Promise.all(handlers);
    },
  };
}

Deno.test("lb answers 504 when a backend stalls inside a small body, 502 when it drops it", async () => {
  const stall = rawBackend("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    for await (const conn of listener) {
      await conn.read(new Uint8Array(4096)).catch(() => null);
      await conn.write(
        new TextEncoder().encode("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"),
      );
      conn.close();
    }
  })();
  const lb = await startTestLb({
    pools: {
      stall: { backends: [stall.url], timeouts: { idleMs: 200 } },
      drop: { backends: [`http://127.0.0.1:${listener.addr.port}`] },
    },
    routes: [{ prefix: "/stall", pool: "stall" }, { prefix: "/drop", pool: "drop" }],
  });
  const client = new HttpClient();
  try {
    const stalled = await get(client, `${lb.url}/stall`);
    assert.equal(stalled.status, 504);
    assert.match(
      (stalled.body as { error: string }).error,
      /stalled for 200 ms inside its response body/,
    );
    const dropped = await get(client, `${lb.url}/drop`);
    assert.equal(dropped.status, 502);
    assert.match(
      (dropped.body as { error: string }).error,
      /closed the connection inside its response body/,
    );
  } finally {
    await client.close();
    await lb.close();
    await stall.close();
    listener.close();
    await serving.catch(() => {});
  }
});

Deno.test("lb answers 502 when a backend switches protocols unasked", async () => {
  const backend = rawBackend(
    "HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\nconnection: upgrade\r\n\r\n",
  );
  const lb = await startTestLb({ pools: { b: { backends: [backend.url] } }, defaultPool: "b" });
  const client = new HttpClient();
  try {
    const r = await get(client, `${lb.url}/x`);
    assert.equal(r.status, 502);
    assert.match((r.body as { error: string }).error, /switched protocols unasked/);
  } finally {
    await client.close();
    await lb.close();
    await backend.close();
  }
});

/** A request as lib/http's server decodes it, from `client`. */
function decodedRequest(head: string, client: string): HttpRequest {
  const decoded = decodeRequestHead(new TextEncoder().encode(head));
  if ("incomplete" in decoded) throw new Error("incomplete head");
  const value = decoded.value;
  return {
    method: value.method,
    target: value.target,
    path: value.path,
    query: value.query,
    version: value.version,
    headers: value.headers,
    body: null,
    params: {},
    bodyLimitBytes: 0,
    remoteAddr: { transport: "tcp", hostname: client, port: 1 },
  };
}

Deno.test({
  name: "plainFieldLines() passes plain field lines on as received, with what forwardHeaders adds",
  permissions: "none",
  fn() {
    const plain = [
      ["GET / HTTP/1.1\r\nHost: a\r\n\r\n", "127.0.0.1"],
      ["GET /x HTTP/1.1\r\nhost: Example.COM:8080\r\nX-Case: Kept\r\nAccept:  */* \r\n\r\n", "::1"],
      ["DELETE /x HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n", "127.0.0.2"],
    ];
    for (const [head, client] of plain) {
      const request = decodedRequest(head, client);
      const lines = plainFieldLines(request);
      const fields = head.slice(head.indexOf("\r\n") + 2, -2);
      assert.ok(lines?.startsWith(fields), head);
      // The same fields as the general path, in the same order (values trimmed there).
      const expected = forwardHeaders(decodedRequest(head, client));
      const got = new TextDecoder().decode(
        new TextEncoder().encode(lines),
      ).split("\r\n").filter((l) => l !== "").map((l) => {
        const colon = l.indexOf(":");
        return [l.slice(0, colon), l.slice(colon + 1).trim()];
      });
      assert.deepEqual(got, expected, head);
    }
    const rewritten = [
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nVIA: 1.0 x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nTE: trailers\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nForwarded: for=x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\n\r\n",
      "GET / HTTP/1.0\r\n\r\n", // no Host
    ];
    for (const head of rewritten) {
      assert.equal(plainFieldLines(decodedRequest(head, "127.0.0.1")), undefined, head);
    }
  },
});
