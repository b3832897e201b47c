// The checksums S3 takes in x-amz-checksum-*: CRC-32 (the ISO-HDLC one of
// zlib and Ethernet), CRC-32C (Castagnoli, iSCSI) and CRC-64/NVME (the NVM
// Express base specification's end-to-end protection CRC, which the AWS
// SDKs send by default since 2025), as incremental table-driven
// computations; each is sent big-endian, base64. A `ChecksumHash` wraps
// them with SHA-1 and SHA-256 (node:crypto) behind one interface, and
// `compositeChecksum` makes S3's checksum-of-checksums for multipart
// objects.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html
// Pure: no I/O.

import { createHash } from "node:crypto";

// Slicing-by-8 (Intel's method, as zlib's "braided" and most fast software
// CRCs): eight tables, so one step folds 8 bytes with 8 lookups instead of
// 8 dependent steps; 2-3x the byte-at-a-time loop in V8, which matters as
// the SDKs send a CRC with every upload. Table k holds the CRC of a byte
// followed by k zero bytes.

/** The 8 slicing tables of a reflected CRC-32 with the (reflected) polynomial, flat. */
function tables32(polynomial: number): Uint32Array {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? polynomial ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let k = 1; k < 8; k++) {
    for (let n = 0; n < 256; n++) {
      const previous = t[(k - 1) * 256 + n];
      t[k * 256 + n] = ((previous >>> 8) ^ t[previous & 0xff]) >>> 0;
    }
  }
  return t;
}

const CRC32_TABLES = tables32(0xedb88320);
const CRC32C_TABLES = tables32(0x82f63b78);

/** An incremental CRC: `update` with each piece, `digest` for the 4 bytes. */
export class Crc32 {
  readonly #t: Uint32Array;
  #crc = 0xffffffff;

  constructor(variant: "crc32" | "crc32c" = "crc32") {
    this.#t = variant === "crc32" ? CRC32_TABLES : CRC32C_TABLES;
  }

