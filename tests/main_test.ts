import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { COMMANDS } from "../commands.ts";
import { runMain } from "./_support/subprocess.ts";

const run = runMain;

Deno.test("main.ts help lists every command with one line each, exit 0", async () => {
  const { code, stdout } = await run(["help"]);
  assert.equal(code, 0);
  for (const name of ["help", ...Object.keys(COMMANDS)]) {
    assert.match(stdout, new RegExp(`^  ${name} +\\S`, "m"), `help lists ${name}`);
  }
});

Deno.test("main.ts with no command prints the usage and exits 2", async () => {
  const { code, stdout } = await run([]);
  assert.equal(code, 2);
  assert.match(stdout, /usage: deno run -A main.ts <command>/);
});

Deno.test("main.ts rejects an unknown command with the usage, exit 2", async () => {
  const { code, stderr } = await run(["frobnicate"]);
  assert.equal(code, 2);
  assert.match(stderr, /unknown command "frobnicate"/);
  assert.match(stderr, /commands:/);
});

Deno.test("main.ts rejects an unknown flag with the command's usage, exit 2", async () => {
  const { code, stderr } = await run(["start", "--no-such-flag"]);
  assert.equal(code, 2);
  assert.match(stderr, /start: Unknown option '--no-such-flag'/);
  assert.match(stderr, /usage: deno task start \[flags\]/);
});

Deno.test("main.ts rejects a bad flag value with exit 2", async () => {
  const { code, stderr } = await run(["start", "--log-format", "xml"]);
  assert.equal(code, 2);
  assert.match(stderr, /--log-format: expected one of text, json, got "xml"/);
});

Deno.test("main.ts <command> --help and help <command> show the command's flags", async () => {
  for (const args of [["start", "--help"], ["help", "start"]]) {
    const { code, stdout } = await run(args);
    assert.equal(code, 0);
    assert.match(
      stdout,
      /usage: deno task start \[flags\]\n +deno run -A main\.ts start \[flags\]/,
    );
    assert.match(stdout, /--log-format VALUE/);
  }
});

Deno.test("every built service's --help shows the shared flags with defaults", async () => {
  for (const [name, entry] of Object.entries(COMMANDS)) {
    if (entry.kind !== "service" || entry.load === undefined) continue;
    const { code, stdout } = await run([name, "--help"]);
    assert.equal(code, 0, name);
    for (
      const flag of [
        "--host",
        "--port",
        "--admin-port",
        "--data-dir",
        "--log-level",
        "--log-format",
      ]
    ) {
      assert.ok(stdout.includes(flag), `${name} --help shows ${flag}`);
    }
    const port = await run([name, "--port", "not-a-port"]);
    assert.equal(port.code, 2, `${name} --port not-a-port exits 2`);
  }
});

Deno.test("a --port whose admin port would pass 65535 is refused at startup, naming --admin-port", async () => {
  for (const [name, entry] of Object.entries(COMMANDS)) {
    if (entry.kind !== "service" || entry.load === undefined) continue;
    const { code, stderr } = await run([name, "--port", "60000"]);
    assert.equal(code, 2, `${name}: ${stderr}`);
    assert.match(stderr, /the admin port would be 70000 \(port \+ 10000\), past 65535/, name);
    assert.match(stderr, /give --admin-port/, name);
    assert.match(stderr, /usage: deno task/, name);
  }
});

Deno.test("a command that is not built yet says so and exits 1", async (t) => {
  const unbuilt = Object.entries(COMMANDS).filter(([, e]) => e.load === undefined);
  if (unbuilt.length === 0) return;
  for (const [name] of unbuilt) {
    await t.step(name, async () => {
      const { code, stderr } = await run([name]);
      assert.equal(code, 1);
      assert.match(stderr, new RegExp(`${name}: not built yet`));
    });
  }
});

/** The local modules main.ts reaches, each with what it imports at run time (static or dynamic). */
async function moduleGraph(): Promise<Map<string, string[]>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", fileURLToPath(new URL("../main.ts", import.meta.url))],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    modules: {
      specifier: string;
      dependencies?: { code?: { specifier: string } }[];
    }[];
  };
  const graph = new Map<string, string[]>();
  for (const module of info.modules) {
    if (!module.specifier.startsWith("file:")) continue;
    // Only imports that exist at run time: `import type` is erased, its cycles harmless.
    const deps = (module.dependencies ?? []).map((d) => d.code?.specifier)
      .filter((s): s is string => s !== undefined && s.startsWith("file:"));
    graph.set(module.specifier, [...new Set(deps)]);
  }
  return graph;
}

Deno.test("no run-time import cycle among the modules main.ts reaches (the stack gets the command table as a parameter)", async () => {
  const graph = await moduleGraph();
  assert.ok(graph.size > 10);
  const state = new Map<string, "visiting" | "done">();
  const visit = (module: string, path: string[]): void => {
    if (state.get(module) === "done") return;
    if (state.get(module) === "visiting") {
      const cycle = [...path.slice(path.indexOf(module)), module];
      assert.fail(
        `import cycle: ${cycle.map((m) => m.replace(/^.*?\/(?=[^/]+\/[^/]+$)/, "")).join(" -> ")}`,
      );
    }
    state.set(module, "visiting");
    for (const dep of graph.get(module) ?? []) visit(dep, [...path, module]);
    state.set(module, "done");
  };
  for (const module of graph.keys()) visit(module, []);
});

Deno.test("tools live in tools/, services in services/", () => {
  const root = new URL("../", import.meta.url);
  for (const tool of ["stack", "dig", "curl"]) {
    assert.ok(Deno.statSync(new URL(`tools/${tool}/mod.ts`, root)).isFile, tool);
    assert.throws(() => Deno.statSync(new URL(`services/${tool}`, root)), Deno.errors.NotFound);
  }
});
