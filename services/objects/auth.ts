// Who sent a request: checks AWS Signature Version 4 (the Authorization
// header, or a presigned URL's query) against the configured key pair.
// The pure parts (canonical request, signing key) are in lib/s3/sigv4.ts;
// this file adds the clock and the service's keys.
//
// What S3 answers, kept here: an unknown access key is InvalidAccessKeyId,
// a wrong signature SignatureDoesNotMatch, a request time more than 15
// minutes from ours RequestTimeTooSkewed, an expired presigned URL
// AccessDenied. A request with neither is anonymous; the caller decides
// what anonymous may do (public buckets).

import type { HttpRequest } from "../../lib/http/message.ts";
import { S3Error } from "../../lib/s3/errors.ts";
import {
  canonicalRequest,
  type CredentialScope,
  headerText,
  parseAmzDate,
  parseAuthorization,
  parsePresigned,
  sign,
  type SignatureParts,
  signaturesEqual,
  SignatureSyntaxError,
  signingKey,
  stringToSign,
  UNSIGNED_PAYLOAD,
} from "../../lib/s3/sigv4.ts";

/** S3 refuses a request signed more than 15 minutes from its clock. */
export const CLOCK_SKEW_MS_MAX = 15 * 60 * 1000;

export interface KeyPair {
  accessKey: string;
  secretKey: string;
}

/** Who the request is from, and what its signature says about the payload. */
export type Principal =
  | { kind: "anonymous" }
  | {
    kind: "signed";
    accessKey: string;
    /** x-amz-content-sha256 as signed: a hex hash, UNSIGNED-PAYLOAD or STREAMING-... */
    payloadHash: string;
    /** For aws-chunked bodies signed chunk by chunk: the seed signature and its key. */
    seed?: { signature: string; key: Uint8Array; amzDate: string; scope: CredentialScope };
  };

export function authenticate(
  request: HttpRequest,
  query: readonly [string, string][],
  options: { keys: readonly KeyPair[]; nowMs: number },
): Principal {
  const authorization = request.headers.get("authorization");
  try {
    if (authorization !== undefined) return checkHeader(request, query, authorization, options);
    const presigned = parsePresigned(query);
    if (presigned !== undefined) {
      const signedAtMs = parseAmzDate(presigned.amzDate)!;
      if (options.nowMs > signedAtMs + presigned.expiresSeconds * 1000) {
        throw new S3Error("AccessDenied", "Request has expired", {
          Expires: new Date(signedAtMs + presigned.expiresSeconds * 1000).toISOString(),
          ServerTime: new Date(options.nowMs).toISOString(),
        });
      }
      if (signedAtMs - options.nowMs > CLOCK_SKEW_MS_MAX) {
        throw new S3Error("AccessDenied", "Request is not valid yet");
      }
      verify(request, query, presigned, presigned.amzDate, UNSIGNED_PAYLOAD, options.keys);
      return {
        kind: "signed",
        accessKey: presigned.scope.accessKey,
        payloadHash: UNSIGNED_PAYLOAD,
      };
    }
  } catch (error) {
    if (error instanceof SignatureSyntaxError) {
      throw new S3Error(
        authorization !== undefined ? "InvalidArgument" : "AuthorizationQueryParametersError",
        error.message,
      );
    }
    throw error;
  }
  return { kind: "anonymous" };
}

function checkHeader(
  request: HttpRequest,
  query: readonly [string, string][],
  authorization: string,
  options: { keys: readonly KeyPair[]; nowMs: number },
): Principal {
  const parts = parseAuthorization(authorization);
  const amzDate = request.headers.get("x-amz-date");
  let signedAtMs: number | undefined;
  if (amzDate !== undefined) signedAtMs = parseAmzDate(amzDate);
  else {
    const date = request.headers.get("date");
    const ms = date === undefined ? NaN : Date.parse(date);
    if (!Number.isNaN(ms)) signedAtMs = ms;
  }
  if (signedAtMs === undefined) {
    throw new S3Error(
      "AccessDenied",
      "AWS authentication requires a valid Date or x-amz-date header",
    );
  }
  if (Math.abs(options.nowMs - signedAtMs) > CLOCK_SKEW_MS_MAX) {
    throw new S3Error(
      "RequestTimeTooSkewed",
      "The difference between the request time and the current time is too large.",
      {
        RequestTime: new Date(signedAtMs).toISOString(),
        ServerTime: new Date(options.nowMs).toISOString(),
        MaxAllowedSkewMilliseconds: String(CLOCK_SKEW_MS_MAX),
      },
    );
  }
  const payloadHash = request.headers.get("x-amz-content-sha256");
  if (payloadHash === undefined) {
    throw new S3Error(
      "InvalidRequest",
      "Missing required header for this request: x-amz-content-sha256",
    );
  }
  const timeText = amzDate ?? formatFromMs(signedAtMs);
  const key = verify(request, query, parts, timeText, payloadHash, options.keys);
  return {
    kind: "signed",
    accessKey: parts.scope.accessKey,
    payloadHash,
    seed: { signature: parts.signature, key, amzDate: timeText, scope: parts.scope },
  };
}

function formatFromMs(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

/**
 * Signing keys by secret and scope: a client signs every request of a day
 * with the same one, and deriving it is four HMACs (two thirds of the
 * SHA-256 work of checking a request). Bounded: cleared when full.
 */
const signingKeys = new Map<string, Uint8Array>();
const SIGNING_KEYS_MAX = 256;

function cachedSigningKey(secretKey: string, scope: SignatureParts["scope"]): Uint8Array {
  const id = `${scope.date}/${scope.region}/${scope.service}\n${secretKey}`;
  let key = signingKeys.get(id);
  if (key === undefined) {
    if (signingKeys.size >= SIGNING_KEYS_MAX) signingKeys.clear();
    signingKeys.set(id, key = signingKey(secretKey, scope));
  }
  return key;
}

/** Checks the signature; returns the signing key (aws-chunked signs on with it). */
function verify(
  request: HttpRequest,
  query: readonly [string, string][],
  parts: SignatureParts,
  amzDate: string,
  payloadHash: string,
  keys: readonly KeyPair[],
): Uint8Array {
  const pair = keys.find((k) => k.accessKey === parts.scope.accessKey);
  if (pair === undefined) {
    throw new S3Error(
      "InvalidAccessKeyId",
      "The AWS Access Key Id you provided does not exist in our records.",
      { AWSAccessKeyId: parts.scope.accessKey },
    );
  }
  if (!parts.signedHeaders.includes("host")) {
    throw new S3Error("AccessDenied", "the host header must be signed");
  }
  if (parts.scope.date !== amzDate.slice(0, 8)) {
    throw new S3Error("SignatureDoesNotMatch", "the credential's date is not the request's date");
  }
  const canonical = canonicalRequest({
    method: request.method,
    rawPath: request.path,
    query,
    header: (name) => request.headers.getAll(name).map(headerText),
    signedHeaders: parts.signedHeaders,
    payloadHash,
  });
  const toSign = stringToSign(amzDate, parts.scope, canonical);
  const key = cachedSigningKey(pair.secretKey, parts.scope);
  if (!signaturesEqual(sign(key, toSign), parts.signature)) {
    throw new S3Error(
      "SignatureDoesNotMatch",
      "The request signature we calculated does not match the signature you provided. " +
        "Check your key and signing method.",
      { StringToSign: toSign, CanonicalRequest: canonical },
    );
  }
  return key;
}
