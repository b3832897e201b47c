// The S3 REST API over lib/http: a handler `(request) -> response` that
// reads the bucket and key from the path (path-style addressing) or the Host
// (virtual-hosted style, with --domain), checks
// the signature, dispatches through typed tables by method and
// subresource, and turns every failure into S3's XML error document through
// one mapper (lib/s3/errors.ts).
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html
//
// Operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
// GetBucketLocation, ListObjects (v1 and v2), DeleteObjects, PutObject,
// CopyObject, GetObject (ranges, conditionals, response-* overrides),
// HeadObject, DeleteObject. Anything else is NotImplemented.
//
// Multipart uploads are in multipart.ts; aws-chunked bodies are decoded by
// lib/s3/aws_chunked.ts. Left out: ACLs, versioning, tagging, policies.

import { createHash, randomBytes } from "node:crypto";
import type { Bytes } from "../../lib/bytes.ts";
import type { Handler, HttpRequest, HttpResponse } from "../../lib/http/message.ts";
import type { Logger } from "../../lib/log.ts";
import { errorXml, S3Error, toS3WireError } from "../../lib/s3/errors.ts";
import { bucketNameProblem, keyProblem } from "../../lib/s3/names.ts";
import { parseRange } from "../../lib/s3/range.ts";
import {
  chunkStringToSign,
  EMPTY_SHA256,
  headerText,
  parseQuery,
  percentDecode,
  sign,
  signaturesEqual,
  STREAMING_SIGNED,
  STREAMING_SIGNED_TRAILER,
  STREAMING_UNSIGNED_TRAILER,
  trailerStringToSign,
  uriEncode,
} from "../../lib/s3/sigv4.ts";
import {
  AwsChunkedDecoder,
  type AwsChunkedEvent,
  AwsChunkedSyntaxError,
} from "../../lib/s3/aws_chunked.ts";
import { Crc32 } from "../../lib/s3/checksums.ts";
import { LimitError } from "../../lib/errors.ts";
import {
  child,
  children,
  parseXml,
  xmlDocument,
  xmlElement,
  xmlParent,
  XmlSyntaxError,
} from "../../lib/s3/xml.ts";
import { authenticate, type KeyPair, type Principal } from "./auth.ts";
import type { ListResult, ObjectMeta, ObjectStore, Upload } from "./store.ts";
import { type MultipartUploads, PART_BYTES_MAX, PART_NUMBER_MAX } from "./multipart.ts";

/** S3's single-PUT limit: 5 GiB. */
export const OBJECT_BYTES_MAX = 5 * 1024 ** 3;
/** User metadata (x-amz-meta-*) is at most 2 KiB in S3. */
export const USER_METADATA_BYTES_MAX = 2 * 1024;
/** XML request bodies: DeleteObjects' 1000 keys of 1024 bytes fit. */
export const XML_BODY_BYTES_MAX = 2 * 1024 * 1024;
/** DeleteObjects deletes at most 1000 keys per request. */
export const DELETE_KEYS_MAX = 1000;
/** A listing page holds at most 1000 entries. */
export const LIST_KEYS_MAX = 1000;
/** Reads of an object sent in pieces of this size. */
const READ_PIECE_BYTES = 256 * 1024;
/** A copy yields to the event loop after each piece. */
const COPY_PIECE_BYTES = 1024 * 1024;

/** The headers stored with an object and sent back on GET and HEAD. */
const STORED_HEADERS = [
  "content-type",
  "content-disposition",
  "content-encoding",
  "content-language",
  "cache-control",
  "expires",
];
const RESPONSE_OVERRIDES: Record<string, string> = {
  "response-content-type": "content-type",
  "response-content-language": "content-language",
  "response-expires": "expires",
  "response-cache-control": "cache-control",
  "response-content-disposition": "content-disposition",
  "response-content-encoding": "content-encoding",
};
/** Query parameters that are arguments, not subresources. */
const PLAIN_PARAMS = new Set([
  "list-type",
  "prefix",
  "delimiter",
  "max-keys",
  "continuation-token",
  "start-after",
  "encoding-type",
  "fetch-owner",
  "marker",
  "x-id",
  "versionId",
  "partNumber",
  "max-parts",
  "part-number-marker",
  "key-marker",
  "upload-id-marker",
  "max-uploads",
  ...Object.keys(RESPONSE_OVERRIDES),
]);
const DEFAULT_CONTENT_TYPE = "binary/octet-stream";
const OWNER_ID = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a";

export interface ApiOptions {
  store: ObjectStore;
  multipart: MultipartUploads;
  keys: readonly KeyPair[];
  /** Buckets anonymous clients may read, list and write (public-read-write). */
  publicBuckets: ReadonlySet<string>;
  region: string;
  /** Virtual-hosted style: requests to `<bucket>.<domain>` name the bucket in the Host. */
  domain?: string;
  log: Logger;
  now?: () => number;
}

/** Everything an operation needs about its request. */
interface Call {
  request: HttpRequest;
  bucket: string;
  key: string;
  query: Map<string, string>;
  principal: Principal;
  api: ApiOptions;
  nowMs: number;
}

type Operation = (call: Call) => HttpResponse | Promise<HttpResponse>;

/** Operations by "METHOD" or "METHOD subresource", per level of the path. */
const SERVICE_OPS: Readonly<Record<string, Operation>> = { GET: listBuckets };
const BUCKET_OPS: Readonly<Record<string, Operation>> = {
  PUT: createBucket,
  HEAD: headBucket,
  DELETE: deleteBucket,
  GET: listObjects,
  "GET location": getBucketLocation,
  "POST delete": deleteObjects,
  "GET uploads": listMultipartUploads,
};
const OBJECT_OPS: Readonly<Record<string, Operation>> = {
  PUT: putObject,
  GET: getObject,
  HEAD: getObject,
  DELETE: deleteObject,
  "POST uploads": createMultipartUpload,
  "PUT uploadId": uploadPart,
  "POST uploadId": completeMultipartUpload,
  "DELETE uploadId": abortMultipartUpload,
  "GET uploadId": listParts,
};

