// AWS Signature Version 4, as S3 checks it: the canonical request, the
// string to sign, the signing-key chain and the signature, for the
// Authorization header and for presigned URLs (query parameters).
// https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
//
// Pure: the caller hands in the request's parts and the secret; nothing here
// reads a clock or a socket. S3 differs from other AWS services in two
// ways kept here: the path is URI-encoded once (not twice), and the payload
// hash is the x-amz-content-sha256 header as sent (or UNSIGNED-PAYLOAD).
//
// Left out: SigV4a (ECDSA, multi-region) and Signature Version 2.

import { hmacSha256, sha256, toHex } from "./sha256.ts";

export const ALGORITHM = "AWS4-HMAC-SHA256";
export const UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";
export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/** A presigned URL lives at most 7 days (S3's limit). */
export const PRESIGN_EXPIRES_SECONDS_MAX = 7 * 24 * 3600;

/** The parts of a credential scope: `AKID/20130524/us-east-1/s3/aws4_request`. */
export interface CredentialScope {
  accessKey: string;
  /** YYYYMMDD */
  date: string;
  region: string;
  service: string;
}

/** What an Authorization header or a presigned query carries. */
export interface SignatureParts {
  scope: CredentialScope;
  /** Lower-case header names, sorted, as listed in SignedHeaders. */
  signedHeaders: string[];
  /** 64 lower-case hex digits. */
  signature: string;
}

/** Thrown for an Authorization header or presigned query that cannot be read. */
export class SignatureSyntaxError extends SyntaxError {
  override name = "SignatureSyntaxError";
}

/** Percent-encodes as SigV4 wants: all but A-Z a-z 0-9 - . _ ~ (and "/" when asked). */
export function uriEncode(text: string, keepSlash = false): string {
  let out = "";
  for (const byte of new TextEncoder().encode(text)) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === "/")) out += c;
    else out += "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** Decodes %XX escapes only ("+" stays "+", as S3 reads query strings). */
export function percentDecode(text: string): string {
  if (!text.includes("%")) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    throw new SignatureSyntaxError("bad percent-encoding");
  }
}

/** The query string as decoded name/value pairs, in order. */
export function parseQuery(query: string): [string, string][] {
  if (query === "") return [];
  return query.split("&").filter((part) => part !== "").map((part) => {
    const eq = part.indexOf("=");
    return eq === -1
      ? [percentDecode(part), ""]
      : [percentDecode(part.slice(0, eq)), percentDecode(part.slice(eq + 1))];
  });
}

/** The canonical URI of a raw request path: each segment decoded, then encoded once. */
export function canonicalUri(rawPath: string): string {
  const path = rawPath === "" ? "/" : rawPath;
  return path.split("/").map((segment) => uriEncode(percentDecode(segment))).join("/");
}

/** The canonical query string: pairs encoded, sorted by name then value; the signature left out. */
export function canonicalQuery(pairs: readonly [string, string][]): string {
  return pairs
    .filter(([name]) => name !== "X-Amz-Signature")
    .map(([name, value]) => [uriEncode(name), uriEncode(value)])
    .sort(([an, av], [bn, bv]) => an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0)
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
}

/** The value of a header as signed: trimmed, inner runs of spaces made one. */
export function canonicalHeaderValue(values: readonly string[]): string {
  return values.map((value) => value.trim().replace(/ +/g, " ")).join(",");
}

export interface CanonicalRequestInput {
  method: string;
  /** The path as sent, percent-escapes included. */
  rawPath: string;
  query: readonly [string, string][];
  /** The values of a header by lower-case name ([] when absent). */
  header: (name: string) => readonly string[];
  signedHeaders: readonly string[];
  payloadHash: string;
}

export function canonicalRequest(input: CanonicalRequestInput): string {
  const headers = input.signedHeaders
    .map((name) => `${name}:${canonicalHeaderValue(input.header(name))}\n`)
    .join("");
  return [
    input.method,
    canonicalUri(input.rawPath),
    canonicalQuery(input.query),
    headers,
    input.signedHeaders.join(";"),
    input.payloadHash,
  ].join("\n");
}

export function scopeString(scope: CredentialScope): string {
  return `${scope.date}/${scope.region}/${scope.service}/aws4_request`;
}

/** The string to sign, from the request time (YYYYMMDD'T'HHMMSS'Z') and the canonical request. */
export function stringToSign(amzDate: string, scope: CredentialScope, canonical: string): string {
  return [ALGORITHM, amzDate, scopeString(scope), toHex(sha256(canonical))].join("\n");
}

