// The file layer: one conformance suite run against the real disk
// (lib/fs/file_layer.ts) and the simulated one (tests/_support/power_loss_fs.ts),
// so the power-loss tests exercise the same behaviour the engine gets in
// production; then the simulated disk's power-loss rules.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  alignedBytes,
  alignedSharedBytes,
  DIRECT_ALIGN_BYTES,
  directIoOptions,
  DirectorySyncGroup,
  type FileLayer,
  realFiles,
  syncDirectoryOf,
  syncFile,
} from "../../../lib/fs/file_layer.ts";
import {
  type DiskOp,
  PowerLoss,
  seededRandom,
  SimulatedDisk,
} from "../../_support/power_loss_fs.ts";
import { residentPages } from "../../_support/page_cache.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array | null) => data === null ? null : new TextDecoder().decode(data);

interface Target {
  name: string;
  /** A layer and a fresh directory in it; `done` cleans up. */
  make(): Promise<{ files: FileLayer; dir: string; done: () => Promise<void> }>;
}

const TARGETS: Target[] = [
  {
    name: "real disk",
    async make() {
      const dir = await Deno.makeTempDir({ prefix: "underhood-fs-" });
      return { files: realFiles, dir, done: () => Deno.remove(dir, { recursive: true }) };
    },
  },
  {
    name: "simulated disk",
    make() {
      return Promise.resolve({ files: new SimulatedDisk(), dir: "/d", done: async () => {} });
    },
  },
];

for (const target of TARGETS) {
  Deno.test(`file layer (${target.name}): positioned writes and reads, size, truncate`, async () => {
    const { files, dir, done } = await target.make();
    try {
      const path = join(dir, "a");
      assert.equal(files.sizeOf(path), null);
      assert.equal(files.readFile(path), null);
      assert.throws(() => files.open(path));
      {
        using file = files.open(path, { create: true });
        file.writeAt(bytes("hello world"), 0);
        file.writeAt(bytes("HELLO"), 0);
        file.writeAt(bytes("!"), 14); // past the end: the gap reads as zeros
        file.syncData();
        assert.equal(file.size(), 15);
        const into = new Uint8Array(8);
        assert.equal(file.readAt(into, 6), 8);
        assert.deepEqual([...into], [...bytes("world"), 0, 0, 0]);
        assert.equal(file.readAt(into, 12), 3, "a read at the end returns what there is");
        file.truncate(5);
        file.sync();
        assert.equal(file.size(), 5);
      }
      assert.equal(text(files.readFile(path)), "HELLO");
      assert.equal(files.sizeOf(path), 5);
      {
        using file = files.open(path, { create: true, truncate: true });
        assert.equal(file.size(), 0);
      }
    } finally {
      await done();
    }
  });

  Deno.test(`file layer (${target.name}): rename replaces, remove, list, directory sync`, async () => {
    const { files, dir, done } = await target.make();
    try {
      for (const [name, content] of [["a", "old"], ["b.tmp", "new"]]) {
        using file = files.open(join(dir, name), { create: true });
        file.writeAt(bytes(content), 0);
        file.sync();
      }
      assert.deepEqual(files.list(dir), ["a", "b.tmp"]);
      files.rename(join(dir, "b.tmp"), join(dir, "a"));
      files.syncDirectory(dir);
      assert.deepEqual(files.list(dir), ["a"]);
      assert.equal(text(files.readFile(join(dir, "a"))), "new");
      files.remove(join(dir, "a"));
      files.remove(join(dir, "missing")); // not an error
      files.syncDirectory(dir);
      assert.deepEqual(files.list(dir), []);
      files.makeDirectory(join(dir, "sub", "deeper"));
    } finally {
      await done();
    }
  });

  Deno.test(`file layer (${target.name}): async fsyncs of a file and a directory`, async () => {
    const { files, dir, done } = await target.make();
    try {
      assert.ok(files.syncDirectoryAsync !== undefined);
      {
        using file = files.open(join(dir, "a.tmp"), { create: true });
        assert.ok(file.syncAsync !== undefined);
        file.writeAt(bytes("async"), 0);
        await syncFile(file);
      }
      files.rename(join(dir, "a.tmp"), join(dir, "a"));
      await syncDirectoryOf(files, dir);
      const group = new DirectorySyncGroup(files);
      await Promise.all([group.sync(dir), group.sync(dir), group.sync(dir)]);
      assert.equal(
        group.syncs,
        2,
        "one fsync runs, the two callers that came during it share the next",
      );
      assert.equal(text(files.readFile(join(dir, "a"))), "async");
    } finally {
      await done();
    }
  });
}

