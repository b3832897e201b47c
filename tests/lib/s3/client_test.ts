// lib/s3/client.ts against the real objects service (services/objects), on port 0.

import assert from "node:assert/strict";
import { utf8 } from "../../../lib/bytes.ts";
import { S3Client, S3ClientError } from "../../../lib/s3/client.ts";
import { DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, service } from "../../../services/objects/mod.ts";
import { startService } from "../../_support/service.ts";

const credentials = { accessKey: DEFAULT_ACCESS_KEY, secretKey: DEFAULT_SECRET_KEY };

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(stream).text();
}

Deno.test("S3Client: CreateBucket, PUT, HEAD, GET, DELETE an object, signed with SigV4", async () => {
  await using objects = await startService(service, {});
  await using s3 = new S3Client({
    endpoint: `http://127.0.0.1:${objects.addresses.http.port}`,
    credentials,
  });
  assert.equal(await s3.createBucket("images"), true);
  assert.equal(await s3.createBucket("images"), false, "a second create is not an error");
  assert.equal(await s3.bucketExists("images"), true);
  assert.equal(await s3.bucketExists("nope"), false);

  const etag = await s3.putObject("images", "spells/1 a+b.txt", utf8("lumos"), {
    contentType: "text/plain",
    metadata: { spell: "1" },
  });
  assert.match(etag ?? "", /^"[0-9a-f]{32}"$/);
  const info = await s3.headObject("images", "spells/1 a+b.txt");
  assert.equal(info?.contentLength, 5);
  assert.equal(info?.contentType, "text/plain");
  assert.equal(info?.headers.get("x-amz-meta-spell"), "1");

  const object = await s3.getObject("images", "spells/1 a+b.txt");
  assert.ok(object !== undefined);
  assert.equal(object.etag, etag);
  assert.equal(await bytesOf(object.body), "lumos");

  await s3.deleteObject("images", "spells/1 a+b.txt");
  assert.equal(await s3.getObject("images", "spells/1 a+b.txt"), undefined);
  assert.equal(await s3.headObject("images", "spells/1 a+b.txt"), undefined);
  await s3.deleteObject("images", "spells/1 a+b.txt"); // S3: deleting a missing key is fine
});

Deno.test("S3Client: a stream body goes as UNSIGNED-PAYLOAD with its length, in pieces", async () => {
  await using objects = await startService(service, {});
  await using s3 = new S3Client({
    endpoint: `http://127.0.0.1:${objects.addresses.http.port}`,
    credentials,
  });
  await s3.createBucket("big");
  const pieceBytes = 64 * 1024;
  const pieces = 32; // 2 MiB
  let sent = 0;
  const body = new ReadableStream<Uint8Array<ArrayBuffer>>({
    pull(controller) {
      if (sent === pieces) return controller.close();
      controller.enqueue(new Uint8Array(pieceBytes).fill(sent++ & 0xff));
    },
  });
  await s3.putObject("big", "blob", body, { contentLength: pieceBytes * pieces });
  const object = await s3.getObject("big", "blob");
  assert.equal(object?.contentLength, pieceBytes * pieces);
  const got = new Uint8Array(await new Response(object!.body).arrayBuffer());
  assert.equal(got.length, pieceBytes * pieces);
  assert.equal(got[pieceBytes * 5 + 7], 5);
  await assert.rejects(
    () => s3.putObject("big", "x", new ReadableStream()),
    TypeError,
    "a stream needs its length",
  );
});

Deno.test("S3Client: a wrong secret is an S3ClientError with S3's code", async () => {
  await using objects = await startService(service, {});
  const endpoint = `http://127.0.0.1:${objects.addresses.http.port}`;
  await using good = new S3Client({ endpoint, credentials });
  await good.createBucket("bucket");
  await using bad = new S3Client({
    endpoint,
    credentials: { accessKey: DEFAULT_ACCESS_KEY, secretKey: "wrong" },
  });
  await assert.rejects(() => bad.putObject("bucket", "k", utf8("x")), (error: unknown) => {
    assert.ok(error instanceof S3ClientError);
    assert.equal(error.status, 403);
    assert.equal(error.code, "SignatureDoesNotMatch");
    return true;
  });
  await assert.rejects(() => good.getObject("missing-bucket", "k"), (error: unknown) => {
    assert.ok(error instanceof S3ClientError);
    assert.equal(error.code, "NoSuchBucket");
    return true;
  });
});
