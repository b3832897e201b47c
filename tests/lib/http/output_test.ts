// OutputQueue: pieces come out in order and whole, text is UTF-8, a
// response's Content-Length counts its body's UTF-8 bytes, and the one
// buffer is reused instead of allocating per response.

import assert from "node:assert/strict";
import { fromAscii } from "../../../lib/bytes.ts";
import { LARGE_PIECE_BYTES, OutputQueue } from "../../../lib/http/output.ts";

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

Deno.test({
  name: "OutputQueue keeps a lone piece by reference and joins the rest in order",
  permissions: "none",
  fn() {
    const queue = new OutputQueue();
    const lone = fromAscii("HTTP/1.1 200 OK\r\n\r\n");
    queue.push(lone);
    assert.equal(queue.take(), lone);
    assert.equal(queue.length, 0);

    queue.push(fromAscii("a"));
    queue.pushText("b");
    queue.push(fromAscii("c"));
    assert.equal(queue.length, 3);
    assert.equal(decode(queue.take()), "abc");

    // A large piece between small ones is kept by reference, then joined in order.
    const large = new Uint8Array(LARGE_PIECE_BYTES).fill(0x78);
    queue.pushText("head;");
    queue.push(large);
    queue.pushText(";tail");
    const out = decode(queue.take());
    assert.equal(out, `head;${"x".repeat(LARGE_PIECE_BYTES)};tail`);
  },
});

Deno.test({
  name: "OutputQueue.pushResponse counts UTF-8 bytes and encodes head and body in one piece",
  permissions: "none",
  fn() {
    const queue = new OutputQueue();
    const view = queue.pushResponse(
      "HTTP/1.1 200 OK\r\nx-name: caf\u00e9\r\n",
      '{"spell":"\u00e9t\u00e9 \u{1f525}"}',
    );
    const expected = "HTTP/1.1 200 OK\r\nx-name: caf\u00e9\r\ncontent-length: 22\r\n\r\n" +
      '{"spell":"\u00e9t\u00e9 \u{1f525}"}';
    assert.equal(new TextEncoder().encode('{"spell":"\u00e9t\u00e9 \u{1f525}"}').length, 22);
    assert.equal(decode(view), expected);
    queue.pushResponse("HTTP/1.1 204 No Content\r\n", "");
    assert.equal(
      decode(queue.take()),
      expected + "HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n",
    );
  },
});

Deno.test({
  name: "OutputQueue reuses its buffer after take() and grows past it without losing bytes",
  permissions: "none",
  fn() {
    const queue = new OutputQueue();
    queue.pushText("first");
    queue.pushText(" response");
    const first = queue.take();
    assert.equal(decode(first), "first response");
    queue.pushText("second");
    queue.pushText("!");
    const second = queue.take();
    assert.equal(second.buffer, first.buffer, "the buffer is reused");
    assert.equal(decode(second), "second!");

    // More than the buffer holds: earlier views stay valid, the order holds.
    const parts: string[] = [];
    for (let i = 0; i < 40; i++) {
      const part = String(i).padStart(3, "0").repeat(100);
      parts.push(part);
      queue.pushText(part);
    }
    assert.equal(decode(queue.take()), parts.join(""));
    queue.pushText("after");
    assert.equal(decode(queue.take()), "after");
  },
});

Deno.test({
  name: "OutputQueue copies a lone small reference once more pieces follow",
  permissions: "none",
  fn() {
    const queue = new OutputQueue();
    const cached = fromAscii("cached response;");
    queue.push(cached);
    queue.push(cached);
    queue.pushText("text");
    const out = queue.take();
    assert.equal(decode(out), "cached response;cached response;text");
    assert.notEqual(out.buffer, cached.buffer);
    assert.equal(decode(cached), "cached response;", "the caller's bytes are not written to");

    // A lone piece followed straight by a large one: both, in order.
    const large = new Uint8Array(LARGE_PIECE_BYTES).fill(0x79);
    queue.push(cached);
    queue.push(large);
    queue.push(cached);
    assert.equal(
      decode(queue.take()),
      `cached response;${"y".repeat(LARGE_PIECE_BYTES)}cached response;`,
    );
    queue.push(large);
    queue.push(large);
    assert.equal(queue.take().length, 2 * LARGE_PIECE_BYTES);
  },
});
