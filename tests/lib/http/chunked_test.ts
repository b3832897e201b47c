// ChunkedDecoder: golden chunked bodies (RFC 9112 section 7.1) fed whole,
// split at every byte boundary and byte by byte give the same data and
// trailers and stop exactly at the end of the body; bad bodies fail however
// they arrive. encodeChunk round-trips through the decoder.

import assert from "node:assert/strict";
import { type Bytes, concat, fromAscii } from "../../../lib/bytes.ts";
import { ChunkedDecoder, encodeChunk, encodeLastChunk } from "../../../lib/http/chunked.ts";
import { toWireError } from "../../../lib/http/errors.ts";
import { HttpHeaders } from "../../../lib/http/headers.ts";
import { splitEveryWay } from "../../_support/split.ts";

function decodeAll(chunks: Uint8Array[]): { data: string; used: number; trailers: HttpHeaders } {
  const decoder = new ChunkedDecoder();
  const parts: Bytes[] = [];
  let used = 0;
  for (const chunk of chunks) {
    if (decoder.done) break;
    const out: Bytes[] = [];
    const n = decoder.push(chunk as Bytes, out);
    parts.push(...out.map((p) => p.slice()));
    used += n;
    if (!decoder.done) assert.equal(n, chunk.length, "consumed less before the end");
  }
  assert.ok(decoder.done, "body not finished");
  return { data: new TextDecoder().decode(concat(parts)), used, trailers: decoder.trailers };
}

const GOLDEN: [string, string, string, Record<string, string>][] = [
  [
    "RFC-style body",
    "4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n",
    "Wikipedia in\r\n\r\nchunks.",
    {},
  ],
  ["empty body", "0\r\n\r\n", "", {}],
  [
    "extensions and uppercase hex",
    "A;name=val;x\r\n0123456789\r\n0;last\r\n\r\n",
    "0123456789",
    {},
  ],
  ["trailers", "3\r\nabc\r\n0\r\nExpires: never\r\nX-Sum:  42 \r\n\r\n", "abc", {
    expires: "never",
    "x-sum": "42",
  }],
];

for (const [name, body, data, trailers] of GOLDEN) {
  Deno.test({
    name: `ChunkedDecoder decodes ${name}, split every way`,
    permissions: "none",
    fn() {
      const input = fromAscii(body);
      const withNext = concat([input, fromAscii("GET / HTTP/1.1\r\n")]);
      for (const { label, chunks } of splitEveryWay(withNext)) {
        const result = decodeAll(chunks);
        assert.equal(result.data, data, label);
        assert.equal(result.used, input.length, label);
        assert.deepEqual(result.trailers.toObject(), trailers, label);
      }
    },
  });
}

const BAD: [string, string, number][] = [
  ["a size that is not hex", "zz\r\n", 400],
  ["a negative size", "-1\r\na\r\n", 400],
  ["a size that overflows", "fffffffffffffffff\r\n", 400],
  ["data longer than its size", "2\r\nabc\r\n", 400],
  ["a bare LF after the size", "2\nab\r\n0\r\n\r\n", 400],
  ["a bad trailer", "0\r\nno colon here\r\n\r\n", 400],
  ["an endless size line", "1" + ";".repeat(5000), 400],
];

for (const [name, body, status] of BAD) {
  Deno.test({
    name: `ChunkedDecoder rejects ${name}, however it arrives`,
    permissions: "none",
    fn() {
      for (const { label, chunks } of splitEveryWay(fromAscii(body))) {
        assert.throws(() => decodeAll(chunks), (e) => toWireError(e).status === status, label);
      }
    },
  });
}

Deno.test({
  name: "encodeChunk and encodeLastChunk round-trip through ChunkedDecoder",
  permissions: "none",
  fn() {
    const trailers = new HttpHeaders([["x-checksum", "abc"]]);
    const wire = concat([
      encodeChunk(fromAscii("hello ")),
      encodeChunk(new Uint8Array(0)),
      encodeChunk(fromAscii("x".repeat(300))),
      encodeLastChunk(trailers),
    ]);
    const result = decodeAll([wire]);
    assert.equal(result.data, "hello " + "x".repeat(300));
    assert.equal(result.trailers.get("X-Checksum"), "abc");
    assert.equal(
      new TextDecoder().decode(encodeChunk(fromAscii("x".repeat(300))).subarray(0, 5)),
      "12c\r\n",
    );
  },
});
