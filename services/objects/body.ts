// Receiving a request body: it streams into an upload (or, for XML, into
// a string) while every digest the client sent is computed alongside, and
// nothing is acknowledged until each one matches: Content-MD5 (InvalidDigest,
// BadDigest), a signed x-amz-content-sha256 (XAmzContentSHA256Mismatch) and
// x-amz-checksum-* in a header or an aws-chunked trailer (BadDigest, and
// S3's InvalidRequest, MalformedTrailerError and IncompleteBody for the
// malformed cases). aws-chunked bodies are framed by lib/s3/aws_chunked.ts;
// their chunk and trailer signatures are checked here, each chained on the
// one before from the Authorization header's seed signature.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html

import { createHash } from "node:crypto";
import type { HttpRequest } from "../../lib/http/message.ts";
import { LimitError } from "../../lib/errors.ts";
import {
  AwsChunkedDecoder,
  type AwsChunkedEvent,
  AwsChunkedSyntaxError,
} from "../../lib/s3/aws_chunked.ts";
import {
  CHECKSUM_ALGORITHMS,
  type ChecksumAlgorithm,
  checksumAlgorithmOf,
  checksumBase64,
  type ChecksumHash,
  checksumHash,
  checksumHeader,
  checksumValueValid,
} from "../../lib/s3/checksums.ts";
import { S3Error } from "../../lib/s3/errors.ts";
import {
  chunkStringToSign,
  EMPTY_SHA256,
  sign,
  signaturesEqual,
  STREAMING_SIGNED,
  STREAMING_SIGNED_TRAILER,
  STREAMING_UNSIGNED_TRAILER,
  trailerStringToSign,
} from "../../lib/s3/sigv4.ts";
import type { Principal } from "./auth.ts";
import type { Upload } from "./store.ts";

/** XML request bodies: DeleteObjects' 1000 keys of 1024 bytes fit. */
export const XML_BODY_BYTES_MAX = 2 * 1024 * 1024;

/** What receiving a body needs of its request. */
export interface BodyCall {
  request: HttpRequest;
  principal: Principal;
}

/** Reads a small XML body, checking Content-MD5 and the signed payload hash. */
export async function readXmlBody(call: BodyCall): Promise<string> {
  const request = call.request;
  if (request.body === null) return "";
  request.bodyLimitBytes = XML_BODY_BYTES_MAX;
  const declared = request.declaredBodyBytes;
  if (declared !== undefined && declared > XML_BODY_BYTES_MAX) {
    throw new S3Error("MalformedXML", `XML bodies are at most ${XML_BODY_BYTES_MAX} bytes`);
  }
  const parts: Uint8Array[] = [];
  const check = new BodyCheck(call);
  check.needsOwnMd5();
  for await (const chunk of request.body) {
    check.update(chunk);
    parts.push(chunk);
  }
  check.finish(undefined);
  return new TextDecoder().decode(Buffer.concat(parts));
}

/**
 * The checks a body must pass before it is acknowledged: Content-MD5 and a
 * signed x-amz-content-sha256, each computed while the body streams.
 */
class BodyCheck {
  #md5: string | undefined;
  #sha256: ReturnType<typeof createHash> | undefined;
  #wantSha256: string | undefined;
  #ownMd5: ReturnType<typeof createHash> | undefined;

