// COPY's text and CSV formats (PostgreSQL 15 docs, SQL command COPY, "File
// Formats"): the options, a row written out, and rows read back from a
// stream of CopyData chunks split anywhere. Pure: the session moves the
// bytes.
//
// - text: one row per line, columns split by the delimiter (tab), NULL as
//   `\N`, backslash escapes (\b \f \n \r \t \v, octal, \x hex, and the
//   delimiter or a backslash escaped by a backslash).
// - csv: columns split by the delimiter (comma), values quoted with QUOTE
//   (") when they hold the delimiter, the quote, a CR or LF, or look like
//   NULL (which is an unquoted empty string by default); a quoted value may
//   span lines; ESCAPE (the quote itself by default) escapes a quote inside
//   quotes; FORCE_QUOTE quotes non-NULL values of the named columns (or *).
// - HEADER: a first line of column names, written on COPY TO and skipped
//   on COPY FROM (MATCH: checked against the column names).
//
// Left out: binary format (0A000), FORCE_NOT_NULL / FORCE_NULL, ENCODING
// other than UTF8, the `\.` end marker inside CSV data.

import { SqlError } from "./errors.ts";

export interface CopyFormat {
  csv: boolean;
  delimiter: string;
  null: string;
  header: boolean | "match";
  quote: string;
  escape: string;
  /** FORCE_QUOTE: column names, or true for all. */
  forceQuote: string[] | true;
}

function single(value: string, what: string): string {
  if ([...new TextEncoder().encode(value)].length !== 1) {
    throw new SqlError("0A000", `COPY ${what} must be a single one-byte character`);
  }
  return value;
}

function boolOption(name: string, value: string): boolean {
  const v = value.toLowerCase();
  if (["true", "on", "1"].includes(v)) return true;
  if (["false", "off", "0"].includes(v)) return false;
  throw new SqlError("22023", `${name} requires a Boolean value`);
}

/** COPY's options (by lower-case name, flags as "true") checked as PostgreSQL checks them. */
export function copyFormat(options: [string, string][], direction: "from" | "to"): CopyFormat {
  let csv = false;
  let delimiter: string | null = null;
  let nullText: string | null = null;
  let header: boolean | "match" = false;
  let quote: string | null = null;
  let escape: string | null = null;
  let forceQuote: string[] | true = [];
  const seen = new Set<string>();
  for (const [name, value] of options) {
    if (seen.has(name)) throw new SqlError("42601", "conflicting or redundant options");
    seen.add(name);
    switch (name) {
      case "format":
        if (value === "binary") {
          throw new SqlError("0A000", 'COPY format "binary" is not supported');
        }
        if (value !== "text" && value !== "csv") {
          throw new SqlError("22023", `COPY format "${value}" not recognized`);
        }
        csv = value === "csv";
        break;
      case "delimiter":
        delimiter = value;
        break;
      case "null":
        nullText = value;
        break;
      case "header":
        header = value.toLowerCase() === "match" ? "match" : boolOption("header", value);
        break;
      case "quote":
        quote = value;
        break;
      case "escape":
        escape = value;
        break;
      case "force_quote":
        forceQuote = value === "*" ? true : value.split(",").map((s) => s.trim());
        break;
      case "encoding":
        if (!/^utf-?8$/i.test(value)) {
          throw new SqlError("0A000", `COPY encoding "${value}" is not supported`);
        }
        break;
      case "freeze":
        break;
      default:
        throw new SqlError("42601", `option "${name}" not recognized`);
    }
  }
  if (!csv && quote !== null) throw new SqlError("0A000", "COPY quote available only in CSV mode");
  if (!csv && escape !== null) {
    throw new SqlError("0A000", "COPY escape available only in CSV mode");
  }
  if (header === "match" && direction === "to") {
    throw new SqlError("0A000", 'cannot use "match" with HEADER in COPY TO');
  }
  const format: CopyFormat = {
    csv,
    delimiter: single(delimiter ?? (csv ? "," : "\t"), "delimiter"),
    null: nullText ?? (csv ? "" : "\\N"),
    header,
    quote: csv ? single(quote ?? '"', "quote") : '"',
    escape: csv ? single(escape ?? quote ?? '"', "escape") : '"',
    forceQuote,
  };
  if (format.delimiter === "\r" || format.delimiter === "\n") {
    throw new SqlError("22023", "COPY delimiter cannot be newline or carriage return");
  }
  if (csv && format.delimiter === format.quote) {
    throw new SqlError("22023", "COPY delimiter and quote must be different");
  }
  if (format.null.includes(format.delimiter)) {
    throw new SqlError(
      "22023",
      "COPY delimiter character must not appear in the NULL specification",
    );
  }
  return format;
}

