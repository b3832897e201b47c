// ZSetValue's counted B+tree against a plain sorted array, at sizes that
// make it several levels tall: random inserts, moves and deletes, fills in
// ascending and descending order (appends start new leaves; the other end
// splits), drains that merge leaves and nodes and shrink the root, and
// ties broken by member. After each batch the tree checks its own
// invariants (verify(): counts, separators, leaf chain, member index) and
// every order, rank and range end is compared with the model's.

import assert from "node:assert/strict";
import {
  type LexRange,
  NIL,
  parseLexBound,
  type ScoreRange,
  type ZPos,
  ZSetValue,
} from "../../../services/cache/zset.ts";

/** A seeded generator (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function order(model: Map<string, number>): [string, number][] {
  return [...model].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function memberOf(zset: ZSetValue, pos: ZPos): string | undefined {
  return pos === NIL ? undefined : zset.memberAt(pos);
}

/** Everything the set answers, against the model, with `samples` random ranks and ranges. */
function check(zset: ZSetValue, model: Map<string, number>, next: () => number, samples = 50) {
  zset.verify();
  const sorted = order(model);
  assert.equal(zset.size, sorted.length);
  assert.deepEqual([...zset.entries()], sorted);
  const backward: string[] = [];
  for (let pos = zset.last(); pos !== NIL; pos = zset.prev(pos)) backward.push(zset.memberAt(pos));
  assert.deepEqual(backward, sorted.map(([m]) => m).reverse());
  assert.equal(zset.byRank(sorted.length), NIL);
  assert.equal(zset.byRank(-1), NIL);
  if (sorted.length === 0) {
    assert.equal(zset.first(), NIL);
    assert.equal(zset.last(), NIL);
    return;
  }
  for (let k = 0; k < samples; k++) {
    const rank = Math.floor(next() * sorted.length);
    const [member, score] = sorted[rank];
    assert.equal(zset.rank(member), rank, member);
    assert.equal(memberOf(zset, zset.byRank(rank)), member);
    assert.equal(zset.score(member), score);
    const bytes = Uint8Array.from(member, (c) => c.charCodeAt(0));
    assert.equal(zset.findBytes(bytes), zset.find(member));
    // A score range around an existing score, ends inclusive or not.
    const other = sorted[Math.floor(next() * sorted.length)][1];
    const range: ScoreRange = {
      min: Math.min(score, other) - (next() < 0.3 ? 0.5 : 0),
      max: Math.max(score, other) + (next() < 0.3 ? 0.5 : 0),
      minExclusive: next() < 0.5,
      maxExclusive: next() < 0.5,
    };
    const inside = sorted.filter(([, s]) =>
      (range.minExclusive ? s > range.min : s >= range.min) &&
      (range.maxExclusive ? s < range.max : s <= range.max)
    );
    assert.equal(memberOf(zset, zset.firstInScore(range)), inside[0]?.[0], JSON.stringify(range));
    assert.equal(
      memberOf(zset, zset.lastInScore(range)),
      inside.at(-1)?.[0],
      JSON.stringify(range),
    );
  }
}

Deno.test({
  name: "ZSetValue's tree matches a sorted array through random inserts, moves and deletes",
  permissions: "none",
  fn() {
    for (const seed of [1, 2, 3]) {
      const next = random(seed);
      const zset = new ZSetValue();
      const model = new Map<string, number>();
      // Few distinct scores, so ties (ordered by member) cross leaf boundaries.
      const scores = seed === 1 ? 20 : 100_000;
      for (let step = 0; step < 40_000; step++) {
        // Grow to about 12k members, then drain.
        const growing = step < 25_000;
        const member = `m${Math.floor(next() * 15_000)}`;
        const roll = next();
        if (roll < (growing ? 0.15 : 0.75)) {
          assert.equal(zset.delete(member), model.delete(member));
        } else {
          const score = Math.floor(next() * scores) - scores / 2;
          zset.set(member, score);
          model.set(member, score);
        }
        if (step % 2000 === 1999) check(zset, model, next);
      }
      for (const member of [...model.keys()]) {
        zset.delete(member);
        model.delete(member);
        if (model.size % 1500 === 0) check(zset, model, next);
      }
      check(zset, model, next);
    }
  },
});

