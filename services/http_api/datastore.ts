// The spells table in the datastore, over the PostgreSQL wire protocol
// (lib/pg/client.ts) and the extended query protocol: every statement is
// parsed once per connection as a named prepared statement, and user values
// only ever travel as Bind parameters, never inside SQL text (PostgreSQL
// docs, "Message Flow", 55.2.3). A statement is Bind/Execute/Sync in one
// write, its results read up to ReadyForQuery.
//
// Connections come from a ConnectionPool (pool.ts): reconnect with backoff,
// timeouts, DependencyDown while the datastore is away.
//
// The schema is created at start if missing; the seed spells go in within
// the same transaction, so they are there exactly when the table is new
// (two API copies starting together: one creates, the other gets 42P07).
//
// The outbox: a new spell and its row in spell_events are inserted in one
// transaction (two Executes before one Sync), so the spell.created event
// can never be lost once POST has its row, whatever happens to the mq or to
// this process afterwards (outbox.ts relays what was not published).

import type { Logger } from "@logtape/logtape";
import { type Bytes, utf8 } from "../../lib/bytes.ts";
import { PgClient, PgServerError } from "../../lib/pg/client.ts";
import type { FrontendMessage } from "../../lib/pg/types.ts";
import { ConnectionPool } from "./pool.ts";
import {
  containsPattern,
  type ListQuery,
  nameKey,
  SEED_SPELLS,
  type Spell,
  SPELL_COLUMNS,
  type SpellFields,
  spellFromRow,
} from "./spells.ts";

export type SqlParam = string | number | bigint | boolean | null;

/** One statement and its parameters. */
export type Statement = readonly [sql: string, params: readonly SqlParam[]];

export interface SqlResult {
  rows: (string | null)[][];
  /** The CommandComplete tag, e.g. "UPDATE 1". */
  tag: string;
}

export interface DatastoreOptions {
  hostname: string;
  port: number;
  user?: string;
  password?: string;
  database?: string;
  /** Connections at most (per API process). */
  poolSize?: number;
  log: Logger;
}

/** A pooled connection and the statements prepared on it (SQL text to statement name). */
interface Connection {
  client: PgClient;
  statements: Map<string, string>;
}

const decoder = new TextDecoder();

/** SQLSTATEs the API turns into answers of its own. */
export const UNIQUE_VIOLATION = "23505";
const DUPLICATE_TABLE = "42P07";
/** CREATE TABLE IF NOT EXISTS racing another: PostgreSQL can say either. */
const CREATED_MEANWHILE = new Set([DUPLICATE_TABLE, UNIQUE_VIOLATION]);

// The schema: lengths as in spells.ts FIELD_LIMITS; name_key holds the
// lower-cased name, so names are unique whatever their case.
const CREATE_TABLE = `CREATE TABLE spells (
  id BIGSERIAL PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  name_key VARCHAR(100) NOT NULL UNIQUE,
  incantation VARCHAR(200) NOT NULL,
  description VARCHAR(2000) NOT NULL DEFAULT '',
  has_image BOOLEAN NOT NULL DEFAULT false,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`;

// One row per spell.created event not yet acknowledged by the mq. While
// claimed_until is in the future, one publisher (the POST that made it, or
// one relay) owns it; past it, any relay may claim it again.
const CREATE_OUTBOX = `CREATE TABLE IF NOT EXISTS spell_events (
  id BIGSERIAL PRIMARY KEY,
  spell_id BIGINT NOT NULL,
  claimed_until TIMESTAMPTZ
)`;

/** A spell.created event waiting in the outbox. */
export interface PendingEvent {
  eventId: bigint;
  spellId: bigint;
}

