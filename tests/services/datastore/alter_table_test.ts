// ALTER TABLE column and name changes, DROP INDEX and ROLLBACK TO SAVEPOINT
// after CREATE INDEX, across a restart and a crash (the engine stopped
// without a checkpoint, so recovery replays the log). What PostgreSQL
// answers to the same statements is checked by the psql differential test
// (fixtures/psql/alter.sql and indexes.sql); this checks what survives.

import assert from "node:assert/strict";
import { SqlHarness } from "./_sql_harness.ts";

async function reopen(h: SqlHarness, crash: boolean): Promise<SqlHarness> {
  if (crash) h.engine.crashForTesting();
  else await h.close(false);
  return await SqlHarness.open(h.dir);
}

for (const crash of [false, true]) {
  Deno.test(`ALTER TABLE ADD/DROP/RENAME COLUMN and RENAME TO survive ${crash ? "a crash" : "a restart"}`, async () => {
    let h = await SqlHarness.open();
    try {
      let s = await h.session();
      await s.query(`
        CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL, gone text);
        INSERT INTO t VALUES (1, 'one', 'x'), (2, 'two', 'y');
        CREATE TABLE other (id int PRIMARY KEY);
        INSERT INTO other VALUES (1);
        CREATE TABLE keyed (a int PRIMARY KEY, b text);
        INSERT INTO keyed VALUES (1, 'x'), (2, 'y');
      `);
      h.engine.checkpoint(); // the changes below are then only in the log
      await s.query(`
        ALTER TABLE t ADD COLUMN score int DEFAULT 7, ADD COLUMN note text, ADD COLUMN n serial;
        ALTER TABLE t DROP COLUMN gone;
        ALTER TABLE t RENAME name TO label;
        ALTER TABLE t RENAME TO things;
        ALTER TABLE things ALTER label DROP NOT NULL;
        INSERT INTO things (id) VALUES (3);
        CREATE UNIQUE INDEX things_score ON other (id);
        DROP INDEX things_score;
        ALTER TABLE keyed DROP COLUMN a; -- the key goes too: rows numbered by a hidden row id
      `);
      // Uncommitted at the crash: must be gone afterwards.
      await s.query(
        "BEGIN; ALTER TABLE other ADD COLUMN lost int DEFAULT 1; ALTER TABLE other RENAME TO lost",
      );
      h = await reopen(h, crash);
      s = await h.session();
      assert.deepEqual(await s.rows("SELECT * FROM things ORDER BY id"), [
        ["1", "one", "7", null, "1"],
        ["2", "two", "7", null, "2"],
        ["3", null, "7", null, "3"],
      ]);
      assert.deepEqual(await s.rows("SELECT * FROM other"), [["1"]]);
      await s.query("INSERT INTO keyed VALUES ('z'), ('x')");
      assert.deepEqual(await s.rows("SELECT b FROM keyed ORDER BY b"), [["x"], ["x"], ["y"], [
        "z",
      ]]);
      assert.equal(await s.errorCode("SELECT * FROM t"), "42P01");
      assert.equal(await s.errorCode("SELECT * FROM lost"), "42P01");
      // The counter moved with the column: never a number twice (a crash skips ahead, as
      // PostgreSQL's sequences do).
      const [[n]] = await s.rows("INSERT INTO things (id, label) VALUES (4, 'four') RETURNING n");
      assert.ok(Number(n) >= 4, `n = ${n}`);
      await s.query("CREATE UNIQUE INDEX things_score ON other (id)"); // the name is free again
    } finally {
      await h.close();
    }
  });
}

/** The engine indexes of the table a SQL name points at. */
function engineIndexes(h: SqlHarness, name: string): string[] {
  const engineName = h.db.tables.get(name)!.engineName;
  return h.engine.tables().find((t) => t.name === engineName)!.indexes.map((i) => i.name);
}

for (const crash of [false, true]) {
  Deno.test(`ROLLBACK TO SAVEPOINT drops an index made after it, and ${crash ? "recovery" : "a restart"} agrees`, async () => {
    let h = await SqlHarness.open();
    try {
      let s = await h.session();
      await s.query(`
        CREATE TABLE u (id int PRIMARY KEY, email text);
        INSERT INTO u VALUES (1, 'a'), (2, 'b');
      `);
      h.engine.checkpoint();
      const before = engineIndexes(h, "u");
      await s.query(`
        BEGIN;
        SAVEPOINT s;
        CREATE UNIQUE INDEX u_email ON u (email);
        ALTER TABLE u ADD CONSTRAINT u_email_key UNIQUE (email);
        ROLLBACK TO s;
        INSERT INTO u VALUES (3, 'a');
        COMMIT;
      `);
      assert.deepEqual(engineIndexes(h, "u"), before);
      // A savepoint's index left open at the crash: recovery undoes all of it.
      await s.query("BEGIN; SAVEPOINT p; CREATE INDEX u_e ON u (email); ROLLBACK TO p;");
      h = await reopen(h, crash);
      s = await h.session();
      assert.deepEqual(engineIndexes(h, "u"), before);
      assert.deepEqual(await s.rows("SELECT id FROM u WHERE email = 'a' ORDER BY id"), [["1"], [
        "3",
      ]]);
      await s.query("INSERT INTO u VALUES (4, 'a')"); // still no unique index on email
      await s.query("CREATE INDEX u_email ON u (email)"); // and the SQL name is free
    } finally {
      await h.close();
    }
  });
}
