// CRC32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78), written by
// hand and table-driven, as used by iSCSI (RFC 3720 appendix B.4) and by the
// storage engine for page and log record checksums.
//
// One 256-entry table, one byte per step: about 1 µs per 1 KiB in V8, which
// is small next to an fsync. Slicing-by-8 would be faster; left out for now.

const TABLE = buildTable();

function buildTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** CRC32C of `bytes`, continuing from `seed` (the CRC of the bytes before). */
export function crc32c(bytes: Uint8Array, seed = 0): number {
  let crc = ~seed >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    crc = TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  }
  return ~crc >>> 0;
}
