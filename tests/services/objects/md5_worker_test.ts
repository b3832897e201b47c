// MD5 off the event loop, on libcrypto (services/objects/md5_native.ts) or
// on the worker thread (services/objects/md5_worker.ts): the same digest
// as node:crypto's for any chunking, copied or read from shared memory,
// several hashes at once, dropped hashes, the thread ending with its last
// user; a thread that stops answering fails its uploads (InternalError
// through the server) and the next upload gets a new thread; and a PUT past
// the off-thread size through the server keeps its ETag and its Content-MD5
// check.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import {
  hashThreadOptions,
  hashThreadRunning,
  InlineMd5,
  WorkerMd5,
} from "../../../services/objects/md5_worker.ts";
import {
  nativeMd5,
  nativeMd5Available,
  nativeMd5Options,
} from "../../../services/objects/md5_native.ts";
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

Deno.test("WorkerMd5 reads shared buffers in place, in order with copied bytes", async () => {
  const data = pattern(2 * 1024 * 1024 + 5000, 5);
  const md5 = new WorkerMd5();
  const shared = new Uint8Array(new SharedArrayBuffer(1024 * 1024));
  const hashed: Promise<void>[] = [];
  // Copied, shared, copied, shared: the digest follows the order of the calls.
  md5.update(data.subarray(0, 1000));
  shared.set(data.subarray(1000, 1000 + shared.length));
  hashed.push(
    new Promise((resolve, reject) => {
      md5.update(shared, (error) => error ? reject(error) : resolve());
    }),
  );
  await hashed[0];
  md5.update(data.subarray(1000 + shared.length, 2 * 1024 * 1024));
  const rest = data.subarray(2 * 1024 * 1024);
  shared.set(rest);
  hashed.push(
    new Promise((resolve, reject) => {
      md5.update(shared.subarray(0, rest.length), (error) => error ? reject(error) : resolve());
    }),
  );
  assert.equal((await md5.digest()).toString("hex"), hex(data));
  await Promise.all(hashed);
});

Deno.test("a hash thread that stops answering fails its hashes, and the next hash gets a new thread", async () => {
  const saved = { ...hashThreadOptions };
  hashThreadOptions.replyTimeoutMs = 200;
  hashThreadOptions.stallThreads = true;
  try {
    const stuck = new WorkerMd5();
    const shared = new Uint8Array(new SharedArrayBuffer(64 * 1024)).fill(1);
    const failed = new Promise<Error | undefined>((resolve) => stuck.update(shared, resolve));
    const error = await failed;
    assert.match(String(error), /did not answer/);
    await assert.rejects(stuck.digest(), /did not answer/);
  } finally {
    Object.assign(hashThreadOptions, saved);
  }
  // (A thread's start can take longer than 200 ms on a busy machine: the
  // default timeout again for the new one.)
  const fresh = new WorkerMd5();
  const shared = new Uint8Array(new SharedArrayBuffer(64 * 1024)).fill(2);
  fresh.update(shared);
  assert.equal((await fresh.digest()).toString("hex"), hex(shared));
});

Deno.test("objects: an upload whose hash thread stops answering is InternalError, the next one is stored", async () => {
  nativeMd5Options.disabled = true; // the worker thread, not libcrypto
  try {
    await stuckHashThread();
  } finally {
    nativeMd5Options.disabled = false;
  }
});

async function stuckHashThread() {
  await using svc = await startService(service, { publicBucket: ["files"] });
  const body = pattern(OFF_THREAD_MD5_BYTES + 1024 * 1024 + 3, 6);
  const saved = { ...hashThreadOptions };
  hashThreadOptions.replyTimeoutMs = 300;
  hashThreadOptions.stallThreads = true;
  try {
    // A raw socket: the answer comes before the body is all sent, so the
    // rest of it may be refused (a client library would report the broken pipe).
    const answer = await putRaw(svc.addresses.http, "/files/stuck", body);
    assert.match(answer, /^HTTP\/1\.1 500 /);
    assert.match(answer, /<Code>InternalError<\/Code>/);
  } finally {
    Object.assign(hashThreadOptions, saved);
  }
  await using s3 = new S3TestClient(svc.addresses.http);
  let r = await s3.text("HEAD", "/files/stuck");
  assert.equal(r.status, 404);
  r = await s3.text("PUT", "/files/stuck", { body, unsignedPayload: true });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get("etag"), `"${hex(body)}"`);
}

