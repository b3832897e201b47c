// Upgrade tunnels (WebSocket and any other protocol switched to with
// `Connection: upgrade`, RFC 9110 section 7.8). The request head goes to the
// backend on a connection of its own (not the keep-alive pool: it will never
// come back); when the backend answers 101, the client gets the 101 and the
// two sockets are joined byte for byte until either side closes. Any other
// answer is relayed as an ordinary response (the body only when it is small
// and sized) and the upstream connection is closed.

import type { Bytes } from "../../lib/bytes.ts";
import { isIncomplete } from "../../lib/decode.ts";
import { decodeResponseHead, DEFAULT_LIMITS, type ResponseHead } from "../../lib/http/head.ts";
import { listTokens } from "../../lib/http/headers.ts";
import type { HttpRequest, HttpResponse } from "../../lib/http/message.ts";
import { checkRequestHead } from "../../lib/http/request_check.ts";
import { closeQuietly } from "../../lib/net/close.ts";

const READ_CHUNK_BYTES = 16 * 1024;
/** A refused upgrade's body is relayed up to this size; past it, only the status. */
const REFUSAL_BODY_BYTES_MAX = 64 * 1024;

/** True for a request asking to switch protocols (GET with Connection: upgrade and Upgrade). */
export function wantsUpgrade(request: HttpRequest): boolean {
  const upgrade = request.headers.get("upgrade");
  if (upgrade === undefined || request.method !== "GET") return false;
  return listTokens(request.headers.get("connection")).some((t) => t.toLowerCase() === "upgrade");
}

export class TunnelError extends Error {
  readonly kind: "connect" | "connect_timeout" | "header_timeout" | "closed" | "protocol";
  constructor(kind: TunnelError["kind"], message: string) {
    super(message);
    this.kind = kind;
  }
}

/**
 * Sends the upgrade request to `backendUrl` and returns the response for the
 * client: a 101 whose `upgrade` joins the sockets, or the backend's refusal.
 * `done` runs once the upstream connection is closed.
 */
export async function openTunnel(
  backendUrl: string,
  request: HttpRequest,
  options: {
    target: string;
    headers: [string, string][];
    responseHeaders: (head: ResponseHead) => [string, string][];
    connectTimeoutMs: number;
    responseHeaderTimeoutMs: number;
    done: () => void;
  },
): Promise<HttpResponse> {
  const headers: [string, string][] = [
    ...options.headers,
    ["connection", "upgrade"],
    ["upgrade", request.headers.get("upgrade")!],
  ];
  checkRequestHead(request.method, options.target, headers);
  const url = new URL(backendUrl);
  let upstream: Deno.TcpConn;
  try {
    upstream = await withTimeout(
      Deno.connect({ hostname: url.hostname, port: Number(url.port || 80) }),
      options.connectTimeoutMs,
      (late) => late.then((c) => c.close(), () => {}),
    );
  } catch (error) {
    options.done();
    if (error instanceof TimedOut) {
      throw new TunnelError("connect_timeout", `connecting to backend ${backendUrl} timed out`);
    }
    throw new TunnelError("connect", `cannot connect to backend ${backendUrl}`);
  }
  let handedOver = false;
  try {
    let text = `${request.method} ${options.target} HTTP/1.1\r\n`;
    for (const [name, value] of headers) text += `${name}: ${value}\r\n`;
    await writeAll(upstream, new TextEncoder().encode(text + "\r\n"));
    const { head, rest } = await readHead(upstream, options.responseHeaderTimeoutMs, backendUrl);
    const out = options.responseHeaders(head);
    if (head.status !== 101) return refusal(head, out, rest);
    out.push(["connection", "upgrade"]);
    const protocol = head.headers.get("upgrade");
    if (protocol !== undefined) out.push(["upgrade", protocol]);
    handedOver = true;
    return {
      status: 101,
      headers: out,
      upgrade: (client, buffered) =>
        join(client, upstream, buffered, rest).finally(() => {
          closeQuietly(upstream);
          options.done();
        }),
    };
  } catch (error) {
    if (error instanceof TunnelError || error instanceof TypeError) throw error;
    throw new TunnelError(
      "closed",
      `backend ${backendUrl} closed the connection without a response`,
    );
  } finally {
    if (!handedOver) {
      closeQuietly(upstream);
      options.done();
    }
  }
}

