// A prepared single-row INSERT runs without a promise (executor.ts
// `insertNow`, session.ts `#insertNow`): Bind, Describe and Execute answer
// synchronously and only the Sync waits, for the commit's fsync. Whatever
// the general path would do differently must not show: the same rows,
// counters, defaults and errors, and a row lock another transaction holds
// is waited for, then decides as it would. The general path is reached by
// a twin table with a CHECK constraint (the fast path leaves CHECK and
// foreign keys to it).

import assert from "node:assert/strict";
import { handleEach, SqlHarness, type TestSession } from "./_sql_harness.ts";
import type { FrontendMessage } from "../../../lib/pg/types.ts";

const encoder = new TextEncoder();
/** Errors with their message and detail, to compare the two paths' texts. */
const TEXT = { errorText: true };

/** libpq's PQsendQueryPrepared: Bind, Describe portal, Execute, Sync (null: a NULL parameter). */
function executePrepared(statement: string, params: (string | null)[]): FrontendMessage[] {
  return [
    {
      type: "Bind",
      portal: "",
      statement,
      parameterFormats: [],
      parameters: params.map((p) => p === null ? null : encoder.encode(p)),
      resultFormats: [],
    },
    { type: "Describe", kind: "P", name: "" },
    { type: "Execute", portal: "", rowsMax: 0 },
    { type: "Sync" },
  ];
}

async function withHarness(fn: (h: SqlHarness, s: TestSession) => Promise<void>): Promise<void> {
  const h = await SqlHarness.open();
  try {
    await fn(h, await h.session());
  } finally {
    await h.close();
  }
}

function parse(statement: string, sql: string): FrontendMessage[] {
  return [{ type: "Parse", statement, sql, parameterTypes: [] }, { type: "Sync" }];
}

Deno.test("a prepared autocommit INSERT answers Bind, Describe and Execute without a promise; Sync waits for the fsync", async () => {
  await withHarness(async (h, s) => {
    await s.query(
      "CREATE TABLE hist (tid int, aid int NOT NULL, mtime timestamp, note text DEFAULT 'n/a')",
    );
    await s.send(
      ...parse("ins", "INSERT INTO hist (tid, aid, mtime) VALUES ($1, $2, CURRENT_TIMESTAMP)"),
    );
    // The first insert starts the hidden row number's counter: the general path.
    const first = await handleEach(s, executePrepared("ins", ["1", "10"]), TEXT);
    assert.deepEqual(first.replies, ["BindComplete", "NoData", "C INSERT 0 1", "Z I"]);
    const fsyncs = h.engine.stats().fsyncs;
    for (const aid of ["11", "12"]) {
      const { sync, replies } = await handleEach(s, executePrepared("ins", ["2", aid]), TEXT);
      assert.deepEqual(sync, [true, true, true, false]);
      assert.deepEqual(replies, ["BindComplete", "NoData", "C INSERT 0 1", "Z I"]);
    }
    assert.equal(h.engine.stats().fsyncs, fsyncs + 2, "each commit acknowledged after its fsync");
    assert.deepEqual(
      await s.rows("SELECT tid, aid, note, mtime IS NOT NULL FROM hist ORDER BY aid"),
      [["1", "10", "n/a", "t"], ["2", "11", "n/a", "t"], ["2", "12", "n/a", "t"]],
    );
    // The NOT NULL error, at once, and the rest skipped to Sync.
    const failed = await handleEach(s, executePrepared("ins", ["3", null]), TEXT);
    assert.deepEqual(failed.sync, [true, true, true, true]);
    assert.deepEqual(failed.replies, [
      "BindComplete",
      "NoData",
      'E 23502 null value in column "aid" of relation "hist" violates not-null constraint ' +
      "(Failing row contains (3, null, " + failed.replies[2].split(", ")[2] + ", n/a).)",
      "Z I",
    ]);
    // Inside a block: the insert stays in the block, no fsync until COMMIT.
    await s.query("BEGIN");
    const inBlock = await handleEach(s, executePrepared("ins", ["4", "13"]), TEXT);
    assert.deepEqual(inBlock.sync, [true, true, true, true]);
    assert.deepEqual(inBlock.replies, ["BindComplete", "NoData", "C INSERT 0 1", "Z T"]);
    await s.query("ROLLBACK");
    assert.deepEqual(await s.rows("SELECT count(*) FROM hist"), [["3"]]);
  });
});

