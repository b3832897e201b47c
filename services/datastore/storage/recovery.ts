// Recovery: replaying the log over the last checkpoint. Pure logic over log
// records; the engine supplies how to redo and undo one record.
//
// The data file holds exactly the state as of the checkpoint whose LSN its
// meta page records (pages are written only by checkpoints, through the
// double-write file). So, in log order:
//   - records after that LSN are redone (logical redo through the same code
//     path live operations use);
//   - every data record is remembered per transaction, also those at or
//     before the LSN and those a checkpoint record lists as still open, so
//     they can be undone;
//   - a commit forgets its transaction; an abort after the LSN undoes it
//     (rollback is not logged record by record, so replay repeats it).
// At the end of the log, transactions with neither commit nor abort lost
// the race with the crash: all their records are undone, newest first.
// The engine then takes a checkpoint, so the next start begins clean.
//
// That checkpoint writes pages with the losers already undone, but its log
// restart (the rename of a new log file) is a separate step: a crash in
// between pairs those pages with the old log, whose losers must not be
// undone a second time (undoing a delete twice inserts a row twice). So the
// meta page says whether any transaction was open at its checkpoint; when
// none was (`committedOnly`, as after recovery), the pages hold committed
// work only and records at or before the checkpoint LSN are never undone.

import { RecordKind, type WalRecord } from "./wal.ts";

export interface ReplayTarget {
  redo(record: WalRecord): void;
  undo(record: WalRecord): void;
}

export interface ReplaySummary {
  redone: number;
  undone: number;
  committed: number;
  /** Transactions rolled back because the log ended before their commit. */
  losers: number[];
  lastLsn: number;
  txIdMax: number;
}

/** What the data file's meta page says about its checkpoint. */
export interface CheckpointFacts {
  checkpointLsn: number;
  /** No transaction was open at the checkpoint (see the file comment). */
  committedOnly: boolean;
}

export function replay(
  records: readonly WalRecord[],
  checkpoint: CheckpointFacts,
  target: ReplayTarget,
): ReplaySummary {
  const { checkpointLsn, committedOnly } = checkpoint;
  const open = new Map<number, WalRecord[]>();
  const summary: ReplaySummary = {
    redone: 0,
    undone: 0,
    committed: 0,
    losers: [],
    lastLsn: checkpointLsn,
    txIdMax: 0,
  };
  const track = (record: WalRecord) => {
    if (committedOnly && record.lsn <= checkpointLsn) return;
    let list = open.get(record.txId);
    if (!list) open.set(record.txId, list = []);
    list.push(record);
    summary.txIdMax = Math.max(summary.txIdMax, record.txId);
  };
  const undoAll = (list: readonly WalRecord[]) => {
    for (let i = list.length - 1; i >= 0; i--) {
      target.undo(list[i]);
      summary.undone++;
    }
  };
  for (const record of records) {
    summary.lastLsn = Math.max(summary.lastLsn, record.lsn);
    summary.txIdMax = Math.max(summary.txIdMax, record.txId);
    switch (record.kind) {
      case RecordKind.checkpoint:
        for (const inner of record.open) track(inner);
        break;
      case RecordKind.commit:
        if (open.delete(record.txId)) summary.committed++;
        break;
      case RecordKind.abort:
        if (record.lsn > checkpointLsn) undoAll(open.get(record.txId) ?? []);
        open.delete(record.txId);
        break;
      default:
        track(record);
        if (record.lsn > checkpointLsn) {
          target.redo(record);
          summary.redone++;
        }
    }
  }
  const losers = [...open.values()].flat().sort((a, b) => a.lsn - b.lsn);
  undoAll(losers);
  summary.losers = [...open.keys()];
  return summary;
}