const TEXT_ESCAPES: Record<string, string> = {
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\v": "\\v",
  "\\": "\\\\",
};

/** One row (values in text form, null for NULL) as a COPY TO line, newline included. */
export function formatCopyRow(
  values: readonly (string | null)[],
  format: CopyFormat,
  forced: readonly boolean[] = [],
): string {
  const out = values.map((value, i) => {
    if (value === null) return format.null;
    if (!format.csv) {
      let s = "";
      for (const c of value) {
        s += TEXT_ESCAPES[c] ?? (c === format.delimiter ? `\\${c}` : c);
      }
      return s;
    }
    const needs = forced[i] || value === format.null || value.includes(format.delimiter) ||
      value.includes(format.quote) || value.includes("\n") || value.includes("\r") ||
      value === "\\.";
    if (!needs) return value;
    let s = format.quote;
    for (const c of value) {
      if (c === format.quote || c === format.escape) s += format.escape;
      s += c;
    }
    return s + format.quote;
  });
  return `${out.join(format.delimiter)}\n`;
}

/** The header line of COPY TO: the column names as a row. */
export function formatCopyHeader(names: readonly string[], format: CopyFormat): string {
  return formatCopyRow(names, format);
}

/** One row read by COPY FROM: its fields, and its line and text for error CONTEXT. */
export interface CopyRow {
  fields: (string | null)[];
  line: number;
  raw: string;
}

/** Reads COPY FROM data in either format, fed chunks split anywhere. */
export class CopyReader {
  readonly #format: CopyFormat;
  #pending = "";
  #headerLeft: boolean;
  #names: readonly string[];
  #line = 0;

  readonly #table: string;

  constructor(format: CopyFormat, names: readonly string[], table: string) {
    this.#format = format;
    this.#headerLeft = format.header !== false;
    this.#names = names;
    this.#table = table;
  }

  /** The rows complete in what has arrived so far. */
  push(text: string): CopyRow[] {
    this.#pending += text;
    return this.#take(false);
  }

  /** The rows left at the end of the data (a last line without its newline). */
  finish(): CopyRow[] {
    return this.#take(true);
  }

