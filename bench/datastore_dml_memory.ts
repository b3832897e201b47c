// Peak memory of the datastore while one statement changes millions of rows
// (issue 14's bounded memory, for UPDATE and DELETE): loads a table in
// transactions of 100 000 rows, restarts the server on the same directory
// (so the load's own peak is not counted), then runs each statement and
// prints the server's resident set before it and its peak during it
// (VmHWM, reset between statements through /proc/PID/clear_refs), with the
// server's CPU time and the wall time.
//
//   deno run -A bench/datastore_dml_memory.ts [--rows 2000000] [--main PATH]
//
// `--main` runs another tree's main.ts (to compare before and after a change).

import { parseArgs } from "node:util";
import { PgClient } from "../lib/pg/client.ts";
import { type SpawnedService, spawnService } from "../tests/_support/subprocess.ts";
import { cpuMicros } from "./_process.ts";

const { values } = parseArgs({
  args: Deno.args,
  strict: true,
  options: {
    rows: { type: "string", default: "2000000" },
    main: { type: "string" },
    statements: { type: "string" },
  },
});
const rows = Number(values.rows);
const LOAD_ROWS = 100_000;
const STATEMENTS = values.statements?.split(";").map((s) => s.trim()).filter((s) => s) ?? [
  "UPDATE t SET v = v + 1",
  "UPDATE t SET id = id + 10000000",
  "DELETE FROM t",
];

function statusBytes(pid: number, field: string): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

async function start(dir: string): Promise<SpawnedService> {
  return await spawnService(
    ["datastore", "--port", "0", "--admin-port", "0", "--data-dir", dir],
    { roles: ["tcp"], ...(values.main ? { script: values.main } : {}) },
  );
}

const dir = await Deno.makeTempDir({ prefix: "underhood-dml-memory-" });
try {
  let server = await start(dir);
  {
    await using client = await PgClient.connect({ port: server.ports.tcp });
    await client.query("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER, pad TEXT)");
    for (let from = 1; from <= rows; from += LOAD_ROWS) {
      const to = Math.min(rows, from + LOAD_ROWS - 1);
      await client.query(
        `INSERT INTO t SELECT g, g, 'row ' || g FROM generate_series(${from}, ${to}) g`,
      );
    }
  }
  server.kill("SIGTERM");
  await server.exited();
  server = await start(dir);
  try {
    await using client = await PgClient.connect({ port: server.ports.tcp });
    const pid = server.process.pid;
    console.log(`${rows} rows${values.main ? ` (${values.main})` : ""}`);
    for (const sql of STATEMENTS) {
      Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
      const before = statusBytes(pid, "VmRSS");
      const cpu = cpuMicros(pid);
      const started = performance.now();
      let outcome: string;
      try {
        outcome = (await client.query(sql)).at(-1)!.tag;
      } catch (error) {
        outcome = `error: ${(error as Error).message}`;
      }
      const ms = performance.now() - started;
      const peak = statusBytes(pid, "VmHWM");
      console.log(
        `${sql}: ${outcome}; RSS before ${mib(before)} MiB, peak ${mib(peak)} MiB; ` +
          `server CPU ${((cpuMicros(pid) - cpu) / 1e6).toFixed(1)} s, wall ${
            (ms / 1000).toFixed(1)
          } s`,
      );
    }
  } finally {
    server.kill("SIGKILL");
    await server.exited();
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
