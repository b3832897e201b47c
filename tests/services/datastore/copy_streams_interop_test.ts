// COPY through the npm pg driver with pg-copy-streams (the client):
// rows streamed in with COPY FROM STDIN (text and CSV), streamed out with
// COPY TO STDOUT, against our server and PostgreSQL 15 with the same result.
//
// A hang under Deno, not in our server: pg-copy-streams' COPY TO takes the
// socket over by removing the driver's 'data' listener, calling pause() and
// reading on 'readable'. Under Deno 2.9's node:net, when that pause() comes
// right after another COPY (FROM or TO) finished on the same connection, the
// socket's handle stops reading (`_handle.reading` false) while the stream
// still counts a read as pending (`_readableState.reading` true), so read()
// never asks the handle again: the COPY TO waits forever, against
// PostgreSQL too (seen there after a COPY FROM). Node 20 with the same two packages does
// not hang (checked by hand). After any other query the takeover works, so
// copyOut runs one first; a COPY FROM needs nothing.

import assert from "node:assert/strict";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import pg from "pg";
import { from as copyFrom, to as copyTo } from "pg-copy-streams";
import { service } from "../../../services/datastore/mod.ts";
import { interopTest } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";
import { POSTGRES, startPostgres } from "./_postgres.ts";

const ROWS = 2000;

async function copyOut(client: pg.Client, sql: string): Promise<string> {
  await client.query("SELECT 1"); // see the header: never right after another COPY
  const chunks: string[] = [];
  await pipeline(
    client.query(copyTo(sql)),
    new Writable({
      write(chunk, _encoding, done) {
        chunks.push(String(chunk));
        done();
      },
    }),
  );
  return chunks.join("");
}

/** Streams rows in and out; returns what a comparison needs. */
async function copyScript(port: number, user: string): Promise<unknown[]> {
  const seen: unknown[] = [];
  const client = new pg.Client({ host: "127.0.0.1", port, user, database: "postgres" });
  await client.connect();
  try {
    await client.query("CREATE TABLE copied (id integer PRIMARY KEY, name text, note text)");
    // Many small chunks, a row split across two of them, a NULL and an escaped tab.
    const lines = Array.from({ length: ROWS }, (_, i) => `${i + 1}\tname ${i + 1}\tnote\\t${i}\n`);
    lines.push("0\t\\N\tsplit ");
    lines.push("row\n");
    const into = client.query(copyFrom("COPY copied FROM STDIN"));
    await pipeline(Readable.from(lines), into);
    seen.push(into.rowCount);
    const csv = client.query(copyFrom("COPY copied (id, name) FROM STDIN (FORMAT csv)"));
    await pipeline(Readable.from(['-1,"quoted, with comma"\n', "-2,\n"]), csv);
    seen.push(csv.rowCount);
    seen.push((await client.query("SELECT count(*)::int AS n FROM copied")).rows);
    const text = await copyOut(client, "COPY (SELECT * FROM copied ORDER BY id) TO STDOUT");
    seen.push(text.split("\n").length, text.split("\n").slice(0, 4), text.split("\n").at(-2));
    seen.push(
      await copyOut(
        client,
        "COPY (SELECT id, name FROM copied WHERE id < 0 ORDER BY id) TO STDOUT (FORMAT csv, HEADER)",
      ),
    );
    // A bad row fails the COPY with the server's error; the connection goes on.
    const bad = client.query(copyFrom("COPY copied FROM STDIN"));
    const error = await pipeline(Readable.from(["x\ty\tz\n"]), bad).then(
      () => null,
      (e: { code?: string }) => e,
    );
    seen.push(error?.code);
    seen.push((await client.query("SELECT count(*)::int AS n FROM copied")).rows);
  } finally {
    await client.end();
  }
  return seen;
}

const EXPECTED = [
  ROWS + 1,
  2,
  [{ n: ROWS + 3 }],
  ROWS + 4,
  ["-2\t\\N\t\\N", "-1\tquoted, with comma\t\\N", "0\t\\N\tsplit row", "1\tname 1\tnote\\t0"],
  `${ROWS}\tname ${ROWS}\tnote\\t${ROWS - 1}`,
  'id,name\n-2,\n-1,"quoted, with comma"\n',
  "22P02",
  [{ n: ROWS + 3 }],
];

Deno.test("pg-copy-streams: COPY FROM STDIN and TO STDOUT through the npm pg driver", async () => {
  await using store = await startService(service);
  assert.deepEqual(await copyScript(store.addresses.tcp.port, "app"), EXPECTED);
});

interopTest("pg-copy-streams answers the same against PostgreSQL 15", {
  binaries: POSTGRES ? [] : ["initdb", "postgres"],
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "underhood-pg-reference-" });
    try {
      const reference = await startPostgres(dir);
      try {
        assert.deepEqual(await copyScript(reference.port, "postgres"), EXPECTED);
      } finally {
        await reference.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
