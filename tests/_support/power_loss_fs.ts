// A simulated disk that loses power, for tests: an in-memory FileLayer
// (lib/fs/file_layer.ts) that remembers, for every file, what is durable
// (covered by an fsync) and what is only in the page cache, in the spirit of
// SQLite's crash-test VFS (test6.c, https://www.sqlite.org/th3.html#crash).
//
//   const disk = new SimulatedDisk();
//   ... run the code under test with `files: disk` ...
//   const after = disk.powerLoss(random);  // what a power cut leaves
//   ... reopen on `after` and check ...
//
// At a power loss:
//   - each 512-byte sector written (or cut by a truncate) since the file was
//     last fsynced is kept new, kept old, zeroed or filled with garbage, and
//     a size changed since then is the old or the new one; zeroed and
//     garbled sectors lose only their bytes written since that fsync
//     (powersafe overwrite, see SimulatedDiskOptions), unless the disk is
//     made with `powersafeOverwrite: false`;
//   - creates, renames and removes since the directory was last fsynced
//     survive as a prefix, in the order they happened (journaling
//     filesystems commit metadata in order); a file whose name does not
//     survive is lost whole, fsynced or not.
// How each of these is chosen is drawn from the seeded `random` passed in,
// under one of three modes per power loss: "lose" (nothing unsynced
// survives, the plainest case a missing fsync fails), "tear" (every choice
// random) and "keep" (everything survives, as after kill -9).
//
// Every operation that changes the disk (create, write, truncate, sync,
// rename, remove, directory sync) is counted and can be recorded as a
// DiskOp. A crash point is either `crashAtOp: n` (operation n throws
// PowerLoss instead of running, and every later call throws too), or,
// cheaper for thousands of points, recording one run's operations and
// replaying the first n-1 of them on a clone of the starting disk
// (`apply`). Reads are not operations: they change nothing.
//
// A rename across directories (Maildir's tmp/ to new/) is a name change of
// the target directory: durable once that directory is synced. Order across
// directories is not modelled (each directory keeps a prefix of its own
// changes), so a caller must make a file's create durable (sync its
// directory) before renaming it elsewhere, or a cut may lose it.
//
// The async syncs (`syncAsync`, `syncDirectoryAsync`) take effect when
// their promise resolves, a macrotask after the call, so other work runs in
// between (as it does while a real fsync waits on the disk): a power cut in
// that window finds nothing of theirs durable yet. A directory sync covers
// only the name changes made before its call (each change is numbered; the
// recorded op says up to which), so a group commit that answers a rename
// made after its fsync started is caught. Writing to a file while its
// async sync is pending is not modelled (it throws): callers wait.
// `openAsync` and `writeAtAsync` act at their call, as the sync calls do
// (what they change is in the page cache only, durable at no earlier point);
// `startWriteback` is absent: it promises nothing.
//
// Left out: directories are not modelled (every directory exists, durably);
// sizes beyond what fits in memory.

import { dirname } from "node:path";
import type { Bytes } from "../../lib/bytes.ts";
import type { FileHandle, FileLayer, OpenOptions } from "../../lib/fs/file_layer.ts";

export const SECTOR_BYTES = 512;

/** Thrown by every call on a disk that has lost power (see `crashAtOp`). */
export class PowerLoss extends Error {
  override name = "PowerLoss";
}

/** One operation that changes the disk, as recorded and replayed. */
export type DiskOp =
  | { kind: "create"; path: string; inode: number }
  | { kind: "write"; inode: number; position: number; bytes: Uint8Array }
  | { kind: "truncate"; inode: number; sizeBytes: number }
  | { kind: "sync"; inode: number }
  | { kind: "rename"; from: string; to: string }
  | { kind: "remove"; path: string }
  /** `throughNameOp`: only the name changes numbered up to it (an async sync); all when absent. */
  | { kind: "syncDirectory"; dir: string; throughNameOp?: number };

/** How much unsynced state survives a power loss (see the file comment). */
export type LossMode = "lose" | "tear" | "keep";

/** A seeded random number generator: returns floats in [0, 1). */
export type Random = () => number;

/** mulberry32: small, fast, and good enough to spread choices. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

type NameOp =
  | { kind: "link"; path: string; inode: number }
  | { kind: "unlink"; path: string }
  | { kind: "rename"; from: string; to: string };

/** A name change waiting for its directory's sync, numbered in the order made. */
type PendingNameOp = NameOp & { seq: number };

class Inode {
  /** Contents as the page cache holds them (capacity may exceed size). */
  data: Bytes = new Uint8Array(0);
  size = 0;
  /** Contents as of the last fsync (beyond durableSize: zeros). */
  durable: Bytes = new Uint8Array(0);
  durableSize = 0;
  /** Sectors changed since the last fsync. */
  dirty = new Set<number>();
  /** An async sync of this file is in flight (writes then are not modelled). */
  syncPending = false;

