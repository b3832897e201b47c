// Row locks through the wire, written once and run against our datastore
// and against PostgreSQL 15 (skipped visibly when it is not installed,
// unless REQUIRE_INTEROP=1): sessions writing different rows of one table
// never wait for each other; a second writer of a row waits, then works on
// the version the first committed (READ COMMITTED); lock_timeout gives
// 55P03; two inserts of one key give 23505 once the first commits; two
// transactions locking two rows in opposite orders get 40P01. SELECT ...
// FOR UPDATE / FOR SHARE (sql/row_locks.ts): a second FOR UPDATE of a row
// waits and then sees the committed version (dropping the row if the WHERE
// no longer holds), NOWAIT gives 55P03, SKIP LOCKED hands distinct rows to
// concurrent workers, FOR SHARE holders share and block writers.
//
// "Waits" is observed, not timed: each server is asked how many lock
// requests are waiting (our admin /metrics, PostgreSQL's pg_locks) until the
// expected one is.

import assert from "node:assert/strict";
import { PgClient, PgServerError } from "../../../lib/pg/client.ts";
import { service } from "../../../services/datastore/mod.ts";
import { startService } from "../../_support/service.ts";
import { interopTest } from "../../_support/interop.ts";
import { POSTGRES, startPostgres } from "./_postgres.ts";

interface Target {
  connect(): Promise<PgClient>;
  /** Resolves once `count` lock requests are waiting (bounded; throws if never). */
  waiting(count: number): Promise<void>;
}

/** How many times `waiting` asks before giving up (each ask a round trip and a 5 ms pause). */
const WAIT_POLLS_MAX = 2000;

async function pollUntil(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < WAIT_POLLS_MAX; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`never saw ${what}`);
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    if (error instanceof PgServerError) return `${error.code} ${error.message}`;
    throw error;
  }
}

async function value(client: PgClient, sql: string): Promise<string | null> {
  const results = await client.query(sql);
  return results.at(-1)!.rows[0]?.[0] ?? null;
}

