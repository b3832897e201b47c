// Crash test: runs crash_driver.ts as a subprocess under a transactional
// write workload, kill -9's it at random moments (25 times), reopens the
// engine in-process after each kill and checks that every acknowledged
// commit is present, nothing from a rolled-back or never-committed
// transaction is, the accounts still sum to their total, and every index
// agrees with its table.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Engine, type Row } from "../../../services/datastore/storage/engine.ts";
import { checkIndexes } from "./_check.ts";

const DRIVER = fileURLToPath(new URL("./crash_driver.ts", import.meta.url));
const KILLS = 25;

interface Run {
  lines: string[];
  firstAck: Promise<void>;
  process: Deno.ChildProcess;
  done: Promise<void>;
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
  };
  const done = Promise.all([pump(process.stdout, true), pump(process.stderr, false)]).then(
    () => {},
  );
  return { lines, firstAck, process, done };
}

async function readAll(tx: ReturnType<Engine["begin"]>, table: string): Promise<Row[]> {
  const rows: Row[] = [];
  for await (const row of tx.scan(table)) rows.push(row);
  return rows;
}

Deno.test("storage engine survives 25 kill -9s with every acknowledged commit intact", async () => {
  const dir = await Deno.makeTempDir({ prefix: "underhood-crash-" });
  const acked = new Set<number>();
  const mayBePresent = new Set<number>();
  const mustBeAbsent = new Set<number>();
  try {
    for (let run = 0; run < KILLS; run++) {
      const driver = startDriver(dir, (run + 1) * 1_000_000, 1 + run * 7919);
      const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 30_000));
      const started = await Promise.race([
        driver.firstAck.then(() => "ok" as const),
        timeout,
        driver.process.status.then(() => "exited" as const),
      ]);
      if (started === "ok") {
        await new Promise((r) => setTimeout(r, 20 + Math.floor(Math.random() * 400)));
      }
      try {
        driver.process.kill("SIGKILL");
      } catch { /* already exited */ }
      await driver.process.status;
      await driver.done;
      assert.equal(
        started,
        "ok",
        `driver did not acknowledge a commit:\n${driver.lines.join("\n")}`,
      );
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
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
