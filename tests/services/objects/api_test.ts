// The S3 API over a real socket: buckets, objects, listings, conditionals,
// ranges, copies, batch deletes, errors and signatures, each checked as S3
// answers it.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { presignQuery } from "../../../lib/s3/sigv4.ts";
import { service } from "../../../services/objects/mod.ts";
import { startService } from "../../_support/service.ts";
import { CREDENTIALS, encodeKey, S3TestClient, xmlField, xmlFields } from "./_s3.ts";

async function withObjects(
  fn: (s3: S3TestClient, addr: Deno.NetAddr) => Promise<void>,
  overrides: Record<string, unknown> = {},
) {
  await using svc = await startService(service, overrides);
  await using s3 = new S3TestClient(svc.addresses.http);
  await fn(s3, svc.addresses.http);
}

const md5Hex = (data: string | Uint8Array) => createHash("md5").update(data).digest("hex");

Deno.test("objects: bucket lifecycle, with S3's codes for each mistake", async () => {
  await withObjects(async (s3) => {
    let r = await s3.text("GET", "/");
    assert.equal(r.status, 200);
    assert.match(
      r.text,
      /<ListAllMyBucketsResult xmlns="http:\/\/s3.amazonaws.com\/doc\/2006-03-01\/">/,
    );
    assert.ok(r.headers.get("x-amz-request-id"));

    r = await s3.text("PUT", "/Bad_Name");
    assert.equal(r.status, 400);
    assert.equal(xmlField(r.text, "Code"), "InvalidBucketName");
    assert.equal(xmlField(r.text, "RequestId"), r.headers.get("x-amz-request-id"));

    r = await s3.text("PUT", "/photos", {
      body: `<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
        `<LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>`,
    });
    assert.equal(r.status, 200, r.text);
    r = await s3.text("PUT", "/photos");
    assert.equal(r.status, 409);
    assert.equal(xmlField(r.text, "Code"), "BucketAlreadyOwnedByYou");

    r = await s3.text("GET", "/photos", { query: [["location", ""]] });
    assert.match(r.text, />eu-west-1<\/LocationConstraint>/);
    r = await s3.text("HEAD", "/photos");
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("x-amz-bucket-region"), "eu-west-1");
    r = await s3.text("HEAD", "/nothing-here");
    assert.equal(r.status, 404);

    r = await s3.text("GET", "/");
    assert.deepEqual(xmlFields(r.text, "Name"), ["photos"]);

    await s3.text("PUT", "/photos/a.txt", { body: "a" });
    r = await s3.text("DELETE", "/photos");
    assert.equal(r.status, 409);
    assert.equal(xmlField(r.text, "Code"), "BucketNotEmpty");
    assert.equal((await s3.text("DELETE", "/photos/a.txt")).status, 204);
    assert.equal((await s3.text("DELETE", "/photos")).status, 204);
    r = await s3.text("DELETE", "/photos");
    assert.equal(r.status, 404);
    assert.equal(xmlField(r.text, "Code"), "NoSuchBucket");

    r = await s3.text("GET", "/photos", { query: [["acl", ""]] });
    assert.equal(r.status, 501);
    assert.equal(xmlField(r.text, "Code"), "NotImplemented");
  });
});

Deno.test("objects: PUT then GET round-trips content, ETag and metadata", async () => {
  await withObjects(async (s3) => {
    await s3.text("PUT", "/bk1");
    const body = "hello, world\n";
    let r = await s3.text("PUT", "/bk1/dir/hello.txt", {
      body,
      headers: {
        "content-type": "text/plain",
        "content-disposition": 'attachment; filename="hello.txt"',
        "content-language": "en",
        "cache-control": "max-age=60",
        expires: "Thu, 01 Dec 2094 16:00:00 GMT",
        "x-amz-meta-colour": "blue",
        "x-amz-meta-name": "\u00e9t\u00e9 \u2713",
        "content-md5": createHash("md5").update(body).digest("base64"),
      },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get("etag"), `"${md5Hex(body)}"`);

    r = await s3.text("GET", "/bk1/dir/hello.txt");
    assert.equal(r.status, 200);
    assert.equal(r.text, body);
    assert.equal(r.headers.get("etag"), `"${md5Hex(body)}"`);
    assert.equal(r.headers.get("content-type"), "text/plain");
    assert.equal(r.headers.get("content-disposition"), 'attachment; filename="hello.txt"');
    assert.equal(r.headers.get("content-language"), "en");
    assert.equal(r.headers.get("cache-control"), "max-age=60");
    assert.equal(r.headers.get("expires"), "Thu, 01 Dec 2094 16:00:00 GMT");
    assert.equal(r.headers.get("x-amz-meta-colour"), "blue");
    // UTF-8 metadata, signed by the client, comes back as the same bytes.
    const raw = r.headers.get("x-amz-meta-name")!;
    assert.equal(
      new TextDecoder().decode(Uint8Array.from(raw, (c) => c.charCodeAt(0))),
      "\u00e9t\u00e9 \u2713",
    );
    assert.ok(r.headers.get("last-modified")?.endsWith(" GMT"));

    r = await s3.text("HEAD", "/bk1/dir/hello.txt");
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-length"), String(body.length));
    assert.equal(r.text, "");

    r = await s3.text("GET", "/bk1/dir/hello.txt", {
      query: [["response-content-type", "application/x-test"], [
        "response-cache-control",
        "no-cache",
      ]],
    });
    assert.equal(r.headers.get("content-type"), "application/x-test");
    assert.equal(r.headers.get("cache-control"), "no-cache");

    r = await s3.text("GET", "/bk1/missing");
    assert.equal(r.status, 404);
    assert.equal(xmlField(r.text, "Code"), "NoSuchKey");
    r = await s3.text("GET", "/nobucket/x");
    assert.equal(xmlField(r.text, "Code"), "NoSuchBucket");

    // An overwrite replaces content and metadata whole.
    r = await s3.text("PUT", "/bk1/dir/hello.txt", { body: "v2" });
    r = await s3.text("GET", "/bk1/dir/hello.txt");
    assert.equal(r.text, "v2");
    assert.equal(r.headers.get("content-type"), "binary/octet-stream");
    assert.equal(r.headers.get("x-amz-meta-colour"), null);
  });
});

Deno.test("objects: digests are checked before anything is stored", async () => {
  await withObjects(async (s3) => {
    await s3.text("PUT", "/bk1");
    let r = await s3.text("PUT", "/bk1/k", {
      body: "data",
      headers: { "content-md5": createHash("md5").update("other").digest("base64") },
    });
    assert.equal(r.status, 400);
    assert.equal(xmlField(r.text, "Code"), "BadDigest");
    r = await s3.text("PUT", "/bk1/k", { body: "data", headers: { "content-md5": "nope" } });
    assert.equal(xmlField(r.text, "Code"), "InvalidDigest");
    r = await s3.text("PUT", "/bk1/k", {
      body: "data",
      headers: { "x-amz-content-sha256": createHash("sha256").update("atad").digest("hex") },
    });
    assert.equal(r.status, 400);
    assert.equal(xmlField(r.text, "Code"), "XAmzContentSHA256Mismatch");
    assert.equal((await s3.text("GET", "/bk1/k")).status, 404);
    r = await s3.text("PUT", "/bk1/k", { body: "data", unsignedPayload: true });
    assert.equal(r.status, 200);
  });
});

Deno.test("objects: ranges and conditional requests", async () => {
  await withObjects(async (s3) => {
    await s3.text("PUT", "/bk1");
    const body = "0123456789";
    await s3.text("PUT", "/bk1/digits", { body });
    const etag = `"${md5Hex(body)}"`;
    const cases: [string, number, string, string | null][] = [
      ["bytes=2-4", 206, "234", "bytes 2-4/10"],
      ["bytes=-3", 206, "789", "bytes 7-9/10"],
      ["bytes=7-", 206, "789", "bytes 7-9/10"],
      ["bytes=8-100", 206, "89", "bytes 8-9/10"],
      ["bytes=0-0", 206, "0", "bytes 0-0/10"],
    ];
    for (const [range, status, text, contentRange] of cases) {
      const r = await s3.text("GET", "/bk1/digits", { headers: { range } });
      assert.equal(r.status, status, range);
      assert.equal(r.text, text, range);
      assert.equal(r.headers.get("content-range"), contentRange, range);
    }
    let r = await s3.text("GET", "/bk1/digits", { headers: { range: "bytes=10-" } });
    assert.equal(r.status, 416);
    assert.equal(xmlField(r.text, "Code"), "InvalidRange");

    const conditional: [Record<string, string>, number][] = [
      [{ "if-match": etag }, 200],
      [{ "if-match": '"nope"' }, 412],
      [{ "if-match": "*" }, 200],
      [{ "if-none-match": etag }, 304],
      [{ "if-none-match": '"nope"' }, 200],
      [{ "if-modified-since": "Thu, 01 Dec 2094 16:00:00 GMT" }, 304],
      [{ "if-modified-since": "Thu, 01 Dec 1994 16:00:00 GMT" }, 200],
      [{ "if-unmodified-since": "Thu, 01 Dec 1994 16:00:00 GMT" }, 412],
      [{ "if-unmodified-since": "Thu, 01 Dec 2094 16:00:00 GMT" }, 200],
      // If-Match holds, so If-Unmodified-Since is not looked at (RFC 9110 13.2.2).
      [{ "if-match": etag, "if-unmodified-since": "Thu, 01 Dec 1994 16:00:00 GMT" }, 200],
      [{ "if-none-match": '"nope"', "if-modified-since": "Thu, 01 Dec 2094 16:00:00 GMT" }, 200],
    ];
    for (const [headers, status] of conditional) {
      r = await s3.text("GET", "/bk1/digits", { headers });
      assert.equal(r.status, status, JSON.stringify(headers));
      if (status === 412) assert.equal(xmlField(r.text, "Code"), "PreconditionFailed");
    }
  });
});

Deno.test("objects: CopyObject with COPY and REPLACE metadata directives", async () => {
  await withObjects(async (s3) => {
    await s3.text("PUT", "/bk1");
    await s3.text("PUT", "/bk2");
    await s3.text("PUT", "/bk1/src%20key", {
      body: "copied",
      headers: { "content-type": "text/x-src", "x-amz-meta-a": "1" },
    });
    let r = await s3.text("PUT", "/bk2/copy", {
      headers: { "x-amz-copy-source": "/bk1/src%20key", "x-amz-meta-b": "2" },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(xmlField(r.text, "ETag"), `&quot;${md5Hex("copied")}&quot;`);
    r = await s3.text("GET", "/bk2/copy");
    assert.equal(r.text, "copied");
    assert.equal(r.headers.get("content-type"), "text/x-src");
    assert.equal(r.headers.get("x-amz-meta-a"), "1");
    assert.equal(r.headers.get("x-amz-meta-b"), null);

    r = await s3.text("PUT", "/bk1/src%20key", {
      headers: {
        "x-amz-copy-source": "bk1/src%20key",
        "x-amz-metadata-directive": "REPLACE",
        "content-type": "text/x-new",
        "x-amz-meta-b": "2",
      },
    });
    assert.equal(r.status, 200, r.text);
    r = await s3.text("HEAD", "/bk1/src%20key");
    assert.equal(r.headers.get("content-type"), "text/x-new");
    assert.equal(r.headers.get("x-amz-meta-a"), null);
    assert.equal(r.headers.get("x-amz-meta-b"), "2");

    r = await s3.text("PUT", "/bk1/x", { headers: { "x-amz-copy-source": "/bk1/src%20key" } });
    assert.equal(r.status, 200);
    r = await s3.text("PUT", "/bk1/x", { headers: { "x-amz-copy-source": "/bk1/x" } });
    assert.equal(xmlField(r.text, "Code"), "InvalidRequest");
    r = await s3.text("PUT", "/bk1/y", { headers: { "x-amz-copy-source": "/bk1/none" } });
    assert.equal(xmlField(r.text, "Code"), "NoSuchKey");
  });
});

Deno.test("objects: ListObjectsV2 and ListObjects page, roll up and encode", async () => {
  await withObjects(async (s3) => {
    await s3.text("PUT", "/bk1");
    const keys = [
      "a/1",
      "a/2",
      "a/b/3",
      "b",
      "c/1",
      "c/2",
      "d",
      "sp ace",
      "\u00e9",
      "\u{1F600}",
      "\uFFFD",
    ];
    for (const key of keys) await s3.text("PUT", `/bk1/${encodeKey(key)}`, { body: key });

    let r = await s3.text("GET", "/bk1", { query: [["list-type", "2"]] });
    // UTF-8 byte order: U+FFFD (EF BF BD) before U+1F600 (F0 9F 98 80).
    assert.deepEqual(xmlFields(r.text, "Key"), [...keys.slice(0, 9), "\uFFFD", "\u{1F600}"]);
    assert.equal(xmlField(r.text, "KeyCount"), "11");

    r = await s3.text("GET", "/bk1", { query: [["list-type", "2"], ["delimiter", "/"]] });
    assert.deepEqual(xmlFields(r.text, "Prefix").slice(1), ["a/", "c/"]);
    assert.deepEqual(xmlFields(r.text, "Key"), [
      "b",
      "d",
      "sp ace",
      "\u00e9",
      "\uFFFD",
      "\u{1F600}",
    ]);

    r = await s3.text("GET", "/bk1", {
      query: [["list-type", "2"], ["prefix", "a/"], ["delimiter", "/"]],
    });
    assert.deepEqual(xmlFields(r.text, "Key"), ["a/1", "a/2"]);
    assert.deepEqual(xmlFields(r.text, "Prefix"), ["a/", "a/b/"]);

    // Pages of 2 with a delimiter, by continuation token, cover everything once.
    const seen: string[] = [];
    let token: string | undefined;
    for (let page = 0; page < 10; page++) {
      const query: [string, string][] = [["list-type", "2"], ["delimiter", "/"], ["max-keys", "2"]];
      if (token !== undefined) query.push(["continuation-token", token]);
      r = await s3.text("GET", "/bk1", { query });
      seen.push(...xmlFields(r.text, "Key"), ...xmlFields(r.text, "Prefix").slice(1));
      token = xmlField(r.text, "NextContinuationToken");
      if (xmlField(r.text, "IsTruncated") === "false") break;
      assert.ok(token);
    }
    assert.deepEqual(
      seen.sort(),
      ["a/", "b", "c/", "d", "sp ace", "\u00e9", "\uFFFD", "\u{1F600}"].sort(),
    );

    r = await s3.text("GET", "/bk1", { query: [["list-type", "2"], ["start-after", "c/1"]] });
    assert.equal(xmlFields(r.text, "Key")[0], "c/2");

    r = await s3.text("GET", "/bk1", {
      query: [["list-type", "2"], ["prefix", "sp"], ["encoding-type", "url"]],
    });
    assert.deepEqual(xmlFields(r.text, "Key"), ["sp%20ace"]);

    // v1: marker and NextMarker.
    r = await s3.text("GET", "/bk1", { query: [["max-keys", "3"]] });
    assert.deepEqual(xmlFields(r.text, "Key"), ["a/1", "a/2", "a/b/3"]);
    assert.equal(xmlField(r.text, "IsTruncated"), "true");
    assert.equal(xmlField(r.text, "NextMarker"), "a/b/3");
    r = await s3.text("GET", "/bk1", { query: [["max-keys", "3"], ["marker", "a/b/3"]] });
    assert.deepEqual(xmlFields(r.text, "Key"), ["b", "c/1", "c/2"]);

    r = await s3.text("GET", "/bk1", { query: [["max-keys", "x"]] });
    assert.equal(xmlField(r.text, "Code"), "InvalidArgument");
  });
});

Deno.test("objects: DeleteObjects deletes in a batch, quietly when asked", async () => {
  await withObjects(async (s3) => {
    await s3.text("PUT", "/bk1");
    for (const key of ["x", "y", "z"]) await s3.text("PUT", `/bk1/${key}`, { body: key });
    let r = await s3.text("POST", "/bk1", {
      query: [["delete", ""]],
      body: "<Delete><Object><Key>x</Key></Object><Object><Key>nope</Key></Object></Delete>",
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(xmlFields(r.text, "Key"), ["x", "nope"]);
    r = await s3.text("POST", "/bk1", {
      query: [["delete", ""]],
      body: "<Delete><Quiet>true</Quiet><Object><Key>y</Key></Object></Delete>",
    });
    assert.deepEqual(xmlFields(r.text, "Key"), []);
    r = await s3.text("GET", "/bk1", { query: [["list-type", "2"]] });
    assert.deepEqual(xmlFields(r.text, "Key"), ["z"]);
    // With Content-MD5, as s3cmd sends it (it was refused with BadDigest:
    // XML bodies never computed their MD5), and a wrong one.
    const body = "<Delete><Object><Key>z</Key></Object></Delete>";
    const md5 = (text: string) => createHash("md5").update(text).digest("base64");
    r = await s3.text("POST", "/bk1", {
      query: [["delete", ""]],
      body,
      headers: { "content-md5": md5(body + " ") },
    });
    assert.equal(xmlField(r.text, "Code"), "BadDigest");
    r = await s3.text("POST", "/bk1", {
      query: [["delete", ""]],
      body,
      headers: { "content-md5": md5(body) },
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(xmlFields(r.text, "Key"), ["z"]);
    r = await s3.text("POST", "/bk1", { query: [["delete", ""]], body: "<Delete><Object>" });
    assert.equal(xmlField(r.text, "Code"), "MalformedXML");
    const many = "<Delete>" + "<Object><Key>k</Key></Object>".repeat(1001) + "</Delete>";
    r = await s3.text("POST", "/bk1", { query: [["delete", ""]], body: many });
    assert.equal(xmlField(r.text, "Code"), "MalformedXML");
  });
});

Deno.test("objects: signatures, skew, presigned URLs and anonymous access", async () => {
  await withObjects(async (s3, addr) => {
    let r = await s3.text("PUT", "/bk1", { anonymous: true });
    assert.equal(r.status, 403);
    assert.equal(xmlField(r.text, "Code"), "AccessDenied");
    r = await s3.text("GET", "/", { credentials: { ...CREDENTIALS, secretKey: "wrong" } });
    assert.equal(r.status, 403);
    assert.equal(xmlField(r.text, "Code"), "SignatureDoesNotMatch");
    r = await s3.text("GET", "/", { credentials: { ...CREDENTIALS, accessKey: "someone" } });
    assert.equal(xmlField(r.text, "Code"), "InvalidAccessKeyId");
    r = await s3.text("GET", "/", { timeMs: Date.now() - 16 * 60_000 });
    assert.equal(xmlField(r.text, "Code"), "RequestTimeTooSkewed");

    await s3.text("PUT", "/bk1");
    await s3.text("PUT", "/bk1/secret.txt", { body: "s3cr3t" });
    r = await s3.text("GET", "/bk1/secret.txt", { anonymous: true });
    assert.equal(r.status, 403);

    const host = `${addr.hostname}:${addr.port}`;
    const presigned = (timeMs: number, expiresSeconds: number) =>
      `http://${host}/bk1/secret.txt?` +
      presignQuery({
        method: "GET",
        rawPath: "/bk1/secret.txt",
        host,
        credentials: CREDENTIALS,
        timeMs,
        expiresSeconds,
      });
    let response = await fetch(presigned(Date.now(), 60));
    assert.equal(await response.text(), "s3cr3t");
    response = await fetch(presigned(Date.now() - 120_000, 60));
    assert.equal(response.status, 403);
    assert.match(await response.text(), /Request has expired/);

    // The public bucket takes anonymous reads and writes, and nothing else.
    r = await s3.text("PUT", "/files/note.txt", { anonymous: true, body: "hi" });
    assert.equal(r.status, 200, r.text);
    r = await s3.text("GET", "/files/note.txt", { anonymous: true });
    assert.equal(r.text, "hi");
    r = await s3.text("DELETE", "/files", { anonymous: true });
    assert.equal(r.status, 403);
    // An anonymous copy may not read a private bucket: no CopyObject and no
    // UploadPartCopy of bk1/secret.txt into the public bucket (both worked).
    r = await s3.text("PUT", "/files/stolen.txt", {
      anonymous: true,
      headers: { "x-amz-copy-source": "bk1/secret.txt" },
    });
    assert.equal(r.status, 403, r.text);
    assert.equal(xmlField(r.text, "Code"), "AccessDenied");
    const id = xmlField(
      (await s3.text("POST", "/files/stolen.bin", { query: [["uploads", ""]] })).text,
      "UploadId",
    )!;
    r = await s3.text("PUT", "/files/stolen.bin", {
      anonymous: true,
      query: [["partNumber", "1"], ["uploadId", id]],
      headers: { "x-amz-copy-source": "bk1/secret.txt" },
    });
    assert.equal(r.status, 403, r.text);
    assert.equal((await s3.text("GET", "/files/stolen.txt", { anonymous: true })).status, 404);
    // From one public bucket to itself is fine.
    r = await s3.text("PUT", "/files/note-copy.txt", {
      anonymous: true,
      headers: { "x-amz-copy-source": "files/note.txt" },
    });
    assert.equal(r.status, 200, r.text);
  }, { publicBucket: ["files"] });
});

Deno.test("objects: virtual-hosted-style addressing with --domain, path style still works", async () => {
  await withObjects(async (s3) => {
    const host = "vhost.s3.underhood.test";
    let r = await s3.text("PUT", "/", { host });
    assert.equal(r.status, 200, r.text);
    r = await s3.text("PUT", "/dir/file.txt", { host, body: "virtual" });
    assert.equal(r.status, 200, r.text);
    r = await s3.text("GET", "/vhost/dir/file.txt");
    assert.equal(r.text, "virtual");
    r = await s3.text("GET", "/", { host: `${host}:8007`, query: [["list-type", "2"]] });
    assert.deepEqual(xmlFields(r.text, "Key"), ["dir/file.txt"]);
    // A Host outside the domain is path style.
    r = await s3.text("GET", "/vhost/dir/file.txt", { host: "elsewhere.test" });
    assert.equal(r.text, "virtual");
  }, { domain: "s3.underhood.test" });
});

Deno.test("objects: a body past S3's 5 GiB single-PUT limit is EntityTooLarge before it is read", async () => {
  await withObjects(async (s3, addr) => {
    await s3.text("PUT", "/bk1");
    // Announced, not sent: the answer must come from the head alone.
    const headers = {
      host: s3.host,
      ...s3.signedHeaders("PUT", "/bk1/huge"),
      "content-length": String(5 * 1024 ** 3 + 1),
    };
    const conn = await Deno.connect({ hostname: addr.hostname, port: addr.port });
    try {
      await conn.write(new TextEncoder().encode(
        "PUT /bk1/huge HTTP/1.1\r\n" +
          Object.entries(headers).map(([n, v]) => `${n}: ${v}\r\n`).join("") + "\r\n",
      ));
      const buffer = new Uint8Array(4096);
      let answer = "";
      while (!answer.includes("</Error>")) {
        const n = await conn.read(buffer);
        if (n === null) break;
        answer += new TextDecoder().decode(buffer.subarray(0, n));
      }
      assert.match(answer, /^HTTP\/1.1 400/);
      assert.equal(xmlField(answer, "Code"), "EntityTooLarge");
    } finally {
      conn.close();
    }
    // An aws-chunked upload announcing a decoded length past the limit.
    const r = await s3.text("PUT", "/bk1/huge", {
      body: "0\r\n\r\n",
      headers: {
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "x-amz-decoded-content-length": String(6 * 1024 ** 3),
        "content-encoding": "aws-chunked",
      },
    });
    assert.equal(r.status, 400);
    assert.equal(xmlField(r.text, "Code"), "EntityTooLarge");
    assert.equal((await s3.text("HEAD", "/bk1/huge")).status, 404);
  });
});
