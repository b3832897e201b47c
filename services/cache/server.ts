// The cache's I/O on lib/net: one connection handler per client, replies
// batched into one write per read, pub/sub delivery, parking blocked
// clients, the idle timeout, the active expiry timer, and shutdown.
//
// lib/net/tcp_server.ts runs the accept loop, the connection cap (a new
// client closes the longest-idle one; when none is idle it is refused with
// Redis's "-ERR max number of clients reached"), the deadline sweep behind
// the idle timeout, and the drain on close. A client is idle between
// commands, including one that has sent only part of a command (we wait on
// it, so a stalled half-sent command can be reclaimed); a client parked in
// BLPOP or subscribed to pub/sub is not idle (it is waiting on us), so it
// is neither evicted nor timed out, as Redis exempts blocked and pub/sub
// clients from `timeout`.
//
// The hot path parses commands straight from the connection's ReadBuffer
// (argument views, no copies), runs each through the dispatch table, and
// writes every reply produced by that read with one write. It reads with
// `reserve()` and `commit()` rather than `fill()` to save a promise per read,
// and skips decoding until the bytes a bulk header announced have arrived.
// A client that does not read its replies stops being read from
// (backpressure) and, if pub/sub pushes pile up past the output bound, is
// disconnected, as Redis does with client-output-buffer-limit; nobody else
// waits for it.

import type { Bytes } from "../../lib/bytes.ts";
import { isIncomplete } from "../../lib/decode.ts";
import { LimitError } from "../../lib/errors.ts";
import type { Logger } from "../../lib/log.ts";
import { ReadBuffer } from "../../lib/net/read_buffer.ts";
import { serveTcp, type TcpConnection, type TcpServer } from "../../lib/net/tcp_server.ts";
import {
  CommandArgs,
  CommandSpans,
  decodeCommand,
  decodeCommandSpans,
} from "../../lib/resp/codec.ts";
import { DEFAULT_LIMITS, type RespLimits } from "../../lib/resp/types.ts";
import { ReplyWriter } from "../../lib/resp/writer.ts";
import { BlockedClients } from "./commands/blocking.ts";
import type {
  Args,
  ClientMemory,
  CommandSpec,
  CommandStat,
  Ctx,
  QueuedCommand,
  ServerState,
  ServerStats,
  Session,
} from "./commands/context.ts";
import { publishMessage, unsubscribeAll } from "./commands/pubsub.ts";
import {
  DESTINATION_FIRST,
  eventsFor,
  NEW_FIRST,
  NOTIFY_EVICTED,
  NOTIFY_EXPIRED,
  NOTIFY_KEY_MISS,
  NOTIFY_KEYEVENT,
  NOTIFY_KEYSPACE,
  NOTIFY_NEW,
  NOTIFY_STRING,
} from "./notify.ts";
import { toKey } from "./values.ts";
import { Watches } from "./commands/transactions.ts";
import { STANDARD_CONFIG } from "./config.ts";
import { COMMANDS, dispatch, pausedBy } from "./dispatch.ts";
import { Slowlog } from "./commands/introspection.ts";
import { activeExpireCycle, EXPIRE_CYCLE_INTERVAL_MS } from "./expiry.ts";
import { type Db, type EvictionPolicy, Keyspace } from "./keyspace.ts";
import { type ReadLookups, readLookupsOf } from "./read_lookups.ts";

export interface CacheLimits extends RespLimits {
  /** Pending reply bytes past which a client is disconnected (Redis pubsub hard limit: 32 MiB). */
  outputBytesMax: number;
  /** Open connections at most (Redis maxclients default 10000). */
  connectionsMax: number;
  /** Unparsed input one client may hold (Redis client-query-buffer-limit: 1 GiB). */
  queryBufferBytesMax: number;
}

export const DEFAULT_CACHE_LIMITS: Readonly<CacheLimits> = {
  ...DEFAULT_LIMITS,
  outputBytesMax: 32 * 1024 * 1024,
  connectionsMax: 10_000,
  queryBufferBytesMax: 1024 * 1024 * 1024,
};

