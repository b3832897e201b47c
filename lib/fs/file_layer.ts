// The file layer: every file call a durable service makes (the datastore's
// storage engine today; the message queue, object store and SMTP spool
// next) goes through this small interface, so a test can swap the real
// disk for a simulated one that loses power (tests/_support/power_loss_fs.ts)
// and prove that nothing acknowledged depends on a write that was never
// fsynced.
//
// What durability means here (POSIX, and what Linux filesystems give):
//   - A write reaches the disk only once `sync()`/`syncData()` of that file
//     returns. Until then a power cut may drop it, keep it, or tear it
//     sector by sector (any 512-byte sector of it new, old or garbage).
//   - Creating, renaming or removing a file changes its directory: that
//     change is durable only once `syncDirectory()` of the directory
//     returns. A file fsynced but never named durably is lost whole.
//
// The calls are synchronous on purpose. The storage engine runs each
// operation to completion without yielding (see buffer_pool.ts), and on our
// machines an awaited file call costs about 30 µs more than its synchronous
// twin, which halves the fsync rate of group commit. `syncDataAsync` is for
// a group commit that has work to overlap with its fsync (storage/wal.ts).
//
// A service that serves many clients at once (the object store) must not
// block its event loop for each fsync: the optional `syncAsync()` and
// `syncDirectoryAsync()` run the fsync off the event loop (Deno's blocking
// thread pool), so concurrent requests' fsyncs overlap and the filesystem
// commits them together, and `DirectorySyncGroup` turns the directory
// fsyncs of concurrent renames into one (group commit). A write is durable
// only once the promise of a sync issued after it has resolved. Likewise
// `openAsync()` (creating a file can wait on the journal while other fsyncs
// commit: about 0.6 ms each under 16 concurrent uploads here) and
// `writeAtAsync()` (large writes copied into the page cache on another
// thread). `startWriteback()` is a hint with no durability meaning: begin
// writing the file's dirty pages now, so that the fsync at the end of a
// large file has less left to do. `writeDirect()` and the `directReads`
// open option move whole aligned blocks between the caller's memory and the
// disk past the page cache (O_DIRECT, see `libc` below): no durability
// meaning either, the fsyncs stay what they were. They are all optional so that layers
// written before them (test wrappers) still fit; `openFile`, `writeFileAt`,
// `syncFile` and `syncDirectoryOf` fall back to the synchronous calls.
//
// Reads and writes are positioned (`readAt`, `writeAt`): callers never
// depend on a shared file offset. The real handle remembers where the last
// call left the offset and skips the seek when the next call continues
// there, so sequential appends cost exactly the write itself.
//
// Left out: directories are assumed to exist durably (the data directory is
// made once, by the operator or at first start); no locking, no mmap.

import { dirname } from "node:path";
import type { Bytes } from "../bytes.ts";
import { startSyncThread, type SyncThread } from "./sync_thread.ts";

export type { SyncThread } from "./sync_thread.ts";

/** How `open` treats a missing or existing file. */
export interface OpenOptions {
  /** Create the file when it is missing (default false: a missing file throws). */
  create?: boolean;
  /** Empty the file when it exists (default false). */
  truncate?: boolean;
  /**
   * Read-only, and `readAtAsync` reads whole aligned blocks into aligned
   * memory (`alignedBytes`) past the page cache (O_DIRECT) where it can:
   * for a large file read once, which the page cache would only fill
   * (about 1 ms of CPU per MiB here) and that may well not be cached.
   */
  directReads?: boolean;
}