const SQL = {
  insert: `INSERT INTO spells (name, name_key, incantation, description)
    VALUES ($1, $2, $3, $4) RETURNING ${SPELL_COLUMNS}`,
  get: `SELECT ${SPELL_COLUMNS} FROM spells WHERE id = $1`,
  listOffset: `SELECT ${SPELL_COLUMNS} FROM spells ORDER BY id LIMIT $1 OFFSET $2`,
  listAfter: `SELECT ${SPELL_COLUMNS} FROM spells WHERE id > $1 ORDER BY id LIMIT $2`,
  searchOffset: `SELECT ${SPELL_COLUMNS} FROM spells WHERE name ILIKE $1 ESCAPE '\\'
    ORDER BY id LIMIT $2 OFFSET $3`,
  searchAfter: `SELECT ${SPELL_COLUMNS} FROM spells WHERE name ILIKE $1 ESCAPE '\\' AND id > $2
    ORDER BY id LIMIT $3`,
  replace: `UPDATE spells SET name = $2, name_key = $3, incantation = $4, description = $5,
    updated_at = now() WHERE id = $1 RETURNING ${SPELL_COLUMNS}`,
  patch: `UPDATE spells SET name = coalesce($2, name), name_key = coalesce($3, name_key),
    incantation = coalesce($4, incantation), description = coalesce($5, description),
    updated_at = now() WHERE id = $1 RETURNING ${SPELL_COLUMNS}`,
  setImage: `UPDATE spells SET has_image = $2, updated_at = now() WHERE id = $1
    RETURNING ${SPELL_COLUMNS}`,
  delete: `DELETE FROM spells WHERE id = $1 RETURNING has_image`,
  // name_key is unique: the row the insert before it (same transaction) made.
  insertEvent: `INSERT INTO spell_events (spell_id, claimed_until)
    SELECT id, $2 FROM spells WHERE name_key = $1 RETURNING id`,
  anyClaimable: `SELECT 1 FROM spell_events
    WHERE claimed_until IS NULL OR claimed_until < $1 LIMIT 1`,
  // The condition again outside the subquery: of two relays claiming at
  // once, the second re-reads the row the first changed and skips it.
  claimEvents: `UPDATE spell_events SET claimed_until = $2 WHERE id IN (
      SELECT id FROM spell_events WHERE claimed_until IS NULL OR claimed_until < $1
      ORDER BY id LIMIT $3)
    AND (claimed_until IS NULL OR claimed_until < $1) RETURNING id, spell_id`,
  deleteEvent: `DELETE FROM spell_events WHERE id = $1`,
  ping: "SELECT 1",
} as const;

export class SpellsTable {
  readonly pool: ConnectionPool<Connection>;
  readonly #log: Logger;
  /** Set once the schema is known to exist; until then each query makes sure of it first. */
  #schemaReady = false;
  #schema: Promise<void> | undefined;

  constructor(options: DatastoreOptions) {
    this.#log = options.log;
    this.pool = new ConnectionPool<Connection>({
      name: "datastore",
      log: options.log,
      sizeMax: options.poolSize ?? 4,
      connect: async () => ({
        client: await PgClient.connect({
          hostname: options.hostname,
          port: options.port,
          user: options.user ?? "spells",
          database: options.database ?? "spells",
          password: options.password,
          parameters: { application_name: "http-api" },
        }),
        statements: new Map(),
      }),
      close: (connection) => {
        try {
          connection.client.conn.close();
        } catch {
          // Already closed.
        }
      },
      // A SQL error leaves the session usable (we read up to ReadyForQuery);
      // anything else (EOF, reset, a FATAL error) does not.
      isBroken: (error) => !(error instanceof PgServerError) || error.fields.severity === "FATAL",
    });
  }

