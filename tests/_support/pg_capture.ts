// Captures golden bytes from a real PostgreSQL server and writes them as
// commented-hex fixtures (docs/architecture.md habit 10). Not part of the test suite: run
// it by hand against a scratch server on loopback, e.g.
//
//   initdb -D /tmp/pg/data -U postgres -A scram-sha-256 --pwfile=<(echo secret)
//   postgres -D /tmp/pg/data -p 54329 -k /tmp/pg -c listen_addresses=127.0.0.1
//   PGPASSWORD=secret deno run -A tests/_support/pg_capture.ts wire 54329
//   PGPASSWORD=secret deno run -A tests/_support/pg_capture.ts syntax 54329
//   PGPASSWORD=secret deno run -A tests/_support/pg_capture.ts values 54329
//   PGPASSWORD=secret deno run -A tests/_support/pg_capture.ts eval 54329
//
// `wire` runs psql and the npm `pg` driver through the recording proxy of
// pg_proxy.ts and writes tests/lib/pg/fixtures/captured.ts. `syntax` sends the
// bad statements of tests/services/datastore/sql/fixtures/bad_statements.ts to
// the server and writes the error each one gets to syntax_errors.json beside it.
// `values` writes tests/lib/pg/fixtures/values.json: each input of
// value_inputs.ts beside PostgreSQL's text and binary output for it, or its error.
// `eval` does the same for the expressions of tests/services/datastore/sql/
// fixtures/eval_inputs.ts (value and pg_typeof), and `corpus` lists any
// statement of the parser's corpus PostgreSQL finds a syntax error in.

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { toHex } from "../../lib/bytes.ts";
import { startRecordingProxy } from "./pg_proxy.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const PASSWORD = Deno.env.get("PGPASSWORD") ?? "secret";

const FRONTEND_NAMES: Record<string, string> = {
  Q: "Query",
  P: "Parse",
  B: "Bind",
  D: "Describe",
  E: "Execute",
  C: "Close",
  S: "Sync",
  H: "Flush",
  X: "Terminate",
  p: "PasswordMessage/SASLInitialResponse/SASLResponse",
  d: "CopyData",
  c: "CopyDone",
  f: "CopyFail",
};
const BACKEND_NAMES: Record<string, string> = {
  R: "Authentication",
  S: "ParameterStatus",
  K: "BackendKeyData",
  Z: "ReadyForQuery",
  T: "RowDescription",
  D: "DataRow",
  C: "CommandComplete",
  I: "EmptyQueryResponse",
  E: "ErrorResponse",
  N: "NoticeResponse",
  "1": "ParseComplete",
  "2": "BindComplete",
  "3": "CloseComplete",
  n: "NoData",
  t: "ParameterDescription",
  s: "PortalSuspended",
  G: "CopyInResponse",
  H: "CopyOutResponse",
  d: "CopyData",
  c: "CopyDone",
};

function readable(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) {
    const printable = byte >= 0x20 && byte < 0x7f && byte !== 0x60 && byte !== 0x5c &&
      byte !== 0x24;
    text += printable ? String.fromCharCode(byte) : ".";
  }
  return text.length > 70 ? `${text.slice(0, 67)}...` : text;
}

function u32(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset).getUint32(at);
}

/** Cuts a recorded stream into messages, each as a commented hex string. */
function messages(stream: Uint8Array, side: "frontend" | "backend"): string[] {
  const out: string[] = [];
  let at = 0;
  let untyped = side === "frontend";
  if (side === "backend" && (stream[0] === 0x4e || stream[0] === 0x53) && stream[1] !== 0) {
    out.push(
      `# answer to SSLRequest: '${String.fromCharCode(stream[0])}'\n${
        toHex(stream.subarray(0, 1))
      }`,
    );
    at = 1;
  }
  while (at < stream.length) {
    let length: number;
    let label: string;
    if (untyped) {
      length = u32(stream, at);
      const code = u32(stream, at + 4);
      label = code === 80877103
        ? "SSLRequest"
        : code === 80877104
        ? "GSSENCRequest"
        : code === 80877102
        ? "CancelRequest"
        : "StartupMessage";
      if (label === "StartupMessage") untyped = false;
    } else {
      const type = String.fromCharCode(stream[at]);
      const names = side === "frontend" ? FRONTEND_NAMES : BACKEND_NAMES;
      label = `'${type}' ${names[type] ?? "?"}`;
      length = 1 + u32(stream, at + 1);
    }
    const bytes = stream.subarray(at, at + length);
    const hex = toHex(bytes).replace(/(.{64})/g, "$1\n").trim();
    out.push(`# ${label}: ${readable(bytes.subarray(untyped ? 8 : 5))}\n${hex}`);
    at += length;
  }
  return out;
}

