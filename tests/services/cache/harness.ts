// The cache's command layer without a socket: a CacheServer that never
// listens, sessions that are plain objects, and commands run through
// dispatch with their replies decoded back to values.
//
//   const cache = commandCache();
//   const alice = cache.session();
//   alice.run("SET", "k", "v");          // RespSimple("OK")
//   alice.run("BLPOP", "q", 0);          // BLOCKED: parked until a push
//   bob.run("RPUSH", "q", "x"); alice.reply();   // ["q", "x"]

import { type Bytes, fromUtf8, utf8 } from "../../../lib/bytes.ts";
import { isIncomplete } from "../../../lib/decode.ts";
import { logger } from "../../../lib/log.ts";
import { CommandArgs, decodeReply } from "../../../lib/resp/codec.ts";
import {
  DEFAULT_LIMITS,
  RespError,
  RespMap,
  RespSimple,
  type RespValue,
  RespVerbatim,
} from "../../../lib/resp/types.ts";
import { ReplyWriter } from "../../../lib/resp/writer.ts";
import type {
  ClientMemory,
  Ctx,
  QueuedCommand,
  Session,
} from "../../../services/cache/commands/context.ts";
import { dispatch } from "../../../services/cache/dispatch.ts";
import type { Db, EvictionPolicy } from "../../../services/cache/keyspace.ts";
import { CacheServer } from "../../../services/cache/server.ts";

/** What `run` returns for a command that parked its client. */
export const BLOCKED: unique symbol = Symbol("blocked");

/** Replies as plain JSON-able values: bulks as text, simple strings as "+OK". */
export function plainReply(value: RespValue | typeof BLOCKED): unknown {
  if (value === BLOCKED) return "<blocked>";
  if (value instanceof Uint8Array) return fromUtf8(value);
  if (value instanceof RespSimple) return `+${value.text}`;
  if (value instanceof RespError) return `-${value.message}`;
  if (value instanceof RespVerbatim) return fromUtf8(value.text);
  if (value instanceof RespMap) {
    return value.entries.map(([k, v]) => [plainReply(k), plainReply(v)]);
  }
  if (Array.isArray(value)) return value.map(plainReply);
  return value;
}

export interface CommandCacheOptions {
  maxmemoryBytes?: number;
  policy?: EvictionPolicy;
  requirepass?: string;
}

/** A cache whose commands run in-process; `close()` stops its timers (none until listen). */
export function commandCache(options: CommandCacheOptions = {}): CommandCache {
  return new CommandCache(options);
}

export class CommandCache {
  readonly server: CacheServer;
  #nextId = 1;

  constructor(options: CommandCacheOptions) {
    this.server = new CacheServer({
      host: "127.0.0.1",
      port: 0,
      databases: 16,
      maxmemoryBytes: options.maxmemoryBytes ?? 0,
      policy: options.policy ?? "noeviction",
      requirepass: options.requirepass,
      log: logger("cache"),
    });
  }

  /** A new connection's session. */
  session(): FakeSession {
    return new FakeSession(this.#nextId++, this.server);
  }
}

export class FakeSession implements Session {
  readonly id: number;
  db: Db;
  protocol: 2 | 3 = 2;
  name = "";
  authenticated: boolean;
  readonly createdAt = 0;
  lastCommand = "NULL";
  readonly addr = "127.0.0.1:1";
  readonly laddr = "127.0.0.1:2";
  multi: QueuedCommand[] | undefined = undefined;
  multiError = false;
  readonly watched = new Set<string>();
  watchDirty = false;
  readonly channels = new Set<string>();
  readonly patterns = new Set<string>();
  closing = false;
  replyMode: "on" | "off" | "skip" = "on";
  readonly interactedAt = 0;
  readonly out = new ReplyWriter();
  readonly ctx: Ctx;
  #server: CacheServer;
  /** Bytes received and not yet decoded by `reply()`. */
  #pending: Bytes = new Uint8Array(0);

  constructor(id: number, server: CacheServer) {
    this.id = id;
    this.#server = server;
    this.db = server.keyspace.dbs[0];
    this.authenticated = server.requirepass === undefined;
    this.ctx = { server, session: this, out: this.out, inExec: false };
  }

  get blocked(): boolean {
    return this.#server.blocking.isBlocked(this);
  }

  kill(): void {
    this.closing = true;
    this.close();
  }

  pendingBytes(): number {
    return this.out.length;
  }

  memory(): ClientMemory {
    const replyBufferBytes = this.out.capacity;
    return {
      queryBytes: 0,
      queryFreeBytes: 0,
      argvBytes: 0,
      replyBufferBytes,
      outputBytes: this.out.length,
      totalBytes: replyBufferBytes,
    };
  }

  deliver(write: (out: ReplyWriter) => void): void {
    write(this.out);
  }

  /**
   * Runs one command and returns its reply decoded, or BLOCKED when the
   * client was parked (its reply comes later through `reply()`).
   */
  run(...args: (string | number | Uint8Array)[]): RespValue | typeof BLOCKED {
    const bytes = args.map((arg) =>
      new Uint8Array(arg instanceof Uint8Array ? arg : utf8(String(arg)))
    );
    const blocked = dispatch(this.ctx, CommandArgs.of(bytes));
    if (blocked !== undefined) {
      this.#server.blocking.park(this.ctx, blocked);
      return BLOCKED;
    }
    return this.reply();
  }

  /** The next reply (or push) written to this session; throws when there is none. */
  reply(): RespValue {
    const taken = this.out.take();
    const joined = new Uint8Array(this.#pending.length + taken.length);
    joined.set(this.#pending);
    joined.set(taken, this.#pending.length);
    const result = decodeReply(joined, DEFAULT_LIMITS);
    if (isIncomplete(result)) throw new Error("no reply was written");
    this.#pending = joined.slice(result.bytesUsed);
    return result.value;
  }

  /** True when nothing is waiting to be read. */
  get quiet(): boolean {
    return this.out.length === 0 && this.#pending.length === 0;
  }

  /** Disconnects: forgets its watches, subscriptions and blocked command. */
  close(): void {
    this.#server.blocking.release(this);
    this.#server.watches.unwatchAll(this);
  }
}
