// Array columns (sql/array_types.ts, lib/pg/arrays.ts) through the npm pg
// driver, which is how ORMs use them (Prisma `String[]`, Django
// ArrayField, Rails `array: true`): JS arrays as parameters (the driver
// sends them as array literals), JS arrays back from text and binary
// results (it picks its parser by the RowDescription's type OID), the same
// script against PostgreSQL 15; the npm postgres driver, which learns the
// array types from pg_type at connect; the errors a differential run
// compares by SQLSTATE and message; and array columns across a restart.

import assert from "node:assert/strict";
import pg from "pg";
import postgres from "postgres";
import { PgClient, PgServerError } from "../../../lib/pg/client.ts";
import { service } from "../../../services/datastore/mod.ts";
import { interopTest } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";
import { POSTGRES, startPostgres, withBothServers } from "./_postgres.ts";

/** What the driver sees of array columns; compared between our server and PostgreSQL. */
async function driverScript(port: number, user: string): Promise<unknown[]> {
  const seen: unknown[] = [];
  const client = new pg.Client({ host: "127.0.0.1", port, user, database: "postgres" });
  await client.connect();
  try {
    await client.query(
      "CREATE TABLE posts (id serial PRIMARY KEY, tags text[] NOT NULL DEFAULT '{}', " +
        "scores int[], grid int[][], flags boolean[], ratios float8[], prices numeric[], big bigint[])",
    );
    const insert = "INSERT INTO posts (tags, scores, grid, flags, ratios, prices, big) " +
      "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, tags, scores, grid";
    seen.push(
      (await client.query(insert, [
        ["a", "b c", 'x"y', "back\\slash", "", "NULL", null, "{brace}", "comma,"],
        [1, 2, null],
        [[1, 2], [3, 4]],
        [true, false, null],
        [1.5, -0.25],
        ["1.50", "2"],
        ["9223372036854775807"],
      ])).rows,
    );
    seen.push((await client.query(insert, [[], [], null, null, null, null, null])).rows);
    await client.query("INSERT INTO posts (scores) VALUES ('{7}')");
    // Text results.
    seen.push((await client.query("SELECT * FROM posts ORDER BY id")).rows);
    // Binary results: the driver decodes array_send's form for these types.
    seen.push(
      (await client.query({
        text: "SELECT tags, scores, big FROM posts ORDER BY id",
        binary: true,
      })).rows,
    );
    // Parameters in operators: ANY, @>, &&, subscripts, assignment of an element.
    seen.push(
      (await client.query("SELECT id FROM posts WHERE $1 = ANY(tags) ORDER BY id", ["b c"])).rows,
    );
    seen.push(
      (await client.query("SELECT id FROM posts WHERE tags @> $1 ORDER BY id", [["a", "NULL"]]))
        .rows,
    );
    seen.push(
      (await client.query("SELECT id FROM posts WHERE scores && $1::int[] ORDER BY id", [[2, 7]]))
        .rows,
    );
    seen.push(
      (await client.query("SELECT id, scores[$1], tags[2:3] FROM posts ORDER BY id", [1])).rows,
    );
    await client.query("UPDATE posts SET tags = array_append(tags, $1) WHERE id = 2", ["new"]);
    await client.query("UPDATE posts SET scores[2] = $1 WHERE id = 3", [8]);
    seen.push(
      (await client.query("SELECT id, tags, scores, cardinality(tags) AS n FROM posts ORDER BY id"))
        .rows,
    );
    seen.push(
      (await client.query("SELECT tags, count(*)::int AS c FROM posts GROUP BY tags ORDER BY tags"))
        .rows,
    );
    // The column described as ORMs read it.
    seen.push(
      (await client.query(
        "SELECT column_name, data_type, udt_name FROM information_schema.columns " +
          "WHERE table_name = 'posts' ORDER BY ordinal_position",
      )).rows,
    );
    // A malformed literal, as the driver reports it.
    try {
      await client.query("INSERT INTO posts (tags) VALUES ($1)", ["{a,"]);
      seen.push("no error");
    } catch (error) {
      const e = error as { code: string; message: string; detail?: string };
      seen.push({ code: e.code, message: e.message, detail: e.detail });
    }
    // An untyped parameter beside ANY is inferred as the operand's array type (int4[]).
    seen.push(
      (await client.query("SELECT id FROM posts WHERE id = ANY($1) ORDER BY id", [[1, 3]])).rows,
    );
    // The bulk-insert idiom: one array parameter per column, unnest side by side.
    await client.query("CREATE TABLE people (id int PRIMARY KEY, name text)");
    await client.query("INSERT INTO people SELECT * FROM unnest($1::int[], $2::text[])", [
      [1, 2, 3],
      ["ann", "bo b", null],
    ]);
    seen.push((await client.query("SELECT * FROM people ORDER BY id")).rows);
  } finally {
    await client.end();
  }
  return seen;
}

