// Differential test: the executor's SQL cases (fixtures/sql_cases.ts) run on
// our datastore and on a scratch PostgreSQL 15 side by side; every row and
// every SQLSTATE must match. PostgreSQL runs from a temp directory on a free
// loopback port (as the `postgres` user when we are root: it refuses root).
// Skipped visibly when initdb or postgres is missing, unless REQUIRE_INTEROP=1.

import assert from "node:assert/strict";
import { PgClient, PgServerError } from "../../../lib/pg/client.ts";
import { interopTest } from "../../_support/interop.ts";
import { ERRORS, QUERIES, SETUP } from "./fixtures/sql_cases.ts";
import { POSTGRES, withBothServers } from "./_postgres.ts";

async function answer(client: PgClient, sql: string): Promise<unknown> {
  try {
    const results = await client.query(sql);
    return { rows: results[results.length - 1].rows };
  } catch (error) {
    if (error instanceof PgServerError) return { code: error.code };
    throw error;
  }
}

interopTest("the executor's SQL cases answer as PostgreSQL 15 does, row for row", {
  binaries: POSTGRES ? [] : ["initdb", "postgres"],
  async fn(t) {
    await withBothServers(async (theirs, mine) => {
      await theirs.query(SETUP);
      await mine.query(SETUP);
      for (const [what, sql] of [...QUERIES, ...ERRORS]) {
        await t.step(what, async () => {
          assert.deepEqual(await answer(mine, sql), await answer(theirs, sql), sql);
        });
      }
    });
  },
});
