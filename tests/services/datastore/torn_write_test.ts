// Torn writes: a damaged log tail is cut off at the last whole record (only
// unacknowledged work is lost); damage in the middle of the log, followed by
// commits fsynced after it, makes open refuse with CorruptionError; records
// of an older log file left after the end are ignored; a page torn during a
// checkpoint is restored from the double-write file; a page damaged with
// nothing to repair it makes open refuse instead of serving bad data; a
// file of another format version is refused with UnsupportedFormatError.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  CorruptionError,
  Engine,
  type Row,
  UnsupportedFormatError,
} from "../../../services/datastore/storage/engine.ts";
import { FORMAT_VERSION, PAGE_BYTES, sealPage } from "../../../services/datastore/storage/pages.ts";
import { realFiles } from "../../../lib/fs/file_layer.ts";
import {
  decodeRecord,
  LOG_FORMAT_VERSION,
  LOG_HEADER_BYTES,
  readLog,
} from "../../../services/datastore/storage/wal.ts";
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

/** Byte offset of every record in a log file's records, with its transaction. */
function recordOffsets(wal: Uint8Array, end: number): { offset: number; txId: number }[] {
  const out: { offset: number; txId: number }[] = [];
  for (let at = LOG_HEADER_BYTES; at < end;) {
    const result = decodeRecord(wal.subarray(at, end));
    assert.equal(result.kind, "record");
    if (result.kind !== "record") break;
    out.push({ offset: at, txId: result.record.txId });
    at += result.bytesUsed;
  }
  return out;
}

/** An engine with table kv after `commits` acknowledged commits of 10 rows each, crashed. */
async function crashedAfterCommits(dir: string, commits: number): Promise<void> {
  const engine = await Engine.open({ dir });
  const tx = engine.begin();
  await tx.createTable(SPEC);
  await tx.commit();
  for (let i = 0; i < commits; i++) await commitRows(engine, i * 10, i * 10 + 10);
  engine.crashForTesting();
}

const MIDDLE_DAMAGE: [string, (wal: Uint8Array, at: number) => void][] = [
  ["a flipped bit", (wal, at) => wal[at + 45] ^= 0x08],
  ["a zeroed 512-byte sector", (wal, at) => wal.fill(0, at, at + 512)],
  ["a garbled length word", (wal, at) => wal[at] = 0x7f],
];

for (const [label, damage] of MIDDLE_DAMAGE) {
  Deno.test(`${label} in the middle of the log, with commits after it, makes open refuse`, async () => {
    await inTempDir(async (dir) => {
      await crashedAfterCommits(dir, 8);
      const walPath = join(dir, "wal.log");
      const wal = await Deno.readFile(walPath);
      const records = recordOffsets(wal, readLog(realFiles, walPath).validBytes);
      // A row of the third of eight committed transactions.
      const txIds = [...new Set(records.map((r) => r.txId).filter((id) => id !== 0))];
      const victim = records.filter((r) => r.txId === txIds[3])[4].offset;
      damage(wal, victim);
      await Deno.writeFile(walPath, wal);
      await assert.rejects(
        () => Engine.open({ dir }),
        (e) =>
          e instanceof CorruptionError && e.path === walPath && e.offsetBytes === victim &&
          e.message.includes(`${walPath}: the log record at byte ${victim}`),
      );
      // Refusing changed nothing: the log is as it was, and open refuses again.
      assert.deepEqual(await Deno.readFile(walPath), wal);
      await assert.rejects(() => Engine.open({ dir }), CorruptionError);
    });
  });
}

Deno.test("a torn tail after many commits recovers every acknowledged commit before it", async () => {
  await inTempDir(async (dir) => {
    await crashedAfterCommits(dir, 8);
    const walPath = join(dir, "wal.log");
    const wal = await Deno.readFile(walPath);
    const end = readLog(realFiles, walPath).validBytes;
    const records = recordOffsets(wal, end);
    const lastTx = records.at(-1)!.txId;
    const lastTxStart = records.find((r) => r.txId === lastTx)!.offset;
    // Torn in the middle of the last transaction: garbage from there on.
    wal.fill(0xab, lastTxStart + 60, end + 4096);
    await Deno.writeFile(walPath, wal);
    {
      await using again = await Engine.open({ dir });
      assert.deepEqual(await keys(again), Array.from({ length: 70 }, (_, i) => BigInt(i)));
    }
    // Cut short instead: the last write ends one byte early.
    await crashedAfterCommits(join(dir, "cut"), 8);
    const cutPath = join(dir, "cut", "wal.log");
    const cut = await Deno.readFile(cutPath);
    await Deno.writeFile(cutPath, cut.subarray(0, readLog(realFiles, cutPath).validBytes - 1));
    await using again = await Engine.open({ dir: join(dir, "cut") });
    assert.deepEqual(await keys(again), Array.from({ length: 70 }, (_, i) => BigInt(i)));
  });
});