const SCENARIOS: [string, (target: Target) => Promise<void>][] = [
  ["writers of different rows of one table do not wait for each other", async (target) => {
    await using a = await target.connect();
    await using b = await target.connect();
    await a.query(
      "CREATE TABLE acc (id int PRIMARY KEY, v int); INSERT INTO acc VALUES (1, 1), (2, 2)",
    );
    await a.query("BEGIN; UPDATE acc SET v = v + 1 WHERE id = 1");
    // Were any of these to wait for a's row, lock_timeout would fail it.
    await b.query("SET lock_timeout = '5s'");
    assert.equal(await value(b, "UPDATE acc SET v = v + 10 WHERE id = 2 RETURNING v"), "12");
    assert.equal(await value(b, "SELECT v FROM acc WHERE id = 2"), "12");
    await b.query("INSERT INTO acc VALUES (3, 3)");
    assert.equal(await value(b, "DELETE FROM acc WHERE id = 3 RETURNING v"), "3");
    await b.query("BEGIN; UPDATE acc SET v = v + 10 WHERE id = 2");
    await a.query("UPDATE acc SET v = v + 1 WHERE id = 1");
    await b.query("COMMIT");
    await a.query("COMMIT");
    assert.equal(await value(a, "SELECT string_agg(v::text, ',' ORDER BY id) FROM acc"), "3,22");
    await a.query("DROP TABLE acc");
  }],
  ["a second writer of a row waits, then updates the committed version", async (target) => {
    await using a = await target.connect();
    await using b = await target.connect();
    await using c = await target.connect();
    await a.query(
      "CREATE TABLE acc (id int PRIMARY KEY, v int); INSERT INTO acc VALUES (1, 1), (2, 2)",
    );
    await a.query("BEGIN; UPDATE acc SET v = v + 1 WHERE id = 1");
    await c.query("SET lock_timeout = '100ms'");
    assert.equal(
      await codeOf(c.query("UPDATE acc SET v = 0 WHERE id = 1")),
      "55P03 canceling statement due to lock timeout",
    );
    const second = b.query("UPDATE acc SET v = v * 10 WHERE id = 1 RETURNING v");
    await target.waiting(1);
    await a.query("UPDATE acc SET v = v + 1 WHERE id = 1");
    await a.query("COMMIT");
    assert.equal((await second)[0].rows[0][0], "30", "b multiplied a's committed 3");
    assert.equal(await value(c, "SELECT v FROM acc WHERE id = 1"), "30");
    await a.query("DROP TABLE acc");
  }],
  [
    "two inserts of one key: the second waits, then gets 23505 if the first commits",
    async (target) => {
      await using a = await target.connect();
      await using b = await target.connect();
      await a.query("CREATE TABLE k (id int PRIMARY KEY, v text)");
      await a.query("BEGIN; INSERT INTO k VALUES (1, 'a')");
      const second = codeOf(b.query("INSERT INTO k VALUES (1, 'b')"));
      await target.waiting(1);
      await a.query("COMMIT");
      assert.equal(
        await second,
        '23505 duplicate key value violates unique constraint "k_pkey"',
      );
      await a.query("BEGIN; INSERT INTO k VALUES (2, 'a')");
      const third = codeOf(b.query("INSERT INTO k VALUES (2, 'b')"));
      await target.waiting(1);
      await a.query("ROLLBACK");
      assert.equal(await third, "ok");
      assert.equal(await value(a, "SELECT string_agg(v, ',' ORDER BY id) FROM k"), "a,b");
      await a.query("DROP TABLE k");
    },
  ],
  ["two transactions locking two rows in opposite orders: one gets 40P01", async (target) => {
    await using a = await target.connect();
    await using b = await target.connect();
    await a.query(
      "CREATE TABLE acc (id int PRIMARY KEY, v int); INSERT INTO acc VALUES (1, 1), (2, 2)",
    );
    await a.query("BEGIN; UPDATE acc SET v = 10 WHERE id = 1");
    await b.query("BEGIN; UPDATE acc SET v = 20 WHERE id = 2");
    const aSecond = codeOf(a.query("UPDATE acc SET v = 10 WHERE id = 2"));
    await target.waiting(1);
    const bSecond = codeOf(b.query("UPDATE acc SET v = 20 WHERE id = 1"));
    const outcomes = [await aSecond, await bSecond].sort();
    assert.deepEqual(outcomes, ["40P01 deadlock detected", "ok"]);
    await a.query("COMMIT");
    await b.query("COMMIT");
    // The survivor's two updates committed, the victim's were rolled back.
    const rows = await value(a, "SELECT string_agg(v::text, ',' ORDER BY id) FROM acc");
    assert.ok(rows === "10,10" || rows === "20,20", rows ?? "no rows");
    await a.query("DROP TABLE acc");
  }],
  [
    "FOR UPDATE waits for the holder, then rechecks the committed row; NOWAIT gives 55P03",
    async (target) => {
      await using a = await target.connect();
      await using b = await target.connect();
      await a.query(
        "CREATE TABLE jobs (id int PRIMARY KEY, state text); " +
          "INSERT INTO jobs VALUES (1, 'new'), (2, 'new'), (3, 'new')",
      );
      const next = "SELECT id FROM jobs WHERE state = 'new' ORDER BY id LIMIT 1 FOR UPDATE";
      await a.query("BEGIN");
      assert.equal(await value(a, next), "1");
      assert.equal(
        await codeOf(b.query(`${next} NOWAIT`)),
        '55P03 could not obtain lock on row in relation "jobs"',
      );
      // Other rows stay free for writers.
      assert.equal(await value(b, "UPDATE jobs SET state = 'new' WHERE id = 3 RETURNING id"), "3");
      await b.query("BEGIN");
      const waiting = b.query(next);
      await target.waiting(1);
      await a.query("UPDATE jobs SET state = 'running' WHERE id = 1");
      await a.query("COMMIT");
      // Row 1 no longer matches once b gets its lock: b takes row 2 instead.
      assert.equal((await waiting)[0].rows[0][0], "2");
      await b.query("COMMIT");
      await a.query("BEGIN");
      assert.equal(await value(a, "SELECT state FROM jobs WHERE id = 3 FOR UPDATE"), "new");
      const blocked = b.query("SELECT state FROM jobs WHERE id = 3 FOR SHARE");
      await target.waiting(1);
      await a.query("UPDATE jobs SET state = 'done' WHERE id = 3");
      await a.query("COMMIT");
      assert.equal((await blocked)[0].rows[0][0], "done", "b reads the committed version");
      await a.query("DROP TABLE jobs");
    },
  ],
  ["SKIP LOCKED hands distinct rows to three concurrent workers", async (target) => {
    await using a = await target.connect();
    await using b = await target.connect();
    await using c = await target.connect();
    await a.query(
      "CREATE TABLE jobs (id int PRIMARY KEY, state text); " +
        "INSERT INTO jobs SELECT g, 'new' FROM generate_series(1, 5) g",
    );
    const take =
      "SELECT id FROM jobs WHERE state = 'new' ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1";
    const taken: (string | null)[] = [];
    for (const worker of [a, b, c]) {
      await worker.query("BEGIN");
      taken.push(await value(worker, take));
    }
    assert.deepEqual(taken, ["1", "2", "3"]);
    for (const [i, worker] of [a, b, c].entries()) {
      await worker.query(`UPDATE jobs SET state = 'done' WHERE id = ${taken[i]}`);
    }
    await b.query("COMMIT");
    await a.query("ROLLBACK");
    // a's row is free again; c still holds row 3.
    assert.equal(await value(a, `${take.replace("LIMIT 1", "")}`), "1");
    await c.query("COMMIT");
    assert.equal(
      await value(a, "SELECT string_agg(id::text, ',' ORDER BY id) FROM jobs WHERE state = 'new'"),
      "1,4,5",
    );
    await a.query("DROP TABLE jobs");
  }],
  ["FOR SHARE holders share a row and block its writer", async (target) => {
    await using a = await target.connect();
    await using b = await target.connect();
    await using c = await target.connect();
    await a.query("CREATE TABLE acc (id int PRIMARY KEY, v int); INSERT INTO acc VALUES (1, 1)");
    await a.query("BEGIN");
    assert.equal(await value(a, "SELECT v FROM acc WHERE id = 1 FOR SHARE"), "1");
    await b.query("BEGIN");
    assert.equal(await value(b, "SELECT v FROM acc WHERE id = 1 FOR SHARE NOWAIT"), "1");
    const writer = c.query("UPDATE acc SET v = 2 WHERE id = 1 RETURNING v");
    await target.waiting(1);
    await a.query("COMMIT");
    await b.query("COMMIT");
    assert.equal((await writer)[0].rows[0][0], "2");
    await a.query("DROP TABLE acc");
  }],
  [
    "two FOR UPDATE transactions locking rows in opposite orders: one gets 40P01",
    async (target) => {
      await using a = await target.connect();
      await using b = await target.connect();
      await a.query(
        "CREATE TABLE acc (id int PRIMARY KEY, v int); INSERT INTO acc VALUES (1, 1), (2, 2)",
      );
      await a.query("BEGIN; SELECT v FROM acc WHERE id = 1 FOR UPDATE");
      await b.query("BEGIN; SELECT v FROM acc WHERE id = 2 FOR UPDATE");
      const aSecond = codeOf(a.query("SELECT v FROM acc WHERE id = 2 FOR UPDATE"));
      await target.waiting(1);
      const bSecond = codeOf(b.query("SELECT v FROM acc WHERE id = 1 FOR UPDATE"));
      const outcomes = [await aSecond, await bSecond].sort();
      assert.deepEqual(outcomes, ["40P01 deadlock detected", "ok"]);
      await a.query("ROLLBACK");
      await b.query("ROLLBACK");
      await a.query("DROP TABLE acc");
    },
  ],
];

