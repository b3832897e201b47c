import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { COMMANDS } from "../../commands.ts";
import {
  compileArgs,
  compileTargets,
  downloadFailure,
  outputPath,
  withoutBacktrace,
} from "../../scripts/compile.ts";
import { DEAD_PORT } from "../_support/dead_port.ts";
import { V8_FLAGS_ARG } from "../../lib/v8_flags.ts";

const SCRIPT = fileURLToPath(new URL("../../scripts/compile.ts", import.meta.url));
const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));

// What `deno compile` 2.9.6 printed on this machine, which cannot reach Deno's release server.
const OFFLINE_STDERR = `Check a.ts
Compile a.ts to a
Download https://dl.deno.land/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip
error: Writing deno compile executable to temporary file '/tmp/ctest/a.tmp-4c2205154e63b2dd'

Caused by:
    0: Setting up base binary.
    1: error sending request for url (https://dl.deno.land/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip): client error (Connect): dns error: failed to lookup address information: Name or service not known
    2: client error (Connect)
    3: dns error
    4: failed to lookup address information: Name or service not known

Stack backtrace:
   0: <unknown>
`;

Deno.test("compileTargets() is every built service, and no tool", () => {
  const targets = compileTargets(COMMANDS);
  for (const [name, entry] of Object.entries(COMMANDS)) {
    const wanted = entry.kind === "service" && entry.load !== undefined;
    assert.equal(targets.includes(name), wanted, name);
  }
  assert.ok(targets.includes("dns"));
  assert.ok(!targets.includes("start"));
});

Deno.test("compileArgs() bakes the service name in after main.ts", () => {
  assert.deepEqual(compileArgs("dns", { outDir: "dist" }), [
    "compile",
    "-A",
    "--no-check",
    "--unstable-net",
    V8_FLAGS_ARG,
    "--output",
    "dist/underhood-dns",
    MAIN,
    "dns",
  ]);
  assert.deepEqual(
    compileArgs("http-api", { outDir: "out/", target: "x86_64-pc-windows-msvc" }).slice(5, 9),
    ["--target", "x86_64-pc-windows-msvc", "--output", "out/underhood-http-api.exe"],
  );
  assert.equal(outputPath("cache", { outDir: "dist/arm64" }), "dist/arm64/underhood-cache");
});

Deno.test("downloadFailure() turns deno's download error into one line", () => {
  const line = downloadFailure(OFFLINE_STDERR);
  assert.ok(line !== undefined);
  assert.ok(!line.includes("\n"));
  assert.match(line, /^deno compile: cannot download its runtime base \(denort\)/);
  assert.equal(
    downloadFailure("error: TS2322 [ERROR]: Type 'string' is not assignable"),
    undefined,
  );
  assert.equal(withoutBacktrace(OFFLINE_STDERR).includes("Stack backtrace"), false);
});

Deno.test("deno task compile, offline: one clear line on stderr, exit 1, no stack trace", async () => {
  // A proxy on a closed loopback port makes the runtime download fail here
  // whatever the network, so the test never reaches beyond the machine.
  const proxy = `http://127.0.0.1:${DEAD_PORT}`;
  const outDir = await Deno.makeTempDir({ prefix: "underhood-compile-" });
  try {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", SCRIPT, "dns", "--out-dir", outDir],
      env: { HTTPS_PROXY: proxy, HTTP_PROXY: proxy, https_proxy: proxy, NO_PROXY: "" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(stderr);
    const out = new TextDecoder().decode(stdout);
    if (code === 0) {
      // This Deno already had its runtime base cached: then the binary must be there.
      assert.match(out, /^built .*underhood-dns$/m);
      await Deno.stat(`${outDir}/underhood-dns`);
      return;
    }
    assert.equal(code, 1, err);
    const lines = err.trimEnd().split("\n");
    assert.equal(lines.length, 1, err);
    assert.match(lines[0], /^deno compile: cannot download its runtime base/);
    assert.doesNotMatch(err, /Stack backtrace|^\s+at /m);
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});

Deno.test("deno task compile refuses a name that is not a built service, exit 2", async () => {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SCRIPT, "start"],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(code, 2);
  assert.match(new TextDecoder().decode(stderr), /not a built service: start \(built: dns,/);
});
