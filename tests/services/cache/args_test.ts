// The in-place argument readers of commands/args.ts (argIs, intArgAt,
// scoreArgAt) against the parsers they shortcut (lower, intArg, parseScore),
// on arguments read in place from a read buffer and on separate copies.

import assert from "node:assert/strict";
import {
  CommandArgs,
  CommandSpans,
  decodeCommandSpans,
  encodeCommand,
} from "../../../lib/resp/codec.ts";
import { DEFAULT_LIMITS } from "../../../lib/resp/types.ts";
import { isIncomplete } from "../../../lib/decode.ts";
import { argIs, intArg, intArgAt, scoreArgAt } from "../../../services/cache/commands/args.ts";
import { CommandError, lower } from "../../../services/cache/commands/context.ts";
import { parseScore } from "../../../services/cache/zset.ts";

/** The arguments of one command as the read loop sees them (in place, 5 bytes into a view), and copied. */
function both(args: string[]): CommandArgs[] {
  const encoded = encodeCommand(args);
  const buffer = new Uint8Array(new ArrayBuffer(encoded.length + 8), 3);
  buffer.set(encoded, 5);
  const spans = new CommandSpans();
  assert.ok(!isIncomplete(decodeCommandSpans(buffer, DEFAULT_LIMITS, 5, buffer.length, spans)));
  const parsed = CommandArgs.fromSpans(buffer, 5, spans);
  return [parsed, CommandArgs.of(parsed.slice().map((arg) => arg.slice()))];
}

/** A parser's result, or the error text it fails with. */
function outcome(parse: () => number | null): number | null | string {
  try {
    return parse();
  } catch (error) {
    if (error instanceof CommandError) return error.message;
    throw error;
  }
}

const NUMBERS = [
  "0",
  "-0",
  "7",
  "-7",
  "00012",
  "-00012",
  "10",
  "123456789012345",
  "-123456789012345",
  "1234567890123456",
  "9007199254740993",
  "9223372036854775807",
  "-9223372036854775808",
  "9223372036854775808",
  "",
  "-",
  "+5",
  " 5",
  "5 ",
  "1.5",
  "1e3",
  ".5",
  "inf",
  "-inf",
  "nan",
  "12a",
  "0x10",
];

Deno.test({
  name: "scoreArgAt() reads every score as parseScore() reads its text",
  permissions: "none",
  fn() {
    for (const args of both(["ZADD", "k", ...NUMBERS])) {
      for (let i = 2; i < args.length; i++) {
        const text = NUMBERS[i - 2];
        assert.ok(Object.is(scoreArgAt(args, i), parseScore(text)), JSON.stringify(text));
      }
    }
  },
});

Deno.test({
  name: "intArgAt() accepts and refuses what intArg() does, with the same error",
  permissions: "none",
  fn() {
    for (const args of both(["ZRANGE", ...NUMBERS])) {
      for (let i = 1; i < args.length; i++) {
        const expected = outcome(() => intArg(args.at(i)));
        assert.ok(Object.is(outcome(() => intArgAt(args, i)), expected), NUMBERS[i - 1]);
      }
    }
  },
});

Deno.test({
  name: "argIs() matches an option word in any case, as lower() compared with it does",
  permissions: "none",
  fn() {
    const words = [
      "limit",
      "LIMIT",
      "Limit",
      "limi",
      "limits",
      "l1mit",
      "LIMIT\u0000",
      "withscores",
    ];
    for (const args of both(["ZRANGE", ...words])) {
      for (let i = 1; i < args.length; i++) {
        for (const word of ["limit", "withscores", "nx"]) {
          assert.equal(argIs(args, i, word), lower(args.at(i)) === word, `${words[i - 1]} ${word}`);
        }
      }
    }
  },
});
