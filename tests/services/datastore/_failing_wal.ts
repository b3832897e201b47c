// A real file layer whose WAL fsync can be made to fail (`fail()`), for the
// tests that a reader never answers with a commit whose fsync failed. The
// log's flush throws the injected error in its own task (the engine then
// stops trusting its log): `expectFailures()` keeps that error from failing
// the test, until disposed.

import type { FileLayer } from "../../../lib/fs/file_layer.ts";
import { realFiles } from "../../../lib/fs/file_layer.ts";

const INJECTED = "injected fsync failure";

export interface FailingWal {
  readonly files: FileLayer;
  /** From now on, every fsync of wal.log throws. */
  fail(): void;
  /** Swallows the injected error's uncaught event while it is in scope. */
  expectFailures(): Disposable;
}

export function failingWal(): FailingWal {
  let failing = false;
  const files: FileLayer = {
    ...realFiles,
    open(path, options) {
      const handle = realFiles.open(path, options);
      if (!path.endsWith("wal.log")) return handle;
      return {
        readAt: (into, position) => handle.readAt(into, position),
        writeAt: (bytes, position) => handle.writeAt(bytes, position),
        sync: () => handle.sync(),
        syncData: () => {
          if (failing) throw new Error(INJECTED);
          handle.syncData();
        },
        truncate: (size) => handle.truncate(size),
        size: () => handle.size(),
        close: () => handle.close(),
        [Symbol.dispose]: () => handle.close(),
      };
    },
  };
  return {
    files,
    fail: () => failing = true,
    expectFailures() {
      const expected = (event: ErrorEvent) => {
        if (String(event.error).includes(INJECTED)) event.preventDefault();
      };
      globalThis.addEventListener("error", expected);
      return { [Symbol.dispose]: () => globalThis.removeEventListener("error", expected) };
    },
  };
}