export interface CacheOptions {
  host: string;
  port: number;
  databases: number;
  maxmemoryBytes: number;
  policy: EvictionPolicy;
  requirepass?: string;
  /** Close clients idle this long (Redis `timeout`, here in ms); 0: never. */
  idleTimeoutMs?: number;
  /** How long `close()` lets in-flight replies finish (--drain-timeout-ms). */
  drainTimeoutMs?: number;
  limits?: Partial<CacheLimits>;
  log: Logger;
}

/** The directory CONFIG GET dir shows (Redis's working directory); "." without read permission. */
function workingDirectory(): string {
  try {
    return Deno.cwd();
  } catch {
    return ".";
  }
}

/** 40 random hex digits, as Redis makes its run_id and replication id. */
function randomHex40(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(20));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Redis's reply to a client past maxclients, then the socket is closed. */
const REFUSAL = new TextEncoder().encode("-ERR max number of clients reached\r\n");
/** Bytes a blocked client may pipeline behind its blocking command before we stop reading. */
const BLOCKED_BUFFER_BYTES_MAX = 1024 * 1024;
/** A side read while blocked: about one TCP read. */
const SIDE_READ_BYTES = 16 * 1024;
const UNBLOCKED: unique symbol = Symbol("unblocked");
/** '*': an array command (else an inline one). */
const STAR = 42;
/**
 * What one parsed argument costs besides its bytes while its command runs:
 * its (start, length) pair in the connection's CommandSpans. Handlers get a
 * CommandArgs, which makes a view only when an argument is read (a view is
 * about 110 bytes of V8 object: holding one per argument took a 1M-argument
 * DEL to 560 MB of RSS). Counted in argv-mem and, above
 * ARGV_ACCOUNT_BYTES_MIN, in used_memory before the command runs.
 */
