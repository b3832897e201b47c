// Pure codec tests for the storage engine: CRC32C, row encoding, key
// encoding order, page layouts, and log record encoding.

import assert from "node:assert/strict";
import { concat, fromHex, utf8 } from "../../../lib/bytes.ts";
import { DecodeError } from "../../../lib/errors.ts";
import { crc32c } from "../../../services/datastore/storage/crc32c.ts";
import {
  type ColumnType,
  compareBytes,
  decodeRow,
  encodeKey,
  encodeRow,
  prefixEnd,
  type Row,
} from "../../../services/datastore/storage/row_codec.ts";
import {
  decodeNode,
  encodeNode,
  HEAP_TUPLE_BYTES_MAX,
  heapDelete,
  heapFreeBytes,
  heapInsert,
  heapRead,
  heapReplace,
  newPage,
  PAGE_BYTES,
  pageProblem,
  PageType,
  sealPage,
} from "../../../services/datastore/storage/pages.ts";
import {
  decodeRecord,
  encodeRecord,
  type WalRecord,
} from "../../../services/datastore/storage/wal_codec.ts";
import { splitEveryWay } from "../../_support/split.ts";

const pure = { permissions: "none" } as const;

Deno.test({
  name: "crc32c() matches the RFC 3720 B.4 check values",
  ...pure,
  fn() {
    assert.equal(crc32c(utf8("123456789")), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa); // 32 bytes of zeros
    assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43); // 32 bytes of 0xFF
    const split = crc32c(utf8("6789"), crc32c(utf8("12345")));
    assert.equal(split, 0xe3069283);
  },
});

Deno.test({
  name: "crc32c() agrees with the bit-at-a-time definition at every length and alignment",
  ...pure,
  fn() {
    const bitwise = (bytes: Uint8Array) => {
      let crc = 0xffffffff;
      for (const byte of bytes) {
        crc ^= byte;
        for (let k = 0; k < 8; k++) crc = crc & 1 ? 0x82f63b78 ^ (crc >>> 1) : crc >>> 1;
      }
      return ~crc >>> 0;
    };
    // Long enough for the 16-byte word loop, at every alignment of its start.
    const data = new Uint8Array(160).map((_, i) => (i * 151 + 7) & 0xff);
    for (let start = 0; start < 8; start++) {
      for (let end = start; end <= data.length; end++) {
        const part = data.subarray(start, end);
        assert.equal(crc32c(part), bitwise(part), `bytes ${start}..${end}`);
        const cut = (end - start) >> 1;
        const resumed = crc32c(part.subarray(cut), crc32c(part.subarray(0, cut)));
        assert.equal(resumed, bitwise(part), `bytes ${start}..${end} in two calls`);
      }
    }
  },
});

const TYPES: ColumnType[] = ["int64", "float64", "bool", "text", "bytes", "timestamp"];

Deno.test({
  name: "encodeRow() matches its golden bytes",
  ...pure,
  fn() {
    const bytes = encodeRow(["int64", "text", "bool", "float64"], [1n, "hi", null, 0.5]);
    assert.deepEqual(
      bytes,
      fromHex(`
        0004               # 4 columns
        04                 # null bitmap: column 2 is NULL
        0000000000000001   # int64 1
        00000002 6869      # text "hi"
        3fe0000000000000   # float64 0.5
      `),
    );
  },
});

Deno.test({
  name: "decodeRow() round-trips every type, NULLs and extremes",
  ...pure,
  fn() {
    const rows: Row[] = [
      [0n, 0, false, "", new Uint8Array(0), 0n],
      [-(1n << 63n), -Infinity, true, "héllo\u0000", new Uint8Array([0, 255]), (1n << 63n) - 1n],
      [null, null, null, null, null, null],
      [42n, NaN, true, "x".repeat(100_000), new Uint8Array(70_000).fill(7), 1_700_000_000_000_000n],
    ];
    for (const row of rows) {
      const decoded = decodeRow(TYPES, encodeRow(TYPES, row));
      assert.deepEqual(decoded, row);
    }
  },
});

