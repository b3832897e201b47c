// The value codecs against PostgreSQL 15 itself: fixtures/values.json holds,
// for each input of fixtures/value_inputs.ts, the real server's text output,
// its binary output (the type's send function), or its error, captured by
// tests/_support/pg_capture.ts `values`. Every row must match exactly.

import assert from "node:assert/strict";
import { fromHex, toHex } from "../../../lib/bytes.ts";
import { OID } from "../../../lib/pg/oids.ts";
import VALUES from "./fixtures/values.json" with { type: "json" };
import {
  formatBinary,
  formatFloat,
  formatText,
  parseBinary,
  parseText,
  PgValueError,
} from "../../../lib/pg/values.ts";

/** Pure code: these tests need no permission at all (docs/architecture.md habit 1). */
const pure = { permissions: "none" } as const;

interface Row {
  type: keyof typeof OID;
  input: string;
  text?: string;
  binary?: string;
  error?: { code: string; message: string };
}

const ROWS = VALUES as Row[];

Deno.test(
  "parseText/formatText/formatBinary/parseBinary agree with PostgreSQL 15 on every captured value",
  pure,
  () => {
    const failures: string[] = [];
    for (const row of ROWS) {
      const oid = OID[row.type];
      const label = `${row.type} ${JSON.stringify(row.input)}`;
      try {
        if (row.error) {
          assert.throws(
            () => parseText(oid, row.input),
            (e: unknown) =>
              e instanceof PgValueError && e.code === row.error!.code &&
              e.message === row.error!.message,
          );
          continue;
        }
        const value = parseText(oid, row.input);
        assert.ok(value !== null);
        assert.equal(formatText(oid, value), row.text, "text output");
        assert.equal(toHex(formatBinary(oid, value)), row.binary, "binary output");
        const back = parseBinary(oid, fromHex(row.binary!));
        assert.ok(back !== null);
        assert.equal(formatText(oid, back), row.text, "text of the binary value");
      } catch (error) {
        failures.push(`${label}: ${(error as Error).message.split("\n")[0]}`);
      }
    }
    assert.deepEqual(failures, []);
  },
);

Deno.test("formatFloat() prints shortest round-trip digits as float8out does", pure, () => {
  for (const value of [0.1, 1 / 3, 2 ** 53, 5e-324, 1.7976931348623157e308, -123.456]) {
    assert.equal(Number(formatFloat(value)), value);
  }
  assert.equal(formatFloat(1e21), "1e+21");
  assert.equal(formatFloat(100), "100");
});

Deno.test("parseBinary() refuses a fixed-width value of the wrong length", pure, () => {
  assert.throws(() => parseBinary(OID.int4, new Uint8Array(3)), PgValueError);
  assert.throws(() => parseBinary(OID.numeric, fromHex("0001 0000 0000 0000")), PgValueError);
});

Deno.test("jsonb input nested past its bound is refused, not a stack overflow", pure, () => {
  const deep = "[".repeat(5000) + "]".repeat(5000);
  assert.throws(
    () => parseText(OID.jsonb, deep),
    (e: unknown) => e instanceof PgValueError && e.code === "54001",
  );
});
