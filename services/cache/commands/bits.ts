// Bitmap commands on string values (Redis "bitmap" group, bitops.c, Redis
// 7.0): SETBIT, GETBIT, BITCOUNT and BITPOS (BYTE or BIT ranges), BITOP
// (AND OR XOR NOT), BITFIELD and BITFIELD_RO (signed and unsigned fields of
// 1 to 64 bits, offsets in bits or `#n` field units, OVERFLOW WRAP, SAT or
// FAIL). Bit 0 is the most significant bit of the first byte, as in Redis.
//
// Values are binary strings (values.ts): reads use charCodeAt, and a write
// builds the new string, so SETBIT costs O(length) where Redis writes in
// place. Offsets are bounded as Redis bounds them (the bit's byte below
// proto-max-bulk-len, 512 MiB).

import type { Args } from "./context.ts";
import type { Db, Entry } from "../keyspace.ts";
import { parseInteger, toKey } from "../values.ts";
import { int64Arg } from "./args.ts";
import { command, type CommandSpec, type Ctx, fail, lower, SYNTAX, WRONGTYPE } from "./context.ts";

/** Redis's proto-max-bulk-len: a bit's byte must lie below it. */
const STRING_BYTES_MAX = 512 * 1024 * 1024;
const BIT_OFFSET_ERROR = "ERR bit offset is not an integer or out of range";
const BITFIELD_TYPE_ERROR =
  "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/** The string at `key`, "" when missing; WRONGTYPE for another type. */
function readString(db: Db, key: string): string | undefined {
  const entry = db.lookup(key);
  if (entry === undefined) return undefined;
  if (typeof entry.value !== "string") fail(WRONGTYPE);
  return entry.value;
}

/**
 * A bit offset as Redis's getBitOffsetFromArgument reads it: an integer, or
 * with `hash` "#n" meaning n fields of `bits`; 0 .. 2^32 - 1.
 */
function bitOffsetArg(arg: Uint8Array, hash = false, bits = 0): number {
  const useHash = hash && arg[0] === 0x23 && bits > 0;
  const n = parseInteger(useHash ? arg.subarray(1) : arg);
  if (n === null) fail(BIT_OFFSET_ERROR);
  const offset = BigInt(n) * (useHash ? BigInt(bits) : 1n);
  if (offset < 0n || offset >> 3n >= BigInt(STRING_BYTES_MAX)) fail(BIT_OFFSET_ERROR);
  return Number(offset);
}

/**
 * The string at `key` grown with zero bytes to hold bit `maxBit`, created
 * when missing (Redis's lookupStringForBitCommand). The caller stores it.
 */
function stringForBits(db: Db, key: string, maxBit: number): { entry?: Entry; value: string } {
  const entry = db.lookup(key);
  if (entry !== undefined && typeof entry.value !== "string") fail(WRONGTYPE);
  const value = entry === undefined ? "" : entry.value as string;
  const bytes = (maxBit >> 3) + 1;
  return {
    entry,
    value: value.length >= bytes ? value : value + "\0".repeat(bytes - value.length),
  };
}

/** Stores a bit command's result string; `quiet` when nothing was written but padding. */
function storeBits(
  db: Db,
  key: string,
  found: { entry?: Entry; value: string },
  quiet = false,
): void {
  if (found.entry === undefined) db.set(key, found.value, quiet);
  else {
    found.entry.value = found.value;
    db.resize(found.entry, quiet);
  }
}

