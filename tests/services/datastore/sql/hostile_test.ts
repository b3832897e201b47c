// SQL polite clients never send: seeded random edits of the corpus (tokens
// dropped, doubled, swapped; characters cut). The parser must return a tree
// or throw SqlSyntaxError/SqlLimitError, never a TypeError from a missing
// case or a stack overflow.

import assert from "node:assert/strict";
import { SqlLimitError, SqlSyntaxError } from "../../../../services/datastore/sql/errors.ts";
import { parseSql } from "../../../../services/datastore/sql/parser.ts";
import { printStatement } from "../../../../services/datastore/sql/printer.ts";
import { EXPRESSIONS, PGBENCH, STATEMENTS } from "./fixtures/corpus.ts";

/** Pure code: these tests need no permission at all (docs/architecture.md habit 1). */
const pure = { permissions: "none" } as const;

function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CORPUS = [...EXPRESSIONS.map((expr) => `SELECT ${expr}`), ...STATEMENTS, ...PGBENCH];

function edit(sql: string, next: () => number): string {
  const words = sql.split(/(\s+|(?=[(),;])|(?<=[(),;]))/).filter((w) =>
    w !== undefined && w !== ""
  );
  const pick = () => Math.floor(next() * words.length);
  switch (Math.floor(next() * 5)) {
    case 0:
      words.splice(pick(), 1);
      break;
    case 1: {
      const at = pick();
      words.splice(at, 0, words[at]);
      break;
    }
    case 2: {
      const [a, b] = [pick(), pick()];
      [words[a], words[b]] = [words[b], words[a]];
      break;
    }
    case 3:
      return sql.slice(0, Math.floor(next() * sql.length));
    default:
      words.splice(pick(), 0, CORPUS[Math.floor(next() * CORPUS.length)].split(" ")[1] ?? "(");
  }
  return words.join("");
}

Deno.test("edited statements parse or fail with SqlSyntaxError/SqlLimitError only", pure, () => {
  const next = random(42);
  let failures = 0;
  for (let round = 0; round < 10; round++) {
    for (const sql of CORPUS) {
      const edited = edit(sql, next);
      try {
        const { statements } = parseSql(edited);
        // Whatever parses must print and parse back to the same tree.
        const printed = statements.map(printStatement).join("; ");
        assert.deepEqual(
          parseSql(printed).statements,
          statements,
          `${edited} printed as ${printed}`,
        );
      } catch (error) {
        failures++;
        assert.ok(
          error instanceof SqlSyntaxError || error instanceof SqlLimitError,
          `${JSON.stringify(edited)}: ${error}`,
        );
      }
    }
  }
  assert.ok(failures > 0);
});
