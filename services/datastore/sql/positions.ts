// Error positions for errors found after parsing. The syntax tree keeps no
// positions, so an undefined table (42P01) or column (42703) found while
// planning has none; PostgreSQL points at the reference ("LINE 1: SELECT
// nope;" and a caret under it in psql). This finds the reference again in
// the query's tokens: for a table, the name after FROM, JOIN, INTO,
// UPDATE, TABLE, ONLY or a comma, else its first appearance; for a column,
// its first appearance as a name (qualified the same way). A guess from
// the text, not from the tree: a name written twice is placed at the
// first fitting place, which is where PostgreSQL points in ordinary
// queries. Bad input for a type in a literal (22P02, 22007, 22008, 22015
// with the input quoted at the end of the message) points at the first
// string constant holding that input, as PostgreSQL points at the
// constant it was converting.

import { SqlError } from "./errors.ts";
import { characterPosition, type Token, tokenize } from "./lexer.ts";
import { SET_RETURNING } from "./set_returning.ts";

const TABLE_LEADS = new Set(["from", "join", "into", "update", "table", "only", ","]);
const QUERY_LEADS = new Set(["from", "join"]);

/** `error` with the position of the name it complains about, when one is found in `sql`. */
export function withPosition(error: unknown, sql: string): unknown {
  if (isBadLiteral(error)) return literalPosition(error, sql);
  if (!(error instanceof SqlError) || error.position !== undefined) return error;
  if (error.code === "42P10" && error.message.startsWith("SELECT DISTINCT ON")) {
    return distinctOnPosition(error, sql);
  }
  if (error.code === "42803" && error.message.startsWith("arguments to GROUPING")) {
    return groupingPosition(error, sql);
  }
  if (error.code === "42P10" && error.message.startsWith("in an aggregate with DISTINCT")) {
    return aggregateOrderPosition(error, sql);
  }
  if (
    (error.code === "0A000" && /set-returning function/.test(error.message)) ||
    /^column notation \.|^could not identify column ".*" in record data type$/
      .test(error.message)
  ) {
    return setFunctionPosition(error, sql);
  }
  if (
    error.code === "0A000" &&
    /data-modifying statement must be at the top level$/.test(error.message)
  ) {
    return nestedWriterPosition(error, sql);
  }
  const call = /^function ([a-z_][a-z0-9_]*)\(.*\) (?:does not exist|is not unique)$/.exec(
    error.message,
  );
  if (call && (error.code === "42883" || error.code === "42725")) {
    return functionPosition(error, sql, call[1]);
  }
  if (error.code === "42P18" && error.position === undefined) return emptyArrayPosition(error, sql);
  const window = /window "([^"]+)"/.exec(error.message);
  if (window && (error.code === "42P20" || error.code === "42704")) {
    return windowPosition(error, sql, window[1]);
  }
  let path: string[] | null = null;
  let table = false;
  const relation = /^relation "([^"]+)" does not exist$/.exec(error.message);
  const column = /^column (?:"([^"]+)"|([^ ]+)) does not exist$/.exec(error.message);
  const noReturning = /^WITH query "([^"]+)" does not have a RETURNING clause$/.exec(
    error.message,
  );
  const lockOf = /^relation "([^"]+)" in FOR [A-Z ]+ clause not found in FROM clause$/.exec(
    error.message,
  );
  const ambiguous = /^column reference "([^"]+)" is ambiguous$/.exec(error.message);
  const missing = /^missing FROM-clause entry for table "([^"]+)"$/.exec(error.message);
  const type = /^type "([^"]+)" does not exist$/.exec(error.message);
  if (error.code === "0A000" && noReturning) {
    path = [noReturning[1]];
    table = true;
  } else if (error.code === "42702" && ambiguous) {
    path = [ambiguous[1]];
  } else if (error.code === "42P01" && missing) {
    path = [missing[1]];
  } else if (error.code === "42P01" && lockOf) {
    path = [lockOf[1]];
  } else if (error.code === "42P01" && relation) {
    path = relation[1].split(".");
    table = true;
  } else if (error.code === "42704" && type) {
    path = type[1].split(".");
  } else if (error.code === "42703" && column) {
    path = column[1] !== undefined ? [column[1]] : column[2].split(".");
  }
  if (path === null) return error;
  let tokens: Token[];
  try {
    tokens = tokenize(sql);
  } catch {
    return error;
  }
  // PostgreSQL places no name in ALTER TABLE's or LOCK's errors.
  if (
    tokens[0] !== undefined &&
    (isName(tokens[0], "alter") || isName(tokens[0], "lock") ||
      (type !== null && isName(tokens[0], "drop")))
  ) {
    return error;
  }
  let at = find(tokens, path, table);
  // A sequence named by a string (nextval('nope')): PostgreSQL points at the string.
  if (at < 0 && relation) {
    at = tokens.findIndex((t, i) =>
      t.kind === "string" && (t.text === relation[1] || t.text === `public.${relation[1]}`) &&
      ["nextval", "currval", "setval"].some((f) => tokens[i - 2] && isName(tokens[i - 2], f))
    );
  }
  if (at < 0) return error;
  return new SqlError(error.code, error.message, {
    detail: error.detail,
    hint: error.hint,
    position: characterPosition(sql, tokens[at].start),
  });
}