/** The signing key: HMAC chain over date, region, service and "aws4_request". */
export function signingKey(secretKey: string, scope: CredentialScope): Uint8Array<ArrayBuffer> {
  const dateKey = hmacSha256("AWS4" + secretKey, scope.date);
  const regionKey = hmacSha256(dateKey, scope.region);
  const serviceKey = hmacSha256(regionKey, scope.service);
  return hmacSha256(serviceKey, "aws4_request");
}

/** The hex signature of `toSign` under `key`. */
export function sign(key: Uint8Array, toSign: string): string {
  return toHex(hmacSha256(key, toSign));
}

function parseCredential(credential: string): CredentialScope {
  const parts = credential.split("/");
  if (parts.length !== 5 || parts[4] !== "aws4_request" || !/^\d{8}$/.test(parts[1])) {
    throw new SignatureSyntaxError(`bad Credential: ${credential.slice(0, 100)}`);
  }
  return { accessKey: parts[0], date: parts[1], region: parts[2], service: parts[3] };
}

function parseSignedHeaders(list: string): string[] {
  const names = list.split(";");
  if (names.some((name) => !/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name))) {
    throw new SignatureSyntaxError("bad SignedHeaders");
  }
  return names;
}

function checkSignature(signature: string): string {
  if (!/^[0-9a-f]{64}$/.test(signature)) throw new SignatureSyntaxError("bad Signature");
  return signature;
}

/**
 * Reads `AWS4-HMAC-SHA256 Credential=.../aws4_request, SignedHeaders=a;b,
 * Signature=hex`.
 */
