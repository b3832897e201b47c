// pg_catalog as relations and functions, built from the SQL catalog on each
// read: enough of PostgreSQL 15's system catalogs (PostgreSQL docs, chapter
// 53 "System Catalogs") and of its catalog functions (9.26 "System
// Information Functions") that psql's describe commands (\d, \d table,
// \dt, \di, \dv, \l, \dn, \du) run their own queries unchanged and print
// what they print against PostgreSQL for the same schema.
//
// - Relations: pg_class (tables, views, indexes, and a sequence for each
//   SERIAL or identity column), pg_attribute, pg_attrdef, pg_index,
//   pg_constraint, pg_namespace, pg_type, pg_collation, pg_am,
//   pg_database, pg_roles, and the catalogs psql reads that are always
//   empty here (triggers, policies, publications, inheritance, extended
//   statistics, role membership).
// - OIDs: tables and views keep the OID the catalog gave them; indexes,
//   constraints and sequences get OIDs derived from their table's (see
//   `derivedOid`), the same on every read.
// - Arrays (ARRAY(...), datacl, polroles, stxkind) are text in
//   PostgreSQL's array syntax ('{a,b}'): psql only prints them, compares
//   elements with = ANY, and joins them with array_to_string.
// - Deparsed SQL (pg_get_expr, pg_get_constraintdef, pg_get_indexdef)
//   follows ruleutils.c's output for the common shapes: column op constant,
//   AND/OR, literals with PostgreSQL's casts; anything else prints as our
//   printer writes it.
//
// Left out: every catalog column psql's describe commands do not read,
// comments (obj_description), privileges beyond the default ACLs,
// partitions, and `\d+` (sizes, storage, access methods' details).

import { OID, typeByOid } from "../../../lib/pg/oids.ts";
import { ARRAY_OID_OF, arrayElementOid, parseArrayText } from "../../../lib/pg/arrays.ts";
import type { PgValue } from "../../../lib/pg/values.ts";
import type { Expr, SelectCore, SelectStatement } from "./ast.ts";
import type { SqlColumn, SqlIndex, SqlTable } from "./catalog.ts";
import type { SqlType } from "./eval.ts";
import { parseStatement } from "./parser.ts";
import { printExpr, quoteIdentifier } from "./printer.ts";
import { type EnumDef, enumOf } from "./enums.ts";

/** The catalog facts a relation or function reads: the visible tables and the session. */
export interface CatalogSource {
  tables: SqlTable[];
  /** CREATE TYPE's enums (enums.ts), for pg_type and pg_enum. */
  enums?: EnumDef[];
  user: string;
  database: string;
}

/** A catalog relation: typed columns and rows computed when read. */
export interface CatalogRelation {
  columns: [string, SqlType][];
  rows: PgValue[][];
}

/** pg_catalog's own namespace OIDs, as PostgreSQL 15 numbers them. */
export const NAMESPACE = { pg_catalog: 11, public: 2200, information_schema: 13000 } as const;
/** The bootstrap superuser's role OID, and pg_database_owner (the owner of public in 15). */
const SUPERUSER_OID = 10;
const DATABASE_OWNER_OID = 6171;
/** The default collation's OID (text, varchar and char columns carry it). */
const DEFAULT_COLLATION = 100;
const BTREE_AM = 403;
const HEAP_AM = 2;

/** pg_type.typcategory of the scalar types (pg_type.dat); the rest are "U", user-defined. */
const TYPE_CATEGORY: Record<number, string> = {
  [OID.bool]: "B",
  [OID.char]: "Z",
  [OID.name]: "S",
  [OID.int8]: "N",
  [OID.int2]: "N",
  [OID.int4]: "N",
  [OID.text]: "S",
  [OID.oid]: "N",
  [OID.float4]: "N",
  [OID.float8]: "N",
  [OID.unknown]: "X",
  [OID.bpchar]: "S",
  [OID.varchar]: "S",
  [OID.date]: "D",
  [OID.time]: "D",
  [OID.timestamp]: "D",
  [OID.timestamptz]: "D",
  [OID.interval]: "T",
  [OID.numeric]: "N",
};

const COLLATABLE: ReadonlySet<SqlType> = new Set(["text", "varchar", "bpchar"]);

/** Type OID of a column's type. */
export function typeOidOf(type: SqlType): number {
  if (type.endsWith("[]")) {
    const element = (OID as Record<string, number>)[type.slice(0, -2)];
    return ARRAY_OID_OF.get(element) ?? OID.text;
  }
  return (OID as Record<string, number>)[type] ?? enumOf(type)?.oid ?? OID.text;
}

