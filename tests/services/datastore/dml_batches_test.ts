// UPDATE and DELETE of any number of rows in bounded memory (issue 14;
// sql/dml_batches.ts, sql/row_spool.ts): rows change as the scan finds them
// when no change can move a row ahead of the scan, and the rows a statement
// must set aside (moved keys, rows found before changing any, RETURNING,
// foreign key changes) go to a temporary file past a bound. Each target
// row still changes exactly once, with the same RETURNING rows and errors.

import assert from "node:assert/strict";
import { join } from "node:path";
import { type FileHandle, type FileLayer, realFiles } from "../../../lib/fs/file_layer.ts";
import { SqlHarness, type TestSession } from "./_sql_harness.ts";

/** The real disk, noting every temporary spool file opened. */
function watchedFiles(): { files: FileLayer; spools: string[] } {
  const spools: string[] = [];
  const files: FileLayer = {
    ...realFiles,
    open(path, options): FileHandle {
      if (path.includes("/tmp/spool-")) spools.push(path);
      return realFiles.open(path, options);
    },
  };
  return { files, spools };
}

async function withSession(
  body: (s: TestSession, h: SqlHarness, spools: string[]) => Promise<void>,
): Promise<void> {
  const { files, spools } = watchedFiles();
  const h = await SqlHarness.open(undefined, files);
  try {
    await body(await h.session(), h, spools);
  } finally {
    await h.close();
  }
}

/** Rows enough for the set-aside rows to pass the spool's 1 MiB in memory. */
const ROWS = 40_000;
const PAD = "x".repeat(40);
/** Foreign key changes: about 130 encoded bytes each, so 12 000 pass 1 MiB. */
const FK_ROWS = 12_000;

