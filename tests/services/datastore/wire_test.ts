// The datastore over a real socket: startup and its answers, authentication,
// the connection cap, bytes that are not the protocol, cancel, health checks.

import assert from "node:assert/strict";
import { PgClient, PgServerError } from "../../../lib/pg/client.ts";
import { encodeStartupPacket } from "../../../lib/pg/frontend.ts";
import { service } from "../../../services/datastore/mod.ts";
import { startService } from "../../_support/service.ts";

async function readSome(conn: Deno.Conn): Promise<Uint8Array> {
  const buf = new Uint8Array(1024);
  const n = await conn.read(buf);
  return n === null ? new Uint8Array(0) : buf.subarray(0, n);
}

/** Reads until the peer closes; returns everything it sent. */
async function readToEnd(conn: Deno.Conn): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (;;) {
    const chunk = await readSome(conn).catch(() => new Uint8Array(0));
    if (chunk.length === 0) break;
    parts.push(chunk.slice());
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

Deno.test("startup: SSLRequest answered N, then the parameters clients read, BackendKeyData, ReadyForQuery", async () => {
  await using store = await startService(service);
  const port = store.addresses.tcp.port;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(encodeStartupPacket({ type: "SSLRequest" }));
    assert.deepEqual([...await readSome(conn)], [0x4e]);
  } finally {
    conn.close();
  }
  await using client = await PgClient.connect({ port, user: "app", database: "spells" });
  assert.equal(client.parameters.get("server_version"), "15.0");
  assert.equal(client.parameters.get("server_encoding"), "UTF8");
  assert.equal(client.parameters.get("client_encoding"), "UTF8");
  assert.equal(client.parameters.get("DateStyle"), "ISO, MDY");
  assert.equal(client.parameters.get("TimeZone"), "UTC");
  assert.equal(client.parameters.get("integer_datetimes"), "on");
  assert.equal(client.parameters.get("standard_conforming_strings"), "on");
  assert.ok(client.processId > 0);
  const [result] = await client.query("SELECT current_database(), current_user");
  assert.deepEqual(result.rows, [["spells", "app"]]);
});

Deno.test("SCRAM-SHA-256 with --password: the right password gets in, a wrong one gets 28P01", async () => {
  await using store = await startService(service, { password: "s3cret" });
  const port = store.addresses.tcp.port;
  await using client = await PgClient.connect({ port, user: "app", password: "s3cret" });
  assert.deepEqual((await client.query("SELECT 1"))[0].rows, [["1"]]);
  await assert.rejects(
    PgClient.connect({ port, user: "app", password: "wrong" }),
    (error: unknown) => error instanceof PgServerError && error.code === "28P01",
  );
});

Deno.test("past --max-connections a client gets FATAL 53300; the others go on", async () => {
  await using store = await startService(service, { maxConnections: 2 });
  const port = store.addresses.tcp.port;
  await using a = await PgClient.connect({ port });
  await using b = await PgClient.connect({ port });
  await assert.rejects(
    PgClient.connect({ port }),
    (error: unknown) => error instanceof PgServerError && error.code === "53300",
  );
  assert.deepEqual((await a.query("SELECT 1"))[0].rows, [["1"]]);
  assert.deepEqual((await b.query("SELECT 2"))[0].rows, [["2"]]);
});

Deno.test("garbage gets FATAL 08P01 and a disconnect, without affecting another session", async () => {
  await using store = await startService(service);
  const port = store.addresses.tcp.port;
  await using good = await PgClient.connect({ port });
  await good.query("CREATE TABLE t (a int PRIMARY KEY)");
  await using bad = await PgClient.connect({ port });
  // A message type that does not exist, with a sane length.
  await bad.sendRaw(new Uint8Array([0x7e, 0, 0, 0, 4]));
  const reply = new TextDecoder().decode(await readToEnd(bad.conn));
  assert.match(reply, /FATAL/);
  assert.match(reply, /08P01/);
  // A startup packet that claims to be huge.
  const raw = await Deno.connect({ hostname: "127.0.0.1", port });
  await raw.write(new Uint8Array([0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0]));
  assert.match(new TextDecoder().decode(await readToEnd(raw)), /08P01/);
  raw.close();
  await good.query("INSERT INTO t VALUES (1)");
  assert.deepEqual((await good.query("SELECT count(*) FROM t"))[0].rows, [["1"]]);
});

