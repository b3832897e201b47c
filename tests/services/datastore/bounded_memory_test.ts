// Bounded memory in the executor: every operator that holds rows counts them
// against the statement's bound (54000 past it), and rows that need not be
// held (generate_series, a plain scan) stream in batches.

import assert from "node:assert/strict";
import type { BackendMessage } from "../../../lib/pg/types.ts";
import { SqlHarness, type TestSession } from "./_sql_harness.ts";

const decoder = new TextDecoder();

async function withSession(
  options: { rowsHeldMax?: number },
  body: (s: TestSession) => Promise<void>,
): Promise<void> {
  const h = await SqlHarness.open();
  try {
    await body(await h.session(options));
  } finally {
    await h.close();
  }
}

function dataRows(messages: BackendMessage[]): string[][] {
  return messages.flatMap((m) =>
    m.type === "DataRow" ? [m.values.map((v) => v === null ? "" : decoder.decode(v))] : []
  );
}

Deno.test("a CTE's rows count against the statement's bound (54000), never adding up across statements", async () => {
  await withSession({ rowsHeldMax: 50 }, async (s) => {
    await s.query("CREATE TABLE t (id INTEGER PRIMARY KEY)");
    await s.query("INSERT INTO t SELECT g FROM generate_series(1, 100) AS g");
    assert.equal(
      await s.errorCode("WITH c AS (SELECT id FROM t) SELECT count(*) FROM c"),
      "54000",
    );
    // Within the bound, many times over: the held count goes back to zero each time.
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(
        await s.rows("WITH c AS (SELECT id FROM t WHERE id <= 40) SELECT count(*) FROM c"),
        [["40"]],
      );
    }
  });
});

Deno.test("a prepared statement with a CTE reads the table again at each execution", async () => {
  await withSession({}, async (s) => {
    await s.query("CREATE TABLE t (id INTEGER PRIMARY KEY)");
    await s.query("INSERT INTO t VALUES (1)");
    const parse: BackendMessage[] = await s.send(
      {
        type: "Parse",
        statement: "q",
        sql: "WITH c AS (SELECT id FROM t) SELECT count(*) FROM c",
        parameterTypes: [],
      },
      { type: "Sync" },
    );
    assert.ok(!parse.some((m) => m.type === "ErrorResponse"));
    const run = () =>
      s.send(
        {
          type: "Bind",
          portal: "",
          statement: "q",
          parameterFormats: [],
          parameters: [],
          resultFormats: [],
        },
        { type: "Execute", portal: "", rowsMax: 0 },
        { type: "Sync" },
      );
    assert.deepEqual(dataRows(await run()), [["1"]]);
    await s.query("INSERT INTO t VALUES (2), (3)");
    assert.deepEqual(dataRows(await run()), [["3"]]);
  });
});

Deno.test("generate_series streams: a series far past the bound is counted without holding it", async () => {
  await withSession({ rowsHeldMax: 50 }, async (s) => {
    assert.deepEqual(await s.rows("SELECT count(*) FROM generate_series(1, 100000)"), [["100000"]]);
    assert.deepEqual(
      await s.rows("SELECT sum(g) FROM generate_series(10, 1, -3) AS g"),
      [["22"]],
    );
    assert.deepEqual(
      await s.rows("SELECT g, n FROM generate_series(5, 7) WITH ORDINALITY AS x(g, n)"),
      [["5", "1"], ["6", "2"], ["7", "3"]],
    );
    // Sorting it still holds it: 54000.
    assert.equal(
      await s.errorCode("SELECT g FROM generate_series(1, 1000) AS g ORDER BY g DESC"),
      "54000",
    );
  });
});

Deno.test("set-returning functions in a select list stream: ProjectSet holds no rows, sorting its output does", async () => {
  await withSession({ rowsHeldMax: 50 }, async (s) => {
    await s.query("CREATE TABLE t (id INTEGER PRIMARY KEY, doc JSONB)");
    await s.query(`INSERT INTO t VALUES (1, '[1, 2, 3]'), (2, '[]'), (3, '[4]')`);
    // Each of 3 rows times a series of 30000, two calls in lockstep: 90000 rows, never held.
    assert.deepEqual(
      await s.rows(
        "SELECT count(*), count(e), sum(g) FROM " +
          "(SELECT id, generate_series(1, 30000) AS g, jsonb_array_elements(doc) AS e FROM t) s",
      ),
      [["90000", "4", "1350045000"]],
    );
    assert.deepEqual(
      await s.rows(
        "SELECT count(*) FROM (SELECT regexp_split_to_table(repeat('a,', 99999), ',')) s",
      ),
      [["100000"]],
    );
    assert.equal(
      await s.errorCode("SELECT generate_series(1, 1000) AS g ORDER BY g DESC"),
      "54000",
    );
  });
});

Deno.test("WITH RECURSIVE: a working table that keeps growing stops at the bound (54000); one that stays small runs on", async () => {
  await withSession({ rowsHeldMax: 50 }, async (s) => {
    // Doubles every round and never ends.
    assert.equal(
      await s.errorCode(
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n FROM t, (VALUES (1), (2)) v(x)) " +
          "SELECT count(*) FROM t",
      ),
      "54000",
    );
    // UNION remembers every row it has seen: that counts too.
    assert.equal(
      await s.errorCode(
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION SELECT n + 1 FROM t WHERE n < 100) " +
          "SELECT count(*) FROM t",
      ),
      "54000",
    );
    // UNION ALL holds one round at a time: a thousand rounds of one row each fit.
    assert.deepEqual(
      await s.rows(
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 1000) " +
          "SELECT count(*), sum(n) FROM t",
      ),
      [["1000", "500500"]],
    );
    // An endless one under a LIMIT stops when the LIMIT has its rows.
    assert.deepEqual(
      await s.rows(
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT n FROM t LIMIT 3",
      ),
      [["1"], ["2"], ["3"]],
    );
  });
});

Deno.test("aggregates that hold their input (ORDER BY inside, array_agg, DISTINCT, WITHIN GROUP) count it against the bound (54000)", async () => {
  await withSession({ rowsHeldMax: 50 }, async (s) => {
    await s.query("CREATE TABLE t (id INTEGER PRIMARY KEY)");
    await s.query("INSERT INTO t SELECT g FROM generate_series(1, 100) AS g");
    for (
      const sql of [
        "SELECT string_agg(id::text, ',' ORDER BY id DESC) FROM t",
        "SELECT sum(id ORDER BY id) FROM t",
        "SELECT array_agg(id) FROM t",
        "SELECT json_agg(id) FROM t",
        "SELECT stddev(DISTINCT id) FROM t",
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY id) FROM t",
        "SELECT mode() WITHIN GROUP (ORDER BY id) FROM t",
      ]
    ) assert.equal(await s.errorCode(sql), "54000", sql);
    // A plain variance holds nothing: it runs over any number of rows.
    assert.deepEqual(await s.rows("SELECT variance(id), count(*) FROM t"), [[
      "841.6666666666666667",
      "100",
    ]]);
    assert.deepEqual(
      await s.rows("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY id) FROM t WHERE id <= 40"),
      [["20"]],
    );
  });
});