Deno.test("simulated disk: an async fsync takes effect when it resolves, not when it is called", async () => {
  const disk = diskWith("old", "new");
  const file = disk.open("/d/f");
  const syncing = file.syncAsync!();
  assert.equal(text(disk.powerLoss(seededRandom(1), "lose").readFile("/d/f")), "old");
  assert.throws(() => file.writeAt(bytes("x"), 0), /pending/);
  await syncing;
  assert.equal(text(disk.powerLoss(seededRandom(1), "lose").readFile("/d/f")), "new");
});

Deno.test("simulated disk: an async directory fsync covers only the renames made before it", async () => {
  const disk = new SimulatedDisk();
  for (const name of ["a", "b"]) {
    using file = disk.open(`/d/${name}.tmp`, { create: true });
    file.writeAt(bytes(name), 0);
    file.sync();
  }
  disk.syncDirectory("/d");
  disk.rename("/d/a.tmp", "/d/a");
  const syncing = disk.syncDirectoryAsync("/d");
  disk.rename("/d/b.tmp", "/d/b"); // after the fsync started
  await syncing;
  assert.deepEqual(disk.powerLoss(seededRandom(1), "lose").list("/d"), ["a", "b.tmp"]);
  // Group commit: b's caller waits for the next fsync, which covers it.
  const group = new DirectorySyncGroup(disk);
  disk.rename("/d/a", "/d/c");
  const first = group.sync("/d");
  disk.rename("/d/b", "/d/b2");
  const second = group.sync("/d");
  await first;
  await second;
  assert.deepEqual(disk.powerLoss(seededRandom(1), "lose").list("/d"), ["b2", "c"]);
});

/** A file "/d/f" holding `synced`, fsynced, then `unsynced` written over it. */
function diskWith(synced: string, unsynced: string, options = {}): SimulatedDisk {
  const disk = new SimulatedDisk(options);
  using file = disk.open("/d/f", { create: true });
  file.writeAt(bytes(synced), 0);
  file.sync();
  disk.syncDirectory("/d");
  file.writeAt(bytes(unsynced), 0);
  return disk;
}

Deno.test("simulated disk: a power loss keeps what was fsynced and may lose the rest", () => {
  const random = seededRandom(1);
  assert.equal(text(diskWith("old", "new").powerLoss(random, "lose").readFile("/d/f")), "old");
  assert.equal(text(diskWith("old", "new").powerLoss(random, "keep").readFile("/d/f")), "new");
  const disk = diskWith("old", "new");
  disk.open("/d/f").sync();
  assert.equal(text(disk.powerLoss(random, "lose").readFile("/d/f")), "new");
});

Deno.test("simulated disk: a torn write changes each sector on its own, and only its new bytes", () => {
  const sector = 512;
  const old = "o".repeat(sector * 8);
  const seen = new Set<string>();
  for (let seed = 1; seed <= 50; seed++) {
    // The unsynced write covers the second half of sector 0 and sectors 1..7.
    const disk = diskWith(old, "o".repeat(sector / 2) + "n".repeat(sector * 7.5));
    const after = disk.powerLoss(seededRandom(seed), "tear").readFile("/d/f")!;
    assert.equal(after.length, old.length);
    assert.ok(after.subarray(0, sector / 2).every((b) => b === 0x6f), "durable bytes intact");
    for (let s = 1; s < 8; s++) {
      const part = after.subarray(s * sector, (s + 1) * sector);
      const kind = part.every((b) => b === 0x6e)
        ? "new"
        : part.every((b) => b === 0x6f)
        ? "old"
        : part.every((b) => b === 0)
        ? "zero"
        : "garbage";
      seen.add(kind);
    }
  }
  assert.deepEqual([...seen].sort(), ["garbage", "new", "old", "zero"]);
  // Without powersafe overwrite a torn sector may lose its durable bytes too.
  let lostDurable = false;
  for (let seed = 1; seed <= 50 && !lostDurable; seed++) {
    const disk = diskWith(old, "o".repeat(sector / 2) + "n", { powersafeOverwrite: false });
    const after = disk.powerLoss(seededRandom(seed), "tear").readFile("/d/f")!;
    lostDurable = !after.subarray(0, sector / 2).every((b) => b === 0x6f);
  }
  assert.ok(lostDurable);
});

