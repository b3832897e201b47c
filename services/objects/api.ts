// The S3 REST API over lib/http: a handler `(request) -> response` that
// reads the bucket and key from the path (path-style addressing) or the Host
// (virtual-hosted style, with --domain), checks
// the signature, dispatches through typed tables by method and
// subresource, and turns every failure into S3's XML error document through
// one mapper (lib/s3/errors.ts).
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html
//
// Operations: ListBuckets (paged), CreateBucket, HeadBucket, DeleteBucket,
// GetBucketLocation, ListObjects (v1 and v2), DeleteObjects, PutObject
// (conditional writes), CopyObject (conditional copy), GetObject and
// HeadObject (ranges, partNumber, conditionals, response-* overrides),
// GetObjectAttributes, DeleteObject, Get/Put/DeleteObjectTagging (tagging.ts),
// and the multipart calls:
// CreateMultipartUpload, UploadPart, UploadPartCopy,
// CompleteMultipartUpload, AbortMultipartUpload, ListParts,
// ListMultipartUploads. Anything else is NotImplemented.
//
// Bodies are received, and every digest and checksum (CRC64NVME included)
// checked while they stream, in body.ts; multipart uploads and their
// checksums are in multipart.ts. Left out: ACLs, versioning, bucket
// tagging, policies.

import { randomBytes } from "node:crypto";
import type { Bytes } from "../../lib/bytes.ts";
import type { Handler, HttpRequest, HttpResponse } from "../../lib/http/message.ts";
import type { Logger } from "../../lib/log.ts";
import { errorXml, S3Error, toS3WireError } from "../../lib/s3/errors.ts";
import { bucketNameProblem, compareUtf8, keyProblem } from "../../lib/s3/names.ts";
import { parseRange } from "../../lib/s3/range.ts";
import { headerText, parseQuery, percentDecode, uriEncode } from "../../lib/s3/sigv4.ts";
import {
  CHECKSUM_ALGORITHMS,
  type ChecksumAlgorithm,
  checksumAlgorithmOf,
  checksumBase64,
  type ChecksumHash,
  checksumHash,
  checksumHeader,
  type ChecksumType,
} from "../../lib/s3/checksums.ts";
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
import { readXmlBody, receiveBody } from "./body.ts";
import {
  parseTaggingHeader,
  parseTaggingXml,
  storedTags,
  TAGGING_HEADER,
  tagSetXml,
  withTags,
} from "./tagging.ts";
import {
  DIRECT_READ_MIN_BYTES,
  type Grants,
  type ListResult,
  type ObjectMeta,
  type ObjectReader,
  type ObjectStore,
  type Upload,
} from "./store.ts";
import { alignedBytes } from "../../lib/fs/file_layer.ts";
import {
  type ChosenPart,
  type MultipartUpload,
  type MultipartUploads,
  PART_BYTES_MAX,
  PART_NUMBER_MAX,
} from "./multipart.ts";

/** S3's single-PUT limit: 5 GiB. */
export const OBJECT_BYTES_MAX = 5 * 1024 ** 3;
/** User metadata (x-amz-meta-*) is at most 2 KiB in S3. */
export const USER_METADATA_BYTES_MAX = 2 * 1024;
/** DeleteObjects deletes at most 1000 keys per request. */
export const DELETE_KEYS_MAX = 1000;
/** A listing page holds at most 1000 entries. */
export const LIST_KEYS_MAX = 1000;
/** Reads of an object sent in pieces of this size. */
const READ_PIECE_BYTES = 256 * 1024;
/**
 * Objects from this size on are read off the event loop, pieces ahead
 * (readAheadStream), in pieces of LARGE_READ_PIECE_BYTES (for up to
 * LARGE_READS_MAX GETs at once, store.ts) or else ASYNC_READ_PIECE_BYTES:
 * READ_AHEAD_PIECES + 1 such buffers per GET.
 */
const READ_AHEAD_MIN_BYTES = DIRECT_READ_MIN_BYTES;
const ASYNC_READ_PIECE_BYTES = 1024 * 1024;
/**
 * A quarter of the direct reads, stream pulls and socket writes of 1 MiB
 * pieces, and larger reads for the disk: server CPU for a 1 GiB GET 0.42-0.51
 * -> 0.31-0.40 ms per MiB, and 954-1 637 -> 1 405-2 195 MiB/s, alternated in
 * one server (docs/objects.md). Three or four pieces ahead did no better
 * than two.
 */
const LARGE_READ_PIECE_BYTES = 4 * 1024 * 1024;
/** Direct reads a large GET keeps in flight ahead of the socket (readAheadStream). */
const READ_AHEAD_PIECES = 2;
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
  "max-buckets",
  "bucket-region",
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
  "GET attributes": getObjectAttributes,
  "GET tagging": getObjectTagging,
  "PUT tagging": putObjectTagging,
  "DELETE tagging": deleteObjectTagging,
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

/** ListBuckets pages hold at most this many buckets (S3's max-buckets bound). */
const LIST_BUCKETS_MAX = 10_000;

/**
 * ListBuckets, whole or (with max-buckets, S3's pagination) in pages
 * resumed by an opaque continuation-token; prefix filters names.
 */
function listBuckets(call: Call): HttpResponse {
  const q = call.query;
  const prefix = q.get("prefix") ?? "";
  const rawMax = q.get("max-buckets");
  const maxBuckets = boundedInteger(rawMax, "max-buckets", LIST_BUCKETS_MAX);
  if (maxBuckets < 1 || maxBuckets > LIST_BUCKETS_MAX) {
    throw new S3Error(
      "InvalidArgument",
      "Argument max-buckets must be an integer between 1 and 10000",
      {
        ArgumentName: "max-buckets",
        ArgumentValue: String(rawMax),
      },
    );
  }
  const token = q.get("continuation-token");
  const after = token === undefined ? "" : decodeToken(token);
  const matching = call.api.store.listBuckets().filter((b) =>
    b.name.startsWith(prefix) && compareUtf8(b.name, after) > 0
  );
  const page = matching.slice(0, maxBuckets);
  const buckets = page.map((b) =>
    xmlParent("Bucket", [
      xmlElement("Name", b.name),
      xmlElement("CreationDate", new Date(b.createdMs).toISOString()),
      xmlElement("BucketRegion", b.location || call.api.region),
    ])
  );
  const fields = [ownerXml(), xmlParent("Buckets", buckets)];
  if (matching.length > page.length) {
    fields.push(xmlElement("ContinuationToken", encodeToken(page[page.length - 1].name)));
  }
  if (q.has("prefix")) fields.push(xmlElement("Prefix", prefix));
  return xmlResponse(xmlDocument("ListAllMyBucketsResult", fields));
}