async function run(command: string[], env: Record<string, string>, stdin = ""): Promise<void> {
  const child = new Deno.Command(command[0], {
    args: command.slice(1),
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const { stderr } = await child.output();
  const message = new TextDecoder().decode(stderr).trim();
  if (message) console.error(`${command[0]}: ${message}`);
}

async function captureWire(upstreamPort: number): Promise<void> {
  const proxy = startRecordingProxy(upstreamPort);
  const env = { PGPASSWORD: PASSWORD, PGSSLMODE: "prefer", PGGSSENCMODE: "disable" };
  const psql = ["psql", "-X", "-q", "-h", "127.0.0.1", "-p", String(proxy.port), "-U", "postgres"];
  await run(
    [
      ...psql,
      "-c",
      "SELECT 1 AS one, 'hi'::text AS greeting, NULL::int AS nothing, true AS yes, " +
      "1.5::float8 AS f, 12.34::numeric(5,2) AS n, '2024-01-02'::date AS d, " +
      "'abc'::varchar(10) AS v, '\\xdead'::bytea AS b",
      "-c",
      "SELEC 1",
      "-c",
      "DO $$BEGIN RAISE NOTICE 'hello' USING DETAIL = 'some detail', HINT = 'a hint'; END$$",
      "-c",
      "BEGIN",
      "-c",
      "SELECT 1/0",
      "-c",
      "ROLLBACK",
      "-c",
      "CREATE TEMP TABLE t (a int, b text); COPY t FROM STDIN",
      "-c",
      "COPY t TO STDOUT",
    ],
    env,
    "1\tone\n2\ttwo\n\\.\n",
  );
  await proxy.waitFor(1);

  const { default: pg } = await import("pg");
  const client = new pg.Client({
    host: "127.0.0.1",
    port: proxy.port,
    user: "postgres",
    password: PASSWORD,
    database: "postgres",
  });
  await client.connect();
  await client.query({ text: "SELECT $1::int4 + $2 AS sum", values: [1, 2] });
  await client.query("");
  await client.query({ name: "by_name", text: "SELECT $1::text AS t", values: ["x"] });
  await client.query({ name: "by_name", text: "SELECT $1::text AS t", values: ["y"] });
  await client.query({ text: "SELECT $1::int AS i", values: ["notanint"] }).catch(() => {});
  await client.end();
  await proxy.waitFor(2);
  proxy.close();

  const [psqlRecording, pgRecording] = proxy.recordings;
  const version = new TextDecoder().decode(
    (await new Deno.Command("postgres", { args: ["--version"] }).output()).stdout,
  ).trim();
  const block = (name: string, client: string, recording: typeof psqlRecording) =>
    `/** ${client} against ${version}, through tests/_support/pg_proxy.ts. */\n` +
    `export const ${name}: CapturedSession = {\n` +
    `  client: ${JSON.stringify(client)},\n` +
    `  frontend: [\n${
      messages(recording.frontend, "frontend").map((m) => `    \`${m}\`,`).join("\n")
    }\n  ],\n` +
    `  backend: [\n${
      messages(recording.backend, "backend").map((m) => `    \`${m}\`,`).join("\n")
    }\n  ],\n};\n`;
  const source =
    `// Golden bytes captured from a real PostgreSQL server by tests/_support/pg_capture.ts
// (do not edit by hand: run it again). Each string is one message in commented hex, in the
// order it crossed the wire; the comment names the message and shows its printable bytes.
// SCRAM nonces and proofs, the backend key and the process id differ at every capture.

/** One connection's messages, each side in wire order. */
export interface CapturedSession {
  client: string;
  frontend: string[];
  backend: string[];
}

