// "Split every test input every way" (docs/architecture.md): the same bytes delivered
// whole, cut at each possible point into two reads, and one byte at a time.

import assert from "node:assert/strict";
import type { Bytes } from "../../lib/bytes.ts";
import { type Decoded, INCOMPLETE, isIncomplete } from "../../lib/decode.ts";

/** Every way of delivering `input` that parsers must treat alike. */
export function* splitEveryWay(
  input: Uint8Array,
): Generator<{ label: string; chunks: Uint8Array[] }> {
  yield { label: "whole", chunks: [input] };
  for (let at = 1; at < input.length; at++) {
    yield { label: `split at ${at}`, chunks: [input.subarray(0, at), input.subarray(at)] };
  }
  if (input.length > 2) {
    yield {
      label: "byte by byte",
      chunks: Array.from(input, (_, i) => input.subarray(i, i + 1)),
    };
  }
}

/** A `read()` source that hands out the given chunks, then end of stream. */
export class ChunkSource {
  #chunks: Uint8Array[];
  #current: Uint8Array | undefined;
  reads = 0;

  constructor(chunks: readonly Uint8Array[]) {
    this.#chunks = [...chunks];
  }

  read(into: Uint8Array): Promise<number | null> {
    this.reads++;
    while (this.#current === undefined || this.#current.length === 0) {
      this.#current = this.#chunks.shift();
      if (this.#current === undefined) return Promise.resolve(null);
    }
    const n = Math.min(into.length, this.#current.length);
    into.set(this.#current.subarray(0, n));
    this.#current = this.#current.subarray(n);
    return Promise.resolve(n);
  }
}

/** A decoder under the lib/decode.ts contract, with its limits already bound. */
export type BoundDecoder<T> = (buf: Bytes, from: number, to: number) => Decoded<T>;

/**
 * The check every codec's golden cases go through (docs/architecture.md habit 3): the
 * message decodes the same whole, at an offset inside a larger buffer with
 * junk on both sides (so it never reads outside `[from, to)`), and fed in
 * pieces split at every point and byte by byte; every strict prefix returns
 * incomplete without throwing, and never claims to need more bytes than the
 * message has left. Returns the value decoded whole for further asserts.
 */
export function assertDecodesEveryWay<T>(
  decode: BoundDecoder<T>,
  input: Uint8Array,
  options: { bytesUsed?: number } = {},
): T {
  const bytes = new Uint8Array(input) as Bytes;
  const used = options.bytesUsed ?? bytes.length;
  const whole = decode(bytes, 0, bytes.length);
  if (isIncomplete(whole)) throw new Error("the whole message decoded as incomplete");
  assert.equal(whole.bytesUsed, used, "bytes used by the whole message");

  const padded = new Uint8Array(bytes.length + 16) as Bytes;
  padded.fill(0xa5);
  padded.set(bytes, 8);
  const offset = decode(padded, 8, 8 + bytes.length);
  if (isIncomplete(offset)) throw new Error("the message at an offset decoded as incomplete");
  assert.deepEqual(offset.value, whole.value, "the same value at an offset");
  assert.equal(offset.bytesUsed, used, "bytes used at an offset");

  for (let end = 0; end < used; end++) {
    let result: Decoded<T>;
    try {
      result = decode(bytes, 0, end);
    } catch (error) {
      throw new Error(`a strict prefix of ${end} bytes threw: ${error}`);
    }
    if (!isIncomplete(result)) {
      throw new Error(`a strict prefix of ${end} bytes decoded as complete`);
    }
    assert.ok(
      result.bytesNeeded <= used - end,
      `a prefix of ${end} bytes claims to need ${result.bytesNeeded} more of ${used - end}`,
    );
  }

  for (const { label, chunks } of splitEveryWay(bytes.subarray(0, used))) {
    const buffer = new Uint8Array(used) as Bytes;
    let filled = 0;
    let result: Decoded<T> = INCOMPLETE;
    for (const chunk of chunks) {
      assert.ok(isIncomplete(result), `${label}: complete before every piece arrived`);
      buffer.set(chunk, filled);
      filled += chunk.length;
      result = decode(buffer, 0, filled);
    }
    if (isIncomplete(result)) throw new Error(`${label}: incomplete after every piece`);
    assert.deepEqual(result.value, whole.value, `${label}: the same value`);
  }
  return whole.value;
}
