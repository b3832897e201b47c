// The PostgreSQL protocol codec against bytes captured from PostgreSQL 15
// with psql and npm pg (fixtures/captured.ts): every captured message decodes
// whole, at an offset, split every way and byte by byte, and encodes back to
// the same bytes. Then messages no capture holds, and hostile input.

import assert from "node:assert/strict";
import { type Bytes, fromHex, utf8 } from "../../../lib/bytes.ts";
import { isIncomplete } from "../../../lib/decode.ts";
import { DecodeError, LimitError } from "../../../lib/errors.ts";
import {
  decodeBackendMessage,
  encodeBackendMessage,
  writeBackendMessage,
} from "../../../lib/pg/backend.ts";
import {
  decodeFrontendMessage,
  decodeStartupPacket,
  encodeFrontendMessage,
  encodeStartupPacket,
  parsePasswordMessage,
  parseSaslInitialResponse,
  passwordMessageData,
  saslInitialResponseData,
} from "../../../lib/pg/frontend.ts";
import {
  type BackendMessage,
  DEFAULT_LIMITS,
  type FrontendMessage,
  type StartupPacket,
} from "../../../lib/pg/types.ts";
import { MessageWriter } from "../../../lib/pg/wire.ts";
import { errorFields, PgProtocolError } from "../../../lib/pg/errors.ts";
import { ScramError } from "../../../lib/pg/scram.ts";
import { PgValueError } from "../../../lib/pg/values.ts";
import { SqlLimitError, SqlSyntaxError } from "../../../services/datastore/sql/errors.ts";
import { assertDecodesEveryWay } from "../../_support/split.ts";
import { type CapturedSession, NODE_PG_SESSION, PSQL_SESSION } from "./fixtures/captured.ts";

/** Pure code: these tests need no permission at all (docs/architecture.md habit 1). */
const pure = { permissions: "none" } as const;

const startup = (buf: Bytes, from: number, to: number) =>
  decodeStartupPacket(buf, DEFAULT_LIMITS, from, to);
const frontend = (buf: Bytes, from: number, to: number) =>
  decodeFrontendMessage(buf, DEFAULT_LIMITS, from, to);
const backend = (buf: Bytes, from: number, to: number) =>
  decodeBackendMessage(buf, DEFAULT_LIMITS, from, to);

/** Decodes a captured session every way, checking each message re-encodes to its bytes. */
function decodeSession(session: CapturedSession) {
  const front: (StartupPacket | FrontendMessage)[] = [];
  let startedUp = false;
  for (const hex of session.frontend) {
    const bytes = fromHex(hex);
    if (!startedUp) {
      const packet = assertDecodesEveryWay(startup, bytes);
      startedUp = packet.type === "StartupMessage";
      assert.deepEqual(encodeStartupPacket(packet), bytes);
      front.push(packet);
    } else {
      const message = assertDecodesEveryWay(frontend, bytes);
      assert.deepEqual(encodeFrontendMessage(message), bytes, hex.split("\n")[0]);
      front.push(message);
    }
  }
  const back: BackendMessage[] = [];
  for (const hex of session.backend) {
    const bytes = fromHex(hex);
    if (bytes.length === 1) continue; // the one-byte answer to SSLRequest
    const message = assertDecodesEveryWay(backend, bytes);
    assert.deepEqual(encodeBackendMessage(message), bytes, hex.split("\n")[0]);
    back.push(message);
  }
  return { front, back };
}

