// A scratch PostgreSQL 15 for differential tests: initdb in a temp
// directory, a free loopback port, run as the `postgres` user when we are
// root (it refuses root). Used by differential_test.ts and the psql
// differential tests.

import assert from "node:assert/strict";
import { join } from "node:path";
import { PgClient } from "../../../lib/pg/client.ts";
import { service } from "../../../services/datastore/mod.ts";
import { hasBinary } from "../../_support/interop.ts";
import { startOnFreePort } from "../../_support/reference_port.ts";
import { startService } from "../../_support/service.ts";

/**
 * Where initdb and postgres are: on PATH, or in Debian's versioned directory
 * (the postgresql package does not put them on PATH); null when neither.
 */
export function findPostgres(): { initdb: string; postgres: string } | null {
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

export const POSTGRES = findPostgres();

/** Runs `command` as the postgres user when we are root. */
function asPostgres(command: string, args: string[]): Deno.Command {
  const root = Deno.uid() === 0;
  return new Deno.Command(root ? "runuser" : command, {
    args: root ? ["-u", "postgres", "--", command, ...args] : args,
    stdout: "piped",
    stderr: "piped",
  });
}

export async function startPostgres(
  dir: string,
  settings: string[] = [],
): Promise<{ port: number; stop: () => Promise<void> }> {
  if (Deno.uid() === 0) {
    const chown = await new Deno.Command("chown", { args: ["-R", "postgres:", dir] }).output();
    assert.ok(chown.success, "chown for the postgres user");
  }
  const data = join(dir, "data");
  const init = await asPostgres(POSTGRES!.initdb, [
    "-D",
    data,
    "-U",
    "postgres",
    "-A",
    "trust",
    "-E",
    "UTF8",
    "--locale=C.UTF-8",
  ])
    .output();
  assert.ok(init.success, new TextDecoder().decode(init.stderr));
  // postgres has no "-p 0": the port is probed and handed over, and postgres
  // is ready when it logs so (after its bind), not when a connect succeeds;
  // see tests/_support/reference_port.ts.
  const { port, process: child, exited } = await startOnFreePort(
    (port) =>
      asPostgres(POSTGRES!.postgres, [
        "-D",
        data,
        "-p",
        String(port),
        "-k",
        dir,
        "-c",
        "listen_addresses=127.0.0.1",
        ...settings.flatMap((setting) => ["-c", setting]),
      ]).spawn(),
    { ready: /database system is ready to accept connections/ },
  );
  return {
    port,
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * A scratch PostgreSQL 15 and our datastore side by side, each with one
 * client connected as `postgres`; both servers are stopped and the scratch
 * directory removed afterwards, whatever `fn` does.
 */
export async function withBothServers(
  fn: (theirs: PgClient, mine: PgClient) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "underhood-pg-reference-" });
  await Deno.chmod(dir, 0o755);
  const reference = await startPostgres(dir);
  try {
    await using ours = await startService(service);
    await using theirs = await PgClient.connect({ port: reference.port, user: "postgres" });
    await using mine = await PgClient.connect({ port: ours.addresses.tcp.port, user: "postgres" });
    await fn(theirs, mine);
  } finally {
    await reference.stop();
    await new Deno.Command("rm", { args: ["-rf", dir] }).output();
  }
}
