// The cache's I/O: accept loop, one read loop per connection, replies
// batched into one write per read, pub/sub delivery, blocked clients, the
// active expiry timer, and shutdown.
//
// The hot path parses commands straight from the connection's read buffer
// (argument views, no copies), runs each through the dispatch table, and
// writes every reply produced by that read with one write. A client that
// does not read its replies stops being read from (backpressure) and, if
// pub/sub pushes pile up past the output bound, is disconnected, as Redis
// does with client-output-buffer-limit; nobody else waits for it.

import type { Bytes } from "../../lib/bytes.ts";
import { isDisconnect } from "../../lib/net/disconnect.ts";
import { isIncomplete } from "../../lib/decode.ts";
import { decodeCommand } from "../../lib/resp/codec.ts";
import { DEFAULT_LIMITS, type RespLimits } from "../../lib/resp/types.ts";
import { ReplyWriter } from "../../lib/resp/writer.ts";
import type { Logger } from "../../lib/log.ts";
import { BlockedClients } from "./commands/blocking.ts";
import type { CommandSpec, Ctx, QueuedCommand, ServerState, Session } from "./commands/context.ts";
import { unsubscribeAll } from "./commands/pubsub.ts";
import { Watches } from "./commands/transactions.ts";
import { COMMANDS, dispatch } from "./dispatch.ts";
import { activeExpireCycle, EXPIRE_CYCLE_INTERVAL_MS } from "./expiry.ts";
import { type Db, type EvictionPolicy, Keyspace } from "./keyspace.ts";

export interface CacheLimits extends RespLimits {
  /** Pending reply bytes past which a client is disconnected (Redis pubsub hard limit: 32 MiB). */
  outputBytesMax: number;
  /** Open connections at most (Redis maxclients default 10000). */
  connectionsMax: number;
}

export const DEFAULT_CACHE_LIMITS: Readonly<CacheLimits> = {
  ...DEFAULT_LIMITS,
  outputBytesMax: 32 * 1024 * 1024,
  connectionsMax: 10_000,
};

export interface CacheOptions {
  host: string;
  port: number;
  databases: number;
  maxmemoryBytes: number;
  policy: EvictionPolicy;
  requirepass?: string;
  limits?: Partial<CacheLimits>;
  log: Logger;
}

const READ_BUFFER_BYTES = 16 * 1024;
/** Bytes a blocked client may pipeline behind its blocking command before we stop reading. */
const BLOCKED_BUFFER_BYTES_MAX = 1024 * 1024;
const UNBLOCKED: unique symbol = Symbol("unblocked");

class Client implements Session {
  readonly id: number;
  db: Db;
  protocol: 2 | 3 = 2;
  name = "";
  authenticated: boolean;
  readonly createdAt = Date.now();
  lastCommand = "NULL";
  readonly addr: string;
  readonly laddr: string;
  multi: QueuedCommand[] | undefined = undefined;
  multiError = false;
  readonly watched = new Set<string>();
  watchDirty = false;
  readonly channels = new Set<string>();
  readonly patterns = new Set<string>();
  closing = false;
  readonly out = new ReplyWriter();
  readonly conn: Deno.TcpConn;
  ctx!: Ctx;
  #writing: Promise<void> | undefined;
  #inFlight = 0;
  /** True while writeReplies() has a write in flight. */
  #busy = false;
  #server: CacheServer;

  constructor(id: number, conn: Deno.TcpConn, server: CacheServer) {
    this.id = id;
    this.conn = conn;
    this.#server = server;
    this.db = server.keyspace.dbs[0];
    this.authenticated = server.requirepass === undefined;
    const remote = conn.remoteAddr;
    const local = conn.localAddr;
    this.addr = `${remote.hostname}:${remote.port}`;
    this.laddr = `${local.hostname}:${local.port}`;
  }

  get blocked(): boolean {
    return this.#server.blocking.isBlocked(this);
  }

  pendingBytes(): number {
    return this.out.length + this.#inFlight;
  }

