// The one decoder contract every codec in lib/ follows (docs/architecture.md,
// "Codecs"):
//
//   decodeX(buf, limits, from = 0, to = buf.length, ...extra): Decoded<T>
//
// reads one message from `buf[from, to)` and returns either the value and
// the bytes it used (counted from `from`), or `Incomplete` when the bytes
// end before the message does. `bytesNeeded` is how many more bytes must
// arrive before another attempt can succeed, when a length prefix says so
// (0 when unknown: try again after any new bytes). A decoder never reads
// outside `[from, to)`, checks every announced length against a limit before
// allocating, and throws only DecodeError (bad grammar) or LimitError (a
// bound exceeded) from lib/errors.ts.
//
// Whether `value` holds views into `buf` or copies is part of each
// decoder's documentation: views are valid only until the buffer is reused.

/** One message decoded, and how many bytes of the input it used. */
export interface Complete<T> {
  readonly incomplete?: false;
  readonly value: T;
  readonly bytesUsed: number;
}

/** The input ends before the message does. */
export interface Incomplete {
  readonly incomplete: true;
  /** More bytes needed before decoding can succeed; 0 when unknown. */
  readonly bytesNeeded: number;
}

export type Decoded<T> = Complete<T> | Incomplete;

/** The shared "incomplete, length unknown" result: no allocation per call. */
export const INCOMPLETE: Incomplete = Object.freeze({ incomplete: true, bytesNeeded: 0 });

/** An incomplete result that knows how many more bytes it needs. */
export function needMore(bytesNeeded: number): Incomplete {
  return bytesNeeded > 0 ? { incomplete: true, bytesNeeded } : INCOMPLETE;
}

export function isIncomplete<T>(result: Decoded<T>): result is Incomplete {
  return result.incomplete === true;
}
