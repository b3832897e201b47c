// The response head writer: field checks against response splitting, the
// fields the server owns, and RepeatedResponse, which must hand back its
// bytes only for a response equal in every part to the one it remembers.

import assert from "node:assert/strict";
import { fromAscii } from "../../../lib/bytes.ts";
import { checkField, RepeatedResponse, responseHeadText } from "../../../lib/http/response_head.ts";

Deno.test("responseHeadText() drops framing fields and hands back Content-Length", () => {
  const { text, userLength } = responseHeadText(
    201,
    { "X-A": "1", "Content-Length": "7", "transfer-encoding": "chunked", Connection: "x" },
    true,
    "1.1",
  );
  assert.match(
    text,
    /^HTTP\/1\.1 201 Created\r\nX-A: 1\r\ndate: [^\r]+ GMT\r\nconnection: close\r\n$/,
  );
  assert.equal(userLength, "7");
  assert.match(
    responseHeadText(200, [["a", "b"]], false, "1.0").text,
    /connection: keep-alive\r\n$/,
  );
  assert.throws(() => responseHeadText(99, undefined, false, "1.1"), TypeError);
  assert.throws(() => responseHeadText(200.5, undefined, false, "1.1"), TypeError);
});

Deno.test("checkField() refuses names that are not tokens and values with CR, LF or NUL", () => {
  checkField("x-ok", "any value \t with obs-text \u00e9");
  for (
    const [name, value] of [
      ["", "v"],
      ["a b", "v"],
      ["a:", "v"],
      ["\u00e9", "v"],
      ["x", "a\r\nb"],
      ["x", "a\nb"],
      ["x", "a\0"],
    ]
  ) {
    assert.throws(() => checkField(name, value), TypeError, JSON.stringify([name, value]));
  }
});

Deno.test("RepeatedResponse reuses a head for equal parts and bytes for a response sent twice", () => {
  const repeated = new RepeatedResponse();
  const sent = fromAscii("sent bytes");
  const headers = { a: "1", b: "2" };
  assert.equal(repeated.head(200, headers, 0), undefined);
  repeated.remember(200, headers, 0, "HEAD TEXT", "body");
  // Equal strings that are not the same object still match.
  assert.equal(repeated.head(200, { a: String(1), b: "2" }, 0), "HEAD TEXT");

  // The same body once more: nothing kept yet; sent() keeps a copy of what went out.
  assert.equal(repeated.bytes("body"), null);
  repeated.sent("body", sent);
  assert.equal(repeated.head(200, headers, 0), "HEAD TEXT");
  const kept = repeated.bytes(["bo", "dy"].join(""));
  assert.ok(kept !== null && kept !== sent, "a copy is kept");
  sent[0] = 0; // the caller's buffer is reused for the next response
  assert.equal(new TextDecoder().decode(kept), "sent bytes");

  // Another body: the head is still reused, no bytes are kept for it yet.
  assert.equal(repeated.head(200, headers, 0), "HEAD TEXT");
  assert.equal(repeated.bytes("other"), null);
  repeated.sent("other", sent);
  assert.equal(repeated.bytes("body"), null, "only the last body is remembered");

  const misses: [number, Record<string, string> | undefined, number][] = [
    [201, { a: "1", b: "2" }, 0],
    [200, { a: "1", b: "3" }, 0],
    [200, { b: "2", a: "1" }, 0],
    [200, { a: "1" }, 0],
    [200, { a: "1", b: "2", c: "3" }, 0],
    [200, undefined, 0],
    [200, { a: "1", b: "2" }, 1],
  ];
  for (const [status, fields, flags] of misses) {
    assert.equal(repeated.head(status, fields, flags), undefined, JSON.stringify(fields));
  }
  // A different response replaces the entry.
  repeated.remember(204, undefined, 2, "OTHER HEAD", "");
  assert.equal(repeated.head(204, {}, 2), "OTHER HEAD");
  assert.equal(repeated.head(200, headers, 0), undefined);
});
