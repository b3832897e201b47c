// Runs SQL through the datastore's Session with no socket: messages in, the
// session's bytes decoded back into messages. The executor and session tests
// share it.

import { isIncomplete } from "../../../lib/decode.ts";
import type { FileLayer } from "../../../lib/fs/file_layer.ts";
import { decodeBackendMessage } from "../../../lib/pg/backend.ts";
import { PgServerError, type QueryResult } from "../../../lib/pg/client.ts";
import type { BackendMessage, FrontendMessage } from "../../../lib/pg/types.ts";
import { DEFAULT_LIMITS } from "../../../lib/pg/types.ts";
import { MessageWriter } from "../../../lib/pg/wire.ts";
import { Session, type SessionEffect } from "../../../services/datastore/session.ts";
import { Database } from "../../../services/datastore/sql/executor.ts";
import { Engine } from "../../../services/datastore/storage/engine.ts";

const decoder = new TextDecoder();

export function decodeAll(bytes: Uint8Array): BackendMessage[] {
  const buf = new Uint8Array(bytes);
  const out: BackendMessage[] = [];
  let at = 0;
  while (at < buf.length) {
    const decoded = decodeBackendMessage(buf, DEFAULT_LIMITS, at);
    if (isIncomplete(decoded)) throw new Error("truncated output");
    out.push(decoded.value);
    at += decoded.bytesUsed;
  }
  return out;
}

export class SqlHarness {
  readonly engine: Engine;
  readonly db: Database;
  readonly dir: string;
  #pid = 1;

  private constructor(dir: string, engine: Engine, db: Database) {
    this.dir = dir;
    this.engine = engine;
    this.db = db;
  }

  static async open(dir?: string, files?: FileLayer): Promise<SqlHarness> {
    const where = dir ?? await Deno.makeTempDir({ prefix: "underhood-sql-" });
    const engine = await Engine.open({
      dir: where,
      lockTimeoutMs: 2000,
      ...(files ? { files } : {}),
    });
    return new SqlHarness(where, engine, await Database.open(engine));
  }

  /** A started session (trust authentication). */
  async session(options: { rowsHeldMax?: number } = {}): Promise<TestSession> {
    const session = new Session({
      ...options,
      db: this.db,
      secret: null,
      processId: this.#pid++,
      secretKey: 7,
    });
    const out = new MessageWriter();
    await session.startup(new Map([["user", "tester"], ["database", "test"]]), out);
    return new TestSession(session);
  }

  async close(removeDir = true): Promise<void> {
    await this.db.close();
    try {
      await this.engine.close();
    } catch {
      // An engine whose log failed cannot close cleanly (the fsync failure test).
    }
    if (removeDir) await Deno.remove(this.dir, { recursive: true });
  }
}

export class TestSession {
  readonly session: Session;
  constructor(session: Session) {
    this.session = session;
  }

  /** Sends messages; returns everything the session answered. */
  async send(...messages: FrontendMessage[]): Promise<BackendMessage[]> {
    const out = new MessageWriter();
    const chunks: Uint8Array[] = [];
    const flush = () => {
      chunks.push(out.finish());
      out.reset();
      return Promise.resolve();
    };
    for (let i = 0; i < messages.length; i++) {
      await this.session.handle(messages[i], out, flush, syncFollows(messages, i));
    }
    await flush();
    return chunks.flatMap(decodeAll);
  }

  /** A simple Query's results; throws PgServerError for an ErrorResponse. */
  async query(sql: string): Promise<QueryResult[]> {
    const results: QueryResult[] = [];
    let current: QueryResult = { fields: [], rows: [], tag: "" };
    for (const message of await this.send({ type: "Query", sql })) {
      if (message.type === "RowDescription") current.fields = message.fields;
      else if (message.type === "DataRow") {
        current.rows.push(message.values.map((v) => v === null ? null : decoder.decode(v)));
      } else if (message.type === "CommandComplete") {
        current.tag = message.tag;
        results.push(current);
        current = { fields: [], rows: [], tag: "" };
      } else if (message.type === "ErrorResponse") throw new PgServerError(message.fields);
    }
    return results;
  }

  /** The rows of the last statement of a query. */
  async rows(sql: string): Promise<(string | null)[][]> {
    const results = await this.query(sql);
    return results[results.length - 1].rows;
  }

  /** The SQLSTATE a query fails with. */
  async errorCode(sql: string): Promise<string> {
    try {
      await this.query(sql);
    } catch (error) {
      if (error instanceof PgServerError) return error.code;
      throw error;
    }
    throw new Error(`expected ${sql} to fail`);
  }

  get status(): string {
    return this.session.transactionStatus;
  }
}

/**
 * Hands each message to the session as the server does; records which
 * answers came synchronously (the effect itself, not a promise; nothing may
 * be written before a promise), and everything written, one short line a
 * message: `D a,b` rows, `C tag`, `Z status`, `E code` (with
 * `errorText`, `E code message (detail)`), else the message type.
 */
export async function handleEach(
  s: TestSession,
  messages: FrontendMessage[],
  options: { errorText?: boolean } = {},
): Promise<{ sync: boolean[]; replies: string[] }> {
  const out = new MessageWriter();
  const sync: boolean[] = [];
  const chunks: Uint8Array[] = [];
  const flush = () => {
    chunks.push(out.finish());
    out.reset();
    return Promise.resolve();
  };
  for (const [i, message] of messages.entries()) {
    const before = out.length;
    const effect: SessionEffect | Promise<SessionEffect> = s.session.handle(
      message,
      out,
      flush,
      syncFollows(messages, i),
    );
    sync.push(typeof effect === "string");
    if (typeof effect !== "string") {
      if (out.length !== before) {
        throw new Error(`${message.type}: written to before the promise`);
      }
      await effect;
    }
  }
  chunks.push(out.finish());
  const replies = chunks.flatMap(decodeAll).map((m) => {
    if (m.type === "DataRow") return `D ${m.values.map((v) => v && decoder.decode(v)).join(",")}`;
    if (m.type === "CommandComplete") return `C ${m.tag}`;
    if (m.type === "ReadyForQuery") return `Z ${m.status}`;
    if (m.type === "ErrorResponse") {
      if (!options.errorText) return `E ${m.fields.code}`;
      return `E ${m.fields.code} ${m.fields.message}` +
        (m.fields.detail ? ` (${m.fields.detail})` : "");
    }
    return m.type;
  });
  return { sync, replies };
}

/**
 * What server.ts tells the session of message `i` when the messages arrive
 * in one packet: an Execute with its Sync right behind it.
 */
function syncFollows(messages: FrontendMessage[], i: number): boolean {
  return messages[i].type === "Execute" && messages[i + 1]?.type === "Sync";
}
