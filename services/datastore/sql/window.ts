// Window functions: f(...) OVER ([PARTITION BY ...] [ORDER BY ...] [frame])
// (PostgreSQL's "Window Function Calls" and "Window Functions" sections).
// row_number, rank, dense_rank, percent_rank, cume_dist, ntile, lag, lead,
// first_value, last_value, and the executor's aggregates (sum, count, avg,
// min, max, ...) over a frame.
//
// How it runs: the query's rows (after WHERE, before the select list) are
// held (they count against the statement's row bound), then for each
// window the row numbers are sorted by partition and order keys, and each
// partition is walked once, the function's value of each row appended to
// it. The rows come out in the last window's order, as PostgreSQL's
// WindowAgg leaves them; the query's ORDER BY then sorts them.
//
// Frames: the default (RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW,
// which with no ORDER BY is the whole partition and with one ends at the
// current row's last peer), ROWS BETWEEN with UNBOUNDED PRECEDING, n
// PRECEDING, CURRENT ROW, n FOLLOWING, UNBOUNDED FOLLOWING, and RANGE with
// UNBOUNDED or CURRENT ROW bounds. An aggregate whose frame starts at the
// partition's start is accumulated as the frame grows (linear); any other
// frame is summed afresh for each row (rows times frame width).
//
// Left out: named windows (WINDOW w AS ...), RANGE with an offset, GROUPS,
// EXCLUDE, window functions over GROUP BY or aggregates, nth_value.

import type { PgValue } from "../../../lib/pg/values.ts";
import type {
  Expr,
  FrameBound,
  FunctionCall,
  WindowDefinition,
  WindowFrame,
  WindowSpec,
} from "./ast.ts";
import { SqlError } from "./errors.ts";
import type { EvalContext, SqlType } from "./eval.ts";

/** Every window function call in `expr` (not looking into subqueries). */
export function windowCalls(expr: Expr, out: FunctionCall[] = []): FunctionCall[] {
  const visit = (e: unknown): void => {
    if (e === null || typeof e !== "object") return;
    if (Array.isArray(e)) {
      e.forEach(visit);
      return;
    }
    const node = e as { kind?: string };
    if (
      node.kind === "subquery" || node.kind === "exists" || node.kind === "in_subquery" ||
      node.kind === "quantified" || node.kind === "array_subquery" || node.kind === "select"
    ) return;
    if (node.kind === "function" && (node as FunctionCall).over) {
      out.push(node as FunctionCall);
      return;
    }
    for (const value of Object.values(node)) visit(value);
  };
  visit(expr);
  return out;
}

/**
 * Named windows (WINDOW w AS (...), OVER w, OVER (w ORDER BY ...)) resolved
 * to plain specifications, by PostgreSQL's rules (transformWindowDefinitions):
 * a window built on a named one may add ORDER BY only where it has none and
 * never PARTITION BY, and cannot copy one with a frame clause (42P20); an
 * unknown name is 42704; a definition may build on earlier ones only.
 * Returns each call's resolved window (calls without names map to their own).
 */
export function resolveWindows(
  calls: readonly FunctionCall[],
  definitions: readonly WindowDefinition[],
): Map<FunctionCall, WindowSpec> {
  const named = new Map<string, WindowSpec>();
  for (const def of definitions) {
    if (named.has(def.name)) {
      throw new SqlError("42P20", `window "${def.name}" is already defined`);
    }
    named.set(def.name, mergeWindow(def.spec, named, false));
  }
  const out = new Map<FunctionCall, WindowSpec>();
  for (const call of calls) out.set(call, mergeWindow(call.over!, named, true));
  return out;
}

function mergeWindow(
  spec: WindowSpec,
  named: ReadonlyMap<string, WindowSpec>,
  inOver: boolean,
): WindowSpec {
  if (spec.existing === undefined) return spec;
  const base = named.get(spec.existing);
  if (base === undefined) throw new SqlError("42704", `window "${spec.existing}" does not exist`);
  if (spec.bare) return base;
  const name = spec.existing;
  if (spec.partitionBy.length > 0) {
    throw new SqlError("42P20", `cannot override PARTITION BY clause of window "${name}"`);
  }
  if (spec.orderBy.length > 0 && base.orderBy.length > 0) {
    throw new SqlError("42P20", `cannot override ORDER BY clause of window "${name}"`);
  }
  if (base.frame !== null) {
    throw new SqlError(
      "42P20",
      `cannot copy window "${name}" because it has a frame clause`,
      inOver ? { hint: "Omit the parentheses in this OVER clause." } : undefined,
    );
  }
  return {
    partitionBy: base.partitionBy,
    orderBy: spec.orderBy.length > 0 ? spec.orderBy : base.orderBy,
    frame: spec.frame,
  };
}

