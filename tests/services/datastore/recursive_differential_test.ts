// WITH RECURSIVE's and LATERAL's errors against a scratch PostgreSQL 15:
// SQLSTATE, message, DETAIL and HINT must match. (Their rows are in
// fixtures/psql/recursive.sql; these errors stay out of that transcript
// because PostgreSQL points at the offending reference with a LINE and
// caret, and our parse tree carries no positions.)

import assert from "node:assert/strict";
import { PgClient, PgServerError } from "../../../lib/pg/client.ts";
import { interopTest } from "../../_support/interop.ts";
import { POSTGRES, withBothServers } from "./_postgres.ts";

const SETUP = "CREATE TABLE tree (id int PRIMARY KEY, parent_id int, name text); " +
  "INSERT INTO tree VALUES (1, NULL, 'root'), (2, 1, 'a'), (3, 2, 'b')";

const ERRORS: [string, string][] = [
  [
    "a recursive term of a wider type",
    "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1.5 FROM t WHERE n < 5) SELECT * FROM t",
  ],
  [
    "a recursive term cast wider",
    "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT (n + 1)::bigint FROM t WHERE n < 5) " +
    "SELECT * FROM t",
  ],
  [
    "an aggregate in the recursive term",
    "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT count(*) FROM t) SELECT * FROM t",
  ],
  [
    "a reference in a subquery expression",
    "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t " +
    "WHERE n < (SELECT max(n) FROM t)) SELECT * FROM t",
  ],
  [
    "a reference on an outer join's nullable side",
    "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT x.n + 1 FROM tree " +
    "LEFT JOIN t x ON x.n = tree.id) SELECT * FROM t",
  ],
  [
    "two references",
    "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT a.n + 1 FROM t a, t b) SELECT * FROM t",
  ],
  ["no UNION", "WITH RECURSIVE t(n) AS (SELECT n FROM t) SELECT * FROM t"],
  [
    "a reference in the non-recursive term",
    "WITH RECURSIVE t(n) AS (SELECT n FROM t UNION ALL SELECT 1) SELECT * FROM t",
  ],
  [
    "LATERAL on a RIGHT JOIN",
    "SELECT t.id, s.v FROM tree t RIGHT JOIN LATERAL (SELECT t.id AS v) s ON true",
  ],
];

async function answer(client: PgClient, sql: string): Promise<unknown> {
  try {
    const results = await client.query(sql);
    return { rows: results[results.length - 1].rows };
  } catch (error) {
    if (!(error instanceof PgServerError)) throw error;
    const { code, message, detail, hint } = error.fields;
    return { code, message, detail, hint };
  }
}

interopTest("WITH RECURSIVE and LATERAL fail as PostgreSQL 15 does", {
  binaries: POSTGRES ? [] : ["initdb", "postgres"],
  async fn(t) {
    await withBothServers(async (theirs, mine) => {
      await theirs.query(SETUP);
      await mine.query(SETUP);
      for (const [what, sql] of ERRORS) {
        await t.step(what, async () => {
          const ours = await answer(mine, sql);
          assert.deepEqual(ours, await answer(theirs, sql), sql);
          assert.ok((ours as { code?: string }).code, sql);
        });
      }
    });
  },
});
