// MD5 off the event loop, for large uploads.
//
// Hashing is the largest cost of a big PUT: node:crypto's MD5 runs at about
// 525 MiB/s on one core here, which capped a 1 GiB PUT near 260 MiB/s while
// the disk took 618 (bench/objects.ts --profile: MD5 40% of the server's
// busy time). A worker thread hashes while the event loop reads the socket
// and writes the file. It hashes the upload's own staging buffers
// (store.ts), which live in shared memory: a full 1 MiB buffer is handed to
// the thread and to the file write at once, with nothing copied, and goes
// back to be filled again once both are done. The upload bounds how many
// buffers it has out (store.ts, STAGES_PER_UPLOAD_MAX), so memory stays
// bounded and a slow thread slows the upload down rather than queueing the
// body in memory. Bytes that are not in shared memory are copied into 1 MiB
// batches, each moved (transferred) to the thread.
//
// One worker serves every upload that asks. A running server keeps it
// (`keepHashThread`, from the service's start to its close): starting a
// worker blocks the event loop while V8 sets the thread's isolate up
// (190-560 ms measured here), which the first large PUT paid for on its own
// event loop, stalling every other client. Without a keeper (unit tests) it
// starts with the first upload and ends with the last. Its source is inline
// (a Blob URL) so `deno compile` needs no file.
//
// A thread that stops answering must not hang its uploads for ever: when
// it leaves a request unanswered for `hashThreadOptions.replyTimeoutMs`
// (30 s), every hash waiting on it fails (the uploads answer InternalError),
// the thread is terminated, and the next upload starts a new one.

import { createHash, type Hash } from "node:crypto";
import { Buffer } from "node:buffer";

/**
 * How long the thread may leave a request unanswered before it is given up.
 * Hashing 1 MiB takes about 2 ms; 30 s is a thread that is stuck, not slow.
 * Changeable for tests.
 */
export const hashThreadOptions = {
  replyTimeoutMs: 30_000,
  /**
   * For tests: a thread acquired by a hash while this is set (new or kept)
   * stops answering at once, as a hung one would.
   */
  stallThreads: false,
};

/**
 * Bytes not in shared memory are copied into batches of this size, each
 * moved to the thread whole (one message per MiB, not one per piece).
 * Copies are not bounded in flight: the uploads hand their bulk over in
 * shared buffers, which they bound themselves, and copy only a last piece.
 */
const COPY_BATCH_BYTES = 1024 * 1024;

/**
 * Copies of bytes their caller may reuse at once, gathered into batches of
 * COPY_BATCH_BYTES: `send` gets each batch once it is full, or at `flush`
 * (before bytes that skip the batch, and before the digest), and may keep it.
 */
export class CopyBatches {
  readonly #send: (batch: Uint8Array<ArrayBuffer>, length: number) => void;
  #batch: Uint8Array<ArrayBuffer> | undefined;
  #length = 0;

  constructor(send: (batch: Uint8Array<ArrayBuffer>, length: number) => void) {
    this.#send = send;
  }

