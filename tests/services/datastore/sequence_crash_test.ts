// Crash test for sequences (sql/sequences.ts): the datastore runs as its own
// process with three clients drawing nextval over the wire, alone and in
// INSERTs, and is killed with SIGKILL at a seeded moment, 8 times on one
// data directory. nextval logs 32 values ahead and answers only once that
// log write is durable, so across every restart no acknowledged value may
// be given twice: each value seen is new, and the first value after a
// restart is above every value seen before it.
//
// The same again for a SERIAL column's own sequence (nextval('t_id_seq')
// beside INSERTs drawing the column's default), whose reservations nextval
// writes ahead the same way (executor.ts's drawNow).
//
// DATASTORE_CRASH_SEED=n replays a run's choices (as closely as timing allows).

import assert from "node:assert/strict";
import { PgClient } from "../../../lib/pg/client.ts";
import { seededRandom } from "../../_support/power_loss_fs.ts";
import { spawnService } from "../../_support/subprocess.ts";

const KILLS = 8;
const CLIENTS = 3;
const SEED = Number(Deno.env.get("DATASTORE_CRASH_SEED") ?? Math.floor(Math.random() * 2 ** 31));

Deno.test(`kill -9: nextval never gives an acknowledged value twice (seed ${SEED})`, async () => {
  await crashRounds({
    setup: "CREATE SEQUENCE s; CREATE TABLE drawn (n bigint PRIMARY KEY)",
    statements: [
      "SELECT nextval('s'), nextval('s')",
      "INSERT INTO drawn VALUES (nextval('s')) RETURNING n",
    ],
    last: "SELECT nextval('s')",
  });
});

Deno.test(`kill -9: a SERIAL column's sequence never gives an acknowledged number twice (seed ${SEED})`, async () => {
  await crashRounds({
    setup: "CREATE TABLE t (id serial PRIMARY KEY, x int)",
    statements: [
      "SELECT nextval('t_id_seq'), nextval('t_id_seq')",
      "INSERT INTO t (x) VALUES (1) RETURNING id",
    ],
    last: "INSERT INTO t (x) VALUES (2) RETURNING id",
  });
});

async function crashRounds(
  options: { setup: string; statements: [string, string]; last: string },
): Promise<void> {
  const random = seededRandom(SEED);
  const dir = await Deno.makeTempDir({ prefix: "underhood-datastore-seq-crash-" });
  const seen = new Set<bigint>();
  let largest = 0n;
  try {
    for (let round = 0; round <= KILLS; round++) {
      const server = await spawnService(
        ["datastore", "--port", "0", "--admin-port", "0", "--data-dir", dir],
        { roles: ["tcp"] },
      );
      const port = server.ports.tcp;
      if (round === 0) {
        await using setup = await PgClient.connect({ port });
        await setup.query(options.setup);
      }
      const before = largest;
      let stop = false;
      let firstAck!: () => void;
      const started = new Promise<void>((resolve) => firstAck = resolve);
      const worker = async (c: number) => {
        const client = await PgClient.connect({ port }).catch(() => null);
        if (client === null) return;
        const rnd = seededRandom(SEED + round * 100 + c);
        try {
          for (let n = 0; !stop && n < 10_000; n++) {
            const sql = options.statements[rnd() < 0.5 ? 0 : 1];
            const rows: (string | null)[][] = (await client.query(sql))[0].rows;
            for (const value of rows[0]) {
              const v: bigint = BigInt(value!);
              assert.ok(!seen.has(v), `seed ${SEED}, round ${round}: ${v} given twice`);
              if (round > 0 && seen.size > 0 && v <= before) {
                assert.fail(`seed ${SEED}, round ${round}: ${v} not above ${before}`);
              }
              seen.add(v);
              if (v > largest) largest = v;
            }
            firstAck();
          }
        } catch (error) {
          if (error instanceof assert.AssertionError) throw error;
          // The server was killed under us.
        } finally {
          try {
            client.conn.close();
          } catch { /* closed */ }
        }
      };
      const workers = Array.from({ length: CLIENTS }, (_, c) => worker(c));
      if (round === KILLS) {
        // The last run: a clean stop, then one more value above them all.
        await started;
        stop = true;
        await Promise.all(workers);
        await using last = await PgClient.connect({ port });
        const next = BigInt((await last.query(options.last))[0].rows[0][0]!);
        assert.ok(next > largest, `seed ${SEED}: ${next} after ${largest}`);
        server.kill("SIGTERM");
        await server.exited();
        break;
      }
      await started;
      await new Promise((resolve) => setTimeout(resolve, 5 + random() * 100));
      server.kill("SIGKILL");
      stop = true;
      await server.exited();
      await Promise.all(workers);
    }
    assert.ok(seen.size > KILLS * 2, `seed ${SEED}: too few values drawn (${seen.size})`);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
