// RecordList (storage/record_list.ts): a transaction's log records, the
// first 64 as objects and the rest encoded, read back as they went in.

import assert from "node:assert/strict";
import { OBJECTS_MAX, RecordList } from "../../../services/datastore/storage/record_list.ts";
import {
  decodeRecord,
  encodeRecord,
  encodeRecordParts,
  RecordKind,
} from "../../../services/datastore/storage/wal_codec.ts";
import type { WalRecord } from "../../../services/datastore/storage/wal_codec.ts";
import { concat } from "../../../lib/bytes.ts";

function recordNumber(n: number): WalRecord {
  const row = new Uint8Array(n % 300).fill(n % 251);
  switch (n % 3) {
    case 0:
      return { kind: RecordKind.insert, lsn: n, txId: 7, tableId: 3, row };
    case 1:
      return { kind: RecordKind.delete, lsn: n, txId: 7, tableId: 4, row };
    default:
      return {
        kind: RecordKind.update,
        lsn: n,
        txId: 7,
        tableId: 5,
        oldRow: new Uint8Array(n % 17).fill(1),
        row,
      };
  }
}

Deno.test("RecordList gives back every record, objects and encoded ones, in order", () => {
  const list = new RecordList();
  const records: WalRecord[] = [];
  // Past OBJECTS_MAX, and past one chunk of encoded bytes (1 MiB), with a record larger than none.
  for (let n = 1; n <= 9000; n++) {
    const record = recordNumber(n);
    records.push(record);
    list.push(record);
    assert.equal(list.length, n);
  }
  const big: WalRecord = {
    kind: RecordKind.insert,
    lsn: 9001,
    txId: 7,
    tableId: 3,
    row: new Uint8Array(3 << 20).fill(9),
  };
  records.push(big);
  list.push(big);
  for (const i of [0, OBJECTS_MAX - 1, OBJECTS_MAX, 5000, 8999, 9000]) {
    assert.deepEqual(list.at(i), records[i], `record ${i}`);
  }
  assert.deepEqual(list.slice(8990), records.slice(8990));
  // As a checkpoint record carries them: the nested encodings one after another.
  const bytes = concat(list.encoded().map((part) => part.slice()));
  const decoded: WalRecord[] = [];
  for (let at = 0; at < bytes.length;) {
    const next = decodeRecord(bytes.subarray(at));
    assert.equal(next.kind, "record");
    if (next.kind !== "record") break;
    decoded.push(next.record);
    at += next.bytesUsed;
  }
  assert.deepEqual(decoded, records);
});

Deno.test("a checkpoint record written in parts is the record encoded whole", () => {
  const list = new RecordList();
  for (let n = 1; n <= 200; n++) list.push(recordNumber(n));
  const frame = { salt: 0x1234_5678, durableLsn: 42 };
  const open = [recordNumber(1), recordNumber(2)];
  const parts = encodeRecordParts(
    { kind: RecordKind.checkpoint, lsn: 300, txId: 0, open, openEncoded: list.encoded() },
    frame,
  );
  const whole = encodeRecord(
    { kind: RecordKind.checkpoint, lsn: 300, txId: 0, open: [...open, ...list.slice(0)] },
    frame,
  );
  assert.deepEqual(concat(parts), whole);
  const decoded = decodeRecord(concat(parts));
  assert.ok(decoded.kind === "record" && decoded.record.kind === RecordKind.checkpoint);
  assert.equal(decoded.record.open.length, 202);
});
