// SQL-level prepared statements: PREPARE name [(types)] AS statement,
// EXECUTE name [(arguments)], DEALLOCATE [PREPARE] name | ALL (PostgreSQL's
// "PREPARE" and "EXECUTE" reference pages). They share one namespace with
// the extended protocol's named statements, as in PostgreSQL: a statement
// prepared by Parse can be run by EXECUTE, one prepared by PREPARE can be
// bound by Bind. The session (session.ts) keeps that namespace; this file
// turns EXECUTE's arguments into the parameter values a Bind would give.
//
// Left out: pg_prepared_statements; EXECUTE of a statement the session runs
// itself (BEGIN, SET, ...), refused with 0A000.

import type { PgValue } from "../../../lib/pg/values.ts";
import { formatText } from "../../../lib/pg/values.ts";
import type { Expr, SelectStatement, Statement } from "./ast.ts";
import { SqlError } from "./errors.ts";
import { type SqlType, typeOid } from "./eval.ts";
import {
  type Database,
  prepare,
  type Prepared,
  type RunContext,
  type SessionInfo,
} from "./executor.ts";

/**
 * The plan of `EXECUTE name (arguments)`: `prepared`'s, run with the
 * arguments evaluated and cast to its parameter types. A parameter whose
 * type was declared gets the typed value, one whose type was inferred the
 * value as text, as Bind gives them (`declared[i]` "unknown" when inferred).
 */
export function executePlan(
  db: Database,
  info: SessionInfo,
  target: { name: string; prepared: Prepared; declared: SqlType[] },
  execute: Extract<Statement, { kind: "execute" }>,
): Prepared {
  const { name, prepared, declared } = target;
  const types = prepared.paramTypes;
  if (execute.params.length !== types.length) {
    throw new SqlError("42601", `wrong number of parameters for prepared statement "${name}"`, {
      detail: `Expected ${types.length} parameters but got ${execute.params.length}.`,
    });
  }
  const args = execute.params.length === 0
    ? null
    : prepare(db, info, argumentQuery(execute.params, types), []);
  return {
    statement: execute,
    columns: prepared.columns,
    paramTypes: [],
    async run(ctx: RunContext) {
      let params: PgValue[] = [];
      if (args !== null) {
        const result = await args.run(ctx);
        for await (const batch of result.rows!) params = batch[0];
        params = params.map((value, i) => {
          if (value === null || (declared[i] ?? "unknown") !== "unknown") return value;
          return types[i] === "unknown" ? value : formatText(typeOid(types[i]), value);
        });
      }
      return prepared.run({ ...ctx, params });
    },
  };
}

/** SELECT CAST(arg AS type), ... : the arguments as the parameters' types. */
function argumentQuery(params: Expr[], types: SqlType[]): SelectStatement {
  const columns = params.map((expr, i) => ({
    expr: types[i] === "unknown" ? expr : {
      kind: "cast" as const,
      operand: expr,
      type: { name: types[i], modifiers: [], array: false },
    },
    alias: null,
  }));
  return {
    kind: "select",
    with: null,
    body: {
      kind: "select_core",
      distinct: false,
      columns,
      from: [],
      where: null,
      groupBy: [],
      having: null,
    },
    orderBy: [],
    limit: null,
    offset: null,
  };
}
