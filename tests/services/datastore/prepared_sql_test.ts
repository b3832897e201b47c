// SQL-level PREPARE / EXECUTE / DEALLOCATE share one namespace with the
// extended protocol's named statements (sql/prepared_sql.ts), as in
// PostgreSQL: written once, run against our datastore and against
// PostgreSQL 15 (skipped visibly when it is not installed, unless
// REQUIRE_INTEROP=1). The statements' rows and errors one by one are in
// fixtures/psql/prepared.sql.

import assert from "node:assert/strict";
import { PgClient, PgServerError } from "../../../lib/pg/client.ts";
import type { BackendMessage } from "../../../lib/pg/types.ts";
import { service } from "../../../services/datastore/mod.ts";
import { startService } from "../../_support/service.ts";
import { interopTest } from "../../_support/interop.ts";
import { POSTGRES, startPostgres } from "./_postgres.ts";

const text = new TextEncoder();
const decoder = new TextDecoder();

/** Binds `statement` with text parameters, executes it, and returns its rows or its SQLSTATE. */
async function bindAndRun(client: PgClient, statement: string, params: string[]) {
  await client.send(
    {
      type: "Bind",
      portal: "",
      statement,
      parameterFormats: [],
      parameters: params.map((p) => text.encode(p)),
      resultFormats: [],
    },
    { type: "Execute", portal: "", rowsMax: 0 },
    { type: "Sync" },
  );
  const messages: BackendMessage[] = await client.receiveUntilReady();
  const error = messages.find((m) => m.type === "ErrorResponse");
  if (error) return new PgServerError(error.fields).code;
  return messages.flatMap((m) =>
    m.type === "DataRow" ? [m.values.map((v) => v === null ? null : decoder.decode(v))] : []
  );
}

async function scenario(client: PgClient): Promise<void> {
  // A statement prepared by Parse runs through EXECUTE ...
  await client.send(
    { type: "Parse", statement: "twice", sql: "SELECT $1::int * 2", parameterTypes: [] },
    { type: "Sync" },
  );
  await client.receiveUntilReady();
  assert.deepEqual((await client.query("EXECUTE twice(21)"))[0].rows, [["42"]]);
  // ... and one prepared by PREPARE is bound by Bind.
  await client.query("PREPARE greet (text) AS SELECT 'hello ' || $1");
  assert.deepEqual(await bindAndRun(client, "greet", ["you"]), [["hello you"]]);
  // Parse cannot reuse PREPARE's name; DEALLOCATE removes Parse's.
  await client.send(
    { type: "Parse", statement: "greet", sql: "SELECT 1", parameterTypes: [] },
    { type: "Sync" },
  );
  const parsed = await client.receiveUntilReady();
  const refused = parsed.find((m) => m.type === "ErrorResponse");
  assert.ok(refused && refused.type === "ErrorResponse");
  assert.equal(new PgServerError(refused.fields).code, "42P05");
  await client.query("DEALLOCATE twice");
  assert.equal(await bindAndRun(client, "twice", ["1"]), "26000");
  await client.query("DEALLOCATE ALL");
  assert.equal(await bindAndRun(client, "greet", ["1"]), "26000");
}

Deno.test("PREPARE and EXECUTE share the protocol's statements: our datastore", async () => {
  await using store = await startService(service);
  await using client = await PgClient.connect({ port: store.addresses.tcp.port, user: "postgres" });
  await scenario(client);
});

interopTest("PREPARE and EXECUTE share the protocol's statements: PostgreSQL 15 too", {
  binaries: POSTGRES ? [] : ["initdb", "postgres"],
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "underhood-pg-prepare-" });
    await Deno.chmod(dir, 0o755);
    const reference = await startPostgres(dir);
    try {
      await using client = await PgClient.connect({ port: reference.port, user: "postgres" });
      await scenario(client);
    } finally {
      await reference.stop();
      await new Deno.Command("rm", { args: ["-rf", dir] }).output();
    }
  },
});
