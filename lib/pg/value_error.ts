// The error of a value PostgreSQL would refuse, apart from values.ts so that
// interval.ts (which values.ts uses) can throw it without an import cycle.

/** A value PostgreSQL would refuse, with its SQLSTATE. */
export class PgValueError extends SyntaxError {
  override name = "PgValueError";
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}
