// The aws-chunked push machine, fed every way a body can be split; the
// chunk-signature chain against the AWS guide's streaming example; CRC-32
// and CRC-32C check values.

import assert from "node:assert/strict";
import {
  AwsChunkedDecoder,
  type AwsChunkedEvent,
  AwsChunkedSyntaxError,
} from "../../../lib/s3/aws_chunked.ts";
import { Crc32 } from "../../../lib/s3/checksums.ts";
import { sha256, toHex } from "../../../lib/s3/sha256.ts";
import { chunkStringToSign, parseAmzDate, sign, signingKey } from "../../../lib/s3/sigv4.ts";
import { splitEveryWay } from "../../_support/split.ts";
import { LimitError } from "../../../lib/errors.ts";

const encoder = new TextEncoder();

/** Events with data pieces joined, so any split gives the same list. */
function decodeAll(chunks: Uint8Array[]): unknown[] {
  const decoder = new AwsChunkedDecoder();
  const out: unknown[] = [];
  for (const chunk of chunks) {
    const events: AwsChunkedEvent[] = [];
    decoder.push(chunk, events);
    for (const event of events) {
      const last = out[out.length - 1] as { kind: string; text?: string } | undefined;
      if (event.kind === "data") {
        const text = new TextDecoder().decode(event.bytes);
        if (last?.kind === "data") last.text += text;
        else out.push({ kind: "data", text });
      } else out.push(event);
    }
  }
  assert.ok(decoder.done, "not done");
  return out;
}

const SIG_A = "a".repeat(64), SIG_B = "b".repeat(64), SIG_C = "c".repeat(64);

const GOLDEN: { name: string; body: string; events: unknown[] }[] = [
  {
    name: "signed chunks (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)",
    body: `5;chunk-signature=${SIG_A}\r\nhello\r\n` +
      `1;chunk-signature=${SIG_B}\r\n!\r\n0;chunk-signature=${SIG_C}\r\n\r\n`,
    events: [
      { kind: "chunk", sizeBytes: 5, signature: SIG_A },
      { kind: "data", text: "hello" },
      { kind: "chunk-end" },
      { kind: "chunk", sizeBytes: 1, signature: SIG_B },
      { kind: "data", text: "!" },
      { kind: "chunk-end" },
      { kind: "chunk", sizeBytes: 0, signature: SIG_C },
      { kind: "end" },
    ],
  },
  {
    name: "unsigned chunks with a checksum trailer (STREAMING-UNSIGNED-PAYLOAD-TRAILER)",
    body: "a\r\n0123456789\r\n0\r\nx-amz-checksum-crc32:RjOLgw==\r\n\r\n",
    events: [
      { kind: "chunk", sizeBytes: 10, signature: undefined },
      { kind: "data", text: "0123456789" },
      { kind: "chunk-end" },
      { kind: "chunk", sizeBytes: 0, signature: undefined },
      { kind: "trailer", name: "x-amz-checksum-crc32", value: "RjOLgw==" },
      { kind: "end" },
    ],
  },
];

for (const golden of GOLDEN) {
  Deno.test(`AwsChunkedDecoder reads ${golden.name}, split every way`, {
    permissions: "none",
  }, () => {
    for (const { label, chunks } of splitEveryWay(encoder.encode(golden.body))) {
      assert.deepEqual(decodeAll(chunks), golden.events, label);
    }
  });
}

Deno.test(
  "AwsChunkedDecoder refuses malformed bodies and long lines",
  { permissions: "none" },
  () => {
    const bad: [string, new (...args: never[]) => Error][] = [
      ["zz\r\n", AwsChunkedSyntaxError],
      ["5\r\nhello!\r\n", AwsChunkedSyntaxError],
      ["5\nhello\r\n", AwsChunkedSyntaxError],
      ["0\r\nno colon\r\n", AwsChunkedSyntaxError],
      ["0\r\n\r\nmore", AwsChunkedSyntaxError],
      ["5;chunk-signature=" + "x".repeat(5000), LimitError],
    ];
    for (const [body, type] of bad) {
      assert.throws(() => new AwsChunkedDecoder().push(encoder.encode(body), []), type, body);
    }
  },
);

Deno.test("chunk signatures chain as in the AWS guide's streaming example", {
  permissions: "none",
}, () => {
  // https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html: a
  // 66560-byte object of "a" in a 65536-byte chunk, a 1024-byte chunk and
  // the final empty one.
  const scope = {
    accessKey: "AKIAIOSFODNN7EXAMPLE",
    date: "20130524",
    region: "us-east-1",
    service: "s3",
  };
  const key = signingKey("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", scope);
  assert.ok(parseAmzDate("20130524T000000Z"));
  let previous = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
  const expected = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
  ];
  for (const [i, size] of [65536, 1024, 0].entries()) {
    const data = new Uint8Array(size).fill(0x61);
    const signature = sign(
      key,
      chunkStringToSign("20130524T000000Z", scope, previous, toHex(sha256(data))),
    );
    assert.equal(signature, expected[i], `chunk ${i}`);
    previous = signature;
  }
});

Deno.test("Crc32 gives the check values of CRC-32 and CRC-32C", { permissions: "none" }, () => {
  const check = encoder.encode("123456789");
  assert.equal(new Crc32("crc32").update(check).value(), 0xcbf43926);
  assert.equal(new Crc32("crc32c").update(check).value(), 0xe3069283);
  // Incremental: the same in two pieces.
  assert.equal(
    new Crc32("crc32").update(check.subarray(0, 4)).update(check.subarray(4)).value(),
    0xcbf43926,
  );
});
