// regex.ts: what the ARE translation refuses rather than answer unlike
// PostgreSQL, and the bounds that keep a pattern from freezing the server.
// The answers themselves are checked against PostgreSQL 15 by
// fixtures/psql/regex.sql.

import assert from "node:assert/strict";
import { SqlError } from "../../../../services/datastore/sql/errors.ts";
import {
  advancePastEmpty,
  checkInput,
  compilePattern,
  INPUT_CHARS_MAX,
  parseFlags,
  PATTERN_CHARS_MAX,
  similarPattern,
  textArray,
  translate,
} from "../../../../services/datastore/sql/regex.ts";
import { linearRegexEngine } from "../../../../lib/v8_flags.ts";

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
  "compilePattern() bounds the cost: exponential shapes only with the linear-time engine",
  pure,
  () => {
    // (a|a)*b's rendering is one the linear-time engine runs; \1 and (?= are not.
    for (const pattern of ["(a+)+b", "(a*)*", "(x|a+){2,}", "((a)+)*", "(a|a)*b", "(.*a){9}"]) {
      if (linearRegexEngine()) assert.ok(compilePattern(pattern, plain, { extracting: false }));
      else refused(() => compilePattern(pattern, plain, { extracting: false }));
    }
    for (const pattern of ["(a|a)*\\1", "(?=a)(a+)+b"]) {
      refused(() => compilePattern(pattern, plain, { extracting: false }));
    }
    assert.ok(compilePattern("(ab)+(c+)?", plain, { extracting: false }));
    refused(() => compilePattern("a".repeat(PATTERN_CHARS_MAX + 1), plain, { extracting: false }));
    refused(() => compilePattern("a{256}", plain, { extracting: false }));
    refused(() => checkInput("a".repeat(INPUT_CHARS_MAX + 1)), "54000");
  },
);

/** A small seeded generator (the same sequence on every run). */
function random(seed: number): (n: number) => number {
  return (n) => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return (seed >>> 8) % n;
  };
}

Deno.test(
  "translate(): the rendering without u finds the same matches as the one with u",
  pure,
  () => {
    // Astral characters, case-insensitivity beyond ASCII, negated classes and
    // escapes are where the two renderings could part.
    const atoms = ["a", "B", "é", "É", "😀", ".", "\\w", "\\W", "\\S", "\\D", "[ab]", "[^a]"]
      .concat(["[a-c]", "[^A-Z]", "[[:upper:]]", "[^[:alpha:]]", "[^\\W]", "\\m", "\\M", "^"])
      .concat(["$", "[]a]", "-", "[é-ö]"]);
    const quantifiers = ["", "", "*", "+", "?", "{1,2}", "*?"];
    const chars = ["a", "A", "b", "B", "é", "É", "😀", "🅰", " ", "\n", "1", "-", "]", "ö"];
    const next = random(7);
    const pattern = (depth: number): string => {
      let out = "";
      for (let i = 1 + next(4); i > 0; i--) {
        const group = depth > 0 && next(4) === 0;
        const atom = group
          ? `(${pattern(depth - 1)}${next(3) === 0 ? `|${pattern(depth - 1)}` : ""})`
          : atoms[next(atoms.length)];
        out += /^(\^|\$|\\[mM])$/.test(atom) ? atom : atom + quantifiers[next(quantifiers.length)];
      }
      return out;
    };
    const matches = (re: RegExp, input: string) => {
      const out: (string | number | undefined)[][] = [];
      re.lastIndex = 0;
      for (let m = re.exec(input); m !== null; m = re.exec(input)) {
        out.push([m.index, ...m]);
        if (m[0] === "") advancePastEmpty(re, input);
      }
      return out;
    };
    let compared = 0;
    for (let k = 0; k < 3000; k++) {
      const source = pattern(2);
      const flags = parseFlags(["", "i", "n", "in"][next(4)]);
      let translated;
      try {
        translated = translate(source, flags);
      } catch {
        continue;
      }
      if (translated.linear === null) continue;
      const lines = flags.newlineSensitive ? "m" : "s";
      const withU = new RegExp(translated.source, `${flags.caseInsensitive ? "i" : ""}${lines}ug`);
      const withoutU = new RegExp(translated.linear, `${lines}g`);
      for (let j = 0; j < 5; j++) {
        let input = "";
        for (let n = next(8); n > 0; n--) input += chars[next(chars.length)];
        assert.deepEqual(matches(withoutU, input), matches(withU, input), `${source} on ${input}`);
        compared++;
      }
    }
    assert.ok(compared > 10000, `${compared} comparisons`);
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