/** atttypmod of a declared type: varchar(n)/char(n) n+4, numeric(p,s) ((p<<16)|s)+4. */
export function typeModifier(column: SqlColumn): number {
  const [first, second] = column.typeName.modifiers;
  if (first === undefined) return -1;
  const type = column.type.replace(/\[\]$/, ""); // varchar(10)[] keeps its element's modifier
  if (type === "numeric") return ((first << 16) | (second ?? 0)) + 4;
  if (type === "varchar" || type === "bpchar") return first + 4;
  if (type === "time") return first; // time(p): p itself
  return -1;
}

/** PostgreSQL's format_type(oid, typmod): the type's SQL name with its modifiers. */
export function formatType(
  oid: number | null,
  typmod: number | null,
  enums: readonly EnumDef[] = [],
): string | null {
  if (oid === null) return null;
  const element = arrayElementOid(oid);
  if (element !== undefined && (typmod ?? -1) >= 4) return `${formatType(element, typmod)}[]`;
  const type = typeByOid(oid);
  if (!type) {
    const named = enums.find((e) => e.oid === oid);
    return named === undefined ? "???" : quoteIdentifier(named.name);
  }
  const mod = typmod ?? -1;
  if (mod >= 4 && (oid === OID.varchar || oid === OID.bpchar)) return `${type.sqlName}(${mod - 4})`;
  if (mod >= 4 && oid === OID.numeric) {
    return `numeric(${((mod - 4) >> 16) & 0xffff},${(mod - 4) & 0xffff})`;
  }
  if (oid === OID.bpchar && mod < 0) return "bpchar";
  if (oid === OID.time && mod >= 0) return `time(${mod}) without time zone`;
  return type.sqlName;
}

/**
 * OIDs for the things our catalog does not number: index k of a table,
 * constraint k, and the sequence of column k. Table OIDs count up from
 * 16384; these sit far above them, 1000 per table.
 */
function derivedOid(kind: "index" | "constraint" | "sequence", table: SqlTable, k: number): number {
  const base = { index: 100_000_000, constraint: 200_000_000, sequence: 300_000_000 }[kind];
  return base + table.oid * 1000 + k;
}

/** Whether an index came from a PRIMARY KEY or UNIQUE constraint (not CREATE INDEX). */
function isConstraint(index: SqlIndex): boolean {
  if (index.constraint !== undefined) return index.constraint;
  return index.primary || index.name.endsWith("_key");
}

export function sequenceName(table: SqlTable, column: SqlColumn): string {
  return column.sequence ?? `${table.name}_${column.name}_seq`;
}

// Arrays as text ------------------------------------------------------------------------

/** An array's text form, as PostgreSQL's array_out writes it. */
export function arrayText(values: readonly (string | null)[]): string {
  return `{${
    values.map((v) => {
      if (v === null) return "NULL";
      if (v === "" || /[{},"\\\s]/.test(v) || v.toUpperCase() === "NULL") {
        return `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`;
      }
      return v;
    }).join(",")
  }}`;
}

/** The elements of an array's text form (all of them, in order, when it has several dimensions). */
export function parseArray(text: string): (string | null)[] {
  try {
    return parseArrayText(text).items;
  } catch {
    // not an array literal: read it leniently, as before arrays were checked
  }
  const inner = text.trim().replace(/^\{/, "").replace(/\}$/, "");
  if (inner === "") return [];
  const out: (string | null)[] = [];
  let i = 0;
  while (i <= inner.length) {
    let value = "";
    let quoted = false;
    if (inner[i] === '"') {
      quoted = true;
      i++;
      while (i < inner.length && inner[i] !== '"') {
        if (inner[i] === "\\") i++;
        value += inner[i++];
      }
      i++;
    } else {
      while (i < inner.length && inner[i] !== ",") value += inner[i++];
    }
    out.push(
      !quoted && value.trim().toUpperCase() === "NULL" ? null : quoted ? value : value.trim(),
    );
    i++;
  }
  return out;
}

// Deparsing (ruleutils.c, pretty mode) -----------------------------------------------------

const PRECEDENCE: Record<string, number> = {
  or: 1,
  and: 2,
  "=": 4,
  "<>": 4,
  "<": 4,
  ">": 4,
  "<=": 4,
  ">=": 4,
  "+": 6,
  "-": 6,
  "*": 7,
  "/": 7,
  "%": 7,
};

