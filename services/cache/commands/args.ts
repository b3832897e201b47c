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
