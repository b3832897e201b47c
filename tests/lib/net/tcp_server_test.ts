// serveTcp(): the connection cap with longest-idle eviction, refusal when
// every connection is busy, drain on close, deadlines through the sweep,
// the address-in-use message, and SO_REUSEPORT.
//
// The test protocol is line based: "ping" is answered "pong" at once;
// "hold" is answered "held", then the connection stays busy until the
// client sends "go" (answered "done").

import assert from "node:assert/strict";
import { closeQuietly } from "../../../lib/net/close.ts";
import { ReadBuffer } from "../../../lib/net/read_buffer.ts";
import {
  serveTcp,
  type TcpConnection,
  type TcpServerOptions,
} from "../../../lib/net/tcp_server.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function lineHandler(c: TcpConnection): Promise<void> {
  const input = new ReadBuffer({ sizeBytesMax: 1024 });
  const nextLine = async (): Promise<string | null> => {
    while (true) {
      const lf = input.view().indexOf(10);
      if (lf !== -1) {
        const line = decoder.decode(input.view().subarray(0, lf));
        input.consume(lf + 1);
        return line;
      }
      if (await input.fill(c.conn) === null) return null;
    }
  };
  c.markIdle();
  while (true) {
    const line = await nextLine();
    if (line === null) return;
    c.markBusy();
    if (line === "hold") {
      await c.conn.write(encoder.encode("held\n"));
      if (await nextLine() !== "go") return;
      await c.conn.write(encoder.encode("done\n"));
    } else {
      await c.conn.write(encoder.encode("pong\n"));
    }
    if (c.draining) return;
    c.markIdle();
  }
}

function serve(options: Partial<TcpServerOptions> = {}) {
  return serveTcp({
    label: "test port",
    port: 0,
    connectionsMax: 3,
    refusalBytes: encoder.encode("busy\n"),
    handler: lineHandler,
    ...options,
  });
}

class Client {
  #conn: Deno.TcpConn;
  #pending = "";
  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }
  static async connect(port: number): Promise<Client> {
    return new Client(await Deno.connect({ hostname: "127.0.0.1", port }));
  }
  send(line: string): Promise<number> {
    return this.#conn.write(encoder.encode(line + "\n"));
  }
  /** The next line, or null once the server closed the connection. */
  async line(): Promise<string | null> {
    const buf = new Uint8Array(256);
    while (!this.#pending.includes("\n")) {
      let n: number | null;
      try {
        n = await this.#conn.read(buf);
      } catch {
        n = null; // reset by the server
      }
      if (n === null) return null;
      this.#pending += decoder.decode(buf.subarray(0, n));
    }
    const lf = this.#pending.indexOf("\n");
    const line = this.#pending.slice(0, lf);
    this.#pending = this.#pending.slice(lf + 1);
    return line;
  }
  async ask(line: string): Promise<string | null> {
    await this.send(line);
    return await this.line();
  }
  close(): void {
    closeQuietly(this.#conn);
  }
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2_000; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

Deno.test("serveTcp() at the cap closes the longest-idle connection to serve a new client", async () => {
  await using server = serve();
  const clients: Client[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const client = await Client.connect(server.addr.port);
      clients.push(client);
      assert.equal(await client.ask("ping"), "pong");
    }
    // Client 0 has been idle the longest; use client 1 again so it is the newest.
    assert.equal(await clients[1].ask("ping"), "pong");
    const late = await Client.connect(server.addr.port);
    clients.push(late);
    assert.equal(await late.ask("ping"), "pong");
    assert.equal(await clients[0].line(), null, "the longest-idle connection is closed");
    assert.equal(await clients[1].ask("ping"), "pong");
    assert.equal(await clients[2].ask("ping"), "pong");
    assert.equal(server.evicted, 1);
    assert.equal(server.refused, 0);
    assert.equal(server.connections, 3);
  } finally {
    for (const client of clients) client.close();
  }
});

Deno.test("serveTcp() refuses with the protocol's bytes when every connection is busy", async () => {
  await using server = serve({ connectionsMax: 2 });
  const busy = [await Client.connect(server.addr.port), await Client.connect(server.addr.port)];
  try {
    for (const client of busy) assert.equal(await client.ask("hold"), "held");
    const refused = await Client.connect(server.addr.port);
    assert.equal(await refused.line(), "busy");
    assert.equal(await refused.line(), null);
    refused.close();
    assert.equal(server.refused, 1);
    assert.equal(server.evicted, 0);
    // The busy ones were not disturbed.
    for (const client of busy) assert.equal(await client.ask("go"), "done");
  } finally {
    for (const client of busy) client.close();
  }
});

