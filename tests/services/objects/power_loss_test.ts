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

function content(seed: number, size: number): Uint8Array {
  const random = seededRandom(seed);
  return Uint8Array.from({ length: size }, () => Math.floor(random() * 256));
}

const WORKLOAD: Step[] = [
  { kind: "put", key: "a", content: content(1, 700) },
  { kind: "put", key: "dir/b", content: content(2, 1500) },
  { kind: "put", key: "a", content: content(3, 2100) }, // overwrite, longer
  { kind: "put", key: "../c", content: content(4, 10) },
  { kind: "delete", key: "dir/b" },
  { kind: "put", key: "a", content: content(5, 300) }, // overwrite, shorter
  { kind: "put", key: "dir/b", content: content(6, 1024) },
  { kind: "delete", key: "../c" },
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
  };
}

interface Recorded {
  ops: DiskOp[];
  /** For each step, how many operations had run when it was acknowledged. */
  ackedAtOp: number[];
  /** How many operations had run when each step started. */
  startedAtOp: number[];
}

function runWorkload(wrap: (disk: FileLayer) => FileLayer): Recorded {
  const ops: DiskOp[] = [];
  const disk = new SimulatedDisk({ onOp: (op) => ops.push(op) });
  const store = new ObjectStore({ files: wrap(disk), dataDir: DATA_DIR });
  store.open();
  store.createBucket(BUCKET, "", 0);
  const ackedAtOp: number[] = [];
  const startedAtOp: number[] = [];
  for (const step of WORKLOAD) {
    startedAtOp.push(ops.length);
    if (step.kind === "put") {
      const upload = store.beginUpload(BUCKET, step.key);
      const half = step.content.length >> 1;
      upload.write(step.content.subarray(0, half));
      upload.write(step.content.subarray(half));
      upload.commit({ headers: {}, nowMs: 1 });
    } else {
      store.deleteObject(BUCKET, step.key);
    }
    ackedAtOp.push(ops.length);
  }
  return { ops, ackedAtOp, startedAtOp };
}

/** What each key may hold after a cut before operation `point` (1-based). */
function allowed(recorded: Recorded, point: number): Map<string, Set<string>> {
  const state = new Map<string, string>();
  const out = new Map<string, Set<string>>();
  const hex = (bytes: Uint8Array) => createHash("md5").update(bytes).digest("hex");
  for (let i = 0; i < WORKLOAD.length; i++) {
    const step = WORKLOAD[i];
    const value = step.kind === "put" ? hex(step.content) : "absent";
    if (recorded.ackedAtOp[i] < point) {
      state.set(step.key, value);
      continue;
    }
    if (recorded.startedAtOp[i] < point) {
      // In flight at the cut: either outcome.
      for (const key of new Set([...state.keys(), step.key])) {
        out.set(key, new Set([state.get(key) ?? "absent"]));
      }
      out.get(step.key)!.add(value);
      return out;
    }
    break;
  }
  for (const key of new Set([...state.keys(), ...WORKLOAD.map((s) => s.key)])) {
    out.set(key, new Set([state.get(key) ?? "absent"]));
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
        problem = check(store, after, allowed(recorded, point));
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
): string | undefined {
  const bucketAcked = expected.size > 0; // the bucket was created before any step
  if (store.bucket(BUCKET) === undefined) {
    return bucketAcked && [...expected.values()].some((v) => !v.has("absent"))
      ? "the bucket was lost"
      : undefined;
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

Deno.test(
  `object store: a power cut at any point keeps every acknowledged object whole (seed ${SEED})`,
  {
    permissions: "none",
  },
  () => {
    const recorded = runWorkload((disk) => disk);
    assert.ok(recorded.ops.length > 40, `only ${recorded.ops.length} operations recorded`);
    assert.equal(checkEveryPoint(recorded, ["lose", "tear", "keep", "tear"]), undefined);
  },
);

Deno.test("object store: the power-loss check catches a missing file fsync", {
  permissions: "none",
}, () => {
  const problem = checkEveryPoint(runWorkload((disk) => withoutSync(disk, "file")), ["lose"]);
  assert.ok(problem !== undefined, "no fsync of the file, yet nothing was lost");
});

Deno.test("object store: the power-loss check catches a missing directory fsync", {
  permissions: "none",
}, () => {
  const problem = checkEveryPoint(runWorkload((disk) => withoutSync(disk, "directory")), ["lose"]);
  assert.ok(problem !== undefined, "no fsync of the directory, yet nothing was lost");
});
