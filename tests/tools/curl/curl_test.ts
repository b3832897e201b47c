// The `curl` command, run as a real process against a lib/http server.

import assert from "node:assert/strict";
import { json, readText } from "../../../lib/http/message.ts";
import { Router } from "../../../lib/http/router.ts";
import { serveHttp } from "../../../lib/http/server.ts";
import { runMain } from "../../_support/subprocess.ts";

function curl(args: string[]) {
  return runMain(["curl", ...args]);
}

Deno.test("curl sends -X, -H and -d, prints headers with -i and the exchange with -v", async () => {
  const router = new Router();
  router.route("PATCH", "/things/:id", async (request) =>
    json({
      id: request.params.id,
      type: request.headers.get("content-type"),
      body: await readText(request),
    }));
  await using server = serveHttp({ handler: router.handle });
  const url = `http://127.0.0.1:${server.addr.port}/things/7`;
  const result = await curl([
    "-i",
    "-v",
    "-X",
    "PATCH",
    "-H",
    "Content-Type: application/json",
    "-d",
    '{"a":1}',
    url,
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^HTTP\/1\.1 200 OK\r\n/);
  assert.ok(
    result.stdout.endsWith('{"id":"7","type":"application/json","body":"{\\"a\\":1}"}'),
    result.stdout,
  );
  assert.match(result.stderr, /> PATCH \/things\/7 HTTP\/1\.1/);
  assert.match(result.stderr, /< HTTP\/1\.1 200 OK/);
});

Deno.test("curl exits 1 with a clear message when nothing listens", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  const result = await curl([`127.0.0.1:${port}/`]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /cannot connect/);
});
