// Binary formats on the wire, against PostgreSQL 15: for every type the
// extended protocol must carry in binary (int2, int4, int8, float4, float8,
// numeric, bool, text, bytea, date, timestamp, timestamptz, interval, time, uuid, and
// arrays of them), the same
// Parse/Bind/Execute goes to our datastore and to a scratch PostgreSQL:
//   1. a text parameter, binary result: the result bytes must be the same;
//   2. PostgreSQL's own binary bytes from 1 sent back as a binary parameter,
//      with a text result: the text must be the same (so Bind reads them);
//   3. both into a table column of that type through a binary parameter, and
//      read back in binary by a second statement.
// Left out: BC dates (our text input refuses "4713-01-01 BC", 22007).
// Skipped visibly without initdb and postgres, unless REQUIRE_INTEROP=1.

import assert from "node:assert/strict";
import { toHex } from "../../../lib/bytes.ts";
import { PgClient } from "../../../lib/pg/client.ts";
import { OID } from "../../../lib/pg/oids.ts";
import type { BackendMessage, FormatCode, FrontendMessage } from "../../../lib/pg/types.ts";
import type { Bytes } from "../../../lib/bytes.ts";
import { interopTest } from "../../_support/interop.ts";
import { POSTGRES, withBothServers } from "./_postgres.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** [type (a name in OID, or an array type's OID), column type, values as text] */
const CASES: [keyof typeof OID | number, string, string[]][] = [
  ["int2", "smallint", ["0", "-32768", "32767", "42"]],
  ["int4", "integer", ["0", "-2147483648", "2147483647", "7"]],
  ["int8", "bigint", ["0", "-9223372036854775808", "9223372036854775807", "1234567890123"]],
  ["float4", "real", ["0", "-0", "1.5", "3.4028235e38", "1e-45", "NaN", "Infinity", "0.1"]],
  ["float8", "double precision", ["0", "-1.25", "1e308", "5e-324", "-Infinity", "0.1"]],
  ["numeric", "numeric", [
    "0",
    "1.50",
    "-123456789.000123",
    "0.0001",
    "10000",
    "99999999999999999999.5",
    "NaN",
    "-0.000000001",
  ]],
  ["numeric", "numeric(8,3)", ["1.5", "-12345.678", "0"]],
  ["bool", "boolean", ["t", "f"]],
  ["text", "text", ["", "héllo", "a\tb"]],
  ["varchar", "varchar(10)", ["abc", ""]],
  ["bytea", "bytea", ["\\x", "\\x00ff10", "\\xdeadbeef"]],
  ["date", "date", ["2000-01-01", "1999-12-31", "2024-02-29", "0001-01-01", "infinity"]],
  ["timestamp", "timestamp", [
    "2000-01-01 00:00:00",
    "1970-01-01 00:00:00.000001",
    "2024-02-29 23:59:59.999999",
    "1900-06-15 12:00:00",
    "-infinity",
  ]],
  ["timestamptz", "timestamptz", [
    "2000-01-01 00:00:00+00",
    "2024-02-29 23:59:59.5+02",
    "1969-07-20 20:17:40-05",
  ]],
  ["interval", "interval", [
    "1 day 02:00:00",
    "-1 mons +3 days -04:05:06.5",
    "1 year 2 mons",
    "00:00:00",
    "178956970 years 7 mons 2147483647 days 2562047788:00:54.775807",
    "-178956970 years -8 mons -2147483648 days",
  ]],
  ["time", "time", [
    "00:00:00",
    "12:34:56.789012",
    "24:00:00",
    "23:59:59.5",
  ]],
  ["uuid", "uuid", [
    "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    "00000000-0000-0000-0000-000000000000",
  ]],
  // Arrays (array_send: ndim, has-null flag, element OID, dimensions and lower bounds, elements).
  [1007, "integer[]", ["{1,2,NULL}", "{{1,2},{3,4}}", "{}", "[0:1]={7,8}", "{-2147483648}"]],
  [1016, "bigint[]", ["{9223372036854775807,NULL}", "{}"]],
  [1005, "smallint[]", ["{1,-2}"]],
  [1009, "text[]", ['{a,"b c",NULL,"","x\\"y"}', "{{a,b},{c,d}}", "{}"]],
  [1015, "varchar[]", ["{abc,NULL}"]],
  [1000, "boolean[]", ["{t,f,NULL}"]],
  [1021, "real[]", ["{1.5,NaN,-Infinity}"]],
  [1022, "double precision[]", ["{0.1,1e308}"]],
  [1231, "numeric[]", ["{1.50,-0.001,NaN,NULL}"]],
  [2951, "uuid[]", ["{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}"]],
  [1182, "date[]", ["{2024-02-29,infinity}"]],
  [1115, "timestamp[]", ['{"2000-01-01 00:00:00.5"}']],
  [1185, "timestamptz[]", ['{"2024-02-29 23:59:59+02"}']],
  [3807, "jsonb[]", ['{"{\\"a\\": [1, 2]}",null}']],
  [1001, "bytea[]", ['{"\\\\x00ff",NULL}']],
  [1187, "interval[]", ['{"1 day 02:00:00"}']],
];

