// Scripted extended-protocol transcripts against the Session with no socket
// (PostgreSQL documentation 55.2.3 "Extended Query").

import assert from "node:assert/strict";
import { OID } from "../../../lib/pg/oids.ts";
import type { BackendMessage } from "../../../lib/pg/types.ts";
import { formatBinary, parseBinary } from "../../../lib/pg/values.ts";
import { SqlHarness, type TestSession } from "./_sql_harness.ts";
import { failingWal } from "./_failing_wal.ts";

const text = (s: string) => new TextEncoder().encode(s);
const types = (messages: BackendMessage[]) => messages.map((m) => m.type);
const decoder = new TextDecoder();

async function withSession(fn: (s: TestSession) => Promise<void>): Promise<void> {
  const h = await SqlHarness.open();
  try {
    const s = await h.session();
    await s.query(
      "CREATE TABLE acct (aid int PRIMARY KEY, abalance int, note text); " +
        "INSERT INTO acct VALUES (1, 10, 'a'), (2, 20, 'b'), (3, 30, NULL), (4, 40, 'd'), (5, 50, 'e')",
    );
    await fn(s);
  } finally {
    await h.close();
  }
}

Deno.test("an untyped parameter takes its type from the context and binds as text", async () => {
  // Regression: the parameter was parsed as int4 at Bind and then parsed again
  // by the plan's coercion from text: TypeError "text.trim is not a function"
  // (pgbench -M extended and -M prepared failed on every statement).
  await withSession(async (s) => {
    const out = await s.send(
      {
        type: "Parse",
        statement: "",
        sql: "SELECT abalance FROM acct WHERE aid = $1",
        parameterTypes: [],
      },
      { type: "Describe", kind: "S", name: "" },
      {
        type: "Bind",
        portal: "",
        statement: "",
        parameterFormats: [],
        parameters: [text("2")],
        resultFormats: [],
      },
      { type: "Execute", portal: "", rowsMax: 0 },
      { type: "Sync" },
    );
    assert.deepEqual(types(out), [
      "ParseComplete",
      "ParameterDescription",
      "RowDescription",
      "BindComplete",
      "DataRow",
      "CommandComplete",
      "ReadyForQuery",
    ]);
    assert.deepEqual(out[1], { type: "ParameterDescription", typeOids: [OID.int4] });
    const row = out[4] as Extract<BackendMessage, { type: "DataRow" }>;
    assert.equal(decoder.decode(row.values[0]!), "20");
  });
});

Deno.test("binary parameters and binary results", async () => {
  await withSession(async (s) => {
    const out = await s.send(
      {
        type: "Parse",
        statement: "q",
        sql: "SELECT aid, note FROM acct WHERE aid = $1",
        parameterTypes: [OID.int4],
      },
      {
        type: "Bind",
        portal: "",
        statement: "q",
        parameterFormats: [1],
        parameters: [formatBinary(OID.int4, 4)],
        resultFormats: [1, 0],
      },
      { type: "Execute", portal: "", rowsMax: 0 },
      { type: "Sync" },
    );
    const row = out.find((m) => m.type === "DataRow") as Extract<
      BackendMessage,
      { type: "DataRow" }
    >;
    assert.equal(parseBinary(OID.int4, new Uint8Array(row.values[0]!)), 4);
    assert.equal(decoder.decode(row.values[1]!), "d");
  });
});

Deno.test("Execute with a row limit suspends the portal and resumes it, tagged as PostgreSQL 15 does", async () => {
  // PostgreSQL 15.18 answered these two exchanges with exactly these messages: the tag counts
  // the last Execute's rows, a limit reached suspends even when nothing is left, and an
  // exhausted portal completes with SELECT 0.
  await withSession(async (s) => {
    const run = (sql: string, executes: number) =>
      s.send(
        { type: "Parse", statement: "", sql, parameterTypes: [] },
        {
          type: "Bind",
          portal: "p",
          statement: "",
          parameterFormats: [],
          parameters: [],
          resultFormats: [],
        },
        ...Array.from(
          { length: executes },
          () => ({ type: "Execute" as const, portal: "p", rowsMax: 2 }),
        ),
        { type: "Sync" },
      );
    const tags = (messages: BackendMessage[]) =>
      messages.map((m) => m.type === "CommandComplete" ? m.tag : m.type);
    assert.deepEqual(tags(await run("SELECT aid FROM acct ORDER BY aid", 4)), [
      "ParseComplete",
      "BindComplete",
      "DataRow",
      "DataRow",
      "PortalSuspended",
      "DataRow",
      "DataRow",
      "PortalSuspended",
      "DataRow",
      "SELECT 1",
      "SELECT 0",
      "ReadyForQuery",
    ]);
    assert.deepEqual(tags(await run("SELECT aid FROM acct ORDER BY aid LIMIT 4", 3)), [
      "ParseComplete",
      "BindComplete",
      "DataRow",
      "DataRow",
      "PortalSuspended",
      "DataRow",
      "DataRow",
      "PortalSuspended",
      "SELECT 0",
      "ReadyForQuery",
    ]);
  });
});

Deno.test("after an error the extended protocol skips to Sync", async () => {
  await withSession(async (s) => {
    const out = await s.send(
      { type: "Parse", statement: "", sql: "SELECT * FROM nope", parameterTypes: [] },
      {
        type: "Bind",
        portal: "",
        statement: "",
        parameterFormats: [],
        parameters: [],
        resultFormats: [],
      },
      { type: "Execute", portal: "", rowsMax: 0 },
      { type: "Sync" },
    );
    assert.deepEqual(types(out), ["ErrorResponse", "ReadyForQuery"]);
    const error = out[0] as Extract<BackendMessage, { type: "ErrorResponse" }>;
    assert.equal(error.fields.code, "42P01");
    // And the session goes on.
    assert.deepEqual(await s.rows("SELECT count(*) FROM acct"), [["5"]]);
  });
});

