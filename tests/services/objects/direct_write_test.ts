// Direct writes and reads (O_DIRECT, lib/fs/file_layer.ts `writeDirect` and
// `directReads`): a large
// upload's staging buffers go to the disk past the page cache, whole 4096-byte
// blocks only, and the unaligned tail (the end of the content and the trailer)
// through the page cache. Objects of every size around those boundaries, and
// larger than a staging buffer with an odd tail, come back byte for byte with
// their MD5 as ETag: written direct, with O_DIRECT refused (the fallback), and
// on tmpfs (/dev/shm). A large object read direct also serves ranges that
// start off the 4096-byte grid, and keeps serving the version it opened
// while it is overwritten.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { directIoOptions } from "../../../lib/fs/file_layer.ts";
import { DIRECT_WRITE_BYTES, directWriteOptions } from "../../../services/objects/body.ts";
import { service } from "../../../services/objects/mod.ts";
import { startService } from "../../_support/service.ts";
import {
  DIRECT_READ_MIN_BYTES,
  EARLY_SYNC_EVERY_BYTES,
  earlySyncOptions,
  LARGE_READS_MAX,
  LARGE_STAGE_BYTES,
  LARGE_STAGE_UPLOADS_MAX,
  ObjectStore,
} from "../../../services/objects/store.ts";
import { MultipartUploads } from "../../../services/objects/multipart.ts";
import { s3Handler } from "../../../services/objects/api.ts";
import { serveHttp } from "../../../lib/http/server.ts";
import { logger } from "../../../lib/log.ts";
import { type FileHandle, type FileLayer, realFiles } from "../../../lib/fs/file_layer.ts";
import { S3TestClient } from "./_s3.ts";
import { residentPages } from "../../_support/page_cache.ts";

const MiB = 1024 * 1024;
/**
 * Around a 4096-byte block, a 1 MiB staging buffer and a large (4 MiB) one,
 * larger than one with an odd tail, and past DIRECT_READ_MIN_BYTES (read
 * back with O_DIRECT too).
 */
const SIZES = [
  0,
  1,
  4095,
  4096,
  4097,
  12345,
  MiB,
  3 * MiB + 7,
  LARGE_STAGE_BYTES,
  LARGE_STAGE_BYTES + 1,
  DIRECT_READ_MIN_BYTES + MiB + 4097,
];

function content(size: number, seed: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 12) + seed) & 0xff;
  return bytes;
}

/** PUTs every size, checks the page cache holds at most the tail pages when direct, then GETs each back. */
async function roundTrips(options: { dataDir?: string; direct: boolean }): Promise<void> {
  await using svc = await startService(
    service,
    options.dataDir ? { dataDir: options.dataDir } : {},
  );
  await using s3 = new S3TestClient(svc.addresses.http);
  assert.equal((await s3.text("PUT", "/direct")).status, 200);
  const bodies = SIZES.map((size, i) => content(size, i));
  for (const [i, body] of bodies.entries()) {
    const r = await s3.send("PUT", `/direct/o${i}`, { body });
    assert.equal(r.status, 200, await r.text());
    const md5 = createHash("md5").update(body).digest("hex");
    assert.equal(r.headers.get("etag"), `"${md5}"`, `size ${body.length}`);
  }
  if (options.direct) {
    const bucketDir = join(svc.dataDir, "buckets", "direct");
    for (const entry of Deno.readDirSync(bucketDir)) {
      const pages = residentPages(join(bucketDir, entry.name));
      // The tail (end of content and the trailer) spans at most two pages.
      if (pages !== undefined) assert.ok(pages <= 2, `${pages} pages cached`);
    }
  }
  for (const [i, body] of bodies.entries()) {
    const r = await s3.send("GET", `/direct/o${i}`);
    assert.equal(r.status, 200);
    assert.deepEqual(new Uint8Array(await r.arrayBuffer()), body, `size ${body.length}`);
  }
}

