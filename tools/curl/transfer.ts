// One HTTP/1.1 exchange on a connection of its own, timed the way curl times
// it: name lookup (through our resolver), TCP connect, TLS, request sent,
// first response byte, end of body. Built on lib/http's pure pieces (the
// request checks, the response head decoder, the framing rules, the chunked
// decoder) rather than on HttpClient, because a curl needs what a pooled
// client hides: the moment the connection is up, the head's bytes as the
// server sent them (for -i), and which host name to resolve how.
//
// Left out: connection reuse between redirects, Expect: 100-continue,
// proxies, cookies, content codings (the body is written as it arrives).

import { type Bytes, utf8 } from "../../lib/bytes.ts";
import type { ServerAddress } from "../../lib/dns/client.ts";
import { isIncomplete } from "../../lib/decode.ts";
import { ChunkedDecoder, encodeChunk, encodeLastChunk } from "../../lib/http/chunked.ts";
import {
  decodeResponseHead,
  DEFAULT_LIMITS,
  responseFraming,
  type ResponseHead,
} from "../../lib/http/head.ts";
import { checkRequestHead } from "../../lib/http/request_check.ts";
import { HttpHeaders } from "../../lib/http/headers.ts";
import { closeQuietly } from "../../lib/net/close.ts";
import { ReadBuffer } from "../../lib/net/read_buffer.ts";
import { writeAll } from "../../lib/net/write_all.ts";
import { ResolveError, resolveHost } from "./resolve.ts";

/** A failure, with the exit code curl gives it (curl's manual, "EXIT CODES"). */
export class CurlError extends Error {
  override name = "CurlError";
  readonly exitCode: number;
  constructor(exitCode: number, message: string) {
    super(message);
    this.exitCode = exitCode;
  }
}

export type RequestBody =
  | { readonly kind: "bytes"; readonly bytes: Bytes }
  | { readonly kind: "file"; readonly path: string }
  | { readonly kind: "stdin" };

export interface TransferRequest {
  readonly url: URL;
  readonly method: string;
  /** In order; the caller has already merged the defaults and -H. */
  readonly headers: readonly [string, string][];
  readonly body?: RequestBody;
}

export interface TransferOptions {
  resolver: ServerAddress;
  /** performance.now() when the transfer began: every time is measured from it. */
  startedAt: number;
  connectTimeoutMs: number;
  /** The whole transfer at most (curl's -m); 0: no limit. */
  maxTimeMs: number;
  /** Lines for -v ("* ...", "> ...", "< ..."). */
  onInfo(line: string): void;
  /** The response head, as received (CRLF lines and the blank line). */
  onHead(raw: string, head: ResponseHead): Promise<void>;
  /** A piece of the body; called only when `wantBody` says so for this head. */
  onBody(chunk: Bytes): Promise<void>;
  /** Whether to read the body of this response (false: close without it). */
  wantBody(head: ResponseHead): boolean;
}

/** Seconds from the start of the transfer to each point, as curl's -w reports them. */
export interface Timings {
  namelookup: number;
  connect: number;
  appconnect: number;
  pretransfer: number;
  starttransfer: number;
  total: number;
}

export interface TransferResult {
  readonly head: ResponseHead;
  readonly headerBytes: number;
  readonly bodyBytes: number;
  readonly uploadBytes: number;
  readonly remote: { readonly address: string; readonly port: number };
  readonly timings: Timings;
}

const READ_CHUNK_BYTES = 16 * 1024;
/** Lookups are quick on loopback; a resolver that does not answer in this long is down. */
const DNS_TIMEOUT_MS = 5_000;

