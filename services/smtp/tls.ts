// STARTTLS on the server side (RFC 3207), on a Deno that cannot upgrade an
// accepted TcpConn to TLS itself: `Deno.startTls` only plays the client
// (denoland/deno#18451). So the server keeps one TLS listener of its own on
// 127.0.0.1 (port 0) with the configured certificate; on STARTTLS the
// connection's raw bytes are piped to a fresh loopback connection to it, and
// the session goes on over the TlsConn that listener accepts, which sees the
// plaintext. The handshake is the listener's (rustls); the cost is one
// loopback hop per TLS session and two copy loops.
//
// Matching: the accepted TlsConn's remote port is the loopback client's
// local port, which is how `upgrade()` finds its own among concurrent ones.
//
// Left out: SNI and several certificates; client certificates.

import { closeQuietly } from "../../lib/net/close.ts";
import { writeAll } from "../../lib/net/write_all.ts";

export interface TlsFiles {
  /** PEM certificate chain. */
  cert: string;
  /** PEM private key. */
  key: string;
}

/** How long the client may take to finish the handshake. */
const HANDSHAKE_TIMEOUT_MS = 30_000;
const PIPE_CHUNK_BYTES = 16 * 1024;
/** Loopback connections accepted before their upgrade() claimed them, at most. */
const UNCLAIMED_MAX = 1024;

export class TlsTerminator {
  #listener: Deno.TlsListener;
  #waiting = new Map<number, (conn: Deno.TlsConn) => void>();
  /** Accepted before their `upgrade()` looked (bounded: one per upgrade in flight). */
  #unclaimed = new Map<number, Deno.TlsConn>();
  #acceptLoop: Promise<void>;
  #closed = false;

  constructor(files: TlsFiles) {
    this.#listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: files.cert,
      key: files.key,
    });
    this.#acceptLoop = this.#accept();
  }

  /**
   * Runs the TLS handshake with the client on `outer` (which must have no
   * read pending); returns the plaintext connection. `outer` stays the
   * socket: closing it ends the TLS session too. To end the session
   * gracefully, close the returned conn and await `flushed` (every byte
   * written has reached `outer`) before closing `outer`.
   */
  async upgrade(outer: Deno.Conn): Promise<{ conn: Deno.Conn; flushed: Promise<void> }> {
    const inner = await Deno.connect({ hostname: "127.0.0.1", port: this.#listener.addr.port });
    const port = inner.localAddr.port;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // The accept may come before or after this line: whichever is second
      // completes the match.
      const early = this.#unclaimed.get(port);
      this.#unclaimed.delete(port);
      const accepted = early !== undefined
        ? Promise.resolve(early)
        : new Promise<Deno.TlsConn>((resolve) => this.#waiting.set(port, resolve));
      pipe(outer, inner);
      const flushed = pipe(inner, outer);
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error("TLS handshake timed out")),
          HANDSHAKE_TIMEOUT_MS,
        );
      });
      const tls = await Promise.race([accepted, timeout]);
      try {
        await Promise.race([tls.handshake(), timeout]);
      } catch (error) {
        closeQuietly(tls);
        throw error;
      }
      return { conn: tls, flushed };
    } catch (error) {
      closeQuietly(inner);
      throw error;
    } finally {
      clearTimeout(timer);
      this.#waiting.delete(port);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    closeQuietly(this.#listener);
    await this.#acceptLoop;
    for (const conn of this.#unclaimed.values()) closeQuietly(conn);
    this.#unclaimed.clear();
  }

  async #accept(): Promise<void> {
    while (!this.#closed) {
      let conn: Deno.TlsConn;
      try {
        conn = await this.#listener.accept();
      } catch {
        if (this.#closed) return;
        continue;
      }
      const port = (conn.remoteAddr as Deno.NetAddr).port;
      const resolve = this.#waiting.get(port);
      if (resolve !== undefined) resolve(conn);
      else if (this.#unclaimed.size < UNCLAIMED_MAX) {
        this.#unclaimed.set(port, conn);
        // Never claimed (its upgrade gave up): closed, so a reused port cannot match it.
        const timer = setTimeout(() => {
          if (this.#unclaimed.get(port) !== conn) return;
          this.#unclaimed.delete(port);
          closeQuietly(conn);
        }, HANDSHAKE_TIMEOUT_MS);
        Deno.unrefTimer(timer);
      } else closeQuietly(conn);
    }
  }
}

/** Copies `from` to `to` until either ends; then closes both. */
async function pipe(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(PIPE_CHUNK_BYTES);
  try {
    while (true) {
      const n = await from.read(buf);
      if (n === null) break;
      await writeAll(to, buf.subarray(0, n));
    }
  } catch { /* either side closed */ }
  closeQuietly(from);
  closeQuietly(to);
}
