// The spells domain, pure: what a spell is, how a request body is checked
// field by field, how list queries are read, and the shapes that go out (the
// JSON a client sees, the `spell.created` event the worker consumes).
//
// The contract with the worker (docs/http_api.md): the event body is
//   {"event":"spell.created","spell":{"id","name","incantation","description","createdAt"}}
// with `id` a number. Ids are bigints in the datastore; they stay below
// 2^53 in any life this demo has, and are sent as JSON numbers, checked
// against Number.MAX_SAFE_INTEGER on the way out.
//
// Lengths count Unicode code points, as PostgreSQL's varchar(n) does, not
// UTF-16 units.

/** A spell as the API shows it. */
export interface Spell {
  id: number;
  name: string;
  incantation: string;
  description: string;
  createdAt: string;
  updatedAt: string;
  /** The image's URL path, or null when none is stored. */
  image: string | null;
}

/** The fields a client may set. */
export interface SpellFields {
  name: string;
  incantation: string;
  description: string;
}

/** One field that failed validation (RFC 9457 extension member `errors`). */
export interface FieldError {
  field: string;
  message: string;
}

/** Per-field bounds, in code points (the datastore's varchar(n) bounds). */
export const FIELD_LIMITS = {
  name: { min: 1, max: 100 },
  incantation: { min: 1, max: 200 },
  description: { min: 0, max: 2000 },
} as const;

type FieldName = keyof typeof FIELD_LIMITS;
const FIELD_NAMES = Object.keys(FIELD_LIMITS) as FieldName[];
/** Fields the server owns: sent back by a client that PUTs what it read, and ignored. */
const READ_ONLY_FIELDS = new Set(["id", "createdAt", "updatedAt", "image"]);

export type Validated<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/**
 * Checks a body for POST (create) or PUT (replace): name and incantation
 * are required, description defaults to "". Unknown fields are errors, so a
 * typo ("incantaton") is not silently dropped.
 */
export function validateFull(body: unknown): Validated<SpellFields> {
  const result = validateFields(body, false);
  if (!result.ok) return result;
  return {
    ok: true,
    value: {
      name: result.value.name!,
      incantation: result.value.incantation!,
      description: result.value.description ?? "",
    },
  };
}

/** Checks a body for PATCH: any subset of the fields, at least one. */
export function validatePatch(body: unknown): Validated<Partial<SpellFields>> {
  const result = validateFields(body, true);
  if (result.ok && Object.keys(result.value).length === 0) {
    return {
      ok: false,
      errors: [{ field: "", message: `give at least one of ${FIELD_NAMES.join(", ")}` }],
    };
  }
  return result;
}

function validateFields(body: unknown, partial: boolean): Validated<Partial<SpellFields>> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, errors: [{ field: "", message: "expected a JSON object" }] };
  }
  const input = body as Record<string, unknown>;
  const errors: FieldError[] = [];
  const value: Partial<SpellFields> = {};
  for (const key of Object.keys(input)) {
    if (!(key in FIELD_LIMITS) && !READ_ONLY_FIELDS.has(key)) {
      errors.push({ field: key, message: "unknown field" });
    }
  }
  for (const field of FIELD_NAMES) {
    const raw = input[field];
    if (raw === undefined) {
      if (!partial && FIELD_LIMITS[field].min > 0) {
        errors.push({ field, message: "is required" });
      }
      continue;
    }
    const problem = fieldProblem(field, raw);
    if (problem !== undefined) errors.push({ field, message: problem });
    else value[field] = raw as string;
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value };
}

function fieldProblem(field: FieldName, raw: unknown): string | undefined {
  if (typeof raw !== "string") return `must be a string, got ${jsonType(raw)}`;
  const { min, max } = FIELD_LIMITS[field];
  const length = codePoints(raw);
  if (length < min) return min === 1 ? "must not be empty" : `must be at least ${min} characters`;
  if (length > max) return `must be at most ${max} characters, got ${length}`;
  if (field !== "description" && raw.trim() !== raw) {
    return "must not start or end with whitespace";
  }
  if (field !== "description" && hasControlCharacter(raw)) {
    return "must not contain control characters";
  }
  return undefined;
}

/** C0 controls and DEL: a name or incantation is one line of plain text. */
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/** Length in code points (what varchar(n) counts). */
export function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** The key the datastore's unique index holds: names are unique whatever their case. */
export function nameKey(name: string): string {
  return name.toLowerCase();
}

/** A spell id from a path segment: a positive integer, or undefined. */
export function parseId(text: string): bigint | undefined {
  if (!/^[1-9][0-9]{0,17}$/.test(text)) return undefined;
  return BigInt(text);
}

/** What GET /api/spells was asked for. */
export interface ListQuery {
  limit: number;
  /** Offset pagination (default 0), unless `after` is given. */
  offset: number;
  /** Cursor pagination: ids greater than this one. */
  after?: bigint;
  /** Case-insensitive substring of the name. */
  search?: string;
}

