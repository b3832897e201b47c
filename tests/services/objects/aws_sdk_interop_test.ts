// The AWS SDK for JavaScript v3 (@aws-sdk/client-s3, default settings, so
// default checksums on: CRC32 headers, aws-chunked trailers for streams,
// and @aws-sdk/lib-storage's multipart Upload) against the object store
// with only the endpoint changed.

import assert from "node:assert/strict";
import { Readable } from "node:stream";
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, service } from "../../../services/objects/mod.ts";
import { startService } from "../../_support/service.ts";

Deno.test({
  name: "AWS SDK v3: buckets, puts (bytes and streams), gets, lists, copies, deletes",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using svc = await startService(service);
    const client = new S3Client({
      endpoint: `http://127.0.0.1:${svc.addresses.http.port}`,
      forcePathStyle: true,
      region: "us-east-1",
      credentials: { accessKeyId: DEFAULT_ACCESS_KEY, secretAccessKey: DEFAULT_SECRET_KEY },
    });
    try {
      await client.send(new CreateBucketCommand({ Bucket: "sdk-bucket" }));
      const put = await client.send(
        new PutObjectCommand({
          Bucket: "sdk-bucket",
          Key: "notes/\u00e9t\u00e9 1.txt",
          Body: "summer notes",
          ContentType: "text/plain; charset=utf-8",
          Metadata: { author: "ann" },
        }),
      );
      assert.ok(put.ETag);
      const data = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => (i * 13) & 0xff);
      await client.send(
        new PutObjectCommand({
          Bucket: "sdk-bucket",
          Key: "stream.bin",
          Body: Readable.from([data.subarray(0, 1_000_000), data.subarray(1_000_000)]),
          ContentLength: data.length,
        }),
      );
      const got = await client.send(
        new GetObjectCommand({ Bucket: "sdk-bucket", Key: "notes/\u00e9t\u00e9 1.txt" }),
      );
      assert.equal(await got.Body!.transformToString(), "summer notes");
      assert.equal(got.ContentType, "text/plain; charset=utf-8");
      assert.equal(got.Metadata?.author, "ann");
      const stream = await client.send(
        new GetObjectCommand({ Bucket: "sdk-bucket", Key: "stream.bin", ChecksumMode: "ENABLED" }),
      );
      assert.deepEqual(new Uint8Array(await stream.Body!.transformToByteArray()), data);
      const ranged = await client.send(
        new GetObjectCommand({ Bucket: "sdk-bucket", Key: "stream.bin", Range: "bytes=10-19" }),
      );
      assert.deepEqual(
        new Uint8Array(await ranged.Body!.transformToByteArray()),
        data.subarray(10, 20),
      );

      await client.send(
        new CopyObjectCommand({
          Bucket: "sdk-bucket",
          Key: "copy.txt",
          CopySource: `sdk-bucket/${encodeURIComponent("notes/\u00e9t\u00e9 1.txt")}`,
        }),
      );
      const head = await client.send(
        new HeadObjectCommand({ Bucket: "sdk-bucket", Key: "copy.txt" }),
      );
      assert.equal(head.ContentLength, 12);

      const listed = await client.send(
        new ListObjectsV2Command({ Bucket: "sdk-bucket", Delimiter: "/" }),
      );
      assert.deepEqual(listed.Contents?.map((c) => c.Key), ["copy.txt", "stream.bin"]);
      assert.deepEqual(listed.CommonPrefixes?.map((p) => p.Prefix), ["notes/"]);

      const deleted = await client.send(
        new DeleteObjectsCommand({
          Bucket: "sdk-bucket",
          Delete: { Objects: [{ Key: "copy.txt" }, { Key: "stream.bin" }] },
        }),
      );
      assert.equal(deleted.Deleted?.length, 2);
      await client.send(
        new DeleteObjectCommand({ Bucket: "sdk-bucket", Key: "notes/\u00e9t\u00e9 1.txt" }),
      );
      await assert.rejects(
        client.send(new GetObjectCommand({ Bucket: "sdk-bucket", Key: "copy.txt" })),
        (error: Error) => error.name === "NoSuchKey",
      );
    } finally {
      client.destroy();
    }
  },
});