/** The S3 API as a lib/http handler. */
export function s3Handler(api: ApiOptions): Handler {
  const now = api.now ?? Date.now;
  return async (request) => {
    const requestId = randomBytes(8).toString("hex").toUpperCase();
    let response: HttpResponse;
    try {
      response = await dispatch(request, api, now());
    } catch (error) {
      const wire = toS3WireError(error);
      if (wire.internal) {
        api.log.error("{method} {path} failed: {error}", {
          method: request.method,
          path: request.path.slice(0, 200),
          error: error instanceof Error ? error.stack ?? error.message : String(error),
        });
      }
      response = {
        status: wire.status,
        headers: { "content-type": "application/xml" },
        body: request.method === "HEAD"
          ? null
          : errorXml(wire, { resource: request.path.slice(0, 1100), requestId }),
      };
    }
    const headers = (response.headers ??= {}) as Record<string, string>;
    headers["x-amz-request-id"] = requestId;
    headers["x-amz-id-2"] = requestId;
    headers["server"] = "underhood-objects";
    return response;
  };
}

async function dispatch(request: HttpRequest, api: ApiOptions, nowMs: number) {
  if (!request.path.startsWith("/")) throw new S3Error("InvalidRequest", "bad request target");
  const pairs = parseQueryOrThrow(request.query);
  const principal = authenticate(request, pairs, { keys: api.keys, nowMs });
  const { bucket, key } = addressOf(request, api.domain);
  const query = new Map(pairs);
  const sub = pairs.map(([name]) => name).find((name) =>
    !PLAIN_PARAMS.has(name) && !name.startsWith("X-Amz-")
  );
  const table = bucket === "" ? SERVICE_OPS : key === "" ? BUCKET_OPS : OBJECT_OPS;
  const op = table[sub === undefined ? request.method : `${request.method} ${sub}`];
  const call: Call = { request, bucket, key, query, principal, api, nowMs };
  if (op === undefined) {
    if (principal.kind === "anonymous") throw accessDenied();
    throw new S3Error(
      "NotImplemented",
      `${request.method}${sub === undefined ? "" : ` ?${sub}`} is not implemented`,
    );
  }
  authorize(call);
  return await op(call);
}

/**
 * The bucket and key a request names: virtual-hosted style when the Host is
 * `<bucket>.<domain>` (the whole path is then the key), else path style
 * (`/<bucket>/<key>`).
 */
export function addressOf(
  request: HttpRequest,
  domain: string | undefined,
): { bucket: string; key: string } {
  const rest = request.path.slice(1);
  if (domain !== undefined && domain !== "") {
    const host = (request.headers.get("host") ?? "").toLowerCase().replace(/:\d+$/, "");
    if (host.endsWith("." + domain) && host.length > domain.length + 1) {
      return { bucket: host.slice(0, -(domain.length + 1)), key: decodePath(rest) };
    }
  }
  const slash = rest.indexOf("/");
  return {
    bucket: decodePath(slash === -1 ? rest : rest.slice(0, slash)),
    key: slash === -1 ? "" : decodePath(rest.slice(slash + 1)),
  };
}

function parseQueryOrThrow(query: string): [string, string][] {
  try {
    return parseQuery(query);
  } catch {
    throw new S3Error("InvalidArgument", "bad percent-encoding in the query");
  }
}

function decodePath(raw: string): string {
  try {
    return percentDecode(raw);
  } catch {
    throw new S3Error("InvalidArgument", "bad percent-encoding in the path");
  }
}

function accessDenied(): S3Error {
  return new S3Error("AccessDenied", "Access Denied");
}

/** Signed requests may do anything; anonymous ones only object reads, writes and listings in a public bucket. */
function authorize(call: Call): void {
  if (call.principal.kind === "signed") return;
  if (!call.api.publicBuckets.has(call.bucket)) throw accessDenied();
  const method = call.request.method;
  const allowed = call.key === ""
    ? (method === "GET" || method === "HEAD") && ![...call.query.keys()].includes("location")
    : method === "GET" || method === "HEAD" || method === "PUT" || method === "DELETE";
  if (!allowed) throw accessDenied();
}

function xmlResponse(body: string, status = 200): HttpResponse {
  return { status, headers: { "content-type": "application/xml" }, body };
}

function requireBucket(call: Call): void {
  if (call.api.store.bucket(call.bucket) === undefined) {
    throw new S3Error("NoSuchBucket", "The specified bucket does not exist", {
      BucketName: call.bucket,
    });
  }
}

// ---- service and bucket operations ----

function listBuckets(call: Call): HttpResponse {
  const buckets = call.api.store.listBuckets().map((b) =>
    xmlParent("Bucket", [
      xmlElement("Name", b.name),
      xmlElement("CreationDate", new Date(b.createdMs).toISOString()),
    ])
  );
  return xmlResponse(xmlDocument("ListAllMyBucketsResult", [
    ownerXml(),
    xmlParent("Buckets", buckets),
  ]));
}

function ownerXml(): string {
  return xmlParent("Owner", [xmlElement("ID", OWNER_ID), xmlElement("DisplayName", "underhood")]);
}

async function createBucket(call: Call): Promise<HttpResponse> {
  const problem = bucketNameProblem(call.bucket);
  if (problem !== undefined) {
    throw new S3Error("InvalidBucketName", `The specified bucket is not valid: ${problem}`, {
      BucketName: call.bucket,
    });
  }
  const body = await readXmlBody(call);
  let location = "";
  if (body.trim() !== "") {
    const root = parseXmlOrThrow(body);
    if (root.name !== "CreateBucketConfiguration") throw malformedXml();
    location = child(root, "LocationConstraint")?.text.trim() ?? "";
  }
  if (!call.api.store.createBucket(call.bucket, location, call.nowMs)) {
    throw new S3Error(
      "BucketAlreadyOwnedByYou",
      "Your previous request to create the named bucket succeeded and you already own it.",
      { BucketName: call.bucket },
    );
  }
  return { status: 200, headers: { location: `/${call.bucket}` }, body: null };
}

