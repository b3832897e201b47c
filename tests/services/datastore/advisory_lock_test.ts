// Advisory locks (sql/advisory_locks.ts): session-owned, re-entrant,
// released by unlock or by the session's end; a waiter wakes on release,
// gives up on cancel or statement_timeout, and a wait that closes a cycle
// fails with 40P01. Checked against PostgreSQL 15 by hand (the same
// sequence through two sessions gives the same rows; PostgreSQL finds the
// deadlock after deadlock_timeout in whichever waiter checks first, we in
// the one whose wait would close it).

import assert from "node:assert/strict";
import { PgClient, PgServerError } from "../../../lib/pg/client.ts";
import { service } from "../../../services/datastore/mod.ts";
import { AdvisoryLocks } from "../../../services/datastore/sql/advisory_locks.ts";
import { startService } from "../../_support/service.ts";

const first = (result: unknown) => (Array.isArray(result) ? result[0] : result).rows[0];

Deno.test("AdvisoryLocks: re-entrant, owned, released whole by unlockAll", () => {
  const locks = new AdvisoryLocks();
  const a = { id: 1 };
  const b = { id: 2 };
  assert.equal(locks.tryLock("7", a), true);
  assert.equal(locks.tryLock("7", a), true);
  assert.equal(locks.tryLock("7", b), false);
  assert.equal(locks.unlock("7", b), false, "b holds nothing");
  assert.equal(locks.unlock("7", a), true);
  assert.equal(locks.tryLock("7", b), false, "a still holds it once");
  assert.equal(locks.tryLock("8", a), true);
  locks.unlockAll(a);
  assert.equal(locks.size, 0);
  assert.equal(locks.tryLock("7", b), true);
});

Deno.test("AdvisoryLocks: distinct keys are bounded (53200), re-entry and freed keys are not", () => {
  const locks = new AdvisoryLocks(2);
  const a = { id: 1 };
  assert.equal(locks.tryLock("1", a), true);
  assert.equal(locks.tryLock("2", a), true);
  assert.throws(
    () => locks.tryLock("3", a),
    (e) => e instanceof Error && (e as { code?: string }).code === "53200",
  );
  assert.equal(locks.tryLock("2", a), true, "re-entry takes no new key");
  locks.unlockAll(a);
  assert.equal(locks.tryLock("3", a), true);
});

Deno.test("AdvisoryLocks: a waiter wakes on release; a cycle is 40P01; check() ends a wait", async () => {
  const locks = new AdvisoryLocks();
  const a = { id: 1 };
  const b = { id: 2 };
  locks.tryLock("1", a);
  locks.tryLock("2", b);
  const waiting = locks.lock("2", a, () => {});
  await assert.rejects(
    locks.lock("1", b, () => {}),
    (e) => e instanceof Error && (e as { code?: string }).code === "40P01",
  );
  locks.unlockAll(b);
  await waiting;
  assert.equal(locks.tryLock("2", b), false, "a has it now");
  let cancelled = false;
  const cancel = locks.lock("1", b, () => {
    if (cancelled) throw new Error("cancelled");
  });
  cancelled = true;
  await assert.rejects(cancel, /cancelled/);
});

Deno.test("pg_advisory_lock through the wire: held across sessions until unlock or disconnect", async () => {
  await using store = await startService(service);
  const port = store.addresses.tcp.port;
  await using a = await PgClient.connect({ port, user: "postgres" });
  const b = await PgClient.connect({ port, user: "postgres" });
  assert.deepEqual(first(await a.query("SELECT pg_advisory_lock(72707369)")), [""]);
  assert.deepEqual(
    first(await b.query("SELECT pg_try_advisory_lock(72707369), pg_try_advisory_lock(1, 2)")),
    ["f", "t"],
  );
  // b's session ends holding (1, 2): a can take it.
  await b.close();
  let taken = false;
  for (let i = 0; i < 100 && !taken; i++) {
    taken = first(await a.query("SELECT pg_try_advisory_lock(1, 2)"))[0] === "t";
    if (!taken) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.ok(taken, "a disconnected session's lock is released");
  await using c = await PgClient.connect({ port, user: "postgres" });
  const waiting = c.query("SELECT pg_advisory_lock(72707369)");
  assert.deepEqual(
    first(await a.query("SELECT pg_advisory_unlock(72707369), pg_advisory_unlock(5)")),
    [
      "t",
      "f",
    ],
  );
  assert.deepEqual(first(await waiting), [""]);
  await c.query("SET statement_timeout = '100ms'");
  await a.query("SELECT pg_advisory_lock(9)");
  await assert.rejects(
    c.query("SELECT pg_advisory_lock(9)"),
    (e) => e instanceof PgServerError && e.code === "57014",
  );
  await assert.rejects(
    c.query("SELECT pg_advisory_lock(id) FROM (VALUES (1)) v(id)"),
    (e) => e instanceof PgServerError && e.code === "0A000",
  );
});

Deno.test("pg_advisory_xact_lock: held until the transaction ends, committed or not", async () => {
  await using store = await startService(service);
  const port = store.addresses.tcp.port;
  await using a = await PgClient.connect({ port, user: "postgres" });
  await using b = await PgClient.connect({ port, user: "postgres" });
  await a.query("BEGIN");
  assert.deepEqual(first(await a.query("SELECT pg_advisory_xact_lock(9)")), [""]);
  assert.deepEqual(first(await a.query("SELECT pg_try_advisory_xact_lock(10)")), ["t"]);
  assert.deepEqual(first(await b.query("SELECT pg_try_advisory_lock(9)")), ["f"]);
  const waiting = b.query("SELECT pg_advisory_xact_lock(10)");
  await a.query("COMMIT");
  assert.deepEqual(first(await waiting), [""], "the commit released the lock the waiter wanted");
  // b's lock went with its own autocommit transaction; a rollback releases too.
  assert.deepEqual(first(await a.query("SELECT pg_try_advisory_lock(10)")), ["t"]);
  assert.deepEqual(first(await a.query("SELECT pg_advisory_unlock(10)")), ["t"]);
  await b.query("BEGIN");
  assert.deepEqual(first(await b.query("SELECT pg_try_advisory_xact_lock(9)")), ["t"]);
  assert.deepEqual(first(await a.query("SELECT pg_try_advisory_xact_lock(9)")), ["f"]);
  await b.query("ROLLBACK");
  assert.deepEqual(first(await a.query("SELECT pg_try_advisory_xact_lock(9)")), ["t"]);
});
