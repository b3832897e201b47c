// Prints a syntax tree back as SQL in one canonical form: keywords in upper
// case, every compound expression in parentheses, names quoted only when
// they must be. Parsing the output gives the same tree again (the parser
// round-trip test holds us to it), so the printer also serves EXPLAIN,
// stored view definitions and error messages.

import type {
  Alias,
  AlterAction,
  Assignment,
  ColumnConstraint,
  ColumnDef,
  Expr,
  FrameBound,
  FromItem,
  FunctionCall,
  OrderItem,
  QualifiedName,
  QueryBody,
  References,
  SelectItem,
  SelectStatement,
  Statement,
  TableConstraint,
  TypeName,
  WindowSpec,
  WithClause,
} from "./ast.ts";
import { COL_NAME, RESERVED, TYPE_FUNC_NAME } from "./keywords.ts";

/** A name as SQL: bare when it reads back the same, else in double quotes. */
export function quoteIdentifier(name: string): string {
  if (
    /^[a-z_][a-z0-9_$]*$/.test(name) && !RESERVED.has(name) && !TYPE_FUNC_NAME.has(name) &&
    !COL_NAME.has(name)
  ) {
    return name;
  }
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * A string constant in standard form ('' for a quote; backslashes are
 * ordinary characters, as with standard_conforming_strings = on).
 */
export function quoteString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function qualified(name: QualifiedName): string {
  return name.map(quoteIdentifier).join(".");
}

function names(list: string[]): string {
  return list.map(quoteIdentifier).join(", ");
}

/** Canonical type names the parser reads back as types even where they are keywords. */
const TYPE_KEYWORDS = new Set(["numeric", "varchar", "time", "timestamp", "interval"]);

function typeName(type: TypeName): string {
  const base = TYPE_KEYWORDS.has(type.name)
    ? type.name
    : type.name.split(".").map(quoteIdentifier).join(".");
  const modifiers = type.modifiers.length > 0 ? `(${type.modifiers.join(", ")})` : "";
  return base + modifiers + (type.array ? "[]" : "");
}

/** Function names print bare unless quoting is needed to read them back as a function. */
function functionName(name: QualifiedName): string {
  const last = name[name.length - 1];
  const asFunction = /^[a-z_][a-z0-9_$]*$/.test(last) && !RESERVED.has(last) &&
    (!COL_NAME.has(last) || ["coalesce", "nullif", "greatest", "least", "grouping"].includes(last));
  return [...name.slice(0, -1).map(quoteIdentifier), asFunction ? last : quoteIdentifier(last)]
    .join(".");
}

function functionCall(call: FunctionCall): string {
  const field = call.args[0];
  if (call.name.length === 1 && call.name[0] === "extract" && field?.kind === "string") {
    return `EXTRACT(${quoteString(field.value)} FROM ${printExpr(call.args[1])})`;
  }
  let args = call.star ? "*" : call.args.map(printExpr).join(", ");
  if (call.distinct) args = `DISTINCT ${args}`;
  if (call.orderBy.length > 0 && !call.withinGroup) args += ` ORDER BY ${orderList(call.orderBy)}`;
  let text = `${functionName(call.name)}(${args})`;
  if (call.withinGroup) text += ` WITHIN GROUP (ORDER BY ${orderList(call.orderBy)})`;
  if (call.filter !== null) text += ` FILTER (WHERE ${printExpr(call.filter)})`;
  if (call.over) text += ` OVER ${windowSpec(call.over)}`;
  return text;
}

/** A window: its name alone (`OVER w`) or its parenthesized definition. */
function windowSpec(over: WindowSpec): string {
  if (over.bare) return quoteIdentifier(over.existing!);
  const parts: string[] = [];
  if (over.existing !== undefined) parts.push(quoteIdentifier(over.existing));
  if (over.partitionBy.length > 0) {
    parts.push(`PARTITION BY ${over.partitionBy.map(printExpr).join(", ")}`);
  }
  if (over.orderBy.length > 0) parts.push(`ORDER BY ${orderList(over.orderBy)}`);
  const frame = over.frame;
  if (frame) {
    const bound = (b: FrameBound) =>
      b.offset !== undefined
        ? `${b.offset} ${b.kind.toUpperCase()}`
        : b.kind.replace("_", " ").toUpperCase().replace("CURRENT", "CURRENT ROW");
    parts.push(
      `${frame.mode.toUpperCase()} BETWEEN ${bound(frame.start)} AND ${bound(frame.end)}`,
    );
  }
  return `(${parts.join(" ")})`;
}

/** One expression, fully parenthesized. */
export function printExpr(expr: Expr): string {
  switch (expr.kind) {
    case "number":
      return expr.text;
    case "string":
      return quoteString(expr.value);
    case "boolean":
      return expr.value ? "TRUE" : "FALSE";
    case "null":
      return "NULL";
    case "param":
      return `$${expr.index}`;
    case "column":
      return qualified(expr.path);
    case "star":
      return expr.table.length > 0 ? `${qualified(expr.table)}.*` : "*";
    case "unary":
      return `(${expr.op} ${printExpr(expr.operand)})`;
    case "binary": {
      const op = expr.op === "and" || expr.op === "or" ? expr.op.toUpperCase() : expr.op;
      return `(${printExpr(expr.left)} ${op} ${printExpr(expr.right)})`;
    }
    case "not":
      return `(NOT ${printExpr(expr.operand)})`;
    case "is":
      return `(${printExpr(expr.operand)} IS ${expr.not ? "NOT " : ""}${expr.test.toUpperCase()})`;
    case "distinct_from":
      return `(${printExpr(expr.left)} IS ${expr.not ? "NOT " : ""}DISTINCT FROM ${
        printExpr(expr.right)
      })`;
    case "between":
      return `(${printExpr(expr.operand)} ${expr.not ? "NOT " : ""}BETWEEN ` +
        `${expr.symmetric ? "SYMMETRIC " : ""}${printExpr(expr.low)} AND ${printExpr(expr.high)})`;
    case "like": {
      const escape = expr.escape === null ? "" : ` ESCAPE ${printExpr(expr.escape)}`;
      return `(${printExpr(expr.operand)} ${expr.not ? "NOT " : ""}` +
        `${expr.similar ? "SIMILAR TO" : expr.caseInsensitive ? "ILIKE" : "LIKE"} ` +
        `${printExpr(expr.pattern)}${escape})`;
    }
    case "in_list":
      return `(${printExpr(expr.operand)} ${expr.not ? "NOT " : ""}IN (${
        expr.list.map(printExpr).join(", ")
      }))`;
    case "in_subquery":
      return `(${printExpr(expr.operand)} ${expr.not ? "NOT " : ""}IN (${
        printSelect(expr.query)
      }))`;
    case "quantified":
      return `(${printExpr(expr.operand)} ${expr.op} ${expr.quantifier.toUpperCase()} (${
        printSelect(expr.query)
      }))`;
    case "exists":
      return `EXISTS (${printSelect(expr.query)})`;
    case "subquery":
      return `(${printSelect(expr.query)})`;
    case "case": {
      let text = "CASE";
      if (expr.operand !== null) text += ` ${printExpr(expr.operand)}`;
      for (const { when, then } of expr.whens) {
        text += ` WHEN ${printExpr(when)} THEN ${printExpr(then)}`;
      }
      if (expr.else !== null) text += ` ELSE ${printExpr(expr.else)}`;
      return `${text} END`;
    }
    case "cast":
      return `CAST(${printExpr(expr.operand)} AS ${typeName(expr.type)})`;
    case "function":
      return functionCall(expr);
    case "sql_function":
      return expr.name.toUpperCase();
    case "default":
      return "DEFAULT";
    case "array":
      return `ARRAY[${expr.elements.map(printExpr).join(", ")}]`;
    case "array_subquery":
      return `ARRAY(${printSelect(expr.query)})`;
    case "quantified_array":
      return `(${printExpr(expr.operand)} ${expr.op} ${expr.quantifier.toUpperCase()} (${
        printExpr(expr.array)
      }))`;
    case "subscript": {
      const index = expr.lowerOmitted ? "" : printExpr(expr.index);
      if (!expr.slice) return `(${printExpr(expr.operand)})[${index}]`;
      const upper = expr.upper ? printExpr(expr.upper) : "";
      return `(${printExpr(expr.operand)})[${index}:${upper}]`;
    }
    case "field":
      return `(${printExpr(expr.operand)}).${
        expr.field === null ? "*" : quoteIdentifier(expr.field)
      }`;
    case "row":
      return `ROW(${expr.items.map(printExpr).join(", ")})`;
  }
}

function orderList(items: OrderItem[]): string {
  return items.map((item) => {
    let text = printExpr(item.expr);
    if (item.direction !== null) text += ` ${item.direction.toUpperCase()}`;
    if (item.nulls !== null) text += ` NULLS ${item.nulls.toUpperCase()}`;
    return text;
  }).join(", ");
}

function selectItems(items: SelectItem[]): string {
  return items.map((item) =>
    item.alias === null
      ? printExpr(item.expr)
      : `${printExpr(item.expr)} AS ${quoteIdentifier(item.alias)}`
  ).join(", ");
}

function alias(value: Alias | null): string {
  if (value === null) return "";
  const columns = value.columns.length > 0 ? `(${names(value.columns)})` : "";
  return ` AS ${quoteIdentifier(value.name)}${columns}`;
}

function fromItem(item: FromItem): string {
  switch (item.kind) {
    case "table":
      return `${item.only ? "ONLY " : ""}${qualified(item.name)}${alias(item.alias)}`;
    case "subquery":
      return `${item.lateral ? "LATERAL " : ""}(${printSelect(item.query)})${alias(item.alias)}`;
    case "function":
      return `${item.lateral ? "LATERAL " : ""}${functionCall(item.call)}${
        item.ordinality ? " WITH ORDINALITY" : ""
      }${alias(item.alias)}`;
    case "join": {
      const type = item.type === "cross" ? "CROSS" : item.type.toUpperCase();
      let text = `(${fromItem(item.left)} ${item.natural ? "NATURAL " : ""}${type} JOIN ${
        fromItem(item.right)
      }`;
      if (item.on !== null) text += ` ON ${printExpr(item.on)}`;
      if (item.using !== null) text += ` USING (${names(item.using)})`;
      return `${text})`;
    }
  }
}

function queryBody(body: QueryBody): string {
  switch (body.kind) {
    case "select_core": {
      let text = "SELECT";
      if (body.distinct === true) text += " DISTINCT";
      else if (Array.isArray(body.distinct)) {
        text += ` DISTINCT ON (${body.distinct.map(printExpr).join(", ")})`;
      }
      if (body.columns.length > 0) text += ` ${selectItems(body.columns)}`;
      if (body.from.length > 0) text += ` FROM ${body.from.map(fromItem).join(", ")}`;
      if (body.where !== null) text += ` WHERE ${printExpr(body.where)}`;
      if (body.groupingSets) {
        const sets = body.groupingSets.map((set) =>
          `(${set.map((i) => printExpr(body.groupBy[i])).join(", ")})`
        );
        text += ` GROUP BY GROUPING SETS (${sets.join(", ")})`;
      } else if (body.groupBy.length > 0) {
        text += ` GROUP BY ${body.groupBy.map(printExpr).join(", ")}`;
      }
      if (body.having !== null) text += ` HAVING ${printExpr(body.having)}`;
      if (body.windows && body.windows.length > 0) {
        text += ` WINDOW ${
          body.windows.map((w) => `${quoteIdentifier(w.name)} AS ${windowSpec(w.spec)}`).join(", ")
        }`;
      }
      return text;
    }
    case "values":
      return `VALUES ${body.rows.map((row) => `(${row.map(printExpr).join(", ")})`).join(", ")}`;
    case "set_operation":
      return `(${queryBody(body.left)}) ${body.op.toUpperCase()}${body.all ? " ALL" : ""} (${
        queryBody(body.right)
      })`;
    case "select":
      return printSelect(body);
  }
}

function withClause(clause: WithClause | null): string {
  if (clause === null) return "";
  const ctes = clause.ctes.map((cte) => {
    const columns = cte.columns.length > 0 ? `(${names(cte.columns)})` : "";
    const materialized = cte.materialized === null
      ? ""
      : cte.materialized
      ? "MATERIALIZED "
      : "NOT MATERIALIZED ";
    return `${quoteIdentifier(cte.name)}${columns} AS ${materialized}(${
      printStatement(cte.query)
    })`;
  });
  return `WITH ${clause.recursive ? "RECURSIVE " : ""}${ctes.join(", ")} `;
}

/** A query: bodies that need it are wrapped so ORDER BY and LIMIT attach to the whole. */
export function printSelect(statement: SelectStatement): string {
  let text = withClause(statement.with) + queryBody(statement.body);
  if (statement.orderBy.length > 0) text += ` ORDER BY ${orderList(statement.orderBy)}`;
  if (statement.limit !== null) text += ` LIMIT ${printExpr(statement.limit)}`;
  if (statement.offset !== null) text += ` OFFSET ${printExpr(statement.offset)}`;
  for (const lock of statement.locking ?? []) {
    text += ` FOR ${lock.strength.toUpperCase()}`;
    if (lock.of.length > 0) text += ` OF ${lock.of.map(quoteIdentifier).join(", ")}`;
    if (lock.wait !== "wait") text += ` ${lock.wait.toUpperCase()}`;
  }
  return text;
}

function assignments(set: Assignment[]): string {
  return set.map((a) => `${quoteIdentifier(a.column)} = ${printExpr(a.value)}`).join(", ");
}

function returning(items: SelectItem[]): string {
  return items.length > 0 ? ` RETURNING ${selectItems(items)}` : "";
}

function references(ref: References): string {
  let text = `REFERENCES ${qualified(ref.table)}`;
  if (ref.columns.length > 0) text += ` (${names(ref.columns)})`;
  if (ref.onDelete !== null) text += ` ON DELETE ${ref.onDelete.toUpperCase()}`;
  if (ref.onUpdate !== null) text += ` ON UPDATE ${ref.onUpdate.toUpperCase()}`;
  return text;
}

function constraintName(name: string | null): string {
  return name === null ? "" : `CONSTRAINT ${quoteIdentifier(name)} `;
}

function columnConstraint(c: ColumnConstraint): string {
  const prefix = constraintName(c.name);
  switch (c.kind) {
    case "not_null":
      return `${prefix}NOT NULL`;
    case "null":
      return `${prefix}NULL`;
    case "primary_key":
      return `${prefix}PRIMARY KEY`;
    case "unique":
      return `${prefix}UNIQUE`;
    case "default":
      return `${prefix}DEFAULT ${printExpr(c.expr)}`;
    case "check":
      return `${prefix}CHECK (${printExpr(c.expr)})`;
    case "references":
      return prefix + references(c.references);
    case "identity":
      return `${prefix}GENERATED ${c.always ? "ALWAYS" : "BY DEFAULT"} AS IDENTITY`;
  }
}

function tableConstraint(c: TableConstraint): string {
  const prefix = constraintName(c.name);
  switch (c.kind) {
    case "primary_key":
      return `${prefix}PRIMARY KEY (${names(c.columns)})`;
    case "unique":
      return `${prefix}UNIQUE (${names(c.columns)})`;
    case "check":
      return `${prefix}CHECK (${printExpr(c.expr)})`;
    case "foreign_key":
      return `${prefix}FOREIGN KEY (${names(c.columns)}) ${references(c.references)}`;
  }
}

function columnDef(column: ColumnDef): string {
  return [
    quoteIdentifier(column.name),
    typeName(column.type),
    ...column.constraints.map(columnConstraint),
  ]
    .join(" ");
}

function alterAction(action: AlterAction): string {
  switch (action.kind) {
    case "add_column":
      return `ADD COLUMN ${action.ifNotExists ? "IF NOT EXISTS " : ""}${columnDef(action.column)}`;
    case "drop_column":
      return `DROP COLUMN ${action.ifExists ? "IF EXISTS " : ""}${quoteIdentifier(action.name)}` +
        (action.cascade ? " CASCADE" : "");
    case "rename_column":
      return `RENAME COLUMN ${quoteIdentifier(action.from)} TO ${quoteIdentifier(action.to)}`;
    case "rename_table":
      return `RENAME TO ${quoteIdentifier(action.to)}`;
    case "add_constraint":
      return `ADD ${tableConstraint(action.constraint)}${action.notValid ? " NOT VALID" : ""}`;
    case "validate_constraint":
      return `VALIDATE CONSTRAINT ${quoteIdentifier(action.name)}`;
    case "drop_constraint":
      return `DROP CONSTRAINT ${action.ifExists ? "IF EXISTS " : ""}${
        quoteIdentifier(action.name)
      }` +
        (action.cascade ? " CASCADE" : "");
    case "set_default":
      return `ALTER COLUMN ${quoteIdentifier(action.column)} ` +
        (action.expr === null ? "DROP DEFAULT" : `SET DEFAULT ${printExpr(action.expr)}`);
    case "set_not_null":
      return `ALTER COLUMN ${quoteIdentifier(action.column)} ${
        action.notNull ? "SET" : "DROP"
      } NOT NULL`;
    case "alter_type":
      return `ALTER COLUMN ${quoteIdentifier(action.column)} TYPE ${typeName(action.type)}` +
        (action.using === null ? "" : ` USING ${printExpr(action.using)}`);
  }
}

function dropTail(ifExists: boolean, list: QualifiedName[], cascade: boolean): string {
  return `${ifExists ? "IF EXISTS " : ""}${list.map(qualified).join(", ")}${
    cascade ? " CASCADE" : ""
  }`;
}

/** One statement, without a trailing semicolon. */
export function printStatement(statement: Statement): string {
  switch (statement.kind) {
    case "select":
      return printSelect(statement);
    case "insert": {
      let text = `${withClause(statement.with)}INSERT INTO ${qualified(statement.table)}`;
      if (statement.alias !== null) text += ` AS ${quoteIdentifier(statement.alias)}`;
      if (statement.columns !== null) text += ` (${names(statement.columns)})`;
      text += statement.source === null ? " DEFAULT VALUES" : ` ${printSelect(statement.source)}`;
      const conflict = statement.onConflict;
      if (conflict !== null) {
        text += " ON CONFLICT";
        if (conflict.columns !== null) text += ` (${names(conflict.columns)})`;
        if (conflict.constraint !== null) {
          text += ` ON CONSTRAINT ${quoteIdentifier(conflict.constraint)}`;
        }
        if (conflict.action.kind === "nothing") text += " DO NOTHING";
        else {
          text += ` DO UPDATE SET ${assignments(conflict.action.set)}`;
          if (conflict.action.where !== null) text += ` WHERE ${printExpr(conflict.action.where)}`;
        }
      }
      return text + returning(statement.returning);
    }
    case "update": {
      let text = `${withClause(statement.with)}UPDATE ${qualified(statement.table)}`;
      if (statement.alias !== null) text += ` AS ${quoteIdentifier(statement.alias)}`;
      text += ` SET ${assignments(statement.set)}`;
      if (statement.from.length > 0) text += ` FROM ${statement.from.map(fromItem).join(", ")}`;
      if (statement.where !== null) text += ` WHERE ${printExpr(statement.where)}`;
      return text + returning(statement.returning);
    }
    case "delete": {
      let text = `${withClause(statement.with)}DELETE FROM ${qualified(statement.table)}`;
      if (statement.alias !== null) text += ` AS ${quoteIdentifier(statement.alias)}`;
      if (statement.using.length > 0) text += ` USING ${statement.using.map(fromItem).join(", ")}`;
      if (statement.where !== null) text += ` WHERE ${printExpr(statement.where)}`;
      return text + returning(statement.returning);
    }
    case "create_table": {
      const parts = [
        ...statement.columns.map(columnDef),
        ...statement.constraints.map(tableConstraint),
      ];
      return `CREATE ${statement.temporary ? "TEMPORARY " : ""}TABLE ` +
        `${statement.ifNotExists ? "IF NOT EXISTS " : ""}${qualified(statement.name)} (${
          parts.join(", ")
        })`;
    }
    case "create_table_as": {
      const columns = statement.columns.length > 0 ? ` (${names(statement.columns)})` : "";
      return `CREATE ${statement.temporary ? "TEMPORARY " : ""}TABLE ` +
        `${statement.ifNotExists ? "IF NOT EXISTS " : ""}${qualified(statement.name)}${columns} ` +
        `AS ${printSelect(statement.query)}`;
    }
    case "drop_table":
      return `DROP TABLE ${dropTail(statement.ifExists, statement.names, statement.cascade)}`;
    case "create_index": {
      const columns = statement.columns.map((c) => {
        let text = c.expr.kind === "column" ? printExpr(c.expr) : `(${printExpr(c.expr)})`;
        if (c.opclass !== undefined) text += ` ${quoteIdentifier(c.opclass)}`;
        if (c.direction !== null) text += ` ${c.direction.toUpperCase()}`;
        if (c.nulls !== null) text += ` NULLS ${c.nulls.toUpperCase()}`;
        return text;
      });
      let text = `CREATE ${statement.unique ? "UNIQUE " : ""}INDEX ` +
        `${statement.ifNotExists ? "IF NOT EXISTS " : ""}` +
        `${statement.name === null ? "" : quoteIdentifier(statement.name) + " "}` +
        `ON ${qualified(statement.table)} (${columns.join(", ")})`;
      if (statement.include) text += ` INCLUDE (${names(statement.include)})`;
      if (statement.where !== null) text += ` WHERE ${printExpr(statement.where)}`;
      return text;
    }
    case "drop_index":
      return `DROP INDEX ${dropTail(statement.ifExists, statement.names, statement.cascade)}`;
    case "alter_table":
      return `ALTER TABLE ${statement.ifExists ? "IF EXISTS " : ""}${qualified(statement.table)} ` +
        statement.actions.map(alterAction).join(", ");
    case "create_view": {
      const columns = statement.columns.length > 0 ? ` (${names(statement.columns)})` : "";
      return `CREATE ${statement.orReplace ? "OR REPLACE " : ""}VIEW ${
        qualified(statement.name)
      }${columns} ` +
        `AS ${printSelect(statement.query)}`;
    }
    case "drop_view":
      return `DROP VIEW ${dropTail(statement.ifExists, statement.names, statement.cascade)}`;
    case "truncate":
      return `TRUNCATE ${statement.tables.map(qualified).join(", ")}` +
        (statement.restartIdentity ? " RESTART IDENTITY" : "") +
        (statement.cascade ? " CASCADE" : "");
    case "begin": {
      const modes: string[] = [];
      if (statement.isolation !== null) {
        modes.push(`ISOLATION LEVEL ${statement.isolation.toUpperCase()}`);
      }
      if (statement.readOnly !== null) modes.push(statement.readOnly ? "READ ONLY" : "READ WRITE");
      return [statement.start ? "START TRANSACTION" : "BEGIN", ...modes].join(" ");
    }
    case "commit":
      return statement.chain ? "COMMIT AND CHAIN" : "COMMIT";
    case "rollback":
      return statement.chain ? "ROLLBACK AND CHAIN" : "ROLLBACK";
    case "savepoint":
      return `SAVEPOINT ${quoteIdentifier(statement.name)}`;
    case "rollback_to":
      return `ROLLBACK TO SAVEPOINT ${quoteIdentifier(statement.name)}`;
    case "release":
      return `RELEASE SAVEPOINT ${quoteIdentifier(statement.name)}`;
    case "set": {
      const name = statement.name.split(".").map(quoteIdentifier).join(".");
      const value = statement.values === null
        ? "DEFAULT"
        : statement.values.map(printExpr).join(", ");
      return `SET ${statement.local ? "LOCAL " : ""}${name} TO ${value}`;
    }
    case "show":
      return `SHOW ${
        statement.name === "all" ? "ALL" : statement.name.split(".").map(quoteIdentifier).join(".")
      }`;
    case "reset":
      return `RESET ${
        statement.name === "all" ? "ALL" : statement.name.split(".").map(quoteIdentifier).join(".")
      }`;
    case "explain": {
      const options = [statement.analyze ? "ANALYZE" : "", statement.verbose ? "VERBOSE" : ""]
        .filter((o) => o !== "");
      return `EXPLAIN ${options.length > 0 ? `(${options.join(", ")}) ` : ""}${
        printStatement(statement.statement)
      }`;
    }
    case "copy": {
      let text = statement.query
        ? `COPY (${printSelect(statement.query)})`
        : `COPY ${qualified(statement.table)}`;
      if (statement.columns !== null) text += ` (${names(statement.columns)})`;
      text += statement.direction === "from" ? " FROM STDIN" : " TO STDOUT";
      if (statement.options.length > 0) {
        text += ` (${
          statement.options.map(([name, value]) => `${quoteIdentifier(name)} ${quoteString(value)}`)
            .join(", ")
        })`;
      }
      return text;
    }
    case "vacuum":
      return `VACUUM${statement.analyze ? " ANALYZE" : ""}` +
        (statement.tables.length > 0 ? ` ${statement.tables.map(qualified).join(", ")}` : "");
    case "analyze":
      return `ANALYZE${
        statement.tables.length > 0 ? ` ${statement.tables.map(qualified).join(", ")}` : ""
      }`;
    case "prepare":
      return `PREPARE ${quoteIdentifier(statement.name)}` +
        (statement.types.length > 0 ? ` (${statement.types.map(typeName).join(", ")})` : "") +
        ` AS ${printStatement(statement.statement)}`;
    case "execute":
      return `EXECUTE ${quoteIdentifier(statement.name)}` +
        (statement.params.length > 0 ? ` (${statement.params.map(printExpr).join(", ")})` : "");
    case "create_sequence":
      return `CREATE SEQUENCE ${statement.ifNotExists ? "IF NOT EXISTS " : ""}${
        qualified(statement.name)
      }`;
    case "drop_sequence":
      return `DROP SEQUENCE ${statement.ifExists ? "IF EXISTS " : ""}${
        statement.names.map(qualified).join(", ")
      }`;
    case "deallocate":
      return `DEALLOCATE ${statement.name === null ? "ALL" : quoteIdentifier(statement.name)}`;
    case "create_extension":
      return `CREATE EXTENSION ${statement.ifNotExists ? "IF NOT EXISTS " : ""}${
        quoteIdentifier(statement.name)
      }`;
    case "drop_extension":
      return `DROP EXTENSION ${statement.ifExists ? "IF EXISTS " : ""}${
        statement.names.map(quoteIdentifier).join(", ")
      }`;
    case "create_schema":
      return `CREATE SCHEMA ${statement.ifNotExists ? "IF NOT EXISTS " : ""}${
        quoteIdentifier(statement.name)
      }`;
    case "lock_table":
      return `LOCK TABLE ${statement.tables.map(qualified).join(", ")} IN ${statement.mode} MODE`;
    case "session_characteristics":
      return "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE";
    case "comment":
      return `COMMENT ON ${statement.target.toUpperCase()} ${qualified(statement.name)} IS ${
        statement.text === null ? "NULL" : quoteString(statement.text)
      }`;
    case "set_constraints":
      return `SET CONSTRAINTS ${
        statement.names === null ? "ALL" : statement.names.map(quoteIdentifier).join(", ")
      } ${statement.deferred ? "DEFERRED" : "IMMEDIATE"}`;
    case "create_enum":
      return `CREATE TYPE ${qualified(statement.name)} AS ENUM (${
        statement.labels.map(quoteString).join(", ")
      })`;
    case "alter_enum": {
      const action = statement.action;
      const target = `ALTER TYPE ${qualified(statement.name)}`;
      if (action.kind === "rename") return `${target} RENAME TO ${quoteIdentifier(action.to)}`;
      if (action.kind === "rename_value") {
        return `${target} RENAME VALUE ${quoteString(action.from)} TO ${quoteString(action.to)}`;
      }
      const where = action.neighbor === null
        ? ""
        : ` ${action.neighbor.before ? "BEFORE" : "AFTER"} ${quoteString(action.neighbor.label)}`;
      return `${target} ADD VALUE ${action.ifNotExists ? "IF NOT EXISTS " : ""}${
        quoteString(action.label)
      }${where}`;
    }
    case "drop_type":
      return `DROP TYPE ${statement.ifExists ? "IF EXISTS " : ""}${
        statement.names.map(qualified).join(", ")
      }${statement.cascade ? " CASCADE" : ""}`;
  }
}