function headBucket(call: Call): HttpResponse {
  requireBucket(call);
  const info = call.api.store.bucket(call.bucket)!;
  return {
    status: 200,
    headers: { "x-amz-bucket-region": info.location || call.api.region },
    body: null,
  };
}

function deleteBucket(call: Call): HttpResponse {
  const result = call.api.store.deleteBucket(call.bucket);
  if (result === "missing") requireBucket(call);
  if (result === "not-empty") {
    throw new S3Error("BucketNotEmpty", "The bucket you tried to delete is not empty", {
      BucketName: call.bucket,
    });
  }
  return { status: 204, body: null };
}

function getBucketLocation(call: Call): HttpResponse {
  requireBucket(call);
  const location = call.api.store.bucket(call.bucket)!.location;
  return xmlResponse(
    `<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${
      xmlEscapeText(location)
    }</LocationConstraint>`,
  );
}

function xmlEscapeText(text: string): string {
  return xmlElement("x", text).slice(3, -4);
}

function maxKeysOf(call: Call): number {
  const raw = call.query.get("max-keys");
  if (raw === undefined) return LIST_KEYS_MAX;
  if (!/^\d{1,10}$/.test(raw)) {
    throw new S3Error(
      "InvalidArgument",
      "Provided max-keys not an integer or within integer range",
      {
        ArgumentName: "max-keys",
        ArgumentValue: raw.slice(0, 100),
      },
    );
  }
  return Math.min(Number(raw), LIST_KEYS_MAX);
}

function listObjects(call: Call): HttpResponse {
  requireBucket(call);
  const v2 = call.query.get("list-type") === "2";
  const prefix = call.query.get("prefix") ?? "";
  const delimiter = call.query.get("delimiter") ?? "";
  const encodingType = call.query.get("encoding-type");
  if (encodingType !== undefined && encodingType !== "url") {
    throw new S3Error("InvalidArgument", "Invalid Encoding Method specified in Request", {
      ArgumentName: "encoding-type",
    });
  }
  const encode = encodingType === "url" ? (s: string) => uriEncode(s, true) : (s: string) => s;
  const maxKeys = maxKeysOf(call);
  let after = "";
  const token = call.query.get("continuation-token");
  const startAfter = call.query.get("start-after") ?? "";
  const marker = call.query.get("marker") ?? "";
  if (v2) {
    if (token !== undefined) after = decodeToken(token);
    else after = startAfter;
  } else {
    after = marker;
  }
  const page = call.api.store.list(call.bucket, { prefix, delimiter, after, maxKeys });
  const fields: string[] = [
    xmlElement("Name", call.bucket),
    xmlElement("Prefix", encode(prefix)),
  ];
  if (v2) {
    if (token !== undefined) fields.push(xmlElement("ContinuationToken", token));
    if (startAfter !== "") fields.push(xmlElement("StartAfter", encode(startAfter)));
    fields.push(xmlElement("KeyCount", page.contents.length + page.commonPrefixes.length));
  } else {
    fields.push(xmlElement("Marker", encode(marker)));
    if (page.isTruncated && page.last !== undefined) {
      fields.push(xmlElement("NextMarker", encode(page.last)));
    }
  }
  fields.push(xmlElement("MaxKeys", maxKeys));
  if (delimiter !== "") fields.push(xmlElement("Delimiter", encode(delimiter)));
  if (encodingType !== undefined) fields.push(xmlElement("EncodingType", encodingType));
  fields.push(xmlElement("IsTruncated", page.isTruncated));
  if (v2 && page.isTruncated && page.last !== undefined) {
    fields.push(xmlElement("NextContinuationToken", encodeToken(page.last)));
  }
  fields.push(...contentsXml(page, encode, !v2 || call.query.get("fetch-owner") === "true"));
  return xmlResponse(xmlDocument("ListBucketResult", fields));
}

function contentsXml(page: ListResult, encode: (s: string) => string, owner: boolean): string[] {
  const out = page.contents.map((meta) =>
    xmlParent("Contents", [
      xmlElement("Key", encode(meta.key)),
      xmlElement("LastModified", new Date(meta.lastModifiedMs).toISOString()),
      xmlElement("ETag", `"${meta.etag}"`),
      xmlElement("Size", meta.sizeBytes),
      ...(owner ? [ownerXml()] : []),
      xmlElement("StorageClass", "STANDARD"),
    ])
  );
  for (const prefix of page.commonPrefixes) {
    out.push(xmlParent("CommonPrefixes", [xmlElement("Prefix", encode(prefix))]));
  }
  return out;
}

/** Continuation tokens are opaque to clients: the last entry, base64url. */
function encodeToken(last: string): string {
  return Buffer.from(last, "utf8").toString("base64url");
}

function decodeToken(token: string): string {
  if (!/^[A-Za-z0-9_-]*$/.test(token)) {
    throw new S3Error("InvalidArgument", "The continuation token provided is incorrect", {
      ArgumentName: "continuation-token",
    });
  }
  return Buffer.from(token, "base64url").toString("utf8");
}

