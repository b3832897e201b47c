// A DNS client: one query to one server over UDP or TCP.
//
// RFC 1035 4.2 (UDP, and TCP with a 2-octet length prefix), RFC 5452 9.1
// (a random ID, and an answer accepted only when its ID, source and
// question all match the query: anything else is ignored, not an error),
// RFC 6891 (an OPT record advertising our UDP size). Used by `dig` and by
// the resolver.
//
// Left out: retries and fallback to TCP on TC (the caller decides: dig
// retries over TCP, a resolver may try another server), source-port
// randomisation beyond what the OS gives a fresh socket, DNS cookies.

import { BufferedReader } from "../buffered_reader.ts";
import type { Bytes } from "../bytes.ts";
import { UnexpectedEofError } from "../errors.ts";
import { encodeMessage, encodeTcpFrame, wholeMessage } from "./codec.ts";
import { nameKey } from "./name.ts";
import { formatIpv6, parseIpv4, parseIpv6 } from "./rdata.ts";
import { makeMessage, type Message, type Name, RecordClass } from "./types.ts";
import { closeQuietly } from "../net/close.ts";
import { writeAll } from "../net/write_all.ts";

export interface ServerAddress {
  readonly hostname: string;
  readonly port: number;
}

export interface QueryOptions {
  /** Ask over TCP instead of UDP. */
  tcp?: boolean;
  /** Give up after this long (default 5000 ms). */
  timeoutMs?: number;
  /** UDP payload size advertised in an OPT record (default 1232); 0 sends no OPT. */
  ednsSize?: number;
  /** Set RD (default true, as dig does). */
  recursionDesired?: boolean;
  /** Question class (default IN). */
  class?: number;
  /**
   * Require the answer to repeat the question name's case exactly, as a
   * resolver using 0x20 case randomisation does (default: any case).
   */
  exactCase?: boolean;
}

export interface QueryResult {
  readonly message: Message;
  /** Octets of the answer as received. */
  readonly sizeBytes: number;
  readonly transport: "udp" | "tcp";
  readonly elapsedMs: number;
}

/** Why a query got no answer. */
export class QueryError extends Error {
  override name = "QueryError";
  readonly reason: "timeout" | "refused" | "unreachable" | "malformed";
  constructor(reason: QueryError["reason"], message: string) {
    super(message);
    this.reason = reason;
  }
}

/** Asks `server` one question; see QueryOptions. */
export async function query(
  server: ServerAddress,
  name: Name,
  type: number,
  options: QueryOptions = {},
): Promise<QueryResult> {
  const ednsSize = options.ednsSize ?? 1232;
  const message = makeMessage({
    id: randomId(),
    rd: options.recursionDesired ?? true,
    questions: [{ name, type, class: options.class ?? RecordClass.IN }],
    ...(ednsSize > 0
      ? {
        edns: {
          udpPayloadSize: ednsSize,
          extendedRcode: 0,
          version: 0,
          dnssecOk: false,
          options: [],
        },
      }
      : {}),
  });
  return await exchange(server, message, options);
}

/** Sends any query message and waits for its matching answer. */
export async function exchange(
  server: ServerAddress,
  message: Message,
  options: Pick<QueryOptions, "tcp" | "timeoutMs" | "exactCase"> = {},
): Promise<QueryResult> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const exactCase = options.exactCase ?? false;
  const started = performance.now();
  const packet = encodeMessage(message);
  const { bytes, transport } = options.tcp
    ? {
      bytes: await exchangeTcp(server, packet, message, timeoutMs, exactCase),
      transport: "tcp" as const,
    }
    : {
      bytes: await exchangeUdp(server, packet, message, timeoutMs, exactCase),
      transport: "udp" as const,
    };
  const answer = wholeMessage(bytes);
  return {
    message: answer,
    sizeBytes: bytes.length,
    transport,
    elapsedMs: performance.now() - started,
  };
}

