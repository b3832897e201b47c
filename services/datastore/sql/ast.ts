// The typed syntax tree the parser produces: one node type per construct,
// tagged by `kind`, positions left out (errors carry them instead). Names
// are already folded and truncated as PostgreSQL does; type names are
// canonical (INTEGER and INT are "int4", DOUBLE PRECISION is "float8").
// printer.ts turns any tree back into SQL that parses to the same tree.

/** A possibly qualified name: ["public", "spells"] or ["spells"]. */
export type QualifiedName = string[];

export interface TypeName {
  /** Canonical name: int2 int4 int8 float4 float8 numeric bool text varchar bpchar bytea date
   * time timestamp timestamptz interval uuid json jsonb serial bigserial smallserial, or any
   * other name as written (possibly qualified, joined with "."). */
  name: string;
  /** varchar(10) is [10], numeric(5,2) is [5, 2]. */
  modifiers: number[];
  /** Followed by [] (one or more). */
  array: boolean;
}

// Expressions -------------------------------------------------------------

export type Expr =
  | { kind: "number"; text: string }
  | { kind: "string"; value: string }
  | { kind: "boolean"; value: boolean }
  | { kind: "null" }
  | { kind: "param"; index: number }
  /** A column reference: ["t", "a"] or ["a"]. */
  | { kind: "column"; path: string[] }
  /** `*` or `t.*` where a column list is allowed. */
  | { kind: "star"; table: string[] }
  | { kind: "unary"; op: string; operand: Expr }
  /** Arithmetic, comparison, AND/OR (op "and"/"or") and any other operator. */
  | { kind: "binary"; op: string; left: Expr; right: Expr }
  | { kind: "not"; operand: Expr }
  | { kind: "is"; operand: Expr; not: boolean; test: "null" | "true" | "false" | "unknown" }
  | { kind: "distinct_from"; not: boolean; left: Expr; right: Expr }
  | { kind: "between"; not: boolean; symmetric: boolean; operand: Expr; low: Expr; high: Expr }
  | {
    kind: "like";
    not: boolean;
    caseInsensitive: boolean;
    /** SIMILAR TO rather than LIKE (documentation 9.7.2). */
    similar?: boolean;
    operand: Expr;
    pattern: Expr;
    escape: Expr | null;
  }
  | { kind: "in_list"; not: boolean; operand: Expr; list: Expr[] }
  | { kind: "in_subquery"; not: boolean; operand: Expr; query: SelectStatement }
  /** x op ANY/ALL (subquery). */
  | {
    kind: "quantified";
    op: string;
    quantifier: "any" | "all";
    operand: Expr;
    query: SelectStatement;
  }
  | { kind: "exists"; query: SelectStatement }
  | { kind: "subquery"; query: SelectStatement }
  | {
    kind: "case";
    operand: Expr | null;
    whens: { when: Expr; then: Expr }[];
    else: Expr | null;
    /** The expansion of a row comparison (parser.ts rowComparison), named as an operator. */
    rowComparison?: true;
  }
  /** Both `x::t` and CAST(x AS t), and typed literals such as DATE '2024-01-02'. */
  | { kind: "cast"; operand: Expr; type: TypeName }
  | FunctionCall
  /** CURRENT_DATE, CURRENT_TIMESTAMP, LOCALTIMESTAMP, CURRENT_USER, ... */
  | { kind: "sql_function"; name: string }
  /** DEFAULT in an INSERT's VALUES or an UPDATE's SET. */
  | { kind: "default" }
  /** ARRAY[a, b, ...] */
  | { kind: "array"; elements: Expr[] }
  /** ARRAY(subquery) */
  | { kind: "array_subquery"; query: SelectStatement }
  /** x op ANY/ALL (array expression), as opposed to a subquery. */
  | { kind: "quantified_array"; op: string; quantifier: "any" | "all"; operand: Expr; array: Expr }
  /**
   * array[index], or with `slice` array[index:upper]; a bound left out is
   * null (`upper`) or flagged (`lowerOmitted`, `index` then a NULL constant).
   */
  | {
    kind: "subscript";
    operand: Expr;
    index: Expr;
    slice?: boolean;
    upper?: Expr | null;
    lowerOmitted?: boolean;
  }
  /** (composite).field, or (composite).* when `field` is null: a set-returning call's columns. */
  | { kind: "field"; operand: Expr; field: string | null }
  /** `(a, b)` or ROW(a, b): only as a side of a comparison, which the parser expands. */
  | { kind: "row"; items: Expr[] };

