// Small backends for the load balancer's tests, on lib/http at port 0, and
// a way to start the balancer in-process against them with a config object.

import { HttpClient } from "../../../lib/http/client.ts";
import type { Handler, HttpRequest } from "../../../lib/http/message.ts";
import { type HttpServer, serveHttp } from "../../../lib/http/server.ts";
import { type LbHandle, startLb } from "../../../services/lb/mod.ts";

export interface Seen {
  method: string;
  target: string;
  headers: [string, string][];
  bodyBytes: number;
}

/** A backend that answers `{ name, method, target, headers, bodyBytes }` and records each request. */
export interface TestBackend {
  readonly name: string;
  readonly url: string;
  readonly server: HttpServer;
  readonly seen: Seen[];
  /** Requests whose head reached the handler, counted before any body is read. */
  readonly heads: { count: number };
  close(): Promise<void>;
}

export function echoHandler(name: string, seen: Seen[], heads = { count: 0 }): Handler {
  return async (request: HttpRequest) => {
    heads.count++;
    let bodyBytes = 0;
    if (request.body !== null) {
      request.bodyLimitBytes = Infinity;
      for await (const chunk of request.body) bodyBytes += chunk.length;
    }
    const record: Seen = {
      method: request.method,
      target: request.target,
      headers: [...request.headers],
      bodyBytes,
    };
    seen.push(record);
    if (request.path === "/healthz") return { status: 200, body: "ok" };
    return {
      status: 200,
      headers: { "content-type": "application/json", "x-backend": name },
      body: JSON.stringify({ name, ...record }),
    };
  };
}

export function startBackend(
  name: string,
  options: { port?: number; handler?: Handler } = {},
): TestBackend {
  const seen: Seen[] = [];
  const heads = { count: 0 };
  const server = serveHttp({
    hostname: "127.0.0.1",
    port: options.port ?? 0,
    handler: options.handler ?? echoHandler(name, seen, heads),
    bodyLimitBytes: Infinity,
  });
  return {
    name,
    url: `http://127.0.0.1:${server.addr.port}`,
    server,
    seen,
    heads,
    close: () => server.close(0),
  };
}

/** Starts the balancer on port 0 with `config` written to a temporary file. */
export async function startTestLb(
  config: unknown,
  options: { drainTimeoutMs?: number } = {},
): Promise<LbHandle & { url: string; file: string; write(config: unknown): Promise<void> }> {
  const file = await Deno.makeTempFile({ prefix: "underhood-lb-", suffix: ".json" });
  await Deno.writeTextFile(file, JSON.stringify(config));
  const lb = await startLb({
    host: "127.0.0.1",
    port: 0,
    adminPort: 0,
    drainTimeoutMs: options.drainTimeoutMs ?? 2_000,
    config: file,
  });
  const close = async () => {
    await lb.close();
    await Deno.remove(file).catch(() => {});
  };
  return {
    ...lb,
    url: `http://127.0.0.1:${lb.addresses.http.port}`,
    file,
    write: (next: unknown) => Deno.writeTextFile(file, JSON.stringify(next)),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** GETs `path` and returns status, headers and the parsed JSON body (or text). */
export async function get(
  client: HttpClient,
  url: string,
  options: { method?: string; headers?: Record<string, string>; target?: string } = {},
): Promise<{ status: number; headers: Map<string, string>; body: unknown }> {
  const response = await client.request(url, options);
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return {
    status: response.status,
    headers: new Map([...response.headers].map(([k, v]) => [k.toLowerCase(), v])),
    body,
  };
}

/** Waits until `condition` holds, checking every 10 ms, at most `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
