// What a reader waits for before its rows go out (Transaction.readsDurable):
// every commit that wrote what it locked (the lock manager remembers each
// resource's last writer until that commit is durable), and not its own
// changes. Before, a SELECT
// after its own transaction's UPDATE (pgbench's TPC-B-like script) waited
// for an fsync of that uncommitted change: two fsyncs per transaction.

import assert from "node:assert/strict";
import { SqlHarness } from "./_sql_harness.ts";
import { failingWal } from "./_failing_wal.ts";

Deno.test("a SELECT after its own transaction's UPDATE waits for no fsync", async () => {
  const h = await SqlHarness.open();
  try {
    const s = await h.session();
    await s.query("CREATE TABLE a (id int PRIMARY KEY, v int); INSERT INTO a VALUES (1, 0)");
    const before = h.engine.stats().fsyncs;
    for (let i = 0; i < 5; i++) {
      const results = await s.query(
        "BEGIN; UPDATE a SET v = v + 1 WHERE id = 1; SELECT v FROM a WHERE id = 1; END",
      );
      assert.deepEqual(results[2].rows, [[String(i + 1)]]);
    }
    assert.equal(h.engine.stats().fsyncs - before, 5, "one fsync per transaction, its commit's");
  } finally {
    await h.close();
  }
});

Deno.test("a reader granted a lock when a writer commits waits for that commit's fsync", async () => {
  // The writer's commit is logged and its locks released, then its fsync
  // fails: the reader, which was waiting for the table lock, read the
  // writer's row, so it must fail too rather than answer with it.
  const wal = failingWal();
  using _expected = wal.expectFailures();
  const h = await SqlHarness.open(undefined, wal.files);
  try {
    const writer = await h.session();
    const reader = await h.session();
    const other = await h.session();
    await writer.query("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)");
    await other.query("CREATE TABLE u (id int PRIMARY KEY)");
    await writer.query("BEGIN; INSERT INTO t VALUES (2)");
    // Another commit makes the log durable past the writer's insert, so only
    // its commit record, appended when it releases the lock, is not.
    await other.query("INSERT INTO u VALUES (1)");
    await reader.query("BEGIN");
    const read = reader.query("SELECT count(*) FROM t"); // waits for the writer's lock
    for (let i = 0; i < 1000 && h.engine.stats().lockWaits === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    assert.equal(h.engine.stats().lockWaits, 1, "the reader waits for the table lock");
    wal.fail();
    const [committed, counted] = await Promise.allSettled([writer.query("COMMIT"), read]);
    assert.equal(committed.status, "rejected");
    assert.equal(counted.status, "rejected", `the reader saw ${JSON.stringify(counted)}`);
  } finally {
    await h.close();
  }
});

Deno.test("a reader of a row waits for the fsync of the commit that wrote that row", async () => {
  // Row locks: the reader queues for the key the writer updated, not the
  // table. Granted when the writer's commit is logged, it must still not
  // answer with the row if that commit's fsync fails.
  const wal = failingWal();
  using _expected = wal.expectFailures();
  const h = await SqlHarness.open(undefined, wal.files);
  try {
    const writer = await h.session();
    const reader = await h.session();
    await writer.query(
      "CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 0), (2, 0)",
    );
    await writer.query("BEGIN; UPDATE t SET v = 1 WHERE id = 1");
    await reader.query("BEGIN");
    assert.deepEqual(
      await reader.rows("SELECT v FROM t WHERE id = 2"),
      [["0"]],
      "another row: no wait",
    );
    const read = reader.query("SELECT v FROM t WHERE id = 1"); // waits for the writer's row lock
    for (let i = 0; i < 1000 && h.engine.stats().lockWaits === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    assert.equal(h.engine.stats().lockWaits, 1, "the reader waits for the row's lock");
    wal.fail();
    const [committed, got] = await Promise.allSettled([writer.query("COMMIT"), read]);
    assert.equal(committed.status, "rejected");
    assert.equal(got.status, "rejected", `the reader saw ${JSON.stringify(got)}`);
  } finally {
    await h.close();
  }
});