export interface FunctionCall {
  kind: "function";
  name: QualifiedName;
  args: Expr[];
  /** count(*) */
  star: boolean;
  distinct: boolean;
  /** Aggregate ORDER BY inside the parentheses. */
  orderBy: OrderItem[];
  /** The ORDER BY came in WITHIN GROUP (...): an ordered-set aggregate (percentile_cont, mode). */
  withinGroup?: boolean;
  filter: Expr | null;
  /** OVER (...): a window function call (window.ts). */
  over?: WindowSpec;
}

/** A window frame's bound; `offset` for n PRECEDING / n FOLLOWING. */
export interface FrameBound {
  kind: "unbounded_preceding" | "preceding" | "current" | "following" | "unbounded_following";
  offset?: number;
}

export interface WindowFrame {
  mode: "rows" | "range" | "groups";
  start: FrameBound;
  end: FrameBound;
}

export interface WindowSpec {
  /** A named window this one builds on: `OVER (w ORDER BY x)`, `WINDOW v AS (w ...)`. */
  existing?: string;
  /** `OVER w`, without parentheses: the named window as it is, frame included. */
  bare?: boolean;
  partitionBy: Expr[];
  orderBy: OrderItem[];
  frame: WindowFrame | null;
}

/** One definition of a WINDOW clause: `WINDOW w AS (...)`. */
export interface WindowDefinition {
  name: string;
  spec: WindowSpec;
}

// Queries ------------------------------------------------------------------

export interface SelectItem {
  expr: Expr;
  alias: string | null;
}

export interface OrderItem {
  expr: Expr;
  direction: "asc" | "desc" | null;
  nulls: "first" | "last" | null;
}

export interface Alias {
  name: string;
  columns: string[];
}

export type FromItem =
  | { kind: "table"; name: QualifiedName; alias: Alias | null; only: boolean }
  | { kind: "subquery"; query: SelectStatement; alias: Alias | null; lateral: boolean }
  | {
    kind: "function";
    call: FunctionCall;
    alias: Alias | null;
    lateral: boolean;
    /** WITH ORDINALITY: a last column numbering the rows from 1. */
    ordinality?: boolean;
  }
  | {
    kind: "join";
    type: "inner" | "left" | "right" | "full" | "cross";
    natural: boolean;
    left: FromItem;
    right: FromItem;
    on: Expr | null;
    using: string[] | null;
  };

export interface SelectCore {
  kind: "select_core";
  /** false, true (DISTINCT), or the expressions of DISTINCT ON (...). */
  distinct: boolean | Expr[];
  columns: SelectItem[];
  from: FromItem[];
  where: Expr | null;
  groupBy: Expr[];
  /**
   * GROUP BY with ROLLUP, CUBE or GROUPING SETS: the grouping sets, each a
   * list of indexes into `groupBy` (which then holds every expression once).
   */
  groupingSets?: number[][];
  having: Expr | null;
  /** The WINDOW clause; absent when there is none. */
  windows?: WindowDefinition[];
}

export interface ValuesList {
  kind: "values";
  rows: Expr[][];
}

export interface SetOperation {
  kind: "set_operation";
  op: "union" | "intersect" | "except";
  all: boolean;
  left: QueryBody;
  right: QueryBody;
}

/** A parenthesized query (with its own ORDER BY/LIMIT) is a SelectStatement here. */
export type QueryBody = SelectCore | ValuesList | SetOperation | SelectStatement;

export interface CommonTableExpr {
  name: string;
  columns: string[];
  materialized: boolean | null;
  query: SelectStatement | InsertStatement | UpdateStatement | DeleteStatement;
}

export interface WithClause {
  recursive: boolean;
  ctes: CommonTableExpr[];
}

/** FOR UPDATE | NO KEY UPDATE | SHARE | KEY SHARE [OF t, ...] [NOWAIT | SKIP LOCKED]. */
export interface LockingClause {
  strength: "update" | "no key update" | "share" | "key share";
  /** The tables (aliases) named after OF; empty for every table of the FROM. */
  of: string[];
  wait: "wait" | "nowait" | "skip locked";
}

export interface SelectStatement {
  kind: "select";
  with: WithClause | null;
  body: QueryBody;
  orderBy: OrderItem[];
  limit: Expr | null;
  offset: Expr | null;
  /** Row locking clauses (row_locks.ts); absent when there are none. */
  locking?: LockingClause[];
}

// Data changes ---------------------------------------------------------------

export interface Assignment {
  column: string;
  value: Expr;
}