Deno.test("the synchronous INSERT gives the general path's rows, counters, defaults and errors", async () => {
  await withHarness(async (_h, s) => {
    // `fast` and `slow` differ only in a CHECK that holds for every row,
    // which sends `slow`'s inserts down the general path.
    for (const [name, check] of [["fast", ""], ["slow", ", CHECK (1 = 1)"]]) {
      await s.query(
        `CREATE TABLE ${name} (id serial PRIMARY KEY, code int UNIQUE, small smallint, ` +
          `tag varchar(3) NOT NULL DEFAULT 'abc', born date DEFAULT '2024-02-29'${check})`,
      );
      await s.send(
        ...parse(`${name}_auto`, `INSERT INTO ${name} (code, small, tag) VALUES ($1, $2, $3)`),
        ...parse(`${name}_id`, `INSERT INTO ${name} (id, code) VALUES ($1, $2)`),
        ...parse(`${name}_default`, `INSERT INTO ${name} (code, tag) VALUES ($1, DEFAULT)`),
      );
    }
    const cases: [string, (string | null)[]][] = [
      ["auto", ["1", "5", "xyz"]],
      ["auto", ["2", "6", "xy"]],
      ["default", ["3"]],
      ["auto", ["1", "7", "abc"]], // 23505 on code, the unique key
      ["id", ["1", "9"]], // 23505 on the primary key
      ["id", ["50", "50"]],
      ["auto", ["4", "70000", "abc"]], // 22003 smallint out of range
      ["auto", ["6x", "1", "abc"]], // 22P02
      ["auto", ["9", "2", "abcd"]], // 22001 too long for varchar(3)
      ["auto", ["10", "3", "ab  "]], // trailing spaces past 3 are dropped
      ["auto", ["7", "1", null]], // 23502
      ["auto", [null, null, "z"]],
      ["auto", [null, null, "zz"]], // NULLs never collide in a unique key
      ["default", ["8"]],
    ];
    for (const [statement, params] of cases) {
      const fast = await handleEach(s, executePrepared(`fast_${statement}`, params), TEXT);
      const slow = await handleEach(s, executePrepared(`slow_${statement}`, params), TEXT);
      const label = `${statement} ${JSON.stringify(params)}`;
      assert.deepEqual(
        fast.replies,
        slow.replies.map((r) => r.replaceAll('"slow', '"fast').replaceAll("slow_", "fast_")),
        label,
      );
      assert.equal(slow.sync[2], false, `${label}: the general path for slow`);
      // The first insert starts the counters (the general path); a key the
      // engine refuses goes on in the general path, which names the key.
      if (params !== cases[0][1] && !fast.replies[2].startsWith("E 23505")) {
        assert.equal(fast.sync[2], true, `${label}: the synchronous path for fast`);
      }
    }
    assert.deepEqual(
      await s.rows("SELECT * FROM fast ORDER BY id"),
      await s.rows("SELECT * FROM slow ORDER BY id"),
    );
    assert.deepEqual(await s.rows("SELECT count(*) FROM fast"), [["8"]]);
  });
});

