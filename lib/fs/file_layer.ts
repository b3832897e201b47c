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
// large file has less left to do. They are all optional so that layers
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

/** How `open` treats a missing or existing file. */
export interface OpenOptions {
  /** Create the file when it is missing (default false: a missing file throws). */
  create?: boolean;
  /** Empty the file when it exists (default false). */
  truncate?: boolean;
}

/** An open file, read and written at explicit positions. */
export interface FileHandle extends Disposable {
  /**
   * Reads into `into` from `position`; returns the bytes read, fewer than
   * `into.length` only at the end of the file.
   */
  readAt(into: Uint8Array, position: number): number;
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
  /** `writeAt` off the event loop. One at a time per file: await each before the next call. */
  writeAtAsync?(bytes: Uint8Array, position: number): Promise<void>;
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
 * `sync_file_range(2)` through libc, for `startWriteback`: with
 * SYNC_FILE_RANGE_WRITE it queues the file's dirty pages for writing and
 * returns, with no journal commit and no disk cache flush. Deno's own API
 * has no call for that: an fdatasync was the hint before, and each one
 * forces a journal commit and a cache flush, which cut a 1 GiB sequential
 * write here to a third (1 MiB writes with an fdatasync every 32 MiB: 107 to
 * 433 MiB/s where the same writes with no hint then one fdatasync did 562 to
 * 971, and dd 128 to 864, in the same minutes). Without it the kernel starts
 * writing only at its dirty threshold (a tenth of memory), so a large object
 * would reach the disk only in its final fsync, after the whole upload,
 * instead of while it arrives. Linux only, and only with FFI permission
 * (`deno run -A` has it); elsewhere the hint does nothing. The call
 * needs a file descriptor, which Deno's files do not expose, so the hint
 * opens the file a second time by path (write-back is per file, not per
 * descriptor).
 */
const writeback = loadWriteback();

function loadWriteback():
  | {
    open(path: string): number;
    start(fd: number): Promise<unknown>;
    close(fd: number): void;
  }
  | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    const libc = Deno.dlopen("libc.so.6", {
      open: { parameters: ["buffer", "i32"], result: "i32" },
      close: { parameters: ["i32"], result: "i32" },
      // Off the event loop: queueing pages can wait for room in the device's queue.
      sync_file_range: {
        parameters: ["i32", "i64", "i64", "u32"],
        result: "i32",
        nonblocking: true,
      },
    });
    const O_RDONLY_CLOEXEC = 0o2000000;
    const SYNC_FILE_RANGE_WRITE = 2;
    const encoder = new TextEncoder();
    return {
      open: (path) => libc.symbols.open(encoder.encode(path + "\0"), O_RDONLY_CLOEXEC),
      // Offset 0, length 0: the whole file; errors are ignored (a hint).
      start: (fd) => libc.symbols.sync_file_range(fd, 0n, 0n, SYNC_FILE_RANGE_WRITE),
      close: (fd) => {
        libc.symbols.close(fd);
      },
    };
  } catch {
    return undefined; // no FFI permission, or no libc.so.6
  }
}

class RealHandle implements FileHandle {
  #file: Deno.FsFile;
  readonly #path: string;
  /** Where the OS file offset is, or -1 when unknown (after an error). */
  #offset = 0;
  /** The descriptor `startWriteback` opened (-1: none yet, or it could not). */
  #writebackFd = -1;
  /** Write-back calls still running (on another thread): the descriptor closes after them. */
  #writebacksRunning = 0;
  #closed = false;

  constructor(file: Deno.FsFile, path: string) {
    this.#file = file;
    this.#path = path;
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
    this.#seek(position);
    this.#offset = -1;
    let done = await this.#file.write(bytes);
    while (done < bytes.length) done += await this.#file.write(bytes.subarray(done));
    this.#offset = position + done;
  }

  startWriteback(): void {
    if (writeback === undefined || this.#closed) return;
    if (this.#writebackFd === -1) this.#writebackFd = writeback.open(this.#path);
    if (this.#writebackFd < 0) return;
    this.#writebacksRunning++;
    writeback.start(this.#writebackFd).catch(() => {}).finally(() => {
      this.#writebacksRunning--;
      this.#closeWritebackFd();
    });
  }

  /** Closes the write-back descriptor once the file is closed and no call uses it. */
  #closeWritebackFd(): void {
    if (!this.#closed || this.#writebacksRunning > 0 || this.#writebackFd < 0) return;
    writeback?.close(this.#writebackFd);
    this.#writebackFd = -1;
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
    this.#closeWritebackFd();
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