function ownerXml(element = "Owner"): string {
  return xmlParent(element, [xmlElement("ID", OWNER_ID), xmlElement("DisplayName", "underhood")]);
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
    for (
      let w = call.api.store.settled(call.bucket, key);
      w;
      w = call.api.store.settled(call.bucket, key)
    ) {
      await w;
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

// ---- object operations ----

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
  return withTags(out, requestTags(request));
}

/** The tag set an `x-amz-tagging` header gives (none without one). */
function requestTags(request: HttpRequest) {
  const header = request.headers.get(TAGGING_HEADER);
  return header === undefined ? [] : parseTaggingHeader(headerText(header));
}

async function putObject(call: Call): Promise<HttpResponse> {
  requireBucket(call);
  checkKey(call);
  if (call.request.headers.has("x-amz-copy-source")) return await copyObject(call);
  checkWritePreconditions(call);
  const headers = headersToStore(call.request);
  const upload = call.api.store.beginUpload(call.bucket, call.key);
  let meta: ObjectMeta;
  try {
    const checksums = await receiveBody(call, upload, { sizeBytesMax: OBJECT_BYTES_MAX });
    meta = await upload.commit({
      headers,
      nowMs: call.nowMs,
      checksums,
      beforeRename: () => checkWritePreconditions(call),
    });
  } catch (error) {
    await upload.abandon();
    throw error;
  }
  return { status: 200, headers: { etag: `"${meta.etag}"`, ...checksumHeaders(meta) }, body: null };
}

// ---- multipart uploads (multipart.ts) ----

function createMultipartUpload(call: Call): HttpResponse {
  requireBucket(call);
  checkKey(call);
  const { algorithm, type } = multipartChecksumOf(call.request);
  const id = call.api.multipart.create(call.bucket, call.key, {
    headers: headersToStore(call.request),
    nowMs: call.nowMs,
    checksumAlgorithm: algorithm,
    checksumType: type,
  });
  const response = xmlResponse(xmlDocument("InitiateMultipartUploadResult", [
    xmlElement("Bucket", call.bucket),
    xmlElement("Key", call.key),
    xmlElement("UploadId", id),
  ]));
  if (algorithm !== undefined) {
    Object.assign(response.headers!, {
      "x-amz-checksum-algorithm": algorithm,
      "x-amz-checksum-type": type!,
    });
  }
  return response;
}

/**
 * x-amz-checksum-algorithm and x-amz-checksum-type of CreateMultipartUpload,
 * with S3's defaults and rules: CRC64NVME is FULL_OBJECT only, SHA-1 and
 * SHA-256 COMPOSITE only, CRC32 and CRC32C either (COMPOSITE by default).
 */
function multipartChecksumOf(
  request: HttpRequest,
): { algorithm?: ChecksumAlgorithm; type?: ChecksumType } {
  const rawAlgorithm = request.headers.get("x-amz-checksum-algorithm");
  const rawType = request.headers.get("x-amz-checksum-type")?.trim().toUpperCase();
  if (rawAlgorithm === undefined) {
    if (rawType !== undefined) {
      throw new S3Error(
        "InvalidRequest",
        "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.",
      );
    }
    return {};
  }
  const algorithm = checksumAlgorithmOf(rawAlgorithm);
  if (algorithm === undefined) {
    throw new S3Error("InvalidRequest", "Checksum algorithm provided is unsupported.", {
      ArgumentName: "x-amz-checksum-algorithm",
    });
  }
  if (rawType !== undefined && rawType !== "COMPOSITE" && rawType !== "FULL_OBJECT") {
    throw new S3Error("InvalidRequest", "Value for x-amz-checksum-type header is invalid.");
  }
  const type: ChecksumType = rawType ?? (algorithm === "CRC64NVME" ? "FULL_OBJECT" : "COMPOSITE");
  if (
    (type === "COMPOSITE" && algorithm === "CRC64NVME") ||
    (type === "FULL_OBJECT" && algorithm.startsWith("SHA"))
  ) {
    throw new S3Error(
      "InvalidRequest",
      `The ${type} checksum type cannot be used with the ${algorithm.toLowerCase()} checksum algorithm.`,
    );
  }
  return { algorithm, type };
}

/** x-amz-checksum-<alg> and x-amz-checksum-type of a stored object, for a response. */
function checksumHeaders(meta: ObjectMeta): Record<string, string> {
  if (meta.checksums === undefined) return {};
  return { ...meta.checksums, "x-amz-checksum-type": meta.checksumType ?? "FULL_OBJECT" };
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
  const partNumber = partNumberOf(call);
  if (call.request.headers.has("x-amz-copy-source")) {
    return await uploadPartCopy(call, upload, partNumber);
  }
  const part = call.api.multipart.beginPart(upload, partNumber);
  let meta: ObjectMeta;
  try {
    const checksums = await receiveBody(call, part, {
      sizeBytesMax: PART_BYTES_MAX,
      checksumAlgorithm: upload.checksumAlgorithm,
    });
    meta = await part.commit({ headers: {}, nowMs: call.nowMs, checksums });
  } catch (error) {
    await part.abandon();
    throw error;
  }
  return { status: 200, headers: { etag: `"${meta.etag}"`, ...meta.checksums }, body: null };
}

/**
 * UploadPartCopy: a part made of another object's content, whole or the
 * range in x-amz-copy-source-range (`bytes=first-last`, both within the
 * source), under the x-amz-copy-source-if-* conditions.
 */
async function uploadPartCopy(
  call: Call,
  upload: MultipartUpload,
  partNumber: number,
): Promise<HttpResponse> {
  const source = await openCopySource(call);
  let meta: ObjectMeta;
  try {
    checkCopyPreconditions(call, source.meta);
    const size = source.meta.sizeBytes;
    let start = 0, length = size;
    const rawRange = call.request.headers.get("x-amz-copy-source-range");
    if (rawRange !== undefined) {
      const m = /^bytes=(\d{1,15})-(\d{1,15})$/.exec(rawRange.trim());
      if (m === null || Number(m[1]) > Number(m[2]) || Number(m[2]) >= size) {
        throw new S3Error(
          "InvalidArgument",
          `Range specified is not valid for source object of size: ${size}`,
          { ArgumentName: "x-amz-copy-source-range", ArgumentValue: rawRange.slice(0, 100) },
        );
      }
      start = Number(m[1]);
      length = Number(m[2]) - start + 1;
    }
    if (length > PART_BYTES_MAX) {
      throw new S3Error(
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed object size.",
        { MaxSizeAllowed: String(PART_BYTES_MAX) },
      );
    }
    const part = call.api.multipart.beginPart(upload, partNumber);
    try {
      const checksum = upload.checksumAlgorithm === undefined
        ? undefined
        : checksumHash(upload.checksumAlgorithm);
      await copyContent(source, { start, length, upload: part, checksum });
      meta = await part.commit({
        headers: {},
        nowMs: call.nowMs,
        checksums: checksum === undefined
          ? undefined
          : { [checksumHeader(upload.checksumAlgorithm!)]: checksumBase64(checksum.digest()) },
      });
    } catch (error) {
      await part.abandon();
      throw error;
    }
  } finally {
    source.close();
  }
  return xmlResponse(xmlDocument("CopyPartResult", [
    xmlElement("LastModified", new Date(meta.lastModifiedMs).toISOString()),
    xmlElement("ETag", `"${meta.etag}"`),
    ...Object.entries(meta.checksums ?? {}).map(([name, value]) =>
      xmlElement(checksumElementName(name), value)
    ),
  ]));
}

/** x-amz-checksum-crc64nvme -> ChecksumCRC64NVME, the XML element of a checksum. */
function checksumElementName(header: string): string {
  return "Checksum" + header.slice("x-amz-checksum-".length).toUpperCase();
}

async function completeMultipartUpload(call: Call): Promise<HttpResponse> {
  requireBucket(call);
  const upload = call.api.multipart.get(call.bucket, call.key, call.query.get("uploadId")!);
  const root = parseXmlOrThrow(await readXmlBody(call));
  if (root.name !== "CompleteMultipartUpload") throw malformedXml();
  const chosen = children(root, "Part").map((part): ChosenPart => {
    const number = child(part, "PartNumber")?.text.trim() ?? "";
    const etag = child(part, "ETag")?.text.trim();
    if (!/^\d{1,5}$/.test(number) || etag === undefined) throw malformedXml();
    const checksums: Record<string, string> = {};
    for (const algorithm of CHECKSUM_ALGORITHMS) {
      const value = child(part, `Checksum${algorithm}`)?.text.trim();
      if (value !== undefined) checksums[checksumHeader(algorithm)] = value;
    }
    return { partNumber: Number(number), etag, checksums };
  });
  checkWritePreconditions(call);
  let expected: { algorithm: ChecksumAlgorithm; value: string } | undefined;
  for (const algorithm of CHECKSUM_ALGORITHMS) {
    const value = call.request.headers.get(checksumHeader(algorithm));
    if (value === undefined) continue;
    if (expected !== undefined) {
      throw new S3Error("InvalidRequest", "Expecting a single x-amz-checksum- header");
    }
    expected = { algorithm, value: value.trim() };
  }
  const meta = await call.api.multipart.complete(upload, chosen, {
    nowMs: call.nowMs,
    expected,
    beforeCommit: () => checkWritePreconditions(call),
  });
  const fields = [
    xmlElement("Location", `/${call.bucket}/${uriEncode(call.key, true)}`),
    xmlElement("Bucket", call.bucket),
    xmlElement("Key", call.key),
    xmlElement("ETag", `"${meta.etag}"`),
    ...Object.entries(meta.checksums ?? {}).map(([name, value]) =>
      xmlElement(checksumElementName(name), value)
    ),
  ];
  if (meta.checksumType !== undefined) fields.push(xmlElement("ChecksumType", meta.checksumType));
  return xmlResponse(xmlDocument("CompleteMultipartUploadResult", fields));
}

function abortMultipartUpload(call: Call): HttpResponse {
  requireBucket(call);
  call.api.multipart.abort(
    call.api.multipart.get(call.bucket, call.key, call.query.get("uploadId")!),
  );
  return { status: 204, body: null };
}

/**
 * ListParts: the parts uploaded so far, by number, in pages of max-parts
 * (at most 1000) after part-number-marker, with their checksums and the
 * upload's checksum algorithm and type.
 */
function listParts(call: Call): HttpResponse {
  requireBucket(call);
  const upload = call.api.multipart.get(call.bucket, call.key, call.query.get("uploadId")!);
  const marker = boundedInteger(call.query.get("part-number-marker"), "part-number-marker", 0);
  const maxParts = Math.min(boundedInteger(call.query.get("max-parts"), "max-parts", 1000), 1000);
  const numbers = [...upload.parts.keys()].filter((n) => n > marker).sort((a, b) => a - b);
  const page = numbers.slice(0, maxParts);
  const truncated = numbers.length > page.length;
  const fields = [
    xmlElement("Bucket", call.bucket),
    xmlElement("Key", call.key),
    xmlElement("UploadId", upload.id),
    xmlElement("PartNumberMarker", marker),
    ...(truncated ? [xmlElement("NextPartNumberMarker", page[page.length - 1])] : []),
    xmlElement("MaxParts", maxParts),
    xmlElement("IsTruncated", truncated),
    ownerXml("Initiator"),
    ownerXml(),
    xmlElement("StorageClass", "STANDARD"),
  ];
  if (upload.checksumAlgorithm !== undefined) {
    fields.push(
      xmlElement("ChecksumAlgorithm", upload.checksumAlgorithm),
      xmlElement("ChecksumType", upload.checksumType!),
    );
  }
  for (const n of page) {
    const part = upload.parts.get(n)!;
    fields.push(xmlParent("Part", [
      xmlElement("PartNumber", n),
      xmlElement("LastModified", new Date(part.lastModifiedMs).toISOString()),
      xmlElement("ETag", `"${part.etag}"`),
      xmlElement("Size", part.sizeBytes),
      ...Object.entries(part.checksums ?? {}).map(([name, value]) =>
        xmlElement(checksumElementName(name), value)
      ),
    ]));
  }
  return xmlResponse(xmlDocument("ListPartsResult", fields));
}

/**
 * ListMultipartUploads: uploads by key, then start time, in pages of
 * max-uploads (at most 1000); a page resumes after key-marker (and, for
 * that key, after upload-id-marker); prefix and delimiter roll keys up into
 * CommonPrefixes as ListObjects does.
 */
function listMultipartUploads(call: Call): HttpResponse {
  requireBucket(call);
  const q = call.query;
  const prefix = q.get("prefix") ?? "";
  const delimiter = q.get("delimiter") ?? "";
  const keyMarker = q.get("key-marker") ?? "";
  const uploadIdMarker = keyMarker === "" ? "" : q.get("upload-id-marker") ?? "";
  const maxUploads = Math.min(boundedInteger(q.get("max-uploads"), "max-uploads", 1000), 1000);
  const encodingType = q.get("encoding-type");
  if (encodingType !== undefined && encodingType !== "url") {
    throw new S3Error("InvalidArgument", "Invalid Encoding Method specified in Request", {
      ArgumentName: "encoding-type",
    });
  }
  const encode = encodingType === "url" ? (s: string) => uriEncode(s, true) : (s: string) => s;
  const all = call.api.multipart.list(call.bucket);
  let i = 0;
  if (keyMarker !== "") {
    // Past every upload of keys before the marker; for the marker's own key,
    // past the upload named by upload-id-marker (or all of them).
    while (i < all.length && compareUtf8(all[i].key, keyMarker) < 0) i++;
    if (delimiter !== "" && keyMarker.endsWith(delimiter)) {
      while (i < all.length && all[i].key.startsWith(keyMarker)) i++;
    } else if (uploadIdMarker === "") {
      while (i < all.length && all[i].key === keyMarker) i++;
    } else {
      const at = all.findIndex((u) => u.key === keyMarker && u.id === uploadIdMarker);
      if (at !== -1) i = at + 1;
    }
  }
  const uploads: MultipartUpload[] = [];
  const commonPrefixes: string[] = [];
  let truncated = false;
  let nextKey = "", nextId = "";
  while (i < all.length) {
    const upload = all[i];
    if (!upload.key.startsWith(prefix)) {
      i++;
      continue;
    }
    if (uploads.length + commonPrefixes.length === maxUploads) {
      truncated = true;
      break;
    }
    const at = delimiter === "" ? -1 : upload.key.indexOf(delimiter, prefix.length);
    if (at !== -1) {
      const common = upload.key.slice(0, at + delimiter.length);
      if (commonPrefixes[commonPrefixes.length - 1] !== common) commonPrefixes.push(common);
      nextKey = common;
      nextId = "";
      while (i < all.length && all[i].key.startsWith(common)) i++;
      continue;
    }
    uploads.push(upload);
    nextKey = upload.key;
    nextId = upload.id;
    i++;
  }
  const fields = [
    xmlElement("Bucket", call.bucket),
    xmlElement("KeyMarker", encode(keyMarker)),
    xmlElement("UploadIdMarker", uploadIdMarker),
  ];
  if (truncated) {
    fields.push(xmlElement("NextKeyMarker", encode(nextKey)));
    fields.push(xmlElement("NextUploadIdMarker", nextId));
  }
  fields.push(xmlElement("Prefix", encode(prefix)));
  if (delimiter !== "") fields.push(xmlElement("Delimiter", encode(delimiter)));
  if (encodingType !== undefined) fields.push(xmlElement("EncodingType", encodingType));
  fields.push(xmlElement("MaxUploads", maxUploads), xmlElement("IsTruncated", truncated));
  for (const u of uploads) {
    const entry = [
      xmlElement("Key", encode(u.key)),
      xmlElement("UploadId", u.id),
      ownerXml("Initiator"),
      ownerXml(),
      xmlElement("Initiated", new Date(u.initiatedMs).toISOString()),
      xmlElement("StorageClass", "STANDARD"),
    ];
    if (u.checksumAlgorithm !== undefined) {
      entry.push(
        xmlElement("ChecksumAlgorithm", u.checksumAlgorithm),
        xmlElement("ChecksumType", u.checksumType!),
      );
    }
    fields.push(xmlParent("Upload", entry));
  }
  for (const common of commonPrefixes) {
    fields.push(xmlParent("CommonPrefixes", [xmlElement("Prefix", encode(common))]));
  }
  return xmlResponse(xmlDocument("ListMultipartUploadsResult", fields));
}

/**
 * The object x-amz-copy-source names (`bucket/key`, percent-encoded, with a
 * leading slash or not), opened for reading: NoSuchBucket, NoSuchKey.
 */
async function openCopySource(
  call: Call,
): Promise<ObjectReader & { bucket: string; key: string }> {
  const source = call.request.headers.get("x-amz-copy-source")!;
  const [path, query] = source.split("?");
  if (query !== undefined && query !== "") {
    throw new S3Error("NotImplemented", "copying a version of an object is not implemented");
  }
  const decoded = decodePath(path.startsWith("/") ? path.slice(1) : path);
  const slash = decoded.indexOf("/");
  if (slash <= 0 || slash === decoded.length - 1) {
    throw new S3Error(
      "InvalidArgument",
      "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
      { ArgumentName: "x-amz-copy-source" },
    );
  }
  const fromBucket = decoded.slice(0, slash);
  const fromKey = decoded.slice(slash + 1);
  // Reading the source is a read of its bucket: an anonymous copy needs
  // that bucket public too, or a public bucket would launder private objects.
  if (call.principal.kind === "anonymous" && !call.api.publicBuckets.has(fromBucket)) {
    throw accessDenied();
  }
  const store = call.api.store;
  if (store.bucket(fromBucket) === undefined) {
    throw new S3Error("NoSuchBucket", "The specified bucket does not exist", {
      BucketName: fromBucket,
    });
  }
  const reader = await openSettled(store, fromBucket, fromKey);
  if (reader === undefined) {
    throw new S3Error("NoSuchKey", "The specified key does not exist.", { Key: fromKey });
  }
  return Object.assign(reader, { bucket: fromBucket, key: fromKey });
}

/** Opens an object once no write of it is settling (store.ts), so file and metadata agree. */
async function openSettled(
  store: ObjectStore,
  bucket: string,
  key: string,
): Promise<ObjectReader | undefined> {
  for (
    let wait = store.settled(bucket, key);
    wait !== undefined;
    wait = store.settled(bucket, key)
  ) {
    await wait;
  }
  return store.openObject(bucket, key);
}

/**
 * x-amz-copy-source-if-match / -if-none-match / -if-modified-since /
 * -if-unmodified-since, S3's conditional copy: each one that fails is 412
 * PreconditionFailed; an ETag condition that holds overrides its paired
 * date condition, as S3 documents.
 */
function checkCopyPreconditions(call: Call, meta: ObjectMeta): void {
  const h = call.request.headers;
  const modifiedS = Math.floor(meta.lastModifiedMs / 1000);
  const ifMatch = h.get("x-amz-copy-source-if-match");
  if (ifMatch !== undefined) {
    if (!etagListMatches(ifMatch, meta.etag)) {
      throw preconditionFailed("x-amz-copy-source-If-Match");
    }
  } else {
    const since = dateSeconds(h.get("x-amz-copy-source-if-unmodified-since"));
    if (since !== undefined && modifiedS > since) {
      throw preconditionFailed("x-amz-copy-source-If-Unmodified-Since");
    }
  }
  const ifNoneMatch = h.get("x-amz-copy-source-if-none-match");
  if (ifNoneMatch !== undefined) {
    if (etagListMatches(ifNoneMatch, meta.etag)) {
      throw preconditionFailed("x-amz-copy-source-If-None-Match");
    }
  } else {
    const since = dateSeconds(h.get("x-amz-copy-source-if-modified-since"));
    if (since !== undefined && modifiedS <= since) {
      throw preconditionFailed("x-amz-copy-source-If-Modified-Since");
    }
  }
}

/**
 * Conditional writes (PutObject, CompleteMultipartUpload): `If-None-Match: *`
 * fails when the key exists, `If-Match: <etag>` when it is missing
 * (NoSuchKey) or has another ETag (412). Checked before the body is read
 * and again just before the object is published, so of two racing
 * conditional writes only one wins.
 */
function checkWritePreconditions(call: Call): void {
  const ifNoneMatch = call.request.headers.get("if-none-match");
  const ifMatch = call.request.headers.get("if-match");
  if (ifNoneMatch === undefined && ifMatch === undefined) return;
  const current = call.api.store.latest(call.bucket, call.key);
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== "*") {
      throw new S3Error(
        "NotImplemented",
        "A header you provided implies functionality that is not implemented",
        { Header: "If-None-Match" },
      );
    }
    if (current !== undefined) throw preconditionFailed("If-None-Match");
  }
  if (ifMatch !== undefined) {
    if (current === undefined) {
      throw new S3Error("NoSuchKey", "The specified key does not exist.", { Key: call.key });
    }
    if (!etagListMatches(ifMatch, current.etag)) throw preconditionFailed("If-Match");
  }
}

