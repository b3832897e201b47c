// Row operations on one table: the heap plus its primary and secondary
// B+tree indexes, kept consistent. The same three operations serve live
// transactions, redo at recovery, and undo at rollback, so there is one code
// path that changes data. Each operation checks everything that can fail
// (types, sizes, constraints) before it changes any page, so a failed
// operation leaves no trace.
//
// Index keys: primary index = key(pk columns) -> row id; secondary index =
// key(index columns) ++ key(pk columns) -> row id, which makes every entry
// unique; a unique index additionally refuses a second entry with the same
// index-column prefix unless one of those columns is NULL (SQL semantics).

import type { Bytes } from "../../../lib/bytes.ts";
import { LimitError } from "../../../lib/errors.ts";
import { BTree, KEY_BYTES_MAX } from "./btree.ts";
import type { BufferPool } from "./buffer_pool.ts";
import { columnIndexes, type IndexDef, type TableDef } from "./catalog.ts";
import { ConstraintError, SchemaError } from "./errors.ts";
import { decodeRid, encodeRid, freeChain, Heap, readChain, type Rid, writeChain } from "./heap.ts";
import { HEAP_TUPLE_BYTES_MAX } from "./pages.ts";
import {
  type ColumnType,
  compareBytes,
  decodeRow,
  type DecodeRowOptions,
  encodeKey,
  encodeRow,
  type OverflowRef,
  overflowRefs,
  prefixEnd,
  type Row,
  typeMismatch,
  type Value,
} from "./row_codec.ts";

/** Var-length values above this leave the row for an overflow chain. */
export const INLINE_VALUE_BYTES_MAX = 2000;

export interface TableLimits {
  /** Largest row, encoded, with every value counted in full. */
  rowBytesMax: number;
}

export class Index {
  readonly def: IndexDef;
  readonly tree: BTree;
  readonly columns: number[];
  readonly types: ColumnType[];

  constructor(pool: BufferPool, table: TableDef, def: IndexDef) {
    this.def = def;
    this.tree = new BTree(pool, def.root);
    this.columns = columnIndexes(table, def.columns);
    this.types = this.columns.map((i) => table.columns[i].type);
  }
}

export class Table {
  readonly def: TableDef;
  readonly types: ColumnType[];
  readonly pkColumns: number[];
  readonly pkTypes: ColumnType[];
  readonly primary: BTree;
  readonly heap: Heap;
  readonly indexes: Index[];
  #pool: BufferPool;
  #limits: TableLimits;
  /** Made once: rows are decoded per row read, the hottest path of a scan. */
  #decodeOptions: DecodeRowOptions;

  constructor(pool: BufferPool, def: TableDef, limits: TableLimits) {
    this.#pool = pool;
    this.#limits = limits;
    this.#decodeOptions = { unspill: (ref) => readChain(pool, ref) };
    this.def = def;
    this.types = def.columns.map((c) => c.type);
    this.pkColumns = columnIndexes(def, def.primaryKey);
    this.pkTypes = this.pkColumns.map((i) => this.types[i]);
    this.primary = new BTree(pool, def.primaryRoot);
    this.heap = new Heap(pool, def.heap);
    this.indexes = def.indexes.map((index) => new Index(pool, def, index));
  }