Deno.test("objects: direct writes keep every size around 4096-byte blocks and staging buffers whole", async () => {
  directWriteOptions.minBytes = 0;
  try {
    await roundTrips({ direct: true });
  } finally {
    directWriteOptions.minBytes = DIRECT_WRITE_BYTES;
  }
});

Deno.test("objects: when the filesystem refuses O_DIRECT, uploads go through the page cache whole", async () => {
  directWriteOptions.minBytes = 0;
  directIoOptions.refuse = true;
  try {
    await roundTrips({ direct: false });
  } finally {
    directIoOptions.refuse = false;
    directWriteOptions.minBytes = DIRECT_WRITE_BYTES;
  }
});

Deno.test({
  name: "objects: direct writes on tmpfs (/dev/shm), which refuses O_DIRECT before Linux 6.6",
  ignore: !existsDir("/dev/shm"),
  async fn() {
    directWriteOptions.minBytes = 0;
    const dataDir = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "underhood-objects-" });
    try {
      await roundTrips({ dataDir, direct: false });
    } finally {
      directWriteOptions.minBytes = DIRECT_WRITE_BYTES;
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("objects: a 9 MiB object with an odd tail is written direct with the default threshold", async () => {
  await using svc = await startService(service);
  await using s3 = new S3TestClient(svc.addresses.http);
  assert.equal((await s3.text("PUT", "/direct")).status, 200);
  const body = content(9 * MiB + 4097, 9);
  const r = await s3.send("PUT", "/direct/nine", { body });
  assert.equal(r.status, 200, await r.text());
  assert.equal(r.headers.get("etag"), `"${createHash("md5").update(body).digest("hex")}"`);
  const bucketDir = join(svc.dataDir, "buckets", "direct");
  for (const entry of Deno.readDirSync(bucketDir)) {
    const pages = residentPages(join(bucketDir, entry.name));
    if (pages !== undefined) assert.ok(pages <= 2, `${pages} pages cached`);
  }
  const back = await s3.send("GET", "/direct/nine");
  assert.deepEqual(new Uint8Array(await back.arrayBuffer()), body);
});

function existsDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

Deno.test("objects: a large object read direct serves ranges off the block grid, and the version it opened", async () => {
  await using svc = await startService(service);
  await using s3 = new S3TestClient(svc.addresses.http);
  assert.equal((await s3.text("PUT", "/direct")).status, 200);
  const size = DIRECT_READ_MIN_BYTES + 3 * MiB + 123;
  const body = content(size, 21);
  assert.equal((await s3.send("PUT", "/direct/big", { body })).status, 200);
  const ranges: [string, number, number][] = [
    ["bytes=1-4096", 1, 4097],
    ["bytes=4096-8191", 4096, 8192],
    [`bytes=${MiB - 5}-${3 * MiB + 10}`, MiB - 5, 3 * MiB + 11],
    ["bytes=-5000", size - 5000, size],
    [`bytes=${size - MiB - 1}-`, size - MiB - 1, size],
  ];
  for (const [range, from, to] of ranges) {
    const r = await s3.send("GET", "/direct/big", { headers: { range } });
    assert.equal(r.status, 206, range);
    assert.deepEqual(new Uint8Array(await r.arrayBuffer()), body.subarray(from, to), range);
  }
  // Start a GET, overwrite the object, then read the GET to its end: the old version, whole.
  const reading = await s3.send("GET", "/direct/big");
  const newer = content(size + 1, 22);
  assert.equal((await s3.send("PUT", "/direct/big", { body: newer })).status, 200);
  assert.deepEqual(new Uint8Array(await reading.arrayBuffer()), body);
  const again = await s3.send("GET", "/direct/big");
  assert.deepEqual(new Uint8Array(await again.arrayBuffer()), newer);
});

Deno.test("objects: large GETs abandoned part way, with reads still in flight, release their files", async () => {
  await using svc = await startService(service);
  await using s3 = new S3TestClient(svc.addresses.http);
  assert.equal((await s3.text("PUT", "/direct")).status, 200);
  const body = content(DIRECT_READ_MIN_BYTES + 5 * MiB, 31);
  assert.equal((await s3.send("PUT", "/direct/left", { body })).status, 200);
  const openFiles = () => [...Deno.readDirSync("/proc/self/fd")].length;
  const before = openFiles();
  for (let i = 0; i < 20; i++) {
    const r = await s3.send("GET", "/direct/left");
    const reader = r.body!.getReader();
    const first = await reader.read();
    assert.deepEqual(first.value, body.subarray(0, first.value!.length));
    await reader.cancel();
  }
  // The server notices each closed connection and closes the object once its reads settle.
  const deadline = Date.now() + 10_000;
  while (openFiles() > before + 2 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.ok(openFiles() <= before + 2, `${openFiles() - before} descriptors more than before`);
  const whole = await s3.send("GET", "/direct/left");
  assert.deepEqual(new Uint8Array(await whole.arrayBuffer()), body);
});

Deno.test("objects: large staging buffers go to a bounded number of uploads, and come back with each", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "underhood-objects-stages-" });
  try {
    const store = new ObjectStore({ files: realFiles, dataDir });
    store.open();
    store.createBucket("stages", "", Date.now());
    for (let round = 0; round < 2; round++) {
      // One more upload than the grants: it stages in 1 MiB buffers.
      const uploads = Array.from({ length: LARGE_STAGE_UPLOADS_MAX + 1 }, (_, i) => {
        const upload = store.beginUpload("stages", `k${i}`);
        upload.writeDirect();
        return upload;
      });
      assert.deepEqual(
        uploads.map((u) => u.stageBytes),
        [...Array(LARGE_STAGE_UPLOADS_MAX).fill(LARGE_STAGE_BYTES), MiB],
      );
      assert.equal(store.buffers.large.out, LARGE_STAGE_UPLOADS_MAX);
      // Small bodies (one buffer each): memory is shared with the test files run alongside.
      const bodies = uploads.map((_, i) => content(64 * 1024 + 4097 * i, round * 10 + i));
      await Promise.all(uploads.map((u, i) => u.write(bodies[i])));
      // Some are committed, some abandoned: every grant comes back either way.
      const metas = await Promise.all(
        uploads.map((u, i) =>
          i % 2 === 0 ? u.commit({ headers: {}, nowMs: Date.now() }) : u.abandon()
        ),
      );
      assert.equal(store.buffers.large.out, 0);
      for (const [i, meta] of metas.entries()) {
        if (meta === undefined) continue;
        assert.equal(meta.etag, createHash("md5").update(bodies[i]).digest("hex"));
        using reader = store.openObject("stages", `k${i}`)!;
        const back = new Uint8Array(bodies[i].length);
        assert.equal(reader.readAt(back, 0), back.length);
        assert.deepEqual(back, bodies[i]);
      }
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("objects: large GETs read ahead in large pieces a bounded number at a time, and give them back", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "underhood-objects-reads-" });
  try {
    const store = new ObjectStore({ files: realFiles, dataDir });
    store.open();
    store.createBucket("pub", "", Date.now());
    const multipart = new MultipartUploads(store);
    multipart.open();
    await using server = serveHttp({
      port: 0,
      handler: s3Handler({
        store,
        multipart,
        keys: [],
        publicBuckets: new Set(["pub"]),
        region: "us-east-1",
        log: logger("objects"),
      }),
    });
    const url = `http://127.0.0.1:${server.addr.port}/pub/big`;
    // Large pieces and an odd tail (pieces of both sizes end off the grid).
    const body = content(DIRECT_READ_MIN_BYTES + 4097, 41);
    const md5 = createHash("md5").update(body).digest("hex");
    assert.equal((await fetch(url, { method: "PUT", body })).status, 200);
    // More GETs at once than there are grants: each one whole, whatever its pieces.
    const readers = LARGE_READS_MAX + 2;
    const all = await Promise.all(
      Array.from({ length: readers }, async () => {
        const r = await fetch(url);
        const seen = store.largeReads.out;
        // Hashed as it comes: no copy of the object per reader.
        const hash = createHash("md5");
        let bytes = 0;
        for await (const chunk of r.body!) {
          hash.update(chunk);
          bytes += chunk.length;
        }
        return { bytes, md5: hash.digest("hex"), seen };
      }),
    );
    for (const { bytes, md5: got, seen } of all) {
      assert.ok(seen <= LARGE_READS_MAX, `${seen} grants out`);
      assert.equal(bytes, body.length);
      assert.equal(got, md5);
    }
    assert.equal(store.largeReads.out, 0);
    // GETs abandoned after their first piece give their grants back too.
    for (let i = 0; i < readers; i++) {
      const r = await fetch(url);
      const reader = r.body!.getReader();
      await reader.read();
      await reader.cancel();
    }
    const deadline = Date.now() + 10_000;
    while (store.largeReads.out > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(store.largeReads.out, 0);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

/** The real file layer, with `beforeSyncData` run before each `syncDataAsync` of a file. */
function watchingSyncData(beforeSyncData: () => void): FileLayer {
  const pass = <T extends object>(target: T, prop: string | symbol) => {
    const value = Reflect.get(target, prop, target);
    return typeof value === "function" ? value.bind(target) : value;
  };
  const wrap = (handle: FileHandle): FileHandle =>
    new Proxy(handle, {
      get(target, prop) {
        if (prop !== "syncDataAsync") return pass(target, prop);
        return async () => {
          beforeSyncData();
          await target.syncDataAsync!();
        };
      },
    });
  return new Proxy(realFiles, {
    get(target, prop) {
      if (prop === "open") return (...a: Parameters<FileLayer["open"]>) => wrap(target.open(...a));
      if (prop === "openAsync") {
        return async (...a: Parameters<FileLayer["open"]>) => wrap(await target.openAsync!(...a));
      }
      return pass(target, prop);
    },
  });
}

Deno.test("objects: a large upload written direct syncs its data as it goes, and fails if such a sync fails", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "underhood-objects-early-sync-" });
  earlySyncOptions.everyBytes = LARGE_STAGE_BYTES;
  try {
    let syncs = 0;
    let failing = false;
    const store = new ObjectStore({
      files: watchingSyncData(() => {
        syncs++;
        if (failing) throw new Error("EIO (simulated)");
      }),
      dataDir,
    });
    store.open();
    store.createBucket("sync", "", Date.now());
    const body = content(5 * LARGE_STAGE_BYTES + 4097, 51);
    const upload = store.beginUpload("sync", "k");
    upload.writeDirect();
    await upload.write(body);
    const meta = await upload.commit({ headers: {}, nowMs: Date.now() });
    assert.equal(meta.etag, createHash("md5").update(body).digest("hex"));
    // One at a time, each after a 4 MiB buffer more written: at least two, at most five.
    assert.ok(syncs >= 2 && syncs <= 5, `${syncs} early syncs`);
    // A failed early sync fails the upload: the final fsync would not report it again.
    failing = true;
    const doomed = store.beginUpload("sync", "k");
    doomed.writeDirect();
    await assert.rejects(
      (async () => {
        await doomed.write(content(5 * LARGE_STAGE_BYTES, 52));
        await doomed.commit({ headers: {}, nowMs: Date.now() });
      })(),
      /EIO \(simulated\)/,
    );
    await doomed.abandon();
    assert.equal(store.head("sync", "k")?.etag, meta.etag);
    const left = [...Deno.readDirSync(join(dataDir, "buckets", "sync"))].map((e) => e.name);
    assert.ok(left.every((name) => !name.endsWith(".tmp")), left.join(" "));
  } finally {
    earlySyncOptions.everyBytes = EARLY_SYNC_EVERY_BYTES;
    await Deno.remove(dataDir, { recursive: true });
  }
});
