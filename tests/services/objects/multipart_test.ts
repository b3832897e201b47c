// Multipart uploads over a real socket: parts in any order, S3's checks at
// completion (order, ETags, 5 MiB minimum), the md5-of-md5s ETag, listing
// parts and uploads, aborting, and uploads surviving a restart.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { service } from "../../../services/objects/mod.ts";
import { startService } from "../../_support/service.ts";
import { S3TestClient, xmlField, xmlFields } from "./_s3.ts";

const MiB = 1024 * 1024;

function completeXml(parts: [number, string][]): string {
  return "<CompleteMultipartUpload>" +
    parts.map(([n, etag]) => `<Part><PartNumber>${n}</PartNumber><ETag>${etag}</ETag></Part>`)
      .join("") +
    "</CompleteMultipartUpload>";
}

Deno.test("objects: multipart upload, checks and the md5-of-md5s ETag", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "underhood-objects-mpu-" });
  try {
    const part1 = new Uint8Array(5 * MiB).fill(1);
    const part2 = new Uint8Array(5 * MiB).fill(2);
    const part3 = new TextEncoder().encode("the end");
    let uploadId: string;
    const etags: string[] = [];
    {
      await using svc = await startService(service, { dataDir });
      await using s3 = new S3TestClient(svc.addresses.http);
      await s3.text("PUT", "/mpu");
      let r = await s3.text("POST", "/mpu/big.bin", {
        query: [["uploads", ""]],
        headers: { "content-type": "application/x-big", "x-amz-meta-kind": "multi" },
      });
      assert.equal(r.status, 200, r.text);
      uploadId = xmlField(r.text, "UploadId")!;
      assert.match(uploadId, /^[0-9a-f]{32}$/);
      // Parts may arrive in any order.
      for (const [n, body] of [[2, part2], [1, part1], [3, part3]] as const) {
        r = await s3.text("PUT", "/mpu/big.bin", {
          query: [["partNumber", String(n)], ["uploadId", uploadId]],
          body,
          unsignedPayload: true,
        });
        assert.equal(r.status, 200, r.text);
        etags[n] = r.headers.get("etag")!;
        assert.equal(etags[n], `"${createHash("md5").update(body).digest("hex")}"`);
      }
      r = await s3.text("GET", "/mpu", { query: [["uploads", ""]] });
      assert.deepEqual(xmlFields(r.text, "UploadId"), [uploadId]);
    }
    // The upload and its parts survive a restart.
    await using svc = await startService(service, { dataDir });
    await using s3 = new S3TestClient(svc.addresses.http);
    const q = (extra: [string, string][] = []) =>
      [["uploadId", uploadId], ...extra] as [
        string,
        string,
      ][];
    let r = await s3.text("GET", "/mpu/big.bin", { query: q() });
    assert.deepEqual(xmlFields(r.text, "PartNumber"), ["1", "2", "3"]);
    assert.deepEqual(xmlFields(r.text, "Size"), [String(5 * MiB), String(5 * MiB), "7"]);

    const bad: [string, [number, string][]][] = [
      ["InvalidPartOrder", [[2, etags[2]], [1, etags[1]]]],
      ["InvalidPart", [[1, etags[1]], [2, etags[1]]]],
      ["InvalidPart", [[1, etags[1]], [4, etags[2]]]],
    ];
    for (const [code, parts] of bad) {
      r = await s3.text("POST", "/mpu/big.bin", { query: q(), body: completeXml(parts) });
      assert.equal(xmlField(r.text, "Code"), code, JSON.stringify(parts));
    }

    r = await s3.text("POST", "/mpu/big.bin", {
      query: q(),
      body: completeXml([[1, etags[1]], [2, etags[2]], [3, etags[3]]]),
    });
    assert.equal(r.status, 200, r.text);
    const md5s = createHash("md5");
    for (const n of [1, 2, 3]) md5s.update(Buffer.from(etags[n].slice(1, -1), "hex"));
    const expected = `"${md5s.digest("hex")}-3"`;
    assert.equal(xmlField(r.text, "ETag"), expected.replaceAll('"', "&quot;"));

    const got = await s3.send("GET", "/mpu/big.bin");
    assert.equal(got.headers.get("etag"), expected);
    assert.equal(got.headers.get("content-type"), "application/x-big");
    assert.equal(got.headers.get("x-amz-meta-kind"), "multi");
    const bytes = new Uint8Array(await got.arrayBuffer());
    assert.equal(bytes.length, 10 * MiB + 7);
    assert.equal(bytes[0], 1);
    assert.equal(bytes[5 * MiB], 2);
    assert.equal(new TextDecoder().decode(bytes.subarray(10 * MiB)), "the end");

    // Completed: the upload is gone.
    r = await s3.text("GET", "/mpu/big.bin", { query: q() });
    assert.equal(xmlField(r.text, "Code"), "NoSuchUpload");

    // A small part that is not the last: EntityTooSmall. Then abort.
    r = await s3.text("POST", "/mpu/small", { query: [["uploads", ""]] });
    const second = xmlField(r.text, "UploadId")!;
    const small: string[] = [];
    for (const n of [1, 2]) {
      r = await s3.text("PUT", "/mpu/small", {
        query: [["partNumber", String(n)], ["uploadId", second]],
        body: `part ${n}`,
      });
      small[n] = r.headers.get("etag")!;
    }
    r = await s3.text("POST", "/mpu/small", {
      query: [["uploadId", second]],
      body: completeXml([[1, small[1]], [2, small[2]]]),
    });
    assert.equal(xmlField(r.text, "Code"), "EntityTooSmall");
    r = await s3.text("DELETE", "/mpu/small", { query: [["uploadId", second]] });
    assert.equal(r.status, 204);
    r = await s3.text("PUT", "/mpu/small", {
      query: [["partNumber", "3"], ["uploadId", second]],
      body: "late",
    });
    assert.equal(xmlField(r.text, "Code"), "NoSuchUpload");
    assert.equal((await s3.text("HEAD", "/mpu/small")).status, 404);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
