// Torn writes: a damaged log tail is cut off at the last whole record (only
// unacknowledged work is lost); a page torn during a checkpoint is restored
// from the double-write file; a page damaged with nothing to repair it makes
// open refuse with CorruptionError instead of serving bad data.

import assert from "node:assert/strict";
import { join } from "node:path";
import { CorruptionError, Engine, type Row } from "../../../services/datastore/storage/engine.ts";
import { PAGE_BYTES } from "../../../services/datastore/storage/pages.ts";
import { readLog } from "../../../services/datastore/storage/wal.ts";
import { checkIndexes } from "./_check.ts";

const SPEC = {
  name: "kv",
  columns: [{ name: "k", type: "int64" as const }, { name: "v", type: "text" as const }],
  primaryKey: ["k"],
  indexes: [{ name: "kv_v", columns: ["v"] }],
};

async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "underhood-torn-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function keys(engine: Engine): Promise<bigint[]> {
  const tx = engine.begin();
  const out: bigint[] = [];
  for await (const row of tx.scan("kv")) out.push((row as Row)[0] as bigint);
  await checkIndexes(engine, tx);
  await tx.commit();
  return out;
}

async function commitRows(engine: Engine, from: number, to: number): Promise<void> {
  const tx = engine.begin();
  for (let k = from; k < to; k++) await tx.insert("kv", [BigInt(k), `v${k}`]);
  await tx.commit();
}

for (const damage of ["truncated", "garbage", "flipped"] as const) {
  Deno.test(`a ${damage} log tail loses only the transaction it tore`, async () => {
    await inTempDir(async (dir) => {
      const engine = await Engine.open({ dir });
      const tx = engine.begin();
      await tx.createTable(SPEC);
      await tx.commit();
      await commitRows(engine, 0, 10);
      const walPath = join(dir, "wal.log");
      // The log is preallocated with zeros: find where its records end.
      const before = readLog(walPath).validBytes;
      await commitRows(engine, 10, 20);
      engine.crashForTesting();
      const wal = await Deno.readFile(walPath);
      const end = readLog(walPath).validBytes;
      assert.ok(end > before);
      if (damage === "truncated") await Deno.writeFile(walPath, wal.subarray(0, end - 3));
      if (damage === "garbage") {
        wal.fill(0xab, end, end + 100);
        await Deno.writeFile(walPath, wal);
      }
      if (damage === "flipped") {
        wal[end - 2] ^= 0x10;
        await Deno.writeFile(walPath, wal);
      }
      await using again = await Engine.open({ dir });
      const expected = Array.from({ length: damage === "garbage" ? 20 : 10 }, (_, i) => BigInt(i));
      assert.deepEqual(await keys(again), expected);
      // The engine keeps working, and the log is clean again.
      await commitRows(again, 100, 101);
      assert.equal((await keys(again)).length, expected.length + 1);
    });
  });
}

Deno.test("a page torn during a checkpoint is restored from the double-write file", async () => {
  await inTempDir(async (dir) => {
    const engine = await Engine.open({ dir });
    const tx = engine.begin();
    await tx.createTable(SPEC);
    await tx.commit();
    await commitRows(engine, 0, 2000);
    const crash = new Error("simulated crash between double write and in-place write");
    assert.throws(() =>
      engine.checkpoint({
        afterDoubleWrite: () => {
          throw crash;
        },
      }), (e) => e === crash);
    engine.crashForTesting();
    // Tear a page the checkpoint was about to write: half new garbage.
    const dataPath = join(dir, "data.db");
    const data = await Deno.readFile(dataPath);
    const pages = Math.floor(data.length / PAGE_BYTES);
    assert.ok(pages >= 2);
    const torn = new Uint8Array(data.length + PAGE_BYTES);
    torn.set(data);
    torn.fill(0x5a, PAGE_BYTES, PAGE_BYTES + PAGE_BYTES / 2);
    await Deno.writeFile(dataPath, torn);
    await using again = await Engine.open({ dir });
    assert.ok(again.stats().doubleWritePagesRestored > 0);
    assert.equal((await keys(again)).length, 2000);
  });
});

Deno.test("a damaged page with no copy to restore makes open refuse with CorruptionError", async () => {
  await inTempDir(async (dir) => {
    const engine = await Engine.open({ dir });
    const tx = engine.begin();
    await tx.createTable(SPEC);
    await tx.commit();
    await commitRows(engine, 0, 2000);
    await engine.close();
    const dataPath = join(dir, "data.db");
    const data = await Deno.readFile(dataPath);
    const victim = Math.floor(data.length / PAGE_BYTES) - 3;
    data[victim * PAGE_BYTES + 100] ^= 0x01;
    await Deno.writeFile(dataPath, data);
    await assert.rejects(
      () => Engine.open({ dir }),
      (e) => e instanceof CorruptionError && e.message.includes(`page ${victim} is damaged`),
    );
    // Damage in the meta page is refused too.
    data[victim * PAGE_BYTES + 100] ^= 0x01;
    data[20] ^= 0xff;
    await Deno.writeFile(dataPath, data);
    await assert.rejects(() => Engine.open({ dir }), CorruptionError);
  });
});

Deno.test("a missing log or a missing data file makes open refuse", async () => {
  await inTempDir(async (dir) => {
    const engine = await Engine.open({ dir });
    const tx = engine.begin();
    await tx.createTable(SPEC);
    await tx.commit();
    await commitRows(engine, 0, 10);
    engine.crashForTesting();
    const wal = await Deno.readFile(join(dir, "wal.log"));
    await Deno.remove(join(dir, "wal.log"));
    await assert.rejects(
      () => Engine.open({ dir }),
      (e) => e instanceof CorruptionError && /wal\.log is missing/.test(e.message),
    );
    await Deno.writeFile(join(dir, "wal.log"), wal);
    await Deno.remove(join(dir, "data.db"));
    await assert.rejects(
      () => Engine.open({ dir }),
      (e) => e instanceof CorruptionError && /data\.db is missing/.test(e.message),
    );
  });
});