Deno.test("a CancelRequest with a wrong key is ignored; the session goes on", async () => {
  await using store = await startService(service);
  const port = store.addresses.tcp.port;
  await using client = await PgClient.connect({ port });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(
    encodeStartupPacket({
      type: "CancelRequest",
      processId: client.processId,
      secretKey: client.secretKey + 1,
    }),
  );
  assert.equal((await readToEnd(conn)).length, 0);
  conn.close();
  assert.deepEqual((await client.query("SELECT 1"))[0].rows, [["1"]]);
});

Deno.test("an acknowledged COMMIT survives a restart on the same data directory", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "underhood-datastore-" });
  try {
    {
      await using store = await startService(service, { dataDir });
      await using client = await PgClient.connect({ port: store.addresses.tcp.port });
      await client.query("CREATE TABLE kept (id serial PRIMARY KEY, v text)");
      await client.query("BEGIN; INSERT INTO kept (v) VALUES ('yes'); COMMIT");
      await client.query("BEGIN; INSERT INTO kept (v) VALUES ('no'); ROLLBACK");
    }
    await using store = await startService(service, { dataDir });
    await using client = await PgClient.connect({ port: store.addresses.tcp.port });
    assert.deepEqual((await client.query("SELECT v FROM kept"))[0].rows, [["yes"]]);
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});

Deno.test("/healthz on the admin port reports recovery and connections", async () => {
  await using store = await startService(service);
  const response = await fetch(`http://127.0.0.1:${store.addresses.admin.port}/healthz`);
  const body = await response.json();
  assert.equal(response.status, 200);
  assert.equal(body.checks.recovery.ok, true);
  assert.equal(body.checks.clients.ok, true);
});

Deno.test("closing the service closes idle sessions at once instead of waiting for them", async () => {
  // Regression: sessions were never idle to the transport, so close() waited the whole drain
  // timeout (here 10 minutes) for a pool's idle connections.
  const store = await startService(service, { drainTimeoutMs: 600_000 });
  const client = await PgClient.connect({ port: store.addresses.tcp.port });
  await client.query("SELECT 1");
  const closed = store.close();
  assert.equal((await readToEnd(client.conn)).length, 0);
  await closed;
  client.conn.close();
});

Deno.test("a CancelRequest stops a long statement with 57014; other sessions are served meanwhile", async () => {
  await using store = await startService(service);
  const port = store.addresses.tcp.port;
  await using busy = await PgClient.connect({ port });
  await using other = await PgClient.connect({ port });
  await busy.query("CREATE TABLE n (i int PRIMARY KEY)");
  await busy.query(
    `INSERT INTO n SELECT a.i * 100 + b.i FROM (VALUES ${
      Array.from({ length: 100 }, (_, i) => `(${i})`).join(",")
    }) AS a (i), (VALUES ${Array.from({ length: 100 }, (_, i) => `(${i})`).join(",")}) AS b (i)`,
  );
  // 10^12 combinations: it ends only by being cancelled.
  await busy.send({ type: "Query", sql: "SELECT count(*) FROM n a, n b, n c" });
  const reply = busy.receiveUntilReady();
  // Served while the long statement runs.
  assert.deepEqual((await other.query("SELECT count(*) FROM n"))[0].rows, [["10000"]]);
  let settled = false;
  void reply.finally(() => settled = true);
  // A cancel that lands before the statement starts is ignored, as in PostgreSQL; repeat (bounded).
  for (let attempt = 0; attempt < 100 && !settled; attempt++) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(
      encodeStartupPacket({
        type: "CancelRequest",
        processId: busy.processId,
        secretKey: busy.secretKey,
      }),
    );
    await readToEnd(conn);
    conn.close();
    await Promise.race([reply, other.query("SELECT 1")]);
  }
  const messages = await reply;
  const error = messages.find((m) => m.type === "ErrorResponse");
  assert.ok(error && error.type === "ErrorResponse");
  assert.equal(error.fields.code, "57014");
  assert.deepEqual((await busy.query("SELECT 1"))[0].rows, [["1"]]);
});
