// aws-chunked uploads over a real socket, as the AWS SDKs and the aws CLI
// send them: signed chunks (each signature chained on the last), unsigned
// chunks with a trailing checksum, and x-amz-checksum-* in a header; a bad
// chunk signature, a bad checksum or a short body stores nothing.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Crc32 } from "../../../lib/s3/checksums.ts";
import {
  chunkStringToSign,
  sign,
  signingKey,
  STREAMING_SIGNED,
  STREAMING_UNSIGNED_TRAILER,
} from "../../../lib/s3/sigv4.ts";
import { service } from "../../../services/objects/mod.ts";
import { startService } from "../../_support/service.ts";
import { CREDENTIALS, S3TestClient, xmlField } from "./_s3.ts";

const encoder = new TextEncoder();

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Encodes `data` as signed aws-chunked chunks of `chunkBytes`. */
function signedChunks(
  data: Uint8Array,
  chunkBytes: number,
  seed: string,
  amzDate: string,
  corruptChunk = -1,
): Uint8Array {
  const scope = {
    accessKey: CREDENTIALS.accessKey,
    date: amzDate.slice(0, 8),
    region: "us-east-1",
    service: "s3",
  };
  const key = signingKey(CREDENTIALS.secretKey, scope);
  const parts: Uint8Array[] = [];
  let previous = seed;
  let index = 0;
  for (let at = 0;; at += chunkBytes) {
    const chunk = data.subarray(at, Math.min(at + chunkBytes, data.length));
    const hash = createHash("sha256").update(chunk).digest("hex");
    let signature = sign(key, chunkStringToSign(amzDate, scope, previous, hash));
    previous = signature;
    if (index++ === corruptChunk) signature = "0".repeat(64);
    parts.push(encoder.encode(`${chunk.length.toString(16)};chunk-signature=${signature}\r\n`));
    if (chunk.length === 0) {
      parts.push(encoder.encode("\r\n"));
      break;
    }
    parts.push(chunk, encoder.encode("\r\n"));
  }
  return concat(parts);
}

/** Encodes `data` as unsigned chunks ending with a CRC-32 trailer. */
function unsignedWithTrailer(data: Uint8Array, chunkBytes: number, crc: string): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < data.length; at += chunkBytes) {
    const chunk = data.subarray(at, Math.min(at + chunkBytes, data.length));
    parts.push(encoder.encode(`${chunk.length.toString(16)}\r\n`), chunk, encoder.encode("\r\n"));
  }
  parts.push(encoder.encode(`0\r\nx-amz-checksum-crc32:${crc}\r\n\r\n`));
  return concat(parts);
}

const crc32Of = (data: Uint8Array) =>
  Buffer.from(new Crc32("crc32").update(data).digest()).toString("base64");

