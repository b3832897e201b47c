// The SQL parser: recursive descent over lexer.ts's tokens, producing the
// typed tree of ast.ts for the statements listed in docs/datastore.md.
// Operator precedence and associativity follow PostgreSQL's (documentation
// 4.1.6, table 4.2), lowest first:
//
//   OR; AND; NOT; IS, ISNULL, NOTNULL; comparison (< > = <= >= <>,
//   non-associative); BETWEEN, IN, LIKE, ILIKE (non-associative); any other
//   operator (||, ~, ...); + -; * / %; ^; unary + -; AT TIME ZONE; ::
//
// Errors are SqlSyntaxError with PostgreSQL's wording and 1-based character
// position: `syntax error at or near "x"` at the first token that cannot
// continue a statement, `syntax error at end of input` when the query ends
// early (tests/services/datastore/sql/fixtures/syntax_errors.json holds the
// real server's answers to compare against). Nesting deeper than
// SqlLimits.depthMax fails with 54001 "stack depth limit exceeded", as
// PostgreSQL does, before our own stack could overflow.
//
// Left out: window functions (OVER), arrays and subscripts, row
// constructors, COLLATE, FOR UPDATE, SIMILAR TO, U& strings; the parser
// rejects them as syntax errors at their first token.

import { printExpr } from "./printer.ts";
import type {
  Alias,
  AlterAction,
  Assignment,
  ColumnConstraint,
  ColumnDef,
  CommonTableExpr,
  DeleteStatement,
  Expr,
  FrameBound,
  FromItem,
  FunctionCall,
  IndexColumn,
  InsertStatement,
  LockingClause,
  OnConflict,
  OrderItem,
  QualifiedName,
  QueryBody,
  References,
  ReferentialAction,
  SelectCore,
  SelectItem,
  SelectStatement,
  SequenceOptions,
  Statement,
  TableConstraint,
  TypeName,
  UpdateStatement,
  WindowFrame,
  WindowSpec,
  WithClause,
} from "./ast.ts";
import { SqlLimitError, type SqlNotice, SqlSyntaxError } from "./errors.ts";
import { COL_NAME, RESERVED, TYPE_FUNC_NAME } from "./keywords.ts";
import { characterPosition, type Token, tokenize } from "./lexer.ts";

export interface SqlLimits {
  /**
   * Longest query in characters. PostgreSQL's only bound is its message
   * size (1 GiB); ours matches lib/pg's default message bound, 16 MiB.
   */
  queryLengthMax: number;
  /**
   * Deepest nesting of parentheses, subqueries, NOT and unary operators.
   * PostgreSQL stops at max_stack_depth (2 MB, some 10000 parentheses); we
   * stop at 256, where our parser uses about 4000 stack frames of the
   * roughly 12000 V8 gives it (one level costs some 16 frames here). A
   * left-associative chain (a + b + c ..., a AND b AND ...) is as deep in the
   * tree but costs one frame per link to walk, so 16 links count as one
   * level: 4096 links in all.
   */
  depthMax: number;
}

/** Links of a left-associative chain that count as one level of nesting. */
const CHAIN_LINKS_PER_LEVEL = 16;

export const DEFAULT_SQL_LIMITS: SqlLimits = Object.freeze({
  queryLengthMax: 16 * 1024 * 1024,
  depthMax: 256,
});

const STACK_DEPTH_HINT = 'Increase the configuration parameter "max_stack_depth" ' +
  "(currently 2048kB), after ensuring the platform's stack depth limit is adequate.";

/** A parsed query string: its statements (empty ones dropped) and any notices. */
export interface ParseResult {
  statements: Statement[];
  notices: SqlNotice[];
}

/** Parses a query string of statements separated by semicolons. */
export function parseSql(sql: string, limits: SqlLimits = DEFAULT_SQL_LIMITS): ParseResult {
  if (sql.length > limits.queryLengthMax) {
    throw new SqlLimitError("queryLengthMax", "54000", "query is too long");
  }
  const notices: SqlNotice[] = [];
  const parser = new Parser(sql, tokenize(sql, notices), limits);
  return { statements: parser.statements(), notices };
}

/** Parses exactly one statement (a trailing semicolon allowed). */
export function parseStatement(sql: string, limits: SqlLimits = DEFAULT_SQL_LIMITS): Statement {
  const { statements } = parseSql(sql, limits);
  if (statements.length !== 1) {
    throw new SqlSyntaxError(`expected one statement, found ${statements.length}`, 0);
  }
  return statements[0];
}

const COMPARISON = new Set(["<", ">", "=", "<=", ">=", "<>"]);
const ARITHMETIC = new Set(["+", "-", "*", "/", "%", "^"]);
const SELECT_STARTS = new Set(["select", "values", "with", "table"]);
const SQL_FUNCTIONS = new Set([
  "current_date",
  "current_time",
  "current_timestamp",
  "localtime",
  "localtimestamp",
  "current_user",
  "current_role",
  "session_user",
  "user",
  "current_catalog",
  "current_schema",
]);
/**
 * Unreserved keywords that may follow an expression, so they need AS to be
 * a column label (PostgreSQL's AS_LABEL keywords, kwlist.h).
 */
const AS_LABEL_ONLY = new Set([
  "day",
  "hour",
  "minute",
  "month",
  "second",
  "year",
  "filter",
  "over",
  "within",
  "varying",
  "without",
]);
/** What may follow IS in an IS test; otherwise IS at that point is a column label. */
const IS_TESTS = new Set(["not", "null", "true", "false", "unknown", "distinct"]);

/**
 * Where each `x IN (subquery)`'s IN stands (1-based), for the planner's
 * errors about the subquery's width: beside the tree, so that trees that
 * print alike stay equal.
 */
export const IN_POSITIONS = new WeakMap<Expr, number>();

/** Functions callable with named arguments: their parameters in order, with defaults. */
const NAMED_PARAMETERS: Record<string, [string, Expr?][]> = (() => {
  const zero: Expr = { kind: "number", text: "0" };
  const required = (...names: string[]): [string, Expr?][] => names.map((n) => [n]);
  return {
    make_interval: ["years", "months", "weeks", "days", "hours", "mins", "secs"].map((
      n,
    ): [string, Expr] => [n, zero]),
    make_timestamp: required("year", "month", "mday", "hour", "min", "sec"),
    make_timestamptz: required("year", "month", "mday", "hour", "min", "sec"),
    make_date: required("year", "month", "day"),
  };
})();

class Parser {
  #sql: string;
  #tokens: Token[];
  #at = 0;
  #depth = 0;
  #limits: SqlLimits;

  constructor(sql: string, tokens: Token[], limits: SqlLimits) {
    this.#sql = sql;
    this.#tokens = operatorSyntax(tokens);
    this.#limits = limits;
  }

  // Token helpers ------------------------------------------------------------

