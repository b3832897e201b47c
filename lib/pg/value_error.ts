// The error of a value PostgreSQL would refuse, apart from values.ts so that
// interval.ts (which values.ts uses) can throw it without an import cycle.

/** A value PostgreSQL would refuse, with its SQLSTATE (and DETAIL where PostgreSQL gives one). */
export class PgValueError extends SyntaxError {
  override name = "PgValueError";
  readonly code: string;
  readonly detail?: string;
  /**
   * The whole input when the refused part was inside it (an element of an
   * array literal), so the error can point at the literal as PostgreSQL does.
   */
  literal?: string;
  constructor(code: string, message: string, options: { detail?: string } = {}) {
    super(message);
    this.code = code;
    if (options.detail !== undefined) this.detail = options.detail;
  }
}
