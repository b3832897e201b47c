// A raw STOMP peer for tests: writes exact bytes, reads decoded frames, and
// can tell when the broker closed the connection. For the bytes polite
// clients never send (STYLE.md habit 9).

import { type Bytes, utf8 } from "../../../lib/bytes.ts";
import { isIncomplete } from "../../../lib/decode.ts";
import { closeQuietly } from "../../../lib/net/close.ts";
import { ReadBuffer } from "../../../lib/net/read_buffer.ts";
import { writeAll } from "../../../lib/net/write_all.ts";
import { decodeFrame } from "../../../lib/stomp/codec.ts";
import {
  DEFAULT_LIMITS,
  type Frame,
  headerOf,
  type StompVersion,
} from "../../../lib/stomp/types.ts";

export class RawStomp implements AsyncDisposable {
  readonly conn: Deno.TcpConn;
  #input = new ReadBuffer({ sizeBytesMax: 16 * 1024 * 1024 });
  version: StompVersion = "1.2";

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  static async open(port: number): Promise<RawStomp> {
    return new RawStomp(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Opens and completes CONNECT; returns the CONNECTED frame. */
  static async connected(
    port: number,
    headers = "accept-version:1.2\nhost:x\n",
  ): Promise<RawStomp> {
    const raw = await RawStomp.open(port);
    await raw.write(`CONNECT\n${headers}\n\0`);
    const frame = await raw.read();
    if (frame?.command !== "CONNECTED") throw new Error(`not connected: ${JSON.stringify(frame)}`);
    raw.version = (headerOf(frame, "version") ?? "1.0") as StompVersion;
    return raw;
  }

  async write(data: string | Bytes): Promise<void> {
    await writeAll(this.conn, typeof data === "string" ? utf8(data) : data);
  }

  /** The next frame (heart-beats skipped), or null once the broker closed the connection. */
  async read(): Promise<Frame | null> {
    while (true) {
      const decoded = decodeFrame(
        this.#input.bytes,
        DEFAULT_LIMITS,
        this.#input.start,
        this.#input.end,
        this.version,
      );
      if (isIncomplete(decoded)) {
        let n: number | null;
        try {
          n = await this.#input.fill(this.conn, decoded.bytesNeeded);
        } catch {
          return null;
        }
        if (n === null) return null;
        continue;
      }
      this.#input.consume(decoded.bytesUsed);
      if (decoded.value !== null) return decoded.value;
    }
  }

  /** Reads until the connection closes; returns the frames seen. */
  async readToEnd(): Promise<Frame[]> {
    const frames: Frame[] = [];
    let frame;
    while ((frame = await this.read()) !== null) frames.push(frame);
    return frames;
  }

  close(): void {
    closeQuietly(this.conn);
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}
