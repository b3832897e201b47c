// ZSetValue (the counted B+tree and member index) against a plain sorted array on small sets, and
// the score formatting and parsing Redis 7.0 uses for sorted sets.

import assert from "node:assert/strict";
import {
  formatScore,
  NIL,
  parseLexBound,
  parseScore,
  parseScoreBound,
  type ScoreRange,
  type ZPos,
  ZSET_ELEMENT_OVERHEAD_BYTES,
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

/** The member at a node, or undefined for NIL. */
function memberOf(zset: ZSetValue, pos: ZPos): string | undefined {
  return pos === NIL ? undefined : zset.memberAt(pos);
}

/** Members from the tail back to the head, by the backward links. */
function backward(zset: ZSetValue): string[] {
  const members: string[] = [];
  for (let pos = zset.last(); pos !== NIL; pos = zset.prev(pos)) members.push(zset.memberAt(pos));
  return members;
}

function modelOrder(model: Map<string, number>): [string, number][] {
  return [...model].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

Deno.test({
  name: "ZSetValue keeps (score, member) order, ranks and range ends through random changes",
  permissions: "none",
  fn() {
    const next = random(7);
    const zset = new ZSetValue();
    const model = new Map<string, number>();
    for (let step = 0; step < 3000; step++) {
      const member = `m${Math.floor(next() * 200)}`;
      if (next() < 0.3) {
        assert.equal(zset.delete(member), model.delete(member));
      } else {
        const score = Math.floor(next() * 50) - 25;
        zset.set(member, score);
        model.set(member, score);
      }
      if (step % 50 !== 0) continue;
      const order = modelOrder(model);
      assert.deepEqual([...zset.entries()], order);
      assert.equal(zset.size, order.length);
      for (let rank = 0; rank < order.length; rank++) {
        assert.equal(zset.rank(order[rank][0]), rank);
        assert.equal(memberOf(zset, zset.byRank(rank)), order[rank][0]);
      }
      assert.equal(zset.byRank(order.length), NIL);
      assert.equal(memberOf(zset, zset.last()), order.at(-1)?.[0]);
      // Walking backward from the tail gives the reverse order.
      assert.deepEqual(backward(zset), order.map(([m]) => m).reverse());
      const lo = Math.floor(next() * 60) - 30;
      const range: ScoreRange = {
        min: lo,
        max: lo + Math.floor(next() * 20),
        minExclusive: next() < 0.5,
        maxExclusive: next() < 0.5,
      };
      const inside = order.filter(([, s]) =>
        (range.minExclusive ? s > range.min : s >= range.min) &&
        (range.maxExclusive ? s < range.max : s <= range.max)
      );
      assert.equal(memberOf(zset, zset.firstInScore(range)), inside[0]?.[0]);
      assert.equal(memberOf(zset, zset.lastInScore(range)), inside.at(-1)?.[0]);
    }
  },
});

Deno.test({
  name: "ZSetValue reuses freed leaves and ids when emptied, refilled and reordered",
  permissions: "none",
  fn() {
    const next = random(11);
    const zset = new ZSetValue();
    for (let round = 0; round < 3; round++) {
      const model = new Map<string, number>();
      for (let i = 0; i < 2000; i++) {
        const member = `r${round}m${i}`;
        const score = Math.floor(next() * 100);
        zset.set(member, score);
        model.set(member, score);
      }
      // Move half of them (a delete and an insert each), then check both walks.
      for (const member of [...model.keys()].filter((_, i) => i % 2 === 0)) {
        const score = Math.floor(next() * 100) - 50;
        zset.set(member, score);
        model.set(member, score);
      }
      const order = modelOrder(model);
      assert.deepEqual([...zset.entries()], order);
      assert.deepEqual(backward(zset), order.map(([m]) => m).reverse());
      for (let rank = 0; rank < order.length; rank += 97) {
        assert.equal(zset.rank(order[rank][0]), rank);
        assert.equal(memberOf(zset, zset.byRank(rank)), order[rank][0]);
      }
      // Drain it (the pool is rebuilt smaller on the way), checking what is left.
      for (const member of [...model.keys()]) {
        assert.equal(zset.delete(member), true);
        model.delete(member);
        if (model.size !== 100) continue;
        const rest = modelOrder(model);
        assert.deepEqual([...zset.entries()], rest);
        assert.deepEqual(backward(zset), rest.map(([m]) => m).reverse());
        rest.forEach(([m], rank) => {
          assert.equal(zset.rank(m), rank);
          assert.equal(memberOf(zset, zset.byRank(rank)), m);
        });
      }
      assert.equal(zset.size, 0);
      assert.equal(zset.first(), NIL);
      assert.equal(zset.last(), NIL);
    }
  },
});

Deno.test({
  name: "ZSetValue's member index finds members by string and by bytes as it grows and shrinks",
  permissions: "none",
  fn() {
    const next = random(5);
    const zset = new ZSetValue();
    const model = new Map<string, number>();
    const bytes = (member: string) => Uint8Array.from(member, (c) => c.charCodeAt(0));
    const check = () => {
      assert.equal(zset.size, model.size);
      for (let i = 0; i < 3000; i += 7) {
        const member = `k${i}`;
        assert.equal(zset.score(member), model.get(member), member);
        const pos = zset.findBytes(bytes(member));
        assert.equal(pos === NIL ? undefined : zset.scoreAt(pos), model.get(member), member);
      }
    };
    // Grow to 3000 members (the index doubles from 8 slots), churn, then
    // drain to a few (it halves, and deletes shift entries back).
    for (let step = 0; step < 20000; step++) {
      const member = `k${Math.floor(next() * 3000)}`;
      const draining = step >= 12000;
      if (next() < (draining ? 0.9 : 0.2)) {
        assert.equal(zset.delete(member), model.delete(member));
      } else {
        const score = Math.floor(next() * 100);
        zset.set(member, score);
        model.set(member, score);
      }
      if (step % 1000 === 0) check();
    }
    check();
    assert.deepEqual([...zset.entries()], modelOrder(model));
    assert.equal(zset.findBytes(bytes("")), NIL);
  },
});

Deno.test({
  name:
    "ZSetValue.move() changes a score in place or moves the element, keeping (score, member) order",
  permissions: "none",
  fn() {
    const zset = new ZSetValue();
    for (const [member, score] of [["a", 1], ["b", 2], ["c", 3], ["d", 3], ["e", 5]] as const) {
      zset.set(member, score);
    }
    const c = zset.find("c");
    zset.move(c, 2.5); // between b (2) and d (3): in place
    assert.equal(zset.find("c"), c);
    zset.move(c, 3); // ties d at 3, and "c" < "d": still in place
    assert.equal(zset.find("c"), c);
    assert.deepEqual([...zset.entries()].map(([m]) => m), ["a", "b", "c", "d", "e"]);
    zset.move(c, 0); // past a: taken out and inserted again
    assert.equal(zset.scoreAt(zset.find("c")), 0);
    const d = zset.find("d");
    zset.move(d, 1); // ties a at 1, and "d" > "a": after a
    assert.deepEqual([...zset.entries()], [["c", 0], ["a", 1], ["d", 1], ["b", 2], ["e", 5]]);
    assert.deepEqual(backward(zset), ["e", "b", "d", "a", "c"]);
    ["c", "a", "d", "b", "e"].forEach((member, rank) => assert.equal(zset.rank(member), rank));
    zset.move(zset.find("e"), -0); // -0 is stored as 0, as Redis's listpacks do
    assert.ok(Object.is(zset.score("e"), 0));
    assert.deepEqual([...zset.entries()].map(([m]) => m), ["c", "e", "a", "d", "b"]);
  },
});

Deno.test({
  name: "ZSetValue finds lex range ends when all scores are equal",
  permissions: "none",
  fn() {
    const zset = new ZSetValue();
    for (const member of ["a", "b", "c", "d", "ab"]) zset.set(member, 0);
    const range = { min: parseLexBound("(a")!, max: parseLexBound("[c")! };
    assert.equal(memberOf(zset, zset.firstInLex(range)), "ab");
    assert.equal(memberOf(zset, zset.lastInLex(range)), "c");
    const empty = { min: parseLexBound("(d")!, max: parseLexBound("+")! };
    assert.equal(zset.firstInLex(empty), NIL);
  },
});

Deno.test({
  name: "ZSetValue counts its bytes and gives them back when members leave",
  permissions: "none",
  fn() {
    const zset = new ZSetValue();
    zset.set("abc", 1);
    zset.set("abc", 2);
    zset.set("de", 3);
    assert.equal(zset.bytes, 5 + 2 * ZSET_ELEMENT_OVERHEAD_BYTES);
    zset.delete("abc");
    zset.delete("de");
    assert.equal(zset.bytes, 0);
  },
});

Deno.test({
  name: "ZSetValue's code stays optimized (V8 does not deoptimize it over and over)",
  async fn() {
    // A double where V8 had speculated int32 (the skip list's random level,
    // before the B+tree) made it throw away and rebuild the insert path on
    // every few inserts: 20-40 us per insert into a 1M-member set instead of
    // about 1. Counted, not timed: 417 deoptimizations in this run before
    // that fix, 11 after; the B+tree's index and node arithmetic is int32
    // throughout for the same reason.
    const script = new URL("./zset_deopt.ts", import.meta.url).pathname;
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--v8-flags=--trace-deopt", script, "50000"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const bailouts = new TextDecoder().decode(stdout).split("\n")
      .filter((line) => line.includes("bailout"));
    assert.ok(
      bailouts.length < 60,
      `${bailouts.length} deoptimizations:\n${bailouts.slice(0, 5).join("\n")}`,
    );
  },
});

Deno.test({
  name: "formatScore() prints as Redis 7.0's %.17g",
  permissions: "none",
  fn() {
    const cases: [number, string][] = [
      [1, "1"],
      [1.5, "1.5"],
      [0.1, "0.10000000000000001"],
      [-2.25, "-2.25"],
      [1e20, "1e+20"],
      [1e16, "10000000000000000"],
      [1e17, "1e+17"],
      [3e-7, "2.9999999999999999e-07"],
      [0.0001, "0.0001"],
      [123456789.123, "123456789.123"],
      [0, "0"],
      [-0, "-0"],
      [Infinity, "inf"],
      [-Infinity, "-inf"],
      // The safe-integer fast path and its edges (expected texts from C's %.17g).
      [-42, "-42"],
      [9007199254740991, "9007199254740991"],
      [-9007199254740991, "-9007199254740991"],
      [9007199254740992, "9007199254740992"],
      [12345678901234568, "12345678901234568"],
    ];
    for (const [n, text] of cases) assert.equal(formatScore(n), text, String(n));
  },
});

Deno.test({
  name: "parseScore() takes what Redis's getDoubleFromObject takes",
  permissions: "none",
  fn() {
    const cases: [string, number | null][] = [
      ["1", 1],
      ["-1.5", -1.5],
      ["inf", Infinity],
      ["+inf", Infinity],
      ["-Infinity", -Infinity],
      ["1e3", 1000],
      [".5", 0.5],
      ["nan", null],
      ["", null],
      [" 1", null],
      ["1 ", null],
      ["1e400", null],
      ["1e-400", null],
      ["x", null],
      // The short-integer fast path and its edges.
      ["-", null],
      ["007", 7],
      ["-0", -0],
      ["123456789012345", 123456789012345],
      ["1234567890123456789", 1234567890123456789],
      ["1-2", null],
    ];
    for (const [text, n] of cases) assert.equal(parseScore(text), n, text);
  },
});

Deno.test({
  name: "parseScoreBound() and parseLexBound() read range bounds as Redis does",
  permissions: "none",
  fn() {
    assert.deepEqual(parseScoreBound("(1.5"), { value: 1.5, exclusive: true });
    assert.deepEqual(parseScoreBound("-inf"), { value: -Infinity, exclusive: false });
    assert.deepEqual(parseScoreBound(""), { value: 0, exclusive: false });
    assert.deepEqual(parseScoreBound("1e400"), { value: Infinity, exclusive: false });
    assert.equal(parseScoreBound("x"), null);
    assert.equal(parseScoreBound("(nan"), null);
    assert.deepEqual(parseLexBound("[a"), { kind: "value", value: "a", exclusive: false });
    assert.deepEqual(parseLexBound("(a"), { kind: "value", value: "a", exclusive: true });
    assert.deepEqual(parseLexBound("-"), { kind: "-" });
    assert.deepEqual(parseLexBound("+"), { kind: "+" });
    assert.equal(parseLexBound("a"), null);
    assert.equal(parseLexBound(""), null);
  },
});