  clone(): Inode {
    const copy = new Inode();
    copy.data = this.data.slice(0, this.size);
    copy.size = this.size;
    copy.durable = this.durable.slice(0, this.durableSize);
    copy.durableSize = this.durableSize;
    copy.dirty = new Set(this.dirty);
    return copy;
  }

  write(bytes: Uint8Array, position: number): void {
    if (this.syncPending) throw new Error("simulated disk: write while an async sync is pending");
    const end = position + bytes.length;
    this.data = grown(this.data, end);
    this.data.set(bytes, position);
    if (end > this.size) this.size = end;
    this.#markDirty(position, end);
  }

  truncate(sizeBytes: number): void {
    if (sizeBytes < this.size) {
      this.data.fill(0, sizeBytes, this.size);
      this.#markDirty(sizeBytes, this.size);
    } else {
      this.data = grown(this.data, sizeBytes);
      this.#markDirty(this.size, sizeBytes);
    }
    this.size = sizeBytes;
  }

  sync(): void {
    this.durable = grown(this.durable, this.size);
    for (const sector of this.dirty) {
      const start = sector * SECTOR_BYTES;
      const end = Math.min(start + SECTOR_BYTES, this.durable.length);
      this.durable.set(this.data.subarray(start, end), start);
    }
    if (this.size < this.durableSize) this.durable.fill(0, this.size, this.durableSize);
    this.durableSize = this.size;
    this.dirty.clear();
  }

  /** The bytes a power loss leaves of this file. */
  survive(mode: LossMode, random: Random, powersafe: boolean): Inode {
    const after = new Inode();
    let size = this.durableSize;
    if (this.size !== this.durableSize) {
      if (mode === "keep" || (mode === "tear" && random() < 0.5)) size = this.size;
    }
    const bytes = new Uint8Array(size);
    bytes.set(this.durable.subarray(0, Math.min(this.durableSize, size)));
    for (const sector of [...this.dirty].sort((a, b) => a - b)) {
      const start = sector * SECTOR_BYTES;
      if (start >= size) continue;
      const end = Math.min(start + SECTOR_BYTES, size);
      // Below 0.4 new, below 0.7 old, below 0.85 zeroed, else garbage.
      const choice = mode === "keep" ? 0 : mode === "lose" ? 0.5 : random();
      if (choice < 0.4) {
        bytes.fill(0, start, end);
        bytes.set(this.data.subarray(start, Math.min(end, this.size)), start);
      } else if (choice < 0.7) {
        bytes.fill(0, start, end);
        bytes.set(this.durable.subarray(start, Math.min(end, this.durableSize)), start);
      } else {
        // Zeroed or garbled: with powersafe overwrite only the bytes changed
        // since the last fsync; without it the whole sector.
        const garbage = choice >= 0.85;
        for (let i = start; i < end; i++) {
          const old = i < this.durableSize ? this.durable[i] : 0;
          const now = i < this.size ? this.data[i] : 0;
          if (powersafe && old === now) continue;
          bytes[i] = garbage ? Math.floor(random() * 256) : 0;
        }
      }
    }
    after.data = bytes;
    after.size = size;
    after.durable = bytes.slice();
    after.durableSize = size;
    return after;
  }

  #markDirty(start: number, end: number): void {
    for (let s = Math.floor(start / SECTOR_BYTES); s * SECTOR_BYTES < end; s++) this.dirty.add(s);
  }
}

function grown(bytes: Bytes, size: number): Bytes {
  if (size <= bytes.length) return bytes;
  const next = new Uint8Array(Math.max(size, bytes.length * 2));
  next.set(bytes);
  return next;
}

export interface SimulatedDiskOptions {
  /** Operation number (1-based, counted from now) at which the power goes. */
  crashAtOp?: number;
  /** Called with every operation that changes the disk, before it runs. */
  onOp?: (op: DiskOp) => void;
  /**
   * Powersafe overwrite (default true): a torn sector garbles only the bytes
   * written to it since the last fsync, never bytes of it that were already
   * durable. What SQLite assumes by default on Unix
   * (https://www.sqlite.org/psow.html), and what drives with atomic sector
   * writes give. False: a torn sector may lose all 512 bytes.
   */
  powersafeOverwrite?: boolean;
}

