// The load balancer side by side: the same two lib/http "hello" backends
// (each its own process) behind our lb, nginx (proxy_pass to an upstream
// with keepalive, one worker) and HAProxy (one thread), each driven in turn
// by wrk with one thread and 50 keep-alive connections. Prints requests/s,
// p99 latency, CPU time per proxied request and the ratios ours/reference.
//
// CPU per request is the proxy's user+system time (its process and every
// descendant, so nginx's worker counts) read from /proc/<pid>/stat around
// the measured wrk run, divided by the requests wrk completed. On a busy
// machine it is much steadier than requests/s, which swings with whatever
// else runs; on Linux only (NaN elsewhere).
//
//   deno run -A bench/lb.ts [--duration 10] [--connections 50]
//
// Goal (the lb issue): at least 0.8 of nginx's requests/s. Needs wrk; nginx
// and haproxy are each skipped with a message when not on PATH
// (`apt-get install -y nginx-light haproxy`). Figures depend on the
// machine; record them with the command in docs/benchmarks.md.

import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { startTarget, type Target } from "./http.ts";
import { freePort } from "./_ports.ts";

const SELF = fileURLToPath(import.meta.url);
const BODY = "Hello, World!";

async function serveBackend(): Promise<void> {
  const { serveHttp } = await import("../lib/http/server.ts");
  const server = serveHttp({
    connectionsMax: 4096,
    idleTimeoutMs: 120_000,
    handler: () => ({ status: 200, headers: { "content-type": "text/plain" }, body: BODY }),
  });
  console.log(`PORT ${server.addr.port}`);
}

async function serveLb(backends: string[]): Promise<void> {
  const { setupLogging } = await import("../lib/log.ts");
  const { startLb } = await import("../services/lb/mod.ts");
  // No access log line per request: the references log none either.
  setupLogging({ level: "warning", format: "text" });
  const lb = await startLb({
    host: "127.0.0.1",
    port: 0,
    adminPort: 0,
    drainTimeoutMs: 1000,
    backend: backends.map((port) => `http://127.0.0.1:${port}`),
  });
  console.log(`PORT ${lb.addresses.http.port}`);
}

