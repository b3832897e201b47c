// The SQL lexer, table-driven: each input and the tokens it must give, by
// PostgreSQL's lexical rules (documentation 4.1).

import assert from "node:assert/strict";
import { SqlSyntaxError } from "../../../../services/datastore/sql/errors.ts";
import { characterPosition, tokenize } from "../../../../services/datastore/sql/lexer.ts";

/** Pure code: these tests need no permission at all (docs/architecture.md habit 1). */
const pure = { permissions: "none" } as const;

/** Tokens as "kind:text", without the final eof. */
function lex(sql: string): string[] {
  return tokenize(sql).slice(0, -1).map((t) => `${t.kind}:${t.text}`);
}

const CASES: Array<[string, string[]]> = [
  ["SELECT Foo", ["word:select", "word:foo"]],
  ['"Foo" "a""b"', ["quoted:Foo", 'quoted:a"b']],
  ["ÉTÉ", ["word:ÉtÉ"]], // only ASCII letters fold under UTF-8
  ["a$1 _x9", ["word:a$1", "word:_x9"]],
  ["'it''s'", ["string:it's"]],
  ["'a\\nb'", ["string:a\\nb"]],
  ["E'a\\nb\\t\\\\\\''", ["string:a\nb\t\\'"]],
  ["e'\\x41\\101\\u00e9\\U0001F600'", ["string:AAé😀"]],
  ["'a'\n'b'", ["string:ab"]],
  ["'a' \n -- comment\n 'b'", ["string:ab"]],
  ["'a' -- comment\n 'b'", ["string:a", "string:b"]],
  ["'a' 'b'", ["string:a", "string:b"]],
  ["$$it's$$", ["string:it's"]],
  ["$fn$ $$ inside $fn$", ["string: $$ inside "]],
  ["$1 $23", ["param:1", "param:23"]],
  ["1 1.5 .5 5. 1e3 1.5E-3 1..2", [
    "integer:1",
    "numeric:1.5",
    "numeric:.5",
    "numeric:5.",
    "numeric:1e3",
    "numeric:1.5E-3",
    "integer:1",
    "op:..",
    "integer:2",
  ]],
  ["a::int", ["word:a", "op:::", "word:int"]],
  ["a<=b>=c<>d!=e", [
    "word:a",
    "op:<=",
    "word:b",
    "op:>=",
    "word:c",
    "op:<>",
    "word:d",
    "op:<>",
    "word:e",
  ]],
  ["1+-2", ["integer:1", "op:+", "op:-", "integer:2"]],
  ["1 @- 2", ["integer:1", "op:@-", "integer:2"]],
  ["a->>'k'", ["word:a", "op:->>", "string:k"]],
  ["a*/* c */b", ["word:a", "op:*", "word:b"]],
  ["a--b\nc", ["word:a", "word:c"]],
  ["/* a /* nested */ still */ x", ["word:x"]],
  ["(a, b);", ["op:(", "word:a", "op:,", "word:b", "op:)", "op:;"]],
  ["t.* [1]", ["word:t", "op:.", "op:*", "op:[", "integer:1", "op:]"]],
];

Deno.test("tokenize() follows PostgreSQL's lexical rules", pure, () => {
  for (const [sql, tokens] of CASES) assert.deepEqual(lex(sql), tokens, sql);
});

Deno.test(
  "tokens carry their offsets, and positions count characters as PostgreSQL does",
  pure,
  () => {
    const tokens = tokenize("SELECT 'é', x");
    assert.deepEqual(tokens.map((t) => [t.start, t.end]), [[0, 6], [7, 10], [10, 11], [12, 13], [
      13,
      13,
    ]]);
    assert.equal(characterPosition("😀 x", 3), 3); // the emoji is one character, two UTF-16 units
  },
);

Deno.test("tokenize() refuses what PostgreSQL's scanner refuses", pure, () => {
  const cases: Array<[string, string, number]> = [
    ["'open", `unterminated quoted string at or near "'open"`, 1],
    ['x "open', `unterminated quoted identifier at or near ""open"`, 3],
    ['""', `zero-length delimited identifier at or near """"`, 1],
    ["$q$ open", `unterminated dollar-quoted string at or near "$q$ open"`, 1],
    ["/* open /* */", `unterminated /* comment at or near "/* open /* */"`, 1],
    ["12abc", `trailing junk after numeric literal at or near "12abc"`, 1],
    ["$1x", `trailing junk after parameter at or near "$1x"`, 1],
    ["E'\\u12'", "invalid Unicode escape", 3],
    ["E'\\u0000'", "invalid Unicode escape value", 3],
    ["a \\ b", `syntax error at or near "\\"`, 3],
  ];
  for (const [sql, message, position] of cases) {
    assert.throws(
      () => tokenize(sql),
      (e: unknown) =>
        e instanceof SqlSyntaxError && e.message === message && e.position === position,
      sql,
    );
  }
});
