// A small STOMP 1.2 client over one TCP connection, on the pure codec: used
// by the tests, the benchmark and the spells worker.
//
//   await using client = await StompClient.connect({ port, login, passcode });
//   await client.send("/queue/jobs", "hello", { receipt: true });
//   const sub = client.subscribe("/queue/jobs", { ack: "client-individual" });
//   const message = await sub.next();        // or: for await (const m of sub)
//   await client.ack(message);
//   await client.disconnect();               // with a receipt, as the spec advises
//
// One reader loop decodes every frame: RECEIPT resolves the frame that asked
// for it, MESSAGE goes to its subscription's queue, ERROR rejects everything
// pending and closes the connection (`client.error` keeps it). Heart-beats
// are sent when negotiated; incoming ones are read and ignored.
//
// Left out: reconnects, failover URLs, flow control of its own (the
// broker's prefetch bounds what arrives).

import { type Bytes, fromUtf8, utf8 } from "../bytes.ts";
import { isIncomplete } from "../decode.ts";
import { closeQuietly } from "../net/close.ts";
import { ReadBuffer } from "../net/read_buffer.ts";
import { writeAll } from "../net/write_all.ts";
import {
  decodeFrame,
  encodeFrame,
  HEART_BEAT,
  heartBeatIntervalMs,
  parseHeartBeat,
} from "./codec.ts";
import {
  DEFAULT_LIMITS,
  type Frame,
  type Header,
  headerOf,
  makeFrame,
  type StompVersion,
} from "./types.ts";

export interface StompClientOptions {
  hostname?: string;
  port: number;
  /** The virtual host sent in CONNECT's `host` header (default: the hostname). */
  host?: string;
  login?: string;
  passcode?: string;
  /** [can send every ms, wants to receive every ms]; default [0, 0]: none. */
  heartBeat?: [number, number];
  /** Versions offered in `accept-version` (default "1.0,1.1,1.2"). */
  acceptVersion?: string;
  /** Extra CONNECT headers. */
  headers?: Record<string, string>;
}

/** The broker answered with an ERROR frame. */
export class StompError extends Error {
  override name = "StompError";
  readonly frame: Frame;
  constructor(frame: Frame) {
    const detail = fromUtf8(frame.body).trim();
    super((headerOf(frame, "message") ?? "ERROR") + (detail ? `: ${detail}` : ""));
    this.frame = frame;
  }
}

/** A MESSAGE frame as received. */
export interface StompMessage {
  readonly frame: Frame;
  readonly subscription: string;
  readonly destination: string;
  readonly messageId: string;
  /** The `ack` header (1.2), or the message-id (1.0/1.1) to acknowledge with. */
  readonly ackId: string;
  readonly body: Bytes;
  /** The body as UTF-8 text. */
  readonly text: string;
  header(name: string): string | undefined;
}

export interface SendOptions {
  headers?: Record<string, string | number | undefined>;
  /** Wait for the broker's RECEIPT (durable once it arrives). */
  receipt?: boolean;
  transaction?: string;
}

export interface SubscribeOptions {
  /** Subscription id (default: generated). */
  id?: string;
  ack?: "auto" | "client" | "client-individual";
  headers?: Record<string, string | number | undefined>;
  receipt?: boolean;
}

interface Pending {
  resolve: (frame: Frame) => void;
  reject: (error: Error) => void;
}

export class StompClient implements AsyncDisposable {
  #conn: Deno.TcpConn;
  #version: StompVersion;
  #connected: Frame;
  #pending = new Map<string, Pending>();
  #subscriptions = new Map<string, Subscription>();
  #nextReceipt = 1;
  #nextSubscription = 1;
  #writes: Promise<void> = Promise.resolve();
  #heartBeatTimer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #reader: Promise<void>;
  #input: ReadBuffer;
  /** The ERROR frame that ended the connection, if any. */
  error: StompError | undefined;

