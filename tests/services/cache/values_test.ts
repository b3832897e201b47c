// toKey() and fromKey(): binary strings round-trip every byte at every
// length, through each of toKey's paths (tiny, reused array, apply, chunked).

import assert from "node:assert/strict";
import { fromKey, toKey } from "../../../services/cache/values.ts";

Deno.test({
  name: "toKey() maps each byte to one char and fromKey() maps it back, at every length",
  permissions: "none",
  fn() {
    const lengths = [...Array.from({ length: 80 }, (_, n) => n), 8192, 8193, 20_000];
    for (const n of lengths) {
      const bytes = new Uint8Array(n);
      for (let i = 0; i < n; i++) bytes[i] = (i * 37 + n) & 255;
      const text = toKey(bytes);
      assert.equal(text.length, n);
      for (let i = 0; i < n; i++) assert.equal(text.charCodeAt(i), bytes[i], `length ${n} at ${i}`);
      assert.deepEqual(fromKey(text), bytes);
    }
  },
});

Deno.test({
  name: "toKey() gives a fresh string each call, unaffected by later calls of the same length",
  permissions: "none",
  fn() {
    const first = toKey(new TextEncoder().encode("counter:one"));
    const second = toKey(new TextEncoder().encode("counter:two"));
    assert.equal(first, "counter:one");
    assert.equal(second, "counter:two");
  },
});
