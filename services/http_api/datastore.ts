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
          await exchange(client, statements, SQL.insert, insertParams(seed));
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
    if (!this.#schemaReady) await this.ensureReady();
    return await this.pool.use(
      ({ client, statements }) => exchange(client, statements, sql, params),
      { idempotent },
    );
  }

  async insert(fields: SpellFields): Promise<Spell> {
    const { rows } = await this.query(SQL.insert, insertParams(fields));
    return spellFromRow(rows[0]);
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
 * One statement in the extended protocol: Parse (the first time on this
 * connection), Bind with text parameters, Execute, Sync, in one write;
 * then the replies up to ReadyForQuery. A statement that fails to parse is
 * not remembered, so it is parsed again next time.
 */
async function exchange(
  client: PgClient,
  statements: Map<string, string>,
  sql: string,
  params: readonly SqlParam[],
): Promise<SqlResult> {
  let name = statements.get(sql);
  const parsing = name === undefined;
  name ??= `spells_${statements.size + 1}`;
  const messages: FrontendMessage[] = [];
  if (parsing) messages.push({ type: "Parse", statement: name, sql, parameterTypes: [] });
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
    { type: "Sync" },
  );
  await client.send(...messages);
  const rows: (string | null)[][] = [];
  let tag = "";
  let error: PgServerError | undefined;
  for (;;) {
    const message = await client.receive();
    switch (message.type) {
      case "ParseComplete":
        statements.set(sql, name);
        break;
      case "DataRow":
        rows.push(message.values.map((v) => v === null ? null : decoder.decode(v)));
        break;
      case "CommandComplete":
        tag = message.tag;
        break;
      case "ErrorResponse":
        error = new PgServerError(message.fields);
        break;
      case "ReadyForQuery":
        if (error !== undefined) throw error;
        return { rows, tag };
    }
  }
}
