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
// Cost bound: a JavaScript RegExp backtracks and cannot be interrupted.
// Services run with V8's linear-time engine as a fallback (lib/v8_flags.ts):
// past a bounded number of backtracks, V8 finishes the match in linear time,
// for RegExps without the u and i flags, backreferences and lookahead. So a
// pattern is rendered twice (Translated): with u as written, and without u
// and i in the shape that engine takes (an astral character matched as its
// surrogate pair, [aA] for a case-insensitive a); the second is used
// whenever V8 confirms it can run it linearly. Otherwise (backreferences,
// lookahead, astral characters in brackets, no engine) a quantifier may not
// repeat a group that holds alternation or an unbounded quantifier ((a+)+,
// (a|a)*b, (.*a){9}: the exponential shapes). Patterns are at most
// PATTERN_CHARS_MAX characters, inputs at most INPUT_CHARS_MAX.

import { linearRegexEngine, runsInLinearTime } from "../../../lib/v8_flags.ts";
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

export interface Translated {
  /** The pattern for a RegExp with the u flag (characters are code points). */
  source: string;
  /**
   * The same pattern for a RegExp without the u (and i) flag, which V8's
   * linear-time engine can run: an astral character is a surrogate pair
   * there, so every atom that may match one matches the pair whole, and
   * case-insensitivity is spelled out ([aA]). Null where that rendering is
   * not faithful or the engine could not run it (backreferences,
   * lookahead, astral characters in a bracket).
   */
  linear: string | null;
  /** Holds | or a non-greedy quantifier: the match chosen may differ from PostgreSQL's. */
  ambiguous: boolean;
  /**
   * Repeats a group that holds alternation or an unbounded quantifier
   * ((a+)+, (a|a)*, (.*a){9}): the shapes that backtrack exponentially,
   * refused when the linear-time engine cannot take over.
   */
  risky: boolean;
}

/** PostgreSQL's constraint escapes (\m start of a word, \M its end, \y either). */
const ANCHORS: Readonly<Record<string, string>> = {
  A: "^",
  Z: "$",
  y: "\\b",
  Y: "\\B",
  m: "\\b(?<!\\w)",
  M: "\\b(?<=\\w)",
};

/** One astral character in a RegExp without the u flag. */
const PAIR = "[\\uD800-\\uDBFF][\\uDC00-\\uDFFF]";
const SURROGATES = "\\uD800-\\uDFFF";

/** A character in a bracket expression, escaped where JavaScript would read it as syntax. */
function classChar(c: string): string {
  return c === "[" || c === "]" || c === "/" || c === "^" || c === "-" ? `\\${c}` : c;
}

/** `c` with its other case, for a case-insensitive pattern without the i flag. */
function bothCases(c: string): string {
  const lower = c.toLowerCase();
  const upper = c.toUpperCase();
  let out = c;
  for (const other of [lower, upper]) {
    if (other !== c && other.length === 1 && !out.includes(other)) out += other;
  }
  return out;
}

/** The other case of the ASCII letters in the range lo-hi (code points), as class ranges. */
function otherCaseRanges(lo: number, hi: number): string {
  let out = "";
  for (const [from, to, shift] of [[0x61, 0x7a, -32], [0x41, 0x5a, 32]]) {
    const a = Math.max(lo, from);
    const b = Math.min(hi, to);
    if (a <= b) out += `${String.fromCharCode(a + shift)}-${String.fromCharCode(b + shift)}`;
  }
  return out;
}

interface Bracket {
  source: string;
  linear: string | null;
  next: number;
}