/** A constant with the cast PostgreSQL shows on it (a string is typed by what it meets). */
function constantText(expr: Expr, type: SqlType | null): string | null {
  if (expr.kind === "number") {
    if (type === "numeric" && /^\d+$/.test(expr.text)) return `${expr.text}::numeric`;
    return expr.text;
  }
  if (expr.kind === "string") {
    const quoted = `'${expr.value.replace(/'/g, "''")}'`;
    const shown = type === "varchar" ? "character varying" : type ?? "text";
    return `${quoted}::${shown}`;
  }
  if (expr.kind === "boolean") return expr.value ? "true" : "false";
  if (expr.kind === "null") return "NULL";
  return null;
}

/** An expression over `table`'s columns as pg_get_expr / pg_get_constraintdef print it. */
export function deparse(expr: Expr, table: SqlTable | null, parent = 0): string {
  const typeOf = (e: Expr): SqlType | null => {
    if (e.kind !== "column" || table === null) return null;
    return table.columns.find((c) => c.name === e.path[e.path.length - 1])?.type ?? null;
  };
  switch (expr.kind) {
    case "column":
      return expr.path[expr.path.length - 1];
    case "binary": {
      const precedence = PRECEDENCE[expr.op] ?? 5;
      const op = expr.op === "and" || expr.op === "or" ? expr.op.toUpperCase() : expr.op;
      const side = (e: Expr, other: Expr) =>
        constantText(e, e.kind === "string" || e.kind === "number" ? typeOf(other) : null) ??
          deparse(e, table, precedence);
      const text = `${side(expr.left, expr.right)} ${op} ${side(expr.right, expr.left)}`;
      return precedence < parent || (parent > 0 && precedence === parent && parent >= 4)
        ? `(${text})`
        : text;
    }
    case "not":
      return `NOT ${deparse(expr.operand, table, 3)}`;
    case "is":
      return `${deparse(expr.operand, table, 5)} IS ${
        expr.not ? "NOT " : ""
      }${expr.test.toUpperCase()}`;
    case "function":
      return `${expr.name.join(".")}(${expr.args.map((a) => deparse(a, table)).join(", ")})`;
    case "sql_function":
      return expr.name.toUpperCase();
    default:
      return constantText(expr, null) ?? printExpr(expr);
  }
}

function parseExpr(sql: string): Expr {
  const statement = parseStatement(`SELECT ${sql}`) as SelectStatement;
  return (statement.body as SelectCore).columns[0].expr;
}

/** A column's DEFAULT as pg_get_expr(adbin) shows it. */
export function defaultText(table: SqlTable, column: SqlColumn): string | null {
  if (column.serial) return `nextval('${sequenceName(table, column)}'::regclass)`;
  if (column.default === null) return null;
  let expr: Expr;
  try {
    expr = parseExpr(column.default);
  } catch {
    return column.default;
  }
  if (expr.kind === "unary" && expr.op === "-" && expr.operand.kind === "number") {
    const shown = typeByOid(typeOidOf(column.type))?.sqlName ?? column.type;
    return `'-${expr.operand.text}'::${shown}`;
  }
  if (expr.kind === "string") {
    const enumType = enumOf(column.type);
    const shown = column.type === "varchar"
      ? "character varying"
      : column.type === "bpchar"
      ? "bpchar"
      : enumType !== undefined
      ? quoteIdentifier(enumType.name)
      : typeByOid(typeOidOf(column.type))?.sqlName ?? column.type;
    return `'${expr.value.replace(/'/g, "''")}'::${shown}`;
  }
  return constantText(expr, null) ?? deparse(expr, table);
}

function referentialClause(action: string, what: "UPDATE" | "DELETE"): string {
  return action === "no action" ? "" : ` ON ${what} ${action.toUpperCase()}`;
}

// The relations ---------------------------------------------------------------------------

interface ConstraintRow {
  oid: number;
  name: string;
  type: "p" | "u" | "f" | "c";
  table: SqlTable;
  indexOid: number;
  referenced: number;
  definition: string;
  deferrable?: boolean;
  deferred?: boolean;
  notValid?: boolean;
}