/** An in-memory disk with a page cache that can lose power. */
export class SimulatedDisk implements FileLayer {
  #inodes = new Map<number, Inode>();
  #nextInode = 1;
  /** Names as processes see them. */
  #names = new Map<string, number>();
  /** Names as the disk holds them. */
  #durableNames = new Map<string, number>();
  /** Name changes per directory since its last fsync, oldest first. */
  #pending = new Map<string, PendingNameOp[]>();
  /** Name changes made so far (numbers them for async directory syncs). */
  #nameOps = 0;
  /** Operations run so far. */
  opCount = 0;
  crashAtOp: number | undefined;
  onOp: ((op: DiskOp) => void) | undefined;
  readonly powersafeOverwrite: boolean;
  #dead = false;

  constructor(options: SimulatedDiskOptions = {}) {
    this.crashAtOp = options.crashAtOp;
    this.onOp = options.onOp;
    this.powersafeOverwrite = options.powersafeOverwrite ?? true;
  }

  /** True once the power went at `crashAtOp`. */
  get dead(): boolean {
    return this.#dead;
  }

  /** A copy of the whole disk, page cache included (operation count restarts at 0). */
  clone(): SimulatedDisk {
    const copy = new SimulatedDisk({ powersafeOverwrite: this.powersafeOverwrite });
    for (const [id, inode] of this.#inodes) copy.#inodes.set(id, inode.clone());
    copy.#nextInode = this.#nextInode;
    copy.#names = new Map(this.#names);
    copy.#durableNames = new Map(this.#durableNames);
    for (const [dir, ops] of this.#pending) copy.#pending.set(dir, [...ops]);
    copy.#nameOps = this.#nameOps;
    return copy;
  }

  /**
   * What a power cut now leaves on the disk: a new disk holding only that,
   * all of it durable. This disk is left as it was.
   */
  powerLoss(random: Random, mode: LossMode = pickMode(random)): SimulatedDisk {
    const names = new Map(this.#durableNames);
    for (const dir of [...this.#pending.keys()].sort()) {
      const ops = this.#pending.get(dir)!;
      const kept = mode === "keep"
        ? ops.length
        : mode === "lose"
        ? 0
        : Math.floor(random() * (ops.length + 1));
      for (const op of ops.slice(0, kept)) applyName(names, op);
    }
    const after = new SimulatedDisk({ powersafeOverwrite: this.powersafeOverwrite });
    after.#nextInode = this.#nextInode;
    for (const id of new Set(names.values())) {
      after.#inodes.set(id, this.#inodes.get(id)!.survive(mode, random, this.powersafeOverwrite));
    }
    after.#names = names;
    after.#durableNames = new Map(names);
    after.#nameOps = this.#nameOps;
    return after;
  }

  /** Runs one recorded operation (replaying another run on a clone of its disk). */
  apply(op: DiskOp): void {
    this.#count(op);
    switch (op.kind) {
      case "create":
        this.#inodes.set(op.inode, new Inode());
        this.#nextInode = Math.max(this.#nextInode, op.inode + 1);
        this.#changeName({ kind: "link", path: op.path, inode: op.inode });
        break;
      case "write":
        this.#inode(op.inode).write(op.bytes, op.position);
        break;
      case "truncate":
        this.#inode(op.inode).truncate(op.sizeBytes);
        break;
      case "sync":
        this.#inode(op.inode).sync();
        break;
      case "rename":
        this.#changeName({ kind: "rename", from: op.from, to: op.to });
        break;
      case "remove":
        this.#changeName({ kind: "unlink", path: op.path });
        break;
      case "syncDirectory": {
        const pending = this.#pending.get(op.dir) ?? [];
        const through = op.throughNameOp ?? Infinity;
        let n = 0;
        while (n < pending.length && pending[n].seq <= through) {
          applyName(this.#durableNames, pending[n++]);
        }
        if (n === pending.length) this.#pending.delete(op.dir);
        else pending.splice(0, n);
        break;
      }
    }
  }

  // ---- FileLayer ----

  open(path: string, options: OpenOptions = {}): FileHandle {
    this.#alive();
    let id = this.#names.get(path);
    if (id === undefined) {
      if (!options.create) throw new Error(`${path}: no such file (simulated disk)`);
      id = this.#nextInode;
      this.apply({ kind: "create", path, inode: id });
    } else if (options.truncate) {
      this.apply({ kind: "truncate", inode: id, sizeBytes: 0 });
    }
    return new SimulatedHandle(this, id);
  }

  openAsync(path: string, options: OpenOptions = {}): Promise<FileHandle> {
    try {
      return Promise.resolve(this.open(path, options));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  readFile(path: string): Bytes | null {
    this.#alive();
    const id = this.#names.get(path);
    if (id === undefined) return null;
    const inode = this.#inode(id);
    return inode.data.slice(0, inode.size);
  }

  sizeOf(path: string): number | null {
    this.#alive();
    const id = this.#names.get(path);
    return id === undefined ? null : this.#inode(id).size;
  }

  rename(from: string, to: string): void {
    this.#alive();
    if (!this.#names.has(from)) throw new Error(`${from}: no such file (simulated disk)`);
    this.apply({ kind: "rename", from, to });
  }

  remove(path: string): void {
    this.#alive();
    if (this.#names.has(path)) this.apply({ kind: "remove", path });
  }

  list(dir: string): string[] {
    this.#alive();
    return [...this.#names.keys()].filter((p) => dirname(p) === dir).map((p) =>
      p.slice(dir.length + 1)
    ).sort();
  }

  makeDirectory(_dir: string): void {
    this.#alive();
  }

  syncDirectory(dir: string): void {
    this.#alive();
    this.apply({ kind: "syncDirectory", dir });
  }

  async syncDirectoryAsync(dir: string): Promise<void> {
    this.#alive();
    const throughNameOp = this.#nameOps;
    await macrotask();
    this.apply({ kind: "syncDirectory", dir, throughNameOp });
  }

  // ---- used by SimulatedHandle ----

  /** @internal */
  inodeForHandle(id: number): Inode {
    this.#alive();
    return this.#inode(id);
  }

  #inode(id: number): Inode {
    const inode = this.#inodes.get(id);
    if (!inode) throw new Error(`simulated disk: no inode ${id}`);
    return inode;
  }

  #changeName(op: NameOp): void {
    applyName(this.#names, op);
    const dir = dirname(op.kind === "rename" ? op.to : op.path);
    let ops = this.#pending.get(dir);
    if (!ops) this.#pending.set(dir, ops = []);
    ops.push({ ...op, seq: ++this.#nameOps });
  }

  #count(op: DiskOp): void {
    this.#alive();
    if (this.crashAtOp !== undefined && this.opCount + 1 >= this.crashAtOp) {
      this.#dead = true;
      throw new PowerLoss(`power lost at operation ${this.opCount + 1} (${op.kind})`);
    }
    this.opCount++;
    // A recorded write keeps its own copy: callers reuse their buffers.
    this.onOp?.(op.kind === "write" ? { ...op, bytes: op.bytes.slice() } : op);
  }

  #alive(): void {
    if (this.#dead) throw new PowerLoss("the disk has lost power");
  }
}

function applyName(names: Map<string, number>, op: NameOp): void {
  switch (op.kind) {
    case "link":
      names.set(op.path, op.inode);
      break;
    case "unlink":
      names.delete(op.path);
      break;
    case "rename": {
      const id = names.get(op.from);
      // A rename whose create was lost with the power has nothing to move.
      if (id === undefined) break;
      names.delete(op.from);
      names.set(op.to, id);
      break;
    }
  }
}

/** Resolves after the tasks already queued have run: where an async fsync waits on the disk. */
function macrotask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Lose 30%, tear 60%, keep 10%. */
function pickMode(random: Random): LossMode {
  const x = random();
  return x < 0.3 ? "lose" : x < 0.9 ? "tear" : "keep";
}

class SimulatedHandle implements FileHandle {
  #disk: SimulatedDisk;
  #id: number;
  #closed = false;

  constructor(disk: SimulatedDisk, id: number) {
    this.#disk = disk;
    this.#id = id;
  }

  readAt(into: Uint8Array, position: number): number {
    const inode = this.#inode();
    const n = Math.max(0, Math.min(into.length, inode.size - position));
    into.set(inode.data.subarray(position, position + n));
    return n;
  }

  writeAt(bytes: Uint8Array, position: number): void {
    this.#inode();
    this.#disk.apply({ kind: "write", inode: this.#id, position, bytes });
  }

  writeAtAsync(bytes: Uint8Array, position: number): Promise<void> {
    try {
      this.writeAt(bytes, position);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  sync(): void {
    this.#inode();
    this.#disk.apply({ kind: "sync", inode: this.#id });
  }

  syncData(): void {
    this.sync();
  }

  async syncAsync(): Promise<void> {
    const inode = this.#inode();
    if (inode.syncPending) throw new Error("simulated disk: two async syncs of one file at once");
    inode.syncPending = true;
    try {
      await macrotask();
    } finally {
      inode.syncPending = false;
    }
    this.#inode();
    this.#disk.apply({ kind: "sync", inode: this.#id });
  }

  truncate(sizeBytes: number): void {
    this.#inode();
    this.#disk.apply({ kind: "truncate", inode: this.#id, sizeBytes });
  }

  size(): number {
    return this.#inode().size;
  }

  close(): void {
    this.#closed = true;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #inode(): Inode {
    if (this.#closed) throw new Error("simulated disk: file is closed");
    return this.#disk.inodeForHandle(this.#id);
  }
}