${block("PSQL_SESSION", "psql (PostgreSQL) 15", psqlRecording)}
${block("NODE_PG_SESSION", "npm pg 8 (node-postgres)", pgRecording)}`;
  const path = join(ROOT, "tests/lib/pg/fixtures/captured.ts");
  await Deno.writeTextFile(path, source);
  console.log(`wrote ${path}`);
}

async function captureSyntax(upstreamPort: number): Promise<void> {
  const { BAD_STATEMENTS } = await import(
    "../services/datastore/sql/fixtures/bad_statements.ts"
  );
  const { default: pg } = await import("pg");
  const client = new pg.Client({
    host: "127.0.0.1",
    port: upstreamPort,
    user: "postgres",
    password: PASSWORD,
    database: "postgres",
  });
  await client.connect();
  const results = [];
  for (const sql of BAD_STATEMENTS as string[]) {
    try {
      // Inside a transaction rolled back at once, so nothing valid sticks.
      await client.query("BEGIN");
      await client.query(sql);
      results.push({ sql, error: null });
    } catch (error) {
      const e = error as { code: string; message: string; position?: string };
      results.push({
        sql,
        error: { code: e.code, message: e.message, position: Number(e.position ?? 0) },
      });
    }
    await client.query("ROLLBACK");
  }
  await client.end();
  const path = join(ROOT, "tests/services/datastore/sql/fixtures/syntax_errors.json");
  await Deno.writeTextFile(path, JSON.stringify(results, null, 2) + "\n");
  console.log(`wrote ${path}`);
}

const SEND_FUNCTION: Record<string, string> = {
  int2: "int2send",
  int4: "int4send",
  int8: "int8send",
  float4: "float4send",
  float8: "float8send",
  numeric: "numeric_send",
  bool: "boolsend",
  text: "textsend",
  varchar: "varcharsend",
  bpchar: "bpcharsend",
  bytea: "byteasend",
  date: "date_send",
  timestamp: "timestamp_send",
  timestamptz: "timestamptz_send",
  uuid: "uuid_send",
  json: "json_send",
  jsonb: "jsonb_send",
};

async function captureValues(upstreamPort: number): Promise<void> {
  const { VALUE_INPUTS } = await import("../lib/pg/fixtures/value_inputs.ts");
  const { default: pg } = await import("pg");
  const client = new pg.Client({
    host: "127.0.0.1",
    port: upstreamPort,
    user: "postgres",
    password: PASSWORD,
    database: "postgres",
  });
  await client.connect();
  await client.query("SET TimeZone = 'UTC'");
  const results = [];
  for (const [type, input] of VALUE_INPUTS) {
    try {
      // Raw text as the type's output function writes it (no driver parsing).
      const text = `SELECT $1::${type} AS text, ` +
        `encode(${SEND_FUNCTION[type]}($1::${type}), 'hex') AS binary`;
      const { rows } = await client.query({
        text,
        values: [input],
        types: { getTypeParser: () => (raw: string) => raw },
      });
      results.push({ type, input, text: rows[0].text, binary: rows[0].binary });
    } catch (error) {
      const e = error as { code: string; message: string };
      results.push({ type, input, error: { code: e.code, message: e.message } });
    }
  }
  await client.end();
  const path = join(ROOT, "tests/lib/pg/fixtures/values.json");
  await Deno.writeTextFile(path, JSON.stringify(results, null, 2) + "\n");
  console.log(`wrote ${path}`);
}

/** Lists the corpus statements PostgreSQL finds a syntax error in (there should be none). */
async function checkCorpus(upstreamPort: number): Promise<void> {
  const { EXPRESSIONS, PGBENCH, STATEMENTS } = await import(
    "../services/datastore/sql/fixtures/corpus.ts"
  );
  const { default: pg } = await import("pg");
  const client = new pg.Client({
    host: "127.0.0.1",
    port: upstreamPort,
    user: "postgres",
    password: PASSWORD,
    database: "postgres",
  });
  await client.connect();
  const all = [...EXPRESSIONS.map((e: string) => `SELECT ${e}`), ...STATEMENTS, ...PGBENCH];
  let bad = 0;
  for (const sql of all) {
    // Each in a transaction rolled back, so nothing sticks; COPY is left out
    // (it would wait for data).
    if (/^\s*copy/i.test(sql)) continue;
    await client.query("BEGIN");
    try {
      await client.query(sql);
    } catch (error) {
      const e = error as { code: string; message: string };
      if (e.code === "42601") {
        bad++;
        console.log(`${JSON.stringify(sql)}: ${e.message}`);
      }
    }
    await client.query("ROLLBACK").catch(() => {});
  }
  await client.end();
  console.log(`${all.length} statements, ${bad} syntax errors`);
}

/** Each expression's value and pg_typeof, or its error, as PostgreSQL 15 evaluates it. */
async function captureEval(upstreamPort: number): Promise<void> {
  const { EVAL_INPUTS } = await import("../services/datastore/sql/fixtures/eval_inputs.ts");
  const { default: pg } = await import("pg");
  const client = new pg.Client({
    host: "127.0.0.1",
    port: upstreamPort,
    user: "postgres",
    password: PASSWORD,
    database: "postgres",
  });
  await client.connect();
  await client.query("SET TimeZone = 'UTC'");
  const results = [];
  for (const expr of EVAL_INPUTS as string[]) {
    try {
      const { rows } = await client.query({
        text: `SELECT ${expr} AS v, pg_typeof(${expr})::text AS t`,
        types: { getTypeParser: () => (raw: string) => raw },
      });
      results.push({ expr, value: rows[0].v, type: rows[0].t });
    } catch (error) {
      const e = error as { code: string; message: string };
      results.push({ expr, error: { code: e.code, message: e.message } });
    }
  }
  await client.end();
  const path = join(ROOT, "tests/services/datastore/sql/fixtures/eval_results.json");
  await Deno.writeTextFile(path, JSON.stringify(results, null, 2) + "\n");
  console.log(`wrote ${path}`);
}

const [mode, port] = Deno.args;
if (mode === "wire") await captureWire(Number(port));
else if (mode === "syntax") await captureSyntax(Number(port));
else if (mode === "values") await captureValues(Number(port));
else if (mode === "corpus") await checkCorpus(Number(port));
else if (mode === "eval") await captureEval(Number(port));
else console.error("usage: pg_capture.ts wire|syntax PORT");
