// The buffer pool: a bounded cache of 8 KiB pages of the data file, with
// CLOCK eviction, and the checkpoint write path through a double-write file.
//
// Pages change only in memory. The data file is written by `flush()` alone,
// which first writes every dirty page, sealed with its checksum, to the
// double-write file and fsyncs it, then writes them in place and fsyncs the
// data file. A crash in the middle of the in-place writes (a torn page) is
// repaired at the next open by copying the double-write file back
// (`repairFromDoubleWrite`). Clean pages are evicted by CLOCK; dirty pages
// are never evicted on their own: when the pool is over its bound with dirty
// pages, the engine runs a checkpoint, which makes them clean.
//
// Files are reached through the file layer (lib/fs/file_layer.ts), so the
// power-loss tests can run the pool on a simulated disk. The double-write
// file stays open for the pool's life.
//
// All file calls are synchronous: operations on pages run to completion
// without yielding, so no page can change or vanish under an operation, and
// no pin counts are needed. Eviction happens only between operations
// (`evict()`), so a pool may briefly hold more pages than its bound while one
// operation runs (a B+tree split touches a handful; a 1 MiB value, 129).

import type { Bytes } from "../../../lib/bytes.ts";
import type { FileHandle, FileLayer } from "../../../lib/fs/file_layer.ts";
import { crc32c } from "./crc32c.ts";
import { CorruptionError } from "./errors.ts";
import {
  type BtreeNode,
  encodeNode,
  newPage,
  PAGE_BYTES,
  type PageNode,
  pageProblem,
  type PageType,
  sealPage,
} from "./pages.ts";

/** One cached page. B+tree pages also carry their decoded node. */
export interface Frame {
  readonly id: number;
  page: Bytes;
  dirty: boolean;
  /** CLOCK reference bit: set on every access, cleared as the hand passes. */
  referenced: boolean;
  /** Decoded B+tree node; when set it is the truth, and is encoded at flush. */
  node?: BtreeNode;
  /** In-place reader over `page` for B+tree read paths; only used while `node` is unset. */
  view?: PageNode;
}

const DWRITE_MAGIC = 0x44575254; // "DWRT"

export interface BufferPoolOptions {
  files: FileLayer;
  dataPath: string;
  doubleWritePath: string;
  capacityPages: number;
}

export class BufferPool {
  #file: FileHandle;
  #doubleWrite: FileHandle;
  #dataPath: string;
  #frames = new Map<number, Frame>();
  #capacity: number;
  /** Pages the file holds or that have been allocated (the next new page id). */
  pageCount: number;
  /** Pages free for reuse (persisted in the catalog at each checkpoint). */
  freePages: number[] = [];
  reads = 0;
  writes = 0;