  private constructor(
    conn: Deno.TcpConn,
    connected: Frame,
    input: ReadBuffer,
    sendEveryMs: number,
  ) {
    this.#conn = conn;
    this.#connected = connected;
    this.#input = input;
    this.#version = (headerOf(connected, "version") ?? "1.0") as StompVersion;
    if (sendEveryMs > 0) {
      this.#heartBeatTimer = setInterval(
        () => this.#write(HEART_BEAT).catch(() => {}),
        sendEveryMs,
      );
    }
    this.#reader = this.#readLoop();
  }

  /** Connects and completes the CONNECT / CONNECTED exchange; an ERROR rejects. */
  static async connect(options: StompClientOptions): Promise<StompClient> {
    const hostname = options.hostname ?? "127.0.0.1";
    const conn = await Deno.connect({ hostname, port: options.port });
    conn.setNoDelay(true);
    const [cx, cy] = options.heartBeat ?? [0, 0];
    const connect = makeFrame("CONNECT", {
      "accept-version": options.acceptVersion ?? "1.0,1.1,1.2",
      host: options.host ?? hostname,
      login: options.login,
      passcode: options.passcode,
      "heart-beat": `${cx},${cy}`,
      ...options.headers,
    });
    const input = new ReadBuffer({ sizeBytesMax: DEFAULT_LIMITS.frameBytesMax + 1024 });
    try {
      await writeAll(conn, encodeFrame(connect));
      let frame: Frame | null = null;
      while (frame === null) {
        const decoded = decodeFrame(input.bytes, DEFAULT_LIMITS, input.start, input.end);
        if (isIncomplete(decoded)) {
          if (await input.fill(conn, decoded.bytesNeeded) === null) {
            throw new Error("the broker closed the connection during CONNECT");
          }
          continue;
        }
        input.consume(decoded.bytesUsed);
        frame = decoded.value;
      }
      if (frame.command === "ERROR") throw new StompError(frame);
      if (frame.command !== "CONNECTED") {
        throw new Error(`expected CONNECTED, got ${frame.command}`);
      }
      const [sx] = parseHeartBeat(headerOf(frame, "heart-beat"));
      return new StompClient(conn, frame, input, heartBeatIntervalMs(cx, sx === 0 ? 0 : sx));
    } catch (error) {
      closeQuietly(conn);
      throw error;
    }
  }

  /** The negotiated version. */
  get version(): StompVersion {
    return this.#version;
  }

  /** The CONNECTED frame. */
  get connected(): Frame {
    return this.#connected;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends a frame as given; with `receipt`, resolves on its RECEIPT. */
  async sendFrame(frame: Frame, receipt = false): Promise<Frame | undefined> {
    if (this.error) throw this.error;
    if (this.#closed) throw new Error("the connection is closed");
    if (!receipt) {
      await this.#write(encodeFrame(frame, this.#version));
      return undefined;
    }
    const id = `r-${this.#nextReceipt++}`;
    const withReceipt = { ...frame, headers: [...frame.headers, ["receipt", id] as Header] };
    const answered = new Promise<Frame>((resolve, reject) =>
      this.#pending.set(id, { resolve, reject })
    );
    try {
      await this.#write(encodeFrame(withReceipt, this.#version));
    } catch (error) {
      // The reader loop will reject `answered` too; nobody waits for it now.
      answered.catch(() => {});
      this.#pending.delete(id);
      throw error;
    }
    return await answered;
  }

  /** SEND: with `receipt`, resolves once the broker has it (durably, for a queue). */
  async send(destination: string, body: Bytes | string, options: SendOptions = {}): Promise<void> {
    const bytes = typeof body === "string" ? utf8(body) : body;
    const frame = makeFrame("SEND", {
      destination,
      "content-length": bytes.length,
      transaction: options.transaction,
      ...options.headers,
    }, bytes);
    await this.sendFrame(frame, options.receipt);
  }

  /** SUBSCRIBE; messages arrive on the returned subscription. */
  subscribe(destination: string, options: SubscribeOptions = {}): Subscription {
    const id = options.id ?? `sub-${this.#nextSubscription++}`;
    const subscription = new Subscription(this, id);
    this.#subscriptions.set(id, subscription);
    const frame = makeFrame("SUBSCRIBE", {
      destination,
      id,
      ack: options.ack ?? "auto",
      ...options.headers,
    });
    subscription.ready = this.sendFrame(frame, options.receipt).then(() => {});
    subscription.ready.catch(() => {});
    return subscription;
  }

  /** UNSUBSCRIBE. */
  async unsubscribe(id: string, receipt = false): Promise<void> {
    await this.sendFrame(makeFrame("UNSUBSCRIBE", { id }), receipt);
    this.#subscriptions.get(id)?.end();
    this.#subscriptions.delete(id);
  }

  /** ACK a message (cumulative for `client` mode subscriptions). */
  async ack(message: StompMessage, options: { transaction?: string; receipt?: boolean } = {}) {
    await this.sendFrame(this.#ackFrame("ACK", message, options.transaction), options.receipt);
  }

  /** NACK a message; `requeue: false` sends it straight to the dead-letter queue. */
  async nack(
    message: StompMessage,
    options: { transaction?: string; receipt?: boolean; requeue?: boolean } = {},
  ) {
    const frame = this.#ackFrame("NACK", message, options.transaction);
    if (options.requeue === false) frame.headers.push(["requeue", "false"]);
    await this.sendFrame(frame, options.receipt);
  }

  begin(transaction: string, receipt = false): Promise<Frame | undefined> {
    return this.sendFrame(makeFrame("BEGIN", { transaction }), receipt);
  }

  commit(transaction: string, receipt = false): Promise<Frame | undefined> {
    return this.sendFrame(makeFrame("COMMIT", { transaction }), receipt);
  }

  abort(transaction: string, receipt = false): Promise<Frame | undefined> {
    return this.sendFrame(makeFrame("ABORT", { transaction }), receipt);
  }

  /** DISCONNECT with a receipt, then close: everything sent before was received. */
  async disconnect(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.sendFrame(makeFrame("DISCONNECT"), true);
    } finally {
      this.close();
      await this.#reader;
    }
  }

  /** Closes the socket at once (no DISCONNECT). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartBeatTimer);
    closeQuietly(this.#conn);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#reader;
  }

  #ackFrame(command: string, message: StompMessage, transaction?: string): Frame {
    const idHeader = this.#version === "1.2" ? "id" : "message-id";
    const headers: Header[] = [[idHeader, message.ackId]];
    if (this.#version === "1.1") headers.push(["subscription", message.subscription]);
    if (transaction !== undefined) headers.push(["transaction", transaction]);
    return makeFrame(command, headers);
  }

  #write(bytes: Uint8Array): Promise<void> {
    const write = this.#writes.then(() => writeAll(this.#conn, bytes));
    this.#writes = write.catch(() => {});
    return write;
  }

  async #readLoop(): Promise<void> {
    const input = this.#input;
    let failure: Error = new Error("the connection closed");
    try {
      while (true) {
        const decoded = decodeFrame(
          input.bytes,
          DEFAULT_LIMITS,
          input.start,
          input.end,
          this.#version,
        );
        if (isIncomplete(decoded)) {
          if (await input.fill(this.#conn, decoded.bytesNeeded) === null) break;
          continue;
        }
        input.consume(decoded.bytesUsed);
        if (decoded.value !== null) this.#dispatch(decoded.value);
        if (this.error) {
          failure = this.error;
          break;
        }
      }
    } catch (error) {
      if (!this.#closed) failure = error instanceof Error ? error : new Error(String(error));
    }
    this.close();
    for (const pending of this.#pending.values()) pending.reject(failure);
    this.#pending.clear();
    for (const subscription of this.#subscriptions.values()) subscription.end(this.error);
  }

  #dispatch(frame: Frame): void {
    if (frame.command === "RECEIPT") {
      const id = headerOf(frame, "receipt-id") ?? "";
      this.#pending.get(id)?.resolve(frame);
      this.#pending.delete(id);
    } else if (frame.command === "MESSAGE") {
      const subscription = headerOf(frame, "subscription") ?? "";
      this.#subscriptions.get(subscription)?.push(toMessage(frame));
    } else if (frame.command === "ERROR") {
      this.error = new StompError(frame);
      const id = headerOf(frame, "receipt-id");
      if (id !== undefined) {
        this.#pending.get(id)?.reject(this.error);
        this.#pending.delete(id);
      }
    }
  }
}

function toMessage(frame: Frame): StompMessage {
  const messageId = headerOf(frame, "message-id") ?? "";
  return {
    frame,
    subscription: headerOf(frame, "subscription") ?? "",
    destination: headerOf(frame, "destination") ?? "",
    messageId,
    ackId: headerOf(frame, "ack") ?? messageId,
    body: frame.body,
    get text() {
      return fromUtf8(frame.body);
    },
    header: (name: string) => headerOf(frame, name),
  };
}

/** Messages of one subscription, in arrival order. */
export class Subscription implements AsyncIterable<StompMessage> {
  readonly client: StompClient;
  readonly id: string;
  /** Resolves once the SUBSCRIBE was written (or receipted, when asked). */
  ready: Promise<void> = Promise.resolve();
  #queue: StompMessage[] = [];
  #waiters: { resolve: (m: StompMessage | undefined) => void; reject: (e: Error) => void }[] = [];
  #ended = false;
  #error: Error | undefined;

  constructor(client: StompClient, id: string) {
    this.client = client;
    this.id = id;
  }

  /** Messages received and not yet taken. */
  get buffered(): number {
    return this.#queue.length;
  }

  push(message: StompMessage): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(message);
    else this.#queue.push(message);
  }

  end(error?: Error): void {
    this.#ended = true;
    this.#error = error;
    for (const waiter of this.#waiters.splice(0)) {
      if (error) waiter.reject(error);
      else waiter.resolve(undefined);
    }
  }

  /**
   * The next message; undefined when none arrives within `timeoutMs`
   * (default: wait forever) or the subscription ended.
   */
  next(timeoutMs?: number): Promise<StompMessage | undefined> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#ended) {
      return this.#error ? Promise.reject(this.#error) : Promise.resolve(undefined);
    }
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const waiter = {
        resolve: (m: StompMessage | undefined) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.#waiters.push(waiter);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          const at = this.#waiters.indexOf(waiter);
          if (at >= 0) this.#waiters.splice(at, 1);
          resolve(undefined);
        }, timeoutMs);
      }
    });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StompMessage> {
    while (true) {
      const message = await this.next();
      if (message === undefined) return;
      yield message;
    }
  }
}
