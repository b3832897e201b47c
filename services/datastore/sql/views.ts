// Views: CREATE [OR REPLACE] VIEW, DROP VIEW, and what depends on what.
//
// A view is a catalog entry with no engine table: its query as SQL text
// (printed from the tree, so it parses back the same), its output columns
// with their types, and the tables and views it reads. Reading a view
// plans its query in place, as a subquery in FROM would be (executor.ts
// Planner #table), so a view costs nothing until used and sees the
// tables' current rows. PostgreSQL's rules (CREATE VIEW in the SQL
// commands reference): OR REPLACE may only add columns at the end, never
// drop, rename or retype one (42P16); DROP TABLE or DROP VIEW of a
// relation a view reads fails with 2BP01 unless CASCADE, which drops
// the view too.
//
// Left out: updatable views (INSERT, UPDATE and DELETE through a view are
// refused), WITH CHECK OPTION, recursive and materialized views, ALTER VIEW.

import type { SelectStatement } from "./ast.ts";
import type { SqlColumn, SqlTable } from "./catalog.ts";
import { SqlError } from "./errors.ts";
import { type SqlType, typeDisplayName } from "./eval.ts";
import { printSelect } from "./printer.ts";

/** The relations a query reads by name (CTE names included; the caller filters). */
export function relationsOf(query: SelectStatement): string[] {
  const out = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
    } else if (node !== null && typeof node === "object") {
      const item = node as { kind?: string; name?: unknown };
      if (item.kind === "table" && Array.isArray(item.name)) {
        out.add(item.name[item.name.length - 1] as string);
      }
      for (const value of Object.values(node)) visit(value);
    }
  };
  visit(query);
  return [...out];
}

/** A planned view column: name, type and type modifier as RowDescription has them. */
export interface ViewColumn {
  name: string;
  type: SqlType;
  typeModifier: number;
}

function columnOf(c: ViewColumn): SqlColumn {
  const type = c.type === "unknown" ? "text" : c.type;
  const modifiers: number[] = [];
  if (c.typeModifier >= 4 && (type === "varchar" || type === "bpchar")) {
    modifiers.push(c.typeModifier - 4);
  } else if (c.typeModifier >= 4 && type === "numeric") {
    modifiers.push(((c.typeModifier - 4) >> 16) & 0xffff, (c.typeModifier - 4) & 0xffff);
  }
  return {
    name: c.name,
    type,
    typeName: { name: type, modifiers, array: false },
    notNull: false,
    default: null,
    serial: false,
  };
}

/**
 * The catalog entry for CREATE [OR REPLACE] VIEW, checked against the view
 * it replaces. `planned` are the query's columns.
 */
export function newView(
  tables: ReadonlyMap<string, SqlTable>,
  statement: { name: string; orReplace: boolean; columns: string[]; query: SelectStatement },
  planned: ViewColumn[],
  oid: number,
): SqlTable {
  if (statement.columns.length > planned.length) {
    throw new SqlError("42601", "CREATE VIEW specifies more column names than columns");
  }
  const columns = planned.map((c, i) => columnOf({ ...c, name: statement.columns[i] ?? c.name }));
  const seen = new Set<string>();
  for (const c of columns) {
    if (seen.has(c.name)) {
      throw new SqlError("42701", `column "${c.name}" specified more than once`);
    }
    seen.add(c.name);
  }
  const old = tables.get(statement.name);
  if (old) {
    if (!old.view) throw new SqlError("42809", `"${statement.name}" is not a view`);
    if (!statement.orReplace) {
      throw new SqlError("42P07", `relation "${statement.name}" already exists`);
    }
    if (columns.length < old.columns.length) {
      throw new SqlError("42P16", "cannot drop columns from view");
    }
    old.columns.forEach((was, i) => {
      const now = columns[i];
      if (now.name !== was.name) {
        throw new SqlError(
          "42P16",
          `cannot change name of view column "${was.name}" to "${now.name}"`,
          { hint: "Use ALTER VIEW ... RENAME COLUMN ... to change name of view column instead." },
        );
      }
      if (now.type !== was.type) {
        throw new SqlError(
          "42P16",
          `cannot change data type of view column "${was.name}" from ${
            typeDisplayName(was.type)
          } to ${typeDisplayName(now.type)}`,
        );
      }
    });
  }
  const reads = relationsOf(statement.query).filter((name) =>
    tables.has(name) && name !== statement.name
  );
  return {
    name: statement.name,
    engineName: "",
    oid: old?.oid ?? oid,
    columns,
    rowid: false,
    indexes: [],
    view: {
      query: printSelect(statement.query),
      columns: columns.map((c) => c.name),
      reads,
    },
  };
}

/** Views that read `name`. */
export function viewsReading(tables: ReadonlyMap<string, SqlTable>, name: string): SqlTable[] {
  return [...tables.values()].filter((t) => t.view?.reads?.includes(name));
}

/** 42809 for DDL or DML that needs a table and got a view (or the reverse for DROP VIEW). */
export function requireTable(table: SqlTable, doing: string): void {
  if (table.view) {
    throw new SqlError("0A000", `cannot ${doing} view "${table.name}"`, {
      detail: "Views are read-only here: this server has no updatable views.",
    });
  }
}