/**
 * CopyObject: the source's content and (COPY) its headers, or (REPLACE) the
 * request's; its checksum is kept, or computed anew over the content when
 * x-amz-checksum-algorithm names one (then FULL_OBJECT).
 */
async function copyObject(call: Call): Promise<HttpResponse> {
  const directive = (call.request.headers.get("x-amz-metadata-directive") ?? "COPY").toUpperCase();
  if (directive !== "COPY" && directive !== "REPLACE") {
    throw new S3Error("InvalidArgument", "Unknown metadata directive.", {
      ArgumentName: "x-amz-metadata-directive",
    });
  }
  const taggingDirective = (call.request.headers.get("x-amz-tagging-directive") ?? "COPY")
    .toUpperCase();
  if (taggingDirective !== "COPY" && taggingDirective !== "REPLACE") {
    throw new S3Error("InvalidArgument", "Unknown tagging directive.", {
      ArgumentName: "x-amz-tagging-directive",
    });
  }
  const rawAlgorithm = call.request.headers.get("x-amz-checksum-algorithm");
  const algorithm = rawAlgorithm === undefined ? undefined : checksumAlgorithmOf(rawAlgorithm);
  if (rawAlgorithm !== undefined && algorithm === undefined) {
    throw new S3Error("InvalidRequest", "Checksum algorithm provided is unsupported.", {
      ArgumentName: "x-amz-checksum-algorithm",
    });
  }
  const reader = await openCopySource(call);
  let meta: ObjectMeta;
  try {
    if (
      reader.bucket === call.bucket && reader.key === call.key && directive === "COPY" &&
      taggingDirective === "COPY" && algorithm === undefined
    ) {
      throw new S3Error(
        "InvalidRequest",
        "This copy request is illegal because it is trying to copy an object to itself " +
          "without changing the object's metadata, storage class, website redirect location " +
          "or encryption attributes.",
      );
    }
    checkCopyPreconditions(call, reader.meta);
    const metadata = directive === "REPLACE"
      ? headersToStore(call.request)
      : withTags(reader.meta.headers, []);
    const headers = withTags(
      metadata,
      taggingDirective === "REPLACE" ? requestTags(call.request) : storedTags(reader.meta.headers),
    );
    const upload = call.api.store.beginUpload(call.bucket, call.key);
    const checksum = algorithm === undefined ? undefined : checksumHash(algorithm);
    try {
      await copyContent(reader, { start: 0, length: reader.meta.sizeBytes, upload, checksum });
      const source = reader.meta;
      meta = await upload.commit({
        headers,
        nowMs: call.nowMs,
        etag: source.etag,
        parts: source.parts,
        ...(checksum === undefined
          ? { checksums: source.checksums, checksumType: source.checksumType }
          : {
            checksums: { [checksumHeader(algorithm!)]: checksumBase64(checksum.digest()) },
            checksumType: "FULL_OBJECT",
          }),
      });
    } catch (error) {
      await upload.abandon();
      throw error;
    }
  } finally {
    reader.close();
  }
  const fields = [
    xmlElement("LastModified", new Date(meta.lastModifiedMs).toISOString()),
    xmlElement("ETag", `"${meta.etag}"`),
    ...Object.entries(meta.checksums ?? {}).map(([name, value]) =>
      xmlElement(checksumElementName(name), value)
    ),
  ];
  if (meta.checksumType !== undefined) fields.push(xmlElement("ChecksumType", meta.checksumType));
  return xmlResponse(xmlDocument("CopyObjectResult", fields));
}

