// The pure half of the http-api: validation, list queries, cursors, rows.

import assert from "node:assert/strict";
import {
  containsPattern,
  decodeCursor,
  encodeCursor,
  isoTimestamp,
  parseId,
  parseListQuery,
  spellCreatedEvent,
  spellFromRow,
  validateFull,
  validatePatch,
} from "../../../services/http_api/spells.ts";
import { asProblem, problem } from "../../../services/http_api/problem.ts";
import { jsonError } from "../../../lib/http/message.ts";

const pure = { permissions: "none" } as const;

Deno.test(
  'validateFull() names every field that is wrong, with description defaulting to ""',
  pure,
  () => {
    assert.deepEqual(validateFull({ name: "Accio", incantation: "Accio!" }), {
      ok: true,
      value: { name: "Accio", incantation: "Accio!", description: "" },
    });
    const cases: [unknown, string[]][] = [
      [null, [""]],
      [[], [""]],
      ["x", [""]],
      [{}, ["name", "incantation"]],
      [{ name: "", incantation: "x" }, ["name"]],
      [{ name: "a".repeat(101), incantation: "x" }, ["name"]],
      [{ name: "a", incantation: "i".repeat(201) }, ["incantation"]],
      [{ name: "a", incantation: "x", description: "d".repeat(2001) }, ["description"]],
      [{ name: 7, incantation: null }, ["name", "incantation"]],
      [{ name: " padded", incantation: "x" }, ["name"]],
      [{ name: "line\nbreak", incantation: "x" }, ["name"]],
      [{ name: "a", incantation: "x", incantaton: "typo" }, ["incantaton"]],
    ];
    for (const [body, fields] of cases) {
      const result = validateFull(body);
      assert.equal(result.ok, false, JSON.stringify(body));
      if (!result.ok) {
        assert.deepEqual(
          result.errors.map((e) => e.field).sort(),
          fields.sort(),
          JSON.stringify(body),
        );
      }
    }
    // Lengths are code points, as varchar(n) counts: 100 emoji are a valid name.
    assert.equal(validateFull({ name: "🪄".repeat(100), incantation: "x" }).ok, true);
    // What a client read back (id, createdAt, image...) may be PUT back as it is.
    assert.equal(
      validateFull({ id: 1, name: "a", incantation: "x", createdAt: "t", image: null }).ok,
      true,
    );
  },
);

Deno.test("validatePatch() takes any subset, but at least one field", pure, () => {
  assert.deepEqual(validatePatch({ description: "" }), { ok: true, value: { description: "" } });
  assert.equal(validatePatch({}).ok, false);
  assert.equal(validatePatch({ name: "" }).ok, false);
});

Deno.test(
  "parseListQuery() reads limit, offset, cursor and q, and refuses what it cannot serve",
  pure,
  () => {
    assert.deepEqual(parseListQuery(""), { ok: true, value: { limit: 20, offset: 0 } });
    assert.deepEqual(parseListQuery("limit=5&offset=10&q=acc"), {
      ok: true,
      value: { limit: 5, offset: 10, search: "acc" },
    });
    assert.deepEqual(parseListQuery(`cursor=${encodeCursor(41)}`), {
      ok: true,
      value: { limit: 20, offset: 0, after: 41n },
    });
    for (
      const bad of [
        "limit=0",
        "limit=101",
        "limit=x",
        "offset=-1",
        "offset=100001",
        "cursor=zz",
        `cursor=${encodeCursor(1)}&offset=2`,
      ]
    ) {
      assert.equal(parseListQuery(bad).ok, false, bad);
    }
  },
);

Deno.test("cursors are opaque, round-trip, and only ours decode", pure, () => {
  for (const id of [0n, 1n, 9007199254740991n]) assert.equal(decodeCursor(encodeCursor(id)), id);
  assert.equal(decodeCursor(btoa("id:-1")), undefined);
  assert.equal(decodeCursor(btoa("offset:3")), undefined);
  assert.equal(decodeCursor("!!"), undefined);
});

Deno.test("containsPattern() escapes LIKE's wildcards so a search means what it says", pure, () => {
  assert.equal(containsPattern("acc"), "%acc%");
  assert.equal(containsPattern("50%_off\\"), "%50\\%\\_off\\\\%");
});

Deno.test("parseId() takes positive decimal ids only", pure, () => {
  assert.equal(parseId("12"), 12n);
  for (const bad of ["0", "-1", "01", "1e3", "", "x", "1".repeat(19)]) {
    assert.equal(parseId(bad), undefined);
  }
});

Deno.test(
  "spellFromRow() and isoTimestamp() turn the datastore's text into the API's JSON",
  pure,
  () => {
    assert.equal(isoTimestamp("2026-12-02 06:55:50.607+00"), "2026-12-02T06:55:50.607Z");
    assert.equal(isoTimestamp("2026-12-02 06:55:50+00"), "2026-12-02T06:55:50.000Z");
    assert.equal(isoTimestamp("2026-12-02 06:55:50.123456+00"), "2026-12-02T06:55:50.123Z");
    assert.throws(() => isoTimestamp("2026-12-02 06:55:50+02"), SyntaxError);
    const row = [
      "12",
      "Accio",
      "Accio!",
      "Summons.",
      "t",
      "2026-12-02 07:00:00+00",
      "2026-12-02 07:00:01+00",
    ];
    const spell = spellFromRow(row);
    assert.deepEqual(spell, {
      id: 12,
      name: "Accio",
      incantation: "Accio!",
      description: "Summons.",
      createdAt: "2026-12-02T07:00:00.000Z",
      updatedAt: "2026-12-02T07:00:01.000Z",
      image: "/api/spells/12/image",
    });
    // The contract with the worker, byte for byte.
    assert.equal(
      spellCreatedEvent(spell),
      '{"event":"spell.created","spell":{"id":12,"name":"Accio","incantation":"Accio!",' +
        '"description":"Summons.","createdAt":"2026-12-02T07:00:00.000Z"}}',
    );
  },
);

Deno.test(
  "problem() is RFC 9457 problem+json; asProblem() converts lib/http's own errors only",
  pure,
  () => {
    const response = problem(404, { detail: "no spell" });
    assert.equal(
      (response.headers as Record<string, string>)["content-type"],
      "application/problem+json",
    );
    assert.deepEqual(JSON.parse(String(response.body)), {
      type: "about:blank",
      title: "Not Found",
      status: 404,
      detail: "no spell",
    });
    const converted = asProblem(jsonError(405, "method PUT not allowed", { allow: "GET, HEAD" }));
    const headers = converted.headers as Record<string, string>;
    assert.equal(headers["content-type"], "application/problem+json");
    assert.equal(headers.allow, "GET, HEAD");
    assert.equal(JSON.parse(String(converted.body)).detail, "method PUT not allowed");
    // /readyz's 503 is JSON of its own and stays so.
    const readyz = {
      status: 503,
      headers: { "content-type": "application/json" },
      body: '{"status":"failing","checks":{}}',
    };
    assert.equal(asProblem(readyz), readyz);
  },
);
