// The npm `postgres` driver (porsager/postgres 3) against our datastore:
// simple queries, parameters (it prepares named statements by default),
// helpers that build multi-row inserts, transactions and savepoints through
// sql.begin, errors with their code, detail and constraint fields, COPY in
// both directions as Node streams, cursors, describe, and several
// statements in one simple query.

import assert from "node:assert/strict";
import postgres from "postgres";
import { service } from "../../../services/datastore/mod.ts";
import { startService } from "../../_support/service.ts";

type Sql = ReturnType<typeof postgres>;

async function withDriver(fn: (sql: Sql) => Promise<void>): Promise<void> {
  await using store = await startService(service);
  const sql = postgres({
    host: "127.0.0.1",
    port: store.addresses.tcp.port,
    user: "postgres",
    database: "app",
    max: 2,
    onnotice: () => {},
  });
  try {
    await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

Deno.test({
  name: "npm postgres: queries, parameters, inserts from objects, errors with their fields",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withDriver(async (sql) => {
      await sql`CREATE TABLE pj (id serial PRIMARY KEY, name text NOT NULL, n int CHECK (n >= 0))`;
      const inserted = await sql`
        INSERT INTO pj (name, n) VALUES (${"a"}, ${1}), (${"b"}, ${2}) RETURNING id, name`;
      assert.equal(inserted.count, 2);
      assert.deepEqual([...inserted], [{ id: 1, name: "a" }, { id: 2, name: "b" }]);
      await sql`INSERT INTO pj ${sql([{ name: "c", n: 3 }, { name: "d", n: 4 }], "name", "n")}`;
      const rows = await sql`SELECT id, name, n FROM pj WHERE n > ${1} ORDER BY id`;
      assert.deepEqual(rows.map((r) => r.name), ["b", "c", "d"]);
      const [typed] = await sql`SELECT ${1}::int + ${2}::int AS s, ${"x"}::text AS t, ${true} AS b`;
      assert.deepEqual({ ...typed }, { s: 3, t: "x", b: true });
      const again = await sql.unsafe("SELECT name FROM pj WHERE id = $1", [1], { prepare: true });
      assert.equal(again[0].name, "a");
      const multi = await sql.unsafe("SELECT 1 AS a; SELECT 2 AS b");
      const results = multi as unknown as { [k: string]: unknown }[][];
      assert.deepEqual(results.map((r) => ({ ...r[0] })), [{ a: 1 }, { b: 2 }]);
      const described = await sql`SELECT id, name FROM pj`.describe();
      assert.deepEqual(described.columns.map((c) => [c.name, c.type]), [["id", 23], ["name", 25]]);

      await assert.rejects(sql`INSERT INTO pj (name, n) VALUES ('x', -1)`, (e: Error) => {
        const error = e as Error & { code: string; constraint_name: string; detail: string };
        assert.equal(error.code, "23514");
        assert.equal(error.constraint_name, "pj_n_check");
        assert.equal(error.detail, "Failing row contains (5, x, -1).");
        return true;
      });
      await assert.rejects(sql`SELECT * FROM nope`, (e: Error) => {
        const error = e as Error & { code: string; position: string };
        assert.equal(error.code, "42P01");
        assert.equal(error.position, "15");
        return true;
      });
    });
  },
});

Deno.test({
  name: "npm postgres: sql.begin commits, rolls back on a throw, and savepoints nest",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withDriver(async (sql) => {
      await sql`CREATE TABLE t (name text)`;
      await assert.rejects(
        sql.begin(async (tx) => {
          await tx`INSERT INTO t VALUES ('rolled back')`;
          throw new Error("rollback");
        }),
        /rollback/,
      );
      const kept = await sql.begin(async (tx) => {
        await tx`INSERT INTO t VALUES ('kept')`;
        await tx.savepoint(async (sp) => {
          await sp`INSERT INTO t VALUES ('savepoint kept')`;
        });
        await tx.savepoint(async (sp) => {
          await sp`INSERT INTO t VALUES ('savepoint undone')`;
          throw new Error("undo");
        }).catch(() => {});
        // An error inside a savepoint leaves the transaction usable after it.
        await tx.savepoint((sp) => sp`SELECT * FROM nope`).catch(() => {});
        return tx`SELECT name FROM t ORDER BY name`;
      });
      assert.deepEqual(kept.map((r) => r.name), ["kept", "savepoint kept"]);
    });
  },
});

Deno.test({
  name: "npm postgres: COPY TO and FROM as streams, and a cursor",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withDriver(async (sql) => {
      await sql`CREATE TABLE c (id int PRIMARY KEY, name text)`;
      const writable = await sql`COPY c FROM STDIN WITH (FORMAT csv)`.writable();
      await new Promise<void>((resolve, reject) => {
        writable.on("error", reject);
        writable.write('1,"one, with comma"\n2,');
        writable.end("two\n3,\n", () => resolve());
      });
      const readable = await sql`COPY c TO STDOUT WITH (FORMAT csv, HEADER)`.readable();
      let text = "";
      for await (const chunk of readable) text += new TextDecoder().decode(chunk);
      assert.equal(text, 'id,name\n1,"one, with comma"\n2,two\n3,\n');
      const seen: number[][] = [];
      await sql`SELECT id FROM c ORDER BY id`.cursor(2, (rows) => {
        seen.push(rows.map((r) => r.id));
      });
      assert.deepEqual(seen, [[1, 2], [3]]);
    });
  },
});
