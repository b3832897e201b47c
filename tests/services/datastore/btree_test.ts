// B+tree tests: randomized inserts, deletes and range scans (both ways)
// checked against a sorted in-memory model, with key sizes that force many
// splits and merges, over a small buffer pool so pages are written and read
// back through checkpoints-free flushes.

import assert from "node:assert/strict";
import { join } from "node:path";
import { BTree, KEY_BYTES_MAX, type ScanRange } from "../../../services/datastore/storage/btree.ts";
import { realFiles } from "../../../lib/fs/file_layer.ts";
import { BufferPool } from "../../../services/datastore/storage/buffer_pool.ts";
import { compareBytes } from "../../../services/datastore/storage/row_codec.ts";
import { LimitError } from "../../../lib/errors.ts";
import { PageType } from "../../../services/datastore/storage/pages.ts";

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}

function keyOf(n: number, width: number): Uint8Array<ArrayBuffer> {
  const text = n.toString().padStart(8, "0");
  const out = new Uint8Array(8 + width);
  for (let i = 0; i < 8; i++) out[i] = text.charCodeAt(i);
  return out;
}

async function withPool(fn: (pool: BufferPool) => void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "underhood-btree-" });
  const pool = new BufferPool({
    files: realFiles,
    dataPath: join(dir, "data.db"),
    doubleWritePath: join(dir, "data.dwrite"),
    capacityPages: 32,
  });
  pool.allocate(PageType.meta);
  try {
    fn(pool);
  } finally {
    pool.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function modelScan(model: Map<string, [Uint8Array, Uint8Array]>, range: ScanRange) {
  const entries = [...model.values()].sort((a, b) => compareBytes(a[0], b[0]));
  const within = entries.filter(([key]) => {
    if (range.lower) {
      const c = compareBytes(key, range.lower.key);
      if (range.lower.inclusive ? c < 0 : c <= 0) return false;
    }
    if (range.upper) {
      const c = compareBytes(key, range.upper.key);
      if (range.upper.inclusive ? c > 0 : c >= 0) return false;
    }
    return true;
  });
  return range.reverse ? within.reverse() : within;
}

for (
  const { seed, width } of [{ seed: 1, width: 0 }, { seed: 2, width: 300 }, { seed: 3, width: 900 }]
) {
  Deno.test(`BTree matches a model under random inserts, deletes and scans (keys +${width} bytes)`, async () => {
    await withPool((pool) => {
      const tree = new BTree(pool, BTree.create(pool));
      const model = new Map<string, [Uint8Array, Uint8Array]>();
      const random = rng(seed);
      const ops = width > 500 ? 3000 : 6000;
      for (let i = 0; i < ops; i++) {
        const n = random(2000);
        const key = keyOf(n, random(2) ? width : width >> 1);
        const id = String(key);
        // Grow for the first half, then shrink: exercises splits, then merges.
        const deleting = i > ops / 2 ? random(3) !== 0 : random(4) === 0;
        if (deleting) {
          const hit = [...model.values()][random(Math.max(1, model.size))];
          if (hit) {
            assert.ok(tree.delete(hit[0]));
            model.delete(String(hit[0]));
          }
          assert.equal(tree.delete(keyOf(5000 + n, 0)), false);
        } else {
          const value = new Uint8Array([n & 0xff, n >> 8]);
          assert.equal(tree.insert(key, value), !model.has(id));
          if (!model.has(id)) model.set(id, [key, value]);
        }
        if (i % 500 === 0) {
          pool.flush();
          pool.evict();
        }
        if (i % 97 === 0) {
          const a = keyOf(random(2000), 0), b = keyOf(random(2000), 0);
          const [lo, hi] = compareBytes(a, b) <= 0 ? [a, b] : [b, a];
          const range: ScanRange = {
            lower: random(4) ? { key: lo, inclusive: random(2) === 0 } : undefined,
            upper: random(4) ? { key: hi, inclusive: random(2) === 0 } : undefined,
            reverse: random(2) === 0,
          };
          const limit = 1 + random(300);
          const got = tree.scan(range, limit).map((e) => [e.key, e.value]);
          assert.deepEqual(got, modelScan(model, range).slice(0, limit), `scan at op ${i}`);
        }
      }
      const all = tree.scan({}, 1e9).map((e) => [e.key, e.value]);
      assert.deepEqual(all, modelScan(model, {}));
      const back = tree.scan({ reverse: true }, 1e9).map((e) => [e.key, e.value]);
      assert.deepEqual(back, modelScan(model, { reverse: true }));
      for (const [key, value] of model.values()) assert.deepEqual(tree.get(key), value);
      // Absent keys too, among present ones that share all their bytes but the
      // last few, or are their prefixes (get()'s search skips shared prefixes).
      for (let n = 0; n < 2100; n += 7) {
        for (const w of [0, width >> 1, width, width + 1]) {
          const key = keyOf(n, w);
          assert.deepEqual(tree.get(key), model.get(String(key))?.[1], `get ${n} +${w}`);
        }
      }
      // Delete everything: the tree collapses back to one empty root leaf.
      for (const [key] of model.values()) assert.ok(tree.delete(key));
      assert.deepEqual(tree.scan({}, 10), []);
      assert.deepEqual(tree.pages(), [tree.root]);
    });
  });
}

Deno.test("BTree.insert() refuses keys over the key size limit", async () => {
  await withPool((pool) => {
    const tree = new BTree(pool, BTree.create(pool));
    assert.throws(
      () => tree.insert(new Uint8Array(KEY_BYTES_MAX + 1), new Uint8Array(1)),
      LimitError,
    );
    assert.ok(tree.insert(new Uint8Array(KEY_BYTES_MAX), new Uint8Array(1)));
  });
});
