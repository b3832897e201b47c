// Micro-benchmarks of the storage engine's per-read costs, in-process: what
// a point lookup on a table larger than the buffer pool pays per page miss
// (a new 8 KiB buffer, a positioned read, directly and through the file
// layer, the page checksum), against a bare pass over the page's bytes
// (baseline); and decoding one row of the shape
// bench/storage.ts uses (int64, 48-byte text, int64).
//
//   deno bench -A bench/micro/storage_read_bench.ts

import { realFiles } from "../../lib/fs/file_layer.ts";
import { crc32c } from "../../services/datastore/storage/crc32c.ts";
import { PAGE_BYTES } from "../../services/datastore/storage/pages.ts";
import {
  type ColumnType,
  decodeRow,
  encodeRow,
} from "../../services/datastore/storage/row_codec.ts";

const page = crypto.getRandomValues(new Uint8Array(PAGE_BYTES));
const PAGES = 256;
const path = Deno.makeTempFileSync({ prefix: "underhood-bench-pages-" });
Deno.writeFileSync(path, new Uint8Array(PAGES * PAGE_BYTES).map((_, i) => i & 0xff));
const file = Deno.openSync(path, { read: true });
let next = 0;

Deno.bench({
  name: "pass over an 8 KiB page (baseline)",
  group: "page miss",
  baseline: true,
  fn() {
    let x = 0;
    for (let i = 0; i < page.length; i += 8) x ^= page[i];
    if (x === 256) throw new Error("unreachable");
  },
});

Deno.bench({
  name: "crc32c of an 8 KiB page",
  group: "page miss",
  fn() {
    crc32c(page.subarray(4));
  },
});

Deno.bench({
  name: "new 8 KiB page buffer",
  group: "page miss",
  fn() {
    new Uint8Array(PAGE_BYTES);
  },
});

const into = new Uint8Array(PAGE_BYTES);
Deno.bench({
  name: "seek and read one page (OS cache)",
  group: "page miss",
  fn() {
    file.seekSync((next++ % PAGES) * PAGE_BYTES, Deno.SeekMode.Start);
    file.readSync(into);
  },
});

// The same read through the file layer (lib/fs/file_layer.ts), as the
// buffer pool does it: one interface call more, and no allocation.
const layered = realFiles.open(path);
let nextLayered = 0;
Deno.bench({
  name: "read one page through the file layer (OS cache)",
  group: "page miss",
  fn() {
    // Every seventh page, so every read seeks, as the raw read above does.
    layered.readAt(into, ((nextLayered++ * 7) % PAGES) * PAGE_BYTES);
  },
});

const TYPES: ColumnType[] = ["int64", "text", "int64"];
const ROW = encodeRow(TYPES, [123_456n, "value-123456".padEnd(48, "."), 456n]);

Deno.bench({
  name: "decodeRow (int64, 48-byte text, int64)",
  group: "row",
  baseline: true,
  fn() {
    decodeRow(TYPES, ROW);
  },
});

globalThis.addEventListener("unload", () => {
  file.close();
  layered.close();
  Deno.removeSync(path);
});
