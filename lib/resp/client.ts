// A small RESP client over one TCP connection: send a command, get its
// reply as a value. Replies are matched to commands in order (RESP is
// strictly ordered); RESP3 pushes are queued apart for `nextPush()`.
// Error replies come back as RespError values, not exceptions, so callers
// (tests, the http-api's cache-aside) can inspect them.
//
// Left out: reconnects, cluster redirects, client-side caching.

import { isIncomplete } from "../decode.ts";
import { closeQuietly } from "../net/close.ts";
import { decodeReply, encodeCommand } from "./codec.ts";
import { DEFAULT_LIMITS, RespPush, type RespValue } from "./types.ts";

export interface RespClientOptions {
  hostname?: string;
  port: number;
}

export class RespClient {
  #conn: Deno.TcpConn;
  #buf = new Uint8Array(0);
  #chunk = new Uint8Array(64 * 1024);
  #pushes: RespPush[] = [];
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  static async connect(options: RespClientOptions): Promise<RespClient> {
    const conn = await Deno.connect({
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port,
    });
    conn.setNoDelay(true);
    return new RespClient(conn);
  }

  /** Sends one command and resolves with its reply. */
  send(...args: (string | number | Uint8Array)[]): Promise<RespValue> {
    return this.pipeline([args]).then((replies) => replies[0]);
  }

  /** Sends several commands in one write and resolves with their replies, in order. */
  pipeline(commands: (string | number | Uint8Array)[][]): Promise<RespValue[]> {
    const run = async () => {
      const parts = commands.map((args) => encodeCommand(args));
      const size = parts.reduce((n, part) => n + part.length, 0);
      const out = new Uint8Array(size);
      let at = 0;
      for (const part of parts) {
        out.set(part, at);
        at += part.length;
      }
      let written = 0;
      while (written < out.length) written += await this.#conn.write(out.subarray(written));
      const replies: RespValue[] = [];
      while (replies.length < commands.length) {
        const value = await this.#read();
        if (value instanceof RespPush && !isCommandReplyPush(value)) this.#pushes.push(value);
        else replies.push(value);
      }
      return replies;
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => {});
    return result;
  }

  /** The next value the server sends unasked (pub/sub messages). */
  async nextPush(): Promise<RespValue> {
    const queued = this.#pushes.shift();
    if (queued !== undefined) return queued;
    return await this.#read();
  }

  async #read(): Promise<RespValue> {
    // Bytes the buffer must hold before decoding again: a large bulk is
    // decoded once it has all arrived, not once per read.
    let need = 0;
    while (true) {
      if (this.#buf.length >= need) {
        const result = decodeReply(this.#buf, DEFAULT_LIMITS);
        if (!isIncomplete(result)) {
          this.#buf = this.#buf.slice(result.bytesUsed);
          return result.value;
        }
        need = this.#buf.length + Math.max(1, result.bytesNeeded);
      }
      const n = await this.#conn.read(this.#chunk);
      if (n === null) throw new Deno.errors.UnexpectedEof("server closed the connection");
      const next = new Uint8Array(this.#buf.length + n);
      next.set(this.#buf);
      next.set(this.#chunk.subarray(0, n), this.#buf.length);
      this.#buf = next;
    }
  }

  close(): void {
    closeQuietly(this.#conn);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Subscribe confirmations arrive as pushes in RESP3 but answer a command. */
function isCommandReplyPush(push: RespPush): boolean {
  const kind = push.items[0];
  if (!(kind instanceof Uint8Array)) return false;
  const text = new TextDecoder().decode(kind);
  return text === "subscribe" || text === "psubscribe" || text === "unsubscribe" ||
    text === "punsubscribe";
}
