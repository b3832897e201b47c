// A process supervisor: runs each child as its own process, passes on every
// line it prints, restarts it with exponential backoff when it dies, forwards
// a reload (SIGHUP) to the children that reload, and stops them all cleanly
// on request.
//
// One process per service means a busy or crashed service cannot stall the
// others, which is the point of running a stack of separate servers.
//
// Children never outlive the supervisor. Each one gets a pipe on its stdin
// whose write end only the supervisor holds (Deno opens it close-on-exec, so
// no other child inherits it), and the environment variable
// UNDERHOOD_SUPERVISOR_PIPE=stdin; lib/lifecycle.ts then drains and exits
// when that pipe reaches end of file. The kernel closes the pipe however the
// supervisor ends (SIGKILL, the OOM killer, a crash), which no signal
// handler could promise.
//
// Exit code 2 means a bad command line (lib/cli.ts): restarting cannot fix
// it, so such a child is reported and left stopped.

import { SUPERVISOR_PIPE_ENV, SUPERVISOR_PIPE_STDIN } from "./lifecycle.ts";
import { writeStdout } from "./log.ts";

export interface ChildSpec {
  /** Label for its log lines, e.g. "http-api-1". */
  readonly name: string;
  /** The executable and its arguments. */
  readonly command: readonly [string, ...string[]];
  /** True when the child reloads its configuration on SIGHUP (`reload()` sends it one). */
  readonly reloads?: boolean;
}

/** What the supervisor reports about its children; LogTape's Logger fits. */
export interface SupervisorLog {
  info(message: string, properties: Record<string, unknown>): void;
  warning(message: string, properties: Record<string, unknown>): void;
  error(message: string, properties: Record<string, unknown>): void;
}

export interface SupervisorOptions {
  /** Receives every line a child prints (stdout and stderr). Default: "name | line" on stdout. */
  onOutput?: (name: string, line: string) => void;
  /** Receives the supervisor's own reports (started, exited, restarting...). */
  log?: SupervisorLog;
  /** First restart delay; doubled on each quick crash up to `backoffMsMax`. */
  backoffStartMs?: number;
  backoffMsMax?: number;
  /** A child that ran this long before dying restarts after the first delay again. */
  stableAfterMs?: number;
  /** How long children get to drain after SIGTERM before SIGKILL. */
  stopTimeoutMs?: number;
}

/** How the children ended when the supervisor stopped them. */
export interface StopReport {
  /**
   * True when every child that was running exited with code 0, or ended by
   * the stop's own SIGTERM: a child with no handler for it yet, still
   * starting. (lib/lifecycle.ts installs the handler before the service
   * listens, so such a child had nothing to drain; a child restarted just
   * before a stop meets it.)
   */
  readonly clean: boolean;
  /** "code 0", "code 1", "signal SIGKILL"..., by child name, for children that were running. */
  readonly exits: Readonly<Record<string, string>>;
}

interface Running {
  spec: ChildSpec;
  process?: Deno.ChildProcess;
  backoffMs: number;
  restarts: number;
  done: Promise<void>;
}

const OUTPUT_GRACE_MS = 1000;
const USAGE_EXIT_CODE = 2;

export class Supervisor {
  #children: Running[] = [];
  #stopping = false;
  #restartsEnded = false;
  #stopped?: Promise<StopReport>;
  #exits: Record<string, string> = {};
  #wake = new Set<() => void>();
  #options: Required<Omit<SupervisorOptions, "log">>;
  #log: SupervisorLog;

