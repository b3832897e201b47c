// The `curl` command, run as a real process against a lib/http server whose
// name (www.example.com, from the stack's zone) is found through our dns and
// resolver on port 0; and the same requests sent by the real curl, whose
// output must match where the two should agree (-i, -w '%{http_code}', -o,
// -d, -T, -L, -I, -f).

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { json, readText, text } from "../../../lib/http/message.ts";
import { Router } from "../../../lib/http/router.ts";
import { serveHttp } from "../../../lib/http/server.ts";
import type { HttpRequest } from "../../../lib/http/message.ts";
import { service as dnsService } from "../../../services/dns/mod.ts";
import { service as resolverService } from "../../../services/resolver/mod.ts";
import { interopTest } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";
import { type CommandResult, runMain } from "../../_support/subprocess.ts";
import { DEAD_PORT } from "../../_support/dead_port.ts";

const ZONE_FILE = fileURLToPath(new URL("../../../config/zones/example.com.zone", import.meta.url));

async function echo(request: HttpRequest) {
  return json({
    method: request.method,
    target: request.target,
    host: request.headers.get("host"),
    accept: request.headers.get("accept"),
    contentType: request.headers.get("content-type") ?? null,
    contentLength: request.headers.get("content-length") ?? null,
    chunked: request.headers.get("transfer-encoding") ?? null,
    test: request.headers.get("x-test") ?? null,
    body: await readText(request),
  });
}

function app(): Router {
  const router = new Router();
  for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE"]) {
    router.route(method, "/echo", echo);
    router.route(method, "/files/*", echo);
  }
  for (const method of ["GET", "POST"]) {
    router.route(method, "/redirect/:code", (request) => ({
      status: Number(request.params.code),
      headers: { location: "/echo?from=redirect" },
      body: "",
    }));
  }
  router.get("/big", () => ({
    status: 200,
    headers: { "content-type": "application/octet-stream" },
    body: new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new Uint8Array(10_000).fill(65 + i));
        controller.close();
      },
    }),
  }));
  router.get("/missing-page", () => text("no such page\n", 404));
  router.get("/loop", () => ({ status: 302, headers: { location: "/loop" }, body: "" }));
  return router;
}

