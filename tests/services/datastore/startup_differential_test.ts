// What a client learns at startup, compared with PostgreSQL 15: the same
// ParameterStatus names (drivers read several of them: the npm pg driver's
// server_version, psql's in_hot_standby and default_transaction_read_only
// for target_session_attrs), and the same values for those that do not name
// the build (server_version) or the user.

import assert from "node:assert/strict";
import { isIncomplete } from "../../../lib/decode.ts";
import { decodeBackendMessage } from "../../../lib/pg/backend.ts";
import { PgClient } from "../../../lib/pg/client.ts";
import { encodeStartupPacket } from "../../../lib/pg/frontend.ts";
import { DEFAULT_LIMITS } from "../../../lib/pg/types.ts";
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

/**
 * A third client when two may connect: what it reads after an SSLRequest
 * (null when none was sent) and after its StartupMessage, until the server
 * closes. The server's source file, line and routine fields are dropped.
 */
async function pastTheLimit(port: number, ssl: boolean): Promise<unknown> {
  const held = [
    await PgClient.connect({ port, user: "postgres" }),
    await PgClient.connect({ port, user: "postgres" }),
  ];
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    let sslAnswer: string | null = null;
    if (ssl) {
      await conn.write(encodeStartupPacket({ type: "SSLRequest" }));
      const one = new Uint8Array(1);
      sslAnswer = await conn.read(one) === 1 ? String.fromCharCode(one[0]) : "closed";
    }
    await conn.write(encodeStartupPacket({
      type: "StartupMessage",
      majorVersion: 3,
      minorVersion: 0,
      parameters: new Map([["user", "postgres"], ["database", "postgres"]]),
    }));
    const bytes = await readToEnd(conn);
    const messages = [];
    for (let at = 0; at < bytes.length;) {
      const decoded = decodeBackendMessage(bytes, DEFAULT_LIMITS, at);
      if (isIncomplete(decoded)) throw new Error("truncated answer");
      const { file: _f, line: _l, routine: _r, ...rest } = (decoded.value as unknown as {
        fields: Record<string, unknown>;
      }).fields;
      messages.push({ type: decoded.value.type, fields: rest });
      at += decoded.bytesUsed;
    }
    return { sslAnswer, messages };
  } finally {
    conn.close();
    for (const client of held) await client.close();
  }
}

async function readToEnd(conn: Deno.TcpConn): Promise<Uint8Array<ArrayBuffer>> {
  const chunks: number[] = [];
  const buf = new Uint8Array(4096);
  for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
    chunks.push(...buf.subarray(0, n));
  }
  return new Uint8Array(chunks);
}

interopTest("past the connection limit: FATAL 53300 after the startup packet, as PostgreSQL 15", {
  binaries: POSTGRES ? [] : ["initdb", "postgres"],
  async fn() {
    await using store = await startService(service, { maxConnections: 2 });
    const dir = await Deno.makeTempDir({ prefix: "underhood-pg-reference-" });
    await Deno.chmod(dir, 0o755);
    try {
      const reference = await startPostgres(dir, [
        "max_connections=2",
        "superuser_reserved_connections=0",
      ]);
      try {
        for (const ssl of [false, true]) {
          const theirs = await pastTheLimit(reference.port, ssl);
          assert.deepEqual(await pastTheLimit(store.addresses.tcp.port, ssl), theirs);
        }
      } finally {
        await reference.stop();
      }
    } finally {
      await new Deno.Command("rm", { args: ["-rf", dir] }).output();
    }
  },
});
