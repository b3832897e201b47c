// PostgreSQL's errors on our side: the protocol violation class the codec
// throws, and the one mapper (docs/architecture.md habit 5) from any error to the
// fields of an ErrorResponse (documentation 55.8, SQLSTATEs from appendix A).
//
// Errors that know their SQLSTATE carry it as `code` (PgProtocolError,
// ScramError, PgValueError, and the SQL front end's SqlSyntaxError and
// SqlLimitError), with `position`, `detail` and `hint` where they have them;
// the mapper reads those fields rather than importing each class, so lib/
// does not depend on services/.

import { DecodeError, LimitError } from "../errors.ts";
import type { NoticeFields } from "./types.ts";

/** A protocol violation with PostgreSQL's SQLSTATE for it (08P01 unless said). */
export class PgProtocolError extends DecodeError {
  override name = "PgProtocolError";
  readonly code: string;
  constructor(message: string, code = "08P01") {
    super(message);
    this.code = code;
  }
}

/** SQLSTATE 08P01 protocol_violation. */
export const PROTOCOL_VIOLATION = "08P01";
/** SQLSTATE 54000 program_limit_exceeded. */
export const PROGRAM_LIMIT_EXCEEDED = "54000";
/** SQLSTATE XX000 internal_error. */
export const INTERNAL_ERROR = "XX000";

/** The limits of PgLimits: exceeding one is a protocol violation, as in PostgreSQL. */
const WIRE_LIMITS = new Set([
  "messageBytesMax",
  "smallMessageBytesMax",
  "authMessageBytesMax",
  "startupBytesMax",
]);

interface CarriesSqlState {
  code: string;
  message: string;
  position?: number;
  detail?: string;
  hint?: string;
  /** The CONTEXT field: where it happened (a COPY line, a function). */
  where?: string;
  /** The object an integrity error names (drivers read these fields). */
  table?: string;
  column?: string;
  constraint?: string;
}

function carriesSqlState(error: unknown): error is CarriesSqlState {
  const code = (error as { code?: unknown })?.code;
  return error instanceof Error && typeof code === "string" && /^[0-9A-Z]{5}$/.test(code);
}

/**
 * The ErrorResponse fields for an error. Errors we did not expect become
 * XX000 "internal error" without their message, so nothing internal leaks
 * to the client; the caller logs the original.
 */
export function errorFields(
  error: unknown,
  severity: "ERROR" | "FATAL" = "ERROR",
): NoticeFields {
  const fields: NoticeFields = {
    severity,
    severityNonLocalized: severity,
    code: INTERNAL_ERROR,
    message: "internal error",
  };
  if (carriesSqlState(error)) {
    fields.code = error.code;
    fields.message = error.message;
    if (error.detail !== undefined) fields.detail = error.detail;
    if (error.hint !== undefined) fields.hint = error.hint;
    if (error.where !== undefined) fields.where = error.where;
    if (error.table !== undefined) {
      fields.schema = "public";
      fields.table = error.table;
    }
    if (error.column !== undefined) fields.column = error.column;
    if (error.constraint !== undefined) fields.constraint = error.constraint;
    if (error.position !== undefined && error.position > 0) fields.position = error.position;
  } else if (error instanceof LimitError) {
    fields.code = WIRE_LIMITS.has(error.limit) ? PROTOCOL_VIOLATION : PROGRAM_LIMIT_EXCEEDED;
    fields.message = error.message;
  } else if (error instanceof DecodeError) {
    fields.code = PROTOCOL_VIOLATION;
    fields.message = error.message;
  }
  return fields;
}