const LITERAL_CODES = new Set(["22P02", "22007", "22008", "22015"]);
/** The input functions' messages; other errors of these codes carry no position. */
const LITERAL_MESSAGE =
  /^(invalid input syntax for type [^:]+|invalid input value for enum [^:]+|(date\/time|interval) field value out of range|malformed array literal): "[^]*"$/;

interface CodedError {
  code: string;
  message: string;
  position?: number;
  /** The whole literal an array element came from (lib/pg/value_error.ts). */
  literal?: string;
}

function isBadLiteral(error: unknown): error is CodedError {
  if (!(error instanceof Error) || !("code" in error)) return false;
  const { code, position, literal } = error as Error & CodedError;
  if (typeof literal === "string" && position === undefined) return true; // an array's element
  return typeof code === "string" && LITERAL_CODES.has(code) && position === undefined &&
    LITERAL_MESSAGE.test(error.message);
}

function literalPosition(error: CodedError, sql: string): unknown {
  const input = error.literal ?? /: "([^]*)"$/.exec(error.message)![1];
  let tokens: Token[];
  try {
    tokens = tokenize(sql);
  } catch {
    return error;
  }
  const at = tokens.find((token) => token.kind === "string" && token.text === input);
  if (at === undefined) return error;
  const detail = (error as { detail?: string }).detail;
  const hint = (error as { hint?: string }).hint;
  return new SqlError(error.code, error.message, {
    detail,
    hint,
    position: characterPosition(sql, at.start),
  });
}

function isName(token: Token, name: string): boolean {
  return (token.kind === "word" || token.kind === "quoted") && token.text === name;
}

/** Index of the first token of `path` (a.b.c as name . name . name), or -1. */
function find(tokens: Token[], path: string[], table: boolean): number {
  const matches: number[] = [];
  for (let i = 0; i + path.length * 2 - 1 <= tokens.length; i++) {
    let ok = true;
    for (let j = 0; j < path.length && ok; j++) {
      ok = isName(tokens[i + j * 2], path[j]) &&
        (j === path.length - 1 ||
          (tokens[i + j * 2 + 1].kind === "op" && tokens[i + j * 2 + 1].text === "."));
    }
    const before = tokens[i - 1];
    if (ok && before !== undefined && before.kind === "op" && before.text === ".") ok = false;
    if (ok) matches.push(i);
  }
  if (matches.length === 0) return -1;
  // DDL names its tables without positions in PostgreSQL (REFERENCES nope),
  // except in a query it holds (CREATE VIEW ... AS SELECT ... FROM nope).
  const ddl = ["create", "alter", "drop", "copy"].includes(tokens[0]?.text);
  if (table) {
    const leads = ddl ? QUERY_LEADS : TABLE_LEADS;
    const lead = matches.find((i) => i > 0 && leads.has(tokens[i - 1].text));
    if (lead !== undefined || ddl) return lead ?? -1;
  }
  return matches[0];
}