function setbit(ctx: Ctx, args: Args): void {
  const offset = bitOffsetArg(args.at(2));
  const bit = parseInteger(args.at(3));
  if (bit !== 0 && bit !== 1) fail("ERR bit is not an integer or out of range");
  const db = ctx.session.db;
  const key = toKey(args.at(1));
  const found = stringForBits(db, key, offset);
  const at = offset >> 3;
  const mask = 0x80 >> (offset & 7);
  const byte = found.value.charCodeAt(at);
  const next = bit === 1 ? byte | mask : byte & ~mask;
  // Signalled only when created, grown or the bit flips, as Redis 7.0's setbitCommand.
  const grown = found.entry === undefined || found.value !== found.entry.value;
  if (next !== byte || grown) {
    found.value = found.value.slice(0, at) + String.fromCharCode(next) +
      found.value.slice(at + 1);
    storeBits(db, key, found);
  }
  ctx.out.integer((byte & mask) === 0 ? 0 : 1);
}

function getbit(ctx: Ctx, args: Args): void {
  const offset = bitOffsetArg(args.at(2));
  const value = readString(ctx.session.db, toKey(args.at(1))) ?? "";
  const at = offset >> 3;
  if (at >= value.length) return ctx.out.integer(0);
  ctx.out.integer((value.charCodeAt(at) & (0x80 >> (offset & 7))) === 0 ? 0 : 1);
}

/** Set bits in one byte. */
function popcount8(byte: number): number {
  byte = byte - ((byte >> 1) & 0x55);
  byte = (byte & 0x33) + ((byte >> 2) & 0x33);
  return (byte + (byte >> 4)) & 0x0f;
}

const POPCOUNT = Uint8Array.from({ length: 256 }, (_, i) => popcount8(i));

/**
 * A BITCOUNT/BITPOS range as Redis sanitizes it (negative from the end,
 * clamped), in bits, both ends included; null when empty.
 */
function bitRange(
  start: number,
  end: number,
  length: number,
  isBit: boolean,
): [number, number] | null {
  const total = isBit ? length * 8 : length;
  if (start < 0) start += total;
  if (end < 0) end += total;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= total) end = total - 1;
  if (start > end) return null;
  return isBit ? [start, end] : [start * 8, end * 8 + 7];
}

/** The BYTE|BIT argument at `at`, when present. */
function unitArg(args: Args, at: number): boolean {
  if (args.length <= at) return false;
  const unit = lower(args.at(at));
  if (unit === "bit") return true;
  if (unit === "byte") return false;
  fail(SYNTAX);
}

function bitAt(value: string, bit: number): number {
  return (value.charCodeAt(bit >> 3) >> (7 - (bit & 7))) & 1;
}

/** BITCOUNT key [start end [BYTE|BIT]]: Redis looks the key up before it reads the range. */
function bitcount(ctx: Ctx, args: Args): void {
  const value = readString(ctx.session.db, toKey(args.at(1)));
  if (value === undefined) return ctx.out.integer(0);
  let range: [number, number] | null;
  if (args.length === 4 || args.length === 5) {
    const start = int64Arg(args.at(2));
    const end = int64Arg(args.at(3));
    // Redis answers 0 for an inverted negative range before it reads BYTE|BIT.
    if (start < 0 && end < 0 && start > end) return ctx.out.integer(0);
    const isBit = unitArg(args, 4);
    range = bitRange(Number(start), Number(end), value.length, isBit);
  } else if (args.length === 2) {
    range = value.length === 0 ? null : [0, value.length * 8 - 1];
  } else fail(SYNTAX);
  if (range === null) return ctx.out.integer(0);
  let [first, last] = range;
  let count = 0;
  for (; first <= last && (first & 7) !== 0; first++) count += bitAt(value, first);
  for (; last >= first && (last & 7) !== 7; last--) count += bitAt(value, last);
  for (let at = first >> 3; at <= last >> 3 && first <= last; at++) {
    count += POPCOUNT[value.charCodeAt(at)];
  }
  ctx.out.integer(count);
}

/**
 * BITPOS key bit [start [end [BYTE|BIT]]]: the first bit set to `bit` in
 * the range, else -1; looking for 0 with no end given, the bit just past
 * the string (a string is followed by zeros), as Redis answers.
 */
