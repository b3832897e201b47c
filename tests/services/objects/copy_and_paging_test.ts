// Over a real socket: UploadPartCopy (whole, ranged, conditional), conditional
// CopyObject, conditional writes (If-None-Match: *, If-Match) on PutObject and
// CompleteMultipartUpload, ListMultipartUploads and ListBuckets paging, and
// abandoned multipart uploads removed after their age.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { defaultConfig } from "../../../lib/cli.ts";
import { realFiles } from "../../../lib/fs/file_layer.ts";
import { checksumBase64, Crc64Nvme } from "../../../lib/s3/checksums.ts";
import type { S3Error } from "../../../lib/s3/errors.ts";
import { service, startObjects } from "../../../services/objects/mod.ts";
import { MultipartUploads } from "../../../services/objects/multipart.ts";
import { ObjectStore } from "../../../services/objects/store.ts";
import { startService } from "../../_support/service.ts";
import { S3TestClient, xmlField, xmlFields } from "./_s3.ts";

const MiB = 1024 * 1024;
const md5Hex = (data: Uint8Array | string) => createHash("md5").update(data).digest("hex");

async function withObjects(fn: (s3: S3TestClient) => Promise<void>) {
  await using svc = await startService(service);
  await using s3 = new S3TestClient(svc.addresses.http);
  await s3.text("PUT", "/cpy");
  await fn(s3);
}

function completeXml(parts: [number, string][]): string {
  return "<CompleteMultipartUpload>" +
    parts.map(([n, etag]) => `<Part><PartNumber>${n}</PartNumber><ETag>${etag}</ETag></Part>`)
      .join("") +
    "</CompleteMultipartUpload>";
}

async function createUpload(s3: S3TestClient, key: string): Promise<string> {
  const r = await s3.text("POST", `/cpy/${key}`, { query: [["uploads", ""]] });
  assert.equal(r.status, 200, r.text);
  return xmlField(r.text, "UploadId")!;
}

Deno.test("objects: UploadPartCopy copies a whole object or a byte range into a part", async () => {
  await withObjects(async (s3) => {
    const source = new Uint8Array(6 * MiB).map((_, i) => (i * 7) % 251);
    await s3.text("PUT", "/cpy/source.bin", { body: source, unsignedPayload: true });
    const sourceEtag = `"${md5Hex(source)}"`;
    const id = await createUpload(s3, "joined.bin");
    const copyPart = (n: number, headers: Record<string, string>) =>
      s3.text("PUT", "/cpy/joined.bin", {
        query: [["partNumber", String(n)], ["uploadId", id]],
        headers: { "x-amz-copy-source": "/cpy/source.bin", ...headers },
      });
    // Part 1: the whole source, if its ETag still matches.
    let r = await copyPart(1, { "x-amz-copy-source-if-match": sourceEtag });
    assert.equal(r.status, 200, r.text);
    assert.match(r.text, /<CopyPartResult/);
    const etag1 = xmlField(r.text, "ETag")!.replaceAll("&quot;", '"');
    assert.equal(etag1, sourceEtag);
    // Part 2: bytes 100-1099 of it.
    r = await copyPart(2, { "x-amz-copy-source-range": "bytes=100-1099" });
    assert.equal(r.status, 200, r.text);
    const etag2 = xmlField(r.text, "ETag")!.replaceAll("&quot;", '"');
    assert.equal(etag2, `"${md5Hex(source.subarray(100, 1100))}"`);

    // A range past the source's end, a reversed one, a malformed one: InvalidArgument.
    for (const range of [`bytes=0-${6 * MiB}`, "bytes=10-5", "bytes=5-"]) {
      r = await copyPart(3, { "x-amz-copy-source-range": range });
      assert.equal(r.status, 400, range);
      assert.equal(xmlField(r.text, "Code"), "InvalidArgument");
    }
    // Conditions that fail: 412, and no part is made.
    const past = new Date(Date.now() - 3600_000).toUTCString();
    const future = new Date(Date.now() + 3600_000).toUTCString();
    for (
      const headers of [
        { "x-amz-copy-source-if-match": '"0123"' },
        { "x-amz-copy-source-if-none-match": sourceEtag },
        { "x-amz-copy-source-if-unmodified-since": past },
        { "x-amz-copy-source-if-modified-since": future },
      ] as Record<string, string>[]
    ) {
      r = await copyPart(3, headers);
      assert.equal(r.status, 412, JSON.stringify(headers));
      assert.equal(xmlField(r.text, "Code"), "PreconditionFailed");
    }
    r = await s3.text("PUT", "/cpy/joined.bin", {
      query: [["partNumber", "3"], ["uploadId", id]],
      headers: { "x-amz-copy-source": "/cpy/missing.bin" },
    });
    assert.equal(r.status, 404);
    assert.equal(xmlField(r.text, "Code"), "NoSuchKey");
    r = await s3.text("GET", "/cpy/joined.bin", { query: [["uploadId", id]] });
    assert.deepEqual(xmlFields(r.text, "PartNumber"), ["1", "2"]);

    r = await s3.text("POST", "/cpy/joined.bin", {
      query: [["uploadId", id]],
      body: completeXml([[1, etag1], [2, etag2]]),
    });
    assert.equal(r.status, 200, r.text);
    const got = await s3.send("GET", "/cpy/joined.bin");
    const bytes = new Uint8Array(await got.arrayBuffer());
    assert.equal(bytes.length, 6 * MiB + 1000);
    assert.deepEqual(bytes.subarray(0, 6 * MiB), source);
    assert.deepEqual(bytes.subarray(6 * MiB), source.subarray(100, 1100));
  });
});

