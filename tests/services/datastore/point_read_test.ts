// The prepared point lookup's fast path (executor.ts `pointRead`, engine
// `Transaction.getNow`): a prepared `SELECT ... WHERE key = $1` over one
// table runs its lookup synchronously at Execute, with the same answers as
// the ordinary plan, and falls back to that plan (which waits) when the
// table's lock is taken or what it read is not durable yet.

import assert from "node:assert/strict";
import type { BackendMessage, FrontendMessage } from "../../../lib/pg/types.ts";
import { Transaction } from "../../../services/datastore/storage/engine.ts";
import { LockManager } from "../../../services/datastore/storage/locks.ts";
import { SqlHarness, type TestSession } from "./_sql_harness.ts";
import { failingWal } from "./_failing_wal.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Parse (named), Bind and Execute one statement with text parameters, then Sync. */
function prepared(
  name: string,
  sql: string,
  params: (string | null)[],
  rowsMax = 0,
): FrontendMessage[] {
  return [
    { type: "Parse", statement: name, sql, parameterTypes: [] },
    {
      type: "Bind",
      portal: "",
      statement: name,
      parameterFormats: [],
      parameters: params.map((p) => p === null ? null : encoder.encode(p)),
      resultFormats: [],
    },
    { type: "Execute", portal: "", rowsMax },
    { type: "Sync" },
  ];
}

/** Bind and Execute an already prepared statement, then Sync. */
function execute(name: string, params: (string | null)[]): FrontendMessage[] {
  return prepared(name, "", params).slice(1);
}

/** The rows and tag (or SQLSTATE) of a reply. */
function answer(messages: BackendMessage[]): { rows: (string | null)[][]; tag: string } {
  const rows: (string | null)[][] = [];
  let tag = "";
  for (const m of messages) {
    if (m.type === "DataRow") rows.push(m.values.map((v) => v === null ? null : decoder.decode(v)));
    if (m.type === "CommandComplete") tag = m.tag;
    if (m.type === "ErrorResponse") tag = `error ${m.fields.code}`;
  }
  return { rows, tag };
}

/** Counts the fast path's engine calls while `fn` runs. */
async function countingGetNow(fn: () => Promise<void>): Promise<number> {
  const proto = Transaction.prototype;
  const saved = proto.getNow;
  let calls = 0;
  proto.getNow = function (this: Transaction, ...args: Parameters<Transaction["getNow"]>) {
    calls++;
    return saved.apply(this, args);
  };
  try {
    await fn();
  } finally {
    proto.getNow = saved;
  }
  return calls;
}

async function withTable(fn: (h: SqlHarness, s: TestSession) => Promise<void>): Promise<void> {
  const h = await SqlHarness.open();
  try {
    const s = await h.session();
    await s.query(
      "CREATE TABLE acct (aid int PRIMARY KEY, code text UNIQUE, bal int, note text); " +
        "INSERT INTO acct VALUES (1, 'a', 10, 'one'), (2, 'b', 20, NULL), (3, 'c', 30, 'three')",
    );
    await fn(h, s);
  } finally {
    await h.close();
  }
}

Deno.test("a prepared primary-key SELECT answers through the fast path, as the plan would", async () => {
  await withTable(async (_h, s) => {
    const cases: [string, (string | null)[], (string | null)[][], string][] = [
      ["SELECT bal FROM acct WHERE aid = $1", ["2"], [["20"]], "SELECT 1"],
      ["SELECT * FROM acct WHERE aid = $1", ["2"], [["2", "b", "20", null]], "SELECT 1"],
      ["SELECT bal FROM acct WHERE aid = $1", ["9"], [], "SELECT 0"],
      ["SELECT bal FROM acct WHERE aid = $1", [null], [], "SELECT 0"],
      [
        "SELECT bal + 1, note || '!' FROM acct WHERE aid = $1",
        ["3"],
        [["31", "three!"]],
        "SELECT 1",
      ],
      ["SELECT bal FROM acct WHERE aid = $1 AND bal > $2", ["3", "25"], [["30"]], "SELECT 1"],
      ["SELECT bal FROM acct WHERE aid = $1 AND bal > $2", ["3", "35"], [], "SELECT 0"],
      ["SELECT aid FROM acct WHERE code = $1", ["c"], [["3"]], "SELECT 1"],
      ["SELECT a.bal AS b FROM acct a WHERE $1 = a.aid", ["1"], [["10"]], "SELECT 1"],
    ];
    for (const [i, [sql, params, rows, tag]] of cases.entries()) {
      let reply: BackendMessage[] = [];
      const calls = await countingGetNow(async () => {
        reply = await s.send(...prepared(`p${i}`, sql, params));
      });
      assert.deepEqual(answer(reply), { rows, tag }, sql);
      // A NULL key reads nothing, as the ordinary plan.
      assert.equal(calls, params[0] === null ? 0 : 1, `${sql}: fast path taken`);
      // Executed again, the same answer.
      assert.deepEqual(answer(await s.send(...execute(`p${i}`, params))), { rows, tag }, sql);
    }
  });
});

