// A message with a sound frame (a known type, a length within bounds, all of
// it received) but a bad body gets ERROR, and the session goes on, as
// PostgreSQL 15 does (checked against it with the same bytes: a Describe or
// Close of subtype 'X', a Parse or Query string without its zero byte,
// bytes left after an Execute); the extended-query ones skip to Sync. An
// unknown message type is FATAL and closes the connection, as there.

import assert from "node:assert/strict";
import { PgClient } from "../../../lib/pg/client.ts";
import type { BackendMessage } from "../../../lib/pg/types.ts";
import { service } from "../../../services/datastore/mod.ts";
import { startService } from "../../_support/service.ts";

const encoder = new TextEncoder();

function frame(type: string, body: number[]): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  out[0] = type.charCodeAt(0);
  new DataView(out.buffer).setUint32(1, 4 + body.length);
  out.set(body, 5);
  return out;
}

const cstring = (s: string) => [...encoder.encode(s), 0];
const SYNC = frame("S", []);

const CASES: [string, Uint8Array, string][] = [
  [
    "Describe of subtype X",
    frame("D", [0x58, ...cstring("")]),
    "invalid DESCRIBE message subtype 88",
  ],
  ["Close of subtype X", frame("C", [0x58, ...cstring("")]), "invalid CLOSE message subtype 88"],
  [
    "Parse without the query's zero byte",
    frame("P", [...cstring(""), ...encoder.encode("SELECT 1")]),
    "invalid string in message",
  ],
  [
    "Execute with bytes left over",
    frame("E", [...cstring(""), 0, 0, 0, 0, 1, 2, 3]),
    "invalid message format",
  ],
  [
    "Query without its zero byte",
    frame("Q", [...encoder.encode("SELECT 1")]),
    "invalid string in message",
  ],
];

function errorOf(messages: BackendMessage[]) {
  const error = messages.find((m) => m.type === "ErrorResponse");
  assert.ok(error && error.type === "ErrorResponse", "an ErrorResponse");
  return error.fields;
}

Deno.test("a framed message with a bad body gets ERROR 08P01 and the session goes on", async (t) => {
  await using store = await startService(service);
  const port = store.addresses.tcp.port;
  for (const [what, bytes, message] of CASES) {
    await t.step(what, async () => {
      await using client = await PgClient.connect({ port });
      await client.sendRaw(bytes);
      if (bytes[0] !== 0x51) await client.sendRaw(SYNC);
      const fields = errorOf(await client.receiveUntilReady());
      assert.equal(fields.severity, "ERROR");
      assert.equal(fields.code, "08P01");
      assert.equal(fields.message, message);
      assert.deepEqual((await client.query("SELECT 1"))[0].rows, [["1"]]);
    });
  }
  await t.step("messages after the bad one are skipped until Sync", async () => {
    await using client = await PgClient.connect({ port });
    await client.sendRaw(frame("D", [0x58, ...cstring("")]));
    await client.sendRaw(frame("P", [...cstring(""), ...cstring("SELECT 1"), 0, 0]));
    await client.sendRaw(SYNC);
    const messages = await client.receiveUntilReady();
    assert.deepEqual(messages.map((m) => m.type), ["ErrorResponse", "ReadyForQuery"]);
  });
  await t.step("an unknown message type: FATAL, connection closed", async () => {
    await using client = await PgClient.connect({ port });
    await client.sendRaw(frame("z", [1, 2, 3]));
    const fields = errorOf([await client.receive()]);
    assert.equal(fields.severity, "FATAL");
    await assert.rejects(client.receive());
  });
});