/** The driver's view, written out: what PostgreSQL 15 gives (checked by the interop test below). */
const EXPECTED_ROW_1 = {
  id: 1,
  tags: ["a", "b c", 'x"y', "back\\slash", "", "NULL", null, "{brace}", "comma,"],
  scores: [1, 2, null],
  grid: [[1, 2], [3, 4]],
};

Deno.test("array columns through the npm pg driver: JS arrays in, JS arrays out in text and binary", async () => {
  await using store = await startService(service);
  const seen = await driverScript(store.addresses.tcp.port, "app");
  assert.deepEqual(seen[0], [EXPECTED_ROW_1]);
  assert.deepEqual(seen[1], [{ id: 2, tags: [], scores: [], grid: null }]);
  const all = seen[2] as Record<string, unknown>[];
  assert.deepEqual(all[0].flags, [true, false, null]);
  assert.deepEqual(all[0].ratios, [1.5, -0.25]);
  assert.deepEqual(all[0].prices, [1.5, 2]); // the driver reads numeric[] elements as numbers
  assert.deepEqual(all[0].big, ["9223372036854775807"]);
  assert.deepEqual(all[2].tags, []);
  const binary = seen[3] as Record<string, unknown>[];
  assert.deepEqual(binary[0].tags, EXPECTED_ROW_1.tags);
  assert.deepEqual(binary[0].scores, [1, 2, null]);
  assert.deepEqual(seen[4], [{ id: 1 }]);
  assert.deepEqual(seen[5], [{ id: 1 }]);
  assert.deepEqual(seen[6], [{ id: 1 }, { id: 3 }]);
  assert.deepEqual(seen[7], [
    { id: 1, scores: 1, tags: ["b c", 'x"y'] },
    { id: 2, scores: null, tags: [] },
    { id: 3, scores: 7, tags: [] },
  ]);
  assert.deepEqual((seen[8] as unknown[])[1], { id: 2, tags: ["new"], scores: [], n: 1 });
  assert.deepEqual((seen[8] as unknown[])[2], { id: 3, tags: [], scores: [7, 8], n: 0 });
  assert.deepEqual((seen[10] as unknown[])[1], {
    column_name: "tags",
    data_type: "ARRAY",
    udt_name: "_text",
  });
  assert.deepEqual(seen[12], [{ id: 1 }, { id: 3 }]);
  assert.deepEqual(seen[13], [
    { id: 1, name: "ann" },
    { id: 2, name: "bo b" },
    { id: 3, name: null },
  ]);
  assert.deepEqual(seen[11], {
    code: "22P02",
    message: 'malformed array literal: "{a,"',
    detail: "Unexpected end of input.",
  });
});