function constraintsOf(source: CatalogSource): ConstraintRow[] {
  const out: ConstraintRow[] = [];
  const byName = new Map(source.tables.map((t) => [t.name, t]));
  for (const table of source.tables) {
    if (table.view) continue;
    let k = 0;
    table.indexes.forEach((index, i) => {
      if (!index.unique || !isConstraint(index)) return;
      out.push({
        oid: derivedOid("constraint", table, k++),
        name: index.name,
        type: index.primary ? "p" : "u",
        table,
        indexOid: derivedOid("index", table, i),
        referenced: 0,
        definition: `${index.primary ? "PRIMARY KEY" : "UNIQUE"} (${index.columns.join(", ")})`,
      });
    });
    for (const check of table.checks ?? []) {
      let text = check.expr;
      try {
        text = deparse(parseExpr(check.expr), table);
      } catch { /* as stored */ }
      out.push({
        oid: derivedOid("constraint", table, k++),
        name: check.name,
        type: "c",
        table,
        indexOid: 0,
        referenced: 0,
        definition: `CHECK (${text})${check.notValid ? " NOT VALID" : ""}`,
        notValid: check.notValid === true,
      });
    }
    for (const fk of table.foreignKeys ?? []) {
      const parent = byName.get(fk.table);
      const index = parent?.indexes.findIndex((i) =>
        i.unique && i.columns.length === fk.refColumns.length &&
        fk.refColumns.every((c) =>
          i.columns.includes(c)
        )
      ) ?? -1;
      out.push({
        oid: derivedOid("constraint", table, k++),
        name: fk.name,
        type: "f",
        table,
        indexOid: parent && index >= 0 ? derivedOid("index", parent, index) : 0,
        referenced: parent?.oid ?? 0,
        definition: `FOREIGN KEY (${fk.columns.join(", ")}) REFERENCES ${fk.table}(${
          fk.refColumns.join(", ")
        })${referentialClause(fk.onUpdate, "UPDATE")}${referentialClause(fk.onDelete, "DELETE")}${
          fk.initiallyDeferred
            ? " DEFERRABLE INITIALLY DEFERRED"
            : fk.deferrable
            ? " DEFERRABLE"
            : ""
        }${fk.notValid ? " NOT VALID" : ""}`,
        deferrable: fk.deferrable === true,
        deferred: fk.initiallyDeferred === true,
        notValid: fk.notValid === true,
      });
    }
  }
  return out;
}

/** pg_attribute.attstorage: 'p' (plain) for fixed-length types, 'x' (extended) for the rest. */
function storageOf(type: SqlType): string {
  return FIXED_LENGTH.has(type) || type.startsWith("enum:") ? "p" : "x";
}

const FIXED_LENGTH: ReadonlySet<SqlType> = new Set<SqlType>([
  "bool",
  "int2",
  "int4",
  "int8",
  "float4",
  "float8",
  "date",
  "timestamp",
  "timestamptz",
  "interval",
  "uuid",
  "time",
]);

function indexDefinition(table: SqlTable, index: SqlIndex): string {
  const keys = index.columns.map((_, i) => {
    const opclass = index.opclasses?.[i];
    const key = indexKeyInfo(table, index, i).definition;
    return opclass ? `${key} ${opclass}` : key;
  });
  const include = index.include ? ` INCLUDE (${index.include.join(", ")})` : "";
  const where = index.where === undefined ? "" : ` WHERE ${deparse(parseExpr(index.where), table)}`; // pretty, as psql asks for it
  return `CREATE ${index.unique ? "UNIQUE " : ""}INDEX ${index.name} ON public.${table.name} ` +
    `USING btree (${keys.join(", ")})${include}${where}`;
}

/**
 * Index column i as the catalogs show it: pg_get_indexdef's text (an
 * expression as ruleutils prints it, parenthesized unless a function
 * call), pg_attribute's name (an expression's function, or "expr"), type
 * and the table column it is (0 for an expression, pg_index.indkey).
 */
function indexKeyInfo(
  table: SqlTable,
  index: SqlIndex,
  i: number,
): { definition: string; attname: string; column: SqlColumn | null; type: SqlType } {
  const text = index.keys?.[i] ?? index.columns[i];
  const plain = table.columns.find((c) => c.name === text);
  if (plain !== undefined) {
    return { definition: text, attname: text, column: plain, type: plain.type };
  }
  const expr = parseExpr(text);
  // A hidden key column's name (catalog.ts's keyName; not imported: catalog.ts reaches this file).
  const hidden = index.columns[i].charCodeAt(0) === 0 ? Number(index.columns[i].slice(2)) : -1;
  const type = hidden >= 0 ? table.keyExprs![hidden].type : "text";
  const shown = deparse(expr, table);
  return {
    definition: expr.kind === "function" ? shown : `(${shown})`,
    attname: expr.kind === "function" ? expr.name[expr.name.length - 1] : "expr",
    column: null,
    type,
  };
}

