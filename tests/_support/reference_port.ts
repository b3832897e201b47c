// Starts a reference server (redis-server, postgres, nsd) that cannot be told
// "port 0" on a free loopback port, without racing the tests that run
// alongside.
//
// The port comes from binding port 0 and releasing it, so between the release
// and the server's own bind anyone may take it: another test's server, or a
// client's ephemeral port. Two rules make that harmless:
//
// - The server is ready when it says so in its own log ("ready to accept
//   connections" after its bind succeeded), never when a connect succeeds:
//   a connect may reach whoever took the port.
// - A server that exits before saying so (its bind failed) is started again
//   on another port, a bounded number of times.
//
// The server's output is read all along (a full pipe would stall it); the
// last lines are kept for error messages.

export interface ReferenceProcess {
  readonly port: number;
  readonly process: Deno.ChildProcess;
  /** The last lines the server wrote (stdout and stderr). */
  readonly lines: string[];
  /** Resolves once the process has exited and its output is read. */
  readonly exited: Promise<Deno.CommandStatus>;
}

export interface ReferenceOptions {
  /** A line the server writes only once it listens. */
  ready: RegExp;
  /** Also require the port to be free for UDP (a DNS server binds both). */
  udp?: boolean;
  /** Starts on another port at most this many times. */
  attempts?: number;
  /** Per attempt, for the ready line. */
  timeoutMs?: number;
}

const LINES_KEPT = 200;

/** A loopback port free for TCP (and UDP when asked) right now; another process may take it later. */
export function probePort(options: { udp?: boolean } = {}): number {
  for (let attempt = 0; attempt < 20; attempt++) {
    const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const { port } = tcp.addr;
    try {
      if (options.udp) {
        Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port }).close();
      }
      return port;
    } catch {
      // taken for UDP: try another
    } finally {
      tcp.close();
    }
  }
  throw new Error("no free port found");
}

/**
 * Spawns `launch(port)` (stdout and stderr piped) on a probed port until it
 * logs `options.ready`; retries on another port when it exits first.
 */
export async function startOnFreePort(
  launch: (port: number) => Deno.ChildProcess | Promise<Deno.ChildProcess>,
  options: ReferenceOptions,
): Promise<ReferenceProcess> {
  const attempts = options.attempts ?? 5;
  const failures: string[] = [];
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = probePort({ udp: options.udp });
    const started = await startOnce(await launch(port), port, options);
    if (typeof started !== "string") return started;
    failures.push(`port ${port}: ${started}`);
  }
  throw new Error(`server did not start in ${attempts} attempts:\n${failures.join("\n---\n")}`);
}

async function startOnce(
  process: Deno.ChildProcess,
  port: number,
  options: ReferenceOptions,
): Promise<ReferenceProcess | string> {
  const lines: string[] = [];
  let settle!: (outcome: "ready" | "exited" | "timeout") => void;
  const outcome = new Promise<"ready" | "exited" | "timeout">((resolve) => settle = resolve);
  const onLine = (line: string) => {
    lines.push(line);
    if (lines.length > LINES_KEPT) lines.shift();
    if (options.ready.test(line)) settle("ready");
  };
  const pumps = Promise.all([readLines(process.stdout, onLine), readLines(process.stderr, onLine)]);
  const exited = Promise.all([process.status, pumps]).then(([status]) => status);
  exited.then(() => settle("exited"));
  const timer = setTimeout(() => settle("timeout"), options.timeoutMs ?? 30_000);
  const settled = await outcome;
  clearTimeout(timer);
  if (settled === "ready") return { port, process, lines, exited };
  if (settled === "timeout") {
    try {
      process.kill("SIGKILL");
    } catch { /* exited meanwhile */ }
  }
  const status = await exited;
  const why = settled === "timeout"
    ? "not ready in time, killed"
    : `exited (${status.code}) before it was ready`;
  return `${why}:\n${lines.join("\n")}`;
}

async function readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    let newline;
    while ((newline = pending.indexOf("\n")) !== -1) {
      onLine(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
    }
  }
  if (pending) onLine(pending);
}
