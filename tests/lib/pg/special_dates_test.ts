// The special date/time inputs of PostgreSQL documentation 8.5.1.4: 'epoch',
// 'infinity', '-infinity', 'now', 'today', 'tomorrow', 'yesterday', in text
// and binary, as PostgreSQL 15 prints and sends them.

import assert from "node:assert/strict";
import { toHex } from "../../../lib/bytes.ts";
import { OID } from "../../../lib/pg/oids.ts";
import { formatBinary, formatText, parseBinary, parseText } from "../../../lib/pg/values.ts";

const pure = { permissions: "none" } as const;

Deno.test("'epoch' and 'infinity' read and print as PostgreSQL 15's", pure, () => {
  const cases: [number, string, string][] = [
    [OID.timestamp, "epoch", "1970-01-01 00:00:00"],
    [OID.timestamptz, "EPOCH", "1970-01-01 00:00:00+00"],
    [OID.date, "epoch", "1970-01-01"],
    [OID.timestamp, "infinity", "infinity"],
    [OID.timestamptz, "-infinity", "-infinity"],
    [OID.date, " Infinity ", "infinity"],
    [OID.date, "-infinity", "-infinity"],
  ];
  for (const [oid, input, output] of cases) {
    const value = parseText(oid, input)!;
    assert.equal(formatText(oid, value), output, input);
    assert.deepEqual(parseBinary(oid, formatBinary(oid, value)), value, input);
  }
  // Binary infinity is int64's (int32's for date) end as such, not shifted to 2000-01-01.
  assert.equal(
    toHex(formatBinary(OID.timestamp, parseText(OID.timestamp, "infinity")!)),
    "7fffffffffffffff",
  );
  assert.equal(toHex(formatBinary(OID.date, parseText(OID.date, "-infinity")!)), "80000000");
});

Deno.test("'tomorrow' is always two days after 'yesterday', 'today' a midnight", pure, () => {
  // The clock is read once per input: reading it twice could straddle a
  // millisecond and land 'today' on the day before (seen about once in 10000).
  for (let i = 0; i < 100_000; i++) {
    const tomorrow = parseText(OID.date, "tomorrow") as number;
    const yesterday = parseText(OID.date, "yesterday") as number;
    assert.equal(tomorrow - yesterday, 2);
  }
  assert.equal((parseText(OID.timestamp, "today") as bigint) % 86_400_000_000n, 0n);
});