export const LIST_LIMIT_DEFAULT = 20;
/** A page holds at most 100 spells: one response stays small and one query bounded. */
export const LIST_LIMIT_MAX = 100;
/** Offsets past this are refused: deep offsets make the datastore skip that many rows. */
export const LIST_OFFSET_MAX = 100_000;
const SEARCH_CHARS_MAX = 100;

/** Reads `limit`, `offset`, `cursor` and `q` (or `name`) from a query string. */
export function parseListQuery(query: string): Validated<ListQuery> {
  const params = new URLSearchParams(query);
  const errors: FieldError[] = [];
  const result: ListQuery = { limit: LIST_LIMIT_DEFAULT, offset: 0 };
  const limit = params.get("limit");
  if (limit !== null) {
    const n = Number(limit);
    if (!/^[0-9]+$/.test(limit) || n < 1 || n > LIST_LIMIT_MAX) {
      errors.push({ field: "limit", message: `must be an integer from 1 to ${LIST_LIMIT_MAX}` });
    } else result.limit = n;
  }
  const offset = params.get("offset");
  if (offset !== null) {
    const n = Number(offset);
    if (!/^[0-9]+$/.test(offset) || n > LIST_OFFSET_MAX) {
      errors.push({
        field: "offset",
        message: `must be an integer from 0 to ${LIST_OFFSET_MAX}; use cursor= for deep pages`,
      });
    } else result.offset = n;
  }
  const cursor = params.get("cursor");
  if (cursor !== null) {
    const after = decodeCursor(cursor);
    if (after === undefined) errors.push({ field: "cursor", message: "not a cursor we issued" });
    else result.after = after;
    if (offset !== null) {
      errors.push({ field: "offset", message: "give offset or cursor, not both" });
    }
  }
  const search = params.get("q") ?? params.get("name");
  if (search !== null && search !== "") {
    if (codePoints(search) > SEARCH_CHARS_MAX) {
      errors.push({ field: "q", message: `must be at most ${SEARCH_CHARS_MAX} characters` });
    } else result.search = search;
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value: result };
}

/**
 * A cursor is opaque to clients: base64url of "id:<last id>", so that a
 * client does not start doing arithmetic on it and we can change it later.
 */
export function encodeCursor(lastId: number | bigint): string {
  return btoa(`id:${lastId}`).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function decodeCursor(cursor: string): bigint | undefined {
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(cursor)) return undefined;
  let text: string;
  try {
    text = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    return undefined;
  }
  const match = /^id:(0|[1-9][0-9]{0,17})$/.exec(text);
  return match === null ? undefined : BigInt(match[1]);
}

/**
 * A LIKE pattern matching `text` anywhere, with LIKE's own wildcards in it
 * escaped (ESCAPE '\'): searching for "50%" finds "50%", not "50 anything".
 * The pattern goes to the datastore as a parameter, never into the SQL.
 */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** The row's columns, as text from the datastore, in the order SPELL_COLUMNS lists them. */
export const SPELL_COLUMNS =
  "id, name, incantation, description, has_image, created_at, updated_at";

/** A spell from a row of SPELL_COLUMNS (text values, as the wire protocol sends them). */
export function spellFromRow(row: readonly (string | null)[]): Spell {
  const id = Number(row[0]);
  if (!Number.isSafeInteger(id)) throw new RangeError(`spell id ${row[0]} past 2^53`);
  return {
    id,
    name: row[1] ?? "",
    incantation: row[2] ?? "",
    description: row[3] ?? "",
    createdAt: isoTimestamp(row[5] ?? ""),
    updatedAt: isoTimestamp(row[6] ?? ""),
    image: row[4] === "t" ? imagePath(id) : null,
  };
}

/** The URL path of a spell's image. */
export function imagePath(id: number | bigint): string {
  return `/api/spells/${id}/image`;
}

/** "2026-12-02 06:55:50.607+00" (timestamptz as text, UTC) as ISO 8601 with milliseconds. */
export function isoTimestamp(text: string): string {
  const match = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(\.\d+)?\+00$/.exec(text);
  if (match === null) throw new SyntaxError(`unexpected timestamp from the datastore: ${text}`);
  const fraction = (match[3] ?? ".").slice(1).padEnd(3, "0").slice(0, 3);
  return `${match[1]}T${match[2]}.${fraction}Z`;
}

/** The body of the `spell.created` event (the contract with the worker). */
export function spellCreatedEvent(spell: Spell): string {
  return JSON.stringify({
    event: "spell.created",
    spell: {
      id: spell.id,
      name: spell.name,
      incantation: spell.incantation,
      description: spell.description,
      createdAt: spell.createdAt,
    },
  });
}

/** The two spells a new table starts with. */
export const SEED_SPELLS: readonly SpellFields[] = [
  { name: "Accio", incantation: "Accio!", description: "Summons an object." },
  { name: "Lumos", incantation: "Lumos!", description: "Lights the tip of the wand." },
];