Deno.test({
  name: "ZSetValue's tree fills in ascending and descending order and drains from either end",
  permissions: "none",
  fn() {
    const next = random(9);
    for (const ascending of [true, false]) {
      for (const drainFromFront of [true, false]) {
        const zset = new ZSetValue();
        const model = new Map<string, number>();
        const n = 20_000;
        for (let i = 0; i < n; i++) {
          const score = ascending ? i : n - i;
          zset.add(`e${i}`, score);
          model.set(`e${i}`, score);
          if (i % 4999 === 0) check(zset, model, next, 10);
        }
        check(zset, model, next);
        const sorted = order(model).map(([m]) => m);
        if (!drainFromFront) sorted.reverse();
        for (let k = 0; k < sorted.length; k++) {
          assert.equal(zset.delete(sorted[k]), true);
          model.delete(sorted[k]);
          if (k % 3001 === 0 || model.size < 70) check(zset, model, next, 5);
        }
        check(zset, model, next);
      }
    }
  },
});

Deno.test({
  name: "ZSetValue's tree moves elements in place, within a leaf and across the whole set",
  permissions: "none",
  fn() {
    const next = random(21);
    const zset = new ZSetValue();
    const model = new Map<string, number>();
    for (let i = 0; i < 5000; i++) {
      zset.add(`x${i}`, i);
      model.set(`x${i}`, i);
    }
    for (let step = 0; step < 30_000; step++) {
      const member = `x${Math.floor(next() * 5000)}`;
      const current = model.get(member)!;
      const roll = next();
      // Small steps (in place), a few places (within the leaf, mostly), big jumps, and
      // onto existing scores (ties).
      const score = roll < 0.25
        ? current + (next() < 0.5 ? 0.25 : -0.25)
        : roll < 0.5
        ? current + Math.floor(next() * 13) - 6
        : roll < 0.75
        ? Math.floor(next() * 5000)
        : next() * 10_000 - 2500;
      zset.move(zset.find(member), score);
      model.set(member, score);
      if (step % 3000 === 2999) check(zset, model, next);
    }
    check(zset, model, next, 500);
  },
});

Deno.test({
  name: "ZSetValue's tree finds lex range ends over many equal scores, across leaves",
  permissions: "none",
  fn() {
    const next = random(33);
    const zset = new ZSetValue();
    const members: string[] = [];
    for (let i = 0; i < 6000; i++) {
      // Variable-length binary members: prefixes of each other, bytes above 0x7f.
      const length = 1 + Math.floor(next() * 4);
      const member = Array.from(
        { length },
        () =>
          String.fromCharCode(
            next() < 0.2 ? 0x80 + Math.floor(next() * 128) : 97 + Math.floor(next() * 4),
          ),
      ).join("");
      if (!zset.has(member)) members.push(member);
      zset.set(member, 0);
    }
    for (let k = 0; k < members.length; k += 3) zset.delete(members[k]);
    const left = members.filter((_, k) => k % 3 !== 0).sort();
    const bounds = [
      "-",
      "+",
      ...left.slice(0, 200).flatMap((m) => [`[${m}`, `(${m}`]),
      "[b",
      "(c",
      "[\x90",
    ];
    for (let k = 0; k < 400; k++) {
      const range: LexRange = {
        min: parseLexBound(bounds[Math.floor(next() * bounds.length)])!,
        max: parseLexBound(bounds[Math.floor(next() * bounds.length)])!,
      };
      const inside = left.filter((m) => {
        const aboveMin = range.min.kind === "-" ||
          (range.min.kind === "value" &&
            (range.min.exclusive ? m > range.min.value : m >= range.min.value));
        const belowMax = range.max.kind === "+" ||
          (range.max.kind === "value" &&
            (range.max.exclusive ? m < range.max.value : m <= range.max.value));
        return aboveMin && belowMax;
      });
      assert.equal(memberOf(zset, zset.firstInLex(range)), inside[0], JSON.stringify(range));
      assert.equal(memberOf(zset, zset.lastInLex(range)), inside.at(-1), JSON.stringify(range));
    }
    zset.verify();
  },
});
