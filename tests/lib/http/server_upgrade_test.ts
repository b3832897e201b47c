// Upgrades (101 Switching Protocols, RFC 9110 section 7.8): a handler that
// answers 101 with an `upgrade` function gets the socket after the 101 head,
// with the bytes the client sent right behind its request head.

import assert from "node:assert/strict";
import { serveHttp } from "../../../lib/http/server.ts";

async function readUntil(conn: Deno.Conn, done: (text: string) => boolean): Promise<string> {
  const buf = new Uint8Array(4096);
  let text = "";
  while (!done(text)) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return text;
}

Deno.test("lib/http server hands the socket to a 101 response's upgrade function", async () => {
  await using server = serveHttp({
    handler: () => ({
      status: 101,
      headers: { connection: "upgrade", upgrade: "echo" },
      async upgrade(socket, buffered) {
        // Echo upper-cased, starting with what came in with the head.
        const up = (b: Uint8Array) =>
          new TextEncoder().encode(new TextDecoder().decode(b).toUpperCase());
        if (buffered.length > 0) await socket.write(up(buffered));
        const buf = new Uint8Array(1024);
        while (true) {
          const n = await socket.read(buf);
          if (n === null) return;
          await socket.write(up(buf.subarray(0, n)));
        }
      },
    }),
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  try {
    await conn.write(new TextEncoder().encode(
      "GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly ",
    ));
    let text = await readUntil(conn, (t) => t.includes("EARLY "));
    assert.match(text, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(text, /\r\nconnection: upgrade\r\n/);
    assert.match(text, /\r\nupgrade: echo\r\n/);
    await conn.write(new TextEncoder().encode("later"));
    text = await readUntil(conn, (t) => t.includes("LATER"));
    assert.equal(text, "LATER");
    assert.equal(server.connections, 1);
  } finally {
    conn.close();
  }
});
