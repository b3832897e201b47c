// WebSocket through the balancer on raw sockets: the upgrade request reaches
// the backend with Connection/Upgrade restored, the 101 comes back, and
// bytes then flow both ways through the tunnel. A backend that refuses the
// upgrade has its answer relayed.

import assert from "node:assert/strict";
import { startTestLb } from "./_support.ts";

const UPGRADE_REQUEST =
  "GET /chat?room=1 HTTP/1.1\r\nHost: chat.test\r\nConnection: keep-alive, Upgrade\r\n" +
  "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

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

/** A backend that accepts (101 then echoes "echo:" + bytes) or refuses with 426. */
function wsBackend(accept: boolean) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const heads: string[] = [];
  const conns: Deno.Conn[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      (async () => {
        const head = await readUntil(conn, (t) => t.includes("\r\n\r\n"));
        heads.push(head);
        const enc = new TextEncoder();
        if (!accept) {
          await conn.write(enc.encode(
            "HTTP/1.1 426 Upgrade Required\r\ncontent-length: 9\r\nconnection: close\r\n\r\nno thanks",
          ));
          return;
        }
        await conn.write(enc.encode(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nhello from backend;",
        ));
        const buf = new Uint8Array(1024);
        while (true) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) break;
          await conn.write(enc.encode("echo:" + new TextDecoder().decode(buf.subarray(0, n))));
        }
        conn.close();
      })().catch(() => {});
    }
  })();
  return {
    url: `http://127.0.0.1:${listener.addr.port}`,
    heads,
    async close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed already */ }
      }
      await serving.catch(() => {});
    },
  };
}

Deno.test("lb tunnels a WebSocket upgrade both ways", async () => {
  const backend = wsBackend(true);
  const lb = await startTestLb({ pools: { ws: { backends: [backend.url] } }, defaultPool: "ws" });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: lb.addresses.http.port });
  try {
    await conn.write(new TextEncoder().encode(UPGRADE_REQUEST));
    const head = await readUntil(conn, (t) => t.includes("hello from backend;"));
    assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(head, /\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/i);
    assert.match(head, /\r\nconnection: upgrade\r\n/i);
    assert.match(head, /\r\nupgrade: websocket\r\n/i);
    const seen = backend.heads[0];
    assert.match(seen, /^GET \/chat\?room=1 HTTP\/1\.1\r\n/);
    assert.match(seen, /\r\nconnection: upgrade\r\n/);
    assert.match(seen, /\r\nupgrade: websocket\r\n/);
    assert.match(seen, /\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n/);
    assert.match(seen, /\r\nx-forwarded-for: 127\.0\.0\.1\r\n/);
    for (const message of ["\x81\x05hello", "second"]) {
      await conn.write(new TextEncoder().encode(message));
      assert.equal(await readUntil(conn, (t) => t.endsWith(message)), `echo:${message}`);
    }
  } finally {
    conn.close();
    await lb.close();
    await backend.close();
  }
});

Deno.test("lb relays a backend's refusal of an upgrade", async () => {
  const backend = wsBackend(false);
  const lb = await startTestLb({ pools: { ws: { backends: [backend.url] } }, defaultPool: "ws" });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: lb.addresses.http.port });
  try {
    await conn.write(new TextEncoder().encode(UPGRADE_REQUEST));
    const text = await readUntil(conn, (t) => t.endsWith("no thanks"));
    assert.match(text, /^HTTP\/1\.1 426 /);
  } finally {
    conn.close();
    await lb.close();
    await backend.close();
  }
});