/** An open file, read and written at explicit positions. */
export interface FileHandle extends Disposable {
  /**
   * Reads into `into` from `position`; returns the bytes read, fewer than
   * `into.length` only at the end of the file.
   */
  readAt(into: Uint8Array, position: number): number;
  /**
   * `readAt` off the event loop (optional): a read that must come from the
   * disk waits there, not on the event loop. Not while a `writeAtAsync` of
   * the same file runs.
   */
  readAtAsync?(into: Uint8Array, position: number): Promise<number>;
  /** Writes all of `bytes` at `position`, extending the file if needed. */
  writeAt(bytes: Uint8Array, position: number): void;
  /** fsync: the file's data and metadata reach the disk. */
  sync(): void;
  /** fdatasync: the file's data (and its size, if it changed) reach the disk. */
  syncData(): void;
  /**
   * fsync off the event loop: resolves once everything written before the
   * call is on disk. Do not write to the file until it has resolved (smtp's
   * and the object store's group commits).
   */
  syncAsync?(): Promise<void>;
  /**
   * `syncData` off the event loop (optional): what group commit uses when
   * several commits share the fsync, so the next group's work overlaps it.
   * Writes made after the call may or may not be covered.
   */
  syncDataAsync?(): Promise<void>;
  /**
   * `writeAt` off the event loop. One at a time per file (await each before
   * the next call), unless `overlappingWrites` says they may overlap.
   */
  writeAtAsync?(bytes: Uint8Array, position: number): Promise<void>;
  /**
   * Whether `writeAtAsync` calls to distinct ranges may be in flight
   * together (each is positioned, none moves a shared offset).
   */
  readonly overlappingWrites?: boolean;
  /**
   * Asks that later `writeAtAsync` calls bypass the page cache (O_DIRECT)
   * for their whole aligned blocks: memory at an address aligned to
   * DIRECT_ALIGN_BYTES (`alignedSharedBytes`), written at a position that is
   * a multiple of it. The rest of such a write (an unaligned tail) and any
   * other write still goes through the page cache. Durability is unchanged:
   * a direct write may sit in the disk's volatile cache until `sync`.
   * Resolves whether direct writes are on (false where the filesystem
   * refuses O_DIRECT, as tmpfs did before Linux 6.6, or without libc/FFI).
   */
  writeDirect?(): Promise<boolean>;
  /**
   * A hint, no promise of durability: start writing the dirty pages out in
   * the background (errors are ignored; only `sync` says what is durable).
   */
  startWriteback?(): void;
  /** Cuts or extends (with zeros) the file to `sizeBytes`. */
  truncate(sizeBytes: number): void;
  /** The file's size in bytes. */
  size(): number;
  close(): void;
}

/** The file calls a durable service needs, all synchronous. */
export interface FileLayer {
  /** Opens `path` for reading and writing. */
  open(path: string, options?: OpenOptions): FileHandle;
  /** `open` off the event loop. */
  openAsync?(path: string, options?: OpenOptions): Promise<FileHandle>;
  /** The whole file, or null when it does not exist. */
  readFile(path: string): Bytes | null;
  /** The file's size in bytes, or null when it does not exist. */
  sizeOf(path: string): number | null;
  /** Renames `from` to `to`, atomically replacing `to` (durable once the directory is synced). */
  rename(from: string, to: string): void;
  /** Removes a file; a missing file is not an error (durable once the directory is synced). */
  remove(path: string): void;
  /** Names of the entries of directory `dir`, sorted. */
  list(dir: string): string[];
  /** Creates directory `dir` and its parents when missing. */
  makeDirectory(dir: string): void;
  /** fsyncs directory `dir`, so creates, renames and removes in it are durable. */
  syncDirectory(dir: string): void;
  /**
   * fsyncs directory `dir` off the event loop: resolves once every create,
   * rename and remove made in it before the call is durable.
   */
  syncDirectoryAsync?(dir: string): Promise<void>;
  /**
   * A thread that fdatasyncs the existing file `path` on request (optional;
   * sync_thread.ts has the contract), or undefined where none can be made.
   */
  syncThread?(path: string): SyncThread | undefined;
}