async function fill(s: TestSession, table = "t"): Promise<void> {
  await s.query(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, k INTEGER, pad TEXT)`);
  await s.query(
    `INSERT INTO ${table} SELECT g, g, '${PAD}' FROM generate_series(1, ${ROWS}) g`,
  );
}

function spoolsLeft(h: SqlHarness): string[] {
  return [...Deno.readDirSync(join(h.dir, "tmp"))].map((e) => e.name);
}

Deno.test("an UPDATE that moves every key sets the moved rows aside in a temporary file, each changed once", async () => {
  await withSession(async (s, h, spools) => {
    await fill(s);
    assert.deepEqual(
      (await s.query(`UPDATE t SET id = id + ${ROWS}`)).at(-1)!.tag,
      `UPDATE ${ROWS}`,
    );
    assert.ok(spools.length > 0, "the moved rows went through a spool file");
    assert.deepEqual(spoolsLeft(h), [], "and it is gone");
    assert.deepEqual(
      await s.rows("SELECT count(*), min(id), max(id), sum(id - k) FROM t"),
      [[String(ROWS), String(ROWS + 1), String(2 * ROWS), String(ROWS * ROWS)]],
    );
    // Onto each other's old values: the statement-level check still lets it through.
    await s.query("UPDATE t SET id = id - 1");
    assert.deepEqual(await s.rows("SELECT min(id), max(id) FROM t"), [[
      String(ROWS),
      String(2 * ROWS - 1),
    ]]);
  });
});

Deno.test("a large UPDATE ... RETURNING and DELETE ... RETURNING give every row once, through a spool", async () => {
  await withSession(async (s, h, spools) => {
    await fill(s);
    const updated = await s.query("UPDATE t SET k = k * 2 WHERE id > 10 RETURNING id, k, pad");
    assert.equal(updated[0].tag, `UPDATE ${ROWS - 10}`);
    assert.equal(updated[0].rows.length, ROWS - 10);
    assert.ok(updated[0].rows.every(([id, k]) => Number(k) === 2 * Number(id)));
    assert.equal(new Set(updated[0].rows.map(([id]) => id)).size, ROWS - 10);
    assert.ok(spools.length > 0);
    const deleted = await s.query("DELETE FROM t WHERE k % 4 = 0 RETURNING id");
    // k = 2 * id past id 10: every even id there, and 4 and 8 below it.
    const gone = (ROWS - 10) / 2 + 2;
    assert.equal(deleted[0].tag, `DELETE ${gone}`);
    assert.equal(new Set(deleted[0].rows.map(([id]) => id)).size, gone);
    assert.deepEqual(await s.rows("SELECT count(*) FROM t WHERE k % 4 = 0"), [["0"]]);
    assert.deepEqual(await s.rows("SELECT count(*) FROM t"), [[String(ROWS - gone)]]);
    assert.deepEqual(spoolsLeft(h), []);
  });
});

Deno.test("an UPDATE scanning a secondary index it changes finds its rows first: none is met twice", async () => {
  await withSession(async (s, h, spools) => {
    await fill(s);
    await s.query("CREATE INDEX t_k ON t (k)");
    // The range path on k: each row moves ahead of the scan in k's order.
    assert.match(
      (await s.rows("EXPLAIN UPDATE t SET k = k + 1000000 WHERE k > 5")).flat().join("\n"),
      /Index Scan using t_k on t/,
    );
    assert.equal(
      (await s.query("UPDATE t SET k = k + 1000000 WHERE k > 5")).at(-1)!.tag,
      `UPDATE ${ROWS - 5}`,
    );
    assert.ok(spools.length > 0, "the rows found went through a spool file");
    assert.deepEqual(
      await s.rows("SELECT count(*) FROM t WHERE k <> id + 1000000 AND id > 5"),
      [["0"]],
    );
    assert.deepEqual(await s.rows("SELECT count(*) FROM t WHERE k = id"), [["5"]]);
    assert.deepEqual(spoolsLeft(h), []);
  });
});

Deno.test("a correlated subquery in WHERE sees the table as it was before the statement", async () => {
  await withSession(async (s) => {
    await s.query("CREATE TABLE g (id INTEGER PRIMARY KEY, grp INTEGER, v INTEGER)");
    await s.query("INSERT INTO g SELECT n, n % 10, n FROM generate_series(1, 1000) n");
    // Changing rows as the scan found them would make each group's next
    // largest v the largest, and delete the whole group.
    assert.equal(
      (await s.query(
        "DELETE FROM g WHERE v = (SELECT max(v) FROM g AS h WHERE h.grp = g.grp)",
      )).at(-1)!.tag,
      "DELETE 10",
    );
    assert.deepEqual(await s.rows("SELECT count(*) FROM g"), [["990"]]);
    await s.query(
      "UPDATE g SET v = v + 1 WHERE v = (SELECT max(v) FROM g AS h WHERE h.grp = g.grp)",
    );
    assert.deepEqual(await s.rows("SELECT count(*) FROM g WHERE v <> id"), [["10"]]);
  });
});

Deno.test("UPDATE ... FROM and DELETE ... USING change each target row once, however many rows it joins", async () => {
  await withSession(async (s, h) => {
    await fill(s);
    await s.query("CREATE TABLE j (k INTEGER)");
    // Three joined rows for every target row.
    await s.query(`INSERT INTO j SELECT g % ${ROWS} + 1 FROM generate_series(1, ${3 * ROWS}) g`);
    assert.equal(
      (await s.query(
        `UPDATE t SET id = t.id + ${ROWS}, k = t.k + 1 FROM j WHERE j.k = t.k RETURNING t.id`,
      )).at(-1)!.tag,
      `UPDATE ${ROWS}`,
    );
    assert.deepEqual(
      await s.rows("SELECT count(*), min(id), sum(k - id) FROM t"),
      [[String(ROWS), String(ROWS + 1), String(ROWS * (1 - ROWS))]],
    );
    assert.equal(
      (await s.query("DELETE FROM t USING j WHERE j.k = t.k - 1 AND t.id % 2 = 0")).at(-1)!.tag,
      `DELETE ${ROWS / 2}`,
    );
    assert.deepEqual(await s.rows("SELECT count(*) FROM t WHERE id % 2 = 0"), [["0"]]);
    assert.deepEqual(spoolsLeft(h), []);
  });
});

Deno.test("a unique violation in a large UPDATE is still 23505 and changes nothing", async () => {
  await withSession(async (s, h) => {
    await fill(s);
    await s.query("CREATE UNIQUE INDEX t_k_key ON t (k)");
    // k is checked row by row (in place, as PostgreSQL does): k = 1 meets k = 2.
    assert.equal(await s.errorCode("UPDATE t SET k = k + 1"), "23505");
    // A key moved onto a value nobody leaves: found when the moved rows go back in.
    await s.query(`INSERT INTO t VALUES (${3 * ROWS}, -1, 'y')`);
    assert.equal(
      await s.errorCode(`UPDATE t SET id = id + ${2 * ROWS} WHERE id <= ${ROWS}`),
      "23505",
    );
    assert.deepEqual(
      await s.rows("SELECT count(*), sum(id), sum(k) FROM t"),
      [[
        String(ROWS + 1),
        String(ROWS * (ROWS + 1) / 2 + 3 * ROWS),
        String(ROWS * (ROWS + 1) / 2 - 1),
      ]],
    );
    assert.deepEqual(spoolsLeft(h), []);
  });
});

Deno.test("foreign key work of a large UPDATE and DELETE waits in a spool: cascades and checks hold", async () => {
  await withSession(async (s, h) => {
    await s.query("CREATE TABLE p (id INTEGER PRIMARY KEY, pad TEXT)");
    await s.query(
      "CREATE TABLE c (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES p ON UPDATE CASCADE ON DELETE CASCADE)",
    );
    await s.query("CREATE INDEX c_pid ON c (pid)");
    const n = FK_ROWS;
    await s.query(`INSERT INTO p SELECT g, '${PAD}' FROM generate_series(1, ${n}) g`);
    await s.query(`INSERT INTO c SELECT g, g FROM generate_series(1, ${n}) g`);
    assert.equal((await s.query(`UPDATE p SET id = id + ${n}`)).at(-1)!.tag, `UPDATE ${n}`);
    assert.deepEqual(await s.rows(`SELECT count(*), min(pid) FROM c WHERE pid = id + ${n}`), [[
      String(n),
      String(n + 1),
    ]]);
    assert.equal(await s.errorCode(`UPDATE c SET pid = pid + ${n}`), "23503");
    assert.equal((await s.query(`DELETE FROM p WHERE id % 2 = 0`)).at(-1)!.tag, `DELETE ${n / 2}`);
    assert.deepEqual(await s.rows("SELECT count(*) FROM c"), [[String(n / 2)]]);
    assert.deepEqual(spoolsLeft(h), []);
  });
});

Deno.test("INSERT ... SELECT ... RETURNING of many rows gives each once, through a spool", async () => {
  await withSession(async (s, h, spools) => {
    await s.query("CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT)");
    const [inserted] = await s.query(
      `INSERT INTO t SELECT g, '${PAD}' FROM generate_series(1, ${ROWS}) g RETURNING id, pad`,
    );
    assert.equal(inserted.tag, `INSERT 0 ${ROWS}`);
    assert.equal(new Set(inserted.rows.map(([id]) => id)).size, ROWS);
    assert.ok(spools.length > 0);
    assert.deepEqual(spoolsLeft(h), []);
  });
});

Deno.test("ON CONFLICT DO UPDATE counts the rows it remembers against the statement's bound (54000)", async () => {
  const h = await SqlHarness.open();
  try {
    const s = await h.session({ rowsHeldMax: 100 });
    await s.query("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)");
    const upsert = (n: number) =>
      `INSERT INTO t SELECT g, 1 FROM generate_series(1, ${n}) g ` +
      "ON CONFLICT (id) DO UPDATE SET v = t.v + 1";
    // It remembers each row it inserted or updated, to refuse a second
    // change of one (21000): past the bound that is 54000, not memory.
    assert.equal(await s.errorCode(upsert(500)), "54000");
    // Within the bound, again and again: the count goes back to zero.
    for (let i = 0; i < 3; i++) {
      assert.equal((await s.query(upsert(80))).at(-1)!.tag, "INSERT 0 80");
    }
    assert.deepEqual(await s.rows("SELECT count(*), sum(v) FROM t"), [["80", "240"]]);
    // Without DO UPDATE nothing is remembered: any number of rows.
    assert.equal(
      (await s.query(
        "INSERT INTO t SELECT g, 0 FROM generate_series(1, 500) g ON CONFLICT DO NOTHING",
      )).at(-1)!.tag,
      "INSERT 0 420",
    );
  } finally {
    await h.close();
  }
});