  get #tok(): Token {
    return this.#tokens[this.#at];
  }

  /** Re-read on each call, so TypeScript does not narrow it across token moves. */
  #atEnd(): boolean {
    return this.#tok.kind === "eof";
  }

  #isString(): boolean {
    return this.#tok.kind === "string";
  }

  /** At "(", whether a query follows the run of opening parentheses. */
  #parenQueryAhead(): boolean {
    let i = this.#at;
    while (this.#isOp("(", this.#tokens[i])) i++;
    const token = this.#tokens[i];
    return i > this.#at && token.kind === "word" && SELECT_STARTS.has(token.text);
  }

  /** At "(": parses `( query )` if that is what follows, else leaves the position alone. */
  #tryParenQuery(): SelectStatement | null {
    if (!this.#parenQueryAhead()) return null;
    const save = this.#at;
    try {
      this.#at++;
      const query = this.#selectStatement();
      this.#expectOp(")");
      return query;
    } catch (error) {
      if (error instanceof SqlLimitError) throw error;
      this.#at = save;
      return null;
    }
  }

  #peek(ahead = 1): Token {
    return this.#tokens[Math.min(this.#at + ahead, this.#tokens.length - 1)];
  }

  #error(token: Token = this.#tok): SqlSyntaxError {
    if (token.kind === "eof") {
      return new SqlSyntaxError(
        "syntax error at end of input",
        characterPosition(this.#sql, this.#sql.length),
      );
    }
    return new SqlSyntaxError(
      `syntax error at or near "${this.#sql.slice(token.start, token.end)}"`,
      characterPosition(this.#sql, token.start),
    );
  }

  /** True if the current token is the (unquoted) keyword `word`. */
  #is(word: string, token: Token = this.#tok): boolean {
    return token.kind === "word" && token.text === word;
  }

  #isOp(op: string, token: Token = this.#tok): boolean {
    return token.kind === "op" && token.text === op;
  }

  #accept(word: string): boolean {
    if (!this.#is(word)) return false;
    this.#at++;
    return true;
  }

  #acceptOp(op: string): boolean {
    if (!this.#isOp(op)) return false;
    this.#at++;
    return true;
  }

  #expect(word: string): void {
    if (!this.#accept(word)) throw this.#error();
  }

  #expectOp(op: string): void {
    if (!this.#acceptOp(op)) throw this.#error();
  }

  #enter(): void {
    if (++this.#depth > this.#limits.depthMax) {
      throw new SqlLimitError("depthMax", "54001", "stack depth limit exceeded", STACK_DEPTH_HINT);
    }
  }

  #leave(): void {
    this.#depth--;
  }

  /** Counts one more link of a left-associative chain against the depth bound. */
  #chain(links: number): void {
    if (this.#depth + links / CHAIN_LINKS_PER_LEVEL > this.#limits.depthMax) {
      throw new SqlLimitError("depthMax", "54001", "stack depth limit exceeded", STACK_DEPTH_HINT);
    }
  }

  // Names ----------------------------------------------------------------------

  /** ColId: an identifier, or a keyword that is neither reserved nor type_func_name. */
  #isColId(token: Token = this.#tok): boolean {
    if (token.kind === "quoted") return true;
    return token.kind === "word" && !RESERVED.has(token.text) && !TYPE_FUNC_NAME.has(token.text);
  }

  #colId(): string {
    if (!this.#isColId()) throw this.#error();
    return this.#tokens[this.#at++].text;
  }

  /** ColLabel: after AS or a dot, any word at all. */
  #colLabel(): string {
    const token = this.#tok;
    if (token.kind !== "word" && token.kind !== "quoted") throw this.#error();
    this.#at++;
    return token.text;
  }

  /** A possibly qualified name: a ColId, then `.label` parts. */
  #qualifiedName(): QualifiedName {
    const parts = [this.#colId()];
    while (this.#isOp(".")) {
      this.#at++;
      parts.push(this.#colLabel());
    }
    return parts;
  }

  #nameList(): string[] {
    const names = [this.#colId()];
    while (this.#acceptOp(",")) names.push(this.#colId());
    return names;
  }

  #parenNameList(): string[] {
    this.#expectOp("(");
    const names = this.#nameList();
    this.#expectOp(")");
    return names;
  }

  #qualifiedNameList(): QualifiedName[] {
    const names = [this.#qualifiedName()];
    while (this.#acceptOp(",")) names.push(this.#qualifiedName());
    return names;
  }

  // Statements -------------------------------------------------------------------

  statements(): Statement[] {
    const out: Statement[] = [];
    while (true) {
      while (this.#acceptOp(";"));
      if (this.#tok.kind === "eof") return out;
      out.push(this.#statement());
      if (!this.#atEnd() && !this.#isOp(";")) throw this.#error();
    }
  }

  #statement(): Statement {
    const token = this.#tok;
    if (token.kind === "op" && token.text === "(") return this.#selectStatement();
    if (token.kind !== "word") throw this.#error();
    switch (token.text) {
      case "select":
      case "values":
      case "table":
        return this.#selectStatement();
      case "with":
        return this.#withStatement();
      case "insert":
        return this.#insert(null);
      case "update":
        return this.#update(null);
      case "delete":
        return this.#delete(null);
      case "create":
        return this.#create();
      case "drop":
        return this.#drop();
      case "alter":
        return this.#is("type", this.#peek()) ? this.#alterType() : this.#alterTable();
      case "truncate":
        return this.#truncate();
      case "lock":
        return this.#lock();
      case "begin":
      case "start":
        return this.#begin();
      case "commit":
      case "end":
        this.#at++;
        this.#optionalNoise();
        return { kind: "commit", chain: this.#chainClause() };
      case "rollback":
      case "abort":
        return this.#rollback();
      case "savepoint":
        this.#at++;
        return { kind: "savepoint", name: this.#colId() };
      case "release":
        this.#at++;
        this.#accept("savepoint");
        return { kind: "release", name: this.#colId() };
      case "set":
        return this.#set();
      case "comment":
        return this.#comment();
      case "show":
        return this.#show();
      case "reset":
        this.#at++;
        return { kind: "reset", name: this.#accept("all") ? "all" : this.#settingName() };
      case "explain":
        return this.#explain();
      case "copy":
        return this.#copy();
      case "vacuum":
        return this.#vacuum();
      case "prepare":
        return this.#prepare();
      case "execute": {
        this.#at++;
        const name = this.#colId();
        let params: Expr[] = [];
        if (this.#acceptOp("(")) {
          params = this.#exprList();
          this.#expectOp(")");
        }
        return { kind: "execute", name, params };
      }
      case "deallocate":
        this.#at++;
        this.#accept("prepare");
        return { kind: "deallocate", name: this.#accept("all") ? null : this.#colId() };
      case "analyze":
      case "analyse":
        this.#at++;
        this.#accept("verbose");
        return { kind: "analyze", tables: this.#isColId() ? this.#qualifiedNameList() : [] };
      default:
        throw this.#error();
    }
  }

  /** PREPARE name [(type, ...)] AS SELECT | VALUES | INSERT | UPDATE | DELETE ... */
  #prepare(): Statement {
    this.#expect("prepare");
    const name = this.#colId();
    const types: TypeName[] = [];
    if (this.#acceptOp("(")) {
      do types.push(this.#typeName()); while (this.#acceptOp(","));
      this.#expectOp(")");
    }
    this.#expect("as");
    const first = this.#tok;
    const preparable = this.#isOp("(") ||
      ["select", "values", "table", "with", "insert", "update", "delete"].some((w) => this.#is(w));
    if (!preparable) throw this.#error();
    const statement = this.#statement();
    const text = this.#sql.slice(first.start, this.#tokens[this.#at - 1].end);
    return { kind: "prepare", name, types, statement, text };
  }

  /** The noise words after BEGIN, COMMIT, END, ROLLBACK, ABORT. */
  #optionalNoise(): void {
    if (!this.#accept("transaction")) this.#accept("work");
  }

  #chainClause(): boolean {
    if (!this.#accept("and")) return false;
    const no = this.#accept("no");
    this.#expect("chain");
    return !no;
  }

  #withStatement(): Statement {
    const save = this.#at;
    const withClause = this.#with();
    if (this.#is("insert")) return this.#insert(withClause);
    if (this.#is("update")) return this.#update(withClause);
    if (this.#is("delete")) return this.#delete(withClause);
    this.#at = save;
    return this.#selectStatement();
  }

  // SELECT ------------------------------------------------------------------------

  #with(): WithClause {
    this.#expect("with");
    const recursive = this.#accept("recursive");
    const ctes: CommonTableExpr[] = [];
    do {
      const name = this.#colId();
      const columns = this.#isOp("(") ? this.#parenNameList() : [];
      this.#expect("as");
      let materialized: boolean | null = null;
      if (this.#accept("materialized")) materialized = true;
      else if (this.#is("not") && this.#is("materialized", this.#peek())) {
        this.#at += 2;
        materialized = false;
      }
      this.#expectOp("(");
      let query: CommonTableExpr["query"];
      if (this.#is("insert")) query = this.#insert(null);
      else if (this.#is("update")) query = this.#update(null);
      else if (this.#is("delete")) query = this.#delete(null);
      else query = this.#selectStatement();
      this.#expectOp(")");
      ctes.push({ name, columns, materialized, query });
    } while (this.#acceptOp(","));
    return { recursive, ctes };
  }

  /** select_stmt: [WITH] set operations [ORDER BY] [LIMIT] [OFFSET]. */
  #selectStatement(): SelectStatement {
    this.#enter();
    const withClause = this.#is("with") ? this.#with() : null;
    const body = this.#setExpression(0);
    const statement: SelectStatement = {
      kind: "select",
      with: withClause,
      body,
      orderBy: [],
      limit: null,
      offset: null,
    };
    // A lone parenthesized query is that query, unless clauses follow it.
    if (body.kind === "select" && withClause === null) {
      const inner = body;
      if (
        !this.#is("order") && !this.#is("limit") && !this.#is("offset") && !this.#is("fetch") &&
        !this.#is("for")
      ) {
        this.#leave();
        return inner;
      }
    }
    if (this.#accept("order")) {
      this.#expect("by");
      statement.orderBy = this.#orderList();
    }
    // PostgreSQL takes the locking clauses before or after LIMIT/OFFSET.
    this.#lockingClauses(statement);
    this.#limitOffset(statement);
    this.#lockingClauses(statement);
    this.#leave();
    return statement;
  }

  /** FOR UPDATE | NO KEY UPDATE | SHARE | KEY SHARE [OF name, ...] [NOWAIT | SKIP LOCKED], repeated. */
  #lockingClauses(statement: SelectStatement): void {
    while (this.#accept("for")) {
      let strength: LockingClause["strength"];
      if (this.#accept("update")) strength = "update";
      else if (this.#accept("share")) strength = "share";
      else if (this.#accept("no")) {
        this.#expect("key");
        this.#expect("update");
        strength = "no key update";
      } else {
        this.#expect("key");
        this.#expect("share");
        strength = "key share";
      }
      const of: string[] = [];
      if (this.#accept("of")) {
        do {
          const name = this.#qualifiedName();
          of.push(name[name.length - 1]);
        } while (this.#acceptOp(","));
      }
      let wait: LockingClause["wait"] = "wait";
      if (this.#accept("nowait")) wait = "nowait";
      else if (this.#accept("skip")) {
        this.#expect("locked");
        wait = "skip locked";
      }
      (statement.locking ??= []).push({ strength, of, wait });
    }
  }

  #limitOffset(statement: SelectStatement): void {
    for (let round = 0; round < 2; round++) {
      if (statement.limit === null && this.#accept("limit")) {
        statement.limit = this.#accept("all") ? { kind: "null" } : this.#expr();
      } else if (statement.offset === null && this.#accept("offset")) {
        statement.offset = this.#expr();
        if (!this.#accept("rows")) this.#accept("row");
      } else if (statement.limit === null && this.#accept("fetch")) {
        if (!this.#accept("first")) this.#expect("next");
        statement.limit = this.#is("row") || this.#is("rows")
          ? { kind: "number", text: "1" }
          : this.#primary();
        if (!this.#accept("rows")) this.#expect("row");
        this.#expect("only");
      }
    }
  }

  #orderList(): OrderItem[] {
    const items: OrderItem[] = [];
    do {
      const expr = this.#expr();
      let direction: OrderItem["direction"] = null;
      if (this.#accept("asc")) direction = "asc";
      else if (this.#accept("desc")) direction = "desc";
      let nulls: OrderItem["nulls"] = null;
      if (this.#accept("nulls")) {
        if (this.#accept("first")) nulls = "first";
        else {
          this.#expect("last");
          nulls = "last";
        }
      }
      items.push({ expr, direction, nulls });
    } while (this.#acceptOp(","));
    return items;
  }

  /** UNION and EXCEPT bind looser than INTERSECT; all are left-associative. */
  #setExpression(minPrecedence: number): QueryBody {
    let left = this.#setPrimary();
    let links = 0;
    while (true) {
      const word = this.#tok.kind === "word" ? this.#tok.text : "";
      const precedence = word === "union" || word === "except" ? 1 : word === "intersect" ? 2 : 0;
      if (precedence === 0 || precedence < minPrecedence) break;
      this.#chain(++links);
      this.#at++;
      let all = false;
      if (this.#accept("all")) all = true;
      else this.#accept("distinct");
      const right = this.#setExpression(precedence + 1);
      left = {
        kind: "set_operation",
        op: word as "union" | "intersect" | "except",
        all,
        left,
        right,
      };
    }
    return left;
  }

  #setPrimary(): QueryBody {
    if (this.#isOp("(")) {
      this.#at++;
      const inner = this.#selectStatement();
      this.#expectOp(")");
      // (SELECT ...) without clauses of its own is just its body.
      const plain = inner.with === null && inner.orderBy.length === 0 && inner.limit === null &&
        inner.offset === null;
      return plain ? inner.body : inner;
    }
    if (this.#accept("values")) return this.#valuesList();
    if (this.#accept("table")) {
      const name = this.#qualifiedName();
      return {
        kind: "select_core",
        distinct: false,
        columns: [{ expr: { kind: "star", table: [] }, alias: null }],
        from: [{ kind: "table", name, alias: null, only: false }],
        where: null,
        groupBy: [],
        having: null,
      };
    }
    if (!this.#is("select")) throw this.#error();
    return this.#selectCore();
  }

  #valuesList(): QueryBody {
    const rows: Expr[][] = [];
    do {
      this.#expectOp("(");
      const row: Expr[] = [];
      do {
        row.push(this.#accept("default") ? { kind: "default" } : this.#expr());
      } while (this.#acceptOp(","));
      this.#expectOp(")");
      rows.push(row);
    } while (this.#acceptOp(","));
    return { kind: "values", rows };
  }

  #selectCore(): SelectCore {
    this.#expect("select");
    let distinct: SelectCore["distinct"] = false;
    if (this.#accept("distinct")) {
      distinct = true;
      if (this.#accept("on")) {
        this.#expectOp("(");
        distinct = this.#exprList();
        this.#expectOp(")");
      }
    } else {
      this.#accept("all");
    }
    // An empty target list is allowed, as in PostgreSQL: SELECT FROM t.
    const columns = this.#isTargetListEnd() ? [] : this.#targetList();
    const core: SelectCore = {
      kind: "select_core",
      distinct,
      columns,
      from: [],
      where: null,
      groupBy: [],
      having: null,
    };
    if (this.#accept("from")) core.from = this.#fromList();
    if (this.#accept("where")) core.where = this.#expr();
    if (this.#accept("group")) {
      this.#expect("by");
      this.#accept("all");
      this.#groupBy(core);
    }
    if (this.#accept("having")) core.having = this.#expr();
    if (this.#accept("window")) {
      core.windows = [];
      do {
        const name = this.#colId();
        this.#expect("as");
        core.windows.push({ name, spec: this.#windowSpec() });
      } while (this.#acceptOp(","));
    }
    return core;
  }

  /**
   * GROUP BY's list. Plain expressions fill `groupBy`; ROLLUP, CUBE,
   * GROUPING SETS and () make grouping sets, the cross product of each
   * item's sets (PostgreSQL 15 documentation 7.2.4).
   */
  #groupBy(core: SelectCore): void {
    const exprs: Expr[] = [];
    const texts: string[] = [];
    const indexOf = (e: Expr): number => {
      const text = printExpr(e);
      let i = texts.indexOf(text);
      if (i < 0) {
        i = exprs.push(e) - 1;
        texts.push(text);
      }
      return i;
    };
    let sets: number[][] = [[]];
    let plain = true;
    do {
      const item = this.#groupingItem(indexOf);
      if (item.kind === "sets") plain = false;
      sets = sets.flatMap((left) => item.sets.map((right) => [...left, ...right]));
    } while (this.#acceptOp(","));
    core.groupBy = exprs;
    if (!plain) core.groupingSets = sets;
  }

  /** One GROUP BY item as its grouping sets. */
  #groupingItem(indexOf: (e: Expr) => number): { kind: "expr" | "sets"; sets: number[][] } {
    const next = this.#peek();
    if (this.#isOp("(") && this.#isOp(")", next)) {
      this.#at += 2;
      return { kind: "sets", sets: [[]] };
    }
    if ((this.#is("rollup") || this.#is("cube")) && this.#isOp("(", next)) {
      const cube = this.#is("cube");
      this.#at += 2;
      const parts: number[][] = [];
      do parts.push(this.#groupingList(indexOf)); while (this.#acceptOp(","));
      this.#expectOp(")");
      if (!cube) {
        // ROLLUP (a, b, c): (a, b, c), (a, b), (a), ().
        return {
          kind: "sets",
          sets: parts.map((_, i) => parts.slice(0, parts.length - i).flat()).concat([[]]),
        };
      }
      // CUBE (a, b): every subset, the largest first.
      const sets: number[][] = [];
      for (let mask = (1 << parts.length) - 1; mask >= 0; mask--) {
        sets.push(parts.filter((_, i) => (mask & (1 << (parts.length - 1 - i))) !== 0).flat());
      }
      return { kind: "sets", sets };
    }
    if (this.#is("grouping") && this.#is("sets", next)) {
      this.#at += 2;
      this.#expectOp("(");
      const sets: number[][] = [];
      do sets.push(...this.#groupingItem(indexOf).sets); while (this.#acceptOp(","));
      this.#expectOp(")");
      return { kind: "sets", sets };
    }
    if (this.#isOp("(")) {
      // (a, b) inside GROUPING SETS is one set; a parenthesized expression is itself.
      const start = this.#at;
      const depth = this.#depth;
      try {
        const set = this.#groupingList(indexOf);
        if (set.length !== 1) return { kind: "sets", sets: [set] };
      } catch {
        // Not a list ((SELECT 1), say): parsed again as an expression below.
        this.#depth = depth;
      }
      this.#at = start;
    }
    return { kind: "expr", sets: [[indexOf(this.#expr())]] };
  }

  /** An expression or a parenthesized list of them, as indexes into GROUP BY's expressions. */
  #groupingList(indexOf: (e: Expr) => number): number[] {
    if (!this.#isOp("(")) return [indexOf(this.#expr())];
    this.#at++;
    const list = this.#isOp(")") ? [] : this.#exprList().map(indexOf);
    this.#expectOp(")");
    return list;
  }

  #isTargetListEnd(): boolean {
    const token = this.#tok;
    if (token.kind === "eof") return true;
    if (token.kind === "op") return token.text === ";" || token.text === ")";
    return token.kind === "word" &&
      [
        "from",
        "where",
        "group",
        "having",
        "order",
        "limit",
        "offset",
        "union",
        "intersect",
        "except",
        "fetch",
      ]
        .includes(token.text);
  }

  #targetList(): SelectItem[] {
    const items: SelectItem[] = [];
    do items.push(this.#selectItem()); while (this.#acceptOp(","));
    return items;
  }

  #selectItem(): SelectItem {
    if (this.#isOp("*")) {
      this.#at++;
      return { expr: { kind: "star", table: [] }, alias: null };
    }
    const expr = this.#expr();
    if (this.#accept("as")) return { expr, alias: this.#colLabel() };
    const token = this.#tok;
    // Whatever the expression did not take may be a bare label (SELECT a IS: "is").
    const bare = token.kind === "quoted" ||
      (token.kind === "word" && !RESERVED.has(token.text) && !AS_LABEL_ONLY.has(token.text));
    if (bare) {
      this.#at++;
      return { expr, alias: token.text };
    }
    return { expr, alias: null };
  }

  #fromList(): FromItem[] {
    const items: FromItem[] = [];
    do items.push(this.#joinedTable()); while (this.#acceptOp(","));
    return items;
  }

  #joinedTable(): FromItem {
    let left = this.#tableRef();
    let links = 0;
    while (true) {
      let natural = false;
      const save = this.#at;
      if (this.#accept("natural")) natural = true;
      let type: "inner" | "left" | "right" | "full" | "cross";
      if (this.#accept("cross")) type = "cross";
      else if (this.#accept("inner")) type = "inner";
      else if (this.#accept("left")) type = "left";
      else if (this.#accept("right")) type = "right";
      else if (this.#accept("full")) type = "full";
      else if (this.#is("join")) type = "inner";
      else {
        this.#at = save;
        if (natural) throw this.#error();
        return left;
      }
      if (type === "left" || type === "right" || type === "full") this.#accept("outer");
      this.#expect("join");
      this.#chain(++links);
      const right = this.#tableRef();
      let on: Expr | null = null;
      let using: string[] | null = null;
      if (type !== "cross" && !natural) {
        if (this.#accept("on")) on = this.#expr();
        else if (this.#accept("using")) using = this.#parenNameList();
        else throw this.#error();
      }
      left = { kind: "join", type, natural, left, right, on, using };
    }
  }

  #alias(): Alias | null {
    let name: string;
    if (this.#accept("as")) name = this.#colLabel();
    else if (this.#isColId()) name = this.#colId();
    else return null;
    return { name, columns: this.#isOp("(") ? this.#parenNameList() : [] };
  }

  #tableRef(): FromItem {
    const lateral = this.#accept("lateral");
    if (this.#isOp("(")) {
      const open = this.#at;
      const query = this.#tryParenQuery();
      if (query !== null) return { kind: "subquery", query, alias: this.#alias(), lateral };
      this.#at++;
      if (lateral) throw this.#error(this.#tokens[open + 1]);
      this.#enter();
      const inner = this.#joinedTable();
      this.#leave();
      this.#expectOp(")");
      return inner;
    }
    const only = this.#accept("only");
    const name = this.#qualifiedName();
    if (this.#isOp("(") && !only) {
      const call = this.#functionCall(name);
      if (this.#is("with") && this.#is("ordinality", this.#peek())) {
        this.#at += 2;
        return { kind: "function", call, alias: this.#alias(), lateral, ordinality: true };
      }
      return { kind: "function", call, alias: this.#alias(), lateral };
    }
    if (lateral) throw this.#error();
    return { kind: "table", name, alias: this.#alias(), only };
  }

  // INSERT, UPDATE, DELETE -------------------------------------------------------------

  #targetAlias(): string | null {
    if (this.#accept("as")) return this.#colId();
    // A bare alias may not be a word that starts the next clause.
    if (this.#isColId() && !["set", "default", "values", "overriding"].includes(this.#tok.text)) {
      return this.#colId();
    }
    return null;
  }

  #insert(withClause: WithClause | null): InsertStatement {
    this.#expect("insert");
    this.#expect("into");
    const table = this.#qualifiedName();
    const alias = this.#accept("as") ? this.#colId() : null;
    let columns: string[] | null = null;
    if (this.#isOp("(") && !this.#parenQueryAhead()) columns = this.#parenNameList();
    let source: SelectStatement | null;
    if (this.#accept("default")) {
      this.#expect("values");
      source = null;
    } else {
      source = this.#selectStatement();
    }
    let onConflict: OnConflict | null = null;
    if (this.#accept("on")) {
      this.#expect("conflict");
      let targetColumns: string[] | null = null;
      let constraint: string | null = null;
      if (this.#isOp("(")) targetColumns = this.#parenNameList();
      else if (this.#accept("on")) {
        this.#expect("constraint");
        constraint = this.#colId();
      }
      this.#expect("do");
      let action: OnConflict["action"];
      if (this.#accept("nothing")) action = { kind: "nothing" };
      else {
        this.#expect("update");
        this.#expect("set");
        const set = this.#assignments([alias ?? table[table.length - 1]]);
        action = { kind: "update", set, where: this.#accept("where") ? this.#expr() : null };
      }
      onConflict = { columns: targetColumns, constraint, action };
    }
    return {
      kind: "insert",
      with: withClause,
      table,
      alias,
      columns,
      source,
      onConflict,
      returning: this.#returning(),
    };
  }

  /** SET's list; `target` qualifies the column an element assignment reads (`t.tags`). */
  #assignments(target: string[]): Assignment[] {
    const set: Assignment[] = [];
    do {
      const column = this.#colId();
      // Each subscript as [lower, upper]; a plain [i] has no lower (null), a left-out bound
      // of a slice is marked in `omitted` (bit 2k for the lower of subscript k, 2k+1 upper).
      const subscripts: [Expr | null, Expr][] = [];
      let slice = false;
      let omitted = 0;
      while (this.#acceptOp("[")) {
        const k = subscripts.length;
        const lowerOmitted = this.#isOp(":");
        const first: Expr = lowerOmitted ? { kind: "null" } : this.#expr();
        if (this.#acceptOp(":")) {
          slice = true;
          const upperOmitted = this.#isOp("]");
          if (lowerOmitted) omitted |= 1 << (2 * k);
          if (upperOmitted) omitted |= 1 << (2 * k + 1);
          subscripts.push([first, upperOmitted ? { kind: "null" } : this.#expr()]);
        } else {
          subscripts.push([null, first]);
        }
        this.#expectOp("]");
      }
      this.#expectOp("=");
      const value: Expr = this.#accept("default") ? { kind: "default" } : this.#expr();
      if (subscripts.length === 0) {
        set.push({ column, value });
        continue;
      }
      // `SET tags[2] = 'y'` and `SET tags[1:2] = '{x,y}'`: the column given its new array
      // (array_types.ts arraySetElement, arraySetSlice).
      // The column's name rides along for the error of a value of the wrong type.
      const named: Expr[] = [
        { kind: "column", path: [...target, column] },
        value,
        { kind: "string", value: column },
      ];
      const args: Expr[] = slice
        ? [
          ...named,
          { kind: "number", text: String(omitted) },
          ...subscripts.flatMap((
            [lower, upper],
          ): Expr[] => [lower ?? { kind: "number", text: "1" }, upper]),
        ]
        : [...named, ...subscripts.map(([, index]) => index)];
      set.push({
        column,
        value: {
          kind: "function",
          name: ["pg_catalog", slice ? "array_set_slice" : "array_set_element"],
          args,
          star: false,
          distinct: false,
          orderBy: [],
          filter: null,
        },
      });
    } while (this.#acceptOp(","));
    return set;
  }

  #returning(): SelectItem[] {
    return this.#accept("returning") ? this.#targetList() : [];
  }

  #update(withClause: WithClause | null): UpdateStatement {
    this.#expect("update");
    this.#accept("only");
    const table = this.#qualifiedName();
    const alias = this.#targetAlias();
    this.#expect("set");
    const set = this.#assignments([alias ?? table[table.length - 1]]);
    const from = this.#accept("from") ? this.#fromList() : [];
    const where = this.#accept("where") ? this.#expr() : null;
    return {
      kind: "update",
      with: withClause,
      table,
      alias,
      set,
      from,
      where,
      returning: this.#returning(),
    };
  }

  #delete(withClause: WithClause | null): DeleteStatement {
    this.#expect("delete");
    this.#expect("from");
    this.#accept("only");
    const table = this.#qualifiedName();
    const alias = this.#targetAlias();
    const using = this.#accept("using") ? this.#fromList() : [];
    const where = this.#accept("where") ? this.#expr() : null;
    return {
      kind: "delete",
      with: withClause,
      table,
      alias,
      using,
      where,
      returning: this.#returning(),
    };
  }

  // DDL -----------------------------------------------------------------------------------

  #ifNotExists(): boolean {
    if (!this.#is("if")) return false;
    this.#at++;
    this.#expect("not");
    this.#expect("exists");
    return true;
  }

  #ifExists(): boolean {
    if (!this.#is("if")) return false;
    this.#at++;
    this.#expect("exists");
    return true;
  }

  #cascade(): boolean {
    if (this.#accept("cascade")) return true;
    this.#accept("restrict");
    return false;
  }

  #create(): Statement {
    this.#expect("create");
    if (this.#accept("or")) {
      this.#expect("replace");
      this.#expect("view");
      return this.#createView(true);
    }
    if (this.#accept("view")) return this.#createView(false);
    const unique = this.#accept("unique");
    if (this.#accept("index")) return this.#createIndex(unique);
    if (unique) throw this.#error();
    let temporary = false;
    if (this.#accept("temporary") || this.#accept("temp")) temporary = true;
    if (this.#accept("sequence")) return this.#createSequence();
    if (!temporary && this.#accept("type")) return this.#createType();
    if (!temporary && this.#accept("schema")) {
      const ifNotExists = this.#ifNotExists();
      const name = this.#colId();
      if (this.#accept("authorization")) this.#colId();
      return { kind: "create_schema", name, ifNotExists };
    }
    if (!temporary && this.#accept("extension")) {
      const ifNotExists = this.#ifNotExists();
      const name = this.#colId();
      // WITH, SCHEMA s, VERSION v and CASCADE change nothing here.
      this.#accept("with");
      while (this.#tok.kind !== "eof" && !this.#isOp(";")) {
        if (this.#accept("schema") || this.#accept("version")) this.#at++;
        else this.#expect("cascade");
      }
      return { kind: "create_extension", name, ifNotExists };
    }
    this.#expect("table");
    const ifNotExists = this.#ifNotExists();
    const name = this.#qualifiedName();
    // CREATE TABLE t [(a, b)] AS query: a list of bare names can only be that.
    const next = this.#peek(2);
    const nameList = this.#isOp("(") && this.#isColId(this.#peek()) &&
      (this.#isOp(",", next) || this.#isOp(")", next));
    if (this.#is("as") || nameList) {
      const names = nameList ? this.#parenNameList() : [];
      this.#expect("as");
      const query = this.#selectStatement();
      return { kind: "create_table_as", name, ifNotExists, temporary, columns: names, query };
    }
    this.#expectOp("(");
    const columns: ColumnDef[] = [];
    const constraints: TableConstraint[] = [];
    if (!this.#isOp(")")) {
      do {
        if (this.#isTableConstraintStart()) constraints.push(this.#tableConstraint());
        else columns.push(this.#columnDef());
      } while (this.#acceptOp(","));
    }
    this.#expectOp(")");
    // Storage parameters (pgbench: WITH (fillfactor=100)) are accepted and ignored.
    if (this.#is("with") && this.#isOp("(", this.#peek())) {
      this.#at++;
      this.#skipParenthesized();
    }
    return { kind: "create_table", name, ifNotExists, temporary, columns, constraints };
  }

  #skipParenthesized(): void {
    this.#expectOp("(");
    let depth = 1;
    while (depth > 0) {
      const token = this.#tok;
      if (token.kind === "eof") throw this.#error();
      if (this.#isOp("(")) depth++;
      if (this.#isOp(")")) depth--;
      this.#at++;
    }
  }

  #isTableConstraintStart(): boolean {
    return ["constraint", "primary", "unique", "check", "foreign"].some((w) => this.#is(w));
  }

  #columnDef(): ColumnDef {
    const name = this.#colId();
    const type = this.#typeName();
    const constraints: ColumnConstraint[] = [];
    while (true) {
      let constraintName: string | null = null;
      if (this.#accept("constraint")) constraintName = this.#colId();
      const constraint = this.#columnConstraint(constraintName);
      if (constraint === null) {
        if (constraintName !== null) throw this.#error();
        break;
      }
      constraints.push(constraint);
    }
    return { name, type, constraints };
  }

  #columnConstraint(name: string | null): ColumnConstraint | null {
    if (this.#accept("not")) {
      this.#expect("null");
      return { name, kind: "not_null" };
    }
    if (this.#accept("null")) return { name, kind: "null" };
    if (this.#accept("primary")) {
      this.#expect("key");
      return { name, kind: "primary_key" };
    }
    if (this.#accept("unique")) return { name, kind: "unique" };
    if (this.#accept("default")) return { name, kind: "default", expr: this.#bExpr() };
    if (this.#accept("check")) {
      this.#expectOp("(");
      const expr = this.#expr();
      this.#expectOp(")");
      return { name, kind: "check", expr };
    }
    if (this.#accept("references")) {
      return { name, kind: "references", references: this.#references() };
    }
    if (this.#accept("generated")) {
      let always = true;
      if (!this.#accept("always")) {
        this.#expect("by");
        this.#expect("default");
        always = false;
      }
      this.#expect("as");
      this.#expect("identity");
      // Sequence options (START WITH ...) are accepted and ignored.
      if (this.#isOp("(")) this.#skipParenthesized();
      return { name, kind: "identity", always };
    }
    return null;
  }

  #references(): References {
    const table = this.#qualifiedName();
    const columns = this.#isOp("(") ? this.#parenNameList() : [];
    let onDelete: ReferentialAction | null = null;
    let onUpdate: ReferentialAction | null = null;
    if (this.#accept("match")) {
      if (!this.#accept("simple")) {
        throw new SqlSyntaxError("MATCH FULL and MATCH PARTIAL are not supported", 0, "0A000");
      }
    }
    while (this.#is("on")) {
      this.#at++;
      if (this.#accept("delete")) onDelete = this.#referentialAction();
      else {
        this.#expect("update");
        onUpdate = this.#referentialAction();
      }
    }
    const references: References = { table, columns, onDelete, onUpdate };
    this.#constraintTiming(references);
    return references;
  }

  /** [NOT] DEFERRABLE and INITIALLY { DEFERRED | IMMEDIATE }, in either order. */
  #constraintTiming(references: References): void {
    let deferrable: boolean | null = null;
    let notAt = 0;
    for (;;) {
      if (this.#accept("deferrable")) deferrable = true;
      else if (this.#is("not") && this.#is("deferrable", this.#peek())) {
        notAt = characterPosition(this.#sql, this.#tok.start);
        this.#at += 2;
        deferrable = false;
      } else if (this.#accept("initially")) {
        if (this.#accept("deferred")) references.initiallyDeferred = true;
        else {
          this.#expect("immediate");
          references.initiallyDeferred = false;
        }
      } else break;
    }
    if (references.initiallyDeferred && deferrable === false) {
      throw new SqlSyntaxError("constraint declared INITIALLY DEFERRED must be DEFERRABLE", notAt);
    }
    references.deferrable = deferrable === true || references.initiallyDeferred === true;
  }

  #referentialAction(): ReferentialAction {
    if (this.#accept("cascade")) return "cascade";
    if (this.#accept("restrict")) return "restrict";
    if (this.#accept("no")) {
      this.#expect("action");
      return "no action";
    }
    this.#expect("set");
    if (this.#accept("null")) return "set null";
    this.#expect("default");
    return "set default";
  }

  #tableConstraint(): TableConstraint {
    const name = this.#accept("constraint") ? this.#colId() : null;
    if (this.#accept("primary")) {
      this.#expect("key");
      return { name, kind: "primary_key", columns: this.#parenNameList() };
    }
    if (this.#accept("unique")) return { name, kind: "unique", columns: this.#parenNameList() };
    if (this.#accept("check")) {
      this.#expectOp("(");
      const expr = this.#expr();
      this.#expectOp(")");
      return { name, kind: "check", expr };
    }
    this.#expect("foreign");
    this.#expect("key");
    const columns = this.#parenNameList();
    this.#expect("references");
    return { name, kind: "foreign_key", columns, references: this.#references() };
  }

  #createIndex(unique: boolean): Statement {
    this.#accept("concurrently");
    const ifNotExists = this.#ifNotExists();
    const name = this.#is("on") ? null : this.#colId();
    this.#expect("on");
    this.#accept("only");
    const table = this.#qualifiedName();
    if (this.#accept("using")) this.#colId(); // the access method: ours is always a B-tree
    this.#expectOp("(");
    const columns: IndexColumn[] = [];
    do {
      const expr = this.#acceptOp("(") ? this.#exprThen(")") : this.#bExpr();
      const opclass =
        this.#tok.kind === "word" && !["asc", "desc", "nulls"].includes(this.#tok.text)
          ? this.#colId()
          : undefined;
      let direction: IndexColumn["direction"] = null;
      if (this.#accept("asc")) direction = "asc";
      else if (this.#accept("desc")) direction = "desc";
      let nulls: IndexColumn["nulls"] = null;
      if (this.#accept("nulls")) {
        if (this.#accept("first")) nulls = "first";
        else {
          this.#expect("last");
          nulls = "last";
        }
      }
      columns.push({ expr, ...(opclass === undefined ? {} : { opclass }), direction, nulls });
    } while (this.#acceptOp(","));
    this.#expectOp(")");
    const include = this.#accept("include") ? this.#parenNameList() : undefined;
    const where = this.#accept("where") ? this.#expr() : null;
    return {
      kind: "create_index",
      unique,
      name,
      ifNotExists,
      table,
      columns,
      ...(include === undefined ? {} : { include }),
      where,
    };
  }

  #exprThen(close: string): Expr {
    const expr = this.#expr();
    this.#expectOp(close);
    return expr;
  }

  #createView(orReplace: boolean): Statement {
    const name = this.#qualifiedName();
    const columns = this.#isOp("(") ? this.#parenNameList() : [];
    this.#expect("as");
    return { kind: "create_view", name, orReplace, columns, query: this.#selectStatement() };
  }

  /** CREATE SEQUENCE's name and options, after CREATE [TEMP] SEQUENCE. */
  #createSequence(): Statement {
    const ifNotExists = this.#ifNotExists();
    const name = this.#qualifiedName();
    const options: SequenceOptions = {
      type: null,
      increment: null,
      min: null,
      max: null,
      start: null,
      cycle: null,
    };
    for (;;) {
      if (this.#accept("as")) options.type = this.#typeName();
      else if (this.#accept("increment")) {
        this.#accept("by");
        options.increment = this.#signedNumber();
      } else if (this.#accept("minvalue")) options.min = this.#signedNumber();
      else if (this.#accept("maxvalue")) options.max = this.#signedNumber();
      else if (this.#accept("start")) {
        this.#accept("with");
        options.start = this.#signedNumber();
      } else if (this.#accept("cache")) this.#signedNumber();
      else if (this.#accept("cycle")) options.cycle = true;
      else if (this.#accept("no")) {
        if (this.#accept("minvalue")) options.min = "none";
        else if (this.#accept("maxvalue")) options.max = "none";
        else if (this.#accept("cycle")) options.cycle = false;
        else throw this.#error();
      } else if (this.#accept("owned")) {
        this.#expect("by");
        if (!this.#accept("none")) this.#qualifiedName();
      } else break;
    }
    return { kind: "create_sequence", name, ifNotExists, options };
  }

  /** An integer with an optional sign (sequence options). */
  #signedNumber(): Expr {
    const negative = this.#acceptOp("-");
    if (!negative) this.#acceptOp("+");
    const token = this.#tok;
    if (token.kind !== "integer") throw this.#error();
    this.#at++;
    return { kind: "number", text: negative ? `-${token.text}` : token.text };
  }

  /** LOCK [TABLE] [ONLY] name [, ...] [IN lockmode MODE] [NOWAIT]. */
  #lock(): Statement {
    this.#expect("lock");
    this.#accept("table");
    this.#accept("only");
    const tables = this.#qualifiedNameList();
    let mode = "ACCESS EXCLUSIVE";
    if (this.#accept("in")) {
      const words: string[] = [];
      const first = this.#tok;
      while (this.#tok.kind === "word" && !this.#is("mode")) {
        words.push(this.#tokens[this.#at++].text);
      }
      this.#expect("mode");
      mode = words.join(" ").toUpperCase();
      const modes = [
        "ACCESS SHARE",
        "ROW SHARE",
        "ROW EXCLUSIVE",
        "SHARE UPDATE EXCLUSIVE",
        "SHARE",
        "SHARE ROW EXCLUSIVE",
        "EXCLUSIVE",
        "ACCESS EXCLUSIVE",
      ];
      if (!modes.includes(mode)) throw this.#error(first);
    }
    if (this.#accept("nowait")) {
      throw new SqlSyntaxError("LOCK TABLE ... NOWAIT is not supported", 0, "0A000");
    }
    return { kind: "lock_table", tables, mode };
  }

  #drop(): Statement {
    this.#expect("drop");
    if (this.#accept("extension")) {
      const ifExists = this.#ifExists();
      const names = [this.#colId()];
      while (this.#acceptOp(",")) names.push(this.#colId());
      this.#cascade();
      return { kind: "drop_extension", names, ifExists };
    }
    let kind: "drop_table" | "drop_index" | "drop_view" | "drop_sequence" | "drop_type";
    if (this.#accept("table")) kind = "drop_table";
    else if (this.#accept("type")) kind = "drop_type";
    else if (this.#accept("sequence")) kind = "drop_sequence";
    else if (this.#accept("index")) {
      this.#accept("concurrently");
      kind = "drop_index";
    } else {
      this.#expect("view");
      kind = "drop_view";
    }
    const ifExists = this.#ifExists();
    const names = this.#qualifiedNameList();
    return { kind, names, ifExists, cascade: this.#cascade() };
  }

  /** CREATE TYPE name AS ENUM ('a', ...), after CREATE TYPE. */
  #createType(): Statement {
    const name = this.#qualifiedName();
    this.#expect("as");
    this.#expect("enum");
    this.#expectOp("(");
    const labels: string[] = [];
    if (!this.#isOp(")")) {
      do labels.push(this.#stringConstant()); while (this.#acceptOp(","));
    }
    this.#expectOp(")");
    return { kind: "create_enum", name, labels };
  }

  /** ALTER TYPE name ADD VALUE [IF NOT EXISTS] 'x' [BEFORE | AFTER 'y'] | RENAME VALUE | RENAME TO. */
  #alterType(): Statement {
    this.#expect("alter");
    this.#expect("type");
    const name = this.#qualifiedName();
    if (this.#accept("add")) {
      this.#expect("value");
      const ifNotExists = this.#ifNotExists();
      const label = this.#stringConstant();
      let neighbor: { label: string; before: boolean } | null = null;
      if (this.#accept("before")) neighbor = { label: this.#stringConstant(), before: true };
      else if (this.#accept("after")) neighbor = { label: this.#stringConstant(), before: false };
      return {
        kind: "alter_enum",
        name,
        action: { kind: "add_value", label, ifNotExists, neighbor },
      };
    }
    this.#expect("rename");
    if (this.#accept("to")) {
      return { kind: "alter_enum", name, action: { kind: "rename", to: this.#colId() } };
    }
    this.#expect("value");
    const from = this.#stringConstant();
    this.#expect("to");
    return {
      kind: "alter_enum",
      name,
      action: { kind: "rename_value", from, to: this.#stringConstant() },
    };
  }

  /** A string constant (an enum label). */
  #stringConstant(): string {
    const token = this.#tok;
    if (token.kind !== "string") throw this.#error();
    this.#at++;
    return token.text;
  }

  #alterTable(): Statement {
    this.#expect("alter");
    this.#expect("table");
    const ifExists = this.#ifExists();
    this.#accept("only");
    const table = this.#qualifiedName();
    if (this.#accept("rename")) {
      if (this.#accept("to")) {
        return {
          kind: "alter_table",
          table,
          ifExists,
          actions: [{ kind: "rename_table", to: this.#colId() }],
        };
      }
      if (this.#accept("constraint")) throw this.#error(this.#tokens[this.#at - 1]);
      this.#accept("column");
      const from = this.#colId();
      this.#expect("to");
      return {
        kind: "alter_table",
        table,
        ifExists,
        actions: [{ kind: "rename_column", from, to: this.#colId() }],
      };
    }
    const actions: AlterAction[] = [];
    do actions.push(this.#alterAction()); while (this.#acceptOp(","));
    return { kind: "alter_table", table, ifExists, actions };
  }

  #alterAction(): AlterAction {
    if (this.#accept("add")) {
      if (this.#isTableConstraintStart()) {
        const constraint = this.#tableConstraint();
        if (this.#is("not") && this.#is("valid", this.#peek())) {
          this.#at += 2;
          return { kind: "add_constraint", constraint, notValid: true };
        }
        return { kind: "add_constraint", constraint };
      }
      this.#accept("column");
      const ifNotExists = this.#ifNotExists();
      return { kind: "add_column", ifNotExists, column: this.#columnDef() };
    }
    if (this.#accept("validate")) {
      this.#expect("constraint");
      return { kind: "validate_constraint", name: this.#colId() };
    }
    if (this.#accept("drop")) {
      if (this.#accept("constraint")) {
        const ifExists = this.#ifExists();
        const name = this.#colId();
        return { kind: "drop_constraint", ifExists, name, cascade: this.#cascade() };
      }
      this.#accept("column");
      const ifExists = this.#ifExists();
      const name = this.#colId();
      return { kind: "drop_column", ifExists, name, cascade: this.#cascade() };
    }
    this.#expect("alter");
    this.#accept("column");
    const column = this.#colId();
    if (this.#is("type") || (this.#is("set") && this.#is("data", this.#peek()))) {
      if (this.#accept("set")) this.#expect("data");
      this.#expect("type");
      const type = this.#typeName();
      const using = this.#accept("using") ? this.#expr() : null;
      return { kind: "alter_type", column, type, using };
    }
    if (this.#accept("set")) {
      if (this.#accept("default")) return { kind: "set_default", column, expr: this.#bExpr() };
      this.#expect("not");
      this.#expect("null");
      return { kind: "set_not_null", column, notNull: true };
    }
    this.#expect("drop");
    if (this.#accept("default")) return { kind: "set_default", column, expr: null };
    this.#expect("not");
    this.#expect("null");
    return { kind: "set_not_null", column, notNull: false };
  }

  #truncate(): Statement {
    this.#expect("truncate");
    this.#accept("table");
    this.#accept("only");
    const tables = this.#qualifiedNameList();
    let restartIdentity = false;
    if (this.#accept("restart")) {
      this.#expect("identity");
      restartIdentity = true;
    } else if (this.#accept("continue")) {
      this.#expect("identity");
    }
    return { kind: "truncate", tables, restartIdentity, cascade: this.#cascade() };
  }

  // Transactions and settings ----------------------------------------------------------------

  #begin(): Statement {
    const start = this.#accept("start");
    if (start) this.#expect("transaction");
    else {
      this.#expect("begin");
      this.#optionalNoise();
    }
    const statement: Statement = {
      kind: "begin",
      isolation: null,
      readOnly: null,
      ...(start ? { start: true as const } : {}),
    };
    this.#transactionModes(statement);
    return statement;
  }

  #transactionModes(statement: Extract<Statement, { kind: "begin" }>): void {
    while (true) {
      if (this.#accept("isolation")) {
        this.#expect("level");
        if (this.#accept("serializable")) statement.isolation = "serializable";
        else if (this.#accept("repeatable")) {
          this.#expect("read");
          statement.isolation = "repeatable read";
        } else {
          this.#expect("read");
          if (this.#accept("committed")) statement.isolation = "read committed";
          else {
            this.#expect("uncommitted");
            statement.isolation = "read uncommitted";
          }
        }
      } else if (this.#accept("read")) {
        if (this.#accept("only")) statement.readOnly = true;
        else {
          this.#expect("write");
          statement.readOnly = false;
        }
      } else if (this.#is("not") && this.#is("deferrable", this.#peek())) {
        this.#at += 2;
      } else if (!this.#accept("deferrable")) {
        return;
      }
      this.#acceptOp(",");
    }
  }

  #rollback(): Statement {
    this.#at++;
    this.#optionalNoise();
    if (this.#accept("to")) {
      this.#accept("savepoint");
      return { kind: "rollback_to", name: this.#colId() };
    }
    return { kind: "rollback", chain: this.#chainClause() };
  }

  /** A configuration parameter name: dotted words, lower-cased. */
  #settingName(): string {
    const parts = [this.#colLabel()];
    while (this.#acceptOp(".")) parts.push(this.#colLabel());
    return parts.join(".");
  }

  /** COMMENT ON { TABLE | VIEW | INDEX | COLUMN } name IS { 'text' | NULL }. */
  #comment(): Statement {
    this.#expect("comment");
    this.#expect("on");
    const objects = ["table", "view", "index", "column"] as const;
    const target = objects.find((o) => this.#accept(o));
    if (target === undefined) {
      if (this.#tok.kind === "eof") throw this.#error();
      throw new SqlSyntaxError(
        `COMMENT ON ${
          this.#sql.slice(this.#tok.start, this.#tok.end).toUpperCase()
        } is not supported`,
        0,
        "0A000",
      );
    }
    const name = this.#qualifiedName();
    this.#expect("is");
    let text: string | null = null;
    if (!this.#accept("null")) {
      const token = this.#tok;
      if (token.kind !== "string") throw this.#error();
      text = token.text;
      this.#at++;
    }
    return { kind: "comment", target, name, text };
  }

  #set(): Statement {
    this.#expect("set");
    let local = false;
    if (this.#accept("local")) local = true;
    else if (this.#accept("session") && this.#accept("characteristics")) {
      this.#expect("as");
      this.#expect("transaction");
      this.#transactionModes({ kind: "begin", isolation: null, readOnly: null });
      return { kind: "session_characteristics" };
    }
    if (this.#accept("time")) {
      this.#expect("zone");
      if (this.#accept("default") || this.#accept("local")) {
        return { kind: "set", name: "timezone", values: null, local };
      }
      return { kind: "set", name: "timezone", values: [this.#settingValue()], local };
    }
    if (this.#accept("constraints")) {
      let names: string[] | null = null;
      if (!this.#accept("all")) {
        names = [];
        do {
          const path = this.#qualifiedName();
          names.push(path[path.length - 1]);
        } while (this.#acceptOp(","));
      }
      const deferred = this.#accept("deferred");
      if (!deferred) this.#expect("immediate");
      return { kind: "set_constraints", names, deferred };
    }
    if (
      this.#is("transaction") || (this.#is("session") && this.#is("characteristics", this.#peek()))
    ) {
      this.#at++;
      const modes: Statement = { kind: "begin", isolation: null, readOnly: null };
      this.#transactionModes(modes);
      const values: Expr[] = [];
      if (modes.isolation) values.push({ kind: "string", value: modes.isolation });
      return { kind: "set", name: "transaction_isolation", values, local: true };
    }
    const name = this.#settingName();
    if (!this.#accept("to")) this.#expectOp("=");
    if (this.#accept("default")) return { kind: "set", name, values: null, local };
    const values = [this.#settingValue()];
    while (this.#acceptOp(",")) values.push(this.#settingValue());
    return { kind: "set", name, values, local };
  }

  /** A SET value: a string, a number (signed), a name or keyword (as a string). */
  #settingValue(): Expr {
    const token = this.#tok;
    if (token.kind === "string") {
      this.#at++;
      return { kind: "string", value: token.text };
    }
    if (token.kind === "integer" || token.kind === "numeric") {
      this.#at++;
      return { kind: "number", text: token.text };
    }
    if (this.#isOp("-") || this.#isOp("+")) {
      const sign = token.text;
      this.#at++;
      const number = this.#tok;
      if (number.kind !== "integer" && number.kind !== "numeric") throw this.#error();
      this.#at++;
      return { kind: "number", text: sign === "-" ? `-${number.text}` : number.text };
    }
    if (token.kind === "word" || token.kind === "quoted") {
      this.#at++;
      return { kind: "string", value: token.text };
    }
    throw this.#error();
  }

  #show(): Statement {
    this.#expect("show");
    if (this.#accept("all")) return { kind: "show", name: "all" };
    if (this.#accept("time")) {
      this.#expect("zone");
      return { kind: "show", name: "timezone" };
    }
    if (this.#is("transaction") && this.#is("isolation", this.#peek())) {
      this.#at += 2;
      this.#expect("level");
      return { kind: "show", name: "transaction_isolation" };
    }
    return { kind: "show", name: this.#settingName() };
  }

  #explain(): Statement {
    this.#expect("explain");
    let analyze = false;
    let verbose = false;
    if (this.#isOp("(")) {
      this.#at++;
      do {
        const option = this.#colLabel();
        let on = true;
        if (this.#tok.kind === "word" && ["true", "on", "false", "off"].includes(this.#tok.text)) {
          on = this.#tok.text === "true" || this.#tok.text === "on";
          this.#at++;
        }
        if (option === "analyze" || option === "analyse") analyze = on;
        else if (option === "verbose") verbose = on;
      } while (this.#acceptOp(","));
      this.#expectOp(")");
    } else {
      if (this.#accept("analyze") || this.#accept("analyse")) analyze = true;
      if (this.#accept("verbose")) verbose = true;
    }
    return { kind: "explain", analyze, verbose, statement: this.#statement() };
  }

  #copy(): Statement {
    this.#expect("copy");
    const query = this.#isOp("(") ? this.#tryParenQuery() : null;
    if (this.#isOp("(")) throw this.#error(this.#peek());
    const table = query ? [] : this.#qualifiedName();
    const columns = !query && this.#isOp("(") ? this.#parenNameList() : null;
    let direction: "from" | "to";
    if (this.#accept("from")) {
      direction = "from";
      this.#expect("stdin");
    } else {
      this.#expect("to");
      direction = "to";
      this.#expect("stdout");
    }
    if (query && direction === "from") throw this.#error(this.#tokens[this.#at - 2]);
    const options: [string, string][] = [];
    const withOptions = this.#accept("with");
    if (this.#isOp("(")) {
      this.#at++;
      do {
        const name = this.#colLabel();
        const value = this.#tok;
        if (value.kind === "string" || value.kind === "word" || value.kind === "integer") {
          this.#at++;
          options.push([name, value.text]);
        } else if (this.#isOp("*")) {
          this.#at++;
          options.push([name, "*"]);
        } else if (this.#isOp("(")) {
          options.push([name, this.#parenNameList().join(",")]);
        } else {
          options.push([name, "true"]);
        }
      } while (this.#acceptOp(","));
      this.#expectOp(")");
    } else {
      // The old spellings: WITH CSV, BINARY, DELIMITER 'x', NULL 'x', HEADER.
      while (this.#tok.kind === "word") {
        const word = this.#tok.text;
        this.#at++;
        if (word === "csv" || word === "binary") options.push(["format", word]);
        else if (word === "header") options.push(["header", "true"]);
        else if (word === "delimiter" || word === "null" || word === "quote" || word === "escape") {
          this.#accept("as");
          if (!this.#isString()) throw this.#error();
          options.push([word, this.#tokens[this.#at++].text]);
        } else throw this.#error(this.#tokens[this.#at - 1]);
      }
      if (withOptions && options.length === 0) throw this.#error();
    }
    return query
      ? { kind: "copy", table, columns, direction, options, query }
      : { kind: "copy", table, columns, direction, options };
  }

  #vacuum(): Statement {
    this.#expect("vacuum");
    let analyze = false;
    if (this.#isOp("(")) {
      this.#at++;
      do {
        const option = this.#colLabel();
        if (option === "analyze" || option === "analyse") analyze = true;
        if (this.#tok.kind === "word" && ["true", "on", "false", "off"].includes(this.#tok.text)) {
          this.#at++;
        }
      } while (this.#acceptOp(","));
      this.#expectOp(")");
    } else {
      while (["full", "freeze", "verbose", "analyze", "analyse"].some((w) => this.#is(w))) {
        if (this.#is("analyze") || this.#is("analyse")) analyze = true;
        this.#at++;
      }
    }
    return { kind: "vacuum", analyze, tables: this.#isColId() ? this.#qualifiedNameList() : [] };
  }

  // Types ------------------------------------------------------------------------------------

  #typeModifiers(): number[] {
    if (!this.#isOp("(")) return [];
    this.#at++;
    const modifiers: number[] = [];
    do {
      const token = this.#tok;
      if (token.kind !== "integer") throw this.#error();
      this.#at++;
      modifiers.push(Number(token.text));
    } while (this.#acceptOp(","));
    this.#expectOp(")");
    return modifiers;
  }

  #typeName(): TypeName {
    const type = this.#simpleTypeName();
    if (this.#accept("array")) {
      // `text ARRAY` and `text ARRAY[4]`: the SQL standard's spelling of text[].
      type.array = true;
      if (this.#acceptOp("[")) {
        if (this.#tok.kind === "integer") this.#at++;
        this.#expectOp("]");
      }
      return type;
    }
    while (this.#isOp("[")) {
      this.#at++;
      if (this.#tok.kind === "integer") this.#at++;
      this.#expectOp("]");
      type.array = true;
    }
    return type;
  }

  /** After `[`: `i]`, or a slice `i:j]` with either bound left out. */
  #subscript(operand: Expr): Expr {
    const lowerOmitted = this.#isOp(":");
    const index: Expr = lowerOmitted ? { kind: "null" } : this.#expr();
    if (!this.#acceptOp(":")) {
      this.#expectOp("]");
      return { kind: "subscript", operand, index };
    }
    const upper = this.#isOp("]") ? null : this.#expr();
    this.#expectOp("]");
    return {
      kind: "subscript",
      operand,
      index,
      slice: true,
      upper,
      ...(lowerOmitted ? { lowerOmitted } : {}),
    };
  }

  /** The elements of ARRAY[...] after its `[`: expressions, or `[...]` sub-arrays. */
  #arrayElements(): Expr[] {
    if (this.#isOp("]")) return [];
    const elements: Expr[] = [];
    do {
      if (this.#acceptOp("[")) {
        elements.push({ kind: "array", elements: this.#arrayElements() });
        this.#expectOp("]");
      } else {
        elements.push(this.#expr());
      }
    } while (this.#acceptOp(","));
    return elements;
  }

  #simpleTypeName(): TypeName {
    const token = this.#tok;
    const make = (name: string, modifiers: number[] = []): TypeName => ({
      name,
      modifiers,
      array: false,
    });
    if (token.kind === "word") {
      const word = token.text;
      switch (word) {
        case "int":
        case "integer":
          this.#at++;
          return make("int4");
        case "bigint":
          this.#at++;
          return make("int8");
        case "smallint":
          this.#at++;
          return make("int2");
        case "real":
          this.#at++;
          return make("float4");
        case "boolean":
          this.#at++;
          return make("bool");
        case "double":
          // Without PRECISION, "double" is just a (nonexistent) type name, as in PostgreSQL.
          if (!this.#is("precision", this.#peek())) break;
          this.#at += 2;
          return make("float8");
        case "float": {
          this.#at++;
          const precisionToken = this.#peek();
          const [precision] = this.#typeModifiers();
          if (precision !== undefined && (precision < 1 || precision > 53)) {
            throw new SqlSyntaxError(
              precision < 1
                ? "precision for type float must be at least 1 bit"
                : "precision for type float must be less than 54 bits",
              characterPosition(this.#sql, precisionToken.start),
              "22023",
            );
          }
          return make(precision !== undefined && precision <= 24 ? "float4" : "float8");
        }
        case "decimal":
        case "dec":
        case "numeric":
          this.#at++;
          return make("numeric", this.#typeModifiers());
        case "varchar":
          this.#at++;
          return make("varchar", this.#typeModifiers());
        case "character":
        case "char":
        case "nchar":
        case "national": {
          this.#at++;
          if (word === "national") {
            if (!this.#accept("character")) this.#expect("char");
          }
          if (this.#accept("varying")) return make("varchar", this.#typeModifiers());
          const modifiers = this.#typeModifiers();
          return make("bpchar", modifiers.length > 0 ? modifiers : [1]);
        }
        case "timestamp":
        case "time": {
          this.#at++;
          const modifiers = this.#typeModifiers();
          let zoned = false;
          if (this.#is("with") && this.#is("time", this.#peek())) {
            this.#at += 2;
            this.#expect("zone");
            zoned = true;
          } else if (this.#is("without") && this.#is("time", this.#peek())) {
            this.#at += 2;
            this.#expect("zone");
          }
          return make(
            word === "timestamp"
              ? (zoned ? "timestamptz" : "timestamp")
              : (zoned ? "timetz" : "time"),
            modifiers,
          );
        }
        case "interval":
          this.#at++;
          return make("interval", this.#typeModifiers());
      }
    }
    // Any other type by name, possibly qualified: int4, text, pg_catalog.int8, uuid, jsonb ...
    if (token.kind !== "quoted" && (token.kind !== "word" || RESERVED.has(token.text))) {
      throw this.#error();
    }
    this.#at++;
    const parts = [token.text];
    while (this.#isOp(".")) {
      this.#at++;
      parts.push(this.#colLabel());
    }
    const name = parts.length === 2 && parts[0] === "pg_catalog" ? parts[1] : parts.join(".");
    return make(ALIASES.get(name) ?? name, this.#typeModifiers());
  }

  // Expressions ---------------------------------------------------------------------------------

  #exprList(): Expr[] {
    const list = [this.#expr()];
    while (this.#acceptOp(",")) list.push(this.#expr());
    return list;
  }

  #expr(): Expr {
    this.#enter();
    const expr = this.#or();
    this.#leave();
    return expr;
  }

  /** b_expr: DEFAULT values and index columns, where AND/OR/NOT/IS/LIKE cannot appear bare. */
  #bExpr(): Expr {
    this.#enter();
    const expr = this.#otherOperator();
    this.#leave();
    return expr;
  }

  #or(): Expr {
    let left = this.#and();
    let links = 0;
    while (this.#accept("or")) {
      this.#chain(++links);
      left = { kind: "binary", op: "or", left, right: this.#and() };
    }
    return left;
  }

  #and(): Expr {
    let left = this.#not();
    let links = 0;
    while (this.#accept("and")) {
      this.#chain(++links);
      left = { kind: "binary", op: "and", left, right: this.#not() };
    }
    return left;
  }

  #not(): Expr {
    if (this.#accept("not")) {
      this.#enter();
      const operand = this.#not();
      this.#leave();
      return { kind: "not", operand };
    }
    return this.#isTest();
  }

  #isTest(): Expr {
    let operand = this.#comparison();
    let links = 0;
    while (true) {
      if (this.#accept("isnull")) {
        operand = { kind: "is", operand, not: false, test: "null" };
      } else if (this.#accept("notnull")) {
        operand = { kind: "is", operand, not: true, test: "null" };
      } else if (
        this.#is("is") && this.#peek().kind === "word" && IS_TESTS.has(this.#peek().text)
      ) {
        this.#at++;
        const not = this.#accept("not");
        if (this.#accept("null")) operand = { kind: "is", operand, not, test: "null" };
        else if (this.#accept("true")) operand = { kind: "is", operand, not, test: "true" };
        else if (this.#accept("false")) operand = { kind: "is", operand, not, test: "false" };
        else if (this.#accept("unknown")) operand = { kind: "is", operand, not, test: "unknown" };
        else if (this.#accept("distinct")) {
          this.#expect("from");
          operand = { kind: "distinct_from", not, left: operand, right: this.#comparison() };
        } else throw this.#error();
      } else {
        return operand;
      }
      this.#chain(++links);
    }
  }

  /** Comparison operators do not associate: `a = b = c` is a syntax error at the second `=`. */
  #comparison(): Expr {
    const left = this.#likeLevel();
    const token = this.#tok;
    if (token.kind !== "op" || !COMPARISON.has(token.text)) return left;
    this.#at++;
    const right = this.#quantifiedOrLike(token.text, left);
    if (this.#tok.kind === "op" && COMPARISON.has(this.#tok.text)) throw this.#error();
    if (right.kind === "binary" && right.left.kind === "row" && right.right.kind === "row") {
      return rowComparison(
        right.op,
        right.left.items,
        right.right.items,
        characterPosition(this.#sql, token.start),
      );
    }
    return right;
  }

  /** The right side of a comparison: `ANY/ALL/SOME (subquery)` or an operand. */
  #quantifiedOrLike(op: string, left: Expr): Expr {
    if ((this.#is("any") || this.#is("some") || this.#is("all")) && this.#isOp("(", this.#peek())) {
      const quantifier = this.#tok.text === "all" ? "all" : "any";
      this.#at++;
      const query = this.#tryParenQuery();
      if (query !== null) return { kind: "quantified", op, quantifier, operand: left, query };
      this.#at++;
      const array = this.#expr();
      this.#expectOp(")");
      return { kind: "quantified_array", op, quantifier, operand: left, array };
    }
    return { kind: "binary", op, left, right: this.#likeLevel() };
  }

  /** BETWEEN, IN, LIKE, ILIKE and their NOT forms: one per level, non-associative. */
  #likeLevel(): Expr {
    const expr = this.#likeLevelOnce();
    if (
      expr.kind === "between" || expr.kind === "in_list" || expr.kind === "in_subquery" ||
      expr.kind === "like"
    ) {
      const next = this.#is("not") ? this.#peek() : this.#tok;
      if (["between", "in", "like", "ilike", "similar"].some((word) => this.#is(word, next))) {
        throw this.#error();
      }
    }
    return expr;
  }

  #likeLevelOnce(): Expr {
    const operand = this.#otherOperator();
    const save = this.#at;
    const not = this.#accept("not");
    if (this.#accept("between")) {
      const symmetric = this.#accept("symmetric");
      if (!symmetric) this.#accept("asymmetric");
      const low = this.#otherOperator();
      this.#expect("and");
      const high = this.#otherOperator();
      return { kind: "between", not, symmetric, operand, low, high };
    }
    if (this.#is("in")) {
      const position = characterPosition(this.#sql, this.#tok.start);
      this.#at++;
      const query = this.#tryParenQuery();
      if (query !== null) {
        const expr: Expr = { kind: "in_subquery", not, operand, query };
        IN_POSITIONS.set(expr, position);
        return expr;
      }
      const open = this.#tok;
      this.#expectOp("(");
      const list = this.#exprList();
      this.#expectOp(")");
      if (operand.kind === "row") {
        // (a, b) IN ((1, 2), (3, 4)): one row comparison per item, ORed (NOT IN: <> ANDed).
        const position = characterPosition(this.#sql, open.start);
        return list.map((item): Expr => {
          if (item.kind !== "row") {
            throw new SqlSyntaxError("unequal number of entries in row expressions", position);
          }
          return rowComparison(not ? "<>" : "=", operand.items, item.items, position);
        }).reduce((all, next) => ({
          kind: "binary",
          op: not ? "and" : "or",
          left: all,
          right: next,
        }));
      }
      return { kind: "in_list", not, operand, list };
    }
    const like = this.#is("like") || this.#is("ilike");
    if (like) {
      const caseInsensitive = this.#tok.text === "ilike";
      this.#at++;
      const next = this.#peek();
      if ((this.#is("any") || this.#is("some") || this.#is("all")) && this.#isOp("(", next)) {
        // x [NOT] LIKE ANY/ALL (array or subquery): the quantified form of ~~ and its kin.
        const op = `${not ? "!" : ""}~~${caseInsensitive ? "*" : ""}`;
        return this.#quantifiedOrLike(op, operand);
      }
      const pattern = this.#otherOperator();
      const escape = this.#accept("escape") ? this.#otherOperator() : null;
      return { kind: "like", not, caseInsensitive, operand, pattern, escape };
    }
    if (this.#is("similar") && this.#is("to", this.#tokens[this.#at + 1])) {
      this.#at += 2;
      const pattern = this.#otherOperator();
      const escape = this.#accept("escape") ? this.#otherOperator() : null;
      return {
        kind: "like",
        not,
        caseInsensitive: false,
        similar: true,
        operand,
        pattern,
        escape,
      };
    }
    if (not) this.#at = save;
    return operand;
  }

  /** Any operator that is not arithmetic or comparison (||, ~, @>, ...): left-associative. */
  #otherOperator(): Expr {
    let left = this.#additive();
    let links = 0;
    while (this.#tok.kind === "op" && this.#isUserOperator(this.#tok.text)) {
      const op = this.#tokens[this.#at++].text;
      this.#chain(++links);
      left = { kind: "binary", op, left, right: this.#additive() };
    }
    return left;
  }

  #isUserOperator(text: string): boolean {
    return !COMPARISON.has(text) && !ARITHMETIC.has(text) &&
      !["(", ")", ",", ";", ".", "::", "[", "]", ":", ":=", "..", "=>"].includes(text);
  }

  #additive(): Expr {
    let left = this.#multiplicative();
    let links = 0;
    while (this.#isOp("+") || this.#isOp("-")) {
      const op = this.#tokens[this.#at++].text;
      this.#chain(++links);
      left = { kind: "binary", op, left, right: this.#multiplicative() };
    }
    return left;
  }

  #multiplicative(): Expr {
    let left = this.#exponent();
    let links = 0;
    while (this.#isOp("*") || this.#isOp("/") || this.#isOp("%")) {
      const op = this.#tokens[this.#at++].text;
      this.#chain(++links);
      left = { kind: "binary", op, left, right: this.#exponent() };
    }
    return left;
  }

  #exponent(): Expr {
    let left = this.#unary();
    let links = 0;
    while (this.#isOp("^")) {
      this.#at++;
      this.#chain(++links);
      left = { kind: "binary", op: "^", left, right: this.#unary() };
    }
    return left;
  }

  #unary(): Expr {
    if (this.#isOp("-") || this.#isOp("+")) {
      const op = this.#tokens[this.#at++].text;
      this.#enter();
      const operand = this.#unary();
      this.#leave();
      return { kind: "unary", op, operand };
    }
    // A prefix user operator such as ~ or @.
    if (this.#tok.kind === "op" && this.#isUserOperator(this.#tok.text)) {
      const op = this.#tokens[this.#at++].text;
      this.#enter();
      const operand = this.#unary();
      this.#leave();
      return { kind: "unary", op, operand };
    }
    return this.#postfix();
  }

  #postfix(): Expr {
    const parenthesized = this.#isOp("(");
    let expr = this.#primary();
    let links = 0;
    while (true) {
      if (parenthesized && links === 0 && this.#isOp(".")) {
        // (composite).field or (composite).*: only right after the parentheses.
        this.#at++;
        if (this.#acceptOp("*")) expr = { kind: "field", operand: expr, field: null };
        else expr = { kind: "field", operand: expr, field: this.#colLabel() };
      } else if (this.#acceptOp("::")) {
        expr = { kind: "cast", operand: expr, type: this.#typeName() };
      } else if (this.#isOp("[")) {
        this.#at++;
        expr = this.#subscript(expr);
      } else if (this.#accept("collate")) {
        // One collation here (C, by code point): the clause is read and has no effect.
        if (this.#tok.kind !== "word" && this.#tok.kind !== "quoted") throw this.#error();
        this.#colLabel();
        while (this.#isOp(".")) {
          this.#at++;
          this.#colLabel();
        }
      } else if (this.#is("at") && this.#is("time", this.#peek())) {
        this.#at += 2;
        this.#expect("zone");
        const zone = this.#unary();
        expr = {
          kind: "function",
          name: ["timezone"],
          args: [zone, expr],
          star: false,
          distinct: false,
          orderBy: [],
          filter: null,
        };
      } else {
        return expr;
      }
      this.#chain(++links);
    }
  }

  #primary(): Expr {
    const token = this.#tok;
    switch (token.kind) {
      case "integer":
      case "numeric":
        this.#at++;
        return { kind: "number", text: token.text };
      case "string":
        this.#at++;
        return { kind: "string", value: token.text };
      case "param":
        this.#at++;
        return { kind: "param", index: Number(token.text) };
      case "op":
        if (token.text === "(") return this.#parenthesized();
        throw this.#error();
      case "quoted":
        return this.#columnOrFunction();
      case "word":
        return this.#wordExpression();
      default:
        throw this.#error();
    }
  }

  #parenthesized(): Expr {
    const query = this.#tryParenQuery();
    if (query !== null) return { kind: "subquery", query };
    const open = this.#tokens[this.#at++];
    const expr = this.#expr();
    if (this.#isOp(",")) {
      const items = [expr];
      while (this.#acceptOp(",")) items.push(this.#expr());
      this.#expectOp(")");
      return this.#row(items, open);
    }
    this.#expectOp(")");
    return expr;
  }

  /** ROW(...)'s items after the "(", through the ")". */
  #rowItems(): Expr {
    const open = this.#tokens[this.#at - 1];
    const items = [this.#expr()];
    while (this.#acceptOp(",")) items.push(this.#expr());
    this.#expectOp(")");
    return this.#row(items, open);
  }

  /** A row constructor, within PostgreSQL's bound on its entries (54011 at its parenthesis). */
  #row(items: Expr[], open: Token): Expr {
    if (items.length > ROW_ENTRIES_MAX) {
      throw new SqlSyntaxError(
        `ROW expressions can have at most ${ROW_ENTRIES_MAX} entries`,
        characterPosition(this.#sql, open.start),
        "54011",
      );
    }
    return { kind: "row", items };
  }

  #wordExpression(): Expr {
    const token = this.#tok;
    const word = token.text;
    switch (word) {
      case "true":
      case "false":
        this.#at++;
        return { kind: "boolean", value: word === "true" };
      case "null":
        this.#at++;
        return { kind: "null" };
      case "case":
        return this.#case();
      case "row":
        if (!this.#isOp("(", this.#peek())) break;
        this.#at += 2;
        if (this.#acceptOp(")")) return { kind: "row", items: [] };
        return this.#rowItems();
      case "cast": {
        this.#at++;
        this.#expectOp("(");
        const operand = this.#expr();
        this.#expect("as");
        const type = this.#typeName();
        this.#expectOp(")");
        return { kind: "cast", operand, type };
      }
      case "exists": {
        this.#at++;
        this.#expectOp("(");
        const query = this.#selectStatement();
        this.#expectOp(")");
        return { kind: "exists", query };
      }
      case "substring":
      case "trim":
      case "overlay":
      case "position": {
        if (!this.#isOp("(", this.#peek())) break;
        return this.#specialFunction(word);
      }
      case "array": {
        const next = this.#peek();
        if (this.#isOp("(", next)) {
          this.#at++;
          const query = this.#tryParenQuery();
          if (query === null) throw this.#error(this.#peek());
          return { kind: "array_subquery", query };
        }
        if (this.#isOp("[", next)) {
          this.#at += 2;
          const elements = this.#arrayElements();
          this.#expectOp("]");
          return { kind: "array", elements };
        }
        break;
      }
      case "extract": {
        if (!this.#isOp("(", this.#peek())) break;
        this.#at += 2;
        const fieldToken = this.#tok;
        if (fieldToken.kind !== "word" && fieldToken.kind !== "string") throw this.#error();
        this.#at++;
        this.#expect("from");
        const source = this.#expr();
        this.#expectOp(")");
        return {
          kind: "function",
          name: ["extract"],
          args: [{ kind: "string", value: fieldToken.text }, source],
          star: false,
          distinct: false,
          orderBy: [],
          filter: null,
        };
      }
    }
    if (SQL_FUNCTIONS.has(word) && !this.#isOp("(", this.#peek())) {
      this.#at++;
      return { kind: "sql_function", name: word };
    }
    // A typed literal: DATE '2024-01-02', TIMESTAMP '...', INTERVAL '1 day', INT '5'.
    if (this.#isTypedLiteralStart()) {
      const save = this.#at;
      try {
        const type = this.#typeName();
        if (this.#tok.kind === "string") {
          const value = this.#tokens[this.#at++].text;
          return { kind: "cast", operand: { kind: "string", value }, type };
        }
      } catch {
        // not a type after all
      }
      this.#at = save;
    }
    if (RESERVED.has(word)) throw this.#error();
    return this.#columnOrFunction();
  }

  /**
   * The functions with SQL's own argument syntax: SUBSTRING(s FROM a FOR b),
   * TRIM([LEADING|TRAILING|BOTH] [chars] FROM s), POSITION(a IN b), also
   * called with plain argument lists; as substring, ltrim/rtrim/btrim, position.
   */
  #specialFunction(word: string): Expr {
    this.#at += 2;
    const call = (name: string, args: Expr[]): Expr => ({
      kind: "function",
      name: [name],
      args,
      star: false,
      distinct: false,
      orderBy: [],
      filter: null,
    });
    let result: Expr;
    if (word === "substring") {
      const source = this.#expr();
      if (this.#accept("from")) {
        const from = this.#expr();
        const args = [source, from];
        if (this.#accept("for")) args.push(this.#expr());
        result = call("substring", args);
      } else if (this.#accept("for")) {
        result = call("substring", [source, { kind: "number", text: "1" }, this.#expr()]);
      } else {
        const args = [source];
        while (this.#acceptOp(",")) args.push(this.#expr());
        result = call("substring", args);
      }
    } else if (word === "overlay") {
      // OVERLAY(s PLACING r FROM n [FOR m]), or overlay(s, r, n[, m]).
      const args = [this.#expr()];
      if (this.#accept("placing")) {
        args.push(this.#expr());
        this.#expect("from");
        args.push(this.#expr());
        if (this.#accept("for")) args.push(this.#expr());
      } else {
        while (this.#acceptOp(",")) args.push(this.#expr());
      }
      result = call("overlay", args);
    } else if (word === "position") {
      // POSITION(b_expr IN b_expr): the needle cannot hold IN itself; the
      // printer writes the call back as position(haystack, needle).
      const first = this.#otherOperator();
      if (this.#acceptOp(",")) result = call("position", [first, this.#expr()]);
      else {
        this.#expect("in");
        result = call("position", [this.#otherOperator(), first]);
      }
    } else {
      let name = "btrim";
      if (this.#accept("leading")) name = "ltrim";
      else if (this.#accept("trailing")) name = "rtrim";
      else this.#accept("both");
      if (this.#accept("from")) {
        result = call(name, [this.#expr()]);
      } else {
        const first = this.#expr();
        if (this.#accept("from")) result = call(name, [this.#expr(), first]);
        else {
          const args = [first];
          while (this.#acceptOp(",")) args.push(this.#expr());
          result = call(name, args);
        }
      }
    }
    this.#expectOp(")");
    return result;
  }

  #isTypedLiteralStart(): boolean {
    const next = this.#peek();
    const word = this.#tok.text;
    if (next.kind === "string") return !RESERVED.has(word);
    // Multi-word types: DOUBLE PRECISION '1', CHARACTER VARYING, TIMESTAMP WITH TIME ZONE.
    return [
      "double",
      "character",
      "char",
      "timestamp",
      "time",
      "national",
      "varchar",
      "numeric",
      "decimal",
    ]
      .includes(word) && (next.kind === "word" || this.#isOp("(", next));
  }

  #columnOrFunction(): Expr {
    const first = this.#tok;
    if (first.kind === "word" && (RESERVED.has(first.text))) throw this.#error();
    this.#at++;
    const path = [first.text];
    while (this.#isOp(".")) {
      this.#at++;
      if (this.#isOp("*")) {
        this.#at++;
        return { kind: "star", table: path };
      }
      path.push(this.#colLabel());
    }
    if (this.#isOp("(")) {
      // Column-name keywords (INT, NUMERIC, ...) are not functions, except those PostgreSQL
      // parses as functions itself.
      if (
        first.kind === "word" && path.length === 1 && COL_NAME.has(first.text) &&
        !["coalesce", "nullif", "greatest", "least", "grouping"].includes(first.text)
      ) {
        throw this.#error(this.#tok);
      }
      return this.#functionCall(path);
    }
    if (first.kind === "word" && path.length === 1 && TYPE_FUNC_NAME.has(first.text)) {
      throw this.#error(first);
    }
    return { kind: "column", path };
  }

  #functionCall(name: QualifiedName): FunctionCall {
    this.#enter();
    // The name's last part, just read (PostgreSQL points at its first).
    const namePosition = characterPosition(this.#sql, this.#tokens[this.#at - 1].start);
    this.#expectOp("(");
    const call: FunctionCall = {
      kind: "function",
      name,
      args: [],
      star: false,
      distinct: false,
      orderBy: [],
      filter: null,
    };
    if (this.#isOp("*")) {
      this.#at++;
      call.star = true;
    } else if (!this.#isOp(")")) {
      if (this.#accept("distinct")) call.distinct = true;
      else this.#accept("all");
      call.args = this.#callArguments(name, namePosition);
      if (this.#accept("order")) {
        this.#expect("by");
        call.orderBy = this.#orderList();
      }
    }
    this.#expectOp(")");
    if (this.#is("within") && this.#is("group", this.#peek())) {
      // An ordered-set aggregate: percentile_cont(0.5) WITHIN GROUP (ORDER BY x).
      if (call.orderBy.length > 0 || call.distinct || call.star) throw this.#error();
      this.#at += 2;
      this.#expectOp("(");
      this.#expect("order");
      this.#expect("by");
      call.orderBy = this.#orderList();
      call.withinGroup = true;
      this.#expectOp(")");
    }
    if (this.#is("filter") && this.#isOp("(", this.#peek())) {
      this.#at += 2;
      this.#expect("where");
      call.filter = this.#expr();
      this.#expectOp(")");
    }
    if (this.#accept("over")) call.over = this.#windowSpec();
    this.#leave();
    return call;
  }

  /**
   * A call's arguments; named ones (`days => 3`, `days := 3`) are put in
   * their places for the functions that name their parameters
   * (NAMED_PARAMETERS), missing ones given their defaults. A name the
   * function does not have, or a function without names, is 42883.
   */
  #callArguments(name: QualifiedName, namePosition: number): Expr[] {
    const positional: Expr[] = [];
    const named = new Map<string, Expr>();
    do {
      const next = this.#peek();
      if (
        (this.#tok.kind === "word" || this.#tok.kind === "quoted") && next.kind === "op" &&
        (next.text === "=>" || next.text === ":=")
      ) {
        const argName = this.#tok.text;
        this.#at += 2;
        named.set(argName, this.#expr());
      } else {
        if (named.size > 0) {
          throw new SqlSyntaxError(
            "positional argument cannot follow named argument",
            characterPosition(this.#sql, this.#tok.start),
          );
        }
        positional.push(this.#expr());
      }
    } while (this.#acceptOp(","));
    if (named.size === 0) return positional;
    const fn = name[name.length - 1];
    const parameters = NAMED_PARAMETERS[fn];
    // PostgreSQL names each argument's type; a literal's is known here, others are not.
    const typeOf = (e: Expr) =>
      e.kind === "string"
        ? "unknown"
        : e.kind === "number"
        ? (/^\d+$/.test(e.text) ? (Number(e.text) <= 2147483647 ? "integer" : "bigint") : "numeric")
        : "unknown";
    const shown = [
      ...positional.map(typeOf),
      ...[...named].map(([argName, e]) => `${argName} => ${typeOf(e)}`),
    ].join(", ");
    const refuse = () =>
      new SqlSyntaxError(
        `function ${fn}(${shown}) does not exist`,
        namePosition,
        "42883",
        "No function matches the given name and argument types. You might need to add explicit type casts.",
      );
    if (!parameters) throw refuse();
    const args: Expr[] = [...positional];
    for (let i = positional.length; i < parameters.length; i++) {
      const [parameter, fallback] = parameters[i];
      const given = named.get(parameter);
      if (given !== undefined) named.delete(parameter);
      const arg = given ?? fallback;
      if (arg === undefined) throw refuse();
      args.push(arg);
    }
    if (named.size > 0) throw refuse();
    return args;
  }

  /**
   * After OVER: a window's name, or ( [name] [PARTITION BY ...] [ORDER BY ...]
   * [ROWS | RANGE | GROUPS frame] ); after WINDOW name AS, the latter.
   */
  #windowSpec(): WindowSpec {
    if (!this.#isOp("(")) {
      return { existing: this.#colId(), bare: true, partitionBy: [], orderBy: [], frame: null };
    }
    this.#expectOp("(");
    const spec: WindowSpec = { partitionBy: [], orderBy: [], frame: null };
    const token = this.#tok;
    if (
      (token.kind === "word" || token.kind === "quoted") &&
      !(token.kind === "word" &&
        ["partition", "order", "rows", "range", "groups"].includes(token.text))
    ) spec.existing = this.#colId();
    if (this.#accept("partition")) {
      this.#expect("by");
      spec.partitionBy = this.#exprList();
    }
    if (this.#accept("order")) {
      this.#expect("by");
      spec.orderBy = this.#orderList();
    }
    let mode: WindowFrame["mode"] | null = null;
    if (this.#accept("rows")) mode = "rows";
    else if (this.#accept("range")) mode = "range";
    else if (this.#accept("groups")) mode = "groups";
    if (mode !== null) {
      if (this.#accept("between")) {
        const start = this.#frameBound();
        this.#expect("and");
        spec.frame = { mode, start, end: this.#frameBound() };
      } else spec.frame = { mode, start: this.#frameBound(), end: { kind: "current" } };
    }
    this.#expectOp(")");
    return spec;
  }

  #frameBound(): FrameBound {
    if (this.#accept("unbounded")) {
      if (this.#accept("preceding")) return { kind: "unbounded_preceding" };
      this.#expect("following");
      return { kind: "unbounded_following" };
    }
    if (this.#accept("current")) {
      this.#expect("row");
      return { kind: "current" };
    }
    const token = this.#tok;
    if (token.kind !== "integer") throw this.#error();
    this.#at++;
    const offset = Number(token.text);
    if (this.#accept("preceding")) return { kind: "preceding", offset };
    this.#expect("following");
    return { kind: "following", offset };
  }

  #case(): Expr {
    this.#expect("case");
    this.#enter();
    const operand = this.#is("when") ? null : this.#expr();
    const whens: { when: Expr; then: Expr }[] = [];
    if (!this.#is("when")) throw this.#error();
    while (this.#accept("when")) {
      const when = this.#expr();
      this.#expect("then");
      whens.push({ when, then: this.#expr() });
    }
    const otherwise = this.#accept("else") ? this.#expr() : null;
    this.#expect("end");
    this.#leave();
    return { kind: "case", operand, whens, else: otherwise };
  }
}

/** Other spellings of the canonical type names. */
const ALIASES = new Map([
  ["integer", "int4"],
  ["int", "int4"],
  ["bigint", "int8"],
  ["smallint", "int2"],
  ["serial4", "serial"],
  ["serial8", "bigserial"],
  ["serial2", "smallserial"],
  ["boolean", "bool"],
  ["real", "float4"],
  ["decimal", "numeric"],
]);

/**
 * PostgreSQL's OPERATOR(schema.op) syntax (psql writes `OPERATOR(pg_catalog.~)`)
 * as the plain operator token: one schema here, so the qualifier says nothing.
 */
function operatorSyntax(tokens: Token[]): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.kind === "word" && t.text === "operator" && tokens[i + 1]?.text === "(") {
      let j = i + 2;
      while (tokens[j]?.kind === "word" && tokens[j + 1]?.text === ".") j += 2;
      const op = tokens[j];
      if (op?.kind === "op" && tokens[j + 1]?.kind === "op" && tokens[j + 1].text === ")") {
        out.push({ kind: "op", text: op.text, start: t.start, end: tokens[j + 1].end });
        i = j + 1;
        continue;
      }
    }
    out.push(t);
  }
  return out;
}

/**
 * A comparison of two row constructors, as the scalar expression PostgreSQL
 * evaluates (documentation 9.24.5): = and <> pair by pair under three-valued
 * AND / OR; <, <=, > and >= decided by the first pair that is not equal,
 * NULL if that pair holds a NULL.
 */
/** PostgreSQL's bound on a row constructor's entries (MaxTupleAttributeNumber). */
const ROW_ENTRIES_MAX = 1664;

function rowComparison(op: string, left: Expr[], right: Expr[], position: number): Expr {
  if (left.length !== right.length) {
    throw new SqlSyntaxError("unequal number of entries in row expressions", position);
  }
  if (left.length === 0) {
    throw new SqlSyntaxError("cannot compare rows of zero length", position, "0A000");
  }
  const pair = (i: number, o: string): Expr => ({
    kind: "binary",
    op: o,
    left: left[i],
    right: right[i],
  });
  if (op === "=" || op === "<>") {
    return left.slice(1).reduce<Expr>(
      (all, _, i) => ({
        kind: "binary",
        op: op === "=" ? "and" : "or",
        left: all,
        right: pair(i + 1, op),
      }),
      pair(0, op),
    );
  }
  let out = pair(left.length - 1, op);
  const strict = op.length === 2 ? op[0] : op; // <= decides a pair that differs as <
  for (let i = left.length - 2; i >= 0; i--) {
    const isNull = (e: Expr): Expr => ({ kind: "is", operand: e, not: false, test: "null" });
    out = {
      kind: "case",
      operand: null,
      whens: [
        {
          when: { kind: "binary", op: "or", left: isNull(left[i]), right: isNull(right[i]) },
          then: { kind: "null" },
        },
        { when: pair(i, "<>"), then: pair(i, strict) },
      ],
      else: out,
      rowComparison: true,
    };
  }
  return out;
}
