// Side-by-side benchmark: our datastore against PostgreSQL 15, both driven
// by pgbench with the same arguments (8 clients, 2 threads, prepared
// statements), after `pgbench -i -s <scale>` on each:
//   - insert: autocommit INSERTs into pgbench_history (one row each);
//   - select: SELECT abalance by primary key (pgbench -S);
//   - update: UPDATE pgbench_accounts by primary key;
//   - tpcb: pgbench's default TPC-B-like transaction.
// Both run with fsync on (PostgreSQL's defaults: synchronous_commit on).
// Prints transactions per second, the 99th percentile latency (from
// pgbench's per-transaction log, -l), the ratio ours/PostgreSQL, each
// server's CPU per transaction (from /proc: steadier than rates when busy;
// for PostgreSQL the postmaster and every process under it, the backends
// that have exited included) and its commits per log fsync (ours from
// /metrics, PostgreSQL's from pg_stat_database and pg_stat_wal), and the
// checkpoints taken during the run (ours from /metrics, PostgreSQL's from
// pg_stat_bgwriter): ours block every session while they run.
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
import { cpuMicros, cpuMicrosOfTree } from "./_process.ts";
import { V8_FLAGS_ARG } from "../lib/v8_flags.ts";

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
  /** The server's CPU (user + system, from /proc) per transaction, in microseconds; NaN if unknown. */
  cpuUsPerTx: number;
  /** Commits per log fsync during the run; NaN if unknown. */
  commitsPerFsync: number;
  /** Checkpoints taken during the run. */
  checkpoints: number;
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
  /** CPU the server has used so far, in microseconds (every process of it). */
  cpuMicros: () => number;
  /** Commits, log fsyncs and checkpoints so far (counters: only differences mean anything). */
  commitsAndFsyncs: () => Promise<{ commits: number; fsyncs: number; checkpoints: number }>;
  stop(): Promise<void>;
}

async function startOurs(dir: string): Promise<Target> {
  const port = freePort();
  const adminPort = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      V8_FLAGS_ARG,
      MAIN,
      "datastore",
      "--port",
      String(port),
      "--admin-port",
      String(adminPort),
      "--data-dir",
      dir,
      "--log-level",
      "warning",
    ],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  await waitForPort(port);
  const metric = (text: string, name: string) =>
    Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1] ?? NaN);
  return {
    name: "ours",
    port,
    cpuMicros: () => cpuMicros(child.pid),
    async commitsAndFsyncs() {
      const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
      return {
        commits: metric(text, "datastore_commits_total"),
        fsyncs: metric(text, "datastore_fsyncs_total"),
        checkpoints: metric(text, "datastore_checkpoints_total"),
      };
    },
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
  const postmaster = Number(
    (await Deno.readTextFile(join(data, "postmaster.pid"))).split("\n")[0],
  );
  return {
    name: "postgres",
    port,
    cpuMicros: () => cpuMicrosOfTree(postmaster),
    async commitsAndFsyncs() {
      const out = await run("psql", [
        "-h",
        "127.0.0.1",
        "-p",
        String(port),
        "-U",
        "postgres",
        "-At",
        "-c",
        "SELECT (SELECT sum(xact_commit) FROM pg_stat_database), wal_sync, " +
        "(SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter) FROM pg_stat_wal",
      ]);
      const [commits, fsyncs, checkpoints] = out.stdout.trim().split("|").map(Number);
      return { commits, fsyncs, checkpoints };
    },
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
    const before = await target.commitsAndFsyncs();
    const cpuBefore = target.cpuMicros();
    const { tps, count } = await pgbench(target, args);
    // PostgreSQL's backends end with pgbench: let them exit and be counted.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const cpuUs = target.cpuMicros() - cpuBefore;
    const after = await target.commitsAndFsyncs();
    rates.push({
      tps,
      p99Ms: await p99FromLogs(dir, prefix),
      cpuUsPerTx: cpuUs / count,
      commitsPerFsync: (after.commits - before.commits) / (after.fsyncs - before.fsyncs),
      checkpoints: after.checkpoints - before.checkpoints,
    });
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
            `, ${rate.cpuUsPerTx.toFixed(0)} us CPU/tx, ` +
            `${rate.commitsPerFsync.toFixed(1)} commits/fsync, ${rate.checkpoints} checkpoints`,
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
  console.log(
    "test     ours tps  ours p99 ms  postgres tps  postgres p99 ms  ours/postgres" +
      "  ours us CPU/tx  postgres us CPU/tx",
  );
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
      }  ${cell(o, 14, (r) => r.cpuUsPerTx.toFixed(0))}  ${
        cell(t, 18, (r) => r.cpuUsPerTx.toFixed(0))
      }`,
    );
  }
} finally {
  await run("rm", ["-rf", root]);
}
