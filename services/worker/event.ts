// The `spell.created` event, as the http-api publishes it to
// /queue/spell.created (the contract in docs/worker.md):
//
//   {"event":"spell.created","spell":{"id":12,"name":"Accio","incantation":"Accio!",
//    "description":"Summons an object.","createdAt":"2026-12-02T07:00:00.000Z"}}
//
// `parseSpellCreated` checks a message body against that shape. Pure: bytes
// in, a spell or the reason it is not one out. A body that is not one is a
// poison message: no retry can fix it, so the worker dead-letters it at once.
// Fields the contract does not name (updatedAt, image, ...) are ignored, so
// the publisher may add some without breaking the worker.

import type { Bytes } from "../../lib/bytes.ts";

export interface Spell {
  /** The row's id, as decimal digits (a bigint may not fit a JSON number exactly). */
  readonly id: string;
  readonly name: string;
  readonly incantation: string;
  readonly description: string;
  /** ISO 8601, as the API wrote it. */
  readonly createdAt: string;
}

export type ParsedEvent =
  | { readonly ok: true; readonly spell: Spell }
  | { readonly ok: false; readonly reason: string };

/**
 * The largest body worth parsing. The contract's fields at their maxima
 * (100 + 200 + 2000 characters, at most 4 UTF-8 octets each, JSON escapes
 * at most 6 octets a character) stay under 14 KiB; 64 KiB leaves room for
 * fields added later without letting a huge body reach JSON.parse.
 */
export const EVENT_BYTES_MAX = 64 * 1024;

/** The contract's bounds on the fields, in characters (UTF-16 code units, as the API counts). */
export const SPELL_LIMITS = Object.freeze({
  nameChars: { min: 1, max: 100 },
  incantationChars: { min: 1, max: 200 },
  descriptionChars: { min: 0, max: 2000 },
});

const ID = /^[1-9][0-9]{0,19}$/;

/** Parses and checks one event body; never throws. */
export function parseSpellCreated(body: Bytes): ParsedEvent {
  if (body.length > EVENT_BYTES_MAX) {
    return fail(`body of ${body.length} bytes, more than ${EVENT_BYTES_MAX}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch (error) {
    return fail(`not JSON in UTF-8: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!isObject(value)) return fail("not a JSON object");
  if (value.event !== "spell.created") return fail(`event is ${JSON.stringify(value.event)}`);
  const spell = value.spell;
  if (!isObject(spell)) return fail("spell is not an object");
  const id = typeof spell.id === "number" && Number.isSafeInteger(spell.id)
    ? String(spell.id)
    : spell.id;
  if (typeof id !== "string" || !ID.test(id)) return fail("spell.id is not a positive integer");
  const name = text(spell.name, "name", SPELL_LIMITS.nameChars);
  if (typeof name !== "string") return name;
  const incantation = text(spell.incantation, "incantation", SPELL_LIMITS.incantationChars);
  if (typeof incantation !== "string") return incantation;
  const description = text(spell.description ?? "", "description", SPELL_LIMITS.descriptionChars);
  if (typeof description !== "string") return description;
  const createdAt = spell.createdAt;
  if (typeof createdAt !== "string" || Number.isNaN(Date.parse(createdAt))) {
    return fail("spell.createdAt is not a date");
  }
  return { ok: true, spell: { id, name, incantation, description, createdAt } };
}

function text(
  value: unknown,
  field: string,
  bounds: { min: number; max: number },
): string | ParsedEvent {
  if (typeof value !== "string") return fail(`spell.${field} is not a string`);
  if (value.length < bounds.min || value.length > bounds.max) {
    return fail(`spell.${field} has ${value.length} characters, not ${bounds.min}-${bounds.max}`);
  }
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function fail(reason: string): ParsedEvent {
  return { ok: false, reason };
}
