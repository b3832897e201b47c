// RESP value types and limits, shared by the codec, the client and the cache.
//
// RESP2 and RESP3 as described in the Redis protocol specification
// (https://redis.io/docs/latest/develop/reference/protocol-spec/). A request
// is always an array of bulk strings (or an inline line); replies use every
// RESP3 type. Streamed aggregates (`$?`, `*?`) and attributes (`|`) are left
// out: servers we talk to never send them unasked.

import type { Bytes } from "../bytes.ts";

/** Bounds a server puts on what a client may send, with Redis's defaults. */
export interface RespLimits {
  /** Largest bulk string: Redis's proto-max-bulk-len, 512 MiB. */
  bulkBytesMax: number;
  /** Most elements in one request array: Redis's 1024*1024 (networking.c). */
  arrayLengthMax: number;
  /** Longest inline command or length header line: PROTO_INLINE_MAX_SIZE, 64 KiB. */
  inlineBytesMax: number;
}

export const DEFAULT_LIMITS: Readonly<RespLimits> = {
  bulkBytesMax: 512 * 1024 * 1024,
  arrayLengthMax: 1024 * 1024,
  inlineBytesMax: 64 * 1024,
};

/** An error reply (`-ERR ...` or `!` in RESP3), kept as a value, not thrown. */
export class RespError extends Error {
  override name = "RespError";
  /** The first word: "ERR", "WRONGTYPE", "NOAUTH", ... */
  readonly code: string;
  constructor(message: string) {
    super(message);
    const space = message.indexOf(" ");
    this.code = space === -1 ? message : message.slice(0, space);
  }
}

/** A RESP3 push message (`>`), such as a pub/sub message. */
export class RespPush {
  constructor(readonly items: RespValue[]) {}
}

/** A RESP3 verbatim string (`=`), with its three-letter format. */
export class RespVerbatim {
  constructor(readonly format: string, readonly text: Bytes) {}
}

/** A RESP3 set (`~`), kept distinct from an array. */
export class RespSet {
  constructor(readonly items: RespValue[]) {}
}

/** A RESP3 double (`,`), kept distinct from an integer. */
export class RespDouble {
  constructor(readonly value: number) {}
}

/** A RESP3 map (`%`): pairs in wire order. */
export class RespMap {
  constructor(readonly entries: [RespValue, RespValue][]) {}
}

/** A RESP2 status / RESP3 simple string (`+OK`). */
export class RespSimple {
  constructor(readonly text: string) {}
}

/** Every value a reply decodes to. Bulk strings are `Bytes` copies. */
export type RespValue =
  | null
  | boolean
  | number
  | bigint
  | Bytes
  | RespSimple
  | RespError
  | RespDouble
  | RespVerbatim
  | RespValue[]
  | RespSet
  | RespMap
  | RespPush;
