// Error types shared by every codec and server.
//
// Following Deno's std: unparsable input is a SyntaxError, a bound exceeded
// is a RangeError. Each server has one mapper turning these into its
// protocol's own error reply (HTTP 400/413/431, RESP -ERR, SQLSTATE, ...).

/** Input that does not follow the protocol's grammar. */
export class DecodeError extends SyntaxError {
  override name = "DecodeError";
}

/** Input that follows the grammar but exceeds one of our bounds. */
export class LimitError extends RangeError {
  override name = "LimitError";
  /** Which bound, named as in the protocol's `Limits` object. */
  readonly limit: string;
  constructor(limit: string, message: string) {
    super(message);
    this.limit = limit;
  }
}

/** The peer closed the connection in the middle of a message. */
export class UnexpectedEofError extends Error {
  override name = "UnexpectedEofError";
}

/** A wait for the peer ran past its deadline. */
export class TimeoutError extends Error {
  override name = "TimeoutError";
}
