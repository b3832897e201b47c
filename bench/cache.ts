// Side-by-side benchmark: our cache against redis-server (persistence
// off), both driven by redis-benchmark with the same arguments, without
// pipelining and with -P 16; then the memory each needs for 1M small keys
// (inserted with redis-cli --pipe), measured as the growth of the process
// RSS. Prints ops/s and ours/redis ratios.
//
//   deno run -A bench/cache.ts [--requests 200000] [--clients 50] [--keys 1000000] [--rounds 3]
//
// Figures depend on the machine; docs/benchmarks.md records ours with the
// command. Keep runs short on shared machines.

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { freePort, waitForPort } from "./_ports.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    requests: { type: "string", default: "200000" },
    clients: { type: "string", default: "50" },
    keys: { type: "string", default: "1000000" },
    tests: { type: "string", default: "set,get,incr,lpush,lpop" },
    rounds: { type: "string", default: "3" },
  },
  strict: true,
});

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

interface Server {
  name: string;
  port: number;
  process: Deno.ChildProcess;
}

async function startOurs(): Promise<Server> {
  const port = freePort();
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "cache", "--port", String(port), "--log-level", "warning"],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  await waitForPort(port);
  return { name: "cache", port, process };
}

async function startRedis(): Promise<Server> {
  const port = freePort();
  const process = new Deno.Command("redis-server", {
    args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  await waitForPort(port);
  return { name: "redis-server", port, process };
}

async function run(binary: string, args: string[], stdin?: Uint8Array): Promise<string> {
  const child = new Deno.Command(binary, {
    args,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const writer = child.stdin.getWriter();
    await writer.write(stdin);
    await writer.close();
  }
  const output = await child.output();
  return new TextDecoder().decode(output.stdout);
}

/** Requests per second by test name, from redis-benchmark --csv. */
async function benchmark(
  port: number,
  pipeline: number,
  tests: string,
): Promise<Map<string, number>> {
  const csv = await run("redis-benchmark", [
    "-h",
    "127.0.0.1",
    "-p",
    String(port),
    "-t",
    tests,
    "-n",
    values.requests,
    "-c",
    values.clients,
    "-P",
    String(pipeline),
    "--csv",
  ]);
  const rates = new Map<string, number>();
  for (const line of csv.split("\n")) {
    const match = /^"([A-Z_]+)[^"]*","([\d.]+)"/.exec(line);
    if (match) rates.set(match[1], Number(match[2]));
  }
  return rates;
}

function rssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

async function memoryPerKeys(server: Server, keys: number): Promise<number> {
  await run("redis-cli", ["-p", String(server.port), "FLUSHALL"]);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const before = rssBytes(server.process.pid);
  const encoder = new TextEncoder();
  const chunks: string[] = [];
  for (let i = 0; i < keys; i++) {
    const key = `key:${String(i).padStart(7, "0")}`;
    const value = `v${i % 1000}`;
    chunks.push(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${value.length}\r\n${value}\r\n`);
  }
  await run("redis-cli", ["-p", String(server.port), "--pipe"], encoder.encode(chunks.join("")));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return rssBytes(server.process.pid) - before;
}

const servers = [await startOurs(), await startRedis()];
try {
  // Each test alternates between the two servers, best of --rounds, so a
  // burst of load from elsewhere on a shared machine hits both alike.
  const results = new Map<string, Map<string, number>>();
  for (const pipeline of [1, 16]) {
    for (const test of values.tests.split(",")) {
      for (let round = 0; round < Number(values.rounds); round++) {
        for (const server of servers) {
          console.error(`${server.name} ${test} -P ${pipeline} round ${round + 1}`);
          const rates = await benchmark(server.port, pipeline, test);
          const key = `${server.name} ${pipeline}`;
          const best = results.get(key) ?? new Map<string, number>();
          results.set(key, best);
          for (const [name, rate] of rates) best.set(name, Math.max(best.get(name) ?? 0, rate));
        }
      }
    }
  }
  console.log(
    `redis-benchmark -t ${values.tests} -n ${values.requests} -c ${values.clients}, best of ${values.rounds} (ops/s)`,
  );
  console.log("| test | pipeline | cache | redis-server | ratio |");
  console.log("|------|----------|-------|--------------|-------|");
  for (const pipeline of [1, 16]) {
    const ours = results.get(`cache ${pipeline}`)!;
    const theirs = results.get(`redis-server ${pipeline}`)!;
    for (const [test, rate] of theirs) {
      const mine = ours.get(test) ?? 0;
      console.log(
        `| ${test} | ${pipeline} | ${Math.round(mine)} | ${Math.round(rate)} | ${
          (mine / rate).toFixed(2)
        } |`,
      );
    }
  }
  const keys = Number(values.keys);
  const memory: number[] = [];
  for (const server of servers) memory.push(await memoryPerKeys(server, keys));
  console.log(`\nRSS growth for ${keys} SETs (key:NNNNNNN -> vNNN):`);
  console.log(`| server | MiB | bytes/key |`);
  console.log(`|--------|-----|-----------|`);
  servers.forEach((server, i) => {
    console.log(
      `| ${server.name} | ${(memory[i] / 1024 / 1024).toFixed(1)} | ${
        Math.round(memory[i] / keys)
      } |`,
    );
  });
  const heap = JSON.parse(
    await run(Deno.execPath(), [
      "run",
      "--v8-flags=--expose-gc",
      fileURLToPath(new URL("./micro/cache_memory.ts", import.meta.url)),
      String(keys),
    ]),
  );
  console.log(
    `\ncache keyspace alone, in-process after a full GC: ${heap.bytesPerKey} bytes/key ` +
      `(its own estimate, used for --maxmemory: ${heap.estimatedBytesPerKey} bytes/key)`,
  );
} finally {
  for (const server of servers) {
    try {
      server.process.kill("SIGTERM");
    } catch { /* gone */ }
    await server.process.status;
  }
}
