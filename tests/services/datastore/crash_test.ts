// Crash test: runs crash_driver.ts as a subprocess under a transactional
// write workload, kill -9's it at random moments (25 times), reopens the
// engine in-process after each kill and checks that every acknowledged
// commit is present, nothing from a rolled-back or never-committed
// transaction is, the accounts still sum to their total, and every index
// agrees with its table.
//
// The moments and the drivers' workloads come from one seed, printed at the
// start and on failure; CRASH_SEED=n replays a run's choices (the kill lands
// at a wall-clock moment, so only as closely as timing allows). On failure
// the data directory is kept, with every driver's output (stdout and
// stderr) in driver.log inside it, and the error says where.
//
// A kill -9 keeps the page cache, so this test cannot catch a missing
// fsync: power_loss_test.ts does that.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { Engine, type Row } from "../../../services/datastore/storage/engine.ts";
import { seededRandom } from "../../_support/power_loss_fs.ts";
import { checkIndexes } from "./_check.ts";

const DRIVER = fileURLToPath(new URL("./crash_driver.ts", import.meta.url));
const KILLS = 25;
const SEED = Number(Deno.env.get("CRASH_SEED") ?? Math.floor(Math.random() * 2 ** 31));

interface Run {
  lines: string[];
  firstAck: Promise<void>;
  process: Deno.ChildProcess;
  done: Promise<void>;
  /** Set once the process has exited (by itself, or killed). */
  exited: boolean;
}

function startDriver(dir: string, base: number, seed: number): Run {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", DRIVER, dir, String(base), String(seed)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  let ackSeen!: () => void;
  const firstAck = new Promise<void>((resolve) => ackSeen = resolve);
  const pump = async (stream: ReadableStream<Uint8Array>, keep: boolean) => {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of stream) {
      pending += decoder.decode(chunk, { stream: true });
      let nl;
      while ((nl = pending.indexOf("\n")) !== -1) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (!keep) {
          lines.push(`stderr: ${line}`);
          continue;
        }
        lines.push(line);
        if (line.startsWith("ack ")) ackSeen();
      }
    }
    if (pending) lines.push(keep ? pending : `stderr: ${pending}`);
  };
  const done = Promise.all([pump(process.stdout, true), pump(process.stderr, false)]).then(
    () => {},
  );
  const run: Run = { lines, firstAck, process, done, exited: false };
  process.status.then(() => run.exited = true);
  return run;
}

async function readAll(tx: ReturnType<Engine["begin"]>, table: string): Promise<Row[]> {
  const rows: Row[] = [];
  for await (const row of tx.scan(table)) rows.push(row);
  return rows;
}

Deno.test("storage engine survives 25 kill -9s with every acknowledged commit intact", async () => {
  console.log(`crash test seed ${SEED} (replay with CRASH_SEED=${SEED})`);
  const random = seededRandom(SEED);
  const dir = await Deno.makeTempDir({ prefix: "underhood-crash-" });
  const log: string[] = [];
  const acked = new Set<number>();
  const mayBePresent = new Set<number>();
  const mustBeAbsent = new Set<number>();
  try {
    for (let run = 0; run < KILLS; run++) {
      const driverSeed = 1 + Math.floor(random() * 2 ** 31);
      const delayMs = 20 + Math.floor(random() * 400);
      const driver = startDriver(dir, (run + 1) * 1_000_000, driverSeed);
      const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 30_000));
      const started = await Promise.race([
        driver.firstAck.then(() => "ok" as const),
        timeout,
        driver.process.status.then(() => "exited" as const),
      ]);
      if (started === "ok") await new Promise((r) => setTimeout(r, delayMs));
      const exitedEarly = driver.exited;
      try {
        driver.process.kill("SIGKILL");
      } catch { /* already exited */ }
      await driver.process.status;
      await driver.done;
      log.push(
        `--- run ${run}: driver seed ${driverSeed}, killed ${delayMs} ms after its first ack`,
      );
      log.push(...driver.lines);
      assert.equal(
        started,
        "ok",
        `driver did not acknowledge a commit:\n${driver.lines.join("\n")}`,
      );
      assert.ok(!exitedEarly, `driver exited before the kill:\n${driver.lines.join("\n")}`);
      for (const line of driver.lines) {
        const [word, idText] = line.split(" ");
        const id = Number(idText);
        if (word === "ack") acked.add(id);
        if (word === "commit") mayBePresent.add(id);
        if (word === "rollback" || word === "abort") mustBeAbsent.add(id);
      }
      await using engine = await Engine.open({ dir, bufferPoolPages: 48 });
      const tx = engine.begin();
      const markers = new Set((await readAll(tx, "markers")).map((r) => Number(r[0])));
      for (const id of acked) {
        assert.ok(markers.has(id), `acknowledged transaction ${id} lost (run ${run})`);
      }
      for (const id of markers) {
        assert.ok(
          mayBePresent.has(id),
          `transaction ${id} present but never committed (run ${run})`,
        );
        assert.ok(!mustBeAbsent.has(id), `rolled-back transaction ${id} present (run ${run})`);
      }
      for (const item of await readAll(tx, "items")) {
        assert.ok(
          markers.has(Number(item[2])),
          `item ${item[0]} written by uncommitted ${item[2]}`,
        );
      }
      const total = (await readAll(tx, "accounts")).reduce((sum, r) => sum + (r[1] as bigint), 0n);
      assert.equal(total, 10000n, `accounts sum to ${total} after run ${run}`);
      await checkIndexes(engine, tx);
      await tx.commit();
    }
    assert.ok(acked.size > KILLS, `only ${acked.size} commits acknowledged`);
  } catch (error) {
    const logPath = join(dir, "driver.log");
    await Deno.writeTextFile(logPath, log.join("\n") + "\n");
    throw new Error(
      `crash test failed (seed ${SEED}, replay with CRASH_SEED=${SEED}); data directory kept ` +
        `at ${dir}, drivers' stdout and stderr in ${logPath}`,
      { cause: error },
    );
  }
  await Deno.remove(dir, { recursive: true });
});
