// Group commit on a sync thread (storage/wal.ts, lib/fs/sync_thread.ts): no
// commit is acknowledged before an fsync that started after its log bytes
// were written has returned; commits made during an fsync wait for the next
// one, which the thread starts as soon as the last returns; a checkpoint
// during an fsync makes everything durable and later fsyncs cover the new
// log file; a failed fsync fails every waiter and every later commit; until
// the thread is ready the log fsyncs itself.
//
// The thread here is a simulated twin of the real one, on the simulated
// disk of the power-loss test: it keeps the real thread's contract (one
// fdatasync at a time, covering the marks requested before it starts) and
// holds each fsync's completion until the test releases it. Its fsync takes
// effect when it starts, which is exactly what the real one guarantees to
// cover (writes that returned before it started): so a log that acknowledged
// a commit written after that start, or with no fsync at all, loses the
// commit at the power cut the tests end with; and the tests check that no
// acknowledgement comes before the release. The last tests run the real
// worker thread on the real disk.

import assert from "node:assert/strict";
import type { FileHandle, FileLayer, OpenOptions, SyncThread } from "../../../lib/fs/file_layer.ts";
import { realFiles } from "../../../lib/fs/file_layer.ts";
import { startSyncThread } from "../../../lib/fs/sync_thread.ts";
import { Engine } from "../../../services/datastore/storage/engine.ts";
import { seededRandom, SimulatedDisk } from "../../_support/power_loss_fs.ts";

const DIR = "/db";

/** The simulated twin of a sync thread (see the file comment). */
class HeldSyncThread implements SyncThread {
  readonly #disk: SimulatedDisk;
  readonly #path: string;
  #handle: FileHandle | null = null;
  #generation = 0;
  #openGeneration = -1;
  #requested = 0;
  /** The mark the fsync in flight covers, or null. */
  #inFlight: number | null = null;
  #synced = 0;
  #failure: Error | null = null;
  #version = 0;
  #waiters: (() => void)[] = [];
  ready = true;
  fsyncs = 0;
  closed = false;
  /** Every request, in order. */
  readonly requests: number[] = [];

  constructor(disk: SimulatedDisk, path: string) {
    this.#disk = disk;
    this.#path = path;
  }

  get inFlight(): number | null {
    return this.#inFlight;
  }

