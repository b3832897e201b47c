// The expression evaluator against PostgreSQL 15 itself: for each
// expression of fixtures/eval_inputs.ts, fixtures/eval_results.json holds
// the real server's value (as the type's output function writes it) and
// pg_typeof, or its SQLSTATE and message; ours must match. Then columns,
// parameters and the clock, which constants alone do not reach.

import assert from "node:assert/strict";
import { OID } from "../../../../lib/pg/oids.ts";
import { formatText } from "../../../../lib/pg/values.ts";
import {
  compileExpr,
  type EvalContext,
  typeDisplayName,
  typeOid,
} from "../../../../services/datastore/sql/eval.ts";
import { parseStatement } from "../../../../services/datastore/sql/parser.ts";
import type { Expr } from "../../../../services/datastore/sql/ast.ts";
import RESULTS from "./fixtures/eval_results.json" with { type: "json" };

/** Pure code: these tests need no permission at all (docs/architecture.md habit 1). */
const pure = { permissions: "none" } as const;

interface Row {
  expr: string;
  value?: string | null;
  type?: string;
  error?: { code: string; message: string };
}

/** What we do not do yet, each with PostgreSQL's answer kept in the fixture. */
const KNOWN_GAPS = new Set([
  "2 ^ 0.5", // numeric ^ numeric
  "(-8) ^ (1.0/3)", // numeric ^ numeric
]);

const CONTEXT: EvalContext = { row: [], params: [], nowMicros: 0n };

function expressionOf(sql: string): Expr {
  const statement = parseStatement(`SELECT ${sql}`);
  assert.ok(statement.kind === "select" && statement.body.kind === "select_core");
  return statement.body.columns[0].expr;
}

function run(sql: string): { value: string | null; type: string } {
  const compiled = compileExpr(expressionOf(sql));
  const value = compiled.evaluate(CONTEXT);
  return {
    value: value === null ? null : formatText(typeOid(compiled.type), value),
    type: typeDisplayName(compiled.type),
  };
}

Deno.test(
  "compileExpr() gives PostgreSQL 15's value, type or error for every captured expression",
  pure,
  () => {
    const failures: string[] = [];
    for (const row of RESULTS as Row[]) {
      if (KNOWN_GAPS.has(row.expr)) continue;
      let got: string;
      try {
        const { value, type } = run(row.expr);
        got = `${JSON.stringify(value)} ${type}`;
      } catch (error) {
        const e = error as { code?: string; message: string };
        got = `${e.code} ${e.message}`;
      }
      const want = row.error
        ? `${row.error.code} ${row.error.message}`
        : `${JSON.stringify(row.value)} ${row.type}`;
      if (got !== want) failures.push(`${row.expr}: got ${got}, want ${want}`);
    }
    assert.deepEqual(failures, []);
  },
);

Deno.test("columns come from the row through the scope, and unknown names are 42703", pure, () => {
  const columns = new Map([["a", { index: 0, type: "int4" as const }], ["t.b", {
    index: 1,
    type: "text" as const,
  }]]);
  const resolveColumn = (path: string[]) => columns.get(path.join(".")) ?? null;
  const compiled = compileExpr(expressionOf("a * 2 > 10 AND t.b LIKE 'x%'"), { resolveColumn });
  assert.equal(compiled.type, "bool");
  assert.equal(compiled.evaluate({ ...CONTEXT, row: [6, "xyz"] }), true);
  assert.equal(compiled.evaluate({ ...CONTEXT, row: [5, "xyz"] }), false);
  assert.equal(compiled.evaluate({ ...CONTEXT, row: [null, "xyz"] }), null);
  assert.equal(compiled.evaluate({ ...CONTEXT, row: [null, "abc"] }), false);
  assert.throws(
    () => compileExpr(expressionOf("nope + 1"), { resolveColumn }),
    (e: unknown) =>
      (e as { code: string }).code === "42703" &&
      (e as Error).message === 'column "nope" does not exist',
  );
});

Deno.test("parameters are typed when declared and coerced from text when not", pure, () => {
  const typed = compileExpr(expressionOf("$1 + 1"), { paramTypes: ["int8"] });
  assert.equal(typed.type, "int8");
  assert.equal(typed.evaluate({ ...CONTEXT, params: [41n] }), 42n);
  const untyped = compileExpr(expressionOf("$1 + 1"));
  assert.equal(untyped.type, "int4");
  assert.equal(untyped.evaluate({ ...CONTEXT, params: ["41"] }), 42);
  assert.throws(
    () => untyped.evaluate({ ...CONTEXT, params: ["x"] }),
    /invalid input syntax for type integer/,
  );
});

Deno.test(
  "undeclared parameters get the type their context gives them, for ParameterDescription",
  pure,
  () => {
    const columns = new Map([["aid", { index: 0, type: "int4" as const }], ["name", {
      index: 1,
      type: "text" as const,
    }]]);
    const resolveColumn = (path: string[]) => columns.get(path.join(".")) ?? null;
    const cases: Array<[string, (string | undefined)[]]> = [
      ["aid = $1", ["int4"]],
      ["$1 = aid", ["int4"]],
      ["$2 + 1.5 > $1::int8", ["int8", "numeric"]],
      ["name || $1", ["text"]],
      ["aid IN ($1, $2)", ["int4", "int4"]],
      ["name LIKE $1", ["text"]],
      // Nothing says: PostgreSQL refuses to prepare this (42P18 could not determine data type of
      // parameter $1); the session will, seeing the hole.
      ["$1 IS NULL", [undefined]],
    ];
    for (const [sql, types] of cases) {
      const inferredParamTypes: string[] = [];
      compileExpr(expressionOf(sql), {
        resolveColumn,
        inferredParamTypes: inferredParamTypes as never,
      });
      assert.deepEqual([...Array(types.length)].map((_, i) => inferredParamTypes[i]), types, sql);
    }
  },
);

Deno.test("now() and CURRENT_TIMESTAMP read the statement's clock", pure, () => {
  const ctx = { ...CONTEXT, nowMicros: 1_700_000_000_123_456n };
  for (const sql of ["now()", "CURRENT_TIMESTAMP"]) {
    const compiled = compileExpr(expressionOf(sql));
    assert.equal(compiled.type, "timestamptz");
    assert.equal(
      formatText(OID.timestamptz, compiled.evaluate(ctx)!),
      "2023-11-14 22:13:20.123456+00",
    );
  }
  assert.equal(
    formatText(OID.date, compileExpr(expressionOf("CURRENT_DATE")).evaluate(ctx)!),
    "2023-11-14",
  );
});
