// CRC32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78), written by
// hand and table-driven, as used by iSCSI (RFC 3720 appendix B.4) and by the
// storage engine for page and log record checksums.
//
// "Slicing-by-16": sixteen 256-entry tables (16 KiB) let each step fold in
// 16 bytes with sixteen lookups, read as four aligned 32-bit words through an
// Int32Array over the same memory (little-endian platforms; elsewhere the
// one-table loop). It matters: every page read from disk is checksummed
// (8 KiB each). Measured on our machines for one 8 KiB page: slicing-by-8
// with byte loads 7.5 µs, this 3.2 µs; the former was 40% of a point lookup
// on a table larger than the buffer pool.

const SLICES = 16;
const TABLES = buildTables();
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** Below this many bytes the word loop's setup costs more than it saves. */
const WORD_LOOP_BYTES_MIN = 64;

function buildTables(): Int32Array {
  const t = new Int32Array(SLICES * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < SLICES; k++) {
      const previous = t[(k - 1) * 256 + n];
      t[k * 256 + n] = (previous >>> 8) ^ t[previous & 0xff];
    }
  }
  return t;
}

/** CRC32C of `bytes`, continuing from `seed` (the CRC of the bytes before). */
export function crc32c(bytes: Uint8Array, seed = 0): number {
  const t = TABLES;
  const n = bytes.length;
  let crc = ~seed;
  let i = 0;
  if (LITTLE_ENDIAN && n >= WORD_LOOP_BYTES_MIN) {
    // Bytes one at a time up to a 4-byte boundary of the underlying buffer.
    while (((bytes.byteOffset + i) & 3) !== 0) crc = t[(crc ^ bytes[i++]) & 0xff] ^ (crc >>> 8);
    const words = ((n - i) >>> 4) << 2;
    const w = new Int32Array(bytes.buffer, bytes.byteOffset + i, words);
    for (let j = 0; j < words; j += 4) {
      const a = crc ^ w[j], b = w[j + 1], c = w[j + 2], d = w[j + 3];
      crc = t[3840 + (a & 0xff)] ^ t[3584 + ((a >>> 8) & 0xff)] ^
        t[3328 + ((a >>> 16) & 0xff)] ^ t[3072 + (a >>> 24)] ^
        t[2816 + (b & 0xff)] ^ t[2560 + ((b >>> 8) & 0xff)] ^
        t[2304 + ((b >>> 16) & 0xff)] ^ t[2048 + (b >>> 24)] ^
        t[1792 + (c & 0xff)] ^ t[1536 + ((c >>> 8) & 0xff)] ^
        t[1280 + ((c >>> 16) & 0xff)] ^ t[1024 + (c >>> 24)] ^
        t[768 + (d & 0xff)] ^ t[512 + ((d >>> 8) & 0xff)] ^
        t[256 + ((d >>> 16) & 0xff)] ^ t[d >>> 24];
    }
    i += words * 4;
  }
  for (; i < n; i++) crc = t[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}
