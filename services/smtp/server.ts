// The SMTP server's I/O: one lib/net TCP server per port (2525 for relay
// and local delivery, 2587 for submission), each connection a read loop
// that feeds the pure engine (engine.ts), writes its replies once per read,
// and carries out the one effect it asks for (store, close).
//
// Per connection, in order:
//   1. More than `connectionsPerClientMax` open from the same address: 421
//      4.7.0 and close (the others from that address are not touched).
//   2. Early talkers: with `greetDelayMs` > 0, bytes that arrive before the
//      greeting get 554 5.5.1 and a close (Postfix's postscreen "pregreet").
//   3. The 220 greeting, then commands. RFC 5321 4.5.3.2.7: the server waits
//      at least 5 minutes for a command (`commandTimeoutMs`); inside a body,
//      `dataTimeoutMs` per read (4.5.3.2.6's data block: 3 minutes). Past a
//      deadline the client gets 421 4.4.2 and is closed.
//   4. Idle connections (between commands) may be closed at the connection
//      cap with 421 4.3.2, as may every idle one at shutdown; a transfer in
//      progress is never evicted.
//
// STARTTLS (RFC 3207), when a certificate is configured: the 220 is
// written, every byte already buffered is dropped (anything pipelined
// before the handshake could have been injected by a man in the middle), the
// handshake runs through tls.ts, and the session forgets all it knew.

import type { Bytes } from "../../lib/bytes.ts";
import { utf8 } from "../../lib/bytes.ts";
import type { Logger } from "../../lib/log.ts";
import { closeQuietly } from "../../lib/net/close.ts";
import { ReadBuffer } from "../../lib/net/read_buffer.ts";
import { serveTcp, type TcpConnection, type TcpServer } from "../../lib/net/tcp_server.ts";
import { writeAll } from "../../lib/net/write_all.ts";
import { type CommandLimits, DEFAULT_COMMAND_LIMITS } from "../../lib/smtp/command.ts";
import { formatReply, reply } from "../../lib/smtp/reply.ts";
import { SmtpEngine } from "./engine.ts";
import { earlyTalker, greeting, newSession, type SessionConfig, tlsStarted } from "./session.ts";
import type { TlsTerminator } from "./tls.ts";
import type { Faults } from "./faults.ts";
import type { MailStore, StoreItem } from "./store.ts";
import { type Cidr, inNetworks } from "./networks.ts";
import { deliveryReport, messageDsnOf, recipientDsnOf, wants } from "./dsn.ts";
import { domainOf } from "../../lib/smtp/command.ts";

export interface SmtpServerOptions {
  session: Omit<SessionConfig, "submission">;
  store: MailStore;
  log: Logger;
  limits?: CommandLimits;
  connectionsMax: number;
  connectionsPerClientMax: number;
  /** Wait this long before greeting; a client that talks first is refused. 0: greet at once. */
  greetDelayMs: number;
  commandTimeoutMs: number;
  dataTimeoutMs: number;
  trustedNetworks: readonly Cidr[];
  /** STARTTLS is offered when set. */
  tls?: TlsTerminator;
  /** Injected failures and the connection rate limit (faults.ts). */
  faults?: Faults;
  /** Called after each message is stored (outbound delivery looks at its queue). */
  afterStore?: () => void;
  /** Clock for Received headers (ms since the epoch). */
  now?: () => number;
}

export interface SmtpStats {
  connections: number;
  messagesAccepted: number;
  messagesRefused: number;
  earlyTalkers: number;
  perClientRefused: number;
  rateLimited: number;
}

const GOODBYE = utf8(formatReply(reply(421, "4.3.2", "Service shutting down, closing connection")));
const TOO_BUSY = utf8(formatReply(reply(421, "4.3.2", "Too many connections, try again later")));
const TIMED_OUT = utf8(formatReply(reply(421, "4.4.2", "Timeout exceeded, closing connection")));
const RATE_LIMITED = utf8(
  formatReply(reply(421, "4.7.0", "Connection rate limit exceeded, try again later")),
);
const PER_CLIENT = utf8(
  formatReply(reply(421, "4.7.0", "Too many connections from your address, try again later")),
);

