// The executor and session with no socket: SQL in, rows as text out, checked
// against what PostgreSQL 15 answers for the same statements.

import assert from "node:assert/strict";
import { SqlHarness } from "./_sql_harness.ts";
import { ERRORS, QUERIES, SETUP } from "./fixtures/sql_cases.ts";

/** Opens a fresh store, runs `fn` with one session, closes. */
async function withSession(
  fn: (s: Awaited<ReturnType<SqlHarness["session"]>>, h: SqlHarness) => Promise<void>,
): Promise<void> {
  const h = await SqlHarness.open();
  try {
    await fn(await h.session(), h);
  } finally {
    await h.close();
  }
}

Deno.test("SELECT answers as PostgreSQL 15 does", async (t) => {
  await withSession(async (s) => {
    await s.query(SETUP);
    for (const [what, sql, expected] of QUERIES) {
      await t.step(what, async () => {
        assert.deepEqual(await s.rows(sql), expected, sql);
      });
    }
  });
});

Deno.test("errors carry PostgreSQL's SQLSTATE", async (t) => {
  await withSession(async (s) => {
    await s.query(SETUP);
    for (const [what, sql, code] of ERRORS) {
      await t.step(what, async () => {
        assert.equal(await s.errorCode(sql), code, sql);
      });
    }
  });
});

Deno.test("INSERT: column lists, DEFAULT, SERIAL, RETURNING, multi-row", async () => {
  await withSession(async (s) => {
    await s.query(SETUP);
    const [result] = await s.query(
      "INSERT INTO spells (name, power) VALUES ('a', DEFAULT), ('b', 2) RETURNING id, name, power",
    );
    assert.equal(result.tag, "INSERT 0 2");
    assert.deepEqual(result.rows, [["6", "a", "5"], ["7", "b", "2"]]);
    assert.deepEqual(
      await s.rows("INSERT INTO casters SELECT cid + 10, spell_id, who FROM casters RETURNING cid"),
      [
        ["11"],
        ["12"],
        ["13"],
        ["14"],
      ],
    );
  });
});

Deno.test("INSERT ... ON CONFLICT DO NOTHING and DO UPDATE with excluded", async () => {
  await withSession(async (s) => {
    await s.query(SETUP);
    const [nothing] = await s.query(
      "INSERT INTO spells (id, name) VALUES (1, 'x') ON CONFLICT DO NOTHING",
    );
    assert.equal(nothing.tag, "INSERT 0 0");
    const [update] = await s.query(
      "INSERT INTO spells (name, power) VALUES ('light', 7) ON CONFLICT (name) DO UPDATE SET power = spells.power + excluded.power RETURNING id, power",
    );
    assert.deepEqual(update.rows, [["3", "8"]]);
    assert.equal(update.tag, "INSERT 0 1");
  });
});

Deno.test("UPDATE and DELETE with WHERE and RETURNING", async () => {
  await withSession(async (s) => {
    await s.query(SETUP);
    const [update] = await s.query(
      "UPDATE spells SET power = power + 1 WHERE school = 'evocation' RETURNING name, power",
    );
    assert.equal(update.tag, "UPDATE 2");
    assert.deepEqual(update.rows, [["fireball", "10"], ["light", "2"]]);
    const [del] = await s.query("DELETE FROM casters WHERE spell_id = 1 RETURNING who");
    assert.equal(del.tag, "DELETE 2");
    assert.deepEqual(del.rows, [["ann"], ["bob"]]);
    assert.deepEqual(await s.rows("SELECT count(*) FROM casters"), [["2"]]);
    // Changing the key moves the row.
    await s.query("UPDATE casters SET cid = 30 WHERE cid = 3");
    assert.deepEqual(await s.rows("SELECT who FROM casters WHERE cid = 30"), [["cy"]]);
    assert.equal(await s.errorCode("UPDATE casters SET cid = 4 WHERE cid = 30"), "23505");
    // A correlated subquery in DELETE's WHERE.
    const [orphans] = await s.query(
      "DELETE FROM casters c WHERE NOT EXISTS (SELECT 1 FROM spells s WHERE s.id = c.spell_id) RETURNING who",
    );
    assert.deepEqual(orphans.rows, [["dee"]]);
  });
});

