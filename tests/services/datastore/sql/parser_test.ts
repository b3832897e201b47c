// The SQL parser: a round trip over a corpus of some 420 statements (pgbench's among them) that
// PostgreSQL 15 accepts (parse, print, parse again, same tree), canonical
// forms that pin precedence and names, and a table of bad statements whose
// SQLSTATE, message and position must match what PostgreSQL 15 answered
// (fixtures/syntax_errors.json, captured by tests/_support/pg_capture.ts).

import assert from "node:assert/strict";
import { SqlLimitError, SqlSyntaxError } from "../../../../services/datastore/sql/errors.ts";
import {
  DEFAULT_SQL_LIMITS,
  parseSql,
  parseStatement,
} from "../../../../services/datastore/sql/parser.ts";
import { printStatement } from "../../../../services/datastore/sql/printer.ts";
import { EXPRESSIONS, PGBENCH, STATEMENTS } from "./fixtures/corpus.ts";
import SYNTAX_ERRORS from "./fixtures/syntax_errors.json" with { type: "json" };

/** Pure code: these tests need no permission at all (docs/architecture.md habit 1). */
const pure = { permissions: "none" } as const;

const CORPUS = [...EXPRESSIONS.map((expr) => `SELECT ${expr}`), ...STATEMENTS, ...PGBENCH];

Deno.test("every corpus statement survives parse, print, parse with the same tree", pure, () => {
  assert.ok(CORPUS.length >= 350, `only ${CORPUS.length} statements`);
  const failures: string[] = [];
  for (const sql of CORPUS) {
    try {
      const first = parseSql(sql).statements;
      const printed = first.map(printStatement).join("; ");
      const second = parseSql(printed).statements;
      assert.deepEqual(second, first, `printed as: ${printed}`);
      // Printing is stable: the canonical form prints as itself.
      assert.equal(second.map(printStatement).join("; "), printed);
    } catch (error) {
      failures.push(`${JSON.stringify(sql)}: ${(error as Error).message.split("\n")[0]}`);
    }
  }
  assert.deepEqual(failures, []);
});

/** [input, its canonical form]: the printer's parentheses show how the parser grouped. */
const CANONICAL: Array<[string, string]> = [
  ["select 1 + 2 * 3", "SELECT (1 + (2 * 3))"],
  ["select 2 ^ 3 ^ 2", "SELECT ((2 ^ 3) ^ 2)"],
  ["select -2 ^ 2", "SELECT ((- 2) ^ 2)"],
  ["select -a::int", "SELECT (- CAST(a AS int4))"],
  ["select a - b - c", "SELECT ((a - b) - c)"],
  ["select a || b = c", "SELECT ((a || b) = c)"],
  ["select a + b || c", "SELECT ((a + b) || c)"],
  ["select a = 1 or b = 2 and c = 3", "SELECT ((a = 1) OR ((b = 2) AND (c = 3)))"],
  ["select not a = 1 and b", "SELECT ((NOT (a = 1)) AND b)"],
  ["select a = b is null", "SELECT ((a = b) IS NULL)"],
  ["select a < b like c", "SELECT (a < (b LIKE c))"],
  ["select a between 1 and 2 and b", "SELECT ((a BETWEEN 1 AND 2) AND b)"],
  ["select a + 1 in (1, 2)", "SELECT ((a + 1) IN (1, 2))"],
  ["select a is distinct from b + 1", "SELECT (a IS DISTINCT FROM (b + 1))"],
  ["select 1 +-2", "SELECT (1 + (- 2))"],
  ["select 1 @- 2", "SELECT (1 @- 2)"],
  ["select a at time zone 'UTC'", "SELECT timezone('UTC', a)"],
  [
    "select x::integer, y::double precision, z::character varying(3)",
    "SELECT CAST(x AS int4), CAST(y AS float8), CAST(z AS varchar(3))",
  ],
  [
    "select 'x'::char, 'y'::timestamp with time zone, 1::float(20)",
    "SELECT CAST('x' AS bpchar(1)), CAST('y' AS timestamptz), CAST(1 AS float4)",
  ],
  ["select date '2024-01-02'", "SELECT CAST('2024-01-02' AS date)"],
  ['SELECT Foo, "Foo", "foo" FROM "T"', 'SELECT foo, "Foo", foo FROM "T"'],
  ["select e'a\\nb', 'a\\nb', $$a'b$$", "SELECT 'a\nb', 'a\\nb', 'a''b'"],
  ["select 'a'\n  'b'", "SELECT 'ab'"],
  [
    "select 1 union select 2 intersect select 3",
    "(SELECT 1) UNION ((SELECT 2) INTERSECT (SELECT 3))",
  ],
  ["select a is", 'SELECT a AS "is"'],
  ["select 1 as from", 'SELECT 1 AS "from"'],
  ["select 'héllo' ✓", "SELECT 'héllo' AS \"✓\""],
  ["insert into t values (1, default)", "INSERT INTO t VALUES (1, DEFAULT)"],
  [
    "create table t (id serial primary key, n numeric(5,2) default 0)",
    "CREATE TABLE t (id serial PRIMARY KEY, n numeric(5, 2) DEFAULT 0)",
  ],
  ["begin; commit", "BEGIN; COMMIT"],
];

