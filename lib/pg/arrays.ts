// PostgreSQL arrays (documentation 8.15; src/backend/utils/adt/arrayfuncs.c):
// the text form array_in reads and array_out writes, and the binary form of
// array_send/array_recv. Pure: the element type's own text and binary
// functions come in as arguments, so this file needs nothing from values.ts.
//
// A value in JavaScript is its canonical text (what array_out prints:
// `{1,2,NULL}`, `{{1,2},{3,4}}`, `{"a b","x\"y",""}`, with `[0:1]={7,8}` in
// front when a lower bound is not 1), as intervals are: it compares, hashes
// and stores as a string, and an `ArrayShape` is made from it when an
// operator needs the elements.
//
// Text input follows array_in: optional dimension decoration `[lo:hi]...=`,
// braces nested as deep as the dimensions, elements quoted (with backslash
// escapes) or bare (backslash escapes too; spaces around them dropped), an
// unquoted NULL for a null element; sub-arrays must match (22P02
// "Multidimensional arrays must have sub-arrays with matching dimensions.").
// Bounds: at most 6 dimensions (MAXDIM, 54000 past it) and the value's own
// length, which the caller bounds like any text. Left out: a delimiter other
// than the comma (box uses ';').

import { PgValueError } from "./value_error.ts";

/** Element type OID -> array type OID (pg_type.dat's typarray). */
export const ARRAY_OID_OF: ReadonlyMap<number, number> = new Map([
  [16, 1000], // bool
  [17, 1001], // bytea
  [18, 1002], // char
  [19, 1003], // name
  [20, 1016], // int8
  [21, 1005], // int2
  [23, 1007], // int4
  [25, 1009], // text
  [26, 1028], // oid
  [114, 199], // json
  [700, 1021], // float4
  [701, 1022], // float8
  [1042, 1014], // bpchar
  [1043, 1015], // varchar
  [1082, 1182], // date
  [1083, 1183], // time
  [1114, 1115], // timestamp
  [1184, 1185], // timestamptz
  [1186, 1187], // interval
  [1700, 1231], // numeric
  [2950, 2951], // uuid
  [3802, 3807], // jsonb
]);

const ELEMENT_OID_OF: ReadonlyMap<number, number> = new Map(
  [...ARRAY_OID_OF].map(([element, array]) => [array, element]),
);

/** The element type of an array type OID, or undefined for any other type. */
export function arrayElementOid(oid: number): number | undefined {
  return ELEMENT_OID_OF.get(oid);
}

/** MAXDIM in PostgreSQL's array.h. */
export const ARRAY_DIMENSIONS_MAX = 6;

/** An array taken apart: dimensions, lower bounds and elements in row-major order. */
export interface ArrayShape {
  /** Length of each dimension; empty for an empty array. */
  dims: number[];
  /** Lower bound of each dimension (1 unless written otherwise). */
  lbounds: number[];
  /** Elements as text (unquoted, unescaped), null for NULL. */
  items: (string | null)[];
}