Deno.test("psql's session decodes every way and re-encodes byte for byte", pure, () => {
  const { front, back } = decodeSession(PSQL_SESSION);
  assert.deepEqual(front[0], { type: "SSLRequest" });
  assert.deepEqual(front[1], {
    type: "StartupMessage",
    majorVersion: 3,
    minorVersion: 0,
    parameters: new Map([["user", "postgres"], ["database", "postgres"], [
      "application_name",
      "psql",
    ]]),
  });
  const sasl = front[2];
  assert.equal(sasl.type, "AuthenticationResponse");
  const initial = parseSaslInitialResponse((sasl as { data: Bytes }).data);
  assert.equal(initial.mechanism, "SCRAM-SHA-256");
  assert.match(new TextDecoder().decode(initial.initialResponse!), /^n,,n=,r=/);
  assert.deepEqual(front.find((m) => m.type === "Query"), {
    type: "Query",
    sql: "SELECT 1 AS one, 'hi'::text AS greeting, NULL::int AS nothing, true AS yes, " +
      "1.5::float8 AS f, 12.34::numeric(5,2) AS n, '2024-01-02'::date AS d, " +
      "'abc'::varchar(10) AS v, '\\xdead'::bytea AS b",
  });
  assert.ok(front.some((m) => m.type === "CopyData"));
  assert.ok(front.some((m) => m.type === "CopyDone"));
  assert.deepEqual(front.at(-1), { type: "Terminate" });

  assert.deepEqual(back[0], { type: "AuthenticationSASL", mechanisms: ["SCRAM-SHA-256"] });
  assert.equal(back[1].type, "AuthenticationSASLContinue");
  assert.equal(back[2].type, "AuthenticationSASLFinal");
  assert.deepEqual(back[3], { type: "AuthenticationOk" });
  assert.ok(back.some((m) => m.type === "ParameterStatus" && m.name === "server_version"));

  const row = back.find((m) => m.type === "RowDescription");
  assert.ok(row?.type === "RowDescription");
  assert.deepEqual(
    row.fields.map((f) => [f.name, f.typeOid, f.typeSize, f.typeModifier, f.format]),
    [
      ["one", 23, 4, -1, 0],
      ["greeting", 25, -1, -1, 0],
      ["nothing", 23, 4, -1, 0],
      ["yes", 16, 1, -1, 0],
      ["f", 701, 8, -1, 0],
      ["n", 1700, -1, (5 << 16 | 2) + 4, 0],
      ["d", 1082, 4, -1, 0],
      ["v", 1043, -1, 10 + 4, 0],
      ["b", 17, -1, -1, 0],
    ],
  );
  const data = back.find((m) => m.type === "DataRow");
  assert.ok(data?.type === "DataRow");
  assert.deepEqual(
    data.values.map((v) => v === null ? null : new TextDecoder().decode(v)),
    ["1", "hi", null, "t", "1.5", "12.34", "2024-01-02", "abc", "\\xdead"],
  );

  const errors = back.filter((m) => m.type === "ErrorResponse");
  assert.ok(errors[0].type === "ErrorResponse");
  assert.equal(errors[0].fields.code, "42601");
  assert.equal(errors[0].fields.message, 'syntax error at or near "SELEC"');
  assert.equal(errors[0].fields.position, 1);
  assert.equal(errors[0].fields.severityNonLocalized, "ERROR");
  assert.ok(errors[1].type === "ErrorResponse");
  assert.equal(errors[1].fields.code, "22012");

  const notice = back.find((m) => m.type === "NoticeResponse");
  assert.ok(notice?.type === "NoticeResponse");
  assert.equal(notice.fields.detail, "some detail");
  assert.equal(notice.fields.hint, "a hint");
  assert.match(notice.fields.where!, /PL\/pgSQL/);

  const statuses = back.flatMap((m) => m.type === "ReadyForQuery" ? [m.status] : []);
  assert.ok(statuses.includes("T") && statuses.includes("E") && statuses.includes("I"));
  assert.ok(back.some((m) => m.type === "CopyInResponse"));
  assert.deepEqual(
    back.find((m) => m.type === "CopyOutResponse"),
    { type: "CopyOutResponse", format: 0, columnFormats: [0, 0] },
  );
});

Deno.test(
  "npm pg's extended-protocol session decodes every way and re-encodes byte for byte",
  pure,
  () => {
    const { front, back } = decodeSession(NODE_PG_SESSION);
    const parse = front.find((m) => m.type === "Parse");
    assert.deepEqual(parse, {
      type: "Parse",
      statement: "",
      sql: "SELECT $1::int4 + $2 AS sum",
      parameterTypes: [],
    });
    const bind = front.find((m) => m.type === "Bind");
    assert.ok(bind?.type === "Bind");
    assert.deepEqual(bind.parameters.map((p) => new TextDecoder().decode(p!)), ["1", "2"]);
    assert.deepEqual(front.find((m) => m.type === "Describe"), {
      type: "Describe",
      kind: "P",
      name: "",
    });
    assert.deepEqual(front.find((m) => m.type === "Execute"), {
      type: "Execute",
      portal: "",
      rowsMax: 0,
    });
    assert.ok(front.some((m) => m.type === "Parse" && m.statement === "by_name"));
    assert.ok(back.some((m) => m.type === "EmptyQueryResponse"));
    assert.ok(back.some((m) => m.type === "ParseComplete"));
    assert.ok(back.some((m) => m.type === "BindComplete"));
    const error = back.find((m) => m.type === "ErrorResponse");
    assert.ok(error?.type === "ErrorResponse");
    assert.equal(error.fields.code, "22P02");
  },
);