const n = (value: number) => BigInt(value);

const EMPTY: Record<string, [string, SqlType][]> = {
  pg_policy: [
    ["oid", "int8"],
    ["polname", "text"],
    ["polrelid", "int8"],
    ["polcmd", "text"],
    ["polpermissive", "bool"],
    ["polroles", "text"],
    ["polqual", "text"],
    ["polwithcheck", "text"],
  ],
  pg_statistic_ext: [
    ["oid", "int8"],
    ["stxrelid", "int8"],
    ["stxname", "text"],
    ["stxnamespace", "int8"],
    ["stxstattarget", "int4"],
    ["stxkind", "text"],
  ],
  pg_publication: [["oid", "int8"], ["pubname", "text"], ["puballtables", "bool"]],
  pg_publication_namespace: [["oid", "int8"], ["pnpubid", "int8"], ["pnnspid", "int8"]],
  pg_publication_rel: [
    ["oid", "int8"],
    ["prpubid", "int8"],
    ["prrelid", "int8"],
    ["prqual", "text"],
    ["prattrs", "text"],
  ],
  pg_trigger: [
    ["oid", "int8"],
    ["tgrelid", "int8"],
    ["tgparentid", "int8"],
    ["tgname", "text"],
    ["tgenabled", "text"],
    ["tgisinternal", "bool"],
  ],
  pg_inherits: [
    ["inhrelid", "int8"],
    ["inhparent", "int8"],
    ["inhseqno", "int4"],
    ["inhdetachpending", "bool"],
  ],
  pg_auth_members: [["roleid", "int8"], ["member", "int8"], ["grantor", "int8"]],
  pg_partitioned_table: [["partrelid", "int8"], ["partstrat", "text"]],
  pg_description: [
    ["objoid", "int8"],
    ["classoid", "int8"],
    ["objsubid", "int4"],
    ["description", "text"],
  ],
};

