import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { hasBinary, runClient } from "./interop.ts";

const HELPER = fileURLToPath(new URL("./interop.ts", import.meta.url));

Deno.test("hasBinary() finds sh and not a made-up name", () => {
  assert.equal(hasBinary("sh"), true);
  assert.equal(hasBinary("no-such-client-xyz"), false);
});

Deno.test("runClient() captures output, exit code and stdin", async () => {
  const result = await runClient("sh", ["-c", "cat; echo err >&2; exit 3"], { stdin: "piped in" });
  assert.equal(result.code, 3);
  assert.equal(result.stdout, "piped in");
  assert.equal(result.stderr, "err\n");
});

async function runInteropFile(requireInterop: boolean) {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/missing_test.ts`;
    await Deno.writeTextFile(
      file,
      `import { interopTest } from ${JSON.stringify(HELPER)};\n` +
        `interopTest("needs a client", { binaries: ["no-such-client-xyz"], fn() {} });\n`,
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["test", "-A", file],
      env: { REQUIRE_INTEROP: requireInterop ? "1" : "0", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      text: decoder.decode(output.stdout) + decoder.decode(output.stderr),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("interopTest() skips visibly when a client is missing", async () => {
  const { code, text } = await runInteropFile(false);
  assert.equal(code, 0, text);
  assert.match(text, /skipped: no-such-client-xyz not installed/);
  assert.match(text, /ignored/);
});

Deno.test("interopTest() fails instead of skipping under REQUIRE_INTEROP=1", async () => {
  const { code, text } = await runInteropFile(true);
  assert.notEqual(code, 0);
  assert.match(text, /REQUIRE_INTEROP=1 but no-such-client-xyz not installed/);
});
