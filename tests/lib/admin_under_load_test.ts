// Health checks get through an admin port whatever other clients do: with
// 1100 connections open that are idle or trickle a head in (slowloris),
// /healthz still answers 200, because at the cap (1024) a new client closes
// the longest-idle connection instead of being refused.

import assert from "node:assert/strict";
import { closeQuietly } from "../../lib/net/close.ts";
import { startAdminServer } from "../../lib/admin.ts";

const IDLE = 550;
const TRICKLING = 550;

async function healthz(port: number): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      new TextEncoder().encode("GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"),
    );
    let text = "";
    const buf = new Uint8Array(4096);
    while (!text.includes("\r\n")) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
    return match ? Number(match[1]) : 0;
  } finally {
    closeQuietly(conn);
  }
}

Deno.test("/healthz answers 200 while 1100 idle or trickling connections are open", async () => {
  // A header timeout longer than the test: on a loaded machine opening 1100
  // connections can take longer than the default 2 s, which would close them
  // as fast as they open and never reach the cap this test is about.
  const admin = startAdminServer({
    port: 0,
    checks: () => ({ self: { ok: true } }),
    headerTimeoutMs: 120_000,
  });
  const port = admin.addr.port;
  const conns: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < IDLE + TRICKLING; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.push(conn);
      // Half of them start a head they never finish.
      if (i % 2 === 1) await conn.write(new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHo"));
    }
    // Wait until the server has taken them all in: it sits at its cap.
    for (let i = 0; i < 4_000 && admin.connections < 1024; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.equal(admin.connections, 1024);
    for (let round = 0; round < 5; round++) {
      assert.equal(await healthz(port), 200, `probe ${round}`);
      // A slowloris byte between probes changes nothing.
      await conns[conns.length - 1].write(new TextEncoder().encode("s")).catch(() => 0);
    }
  } finally {
    for (const conn of conns) {
      closeQuietly(conn);
    }
    await admin.close();
  }
});