async function deleteObjects(call: Call): Promise<HttpResponse> {
  requireBucket(call);
  const root = parseXmlOrThrow(await readXmlBody(call));
  if (root.name !== "Delete") throw malformedXml();
  const objects = children(root, "Object");
  if (objects.length === 0 || objects.length > DELETE_KEYS_MAX) throw malformedXml();
  const quiet = child(root, "Quiet")?.text.trim().toLowerCase() === "true";
  const results: string[] = [];
  for (const object of objects) {
    const key = child(object, "Key")?.text;
    if (key === undefined) throw malformedXml();
    const problem = keyProblem(key);
    if (problem !== undefined) {
      results.push(xmlParent("Error", [
        xmlElement("Key", key),
        xmlElement("Code", "InvalidArgument"),
        xmlElement("Message", `key ${problem}`),
      ]));
      continue;
    }
    call.api.store.deleteObject(call.bucket, key);
    if (!quiet) results.push(xmlParent("Deleted", [xmlElement("Key", key)]));
  }
  return xmlResponse(xmlDocument("DeleteResult", results));
}

function malformedXml(): S3Error {
  return new S3Error(
    "MalformedXML",
    "The XML you provided was not well-formed or did not validate against our published schema",
  );
}

function parseXmlOrThrow(body: string) {
  try {
    return parseXml(body);
  } catch (error) {
    if (error instanceof XmlSyntaxError) throw malformedXml();
    throw error;
  }
}

/** Reads a small XML body, checking Content-MD5 and the signed payload hash. */
async function readXmlBody(call: Call): Promise<string> {
  const request = call.request;
  if (request.body === null) return "";
  request.bodyLimitBytes = XML_BODY_BYTES_MAX;
  const declared = request.declaredBodyBytes;
  if (declared !== undefined && declared > XML_BODY_BYTES_MAX) {
    throw new S3Error("MalformedXML", `XML bodies are at most ${XML_BODY_BYTES_MAX} bytes`);
  }
  const parts: Uint8Array[] = [];
  const check = new BodyCheck(call);
  for await (const chunk of request.body) {
    check.update(chunk);
    parts.push(chunk);
  }
  check.finish(undefined);
  return new TextDecoder().decode(Buffer.concat(parts));
}

// ---- object operations ----

/**
 * The checks a body must pass before it is acknowledged: Content-MD5 and a
 * signed x-amz-content-sha256, each computed while the body streams.
 */
class BodyCheck {
  #md5: string | undefined;
  #sha256: ReturnType<typeof createHash> | undefined;
  #wantSha256: string | undefined;
  #ownMd5: ReturnType<typeof createHash> | undefined;

  constructor(call: Call) {
    const md5 = call.request.headers.get("content-md5");
    if (md5 !== undefined) {
      const bytes = /^[A-Za-z0-9+/]{22}==$/.test(md5.trim())
        ? Buffer.from(md5.trim(), "base64")
        : undefined;
      if (bytes === undefined || bytes.length !== 16) {
        throw new S3Error("InvalidDigest", "The Content-MD5 you specified was invalid.");
      }
      this.#md5 = bytes.toString("hex");
    }
    const principal = call.principal;
    if (principal.kind === "signed") {
      const hash = principal.payloadHash;
      if (hash !== "UNSIGNED-PAYLOAD" && !hash.startsWith("STREAMING-")) {
        if (!/^[0-9a-f]{64}$/.test(hash)) {
          throw new S3Error("InvalidArgument", "x-amz-content-sha256 must be a SHA-256 in hex", {
            ArgumentName: "x-amz-content-sha256",
          });
        }
        if (hash !== EMPTY_SHA256 || call.request.body !== null) {
          this.#wantSha256 = hash;
          this.#sha256 = createHash("sha256");
        }
      }
    }
  }

