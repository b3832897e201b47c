// Child process of regex_engine_test.ts: runs exponential-backtracking
// patterns through compilePattern() and prints each outcome as a JSON line
// (the match result, or the SQLSTATE it was refused with).

import { SqlError } from "../../../../services/datastore/sql/errors.ts";
import {
  checkInput,
  compilePattern,
  parseFlags,
} from "../../../../services/datastore/sql/regex.ts";
import { linearRegexEngine } from "../../../../lib/v8_flags.ts";

const CASES: [string, string, string][] = [
  ["(a|a)*b", "a".repeat(100_000), ""],
  ["(a+)+b", "a".repeat(100_000), ""],
  ["(.*a){12}x", "ab".repeat(20_000), ""],
  ["(a|A)*b", "a".repeat(100_000), "i"],
  ["(.|😀)*b", "😀a".repeat(50_000), ""],
];

const outcomes = CASES.map(([pattern, input, flags]) => {
  try {
    const re = compilePattern(pattern, parseFlags(flags), { extracting: false });
    return { pattern, matched: re.test(checkInput(input)) };
  } catch (e) {
    if (e instanceof SqlError) return { pattern, refused: e.code };
    throw e;
  }
});
console.log(JSON.stringify({ linear: linearRegexEngine(), outcomes }));
