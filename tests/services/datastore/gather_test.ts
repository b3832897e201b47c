// Group commit's gathering (storage/wal.ts, `gather`): a flush waits until
// as many committers wait as the last flush covered, at most GATHER_MS; a
// lone committer never waits; a wait that runs out turns waiting off for
// the next flushes; nothing is acknowledged before its fsync, and closing
// during a wait flushes and leaves no timer behind. The log runs on the
// simulated disk of the power-loss test.

import assert from "node:assert/strict";
import { RecordKind, Wal } from "../../../services/datastore/storage/wal.ts";
import { seededRandom, SimulatedDisk } from "../../_support/power_loss_fs.ts";
import { decodeLog } from "../../../services/datastore/storage/wal_codec.ts";

const PATH = "/db/wal.log";

/** A log that gathers; waits last `gatherMs` (long by default: only a count or close ends them). */
function openWal(disk: SimulatedDisk, gatherMs = 60_000): Wal {
  const wal = new Wal(PATH, {
    files: disk,
    lastLsn: 0,
    validBytes: 0,
    salt: 7,
    preallocateBytes: 4096,
    gather: true,
    gatherMs,
  });
  // A log file as the engine makes one: header and checkpoint, durable.
  wal.restart({ kind: RecordKind.checkpoint, lsn: 0, txId: 0, open: [] });
  return wal;
}

/** Appends a commit record and waits for it; `acked[i]` turns true when it is durable. */
function commit(wal: Wal, txId: number, acked: boolean[]): Promise<void> {
  const lsn = wal.append({ kind: RecordKind.commit, lsn: 0, txId });
  acked[txId] = false;
  return wal.waitDurable(lsn).then(() => {
    acked[txId] = true;
  });
}

async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

/** Transaction ids of the commit records a power cut that loses everything unsynced keeps. */
function survivingCommits(disk: SimulatedDisk): number[] {
  const bytes = disk.powerLoss(seededRandom(1), "lose").readFile(PATH);
  if (bytes === null) return [];
  return decodeLog(bytes, PATH).records.filter((r) => r.kind === RecordKind.commit).map((r) =>
    r.txId
  );
}

Deno.test("a lone committer never waits for others", async () => {
  const disk = new SimulatedDisk();
  const wal = openWal(disk);
  const acked: boolean[] = [];
  for (let i = 1; i <= 5; i++) await commit(wal, i, acked);
  assert.equal(wal.gathers, 0);
  assert.equal(wal.fsyncs, 5);
  wal.close();
});

Deno.test("a flush waits until as many committers wait as the last one covered", async () => {
  const disk = new SimulatedDisk();
  const wal = openWal(disk);
  const acked: boolean[] = [];
  await Promise.all([1, 2, 3].map((i) => commit(wal, i, acked)));
  const fsyncs = wal.fsyncs;
  const first = commit(wal, 4, acked);
  await settle();
  assert.equal(wal.fsyncs, fsyncs, "one committer of the last three: the flush waits");
  assert.deepEqual(survivingCommits(disk), [1, 2, 3], "nothing of the wait is durable yet");
  assert.equal(acked[4], false);
  const second = commit(wal, 5, acked);
  await settle();
  assert.equal(acked[4], false);
  const third = commit(wal, 6, acked); // the third: the flush runs
  await Promise.all([first, second, third]);
  assert.equal(wal.fsyncs, fsyncs + 1, "one fsync for the three");
  assert.equal(wal.gathers, 1);
  assert.equal(wal.gatherTimeouts, 0);
  assert.deepEqual(survivingCommits(disk), [1, 2, 3, 4, 5, 6]);
  wal.close();
});

Deno.test("a wait runs out, and the next flushes do not wait", async () => {
  const disk = new SimulatedDisk();
  const wal = openWal(disk, 1);
  const acked: boolean[] = [];
  await Promise.all([1, 2, 3].map((i) => commit(wal, i, acked)));
  await commit(wal, 4, acked); // alone: waits for the others, which never come
  assert.equal(wal.gathers, 1);
  assert.equal(wal.gatherTimeouts, 1);
  await Promise.all([5, 6, 7].map((i) => commit(wal, i, acked)));
  for (let i = 8; i < 14; i++) await commit(wal, i, acked);
  assert.equal(wal.gathers, 1, "after a wait ran out, flushes go at once for a while");
  assert.deepEqual(survivingCommits(disk), Array.from({ length: 13 }, (_, i) => i + 1));
  wal.close();
});

Deno.test("closing the log while a flush waits makes it durable and stops the wait", async () => {
  const disk = new SimulatedDisk();
  const wal = openWal(disk);
  const acked: boolean[] = [];
  await Promise.all([1, 2].map((i) => commit(wal, i, acked)));
  const waiting = commit(wal, 3, acked);
  await settle();
  assert.equal(acked[3], false);
  wal.close();
  await waiting;
  assert.deepEqual(survivingCommits(disk), [1, 2, 3]);
});
