// decodeRequestHead / decodeResponseHead: golden heads decoded whole, split
// at every byte boundary and fed byte by byte (every strict prefix is
// "incomplete"), and a table of bad heads with the status each maps to.

import assert from "node:assert/strict";
import { type Bytes, concat, fromAscii } from "../../../lib/bytes.ts";
import { toWireError } from "../../../lib/http/errors.ts";
import {
  decodeRequestHead,
  decodeResponseHead,
  DEFAULT_LIMITS,
  type RequestHead,
  responseFraming,
  ResponseHeadMemo,
} from "../../../lib/http/head.ts";
import { isIncomplete } from "../../../lib/decode.ts";
import { assertDecodesEveryWay } from "../../_support/split.ts";

interface Golden {
  name: string;
  input: string;
  check: (head: RequestHead) => void;
}

const GOLDEN: Golden[] = [
  {
    name: "GET with repeated fields kept and case-insensitive lookup",
    input: "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\nAccept: a\r\naccept: b\r\n" +
      "X-Empty:\r\nX-Pad:  \t v  \r\n\r\n",
    check(head) {
      assert.equal(head.method, "GET");
      assert.equal(head.path, "/a/b");
      assert.equal(head.query, "x=1&y=2");
      assert.equal(head.form, "origin");
      assert.deepEqual(head.headers.getAll("ACCEPT"), ["a", "b"]);
      assert.equal(head.headers.get("accept"), "a, b");
      assert.equal(head.headers.get("x-empty"), "");
      assert.equal(head.headers.get("x-pad"), "v");
      assert.deepEqual(head.framing, { kind: "none" });
      assert.equal(head.keepAlive, true);
    },
  },
  {
    name: "POST with Content-Length (RFC 9112 section 6.2)",
    input: "POST /spells HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n",
    check(head) {
      assert.deepEqual(head.framing, { kind: "length", length: 12 });
    },
  },
  {
    name: "chunked with Expect: 100-continue",
    input:
      "PUT /f HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\nExpect: 100-continue\r\n\r\n",
    check(head) {
      assert.deepEqual(head.framing, { kind: "chunked" });
      assert.equal(head.expectContinue, true);
    },
  },
  {
    name: "absolute-form (RFC 9112 section 3.2.2)",
    input: "GET http://example.com:8080/x/y?q HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
    check(head) {
      assert.equal(head.form, "absolute");
      assert.equal(head.path, "/x/y");
      assert.equal(head.query, "q");
    },
  },
  {
    name: "asterisk-form for OPTIONS",
    input: "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    check(head) {
      assert.equal(head.form, "asterisk");
    },
  },
  {
    name: "HTTP/1.0 with keep-alive and no Host",
    input: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
    check(head) {
      assert.equal(head.version, "1.0");
      assert.equal(head.keepAlive, true);
    },
  },
  {
    name: "HTTP/1.1 Connection: close, after an empty line",
    input: "\r\nGET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    check(head) {
      assert.equal(head.keepAlive, false);
    },
  },
];

for (const golden of GOLDEN) {
  Deno.test({
    name: `decodeRequestHead() decodes ${golden.name}, split every way`,
    permissions: "none",
    fn() {
      const input = fromAscii(golden.input);
      const decode = (buf: Bytes, from: number, to: number) =>
        decodeRequestHead(buf, DEFAULT_LIMITS, from, to);
      golden.check(assertDecodesEveryWay(decode, input));
      // Bytes after the head belong to the body or the next request.
      const withNext = concat([input, fromAscii("GET / HTTP/1.1\r\n")]);
      golden.check(assertDecodesEveryWay(decode, withNext, { bytesUsed: input.length }));
    },
  });
}

