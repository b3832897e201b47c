// Zone files in RFC 1035 master format, and the in-memory Zone they build.
//
// RFC 1035 5.1 (entries, `$ORIGIN`, `@`, relative names, omitted owner,
// TTL and class, parentheses spanning lines, quoted strings, `\X`/`\DDD`
// escapes, `;` comments), RFC 2308 4 (`$TTL`), RFC 3597 5 (`TYPEnnn`,
// `CLASSnnn` and `\# len hex`), BIND's TTL units ("1h", "2d") which NSD
// reads too. A zone written for BIND or NSD loads unchanged.
//
// Pure: the caller reads the file and passes its text and name, so every
// error can say "file:line: problem".
//
// Left out: `$INCLUDE` (a pure parser cannot open files; it is reported as
// an error) and BIND's `$GENERATE`.

import { DecodeError, LimitError } from "../errors.ts";
import { isSubdomain, nameKey, parentName, parseName } from "./name.ts";
import { parseRData, type Token, ttlValue } from "./rdata.ts";
import {
  type Name,
  parseClass,
  parseType,
  RecordClass,
  RecordType,
  type ResourceRecord,
} from "./types.ts";

/** A problem in a zone file, with where it is. */
export class ZoneError extends SyntaxError {
  override name = "ZoneError";
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, problem: string) {
    super(`${file}:${line}: ${problem}`);
    this.file = file;
    this.line = line;
  }
}

export interface ZoneLimits {
  /** Records in one zone; bounds memory for a runaway or hostile file. */
  readonly recordsMax: number;
}

export const DEFAULT_ZONE_LIMITS: ZoneLimits = { recordsMax: 1_000_000 };

export interface ParseZoneOptions {
  /** Name used in error messages. */
  file?: string;
  /** Origin before any `$ORIGIN` (what named.conf or nsd.conf would give). */
  origin?: Name;
  limits?: ZoneLimits;
}

interface LogicalLine {
  readonly line: number;
  /** The entry began with whitespace: the owner is the previous one. */
  readonly blankOwner: boolean;
  readonly tokens: Token[];
}

/** Parses master-file text into records; throws ZoneError on the first problem. */
export function parseZoneText(text: string, options: ParseZoneOptions = {}): ResourceRecord[] {
  return parseEntries(text, options).map((entry) => entry.record);
}

interface Entry {
  readonly record: ResourceRecord;
  readonly line: number;
}

function parseEntries(text: string, options: ParseZoneOptions): Entry[] {
  const file = options.file ?? "<zone>";
  const limits = options.limits ?? DEFAULT_ZONE_LIMITS;
  let origin = options.origin;
  let defaultTtl: number | undefined;
  let lastTtl: number | undefined;
  let lastOwner: Name | undefined;
  let lastClass: number = RecordClass.IN;
  const records: Entry[] = [];
  for (const entry of logicalLines(text, file)) {
    const fail = (problem: string): never => {
      throw new ZoneError(file, entry.line, problem);
    };
    try {
      const { tokens } = entry;
      const first = tokens[0];
      if (!entry.blankOwner && !first.quoted && first.text.startsWith("$")) {
        const directive = first.text.toUpperCase();
        if (directive === "$ORIGIN") {
          if (tokens.length !== 2) fail("$ORIGIN takes one name");
          origin = parseName(tokens[1].text, origin ?? ".");
        } else if (directive === "$TTL") {
          if (tokens.length !== 2) fail("$TTL takes one value");
          defaultTtl = ttlValue(tokens[1].text);
        } else if (directive === "$INCLUDE") {
          fail("$INCLUDE is not supported: put the records in this file");
        } else {
          fail(`unknown directive ${first.text}`);
        }
        continue;
      }
      let at = 0;
      let owner: Name;
      if (entry.blankOwner) {
        if (lastOwner === undefined) fail("no owner name, and no previous record to take it from");
        owner = lastOwner!;
      } else {
        const text = first.text;
        const relative = text !== "@" && !text.endsWith(".");
        if ((relative || text === "@") && origin === undefined) {
          fail(`relative name "${text}" with no $ORIGIN`);
        }
        owner = parseName(text, origin);
        at = 1;
      }
      let ttl: number | undefined;
      let klass: number | undefined;
      for (let n = 0; n < 2 && at < tokens.length; n++) {
        const text = tokens[at].text;
        if (ttl === undefined && /^\d/.test(text)) {
          ttl = ttlValue(text);
          at++;
        } else if (klass === undefined && parseType(text) === undefined && parseClass(text)) {
          klass = parseClass(text);
          at++;
        }
      }
      if (at >= tokens.length) fail("missing record type");
      const type = parseType(tokens[at].text);
      if (type === undefined) fail(`unknown record type "${tokens[at].text}"`);
      if (type === RecordType.OPT || type === RecordType.ANY || type === RecordType.AXFR) {
        fail(`${tokens[at].text} cannot appear in a zone`);
      }
      const data = parseRData(type!, tokens.slice(at + 1), origin ?? ".");
      if (ttl === undefined) ttl = defaultTtl ?? lastTtl;
      if (ttl === undefined) fail("no TTL: give one or add $TTL");
      klass ??= lastClass;
      lastOwner = owner;
      lastTtl = ttl;
      lastClass = klass;
      if (records.length >= limits.recordsMax) {
        fail(`more than ${limits.recordsMax} records`);
      }
      records.push({
        record: { name: owner, type: type!, class: klass, ttl: ttl!, data },
        line: entry.line,
      });
    } catch (error) {
      if (error instanceof ZoneError) throw error;
      if (error instanceof DecodeError || error instanceof LimitError) {
        throw new ZoneError(file, entry.line, error.message);
      }
      throw error;
    }
  }
  return records;
}

