// Argument parsing shared by the command groups, with Redis's error wording.

import { fail, NOT_FLOAT, NOT_INTEGER } from "./context.ts";
import { parseFloatArg, parseInteger } from "../values.ts";

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