Deno.test("DROP TABLE, TRUNCATE, CREATE INDEX and ALTER TABLE ADD PRIMARY KEY", async () => {
  await withSession(async (s) => {
    await s.query(SETUP);
    await s.query("CREATE INDEX spells_power ON spells (power)");
    assert.deepEqual(await s.rows("SELECT name FROM spells WHERE power >= 4 ORDER BY power"), [
      ["sleep"],
      ["fireball"],
    ]);
    await s.query("TRUNCATE spells");
    assert.deepEqual(await s.rows("SELECT count(*) FROM spells"), [["0"]]);
    await s.query("INSERT INTO spells (name) VALUES ('again')");
    assert.deepEqual(await s.rows("SELECT power FROM spells WHERE name = 'again'"), [["5"]]);
    await s.query("DROP TABLE IF EXISTS spells, nope");
    assert.equal(await s.errorCode("SELECT * FROM spells"), "42P01");
    // pgbench -i's way: a table without a key, filled, then given one.
    await s.query("CREATE TABLE h (aid int NOT NULL, v int)");
    await s.query("INSERT INTO h VALUES (1, 1), (2, 2)");
    await s.query("ALTER TABLE h ADD PRIMARY KEY (aid)");
    assert.equal(await s.errorCode("INSERT INTO h VALUES (1, 3)"), "23505");
    assert.deepEqual(await s.rows("SELECT v FROM h WHERE aid = 2"), [["2"]]);
    await s.query("CREATE TABLE d (k int)");
    await s.query("INSERT INTO d VALUES (1), (1)");
    assert.equal(await s.errorCode("ALTER TABLE d ADD PRIMARY KEY (k)"), "23505");
  });
});

Deno.test("transaction blocks: ROLLBACK undoes rows and DDL; an error aborts the block (25P02)", async () => {
  await withSession(async (s) => {
    await s.query(SETUP);
    await s.query("BEGIN");
    assert.equal(s.status, "T");
    await s.query("INSERT INTO spells (name) VALUES ('tmp'); CREATE TABLE scratch (a int)");
    await s.query("ROLLBACK");
    assert.equal(s.status, "I");
    assert.deepEqual(await s.rows("SELECT count(*) FROM spells"), [["5"]]);
    assert.equal(await s.errorCode("SELECT * FROM scratch"), "42P01");

    await s.query("BEGIN");
    await s.query("INSERT INTO spells (name) VALUES ('kept?')");
    assert.equal(await s.errorCode("SELECT * FROM nope"), "42P01");
    assert.equal(s.status, "E");
    assert.equal(await s.errorCode("SELECT 1"), "25P02");
    const [end] = await s.query("COMMIT");
    assert.equal(end.tag, "ROLLBACK");
    assert.equal(s.status, "I");
    assert.deepEqual(await s.rows("SELECT count(*) FROM spells WHERE name = 'kept?'"), [["0"]]);
  });
});

Deno.test("a simple Query's statements are one implicit transaction", async () => {
  await withSession(async (s) => {
    await s.query(SETUP);
    assert.equal(
      await s.errorCode("INSERT INTO spells (name) VALUES ('one'); SELECT * FROM nope"),
      "42P01",
    );
    assert.deepEqual(await s.rows("SELECT count(*) FROM spells WHERE name = 'one'"), [["0"]]);
  });
});

Deno.test("tables, rows and SERIAL numbers survive a restart", async () => {
  const h = await SqlHarness.open();
  const s = await h.session();
  await s.query(SETUP);
  await s.query("TRUNCATE casters; DROP TABLE casters; CREATE TABLE casters (x text)");
  await h.close(false);
  const again = await SqlHarness.open(h.dir);
  try {
    const t = await again.session();
    assert.deepEqual(await t.rows("SELECT count(*) FROM spells"), [["5"]]);
    assert.deepEqual(await t.rows("INSERT INTO spells (name) VALUES ('new') RETURNING id"), [[
      "6",
    ]]);
    assert.deepEqual(await t.rows("SELECT count(*) FROM casters"), [["0"]]);
    await t.query("INSERT INTO casters VALUES ('k')");
    assert.deepEqual(await t.rows("SELECT x FROM casters"), [["k"]]);
  } finally {
    await again.close();
  }
});

Deno.test("SERIAL numbers are never given twice: not after deleting the largest, a restart, or TRUNCATE", async () => {
  // Regression: counters restarted one past the largest stored value, so deleting the newest
  // row and restarting gave its number again (PostgreSQL's sequences never do).
  const h = await SqlHarness.open();
  const s = await h.session();
  await s.query("CREATE TABLE q (id serial PRIMARY KEY, v text)");
  await s.query("INSERT INTO q (v) VALUES ('a'), ('b'), ('c')");
  await s.query("DELETE FROM q WHERE id = 3");
  await h.close(false);
  const again = await SqlHarness.open(h.dir);
  try {
    const t = await again.session();
    const [[id]] = await t.rows("INSERT INTO q (v) VALUES ('d') RETURNING id");
    assert.ok(Number(id) > 3, `got ${id}`);
    await t.query("TRUNCATE q");
    const [[next]] = await t.rows("INSERT INTO q (v) VALUES ('e') RETURNING id");
    assert.ok(Number(next) > Number(id), `TRUNCATE restarted the counter: ${next}`);
    await t.query("TRUNCATE q RESTART IDENTITY");
    assert.deepEqual(await t.rows("INSERT INTO q (v) VALUES ('f') RETURNING id"), [["1"]]);
  } finally {
    await again.close();
  }
});