const CONSTRUCTED_FRONTEND: FrontendMessage[] = [
  { type: "Query", sql: "" },
  { type: "Query", sql: "SELECT 'héllo ✓'" },
  { type: "Parse", statement: "s1", sql: "SELECT $1, $2", parameterTypes: [23, 4294967295] },
  {
    type: "Bind",
    portal: "p",
    statement: "s1",
    parameterFormats: [0, 1],
    parameters: [null, new Uint8Array([0, 0, 0, 7])],
    resultFormats: [1],
  },
  { type: "Describe", kind: "S", name: "s1" },
  { type: "Execute", portal: "p", rowsMax: 10 },
  { type: "Close", kind: "P", name: "p" },
  { type: "Close", kind: "S", name: "" },
  { type: "Flush" },
  { type: "Sync" },
  { type: "AuthenticationResponse", data: passwordMessageData("secret") },
  { type: "CopyData", data: new Uint8Array(0) },
  { type: "CopyFail", message: "client gave up" },
];

Deno.test(
  "every frontend message round-trips through encode and decode, split every way",
  pure,
  () => {
    for (const message of CONSTRUCTED_FRONTEND) {
      const bytes = encodeFrontendMessage(message);
      assert.deepEqual(assertDecodesEveryWay(frontend, bytes), message);
    }
    assert.equal(parsePasswordMessage(passwordMessageData("secret")), "secret");
    assert.deepEqual(parseSaslInitialResponse(saslInitialResponseData("SCRAM-SHA-256", null)), {
      mechanism: "SCRAM-SHA-256",
      initialResponse: null,
    });
  },
);

Deno.test("the special startup packets round-trip, split every way", pure, () => {
  // CancelRequest: length 16, code 1234.5678, process id, secret key (55.7).
  const cancel = fromHex("00000010 04d2162e 00003039 deadbeef");
  assert.deepEqual(assertDecodesEveryWay(startup, cancel), {
    type: "CancelRequest",
    processId: 12345,
    secretKey: 0xdeadbeef | 0,
  });
  assert.deepEqual(
    encodeStartupPacket({ type: "CancelRequest", processId: 12345, secretKey: 0xdeadbeef | 0 }),
    cancel,
  );
  const gss = fromHex("00000008 04d21630");
  assert.deepEqual(assertDecodesEveryWay(startup, gss), { type: "GSSENCRequest" });
  assert.deepEqual(encodeStartupPacket({ type: "GSSENCRequest" }), gss);
});

const CONSTRUCTED_BACKEND: BackendMessage[] = [
  { type: "AuthenticationCleartextPassword" },
  { type: "AuthenticationMD5Password", salt: new Uint8Array([1, 2, 3, 4]) },
  { type: "ParseComplete" },
  { type: "BindComplete" },
  { type: "CloseComplete" },
  { type: "NoData" },
  { type: "PortalSuspended" },
  { type: "ParameterDescription", typeOids: [23, 25, 3802] },
  { type: "DataRow", values: [] },
  { type: "CopyData", data: utf8("1\tone\n") },
  { type: "CopyDone" },
  { type: "CopyInResponse", format: 1, columnFormats: [1, 1] },
  { type: "NotificationResponse", processId: 7, channel: "spells", payload: "created" },
  { type: "NegotiateProtocolVersion", minorVersionSupported: 0, unrecognized: ["_pq_.x"] },
  {
    type: "ErrorResponse",
    fields: {
      severity: "ERROR",
      severityNonLocalized: "ERROR",
      code: "23505",
      message: 'duplicate key value violates unique constraint "spells_pkey"',
      detail: "Key (id)=(1) already exists.",
      hint: "h",
      position: 12,
      internalPosition: 3,
      internalQuery: "q",
      where: "w",
      schema: "public",
      table: "spells",
      column: "id",
      dataType: "integer",
      constraint: "spells_pkey",
      file: "nbtinsert.c",
      line: "664",
      routine: "_bt_check_unique",
    },
  },
];

