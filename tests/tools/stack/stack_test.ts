import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { isBuilt } from "../../../commands.ts";
import { childSpecs, STACK } from "../../../tools/stack/mod.ts";

const MAIN = fileURLToPath(new URL("../../../main.ts", import.meta.url));

Deno.test("childSpecs() runs built members through main.ts with their flags", () => {
  const specs = childSpecs([
    { label: "api-1", command: "start", args: ["--x", "1"] },
    { label: "never", command: "no-such-command", args: [] },
  ], ["--log-format", "json"]);
  assert.equal(specs.length, 1);
  assert.equal(specs[0].name, "api-1");
  assert.deepEqual(specs[0].command.slice(1), [
    "run",
    "-A",
    MAIN,
    "start",
    "--x",
    "1",
    "--log-format",
    "json",
  ]);
});

Deno.test("the stack topology runs two http-api copies behind the lb, every command known", () => {
  const labels = STACK.map((m) => m.label);
  assert.equal(new Set(labels).size, labels.length, "labels are unique");
  assert.deepEqual(STACK.filter((m) => m.command === "http-api").map((m) => m.args), [
    ["--port", "8001"],
    ["--port", "8002"],
  ]);
  for (const member of STACK) assert.ok(typeof isBuilt(member.command) === "boolean");
});

Deno.test({
  name: "deno task start brings up every built service and stops them all on SIGINT",
  async fn() {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "start"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lines: string[] = [];
    const pump = (async () => {
      const decoder = new TextDecoder();
      let pending = "";
      for await (const chunk of child.stdout) {
        pending += decoder.decode(chunk, { stream: true });
        const parts = pending.split("\n");
        pending = parts.pop()!;
        lines.push(...parts);
      }
    })();
    const stderr = child.stderr.cancel();
    const built = STACK.filter((m) => isBuilt(m.command)).map((m) => m.label);
    const deadline = Date.now() + 60_000;
    const everyoneListening = () =>
      built.every((label) =>
        lines.some((l) => l.startsWith(label + " ") && l.includes(" listening "))
      );
    while (
      Date.now() < deadline && !everyoneListening() &&
      !lines.some((l) => l.includes("nothing to run"))
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    if (built.length > 0) {
      assert.ok(everyoneListening(), `not every service came up:\n${lines.join("\n")}`);
      child.kill("SIGINT");
    }
    const status = await child.status;
    await pump;
    await stderr;
    assert.equal(status.code, 0, lines.join("\n"));
    if (built.length > 0) {
      assert.ok(lines.includes("stack | stopped"), lines.join("\n"));
      for (const label of built) {
        assert.ok(
          !lines.some((l) => l.startsWith(label + " ") && l.includes("restarting")),
          `${label} never crashed`,
        );
      }
    }
  },
});