  /** Whether the MD5 must be computed here (an Upload computes its own). */
  needsOwnMd5(): void {
    if (this.#md5 !== undefined) this.#ownMd5 = createHash("md5");
  }

  update(chunk: Uint8Array): void {
    this.#sha256?.update(chunk);
    this.#ownMd5?.update(chunk);
  }

  /** Throws BadDigest or XAmzContentSHA256Mismatch; `md5Hex` from the upload, if any. */
  finish(md5Hex: string | undefined): void {
    if (this.#md5 !== undefined) {
      const got = md5Hex ?? this.#ownMd5?.digest("hex");
      if (got !== this.#md5) {
        throw new S3Error(
          "BadDigest",
          "The Content-MD5 you specified did not match what we received.",
        );
      }
    }
    if (this.#sha256 !== undefined) {
      const got = this.#sha256.digest("hex");
      if (got !== this.#wantSha256) {
        throw new S3Error(
          "XAmzContentSHA256Mismatch",
          "The provided 'x-amz-content-sha256' header does not match what was computed.",
          { ClientComputedContentSHA256: this.#wantSha256!, S3ComputedContentSHA256: got },
        );
      }
    }
  }
}

function checkKey(call: Call): void {
  const problem = keyProblem(call.key);
  if (problem !== undefined) {
    throw new S3Error("KeyTooLongError", `Your key is too long: it ${problem}`);
  }
}

/** The stored headers of a PUT (or a REPLACE copy). */
function headersToStore(request: HttpRequest): Record<string, string> {
  const out: Record<string, string> = {};
  let userBytes = 0;
  for (const [name, raw] of request.headers) {
    const lower = name.toLowerCase();
    const value = headerText(raw);
    if (STORED_HEADERS.includes(lower)) out[lower] = value;
    else if (lower.startsWith("x-amz-meta-")) {
      out[lower] = lower in out ? `${out[lower]},${value}` : value;
      userBytes += lower.length - "x-amz-meta-".length + Buffer.byteLength(value);
    }
  }
  if (userBytes > USER_METADATA_BYTES_MAX) {
    throw new S3Error(
      "MetadataTooLarge",
      `Your metadata headers exceed the maximum allowed metadata size of ${USER_METADATA_BYTES_MAX} bytes`,
    );
  }
  // A PUT through aws-chunked says so in Content-Encoding; that is not the object's.
  if (out["content-encoding"] !== undefined) {
    const codings = out["content-encoding"].split(",").map((c) => c.trim())
      .filter((c) => c !== "" && c.toLowerCase() !== "aws-chunked");
    if (codings.length === 0) delete out["content-encoding"];
    else out["content-encoding"] = codings.join(",");
  }
  return out;
}

async function putObject(call: Call): Promise<HttpResponse> {
  requireBucket(call);
  checkKey(call);
  if (call.request.headers.has("x-amz-copy-source")) return await copyObject(call);
  const headers = headersToStore(call.request);
  const upload = call.api.store.beginUpload(call.bucket, call.key);
  let meta: ObjectMeta;
  try {
    const checksums = await receiveBody(call, upload, OBJECT_BYTES_MAX);
    meta = upload.commit({ headers, nowMs: call.nowMs, checksums });
  } catch (error) {
    upload.abandon();
    throw error;
  }
  return { status: 200, headers: { etag: `"${meta.etag}"`, ...meta.checksums }, body: null };
}

/**
 * Streams the request body into `upload` (plain, or aws-chunked with its
 * signatures), checking Content-MD5, x-amz-content-sha256 and
 * x-amz-checksum-* on the way; returns the checksums to store. Throws
 * before anything is committed; the caller abandons the upload.
 */
async function receiveBody(
  call: Call,
  upload: Upload,
  sizeBytesMax: number,
): Promise<Record<string, string> | undefined> {
  const request = call.request;
  const declared = request.declaredBodyBytes;
  const payloadHash = call.principal.kind === "signed" ? call.principal.payloadHash : "";
  const streaming = payloadHash.startsWith("STREAMING-");
  const decodedLength = request.headers.get("x-amz-decoded-content-length");
  const tooLarge = () =>
    new S3Error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size.", {
      MaxSizeAllowed: String(sizeBytesMax),
    });
  if (streaming) {
    if (decodedLength === undefined || !/^\d{1,12}$/.test(decodedLength)) {
      throw new S3Error(
        "MissingContentLength",
        "aws-chunked uploads need x-amz-decoded-content-length",
      );
    }
    if (Number(decodedLength) > sizeBytesMax) throw tooLarge();
  } else if (declared !== undefined && declared > sizeBytesMax) throw tooLarge();
  const check = new BodyCheck(call);
  const checksum = new ChecksumCheck(request.headers);
  // The aws-chunked framing adds a few bytes per chunk to the content.
  request.bodyLimitBytes = sizeBytesMax + (streaming ? Math.ceil(sizeBytesMax / 1024) + 4096 : 0);
  const pieces = streaming ? awsChunkedContent(call, payloadHash, checksum) : request.body ?? [];
  for await (const piece of pieces) {
    if (upload.sizeBytes + piece.length > sizeBytesMax) throw tooLarge();
    upload.write(piece);
    check.update(piece);
    checksum.update(piece);
  }
  if (streaming && upload.sizeBytes !== Number(decodedLength)) {
    throw new S3Error(
      "IncompleteBody",
      "You did not provide the number of bytes specified by the x-amz-decoded-content-length",
    );
  }
  check.finish(upload.md5().toString("hex"));
  return checksum.finish();
}

// ---- multipart uploads (multipart.ts) ----

function createMultipartUpload(call: Call): HttpResponse {
  requireBucket(call);
  checkKey(call);
  const id = call.api.multipart.create(
    call.bucket,
    call.key,
    headersToStore(call.request),
    call.nowMs,
  );
  return xmlResponse(xmlDocument("InitiateMultipartUploadResult", [
    xmlElement("Bucket", call.bucket),
    xmlElement("Key", call.key),
    xmlElement("UploadId", id),
  ]));
}

function partNumberOf(call: Call): number {
  const raw = call.query.get("partNumber") ?? "";
  const n = /^\d{1,5}$/.test(raw) ? Number(raw) : 0;
  if (n < 1 || n > PART_NUMBER_MAX) {
    throw new S3Error(
      "InvalidArgument",
      `Part number must be an integer between 1 and ${PART_NUMBER_MAX}, inclusive`,
      { ArgumentName: "partNumber", ArgumentValue: raw.slice(0, 20) },
    );
  }
  return n;
}

async function uploadPart(call: Call): Promise<HttpResponse> {
  requireBucket(call);
  const upload = call.api.multipart.get(call.bucket, call.key, call.query.get("uploadId")!);
  if (!call.query.has("partNumber")) {
    throw new S3Error("InvalidRequest", "UploadPart needs partNumber");
  }
  if (call.request.headers.has("x-amz-copy-source")) {
    throw new S3Error("NotImplemented", "UploadPartCopy is not implemented");
  }
  const part = call.api.multipart.beginPart(upload, partNumberOf(call));
  let meta: ObjectMeta;
  try {
    const checksums = await receiveBody(call, part, PART_BYTES_MAX);
    meta = part.commit({ headers: {}, nowMs: call.nowMs, checksums });
  } catch (error) {
    part.abandon();
    throw error;
  }
  return { status: 200, headers: { etag: `"${meta.etag}"`, ...meta.checksums }, body: null };
}

async function completeMultipartUpload(call: Call): Promise<HttpResponse> {
  requireBucket(call);
  const upload = call.api.multipart.get(call.bucket, call.key, call.query.get("uploadId")!);
  const root = parseXmlOrThrow(await readXmlBody(call));
  if (root.name !== "CompleteMultipartUpload") throw malformedXml();
  const chosen = children(root, "Part").map((part) => {
    const number = child(part, "PartNumber")?.text.trim() ?? "";
    const etag = child(part, "ETag")?.text.trim();
    if (!/^\d{1,5}$/.test(number) || etag === undefined) throw malformedXml();
    return { partNumber: Number(number), etag };
  });
  const meta = await call.api.multipart.complete(upload, chosen, call.nowMs);
  return xmlResponse(xmlDocument("CompleteMultipartUploadResult", [
    xmlElement("Location", `/${call.bucket}/${uriEncode(call.key, true)}`),
    xmlElement("Bucket", call.bucket),
    xmlElement("Key", call.key),
    xmlElement("ETag", `"${meta.etag}"`),
  ]));
}