Deno.test("the parser groups by PostgreSQL's precedence and folds names as it does", pure, () => {
  for (const [sql, canonical] of CANONICAL) {
    assert.equal(parseSql(sql).statements.map(printStatement).join("; "), canonical, sql);
  }
});

interface ErrorRow {
  sql: string;
  error: { code: string; message: string; position: number } | null;
}

const ERRORS = SYNTAX_ERRORS as ErrorRow[];
/** The errors PostgreSQL raises while parsing; any other (42703, 42704) comes later, at analysis. */
const PARSE_ERRORS = new Set(["42601", "22023", "22025", "54001"]);

Deno.test("bad statements fail with PostgreSQL 15's SQLSTATE, message and position", pure, () => {
  assert.ok(ERRORS.length >= 90);
  const failures: string[] = [];
  for (const { sql, error } of ERRORS) {
    let got: string;
    try {
      parseSql(sql);
      got = "parsed";
    } catch (e) {
      if (!(e instanceof SqlSyntaxError)) throw e;
      got = `${e.code} ${e.message} @${e.position}`;
    }
    const want = error !== null && PARSE_ERRORS.has(error.code)
      ? `${error.code} ${error.message} @${error.position}`
      : "parsed";
    if (got !== want) failures.push(`${JSON.stringify(sql)}: got ${got}, want ${want}`);
  }
  assert.deepEqual(failures, []);
});

Deno.test("identifiers longer than 63 bytes are truncated with PostgreSQL's notice", pure, () => {
  const long = "a".repeat(70);
  const { statements, notices } = parseSql(`SELECT ${long} FROM "${"é".repeat(40)}"`);
  const printed = printStatement(statements[0]);
  assert.equal(printed, `SELECT ${"a".repeat(63)} FROM "${"é".repeat(31)}"`);
  assert.deepEqual(notices.map((n) => n.code), ["42622", "42622"]);
  assert.equal(
    notices[0].message,
    `identifier "${long}" will be truncated to "${"a".repeat(63)}"`,
  );
});

Deno.test("nesting past depthMax fails with 54001 instead of overflowing the stack", pure, () => {
  const deep = (n: number) => `SELECT ${"(".repeat(n)}1${")".repeat(n)}`;
  assert.doesNotThrow(() => parseSql(deep(DEFAULT_SQL_LIMITS.depthMax - 10)));
  assert.throws(
    () => parseSql(deep(100_000)),
    (e: unknown) =>
      e instanceof SqlLimitError && e.code === "54001" &&
      e.message === "stack depth limit exceeded",
  );
  // A long left-associative chain nests as deeply in the tree.
  assert.throws(() => parseSql(`SELECT 1${" + 1".repeat(100_000)}`), SqlLimitError);
  assert.throws(() => parseSql(`SELECT ${"NOT ".repeat(100_000)}true`), SqlLimitError);
  assert.throws(() => parseSql(`SELECT ${"- ".repeat(100_000)}1`), SqlLimitError);
  assert.throws(
    () => parseSql(`SELECT ${"(SELECT ".repeat(5000)}1${")".repeat(5000)}`),
    SqlLimitError,
  );
});

Deno.test("a query longer than queryLengthMax is refused before it is read", pure, () => {
  assert.throws(
    () => parseSql("SELECT 1", { ...DEFAULT_SQL_LIMITS, queryLengthMax: 4 }),
    (e: unknown) => e instanceof SqlLimitError && e.code === "54000",
  );
});

Deno.test("parseStatement() wants exactly one statement", pure, () => {
  assert.equal(parseStatement("select 1;").kind, "select");
  assert.throws(() => parseStatement("select 1; select 2"), SqlSyntaxError);
  assert.throws(() => parseStatement(";"), SqlSyntaxError);
});
