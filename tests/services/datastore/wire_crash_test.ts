// Crash test through the wire: the datastore runs as its own process with
// four clients writing over the PostgreSQL protocol (autocommit INSERTs, and
// blocks that COMMIT or ROLLBACK); it is killed with SIGKILL at a seeded
// moment, 20 times on one data directory. After each kill the directory is
// opened in-process and every acknowledged COMMIT must be there, and no row
// of a block that was rolled back. Rows whose COMMIT was sent but not
// acknowledged may go either way.
//
// DATASTORE_CRASH_SEED=n replays a run's choices (kills land at wall-clock
// moments, so only as closely as timing allows); the seed is in the error.
// The same runs again, with fewer kills, with the log's fsyncs on their
// own thread (`--wal-sync-thread`, storage/wal.ts).

import assert from "node:assert/strict";
import { PgClient } from "../../../lib/pg/client.ts";
import { seededRandom } from "../../_support/power_loss_fs.ts";
import { spawnService } from "../../_support/subprocess.ts";
import { SqlHarness } from "./_sql_harness.ts";

const KILLS = 20;
const CLIENTS = 4;
const SEED = Number(Deno.env.get("DATASTORE_CRASH_SEED") ?? Math.floor(Math.random() * 2 ** 31));

Deno.test(`kill -9 through the wire: acknowledged commits kept, rolled-back rows absent (seed ${SEED})`, async () => {
  await crashRounds(KILLS, []);
});

Deno.test(`kill -9 through the wire with the log's sync thread: the same (seed ${SEED})`, async () => {
  await crashRounds(KILLS / 2, ["--wal-sync-thread"]);
});

async function crashRounds(kills: number, flags: string[]): Promise<void> {
  const random = seededRandom(SEED);
  const dir = await Deno.makeTempDir({ prefix: "underhood-datastore-crash-" });
  const acked = new Set<string>();
  const rolledBack = new Set<string>();
  try {
    for (let round = 0; round < kills; round++) {
      const server = await spawnService(
        ["datastore", "--port", "0", "--admin-port", "0", "--data-dir", dir, ...flags],
        { roles: ["tcp"] },
      );
      const port = server.ports.tcp;
      let stop = false;
      if (round === 0) {
        await using setup = await PgClient.connect({ port });
        await setup.query("CREATE TABLE events (id text PRIMARY KEY, round int, kind text)");
        acked.add("table");
      }
      let firstAck!: () => void;
      const started = new Promise<void>((resolve) => firstAck = resolve);
      const worker = async (c: number) => {
        const client = await PgClient.connect({ port }).catch(() => null);
        if (client === null) return;
        const rnd = seededRandom(SEED + round * 100 + c);
        try {
          for (let n = 0; !stop && n < 10_000; n++) {
            const id = `${round}-${c}-${n}`;
            const pick = rnd();
            if (pick < 0.5) {
              await client.query(`INSERT INTO events VALUES ('${id}', ${round}, 'auto')`);
              acked.add(id);
            } else if (pick < 0.8) {
              await client.query(
                `BEGIN; INSERT INTO events VALUES ('${id}', ${round}, 'block'); ` +
                  `INSERT INTO events VALUES ('${id}b', ${round}, 'block')`,
              );
              await client.query("COMMIT");
              acked.add(id);
              acked.add(`${id}b`);
            } else {
              await client.query(`BEGIN; INSERT INTO events VALUES ('${id}', ${round}, 'undo')`);
              rolledBack.add(id);
              await client.query("ROLLBACK");
            }
            firstAck();
          }
        } catch {
          // The server was killed under us.
        } finally {
          try {
            client.conn.close();
          } catch { /* closed */ }
        }
      };
      const workers = Array.from({ length: CLIENTS }, (_, c) => worker(c));
      await started;
      await new Promise((resolve) => setTimeout(resolve, 5 + random() * 150));
      server.kill("SIGKILL");
      stop = true;
      await server.exited();
      await Promise.all(workers);

      const h = await SqlHarness.open(dir);
      try {
        const s = await h.session();
        const present = new Set((await s.rows("SELECT id FROM events")).map((r) => r[0]!));
        for (const id of acked) {
          if (id === "table") continue;
          assert.ok(present.has(id), `seed ${SEED}, round ${round}: acknowledged ${id} is missing`);
        }
        for (const id of rolledBack) {
          assert.ok(!present.has(id), `seed ${SEED}, round ${round}: rolled-back ${id} is present`);
        }
      } finally {
        await h.close(false);
      }
    }
    assert.ok(acked.size > kills, `seed ${SEED}: the clients got too few acknowledgements`);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
