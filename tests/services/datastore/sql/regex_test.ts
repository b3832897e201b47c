// regex.ts: what the ARE translation refuses rather than answer unlike
// PostgreSQL, and the bounds that keep a pattern from freezing the server.
// The answers themselves are checked against PostgreSQL 15 by
// fixtures/psql/regex.sql.

import assert from "node:assert/strict";
import { SqlError } from "../../../../services/datastore/sql/errors.ts";
import {
  checkInput,
  compilePattern,
  INPUT_CHARS_MAX,
  parseFlags,
  PATTERN_CHARS_MAX,
  similarPattern,
  textArray,
} from "../../../../services/datastore/sql/regex.ts";

const pure = { permissions: "none" } as const;
const plain = parseFlags("");

function refused(fn: () => unknown, code = "2201B"): void {
  assert.throws(fn, (e) => e instanceof SqlError && e.code === code);
}

Deno.test(
  "compilePattern() translates POSIX classes, word boundaries and PostgreSQL's escapes",
  pure,
  () => {
    const cases: [string, string, boolean][] = [
      ["[[:digit:]]+", "a12", true],
      ["^[[:alpha:]_][[:alnum:]_]*$", "a_1", true],
      ["\\mfoo\\M", "a foo b", true],
      ["\\mfoo\\M", "afoob", false],
      ["\\yfoo\\y", "foo", true],
      ["\\Afoo\\Z", "foo", true],
      ["a\\Bb", "a\\b", true],
      ["a.b", "a\nb", true],
      ["]}", "]}", true],
    ];
    for (const [pattern, input, expected] of cases) {
      assert.equal(
        compilePattern(pattern, plain, { extracting: false }).test(input),
        expected,
        pattern,
      );
    }
  },
);

Deno.test("compilePattern() refuses what it cannot translate faithfully with 2201B", pure, () => {
  for (const pattern of ["***:a", "(?i)a", "[[.a.]]", "[[=a=]]", "\\x41", "\\0", "[[:nope:]]"]) {
    refused(() => compilePattern(pattern, plain, { extracting: false }));
  }
  refused(() => parseFlags("x"));
  refused(() => parseFlags("z"), "22023");
});

Deno.test(
  "compilePattern() refuses alternation and lazy quantifiers only where the match chosen differs",
  pure,
  () => {
    assert.equal(compilePattern("a|ab", plain, { extracting: false }).test("ab"), true);
    refused(() => compilePattern("a|ab", plain, { extracting: true }));
    refused(() => compilePattern("a.*?b", plain, { extracting: true }));
    assert.ok(compilePattern("[a|b]+", plain, { extracting: true }));
  },
);

Deno.test(
  "compilePattern() bounds the cost: no (a+)+ shape, patterns and inputs limited",
  pure,
  () => {
    for (const pattern of ["(a+)+b", "(a*)*", "(x|a+){2,}", "((a)+)*"]) {
      refused(() => compilePattern(pattern, plain, { extracting: false }));
    }
    assert.ok(compilePattern("(ab)+(c+)?", plain, { extracting: false }));
    refused(() => compilePattern("a".repeat(PATTERN_CHARS_MAX + 1), plain, { extracting: false }));
    refused(() => compilePattern("a{256}", plain, { extracting: false }));
    refused(() => checkInput("a".repeat(INPUT_CHARS_MAX + 1)), "54000");
  },
);

Deno.test(
  "similarPattern() matches the whole string with LIKE's wildcards and regex groups",
  pure,
  () => {
    assert.equal(similarPattern("a%", "\\").test("abc"), true);
    assert.equal(similarPattern("(a|b)c", "\\").test("xbc"), false);
    assert.equal(similarPattern("a#_c", "#").test("a_c"), true);
    assert.equal(similarPattern("a#_c", "#").test("abc"), false);
    assert.equal(similarPattern("a.c", "\\").test("abc"), false);
  },
);

Deno.test("textArray() quotes as PostgreSQL's array output does", pure, () => {
  assert.equal(textArray(["123"]), "{123}");
  assert.equal(textArray(["a b", null, "", "NULL", 'q"\\']), '{"a b",NULL,"","NULL","q\\"\\\\"}');
});
