// The TCP server every protocol server stands on: listen, accept, cap the
// connections (reclaiming the longest-idle one first), time out through one
// deadline sweep, and drain on close. The protocol only writes its
// connection handler.
//
//   const server = serveTcp({
//     label: "cache service port",             // named in errors and logs
//     hostname: "127.0.0.1", port: 0,           // 0 picks a free port
//     connectionsMax: 10_000,
//     refusalBytes: encode("-ERR max number of clients reached\r\n"),
//     goodbyeBytes: undefined,                 // or SMTP's 421, said to idle ones closed
//     log,
//     handler: async (c) => {                   // c: TcpConnection
//       const input = new ReadBuffer({ sizeBytesMax: limits.frameBytesMax + 1024 });
//       let needed = 0;
//       while (!c.draining) {                    // server closing: finish, go
//         c.markIdle();                          // nothing in flight: evictable
//         c.setDeadline(idleTimeoutMs, "idle");  // a field write; 0 clears it
//         if (await input.fill(c.conn, needed) === null) return;  // EOF
//         c.markBusy();                          // work in flight: not evictable
//         c.setDeadline(0, "");
//         let decoded;
//         while (!isIncomplete(decoded = decodeX(input.bytes, limits, input.start, input.end))) {
//           input.consume(decoded.bytesUsed);
//           ... answer into one output buffer ...
//         }
//         needed = decoded.bytesNeeded;
//         await writeAll(c.conn, output);        // one write per read
//       }
//     },
//   });
//   server.addr; server.connections;
//   await server.close(5_000);                   // or `await using server = ...`
//
// The cap. At `connectionsMax`, a new client closes the longest-idle
// connection (the one whose `markIdle()` is oldest) to take its place, as
// nginx and HAProxy reclaim keep-alive connections and RFC 7766 section
// 6.2.3 asks of DNS servers; only when every connection is busy is the
// client refused: `refusalBytes` (the protocol's own "too busy" answer) is
// written and the socket closed. So idle or stalled clients can never lock
// out health checks. `markIdle()` / `markBusy()` are two field writes: call
// them on every request. A connection starts busy; a handler that never
// marks idle is never evicted. Whether a message half received counts as
// idle is the protocol's choice (lib/http says yes: a slowloris head is
// the first thing to reclaim).
//
// Timeouts. `setDeadline(ms, reason)` arms the connection's deadline on the
// server's coarse clock (lib/net/deadlines.ts: one unref'd sweep timer per
// server, no timer per read); past it the sweep calls `onDeadline(reason)`
// when the handler set one (HTTP answers 408 to a head cut short), else
// closes the connection, which makes its pending read or write fail.
//
// Drain. `close(drainTimeoutMs)` stops accepting, sets `draining` on every
// connection, closes the idle ones at once (and any that marks itself idle
// later), waits for busy ones to finish until the deadline, then closes the
// rest and waits for their handlers to return. A protocol that says
// goodbye (SMTP 421, a STOMP ERROR) gives `goodbyeBytes`: they are written
// to each idle connection the server closes, on eviction or drain.
//
// Errors. A listen on a taken address throws Deno.errors.AddrInUse naming
// the listener: "cache service port 127.0.0.1:8005: address already in
// use". A handler that throws is logged (at debug for a disconnect) and its
// connection closed; the server goes on. Accept errors other than shutdown
// (e.g. out of file descriptors) are logged and retried after a short,
// growing pause.
//
// `reusePort` sets SO_REUSEPORT (Linux), so several processes can listen on
// one port and the kernel spreads connections among them.

import type { Logger } from "../log.ts";
import { logger } from "../log.ts";
import type { Bytes } from "../bytes.ts";
import { closeQuietly } from "./close.ts";
import { DeadlineSweep, type Expiring, sweepIntervalMs } from "./deadlines.ts";
import { isDisconnect } from "./disconnect.ts";

