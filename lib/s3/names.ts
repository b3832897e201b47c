// S3's rules for bucket names and object keys, and the byte order listings
// use. https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
// Pure: no I/O.

/** Keys are at most 1024 bytes of UTF-8 (S3's limit). */
export const KEY_BYTES_MAX = 1024;

/**
 * Why `name` is not a valid bucket name, or undefined when it is: 3-63
 * characters of lower-case letters, digits, dots and hyphens, starting and
 * ending with a letter or digit, no two adjacent dots, not an IPv4 address,
 * none of S3's reserved prefixes and suffixes.
 */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return "must be 3 to 63 characters long";
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name)) {
    return "may hold only lower-case letters, digits, dots and hyphens, " +
      "and must begin and end with a letter or digit";
  }
  if (name.includes("..")) return "must not hold two adjacent dots";
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return "must not look like an IP address";
  if (/^(xn--|sthree-|amzn-s3-demo-)/.test(name)) return "must not use a reserved prefix";
  if (/(-s3alias|--ol-s3|\.mrap|--x-s3)$/.test(name)) return "must not use a reserved suffix";
  return undefined;
}

/** Why `key` is not a valid object key, or undefined. */
export function keyProblem(key: string): string | undefined {
  if (key.length === 0) return "must not be empty";
  if (new TextEncoder().encode(key).length > KEY_BYTES_MAX) {
    return `must be at most ${KEY_BYTES_MAX} bytes of UTF-8`;
  }
  if (!key.isWellFormed()) return "must be valid UTF-8";
  return undefined;
}

/**
 * Orders strings by their UTF-8 bytes, as S3 lists keys. JavaScript's `<`
 * compares UTF-16 code units, which puts U+E000..U+FFFF after astral
 * characters; comparing code points gives UTF-8 byte order.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1; // a surrogate starts a code point past U+FFFF
    return x - y;
  }
  return a.length - b.length;
}
