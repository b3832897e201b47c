// decodeFrame() and encodeFrame(): golden frames from the STOMP 1.2 spec
// and from real clients, each also split at every point and fed byte by
// byte (STYLE.md habit 3); escaping per version; the limits.

import assert from "node:assert/strict";
import { type Bytes, fromUtf8, utf8 } from "../../../lib/bytes.ts";
import { isIncomplete } from "../../../lib/decode.ts";
import { DecodeError, LimitError } from "../../../lib/errors.ts";
import {
  decodeFrame,
  encodeFrame,
  heartBeatIntervalMs,
  parseHeartBeat,
} from "../../../lib/stomp/codec.ts";
import {
  DEFAULT_LIMITS,
  type Frame,
  makeFrame,
  type StompLimits,
  type StompVersion,
} from "../../../lib/stomp/types.ts";
import { assertDecodesEveryWay } from "../../_support/split.ts";

const NUL = "\0";

interface Case {
  name: string;
  input: string;
  version?: StompVersion;
  expected: Frame;
  bytesUsed?: number;
}

const CASES: Case[] = [
  {
    name: "the spec's CONNECT example (1.2 'Connecting')",
    input: "CONNECT\naccept-version:1.2\nhost:stomp.github.org\n\n" + NUL,
    expected: makeFrame("CONNECT", { "accept-version": "1.2", host: "stomp.github.org" }),
  },
  {
    name: "a SEND with CR LF line ends and a body up to the NUL",
    input: "SEND\r\ndestination:/queue/a\r\ncontent-type:text/plain\r\n\r\nhello queue a" + NUL,
    expected: makeFrame(
      "SEND",
      { destination: "/queue/a", "content-type": "text/plain" },
      "hello queue a",
    ),
  },
  {
    name: "a body with NUL octets read by content-length",
    input: "SEND\ndestination:/queue/bin\ncontent-length:5\n\na\0b\0c" + NUL,
    expected: makeFrame(
      "SEND",
      { destination: "/queue/bin", "content-length": "5" },
      new Uint8Array([0x61, 0, 0x62, 0, 0x63]) as Bytes,
    ),
  },
  {
    name: "the first of a repeated header is kept, and both stay in order",
    input: "MESSAGE\nfoo:World\nfoo:Hello\n\n" + NUL,
    expected: makeFrame("MESSAGE", [["foo", "World"], ["foo", "Hello"]]),
  },
  {
    name: "1.2 escapes unescaped: \\r \\n \\c \\\\",
    input: "SEND\ndestination:/queue/a\nweird\\cname:line1\\nline2\\r\\\\end\n\n" + NUL,
    expected: makeFrame("SEND", [["destination", "/queue/a"], [
      "weird:name",
      "line1\nline2\r\\end",
    ]]),
  },
  {
    name: "CONNECT headers are not unescaped (1.2 'Value Encoding')",
    input: "CONNECT\nlogin:a\\cb\n\n" + NUL,
    expected: makeFrame("CONNECT", { login: "a\\cb" }),
  },
  {
    name: "1.0 headers are not unescaped",
    input: "SEND\ndestination:/queue/a\\b\n\n" + NUL,
    version: "1.0",
    expected: makeFrame("SEND", { destination: "/queue/a\\b" }),
  },
  {
    name: "a header value may hold colons",
    input: "SEND\ndestination:/queue/a\nreply-to:tcp://x:1\n\n" + NUL,
    version: "1.0",
    expected: makeFrame("SEND", { destination: "/queue/a", "reply-to": "tcp://x:1" }),
  },
  {
    name: "UTF-8 headers and body",
    input: "SEND\ndestination:/queue/ünï\n\nçà va" + NUL,
    expected: makeFrame("SEND", { destination: "/queue/ünï" }, "çà va"),
  },
  {
    name: "only the frame is used when more follows",
    input: "DISCONNECT\nreceipt:77\n\n" + NUL + "\n\nSEND\n",
    expected: makeFrame("DISCONNECT", { receipt: "77" }),
    bytesUsed: 24,
  },
];

for (const c of CASES) {
  Deno.test({
    name: `decodeFrame() ${c.name}`,
    permissions: "none",
    fn() {
      const bytes = utf8(c.input);
      const decoded = assertDecodesEveryWay(
        (buf, from, to) => decodeFrame(buf, DEFAULT_LIMITS, from, to, c.version ?? "1.2"),
        bytes,
        { bytesUsed: c.bytesUsed },
      );
      assert.deepEqual(decoded, c.expected);
    },
  });
}