/** PostgreSQL points 42P10 at DISTINCT ON's first expression. */
function distinctOnPosition(error: SqlError, sql: string): SqlError {
  let tokens: Token[];
  try {
    tokens = tokenize(sql);
  } catch {
    return error;
  }
  for (let i = 0; i + 3 < tokens.length; i++) {
    if (
      isName(tokens[i], "distinct") && isName(tokens[i + 1], "on") &&
      tokens[i + 2].kind === "op" && tokens[i + 2].text === "("
    ) {
      return new SqlError(error.code, error.message, {
        position: characterPosition(sql, tokens[i + 3].start),
      });
    }
  }
  return error;
}

/** The clause keyword a set-returning function's 0A000 names, whose first such call it is. */
const SET_FUNCTION_CLAUSES: Readonly<Record<string, string>> = {
  WHERE: "where",
  HAVING: "having",
  "JOIN conditions": "on",
};

/**
 * PostgreSQL points a misplaced set-returning function's 0A000 at the call:
 * the first one after the clause the message names (WHERE, HAVING, ON), or
 * the first in the statement.
 */
function setFunctionPosition(error: SqlError, sql: string): SqlError {
  let tokens: Token[];
  try {
    tokens = tokenize(sql);
  } catch {
    return error;
  }
  const clause = /not allowed in (.+)$/.exec(error.message)?.[1];
  const lead = clause === undefined ? undefined : SET_FUNCTION_CLAUSES[clause];
  let from = 0;
  if (lead !== undefined) {
    from = tokens.findIndex((t) => isName(t, lead));
    if (from < 0) return error;
  }
  for (let i = from; i + 1 < tokens.length; i++) {
    const next = tokens[i + 1];
    if (
      tokens[i].kind === "word" && SET_RETURNING.has(tokens[i].text) && next.kind === "op" &&
      next.text === "("
    ) {
      return new SqlError(error.code, error.message, {
        detail: error.detail,
        hint: error.hint,
        position: characterPosition(sql, tokens[i].start),
      });
    }
  }
  return error;
}

/**
 * PostgreSQL points a named window's error at the window that names it:
 * the parenthesis of `OVER (w ...)` or `AS (w ...)`, the name of `OVER w`,
 * and for a name defined twice, the second definition's parenthesis.
 */
function windowPosition(error: SqlError, sql: string, name: string): SqlError {
  let tokens: Token[];
  try {
    tokens = tokenize(sql);
  } catch {
    return error;
  }
  const isOp = (t: Token | undefined, op: string) => t?.kind === "op" && t.text === op;
  let at = -1;
  if (/is already defined$/.test(error.message)) {
    const defs = tokens.flatMap((t, i) =>
      isName(t, name) && isName(tokens[i + 1], "as") && isOp(tokens[i + 2], "(") ? [i] : []
    );
    at = defs[1] === undefined ? -1 : defs[1] + 2;
  } else {
    for (let i = 0; i + 1 < tokens.length && at < 0; i++) {
      const lead = isName(tokens[i], "over") || isName(tokens[i], "as");
      if (!lead) continue;
      if (isOp(tokens[i + 1], "(") && tokens[i + 2] && isName(tokens[i + 2], name)) at = i + 1;
      else if (isName(tokens[i], "over") && isName(tokens[i + 1], name)) at = i + 1;
    }
  }
  if (at < 0) return error;
  return new SqlError(error.code, error.message, {
    detail: error.detail,
    hint: error.hint,
    position: characterPosition(sql, tokens[at].start),
  });
}

