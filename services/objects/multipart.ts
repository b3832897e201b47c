// Multipart uploads (CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
// AbortMultipartUpload, ListParts, ListMultipartUploads) on the object
// store's files.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html
//
//   <data-dir>/buckets/<bucket>.uploads/<id>.upload        key, headers, start time
//   <data-dir>/buckets/<bucket>.uploads/<id>.part-<n>      a part: content, then its trailer
//
// Each part is written like an object (temporary file, fsync, rename, fsync
// of the directory), so an acknowledged part survives a crash. Completing
// copies the chosen parts, in order, into a new object file through the
// same durable path as a PUT, so the object appears whole or not at all;
// the ETag is S3's: the MD5 of the parts' binary MD5s, then "-N". Memory
// stays bounded (a 1 MiB copy buffer), at the cost of writing the data a
// second time.
//
// Checksums (x-amz-checksum-algorithm and -type on create): every part of
// an upload with an algorithm gets that checksum, sent or computed; the
// object's is either COMPOSITE (the checksum of the parts' binary
// checksums, then "-N", as S3) or FULL_OBJECT (a CRC of the whole content,
// computed here while the parts are copied, which S3 gets by combining
// the parts' CRCs). Abandoned uploads are removed after a configurable age
// (`expire`), as an S3 lifecycle rule would.

import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import {
  type ChecksumAlgorithm,
  checksumBase64,
  checksumHash,
  checksumHeader,
  type ChecksumType,
  compositeChecksum,
} from "../../lib/s3/checksums.ts";
import { S3Error } from "../../lib/s3/errors.ts";
import { compareUtf8 } from "../../lib/s3/names.ts";
import {
  beginFile,
  type ObjectMeta,
  type ObjectStore,
  type PartInfo,
  readTrailer,
  type Upload,
} from "./store.ts";

/** S3: parts are numbered 1 to 10000. */
export const PART_NUMBER_MAX = 10_000;
/** S3: every part but the last holds at least 5 MiB. */
export const PART_BYTES_MIN = 5 * 1024 * 1024;
/** S3: a part holds at most 5 GiB. */
export const PART_BYTES_MAX = 5 * 1024 ** 3;
/** S3: an object holds at most 5 TiB, however many parts make it. */
export const MULTIPART_OBJECT_BYTES_MAX = 5 * 1024 ** 4;
const COPY_PIECE_BYTES = 1024 * 1024;
const encoder = new TextEncoder();

export interface MultipartUpload {
  id: string;
  bucket: string;
  key: string;
  headers: Record<string, string>;
  initiatedMs: number;
  /** x-amz-checksum-algorithm given at create: every part carries this checksum. */
  checksumAlgorithm?: ChecksumAlgorithm;
  checksumType?: ChecksumType;
  parts: Map<number, ObjectMeta>;
}

/** A part named in CompleteMultipartUpload. */
export interface ChosenPart {
  partNumber: number;
  etag: string;
  /** Checksum<ALG> elements, by header name (x-amz-checksum-crc32...). */
  checksums?: Record<string, string>;
}

export interface CompleteOptions {
  nowMs: number;
  /** The whole object's x-amz-checksum-<alg> sent with the request, to check. */
  expected?: { algorithm: ChecksumAlgorithm; value: string };
  /** Runs just before the object is published (conditional writes); may throw. */
  beforeCommit?: () => void;
}

export class MultipartUploads {
  readonly #store: ObjectStore;
  readonly #uploads = new Map<string, MultipartUpload>();
  /** Uploads whose completion is copying their parts: `expire` leaves them alone. */
  readonly #completing = new Set<string>();

  constructor(store: ObjectStore) {
    this.#store = store;
  }