Deno.test("the synchronous INSERT waits for a row lock another transaction holds, then decides as the general path", async () => {
  await withHarness(async (h, s) => {
    await s.query("CREATE TABLE acct (aid int PRIMARY KEY, bal int)");
    await s.send(...parse("ins", "INSERT INTO acct VALUES ($1, $2)"));
    const other = await h.session();

    for (
      const [end, expected] of [
        [
          "COMMIT",
          'E 23505 duplicate key value violates unique constraint "acct_pkey" ' +
          "(Key (aid)=(1) already exists.)",
        ],
        ["ROLLBACK", "C INSERT 0 1"],
      ]
    ) {
      const aid = end === "COMMIT" ? "1" : "2";
      await other.query(`BEGIN; INSERT INTO acct VALUES (${aid}, 0)`);
      const waiting = handleEach(s, executePrepared("ins", [aid, "5"]), TEXT);
      for (let i = 0; i < 1000 && h.engine.stats().lockWaits === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      assert.equal(h.engine.stats().lockWaits, 1, "the insert waits for the other's row lock");
      await other.query(end);
      const { sync, replies } = await waiting;
      assert.deepEqual(sync, [true, true, false, end === "COMMIT"], end);
      assert.deepEqual(replies, ["BindComplete", "NoData", expected, "Z I"], end);
    }
    // A whole-table lock (a DELETE by scan) is waited for too.
    await other.query("BEGIN; DELETE FROM acct WHERE bal = 99");
    const waiting = handleEach(s, executePrepared("ins", ["3", "3"]), TEXT);
    for (let i = 0; i < 1000 && h.engine.stats().lockWaits === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    assert.equal(h.engine.stats().lockWaits, 1, "the insert waits for the table lock");
    await other.query("COMMIT");
    assert.deepEqual((await waiting).replies, ["BindComplete", "NoData", "C INSERT 0 1", "Z I"]);
    assert.deepEqual(await s.rows("SELECT aid, bal FROM acct ORDER BY aid"), [
      ["1", "0"],
      ["2", "5"],
      ["3", "3"],
    ]);
    // lock_timeout ends a wait with 55P03, as it ends the general path's.
    await s.query("SET lock_timeout = '50ms'");
    await other.query("BEGIN; INSERT INTO acct VALUES (4, 0)");
    const timedOut = await handleEach(s, executePrepared("ins", ["4", "4"]), TEXT);
    assert.deepEqual(timedOut.replies, [
      "BindComplete",
      "NoData",
      "E 55P03 canceling statement due to lock timeout",
      "Z I",
    ]);
    await other.query("ROLLBACK");
    assert.deepEqual(await s.rows("SELECT count(*) FROM acct"), [["3"]]);
  });
});

Deno.test("into a table without a primary key, the synchronous insert and a reader of the table wait for each other", async () => {
  await withHarness(async (h, s) => {
    await s.query("CREATE TABLE hist (tid int, aid int)");
    await s.send(...parse("ins", "INSERT INTO hist VALUES ($1, $2)"));
    await handleEach(s, executePrepared("ins", ["1", "1"]), TEXT); // starts the row number's counter
    const reader = await h.session();
    const waitForLock = async () => {
      for (let i = 0; i < 1000 && h.engine.stats().lockWaits === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      assert.equal(h.engine.stats().lockWaits, 1);
    };

    // An uncommitted insert (its row's key not locked, only the table's
    // intention lock held): a reader waits, then sees the row.
    await s.query("BEGIN");
    const inBlock = await handleEach(s, executePrepared("ins", ["2", "2"]), TEXT);
    assert.deepEqual(inBlock.sync, [true, true, true, true]);
    const read = reader.rows("SELECT count(*) FROM hist");
    await waitForLock();
    await s.query("COMMIT");
    assert.deepEqual(await read, [["2"]]);

    // A reader's open block: the insert waits for it.
    await reader.query("BEGIN; SELECT count(*) FROM hist");
    const insert = handleEach(s, executePrepared("ins", ["3", "3"]), TEXT);
    await waitForLock();
    await reader.query("COMMIT");
    const { sync, replies } = await insert;
    assert.deepEqual(sync, [true, true, false, false]);
    assert.deepEqual(replies, ["BindComplete", "NoData", "C INSERT 0 1", "Z I"]);
    assert.deepEqual(await reader.rows("SELECT tid FROM hist ORDER BY tid"), [["1"], ["2"], ["3"]]);
  });
});
