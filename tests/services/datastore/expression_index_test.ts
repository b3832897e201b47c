// Expression and partial unique indexes (sql/expression_indexes.ts) beyond
// what the psql fixture expression_indexes.sql compares with PostgreSQL 15:
// the hidden key columns survive a restart and keep enforcing, the planner
// uses the index for a parameter too (EXPLAIN), and ALTER TABLE keeps the
// keys through the rebuilds it makes.

import assert from "node:assert/strict";
import { SqlHarness } from "./_sql_harness.ts";

Deno.test("a unique index on lower(email) keeps enforcing and serving lookups after a restart", async () => {
  const h = await SqlHarness.open();
  const s = await h.session();
  await s.query("CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL)");
  await s.query("INSERT INTO users VALUES (1, 'Ann@X'), (2, 'bob@x')");
  await s.query("CREATE UNIQUE INDEX users_email ON users (lower(email))");
  await s.query("INSERT INTO users VALUES (3, 'Cy@x')");
  await h.close(false);
  const again = await SqlHarness.open(h.dir);
  try {
    const t = await again.session();
    assert.equal(await t.errorCode("INSERT INTO users VALUES (4, 'ANN@x')"), "23505");
    assert.deepEqual(await t.rows("SELECT id FROM users WHERE lower(email) = 'cy@x'"), [["3"]]);
    await t.query("UPDATE users SET email = 'Dee@x' WHERE id = 3");
    assert.deepEqual(await t.rows("SELECT id FROM users WHERE lower(email) = 'cy@x'"), []);
    assert.deepEqual(await t.rows("SELECT id FROM users WHERE lower(email) = 'dee@x'"), [["3"]]);
    assert.deepEqual(
      await t.rows("EXPLAIN SELECT id FROM users WHERE lower(email) = 'dee@x'"),
      [["Index Scan using users_email on users"], ["  Index Cond: (lower(email) = 'dee@x')"]],
    );
  } finally {
    await again.close();
  }
});

Deno.test("an extended-protocol parameter compared with an indexed expression uses the index", async () => {
  const h = await SqlHarness.open();
  try {
    const s = await h.session();
    await s.query("CREATE TABLE t (id int PRIMARY KEY, name text)");
    await s.query("CREATE INDEX ON t (lower(name))");
    await s.query("INSERT INTO t VALUES (1, 'Alpha'), (2, 'beta')");
    assert.deepEqual(
      await s.rows("PREPARE q AS SELECT id FROM t WHERE lower(name) = $1; EXECUTE q('alpha')"),
      [["1"]],
    );
    const plan = await s.rows("EXPLAIN SELECT id FROM t WHERE lower(name) = $1");
    assert.equal(plan[0][0], "Index Scan using t_lower_idx on t");
  } finally {
    await h.close();
  }
});

Deno.test("a partial unique index allows duplicates outside its predicate, also after a restart", async () => {
  const h = await SqlHarness.open();
  const s = await h.session();
  await s.query("CREATE TABLE acct (id int PRIMARY KEY, email text, gone bool NOT NULL)");
  await s.query("CREATE UNIQUE INDEX live ON acct (email) WHERE NOT gone");
  await s.query("INSERT INTO acct VALUES (1, 'a', true), (2, 'a', true), (3, 'a', false)");
  assert.equal(await s.errorCode("INSERT INTO acct VALUES (4, 'a', false)"), "23505");
  await h.close(false);
  const again = await SqlHarness.open(h.dir);
  try {
    const t = await again.session();
    assert.equal(await t.errorCode("INSERT INTO acct VALUES (4, 'a', false)"), "23505");
    await t.query("UPDATE acct SET gone = true WHERE id = 3");
    await t.query("INSERT INTO acct VALUES (4, 'a', false)");
    assert.deepEqual(await t.rows("SELECT count(*) FROM acct WHERE email = 'a'"), [["4"]]);
  } finally {
    await again.close();
  }
});

Deno.test("ALTER TABLE keeps hidden key columns through ADD, DROP and RENAME COLUMN and refuses retyping a key's column", async () => {
  const h = await SqlHarness.open();
  try {
    const s = await h.session();
    await s.query("CREATE TABLE t (a text, b int NOT NULL, c int)");
    await s.query("INSERT INTO t VALUES ('x', 1, 1)");
    await s.query("CREATE UNIQUE INDEX t_a ON t (upper(a))");
    await s.query("ALTER TABLE t ADD COLUMN d int");
    await s.query("ALTER TABLE t ADD COLUMN e int DEFAULT 5");
    await s.query("ALTER TABLE t DROP COLUMN c");
    await s.query("ALTER TABLE t ALTER COLUMN b DROP NOT NULL");
    await s.query("ALTER TABLE t RENAME COLUMN a TO z");
    assert.equal(await s.errorCode("INSERT INTO t (z, b) VALUES ('X', 2)"), "23505");
    assert.deepEqual(await s.rows("SELECT b, e FROM t WHERE upper(z) = 'X'"), [["1", "5"]]);
    assert.equal(await s.errorCode("ALTER TABLE t ALTER COLUMN z TYPE varchar(5)"), "0A000");
    await s.query("ALTER TABLE t ALTER COLUMN b TYPE bigint");
    await s.query("ALTER TABLE t DROP COLUMN z"); // the index goes with it, as in PostgreSQL
    assert.deepEqual(await s.rows("SELECT count(*) FROM pg_index WHERE indrelid = 't'::regclass"), [
      [
        "0",
      ],
    ]);
    await s.query("INSERT INTO t (b) VALUES (3), (4)");
    assert.deepEqual(await s.rows("SELECT count(*) FROM t"), [["3"]]);
  } finally {
    await h.close();
  }
});

Deno.test("ADD PRIMARY KEY on a table with an expression index keeps the index's keys", async () => {
  const h = await SqlHarness.open();
  try {
    const s = await h.session();
    await s.query("CREATE TABLE t (id int, name text)");
    await s.query("INSERT INTO t VALUES (1, 'One'), (2, 'Two')");
    await s.query("CREATE UNIQUE INDEX ON t (lower(name))");
    await s.query("ALTER TABLE t ADD PRIMARY KEY (id)");
    assert.equal(await s.errorCode("INSERT INTO t VALUES (3, 'ONE')"), "23505");
    assert.deepEqual(await s.rows("SELECT id FROM t WHERE lower(name) = 'two'"), [["2"]]);
  } finally {
    await h.close();
  }
});
