// Session.handle answers the extended protocol's common messages without a
// promise when nothing has to wait (session.ts `#handleNow`): a prepared
// point lookup's Bind, Describe, Execute and Sync come back as the effect
// itself, so the server answers a whole packet of them in one synchronous
// pass. Whatever must wait (a writer's lock, a commit's fsync, a row
// limit, a statement that is not a point lookup) comes back as a promise,
// with nothing written before it, and answers as before. The engine's part
// is Transaction.commitNow.

import assert from "node:assert/strict";
import { handleEach, SqlHarness, type TestSession } from "./_sql_harness.ts";
import type { FrontendMessage } from "../../../lib/pg/types.ts";
import { Engine } from "../../../services/datastore/storage/engine.ts";
import { failingWal } from "./_failing_wal.ts";

const encoder = new TextEncoder();

function bind(statement: string, params: string[]): FrontendMessage {
  return {
    type: "Bind",
    portal: "",
    statement,
    parameterFormats: [],
    parameters: params.map((p) => encoder.encode(p)),
    resultFormats: [],
  };
}

/** libpq's PQsendQueryPrepared: Bind, Describe portal, Execute, Sync. */
function executePrepared(statement: string, params: string[], rowsMax = 0): FrontendMessage[] {
  return [
    bind(statement, params),
    { type: "Describe", kind: "P", name: "" },
    { type: "Execute", portal: "", rowsMax },
    { type: "Sync" },
  ];
}

async function withTable(fn: (h: SqlHarness, s: TestSession) => Promise<void>): Promise<void> {
  const h = await SqlHarness.open();
  try {
    const s = await h.session();
    await s.query(
      "CREATE TABLE acct (aid int PRIMARY KEY, bal int); " +
        "INSERT INTO acct VALUES (1, 10), (2, 20), (3, 30)",
    );
    await s.send(
      {
        type: "Parse",
        statement: "get",
        sql: "SELECT bal FROM acct WHERE aid = $1",
        parameterTypes: [],
      },
      { type: "Sync" },
    );
    await fn(h, s);
  } finally {
    await h.close();
  }
}

Deno.test("a prepared point lookup's Bind, Describe, Execute and Sync answer without a promise", async () => {
  await withTable(async (_h, s) => {
    for (const [aid, row] of [["2", "D 20"], ["9", null]] as const) {
      const { sync, replies } = await handleEach(s, executePrepared("get", [aid]));
      assert.deepEqual(sync, [true, true, true, true], `aid ${aid}`);
      assert.deepEqual(replies, [
        "BindComplete",
        "RowDescription",
        ...(row ? [row] : []),
        `C SELECT ${row ? 1 : 0}`,
        "Z I",
      ]);
    }
    // Parse and Close too; an error (no such statement) is answered at once
    // and the rest skipped to Sync.
    const { sync, replies } = await handleEach(s, [
      {
        type: "Parse",
        statement: "two",
        sql: "SELECT bal FROM acct WHERE aid = $1",
        parameterTypes: [],
      },
      ...executePrepared("none", ["1"]),
      { type: "Close", kind: "S", name: "two" },
      { type: "Sync" },
    ]);
    assert.deepEqual(sync, [true, true, true, true, true, true, true]);
    assert.deepEqual(replies, ["ParseComplete", "E 26000", "Z I", "CloseComplete", "Z I"]);
  });
});

