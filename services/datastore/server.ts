// The datastore's PostgreSQL server: serveTcp (lib/net) for the sockets, the
// codec of lib/pg for the bytes, session.ts for what they mean.
//
// Per connection: the startup packet first (SSLRequest and GSSENCRequest are
// answered 'N', as a server without TLS does, and the real StartupMessage
// follows; a CancelRequest finds its session by process ID and secret key,
// flags it, and closes), then typed messages, decoded as they arrive and
// answered with one write per read (the session flushes earlier only for
// large results).
//
// Bounds: `connectionsMax` sessions; a client past it gets FATAL 53300
// "sorry, too many clients already" as PostgreSQL answers past
// max_connections: after its startup packet (an SSLRequest first is
// answered 'N'), so the client reads the error instead of a reset from a
// socket closed with its startup unread, and a CancelRequest still gets
// through when every session is taken (PostgreSQL's postmaster serves
// those without a backend slot). The transport takes REFUSING_MAX more
// connections for that; past those it refuses at once with the same
// error. Connections are never marked idle, so the transport never closes
// a client's open session to make room. A message past the
// codec's limits, or bytes that are not the protocol, get FATAL 08P01 and
// that connection is closed; no other session notices.

import { isIncomplete } from "../../lib/decode.ts";
import type { Logger } from "../../lib/log.ts";
import { isDisconnect } from "../../lib/net/disconnect.ts";
import { ReadBuffer } from "../../lib/net/read_buffer.ts";
import { serveTcp, type TcpConnection, type TcpServer } from "../../lib/net/tcp_server.ts";
import { writeAll } from "../../lib/net/write_all.ts";
import { encodeBackendMessage, writeBackendMessage } from "../../lib/pg/backend.ts";
import { DecodeError } from "../../lib/errors.ts";
import { errorFields, PgProtocolError } from "../../lib/pg/errors.ts";
import { decodeFrontendMessage, decodeStartupPacket } from "../../lib/pg/frontend.ts";
import type { ScramSecret } from "../../lib/pg/scram.ts";
import { DEFAULT_LIMITS, type PgLimits } from "../../lib/pg/types.ts";
import { MessageWriter } from "../../lib/pg/wire.ts";
import { Session } from "./session.ts";
import type { Database } from "./sql/executor.ts";

export interface PgServerOptions {
  db: Database;
  hostname: string;
  port: number;
  /** Open connections at most (PostgreSQL's max_connections, default 100). */
  connectionsMax: number;
  /** SCRAM-SHA-256 secret when a password is required; null: trust. */
  secret: ScramSecret | null;
  limits?: PgLimits;
  /** statement_timeout's default in milliseconds, 0 for none (57014 past it). */
  statementTimeoutMs?: number;
  log: Logger;
}

export interface PgServerStats {
  connections: number;
  queries: number;
  errors: number;
}

const N = new Uint8Array([0x4e]); // 'N': no SSL, no GSS encryption

/** Connections past `connectionsMax` held while they are told 53300 or send a cancel. */
const REFUSING_MAX = 16;

const TOO_MANY = fatal("53300", "sorry, too many clients already");

export class PgServer {
  readonly sessions = new Map<number, Session>();
  readonly stats: PgServerStats = { connections: 0, queries: 0, errors: 0 };
  #tcp: TcpServer;
  #options: PgServerOptions;
  #nextPid = 1;
  #limits: PgLimits;
  /**
   * Every connection past its startup, and whether it is blocked reading the
   * client's next message outside a transaction block (a flag set and
   * cleared around each read: cheaper than adding to a set and removing).
   */
  #connections = new Map<TcpConnection, { waiting: boolean }>();
  #closing = false;