function bitpos(ctx: Ctx, args: Args): void {
  const bitArg = parseInteger(args.at(2));
  if (bitArg === null) fail("ERR value is not an integer or out of range");
  if (bitArg !== 0 && bitArg !== 1) fail("ERR The bit argument must be 1 or 0.");
  const bit = Number(bitArg);
  const value = readString(ctx.session.db, toKey(args.at(1)));
  if (value === undefined) return ctx.out.integer(bit === 1 ? -1 : 0);
  let range: [number, number] | null;
  let endGiven = false;
  if (args.length >= 4 && args.length <= 6) {
    const start = Number(int64Arg(args.at(3)));
    const isBit = unitArg(args, 5);
    let end = isBit ? value.length * 8 + 7 : value.length - 1;
    if (args.length >= 5) {
      end = Number(int64Arg(args.at(4)));
      endGiven = true;
    }
    range = bitRange(start, end, value.length, isBit);
  } else if (args.length === 3) {
    range = value.length === 0 ? null : [0, value.length * 8 - 1];
  } else fail(SYNTAX);
  if (range === null) return ctx.out.integer(-1);
  let [at, last] = range;
  const skip = bit === 1 ? 0 : 0xff;
  for (; at <= last; at++) {
    // Whole bytes that cannot hold the bit are stepped over at once.
    if ((at & 7) === 0 && at + 7 <= last && value.charCodeAt(at >> 3) === skip) {
      at += 7;
      continue;
    }
    if (bitAt(value, at) === bit) return ctx.out.integer(at);
  }
  if (bit === 1 || endGiven) return ctx.out.integer(-1);
  ctx.out.integer(value.length * 8);
}

/** BITOP AND|OR|XOR|NOT destkey key [key ...]: the result's length (0 deletes destkey). */
function bitop(ctx: Ctx, args: Args): void {
  const op = lower(args.at(1));
  if (op !== "and" && op !== "or" && op !== "xor" && op !== "not") fail(SYNTAX);
  if (op === "not" && args.length !== 4) {
    fail("ERR BITOP NOT must be called with a single source key.");
  }
  const db = ctx.session.db;
  const sources: string[] = [];
  for (let i = 3; i < args.length; i++) sources.push(readString(db, toKey(args.at(i))) ?? "");
  const length = Math.max(...sources.map((s) => s.length));
  const dest = toKey(args.at(2));
  if (length === 0) {
    db.delete(dest);
    return ctx.out.integer(0);
  }
  const out = new Uint8Array(length);
  for (let at = 0; at < length; at++) {
    // Shorter strings count as zero bytes past their end.
    const byteOf = (s: string) => at < s.length ? s.charCodeAt(at) : 0;
    let byte = byteOf(sources[0]);
    if (op === "not") byte = ~byte & 0xff;
    for (let i = 1; i < sources.length; i++) {
      const other = byteOf(sources[i]);
      if (op === "and") byte &= other;
      else if (op === "or") byte |= other;
      else byte ^= other;
    }
    out[at] = byte;
  }
  db.set(dest, toKey(out));
  ctx.out.integer(length);
}

type Overflow = "wrap" | "sat" | "fail";

interface FieldOp {
  readonly op: "get" | "set" | "incrby";
  readonly signed: boolean;
  readonly bits: number;
  readonly offset: number;
  /** SET's value or INCRBY's increment, an int64. */
  readonly value: bigint;
  readonly overflow: Overflow;
}

function fieldTypeArg(arg: Uint8Array): { signed: boolean; bits: number } {
  const sign = arg[0];
  if (sign !== 0x69 && sign !== 0x75) fail(BITFIELD_TYPE_ERROR); // 'i' or 'u'
  const bits = parseInteger(arg.subarray(1));
  const signed = sign === 0x69;
  if (bits === null || bits < 1 || bits > (signed ? 64 : 63)) fail(BITFIELD_TYPE_ERROR);
  return { signed, bits: Number(bits) };
}