  /** Adds an index to the table's live state (the caller has built its tree). */
  addIndex(def: IndexDef): Index {
    const index = new Index(this.#pool, this.def, def);
    this.indexes.push(index);
    return index;
  }

  pkKey(values: readonly Value[]): Bytes {
    return encodeKey(this.pkTypes, values);
  }

  pkOf(row: Row): Value[] {
    return this.pkColumns.map((i) => row[i]);
  }

  indexKey(index: Index, row: Row): Bytes {
    const head = encodeKey(index.types, index.columns.map((i) => row[i]));
    const tail = this.pkKey(this.pkOf(row));
    const key = new Uint8Array(head.length + tail.length);
    key.set(head);
    key.set(tail, head.length);
    return key;
  }

  /**
   * Checks a row's shape, types, nullability and size; throws SchemaError or
   * LimitError. Returns its logical encoding and its encoded primary key.
   */
  checkRow(row: Row): { logical: Bytes; pk: Bytes } {
    const { columns } = this.def;
    if (!Array.isArray(row) || row.length !== columns.length) {
      throw new SchemaError(`${this.def.name}: a row needs ${columns.length} values`);
    }
    for (let i = 0; i < columns.length; i++) {
      const value = row[i];
      if (value === undefined) {
        throw new SchemaError(`${this.def.name}.${columns[i].name}: undefined`);
      }
      const mismatch = typeMismatch(columns[i].type, value);
      if (mismatch) throw new SchemaError(`${this.def.name}.${columns[i].name}: ${mismatch}`);
      const notNull = columns[i].nullable === false || this.pkColumns.includes(i);
      if (value === null && notNull) {
        throw new ConstraintError(
          "not_null",
          `${this.def.name}.${columns[i].name} must not be NULL`,
        );
      }
    }
    const logical = encodeRow(this.types, row);
    if (logical.length > this.#limits.rowBytesMax) {
      throw new LimitError(
        "rowBytesMax",
        `row of ${logical.length} bytes exceeds the ${this.#limits.rowBytesMax}-byte limit`,
      );
    }
    const pk = this.pkKey(this.pkOf(row));
    if (pk.length > KEY_BYTES_MAX) {
      throw new LimitError(
        "keyBytesMax",
        `primary key of ${pk.length} bytes exceeds ${KEY_BYTES_MAX}`,
      );
    }
    for (const index of this.indexes) {
      const length = this.indexKey(index, row).length;
      if (length > KEY_BYTES_MAX) {
        throw new LimitError(
          "keyBytesMax",
          `key of index ${index.def.name} is ${length} bytes, over ${KEY_BYTES_MAX}`,
        );
      }
    }
    return { logical, pk };
  }

  #checkUnique(row: Row, ownPk: Uint8Array | null): void {
    for (const index of this.indexes) {
      if (!index.def.unique) continue;
      const values = index.columns.map((i) => row[i]);
      if (values.some((v) => v === null)) continue;
      const prefix = encodeKey(index.types, values);
      const hits = index.tree.scan({
        lower: { key: prefix, inclusive: true },
        upper: { key: prefixEnd(prefix), inclusive: false },
      }, 2);
      for (const hit of hits) {
        const pk = hit.key.subarray(prefix.length);
        if (!ownPk || compareBytes(pk, ownPk) !== 0) {
          throw new ConstraintError(
            index.def.name,
            `duplicate key in unique index ${index.def.name} of ${this.def.name}`,
          );
        }
      }
    }
  }