const SPACE = new Set([" ", "\t", "\r"]);
const DELIMITERS = new Set([" ", "\t", "\r", "\n", ";", "(", ")", '"']);

/** Splits text into entries, joining lines inside parentheses. */
function* logicalLines(text: string, file: string): Generator<LogicalLine> {
  let line = 1;
  let depth = 0;
  let openedAt = 0;
  let tokens: Token[] = [];
  let entryLine = 1;
  let blankOwner = false;
  let atEntryStart = true;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (atEntryStart) {
      blankOwner = SPACE.has(c);
      entryLine = line;
      atEntryStart = false;
    }
    if (c === "\n") {
      line++;
      i++;
      if (depth === 0) {
        if (tokens.length > 0) yield { line: entryLine, blankOwner, tokens };
        tokens = [];
        atEntryStart = true;
      }
      continue;
    }
    if (SPACE.has(c)) {
      i++;
      continue;
    }
    if (c === ";") {
      while (i < text.length && text[i] !== "\n") i++;
      continue;
    }
    if (c === "(") {
      if (depth === 0) openedAt = line;
      depth++;
      i++;
      continue;
    }
    if (c === ")") {
      if (depth === 0) throw new ZoneError(file, line, "')' without '('");
      depth--;
      i++;
      continue;
    }
    if (tokens.length === 0) entryLine = line;
    if (c === '"') {
      let j = i + 1;
      let value = "";
      while (j < text.length && text[j] !== '"') {
        if (text[j] === "\n") throw new ZoneError(file, line, "unterminated quoted string");
        if (text[j] === "\\" && j + 1 < text.length) {
          value += text[j] + text[j + 1];
          j += 2;
        } else {
          value += text[j++];
        }
      }
      if (j >= text.length) throw new ZoneError(file, line, "unterminated quoted string");
      tokens.push({ text: value, quoted: true });
      i = j + 1;
      continue;
    }
    let j = i;
    let value = "";
    while (j < text.length && !DELIMITERS.has(text[j])) {
      if (text[j] === "\\" && j + 1 < text.length && text[j + 1] !== "\n") {
        value += text[j] + text[j + 1];
        j += 2;
      } else {
        value += text[j++];
      }
    }
    tokens.push({ text: value, quoted: false });
    i = j;
  }
  if (depth > 0) throw new ZoneError(file, openedAt, "'(' is never closed");
  if (tokens.length > 0) yield { line: entryLine, blankOwner, tokens };
}

// ---------------------------------------------------------------- Zone

/** The records of one name and type. */
export interface RRset {
  readonly name: Name;
  readonly type: number;
  readonly ttl: number;
  readonly records: readonly ResourceRecord[];
}

/** One name in a zone; an empty non-terminal has no RRsets. */
export interface ZoneNode {
  readonly name: Name;
  readonly rrsets: ReadonlyMap<number, RRset>;
}

