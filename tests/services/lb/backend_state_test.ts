// Backend health state and the retry budget, pure, with the clock driven by hand.

import assert from "node:assert/strict";
import { BackendState } from "../../../services/lb/backend_state.ts";
import { HEALTH_DEFAULTS } from "../../../services/lb/config.ts";
import { RetryBudget } from "../../../services/lb/retry_budget.ts";

const CHECK = { ...HEALTH_DEFAULTS, rise: 2, fall: 3 };

Deno.test({
  name: "BackendState goes down after `fall` failed checks and up after `rise`",
  permissions: "none",
}, () => {
  const b = new BackendState("http://127.0.0.1:1", 1);
  assert.equal(b.state(0), "up");
  assert.equal(b.recordCheck(false, 0, CHECK), false);
  assert.equal(b.recordCheck(false, 0, CHECK), false);
  assert.equal(b.recordCheck(true, 0, CHECK), false, "a pass resets the failure run");
  for (let i = 0; i < 2; i++) b.recordCheck(false, 0, CHECK);
  assert.equal(b.recordCheck(false, 0, CHECK), true);
  assert.equal(b.state(0), "down");
  assert.equal(b.available(0, 10), false);
  assert.equal(b.recordCheck(true, 100, CHECK), false);
  assert.equal(b.recordCheck(true, 100, CHECK), true);
  assert.equal(b.state(100), "up");
});

Deno.test({
  name: "BackendState ejects after consecutive failed requests for the cool-down",
  permissions: "none",
}, () => {
  const b = new BackendState("http://127.0.0.1:1", 1);
  const passive = { failures: 3, cooldownMs: 1000 };
  assert.equal(b.recordFailure(0, passive), false);
  assert.equal(b.recordFailure(0, passive), false);
  b.recordSuccess();
  assert.equal(b.recordFailure(0, passive), false, "a success resets the run");
  b.recordFailure(0, passive);
  assert.equal(b.recordFailure(10, passive), true);
  assert.equal(b.state(500), "ejected");
  assert.equal(b.ejectedUntilMs, 1010);
  assert.equal(b.state(1010), "up");
  assert.equal(b.recordFailure(0, { failures: 0, cooldownMs: 1000 }), false, "0 turns it off");
});

Deno.test({
  name: "BackendState slow start ramps from 10% to full after recovery",
  permissions: "none",
}, () => {
  const b = new BackendState("http://127.0.0.1:1", 1);
  assert.equal(b.warmth(0, 1000), 1, "a backend that never failed is warm");
  for (let i = 0; i < 3; i++) b.recordCheck(false, 0, CHECK);
  b.recordCheck(true, 5000, CHECK);
  b.recordCheck(true, 5000, CHECK);
  assert.equal(b.warmth(5000, 1000), 0.1);
  assert.ok(Math.abs(b.warmth(5500, 1000) - 0.55) < 1e-9);
  assert.equal(b.warmth(6000, 1000), 1);
  assert.equal(b.warmth(5000, 0), 1, "no slow start configured");
});

Deno.test({
  name: "BackendState counts a backend at its connection cap as unavailable",
  permissions: "none",
}, () => {
  const b = new BackendState("http://127.0.0.1:1", 1);
  b.active = 2;
  assert.equal(b.available(0, 3), true);
  b.active = 3;
  assert.equal(b.available(0, 3), false);
});

Deno.test({
  name: "RetryBudget lets retries add at most the ratio plus a floor per second",
  permissions: "none",
}, () => {
  const budget = new RetryBudget({ ratio: 0.1, minPerSecond: 0 }, 0);
  // Starts with its cap: ratio x 100 = 10 tokens.
  let granted = 0;
  for (let i = 0; i < 100; i++) if (budget.tryWithdraw(0)) granted++;
  assert.equal(granted, 10);
  // Then one retry per ten requests.
  granted = 0;
  for (let i = 0; i < 1000; i++) {
    budget.deposit(0);
    if (budget.tryWithdraw(0)) granted++;
  }
  assert.ok(granted >= 99 && granted <= 100, `granted ${granted}`);
  // Time adds minPerSecond.
  const timed = new RetryBudget({ ratio: 0, minPerSecond: 5 }, 0);
  for (let i = 0; i < 5; i++) assert.ok(timed.tryWithdraw(0));
  assert.equal(timed.tryWithdraw(0), false);
  assert.equal(timed.tryWithdraw(100), false);
  assert.equal(timed.tryWithdraw(200), true);
});

Deno.test({
  name: "BackendState: `rise` passing checks after a passive ejection end it early",
  permissions: "none",
}, () => {
  // The failover test's race: a backend dies and comes back between two
  // checks, so the checks never see it down, but a request met it dead.
  const b = new BackendState("http://127.0.0.1:1", 1);
  b.recordCheck(true, 0, CHECK);
  b.recordCheck(true, 0, CHECK);
  assert.equal(b.recordFailure(100, { failures: 1, cooldownMs: 60_000 }), true);
  assert.equal(b.state(150), "ejected");
  assert.equal(b.recordCheck(true, 200, CHECK), CHECK.rise === 1, "passes before rise: still out");
  for (let i = 1; i < CHECK.rise; i++) b.recordCheck(true, 200 + i, CHECK);
  assert.equal(b.state(300), "up", "back long before its cool-down");
  assert.equal(b.ejectedUntilMs, 0);
});