/** Runs one request to the end of its response body. */
export async function transfer(
  request: TransferRequest,
  options: TransferOptions,
): Promise<TransferResult> {
  const since = () => (performance.now() - options.startedAt) / 1000;
  const timings: Timings = {
    namelookup: 0,
    connect: 0,
    appconnect: 0,
    pretransfer: 0,
    starttransfer: 0,
    total: 0,
  };
  const { url } = request;
  const tls = url.protocol === "https:";
  const port = url.port === "" ? (tls ? 443 : 80) : Number(url.port);
  const target = `${url.pathname}${url.search}`;
  checkRequestHead(request.method, target, new HttpHeaders(request.headers));

  let addresses: string[];
  try {
    addresses = await resolveHost(url.hostname, options.resolver, DNS_TIMEOUT_MS);
  } catch (error) {
    throw error instanceof ResolveError ? new CurlError(6, error.message) : error;
  }
  timings.namelookup = since();
  options.onInfo(`* Host ${url.hostname}:${port} was resolved to ${addresses.join(", ")}`);

  let timedOut = false;
  let conn: Deno.Conn | undefined;
  const deadline = options.maxTimeMs > 0
    ? setTimeout(() => {
      timedOut = true;
      closeQuietly(conn);
    }, options.maxTimeMs)
    : undefined;
  try {
    const connected = await connectFirst(addresses, port, options);
    conn = connected.conn;
    const remote = { address: connected.address, port };
    timings.connect = since();
    options.onInfo(`* Connected to ${url.hostname} (${remote.address}) port ${port}`);
    if (tls) {
      conn = await Deno.startTls(conn as Deno.TcpConn, { hostname: url.hostname }).catch(
        (error) => {
          throw new CurlError(35, `TLS connect error: ${describe(error)}`);
        },
      );
      timings.appconnect = since();
    }
    timings.pretransfer = since();
    const uploadBytes = await sendRequest(conn, request, target, options);
    const input = new ReadBuffer({
      sizeBytesMax: DEFAULT_LIMITS.requestLineBytes + DEFAULT_LIMITS.headerBytes +
        2 * READ_CHUNK_BYTES,
    });
    let head: ResponseHead;
    let headerBytes = 0;
    while (true) {
      const { value, raw } = await readHead(conn, input, () => {
        if (timings.starttransfer === 0) timings.starttransfer = since();
      });
      headerBytes += raw.length;
      head = value;
      // Interim 1xx responses are shown (curl -i does) and skipped (RFC 9110 15.2).
      await options.onHead(raw, head);
      if (head.status >= 200 || head.status === 101) break;
    }
    const framing = responseFraming(request.method, head);
    let bodyBytes = 0;
    if (options.wantBody(head)) {
      bodyBytes = await readBody(conn, input, framing, options);
    }
    timings.total = since();
    return { head, headerBytes, bodyBytes, uploadBytes, remote, timings };
  } catch (error) {
    if (timedOut) {
      throw new CurlError(28, `Operation timed out after ${options.maxTimeMs} milliseconds`);
    }
    throw error;
  } finally {
    clearTimeout(deadline);
    closeQuietly(conn);
  }
}

async function connectFirst(
  addresses: string[],
  port: number,
  options: TransferOptions,
): Promise<{ conn: Deno.TcpConn; address: string }> {
  let last = "";
  for (const address of addresses) {
    options.onInfo(`*   Trying ${address.includes(":") ? `[${address}]` : address}:${port}...`);
    const connecting = Deno.connect({ hostname: address, port });
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const conn = await Promise.race([
        connecting,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            connecting.then((c) => c.close(), () => {});
            reject(new CurlError(28, `Connection timed out after ${options.connectTimeoutMs} ms`));
          }, options.connectTimeoutMs);
        }),
      ]);
      conn.setNoDelay(true);
      return { conn, address };
    } catch (error) {
      if (error instanceof CurlError) throw error;
      last = describe(error);
    } finally {
      clearTimeout(timer);
    }
  }
  throw new CurlError(7, `Failed to connect to ${addresses.join(", ")} port ${port}: ${last}`);
}

