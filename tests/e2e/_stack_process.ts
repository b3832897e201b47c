// `deno run -A main.ts start --free-ports ...` as a subprocess, for the
// stack's own tests (tests/tools/stack) and the end-to-end test (tests/e2e):
// its output kept line by line, the ports each member logged, waits on
// conditions with a bound.

import { fileURLToPath } from "node:url";
import { COMMANDS } from "../../commands.ts";
import { STACK } from "../../tools/stack/mod.ts";

export const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
/** The members whose command is built (the others are skipped by the stack). */
export const BUILT_MEMBERS = STACK.filter((m) => COMMANDS[m.command]?.load !== undefined);
const BUILT = BUILT_MEMBERS;
const LISTENING = /(\S+) listening (\S+) on 127\.0\.0\.1:(\d+)/;
/** The supervisor's line when it starts (or restarts) a child. */
export const STACK_STARTED = /(\S+) started \(pid (\d+)\)/;

/** `deno run -A main.ts start --free-ports ...` as a subprocess, in its own process group. */
export class StackProcess {
  readonly process: Deno.ChildProcess;
  readonly lines: string[] = [];
  readonly #pumps: Promise<void>;
  #exited = false;

  constructor(args: readonly string[], options: { cwd?: string } = {}) {
    this.process = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "start", "--free-ports", ...args],
      cwd: options.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      // Its own process group, so a test can send it a terminal's Ctrl-C.
      detached: true,
    }).spawn();
    this.process.status.then(() => this.#exited = true);
    this.#pumps = Promise.all([this.#pump(this.process.stdout), this.#pump(this.process.stderr)])
      .then(() => {});
  }

  get exited(): boolean {
    return this.#exited;
  }

  /**
   * Polls until `test` holds (bounded; the output is in the error). Fails at
   * once when the stack exits first, unless `afterExit` says that is expected.
   */
  async waitFor(
    what: string,
    test: () => boolean,
    options: { timeoutMs?: number; afterExit?: boolean } = {},
  ): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    while (!test()) {
      if (this.#exited && options.afterExit !== true) {
        await this.status();
        if (test()) return;
        throw new Error(`the stack exited before ${what}:\n${this.lines.join("\n")}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}:\n${this.lines.join("\n")}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Ports by service label and role, from the "listening" lines. */
  ports(): Record<string, Record<string, number>> {
    const ports: Record<string, Record<string, number>> = {};
    for (const line of this.lines) {
      const match = LISTENING.exec(line);
      if (match === null) continue;
      const label = this.labelOf(line);
      if (label !== undefined) (ports[label] ??= {})[match[2]] = Number(match[3]);
    }
    return ports;
  }

  /** Waits until every built service has logged its admin port (its last listening line). */
  async everyoneListening(): Promise<Record<string, Record<string, number>>> {
    await this.waitFor(
      "every built service to listen",
      () => BUILT.every((m) => this.ports()[m.label]?.admin !== undefined),
    );
    return this.ports();
  }

  /** The label a line belongs to: the text prefix or the JSON `service` field. */
  labelOf(line: string): string | undefined {
    if (line.startsWith("{")) return JSON.parse(line).service;
    return /^(\S+)\s+\| /.exec(line)?.[1];
  }

  async status(): Promise<Deno.CommandStatus> {
    const status = await this.process.status;
    await this.#pumps;
    return status;
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of stream) {
      pending += decoder.decode(chunk, { stream: true });
      const parts = pending.split("\n");
      pending = parts.pop()!;
      this.lines.push(...parts);
    }
    if (pending) this.lines.push(pending);
  }
}