interopTest("array columns through the npm pg driver: the same as PostgreSQL 15", {
  binaries: POSTGRES ? [] : ["initdb", "postgres"],
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "underhood-pg-reference-" });
    try {
      const reference = await startPostgres(dir);
      try {
        await using store = await startService(service);
        assert.deepEqual(
          await driverScript(store.addresses.tcp.port, "postgres"),
          await driverScript(reference.port, "postgres"),
        );
      } finally {
        await reference.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/**
 * The npm postgres driver (porsager) reads pg_type's array types (typcategory
 * 'A', typelem) when it connects; without them it sends JS arrays typed text
 * and reads arrays back as strings.
 */
async function postgresJsScript(port: number): Promise<unknown> {
  const sql = postgres({
    host: "127.0.0.1",
    port,
    user: "postgres",
    database: "postgres",
    max: 1,
    onnotice: () => {},
  });
  try {
    await sql`CREATE TABLE pj (id int PRIMARY KEY, tags text[], n int[])`;
    await sql`INSERT INTO pj VALUES (1, ${sql.array(["a", "b c"])}, ${sql.array([1, 2])}::int[])`;
    await sql`INSERT INTO pj ${sql({ id: 2, tags: ["x", "y z"], n: [3] }, "id", "tags")}`;
    const rows = await sql`SELECT * FROM pj ORDER BY id`;
    const any = await sql`SELECT id FROM pj WHERE ${"x"} = ANY(tags)`;
    return [rows.map((r) => ({ ...r })), any.map((r) => ({ ...r }))];
  } finally {
    await sql.end({ timeout: 5 });
  }
}

const POSTGRES_JS_EXPECTED = [
  [{ id: 1, tags: ["a", "b c"], n: [1, 2] }, { id: 2, tags: ["x", "y z"], n: null }],
  [{ id: 2 }],
];

Deno.test({
  name: "array columns through the npm postgres driver: JS arrays in and out",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using store = await startService(service);
    assert.deepEqual(await postgresJsScript(store.addresses.tcp.port), POSTGRES_JS_EXPECTED);
  },
});

interopTest("array columns through the npm postgres driver: the same as PostgreSQL 15", {
  binaries: POSTGRES ? [] : ["initdb", "postgres"],
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "underhood-pg-reference-" });
    try {
      const reference = await startPostgres(dir);
      try {
        assert.deepEqual(await postgresJsScript(reference.port), POSTGRES_JS_EXPECTED);
      } finally {
        await reference.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Statements whose answer (rows or SQLSTATE and message) must be PostgreSQL 15's. */
const DIFFERENTIAL = [
  "CREATE TABLE d (id int PRIMARY KEY, n int[], t text[], m int[][])",
  "INSERT INTO d VALUES (1, '{1,2,3}', '{a,b}', '{{1,2},{3,4}}'), (2, '{}', '{}', NULL), (3, NULL, '{c}', '{{5}}')",
  "INSERT INTO d (id, n) VALUES (4, ARRAY['a'])",
  "INSERT INTO d (id, n) VALUES (4, '{a}'::text[])",
  "INSERT INTO d (id, t) VALUES (4, ARRAY[1, 2])",
  "INSERT INTO d (id, n) VALUES (4, ARRAY[1.5, 2.5])",
  "SELECT n FROM d WHERE id = 4",
  "DELETE FROM d WHERE id = 4",
  "SELECT '{1,2}'::int[]::int",
  "SELECT 1::int[]",
  "SELECT ARRAY[1,2] = ARRAY[1,2]::bigint[]",
  "SELECT ARRAY[1] @> ARRAY[1.0]",
  "SELECT ARRAY['a']::varchar[] = ARRAY['a']::text[]",
  "SELECT n @> t FROM d",
  "SELECT n + 1 FROM d",
  "SELECT '{a,b'::text[]",
  "SELECT '[1:2]={a}'::text[]",
  "SELECT '[2:1]={}'::text[]",
  "SELECT '{{1},{2,3}}'::int[]",
  "SELECT '{{{{{{{1}}}}}}}'::int[]",
  "SELECT ARRAY[ARRAY[1,2],ARRAY[3]]",
  "SELECT ARRAY[1] || ARRAY[[[3]]]",
  "SELECT ARRAY[1, 'x']",
  "SELECT m[1][2], m[2][1], m[1], m[1:1], m[2:][:1], n[2:], n[:2], n[0:10], n[3:2] FROM d ORDER BY id",
  "SELECT (ARRAY[1,2,3])[1.5], (ARRAY[1,2,3])['2'], (ARRAY[1,2])[NULL]",
  "SELECT (ARRAY[1,2])['x']",
  "SELECT (ARRAY[1,2])[true]",
  "UPDATE d SET m[3][1] = 1 WHERE id = 1",
  "UPDATE d SET n[NULL] = 1 WHERE id = 1",
  "UPDATE d SET n[-1] = 0, t[4] = 'z' WHERE id = 1",
  "UPDATE d SET n[2] = 9 WHERE id = 3",
  "SELECT id, n, t, array_lower(n, 1), array_dims(n) FROM d ORDER BY id",
  "SELECT array_agg(m) FROM d",
  "SELECT array_agg(m) FROM d WHERE m IS NOT NULL",
  "SELECT array_agg(t ORDER BY id) FROM d",
  "SELECT n, count(*) FROM d GROUP BY n ORDER BY n",
  "SELECT DISTINCT t FROM d ORDER BY t DESC",
  "SELECT id FROM d WHERE t = '{c}'",
  "SELECT id FROM d WHERE t > '{a}' ORDER BY id",
  "SELECT max(t), min(n) FROM d",
  "SELECT id, x FROM d, unnest(m) AS x ORDER BY id, x",
  "SELECT 1 = ANY(n), 1 = ALL(n), 2 > ANY(n), 'a' = ANY(t) FROM d ORDER BY id",
  "SELECT 1 = ANY('{1,2}'), 'x' = ANY('{x}')",
  "SELECT ARRAY[1] || 'x'",
  "SELECT n || NULL, NULL || n, n || NULL::int FROM d ORDER BY id",
  "SELECT ARRAY[NULL::int] = ARRAY[NULL::int], ARRAY[1, NULL] < ARRAY[1, 2], '{}'::int[] < '{NULL}'",
  "SELECT array_length(m, 1), array_length(m, 2), array_upper(m, 2), array_ndims(m), cardinality(m) FROM d ORDER BY id",
  "SELECT '{1,2}'::int[]::text[], '{1.5}'::float8[]::numeric[], '{2024-01-02}'::date[]::timestamp[]",
  "SELECT '{x}'::text[]::int[]",
  'SELECT E\'{"a\\\\"b","\\\\\\\\"}\'::text[], \'{""}\'::text[], \'{" "}\'::text[]',
  "SELECT array_append('[0:1]={1,2}'::int[], 3), array_prepend(0, '[0:1]={1,2}'::int[]), array_append(NULL::int[], 1)",
  "SELECT array_append(ARRAY[[1,2]], 3)",
  "SELECT array_remove('[2:3]={a,b}'::text[], 'a'), array_replace('[2:3]={a,b}'::text[], 'a', 'z')",
  "SELECT array_remove(ARRAY[[1,2]], 1)",
  "SELECT ARRAY[1,2] || ARRAY['a']",
  "SELECT ARRAY(SELECT ARRAY[1,2]), ARRAY(SELECT ARRAY[1,2] WHERE false)",
  "SELECT (regexp_match('abc', '(b)(c)'))[2], pg_typeof(regexp_match('abc', 'b'))",
  "SELECT array_to_json(ARRAY[1,2]), to_json(ARRAY[[1,2],[3,4]]), array_to_json('{{a},{NULL}}'::text[])",
  "SELECT * FROM unnest(ARRAY[1,2,3], ARRAY['a','b'])",
  "SELECT * FROM unnest('{1,2}'::int[], '{x,y,z}'::text[]) AS u(n, s)",
  "SELECT * FROM (SELECT 1 AS a, 2 AS a) s",
  "SELECT generate_subscripts('{a,b,c}'::text[], 1), generate_subscripts('[0:1]={a,b}'::text[], 1, true)",
  "SELECT array_fill(7, ARRAY[2,2]), array_fill('x'::text, ARRAY[2], ARRAY[0]), array_fill(1, ARRAY[0])",
  "SELECT trim_array('{{1,2},{3,4},{5,6}}'::int[], 2), trim_array('{1}'::int[], 1)",
  "SELECT trim_array('{1}'::int[], 2)",
  // What an ORM's introspection and psycopg-style literals read and send.
  "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typname, t.typcategory, " +
  "et.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type et " +
  "ON et.oid = t.typelem WHERE a.attrelid = 'd'::regclass AND a.attnum > 0 ORDER BY a.attnum",
  "SELECT ARRAY['abcdef']::varchar(3)[], ARRAY[1.239]::numeric(5,2)[]",
  "SELECT id FROM d WHERE t @> ARRAY['c']::varchar(10)[]",
  // Slice and element assignment of a value of the wrong type.
  "UPDATE d SET n[1:2] = ARRAY['1','2'] WHERE id = 1",
  "UPDATE d SET n[1] = 'x'::text WHERE id = 1",
  "UPDATE d SET n[1:2] = '{8,9}', m[1:1][1:2] = '{{0,0}}' WHERE id = 1",
  "UPDATE d SET n[:1] = '{1}' WHERE id = 2",
  "UPDATE d SET n[1:3] = '{1}' WHERE id = 1",
  "SELECT id, n, m FROM d ORDER BY id",
  "CREATE INDEX d_t ON d (t)",
  "CREATE INDEX d_n ON d (n)",
  "SELECT id FROM d WHERE t = '{c}'",
  // An index orders the arrays' text, not array_cmp's order: no range scans over it.
  "SELECT id FROM d WHERE t > '{a}' ORDER BY id",
  "SELECT id FROM d WHERE t >= '{a}' AND t < '{b}' ORDER BY id",
  "SELECT id FROM d WHERE n > '{1}' ORDER BY id",
  "SELECT id FROM d ORDER BY t, id",
];

function answer(result: { tag: string; rows: unknown[] }[]): string {
  const last = result[result.length - 1];
  return JSON.stringify({ tag: last.tag, rows: last.rows });
}

interopTest("array statements answer as PostgreSQL 15 does (rows, SQLSTATE and message)", {
  binaries: POSTGRES ? [] : ["initdb", "postgres"],
  async fn() {
    await withBothServers(async (theirs, mine) => {
      for (const sql of DIFFERENTIAL) {
        const run = async (client: PgClient) => {
          try {
            return answer(await client.query(sql));
          } catch (error) {
            if (!(error instanceof PgServerError)) throw error;
            return JSON.stringify({ code: error.code, message: error.message });
          }
        };
        assert.equal(await run(mine), await run(theirs), sql);
      }
    });
  },
});

Deno.test("array columns keep their values across a restart on the same data directory", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "underhood-datastore-" });
  try {
    {
      await using store = await startService(service, { dataDir });
      await using client = await PgClient.connect({ port: store.addresses.tcp.port });
      await client.query("CREATE TABLE kept (id int PRIMARY KEY, tags text[], grid int[][])");
      await client.query("CREATE INDEX kept_tags ON kept (tags)");
      await client.query(
        `INSERT INTO kept VALUES (1, '{a,"b c",NULL}', '{{1,2},{3,4}}'), (2, '{}', NULL)`,
      );
    }
    await using store = await startService(service, { dataDir });
    await using client = await PgClient.connect({ port: store.addresses.tcp.port });
    const [result] = await client.query(
      "SELECT id, tags, grid, pg_typeof(tags)::text FROM kept WHERE tags = '{a,\"b c\",NULL}'",
    );
    assert.deepEqual(result.rows, [["1", '{a,"b c",NULL}', "{{1,2},{3,4}}", "text[]"]]);
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});