export interface OnConflict {
  /** Conflict target columns, or null for none. */
  columns: string[] | null;
  /** ON CONFLICT ON CONSTRAINT name. */
  constraint: string | null;
  action: { kind: "nothing" } | { kind: "update"; set: Assignment[]; where: Expr | null };
}

export interface InsertStatement {
  kind: "insert";
  with: WithClause | null;
  table: QualifiedName;
  alias: string | null;
  columns: string[] | null;
  /** VALUES rows (which may hold `default`), a query, or DEFAULT VALUES (null). */
  source: SelectStatement | null;
  onConflict: OnConflict | null;
  returning: SelectItem[];
}

export interface UpdateStatement {
  kind: "update";
  with: WithClause | null;
  table: QualifiedName;
  alias: string | null;
  set: Assignment[];
  from: FromItem[];
  where: Expr | null;
  returning: SelectItem[];
}

export interface DeleteStatement {
  kind: "delete";
  with: WithClause | null;
  table: QualifiedName;
  alias: string | null;
  using: FromItem[];
  where: Expr | null;
  returning: SelectItem[];
}

// Schema -----------------------------------------------------------------------

export type ReferentialAction = "no action" | "restrict" | "cascade" | "set null" | "set default";

export interface References {
  table: QualifiedName;
  columns: string[];
  onDelete: ReferentialAction | null;
  onUpdate: ReferentialAction | null;
  /** DEFERRABLE (INITIALLY DEFERRED implies it); see deferred_constraints.ts. */
  deferrable?: boolean;
  initiallyDeferred?: boolean;
}

export type ColumnConstraint =
  & { name: string | null }
  & (
    | { kind: "not_null" }
    | { kind: "null" }
    | { kind: "primary_key" }
    | { kind: "unique" }
    | { kind: "default"; expr: Expr }
    | { kind: "check"; expr: Expr }
    | { kind: "references"; references: References }
    | { kind: "identity"; always: boolean }
  );

export type TableConstraint =
  & { name: string | null }
  & (
    | { kind: "primary_key"; columns: string[] }
    | { kind: "unique"; columns: string[] }
    | { kind: "check"; expr: Expr }
    | { kind: "foreign_key"; columns: string[]; references: References }
  );

export interface ColumnDef {
  name: string;
  type: TypeName;
  constraints: ColumnConstraint[];
}

export interface IndexColumn {
  expr: Expr;
  /** An operator class (Django's varchar_pattern_ops): kept for display, B-tree order either way. */
  opclass?: string;
  direction: "asc" | "desc" | null;
  nulls: "first" | "last" | null;
}

export type AlterAction =
  | { kind: "add_column"; ifNotExists: boolean; column: ColumnDef }
  | { kind: "drop_column"; ifExists: boolean; name: string; cascade: boolean }
  | { kind: "rename_column"; from: string; to: string }
  | { kind: "rename_table"; to: string }
  | { kind: "add_constraint"; constraint: TableConstraint; notValid?: boolean }
  | { kind: "validate_constraint"; name: string }
  | { kind: "drop_constraint"; ifExists: boolean; name: string; cascade: boolean }
  | { kind: "set_default"; column: string; expr: Expr | null }
  | { kind: "set_not_null"; column: string; notNull: boolean }
  | { kind: "alter_type"; column: string; type: TypeName; using: Expr | null };

/** CREATE SEQUENCE's options (sequences.ts); null when not given. */
export interface SequenceOptions {
  type: TypeName | null;
  increment: Expr | null;
  /** "none": NO MINVALUE / NO MAXVALUE. */
  min: Expr | "none" | null;
  max: Expr | "none" | null;
  start: Expr | null;
  cycle: boolean | null;
}

// Statements ---------------------------------------------------------------------

