// decodeCommand() and decodeReply(): golden inputs through the shared
// assertDecodesEveryWay (whole, at an offset, every prefix incomplete, split
// at every point and byte by byte: docs/architecture.md habit 3), and the limits.

import assert from "node:assert/strict";
import { fromUtf8, utf8 } from "../../../lib/bytes.ts";
import { DecodeError, LimitError } from "../../../lib/errors.ts";
import type { Bytes } from "../../../lib/bytes.ts";
import { isIncomplete } from "../../../lib/decode.ts";
import {
  CommandArgs,
  CommandSpans,
  decodeCommand,
  decodeCommandSpans,
  decodeReply,
  encodeCommand,
  splitInline,
} from "../../../lib/resp/codec.ts";
import {
  DEFAULT_LIMITS,
  RespDouble,
  RespError,
  RespMap,
  RespPush,
  RespSet,
  RespSimple,
  type RespValue,
  RespVerbatim,
} from "../../../lib/resp/types.ts";
import { ReplyWriter } from "../../../lib/resp/writer.ts";
import { assertDecodesEveryWay, splitEveryWay } from "../../_support/split.ts";

const command = (buf: Bytes, from: number, to: number) =>
  decodeCommand(buf, DEFAULT_LIMITS, from, to);
const reply = (buf: Bytes, from: number, to: number) => decodeReply(buf, DEFAULT_LIMITS, from, to);

/** Feeds chunks as a server does: append, decode as many commands as are complete. */
function decodeAll(chunks: Uint8Array[]): string[][] {
  let buf = new Uint8Array(0);
  const out: string[][] = [];
  for (const chunk of chunks) {
    const next = new Uint8Array(buf.length + chunk.length);
    next.set(buf);
    next.set(chunk, buf.length);
    buf = next;
    let offset = 0;
    while (offset < buf.length) {
      const result = decodeCommand(buf, DEFAULT_LIMITS, offset, buf.length);
      if (isIncomplete(result)) break;
      offset += result.bytesUsed;
      if (result.value.length > 0) out.push(result.value.map((a) => fromUtf8(a)));
    }
    buf = buf.slice(offset);
  }
  assert.equal(buf.length, 0, "bytes left over");
  return out;
}

/** One command each: every one goes through assertDecodesEveryWay. */
const COMMAND_CASES: { name: string; input: string; expected: string[] }[] = [
  { name: "one array command", input: "*1\r\n$4\r\nPING\r\n", expected: ["PING"] },
  {
    name: "SET with three bulks",
    input: "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n",
    expected: ["SET", "k", "hello"],
  },
  { name: "empty bulk", input: "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", expected: ["ECHO", ""] },
  {
    name: "binary bulk with CRLF inside",
    input: "*2\r\n$4\r\nECHO\r\n$2\r\n\r\n\r\n",
    expected: ["ECHO", "\r\n"],
  },
  { name: "inline PING from nc", input: "PING\r\n", expected: ["PING"] },
  { name: "inline with bare LF", input: "SET a b\n", expected: ["SET", "a", "b"] },
  {
    name: "inline with quotes",
    input: `SET "a b" 'c d' "\\x41\\n"\r\n`,
    expected: ["SET", "a b", "c d", "A\n"],
  },
  { name: "empty array (the caller skips it)", input: "*0\r\n", expected: [] },
  { name: "null array (the caller skips it)", input: "*-1\r\n", expected: [] },
  { name: "blank inline line (the caller skips it)", input: "\r\n", expected: [] },
  // Bulk headers the one-pass digit reader leaves to the general parser.
  { name: "bulk length with leading zeros", input: "*1\r\n$04\r\nPING\r\n", expected: ["PING"] },
  {
    name: "bulk length of 15 digits, most the fast reader takes",
    input: "*2\r\n$4\r\nECHO\r\n$000000000000001\r\nx\r\n",
    expected: ["ECHO", "x"],
  },
  {
    name: "bulk length of 16 digits, through the general parser",
    input: "*2\r\n$4\r\nECHO\r\n$0000000000000001\r\nx\r\n",
    expected: ["ECHO", "x"],
  },
  {
    name: "more than 8 arguments (array grown as they parse)",
    input: encodeCommandText(["DEL", "a", "b", "c", "d", "e", "f", "g", "h", "i"]),
    expected: ["DEL", "a", "b", "c", "d", "e", "f", "g", "h", "i"],
  },
];

