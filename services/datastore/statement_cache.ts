// The simple query protocol's statement cache: a session that sends the
// same query text again (pgbench -M simple, a driver's unparameterized
// queries, a health check's `SELECT 1`) skips the lexer and parser, and the
// planner too while the catalog has not changed since the plan was made,
// as the extended protocol's prepared statements already do.
//
// One cache per session, keyed by the exact text. A plan belongs to the
// session it was made for (it may have folded in the session's user or
// database), and the parsed statements are never changed by planning, so a
// cached tree can be planned again after a catalog change. Bounded: at most
// TEXTS_MAX texts of at most TEXT_CHARS_MAX characters each (longer texts
// are parsed every time: they are rarely repeated, and the bound keeps a
// session's cache small), the least recently used text leaving first. Only
// texts that parsed are kept; a plan that failed is not.
//
// Pure: no I/O.

import type { Statement } from "./sql/ast.ts";
import type { SqlNotice } from "./sql/errors.ts";
import { parseSql, type SqlLimits } from "./sql/parser.ts";

/** Texts one session keeps (pgbench's TPC-B-like script sends seven). */
export const TEXTS_MAX = 64;
/** Longest text kept, in UTF-16 units: 64 texts of this size are 512 KiB of strings at most. */
export const TEXT_CHARS_MAX = 4096;

/** A cached text: its statements and notices, and a plan per statement once made. */
export interface CachedText<P> {
  readonly statements: readonly Statement[];
  readonly notices: readonly SqlNotice[];
  /** Per statement: its plan and the catalog version it was made at, or null. */
  readonly plans: ({ plan: P; version: number } | null)[];
}

/** Parsed texts and their plans for one session (`P` is the session's plan type). */
export class StatementCache<P> {
  #entries = new Map<string, CachedText<P>>();
  #limits: SqlLimits | undefined;
  hits = 0;
  misses = 0;

  constructor(limits?: SqlLimits) {
    this.#limits = limits;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The text's statements: cached, or parsed now (throws the parser's errors, caching nothing). */
  parse(sql: string): CachedText<P> {
    const cached = this.#entries.get(sql);
    if (cached !== undefined) {
      this.hits++;
      // Most recently used last: a Map iterates in insertion order.
      this.#entries.delete(sql);
      this.#entries.set(sql, cached);
      return cached;
    }
    this.misses++;
    const { statements, notices } = parseSql(sql, this.#limits);
    const entry: CachedText<P> = { statements, notices, plans: statements.map(() => null) };
    if (sql.length <= TEXT_CHARS_MAX) {
      this.#entries.set(sql, entry);
      if (this.#entries.size > TEXTS_MAX) {
        this.#entries.delete(this.#entries.keys().next().value!);
      }
    }
    return entry;
  }

  /** Statement `i`'s plan, made by `make` when there is none for catalog `version` yet. */
  plan(entry: CachedText<P>, i: number, version: number, make: () => P): P {
    const held = entry.plans[i];
    if (held !== null && held.version === version) return held.plan;
    const plan = make();
    entry.plans[i] = { plan, version };
    return plan;
  }
}
