// lib/pg/interval.ts on its own: input forms, postgres-style output, the
// binary form, order and arithmetic. Every expected text below is what
// PostgreSQL 15 printed for the same input (checked with the psql
// differential fixture fixtures/psql/datetime.sql and by hand).

import assert from "node:assert/strict";
import {
  addIntervals,
  compareIntervals,
  formatInterval,
  intervalFields,
  intervalFromBinary,
  intervalToBinary,
  justifyInterval,
  normalizeInterval,
  parseInterval,
  scaleInterval,
} from "../../../lib/pg/interval.ts";
import { PgValueError } from "../../../lib/pg/values.ts";

const pure = { permissions: "none" } as const;

const OUTPUTS: [string, string][] = [
  ["90 minutes", "01:30:00"],
  ["1 year 13 months", "2 years 1 mon"],
  ["1.5 days", "1 day 12:00:00"],
  ["1.5 months", "1 mon 15 days"],
  ["1.5 years", "1 year 6 mons"],
  ["@ 1 hour ago", "-01:00:00"],
  ["-1 day +2 hours", "-1 days +02:00:00"],
  ["2 weeks 3 days", "17 days"],
  ["10", "00:00:10"],
  ["1:2", "01:02:00"],
  ["1:2:3.456789", "01:02:03.456789"],
  ["100:00:00", "100:00:00"],
  ["-00:00:01", "-00:00:01"],
  ["P1W", "7 days"],
  ["PT1.5S", "00:00:01.5"],
  ["P1DT12H", "1 day 12:00:00"],
  ["P1Y2M3DT4H5M6S", "1 year 2 mons 3 days 04:05:06"],
  ["1d 2h 3m 4s", "1 day 02:03:04"],
  ["1 year -1 mon", "11 mons"],
  ["-1 year +1 mon", "-11 mons"],
  ["1 day -1 hour", "1 day -01:00:00"],
  ["-1 mon 3 days -04:05:06.5", "-1 mons +3 days -04:05:06.5"],
  ["-2147483648 days", "-2147483648 days"],
  ["0", "00:00:00"],
];

Deno.test("parseInterval() and formatInterval() give PostgreSQL 15's text", pure, () => {
  for (const [input, output] of OUTPUTS) {
    assert.equal(normalizeInterval(input), output, input);
    // The canonical text reads back to the same fields, by the fast path and the full parser.
    assert.deepEqual(intervalFields(output), parseInterval(input), input);
  }
});

Deno.test("parseInterval() refuses what PostgreSQL 15 refuses, with its SQLSTATE", pure, () => {
  const cases: [string, string][] = [
    ["abc", "22007"],
    ["1 day 1 day", "22007"],
    ["1 fortnight", "22007"],
    ["", "22007"],
    ["2147483648 days", "22015"],
    ["-2562047788:00:54.775808", "22007"],
    ["2562047788:00:54.775808", "22015"],
  ];
  for (const [input, code] of cases) {
    assert.throws(() => parseInterval(input), (e) => e instanceof PgValueError && e.code === code);
  }
});

Deno.test("the binary form is 8 bytes of microseconds, 4 of days, 4 of months", pure, () => {
  const value = parseInterval("1 year 2 mons -3 days 04:05:06.000007");
  const bytes = intervalToBinary(value);
  // 14706000007 µs (0x36c8bc087), -3 days, 14 months.
  assert.deepEqual(
    [...bytes],
    [0, 0, 0, 3, 108, 139, 192, 135, 255, 255, 255, 253, 0, 0, 0, 14],
  );
  assert.deepEqual(intervalFromBinary(new DataView(bytes.buffer)), value);
});

Deno.test("order counts a month as 30 days; arithmetic as PostgreSQL 15", pure, () => {
  const i = (text: string) => parseInterval(text);
  assert.equal(compareIntervals(i("1 mon"), i("30 days")), 0);
  assert.equal(compareIntervals(i("1 day"), i("25 hours")), -1);
  assert.equal(formatInterval(scaleInterval(i("1 mon"), 7, true)), "4 days 06:51:25.6896");
  assert.equal(formatInterval(scaleInterval(i("3 days 4 hours"), 2.5, true)), "1 day 06:24:00");
  assert.equal(formatInterval(scaleInterval(i("1 mon"), 1.5, false)), "1 mon 15 days");
  assert.equal(
    formatInterval(justifyInterval(i("-1 mon 3 days -04:05:06.5"))),
    "-27 days -04:05:06.5",
  );
  assert.throws(
    () => addIntervals(i("2147483647 days"), i("1 day"), 1),
    (e) => e instanceof PgValueError && e.code === "22008",
  );
});