Deno.test("what must wait comes back as a promise and answers as before", async () => {
  await withTable(async (h, s) => {
    // A row limit: the ordinary plan, which can suspend the portal.
    const limited = await handleEach(s, executePrepared("get", ["1"], 1));
    assert.deepEqual(limited.sync, [true, true, false, true]);
    assert.deepEqual(limited.replies, [
      "BindComplete",
      "RowDescription",
      "D 10",
      "PortalSuspended",
      "Z I",
    ]);

    // A writer's table lock: Execute waits for it, and reads the committed row.
    const writer = await h.session();
    await writer.query("BEGIN; UPDATE acct SET bal = 11 WHERE aid = 1");
    const read = handleEach(s, executePrepared("get", ["1"]));
    for (let i = 0; i < 1000 && h.engine.stats().lockWaits === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    assert.equal(h.engine.stats().lockWaits, 1, "the reader waits for the writer's lock");
    await writer.query("COMMIT");
    const waited = await read;
    assert.deepEqual(waited.sync, [true, true, false, true]);
    assert.deepEqual(waited.replies, [
      "BindComplete",
      "RowDescription",
      "D 11",
      "C SELECT 1",
      "Z I",
    ]);

    // A write: its Sync waits for the commit's fsync.
    await s.send(
      {
        type: "Parse",
        statement: "set",
        sql: "UPDATE acct SET bal = $2 WHERE aid = $1",
        parameterTypes: [],
      },
      { type: "Sync" },
    );
    const write = await handleEach(s, [
      bind("set", ["3", "33"]),
      { type: "Execute", portal: "", rowsMax: 0 },
      { type: "Sync" },
    ]);
    assert.deepEqual(write.sync, [true, false, false]);
    assert.deepEqual(write.replies, ["BindComplete", "C UPDATE 1", "Z I"]);

    // Inside a block the lookup is synchronous; the block stays open.
    await s.query("BEGIN");
    const inBlock = await handleEach(s, executePrepared("get", ["3"]));
    assert.deepEqual(inBlock.sync, [true, true, true, true]);
    assert.deepEqual(inBlock.replies, [
      "BindComplete",
      "RowDescription",
      "D 33",
      "C SELECT 1",
      "Z T",
    ]);
    await s.query("COMMIT");

    // In an aborted block: 25P02 at once, then skipped to Sync.
    await s.query("BEGIN");
    await s.errorCode("SELECT 1/0");
    const aborted = await handleEach(s, executePrepared("get", ["3"]));
    assert.deepEqual(aborted.sync, [true, true, true, true]);
    assert.deepEqual(aborted.replies, ["E 25P02", "Z E"]);
    await s.query("ROLLBACK");
  });
});

Deno.test("commitNow() commits a transaction that has nothing to wait for, and only that", async () => {
  const dir = await Deno.makeTempDir({ prefix: "underhood-commit-now-" });
  const wal = failingWal();
  try {
    const engine = await Engine.open({ dir, files: wal.files });
    const setup = engine.begin();
    await setup.createTable({
      name: "t",
      columns: [{ name: "id", type: "int64" }, { name: "v", type: "int64" }],
      primaryKey: ["id"],
    });
    await setup.insert("t", [1n, 1n]);
    await setup.commit();

    // Read only, and what it read is durable: committed now, its lock released.
    const reader = engine.begin();
    assert.deepEqual(reader.getNow("t", null, [1n]), { row: [1n, 1n] });
    assert.equal(reader.commitNow(), true);
    assert.equal(reader.state, "committed");
    const writer = engine.begin();
    assert.equal(writer.getNow("t", null, [1n])?.row?.[1], 1n, "the lock was released");

    // A transaction with changes must wait for its fsync: untouched.
    await writer.update("t", [1n], [1n, 2n]);
    assert.equal(writer.commitNow(), false);
    assert.equal(writer.state, "open");
    const committing = writer.commit(); // appended, locks released, fsync pending

    // A reader of that commit before its fsync: must wait too.
    const early = engine.begin();
    assert.equal(early.getNow("t", null, [1n]), null, "not durable yet");
    assert.equal(early.commitNow(), false);
    assert.equal(early.state, "open");
    await committing;
    assert.equal(early.commitNow(), true);

    // Once the log has failed nothing commits synchronously: commit() reports the failure.
    {
      using _expected = wal.expectFailures();
      wal.fail();
      const failing = engine.begin();
      await failing.update("t", [1n], [1n, 3n]);
      await assert.rejects(failing.commit());
      const after = engine.begin();
      assert.equal(after.commitNow(), false);
      await assert.rejects(after.commit());
    }
    try {
      await engine.close();
    } catch { /* a failed log cannot close cleanly */ }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
