// Runs a transcript (transcripts.ts) against the real server over TCP, and
// small helpers for raw SMTP conversations in tests.

import assert from "node:assert/strict";
import { utf8 } from "../../../lib/bytes.ts";
import type { Transcript } from "./transcripts.ts";

/** How long a read helper waits before giving up: a failsafe, never an assertion. */
const GIVE_UP_MS = 10_000;

/** Reads CRLF-terminated lines from a connection. */
export class LineReader {
  #conn: Deno.Conn;
  #pending = "";
  #buf = new Uint8Array(65536);
  #decoder = new TextDecoder();
  closed = false;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** The next line without its CRLF, or undefined once the server closed. */
  async line(): Promise<string | undefined> {
    while (!this.#pending.includes("\r\n")) {
      if (this.closed) return undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const giveUp = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), GIVE_UP_MS);
      });
      const n = await Promise.race([this.#conn.read(this.#buf).catch(() => null), giveUp]);
      clearTimeout(timer);
      if (n === "timeout") throw new Error(`no reply within ${GIVE_UP_MS} ms`);
      if (n === null) {
        this.closed = true;
        continue;
      }
      this.#pending += this.#decoder.decode(this.#buf.subarray(0, n), { stream: true });
    }
    const end = this.#pending.indexOf("\r\n");
    const line = this.#pending.slice(0, end);
    this.#pending = this.#pending.slice(end + 2);
    return line;
  }

  /** Every line of the next reply (up to the line with a space after the code). */
  async reply(): Promise<string[]> {
    const lines: string[] = [];
    while (true) {
      const line = await this.line();
      if (line === undefined) {
        if (lines.length === 0) throw new Error("connection closed before a reply");
        return lines;
      }
      lines.push(line);
      if (line[3] !== "-") return lines;
    }
  }

  /** True once the server closed (reads until then). */
  async closedByServer(): Promise<boolean> {
    while (!this.closed) {
      const line = await this.line();
      if (line === undefined) break;
    }
    return true;
  }
}

export async function send(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = utf8(text);
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

export async function runOnSocket(transcript: Transcript, port: number): Promise<void> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const reader = new LineReader(conn);
  const greeting = await reader.reply();
  assert.match(greeting[0], /^220 /);
  for (const step of transcript.steps) {
    if ("c" in step) await send(conn, step.c);
    else {
      for (const expected of step.s) {
        const line = await reader.line();
        assert.ok(line !== undefined, `${transcript.name}: closed before ${expected}`);
        assert.ok(line.startsWith(expected), `${transcript.name}: ${line} for ${expected}`);
      }
    }
  }
}
