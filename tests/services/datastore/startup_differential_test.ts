// What a client learns at startup, compared with PostgreSQL 15: the same
// ParameterStatus names (drivers read several of them: the npm pg driver's
// server_version, psql's in_hot_standby and default_transaction_read_only
// for target_session_attrs), and the same values for those that do not name
// the build (server_version) or the user.

import assert from "node:assert/strict";
import { PgClient } from "../../../lib/pg/client.ts";
import { service } from "../../../services/datastore/mod.ts";
import { interopTest } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";
import { POSTGRES, startPostgres } from "./_postgres.ts";

/**
 * Differ by design: the version string, the connecting user, and the time
 * zone's name (PostgreSQL takes the machine's, Etc/UTC here; ours is UTC).
 */
const OWN_VALUES = new Set(["server_version", "session_authorization", "TimeZone"]);

async function startupParameters(port: number, user: string): Promise<Record<string, string>> {
  await using client = await PgClient.connect({
    port,
    user,
    database: "postgres",
    parameters: { application_name: "startup-test" },
  });
  return Object.fromEntries(
    [...client.parameters].map(([name, value]) => [name, OWN_VALUES.has(name) ? "*" : value]),
  );
}

interopTest("ParameterStatus at startup names and values as PostgreSQL 15's", {
  binaries: POSTGRES ? [] : ["initdb", "postgres"],
  async fn() {
    await using store = await startService(service);
    const ours = await startupParameters(store.addresses.tcp.port, "app");
    const dir = await Deno.makeTempDir({ prefix: "underhood-pg-reference-" });
    try {
      const reference = await startPostgres(dir);
      try {
        assert.deepEqual(ours, await startupParameters(reference.port, "postgres"));
      } finally {
        await reference.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