export interface TcpServerOptions {
  /** What this listener is, for messages: "cache service port", "admin port". */
  label: string;
  hostname?: string;
  /** 0 picks a free port. */
  port: number;
  /** SO_REUSEPORT: several processes may listen on the same port. */
  reusePort?: boolean;
  /** Open connections at most; past it the longest-idle one is closed, or the client refused. */
  connectionsMax: number;
  /** Written to a refused client before closing (the protocol's "too busy"); nothing if unset. */
  refusalBytes?: Bytes;
  /**
   * Written to an idle connection the server closes (evicted at the cap, or
   * at drain) before closing it, for protocols that say goodbye (SMTP 421,
   * a STOMP ERROR frame); nothing if unset (HTTP, RESP, DNS just close).
   */
  goodbyeBytes?: Bytes;
  /** Runs once per connection; the connection is closed when it returns or throws. */
  handler: (connection: TcpConnection) => Promise<void>;
  /** TCP_NODELAY on accepted sockets: true (servers write whole replies). */
  noDelay?: boolean;
  /** How often deadlines are checked; default: a quarter of `timeoutsMs`'s shortest, 10..250 ms. */
  sweepIntervalMs?: number;
  /** The timeouts the handler will use, to pick the sweep interval. */
  timeoutsMs?: number[];
  log?: Logger;
}

export interface TcpServer {
  readonly addr: Deno.NetAddr;
  /** Open connections right now. */
  readonly connections: number;
  /** Idle connections closed to make room for new ones, since start. */
  readonly evicted: number;
  /** Clients refused because every connection was busy, since start. */
  readonly refused: number;
  /** The server's coarse clock and deadline sweep (shared by its connections). */
  readonly sweep: DeadlineSweep;
  /**
   * The cap, changeable while serving (Redis's CONFIG SET maxclients): a
   * lower one closes nobody, it only makes room or refuses the next clients.
   */
  connectionsMax: number;
  /**
   * Stops accepting, closes idle connections at once, lets busy ones finish
   * within `drainTimeoutMs` (default 10 s), then closes the rest.
   */
  close(drainTimeoutMs?: number): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** How long a goodbye may take to write before the socket is closed anyway. */
const GOODBYE_WAIT_MS = 1_000;

/** Orders idle connections: larger means idle more recently. No clock call. */
let idleSequence = 0;

/** One accepted connection, as its handler sees it. */
export class TcpConnection implements Expiring {
  readonly conn: Deno.TcpConn;
  /** Set when the server starts draining: finish what is in flight, then return. */
  draining = false;
  /** Set once the connection is closed (by the server, a deadline, or the handler). */
  closed = false;
  /** On the sweep's clock; 0 for none. Prefer `setDeadline()`. */
  deadline = 0;
  /** What the deadline is for ("header", "idle", "body"...), passed to `onDeadline`. */
  deadlineFor = "";
  /**
   * What to do when the deadline passes, instead of closing (e.g. answer
   * 408 first). Must close the connection eventually.
   */
  onDeadline: ((reason: string) => void) | undefined = undefined;
  /**
   * How goodbye bytes (`closeWith`) reach the peer when the handler speaks
   * through a layer over the socket (SMTP after STARTTLS: written raw, a
   * 421 would reach the client's TLS layer as garbage). Resolves once they
   * are through; the socket is closed after. Unset: written to `conn`.
   */
  writeGoodbye: ((bytes: Bytes) => Promise<unknown>) | undefined = undefined;
  /** 0 while busy; otherwise when it became idle, in `idleSequence` order. */
  idleSince = 0;
  #sweep: DeadlineSweep;
  #goodbye: Bytes | undefined;

  constructor(conn: Deno.TcpConn, sweep: DeadlineSweep, goodbye?: Bytes) {
    this.conn = conn;
    this.#sweep = sweep;
    this.#goodbye = goodbye;
  }

