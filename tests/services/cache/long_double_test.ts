// INCRBYFLOAT's arithmetic in x87 long double, as Redis computes it. The
// expected texts are redis-server 7.0.15's replies to
// `SET t a` then `INCRBYFLOAT t b` (captured with redis-cli on x86-64).

import assert from "node:assert/strict";
import {
  addLongDouble,
  formatLongDouble,
  isInfinite,
  parseLongDouble,
} from "../../../services/cache/long_double.ts";
import { commandCache } from "./harness.ts";

const REDIS_SUMS: [string, string, string][] = [
  ["0.1", "0.2", "0.3"],
  ["5.0e3", "0", "5000"],
  ["-0", "0", "0"],
  ["1.23456789012345678901", "0", "1.23456789012345679"],
  ["9223372036854775807", "1", "9223372036854775808"],
  ["3.5", "-0.25", "3.25"],
  ["1", "1e-20", "1"],
  ["-1.5", "1.5", "0"],
  ["123456789.123456789", "0.000000001", "123456789.12345678999554366"],
  ["2.5e-5", "1", "1.000025"],
  ["1e-17", "0", "0.00000000000000001"],
  ["5e-18", "0", "0"],
  ["0.3", "-0.1", "0.2"],
];

Deno.test({
  name: "long double sums print as Redis prints them",
  permissions: "none",
  fn() {
    for (const [a, b, expected] of REDIS_SUMS) {
      const sum = addLongDouble(parseLongDouble(a)!, parseLongDouble(b)!);
      assert.ok(sum !== null && !isInfinite(sum), `${a} + ${b}`);
      assert.equal(formatLongDouble(sum), expected, `${a} + ${b}`);
    }
    // 1e308 + 1e308 does not overflow in long double: 309 digits.
    const big = addLongDouble(parseLongDouble("1e308")!, parseLongDouble("1e308")!);
    assert.ok(big !== null && !isInfinite(big));
    assert.match(formatLongDouble(big), /^19999999999999999999337175931\d{280}$/);
    assert.equal(parseLongDouble("nan"), null);
    assert.equal(parseLongDouble(" 1"), null);
    assert.equal(parseLongDouble("1e99999"), "inf");
  },
});

Deno.test({
  name: "INCRBYFLOAT and HINCRBYFLOAT compute in long double",
  permissions: "none",
  fn() {
    const client = commandCache().session();
    const text = (v: unknown) => new TextDecoder().decode(v as Uint8Array);
    client.run("INCRBYFLOAT", "x", "0.1");
    assert.equal(text(client.run("INCRBYFLOAT", "x", "0.2")), "0.3");
    client.run("HSET", "h", "f", "9223372036854775807");
    assert.equal(text(client.run("HINCRBYFLOAT", "h", "f", "1")), "9223372036854775808");
  },
});