/** One ORDER BY key of a window, compiled. */
export interface WindowKey {
  evaluate: (ctx: EvalContext) => PgValue;
  compare: (a: PgValue, b: PgValue) => number;
  desc: boolean;
  nullsFirst: boolean;
}

/** An aggregate as the executor compiles it (its AggregateSpec). */
export interface WindowAggregate {
  start(): Record<string, unknown>;
  step(acc: Record<string, unknown>, ctx: EvalContext): void;
  finish(acc: Record<string, unknown>): PgValue;
}

/** One window function call, compiled over the query's rows. */
export interface CompiledWindow {
  name: string;
  type: SqlType;
  partition: ((ctx: EvalContext) => PgValue)[];
  order: WindowKey[];
  frame: WindowFrame | null;
  args: ((ctx: EvalContext) => PgValue)[];
  /** Set when the function is an aggregate. */
  aggregate?: WindowAggregate;
}

const RANKING = new Set(["row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile"]);
const VALUE = new Set(["lag", "lead", "first_value", "last_value"]);

/** The result type of window function `name` (null when it is not one, nor an aggregate). */
export function windowFunctionType(name: string, argTypes: SqlType[]): SqlType | null {
  if (name === "percent_rank" || name === "cume_dist") return "float8";
  if (RANKING.has(name)) return "int8";
  if (VALUE.has(name)) return argTypes[0] ?? null;
  return null;
}

/** Checks a call's argument count as PostgreSQL's catalog would (42883 otherwise). */
export function checkWindowArity(name: string, count: number, argTypes: string[]): void {
  const ok = name === "ntile" || name === "first_value" || name === "last_value"
    ? count === 1
    : name === "lag" || name === "lead"
    ? count >= 1 && count <= 3
    : count === 0;
  if (!ok) {
    throw new SqlError("42883", `function ${name}(${argTypes.join(", ")}) does not exist`, {
      hint:
        "No function matches the given name and argument types. You might need to add explicit type casts.",
    });
  }
}

/**
 * The rows with each window's value appended (in `windows` order), in the
 * last window's order. `context(row)` gives the evaluation context of a row.
 */
export function computeWindows(
  rows: PgValue[][],
  windows: CompiledWindow[],
  context: (row: PgValue[]) => EvalContext,
): PgValue[][] {
  const width = rows[0]?.length ?? 0;
  const out = rows.map((row) => {
    const copy = row.slice();
    copy.length = width + windows.length;
    return copy;
  });
  let order = rows.map((_, i) => i);
  windows.forEach((window, w) => {
    order = sortedOrder(rows, window, context);
    const e = (i: number) => context(rows[i]);
    const partKeys = order.map((i) => {
      const ctx = e(i);
      return window.partition.map((f) => f(ctx));
    });
    const orderKeys = order.map((i) => {
      const ctx = e(i);
      return window.order.map((k) => k.evaluate(ctx));
    });
    let start = 0;
    while (start < order.length) {
      let end = start + 1;
      while (end < order.length && samePartition(partKeys[start], partKeys[end])) end++;
      const part = order.slice(start, end);
      const keys = orderKeys.slice(start, end);
      const values = partitionValues(part, keys, window, (i) => e(i));
      for (let j = 0; j < part.length; j++) out[part[j]][width + w] = values[j];
      start = end;
    }
  });
  return order.map((i) => out[i]);
}

function samePartition(a: PgValue[], b: PgValue[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = b[i];
    if (x === y) continue;
    if (x === null || y === null) return false;
    if (String(x) !== String(y)) return false;
  }
  return true;
}

/** Row numbers sorted by partition keys (as text, NULLs together), then the window's ORDER BY. */
function sortedOrder(
  rows: PgValue[][],
  window: CompiledWindow,
  context: (row: PgValue[]) => EvalContext,
): number[] {
  const part = rows.map((row) => {
    const ctx = context(row);
    return window.partition.map((f) => f(ctx));
  });
  const keys = rows.map((row) => {
    const ctx = context(row);
    return window.order.map((k) => k.evaluate(ctx));
  });
  const order = rows.map((_, i) => i);
  order.sort((a, b) => {
    for (let k = 0; k < window.partition.length; k++) {
      const x = part[a][k], y = part[b][k];
      if (x === y) continue;
      if (x === null) return 1;
      if (y === null) return -1;
      const sx = typeof x === "object" ? [...x].join(",") : String(x);
      const sy = typeof y === "object" ? [...y].join(",") : String(y);
      if (sx !== sy) return sx < sy ? -1 : 1;
    }
    const c = compareKeys(keys[a], keys[b], window.order);
    return c !== 0 ? c : a - b;
  });
  return order;
}

