// The simple protocol's statement cache (services/datastore/statement_cache.ts):
// a repeated text is parsed once and planned once per catalog version, the
// cache stays within its bounds, and through a session a cached text still
// answers for the catalog as it is now, and a failed block still refuses it.

import assert from "node:assert/strict";
import {
  StatementCache,
  TEXT_CHARS_MAX,
  TEXTS_MAX,
} from "../../../services/datastore/statement_cache.ts";
import { SqlHarness } from "./_sql_harness.ts";

Deno.test({
  name: "StatementCache: a repeated text is parsed once; plans are kept per catalog version",
  permissions: "none",
  fn() {
    const cache = new StatementCache<string>();
    const first = cache.parse("SELECT 1; SELECT 2");
    assert.equal(first.statements.length, 2);
    assert.equal(cache.parse("SELECT 1; SELECT 2"), first);
    assert.deepEqual([cache.hits, cache.misses], [1, 1]);
    let made = 0;
    const make = () => `plan ${++made}`;
    assert.equal(cache.plan(first, 0, 7, make), "plan 1");
    assert.equal(cache.plan(first, 0, 7, make), "plan 1");
    assert.equal(cache.plan(first, 1, 7, make), "plan 2", "each statement has its own plan");
    assert.equal(cache.plan(first, 0, 8, make), "plan 3", "a catalog change plans again");
    assert.throws(() =>
      cache.plan(first, 1, 9, () => {
        throw new Error("no plan");
      })
    );
    assert.equal(cache.plan(first, 1, 9, make), "plan 4", "a failed plan is not kept");
    // Truncation notices come back with every hit.
    const long = `SELECT 1 AS ${"x".repeat(70)}`;
    assert.equal(cache.parse(long).notices.length, 1);
    assert.equal(cache.parse(long).notices.length, 1);
  },
});

Deno.test({
  name: "StatementCache: bounded in texts and text length; errors are not cached",
  permissions: "none",
  fn() {
    const cache = new StatementCache<string>();
    for (let i = 0; i < TEXTS_MAX + 10; i++) cache.parse(`SELECT ${i}`);
    assert.equal(cache.size, TEXTS_MAX);
    cache.parse("SELECT 10"); // still cached: the oldest ten left
    assert.equal(cache.hits, 1);
    cache.parse("SELECT 0");
    assert.equal(cache.hits, 1, "the least recently used text left first");
    const huge = `SELECT '${"y".repeat(TEXT_CHARS_MAX)}'`;
    const before = cache.misses;
    cache.parse(huge);
    cache.parse(huge);
    assert.equal(cache.misses, before + 2, "a text over TEXT_CHARS_MAX is parsed every time");
    assert.throws(() => cache.parse("SELEC 1"), /syntax error/);
    assert.throws(() => cache.parse("SELEC 1"), /syntax error/);
    assert.equal(cache.size, TEXTS_MAX);
  },
});

Deno.test("a cached simple query answers for the catalog as it is now", async () => {
  const h = await SqlHarness.open();
  try {
    const s = await h.session();
    await s.query("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a')");
    const select = "SELECT * FROM t WHERE id = 1";
    assert.deepEqual(await s.rows(select), [["1", "a"]]);
    await s.query("UPDATE t SET v = 'b' WHERE id = 1");
    assert.deepEqual(await s.rows(select), [["1", "b"]]);
    // The table is replaced by one of another shape: the same text plans again.
    await s.query("DROP TABLE t; CREATE TABLE t (id int PRIMARY KEY, n int, m int)");
    await s.query("INSERT INTO t VALUES (1, 10, 20)");
    const results = await s.query(select);
    assert.deepEqual(results[0].fields.map((f) => f.name), ["id", "n", "m"]);
    assert.deepEqual(results[0].rows, [["1", "10", "20"]]);
    // A catalog change rolled back plans again too.
    await s.query("BEGIN; DROP TABLE t");
    assert.equal(await s.errorCode(select), "42P01");
    await s.query("ROLLBACK");
    assert.deepEqual(await s.rows(select), [["1", "10", "20"]]);
    // In a failed block the cached text is refused, and runs again after it.
    await s.query("BEGIN");
    assert.equal(await s.errorCode("SELECT 1/0"), "22012");
    assert.equal(await s.errorCode(select), "25P02");
    await s.query("ROLLBACK");
    assert.deepEqual(await s.rows(select), [["1", "10", "20"]]);
    // Another session caches its own plans and sees the same data.
    const other = await h.session();
    assert.deepEqual(await other.rows(select), [["1", "10", "20"]]);
  } finally {
    await h.close();
  }
});

