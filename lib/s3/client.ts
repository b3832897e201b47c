// A small S3 client on lib/http/client.ts, signing every request with
// SigV4 (sigv4.ts, header-based authentication): PUT, GET, HEAD and DELETE
// of one object, and CreateBucket. Path-style URLs
// (`<endpoint>/<bucket>/<key>`), as our objects service and every
// S3-compatible store accept.
//
//   const s3 = new S3Client({ endpoint: "http://127.0.0.1:8007", credentials });
//   await s3.createBucket("images");
//   await s3.putObject("images", "spells/1", bytes, { contentType: "image/png" });
//   const object = await s3.getObject("images", "spells/1"); // undefined when missing
//   await object?.body.cancel();
//
// Payloads: a body given as bytes is hashed into x-amz-content-sha256
// (signed payload); a stream is sent as UNSIGNED-PAYLOAD with the
// Content-Length the caller gives (S3 needs the length up front; aws-chunked
// uploads are left out), so an object flows through in bounded memory.
// Errors: S3's XML error body becomes an S3ClientError with its code.
//
// Left out: multipart uploads, presigned URLs (sigv4.ts presignQuery does
// those), listing, virtual-hosted-style addressing, retries.

import type { Bytes } from "../bytes.ts";
import { type ClientResponse, HttpClient } from "../http/client.ts";
import type { HttpHeaders } from "../http/headers.ts";
import { sha256, toHex } from "./sha256.ts";
import {
  authorizationHeader,
  type Credentials,
  EMPTY_SHA256,
  formatAmzDate,
  UNSIGNED_PAYLOAD,
  uriEncode,
} from "./sigv4.ts";
import { child, parseXml } from "./xml.ts";

export interface S3ClientOptions {
  /** "http://127.0.0.1:8007": scheme, host and port, no path. */
  endpoint: string;
  credentials: Credentials;
  region?: string;
  /** The HTTP client to send with (default: one of its own, closed by `close()`). */
  http?: HttpClient;
  /** The clock (tests move it). */
  now?: () => number;
}

