// The shared codec check must pass a correct decoder and catch the usual
// mistakes: reading past `to`, completing on a prefix, overstating need.

import assert from "node:assert/strict";
import type { Bytes } from "../../lib/bytes.ts";
import { type Decoded, needMore } from "../../lib/decode.ts";
import { assertDecodesEveryWay } from "./split.ts";

/** A one-octet length prefix and that many octets (a copy). */
function decodeFrame(buf: Bytes, from: number, to: number): Decoded<number[]> {
  if (to - from < 1) return needMore(1);
  const length = buf[from];
  if (to - from < 1 + length) return needMore(1 + length - (to - from));
  return { value: [...buf.subarray(from + 1, from + 1 + length)], bytesUsed: 1 + length };
}

Deno.test("assertDecodesEveryWay() passes a correct decoder, with trailing bytes too", () => {
  assert.deepEqual(assertDecodesEveryWay(decodeFrame, new Uint8Array([3, 7, 8, 9])), [7, 8, 9]);
  assertDecodesEveryWay(decodeFrame, new Uint8Array([1, 5, 99, 99]), { bytesUsed: 2 });
});

Deno.test("assertDecodesEveryWay() catches a decoder that reads past `to`", () => {
  const sloppy = (buf: Bytes, from: number, _to: number) => decodeFrame(buf, from, buf.length);
  assert.throws(() => assertDecodesEveryWay(sloppy, new Uint8Array([2, 1, 2])));
});

Deno.test("assertDecodesEveryWay() catches a decoder that overstates what it needs", () => {
  const greedy = (buf: Bytes, from: number, to: number): Decoded<number[]> => {
    const result = decodeFrame(buf, from, to);
    return result.incomplete ? needMore(result.bytesNeeded + 1) : result;
  };
  assert.throws(() => assertDecodesEveryWay(greedy, new Uint8Array([2, 1, 2])));
});

Deno.test("assertDecodesEveryWay() catches a decoder that throws on a prefix", () => {
  const throwing = (buf: Bytes, from: number, to: number) => {
    if (to - from === 1) throw new SyntaxError("boom");
    return decodeFrame(buf, from, to);
  };
  assert.throws(() => assertDecodesEveryWay(throwing, new Uint8Array([2, 1, 2])));
});
