// HTTP/1.1 side by side: the same "hello" handler on lib/http, on
// Deno.serve and on Node's node:http, each in its own process, driven one
// after the other by wrk with one thread and 50 keep-alive connections.
// Prints requests/s, p99 latency and the ratios ours/reference.
//
//   deno run -A bench/http.ts [--duration 10] [--connections 50] [--rounds 1]
//                             [--metrics] [--varied]
//
// --metrics gives lib/http a MetricsRegistry, as services run it (request
// counts by status and a latency histogram); the references keep none.
// --varied makes every request and response different: wrk (through a Lua
// script) asks for /item/<n> with an X-Request-Id of <n>, and each server
// answers JSON with the path and that header, so no repeated head or
// response can be remembered. The goals are for the "hello" run.
//
// Goal (issue 3): at least node:http's rate, and at least 0.8 of
// Deno.serve's. Needs wrk and node on PATH. Figures depend on the machine;
// record them with the command in docs/benchmarks.md.

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

const BODY = "Hello, World!";
const SELF = fileURLToPath(import.meta.url);

function nodeServer(varied: boolean): string {
  const respond = varied
    ? `const body = JSON.stringify({ path: req.url, id: req.headers["x-request-id"] });
  res.writeHead(200, { "content-type": "application/json" });
  res.end(body);`
    : `res.writeHead(200, { "content-type": "text/plain" });
  res.end(${JSON.stringify(BODY)});`;
  return `
const http = require("node:http");
const server = http.createServer((req, res) => {
  ${respond}
});
server.listen(0, "127.0.0.1", () => console.log("PORT " + server.address().port));
`;
}

/** wrk's script for --varied: a new path and request ID every request. */
const VARIED_WRK_SCRIPT = `
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/item/" .. counter, {
    ["X-Request-Id"] = tostring(counter), ["Accept"] = "application/json" })
end
`;

async function serveOurs(withMetrics: boolean, varied: boolean): Promise<void> {
  const { serveHttp } = await import("../lib/http/server.ts");
  const { MetricsRegistry } = await import("../lib/metrics.ts");
  const server = serveHttp({
    // What every service does: count requests by status and time them.
    registry: withMetrics ? new MetricsRegistry() : undefined,
    handler: varied
      ? (request) => ({
        status: 200,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ path: request.path, id: request.headers.get("x-request-id") }),
      })
      : () => ({ status: 200, headers: { "content-type": "text/plain" }, body: BODY }),
  });
  console.log(`PORT ${server.addr.port}`);
}

function serveDeno(varied: boolean): void {
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) => console.log(`PORT ${port}`),
    },
    varied
      ? (request) => {
        const body = JSON.stringify({
          path: new URL(request.url).pathname,
          id: request.headers.get("x-request-id"),
        });
        return new Response(body, { headers: { "content-type": "application/json" } });
      }
      : () => new Response(BODY, { headers: { "content-type": "text/plain" } }),
  );
  void server;
}

export interface Target {
  name: string;
  command: string;
  args: string[];
}

function targets(withMetrics: boolean, varied: boolean): Target[] {
  const mode = varied ? ["--varied"] : [];
  const ours = [
    "run",
    "-A",
    SELF,
    "--serve",
    "ours",
    ...mode,
    ...(withMetrics ? ["--metrics"] : []),
  ];
  return [
    { name: "lib/http", command: Deno.execPath(), args: ours },
    {
      name: "Deno.serve",
      command: Deno.execPath(),
      args: ["run", "-A", SELF, "--serve", "deno", ...mode],
    },
    { name: "node:http", command: "node", args: ["-e", nodeServer(varied)] },
  ];
}

interface Result {
  name: string;
  rps: number;
  p99Ms: number;
  errors: string;
}

/** Starts a server process that prints "PORT n" once it listens. */
export async function startTarget(
  target: Target,
): Promise<{ port: number; child: Deno.ChildProcess }> {
  const child = new Deno.Command(target.command, {
    args: target.args,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/PORT (\d+)/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${target.name} exited before listening`);
    text += value;
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  return { port: Number(/PORT (\d+)/.exec(text)![1]), child };
}

async function runWrk(port: number, seconds: number, connections: number, script?: string) {
  const output = await new Deno.Command("wrk", {
    args: [
      "-t1",
      `-c${connections}`,
      `-d${seconds}s`,
      "--latency",
      ...(script ? ["-s", script] : []),
      `http://127.0.0.1:${port}/`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(output.stdout);
}

function parseWrk(name: string, text: string): Result {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(text);
  const scale = p99?.[2] === "us" ? 0.001 : p99?.[2] === "s" ? 1000 : 1;
  const errors = [/Socket errors:.*/.exec(text)?.[0], /Non-2xx.*/.exec(text)?.[0]]
    .filter(Boolean).join("; ");
  return { name, rps, p99Ms: p99 ? Number(p99[1]) * scale : NaN, errors };
}

async function main(): Promise<void> {
  const args = parseArgs({
    args: Deno.args,
    options: {
      serve: { type: "string" },
      duration: { type: "string", default: "10" },
      connections: { type: "string", default: "50" },
      rounds: { type: "string", default: "1" },
      metrics: { type: "boolean", default: false },
      varied: { type: "boolean", default: false },
    },
    strict: true,
  }).values;
  if (args.serve === "ours") return await serveOurs(args.metrics, args.varied);
  if (args.serve === "deno") return serveDeno(args.varied);
  let script: string | undefined;
  if (args.varied) {
    script = await Deno.makeTempFile({ suffix: ".lua" });
    await Deno.writeTextFile(script, VARIED_WRK_SCRIPT);
  }
  const seconds = Number(args.duration);
  const connections = Number(args.connections);
  const rounds = Number(args.rounds);
  // Rounds alternate the servers so a burst of outside load lands on all
  // of them; the ratios are taken per round and their median reported.
  const toDeno: number[] = [];
  const toNode: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    if (rounds > 1) console.log(`round ${round}/${rounds}`);
    const results: Result[] = [];
    for (const target of targets(args.metrics, args.varied)) {
      results.push(await measure(target, seconds, connections, script));
    }
    const [ours, deno, node] = results;
    toDeno.push(ours.rps / deno.rps);
    toNode.push(ours.rps / node.rps);
  }
  console.log("");
  const label = rounds > 1
    ? ` (median of ${rounds}: ${toDeno.map((r) => r.toFixed(2)).join(" ")})`
    : "";
  // The goals are set for the "hello" workload.
  const goal = (ratio: string) => args.varied ? "" : ` (goal >= ${ratio})`;
  console.log(`lib/http / Deno.serve: ${median(toDeno).toFixed(2)}${goal("0.80")}${label}`);
  console.log(`lib/http / node:http:  ${median(toNode).toFixed(2)}${goal("1.00")}`);
  if (script) await Deno.remove(script);
}

async function measure(
  target: Target,
  seconds: number,
  connections: number,
  script: string | undefined,
): Promise<Result> {
  const { port, child } = await startTarget(target);
  try {
    // A warm-up so JITs have compiled the hot paths.
    await runWrk(port, 2, connections, script);
    const result = parseWrk(target.name, await runWrk(port, seconds, connections, script));
    console.log(
      `${result.name.padEnd(11)} ${result.rps.toFixed(0).padStart(8)} req/s   p99 ${
        result.p99Ms.toFixed(2)
      } ms${result.errors ? `   (${result.errors})` : ""}`,
    );
    return result;
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

if (import.meta.main) await main();