export class SmtpServer {
  readonly options: SmtpServerOptions;
  readonly stats: SmtpStats = {
    connections: 0,
    messagesAccepted: 0,
    messagesRefused: 0,
    earlyTalkers: 0,
    perClientRefused: 0,
    rateLimited: 0,
  };
  #servers: TcpServer[] = [];
  #perClient = new Map<string, number>();
  #flushing = false;
  #batch: {
    item: StoreItem;
    resolve: (id: string) => void;
    reject: (error: unknown) => void;
  }[] = [];

  constructor(options: SmtpServerOptions) {
    this.options = options;
  }

  /** Listens on one port; `submission` makes it the submission port (AUTH, RFC 6409). */
  listen(hostname: string, port: number, submission: boolean): Deno.NetAddr {
    const o = this.options;
    const server = serveTcp({
      label: submission ? "smtp submission port" : "smtp port",
      hostname,
      port,
      connectionsMax: o.connectionsMax,
      refusalBytes: TOO_BUSY,
      goodbyeBytes: GOODBYE,
      timeoutsMs: [o.commandTimeoutMs, o.dataTimeoutMs],
      log: o.log,
      handler: (c) =>
        this.#serve(c, { ...o.session, submission, tlsAvailable: o.tls !== undefined }),
    });
    this.#servers.push(server);
    return server.addr;
  }

  /** Open connections on every port. */
  get connections(): number {
    return this.#servers.reduce((n, s) => n + s.connections, 0);
  }

  async close(drainTimeoutMs: number): Promise<void> {
    await Promise.all(this.#servers.map((s) => s.close(drainTimeoutMs)));
  }

  async #serve(c: TcpConnection, config: SessionConfig): Promise<void> {
    const remote = (c.conn.remoteAddr as Deno.NetAddr).hostname;
    const open = (this.#perClient.get(remote) ?? 0) + 1;
    this.#perClient.set(remote, open);
    const spool = this.options.store.spool();
    try {
      this.stats.connections++;
      if (open > this.options.connectionsPerClientMax) {
        this.stats.perClientRefused++;
        await writeAll(c.conn, PER_CLIENT);
        return;
      }
      if (this.options.faults?.admit(remote, (this.options.now ?? Date.now)()) === false) {
        this.stats.rateLimited++;
        await writeAll(c.conn, RATE_LIMITED);
        return;
      }
      await this.#session(c, config, remote, spool);
    } finally {
      spool.close();
      const left = (this.#perClient.get(remote) ?? 1) - 1;
      if (left === 0) this.#perClient.delete(remote);
      else this.#perClient.set(remote, left);
    }
  }

  async #session(
    c: TcpConnection,
    config: SessionConfig,
    remote: string,
    spool: ReturnType<MailStore["spool"]>,
  ): Promise<void> {
    const o = this.options;
    const limits = o.limits ?? DEFAULT_COMMAND_LIMITS;
    const input = new ReadBuffer({ sizeBytesMax: Math.max(64 * 1024, limits.lineBytesMax * 2) });
    c.onDeadline = () => c.closeWith(TIMED_OUT);
    let firstRead: Promise<number | null> | undefined;
    if (o.greetDelayMs > 0) {
      const first = await talksFirst(c, input, o.greetDelayMs);
      firstRead = first.pending;
    }
    if (firstRead === EARLY) {
      this.stats.earlyTalkers++;
      const outcome = earlyTalker();
      await writeAll(c.conn, utf8(outcome.replies.map(formatReply).join("")));
      return;
    }
    await writeAll(c.conn, utf8(formatReply(greeting(config))));
    const session = newSession(remote, { trusted: inNetworks(remote, o.trustedNetworks) });
    const engine = new SmtpEngine(config, session, { sink: spool, limits, faults: o.faults });
    /** The connection the session speaks on: the socket, or the TLS session over it. */
    let io: Deno.Conn = c.conn;
    let flushed: Promise<void> | undefined;
    try {
      while (!c.closed) {
        const inBody = engine.inBody;
        if (!inBody) c.markIdle();
        c.setDeadline(inBody ? o.dataTimeoutMs : o.commandTimeoutMs, "idle");
        if (c.draining && !inBody) return;
        const read = firstRead ?? input.fill(io);
        firstRead = undefined;
        if (await read === null) return;
        c.markBusy();
        c.setDeadline(0, "");
        let output = "";
        while (true) {
          const step = engine.feed(input.bytes, input.start, input.end);
          input.consume(step.bytesUsed);
          output += step.output;
          const pending = step.pending;
          if (pending === undefined) break;
          if (pending.kind === "close") {
            if (output !== "") await writeAll(io, utf8(output));
            return;
          }
          if (pending.kind === "store") {
            output += await this.#store(engine, pending.envelope, spool, remote);
            continue;
          }
          // start-tls: say 220, drop what was pipelined after it, handshake.
          await writeAll(io, utf8(output));
          output = "";
          input.consume(input.length);
          if (o.tls === undefined || io !== c.conn) throw new Error("STARTTLS not available");
          c.setDeadline(o.commandTimeoutMs, "handshake");
          const secure = await o.tls.upgrade(c.conn);
          ({ conn: io, flushed } = secure);
          // From here a 421 said by the server itself (timeout, drain,
          // eviction) must be said inside the TLS session too.
          c.writeGoodbye = async (bytes) => {
            await writeAll(secure.conn, bytes);
            closeQuietly(secure.conn);
            await withTimeout(secure.flushed, FLUSH_WAIT_MS);
          };
          tlsStarted(session);
          break;
        }
        if (output !== "") await writeAll(io, utf8(output));
      }
    } finally {
      engine.abort();
      if (io !== c.conn) {
        // Let the last replies (and TLS's close_notify) through the pipe first.
        closeQuietly(io);
        await withTimeout(flushed, FLUSH_WAIT_MS);
      }
    }
  }

  async #store(
    engine: SmtpEngine,
    envelope: Parameters<MailStore["deliver"]>[0],
    spool: ReturnType<MailStore["spool"]>,
    remote: string,
  ): Promise<string> {
    try {
      const id = await this.#commit({
        envelope,
        spool,
        arrival: { clientAddress: remote, receivedAtMs: (this.options.now ?? Date.now)() },
      });
      this.stats.messagesAccepted++;
      this.options.afterStore?.();
      this.options.log.info("accepted {id} from <{from}> for {count} recipients", {
        id,
        from: envelope.from,
        count: envelope.recipients.length,
      });
      return engine.stored({ ok: true, id });
    } catch (error) {
      this.stats.messagesRefused++;
      this.options.log.error("store failed: {error}", { error: String(error) });
      return engine.stored({ ok: false, message: "could not store the message" });
    } finally {
      spool.discard();
    }
  }

  /**
   * Group commit: messages whose data ends while a store is pending (or in
   * the same turn of the event loop) are stored as one batch, so their
   * fsyncs run together and their directory fsyncs are shared
   * (MailStore.deliverBatchAsync).
   */
  #commit(item: StoreItem): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.#batch.push({ item, resolve, reject });
      if (!this.#flushing && this.#batch.length === 1) setTimeout(() => this.#flush(), 0);
    });
  }

  /** Stores batches one at a time; what arrives meanwhile makes the next one. */
  async #flush(): Promise<void> {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      while (this.#batch.length > 0) {
        const batch = this.#batch;
        this.#batch = [];
        let ids: string[];
        try {
          ids = await this.options.store.deliverBatchAsync(batch.map((b) => b.item));
        } catch (error) {
          for (const b of batch) b.reject(error);
          continue;
        }
        batch.forEach((b, i) => this.#deliveredReport(b.item, ids[i]));
        batch.forEach((b, i) => b.resolve(ids[i]));
      }
    } finally {
      this.#flushing = false;
    }
  }

  /**
   * RFC 3461 6.2: a local recipient that asked NOTIFY=SUCCESS gets its
   * sender a "delivered" report (the headers returned, never the body).
   * The message is stored already: a failure here is logged, not refused.
   */
  #deliveredReport(item: StoreItem, id: string): void {
    const { envelope, spool, arrival } = item;
    const told = envelope.recipients.filter((r) =>
      r.local && wants(recipientDsnOf(r.params), "SUCCESS")
    );
    if (told.length === 0 || envelope.from === "") return;
    const o = this.options;
    const hostname = o.session.hostname;
    try {
      const body = deliveryReport({
        hostname,
        id,
        to: envelope.from,
        message: messageDsnOf(envelope.mailParams),
        arrivalMs: arrival.receivedAtMs,
        nowMs: (o.now ?? Date.now)(),
        entries: told.map((r) => ({
          recipient: r.address,
          dsn: recipientDsnOf(r.params),
          action: "delivered",
          status: "2.0.0",
        })),
        original: spool.head(REPORT_HEAD_BYTES_MAX),
      });
      const local = o.session.localDomains.has(domainOf(envelope.from));
      o.store.submit(
        {
          from: "",
          recipients: [{ address: envelope.from, local, params: new Map() }],
          mailParams: new Map(),
          helo: hostname,
          protocol: "ESMTP",
          authUser: undefined,
        },
        utf8(body),
        { clientAddress: "127.0.0.1", receivedAtMs: arrival.receivedAtMs },
      );
    } catch (error) {
      o.log.error("{id}: delivered report not stored: {error}", { id, error: String(error) });
    }
  }
}