  #store(row: Row, logical: Bytes): Bytes {
    // A row this short has no value long enough to spill: store it as is.
    if (logical.length <= INLINE_VALUE_BYTES_MAX) return logical;
    let tuple = encodeRow(this.types, row, {
      inlineBytesMax: INLINE_VALUE_BYTES_MAX,
      spill: (value) => writeChain(this.#pool, value),
    });
    if (tuple.length > HEAP_TUPLE_BYTES_MAX) {
      // Many medium values: spill every var-length value.
      for (const ref of overflowRefs(this.types, tuple)) freeChain(this.#pool, ref);
      tuple = encodeRow(this.types, row, {
        inlineBytesMax: 0,
        spill: (value) => writeChain(this.#pool, value),
      });
      if (tuple.length > HEAP_TUPLE_BYTES_MAX) {
        throw new LimitError("rowBytesMax", `${this.def.name}: too many columns to fit a page`);
      }
    }
    return tuple;
  }

  #freeOverflow(rid: Rid): void {
    for (const ref of overflowRefs(this.types, this.heap.read(rid))) freeChain(this.#pool, ref);
  }

  /**
   * For dropping the table: frees the overflow chains of its rows and
   * returns its heap pages (those holding a row, the last page and the
   * free-space list; a page emptied and dropped from the list earlier is
   * not found). The caller frees them with the trees' pages.
   */
  releaseRows(): number[] {
    const pages = new Set<number>(this.heap.state.freeSpacePages);
    if (this.heap.state.lastPage !== 0) pages.add(this.heap.state.lastPage);
    let range = {};
    for (;;) {
      const batch = this.primary.scan(range, 256);
      for (const entry of batch) {
        const rid = decodeRid(entry.value);
        this.#freeOverflow(rid);
        pages.add(rid.page);
      }
      if (batch.length < 256) break;
      range = { lower: { key: batch.at(-1)!.key.slice(), inclusive: false } };
    }
    return [...pages];
  }

  readRid(rid: Rid): Row {
    return decodeRow(this.types, this.heap.read(rid), this.#decodeOptions);
  }

  readRidBytes(rid: Uint8Array): Row {
    return this.readRid(decodeRid(rid));
  }

  /** The row with this encoded primary key, if any. */
  get(pk: Uint8Array): Row | undefined {
    const rid = this.primary.getView(pk); // decoded before anything can change the page
    return rid ? this.readRid(decodeRid(rid)) : undefined;
  }

  /**
   * The row whose columns of unique index `index` hold `values` (none
   * null), if any: one probe of the index and one heap read.
   */
  getByUnique(index: Index, values: readonly Value[]): Row | undefined {
    const rid = index.tree.firstWithPrefix(encodeKey(index.types, values));
    return rid ? this.readRid(decodeRid(rid)) : undefined;
  }

  /** Inserts a row; returns its logical encoding (for the log). */
  insert(row: Row): Bytes {
    const { logical, pk } = this.checkRow(row);
    this.#checkUnique(row, null);
    // The heap insert runs inside the primary-key insert, once the key is
    // known to be new: one descent, and nothing changes on a duplicate.
    let rid: Bytes | undefined;
    const added = this.primary.insertWith(
      pk,
      () => rid = encodeRid(this.heap.insert(this.#store(row, logical))),
    );
    if (!added || !rid) {
      throw new ConstraintError("primary_key", `duplicate primary key in ${this.def.name}`);
    }
    for (const index of this.indexes) index.tree.insert(this.indexKey(index, row), rid);
    return logical;
  }

  /**
   * Deletes by encoded primary key; returns the old row and its logical
   * encoding (for the log), or undefined if absent.
   */
  delete(pk: Uint8Array): { old: Row; oldLogical: Bytes } | undefined {
    const ridBytes = this.primary.get(pk);
    if (!ridBytes) return undefined;
    const rid = decodeRid(ridBytes);
    const { row: old, logical: oldLogical } = this.#readAndRelease(rid);
    for (const index of this.indexes) index.tree.delete(this.indexKey(index, old));
    this.primary.delete(pk);
    this.heap.delete(rid);
    return { old, oldLogical };
  }

  /**
   * Reads the row at `rid` for a change that replaces or removes it: one
   * decode that also frees its overflow chains, and its logical encoding,
   * which is the stored tuple itself (copied) when nothing was spilled.
   */
  #readAndRelease(rid: Rid): { row: Row; logical: Bytes } {
    const tuple = this.heap.read(rid);
    const refs: OverflowRef[] = [];
    const row = decodeRow(this.types, tuple, {
      unspill: this.#decodeOptions.unspill,
      onOverflow: (ref) => refs.push(ref),
    });
    const logical = refs.length === 0 ? tuple.slice() : encodeRow(this.types, row);
    for (const ref of refs) freeChain(this.#pool, ref);
    return { row, logical };
  }

  /**
   * Replaces the row with encoded primary key `pk`; returns the old row and
   * the new row's logical encoding, or undefined if there is no such row.
   */
  update(pk: Uint8Array, row: Row): { old: Row; oldLogical: Bytes; logical: Bytes } | undefined {
    const { logical, pk: newPk } = this.checkRow(row);
    const ridBytes = this.primary.get(pk);
    if (!ridBytes) return undefined;
    const pkChanged = compareBytes(newPk, pk) !== 0;
    if (pkChanged && this.primary.get(newPk)) {
      throw new ConstraintError("primary_key", `duplicate primary key in ${this.def.name}`);
    }
    this.#checkUnique(row, pk);
    const rid = decodeRid(ridBytes);
    const { row: old, logical: oldLogical } = this.#readAndRelease(rid);
    const newRid = this.heap.replace(rid, this.#store(row, logical));
    const ridChanged = newRid.page !== rid.page || newRid.slot !== rid.slot;
    const newRidBytes = encodeRid(newRid);
    if (pkChanged) {
      this.primary.delete(pk);
      this.primary.insert(newPk, newRidBytes);
    } else if (ridChanged) this.primary.replace(pk, newRidBytes);
    for (const index of this.indexes) {
      const oldKey = this.indexKey(index, old);
      const newKey = this.indexKey(index, row);
      if (compareBytes(oldKey, newKey) !== 0) {
        index.tree.delete(oldKey);
        index.tree.insert(newKey, newRidBytes);
      } else if (ridChanged) index.tree.replace(oldKey, newRidBytes);
    }
    return { old, oldLogical, logical };
  }
}