  add(bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length;) {
      const batch = this.#batch ??= new Uint8Array(COPY_BATCH_BYTES);
      const n = Math.min(batch.length - this.#length, bytes.length - at);
      batch.set(bytes.subarray(at, at + n), this.#length);
      this.#length += n;
      at += n;
      if (this.#length === batch.length) this.flush();
    }
  }

  /** Sends what has been gathered, if anything. */
  flush(): void {
    const batch = this.#batch;
    if (batch === undefined || this.#length === 0) return;
    const length = this.#length;
    this.#batch = undefined;
    this.#length = 0;
    this.#send(batch, length);
  }

  /** Forgets what has been gathered. */
  drop(): void {
    this.#batch = undefined;
    this.#length = 0;
  }
}

const WORKER_SOURCE = `
import { createHash } from "node:crypto";
const hashes = new Map();
let stalled = false;
self.onmessage = (event) => {
  const m = event.data;
  if (stalled) return;
  if (m.op === "update") {
    let hash = hashes.get(m.id);
    if (hash === undefined) hashes.set(m.id, hash = createHash("md5"));
    hash.update(new Uint8Array(m.buffer, m.offset, m.length));
    self.postMessage({ id: m.id, op: "ack" });
  } else if (m.op === "digest") {
    const hash = hashes.get(m.id) ?? createHash("md5");
    hashes.delete(m.id);
    const digest = new Uint8Array(hash.digest());
    self.postMessage({ id: m.id, op: "digest", bytes: digest });
  } else if (m.op === "drop") {
    hashes.delete(m.id);
  } else if (m.op === "stall") {
    stalled = true; // a test: behave as a hung thread would
  }
};
`;

interface Reply {
  id: number;
  op: "ack" | "digest";
  bytes?: Uint8Array;
}

interface Request {
  id: number;
  op: "update" | "digest" | "drop" | "stall";
  buffer?: ArrayBufferLike;
  offset?: number;
  length?: number;
}

/** The shared worker, counted by the hashes that use it. */
class HashThread {
  static #current: HashThread | undefined;
  static #nextId = 0;
  /** Keepers (`keepHashThread`): while there is one, a thread with no hash stays. */
  static #keepers = 0;

  readonly #worker: Worker;
  readonly #listeners = new Map<number, (reply: Reply | Error) => void>();
  #users = 0;
  /** Requests sent that expect a reply and have not had one. */
  #waiting = 0;
  /** When the thread last answered, or when it was last asked with nothing outstanding. */
  #lastReplyMs = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #retired = false;

  static acquire(): { thread: HashThread; id: number } {
    const thread = HashThread.#current ??= new HashThread();
    thread.#users++;
    if (hashThreadOptions.stallThreads) thread.#worker.postMessage({ id: 0, op: "stall" });
    return { thread, id: ++HashThread.#nextId };
  }

  static running(): boolean {
    return HashThread.#current !== undefined;
  }

  /** Starts the thread now, if none runs, and keeps it until the returned release. */
  static keep(): () => void {
    HashThread.#keepers++;
    HashThread.#current ??= new HashThread();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const current = HashThread.#current;
      if (--HashThread.#keepers === 0 && current !== undefined && current.#users === 0) {
        current.#retire();
      }
    };
  }

  private constructor() {
    const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "application/javascript" }));
    this.#worker = new Worker(url, { type: "module" });
    URL.revokeObjectURL(url);
    this.#worker.onmessage = (event: MessageEvent<Reply>) => {
      this.#waiting--;
      this.#lastReplyMs = performance.now();
      if (this.#waiting === 0) this.#disarm();
      this.#listeners.get(event.data.id)?.(event.data);
    };
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#fail(new Error(`md5 worker failed: ${event.message}`));
    };
  }

  listen(id: number, listener: (reply: Reply | Error) => void): void {
    this.#listeners.set(id, listener);
  }

  /** Sends a request; `update` and `digest` expect a reply, watched by the timeout. */
  post(message: Request, transfer: ArrayBuffer[] = []): void {
    if (this.#retired) return;
    if (message.op === "update" || message.op === "digest") {
      if (this.#waiting++ === 0) {
        this.#lastReplyMs = performance.now();
        this.#arm(hashThreadOptions.replyTimeoutMs);
      }
    }
    this.#worker.postMessage(message, transfer);
  }

  release(id: number): void {
    this.#listeners.delete(id);
    if (--this.#users === 0 && HashThread.#keepers === 0) this.#retire();
  }

  #arm(delayMs: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#waiting === 0) return;
      const silentMs = performance.now() - this.#lastReplyMs;
      const timeoutMs = hashThreadOptions.replyTimeoutMs;
      if (silentMs < timeoutMs) this.#arm(timeoutMs - silentMs);
      else this.#fail(new Error(`md5 worker did not answer for ${Math.round(silentMs)} ms`));
    }, delayMs);
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Fails every hash on this thread and retires it: the next upload starts a new one. */
  #fail(error: Error): void {
    this.#retire();
    for (const listener of [...this.#listeners.values()]) listener(error);
  }

  #retire(): void {
    if (this.#retired) return;
    this.#retired = true;
    this.#disarm();
    if (HashThread.#current === this) HashThread.#current = undefined;
    this.#worker.terminate();
  }
}

/**
 * Starts the MD5 thread now and keeps it running until `release` (a server,
 * from its start to its close), so that no upload pays for its start. A
 * thread given up on (it stopped answering) is replaced at the next upload,
 * and kept in turn.
 */
export function keepHashThread(): { release(): void } {
  return { release: HashThread.keep() };
}

/** Whether an MD5 thread is running now (for tests and metrics). */
export function hashThreadRunning(): boolean {
  return HashThread.running();
}

/** Called once bytes given to `Md5.update` are no longer read (with the hash's failure, if any). */
export type HashedCallback = (error?: Error) => void;

/** An MD5 being computed: inline, or on the worker thread. */
export interface Md5 {
  /**
   * Adds `bytes`. They must stay unchanged until `hashed` is called: at
   * once when they were hashed inline or copied, later when a thread reads
   * them from shared memory.
   */
  update(bytes: Uint8Array, hashed?: HashedCallback): void;
  /** The digest of everything added; the hash is finished after it. */
  digest(): Promise<Buffer>;
  /** Gives up the hash (an abandoned upload). Idempotent. */
  drop(): void;
}

/** node:crypto on the calling thread: for small bodies, where a hop costs more than it saves. */
export class InlineMd5 implements Md5 {
  readonly #hash: Hash = createHash("md5");
  #digest: Buffer | undefined;

  update(bytes: Uint8Array, hashed?: HashedCallback): void {
    this.#hash.update(bytes);
    hashed?.();
  }

  digest(): Promise<Buffer> {
    return Promise.resolve(this.#digest ??= this.#hash.digest());
  }

  drop(): void {}
}

/** MD5 on the shared worker thread: shared buffers read in place, others copied. */
export class WorkerMd5 implements Md5 {
  readonly #thread: HashThread;
  readonly #id: number;
  /** Callbacks of the updates the thread has not acknowledged, oldest first. */
  readonly #pending: (HashedCallback | undefined)[] = [];
  #pendingHead = 0;
  /** Copied bytes gathered until a batch is full (or a shared update or the digest comes). */
  readonly #copies = new CopyBatches((batch, length) => {
    this.#pending.push(undefined);
    this.#thread.post(
      { id: this.#id, op: "update", buffer: batch.buffer, offset: 0, length },
      [batch.buffer],
    );
  });
  #failure: Error | undefined;
  #digest: Promise<Buffer> | undefined;
  #digestListener: ((reply: Reply | Error) => void) | undefined;
  #released = false;

  constructor() {
    const { thread, id } = HashThread.acquire();
    this.#thread = thread;
    this.#id = id;
    thread.listen(id, (reply) => {
      if (reply instanceof Error) {
        this.#failure = reply;
        this.#failPending(reply);
        this.#digestListener?.(reply);
      } else if (reply.op === "ack") {
        const hashed = this.#pending[this.#pendingHead];
        this.#pending[this.#pendingHead++] = undefined;
        if (this.#pendingHead === this.#pending.length) {
          this.#pending.length = this.#pendingHead = 0;
        }
        hashed?.();
      } else this.#digestListener?.(reply);
    });
  }

  update(bytes: Uint8Array, hashed?: HashedCallback): void {
    if (this.#failure !== undefined) {
      hashed?.(this.#failure);
      return;
    }
    if (bytes.buffer instanceof SharedArrayBuffer) {
      this.#copies.flush(); // copied bytes that came first go first
      this.#pending.push(hashed);
      this.#thread.post({
        id: this.#id,
        op: "update",
        buffer: bytes.buffer,
        offset: bytes.byteOffset,
        length: bytes.length,
      });
      return;
    }
    this.#copies.add(bytes);
    hashed?.();
  }

  digest(): Promise<Buffer> {
    this.#digest ??= new Promise<Buffer>((resolve, reject) => {
      if (this.#failure) return reject(this.#failure);
      this.#digestListener = (reply) => {
        this.#release();
        if (reply instanceof Error) reject(reply);
        else resolve(Buffer.from(reply.bytes!));
      };
      this.#copies.flush();
      this.#thread.post({ id: this.#id, op: "digest" });
    });
    return this.#digest;
  }

  drop(): void {
    if (this.#released) return;
    this.#thread.post({ id: this.#id, op: "drop" });
    this.#release();
  }

  #failPending(error: Error): void {
    const pending = this.#pending.slice(this.#pendingHead);
    this.#pending.length = this.#pendingHead = 0;
    for (const hashed of pending) hashed?.(error);
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#thread.release(this.#id);
  }
}