  request(mark: number): void {
    assert.ok(mark > this.#requested, "marks only grow");
    this.requests.push(mark);
    this.#requested = mark;
    if (this.#inFlight === null && this.#failure === null) this.#start();
  }

  get syncedMark(): number {
    return this.#synced;
  }

  get failure(): Error | null {
    return this.#failure;
  }

  get version(): number {
    return this.#version;
  }

  changedSince(version: number): Promise<void> {
    if (version !== this.#version) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  reopen(): void {
    this.#generation++;
  }

  close(): void {
    this.closed = true;
    this.#changed();
  }

  /** Completes the fsync in flight; the next starts at once if more was requested. */
  release(): void {
    assert.notEqual(this.#inFlight, null, "no fsync in flight");
    this.#synced = this.#inFlight!;
    this.#inFlight = null;
    this.fsyncs++;
    this.#changed();
    if (this.#requested > this.#synced) this.#start();
  }

  fail(error: Error): void {
    assert.notEqual(this.#inFlight, null, "no fsync in flight");
    this.#inFlight = null;
    this.#failure = error;
    this.#changed();
  }

  /** An fdatasync starts: what it covers is durable from here (its effect is at its start). */
  #start(): void {
    if (this.#openGeneration !== this.#generation) {
      this.#handle?.close();
      this.#handle = this.#disk.open(this.#path);
      this.#openGeneration = this.#generation;
    }
    this.#inFlight = this.#requested;
    this.#handle!.syncData();
  }

  #changed(): void {
    this.#version++;
    for (const wake of this.#waiters.splice(0)) wake();
  }
}

/** The simulated disk, offering the held sync thread. */
class ThreadDisk implements FileLayer {
  readonly disk: SimulatedDisk;
  readonly threads: HeldSyncThread[] = [];
  /** Whether a new thread starts ready. */
  startReady = true;

  constructor(disk = new SimulatedDisk()) {
    this.disk = disk;
  }

  get thread(): HeldSyncThread {
    return this.threads.at(-1)!;
  }

  syncThread(path: string): SyncThread {
    const thread = new HeldSyncThread(this.disk, path);
    thread.ready = this.startReady;
    this.threads.push(thread);
    return thread;
  }

  open(path: string, options?: OpenOptions): FileHandle {
    return this.disk.open(path, options);
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

/**
 * Lets the event loop run until `condition` holds: at least 1000 turns, and
 * up to 60 s (a real worker starts in milliseconds alone, but the whole suite
 * in parallel on two cores has taken longer than 1000 turns).
 */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (let i = 0; !condition() && (i < 1000 || Date.now() < deadline); i++) {
    await new Promise((resolve) => setTimeout(resolve, i < 1000 ? 0 : 5));
  }
  assert.ok(condition(), "condition never held");
}

async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

async function openWithTable(files: FileLayer, dir = DIR): Promise<Engine> {
  const engine = await Engine.open({ dir, files, walSyncThread: true });
  const tx = engine.begin();
  await tx.createTable({ name: "t", columns: [{ name: "id", type: "int64" }], primaryKey: ["id"] });
  const done = tx.commit();
  if (files instanceof ThreadDisk) {
    await until(() => files.thread.inFlight !== null);
    files.thread.release();
  }
  await done;
  return engine;
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

/** What survives a power cut that loses everything not fsynced. */
async function idsAfterPowerLoss(files: ThreadDisk, seed: number): Promise<number[]> {
  const after = files.disk.powerLoss(seededRandom(seed), "lose");
  const reopened = await Engine.open({ dir: DIR, files: after });
  const out = await ids(reopened);
  await reopened.close();
  return out;
}

Deno.test("commits wait for the sync thread's fsync; one made during it waits for the next", async () => {
  const files = new ThreadDisk();
  const engine = await openWithTable(files);
  const thread = files.thread;
  const fsyncsBefore = engine.stats().fsyncs;
  const acked = new Map<number, boolean>();
  const first = await Promise.all([1, 2, 3].map((id) => commitOne(engine, id, acked)));
  await until(() => thread.inFlight !== null);
  // The event loop is free during the fsync: another commit is made, and
  // waits in the log's buffer for the next fsync.
  const fourth = await commitOne(engine, 4, acked);
  await settle();
  assert.deepEqual([...acked.values()], [false, false, false, false]);
  assert.equal(thread.requests.length, 2, "one fsync at a time: nothing more asked meanwhile");
  thread.release();
  await Promise.all(first.map((c) => c.done));
  await settle();
  assert.equal(acked.get(4), false, "a commit made during an fsync is not covered by it");
  assert.notEqual(thread.inFlight, null, "the next fsync started as soon as the last returned");
  assert.equal(thread.requests.length, 3);
  thread.release();
  await fourth.done;
  assert.equal(engine.stats().fsyncs, fsyncsBefore + 2, "the thread's fsyncs are counted");
  assert.deepEqual(await idsAfterPowerLoss(files, 1), [1, 2, 3, 4]);
  engine.crashForTesting();
  assert.ok(thread.closed);
});

Deno.test("a checkpoint during the sync thread's fsync makes every commit durable; later fsyncs are of the new log", async () => {
  const files = new ThreadDisk();
  const engine = await openWithTable(files);
  const thread = files.thread;
  const acked = new Map<number, boolean>();
  const commits = await Promise.all([1, 2].map((id) => commitOne(engine, id, acked)));
  await until(() => thread.inFlight !== null);
  const third = engine.begin();
  await third.insert("t", [3n]);
  engine.checkpoint();
  await Promise.all(commits.map((c) => c.done));
  // The late fsync of the replaced log file changes nothing.
  thread.release();
  const done = third.commit();
  await until(() => thread.inFlight !== null);
  await settle();
  assert.equal(acked.size, 2);
  thread.release();
  await done;
  const fourth = await commitOne(engine, 4, acked);
  await until(() => thread.inFlight !== null);
  thread.release();
  await fourth.done;
  assert.deepEqual(await ids(engine), [1, 2, 3, 4]);
  assert.deepEqual(await idsAfterPowerLoss(files, 2), [1, 2, 3, 4]);
  engine.crashForTesting();
});

Deno.test("a failed fsync on the sync thread fails its commits and every later one", async () => {
  const files = new ThreadDisk();
  const engine = await openWithTable(files);
  const thread = files.thread;
  const acked = new Map<number, boolean>();
  const commits = await Promise.all([1, 2].map((id) => commitOne(engine, id, acked)));
  await until(() => thread.inFlight !== null);
  thread.fail(new Error("EIO"));
  for (const commit of commits) await assert.rejects(commit.done, /EIO/);
  const later = engine.begin();
  await later.insert("t", [3n]);
  await assert.rejects(later.commit(), /EIO/);
  assert.deepEqual([...acked.values()], [false, false]);
  assert.throws(() => engine.checkpoint(), /EIO/);
  engine.crashForTesting();
});

Deno.test("until the sync thread is ready the log fsyncs itself", async () => {
  const files = new ThreadDisk();
  files.startReady = false;
  const engine = await Engine.open({ dir: DIR, files, walSyncThread: true });
  const thread = files.thread;
  const tx = engine.begin();
  await tx.createTable({ name: "t", columns: [{ name: "id", type: "int64" }], primaryKey: ["id"] });
  await tx.commit();
  const acked = new Map<number, boolean>();
  await (await commitOne(engine, 1, acked)).done;
  assert.deepEqual(thread.requests, []);
  thread.ready = true;
  const second = await commitOne(engine, 2, acked);
  await until(() => thread.inFlight !== null);
  await settle();
  assert.equal(acked.get(2), false);
  thread.release();
  await second.done;
  assert.deepEqual(await idsAfterPowerLoss(files, 3), [1, 2]);
  await engine.close();
  assert.ok(thread.closed);
});

Deno.test("the real sync thread fsyncs on request, follows a replaced file and reports a failed reopen", async () => {
  const dir = await Deno.makeTempDir({ prefix: "underhood-sync-thread-" });
  const path = `${dir}/f`;
  try {
    await Deno.writeFile(path, new Uint8Array(16));
    const thread = startSyncThread(path)!;
    try {
      await until(() => thread.ready);
      assert.equal(thread.syncedMark, 0);
      let version = thread.version;
      thread.request(7);
      while (thread.syncedMark < 7) {
        await thread.changedSince(version);
        version = thread.version;
      }
      assert.equal(thread.syncedMark, 7);
      assert.ok(thread.fsyncs >= 1);
      // A replaced file: the thread opens the new one by its path.
      await Deno.writeFile(`${path}.new`, new Uint8Array(8));
      await Deno.rename(`${path}.new`, path);
      thread.reopen();
      thread.request(9);
      while (thread.syncedMark < 9) {
        await thread.changedSince(version);
        version = thread.version;
      }
      // A replaced file that is gone: the reopen fails, and that is final.
      await Deno.remove(path);
      thread.reopen();
      thread.request(10);
      while (thread.failure === null) {
        await thread.changedSince(version);
        version = thread.version;
      }
      assert.match(thread.failure.message, /fdatasync failed/);
      assert.equal(thread.syncedMark, 9);
    } finally {
      thread.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an engine on the real disk commits through the real sync thread and keeps every row", async () => {
  const dir = await Deno.makeTempDir({ prefix: "underhood-sync-thread-" });
  try {
    const engine = await openWithTable(realFiles, dir);
    const acked = new Map<number, boolean>();
    for (let round = 0; round < 20; round++) {
      const commits = await Promise.all(
        [1, 2, 3, 4].map((i) => commitOne(engine, round * 4 + i, acked)),
      );
      await Promise.all(commits.map((c) => c.done));
    }
    assert.ok(engine.stats().fsyncs > 0);
    // kill -9: nothing buffered survives, everything acknowledged must.
    engine.crashForTesting();
    const reopened = await Engine.open({ dir });
    const expected = Array.from({ length: 80 }, (_, i) => i + 1);
    assert.deepEqual(await ids(reopened), expected);
    await reopened.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
