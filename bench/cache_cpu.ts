// CPU time per request of our cache and of redis-server in the same run:
// each server's utime + stime (from /proc/PID/stat) around one
// redis-benchmark run, divided by its requests. On a shared, busy machine
// this is steadier than a throughput ratio (time spent waiting for a core
// does not count), so it is how a change is judged there; bench/cache.ts
// remains the throughput comparison. Workloads: bench/cache.ts's sorted set
// ones on a set of --members members (filled as bench/cache.ts fills it),
// plus ZSCORE and GET (the cost of a command that does almost nothing).
//
//   deno run -A bench/cache_cpu.ts [--requests 100000] [--clients 50] [--pipelines 1,16]
//     [--members 1000000] [--workloads ZADD,ZRANGE,ZINCRBY] [--profile DIR]
//
// --profile DIR runs our server under --cpu-prof (the profile is written to
// DIR when it exits, after the runs).

import { commandText, cpuMicros } from "./_process.ts";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { freePort, waitForPort } from "./_ports.ts";

/**
 * The member redis-benchmark names for `m:__rand_int__`: it writes the
 * random number as 12 zero-padded digits, so the set is filled with the
 * same spelling and ZADD and ZINCRBY then update existing members of a set
 * that stays at --members (as the issue's 1M-member workloads mean).
 */
function benchMember(n: number): string {
  return `m:${String(n).padStart(12, "0")}`;
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    requests: { type: "string", default: "100000" },
    clients: { type: "string", default: "50" },
    pipelines: { type: "string", default: "1,16" },
    members: { type: "string", default: "1000000" },
    workloads: { type: "string", default: "ZADD,ZRANGE,ZINCRBY" },
    profile: { type: "string" },
  },
  strict: true,
});

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

const WORKLOADS: Record<string, string[]> = {
  ZADD: ["ZADD", "bench:z", "__rand_int__", "m:__rand_int__"],
  ZRANGE: ["ZRANGEBYSCORE", "bench:z", "__rand_int__", "+inf", "LIMIT", "0", "10"],
  ZINCRBY: ["ZINCRBY", "bench:z", "1", "m:__rand_int__"],
  ZSCORE: ["ZSCORE", "bench:z", "m:__rand_int__"],
  GET: ["GET", "key:__rand_int__"],
};

interface Server {
  name: string;
  port: number;
  process: Deno.ChildProcess;
}

async function start(name: string, binary: string, args: string[]): Promise<Server> {
  const port = freePort();
  const process = new Deno.Command(binary, {
    args: [...args, "--port", String(port)],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  await waitForPort(port);
  return { name, port, process };
}

function fillCommands(members: number): Uint8Array {
  const parts: string[] = [];
  for (let i = 0; i < members; i += 1000) {
    const batch = ["ZADD", "bench:z"];
    for (let j = i; j < Math.min(members, i + 1000); j++) batch.push(String(j), benchMember(j));
    parts.push(`*${batch.length}\r\n${batch.map((a) => `$${a.length}\r\n${a}\r\n`).join("")}`);
  }
  return new TextEncoder().encode(parts.join(""));
}

const profile = values.profile === undefined
  ? []
  : ["--cpu-prof", `--cpu-prof-dir=${values.profile}`];
const servers = [
  await start("cache", Deno.execPath(), [
    "run",
    "-A",
    ...profile,
    MAIN,
    "cache",
    "--log-level",
    "warning",
  ]),
  await start("redis-server", "redis-server", [
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
  ]),
];
try {
  const fill = fillCommands(Number(values.members));
  for (const server of servers) {
    const before = cpuMicros(server.process.pid) / 1000;
    await commandText("redis-cli", ["-p", String(server.port), "--pipe"], fill);
    console.log(
      `${server.name}: filling ${values.members} members took ${
        (cpuMicros(server.process.pid) / 1000) - before
      } ms of CPU`,
    );
  }
  const requests = Number(values.requests);
  console.log(
    `redis-benchmark -n ${requests} -c ${values.clients} -r ${values.members}; CPU us per request`,
  );
  console.log("| workload | pipeline | cache | redis-server | ratio redis/cache |");
  console.log("|----------|----------|-------|--------------|-------------------|");
  for (const pipeline of values.pipelines.split(",")) {
    for (const name of values.workloads.split(",")) {
      const perRequest: number[] = [];
      for (const server of servers) {
        const before = cpuMicros(server.process.pid) / 1000;
        await commandText("redis-benchmark", [
          "-h",
          "127.0.0.1",
          "-p",
          String(server.port),
          "-n",
          String(requests),
          "-c",
          values.clients,
          "-P",
          pipeline,
          "-r",
          values.members,
          "--csv",
          ...WORKLOADS[name],
        ]);
        perRequest.push(((cpuMicros(server.process.pid) / 1000) - before) * 1000 / requests);
      }
      console.log(
        `| ${name} | ${pipeline} | ${perRequest[0].toFixed(2)} | ${perRequest[1].toFixed(2)} | ${
          (perRequest[1] / perRequest[0]).toFixed(2)
        } |`,
      );
    }
  }
} finally {
  for (const server of servers) {
    try {
      server.process.kill("SIGTERM");
    } catch { /* gone */ }
    await server.process.status;
  }
}
