// `deno task compile`: one self-contained executable per built service in
// dist/, each with its command baked in, so `dist/underhood-dns --port 53`
// runs the DNS server with nothing else installed.
//
//   deno task compile                          every built service, for this machine
//   deno task compile dns cache                only those
//   deno task compile --target aarch64-unknown-linux-gnu --out-dir dist/arm64
//
// `deno compile` appends the program to a runtime base (denort) that it
// downloads from Deno's release server on first use and then keeps in its
// cache. A machine that cannot reach that server gets one line saying so
// (and what to do instead) and exit code 1, never a stack trace: build the
// executables where the network allows (the Dockerfile's `compile` stage
// does), or point DENORT_BIN at a denort binary of the same Deno version.
// That is also why the task stays out of `deno task test` and CI; the test
// (tests/deploy/compile_test.ts) checks the arguments and the failure path.
//
// Type checking is `deno task check`'s job, so compile runs with --no-check.
// Tools (start, dig, curl) are not compiled: `start` spawns `deno run` for
// each service, which a compiled binary cannot do.

import { fileURLToPath } from "node:url";
import { COMMANDS } from "../commands.ts";
import { type FlagSpecs, formatHelp, parseFlags, UsageError } from "../lib/cli.ts";
import type { CommandTable } from "../lib/service.ts";
import { V8_FLAGS_ARG } from "../lib/v8_flags.ts";

const MAIN_PATH = fileURLToPath(new URL("../main.ts", import.meta.url));

export const flags = {
  "out-dir": { type: "string", default: "dist", help: "where the executables go" },
  target: {
    type: "string",
    help: "target triple, as `deno compile --target` takes it (default: this machine)",
  },
} as const satisfies FlagSpecs;

/** The services that can be compiled: every built one, in the table's order. */
export function compileTargets(commands: CommandTable): string[] {
  return Object.entries(commands)
    .filter(([, entry]) => entry.kind === "service" && entry.load !== undefined)
    .map(([name]) => name);
}

export interface CompileOptions {
  outDir: string;
  target?: string;
}

/** The executable's path: `dist/underhood-dns`, with `.exe` for a Windows target. */
export function outputPath(name: string, options: CompileOptions): string {
  const exe = options.target?.includes("windows") ? ".exe" : "";
  return `${options.outDir.replace(/\/+$/, "")}/underhood-${name}${exe}`;
}

/**
 * `deno compile` arguments for one service: every permission (as
 * `deno task <service>` runs it), the unstable net APIs the DNS servers use
 * (deno.json says so too, but a binary must carry it), and the command name
 * after main.ts, which `deno compile` bakes into the binary as its first
 * argument.
 */
export function compileArgs(name: string, options: CompileOptions): string[] {
  return [
    "compile",
    "-A",
    "--no-check",
    "--unstable-net",
    V8_FLAGS_ARG,
    ...(options.target ? ["--target", options.target] : []),
    "--output",
    outputPath(name, options),
    MAIN_PATH,
    name,
  ];
}

/**
 * One line when `deno compile` failed because it could not download its
 * runtime base; undefined for any other failure (whose output is shown).
 */
export function downloadFailure(stderr: string): string | undefined {
  const download = /Setting up base binary|denort|dl\.deno\.land|error sending request/i;
  if (!download.test(stderr)) return undefined;
  return "deno compile: cannot download its runtime base (denort) from Deno's release server " +
    "(offline?); compile where the network allows (the Dockerfile's compile stage), " +
    "or set DENORT_BIN to a denort binary of this Deno version";
}

/** Deno's error text without the "Stack backtrace:" it appends. */
export function withoutBacktrace(stderr: string): string {
  const at = stderr.indexOf("Stack backtrace:");
  return (at === -1 ? stderr : stderr.slice(0, at)).trimEnd();
}

async function main(args: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseFlags(flags, args, {
      allowPositionals: true,
      env: { command: "compile", variables: Deno.env.toObject() },
    });
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`compile: ${error.message}`);
    return 2;
  }
  const help = formatHelp("compile", "one executable per service in dist/", flags, "[SERVICE...]");
  if (parsed.help) {
    console.log(help);
    return 0;
  }
  const all = compileTargets(COMMANDS);
  const unknown = parsed.positionals.filter((name) => !all.includes(name));
  if (unknown.length > 0) {
    console.error(`compile: not a built service: ${unknown.join(", ")} (built: ${all.join(", ")})`);
    return 2;
  }
  const names = parsed.positionals.length > 0 ? parsed.positionals : all;
  const options = { outDir: parsed.config.outDir, target: parsed.config.target };
  await Deno.mkdir(options.outDir, { recursive: true });
  for (const name of names) {
    const { success, stderr } = await new Deno.Command(Deno.execPath(), {
      args: compileArgs(name, options),
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(stderr);
    if (success) {
      console.log(`built ${outputPath(name, options)}`);
      continue;
    }
    // The same download would fail for every other service: stop at the first.
    const offline = downloadFailure(text);
    if (offline !== undefined) {
      console.error(offline);
      return 1;
    }
    console.error(withoutBacktrace(text));
    console.error(`compile: ${name} failed`);
    return 1;
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
