// Strict functions (PostgreSQL's STRICT): a NULL argument gives NULL
// without calling the function. Shared by the function modules; imports
// nothing but types, so any of them may use it without an import cycle.

import type { PgValue } from "../../../lib/pg/values.ts";
import type { Compiled, EvalContext, SqlType } from "./eval.ts";

type Evaluate = (ctx: EvalContext) => PgValue;

/** Applies `f` to the arguments' values, NULL in giving NULL out. */
export function strict(args: Evaluate[], f: (values: PgValue[]) => PgValue): Evaluate {
  return (ctx) => {
    const values = new Array<PgValue>(args.length);
    for (let i = 0; i < args.length; i++) {
      const v = args[i](ctx);
      if (v === null) return null;
      values[i] = v;
    }
    return f(values);
  };
}

/** A strict function of two arguments, typed `type`. */
export function binary(
  type: SqlType,
  left: Evaluate,
  right: Evaluate,
  f: (a: PgValue, b: PgValue) => PgValue,
): Compiled {
  return {
    type,
    evaluate: (ctx) => {
      const a = left(ctx);
      if (a === null) return null;
      const b = right(ctx);
      return b === null ? null : f(a, b);
    },
  };
}
