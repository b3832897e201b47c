// HyperLogLog as Redis 7.0 computes it (hyperloglog.c): 16384 registers of
// 6 bits, each element hashed with MurmurHash64A (seed 0xadc83b19), its
// low 14 bits picking the register and the run of zeros above them (plus
// one) the value; the cardinality from Ertl's improved estimator ("New
// cardinality estimation algorithms for HyperLogLog sketches", 2017), the
// one Redis uses since 5.0. Same hash, same registers, same estimator: our
// PFADD and PFCOUNT give Redis's answers exactly, and the estimate's
// standard error is Redis's, 1.04 / sqrt(16384) = 0.81%.
//
// A HyperLogLog is a string value, as in Redis ("HYLL" header, then the
// registers). We always write the dense encoding (16 + 12288 bytes) where
// Redis starts sparse and turns dense past hll-sparse-max-bytes, so GET,
// STRLEN and DUMP of a small HyperLogLog differ from Redis's; we read both
// encodings, so a value made by Redis (SET, RESTORE) works here. Pure: no I/O.

/** Registers, 2^14 (Redis's HLL_P = 14). */
export const HLL_REGISTERS = 16384;
const HLL_P = 14;
const HLL_Q = 64 - HLL_P;
const HLL_BITS = 6;
const HLL_REGISTER_MAX = (1 << HLL_BITS) - 1;
/** "HYLL", encoding, 3 unused bytes, 8 bytes of cached cardinality. */
export const HLL_HEADER_BYTES = 16;
const HLL_DENSE_BYTES = HLL_HEADER_BYTES + Math.ceil(HLL_REGISTERS * HLL_BITS / 8);
const HLL_ALPHA_INF = 0.721347520444481703680;
const DENSE = 0;
const SPARSE = 1;

const M64 = 0xffffffffffffffffn;
const MURMUR_M = 0xc6a4a7935bd1e995n;

/** MurmurHash64A of a binary string (one char per byte), little-endian words. */
export function murmurHash64A(data: string, seed: bigint): bigint {
  const length = data.length;
  let h = (seed ^ ((BigInt(length) * MURMUR_M) & M64)) & M64;
  const whole = length - (length & 7);
  for (let i = 0; i < whole; i += 8) {
    let k = 0n;
    for (let j = 7; j >= 0; j--) k = (k << 8n) | BigInt(data.charCodeAt(i + j));
    k = (k * MURMUR_M) & M64;
    k ^= k >> 47n;
    k = (k * MURMUR_M) & M64;
    h ^= k;
    h = (h * MURMUR_M) & M64;
  }
  const rest = length & 7;
  if (rest > 0) {
    for (let j = rest - 1; j >= 0; j--) h ^= BigInt(data.charCodeAt(whole + j)) << BigInt(8 * j);
    h = (h * MURMUR_M) & M64;
  }
  h ^= h >> 47n;
  h = (h * MURMUR_M) & M64;
  h ^= h >> 47n;
  return h;
}

/** The register an element lands in, and the value it proposes (hllPatLen). */
export function hllPattern(element: string): { register: number; count: number } {
  let hash = murmurHash64A(element, 0xadc83b19n);
  const register = Number(hash & BigInt(HLL_REGISTERS - 1));
  hash >>= BigInt(HLL_P);
  hash |= 1n << BigInt(HLL_Q);
  let count = 1;
  let low = Number(hash & 0xffffffffn);
  let high = Number(hash >> 32n);
  // Trailing zeros of the 64-bit value, plus one.
  if (low === 0) {
    count += 32;
    low = high;
    high = 0;
  }
  while ((low & 1) === 0) {
    count++;
    low >>>= 1;
  }
  return { register, count };
}

/** One HyperLogLog's registers, one byte each while we work on them. */
export class HyperLogLog {
  readonly registers = new Uint8Array(HLL_REGISTERS);

  /** Adds an element; true when a register grew (PFADD's "changed"). */
  add(element: string): boolean {
    const { register, count } = hllPattern(element);
    if (this.registers[register] >= count) return false;
    this.registers[register] = count;
    return true;
  }

  /** Takes the larger of each register pair (PFMERGE, PFCOUNT of several keys). */
  merge(other: HyperLogLog): void {
    for (let i = 0; i < HLL_REGISTERS; i++) {
      if (other.registers[i] > this.registers[i]) this.registers[i] = other.registers[i];
    }
  }