/** Opens `path`, off the event loop when the layer can. */
export function openFile(
  files: FileLayer,
  path: string,
  options?: OpenOptions,
): Promise<FileHandle> {
  if (files.openAsync !== undefined) return files.openAsync(path, options);
  try {
    return Promise.resolve(files.open(path, options));
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Writes `bytes` at `position`, off the event loop when the layer can. */
export async function writeFileAt(
  handle: FileHandle,
  bytes: Uint8Array,
  position: number,
): Promise<void> {
  if (handle.writeAtAsync !== undefined) await handle.writeAtAsync(bytes, position);
  else handle.writeAt(bytes, position);
}

/** fsyncs `handle`, off the event loop when the layer can. */
export async function syncFile(handle: FileHandle): Promise<void> {
  if (handle.syncAsync !== undefined) await handle.syncAsync();
  else handle.sync();
}

/** fsyncs directory `dir`, off the event loop when the layer can. */
export async function syncDirectoryOf(files: FileLayer, dir: string): Promise<void> {
  if (files.syncDirectoryAsync !== undefined) await files.syncDirectoryAsync(dir);
  else files.syncDirectory(dir);
}

/**
 * Group commit of directory fsyncs: callers that have just created, renamed
 * or removed a file in a directory call `sync(dir)` and are answered once
 * a directory fsync that started after their change has finished. At most
 * one fsync per directory runs at a time; every caller that arrives while
 * it runs waits for the next one, which then covers all of them. Under N
 * concurrent writers that is about one directory fsync per fsync time
 * instead of N in a row (an fsync that started before a change may miss it,
 * so it never answers for that change).
 */
export class DirectorySyncGroup {
  readonly #files: FileLayer;
  readonly #dirs = new Map<string, { running?: Promise<void>; next?: Promise<void> }>();
  /** Directory fsyncs run, since start (for tests and metrics). */
  syncs = 0;

  constructor(files: FileLayer) {
    this.#files = files;
  }

  /** Resolves once a directory fsync started after this call has finished. */
  sync(dir: string): Promise<void> {
    let state = this.#dirs.get(dir);
    if (state === undefined) this.#dirs.set(dir, state = {});
    if (state.running === undefined) return this.#start(dir, state);
    const after = state.running;
    return state.next ??= after.then(ignore, ignore).then(() => {
      state.next = undefined;
      return this.#start(dir, state);
    });
  }

  #start(dir: string, state: { running?: Promise<void>; next?: Promise<void> }): Promise<void> {
    this.syncs++;
    const running: Promise<void> = syncDirectoryOf(this.#files, dir).finally(() => {
      if (state.running === running) state.running = undefined;
      if (state.running === undefined && state.next === undefined) this.#dirs.delete(dir);
    });
    state.running = running;
    return running;
  }
}

function ignore(): void {}