  /** Waiting for a new request, nothing in flight: may be closed to make room. */
  markIdle(): void {
    if (this.idleSince === 0) this.idleSince = ++idleSequence;
    if (this.draining) this.closeWith(this.#goodbye);
  }

  /** Working on a request: not evictable. */
  markBusy(): void {
    this.idleSince = 0;
  }

  /** True while marked idle. */
  get idle(): boolean {
    return this.idleSince !== 0;
  }

  /** Arms the deadline `timeoutMs` from now (coarse clock); 0 clears it. */
  setDeadline(timeoutMs: number, reason: string): void {
    this.deadline = timeoutMs > 0 ? this.#sweep.now + timeoutMs : 0;
    this.deadlineFor = reason;
  }

  /** The sweep's coarse clock (ms). */
  get now(): number {
    return this.#sweep.now;
  }

  /** Called by the sweep. */
  expire(): void {
    if (this.closed) return;
    if (this.onDeadline !== undefined) this.onDeadline(this.deadlineFor);
    else this.close();
  }

  /** Closes the socket (idempotent); a pending read or write fails. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeQuietly(this.conn);
  }

  /**
   * Writes `bytes` (best effort, at most GOODBYE_WAIT_MS), then closes.
   * `closed` is true at once, so the handler stops as if closed.
   */
  closeWith(bytes: Bytes | undefined): void {
    if (this.closed) return;
    if (bytes === undefined || bytes.length === 0) return this.close();
    this.closed = true;
    const conn = this.conn;
    const timer = setTimeout(() => closeQuietly(conn), GOODBYE_WAIT_MS);
    const through = this.writeGoodbye;
    const written = through === undefined
      ? conn.write(bytes)
      : Promise.resolve().then(() => through(bytes));
    written.catch(() => 0).finally(() => {
      clearTimeout(timer);
      closeQuietly(conn);
    });
  }
}

/** Listens at once; the returned server is already accepting. */
export function serveTcp(options: TcpServerOptions): TcpServer {
  const hostname = options.hostname ?? "127.0.0.1";
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({
      hostname,
      port: options.port,
      transport: "tcp",
      reusePort: options.reusePort,
    });
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new Deno.errors.AddrInUse(
        `${options.label} ${hostname}:${options.port}: address already in use`,
        { cause: error },
      );
    }
    throw error;
  }
  return new Server(listener, options);
}

const ACCEPT_PAUSE_MS_MAX = 1_000;
/** After the drain deadline closes every socket, how long handlers get to return. */
const ABORT_WAIT_MS = 1_000;

class Server implements TcpServer {
  #listener: Deno.TcpListener;
  #options: TcpServerOptions;
  #log: Logger;
  #connections = new Set<TcpConnection>();
  #sweep: DeadlineSweep;
  #acceptLoop: Promise<void>;
  #closing: Promise<void> | undefined;
  #allClosed: (() => void) | undefined;
  #evicted = 0;
  #refused = 0;

