// psql differential test: every script in fixtures/psql/ runs through psql
// (`-X -a -f`, so each statement is echoed beside its rows, notices and
// errors) against a scratch PostgreSQL 15 and against our datastore, each
// starting empty; the two transcripts must be the same text. This checks
// what a psql user sees: rows, command tags, error messages with their
// DETAIL and HINT lines, notices, and psql's own meta-commands over
// pg_catalog. Skipped visibly without psql, initdb and postgres.
//
// Differences we accept are edited out by `normalize` below, each with its
// reason (docs/datastore.md lists them too).
//
// PSQL_DIFF_ONLY=name runs one script; PSQL_DIFF_DUMP=dir writes both
// transcripts there (name.sql.postgres, name.sql.ours) for diff.

import assert from "node:assert/strict";
import { join } from "node:path";
import { PgClient } from "../../../lib/pg/client.ts";
import { service } from "../../../services/datastore/mod.ts";
import { interopRequired, interopTest, runClient } from "../../_support/interop.ts";
import { linearRegexEngine, V8_FLAGS_ARG } from "../../../lib/v8_flags.ts";
import { startService } from "../../_support/service.ts";
import { POSTGRES, startPostgres } from "./_postgres.ts";

const FIXTURES = new URL("./fixtures/psql/", import.meta.url).pathname;

/**
 * Accepted differences: PostgreSQL's CONTEXT lines name the SQL its
 * foreign key triggers run internally; we run no SQL for them.
 */
function normalize(transcript: string): string {
  return transcript.split("\n").filter((line) => !line.startsWith("CONTEXT:  SQL statement"))
    .join("\n");
}

/**
 * Patterns that backtrack exponentially: answered only with V8's
 * linear-time engine, which `deno task test` turns on (lib/v8_flags.ts).
 */
const LINEAR_ONLY = "regex_linear.sql";

function linearEngineOrSkip(): boolean {
  if (linearRegexEngine()) return true;
  const why = `${LINEAR_ONLY} needs ${V8_FLAGS_ARG} (deno task test passes it)`;
  if (interopRequired()) throw new Error(why);
  console.warn(`skipped: ${why}`);
  return false;
}

async function psql(port: number, database: string, file: string): Promise<string> {
  const run = await runClient("psql", [
    "-X",
    "-a",
    "-h",
    "127.0.0.1",
    "-p",
    String(port),
    "-U",
    "postgres",
    "-d",
    database,
    "-f",
    file,
  ], { env: { PGTZ: "UTC", PAGER: "", PSQL_PAGER: "", COLUMNS: "200" } });
  // psql writes rows to stdout and errors to stderr; -f with 2>&1 interleaves
  // them in order only through one pipe, so the script's name prefixes each
  // error line and both streams are compared whole.
  return normalize(`${run.stdout}\n--- stderr ---\n${run.stderr}`);
}

interopTest("psql scripts print the same against our datastore as against PostgreSQL 15", {
  binaries: POSTGRES ? ["psql"] : ["psql", "initdb", "postgres"],
  async fn(t) {
    const only = Deno.env.get("PSQL_DIFF_ONLY");
    const scripts = [...Deno.readDirSync(FIXTURES)].map((e) => e.name)
      .filter((name) => name.endsWith(".sql") && (!only || name === `${only}.sql`)).sort()
      .filter((name) => name !== LINEAR_ONLY || linearEngineOrSkip());
    const dir = await Deno.makeTempDir({ prefix: "underhood-pg-reference-" });
    await Deno.chmod(dir, 0o755);
    const reference = await startPostgres(dir);
    try {
      await using admin = await PgClient.connect({ port: reference.port, user: "postgres" });
      for (const [i, script] of scripts.entries()) {
        await t.step(script, async () => {
          const database = `d${i}`;
          await admin.query(`CREATE DATABASE ${database}`);
          const file = join(FIXTURES, script);
          const theirs = await psql(reference.port, database, file);
          await using ours = await startService(service);
          const mine = await psql(ours.addresses.tcp.port, database, file);
          // One database at a time, so \l lists the same ones on both sides.
          await admin.query(`DROP DATABASE ${database}`);
          const dump = Deno.env.get("PSQL_DIFF_DUMP");
          if (dump) {
            // Both transcripts whole, for `diff` (the assertion's message cuts long ones).
            await Deno.writeTextFile(join(dump, `${script}.postgres`), theirs);
            await Deno.writeTextFile(join(dump, `${script}.ours`), mine);
          }
          assert.equal(mine, theirs);
        });
      }
    } finally {
      await reference.stop();
      await new Deno.Command("rm", { args: ["-rf", dir] }).output();
    }
  },
});