/** Copies `length` bytes of `source` from `start` into `upload`, yielding between pieces. */
async function copyContent(
  source: { readAt(into: Uint8Array, position: number): number },
  target: { start: number; length: number; upload: Upload; checksum?: ChecksumHash },
): Promise<void> {
  const { start, length, upload, checksum } = target;
  const piece = new Uint8Array(Math.min(COPY_PIECE_BYTES, Math.max(length, 1)));
  let done = 0;
  while (done < length) {
    const n = source.readAt(piece.subarray(0, Math.min(piece.length, length - done)), start + done);
    if (n === 0) throw new Error("object shorter than its metadata says");
    checksum?.update(piece.subarray(0, n));
    await upload.write(piece.subarray(0, n));
    done += n;
    if (done < length) await new Promise((resolve) => setTimeout(resolve, 0));
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
  delete headers[TAGGING_HEADER];
  const tagCount = storedTags(meta.headers).length;
  if (tagCount > 0) headers["x-amz-tagging-count"] = String(tagCount);
  for (const [param, header] of Object.entries(RESPONSE_OVERRIDES)) {
    const value = call.query.get(param);
    if (value !== undefined) headers[header] = value;
  }
  return headers;
}

function getObject(call: Call): HttpResponse | Promise<HttpResponse> {
  requireBucket(call);
  checkKey(call);
  const store = call.api.store;
  // A write of this key renamed into place and not yet durable: answer once it is.
  const wait = store.settled(call.bucket, call.key);
  if (wait !== undefined) return wait.then(() => getObject(call));
  const meta = store.head(call.bucket, call.key);
  if (meta === undefined) {
    throw new S3Error("NoSuchKey", "The specified key does not exist.", { Key: call.key });
  }
  const early = checkPreconditions(call, meta);
  if (early !== undefined) return early;
  const headers = objectHeaders(call, meta);
  const size = meta.sizeBytes;
  const part = partOf(call, meta);
  const range = part?.range ?? parseRange(call.request.headers.get("range"), size);
  if (part !== undefined && meta.parts !== undefined) {
    headers["x-amz-mp-parts-count"] = String(meta.parts.length);
  }
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
  if (mode?.toUpperCase() === "ENABLED") {
    if (range === undefined) Object.assign(headers, checksumHeaders(meta));
    else if (part?.checksum !== undefined && meta.checksums !== undefined) {
      // A part of a composite object: that part's own checksum, as S3 sends.
      headers[Object.keys(meta.checksums)[0]] = part.checksum;
      headers["x-amz-checksum-type"] = "COMPOSITE";
    }
  }
  if (call.request.method === "HEAD" || length === 0) return { status, headers, body: null };
  const reader = store.openObject(call.bucket, call.key);
  if (reader === undefined) {
    throw new S3Error("NoSuchKey", "The specified key does not exist.", { Key: call.key });
  }
  return { status, headers, body: readStream(reader, start, length, store.largeReads) };
}

/**
 * GET/HEAD ?partNumber=n: the byte range of the n-th part of a multipart
 * object (the whole object is part 1 of a plain one, still answered 206);
 * InvalidPartNumber past the last part, InvalidRequest with a Range too.
 */
function partOf(
  call: Call,
  meta: ObjectMeta,
): { range: { start: number; end: number } | undefined; checksum?: string } | undefined {
  if (!call.query.has("partNumber")) return undefined;
  const n = partNumberOf(call);
  if (call.request.headers.has("range")) {
    throw new S3Error(
      "InvalidRequest",
      "Cannot specify both Range header and partNumber query parameter",
    );
  }
  const parts = meta.parts ?? [{ partNumber: 1, sizeBytes: meta.sizeBytes }];
  if (n > parts.length) {
    throw new S3Error("InvalidPartNumber", "The requested partnumber is not satisfiable", {
      PartNumberRequested: String(n),
      ActualPartCount: String(parts.length),
    });
  }
  let start = 0;
  for (let i = 0; i < n - 1; i++) start += parts[i].sizeBytes;
  const part = parts[n - 1];
  // A part is a range (206 with Content-Range), even all of a plain object, as S3 answers.
  const range = part.sizeBytes === 0 ? undefined : { start, end: start + part.sizeBytes - 1 };
  return meta.checksumType === "COMPOSITE" && part.checksum !== undefined
    ? { range, checksum: part.checksum }
    : { range };
}

/** Attributes GetObjectAttributes can be asked for. */
const OBJECT_ATTRIBUTES = new Set([
  "ETag",
  "Checksum",
  "ObjectParts",
  "StorageClass",
  "ObjectSize",
]);

/**
 * GetObjectAttributes (GET ?attributes, x-amz-object-attributes: a list of
 * ETag, Checksum, ObjectParts, StorageClass, ObjectSize): metadata without
 * the content; the parts of a multipart object page with
 * x-amz-max-parts and x-amz-part-number-marker.
 */
function getObjectAttributes(call: Call): HttpResponse {
  requireBucket(call);
  checkKey(call);
  const h = call.request.headers;
  const wanted = new Set(
    (h.get("x-amz-object-attributes") ?? "").split(",").map((a) => a.trim()).filter((a) =>
      a !== ""
    ),
  );
  if (wanted.size === 0 || [...wanted].some((a) => !OBJECT_ATTRIBUTES.has(a))) {
    throw new S3Error("InvalidArgument", "Invalid attribute name specified.", {
      ArgumentName: "x-amz-object-attributes",
    });
  }
  const meta = call.api.store.head(call.bucket, call.key);
  if (meta === undefined) {
    throw new S3Error("NoSuchKey", "The specified key does not exist.", { Key: call.key });
  }
  const fields: string[] = [];
  if (wanted.has("ETag")) fields.push(xmlElement("ETag", meta.etag));
  if (wanted.has("Checksum") && meta.checksums !== undefined) {
    fields.push(xmlParent("Checksum", [
      ...Object.entries(meta.checksums).map(([name, value]) =>
        xmlElement(checksumElementName(name), value)
      ),
      xmlElement("ChecksumType", meta.checksumType ?? "FULL_OBJECT"),
    ]));
  }
  if (wanted.has("ObjectParts") && meta.parts !== undefined) {
    const marker = boundedInteger(h.get("x-amz-part-number-marker"), "x-amz-part-number-marker", 0);
    const maxParts = Math.min(
      boundedInteger(h.get("x-amz-max-parts"), "x-amz-max-parts", 1000),
      1000,
    );
    const after = meta.parts.filter((p) => p.partNumber > marker);
    const page = after.slice(0, maxParts);
    const truncated = after.length > page.length;
    const checksumName = meta.checksumType === "COMPOSITE" && meta.checksums !== undefined
      ? checksumElementName(Object.keys(meta.checksums)[0])
      : undefined;
    fields.push(xmlParent("ObjectParts", [
      xmlElement("IsTruncated", truncated),
      xmlElement("MaxParts", maxParts),
      ...(truncated ? [xmlElement("NextPartNumberMarker", page[page.length - 1].partNumber)] : []),
      xmlElement("PartNumberMarker", marker),
      ...page.map((p) =>
        xmlParent("Part", [
          ...(checksumName !== undefined && p.checksum !== undefined
            ? [xmlElement(checksumName, p.checksum)]
            : []),
          xmlElement("PartNumber", p.partNumber),
          xmlElement("Size", p.sizeBytes),
        ])
      ),
      xmlElement("PartsCount", meta.parts.length),
    ]));
  }
  if (wanted.has("StorageClass")) fields.push(xmlElement("StorageClass", "STANDARD"));
  if (wanted.has("ObjectSize")) fields.push(xmlElement("ObjectSize", meta.sizeBytes));
  const response = xmlResponse(xmlDocument("GetObjectAttributesResponse", fields));
  (response.headers as Record<string, string>)["last-modified"] = new Date(meta.lastModifiedMs)
    .toUTCString();
  return response;
}

/** A non-negative integer argument (header or query), `fallback` when absent. */
function boundedInteger(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined) return fallback;
  if (!/^\d{1,9}$/.test(raw.trim())) {
    throw new S3Error("InvalidArgument", `${name} must be a non-negative integer`, {
      ArgumentName: name,
      ArgumentValue: raw.slice(0, 100),
    });
  }
  return Number(raw.trim());
}