Deno.test({
  name: "decodeRow() rejects every truncation and trailing bytes",
  ...pure,
  fn() {
    const bytes = encodeRow(TYPES, [5n, 1.5, true, "abc", new Uint8Array([1, 2]), 9n]);
    for (let n = 0; n < bytes.length; n++) {
      assert.throws(() => decodeRow(TYPES, bytes.subarray(0, n)), DecodeError);
    }
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    assert.throws(() => decodeRow(TYPES, longer), DecodeError);
  },
});

Deno.test({
  name: "encodeKey() orders keys as their values order, NULL first",
  ...pure,
  fn() {
    const cases: [ColumnType, unknown[]][] = [
      ["int64", [null, -(1n << 63n), -5n, -1n, 0n, 1n, 255n, 256n, (1n << 63n) - 1n]],
      ["float64", [null, -Infinity, -1e300, -1, -0.5, 0, 1e-300, 0.5, 2, Infinity]],
      ["bool", [null, false, true]],
      ["text", [null, "", "\u0000", "\u0000\u0000", "a", "a\u0000", "a\u0000b", "ab", "b"]],
    ];
    for (const [type, values] of cases) {
      const keys = values.map((v) => encodeKey([type], [v as never]));
      for (let i = 1; i < keys.length; i++) {
        assert.ok(
          compareBytes(keys[i - 1], keys[i]) < 0,
          `${type}: ${values[i - 1]} < ${values[i]}`,
        );
      }
    }
  },
});

Deno.test({
  name: "encodeKey() of one int64 (its fast path) is the general encoding's first column",
  ...pure,
  fn() {
    for (const v of [-(1n << 63n), -256n, -1n, 0n, 1n, 255n, 256n, 1n << 40n, (1n << 63n) - 1n]) {
      const alone = encodeKey(["int64"], [v]);
      // Two columns take the general path; its first nine bytes are the int64's.
      const general = encodeKey(["int64", "bool"], [v, true]).subarray(0, 9);
      assert.deepEqual([...alone], [...general], String(v));
    }
    assert.deepEqual([...encodeKey(["int64"], [0n])], [1, 0x80, 0, 0, 0, 0, 0, 0, 0]);
  },
});

Deno.test({
  name:
    "encodeKey() composite keys sort by first column, then the next; prefixEnd() bounds a prefix",
  ...pure,
  fn() {
    const types: ColumnType[] = ["text", "int64"];
    const a = encodeKey(types, ["a", 100n]);
    const ab = encodeKey(types, ["ab", 1n]);
    const a2 = encodeKey(types, ["a", 200n]);
    assert.ok(compareBytes(a, a2) < 0);
    assert.ok(compareBytes(a2, ab) < 0);
    const prefix = encodeKey(["text"], ["a"]);
    assert.ok(compareBytes(a2, prefixEnd(prefix)) < 0);
    assert.ok(compareBytes(ab, prefixEnd(prefix)) > 0);
  },
});

Deno.test({
  name: "heap pages insert, read, delete, replace and compact",
  ...pure,
  fn() {
    const page = newPage(7, PageType.heap);
    const empty = heapFreeBytes(page);
    assert.equal(empty, HEAP_TUPLE_BYTES_MAX);
    const a = heapInsert(page, new Uint8Array(100).fill(1));
    const b = heapInsert(page, new Uint8Array(200).fill(2));
    assert.deepEqual([a, b], [0, 1]);
    assert.deepEqual(heapRead(page, b), new Uint8Array(200).fill(2));
    assert.ok(heapDelete(page, a));
    assert.equal(heapRead(page, a), null);
    assert.ok(!heapDelete(page, a));
    // The freed slot is reused, and space is found by compacting.
    const big = new Uint8Array(heapFreeBytes(page)).fill(3);
    assert.equal(heapInsert(page, big), 0);
    assert.equal(heapFreeBytes(page), 0);
    assert.equal(heapInsert(page, new Uint8Array(1)), -1);
    assert.deepEqual(heapRead(page, 1), new Uint8Array(200).fill(2));
    assert.ok(heapReplace(page, 1, new Uint8Array(50).fill(4)));
    assert.deepEqual(heapRead(page, 1), new Uint8Array(50).fill(4));
    assert.deepEqual(heapRead(page, 0), big);
    assert.ok(!heapReplace(page, 1, new Uint8Array(500)));
  },
});

