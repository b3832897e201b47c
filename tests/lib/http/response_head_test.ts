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

Deno.test("RepeatedResponse keeps bytes for a response sent twice and matches only its equal", () => {
  const repeated = new RepeatedResponse();
  const sent = fromAscii("sent bytes");
  const headers = { a: "1", b: "2" };
  assert.equal(repeated.match(200, headers, "body", 0), null);
  repeated.remember(200, headers, "body", 0, sent);
  // Seen once: nothing kept yet, so a stream of different responses copies nothing.
  assert.equal(repeated.match(200, headers, "body", 0), null);
  repeated.remember(200, headers, "body", 0, sent);
  const kept = repeated.match(200, headers, "body", 0);
  assert.ok(kept !== null && kept !== sent, "a copy is kept");
  assert.deepEqual(kept, sent);
  sent[0] = 0; // the caller's buffer is reused for the next response
  assert.equal(new TextDecoder().decode(repeated.match(200, headers, "body", 0)!), "sent bytes");
  // Equal strings that are not the same object still match.
  assert.equal(repeated.match(200, { a: String(1), b: "2" }, ["bo", "dy"].join(""), 0), kept);
  const misses: [number, Record<string, string> | undefined, string, number][] = [
    [201, { a: "1", b: "2" }, "body", 0],
    [200, { a: "1", b: "3" }, "body", 0],
    [200, { b: "2", a: "1" }, "body", 0],
    [200, { a: "1" }, "body", 0],
    [200, { a: "1", b: "2", c: "3" }, "body", 0],
    [200, undefined, "body", 0],
    [200, { a: "1", b: "2" }, "Body", 0],
    [200, { a: "1", b: "2" }, "body", 1],
  ];
  for (const [status, fields, body, flags] of misses) {
    assert.equal(repeated.match(status, fields, body, flags), null, JSON.stringify(fields));
  }
  // A different response replaces the entry; its bytes are kept once it repeats.
  repeated.remember(204, undefined, "", 2, sent);
  assert.equal(repeated.match(204, undefined, "", 2), null);
  repeated.remember(204, undefined, "", 2, sent);
  assert.ok(repeated.match(204, {}, "", 2) !== null);
  assert.equal(repeated.match(200, headers, "body", 0), null);
});
