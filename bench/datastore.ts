// Side-by-side benchmark: our datastore against PostgreSQL 15, both driven
// by pgbench with the same arguments (8 clients, 2 threads, prepared
// statements), after `pgbench -i -s <scale>` on each:
//   - insert: autocommit INSERTs into pgbench_history (one row each);
//   - select: SELECT abalance by primary key (pgbench -S);
//   - update: UPDATE pgbench_accounts by primary key;
//   - tpcb: pgbench's default TPC-B-like transaction.
// Both run with fsync on (PostgreSQL's defaults: synchronous_commit on).
// Prints transactions per second, the 99th percentile latency (from
// pgbench's per-transaction log, -l), the ratio ours/PostgreSQL, and our
// server's CPU per transaction (from /proc: steadier than rates when busy).
//
//   deno run -A bench/datastore.ts [--scale 1] [--seconds 10] [--clients 8] [--rounds 3]
//     [--tests insert,select,update,tpcb] [--targets ours,postgres]
//
// `--targets ours` runs our side only (no ratio): on a busy machine the
// reference's rates swing as much as ours, and alternating short runs of
// our own before/after code say more than a ratio.
//
// PostgreSQL refuses to run as root: when we are root, initdb and postgres
// run as the `postgres` user (or `nobody`) through runuser, in a temp
// directory they own. Figures depend on the machine; docs/benchmarks.md
// records them with the command. Keep runs short on shared machines.

import { parseArgs } from "node:util";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, waitForPort } from "./_ports.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    scale: { type: "string", default: "1" },
    seconds: { type: "string", default: "10" },
    clients: { type: "string", default: "8" },
    rounds: { type: "string", default: "3" },
    tests: { type: "string", default: "insert,select,update,tpcb" },
    targets: { type: "string", default: "ours,postgres" },
  },
  strict: true,
});

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const SCALE = values.scale;
const SECONDS = values.seconds;
const CLIENTS = values.clients;
const ROUNDS = Number(values.rounds);
const TESTS = values.tests.split(",");
const TARGETS = values.targets.split(",");
for (const target of TARGETS) {
  if (target !== "ours" && target !== "postgres") throw new Error(`unknown target ${target}`);
}

/** One measured run: transactions per second and the 99th percentile latency. */
interface Rate {
  tps: number;
  p99Ms: number;
  /** Our server's CPU (user + system, from /proc) per transaction, in microseconds; NaN if unknown. */
  cpuUsPerTx: number;
}

const SCRIPTS: Record<string, string | null> = {
  insert: "\\set aid random(1, 100000 * :scale)\n\\set tid random(1, 10 * :scale)\n" +
    "\\set delta random(-5000, 5000)\n" +
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, 1, :aid, :delta, CURRENT_TIMESTAMP);\n",
  select: null, // pgbench -S
  update: "\\set aid random(1, 100000 * :scale)\n\\set delta random(-5000, 5000)\n" +
    "UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;\n",
  tpcb: null, // pgbench's default script
};

/** initdb's directory: on PATH, or Debian's /usr/lib/postgresql/<version>/bin. */
function postgresBin(name: string): string {
  const onPath = new Deno.Command("sh", { args: ["-c", `command -v ${name}`] }).outputSync();
  if (onPath.success) return name;
  for (
    const version of [...Deno.readDirSync("/usr/lib/postgresql")].map((e) => e.name).sort()
      .reverse()
  ) {
    const path = `/usr/lib/postgresql/${version}/bin/${name}`;
    try {
      Deno.statSync(path);
      return path;
    } catch { /* next */ }
  }
  throw new Error(`${name} not found`);
}