Deno.test("serveTcp().close() closes idle connections at once and lets busy ones finish", async () => {
  const server = serve();
  const idle = await Client.connect(server.addr.port);
  const busy = await Client.connect(server.addr.port);
  try {
    assert.equal(await idle.ask("ping"), "pong");
    assert.equal(await busy.ask("hold"), "held");
    const closing = server.close(30_000);
    assert.equal(await idle.line(), null, "idle connection closed at once");
    // The busy one still gets its answer, then the server closes it.
    assert.equal(await busy.ask("go"), "done");
    assert.equal(await busy.line(), null);
    await closing;
    assert.equal(server.connections, 0);
    // No longer accepting.
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: server.addr.port }));
  } finally {
    idle.close();
    busy.close();
  }
});

Deno.test("serveTcp().close() closes busy connections at the drain deadline", async () => {
  const server = serve();
  const busy = await Client.connect(server.addr.port);
  try {
    assert.equal(await busy.ask("hold"), "held");
    await server.close(20);
    assert.equal(await busy.line(), null);
    assert.equal(server.connections, 0);
  } finally {
    busy.close();
  }
});

Deno.test("serveTcp() a connection marking itself idle while draining is closed", async () => {
  const server = serve();
  const client = await Client.connect(server.addr.port);
  try {
    assert.equal(await client.ask("hold"), "held");
    const closing = server.close(30_000);
    await waitFor(() => server.connections === 1, "drain to start");
    // "go" makes the handler answer, then see `draining` and return.
    assert.equal(await client.ask("go"), "done");
    assert.equal(await client.line(), null);
    await closing;
  } finally {
    client.close();
  }
});

Deno.test("serveTcp() closes a connection past its deadline, or calls onDeadline", async () => {
  const reasons: string[] = [];
  await using server = serve({
    handler: (c) => {
      if (c.conn.remoteAddr.port % 2 === 0) {
        c.onDeadline = (reason) => {
          reasons.push(reason);
          c.conn.write(encoder.encode(`timeout ${reason}\n`)).finally(() => c.close());
        };
      }
      c.setDeadline(60_000, "idle");
      return lineHandler(c);
    },
  });
  const clients = [await Client.connect(server.addr.port), await Client.connect(server.addr.port)];
  try {
    for (const client of clients) assert.equal(await client.ask("ping"), "pong");
    // No waiting: move the server's clock past the deadline.
    server.sweep.sweep(server.sweep.now + 60_001);
    for (const client of clients) {
      const line = await client.line();
      if (line !== null) {
        assert.equal(line, "timeout idle");
        assert.equal(await client.line(), null);
      }
    }
    assert.ok(reasons.every((reason) => reason === "idle"));
    await waitFor(() => server.connections === 0, "both connections to close");
  } finally {
    for (const client of clients) client.close();
  }
});

Deno.test("serveTcp() names the listener and the address when the port is taken", async () => {
  await using first = serve();
  const port = first.addr.port;
  assert.throws(
    () => serve({ label: "cache service port", port }),
    (error: unknown) =>
      error instanceof Deno.errors.AddrInUse &&
      error.message === `cache service port 127.0.0.1:${port}: address already in use`,
  );
});

Deno.test("serveTcp() with reusePort lets two servers share a port", async () => {
  await using first = serve({ reusePort: true });
  await using second = serve({ reusePort: true, port: first.addr.port });
  assert.equal(second.addr.port, first.addr.port);
  const client = await Client.connect(first.addr.port);
  try {
    assert.equal(await client.ask("ping"), "pong");
  } finally {
    client.close();
  }
});

Deno.test("serveTcp() keeps serving after a handler throws", async () => {
  let calls = 0;
  await using server = serve({
    handler: (c) => {
      if (calls++ === 0) throw new Error("handler bug");
      return lineHandler(c);
    },
    log: { warn: () => {}, debug: () => {} } as unknown as TcpServerOptions["log"],
  });
  const first = await Client.connect(server.addr.port);
  assert.equal(await first.line(), null);
  first.close();
  const second = await Client.connect(server.addr.port);
  try {
    assert.equal(await second.ask("ping"), "pong");
  } finally {
    second.close();
  }
});

Deno.test("serveTcp() says goodbyeBytes to an idle connection it evicts or drains", async () => {
  const server = serve({ connectionsMax: 1, goodbyeBytes: encoder.encode("bye\n") });
  const first = await Client.connect(server.addr.port);
  let second: Client | undefined;
  try {
    assert.equal(await first.ask("ping"), "pong");
    second = await Client.connect(server.addr.port);
    assert.equal(await second.ask("ping"), "pong");
    assert.equal(await first.line(), "bye", "evicted with a goodbye");
    assert.equal(await first.line(), null);
    await server.close(30_000);
    assert.equal(await second.line(), "bye", "drained with a goodbye");
    assert.equal(await second.line(), null);
  } finally {
    first.close();
    second?.close();
  }
});