  constructor(call: BodyCall) {
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

/**
 * Bodies from this size on are hashed on the worker thread: its start (a few
 * milliseconds) and the batches' hops are then small against the hashing.
 */
export const OFF_THREAD_MD5_BYTES = 32 * 1024 * 1024;

/**
 * Bodies from this size on are written past the page cache (O_DIRECT where
 * the filesystem takes it, Upload.writeDirect): the copy into the page cache
 * is then the largest CPU cost after MD5 (about 2 ms per MiB here). Smaller
 * ones stay one buffered write (their unaligned tail would be a second).
 */
export const DIRECT_WRITE_BYTES = 8 * 1024 * 1024;

/** From what declared size a body is written direct: DIRECT_WRITE_BYTES, changeable for tests. */
export const directWriteOptions = { minBytes: DIRECT_WRITE_BYTES };

/**
 * Streams the request body into `upload` (plain, or aws-chunked with its
 * signatures), checking Content-MD5, x-amz-content-sha256 and
 * x-amz-checksum-* on the way; returns the checksums to store. Throws
 * before anything is committed; the caller abandons the upload.
 */
export async function receiveBody(
  call: BodyCall,
  upload: Upload,
  options: { sizeBytesMax: number; checksumAlgorithm?: ChecksumAlgorithm },
): Promise<Record<string, string> | undefined> {
  const sizeBytesMax = options.sizeBytesMax;
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
  const checksum = new ChecksumCheck(request.headers, options.checksumAlgorithm);
  const expectedBytes = streaming ? Number(decodedLength) : declared ?? 0;
  if (expectedBytes >= OFF_THREAD_MD5_BYTES) upload.hashOffThread();
  if (expectedBytes >= directWriteOptions.minBytes) upload.writeDirect();
  // The aws-chunked framing adds a few bytes per chunk to the content.
  request.bodyLimitBytes = sizeBytesMax + (streaming ? Math.ceil(sizeBytesMax / 1024) + 4096 : 0);
  if (!streaming && request.readBodyInto !== undefined) {
    // Straight from the socket into the upload's staging buffer: no copy,
    // and reads as large as the socket holds (see HttpRequest.readBodyInto).
    while (true) {
      const room = await upload.room();
      const n = await request.readBodyInto(room);
      if (n === null) break;
      if (upload.sizeBytes + n > sizeBytesMax) throw tooLarge();
      const piece = room.subarray(0, n);
      check.update(piece);
      checksum.update(piece);
      upload.filled(n);
    }
  } else {
    const pieces = streaming ? awsChunkedContent(call, payloadHash, checksum) : request.body ?? [];
    for await (const piece of pieces) {
      if (upload.sizeBytes + piece.length > sizeBytesMax) throw tooLarge();
      check.update(piece);
      checksum.update(piece);
      await upload.write(piece);
    }
  }
  if (streaming && upload.sizeBytes !== Number(decodedLength)) {
    throw new S3Error(
      "IncompleteBody",
      "You did not provide the number of bytes specified by the x-amz-decoded-content-length",
    );
  }
  check.finish((await upload.md5()).toString("hex"));
  return checksum.finish();
}

/**
 * x-amz-checksum-*: the value comes in a header, or later in a trailer named
 * by x-amz-trailer; it is computed while the body streams and checked at
 * the end (BadDigest when it differs), then stored with the object. A part
 * of a multipart upload created with an algorithm gets that algorithm's
 * checksum computed even when the client sent none, and may not name
 * another.
 */
class ChecksumCheck {
  #algorithm: ChecksumAlgorithm | undefined;
  #expected: string | undefined;
  #announced = false;
  /** The value comes in a trailer (x-amz-trailer), not a header. */
  #inTrailer = false;
  #hash: ChecksumHash | undefined;

  constructor(headers: HttpRequest["headers"], required?: ChecksumAlgorithm) {
    for (const algorithm of CHECKSUM_ALGORITHMS) {
      const value = headers.get(checksumHeader(algorithm));
      if (value !== undefined) this.#choose(algorithm, value.trim());
    }
    const trailer = headers.get("x-amz-trailer")?.trim().toLowerCase();
    if (trailer !== undefined && trailer !== "" && this.#algorithm === undefined) {
      const algorithm = trailer.startsWith("x-amz-checksum-")
        ? checksumAlgorithmOf(trailer.slice("x-amz-checksum-".length))
        : undefined;
      if (algorithm === undefined) {
        throw new S3Error(
          "InvalidRequest",
          "The value specified in the x-amz-trailer header is not supported",
        );
      }
      this.#choose(algorithm, undefined);
      this.#inTrailer = true;
    }
    if (required !== undefined) {
      if (this.#algorithm !== undefined && this.#algorithm !== required) {
        throw new S3Error(
          "InvalidRequest",
          `Checksum Type mismatch occurred, expected checksum Type: ${required.toLowerCase()}, ` +
            `actual checksum Type: ${this.#algorithm.toLowerCase()}`,
        );
      }
      if (this.#algorithm === undefined) {
        this.#algorithm = required;
        this.#hash = checksumHash(required);
      }
    }
  }

  #choose(algorithm: ChecksumAlgorithm, value: string | undefined): void {
    if (this.#algorithm !== undefined && this.#algorithm !== algorithm) {
      throw new S3Error(
        "InvalidRequest",
        "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
      );
    }
    if (value !== undefined && !checksumValueValid(algorithm, value)) {
      throw new S3Error(
        "InvalidRequest",
        `Value for ${checksumHeader(algorithm)} header is invalid.`,
      );
    }
    this.#algorithm = algorithm;
    this.#expected = value;
    this.#announced = true;
    this.#hash = checksumHash(algorithm);
  }

  /**
   * A trailer line of an aws-chunked body: the checksum x-amz-trailer
   * announced, once (MalformedTrailerError for any other, as S3).
   */
  trailer(name: string, value: string): void {
    if (
      !this.#inTrailer || name !== checksumHeader(this.#algorithm!) ||
      this.#expected !== undefined
    ) {
      throw malformedTrailer();
    }
    const trimmed = value.trim();
    if (!checksumValueValid(this.#algorithm!, trimmed)) {
      throw new S3Error("InvalidRequest", `Value for ${name} trailing header is invalid.`);
    }
    this.#expected = trimmed;
  }

  update(bytes: Uint8Array): void {
    this.#hash?.update(bytes);
  }

  /** Checks the value and returns what to store, by header name. */
  finish(): Record<string, string> | undefined {
    if (this.#algorithm === undefined || this.#hash === undefined) return undefined;
    const name = checksumHeader(this.#algorithm);
    if (this.#announced && this.#expected === undefined) throw malformedTrailer();
    const got = checksumBase64(this.#hash.digest());
    if (this.#expected !== undefined && got !== this.#expected) {
      throw new S3Error(
        "BadDigest",
        `The ${this.#algorithm} you specified did not match the calculated checksum.`,
      );
    }
    return { [name]: got };
  }
}

function malformedTrailer(): S3Error {
  return new S3Error(
    "MalformedTrailerError",
    "The request contained trailing data that was not well-formed or did not conform to our " +
      "published schema.",
  );
}

/** Bytes of one aws-chunked read: a few of its 64 KiB chunks (the SDKs' size) at a time. */
const CHUNKED_READ_BYTES = 256 * 1024;

/**
 * The raw body in pieces, each valid until the next is asked for: read into
 * one reused buffer (`readBodyInto`, as large reads as the socket allows)
 * when the request can, else from its stream.
 */
async function* bodyPieces(request: HttpRequest): AsyncGenerator<Uint8Array> {
  if (request.readBodyInto === undefined) {
    if (request.body !== null) yield* request.body;
    return;
  }
  const buffer = new Uint8Array(CHUNKED_READ_BYTES);
  while (true) {
    const n = await request.readBodyInto(buffer);
    if (n === null) return;
    yield buffer.subarray(0, n);
  }
}

/**
 * The content of an aws-chunked body, chunk signatures checked as they
 * arrive (each chains on the one before, from the Authorization header's),
 * trailers handed to the checksum check (and their signature checked).
 */
async function* awsChunkedContent(
  call: BodyCall,
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
  const request = call.request;
  if (request.declaredBodyBytes === 0) {
    throw new S3Error("IncompleteBody", "aws-chunked upload without a body");
  }
  try {
    for await (const input of bodyPieces(request)) {
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
    // S3 answers any malformed aws-chunked framing with IncompleteBody.
    if (error instanceof AwsChunkedSyntaxError || error instanceof LimitError) {
      throw new S3Error(
        "IncompleteBody",
        `The request body terminated unexpectedly (${error.message})`,
      );
    }
    throw error;
  }
  if (!decoder.done) throw new S3Error("IncompleteBody", "the aws-chunked body ended early");
}