export type Statement =
  | SelectStatement
  | InsertStatement
  | UpdateStatement
  | DeleteStatement
  | {
    kind: "create_table";
    name: QualifiedName;
    ifNotExists: boolean;
    temporary: boolean;
    columns: ColumnDef[];
    constraints: TableConstraint[];
  }
  | {
    kind: "create_table_as";
    name: QualifiedName;
    ifNotExists: boolean;
    temporary: boolean;
    columns: string[];
    query: SelectStatement;
  }
  | { kind: "drop_table"; names: QualifiedName[]; ifExists: boolean; cascade: boolean }
  | {
    kind: "create_index";
    unique: boolean;
    name: string | null;
    ifNotExists: boolean;
    table: QualifiedName;
    columns: IndexColumn[];
    /** INCLUDE (columns): kept for display (the engine's index holds the keys only). */
    include?: string[];
    where: Expr | null;
  }
  | { kind: "drop_index"; names: QualifiedName[]; ifExists: boolean; cascade: boolean }
  | { kind: "alter_table"; table: QualifiedName; ifExists: boolean; actions: AlterAction[] }
  | {
    kind: "create_view";
    name: QualifiedName;
    orReplace: boolean;
    columns: string[];
    query: SelectStatement;
  }
  | { kind: "drop_view"; names: QualifiedName[]; ifExists: boolean; cascade: boolean }
  | { kind: "truncate"; tables: QualifiedName[]; restartIdentity: boolean; cascade: boolean }
  | {
    kind: "begin";
    isolation: "serializable" | "repeatable read" | "read committed" | "read uncommitted" | null;
    readOnly: boolean | null;
    /** Written START TRANSACTION (its command tag says so). */
    start?: true;
  }
  | { kind: "commit"; chain: boolean }
  | { kind: "rollback"; chain: boolean }
  | { kind: "savepoint"; name: string }
  | { kind: "rollback_to"; name: string }
  | { kind: "release"; name: string }
  /** SET [LOCAL] name TO/= value, ...; `values` null for DEFAULT. */
  | { kind: "set"; name: string; values: Expr[] | null; local: boolean }
  | { kind: "show"; name: string }
  | { kind: "reset"; name: string }
  | { kind: "explain"; analyze: boolean; verbose: boolean; statement: Statement }
  | {
    kind: "copy";
    table: QualifiedName;
    /** COPY (query) TO STDOUT: the query (then `table` is empty). */
    query?: SelectStatement;
    columns: string[] | null;
    direction: "from" | "to";
    /** COPY's options by lower-case name, e.g. format -> "csv"; flags map to "true". */
    options: [string, string][];
  }
  | { kind: "vacuum"; analyze: boolean; tables: QualifiedName[] }
  /** PREPARE name [(types)] AS statement; `text` is the statement's SQL. */
  | { kind: "prepare"; name: string; types: TypeName[]; statement: Statement; text: string }
  | { kind: "execute"; name: string; params: Expr[] }
  | {
    kind: "create_sequence";
    name: QualifiedName;
    ifNotExists: boolean;
    options: SequenceOptions;
  }
  | { kind: "drop_sequence"; names: QualifiedName[]; ifExists: boolean; cascade: boolean }
  /** DEALLOCATE [PREPARE] name | ALL (`name` null). */
  | { kind: "deallocate"; name: string | null }
  | { kind: "analyze"; tables: QualifiedName[] }
  | { kind: "create_extension"; name: string; ifNotExists: boolean }
  /** CREATE SCHEMA [IF NOT EXISTS] name: only public exists here. */
  | { kind: "create_schema"; name: string; ifNotExists: boolean }
  | { kind: "drop_extension"; names: string[]; ifExists: boolean }
  /** LOCK [TABLE] names [IN mode MODE] [NOWAIT]; `mode` as PostgreSQL spells it, upper case. */
  | { kind: "lock_table"; tables: QualifiedName[]; mode: string }
  /** SET SESSION CHARACTERISTICS AS TRANSACTION ...: accepted, changes nothing (see session.ts). */
  | { kind: "session_characteristics" }
  /** COMMENT ON { TABLE | VIEW | INDEX | COLUMN } name IS text (null: IS NULL removes it). */
  | {
    kind: "comment";
    target: "table" | "view" | "index" | "column";
    name: QualifiedName;
    text: string | null;
  }
  /** SET CONSTRAINTS { ALL | names } { DEFERRED | IMMEDIATE }; names null for ALL. */
  | { kind: "set_constraints"; names: string[] | null; deferred: boolean }
  /** CREATE TYPE name AS ENUM (labels) (enums.ts). */
  | { kind: "create_enum"; name: QualifiedName; labels: string[] }
  /** ALTER TYPE name ADD VALUE / RENAME VALUE / RENAME TO (enums.ts). */
  | { kind: "alter_enum"; name: QualifiedName; action: EnumAction }
  | { kind: "drop_type"; names: QualifiedName[]; ifExists: boolean; cascade: boolean };

/** What ALTER TYPE does to an enum. */
export type EnumAction =
  | {
    kind: "add_value";
    label: string;
    ifNotExists: boolean;
    /** BEFORE or AFTER an existing label; null appends. */
    neighbor: { label: string; before: boolean } | null;
  }
  | { kind: "rename_value"; from: string; to: string }
  | { kind: "rename"; to: string };
