// PostgreSQL's regular expressions (documentation 9.7.2 SIMILAR TO, 9.7.3
// POSIX regular expressions, the ARE dialect) run as JavaScript RegExps.
//
// The two dialects share most everyday syntax; translatePattern rewrites the
// parts that differ ([[:digit:]] classes, \m \M \y \Y \A \Z, \b as
// backspace, \B as backslash, a lone ] or }, . matching newlines) and refuses
// with 2201B what it cannot render faithfully: collating elements ([.x.],
// [=x=]), embedded options and director prefixes (***:, (?i)), \x with its
// any-length hex digits, octal escapes, expanded syntax (flag x).
//
// Where the answer would differ rather than fail, extracting functions
// (regexp_match, regexp_replace, regexp_count, substring) refuse too:
// PostgreSQL's overall match is the longest at the leftmost start for a
// greedy pattern ('a|ab' matches "ab"), JavaScript takes the first
// alternative that matches ("a"), so alternation and non-greedy quantifiers
// are refused there; the boolean operators (~, SIMILAR TO, regexp_like) give
// the same answer either way and accept both.
//
// Cost bound: a JavaScript RegExp backtracks and cannot be interrupted, so
// patterns are at most PATTERN_CHARS_MAX characters and a quantifier may not
// repeat a group that itself holds an unbounded quantifier ((a+)+, the
// catastrophic shape); inputs are at most INPUT_CHARS_MAX characters.

import { SqlError } from "./errors.ts";

/** Longest pattern accepted: far beyond what applications write, short enough to compile quickly. */
export const PATTERN_CHARS_MAX = 4096;
/** Longest input a pattern runs on (1 MiB of characters): bounds a linear scan's cost. */
export const INPUT_CHARS_MAX = 1 << 20;
/** The characters JavaScript's unicode mode lets a backslash escape outside a class. */
const SYNTAX_CHARS = "^$\\.*+?()[]{}|/";
/** PostgreSQL's largest {m,n} bound (regex/regguts.h DUPMAX). */
const REPEAT_MAX = 255;

const CLASSES: Readonly<Record<string, string>> = {
  alpha: "a-zA-Z",
  digit: "0-9",
  alnum: "a-zA-Z0-9",
  upper: "A-Z",
  lower: "a-z",
  space: " \\t\\n\\r\\f\\v",
  blank: " \\t",
  punct: "!-\\/:-@\\[-`{-~",
  xdigit: "0-9a-fA-F",
  cntrl: "\\x00-\\x1f\\x7f",
  print: " -~",
  graph: "!-~",
  word: "a-zA-Z0-9_",
};

/** A regular expression error as PostgreSQL reports it. */
function invalid(reason: string): SqlError {
  return new SqlError("2201B", `invalid regular expression: ${reason}`);
}

/** Parsed regexp flags (documentation table 9.24). */
export interface RegexFlags {
  global: boolean;
  caseInsensitive: boolean;
  newlineSensitive: boolean;
}

/** Reads a flags string; unknown letters are 22023 as in PostgreSQL. */
export function parseFlags(flags: string): RegexFlags {
  const out: RegexFlags = { global: false, caseInsensitive: false, newlineSensitive: false };
  for (const f of flags) {
    switch (f) {
      case "g":
        out.global = true;
        break;
      case "i":
        out.caseInsensitive = true;
        break;
      case "c":
        out.caseInsensitive = false;
        break;
      case "n":
      case "w":
        out.newlineSensitive = true;
        break;
      case "s":
        out.newlineSensitive = false;
        break;
      case "x":
      case "p":
      case "q":
      case "e":
      case "b":
        throw invalid(`flag "${f}" is not supported`);
      default:
        throw new SqlError("22023", `invalid regular expression option: "${f}"`);
    }
  }
  return out;
}

interface Translated {
  source: string;
  /** Holds | or a non-greedy quantifier: the match chosen may differ from PostgreSQL's. */
  ambiguous: boolean;
}

/** One bracket expression starting at `chars[i]` ("["); returns the JS class and the next index. */
function bracket(chars: string[], start: number): [string, number] {
  let i = start + 1;
  let out = "[";
  if (chars[i] === "^") {
    out += "^";
    i++;
  }
  let first = true;
  while (i < chars.length) {
    const c = chars[i];
    if (c === "]" && !first) return [out + "]", i + 1];
    first = false;
    if (c === "[" && (chars[i + 1] === ":" || chars[i + 1] === "." || chars[i + 1] === "=")) {
      const kind = chars[i + 1];
      let j = i + 2;
      while (j + 1 < chars.length && !(chars[j] === kind && chars[j + 1] === "]")) j++;
      if (j + 1 >= chars.length) throw invalid("brackets [] not balanced");
      const name = chars.slice(i + 2, j).join("");
      if (kind !== ":") {
        throw invalid(`collating elements [${kind}${name}${kind}] are not supported`);
      }
      const cls = CLASSES[name];
      if (cls === undefined) throw invalid("invalid character class");
      out += cls;
      i = j + 2;
      continue;
    }
    if (c === "\\") {
      const next = chars[i + 1];
      if (next === undefined) throw invalid("invalid escape \\ sequence");
      if ("dDwWsS\\]-[^ntrfv".includes(next)) out += `\\${next}`;
      else if (next === "b") out += "\\x08";
      else throw invalid("invalid escape \\ sequence");
      i += 2;
      continue;
    }
    out += c === "[" || c === "/" ? `\\${c}` : c;
    i++;
  }
  throw invalid("brackets [] not balanced");
}

