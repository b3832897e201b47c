// Comma joins of many tables: WHERE equalities join each table to those
// before it by hash instead of a filtered cross product (which for ten
// tables of 50 rows is 50^10 row combinations and never finishes).

import assert from "node:assert/strict";
import { SqlHarness } from "./_sql_harness.ts";

Deno.test("a ten-table comma join with equalities in WHERE answers (hash joins, not a cross product)", async () => {
  const h = await SqlHarness.open();
  try {
    const s = await h.session();
    // Without the hash joins the count runs for ever: the timeout bounds the failure.
    await s.query("SET statement_timeout = '20s'");
    for (let i = 1; i <= 10; i++) {
      await s.query(`CREATE TABLE t${i} (id integer PRIMARY KEY, v integer)`);
      await s.query(`INSERT INTO t${i} SELECT g, g % 10 FROM generate_series(1, 50) AS g`);
    }
    const from = Array.from({ length: 10 }, (_, i) => `t${i + 1}`).join(", ");
    const chain = Array.from({ length: 9 }, (_, i) => `t${i + 1}.id = t${i + 2}.id`).join(" AND ");
    assert.deepEqual(await s.rows(`SELECT count(*) FROM ${from} WHERE ${chain}`), [["50"]]);
    // Terms naming a table not joined yet wait for it; other terms still filter; column order stays.
    assert.deepEqual(
      await s.rows(
        "SELECT t3.id, t1.v, t2.id FROM t1, t2, t3 WHERE t3.id = t1.id AND t2.id = t3.id " +
          "AND t1.v = 3 AND t2.id < 20 ORDER BY t3.id",
      ),
      [["3", "3", "3"], ["13", "3", "13"]],
    );
    assert.deepEqual(await s.rows("SELECT * FROM t1, t2 WHERE t1.id = t2.id AND t1.id = 7"), [[
      "7",
      "7",
      "7",
      "7",
    ]]);
    // No equality: still a cross product (bounded here).
    assert.deepEqual(await s.rows("SELECT count(*) FROM t1, t2 WHERE t1.v < t2.v"), [["1125"]]);
  } finally {
    await h.close();
  }
});