  #take(end: boolean): CopyRow[] {
    const rows: CopyRow[] = [];
    for (;;) {
      const before = this.#pending;
      const found = this.#format.csv ? this.#csvRow(end) : this.#textRow(end);
      if (found === null) return rows;
      this.#line++;
      if (found.marker) continue;
      const used = before.length - this.#pending.length;
      const raw = before.slice(0, used).replace(/\r?\n$/, "");
      if (this.#headerLeft) {
        this.#headerLeft = false;
        if (this.#format.header === "match") this.#checkHeader(found.fields, raw);
        continue;
      }
      rows.push({ fields: found.fields, line: this.#line, raw });
    }
  }

  #checkHeader(fields: (string | null)[], raw: string): void {
    const where = copyContext(this.#table, this.#line, raw);
    if (fields.length !== this.#names.length) {
      throw new SqlError("22P04", "wrong number of fields in header line", { where });
    }
    fields.forEach((f, i) => {
      if (f !== this.#names[i]) {
        throw new SqlError(
          "22P04",
          `column name mismatch in header line field ${i + 1}: got "${f}", expected "${
            this.#names[i]
          }"`,
          { where },
        );
      }
    });
  }

  #textRow(end: boolean): { fields: (string | null)[]; marker: boolean } | null {
    let at = this.#pending.indexOf("\n");
    if (at < 0) {
      if (!end || this.#pending === "") return null;
      at = this.#pending.length;
    }
    let line = this.#pending.slice(0, at);
    this.#pending = this.#pending.slice(at + 1);
    if (line.endsWith("\r")) line = line.slice(0, -1);
    if (line === "\\.") return { fields: [], marker: true };
    return { fields: parseTextLine(line, this.#format), marker: false };
  }

  /** One CSV record: may span lines inside quotes; null until it is complete. */
  #csvRow(end: boolean): { fields: (string | null)[]; marker: boolean } | null {
    const { delimiter, quote, escape } = this.#format;
    const s = this.#pending;
    if (s === "") return null;
    const fields: (string | null)[] = [];
    let field = "";
    let quoted = false;
    let wasQuoted = false;
    let i = 0;
    const push = () => {
      fields.push(!wasQuoted && field === this.#format.null ? null : field);
      field = "";
      wasQuoted = false;
    };
    while (i < s.length) {
      const c = s[i];
      if (quoted) {
        if (c === escape && i + 1 < s.length && s[i + 1] === quote && escape !== quote) {
          field += quote;
          i += 2;
          continue;
        }
        if (c === quote) {
          if (escape === quote && s[i + 1] === quote) {
            field += quote;
            i += 2;
            continue;
          }
          if (escape === quote && i + 1 >= s.length && !end) return null; // a quote may follow
          quoted = false;
          i++;
          continue;
        }
        field += c;
        i++;
        continue;
      }
      if (c === quote) {
        quoted = true;
        wasQuoted = true;
        i++;
        continue;
      }
      if (c === delimiter) {
        push();
        i++;
        continue;
      }
      if (c === "\n" || c === "\r") {
        const next = c === "\r" && s[i + 1] === "\n" ? i + 2 : i + 1;
        if (c === "\r" && i + 1 >= s.length && !end) return null;
        push();
        this.#pending = s.slice(next);
        if (fields.length === 1 && fields[0] === "\\." && !wasQuoted) {
          return { fields: [], marker: true };
        }
        return { fields, marker: false };
      }
      field += c;
      i++;
    }
    if (!end) return null;
    if (quoted) throw new SqlError("22P04", "unterminated CSV quoted field");
    push();
    this.#pending = "";
    if (fields.length === 1 && fields[0] === "\\.") return { fields: [], marker: true };
    return { fields, marker: false };
  }
}

/** One text-format line's fields, escapes undone. */
export function parseTextLine(line: string, format: CopyFormat): (string | null)[] {
  const fields: (string | null)[] = [];
  let field = "";
  let raw = "";
  const push = () => {
    fields.push(raw === format.null ? null : field);
    field = "";
    raw = "";
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === format.delimiter) {
      push();
      continue;
    }
    raw += c;
    if (c !== "\\" || i + 1 >= line.length) {
      field += c;
      continue;
    }
    const n = line[++i];
    raw += n;
    const simple: Record<string, string> = {
      b: "\b",
      f: "\f",
      n: "\n",
      r: "\r",
      t: "\t",
      v: "\v",
    };
    if (n in simple) field += simple[n];
    else if (/[0-7]/.test(n)) {
      const digits = /^[0-7]{1,3}/.exec(line.slice(i))![0];
      field += String.fromCharCode(parseInt(digits, 8));
      raw += digits.slice(1);
      i += digits.length - 1;
    } else if (n === "x" && /^[0-9a-fA-F]/.test(line[i + 1] ?? "")) {
      const digits = /^[0-9a-fA-F]{1,2}/.exec(line.slice(i + 1))![0];
      field += String.fromCharCode(parseInt(digits, 16));
      raw += digits;
      i += digits.length;
    } else field += n;
  }
  push();
  return fields;
}

/** PostgreSQL's CONTEXT for an error in COPY FROM data. */
export function copyContext(table: string, line: number, raw: string): string {
  return `COPY ${table}, line ${line}: "${raw}"`;
}
