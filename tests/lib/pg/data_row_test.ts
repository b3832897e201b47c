// writeDataRow() and MessageWriter.sizedText(): the server's direct DataRow
// path must give the bytes of the DataRow message it stands for, whatever
// the text (ASCII copied by hand up to its bound, anything else through the
// encoder), and keep messages around it intact.

import assert from "node:assert/strict";
import { type Bytes, fromHex, utf8 } from "../../../lib/bytes.ts";
import {
  encodeBackendMessage,
  type FieldWriter,
  writeBackendMessage,
  writeDataRow,
} from "../../../lib/pg/backend.ts";
import { MessageWriter } from "../../../lib/pg/wire.ts";

const asText: FieldWriter<string> = (w, v) => w.sizedText(v);
const asBytes: FieldWriter<string> = (w, v) => w.sizedBytes(utf8(v) as Bytes);

function direct(values: (string | null)[], field: FieldWriter<string>): Bytes {
  const w = new MessageWriter();
  writeDataRow(w, values, values.map(() => field));
  return w.finish();
}

function viaMessage(values: (string | null)[]): Bytes {
  return encodeBackendMessage({
    type: "DataRow",
    values: values.map((v) => (v === null ? null : utf8(v) as Bytes)),
  });
}

const ROWS: { name: string; values: (string | null)[] }[] = [
  { name: "no columns", values: [] },
  { name: "an integer", values: ["42"] },
  { name: "NULL and empty text", values: [null, "", null] },
  { name: "ASCII at the hand-copy bound", values: ["x".repeat(32)] },
  { name: "ASCII just past it", values: ["y".repeat(33)] },
  { name: "long ASCII", values: ["z".repeat(5000)] },
  { name: "non-ASCII in short text", values: ["caf\u00e9", "\u65e5\u672c", "a\u{1f600}b"] },
  { name: "non-ASCII at the end of the bound", values: ["a".repeat(31) + "\u00e9"] },
  { name: "a row of pgbench_accounts", values: ["1", "1", "0", " ".repeat(84)] },
];

for (const { name, values } of ROWS) {
  Deno.test(`writeDataRow() writes the DataRow message's bytes: ${name}`, () => {
    assert.deepEqual(direct(values, asText), viaMessage(values));
    assert.deepEqual(direct(values, asBytes), viaMessage(values));
  });
}

Deno.test("writeDataRow() appends after other messages and before the next", () => {
  const w = new MessageWriter();
  writeBackendMessage(w, { type: "BindComplete" });
  writeDataRow(w, ["7", null], [asText, asText]);
  writeBackendMessage(w, { type: "CommandComplete", tag: "SELECT 1" });
  // BindComplete; DataRow of 2 values ("7", NULL); CommandComplete "SELECT 1".
  const expected = fromHex(
    "32 00000004" +
      "44 0000000f 0002 00000001 37 ffffffff" +
      "43 0000000d 53454c4543542031 00",
  );
  assert.deepEqual(w.finish(), expected);
});

Deno.test("MessageWriter.sizedText() grows the buffer for text longer than it", () => {
  const w = new MessageWriter();
  const text = "\u00e9".repeat(1000); // 2000 bytes of UTF-8, past the 256-byte start
  w.sizedText(text);
  const bytes = w.finish();
  assert.equal(new DataView(bytes.buffer).getInt32(0), 2000);
  assert.deepEqual(bytes.subarray(4), utf8(text));
});
