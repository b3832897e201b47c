// Which socket errors only mean that the peer went away. Servers log these
// at debug, never as failures (docs/architecture.md habit 5).

import { UnexpectedEofError } from "../errors.ts";

/**
 * True for errors that only mean the peer went away (reset, broken pipe,
 * closed socket, EOF mid-message). Servers log these at debug, not as
 * failures.
 */
export function isDisconnect(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted ||
    error instanceof UnexpectedEofError;
}