Deno.test(
  "every backend message round-trips through encode and decode, split every way",
  pure,
  () => {
    for (const message of CONSTRUCTED_BACKEND) {
      const bytes = encodeBackendMessage(message);
      assert.deepEqual(assertDecodesEveryWay(backend, bytes), message);
    }
  },
);

Deno.test("writeBackendMessage batches several messages into one buffer", pure, () => {
  const w = new MessageWriter();
  writeBackendMessage(w, { type: "CommandComplete", tag: "SELECT 0" });
  writeBackendMessage(w, { type: "ReadyForQuery", status: "I" });
  const bytes = w.finish();
  const first = backend(bytes, 0, bytes.length);
  assert.ok(!isIncomplete(first));
  assert.deepEqual(first.value, { type: "CommandComplete", tag: "SELECT 0" });
  const second = backend(bytes, first.bytesUsed, bytes.length);
  assert.ok(!isIncomplete(second));
  assert.deepEqual(second.value, { type: "ReadyForQuery", status: "I" });
  assert.equal(first.bytesUsed + second.bytesUsed, bytes.length);
});

Deno.test(
  "decodeFrontendMessage() refuses an announced length past its bound before the body arrives",
  pure,
  () => {
    // A Query announcing 1 GiB: only the 5-byte header has arrived.
    assert.throws(() => frontend(fromHex("51 40000000"), 0, 5), LimitError);
    // A Sync is a small message: 10001 bytes is past PQ_SMALL_MESSAGE_LIMIT.
    assert.throws(
      () => frontend(fromHex("53 00002711"), 0, 5),
      (e: unknown) => e instanceof LimitError && e.limit === "smallMessageBytesMax",
    );
    assert.throws(
      () => frontend(fromHex("70 00010000"), 0, 5),
      (e: unknown) => e instanceof LimitError && e.limit === "authMessageBytesMax",
    );
    assert.throws(() => backend(fromHex("44 7fffffff"), 0, 5), LimitError);
    assert.throws(() => startup(fromHex("00100000"), 0, 4), LimitError);
    // Within the bound, a partial message says how many bytes it still needs.
    assert.deepEqual(frontend(fromHex("51 00000010 53454c"), 0, 8), {
      incomplete: true,
      bytesNeeded: 9,
    });
  },
);

Deno.test("the decoders reject malformed messages with PostgreSQL's wording", pure, () => {
  const cases: Array<[string, (b: Bytes) => unknown, string, RegExp]> = [
    ["length below 4", (b) => frontend(b, 0, b.length), "51 00000003", /invalid message length/],
    [
      "unknown type",
      (b) => frontend(b, 0, b.length),
      "7a 00000004",
      /invalid frontend message type 122/,
    ],
    [
      "bytes left over",
      (b) => frontend(b, 0, b.length),
      "53 00000005 00",
      /invalid message format/,
    ],
    [
      "string without its zero",
      (b) => frontend(b, 0, b.length),
      "51 00000006 4142",
      /invalid string in message/,
    ],
    ["invalid UTF-8", (b) => frontend(b, 0, b.length), "51 00000006 ff00", /invalid byte sequence/],
    [
      "Describe of neither S nor P",
      (b) => frontend(b, 0, b.length),
      "44 00000006 5800",
      /invalid DESCRIBE message subtype/,
    ],
    [
      "a parameter longer than the message",
      (b) => frontend(b, 0, b.length),
      "42 0000000e 00 00 0000 0001 00000010",
      /insufficient data/,
    ],
    [
      "a format code of 2",
      (b) => frontend(b, 0, b.length),
      "42 0000000e 00 00 0001 0002 0000 0000",
      /unsupported format code/,
    ],
    [
      "protocol 2.0",
      (b) => startup(b, 0, b.length),
      "00000009 00020000 00",
      /unsupported frontend protocol 2\.0/,
    ],
    [
      "startup packet shorter than 8",
      (b) => startup(b, 0, b.length),
      "00000004",
      /invalid length of startup packet/,
    ],
    [
      "startup parameters without the final zero",
      (b) => startup(b, 0, b.length),
      "0000000c 00030000 7500 7800",
      /invalid string in message/,
    ],
    [
      "backend unknown type",
      (b) => backend(b, 0, b.length),
      "7a 00000004",
      /unexpected message type/,
    ],
    [
      "error response without a code",
      (b) => backend(b, 0, b.length),
      "45 0000000c 534552524f5200 00",
      /lacks severity, code or message/,
    ],
  ];
  for (const [label, decode, hex, pattern] of cases) {
    assert.throws(
      () => decode(fromHex(hex)),
      (e: unknown) =>
        (e instanceof DecodeError || e instanceof PgProtocolError) &&
        pattern.test((e as Error).message),
      label,
    );
  }
});

