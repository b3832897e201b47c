// Enumerated types (PostgreSQL 15 docs, 8.7 "Enumerated Types"; 9.10 "Enum
// Support Functions"; CREATE TYPE ... AS ENUM, ALTER TYPE, DROP TYPE).
//
// - An enum is a SqlType of its own, spelled `enum:<oid>.<token>`: the OID
//   is the type's (RowDescription carries it, as PostgreSQL sends a new OID
//   per type), the random token makes the name unique in the process, so
//   two databases in one process (the tests) never mix up their types.
//   Columns keep that name in the catalog's JSON; `ENUMS` maps it to the
//   definition, which lists the labels with their sort orders.
// - Values are the label's text, in memory and in the engine (a text
//   column), so stored rows, keys and indexes need no conversion. Order is
//   the declaration order (pg_enum.enumsortorder, a float4 as PostgreSQL's:
//   ADD VALUE BEFORE/AFTER takes the midpoint of its neighbours), so the
//   planner uses an index on an enum column for equality only (its bytes
//   order is not the type's).
// - Casts: from unknown and the string types by label (22P02 `invalid input
//   value for enum mood: "x"`), to the string types as the label; between
//   an enum and anything else there is none (42846), and `mood = text`
//   has no operator (42883), as in PostgreSQL.
// - Definitions live in the engine table `sql_types` (name, JSON), written
//   in the DDL's transaction; the in-memory copy is put back by the
//   transaction's catalog undo on rollback, so a type is as durable as a
//   table's catalog row.
// - Name lookups (`mood` in a cast or a column definition) go to the
//   database being planned: `useEnumTypes` is called by prepare(), which is
//   synchronous.
//
// - RENAME VALUE rewrites the rows holding the label (see `relabel`).
//
// Left out: DROP TYPE ...
// CASCADE (0A000), arrays of enums, ALTER TYPE ... OWNER/SET SCHEMA, enum
// values added in an open block used before its commit (PostgreSQL's
// 55P04 check).

import type { Engine, Row, TableSpec, Transaction, Value } from "../storage/engine.ts";
import type { PgValue } from "../../../lib/pg/values.ts";
import type { EnumAction, QualifiedName, Statement } from "./ast.ts";
import type { SqlTable } from "./catalog.ts";
import { SqlError } from "./errors.ts";
import type { Compiled, SqlType } from "./eval.ts";

export const TYPES_TABLE = "sql_types";
export const TYPES_SPEC: TableSpec = {
  name: TYPES_TABLE,
  columns: [
    { name: "name", type: "text", nullable: false },
    { name: "def", type: "text", nullable: false },
  ],
  primaryKey: ["name"],
};

/** One enum type: pg_type's row and its pg_enum rows. */
export interface EnumDef {
  name: string;
  /** The SqlType that columns and expressions of this type carry. */
  type: SqlType;
  oid: number;
  /** The array type's OID (pg_type.typarray). */
  arrayOid: number;
  labels: EnumLabel[];
}

export interface EnumLabel {
  label: string;
  /** pg_enum.enumsortorder. */
  sortOrder: number;
  /** pg_enum.oid. */
  oid: number;
}

/** Every enum definition of the process, by its SqlType. */
const ENUMS = new Map<string, EnumDef>();

/** NAMEDATALEN - 1: a label's length bound in bytes (pg_enum.enumlabel is a name). */
const LABEL_BYTES_MAX = 63;

/** The enum behind a SqlType, or undefined for any other type. */
export function enumOf(type: SqlType): EnumDef | undefined {
  return type.startsWith("enum:") ? ENUMS.get(type) : undefined;
}

/** The enum types of one database, by name. */
export class EnumTypes {
  readonly byName = new Map<string, EnumDef>();

  /** Loads every stored definition (the table exists: Database.open makes it). */
  static async load(engine: Engine): Promise<EnumTypes> {
    const types = new EnumTypes();
    const tx = engine.begin();
    for await (const batch of tx.scanBatches(TYPES_TABLE, null)) {
      for (const row of batch) types.#set(JSON.parse(row[1] as string) as EnumDef);
    }
    await tx.commit();
    return types;
  }

  /** The highest OID in use, so new tables and types never reuse one. */
  highestOid(): number {
    let max = 0;
    for (const def of this.byName.values()) {
      max = Math.max(max, def.oid, def.arrayOid, ...def.labels.map((l) => l.oid));
    }
    return max;
  }