const QUOTE_NEEDED = /[{},"\\ \t\n\r\v\f]/;

/** An element as array_out writes it: quoted when empty, NULL-like, or holding special characters. */
export function quoteElement(text: string | null): string {
  if (text === null) return "NULL";
  if (
    text === "" || QUOTE_NEEDED.test(text) || (text.length === 4 && text.toUpperCase() === "NULL")
  ) {
    return `"${text.replace(/["\\]/g, (c) => `\\${c}`)}"`;
  }
  return text;
}

/** The canonical text of an array: array_out. */
export function formatArray(shape: ArrayShape): string {
  const { dims, lbounds, items } = shape;
  if (dims.length === 0 || items.length === 0) return "{}";
  let prefix = "";
  if (lbounds.some((l) => l !== 1)) {
    prefix = dims.map((d, i) => `[${lbounds[i]}:${lbounds[i] + d - 1}]`).join("") + "=";
  }
  let k = 0;
  const level = (depth: number): string => {
    const parts: string[] = [];
    for (let i = 0; i < dims[depth]; i++) {
      parts.push(depth === dims.length - 1 ? quoteElement(items[k++]) : level(depth + 1));
    }
    return `{${parts.join(",")}}`;
  };
  return prefix + level(0);
}

/** A one-dimensional array of these elements (ARRAY[...], array_agg). */
export function formatList(items: readonly (string | null)[]): string {
  return items.length === 0
    ? "{}"
    : formatArray({ dims: [items.length], lbounds: [1], items: [...items] });
}

function isSpace(c: string | undefined): boolean {
  return c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\v" || c === "\f";
}

function malformed(text: string, detail: string): PgValueError {
  return new PgValueError("22P02", `malformed array literal: "${text}"`, { detail });
}

function tooManyDimensions(n: number): PgValueError {
  return new PgValueError(
    "54000",
    `number of array dimensions (${n}) exceeds the maximum allowed (${ARRAY_DIMENSIONS_MAX})`,
  );
}

/** Reads `[lo:hi][lo:hi]...=` at the start of an array literal. */
function readDecoration(
  text: string,
  start: number,
): { pos: number; dims: number[]; lbounds: number[] } {
  const dims: number[] = [];
  const lbounds: number[] = [];
  let pos = start;
  const integer = (): number | null => {
    const m = /^[ \t\n\r\v\f]*([+-]?\d+)[ \t\n\r\v\f]*/.exec(text.slice(pos));
    if (!m) return null;
    pos += m[0].length;
    const n = Number(m[1]);
    if (!Number.isSafeInteger(n) || n > 2147483647 || n < -2147483648) {
      throw new PgValueError("22003", `value "${m[1]}" is out of range for type integer`);
    }
    return n;
  };
  while (text[pos] === "[") {
    pos++;
    if (dims.length === ARRAY_DIMENSIONS_MAX) throw tooManyDimensions(dims.length + 1);
    const first = integer();
    if (first === null) {
      throw malformed(text, '"[" must introduce explicitly-specified array dimensions.');
    }
    let lower = 1;
    let upper = first;
    if (text[pos] === ":") {
      pos++;
      lower = first;
      const second = integer();
      if (second === null) throw malformed(text, "Missing array dimension value.");
      upper = second;
    }
    if (text[pos] !== "]") throw malformed(text, 'Missing "]" after array dimensions.');
    pos++;
    if (upper < lower) {
      throw new PgValueError("2202E", "upper bound cannot be less than lower bound");
    }
    dims.push(upper - lower + 1);
    lbounds.push(lower);
    while (isSpace(text[pos])) pos++;
  }
  if (text[pos] !== "=") throw malformed(text, 'Missing "=" after array dimensions.');
  pos++;
  while (isSpace(text[pos])) pos++;
  return { pos, dims, lbounds };
}

/**
 * array_in without the element conversion: the shape of an array literal,
 * or PgValueError (22P02 with PostgreSQL's detail; 54000 past 6 dimensions).
 */
export function parseArrayText(text: string): ArrayShape {
  let pos = 0;
  while (isSpace(text[pos])) pos++;
  let declared: { dims: number[]; lbounds: number[] } | null = null;
  if (text[pos] === "[") {
    const d = readDecoration(text, pos);
    pos = d.pos;
    declared = d;
  }
  if (text[pos] !== "{") {
    throw malformed(
      text,
      declared === null
        ? 'Array value must start with "{" or dimension information.'
        : 'Array contents must start with "{".',
    );
  }
  const items: (string | null)[] = [];
  // dims[d] is the length every sub-array at depth d must have once known.
  const dims: number[] = [];
  let ndim = -1; // the depth elements sit at, once the first one is seen
  const readLevel = (depth: number): void => {
    // text[pos] is "{"
    if (depth >= ARRAY_DIMENSIONS_MAX) throw tooManyDimensions(depth + 1);
    pos++;
    let count = 0;
    while (isSpace(text[pos])) pos++;
    if (text[pos] === "}") {
      pos++;
      if (depth === 0 && ndim === -1) return; // '{}'
      throw malformed(text, 'Unexpected "}" character.');
    }
    for (;;) {
      while (isSpace(text[pos])) pos++;
      const c = text[pos];
      if (c === undefined) throw malformed(text, "Unexpected end of input.");
      if (c === "{") {
        if (ndim !== -1 && depth + 1 >= ndim) throw malformed(text, 'Unexpected "{" character.');
        readLevel(depth + 1);
      } else {
        if (ndim === -1) ndim = depth + 1;
        else if (ndim !== depth + 1) throw malformed(text, "Unexpected array element.");
        items.push(readElement());
      }
      count++;
      while (isSpace(text[pos])) pos++;
      const after = text[pos];
      if (after === ",") {
        pos++;
        continue;
      }
      if (after === "}") {
        pos++;
        break;
      }
      if (after === undefined) throw malformed(text, "Unexpected end of input.");
      // After an element or a sub-array: a brace is named, anything else is one more element.
      if (after === "{") throw malformed(text, 'Unexpected "{" character.');
      throw malformed(text, "Unexpected array element.");
    }
    if (dims[depth] === undefined) dims[depth] = count;
    else if (dims[depth] !== count) {
      throw malformed(
        text,
        "Multidimensional arrays must have sub-arrays with matching dimensions.",
      );
    }
  };
  const readElement = (): string | null => {
    let value = "";
    let quoted = false;
    let escaped = false;
    let trailingSpaces = 0;
    if (text[pos] === '"') {
      quoted = true;
      pos++;
      for (;;) {
        const c = text[pos];
        if (c === undefined) throw malformed(text, "Unexpected end of input.");
        if (c === '"') {
          pos++;
          break;
        }
        if (c === "\\") {
          pos++;
          if (text[pos] === undefined) throw malformed(text, "Unexpected end of input.");
        }
        value += text[pos++];
      }
      return value;
    }
    for (;;) {
      const c = text[pos];
      if (c === undefined) throw malformed(text, "Unexpected end of input.");
      if (c === "," || c === "}") {
        // An element needs at least one character: `{a,}` and `{,}` are malformed.
        if (value.length === 0 && !escaped) throw malformed(text, `Unexpected "${c}" character.`);
        break;
      }
      if (c === '"') throw malformed(text, "Unexpected array element.");
      if (c === "{") throw malformed(text, `Unexpected "${c}" character.`);
      if (c === "\\") {
        pos++;
        if (text[pos] === undefined) throw malformed(text, "Unexpected end of input.");
        value += text[pos++];
        escaped = true;
        trailingSpaces = 0;
        continue;
      }
      if (isSpace(c)) trailingSpaces++;
      else trailingSpaces = 0;
      value += c;
      pos++;
    }
    value = value.slice(0, value.length - trailingSpaces);
    if (!quoted && !escaped && value.length === 4 && value.toUpperCase() === "NULL") return null;
    return value;
  };
  readLevel(0);
  while (isSpace(text[pos])) pos++;
  if (pos < text.length) throw malformed(text, "Junk after closing right brace.");
  if (items.length === 0) {
    if (declared !== null && declared.dims.length > 0) {
      throw malformed(text, "Specified array dimensions do not match array contents.");
    }
    return { dims: [], lbounds: [], items: [] };
  }
  const found = dims.slice(0, ndim);
  if (declared !== null) {
    if (
      declared.dims.length !== found.length || declared.dims.some((d, i) => d !== found[i])
    ) {
      throw malformed(text, "Specified array dimensions do not match array contents.");
    }
    return { dims: found, lbounds: declared.lbounds, items };
  }
  return { dims: found, lbounds: found.map(() => 1), items };
}

/**
 * The canonical text of an array literal whose elements are read by
 * `element` (the element type's input function, returning its canonical
 * text): what `'{...}'::int[]` stores.
 */
export function canonicalArray(
  text: string,
  element: (text: string) => string,
): string {
  try {
    const shape = parseArrayText(text);
    return formatArray({
      ...shape,
      items: shape.items.map((e) => (e === null ? null : element(e))),
    });
  } catch (error) {
    if (error instanceof PgValueError && error.literal === undefined) error.literal = text;
    throw error;
  }
}

// Binary: array_send / array_recv ------------------------------------------------------------

/**
 * array_send: ndim, has-null flag, element OID, then per dimension its
 * length and lower bound, then each element as a length (-1 for NULL) and
 * its bytes. `element` is the element type's send function over its text.
 */
export function arrayToBinary(
  text: string,
  elementOid: number,
  element: (text: string) => Uint8Array,
): Uint8Array<ArrayBuffer> {
  const shape = parseArrayText(text);
  const parts = shape.items.map((e) => (e === null ? null : element(e)));
  let size = 12 + 8 * shape.dims.length;
  for (const p of parts) size += 4 + (p === null ? 0 : p.length);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setInt32(0, shape.dims.length);
  view.setInt32(4, parts.includes(null) ? 1 : 0);
  view.setUint32(8, elementOid);
  let at = 12;
  for (let i = 0; i < shape.dims.length; i++) {
    view.setInt32(at, shape.dims[i]);
    view.setInt32(at + 4, shape.lbounds[i]);
    at += 8;
  }
  for (const p of parts) {
    if (p === null) {
      view.setInt32(at, -1);
      at += 4;
    } else {
      view.setInt32(at, p.length);
      out.set(p, at + 4);
      at += 4 + p.length;
    }
  }
  return out;
}

function badBinary(message: string): PgValueError {
  return new PgValueError("22P03", message);
}

/**
 * array_recv: the canonical text of a binary array whose elements are read
 * by `element` (the element type's receive function, returning its text).
 * Every length is checked against what is left before anything is read.
 */
export function arrayFromBinary(
  bytes: Uint8Array,
  elementOid: number,
  element: (bytes: Uint8Array) => string,
): string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 12) throw badBinary("insufficient data left in message");
  const ndim = view.getInt32(0);
  const flags = view.getInt32(4);
  const oid = view.getUint32(8);
  if (ndim < 0) throw badBinary(`invalid number of dimensions: ${ndim}`);
  if (ndim > ARRAY_DIMENSIONS_MAX) throw tooManyDimensions(ndim);
  if (flags !== 0 && flags !== 1) throw badBinary("invalid array flags");
  if (oid !== elementOid) {
    throw new PgValueError(
      "42804",
      `binary data has array element type ${oid} instead of expected ${elementOid}`,
    );
  }
  let at = 12;
  const dims: number[] = [];
  const lbounds: number[] = [];
  let count = ndim === 0 ? 0 : 1;
  for (let i = 0; i < ndim; i++) {
    if (at + 8 > bytes.length) throw badBinary("insufficient data left in message");
    const d = view.getInt32(at);
    const l = view.getInt32(at + 4);
    if (d < 0) throw badBinary(`invalid array dimension: ${d}`);
    dims.push(d);
    lbounds.push(l);
    count *= d;
    at += 8;
  }
  // Every element takes at least its 4-byte length: a count the bytes cannot hold is refused first.
  if (count * 4 > bytes.length - at) throw badBinary("insufficient data left in message");
  const items: (string | null)[] = [];
  for (let i = 0; i < count; i++) {
    if (at + 4 > bytes.length) throw badBinary("insufficient data left in message");
    const length = view.getInt32(at);
    at += 4;
    if (length === -1) {
      items.push(null);
      continue;
    }
    if (length < 0 || at + length > bytes.length) {
      throw badBinary("insufficient data left in message");
    }
    items.push(element(bytes.subarray(at, at + length)));
    at += length;
  }
  if (at !== bytes.length) throw badBinary("incorrect binary data format in array");
  if (count === 0) return "{}";
  return formatArray({ dims, lbounds, items });
}