  /** Redis's hllCount: Ertl's estimator over the register histogram. */
  count(): number {
    const m = HLL_REGISTERS;
    const histogram = new Array<number>(64).fill(0);
    for (let i = 0; i < m; i++) histogram[this.registers[i]]++;
    let z = m * tau((m - histogram[HLL_Q + 1]) / m);
    for (let j = HLL_Q; j >= 1; j--) {
      z += histogram[j];
      z *= 0.5;
    }
    z += m * sigma(histogram[0] / m);
    return Math.round(HLL_ALPHA_INF * m * m / z);
  }

  /** The dense encoding, cached cardinality marked stale, as a binary string. */
  encode(): string {
    const bytes = new Uint8Array(HLL_DENSE_BYTES + 1);
    bytes.set([0x48, 0x59, 0x4c, 0x4c, DENSE]);
    bytes[15] = 0x80; // the cached cardinality is not valid
    for (let i = 0; i < HLL_REGISTERS; i++) {
      const value = this.registers[i];
      const bit = i * HLL_BITS;
      const at = HLL_HEADER_BYTES + (bit >> 3);
      const shift = bit & 7;
      bytes[at] |= (value << shift) & 0xff;
      bytes[at + 1] |= value >> (8 - shift);
    }
    let text = "";
    for (let i = 0; i < HLL_DENSE_BYTES; i += 4096) {
      const end = Math.min(HLL_DENSE_BYTES, i + 4096);
      text += String.fromCharCode.apply(null, bytes.subarray(i, end) as unknown as number[]);
    }
    return text;
  }

  /**
   * Reads a HyperLogLog string, dense or sparse; null when it is not one
   * (Redis's isHLLObjectOrReply: magic, encoding, dense size, and here a
   * sparse run that covers every register exactly once).
   */
  static decode(text: string): HyperLogLog | null {
    if (text.length < HLL_HEADER_BYTES || !text.startsWith("HYLL")) return null;
    const encoding = text.charCodeAt(4);
    const hll = new HyperLogLog();
    if (encoding === DENSE) {
      if (text.length !== HLL_DENSE_BYTES) return null;
      for (let i = 0; i < HLL_REGISTERS; i++) {
        const bit = i * HLL_BITS;
        const at = HLL_HEADER_BYTES + (bit >> 3);
        const shift = bit & 7;
        const next = at + 1 < text.length ? text.charCodeAt(at + 1) : 0;
        hll.registers[i] = ((text.charCodeAt(at) >> shift) | (next << (8 - shift))) &
          HLL_REGISTER_MAX;
      }
      return hll;
    }
    if (encoding !== SPARSE) return null;
    let register = 0;
    for (let at = HLL_HEADER_BYTES; at < text.length; at++) {
      const op = text.charCodeAt(at);
      if ((op & 0xc0) === 0) register += (op & 0x3f) + 1; // ZERO
      else if ((op & 0xc0) === 0x40) { // XZERO, two bytes
        if (at + 1 >= text.length) return null;
        register += (((op & 0x3f) << 8) | text.charCodeAt(++at)) + 1;
      } else { // VAL
        const value = ((op >> 2) & 0x1f) + 1;
        const run = (op & 3) + 1;
        if (register + run > HLL_REGISTERS) return null;
        hll.registers.fill(value, register, register + run);
        register += run;
      }
      if (register > HLL_REGISTERS) return null;
    }
    return register === HLL_REGISTERS ? hll : null;
  }
}

/** Ertl's tau function, as Redis's hllTau. */
function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let zPrime: number;
  let y = 1.0;
  let z = 1 - x;
  do {
    x = Math.sqrt(x);
    zPrime = z;
    y *= 0.5;
    z -= Math.pow(1 - x, 2) * y;
  } while (zPrime !== z);
  return z / 3;
}

/** Ertl's sigma function, as Redis's hllSigma. */
function sigma(x: number): number {
  if (x === 1) return Infinity;
  let zPrime: number;
  let y = 1;
  let z = x;
  do {
    x *= x;
    zPrime = z;
    z += x * y;
    y += y;
  } while (zPrime !== z);
  return z;
}