/** An authoritative zone: its apex SOA and every name in it, looked up case-insensitively. */
export class Zone {
  readonly origin: Name;
  readonly soa: ResourceRecord;
  readonly recordCount: number;
  #nodes: Map<string, { name: Name; rrsets: Map<number, RRset> }>;

  private constructor(
    origin: Name,
    soa: ResourceRecord,
    nodes: Map<string, { name: Name; rrsets: Map<number, RRset> }>,
    recordCount: number,
  ) {
    this.origin = origin;
    this.soa = soa;
    this.#nodes = nodes;
    this.recordCount = recordCount;
  }

  /**
   * Builds a zone from records, checking what NSD checks: one SOA, at the
   * apex; every name inside the zone; CNAME alone at its name (RFC 1034
   * 3.6.2). Duplicate records are dropped and an RRset takes the TTL of its
   * first record (RFC 2181 5.2). Throws ZoneError.
   */
  static fromRecords(
    records: readonly ResourceRecord[],
    file = "<zone>",
    lines: readonly number[] = [],
  ): Zone {
    const soas = records.filter((r) => r.type === RecordType.SOA);
    if (soas.length === 0) {
      throw new ZoneError(file, lines.at(-1) ?? 0, "the zone has no SOA record");
    }
    const soa = soas[0];
    const origin = soa.name;
    const nodes = new Map<string, { name: Name; rrsets: Map<number, RRset> }>();
    let count = 0;
    for (const [index, record] of records.entries()) {
      const line = lines[index] ?? 0;
      if (!isSubdomain(record.name, origin)) {
        throw new ZoneError(file, line, `${record.name} is outside the zone ${origin}`);
      }
      if (record.type === RecordType.SOA && nameKey(record.name) !== nameKey(origin)) {
        throw new ZoneError(file, line, `SOA at ${record.name}, not at the apex ${origin}`);
      }
      const key = nameKey(record.name);
      let node = nodes.get(key);
      if (node === undefined) {
        node = { name: record.name, rrsets: new Map() };
        nodes.set(key, node);
      }
      const existing = node.rrsets.get(record.type);
      if (existing === undefined) {
        node.rrsets.set(record.type, {
          name: record.name,
          type: record.type,
          ttl: record.ttl,
          records: [record],
        });
        count++;
      } else if (!existing.records.some((r) => sameData(r, record))) {
        if (record.type === RecordType.SOA) {
          throw new ZoneError(file, line, "more than one SOA record");
        }
        (existing.records as ResourceRecord[]).push({ ...record, ttl: existing.ttl });
        count++;
      }
      if (node.rrsets.has(RecordType.CNAME) && node.rrsets.size > 1) {
        throw new ZoneError(file, line, `${record.name} has a CNAME and other data`);
      }
    }
    // Empty non-terminals: every ancestor between a name and the apex exists.
    for (const node of [...nodes.values()]) {
      let parent = parentName(node.name);
      while (parent !== undefined && isSubdomain(parent, origin)) {
        const key = nameKey(parent);
        if (nodes.has(key)) break;
        nodes.set(key, { name: parent, rrsets: new Map() });
        parent = parentName(parent);
      }
    }
    return new Zone(origin, soa, nodes, count);
  }

  /** Parses zone-file text and builds the zone (see parseZoneText and fromRecords). */
  static parse(text: string, options: ParseZoneOptions = {}): Zone {
    const entries = parseEntries(text, options);
    return Zone.fromRecords(
      entries.map((e) => e.record),
      options.file,
      entries.map((e) => e.line),
    );
  }

  /** The node at `name`, or undefined when the name does not exist. */
  node(name: Name): ZoneNode | undefined {
    return this.#nodes.get(nameKey(name));
  }

  /** Every node, in no particular order. */
  nodes(): IterableIterator<ZoneNode> {
    return this.#nodes.values();
  }
}

function sameData(a: ResourceRecord, b: ResourceRecord): boolean {
  return a.class === b.class && JSON.stringify(a.data, dataReplacer) ===
      JSON.stringify(b.data, dataReplacer) &&
    a.data.kind === b.data.kind;
}

function dataReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return Array.from(value);
  if (typeof value === "string") return value.toLowerCase();
  return value;
}
