// Storage engine benchmark, side by side with SQLite (Debian's sqlite3 CLI,
// WAL mode, synchronous=FULL):
//   - committed single-row inserts per second, 1 writer and 8 concurrent
//     writers, fsync on (ours: async writers in one process sharing group
//     commits; SQLite: one sqlite3 process per writer, busy_timeout set);
//   - point lookups and 100-row range scans per second on a table of
//     `--rows` rows (default 1M), each its own transaction on both sides.
// Prints rates and the ratio ours/SQLite.
//
//   deno run -A bench/storage.ts [--rows 1000000] [--inserts 2000] [--lookups 20000] [--scans 2000]
//
// SQLite runs its work as generated SQL scripts fed to the CLI, so its
// figures include the CLI's parsing and printing (output to /dev/null);
// ours include the engine API's per-call costs. Neither side is networked.

import { parseArgs } from "node:util";
import { join } from "node:path";
import { Engine } from "../services/datastore/storage/engine.ts";

const args = parseArgs({
  args: Deno.args,
  strict: true,
  options: {
    rows: { type: "string", default: "1000000" },
    inserts: { type: "string", default: "2000" },
    lookups: { type: "string", default: "20000" },
    scans: { type: "string", default: "2000" },
    "pool-pages": { type: "string", default: "4096" },
  },
}).values;
const ROWS = Number(args.rows);
const INSERTS = Number(args.inserts);
const LOOKUPS = Number(args.lookups);
const SCANS = Number(args.scans);
const SCAN_ROWS = 100;
const POOL_PAGES = Number(args["pool-pages"]);

const PRAGMAS = "PRAGMA journal_mode=WAL;\nPRAGMA synchronous=FULL;\nPRAGMA busy_timeout=60000;\n";
const SCHEMA = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL, n INTEGER);\n";

function pad(id: number): string {
  return `value-${id}`.padEnd(48, ".");
}

function randomId(): number {
  return 1 + Math.floor(Math.random() * ROWS);
}

async function sqlite(db: string, script: string): Promise<number> {
  const path = `${db}.${crypto.randomUUID()}.sql`;
  await Deno.writeTextFile(path, `${PRAGMAS}.output /dev/null\n${script}`);
  const started = performance.now();
  const out = await new Deno.Command("sqlite3", {
    args: [db, `.read ${path}`],
    stdout: "null",
    stderr: "piped",
  })
    .output();
  const ms = performance.now() - started;
  await Deno.remove(path);
  if (!out.success) throw new Error(`sqlite3 failed: ${new TextDecoder().decode(out.stderr)}`);
  return ms;
}

async function sqliteParallel(db: string, scripts: string[]): Promise<number> {
  const started = performance.now();
  await Promise.all(scripts.map((s) => sqlite(db, s)));
  return performance.now() - started;
}

function insertScript(from: number, count: number): string {
  let s = "";
  for (let i = from; i < from + count; i++) {
    s += `INSERT INTO t VALUES (${i}, '${pad(i)}', ${i % 1000});\n`;
  }
  return s;
}

async function benchSqlite(dir: string) {
  const results: Record<string, number> = {};
  const small = join(dir, "sqlite_insert.db");
  await sqlite(small, SCHEMA);
  const base = ROWS + 10;
  results.insert1 = INSERTS / (await sqlite(small, insertScript(base, INSERTS)) / 1000);
  const per = Math.ceil(INSERTS / 8);
  const scripts = Array.from({ length: 8 }, (_, w) => insertScript(base + INSERTS + w * per, per));
  results.insert8 = (per * 8) / (await sqliteParallel(small, scripts) / 1000);

  const big = join(dir, "sqlite_big.db");
  results.loadMs = await sqlite(
    big,
    SCHEMA + `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${ROWS})
      INSERT INTO t SELECT x, substr('value-' || x || '${
      ".".repeat(48)
    }', 1, 48), x % 1000 FROM c;\n`,
  );
  let lookups = "";
  for (let i = 0; i < LOOKUPS; i++) lookups += `SELECT v FROM t WHERE id = ${randomId()};\n`;
  results.lookup = LOOKUPS / (await sqlite(big, lookups) / 1000);
  let scans = "";
  for (let i = 0; i < SCANS; i++) {
    const lo = Math.max(1, randomId() - SCAN_ROWS);
    scans += `SELECT * FROM t WHERE id BETWEEN ${lo} AND ${lo + SCAN_ROWS - 1};\n`;
  }
  results.scan = SCANS / (await sqlite(big, scans) / 1000);
  return results;
}

