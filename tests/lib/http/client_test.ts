// HttpClient against lib/http's server and against scripted bad servers:
// pooled keep-alive reuse, chunked both ways, retry of a stale pooled
// connection, and the error codes for connect, timeout and protocol faults.

import assert from "node:assert/strict";
import { type ExchangeHandler, HttpClient, HttpClientError } from "../../../lib/http/client.ts";
import { json, readText, text } from "../../../lib/http/message.ts";
import { Router } from "../../../lib/http/router.ts";
import { serveHttp } from "../../../lib/http/server.ts";
import { DEAD_PORT } from "../../_support/dead_port.ts";

function app(): Router {
  const router = new Router();
  router.get("/port", (request) => json({ port: request.remoteAddr?.port }));
  router.post("/echo", async (request) => text(await readText(request)));
  router.get("/stream", () => ({
    status: 200,
    body: ReadableStream.from(["a", "b", "c"].map((s) => new TextEncoder().encode(s))),
  }));
  return router;
}

Deno.test("HttpClient reuses one pooled connection for sequential requests", async () => {
  await using server = serveHttp({ handler: app().handle });
  await using client = new HttpClient();
  const url = `http://127.0.0.1:${server.addr.port}/port`;
  const ports = new Set<number>();
  for (let i = 0; i < 5; i++) {
    const response = await client.request(url);
    ports.add((await response.json<{ port: number }>()).port);
  }
  assert.equal(ports.size, 1);
  assert.equal(client.idleConnections, 1);
});

Deno.test("HttpClient sends a stream chunked and reads a chunked response", async () => {
  await using server = serveHttp({ handler: app().handle });
  await using client = new HttpClient();
  const base = `http://127.0.0.1:${server.addr.port}`;
  const body = ReadableStream.from(
    ["hello ", "chunked ", "world"].map((s) => new TextEncoder().encode(s)),
  );
  const echoed = await client.request(`${base}/echo`, { method: "POST", body });
  assert.equal(await echoed.text(), "hello chunked world");
  const streamed = await client.request(`${base}/stream`);
  assert.equal(streamed.headers.get("transfer-encoding"), "chunked");
  assert.equal(await streamed.text(), "abc");
  const head = await client.request(`${base}/stream`, { method: "HEAD" });
  assert.equal(await head.text(), "");
});

Deno.test("HttpClient retries an idempotent request once when the server closed the pooled connection", async () => {
  await using server = serveHttp({ handler: app().handle, idleTimeoutMs: 100 });
  await using client = new HttpClient({ idleTimeoutMs: 30_000 });
  const url = `http://127.0.0.1:${server.addr.port}/port`;
  await (await client.request(url)).text();
  // Wait until the server has dropped the idle connection.
  for (let i = 0; i < 100 && server.connections > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const response = await client.request(url);
  assert.equal(response.status, 200);
  await response.text();
});

function scriptedServer(script: (conn: Deno.Conn) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      script(conn).catch(() => {});
    }
  })();
  return {
    port: listener.addr.port,
    async [Symbol.asyncDispose]() {
      listener.close();
      await loop.catch(() => {});
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
    },
  };
}

