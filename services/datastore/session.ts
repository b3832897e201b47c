// One client's PostgreSQL session (documentation 55.2 "Message Flow"): the
// startup and authentication exchange, the simple and extended query
// protocols, COPY FROM STDIN, transaction blocks and run-time settings.
//
// The session never touches a socket: the server hands it decoded messages
// and it appends its answers to a MessageWriter, calling `flush` when a
// large result should go out before the rest is computed. What it asks the
// server to do besides writing (close the connection, cancel another
// session) comes back as the result of `handle`. So scripted transcripts
// run against it without a socket (tests/services/datastore/session_test.ts).
// It is not a pure function of (state, message), because running SQL
// awaits the storage engine.
//
// Transactions, as PostgreSQL runs them:
//   - Outside BEGIN, each simple Query message is one implicit transaction
//     (all its statements), and the extended protocol's messages up to Sync
//     are one: committed at the end, and the commit is durable before
//     ReadyForQuery goes out.
//   - Inside BEGIN, an error aborts the transaction block: the engine
//     transaction is rolled back at once (its locks released) and every
//     statement but COMMIT/ROLLBACK gets 25P02 until the block ends.
//   - A read-only statement's rows are sent only once every commit it may
//     have read is durable (the engine releases locks before the fsync).
//   - After an error in the extended protocol, messages are skipped until
//     Sync (55.2.3).
//
// Left out: SAVEPOINT, cursors (DECLARE/FETCH), LISTEN/NOTIFY, COPY TO and
// COPY in binary or CSV format, function call messages, replication.

import { enumOf } from "./sql/enums.ts";
import { settingRefusal, SHOWN_DEFAULTS } from "./pg_settings.ts";
import type { Bytes } from "../../lib/bytes.ts";
import { errorFields, PgProtocolError } from "../../lib/pg/errors.ts";
import { OID, typeByOid } from "../../lib/pg/oids.ts";
import { ARRAY_OID_OF } from "../../lib/pg/arrays.ts";
import { parseSaslInitialResponse } from "../../lib/pg/frontend.ts";
import {
  authMessageFor,
  parseClientFinal,
  parseClientFirst,
  type ScramSecret,
  type ScramServerState,
  serverFirstMessage,
  toBase64,
  verifyClientProof,
} from "../../lib/pg/scram.ts";
import type {
  BackendMessage,
  FieldDescription,
  FormatCode,
  FrontendMessage,
  NoticeFields,
  TransactionStatus,
} from "../../lib/pg/types.ts";
import {
  formatBinary,
  formatText,
  parseBinary,
  parseText,
  type PgValue,
} from "../../lib/pg/values.ts";
import {
  encodeBackendMessage,
  type FieldWriter,
  writeBackendMessage,
  writeDataRow,
} from "../../lib/pg/backend.ts";
import { MessageWriter } from "../../lib/pg/wire.ts";
import type { Statement } from "./sql/ast.ts";
import { CatalogBusyError, SqlError } from "./sql/errors.ts";
import { type ScalarType, type SqlType, sqlTypeOf, typeOid } from "./sql/eval.ts";
import { executePlan } from "./sql/prepared_sql.ts";
import {
  copyRows,
  copySource,
  type CopyTarget,
  copyTarget,
  copyText,
  type Database,
  type InsertNow,
  lockErrorToSql,
  type PointRead,
  prepare,
  type Prepared,
  type Result,
  type ResultColumn,
  type RunContext,
  SERVER_VERSION,
  type SessionInfo,
  SqlTransaction,
} from "./sql/executor.ts";
import type { SqlLimits } from "./sql/parser.ts";
import { printExpr } from "./sql/printer.ts";
import { withPosition } from "./sql/positions.ts";
import { CopyReader, type CopyRow, formatCopyHeader, formatCopyRow } from "./sql/copy.ts";
import { releaseSavepoint, rollbackToSavepoint, setSavepoint } from "./sql/savepoints.ts";
import { deferredLookups } from "./sql/constraints.ts";
import { deferredCount, runDeferred } from "./sql/deferred_constraints.ts";
import { StatementCache } from "./statement_cache.ts";

/** Settings reported to the client with ParameterStatus (libpq and drivers read them). */
const REPORTED = [
  "server_version",
  "server_encoding",
  "client_encoding",
  "application_name",
  "DateStyle",
  "TimeZone",
  "integer_datetimes",
  "standard_conforming_strings",
  "IntervalStyle",
  "is_superuser",
  "session_authorization",
  "default_transaction_read_only",
  "in_hot_standby",
] as const;

const DEFAULT_SETTINGS: Readonly<Record<string, string>> = {
  server_version: SERVER_VERSION,
  server_version_num: "150000",
  server_encoding: "UTF8",
  client_encoding: "UTF8",
  application_name: "",
  datestyle: "ISO, MDY",
  timezone: "UTC",
  integer_datetimes: "on",
  standard_conforming_strings: "on",
  intervalstyle: "postgres",
  is_superuser: "on",
  default_transaction_read_only: "off",
  in_hot_standby: "off",
  session_authorization: "",
  search_path: '"$user", public',
  extra_float_digits: "1",
  bytea_output: "hex",
  transaction_isolation: "serializable",
  default_transaction_isolation: "serializable",
  statement_timeout: "0",
  lock_timeout: "0",
  max_identifier_length: "63",
  synchronous_commit: "on",
  client_min_messages: "notice",
};

/** Settings whose names are shown in their canonical case (ParameterStatus, SHOW's column). */
const CANONICAL_NAME: Record<string, string> = {
  datestyle: "DateStyle",
  timezone: "TimeZone",
  intervalstyle: "IntervalStyle",
};

/** Rows of one result are flushed to the client once this many bytes are waiting. */
export const FLUSH_BYTES = 64 * 1024;

/** How long a statement waits for another session's DDL when lock_timeout is unset (engine.ts's lock wait). */
const CATALOG_WAIT_MS = 5000;

/** How often a statement waiting for another session's DDL looks again. */
const CATALOG_POLL_MS = 5;

/** COPY rows are inserted in groups of this many. */
const COPY_GROUP_ROWS = 256;

export interface SessionOptions {
  db: Database;
  /** SCRAM secret for password authentication; null: trust. */
  secret: ScramSecret | null;
  processId: number;
  secretKey: number;
  limits?: SqlLimits;
  /** Rows a statement may hold in memory at once (default ROWS_HELD_MAX in the executor). */
  rowsHeldMax?: number;
  /**
   * statement_timeout's default (and RESET value) in milliseconds, 0 for none
   * (PostgreSQL's default): a statement running longer fails with 57014.
   */
  statementTimeoutMs?: number;
  /** Logs errors we did not expect (those become XX000 for the client). */
  log?: (error: unknown) => void;
}

/** What the server should do after a message. */
export type SessionEffect = "continue" | "close";

interface PreparedStatement {
  sql: string;
  statement: Statement | null;
  declared: SqlType[];
  prepared: Prepared | Utility | null;
  version: number;
  /** How its rows go out in the result formats a portal asked for last (see `#output`). */
  output?: Output;
}

/**
 * A statement's result columns in one choice of result formats: the
 * RowDescription's bytes and each column's DataRow writer. Made once per
 * plan and formats instead of once per portal: a prepared statement run
 * again and again (pgbench -M prepared) describes its portal every time.
 */
interface Output {
  prepared: Prepared | Utility;
  formats: FormatCode[];
  rowDescription: Bytes;
  fields: FieldWriter<Exclude<PgValue, null>>[];
}

/** A statement the session runs itself (transaction control, SET, SHOW, COPY). */
interface Utility {
  utility: true;
  statement: Statement;
  columns: ResultColumn[] | null;
  paramTypes: SqlType[];
}

interface Portal {
  statement: PreparedStatement;
  params: PgValue[];
  formats: FormatCode[];
  result: Result | null;
  /** Rows fetched from the result but not yet sent. */
  pending: PgValue[][];
  done: boolean;
}

