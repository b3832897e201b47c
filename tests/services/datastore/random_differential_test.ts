// Random differential test: seeded random INSERT, UPDATE, DELETE and SELECT
// statements (fixtures/random_sql.ts) over a small schema with a foreign key
// and a CHECK, run one by one on our datastore and on a scratch PostgreSQL
// 15; every statement must give the same rows (as a multiset unless its
// ORDER BY fixes the order), the same command tag, or the same SQLSTATE.
// Both sides start from the same rows, so a difference anywhere shows up
// in the queries after it too: the first difference is the one to read.
//
// RANDOM_SQL_SEED=n replays one seed; RANDOM_SQL_RUNS=k runs k seeds;
// RANDOM_SQL_STATEMENTS=n sets how many statements each (default 600).

import assert from "node:assert/strict";
import { PgClient, PgServerError } from "../../../lib/pg/client.ts";
import { service } from "../../../services/datastore/mod.ts";
import { interopTest } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";
import { POSTGRES, startPostgres } from "./_postgres.ts";
import { RANDOM_SCHEMA, randomStatements } from "./fixtures/random_sql.ts";

async function answer(client: PgClient, sql: string, ordered: boolean): Promise<unknown> {
  try {
    const results = await client.query(sql);
    const last = results[results.length - 1];
    const rows = last.rows.map((row) => JSON.stringify(row));
    if (!ordered) rows.sort();
    return { tag: last.tag, rows };
  } catch (error) {
    if (error instanceof PgServerError) return { code: error.code };
    throw error;
  }
}

const firstSeed = Number(Deno.env.get("RANDOM_SQL_SEED") ?? 20261202);
const runs = Number(Deno.env.get("RANDOM_SQL_RUNS") ?? 1);
const statementsPerSeed = Number(Deno.env.get("RANDOM_SQL_STATEMENTS") ?? 600);

interopTest("random SQL statements answer as PostgreSQL 15 does, statement by statement", {
  binaries: POSTGRES ? [] : ["initdb", "postgres"],
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "underhood-pg-reference-" });
    await Deno.chmod(dir, 0o755);
    const reference = await startPostgres(dir);
    try {
      await using admin = await PgClient.connect({ port: reference.port, user: "postgres" });
      for (let run = 0; run < runs; run++) {
        const seed = firstSeed + run;
        await t.step(`seed ${seed}`, async () => {
          const database = `random${run}`;
          await admin.query(`CREATE DATABASE ${database}`);
          try {
            await using ours = await startService(service);
            await using theirs = await PgClient.connect({
              port: reference.port,
              user: "postgres",
              database,
            });
            await using mine = await PgClient.connect({
              port: ours.addresses.tcp.port,
              user: "postgres",
              database,
            });
            await theirs.query(RANDOM_SCHEMA);
            await mine.query(RANDOM_SCHEMA);
            const statements = randomStatements(seed, statementsPerSeed);
            for (const [i, { sql, ordered }] of statements.entries()) {
              const expected = await answer(theirs, sql, ordered);
              const actual = await answer(mine, sql, ordered);
              assert.deepEqual(
                actual,
                expected,
                `statement ${i} of seed ${seed} (RANDOM_SQL_SEED=${seed} replays it): ${sql}`,
              );
            }
          } finally {
            await admin.query(`DROP DATABASE ${database}`);
          }
        });
      }
    } finally {
      await reference.stop();
      await new Deno.Command("rm", { args: ["-rf", dir] }).output();
    }
  },
});
