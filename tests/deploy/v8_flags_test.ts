// Every way a service starts passes lib/v8_flags.ts's flags (the linear-time
// RegExp fallback that keeps a pattern from holding the event loop): the
// deno.json tasks of the services, the test task, and the image's
// ENTRYPOINT. tools/stack, scripts/compile.ts and the test spawns use the
// constant itself (tests/tools/stack, tests/deploy/compile_test.ts).

import assert from "node:assert/strict";
import { COMMANDS } from "../../commands.ts";
import { V8_FLAGS_ARG, withServiceV8Flags } from "../../lib/v8_flags.ts";

const ROOT = new URL("../../", import.meta.url);

Deno.test("deno.json's service tasks and test task pass the V8 flags", () => {
  const tasks: Record<string, string> =
    JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT))).tasks;
  const services = Object.keys(COMMANDS).filter((name) =>
    COMMANDS[name].kind === "service" && tasks[name] !== undefined
  );
  assert.ok(services.length >= 8, services.join(" "));
  for (const name of [...services, "start", "test"]) {
    assert.ok(tasks[name].split(" ").includes(V8_FLAGS_ARG), `task ${name}: ${tasks[name]}`);
  }
});

Deno.test("the image's ENTRYPOINT passes the V8 flags before main.ts", () => {
  const dockerfile = Deno.readTextFileSync(new URL("Dockerfile", ROOT));
  // One logical line: an instruction continues past a newline only after a backslash.
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile.replace(/\\\n/g, ""));
  assert.ok(entrypoint, "an exec-form ENTRYPOINT");
  const argv: string[] = JSON.parse(entrypoint[1]);
  assert.ok(argv.indexOf(V8_FLAGS_ARG) > 0 && argv.indexOf(V8_FLAGS_ARG) < argv.indexOf("main.ts"));
});

Deno.test("withServiceV8Flags() merges into a --v8-flags already given", () => {
  assert.deepEqual(withServiceV8Flags(), [V8_FLAGS_ARG]);
  const merged = withServiceV8Flags(["--v8-flags=--expose-gc", "--quiet"]);
  assert.equal(merged.length, 2);
  assert.ok(merged[0].startsWith("--v8-flags=--expose-gc,--enable-experimental-regexp-engine"));
});