function has(binary: string): boolean {
  try {
    const { success } = new Deno.Command("sh", {
      args: ["-c", `command -v ${binary}`],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return success;
  } catch {
    return false;
  }
}

/** A reference proxy run from a config file; "PORT n" is printed by a wrapper shell. */
async function nginxTarget(dir: string, backends: number[]): Promise<Target> {
  const port = freePort();
  const conf = join(dir, "nginx.conf");
  await Deno.writeTextFile(
    conf,
    `worker_processes 1;
daemon off;
pid ${join(dir, "nginx.pid")};
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  upstream backends {
${backends.map((p) => `    server 127.0.0.1:${p};`).join("\n")}
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
  );
  return {
    name: "nginx",
    command: "sh",
    args: ["-c", `echo PORT ${port}; exec nginx -p ${dir} -c ${conf}`],
  };
}

async function haproxyTarget(dir: string, backends: number[]): Promise<Target> {
  const port = freePort();
  const conf = join(dir, "haproxy.cfg");
  await Deno.writeTextFile(
    conf,
    `global
  nbthread 1
  maxconn 8192
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend in
  bind 127.0.0.1:${port}
  default_backend backends
backend backends
  balance roundrobin
${backends.map((p, i) => `  server s${i} 127.0.0.1:${p}`).join("\n")}
`,
  );
  return {
    name: "haproxy",
    command: "sh",
    args: ["-c", `echo PORT ${port}; exec haproxy -db -f ${conf}`],
  };
}

async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`nothing listens on ${port}`);
}

async function runWrk(port: number, seconds: number, connections: number): Promise<string> {
  const output = await new Deno.Command("wrk", {
    args: ["-t1", `-c${connections}`, `-d${seconds}s`, "--latency", `http://127.0.0.1:${port}/`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(output.stdout);
}

interface Result {
  name: string;
  rps: number;
  p99Ms: number;
  /** The proxy's CPU time per completed request, in microseconds. */
  cpuUsPerRequest: number;
  errors: string;
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** User plus system CPU ticks of `pid` and all its descendants, from /proc; NaN off Linux. */
function cpuTicks(pid: number): number {
  let ticks = 0;
  const pending = [pid];
  for (let seen = 0; pending.length > 0 && seen < 64; seen++) {
    const next = pending.pop()!;
    try {
      const stat = Deno.readTextFileSync(`/proc/${next}/stat`);
      // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
      const children = Deno.readTextFileSync(`/proc/${next}/task/${next}/children`);
      for (const child of children.split(" ")) if (child !== "") pending.push(Number(child));
    } catch {
      if (next === pid) return NaN;
    }
  }
  return ticks;
}

function parseWrk(name: string, text: string, cpuTicksUsed: number): Result {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(text);
  const scale = p99?.[2] === "us" ? 0.001 : p99?.[2] === "s" ? 1000 : 1;
  const errors = [/Socket errors:.*/.exec(text)?.[0], /Non-2xx.*/.exec(text)?.[0]]
    .filter(Boolean).join("; ");
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? NaN);
  const cpuUsPerRequest = cpuTicksUsed / TICKS_PER_SECOND * 1e6 / requests;
  return { name, rps, p99Ms: p99 ? Number(p99[1]) * scale : NaN, cpuUsPerRequest, errors };
}

async function measure(target: Target, seconds: number, connections: number): Promise<Result> {
  const { port, child } = await startTarget(target);
  try {
    await waitListening(port);
    await runWrk(port, Math.min(2, seconds), connections); // warm-up
    const before = cpuTicks(child.pid);
    const text = await runWrk(port, seconds, connections);
    const result = parseWrk(target.name, text, cpuTicks(child.pid) - before);
    console.log(
      `${result.name.padEnd(8)} ${result.rps.toFixed(0).padStart(8)} req/s   p99 ${
        result.p99Ms.toFixed(2)
      } ms   CPU ${result.cpuUsPerRequest.toFixed(1)} us/request${
        result.errors ? `   (${result.errors})` : ""
      }`,
    );
    return result;
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
}

async function main(): Promise<void> {
  const args = parseArgs({
    args: Deno.args,
    options: {
      serve: { type: "string" },
      backends: { type: "string", default: "" },
      duration: { type: "string", default: "10" },
      connections: { type: "string", default: "50" },
    },
    strict: true,
  }).values;
  if (args.serve === "backend") return await serveBackend();
  if (args.serve === "lb") return await serveLb(args.backends.split(","));
  const seconds = Number(args.duration);
  const connections = Number(args.connections);
  const backendTarget: Target = {
    name: "backend",
    command: Deno.execPath(),
    args: ["run", "-A", SELF, "--serve", "backend"],
  };
  const backends = [await startTarget(backendTarget), await startTarget(backendTarget)];
  const ports = backends.map((b) => b.port);
  const dir = await Deno.makeTempDir({ prefix: "underhood-bench-lb-" });
  try {
    const targets: Target[] = [{
      name: "lb",
      command: Deno.execPath(),
      args: ["run", "-A", SELF, "--serve", "lb", "--backends", ports.join(",")],
    }];
    if (has("nginx")) targets.push(await nginxTarget(dir, ports));
    else console.log("nginx: skipped (not installed; apt-get install -y nginx-light)");
    if (has("haproxy")) targets.push(await haproxyTarget(dir, ports));
    else console.log("haproxy: skipped (not installed; apt-get install -y haproxy)");
    const results = new Map<string, Result>();
    for (const target of targets) {
      results.set(target.name, await measure(target, seconds, connections));
    }
    const ours = results.get("lb")!;
    console.log("");
    for (const [name, goal] of [["nginx", " (goal >= 0.80)"], ["haproxy", ""]] as const) {
      const reference = results.get(name);
      if (reference === undefined) continue;
      console.log(
        `lb / ${name}: ${(ours.rps / reference.rps).toFixed(2)} req/s${goal}, p99 ${
          (ours.p99Ms / reference.p99Ms).toFixed(2)
        }x, CPU per request ${(ours.cpuUsPerRequest / reference.cpuUsPerRequest).toFixed(2)}x`,
      );
    }
  } finally {
    for (const backend of backends) {
      backend.child.kill("SIGTERM");
      await backend.child.status;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
