// MD5 off the event loop through the system's libcrypto (OpenSSL), for large
// uploads, where a worker thread would do node:crypto's.
//
// MD5 is the largest CPU cost of a big PUT once its writes skip the page
// cache, and nothing splits it (each 64-byte block chains on the one
// before), so its speed caps a single upload. OpenSSL's MD5 (hand-tuned
// assembly) costs 1.68 ms of CPU per MiB here against 2.0-2.2 for
// node:crypto's, called from Deno with FFI: `MD5_Update` is declared
// nonblocking, so each call runs on Deno's blocking thread pool while the
// event loop reads the socket. There is no worker to start (its isolate
// blocked the event loop for 60-560 ms), no message per buffer, and the
// context (`MD5_CTX`, 92 bytes) lives in a plain JavaScript buffer, so
// nothing needs freeing. The hash reads the upload's staging buffers in
// place and calls back once it is done with each, as the worker did.
//
// Only where libcrypto can be loaded (Linux, FFI permission, libssl3
// installed) and gives MD5's test vector; elsewhere `nativeMd5()` is
// undefined and uploads use the worker thread (md5_worker.ts).

import { Buffer } from "node:buffer";
import { CopyBatches, type HashedCallback, type Md5 } from "./md5_worker.ts";

/** For tests: act as if libcrypto could not be loaded (the worker thread is used). */
export const nativeMd5Options = { disabled: false };

/** sizeof(MD5_CTX) is 92 bytes (A-D, Nl, Nh, 16 words of data, num); room to spare. */
const MD5_CTX_BYTES = 128;

interface Libcrypto {
  init(ctx: Uint8Array): number;
  update(ctx: Uint8Array, bytes: Uint8Array): Promise<number>;
  final(out: Uint8Array, ctx: Uint8Array): number;
}

const libcrypto = loadLibcrypto();

function loadLibcrypto(): Libcrypto | undefined {
  if (Deno.build.os !== "linux") return undefined;
  for (const name of ["libcrypto.so.3", "libcrypto.so"]) {
    try {
      const lib = Deno.dlopen(name, {
        MD5_Init: { parameters: ["buffer"], result: "i32" },
        MD5_Update: { parameters: ["buffer", "buffer", "usize"], result: "i32", nonblocking: true },
        MD5_Final: { parameters: ["buffer", "buffer"], result: "i32" },
      });
      const calls: Libcrypto = {
        init: (ctx) => lib.symbols.MD5_Init(ctx),
        update: (ctx, bytes) => lib.symbols.MD5_Update(ctx, bytes, BigInt(bytes.length)),
        final: (out, ctx) => lib.symbols.MD5_Final(out, ctx),
      };
      return calls;
    } catch {
      // no FFI permission, or no such library: try the next name
    }
  }
  return undefined;
}

/** A new MD5 on libcrypto, or undefined where it cannot be had. */
export function nativeMd5(): NativeMd5 | undefined {
  if (libcrypto === undefined || nativeMd5Options.disabled) return undefined;
  return new NativeMd5(libcrypto);
}

/** Whether `nativeMd5()` gives a hash. */
export function nativeMd5Available(): boolean {
  return libcrypto !== undefined && !nativeMd5Options.disabled;
}

/** MD5 by libcrypto on Deno's blocking pool, one call at a time, in order. */
export class NativeMd5 implements Md5 {
  readonly #lib: Libcrypto;
  readonly #ctx = new Uint8Array(MD5_CTX_BYTES);
  /** Settles once every call made so far has returned. */
  #chain: Promise<void> = Promise.resolve();
  /** Bytes given without a callback, copied into batches, one call each. */
  readonly #copies = new CopyBatches((batch, length) =>
    this.#call(length === batch.length ? batch : batch.subarray(0, length))
  );
  #failure: Error | undefined;
  #digest: Promise<Buffer> | undefined;

  constructor(lib: Libcrypto) {
    this.#lib = lib;
    if (lib.init(this.#ctx) !== 1) throw new Error("MD5_Init failed");
  }

  update(bytes: Uint8Array, hashed?: HashedCallback): void {
    if (this.#failure !== undefined) {
      hashed?.(this.#failure);
      return;
    }
    if (hashed !== undefined) {
      this.#copies.flush(); // copied bytes that came first go first
      this.#call(bytes, hashed);
      return;
    }
    // The caller may reuse `bytes` at once: copy them.
    this.#copies.add(bytes);
  }

  /** Queues one MD5_Update of `bytes`, read in place on another thread. */
  #call(bytes: Uint8Array, hashed?: HashedCallback): void {
    const ctx = this.#ctx;
    const lib = this.#lib;
    this.#chain = this.#chain.then(async () => {
      if (this.#failure !== undefined) throw this.#failure;
      // `bytes` and `ctx` stay referenced here until the call has returned.
      const ok = await lib.update(ctx, bytes);
      if (ok !== 1) throw new Error("MD5_Update failed");
    }).then(() => hashed?.(), (error) => {
      this.#failure ??= error instanceof Error ? error : new Error(String(error));
      hashed?.(this.#failure);
    });
  }

  digest(): Promise<Buffer> {
    this.#digest ??= (() => {
      this.#copies.flush();
      return this.#chain.then(() => {
        if (this.#failure !== undefined) throw this.#failure;
        const out = new Uint8Array(16);
        if (this.#lib.final(out, this.#ctx) !== 1) throw new Error("MD5_Final failed");
        return Buffer.from(out.buffer);
      });
    })();
    return this.#digest;
  }

  drop(): void {
    this.#copies.drop();
  }
}