  /**
   * Creates the table when it is missing, with the seed spells in the same
   * transaction. Returns true when it created it.
   */
  async ensureSchema(): Promise<boolean> {
    return await this.pool.use(async ({ client, statements }) => {
      try {
        await client.query(CREATE_OUTBOX);
      } catch (error) {
        // Another API copy created it at the same moment.
        if (!(error instanceof PgServerError && CREATED_MEANWHILE.has(error.code))) throw error;
      }
      await client.query("BEGIN");
      try {
        await client.query(CREATE_TABLE);
      } catch (error) {
        await client.query("ROLLBACK");
        if (error instanceof PgServerError && error.code === DUPLICATE_TABLE) return false;
        throw error;
      }
      try {
        for (const seed of SEED_SPELLS) {
          await exchange(client, statements, [[SQL.insert, insertParams(seed)]]);
        }
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {});
        throw error;
      }
      this.#log.info("created table spells with {n} seed spells", { n: SEED_SPELLS.length });
      return true;
    });
  }

  /**
   * Makes sure the table exists: at start, or at the first query after a
   * start with the datastore down. Concurrent callers share one attempt; a
   * failed attempt is tried again by the next caller (the pool's backoff
   * keeps that cheap).
   */
  ensureReady(): Promise<void> {
    if (this.#schemaReady) return Promise.resolve();
    this.#schema ??= this.ensureSchema().then(
      () => {
        this.#schemaReady = true;
      },
      (error) => {
        this.#schema = undefined;
        throw error;
      },
    );
    return this.#schema;
  }

  /** Runs one parameterized statement. */
  async query(sql: string, params: readonly SqlParam[], idempotent = false): Promise<SqlResult> {
    return (await this.transaction([[sql, params]], idempotent))[0];
  }

  /** Runs statements as one transaction (the extended protocol's implicit one, up to Sync). */
  async transaction(
    statements: readonly Statement[],
    idempotent = false,
  ): Promise<SqlResult[]> {
    if (!this.#schemaReady) await this.ensureReady();
    return await this.pool.use(
      ({ client, statements: prepared }) => exchange(client, prepared, statements),
      { idempotent },
    );
  }

  async insert(fields: SpellFields): Promise<Spell> {
    const { rows } = await this.query(SQL.insert, insertParams(fields));
    return spellFromRow(rows[0]);
  }

  /**
   * Inserts a spell and its spell.created event in the outbox, in one
   * transaction; the event is claimed until `claimedUntil` (for the caller
   * to publish it first).
   */
  async insertWithEvent(
    fields: SpellFields,
    claimedUntil: Date,
  ): Promise<{ spell: Spell; eventId: bigint }> {
    const [spell, event] = await this.transaction([
      [SQL.insert, insertParams(fields)],
      [SQL.insertEvent, [nameKey(fields.name), claimedUntil.toISOString()]],
    ]);
    return { spell: spellFromRow(spell.rows[0]), eventId: BigInt(event.rows[0][0]!) };
  }

  /** True when some event in the outbox is unclaimed (a cheap read, for the relay's poll). */
  async anyClaimableEvent(now: Date): Promise<boolean> {
    return (await this.query(SQL.anyClaimable, [now.toISOString()], true)).rows.length > 0;
  }

  /** Claims up to `limit` events, oldest first, whose claim ran out by `now`. */
  async claimEvents(now: Date, until: Date, limit: number): Promise<PendingEvent[]> {
    const { rows } = await this.query(SQL.claimEvents, [
      now.toISOString(),
      until.toISOString(),
      limit,
    ]);
    return rows
      .map(([eventId, spellId]) => ({ eventId: BigInt(eventId!), spellId: BigInt(spellId!) }))
      .sort((a, b) => a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0);
  }

  /** Removes an event the mq acknowledged. */
  async deleteEvent(eventId: bigint): Promise<void> {
    await this.query(SQL.deleteEvent, [eventId], true);
  }

  async get(id: bigint): Promise<Spell | undefined> {
    const { rows } = await this.query(SQL.get, [id], true);
    return rows.length === 0 ? undefined : spellFromRow(rows[0]);
  }

  async list(query: ListQuery): Promise<Spell[]> {
    const pattern = query.search === undefined ? undefined : containsPattern(query.search);
    let result: SqlResult;
    if (query.after !== undefined) {
      result = pattern === undefined
        ? await this.query(SQL.listAfter, [query.after, query.limit], true)
        : await this.query(SQL.searchAfter, [pattern, query.after, query.limit], true);
    } else {
      result = pattern === undefined
        ? await this.query(SQL.listOffset, [query.limit, query.offset], true)
        : await this.query(SQL.searchOffset, [pattern, query.limit, query.offset], true);
    }
    return result.rows.map(spellFromRow);
  }

  async replace(id: bigint, fields: SpellFields): Promise<Spell | undefined> {
    const { rows } = await this.query(SQL.replace, [
      id,
      fields.name,
      nameKey(fields.name),
      fields.incantation,
      fields.description,
    ], true);
    return rows.length === 0 ? undefined : spellFromRow(rows[0]);
  }

  async patch(id: bigint, fields: Partial<SpellFields>): Promise<Spell | undefined> {
    const { rows } = await this.query(SQL.patch, [
      id,
      fields.name ?? null,
      fields.name === undefined ? null : nameKey(fields.name),
      fields.incantation ?? null,
      fields.description ?? null,
    ]);
    return rows.length === 0 ? undefined : spellFromRow(rows[0]);
  }

  async setImage(id: bigint, hasImage: boolean): Promise<Spell | undefined> {
    const { rows } = await this.query(SQL.setImage, [id, hasImage], true);
    return rows.length === 0 ? undefined : spellFromRow(rows[0]);
  }

  /** Deletes a spell; says whether it existed and whether it had an image. */
  async delete(id: bigint): Promise<{ found: boolean; hadImage: boolean }> {
    const { rows } = await this.query(SQL.delete, [id], true);
    return { found: rows.length > 0, hadImage: rows[0]?.[0] === "t" };
  }

  /** A round trip, for /readyz. */
  async ping(): Promise<void> {
    await this.query(SQL.ping, [], true);
  }

  close(): void {
    this.pool.close();
  }
}

