// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN] (Redis 7.0,
// t_string.c): the longest common subsequence of two strings, by the
// textbook dynamic programme over a table of (len1 + 1) x (len2 + 1)
// lengths, then a walk back from the end that rebuilds the subsequence and,
// with IDX, the matching ranges, last first, as Redis reports them.
//
// Bound: the table takes 4 bytes a cell and is refused past
// proto-max-bulk-len, as Redis refuses it (a 512 MiB table is about 134
// million cells: a second or so of work, the same bound Redis accepts).

import type { Args } from "./context.ts";
import { command, type CommandSpec, type Ctx, fail, lower, SYNTAX } from "./context.ts";
import { int64Arg } from "./args.ts";
import { toKey } from "../values.ts";

/** A string key's value for LCS: "" when missing; other types are refused in LCS's words. */
function stringOrEmpty(ctx: Ctx, key: string): string | null {
  const entry = ctx.session.db.lookup(key);
  if (entry === undefined) return "";
  return typeof entry.value === "string" ? entry.value : null;
}

function lcs(ctx: Ctx, args: Args): void {
  // Both keys are looked up first, then the options (lcsCommand's order).
  const a = stringOrEmpty(ctx, toKey(args.at(1)));
  const b = stringOrEmpty(ctx, toKey(args.at(2)));
  if (a === null || b === null) fail("ERR The specified keys must contain string values");
  let getIdx = false;
  let getLen = false;
  let withMatchLen = false;
  let minMatchLen = 0;
  for (let i = 3; i < args.length; i++) {
    const option = lower(args.at(i));
    if (option === "idx") getIdx = true;
    else if (option === "len") getLen = true;
    else if (option === "withmatchlen") withMatchLen = true;
    else if (option === "minmatchlen" && i + 1 < args.length) {
      const n = int64Arg(args.at(++i));
      minMatchLen = n < 0 ? 0 : Number(n);
    } else fail(SYNTAX);
  }
  if (getIdx && getLen) fail("ERR If you want both the length and indexes, please just use IDX.");
  const width = b.length + 1;
  const cells = (a.length + 1) * width;
  if (cells * 4 > ctx.server.limits.bulkBytesMax) {
    fail("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
  }
  // table[i * width + j]: the LCS length of a[0, i) and b[0, j).
  const table = new Uint32Array(cells);
  for (let i = 1; i <= a.length; i++) {
    const ai = a.charCodeAt(i - 1);
    for (let j = 1; j <= b.length; j++) {
      const at = i * width + j;
      if (ai === b.charCodeAt(j - 1)) table[at] = table[at - width - 1] + 1;
      else table[at] = Math.max(table[at - width], table[at - 1]);
    }
  }
  const length = table[cells - 1];
  if (getLen) return ctx.out.integer(length);
  // Walk back from the end: a match extends the current range backwards; a
  // step that is not a match (or reaching the first byte) closes it.
  const chars: number[] = new Array(length);
  const ranges: number[][] = [];
  let left = length;
  let open = false;
  let aStart = 0, aEnd = 0, bStart = 0, bEnd = 0;
  let i = a.length;
  let j = b.length;
  while (i > 0 && j > 0) {
    let close = false;
    if (a.charCodeAt(i - 1) === b.charCodeAt(j - 1)) {
      chars[--left] = a.charCodeAt(i - 1);
      if (!open) {
        open = true;
        aStart = aEnd = i - 1;
        bStart = bEnd = j - 1;
      } else {
        aStart--;
        bStart--;
      }
      if (aStart === 0 || bStart === 0) close = true;
      i--;
      j--;
    } else {
      if (table[(i - 1) * width + j] > table[i * width + j - 1]) i--;
      else j--;
      if (open) close = true;
    }
    if (close) {
      const matchLen = aEnd - aStart + 1;
      if (minMatchLen === 0 || matchLen >= minMatchLen) {
        ranges.push(
          withMatchLen ? [aStart, aEnd, bStart, bEnd, matchLen] : [aStart, aEnd, bStart, bEnd],
        );
      }
      open = false;
    }
  }
  if (!getIdx) {
    // In slices: spreading a long array into one call would overflow the stack.
    let text = "";
    for (let at = 0; at < chars.length; at += 8192) {
      text += String.fromCharCode(...chars.slice(at, at + 8192));
    }
    return ctx.out.bulkString(text);
  }
  ctx.out.mapHeader(2);
  ctx.out.bulkString("matches");
  ctx.out.arrayHeader(ranges.length);
  for (const range of ranges) {
    ctx.out.arrayHeader(range.length === 5 ? 3 : 2);
    ctx.out.arrayHeader(2);
    ctx.out.integer(range[0]);
    ctx.out.integer(range[1]);
    ctx.out.arrayHeader(2);
    ctx.out.integer(range[2]);
    ctx.out.integer(range[3]);
    if (range.length === 5) ctx.out.integer(range[4]);
  }
  ctx.out.bulkString("len");
  ctx.out.integer(length);
}

export const LCS_COMMANDS: CommandSpec[] = [
  command("lcs", -3, ["readonly"], lcs, {
    firstKey: 1,
    lastKey: 2,
    step: 1,
    group: "string",
    summary: "Find longest common substring",
    since: "7.0.0",
  }),
];
