// A large UPDATE's temporary files and a kill -9 (sql/row_spool.ts): the
// datastore runs as a subprocess. A committed UPDATE that moved every key
// through a spool file survives the kill; an UPDATE ... RETURNING whose
// rows wait in a spool file (its portal suspended after a few rows, the
// transaction open) leaves that file behind when killed, and the next start
// removes it, with the table as the last commit left it.

import assert from "node:assert/strict";
import { join } from "node:path";
import { PgClient } from "../../../lib/pg/client.ts";
import { type SpawnedService, spawnService } from "../../_support/subprocess.ts";

const ROWS = 40_000;

function start(dir: string): Promise<SpawnedService> {
  return spawnService(
    ["datastore", "--port", "0", "--admin-port", "0", "--data-dir", dir],
    { roles: ["tcp"] },
  );
}

function spools(dir: string): string[] {
  return [...Deno.readDirSync(join(dir, "tmp"))].map((e) => e.name)
    .filter((name) => name.startsWith("spool-"));
}

Deno.test({
  name:
    "a large UPDATE through spool files: committed work survives kill -9, a killed one's files are removed at the next start",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "underhood-dml-crash-" });
    let server = await start(dir);
    try {
      {
        await using client = await PgClient.connect({ port: server.ports.tcp });
        await client.query("CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, pad TEXT)");
        await client.query(
          `INSERT INTO t SELECT g, g, repeat('x', 40) FROM generate_series(1, ${ROWS}) g`,
        );
        const [moved] = await client.query(`UPDATE t SET id = id + ${ROWS}`);
        assert.equal(moved.tag, `UPDATE ${ROWS}`);
        assert.deepEqual(spools(dir), []);
        // Its RETURNING rows (about 2 MiB) wait in a spool file while the portal is suspended.
        await client.query("BEGIN");
        await client.send(
          {
            type: "Parse",
            statement: "",
            sql: "UPDATE t SET k = -k RETURNING id, k, pad",
            parameterTypes: [],
          },
          {
            type: "Bind",
            portal: "",
            statement: "",
            parameterFormats: [],
            parameters: [],
            resultFormats: [],
          },
          { type: "Execute", portal: "", rowsMax: 10 },
          { type: "Flush" },
        );
        let rows = 0;
        for (;;) {
          const message = await client.receive();
          if (message.type === "ErrorResponse") assert.fail(JSON.stringify(message.fields));
          if (message.type === "DataRow") rows++;
          if (message.type === "PortalSuspended") break;
        }
        assert.equal(rows, 10);
        assert.equal(spools(dir).length, 1, "the RETURNING rows wait in a spool file");
      }
      server.kill("SIGKILL");
      await server.exited();
      assert.equal(spools(dir).length, 1, "a killed server leaves its spool file");

      server = await start(dir);
      assert.deepEqual(spools(dir), [], "the next start removes it");
      await using client = await PgClient.connect({ port: server.ports.tcp });
      const [check] = await client.query(
        "SELECT count(*), min(id), max(id), count(*) FILTER (WHERE k < 0) FROM t",
      );
      assert.deepEqual(check.rows, [[String(ROWS), String(ROWS + 1), String(2 * ROWS), "0"]]);
    } finally {
      server.kill("SIGKILL");
      await server.exited();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
