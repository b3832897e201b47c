// The dependency pool's backoff and failure handling, with a hand-moved clock
// and fake connections (the real services are in degraded_test.ts).

import assert from "node:assert/strict";
import { getLogger } from "@logtape/logtape";
import { Backoff, ConnectionPool, DependencyDown } from "../../../services/http_api/pool.ts";

Deno.test("Backoff: 100 ms doubling to 5 s, jittered within the upper half, reset by a success", () => {
  let now = 0;
  const backoff = new Backoff({ now: () => now, random: () => 0.5 });
  assert.equal(backoff.open, true);
  const waits: number[] = [];
  for (let i = 0; i < 9; i++) {
    backoff.failed();
    waits.push(backoff.waitMs);
    now += backoff.waitMs;
    assert.equal(backoff.open, true);
  }
  // delay * (1/2 + 0.5 / 2) = 0.75 delay: 100, 200, 400, ... capped at 5000.
  assert.deepEqual(waits, [75, 150, 300, 600, 1200, 2400, 3750, 3750, 3750]);
  backoff.succeeded();
  backoff.failed();
  assert.equal(backoff.waitMs, 75);
});

class FakeConnection {
  closed = false;
  constructor(readonly id: number) {}
}

function fakePool(options: { connectFails: () => boolean; now: () => number }) {
  let made = 0;
  const pool = new ConnectionPool<FakeConnection>({
    name: "fake",
    log: getLogger(["underhood", "test"]),
    sizeMax: 2,
    waitersMax: 1,
    backoff: new Backoff({ now: options.now, random: () => 0 }),
    connect: () => {
      if (options.connectFails()) return Promise.reject(new Error("refused"));
      return Promise.resolve(new FakeConnection(++made));
    },
    close: (c) => c.closed = true,
    isBroken: (error) => !(error instanceof SyntaxError),
  });
  return { pool, made: () => made };
}

Deno.test("ConnectionPool: while in backoff every caller fails at once, without a connect", async () => {
  let now = 0;
  let down = true;
  let attempts = 0;
  const { pool } = fakePool({ connectFails: () => (attempts++, down), now: () => now });
  await assert.rejects(() => pool.use(() => Promise.resolve(1)), DependencyDown);
  assert.equal(attempts, 1);
  assert.equal(pool.up, false);
  for (let i = 0; i < 5; i++) {
    await assert.rejects(() => pool.use(() => Promise.resolve(1)), /next reconnect in/);
  }
  assert.equal(attempts, 1, "no connect while the backoff runs");
  down = false;
  now += 50; // past the first delay (50-100 ms; random 0 gives 50)
  assert.equal(await pool.use(() => Promise.resolve(2)), 2);
  assert.equal(pool.up, true);
});

Deno.test("ConnectionPool: an error that leaves the connection usable keeps it; a broken one is replaced", async () => {
  const { pool, made } = fakePool({ connectFails: () => false, now: () => 0 });
  await assert.rejects(
    () => pool.use(() => Promise.reject(new SyntaxError("bad SQL"))),
    SyntaxError,
  );
  assert.equal(await pool.use((c) => Promise.resolve(c.id)), 1, "reused after a usable error");
  let seen: FakeConnection | undefined;
  await assert.rejects(
    () => pool.use((c) => (seen = c, Promise.reject(new Error("reset")))),
    DependencyDown,
  );
  assert.equal(seen?.closed, true);
  // That break was a reused connection's: no backoff (it may just have been stale)...
  assert.equal(pool.up, true);
  // ... and an idempotent use whose reused connection breaks is retried once on a fresh one.
  const idle = await pool.use((c) => Promise.resolve(c.id)); // a fresh one, now idle
  const result = await pool.use(
    (c) => c.id === idle ? Promise.reject(new Error("eof")) : Promise.resolve(`fresh ${c.id}`),
    { idempotent: true },
  );
  assert.equal(result, `fresh ${made()}`);
  // A fresh connection breaking is an outage: the backoff starts.
  await assert.rejects(() => pool.use(() => Promise.reject(new Error("reset"))), DependencyDown);
  assert.equal(pool.up, true, "that one was the idle connection: reused");
  await assert.rejects(() => pool.use(() => Promise.reject(new Error("reset"))), DependencyDown);
  assert.equal(pool.up, false, "that one was fresh");
  await assert.rejects(
    () => pool.use(() => Promise.reject(new Error("reset"))),
    /next reconnect in/,
  );
  assert.ok(pool.size <= 2);
});

Deno.test("ConnectionPool: bounded: past its connections and waiters a caller is told it is busy", async () => {
  const { pool } = fakePool({ connectFails: () => false, now: () => 0 });
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  const busy = [pool.use(() => held), pool.use(() => held)]; // both connections
  const waiting = pool.use(() => Promise.resolve("waited")); // the one waiter
  await assert.rejects(() => pool.use(() => Promise.resolve(0)), /busy/);
  release();
  await Promise.all(busy);
  assert.equal(await waiting, "waited");
});
