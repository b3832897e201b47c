// Hostile keys: any UTF-8 key of up to 1024 bytes is its own object, stored
// inside the bucket's directory whatever it holds ("..", slashes, percent
// signs, trailing slashes), and the files on disk are only the ones the
// layout names. Then a large object streams both ways in bounded memory.

import assert from "node:assert/strict";
import { join } from "node:path";
import { service } from "../../../services/objects/mod.ts";
import { startService } from "../../_support/service.ts";
import { encodeKey, S3TestClient, xmlField, xmlFields } from "./_s3.ts";

/** The path of a key as the SDKs send it, with dot segments escaped so no URL parser folds them. */
function keyPath(bucket: string, key: string): string {
  const encoded = encodeKey(key).split("/").map((segment) =>
    segment === "." ? "%2E" : segment === ".." ? "%2E%2E" : segment
  ).join("/");
  return `/${bucket}/${encoded}`;
}

const HOSTILE_KEYS = [
  "../../../../etc/passwd",
  "..",
  ".",
  "a/b",
  "a%2Fb",
  "a%252Fb",
  "a/",
  "a//b",
  "/leading",
  "trailing/",
  "%",
  "100%",
  "spaces and\ttabs",
  "new\nline",
  "quote\"'<>&",
  "\u00e9t\u00e9/\u6f22\u5b57/\u{1F600}",
  "x".repeat(1024),
  "\u00e9".repeat(512), // 1024 bytes of UTF-8
  "bucket.json",
  "pics.bucket",
  "0".repeat(64),
];

Deno.test("objects: hostile keys are distinct objects kept inside the bucket", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "underhood-objects-keys-" });
  try {
    await hostileKeys(dataDir);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

async function hostileKeys(dataDir: string) {
  const svc = await startService(service, { dataDir });
  const s3 = new S3TestClient(svc.addresses.http);
  assert.equal((await s3.text("PUT", "/pics")).status, 200);
  for (const [i, key] of HOSTILE_KEYS.entries()) {
    const r = await s3.text("PUT", keyPath("pics", key), { body: `object ${i}` });
    assert.equal(r.status, 200, `${JSON.stringify(key)}: ${r.text}`);
  }
  for (const [i, key] of HOSTILE_KEYS.entries()) {
    const r = await s3.text("GET", keyPath("pics", key));
    assert.equal(r.text, `object ${i}`, JSON.stringify(key));
  }
  const listed = await s3.text("GET", "/pics", {
    query: [["list-type", "2"], ["encoding-type", "url"]],
  });
  const keys = xmlFields(listed.text, "Key").map(decodeURIComponent);
  assert.deepEqual(new Set(keys), new Set(HOSTILE_KEYS));

  let r = await s3.text("PUT", keyPath("pics", "x".repeat(1025)), { body: "too long" });
  assert.equal(r.status, 400);
  assert.equal(xmlField(r.text, "Code"), "KeyTooLongError");

  // Every file under the data directory is a bucket marker or an object named by its hash.
  const seen: string[] = [];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) walk(path);
      else seen.push(path.slice(dataDir.length));
    }
  };
  walk(dataDir);
  for (const path of seen) {
    assert.match(path, /^\/buckets\/(pics\.bucket|pics\/[0-9a-f]{64})$/);
  }
  assert.equal(seen.length, HOSTILE_KEYS.length + 1);

  // Still there after a restart, in the same byte order.
  await s3.close();
  await svc.close();
  await using again = await startService(service, { dataDir });
  await using s3again = new S3TestClient(again.addresses.http);
  r = await s3again.text("GET", "/pics", {
    query: [["list-type", "2"], ["encoding-type", "url"]],
  });
  assert.deepEqual(xmlFields(r.text, "Key").map(decodeURIComponent), keys);
}

Deno.test("objects: a 192 MiB object streams in and out in bounded memory", async () => {
  await using svc = await startService(service);
  await using s3 = new S3TestClient(svc.addresses.http);
  await s3.text("PUT", "/big");
  const pieceBytes = 1024 * 1024;
  const pieces = 192;
  const piece = new Uint8Array(pieceBytes).map((_, i) => i * 7);
  // This isolate's memory (JS heap, and ArrayBuffers such as staging
  // buffers and bodies: where a body held whole would show), which the test
  // files run alongside in the same process (deno test --parallel) do not
  // change; and, more loosely, the process's resident set, which they do
  // (with direct_write_test alongside, the resident set grew by 76-151 MiB
  // here, this isolate's memory by 28-38).
  const isolate = () => {
    const m = Deno.memoryUsage();
    return m.heapUsed + m.external;
  };
  const isolateBefore = isolate();
  const rssBefore = Deno.memoryUsage().rss;
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === pieces) return controller.close();
      sent++;
      controller.enqueue(piece.slice());
    },
  });
  let response = await fetch(s3.url("/big/blob"), {
    method: "PUT",
    body,
    headers: await s3.signedHeaders("PUT", "/big/blob"),
  });
  assert.equal(response.status, 200, await response.text());
  let peakRss = Deno.memoryUsage().rss;
  let peakIsolate = isolate();
  response = await s3.send("GET", "/big/blob");
  assert.equal(response.headers.get("content-length"), String(pieces * pieceBytes));
  let received = 0;
  for await (const chunk of response.body!) {
    received += chunk.length;
    if (received % (16 * pieceBytes) < chunk.length) {
      peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
      peakIsolate = Math.max(peakIsolate, isolate());
    }
  }
  assert.equal(received, pieces * pieceBytes);
  const grownMiB = (peakIsolate - isolateBefore) / 1024 / 1024;
  assert.ok(grownMiB < 96, `memory grew by ${grownMiB.toFixed(0)} MiB for a 192 MiB object`);
  const rssGrownMiB = (peakRss - rssBefore) / 1024 / 1024;
  assert.ok(rssGrownMiB < 192, `RSS grew by ${rssGrownMiB.toFixed(0)} MiB for a 192 MiB object`);
});
