// CPU time per request of our cache and of redis-server in the same run:
// each server's utime + stime (from /proc/PID/stat) around one
// redis-benchmark run, divided by its requests. On a shared, busy machine
// this is steadier than a throughput ratio (time spent waiting for a core
// does not count), so it is how a change is judged there; bench/cache.ts
// remains the throughput comparison. Workloads: bench/cache.ts's sorted set
// ones on a set of --members members (filled as bench/cache.ts fills it),
// plus ZSCORE and GET (the cost of a command that does almost nothing),
// and LPUSH and LPOP on one list.
//
//   deno run -A bench/cache_cpu.ts [--requests 100000] [--clients 50] [--pipelines 1,16]
//     [--members 1000000] [--workloads ZADD,ZRANGE,ZINCRBY] [--rounds 1] [--warmup 50000]
//     [--together] [--profile DIR]
//
// Each figure is split into user and system time (system time is mostly
// the socket calls, alike for both servers; measured: one recvfrom and one
// sendto per unpipelined request for each, no failed reads, about 0.15
// epoll_wait). --together drives both servers at the same time, each by
// its own redis-benchmark, instead of one after the other: on a machine
// whose load changes from one minute to the next, both then run under the
// same load (they also share the cores, so figures are higher than alone).
// --warmup N runs each workload once unmeasured (N requests, on both
// servers, as bench/cache.ts does) before its rounds: the first run after
// the fill is the costliest for ours (V8's collector and compiler are still
// catching up with the fill); --warmup 0 --rounds 3 shows it. --rounds N
// repeats every workload and prints each round. --profile DIR runs our server under --cpu-prof
// (the profile is written to DIR when it exits, after the runs).

import { commandText, cpuTimes } from "./_process.ts";
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
    rounds: { type: "string", default: "1" },
    warmup: { type: "string", default: "50000" },
    together: { type: "boolean", default: false },
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
  // bench/cache.ts's list tests, one list (LPOP after LPUSH pops what it pushed).
  LPUSH: ["LPUSH", "bench:l", "xxx"],
  LPOP: ["LPOP", "bench:l"],
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
/** CPU time of a server so far, in µs: user and system. */
function cpuOf(server: Server): [number, number] {
  const { userMicros, systemMicros } = cpuTimes(server.process.pid);
  return [userMicros, systemMicros];
}

/** One redis-benchmark run of `command` against `server`. */
function benchmark(
  server: Server,
  pipeline: string,
  command: string[],
  requests = values.requests,
): Promise<string> {
  return commandText("redis-benchmark", [
    "-h",
    "127.0.0.1",
    "-p",
    String(server.port),
    "-n",
    requests,
    "-c",
    values.clients,
    "-P",
    pipeline,
    "-r",
    values.members,
    "--csv",
    ...command,
  ]);
}

try {
  const fill = fillCommands(Number(values.members));
  for (const server of servers) {
    const before = cpuOf(server);
    await commandText("redis-cli", ["-p", String(server.port), "--pipe"], fill);
    const after = cpuOf(server);
    console.log(
      `${server.name}: filling ${values.members} members took ${
        (after[0] + after[1] - before[0] - before[1]) / 1000
      } ms of CPU`,
    );
  }
  const requests = Number(values.requests);
  console.log(
    `redis-benchmark -n ${requests} -c ${values.clients} -r ${values.members}${
      values.together ? ", both servers at once" : ""
    }, after ${values.warmup} unmeasured requests per workload; CPU µs per request (user + system)`,
  );
  console.log(
    "| workload | pipeline | round | cache | redis-server | ratio redis/cache |",
  );
  console.log(
    "|----------|----------|-------|-------|--------------|-------------------|",
  );
  for (const pipeline of values.pipelines.split(",")) {
    for (const name of values.workloads.split(",")) {
      if (Number(values.warmup) > 0) {
        for (const server of servers) await benchmark(server, "1", WORKLOADS[name], values.warmup);
      }
      for (let round = 1; round <= Number(values.rounds); round++) {
        // CPU used by each server during its run: [user, system] µs.
        const used: [number, number][] = [];
        const difference = (a: [number, number], b: [number, number]): [number, number] => [
          a[0] - b[0],
          a[1] - b[1],
        ];
        if (values.together) {
          const before = servers.map(cpuOf);
          await Promise.all(servers.map((server) => benchmark(server, pipeline, WORKLOADS[name])));
          for (const [i, server] of servers.entries()) {
            used.push(difference(cpuOf(server), before[i]));
          }
        } else {
          for (const server of servers) {
            const before = cpuOf(server);
            await benchmark(server, pipeline, WORKLOADS[name]);
            used.push(difference(cpuOf(server), before));
          }
        }
        const [ours, theirs] = used.map(([user, system]) => ({
          user: user / requests,
          system: system / requests,
          total: (user + system) / requests,
        }));
        const cell = (c: { user: number; system: number; total: number }) =>
          `${c.total.toFixed(2)} (${c.user.toFixed(2)} + ${c.system.toFixed(2)})`;
        console.log(
          `| ${name} | ${pipeline} | ${round} | ${cell(ours)} | ${cell(theirs)} | ${
            (theirs.total / ours.total).toFixed(2)
          } |`,
        );
      }
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