/** An error answer from the store, with S3's code ("NoSuchBucket", "AccessDenied", ...). */
export class S3ClientError extends Error {
  override name = "S3ClientError";
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(`${status} ${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

export interface PutOptions {
  contentType?: string;
  /** Required with a stream body. */
  contentLength?: number;
  /** x-amz-meta-* entries, by name without the prefix. */
  metadata?: Record<string, string>;
}

export interface ObjectInfo {
  contentType: string | undefined;
  contentLength: number;
  etag: string | undefined;
  headers: HttpHeaders;
}

export interface S3Object extends ObjectInfo {
  /** The object's bytes as they arrive: read it to the end or cancel it. */
  body: ReadableStream<Bytes>;
}

/** Error bodies are small; a larger one is not read whole. */
const ERROR_BODY_BYTES_MAX = 64 * 1024;

export class S3Client {
  readonly #endpoint: URL;
  readonly #credentials: Credentials;
  readonly #region: string;
  readonly #http: HttpClient;
  readonly #ownsHttp: boolean;
  readonly #now: () => number;

  constructor(options: S3ClientOptions) {
    this.#endpoint = new URL(options.endpoint);
    if (this.#endpoint.pathname !== "/" || this.#endpoint.search !== "") {
      throw new TypeError(`S3 endpoint must have no path or query: ${options.endpoint}`);
    }
    this.#credentials = options.credentials;
    this.#region = options.region ?? "us-east-1";
    this.#http = options.http ?? new HttpClient();
    this.#ownsHttp = options.http === undefined;
    this.#now = options.now ?? Date.now;
  }

  /** CreateBucket; true when created, false when it already existed and is ours. */
  async createBucket(bucket: string): Promise<boolean> {
    const response = await this.#send("PUT", bucket, undefined);
    if (response.status === 200) {
      await response.body.cancel();
      return true;
    }
    const error = await errorOf(response);
    if (error.code === "BucketAlreadyOwnedByYou") return false;
    throw error;
  }

  /** PutObject; resolves to the ETag. */
  async putObject(
    bucket: string,
    key: string,
    body: Bytes | ReadableStream<Bytes>,
    options: PutOptions = {},
  ): Promise<string | undefined> {
    const headers: Record<string, string> = {};
    if (options.contentType !== undefined) headers["content-type"] = options.contentType;
    for (const [name, value] of Object.entries(options.metadata ?? {})) {
      headers[`x-amz-meta-${name.toLowerCase()}`] = value;
    }
    if (body instanceof ReadableStream) {
      if (options.contentLength === undefined) {
        throw new TypeError("putObject: a stream body needs options.contentLength");
      }
      headers["content-length"] = String(options.contentLength);
    } else {
      headers["content-length"] = String(body.length);
    }
    const response = await this.#send("PUT", bucket, key, body, headers);
    if (response.status !== 200) throw await errorOf(response);
    await response.body.cancel();
    return response.headers.get("etag");
  }

  /** GetObject; undefined when there is no such key (404 NoSuchKey). */
  async getObject(bucket: string, key: string): Promise<S3Object | undefined> {
    const response = await this.#send("GET", bucket, key);
    if (response.status === 404) {
      const error = await errorOf(response);
      if (error.code === "NoSuchKey") return undefined;
      throw error;
    }
    if (response.status !== 200) throw await errorOf(response);
    return { ...infoOf(response), body: response.body };
  }

  /** HeadObject; undefined when there is no such key. */
  async headObject(bucket: string, key: string): Promise<ObjectInfo | undefined> {
    const response = await this.#send("HEAD", bucket, key);
    await response.body.cancel();
    if (response.status === 404) return undefined;
    if (response.status !== 200) {
      throw new S3ClientError(response.status, "Unknown", `HEAD ${bucket}/${key}`);
    }
    return infoOf(response);
  }

  /** DeleteObject (S3 answers 204 whether or not the key existed). */
  async deleteObject(bucket: string, key: string): Promise<void> {
    const response = await this.#send("DELETE", bucket, key);
    if (response.status !== 204 && response.status !== 200) throw await errorOf(response);
    await response.body.cancel();
  }

  /** HeadBucket: true when it exists and we may use it. */
  async bucketExists(bucket: string): Promise<boolean> {
    const response = await this.#send("HEAD", bucket, undefined);
    await response.body.cancel();
    return response.status === 200;
  }

  async #send(
    method: string,
    bucket: string,
    key: string | undefined,
    body?: Bytes | ReadableStream<Bytes>,
    extra: Record<string, string> = {},
  ): Promise<ClientResponse> {
    const rawPath = `/${uriEncode(bucket)}` + (key === undefined ? "" : `/${uriEncode(key, true)}`);
    const payloadHash = body === undefined
      ? EMPTY_SHA256
      : body instanceof ReadableStream
      ? UNSIGNED_PAYLOAD
      : toHex(sha256(body));
    const timeMs = this.#now();
    const signed: Record<string, string> = {
      host: this.#endpoint.host,
      "x-amz-content-sha256": payloadHash,
      "x-amz-date": formatAmzDate(timeMs),
      ...extra,
    };
    const authorization = authorizationHeader({
      method,
      rawPath,
      headers: signed,
      payloadHash,
      credentials: this.#credentials,
      timeMs,
      region: this.#region,
    });
    return await this.#http.request(new URL(rawPath, this.#endpoint), {
      method,
      headers: { ...signed, authorization },
      body: body ?? null,
      target: rawPath,
    });
  }

  async close(): Promise<void> {
    if (this.#ownsHttp) await this.#http.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function infoOf(response: ClientResponse): ObjectInfo {
  return {
    contentType: response.headers.get("content-type"),
    contentLength: Number(response.headers.get("content-length") ?? 0),
    etag: response.headers.get("etag"),
    headers: response.headers,
  };
}

/** The S3ClientError an error answer carries (its XML Code and Message, when it has them). */
async function errorOf(response: ClientResponse): Promise<S3ClientError> {
  const length = Number(response.headers.get("content-length") ?? -1);
  if (length < 0 || length > ERROR_BODY_BYTES_MAX) {
    await response.body.cancel();
    return new S3ClientError(response.status, "Unknown", response.reason);
  }
  const text = await response.text();
  try {
    const root = parseXml(text);
    const code = child(root, "Code")?.text ?? "Unknown";
    return new S3ClientError(response.status, code, child(root, "Message")?.text ?? "");
  } catch {
    return new S3ClientError(response.status, "Unknown", text.slice(0, 200));
  }
}
