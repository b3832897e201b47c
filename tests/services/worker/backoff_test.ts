// backoffDelayMs(): doubling from the base, within [d/2, d], never past the cap.

import assert from "node:assert/strict";
import { backoffDelayMs, sleep } from "../../../services/worker/backoff.ts";

const OPTIONS = { baseMs: 100, maxMs: 5_000 };

Deno.test("backoffDelayMs() doubles per retry, jittered within [d/2, d]", () => {
  assert.deepEqual([0, 1, 2, 3].map((n) => backoffDelayMs(n, OPTIONS, () => 0)), [
    50,
    100,
    200,
    400,
  ]);
  assert.deepEqual([0, 1, 2, 3].map((n) => backoffDelayMs(n, OPTIONS, () => 1)), [
    100,
    200,
    400,
    800,
  ]);
});

Deno.test("backoffDelayMs() stays under maxMs however many retries", () => {
  for (const retry of [6, 10, 100, 10_000, Number.MAX_SAFE_INTEGER]) {
    const delay = backoffDelayMs(retry, OPTIONS, () => 1);
    assert.equal(delay, 5_000);
    assert.ok(backoffDelayMs(retry, OPTIONS, () => 0) >= 2_500);
  }
});

Deno.test("sleep() ends early, with false, when aborted", async () => {
  const stop = new AbortController();
  const slept = sleep(60_000, stop.signal);
  stop.abort();
  assert.equal(await slept, false);
  assert.equal(await sleep(1), true);
});
