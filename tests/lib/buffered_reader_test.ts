import assert from "node:assert/strict";
import { BufferedReader } from "../../lib/buffered_reader.ts";
import { fromUtf8, utf8 } from "../../lib/bytes.ts";
import { DecodeError, LimitError, UnexpectedEofError } from "../../lib/errors.ts";
import { ChunkSource, splitEveryWay } from "../_support/split.ts";

function text(bytes: Uint8Array | null): string | null {
  return bytes === null ? null : fromUtf8(bytes);
}

async function readAllLines(
  chunks: Uint8Array[],
  options: { bytesMax: number; bareLf?: "reject" | "accept" },
  chunkBytes?: number,
): Promise<string[]> {
  const reader = new BufferedReader(new ChunkSource(chunks), { chunkBytes });
  const lines: string[] = [];
  let line;
  while ((line = await reader.readLine(options)) !== null) lines.push(fromUtf8(line));
  return lines;
}

const LINE_CASES: {
  name: string;
  input: string;
  bytesMax: number;
  bareLf?: "accept";
  lines: string[];
}[] = [
  { name: "one line", input: "PING\r\n", bytesMax: 100, lines: ["PING"] },
  { name: "several lines", input: "a\r\nbb\r\nccc\r\n", bytesMax: 100, lines: ["a", "bb", "ccc"] },
  { name: "empty lines", input: "\r\n\r\nx\r\n", bytesMax: 100, lines: ["", "", "x"] },
  { name: "line exactly at the limit", input: "12345\r\n", bytesMax: 5, lines: ["12345"] },
  { name: "CR inside a line is data", input: "a\rb\r\n", bytesMax: 10, lines: ["a\rb"] },
  {
    name: "bare LF accepted when asked",
    input: "a\nb\r\n",
    bytesMax: 10,
    bareLf: "accept",
    lines: ["a", "b"],
  },
  { name: "UTF-8 passes through", input: "héllo ✓\r\n", bytesMax: 20, lines: ["héllo ✓"] },
];

for (const c of LINE_CASES) {
  Deno.test(`BufferedReader.readLine() reads ${c.name}, split every way`, async () => {
    for (const { label, chunks } of splitEveryWay(utf8(c.input))) {
      for (const chunkBytes of [1, 3, 4096]) {
        const lines = await readAllLines(
          chunks,
          { bytesMax: c.bytesMax, bareLf: c.bareLf },
          chunkBytes,
        );
        assert.deepEqual(lines, c.lines, `${label}, chunkBytes ${chunkBytes}`);
      }
    }
  });
}

const LINE_ERRORS: {
  name: string;
  input: string;
  bytesMax: number;
  error: new (...a: never[]) => Error;
}[] = [
  { name: "a line one byte over the limit", input: "123456\r\n", bytesMax: 5, error: LimitError },
  {
    name: "an endless line with no terminator",
    input: "x".repeat(5000),
    bytesMax: 100,
    error: LimitError,
  },
  { name: "a bare LF", input: "abc\n", bytesMax: 100, error: DecodeError },
  { name: "a bare LF on an empty line", input: "\n", bytesMax: 100, error: DecodeError },
  { name: "end of stream mid-line", input: "abc", bytesMax: 100, error: UnexpectedEofError },
  { name: "end of stream after CR", input: "abc\r", bytesMax: 100, error: UnexpectedEofError },
];

for (const c of LINE_ERRORS) {
  Deno.test(`BufferedReader.readLine() rejects ${c.name}, split every way`, async () => {
    for (const { label, chunks } of splitEveryWay(utf8(c.input))) {
      await assert.rejects(() => readAllLines(chunks, { bytesMax: c.bytesMax }), c.error, label);
    }
  });
}

Deno.test("BufferedReader.readLine() stops reading an oversized line without buffering it all", async () => {
  // 10 MB of one line; the reader must give up after roughly the limit.
  let served = 0;
  const source = {
    read(into: Uint8Array) {
      into.fill(0x61);
      served += into.length;
      return Promise.resolve(served > 10_000_000 ? null : into.length);
    },
  };
  const reader = new BufferedReader(source);
  await assert.rejects(() => reader.readLine({ bytesMax: 1000 }), LimitError);
  assert.ok(served < 100_000, `read ${served} bytes before giving up`);
});

