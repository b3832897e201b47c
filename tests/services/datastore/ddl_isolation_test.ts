// DDL inside an open transaction block is not seen by other sessions before
// it commits: as PostgreSQL's exclusive lock makes them wait, a statement
// naming a table another session has dropped or altered waits for that
// transaction to end (then sees the outcome), or fails with 55P03 at
// lock_timeout.

import assert from "node:assert/strict";
import { PgServerError } from "../../../lib/pg/client.ts";
import { SqlHarness, type TestSession } from "./_sql_harness.ts";

async function withTwo(body: (s: TestSession, t: TestSession) => Promise<void>): Promise<void> {
  const h = await SqlHarness.open();
  try {
    const s = await h.session();
    const t = await h.session();
    await s.query("CREATE TABLE a (id integer PRIMARY KEY, v integer)");
    await s.query("INSERT INTO a VALUES (1, 10), (2, 20)");
    await body(s, t);
  } finally {
    await h.close();
  }
}

/**
 * Lets the sessions' pending work run up to its next wait (a few macrotask
 * turns, in-process): a statement started before it has planned by then.
 */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

async function outcome(p: Promise<unknown>): Promise<unknown> {
  try {
    return await p;
  } catch (error) {
    if (error instanceof PgServerError) return error.code;
    throw error;
  }
}

Deno.test("DROP TABLE in an open block: others wait, then see the table again after ROLLBACK", async () => {
  await withTwo(async (s, t) => {
    await s.query("BEGIN");
    await s.query("DROP TABLE a");
    assert.equal(await s.errorCode("SELECT * FROM a"), "42P01"); // the dropper sees its drop
    const waiting = outcome(t.rows("SELECT id, v FROM a ORDER BY id"));
    await settle();
    await s.query("ROLLBACK");
    assert.deepEqual(await waiting, [["1", "10"], ["2", "20"]]);
  });
});

Deno.test("DROP TABLE in an open block: others wait, then get 42P01 after COMMIT", async () => {
  await withTwo(async (s, t) => {
    await s.query("BEGIN");
    await s.query("DROP TABLE a");
    const waiting = outcome(t.rows("SELECT id FROM a"));
    const inserting = outcome(t.rows("INSERT INTO a VALUES (3, 30)"));
    await settle();
    await s.query("COMMIT");
    assert.equal(await waiting, "42P01");
    assert.equal(await inserting, "42P01");
  });
});

Deno.test("ALTER TABLE in an open block is not seen by others before COMMIT", async () => {
  await withTwo(async (s, t) => {
    await s.query("BEGIN");
    await s.query("ALTER TABLE a ADD CONSTRAINT v_small CHECK (v < 100)");
    // Without waiting, the other session's insert would be checked against an uncommitted CHECK.
    const inserting = outcome(t.query("INSERT INTO a VALUES (3, 300)"));
    await settle();
    await s.query("ROLLBACK");
    assert.notEqual(await inserting, "23514");
    assert.deepEqual(await t.rows("SELECT count(*) FROM a"), [["3"]]);
  });
});

Deno.test("a statement waiting for another session's DDL fails with 55P03 at lock_timeout", async () => {
  await withTwo(async (s, t) => {
    await t.query("SET lock_timeout = 20");
    await s.query("BEGIN");
    await s.query("DROP TABLE a");
    try {
      await t.query("SELECT * FROM a");
      assert.fail("expected a lock timeout");
    } catch (error) {
      assert.ok(error instanceof PgServerError);
      assert.equal(error.code, "55P03");
      assert.equal(error.message, "canceling statement due to lock timeout");
    }
    await s.query("ROLLBACK");
    assert.deepEqual(await t.rows("SELECT count(*) FROM a"), [["2"]]);
  });
});
