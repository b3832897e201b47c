// Pure tests of decodeLog(): where a log file ends, and when its damage is
// refused. Logs are built record by record with encodeRecord(), so each case
// states exactly which write every record belonged to (its durable LSN).

import assert from "node:assert/strict";
import {
  CorruptionError,
  UnsupportedFormatError,
} from "../../../services/datastore/storage/errors.ts";
import {
  decodeLog,
  encodeLogHeader,
  encodeRecord,
  joinBytes,
  LOG_FORMAT_VERSION,
  LOG_HEADER_BYTES,
  type WalRecord,
} from "../../../services/datastore/storage/wal_codec.ts";

const pure = { permissions: "none" } as const;
const SALT = 0x1234_5678;
const OTHER_SALT = 0x0bad_cafe;
const CHECKPOINT_LSN = 10;

interface Built {
  bytes: Uint8Array;
  /** Byte offset of the record with each LSN. */
  offsets: Map<number, number>;
  /** Where the records end (zeros follow). */
  end: number;
}

/**
 * A log file: a checkpoint at LSN 10, then one insert per LSN up to
 * `lastLsn`, then `zeros` bytes of preallocated zeros. `durableAt(lsn)` is
 * the durable LSN each record was appended with: `lsn - 1` when every record
 * was its own fsynced write.
 */
function buildLog(
  lastLsn: number,
  options: { durableAt?: (lsn: number) => number; salt?: number; zeros?: number } = {},
): Built {
  const salt = options.salt ?? SALT;
  const durableAt = options.durableAt ?? ((lsn: number) => lsn - 1);
  const parts: Uint8Array[] = [encodeLogHeader()];
  const offsets = new Map<number, number>();
  let at = LOG_HEADER_BYTES;
  for (let lsn = CHECKPOINT_LSN; lsn <= lastLsn; lsn++) {
    const record: WalRecord = lsn === CHECKPOINT_LSN
      ? { kind: 8, lsn, txId: 0, open: [] }
      : { kind: 1, lsn, txId: 3, tableId: 1, row: new TextEncoder().encode(`row ${lsn}`) };
    const bytes = encodeRecord(record, { salt, durableLsn: durableAt(lsn) });
    offsets.set(lsn, at);
    parts.push(bytes);
    at += bytes.length;
  }
  parts.push(new Uint8Array(options.zeros ?? 4096));
  return { bytes: joinBytes(parts), offsets, end: at };
}