const BAD: [string, string, number][] = [
  ["missing Host", "GET / HTTP/1.1\r\n\r\n", 400],
  ["bare LF", "GET / HTTP/1.1\nHost: h\n\n", 400],
  ["obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400],
  ["space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400],
  [
    "CL and TE",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    400,
  ],
  ["bad CL", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n", 400],
  ["unknown coding", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: br\r\n\r\n", 501],
  ["HTTP/3.0", "GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505],
  ["long request line", `GET /${"a".repeat(8200)} HTTP/1.1\r\nHost: h\r\n\r\n`, 414],
  ["long header section", `GET / HTTP/1.1\r\nHost: h\r\nX: ${"a".repeat(33000)}\r\n\r\n`, 431],
  ["Expect: other", "GET / HTTP/1.1\r\nHost: h\r\nExpect: x\r\n\r\n", 417],
];

for (const [name, text, status] of BAD) {
  Deno.test({
    name: `decodeRequestHead() rejects ${name} with ${status}, however it arrives`,
    permissions: "none",
    fn() {
      const input = fromAscii(text);
      assert.throws(() => decodeRequestHead(input), (e) => toWireError(e).status === status);
      // Byte by byte: it may throw early, but never accepts and always ends in the same status.
      let thrown: unknown;
      for (let end = 1; end <= input.length && thrown === undefined; end++) {
        try {
          assert.ok(isIncomplete(decodeRequestHead(input.subarray(0, end))));
        } catch (error) {
          thrown = error;
        }
      }
      assert.equal(toWireError(thrown).status, status);
    },
  });
}

Deno.test({
  name: "decodeRequestHead() stops a line with no end at the limit, not at the end of memory",
  permissions: "none",
  fn() {
    const endless = fromAscii("GET /" + "a".repeat(DEFAULT_LIMITS.requestLineBytes + 10));
    assert.throws(() => decodeRequestHead(endless), (e) => toWireError(e).status === 414);
  },
});

Deno.test({
  name: "decodeResponseHead() decodes a status line and framing, split every way",
  permissions: "none",
  fn() {
    const input = fromAscii(
      "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    const head = assertDecodesEveryWay(
      (buf, from, to) => decodeResponseHead(buf, DEFAULT_LIMITS, from, to),
      input,
    );
    assert.equal(head.status, 404);
    assert.equal(head.reason, "Not Found");
    assert.deepEqual(responseFraming("GET", head), { kind: "chunked" });
    assert.deepEqual(responseFraming("HEAD", head), { kind: "none" });
    const noLength = decodeResponseHead(fromAscii("HTTP/1.0 200 OK\r\n\r\n"));
    assert.ok(!isIncomplete(noLength));
    assert.deepEqual(responseFraming("GET", noLength.value), { kind: "close" });
    assert.throws(() => decodeResponseHead(fromAscii("HTTP/1.1 2000 OK\r\n\r\n")), SyntaxError);
  },
});

Deno.test({
  name: "decodeResponseHead() with a memo decodes every head as without one",
  permissions: "none",
  fn() {
    const ok =
      "HTTP/1.1 200 OK\r\nDate: Wed, 02 Dec 2026 10:00:00 GMT\r\nContent-Length: 5\r\n\r\n";
    const heads = [
      ok,
      ok, // from the memo
      ok.replace("10:00:00", "10:00:01"), // one byte differs
      "HTTP/1.1 100 Continue\r\n\r\n",
      ok,
      ok.replace("200 OK", "404 Not Found"),
      "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n",
      `HTTP/1.1 200 OK\r\nX-Long: ${"a".repeat(3000)}\r\n\r\n`, // too long to remember
      `HTTP/1.1 200 OK\r\nX-Long: ${"a".repeat(3000)}\r\n\r\n`,
      ok,
    ];
    const memo = new ResponseHeadMemo();
    const shape = (decoded: ReturnType<typeof decodeResponseHead>) =>
      isIncomplete(decoded) ? "incomplete" : {
        status: decoded.value.status,
        reason: decoded.value.reason,
        version: decoded.value.version,
        fields: [...decoded.value.headers],
        bytesUsed: decoded.bytesUsed,
      };
    const current: boolean[] = [];
    for (const head of heads) {
      // Each head followed by body bytes, and first cut short (incomplete, nothing remembered).
      const bytes = fromAscii(head + "hello");
      const cut = bytes.subarray(0, head.length - 1);
      assert.equal(
        shape(decodeResponseHead(cut, DEFAULT_LIMITS, 0, cut.length, memo)),
        "incomplete",
      );
      assert.equal(memo.current, false);
      const decoded = decodeResponseHead(bytes, DEFAULT_LIMITS, 0, bytes.length, memo);
      assert.deepEqual(shape(decoded), shape(decodeResponseHead(bytes)), head.slice(0, 40));
      current.push(memo.current);
      // What a caller keeps with a remembered head is dropped when another is remembered.
      if (memo.current && memo.framing === undefined) memo.framing = { kind: "none" };
    }
    assert.deepEqual(current, [true, true, true, true, true, true, true, false, false, true]);
    // Another head: decoded, remembered, and what the caller kept is dropped.
    const shorter = fromAscii("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    const decoded = decodeResponseHead(shorter, DEFAULT_LIMITS, 0, shorter.length, memo);
    assert.ok(!isIncomplete(decoded) && decoded.bytesUsed === shorter.length);
    assert.equal(memo.framing, undefined);
    // A bad head is refused with or without a memo.
    const bad = fromAscii("HTTP/1.1 2000 OK\r\n\r\n");
    assert.throws(() => decodeResponseHead(bad, DEFAULT_LIMITS, 0, bad.length, memo), SyntaxError);
    assert.equal(memo.current, false);
  },
});