Deno.test("statements that are not a plain point lookup keep the ordinary plan", async () => {
  await withTable(async (_h, s) => {
    const cases: [string, (string | null)[], (string | null)[][]][] = [
      ["SELECT bal FROM acct WHERE aid = $1 LIMIT 1", ["1"], [["10"]]],
      ["SELECT count(*) FROM acct WHERE aid = $1", ["1"], [["1"]]],
      ["SELECT DISTINCT bal FROM acct WHERE aid = $1", ["1"], [["10"]]],
      ["SELECT bal FROM acct WHERE aid = $1 ORDER BY note", ["1"], [["10"]]],
      ["SELECT bal FROM acct WHERE aid = $1 AND bal IN (SELECT bal FROM acct)", ["1"], [["10"]]],
      ["SELECT (SELECT max(bal) FROM acct) FROM acct WHERE aid = $1", ["1"], [["30"]]],
      ["SELECT bal FROM acct WHERE aid >= $1", ["3"], [["30"]]],
      ["SELECT bal FROM acct WHERE bal = $1", ["30"], [["30"]]],
      ["WITH c AS (SELECT 1) SELECT bal FROM acct WHERE aid = $1", ["1"], [["10"]]],
    ];
    for (const [i, [sql, params, rows]] of cases.entries()) {
      let reply: BackendMessage[] = [];
      const calls = await countingGetNow(async () => {
        reply = await s.send(...prepared(`q${i}`, sql, params));
      });
      assert.deepEqual(answer(reply).rows, rows, sql);
      assert.equal(calls, 0, `${sql}: no fast path`);
    }
    // A row limit on Execute suspends the portal as before (the ordinary path).
    const limited = await s.send(...prepared("r", "SELECT bal FROM acct WHERE aid = $1", ["1"], 1));
    assert.ok(limited.some((m) => m.type === "PortalSuspended"));
  });
});

