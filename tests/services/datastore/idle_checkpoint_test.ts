// The idle checkpoint (`idleCheckpointMs`): an engine with a quarter of its
// pool dirty checkpoints once no transaction has ended or been open for
// that long, never while one is open, and not when little is dirty. The
// datastore service turns it on, so the checkpoint a full pool would force
// in the middle of the next burst of work is taken in the pause before it.

import assert from "node:assert/strict";
import { Engine, type TableSpec } from "../../../services/datastore/storage/engine.ts";

const ROWS: TableSpec = {
  name: "rows",
  columns: [{ name: "id", type: "int64" }, { name: "body", type: "text" }],
  primaryKey: ["id"],
};

const POOL_PAGES = 64;
const BODY = "x".repeat(1000);

/** Inserts rows of about 1 KB in one transaction: `count` / 7 pages dirtied, give or take. */
async function fill(engine: Engine, from: number, count: number): Promise<void> {
  const tx = engine.begin();
  for (let id = from; id < from + count; id++) await tx.insert("rows", [BigInt(id), BODY]);
  await tx.commit();
}

/** Waits (bounded: 10 s) until `done()`; false if it never was. */
async function eventually(done: () => boolean): Promise<boolean> {
  for (let i = 0; i < 1000 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
  return done();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withEngine(idleCheckpointMs: number, fn: (engine: Engine) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "underhood-idle-checkpoint-" });
  try {
    await using engine = await Engine.open({
      dir,
      bufferPoolPages: POOL_PAGES,
      idleCheckpointMs,
    });
    const tx = engine.begin();
    await tx.createTable(ROWS);
    await tx.commit();
    await fn(engine);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("an idle engine with a quarter of its pool dirty checkpoints on its own", async () => {
  await withEngine(5, async (engine) => {
    const before = engine.stats().checkpoints;
    await fill(engine, 0, 200); // about 28 pages of 64
    assert.ok(await eventually(() => engine.stats().idleCheckpoints === 1));
    assert.equal(engine.stats().checkpoints, before + 1);
    // Nothing dirty left to pay for: no second one.
    await sleep(50);
    assert.equal(engine.stats().idleCheckpoints, 1);
  });
});

Deno.test("the idle checkpoint waits while a transaction is open", async () => {
  await withEngine(5, async (engine) => {
    const open = engine.begin();
    await open.insert("rows", [1000n, "open"]);
    await fill(engine, 0, 200);
    // The timer the fill's commit set finds the pool due, but a transaction open.
    await sleep(100);
    assert.equal(engine.stats().idleCheckpoints, 0);
    await open.commit();
    assert.ok(await eventually(() => engine.stats().idleCheckpoints === 1));
  });
});

Deno.test("no idle checkpoint below a quarter of the bounds, nor when it is off", async () => {
  await withEngine(5, async (engine) => {
    await fill(engine, 0, 20); // 3 or 4 pages
    await sleep(100);
    assert.equal(engine.stats().idleCheckpoints, 0);
  });
  await withEngine(0, async (engine) => {
    await fill(engine, 0, 200);
    await sleep(100);
    assert.equal(engine.stats().idleCheckpoints, 0);
  });
});
