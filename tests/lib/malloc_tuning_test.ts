// lib/malloc_tuning.ts keeps glibc from raising its mmap threshold after a big
// block is freed (the cache's RSS grew ~100 MiB per 1M-argument DEL without
// it). big_command_test.ts measures RSS after a full GC, which hides that
// growth, so this guards the mechanism itself, in a child process.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const PROBE = fileURLToPath(new URL("./_malloc_probe.ts", import.meta.url));

async function probe(mode: "fixed" | "default"): Promise<{ fixed: boolean; mmapped: number }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", PROBE, mode],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

Deno.test({
  name:
    "malloc tuning: after a freed 8 MiB block, a 1 MiB block is still mmapped (returned on free)",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const tuned = await probe("fixed");
    if (!tuned.fixed) return; // not glibc: nothing to tune
    assert.equal(tuned.mmapped, 1);
    // The probe can tell: glibc's own dynamic threshold keeps it in the arena.
    assert.equal((await probe("default")).mmapped, 0);
  },
});