export class Session {
  readonly processId: number;
  readonly secretKey: number;
  readonly info: SessionInfo;
  /** Set by a CancelRequest; checked between batches of rows. */
  cancelRequested = false;
  #db: Database;
  #secret: ScramSecret | null;
  #limits: SqlLimits | undefined;
  #rowsHeldMax: number | undefined;
  #phase: "startup" | "sasl-first" | "sasl-final" | "ready" | "copy" = "startup";
  #scram: ScramServerState | null = null;
  #tx: SqlTransaction | null = null;
  #explicit = false;
  /**
   * Settings as they were before the open block first changed them (a
   * ROLLBACK puts them back, as PostgreSQL undoes SET with the block), and
   * the session's values under each SET LOCAL (put back when the block ends).
   */
  #settingsSaved = new Map<string, string | undefined>();
  /** RESET's values: the server's defaults under what the startup packet set. */
  #resetValues = new Map<string, string>();
  #settingsLocal = new Map<string, string | undefined>();
  #failed = false;
  #skipToSync = false;
  #statements = new Map<string, PreparedStatement>();
  #portals = new Portals();
  /** Database.yieldNow for this session's transactions (one closure, not one per transaction). */
  readonly #yieldNow = () => this.#db.yieldNow();
  #copy: {
    target: CopyTarget;
    reader: CopyReader;
    decoder: TextDecoder;
    rows: CopyRow[];
    error: unknown;
  } | null = null;
  #copyInExtended = false;
  /** Parsed query texts and their plans (simple protocol). */
  #cache: StatementCache<Prepared | Utility>;
  #log: (error: unknown) => void;
  #statementTimeoutMs: number;
  /** When the running Query or Execute times out (Date.now() ms), 0 for never. */
  #deadlineMs = 0;

  constructor(options: SessionOptions) {
    this.#db = options.db;
    this.#secret = options.secret;
    this.#limits = options.limits;
    this.#cache = new StatementCache(options.limits);
    this.#rowsHeldMax = options.rowsHeldMax;
    this.processId = options.processId;
    this.secretKey = options.secretKey;
    this.#log = options.log ?? (() => {});
    this.info = {
      user: "",
      database: "",
      settings: new Map(Object.entries(DEFAULT_SETTINGS)),
      transaction: () => this.#tx,
      advisoryOwner: { id: options.processId },
      processId: options.processId,
      inBlock: () => this.#explicit,
      // A reported setting changed this way sends no ParameterStatus (left out).
      setSetting: (name, value, local) => {
        refuseSetting(name);
        if (local && !this.#explicit) return value; // lasts only for this statement's transaction
        this.#saveSetting(name, local);
        const scratch = new MessageWriter();
        this.#set(name, value, scratch);
        return this.info.settings.get(name) ?? value;
      },
    };
    this.#statementTimeoutMs = options.statementTimeoutMs ?? 0;
    this.info.settings.set("statement_timeout", durationText(this.#statementTimeoutMs));
  }

  /** statement_timeout as last parsed, and its value in ms. */
  #timeoutText = "";
  #timeoutMs = 0;

  /** Starts the statement timer for one Query or Execute message, as PostgreSQL does. */
  #startStatement(): void {
    this.cancelRequested = false;
    const text = this.info.settings.get("statement_timeout") ?? "0";
    // Parsed again only when the setting changed: this runs for every Execute.
    if (text !== this.#timeoutText) {
      this.#timeoutText = text;
      this.#timeoutMs = parseDurationMs(text);
    }
    const timeoutMs = this.#timeoutMs;
    this.#deadlineMs = timeoutMs > 0 ? Date.now() + timeoutMs : 0;
  }

  /** lock_timeout as last parsed, and its value in ms (undefined for 0: the engine's bound). */
  #lockTimeoutText = "0";
  #lockTimeoutValue: number | undefined = undefined;

  /** How long this statement's lock waits may last: lock_timeout, or the engine's bound when 0. */
  #lockTimeoutMs(): number | undefined {
    const text = this.info.settings.get("lock_timeout") ?? "0";
    if (text !== this.#lockTimeoutText) {
      this.#lockTimeoutText = text;
      const ms = parseDurationMs(text);
      this.#lockTimeoutValue = ms > 0 ? ms : undefined;
    }
    return this.#lockTimeoutValue;
  }

  /** Throws 57014 when the client cancelled or the statement timed out; between batches. */
  #checkInterrupts(): void {
    if (this.cancelRequested) {
      this.cancelRequested = false;
      throw new SqlError("57014", "canceling statement due to user request");
    }
    if (this.#deadlineMs > 0 && Date.now() >= this.#deadlineMs) {
      this.#deadlineMs = 0;
      throw new SqlError("57014", "canceling statement due to statement timeout");
    }
  }

  #inCopy(): boolean {
    return this.#phase === "copy";
  }

  get transactionStatus(): TransactionStatus {
    if (this.#failed) return "E";
    return this.#explicit ? "T" : "I";
  }

  // Startup ----------------------------------------------------------------------

  /** Handles the StartupMessage's parameters: asks for a password or says hello. */
  async startup(parameters: Map<string, string>, out: MessageWriter): Promise<SessionEffect> {
    const user = parameters.get("user");
    if (!user) {
      send(out, fatal("28000", "no PostgreSQL user name specified in startup packet"));
      return "close";
    }
    this.info.user = user;
    this.info.database = parameters.get("database") || user;
    this.info.settings.set("session_authorization", user);
    for (const [name, value] of parameters) {
      const key = name.toLowerCase();
      if (key === "application_name" || key === "client_encoding" || key === "datestyle") {
        this.info.settings.set(key, value);
      } else if (key === "fallback_application_name" && !parameters.has("application_name")) {
        // libpq clients (psql sends "psql") name themselves here; PostgreSQL takes it.
        this.info.settings.set("application_name", value);
      } else if (key === "statement_timeout") {
        // Drivers send it here (the npm pg driver's statement_timeout option).
        const timeoutMs = parseDurationMs(value);
        if (Number.isNaN(timeoutMs)) {
          send(out, fatal("22023", `invalid value for parameter "statement_timeout": "${value}"`));
          return "close";
        }
        this.info.settings.set(key, durationText(timeoutMs));
      }
    }
    const encoding = this.info.settings.get("client_encoding")!.toUpperCase().replace(/[-_]/g, "");
    if (encoding !== "UTF8" && encoding !== "UNICODE") {
      send(out, fatal("22023", `invalid value for parameter "client_encoding": "${encoding}"`));
      return "close";
    }
    this.info.settings.set("client_encoding", "UTF8");
    for (
      const key of ["application_name", "datestyle", "statement_timeout", "session_authorization"]
    ) {
      this.#resetValues.set(key, this.info.settings.get(key)!);
    }
    if (this.#secret !== null) {
      send(out, { type: "AuthenticationSASL", mechanisms: ["SCRAM-SHA-256"] });
      this.#phase = "sasl-first";
      return "continue";
    }
    await this.#welcome(out);
    return "continue";
  }

  #welcome(out: MessageWriter): Promise<void> {
    send(out, { type: "AuthenticationOk" });
    for (const name of REPORTED) {
      const value = this.info.settings.get(name.toLowerCase()) ?? "";
      send(out, { type: "ParameterStatus", name, value });
    }
    send(out, { type: "BackendKeyData", processId: this.processId, secretKey: this.secretKey });
    send(out, { type: "ReadyForQuery", status: "I" });
    this.#phase = "ready";
    return Promise.resolve();
  }

  async #authenticate(data: Bytes, out: MessageWriter): Promise<SessionEffect> {
    const secret = this.#secret!;
    const failed = () => {
      send(
        out,
        fatal("28P01", `password authentication failed for user "${this.info.user}"`),
      );
      return "close" as const;
    };
    if (this.#phase === "sasl-first") {
      const { mechanism, initialResponse } = parseSaslInitialResponse(data);
      if (mechanism !== "SCRAM-SHA-256" || initialResponse === null) {
        send(out, fatal("08P01", "client selected an invalid SASL authentication mechanism"));
        return "close";
      }
      const first = parseClientFirst(new TextDecoder().decode(initialResponse));
      const nonce = toBase64(crypto.getRandomValues(new Uint8Array(18)));
      const { message, state } = serverFirstMessage(first, secret, nonce);
      this.#scram = state;
      this.#phase = "sasl-final";
      send(out, { type: "AuthenticationSASLContinue", data: new TextEncoder().encode(message) });
      return "continue";
    }
    const final = parseClientFinal(new TextDecoder().decode(data));
    const verdict = await verifyClientProof(
      secret,
      authMessageFor(this.#scram!, final),
      final.proof,
    );
    if (verdict === null) return failed();
    send(out, { type: "AuthenticationSASLFinal", data: new TextEncoder().encode(verdict) });
    await this.#welcome(out);
    return "continue";
  }

  // Messages -----------------------------------------------------------------------

  /**
   * Handles one message after the startup packet. The extended protocol's
   * common messages are answered synchronously when nothing has to wait
   * (see `#handleNow`), and the result is then the effect itself rather
   * than a promise of it: a prepared point lookup's Bind, Describe, Execute
   * and Sync cost no promise and no turn of the microtask queue each. The
   * rest, and any of those that would wait, run in `#handleAsync`.
   */
  handle(
    message: FrontendMessage,
    out: MessageWriter,
    flush: () => Promise<void>,
    syncFollows = false,
  ): SessionEffect | Promise<SessionEffect> {
    if (this.#phase === "ready") {
      const now = this.#handleNow(message, out, syncFollows);
      if (now === true) return "continue";
      if (now !== false) return this.#rest(now, out);
    }
    return this.#handleAsync(message, out, flush);
  }

  /**
   * The part of a message `#handleNow` began and could not finish without
   * waiting (an INSERT's row lock, a commit's fsync): its errors handled as
   * `#handleAsync` handles them.
   */
  #rest(work: Promise<void>, out: MessageWriter): Promise<SessionEffect> {
    return work.then(() => "continue", (error) => {
      if (error instanceof PgProtocolError) throw error;
      this.#failNow(error, out);
      this.#skipToSync = true;
      return "continue";
    });
  }

  /**
   * The synchronous part of `handle`: true when `message` was handled to
   * the end here, false when nothing was done and `#handleAsync` must run
   * it. That is: a message only the asynchronous path knows; one that
   * names a table another session's open DDL holds (`#waitForCatalog`
   * waits for it); an Execute that is not a point lookup that can answer
   * now (`#pointLookup`) or a single-row INSERT (`#insertNow`). A promise
   * when the message was begun here and its end must wait (`#rest` awaits
   * it): a Sync whose commit waits for the log's fsync, an INSERT that
   * waits for its row's lock. What is done here matches `#handleAsync`
   * message for message, errors included.
   */
  #handleNow(
    message: FrontendMessage,
    out: MessageWriter,
    syncFollows: boolean,
  ): boolean | Promise<void> {
    if (this.#skipToSync && message.type !== "Sync") {
      return message.type !== "Terminate";
    }
    try {
      switch (message.type) {
        case "Parse":
          this.#parse(message.statement, message.sql, message.parameterTypes);
          out.bytes(PARSE_COMPLETE);
          return true;
        case "Bind":
          this.#bind(message);
          out.bytes(BIND_COMPLETE);
          return true;
        case "Describe":
          this.#describe(message.kind, message.name, out);
          return true;
        case "Execute":
          return this.#executeNow(message.portal, message.rowsMax, out, syncFollows);
        case "Close":
          if (message.kind === "S") this.#statements.delete(message.name);
          else this.#portals.delete(message.name);
          out.bytes(CLOSE_COMPLETE);
          return true;
        case "Sync": {
          this.#skipToSync = false;
          const commit = this.#endImplicitNow(out);
          if (commit === true) {
            out.bytes(READY[this.transactionStatus]);
            return true;
          }
          return commit.then(() => {
            out.bytes(READY[this.transactionStatus]);
          });
        }
        case "CopyData":
        case "CopyDone":
        case "CopyFail":
          // Outside COPY these are ignored, as PostgreSQL does (55.2.6).
          return true;
        default:
          return false;
      }
    } catch (error) {
      // Planning met another session's DDL: the asynchronous path waits for it.
      if (error instanceof CatalogBusyError) return false;
      if (error instanceof PgProtocolError) throw error;
      this.#failNow(error, out);
      this.#skipToSync = true;
      return true;
    }
  }

  /**
   * An Execute answered synchronously: a portal of a prepared point lookup
   * whose lock is free and whose reads are durable, run to the end (no row
   * limit). False, with nothing sent, otherwise; a lock the lookup took
   * stays held, as `#execute` would take it again.
   */
  #executeNow(
    name: string,
    rowsMax: number,
    out: MessageWriter,
    syncFollows: boolean,
  ): boolean | Promise<void> {
    const portal = this.#portals.get(name);
    if (portal === undefined || portal.done || portal.result !== null) return false;
    this.#startStatement();
    const prepared = this.#current(portal.statement);
    if (prepared === null || "utility" in prepared || this.#failed) return false;
    if (prepared.insertNow) return this.#insertNow(name, portal, prepared.insertNow, out);
    if (rowsMax !== 0 || !prepared.point) return false;
    // Alone in its transaction when the Sync that commits it is already here
    // (handled next, synchronously) and no earlier statement opened one.
    const alone = syncFollows && !this.#explicit && this.#tx === null;
    if (!this.#pointLookup(prepared, prepared.point, portal, out, alone)) return false;
    if (name === "") this.#portals.delete(name);
    return true;
  }

  /**
   * Executes a portal of a single-row INSERT synchronously (executor.ts
   * `insertNow`), as `#execute` and `#runStatement` would: its
   * CommandComplete, the unnamed portal dropped. A row limit does not
   * matter to a statement without rows. False, with nothing done, when a
   * counter must reserve numbers first; a promise when its row's lock must
   * be waited for.
   */
  #insertNow(
    name: string,
    portal: Portal,
    run: InsertNow,
    out: MessageWriter,
  ): boolean | Promise<void> {
    const sqlTx = this.#transaction();
    sqlTx.tx.lockTimeoutMs = this.#lockTimeoutMs();
    const count = run(sqlTx, portal.params);
    if (count === null) return false;
    const complete = (n: number) => {
      portal.done = true;
      out.bytes(
        n === 1
          ? INSERT_1
          : encodeBackendMessage({ type: "CommandComplete", tag: `INSERT 0 ${n}` }),
      );
      if (name === "") this.#portals.delete(name);
    };
    if (typeof count === "number") {
      complete(count);
      return true;
    }
    return count.then(complete);
  }

  /** Handles one message, awaiting what must be awaited. */
  async #handleAsync(
    message: FrontendMessage,
    out: MessageWriter,
    flush: () => Promise<void>,
  ): Promise<SessionEffect> {
    if (this.#phase === "sasl-first" || this.#phase === "sasl-final") {
      if (message.type !== "AuthenticationResponse") {
        throw new PgProtocolError(`expected SASL response, got message type ${message.type}`);
      }
      return await this.#authenticate(message.data, out);
    }
    if (this.#phase === "copy") return await this.#copyMessage(message, out);
    if (message.type === "Terminate") {
      await this.#endImplicit();
      this.#rollbackAll();
      return "close";
    }
    if (this.#skipToSync && message.type !== "Sync") return "continue";
    try {
      switch (message.type) {
        case "Query":
          await this.#simpleQuery(message.sql, out, flush);
          break;
        case "Parse":
          await this.#waitForCatalog(() =>
            this.#parse(message.statement, message.sql, message.parameterTypes)
          );
          send(out, { type: "ParseComplete" });
          break;
        case "Bind":
          await this.#waitForCatalog(() => this.#bind(message));
          send(out, { type: "BindComplete" });
          break;
        case "Describe":
          await this.#waitForCatalog(() => this.#describe(message.kind, message.name, out));
          break;
        case "Execute":
          await this.#waitForCatalog(() => {
            this.#startStatement();
            const portal = this.#portals.get(message.portal);
            if (portal) this.#current(portal.statement);
          });
          await this.#execute(message.portal, message.rowsMax, out, flush);
          break;
        case "Close":
          if (message.kind === "S") this.#statements.delete(message.name);
          else this.#portals.delete(message.name);
          send(out, { type: "CloseComplete" });
          break;
        case "Sync":
          this.#skipToSync = false;
          await this.#endImplicit(out);
          send(out, { type: "ReadyForQuery", status: this.transactionStatus });
          break;
        case "Flush":
          await flush();
          break;
        case "AuthenticationResponse":
          throw new PgProtocolError("unexpected authentication message");
        case "CopyData":
        case "CopyDone":
        case "CopyFail":
          // Outside COPY these are ignored, as PostgreSQL does (55.2.6).
          break;
      }
    } catch (error) {
      if (error instanceof PgProtocolError) throw error;
      await this.#fail(error, out);
      this.#skipToSync = true;
    }
    return "continue";
  }

  /**
   * A message whose frame was sound (known type, length within bounds) but
   * whose body was not (a string without its zero byte, a bad DESCRIBE or
   * CLOSE subtype, bytes left over): PostgreSQL answers ERROR 08P01 and
   * carries on, skipping to Sync after an extended-query message, as after
   * any error. Returns false when this session cannot (still
   * authenticating, or in COPY), so the caller ends the connection.
   */
  async rejectMessage(typeByte: number, error: unknown, out: MessageWriter): Promise<boolean> {
    if (this.#phase !== "ready") return false;
    if (error instanceof Error && error.message.startsWith("invalid byte sequence")) {
      error = new SqlError("22021", error.message); // PostgreSQL's character_not_in_repertoire
    }
    if (typeByte === 0x51 /* Query */) {
      await this.#fail(error, out);
      send(out, { type: "ReadyForQuery", status: this.transactionStatus });
      return true;
    }
    if (this.#skipToSync) return true;
    await this.#fail(error, out);
    this.#skipToSync = true;
    return true;
  }

  /**
   * Sends a NOTICE or WARNING unless client_min_messages is above its
   * level (PostgreSQL's elog levels: debug* < log < notice < warning < error).
   */
  #notify(out: MessageWriter, fields: NoticeFields): void {
    const levels = [
      "debug5",
      "debug4",
      "debug3",
      "debug2",
      "debug1",
      "log",
      "notice",
      "warning",
      "error",
    ];
    const min = levels.indexOf(
      (this.info.settings.get("client_min_messages") ?? "notice").toLowerCase(),
    );
    if (levels.indexOf((fields.severityNonLocalized ?? fields.severity).toLowerCase()) < min) {
      return;
    }
    send(out, { type: "NoticeResponse", fields });
  }

  /** Called when the connection ends for any reason: rolls back what is open. */
  close(): void {
    this.#rollbackAll();
    this.#db.advisory.unlockAll(this.info.advisoryOwner!);
  }

  #rollbackAll(): void {
    if (this.#tx !== null) {
      this.#tx.tx.rollbackSync();
      this.#db.undoCatalog(this.#tx);
      this.#tx = null;
    }
    if (this.#explicit) this.#endSettings(false, null);
    this.#explicit = false;
    this.#failed = false;
  }

  /** What RESET (and SET ... TO DEFAULT) puts back. */
  #resetValue(name: string): string {
    return this.#resetValues.get(name) ??
      (name === "statement_timeout"
        ? durationText(this.#statementTimeoutMs)
        : DEFAULT_SETTINGS[name] ?? SHOWN_DEFAULTS[name] ?? "");
  }

  /** Remembers a setting's value before the open block first changes it (`local`: SET LOCAL). */
  #saveSetting(name: string, local: boolean): void {
    if (!this.#explicit) return;
    const current = this.info.settings.get(name);
    if (!this.#settingsSaved.has(name)) this.#settingsSaved.set(name, current);
    if (local && !this.#settingsLocal.has(name)) this.#settingsLocal.set(name, current);
  }

  /**
   * The block ended: SET LOCAL values end with it, and a rollback undoes
   * every SET made in it. `out` (null when none) gets ParameterStatus for
   * reported settings that change back.
   */
  #endSettings(committed: boolean, out: MessageWriter | null): void {
    const restore = committed ? this.#settingsLocal : this.#settingsSaved;
    for (const [name, value] of restore) {
      if (value === undefined) this.info.settings.delete(name);
      else if (this.info.settings.get(name) !== value) {
        this.info.settings.set(name, value);
        const reported = REPORTED.find((r) => r.toLowerCase() === name);
        if (reported && out) send(out, { type: "ParameterStatus", name: reported, value });
      }
    }
    this.#settingsSaved.clear();
    this.#settingsLocal.clear();
  }

  /** Reports an error and aborts the transaction (block) it happened in. */
  async #fail(error: unknown, out: MessageWriter): Promise<void> {
    this.#failNow(error, out);
    await Promise.resolve();
  }

  #failNow(error: unknown, out: MessageWriter): void {
    const fields = errorFields(lockErrorToSql(error));
    if (fields.code === "XX000") this.#log(error);
    send(out, { type: "ErrorResponse", fields });
    this.#portals.clear();
    // With a savepoint to go back to, the block keeps its transaction (and
    // locks) until ROLLBACK TO or ROLLBACK, as PostgreSQL does.
    const keep = this.#explicit && this.#tx !== null && this.#tx.savepoints.length > 0 &&
      this.#tx.tx.state === "open";
    if (this.#tx !== null && !keep) {
      this.#tx.tx.rollbackSync();
      this.#db.undoCatalog(this.#tx);
      this.#tx = null;
    }
    if (this.#explicit) this.#failed = true;
  }

  #transaction(): SqlTransaction {
    this.#tx ??= new SqlTransaction(this.#db.engine.begin(), this.#yieldNow);
    return this.#tx;
  }

  /**
   * `#endImplicit` with no promise when it needs none: true when there was
   * nothing to commit, or the commit had nothing to wait for (a transaction
   * that changed nothing and read only durable commits, see the engine's
   * `commitNow`); else `#endImplicit`'s promise, the commit record already
   * appended and the locks released, resolving once the fsync covers it.
   */
  #endImplicitNow(out: MessageWriter): true | Promise<void> {
    if (this.#explicit || this.#tx === null) return true;
    const tx = this.#tx;
    this.#tx = null;
    this.#portals.clear(); // portals live until their transaction ends
    if (deferredCount(tx.tx) > 0) return this.#endImplicitAfterChecks(tx, out);
    // As #endImplicit, without its async frame.
    try {
      if (tx.tx.commitNow()) return true;
      return tx.tx.commit().catch((error) => this.#commitFailed(tx, error, out));
    } catch (error) {
      this.#commitFailed(tx, error, out);
      return true;
    }
  }

  /** The implicit commit of a transaction with deferred checks queued: they run first. */
  async #endImplicitAfterChecks(tx: SqlTransaction, out: MessageWriter): Promise<void> {
    try {
      await this.#runDeferredChecks(tx);
      await tx.tx.commit();
    } catch (error) {
      if (tx.tx.state === "open") await tx.tx.rollback();
      this.#commitFailed(tx, error, out);
    }
  }

  /** The foreign key checks deferred to the commit (deferred_constraints.ts). */
  #runDeferredChecks(tx: SqlTransaction): Promise<void> {
    const tables = this.#db.tables;
    return runDeferred(tx.tx, deferredLookups(tx.tx, tables));
  }

  /** What a failed implicit commit does: the catalog's changes undone, the error sent. */
  #commitFailed(tx: SqlTransaction, error: unknown, out: MessageWriter): void {
    this.#db.undoCatalog(tx);
    send(out, { type: "ErrorResponse", fields: errorFields(error) });
  }

  /** Commits the implicit transaction, if one is open outside a block. */
  async #endImplicit(out?: MessageWriter): Promise<void> {
    if (this.#explicit || this.#tx === null) return;
    const tx = this.#tx;
    this.#tx = null;
    this.#portals.clear(); // portals live until their transaction ends
    try {
      await this.#runDeferredChecks(tx);
      await tx.tx.commit();
    } catch (error) {
      if (tx.tx.state === "open") await tx.tx.rollback();
      this.#db.undoCatalog(tx);
      if (out) send(out, { type: "ErrorResponse", fields: errorFields(error) });
    }
  }

  #runContext(params: readonly PgValue[]): RunContext {
    const sqlTx = this.#transaction();
    sqlTx.tx.lockTimeoutMs = this.#lockTimeoutMs();
    return {
      sqlTx,
      params,
      // Every commit this transaction may have read, not its own changes.
      durable: () => sqlTx.tx.readsDurable(),
      rowsHeldMax: this.#rowsHeldMax,
      checkCancel: () => this.#checkInterrupts(),
    };
  }

  // Simple query -------------------------------------------------------------------

  async #simpleQuery(sql: string, out: MessageWriter, flush: () => Promise<void>): Promise<void> {
    this.#startStatement();
    try {
      const cached = this.#cache.parse(sql);
      const { statements, notices } = cached;
      for (const notice of notices) this.#notify(out, noticeOf(notice));
      if (statements.length === 0) send(out, { type: "EmptyQueryResponse" });
      for (let i = 0; i < statements.length; i++) {
        const statement = statements[i];
        // In a failed block #plan refuses all but the session's own statements.
        const prepared = await this.#waitForCatalog(() =>
          this.#failed || statement.kind === "execute" // EXECUTE's plan is the session's
            ? this.#plan(statement, [])
            : this.#cache.plan(cached, i, this.#db.catalogVersion, () => this.#plan(statement, []))
        );
        this.#lastOfQuery = i === statements.length - 1;
        try {
          await this.#runStatement(prepared, [], [], 0, out, flush, true);
        } finally {
          this.#lastOfQuery = false;
        }
        if (this.#inCopy()) return; // ReadyForQuery follows CopyDone
      }
      await this.#endImplicit(out);
    } catch (error) {
      await this.#fail(withPosition(error, sql), out);
    }
    send(out, { type: "ReadyForQuery", status: this.transactionStatus });
  }

  /**
   * Runs `step` (planning, or an extended-query message that plans before it
   * answers) again while a table it names is being altered or dropped by
   * another session's open transaction, as PostgreSQL waits on that lock:
   * until lock_timeout (the engine's 5 s lock wait when unset) with 55P03,
   * or the statement timeout or a cancel with 57014.
   */
  async #waitForCatalog<T>(step: () => T | Promise<T>): Promise<T> {
    const startMs = Date.now();
    let deadlineMs = 0; // read from lock_timeout only when a wait begins
    for (;;) {
      try {
        return await step();
      } catch (error) {
        if (!(error instanceof CatalogBusyError)) throw error;
        if (deadlineMs === 0) {
          const setting = parseDurationMs(this.info.settings.get("lock_timeout") ?? "0");
          deadlineMs = startMs + (setting > 0 ? setting : CATALOG_WAIT_MS);
        }
        this.#checkInterrupts();
        if (Date.now() >= deadlineMs) {
          throw new SqlError("55P03", "canceling statement due to lock timeout");
        }
        await new Promise((resolve) => setTimeout(resolve, CATALOG_POLL_MS));
      }
    }
  }

  /** Plans one statement: the executor's, or one the session runs itself. */
  #plan(statement: Statement, declared: SqlType[]): Prepared | Utility {
    switch (statement.kind) {
      case "begin":
      case "commit":
      case "rollback":
      case "set":
      case "reset":
      case "copy":
      case "savepoint":
      case "rollback_to":
      case "release":
      case "prepare":
      case "deallocate":
        return { utility: true, statement, columns: null, paramTypes: declared };
      case "execute": {
        if (this.#failed) throw abortedError();
        const ps = this.#statements.get(statement.name);
        if (!ps) {
          throw new SqlError("26000", `prepared statement "${statement.name}" does not exist`);
        }
        const prepared = this.#current(ps);
        if (prepared === null || "utility" in prepared) {
          throw new SqlError("0A000", `EXECUTE of "${statement.name}" is not supported`);
        }
        const target = { name: statement.name, prepared, declared: ps.declared };
        return executePlan(this.#db, this.info, target, statement);
      }
      case "show": {
        const name = statement.name.toLowerCase();
        const column = CANONICAL_NAME[name] ?? name;
        return {
          utility: true,
          statement,
          columns: [{ name: column, type: "text", tableOid: 0, columnNumber: 0, typeModifier: -1 }],
          paramTypes: declared,
        };
      }
      default:
        if (this.#failed) throw abortedError();
        return prepare(this.#db, this.info, statement, declared);
    }
  }

  /**
   * Runs a planned statement and sends its rows (up to `rowsMax`, 0 for all)
   * and CommandComplete; returns false when the portal is suspended.
   */
  async #runStatement(
    prepared: Prepared | Utility,
    params: PgValue[],
    formats: FormatCode[],
    rowsMax: number,
    out: MessageWriter,
    flush: () => Promise<void>,
    describe: boolean,
    portal?: Portal,
  ): Promise<void> {
    if ("utility" in prepared) {
      if (describe && prepared.columns) {
        send(out, { type: "RowDescription", fields: fieldsOf(prepared.columns, formats) });
      }
      await this.#utility(prepared.statement, out, flush);
      return;
    }
    if (this.#failed) throw abortedError();
    let result: Result;
    if (portal?.result) result = portal.result;
    else {
      if (describe && prepared.columns) {
        send(out, { type: "RowDescription", fields: fieldsOf(prepared.columns, formats) });
      }
      result = await prepared.run(this.#runContext(params));
      if (portal) portal.result = result;
      for (const notice of result.notices ?? []) {
        this.#notify(out, noticeOf(notice));
      }
    }
    if (result.rows !== null) {
      const columns = prepared.columns!;
      const fields = columns.map((c, i) => fieldWriter(c.type, formatOf(formats, i)));
      let sent = 0;
      const pending = portal?.pending ?? [];
      for (;;) {
        let batch: PgValue[][];
        if (pending.length > 0) batch = pending.splice(0, pending.length);
        else {
          const next = await result.rows.next();
          if (next.done) break;
          batch = next.value;
        }
        this.#checkInterrupts();
        for (let r = 0; r < batch.length; r++) {
          if (rowsMax > 0 && sent === rowsMax) {
            pending.push(...batch.slice(r));
            break;
          }
          writeDataRow(out, batch[r], fields);
          sent++;
        }
        // As PostgreSQL: a row limit reached suspends the portal, even when no row is left.
        if (rowsMax > 0 && sent === rowsMax) {
          send(out, { type: "PortalSuspended" });
          return;
        }
        if (out.length >= FLUSH_BYTES) await flush();
      }
      if (portal) portal.done = true;
      await this.#checksBeforeCommit();
      send(out, { type: "CommandComplete", tag: result.rowTag?.(sent) ?? result.tag() });
      return;
    }
    if (portal) portal.done = true;
    await this.#checksBeforeCommit();
    send(out, { type: "CommandComplete", tag: result.tag() });
  }

  /** Set while a simple Query runs its last statement: its implicit commit follows. */
  #lastOfQuery = false;

  /**
   * The deferred foreign key checks of a simple Query's implicit
   * transaction, run before its last statement's CommandComplete: as in
   * PostgreSQL, which commits before it reports the statement, a check that
   * fails replaces the tag with its error.
   */
  async #checksBeforeCommit(): Promise<void> {
    const tx = this.#tx;
    if (!this.#lastOfQuery || this.#explicit || tx === null || deferredCount(tx.tx) === 0) return;
    await this.#runDeferredChecks(tx);
  }

  async #utility(
    statement: Statement,
    out: MessageWriter,
    flush: () => Promise<void>,
  ): Promise<void> {
    const complete = (tag: string) => send(out, { type: "CommandComplete", tag });
    switch (statement.kind) {
      case "prepare": {
        if (this.#failed) throw abortedError();
        if (this.#statements.has(statement.name)) {
          throw new SqlError("42P05", `prepared statement "${statement.name}" already exists`);
        }
        const declared = statement.types.map(sqlTypeOf);
        this.#statements.set(statement.name, {
          sql: statement.text,
          statement: statement.statement,
          declared,
          prepared: this.#plan(statement.statement, declared),
          version: this.#db.catalogVersion,
        });
        complete("PREPARE");
        return;
      }
      case "deallocate":
        if (this.#failed) throw abortedError();
        if (statement.name === null) {
          for (const name of this.#statements.keys()) {
            if (name !== "") this.#statements.delete(name);
          }
          complete("DEALLOCATE ALL");
          return;
        }
        if (!this.#statements.delete(statement.name)) {
          throw new SqlError("26000", `prepared statement "${statement.name}" does not exist`);
        }
        complete("DEALLOCATE");
        return;
      case "begin":
        if (this.#failed) throw abortedError();
        if (this.#explicit) {
          this.#notify(out, warning("25001", "there is already a transaction in progress"));
        }
        this.#transaction();
        this.#explicit = true;
        complete(statement.start ? "START TRANSACTION" : "BEGIN");
        return;
      case "commit":
      case "rollback": {
        const wasFailed = this.#failed;
        if (!this.#explicit) {
          this.#notify(out, warning("25P01", "there is no transaction in progress"));
        }
        const tx = this.#tx;
        this.#tx = null;
        const committing = statement.kind === "commit" && !wasFailed;
        if (this.#explicit) this.#endSettings(committing, out);
        this.#explicit = false;
        this.#failed = false;
        this.#portals.clear();
        if (tx !== null) {
          if (committing) {
            try {
              await this.#runDeferredChecks(tx);
              await tx.tx.commit();
            } catch (error) {
              if (tx.tx.state === "open") await tx.tx.rollback();
              this.#db.undoCatalog(tx);
              throw error;
            }
          } else {
            await tx.tx.rollback();
            this.#db.undoCatalog(tx);
          }
        }
        complete(statement.kind === "commit" && !wasFailed ? "COMMIT" : "ROLLBACK");
        return;
      }
      case "set": {
        if (this.#failed) throw abortedError();
        const name = statement.name.toLowerCase();
        const quote = LIST_QUOTED.has(name) ? quoteIdentifier : (text: string) => text;
        const value = statement.values === null
          ? this.#resetValue(name)
          : statement.values.map((v) => quote(settingText(v))).join(", ");
        refuseSetting(name);
        if (statement.local && !this.#explicit) {
          // PostgreSQL: a warning, and the setting lasts only for the statement's own transaction.
          const what = name === "transaction_isolation" ? "SET TRANSACTION" : "SET LOCAL";
          this.#notify(out, warning("25P01", `${what} can only be used in transaction blocks`));
          complete("SET");
          return;
        }
        if (statement.values?.length === 0) {
          complete("SET"); // SET TRANSACTION READ ONLY / READ WRITE: every block here is serializable
          return;
        }
        const before = this.info.settings.get(name);
        this.#saveSetting(name, statement.local);
        try {
          this.#set(name, value, out);
        } catch (error) {
          if (before !== undefined) this.info.settings.set(name, before);
          throw error;
        }
        complete("SET");
        return;
      }
      case "reset": {
        if (this.#failed) throw abortedError();
        const name = statement.name.toLowerCase();
        if (name !== "all") refuseSetting(name);
        for (const key of name === "all" ? this.info.settings.keys() : [name]) {
          this.#saveSetting(key, false);
        }
        const keys = name === "all"
          ? new Set([...Object.keys(DEFAULT_SETTINGS), ...this.#resetValues.keys()])
          : [name];
        for (const key of keys) {
          const value = this.#resetValue(key);
          if (this.info.settings.get(key) !== value) this.#set(key, value, out);
        }
        complete("RESET");
        return;
      }
      case "show": {
        if (this.#failed) throw abortedError();
        const name = statement.name.toLowerCase();
        const value = this.info.settings.get(name) ?? SHOWN_DEFAULTS[name];
        if (value === undefined) {
          throw new SqlError("42704", `unrecognized configuration parameter "${name}"`);
        }
        send(out, { type: "DataRow", values: [encoder.encode(value) as Bytes] });
        complete("SHOW");
        return;
      }
      case "copy": {
        if (this.#failed) throw abortedError();
        if (statement.direction === "to") {
          await this.#copyOut(statement, out, flush);
          return;
        }
        const target = copyTarget(this.#db, this.info, statement);
        this.#transaction();
        const reader = new CopyReader(target.format, target.names, target.table.name);
        const decoder = new TextDecoder();
        this.#copy = { target, reader, decoder, rows: [], error: null };
        this.#phase = "copy";
        send(out, {
          type: "CopyInResponse",
          format: 0,
          columnFormats: target.targets.map(() => 0 as FormatCode),
        });
        return;
      }
      case "savepoint":
      case "release":
      case "rollback_to":
        await this.#savepoint(statement, out);
        return;
      default:
        throw new SqlError("0A000", `${statement.kind.toUpperCase()} is not supported`);
    }
  }

  /** SAVEPOINT, RELEASE SAVEPOINT and ROLLBACK TO SAVEPOINT (sql/savepoints.ts). */
  async #savepoint(
    statement: Extract<Statement, { kind: "savepoint" | "release" | "rollback_to" }>,
    out: MessageWriter,
  ): Promise<void> {
    const command = {
      savepoint: "SAVEPOINT",
      release: "RELEASE SAVEPOINT",
      rollback_to: "ROLLBACK TO SAVEPOINT",
    }[
      statement.kind
    ];
    if (!this.#explicit) {
      throw new SqlError("25P01", `${command} can only be used in transaction blocks`);
    }
    if (statement.kind !== "rollback_to" && this.#failed) throw abortedError();
    const tx = this.#transaction();
    if (statement.kind === "savepoint") setSavepoint(tx, statement.name);
    else if (statement.kind === "release") releaseSavepoint(tx, statement.name);
    else {
      await rollbackToSavepoint(this.#db, tx, statement.name);
      this.#failed = false;
      this.#portals.clear();
    }
    send(out, {
      type: "CommandComplete",
      tag: statement.kind === "rollback_to" ? "ROLLBACK" : statement.kind.toUpperCase(),
    });
  }

  #set(name: string, value: string, out: MessageWriter): void {
    if (name === "client_encoding") {
      const encoding = value.toUpperCase().replace(/[-_']/g, "");
      if (encoding !== "UTF8" && encoding !== "UNICODE") {
        throw new SqlError("22023", `invalid value for parameter "client_encoding": "${value}"`);
      }
      value = "UTF8";
    }
    if (name === "timezone" && !["UTC", "utc", "Etc/UTC", "GMT", "Z"].includes(value)) {
      throw new SqlError("22023", `invalid value for parameter "TimeZone": "${value}"`, {
        detail: "Only UTC is supported.",
      });
    }
    if (name === "statement_timeout") {
      const timeoutMs = parseDurationMs(value);
      if (Number.isNaN(timeoutMs)) {
        // PostgreSQL names the units only when the value starts as a number.
        throw new SqlError(
          "22023",
          `invalid value for parameter "statement_timeout": "${value}"`,
          /^\s*[-+]?[\d.]/.test(value)
            ? { hint: 'Valid units for this parameter are "us", "ms", "s", "min", "h", and "d".' }
            : {},
        );
      }
      value = durationText(timeoutMs);
    }
    if (name === "datestyle" && !/^iso/i.test(value)) {
      throw new SqlError("22023", `invalid value for parameter "DateStyle": "${value}"`, {
        detail: "Only ISO output is supported.",
      });
    }
    this.info.settings.set(name, value);
    const reported = REPORTED.find((r) => r.toLowerCase() === name);
    if (reported) send(out, { type: "ParameterStatus", name: reported, value });
  }

  // COPY TO STDOUT -----------------------------------------------------------------

  /**
   * COPY ... TO STDOUT: CopyOutResponse, a CopyData per row (the header
   * first), CopyDone, then CommandComplete "COPY n". Rows stream in the
   * query's batches, flushed as they add up.
   */
  async #copyOut(
    statement: Extract<Statement, { kind: "copy" }>,
    out: MessageWriter,
    flush: () => Promise<void>,
  ): Promise<void> {
    const source = copySource(this.#db, this.info, statement);
    const result = await source.prepared.run(this.#runContext([]));
    const columns = source.prepared.columns!;
    send(out, {
      type: "CopyOutResponse",
      format: 0,
      columnFormats: columns.map(() => 0 as FormatCode),
    });
    const data = (text: string) =>
      send(out, { type: "CopyData", data: encoder.encode(text) as Bytes });
    if (source.format.header) data(formatCopyHeader(source.names, source.format));
    let count = 0;
    for await (const batch of result.rows!) {
      for (const row of batch) {
        const values = row.map((v, i) => copyText(columns[i].type, v));
        data(formatCopyRow(values, source.format, source.forced));
        count++;
      }
      if (out.length >= FLUSH_BYTES) await flush();
    }
    send(out, { type: "CopyDone" });
    send(out, { type: "CommandComplete", tag: `COPY ${count}` });
  }

  // COPY FROM STDIN ----------------------------------------------------------------

  async #copyMessage(message: FrontendMessage, out: MessageWriter): Promise<SessionEffect> {
    const copy = this.#copy!;
    const finish = async (error: unknown) => {
      this.#phase = "ready";
      this.#copy = null;
      if (error !== null) await this.#fail(error, out);
      else {
        send(out, { type: "CommandComplete", tag: `COPY ${copy.target.rows}` });
        await this.#endImplicit(out);
      }
      send(out, { type: "ReadyForQuery", status: this.transactionStatus });
    };
    switch (message.type) {
      case "CopyData": {
        if (copy.error !== null) return "continue";
        try {
          const text = copy.decoder.decode(message.data, { stream: true });
          for (const row of copy.reader.push(text)) copy.rows.push(row);
          if (copy.rows.length >= COPY_GROUP_ROWS) await this.#copyFlush();
        } catch (error) {
          copy.error = error;
        }
        return "continue";
      }
      case "CopyDone": {
        if (copy.error === null) {
          try {
            for (const row of copy.reader.finish()) copy.rows.push(row);
            await this.#copyFlush();
          } catch (error) {
            copy.error = error;
          }
        }
        await finish(copy.error);
        return "continue";
      }
      case "CopyFail":
        await finish(new SqlError("57014", `COPY from stdin failed: ${message.message}`));
        return "continue";
      case "Flush":
      case "Sync":
        return "continue";
      case "Terminate":
        this.#rollbackAll();
        return "close";
      default:
        throw new PgProtocolError(`unexpected message type ${message.type} during COPY from stdin`);
    }
  }

  async #copyFlush(): Promise<void> {
    const copy = this.#copy!;
    const rows = copy.rows;
    copy.rows = [];
    await copyRows(this.#db, this.#runContext([]), copy.target, rows);
  }

  // Extended query -------------------------------------------------------------------

  #parse(name: string, sql: string, typeOids: number[]): void {
    if (name !== "" && this.#statements.has(name)) {
      throw new SqlError("42P05", `prepared statement "${name}" already exists`);
    }
    const { statements } = this.#cache.parse(sql);
    if (statements.length > 1) {
      throw new SqlError("42601", "cannot insert multiple commands into a prepared statement");
    }
    const declared = typeOids.map(sqlTypeOfOid);
    const statement = statements[0] ?? null;
    let prepared: Prepared | Utility | null = null;
    try {
      if (statement !== null && !(this.#failed && !isTransactionEnd(statement))) {
        prepared = this.#plan(statement, declared);
      }
    } catch (error) {
      throw withPosition(error, sql);
    }
    this.#statements.set(name, {
      sql,
      statement,
      declared,
      prepared,
      version: this.#db.catalogVersion,
    });
  }

  /** The statement's plan, made again when the catalog changed since. */
  #current(ps: PreparedStatement): Prepared | Utility | null {
    if (ps.statement === null) return null;
    if (ps.prepared === null || ps.version !== this.#db.catalogVersion) {
      ps.prepared = this.#plan(ps.statement, ps.declared);
      ps.version = this.#db.catalogVersion;
    }
    return ps.prepared;
  }

  #bind(message: Extract<FrontendMessage, { type: "Bind" }>): void {
    const ps = this.#statements.get(message.statement);
    if (!ps) {
      throw new SqlError("26000", `prepared statement "${message.statement}" does not exist`);
    }
    if (this.#failed && (ps.statement === null || !isTransactionEnd(ps.statement))) {
      throw abortedError();
    }
    const prepared = this.#current(ps);
    const types = prepared?.paramTypes ?? [];
    if (message.parameters.length !== types.length) {
      throw new BindError(
        `bind message supplies ${message.parameters.length} parameters, but prepared statement "${message.statement}" requires ${types.length}`,
      );
    }
    // Declared types arrive typed; the others as text, which the plan coerces to
    // the type it inferred (a binary value is turned into its text first).
    const params = message.parameters.map((bytes, i) => {
      if (bytes === null) return null;
      const format = formatOf(message.parameterFormats, i);
      const declared = ps.declared[i] ?? "unknown";
      const type = declared === "unknown" ? types[i] : declared;
      const oid = typeOid(type === "unknown" ? "text" : type);
      const value = format === 1 ? parseBinary(oid, bytes) : null;
      if (declared === "unknown") {
        return format === 1 ? formatText(oid, value!) : textOf(bytes);
      }
      return format === 1 ? value : parseText(oid, textOf(bytes));
    });
    if (message.portal !== "" && this.#portals.has(message.portal)) {
      throw new SqlError("42P03", `portal "${message.portal}" already exists`);
    }
    this.#portals.set(message.portal, {
      statement: ps,
      params,
      formats: message.resultFormats,
      result: null,
      pending: [],
      done: false,
    });
  }

  #describe(kind: "S" | "P", name: string, out: MessageWriter): void {
    if (kind === "S") {
      const ps = this.#statements.get(name);
      if (!ps) throw new SqlError("26000", `prepared statement "${name}" does not exist`);
      const prepared = this.#current(ps);
      const types = prepared?.paramTypes ?? [];
      send(out, {
        type: "ParameterDescription",
        typeOids: types.map((t) => t === "unknown" ? OID.text : typeOid(t)),
      });
      const columns = prepared?.columns ?? null;
      send(
        out,
        columns ? { type: "RowDescription", fields: fieldsOf(columns, []) } : { type: "NoData" },
      );
      return;
    }
    const portal = this.#portals.get(name);
    if (!portal) throw new SqlError("34000", `portal "${name}" does not exist`);
    const prepared = this.#current(portal.statement);
    if (prepared === null || prepared.columns === null) send(out, { type: "NoData" });
    else out.bytes(outputOf(portal.statement, prepared, portal.formats).rowDescription);
  }

  async #execute(
    name: string,
    rowsMax: number,
    out: MessageWriter,
    flush: () => Promise<void>,
  ): Promise<void> {
    this.#startStatement();
    const portal = this.#portals.get(name);
    if (!portal) throw new SqlError("34000", `portal "${name}" does not exist`);
    const prepared = this.#current(portal.statement);
    if (prepared === null) {
      send(out, { type: "EmptyQueryResponse" });
      return;
    }
    if (portal.done) {
      // PostgreSQL answers an exhausted portal with an empty completion.
      const result = portal.result;
      send(out, {
        type: "CommandComplete",
        tag: result?.rowTag?.(0) ?? result?.tag() ?? "SELECT 0",
      });
      return;
    }
    if (
      "point" in prepared && prepared.point && rowsMax === 0 && portal.result === null &&
      !this.#failed && this.#pointLookup(prepared, prepared.point, portal, out)
    ) {
      if (name === "") this.#portals.delete(name);
      return;
    }
    await this.#runStatement(
      prepared,
      portal.params,
      portal.formats,
      rowsMax,
      out,
      flush,
      false,
      portal,
    );
    if (name === "" && portal.done) this.#portals.delete(name);
  }

  /**
   * Executes a portal of a prepared point lookup (`SELECT ... WHERE pk = $1`)
   * without the plan's generators: one synchronous key lookup and its row
   * written straight out. False when the lookup would have to wait (the
   * table's lock, or durability of what it read): `#runStatement` then runs
   * the ordinary plan, which waits.
   */
  #pointLookup(
    prepared: Prepared,
    point: PointRead,
    portal: Portal,
    out: MessageWriter,
    alone = false,
  ): boolean {
    const rows = point(this.#transaction(), portal.params, alone);
    if (rows === null) return false;
    if (rows.length > 0) {
      const { fields } = outputOf(portal.statement, prepared, portal.formats);
      for (const row of rows) writeDataRow(out, row, fields);
    }
    portal.done = true;
    out.bytes(rows.length === 0 ? SELECT_0 : rows.length === 1 ? SELECT_1 : selectTag(rows.length));
    return true;
  }
}

// Helpers -----------------------------------------------------------------------------

/** The statement's Output for `prepared` (its current plan) in `formats`, kept until either changes. */
function outputOf(
  ps: PreparedStatement,
  prepared: Prepared | Utility,
  formats: FormatCode[],
): Output {
  const held = ps.output;
  if (held !== undefined && held.prepared === prepared && sameFormats(held.formats, formats)) {
    return held;
  }
  const columns = prepared.columns!;
  const w = new MessageWriter();
  writeBackendMessage(w, { type: "RowDescription", fields: fieldsOf(columns, formats) });
  ps.output = {
    prepared,
    formats: [...formats],
    rowDescription: w.finish(),
    fields: columns.map((c, i) => fieldWriter(c.type, formatOf(formats, i))),
  };
  return ps.output;
}

function sameFormats(a: readonly FormatCode[], b: readonly FormatCode[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Messages the extended protocol sends most, encoded once. */
const PARSE_COMPLETE = encodeBackendMessage({ type: "ParseComplete" });
const BIND_COMPLETE = encodeBackendMessage({ type: "BindComplete" });
const CLOSE_COMPLETE = encodeBackendMessage({ type: "CloseComplete" });
const SELECT_0 = encodeBackendMessage({ type: "CommandComplete", tag: "SELECT 0" });
const SELECT_1 = encodeBackendMessage({ type: "CommandComplete", tag: "SELECT 1" });
const INSERT_1 = encodeBackendMessage({ type: "CommandComplete", tag: "INSERT 0 1" });
const READY: Record<TransactionStatus, Bytes> = {
  I: encodeBackendMessage({ type: "ReadyForQuery", status: "I" }),
  T: encodeBackendMessage({ type: "ReadyForQuery", status: "T" }),
  E: encodeBackendMessage({ type: "ReadyForQuery", status: "E" }),
};

function selectTag(rows: number): Bytes {
  return encodeBackendMessage({ type: "CommandComplete", tag: `SELECT ${rows}` });
}

/** A Bind parameter count mismatch: 08P01, but the session goes on (PostgreSQL's ERROR). */
class BindError extends SqlError {
  constructor(message: string) {
    super("08P01", message);
  }
}

function send(out: MessageWriter, message: BackendMessage): void {
  writeBackendMessage(out, message);
}

function fatal(code: string, message: string): BackendMessage {
  return {
    type: "ErrorResponse",
    fields: { severity: "FATAL", severityNonLocalized: "FATAL", code, message },
  };
}

function warning(code: string, message: string): NoticeFields {
  return { severity: "WARNING", severityNonLocalized: "WARNING", code, message };
}

function noticeOf(
  notice: { code: string; message: string; detail?: string; severity?: "WARNING" },
): NoticeFields {
  const severity = notice.severity ?? "NOTICE";
  return {
    severity,
    severityNonLocalized: severity,
    code: notice.code,
    message: notice.message,
    ...(notice.detail === undefined ? {} : { detail: notice.detail }),
  };
}

function abortedError(): SqlError {
  return new SqlError(
    "25P02",
    "current transaction is aborted, commands ignored until end of transaction block",
  );
}

/** Statements an aborted block still runs: its end, and ROLLBACK TO SAVEPOINT. */
function isTransactionEnd(statement: Statement): boolean {
  return statement.kind === "commit" || statement.kind === "rollback" ||
    statement.kind === "rollback_to";
}

function formatOf(formats: FormatCode[], i: number): FormatCode {
  if (formats.length === 0) return 0;
  return formats.length === 1 ? formats[0] : formats[i] ?? 0;
}

function fieldsOf(columns: ResultColumn[], formats: FormatCode[]): FieldDescription[] {
  return columns.map((c, i) => {
    const oid = typeOid(c.type === "unknown" ? "text" : c.type);
    return {
      name: c.name,
      tableOid: c.tableOid,
      columnNumber: c.columnNumber,
      typeOid: oid,
      typeSize: typeByOid(oid)?.size ?? (enumOf(c.type) !== undefined ? 4 : -1),
      typeModifier: c.typeModifier,
      format: formatOf(formats, i),
    };
  });
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Longest parameter `textOf` builds by hand (a key, a number) before calling the decoder. */
const ASCII_PARAM_BYTES_MAX = 24;

/**
 * A text parameter as a string, as `decoder.decode` gives it; short ASCII
 * (pgbench's keys and deltas) is built here, cheaper than a call into the
 * runtime's decoder for every Bind.
 */
function textOf(bytes: Uint8Array): string {
  if (bytes.length <= ASCII_PARAM_BYTES_MAX) {
    let text = "";
    let i = 0;
    for (; i < bytes.length && bytes[i] < 0x80; i++) text += String.fromCharCode(bytes[i]);
    if (i === bytes.length) return text;
  }
  return decoder.decode(bytes);
}

/** How a column's values go into a DataRow, in the format the client asked for. */
function fieldWriter(type: SqlType, format: FormatCode): FieldWriter<Exclude<PgValue, null>> {
  const oid = typeOid(type === "unknown" ? "text" : type);
  if (format === 1) return (w, v) => w.sizedBytes(formatBinary(oid, v));
  if (oid === OID.text || oid === OID.varchar || oid === OID.bpchar) {
    return (w, v) => w.sizedText(v as string);
  }
  return (w, v) => w.sizedText(formatText(oid, v));
}

const SQL_TYPE_BY_OID = new Map<number, SqlType>([
  [OID.bool, "bool"],
  [OID.int2, "int2"],
  [OID.int4, "int4"],
  [OID.int8, "int8"],
  [OID.numeric, "numeric"],
  [OID.float4, "float4"],
  [OID.float8, "float8"],
  [OID.text, "text"],
  [OID.varchar, "varchar"],
  [OID.bpchar, "bpchar"],
  [OID.bytea, "bytea"],
  [OID.date, "date"],
  [OID.timestamp, "timestamp"],
  [OID.timestamptz, "timestamptz"],
  [OID.interval, "interval"],
  [OID.time, "time"],
  [OID.uuid, "uuid"],
  [OID.json, "json"],
  [OID.jsonb, "jsonb"],
]);

// The array types: `int4[]` for 1007 and so on (lib/pg/arrays.ts).
for (const [oid, type] of [...SQL_TYPE_BY_OID]) {
  const array = ARRAY_OID_OF.get(oid);
  if (array !== undefined) SQL_TYPE_BY_OID.set(array, `${type as ScalarType}[]`);
}

/** A declared parameter type; 0 (unspecified) and types we lack are inferred. */
function sqlTypeOfOid(oid: number): SqlType {
  return SQL_TYPE_BY_OID.get(oid) ?? "unknown";
}

/** Throws PostgreSQL's error for SET or RESET of a parameter a session may not change. */
function refuseSetting(name: string): void {
  const refusal = settingRefusal(name);
  if (refusal) throw new SqlError(refusal.code, refusal.message);
}

/** Settings that are lists of names: SET quotes each element as needed (GUC_LIST_QUOTE). */
const LIST_QUOTED = new Set(["search_path"]);

/** PostgreSQL's quote_identifier: bare when lower case letters, digits and underscores. */
function quoteIdentifier(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** A SET value as text: strings as they are, anything else as printed. */
function settingText(expr: Parameters<typeof printExpr>[0]): string {
  if (expr.kind === "string") return expr.value;
  if (expr.kind === "column") return expr.path.join(".");
  return printExpr(expr);
}

/** Milliseconds per unit of a time setting, as PostgreSQL's GUC units ("us" rounds). */
const DURATION_UNITS_MS: Record<string, number> = {
  us: 0.001,
  ms: 1,
  s: 1000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** A time setting ("100", "100ms", "5s", "1min") in milliseconds; NaN when unparsable. */
export function parseDurationMs(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$/.exec(text);
  if (match === null) return NaN;
  const ms = Number(match[1]) * DURATION_UNITS_MS[match[2] ?? "ms"];
  // PostgreSQL's limit for a millisecond setting is INT_MAX.
  return ms > 2_147_483_647 ? NaN : Math.round(ms);
}

/** A millisecond setting as SHOW prints it: the largest unit that divides it exactly. */
export function durationText(ms: number): string {
  if (ms === 0) return "0";
  for (const unit of ["d", "h", "min", "s"]) {
    if (ms % DURATION_UNITS_MS[unit] === 0) return `${ms / DURATION_UNITS_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * A session's portals by name: the unnamed one (each Bind/Execute of the
 * extended protocol's usual flow makes and drops it) in a field, the named
 * ones in a map made when first needed. A Map would allocate a new table
 * each time it empties and fills again, twice per prepared lookup.
 */
class Portals {
  #unnamed: Portal | undefined = undefined;
  #named: Map<string, Portal> | null = null;

  get(name: string): Portal | undefined {
    return name === "" ? this.#unnamed : this.#named?.get(name);
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  set(name: string, portal: Portal): void {
    if (name === "") this.#unnamed = portal;
    else (this.#named ??= new Map()).set(name, portal);
  }

  delete(name: string): void {
    if (name === "") this.#unnamed = undefined;
    else this.#named?.delete(name);
  }

  clear(): void {
    this.#unnamed = undefined;
    if (this.#named !== null && this.#named.size > 0) this.#named.clear();
  }
}
