// Errors the storage engine raises to its callers (the SQL layer maps each to
// a SQLSTATE). Bounds exceeded are `LimitError` from lib/errors.ts.

/** A file is damaged beyond what the log and the double-write area can repair. */
export class CorruptionError extends Error {
  override name = "CorruptionError";
  /** The damaged file, when one is known. */
  readonly path: string | undefined;
  /** Where in that file the damage starts, when known. */
  readonly offsetBytes: number | undefined;
  constructor(message: string, options: { path?: string; offsetBytes?: number } = {}) {
    super(message);
    this.path = options.path;
    this.offsetBytes = options.offsetBytes;
  }
}

/**
 * A file written in a format version this build cannot read (a newer build,
 * or an older one after a format change): refused rather than misread.
 */
export class UnsupportedFormatError extends Error {
  override name = "UnsupportedFormatError";
  readonly path: string | undefined;
  /** The version the file declares. */
  readonly version: number;
  constructor(message: string, options: { path?: string; version: number }) {
    super(message);
    this.path = options.path;
    this.version = options.version;
  }
}

/** A transaction was chosen as the victim of a lock cycle and rolled back. */
export class DeadlockError extends Error {
  override name = "DeadlockError";
}

/** A lock could not be granted within the lock timeout; the transaction rolled back. */
export class LockTimeoutError extends Error {
  override name = "LockTimeoutError";
}

/** A unique or primary key constraint would be broken. */
export class ConstraintError extends Error {
  override name = "ConstraintError";
  readonly constraint: string;
  constructor(constraint: string, message: string) {
    super(message);
    this.constraint = constraint;
  }
}

/** A name that does not exist or already exists, or a row of the wrong shape. */
export class SchemaError extends TypeError {
  override name = "SchemaError";
}

/** An operation on a transaction that has already committed or rolled back. */
export class TransactionClosedError extends Error {
  override name = "TransactionClosedError";
}
