// The x-amz-checksum-* algorithms: CRC-64/NVME against its catalogue check
// value, the NVMe specification's test cases and values the AWS SDK
// computes, fed in every split; the composite checksum of a multipart object.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  checksumAlgorithmOf,
  checksumBase64,
  checksumHash,
  compositeChecksum,
  Crc32,
  Crc64Nvme,
} from "../../../lib/s3/checksums.ts";

const encoder = new TextEncoder();
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

Deno.test("Crc64Nvme gives CRC-64/NVME's check value", { permissions: "none" }, () => {
  // The CRC catalogue's check: CRC-64/NVME("123456789") = 0xAE8B14860A799888
  // (poly 0xAD93D23594C93659, reflected, init and xorout all ones).
  const crc = new Crc64Nvme().update(encoder.encode("123456789"));
  assert.equal(crc.value(), 0xae8b14860a799888n);
  assert.equal(hex(crc.digest()), "ae8b14860a799888");
});

Deno.test("Crc64Nvme gives the NVMe specification's 4 KiB test cases", {
  permissions: "none",
}, () => {
  // NVM Express NVM Command Set Specification, "64b CRC Test Cases for
  // 4 KiB Logical Block with no Metadata": 4096 bytes of each pattern.
  const block = 4096;
  const cases: [string, Uint8Array, bigint][] = [
    ["all 00h", new Uint8Array(block), 0x6482d367eb22b64en],
    ["all FFh", new Uint8Array(block).fill(0xff), 0xc0ddba7302eca3acn],
    ["incrementing 00h-FFh", new Uint8Array(block).map((_, i) => i & 0xff), 0x3e729f5f6750449cn],
    [
      "decrementing FFh-00h",
      new Uint8Array(block).map((_, i) => 0xff - (i & 0xff)),
      0x9a2df64b8e9e517en,
    ],
  ];
  for (const [name, bytes, want] of cases) {
    assert.equal(new Crc64Nvme().update(bytes).value(), want, name);
  }
});

Deno.test("Crc64Nvme matches the AWS SDK's values, in any split", { permissions: "none" }, () => {
  // Computed with @aws-sdk/checksums' Crc64NvmeJs (the JavaScript SDK's
  // own implementation, used when it sends x-amz-checksum-crc64nvme).
  const cases: [string, string][] = [
    ["", "0000000000000000"],
    ["a", "8c2f8445b4cbfc3c"],
    ["Hello world", "38e259d03f312adb"],
    ["x".repeat(1000), "447f4a8f48606696"],
  ];
  for (const [text, want] of cases) {
    const bytes = encoder.encode(text);
    assert.equal(hex(new Crc64Nvme().update(bytes).digest()), want, JSON.stringify(text));
    for (const at of [0, 1, Math.floor(bytes.length / 2), bytes.length]) {
      if (at > bytes.length) continue;
      const crc = new Crc64Nvme().update(bytes.subarray(0, at)).update(bytes.subarray(at));
      assert.equal(hex(crc.digest()), want, `${JSON.stringify(text.slice(0, 10))} split at ${at}`);
    }
  }
  // Byte by byte over data with every byte value, against one pass.
  const all = new Uint8Array(4096).map((_, i) => (i * 131 + 7) & 0xff);
  const whole = hex(new Crc64Nvme().update(all).digest());
  const byByte = new Crc64Nvme();
  for (let i = 0; i < all.length; i++) byByte.update(all.subarray(i, i + 1));
  assert.equal(hex(byByte.digest()), whole);
});

Deno.test("checksumHash covers the five algorithms S3 takes", { permissions: "none" }, () => {
  const check = encoder.encode("123456789");
  const of = (name: string) => {
    const hash = checksumHash(checksumAlgorithmOf(name)!);
    hash.update(check);
    return hex(hash.digest());
  };
  assert.equal(of("crc32"), "cbf43926");
  assert.equal(of("CRC32C"), "e3069283");
  assert.equal(of("crc64nvme"), "ae8b14860a799888");
  assert.equal(of("sha1"), createHash("sha1").update(check).digest("hex"));
  assert.equal(of("SHA256"), createHash("sha256").update(check).digest("hex"));
  assert.equal(checksumAlgorithmOf("md5"), undefined);
});

Deno.test("compositeChecksum is the checksum of the parts' checksums, then -N", {
  permissions: "none",
}, () => {
  const parts = ["part one", "part two", "3"].map((text) =>
    checksumBase64(new Crc32("crc32").update(encoder.encode(text)).digest())
  );
  const joined = new Crc32("crc32");
  for (const part of parts) joined.update(Buffer.from(part, "base64"));
  assert.equal(compositeChecksum("CRC32", parts), `${checksumBase64(joined.digest())}-3`);
  const sha = createHash("sha256");
  for (const part of parts) sha.update(Buffer.from(part, "base64"));
  assert.equal(compositeChecksum("SHA256", parts), `${sha.digest("base64")}-3`);
});

/** The CRC by its definition, one bit at a time (reflected, init and xorout all ones). */
function bitwiseCrc(bytes: Uint8Array, polynomial: bigint, width: bigint): bigint {
  const mask = (1n << width) - 1n;
  let crc = mask;
  for (const byte of bytes) {
    crc ^= BigInt(byte);
    for (let k = 0; k < 8; k++) crc = crc & 1n ? (crc >> 1n) ^ polynomial : crc >> 1n;
  }
  return crc ^ mask;
}

Deno.test("slicing-by-8 agrees with the bitwise definition at every length and split", {
  permissions: "none",
}, () => {
  const data = new Uint8Array(80).map((_, i) => (i * 167 + 13) & 0xff);
  for (let length = 0; length <= data.length; length++) {
    const bytes = data.subarray(0, length);
    const want32 = bitwiseCrc(bytes, 0xedb88320n, 32n);
    const want32c = bitwiseCrc(bytes, 0x82f63b78n, 32n);
    const want64 = bitwiseCrc(bytes, 0x9a6c9329ac4bc9b5n, 64n);
    for (const at of [0, 1, 3, 7, 8, 9, Math.floor(length / 2), length]) {
      if (at > length) continue;
      const [head, tail] = [bytes.subarray(0, at), bytes.subarray(at)];
      assert.equal(BigInt(new Crc32("crc32").update(head).update(tail).value()), want32);
      assert.equal(BigInt(new Crc32("crc32c").update(head).update(tail).value()), want32c);
      assert.equal(new Crc64Nvme().update(head).update(tail).value(), want64, `${length}/${at}`);
    }
  }
});
