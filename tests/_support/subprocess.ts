// Runs a service as a real process (`deno run -A main.ts <command> ...`), for
// crash tests that kill -9 it and for lifecycle tests that signal it. Resolves
// once the service has logged every address it listens on.

import { fileURLToPath } from "node:url";
import { withServiceV8Flags } from "../../lib/v8_flags.ts";

const MAIN_PATH = fileURLToPath(new URL("../../main.ts", import.meta.url));
const LISTENING = /listening (\S+) on (\S+):(\d+)/;

export interface SpawnedService {
  readonly process: Deno.ChildProcess;
  /** Ports by role, read from the "listening" log lines. */
  readonly ports: Record<string, number>;
  /** Every log line so far. */
  readonly lines: string[];
  kill(signal?: Deno.Signal): void;
  /** Waits for exit and returns the exit code. */
  exited(): Promise<Deno.CommandStatus>;
}

export interface SpawnOptions {
  /** Roles to wait for, e.g. ["udp", "tcp"]; default: the first listening line. */
  roles?: readonly string[];
  timeoutMs?: number;
  /** Run this script instead of main.ts (the args then follow it). */
  script?: string;
  /** Flags for deno itself, before the script (e.g. `--v8-flags=--expose-gc`). */
  denoFlags?: readonly string[];
}

export async function spawnService(
  args: readonly string[],
  options: SpawnOptions = {},
): Promise<SpawnedService> {
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      ...withServiceV8Flags(options.denoFlags),
      options.script ?? MAIN_PATH,
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const ports: Record<string, number> = {};
  const lines: string[] = [];
  const wanted = new Set(options.roles ?? []);
  let resolveReady!: () => void;
  const ready = new Promise<void>((resolve) => resolveReady = resolve);
  const onLine = (line: string) => {
    lines.push(line);
    const match = LISTENING.exec(line);
    if (match) {
      ports[match[1]] = Number(match[3]);
      wanted.delete(match[1]);
      if (wanted.size === 0) resolveReady();
    }
  };
  const pumps = Promise.all([readLines(process.stdout, onLine), readLines(process.stderr, onLine)]);
  const status = process.status;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    ready.then(() => "ready" as const),
    status.then(() => "exited" as const),
    new Promise<"timeout">((resolve) =>
      timer = setTimeout(() => resolve("timeout"), options.timeoutMs ?? 20_000)
    ),
  ]);
  clearTimeout(timer);
  const kill = (signal: Deno.Signal = "SIGKILL") => {
    try {
      process.kill(signal);
    } catch { /* already exited */ }
  };
  if (outcome !== "ready") {
    kill();
    await status;
    await pumps;
    throw new Error(`service ${args.join(" ")} ${outcome} before listening:\n${lines.join("\n")}`);
  }
  return {
    process,
    ports,
    lines,
    kill,
    async exited() {
      const result = await status;
      await pumps;
      return result;
    },
  };
}

async function readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    let newline;
    while ((newline = pending.indexOf("\n")) !== -1) {
      onLine(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
    }
  }
  if (pending) onLine(pending);
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno run -A main.ts <args>` to completion and captures its output. */
export async function runMain(args: readonly string[]): Promise<CommandResult> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN_PATH, ...args],
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
}
