// Group commit with the fsync off the event loop (storage/wal.ts): while
// transactions wait for locks a flush fsyncs with `syncDataAsync`, no commit
// resolves before that fsync returns, commits made meanwhile wait for the
// next flush (which starts when it returns), a checkpoint during it makes
// everything durable, and a failed one fails every waiter and later commit.
// The disk is the simulated one of the power-loss test, with an async fsync
// the test completes by hand.

import assert from "node:assert/strict";
import type { FileHandle, FileLayer, OpenOptions } from "../../../lib/fs/file_layer.ts";
import { Engine } from "../../../services/datastore/storage/engine.ts";
import { seededRandom, SimulatedDisk } from "../../_support/power_loss_fs.ts";

const DIR = "/db";

/** A simulated disk whose async fsyncs wait until the test releases or fails them. */
class HeldSyncDisk implements FileLayer {
  readonly disk: SimulatedDisk;
  /** Async fsyncs started and not yet finished, oldest first. */
  readonly held: { handle: FileHandle; resolve: () => void; reject: (e: unknown) => void }[] = [];
  asyncSyncs = 0;

  constructor(disk = new SimulatedDisk()) {
    this.disk = disk;
  }

  open(path: string, options?: OpenOptions): FileHandle {
    const handle = this.disk.open(path, options);
    const held = this.held;
    return {
      readAt: (into, position) => handle.readAt(into, position),
      writeAt: (bytes, position) => handle.writeAt(bytes, position),
      sync: () => handle.sync(),
      syncData: () => handle.syncData(),
      syncDataAsync: () => {
        this.asyncSyncs++;
        return new Promise<void>((resolve, reject) => held.push({ handle, resolve, reject }));
      },
      truncate: (size) => handle.truncate(size),
      size: () => handle.size(),
      close: () => handle.close(),
      [Symbol.dispose]: () => handle.close(),
    };
  }

  /** Completes the oldest held fsync: its file's writes so far become durable. */
  release(): void {
    const sync = this.held.shift()!;
    try {
      sync.handle.syncData();
    } catch {
      // Closed since (a log restart): the real call would finish on the old file.
    }
    sync.resolve();
  }

  fail(error: Error): void {
    this.held.shift()!.reject(error);
  }

  readFile(path: string) {
    return this.disk.readFile(path);
  }
  sizeOf(path: string) {
    return this.disk.sizeOf(path);
  }
  rename(from: string, to: string) {
    this.disk.rename(from, to);
  }
  remove(path: string) {
    this.disk.remove(path);
  }
  list(dir: string) {
    return this.disk.list(dir);
  }
  makeDirectory(dir: string) {
    this.disk.makeDirectory(dir);
  }
  syncDirectory(dir: string) {
    this.disk.syncDirectory(dir);
  }
}

/** Lets the event loop run until `condition` holds (bounded). */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  assert.ok(condition(), "condition never held");
}

async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

async function openWithTable(files: FileLayer): Promise<Engine> {
  const engine = await Engine.open({ dir: DIR, files, verifyOnOpen: true });
  const tx = engine.begin();
  await tx.createTable({ name: "t", columns: [{ name: "id", type: "int64" }], primaryKey: ["id"] });
  await tx.createTable({ name: "w", columns: [{ name: "id", type: "int64" }], primaryKey: ["id"] });
  await tx.commit(); // nobody waits for a lock: the synchronous fsync
  return engine;
}

/** A transaction holding the lock of a row of w and one waiting for it; `end` lets both go. */
async function lockQueue(engine: Engine): Promise<{ end: () => Promise<void> }> {
  const holder = engine.begin();
  await holder.insert("w", [1n]);
  const waiter = engine.begin();
  const waiting = waiter.insert("w", [1n]);
  await until(() => engine.stats().lockWaits === 1);
  return {
    async end() {
      await holder.rollback();
      await waiting;
      await waiter.rollback();
    },
  };
}