/** Several commands in one input, as a client pipelines them. */
const PIPELINED_CASES: { name: string; input: string; expected: string[][] }[] = [
  {
    name: "pipelined SET and GET",
    input: "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
    expected: [["SET", "k", "hello"], ["GET", "k"]],
  },
  { name: "an empty array is skipped", input: "*0\r\n*1\r\n$4\r\nPING\r\n", expected: [["PING"]] },
  { name: "a blank inline line is skipped", input: "\r\nPING\r\n", expected: [["PING"]] },
  {
    name: "inline then array",
    input: "PING\r\n*1\r\n$4\r\nPING\r\n",
    expected: [["PING"], ["PING"]],
  },
];

function encodeCommandText(args: string[]): string {
  return fromUtf8(encodeCommand(args));
}

for (const { name, input, expected } of COMMAND_CASES) {
  Deno.test({
    name: `decodeCommand() ${name}, every way`,
    permissions: "none",
    fn() {
      const args = assertDecodesEveryWay(command, utf8(input));
      assert.deepEqual(args.map((arg) => fromUtf8(arg)), expected);
    },
  });
}

for (const { name, input, expected } of PIPELINED_CASES) {
  Deno.test({
    name: `decodeCommand() ${name}, split every way`,
    permissions: "none",
    fn() {
      for (const { label, chunks } of splitEveryWay(utf8(input))) {
        assert.deepEqual(decodeAll(chunks), expected, label);
      }
    },
  });
}

Deno.test({
  name: "decodeCommand() counts the elements still to come in what it needs",
  permissions: "none",
  fn() {
    const input = utf8("*1000\r\n$3\r\nSET\r\n");
    const result = decodeCommand(input, DEFAULT_LIMITS);
    assert.ok(isIncomplete(result));
    assert.equal(result.bytesNeeded, 999 * 6);
  },
});

Deno.test({
  name: "decodeCommand() reports how many bytes a bulk needs",
  permissions: "none",
  fn() {
    const input = utf8("*2\r\n$3\r\nGET\r\n$100\r\nab");
    const result = decodeCommand(input, DEFAULT_LIMITS);
    assert.ok(isIncomplete(result));
    assert.equal(result.bytesNeeded, 100 - 2 + 2);
  },
});

const ERROR_CASES: {
  name: string;
  input: string;
  message: string;
  type: new (...args: never[]) => Error;
}[] = [
  {
    name: "a bulk length over the limit",
    input: "*1\r\n$600000000\r\n",
    message: "Protocol error: invalid bulk length",
    type: LimitError,
  },
  {
    name: "a bulk length with a plus sign",
    input: "*1\r\n$+3\r\nabc\r\n",
    message: "Protocol error: invalid bulk length",
    type: LimitError,
  },
  {
    name: "a bulk length with no digits",
    input: "*1\r\n$\r\n",
    message: "Protocol error: invalid bulk length",
    type: LimitError,
  },
  {
    name: "a bulk length with a stray character",
    input: "*1\r\n$3x\r\nabc\r\n",
    message: "Protocol error: invalid bulk length",
    type: LimitError,
  },
  {
    name: "a bulk length of 20 digits",
    input: "*1\r\n$12345678901234567890\r\n",
    message: "Protocol error: invalid bulk length",
    type: LimitError,
  },
  {
    name: "a negative bulk length",
    input: "*1\r\n$-5\r\n",
    message: "Protocol error: invalid bulk length",
    type: LimitError,
  },
  {
    name: "an array length over the limit",
    input: "*2000000\r\n",
    message: "Protocol error: invalid multibulk length",
    type: LimitError,
  },
  {
    name: "a non-numeric array length",
    input: "*x\r\n",
    message: "Protocol error: invalid multibulk length",
    type: LimitError,
  },
  {
    name: "a missing $",
    input: "*1\r\n:4\r\n",
    message: "Protocol error: expected '$', got ':'",
    type: DecodeError,
  },
  {
    name: "unbalanced quotes inline",
    input: `SET "a b\r\n`,
    message: "Protocol error: unbalanced quotes in request",
    type: DecodeError,
  },
];