Deno.test("a cached or prepared plan reads a CTE afresh on every execution", async () => {
  const h = await SqlHarness.open();
  try {
    const s = await h.session();
    await s.query(
      "CREATE TABLE items (id int PRIMARY KEY, owner int, qty int);" +
        "INSERT INTO items VALUES (1, 1, 5), (2, 1, 7), (3, 2, 1)",
    );
    const cte = "WITH t AS (SELECT owner, sum(qty) AS s FROM items GROUP BY owner) " +
      "SELECT owner, s FROM t WHERE s >= 7 ORDER BY owner";
    assert.deepEqual(await s.rows(cte), [["1", "12"]]);
    await s.query("UPDATE items SET qty = 100 WHERE id = 3");
    // The same text again (statement cache): the CTE sees the update.
    assert.deepEqual(await s.rows(cte), [["1", "12"], ["2", "100"]]);
    // A prepared statement (extended protocol) executed twice reads the table each time.
    const execute = async () => {
      const replies = await s.send(
        {
          type: "Bind",
          portal: "",
          statement: "p",
          parameterFormats: [],
          parameters: [],
          resultFormats: [],
        },
        { type: "Execute", portal: "", rowsMax: 0 },
        { type: "Sync" },
      );
      return replies.filter((m) => m.type === "DataRow").length;
    };
    await s.send({ type: "Parse", statement: "p", sql: cte, parameterTypes: [] }, { type: "Sync" });
    assert.equal(await execute(), 2);
    await s.query("DELETE FROM items WHERE owner = 1");
    assert.equal(await execute(), 1);
  } finally {
    await h.close();
  }
});

Deno.test("a cached or prepared plan runs its uncorrelated subqueries afresh on every execution", async () => {
  const h = await SqlHarness.open();
  try {
    const s = await h.session();
    await s.query(
      "CREATE TABLE jobs (id int PRIMARY KEY, due int, owner text);" +
        "INSERT INTO jobs VALUES (1, 10, NULL), (2, 20, NULL), (3, 30, NULL)",
    );
    // The same text twice (statement cache): the IN list is read each time.
    const claim = "UPDATE jobs SET owner = 'me' WHERE id IN " +
      "(SELECT id FROM jobs WHERE owner IS NULL ORDER BY id LIMIT 1) RETURNING id";
    assert.deepEqual(await s.rows(claim), [["1"]]);
    assert.deepEqual(await s.rows(claim), [["2"]]);
    // A prepared statement executed with other parameters (an outbox's claim).
    const due = "SELECT id FROM jobs WHERE id IN (SELECT id FROM jobs WHERE due < $1) ORDER BY id";
    await s.send({ type: "Parse", statement: "due", sql: due, parameterTypes: [] }, {
      type: "Sync",
    });
    const execute = async (before: number) => {
      const replies = await s.send(
        {
          type: "Bind",
          portal: "",
          statement: "due",
          parameterFormats: [],
          parameters: [new TextEncoder().encode(String(before))],
          resultFormats: [],
        },
        { type: "Execute", portal: "", rowsMax: 0 },
        { type: "Sync" },
      );
      return replies.filter((m) => m.type === "DataRow").length;
    };
    assert.equal(await execute(15), 1);
    assert.equal(await execute(25), 2);
    assert.equal(await execute(5), 0);
    assert.equal(await execute(35), 3);
  } finally {
    await h.close();
  }
});
