// Point lookups: an equality on every column of a unique index is one probe
// of that index and one row read (Transaction.getByUnique), and ALTER TABLE
// ADD PRIMARY KEY rekeys a table by its new key (Transaction.createTable
// with a copy), so it gets the fast paths of a table declared with its key.
// The engine's part is checked through its API, recovery included; the
// SQL part by watching which engine calls a statement makes.

import assert from "node:assert/strict";
import {
  ConstraintError,
  Engine,
  SchemaError,
  type TableSpec,
  Transaction,
} from "../../../services/datastore/storage/engine.ts";
import { SqlHarness } from "./_sql_harness.ts";

const USERS: TableSpec = {
  name: "users",
  columns: [
    { name: "id", type: "int64" },
    { name: "email", type: "text" },
    { name: "team", type: "int64" },
  ],
  primaryKey: ["id"],
  indexes: [
    { name: "users_email", columns: ["email"], unique: true },
    { name: "users_team", columns: ["team"] },
  ],
};

async function withEngine(fn: (engine: Engine, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "underhood-point-" });
  try {
    await fn(await Engine.open({ dir }), dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Counts calls of the engine's read methods while `fn` runs. */
async function countingReads(fn: () => Promise<void>): Promise<Record<string, number>> {
  const counts: Record<string, number> = { get: 0, getByUnique: 0, scanBatches: 0 };
  const proto = Transaction.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const saved: Record<string, (...a: unknown[]) => unknown> = {};
  for (const name of Object.keys(counts)) {
    saved[name] = proto[name];
    proto[name] = function (this: unknown, ...args: unknown[]) {
      counts[name]++;
      return saved[name].apply(this, args);
    };
  }
  try {
    await fn();
  } finally {
    for (const name of Object.keys(counts)) proto[name] = saved[name];
  }
  return counts;
}

Deno.test("getByUnique() finds a row by a unique index's columns, and nothing for NULL", async () => {
  await withEngine(async (engine) => {
    const tx = engine.begin();
    await tx.createTable(USERS);
    for (let i = 1; i <= 600; i++) {
      // Every tenth email is NULL: a unique index holds many of those.
      await tx.insert("users", [BigInt(i), i % 10 === 0 ? null : `u${i}@x`, BigInt(i % 7)]);
    }
    await tx.commit();
    const read = engine.begin();
    assert.deepEqual(await read.getByUnique("users", "users_email", ["u123@x"]), [
      123n,
      "u123@x",
      4n,
    ]);
    // A key that sorts between two stored ones, and one that is a prefix of stored ones.
    assert.equal(await read.getByUnique("users", "users_email", ["u1234@x"]), undefined);
    assert.equal(await read.getByUnique("users", "users_email", ["u1"]), undefined);
    assert.equal(await read.getByUnique("users", "users_email", [null]), undefined);
    await assert.rejects(read.getByUnique("users", "users_team", [1n]), SchemaError);
    await assert.rejects(read.getByUnique("users", "users_email", ["a", "b"]), SchemaError);
    await read.commit();
    // After a delete and an update, the index answers for the new state.
    const write = engine.begin();
    await write.delete("users", [123n]);
    await write.update("users", [124n], [124n, "moved@x", 1n]);
    assert.equal(await write.getByUnique("users", "users_email", ["u123@x"]), undefined);
    assert.equal(await write.getByUnique("users", "users_email", ["u124@x"]), undefined);
    assert.deepEqual(await write.getByUnique("users", "users_email", ["moved@x"]), [
      124n,
      "moved@x",
      1n,
    ]);
    await write.commit();
    await engine.close();
  });
});

const OLD: TableSpec = {
  name: "old",
  columns: [
    { name: "r", type: "int64" },
    { name: "k", type: "int64" },
    { name: "t", type: "int64" },
    { name: "v", type: "text" },
  ],
  primaryKey: ["r"],
};
const REKEYED: TableSpec = {
  name: "rekeyed",
  columns: [
    { name: "k", type: "int64" },
    { name: "t", type: "int64" },
    { name: "v", type: "text" },
  ],
  primaryKey: ["k"],
  indexes: [{ name: "rekeyed_t", columns: ["t"] }],
};

async function fillOld(engine: Engine, rows: number, duplicateAt = 0): Promise<void> {
  const tx = engine.begin();
  await tx.createTable(OLD);
  for (let i = 1; i <= rows; i++) {
    const k = i === duplicateAt ? 1n : BigInt(rows - i + 1);
    // Some long values, so rows with overflow chains are copied too.
    await tx.insert("old", [
      BigInt(i),
      k,
      BigInt(i % 5),
      i % 97 === 0 ? "x".repeat(3000) : `v${i}`,
    ]);
  }
  await tx.commit();
}

async function keys(engine: Engine, table: string): Promise<bigint[]> {
  const tx = engine.begin();
  const out: bigint[] = [];
  for await (const row of tx.scan(table)) out.push(row[0] as bigint);
  await tx.commit();
  return out;
}

Deno.test("createTable() with a copy rekeys the rows, and recovery redoes the copy", async () => {
  await withEngine(async (engine, dir) => {
    await fillOld(engine, 700);
    engine.checkpoint(); // the copy below is then only in the log
    const tx = engine.begin();
    await tx.createTable(REKEYED, { from: "old", columns: [1, 2, 3] });
    await tx.commit();
    const expected = Array.from({ length: 700 }, (_, i) => BigInt(i + 1));
    assert.deepEqual(await keys(engine, "rekeyed"), expected);
    const read = engine.begin();
    assert.deepEqual(await read.get("rekeyed", [700n - 97n + 1n]), [604n, 2n, "x".repeat(3000)]);
    await read.commit();
    engine.crashForTesting();
    const reopened = await Engine.open({ dir });
    assert.ok(reopened.recovery.recordsReplayed > 0);
    assert.deepEqual(await keys(reopened, "rekeyed"), expected);
    const again = reopened.begin();
    assert.deepEqual(await again.get("rekeyed", [3n]), [3n, 3n, "v698"]);
    let viaIndex = 0;
    for await (const _ of again.indexScan("rekeyed", "rekeyed_t")) viaIndex++;
    assert.equal(viaIndex, 700);
    await again.commit();
    await reopened.close();
  });
});

Deno.test("createTable() with a copy that meets a duplicate key creates nothing", async () => {
  await withEngine(async (engine, dir) => {
    await fillOld(engine, 500, 400);
    const tx = engine.begin();
    await assert.rejects(
      tx.createTable(REKEYED, { from: "old", columns: [1, 2, 3] }),
      ConstraintError,
    );
    await assert.rejects(
      tx.createTable(REKEYED, { from: "old", columns: [1] }),
      SchemaError,
    );
    await tx.commit();
    assert.deepEqual(engine.tables().map((t) => t.name), ["old"]);
    // A rolled-back copy is gone too, after a restart as well.
    const rolled = engine.begin();
    await rolled.createTable(REKEYED, { from: "old", columns: [0, 2, 3] });
    await rolled.rollback();
    assert.deepEqual(engine.tables().map((t) => t.name), ["old"]);
    await engine.close();
    const reopened = await Engine.open({ dir });
    assert.deepEqual(reopened.tables().map((t) => t.name), ["old"]);
    await reopened.close();
  });
});

Deno.test("SQL: equality on a unique index's columns is one getByUnique, not a scan", async () => {
  const h = await SqlHarness.open();
  try {
    const s = await h.session();
    await s.query(
      "CREATE TABLE people (id int PRIMARY KEY, email text UNIQUE, a int, b int, " +
        "UNIQUE (a, b)); " +
        "INSERT INTO people VALUES (1, 'one@x', 1, 1), (2, 'two@x', 1, 2), (3, NULL, 2, 1)",
    );
    const counts = await countingReads(async () => {
      assert.deepEqual(await s.rows("SELECT id FROM people WHERE email = 'two@x'"), [["2"]]);
      assert.deepEqual(await s.rows("SELECT id FROM people WHERE a = 1 AND b = 2"), [["2"]]);
      assert.deepEqual(await s.rows("SELECT id FROM people WHERE email = 'none@x'"), []);
      // The whole WHERE is still checked on the row found.
      assert.deepEqual(await s.rows("SELECT id FROM people WHERE email = 'two@x' AND a = 9"), []);
    });
    assert.deepEqual(counts, { get: 0, getByUnique: 4, scanBatches: 0 });
    // NULL never matches; a prefix of a unique index is still a range scan.
    const more = await countingReads(async () => {
      assert.deepEqual(await s.rows("SELECT id FROM people WHERE email = NULL"), []);
      assert.deepEqual(await s.rows("SELECT id FROM people WHERE a = 1 ORDER BY id"), [
        ["1"],
        ["2"],
      ]);
    });
    assert.equal(more.getByUnique, 0);
    assert.equal(more.scanBatches, 1);
    // UPDATE and DELETE find their row the same way.
    const writes = await countingReads(async () => {
      await s.query("UPDATE people SET b = 5 WHERE email = 'one@x'");
      await s.query("DELETE FROM people WHERE a = 1 AND b = 2");
    });
    assert.equal(writes.getByUnique, 2);
    assert.deepEqual(await s.rows("SELECT id, b FROM people ORDER BY id"), [
      ["1", "5"],
      ["3", "1"],
    ]);
  } finally {
    await h.close();
  }
});

Deno.test("SQL: ALTER TABLE ADD PRIMARY KEY gives the declared key's fast path, across a restart", async () => {
  const h = await SqlHarness.open();
  let dir = h.dir;
  try {
    const s = await h.session();
    // pgbench -i's order: table, rows, then the key.
    await s.query(
      "CREATE TABLE acct (aid int NOT NULL, bid int, abalance int, filler char(20)); " +
        "CREATE UNIQUE INDEX acct_bid_key ON acct (bid)",
    );
    const values = Array.from({ length: 300 }, (_, i) => `(${i + 1}, ${1001 + i}, 0, 'x')`);
    await s.query(`INSERT INTO acct VALUES ${values.join(", ")}`);
    assert.equal(h.db.tables.get("acct")!.rowid, true);
    await s.query("ALTER TABLE acct ADD PRIMARY KEY (aid)");
    assert.equal(h.db.tables.get("acct")!.rowid, false);
    const counts = await countingReads(async () => {
      assert.deepEqual(await s.rows("SELECT abalance FROM acct WHERE aid = 7"), [["0"]]);
      await s.query("UPDATE acct SET abalance = abalance + 5 WHERE aid = 7");
      assert.deepEqual(await s.rows("SELECT aid FROM acct WHERE bid = 1007"), [["7"]]);
    });
    assert.deepEqual(counts, { get: 2, getByUnique: 1, scanBatches: 0 });
    assert.deepEqual(await s.rows("SELECT count(*), sum(abalance) FROM acct"), [["300", "5"]]);
    assert.equal(await s.errorCode("INSERT INTO acct VALUES (7, 1, 0, 'y')"), "23505");
    assert.equal(await s.errorCode("INSERT INTO acct VALUES (301, 1007, 0, 'y')"), "23505");
    assert.equal(await s.errorCode("ALTER TABLE acct ADD PRIMARY KEY (bid)"), "42P16");
    await h.close(false);
    const again = await SqlHarness.open(dir);
    dir = "";
    try {
      const s2 = await again.session();
      assert.deepEqual(await s2.rows("SELECT abalance FROM acct WHERE aid = 7"), [["5"]]);
      assert.deepEqual(await s2.rows("SELECT count(*) FROM acct"), [["300"]]);
      assert.equal(again.db.tables.get("acct")!.rowid, false);
    } finally {
      await again.close();
    }
  } finally {
    if (dir !== "") await h.close();
  }
});

Deno.test("SQL: ADD PRIMARY KEY refuses NULLs (23502) and duplicates (23505) and changes nothing", async () => {
  const h = await SqlHarness.open();
  try {
    const s = await h.session();
    await s.query("CREATE TABLE n (k int, v text); INSERT INTO n VALUES (1, 'a'), (NULL, 'b')");
    assert.equal(await s.errorCode("ALTER TABLE n ADD PRIMARY KEY (k)"), "23502");
    await s.query("CREATE TABLE d (k int, v text); INSERT INTO d VALUES (1, 'a'), (1, 'b')");
    assert.equal(await s.errorCode("ALTER TABLE d ADD PRIMARY KEY (k)"), "23505");
    assert.equal(await s.errorCode("ALTER TABLE d ADD PRIMARY KEY (nope)"), "42703");
    for (const table of ["n", "d"]) {
      assert.equal(h.db.tables.get(table)!.rowid, true);
      assert.equal(h.db.tables.get(table)!.indexes.length, 0);
      assert.deepEqual(await s.rows(`SELECT count(*) FROM ${table}`), [["2"]]);
    }
    // Inside a block that rolls back, the table keeps its row numbers.
    await s.query("BEGIN; DELETE FROM d WHERE v = 'b'; ALTER TABLE d ADD PRIMARY KEY (k)");
    assert.equal(h.db.tables.get("d")!.rowid, false);
    await s.query("ROLLBACK");
    assert.equal(h.db.tables.get("d")!.rowid, true);
    assert.deepEqual(await s.rows("SELECT v FROM d ORDER BY v"), [["a"], ["b"]]);
  } finally {
    await h.close();
  }
});