Deno.test("SET, SHOW and RESET", async () => {
  await withSession(async (s) => {
    assert.deepEqual(await s.rows("SHOW server_version"), [["15.0"]]);
    assert.deepEqual(await s.rows("SHOW TimeZone"), [["UTC"]]);
    await s.query("SET application_name = 'tests'");
    assert.deepEqual(await s.rows("SHOW application_name"), [["tests"]]);
    assert.deepEqual(await s.rows("SELECT current_setting('application_name')"), [["tests"]]);
    await s.query("RESET application_name");
    assert.deepEqual(await s.rows("SHOW application_name"), [[""]]);
    assert.equal(await s.errorCode("SHOW nope"), "42704");
  });
});

Deno.test("two writers of one table both finish (no read-to-write lock upgrade deadlock)", async () => {
  // Regression: UPDATE read its rows under the table's shared lock and then
  // asked for the exclusive one, so two concurrent UPDATEs each held the
  // shared lock and waited for the other: 40P01 for one of them every time
  // (pgbench lost half its transactions).
  await withSession(async (a, h) => {
    await a.query(
      "CREATE TABLE acct (id int PRIMARY KEY, balance int); INSERT INTO acct VALUES (1, 0)",
    );
    const b = await h.session();
    const results = await Promise.allSettled([
      a.query("UPDATE acct SET balance = balance + 1 WHERE id = 1"),
      b.query("UPDATE acct SET balance = balance + 10 WHERE id = 1"),
    ]);
    assert.deepEqual(results.map((r) => r.status), ["fulfilled", "fulfilled"]);
    assert.deepEqual(await a.rows("SELECT balance FROM acct"), [["11"]]);
  });
});

Deno.test("EXPLAIN: key and index lookups, ranges, full scans and join methods in PostgreSQL's shape", async () => {
  await withSession(async (s) => {
    await s.query(SETUP);
    await s.query(
      "CREATE TABLE acct (aid int NOT NULL, abalance int); ALTER TABLE acct ADD PRIMARY KEY (aid)",
    );
    await s.query("CREATE INDEX spells_power ON spells (power)");
    const index = (name: string, on: string, cond: string) => [
      `Index Scan using ${name} on ${on}`,
      `  Index Cond: (${cond})`,
    ];
    const cases: [string, string[]][] = [
      ["SELECT name FROM spells WHERE id = 2", index("spells_pkey", "spells", "id = 2")],
      ["SELECT name FROM spells WHERE name = $1", index("spells_name_key", "spells", "name = $1")],
      ["SELECT abalance FROM acct WHERE aid = $1", index("acct_pkey", "acct", "aid = $1")],
      [
        "UPDATE acct SET abalance = abalance + 1 WHERE aid = 7",
        index("acct_pkey", "acct", "aid = 7"),
      ],
      [
        "SELECT id FROM spells WHERE power > 3 AND power <= 9",
        index("spells_power", "spells", "power > 3 AND power <= 9"),
      ],
      ["SELECT id FROM spells WHERE school = 'x'", ["Seq Scan on spells"]],
      // Joins: PostgreSQL's node names and layout (COSTS OFF); the right side is the one held.
      ["SELECT * FROM casters c JOIN spells s ON s.id = c.spell_id", [
        "Hash Join",
        "  Hash Cond: (c.spell_id = s.id)",
        "  ->  Seq Scan on casters c",
        "  ->  Hash",
        "        ->  Seq Scan on spells s",
      ]],
      ["SELECT * FROM casters c LEFT JOIN spells s ON s.id < c.spell_id", [
        "Nested Loop Left Join",
        "  Join Filter: (s.id < c.spell_id)",
        "  ->  Seq Scan on casters c",
        "  ->  Materialize",
        "        ->  Seq Scan on spells s",
      ]],
      ["SELECT * FROM casters, spells, acct WHERE spell_id = id AND aid = cid", [
        "Hash Join",
        "  Hash Cond: (cid = aid)",
        "  ->  Hash Join",
        "        Hash Cond: (spell_id = id)",
        "        ->  Seq Scan on casters",
        "        ->  Hash",
        "              ->  Seq Scan on spells",
        "  ->  Hash",
        "        ->  Seq Scan on acct",
      ]],
    ];
    for (const [sql, plan] of cases) {
      assert.deepEqual((await s.rows(`EXPLAIN ${sql}`)).map((r) => r[0]), plan, sql);
    }
  });
});

