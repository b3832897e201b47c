// The body of a sync thread (sync_thread.ts): a worker that owns its own
// descriptor of one file and runs fdatasync on it whenever the main thread
// asks, with nothing but shared memory between them. It never returns to
// its event loop after the first message: it sleeps in Atomics.wait on the
// doorbell, so a request costs the main thread a store and a futex wake.
//
// One fdatasync at a time. Each covers every write that returned before it
// started, so before it starts the worker reads the highest mark requested
// (the main thread stores a mark only after its writes have returned) and
// publishes that mark once it returns. Requests that arrive during one are
// covered by the next, which starts at once: no main-thread hop between
// consecutive fsyncs. A failure is final (the "fsyncgate" lesson: after a
// failed fsync the page cache may have dropped the data, and a later fsync
// can succeed without writing it): the worker reports it and syncs nothing
// again.

import { SLOT, STATE, type SyncThreadSetup } from "./sync_thread.ts";

function run(setup: SyncThreadSetup): void {
  const marks = new BigInt64Array(setup.memory, 0, SLOT.count);
  const bells = new Int32Array(setup.memory, SLOT.count * 8, 2);
  const text = new Uint8Array(setup.memory, SLOT.count * 8 + 8);
  let generation = Atomics.load(marks, SLOT.generation);
  let file: Deno.FsFile;

  /** Publishes a change to the main thread (it waits on bell 1). */
  const publish = () => {
    Atomics.add(bells, 1, 1);
    Atomics.notify(bells, 1);
  };
  const fail = (error: unknown) => {
    const message = new TextEncoder().encode(String((error as Error)?.message ?? error));
    const n = Math.min(message.length, text.length - 1);
    text.set(message.subarray(0, n));
    text[n] = 0;
    Atomics.store(marks, SLOT.state, BigInt(STATE.failed));
    publish();
  };

  try {
    file = Deno.openSync(setup.path, { read: true, write: true });
  } catch {
    // Never ready: the main thread keeps fsyncing itself.
    Atomics.store(marks, SLOT.state, BigInt(STATE.unavailable));
    publish();
    return;
  }
  Atomics.store(marks, SLOT.state, BigInt(STATE.ready));
  publish();

  let synced = Atomics.load(marks, SLOT.synced);
  for (;;) {
    const bell = Atomics.load(bells, 0);
    if (Atomics.load(marks, SLOT.stop) !== 0n) break;
    const requested = Atomics.load(marks, SLOT.requested);
    if (requested <= synced) {
      Atomics.wait(bells, 0, bell);
      continue;
    }
    try {
      // Loaded after `requested`: a mark of a replaced file was stored
      // after the replacement's new generation (see reopen()).
      const now = Atomics.load(marks, SLOT.generation);
      if (now !== generation) {
        file.close();
        file = Deno.openSync(setup.path, { read: true, write: true });
        generation = now;
      }
      file.syncDataSync();
    } catch (error) {
      fail(error);
      break;
    }
    synced = requested;
    Atomics.store(marks, SLOT.synced, synced);
    Atomics.add(marks, SLOT.fsyncs, 1n);
    publish();
  }
  try {
    file.close();
  } catch {
    // Closed already by a failed reopen.
  }
}

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<SyncThreadSetup>) => void) | null;
};
scope.onmessage = (event) => {
  scope.onmessage = null;
  run(event.data);
};
