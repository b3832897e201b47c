// The SQL lexer, after PostgreSQL's scan.l (documentation 4.1 "Lexical
// Structure"): it turns a query string into tokens with their positions.
//
// - Unquoted identifiers and keywords fold to lower case (ASCII letters
//   only, as PostgreSQL does under UTF-8); quoted identifiers keep their case
//   and take "" as a quote. Both are truncated to 63 bytes (NAMEDATALEN - 1)
//   on a character boundary, with PostgreSQL's NOTICE 42622.
// - String constants: '...' with '' ('\' is an ordinary character, as under
//   standard_conforming_strings = on), E'...' with backslash escapes,
//   $tag$...$tag$ dollar quoting; constants split by whitespace holding a
//   newline are one constant (SQL standard).
// - Numeric constants (integers, decimals, exponents), positional
//   parameters $n, operators by PostgreSQL's rules for multi-character
//   operators, comments -- and nested /* */.
//
// Left out: U&'...' and U&"..." Unicode escapes, B'...' and X'...' bit
// strings, and the non-UTF-8 encodings.

import { type SqlNotice, SqlSyntaxError } from "./errors.ts";

export type TokenKind =
  /** An unquoted name or keyword: `text` is folded to lower case. */
  | "word"
  /** A "quoted" identifier: `text` is as written. */
  | "quoted"
  | "string"
  /** An integer constant. */
  | "integer"
  /** A decimal or exponent constant. */
  | "numeric"
  /** $n: `text` is the number. */
  | "param"
  /** An operator or punctuation: `text` is the operator ("!=" is "<>"). */
  | "op"
  | "eof";

export interface Token {
  kind: TokenKind;
  text: string;
  /** Offset in the query string (UTF-16 units) where the token starts. */
  start: number;
  /** Offset just past the token. */
  end: number;
}

/** Longest identifier in bytes: NAMEDATALEN (64) minus its terminating zero. */
export const IDENTIFIER_BYTES_MAX = 63;

const OPERATOR_CHARS = "+-*/<>=~!@#%^&|`?";
/** A multi-character operator may end in + or - only if it holds one of these. */
const OPERATOR_NON_SQL = "~!@#%^&|`?";
const SELF_CHARS = ",()[].;:+-*/%^<>=";

function isSpace(c: string): boolean {
  return c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f" || c === "\v";
}

function isIdentStart(c: string): boolean {
  return (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "_" || c > "\x7f";
}

function isIdentChar(c: string): boolean {
  return isIdentStart(c) || (c >= "0" && c <= "9") || c === "$";
}

function isDigit(c: string): boolean {
  return c >= "0" && c <= "9";
}

/** 1-based character position of a UTF-16 offset, as PostgreSQL counts characters. */
export function characterPosition(sql: string, offset: number): number {
  let position = 1;
  for (let i = 0; i < offset && i < sql.length; i++) {
    const code = sql.charCodeAt(i);
    // A surrogate pair is one character.
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < offset) i++;
    position++;
  }
  return position;
}

const encoder = new TextEncoder();

/** Cuts a name to 63 bytes on a character boundary, as PostgreSQL's truncate_identifier. */
export function truncateIdentifier(name: string, notices: SqlNotice[]): string {
  if (name.length <= IDENTIFIER_BYTES_MAX / 3) return name; // cannot exceed 63 bytes
  if (encoder.encode(name).length <= IDENTIFIER_BYTES_MAX) return name;
  let bytes = 0;
  let cut = 0;
  for (const c of name) {
    const size = encoder.encode(c).length;
    if (bytes + size > IDENTIFIER_BYTES_MAX) break;
    bytes += size;
    cut += c.length;
  }
  const truncated = name.slice(0, cut);
  notices.push({
    code: "42622",
    message: `identifier "${name}" will be truncated to "${truncated}"`,
  });
  return truncated;
}

/** Folds ASCII letters to lower case, as PostgreSQL's downcase_identifier under UTF-8. */
function downcase(text: string): string {
  return text.replace(/[A-Z]+/g, (upper) => upper.toLowerCase());
}

/** Splits a query into tokens, ending with an "eof" token. */
export class Lexer {
  readonly sql: string;
  readonly notices: SqlNotice[];
  #at = 0;

  constructor(sql: string, notices: SqlNotice[] = []) {
    this.sql = sql;
    this.notices = notices;
  }