  /** Loads the uploads in progress of every bucket, dropping temporary files. */
  open(): number {
    const files = this.#store.files;
    for (const bucket of this.#store.listBuckets()) {
      const dir = this.#store.uploadsDir(bucket.name);
      files.makeDirectory(dir);
      const names = files.list(dir);
      for (const name of names) {
        if (name.endsWith(".tmp")) files.remove(join(dir, name));
        else if (name.endsWith(".upload")) {
          const info = JSON.parse(new TextDecoder().decode(files.readFile(join(dir, name))!));
          this.#uploads.set(info.id, { ...info, parts: new Map() });
        }
      }
      for (const name of names) {
        const m = /^([0-9a-f]{32})\.part-(\d{5})$/.exec(name);
        if (m === null) continue;
        const upload = this.#uploads.get(m[1]);
        // A part without its record belongs to an upload completed or aborted before a crash.
        if (upload === undefined) files.remove(join(dir, name));
        else upload.parts.set(Number(m[2]), readTrailer(files, join(dir, name)));
      }
    }
    return this.#uploads.size;
  }

  create(
    bucket: string,
    key: string,
    options: {
      headers: Record<string, string>;
      nowMs: number;
      checksumAlgorithm?: ChecksumAlgorithm;
      checksumType?: ChecksumType;
    },
  ): string {
    const id = randomBytes(16).toString("hex");
    const files = this.#store.files;
    const dir = this.#store.uploadsDir(bucket);
    files.makeDirectory(dir);
    const info: Omit<MultipartUpload, "parts"> = {
      id,
      bucket,
      key,
      headers: options.headers,
      initiatedMs: options.nowMs,
    };
    if (options.checksumAlgorithm !== undefined) {
      info.checksumAlgorithm = options.checksumAlgorithm;
      info.checksumType = options.checksumType;
    }
    const path = join(dir, `${id}.upload`);
    const handle = files.open(`${path}.tmp`, { create: true, truncate: true });
    try {
      handle.writeAt(encoder.encode(JSON.stringify(info)), 0);
      handle.sync();
    } finally {
      handle.close();
    }
    files.rename(`${path}.tmp`, path);
    files.syncDirectory(dir);
    this.#uploads.set(id, { ...info, parts: new Map() });
    return id;
  }

  /** The upload, or NoSuchUpload. */
  get(bucket: string, key: string, id: string): MultipartUpload {
    const upload = this.#uploads.get(id);
    if (upload === undefined || upload.bucket !== bucket || upload.key !== key) {
      throw noSuchUpload(id);
    }
    return upload;
  }

  /** Starts writing part `partNumber`; its commit makes it durable and replaces an earlier one. */
  beginPart(upload: MultipartUpload, partNumber: number): Upload {
    const name = `${upload.id}.part-${String(partNumber).padStart(5, "0")}`;
    return beginFile(this.#store, {
      dir: this.#store.uploadsDir(upload.bucket),
      fileName: name,
      key: name,
      published: (meta) => {
        if (this.#uploads.get(upload.id) === upload) upload.parts.set(partNumber, meta);
      },
    });
  }