async function run(command: string, args: string[], options: { user?: string } = {}) {
  const asUser = options.user !== undefined && Deno.uid() === 0;
  const out = await new Deno.Command(asUser ? "runuser" : command, {
    args: asUser ? ["-u", options.user!, "--", command, ...args] : args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { ok: out.success, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

interface Target {
  name: string;
  port: number;
  /** CPU ticks the server has used so far (one process), when /proc tells. */
  cpuTicks?: () => number;
  stop(): Promise<void>;
}

/**
 * utime + stime of a process, in clock ticks (/proc/<pid>/stat fields 14
 * and 15, counted after the parenthesised command name). Linux's USER_HZ is
 * 100 on every architecture we run on. On a busy machine this is steadier
 * than the rate: it counts the server's own work, not the time it waited.
 */
const TICKS_PER_SECOND = 100;
function cpuTicksOf(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

async function startOurs(dir: string): Promise<Target> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "datastore",
      "--port",
      String(port),
      "--admin-port",
      "0",
      "--data-dir",
      dir,
      "--log-level",
      "warning",
    ],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  await waitForPort(port);
  return {
    name: "ours",
    port,
    cpuTicks: () => cpuTicksOf(child.pid),
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

async function startPostgres(dir: string): Promise<Target> {
  const user = Deno.uid() === 0 ? "postgres" : undefined;
  if (user) await run("chown", ["-R", `${user}:`, dir]);
  const data = join(dir, "data");
  const init = await run(postgresBin("initdb"), ["-D", data, "-U", "postgres", "-A", "trust"], {
    user,
  });
  if (!init.ok) throw new Error(`initdb failed: ${init.stderr}`);
  const port = freePort();
  const postgres = postgresBin("postgres");
  const child = new Deno.Command(user ? "runuser" : postgres, {
    args: [
      ...(user ? ["-u", user, "--", postgres] : []),
      "-D",
      data,
      "-p",
      String(port),
      "-k",
      dir,
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "max_connections=50",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await waitForPort(port);
  // Listening is not ready: a busy machine's PostgreSQL may still answer
  // "the database system is starting up" for a while (bounded: 30 s).
  for (let attempt = 0; attempt < 300; attempt++) {
    const ready = await run("pg_isready", ["-h", "127.0.0.1", "-p", String(port), "-q"]);
    if (ready.ok) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    name: "postgres",
    port,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/**
 * The 99th percentile of the latencies in pgbench's per-transaction logs
 * (`-l`: one file per thread, `<prefix>.<pid>[.<thread>]`, the third field
 * of each line the latency in µs), in ms; the files are removed.
 */
async function p99FromLogs(dir: string, prefix: string): Promise<number> {
  const latencies: number[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.startsWith(`${prefix}.`)) continue;
    const path = join(dir, entry.name);
    for (const line of (await Deno.readTextFile(path)).split("\n")) {
      const fields = line.split(" ");
      if (fields.length >= 3) latencies.push(Number(fields[2]));
    }
    await Deno.remove(path);
  }
  if (latencies.length === 0) return NaN;
  latencies.sort((a, b) => a - b);
  return latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] / 1000;
}

async function pgbench(target: Target, args: string[]): Promise<{ tps: number; count: number }> {
  const result = await run("pgbench", [
    "-h",
    "127.0.0.1",
    "-p",
    String(target.port),
    "-U",
    "postgres",
    ...args,
    "postgres",
  ]);
  if (!result.ok) throw new Error(`pgbench ${args.join(" ")} on ${target.name}: ${result.stderr}`);
  const match = /tps = ([\d.]+) \(without initial connection time\)/.exec(result.stdout);
  if (!args.includes("-i") && !match) throw new Error(`no tps in: ${result.stdout}`);
  const count = /number of transactions actually processed: (\d+)/.exec(result.stdout);
  return { tps: match ? Number(match[1]) : 0, count: count ? Number(count[1]) : 0 };
}

async function measure(target: Target, test: string, dir: string): Promise<Rate> {
  const prefix = `log-${test}`;
  const args = [
    "-c",
    CLIENTS,
    "-j",
    "2",
    "-T",
    SECONDS,
    "-M",
    "prepared",
    "-n",
    "-l",
    `--log-prefix=${join(dir, prefix)}`,
  ];
  const script = SCRIPTS[test];
  if (script !== null) {
    const path = join(dir, `${test}.sql`);
    await Deno.writeTextFile(path, script);
    args.push("-f", path, "-D", `scale=${SCALE}`);
  } else if (test === "select") args.push("-S");
  const rates: Rate[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const ticks = target.cpuTicks?.() ?? NaN;
    const { tps, count } = await pgbench(target, args);
    const cpuUs = ((target.cpuTicks?.() ?? NaN) - ticks) * 1e6 / TICKS_PER_SECOND;
    rates.push({ tps, p99Ms: await p99FromLogs(dir, prefix), cpuUsPerTx: cpuUs / count });
  }
  rates.sort((a, b) => a.tps - b.tps);
  return rates[Math.floor(rates.length / 2)];
}

const root = await Deno.makeTempDir({ prefix: "underhood-bench-datastore-" });
await Deno.chmod(root, 0o755);
const results = new Map<string, Record<string, Rate>>();
try {
  const starts = { ours: startOurs, postgres: startPostgres };
  for (const start of TARGETS.map((t) => starts[t as keyof typeof starts])) {
    const dir = await Deno.makeTempDir({ dir: root });
    const target = await start(dir);
    try {
      await pgbench(target, ["-i", "-s", SCALE, "-q"]);
      const rates: Record<string, Rate> = {};
      for (const test of TESTS) {
        const rate = rates[test] = await measure(target, test, dir);
        console.log(
          `${target.name.padEnd(8)} ${test.padEnd(7)} ${rate.tps.toFixed(0)} tps, ` +
            `p99 ${rate.p99Ms.toFixed(2)} ms` +
            (Number.isNaN(rate.cpuUsPerTx) ? "" : `, ${rate.cpuUsPerTx.toFixed(0)} us CPU/tx`),
        );
      }
      results.set(target.name, rates);
    } finally {
      await target.stop();
    }
  }
  console.log(
    `\npgbench -c ${CLIENTS} -j 2 -T ${SECONDS} -M prepared, scale ${SCALE}, median of ${ROUNDS}`,
  );
  const ours = results.get("ours");
  const theirs = results.get("postgres");
  console.log("test     ours tps  ours p99 ms  postgres tps  postgres p99 ms  ours/postgres");
  const cell = (rate: Rate | undefined, width: number, value: (r: Rate) => string) =>
    (rate ? value(rate) : "-").padStart(width);
  for (const test of TESTS) {
    const o = ours?.[test];
    const t = theirs?.[test];
    console.log(
      `${test.padEnd(8)} ${cell(o, 8, (r) => r.tps.toFixed(0))}  ${
        cell(o, 11, (r) => r.p99Ms.toFixed(2))
      }  ${cell(t, 12, (r) => r.tps.toFixed(0))}  ${cell(t, 15, (r) => r.p99Ms.toFixed(2))}  ${
        (o && t ? (o.tps / t.tps).toFixed(2) : "-").padStart(13)
      }`,
    );
  }
} finally {
  await run("rm", ["-rf", root]);
}