for (const { name, input, message, type } of ERROR_CASES) {
  Deno.test({
    name: `decodeCommand() rejects ${name}`,
    permissions: "none",
    fn() {
      const bytes = utf8(input);
      assert.throws(() => decodeCommand(bytes, DEFAULT_LIMITS), (error: Error) => {
        assert.ok(error instanceof type);
        assert.equal(error.message, message);
        return true;
      });
    },
  });
}

Deno.test({
  name: "decodeCommand() rejects an inline line past inlineBytesMax",
  permissions: "none",
  fn() {
    const limits = { ...DEFAULT_LIMITS, inlineBytesMax: 16 };
    const bytes = utf8("x".repeat(40));
    assert.throws(() => decodeCommand(bytes, limits), /too big inline request/);
    const small = utf8("x".repeat(10));
    assert.ok(isIncomplete(decodeCommand(small, limits)));
  },
});

Deno.test({
  name: "splitInline() follows sdssplitargs for escapes and quotes",
  permissions: "none",
  fn() {
    const args = splitInline(utf8(`a  "b\\"c" 'd\\'e' "\\t"`)).map((a) => fromUtf8(a));
    assert.deepEqual(args, ["a", 'b"c', "d'e", "\t"]);
    assert.throws(() => splitInline(utf8(`"a"b`)), /unbalanced/);
  },
});

Deno.test({
  name: "encodeCommand() and decodeCommand() round-trip",
  permissions: "none",
  fn() {
    const bytes = encodeCommand(["SET", "key", utf8("v\r\n"), 42]);
    const result = decodeCommand(bytes, DEFAULT_LIMITS);
    assert.ok(!isIncomplete(result));
    assert.deepEqual(result.value.map((a) => fromUtf8(a)), ["SET", "key", "v\r\n", "42"]);
    assert.equal(result.bytesUsed, bytes.length);
  },
});

Deno.test({
  name: "ReplyWriter writes RESP2 and RESP3 forms, decodeReply() reads them back split every way",
  permissions: "none",
  fn() {
    for (const protocol of [2, 3] as const) {
      const out = new ReplyWriter();
      out.protocol = protocol;
      out.ok();
      out.integer(-12);
      out.bulkString("hi");
      out.nullBulk();
      out.mapHeader(1);
      out.bulkString("k");
      out.integer(1);
      out.pushHeader(2);
      out.bulkString("message");
      out.bulkString("x");
      const bytes = out.take().slice();
      for (const { label, chunks } of splitEveryWay(bytes)) {
        const values = [];
        let buf = new Uint8Array(0);
        for (const chunk of chunks) {
          const next = new Uint8Array(buf.length + chunk.length);
          next.set(buf);
          next.set(chunk, buf.length);
          buf = next;
          let offset = 0;
          while (true) {
            const result = decodeReply(buf, DEFAULT_LIMITS, offset);
            if (isIncomplete(result)) break;
            values.push(result.value);
            offset += result.bytesUsed;
          }
          buf = buf.slice(offset);
        }
        assert.equal(values.length, 6, `${protocol} ${label}`);
        assert.deepEqual(values[0], new RespSimple("OK"));
        assert.equal(values[1], -12);
        assert.deepEqual(values[2], utf8("hi"));
        assert.equal(values[3], null);
        if (protocol === 3) {
          assert.ok(values[4] instanceof RespMap);
          assert.ok(values[5] instanceof RespPush);
        } else {
          assert.deepEqual(values[4], [utf8("k"), 1]);
          assert.ok(Array.isArray(values[5]));
        }
      }
    }
  },
});

