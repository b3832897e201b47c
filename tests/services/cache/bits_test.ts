// Bitmap commands through the command layer, with replies taken from
// redis-server 7.0.15 (the random differential test compares many more).

import assert from "node:assert/strict";
import { commandCache, plainReply as plain } from "./harness.ts";

Deno.test({
  name: "SETBIT, BITCOUNT, BITPOS and BITOP answer as Redis 7.0 does",
  permissions: "none",
  fn() {
    const s = commandCache().session();
    const steps: [(string | number | Uint8Array)[], unknown][] = [
      [["SETBIT", "g", 100, 1], 0],
      [["STRLEN", "g"], 13],
      [["SETBIT", "g", 100, 1], 1],
      [["GETBIT", "g", 100], 1],
      [["GETBIT", "g", 1000], 0],
      [["SETBIT", "g", 4294967296, 1], "-ERR bit offset is not an integer or out of range"],
      [["SETBIT", "g", 1, 2], "-ERR bit is not an integer or out of range"],
      [["BITCOUNT", "g", 0, -1, "BIT"], 1],
      [["BITPOS", "g", 1, 0, -1, "BIT"], 100],
      [["BITPOS", "g", 0, 12], 96],
      [["BITPOS", "g", 1, 13, 13], -1],
      [["BITPOS", "g", 2], "-ERR The bit argument must be 1 or 0."],
      [["BITCOUNT", "missing", "x", "y"], 0],
      [["SET", "ones", new Uint8Array([255, 255])], "+OK"],
      [["BITPOS", "ones", 0], 16],
      [["BITPOS", "ones", 0, 0, -1], -1],
      [["BITOP", "NOT", "h", "g", "g"], "-ERR BITOP NOT must be called with a single source key."],
      [["BITOP", "AND", "h", "g", "missing"], 13],
      [["BITCOUNT", "h"], 0],
      [["BITOP", "OR", "h", "missing"], 0],
      [["EXISTS", "h"], 0],
    ];
    for (const [args, expected] of steps) {
      assert.deepEqual(plain(s.run(...args)), expected, args.join(" "));
    }
  },
});

Deno.test({
  name: "BITFIELD overflows wrap, saturate or fail as Redis's checks do, at int64 extremes too",
  permissions: "none",
  fn() {
    const s = commandCache().session();
    assert.deepEqual(
      plain(
        s.run(
          "BITFIELD",
          "f",
          ...["SET", "i8", 0, 100, "INCRBY", "i8", 0, 100, "OVERFLOW", "SAT", "INCRBY", "i8", 0],
          ...[100, "OVERFLOW", "FAIL", "INCRBY", "i8", 0, 100, "GET", "u8", 0],
        ),
      ),
      [0, -56, 44, null, 44],
    );
    assert.deepEqual(
      plain(
        s.run(
          "BITFIELD",
          "f",
          ...["SET", "i64", 0, "-9223372036854775808", "INCRBY", "i64", 0, -1, "OVERFLOW", "SAT"],
          ...["INCRBY", "i64", 0, -1, "GET", "i64", 0],
        ),
      ),
      // -2^63 - 1 wraps to the maximum; saturating, -1 then fits.
      [3170534137668829184n, 9223372036854775807n, 9223372036854775806n, 9223372036854775806n],
    );
    assert.deepEqual(plain(s.run("BITFIELD", "new", "OVERFLOW", "FAIL", "SET", "u2", 100, 9)), [
      null,
    ]);
    assert.equal(s.run("STRLEN", "new"), 13, "created zero-filled though FAIL refused the write");
    assert.deepEqual(
      plain(s.run("BITFIELD_RO", "f", "GET", "i8", 0, "SET", "i8", 0, 1)),
      "-ERR BITFIELD_RO only supports the GET subcommand",
    );
  },
});

Deno.test({
  name: "BITCOUNT answers 0 for an inverted negative range before it reads BYTE|BIT",
  permissions: "none",
  fn() {
    const s = commandCache().session();
    s.run("SET", "k", "foobar");
    // Found by the random differential test (redis-server 7.0.15 answers 0).
    assert.equal(s.run("BITCOUNT", "k", -1, -5, "x"), 0);
    assert.equal(plain(s.run("BITCOUNT", "k", 0, -1, "x")), "-ERR syntax error");
  },
});