  constructor(listener: Deno.TcpListener, options: TcpServerOptions) {
    if (!(options.connectionsMax >= 1)) throw new RangeError("connectionsMax must be at least 1");
    this.#listener = listener;
    this.#options = options;
    this.#log = options.log ?? logger("net");
    this.#sweep = new DeadlineSweep({
      intervalMs: options.sweepIntervalMs ?? sweepIntervalMs(...(options.timeoutsMs ?? [])),
    });
    this.#acceptLoop = this.#accept();
  }

  get addr(): Deno.NetAddr {
    return this.#listener.addr;
  }

  get connections(): number {
    return this.#connections.size;
  }

  get connectionsMax(): number {
    return this.#options.connectionsMax;
  }

  set connectionsMax(n: number) {
    if (!(n >= 1)) throw new RangeError("connectionsMax must be at least 1");
    this.#options = { ...this.#options, connectionsMax: n };
  }

  get evicted(): number {
    return this.#evicted;
  }

  get refused(): number {
    return this.#refused;
  }

  get sweep(): DeadlineSweep {
    return this.#sweep;
  }

  async #accept(): Promise<void> {
    let pauseMs = 0;
    while (true) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
        pauseMs = 0;
      } catch (error) {
        if (this.#closing || error instanceof Deno.errors.BadResource) return;
        this.#log.warn("{label}: accept failed: {error}", {
          label: this.#options.label,
          error: String(error),
        });
        // E.g. out of file descriptors: retrying at once would spin.
        pauseMs = Math.min(ACCEPT_PAUSE_MS_MAX, Math.max(5, pauseMs * 2));
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
        continue;
      }
      if (this.#closing) {
        closeQuietly(conn);
        continue;
      }
      if (this.#connections.size >= this.#options.connectionsMax && !this.#evictIdle()) {
        this.#refuse(conn);
        continue;
      }
      if (this.#options.noDelay !== false) {
        try {
          conn.setNoDelay(true);
        } catch { /* already closed by the peer */ }
      }
      this.#run(new TcpConnection(conn, this.#sweep, this.#options.goodbyeBytes));
    }
  }

  async #run(connection: TcpConnection): Promise<void> {
    this.#connections.add(connection);
    this.#sweep.track(connection);
    try {
      await this.#options.handler(connection);
    } catch (error) {
      if (connection.closed || isDisconnect(error)) {
        this.#log.debug("{label}: connection ended: {error}", {
          label: this.#options.label,
          error: String(error),
        });
      } else {
        this.#log.warn("{label}: connection failed: {error}", {
          label: this.#options.label,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        });
      }
    } finally {
      connection.close();
      this.#sweep.untrack(connection);
      this.#connections.delete(connection);
      if (this.#connections.size === 0) this.#allClosed?.();
    }
  }

  /** Closes the longest-idle connection; false when none is idle. */
  #evictIdle(): boolean {
    let oldest: TcpConnection | undefined;
    for (const connection of this.#connections) {
      const since = connection.idleSince;
      if (since !== 0 && !connection.closed && (oldest === undefined || since < oldest.idleSince)) {
        oldest = connection;
      }
    }
    if (oldest === undefined) return false;
    oldest.closeWith(this.#options.goodbyeBytes);
    // Its handler leaves the set once its read fails; make room now.
    this.#connections.delete(oldest);
    this.#sweep.untrack(oldest);
    this.#evicted++;
    return true;
  }

  #refuse(conn: Deno.TcpConn): void {
    this.#refused++;
    const bytes = this.#options.refusalBytes;
    if (bytes === undefined || bytes.length === 0) {
      closeQuietly(conn);
      return;
    }
    // A fresh socket's send buffer takes a short answer at once; do not wait for it.
    conn.write(bytes).catch(() => {}).finally(() => closeQuietly(conn));
  }

  close(drainTimeoutMs = 10_000): Promise<void> {
    return this.#closing ??= this.#shutdown(drainTimeoutMs);
  }

  async #shutdown(drainTimeoutMs: number): Promise<void> {
    closeQuietly(this.#listener);
    await this.#acceptLoop;
    for (const connection of this.#connections) {
      connection.draining = true;
      if (connection.idle) connection.closeWith(this.#options.goodbyeBytes);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const allClosed = new Promise<void>((resolve) => {
      this.#allClosed = resolve;
      if (this.#connections.size === 0) resolve();
    });
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, drainTimeoutMs);
    });
    await Promise.race([allClosed, deadline]);
    clearTimeout(timer);
    for (const connection of this.#connections) connection.close();
    // A handler returns once its socket fails; one stuck on something else
    // must not hang shutdown forever.
    const stuck = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), ABORT_WAIT_MS);
    });
    if (await Promise.race([allClosed.then(() => false), stuck])) {
      this.#log.warn("{label}: {count} handlers still running after close", {
        label: this.#options.label,
        count: this.#connections.size,
      });
    }
    clearTimeout(timer);
    this.#sweep.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