/** The field's bits as an unsigned value; bits past the end read as 0. */
function readField(byteAt: (at: number) => number, offset: number, bits: number): bigint {
  let n = 0n;
  for (let i = 0; i < bits; i++) {
    const bit = offset + i;
    n = (n << 1n) | BigInt((byteAt(bit >> 3) >> (7 - (bit & 7))) & 1);
  }
  return n;
}

function writeField(bytes: Uint8Array, offset: number, bits: number, n: bigint): void {
  for (let i = bits - 1; i >= 0; i--, n >>= 1n) {
    const bit = offset + i;
    const mask = 0x80 >> (bit & 7);
    if ((n & 1n) === 1n) bytes[bit >> 3] |= mask;
    else bytes[bit >> 3] &= ~mask;
  }
}

const U64 = (n: bigint) => BigInt.asUintN(64, n);
const I64 = (n: bigint) => BigInt.asIntN(64, n);

/**
 * Redis's checkSignedBitfieldOverflow, step for step in int64 arithmetic
 * (so its answers at the int64 extremes are the same): the direction of the
 * overflow (0 none) and the value WRAP or SAT gives.
 */
function signedOverflow(
  value: bigint,
  incr: bigint,
  bits: number,
  how: Overflow,
): { overflow: number; limit: bigint } {
  const max = bits === 64 ? 9223372036854775807n : (1n << BigInt(bits - 1)) - 1n;
  const min = -max - 1n;
  const maxIncr = I64(U64(max) - U64(value));
  const minIncr = I64(min - value);
  const wrap = (): bigint => {
    let c = U64(value + incr);
    if (bits < 64) {
      const mask = U64(-1n << BigInt(bits));
      if ((c & (1n << BigInt(bits - 1))) !== 0n) c |= mask;
      else c &= ~mask & 0xffffffffffffffffn;
    }
    return I64(c);
  };
  if (
    value > max || (bits !== 64 && incr > maxIncr) || (value >= 0n && incr > 0n && incr > maxIncr)
  ) {
    return { overflow: 1, limit: how === "wrap" ? wrap() : max };
  }
  if (
    value < min || (bits !== 64 && incr < minIncr) || (value < 0n && incr < 0n && incr < minIncr)
  ) {
    return { overflow: -1, limit: how === "wrap" ? wrap() : min };
  }
  return { overflow: 0, limit: 0n };
}

/** Redis's checkUnsignedBitfieldOverflow: `value` is a uint64, `incr` an int64. */
function unsignedOverflow(
  value: bigint,
  incr: bigint,
  bits: number,
  how: Overflow,
): { overflow: number; limit: bigint } {
  const max = (1n << BigInt(bits)) - 1n;
  const maxIncr = I64(max - value);
  const minIncr = I64(-value);
  const wrap = () => U64(value + incr) & max;
  if (value > max || (incr > 0n && incr > maxIncr)) {
    return { overflow: 1, limit: how === "wrap" ? wrap() : max };
  }
  if (incr < 0n && incr < minIncr) return { overflow: -1, limit: how === "wrap" ? wrap() : 0n };
  return { overflow: 0, limit: 0n };
}

/**
 * BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset
 * increment] [OVERFLOW WRAP|SAT|FAIL] ...: every operation is parsed before
 * the key is read; a key is created (zero-filled to the farthest field
 * written) as soon as one SET or INCRBY is asked for, even if FAIL refuses it.
 */