  #set(def: EnumDef): void {
    this.byName.set(def.name, def);
    ENUMS.set(def.type, def);
  }

  #delete(name: string): void {
    this.byName.delete(name);
  }

  /** Stores a new or changed definition (null: dropped) in the transaction, undoably. */
  async put(work: TypeWork, name: string, def: EnumDef | null): Promise<void> {
    const old = this.byName.get(name);
    work.db.catalogVersion++;
    work.sqlTx.catalogUndo.push([`type ${name}`, undefined, () => {
      if (def !== null) this.#delete(def.name);
      if (old !== undefined) this.#set(old);
    }]);
    if (old !== undefined) {
      await work.sqlTx.tx.delete(TYPES_TABLE, [name]);
      this.#delete(name);
    }
    if (def === null) return;
    await work.sqlTx.tx.insert(TYPES_TABLE, [def.name, JSON.stringify(def)]);
    this.#set(def);
  }
}

let active: EnumTypes | null = null;

/** Makes `types` the one name lookups see (prepare() calls it first). */
export function useEnumTypes(types: EnumTypes): void {
  active = types;
}

/** The enum named `name` in the database being planned. */
export function enumByName(name: string): EnumDef | undefined {
  const bare = name.startsWith("public.") ? name.slice(7) : name;
  return active?.byName.get(bare);
}

/** A label as a value of the type: 22P02 when it is not one of its labels. */
export function enumInput(def: EnumDef, text: string): string {
  for (const l of def.labels) if (l.label === text) return text;
  throw new SqlError("22P02", `invalid input value for enum ${def.name}: "${text}"`);
}

/** Labels in sort order. */
function sorted(def: EnumDef): EnumLabel[] {
  return [...def.labels].sort((a, b) => a.sortOrder - b.sortOrder);
}

/** Declaration order, as enum_cmp compares. */
export function enumComparator(def: EnumDef): (a: PgValue, b: PgValue) => number {
  const order = new Map(def.labels.map((l) => [l.label, l.sortOrder]));
  return (a, b) => {
    const x = order.get(a as string) ?? Infinity;
    const y = order.get(b as string) ?? Infinity;
    return x < y ? -1 : x > y ? 1 : 0;
  };
}

/**
 * The cast between an enum and another type, or undefined when neither is
 * an enum: strings and unknown in (checked), strings out; null for a pair
 * with no cast.
 */
export function enumCast(
  from: SqlType,
  to: SqlType,
  isString: (type: SqlType) => boolean,
): ((value: PgValue) => PgValue) | null | undefined {
  const target = enumOf(to);
  const source = enumOf(from);
  if (target === undefined && source === undefined) return undefined;
  if (target !== undefined && (from === "unknown" || isString(from))) {
    return (value) => enumInput(target, value as string);
  }
  if (source !== undefined && isString(to)) return (value) => value;
  return null;
}