Deno.test("objects: CopyObject honours the x-amz-copy-source-if-* conditions", async () => {
  await withObjects(async (s3) => {
    await s3.text("PUT", "/cpy/from.txt", { body: "copy me" });
    const etag = `"${md5Hex("copy me")}"`;
    const copy = (headers: Record<string, string>) =>
      s3.text("PUT", "/cpy/to.txt", {
        headers: { "x-amz-copy-source": "cpy/from.txt", ...headers },
      });
    let r = await copy({ "x-amz-copy-source-if-none-match": etag });
    assert.equal(r.status, 412);
    assert.equal(xmlField(r.text, "Code"), "PreconditionFailed");
    assert.equal((await s3.text("HEAD", "/cpy/to.txt")).status, 404);
    // An If-Match that holds wins over an If-Unmodified-Since that does not.
    r = await copy({
      "x-amz-copy-source-if-match": etag,
      "x-amz-copy-source-if-unmodified-since": new Date(Date.now() - 3600_000).toUTCString(),
    });
    assert.equal(r.status, 200, r.text);
    assert.equal((await s3.text("GET", "/cpy/to.txt")).text, "copy me");
    // x-amz-checksum-algorithm: the copy gets that checksum, computed over the content
    // (onto itself too: a new checksum is a change).
    const want = checksumBase64(
      new Crc64Nvme().update(new TextEncoder().encode("copy me")).digest(),
    );
    for (const target of ["/cpy/summed.txt", "/cpy/from.txt"]) {
      r = await s3.text("PUT", target, {
        headers: { "x-amz-copy-source": "cpy/from.txt", "x-amz-checksum-algorithm": "CRC64NVME" },
      });
      assert.equal(r.status, 200, r.text);
      assert.equal(xmlField(r.text, "ChecksumCRC64NVME"), want);
      r = await s3.text("HEAD", target, { headers: { "x-amz-checksum-mode": "ENABLED" } });
      assert.equal(r.headers.get("x-amz-checksum-crc64nvme"), want);
      assert.equal(r.headers.get("x-amz-checksum-type"), "FULL_OBJECT");
    }
  });
});