  /**
   * Joins the listed parts into the object. Checks S3's rules first:
   * ascending part numbers (InvalidPartOrder), parts that exist with those
   * ETags (InvalidPart), every part but the last at least 5 MiB
   * (EntityTooSmall).
   */
  async complete(
    upload: MultipartUpload,
    chosen: readonly ChosenPart[],
    options: CompleteOptions,
  ): Promise<ObjectMeta> {
    if (chosen.length === 0) {
      throw new S3Error("MalformedXML", "You must specify at least one part");
    }
    const parts: ObjectMeta[] = [];
    let previous = 0;
    for (const [i, { partNumber, etag, checksums }] of chosen.entries()) {
      if (partNumber <= previous) {
        throw new S3Error("InvalidPartOrder", "The list of parts was not in ascending order.");
      }
      previous = partNumber;
      const part = upload.parts.get(partNumber);
      const checksumsMatch = Object.entries(checksums ?? {}).every(([name, value]) =>
        part?.checksums?.[name] === value
      );
      if (part === undefined || part.etag !== etag.replace(/^"|"$/g, "") || !checksumsMatch) {
        throw new S3Error(
          "InvalidPart",
          "One or more of the specified parts could not be found. The part may not have been " +
            "uploaded, or the specified entity tag may not match the part's entity tag.",
          { PartNumber: String(partNumber), UploadId: upload.id },
        );
      }
      if (i < chosen.length - 1 && part.sizeBytes < PART_BYTES_MIN) {
        throw new S3Error(
          "EntityTooSmall",
          "Your proposed upload is smaller than the minimum allowed object size.",
          {
            PartNumber: String(partNumber),
            ProposedSize: String(part.sizeBytes),
            MinSizeAllowed: String(PART_BYTES_MIN),
          },
        );
      }
      parts.push(part);
    }
    const totalBytes = parts.reduce((sum, part) => sum + part.sizeBytes, 0);
    if (totalBytes > MULTIPART_OBJECT_BYTES_MAX) {
      throw new S3Error(
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed object size.",
        { ProposedSize: String(totalBytes), MaxSizeAllowed: String(MULTIPART_OBJECT_BYTES_MAX) },
      );
    }
    const md5s = createHash("md5");
    for (const part of parts) md5s.update(Buffer.from(part.etag, "hex"));
    const etag = `${md5s.digest("hex")}-${parts.length}`;
    const checksum = objectChecksum(upload, parts, options.expected);
    const files = this.#store.files;
    const dir = this.#store.uploadsDir(upload.bucket);
    const object = this.#store.beginUpload(upload.bucket, upload.key);
    let meta: ObjectMeta;
    this.#completing.add(upload.id);
    try {
      const piece = new Uint8Array(COPY_PIECE_BYTES);
      for (const part of parts) {
        // Aborted while the earlier parts were copied: the rest are gone.
        if (this.#uploads.get(upload.id) !== upload) throw noSuchUpload(upload.id);
        using handle = files.open(join(dir, part.key));
        for (let at = 0; at < part.sizeBytes;) {
          const n = handle.readAt(
            piece.subarray(0, Math.min(piece.length, part.sizeBytes - at)),
            at,
          );
          if (n === 0) throw new Error(`${part.key} is shorter than its trailer says`);
          checksum.hash?.update(piece.subarray(0, n));
          await object.write(piece.subarray(0, n));
          at += n;
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
      }
      const checksums = checksum.finish();
      meta = await object.commit({
        // Aborted, or the condition broken, while the copy was synced: the
        // last look before the object replaces the old one.
        beforeRename: () => {
          if (this.#uploads.get(upload.id) !== upload) throw noSuchUpload(upload.id);
          options.beforeCommit?.();
        },
        etag,
        headers: upload.headers,
        nowMs: options.nowMs,
        checksums,
        checksumType: checksum.type,
        parts: parts.map((part, i): PartInfo => {
          const info: PartInfo = { partNumber: chosen[i].partNumber, sizeBytes: part.sizeBytes };
          const value = checksum.algorithm === undefined
            ? undefined
            : part.checksums?.[checksumHeader(checksum.algorithm)];
          if (value !== undefined) info.checksum = value;
          return info;
        }),
      });
    } catch (error) {
      await object.abandon();
      throw error;
    } finally {
      this.#completing.delete(upload.id);
    }
    this.#drop(upload);
    return meta;
  }

  /**
   * Removes uploads started more than `maxAgeMs` ago (abandoned, as an S3
   * lifecycle rule's AbortIncompleteMultipartUpload); returns how many.
   */
  expire(nowMs: number, maxAgeMs: number): number {
    let removed = 0;
    for (const upload of [...this.#uploads.values()]) {
      if (nowMs - upload.initiatedMs > maxAgeMs && !this.#completing.has(upload.id)) {
        this.#drop(upload);
        removed++;
      }
    }
    return removed;
  }

  abort(upload: MultipartUpload): void {
    this.#drop(upload);
  }

  /** Uploads in progress in `bucket`, by key, then start time, then id (ListMultipartUploads' order). */
  list(bucket: string): MultipartUpload[] {
    return [...this.#uploads.values()]
      .filter((u) => u.bucket === bucket)
      .sort((a, b) =>
        compareUtf8(a.key, b.key) || a.initiatedMs - b.initiatedMs || (a.id < b.id ? -1 : 1)
      );
  }

  /** Whether `bucket` has uploads in progress. */
  has(bucket: string): boolean {
    for (const upload of this.#uploads.values()) if (upload.bucket === bucket) return true;
    return false;
  }

  #drop(upload: MultipartUpload): void {
    // Once only: an abort may have dropped it while its completion ran.
    if (this.#uploads.get(upload.id) !== upload) return;
    this.#uploads.delete(upload.id);
    const files = this.#store.files;
    const dir = this.#store.uploadsDir(upload.bucket);
    // The upload record goes first: once it is gone the parts are garbage,
    // whatever a crash leaves of them (open ignores parts without a record).
    files.remove(join(dir, `${upload.id}.upload`));
    files.syncDirectory(dir);
    for (const part of upload.parts.values()) files.remove(join(dir, part.key));
    files.syncDirectory(dir);
  }
}

/**
 * How the object's checksum is made: the upload's algorithm and type (or,
 * for an upload created without one, a CRC sent whole with the completion),
 * COMPOSITE from the parts' checksums now, FULL_OBJECT from the content as
 * it is copied; `finish` checks the value sent with the completion.
 */
function objectChecksum(
  upload: MultipartUpload,
  parts: readonly ObjectMeta[],
  expected: CompleteOptions["expected"],
): {
  algorithm: ChecksumAlgorithm | undefined;
  type: ChecksumType | undefined;
  hash: { update(bytes: Uint8Array): unknown; digest(): Uint8Array } | undefined;
  finish(): Record<string, string> | undefined;
} {
  let algorithm = upload.checksumAlgorithm;
  let type = upload.checksumType;
  if (algorithm === undefined && expected !== undefined) {
    if (expected.algorithm.startsWith("SHA")) {
      throw new S3Error(
        "InvalidRequest",
        `The upload was created without a checksum algorithm; a full-object ${expected.algorithm} ` +
          "cannot be checked",
      );
    }
    algorithm = expected.algorithm;
    type = "FULL_OBJECT";
  } else if (expected !== undefined && expected.algorithm !== algorithm) {
    throw new S3Error(
      "InvalidRequest",
      `The upload was created using the ${algorithm} checksum algorithm; the completion sent ` +
        expected.algorithm,
    );
  }
  if (algorithm === undefined) {
    return { algorithm, type, hash: undefined, finish: () => undefined };
  }
  const header = checksumHeader(algorithm);
  const hash = type === "FULL_OBJECT" ? checksumHash(algorithm) : undefined;
  const check = (value: string) => {
    const bare = (v: string) => v.replace(/-\d+$/, "");
    if (expected !== undefined && bare(expected.value) !== bare(value)) {
      throw new S3Error(
        "BadDigest",
        `The ${algorithm} you specified did not match the calculated checksum.`,
      );
    }
    return { [header]: value };
  };
  if (hash !== undefined) {
    return { algorithm, type, hash, finish: () => check(checksumBase64(hash.digest())) };
  }
  const values = parts.map((part) => part.checksums?.[header]);
  if (values.some((v) => v === undefined)) {
    throw new S3Error(
      "InvalidRequest",
      `A part of this upload has no ${algorithm} checksum, which its algorithm needs`,
    );
  }
  const composite = compositeChecksum(algorithm, values as string[]);
  return { algorithm, type, hash: undefined, finish: () => check(composite) };
}

function noSuchUpload(id: string): S3Error {
  return new S3Error(
    "NoSuchUpload",
    "The specified upload does not exist. The upload ID may be invalid, or the upload " +
      "may have been aborted or completed.",
    { UploadId: id.slice(0, 100) },
  );
}