/** Writes the head and the body; returns the body's size. */
async function sendRequest(
  conn: Deno.Conn,
  request: TransferRequest,
  target: string,
  options: TransferOptions,
): Promise<number> {
  const headers = [...request.headers];
  const body = request.body;
  let file: Deno.FsFile | undefined;
  try {
    if (body?.kind === "bytes") headers.push(["Content-Length", String(body.bytes.length)]);
    if (body?.kind === "file") {
      try {
        file = await Deno.open(body.path);
        headers.push(["Content-Length", String((await file.stat()).size)]);
      } catch (error) {
        throw new CurlError(
          26,
          `Failed to open/read local data from file ${body.path}: ${describe(error)}`,
        );
      }
    }
    if (body?.kind === "stdin") headers.push(["Transfer-Encoding", "chunked"]);
    const lines = [
      `${request.method} ${target} HTTP/1.1`,
      ...headers.map(([n, v]) => `${n}: ${v}`),
    ];
    for (const line of lines) options.onInfo(`> ${line}`);
    options.onInfo(">");
    await writeAll(conn, utf8(lines.join("\r\n") + "\r\n\r\n"));
    if (body === undefined) return 0;
    if (body.kind === "bytes") {
      await writeAll(conn, body.bytes);
      return body.bytes.length;
    }
    let sent = 0;
    const source = body.kind === "file" ? file!.readable : Deno.stdin.readable;
    for await (const chunk of source) {
      if (chunk.length === 0) continue;
      await writeAll(conn, body.kind === "stdin" ? encodeChunk(chunk) : chunk as Bytes);
      sent += chunk.length;
    }
    if (body.kind === "stdin") await writeAll(conn, encodeLastChunk());
    file = undefined; // its readable closed it
    return sent;
  } catch (error) {
    if (error instanceof CurlError) throw error;
    throw new CurlError(55, `Failed sending data to the peer: ${describe(error)}`);
  } finally {
    file?.close();
  }
}

/** The next response head and its bytes as received; `onBytes` after each read. */
async function readHead(
  conn: Deno.Conn,
  input: ReadBuffer,
  onBytes: () => void,
): Promise<{ value: ResponseHead; raw: string }> {
  let received = input.length > 0;
  while (true) {
    if (input.length > 0) {
      let decoded;
      try {
        decoded = decodeResponseHead(input.bytes, DEFAULT_LIMITS, input.start, input.end);
      } catch (error) {
        throw new CurlError(8, `Weird server reply: ${describe(error)}`);
      }
      if (!isIncomplete(decoded)) {
        const raw = latin1(input.bytes.subarray(input.start, input.start + decoded.bytesUsed));
        input.consume(decoded.bytesUsed);
        return { value: decoded.value, raw };
      }
    }
    const n = await fill(conn, input);
    if (n === null) {
      throw received
        ? new CurlError(56, "Failure when receiving data from the peer: closed inside the head")
        : new CurlError(52, "Empty reply from server");
    }
    received = true;
    onBytes();
  }
}

async function readBody(
  conn: Deno.Conn,
  input: ReadBuffer,
  framing: ReturnType<typeof responseFraming>,
  options: TransferOptions,
): Promise<number> {
  let total = 0;
  const emit = async (chunk: Bytes) => {
    if (chunk.length === 0) return;
    total += chunk.length;
    await options.onBody(chunk);
  };
  switch (framing.kind) {
    case "none":
      return 0;
    case "length": {
      let remaining = framing.length;
      while (remaining > 0) {
        if (input.length === 0 && await fill(conn, input) === null) {
          throw new CurlError(18, `transfer closed with ${remaining} bytes remaining to read`);
        }
        const chunk = input.take(remaining);
        remaining -= chunk.length;
        await emit(chunk);
      }
      return total;
    }
    case "chunked": {
      const decoder = new ChunkedDecoder(DEFAULT_LIMITS);
      while (!decoder.done) {
        if (input.length === 0 && await fill(conn, input) === null) {
          throw new CurlError(18, "transfer closed with outstanding read data remaining");
        }
        const parts: Bytes[] = [];
        try {
          input.consume(decoder.push(input.view(), parts));
        } catch (error) {
          throw new CurlError(56, `Failure when receiving data: bad chunk: ${describe(error)}`);
        }
        for (const part of parts) await emit(part.slice());
      }
      return total;
    }
    case "close": {
      while (true) {
        if (input.length === 0 && await fill(conn, input) === null) return total;
        await emit(input.take(Infinity));
      }
    }
  }
}

async function fill(conn: Deno.Conn, input: ReadBuffer): Promise<number | null> {
  try {
    return await input.fill(conn);
  } catch (error) {
    throw new CurlError(56, `Failure when receiving data from the peer: ${describe(error)}`);
  }
}

function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return text;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
