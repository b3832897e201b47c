// statement_timeout: SET (with PostgreSQL's units), as a startup parameter
// (the npm pg driver's statement_timeout option), and as the server's
// default (--statement-timeout-ms, which RESET returns to). A statement
// running past it fails with 57014 "canceling statement due to statement
// timeout", through the npm pg driver, the same as PostgreSQL 15 answers.

import assert from "node:assert/strict";
import pg from "pg";
import { service } from "../../../services/datastore/mod.ts";
import { interopTest } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";
import { POSTGRES, startPostgres } from "./_postgres.ts";

/** Far more rows than a 100 ms timeout lets either server count (bounded if it never fires). */
const LONG_QUERY = "SELECT count(*) FROM generate_series(1, 300000000)";

async function errorOf(client: pg.Client, sql: string): Promise<{ code: string; message: string }> {
  try {
    await client.query(sql);
  } catch (error) {
    const e = error as { code: string; message: string };
    return { code: e.code, message: e.message };
  }
  throw new Error(`expected ${sql} to fail`);
}

async function show(client: pg.Client): Promise<string> {
  return (await client.query("SHOW statement_timeout")).rows[0].statement_timeout;
}

/** What the script below sees, to compare between our server and PostgreSQL. */
async function timeoutScript(port: number, user: string): Promise<unknown[]> {
  const seen: unknown[] = [];
  const client = new pg.Client({ host: "127.0.0.1", port, user, database: "postgres" });
  await client.connect();
  try {
    seen.push(await show(client));
    for (const value of ["1500", "'60s'", "'2h'", "'250ms'", "0"]) {
      await client.query(`SET statement_timeout = ${value}`);
      seen.push(await show(client));
    }
    seen.push((await errorOf(client, "SET statement_timeout = 'soon'")).code);
    await client.query("SET statement_timeout = 100");
    seen.push(await errorOf(client, LONG_QUERY));
    // The session goes on; inside a block the timeout aborts the block.
    seen.push((await client.query("SELECT 1 AS one")).rows);
    await client.query("BEGIN");
    seen.push(await errorOf(client, LONG_QUERY));
    seen.push((await errorOf(client, "SELECT 1")).code);
    await client.query("ROLLBACK");
    await client.query("RESET statement_timeout");
    seen.push(await show(client));
  } finally {
    await client.end();
  }
  // The driver's statement_timeout option is a startup parameter.
  const timed = new pg.Client({
    host: "127.0.0.1",
    port,
    user,
    database: "postgres",
    statement_timeout: 100,
  });
  await timed.connect();
  try {
    seen.push(await show(timed));
    seen.push(await errorOf(timed, LONG_QUERY));
  } finally {
    await timed.end();
  }
  return seen;
}

const EXPECTED = [
  "0",
  "1500ms",
  "1min",
  "2h",
  "250ms",
  "0",
  "22023",
  { code: "57014", message: "canceling statement due to statement timeout" },
  [{ one: 1 }],
  { code: "57014", message: "canceling statement due to statement timeout" },
  "25P02",
  "0",
  "100ms",
  { code: "57014", message: "canceling statement due to statement timeout" },
];

Deno.test("statement_timeout through the npm pg driver: SET, SHOW, RESET, 57014, the startup option", async () => {
  await using store = await startService(service);
  assert.deepEqual(await timeoutScript(store.addresses.tcp.port, "app"), EXPECTED);
});

Deno.test("--statement-timeout-ms is every session's default, and what RESET returns to", async () => {
  await using store = await startService(service, { statementTimeoutMs: 100 });
  const client = new pg.Client({ host: "127.0.0.1", port: store.addresses.tcp.port, user: "app" });
  await client.connect();
  try {
    assert.equal(await show(client), "100ms");
    assert.deepEqual(await errorOf(client, LONG_QUERY), {
      code: "57014",
      message: "canceling statement due to statement timeout",
    });
    await client.query("SET statement_timeout = 0");
    assert.equal(await show(client), "0");
    await client.query("RESET statement_timeout");
    assert.equal(await show(client), "100ms");
    // A quick statement is not touched by the timeout.
    assert.deepEqual((await client.query("SELECT 2 AS two")).rows, [{ two: 2 }]);
  } finally {
    await client.end();
  }
});

interopTest("statement_timeout answers as PostgreSQL 15 does, through the npm pg driver", {
  binaries: POSTGRES ? [] : ["initdb", "postgres"],
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "underhood-pg-reference-" });
    try {
      const reference = await startPostgres(dir);
      try {
        assert.deepEqual(await timeoutScript(reference.port, "postgres"), EXPECTED);
      } finally {
        await reference.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