Deno.test("objects: aws-chunked uploads, signed and with trailing checksums", async () => {
  await using svc = await startService(service);
  await using s3 = new S3TestClient(svc.addresses.http);
  await s3.text("PUT", "/chunky");
  const data = new Uint8Array(200_000).map((_, i) => (i * 31) & 0xff);
  const md5 = createHash("md5").update(data).digest("hex");
  const streamingHeaders = (hash: string) => ({
    "content-encoding": "aws-chunked",
    "x-amz-content-sha256": hash,
    "x-amz-decoded-content-length": String(data.length),
  });

  // Signed chunks of 64 KiB.
  let r = await s3.text("PUT", "/chunky/signed", {
    headers: streamingHeaders(STREAMING_SIGNED),
    bodyFromSeed: (seed, amzDate) => signedChunks(data, 65536, seed, amzDate),
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get("etag"), `"${md5}"`);
  let got = await s3.send("GET", "/chunky/signed");
  assert.deepEqual(new Uint8Array(await got.arrayBuffer()), data);
  assert.equal(got.headers.get("content-encoding"), null); // aws-chunked is not the object's

  // A chunk whose signature is wrong: refused, nothing stored.
  r = await s3.text("PUT", "/chunky/forged", {
    headers: streamingHeaders(STREAMING_SIGNED),
    bodyFromSeed: (seed, amzDate) => signedChunks(data, 65536, seed, amzDate, 1),
  });
  assert.equal(r.status, 403);
  assert.equal(xmlField(r.text, "Code"), "SignatureDoesNotMatch");
  assert.equal((await s3.text("HEAD", "/chunky/forged")).status, 404);

  // Unsigned chunks with a CRC-32 trailer; the checksum comes back when asked.
  const crc = crc32Of(data);
  r = await s3.text("PUT", "/chunky/trailer", {
    headers: {
      ...streamingHeaders(STREAMING_UNSIGNED_TRAILER),
      "x-amz-trailer": "x-amz-checksum-crc32",
    },
    body: unsignedWithTrailer(data, 8192, crc),
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get("x-amz-checksum-crc32"), crc);
  got = await s3.send("GET", "/chunky/trailer", { headers: { "x-amz-checksum-mode": "ENABLED" } });
  assert.equal(got.headers.get("x-amz-checksum-crc32"), crc);
  assert.deepEqual(new Uint8Array(await got.arrayBuffer()), data);
  got = await s3.send("GET", "/chunky/trailer");
  assert.equal(got.headers.get("x-amz-checksum-crc32"), null);
  await got.body?.cancel();

  r = await s3.text("PUT", "/chunky/badcrc", {
    headers: {
      ...streamingHeaders(STREAMING_UNSIGNED_TRAILER),
      "x-amz-trailer": "x-amz-checksum-crc32",
    },
    body: unsignedWithTrailer(data, 8192, crc32Of(data.subarray(1))),
  });
  assert.equal(r.status, 400);
  assert.equal(xmlField(r.text, "Code"), "BadDigest");
  assert.equal((await s3.text("HEAD", "/chunky/badcrc")).status, 404);

  // The decoded length must match what arrived.
  r = await s3.text("PUT", "/chunky/short", {
    headers: {
      ...streamingHeaders(STREAMING_UNSIGNED_TRAILER),
      "x-amz-trailer": "x-amz-checksum-crc32",
      "x-amz-decoded-content-length": String(data.length + 1),
    },
    body: unsignedWithTrailer(data, 8192, crc),
  });
  assert.equal(xmlField(r.text, "Code"), "IncompleteBody");

  // Checksums in a header, for a plain body: SHA-256, SHA-1, CRC-32C.
  const small = encoder.encode("checksummed");
  for (
    const [name, value] of [
      ["x-amz-checksum-sha256", createHash("sha256").update(small).digest("base64")],
      ["x-amz-checksum-sha1", createHash("sha1").update(small).digest("base64")],
      [
        "x-amz-checksum-crc32c",
        Buffer.from(new Crc32("crc32c").update(small).digest()).toString("base64"),
      ],
    ]
  ) {
    r = await s3.text("PUT", "/chunky/small", { body: small, headers: { [name]: value } });
    assert.equal(r.status, 200, `${name}: ${r.text}`);
    r = await s3.text("HEAD", "/chunky/small", { headers: { "x-amz-checksum-mode": "ENABLED" } });
    assert.equal(r.headers.get(name), value);
    r = await s3.text("PUT", "/chunky/small", {
      body: small,
      headers: { [name]: "AAAA" + value.slice(4) },
    });
    assert.equal(xmlField(r.text, "Code"), "BadDigest", name);
  }
});

Deno.test("objects: each malformed checksum or trailer gets the error S3 gives", async () => {
  await using svc = await startService(service);
  await using s3 = new S3TestClient(svc.addresses.http);
  await s3.text("PUT", "/chunky");
  const data = encoder.encode("some data to check");
  const crc = crc32Of(data);
  const chunked = (trailers: string) =>
    encoder.encode(
      `${data.length.toString(16)}\r\n${new TextDecoder().decode(data)}\r\n0\r\n${trailers}\r\n`,
    );
  const put = (body: Uint8Array, headers: Record<string, string>) =>
    s3.text("PUT", "/chunky/edge", {
      body,
      headers: {
        "content-encoding": "aws-chunked",
        "x-amz-content-sha256": STREAMING_UNSIGNED_TRAILER,
        "x-amz-decoded-content-length": String(data.length),
        ...headers,
      },
    });
  const cases: [string, Promise<{ status: number; text: string }>, string, RegExp][] = [
    [
      "a trailer announced and not sent",
      put(chunked(""), { "x-amz-trailer": "x-amz-checksum-crc32" }),
      "MalformedTrailerError",
      /trailing data that was not well-formed/,
    ],
    [
      "a trailer other than the one announced",
      put(chunked(`x-amz-checksum-crc32c:${crc}\r\n`), { "x-amz-trailer": "x-amz-checksum-crc32" }),
      "MalformedTrailerError",
      /not well-formed/,
    ],
    [
      "a trailer nobody announced",
      put(chunked(`x-amz-checksum-crc32:${crc}\r\n`), {}),
      "MalformedTrailerError",
      /not well-formed/,
    ],
    [
      "a trailer whose value is not a CRC-32",
      put(chunked(`x-amz-checksum-crc32:bm90IGEgY3Jj\r\n`), {
        "x-amz-trailer": "x-amz-checksum-crc32",
      }),
      "InvalidRequest",
      /^Value for x-amz-checksum-crc32 trailing header is invalid\.$/,
    ],
    [
      "a trailer that disagrees with the data",
      put(chunked(`x-amz-checksum-crc32:${crc32Of(data.subarray(1))}\r\n`), {
        "x-amz-trailer": "x-amz-checksum-crc32",
      }),
      "BadDigest",
      /^The CRC32 you specified did not match the calculated checksum\.$/,
    ],
    [
      "broken chunk framing",
      put(encoder.encode(`zz\r\n${new TextDecoder().decode(data)}\r\n0\r\n\r\n`), {}),
      "IncompleteBody",
      /terminated unexpectedly/,
    ],
    [
      "two checksum headers",
      s3.text("PUT", "/chunky/edge", {
        body: data,
        headers: {
          "x-amz-checksum-crc32": crc,
          "x-amz-checksum-sha1": createHash("sha1").update(data).digest("base64"),
        },
      }),
      "InvalidRequest",
      /^Expecting a single x-amz-checksum- header\. Multiple checksum Types are not allowed\.$/,
    ],
    [
      "a checksum header that is not base64 of the right size",
      s3.text("PUT", "/chunky/edge", { body: data, headers: { "x-amz-checksum-crc32": "abc" } }),
      "InvalidRequest",
      /^Value for x-amz-checksum-crc32 header is invalid\.$/,
    ],
  ];
  for (const [name, pending, code, message] of cases) {
    const r = await pending;
    assert.equal(r.status, 400, `${name}: ${r.text}`);
    assert.equal(xmlField(r.text, "Code"), code, name);
    assert.match(xmlField(r.text, "Message")!, message, name);
  }
  assert.equal((await s3.text("HEAD", "/chunky/edge")).status, 404);
});