/** The DataRow values (or the SQLSTATE) of one Parse/Bind/Execute/Sync. */
async function run(
  client: PgClient,
  sql: string,
  oid: number,
  parameter: Bytes,
  parameterFormat: FormatCode,
  resultFormat: FormatCode,
): Promise<(string | null)[] | string> {
  const messages: FrontendMessage[] = [
    { type: "Parse", statement: "", sql, parameterTypes: [oid] },
    {
      type: "Bind",
      portal: "",
      statement: "",
      parameterFormats: [parameterFormat],
      parameters: [parameter],
      resultFormats: [resultFormat],
    },
    { type: "Execute", portal: "", rowsMax: 0 },
    { type: "Sync" },
  ];
  await client.send(...messages);
  const out: (string | null)[] = [];
  for (const m of await client.receiveUntilReady() as BackendMessage[]) {
    if (m.type === "ErrorResponse") return m.fields.code ?? "error";
    if (m.type !== "DataRow") continue;
    const v = m.values[0];
    out.push(v === null ? null : resultFormat === 1 ? toHex(new Uint8Array(v)) : decoder.decode(v));
  }
  return out;
}

interopTest("binary parameters and results carry the same bytes as PostgreSQL 15's", {
  binaries: POSTGRES ? [] : ["initdb", "postgres"],
  async fn(t) {
    await withBothServers(async (theirs, mine) => {
      for (const client of [theirs, mine]) await client.query("SET TimeZone = 'UTC'");
      for (const [n, [type, column, values]] of CASES.entries()) {
        await t.step(`${column}`, async () => {
          const oid = typeof type === "number" ? type : OID[type];
          const table = `b${n}`;
          for (const client of [theirs, mine]) {
            await client.query(`CREATE TABLE ${table} (k int PRIMARY KEY, v ${column})`);
          }
          for (const [i, text] of values.entries()) {
            const label = `${column} ${JSON.stringify(text)}`;
            const cast = `SELECT $1::${column}`;
            const asText = encoder.encode(text);
            // 1. Text in, binary out.
            const expected = await run(theirs, cast, oid, asText, 0, 1);
            assert.deepEqual(await run(mine, cast, oid, asText, 0, 1), expected, `${label} out`);
            if (typeof expected === "string" || expected[0] === null) continue;
            // 2. PostgreSQL's binary in, text out.
            const bytes = Uint8Array.from(expected[0].match(/../g) ?? [], (h) => parseInt(h, 16));
            assert.deepEqual(
              await run(mine, cast, oid, bytes, 1, 0),
              await run(theirs, cast, oid, bytes, 1, 0),
              `${label} in`,
            );
            // 3. Binary into a column, binary back out.
            const insert = `INSERT INTO ${table} VALUES (${i}, $1) RETURNING v`;
            assert.deepEqual(
              await run(mine, insert, oid, bytes, 1, 1),
              await run(theirs, insert, oid, bytes, 1, 1),
              `${label} stored`,
            );
          }
          const select = `SELECT v FROM ${table} WHERE k >= $1 ORDER BY k`;
          const zero = new Uint8Array(4);
          assert.deepEqual(
            await run(mine, select, OID.int4, zero, 1, 1),
            await run(theirs, select, OID.int4, zero, 1, 1),
            `${column} read back`,
          );
        });
      }
    });
  },
});