function compareKeys(a: PgValue[], b: PgValue[], order: WindowKey[]): number {
  for (let k = 0; k < order.length; k++) {
    const key = order[k];
    const x = a[k], y = b[k];
    if (x === null || y === null) {
      if (x === y) continue;
      return (x === null) === key.nullsFirst ? -1 : 1;
    }
    const c = key.compare(x, y);
    if (c !== 0) return key.desc ? -c : c;
  }
  return 0;
}

/** The function's value for each row of one partition (rows in window order). */
function partitionValues(
  part: number[],
  keys: PgValue[][],
  window: CompiledWindow,
  context: (i: number) => EvalContext,
): PgValue[] {
  const n = part.length;
  // Peer groups: rows with equal ORDER BY keys (all rows when there is none).
  const peerStart = new Array<number>(n);
  const peerEnd = new Array<number>(n);
  for (let i = 0; i < n;) {
    let j = i + 1;
    while (j < n && compareKeys(keys[i], keys[j], window.order) === 0) j++;
    for (let k = i; k < j; k++) {
      peerStart[k] = i;
      peerEnd[k] = j - 1;
    }
    i = j;
  }
  const values = new Array<PgValue>(n);
  const name = window.name;
  switch (name) {
    case "row_number":
      for (let i = 0; i < n; i++) values[i] = BigInt(i + 1);
      return values;
    case "rank":
      for (let i = 0; i < n; i++) values[i] = BigInt(peerStart[i] + 1);
      return values;
    case "dense_rank": {
      let rank = 0;
      for (let i = 0; i < n; i++) {
        if (peerStart[i] === i) rank++;
        values[i] = BigInt(rank);
      }
      return values;
    }
    case "percent_rank":
      for (let i = 0; i < n; i++) values[i] = n > 1 ? peerStart[i] / (n - 1) : 0;
      return values;
    case "cume_dist":
      for (let i = 0; i < n; i++) values[i] = (peerEnd[i] + 1) / n;
      return values;
    case "ntile": {
      const buckets = window.args[0](context(part[0]));
      if (buckets === null) return values.fill(null);
      const count = Number(buckets);
      if (count <= 0) throw new SqlError("22014", "argument of ntile must be greater than zero");
      const per = Math.floor(n / count);
      const extra = n % count;
      let bucket = 1, left = per + (extra > 0 ? 1 : 0);
      for (let i = 0; i < n; i++) {
        if (left === 0) {
          bucket++;
          left = per + (bucket <= extra ? 1 : 0);
        }
        values[i] = BigInt(bucket);
        left--;
      }
      return values;
    }
    case "lag":
    case "lead": {
      const [arg, offsetArg, defaultArg] = window.args;
      for (let i = 0; i < n; i++) {
        const ctx = context(part[i]);
        const offset = offsetArg ? offsetArg(ctx) : 1n;
        if (offset === null) {
          values[i] = null;
          continue;
        }
        const at = name === "lag" ? i - Number(offset) : i + Number(offset);
        values[i] = at >= 0 && at < n
          ? arg(context(part[at]))
          : defaultArg
          ? defaultArg(ctx)
          : null;
      }
      return values;
    }
  }
  // Frame functions: first_value, last_value, aggregates.
  const frame = window.frame;
  const hasOrder = window.order.length > 0;
  const bound = (b: FrameBound, i: number, isEnd: boolean): number => {
    switch (b.kind) {
      case "unbounded_preceding":
        return 0;
      case "unbounded_following":
        return n - 1;
      case "current":
        if (frame?.mode === "rows") return i;
        return isEnd ? peerEnd[i] : peerStart[i];
      case "preceding":
      case "following": {
        const k = Number(b.offset ?? 0);
        return b.kind === "preceding" ? i - k : i + k;
      }
    }
  };
  const startOf = (i: number) => frame === null ? 0 : Math.max(0, bound(frame.start, i, false));
  const endOf = (i: number) =>
    frame === null ? (hasOrder ? peerEnd[i] : n - 1) : Math.min(n - 1, bound(frame.end, i, true));
  if (name === "first_value" || name === "last_value") {
    for (let i = 0; i < n; i++) {
      const s = startOf(i), e = endOf(i);
      values[i] = s > e ? null : window.args[0](context(part[name === "first_value" ? s : e]));
    }
    return values;
  }
  const agg = window.aggregate!;
  const running = frame === null || frame.start.kind === "unbounded_preceding";
  if (running) {
    const acc = agg.start();
    let stepped = -1;
    for (let i = 0; i < n; i++) {
      const e = endOf(i);
      while (stepped < e) agg.step(acc, context(part[++stepped]));
      values[i] = agg.finish(acc);
    }
    return values;
  }
  for (let i = 0; i < n; i++) {
    const acc = agg.start();
    for (let j = startOf(i); j <= endOf(i); j++) agg.step(acc, context(part[j]));
    values[i] = agg.finish(acc);
  }
  return values;
}