Deno.test("a lookup by the whole primary key finds exactly its row, as the range scan did", async () => {
  await withSession(async (s) => {
    await s.query(
      "CREATE TABLE words (w text PRIMARY KEY, n int); " +
        "INSERT INTO words VALUES ('a', 1), ('ab', 2), ('abc', 3), ('b', 4)",
    );
    await s.query(
      "CREATE TABLE pairs (x int, y text, v int, PRIMARY KEY (x, y)); " +
        "INSERT INTO pairs VALUES (1, 'a', 10), (1, 'ab', 11), (2, 'a', 20)",
    );
    // A key that is a prefix of another key's bytes finds only its own row.
    assert.deepEqual(await s.rows("SELECT n FROM words WHERE w = 'a'"), [["1"]]);
    assert.deepEqual(await s.rows("SELECT n FROM words WHERE w = 'ab'"), [["2"]]);
    assert.deepEqual(await s.rows("SELECT n FROM words WHERE w = 'zz'"), []);
    assert.deepEqual(await s.rows("SELECT n FROM words WHERE w = NULL"), []);
    assert.deepEqual(await s.rows("SELECT n FROM words WHERE w = 'a' AND n = 2"), []);
    assert.deepEqual(await s.rows("SELECT v FROM pairs WHERE x = 1 AND y = 'a'"), [["10"]]);
    assert.deepEqual(await s.rows("SELECT v FROM pairs WHERE y = 'ab' AND x = 1"), [["11"]]);
    // Part of the key is still a range.
    assert.deepEqual(await s.rows("SELECT v FROM pairs WHERE x = 1 ORDER BY v"), [["10"], ["11"]]);
    // The row changed in this transaction is the one found.
    await s.query("BEGIN");
    await s.query("UPDATE words SET n = 9 WHERE w = 'ab'");
    assert.deepEqual(await s.rows("SELECT n FROM words WHERE w = 'ab'"), [["9"]]);
    await s.query("DELETE FROM words WHERE w = 'ab'");
    assert.deepEqual(await s.rows("SELECT n FROM words WHERE w = 'ab'"), []);
    await s.query("ROLLBACK");
    assert.deepEqual(await s.rows("SELECT n FROM words WHERE w = 'ab'"), [["2"]]);
  });
});

Deno.test("now() is the transaction's start in every statement of a block", async () => {
  await withSession(async (s) => {
    await s.query("BEGIN");
    const [[first]] = await s.rows("SELECT now()");
    // Let the clock move on (bounded), then ask again inside the same block.
    const start = Date.now();
    for (let i = 0; i < 1e8 && Date.now() < start + 3; i++) {
      // spin
    }
    assert.deepEqual(await s.rows("SELECT 1"), [["1"]]);
    assert.deepEqual(await s.rows("SELECT now()"), [[first]]);
    await s.query("COMMIT");
  });
});

Deno.test("a statement that would hold too many rows in memory fails with 54000, and the session goes on", async () => {
  const h = await SqlHarness.open();
  try {
    const s = await h.session({ rowsHeldMax: 50 });
    await s.query("CREATE TABLE big (id INTEGER PRIMARY KEY, g INTEGER)");
    await s.query(
      "INSERT INTO big SELECT a.id * 10 + b.id, (a.id * 10 + b.id) % 7 FROM " +
        "(VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) AS a(id), " +
        "(VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) AS b(id)",
    );
    // Every materializing operator counts its rows: a sort, DISTINCT, a hash join, a set operation.
    for (
      const sql of [
        "SELECT id FROM big ORDER BY g, id",
        "SELECT DISTINCT id FROM big",
        "SELECT count(*) FROM big x JOIN big y ON x.id = y.id",
        "SELECT id FROM big UNION SELECT id FROM big",
        "SELECT id, count(*) FROM big GROUP BY id",
      ]
    ) assert.equal(await s.errorCode(sql), "54000", sql);
    // Within the bound, and after a failed statement, the same session answers.
    assert.deepEqual(await s.rows("SELECT g, count(*) FROM big GROUP BY g ORDER BY g LIMIT 2"), [
      ["0", "15"],
      ["1", "15"],
    ]);
    // Rows are given back when an operator stops early, so a LIMIT over a sort in a
    // statement run many times never adds up.
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(await s.rows("SELECT id FROM big WHERE id < 40 ORDER BY id DESC LIMIT 1"), [[
        "39",
      ]]);
    }
  } finally {
    await h.close();
  }
});