Deno.test({
  name: "sealPage() checksums; pageProblem() catches a flipped bit and a misplaced page",
  ...pure,
  fn() {
    const page = newPage(3, PageType.heap);
    heapInsert(page, utf8("row"));
    sealPage(page);
    assert.equal(pageProblem(page, 3), null);
    assert.equal(pageProblem(page, 4), "page claims to be page 3");
    page[PAGE_BYTES - 1] ^= 1;
    assert.equal(pageProblem(page, 3), "checksum mismatch");
  },
});

Deno.test({
  name: "B+tree nodes round-trip through a page",
  ...pure,
  fn() {
    const page = newPage(9, PageType.btree);
    const leaf = {
      leaf: true,
      keys: [utf8("a"), utf8("bb")],
      values: [utf8("1"), utf8("22")],
      children: [],
      next: 12,
    };
    encodeNode(page, leaf);
    assert.deepEqual(decodeNode(page), leaf);
    const internal = { leaf: false, keys: [utf8("m")], values: [], children: [4, 5], next: 0 };
    encodeNode(page, internal);
    assert.deepEqual(decodeNode(page), internal);
  },
});

const RECORDS: WalRecord[] = [
  { kind: 1, lsn: 1, txId: 7, tableId: 2, row: utf8("new row") },
  { kind: 2, lsn: 2, txId: 7, tableId: 2, row: utf8("old row") },
  { kind: 3, lsn: 3, txId: 7, tableId: 2, oldRow: utf8("before"), row: utf8("after") },
  { kind: 4, lsn: 4, txId: 7 },
  { kind: 5, lsn: 5, txId: 8 },
  { kind: 6, lsn: 6, txId: 9, json: '{"id":1}' },
  { kind: 8, lsn: 7, txId: 0, open: [{ kind: 1, lsn: 3, txId: 10, tableId: 1, row: utf8("x") }] },
];

Deno.test({
  name: "encodeRecord() matches its golden bytes",
  ...pure,
  fn() {
    const body = `
      4000000000000000   # LSN 2 as float64
      04                 # commit
      00000002           # transaction 2
      5a170001           # salt of the log file
      3ff0000000000000   # LSN 1 was durable when it was appended
    `;
    const crc = crc32c(fromHex(body)).toString(16).padStart(8, "0");
    assert.deepEqual(
      encodeRecord({ kind: 4, lsn: 2, txId: 2 }, { salt: 0x5a17_0001, durableLsn: 1 }),
      fromHex(`
        00000019           # body length 25
        ${crc}             # CRC32C of the body
        ${body}
      `),
    );
  },
});

Deno.test({
  name: "decodeRecord() round-trips every kind, split every way; prefixes are incomplete",
  ...pure,
  fn() {
    for (const record of RECORDS) {
      const frame = { salt: 0xfeed_0007, durableLsn: record.lsn - 1 };
      const bytes = encodeRecord(record, frame);
      const result = decodeRecord(bytes);
      assert.equal(result.kind, "record");
      if (result.kind === "record") {
        assert.deepEqual(result.record, record);
        assert.deepEqual(result.frame, frame);
        assert.equal(result.bytesUsed, bytes.length);
      }
      for (let n = 0; n < bytes.length; n++) {
        assert.equal(decodeRecord(bytes.subarray(0, n)).kind, "incomplete");
      }
      for (const { label, chunks } of splitEveryWay(bytes)) {
        let buffer: Uint8Array = new Uint8Array(0);
        let last = decodeRecord(buffer);
        chunks.forEach((chunk, i) => {
          buffer = concat([buffer, chunk]);
          last = decodeRecord(buffer);
          if (i < chunks.length - 1) assert.equal(last.kind, "incomplete", label);
        });
        assert.deepEqual(last, result, label);
      }
    }
  },
});

Deno.test({
  name: "decodeRecord() rejects a record whose checksum does not match",
  ...pure,
  fn() {
    const bytes = encodeRecord(RECORDS[0]);
    for (const at of [8, 12, bytes.length - 1]) {
      const bad = bytes.slice();
      bad[at] ^= 0x40;
      assert.throws(() => decodeRecord(bad), DecodeError);
    }
  },
});
