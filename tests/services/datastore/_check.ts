// Shared check for datastore tests: every index of every table holds exactly
// the table's rows, in index order.

import assert from "node:assert/strict";
import { encodeKey } from "../../../services/datastore/storage/row_codec.ts";
import { compareBytes } from "../../../services/datastore/storage/row_codec.ts";
import type { Engine, Row, Transaction } from "../../../services/datastore/storage/engine.ts";

export async function checkIndexes(engine: Engine, tx: Transaction): Promise<void> {
  for (const table of engine.tables()) {
    const colIndex = (name: string) => table.columns.findIndex((c) => c.name === name);
    const pkCols = table.primaryKey.map(colIndex);
    const pkTypes = pkCols.map((i) => table.columns[i].type);
    const pkOf = (row: Row) => String(encodeKey(pkTypes, pkCols.map((i) => row[i])));
    const rows: Row[] = [];
    for await (const row of tx.scan(table.name)) rows.push(row);
    const byPk = new Map(rows.map((r) => [pkOf(r), JSON.stringify(r, replacer)]));
    assert.equal(byPk.size, rows.length, `${table.name}: duplicate primary keys in scan`);
    for (const index of table.indexes) {
      const cols = index.columns.map(colIndex);
      const types = cols.map((i) => table.columns[i].type);
      const seen: Row[] = [];
      for await (const row of tx.indexScan(table.name, index.name)) seen.push(row);
      assert.equal(
        seen.length,
        rows.length,
        `${table.name}.${index.name}: ${seen.length} entries, ${rows.length} rows`,
      );
      let previous: Uint8Array | null = null;
      for (const row of seen) {
        assert.equal(
          byPk.get(pkOf(row)),
          JSON.stringify(row, replacer),
          `${index.name} row differs from table`,
        );
        const key = encodeKey(types, cols.map((i) => row[i]));
        if (previous) assert.ok(compareBytes(previous, key) <= 0, `${index.name} out of order`);
        previous = key;
      }
    }
  }
}

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Uint8Array) return [...value];
  return value;
}
