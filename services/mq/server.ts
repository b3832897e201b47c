// The mq server's I/O: one STOMP connection per TCP connection on lib/net,
// each running the pure session (session.ts) and carrying out its effects
// on the broker (broker.ts).
//
// Per connection: frames are decoded from one ReadBuffer; every frame's
// replies go to an outbox written once per turn of the event loop (one write
// per read); a RECEIPT is written only once its frame's effects are done and,
// for a SEND to a queue, fsynced (group commit in the message log), in the
// order the frames came. A decode error or an exceeded bound gets an ERROR
// frame and closes that connection only. Heart-beats: the broker sends an EOL
// when it has written nothing for the agreed period, and drops a client it
// has heard nothing from for twice its period (the spec leaves the grace to
// the implementation; RabbitMQ allows about two). A dropped or closed
// connection's unacknowledged messages go back to their queues.

import { type Bytes, concat } from "../../lib/bytes.ts";
import { isIncomplete } from "../../lib/decode.ts";
import { DecodeError, LimitError } from "../../lib/errors.ts";
import type { Logger } from "../../lib/log.ts";
import { ReadBuffer } from "../../lib/net/read_buffer.ts";
import { serveTcp, type TcpConnection, type TcpServer } from "../../lib/net/tcp_server.ts";
import { writeAll } from "../../lib/net/write_all.ts";
import { decodeFrame, encodeFrame, HEART_BEAT } from "../../lib/stomp/codec.ts";
import {
  type Frame,
  makeFrame,
  type StompLimits,
  type StompVersion,
} from "../../lib/stomp/types.ts";
import type { Broker, ConnectionPort } from "./broker.ts";
import {
  type Effect,
  errorFrame,
  newSession,
  type SessionConfig,
  sessionStep,
  StompProtocolError,
} from "./session.ts";

export interface MqServerOptions {
  broker: Broker;
  session: Omit<SessionConfig, "sessionId">;
  limits: StompLimits;
  connectionsMax: number;
  /** Time a new connection has to send CONNECT (RabbitMQ's handshake timeout: 10 s). */
  connectTimeoutMs: number;
  log: Logger;
}

/** Output waiting to be written past this: deliveries to the connection pause. */
const OUTBOX_BYTES_MAX = 1024 * 1024;
/** After a client's end of input, how long its pending receipts may take to go out. */
const EOF_FLUSH_MS = 5_000;

export interface MqServerStats {
  connections: number;
  frames: number;
  errors: number;
}

export class MqServer {
  readonly stats: MqServerStats = { connections: 0, frames: 0, errors: 0 };
  #options: MqServerOptions;
  #tcp: TcpServer | undefined;
  #nextConnection = 0;

  constructor(options: MqServerOptions) {
    this.#options = options;
  }

