// Enum types (sql/enums.ts) beyond what the psql fixture enums.sql compares
// with PostgreSQL 15: definitions survive a restart and kill -9, a rolled
// back CREATE TYPE leaves nothing behind, RowDescription carries the type's
// own OID, and the npm pg driver reads the values as text.

import assert from "node:assert/strict";
import pg from "pg";
import { PgClient } from "../../../lib/pg/client.ts";
import { service } from "../../../services/datastore/mod.ts";
import { startService } from "../../_support/service.ts";
import { spawnService } from "../../_support/subprocess.ts";
import { SqlHarness } from "./_sql_harness.ts";

Deno.test("an enum type, its added and renamed labels and its rows survive a restart", async () => {
  const h = await SqlHarness.open();
  const s = await h.session();
  await s.query("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')");
  await s.query("CREATE TABLE person (name text PRIMARY KEY, m mood)");
  await s.query("ALTER TYPE mood ADD VALUE 'meh' BEFORE 'ok'");
  await s.query("INSERT INTO person VALUES ('a', 'happy'), ('b', 'meh'), ('c', 'sad')");
  await s.query("ALTER TYPE mood RENAME VALUE 'sad' TO 'blue'");
  const [[oid]] = await s.rows("SELECT oid FROM pg_type WHERE typname = 'mood'");
  await h.close(false);
  const again = await SqlHarness.open(h.dir);
  try {
    const t = await again.session();
    assert.deepEqual(await t.rows("SELECT enum_range(NULL::mood)"), [["{blue,meh,ok,happy}"]]);
    assert.deepEqual(await t.rows("SELECT name, m FROM person ORDER BY m"), [
      ["c", "blue"],
      ["b", "meh"],
      ["a", "happy"],
    ]);
    assert.equal(await t.errorCode("INSERT INTO person VALUES ('d', 'sad')"), "22P02");
    assert.deepEqual(await t.rows("SELECT oid FROM pg_type WHERE typname = 'mood'"), [[oid]]);
    // A table made after the restart does not take the type's OID.
    await t.query("CREATE TABLE later (x int)");
    const [[tableOid]] = await t.rows("SELECT 'later'::regclass::oid");
    assert.ok(Number(tableOid) > Number(oid), `${tableOid} after ${oid}`);
  } finally {
    await again.close();
  }
});

Deno.test("CREATE TYPE and ALTER TYPE in a block that rolls back leave nothing, also after a restart", async () => {
  const h = await SqlHarness.open();
  const s = await h.session();
  await s.query("CREATE TYPE kept AS ENUM ('a')");
  await s.query("BEGIN");
  await s.query("CREATE TYPE rolled AS ENUM ('x')");
  await s.query("ALTER TYPE kept ADD VALUE 'b'");
  assert.deepEqual(await s.rows("SELECT 'x'::rolled, enum_range(NULL::kept)"), [["x", "{a,b}"]]);
  await s.query("ROLLBACK");
  assert.equal(await s.errorCode("SELECT 'x'::rolled"), "42704");
  assert.deepEqual(await s.rows("SELECT enum_range(NULL::kept)"), [["{a}"]]);
  await h.close(false);
  const again = await SqlHarness.open(h.dir);
  try {
    const t = await again.session();
    assert.equal(await t.errorCode("SELECT 'x'::rolled"), "42704");
    assert.deepEqual(await t.rows("SELECT enum_range(NULL::kept)"), [["{a}"]]);
  } finally {
    await again.close();
  }
});

Deno.test("kill -9 after CREATE TYPE, ALTER TYPE and an INSERT were acknowledged keeps all three", async () => {
  const dir = await Deno.makeTempDir({ prefix: "underhood-datastore-enum-crash-" });
  try {
    const args = ["datastore", "--port", "0", "--admin-port", "0", "--data-dir", dir];
    let server = await spawnService(args, { roles: ["tcp"] });
    {
      await using c = await PgClient.connect({ port: server.ports.tcp });
      await c.query("CREATE TYPE level AS ENUM ('low', 'high')");
      await c.query("CREATE TABLE job (id int PRIMARY KEY, l level)");
      await c.query("ALTER TYPE level ADD VALUE 'mid' AFTER 'low'");
      await c.query("INSERT INTO job VALUES (1, 'mid'), (2, 'high'), (3, 'low')");
    }
    server.kill("SIGKILL");
    await server.exited();
    server = await spawnService(args, { roles: ["tcp"] });
    try {
      await using c = await PgClient.connect({ port: server.ports.tcp });
      const [result] = await c.query("SELECT id, l FROM job ORDER BY l");
      assert.deepEqual(result.rows, [["3", "low"], ["1", "mid"], ["2", "high"]]);
      const [types] = await c.query("SELECT enum_range(NULL::level)");
      assert.deepEqual(types.rows, [["{low,mid,high}"]]);
    } finally {
      server.kill("SIGTERM");
      await server.exited();
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("RowDescription types an enum column by the enum's own OID, one per type", async () => {
  await using store = await startService(service);
  await using c = await PgClient.connect({ port: store.addresses.tcp.port });
  await c.query("CREATE TYPE a AS ENUM ('x'); CREATE TYPE b AS ENUM ('x')");
  const [oids] = await c.query("SELECT typname, oid FROM pg_type WHERE typtype = 'e' ORDER BY 1");
  const [result] = await c.query("SELECT 'x'::a AS a, 'x'::b AS b, 'x'::a::text AS t");
  assert.deepEqual(result.fields.map((f) => f.typeOid), [
    Number(oids.rows[0][1]),
    Number(oids.rows[1][1]),
    25,
  ]);
  assert.notEqual(result.fields[0].typeOid, result.fields[1].typeOid);
  assert.equal(result.fields[0].typeSize, 4); // pg_type.typlen of an enum
});

Deno.test("the npm pg driver reads enum values as text, in parameters and results", async () => {
  await using store = await startService(service);
  const client = new pg.Client({ host: "127.0.0.1", port: store.addresses.tcp.port, user: "app" });
  await client.connect();
  try {
    await client.query("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')");
    await client.query("CREATE TABLE person (name text, m mood)");
    await client.query("INSERT INTO person VALUES ($1, $2), ($3, $4)", ["a", "happy", "b", "sad"]);
    const result = await client.query("SELECT name, m FROM person WHERE m > $1 ORDER BY m", [
      "sad",
    ]);
    assert.deepEqual(result.rows, [{ name: "a", m: "happy" }]);
    await assert.rejects(
      client.query("INSERT INTO person VALUES ($1, $2)", ["c", "angry"]),
      (error: { code?: string; message: string }) =>
        error.code === "22P02" && error.message === 'invalid input value for enum mood: "angry"',
    );
  } finally {
    await client.end();
  }
});