/** An array of labels in PostgreSQL's array output (quoted where array_out quotes). */
function labelArray(labels: string[]): string {
  const quote = (s: string) =>
    s === "" || /[{}",\\\s]/.test(s) || s.toUpperCase() === "NULL"
      ? `"${s.replace(/["\\]/g, "\\$&")}"`
      : s;
  return `{${labels.map(quote).join(",")}}`;
}

/**
 * enum_first, enum_last and enum_range (9.10): the argument's type matters,
 * not its value, except for enum_range's two bounds. Undefined for other names.
 */
export function enumFunction(
  fn: string,
  args: Compiled[],
  toType: (value: Compiled, type: SqlType) => Compiled,
): Compiled | undefined {
  if (fn !== "enum_first" && fn !== "enum_last" && fn !== "enum_range") return undefined;
  const def = args.map((a) => enumOf(a.type)).find((d) => d !== undefined);
  if (def === undefined || args.length > (fn === "enum_range" ? 2 : 1)) return undefined;
  if (fn === "enum_range" && args.length === 1) {
    return { type: "text", evaluate: () => labelArray(sorted(def).map((l) => l.label)) };
  }
  if (fn !== "enum_range") {
    const first = fn === "enum_first";
    return {
      type: def.type,
      evaluate: () => {
        const labels = sorted(def);
        if (labels.length === 0) {
          throw new SqlError("55000", `enum ${def.name} contains no values`);
        }
        return labels[first ? 0 : labels.length - 1].label;
      },
    };
  }
  const [low, high] = args.map((a) => toType(a, def.type).evaluate);
  const order = new Map(def.labels.map((l) => [l.label, l.sortOrder]));
  return {
    type: "text",
    evaluate: (ctx) => {
      const a = low(ctx);
      const b = high(ctx);
      const from = a === null ? -Infinity : order.get(a as string)!;
      const to = b === null ? Infinity : order.get(b as string)!;
      const labels = sorted(def).filter((l) => l.sortOrder >= from && l.sortOrder <= to);
      return labelArray(labels.map((l) => l.label));
    },
  };
}

// DDL -------------------------------------------------------------------------

/** What the DDL needs of the database and the transaction (executor.ts's). */
export interface TypeWork {
  db: {
    enums: EnumTypes;
    tables: Map<string, SqlTable>;
    newOid(): number;
    catalogVersion: number;
  };
  sqlTx: {
    tx: Transaction;
    catalogUndo: [string, SqlTable | undefined, (() => void)?][];
  };
}

export interface TypeResult {
  tag: string;
  notices: { code: string; message: string }[];
}

function bareName(name: QualifiedName): string {
  if (name.length === 2 && name[0] !== "public") {
    throw new SqlError("3F000", `schema "${name[0]}" does not exist`);
  }
  return name[name.length - 1];
}

function checkLabel(label: string): void {
  if (new TextEncoder().encode(label).length > LABEL_BYTES_MAX) {
    throw new SqlError("22023", `invalid enum label "${label}"`, {
      detail: `Labels must be ${LABEL_BYTES_MAX} bytes or less.`,
    });
  }
}

function missingLabel(label: string): SqlError {
  return new SqlError("22023", `"${label}" is not an existing enum label`);
}

function existingLabel(label: string): SqlError {
  return new SqlError("42710", `enum label "${label}" already exists`);
}

/** The tables' columns of an enum type, as PostgreSQL's dependency detail names them. */
function dependents(work: TypeWork, def: EnumDef): string[] {
  const out: string[] = [];
  for (const table of work.db.tables.values()) {
    for (const column of table.columns) {
      if (column.type === def.type) {
        out.push(`column ${column.name} of ${table.view ? "view" : "table"} ${table.name}`);
      }
    }
  }
  return out;
}

/** Runs CREATE TYPE ... AS ENUM, ALTER TYPE and DROP TYPE. */
export async function typeStatement(
  work: TypeWork,
  statement: Extract<Statement, { kind: "create_enum" | "alter_enum" | "drop_type" }>,
): Promise<TypeResult> {
  const enums = work.db.enums;
  switch (statement.kind) {
    case "create_enum": {
      const name = bareName(statement.name);
      if (enums.byName.has(name) || work.db.tables.has(name)) {
        throw new SqlError("42710", `type "${name}" already exists`);
      }
      const seen = new Set<string>();
      for (const label of statement.labels) {
        checkLabel(label);
        if (seen.has(label)) {
          throw new SqlError(
            "23505",
            'duplicate key value violates unique constraint "pg_enum_typid_label_index"',
            { detail: `Key (enumtypid, enumlabel)=(${0}, ${label}) already exists.` },
          );
        }
        seen.add(label);
      }
      const oid = work.db.newOid();
      const arrayOid = work.db.newOid();
      const token = crypto.getRandomValues(new Uint32Array(2)).join("");
      const def: EnumDef = {
        name,
        type: `enum:${oid}.${token}` as SqlType,
        oid,
        arrayOid,
        labels: statement.labels.map((label, i) => ({
          label,
          sortOrder: i + 1,
          oid: work.db.newOid(),
        })),
      };
      await enums.put(work, name, def);
      return { tag: "CREATE TYPE", notices: [] };
    }
    case "alter_enum": {
      const name = bareName(statement.name);
      const def = enums.byName.get(name);
      if (def === undefined) throw new SqlError("42704", `type "${name}" does not exist`);
      const action = statement.action;
      const changed = alterEnum(work, def, action);
      if (changed !== null) await enums.put(work, name, changed);
      if (action.kind === "rename_value") await relabel(work, def, action.from, action.to);
      return {
        tag: "ALTER TYPE",
        notices: changed === null && statement.action.kind === "add_value"
          ? [{
            code: "42710",
            message: `enum label "${statement.action.label}" already exists, skipping`,
          }]
          : [],
      };
    }
    case "drop_type": {
      const notices: TypeResult["notices"] = [];
      const defs: EnumDef[] = [];
      for (const qualified of statement.names) {
        const name = bareName(qualified);
        const def = enums.byName.get(name);
        if (def === undefined) {
          const message = `type "${name}" does not exist`;
          if (!statement.ifExists) throw new SqlError("42704", message);
          notices.push({ code: "00000", message: `${message}, skipping` });
          continue;
        }
        const using = dependents(work, def);
        if (using.length > 0) {
          if (statement.cascade) {
            throw new SqlError("0A000", "DROP TYPE ... CASCADE is not supported");
          }
          throw new SqlError(
            "2BP01",
            `cannot drop type ${name} because other objects depend on it`,
            {
              detail: using.map((u) => `${u} depends on type ${name}`).join("\n"),
              hint: "Use DROP ... CASCADE to drop the dependent objects too.",
            },
          );
        }
        defs.push(def);
      }
      for (const def of defs) await enums.put(work, def.name, null);
      return { tag: "DROP TYPE", notices };
    }
  }
}

/** Rows held at once while RENAME VALUE rewrites a table (the executor's ROWS_HELD_MAX). */
const RELABEL_ROWS_MAX = 1_000_000;

/**
 * RENAME VALUE's rewrite: stored values are labels, so every row holding
 * the old label in a column of the type gets the new one, under the
 * table's exclusive lock, in the DDL's transaction (PostgreSQL stores the
 * label's OID and renames in pg_enum alone). Each table's changed rows are
 * found first, then written, at most RELABEL_ROWS_MAX of them (54000).
 */
async function relabel(work: TypeWork, def: EnumDef, from: string, to: string): Promise<void> {
  const tx = work.sqlTx.tx;
  for (const table of work.db.tables.values()) {
    if (table.view) continue;
    // Engine column of SQL column i (catalog.ts's engineColumn; not imported:
    // catalog.ts reaches this file through eval.ts).
    const offset = table.rowid ? 1 : 0;
    const columns = table.columns.flatMap((c, i) => c.type === def.type ? [i + offset] : []);
    const primary = table.indexes.find((i) => i.primary);
    const keyAt = table.rowid || primary === undefined
      ? [0]
      : primary.columns.map((name) => table.columns.findIndex((c) => c.name === name));
    if (columns.length === 0) continue;
    await tx.lockTable(table.engineName, "X");
    const changed: [Value[], Row][] = [];
    for await (const batch of tx.scanBatches(table.engineName, null)) {
      for (const row of batch) {
        if (!columns.some((i) => row[i] === from)) continue;
        if (changed.length >= RELABEL_ROWS_MAX) {
          throw new SqlError("54000", "too many rows to relabel in one statement");
        }
        const next = row.slice();
        for (const i of columns) if (next[i] === from) next[i] = to;
        changed.push([keyAt.map((i) => row[table.rowid ? i : i + offset]), next]);
      }
    }
    for (const [key, row] of changed) await tx.update(table.engineName, key, row);
  }
}

/** The definition after ALTER TYPE's action, or null when IF NOT EXISTS found the label. */
function alterEnum(work: TypeWork, def: EnumDef, action: EnumAction): EnumDef | null {
  const has = (label: string) => def.labels.some((l) => l.label === label);
  switch (action.kind) {
    case "add_value": {
      checkLabel(action.label);
      if (has(action.label)) {
        if (action.ifNotExists) return null;
        throw existingLabel(action.label);
      }
      const labels = sorted(def);
      let sortOrder: number;
      if (action.neighbor === null) {
        sortOrder = labels.length === 0 ? 1 : labels[labels.length - 1].sortOrder + 1;
      } else {
        const at = labels.findIndex((l) => l.label === action.neighbor!.label);
        if (at < 0) throw missingLabel(action.neighbor.label);
        // As AddEnumLabel: the midpoint of the neighbours (float4), one past an end.
        const before = action.neighbor.before ? labels[at - 1] : labels[at];
        const after = action.neighbor.before ? labels[at] : labels[at + 1];
        if (before === undefined) sortOrder = after.sortOrder - 1;
        else if (after === undefined) sortOrder = before.sortOrder + 1;
        else sortOrder = Math.fround((before.sortOrder + after.sortOrder) / 2);
      }
      return {
        ...def,
        labels: [...def.labels, { label: action.label, sortOrder, oid: work.db.newOid() }],
      };
    }
    case "rename_value": {
      if (!has(action.from)) throw missingLabel(action.from);
      checkLabel(action.to);
      if (has(action.to)) throw existingLabel(action.to);
      return {
        ...def,
        labels: def.labels.map((l) => l.label === action.from ? { ...l, label: action.to } : l),
      };
    }
    case "rename": {
      if (work.db.enums.byName.has(action.to) || work.db.tables.has(action.to)) {
        throw new SqlError("42710", `type "${action.to}" already exists`);
      }
      return { ...def, name: action.to };
    }
  }
}
