// Cache-aside for single spells, in the cache service over RESP
// (lib/resp/client.ts): a read looks in the cache first (`GET spell:<id>`),
// on a miss reads the datastore and stores the JSON with a TTL
// (`SET spell:<id> <json> PX <ttl>`); an update or delete removes the key
// (`DEL`), so the next read fills it again. The TTL bounds how stale an
// entry can be when an invalidation is lost (the cache was down at that
// moment: counted in http_api_cache_errors_total).
//
// The cache is an optimisation, never a dependency a read waits on: when it
// is down (DependencyDown from the pool, in backoff) or answers an error, a
// read goes straight to the datastore ("skip"). Reconnects are the pool's.

import type { Logger } from "@logtape/logtape";
import { RespClient } from "../../lib/resp/client.ts";
import { RespError, type RespValue } from "../../lib/resp/types.ts";
import { ConnectionPool } from "./pool.ts";
import type { Spell } from "./spells.ts";

export interface SpellCacheOptions {
  hostname: string;
  port: number;
  password?: string;
  ttlMs: number;
  log: Logger;
  /** A cache that answers slower than this counts as down for that request. */
  timeoutMs?: number;
}

/** A hit carries the spell's JSON as stored: served as it is, without a parse and a stringify. */
export type Lookup = { result: "hit"; json: string } | { result: "miss" | "skip" };

const decoder = new TextDecoder();

/** The key of one spell. */
export function spellKey(id: bigint | number): string {
  return `spell:${id}`;
}

export class SpellCache {
  readonly pool: ConnectionPool<RespClient>;
  readonly #ttlMs: number;
  readonly #log: Logger;

  constructor(options: SpellCacheOptions) {
    this.#ttlMs = options.ttlMs;
    this.#log = options.log;
    this.pool = new ConnectionPool<RespClient>({
      name: "cache",
      log: options.log,
      sizeMax: 4,
      useTimeoutMs: options.timeoutMs ?? 1_000,
      connectTimeoutMs: options.timeoutMs ?? 1_000,
      connect: async () => {
        const client = await RespClient.connect({ hostname: options.hostname, port: options.port });
        if (options.password !== undefined) {
          const reply = await client.send("AUTH", options.password);
          if (reply instanceof RespError) {
            client.close();
            throw new Error(`AUTH refused: ${reply.message}`);
          }
        }
        return client;
      },
      close: (client) => client.close(),
      // RESP errors come back as values; anything thrown is the connection.
      isBroken: () => true,
    });
  }

  /** Looks a spell up; "skip" when the cache could not be asked. */
  async get(id: bigint): Promise<Lookup> {
    let reply: RespValue;
    try {
      reply = await this.pool.use((client) => client.send("GET", spellKey(id)), {
        idempotent: true,
      });
    } catch {
      return { result: "skip" };
    }
    if (reply === null) return { result: "miss" };
    if (!(reply instanceof Uint8Array)) {
      this.#log.warn("cache GET {key} answered {reply}", {
        key: spellKey(id),
        reply: String(reply),
      });
      return { result: "skip" };
    }
    const json = decoder.decode(reply);
    // Ours start with {"id": anything else (a key written by hand) is refilled from the datastore.
    if (!json.startsWith('{"id":')) return { result: "miss" };
    return { result: "hit", json };
  }

  /** Stores a spell with the TTL; false when the cache could not be reached. */
  async set(spell: Spell): Promise<boolean> {
    return await this.#command([
      "SET",
      spellKey(spell.id),
      JSON.stringify(spell),
      "PX",
      this.#ttlMs,
    ]);
  }

  /** Removes a spell's entry; false when the cache could not be reached. */
  async invalidate(id: bigint | number): Promise<boolean> {
    return await this.#command(["DEL", spellKey(id)]);
  }

  /** A round trip, for /readyz. Throws when the cache is down. */
  async ping(): Promise<void> {
    const reply = await this.pool.use((client) => client.send("PING"), { idempotent: true });
    if (reply instanceof RespError) throw reply;
  }

  async #command(args: (string | number)[]): Promise<boolean> {
    try {
      const reply = await this.pool.use((client) => client.send(...args), { idempotent: true });
      return !(reply instanceof RespError);
    } catch {
      return false;
    }
  }

  close(): void {
    this.pool.close();
  }
}
