// The object store's storage: buckets as directories, each object one file
// written whole to a temporary name, fsynced and renamed into place.
//
//   <data-dir>/buckets/<bucket>.bucket             the bucket exists: created time, location
//   <data-dir>/buckets/<bucket>/<sha256(key)>      one object: content, then its metadata
//   <data-dir>/buckets/<bucket>/<sha256(key)>.<n>.tmp   an upload in progress
//
// An object file is its content followed by a trailer: the metadata as
// JSON (key, size, ETag, headers), its length (4 bytes, big-endian) and an
// 8-byte magic. Content first lets an upload stream to disk before its ETag
// is known; one file for both means one rename publishes both, so a reader
// never sees content without its metadata, and an overwrite is atomic.
// Durability (lib/fs/file_layer.ts): the temporary file is fsynced before
// the rename, and the directory after it; only then is the write
// acknowledged. A crash leaves either the old object or the new one, plus
// perhaps a temporary file, which `open()` removes. Both fsyncs run off the
// event loop, so concurrent uploads wait on the disk together, and the
// directory fsync is a group commit: one fsync covers every rename made in
// the bucket before it started (DirectorySyncGroup), instead of one each.
//
// Between its rename and the end of that directory fsync an object is
// "settling": its file is in place but it is not acknowledged, and the
// index still holds the version before it. Readers that open the file by
// name wait for `settled()` first (else they would pair the old metadata
// with the new content), and conditional writes judge against `latest()`,
// the settling version when there is one.
//
// File names are the SHA-256 of the key, so any UTF-8 key ("..", "/", "%",
// 1024 bytes) maps to one safe name inside the bucket's directory, and two
// keys never share a file (no escaping to get wrong: `a/b` and `a%2Fb` hash
// apart). The keys themselves live in an in-memory index, rebuilt at start
// from the trailers and kept sorted by UTF-8 bytes for listings.
//
// Left out: versioning, and a persistent index (start-up reads one trailer
// per object).

import { createHash } from "node:crypto";
import { nativeMd5 } from "./md5_native.ts";
import { InlineMd5, type Md5, WorkerMd5 } from "./md5_worker.ts";
import { join } from "node:path";
import {
  alignedSharedBytes,
  DIRECT_ALIGN_BYTES,
  DirectorySyncGroup,
  type FileHandle,
  type FileLayer,
  openFile,
  syncFile,
  writeFileAt,
} from "../../lib/fs/file_layer.ts";
import { compareUtf8 } from "../../lib/s3/names.ts";

/** What is kept about one object. */
export interface ObjectMeta {
  key: string;
  sizeBytes: number;
  /** MD5 of the content, hex, unquoted (or `md5-of-md5s-N` for multipart). */
  etag: string;
  lastModifiedMs: number;
  /** Content-Type, Content-Disposition, ..., x-amz-meta-*: by lower-case name. */
  headers: Record<string, string>;
  /** x-amz-checksum-* the upload carried (verified), by header name. */
  checksums?: Record<string, string>;
  /** What `checksums` covers: the whole content, or (multipart) the parts' checksums. */
  checksumType?: "FULL_OBJECT" | "COMPOSITE";
  /** A multipart object's parts in order (GET ?partNumber, GetObjectAttributes). */
  parts?: PartInfo[];
}

/** One part of a completed multipart object. */
export interface PartInfo {
  /** The number it was uploaded under. */
  partNumber: number;
  sizeBytes: number;
  /** Its x-amz-checksum-* value, when the upload had an algorithm. */
  checksum?: string;
}

export interface BucketInfo {
  name: string;
  createdMs: number;
  location: string;
}

const MAGIC = new TextEncoder().encode("UHOBJv1\n");
const TRAILER_FIXED_BYTES = 4 + MAGIC.length;
const BUCKET_SUFFIX = ".bucket";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

class Bucket {
  readonly info: BucketInfo;
  readonly dir: string;
  readonly objects = new Map<string, ObjectMeta>();
  /** Every key, sorted by UTF-8 bytes. */
  readonly keys: string[] = [];
  /** Objects renamed into place whose directory fsync has not finished, by key. */
  readonly settling = new Map<string, { done: Promise<void>; meta: ObjectMeta }>();

  constructor(info: BucketInfo, dir: string) {
    this.info = info;
    this.dir = dir;
  }

  put(meta: ObjectMeta): void {
    if (!this.objects.has(meta.key)) this.keys.splice(lowerBound(this.keys, meta.key), 0, meta.key);
    this.objects.set(meta.key, meta);
  }

  remove(key: string): void {
    if (!this.objects.delete(key)) return;
    this.keys.splice(lowerBound(this.keys, key), 1);
  }
}