function bitfieldGeneric(readOnly: boolean) {
  return (ctx: Ctx, args: Args): void => {
    const ops: FieldOp[] = [];
    let overflow: Overflow = "wrap";
    let writes = false;
    let maxBit = 0;
    for (let j = 2; j < args.length; j++) {
      const left = args.length - j - 1;
      const name = lower(args.at(j));
      if (name === "overflow" && left >= 1) {
        const how = lower(args.at(++j));
        if (how !== "wrap" && how !== "sat" && how !== "fail") {
          fail("ERR Invalid OVERFLOW type specified");
        }
        overflow = how;
        continue;
      }
      if (
        !((name === "get" && left >= 2) || ((name === "set" || name === "incrby") && left >= 3))
      ) {
        fail(SYNTAX);
      }
      const { signed, bits } = fieldTypeArg(args.at(j + 1));
      const offset = bitOffsetArg(args.at(j + 2), true, bits);
      let value = 0n;
      if (name !== "get") {
        writes = true;
        maxBit = Math.max(maxBit, offset + bits - 1);
        value = BigInt(int64Arg(args.at(j + 3)));
      }
      ops.push({ op: name, signed, bits, offset, value, overflow });
      j += name === "get" ? 2 : 3;
    }
    const db = ctx.session.db;
    const key = toKey(args.at(1));
    if (!writes) {
      const value = readString(db, key) ?? "";
      const byteAt = (at: number) => at < value.length ? value.charCodeAt(at) : 0;
      ctx.out.arrayHeader(ops.length);
      for (const op of ops) ctx.out.integer(fieldValue(byteAt, op));
      return;
    }
    if (readOnly) fail("ERR BITFIELD_RO only supports the GET subcommand");
    const found = stringForBits(db, key, maxBit);
    const bytes = new Uint8Array(found.value.length);
    for (let i = 0; i < bytes.length; i++) bytes[i] = found.value.charCodeAt(i);
    const byteAt = (at: number) => bytes[at];
    ctx.out.arrayHeader(ops.length);
    let changed = false;
    for (const op of ops) {
      if (op.op === "get") {
        ctx.out.integer(fieldValue(byteAt, op));
        continue;
      }
      const old = fieldValue(byteAt, op);
      const check = op.signed ? signedOverflow : unsignedOverflow;
      const base = op.op === "set" ? (op.signed ? op.value : U64(op.value)) : old;
      const incr = op.op === "set" ? 0n : op.value;
      const { overflow: over, limit } = check(base, incr, op.bits, op.overflow);
      if (over !== 0 && op.overflow === "fail") {
        ctx.out.nullBulk();
        continue;
      }
      const next = over !== 0 ? limit : base + incr;
      ctx.out.integer(op.op === "set" ? old : next);
      writeField(bytes, op.offset, op.bits, U64(next));
      // Signalled when some field's bits really changed, or when a write
      // went into a string created or grown for it (Redis: dirty || oldval != newval).
      if (BigInt.asUintN(op.bits, next) !== BigInt.asUintN(op.bits, old)) changed = true;
      if (found.entry === undefined || found.value !== found.entry.value) changed = true;
    }
    if (changed || found.entry === undefined || found.value !== found.entry.value) {
      // Created or padded though every write failed: kept, as Redis keeps it, but unsignalled.
      storeBits(db, key, { entry: found.entry, value: toKey(bytes) }, !changed);
    }
  };
}

/** A field's value read from a string: signed fields sign-extend. */
function fieldValue(
  byteAt: (at: number) => number,
  op: { signed: boolean; bits: number; offset: number },
): bigint {
  const n = readField(byteAt, op.offset, op.bits);
  return op.signed ? BigInt.asIntN(op.bits, n) : n;
}

const k1 = { firstKey: 1, lastKey: 1, step: 1, group: "bitmap" } as const;

export const BIT_COMMANDS: CommandSpec[] = [
  command("setbit", 4, ["write", "denyoom"], setbit, k1),
  command("getbit", 3, ["readonly", "fast"], getbit, k1),
  command("bitcount", -2, ["readonly"], bitcount, k1),
  command("bitpos", -3, ["readonly"], bitpos, k1),
  command("bitop", -4, ["write", "denyoom"], bitop, {
    firstKey: 2,
    lastKey: -1,
    step: 1,
    group: "bitmap",
  }),
  command("bitfield", -2, ["write", "denyoom"], bitfieldGeneric(false), k1),
  command("bitfield_ro", -2, ["readonly", "fast"], bitfieldGeneric(true), k1),
];
