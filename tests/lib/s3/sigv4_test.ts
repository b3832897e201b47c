// SigV4 against the examples AWS publishes: the S3 developer guide's
// header-based GET Object example and its presigned-URL example, and the
// get-vanilla case of the SigV4 test suite.

import assert from "node:assert/strict";
import { hmacSha256, sha256, toHex } from "../../../lib/s3/sha256.ts";
import {
  authorizationHeader,
  canonicalQuery,
  canonicalUri,
  EMPTY_SHA256,
  parseAmzDate,
  parseAuthorization,
  parsePresigned,
  parseQuery,
  presignQuery,
} from "../../../lib/s3/sigv4.ts";

const S3_EXAMPLE = {
  accessKey: "AKIAIOSFODNN7EXAMPLE",
  secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
};
const EXAMPLE_TIME_MS = parseAmzDate("20130524T000000Z")!;

Deno.test("sha256() and hmacSha256() match FIPS 180-2 and RFC 4231 vectors", {
  permissions: "none",
}, () => {
  assert.equal(toHex(sha256("")), EMPTY_SHA256);
  assert.equal(
    toHex(sha256("abc")),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(
    toHex(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
  // RFC 4231 test case 2.
  assert.equal(
    toHex(hmacSha256("Jefe", "what do ya want for nothing?")),
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  );
  // RFC 4231 test case 6: a key longer than the block.
  assert.equal(
    toHex(
      hmacSha256(
        new Uint8Array(131).fill(0xaa),
        "Test Using Larger Than Block-Size Key - Hash Key First",
      ),
    ),
    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
  );
});

Deno.test("authorizationHeader() reproduces the S3 guide's GET Object example", {
  permissions: "none",
}, () => {
  const header = authorizationHeader({
    method: "GET",
    rawPath: "/test.txt",
    headers: {
      host: "examplebucket.s3.amazonaws.com",
      range: "bytes=0-9",
      "x-amz-content-sha256": EMPTY_SHA256,
      "x-amz-date": "20130524T000000Z",
    },
    payloadHash: EMPTY_SHA256,
    credentials: S3_EXAMPLE,
    timeMs: EXAMPLE_TIME_MS,
  });
  assert.equal(
    header,
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, " +
      "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, " +
      "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
  );
  const parts = parseAuthorization(header);
  assert.equal(parts.scope.region, "us-east-1");
  assert.deepEqual(parts.signedHeaders, ["host", "range", "x-amz-content-sha256", "x-amz-date"]);
});

Deno.test("presignQuery() reproduces the S3 guide's presigned URL example", {
  permissions: "none",
}, () => {
  const query = presignQuery({
    method: "GET",
    rawPath: "/test.txt",
    host: "examplebucket.s3.amazonaws.com",
    credentials: S3_EXAMPLE,
    timeMs: EXAMPLE_TIME_MS,
    expiresSeconds: 86400,
  });
  assert.ok(
    query.endsWith(
      "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
    ),
    query,
  );
  const parts = parsePresigned(parseQuery(query))!;
  assert.equal(parts.expiresSeconds, 86400);
  assert.equal(parts.amzDate, "20130524T000000Z");
});

Deno.test("the SigV4 test suite's get-vanilla case signs as published", {
  permissions: "none",
}, () => {
  const header = authorizationHeader({
    method: "GET",
    rawPath: "/",
    headers: { host: "example.amazonaws.com", "x-amz-date": "20150830T123600Z" },
    payloadHash: EMPTY_SHA256,
    credentials: {
      accessKey: "AKIDEXAMPLE",
      secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    },
    timeMs: parseAmzDate("20150830T123600Z")!,
    service: "service",
  });
  assert.ok(
    header.endsWith(
      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    header,
  );
});

Deno.test("canonical URI and query encode as S3 does", { permissions: "none" }, () => {
  assert.equal(canonicalUri("/b/a%20b/%E2%82%AC~x"), "/b/a%20b/%E2%82%AC~x");
  assert.equal(canonicalUri("/b/a%2Fb"), "/b/a%2Fb");
  assert.equal(canonicalUri("/b/a+b"), "/b/a%2Bb");
  assert.equal(
    canonicalQuery(parseQuery("prefix=a%20b&list-type=2&delimiter=%2F&acl")),
    "acl=&delimiter=%2F&list-type=2&prefix=a%20b",
  );
});
