// toKey() and fromKey(): binary strings round-trip every byte at every
// length, through each of toKey's paths (tiny, reused array, apply, chunked);
// argKey() reads the same strings in place from a read buffer.

import assert from "node:assert/strict";
import {
  CommandArgs,
  CommandSpans,
  decodeCommandSpans,
  encodeCommand,
} from "../../../lib/resp/codec.ts";
import { DEFAULT_LIMITS } from "../../../lib/resp/types.ts";
import { isIncomplete } from "../../../lib/decode.ts";
import { argKey, fromKey, toKey } from "../../../services/cache/values.ts";

Deno.test({
  name: "toKey() maps each byte to one char and fromKey() maps it back, at every length",
  permissions: "none",
  fn() {
    const lengths = [...Array.from({ length: 80 }, (_, n) => n), 8192, 8193, 20_000];
    for (const n of lengths) {
      const bytes = new Uint8Array(n);
      for (let i = 0; i < n; i++) bytes[i] = (i * 37 + n) & 255;
      const text = toKey(bytes);
      assert.equal(text.length, n);
      for (let i = 0; i < n; i++) assert.equal(text.charCodeAt(i), bytes[i], `length ${n} at ${i}`);
      assert.deepEqual(fromKey(text), bytes);
    }
  },
});

Deno.test({
  name: "toKey() gives a fresh string each call, unaffected by later calls of the same length",
  permissions: "none",
  fn() {
    const first = toKey(new TextEncoder().encode("counter:one"));
    const second = toKey(new TextEncoder().encode("counter:two"));
    assert.equal(first, "counter:one");
    assert.equal(second, "counter:two");
  },
});

Deno.test({
  name:
    "argKey() reads each argument in place as toKey() reads its view, at every length and offset",
  permissions: "none",
  fn() {
    const lengths = [...Array.from({ length: 70 }, (_, n) => n), 8192, 8193, 20_000];
    for (const lead of [0, 1, 7]) {
      const args = lengths.map((n) => {
        const bytes = new Uint8Array(n);
        for (let i = 0; i < n; i++) bytes[i] = (i * 53 + n + lead) & 255;
        return bytes;
      });
      // The command sits `lead` bytes into the buffer, after another's tail;
      // the buffer itself is a view 3 bytes into its ArrayBuffer.
      const encoded = encodeCommand(["SET", ...args]);
      const buffer = new Uint8Array(new ArrayBuffer(3 + lead + encoded.length), 3);
      buffer.set(encoded, lead);
      const spans = new CommandSpans();
      const decoded = decodeCommandSpans(buffer, DEFAULT_LIMITS, lead, buffer.length, spans);
      assert.ok(!isIncomplete(decoded));
      const parsed = CommandArgs.fromSpans(buffer, lead, spans);
      const copied = CommandArgs.of(parsed.slice().map((arg) => arg.slice()));
      for (let i = 1; i < parsed.length; i++) {
        assert.equal(argKey(parsed, i), toKey(args[i - 1]), `lead ${lead}, argument ${i}`);
        assert.equal(argKey(copied, i), toKey(args[i - 1]));
      }
    }
  },
});