Deno.test("the fast path waits for a writer's lock: no row of an uncommitted change", async () => {
  // Regression guard: read without the table lock, the lookup would see the
  // writer's change in place before it rolls back (a dirty read).
  await withTable(async (h, reader) => {
    const writer = await h.session();
    await reader.send(...prepared("get", "SELECT bal FROM acct WHERE aid = $1", ["1"]));
    const other = await h.session();
    await other.query("CREATE TABLE u (id int PRIMARY KEY)");
    await writer.query("BEGIN; UPDATE acct SET bal = 99 WHERE aid = 1");
    // Another commit makes the log durable past the writer's change, so only
    // the lock stands between the reader and that change.
    await other.query("INSERT INTO u VALUES (1)");
    const read = reader.send(...execute("get", ["1"]));
    for (let i = 0; i < 1000 && h.engine.stats().lockWaits === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    assert.equal(h.engine.stats().lockWaits, 1, "the reader waits for the writer's lock");
    await writer.query("ROLLBACK");
    assert.deepEqual(answer(await read), { rows: [["10"]], tag: "SELECT 1" });
    // Committed, the change is read (through the fast path again).
    await writer.query("UPDATE acct SET bal = 11 WHERE aid = 1");
    assert.deepEqual(answer(await reader.send(...execute("get", ["1"]))).rows, [["11"]]);
  });
});

Deno.test("the fast path never answers with a row whose commit's fsync failed", async () => {
  // The writer's commit is appended and its locks released before its fsync,
  // which fails: a reader that finds the lock free must still not answer
  // with the row (the fast path falls back to the plan, which waits).
  const wal = failingWal();
  using _expected = wal.expectFailures();
  const h = await SqlHarness.open(undefined, wal.files);
  try {
    const writer = await h.session();
    const reader = await h.session();
    await writer.query("CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 1)");
    await reader.send(...prepared("get", "SELECT v FROM t WHERE id = $1", ["1"]));
    await writer.query("BEGIN; UPDATE t SET v = 2 WHERE id = 1");
    wal.fail();
    const commits = h.engine.stats().commits;
    const committed = writer.query("COMMIT");
    for (let i = 0; i < 1000 && h.engine.stats().commits === commits; i++) await Promise.resolve();
    assert.equal(h.engine.stats().commits, commits + 1, "the writer's commit is appended");
    const [commit, read] = await Promise.allSettled([
      committed,
      reader.send(...execute("get", ["1"])),
    ]);
    assert.equal(commit.status, "rejected");
    assert.equal(read.status, "fulfilled");
    assert.notDeepEqual(answer(read.value).rows, [["2"]], "the reader answered with the row");
  } finally {
    await h.close();
  }
});

/** Counts lock requests (granted at once or not) while `fn` runs. */
async function countingLocks(fn: () => Promise<void>): Promise<number> {
  const proto = LockManager.prototype;
  const savedTry = proto.tryAcquire;
  const savedAcquire = proto.acquire;
  let calls = 0;
  proto.tryAcquire = function (this: LockManager, ...args: Parameters<LockManager["tryAcquire"]>) {
    calls++;
    return savedTry.apply(this, args);
  };
  proto.acquire = function (this: LockManager, ...args: Parameters<LockManager["acquire"]>) {
    calls++;
    return savedAcquire.apply(this, args);
  };
  try {
    await fn();
  } finally {
    proto.tryAcquire = savedTry;
    proto.acquire = savedAcquire;
  }
  return calls;
}

Deno.test("a point lookup alone in its transaction takes no locks; one with company does", async () => {
  await withTable(async (h, s) => {
    await s.send(...prepared("get", "SELECT bal FROM acct WHERE aid = $1", ["1"]));
    // Execute with its Sync behind it, nothing else in the transaction: the
    // locks would be taken and released in one synchronous step, so none are.
    let reply: BackendMessage[] = [];
    const alone = await countingLocks(async () => {
      reply = await s.send(...execute("get", ["2"]));
    });
    assert.equal(alone, 0);
    assert.deepEqual(answer(reply), { rows: [["20"]], tag: "SELECT 1" });
    // Two lookups before one Sync share a transaction: the first holds its
    // locks while the second runs, as two-phase locking requires.
    const [bind, exec] = execute("get", ["1"]);
    const twice = await countingLocks(async () => {
      reply = await s.send(bind, exec, ...execute("get", ["3"]));
    });
    // The table's intention lock once, then each row's key.
    assert.equal(twice, 3, "the lock requests of two lookups in one transaction");
    assert.deepEqual(answer(reply).rows, [["10"], ["30"]]);
    // In a block, the lookup keeps its locks until COMMIT.
    await s.query("BEGIN");
    assert.ok(await countingLocks(async () => void await s.send(...execute("get", ["1"]))) >= 2);
    await s.query("COMMIT");
    // A writer holding the table: the lookup takes the ordinary path (and waits).
    const writer = await h.session();
    await writer.query("BEGIN; UPDATE acct SET bal = 21 WHERE aid = 2");
    const read = s.send(...execute("get", ["2"]));
    for (let i = 0; i < 1000 && h.engine.stats().lockWaits === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    assert.equal(h.engine.stats().lockWaits, 1, "the reader waits for the writer's lock");
    await writer.query("COMMIT");
    assert.deepEqual(answer(await read).rows, [["21"]]);
  });
});