function insertParams(fields: SpellFields): SqlParam[] {
  return [fields.name, nameKey(fields.name), fields.incantation, fields.description];
}

function paramBytes(value: SqlParam): Bytes | null {
  if (value === null) return null;
  if (typeof value === "boolean") return utf8(value ? "true" : "false");
  return utf8(String(value));
}

/**
 * Statements in the extended protocol: for each, Parse (the first time on
 * this connection) and Bind with text parameters, Execute; then one Sync,
 * so they are one transaction; all in one write. Then the replies up to
 * ReadyForQuery. After an error the server skips the rest up to Sync (and
 * the transaction rolls back); a statement whose Parse was skipped or
 * failed is not remembered, so it is parsed again next time.
 */
async function exchange(
  client: PgClient,
  prepared: Map<string, string>,
  statements: readonly Statement[],
): Promise<SqlResult[]> {
  const messages: FrontendMessage[] = [];
  /** Statements parsed in this exchange, in order: each ParseComplete is the next one's. */
  const parsing: [sql: string, name: string][] = [];
  for (const [sql, params] of statements) {
    let name = prepared.get(sql) ?? parsing.find(([text]) => text === sql)?.[1];
    if (name === undefined) {
      name = `spells_${prepared.size + parsing.length + 1}`;
      parsing.push([sql, name]);
      messages.push({ type: "Parse", statement: name, sql, parameterTypes: [] });
    }
    messages.push(
      {
        type: "Bind",
        portal: "",
        statement: name,
        parameterFormats: [],
        parameters: params.map(paramBytes),
        resultFormats: [],
      },
      { type: "Execute", portal: "", rowsMax: 0 },
    );
  }
  messages.push({ type: "Sync" });
  await client.send(...messages);
  const results: SqlResult[] = [];
  let rows: (string | null)[][] = [];
  let parsed = 0;
  let error: PgServerError | undefined;
  for (;;) {
    const message = await client.receive();
    switch (message.type) {
      case "ParseComplete": {
        const [sql, name] = parsing[parsed++];
        prepared.set(sql, name);
        break;
      }
      case "DataRow":
        rows.push(message.values.map((v) => v === null ? null : decoder.decode(v)));
        break;
      case "CommandComplete":
        results.push({ rows, tag: message.tag });
        rows = [];
        break;
      case "ErrorResponse":
        error = new PgServerError(message.fields);
        break;
      case "ReadyForQuery":
        if (error !== undefined) throw error;
        return results;
    }
  }
}
