// Differential test: the executor's SQL cases (fixtures/sql_cases.ts) run on
// our datastore and on a scratch PostgreSQL 15 side by side; every row and
// every SQLSTATE must match. PostgreSQL runs from a temp directory on a free
// loopback port (as the `postgres` user when we are root: it refuses root).
// Skipped visibly when initdb or postgres is missing, unless REQUIRE_INTEROP=1.

import assert from "node:assert/strict";
import { join } from "node:path";
import { PgClient, PgServerError } from "../../../lib/pg/client.ts";
import { service } from "../../../services/datastore/mod.ts";
import { hasBinary, interopTest } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";
import { ERRORS, QUERIES, SETUP } from "./fixtures/sql_cases.ts";

/**
 * Where initdb and postgres are: on PATH, or in Debian's versioned directory
 * (the postgresql package does not put them on PATH); null when neither.
 */
function findPostgres(): { initdb: string; postgres: string } | null {
  if (hasBinary("initdb") && hasBinary("postgres")) {
    return { initdb: "initdb", postgres: "postgres" };
  }
  try {
    const versions = [...Deno.readDirSync("/usr/lib/postgresql")].map((e) => e.name).sort()
      .reverse();
    for (const version of versions) {
      const bin = `/usr/lib/postgresql/${version}/bin`;
      try {
        Deno.statSync(`${bin}/initdb`);
        return { initdb: `${bin}/initdb`, postgres: `${bin}/postgres` };
      } catch { /* not this one */ }
    }
  } catch { /* no PostgreSQL */ }
  return null;
}

const POSTGRES = findPostgres();

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Runs `command` as the postgres user when we are root. */
function asPostgres(command: string, args: string[]): Deno.Command {
  const root = Deno.uid() === 0;
  return new Deno.Command(root ? "runuser" : command, {
    args: root ? ["-u", "postgres", "--", command, ...args] : args,
    stdout: "piped",
    stderr: "piped",
  });
}

async function startPostgres(dir: string): Promise<{ port: number; stop: () => Promise<void> }> {
  if (Deno.uid() === 0) {
    const chown = await new Deno.Command("chown", { args: ["-R", "postgres:", dir] }).output();
    assert.ok(chown.success, "chown for the postgres user");
  }
  const data = join(dir, "data");
  const init = await asPostgres(POSTGRES!.initdb, ["-D", data, "-U", "postgres", "-A", "trust"])
    .output();
  assert.ok(init.success, new TextDecoder().decode(init.stderr));
  const port = freePort();
  const child = asPostgres(POSTGRES!.postgres, [
    "-D",
    data,
    "-p",
    String(port),
    "-k",
    dir,
    "-c",
    "listen_addresses=127.0.0.1",
  ]).spawn();
  // Wait for it to answer (bounded).
  for (let attempt = 0; attempt < 200; attempt++) {
    try {
      const client = await PgClient.connect({ port, user: "postgres" });
      await client.close();
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    port,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await child.stdout.cancel();
      await child.stderr.cancel();
    },
  };
}

async function answer(client: PgClient, sql: string): Promise<unknown> {
  try {
    const results = await client.query(sql);
    return { rows: results[results.length - 1].rows };
  } catch (error) {
    if (error instanceof PgServerError) return { code: error.code };
    throw error;
  }
}

interopTest("the executor's SQL cases answer as PostgreSQL 15 does, row for row", {
  binaries: POSTGRES ? [] : ["initdb", "postgres"],
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "underhood-pg-reference-" });
    await Deno.chmod(dir, 0o755);
    const reference = await startPostgres(dir);
    try {
      await using ours = await startService(service);
      await using theirs = await PgClient.connect({ port: reference.port, user: "postgres" });
      await using mine = await PgClient.connect({
        port: ours.addresses.tcp.port,
        user: "postgres",
      });
      await theirs.query(SETUP);
      await mine.query(SETUP);
      for (const [what, sql] of [...QUERIES, ...ERRORS]) {
        await t.step(what, async () => {
          assert.deepEqual(await answer(mine, sql), await answer(theirs, sql), sql);
        });
      }
    } finally {
      await reference.stop();
      await new Deno.Command("rm", { args: ["-rf", dir] }).output();
    }
  },
});
