// The balancing algorithms, pure: no sockets, no clock, a seeded random.

import assert from "node:assert/strict";
import { Balancer, buildRing, type Candidate } from "../../../services/lb/balancer.ts";

function backends(weights: number[], active: number[] = []): Candidate[] {
  return weights.map((weight, i) => ({
    id: `http://127.0.0.1:${9000 + i}`,
    weight,
    active: active[i] ?? 0,
    available: true,
  }));
}

function seeded(seed: number): () => number {
  // mulberry32
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function letters(balancer: Balancer, list: Candidate[], n: number): string {
  let out = "";
  for (let i = 0; i < n; i++) {
    const c = balancer.pick(list)!;
    out += "abcdefgh"[list.indexOf(c)];
  }
  return out;
}

Deno.test(
  { name: "round-robin takes each backend in turn and ignores weights", permissions: "none" },
  () => {
    const b = new Balancer("round-robin");
    assert.equal(letters(b, backends([1, 5, 1]), 9), "abcabcabc");
  },
);

Deno.test(
  {
    name: "weighted-round-robin is nginx's smooth sequence (5,1,1: a a b a c a a)",
    permissions: "none",
  },
  () => {
    const b = new Balancer("weighted-round-robin");
    // The sequence nginx documents for weights 5, 1, 1 (ngx_http_upstream_round_robin.c).
    assert.equal(letters(b, backends([5, 1, 1]), 14), "aabacaaaabacaa");
  },
);

Deno.test(
  { name: "round-robin skips unavailable and excluded backends", permissions: "none" },
  () => {
    const b = new Balancer("round-robin");
    const list = backends([1, 1, 1]);
    const down = list.map((c, i) => i === 1 ? { ...c, available: false } : c);
    assert.equal(letters(b, down, 4).includes("b"), false);
    const picked = b.pick(list, { exclude: new Set([list[0].id, list[2].id]) });
    assert.equal(picked, list[1]);
    assert.equal(b.pick(down, { exclude: new Set([list[0].id, list[2].id]) }), undefined);
  },
);

Deno.test(
  { name: "slow start scales a backend's share with its warmth", permissions: "none" },
  () => {
    const b = new Balancer("round-robin");
    const list = backends([1, 1]).map((c, i) => i === 1 ? { ...c, warmth: 0.25 } : c);
    const counts = [0, 0];
    for (let i = 0; i < 1000; i++) counts[list.indexOf(b.pick(list)!)]++;
    assert.equal(counts[1], 200, "a quarter of the first's share: 1000 * 0.25 / 1.25");
  },
);

Deno.test(
  { name: "least-connections picks the fewest in flight per weight", permissions: "none" },
  () => {
    const b = new Balancer("least-connections");
    assert.equal(b.pick(backends([1, 1, 1], [3, 1, 2]))!.id, "http://127.0.0.1:9001");
    // 4 in flight on weight 4 is lighter than 2 on weight 1.
    assert.equal(b.pick(backends([1, 4], [2, 4]))!.id, "http://127.0.0.1:9001");
    // Ties spread in turn.
    const idle = backends([1, 1, 1]);
    assert.equal(new Set([0, 1, 2].map(() => b.pick(idle)!.id)).size, 3);
  },
);

Deno.test(
  { name: "power-of-two-choices never picks the busier of its two", permissions: "none" },
  () => {
    const b = new Balancer("power-of-two-choices", { random: seeded(7) });
    const list = backends([1, 1, 1, 1], [0, 9, 9, 9]);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 1200; i++) counts[list.indexOf(b.pick(list)!)]++;
    // The idle one wins every draw it is in: half of all draws with 4 backends.
    assert.ok(counts[0] > 500 && counts[0] < 700, `idle picked ${counts[0]} of 1200`);
    // And the most loaded is never chosen when two distinct are drawn and one is idle.
    const two = backends([1, 1], [5, 0]);
    for (let i = 0; i < 50; i++) assert.equal(b.pick(two), two[1]);
  },
);

Deno.test({
  name: "consistent-hash sends a key to the same backend every time",
  permissions: "none",
}, () => {
  const b = new Balancer("consistent-hash");
  const list = backends([1, 1, 1]);
  for (let k = 0; k < 50; k++) {
    const first = b.pick(list, { key: `user-${k}` });
    for (let i = 0; i < 3; i++) assert.equal(b.pick(list, { key: `user-${k}` }), first);
  }
});

Deno.test(
  {
    name: "consistent-hash moves only about 1/n of keys when a backend is added",
    permissions: "none",
  },
  () => {
    const b = new Balancer("consistent-hash");
    const three = backends([1, 1, 1]);
    const four = backends([1, 1, 1, 1]);
    const keys = Array.from({ length: 4000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
    const before = keys.map((key) => b.pick(three, { key })!.id);
    const after = keys.map((key) => b.pick(four, { key })!.id);
    let moved = 0;
    for (let i = 0; i < keys.length; i++) {
      if (before[i] !== after[i]) {
        moved++;
        assert.equal(after[i], four[3].id, "a key only ever moves to the new backend");
      }
    }
    // Ideal: 1/4 of the keys. Allow the ring's spread.
    assert.ok(moved > 4000 * 0.17 && moved < 4000 * 0.33, `moved ${moved} of 4000`);
    // The spread over the four is even within a few tens of percent.
    const counts = new Map<string, number>();
    for (const id of after) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const n of counts.values()) assert.ok(n > 700 && n < 1300, `a backend got ${n}`);
  },
);

Deno.test(
  {
    name: "consistent-hash sends an unavailable backend's keys to neighbours, and back",
    permissions: "none",
  },
  () => {
    const b = new Balancer("consistent-hash");
    const list = backends([1, 1, 1]);
    const keys = Array.from({ length: 600 }, (_, i) => `k${i}`);
    const before = keys.map((key) => b.pick(list, { key })!.id);
    const down = list.map((c, i) => i === 0 ? { ...c, available: false } : c);
    const during = keys.map((key) => b.pick(down, { key })!.id);
    for (let i = 0; i < keys.length; i++) {
      if (before[i] !== list[0].id) assert.equal(during[i], before[i], "other keys stay put");
      else assert.notEqual(during[i], list[0].id);
    }
    assert.deepEqual(keys.map((key) => b.pick(list, { key })!.id), before);
  },
);

Deno.test(
  { name: "consistent-hash without a key falls back to round-robin", permissions: "none" },
  () => {
    const b = new Balancer("consistent-hash");
    assert.equal(letters(b, backends([1, 1]), 4), "abab");
  },
);

Deno.test({ name: "buildRing gives weight-proportional points", permissions: "none" }, () => {
  const ring = buildRing([{ id: "a", weight: 1 }, { id: "b", weight: 3 }]);
  assert.equal(
    ring.ids.filter((id) => id === "a").length * 3,
    ring.ids.filter((id) => id === "b").length,
  );
  for (let i = 1; i < ring.hashes.length; i++) assert.ok(ring.hashes[i - 1] <= ring.hashes[i]);
});