  #error(message: string, offset: number): SqlSyntaxError {
    return new SqlSyntaxError(message, characterPosition(this.sql, offset));
  }

  /** Skips whitespace and comments; reports whether a newline was among them. */
  #skipSpace(): boolean {
    const sql = this.sql;
    let newline = false;
    while (this.#at < sql.length) {
      const c = sql[this.#at];
      if (isSpace(c)) {
        if (c === "\n" || c === "\r") newline = true;
        this.#at++;
      } else if (c === "-" && sql[this.#at + 1] === "-") {
        while (this.#at < sql.length && sql[this.#at] !== "\n" && sql[this.#at] !== "\r") {
          this.#at++;
        }
      } else if (c === "/" && sql[this.#at + 1] === "*") {
        const start = this.#at;
        let depth = 0;
        while (true) {
          if (this.#at >= sql.length) {
            throw this.#error(
              'unterminated /* comment at or near "' + sql.slice(start) + '"',
              start,
            );
          }
          if (sql[this.#at] === "/" && sql[this.#at + 1] === "*") {
            depth++;
            this.#at += 2;
          } else if (sql[this.#at] === "*" && sql[this.#at + 1] === "/") {
            depth--;
            this.#at += 2;
            if (depth === 0) break;
          } else {
            this.#at++;
          }
        }
      } else {
        break;
      }
    }
    return newline;
  }

  /** All tokens of the query, the last one "eof". */
  tokenize(): Token[] {
    const tokens: Token[] = [];
    while (true) {
      const token = this.next();
      tokens.push(token);
      if (token.kind === "eof") return tokens;
    }
  }

  next(): Token {
    this.#skipSpace();
    const sql = this.sql;
    const start = this.#at;
    if (start >= sql.length) return { kind: "eof", text: "", start, end: start };
    const c = sql[start];
    const c1 = sql[start + 1] ?? "";

    if ((c === "e" || c === "E") && c1 === "'") {
      this.#at = start + 1;
      return this.#string(start, true);
    }
    if (c === "'") return this.#string(start, false);
    if (isIdentStart(c)) {
      let end = start + 1;
      while (end < sql.length && isIdentChar(sql[end])) end++;
      this.#at = end;
      const text = truncateIdentifier(downcase(sql.slice(start, end)), this.notices);
      return { kind: "word", text, start, end };
    }
    if (c === '"') return this.#quotedIdentifier(start);
    if (c === "$") {
      if (isDigit(c1)) {
        let end = start + 1;
        while (end < sql.length && isDigit(sql[end])) end++;
        if (end < sql.length && isIdentChar(sql[end])) {
          let junk = end;
          while (junk < sql.length && isIdentChar(sql[junk])) junk++;
          throw this.#error(
            `trailing junk after parameter at or near "${sql.slice(start, junk)}"`,
            start,
          );
        }
        this.#at = end;
        return { kind: "param", text: sql.slice(start + 1, end), start, end };
      }
      const tag = /^\$([A-Za-z_\x80-\uffff][A-Za-z_0-9\x80-\uffff]*)?\$/.exec(
        sql.slice(start, start + 200),
      );
      if (tag !== null) return this.#dollarString(start, tag[0]);
    }
    if (isDigit(c) || (c === "." && isDigit(c1))) return this.#number(start);
    if (c === ":" && c1 === ":") {
      this.#at = start + 2;
      return { kind: "op", text: "::", start, end: start + 2 };
    }
    if (c === ":" && c1 === "=") {
      this.#at = start + 2;
      return { kind: "op", text: ":=", start, end: start + 2 };
    }
    if (c === "." && c1 === ".") {
      this.#at = start + 2;
      return { kind: "op", text: "..", start, end: start + 2 };
    }
    if (OPERATOR_CHARS.includes(c)) return this.#operator(start);
    if (SELF_CHARS.includes(c)) {
      this.#at = start + 1;
      return { kind: "op", text: c, start, end: start + 1 };
    }
    throw this.#error(`syntax error at or near "${c}"`, start);
  }

  /** A '...' or E'...' constant, with any continuation after whitespace holding a newline. */
  #string(start: number, escapes: boolean): Token {
    const sql = this.sql;
    let value = "";
    let quoteAt = this.#at; // at the opening quote
    while (true) {
      let i = quoteAt + 1;
      while (true) {
        if (i >= sql.length) {
          throw this.#error(`unterminated quoted string at or near "${sql.slice(start)}"`, start);
        }
        const c = sql[i];
        if (c === "'") {
          if (sql[i + 1] === "'") {
            value += "'";
            i += 2;
            continue;
          }
          break;
        }
        if (c === "\\" && escapes) {
          const [text, used] = this.#escape(i, start);
          value += text;
          i += used;
          continue;
        }
        value += c;
        i++;
      }
      this.#at = i + 1;
      // SQL standard: 'a'\n'b' is 'ab'; only whitespace with a newline may separate them.
      const save = this.#at;
      const newline = this.#skipSpaceOnly();
      if (newline && sql[this.#at] === "'") {
        quoteAt = this.#at;
        continue;
      }
      this.#at = save;
      return { kind: "string", text: value, start, end: this.#at };
    }
  }

  /**
   * What may separate continued strings (scan.l's whitespace_with_newline):
   * horizontal space, a newline, then spaces, newlines and -- comments.
   * Returns whether that shape was found; the caller restores on false.
   */
  #skipSpaceOnly(): boolean {
    const sql = this.sql;
    while (this.#at < sql.length && " \t\f\v".includes(sql[this.#at])) this.#at++;
    if (sql[this.#at] !== "\n" && sql[this.#at] !== "\r") return false;
    while (this.#at < sql.length) {
      if (isSpace(sql[this.#at])) {
        this.#at++;
      } else if (sql.startsWith("--", this.#at)) {
        const end = sql.slice(this.#at).search(/[\r\n]/);
        if (end === -1) return true; // a comment running to the end: the string ends here
        this.#at += end;
      } else {
        break;
      }
    }
    return true;
  }

  /** One backslash escape of an E'' string at `i`: its text and the characters it used. */
  #escape(i: number, start: number): [string, number] {
    const sql = this.sql;
    const c = sql[i + 1];
    if (c === undefined) {
      throw this.#error(`unterminated quoted string at or near "${sql.slice(start)}"`, start);
    }
    const simple: Record<string, string> = { b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
    if (c in simple) return [simple[c], 2];
    const octal = /^[0-7]{1,3}/.exec(sql.slice(i + 1, i + 4));
    if (octal !== null) {
      return [String.fromCharCode(parseInt(octal[0], 8) & 0xff), 1 + octal[0].length];
    }
    if (c === "x") {
      const hex = /^[0-9a-fA-F]{1,2}/.exec(sql.slice(i + 2, i + 4));
      if (hex !== null) return [String.fromCharCode(parseInt(hex[0], 16)), 2 + hex[0].length];
    }
    if (c === "u" || c === "U") {
      const digits = c === "u" ? 4 : 8;
      const hex = sql.slice(i + 2, i + 2 + digits);
      if (hex.length === digits && /^[0-9a-fA-F]+$/.test(hex)) {
        const code = parseInt(hex, 16);
        if (code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
          throw new SqlSyntaxError(
            "invalid Unicode escape value",
            characterPosition(this.sql, i),
            "22025",
          );
        }
        return [String.fromCodePoint(code), 2 + digits];
      }
      throw new SqlSyntaxError("invalid Unicode escape", characterPosition(this.sql, i), "22025");
    }
    return [c, 2];
  }

  #quotedIdentifier(start: number): Token {
    const sql = this.sql;
    let value = "";
    let i = start + 1;
    while (true) {
      if (i >= sql.length) {
        throw this.#error(`unterminated quoted identifier at or near "${sql.slice(start)}"`, start);
      }
      if (sql[i] === '"') {
        if (sql[i + 1] === '"') {
          value += '"';
          i += 2;
          continue;
        }
        break;
      }
      value += sql[i++];
    }
    this.#at = i + 1;
    if (value === "") {
      throw this.#error(`zero-length delimited identifier at or near """"`, start);
    }
    return { kind: "quoted", text: truncateIdentifier(value, this.notices), start, end: this.#at };
  }

  #dollarString(start: number, tag: string): Token {
    const close = this.sql.indexOf(tag, start + tag.length);
    if (close === -1) {
      throw this.#error(
        `unterminated dollar-quoted string at or near "${this.sql.slice(start)}"`,
        start,
      );
    }
    this.#at = close + tag.length;
    return {
      kind: "string",
      text: this.sql.slice(start + tag.length, close),
      start,
      end: this.#at,
    };
  }

  #number(start: number): Token {
    const sql = this.sql;
    let i = start;
    while (i < sql.length && isDigit(sql[i])) i++;
    let kind: TokenKind = "integer";
    // "1..5" is the integer 1 then "..": a point followed by a point is not a decimal.
    if (sql[i] === "." && sql[i + 1] !== ".") {
      kind = "numeric";
      i++;
      while (i < sql.length && isDigit(sql[i])) i++;
    }
    if ((sql[i] === "e" || sql[i] === "E")) {
      const exponent = /^[eE][+-]?[0-9]+/.exec(sql.slice(i, i + 20));
      if (exponent !== null) {
        kind = "numeric";
        i += exponent[0].length;
      }
    }
    if (i < sql.length && isIdentStart(sql[i])) {
      let junk = i;
      while (junk < sql.length && isIdentChar(sql[junk])) junk++;
      throw this.#error(
        `trailing junk after numeric literal at or near "${sql.slice(start, junk)}"`,
        start,
      );
    }
    this.#at = i;
    return { kind, text: sql.slice(start, i), start, end: i };
  }

  /** The longest operator here, cut by PostgreSQL's rules (scan.l, {operator}). */
  #operator(start: number): Token {
    const sql = this.sql;
    let end = start;
    while (end < sql.length && OPERATOR_CHARS.includes(sql[end])) {
      // A comment start inside an operator ends it.
      if (end > start && (sql.startsWith("--", end) || sql.startsWith("/*", end))) break;
      end++;
    }
    let text = sql.slice(start, end);
    // "a+-b" is a + (-b): a multi-character operator ends in + or - only
    // when it holds a character SQL's own operators never use.
    if (text.length > 1 && ![...text].some((c) => OPERATOR_NON_SQL.includes(c))) {
      while (text.length > 1 && (text.endsWith("+") || text.endsWith("-"))) {
        text = text.slice(0, -1);
      }
    }
    this.#at = start + text.length;
    return { kind: "op", text: text === "!=" ? "<>" : text, start, end: this.#at };
  }
}

/** Tokens of `sql`, with any notices appended to `notices`. */
export function tokenize(sql: string, notices: SqlNotice[] = []): Token[] {
  return new Lexer(sql, notices).tokenize();
}