  constructor(options: BufferPoolOptions) {
    this.#dataPath = options.dataPath;
    this.#capacity = Math.max(16, options.capacityPages);
    this.#file = options.files.open(options.dataPath, { create: true });
    try {
      this.#doubleWrite = options.files.open(options.doubleWritePath, { create: true });
    } catch (error) {
      this.#file.close();
      throw error;
    }
    this.pageCount = Math.ceil(this.#file.size() / PAGE_BYTES);
  }

  get size(): number {
    return this.#frames.size;
  }

  get capacity(): number {
    return this.#capacity;
  }

  /** The page `id`, read from disk (and checksum-verified) when not cached. */
  get(id: number): Frame {
    let frame = this.#frames.get(id);
    if (frame) {
      frame.referenced = true;
      return frame;
    }
    if (id < 0 || id >= this.pageCount) {
      // A page the catalog does not cover: the file or the catalog is damaged.
      throw new CorruptionError(`${this.#dataPath}: reference to page ${id} beyond the file`);
    }
    const page = new Uint8Array(PAGE_BYTES);
    this.#file.readAt(page, id * PAGE_BYTES);
    const problem = pageProblem(page, id);
    if (problem) {
      throw new CorruptionError(
        `${this.#dataPath}: page ${id} is damaged (${problem}) and the log cannot repair it; ` +
          `refusing to serve possibly corrupt data`,
      );
    }
    this.reads++;
    frame = { id, page, dirty: false, referenced: true };
    this.#frames.set(id, frame);
    return frame;
  }

  /** A new zeroed page of `type`, reusing a freed page when there is one. */
  allocate(type: PageType): Frame {
    const id = this.freePages.pop() ?? this.pageCount++;
    const frame: Frame = { id, page: newPage(id, type), dirty: true, referenced: true };
    this.#frames.set(id, frame);
    return frame;
  }

  /** Gives a page back for reuse. */
  free(id: number): void {
    const frame = this.#frames.get(id);
    if (frame) {
      frame.node = undefined;
      frame.view = undefined;
      frame.page = newPage(id, 0);
      frame.dirty = true;
    }
    this.freePages.push(id);
  }

  markDirty(frame: Frame): void {
    frame.dirty = true;
  }

  /** True when the pool is over its bound and only a checkpoint can make room. */
  needsCheckpoint(): boolean {
    if (this.#frames.size <= this.#capacity) return false;
    this.evict();
    return this.#frames.size > this.#capacity;
  }

  /**
   * Drops clean pages down to the bound with the CLOCK (second chance)
   * policy: the hand sweeps frames in load order; a frame used since the
   * hand last passed keeps its place once, otherwise it goes. Cheaper per
   * access than exact LRU (a flag instead of reordering a list), and close
   * to it in effect.
   */
  evict(): void {
    for (let pass = 0; pass < 2 && this.#frames.size > this.#capacity; pass++) {
      for (const [id, frame] of this.#frames) {
        if (this.#frames.size <= this.#capacity) break;
        if (frame.dirty) continue;
        if (frame.referenced) frame.referenced = false;
        else this.#frames.delete(id);
      }
    }
  }

  /** Drops every cached page (tests use this to force reads from disk). */
  dropClean(): void {
    for (const [id, frame] of this.#frames) if (!frame.dirty) this.#frames.delete(id);
  }

  dirtyCount(): number {
    let n = 0;
    for (const frame of this.#frames.values()) if (frame.dirty) n++;
    return n;
  }

  /**
   * Writes every dirty page durably: double-write file, fsync, in place,
   * fsync. `afterDoubleWrite` is a test hook that may throw to simulate a
   * crash between the two writes.
   */
  flush(hooks: { afterDoubleWrite?: () => void } = {}): number {
    const dirty = [...this.#frames.values()].filter((f) => f.dirty).sort((a, b) => a.id - b.id);
    if (dirty.length === 0) return 0;
    for (const frame of dirty) {
      if (frame.node) {
        encodeNode(frame.page, frame.node);
        // From now on readers search the page in place, which is about twice
        // as fast as the decoded node's scattered keys (a point SELECT after a
        // bulk load: 11 µs against 5.5); the next writer decodes it again.
        frame.node = undefined;
        frame.view = undefined;
      }
      sealPage(frame.page);
    }
    const body = new Uint8Array(dirty.length * (4 + PAGE_BYTES));
    const bodyView = new DataView(body.buffer);
    dirty.forEach((frame, i) => {
      bodyView.setUint32(i * (4 + PAGE_BYTES), frame.id);
      body.set(frame.page, i * (4 + PAGE_BYTES) + 4);
    });
    const head = new Uint8Array(12);
    const headView = new DataView(head.buffer);
    headView.setUint32(0, DWRITE_MAGIC);
    headView.setUint32(4, dirty.length);
    headView.setUint32(8, crc32c(body));
    const dw = this.#doubleWrite;
    dw.truncate(0);
    dw.writeAt(head, 0);
    dw.writeAt(body, head.length);
    dw.sync();
    hooks.afterDoubleWrite?.();
    for (const frame of dirty) this.#file.writeAt(frame.page, frame.id * PAGE_BYTES);
    this.#file.sync();
    dw.truncate(0);
    for (const frame of dirty) frame.dirty = false;
    this.writes += dirty.length;
    return dirty.length;
  }

  /**
   * Reads the whole file and checks every page's checksum, so a damaged file
   * is refused at open instead of when the page is first needed.
   */
  verifyAll(): void {
    const chunkPages = 128;
    const chunk = new Uint8Array(chunkPages * PAGE_BYTES);
    for (let first = 0; first < this.pageCount; first += chunkPages) {
      const count = Math.min(chunkPages, this.pageCount - first);
      const view = chunk.subarray(0, count * PAGE_BYTES);
      this.#file.readAt(view, first * PAGE_BYTES);
      for (let i = 0; i < count; i++) {
        const id = first + i;
        if (this.#frames.get(id)?.dirty) continue;
        const problem = pageProblem(view.subarray(i * PAGE_BYTES, (i + 1) * PAGE_BYTES), id);
        if (problem) {
          throw new CorruptionError(
            `${this.#dataPath}: page ${id} is damaged (${problem}) and the log cannot repair it; ` +
              `refusing to start rather than serve possibly corrupt data`,
          );
        }
      }
    }
  }

  close(): void {
    this.#file.close();
    this.#doubleWrite.close();
  }
}

/**
 * Copies a complete double-write file back into the data file (the pages of
 * a checkpoint that may have been torn). Returns how many pages it restored;
 * 0 when the file is absent, empty, or itself torn (then the data file was
 * never touched by that checkpoint).
 */
export function repairFromDoubleWrite(
  files: FileLayer,
  paths: { dataPath: string; doubleWritePath: string },
): number {
  const bytes = files.readFile(paths.doubleWritePath);
  if (bytes === null || bytes.length < 12) return 0;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = v.getUint32(4);
  const body = bytes.subarray(12);
  if (v.getUint32(0) !== DWRITE_MAGIC || body.length !== count * (4 + PAGE_BYTES)) return 0;
  if (crc32c(body) !== v.getUint32(8)) return 0;
  using file = files.open(paths.dataPath, { create: true });
  for (let i = 0; i < count; i++) {
    const at = i * (4 + PAGE_BYTES);
    const id = new DataView(body.buffer, body.byteOffset + at).getUint32(0);
    file.writeAt(body.subarray(at + 4, at + 4 + PAGE_BYTES), id * PAGE_BYTES);
  }
  file.sync();
  return count;
}
