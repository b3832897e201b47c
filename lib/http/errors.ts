// HTTP errors and the one wire-error mapper (docs/architecture.md habit 5).
//
// Codecs throw the shared DecodeError/LimitError (lib/errors.ts); the few
// cases that need a status other than 400 carry it in an HttpError. The
// server turns every error into a status, a short public message and a
// decision to close the connection through `toWireError()`, and nothing
// else: no stack trace ever reaches a client.

import { DecodeError, LimitError, TimeoutError, UnexpectedEofError } from "../errors.ts";

/** An error that already knows its HTTP status (and whether framing is lost). */
export class HttpError extends Error {
  override name = "HttpError";
  readonly status: number;
  /** True when the connection cannot be trusted after this error. */
  readonly close: boolean;
  constructor(status: number, message: string, options: { close?: boolean } = {}) {
    super(message);
    this.status = status;
    this.close = options.close ?? false;
  }
}

/** A request head that breaks the grammar and carries a status other than 400. */
export class HttpDecodeError extends DecodeError {
  override name = "HttpDecodeError";
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** What the client is told about an error. */
export interface WireError {
  status: number;
  /** Safe to show the client: never a stack trace or an internal detail. */
  message: string;
  /** Close the connection after the response. */
  close: boolean;
  /** True when the error is our fault and should be logged as one. */
  internal: boolean;
}

/** Which status each named limit maps to (the names used in `HttpLimits`). */
const LIMIT_STATUS: Readonly<Record<string, number>> = {
  requestLineBytes: 414,
  headerBytes: 431,
  headerCount: 431,
  bodyBytes: 413,
  chunkLineBytes: 400,
  trailerBytes: 431,
};

/** The one mapper from any thrown value to an HTTP error response. */
export function toWireError(error: unknown): WireError {
  if (error instanceof HttpError) {
    return { status: error.status, message: error.message, close: error.close, internal: false };
  }
  if (error instanceof HttpDecodeError) {
    return { status: error.status, message: error.message, close: true, internal: false };
  }
  if (error instanceof LimitError) {
    // Past a limit the rest of the message is still on the wire: close.
    return {
      status: LIMIT_STATUS[error.limit] ?? 413,
      message: error.message,
      close: true,
      internal: false,
    };
  }
  if (error instanceof DecodeError) {
    return { status: 400, message: error.message, close: true, internal: false };
  }
  if (error instanceof TimeoutError) {
    return { status: 408, message: "request timed out", close: true, internal: false };
  }
  if (error instanceof UnexpectedEofError) {
    return { status: 400, message: "incomplete request", close: true, internal: false };
  }
  return { status: 500, message: "internal server error", close: false, internal: true };
}