function abortMultipartUpload(call: Call): HttpResponse {
  requireBucket(call);
  call.api.multipart.abort(
    call.api.multipart.get(call.bucket, call.key, call.query.get("uploadId")!),
  );
  return { status: 204, body: null };
}

function listParts(call: Call): HttpResponse {
  requireBucket(call);
  const upload = call.api.multipart.get(call.bucket, call.key, call.query.get("uploadId")!);
  const marker = Number(call.query.get("part-number-marker") ?? 0) || 0;
  const maxParts = Math.min(Number(call.query.get("max-parts") ?? 1000) || 1000, 1000);
  const numbers = [...upload.parts.keys()].filter((n) => n > marker).sort((a, b) => a - b);
  const page = numbers.slice(0, maxParts);
  const truncated = numbers.length > page.length;
  return xmlResponse(xmlDocument("ListPartsResult", [
    xmlElement("Bucket", call.bucket),
    xmlElement("Key", call.key),
    xmlElement("UploadId", upload.id),
    xmlElement("PartNumberMarker", marker),
    ...(truncated ? [xmlElement("NextPartNumberMarker", page[page.length - 1])] : []),
    xmlElement("MaxParts", maxParts),
    xmlElement("IsTruncated", truncated),
    xmlElement("StorageClass", "STANDARD"),
    ...page.map((n) => {
      const part = upload.parts.get(n)!;
      return xmlParent("Part", [
        xmlElement("PartNumber", n),
        xmlElement("LastModified", new Date(part.lastModifiedMs).toISOString()),
        xmlElement("ETag", `"${part.etag}"`),
        xmlElement("Size", part.sizeBytes),
      ]);
    }),
  ]));
}

function listMultipartUploads(call: Call): HttpResponse {
  requireBucket(call);
  const prefix = call.query.get("prefix") ?? "";
  const uploads = call.api.multipart.list(call.bucket)
    .filter((u) => u.key.startsWith(prefix))
    .slice(0, 1000);
  return xmlResponse(xmlDocument("ListMultipartUploadsResult", [
    xmlElement("Bucket", call.bucket),
    xmlElement("KeyMarker", ""),
    xmlElement("UploadIdMarker", ""),
    xmlElement("Prefix", prefix),
    xmlElement("MaxUploads", 1000),
    xmlElement("IsTruncated", false),
    ...uploads.map((u) =>
      xmlParent("Upload", [
        xmlElement("Key", u.key),
        xmlElement("UploadId", u.id),
        xmlElement("Initiated", new Date(u.initiatedMs).toISOString()),
        xmlElement("StorageClass", "STANDARD"),
      ])
    ),
  ]));
}

/** The checksums S3 takes, by header name; CRC64NVME is not computed here. */
const CHECKSUM_HEADERS = [
  "x-amz-checksum-crc32",
  "x-amz-checksum-crc32c",
  "x-amz-checksum-sha1",
  "x-amz-checksum-sha256",
];

/**
 * x-amz-checksum-*: the value comes in a header, or later in a trailer named
 * by x-amz-trailer; it is computed while the body streams and checked at
 * the end (BadDigest when it differs), then stored with the object.
 */
class ChecksumCheck {
  #name: string | undefined;
  #expected: string | undefined;
  #hash: { update(bytes: Uint8Array): unknown; digest(): Uint8Array } | undefined;

  constructor(headers: HttpRequest["headers"]) {
    const trailer = headers.get("x-amz-trailer")?.trim().toLowerCase();
    for (const name of CHECKSUM_HEADERS) {
      const value = headers.get(name);
      if (value !== undefined) this.#choose(name, value);
    }
    if (trailer !== undefined && trailer !== "" && this.#name === undefined) {
      this.#choose(trailer, undefined);
    }
    if (headers.has("x-amz-checksum-crc64nvme")) {
      throw new S3Error("NotImplemented", "x-amz-checksum-crc64nvme is not implemented");
    }
  }

