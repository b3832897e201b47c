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
//     [--pool-pages 4096] [--rounds 3]
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
    rounds: { type: "string", default: "3" },
  },
}).values;
const ROWS = Number(args.rows);
const INSERTS = Number(args.inserts);
const LOOKUPS = Number(args.lookups);
const SCANS = Number(args.scans);
const SCAN_ROWS = 100;
const POOL_PAGES = Number(args["pool-pages"]);
const ROUNDS = Number(args.rounds);

// busy_timeout first: even switching to WAL (a no-op once set) may wait for
// another writer's lock.
const PRAGMAS = "PRAGMA busy_timeout=60000;\nPRAGMA journal_mode=WAL;\nPRAGMA synchronous=FULL;\n";
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

const SPEC = {
  name: "t",
  columns: [
    { name: "id", type: "int64" as const },
    { name: "v", type: "text" as const, nullable: false },
    { name: "n", type: "int64" as const },
  ],
  primaryKey: ["id"],
};

type Rates = Record<string, number[]>;

function record(rates: Rates, key: string, value: number): void {
  (rates[key] ??= []).push(value);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function openWithTable(dir: string): Promise<Engine> {
  const engine = await Engine.open({ dir, bufferPoolPages: POOL_PAGES });
  if (engine.tables().length === 0) {
    const ddl = engine.begin();
    await ddl.createTable(SPEC);
    await ddl.commit();
  }
  return engine;
}

let nextId = ROWS + 10;

async function oursInserts(engine: Engine, ours: Rates): Promise<void> {
  const insertOne = async () => {
    const id = nextId++;
    const tx = engine.begin();
    await tx.insert("t", [BigInt(id), pad(id), BigInt(id % 1000)]);
    await tx.commit();
  };
  let started = performance.now();
  for (let i = 0; i < INSERTS; i++) await insertOne();
  record(ours, "insert1", INSERTS / ((performance.now() - started) / 1000));
  const per = Math.ceil(INSERTS / 8);
  const fsyncsBefore = engine.stats().fsyncs;
  started = performance.now();
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let i = 0; i < per; i++) await insertOne();
  }));
  record(ours, "insert8", (per * 8) / ((performance.now() - started) / 1000));
  record(ours, "commitsPerFsync8", (per * 8) / (engine.stats().fsyncs - fsyncsBefore));
}

async function sqliteInserts(db: string, ref: Rates): Promise<void> {
  const base = nextId;
  nextId += INSERTS * 2 + 8;
  record(ref, "insert1", INSERTS / (await sqlite(db, insertScript(base, INSERTS)) / 1000));
  const per = Math.ceil(INSERTS / 8);
  const scripts = Array.from({ length: 8 }, (_, w) => insertScript(base + INSERTS + w * per, per));
  record(ref, "insert8", (per * 8) / (await sqliteParallel(db, scripts) / 1000));
}

async function oursReads(engine: Engine, ours: Rates): Promise<void> {
  let started = performance.now();
  for (let i = 0; i < LOOKUPS; i++) {
    const tx = engine.begin();
    await tx.get("t", [BigInt(randomId())]);
    await tx.commit();
  }
  record(ours, "lookup", LOOKUPS / ((performance.now() - started) / 1000));
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
  record(ours, "scan", SCANS / ((performance.now() - started) / 1000));
}

async function sqliteReads(db: string, ref: Rates): Promise<void> {
  let lookups = "";
  for (let i = 0; i < LOOKUPS; i++) lookups += `SELECT v FROM t WHERE id = ${randomId()};\n`;
  record(ref, "lookup", LOOKUPS / (await sqlite(db, lookups) / 1000));
  let scans = "";
  for (let i = 0; i < SCANS; i++) {
    const lo = Math.max(1, randomId() - SCAN_ROWS);
    scans += `SELECT * FROM t WHERE id BETWEEN ${lo} AND ${lo + SCAN_ROWS - 1};\n`;
  }
  record(ref, "scan", SCANS / (await sqlite(db, scans) / 1000));
}

async function run(dir: string): Promise<{ ours: Rates; ref: Rates; loadMs: [number, number] }> {
  const ours: Rates = {}, ref: Rates = {};
  // Rounds alternate the two sides, so load from other work on the machine
  // hits both alike; medians are reported.
  {
    await using engine = await openWithTable(join(dir, "ours_insert"));
    const db = join(dir, "sqlite_insert.db");
    await sqlite(db, SCHEMA);
    // One warm-up round per side, not counted: first writes to a fresh log
    // file cost several times more on our machines, on both sides.
    await oursInserts(engine, {});
    await sqliteInserts(db, {});
    for (let round = 0; round < ROUNDS; round++) {
      await oursInserts(engine, ours);
      await sqliteInserts(db, ref);
    }
  }
  const bigDir = join(dir, "ours_big");
  let started = performance.now();
  {
    await using engine = await openWithTable(bigDir);
    for (let from = 1; from <= ROWS; from += 10_000) {
      const tx = engine.begin();
      for (let id = from; id < Math.min(from + 10_000, ROWS + 1); id++) {
        await tx.insert("t", [BigInt(id), pad(id), BigInt(id % 1000)]);
      }
      await tx.commit();
    }
  }
  const oursLoadMs = performance.now() - started;
  const big = join(dir, "sqlite_big.db");
  const sqliteLoadMs = await sqlite(
    big,
    SCHEMA + `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${ROWS})
      INSERT INTO t SELECT x, substr('value-' || x || '${
      ".".repeat(48)
    }', 1, 48), x % 1000 FROM c;\n`,
  );
  started = performance.now();
  await using engine = await Engine.open({ dir: bigDir, bufferPoolPages: POOL_PAGES });
  const openMs = performance.now() - started;
  for (let round = 0; round < ROUNDS; round++) {
    await oursReads(engine, ours);
    await sqliteReads(big, ref);
  }
  record(ours, "openMs", openMs);
  return { ours, ref, loadMs: [oursLoadMs, sqliteLoadMs] };
}

const dir = await Deno.makeTempDir({ prefix: "underhood-bench-storage-", dir: "." });
try {
  console.log(
    `rows=${ROWS} inserts=${INSERTS} lookups=${LOOKUPS} scans=${SCANS}x${SCAN_ROWS} pool=${POOL_PAGES} pages`,
  );
  const { ours, ref, loadMs } = await run(dir);
  const line = (label: string, key: string) =>
    console.log(
      `${label.padEnd(34)} ours ${median(ours[key]).toFixed(0).padStart(8)}/s   sqlite ${
        median(ref[key]).toFixed(0).padStart(8)
      }/s   ratio ${(median(ours[key]) / median(ref[key])).toFixed(2)}`,
    );
  line("committed inserts, 1 writer", "insert1");
  line("committed inserts, 8 writers", "insert8");
  line(`point lookups (${ROWS} rows)`, "lookup");
  line(`range scans of ${SCAN_ROWS} rows`, "scan");
  console.log(`medians of ${ROUNDS} alternating rounds (after one warm-up round of inserts)`);
  console.log(
    `commits per fsync with 8 writers (ours): ${median(ours.commitsPerFsync8).toFixed(1)}`,
  );
  console.log(
    `load of ${ROWS} rows: ours ${(loadMs[0] / 1000).toFixed(1)} s (10k rows per transaction), ` +
      `sqlite ${(loadMs[1] / 1000).toFixed(1)} s (one INSERT ... SELECT)`,
  );
  console.log(
    `reopen of the ${ROWS}-row table (ours, checksums verified): ${
      (ours.openMs[0] / 1000).toFixed(1)
    } s`,
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
