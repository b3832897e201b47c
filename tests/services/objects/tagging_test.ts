// Object tagging through the AWS SDK v3 (PutObject with Tagging, Get/Put/
// DeleteObjectTagging, TagCount on GET, CopyObject's TaggingDirective,
// multipart uploads with Tagging), S3's errors for bad tag sets over raw
// signed requests, and tags surviving a restart.

import assert from "node:assert/strict";
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectTaggingCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, service } from "../../../services/objects/mod.ts";
import { parseTaggingHeader } from "../../../services/objects/tagging.ts";
import { startService } from "../../_support/service.ts";
import { S3TestClient, xmlField } from "./_s3.ts";

function sdkClient(port: number): S3Client {
  return new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    forcePathStyle: true,
    region: "us-east-1",
    credentials: { accessKeyId: DEFAULT_ACCESS_KEY, secretAccessKey: DEFAULT_SECRET_KEY },
  });
}

const sorted = (tags: { Key?: string; Value?: string }[] | undefined) =>
  (tags ?? []).map((t) => `${t.Key}=${t.Value}`).sort();

Deno.test({
  name: "objects tagging: the AWS SDK sets, reads, replaces, copies and deletes an object's tags",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using svc = await startService(service);
    const client = sdkClient(svc.addresses.http.port);
    try {
      await client.send(new CreateBucketCommand({ Bucket: "tags" }));
      await client.send(
        new PutObjectCommand({
          Bucket: "tags",
          Key: "a.txt",
          Body: "alpha",
          Tagging: "team=blue%20sky&tier=1",
          Metadata: { owner: "ann" },
        }),
      );
      let tags = await client.send(new GetObjectTaggingCommand({ Bucket: "tags", Key: "a.txt" }));
      assert.deepEqual(sorted(tags.TagSet), ["team=blue sky", "tier=1"]);
      const got = await client.send(new GetObjectCommand({ Bucket: "tags", Key: "a.txt" }));
      assert.equal(got.TagCount, 2);
      assert.equal(await got.Body!.transformToString(), "alpha");
      const before = await client.send(new HeadObjectCommand({ Bucket: "tags", Key: "a.txt" }));

      // Replacing the set keeps the content, ETag, Last-Modified and metadata.
      await client.send(
        new PutObjectTaggingCommand({
          Bucket: "tags",
          Key: "a.txt",
          Tagging: { TagSet: [{ Key: "state", Value: "ünïcode ok" }] },
        }),
      );
      tags = await client.send(new GetObjectTaggingCommand({ Bucket: "tags", Key: "a.txt" }));
      assert.deepEqual(sorted(tags.TagSet), ["state=ünïcode ok"]);
      const after = await client.send(new HeadObjectCommand({ Bucket: "tags", Key: "a.txt" }));
      assert.equal(after.ETag, before.ETag);
      assert.equal(after.LastModified?.getTime(), before.LastModified?.getTime());
      assert.deepEqual(after.Metadata, { owner: "ann" });

      // CopyObject: tags follow the source by default, the request's with REPLACE.
      await client.send(
        new CopyObjectCommand({ Bucket: "tags", Key: "b.txt", CopySource: "tags/a.txt" }),
      );
      tags = await client.send(new GetObjectTaggingCommand({ Bucket: "tags", Key: "b.txt" }));
      assert.deepEqual(sorted(tags.TagSet), ["state=ünïcode ok"]);
      await client.send(
        new CopyObjectCommand({
          Bucket: "tags",
          Key: "c.txt",
          CopySource: "tags/a.txt",
          TaggingDirective: "REPLACE",
          Tagging: "copied=yes",
        }),
      );
      tags = await client.send(new GetObjectTaggingCommand({ Bucket: "tags", Key: "c.txt" }));
      assert.deepEqual(sorted(tags.TagSet), ["copied=yes"]);
      // Copying onto itself is allowed when the tags change.
      await client.send(
        new CopyObjectCommand({
          Bucket: "tags",
          Key: "c.txt",
          CopySource: "tags/c.txt",
          TaggingDirective: "REPLACE",
          Tagging: "copied=twice",
        }),
      );
      tags = await client.send(new GetObjectTaggingCommand({ Bucket: "tags", Key: "c.txt" }));
      assert.deepEqual(sorted(tags.TagSet), ["copied=twice"]);

      // A multipart upload carries its Tagging to the object.
      const created = await client.send(
        new CreateMultipartUploadCommand({ Bucket: "tags", Key: "m.bin", Tagging: "kind=multi" }),
      );
      const part = await client.send(
        new UploadPartCommand({
          Bucket: "tags",
          Key: "m.bin",
          UploadId: created.UploadId,
          PartNumber: 1,
          Body: new Uint8Array(1000),
        }),
      );
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: "tags",
          Key: "m.bin",
          UploadId: created.UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
        }),
      );
      tags = await client.send(new GetObjectTaggingCommand({ Bucket: "tags", Key: "m.bin" }));
      assert.deepEqual(sorted(tags.TagSet), ["kind=multi"]);

      await client.send(new DeleteObjectTaggingCommand({ Bucket: "tags", Key: "a.txt" }));
      tags = await client.send(new GetObjectTaggingCommand({ Bucket: "tags", Key: "a.txt" }));
      assert.deepEqual(tags.TagSet, []);
      const untagged = await client.send(new GetObjectCommand({ Bucket: "tags", Key: "a.txt" }));
      assert.equal(untagged.TagCount, undefined);
      assert.equal(await untagged.Body!.transformToString(), "alpha");

      await assert.rejects(
        client.send(new GetObjectTaggingCommand({ Bucket: "tags", Key: "missing" })),
        (error: Error) => error.name === "NoSuchKey",
      );
    } finally {
      client.destroy();
    }
  },
});

