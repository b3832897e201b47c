// MD5 off the event loop, for large uploads.
//
// Hashing is the largest cost of a big PUT: node:crypto's MD5 runs at about
// 525 MiB/s on one core here, which capped a 1 GiB PUT near 260 MiB/s while
// the disk took 618 (bench/objects.ts --profile: MD5 40% of the server's
// busy time). A worker thread hashes while the event loop reads the socket
// and writes the file. Chunks are gathered into 1 MiB batches, each moved
// (transferred, not copied) to the worker and back with its acknowledgement,
// to be filled again, with at most IN_FLIGHT_MAX batches unacknowledged per
// upload, so memory stays bounded and a slow
// worker slows the upload down rather than queueing the body in memory.
//
// One worker serves every upload that asks; it starts with the first and
// ends when the last one finishes, so an idle server (or a test) holds no
// thread. Its source is inline (a Blob URL) so `deno compile` needs no file.

import { createHash, type Hash } from "node:crypto";
import { Buffer } from "node:buffer";

const BATCH_BYTES = 1024 * 1024;
const IN_FLIGHT_MAX = 4;

const WORKER_SOURCE = `
import { createHash } from "node:crypto";
const hashes = new Map();
self.onmessage = (event) => {
  const m = event.data;
  if (m.op === "update") {
    let hash = hashes.get(m.id);
    if (hash === undefined) hashes.set(m.id, hash = createHash("md5"));
    hash.update(m.bytes);
    // The batch goes back to be filled again: no new buffer per MiB.
    self.postMessage({ id: m.id, op: "ack", bytes: m.bytes }, [m.bytes.buffer]);
  } else if (m.op === "digest") {
    const hash = hashes.get(m.id) ?? createHash("md5");
    hashes.delete(m.id);
    const digest = new Uint8Array(hash.digest());
    self.postMessage({ id: m.id, op: "digest", bytes: digest });
  } else if (m.op === "drop") {
    hashes.delete(m.id);
  }
};
`;

interface Reply {
  id: number;
  op: "ack" | "digest";
  bytes?: Uint8Array;
}

/** The shared worker, counted by the hashes that use it. */
class HashThread {
  static #current: HashThread | undefined;
  static #nextId = 0;

  readonly #worker: Worker;
  readonly #listeners = new Map<number, (reply: Reply | Error) => void>();
  #users = 0;

  static acquire(): { thread: HashThread; id: number } {
    const thread = HashThread.#current ??= new HashThread();
    thread.#users++;
    return { thread, id: ++HashThread.#nextId };
  }

  private constructor() {
    const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "application/javascript" }));
    this.#worker = new Worker(url, { type: "module" });
    URL.revokeObjectURL(url);
    this.#worker.onmessage = (event: MessageEvent<Reply>) => {
      this.#listeners.get(event.data.id)?.(event.data);
    };
    this.#worker.onerror = (event) => {
      event.preventDefault();
      const error = new Error(`md5 worker failed: ${event.message}`);
      for (const listener of this.#listeners.values()) listener(error);
      this.#retire();
    };
  }

  listen(id: number, listener: (reply: Reply | Error) => void): void {
    this.#listeners.set(id, listener);
  }

  post(message: { id: number; op: string; bytes?: Uint8Array }): void {
    const transfer = message.bytes === undefined ? [] : [message.bytes.buffer as ArrayBuffer];
    this.#worker.postMessage(message, transfer);
  }

  release(id: number): void {
    this.#listeners.delete(id);
    if (--this.#users === 0) this.#retire();
  }

  #retire(): void {
    if (HashThread.#current === this) HashThread.#current = undefined;
    this.#worker.terminate();
  }
}

/** An MD5 being computed: inline, or on the worker thread. */
export interface Md5 {
  /** Adds bytes (copied; `chunk` may be reused once this settles). */
  update(chunk: Uint8Array): void | Promise<void>;
  /** The digest of everything added; the hash is finished after it. */
  digest(): Promise<Buffer>;
  /** Gives up the hash (an abandoned upload). Idempotent. */
  drop(): void;
}

/** node:crypto on the calling thread: for small bodies, where a hop costs more than it saves. */
export class InlineMd5 implements Md5 {
  readonly #hash: Hash = createHash("md5");
  #digest: Buffer | undefined;

  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
  }

  digest(): Promise<Buffer> {
    return Promise.resolve(this.#digest ??= this.#hash.digest());
  }

  drop(): void {}
}

/** MD5 on the shared worker thread, in 1 MiB batches with bounded batches in flight. */
export class WorkerMd5 implements Md5 {
  readonly #thread: HashThread;
  readonly #id: number;
  #batch = new Uint8Array(BATCH_BYTES);
  #batchBytes = 0;
  /** Batches the worker gave back (at most IN_FLIGHT_MAX). */
  readonly #free: Uint8Array<ArrayBuffer>[] = [];
  #inFlight = 0;
  #failure: Error | undefined;
  #drained: (() => void) | undefined;
  #digest: Promise<Buffer> | undefined;
  #digestListener: ((reply: Reply | Error) => void) | undefined;
  #released = false;

  constructor() {
    const { thread, id } = HashThread.acquire();
    this.#thread = thread;
    this.#id = id;
    thread.listen(id, (reply) => {
      if (reply instanceof Error) this.#failure = reply;
      else if (reply.op === "ack") {
        this.#inFlight--;
        if (reply.bytes?.length === BATCH_BYTES) {
          this.#free.push(reply.bytes as Uint8Array<ArrayBuffer>);
        }
      }
      if (this.#digestListener !== undefined && (reply instanceof Error || reply.op === "digest")) {
        this.#digestListener(reply);
      }
      const drained = this.#drained;
      this.#drained = undefined;
      drained?.();
    });
  }

  update(chunk: Uint8Array): void | Promise<void> {
    if (this.#failure) throw this.#failure;
    for (let at = 0; at < chunk.length;) {
      const n = Math.min(BATCH_BYTES - this.#batchBytes, chunk.length - at);
      this.#batch.set(chunk.subarray(at, at + n), this.#batchBytes);
      this.#batchBytes += n;
      at += n;
      if (this.#batchBytes === BATCH_BYTES) this.#send();
    }
    if (this.#inFlight >= IN_FLIGHT_MAX) return this.#waitForRoom();
  }

  async #waitForRoom(): Promise<void> {
    while (this.#inFlight >= IN_FLIGHT_MAX) {
      if (this.#failure) throw this.#failure;
      await new Promise<void>((resolve) => this.#drained = resolve);
    }
    if (this.#failure) throw this.#failure;
  }

  #send(): void {
    const bytes = this.#batchBytes === BATCH_BYTES
      ? this.#batch
      : this.#batch.slice(0, this.#batchBytes);
    this.#thread.post({ id: this.#id, op: "update", bytes });
    this.#inFlight++;
    this.#batch = this.#free.pop() ?? new Uint8Array(BATCH_BYTES);
    this.#batchBytes = 0;
  }

  digest(): Promise<Buffer> {
    this.#digest ??= new Promise<Buffer>((resolve, reject) => {
      if (this.#failure) return reject(this.#failure);
      this.#digestListener = (reply) => {
        this.#release();
        if (reply instanceof Error) reject(reply);
        else resolve(Buffer.from(reply.bytes!));
      };
      if (this.#batchBytes > 0) this.#send();
      this.#thread.post({ id: this.#id, op: "digest" });
    });
    return this.#digest;
  }

  drop(): void {
    if (this.#released) return;
    this.#thread.post({ id: this.#id, op: "drop" });
    this.#release();
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#thread.release(this.#id);
  }
}
