// lib/http's server driven by real clients: curl (keep-alive reuse,
// --http1.1, chunked upload, a 100-continue upload of a large file, HEAD)
// and wrk (a short bounded run with keep-alive connections).

import assert from "node:assert/strict";
import { serveHttp } from "../../../lib/http/server.ts";
import { interopTest, runClient } from "../../_support/interop.ts";
import { testRouter } from "./_app.ts";

interopTest("curl reuses a keep-alive connection and gets HEAD right", {
  binaries: ["curl"],
  async fn() {
    await using server = serveHttp({ handler: testRouter().handle });
    const base = `http://127.0.0.1:${server.addr.port}`;
    const twice = await runClient("curl", ["-sv", "--http1.1", `${base}/`, `${base}/spells/2`]);
    assert.equal(twice.code, 0, twice.stderr);
    assert.equal(twice.stdout, 'hello{"id":"2"}');
    assert.match(twice.stderr, /Re-?using existing connection/i);
    const head = await runClient("curl", ["-sI", "--http1.1", `${base}/`]);
    assert.equal(head.code, 0, head.stderr);
    assert.match(head.stdout, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(head.stdout, /content-length: 5\r\n/i);
  },
});

interopTest("curl uploads chunked, and a large file through 100-continue", {
  binaries: ["curl"],
  async fn() {
    await using server = serveHttp({ handler: testRouter().handle });
    const base = `http://127.0.0.1:${server.addr.port}`;
    const chunked = await runClient("curl", [
      "-s",
      "--http1.1",
      "-H",
      "Transfer-Encoding: chunked",
      "--data-binary",
      "@-",
      `${base}/echo`,
    ], { stdin: "streamed through curl" });
    assert.equal(chunked.code, 0, chunked.stderr);
    assert.equal(chunked.stdout, "streamed through curl");

    const dir = await Deno.makeTempDir({ prefix: "underhood-http-" });
    try {
      const file = `${dir}/big.bin`;
      const size = 6 * 1024 * 1024;
      await Deno.writeFile(file, new Uint8Array(size).fill(120));
      const upload = await runClient("curl", [
        "-sv",
        "--http1.1",
        "-H",
        "Expect: 100-continue",
        "-T",
        file,
        `${base}/big`,
      ], { timeoutMs: 60_000 });
      assert.equal(upload.code, 0, upload.stderr);
      assert.match(upload.stderr, /HTTP\/1\.1 100 Continue/);
      assert.deepEqual(JSON.parse(upload.stdout), { bytes: size });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

interopTest("wrk drives keep-alive connections without errors", {
  binaries: ["wrk"],
  async fn() {
    await using server = serveHttp({ handler: testRouter().handle });
    const result = await runClient("wrk", [
      "-t1",
      "-c8",
      "-d1s",
      `http://127.0.0.1:${server.addr.port}/`,
    ], { timeoutMs: 30_000 });
    assert.equal(result.code, 0, result.stderr);
    const requests = Number(/(\d+) requests in/.exec(result.stdout)?.[1] ?? 0);
    assert.ok(requests > 0, result.stdout);
    assert.doesNotMatch(result.stdout, /Non-2xx/);
  },
});