/** Translates an ARE to a JavaScript RegExp source, or throws 2201B. */
function translate(pattern: string): Translated {
  if (pattern.length > PATTERN_CHARS_MAX) {
    throw invalid(`pattern longer than ${PATTERN_CHARS_MAX} characters is not supported`);
  }
  if (pattern.startsWith("***")) throw invalid("director prefixes are not supported");
  const chars = [...pattern];
  let out = "";
  let ambiguous = false;
  // Per open group: its start in `out`, and whether it holds an unbounded quantifier.
  const groups: { unbounded: boolean }[] = [];
  let lastGroupUnbounded = false; // the atom just closed was a group with an unbounded quantifier
  let atom = false; // something a quantifier may follow
  const markUnbounded = () => {
    for (const g of groups) g.unbounded = true;
  };
  for (let i = 0; i < chars.length;) {
    const c = chars[i];
    const closedGroup = lastGroupUnbounded;
    lastGroupUnbounded = false;
    if (c === "*" || c === "+" || c === "?" || c === "{") {
      let quantifier = c;
      let unbounded = c !== "?";
      let j = i + 1;
      if (c === "{") {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(chars.slice(i, i + 16).join(""));
        if (m === null) throw invalid("invalid repetition count(s)");
        const low = Number(m[1]);
        const high = m[3] === undefined ? low : m[3] === "" ? Infinity : Number(m[3]);
        if (low > REPEAT_MAX || (high !== Infinity && (high > REPEAT_MAX || high < low))) {
          throw invalid("invalid repetition count(s)");
        }
        unbounded = high === Infinity;
        quantifier = m[0];
        j = i + m[0].length;
      }
      if (!atom) throw invalid("quantifier operand invalid");
      if (unbounded && closedGroup) {
        throw invalid("a quantified group holding an unbounded quantifier is not supported");
      }
      if (chars[j] === "?") {
        ambiguous = true;
        quantifier += "?";
        j++;
      }
      if (chars[j] === "*" || chars[j] === "+" || chars[j] === "?" || chars[j] === "{") {
        throw invalid("quantifier operand invalid");
      }
      if (unbounded) markUnbounded();
      out += quantifier;
      atom = false;
      i = j;
      continue;
    }
    atom = true;
    if (c === "(") {
      if (chars[i + 1] === "?") {
        const head = chars.slice(i, i + 4).join("");
        const opener = ["(?:", "(?=", "(?!", "(?<=", "(?<!"].find((o) => head.startsWith(o));
        if (opener === undefined) throw invalid("embedded options are not supported");
        out += opener;
        i += opener.length;
      } else {
        out += "(";
        i++;
      }
      groups.push({ unbounded: false });
      atom = false;
      continue;
    }
    if (c === ")") {
      const group = groups.pop();
      if (group === undefined) throw invalid("parentheses () not balanced");
      lastGroupUnbounded = group.unbounded;
      out += ")";
      i++;
      continue;
    }
    if (c === "|") {
      ambiguous = true;
      out += "|";
      atom = false;
      i++;
      continue;
    }
    if (c === "[") {
      const [cls, next] = bracket(chars, i);
      out += cls;
      i = next;
      continue;
    }
    if (c === "\\") {
      const next = chars[i + 1];
      if (next === undefined) throw invalid("invalid escape \\ sequence");
      i += 2;
      if ("dDwWsSntrfv".includes(next)) out += `\\${next}`;
      else if (next >= "1" && next <= "9") out += `\\${next}`;
      else if (next === "b") out += "\\x08";
      else if (next === "B") out += "\\\\";
      else if (next === "A") [out, atom] = [out + "^", false];
      else if (next === "Z") [out, atom] = [out + "$", false];
      else if (next === "y") [out, atom] = [out + "\\b", false];
      else if (next === "Y") [out, atom] = [out + "\\B", false];
      else if (next === "m") [out, atom] = [out + "\\b(?=\\w)", false];
      else if (next === "M") [out, atom] = [out + "\\b(?<=\\w)", false];
      else if (/[A-Za-z0-9]/.test(next)) throw invalid("invalid escape \\ sequence");
      else out += SYNTAX_CHARS.includes(next) ? `\\${next}` : next;
      continue;
    }
    if (c === "^" || c === "$") {
      out += c;
      atom = false;
      i++;
      continue;
    }
    out += c === "]" || c === "}" || c === "/" ? `\\${c}` : c;
    i++;
  }
  if (groups.length > 0) throw invalid("parentheses () not balanced");
  return { source: out, ambiguous };
}