  constructor(options: PgServerOptions) {
    this.#options = options;
    this.#limits = options.limits ?? DEFAULT_LIMITS;
    this.#tcp = serveTcp({
      label: "datastore service port",
      hostname: options.hostname,
      port: options.port,
      connectionsMax: options.connectionsMax + REFUSING_MAX,
      refusalBytes: encodeBackendMessage(TOO_MANY),
      log: options.log,
      handler: (c) => this.#serve(c),
    });
  }

  get addr(): Deno.NetAddr {
    return this.#tcp.addr;
  }

  get tcp(): TcpServer {
    return this.#tcp;
  }

  /**
   * Stops accepting and closes every session waiting for its client outside
   * a transaction block; statements and blocks in flight get
   * `drainTimeoutMs` to finish. The close is silent, as the transport closes
   * idle connections: PostgreSQL's fast shutdown says FATAL 57P01 first, but
   * a pooled driver that has just sent Terminate then reads that FATAL as an
   * error of its own (the npm `pg` pool does, uncaught), while a bare close
   * is what it expects.
   */
  close(drainTimeoutMs?: number): Promise<void> {
    this.#closing = true;
    for (const [c, state] of this.#connections) if (state.waiting) c.close();
    return this.#tcp.close(drainTimeoutMs);
  }

  async #serve(c: TcpConnection): Promise<void> {
    this.stats.connections++;
    const conn = c.conn;
    const limits = this.#limits;
    const input = new ReadBuffer({ sizeBytesMax: limits.messageBytesMax + 1024 });
    const out = new MessageWriter();
    // Written from the writer's own buffer, not a copy: nothing else
    // writes to `out` until the write is done.
    const flush = async () => {
      if (out.length === 0) return;
      try {
        await writeAll(conn, out.view());
      } finally {
        out.reset();
      }
    };
    let session: Session | null = null;
    let needed = 0;
    try {
      // Startup: SSL/GSS requests, a cancel, or the StartupMessage.
      while (session === null) {
        if (await input.fill(conn, needed) === null) return;
        for (;;) {
          const decoded = decodeStartupPacket(input.bytes, limits, input.start, input.end);
          if (isIncomplete(decoded)) {
            needed = decoded.bytesNeeded;
            break;
          }
          input.consume(decoded.bytesUsed);
          needed = 0;
          const packet = decoded.value;
          if (packet.type === "SSLRequest" || packet.type === "GSSENCRequest") {
            await writeAll(conn, N);
            continue;
          }
          if (packet.type === "CancelRequest") {
            const target = this.sessions.get(packet.processId);
            if (target && target.secretKey === packet.secretKey) target.cancelRequested = true;
            return;
          }
          if (packet.majorVersion !== 3) {
            writeBackendMessage(
              out,
              fatal(
                "0A000",
                `unsupported frontend protocol ${packet.majorVersion}.${packet.minorVersion}: server supports 3.0 to 3.0`,
              ),
            );
            await flush();
            return;
          }
          if (this.sessions.size >= this.#options.connectionsMax) {
            writeBackendMessage(out, TOO_MANY);
            await flush();
            return;
          }
          const pid = this.#nextPid++;
          session = new Session({
            db: this.#options.db,
            secret: this.#options.secret,
            processId: pid,
            secretKey: crypto.getRandomValues(new Int32Array(1))[0],
            statementTimeoutMs: this.#options.statementTimeoutMs,
            log: (error) => this.#options.log.error("datastore: {error}", { error: String(error) }),
          });
          this.sessions.set(pid, session);
          const effect = await session.startup(packet.parameters, out);
          await flush();
          if (effect === "close") return;
          break;
        }
      }
      // Typed messages until Terminate or EOF.
      const state = { waiting: false };
      this.#connections.set(c, state);
      for (;;) {
        const idle = session.transactionStatus === "I";
        if (idle && this.#closing) return;
        state.waiting = idle;
        // reserve/commit rather than fill(): one promise per read, not two.
        let filled;
        try {
          filled = await conn.read(input.reserve(needed));
        } finally {
          state.waiting = false;
        }
        if (filled === null) return;
        input.commit(filled);
        for (;;) {
          let decoded;
          try {
            decoded = decodeFrontendMessage(input.bytes, limits, input.start, input.end);
          } catch (error) {
            // A sound frame with a bad body is an ERROR, as in PostgreSQL; bad framing stays FATAL.
            const frame = soundFrame(input.bytes, input.start, input.end);
            if (
              frame === null || !(error instanceof DecodeError || error instanceof PgProtocolError)
            ) {
              throw error;
            }
            const type = input.bytes[input.start];
            input.consume(frame);
            if (!await session.rejectMessage(type, error, out)) throw error;
            continue;
          }
          if (isIncomplete(decoded)) {
            needed = decoded.bytesNeeded;
            break;
          }
          input.consume(decoded.bytesUsed);
          if (decoded.value.type === "Query" || decoded.value.type === "Execute") {
            this.stats.queries++;
          }
          // Synchronous for the common extended-query messages (a prepared
          // point lookup's Bind, Describe, Execute and Sync): every complete
          // message read is then answered without a promise, in one write.
          // An Execute whose Sync is already here (libpq sends them in one
          // packet) may run alone in its transaction (Session.handle).
          const syncFollows = decoded.value.type === "Execute" &&
            isSync(input.bytes, input.start, input.end);
          let effect = session.handle(decoded.value, out, flush, syncFollows);
          if (typeof effect !== "string") effect = await effect;
          if (effect === "close") {
            await flush();
            return;
          }
        }
        if (out.length > 0) {
          // flush() inlined: the usual whole write costs one promise, not three.
          try {
            const bytes = out.view();
            const written = await conn.write(bytes);
            if (written < bytes.length) await writeAll(conn, bytes.subarray(written));
          } finally {
            out.reset();
          }
        }
      }
    } catch (error) {
      if (isDisconnect(error) || c.closed) return;
      this.stats.errors++;
      const fields = errorFields(error, "FATAL");
      if (fields.code === "XX000") {
        this.#options.log.error("datastore: {error}", { error: String(error) });
      }
      out.reset();
      writeBackendMessage(out, { type: "ErrorResponse", fields });
      try {
        await flush();
      } catch { /* the client is gone */ }
    } finally {
      this.#connections.delete(c);
      if (session !== null) {
        session.close();
        this.sessions.delete(session.processId);
      }
    }
  }
}

/** Whether a whole Sync message ('S', length 4) starts at `start`. */
function isSync(bytes: Uint8Array, start: number, end: number): boolean {
  return end - start >= 5 && bytes[start] === 0x53 && bytes[start + 1] === 0 &&
    bytes[start + 2] === 0 && bytes[start + 3] === 0 && bytes[start + 4] === 4;
}

/** Typed frontend messages (the first byte) whose body alone may be malformed. */
const KNOWN_TYPES = new Set([...("QPBDECSHXpdcf")].map((c) => c.charCodeAt(0)));

/**
 * The length of the complete frame at `start` when its type is one we know
 * and its length field is sane and wholly received, else null.
 */
function soundFrame(bytes: Uint8Array, start: number, end: number): number | null {
  if (end - start < 5 || !KNOWN_TYPES.has(bytes[start])) return null;
  const length = new DataView(bytes.buffer, bytes.byteOffset + start + 1, 4).getUint32(0);
  if (length < 4 || end - start < 1 + length) return null;
  return 1 + length;
}

function fatal(code: string, message: string) {
  return {
    type: "ErrorResponse" as const,
    fields: { severity: "FATAL", severityNonLocalized: "FATAL", code, message },
  };
}
