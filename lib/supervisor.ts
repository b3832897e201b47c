// A process supervisor: runs each child as its own process, prefixes every
// line it prints with its name, restarts it with exponential backoff when
// it dies, and stops them all cleanly on request.
//
// One process per service means a busy or crashed service cannot stall the
// others, which is the point of running a stack of separate servers.

export interface ChildSpec {
  /** Label for its log lines, e.g. "http-api-1". */
  readonly name: string;
  /** The executable and its arguments. */
  readonly command: readonly [string, ...string[]];
}

export interface SupervisorOptions {
  /** Receives every output line, already prefixed. */
  onLine?: (line: string) => void;
  /** First restart delay; doubled on each quick crash up to `backoffMaxMs`. */
  backoffStartMs?: number;
  backoffMaxMs?: number;
  /** A child that ran this long before dying restarts after the first delay again. */
  stableAfterMs?: number;
  /** How long children get to drain after SIGTERM before SIGKILL. */
  stopTimeoutMs?: number;
}

interface Running {
  spec: ChildSpec;
  process?: Deno.ChildProcess;
  backoffMs: number;
  restarts: number;
  done: Promise<void>;
}

const encoder = new TextEncoder();
const OUTPUT_GRACE_MS = 1000;

export class Supervisor {
  #children: Running[] = [];
  #stopping = false;
  #wake = new Set<() => void>();
  #options: Required<SupervisorOptions>;
  #width: number;

  constructor(specs: readonly ChildSpec[], options: SupervisorOptions = {}) {
    this.#options = {
      onLine: options.onLine ?? defaultOnLine,
      backoffStartMs: options.backoffStartMs ?? 500,
      backoffMaxMs: options.backoffMaxMs ?? 30_000,
      stableAfterMs: options.stableAfterMs ?? 10_000,
      stopTimeoutMs: options.stopTimeoutMs ?? 15_000,
    };
    this.#width = Math.max(0, ...specs.map((spec) => spec.name.length));
    for (const spec of specs) {
      const child: Running = {
        spec,
        backoffMs: this.#options.backoffStartMs,
        restarts: 0,
        done: Promise.resolve(),
      };
      this.#children.push(child);
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

  /** SIGTERM to all, SIGKILL to whoever is still alive after the timeout. */
  async stop(): Promise<void> {
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
        this.#say(child.spec.name, "did not stop in time, killing");
        signal(child.process, "SIGKILL");
      }
      await all;
    }
  }

  async #keepRunning(child: Running): Promise<void> {
    while (!this.#stopping) {
      const startedAt = Date.now();
      let status: Deno.CommandStatus;
      try {
        const [program, ...args] = child.spec.command;
        child.process = new Deno.Command(program, {
          args,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const readers = [child.process.stdout.getReader(), child.process.stderr.getReader()];
        const output = Promise.all(readers.map((r) => this.#pipeLines(child.spec.name, r)));
        status = await child.process.status;
        // A grandchild may still hold the pipes open; give it a moment, then let go.
        await settleWithin(output, OUTPUT_GRACE_MS, () => readers.forEach((r) => r.cancel()));
      } catch (error) {
        this.#say(
          child.spec.name,
          `could not start: ${error instanceof Error ? error.message : error}`,
        );
        status = { success: false, code: 127, signal: null };
      }
      child.process = undefined;
      if (this.#stopping) return;
      if (Date.now() - startedAt >= this.#options.stableAfterMs) {
        child.backoffMs = this.#options.backoffStartMs;
      }
      const how = status.signal ? `signal ${status.signal}` : `code ${status.code}`;
      this.#say(child.spec.name, `exited with ${how}; restarting in ${child.backoffMs} ms`);
      await this.#sleep(child.backoffMs);
      child.backoffMs = Math.min(child.backoffMs * 2, this.#options.backoffMaxMs);
      if (!this.#stopping) child.restarts++;
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
        this.#say(name, pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
    }
    if (pending.length > 0) this.#say(name, pending);
  }

  #say(name: string, line: string): void {
    this.#options.onLine(`${name.padEnd(this.#width)} | ${line}`);
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

function signal(process: Deno.ChildProcess | undefined, name: Deno.Signal): void {
  try {
    process?.kill(name);
  } catch {
    // Already exited: nothing to signal.
  }
}

function defaultOnLine(line: string): void {
  const bytes = encoder.encode(line + "\n");
  let offset = 0;
  while (offset < bytes.length) offset += Deno.stdout.writeSync(bytes.subarray(offset));
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
