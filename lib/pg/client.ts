// A small PostgreSQL client on the codec of this folder: startup with trust
// or SCRAM-SHA-256, the simple query protocol, and raw message exchange for
// tests that script the extended protocol byte by byte. Results come back
// as text; it trusts its server (tests and benchmarks), so it is not a
// driver: use the npm `pg` package for applications.

import type { Bytes } from "../bytes.ts";
import { isIncomplete } from "../decode.ts";
import { writeAll } from "../net/write_all.ts";
import { decodeBackendMessage } from "./backend.ts";
import { encodeFrontendMessage, encodeStartupPacket, saslInitialResponseData } from "./frontend.ts";
import { clientProof, fromBase64, toBase64 } from "./scram.ts";
import {
  type BackendMessage,
  DEFAULT_LIMITS,
  type FieldDescription,
  type FrontendMessage,
  type NoticeFields,
  PROTOCOL_3_0,
} from "./types.ts";

export interface PgClientOptions {
  hostname?: string;
  port: number;
  user?: string;
  database?: string;
  password?: string;
  /** Extra startup parameters (application_name, ...). */
  parameters?: Record<string, string>;
}

/** An ErrorResponse from the server. */
export class PgServerError extends Error {
  override name = "PgServerError";
  readonly fields: NoticeFields;
  readonly code: string;
  constructor(fields: NoticeFields) {
    super(fields.message);
    this.fields = fields;
    this.code = fields.code;
  }
}

/** One statement's result in the simple query protocol. */
export interface QueryResult {
  fields: FieldDescription[];
  /** Values as text (null for NULL). */
  rows: (string | null)[][];
  tag: string;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export class PgClient {
  readonly conn: Deno.TcpConn;
  /** ParameterStatus values the server sent. */
  readonly parameters = new Map<string, string>();
  processId = 0;
  secretKey = 0;
  #buffer: Bytes = new Uint8Array(0);

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  /** Connects and authenticates; resolves at the first ReadyForQuery. */
  static async connect(options: PgClientOptions): Promise<PgClient> {
    const conn = await Deno.connect({
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port,
    });
    const client = new PgClient(conn);
    try {
      await client.#startup(options);
    } catch (error) {
      conn.close();
      throw error;
    }
    return client;
  }

  async #startup(options: PgClientOptions): Promise<void> {
    const parameters = new Map<string, string>([
      ["user", options.user ?? "postgres"],
      ["database", options.database ?? options.user ?? "postgres"],
      ...Object.entries(options.parameters ?? {}),
    ]);
    await writeAll(
      this.conn,
      encodeStartupPacket({
        type: "StartupMessage",
        majorVersion: PROTOCOL_3_0 >> 16,
        minorVersion: 0,
        parameters,
      }),
    );
    let clientFirstBare = "";
    let clientNonce = "";
    for (;;) {
      const message = await this.receive();
      switch (message.type) {
        case "AuthenticationSASL": {
          clientNonce = toBase64(crypto.getRandomValues(new Uint8Array(18)));
          clientFirstBare = `n=,r=${clientNonce}`;
          await this.send({
            type: "AuthenticationResponse",
            data: saslInitialResponseData("SCRAM-SHA-256", encoder.encode(`n,,${clientFirstBare}`)),
          });
          break;
        }
        case "AuthenticationSASLContinue": {
          const serverFirst = decoder.decode(message.data);
          const attrs = new Map(serverFirst.split(",").map((a) => [a[0], a.slice(2)]));
          const nonce = attrs.get("r")!;
          if (!nonce.startsWith(clientNonce)) {
            throw new Error("SCRAM: server nonce does not extend ours");
          }
          const withoutProof = `c=${toBase64(encoder.encode("n,,"))},r=${nonce}`;
          const proof = await clientProof(
            options.password ?? "",
            fromBase64(attrs.get("s")!),
            Number(attrs.get("i")),
            `${clientFirstBare},${serverFirst},${withoutProof}`,
          );
          await this.send({
            type: "AuthenticationResponse",
            data: encoder.encode(`${withoutProof},p=${toBase64(proof)}`),
          });
          break;
        }
        case "AuthenticationSASLFinal":
        case "AuthenticationOk":
        case "NoticeResponse":
          break;
        case "ParameterStatus":
          this.parameters.set(message.name, message.value);
          break;
        case "BackendKeyData":
          this.processId = message.processId;
          this.secretKey = message.secretKey;
          break;
        case "ErrorResponse":
          throw new PgServerError(message.fields);
        case "ReadyForQuery":
          return;
        default:
          throw new Error(`unexpected ${message.type} during startup`);
      }
    }
  }

  /** Sends frontend messages in one write. */
  async send(...messages: FrontendMessage[]): Promise<void> {
    const parts = messages.map(encodeFrontendMessage);
    const total = parts.reduce((n, p) => n + p.length, 0);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const part of parts) {
      bytes.set(part, at);
      at += part.length;
    }
    await writeAll(this.conn, bytes);
  }

  /** Sends raw bytes (for tests of what polite clients never send). */
  sendRaw(bytes: Uint8Array): Promise<void> {
    return writeAll(this.conn, bytes);
  }

  /** The next backend message; throws at end of stream. */
  async receive(): Promise<BackendMessage> {
    for (;;) {
      const decoded = decodeBackendMessage(this.#buffer, DEFAULT_LIMITS);
      if (!isIncomplete(decoded)) {
        const message = decoded.value;
        // Copy out of the buffer: the caller may keep the message.
        const copy = structuredClone(message);
        this.#buffer = this.#buffer.slice(decoded.bytesUsed);
        return copy;
      }
      const chunk = new Uint8Array(64 * 1024);
      const n = await this.conn.read(chunk);
      if (n === null) throw new Deno.errors.UnexpectedEof("server closed the connection");
      const grown = new Uint8Array(this.#buffer.length + n);
      grown.set(this.#buffer);
      grown.set(chunk.subarray(0, n), this.#buffer.length);
      this.#buffer = grown;
    }
  }

  /** Messages up to and including the next ReadyForQuery. */
  async receiveUntilReady(): Promise<BackendMessage[]> {
    const messages: BackendMessage[] = [];
    for (;;) {
      const message = await this.receive();
      messages.push(message);
      if (message.type === "ReadyForQuery") return messages;
    }
  }

  /** Runs a simple Query; throws PgServerError on an ErrorResponse. */
  async query(sql: string): Promise<QueryResult[]> {
    await this.send({ type: "Query", sql });
    const results: QueryResult[] = [];
    let current: QueryResult = { fields: [], rows: [], tag: "" };
    let error: PgServerError | null = null;
    for (const message of await this.receiveUntilReady()) {
      if (message.type === "RowDescription") current.fields = message.fields;
      else if (message.type === "DataRow") {
        current.rows.push(message.values.map((v) => v === null ? null : decoder.decode(v)));
      } else if (message.type === "CommandComplete") {
        current.tag = message.tag;
        results.push(current);
        current = { fields: [], rows: [], tag: "" };
      } else if (message.type === "ErrorResponse") error = new PgServerError(message.fields);
    }
    if (error) throw error;
    return results;
  }

  /** Sends Terminate and closes. */
  async close(): Promise<void> {
    try {
      await this.send({ type: "Terminate" });
    } catch { /* already gone */ }
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