/** PostgreSQL points at the name of a data-modifying CTE below the top level. */
function nestedWriterPosition(error: SqlError, sql: string): SqlError {
  let tokens: Token[];
  try {
    tokens = tokenize(sql);
  } catch {
    return error;
  }
  for (let i = 1; i + 3 < tokens.length; i++) {
    const [name, as, open, verb] = tokens.slice(i, i + 4);
    if (
      isName(as, "as") && open.kind === "op" && open.text === "(" &&
      ["insert", "update", "delete"].some((v) => isName(verb, v)) &&
      (name.kind === "word" || name.kind === "quoted") &&
      (isName(tokens[i - 1], "with") || tokens[i - 1].text === ",") && i > 1
    ) {
      return new SqlError(error.code, error.message, {
        detail: error.detail,
        hint: error.hint,
        position: characterPosition(sql, name.start),
      });
    }
  }
  return error;
}

/**
 * `error` pointed at the token `find` picks (an index into the query's
 * tokens, -1 for none); as it was when the query does not tokenize or
 * nothing is found.
 */
function atToken(
  error: SqlError,
  sql: string,
  find: (tokens: Token[], isOp: (i: number, op: string) => boolean) => number,
): SqlError {
  let tokens: Token[];
  try {
    tokens = tokenize(sql);
  } catch {
    return error;
  }
  const isOp = (i: number, op: string) => tokens[i]?.kind === "op" && tokens[i].text === op;
  const at = find(tokens, isOp);
  if (at < 0) return error;
  return new SqlError(error.code, error.message, {
    detail: error.detail,
    hint: error.hint,
    position: characterPosition(sql, tokens[at].start),
  });
}

/** PostgreSQL points an unknown or ambiguous function's error at the first call of that name. */
function functionPosition(error: SqlError, sql: string, name: string): SqlError {
  return atToken(error, sql, (tokens, isOp) => {
    const calls = tokens.flatMap((t, i) =>
      isName(t, name) && isOp(i + 1, "(") && !isOp(i - 1, ".") ? [i] : []
    );
    // `name()` with no arguments is the call written with none, when there is one.
    const bare = error.message.includes(`${name}() `)
      ? calls.find((i) => isOp(i + 2, ")"))
      : undefined;
    return bare ?? calls[0] ?? -1;
  });
}

/** 42P18 "cannot determine type of empty array" points at the first `ARRAY[]`. */
function emptyArrayPosition(error: SqlError, sql: string): SqlError {
  return atToken(
    error,
    sql,
    (tokens, isOp) =>
      tokens.findIndex((t, i) => isName(t, "array") && isOp(i + 1, "[") && isOp(i + 2, "]")),
  );
}

/** 42P10 for an aggregate's DISTINCT ... ORDER BY points at the first ORDER BY key. */
function aggregateOrderPosition(error: SqlError, sql: string): SqlError {
  let tokens: Token[];
  try {
    tokens = tokenize(sql);
  } catch {
    return error;
  }
  let depth = 0;
  for (let i = 0; i + 2 < tokens.length; i++) {
    const token = tokens[i];
    if (token.kind === "op" && token.text === "(") depth++;
    if (token.kind === "op" && token.text === ")") depth--;
    if (depth > 0 && isName(token, "order") && isName(tokens[i + 1], "by")) {
      return new SqlError(error.code, error.message, {
        position: characterPosition(sql, tokens[i + 2].start),
      });
    }
  }
  return error;
}

/** 42803 for grouping() over a non-grouped expression points at its (first) argument. */
function groupingPosition(error: SqlError, sql: string): SqlError {
  let tokens: Token[];
  try {
    tokens = tokenize(sql);
  } catch {
    return error;
  }
  const at = tokens.findIndex((token, i) =>
    isName(token, "grouping") && tokens[i + 1]?.kind === "op" && tokens[i + 1].text === "("
  );
  if (at < 0 || tokens[at + 2] === undefined) return error;
  return new SqlError(error.code, error.message, {
    position: characterPosition(sql, tokens[at + 2].start),
  });
}