/** The real file layer, on Deno's synchronous file APIs. */
export const realFiles: FileLayer = {
  open(path: string, options: OpenOptions = {}): FileHandle {
    if (options.directReads && libc !== undefined && !directIoOptions.refuse) {
      // The O_DIRECT descriptor first, then Deno's file on that very
      // descriptor (/proc/self/fd): one inode, even if `path` is renamed
      // over between the two opens.
      // Else (no O_DIRECT here, no read permission on /proc) an ordinary open.
      const fd = libc.openSync(path, O_RDONLY | O_DIRECT);
      if (fd >= 0) {
        try {
          const file = Deno.openSync(`/proc/self/fd/${fd}`, { read: true });
          return new RealHandle(file, path, fd);
        } catch {
          libc.close(fd);
        }
      }
    }
    const file = Deno.openSync(path, {
      read: true,
      write: true,
      create: options.create ?? false,
      truncate: options.truncate ?? false,
    });
    return new RealHandle(file, path);
  },
  async openAsync(path: string, options: OpenOptions = {}): Promise<FileHandle> {
    const file = await Deno.open(path, {
      read: true,
      write: true,
      create: options.create ?? false,
      truncate: options.truncate ?? false,
    });
    return new RealHandle(file, path);
  },
  readFile(path: string): Bytes | null {
    try {
      return Deno.readFileSync(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
  },
  sizeOf(path: string): number | null {
    try {
      return Deno.statSync(path).size;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
  },
  rename(from: string, to: string): void {
    Deno.renameSync(from, to);
  },
  remove(path: string): void {
    try {
      Deno.removeSync(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  },
  list(dir: string): string[] {
    return [...Deno.readDirSync(dir)].map((entry) => entry.name).sort();
  },
  makeDirectory(dir: string): void {
    Deno.mkdirSync(dir, { recursive: true });
  },
  async syncDirectoryAsync(dir: string): Promise<void> {
    let handle: Deno.FsFile;
    try {
      handle = await Deno.open(dir, { read: true });
    } catch (error) {
      if (Deno.build.os === "windows") return;
      throw error;
    }
    try {
      await handle.sync();
    } finally {
      handle.close();
    }
  },
  syncThread(path: string): SyncThread | undefined {
    return startSyncThread(path);
  },
  syncDirectory(dir: string): void {
    let handle: Deno.FsFile;
    try {
      handle = Deno.openSync(dir, { read: true });
    } catch (error) {
      // Windows cannot open a directory as a file; there a rename is as
      // durable as the OS makes it.
      if (Deno.build.os === "windows") return;
      throw error;
    }
    try {
      handle.syncSync();
    } finally {
      handle.close();
    }
  },
};

/**
 * The libc calls Deno's file API lacks, through FFI (Linux only, and only
 * with FFI permission: `deno run -A` has it; elsewhere both features below
 * are simply off). Deno's files do not expose their descriptor, so each
 * feature opens the file a second time by path.
 *
 * `sync_file_range(2)`, for `startWriteback`: with SYNC_FILE_RANGE_WRITE it
 * queues the file's dirty pages for writing and returns, with no journal
 * commit and no disk cache flush. An fdatasync was the hint before, and each
 * one forces a journal commit and a cache flush, which cut a 1 GiB
 * sequential write here to a third (1 MiB writes with an fdatasync every 32
 * MiB: 107 to 433 MiB/s where the same writes with no hint then one
 * fdatasync did 562 to 971, and dd 128 to 864, in the same minutes). Without
 * it the kernel starts writing only at its dirty threshold (a tenth of
 * memory), so a large object would reach the disk only in its final fsync,
 * after the whole upload, instead of while it arrives. Write-back is per
 * file, not per descriptor.
 *
 * `open(2)` with O_DIRECT and `pwrite(2)`, for `writeDirect`: the disk reads
 * the caller's memory itself (DMA) instead of the CPU copying it into the
 * page cache first. That copy was about 2 ms of system time per MiB here,
 * half of a 1 GiB PUT's server CPU; dd with oflag=direct writes 1 GiB for
 * 0.2 ms of CPU per MiB against 1.9 without, and no slower (441 against 373
 * MiB/s with bs=1M in the same minute). fsync is per file, not per
 * descriptor, so `sync` on the buffered descriptor covers the direct writes.
 */
const libc = loadLibc();

/** O_DIRECT, whose value differs between Linux architectures. */
const O_DIRECT = Deno.build.arch === "aarch64" ? 0o200000 : 0o40000;
const O_RDONLY = 0;
const O_WRONLY = 1;
const O_CLOEXEC = 0o2000000;
const SYNC_FILE_RANGE_WRITE = 2;

/**
 * Direct I/O wants memory, file positions and lengths aligned to the
 * device's logical block size: 512 bytes on most disks, 4096 on some; the
 * page size covers them all.
 */
export const DIRECT_ALIGN_BYTES = 4096;

/**
 * For tests: act as a filesystem that refuses O_DIRECT (as tmpfs did before
 * Linux 6.6), so that `writeDirect` resolves false and every write goes
 * through the page cache.
 */
export const directIoOptions = { refuse: false };

function loadLibc():
  | {
    /** A new descriptor for `path` (no create), or a negative number. */
    open(path: string, flags: number): Promise<number>;
    openSync(path: string, flags: number): number;
    /** pread(2): the bytes read, or -1. */
    pread(fd: number, into: Uint8Array, position: number): Promise<number>;
    close(fd: number): void;
    /** Start write-back of the whole file; errors are ignored (a hint). */
    startWriteback(fd: number): Promise<unknown>;
    /** pwrite(2): the bytes written, or -1. */
    pwrite(fd: number, bytes: Uint8Array, position: number): Promise<number>;
  }
  | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    const lib = Deno.dlopen("libc.so.6", {
      // Off the event loop: an open can wait on the directory's lock.
      open: { parameters: ["buffer", "i32"], result: "i32", nonblocking: true },
      openSync: { name: "open", parameters: ["buffer", "i32"], result: "i32" },
      // Off the event loop: a direct read waits for the device.
      pread: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize", nonblocking: true },
      close: { parameters: ["i32"], result: "i32" },
      // Off the event loop: queueing pages can wait for room in the device's queue.
      sync_file_range: {
        parameters: ["i32", "i64", "i64", "u32"],
        result: "i32",
        nonblocking: true,
      },
      // Off the event loop: a direct write waits for the device.
      pwrite: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize", nonblocking: true },
    });
    const encoder = new TextEncoder();
    return {
      open: (path, flags) => lib.symbols.open(encoder.encode(path + "\0"), flags | O_CLOEXEC),
      openSync: (path, flags) =>
        lib.symbols.openSync(encoder.encode(path + "\0"), flags | O_CLOEXEC),
      pread: async (fd, into, position) =>
        Number(await lib.symbols.pread(fd, into, BigInt(into.length), BigInt(position))),
      close: (fd) => {
        lib.symbols.close(fd);
      },
      // Offset 0, length 0: the whole file.
      startWriteback: (fd) => lib.symbols.sync_file_range(fd, 0n, 0n, SYNC_FILE_RANGE_WRITE),
      pwrite: async (fd, bytes, position) =>
        Number(await lib.symbols.pwrite(fd, bytes, BigInt(bytes.length), BigInt(position))),
    };
  } catch {
    return undefined; // no FFI permission, or no libc.so.6
  }
}

/** The address of `bytes`' first byte, or undefined when it cannot be known (no FFI permission). */
function addressOf(bytes: Uint8Array): bigint | undefined {
  try {
    return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
  } catch {
    return undefined;
  }
}

/**
 * `length` bytes of shared memory (a view into a SharedArrayBuffer) that
 * start at an address aligned for direct writes, when that address can be
 * known (FFI permission); else plain shared memory. V8 places a large buffer
 * 16 bytes past a page boundary here (malloc's header), so the buffer is
 * made DIRECT_ALIGN_BYTES larger and the view starts at the first aligned
 * byte.
 */
export function alignedSharedBytes(length: number): Uint8Array<SharedArrayBuffer> {
  const memory = new SharedArrayBuffer(length + DIRECT_ALIGN_BYTES);
  const address = addressOf(new Uint8Array(memory));
  if (address === undefined) return new Uint8Array(memory, 0, length);
  const align = BigInt(DIRECT_ALIGN_BYTES);
  const skip = Number((align - address % align) % align);
  return new Uint8Array(memory, skip, length);
}

/** `length` bytes of (unshared) memory aligned for direct reads, as `alignedSharedBytes`. */
export function alignedBytes(length: number): Uint8Array<ArrayBuffer> {
  const memory = new ArrayBuffer(length + DIRECT_ALIGN_BYTES);
  const address = addressOf(new Uint8Array(memory));
  if (address === undefined) return new Uint8Array(memory, 0, length);
  const align = BigInt(DIRECT_ALIGN_BYTES);
  const skip = Number((align - address % align) % align);
  return new Uint8Array(memory, skip, length);
}

/** Whether `bytes` starts at an address aligned for direct writes. */
function aligned(bytes: Uint8Array): boolean {
  const address = addressOf(bytes);
  return address !== undefined && address % BigInt(DIRECT_ALIGN_BYTES) === 0n;
}

class RealHandle implements FileHandle {
  #file: Deno.FsFile;
  readonly #path: string;
  /** Where the OS file offset is, or -1 when unknown (after an error). */
  #offset = 0;
  /**
   * A second descriptor, opened by path through libc: read-only for
   * write-back hints, or O_DIRECT (write-only) for direct writes. -1: none
   * (yet, or it could not be opened).
   */
  #fd = -1;
  #fdOpening: Promise<number> | undefined;
  /** Calls using `#fd` still running (on other threads): it closes after them. */
  #fdUsers = 0;
  /** `writeDirect` succeeded, and no direct write has failed since. */
  #direct = false;
  /** Opened with `directReads`, and no direct read has failed since. */
  #directReads = false;
  /** Async writes through `#file`, one at a time (each moves its offset). */
  #buffered: Promise<void> = Promise.resolve();
  #closed = false;
  /** Direct writes are positioned, and buffered ones queue up: calls may overlap. */
  readonly overlappingWrites = true;

  /** `directReadFd`: an O_DIRECT read-only descriptor of the same file (`directReads`). */
  constructor(file: Deno.FsFile, path: string, directReadFd = -1) {
    this.#file = file;
    this.#path = path;
    if (directReadFd >= 0) {
      this.#fd = directReadFd;
      this.#fdOpening = Promise.resolve(directReadFd);
      this.#directReads = true;
    }
  }

  // Both loops call with the whole buffer first: a view (subarray) is made
  // only for the rare short read or write, not once per page.
  readAt(into: Uint8Array, position: number): number {
    this.#seek(position);
    this.#offset = -1;
    let done = this.#file.readSync(into) ?? 0;
    while (done > 0 && done < into.length) {
      const n = this.#file.readSync(into.subarray(done));
      if (n === null) break;
      done += n;
    }
    this.#offset = position + done;
    return done;
  }

  async readAtAsync(into: Uint8Array, position: number): Promise<number> {
    if (
      this.#directReads && position % DIRECT_ALIGN_BYTES === 0 &&
      into.length % DIRECT_ALIGN_BYTES === 0 && aligned(into)
    ) {
      const n = await this.#use(() => this.#readDirect(into, position));
      if (n >= 0) return n;
      this.#directReads = false; // refused: through the page cache from now on
    }
    return this.#readBuffered(into, position);
  }

  /** Direct preads into `into` (aligned) until it is full or the file ends; -1 when refused. */
  async #readDirect(into: Uint8Array, position: number): Promise<number> {
    let done = 0;
    while (done < into.length) {
      const n = await libc!.pread(
        this.#fd,
        done === 0 ? into : into.subarray(done),
        position + done,
      );
      if (n < 0) return done === 0 ? -1 : done;
      if (n === 0 || n % DIRECT_ALIGN_BYTES !== 0) return done + n; // the end of the file
      done += n;
    }
    return done;
  }

  #readBuffered(into: Uint8Array, position: number): Promise<number> {
    // Queued with the buffered writes: both move the file offset.
    const read = this.#buffered.then(async () => {
      this.#seek(position);
      this.#offset = -1;
      let done = 0;
      while (done < into.length) {
        const n = await this.#file.read(done === 0 ? into : into.subarray(done));
        if (n === null) break;
        done += n;
      }
      this.#offset = position + done;
      return done;
    });
    this.#buffered = read.then(() => {}, () => {});
    return read;
  }

  writeAt(bytes: Uint8Array, position: number): void {
    this.#seek(position);
    this.#offset = -1;
    let done = this.#file.writeSync(bytes);
    while (done < bytes.length) done += this.#file.writeSync(bytes.subarray(done));
    this.#offset = position + done;
  }

  sync(): void {
    this.#file.syncSync();
  }

  syncData(): void {
    this.#file.syncDataSync();
  }

  syncAsync(): Promise<void> {
    return this.#file.sync();
  }

  syncDataAsync(): Promise<void> {
    return this.#file.syncData();
  }

  async writeAtAsync(bytes: Uint8Array, position: number): Promise<void> {
    let done = 0;
    if (this.#direct && position % DIRECT_ALIGN_BYTES === 0 && aligned(bytes)) {
      const whole = bytes.length - bytes.length % DIRECT_ALIGN_BYTES;
      if (whole > 0) done = await this.#use(() => this.#writeDirect(bytes, whole, position));
    }
    if (done < bytes.length) {
      await this.#writeBuffered(done === 0 ? bytes : bytes.subarray(done), position + done);
    }
  }

  /**
   * Writes the first `length` bytes of `bytes` (whole aligned blocks) with
   * O_DIRECT; returns how many were written. A refused write (EINVAL where
   * the filesystem takes no direct I/O, or any error) turns direct writes
   * off: the caller writes the rest through the page cache, where a real
   * disk error shows up again, and `sync` reports it.
   */
  async #writeDirect(bytes: Uint8Array, length: number, position: number): Promise<number> {
    let done = 0;
    while (done < length) {
      const piece = done === 0 && length === bytes.length ? bytes : bytes.subarray(done, length);
      const n = await libc!.pwrite(this.#fd, piece, position + done);
      if (n <= 0) {
        this.#direct = false;
        break;
      }
      done += n;
      if (done % DIRECT_ALIGN_BYTES !== 0) break; // the rest is no longer aligned
    }
    return done;
  }

  #writeBuffered(bytes: Uint8Array, position: number): Promise<void> {
    const write = this.#buffered.then(async () => {
      this.#seek(position);
      this.#offset = -1;
      let done = await this.#file.write(bytes);
      while (done < bytes.length) done += await this.#file.write(bytes.subarray(done));
      this.#offset = position + done;
    });
    this.#buffered = write.catch(() => {});
    return write;
  }

  async writeDirect(): Promise<boolean> {
    if (libc === undefined || this.#closed || this.#fdOpening !== undefined) return this.#direct;
    if (directIoOptions.refuse) return false;
    const fd = await this.#openFd(O_WRONLY | O_DIRECT);
    this.#direct = fd >= 0 && !this.#closed;
    return this.#direct;
  }

  startWriteback(): void {
    if (libc === undefined || this.#closed || this.#direct) return;
    this.#use(async () => {
      const fd = await this.#openFd(O_RDONLY);
      if (fd >= 0) await libc!.startWriteback(fd);
    }).catch(() => {}); // a hint: errors change nothing
  }

  /** Opens `#fd` with `flags` the first time; later calls get that descriptor, whatever its flags. */
  #openFd(flags: number): Promise<number> {
    return this.#fdOpening ??= this.#use(async () =>
      this.#fd = await libc!.open(this.#path, flags)
    );
  }

  /** Runs a call that uses `#fd`, which stays open until the call has ended. */
  async #use<T>(call: () => Promise<T>): Promise<T> {
    this.#fdUsers++;
    try {
      return await call();
    } finally {
      this.#fdUsers--;
      this.#closeFd();
    }
  }

  /** Closes `#fd` once the file is closed and no call uses it. */
  #closeFd(): void {
    if (!this.#closed || this.#fdUsers > 0 || this.#fd < 0) return;
    libc?.close(this.#fd);
    this.#fd = -1;
  }

  truncate(sizeBytes: number): void {
    this.#file.truncateSync(sizeBytes);
  }

  size(): number {
    return this.#file.statSync().size;
  }

  close(): void {
    this.#file.close();
    this.#closed = true;
    this.#direct = false;
    this.#closeFd();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #seek(position: number): void {
    if (position === this.#offset) return;
    this.#offset = -1;
    this.#file.seekSync(position, Deno.SeekMode.Start);
    this.#offset = position;
  }
}

/** The directory holding `path` (node:path's dirname). */
export function directoryOf(path: string): string {
  return dirname(path);
}