Deno.test({
  name: "ReplyWriter.integer() writes every magnitude as String() does",
  permissions: "none",
  fn() {
    const values: (number | bigint)[] = [0, 1, 9, 10, 99, 100, 12345, -1, -10, 2 ** 31 - 1];
    values.push(2 ** 31, 2 ** 32 + 7, 1e15, 2 ** 53 - 1, 9223372036854775807n, -(2 ** 31));
    for (const n of values) {
      const out = new ReplyWriter();
      out.integer(n);
      assert.equal(fromUtf8(out.take()), `:${n}\r\n`, String(n));
    }
  },
});

Deno.test({
  name:
    "ReplyWriter.integralDouble() writes the digits doubleText(String(n)) would, in RESP2 and RESP3",
  permissions: "none",
  fn() {
    const values = [1, 9, 10, 99, 100, 12345, 123456789, -1, -10, -123456789];
    values.push(2 ** 31 - 1, -(2 ** 31), 1_000_000_000, -1_000_000_000);
    for (const protocol of [2, 3] as const) {
      for (const n of values) {
        const out = new ReplyWriter();
        out.protocol = protocol;
        out.integralDouble(n);
        const expected = new ReplyWriter();
        expected.protocol = protocol;
        expected.doubleText(String(n));
        assert.equal(fromUtf8(out.take()), fromUtf8(expected.take()), `${n} RESP${protocol}`);
      }
    }
  },
});