Deno.test("named statements: reused, closed, then unknown (26000); wrong parameter count (08P01)", async () => {
  await withSession(async (s) => {
    const bind = (value: string) => ({
      type: "Bind" as const,
      portal: "",
      statement: "get",
      parameterFormats: [] as (0 | 1)[],
      parameters: [text(value)],
      resultFormats: [] as (0 | 1)[],
    });
    const out = await s.send(
      {
        type: "Parse",
        statement: "get",
        sql: "SELECT note FROM acct WHERE aid = $1",
        parameterTypes: [],
      },
      bind("1"),
      { type: "Execute", portal: "", rowsMax: 0 },
      bind("2"),
      { type: "Execute", portal: "", rowsMax: 0 },
      { type: "Close", kind: "S", name: "get" },
      { type: "Sync" },
    );
    const rows = out.filter((m) => m.type === "DataRow") as Extract<
      BackendMessage,
      { type: "DataRow" }
    >[];
    assert.deepEqual(rows.map((r) => decoder.decode(r.values[0]!)), ["a", "b"]);
    assert.ok(types(out).includes("CloseComplete"));
    const missing = await s.send(bind("1"), { type: "Sync" });
    assert.equal(
      (missing[0] as Extract<BackendMessage, { type: "ErrorResponse" }>).fields.code,
      "26000",
    );
    const wrong = await s.send(
      { type: "Parse", statement: "", sql: "SELECT $1::int", parameterTypes: [] },
      {
        type: "Bind",
        portal: "",
        statement: "",
        parameterFormats: [],
        parameters: [],
        resultFormats: [],
      },
      { type: "Sync" },
    );
    assert.equal(
      (wrong[1] as Extract<BackendMessage, { type: "ErrorResponse" }>).fields.code,
      "08P01",
    );
  });
});

Deno.test("an implicit transaction lasts until Sync; BEGIN in it makes a block", async () => {
  await withSession(async (s) => {
    const parseRun = (sql: string) => [
      { type: "Parse" as const, statement: "", sql, parameterTypes: [] },
      {
        type: "Bind" as const,
        portal: "",
        statement: "",
        parameterFormats: [],
        parameters: [],
        resultFormats: [],
      },
      { type: "Execute" as const, portal: "", rowsMax: 0 },
    ];
    const out = await s.send(...parseRun("BEGIN"), ...parseRun("DELETE FROM acct"), {
      type: "Sync",
    });
    assert.deepEqual(out[out.length - 1], { type: "ReadyForQuery", status: "T" });
    await s.query("ROLLBACK");
    assert.deepEqual(await s.rows("SELECT count(*) FROM acct"), [["5"]]);
  });
});

Deno.test("COPY FROM STDIN in text format, with escapes and \\N", async () => {
  await withSession(async (s) => {
    const start = await s.send({
      type: "Query",
      sql: "COPY acct (aid, abalance, note) FROM STDIN",
    });
    assert.deepEqual(types(start), ["CopyInResponse"]);
    const out = await s.send(
      { type: "CopyData", data: text("10\t100\ttab\\there\n11\t1") },
      { type: "CopyData", data: text("10\t\\N\n\\.\n") },
      { type: "CopyDone" },
    );
    assert.deepEqual(types(out), ["CommandComplete", "ReadyForQuery"]);
    assert.deepEqual(out[0], { type: "CommandComplete", tag: "COPY 2" });
    assert.deepEqual(await s.rows("SELECT aid, abalance, note FROM acct WHERE aid >= 10"), [
      ["10", "100", "tab\there"],
      ["11", "110", null],
    ]);
    // Columns COPY does not name get their DEFAULT.
    await s.query(
      "CREATE TABLE notes (id serial PRIMARY KEY, body text, seen boolean DEFAULT false)",
    );
    await s.send({ type: "Query", sql: "COPY notes (body) FROM STDIN" });
    await s.send({ type: "CopyData", data: text("hello\n") }, { type: "CopyDone" });
    assert.deepEqual(await s.rows("SELECT id, body, seen FROM notes"), [["1", "hello", "f"]]);
    await s.send({ type: "Query", sql: "COPY acct FROM STDIN" });
    const failed = await s.send({ type: "CopyData", data: text("1\t1\tdup\n") }, {
      type: "CopyDone",
    });
    assert.equal(
      (failed[0] as Extract<BackendMessage, { type: "ErrorResponse" }>).fields.code,
      "23505",
    );
  });
});

Deno.test("a reader's rows wait until the commit it read is durable", async () => {
  // The engine releases a writer's locks once its commit is logged, before the
  // fsync. Here the fsync fails, so the writer's row is never durable: a reader
  // that ran in between must get an error, not a count that includes the row.
  // Without the wait, the reader in its block got count 2: a row no crash would keep.
  const wal = failingWal();
  using _expected = wal.expectFailures();
  const h = await SqlHarness.open(undefined, wal.files);
  try {
    const writer = await h.session();
    const reader = await h.session();
    await writer.query("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)");
    // In a block, so no commit of the reader's own comes between its rows and the client.
    await reader.query("BEGIN");
    wal.fail();
    const [written, read] = await Promise.allSettled([
      writer.query("INSERT INTO t VALUES (2)"),
      reader.query("SELECT count(*) FROM t"),
    ]);
    assert.equal(written.status, "rejected");
    assert.equal(read.status, "rejected", `the reader saw ${JSON.stringify(read)}`);
  } finally {
    await h.close();
  }
});
