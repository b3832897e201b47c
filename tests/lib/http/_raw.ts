// A raw TCP client for server tests: sends exact bytes (the ones polite
// clients never send) and reads back responses with the codec under test's
// sibling, decodeResponseHead. Every read is bounded in time.

import { type Bytes, concat } from "../../../lib/bytes.ts";
import { isIncomplete } from "../../../lib/decode.ts";
import { ChunkedDecoder } from "../../../lib/http/chunked.ts";
import { decodeResponseHead, responseFraming } from "../../../lib/http/head.ts";
import type { HttpHeaders } from "../../../lib/http/headers.ts";

export interface RawResponse {
  status: number;
  headers: HttpHeaders;
  body: string;
}

const READ_TIMEOUT_MS = 15_000;

export class RawClient {
  #conn: Deno.TcpConn;
  #buf: Bytes = new Uint8Array(0);
  #eof = false;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  static async connect(port: number): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Writes the bytes; a peer that already closed is not an error here. */
  async send(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    try {
      let offset = 0;
      while (offset < bytes.length) offset += await this.#conn.write(bytes.subarray(offset));
    } catch { /* reset: the response may still be readable */ }
  }

  /** Reads one response; null when the connection ends first. */
  async response(method = "GET", options: { interim?: boolean } = {}): Promise<RawResponse | null> {
    while (true) {
      const decoded = decodeResponseHead(this.#buf);
      if (!isIncomplete(decoded)) {
        const head = decoded.value;
        this.#buf = this.#buf.slice(decoded.bytesUsed);
        if (head.status === 100) {
          if (options.interim) return { status: 100, headers: head.headers, body: "" };
          continue;
        }
        const framing = responseFraming(method, head);
        let body: Bytes;
        if (framing.kind === "length") {
          while (this.#buf.length < framing.length) {
            if (!(await this.#more())) throw new Error("EOF inside body");
          }
          body = this.#buf.slice(0, framing.length);
          this.#buf = this.#buf.slice(framing.length);
        } else if (framing.kind === "chunked") {
          const decoder = new ChunkedDecoder();
          const parts: Bytes[] = [];
          while (true) {
            const used = decoder.push(this.#buf, parts);
            const copied = parts.map((p) => p.slice());
            parts.length = 0;
            parts.push(...copied);
            this.#buf = this.#buf.slice(used);
            if (decoder.done) break;
            if (!(await this.#more())) throw new Error("EOF inside chunked body");
          }
          body = concat(parts);
        } else if (framing.kind === "close") {
          while (await this.#more());
          body = this.#buf;
          this.#buf = new Uint8Array(0);
        } else {
          body = new Uint8Array(0);
        }
        return { status: head.status, headers: head.headers, body: new TextDecoder().decode(body) };
      }
      if (!(await this.#more())) return null;
    }
  }

  /** True when the server has closed (EOF or reset) with nothing more to read. */
  async closedByPeer(): Promise<boolean> {
    if (this.#buf.length > 0) return false;
    return !(await this.#more());
  }

  async #more(): Promise<boolean> {
    if (this.#eof) return false;
    const chunk = new Uint8Array(64 * 1024);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const n = await Promise.race([
        this.#conn.read(chunk),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("read timed out")), READ_TIMEOUT_MS);
        }),
      ]);
      if (n === null) {
        this.#eof = true;
        return false;
      }
      this.#buf = concat([this.#buf, chunk.subarray(0, n)]);
      return true;
    } catch (error) {
      if (error instanceof Error && error.message === "read timed out") throw error;
      this.#eof = true; // reset
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** A minimal good request, used to probe that a connection or server still works. */
export const GOOD_REQUEST = "GET / HTTP/1.1\r\nHost: test\r\n\r\n";