Deno.test("errorFields() maps every error to an ErrorResponse with its SQLSTATE", pure, () => {
  const cases: Array<[unknown, Partial<ReturnType<typeof errorFields>>]> = [
    [new SqlSyntaxError('syntax error at or near "x"', 8), { code: "42601", position: 8 }],
    [new SqlSyntaxError("syntax error", 0), { code: "42601", position: undefined }],
    [new SqlLimitError("depthMax", "54001", "stack depth limit exceeded", "raise it"), {
      code: "54001",
      hint: "raise it",
    }],
    [new ScramError("Invalid nonce."), { code: "08P01", detail: "Invalid nonce." }],
    [new PgValueError("22P02", 'invalid input syntax for type integer: "x"'), { code: "22P02" }],
    [new PgProtocolError("invalid frontend message type 122"), { code: "08P01" }],
    [new LimitError("messageBytesMax", "invalid message length"), { code: "08P01" }],
    [new LimitError("rowsMax", "too many rows"), { code: "54000" }],
    [new DecodeError("bad"), { code: "08P01", message: "bad" }],
    [new Error("secret internals"), { code: "XX000", message: "internal error" }],
    ["not even an error", { code: "XX000" }],
  ];
  for (const [error, want] of cases) {
    const fields = errorFields(error);
    assert.equal(fields.severity, "ERROR");
    for (const [key, value] of Object.entries(want)) {
      assert.equal(fields[key as keyof typeof fields], value, `${error}: ${key}`);
    }
    // Every mapped error encodes and decodes as an ErrorResponse.
    const bytes = encodeBackendMessage({ type: "ErrorResponse", fields });
    assert.deepEqual(assertDecodesEveryWay(backend, bytes), { type: "ErrorResponse", fields });
  }
  assert.equal(errorFields(new Error("x"), "FATAL").severityNonLocalized, "FATAL");
});

Deno.test(
  "strings decode alike read in place (short ASCII) or through the UTF-8 decoder",
  pure,
  () => {
    const names = [
      "",
      "P0_0",
      "a".repeat(32),
      "a".repeat(33), // past the in-place bound
      "é", // not ASCII from the first byte
      "ab\u00e9cd", // an ASCII start, then not: decoded whole
      "x".repeat(31) + "\u{1f600}",
    ];
    for (const name of names) {
      const bytes = encodeFrontendMessage({ type: "Describe", kind: "S", name });
      const decoded = frontend(bytes, 0, bytes.length);
      assert.ok(!isIncomplete(decoded));
      assert.deepEqual(decoded.value, { type: "Describe", kind: "S", name }, name);
    }
    // Invalid UTF-8 after an ASCII start is still refused.
    assert.throws(() => frontend(fromHex("51 00000007 41 ff 00"), 0, 8), /invalid byte sequence/);
    // Integers put together from bytes keep their sign.
    const execute = encodeFrontendMessage({ type: "Execute", portal: "", rowsMax: -2147483648 });
    const decoded = frontend(execute, 0, execute.length);
    assert.ok(!isIncomplete(decoded));
    assert.deepEqual(decoded.value, { type: "Execute", portal: "", rowsMax: -2147483648 });
  },
);
