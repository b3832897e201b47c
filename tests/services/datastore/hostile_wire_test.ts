// Bytes polite clients never send, over a socket: each gets PostgreSQL's
// error, and the server goes on serving everyone else.

import assert from "node:assert/strict";
import { PgClient, PgServerError } from "../../../lib/pg/client.ts";
import { service } from "../../../services/datastore/mod.ts";
import { startService } from "../../_support/service.ts";

/** Everything the server sends until it closes, as text (the byte values matter less). */
async function untilClosed(conn: Deno.Conn): Promise<string> {
  let text = "";
  const buf = new Uint8Array(4096);
  for (;;) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) return text;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
}

Deno.test("hostile input: each bad client gets its error, a good one is unaffected", async (t) => {
  await using store = await startService(service);
  const port = store.addresses.tcp.port;
  await using good = await PgClient.connect({ port });
  await good.query("CREATE TABLE t (id int PRIMARY KEY)");

  await t.step(
    "a Query longer than the message bound: FATAL 08P01, connection closed",
    async () => {
      await using bad = await PgClient.connect({ port });
      const length = 64 * 1024 * 1024; // past lib/pg's 16 MiB messageBytesMax
      const head = new Uint8Array([
        0x51,
        length >>> 24,
        (length >>> 16) & 255,
        (length >>> 8) & 255,
        length & 255,
      ]);
      await bad.sendRaw(head);
      const reply = await untilClosed(bad.conn);
      assert.match(reply, /08P01/);
    },
  );

  await t.step("nesting past the parser's depth bound: 54001, session goes on", async () => {
    await using bad = await PgClient.connect({ port });
    const sql = `SELECT ${"(".repeat(5000)}1${")".repeat(5000)}`;
    await assert.rejects(
      bad.query(sql),
      (e: unknown) => e instanceof PgServerError && e.code === "54001",
    );
    assert.deepEqual((await bad.query("SELECT 1"))[0].rows, [["1"]]);
  });

  await t.step("invalid UTF-8 in a query: an error, not a crash", async () => {
    await using bad = await PgClient.connect({ port });
    const sql = new Uint8Array([0x51, 0, 0, 0, 11, 0x53, 0x45, 0x4c, 0xff, 0xfe, 0x31, 0]);
    await bad.sendRaw(sql);
    // ERROR 22021 and the session goes on, as in PostgreSQL.
    const messages = await bad.receiveUntilReady();
    const error = messages.find((m) => m.type === "ErrorResponse");
    assert.ok(error && error.type === "ErrorResponse");
    assert.equal(error.fields.severity, "ERROR");
    assert.equal(error.fields.code, "22021");
    assert.match(error.fields.message, /invalid byte sequence for encoding "UTF8"/);
    assert.deepEqual((await bad.query("SELECT 1"))[0].rows, [["1"]]);
  });

  await t.step("Bind with more parameter formats than parameters: an error", async () => {
    await using bad = await PgClient.connect({ port });
    await bad.send(
      { type: "Parse", statement: "", sql: "SELECT $1::int", parameterTypes: [] },
      {
        type: "Bind",
        portal: "",
        statement: "",
        parameterFormats: [1, 1, 1],
        parameters: [new Uint8Array([0, 0, 0, 1])],
        resultFormats: [],
      },
      { type: "Execute", portal: "", rowsMax: 0 },
      { type: "Sync" },
    ).catch(() => {});
    const messages = await bad.receiveUntilReady();
    // ERROR 08P01, and the session goes on after Sync, as in PostgreSQL.
    const error = messages.find((m) => m.type === "ErrorResponse");
    assert.ok(error && error.type === "ErrorResponse");
    assert.equal(error.fields.severity, "ERROR");
    assert.equal(error.fields.code, "08P01");
    assert.deepEqual((await bad.query("SELECT 1"))[0].rows, [["1"]]);
  });

  await t.step(
    "a binary parameter of the wrong size: 08P01 as PostgreSQL 15 says, session goes on",
    async () => {
      await using bad = await PgClient.connect({ port });
      await bad.send(
        { type: "Parse", statement: "", sql: "SELECT $1::int4", parameterTypes: [23] },
        {
          type: "Bind",
          portal: "",
          statement: "",
          parameterFormats: [1],
          parameters: [new Uint8Array([1, 2])],
          resultFormats: [],
        },
        { type: "Execute", portal: "", rowsMax: 0 },
        { type: "Sync" },
      );
      const messages = await bad.receiveUntilReady();
      const error = messages.find((m) => m.type === "ErrorResponse");
      assert.ok(error?.type === "ErrorResponse");
      assert.equal(error.fields.code, "08P01");
      assert.deepEqual((await bad.query("SELECT 2"))[0].rows, [["2"]]);
    },
  );

  await good.query("INSERT INTO t VALUES (1)");
  assert.deepEqual((await good.query("SELECT count(*) FROM t"))[0].rows, [["1"]]);
});
