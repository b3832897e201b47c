// Power-loss test of the object store (services/objects/store.ts) on the
// simulated disk (tests/_support/power_loss_fs.ts): a workload of puts,
// overwrites and deletes runs once while every disk operation is recorded;
// then for every operation n the first n-1 are replayed on an empty disk,
// the power is cut there (unsynced writes kept, lost or torn; unsynced
// renames kept or lost, in order), and the store reopens on what survived.
// It must hold, for every key: the content is that of the last acknowledged
// write (or delete), or of the one write in flight at the cut; every object
// listed reads back whole with the size and MD5 its metadata says; and no
// temporary file is left.
//
// A second workload runs its writes concurrently (rounds of puts and
// deletes of different keys at once), so the files' async fsyncs overlap
// and the bucket's directory fsyncs are shared (group commit): a rename
// answered by a directory fsync that started before it is caught, since the
// simulated disk's async directory sync covers only earlier renames.
//
// The same check run with fsync or the directory fsync taken out must fail:
// that proves the test can see a missing fsync.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { FileHandle, FileLayer, OpenOptions } from "../../../lib/fs/file_layer.ts";
import { ObjectStore } from "../../../services/objects/store.ts";
import {
  type DiskOp,
  type LossMode,
  seededRandom,
  SimulatedDisk,
} from "../../_support/power_loss_fs.ts";

const DATA_DIR = "/data";
const BUCKET = "pics";
const OBJECTS_DIR = `${DATA_DIR}/buckets/${BUCKET}`;
const SEED = Number(Deno.env.get("POWER_LOSS_SEED") ?? Math.floor(Math.random() * 2 ** 31));

type Step = { kind: "put"; key: string; content: Uint8Array } | { kind: "delete"; key: string };
/** Steps run one after another; in a concurrent workload, each round's steps at once. */
type Workload = Step[][];

function content(seed: number, size: number): Uint8Array {
  const random = seededRandom(seed);
  return Uint8Array.from({ length: size }, () => Math.floor(random() * 256));
}

const SEQUENTIAL: Workload = [
  { kind: "put", key: "a", content: content(1, 700) },
  { kind: "put", key: "dir/b", content: content(2, 1500) },
  { kind: "put", key: "a", content: content(3, 2100) }, // overwrite, longer
  { kind: "put", key: "../c", content: content(4, 10) },
  { kind: "delete", key: "dir/b" },
  { kind: "put", key: "a", content: content(5, 300) }, // overwrite, shorter
  { kind: "put", key: "dir/b", content: content(6, 1024) },
  { kind: "delete", key: "../c" },
].map((step) => [step as Step]);

/** Each round's steps run at once (one key at most once per round). */
const CONCURRENT: Workload = [
  [
    { kind: "put", key: "a", content: content(11, 900) },
    { kind: "put", key: "b", content: content(12, 1500) },
    { kind: "put", key: "c", content: content(13, 40) },
  ],
  [
    { kind: "put", key: "a", content: content(14, 2100) }, // overwrite, longer
    { kind: "delete", key: "b" },
    { kind: "put", key: "d", content: content(15, 600) },
    { kind: "put", key: "c", content: content(16, 700) },
  ],
  [
    { kind: "put", key: "b", content: content(17, 512) },
    { kind: "put", key: "a", content: content(18, 100) }, // overwrite, shorter
  ],
];

/**
 * A file layer whose fsyncs of object files, or of the bucket's directory, do
 * nothing: what the test must catch.
 */
function withoutSync(inner: FileLayer, what: "file" | "directory"): FileLayer {
  return {
    open(path: string, options?: OpenOptions): FileHandle {
      const handle = inner.open(path, options);
      if (what !== "file" || !path.startsWith(OBJECTS_DIR)) return handle;
      return {
        readAt: (into, position) => handle.readAt(into, position),
        writeAt: (bytes, position) => handle.writeAt(bytes, position),
        sync: () => {},
        syncData: () => {},
        syncAsync: () => Promise.resolve(),
        truncate: (size) => handle.truncate(size),
        size: () => handle.size(),
        close: () => handle.close(),
        [Symbol.dispose]: () => handle.close(),
      };
    },
    readFile: (path) => inner.readFile(path),
    sizeOf: (path) => inner.sizeOf(path),
    rename: (from, to) => inner.rename(from, to),
    remove: (path) => inner.remove(path),
    list: (dir) => inner.list(dir),
    makeDirectory: (dir) => inner.makeDirectory(dir),
    syncDirectory: (dir) =>
      what === "directory" && dir === OBJECTS_DIR ? undefined : inner.syncDirectory(dir),
    syncDirectoryAsync: (dir) =>
      what === "directory" && dir === OBJECTS_DIR
        ? Promise.resolve()
        : inner.syncDirectoryAsync!(dir),
  };
}

interface Recorded {
  steps: Step[];
  ops: DiskOp[];
  /** For each step, how many operations had run when it was acknowledged. */
  ackedAtOp: number[];
  /** How many operations had run when each step started. */
  startedAtOp: number[];
}

async function runWorkload(
  workload: Workload,
  wrap: (disk: FileLayer) => FileLayer,
): Promise<Recorded> {
  const ops: DiskOp[] = [];
  const disk = new SimulatedDisk({ onOp: (op) => ops.push(op) });
  const store = new ObjectStore({ files: wrap(disk), dataDir: DATA_DIR });
  store.open();
  store.createBucket(BUCKET, "", 0);
  const recorded: Recorded = { steps: [], ops, ackedAtOp: [], startedAtOp: [] };
  const run = async (step: Step, i: number) => {
    recorded.startedAtOp[i] = ops.length;
    if (step.kind === "put") {
      const upload = store.beginUpload(BUCKET, step.key);
      const half = step.content.length >> 1;
      await upload.write(step.content.subarray(0, half));
      await upload.write(step.content.subarray(half));
      await upload.commit({ headers: {}, nowMs: 1 });
    } else {
      store.deleteObject(BUCKET, step.key);
    }
    recorded.ackedAtOp[i] = ops.length;
  };
  for (const round of workload) {
    const first = recorded.steps.length;
    recorded.steps.push(...round);
    await Promise.all(round.map((step, j) => run(step, first + j)));
  }
  return recorded;
}

