// MD5 on the worker thread (services/objects/md5_worker.ts): the same digest
// as node:crypto's for any chunking, several hashes at once, dropped hashes,
// the thread ending with its last user; and a PUT past the off-thread size
// through the server keeps its ETag and its Content-MD5 check.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { InlineMd5, WorkerMd5 } from "../../../services/objects/md5_worker.ts";
import { OFF_THREAD_MD5_BYTES } from "../../../services/objects/body.ts";
import { service } from "../../../services/objects/mod.ts";
import { startService } from "../../_support/service.ts";
import { S3TestClient, xmlField } from "./_s3.ts";

function pattern(bytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let x = seed;
  for (let i = 0; i < bytes; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const hex = (bytes: Uint8Array) => createHash("md5").update(bytes).digest("hex");

Deno.test("WorkerMd5 gives node:crypto's digest for any chunking, several hashes at once", async () => {
  const data = pattern(5 * 1024 * 1024 + 777, 1);
  const chunkings = [1, 4093, 65536, 1024 * 1024, 3 * 1024 * 1024 + 1];
  const runs = chunkings.map(async (size) => {
    const md5 = new WorkerMd5();
    // The caller reuses its chunk buffer at once: the hash must have copied it.
    const reused = new Uint8Array(size);
    for (let at = 0; at < data.length; at += size) {
      const n = Math.min(size, data.length - at);
      reused.set(data.subarray(at, at + n));
      await md5.update(reused.subarray(0, n));
      reused.fill(0);
    }
    return (await md5.digest()).toString("hex");
  });
  for (const digest of await Promise.all(runs)) assert.equal(digest, hex(data));
  const empty = new WorkerMd5();
  assert.equal((await empty.digest()).toString("hex"), hex(new Uint8Array()));
  const inline = new InlineMd5();
  inline.update(data);
  assert.equal((await inline.digest()).toString("hex"), hex(data));
});

Deno.test("WorkerMd5: a dropped hash ends its use of the thread; digest twice is one digest", async () => {
  const dropped = new WorkerMd5();
  await dropped.update(pattern(3 * 1024 * 1024, 2));
  dropped.drop();
  dropped.drop();
  const data = pattern(1024 * 1024 + 5, 3);
  const md5 = new WorkerMd5();
  await md5.update(data);
  const [a, b] = await Promise.all([md5.digest(), md5.digest()]);
  assert.equal(a.toString("hex"), hex(data));
  assert.equal(b.toString("hex"), hex(data));
  // The test ends with no worker left: Deno's sanitizers would fail it otherwise.
});

Deno.test("objects: a PUT past the off-thread MD5 size keeps its ETag and Content-MD5 check", async () => {
  await using svc = await startService(service, {});
  await using s3 = new S3TestClient(svc.addresses.http);
  await s3.text("PUT", "/big");
  const body = pattern(OFF_THREAD_MD5_BYTES + 3 * 1024 * 1024 + 11, 4);
  let r = await s3.text("PUT", "/big/object", {
    body,
    unsignedPayload: true,
    headers: { "content-md5": createHash("md5").update(body).digest("base64") },
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get("etag"), `"${hex(body)}"`);
  r = await s3.text("HEAD", "/big/object");
  assert.equal(r.headers.get("etag"), `"${hex(body)}"`);
  assert.equal(r.headers.get("content-length"), String(body.length));

  const wrong = body.slice();
  wrong[wrong.length - 1] ^= 1;
  r = await s3.text("PUT", "/big/other", {
    body: wrong,
    unsignedPayload: true,
    headers: { "content-md5": createHash("md5").update(body).digest("base64") },
  });
  assert.equal(r.status, 400);
  assert.equal(xmlField(r.text, "Code"), "BadDigest");
  r = await s3.text("HEAD", "/big/other");
  assert.equal(r.status, 404);
});