Deno.test("objects: conditional writes on PutObject and CompleteMultipartUpload", async () => {
  await withObjects(async (s3) => {
    let r = await s3.text("PUT", "/cpy/once.txt", {
      body: "first",
      headers: { "if-none-match": "*" },
    });
    assert.equal(r.status, 200, r.text);
    r = await s3.text("PUT", "/cpy/once.txt", {
      body: "second",
      headers: { "if-none-match": "*" },
    });
    assert.equal(r.status, 412);
    assert.equal(xmlField(r.text, "Code"), "PreconditionFailed");
    assert.equal((await s3.text("GET", "/cpy/once.txt")).text, "first");
    // If-Match: the current ETag or 412; a missing key is NoSuchKey.
    r = await s3.text("PUT", "/cpy/once.txt", { body: "third", headers: { "if-match": '"abc"' } });
    assert.equal(r.status, 412);
    r = await s3.text("PUT", "/cpy/once.txt", {
      body: "third",
      headers: { "if-match": `"${md5Hex("first")}"` },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal((await s3.text("GET", "/cpy/once.txt")).text, "third");
    r = await s3.text("PUT", "/cpy/never.txt", { body: "x", headers: { "if-match": '"abc"' } });
    assert.equal(r.status, 404);
    assert.equal(xmlField(r.text, "Code"), "NoSuchKey");
    r = await s3.text("PUT", "/cpy/once.txt", { body: "x", headers: { "if-none-match": '"abc"' } });
    assert.equal(r.status, 501);

    // The completion checks too: the key was written while the upload ran.
    const id = await createUpload(s3, "race.bin");
    r = await s3.text("PUT", "/cpy/race.bin", {
      query: [["partNumber", "1"], ["uploadId", id]],
      body: "part",
    });
    const etag = r.headers.get("etag")!;
    await s3.text("PUT", "/cpy/race.bin", { body: "won the race" });
    r = await s3.text("POST", "/cpy/race.bin", {
      query: [["uploadId", id]],
      body: completeXml([[1, etag]]),
      headers: { "if-none-match": "*" },
    });
    assert.equal(r.status, 412, r.text);
    assert.equal((await s3.text("GET", "/cpy/race.bin")).text, "won the race");
    r = await s3.text("POST", "/cpy/race.bin", {
      query: [["uploadId", id]],
      body: completeXml([[1, etag]]),
      headers: { "if-match": `"${md5Hex("won the race")}"` },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal((await s3.text("GET", "/cpy/race.bin")).text, "part");
  });
});

Deno.test("objects: ListMultipartUploads pages by key and upload id, rolls up prefixes", async () => {
  await withObjects(async (s3) => {
    const made: [string, string][] = [];
    for (const key of ["a.bin", "b.bin", "b.bin", "dir/x", "dir/y", "e.bin"]) {
      made.push([key, await createUpload(s3, key)]);
    }
    const list = (query: [string, string][]) =>
      s3.text("GET", "/cpy", { query: [["uploads", ""], ...query] });
    // Two at a time, resuming from the markers, until the end.
    const seen: string[] = [];
    let query: [string, string][] = [["max-uploads", "2"]];
    for (let page = 0; page < 10; page++) {
      const r = await list(query);
      assert.equal(r.status, 200, r.text);
      assert.equal(xmlField(r.text, "MaxUploads"), "2");
      seen.push(...xmlFields(r.text, "UploadId"));
      if (xmlField(r.text, "IsTruncated") === "false") break;
      query = [
        ["max-uploads", "2"],
        ["key-marker", xmlField(r.text, "NextKeyMarker")!],
        ["upload-id-marker", xmlField(r.text, "NextUploadIdMarker")!],
      ];
    }
    // The same as one whole page: by key, then start time (then id).
    const whole = await list([]);
    assert.deepEqual(xmlFields(whole.text, "Key"), [
      "a.bin",
      "b.bin",
      "b.bin",
      "dir/x",
      "dir/y",
      "e.bin",
    ]);
    const order = xmlFields(whole.text, "UploadId");
    assert.deepEqual(seen, order);
    assert.deepEqual([...seen].sort(), made.map(([, id]) => id).sort());
    // After the first upload of b.bin: the second, then the later keys.
    let r = await list([["key-marker", "b.bin"], ["upload-id-marker", order[1]]]);
    assert.deepEqual(xmlFields(r.text, "UploadId"), order.slice(2));
    // A key marker alone skips every upload of that key.
    r = await list([["key-marker", "b.bin"]]);
    assert.deepEqual(xmlFields(r.text, "Key"), ["dir/x", "dir/y", "e.bin"]);
    // Delimiter: dir/ is one common prefix; prefix narrows.
    r = await list([["delimiter", "/"]]);
    assert.deepEqual(xmlFields(r.text, "Key"), ["a.bin", "b.bin", "b.bin", "e.bin"]);
    assert.deepEqual(xmlFields(r.text, "Prefix"), ["", "dir/"]);
    r = await list([["delimiter", "/"], ["key-marker", "dir/"]]);
    assert.deepEqual(xmlFields(r.text, "Key"), ["e.bin"]);
    r = await list([["prefix", "dir/"]]);
    assert.deepEqual(xmlFields(r.text, "Key"), ["dir/x", "dir/y"]);
    r = await list([["max-uploads", "many"]]);
    assert.equal(r.status, 400);
    assert.equal(xmlField(r.text, "Code"), "InvalidArgument");
  });
});

Deno.test("objects: ListBuckets pages with max-buckets and a continuation token", async () => {
  await withObjects(async (s3) => {
    for (const name of ["bk1", "bk2", "bk3", "other"]) await s3.text("PUT", `/${name}`);
    let r = await s3.text("GET", "/", { query: [["max-buckets", "2"]] });
    assert.deepEqual(xmlFields(r.text, "Name"), ["bk1", "bk2"]);
    const token = xmlField(r.text, "ContinuationToken")!;
    assert.ok(token);
    r = await s3.text("GET", "/", { query: [["max-buckets", "2"], ["continuation-token", token]] });
    assert.deepEqual(xmlFields(r.text, "Name"), ["bk3", "cpy"]);
    r = await s3.text("GET", "/", { query: [["prefix", "bk"]] });
    assert.deepEqual(xmlFields(r.text, "Name"), ["bk1", "bk2", "bk3"]);
    assert.equal(xmlField(r.text, "ContinuationToken"), undefined);
    r = await s3.text("GET", "/", { query: [["max-buckets", "0"]] });
    assert.equal(r.status, 400);
    assert.equal(xmlField(r.text, "Code"), "InvalidArgument");
  });
});

Deno.test("objects: multipart uploads older than --upload-max-age-hours are removed", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "underhood-objects-expiry-" });
  let clockMs = Date.now();
  const start = () =>
    startObjects({
      ...defaultConfig(service.flags),
      host: "127.0.0.1",
      port: 0,
      adminPort: 0,
      dataDir,
      uploadMaxAgeHours: 24,
    }, { now: () => clockMs });
  try {
    let old: string, young: string;
    {
      await using svc = await start();
      await using s3 = new S3TestClient(svc.addresses.http);
      await s3.text("PUT", "/cpy", { timeMs: clockMs });
      old = xmlField(
        (await s3.text("POST", "/cpy/old", { query: [["uploads", ""]], timeMs: clockMs })).text,
        "UploadId",
      )!;
      await s3.text("PUT", "/cpy/old", {
        query: [["partNumber", "1"], ["uploadId", old]],
        body: "abandoned",
        timeMs: clockMs,
      });
      clockMs += 20 * 3600_000;
      young = xmlField(
        (await s3.text("POST", "/cpy/young", { query: [["uploads", ""]], timeMs: clockMs })).text,
        "UploadId",
      )!;
    }
    clockMs += 5 * 3600_000;
    await using svc = await start();
    await using s3 = new S3TestClient(svc.addresses.http);
    const r = await s3.text("GET", "/cpy", { query: [["uploads", ""]], timeMs: clockMs });
    assert.deepEqual(xmlFields(r.text, "UploadId"), [young]);
    const files = [...Deno.readDirSync(`${dataDir}/buckets/cpy.uploads`)].map((e) => e.name);
    assert.ok(files.every((name) => !name.startsWith(old)), files.join(" "));
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("object store: a completion past S3's 5 TiB object limit is EntityTooLarge", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "underhood-objects-5tib-" });
  try {
    const store = new ObjectStore({ files: realFiles, dataDir });
    store.open();
    store.createBucket("huge", "", Date.now());
    const multipart = new MultipartUploads(store);
    multipart.open();
    const id = multipart.create("huge", "k", { headers: {}, nowMs: Date.now() });
    const upload = multipart.get("huge", "k", id);
    // Parts' records as if 5 GiB parts had arrived (none is read: the
    // sizes are checked first): 1100 of them make 5.4 TiB.
    for (let n = 1; n <= 1100; n++) {
      upload.parts.set(n, {
        key: `${id}.part-${n}`,
        sizeBytes: 5 * 1024 ** 3,
        etag: "0".repeat(32),
        lastModifiedMs: 0,
        headers: {},
      });
    }
    const chosen = [...upload.parts.keys()].map((n) => ({ partNumber: n, etag: "0".repeat(32) }));
    await assert.rejects(
      multipart.complete(upload, chosen, { nowMs: Date.now() }),
      (error: S3Error) => error.code === "EntityTooLarge",
    );
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("multipart: expiry leaves an upload alone while its completion copies the parts", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "underhood-objects-expire-race-" });
  try {
    const store = new ObjectStore({ files: realFiles, dataDir });
    store.open();
    store.createBucket("race", "", 0);
    const multipart = new MultipartUploads(store);
    multipart.open();
    const id = multipart.create("race", "k", { headers: {}, nowMs: 0 });
    const upload = multipart.get("race", "k", id);
    const data = new Uint8Array(3 * MiB).fill(7);
    const part = multipart.beginPart(upload, 1);
    await part.write(data);
    const meta = await part.commit({ headers: {}, nowMs: 0 });
    // The completion yields between 1 MiB pieces; the sweep runs in between.
    const completing = multipart.complete(upload, [{ partNumber: 1, etag: meta.etag }], {
      nowMs: 1,
    });
    assert.equal(multipart.expire(10 * 24 * 3600_000, 3600_000), 0);
    const object = await completing;
    assert.equal(object.sizeBytes, data.length);
    assert.equal(store.head("race", "k")?.sizeBytes, data.length);
    // Once completed it is gone from the uploads, and nothing is left to expire.
    assert.equal(multipart.list("race").length, 0);
    assert.equal(multipart.expire(10 * 24 * 3600_000, 3600_000), 0);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("multipart: an abort while the completion copies fails the completion with NoSuchUpload", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "underhood-objects-abort-race-" });
  try {
    const store = new ObjectStore({ files: realFiles, dataDir });
    store.open();
    store.createBucket("race", "", 0);
    const multipart = new MultipartUploads(store);
    multipart.open();
    const id = multipart.create("race", "k", { headers: {}, nowMs: 0 });
    const upload = multipart.get("race", "k", id);
    const chosen = [];
    for (const n of [1, 2]) {
      const part = multipart.beginPart(upload, n);
      await part.write(new Uint8Array(5 * MiB).fill(n));
      chosen.push({ partNumber: n, etag: (await part.commit({ headers: {}, nowMs: 0 })).etag });
    }
    const completing = multipart.complete(upload, chosen, { nowMs: 1 });
    multipart.abort(upload);
    await assert.rejects(completing, (error: S3Error) => error.code === "NoSuchUpload");
    assert.equal(store.head("race", "k"), undefined);
    assert.deepEqual([...Deno.readDirSync(`${dataDir}/buckets/race`)], []);
    assert.deepEqual([...Deno.readDirSync(`${dataDir}/buckets/race.uploads`)], []);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