  deliver(write: (out: ReplyWriter) => void): void {
    if (this.closing) return;
    write(this.out);
    if (this.pendingBytes() > this.#server.limits.outputBytesMax) {
      this.#server.log.warn("client {id} closed: output buffer over {max} bytes", {
        id: this.id,
        max: this.#server.limits.outputBytesMax,
      });
      this.closing = true;
      this.out.take();
      try {
        this.conn.close();
      } catch { /* already closed */ }
      return;
    }
    this.flush().catch(() => {});
  }

  /**
   * The read loop's write: this read's replies in one write, awaited
   * directly (no extra promise) unless a pub/sub flush is already running.
   */
  async writeReplies(): Promise<void> {
    if (this.#writing !== undefined) return this.flush();
    const chunk = this.out.take();
    this.#inFlight = chunk.length;
    this.#busy = true;
    let n: number;
    try {
      n = await this.conn.write(chunk);
    } finally {
      this.#inFlight = 0;
      this.#busy = false;
    }
    if (n < chunk.length) {
      const rest = chunk.slice(n);
      const queued = this.out.take().slice();
      this.out.raw(rest);
      this.out.raw(queued);
    }
    if (this.out.length > 0) await this.flush();
  }

  /** Writes everything pending; resolves when the buffer is empty. */
  flush(): Promise<void> {
    // The read loop's write in flight picks up whatever was queued meanwhile.
    if (this.#busy) return Promise.resolve();
    if (this.#writing !== undefined) return this.#writing;
    if (this.out.length === 0) return Promise.resolve();
    return this.#flushOnce();
  }

  /**
   * The hot path: one write of this read's replies. When the socket took
   * only part, the rest goes back in front of the queue and is written next.
   */
  async #flushOnce(): Promise<void> {
    const chunk = this.out.take();
    this.#inFlight = chunk.length;
    const promise = this.conn.write(chunk);
    this.#writing = promise.then(() => {}, () => {});
    let n: number;
    try {
      n = await promise;
    } finally {
      this.#writing = undefined;
      this.#inFlight = 0;
    }
    if (n < chunk.length) {
      // Put the unwritten tail back in front of anything queued meanwhile.
      const rest = chunk.slice(n);
      const queued = this.out.take().slice();
      this.out.raw(rest);
      this.out.raw(queued);
    }
    if (this.out.length > 0) await this.flush();
  }
}

export class CacheServer implements ServerState {
  readonly keyspace: Keyspace;
  readonly startedAt = Date.now();
  port = 0;
  requirepass: string | undefined;
  readonly sessions = new Map<number, Client>();
  readonly channels = new Map<string, Set<Session>>();
  readonly patterns = new Map<string, Set<Session>>();
  readonly config = new Map<string, string>();
  stats = { commands: 0, connections: 0, keyspaceHits: 0, keyspaceMisses: 0 };
  readonly commands: ReadonlyMap<string, CommandSpec> = COMMANDS;
  readonly limits: CacheLimits;
  readonly log: Logger;
  readonly blocking = new BlockedClients();
  readonly watches = new Watches();
  #listener: Deno.TcpListener | undefined;
  #nextId = 1;
  #expiryTimer: ReturnType<typeof setInterval> | undefined;
  #connections = new Set<Promise<void>>();

  constructor(options: CacheOptions) {
    this.keyspace = new Keyspace(options.databases);
    this.keyspace.maxmemoryBytes = options.maxmemoryBytes;
    this.keyspace.policy = options.policy;
    this.keyspace.hooks = { touched: (db, key) => this.watches.touch(db, key) };
    this.requirepass = options.requirepass;
    this.limits = { ...DEFAULT_CACHE_LIMITS, ...options.limits };
    this.log = options.log;
    this.config.set("maxmemory", String(options.maxmemoryBytes));
    this.config.set("maxmemory-policy", options.policy);
    this.config.set("maxmemory-samples", "5");
    this.config.set("databases", String(options.databases));
    this.config.set("requirepass", options.requirepass ?? "");
    this.config.set("save", "");
    this.config.set("appendonly", "no");
    this.config.set("timeout", "0");
    this.config.set("proto-max-bulk-len", String(this.limits.bulkBytesMax));
  }

  /** Binds and starts accepting; resolves with the bound address. */
  listen(host: string, port: number): Deno.NetAddr {
    this.#listener = Deno.listen({ hostname: host, port, transport: "tcp" });
    const addr = this.#listener.addr as Deno.NetAddr;
    this.port = addr.port;
    this.config.set("port", String(addr.port));
    this.#expiryTimer = setInterval(() => {
      activeExpireCycle(this.keyspace, (db, key) => this.touch(db, key));
    }, EXPIRE_CYCLE_INTERVAL_MS);
    this.#acceptLoop(this.#listener);
    return addr;
  }

  async #acceptLoop(listener: Deno.TcpListener): Promise<void> {
    try {
      for await (const conn of listener) {
        if (this.sessions.size >= this.limits.connectionsMax) {
          conn.write(new TextEncoder().encode("-ERR max number of clients reached\r\n"))
            .catch(() => {}).finally(() => conn.close());
          continue;
        }
        conn.setNoDelay(true);
        const running = this.#serve(conn);
        this.#connections.add(running);
        running.finally(() => this.#connections.delete(running));
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) this.log.error("accept: {error}", { error });
    }
  }

  async #serve(conn: Deno.TcpConn): Promise<void> {
    const client = new Client(this.#nextId++, conn, this);
    client.ctx = { server: this, session: client, out: client.out, inExec: false };
    this.sessions.set(client.id, client);
    this.stats.connections++;
    try {
      await this.#readLoop(client);
    } catch (error) {
      if (isDisconnect(error) || client.closing) {
        this.log.debug("client {id} gone: {error}", { id: client.id, error });
      } else {
        this.log.error("client {id}: {error}", { id: client.id, error });
      }
    } finally {
      this.#cleanup(client);
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  }

  async #readLoop(client: Client): Promise<void> {
    const limits = this.limits;
    let buf: Bytes = new Uint8Array(READ_BUFFER_BYTES);
    let start = 0;
    let end = 0;
    let need = 0;
    const ctx = client.ctx;
    // A read started while the client was blocked, into `side`.
    let pending: Promise<number | null> | undefined;
    const side: Bytes = new Uint8Array(READ_BUFFER_BYTES);
    /** Makes room for `extra` more bytes after `end`. */
    const reserve = (extra: number) => {
      if (end + extra <= buf.length) return;
      if (start > 0) {
        buf.copyWithin(0, start, end);
        end -= start;
        start = 0;
      }
      if (end + extra <= buf.length) return;
      // Grow towards what a header announced, but only as bytes arrive.
      const size = Math.max(buf.length * 2, Math.min(need, buf.length * 4), end + extra);
      const grown = new Uint8Array(size);
      grown.set(buf.subarray(0, end));
      buf = grown;
    };
    while (!client.closing) {
      let n: number | null;
      if (pending !== undefined) {
        n = await pending;
        pending = undefined;
        if (n !== null) {
          reserve(n);
          buf.set(side.subarray(0, n), end);
        }
      } else {
        reserve(1);
        n = await client.conn.read(buf.subarray(end));
      }
      if (n === null) return;
      end += n;
      this.keyspace.tick();
      if (end - start < need) continue;
      need = 0;
      while (start < end && !client.closing) {
        let decoded;
        try {
          decoded = decodeCommand(buf, limits, start, end);
        } catch (error) {
          // Redis replies and closes: the stream cannot be parsed past this point.
          client.out.error(`ERR ${(error as Error).message}`);
          client.closing = true;
          break;
        }
        if (isIncomplete(decoded)) {
          // Counted from `start`, which stays put while the buffer compacts.
          need = end - start + decoded.bytesNeeded;
          break;
        }
        start += decoded.bytesUsed;
        if (decoded.value.length === 0) continue;
        const blocked = dispatch(ctx, decoded.value);
        if (blocked === undefined) continue;
        // Parked: keep reading so a client that hangs up is noticed (and
        // not handed an element it will never see); bytes it pipelines
        // meanwhile wait in the buffer, up to a bound.
        await client.flush();
        const done = this.blocking.park(ctx, blocked).then((): typeof UNBLOCKED => UNBLOCKED);
        while (true) {
          if (pending === undefined && end - start < BLOCKED_BUFFER_BYTES_MAX) {
            pending = client.conn.read(side);
            pending.catch(() => {});
          }
          const result = await (pending ? Promise.race([done, pending]) : done);
          if (result === UNBLOCKED) break;
          pending = undefined;
          if (result === null) {
            this.blocking.release(client);
            return;
          }
          reserve(result);
          buf.set(side.subarray(0, result), end);
          end += result;
        }
      }
      if (start === end) start = end = 0;
      if (client.out.length > 0) await client.writeReplies();
      if (buf.length > READ_BUFFER_BYTES * 4 && start === end) {
        buf = new Uint8Array(READ_BUFFER_BYTES); // give back a buffer grown for one big command
      }
    }
    await client.flush();
  }

  signalReady(db: Db, key: string): void {
    this.blocking.signalReady(db, key);
  }

  touch(db: Db, key: string): void {
    this.watches.touch(db.index, key);
  }

  #cleanup(client: Client): void {
    client.closing = true;
    this.blocking.release(client);
    unsubscribeAll(client.ctx);
    this.watches.unwatchAll(client);
    this.sessions.delete(client.id);
  }

  async close(): Promise<void> {
    clearInterval(this.#expiryTimer);
    try {
      this.#listener?.close();
    } catch { /* already closed */ }
    for (const client of this.sessions.values()) {
      client.closing = true;
      this.blocking.release(client);
      try {
        client.conn.close();
      } catch { /* already closed */ }
    }
    await Promise.allSettled([...this.#connections]);
  }
}