/** A lib/http server named www.example.com by our dns, reached through our resolver. */
async function setup() {
  const dns = await startService(dnsService, { zone: [ZONE_FILE], rrlRate: 0 });
  const resolver = await startService(resolverService, {
    stub: [`example.com=127.0.0.1:${dns.addresses.udp.port}`],
    localOnly: true,
  });
  const server = serveHttp({ handler: app().handle });
  const port = server.addr.port;
  const resolverAddress = `127.0.0.1:${resolver.addresses.udp.port}`;
  const dir = await Deno.makeTempDir({ prefix: "underhood-curl-" });
  return {
    base: `http://www.example.com:${port}`,
    dir,
    ours: (args: string[]) => runMain(["curl", "--resolver", resolverAddress, ...args]),
    /** The real curl, told where www.example.com is (it does not ask our resolver). */
    theirs: async (args: string[]): Promise<CommandResult> => {
      const output = await new Deno.Command("curl", {
        args: ["--resolve", `www.example.com:${port}:127.0.0.1`, ...args],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const decoder = new TextDecoder();
      return {
        code: output.code,
        stdout: decoder.decode(output.stdout),
        stderr: decoder.decode(output.stderr),
      };
    },
    async [Symbol.asyncDispose]() {
      await server.close();
      await resolver.close();
      await dns.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** The Date header differs from one second to the next; nothing else may. */
function sameExceptDate(text: string): string {
  return text.replace(/^date: .*\r$/gim, "date: <date>\r");
}

Deno.test("curl resolves the host through our resolver and sends -X, -H and -d", async () => {
  await using t = await setup();
  const result = await t.ours([
    "-i",
    "-X",
    "PATCH",
    "-H",
    "Content-Type: application/json",
    "-H",
    "X-Test: yes",
    "-d",
    '{"a":1}',
    `${t.base}/echo`,
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^HTTP\/1\.1 200 OK\r\n/);
  const body = JSON.parse(result.stdout.slice(result.stdout.indexOf("\r\n\r\n") + 4));
  assert.deepEqual(body, {
    method: "PATCH",
    target: "/echo",
    host: t.base.slice("http://".length),
    accept: "*/*",
    contentType: "application/json",
    contentLength: "7",
    chunked: null,
    test: "yes",
    body: '{"a":1}',
  });
});

Deno.test("curl -v prints the exchange and a timing line; -w prints curl's timing variables", async () => {
  await using t = await setup();
  const result = await t.ours([
    "-s",
    "-v",
    "-o",
    `${t.dir}/out`,
    "-w",
    "%{http_code} %{time_namelookup} %{time_connect} %{time_starttransfer} %{time_total} %{size_download}\\n",
    `${t.base}/big`,
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /\* Host www\.example\.com:\d+ was resolved to 127\.0\.0\.1/);
  assert.match(result.stderr, /> GET \/big HTTP\/1\.1\n> Host: www\.example\.com:\d+\n/);
  assert.match(result.stderr, /< HTTP\/1\.1 200 OK\n/);
  assert.match(
    result.stderr,
    /\* Timing: DNS [\d.]+ ms, connect [\d.]+ ms, first byte [\d.]+ ms, total [\d.]+ ms\n/,
  );
  const match = /^200 (\d+\.\d{6}) (\d+\.\d{6}) (\d+\.\d{6}) (\d+\.\d{6}) 100000\n$/.exec(
    result.stdout,
  );
  assert.ok(match, result.stdout);
  const [dns, connect, firstByte, total] = match.slice(1).map(Number);
  assert.ok(0 < dns && dns <= connect && connect <= firstByte && firstByte <= total, match[0]);
  assert.equal((await Deno.stat(`${t.dir}/out`)).size, 100_000);
});

Deno.test("curl exits with curl's codes: 6 for a name our resolver does not know, 7 when nothing listens, 22 with -f, 47 past --max-redirs", async () => {
  await using t = await setup();
  const unknown = await t.ours(["http://nowhere.example.com:1/"]);
  assert.equal(unknown.code, 6);
  assert.match(unknown.stderr, /^curl: \(6\) Could not resolve host: nowhere\.example\.com/);
  const port = DEAD_PORT;
  const refused = await t.ours([`127.0.0.1:${port}/`]);
  assert.equal(refused.code, 7);
  assert.match(refused.stderr, /^curl: \(7\) Failed to connect to 127\.0\.0\.1 port \d+/);
  const silent = await t.ours(["-s", `127.0.0.1:${port}/`]);
  assert.deepEqual([silent.code, silent.stderr], [7, ""]);
  const failed = await t.ours(["-f", `${t.base}/missing-page`]);
  assert.equal(failed.code, 22);
  assert.equal(failed.stdout, "");
  assert.match(failed.stderr, /The requested URL returned error: 404/);
  const loop = await t.ours(["-L", "--max-redirs", "3", `${t.base}/loop`]);
  assert.equal(loop.code, 47);
  assert.match(loop.stderr, /Maximum \(3\) redirects followed/);
});

Deno.test("curl -m gives up on a server that accepts and never answers, with curl's code 28", async () => {
  await using t = await setup();
  const mute = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of mute) accepted.push(conn);
  })();
  try {
    const result = await t.ours(["-m", "0.3", `http://127.0.0.1:${mute.addr.port}/`]);
    assert.equal(result.code, 28, result.stderr);
    assert.match(result.stderr, /curl: \(28\) Operation timed out after 300 milliseconds/);
  } finally {
    mute.close();
    for (const conn of accepted) conn.close();
    await accepting.catch(() => {});
  }
});

interopTest(
  "curl prints what the real curl prints for -i, -I, -w '%{http_code}', -o, -d, -T and -L",
  {
    binaries: ["curl"],
    async fn() {
      await using t = await setup();
      await Deno.writeTextFile(`${t.dir}/form.txt`, "a=1\r\nb=2\n");
      await Deno.writeTextFile(`${t.dir}/upload.txt`, "uploaded\r\nbytes\n");
      const cases: [string, (out: string) => string[]][] = [
        ["-i GET", () => ["-s", "-i", `${t.base}/echo?x=1`]],
        ["-I HEAD", () => ["-s", "-I", `${t.base}/echo`]],
        ["-i 404", () => ["-s", "-i", `${t.base}/missing-page`]],
        [
          "-w http_code",
          () => ["-s", "-o", "/dev/null", "-w", "%{http_code}\\n", `${t.base}/nope`],
        ],
        [
          "-d twice, -H",
          () => ["-s", "-d", "a=1", "-d", "b=2", "-H", "X-Test: 1", `${t.base}/echo`],
        ],
        ["-d @file strips newlines", () => ["-s", "-d", `@${t.dir}/form.txt`, `${t.base}/echo`]],
        [
          "--data-binary @file",
          () => ["-s", "--data-binary", `@${t.dir}/form.txt`, `${t.base}/echo`],
        ],
        ["-X PUT -d", () => ["-s", "-X", "PUT", "-d", "x", `${t.base}/echo`]],
        [
          "-T file to a directory URL",
          () => ["-s", "-T", `${t.dir}/upload.txt`, `${t.base}/files/`],
        ],
        ["-L 303 after POST", () => ["-s", "-i", "-L", "-d", "p=1", `${t.base}/redirect/303`]],
        ["-L 307 keeps POST", () => ["-s", "-L", "-d", "p=1", `${t.base}/redirect/307`]],
        ["no -L: the 302 itself", () => ["-s", "-i", `${t.base}/redirect/302`]],
        ["-H removes Accept", () => ["-s", "-H", "Accept:", `${t.base}/echo`]],
        [
          "-w size and code",
          () => [
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download} %{http_code} %{num_redirects} %{content_type}",
            `${t.base}/big`,
          ],
        ],
        ["-o file", (out) => ["-s", "-o", out, `${t.base}/big`]],
      ];
      for (const [name, args] of cases) {
        const ourFile = `${t.dir}/ours.out`;
        const theirFile = `${t.dir}/theirs.out`;
        const [ours, theirs] = [await t.ours(args(ourFile)), await t.theirs(args(theirFile))];
        assert.equal(ours.code, theirs.code, `${name}: exit code\n${ours.stderr}`);
        assert.equal(sameExceptDate(ours.stdout), sameExceptDate(theirs.stdout), name);
        if (name === "-o file") {
          assert.deepEqual(await Deno.readFile(ourFile), await Deno.readFile(theirFile), name);
        }
      }
    },
  },
);