Deno.test("objects tagging: bad tag sets get S3's errors and change nothing", async () => {
  await using svc = await startService(service);
  await using s3 = new S3TestClient(svc.addresses.http);
  await s3.text("PUT", "/bad");
  const put = (headers: Record<string, string>) => s3.text("PUT", "/bad/x", { body: "x", headers });
  const tagXml = (pairs: [string, string][]) =>
    "<Tagging><TagSet>" +
    pairs.map(([k, v]) => `<Tag><Key>${k}</Key><Value>${v}</Value></Tag>`).join("") +
    "</TagSet></Tagging>";
  const putTags = (body: string) => s3.text("PUT", "/bad/x", { query: [["tagging", ""]], body });

  const eleven = Array.from({ length: 11 }, (_, i) => `k${i}=v`).join("&");
  let r = await put({ "x-amz-tagging": eleven });
  assert.equal(r.status, 400);
  assert.equal(xmlField(r.text, "Code"), "InvalidTag");
  r = await put({ "x-amz-tagging": "a=1&a=2" });
  assert.equal(r.status, 400);
  assert.equal(xmlField(r.text, "Code"), "InvalidArgument");
  r = await put({ "x-amz-tagging": "%zz=1" });
  assert.equal(xmlField(r.text, "Code"), "InvalidArgument");
  r = await put({ "x-amz-tagging": `${"k".repeat(129)}=v` });
  assert.equal(xmlField(r.text, "Code"), "InvalidTag");
  r = await put({ "x-amz-tagging": `k=${"v".repeat(257)}` });
  assert.equal(xmlField(r.text, "Code"), "InvalidTag");
  r = await s3.text("GET", "/bad/x", { query: [["tagging", ""]] });
  assert.equal(r.status, 404, "no refused PUT created the object");

  r = await put({ "x-amz-tagging": "keep=1" });
  assert.equal(r.status, 200, r.text);
  r = await putTags(tagXml([["a", "1"], ["a", "2"]]));
  assert.equal(xmlField(r.text, "Code"), "InvalidTag");
  r = await putTags(tagXml([["", "1"]]));
  assert.equal(xmlField(r.text, "Code"), "InvalidTag");
  r = await putTags(tagXml([["bad<", "1"]]));
  assert.equal(xmlField(r.text, "Code"), "MalformedXML");
  r = await putTags("<Tagging><Nope/></Tagging>");
  assert.equal(xmlField(r.text, "Code"), "MalformedXML");
  r = await putTags(tagXml([["semi;colon", "1"]]));
  assert.equal(xmlField(r.text, "Code"), "InvalidTag");
  r = await s3.text("GET", "/bad/x", { query: [["tagging", ""]] });
  assert.match(r.text, /<Key>keep<\/Key><Value>1<\/Value>/);
  r = await s3.text("PUT", "/bad/x", {
    body: "y",
    headers: { "x-amz-copy-source": "/bad/x", "x-amz-tagging-directive": "MERGE" },
  });
  assert.equal(xmlField(r.text, "Code"), "InvalidArgument");
});

Deno.test("objects tagging: tags set by PUT ?tagging survive a restart", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "objects-tags-" });
  try {
    {
      await using svc = await startService(service, { dataDir });
      await using s3 = new S3TestClient(svc.addresses.http);
      await s3.text("PUT", "/keep");
      await s3.text("PUT", "/keep/o", { body: "content" });
      const r = await s3.text("PUT", "/keep/o", {
        query: [["tagging", ""]],
        body: "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>",
      });
      assert.equal(r.status, 200, r.text);
    }
    await using svc = await startService(service, { dataDir });
    await using s3 = new S3TestClient(svc.addresses.http);
    const r = await s3.text("GET", "/keep/o", { query: [["tagging", ""]] });
    assert.match(r.text, /<Key>k<\/Key><Value>v<\/Value>/);
    const got = await s3.text("GET", "/keep/o");
    assert.equal(got.text, "content");
    assert.equal(got.headers.get("x-amz-tagging-count"), "1");
    assert.equal(got.headers.get("x-amz-tagging"), null, "the stored form is never sent");
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("objects tagging: the header form decodes + as a space and percent escapes", () => {
  assert.deepEqual(parseTaggingHeader("a+b=c%2Bd&e="), [["a b", "c+d"], ["e", ""]]);
});