  listen(hostname: string, port: number): TcpServer {
    this.#tcp = serveTcp({
      label: "mq service port",
      hostname,
      port,
      connectionsMax: this.#options.connectionsMax,
      refusalBytes: encodeFrame(errorFrame(new Error("too many connections"))),
      goodbyeBytes: encodeFrame(errorFrame(new Error("the server is closing the connection"))),
      timeoutsMs: [this.#options.connectTimeoutMs],
      log: this.#options.log,
      handler: (connection) => this.#serve(connection),
    });
    return this.#tcp;
  }

  get openConnections(): number {
    return this.#tcp?.connections ?? 0;
  }

  async close(drainTimeoutMs: number): Promise<void> {
    await this.#tcp?.close(drainTimeoutMs);
  }

  async #serve(c: TcpConnection): Promise<void> {
    const options = this.#options;
    const broker = options.broker;
    const id = `c${++this.#nextConnection}`;
    this.stats.connections++;
    const state = newSession();
    const config: SessionConfig = { ...options.session, sessionId: id };
    const outbox = new Outbox(c, () => broker.wake(id));
    const port: ConnectionPort = {
      id,
      get version() {
        return state.version;
      },
      hasRoom: () => outbox.pendingBytes < OUTBOX_BYTES_MAX,
      write: (frame) => outbox.push(encodeForPeer(frame, state.version)),
    };
    const input = new ReadBuffer({ sizeBytesMax: options.limits.frameBytesMax + 1024 });
    let receipts: Promise<void> = Promise.resolve();
    let expectEveryMs = 0;
    let heartBeat: ReturnType<typeof setInterval> | undefined;
    let registered = false;
    let needed = 0;
    try {
      while (!c.draining && !c.closed) {
        let decoded;
        while (true) {
          try {
            decoded = decodeFrame(
              input.bytes,
              options.limits,
              input.start,
              input.end,
              state.version,
            );
          } catch (error) {
            return await this.#fail(c, outbox, receipts, error);
          }
          if (isIncomplete(decoded)) break;
          input.consume(decoded.bytesUsed);
          const frame = decoded.value;
          if (frame === null) continue; // a heart-beat
          this.stats.frames++;
          const step = sessionStep(state, frame, config);
          for (const reply of step.frames) outbox.push(encodeFrame(reply, state.version));
          if (!registered && state.phase === "connected") {
            registered = true;
            broker.connect(port);
          }
          const pending: Promise<void>[] = [];
          try {
            for (const effect of step.effects) {
              if (effect.kind === "heart-beat") {
                expectEveryMs = effect.expectEveryMs;
                if (effect.sendEveryMs > 0) {
                  heartBeat = setInterval(() => {
                    if (outbox.idleSinceLastCheck()) outbox.push(HEART_BEAT);
                  }, effect.sendEveryMs);
                }
                continue;
              }
              const { durable } = await this.#apply(id, effect);
              if (durable !== undefined) pending.push(durable);
            }
          } catch (error) {
            return await this.#fail(c, outbox, receipts, error, step.receipt);
          }
          const receipt = step.receipt;
          if (receipt !== undefined || pending.length > 0) {
            receipts = receipts.then(() => Promise.all(pending)).then(() => {
              if (receipt !== undefined) {
                outbox.push(
                  encodeFrame(makeFrame("RECEIPT", { "receipt-id": receipt }), state.version),
                );
              }
            });
            receipts.catch((error) => {
              outbox.push(encodeFrame(errorFrame(error, receipt), state.version));
              c.close();
            });
          }
          if (step.close) {
            this.stats.errors += step.frames.some((f) => f.command === "ERROR") ? 1 : 0;
            await receipts.catch(() => {});
            await outbox.flush();
            return;
          }
        }
        needed = decoded.bytesNeeded;
        c.markIdle();
        if (state.phase === "connecting") c.setDeadline(options.connectTimeoutMs, "connect");
        else c.setDeadline(expectEveryMs > 0 ? expectEveryMs * 2 : 0, "heart-beat");
        let n: number | null;
        try {
          n = await input.fill(c.conn, needed);
        } catch (error) {
          if (error instanceof LimitError) return await this.#fail(c, outbox, receipts, error);
          throw error;
        }
        if (n === null) {
          // The client closed its side (perhaps only for writing, right after a
          // SEND with a receipt): what it was promised still goes out, the
          // receipts once their writes are durable, within a bound.
          c.setDeadline(EOF_FLUSH_MS, "flush after end of input");
          await receipts.catch(() => {});
          await outbox.flush();
          return;
        }
        c.markBusy();
        c.setDeadline(0, "");
      }
    } finally {
      clearInterval(heartBeat);
      broker.disconnect(id);
    }
  }

  /**
   * Carries out one effect; returns what its receipt must wait for, wrapped:
   * an async function returning the promise itself would wait for it, one
   * fsync per frame instead of one per batch.
   */
  async #apply(connectionId: string, effect: Effect): Promise<{ durable?: Promise<void> }> {
    const broker = this.#options.broker;
    switch (effect.kind) {
      case "send": {
        while (true) {
          const result = broker.publish(connectionId, effect.publish);
          if (result.kind === "accepted") return { durable: result.durable };
          // Overflow "block": stop reading this producer until there is room.
          await result.room;
        }
      }
      case "subscribe":
        broker.subscribe(connectionId, effect.subscription);
        return {};
      case "unsubscribe":
        broker.unsubscribe(connectionId, effect.id);
        return {};
      case "ack":
        return { durable: broker.ack(connectionId, effect.id) };
      case "nack":
        return { durable: broker.nack(connectionId, effect.id, effect.requeue) };
      case "heart-beat":
        return {};
    }
  }

  /** The wire-error path: an ERROR frame (with the receipt asked for), then close. */
  async #fail(
    c: TcpConnection,
    outbox: Outbox,
    receipts: Promise<void>,
    error: unknown,
    receipt?: string,
  ): Promise<void> {
    if (
      !(error instanceof StompProtocolError || error instanceof DecodeError ||
        error instanceof LimitError)
    ) {
      this.#options.log.warn("mq: a frame failed: {error}", { error: String(error) });
    }
    this.stats.errors++;
    await receipts.catch(() => {});
    outbox.push(encodeFrame(errorFrame(error, receipt)));
    await outbox.flush();
    c.close();
  }
}