/**
 * What each key may hold after a cut before operation `point` (1-based):
 * per key (whose steps never overlap), the value of its last step
 * acknowledged before the cut, or also that of its step in flight at it.
 */
function allowed(recorded: Recorded, point: number): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const hex = (bytes: Uint8Array) => createHash("md5").update(bytes).digest("hex");
  const keys = new Set(recorded.steps.map((step) => step.key));
  for (const key of keys) {
    let state = "absent";
    const values = new Set<string>();
    for (const [i, step] of recorded.steps.entries()) {
      if (step.key !== key) continue;
      const value = step.kind === "put" ? hex(step.content) : "absent";
      if (recorded.ackedAtOp[i] < point) {
        state = value;
        continue;
      }
      if (recorded.startedAtOp[i] < point) values.add(value); // in flight at the cut
      break;
    }
    values.add(state);
    out.set(key, values);
  }
  return out;
}

/** Replays every crash point; returns the first problem found, or undefined. */
function checkEveryPoint(recorded: Recorded, modes: LossMode[]): string | undefined {
  const random = seededRandom(SEED);
  for (let point = 1; point <= recorded.ops.length + 1; point++) {
    for (const mode of modes) {
      const disk = new SimulatedDisk();
      for (const op of recorded.ops.slice(0, point - 1)) disk.apply(op);
      const after = disk.powerLoss(random, mode);
      const store = new ObjectStore({ files: after, dataDir: DATA_DIR });
      let problem: string | undefined;
      try {
        store.open();
        problem = check(store, after, allowed(recorded, point), point > recorded.ackedAtOp[0]);
      } catch (error) {
        problem = `open failed: ${error instanceof Error ? error.message : error}`;
      }
      if (problem !== undefined) return `cut before op ${point} (${mode}): ${problem}`;
    }
  }
  return undefined;
}

function check(
  store: ObjectStore,
  disk: SimulatedDisk,
  expected: Map<string, Set<string>>,
  firstAcked: boolean,
): string | undefined {
  if (store.bucket(BUCKET) === undefined) {
    // The bucket was created before any step: once one is acknowledged it must be there.
    return firstAcked ? "the bucket was lost" : undefined;
  }
  const listed = store.list(BUCKET, { prefix: "", delimiter: "", after: "", maxKeys: 1000 });
  const present = new Map<string, string>();
  for (const meta of listed.contents) {
    const reader = store.openObject(BUCKET, meta.key)!;
    const bytes = new Uint8Array(meta.sizeBytes);
    const n = reader.readAt(bytes, 0);
    reader.close();
    const md5 = createHash("md5").update(bytes.subarray(0, n)).digest("hex");
    if (n !== meta.sizeBytes || md5 !== meta.etag) return `${meta.key} is not whole`;
    present.set(meta.key, md5);
  }
  for (const [key, values] of expected) {
    const got = present.get(key) ?? "absent";
    if (!values.has(got)) return `${key} holds ${got}, expected one of ${[...values].join(", ")}`;
  }
  for (const name of disk.list(OBJECTS_DIR)) {
    if (name.endsWith(".tmp")) return `temporary file ${name} left behind`;
  }
  return undefined;
}

const WORKLOADS: [string, Workload][] = [["one at a time", SEQUENTIAL], [
  "concurrent, group commit",
  CONCURRENT,
]];

for (const [name, workload] of WORKLOADS) {
  Deno.test(
    `object store (${name}): a power cut at any point keeps every acknowledged object whole (seed ${SEED})`,
    { permissions: "none" },
    async () => {
      const recorded = await runWorkload(workload, (disk) => disk);
      assert.ok(recorded.ops.length > 30, `only ${recorded.ops.length} operations recorded`);
      assert.equal(checkEveryPoint(recorded, ["lose", "tear", "keep", "tear"]), undefined);
    },
  );

  Deno.test(`object store (${name}): the power-loss check catches a missing file fsync`, {
    permissions: "none",
  }, async () => {
    const recorded = await runWorkload(workload, (disk) => withoutSync(disk, "file"));
    const problem = checkEveryPoint(recorded, ["lose"]);
    assert.ok(problem !== undefined, "no fsync of the file, yet nothing was lost");
  });

  Deno.test(`object store (${name}): the power-loss check catches a missing directory fsync`, {
    permissions: "none",
  }, async () => {
    const recorded = await runWorkload(workload, (disk) => withoutSync(disk, "directory"));
    const problem = checkEveryPoint(recorded, ["lose"]);
    assert.ok(problem !== undefined, "no fsync of the directory, yet nothing was lost");
  });
}

Deno.test("object store: concurrent puts share directory fsyncs (group commit)", {
  permissions: "none",
}, async () => {
  const disk = new SimulatedDisk();
  const store = new ObjectStore({ files: disk, dataDir: DATA_DIR });
  store.open();
  store.createBucket(BUCKET, "", 0);
  const puts = Array.from({ length: 8 }, async (_, i) => {
    const upload = store.beginUpload(BUCKET, `k${i}`);
    await upload.write(content(i, 100));
    await upload.commit({ headers: {}, nowMs: 1 });
  });
  await Promise.all(puts);
  assert.ok(store.syncs.syncs <= 2, `${store.syncs.syncs} directory fsyncs for 8 puts`);
});