async function benchOurs(dir: string) {
  const results: Record<string, number> = {};
  const spec = {
    name: "t",
    columns: [
      { name: "id", type: "int64" as const },
      { name: "v", type: "text" as const, nullable: false },
      { name: "n", type: "int64" as const },
    ],
    primaryKey: ["id"],
  };
  {
    await using engine = await Engine.open({
      dir: join(dir, "ours_insert"),
      bufferPoolPages: POOL_PAGES,
    });
    const ddl = engine.begin();
    await ddl.createTable(spec);
    await ddl.commit();
    let next = ROWS + 10;
    const insertOne = async () => {
      const id = next++;
      const tx = engine.begin();
      await tx.insert("t", [BigInt(id), pad(id), BigInt(id % 1000)]);
      await tx.commit();
    };
    let started = performance.now();
    for (let i = 0; i < INSERTS; i++) await insertOne();
    results.insert1 = INSERTS / ((performance.now() - started) / 1000);
    const per = Math.ceil(INSERTS / 8);
    const fsyncsBefore = engine.stats().fsyncs;
    started = performance.now();
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let i = 0; i < per; i++) await insertOne();
    }));
    results.insert8 = (per * 8) / ((performance.now() - started) / 1000);
    results.commitsPerFsync8 = (per * 8) / (engine.stats().fsyncs - fsyncsBefore);
  }
  {
    const bigDir = join(dir, "ours_big");
    let started = performance.now();
    {
      await using engine = await Engine.open({ dir: bigDir, bufferPoolPages: POOL_PAGES });
      const ddl = engine.begin();
      await ddl.createTable(spec);
      await ddl.commit();
      for (let from = 1; from <= ROWS; from += 10_000) {
        const tx = engine.begin();
        for (let id = from; id < Math.min(from + 10_000, ROWS + 1); id++) {
          await tx.insert("t", [BigInt(id), pad(id), BigInt(id % 1000)]);
        }
        await tx.commit();
      }
    }
    results.loadMs = performance.now() - started;
    await using engine = await Engine.open({ dir: bigDir, bufferPoolPages: POOL_PAGES });
    started = performance.now();
    for (let i = 0; i < LOOKUPS; i++) {
      const tx = engine.begin();
      await tx.get("t", [BigInt(randomId())]);
      await tx.commit();
    }
    results.lookup = LOOKUPS / ((performance.now() - started) / 1000);
    started = performance.now();
    for (let i = 0; i < SCANS; i++) {
      const lo = Math.max(1, randomId() - SCAN_ROWS);
      const tx = engine.begin();
      let n = 0;
      for await (
        const _ of tx.scan("t", { lower: [BigInt(lo)], upper: [BigInt(lo + SCAN_ROWS - 1)] })
      ) n++;
      await tx.commit();
      if (n !== SCAN_ROWS) throw new Error(`scan returned ${n} rows`);
    }
    results.scan = SCANS / ((performance.now() - started) / 1000);
  }
  return results;
}

const dir = await Deno.makeTempDir({ prefix: "underhood-bench-storage-", dir: "." });
try {
  console.log(
    `rows=${ROWS} inserts=${INSERTS} lookups=${LOOKUPS} scans=${SCANS}x${SCAN_ROWS} pool=${POOL_PAGES} pages`,
  );
  const ours = await benchOurs(dir);
  const ref = await benchSqlite(dir);
  const line = (label: string, key: string) =>
    console.log(
      `${label.padEnd(34)} ours ${ours[key].toFixed(0).padStart(8)}/s   sqlite ${
        ref[key].toFixed(0).padStart(8)
      }/s   ratio ${(ours[key] / ref[key]).toFixed(2)}`,
    );
  line("committed inserts, 1 writer", "insert1");
  line("committed inserts, 8 writers", "insert8");
  line(`point lookups (${ROWS} rows)`, "lookup");
  line(`range scans of ${SCAN_ROWS} rows`, "scan");
  console.log(`commits per fsync with 8 writers (ours): ${ours.commitsPerFsync8.toFixed(1)}`);
  console.log(
    `load of ${ROWS} rows: ours ${(ours.loadMs / 1000).toFixed(1)} s, sqlite ${
      (ref.loadMs / 1000).toFixed(1)
    } s`,
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