function lsns(bytes: Uint8Array): number[] {
  return decodeLog(bytes, "wal.log").records.map((r) => r.lsn);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function refusesAt(bytes: Uint8Array, offset: number): void {
  assert.throws(
    () => decodeLog(bytes, "/data/wal.log"),
    (e) =>
      e instanceof CorruptionError && e.path === "/data/wal.log" && e.offsetBytes === offset &&
      e.message.includes(`/data/wal.log: the log record at byte ${offset} `) &&
      /damage in the middle of the log/.test(e.message),
  );
}

Deno.test({
  name: "decodeLog() reads every record of an intact log and ends at the zeros",
  ...pure,
  fn() {
    const log = buildLog(20);
    const decoded = decodeLog(log.bytes, "wal.log");
    assert.deepEqual(decoded.records.map((r) => r.lsn), range(10, 20));
    assert.equal(decoded.validBytes, log.end);
    assert.equal(decoded.salt, SALT);
  },
});

Deno.test({
  name: "decodeLog() refuses a damaged record followed by records fsynced after it",
  ...pure,
  fn() {
    const damages: [string, (bytes: Uint8Array, at: number) => void][] = [
      ["a flipped bit in the row", (b, at) => b[at + 40] ^= 0x04],
      ["a flipped bit in the length", (b, at) => b[at + 3] ^= 0x01],
      ["a zeroed sector", (b, at) => b.fill(0, at, at + 512)],
      ["garbage over two records", (b, at) => b.fill(0xab, at, at + 60)],
    ];
    for (const [label, damage] of damages) {
      const log = buildLog(60);
      const at = log.offsets.get(15)!;
      damage(log.bytes, at);
      assert.doesNotThrow(() => decodeRecordsBefore(log.bytes, at), label);
      refusesAt(log.bytes, at);
    }
  },
});

Deno.test({
  name: "decodeLog() finds later records whatever bytes of the salt are zero",
  ...pure,
  fn() {
    for (const salt of [0x0000_00ff, 0xff00_0000, 0x0001_0000, 0xffff_ffff]) {
      const log = buildLog(30, { salt });
      const at = log.offsets.get(25)!;
      log.bytes[at + 40] ^= 0x01;
      refusesAt(log.bytes, at);
      const torn = buildLog(30, { salt });
      torn.bytes[torn.offsets.get(30)! + 40] ^= 0x01;
      assert.deepEqual(lsns(torn.bytes), range(10, 29));
    }
  },
});

/** The records before the damage are intact (the damage is where we put it). */
function decodeRecordsBefore(bytes: Uint8Array, at: number): void {
  assert.deepEqual(lsns(bytes.subarray(0, at)), range(10, 14));
}

Deno.test({
  name: "decodeLog() cuts a torn tail, also when later records of the same write survive",
  ...pure,
  fn() {
    // LSNs 15..20 were one group-committed write that was never fsynced (a
    // power cut can persist its sectors in any order): each carries durable
    // LSN 14. Damage at 15 with 16..20 intact is a torn write, not refused.
    const log = buildLog(20, { durableAt: (lsn) => Math.min(lsn - 1, 14) });
    log.bytes[log.offsets.get(15)! + 30] ^= 0x80;
    assert.deepEqual(lsns(log.bytes), range(10, 14));
    // Truncated in the middle of the last record, or garbage over it.
    const plain = buildLog(20);
    const last = plain.offsets.get(20)!;
    assert.deepEqual(lsns(plain.bytes.subarray(0, last + 7)), range(10, 19));
    plain.bytes.fill(0xab, last + 5);
    assert.deepEqual(lsns(plain.bytes), range(10, 19));
    // A record of the next write torn after the previous one was fsynced.
    const next = buildLog(20);
    next.bytes.fill(0, next.offsets.get(20)! + 20, next.end);
    assert.equal(decodeLog(next.bytes, "wal.log").validBytes, next.offsets.get(20));
  },
});

Deno.test({
  name: "decodeLog() ignores another log file's leftovers after the end, whatever their LSNs",
  ...pure,
  fn() {
    // A file reused in place: this log (salt SALT) ends at LSN 20 and an
    // older file's records (OTHER_SALT) follow, with higher LSNs and durable
    // LSNs than ours, as if they were later records.
    const ours = buildLog(20, { zeros: 0 });
    const old = buildLog(400, { salt: OTHER_SALT, zeros: 0 });
    const reused = old.bytes.slice();
    reused.set(ours.bytes);
    assert.ok(reused.length > ours.end + 5000);
    const decoded = decodeLog(reused, "wal.log");
    assert.deepEqual(decoded.records.map((r) => r.lsn), range(10, 20));
    assert.equal(decoded.validBytes, ours.end);
    // The same bytes with our salt would be later records: refused.
    const same = buildLog(400, { zeros: 0 });
    const overwritten = same.bytes.slice();
    overwritten.set(ours.bytes);
    overwritten.fill(0, ours.end, ours.end + 100);
    refusesAt(overwritten, ours.end);
  },
});

Deno.test({
  name: "decodeLog() refuses a log whose first record is damaged; all zeros is an empty log",
  ...pure,
  fn() {
    const log = buildLog(12);
    log.bytes[LOG_HEADER_BYTES + 4] ^= 0x01;
    assert.throws(
      () => decodeLog(log.bytes, "wal.log"),
      (e) =>
        e instanceof CorruptionError && e.offsetBytes === LOG_HEADER_BYTES &&
        /first record/.test(e.message),
    );
    assert.deepEqual(decodeLog(new Uint8Array(4096), "wal.log"), {
      records: [],
      validBytes: 0,
      salt: 0,
    });
    assert.deepEqual(decodeLog(new Uint8Array(0), "wal.log").records, []);
  },
});

Deno.test({
  name: "decodeLog() refuses a log of another format version, or one without a header",
  ...pure,
  fn() {
    const log = buildLog(12);
    log.bytes.set(encodeLogHeader(LOG_FORMAT_VERSION + 1));
    assert.throws(
      () => decodeLog(log.bytes, "/data/wal.log"),
      (e) =>
        e instanceof UnsupportedFormatError && e.version === LOG_FORMAT_VERSION + 1 &&
        e.path === "/data/wal.log" &&
        e.message === `/data/wal.log: log format version ${LOG_FORMAT_VERSION + 1}; ` +
            `this build reads versions 1 to ${LOG_FORMAT_VERSION}`,
    );
    // Version 1 (before the drop-index record) is still read, record for record.
    const older = buildLog(12);
    older.bytes.set(encodeLogHeader(1));
    assert.deepEqual(
      decodeLog(older.bytes, "wal.log").records,
      decodeLog(buildLog(12).bytes, "wal.log").records,
    );
    // A file from before the header: records from byte 0.
    const old = buildLog(12).bytes.subarray(LOG_HEADER_BYTES);
    assert.throws(
      () => decodeLog(old, "wal.log"),
      (e) => e instanceof CorruptionError && /no log header/.test(e.message),
    );
  },
});
