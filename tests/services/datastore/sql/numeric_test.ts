// NUMERIC arithmetic on its own: exactness, the scales numeric.c picks,
// special values, rounding half away from zero. Every expected value here
// was checked against PostgreSQL 15 by hand with psql; the evaluator's
// differential table checks the same through SQL.

import assert from "node:assert/strict";
import {
  addDecimal,
  compareDecimal,
  decimalFromNumber,
  divideDecimal,
  fromDecimal,
  multiplyDecimal,
  NumericError,
  roundDecimal,
  toDecimal,
} from "../../../../services/datastore/sql/numeric.ts";

/** Pure code: these tests need no permission at all (docs/architecture.md habit 1). */
const pure = { permissions: "none" } as const;

const n = toDecimal;

Deno.test("numeric arithmetic is exact and keeps PostgreSQL's scales", pure, () => {
  assert.equal(fromDecimal(addDecimal(n("0.1"), n("0.2"))), "0.3");
  assert.equal(fromDecimal(addDecimal(n("1.50"), n("-1.5"))), "0.00");
  assert.equal(fromDecimal(multiplyDecimal(n("2.000"), n("1.50"))), "3.00000");
  assert.equal(fromDecimal(divideDecimal(n("1"), n("3"))), "0.33333333333333333333");
  assert.equal(fromDecimal(divideDecimal(n("10.0"), n("3"))), "3.3333333333333333");
  assert.equal(fromDecimal(divideDecimal(n("-2"), n("3"))), "-0.66666666666666666667");
  assert.equal(
    fromDecimal(multiplyDecimal(n("99999999999999999999"), n("99999999999999999999"))),
    "9999999999999999999800000000000000000001",
  );
});

Deno.test("special values order and combine as in PostgreSQL 14+", pure, () => {
  assert.equal(compareDecimal(n("NaN"), n("NaN")), 0);
  assert.equal(compareDecimal(n("NaN"), n("Infinity")), 1);
  assert.equal(compareDecimal(n("-Infinity"), n("-1")), -1);
  assert.equal(fromDecimal(addDecimal(n("Infinity"), n("1"))), "Infinity");
  assert.equal(fromDecimal(multiplyDecimal(n("Infinity"), n("0"))), "NaN");
  assert.equal(fromDecimal(divideDecimal(n("1"), n("Infinity"))), "0");
  assert.throws(
    () => divideDecimal(n("1"), n("0.00")),
    (e: unknown) => e instanceof NumericError && e.code === "22012",
  );
});

Deno.test("rounding is half away from zero, to any scale", pure, () => {
  assert.equal(fromDecimal(roundDecimal(n("2.5"), 0)), "3");
  assert.equal(fromDecimal(roundDecimal(n("-2.5"), 0)), "-3");
  assert.equal(fromDecimal(roundDecimal(n("1234.5"), -2)), "1200");
  assert.equal(fromDecimal(roundDecimal(n("1.005"), 2)), "1.01");
  assert.equal(fromDecimal(roundDecimal(n("7"), 3)), "7.000");
});

Deno.test("a float becomes numeric through 15 significant digits, as float8_numeric", pure, () => {
  assert.equal(fromDecimal(decimalFromNumber(0.1)), "0.1");
  assert.equal(fromDecimal(decimalFromNumber(1 / 3)), "0.333333333333333");
  assert.equal(fromDecimal(decimalFromNumber(1e20)), "100000000000000000000");
  assert.equal(fromDecimal(decimalFromNumber(-2.5e-7)), "-0.00000025");
});