const cache = new Map<string, { re: RegExp; ambiguous: boolean }>();
const CACHE_ENTRIES_MAX = 256;

/**
 * The RegExp for a pattern and flags (cached); `extracting` refuses the
 * patterns whose chosen match may differ from PostgreSQL's (see the top).
 */
export function compilePattern(
  pattern: string,
  flags: RegexFlags,
  options: { extracting: boolean; sticky?: boolean },
): RegExp {
  const js = `${flags.caseInsensitive ? "i" : ""}${flags.newlineSensitive ? "m" : "s"}u${
    flags.global || options.extracting ? "g" : ""
  }`;
  const key = `${js}/${pattern}`;
  let found = cache.get(key);
  if (found === undefined) {
    const { source, ambiguous } = translate(pattern);
    let re: RegExp;
    try {
      re = new RegExp(source, js);
    } catch (e) {
      const message = (e as Error).message;
      throw invalid(
        /Nothing to repeat/.test(message)
          ? "quantifier operand invalid"
          : /back ?ref|group/i.test(message)
          ? "invalid backreference number"
          : "invalid regular expression",
      );
    }
    found = { re, ambiguous };
    if (cache.size >= CACHE_ENTRIES_MAX) cache.clear();
    cache.set(key, found);
  }
  if (options.extracting && found.ambiguous) {
    throw invalid(
      "alternation and non-greedy quantifiers are not supported in this function (PostgreSQL picks the longest match)",
    );
  }
  found.re.lastIndex = 0;
  return found.re;
}

/** Refuses an input too long to run a pattern on within the bound above. */
export function checkInput(input: string): string {
  if (input.length > INPUT_CHARS_MAX) {
    throw new SqlError(
      "54000",
      `regular expression input longer than ${INPUT_CHARS_MAX} characters is not supported`,
    );
  }
  return input;
}

/** A text[] value's text, as PostgreSQL prints it (documentation 8.15.6). */
export function textArray(items: (string | null)[]): string {
  return `{${
    items.map((s) => {
      if (s === null) return "NULL";
      if (s === "" || /[{},"\\\s]/.test(s) || s.toUpperCase() === "NULL") {
        return `"${s.replace(/[\\"]/g, "\\$&")}"`;
      }
      return s;
    }).join(",")
  }}`;
}

/** regexp_replace's replacement: \1..\9 a group, \& the match, \\ a backslash (9.7.3). */
export function expandReplacement(replacement: string, match: RegExpExecArray): string {
  let out = "";
  for (let i = 0; i < replacement.length; i++) {
    const c = replacement[i];
    if (c === "\\" && i + 1 < replacement.length) {
      const next = replacement[i + 1];
      if (next >= "1" && next <= "9") {
        out += match[Number(next)] ?? "";
        i++;
        continue;
      }
      if (next === "&") {
        out += match[0];
        i++;
        continue;
      }
      if (next === "\\") {
        out += "\\";
        i++;
        continue;
      }
    }
    out += c;
  }
  return out;
}

/**
 * SIMILAR TO's pattern as a RegExp (documentation 9.7.2; PostgreSQL's
 * similar_to_escape): % and _ as in LIKE, | * + ? {m,n} ( ) [ ] as in
 * regular expressions, every other character literal; matches the whole string.
 */
export function similarPattern(pattern: string, escape: string | null): RegExp {
  let out = "";
  const chars = [...pattern];
  let inBracket = false;
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (escape !== null && escape !== "" && c === escape) {
      if (i + 1 >= chars.length) {
        throw new SqlError("2201B", "invalid escape string", {
          hint: "Escape string must be empty or one character.",
        });
      }
      out += `\\${chars[++i]}`.replace(/^\\([A-Za-z0-9])$/, "$1");
      continue;
    }
    if (inBracket) {
      if (c === "]") inBracket = false;
      out += c === "\\" ? "\\\\" : c;
      continue;
    }
    if (c === "[") {
      inBracket = true;
      out += c;
      if (chars[i + 1] === "^") out += chars[++i];
      if (chars[i + 1] === "]") out += `\\${chars[++i]}`;
    } else if (c === "%") out += ".*";
    else if (c === "_") out += ".";
    else if ("|*+?{}()".includes(c)) out += c;
    else out += c.replace(/[.^$\\\]\/]/g, "\\$&");
  }
  try {
    const { source } = translate(`^(?:${out})$`);
    return new RegExp(source, "su");
  } catch (e) {
    if (e instanceof SqlError) throw e;
    throw invalid("invalid regular expression");
  }
}