/** The first index whose key is not before `key`. */
export function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0, hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareUtf8(keys[mid], key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first index past every key that starts with `prefix` (keys at or after `from`). */
function pastPrefix(keys: readonly string[], prefix: string, from: number): number {
  let lo = from, hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareUtf8(keys[mid], prefix) < 0 || keys[mid].startsWith(prefix)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface ListOptions {
  prefix: string;
  delimiter: string;
  /** List entries strictly after this key or common prefix ("" for the start). */
  after: string;
  maxKeys: number;
}

export interface ListResult {
  contents: ObjectMeta[];
  commonPrefixes: string[];
  isTruncated: boolean;
  /** The last key or common prefix returned, where the next page starts after. */
  last: string | undefined;
}

/** Where upload temporary files are numbered from, per process. */
let tmpCounter = 0;

/** Where an upload lands once committed: an object, or a part of a multipart upload. */
export interface UploadTarget {
  dir: string;
  fileName: string;
  /** The name kept in the trailer (the key, or the part's name). */
  key: string;
  /** Called once the file is durable in place. */
  published(meta: ObjectMeta): void;
  /** Called right after the rename with a promise that settles once `published` has run (or failed). */
  renamed?(done: Promise<void>, meta: ObjectMeta): void;
}

/** What `commit` records with the content. */
export interface CommitFields {
  etag?: string;
  headers: Record<string, string>;
  nowMs: number;
  checksums?: Record<string, string>;
  checksumType?: "FULL_OBJECT" | "COMPOSITE";
  parts?: PartInfo[];
  /**
   * Runs once the content is durable, just before the rename (no await in
   * between): a last check (conditional writes) that may throw to abandon.
   */
  beforeRename?: () => void;
}

/** Content is staged in buffers of this size and written a buffer at a time, off the event loop. */
const STAGE_BYTES = 1024 * 1024;
/**
 * A large upload (one written direct, `Upload.writeDirect`) stages in
 * buffers of this size instead: a quarter of the socket reads, MD5 calls
 * and direct writes of 1 MiB buffers (the socket holds several MiB by the
 * time the event loop reads it again), which took the server's CPU for a
 * 1 GiB PUT from 2.71-2.74 to 2.33-2.37 ms per MiB, and larger direct
 * writes, which the disk takes faster (dd oflag=direct: bs=4M 469-646 MiB/s,
 * bs=1M 441-444, in the same minutes).
 */
export const LARGE_STAGE_BYTES = 4 * 1024 * 1024;
/**
 * Staging buffers one upload may hold: one filling while the others are
 * written (one write at a time per file) and hashed (on the MD5 thread).
 * Three out lets a slow write or hash absorb the next two MiB of socket
 * reads before the upload stops reading (and TCP holds the client back).
 */
const STAGES_PER_UPLOAD_MAX = 4;
/** Staging buffers kept for reuse: one each for 16 small uploads, or 4 large ones (16 MiB at most). */
const STAGE_BUFFERS_KEPT_MAX = 16;
/**
 * Uploads staging in large buffers at once (16 MiB each at most), and large
 * buffers kept for reuse (one upload's worth): past them a large upload
 * stages in 1 MiB buffers as before, so many concurrent large uploads hold
 * no more memory than they did, plus 64 MiB.
 */
export const LARGE_STAGE_UPLOADS_MAX = 4;
const LARGE_STAGE_BUFFERS_KEPT_MAX = STAGES_PER_UPLOAD_MAX;

/**
 * A large upload asks the kernel to start writing its pages out every this
 * many bytes (a hint, `FileHandle.startWriteback`: only the fsync at the
 * end makes anything durable), so the disk writes while the body arrives
 * and that fsync finds little left instead of the whole object. The hint
 * queues writes without a flush (sync_file_range), so it may come often.
 */
const WRITEBACK_EVERY_BYTES = 8 * 1024 * 1024;
/**
 * A large upload written direct asks for an fdatasync every this many bytes
 * written (one at a time, off the event loop), so the fsync before its 200
 * finds little left to flush. A direct write can still sit in the disk's
 * volatile cache (here: the host's page cache under the virtual disk), and
 * the one fdatasync at the end of a 1 GiB upload took 3-632 ms here, up to
 * a third of the upload; with one every 128 MiB the last one took 0-1 ms,
 * and the writes, which the MD5 outpaces anyway, went on meanwhile (direct
 * 4 MiB writes three at a time with the final fdatasync: 624-717 MiB/s
 * without, 642-858 with, in alternated runs). Only the final fsync makes
 * anything durable; an earlier one that fails fails the upload (its error
 * would not be reported again to the final one).
 */
export const EARLY_SYNC_EVERY_BYTES = 128 * 1024 * 1024;
/** For tests: early fdatasyncs every `everyBytes` instead. */
export const earlySyncOptions = { everyBytes: EARLY_SYNC_EVERY_BYTES };

/**
 * GETs at once that read ahead in large pieces (api.ts readAheadStream, 12
 * MiB each); the others read ahead in 1 MiB pieces (3 MiB each).
 */
export const LARGE_READS_MAX = 4;

/** Objects from this size on are read with O_DIRECT (`OpenOptions.directReads`). */
export const DIRECT_READ_MIN_BYTES = 8 * 1024 * 1024;

/**
 * At most `max` holders at a time of something that costs memory (large
 * staging or read-ahead buffers): `take()` says whether one more may have
 * it, and each holder that got it calls `give()` once when it is done.
 */
export class Grants {
  readonly max: number;
  #out = 0;

  constructor(max: number) {
    this.max = max;
  }

  take(): boolean {
    if (this.#out >= this.max) return false;
    this.#out++;
    return true;
  }

  give(): void {
    this.#out--;
  }

  /** Grants held now. */
  get out(): number {
    return this.#out;
  }
}

/**
 * Staging buffers shared by the uploads of a store: a small upload
 * allocates nothing. They live in shared memory, so that the MD5 thread
 * (md5_worker.ts) reads the very bytes the file write reads, at an address
 * aligned for direct writes (`FileHandle.writeDirect`), so that the disk
 * reads them too, with no copy into the page cache.
 */
export class StageBuffers {
  readonly #free: Uint8Array[] = [];
  readonly #freeLarge: Uint8Array[] = [];
  /** Uploads staging in large buffers: an upload takes a grant before its first buffer. */
  readonly large = new Grants(LARGE_STAGE_UPLOADS_MAX);

  /** A buffer of `bytes` (STAGE_BYTES, or LARGE_STAGE_BYTES with a grant from `large`). */
  take(bytes = STAGE_BYTES): Uint8Array {
    const free = bytes === LARGE_STAGE_BYTES ? this.#freeLarge : this.#free;
    return free.pop() ?? alignedSharedBytes(bytes);
  }

  give(buffer: Uint8Array | undefined): void {
    if (buffer === undefined) return;
    if (buffer.length === LARGE_STAGE_BYTES) {
      if (this.#freeLarge.length < LARGE_STAGE_BUFFERS_KEPT_MAX) this.#freeLarge.push(buffer);
    } else if (this.#free.length < STAGE_BUFFERS_KEPT_MAX) this.#free.push(buffer);
  }
}

/** A full staging buffer out for writing (and hashing): back to be filled once `users` is 0. */
interface StageOut {
  bytes: Uint8Array;
  users: number;
}

/**
 * An upload being written to its temporary file. Content lands in a 1 MiB
 * staging buffer: read there straight from the socket (`room()` and
 * `filled()`), or copied (`write()`). A full buffer is written off the
 * event loop (Deno's blocking pool, one write at a time) and, for a large
 * upload, hashed on the MD5 thread from the same memory, while the next
 * buffer fills; at most STAGES_PER_UPLOAD_MAX buffers per upload, so a slow
 * disk or hash stops the reading instead of queueing the body. A large
 * object costs one write call per MiB and never blocks other clients on the
 * page cache; a small object is one write, trailer included, hashed inline
 * as it arrives.
 */
export class Upload {
  readonly #files: FileLayer;
  readonly #syncs: DirectorySyncGroup;
  readonly #buffers: StageBuffers;
  readonly #target: UploadTarget;
  readonly #tmpPath: string;
  readonly #opening: Promise<FileHandle>;
  #file: FileHandle | undefined;
  #md5: Md5 = new InlineMd5();
  /** Inline MD5 hashes each piece as it is filled; the thread gets whole buffers. */
  #hashEachFill = true;
  #sizeBytes = 0;
  /** Bytes handed to the file so far: where the next buffer goes. */
  #writtenBytes = 0;
  #stage: Uint8Array | undefined;
  /** The size of this upload's staging buffers: LARGE_STAGE_BYTES once `writeDirect` got them. */
  #stageBytes = STAGE_BYTES;
  #stagedBytes = 0;
  /** Of the staged bytes, those already given to the MD5 (the rest are content, or the trailer). */
  #stageHashedBytes = 0;
  /** Set once the digest is asked for: whatever is staged after it is the trailer. */
  #contentEnded = false;
  /** Buffers this upload holds: the one filling, those out, and `#free`. */
  #held = 0;
  readonly #free: Uint8Array[] = [];
  #wakeRoom: (() => void) | undefined;
  /**
   * Settles once every write dispatched so far has ended: a chain, one at
   * a time in order, or, where the file takes overlapping writes (direct
   * ones), each write started at once and joined in.
   */
  #writes: Promise<void>;
  /** Direct writes asked for (`writeDirect`), and, once the file said so, on. */
  #directAsked = false;
  #direct = false;
  #sinceWritebackBytes = 0;
  /** Bytes written direct since the last early fdatasync started (EARLY_SYNC_EVERY_BYTES). */
  #sinceSyncBytes = 0;
  #earlySyncing = false;
  /** The last early fdatasync (never rejects: a failure becomes the upload's). */
  #earlySync: Promise<void> = Promise.resolve();
  /** The first write or hash failure: the upload fails with it. */
  #failure: unknown;
  #released = false;
  #done = false;

  constructor(
    files: FileLayer,
    syncs: DirectorySyncGroup,
    buffers: StageBuffers,
    target: UploadTarget,
  ) {
    this.#files = files;
    this.#syncs = syncs;
    this.#buffers = buffers;
    this.#target = target;
    this.#tmpPath = join(target.dir, `${target.fileName}.${++tmpCounter}.tmp`);
    this.#opening = openFile(files, this.#tmpPath, { create: true, truncate: true });
    this.#writes = this.#opening.then((file) => {
      this.#file = file;
    });
    this.#writes.catch(() => {}); // reported where it is awaited
  }

  get sizeBytes(): number {
    return this.#sizeBytes;
  }

  /** The size of this upload's staging buffers. */
  get stageBytes(): number {
    return this.#stageBytes;
  }

  /**
   * Hashes off the event loop, by libcrypto on Deno's blocking pool
   * (md5_native.ts) or else on the worker thread (md5_worker.ts): for a
   * body known to be large, before its first byte.
   */
  hashOffThread(): void {
    if (this.#sizeBytes > 0 || !this.#hashEachFill) return;
    this.#md5 = nativeMd5() ?? new WorkerMd5();
    this.#hashEachFill = false;
  }

  /**
   * The free tail of the staging buffer, to read content into; then call
   * `filled(n)`. Waits (and so stops the reading) while every buffer this
   * upload may hold is out being written or hashed; throws once a write or
   * the hash has failed.
   */
  room(): Uint8Array | Promise<Uint8Array> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const stage = this.#stage;
    if (stage !== undefined) return stage.subarray(this.#stagedBytes);
    if (this.#free.length === 0 && this.#held >= STAGES_PER_UPLOAD_MAX) return this.#roomLater();
    return this.#stage = this.#takeBuffer();
  }

  async #roomLater(): Promise<Uint8Array> {
    while (this.#free.length === 0 && this.#held >= STAGES_PER_UPLOAD_MAX) {
      await new Promise<void>((resolve) => this.#wakeRoom = resolve);
      if (this.#failure !== undefined) throw this.#failure;
    }
    return this.#stage = this.#takeBuffer();
  }

  #takeBuffer(): Uint8Array {
    const free = this.#free.pop();
    if (free !== undefined) return free;
    this.#held++;
    return this.#buffers.take(this.#stageBytes);
  }

  /** Records `n` content bytes put at the start of the tail `room()` gave. */
  filled(n: number): void {
    const stage = this.#stage!;
    if (this.#hashEachFill) {
      this.#md5.update(stage.subarray(this.#stagedBytes, this.#stagedBytes + n));
      this.#stageHashedBytes += n;
    }
    this.#stagedBytes += n;
    this.#sizeBytes += n;
    if (this.#stagedBytes === stage.length) this.#dispatch();
  }

  /**
   * Writes the content past the page cache where the file allows it (see
   * `FileHandle.writeDirect`): for a body known to be large, before its
   * first byte. A direct write waits for the disk, so several are kept in
   * flight (one per staging buffer out); the writeback hints are then
   * moot. A small object stays one buffered write.
   */
  writeDirect(): void {
    if (this.#sizeBytes > 0 || this.#directAsked) return;
    this.#directAsked = true;
    if (this.#held === 0 && this.#buffers.large.take()) this.#stageBytes = LARGE_STAGE_BYTES;
    this.#writes = this.#writes.then(async () => {
      this.#direct = await this.#file!.writeDirect?.() ?? false;
    });
    this.#writes.catch(() => {}); // reported where it is awaited
  }

  /** Adds content; `chunk` may be reused once this resolves (it is copied). */
  async write(chunk: Uint8Array): Promise<void> {
    for (let at = 0; at < chunk.length;) {
      const room = await this.room();
      const n = Math.min(room.length, chunk.length - at);
      room.set(n === chunk.length ? chunk : chunk.subarray(at, at + n));
      at += n;
      this.filled(n);
    }
  }

  /** Adds bytes that are not content (the trailer): staged and written, never hashed. */
  async #append(bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length;) {
      const room = await this.room();
      const n = Math.min(room.length, bytes.length - at);
      room.set(n === bytes.length ? bytes : bytes.subarray(at, at + n));
      at += n;
      this.#stagedBytes += n;
      if (this.#stagedBytes === this.#stage!.length) this.#dispatch();
    }
  }

  /** Sends the staged buffer out: to the MD5 thread (its unhashed content) and to the file. */
  #dispatch(): void {
    const bytes = this.#stage!;
    const n = this.#stagedBytes;
    const hashFrom = this.#stageHashedBytes;
    const hashTo = this.#contentEnded ? hashFrom : n;
    this.#stage = undefined;
    this.#stagedBytes = this.#stageHashedBytes = 0;
    const out: StageOut = { bytes, users: 1 };
    if (hashTo > hashFrom) {
      out.users++;
      this.#md5.update(bytes.subarray(hashFrom, hashTo), (error) => this.#settle(out, error));
    }
    const view = n === bytes.length ? bytes : bytes.subarray(0, n);
    const position = this.#writtenBytes;
    this.#writtenBytes += n;
    this.#sinceWritebackBytes += n;
    const writeback = !this.#direct && this.#sinceWritebackBytes >= WRITEBACK_EVERY_BYTES;
    if (writeback) this.#sinceWritebackBytes = 0;
    const write = async () => {
      if (this.#failure !== undefined) return;
      const file = this.#file!;
      await writeFileAt(file, view, position);
      if (writeback) file.startWriteback?.();
      if (this.#direct) this.#syncEarly(file, n);
    };
    const settle = () => this.#settle(out);
    const fail = (error: unknown) => this.#settle(out, error);
    if (this.#direct && this.#file?.overlappingWrites === true) {
      // The file takes overlapping writes (each positioned): this one
      // need not wait for those before it. #direct is set inside the
      // chain, once the file is open.
      const written = write().then(settle, fail);
      this.#writes = Promise.all([this.#writes, written]).then(() => {});
    } else {
      this.#writes = this.#writes.then(write).then(settle, fail);
    }
  }

  /**
   * Counts `n` bytes written direct and, every EARLY_SYNC_EVERY_BYTES with
   * none running, starts an fdatasync off the event loop (awaited with the
   * writes, so the file stays open for it).
   */
  #syncEarly(file: FileHandle, n: number): void {
    this.#sinceSyncBytes += n;
    if (
      this.#earlySyncing || this.#sinceSyncBytes < earlySyncOptions.everyBytes ||
      file.syncDataAsync === undefined
    ) return;
    this.#sinceSyncBytes = 0;
    this.#earlySyncing = true;
    this.#earlySync = file.syncDataAsync().then(
      () => {
        this.#earlySyncing = false;
      },
      (error) => {
        this.#failure ??= error;
        this.#earlySyncing = false;
        const wake = this.#wakeRoom;
        this.#wakeRoom = undefined;
        wake?.();
      },
    );
  }

  /** One use of a buffer out has ended: it comes back once none is left. */
  #settle(out: StageOut, error?: unknown): void {
    if (error !== undefined && this.#failure === undefined) this.#failure = error;
    if (--out.users > 0) return;
    // After a failure the buffer may still be read by a thread given up on: never reuse it.
    if (this.#failure === undefined && !this.#released) this.#free.push(out.bytes);
    else this.#held--;
    const wake = this.#wakeRoom;
    this.#wakeRoom = undefined;
    wake?.();
  }

  /** Writes out what is staged and waits for every write; throws the upload's failure. */
  async #flush(): Promise<FileHandle> {
    if (this.#stagedBytes > 0) this.#dispatch();
    await this.#writes;
    // Once every write has ended, no early fdatasync starts after this one.
    await this.#earlySync;
    if (this.#failure !== undefined) throw this.#failure;
    return this.#file!;
  }

  /** Returns the staging buffers and closes the file (once no write is in flight). */
  async #release(): Promise<void> {
    if (this.#released) return;
    await this.#writes.catch(() => {});
    await this.#earlySync;
    this.#released = true;
    this.#md5.drop();
    for (const buffer of this.#free) this.#buffers.give(buffer);
    this.#free.length = 0;
    this.#buffers.give(this.#stage);
    this.#stage = undefined;
    if (this.#stageBytes === LARGE_STAGE_BYTES) this.#buffers.large.give();
    const file = this.#file ?? await this.#opening.catch(() => undefined);
    file?.close();
  }

  /** The MD5 of what was written, as bytes (for Content-MD5 and the ETag); ends the hashing. */
  md5(): Promise<Buffer> {
    if (!this.#contentEnded) {
      this.#contentEnded = true;
      // Content staged and not hashed yet: a copy to the thread (the buffer
      // fills on with the trailer), at most one buffer once per upload.
      const stage = this.#stage;
      if (stage !== undefined && this.#stagedBytes > this.#stageHashedBytes) {
        this.#md5.update(stage.slice(this.#stageHashedBytes, this.#stagedBytes));
        this.#stageHashedBytes = this.#stagedBytes;
      }
    }
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return this.#md5.digest();
  }

  /**
   * Publishes the object: trailer, fsync, rename over the old one, fsync of
   * the directory (shared with the renames around it). Resolves once it is
   * durable; throws, leaving the old object, when a check or a call fails
   * before the rename.
   */
  async commit(fields: CommitFields): Promise<ObjectMeta> {
    if (this.#done) throw new Error("upload already finished");
    this.#done = true;
    const meta: ObjectMeta = {
      key: this.#target.key,
      sizeBytes: this.#sizeBytes,
      etag: fields.etag ?? "",
      lastModifiedMs: fields.nowMs,
      headers: fields.headers,
    };
    if (fields.checksums !== undefined) {
      meta.checksums = fields.checksums;
      meta.checksumType = fields.checksumType ?? "FULL_OBJECT";
    }
    if (fields.parts !== undefined) meta.parts = fields.parts;
    const files = this.#files;
    try {
      try {
        if (fields.etag === undefined) meta.etag = (await this.md5()).toString("hex");
        this.#contentEnded = true;
        await this.#append(encodeTrailer(meta));
        await syncFile(await this.#flush());
      } finally {
        await this.#release();
      }
      fields.beforeRename?.();
    } catch (error) {
      files.remove(this.#tmpPath);
      throw error;
    }
    const dir = this.#target.dir;
    files.rename(this.#tmpPath, join(dir, this.#target.fileName));
    const done = this.#syncs.sync(dir).then(() => this.#target.published(meta));
    this.#target.renamed?.(done, meta);
    await done;
    return meta;
  }

  /** Drops the temporary file (a failed or refused upload). */
  async abandon(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    try {
      await this.#release();
    } finally {
      this.#files.remove(this.#tmpPath);
    }
  }
}

/** An object opened for reading: its metadata and positioned reads of its content. */
export interface ObjectReader extends Disposable {
  readonly meta: ObjectMeta;
  /** Reads content bytes from `position` into `into`; returns how many. */
  readAt(into: Uint8Array, position: number): number;
  /** `readAt` off the event loop, where the file layer can (one at a time). */
  readAtAsync?(into: Uint8Array, position: number): Promise<number>;
  close(): void;
}

export interface StoreOptions {
  files: FileLayer;
  dataDir: string;
  now?: () => number;
}

export class ObjectStore {
  readonly files: FileLayer;
  /** Group commit of directory fsyncs, shared by every write (multipart parts too). */
  readonly syncs: DirectorySyncGroup;
  /** Staging buffers, shared by every upload. */
  readonly buffers = new StageBuffers();
  /** GETs reading ahead in large pieces (api.ts readAheadStream). */
  readonly largeReads = new Grants(LARGE_READS_MAX);
  readonly #root: string;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: StoreOptions) {
    this.files = options.files;
    this.syncs = new DirectorySyncGroup(options.files);
    this.#root = join(options.dataDir, "buckets");
  }

  /** Loads every bucket and object, removing temporary files left by a crash. */
  open(): { objects: number; tmpRemoved: number } {
    this.files.makeDirectory(this.#root);
    let objects = 0, tmpRemoved = 0;
    for (const entry of this.files.list(this.#root)) {
      if (entry.endsWith(".tmp")) {
        this.files.remove(join(this.#root, entry));
        continue;
      }
      if (!entry.endsWith(BUCKET_SUFFIX)) continue; // a bucket's directory
      const bytes = this.files.readFile(join(this.#root, entry));
      if (bytes === null) continue;
      const info = JSON.parse(decoder.decode(bytes)) as BucketInfo;
      const dir = join(this.#root, info.name);
      const bucket = new Bucket(info, dir);
      for (const file of this.files.list(dir)) {
        if (file.endsWith(".tmp")) {
          this.files.remove(join(dir, file));
          tmpRemoved++;
        } else if (/^[0-9a-f]{64}$/.test(file)) {
          bucket.put(this.#readTrailer(join(dir, file)));
          objects++;
        }
      }
      this.#buckets.set(info.name, bucket);
    }
    return { objects, tmpRemoved };
  }

  /** Where a bucket's multipart uploads keep their parts (multipart.ts). */
  uploadsDir(bucket: string): string {
    return join(this.#root, bucket + ".uploads");
  }

  listBuckets(): BucketInfo[] {
    return [...this.#buckets.values()].map((b) => b.info).sort((a, b) =>
      compareUtf8(a.name, b.name)
    );
  }

  bucket(name: string): BucketInfo | undefined {
    return this.#buckets.get(name)?.info;
  }

  /** Creates a bucket durably; false when it exists already. */
  createBucket(name: string, location: string, nowMs: number): boolean {
    if (this.#buckets.has(name)) return false;
    const dir = join(this.#root, name);
    this.files.makeDirectory(dir);
    // Whatever a deleted bucket of this name left behind (an upload that
    // finished after the delete) must not come back with the new one.
    const leftovers = this.files.list(dir);
    for (const file of leftovers) this.files.remove(join(dir, file));
    if (leftovers.length > 0) this.files.syncDirectory(dir);
    const info: BucketInfo = { name, createdMs: nowMs, location };
    const marker = join(this.#root, name + BUCKET_SUFFIX);
    const tmp = `${marker}.tmp`;
    const handle = this.files.open(tmp, { create: true, truncate: true });
    try {
      handle.writeAt(encoder.encode(JSON.stringify(info)), 0);
      handle.sync();
    } finally {
      handle.close();
    }
    this.files.rename(tmp, marker);
    this.files.syncDirectory(this.#root);
    this.#buckets.set(name, new Bucket(info, dir));
    return true;
  }

  /** Deletes an empty bucket: "missing", "not-empty" or "deleted". */
  deleteBucket(name: string): "missing" | "not-empty" | "deleted" {
    const bucket = this.#buckets.get(name);
    if (bucket === undefined) return "missing";
    if (bucket.objects.size > 0) return "not-empty";
    this.files.remove(join(this.#root, name + BUCKET_SUFFIX));
    this.files.syncDirectory(this.#root);
    this.#buckets.delete(name);
    return "deleted";
  }

  objectCount(bucket: string): number {
    return this.#buckets.get(bucket)?.objects.size ?? 0;
  }

  head(bucket: string, key: string): ObjectMeta | undefined {
    return this.#buckets.get(bucket)?.objects.get(key);
  }

  /** The version a write now in flight will replace: the settling one, else the stored one. */
  latest(bucket: string, key: string): ObjectMeta | undefined {
    const b = this.#buckets.get(bucket);
    return b?.settling.get(key)?.meta ?? b?.objects.get(key);
  }

  /**
   * Undefined when `key`'s file matches the index; else a promise that
   * settles once the write renamed over it is published (or failed). Loop
   * until undefined, then open without awaiting in between.
   */
  settled(bucket: string, key: string): Promise<void> | undefined {
    return this.#buckets.get(bucket)?.settling.get(key)?.done.catch(() => {});
  }

  /** Starts writing `key` in `bucket` (which must exist). */
  beginUpload(bucket: string, key: string): Upload {
    const b = this.#buckets.get(bucket);
    if (b === undefined) throw new Error(`no bucket ${bucket}`);
    return new Upload(this.files, this.syncs, this.buffers, {
      dir: b.dir,
      fileName: keyFileName(key),
      key,
      // The bucket may have been deleted while the body arrived: then the
      // object goes with it.
      published: (meta) => {
        if (this.#buckets.get(bucket) === b) b.put(meta);
      },
      renamed: (done, meta) => {
        const entry = { done, meta };
        b.settling.set(key, entry);
        const clear = () => {
          if (b.settling.get(key) === entry) b.settling.delete(key);
        };
        done.then(clear, clear);
      },
    });
  }

  /** Opens an object for reading, or undefined when it is missing. */
  openObject(bucket: string, key: string): ObjectReader | undefined {
    const b = this.#buckets.get(bucket);
    const meta = b?.objects.get(key);
    if (b === undefined || meta === undefined) return undefined;
    // The handle keeps this version readable even if it is overwritten or
    // deleted while it is being sent (POSIX keeps an open file's inode).
    const size = meta.sizeBytes;
    // A large object is read past the page cache (the GET reads ahead off
    // the event loop, api.ts readAheadStream); a small one may well be
    // cached, and is read in one go.
    const handle = this.files.open(join(b.dir, keyFileName(key)), {
      directReads: size >= DIRECT_READ_MIN_BYTES,
    });
    const readAsync = handle.readAtAsync?.bind(handle);
    return {
      meta,
      readAt(into, position) {
        const want = Math.min(into.length, size - position);
        if (want <= 0) return 0;
        return handle.readAt(into.subarray(0, want), position);
      },
      readAtAsync: readAsync === undefined ? undefined : async (into, position) => {
        const want = Math.min(into.length, size - position);
        if (want <= 0) return 0;
        // Whole blocks (into the trailer, or to the end of the file), so a
        // direct read takes the last piece too.
        const blocks = Math.ceil(want / DIRECT_ALIGN_BYTES) * DIRECT_ALIGN_BYTES;
        const n = await readAsync(into.subarray(0, Math.min(into.length, blocks)), position);
        return Math.min(n, want);
      },
      close: () => handle.close(),
      [Symbol.dispose]: () => handle.close(),
    };
  }

  /** Deletes an object durably; false when it was missing. Wait for `settled()` first. */
  deleteObject(bucket: string, key: string): boolean {
    const b = this.#buckets.get(bucket);
    if (b === undefined || !b.objects.has(key)) return false;
    if (b.settling.has(key)) throw new Error(`deleteObject(${key}) while a write of it settles`);
    this.files.remove(join(b.dir, keyFileName(key)));
    this.files.syncDirectory(b.dir);
    b.remove(key);
    return true;
  }

  /** One page of a listing (ListObjects v1 and v2 share it). */
  list(bucket: string, options: ListOptions): ListResult {
    const b = this.#buckets.get(bucket);
    const result: ListResult = {
      contents: [],
      commonPrefixes: [],
      isTruncated: false,
      last: undefined,
    };
    if (b === undefined) return result;
    const { prefix, delimiter, maxKeys } = options;
    const keys = b.keys;
    let i = lowerBound(keys, compareUtf8(options.after, prefix) > 0 ? options.after : prefix);
    if (i < keys.length && keys[i] === options.after) i++;
    // Resuming after a common prefix skips every key rolled up into it.
    if (delimiter !== "" && options.after !== "" && options.after.endsWith(delimiter)) {
      i = pastPrefix(keys, options.after, i);
    }
    let count = 0;
    while (i < keys.length) {
      const key = keys[i];
      if (!key.startsWith(prefix)) {
        if (compareUtf8(key, prefix) > 0) break;
        i++;
        continue;
      }
      if (count === maxKeys) {
        result.isTruncated = true;
        break;
      }
      const at = delimiter === "" ? -1 : key.indexOf(delimiter, prefix.length);
      if (at !== -1) {
        const common = key.slice(0, at + delimiter.length);
        result.commonPrefixes.push(common);
        result.last = common;
        i = pastPrefix(keys, common, i);
      } else {
        result.contents.push(b.objects.get(key)!);
        result.last = key;
        i++;
      }
      count++;
    }
    return result;
  }

  #readTrailer(path: string): ObjectMeta {
    return readTrailer(this.files, path);
  }
}

/** Reads the metadata trailer of an object or part file. */
export function readTrailer(files: FileLayer, path: string): ObjectMeta {
  using handle = files.open(path);
  const size = handle.size();
  const fixed = new Uint8Array(TRAILER_FIXED_BYTES);
  if (
    size < TRAILER_FIXED_BYTES ||
    handle.readAt(fixed, size - TRAILER_FIXED_BYTES) !== fixed.length
  ) {
    throw new Error(`${path}: too short for an object trailer`);
  }
  const magic = fixed.subarray(4);
  if (!magic.every((byte, i) => byte === MAGIC[i])) throw new Error(`${path}: bad trailer magic`);
  const metaBytes = new DataView(fixed.buffer).getUint32(0);
  const metaAt = size - TRAILER_FIXED_BYTES - metaBytes;
  if (metaAt < 0) throw new Error(`${path}: bad trailer length`);
  const json = new Uint8Array(metaBytes);
  handle.readAt(json, metaAt);
  const meta = JSON.parse(decoder.decode(json)) as ObjectMeta;
  if (meta.sizeBytes !== metaAt) throw new Error(`${path}: size does not match its trailer`);
  return meta;
}

/** Starts a file that becomes durable under `dir/fileName` on commit (multipart parts). */
export function beginFile(
  store: { files: FileLayer; syncs: DirectorySyncGroup; buffers: StageBuffers },
  target: UploadTarget,
): Upload {
  return new Upload(store.files, store.syncs, store.buffers, target);
}

function encodeTrailer(meta: ObjectMeta): Uint8Array {
  const json = encoder.encode(JSON.stringify(meta));
  const out = new Uint8Array(json.length + TRAILER_FIXED_BYTES);
  out.set(json);
  new DataView(out.buffer).setUint32(json.length, json.length);
  out.set(MAGIC, json.length + 4);
  return out;
}

/** The file name of a key: its SHA-256 in hex (safe for any key, no collisions). */
export function keyFileName(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}
