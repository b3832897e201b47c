// Errors of the SQL front end, carrying what PostgreSQL puts in its
// ErrorResponse: the SQLSTATE and the 1-based character position in the
// query string (the 'P' field clients use to point at the problem).

/** Unparsable SQL: SQLSTATE 42601 unless said (42622 is a name too long notice). */
export class SqlSyntaxError extends SyntaxError {
  override name = "SqlSyntaxError";
  readonly code: string;
  /** 1-based character position, as PostgreSQL reports it; 0 when none. */
  readonly position: number;
  readonly hint?: string;
  constructor(message: string, position: number, code = "42601", hint?: string) {
    super(message);
    this.code = code;
    this.position = position;
    if (hint !== undefined) this.hint = hint;
  }
}

/** A bound of ours or PostgreSQL's exceeded: 54001 stack depth, 54000 program limit. */
export class SqlLimitError extends RangeError {
  override name = "SqlLimitError";
  readonly code: string;
  /** Which bound, named as in SqlLimits. */
  readonly limit: string;
  readonly hint?: string;
  constructor(limit: string, code: string, message: string, hint?: string) {
    super(message);
    this.limit = limit;
    this.code = code;
    this.hint = hint;
  }
}

/** A NOTICE the parser raises without failing (PostgreSQL's identifier truncation). */
export interface SqlNotice {
  code: string;
  message: string;
  detail?: string;
  /** NOTICE unless said otherwise. */
  severity?: "WARNING";
}

/** The optional ErrorResponse fields of a SqlError. */
export interface SqlErrorOptions {
  detail?: string;
  hint?: string;
  position?: number;
  where?: string;
  table?: string;
  column?: string;
  constraint?: string;
}

/** An error found while checking or evaluating SQL, with its SQLSTATE (PostgreSQL appendix A). */
export class SqlError extends Error {
  override name = "SqlError";
  readonly code: string;
  readonly detail?: string;
  readonly hint?: string;
  /** 1-based character position in the query, when known (positions.ts). */
  readonly position?: number;
  /** PostgreSQL's CONTEXT: where it happened, e.g. `COPY t, line 3: "..."`. */
  readonly where?: string;
  /** For integrity errors: the table, column and constraint, as ErrorResponse's s/t/c/n fields. */
  readonly table?: string;
  readonly column?: string;
  readonly constraint?: string;
  constructor(code: string, message: string, options: SqlErrorOptions = {}) {
    super(message);
    this.code = code;
    this.detail = options.detail;
    this.hint = options.hint;
    this.position = options.position;
    this.where = options.where;
    this.table = options.table;
    this.column = options.column;
    this.constraint = options.constraint;
  }
}

/**
 * A table whose definition an open transaction of another session has
 * changed or dropped (55P03 if it is never waited out). PostgreSQL makes the
 * other session wait on the DDL's lock; the session waits and plans again
 * (session.ts), so uncommitted DDL is never seen.
 */
export class CatalogBusyError extends SqlError {
  override name = "CatalogBusyError";
  constructor(table: string) {
    super("55P03", `could not obtain lock on relation "${table}"`);
  }
}