/** One bracket expression starting at `chars[start]` ("["), for both renderings. */
function bracket(chars: string[], start: number, caseFold: boolean): Bracket {
  let i = start + 1;
  let negated = false;
  if (chars[i] === "^") {
    negated = true;
    i++;
  }
  let body = "";
  let linear: string | null = "";
  let negatedEscape = false; // \D \W \S: the class then holds astral characters
  let first = true;
  const add = (u: string, l: string | null = u) => {
    body += u;
    linear = linear === null || l === null ? null : linear + l;
  };
  while (i < chars.length) {
    const c = chars[i];
    if (c === "]" && !first) {
      const head = negated ? "[^" : "[";
      const source = `${head}${body}]`;
      let lin: string | null = null;
      if (linear !== null) {
        if (negated && !negatedEscape) lin = `(?:${PAIR}|[^${linear}${SURROGATES}])`;
        else if (!negated && negatedEscape) lin = null; // would also match half a pair
        else lin = `${head}${linear}]`;
      }
      return { source, linear: lin, next: i + 1 };
    }
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
      add(cls, caseFold && (name === "upper" || name === "lower") ? CLASSES.alpha : cls);
      i = j + 2;
      continue;
    }
    if (c === "\\") {
      const next = chars[i + 1];
      if (next === undefined) throw invalid("invalid escape \\ sequence");
      if ("dDwWsS\\]-[^ntrfv".includes(next)) add(`\\${next}`);
      else if (next === "b") add("\\x08");
      else throw invalid("invalid escape \\ sequence");
      if ("DWS".includes(next)) negatedEscape = true;
      i += 2;
      continue;
    }
    const end = chars[i + 2];
    if (chars[i + 1] === "-" && end !== undefined && end !== "]" && end !== "[" && end !== "\\") {
      // A range c-end.
      const lo = c.codePointAt(0)!;
      const hi = end.codePointAt(0)!;
      const range = `${classChar(c)}-${classChar(end)}`;
      if (hi >= 0xd800 || (caseFold && hi > 0x7f)) add(range, null);
      else add(range, range + (caseFold ? otherCaseRanges(lo, hi) : ""));
      i += 3;
      continue;
    }
    if (c.length > 1) add(c, null); // astral: two units without u
    else add(classChar(c), caseFold ? [...bothCases(c)].map(classChar).join("") : classChar(c));
    i++;
  }
  throw invalid("brackets [] not balanced");
}

/** Translates an ARE to JavaScript RegExp sources (see Translated), or throws 2201B. */
export function translate(pattern: string, flags: RegexFlags): Translated {
  if (pattern.length > PATTERN_CHARS_MAX) {
    throw invalid(`pattern longer than ${PATTERN_CHARS_MAX} characters is not supported`);
  }
  if (pattern.startsWith("***")) throw invalid("director prefixes are not supported");
  const caseFold = flags.caseInsensitive;
  const chars = [...pattern];
  let out = "";
  let linear: string | null = "";
  const emit = (u: string, l: string | null = u) => {
    out += u;
    linear = linear === null || l === null ? null : linear + l;
  };
  let ambiguous = false;
  let risky = false;
  // Per open group: whether it holds alternation or an unbounded quantifier.
  const groups: { repeats: boolean }[] = [];
  let closedGroupRepeats = false; // the atom just closed was such a group
  let atom = false; // something a quantifier may follow
  // Outside brackets, the atoms that match an astral character as one.
  const dot = flags.newlineSensitive ? `[^\\n\\r\\u2028\\u2029${SURROGATES}]` : `[^${SURROGATES}]`;
  const negatedEscape = (c: string) => `(?:${PAIR}|[^\\${c.toLowerCase()}${SURROGATES}])`;
  for (let i = 0; i < chars.length;) {
    const c = chars[i];
    const closedGroup = closedGroupRepeats;
    closedGroupRepeats = false;
    if (c === "*" || c === "+" || c === "?" || c === "{") {
      let quantifier = c;
      let high = c === "?" ? 1 : Infinity;
      let j = i + 1;
      if (c === "{") {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(chars.slice(i, i + 16).join(""));
        if (m === null) throw invalid("invalid repetition count(s)");
        const low = Number(m[1]);
        high = m[3] === undefined ? low : m[3] === "" ? Infinity : Number(m[3]);
        if (low > REPEAT_MAX || (high !== Infinity && (high > REPEAT_MAX || high < low))) {
          throw invalid("invalid repetition count(s)");
        }
        quantifier = m[0];
        j = i + m[0].length;
      }
      if (!atom) throw invalid("quantifier operand invalid");
      if (high > 1 && closedGroup) risky = true;
      if (chars[j] === "?") {
        ambiguous = true;
        quantifier += "?";
        j++;
      }
      if (chars[j] === "*" || chars[j] === "+" || chars[j] === "?" || chars[j] === "{") {
        throw invalid("quantifier operand invalid");
      }
      if (high === Infinity) { for (const g of groups) g.repeats = true; }
      emit(quantifier);
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
        // Lookahead is beyond the linear-time engine.
        emit(opener, opener === "(?=" || opener === "(?!" ? null : opener);
        i += opener.length;
      } else {
        emit("(");
        i++;
      }
      groups.push({ repeats: false });
      atom = false;
      continue;
    }
    if (c === ")") {
      const group = groups.pop();
      if (group === undefined) throw invalid("parentheses () not balanced");
      closedGroupRepeats = group.repeats;
      emit(")");
      i++;
      continue;
    }
    if (c === "|") {
      ambiguous = true;
      for (const g of groups) g.repeats = true;
      emit("|");
      atom = false;
      i++;
      continue;
    }
    if (c === "[") {
      const cls = bracket(chars, i, caseFold);
      emit(cls.source, cls.linear);
      i = cls.next;
      continue;
    }
    if (c === "\\") {
      const next = chars[i + 1];
      if (next === undefined) throw invalid("invalid escape \\ sequence");
      i += 2;
      if ("DWS".includes(next)) emit(`\\${next}`, negatedEscape(next));
      else if ("dwsntrfv".includes(next)) emit(`\\${next}`);
      else if (next >= "1" && next <= "9") emit(`\\${next}`, null);
      else if (next === "b") emit("\\x08");
      else if (next === "B") emit("\\\\");
      else if (next in ANCHORS) {
        emit(ANCHORS[next]);
        atom = false;
      } else if (/[A-Za-z0-9]/.test(next)) throw invalid("invalid escape \\ sequence");
      else emit(SYNTAX_CHARS.includes(next) ? `\\${next}` : next);
      continue;
    }
    if (c === "^" || c === "$") {
      emit(c);
      atom = false;
      i++;
      continue;
    }
    if (c === ".") emit(".", `(?:${PAIR}|${dot})`);
    else if (c === "]" || c === "}" || c === "/") emit(`\\${c}`);
    else if (c.length > 1) emit(c, `(?:${c})`); // astral: a pair, repeated whole
    else if (caseFold && bothCases(c).length > 1) emit(c, `[${bothCases(c)}]`);
    else emit(c);
    i++;
  }
  if (groups.length > 0) throw invalid("parentheses () not balanced");
  return { source: out, linear, ambiguous, risky };
}