  update(bytes: Uint8Array): this {
    const t = this.#t;
    let crc = this.#crc;
    let i = 0;
    for (const end8 = bytes.length - 7; i < end8; i += 8) {
      const a = crc ^
        (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
      crc = t[1792 + (a & 0xff)] ^ t[1536 + ((a >>> 8) & 0xff)] ^
        t[1280 + ((a >>> 16) & 0xff)] ^ t[1024 + (a >>> 24)] ^
        t[768 + bytes[i + 4]] ^ t[512 + bytes[i + 5]] ^ t[256 + bytes[i + 6]] ^ t[bytes[i + 7]];
    }
    for (; i < bytes.length; i++) crc = t[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
    this.#crc = crc;
    return this;
  }

  /** The checksum as an unsigned 32-bit number. */
  value(): number {
    return (this.#crc ^ 0xffffffff) >>> 0;
  }

  /** The checksum as 4 big-endian bytes. */
  digest(): Uint8Array {
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, this.value());
    return out;
  }
}

// CRC-64/NVME: polynomial 0xAD93D23594C93659, reflected (0x9A6C9329AC4BC9B5),
// initial value and final XOR all ones; its check value ("123456789") is
// 0xAE8B14860A799888. JavaScript has no fast 64-bit integers (BigInt
// allocates), so the register is two 32-bit halves and each slicing table
// two arrays (high and low halves of its entries).
const CRC64NVME_HI = new Uint32Array(8 * 256);
const CRC64NVME_LO = new Uint32Array(8 * 256);
{
  const polyHi = 0x9a6c9329, polyLo = 0xac4bc9b5;
  for (let n = 0; n < 256; n++) {
    let hi = 0, lo = n;
    for (let k = 0; k < 8; k++) {
      const low = lo & 1;
      lo = ((lo >>> 1) | (hi << 31)) >>> 0;
      hi = hi >>> 1;
      if (low) {
        hi = (hi ^ polyHi) >>> 0;
        lo = (lo ^ polyLo) >>> 0;
      }
    }
    CRC64NVME_HI[n] = hi;
    CRC64NVME_LO[n] = lo;
  }
  for (let k = 1; k < 8; k++) {
    for (let n = 0; n < 256; n++) {
      const hi = CRC64NVME_HI[(k - 1) * 256 + n], lo = CRC64NVME_LO[(k - 1) * 256 + n];
      const index = lo & 0xff;
      CRC64NVME_LO[k * 256 + n] = (((lo >>> 8) | (hi << 24)) ^ CRC64NVME_LO[index]) >>> 0;
      CRC64NVME_HI[k * 256 + n] = ((hi >>> 8) ^ CRC64NVME_HI[index]) >>> 0;
    }
  }
}

/** An incremental CRC-64/NVME: `update` with each piece, `digest` for the 8 bytes. */
export class Crc64Nvme {
  #hi = 0xffffffff;
  #lo = 0xffffffff;

  update(bytes: Uint8Array): this {
    const th = CRC64NVME_HI, tl = CRC64NVME_LO;
    let hi = this.#hi, lo = this.#lo;
    let i = 0;
    for (const end8 = bytes.length - 7; i < end8; i += 8) {
      const a = lo ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
      const b = hi ^
        (bytes[i + 4] | (bytes[i + 5] << 8) | (bytes[i + 6] << 16) | (bytes[i + 7] << 24));
      const i7 = 1792 + (a & 0xff), i6 = 1536 + ((a >>> 8) & 0xff);
      const i5 = 1280 + ((a >>> 16) & 0xff), i4 = 1024 + (a >>> 24);
      const i3 = 768 + (b & 0xff), i2 = 512 + ((b >>> 8) & 0xff);
      const i1 = 256 + ((b >>> 16) & 0xff), i0 = b >>> 24;
      lo = tl[i7] ^ tl[i6] ^ tl[i5] ^ tl[i4] ^ tl[i3] ^ tl[i2] ^ tl[i1] ^ tl[i0];
      hi = th[i7] ^ th[i6] ^ th[i5] ^ th[i4] ^ th[i3] ^ th[i2] ^ th[i1] ^ th[i0];
    }
    for (; i < bytes.length; i++) {
      const index = (lo ^ bytes[i]) & 0xff;
      lo = ((lo >>> 8) | (hi << 24)) ^ tl[index];
      hi = (hi >>> 8) ^ th[index];
    }
    this.#hi = hi >>> 0;
    this.#lo = lo >>> 0;
    return this;
  }

  /** The checksum as an unsigned 64-bit number. */
  value(): bigint {
    const hi = (this.#hi ^ 0xffffffff) >>> 0, lo = (this.#lo ^ 0xffffffff) >>> 0;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** The checksum as 8 big-endian bytes. */
  digest(): Uint8Array {
    const out = new Uint8Array(8);
    const view = new DataView(out.buffer);
    view.setUint32(0, (this.#hi ^ 0xffffffff) >>> 0);
    view.setUint32(4, (this.#lo ^ 0xffffffff) >>> 0);
    return out;
  }
}

/** The algorithms of x-amz-checksum-algorithm, as S3 spells them. */
export const CHECKSUM_ALGORITHMS = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"] as const;
export type ChecksumAlgorithm = typeof CHECKSUM_ALGORITHMS[number];

/** Whether a multipart object's checksum covers the whole content or the parts' checksums. */
export type ChecksumType = "FULL_OBJECT" | "COMPOSITE";

/** The algorithm named by a header value (any case), or undefined. */
export function checksumAlgorithmOf(name: string): ChecksumAlgorithm | undefined {
  const upper = name.trim().toUpperCase();
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(upper)
    ? upper as ChecksumAlgorithm
    : undefined;
}

/** The header that carries an algorithm's value: `x-amz-checksum-crc64nvme`. */
export function checksumHeader(algorithm: ChecksumAlgorithm): string {
  return `x-amz-checksum-${algorithm.toLowerCase()}`;
}

/** One incremental checksum, whatever its algorithm. */
export interface ChecksumHash {
  update(bytes: Uint8Array): unknown;
  digest(): Uint8Array;
}

/** A fresh incremental checksum of `algorithm`. */
export function checksumHash(algorithm: ChecksumAlgorithm): ChecksumHash {
  switch (algorithm) {
    case "CRC32":
      return new Crc32("crc32");
    case "CRC32C":
      return new Crc32("crc32c");
    case "CRC64NVME":
      return new Crc64Nvme();
    case "SHA1":
    case "SHA256": {
      const hash = createHash(algorithm === "SHA1" ? "sha1" : "sha256");
      return {
        update: (bytes: Uint8Array) => hash.update(bytes),
        digest: () => new Uint8Array(hash.digest()),
      };
    }
  }
}

/** How many bytes each algorithm's value holds. */
const DIGEST_BYTES: Record<ChecksumAlgorithm, number> = {
  CRC32: 4,
  CRC32C: 4,
  CRC64NVME: 8,
  SHA1: 20,
  SHA256: 32,
};

/** Whether `value` is a well-formed value of `algorithm`: canonical base64 of its size. */
export function checksumValueValid(algorithm: ChecksumAlgorithm, value: string): boolean {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) return false;
  const bytes = Buffer.from(value, "base64");
  return bytes.length === DIGEST_BYTES[algorithm] && bytes.toString("base64") === value;
}

/** A checksum's value on the wire: base64 of its big-endian bytes. */
export function checksumBase64(digest: Uint8Array): string {
  return Buffer.from(digest).toString("base64");
}

/**
 * S3's composite checksum of a multipart object: the checksum of the
 * concatenated binary checksums of its parts, base64, then `-<parts>`
 * (as the ETag's md5-of-md5s).
 */
export function compositeChecksum(
  algorithm: ChecksumAlgorithm,
  partsBase64: readonly string[],
): string {
  const hash = checksumHash(algorithm);
  for (const part of partsBase64) hash.update(Buffer.from(part, "base64"));
  return `${checksumBase64(hash.digest())}-${partsBase64.length}`;
}