Deno.test("simulated disk: creates and renames survive only once their directory is fsynced", () => {
  const random = seededRandom(7);
  const disk = new SimulatedDisk();
  {
    using file = disk.open("/d/log.tmp", { create: true });
    file.writeAt(bytes("fresh"), 0);
    file.sync();
  }
  disk.rename("/d/log.tmp", "/d/log");
  assert.deepEqual(disk.powerLoss(random, "lose").list("/d"), [], "fsynced data, name lost");
  assert.deepEqual(disk.powerLoss(random, "keep").list("/d"), ["log"]);
  // A prefix survives in order: never the rename without the create before it.
  for (let seed = 1; seed <= 30; seed++) {
    const names = disk.powerLoss(seededRandom(seed), "tear").list("/d");
    assert.ok([[], ["log.tmp"], ["log"]].some((n) => n.join() === names.join()), names.join());
  }
  disk.syncDirectory("/d");
  assert.equal(text(disk.powerLoss(random, "lose").readFile("/d/log")), "fresh");
});

Deno.test("simulated disk: the power goes at operation n, and every later call fails", () => {
  const disk = new SimulatedDisk({ crashAtOp: 3 });
  const file = disk.open("/d/f", { create: true }); // 1: create
  file.writeAt(bytes("a"), 0); // 2: write
  assert.throws(() => file.sync(), PowerLoss); // 3: the power goes
  assert.ok(disk.dead);
  assert.throws(() => file.writeAt(bytes("b"), 1), PowerLoss);
  assert.throws(() => disk.readFile("/d/f"), PowerLoss);
  file.close(); // closing never fails
  assert.equal(disk.powerLoss(seededRandom(1), "lose").readFile("/d/f"), null);
});

Deno.test("simulated disk: replaying recorded operations on a clone rebuilds the same disk", () => {
  const ops: DiskOp[] = [];
  const disk = new SimulatedDisk();
  const start = disk.clone();
  disk.onOp = (op) => ops.push(op);
  const buffer = bytes("first");
  using file = disk.open("/d/f", { create: true });
  file.writeAt(buffer, 0);
  buffer.set(bytes("XXXXX")); // the recording kept its own copy
  file.sync();
  disk.syncDirectory("/d");
  for (const op of ops) start.apply(op);
  assert.equal(start.opCount, 4);
  assert.equal(text(start.powerLoss(seededRandom(1), "lose").readFile("/d/f")), "first");
});

