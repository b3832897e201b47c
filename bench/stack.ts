// The whole spells stack under load: `deno task start --free-ports` as a
// subprocess, then wrk through the balancer against
//
//   GET  /api/spells/:id   the cache-hit path: lb -> http-api -> cache
//   POST /api/spells       the write path: lb -> http-api -> datastore (INSERT) + mq (SEND, receipt)
//
// Prints requests/s and p99 for each, and each service's share of the CPU
// time the stack used during that run (utime + stime from /proc/<pid>/stat,
// before and after), so the slowest hop is visible. No reference server:
// this is the baseline later rounds set goals from (docs/benchmarks.md).
//
//   deno run -A bench/stack.ts [--duration 10] [--connections 32]
//
// Needs wrk and Linux's /proc. Bounded: each run lasts --duration seconds;
// the POST run creates at most what the stack can insert in that time (its
// names are unique per run). Figures depend on the machine; record them
// with the command in docs/benchmarks.md.

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
/** The stack's own line for each member: "lb: port 41234, admin port 40321". */
const PORTS = /underhood\.stack: (\S+): port (\d+), admin port (\d+)/;
const STARTED = /(\S+) started \(pid (\d+)\)/;
/** Linux's USER_HZ: the unit of utime and stime in /proc/<pid>/stat. */
const CLOCK_TICKS_PER_SECOND = 100;

class Stack {
  readonly lines: string[] = [];
  readonly process: Deno.ChildProcess;
  readonly #pumped: Promise<void>;

  constructor(cwd: string) {
    this.process = new Deno.Command(Deno.execPath(), {
      // The services at warning: an access log line per request would be part of the load.
      args: ["run", "-A", MAIN, "start", "--free-ports", "--services-log-level", "warning"],
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: true,
    }).spawn();
    this.#pumped = Promise.all([this.#pump(this.process.stdout), this.#pump(this.process.stderr)])
      .then(() => {});
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    let pending = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (pending + chunk).split("\n");
      pending = parts.pop()!;
      this.lines.push(...parts);
    }
  }

  async ready(timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.lines.some((l) => l.includes("every service is ready"))) {
      if (Date.now() > deadline) throw new Error(`stack not ready:\n${this.lines.join("\n")}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** A member's port, from the stack's own lines. */
  port(label: string): number {
    for (const line of this.lines) {
      const match = PORTS.exec(line);
      if (match !== null && match[1] === label) return Number(match[2]);
    }
    throw new Error(`no port for ${label}`);
  }

  /** Child pids by member label (the last start of each). */
  pids(): Map<string, number> {
    const pids = new Map<string, number>();
    for (const line of this.lines) {
      const match = STARTED.exec(line);
      if (match !== null) pids.set(match[1], Number(match[2]));
    }
    return pids;
  }

  async stop(): Promise<void> {
    Deno.kill(this.process.pid, "SIGTERM");
    await this.process.status;
    await this.#pumped;
  }
}

/** utime + stime of a process, in clock ticks (0 when it is gone). */
function cpuTicks(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // After "pid (comm) ": field 3 (state) is index 0, so utime (14) and stime (15) are 11 and 12.
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

interface WrkResult {
  rps: number;
  p99Ms: number;
  errors: string;
}

async function runWrk(
  url: string,
  seconds: number,
  connections: number,
  script?: string,
): Promise<WrkResult> {
  const args = ["-t1", `-c${connections}`, `-d${seconds}s`, "--latency"];
  if (script !== undefined) args.push("-s", script);
  const output = await new Deno.Command("wrk", {
    args: [...args, url],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(text);
  const scale = p99?.[2] === "us" ? 0.001 : p99?.[2] === "s" ? 1000 : 1;
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN),
    p99Ms: p99 ? Number(p99[1]) * scale : NaN,
    errors: [/Socket errors:.*/.exec(text)?.[0], /Non-2xx.*/.exec(text)?.[0]]
      .filter(Boolean).join("; "),
  };
}

/** A wrk script POSTing spells with names unique to this run. */
function postScript(run: string): string {
  return `
counter = 0
request = function()
  counter = counter + 1
  local body = '{"name":"Bench ${run} ' .. counter .. '","incantation":"Bench!"}'
  return wrk.format("POST", "/api/spells", { ["content-type"] = "application/json" }, body)
end
`;
}

async function measure(
  stack: Stack,
  name: string,
  url: string,
  seconds: number,
  connections: number,
  script?: string,
): Promise<void> {
  const pids = stack.pids();
  const before = new Map([...pids].map(([label, pid]) => [label, cpuTicks(pid)]));
  const result = await runWrk(url, seconds, connections, script);
  const used = [...pids].map(([label, pid]) => ({
    label,
    ticks: cpuTicks(pid) - (before.get(label) ?? 0),
  })).filter((u) => u.ticks > 0).sort((a, b) => b.ticks - a.ticks);
  const total = used.reduce((n, u) => n + u.ticks, 0);
  console.log(
    `${name.padEnd(22)} ${result.rps.toFixed(0).padStart(7)} req/s   p99 ${
      result.p99Ms.toFixed(2)
    } ms${result.errors ? `   (${result.errors})` : ""}`,
  );
  const shares = used.map((u) => {
    const cores = u.ticks / CLOCK_TICKS_PER_SECOND / seconds;
    return `${u.label} ${(100 * u.ticks / total).toFixed(0)}% (${cores.toFixed(2)} cores)`;
  });
  console.log(`  CPU share: ${shares.join(", ")}`);
}

async function main(): Promise<void> {
  const args = parseArgs({
    args: Deno.args,
    options: {
      duration: { type: "string", default: "10" },
      connections: { type: "string", default: "32" },
    },
    strict: true,
  }).values;
  const seconds = Number(args.duration);
  const connections = Number(args.connections);
  const cwd = await Deno.makeTempDir({ prefix: "underhood-bench-stack-" });
  const stack = new Stack(cwd);
  // The stack runs in its own process group: a Ctrl-C or a timeout's SIGTERM here stops it too.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      console.error(`${signal}: stopping the stack`);
      stack.stop().finally(() => Deno.exit(130));
    });
  }
  const scriptFile = await Deno.makeTempFile({ suffix: ".lua" });
  try {
    await stack.ready();
    const lb = `http://127.0.0.1:${stack.port("lb")}`;
    const created = await fetch(`${lb}/api/spells`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "Bench Target", incantation: "Bench!" }),
    });
    const { id } = await created.json();
    await (await fetch(`${lb}/api/spells/${id}`)).body?.cancel(); // now in the cache
    console.log(
      `stack ready; wrk -t1 -c${connections} -d${seconds}s through the lb (${lb}); CPU from /proc`,
    );
    await runWrk(`${lb}/api/spells/${id}`, Math.min(2, seconds), connections); // warm-up
    await measure(stack, `GET /api/spells/${id}`, `${lb}/api/spells/${id}`, seconds, connections);
    await Deno.writeTextFile(scriptFile, postScript(crypto.randomUUID().slice(0, 8)));
    await measure(stack, "POST /api/spells", `${lb}/api/spells`, seconds, connections, scriptFile);
  } finally {
    await stack.stop();
    await Deno.remove(scriptFile);
    await Deno.remove(cwd, { recursive: true });
  }
}

if (import.meta.main) {
  await main();
  Deno.exit(0); // the signal listeners would keep the process alive
}
