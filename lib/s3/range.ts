// The Range header of a GET (RFC 9110 section 14): one byte range, as S3
// accepts (several ranges are ignored by S3 and answered whole; so here).
// Pure: no I/O.

/** Inclusive byte positions within the object. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * The range `header` asks for in an object of `sizeBytes`:
 * - undefined: no usable range (absent, not bytes=, several ranges,
 *   unparsable): send the whole object;
 * - "unsatisfiable": 416 InvalidRange;
 * - else the inclusive range, clipped to the object.
 */
export function parseRange(
  header: string | undefined,
  sizeBytes: number,
): ByteRange | "unsatisfiable" | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (m === null) return undefined;
  const [, first, last] = m;
  if (first === "" && last === "") return undefined;
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0) return "unsatisfiable";
    if (sizeBytes === 0) return "unsatisfiable";
    return { start: Math.max(0, sizeBytes - suffix), end: sizeBytes - 1 };
  }
  const start = Number(first);
  if (start >= sizeBytes) return "unsatisfiable";
  if (last === "") return { start, end: sizeBytes - 1 };
  const end = Number(last);
  if (end < start) return undefined;
  return { start, end: Math.min(end, sizeBytes - 1) };
}