  constructor(specs: readonly ChildSpec[], options: SupervisorOptions = {}) {
    const width = Math.max(0, ...specs.map((spec) => spec.name.length));
    this.#options = {
      onOutput: options.onOutput ??
        ((name, line) => writeStdout(`${name.padEnd(width)} | ${line}\n`)),
      backoffStartMs: options.backoffStartMs ?? 500,
      backoffMsMax: options.backoffMsMax ?? 30_000,
      stableAfterMs: options.stableAfterMs ?? 10_000,
      stopTimeoutMs: options.stopTimeoutMs ?? 15_000,
    };
    this.#log = options.log ?? consoleLog;
    for (const spec of specs) {
      this.#children.push({
        spec,
        backoffMs: this.#options.backoffStartMs,
        restarts: 0,
        done: Promise.resolve(),
      });
    }
  }

  /** Starts every child (in order) and keeps them running until `stop()`. */
  start(): void {
    for (const child of this.#children) child.done = this.#keepRunning(child);
  }

  /** How many times each child has been restarted. */
  restarts(): Record<string, number> {
    return Object.fromEntries(this.#children.map((c) => [c.spec.name, c.restarts]));
  }

  /** The live process ids, by child name (for tests and status lines). */
  pids(): Record<string, number | undefined> {
    return Object.fromEntries(this.#children.map((c) => [c.spec.name, c.process?.pid]));
  }

  /** Sends SIGHUP to every running child that reloads; returns their names. */
  reload(): string[] {
    const reloaded: string[] = [];
    for (const child of this.#children) {
      if (child.spec.reloads !== true || child.process === undefined) continue;
      signal(child.process, "SIGHUP");
      reloaded.push(child.spec.name);
    }
    return reloaded;
  }

  /**
   * SIGTERM to all, SIGKILL to whoever is still alive after the timeout.
   * Logs each child's exit status; calling it again returns the same report.
   */
  stop(): Promise<StopReport> {
    return this.#stopped ??= this.#stop();
  }

  /**
   * From now on a child that exits stays stopped, and one waiting for its
   * restart is not started again; running children are left alone. The
   * first step of a stop in stages (`stopInOrder()`): without it, a child
   * restarting while other supervisors stop would be started just to be
   * sent SIGTERM before it can handle it, and end by that signal.
   */
  endRestarts(): void {
    this.#restartsEnded = true;
    for (const wake of this.#wake) wake();
  }

  /** SIGKILL to every child now, without waiting for a drain (a forced stop). */
  kill(): void {
    this.#stopping = true;
    for (const wake of this.#wake) wake();
    for (const child of this.#children) signal(child.process, "SIGKILL");
  }

  async #stop(): Promise<StopReport> {
    this.#stopping = true;
    for (const wake of this.#wake) wake();
    for (const child of this.#children) signal(child.process, "SIGTERM");
    const all = Promise.all(this.#children.map((c) => c.done));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((resolve) =>
        timer = setTimeout(() => resolve(true), this.#options.stopTimeoutMs)
      ),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      for (const child of this.#children) {
        if (child.process === undefined) continue;
        this.#log.error("{child} did not stop within {ms} ms, killing it", {
          child: child.spec.name,
          ms: this.#options.stopTimeoutMs,
        });
        signal(child.process, "SIGKILL");
      }
      await all;
    }
    const exits = { ...this.#exits };
    return { clean: Object.values(exits).every(isCleanStop), exits };
  }

  async #keepRunning(child: Running): Promise<void> {
    const name = child.spec.name;
    while (!this.#stopping) {
      const startedAt = Date.now();
      let status: Deno.CommandStatus;
      try {
        const [program, ...args] = child.spec.command;
        const process = new Deno.Command(program, {
          args,
          stdin: "piped",
          stdout: "piped",
          stderr: "piped",
          env: { [SUPERVISOR_PIPE_ENV]: SUPERVISOR_PIPE_STDIN },
        }).spawn();
        child.process = process;
        this.#log.info("{child} started (pid {pid})", { child: name, pid: process.pid });
        // A stop that began while the process was spawning must reach it too.
        if (this.#stopping) signal(process, "SIGTERM");
        const readers = [process.stdout.getReader(), process.stderr.getReader()];
        const output = Promise.all(readers.map((r) => this.#pipeLines(name, r)));
        status = await process.status;
        // The write end of the child's stdin: only we held it, and it is no use now.
        await process.stdin.close().catch(() => {});
        // A grandchild may still hold the pipes open; give it a moment, then let go.
        await settleWithin(output, OUTPUT_GRACE_MS, () => readers.forEach((r) => r.cancel()));
      } catch (error) {
        this.#log.error("{child} could not start: {error}", {
          child: name,
          error: error instanceof Error ? error.message : String(error),
        });
        status = { success: false, code: 127, signal: null };
      }
      child.process = undefined;
      const how = status.signal ? `signal ${status.signal}` : `code ${status.code}`;
      if (this.#stopping) {
        // Our own SIGTERM can only kill a child still starting (a service
        // handles it once it runs, lib/lifecycle.ts): a restart that the stop
        // overtook. It had nothing to drain, so that is a clean stop too.
        const stoppedStarting = status.signal === "SIGTERM";
        this.#exits[name] = how;
        if (status.success) this.#log.info("{child} exited with {how}", { child: name, how });
        else if (stoppedStarting) {
          this.#log.info("{child} was stopped while starting ({how})", { child: name, how });
        } else {
          this.#log.warning("{child} did not stop cleanly: exited with {how}", {
            child: name,
            how,
          });
        }
        return;
      }
      if (status.code === USAGE_EXIT_CODE && status.signal === null) {
        this.#log.error("{child} exited with {how} (a bad command line); not restarting it", {
          child: name,
          how,
        });
        return;
      }
      if (this.#restartsEnded) {
        this.#log.warning("{child} exited with {how}; not restarting it: stopping", {
          child: name,
          how,
        });
        return;
      }
      if (Date.now() - startedAt >= this.#options.stableAfterMs) {
        child.backoffMs = this.#options.backoffStartMs;
      }
      this.#log.warning("{child} exited with {how}; restarting in {delayMs} ms", {
        child: name,
        how,
        delayMs: child.backoffMs,
      });
      await this.#sleep(child.backoffMs);
      child.backoffMs = Math.min(child.backoffMs * 2, this.#options.backoffMsMax);
      if (this.#stopping || this.#restartsEnded) return;
      child.restarts++;
    }
  }

  async #pipeLines(name: string, reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    let pending = "";
    const decoder = new TextDecoder();
    while (true) {
      const { value: chunk, done } = await reader.read().catch(() => ({
        value: undefined,
        done: true,
      }));
      if (done || chunk === undefined) break;
      pending += decoder.decode(chunk, { stream: true });
      let newline;
      while ((newline = pending.indexOf("\n")) !== -1) {
        this.#options.onOutput(name, pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
    }
    if (pending.length > 0) this.#options.onOutput(name, pending);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake.add(done);
    });
  }
}