Deno.test("HttpClient reports connect failures, timeouts and bad responses by code", async () => {
  await using client = new HttpClient({ headerTimeoutMs: 200 });
  await assert.rejects(
    client.request(`http://127.0.0.1:${DEAD_PORT}/`),
    (e) => e instanceof HttpClientError && e.code === "connect",
  );

  await using silent = scriptedServer(async (conn) => {
    await conn.read(new Uint8Array(1024));
  });
  await assert.rejects(
    client.request(`http://127.0.0.1:${silent.port}/`),
    (e) => e instanceof HttpClientError && e.code === "timeout",
  );

  await using garbage = scriptedServer(async (conn) => {
    await conn.read(new Uint8Array(1024));
    await conn.write(new TextEncoder().encode("SMTP ready\r\n\r\n"));
  });
  await assert.rejects(
    client.request(`http://127.0.0.1:${garbage.port}/`),
    (e) => e instanceof HttpClientError && e.code === "protocol",
  );

  await using truncated = scriptedServer(async (conn) => {
    await conn.read(new Uint8Array(1024));
    await conn.write(new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"));
    conn.close();
  });
  const response = await client.request(`http://127.0.0.1:${truncated.port}/`);
  await assert.rejects(response.text(), (e) => e instanceof HttpClientError && e.code === "closed");

  await assert.rejects(
    client.request("ftp://x/"),
    (e) => e instanceof HttpClientError && e.code === "usage",
  );
});

Deno.test("HttpClient times out a stalled body and drops idle pooled connections", async () => {
  await using stalled = scriptedServer(async (conn) => {
    await conn.read(new Uint8Array(1024));
    await conn.write(new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab"));
    await conn.read(new Uint8Array(1024)); // holds the connection open without sending more
  });
  await using client = new HttpClient({ bodyTimeoutMs: 200, idleTimeoutMs: 100 });
  const response = await client.request(`http://127.0.0.1:${stalled.port}/`);
  await assert.rejects(
    response.text(),
    (e) => e instanceof HttpClientError && e.code === "timeout",
  );

  await using server = serveHttp({ handler: app().handle });
  await (await client.request(`http://127.0.0.1:${server.addr.port}/port`)).text();
  assert.equal(client.idleConnections, 1);
  for (let i = 0; i < 100 && client.idleConnections > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal(client.idleConnections, 0);
});

Deno.test("HttpClient reads a sized body that arrives in pieces, whole or as a stream, and reuses the connection", async () => {
  const encoder = new TextEncoder();
  const pause = () => new Promise((resolve) => setTimeout(resolve, 10));
  await using pieces = scriptedServer(async (conn) => {
    const buf = new Uint8Array(4096);
    for (let request = 0; request < 2; request++) {
      await conn.read(buf);
      await conn.write(encoder.encode("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"));
      await pause();
      await conn.write(encoder.encode("def"));
      await pause();
      await conn.write(encoder.encode("ghi"));
    }
  });
  await using client = new HttpClient();
  const url = `http://127.0.0.1:${pieces.port}/`;
  assert.equal(await (await client.request(url)).text(), "abcdefghi");
  assert.equal(client.idleConnections, 1);
  // The second request goes over the same connection (the script serves two on one).
  const streamed = await client.request(url);
  const chunks: string[] = [];
  for await (const chunk of streamed.body) chunks.push(new TextDecoder().decode(chunk));
  assert.equal(chunks.join(""), "abcdefghi");
  assert.equal(client.idleConnections, 1);
});

Deno.test("HttpClient bufferedBody() gives a sized body whole when it has all arrived, else nothing", async () => {
  const encoder = new TextEncoder();
  const rest = Promise.withResolvers<void>();
  await using server = scriptedServer(async (conn) => {
    const buf = new Uint8Array(4096);
    // First answer: head and body in one write. Second: the body's end comes when told.
    await conn.read(buf);
    await conn.write(encoder.encode("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"));
    await conn.read(buf);
    await conn.write(encoder.encode("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nwo"));
    await rest.promise;
    await conn.write(encoder.encode("rld"));
  });
  await using client = new HttpClient({ keepHeadBytes: true });
  const url = `http://127.0.0.1:${server.port}/`;
  const whole = await client.request(url);
  // The head as received, kept for a proxy that relays it as bytes.
  assert.equal(
    new TextDecoder().decode(whole.headBytes),
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
  );
  // With headroom: the body lands after that many zero bytes, for a head the caller writes there.
  const placed = whole.bufferedBody(3)!;
  assert.deepEqual([...placed], [0, 0, 0, ...encoder.encode("hello")]);
  // Finished: the connection is back in the pool, and the second request reuses it.
  assert.equal(client.idleConnections, 1);
  const partial = await client.request(url);
  // At most 2 of the 5 body bytes are here: nothing is taken, and the body still reads whole.
  assert.equal(partial.bufferedBody(), undefined);
  assert.equal(client.idleConnections, 0);
  rest.resolve();
  assert.equal(await partial.text(), "world");
  assert.equal(client.idleConnections, 1);
});

Deno.test("HttpClient readBodyInto() reads a body into the caller's buffer: sized, chunked, cut short", async () => {
  const encoder = new TextEncoder();
  const rest = Promise.withResolvers<void>();
  await using server = scriptedServer(async (conn) => {
    const buf = new Uint8Array(4096);
    // 1: part of a sized body with the head, the rest later (read past the buffer).
    await conn.read(buf);
    await conn.write(encoder.encode("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"));
    await rest.promise;
    await conn.write(encoder.encode("defghij"));
    // 2: chunked, a chunk larger than the caller's buffer.
    await conn.read(buf);
    await conn.write(
      encoder.encode(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nklmnopq\r\n0\r\n\r\n",
      ),
    );
    // 3: a sized body the server cuts short.
    await conn.read(buf);
    await conn.write(encoder.encode("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nxy"));
    conn.close();
  });
  await using client = new HttpClient();
  const url = `http://127.0.0.1:${server.port}/`;
  const readAll = async (response: { readBodyInto(into: Uint8Array): Promise<number | null> }) => {
    const into = new Uint8Array(4);
    const pieces: string[] = [];
    for (let n; (n = await response.readBodyInto(into)) !== null;) {
      pieces.push(new TextDecoder().decode(into.subarray(0, n)));
    }
    return pieces;
  };
  const sized = await client.request(url);
  const first = new Uint8Array(8);
  assert.equal(await sized.readBodyInto(first), 3); // what came with the head
  rest.resolve();
  assert.deepEqual([new TextDecoder().decode(first.subarray(0, 3)), ...await readAll(sized)], [
    "abc",
    "defg",
    "hij",
  ]);
  assert.equal(client.idleConnections, 1); // read to its end: back in the pool
  assert.deepEqual(await readAll(await client.request(url)), ["klmn", "opq"]);
  assert.equal(client.idleConnections, 1);
  const cut = await client.request(url);
  await assert.rejects(readAll(cut), (error) => error instanceof HttpClientError);
  assert.equal(client.idleConnections, 0);
});

Deno.test("HttpClient sends fieldLines as given, with the framing of its body, and refuses bad ones unsent", async () => {
  const seen: string[] = [];
  await using server = scriptedServer(async (conn) => {
    const buf = new Uint8Array(4096);
    while (true) {
      const n = await conn.read(buf);
      if (n === null) return;
      seen.push(new TextDecoder().decode(buf.subarray(0, n)));
      await conn.write(new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    }
  });
  await using client = new HttpClient();
  const url = `http://127.0.0.1:${server.port}/`;
  const lines = "Host: example\r\nX-Case: Kept\r\n";
  await (await client.request(url, { fieldLines: lines, target: "/a" })).text();
  await (await client.request(url, { method: "POST", fieldLines: lines, body: "hey" })).text();
  // A head that repeats goes out as the bytes encoded when it first repeated.
  for (const target of ["/a", "/a", "/a", "/b", "/b"]) {
    await (await client.request(url, { fieldLines: lines, target })).text();
  }
  await (await client.request(url, { method: "PUT", fieldLines: lines, target: "/b" })).text();
  await (await client.request(url, { method: "PUT", fieldLines: lines, target: "/b" })).text();
  await (await client.request(url, { fieldLines: "Host: other\r\n", target: "/b" })).text();
  assert.deepEqual(seen, [
    `GET /a HTTP/1.1\r\n${lines}\r\n`,
    `POST / HTTP/1.1\r\n${lines}content-length: 3\r\n\r\nhey`,
    ...["/a", "/a", "/a", "/b", "/b"].map((target) => `GET ${target} HTTP/1.1\r\n${lines}\r\n`),
    `PUT /b HTTP/1.1\r\n${lines}content-length: 0\r\n\r\n`,
    `PUT /b HTTP/1.1\r\n${lines}content-length: 0\r\n\r\n`,
    `GET /b HTTP/1.1\r\nHost: other\r\n\r\n`,
  ]);
  seen.length = 0;
  // Twice, with good lines between: a line refused once is refused again
  // (the client remembers only lines that passed).
  for (const _round of [1, 2]) {
    for (
      const bad of ["Host: a\r\n\r\nGET /smuggled HTTP/1.1\r\n", "Host: a\n", "Host: a\r\n x\r\n"]
    ) {
      await assert.rejects(
        client.request(url, { fieldLines: bad }),
        TypeError,
        JSON.stringify(bad),
      );
    }
    await (await client.request(url, { fieldLines: lines })).text();
  }
  assert.equal(seen.length, 2);
});

Deno.test("HttpClient frames repeated answers by the method of each request (HEAD has no body)", async () => {
  // The same head bytes every time (the client compares them with the
  // last one instead of decoding again): after HEAD nothing is read, after
  // GET five bytes, whichever came first.
  const head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
  let connections = 0;
  await using server = scriptedServer(async (conn) => {
    connections++;
    const buf = new Uint8Array(4096);
    while (true) {
      const n = await conn.read(buf);
      if (n === null) return;
      const isHead = new TextDecoder().decode(buf.subarray(0, n)).startsWith("HEAD ");
      await conn.write(new TextEncoder().encode(isHead ? head : head + "hello"));
    }
  });
  await using client = new HttpClient({ bodyTimeoutMs: 2000 });
  const url = `http://127.0.0.1:${server.port}/`;
  const bodies: string[] = [];
  for (const method of ["GET", "GET", "HEAD", "HEAD", "GET", "HEAD", "GET"]) {
    const response = await client.request(url, { method });
    assert.equal(response.headers.get("content-length"), "5");
    bodies.push(await response.text());
  }
  assert.deepEqual(bodies, ["hello", "hello", "", "", "hello", "", "hello"]);
  assert.equal(connections, 1);
});

Deno.test("HttpClient does not allocate a body a server only announces", async () => {
  // 1 TB announced, 3 bytes sent, then the server hangs up: bytes() must
  // fail with "closed" after what arrived, not try to allocate a terabyte.
  await using liar = scriptedServer(async (conn) => {
    await conn.read(new Uint8Array(1024));
    await conn.write(
      new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\nabc"),
    );
    conn.close();
  });
  await using client = new HttpClient();
  const response = await client.request(`http://127.0.0.1:${liar.port}/`);
  await assert.rejects(
    response.bytes(),
    (e) => e instanceof HttpClientError && e.code === "closed",
  );
});

Deno.test("HttpClient refuses a CR LF in the method or a header before writing a byte", async () => {
  // A bare TCP server that answers every request head and records all it receives.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let received = "";
  let accepted = 0;
  const serving = (async () => {
    for await (const conn of listener) {
      accepted++;
      (async () => {
        const buf = new Uint8Array(4096);
        let pending = "";
        while (true) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) break;
          const text = new TextDecoder().decode(buf.subarray(0, n));
          received += text;
          pending += text;
          while (pending.includes("\r\n\r\n")) {
            pending = pending.slice(pending.indexOf("\r\n\r\n") + 4);
            await conn.write(
              new TextEncoder().encode("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
            );
          }
        }
        conn.close();
      })();
    }
  })();
  const client = new HttpClient();
  try {
    const url = `http://127.0.0.1:${listener.addr.port}/`;
    assert.equal(await (await client.request(url)).text(), "ok");
    // A proxy's target goes out exactly as given, not normalized by URL parsing.
    assert.equal(await (await client.request(url, { target: "/a/../b//c?q=%zz" })).text(), "ok");
    assert.match(received, /\r\n\r\nGET \/a\/\.\.\/b\/\/c\?q=%zz HTTP\/1\.1\r\n/);
    const before = received;
    const bad: [string, Parameters<HttpClient["request"]>[1], RegExp][] = [
      ["method", { method: "GET / HTTP/1.1\r\nHost: x\r\n\r\nDELETE" }, /request method/],
      ["method with LF", { method: "GET\n" }, /request method/],
      ["header name", { headers: [["x-a\r\nx-b", "1"]] }, /header field name/],
      ["header value", { headers: { "x-a": "1\r\nx-injected: 1" } }, /header field "x-a"/],
      ["NUL in value", { headers: { "x-a": "1\0" } }, /header field "x-a"/],
      ["target with CR LF", { target: "/ HTTP/1.1\r\nx-injected: 1" }, /request target/],
      ["target with a space", { target: "/a b" }, /request target/],
    ];
    for (const [what, options, message] of bad) {
      await assert.rejects(
        client.request(url, options),
        (e) => e instanceof TypeError && message.test(e.message),
        what,
      );
    }
    assert.equal(received, before, "nothing was written for the refused requests");
    assert.equal(accepted, 1, "no connection was opened for them either");
    // The pooled connection is still good.
    assert.equal(await (await client.request(url)).text(), "ok");
  } finally {
    await client.close();
    listener.close();
    await serving.catch(() => {});
  }
});

Deno.test("HttpClient exchange() hands the response or the failure to its handler, with the request's context", async () => {
  await using server = serveHttp({ handler: app().handle, idleTimeoutMs: 100 });
  await using client = new HttpClient({ idleTimeoutMs: 30_000 });
  const base = `http://127.0.0.1:${server.addr.port}`;
  const seen: string[] = [];
  // One handler for every request: the per-request state is the context.
  const handler: ExchangeHandler<string, Promise<string> | string> = {
    answered: (response, context) => {
      seen.push(`${context} answered ${response.status}`);
      return response.text();
    },
    failed: (error, context) => {
      seen.push(`${context} failed ${error instanceof HttpClientError ? error.code : error}`);
      return "failed";
    },
  };
  assert.equal(
    await client.exchange(`${base}/echo`, { method: "POST", body: "hi" }, handler, "a"),
    "hi",
  );
  // A pooled connection the server closed while idle is replaced, unseen by the handler.
  for (let i = 0; i < 100 && server.connections > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.match(await client.exchange(`${base}/port`, {}, handler, "b"), /port/);
  // Refused before sending (a CR LF in a header), and a connect failure.
  const refused = await client.exchange(`${base}/port`, { headers: { x: "a\r\nb" } }, handler, "c");
  assert.equal(refused, "failed");
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = closed.addr.port;
  closed.close();
  assert.equal(await client.exchange(`http://127.0.0.1:${port}/`, {}, handler, "d"), "failed");
  assert.deepEqual(seen.slice(0, 2), ["a answered 200", "b answered 200"]);
  assert.match(seen[2], /^c failed TypeError/);
  assert.equal(seen[3], "d failed connect");
});