Deno.test("row locks: our datastore", async (t) => {
  await using store = await startService(service);
  const port = store.addresses.tcp.port;
  const admin = (store.addresses as unknown as { admin: Deno.NetAddr }).admin.port;
  const target: Target = {
    connect: () => PgClient.connect({ port, user: "postgres" }),
    waiting: (count) =>
      pollUntil(`${count} lock waits`, async () => {
        const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
        return new RegExp(`^datastore_lock_waiting ${count}$`, "m").test(text);
      }),
  };
  for (const [name, scenario] of SCENARIOS) await t.step(name, () => scenario(target));
});

interopTest("row locks: PostgreSQL 15 answers the same", {
  binaries: POSTGRES ? [] : ["initdb", "postgres"],
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "underhood-pg-locks-" });
    await Deno.chmod(dir, 0o755);
    const reference = await startPostgres(dir);
    try {
      await using monitor = await PgClient.connect({ port: reference.port, user: "postgres" });
      const target: Target = {
        connect: () => PgClient.connect({ port: reference.port, user: "postgres" }),
        waiting: (count) =>
          pollUntil(
            `${count} lock waits`,
            async () =>
              await value(monitor, "SELECT count(*) FROM pg_locks WHERE NOT granted") ===
                String(count),
          ),
      };
      for (const [name, scenario] of SCENARIOS) await t.step(name, () => scenario(target));
    } finally {
      await reference.stop();
      await new Deno.Command("rm", { args: ["-rf", dir] }).output();
    }
  },
});