/** A "delivered" report returns the headers: read at most this much of the message for them. */
const REPORT_HEAD_BYTES_MAX = 64 * 1024;

/** How long the TLS pipe may take to pass the last bytes on at close. */
const FLUSH_WAIT_MS = 1_000;

async function withTimeout(promise: Promise<void> | undefined, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([promise, new Promise((resolve) => timer = setTimeout(resolve, ms))]);
  clearTimeout(timer);
}

/** Marks a client that talked before the greeting. */
const EARLY: Promise<number | null> = Promise.resolve(0);

/**
 * Waits `delayMs` for the client to stay quiet. `pending` is EARLY when it
 * sent something; else the read still in flight (a Deno read cannot be
 * cancelled), which the session loop awaits as its first.
 */
async function talksFirst(
  c: TcpConnection,
  input: ReadBuffer,
  delayMs: number,
): Promise<{ pending: Promise<number | null> }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const quiet = new Promise<"quiet">((resolve) => {
    timer = setTimeout(() => resolve("quiet"), delayMs);
  });
  const read = input.fill(c.conn).catch(() => null);
  const first = await Promise.race([quiet, read]);
  clearTimeout(timer);
  // EOF before the greeting is not talking: the loop sees it as the end.
  if (first === "quiet" || first === null) return { pending: read };
  return { pending: EARLY };
}

/** Reply bytes (exported for tests that speak raw SMTP). */
export function replyBytes(text: string): Bytes {
  return utf8(text);
}