/** A random 16-bit message ID from the system's CSPRNG (RFC 5452 4.3). */
export function randomId(): number {
  return crypto.getRandomValues(new Uint16Array(1))[0];
}

/** True when `bytes` is a well-formed answer to `query` (ID, QR and question). */
export function matches(query: Message, bytes: Uint8Array, exactCase = false): boolean {
  if (bytes.length < 12) return false;
  if (((bytes[0] << 8) | bytes[1]) !== query.id || (bytes[2] & 0x80) === 0) return false;
  let answer: Message;
  try {
    answer = wholeMessage(bytes);
  } catch {
    return false;
  }
  const [q] = query.questions;
  const [a] = answer.questions;
  if (q === undefined) return a === undefined;
  // A FORMERR answer may leave the question out.
  if (a === undefined) return answer.rcode !== 0;
  const sameName = exactCase ? a.name === q.name : nameKey(a.name) === nameKey(q.name);
  return sameName && a.type === q.type && a.class === q.class;
}

async function exchangeUdp(
  server: ServerAddress,
  packet: Bytes,
  message: Message,
  timeoutMs: number,
  exactCase: boolean,
): Promise<Uint8Array> {
  const ipv6 = server.hostname.includes(":");
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: ipv6 ? "::" : "0.0.0.0",
    port: 0,
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    socket.close();
  }, timeoutMs);
  try {
    await socket.send(packet, { transport: "udp", hostname: server.hostname, port: server.port });
    const buffer = new Uint8Array(65535);
    const expected = canonicalIp(server.hostname);
    for (;;) {
      const [data, from] = await socket.receive(buffer);
      const peer = from as Deno.NetAddr;
      // RFC 5452 9.1: only the server we asked may answer (by address when we know it).
      if (peer.port !== server.port) continue;
      if (expected !== undefined && canonicalIp(peer.hostname) !== expected) continue;
      if (matches(message, data, exactCase)) return data.slice();
    }
  } catch (error) {
    if (timedOut) throw new QueryError("timeout", `timed out after ${timeoutMs} ms`);
    throw unreachable(error);
  } finally {
    clearTimeout(timer);
    if (!timedOut) socket.close();
  }
}

async function exchangeTcp(
  server: ServerAddress,
  packet: Bytes,
  message: Message,
  timeoutMs: number,
  exactCase: boolean,
): Promise<Uint8Array> {
  let timedOut = false;
  let conn: Deno.TcpConn | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    closeQuietly(conn);
  }, timeoutMs);
  try {
    conn = await Deno.connect({ transport: "tcp", hostname: server.hostname, port: server.port });
    if (timedOut) throw new Deno.errors.TimedOut();
    await writeAll(conn, encodeTcpFrame(packet));
    const reader = new BufferedReader(conn);
    for (;;) {
      const prefix = await reader.readExact(2);
      if (prefix === null) throw new UnexpectedEofError("server closed the connection");
      const body = await reader.readExact((prefix[0] << 8) | prefix[1]);
      if (body === null) throw new UnexpectedEofError("server closed the connection");
      if (matches(message, body, exactCase)) return body;
    }
  } catch (error) {
    if (timedOut) throw new QueryError("timeout", `timed out after ${timeoutMs} ms`);
    throw unreachable(error);
  } finally {
    clearTimeout(timer);
    closeQuietly(conn);
  }
}

/** The address in one spelling, or undefined for a host name. */
function canonicalIp(hostname: string): string | undefined {
  try {
    if (hostname.includes(":")) return formatIpv6(parseIpv6(hostname.replace(/%.*$/, "")));
    return Array.from(parseIpv4(hostname)).join(".");
  } catch {
    return undefined;
  }
}

function unreachable(error: unknown): QueryError {
  if (error instanceof Deno.errors.ConnectionRefused) {
    return new QueryError("refused", "connection refused");
  }
  if (error instanceof UnexpectedEofError) return new QueryError("malformed", error.message);
  const text = error instanceof Error ? error.message : String(error);
  return new QueryError("unreachable", text);
}