const ARG_SPAN_BYTES = 8;
const ARGV_ACCOUNT_BYTES_MIN = 64 * 1024;

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
  replyMode: "on" | "off" | "skip" = "on";
  readonly out = new ReplyWriter();
  /** The read buffer, once the read loop runs (for qbuf in CLIENT LIST). */
  input: ReadBuffer | undefined;
  /** The side buffer read into while blocked, allocated only then. */
  sideBytes = 0;
  interactedAt = 0;
  /** Estimated bytes of the command being run's arguments (argv-mem). */
  argvBytes = 0;
  /** What this client last added to the keyspace's used_memory. */
  #accountedBytes = 0;
  readonly connection: TcpConnection;
  readonly conn: Deno.TcpConn;
  readonly ctx: Ctx;
  #writing: Promise<void> | undefined;
  #inFlight = 0;
  /** True while writeReplies() has a write in flight. */
  #busy = false;
  #server: CacheServer;

  constructor(id: number, connection: TcpConnection, server: CacheServer) {
    this.id = id;
    this.connection = connection;
    this.conn = connection.conn;
    this.#server = server;
    this.db = server.keyspace.dbs[0];
    this.authenticated = server.requirepass === undefined;
    const remote = this.conn.remoteAddr;
    const local = this.conn.localAddr;
    this.addr = `${remote.hostname}:${remote.port}`;
    this.laddr = `${local.hostname}:${local.port}`;
    this.ctx = { server, session: this, out: this.out, inExec: false };
  }

  get blocked(): boolean {
    return this.#server.blocking.isBlocked(this);
  }

  kill(): void {
    this.closing = true;
    this.#server.blocking.release(this);
    this.connection.close();
  }

  get subscribed(): boolean {
    return this.channels.size + this.patterns.size > 0;
  }

  pendingBytes(): number {
    return this.out.length + this.#inFlight;
  }

  memory(): ClientMemory {
    const queryBytes = this.input?.length ?? 0;
    const queryFreeBytes = (this.input?.capacity ?? 0) - queryBytes;
    const replyBufferBytes = this.out.capacity;
    return {
      queryBytes,
      queryFreeBytes,
      argvBytes: this.argvBytes,
      replyBufferBytes,
      outputBytes: this.pendingBytes(),
      totalBytes: queryBytes + queryFreeBytes + this.sideBytes + this.argvBytes +
        replyBufferBytes,
    };
  }

  /**
   * Brings this client's share of used_memory up to date (Redis counts
   * client buffers in used_memory, and so against maxmemory). Called after
   * each read's replies are written, before a large command, and at close
   * (with `closed`, which takes the whole share back).
   */
  account(closed = false): void {
    // The sum memory() reports, without building its object on every read.
    const total = closed
      ? 0
      : (this.input?.capacity ?? 0) + this.sideBytes + this.argvBytes + this.out.capacity;
    const delta = total - this.#accountedBytes;
    if (delta === 0) return;
    this.#accountedBytes = total;
    const space = this.#server.keyspace;
    space.usedBytes += delta;
    space.clientBytes += delta;
  }

  /** Between reads, with nothing in flight: give back what a big command grew. */
  settle(): void {
    this.argvBytes = 0;
    // An empty read buffer shrinks on its next reserve(); do it now, so
    // what is counted is what an idle connection holds.
    if (this.input !== undefined && this.input.length === 0) this.input.reserve(0);
    if (!this.#busy && this.#writing === undefined) this.out.shrink();
    this.account();
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
      this.connection.close();
      return;
    }
    this.flush().catch(() => {});
  }

  /**
   * The read loop's write: this read's replies in one write, awaited
   * directly (no extra promise) unless a pub/sub flush is already running.
   * Not lib/net/write_all.ts: a partial write puts its tail back in front
   * of the queue, so pushes delivered meanwhile stay behind it and go out
   * in the same next write, and the usual full write costs one await.
   */
  async writeReplies(): Promise<void> {
    const writing = this.beginWrite();
    if (writing === undefined) return this.flush();
    let n: number | undefined;
    try {
      n = await writing;
    } finally {
      this.endWrite(n);
    }
    if (this.out.length > 0) await this.flush();
  }

  /** The chunk beginWrite() handed to the socket. */
  #chunk: Bytes | undefined;

  /**
   * writeReplies() in two halves, so the read loop's hot path awaits the
   * socket's own promise and not an async method's too (one promise and
   * one microtask less per request): starts writing this read's replies,
   * or returns undefined when a pub/sub flush is running (then flush()).
   */
  beginWrite(): Promise<number> | undefined {
    if (this.#writing !== undefined) return undefined;
    const chunk = this.out.take();
    this.#chunk = chunk;
    this.#inFlight = chunk.length;
    this.#busy = true;
    return this.conn.write(chunk);
  }

  /** After beginWrite()'s write took `n` bytes (undefined: it failed): queues any unwritten tail. */
  endWrite(n: number | undefined): void {
    const chunk = this.#chunk!;
    this.#chunk = undefined;
    this.#inFlight = 0;
    this.#busy = false;
    if (n !== undefined) {
      const stats = this.#server.stats;
      stats.writes++;
      stats.netOutputBytes += n;
    }
    if (n !== undefined && n < chunk.length) {
      const rest = chunk.slice(n);
      const queued = this.out.take().slice();
      this.out.raw(rest);
      this.out.raw(queued);
    }
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
      const stats = this.#server.stats;
      stats.writes++;
      stats.netOutputBytes += n;
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
  /** Redis `timeout` in ms (CONFIG SET timeout changes it); 0: clients never time out. */
  idleTimeoutMs: number;
  readonly sessions = new Map<number, Client>();
  readonly channels = new Map<string, Set<Session>>();
  readonly patterns = new Map<string, Set<Session>>();
  readonly config = new Map<string, string>();
  readonly stats: ServerStats = {
    commands: 0,
    connections: 0,
    keyspaceHits: 0,
    keyspaceMisses: 0,
    netInputBytes: 0,
    netOutputBytes: 0,
    reads: 0,
    writes: 0,
    errorReplies: 0,
    peakMemoryBytes: 0,
  };
  readonly errorStats = new Map<string, number>();
  readonly runId = randomHex40();
  readonly replId = randomHex40();

  countError(message: string): void {
    this.stats.errorReplies++;
    const space = message.indexOf(" ");
    const code = space === -1 ? message : message.slice(0, space);
    this.errorStats.set(code, (this.errorStats.get(code) ?? 0) + 1);
  }
  readonly commandStats = new Map<string, CommandStat>();
  readonly commands: ReadonlyMap<string, CommandSpec> = COMMANDS;
  readonly limits: CacheLimits;
  readonly log: Logger;
  readonly blocking = new BlockedClients();
  readonly watches = new Watches();
  readonly monitors = new Set<Session>();
  readonly slowlog = new Slowlog();
  /** CLIENT PAUSE: until when, whether only writes, and the clients held meanwhile. */
  #pausedUntil = 0;
  #pauseWritesOnly = false;
  #pauseTimer: ReturnType<typeof setTimeout> | undefined;
  #pauseWaiters: (() => void)[] = [];
  #drainTimeoutMs: number;
  #tcp: TcpServer | undefined;
  #nextId = 1;
  #expiryTimer: ReturnType<typeof setInterval> | undefined;

  constructor(options: CacheOptions) {
    this.keyspace = new Keyspace(options.databases);
    this.keyspace.maxmemoryBytes = options.maxmemoryBytes;
    this.keyspace.policy = options.policy;
    this.keyspace.hooks = {
      touched: (db, key) => {
        this.watches.touch(db, key);
        this.#changes.at(-1)?.push(db, key, false);
      },
      created: (db, key) => {
        this.blocking.signalReady(db, key);
        this.#changes.at(-1)?.push(db.index, key, true);
      },
      expired: (db, key) => this.#expired(db, key),
      read: (db, key, hit) => this.#read(db, key, hit),
    };
    this.requirepass = options.requirepass;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 0;
    this.#drainTimeoutMs = options.drainTimeoutMs ?? 10_000;
    this.limits = { ...DEFAULT_CACHE_LIMITS, ...options.limits };
    this.log = options.log;
    // Redis's defaults first, then what this instance really is.
    for (const entry of STANDARD_CONFIG) {
      this.config.set(entry.name, entry.value);
      if (entry.alias !== undefined) this.config.set(entry.alias, entry.value);
    }
    this.config.set("maxmemory", String(options.maxmemoryBytes));
    this.config.set("maxmemory-policy", options.policy);
    this.config.set("maxclients", String(this.limits.connectionsMax));
    this.config.set("databases", String(options.databases));
    this.config.set("requirepass", options.requirepass ?? "");
    // Nothing is saved or logged to a file here.
    this.config.set("save", "");
    this.config.set("appendonly", "no");
    this.config.set("bind", options.host);
    this.config.set("dir", workingDirectory());
    this.config.set("timeout", String(Math.floor(this.idleTimeoutMs / 1000)));
    this.config.set("proto-max-bulk-len", String(this.limits.bulkBytesMax));
    this.config.set("client-query-buffer-limit", String(this.limits.queryBufferBytesMax));
    this.config.set(
      "client-output-buffer-limit",
      `normal 0 0 0 slave 268435456 67108864 60 pubsub ${this.limits.outputBytesMax} 8388608 60`,
    );
  }

  /** Binds and starts accepting; returns the bound address. */
  listen(host: string, port: number): Deno.NetAddr {
    this.#tcp = serveTcp({
      label: "cache service port",
      hostname: host,
      port,
      connectionsMax: this.limits.connectionsMax,
      refusalBytes: REFUSAL,
      // Sweeps often enough for the idle timeout set at start; one set
      // later by CONFIG SET is in seconds, which the 250 ms ceiling serves.
      timeoutsMs: [this.idleTimeoutMs],
      log: this.log,
      handler: (connection) => this.#serve(connection),
    });
    const addr = this.#tcp.addr;
    this.port = addr.port;
    this.config.set("port", String(addr.port));
    this.keyspace.tick();
    this.#expiryTimer = setInterval(() => {
      this.keyspace.tick();
      activeExpireCycle(this.keyspace, (db, key) => this.#expired(db, key));
      if (this.keyspace.usedBytes > this.stats.peakMemoryBytes) {
        this.stats.peakMemoryBytes = this.keyspace.usedBytes;
      }
    }, EXPIRE_CYCLE_INTERVAL_MS);
    return addr;
  }

  setConnectionsMax(n: number): void {
    this.limits.connectionsMax = n;
    if (this.#tcp !== undefined) this.#tcp.connectionsMax = n;
  }

  /** Clients refused at the cap, and idle ones closed to make room, since start. */
  get connectionsRefused(): number {
    return this.#tcp?.refused ?? 0;
  }

  get connectionsEvicted(): number {
    return this.#tcp?.evicted ?? 0;
  }

  async #serve(connection: TcpConnection): Promise<void> {
    const client = new Client(this.#nextId++, connection, this);
    this.sessions.set(client.id, client);
    this.stats.connections++;
    try {
      await this.#readLoop(client);
    } catch (error) {
      if (error instanceof LimitError) {
        this.log.warn("client {id} closed: {error}", { id: client.id, error: error.message });
      } else if (!connection.closed && !client.closing) throw error;
      // Otherwise closed by us (eviction, timeout, output bound, shutdown): not a failure.
    } finally {
      this.#cleanup(client);
    }
  }

  async #readLoop(client: Client): Promise<void> {
    const limits = this.limits;
    const connection = client.connection;
    const conn = client.conn;
    const ctx = client.ctx;
    const input = new ReadBuffer({ sizeBytesMax: limits.queryBufferBytesMax });
    client.input = input;
    // Where the arguments of the command being read lie (one per connection, reused).
    const spans = new CommandSpans();
    // Buffered bytes needed before decoding again (a bulk header announced them).
    let need = 0;
    // A read started while the client was blocked, into `side`, which is
    // allocated only for that and dropped once the read completes.
    let pending: Promise<number | null> | undefined;
    let side: Bytes | undefined;
    this.#waitForCommand(client);
    while (!client.closing) {
      let n: number | null;
      if (pending !== undefined) {
        n = await pending;
        pending = undefined;
        if (n !== null) input.append(side!.subarray(0, n));
        side = undefined;
        client.sideBytes = 0;
      } else {
        // CONFIG SET client-query-buffer-limit applies to connections already open, as in Redis.
        if (input.sizeBytesMax !== limits.queryBufferBytesMax) {
          input.sizeBytesMax = limits.queryBufferBytesMax;
        }
        n = await conn.read(input.reserve(need > input.length ? need - input.length : 0));
        if (n !== null) input.commit(n);
      }
      if (n === null) return;
      this.stats.reads++;
      this.stats.netInputBytes += n;
      connection.markBusy();
      connection.setDeadline(0, "");
      // The LRU clock, refreshed by the expiry timer: CLIENT LIST's idle.
      client.interactedAt = this.keyspace.clock;
      if (input.length < need) {
        this.#waitForCommand(client);
        continue;
      }
      need = 0;
      while (input.length > 0 && !client.closing) {
        let args: Args;
        let used: number;
        try {
          if (input.bytes[input.start] === STAR) {
            // An array command: its argument positions first (resumed across
            // reads, no object per argument), views only once it is whole.
            const decoded = decodeCommandSpans(input.bytes, limits, input.start, input.end, spans);
            if (isIncomplete(decoded)) {
              need = input.length + decoded.bytesNeeded;
              break;
            }
            args = CommandArgs.fromSpans(input.bytes, input.start, spans);
            used = decoded.bytesUsed;
            spans.reset();
          } else {
            const decoded = decodeCommand(input.bytes, limits, input.start, input.end);
            if (isIncomplete(decoded)) {
              need = input.length + decoded.bytesNeeded;
              break;
            }
            args = CommandArgs.of(decoded.value);
            used = decoded.bytesUsed;
          }
        } catch (error) {
          // Redis replies and closes: the stream cannot be parsed past this point.
          client.out.error(`ERR ${(error as Error).message}`);
          client.closing = true;
          break;
        }
        input.consume(used);
        if (args.length === 0) continue;
        client.argvBytes = used + args.length * ARG_SPAN_BYTES;
        if (client.argvBytes > ARGV_ACCOUNT_BYTES_MIN) client.account();
        const paused = this.#pausedFor(args);
        if (paused !== undefined) {
          // Held by CLIENT PAUSE: earlier replies go out, then wait. Nothing is
          // read meanwhile, so the argument views into the buffer stay valid.
          if (client.out.length > 0) await client.writeReplies();
          connection.markBusy();
          await paused;
          if (client.closing) break;
        }
        const blocked = dispatch(ctx, args);
        if (blocked === undefined) continue;
        // Parked at once, before any await: a push from another client
        // while earlier replies are written must find it waiting (parking
        // after the flush lost that wake-up and blocked on a full list).
        // Then keep reading so a client that hangs up is noticed (and not
        // handed an element it will never see); bytes it pipelines
        // meanwhile wait in the buffer, up to a bound.
        const done = this.blocking.park(ctx, blocked).then((): typeof UNBLOCKED => UNBLOCKED);
        if (connection.draining) this.blocking.release(client);
        await client.flush();
        while (true) {
          if (pending === undefined && input.length < BLOCKED_BUFFER_BYTES_MAX) {
            if (side === undefined) {
              side = new Uint8Array(SIDE_READ_BYTES);
              client.sideBytes = SIDE_READ_BYTES;
            }
            pending = conn.read(side);
            pending.catch(() => {});
          }
          const result = await (pending ? Promise.race([done, pending]) : done);
          if (result === UNBLOCKED) break;
          pending = undefined;
          if (result === null) {
            this.blocking.release(client);
            return;
          }
          input.append(side!.subarray(0, result));
        }
        if (pending === undefined) {
          side = undefined;
          client.sideBytes = 0;
        }
      }
      if (client.out.length > 0) {
        const writing = client.beginWrite();
        if (writing === undefined) await client.flush();
        else {
          let n: number | undefined;
          try {
            n = await writing;
          } finally {
            client.endWrite(n);
          }
          if (client.out.length > 0) await client.flush();
        }
      }
      client.settle();
      this.#waitForCommand(client);
    }
    await client.flush();
  }

  /**
   * Between commands: idle (evictable to make room, and closed after the
   * idle timeout) unless subscribed, since a subscriber waits on us. While
   * the server drains, an idle client is closed at once.
   */
  #waitForCommand(client: Client): void {
    const connection = client.connection;
    if (client.subscribed) {
      if (connection.draining) connection.close();
      return;
    }
    connection.setDeadline(this.idleTimeoutMs, "idle");
    connection.markIdle();
  }

  signalReady(db: Db, key: string): void {
    this.blocking.signalReady(db, key);
  }

  pause(untilMs: number, all: boolean): void {
    // A pause already running is only lengthened, and ALL wins over WRITE (Redis pauseClients).
    const active = this.#pausedUntil !== 0;
    this.#pauseWritesOnly = active ? this.#pauseWritesOnly && !all : !all;
    if (untilMs > this.#pausedUntil) {
      this.#pausedUntil = untilMs;
      clearTimeout(this.#pauseTimer);
      this.#pauseTimer = setTimeout(() => this.unpause(), Math.max(0, untilMs - Date.now()));
    }
  }

  unpause(): void {
    this.#pausedUntil = 0;
    clearTimeout(this.#pauseTimer);
    this.#pauseTimer = undefined;
    const waiters = this.#pauseWaiters;
    this.#pauseWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves when CLIENT PAUSE no longer holds this command; undefined when it does not. */
  #pausedFor(args: Args): Promise<void> | undefined {
    if (this.#pausedUntil === 0 || !pausedBy(args, this.#pauseWritesOnly)) return undefined;
    return new Promise((resolve) => this.#pauseWaiters.push(resolve));
  }

  touch(db: Db, key: string): void {
    this.watches.touch(db.index, key);
  }

  notifyFlags = 0;
  /** Keys changed by the commands running (innermost last): db, key, created. */
  #changes: (number | string | boolean)[][] = [];

  startChanges(): void {
    this.#changes.push([]);
  }

  emitChanges(command: string, args: Args): void {
    const log = this.#changes.pop();
    if (log === undefined || log.length === 0) return;
    // Each key once, in the order first changed; "new" before the command's event.
    const seen = new Map<string, { db: number; key: string; created: boolean }>();
    for (let i = 0; i < log.length; i += 3) {
      const id = `${log[i]}\0${log[i + 1]}`;
      const known = seen.get(id);
      if (known === undefined) {
        seen.set(id, { db: log[i] as number, key: log[i + 1] as string, created: !!log[i + 2] });
      } else if (log[i + 2]) known.created = true;
    }
    if (command === "mset" || command === "msetnx") {
      // One "set" per pair, a key given twice included (Redis sets each in turn).
      const db = log[0] as number;
      for (let i = 1; i < args.length; i += 2) {
        const key = toKey(args.at(i));
        if (seen.get(`${db}\0${key}`)?.created) {
          seen.get(`${db}\0${key}`)!.created = false;
          this.#notify(NOTIFY_NEW, "new", db, key);
        }
        this.#notify(NOTIFY_STRING, "set", db, key);
      }
      return;
    }
    let changed = [...seen.values()];
    if (DESTINATION_FIRST.has(command)) {
      const destination = toKey(args.at(2));
      changed = [
        ...changed.filter((c) => c.key === destination),
        ...changed.filter((c) => c.key !== destination),
      ];
    }
    const newFirst = NEW_FIRST.has(command);
    if (newFirst) {
      for (const { db, key, created } of changed) {
        if (created) this.#notify(NOTIFY_NEW, "new", db, key);
      }
    }
    for (const { db, key, created } of changed) {
      if (created && !newFirst) this.#notify(NOTIFY_NEW, "new", db, key);
      const exists = this.keyspace.dbs[db].peek(key) !== undefined;
      for (const event of eventsFor(command, args, key, exists)) {
        this.#notify(event.type, event.name, db, key);
      }
    }
  }

  /**
   * How the running command's lookups count (read_lookups.ts) beyond
   * `keyspace.readLookups`: the keys whose next lookup is a read, when it
   * reads only some, or "quiet" when its misses publish nothing.
   */
  #reads: ReadLookups = false;

  enterLookups(spec: CommandSpec, args: Args): ReadLookups {
    const outer = this.#reads;
    this.#setReads(readLookupsOf(spec, args));
    return outer;
  }

  leaveLookups(outer: ReadLookups): void {
    this.#setReads(outer);
  }

  #setReads(reads: ReadLookups): void {
    this.#reads = reads;
    this.keyspace.readLookups = typeof reads === "object" ? reads.length > 0 : reads !== false;
  }

  /** A read lookup (lookupKeyRead): counted, and a miss published as "keymiss" under m. */
  #read(db: Db, key: string, hit: boolean): void {
    const reads = this.#reads;
    if (typeof reads === "object") {
      // Only the first lookup of each key listed is a read.
      const at = reads.indexOf(key);
      if (at === -1) return;
      reads.splice(at, 1);
      if (reads.length === 0) this.keyspace.readLookups = false;
    }
    if (hit) {
      this.stats.keyspaceHits++;
      return;
    }
    this.stats.keyspaceMisses++;
    if (reads !== "quiet" && this.notifyFlags & NOTIFY_KEY_MISS) {
      this.#notify(NOTIFY_KEY_MISS, "keymiss", db.index, key);
    }
  }

  /** Publishes one keyspace event, as notifyKeyspaceEvent does, if its class is on. */
  #notify(type: number, event: string, db: number, key: string): void {
    const flags = this.notifyFlags;
    if ((flags & type) === 0) return;
    if (flags & NOTIFY_KEYSPACE) publishMessage(this, `__keyspace@${db}__:${key}`, event);
    if (flags & NOTIFY_KEYEVENT) publishMessage(this, `__keyevent@${db}__:${event}`, key);
  }

  #expired(db: Db, key: string): void {
    this.watches.touch(db.index, key);
    if (this.notifyFlags !== 0) this.#notify(NOTIFY_EXPIRED, "expired", db.index, key);
  }

  evicted(db: Db, key: string): void {
    this.watches.touch(db.index, key);
    if (this.notifyFlags !== 0) this.#notify(NOTIFY_EVICTED, "evicted", db.index, key);
  }

  #cleanup(client: Client): void {
    client.closing = true;
    client.account(true);
    this.blocking.release(client);
    this.monitors.delete(client);
    unsubscribeAll(client.ctx);
    this.watches.unwatchAll(client);
    this.sessions.delete(client.id);
  }

  /**
   * Stops accepting and drains: idle clients are closed at once, replies
   * being written get `drainTimeoutMs` to finish, and clients waiting on us
   * (blocked, subscribed) are closed, as Redis closes them on shutdown.
   */
  async close(drainTimeoutMs = this.#drainTimeoutMs): Promise<void> {
    clearInterval(this.#expiryTimer);
    this.unpause();
    const draining = this.#tcp?.close(drainTimeoutMs);
    for (const client of this.sessions.values()) {
      if (client.blocked || client.subscribed) {
        client.closing = true;
        this.blocking.release(client);
        client.connection.close();
      }
    }
    await draining;
  }
}
