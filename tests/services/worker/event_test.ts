// parseSpellCreated(): the contract's event is accepted, anything else is a
// poison message with a reason, and nothing throws.

import assert from "node:assert/strict";
import { utf8 } from "../../../lib/bytes.ts";
import { EVENT_BYTES_MAX, parseSpellCreated } from "../../../services/worker/event.ts";

const CONTRACT_EXAMPLE =
  '{"event":"spell.created","spell":{"id":12,"name":"Accio","incantation":"Accio!",' +
  '"description":"Summons an object.","createdAt":"2026-12-02T07:00:00.000Z"}}';

Deno.test("parseSpellCreated() accepts the contract's example", () => {
  assert.deepEqual(parseSpellCreated(utf8(CONTRACT_EXAMPLE)), {
    ok: true,
    spell: {
      id: "12",
      name: "Accio",
      incantation: "Accio!",
      description: "Summons an object.",
      createdAt: "2026-12-02T07:00:00.000Z",
    },
  });
});

Deno.test("parseSpellCreated() takes a bigint id as a string and ignores extra fields", () => {
  const parsed = parseSpellCreated(utf8(JSON.stringify({
    event: "spell.created",
    spell: {
      id: "9007199254740993",
      name: "Lumos",
      incantation: "Lumos!",
      createdAt: "2026-12-02T07:00:00Z",
      updatedAt: "2026-12-02T07:00:00Z",
      image: null,
    },
  })));
  assert.ok(parsed.ok);
  assert.equal(parsed.spell.id, "9007199254740993");
  assert.equal(parsed.spell.description, "", "description defaults to empty");
});

const base = JSON.parse(CONTRACT_EXAMPLE);
const withSpell = (patch: Record<string, unknown>) =>
  JSON.stringify({ ...base, spell: { ...base.spell, ...patch } });

const POISON: [string, string | Uint8Array, RegExp][] = [
  ["empty body", "", /not JSON/],
  ["not JSON", "{", /not JSON/],
  ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0x7d]), /not JSON in UTF-8/],
  ["a JSON array", "[]", /not a JSON object/],
  ["another event", JSON.stringify({ ...base, event: "spell.deleted" }), /event is/],
  ["no spell", JSON.stringify({ event: "spell.created" }), /spell is not an object/],
  ["id zero", withSpell({ id: 0 }), /spell\.id/],
  ["fractional id", withSpell({ id: 1.5 }), /spell\.id/],
  ["id not digits", withSpell({ id: "12; DROP" }), /spell\.id/],
  ["empty name", withSpell({ name: "" }), /spell\.name has 0/],
  ["name too long", withSpell({ name: "x".repeat(101) }), /spell\.name has 101/],
  ["incantation missing", withSpell({ incantation: undefined }), /spell\.incantation/],
  ["description too long", withSpell({ description: "d".repeat(2001) }), /description/],
  ["bad date", withSpell({ createdAt: "yesterday" }), /createdAt/],
  ["too large", " ".repeat(EVENT_BYTES_MAX + 1), /more than/],
];

for (const [name, body, reason] of POISON) {
  Deno.test(`parseSpellCreated() refuses a poison body: ${name}`, () => {
    const parsed = parseSpellCreated(typeof body === "string" ? utf8(body) : body as never);
    assert.equal(parsed.ok, false);
    if (!parsed.ok) assert.match(parsed.reason, reason);
  });
}