/** A pg_catalog relation by bare name, or null when it is not one of ours. */
export function catalogRelation(source: CatalogSource, name: string): CatalogRelation | null {
  const empty = EMPTY[name];
  if (empty) return { columns: empty, rows: [] };
  const tables = source.tables;
  switch (name) {
    case "pg_namespace":
      return {
        columns: [["oid", "int8"], ["nspname", "text"], ["nspowner", "int8"]],
        rows: [
          [n(NAMESPACE.pg_catalog), "pg_catalog", n(SUPERUSER_OID)],
          [n(NAMESPACE.public), "public", n(DATABASE_OWNER_OID)],
          [n(NAMESPACE.information_schema), "information_schema", n(SUPERUSER_OID)],
        ],
      };
    case "pg_class": {
      const rows: PgValue[][] = [];
      const row = (
        oid: number,
        relname: string,
        relkind: string,
        relam: number,
        extra: { checks?: number; hasIndex?: boolean; triggers?: boolean } = {},
      ): PgValue[] => [
        n(oid),
        relname,
        n(NAMESPACE.public),
        relkind,
        n(SUPERUSER_OID),
        n(relam),
        extra.checks ?? 0,
        extra.hasIndex ?? false,
        relkind === "v",
        extra.triggers ?? false,
        false,
        false,
        false,
        0n,
        0n,
        "p",
        relkind === "r" ? "d" : "n",
        0n,
        null,
        -1,
        null,
      ];
      for (const table of tables) {
        if (table.view) {
          rows.push(row(table.oid, table.name, "v", 0));
          continue;
        }
        const referenced = tables.some((t) => t.foreignKeys?.some((f) => f.table === table.name));
        rows.push(row(table.oid, table.name, "r", HEAP_AM, {
          checks: table.checks?.length ?? 0,
          hasIndex: table.indexes.length > 0,
          triggers: referenced || (table.foreignKeys?.length ?? 0) > 0,
        }));
        table.indexes.forEach((index, i) => {
          rows.push(row(derivedOid("index", table, i), index.name, "i", BTREE_AM));
        });
        table.columns.forEach((column, i) => {
          if (column.serial) {
            rows.push(row(derivedOid("sequence", table, i), sequenceName(table, column), "S", 0));
          }
        });
      }
      return {
        columns: [
          ["oid", "int8"],
          ["relname", "text"],
          ["relnamespace", "int8"],
          ["relkind", "text"],
          ["relowner", "int8"],
          ["relam", "int8"],
          ["relchecks", "int4"],
          ["relhasindex", "bool"],
          ["relhasrules", "bool"],
          ["relhastriggers", "bool"],
          ["relrowsecurity", "bool"],
          ["relforcerowsecurity", "bool"],
          ["relispartition", "bool"],
          ["reltablespace", "int8"],
          ["reloftype", "int8"],
          ["relpersistence", "text"],
          ["relreplident", "text"],
          ["reltoastrelid", "int8"],
          ["relpartbound", "text"],
          ["reltuples", "float4"],
          ["reloptions", "text"], // text[] in PostgreSQL; always NULL here
        ],
        rows,
      };
    }
    case "pg_attribute": {
      const rows: PgValue[][] = [];
      for (const table of tables) {
        table.columns.forEach((c, i) => {
          rows.push([
            n(table.oid),
            c.name,
            n(typeOidOf(c.type)),
            typeModifier(c),
            i + 1,
            c.notNull,
            c.serial || c.default !== null,
            false,
            n(COLLATABLE.has(c.type) ? DEFAULT_COLLATION : 0),
            c.identity ?? "",
            "",
            storageOf(c.type),
            "",
            -1,
          ]);
        });
        if (table.view) continue;
        table.indexes.forEach((index, k) => {
          index.columns.forEach((_, i) => {
            const key = indexKeyInfo(table, index, i);
            rows.push([
              n(derivedOid("index", table, k)),
              key.attname,
              n(typeOidOf(key.type)),
              key.column === null ? -1 : typeModifier(key.column),
              i + 1,
              false,
              false,
              false,
              n(COLLATABLE.has(key.type) ? DEFAULT_COLLATION : 0),
              "",
              "",
              storageOf(key.type),
              "",
              -1,
            ]);
          });
        });
      }
      return {
        columns: [
          ["attrelid", "int8"],
          ["attname", "text"],
          ["atttypid", "int8"],
          ["atttypmod", "int4"],
          ["attnum", "int4"],
          ["attnotnull", "bool"],
          ["atthasdef", "bool"],
          ["attisdropped", "bool"],
          ["attcollation", "int8"],
          ["attidentity", "text"],
          ["attgenerated", "text"],
          ["attstorage", "text"],
          ["attcompression", "text"],
          ["attstattarget", "int4"],
        ],
        rows,
      };
    }
    case "pg_attrdef": {
      const rows: PgValue[][] = [];
      for (const table of tables) {
        table.columns.forEach((c, i) => {
          const text = defaultText(table, c);
          if (text === null || c.identity) return;
          rows.push([n(derivedOid("constraint", table, 900 + i)), n(table.oid), i + 1, text]);
        });
      }
      return {
        columns: [["oid", "int8"], ["adrelid", "int8"], ["adnum", "int4"], ["adbin", "text"]],
        rows,
      };
    }
    case "pg_index": {
      const rows: PgValue[][] = [];
      for (const table of tables) {
        if (table.view) continue;
        table.indexes.forEach((index, i) => {
          const keys = index.columns.map((_, k) => {
            const column = indexKeyInfo(table, index, k).column;
            return column === null ? 0 : table.columns.indexOf(column) + 1;
          });
          rows.push([
            n(derivedOid("index", table, i)),
            n(table.oid),
            index.columns.length,
            index.unique,
            index.primary,
            false,
            true,
            false,
            keys.join(" "),
          ]);
        });
      }
      return {
        columns: [
          ["indexrelid", "int8"],
          ["indrelid", "int8"],
          ["indnatts", "int4"],
          ["indisunique", "bool"],
          ["indisprimary", "bool"],
          ["indisclustered", "bool"],
          ["indisvalid", "bool"],
          ["indisreplident", "bool"],
          ["indkey", "text"],
        ],
        rows,
      };
    }
    case "pg_constraint":
      return {
        columns: [
          ["oid", "int8"],
          ["conname", "text"],
          ["connamespace", "int8"],
          ["contype", "text"],
          ["condeferrable", "bool"],
          ["condeferred", "bool"],
          ["convalidated", "bool"],
          ["conrelid", "int8"],
          ["conindid", "int8"],
          ["conparentid", "int8"],
          ["confrelid", "int8"],
        ],
        rows: constraintsOf(source).map((c) => [
          n(c.oid),
          c.name,
          n(NAMESPACE.public),
          c.type,
          c.deferrable === true,
          c.deferred === true,
          c.notValid !== true,
          n(c.table.oid),
          n(c.indexOid),
          0n,
          n(c.referenced),
        ]),
      };
    case "pg_type":
      return {
        columns: [
          ["oid", "int8"],
          ["typname", "text"],
          ["typnamespace", "int8"],
          ["typlen", "int4"],
          ["typtype", "text"],
          ["typcategory", "text"],
          ["typarray", "int8"],
          ["typelem", "int8"],
          ["typcollation", "int8"],
          ["typbasetype", "int8"],
          ["typrelid", "int8"],
          ["typowner", "int8"],
          ["typacl", "text"],
        ],
        // Each type, then the array types with typcategory 'A' and typelem (the npm postgres
        // driver reads them at connect to know which OIDs are arrays of what), then the enums.
        rows: [
          ...[
            ...Object.values(OID).map((oid): [number, number] => [oid, 0]),
            ...Object.values(OID).filter((oid) => ARRAY_OID_OF.has(oid)).map((
              oid,
            ): [number, number] => [ARRAY_OID_OF.get(oid)!, oid]),
          ].map(([oid, element]) => {
            const type = typeByOid(oid)!;
            const collatable = ([OID.text, OID.varchar, OID.bpchar, OID.name] as number[])
              .includes(element === 0 ? oid : element);
            return [
              n(oid),
              type.name,
              n(NAMESPACE.pg_catalog),
              type.size,
              "b",
              element === 0 ? TYPE_CATEGORY[oid] ?? "U" : "A",
              n(element === 0 ? ARRAY_OID_OF.get(oid) ?? 0 : 0),
              n(element),
              n(collatable ? DEFAULT_COLLATION : 0),
              0n,
              0n,
              n(SUPERUSER_OID),
              null,
            ];
          }),
          // An enum: typtype e, category E, 4 bytes (its pg_enum row's OID in PostgreSQL).
          ...(source.enums ?? []).map((e) => [
            n(e.oid),
            e.name,
            n(NAMESPACE.public),
            4,
            "e",
            "E",
            n(e.arrayOid),
            0n,
            0n,
            0n,
            0n,
            n(SUPERUSER_OID),
            null,
          ]),
        ],
      };
    case "pg_enum":
      return {
        columns: [
          ["oid", "int8"],
          ["enumtypid", "int8"],
          ["enumsortorder", "float4"],
          ["enumlabel", "text"],
        ],
        rows: (source.enums ?? []).flatMap((e) =>
          e.labels.map((l) => [n(l.oid), n(e.oid), l.sortOrder, l.label])
        ),
      };
    case "pg_collation":
      return {
        columns: [["oid", "int8"], ["collname", "text"], ["collnamespace", "int8"]],
        rows: [
          [n(DEFAULT_COLLATION), "default", n(NAMESPACE.pg_catalog)],
          [950n, "C", n(NAMESPACE.pg_catalog)],
        ],
      };
    case "pg_am":
      return {
        columns: [["oid", "int8"], ["amname", "text"], ["amtype", "text"]],
        rows: [[n(HEAP_AM), "heap", "t"], [n(BTREE_AM), "btree", "i"]],
      };
    case "pg_database": {
      // PostgreSQL's cluster after initdb has postgres, template0 and template1.
      const names = [...new Set([source.database, "postgres", "template0", "template1"])];
      const acl = `{=c/${source.user},${source.user}=CTc/${source.user}}`;
      return {
        columns: [
          ["oid", "int8"],
          ["datname", "text"],
          ["datdba", "int8"],
          ["encoding", "int4"],
          ["datlocprovider", "text"],
          ["datistemplate", "bool"],
          ["datallowconn", "bool"],
          ["datcollate", "text"],
          ["datctype", "text"],
          ["daticulocale", "text"],
          ["datacl", "text"],
        ],
        rows: names.map((datname, i) => {
          const template = datname.startsWith("template");
          return [
            n(i + 1),
            datname,
            n(SUPERUSER_OID),
            6,
            "c",
            template,
            datname !== "template0",
            "C.UTF-8",
            "C.UTF-8",
            null,
            template ? acl : null,
          ];
        }),
      };
    }
    case "pg_roles":
    case "pg_authid":
    case "pg_user":
      return {
        columns: [
          ["oid", "int8"],
          ["rolname", "text"],
          ["rolsuper", "bool"],
          ["rolinherit", "bool"],
          ["rolcreaterole", "bool"],
          ["rolcreatedb", "bool"],
          ["rolcanlogin", "bool"],
          ["rolreplication", "bool"],
          ["rolbypassrls", "bool"],
          ["rolconnlimit", "int4"],
          ["rolvaliduntil", "timestamptz"],
        ],
        rows: [[n(SUPERUSER_OID), source.user, true, true, true, true, true, true, true, -1, null]],
      };
    case "pg_tables":
      return {
        columns: [
          ["schemaname", "text"],
          ["tablename", "text"],
          ["tableowner", "text"],
          ["tablespace", "text"],
          ["hasindexes", "bool"],
          ["hasrules", "bool"],
          ["hastriggers", "bool"],
          ["rowsecurity", "bool"],
        ],
        rows: tables.filter((t) => !t.view).map((t) => [
          "public",
          t.name,
          source.user,
          null,
          t.indexes.length > 0,
          false,
          (t.foreignKeys?.length ?? 0) > 0 ||
          tables.some((o) => o.foreignKeys?.some((f) => f.table === t.name)),
          false,
        ]),
      };
    case "pg_indexes":
      return {
        columns: [
          ["schemaname", "text"],
          ["tablename", "text"],
          ["indexname", "text"],
          ["tablespace", "text"],
          ["indexdef", "text"],
        ],
        rows: tables.filter((t) => !t.view).flatMap((t) =>
          t.indexes.map((index) => ["public", t.name, index.name, null, indexDefinition(t, index)])
        ),
      };
    case "pg_views":
      return {
        columns: [
          ["schemaname", "text"],
          ["viewname", "text"],
          ["viewowner", "text"],
          ["definition", "text"],
        ],
        rows: tables.filter((t) => t.view).map((
          t,
        ) => ["public", t.name, source.user, t.view!.query]),
      };
    default:
      return null;
  }
}

