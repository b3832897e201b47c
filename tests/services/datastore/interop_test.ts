// Interop with real PostgreSQL clients: psql (-c and -f), the npm `pg`
// driver (parameters, transactions, errors with codes, a pool of 10), and
// pgbench (-i -s 1, then the TPC-B-like script with 4 clients in each query
// mode, and select-only).

import assert from "node:assert/strict";
import { join } from "node:path";
import pg from "pg";
import { service } from "../../../services/datastore/mod.ts";
import { interopTest, runClient } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";

interopTest("psql runs -c commands and a -f script", {
  binaries: ["psql"],
  async fn() {
    await using store = await startService(service);
    const port = String(store.addresses.tcp.port);
    const psql = (...args: string[]) =>
      runClient(
        "psql",
        ["-h", "127.0.0.1", "-p", port, "-U", "app", "-d", "spells", "-X", ...args],
        {
          timeoutMs: 30_000,
        },
      );
    const version = await psql("-Atc", "SELECT version()");
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^PostgreSQL 15/);
    const dir = await Deno.makeTempDir();
    try {
      const script = join(dir, "script.sql");
      await Deno.writeTextFile(
        script,
        `CREATE TABLE spells (id serial PRIMARY KEY, name text NOT NULL, power int);
INSERT INTO spells (name, power) VALUES ('fire', 9), ('ice', 4);
BEGIN;
UPDATE spells SET power = power + 1 WHERE name = 'ice';
COMMIT;
SELECT name, power FROM spells ORDER BY id;
`,
      );
      const run = await psql("-v", "ON_ERROR_STOP=1", "-At", "-f", script);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /fire\|9\nice\|5/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    const failed = await psql("-v", "ON_ERROR_STOP=1", "-c", "SELECT * FROM nope");
    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, /relation "nope" does not exist/);
  },
});

interopTest("the npm pg driver: parameters, transactions, errors with codes, a pool of 10", {
  binaries: [],
  async fn() {
    await using store = await startService(service);
    const port = store.addresses.tcp.port;
    const client = new pg.Client({ host: "127.0.0.1", port, user: "app", database: "spells" });
    await client.connect();
    try {
      await client.query(
        "CREATE TABLE spells (id serial PRIMARY KEY, name text NOT NULL UNIQUE, power int, " +
          "cost numeric(8,2), created timestamptz DEFAULT now(), data bytea, ok boolean)",
      );
      const inserted = await client.query(
        "INSERT INTO spells (name, power, cost, data, ok) VALUES ($1, $2, $3, $4, $5) RETURNING id, cost",
        ["fire", 9, "12.5", new Uint8Array([1, 2, 3]), true],
      );
      assert.deepEqual(inserted.rows, [{ id: 1, cost: "12.50" }]);
      const selected = await client.query("SELECT * FROM spells WHERE id = $1", [1]);
      assert.equal(selected.rows[0].name, "fire");
      assert.ok(selected.rows[0].created instanceof Date);
      assert.deepEqual([...selected.rows[0].data], [1, 2, 3]);
      assert.equal(selected.rows[0].ok, true);

      await client.query("BEGIN");
      await client.query("INSERT INTO spells (name) VALUES ('gone')");
      await client.query("ROLLBACK");
      assert.deepEqual((await client.query("SELECT count(*)::int AS n FROM spells")).rows, [{
        n: 1,
      }]);

      await assert.rejects(
        client.query("INSERT INTO spells (name) VALUES ('fire')"),
        (error: { code?: string }) => error.code === "23505",
      );
      await client.query("BEGIN");
      await assert.rejects(
        client.query("SELECT * FROM nope"),
        (e: { code?: string }) => e.code === "42P01",
      );
      await assert.rejects(client.query("SELECT 1"), (e: { code?: string }) => e.code === "25P02");
      await client.query("ROLLBACK");
    } finally {
      await client.end();
    }
    const pool = new pg.Pool({ host: "127.0.0.1", port, user: "app", database: "spells", max: 10 });
    try {
      await Promise.all(
        Array.from(
          { length: 50 },
          (_, i) => pool.query("INSERT INTO spells (name, power) VALUES ($1, $2)", [`s${i}`, i]),
        ),
      );
      const sums = await pool.query("SELECT count(*)::int AS n, sum(power)::int AS p FROM spells");
      assert.deepEqual(sums.rows, [{ n: 51, p: 1234 }]);
    } finally {
      await pool.end();
    }
  },
});

interopTest("pgbench -i -s 1, then -c 4 -t 50 in simple, extended and prepared modes", {
  binaries: ["pgbench", "psql"],
  async fn() {
    await using store = await startService(service);
    const port = String(store.addresses.tcp.port);
    const common = ["-h", "127.0.0.1", "-p", port, "-U", "app"];
    const init = await runClient("pgbench", [...common, "-i", "-s", "1", "spells"], {
      timeoutMs: 120_000,
    });
    assert.equal(init.code, 0, init.stderr);
    for (const mode of ["simple", "extended", "prepared"]) {
      const run = await runClient("pgbench", [
        ...common,
        "-c",
        "4",
        "-t",
        "50",
        "-M",
        mode,
        "spells",
      ], {
        timeoutMs: 120_000,
      });
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /number of transactions actually processed: 200\/200/);
      assert.match(run.stdout, /number of failed transactions: 0 /);
    }
    const selectOnly = await runClient("pgbench", [
      ...common,
      "-c",
      "4",
      "-t",
      "50",
      "-S",
      "spells",
    ], {
      timeoutMs: 60_000,
    });
    assert.match(selectOnly.stdout, /actually processed: 200\/200/);
    // TPC-B keeps the balances of accounts, tellers and branches equal.
    const sums = await runClient("psql", [
      ...common,
      "-X",
      "-At",
      "-c",
      "SELECT (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(bbalance) FROM pgbench_branches)" +
      " AND (SELECT sum(tbalance) FROM pgbench_tellers) = (SELECT sum(bbalance) FROM pgbench_branches)",
      "spells",
    ]);
    assert.equal(sums.stdout.trim(), "t", sums.stderr);
  },
});