interface Compiled {
  re: RegExp;
  ambiguous: boolean;
}

const cache = new Map<string, Compiled>();
const CACHE_ENTRIES_MAX = 256;

/**
 * The RegExp for a pattern and flags (cached): the rendering V8's
 * linear-time engine can take over when it backtracks too long, where
 * there is one; otherwise the u-flag rendering, refusing the shapes that
 * backtrack exponentially (Translated.risky). `extracting` refuses the
 * patterns whose chosen match may differ from PostgreSQL's (see the top).
 */
export function compilePattern(
  pattern: string,
  flags: RegexFlags,
  options: { extracting: boolean; sticky?: boolean },
): RegExp {
  const global = flags.global || options.extracting ? "g" : "";
  const key = `${flags.caseInsensitive ? "i" : ""}${
    flags.newlineSensitive ? "m" : "s"
  }${global}/${pattern}`;
  let found = cache.get(key);
  if (found === undefined) {
    found = compile(translate(pattern, flags), flags, global);
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

function compile(translated: Translated, flags: RegexFlags, global: string): Compiled {
  const lines = flags.newlineSensitive ? "m" : "s";
  const { linear, ambiguous } = translated;
  if (linear !== null && runsInLinearTime(linear, lines + global)) {
    return { re: new RegExp(linear, lines + global), ambiguous };
  }
  if (translated.risky) {
    throw invalid(
      linearRegexEngine()
        ? "a repeated group holding alternation or an unbounded quantifier is not supported with backreferences, lookahead or astral characters in brackets"
        : "a repeated group holding alternation or an unbounded quantifier is not supported (the datastore runs without V8's linear-time engine)",
    );
  }
  try {
    return {
      re: new RegExp(translated.source, `${flags.caseInsensitive ? "i" : ""}${lines}u${global}`),
      ambiguous,
    };
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
}

/**
 * After an empty match at `re.lastIndex`, the index past the character
 * there: a RegExp without the u flag counts code units, and stepping into
 * the middle of a surrogate pair would split a character.
 */
export function advancePastEmpty(re: RegExp, input: string): void {
  const at = re.lastIndex;
  const unit = input.charCodeAt(at);
  const pair = unit >= 0xd800 && unit <= 0xdbff && (input.charCodeAt(at + 1) & 0xfc00) === 0xdc00;
  re.lastIndex = at + (pair ? 2 : 1);
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
  const flags = { global: false, caseInsensitive: false, newlineSensitive: false };
  return compile(translate(`^(?:${out})$`, flags), flags, "").re;
}