/** The content from `start`, `length` bytes, read as the client takes it. */
function readStream(
  reader: ObjectReader,
  start: number,
  length: number,
  largeReads: Grants,
): ReadableStream<Bytes> {
  if (reader.readAtAsync !== undefined && length >= READ_AHEAD_MIN_BYTES) {
    return readAheadStream(reader, reader.readAtAsync.bind(reader), start, length, largeReads);
  }
  let position = start;
  const end = start + length;
  let closed = false;
  // Two buffers in turn, not one per piece: lib/http pulls the next piece
  // only once the one before is written, so the piece before last is free.
  const buffers: Bytes[] = [];
  let turn = 0;
  const close = () => {
    if (!closed) {
      closed = true;
      reader.close();
    }
  };
  return pieceStream(() => {
    const want = Math.min(READ_PIECE_BYTES, end - position);
    turn ^= 1;
    let buffer = buffers[turn];
    if (buffer === undefined || buffer.length < want) {
      buffer = buffers[turn] = new Uint8Array(Math.min(READ_PIECE_BYTES, length));
    }
    const n = reader.readAt(buffer.subarray(0, want), position);
    if (n === 0) throw new Error("object shorter than its metadata says");
    position += n;
    return { piece: buffer.subarray(0, n), last: position >= end };
  }, close);
}

