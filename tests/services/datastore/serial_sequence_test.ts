// nextval, currval, setval and lastval on a SERIAL column's own sequence
// (`t_id_seq`, what pg_get_serial_sequence names): they share the column's
// counter with INSERT, across restarts, and never give a number twice.
// (The psql fixture serial_sequences.sql compares the answers with
// PostgreSQL 15's; this file covers what needs a restart.)

import assert from "node:assert/strict";
import { SqlHarness } from "./_sql_harness.ts";

Deno.test("nextval('t_id_seq') and INSERT draw from one counter, never the same number, across restarts", async () => {
  const h = await SqlHarness.open();
  const s = await h.session();
  await s.query("CREATE TABLE t (id serial PRIMARY KEY, v text)");
  await s.query("INSERT INTO t (v) VALUES ('a'), ('b')");
  assert.deepEqual(await s.rows("SELECT currval('t_id_seq'), lastval()"), [["2", "2"]]);
  assert.deepEqual(await s.rows("SELECT nextval('t_id_seq')"), [["3"]]);
  assert.deepEqual(await s.rows("INSERT INTO t (v) VALUES ('c') RETURNING id"), [["4"]]);
  // 40 numbers in one statement cross a reservation (32 at a time).
  const drawn = (await s.rows("SELECT nextval('t_id_seq') FROM generate_series(1, 40)"))
    .map(([v]) => Number(v));
  assert.deepEqual(drawn, Array.from({ length: 40 }, (_, i) => i + 5));
  await h.close(false);
  const again = await SqlHarness.open(h.dir);
  try {
    const t = await again.session();
    const [[next]] = await t.rows("SELECT nextval('t_id_seq')");
    assert.ok(Number(next) > 44, `a number was given twice after a restart: ${next}`);
    const [[id]] = await t.rows("INSERT INTO t (v) VALUES ('d') RETURNING id");
    assert.equal(Number(id), Number(next) + 1);
  } finally {
    await again.close();
  }
});

Deno.test("setval(pg_get_serial_sequence(...), n) right after a restart moves the counter, and it stays moved", async () => {
  const h = await SqlHarness.open();
  const s = await h.session();
  await s.query("CREATE TABLE t (id serial PRIMARY KEY, v text)");
  await s.query("INSERT INTO t (v) VALUES ('a')");
  await h.close(false);
  let again = await SqlHarness.open(h.dir);
  try {
    const t = await again.session();
    // The counter is not started yet: the statement starts it before running.
    assert.deepEqual(
      await t.rows("SELECT setval(pg_get_serial_sequence('t', 'id'), 100)"),
      [["100"]],
    );
    assert.deepEqual(await t.rows("INSERT INTO t (v) VALUES ('b') RETURNING id"), [["101"]]);
    assert.equal(await t.errorCode("SELECT setval('t_id_seq', 0)"), "22003");
    await again.close(false);
    again = await SqlHarness.open(h.dir);
    const u = await again.session();
    assert.equal(await u.errorCode("SELECT currval('t_id_seq')"), "55000");
    assert.deepEqual(await u.rows("INSERT INTO t (v) VALUES ('c') RETURNING id"), [["102"]]);
    assert.deepEqual(await u.rows("SELECT currval('t_id_seq')"), [["102"]]);
  } finally {
    await again.close();
  }
});
