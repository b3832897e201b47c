// A sync thread: fdatasync of one file on a thread of its own, so the
// event loop keeps serving while the disk flushes (group commit's pipeline,
// services/datastore/storage/wal.ts). The main thread writes the file
// itself, then asks for a flush with `request(mark)`; the thread
// (sync_thread_worker.ts) runs one fdatasync at a time on its own
// descriptor of the same file and publishes the highest mark it covers.
//
// Why a worker and shared memory rather than Deno's async `syncData()`:
// that one goes through the blocking thread pool and an async op per call
// (about 30 µs of the event loop's time each, see file_layer.ts), and the
// next fsync can start only once the event loop has seen the last one end.
// Here a request is two atomic stores and a futex wake; the thread starts
// the next fdatasync the moment the last returns if more was requested
// meanwhile; and the event loop learns of a completion through
// `Atomics.waitAsync` (measured here: 6-8 µs of main-thread CPU per round
// trip, against 12-14 for a worker's postMessage).
//
// fsync covers a file, not a descriptor (POSIX: "all modified data of the
// file"), so the thread's own descriptor flushes what the main thread
// wrote through its own.
//
// The contract (what the WAL's durability rests on, and what
// tests/services/datastore/sync_thread_test.ts's simulated twin keeps):
//   - `request(mark)`: every write to the file that returned before the
//     call is covered by the next fdatasync the thread starts; marks only
//     grow.
//   - `syncedMark`: the highest mark whose fdatasync has returned
//     successfully. It never moves after a failure.
//   - `failure`: set once an fdatasync (or the reopen of a replaced file)
//     failed; final.
//   - `version` changes after every change of the two; `changedSince(v)`
//     resolves once it differs from `v` (at once if it does already).
//   - `reopen()`: the file at the path was replaced (renamed over); the
//     fdatasyncs of marks requested after the call are of the new file.
//   - `ready`: the thread has opened the file. Until then (and forever, if
//     it cannot), the caller must fsync itself.
//
// Cost and bounds: one worker (a V8 isolate, some MiB) per thread, and its
// creation blocks the caller about 25 ms here (`new Worker` is
// synchronous), so a thread is made once per log, not per file generation.
// Left out: any platform where workers or shared memory are missing (the
// caller falls back to its own fsyncs).

/** Slots of the shared BigInt64Array (then two Int32 bells, then an error text). */
export const SLOT = {
  requested: 0,
  synced: 1,
  state: 2,
  generation: 3,
  stop: 4,
  fsyncs: 5,
  count: 6,
} as const;

/** Values of `SLOT.state`. */
export const STATE = { starting: 0, ready: 1, failed: 2, unavailable: 3 } as const;

/** What the worker gets in its one message. */
export interface SyncThreadSetup {
  path: string;
  memory: SharedArrayBuffer;
}

/** Room for the failure's message (UTF-8, NUL-terminated). */
const ERROR_TEXT_BYTES = 256;

/** An fdatasync thread for one file (see the file comment for the contract). */
export interface SyncThread {
  readonly ready: boolean;
  request(mark: number): void;
  readonly syncedMark: number;
  /** fdatasyncs it has run. */
  readonly fsyncs: number;
  readonly failure: Error | null;
  readonly version: number;
  changedSince(version: number): Promise<void>;
  reopen(): void;
  /** Stops the thread (an fdatasync in flight still finishes, unreported). */
  close(): void;
}

/**
 * Starts a sync thread for `path` (an existing file), or returns undefined
 * where a worker cannot be made.
 */
export function startSyncThread(path: string): SyncThread | undefined {
  const memory = new SharedArrayBuffer(SLOT.count * 8 + 8 + ERROR_TEXT_BYTES);
  let worker: Worker;
  try {
    worker = new Worker(new URL("./sync_thread_worker.ts", import.meta.url).href, {
      type: "module",
    });
  } catch {
    return undefined;
  }
  const thread = new WorkerSyncThread(worker, memory);
  worker.onerror = (event) => {
    event.preventDefault();
    thread.broken(event.message);
  };
  worker.postMessage({ path, memory } satisfies SyncThreadSetup);
  return thread;
}

class WorkerSyncThread implements SyncThread {
  readonly #worker: Worker;
  readonly #marks: BigInt64Array<SharedArrayBuffer>;
  readonly #bells: Int32Array<SharedArrayBuffer>;
  readonly #text: Uint8Array<SharedArrayBuffer>;
  #closed = false;
  /** The worker died (an uncaught error): treated as a failed fsync. */
  #broken: string | null = null;
  #failure: Error | null = null;

  constructor(worker: Worker, memory: SharedArrayBuffer) {
    this.#worker = worker;
    this.#marks = new BigInt64Array(memory, 0, SLOT.count);
    this.#bells = new Int32Array(memory, SLOT.count * 8, 2);
    this.#text = new Uint8Array(memory, SLOT.count * 8 + 8);
  }

  get ready(): boolean {
    return !this.#closed && Atomics.load(this.#marks, SLOT.state) === BigInt(STATE.ready);
  }

  request(mark: number): void {
    Atomics.store(this.#marks, SLOT.requested, BigInt(mark));
    this.#ring();
  }

  get syncedMark(): number {
    return Number(Atomics.load(this.#marks, SLOT.synced));
  }

  get fsyncs(): number {
    return Number(Atomics.load(this.#marks, SLOT.fsyncs));
  }

  get failure(): Error | null {
    if (this.#failure !== null) return this.#failure;
    if (this.#broken !== null) {
      return this.#failure = new Error(`sync thread stopped: ${this.#broken}`);
    }
    if (Atomics.load(this.#marks, SLOT.state) !== BigInt(STATE.failed)) return null;
    const end = this.#text.indexOf(0);
    const message = new TextDecoder().decode(this.#text.slice(0, end < 0 ? undefined : end));
    return this.#failure = new Error(`fdatasync failed: ${message}`);
  }

  get version(): number {
    return Atomics.load(this.#bells, 1);
  }

  changedSince(version: number): Promise<void> {
    const wait = Atomics.waitAsync(this.#bells, 1, version);
    return wait.async ? wait.value.then(() => {}) : Promise.resolve();
  }

  reopen(): void {
    Atomics.add(this.#marks, SLOT.generation, 1n);
    this.#ring();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    Atomics.store(this.#marks, SLOT.stop, 1n);
    this.#ring();
    this.#worker.terminate();
    // Wakes a pending changedSince, whose caller sees it is closed.
    Atomics.add(this.#bells, 1, 1);
    Atomics.notify(this.#bells, 1);
  }

  /** @internal The worker died. */
  broken(message: string): void {
    this.#broken = message;
    Atomics.add(this.#bells, 1, 1);
    Atomics.notify(this.#bells, 1);
  }

  #ring(): void {
    Atomics.add(this.#bells, 0, 1);
    Atomics.notify(this.#bells, 0);
  }
}