function refusal(head: ResponseHead, headers: [string, string][], rest: Bytes): HttpResponse {
  const length = Number(head.headers.get("content-length") ?? "0");
  const filtered = headers.filter(([name]) => name.toLowerCase() !== "content-length");
  if (length <= REFUSAL_BODY_BYTES_MAX && rest.length >= length) {
    return { status: head.status, headers: filtered, body: rest.slice(0, length) };
  }
  return { status: head.status, headers: filtered, body: null };
}

/** Copies both ways until both directions have ended (or either fails). */
async function join(
  client: Deno.Conn,
  upstream: Deno.Conn,
  fromClient: Uint8Array,
  fromUpstream: Bytes,
) {
  const pipe = async (from: Deno.Conn, to: Deno.Conn, first: Uint8Array) => {
    if (first.length > 0) await writeAll(to, first);
    const buf = new Uint8Array(READ_CHUNK_BYTES);
    while (true) {
      const n = await from.read(buf);
      if (n === null) break;
      await writeAll(to, buf.subarray(0, n));
    }
    // Half-close: the other direction may still be talking.
    await (to as Deno.TcpConn).closeWrite().catch(() => {});
  };
  try {
    await Promise.all([pipe(client, upstream, fromClient), pipe(upstream, client, fromUpstream)]);
  } catch {
    // One side went away: the tunnel ends; both sockets are closed by the callers.
  }
}

async function readHead(
  conn: Deno.Conn,
  timeoutMs: number,
  backendUrl: string,
): Promise<{ head: ResponseHead; rest: Bytes }> {
  let buf: Bytes = new Uint8Array(READ_CHUNK_BYTES);
  let end = 0;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    closeQuietly(conn);
  }, timeoutMs);
  try {
    while (true) {
      if (end > 0) {
        const decoded = decodeResponseHead(buf, DEFAULT_LIMITS, 0, end);
        if (!isIncomplete(decoded)) {
          // Interim responses other than 101 are skipped.
          if (decoded.value.status < 200 && decoded.value.status !== 101) {
            buf.copyWithin(0, decoded.bytesUsed, end);
            end -= decoded.bytesUsed;
            continue;
          }
          return { head: decoded.value, rest: buf.slice(decoded.bytesUsed, end) };
        }
      }
      if (end === buf.length) {
        if (buf.length >= DEFAULT_LIMITS.headerBytes + DEFAULT_LIMITS.requestLineBytes) {
          throw new TunnelError(
            "protocol",
            `backend ${backendUrl} sent an oversized response head`,
          );
        }
        const bigger = new Uint8Array(buf.length * 2);
        bigger.set(buf);
        buf = bigger;
      }
      const n = await conn.read(buf.subarray(end)).catch((error) => {
        if (timedOut) return null;
        throw error;
      });
      if (n === null) {
        if (timedOut) {
          throw new TunnelError(
            "header_timeout",
            `backend ${backendUrl} sent no response head within ${timeoutMs} ms`,
          );
        }
        throw new TunnelError(
          "closed",
          `backend ${backendUrl} closed the connection without a response`,
        );
      }
      end += n;
    }
  } catch (error) {
    if (error instanceof SyntaxError || error instanceof RangeError) {
      throw new TunnelError("protocol", `backend ${backendUrl} sent a malformed response`);
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

class TimedOut extends Error {}

function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  onLate: (promise: Promise<T>) => void,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        onLate(promise);
        reject(new TimedOut());
      }, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
