// x-amz-checksum-* over a real socket: CRC64NVME on a PUT (header and
// aws-chunked trailer), and multipart objects' checksums, FULL_OBJECT and
// COMPOSITE, with S3's rules at create, part upload and completion; GET
// ?partNumber and GetObjectAttributes on the parts they leave.

import assert from "node:assert/strict";
import {
  type ChecksumAlgorithm,
  checksumBase64,
  checksumHash,
  compositeChecksum,
} from "../../../lib/s3/checksums.ts";
import { service } from "../../../services/objects/mod.ts";
import { startService } from "../../_support/service.ts";
import { S3TestClient, xmlField, xmlFields } from "./_s3.ts";

const MiB = 1024 * 1024;
const encoder = new TextEncoder();

function checksumOf(algorithm: ChecksumAlgorithm, ...pieces: Uint8Array[]): string {
  const hash = checksumHash(algorithm);
  for (const piece of pieces) hash.update(piece);
  return checksumBase64(hash.digest());
}

async function withObjects(fn: (s3: S3TestClient) => Promise<void>) {
  await using svc = await startService(service);
  await using s3 = new S3TestClient(svc.addresses.http);
  await s3.text("PUT", "/sums");
  await fn(s3);
}

Deno.test("objects: CRC64NVME on a PUT, in a header or an aws-chunked trailer", async () => {
  await withObjects(async (s3) => {
    const data = encoder.encode("checked with CRC-64/NVME\n");
    const crc = checksumOf("CRC64NVME", data);
    let r = await s3.text("PUT", "/sums/a.txt", {
      body: data,
      headers: { "x-amz-checksum-crc64nvme": crc },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get("x-amz-checksum-crc64nvme"), crc);
    assert.equal(r.headers.get("x-amz-checksum-type"), "FULL_OBJECT");
    r = await s3.text("HEAD", "/sums/a.txt", { headers: { "x-amz-checksum-mode": "ENABLED" } });
    assert.equal(r.headers.get("x-amz-checksum-crc64nvme"), crc);
    assert.equal(r.headers.get("x-amz-checksum-type"), "FULL_OBJECT");

    r = await s3.text("PUT", "/sums/bad.txt", {
      body: data,
      headers: { "x-amz-checksum-crc64nvme": checksumOf("CRC64NVME", data.subarray(1)) },
    });
    assert.equal(r.status, 400);
    assert.equal(xmlField(r.text, "Code"), "BadDigest");
    assert.equal((await s3.text("HEAD", "/sums/bad.txt")).status, 404);

    // STREAMING-UNSIGNED-PAYLOAD-TRAILER with the checksum in the trailer.
    const body = encoder.encode(
      `${data.length.toString(16)}\r\n${new TextDecoder().decode(data)}\r\n0\r\n` +
        `x-amz-checksum-crc64nvme:${crc}\r\n\r\n`,
    );
    r = await s3.text("PUT", "/sums/trailer.txt", {
      body,
      headers: {
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "x-amz-trailer": "x-amz-checksum-crc64nvme",
        "x-amz-decoded-content-length": String(data.length),
        "content-encoding": "aws-chunked",
      },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get("x-amz-checksum-crc64nvme"), crc);
    assert.equal((await s3.text("GET", "/sums/trailer.txt")).text, new TextDecoder().decode(data));
  });
});

function completeXml(parts: { n: number; etag: string; extra?: string }[]): string {
  return "<CompleteMultipartUpload>" +
    parts.map((p) =>
      `<Part><PartNumber>${p.n}</PartNumber><ETag>${p.etag}</ETag>${p.extra ?? ""}</Part>`
    ).join("") + "</CompleteMultipartUpload>";
}

async function createUpload(
  s3: S3TestClient,
  key: string,
  headers: Record<string, string>,
): Promise<{ status: number; id: string; headers: Headers; text: string }> {
  const r = await s3.text("POST", `/sums/${key}`, { query: [["uploads", ""]], headers });
  return {
    status: r.status,
    id: xmlField(r.text, "UploadId") ?? "",
    headers: r.headers,
    text: r.text,
  };
}

async function uploadPart(
  s3: S3TestClient,
  key: string,
  id: string,
  n: number,
  body: Uint8Array,
  headers: Record<string, string> = {},
) {
  return await s3.text("PUT", `/sums/${key}`, {
    query: [["partNumber", String(n)], ["uploadId", id]],
    body,
    headers,
    unsignedPayload: true,
  });
}

Deno.test("objects: multipart FULL_OBJECT CRC64NVME, checked against the whole content", async () => {
  await withObjects(async (s3) => {
    const part1 = new Uint8Array(5 * MiB).map((_, i) => i % 241);
    const part2 = encoder.encode("and the rest");
    const whole = checksumOf("CRC64NVME", part1, part2);
    const up = await createUpload(s3, "full.bin", { "x-amz-checksum-algorithm": "CRC64NVME" });
    assert.equal(up.status, 200, up.text);
    assert.equal(up.headers.get("x-amz-checksum-algorithm"), "CRC64NVME");
    assert.equal(up.headers.get("x-amz-checksum-type"), "FULL_OBJECT");
    // One part with its checksum, one without: the store computes it.
    let r = await uploadPart(s3, "full.bin", up.id, 1, part1, {
      "x-amz-checksum-crc64nvme": checksumOf("CRC64NVME", part1),
    });
    assert.equal(r.status, 200, r.text);
    const etag1 = r.headers.get("etag")!;
    r = await uploadPart(s3, "full.bin", up.id, 2, part2);
    assert.equal(r.headers.get("x-amz-checksum-crc64nvme"), checksumOf("CRC64NVME", part2));
    const etag2 = r.headers.get("etag")!;
    // A part may not name another algorithm than the upload's.
    r = await uploadPart(s3, "full.bin", up.id, 3, part2, {
      "x-amz-checksum-crc32": checksumOf("CRC32", part2),
    });
    assert.equal(r.status, 400);
    assert.equal(xmlField(r.text, "Code"), "InvalidRequest");
    assert.match(xmlField(r.text, "Message")!, /expected checksum Type: crc64nvme/);

    const parts = [{ n: 1, etag: etag1 }, { n: 2, etag: etag2 }];
    // A whole-object checksum that does not match: BadDigest, the upload stays.
    r = await s3.text("POST", "/sums/full.bin", {
      query: [["uploadId", up.id]],
      body: completeXml(parts),
      headers: { "x-amz-checksum-crc64nvme": checksumOf("CRC64NVME", part2) },
    });
    assert.equal(r.status, 400, r.text);
    assert.equal(xmlField(r.text, "Code"), "BadDigest");
    r = await s3.text("POST", "/sums/full.bin", {
      query: [["uploadId", up.id]],
      body: completeXml(parts),
      headers: { "x-amz-checksum-crc64nvme": whole, "x-amz-checksum-type": "FULL_OBJECT" },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(xmlField(r.text, "ChecksumCRC64NVME"), whole);
    assert.equal(xmlField(r.text, "ChecksumType"), "FULL_OBJECT");
    r = await s3.text("HEAD", "/sums/full.bin", { headers: { "x-amz-checksum-mode": "ENABLED" } });
    assert.equal(r.headers.get("x-amz-checksum-crc64nvme"), whole);
    assert.equal(r.headers.get("x-amz-checksum-type"), "FULL_OBJECT");
  });
});

Deno.test("objects: multipart COMPOSITE checksums, parts by number and attributes", async () => {
  await withObjects(async (s3) => {
    const parts = [
      new Uint8Array(5 * MiB).fill(1),
      new Uint8Array(5 * MiB).fill(2),
      encoder.encode("three"),
    ];
    const up = await createUpload(s3, "comp.bin", { "x-amz-checksum-algorithm": "SHA256" });
    assert.equal(up.headers.get("x-amz-checksum-type"), "COMPOSITE");
    const etags: string[] = [];
    for (const [i, body] of parts.entries()) {
      const r = await uploadPart(s3, "comp.bin", up.id, i + 1, body, {
        "x-amz-checksum-sha256": checksumOf("SHA256", body),
      });
      assert.equal(r.status, 200, r.text);
      etags.push(r.headers.get("etag")!);
    }
    const sums = parts.map((p) => checksumOf("SHA256", p));
    // ListParts shows each part's checksum and the upload's algorithm, paged.
    let listed = await s3.text("GET", "/sums/comp.bin", {
      query: [["uploadId", up.id], ["max-parts", "2"]],
    });
    assert.equal(xmlField(listed.text, "ChecksumAlgorithm"), "SHA256");
    assert.equal(xmlField(listed.text, "ChecksumType"), "COMPOSITE");
    assert.deepEqual(xmlFields(listed.text, "ChecksumSHA256"), sums.slice(0, 2));
    assert.equal(xmlField(listed.text, "NextPartNumberMarker"), "2");
    listed = await s3.text("GET", "/sums/comp.bin", {
      query: [["uploadId", up.id], ["part-number-marker", "2"]],
    });
    assert.deepEqual(xmlFields(listed.text, "PartNumber"), ["3"]);
    listed = await s3.text("GET", "/sums/comp.bin", {
      query: [["uploadId", up.id], ["max-parts", "-1"]],
    });
    assert.equal(xmlField(listed.text, "Code"), "InvalidArgument");
    // A Checksum element that does not match its part: InvalidPart.
    let r = await s3.text("POST", "/sums/comp.bin", {
      query: [["uploadId", up.id]],
      body: completeXml(etags.map((etag, i) => ({
        n: i + 1,
        etag,
        extra: `<ChecksumSHA256>${sums[(i + 1) % 3]}</ChecksumSHA256>`,
      }))),
    });
    assert.equal(r.status, 400);
    assert.equal(xmlField(r.text, "Code"), "InvalidPart");
    r = await s3.text("POST", "/sums/comp.bin", {
      query: [["uploadId", up.id]],
      body: completeXml(etags.map((etag, i) => ({
        n: i + 1,
        etag,
        extra: `<ChecksumSHA256>${sums[i]}</ChecksumSHA256>`,
      }))),
    });
    assert.equal(r.status, 200, r.text);
    const composite = compositeChecksum("SHA256", sums);
    assert.match(composite, /-3$/);
    assert.equal(xmlField(r.text, "ChecksumSHA256"), composite);
    assert.equal(xmlField(r.text, "ChecksumType"), "COMPOSITE");

    // GET ?partNumber: that part's bytes, the part count, its own checksum.
    r = await s3.text("GET", "/sums/comp.bin", {
      query: [["partNumber", "3"]],
      headers: { "x-amz-checksum-mode": "ENABLED" },
    });
    assert.equal(r.status, 206);
    assert.equal(r.text, "three");
    assert.equal(
      r.headers.get("content-range"),
      `bytes ${10 * MiB}-${10 * MiB + 4}/${10 * MiB + 5}`,
    );
    assert.equal(r.headers.get("x-amz-mp-parts-count"), "3");
    assert.equal(r.headers.get("x-amz-checksum-sha256"), sums[2]);
    r = await s3.text("HEAD", "/sums/comp.bin", { query: [["partNumber", "2"]] });
    assert.equal(r.headers.get("content-length"), String(5 * MiB));
    // A plain object is its own part 1, answered as a range of all of it.
    await s3.text("PUT", "/sums/plain.txt", { body: "plain" });
    r = await s3.text("GET", "/sums/plain.txt", { query: [["partNumber", "1"]] });
    assert.equal(r.status, 206);
    assert.equal(r.text, "plain");
    assert.equal(r.headers.get("content-range"), "bytes 0-4/5");
    assert.equal(r.headers.get("x-amz-mp-parts-count"), null);
    r = await s3.text("GET", "/sums/plain.txt", { query: [["partNumber", "2"]] });
    assert.equal(r.status, 416);
    r = await s3.text("GET", "/sums/comp.bin", { query: [["partNumber", "4"]] });
    assert.equal(r.status, 416);
    assert.equal(xmlField(r.text, "Code"), "InvalidPartNumber");
    r = await s3.text("GET", "/sums/comp.bin", {
      query: [["partNumber", "1"]],
      headers: { range: "bytes=0-1" },
    });
    assert.equal(r.status, 400);

    // GetObjectAttributes, its parts paged two at a time.
    const attributes = (headers: Record<string, string>) =>
      s3.text("GET", "/sums/comp.bin", { query: [["attributes", ""]], headers });
    r = await attributes({
      "x-amz-object-attributes": "ETag,Checksum,ObjectParts,StorageClass,ObjectSize",
      "x-amz-max-parts": "2",
    });
    assert.equal(r.status, 200, r.text);
    assert.match(r.text, /^<\?xml[^>]*>\s*<GetObjectAttributesResponse/);
    assert.match(xmlField(r.text, "ETag")!, /^[0-9a-f]{32}-3$/);
    assert.equal(xmlField(r.text, "ObjectSize"), String(10 * MiB + 5));
    assert.equal(xmlField(r.text, "StorageClass"), "STANDARD");
    assert.equal(xmlField(r.text, "PartsCount"), "3");
    assert.equal(xmlField(r.text, "IsTruncated"), "true");
    assert.equal(xmlField(r.text, "NextPartNumberMarker"), "2");
    assert.deepEqual(xmlFields(r.text, "PartNumber"), ["1", "2"]);
    assert.deepEqual(xmlFields(r.text, "ChecksumSHA256"), [composite, sums[0], sums[1]]);
    r = await attributes({
      "x-amz-object-attributes": "ObjectParts",
      "x-amz-part-number-marker": "2",
    });
    assert.deepEqual(xmlFields(r.text, "PartNumber"), ["3"]);
    assert.deepEqual(xmlFields(r.text, "Size"), ["5"]);
    assert.equal(xmlField(r.text, "IsTruncated"), "false");
    assert.equal(xmlField(r.text, "ETag"), undefined);
    r = await attributes({ "x-amz-object-attributes": "Colour" });
    assert.equal(r.status, 400);
    assert.equal(xmlField(r.text, "Code"), "InvalidArgument");
  });
});

Deno.test("objects: CreateMultipartUpload refuses checksum types S3 refuses", async () => {
  await withObjects(async (s3) => {
    for (
      const headers of [
        { "x-amz-checksum-algorithm": "CRC64NVME", "x-amz-checksum-type": "COMPOSITE" },
        { "x-amz-checksum-algorithm": "SHA1", "x-amz-checksum-type": "FULL_OBJECT" },
        { "x-amz-checksum-type": "FULL_OBJECT" },
        { "x-amz-checksum-algorithm": "MD5" },
      ] as Record<string, string>[]
    ) {
      const up = await createUpload(s3, "refused", headers);
      assert.equal(up.status, 400, JSON.stringify(headers));
      assert.equal(xmlField(up.text, "Code"), "InvalidRequest");
    }
    // CRC32 may be either; FULL_OBJECT is computed over the content.
    const up = await createUpload(s3, "crc32.bin", {
      "x-amz-checksum-algorithm": "CRC32",
      "x-amz-checksum-type": "FULL_OBJECT",
    });
    const data = encoder.encode("one small part");
    const r = await uploadPart(s3, "crc32.bin", up.id, 1, data);
    const done = await s3.text("POST", "/sums/crc32.bin", {
      query: [["uploadId", up.id]],
      body: completeXml([{ n: 1, etag: r.headers.get("etag")! }]),
    });
    assert.equal(xmlField(done.text, "ChecksumCRC32"), checksumOf("CRC32", data));
  });
});

Deno.test("objects: an upload's checksum algorithm and its parts' checksums survive a restart", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "underhood-objects-sums-restart-" });
  try {
    const part1 = new Uint8Array(5 * MiB).fill(9);
    const part2 = encoder.encode("after the restart");
    let id: string, etag1: string;
    {
      await using svc = await startService(service, { dataDir });
      await using s3 = new S3TestClient(svc.addresses.http);
      await s3.text("PUT", "/sums");
      const up = await createUpload(s3, "kept.bin", { "x-amz-checksum-algorithm": "CRC32C" });
      id = up.id;
      const r = await uploadPart(s3, "kept.bin", id, 1, part1);
      etag1 = r.headers.get("etag")!;
    }
    await using svc = await startService(service, { dataDir });
    await using s3 = new S3TestClient(svc.addresses.http);
    let r = await s3.text("GET", "/sums", { query: [["uploads", ""]] });
    assert.equal(xmlField(r.text, "ChecksumAlgorithm"), "CRC32C");
    assert.equal(xmlField(r.text, "ChecksumType"), "COMPOSITE");
    r = await uploadPart(s3, "kept.bin", id, 2, part2);
    const etag2 = r.headers.get("etag")!;
    r = await s3.text("POST", "/sums/kept.bin", {
      query: [["uploadId", id]],
      body: completeXml([{ n: 1, etag: etag1 }, { n: 2, etag: etag2 }]),
    });
    assert.equal(r.status, 200, r.text);
    const sums = [checksumOf("CRC32C", part1), checksumOf("CRC32C", part2)];
    assert.equal(xmlField(r.text, "ChecksumCRC32C"), compositeChecksum("CRC32C", sums));
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
