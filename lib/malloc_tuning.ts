// Keeps the C allocator from holding on to memory a big request used.
//
// Deno's buffers (a Uint8Array's backing store) come from the C library's
// malloc. glibc serves a large block from its own mmap and gives it back on
// free, but then raises its mmap threshold to that block's size (the
// "dynamic mmap threshold", glibc malloc.c: M_MMAP_THRESHOLD): after one big
// request, every later block up to that size comes from the heap arenas,
// where freed blocks fragment and are seldom returned. Measured on the cache
// (bench/cache.ts hugeDel): three 1,000,000-argument DELs (7 MB each, so a
// read buffer grown to 8 MB and an 8 MB argument table, freed afterwards)
// took RSS from 61 to 123, 254 and 288 MiB, never given back; with the
// threshold fixed at 128 KiB, to 121, 124 and 124 MiB, where it stays.
//
// Setting M_MMAP_THRESHOLD explicitly turns the dynamic adjustment off
// (mallopt(3)), as MALLOC_MMAP_THRESHOLD_=131072 in the environment would,
// but without asking every deployment for an environment variable. The
// cost: a block of 128 KiB or more is one mmap and one munmap (a few
// microseconds); servers here allocate those only for big commands and
// replies. Needs --allow-ffi; elsewhere than glibc on Linux (macOS,
// Alpine's musl, which returns memory by itself) it does nothing.

/** mallopt's parameter number for the mmap threshold (glibc malloc.h). */
const M_MMAP_THRESHOLD = -3;
/** glibc's own default threshold, kept fixed: 128 KiB. */
export const MMAP_THRESHOLD_BYTES = 128 * 1024;

let applied: boolean | undefined;

/**
 * Fixes glibc's mmap threshold (once per process). Returns whether it is in
 * effect; false when this is not glibc or FFI is not permitted.
 */
export function fixMallocThreshold(): boolean {
  if (applied !== undefined) return applied;
  applied = false;
  if (Deno.build.os !== "linux") return applied;
  // Never prompt: without --allow-ffi the tuning is simply skipped.
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return applied;
  try {
    const libc = Deno.dlopen("libc.so.6", {
      mallopt: { parameters: ["i32", "i32"], result: "i32" },
    });
    try {
      applied = libc.symbols.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) === 1;
    } finally {
      libc.close();
    }
  } catch {
    // No glibc (musl, a static build): its allocator keeps its own policy.
  }
  return applied;
}