/**
 * Stops `supervisors` one after another, in the order given, and merges
 * their reports. No child of any of them is restarted once this begins, so a
 * child that died just before cannot come back while the others stop.
 */
export async function stopInOrder(supervisors: readonly Supervisor[]): Promise<StopReport> {
  for (const supervisor of supervisors) supervisor.endRestarts();
  const exits: Record<string, string> = {};
  let clean = true;
  for (const supervisor of supervisors) {
    const report = await supervisor.stop();
    clean &&= report.clean;
    Object.assign(exits, report.exits);
  }
  return { clean, exits };
}

/** Fills "{name}" placeholders from `properties`: the text of a report, without LogTape. */
export function renderReport(message: string, properties: Record<string, unknown>): string {
  return message.replace(
    /\{(\w+)\}/g,
    (whole, key: string) => key in properties ? String(properties[key]) : whole,
  );
}

const consoleLog: SupervisorLog = {
  info: (message, properties) => writeStdout(`supervisor | ${renderReport(message, properties)}\n`),
  warning: (message, properties) =>
    writeStdout(`supervisor | ${renderReport(message, properties)}\n`),
  error: (message, properties) =>
    writeStdout(`supervisor | ${renderReport(message, properties)}\n`),
};

function signal(process: Deno.ChildProcess | undefined, name: Deno.Signal): void {
  try {
    process?.kill(name);
  } catch {
    // Already exited: nothing to signal.
  }
}

async function settleWithin(
  work: Promise<unknown>,
  ms: number,
  onTimeout: () => void,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = await Promise.race([
    work.then(() => false, () => false),
    new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(true), ms)),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    onTimeout();
    await work.catch(() => {});
  }
}

/**
 * A child stopped cleanly when it drained and exited 0, or when our SIGTERM
 * found it still starting, before its handler was installed (a restart the
 * stop overtook: nothing to drain).
 */
export function isCleanStop(how: string): boolean {
  return how === "code 0" || how === "signal SIGTERM";
}
