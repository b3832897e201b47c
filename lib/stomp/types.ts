// STOMP types shared by the codec, the client and the broker.
//
// A frame is a command, an ordered list of headers and a body
// (STOMP 1.2, "STOMP Frames"). Headers stay a list, not a map: the spec
// keeps repeated headers ("only the first header entry SHOULD be used as
// the value") and a broker passes user headers through in order.

import type { Bytes } from "../bytes.ts";

/** The protocol versions this codec speaks (stomp.github.io). */
export type StompVersion = "1.0" | "1.1" | "1.2";

export const STOMP_VERSIONS: readonly StompVersion[] = ["1.0", "1.1", "1.2"];

export type Header = [name: string, value: string];

export interface Frame {
  /** The command line, e.g. "SEND", "MESSAGE", "ERROR". */
  readonly command: string;
  /** Headers in wire order, already unescaped; the first of a repeated name wins. */
  readonly headers: Header[];
  /** The body: a copy, never a view into the read buffer. */
  readonly body: Bytes;
}

/**
 * The codec's bounds. Past one the decoder throws LimitError naming it, and
 * the broker answers with an ERROR frame and closes that connection only.
 */
export interface StompLimits {
  /**
   * A whole frame (command, headers, body, NUL) at most. RabbitMQ's STOMP
   * plugin caps frames at 4 MiB by default (`stomp.max_frame_size`);
   * ActiveMQ's maxDataLength is larger, but a broker holding messages
   * in memory and on disk wants a bound it can afford per connection.
   */
  readonly frameBytesMax: number;
  /** Headers per frame at most: ActiveMQ's `maxHeaders` default, 1000. */
  readonly headersMax: number;
  /** One header line (name, colon, value) at most: ActiveMQ's `maxHeaderLength`, 10 KiB. */
  readonly headerBytesMax: number;
}

export const DEFAULT_LIMITS: StompLimits = Object.freeze({
  frameBytesMax: 4 * 1024 * 1024,
  headersMax: 1000,
  headerBytesMax: 10 * 1024,
});

/** The first value of header `name`, or undefined. */
export function headerOf(frame: { headers: readonly Header[] }, name: string): string | undefined {
  for (const [key, value] of frame.headers) if (key === name) return value;
  return undefined;
}

const EMPTY: Bytes = new Uint8Array(0);

/** Builds a frame from a command, a header record or list, and an optional body. */
export function makeFrame(
  command: string,
  headers: Record<string, string | number | undefined> | Header[] = [],
  body: Bytes | string = EMPTY,
): Frame {
  const list: Header[] = Array.isArray(headers) ? headers : [];
  if (!Array.isArray(headers)) {
    for (const [name, value] of Object.entries(headers)) {
      if (value !== undefined) list.push([name, String(value)]);
    }
  }
  return {
    command,
    headers: list,
    body: typeof body === "string" ? new TextEncoder().encode(body) as Bytes : body,
  };
}
