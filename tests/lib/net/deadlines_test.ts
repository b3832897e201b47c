// DeadlineSweep: expires what is past its deadline, once, from a coarse clock.

import assert from "node:assert/strict";
import { DeadlineSweep, type Expiring, sweepIntervalMs } from "../../../lib/net/deadlines.ts";

function item(deadline: number): Expiring & { expired: number[] } {
  const expired: number[] = [];
  return {
    deadline,
    expired,
    expire(now) {
      expired.push(now);
    },
  };
}

Deno.test("DeadlineSweep.sweep() expires items past their deadline once, and skips 0", () => {
  const sweep = new DeadlineSweep({ intervalMs: 1_000 });
  try {
    const early = item(100);
    const late = item(500);
    const none = item(0);
    for (const entry of [early, late, none]) sweep.track(entry);
    sweep.sweep(200);
    assert.equal(sweep.now, 200);
    assert.deepEqual(early.expired, [200]);
    assert.equal(early.deadline, 0, "reset before expire()");
    assert.deepEqual(late.expired, []);
    sweep.sweep(600);
    assert.deepEqual(early.expired, [200], "fires once");
    assert.deepEqual(late.expired, [600]);
    assert.deepEqual(none.expired, []);
    sweep.untrack(late);
    late.deadline = 700;
    sweep.sweep(800);
    assert.deepEqual(late.expired, [600], "untracked");
    assert.equal(sweep.size, 2);
  } finally {
    sweep.close();
  }
});

Deno.test("DeadlineSweep runs by itself on its timer", async () => {
  const sweep = new DeadlineSweep({ intervalMs: 5 });
  // The sweep's timer is unref'd: something else must keep the test alive.
  const keepAlive = setTimeout(() => {}, 60_000);
  try {
    let resolve!: () => void;
    const expired = new Promise<void>((r) => resolve = r);
    sweep.track({ deadline: sweep.now + 1, expire: () => resolve() });
    await expired;
  } finally {
    clearTimeout(keepAlive);
    sweep.close();
  }
});

Deno.test("sweepIntervalMs() is a quarter of the shortest timeout, within [10, 250]", () => {
  assert.equal(sweepIntervalMs(10_000, 2_000), 250);
  assert.equal(sweepIntervalMs(400), 100);
  assert.equal(sweepIntervalMs(8), 10);
  assert.equal(sweepIntervalMs(), 250);
  assert.equal(sweepIntervalMs(0, 400), 100);
});