Deno.test("real disk: startWriteback is a hint that changes no content, and close releases its descriptor", async () => {
  const dir = await Deno.makeTempDir({ prefix: "underhood-fs-" });
  const openFds = () => [...Deno.readDirSync("/proc/self/fd")].length;
  try {
    const before = openFds();
    const file = realFiles.open(join(dir, "big.tmp"), { create: true });
    const piece = new Uint8Array(1024 * 1024).map((_, i) => i & 0xff);
    for (let i = 0; i < 4; i++) {
      file.writeAt(piece, i * piece.length);
      file.startWriteback?.();
    }
    file.close();
    // The hint's own descriptor closes once its call (on another thread) has
    // returned; with another process writing heavily, sync_file_range can
    // take seconds, so this waits up to 60 s (it failed at 2 s under load).
    for (let i = 0; i < 6000 && openFds() > before; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(openFds(), before);
    const back = realFiles.readFile(join(dir, "big.tmp"))!;
    assert.equal(back.length, 4 * piece.length);
    assert.deepEqual(back.subarray(3 * piece.length), piece);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("real disk: alignedSharedBytes starts on a 4096-byte boundary", () => {
  for (let i = 0; i < 4; i++) {
    const bytes = alignedSharedBytes(1024 * 1024);
    assert.equal(bytes.length, 1024 * 1024);
    assert.ok(bytes.buffer instanceof SharedArrayBuffer);
    const address = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
    assert.equal(address % BigInt(DIRECT_ALIGN_BYTES), 0n);
  }
});

// Sizes around the 4096-byte block and a staging buffer of 1 MiB: each file
// is written as 1 MiB buffers (all in flight at once) and a tail, which is
// how an upload writes, then read back byte for byte.
const DIRECT_SIZES = [0, 1, 4095, 4096, 4097, 1024 * 1024, 3 * 1024 * 1024 + 4097];

for (const refuse of [false, true]) {
  const what = refuse ? "refused O_DIRECT falls back to" : "direct writes, tails through";
  Deno.test(`real disk: ${what} the page cache, byte for byte`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "underhood-fs-" });
    directIoOptions.refuse = refuse;
    try {
      const stage = alignedSharedBytes(1024 * 1024);
      for (const size of DIRECT_SIZES) {
        const content = new Uint8Array(size).map((_, i) => (i * 7 + (i >> 12)) & 0xff);
        const path = join(dir, `f${size}`);
        const file = await realFiles.openAsync!(path, { create: true, truncate: true });
        const direct = await file.writeDirect!();
        if (refuse) assert.equal(direct, false);
        assert.equal(file.overlappingWrites, true);
        // Each piece in its own aligned buffer, written together.
        const writes: Promise<void>[] = [];
        for (let at = 0; at < size; at += stage.length) {
          const piece = alignedSharedBytes(Math.min(stage.length, size - at));
          piece.set(content.subarray(at, at + piece.length));
          writes.push(file.writeAtAsync!(piece, at));
        }
        await Promise.all(writes);
        await file.syncAsync!();
        file.close();
        const pages = residentPages(path); // before reading it back, which caches it
        if (direct && pages !== undefined) {
          // Only the unaligned tail went through the page cache.
          assert.equal(pages, size % DIRECT_ALIGN_BYTES === 0 ? 0 : 1, `size ${size}`);
        }
        assert.deepEqual(realFiles.readFile(path), content, `size ${size}`);
      }
    } finally {
      directIoOptions.refuse = false;
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("real disk: with direct writes on, memory or positions off the 4096 grid go through the page cache", async () => {
  const dir = await Deno.makeTempDir({ prefix: "underhood-fs-" });
  try {
    const path = join(dir, "odd");
    const file = await realFiles.openAsync!(path, { create: true });
    await file.writeDirect!();
    const memory = alignedSharedBytes(3 * 4096);
    memory.fill(1);
    const offGrid = memory.subarray(1, 1 + 8192); // an unaligned address
    offGrid.fill(2);
    await file.writeAtAsync!(offGrid, 0);
    const aligned = memory.subarray(0, 4096);
    aligned.fill(3);
    await file.writeAtAsync!(aligned, 100); // an unaligned position
    await file.syncAsync!();
    file.close();
    const back = realFiles.readFile(path)!;
    assert.equal(back.length, 8192);
    assert.ok(back.subarray(0, 100).every((b) => b === 2));
    assert.ok(back.subarray(100, 4196).every((b) => b === 3));
    assert.ok(back.subarray(4196).every((b) => b === 2));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("real disk: direct writes release their descriptor on close", async () => {
  const dir = await Deno.makeTempDir({ prefix: "underhood-fs-" });
  const path = join(dir, "f");
  // Descriptors of this file only: the whole process's count moves with
  // whatever else runs beside the test.
  const openOnPath = () =>
    [...Deno.readDirSync("/proc/self/fd")].filter((entry) => {
      try {
        return Deno.readLinkSync(`/proc/self/fd/${entry.name}`) === path;
      } catch {
        return false; // closed meanwhile
      }
    }).length;
  try {
    const file = await realFiles.openAsync!(path, { create: true });
    await file.writeDirect!();
    await file.writeAtAsync!(alignedSharedBytes(8192), 0);
    assert.ok(openOnPath() >= 1, "the file is open");
    file.close();
    assert.equal(openOnPath(), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("real disk: directReads reads whole blocks past the page cache, anything else through it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "underhood-fs-" });
  try {
    const path = join(dir, "f");
    const content = new Uint8Array(3 * 4096 + 100).map((_, i) => (i * 13 + (i >> 12)) & 0xff);
    Deno.writeFileSync(path, content);
    // Direct reads see data still dirty in the page cache (the kernel writes it first).
    const file = realFiles.open(path, { directReads: true });
    const into = alignedBytes(4 * 4096);
    // Whole blocks at an aligned position, past the end of the file: a short read.
    assert.equal(await file.readAtAsync!(into, 0), content.length);
    assert.deepEqual(into.subarray(0, content.length), content);
    // Off the grid: through the page cache, same bytes.
    const odd = new Uint8Array(5000);
    assert.equal(await file.readAtAsync!(odd, 1), 5000);
    assert.deepEqual(odd, content.subarray(1, 5001));
    assert.equal(await file.readAtAsync!(into.subarray(0, 4096), 4096), 4096);
    assert.deepEqual(into.subarray(0, 4096), content.subarray(4096, 8192));
    file.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