// Functions ---------------------------------------------------------------------------------

/** What a relation OID names: its SQL name, or null. */
export function relationName(source: CatalogSource, oid: bigint | number): string | null {
  const want = Number(oid);
  for (const table of source.tables) {
    if (table.oid === want) return table.name;
    if (table.view) continue;
    for (let i = 0; i < table.indexes.length; i++) {
      if (derivedOid("index", table, i) === want) return table.indexes[i].name;
    }
    for (let i = 0; i < table.columns.length; i++) {
      if (derivedOid("sequence", table, i) === want) {
        return sequenceName(table, table.columns[i]);
      }
    }
  }
  return null;
}

/** The OID of a relation by name (for 'name'::regclass), or null. */
export function relationOid(source: CatalogSource, name: string): number | null {
  const bare = name.replace(/^(public|pg_catalog)\./, "");
  for (const table of source.tables) {
    if (table.name === bare) return table.oid;
    if (table.view) continue;
    const i = table.indexes.findIndex((x) => x.name === bare);
    if (i >= 0) return derivedOid("index", table, i);
  }
  return null;
}

export function indexDefinitionOf(source: CatalogSource, oid: bigint | number): string | null {
  const want = Number(oid);
  for (const table of source.tables) {
    if (table.view) continue;
    for (let i = 0; i < table.indexes.length; i++) {
      if (derivedOid("index", table, i) === want) return indexDefinition(table, table.indexes[i]);
    }
  }
  return null;
}