Deno.test("BufferedReader.readLine() returns copies that survive later reads", async () => {
  const reader = new BufferedReader(new ChunkSource([utf8("first\r\nsecond\r\n")]));
  const first = await reader.readLine({ bytesMax: 10 });
  const second = await reader.readLine({ bytesMax: 10 });
  assert.equal(text(first), "first");
  assert.equal(text(second), "second");
});

Deno.test("BufferedReader.readExact() reads lengths around the buffer size, split every way", async () => {
  const payload = utf8("0123456789abcdefghij");
  for (const { label, chunks } of splitEveryWay(payload)) {
    for (const chunkBytes of [1, 4, 7, 64]) {
      const reader = new BufferedReader(new ChunkSource(chunks), { chunkBytes });
      assert.equal(text(await reader.readExact(3)), "012", label);
      assert.equal(text(await reader.readExact(0)), "", label);
      assert.equal(text(await reader.readExact(10)), "3456789abc", label);
      assert.equal(text(await reader.readExact(7)), "defghij", label);
      assert.equal(await reader.readExact(1), null, label);
    }
  }
});

Deno.test("BufferedReader mixes lines and exact reads (RESP bulk strings)", async () => {
  const input = utf8("$5\r\nhello\r\n$0\r\n\r\n");
  for (const { label, chunks } of splitEveryWay(input)) {
    const reader = new BufferedReader(new ChunkSource(chunks), { chunkBytes: 2 });
    assert.equal(text(await reader.readLine({ bytesMax: 20 })), "$5", label);
    assert.equal(text(await reader.readExact(5)), "hello", label);
    assert.equal(text(await reader.readLine({ bytesMax: 20 })), "", label);
    assert.equal(text(await reader.readLine({ bytesMax: 20 })), "$0", label);
    assert.equal(text(await reader.readExact(0)), "", label);
    assert.equal(text(await reader.readLine({ bytesMax: 20 })), "", label);
    assert.equal(await reader.readLine({ bytesMax: 20 }), null, label);
  }
});

Deno.test("BufferedReader.readExact() throws UnexpectedEofError when the stream ends part way", async () => {
  for (const { label, chunks } of splitEveryWay(utf8("abcde"))) {
    const reader = new BufferedReader(new ChunkSource(chunks), { chunkBytes: 2 });
    await assert.rejects(() => reader.readExact(6), UnexpectedEofError, label);
  }
});

Deno.test("BufferedReader.readExact() rejects negative and fractional lengths", async () => {
  const reader = new BufferedReader(new ChunkSource([]));
  await assert.rejects(() => reader.readExact(-1), RangeError);
  await assert.rejects(() => reader.readExact(1.5), RangeError);
});

Deno.test("BufferedReader.readExact() of a large body reads straight into the result", async () => {
  const big = new Uint8Array(1_000_000).map((_, i) => i % 251);
  const chunks = [];
  for (let i = 0; i < big.length; i += 65536) chunks.push(big.subarray(i, i + 65536));
  const source = new ChunkSource(chunks);
  const reader = new BufferedReader(source);
  const out = await reader.readExact(big.length);
  assert.deepEqual(out, big);
  assert.ok(source.reads < 40, `${source.reads} reads for 1 MB`);
});

Deno.test("BufferedReader.readUntil() finds a delimiter split across reads", async () => {
  const input = utf8("SEND\ndestination:/q\n\nbody\0CONNECT\n\n\0");
  for (const { label, chunks } of splitEveryWay(input)) {
    const reader = new BufferedReader(new ChunkSource(chunks), { chunkBytes: 3 });
    assert.equal(text(await reader.readUntil(utf8("\n\n"), 100)), "SEND\ndestination:/q", label);
    assert.equal(text(await reader.readUntil(utf8("\0"), 100)), "body", label);
    assert.equal(text(await reader.readUntil(utf8("\n\n"), 100)), "CONNECT", label);
    assert.equal(text(await reader.readUntil(utf8("\0"), 100)), "", label);
    assert.equal(await reader.readUntil(utf8("\0"), 100), null, label);
  }
});

