// lib/bytes.ts: ByteSlab hands out arrays that never overlap.

import assert from "node:assert/strict";
import { ByteSlab } from "../../lib/bytes.ts";

Deno.test({
  name: "ByteSlab cuts zeroed arrays of the size asked that never share a byte",
  permissions: "none",
  fn() {
    const slab = new ByteSlab(64);
    const taken = [];
    for (const size of [10, 16, 1, 30, 16, 7, 0, 16, 17, 200, 5]) {
      const bytes = slab.take(size);
      assert.equal(bytes.length, size);
      assert.ok(bytes.every((b) => b === 0), "zero-filled");
      bytes.fill(taken.length + 1);
      taken.push(bytes);
    }
    // Every array still holds what was written into it: none overlaps another.
    taken.forEach((bytes, i) => assert.ok(bytes.every((b) => b === i + 1), `array ${i}`));
    // Past a quarter of the slab an array gets its own buffer.
    assert.equal(slab.take(17).buffer.byteLength, 17);
    assert.equal(slab.take(16).buffer.byteLength, 64);
    assert.throws(() => new ByteSlab(8), RangeError);
  },
});