/**
 * A stream of the pieces `next` gives, pulled one at a time (lib/http pulls
 * the next only once the one before is written); `close` runs once, after
 * the last piece, on an error, or when the reader cancels.
 */
function pieceStream(
  next: () => { piece: Bytes; last: boolean } | Promise<{ piece: Bytes; last: boolean }>,
  close: () => void,
): ReadableStream<Bytes> {
  return new ReadableStream<Bytes>({
    async pull(controller) {
      try {
        const { piece, last } = await next();
        controller.enqueue(piece);
        if (last) {
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

/**
 * A large object's content read off the event loop, READ_AHEAD_PIECES
 * pieces ahead: while a piece is written to the socket the next ones are
 * read on Deno's blocking pool, so a read that has to wait for the disk (an
 * object written with O_DIRECT is not in the page cache) neither stalls the
 * event loop nor leaves the socket idle, and the disk has more than one
 * read to work on (1 223 MiB/s with one direct 1 MiB read at a time here,
 * 1 450 with two). One buffer per piece in flight plus the one being
 * written, in turn: a read goes into the buffer of a piece that lib/http
 * has written by the time it pulls again. Pieces are large (4 MiB) when
 * `largeReads` grants it, until the stream closes.
 */
function readAheadStream(
  reader: ObjectReader,
  readAt: (into: Uint8Array, position: number) => Promise<number>,
  start: number,
  length: number,
  largeReads: Grants,
): ReadableStream<Bytes> {
  const end = start + length;
  let next = start;
  const large = largeReads.take();
  const pieceBytes = large ? LARGE_READ_PIECE_BYTES : ASYNC_READ_PIECE_BYTES;
  const buffers: Bytes[] = [];
  let turn = 0;
  /** Reads in flight, oldest first. */
  const ahead: Promise<Bytes>[] = [];
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    if (large) largeReads.give();
    // Not under a read still running on another thread.
    const running = Promise.allSettled(ahead.splice(0));
    running.then(() => reader.close());
  };
  const read = (): Promise<Bytes> => {
    const want = Math.min(pieceBytes, end - next);
    turn = (turn + 1) % (READ_AHEAD_PIECES + 1);
    // Aligned, for direct reads (store.ts openObject); no larger than what
    // is left to read, which only shrinks, so a buffer fits every later piece.
    const buffer = buffers[turn] ??= alignedBytes(
      Math.min(pieceBytes, Math.ceil((end - next) / 4096) * 4096),
    );
    const position = next;
    next += want;
    const piece = readAt(buffer.subarray(0, want), position).then((n) => {
      if (n !== want) throw new Error("object shorter than its metadata says");
      return buffer.subarray(0, n);
    });
    piece.catch(() => {}); // reported when its turn comes
    return piece;
  };
  return pieceStream(async () => {
    if (ahead.length === 0) ahead.push(read());
    const piece = await ahead.shift()!;
    while (ahead.length < READ_AHEAD_PIECES && next < end) ahead.push(read());
    return { piece, last: ahead.length === 0 };
  }, close);
}

function deleteObject(call: Call): HttpResponse | Promise<HttpResponse> {
  requireBucket(call);
  checkKey(call);
  const wait = call.api.store.settled(call.bucket, call.key);
  if (wait !== undefined) return wait.then(() => deleteObject(call));
  call.api.store.deleteObject(call.bucket, call.key);
  return { status: 204, body: null };
}

// ---- object tagging (tagging.ts) ----

function existingObject(call: Call): ObjectMeta {
  requireBucket(call);
  checkKey(call);
  const meta = call.api.store.head(call.bucket, call.key);
  if (meta === undefined) {
    throw new S3Error("NoSuchKey", "The specified key does not exist.", { Key: call.key });
  }
  return meta;
}

function getObjectTagging(call: Call): HttpResponse {
  const meta = existingObject(call);
  return xmlResponse(xmlDocument("Tagging", [tagSetXml(storedTags(meta.headers))]));
}

async function putObjectTagging(call: Call): Promise<HttpResponse> {
  existingObject(call);
  const tags = parseTaggingXml(parseXmlOrThrow(await readXmlBody(call)));
  await rewriteHeaders(call, (headers) => withTags(headers, tags));
  return { status: 200, body: null };
}

async function deleteObjectTagging(call: Call): Promise<HttpResponse> {
  const meta = existingObject(call);
  if (storedTags(meta.headers).length > 0) {
    await rewriteHeaders(call, (headers) => withTags(headers, []));
  }
  return { status: 204, body: null };
}

/** Attempts at a metadata rewrite before giving up to writers that keep replacing the object. */
const REWRITE_ATTEMPTS_MAX = 3;
/** Thrown before the rename when another write replaced the object during a rewrite. */
const REPLACED = new Error("replaced while its headers were rewritten");

/**
 * Replaces an object's stored headers and nothing else (content, ETag,
 * Last-Modified, checksums and parts stay): the content is copied to a new
 * file with the new trailer and published by rename, as every write is, so a
 * crash leaves the old headers or the new ones. When another write replaces
 * the object during the copy, the copy is dropped and the new object's
 * headers are rewritten instead.
 */
async function rewriteHeaders(
  call: Call,
  change: (headers: Readonly<Record<string, string>>) => Record<string, string>,
): Promise<void> {
  const store = call.api.store;
  for (let attempt = 0; attempt < REWRITE_ATTEMPTS_MAX; attempt++) {
    const reader = await openSettled(store, call.bucket, call.key);
    if (reader === undefined) {
      throw new S3Error("NoSuchKey", "The specified key does not exist.", { Key: call.key });
    }
    try {
      const source = reader.meta;
      const upload = store.beginUpload(call.bucket, call.key);
      try {
        await copyContent(reader, { start: 0, length: source.sizeBytes, upload });
        await upload.commit({
          headers: change(source.headers),
          nowMs: source.lastModifiedMs,
          etag: source.etag,
          checksums: source.checksums,
          checksumType: source.checksumType,
          parts: source.parts,
          beforeRename: () => {
            if (store.latest(call.bucket, call.key) !== source) throw REPLACED;
          },
        });
        return;
      } catch (error) {
        await upload.abandon();
        if (error === REPLACED) continue;
        throw error;
      }
    } finally {
      reader.close();
    }
  }
  throw new S3Error(
    "OperationAborted",
    "A conflicting conditional operation is currently in progress against this resource. Please try again.",
  );
}