/** An anonymous PUT on its own socket; returns what the server answered (the body may be cut short). */
async function putRaw(address: Deno.NetAddr, path: string, body: Uint8Array): Promise<string> {
  const conn = await Deno.connect({ hostname: address.hostname, port: address.port });
  try {
    const head = `PUT ${path} HTTP/1.1\r\nHost: ${address.hostname}:${address.port}\r\n` +
      `Content-Length: ${body.length}\r\n\r\n`;
    const sending = (async () => {
      await conn.write(new TextEncoder().encode(head));
      for (let at = 0; at < body.length; at += 1024 * 1024) {
        await conn.write(body.slice(at, Math.min(body.length, at + 1024 * 1024)));
      }
    })().catch(() => {}); // refused once the server has answered
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(64 * 1024);
    while (true) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
      const text = new TextDecoder().decode(Buffer.concat(chunks));
      if (/<\/Error>/.test(text)) break;
    }
    conn.close();
    await sending;
    return new TextDecoder().decode(Buffer.concat(chunks));
  } catch (error) {
    try {
      conn.close();
    } catch { /* closed */ }
    throw error;
  }
}

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

for (const native of [true, false]) {
  const how = native ? "libcrypto" : "the worker thread";
  Deno.test(`objects: a PUT past the off-thread MD5 size (${how}) keeps its ETag and Content-MD5 check`, async () => {
    nativeMd5Options.disabled = !native;
    try {
      await putPastOffThreadSize();
    } finally {
      nativeMd5Options.disabled = false;
    }
  });
}

async function putPastOffThreadSize() {
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
}

Deno.test("objects: the MD5 thread starts with the server, not with the first large upload, and ends with it", async () => {
  assert.equal(hashThreadRunning(), false);
  nativeMd5Options.disabled = true; // the worker thread, not libcrypto
  const svc = await startService(service, {}).finally(() => nativeMd5Options.disabled = false);
  try {
    assert.equal(hashThreadRunning(), true);
    await using s3 = new S3TestClient(svc.addresses.http);
    await s3.text("PUT", "/big");
    const body = pattern(OFF_THREAD_MD5_BYTES + 5, 7);
    const r = await s3.text("PUT", "/big/object", { body, unsignedPayload: true });
    assert.equal(r.headers.get("etag"), `"${hex(body)}"`);
    // Kept after the upload, for the next one.
    assert.equal(hashThreadRunning(), true);
  } finally {
    await svc.close();
  }
  assert.equal(hashThreadRunning(), false);
});

Deno.test("objects: with libcrypto, no MD5 thread runs at all", async () => {
  if (!nativeMd5Available()) {
    console.log("skipped: libcrypto (libssl3) cannot be loaded here");
    return;
  }
  await using svc = await startService(service, {});
  await using s3 = new S3TestClient(svc.addresses.http);
  await s3.text("PUT", "/big");
  const body = pattern(OFF_THREAD_MD5_BYTES + 5, 8);
  const r = await s3.text("PUT", "/big/object", { body, unsignedPayload: true });
  assert.equal(r.headers.get("etag"), `"${hex(body)}"`);
  assert.equal(hashThreadRunning(), false);
});

Deno.test("NativeMd5 gives node:crypto's digest for any chunking, read in place or copied", async () => {
  const md5Of = nativeMd5;
  if (md5Of() === undefined) {
    console.log("skipped: libcrypto (libssl3) cannot be loaded here");
    return;
  }
  const data = pattern(5 * 1024 * 1024 + 777, 11);
  for (const size of [1, 4093, 65536, 1024 * 1024, 3 * 1024 * 1024 + 1]) {
    // Without a callback the caller reuses its chunk at once: the hash must have copied it.
    const copied = md5Of()!;
    const reused = new Uint8Array(size);
    // With a callback the bytes are read in place, and stay untouched until it is called.
    const inPlace = md5Of()!;
    const hashed: Promise<void>[] = [];
    for (let at = 0; at < data.length; at += size) {
      const n = Math.min(size, data.length - at);
      reused.set(data.subarray(at, at + n));
      copied.update(reused.subarray(0, n));
      reused.fill(0);
      const piece = data.slice(at, at + n);
      hashed.push(
        new Promise((resolve, reject) =>
          inPlace.update(piece, (error) => error ? reject(error) : resolve())
        ),
      );
      if (size === 1 && at > 70_000) { // a byte at a time is slow: mix in the rest whole
        copied.update(data.subarray(at + 1));
        inPlace.update(data.subarray(at + 1));
        break;
      }
    }
    assert.equal((await copied.digest()).toString("hex"), hex(data), `chunks of ${size}`);
    assert.equal((await inPlace.digest()).toString("hex"), hex(data), `chunks of ${size}`);
    await Promise.all(hashed);
  }
  const empty = md5Of()!;
  assert.equal((await empty.digest()).toString("hex"), hex(new Uint8Array()));
  // Shared memory (the staging buffers), mixed with copied bytes, in order.
  const shared = new Uint8Array(new SharedArrayBuffer(1024 * 1024));
  shared.set(data.subarray(100, 100 + shared.length));
  const mixed = md5Of()!;
  mixed.update(data.subarray(0, 100));
  mixed.update(shared, () => {});
  mixed.update(data.subarray(100 + shared.length));
  assert.equal((await mixed.digest()).toString("hex"), hex(data));
});
