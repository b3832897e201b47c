// CRC-32 (the ISO-HDLC one of zlib and Ethernet) and CRC-32C (Castagnoli,
// iSCSI), the checksums S3 takes in x-amz-checksum-crc32 and -crc32c, as
// incremental table-driven computations. Both are sent big-endian, base64.
// Pure: no I/O. (SHA-1 and SHA-256 come from node:crypto in the service.)

function table(polynomial: number): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? polynomial ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

const CRC32_TABLE = table(0xedb88320);
const CRC32C_TABLE = table(0x82f63b78);

/** An incremental CRC: `update` with each piece, `digest` for the 4 bytes. */
export class Crc32 {
  readonly #table: Uint32Array;
  #crc = 0xffffffff;

  constructor(variant: "crc32" | "crc32c" = "crc32") {
    this.#table = variant === "crc32" ? CRC32_TABLE : CRC32C_TABLE;
  }

  update(bytes: Uint8Array): this {
    const t = this.#table;
    let crc = this.#crc;
    for (let i = 0; i < bytes.length; i++) crc = t[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
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