Deno.test({
  name: "decodeCommand() returns views of the right bytes when the buffer is itself a view",
  permissions: "none",
  fn() {
    const whole = utf8("garbage*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    const buf = whole.subarray(7);
    const result = decodeCommand(buf, DEFAULT_LIMITS);
    assert.ok(!isIncomplete(result));
    assert.deepEqual(result.value.map((a) => fromUtf8(a)), ["GET", "k"]);
  },
});

/** One reply each, in the wire forms redis-server sends. */
const REPLY_CASES: { name: string; input: string; expected: RespValue }[] = [
  { name: "a simple string", input: "+OK\r\n", expected: new RespSimple("OK") },
  { name: "an error", input: "-ERR no\r\n", expected: new RespError("ERR no") },
  { name: "an integer", input: ":-42\r\n", expected: -42 },
  { name: "a bulk string", input: "$5\r\nhello\r\n", expected: utf8("hello") },
  { name: "a bulk string holding CRLF", input: "$2\r\n\r\n\r\n", expected: utf8("\r\n") },
  { name: "a RESP2 null bulk", input: "$-1\r\n", expected: null },
  { name: "a RESP2 null array", input: "*-1\r\n", expected: null },
  { name: "a RESP3 null", input: "_\r\n", expected: null },
  { name: "a boolean", input: "#t\r\n", expected: true },
  { name: "a double", input: ",1.5\r\n", expected: new RespDouble(1.5) },
  {
    name: "a big number",
    input: "(3492890328409238509324850943850943825024385\r\n",
    expected: 3492890328409238509324850943850943825024385n,
  },
  { name: "a blob error", input: "!9\r\nERR sorry\r\n", expected: new RespError("ERR sorry") },
  {
    name: "a verbatim string",
    input: "=7\r\ntxt:abc\r\n",
    expected: new RespVerbatim("txt", utf8("abc")),
  },
  {
    name: "a nested array",
    input: "*2\r\n*1\r\n:1\r\n$1\r\nx\r\n",
    expected: [[1], utf8("x")],
  },
  { name: "a set", input: "~2\r\n:1\r\n:2\r\n", expected: new RespSet([1, 2]) },
  {
    name: "a map",
    input: "%1\r\n$1\r\nk\r\n:1\r\n",
    expected: new RespMap([[utf8("k"), 1]]),
  },
  {
    name: "a push",
    input: ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
    expected: new RespPush([utf8("message"), utf8("ch"), utf8("hi")]),
  },
];

for (const { name, input, expected } of REPLY_CASES) {
  Deno.test({
    name: `decodeReply() ${name}, every way`,
    permissions: "none",
    fn() {
      assert.deepEqual(assertDecodesEveryWay(reply, utf8(input)), expected);
    },
  });
}

Deno.test({
  name: "decodeReply() says how many bytes an announced bulk inside an array still needs",
  permissions: "none",
  fn() {
    const input = utf8("*2\r\n:1\r\n$100\r\nabc");
    const result = decodeReply(input, DEFAULT_LIMITS);
    assert.ok(isIncomplete(result));
    assert.equal(result.bytesNeeded, 100 - 3 + 2);
  },
});

Deno.test({
  name: "decodeReply() rejects a bulk length with no digits or over the limit",
  permissions: "none",
  fn() {
    assert.throws(() => decodeReply(utf8("$\r\n"), DEFAULT_LIMITS), DecodeError);
    assert.throws(() => decodeReply(utf8("$x1\r\n"), DEFAULT_LIMITS), DecodeError);
    const limits = { ...DEFAULT_LIMITS, bulkBytesMax: 10 };
    assert.throws(() => decodeReply(utf8("$11\r\n"), limits), DecodeError);
  },
});

Deno.test({
  name: "decodeCommandSpans() resumes where it stopped and ends with the same arguments",
  permissions: "none",
  fn() {
    const args = Array.from({ length: 300 }, (_, i) => `key:${i}`);
    const bytes = encodeCommand(["DEL", ...args]);
    const spans = new CommandSpans();
    let resumes = 0;
    // Fed 7 bytes more at a time, as small reads would bring them.
    for (let to = 1; to <= bytes.length; to += 7) {
      const decoded = decodeCommandSpans(
        bytes,
        DEFAULT_LIMITS,
        0,
        Math.min(to, bytes.length),
        spans,
      );
      if (!isIncomplete(decoded)) break;
      assert.ok(decoded.bytesNeeded >= 0);
      resumes++;
    }
    const done = decodeCommandSpans(bytes, DEFAULT_LIMITS, 0, bytes.length, spans);
    assert.ok(!isIncomplete(done));
    assert.equal(done.bytesUsed, bytes.length);
    assert.ok(resumes > 10);
    const views = spans.views(bytes, 0).map((view) => new TextDecoder().decode(view));
    assert.deepEqual(views, ["DEL", ...args]);
    spans.reset();
    assert.equal(spans.count, 0);
    assert.equal(spans.offsets.length, 128, "a table grown for 301 arguments is given back");
  },
});

Deno.test({
  name: "CommandArgs holds a 200,000-argument command without an object per argument",
  permissions: "none",
  fn() {
    const bytes = encodeCommand(["DEL", ...Array.from({ length: 200_000 }, (_, i) => `k${i}`)]);
    const spans = new CommandSpans();
    const decoded = decodeCommandSpans(bytes, DEFAULT_LIMITS, 0, bytes.length, spans);
    assert.ok(!isIncomplete(decoded));
    const before = Deno.memoryUsage().heapUsed;
    const args = CommandArgs.fromSpans(bytes, 0, spans);
    // One view per argument would be about 22 MB of heap, alive as long as `args`.
    assert.ok(Deno.memoryUsage().heapUsed - before < 4 * 1024 * 1024);
    assert.equal(args.length, 200_001);
    assert.equal(fromUtf8(args.at(200_000)), "k199999");
    assert.deepEqual(args.slice(1, 3).map(fromUtf8), ["k0", "k1"]);
    assert.deepEqual([...CommandArgs.of([utf8("a")])].map(fromUtf8), ["a"]);
  },
});
