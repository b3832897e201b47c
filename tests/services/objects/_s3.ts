// A small signed S3 client for the objects tests: lib/http's client (which
// writes the request target exactly as given: fetch would fold "..") plus
// lib/s3/sigv4.ts on the client's side, so each test says exactly what goes
// on the wire. Answers come back as web Responses.

import { createHash } from "node:crypto";
import { HttpClient } from "../../../lib/http/client.ts";
import { statusHasNoBody } from "../../../lib/http/status.ts";
import { authorizationHeader, type Credentials, UNSIGNED_PAYLOAD } from "../../../lib/s3/sigv4.ts";
import { DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY } from "../../../services/objects/mod.ts";

export const CREDENTIALS: Credentials = {
  accessKey: DEFAULT_ACCESS_KEY,
  secretKey: DEFAULT_SECRET_KEY,
};

export interface S3RequestOptions {
  query?: [string, string][];
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Sign (default), or send anonymously. */
  anonymous?: boolean;
  /** Sign the payload's SHA-256 (default) or send UNSIGNED-PAYLOAD. */
  unsignedPayload?: boolean;
  credentials?: Credentials;
  timeMs?: number;
  /** The Host header to send and sign (default: the server's address). */
  host?: string;
  /** Builds the body once the seed signature is known (aws-chunked uploads). */
  bodyFromSeed?: (seedSignature: string, amzDate: string) => Uint8Array;
}

/** Encodes a key for a path the way the AWS SDKs do (slashes kept). */
export function encodeKey(key: string): string {
  return key.split("/").map((part) =>
    encodeURIComponent(part).replace(
      /[!'()*]/g,
      (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase(),
    )
  ).join("/");
}

export function queryString(query: [string, string][]): string {
  return query.map(([n, v]) => `${encodeKey(n)}=${encodeKey(v).replaceAll("/", "%2F")}`).join("&");
}

export class S3TestClient implements AsyncDisposable {
  readonly #addr: Deno.NetAddr;
  readonly #client = new HttpClient();
  constructor(addr: Deno.NetAddr) {
    this.#addr = addr;
  }

  close(): Promise<void> {
    return this.#client.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  get host(): string {
    return `${this.#addr.hostname}:${this.#addr.port}`;
  }

  url(rawPath: string, query: [string, string][] = []): string {
    const q = query.length === 0 ? "" : `?${queryString(query)}`;
    return `http://${this.host}${rawPath}${q}`;
  }

  /** Sends one request; `rawPath` is already encoded (use encodeKey). */
  async send(method: string, rawPath: string, options: S3RequestOptions = {}): Promise<Response> {
    const query = options.query ?? [];
    const headers: Record<string, string> = { ...options.headers };
    let body = typeof options.body === "string"
      ? new TextEncoder().encode(options.body)
      : options.body;
    if (!options.anonymous) {
      const timeMs = options.timeMs ?? Date.now();
      const amzDate = new Date(timeMs).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
      const payloadHash = options.unsignedPayload
        ? UNSIGNED_PAYLOAD
        : createHash("sha256").update(body ?? new Uint8Array(0)).digest("hex");
      headers["x-amz-date"] = amzDate;
      headers["x-amz-content-sha256"] ??= payloadHash;
      const signed: Record<string, string> = { host: options.host ?? this.host };
      for (const [name, value] of Object.entries(headers)) {
        const lower = name.toLowerCase();
        if (
          lower.startsWith("x-amz-") || lower === "content-md5" || lower === "range" ||
          lower === "content-type"
        ) {
          signed[lower] = value;
        }
      }
      headers["authorization"] = authorizationHeader({
        method,
        rawPath,
        query,
        headers: signed,
        payloadHash: headers["x-amz-content-sha256"],
        credentials: options.credentials ?? CREDENTIALS,
        timeMs,
      });
      if (options.bodyFromSeed !== undefined) {
        body = options.bodyFromSeed(headers["authorization"].slice(-64), amzDate);
      }
    }
    if (options.host !== undefined) headers["host"] = options.host;
    const q = query.length === 0 ? "" : `?${queryString(query)}`;
    const response = await this.#client.request(`http://${this.host}/`, {
      method,
      headers,
      body: body ?? null,
      target: rawPath + q,
    });
    const noBody = method === "HEAD" || statusHasNoBody(response.status);
    if (noBody) await response.body.cancel();
    return new Response(noBody ? null : response.body, {
      status: response.status,
      headers: [...response.headers],
    });
  }

  /** Headers signing a request whose payload is sent unsigned (a stream). */
  signedHeaders(method: string, rawPath: string, timeMs = Date.now()): Record<string, string> {
    const amzDate = new Date(timeMs).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
    const signed = {
      host: this.host,
      "x-amz-content-sha256": UNSIGNED_PAYLOAD,
      "x-amz-date": amzDate,
    };
    return {
      "x-amz-content-sha256": UNSIGNED_PAYLOAD,
      "x-amz-date": amzDate,
      authorization: authorizationHeader({
        method,
        rawPath,
        headers: signed,
        payloadHash: UNSIGNED_PAYLOAD,
        credentials: CREDENTIALS,
        timeMs,
      }),
    };
  }

  /** Sends and reads the whole answer as text. */
  async text(method: string, rawPath: string, options: S3RequestOptions = {}) {
    const response = await this.send(method, rawPath, options);
    return { status: response.status, headers: response.headers, text: await response.text() };
  }
}

/** The text of the first <name> element, or undefined. */
export function xmlField(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return m?.[1];
}

export function xmlFields(xml: string, name: string): string[] {
  return [...xml.matchAll(new RegExp(`<${name}>([^<]*)</${name}>`, "g"))].map((m) => m[1]);
}