/** Starts a transaction inserting `id` and its commit; `acked[id]` turns true when it resolves. */
async function commitOne(engine: Engine, id: number, acked: Map<number, boolean>) {
  const tx = engine.begin();
  await tx.insert("t", [BigInt(id)]);
  acked.set(id, false);
  // Wrapped, so that awaiting commitOne does not wait for the commit.
  return {
    done: tx.commit().then(() => {
      acked.set(id, true);
    }),
  };
}

async function ids(engine: Engine): Promise<number[]> {
  const tx = engine.begin();
  const out: number[] = [];
  for await (const row of tx.scan("t")) out.push(Number(row[0]));
  await tx.commit();
  return out;
}

Deno.test("while transactions wait for locks the fsync runs off the event loop; later commits wait for the next", async () => {
  const files = new HeldSyncDisk();
  const engine = await openWithTable(files);
  assert.equal(files.asyncSyncs, 0, "no lock waits: the synchronous fsync");
  const queue = await lockQueue(engine);
  const acked = new Map<number, boolean>();
  const first = await Promise.all([1, 2, 3].map((id) => commitOne(engine, id, acked)));
  await until(() => files.held.length === 1);
  // The event loop is free during the fsync: another commit is made, and
  // no second fsync starts while one is in flight.
  const fourth = await commitOne(engine, 4, acked);
  await settle();
  assert.equal(files.held.length, 1);
  assert.deepEqual([...acked.values()], [false, false, false, false]);
  const fsyncsBefore = engine.stats().fsyncs;
  files.release();
  await Promise.all(first.map((c) => c.done));
  // The next flush started as soon as the fsync returned, for the fourth.
  await until(() => files.held.length === 1);
  await settle();
  assert.equal(acked.get(4), false, "a commit made during an fsync is not covered by it");
  files.release();
  await fourth.done;
  assert.equal(engine.stats().fsyncs, fsyncsBefore + 2);
  await queue.end();
  // With no lock waits, a commit fsyncs synchronously again.
  await (await commitOne(engine, 5, acked)).done;
  assert.equal(files.asyncSyncs, 2);
  // Every acknowledged commit survives a power cut that loses everything else.
  const after = new HeldSyncDisk(files.disk.powerLoss(seededRandom(1), "lose"));
  const reopened = await Engine.open({ dir: DIR, files: after });
  assert.deepEqual(await ids(reopened), [1, 2, 3, 4, 5]);
  await reopened.close();
  engine.crashForTesting();
});

Deno.test("a checkpoint during an fsync in flight makes every commit durable", async () => {
  const files = new HeldSyncDisk();
  const engine = await openWithTable(files);
  const queue = await lockQueue(engine); // the fsync runs off the event loop
  const acked = new Map<number, boolean>();
  const commits = await Promise.all([1, 2].map((id) => commitOne(engine, id, acked)));
  await until(() => files.held.length === 1);
  const third = engine.begin();
  await third.insert("t", [3n]);
  engine.checkpoint();
  await Promise.all(commits.map((c) => c.done));
  // The late fsync of the replaced log file changes nothing.
  files.release();
  const done = third.commit();
  await until(() => files.held.length === 1);
  files.release();
  await done;
  await queue.end();
  assert.deepEqual(await ids(engine), [1, 2, 3]);
  const after = new HeldSyncDisk(files.disk.powerLoss(seededRandom(2), "lose"));
  const reopened = await Engine.open({ dir: DIR, files: after });
  assert.deepEqual(await ids(reopened), [1, 2, 3]);
  await reopened.close();
  engine.crashForTesting();
});

Deno.test("a failed fsync off the event loop fails its commits and every later one", async () => {
  const files = new HeldSyncDisk();
  const engine = await openWithTable(files);
  const queue = await lockQueue(engine); // the fsync runs off the event loop
  const acked = new Map<number, boolean>();
  const commits = await Promise.all([1, 2].map((id) => commitOne(engine, id, acked)));
  await until(() => files.held.length === 1);
  files.fail(new Error("EIO"));
  for (const commit of commits) await assert.rejects(commit.done, /EIO/);
  const later = engine.begin();
  await later.insert("t", [3n]);
  await assert.rejects(later.commit(), /EIO/);
  assert.deepEqual([...acked.values()], [false, false]);
  await queue.end();
  engine.crashForTesting();
});