/**
 * A connection's pending output: everything pushed in one turn of the event
 * loop goes out in one write.
 */
class Outbox {
  #c: TcpConnection;
  #chunks: Bytes[] = [];
  #bytes = 0;
  #writing: Promise<void> | undefined;
  #wroteSinceCheck = false;
  /** Set once the output backed up past OUTBOX_BYTES_MAX: wake consumers when it drains. */
  #full = false;
  #onDrain: () => void;

  constructor(c: TcpConnection, onDrain: () => void) {
    this.#c = c;
    this.#onDrain = onDrain;
  }

  get pendingBytes(): number {
    return this.#bytes;
  }

  push(bytes: Bytes): void {
    if (this.#c.closed) return;
    this.#chunks.push(bytes);
    this.#bytes += bytes.length;
    if (this.#bytes >= OUTBOX_BYTES_MAX) this.#full = true;
    this.#wroteSinceCheck = true;
    this.#writing ??= this.#run();
  }

  /** True when nothing was written since the last call (time for a heart-beat). */
  idleSinceLastCheck(): boolean {
    const idle = !this.#wroteSinceCheck;
    this.#wroteSinceCheck = false;
    return idle;
  }

  flush(): Promise<void> {
    return this.#writing ?? Promise.resolve();
  }

  async #run(): Promise<void> {
    // Let the rest of this turn's frames join the batch.
    await Promise.resolve();
    try {
      while (this.#chunks.length > 0) {
        const batch = this.#chunks.length === 1 ? this.#chunks[0] : concat(this.#chunks);
        this.#chunks = [];
        await writeAll(this.#c.conn, batch);
        this.#bytes -= batch.length;
        if (this.#full && this.#bytes < OUTBOX_BYTES_MAX) {
          this.#full = false;
          this.#onDrain();
        }
      }
    } catch {
      this.#chunks = [];
      this.#bytes = 0;
      this.#c.close();
    } finally {
      this.#writing = undefined;
    }
  }
}

/**
 * Encodes a frame a broker relays: a header value another client sent
 * escaped (1.1, 1.2) may hold a newline that STOMP 1.0 cannot carry; for a
 * 1.0 peer it becomes a space rather than an exception in whatever
 * connection's work happened to deliver it.
 */
function encodeForPeer(frame: Frame, version: StompVersion): Bytes {
  if (version !== "1.0") return encodeFrame(frame, version);
  const headers = frame.headers.map(([name, value]): [string, string] => [
    name.replace(/[\r\n:]/g, " "),
    value.replace(/[\r\n]/g, " "),
  ]);
  return encodeFrame({ ...frame, headers }, version);
}