/** obj_description(oid): the COMMENT ON a table, view or index; null when none. */
export function descriptionOf(source: CatalogSource, oid: bigint | number): string | null {
  const want = Number(oid);
  for (const table of source.tables) {
    if (table.oid === want) return table.comment ?? null;
    if (table.view) continue;
    for (let i = 0; i < table.indexes.length; i++) {
      if (derivedOid("index", table, i) === want) return table.indexes[i].comment ?? null;
    }
  }
  return null;
}

/** col_description(table oid, attnum): the COMMENT ON that column; null when none. */
export function columnDescriptionOf(
  source: CatalogSource,
  oid: bigint | number,
  attnum: number,
): string | null {
  const table = source.tables.find((t) => t.oid === Number(oid));
  return table?.columns[attnum - 1]?.comment ?? null;
}

export function constraintDefinitionOf(
  source: CatalogSource,
  oid: bigint | number,
): string | null {
  const want = Number(oid);
  return constraintsOf(source).find((c) => c.oid === want)?.definition ?? null;
}

export function namespaceName(oid: bigint | number): string | null {
  const want = Number(oid);
  for (const [name, value] of Object.entries(NAMESPACE)) if (value === want) return name;
  return null;
}

export function roleName(source: CatalogSource, oid: bigint | number): string {
  const want = Number(oid);
  if (want === SUPERUSER_OID) return source.user;
  if (want === DATABASE_OWNER_OID) return "pg_database_owner";
  return `unknown (OID=${want})`;
}