Deno.test({
  name: "decodeFrame() reads heart-beat EOLs as null, one at a time",
  permissions: "none",
  fn() {
    const bytes = utf8("\n\r\nSEND\n\n" + NUL);
    let at = 0;
    const seen: (string | null)[] = [];
    while (at < bytes.length) {
      const result = decodeFrame(bytes, DEFAULT_LIMITS, at);
      if (isIncomplete(result)) throw new Error("incomplete");
      seen.push(result.value === null ? null : result.value.command);
      at += result.bytesUsed;
    }
    assert.deepEqual(seen, [null, null, "SEND"]);
    assert.ok(isIncomplete(decodeFrame(utf8("\r"))), "a lone CR waits for its LF");
  },
});

Deno.test({
  name: "decodeFrame() says how many bytes a content-length body still needs",
  permissions: "none",
  fn() {
    const bytes = utf8("SEND\ncontent-length:100\n\nabc");
    const result = decodeFrame(bytes);
    assert.ok(isIncomplete(result));
    assert.equal(result.bytesNeeded, 98);
  },
});

const SMALL: StompLimits = { frameBytesMax: 64, headersMax: 3, headerBytesMax: 20 };

const BAD: {
  name: string;
  input: string;
  error: typeof DecodeError | typeof LimitError;
  limit?: string;
}[] = [
  { name: "a lower-case command", input: "send\n\n" + NUL, error: DecodeError },
  { name: "a header without a colon", input: "SEND\nnocolon\n\n" + NUL, error: DecodeError },
  { name: "an undefined escape", input: "SEND\na:b\\t\n\n" + NUL, error: DecodeError },
  { name: "\\r in 1.1 is undefined", input: "SEND\na:\\r\n\n" + NUL, error: DecodeError },
  { name: "a bad content-length", input: "SEND\ncontent-length:x\n\n" + NUL, error: DecodeError },
  {
    name: "no NUL after a content-length body",
    input: "SEND\ncontent-length:1\n\nab",
    error: DecodeError,
  },
  {
    name: "too many headers",
    input: "SEND\na:1\nb:2\nc:3\nd:4\n\n" + NUL,
    error: LimitError,
    limit: "headersMax",
  },
  {
    name: "a header line too long, before its end arrives",
    input: "SEND\na:" + "x".repeat(30),
    error: LimitError,
    limit: "headerBytesMax",
  },
  {
    name: "a content-length past the frame bound",
    input: "SEND\ncontent-length:1000\n\n",
    error: LimitError,
    limit: "frameBytesMax",
  },
  {
    name: "a body past the frame bound, before its NUL arrives",
    input: "SEND\n\n" + "y".repeat(70),
    error: LimitError,
    limit: "frameBytesMax",
  },
];

for (const c of BAD) {
  Deno.test({
    name: `decodeFrame() rejects ${c.name}`,
    permissions: "none",
    fn() {
      const version = c.name.includes("1.1") ? "1.1" : "1.2";
      assert.throws(
        () => decodeFrame(utf8(c.input), SMALL, 0, undefined, version),
        (error: unknown) => {
          assert.ok(error instanceof c.error, String(error));
          if (c.limit) assert.equal((error as LimitError).limit, c.limit);
          return true;
        },
      );
    },
  });
}

Deno.test({
  name: "encodeFrame() escapes per version and round-trips through decodeFrame()",
  permissions: "none",
  fn() {
    const frame = makeFrame("MESSAGE", [["a:b", "x\ny\\z"], ["content-length", "3"]], "a\0b");
    const wire12 = encodeFrame(frame, "1.2");
    assert.equal(fromUtf8(wire12), "MESSAGE\na\\cb:x\\ny\\\\z\ncontent-length:3\n\na\0b\0");
    for (const version of ["1.1", "1.2"] as const) {
      const decoded = decodeFrame(
        encodeFrame(frame, version),
        DEFAULT_LIMITS,
        0,
        undefined,
        version,
      );
      if (isIncomplete(decoded)) throw new Error("incomplete");
      assert.deepEqual(decoded.value, frame);
    }
    assert.equal(
      fromUtf8(encodeFrame(makeFrame("MESSAGE", { a: "\r" }), "1.1")),
      "MESSAGE\na:\r\n\n\0",
      "1.1 has no \\r escape",
    );
    assert.throws(() => encodeFrame(makeFrame("CONNECTED", { a: "x\ny" })), TypeError);
    assert.throws(() => encodeFrame(makeFrame("MESSAGE", { a: "x\ny" }), "1.0"), TypeError);
  },
});

Deno.test({
  name: "parseHeartBeat() and heartBeatIntervalMs() follow 1.1 'Heart-beating'",
  permissions: "none",
  fn() {
    assert.deepEqual(parseHeartBeat(undefined), [0, 0]);
    assert.deepEqual(parseHeartBeat("1000,5000"), [1000, 5000]);
    assert.throws(() => parseHeartBeat("abc"), DecodeError);
    assert.equal(heartBeatIntervalMs(0, 100), 0);
    assert.equal(heartBeatIntervalMs(100, 0), 0);
    assert.equal(heartBeatIntervalMs(100, 250), 250);
  },
});