Deno.test("damage in the last write, with later records of that write intact, is a torn tail", async () => {
  await inTempDir(async (dir) => {
    const engine = await Engine.open({ dir });
    const tx = engine.begin();
    await tx.createTable(SPEC);
    await tx.commit();
    for (let i = 0; i < 5; i++) await commitRows(engine, i * 10, i * 10 + 10);
    // Four transactions committed together: one group-committed write.
    const fsyncs = engine.stats().fsyncs;
    await Promise.all([50, 60, 70, 80].map((from) => commitRows(engine, from, from + 10)));
    assert.equal(engine.stats().fsyncs, fsyncs + 1);
    engine.crashForTesting();
    const walPath = join(dir, "wal.log");
    const wal = await Deno.readFile(walPath);
    const end = readLog(realFiles, walPath).validBytes;
    // The write's records all carry the same durable LSN: the one before it.
    const frames: { offset: number; durableLsn: number }[] = [];
    for (let at = LOG_HEADER_BYTES; at < end;) {
      const result = decodeRecord(wal.subarray(at, end));
      if (result.kind !== "record") break;
      frames.push({ offset: at, durableLsn: result.frame.durableLsn });
      at += result.bytesUsed;
    }
    const lastWrite = frames.filter((f) => f.durableLsn === frames.at(-1)!.durableLsn);
    assert.ok(lastWrite.length > 40);
    // As if a power cut persisted all of that write but its first sector
    // (in a real crash none of its commits would have been acknowledged).
    wal.fill(0, lastWrite[0].offset, lastWrite[0].offset + 512);
    await Deno.writeFile(walPath, wal);
    await using again = await Engine.open({ dir });
    assert.deepEqual(await keys(again), Array.from({ length: 50 }, (_, i) => BigInt(i)));
  });
});

Deno.test("a log reused after a checkpoint, with the old file's records after its end, recovers", async () => {
  await inTempDir(async (dir) => {
    const engine = await Engine.open({ dir });
    const tx = engine.begin();
    await tx.createTable(SPEC);
    await tx.commit();
    for (let i = 0; i < 20; i++) await commitRows(engine, i * 10, i * 10 + 10);
    const walPath = join(dir, "wal.log");
    const oldWal = await Deno.readFile(walPath);
    const oldEnd = readLog(realFiles, walPath).validBytes;
    engine.checkpoint();
    await commitRows(engine, 200, 210);
    await commitRows(engine, 210, 220);
    engine.crashForTesting();
    const newWal = await Deno.readFile(walPath);
    const newEnd = readLog(realFiles, walPath).validBytes;
    // Lay the new log over the old one, as a file reused in place without
    // zeroing would hold it: the old file's records follow the new end.
    assert.ok(oldEnd > newEnd + 1000);
    const reused = oldWal.slice();
    reused.set(newWal.subarray(0, newEnd));
    assert.ok(recordOffsets(oldWal, oldEnd).some((r) => r.offset > newEnd + 100));
    await Deno.writeFile(walPath, reused);
    await using again = await Engine.open({ dir });
    assert.deepEqual(await keys(again), Array.from({ length: 220 }, (_, i) => BigInt(i)));
  });
});

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
      const before = readLog(realFiles, walPath).validBytes;
      await commitRows(engine, 10, 20);
      engine.crashForTesting();
      const wal = await Deno.readFile(walPath);
      const end = readLog(realFiles, walPath).validBytes;
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

Deno.test("open refuses a log or data file of another format version", async () => {
  await inTempDir(async (dir) => {
    await crashedAfterCommits(dir, 1);
    const walPath = join(dir, "wal.log");
    const wal = await Deno.readFile(walPath);
    const newer = wal.slice();
    new DataView(newer.buffer).setUint32(4, LOG_FORMAT_VERSION + 1);
    await Deno.writeFile(walPath, newer);
    await assert.rejects(
      () => Engine.open({ dir }),
      (e) =>
        e instanceof UnsupportedFormatError && e.path === walPath &&
        e.version === LOG_FORMAT_VERSION + 1,
    );
    await Deno.writeFile(walPath, wal);
    const dataPath = join(dir, "data.db");
    const data = await Deno.readFile(dataPath);
    const meta = data.subarray(0, PAGE_BYTES);
    new DataView(data.buffer).setUint32(24, FORMAT_VERSION + 1);
    sealPage(meta);
    await Deno.writeFile(dataPath, data);
    await assert.rejects(
      () => Engine.open({ dir }),
      (e) =>
        e instanceof UnsupportedFormatError && e.path === dataPath &&
        e.version === FORMAT_VERSION + 1 &&
        /format version 2; this build reads version 1/.test(e.message),
    );
  });
});
