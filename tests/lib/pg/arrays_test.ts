// lib/pg/arrays.ts: array_in's reading and array_out's writing (each
// expected text is PostgreSQL 15's output for the input, or its error
// message and DETAIL), and array_send/array_recv, including hostile
// lengths refused before anything is allocated.

import assert from "node:assert/strict";
import {
  arrayFromBinary,
  arrayToBinary,
  canonicalArray,
  formatList,
  parseArrayText,
} from "../../../lib/pg/arrays.ts";
import { PgValueError } from "../../../lib/pg/value_error.ts";

const identity = (s: string) => s;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** [input, PostgreSQL 15's text[] output] */
const CANONICAL: [string, string][] = [
  ["{}", "{}"],
  ["  { }  ", "{}"],
  ['{a,"b c",NULL}', '{a,"b c",NULL}'],
  ["{ a , b }", "{a,b}"],
  ["{a b c, d}", '{"a b c",d}'],
  ['{"x\\"y","","NULL",null,Null}', '{"x\\"y","","NULL",NULL,NULL}'],
  ["{a\\,b,c\\\\d}", '{"a,b","c\\\\d"}'],
  ['{"{br}","com,ma"," lead"}', '{"{br}","com,ma"," lead"}'],
  ["{{1,2},{3,4}}", "{{1,2},{3,4}}"],
  ["{{{1}},{{2}}}", "{{{1}},{{2}}}"],
  ["[0:1]={7,8}", "[0:1]={7,8}"],
  ["[1:2]={7,8}", "{7,8}"],
  ["[-2:-1][3:3]={{a},{b}}", "[-2:-1][3:3]={{a},{b}}"],
];

/** [input, SQLSTATE, DETAIL] */
const MALFORMED: [string, string, string | undefined][] = [
  ["{1,2", "22P02", "Unexpected end of input."],
  ["{1,{2}}", "22P02", 'Unexpected "{" character.'],
  [
    "{{1},{2,3}}",
    "22P02",
    "Multidimensional arrays must have sub-arrays with matching dimensions.",
  ],
  ["1,2", "22P02", 'Array value must start with "{" or dimension information.'],
  ["{1,2}}", "22P02", "Junk after closing right brace."],
  ["{1,}", "22P02", 'Unexpected "}" character.'],
  ["{,}", "22P02", 'Unexpected "," character.'],
  ['{"a"b}', "22P02", "Unexpected array element."],
  ['{a"b}', "22P02", "Unexpected array element."],
  ["{{a}b}", "22P02", "Unexpected array element."],
  ['{"a" {b}}', "22P02", 'Unexpected "{" character.'],
  ["{{},{}}", "22P02", 'Unexpected "}" character.'],
  ["[a]={x}", "22P02", '"[" must introduce explicitly-specified array dimensions.'],
  ["[1:2]={a}", "22P02", "Specified array dimensions do not match array contents."],
  ["[2:1]={}", "2202E", undefined],
  ["{{{{{{{1}}}}}}}", "54000", undefined],
];

Deno.test("canonicalArray() reads array literals and writes them as PostgreSQL's array_out", {
  permissions: "none",
}, () => {
  for (const [input, output] of CANONICAL) {
    assert.equal(canonicalArray(input, identity), output, input);
    // The output reads back to itself.
    assert.equal(canonicalArray(output, identity), output, output);
  }
});

Deno.test("canonicalArray() refuses malformed literals with PostgreSQL's SQLSTATE and DETAIL", {
  permissions: "none",
}, () => {
  for (const [input, code, detail] of MALFORMED) {
    assert.throws(() => canonicalArray(input, identity), (error: unknown) => {
      assert.ok(error instanceof PgValueError, input);
      assert.equal(error.code, code, input);
      assert.equal(error.detail, detail, input);
      if (code === "22P02") assert.equal(error.message, `malformed array literal: "${input}"`);
      assert.equal(error.literal, input);
      return true;
    });
  }
});

Deno.test("parseArrayText() gives dimensions, lower bounds and elements in row-major order", {
  permissions: "none",
}, () => {
  assert.deepEqual(parseArrayText('[0:1][1:2]={{a,NULL},{"",d}}'), {
    dims: [2, 2],
    lbounds: [0, 1],
    items: ["a", null, "", "d"],
  });
  assert.equal(formatList(["a b", null, ""]), '{"a b",NULL,""}');
  assert.equal(formatList([]), "{}");
});

// array_send of '{1,NULL}'::int4[] from PostgreSQL 15 (captured through binary_differential_test):
//   00000001 ndim 1 | 00000001 has nulls | 00000017 element OID 23
//   00000002 dim 2  | 00000001 lower bound 1
//   00000004 00000001 the element 1 | ffffffff NULL
const INT4_ARRAY = "000000010000000100000017000000020000000100000004" + "00000001ffffffff";

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function fromHex(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g)!, (h) => parseInt(h, 16));
}

const int4Send = (text: string) => {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setInt32(0, Number(text));
  return out;
};
const int4Recv = (bytes: Uint8Array) =>
  String(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getInt32(0));

Deno.test("arrayToBinary() and arrayFromBinary() are array_send and array_recv", {
  permissions: "none",
}, () => {
  assert.equal(hex(arrayToBinary("{1,NULL}", 23, int4Send)), INT4_ARRAY);
  assert.equal(arrayFromBinary(fromHex(INT4_ARRAY), 23, int4Recv), "{1,NULL}");
  assert.equal(
    arrayFromBinary(
      arrayToBinary("{}", 25, encoder.encode.bind(encoder)),
      25,
      (b) => decoder.decode(b),
    ),
    "{}",
  );
  const grid = arrayToBinary('[0:1][1:1]={{a},{"b c"}}', 25, (t) => encoder.encode(t));
  assert.equal(arrayFromBinary(grid, 25, (b) => decoder.decode(b)), '[0:1][1:1]={{a},{"b c"}}');
});

Deno.test("arrayFromBinary() refuses hostile headers before allocating", {
  permissions: "none",
}, () => {
  const header = (ndim: number, flags: number, oid: number, dims: [number, number][]) => {
    const out = new Uint8Array(12 + dims.length * 8);
    const view = new DataView(out.buffer);
    view.setInt32(0, ndim);
    view.setInt32(4, flags);
    view.setUint32(8, oid);
    dims.forEach(([d, l], i) => {
      view.setInt32(12 + i * 8, d);
      view.setInt32(16 + i * 8, l);
    });
    return out;
  };
  const refuses = (bytes: Uint8Array, code: string) =>
    assert.throws(() => arrayFromBinary(bytes, 23, int4Recv), (e: unknown) => {
      assert.ok(e instanceof PgValueError);
      assert.equal(e.code, code);
      return true;
    });
  refuses(new Uint8Array(5), "22P03");
  refuses(header(7, 0, 23, []), "54000");
  refuses(header(1, 2, 23, [[1, 1]]), "22P03");
  refuses(header(1, 0, 25, [[1, 1]]), "42804");
  refuses(header(1, 0, 23, [[-1, 1]]), "22P03");
  // Two billion elements announced in 20 bytes: refused, not allocated.
  refuses(header(2, 0, 23, [[50000, 1], [40000, 1]]), "22P03");
  // An element length past the end.
  const long = new Uint8Array([...header(1, 0, 23, [[1, 1]]), 0, 0, 0, 9, 1]);
  refuses(long, "22P03");
});
