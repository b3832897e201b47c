// Argument parsing shared by the command groups, with Redis's error wording.

import { type Args, fail, NOT_FLOAT, NOT_INTEGER } from "./context.ts";
import { argKey, parseFloatArg, parseInteger } from "../values.ts";
import { parseScore } from "../zset.ts";

/** An int64 argument as a JS number (exact within ±2^53, as every count here is). */
export function intArg(arg: Uint8Array, message = NOT_INTEGER): number {
  const n = parseInteger(arg);
  if (n === null) fail(message);
  return Number(n);
}

/** An int64 argument, exact. */
export function int64Arg(arg: Uint8Array, message = NOT_INTEGER): number | bigint {
  const n = parseInteger(arg);
  if (n === null) fail(message);
  return n;
}

/** A float argument (INCRBYFLOAT, timeouts). */
export function floatArg(arg: Uint8Array, message = NOT_FLOAT): number {
  const n = parseFloatArg(arg);
  if (n === null || Number.isNaN(n)) fail(message);
  return n;
}

/** A count argument that must not be negative (Redis: "value is out of range, must be positive"). */
export function positiveArg(arg: Uint8Array): number {
  const n = intArg(arg, "ERR value is out of range, must be positive");
  if (n < 0) fail("ERR value is out of range, must be positive");
  return n;
}

/**
 * Replies with one element per unit of count (SRANDMEMBER and HRANDFIELD
 * with a negative count, which may repeat members) are built in memory
 * before they are written, so their size is bounded here: past this many
 * elements the command is refused with Redis's out-of-range error rather
 * than spending minutes and gigabytes (Redis 7.0 would try, and stall every
 * other client meanwhile). 4M elements is a reply of at least 28 MB.
 */
export const REPEATED_REPLY_COUNT_MAX = 4 * 1024 * 1024;

/** The range Redis checks counts against (-LONG_MAX .. LONG_MAX), in its words. */
export const LONG_RANGE =
  "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";

/**
 * A count that may be negative to allow repeats (SRANDMEMBER, HRANDFIELD):
 * -2^63 is refused as in Redis (its negation does not fit), and a
 * repeated-reply count past REPEATED_REPLY_COUNT_MAX too.
 */
export function signedCountArg(arg: Uint8Array): number {
  const n = int64Arg(arg);
  if (n === -9223372036854775808n) fail(LONG_RANGE);
  const count = Number(n);
  if (count < -REPEATED_REPLY_COUNT_MAX) fail("ERR value is out of range");
  return count;
}

/** A numkeys argument as Redis's multi-key commands take it (SINTERCARD, LMPOP). */
export function numkeysArg(arg: Uint8Array): number {
  const n = parseInteger(arg);
  if (n === null || n <= 0) fail("ERR numkeys should be greater than 0");
  return Number(n);
}

// Arguments read in place. The hot sorted-set commands parse most of their
// arguments only as numbers or option words; reading those bytes where they
// lie in the read buffer (CommandArgs.buffer) costs no view (a V8 typed
// array object) and no string, which args.at() and lower() would make for
// every argument of every command.

/** The bytes of argument `i` and where it starts in them (a view only for CommandArgs.of). */
function argBytes(args: Args, i: number): Uint8Array {
  return args.buffer ?? args.at(i);
}

function argStart(args: Args, i: number): number {
  return args.buffer === undefined ? 0 : args.startOf(i);
}

/** Whether argument `i` is `word` (lowercase letters) in any case: an option name. */
export function argIs(args: Args, i: number, word: string): boolean {
  const n = args.lengthOf(i);
  if (n !== word.length) return false;
  const bytes = argBytes(args, i);
  const start = argStart(args, i);
  // `| 0x20` maps only A-Z onto a-z, so this is exact for a word of letters.
  for (let j = 0; j < n; j++) if ((bytes[start + j] | 0x20) !== word.charCodeAt(j)) return false;
  return true;
}

/**
 * Argument `i` when it is an optional "-" and 1 to 15 digits (exact as a
 * double, and what both strtod and string2ll read the same way when it has
 * no leading zero), else NaN: the common case of a score or a count,
 * without a view or a string. `leadingZeros`: accept them (strtod does,
 * string2ll does not).
 */
function shortIntegerAt(args: Args, i: number, leadingZeros: boolean): number {
  const n = args.lengthOf(i);
  const bytes = argBytes(args, i);
  const start = argStart(args, i);
  const negative = n > 0 && bytes[start] === 45;
  const first = negative ? 1 : 0;
  if (n - first < 1 || n - first > 15) return NaN;
  if (!leadingZeros && bytes[start + first] === 48 && (n - first > 1 || negative)) return NaN;
  let value = 0;
  for (let j = first; j < n; j++) {
    const d = bytes[start + j] - 48;
    if (d < 0 || d > 9) return NaN;
    value = value * 10 + d;
  }
  return negative ? -value : value;
}

/** intArg() of argument `i`, read in place when it is a short integer. */
export function intArgAt(args: Args, i: number, message = NOT_INTEGER): number {
  const n = shortIntegerAt(args, i, false);
  return Number.isNaN(n) ? intArg(args.at(i), message) : n;
}

/**
 * A score argument (ZADD, ZINCRBY) as zset.ts's parseScore reads it, in
 * place when it is a short integer (redis-benchmark's scores and
 * increments, most applications' timestamps and counters); null when not
 * a valid score.
 */
export function scoreArgAt(args: Args, i: number): number | null {
  const n = shortIntegerAt(args, i, true);
  return Number.isNaN(n) ? parseScore(argKey(args, i)) : n;
}