  #choose(name: string, value: string | undefined): void {
    if (this.#name !== undefined && this.#name !== name) {
      throw new S3Error("InvalidRequest", "Expecting a single x-amz-checksum- header");
    }
    this.#name = name;
    this.#expected = value;
    switch (name) {
      case "x-amz-checksum-crc32":
        this.#hash = new Crc32("crc32");
        break;
      case "x-amz-checksum-crc32c":
        this.#hash = new Crc32("crc32c");
        break;
      case "x-amz-checksum-sha1":
        this.#hash = nodeHash("sha1");
        break;
      case "x-amz-checksum-sha256":
        this.#hash = nodeHash("sha256");
        break;
      default:
        throw new S3Error("NotImplemented", `${name.slice(0, 60)} is not implemented`);
    }
  }

  /** A trailer line of an aws-chunked body. */
  trailer(name: string, value: string): void {
    if (name === this.#name) this.#expected = value;
  }

  update(bytes: Uint8Array): void {
    this.#hash?.update(bytes);
  }

  /** Checks the value and returns what to store, by header name. */
  finish(): Record<string, string> | undefined {
    if (this.#name === undefined || this.#hash === undefined) return undefined;
    if (this.#expected === undefined) {
      throw new S3Error("InvalidRequest", `the trailer ${this.#name} was announced but not sent`);
    }
    const got = Buffer.from(this.#hash.digest()).toString("base64");
    if (got !== this.#expected) {
      const algorithm = this.#name.slice("x-amz-checksum-".length).toUpperCase();
      throw new S3Error(
        "BadDigest",
        `The ${algorithm} you specified did not match the calculated checksum.`,
      );
    }
    return { [this.#name]: got };
  }
}

function nodeHash(algorithm: "sha1" | "sha256") {
  const hash = createHash(algorithm);
  return {
    update: (bytes: Uint8Array) => hash.update(bytes),
    digest: () => new Uint8Array(hash.digest()),
  };
}

/**
 * The content of an aws-chunked body, chunk signatures checked as they
 * arrive (each chains on the one before, from the Authorization header's),
 * trailers handed to the checksum check (and their signature checked).
 */
async function* awsChunkedContent(
  call: Call,
  payloadHash: string,
  checksum: ChecksumCheck,
): AsyncGenerator<Uint8Array> {
  const principal = call.principal;
  if (principal.kind !== "signed" || principal.seed === undefined) {
    throw new S3Error(
      "InvalidRequest",
      "aws-chunked bodies must be signed in the Authorization header",
    );
  }
  if (
    payloadHash !== STREAMING_SIGNED && payloadHash !== STREAMING_SIGNED_TRAILER &&
    payloadHash !== STREAMING_UNSIGNED_TRAILER
  ) {
    throw new S3Error(
      "NotImplemented",
      `x-amz-content-sha256 ${payloadHash.slice(0, 60)} is not implemented`,
    );
  }
  const signed = payloadHash !== STREAMING_UNSIGNED_TRAILER;
  const seed = principal.seed;
  let previous = seed.signature;
  let chunkSignature: string | undefined;
  let chunkHash: ReturnType<typeof createHash> | undefined;
  const trailers: [string, string][] = [];
  const decoder = new AwsChunkedDecoder();
  const events: AwsChunkedEvent[] = [];
  const verifyChunk = (hashHex: string) => {
    if (!signed) return;
    const expected = sign(seed.key, chunkStringToSign(seed.amzDate, seed.scope, previous, hashHex));
    if (chunkSignature === undefined || !signaturesEqual(expected, chunkSignature)) {
      throw new S3Error("SignatureDoesNotMatch", "The chunk signature does not match.");
    }
    previous = chunkSignature;
  };
  const body = call.request.body;
  if (body === null) throw new S3Error("IncompleteBody", "aws-chunked upload without a body");
  try {
    for await (const input of body) {
      events.length = 0;
      decoder.push(input, events);
      for (const event of events) {
        switch (event.kind) {
          case "chunk":
            chunkSignature = event.signature;
            if (signed && chunkSignature === undefined) {
              throw new S3Error("SignatureDoesNotMatch", "a chunk has no chunk-signature");
            }
            if (event.sizeBytes === 0) verifyChunk(EMPTY_SHA256);
            else if (signed) chunkHash = createHash("sha256");
            break;
          case "data":
            chunkHash?.update(event.bytes);
            yield event.bytes;
            break;
          case "chunk-end":
            if (chunkHash !== undefined) verifyChunk(chunkHash.digest("hex"));
            chunkHash = undefined;
            break;
          case "trailer":
            if (event.name === "x-amz-trailer-signature") {
              if (payloadHash === STREAMING_SIGNED_TRAILER) {
                const expected = sign(
                  seed.key,
                  trailerStringToSign(seed.amzDate, seed.scope, previous, trailers),
                );
                if (!signaturesEqual(expected, event.value)) {
                  throw new S3Error(
                    "SignatureDoesNotMatch",
                    "The trailer signature does not match.",
                  );
                }
              }
            } else {
              trailers.push([event.name, event.value]);
              checksum.trailer(event.name, event.value);
            }
            break;
          case "end":
            break;
        }
      }
    }
  } catch (error) {
    if (error instanceof AwsChunkedSyntaxError || error instanceof LimitError) {
      throw new S3Error("InvalidRequest", `bad aws-chunked body: ${error.message}`);
    }
    throw error;
  }
  if (!decoder.done) throw new S3Error("IncompleteBody", "the aws-chunked body ended early");
}

async function copyObject(call: Call): Promise<HttpResponse> {
  const source = call.request.headers.get("x-amz-copy-source")!;
  const [path] = source.split("?");
  const decoded = decodePath(path.startsWith("/") ? path.slice(1) : path);
  const slash = decoded.indexOf("/");
  if (slash <= 0 || slash === decoded.length - 1) {
    throw new S3Error(
      "InvalidArgument",
      "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
      {
        ArgumentName: "x-amz-copy-source",
      },
    );
  }
  const fromBucket = decoded.slice(0, slash);
  const fromKey = decoded.slice(slash + 1);
  const store = call.api.store;
  if (store.bucket(fromBucket) === undefined) {
    throw new S3Error("NoSuchBucket", "The specified bucket does not exist", {
      BucketName: fromBucket,
    });
  }
  const directive = (call.request.headers.get("x-amz-metadata-directive") ?? "COPY").toUpperCase();
  if (directive !== "COPY" && directive !== "REPLACE") {
    throw new S3Error("InvalidArgument", "Unknown metadata directive.", {
      ArgumentName: "x-amz-metadata-directive",
    });
  }
  const reader = store.openObject(fromBucket, fromKey);
  if (reader === undefined) {
    throw new S3Error("NoSuchKey", "The specified key does not exist.", { Key: fromKey });
  }
  let meta: ObjectMeta;
  try {
    if (fromBucket === call.bucket && fromKey === call.key && directive === "COPY") {
      throw new S3Error(
        "InvalidRequest",
        "This copy request is illegal because it is trying to copy an object to itself " +
          "without changing the object's metadata, storage class, website redirect location " +
          "or encryption attributes.",
      );
    }
    const headers = directive === "REPLACE" ? headersToStore(call.request) : reader.meta.headers;
    const upload = call.api.store.beginUpload(call.bucket, call.key);
    try {
      await copyContent(reader.readAt.bind(reader), reader.meta.sizeBytes, upload);
      meta = upload.commit({ headers, nowMs: call.nowMs, etag: reader.meta.etag });
    } catch (error) {
      upload.abandon();
      throw error;
    }
  } finally {
    reader.close();
  }
  return xmlResponse(xmlDocument("CopyObjectResult", [
    xmlElement("LastModified", new Date(meta.lastModifiedMs).toISOString()),
    xmlElement("ETag", `"${meta.etag}"`),
  ]));
}

async function copyContent(
  readAt: (into: Uint8Array, position: number) => number,
  sizeBytes: number,
  upload: Upload,
): Promise<void> {
  const piece = new Uint8Array(Math.min(COPY_PIECE_BYTES, Math.max(sizeBytes, 1)));
  let position = 0;
  while (position < sizeBytes) {
    const n = readAt(piece, position);
    if (n === 0) throw new Error("object shorter than its metadata says");
    upload.write(piece.subarray(0, n));
    position += n;
    if (position < sizeBytes) await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

/** Whether an If-Match / If-None-Match list names this ETag ("*" names any). */
function etagListMatches(list: string, etag: string): boolean {
  return list.split(",").some((item) => {
    const tag = item.trim().replace(/^W\//, "");
    return tag === "*" || tag.replace(/^"|"$/g, "") === etag;
  });
}

/** RFC 9110 section 13.2.2's order: 412 before 304. */
function checkPreconditions(call: Call, meta: ObjectMeta): HttpResponse | undefined {
  const h = call.request.headers;
  const modifiedS = Math.floor(meta.lastModifiedMs / 1000);
  const ifMatch = h.get("if-match");
  if (ifMatch !== undefined) {
    if (!etagListMatches(ifMatch, meta.etag)) throw preconditionFailed("If-Match");
  } else {
    const since = dateSeconds(h.get("if-unmodified-since"));
    if (since !== undefined && modifiedS > since) throw preconditionFailed("If-Unmodified-Since");
  }
  const ifNoneMatch = h.get("if-none-match");
  if (ifNoneMatch !== undefined) {
    if (etagListMatches(ifNoneMatch, meta.etag)) return notModified(meta);
  } else {
    const since = dateSeconds(h.get("if-modified-since"));
    if (since !== undefined && modifiedS <= since) return notModified(meta);
  }
  return undefined;
}

function dateSeconds(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}

function preconditionFailed(condition: string): S3Error {
  return new S3Error(
    "PreconditionFailed",
    "At least one of the pre-conditions you specified did not hold",
    {
      Condition: condition,
    },
  );
}

function notModified(meta: ObjectMeta): HttpResponse {
  return {
    status: 304,
    headers: {
      etag: `"${meta.etag}"`,
      "last-modified": new Date(meta.lastModifiedMs).toUTCString(),
    },
    body: null,
  };
}

function objectHeaders(call: Call, meta: ObjectMeta): Record<string, string> {
  const headers: Record<string, string> = {
    "content-type": DEFAULT_CONTENT_TYPE,
    ...meta.headers,
    etag: `"${meta.etag}"`,
    "last-modified": new Date(meta.lastModifiedMs).toUTCString(),
    "accept-ranges": "bytes",
  };
  for (const [param, header] of Object.entries(RESPONSE_OVERRIDES)) {
    const value = call.query.get(param);
    if (value !== undefined) headers[header] = value;
  }
  return headers;
}

function getObject(call: Call): HttpResponse {
  requireBucket(call);
  checkKey(call);
  const store = call.api.store;
  const meta = store.head(call.bucket, call.key);
  if (meta === undefined) {
    throw new S3Error("NoSuchKey", "The specified key does not exist.", { Key: call.key });
  }
  const early = checkPreconditions(call, meta);
  if (early !== undefined) return early;
  const headers = objectHeaders(call, meta);
  const size = meta.sizeBytes;
  const range = parseRange(call.request.headers.get("range"), size);
  if (range === "unsatisfiable") {
    throw new S3Error("InvalidRange", "The requested range is not satisfiable", {
      RangeRequested: call.request.headers.get("range") ?? "",
      ActualObjectSize: String(size),
    });
  }
  let status = 200, start = 0, end = size - 1;
  if (range !== undefined) {
    status = 206;
    start = range.start;
    end = range.end;
    headers["content-range"] = `bytes ${start}-${end}/${size}`;
  }
  const length = end - start + 1;
  headers["content-length"] = String(length);
  const mode = call.request.headers.get("x-amz-checksum-mode");
  if (mode?.toUpperCase() === "ENABLED" && range === undefined) {
    Object.assign(headers, meta.checksums ?? {});
  }
  if (call.request.method === "HEAD" || length === 0) return { status, headers, body: null };
  const reader = store.openObject(call.bucket, call.key);
  if (reader === undefined) {
    throw new S3Error("NoSuchKey", "The specified key does not exist.", { Key: call.key });
  }
  return { status, headers, body: readStream(reader, start, length) };
}

/** The content from `start`, `length` bytes, read as the client takes it. */
function readStream(
  reader: { readAt(into: Uint8Array, position: number): number; close(): void },
  start: number,
  length: number,
): ReadableStream<Bytes> {
  let position = start;
  const end = start + length;
  let closed = false;
  const close = () => {
    if (!closed) {
      closed = true;
      reader.close();
    }
  };
  return new ReadableStream<Bytes>({
    pull(controller) {
      try {
        const piece = new Uint8Array(Math.min(READ_PIECE_BYTES, end - position));
        const n = reader.readAt(piece, position);
        if (n === 0) throw new Error("object shorter than its metadata says");
        position += n;
        controller.enqueue(n === piece.length ? piece : piece.slice(0, n));
        if (position >= end) {
          close();
          controller.close();
        }
      } catch (error) {
        close();
        controller.error(error);
      }
    },
    cancel() {
      close();
    },
  }, { highWaterMark: 0 });
}

function deleteObject(call: Call): HttpResponse {
  requireBucket(call);
  checkKey(call);
  call.api.store.deleteObject(call.bucket, call.key);
  return { status: 204, body: null };
}
