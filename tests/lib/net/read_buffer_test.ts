// ReadBuffer: compaction only when the free tail is short, growth toward an
// announced length only as bytes arrive, the size bound, shrinking back.

import assert from "node:assert/strict";
import { LimitError } from "../../../lib/errors.ts";
import { type ByteSource, ReadBuffer } from "../../../lib/net/read_buffer.ts";

/** A source that hands out `sizes` bytes per read (filling what it is given up to that), then EOF. */
function source(sizes: number[]): ByteSource & { offered: number[] } {
  let next = 0;
  const offered: number[] = [];
  return {
    offered,
    read(into: Uint8Array): Promise<number | null> {
      offered.push(into.length);
      if (next >= sizes.length) return Promise.resolve(null);
      const n = Math.min(sizes[next++], into.length);
      for (let i = 0; i < n; i++) into[i] = (next + i) & 0xff;
      return Promise.resolve(n);
    },
  };
}

Deno.test("ReadBuffer.fill() reads into the free tail and returns null at EOF", async () => {
  const input = new ReadBuffer({ initialBytes: 64, sizeBytesMax: 1024 });
  const src = source([10, 5]);
  assert.equal(await input.fill(src), 10);
  assert.equal(await input.fill(src), 5);
  assert.deepEqual(src.offered, [64, 54]);
  assert.equal(input.length, 15);
  assert.equal(await input.fill(src), null);
  assert.equal(input.length, 15);
});

Deno.test("ReadBuffer restarts at 0 for free once everything is consumed", async () => {
  const input = new ReadBuffer({ initialBytes: 64, sizeBytesMax: 1024 });
  const src = source([40, 40]);
  await input.fill(src);
  input.consume(40);
  await input.fill(src);
  assert.equal(input.start, 0);
  assert.equal(input.end, 40);
});

Deno.test("ReadBuffer compacts only when the free tail is short", async () => {
  const input = new ReadBuffer({ initialBytes: 64, sizeBytesMax: 1024, readBytesMin: 16 });
  const src = source([40, 10, 4]);
  await input.fill(src); // [0, 40)
  input.consume(30); // 10 live at [30, 40); tail 24 >= 16: no compaction
  await input.fill(src);
  assert.equal(input.start, 30, "a long enough tail is read into where it is");
  assert.equal(input.end, 50);
  assert.equal(src.offered[1], 24);
  await input.fill(src); // tail 14 < 16: the 20 live bytes move to the front first
  assert.equal(input.start, 0);
  assert.equal(input.end, 24);
  assert.equal(src.offered[2], 44);
  assert.equal(input.capacity, 64, "compacted, not grown");
});

Deno.test("ReadBuffer grows toward an announced length only as bytes arrive", async () => {
  const input = new ReadBuffer({ initialBytes: 64, sizeBytesMax: 1 << 30, readBytesMin: 16 });
  // A peer announces a huge message and trickles 10 bytes at a time.
  const src = source(Array(40).fill(10));
  let received = 0;
  for (let i = 0; i < 40; i++) {
    const n = await input.fill(src, 512 * 1024 * 1024 - received);
    received += n!;
    assert.ok(
      input.capacity <= Math.max(64, 2 * received + 16),
      `capacity ${input.capacity} after ${received} bytes`,
    );
  }
  assert.equal(input.length, 400);
});

Deno.test("ReadBuffer grows to exactly what the message still needs when that is less than double", async () => {
  const input = new ReadBuffer({ initialBytes: 64, sizeBytesMax: 1024, readBytesMin: 16 });
  const src = source([60, 20]);
  await input.fill(src); // full up to 4 bytes: tail short, nothing consumed
  await input.fill(src, 20);
  assert.equal(input.capacity, 80);
  assert.equal(input.length, 80);
});

Deno.test("ReadBuffer doubles when the length is unknown", async () => {
  const input = new ReadBuffer({ initialBytes: 64, sizeBytesMax: 1024, readBytesMin: 16 });
  const src = source([60, 60]);
  await input.fill(src);
  await input.fill(src);
  assert.equal(input.capacity, 128);
});

Deno.test("ReadBuffer throws LimitError once full at sizeBytesMax", async () => {
  const input = new ReadBuffer({ initialBytes: 64, sizeBytesMax: 100, readBytesMin: 16 });
  const src = source(Array(10).fill(64));
  await input.fill(src); // 64
  await input.fill(src); // grown to 100, 36 more
  assert.equal(input.length, 100);
  await assert.rejects(() => input.fill(src), LimitError);
});

Deno.test("ReadBuffer at sizeBytesMax still compacts consumed bytes away", async () => {
  const input = new ReadBuffer({ initialBytes: 64, sizeBytesMax: 100, readBytesMin: 16 });
  const src = source([64, 64, 64]);
  await input.fill(src);
  await input.fill(src); // 100 bytes, capacity 100
  input.consume(60);
  assert.equal(await input.fill(src), 60);
  assert.equal(input.capacity, 100);
});

Deno.test("ReadBuffer shrinks back after a big message is consumed", async () => {
  const input = new ReadBuffer({ initialBytes: 64, sizeBytesMax: 4096, readBytesMin: 16 });
  const src = source(Array(8).fill(512).concat([10]));
  for (let i = 0; i < 8; i++) await input.fill(src, 4000);
  assert.ok(input.capacity > 256);
  input.consume(input.length);
  await input.fill(src);
  assert.equal(input.capacity, 64);
});

Deno.test("ReadBuffer.take() copies and consumes; append() adds bytes read elsewhere", () => {
  const input = new ReadBuffer({ initialBytes: 8, sizeBytesMax: 64 });
  input.append(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
  assert.equal(input.length, 10);
  const first = input.take(4);
  assert.deepEqual([...first], [1, 2, 3, 4]);
  assert.deepEqual([...input.view()], [5, 6, 7, 8, 9, 10]);
  assert.throws(() => input.consume(7), RangeError);
  assert.throws(() => input.append(new Uint8Array(60)), LimitError);
});

Deno.test("ReadBuffer takes a lowered sizeBytesMax at its next growth", async () => {
  const input = new ReadBuffer({ initialBytes: 64, sizeBytesMax: 1 << 20 });
  const src = source([64, 64, 64, 64]);
  assert.equal(await input.fill(src), 64);
  input.sizeBytesMax = 128;
  assert.equal(input.sizeBytesMax, 128);
  assert.equal(await input.fill(src), 64);
  assert.equal(input.capacity, 128);
  await assert.rejects(() => input.fill(src), LimitError);
  assert.throws(() => input.sizeBytesMax = 10, RangeError);
});