Deno.test("BufferedReader.readUntil() finds the SMTP end-of-data marker", async () => {
  const input = utf8("Subject: hi\r\n\r\nline\r\n.\r\nQUIT\r\n");
  for (const { label, chunks } of splitEveryWay(input)) {
    const reader = new BufferedReader(new ChunkSource(chunks), { chunkBytes: 5 });
    assert.equal(
      text(await reader.readUntil(utf8("\r\n.\r\n"), 100)),
      "Subject: hi\r\n\r\nline",
      label,
    );
    assert.equal(text(await reader.readLine({ bytesMax: 10 })), "QUIT", label);
  }
});

Deno.test("BufferedReader.readUntil() enforces its limit and reports a cut-off stream", async () => {
  const reader = new BufferedReader(new ChunkSource([utf8("x".repeat(500) + "\0")]), {
    chunkBytes: 16,
  });
  await assert.rejects(() => reader.readUntil(utf8("\0"), 100), LimitError);
  const cut = new BufferedReader(new ChunkSource([utf8("no end here")]));
  await assert.rejects(() => cut.readUntil(utf8("\0"), 100), UnexpectedEofError);
  const exact = new BufferedReader(new ChunkSource([utf8("12345\0")]));
  assert.equal(text(await exact.readUntil(utf8("\0"), 5)), "12345");
});

Deno.test("BufferedReader.readSome() streams what is buffered in bounded pieces", async () => {
  const reader = new BufferedReader(new ChunkSource([utf8("line\r\nabcdefgh")]));
  assert.equal(text(await reader.readLine({ bytesMax: 10 })), "line");
  assert.equal(text(await reader.readSome(3)), "abc");
  assert.equal(text(await reader.readSome(100)), "defgh");
  assert.equal(await reader.readSome(100), null);
});

Deno.test("BufferedReader handles many pipelined lines without quadratic work", async () => {
  const count = 50_000;
  const input = utf8("SET key value\r\n".repeat(count));
  const chunks = [];
  for (let i = 0; i < input.length; i += 1000) chunks.push(input.subarray(i, i + 1000));
  const source = new ChunkSource(chunks);
  const reader = new BufferedReader(source, { chunkBytes: 4096 });
  let lines = 0;
  while (await reader.readLine({ bytesMax: 64 }) !== null) lines++;
  assert.equal(lines, count);
  // About one source read per 1000-byte chunk: the free tail is kept large.
  assert.ok(
    source.reads <= chunks.length * 1.3,
    `${source.reads} reads for ${chunks.length} chunks`,
  );
});

Deno.test("BufferedReader.peekBuffered() shows unconsumed bytes without consuming them", async () => {
  const reader = new BufferedReader(new ChunkSource([utf8("a\r\nrest")]));
  await reader.readLine({ bytesMax: 5 });
  assert.equal(fromUtf8(reader.peekBuffered()), "rest");
  assert.equal(reader.buffered, 4);
  assert.equal(text(await reader.readExact(4)), "rest");
  assert.equal(reader.eof, false);
  assert.equal(await reader.readLine({ bytesMax: 5 }), null);
  assert.equal(reader.eof, true);
});

Deno.test("BufferedReader works over a real TCP connection", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serverSide = (async () => {
    using conn = await listener.accept();
    const reader = new BufferedReader(conn);
    const got: string[] = [];
    let line;
    while ((line = await reader.readLine({ bytesMax: 100 })) !== null) got.push(fromUtf8(line));
    return got;
  })();
  {
    using client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    for (const piece of ["HE", "LO x\r", "\nQUIT\r\n"]) {
      await client.write(utf8(piece));
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  assert.deepEqual(await serverSide, ["HELO x", "QUIT"]);
});
