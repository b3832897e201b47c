// Our datastore alone under bench/datastore.ts's autocommit INSERT load
// (pgbench -c 8 -j 2 -M prepared, one single-row INSERT per transaction),
// with group commit run several ways in alternating runs (see
// services/datastore/storage/wal.ts): `default` (the fsync on the event
// loop, a flush waiting for as many committers as the last one covered),
// `no-gather` (`--wal-no-gather`: every flush at once) and `thread`
// (`--wal-sync-thread`: the fsync on a thread of its own). On a shared
// machine a ratio against PostgreSQL swings with the neighbours' load;
// alternating our modes minute by minute, and counting events rather than
// rates, says more.
//
// Per run it prints: tps; CPU per insert of the whole server and of its
// main thread (the event loop) apart, from /proc/PID/task/*/schedstat
// (nanoseconds on the CPU, finer than /proc/PID/stat's clock ticks); log
// fsyncs per second and commits per fsync (from /metrics).
//
//   deno run -A bench/datastore_commit.ts [--rounds 3] [--seconds 5] [--clients 8]
//     [--modes default,no-gather,thread]

import { parseArgs } from "node:util";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, waitForPort } from "./_ports.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "3" },
    seconds: { type: "string", default: "5" },
    clients: { type: "string", default: "8" },
    modes: { type: "string", default: "default,no-gather,thread" },
  },
  strict: true,
});

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const MODES: Record<string, string[]> = {
  default: [],
  "no-gather": ["--wal-no-gather"],
  thread: ["--wal-sync-thread"],
};
const modes = values.modes.split(",");
for (const mode of modes) if (!(mode in MODES)) throw new Error(`unknown mode ${mode}`);

const INSERT = "\\set aid random(1, 100000 * :scale)\n\\set tid random(1, 10 * :scale)\n" +
  "\\set delta random(-5000, 5000)\n" +
  "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, 1, :aid, :delta, CURRENT_TIMESTAMP);\n";

/** Nanoseconds each thread of `pid` has run, by thread id. */
function threadRunNanos(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const text = Deno.readTextFileSync(`/proc/${pid}/task/${entry.name}/schedstat`);
      out.set(Number(entry.name), Number(text.split(" ")[0]));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

async function pgbench(port: number, args: string[]): Promise<string> {
  const out = await new Deno.Command("pgbench", {
    args: ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", ...args, "postgres"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`pgbench ${args.join(" ")}: ${text}`);
  return text;
}

async function counters(adminPort: number): Promise<{ commits: number; fsyncs: number }> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const metric = (name: string) =>
    Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1] ?? NaN);
  return { commits: metric("datastore_commits_total"), fsyncs: metric("datastore_fsyncs_total") };
}

async function runOnce(mode: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "underhood-bench-commit-" });
  const port = freePort();
  const adminPort = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "datastore",
      "--port",
      String(port),
      "--admin-port",
      String(adminPort),
      "--data-dir",
      join(dir, "data"),
      "--log-level",
      "warning",
      ...MODES[mode],
    ],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  try {
    await waitForPort(port);
    await pgbench(port, ["-i", "-s", "1", "-q"]);
    // Lets the idle checkpoint after the load run before the measurement.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const script = join(dir, "insert.sql");
    await Deno.writeTextFile(script, INSERT);
    const before = await counters(adminPort);
    const threadsBefore = threadRunNanos(child.pid);
    const started = performance.now();
    const out = await pgbench(port, [
      ...["-c", values.clients, "-j", "2", "-T", values.seconds, "-M", "prepared", "-n"],
      ...["-f", script, "-D", "scale=1"],
    ]);
    const seconds = (performance.now() - started) / 1000;
    const threadsAfter = threadRunNanos(child.pid);
    const after = await counters(adminPort);
    const tps = Number(/tps = ([\d.]+) \(without/.exec(out)?.[1]);
    const inserts = Number(/actually processed: (\d+)/.exec(out)?.[1]);
    let all = 0;
    for (const [tid, nanos] of threadsAfter) all += nanos - (threadsBefore.get(tid) ?? 0);
    const main = (threadsAfter.get(child.pid) ?? 0) - (threadsBefore.get(child.pid) ?? 0);
    const fsyncs = after.fsyncs - before.fsyncs;
    const load = Deno.readTextFileSync("/proc/loadavg").split(" ")[0];
    return `${mode.padEnd(10)} ${tps.toFixed(0).padStart(6)} tps  ` +
      `${(all / 1000 / inserts).toFixed(1).padStart(6)} us CPU/insert  ` +
      `${(main / 1000 / inserts).toFixed(1).padStart(6)} us main thread/insert  ` +
      `${(fsyncs / seconds).toFixed(0).padStart(5)} fsyncs/s  ` +
      `${((after.commits - before.commits) / fsyncs).toFixed(2)} commits/fsync  (load ${load})`;
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
}

console.log(
  `pgbench -c ${values.clients} -j 2 -T ${values.seconds} -M prepared, autocommit INSERT, ` +
    `${values.rounds} rounds of ${modes.join(" / ")}`,
);
for (let round = 0; round < Number(values.rounds); round++) {
  for (const mode of modes) console.log(await runOnce(mode));
}