export function parseAuthorization(value: string): SignatureParts {
  if (!value.startsWith(ALGORITHM + " ")) {
    throw new SignatureSyntaxError("only AWS4-HMAC-SHA256 is supported");
  }
  const fields = new Map<string, string>();
  for (const part of value.slice(ALGORITHM.length + 1).split(",")) {
    const eq = part.indexOf("=");
    if (eq === -1) throw new SignatureSyntaxError("bad Authorization field");
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get("Credential");
  const signed = fields.get("SignedHeaders");
  const signature = fields.get("Signature");
  if (credential === undefined || signed === undefined || signature === undefined) {
    throw new SignatureSyntaxError("Authorization needs Credential, SignedHeaders and Signature");
  }
  return {
    scope: parseCredential(credential),
    signedHeaders: parseSignedHeaders(signed),
    signature: checkSignature(signature),
  };
}

/** What a presigned URL carries besides the signature parts. */
export interface PresignedParts extends SignatureParts {
  amzDate: string;
  expiresSeconds: number;
}

/** Reads the X-Amz-* parameters of a presigned URL, or undefined when it has none. */
export function parsePresigned(query: readonly [string, string][]): PresignedParts | undefined {
  const get = (name: string) => query.find(([n]) => n === name)?.[1];
  const algorithm = get("X-Amz-Algorithm");
  if (algorithm === undefined) return undefined;
  if (algorithm !== ALGORITHM) throw new SignatureSyntaxError("only AWS4-HMAC-SHA256 is supported");
  const credential = get("X-Amz-Credential");
  const amzDate = get("X-Amz-Date");
  const expires = get("X-Amz-Expires");
  const signed = get("X-Amz-SignedHeaders");
  const signature = get("X-Amz-Signature");
  if (
    credential === undefined || amzDate === undefined || expires === undefined ||
    signed === undefined || signature === undefined
  ) {
    throw new SignatureSyntaxError(
      "a presigned URL needs X-Amz-Credential, X-Amz-Date, X-Amz-Expires, " +
        "X-Amz-SignedHeaders and X-Amz-Signature",
    );
  }
  const expiresSeconds = Number(expires);
  if (
    !/^\d+$/.test(expires) || expiresSeconds < 1 || expiresSeconds > PRESIGN_EXPIRES_SECONDS_MAX
  ) {
    throw new SignatureSyntaxError(
      `X-Amz-Expires must be between 1 and ${PRESIGN_EXPIRES_SECONDS_MAX} seconds`,
    );
  }
  return {
    scope: parseCredential(credential),
    signedHeaders: parseSignedHeaders(signed),
    signature: checkSignature(signature),
    amzDate: parseAmzDate(amzDate) === undefined ? fail("bad X-Amz-Date") : amzDate,
    expiresSeconds,
  };
}

function fail(message: string): never {
  throw new SignatureSyntaxError(message);
}

/** Milliseconds since the epoch of an ISO 8601 basic time (20130524T000000Z), or undefined. */
export function parseAmzDate(value: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (m === null) return undefined;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  return Number.isNaN(ms) ? undefined : ms;
}

/** The ISO 8601 basic form SigV4 uses for a time. */
export function formatAmzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

/** Constant-time comparison of two hex strings of equal length. */
export function signaturesEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** Credentials a client signs with. */
export interface Credentials {
  accessKey: string;
  secretKey: string;
}

export interface SignOptions {
  method: string;
  /** The path as it goes on the wire (already percent-encoded). */
  rawPath: string;
  query?: [string, string][];
  /** Headers to sign, by lower-case name (host included). */
  headers: Record<string, string>;
  payloadHash: string;
  credentials: Credentials;
  timeMs: number;
  region?: string;
  service?: string;
}

/** Signs a request for the Authorization header (a client's side, used by tests and tools). */
export function authorizationHeader(options: SignOptions): string {
  const amzDate = formatAmzDate(options.timeMs);
  const scope: CredentialScope = {
    accessKey: options.credentials.accessKey,
    date: amzDate.slice(0, 8),
    region: options.region ?? "us-east-1",
    service: options.service ?? "s3",
  };
  const signedHeaders = Object.keys(options.headers).map((n) => n.toLowerCase()).sort();
  const lower = Object.fromEntries(
    Object.entries(options.headers).map(([n, v]) => [n.toLowerCase(), v]),
  );
  const canonical = canonicalRequest({
    method: options.method,
    rawPath: options.rawPath,
    query: options.query ?? [],
    header: (name) => lower[name] === undefined ? [] : [lower[name]],
    signedHeaders,
    payloadHash: options.payloadHash,
  });
  const signature = sign(
    signingKey(options.credentials.secretKey, scope),
    stringToSign(amzDate, scope, canonical),
  );
  return `${ALGORITHM} Credential=${options.credentials.accessKey}/${scopeString(scope)}, ` +
    `SignedHeaders=${signedHeaders.join(";")}, Signature=${signature}`;
}

/** A presigned URL's query string (a client's side): signs `host` only, payload unsigned. */
export function presignQuery(
  options: Omit<SignOptions, "payloadHash" | "headers"> & { host: string; expiresSeconds: number },
): string {
  const amzDate = formatAmzDate(options.timeMs);
  const scope: CredentialScope = {
    accessKey: options.credentials.accessKey,
    date: amzDate.slice(0, 8),
    region: options.region ?? "us-east-1",
    service: options.service ?? "s3",
  };
  const query: [string, string][] = [
    ...(options.query ?? []),
    ["X-Amz-Algorithm", ALGORITHM],
    ["X-Amz-Credential", `${options.credentials.accessKey}/${scopeString(scope)}`],
    ["X-Amz-Date", amzDate],
    ["X-Amz-Expires", String(options.expiresSeconds)],
    ["X-Amz-SignedHeaders", "host"],
  ];
  const canonical = canonicalRequest({
    method: options.method,
    rawPath: options.rawPath,
    query,
    header: (name) => name === "host" ? [options.host] : [],
    signedHeaders: ["host"],
    payloadHash: UNSIGNED_PAYLOAD,
  });
  const signature = sign(
    signingKey(options.credentials.secretKey, scope),
    stringToSign(amzDate, scope, canonical),
  );
  return canonicalQuery(query) + `&X-Amz-Signature=${signature}`;
}

/** x-amz-content-sha256 values of the aws-chunked variants. */
export const STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
export const STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
export const STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

/**
 * The string each aws-chunked chunk's signature signs: it chains on the
 * previous signature (the seed is the Authorization header's).
 */
export function chunkStringToSign(
  amzDate: string,
  scope: CredentialScope,
  previousSignature: string,
  chunkSha256Hex: string,
): string {
  return [
    "AWS4-HMAC-SHA256-PAYLOAD",
    amzDate,
    scopeString(scope),
    previousSignature,
    EMPTY_SHA256,
    chunkSha256Hex,
  ].join("\n");
}

/** The string x-amz-trailer-signature signs: the trailer lines as `name:value\n`. */
export function trailerStringToSign(
  amzDate: string,
  scope: CredentialScope,
  previousSignature: string,
  trailers: readonly [string, string][],
): string {
  const text = trailers.map(([name, value]) => `${name}:${value}\n`).join("");
  return [
    "AWS4-HMAC-SHA256-TRAILER",
    amzDate,
    scopeString(scope),
    previousSignature,
    toHex(sha256(text)),
  ].join("\n");
}

/**
 * A header value as the client wrote it: lib/http reads field bytes one
 * char per byte (ISO-8859-1); S3 clients send UTF-8 (x-amz-meta-*,
 * Content-Disposition), which is what they sign and what must be stored.
 * ASCII values come back unchanged.
 */
export function headerText(value: string): string {
  // deno-lint-ignore no-control-regex
  if (/^[\x00-\x7f]*$/.test(value)) return value;
  return new TextDecoder().decode(Uint8Array.from(value, (c) => c.charCodeAt(0) & 0xff));
}