Deno.test({
  name:
    "AWS SDK v3: CRC64NVME puts, a FULL_OBJECT CRC64NVME multipart upload with a copied part, " +
    "attributes, uploads and buckets paged",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using svc = await startService(service);
    const client = new S3Client({
      endpoint: `http://127.0.0.1:${svc.addresses.http.port}`,
      forcePathStyle: true,
      region: "us-east-1",
      credentials: { accessKeyId: DEFAULT_ACCESS_KEY, secretAccessKey: DEFAULT_SECRET_KEY },
    });
    const Bucket = "sdk-sums";
    try {
      await client.send(new CreateBucketCommand({ Bucket }));
      await client.send(new CreateBucketCommand({ Bucket: "sdk-sums-2" }));
      // The SDK computes CRC64NVME itself, in a header for bytes and in an
      // aws-chunked trailer for a stream.
      const small = new TextEncoder().encode("sixty-four bits of check");
      const put = await client.send(
        new PutObjectCommand({ Bucket, Key: "small", Body: small, ChecksumAlgorithm: "CRC64NVME" }),
      );
      assert.ok(put.ChecksumCRC64NVME);
      const data = new Uint8Array(2 * 1024 * 1024 + 5).map((_, i) => (i * 29) & 0xff);
      const streamed = await client.send(
        new PutObjectCommand({
          Bucket,
          Key: "streamed",
          Body: Readable.from([data.subarray(0, 700_000), data.subarray(700_000)]),
          ContentLength: data.length,
          ChecksumAlgorithm: "CRC64NVME",
        }),
      );
      const head = await client.send(
        new HeadObjectCommand({ Bucket, Key: "streamed", ChecksumMode: "ENABLED" }),
      );
      assert.equal(head.ChecksumCRC64NVME, streamed.ChecksumCRC64NVME);
      // The SDK checks the returned CRC64NVME against the body it reads.
      const got = await client.send(
        new GetObjectCommand({ Bucket, Key: "streamed", ChecksumMode: "ENABLED" }),
      );
      assert.deepEqual(new Uint8Array(await got.Body!.transformToByteArray()), data);

      const part1 = new Uint8Array(5 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
      const created = await client.send(
        new CreateMultipartUploadCommand({
          Bucket,
          Key: "joined",
          ChecksumAlgorithm: "CRC64NVME",
          ChecksumType: "FULL_OBJECT",
        }),
      );
      const UploadId = created.UploadId!;
      const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket, MaxUploads: 1 }));
      assert.deepEqual(uploads.Uploads?.map((u) => u.UploadId), [UploadId]);
      const p1 = await client.send(
        new UploadPartCommand({
          Bucket,
          Key: "joined",
          UploadId,
          PartNumber: 1,
          Body: part1,
          ChecksumAlgorithm: "CRC64NVME",
        }),
      );
      const p2 = await client.send(
        new UploadPartCopyCommand({
          Bucket,
          Key: "joined",
          UploadId,
          PartNumber: 2,
          CopySource: `${Bucket}/small`,
          CopySourceRange: "bytes=0-9",
        }),
      );
      const done = await client.send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key: "joined",
          UploadId,
          MultipartUpload: {
            Parts: [
              { PartNumber: 1, ETag: p1.ETag, ChecksumCRC64NVME: p1.ChecksumCRC64NVME },
              {
                PartNumber: 2,
                ETag: p2.CopyPartResult!.ETag,
                ChecksumCRC64NVME: p2.CopyPartResult!.ChecksumCRC64NVME,
              },
            ],
          },
        }),
      );
      assert.equal(done.ChecksumType, "FULL_OBJECT");
      const whole = await client.send(
        new GetObjectCommand({ Bucket, Key: "joined", ChecksumMode: "ENABLED" }),
      );
      assert.equal(whole.ChecksumCRC64NVME, done.ChecksumCRC64NVME);
      const bytes = new Uint8Array(await whole.Body!.transformToByteArray());
      assert.equal(bytes.length, part1.length + 10);
      assert.deepEqual(bytes.subarray(part1.length), small.subarray(0, 10));

      const attributes = await client.send(
        new GetObjectAttributesCommand({
          Bucket,
          Key: "joined",
          ObjectAttributes: ["ETag", "Checksum", "ObjectParts", "ObjectSize", "StorageClass"],
        }),
      );
      assert.equal(attributes.ObjectSize, part1.length + 10);
      assert.equal(attributes.ObjectParts?.TotalPartsCount, 2);
      assert.equal(attributes.Checksum?.ChecksumCRC64NVME, done.ChecksumCRC64NVME);
      assert.equal(attributes.Checksum?.ChecksumType, "FULL_OBJECT");
      assert.match(attributes.ETag!, /-2$/);

      const firstPage = await client.send(new ListBucketsCommand({ MaxBuckets: 1 }));
      assert.deepEqual(firstPage.Buckets?.map((b) => b.Name), ["sdk-sums"]);
      const secondPage = await client.send(
        new ListBucketsCommand({ MaxBuckets: 1, ContinuationToken: firstPage.ContinuationToken }),
      );
      assert.deepEqual(secondPage.Buckets?.map((b) => b.Name), ["sdk-sums-2"]);
      assert.equal(secondPage.ContinuationToken, undefined);
    } finally {
      client.destroy();
    }
  },
});

Deno.test({
  name: "AWS SDK v3: lib-storage's Upload sends a stream as a multipart upload, defaults on",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using svc = await startService(service);
    const client = new S3Client({
      endpoint: `http://127.0.0.1:${svc.addresses.http.port}`,
      forcePathStyle: true,
      region: "us-east-1",
      credentials: { accessKeyId: DEFAULT_ACCESS_KEY, secretAccessKey: DEFAULT_SECRET_KEY },
    });
    try {
      await client.send(new CreateBucketCommand({ Bucket: "sdk-storage" }));
      const data = new Uint8Array(11 * 1024 * 1024 + 321).map((_, i) => (i * 17 + 3) & 0xff);
      const pieces = [];
      for (let at = 0; at < data.length; at += 700_000) {
        pieces.push(data.subarray(at, at + 700_000));
      }
      const upload = new Upload({
        client,
        params: { Bucket: "sdk-storage", Key: "big/stream.bin", Body: Readable.from(pieces) },
        partSize: 5 * 1024 * 1024,
        queueSize: 3,
      });
      const done = await upload.done();
      assert.match(done.ETag!, /-3"$/);
      const got = await client.send(
        new GetObjectCommand({
          Bucket: "sdk-storage",
          Key: "big/stream.bin",
          ChecksumMode: "ENABLED",
        }),
      );
      assert.deepEqual(new Uint8Array(await got.Body!.transformToByteArray()), data);
      const attributes = await client.send(
        new GetObjectAttributesCommand({
          Bucket: "sdk-storage",
          Key: "big/stream.bin",
          ObjectAttributes: ["ObjectParts", "ObjectSize"],
        }),
      );
      assert.equal(attributes.ObjectSize, data.length);
      assert.equal(attributes.ObjectParts?.TotalPartsCount, 3);
    } finally {
      client.destroy();
    }
  },
});
