// The AWS SDK for JavaScript v3 (@aws-sdk/client-s3, default settings, so
// default checksums on: CRC32 headers, aws-chunked trailers for streams)
// against the object store with only the endpoint changed.

import assert from "node:assert/strict";
import { Readable } from "node:stream";
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
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
