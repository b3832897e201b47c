// The broker's domain logic: destinations, messages, consumers and their
// acknowledgements. No sockets here: a connection is a `ConnectionPort`
// (write a frame, say whether it has room), so the semantics are tested
// without a network; server.ts wires ports to TCP connections.
//
// Queues (/queue/NAME) are durable: every message is appended to the
// message log (message_log.ts) before it can be delivered, and a SEND's
// RECEIPT waits for `durable()`. Consumers compete: each message goes to
// one subscriber at a time, round-robin over those with room (prefetch not
// reached; for ack:auto, a connection whose output is not backed up).
// Within a queue, higher priority (0-9, JMS's default 4) first, then order
// of arrival; a message handed back (NACK, consumer gone, processing
// deadline passed) returns to its place with `redelivered:true` and a
// delivery count. Past `deliveriesMax` deliveries, on NACK with
// `requeue:false`, or at expiry (`expires`, ms since the epoch, ActiveMQ's
// header; or `expiration`, a TTL in ms, RabbitMQ's), a message moves to
// /queue/NAME.dlq with headers saying why (`x-death-reason`: rejected,
// delivery-limit or expired), from where (`x-death-queue`), how many
// deliveries (`x-delivery-count`) and when (`x-death-time`, ms since the
// epoch). Delayed delivery: `x-delay` (ms; RabbitMQ's delayed-message
// plugin) or `AMQ_SCHEDULED_DELAY` (ActiveMQ).
//
// Topics (/topic/NAME) fan out to the subscribers of the moment: each
// subscription gets its own in-memory queue (as RabbitMQ binds one per
// subscription), so prefetch and acks work the same; a slow subscriber's
// queue drops its oldest past the depth bound rather than slow the others.
// /temp-queue/NAME is a connection's private in-memory queue, deleted when
// it disconnects; a SEND carrying `reply-to:/temp-queue/NAME` has it
// rewritten to `/reply-queue/<connection>.NAME`, which any client may send
// to (RabbitMQ's scheme).
//
// Memory: a durable queue indexes at most `indexWindow` waiting messages;
// past it new messages stay in the log only and are read back in order as
// the queue drains, and bodies past `bodyWindowBytes` are read back when
// delivered.
//
// Flow control per queue: `depthMax` messages and `bytesMax` body bytes
// waiting; past them `overflow` says what happens: "reject-publish" (the
// SEND gets an ERROR, RabbitMQ's policy of that name), "drop-head" (the
// oldest waiting message is dropped) or "block" (the producer's connection
// stops being read until consumers catch up).

import type { Bytes } from "../../lib/bytes.ts";
import { type Frame, type Header, makeFrame, type StompVersion } from "../../lib/stomp/types.ts";
import type { LoggedMessage, LogPosition, MessageLog, RecoveredMessages } from "./message_log.ts";
import { SeqList } from "./seq_list.ts";
import {
  DEFAULT_PREFETCH,
  type Publish,
  StompProtocolError,
  type SubscriptionSpec,
} from "./session.ts";

export type OverflowPolicy = "reject-publish" | "drop-head" | "block";
export const OVERFLOW_POLICIES: readonly OverflowPolicy[] = [
  "reject-publish",
  "drop-head",
  "block",
];

export interface BrokerOptions {
  /** The durable store; undefined keeps queues in memory only (tests). */
  log?: MessageLog;
  /** Live messages recovery found in the log. */
  recovered?: RecoveredMessages;
  /** Deliveries after which a message is dead-lettered (RabbitMQ quorum queues: 20). */
  deliveriesMax?: number;
  /** How long a consumer may hold a message unacknowledged; 0: forever (SQS visibility timeout). */
  ackTimeoutMs?: number;
  /** Messages waiting per queue at most. */
  depthMax?: number;
  /** Body bytes waiting per queue at most. */
  bytesMax?: number;
  overflow?: OverflowPolicy;
  /** Bodies of a durable queue held in memory at most; the rest are read back from the log. */
  bodyWindowBytes?: number;
  /**
   * Messages of a durable queue indexed in memory at most (default 10000).
   * Past it, new messages stay in the log only (counted, not indexed) and
   * are read back in order as the queue drains: memory stays bounded
   * whatever the queue's depth.
   */
  indexWindow?: number;
  /**
   * Queues (durable and temporary) at most: each SEND or SUBSCRIBE to a new
   * name makes one, so without a bound one client could fill memory with
   * empty queues. Default 10000.
   */
  queuesMax?: number;
  /** The clock (ms since the epoch); tests move it by hand. */
  now?: () => number;
}

/** What the broker needs of a connection. */
export interface ConnectionPort {
  readonly id: string;
  readonly version: StompVersion;
  /** False while the connection's output is backed up: deliveries wait. */
  hasRoom(): boolean;
  write(frame: Frame): void;
}

/** One message held by a queue. */
export interface Message {
  seq: number;
  /** The message-id header. */
  id: string;
  queue: Queue;
  headers: Header[];
  body: Bytes | undefined;
  bodyBytes: number;
  priority: number;
  expiresAt: number;
  notBefore: number;
  timestamp: number;
  deliveries: number;
  /** Where the body is in the log (durable queues only). */
  logged: LoggedMessage | undefined;
}

export interface QueueStats {
  published: number;
  delivered: number;
  acked: number;
  redelivered: number;
  deadLettered: number;
  expired: number;
  dropped: number;
}

interface InFlight {
  message: Message;
  consumer: Consumer;
  /** When the processing deadline passes (0: none). */
  deadline: number;
}

export class Consumer {
  readonly port: ConnectionPort;
  readonly spec: SubscriptionSpec;
  readonly queue: Queue;
  /** Unacknowledged deliveries, in delivery order (cumulative ACK walks it). */
  readonly unacked = new Map<string, InFlight>();

  constructor(port: ConnectionPort, spec: SubscriptionSpec, queue: Queue) {
    this.port = port;
    this.spec = spec;
    this.queue = queue;
  }

  /**
   * Room for one more delivery: the connection's output is not backed up
   * (so a consumer that stops reading holds at most about one outbox of
   * frames in our memory) and, in the client modes, prefetch not reached.
   */
  hasRoom(): boolean {
    if (!this.port.hasRoom()) return false;
    return this.spec.ack === "auto" || this.unacked.size < this.spec.prefetch;
  }
}

export type QueueKind = "queue" | "topic-subscription" | "temp";

/** A durable queue's tail that is in the log only, not indexed in memory. */
export interface Spill {
  count: number;
  bytes: number;
  /**
   * Where to scan on from for messages spilled since the start: at or
   * before the first of them (undefined while only recovered ones wait).
   */
  from: LogPosition | undefined;
  /** Records of the queue below this sequence number are already indexed. */
  minSeq: number;
  /**
   * After a restart, the spilled messages recovery found live, in sequence
   * order, by their place in the log: the log between them also holds
   * records acknowledged before the restart, and compaction may have moved
   * older ones past newer ones, so they are read by place, not by a scan.
   * They come before every message spilled since. Plain numbers: 24 bytes
   * each.
   */
  recovered?: { segments: number[]; offsets: number[]; deliveries: number[]; next: number };
}

export class Queue {
  readonly name: string;
  readonly kind: QueueKind;
  /** The destination shown in MESSAGE frames. */
  readonly destination: string;
  /** The connection owning a temp or topic queue. */
  readonly owner: string | undefined;
  readonly stats: QueueStats = {
    published: 0,
    delivered: 0,
    acked: 0,
    redelivered: 0,
    deadLettered: 0,
    expired: 0,
    dropped: 0,
  };
  /** Ready messages by priority, 9 first. */
  readonly ready: SeqList<Message>[] = Array.from({ length: 10 }, () => new SeqList<Message>());
  /** Messages not yet due, by due time. */
  delayed: Message[] = [];
  consumers: Consumer[] = [];
  inFlight = 0;
  /** Body bytes waiting (ready and delayed). */
  bytes = 0;
  /** Body bytes held in memory. */
  memoryBytes = 0;
  #nextConsumer = 0;
  /** Producers waiting for room (overflow "block"). */
  waiters: (() => void)[] = [];

  constructor(name: string, kind: QueueKind, destination: string, owner?: string) {
    this.name = name;
    this.kind = kind;
    this.destination = destination;
    this.owner = owner;
  }

  get durable(): boolean {
    return this.kind === "queue";
  }

  /** The tail in the log only (durable queues past the index window). */
  spill: Spill | undefined = undefined;

  /** Waiting messages indexed in memory (ready and delayed). */
  get indexed(): number {
    let n = this.delayed.length;
    for (const list of this.ready) n += list.length;
    return n;
  }

  /** Messages waiting to be delivered (ready, delayed and spilled). */
  get depth(): number {
    return this.indexed + (this.spill?.count ?? 0);
  }

  /** The consumer to try next, round-robin over those with room. */
  nextConsumerWithRoom(): Consumer | undefined {
    const n = this.consumers.length;
    for (let i = 0; i < n; i++) {
      const index = (this.#nextConsumer + i) % n;
      const consumer = this.consumers[index];
      if (consumer.hasRoom()) {
        this.#nextConsumer = (index + 1) % n;
        return consumer;
      }
    }
    return undefined;
  }

  peekReady(): Message | undefined {
    for (let p = 9; p >= 0; p--) {
      const message = this.ready[p].peek();
      if (message !== undefined) return message;
    }
    return undefined;
  }

  takeReady(): Message | undefined {
    for (let p = 9; p >= 0; p--) {
      const message = this.ready[p].shift();
      if (message !== undefined) {
        this.bytes -= message.bodyBytes;
        return message;
      }
    }
    return undefined;
  }

  putReady(message: Message): void {
    this.ready[message.priority].insert(message);
    this.bytes += message.bodyBytes;
  }
}

/** What `publish` did. */
export type PublishResult =
  | { kind: "accepted"; durable: Promise<void> }
  | { kind: "blocked"; room: Promise<void> };

const DEFAULT_PRIORITY = 4;
/** Body bytes a topic subscription or temp queue holds at most. */
const TRANSIENT_BYTES_MAX = 64 * 1024 * 1024;
/** Headers the broker writes on MESSAGE frames itself. */
const OWN_HEADERS = new Set([
  "subscription",
  "message-id",
  "destination",
  "ack",
  "content-length",
  "redelivered",
  "x-delivery-count",
]);

export class Broker {
  readonly queues = new Map<string, Queue>();
  readonly topics = new Map<string, Set<Queue>>();
  readonly connections = new Map<string, ConnectionState>();
  readonly deliveriesMax: number;
  readonly ackTimeoutMs: number;
  readonly depthMax: number;
  readonly bytesMax: number;
  readonly overflow: OverflowPolicy;
  readonly queuesMax: number;
  readonly log: MessageLog | undefined;
  readonly now: () => number;
  #bodyWindowBytes: number;
  #indexWindow: number;
  #transientSeq = 0;

  constructor(options: BrokerOptions = {}) {
    this.log = options.log;
    this.deliveriesMax = options.deliveriesMax ?? 20;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 0;
    this.depthMax = options.depthMax ?? 1_000_000;
    this.bytesMax = options.bytesMax ?? 1024 * 1024 * 1024;
    this.overflow = options.overflow ?? "reject-publish";
    this.queuesMax = options.queuesMax ?? 10_000;
    this.#bodyWindowBytes = options.bodyWindowBytes ?? 8 * 1024 * 1024;
    this.#indexWindow = options.indexWindow ?? 10_000;
    this.now = options.now ?? Date.now;
    const recovered = options.recovered;
    for (let i = 0; i < (recovered?.length ?? 0); i++) {
      const queue = this.#queue(recovered!.queueOf(i), true);
      if (queue.spill !== undefined || queue.indexed >= this.#indexWindow) {
        this.#spillRecovered(queue, recovered!, i);
      } else {
        this.#enqueue(queue, this.#fromLog(queue, recovered!.read(i)));
      }
    }
  }

  /** Registers a connection (after CONNECTED). */
  connect(port: ConnectionPort): void {
    this.connections.set(port.id, new ConnectionState(port));
  }

  /** Forgets a connection: its unacknowledged messages go back to their queues. */
  disconnect(connectionId: string): void {
    const connection = this.connections.get(connectionId);
    if (connection === undefined) return;
    for (const id of [...connection.consumers.keys()]) this.unsubscribe(connectionId, id);
    this.connections.delete(connectionId);
    for (const queue of connection.tempQueues.values()) this.#deleteQueue(queue);
  }

  /** A queue by name, made on first use (durable queues only). */
  #queue(name: string, recovering = false): Queue {
    let queue = this.queues.get(name);
    if (queue === undefined) {
      if (!recovering) this.#checkRoomForQueue();
      queue = new Queue(name, "queue", `/queue/${name}`);
      this.queues.set(name, queue);
    }
    return queue;
  }

  /** The queue a name refers to, if it exists (admin). */
  queue(name: string): Queue | undefined {
    return this.queues.get(name);
  }

  #deleteQueue(queue: Queue): void {
    for (const message of queue.ready.flatMap((list) => list.drain())) this.#settle(message);
    for (const message of queue.delayed) this.#settle(message);
    queue.delayed = [];
    queue.bytes = 0;
    this.queues.delete(queue.name);
    for (const waiter of queue.waiters.splice(0)) waiter();
  }

  #checkRoomForQueue(): void {
    if (this.queues.size >= this.queuesMax) {
      throw new StompProtocolError(`more than ${this.queuesMax} queues`);
    }
  }

  #tempQueue(connection: ConnectionState, name: string): Queue {
    let queue = connection.tempQueues.get(name);
    if (queue === undefined) {
      this.#checkRoomForQueue();
      const key = `${connection.port.id}.${name}`;
      queue = new Queue(`amq.tmp.${key}`, "temp", `/reply-queue/${key}`, connection.port.id);
      connection.tempQueues.set(name, queue);
      this.queues.set(queue.name, queue);
    }
    return queue;
  }

  /** SEND: enqueue (durably for a queue), or fan out to a topic's subscribers. */
  publish(connectionId: string, publish: Publish): PublishResult {
    const connection = this.connections.get(connectionId);
    const destination = publish.destination;
    const headers = this.#rewriteReplyTo(connection, publish.headers);
    const body = publish.body as Bytes;
    if (destination.kind === "topic") {
      const subscribers = this.topics.get(destination.name);
      for (const queue of subscribers ?? []) {
        this.#makeTransientRoom(queue, body.length);
        this.#accept(queue, headers, body);
      }
      return { kind: "accepted", durable: Promise.resolve() };
    }
    let queue: Queue | undefined;
    if (destination.kind === "queue") queue = this.#queue(destination.name);
    else if (destination.kind === "temp-queue") {
      if (connection === undefined) throw new StompProtocolError("not connected");
      queue = this.#tempQueue(connection, destination.name);
    } else queue = this.queues.get(`amq.tmp.${destination.name}`);
    // A reply to a requester that is gone is dropped, as RabbitMQ does.
    if (queue === undefined) return { kind: "accepted", durable: Promise.resolve() };
    if (!queue.durable) this.#makeTransientRoom(queue, body.length);
    else if (queue.depth + 1 > this.depthMax || queue.bytes + body.length > this.bytesMax) {
      if (this.overflow === "reject-publish") {
        throw new StompProtocolError(
          `queue ${queue.name} is full (reject-publish)`,
          `the queue holds ${queue.depth} messages, ${queue.bytes} bytes; bounds ${this.depthMax} messages, ${this.bytesMax} bytes`,
        );
      } else if (this.overflow === "drop-head") {
        while (
          queue.depth > 0 &&
          (queue.depth + 1 > this.depthMax || queue.bytes + body.length > this.bytesMax)
        ) this.#dropHead(queue);
      } else {
        const room = new Promise<void>((resolve) => queue!.waiters.push(resolve));
        return { kind: "blocked", room };
      }
    }
    this.#accept(queue, headers, body);
    return {
      kind: "accepted",
      durable: queue.durable && this.log ? this.log.durable() : Promise.resolve(),
    };
  }

  /**
   * Topic subscriptions and temp queues live in memory only (nothing to
   * spill to): past the index window or 64 MiB of bodies, their oldest
   * message is dropped, so a slow subscriber costs a bounded amount and
   * never slows the publisher or the other subscribers.
   */
  #makeTransientRoom(queue: Queue, incomingBytes: number): void {
    const depthMax = Math.min(this.depthMax, this.#indexWindow);
    const bytesMax = Math.min(this.bytesMax, TRANSIENT_BYTES_MAX);
    while (
      queue.depth > 0 && (queue.depth + 1 > depthMax || queue.bytes + incomingBytes > bytesMax)
    ) this.#dropHead(queue);
  }

  #rewriteReplyTo(connection: ConnectionState | undefined, headers: Header[]): Header[] {
    const at = headers.findIndex(([name]) => name === "reply-to");
    if (at < 0 || connection === undefined) return headers;
    const match = /^\/temp-queue\/([^/]+)$/.exec(headers[at][1]);
    if (match === null) return headers;
    const queue = this.#tempQueue(connection, match[1]);
    this.#subscribeImplicitly(connection, queue, match[1]);
    const rewritten = [...headers];
    rewritten[at] = ["reply-to", queue.destination];
    return rewritten;
  }

  /**
   * A requester that names `reply-to:/temp-queue/NAME` gets the replies
   * without a SUBSCRIBE, on subscription id `/temp-queue/NAME` with
   * ack:auto, as RabbitMQ does (clients written for it never subscribe).
   * An explicit SUBSCRIBE to the temp queue, before or after, is used instead.
   */
  #subscribeImplicitly(connection: ConnectionState, queue: Queue, name: string): void {
    if (queue.consumers.length > 0) return;
    const destinationText = `/temp-queue/${name}`;
    if (connection.consumers.has(destinationText)) return;
    const spec: SubscriptionSpec = {
      id: destinationText,
      destination: { kind: "temp-queue", name },
      destinationText,
      ack: "auto",
      prefetch: DEFAULT_PREFETCH,
    };
    const consumer = new Consumer(connection.port, spec, queue);
    connection.consumers.set(spec.id, consumer);
    queue.consumers.push(consumer);
  }

  /** Takes a message into `queue` (logging it first when durable). */
  #accept(queue: Queue, headers: Header[], body: Bytes, deliveries = 0): void {
    const now = this.now();
    const meta = {
      headers,
      priority: priorityOf(headers),
      expiresAt: expiryOf(headers, now),
      notBefore: delayOf(headers, now),
      timestamp: now,
      deliveries,
    };
    let message: Message;
    if (queue.durable && this.log) {
      const logged = this.log.append(queue.name, meta, body);
      if (queue.spill !== undefined || queue.indexed >= this.#indexWindow) {
        queue.stats.published++;
        this.#spillOne(queue, logged);
        return;
      }
      message = this.#fromLog(queue, logged);
    } else {
      const seq = ++this.#transientSeq;
      message = {
        ...meta,
        seq,
        id: `t${seq}`,
        queue,
        body,
        bodyBytes: body.length,
        logged: undefined,
      };
      queue.memoryBytes += body.length;
    }
    queue.stats.published++;
    this.#enqueue(queue, message);
    this.dispatch(queue);
  }

  /** A recovered message past the index window: its place in the log only (24 bytes). */
  #spillRecovered(queue: Queue, recovered: RecoveredMessages, i: number): void {
    queue.spill ??= { count: 0, bytes: 0, from: undefined, minSeq: recovered.seqOf(i) };
    const places = queue.spill.recovered ??= {
      segments: [],
      offsets: [],
      deliveries: [],
      next: 0,
    };
    const place = recovered.placeOf(i);
    places.segments.push(place.segment);
    places.offsets.push(place.offset);
    places.deliveries.push(recovered.deliveriesOf(i));
    const bodyBytes = recovered.bodyBytesOf(i);
    queue.spill.count++;
    queue.spill.bytes += bodyBytes;
    queue.bytes += bodyBytes;
  }

  /** Counts a logged message in the queue's spilled tail instead of indexing it. */
  #spillOne(queue: Queue, logged: LoggedMessage): void {
    logged.body = undefined;
    this.log?.release(logged);
    queue.spill ??= { count: 0, bytes: 0, from: undefined, minSeq: logged.seq };
    if (queue.spill.from === undefined) {
      // Recovered ones are read by place and all come before: the scan
      // starts here and takes nothing older (a compaction's copies of
      // indexed messages may come later in the log).
      queue.spill.from = { segment: logged.segment, offset: logged.recordOffset };
      queue.spill.minSeq = logged.seq;
    }
    queue.spill.count++;
    queue.spill.bytes += logged.bodyBytes;
    queue.bytes += logged.bodyBytes;
  }

  /**
   * Indexes the next spilled messages, in log order, once fewer than half
   * the window are indexed. Spilled messages all came after every indexed
   * one, so arrival order holds (priority applies within what is indexed).
   */
  #refill(queue: Queue): void {
    const spill = queue.spill;
    const log = this.log;
    if (spill === undefined || log === undefined) return;
    if (queue.indexed >= this.#indexWindow / 2) return;
    const take = (logged: LoggedMessage) => {
      spill.count--;
      spill.bytes -= logged.bodyBytes;
      queue.bytes -= logged.bodyBytes;
      this.#enqueue(queue, this.#fromLog(queue, logged));
    };
    const recovered = spill.recovered;
    while (recovered !== undefined && queue.indexed < this.#indexWindow) {
      const at = recovered.next++;
      const logged = log.readRecord({
        segment: recovered.segments[at],
        offset: recovered.offsets[at],
      });
      logged.deliveries = Math.max(logged.deliveries, recovered.deliveries[at]);
      take(logged);
      if (recovered.next === recovered.segments.length) spill.recovered = undefined;
      if (spill.recovered === undefined) break;
    }
    if (spill.recovered === undefined && spill.from !== undefined && spill.count > 0) {
      log.scan(queue.name, spill.from, (logged) => {
        if (logged.seq < spill.minSeq) return true;
        take(logged);
        spill.from = { segment: logged.segment, offset: logged.nextOffset };
        spill.minSeq = logged.seq + 1;
        return spill.count > 0 && queue.indexed < this.#indexWindow;
      });
    }
    if (spill.count > 0 && queue.indexed === 0) {
      throw new Error(`queue ${queue.name}: ${spill.count} spilled messages not found in the log`);
    }
    if (spill.count === 0) queue.spill = undefined;
  }

  #fromLog(queue: Queue, logged: LoggedMessage): Message {
    let body = logged.body;
    // Bodies past the window stay on disk only: memory stays bounded
    // whatever the queue's depth.
    if (body !== undefined && queue.memoryBytes + body.length > this.#bodyWindowBytes) {
      body = undefined;
      logged.body = undefined;
    }
    if (body !== undefined) queue.memoryBytes += body.length;
    this.log?.hold(logged);
    return {
      seq: logged.seq,
      id: String(logged.seq),
      queue,
      headers: logged.headers,
      body,
      bodyBytes: logged.bodyBytes,
      priority: logged.priority,
      expiresAt: logged.expiresAt,
      notBefore: logged.notBefore,
      timestamp: logged.timestamp,
      deliveries: logged.deliveries,
      logged,
    };
  }

  #enqueue(queue: Queue, message: Message): void {
    if (message.notBefore > this.now()) {
      queue.bytes += message.bodyBytes;
      // Binary insertion by due time: sorting on every delayed SEND would
      // cost n log n each.
      const delayed = queue.delayed;
      let low = 0;
      let high = delayed.length;
      while (low < high) {
        const mid = (low + high) >>> 1;
        const other = delayed[mid];
        if (
          other.notBefore < message.notBefore ||
          (other.notBefore === message.notBefore && other.seq < message.seq)
        ) low = mid + 1;
        else high = mid;
      }
      delayed.splice(low, 0, message);
    } else {
      queue.putReady(message);
    }
  }

  /** Removes a message for good: acknowledged, expired, dropped or moved. */
  #settle(message: Message): void {
    if (message.logged !== undefined) this.log?.ack(message.logged);
    if (message.body !== undefined) message.queue.memoryBytes -= message.bodyBytes;
    message.body = undefined;
  }

  #dropHead(queue: Queue): void {
    this.#refill(queue);
    const message = queue.takeReady();
    if (message === undefined) return;
    queue.stats.dropped++;
    this.#settle(message);
  }

  /** Moves a message to its queue's dead-letter queue (or drops it, for transient queues). */
  #deadLetter(message: Message, reason: "rejected" | "delivery-limit" | "expired"): void {
    const queue = message.queue;
    if (reason === "expired") queue.stats.expired++;
    else queue.stats.deadLettered++;
    if (!queue.durable || queue.name.endsWith(".dlq")) {
      this.#settle(message);
      return;
    }
    const body = this.#bodyOf(message);
    const headers: Header[] = message.headers.filter(([name]) =>
      name !== "expires" && name !== "expiration" && name !== "x-delay" &&
      name !== "AMQ_SCHEDULED_DELAY" && !name.startsWith("x-death-")
    );
    headers.push(
      ["x-death-reason", reason],
      ["x-death-queue", queue.destination],
      ["x-delivery-count", String(message.deliveries)],
      ["x-death-time", String(this.now())],
    );
    const dlq = this.#queue(`${queue.name}.dlq`);
    this.#accept(dlq, headers, body, message.deliveries);
    this.#settle(message);
  }

  #bodyOf(message: Message): Bytes {
    if (message.body !== undefined) return message.body;
    if (message.logged !== undefined && this.log) return this.log.readBody(message.logged);
    return new Uint8Array(0);
  }

  /** SUBSCRIBE: a consumer on a queue, a topic or the connection's temp queue. */
  subscribe(connectionId: string, spec: SubscriptionSpec): void {
    const connection = this.connections.get(connectionId);
    if (connection === undefined) throw new StompProtocolError("not connected");
    // An explicit SUBSCRIBE replaces the implicit one of a temp queue.
    if (connection.consumers.has(spec.id)) this.unsubscribe(connectionId, spec.id);
    const destination = spec.destination;
    let queue: Queue;
    if (destination.kind === "queue") queue = this.#queue(destination.name);
    else if (destination.kind === "temp-queue") {
      queue = this.#tempQueue(connection, destination.name);
      const implicit = `/temp-queue/${destination.name}`;
      if (connection.consumers.get(implicit)?.queue === queue) {
        this.unsubscribe(connectionId, implicit);
      }
    } else if (destination.kind === "topic") {
      queue = new Queue(
        `amq.topic.${connectionId}.${spec.id}`,
        "topic-subscription",
        `/topic/${destination.name}`,
        connectionId,
      );
      let set = this.topics.get(destination.name);
      if (set === undefined) this.topics.set(destination.name, set = new Set());
      set.add(queue);
    } else throw new StompProtocolError("cannot subscribe to a /reply-queue/");
    const consumer = new Consumer(connection.port, spec, queue);
    connection.consumers.set(spec.id, consumer);
    queue.consumers.push(consumer);
    this.dispatch(queue);
  }

  /** UNSUBSCRIBE (or disconnect): unacknowledged messages go back to the queue. */
  unsubscribe(connectionId: string, id: string): void {
    const connection = this.connections.get(connectionId);
    const consumer = connection?.consumers.get(id);
    if (connection === undefined || consumer === undefined) return;
    connection.consumers.delete(id);
    const queue = consumer.queue;
    queue.consumers = queue.consumers.filter((c) => c !== consumer);
    for (const flight of consumer.unacked.values()) {
      connection.deliveries.delete(flight.message.id);
      queue.inFlight--;
      this.#requeue(flight.message);
    }
    consumer.unacked.clear();
    if (queue.kind === "topic-subscription") {
      const destination = consumer.spec.destination;
      this.topics.get(destination.name)?.delete(queue);
      if (this.topics.get(destination.name)?.size === 0) this.topics.delete(destination.name);
      this.#deleteQueue(queue);
      return;
    }
    this.dispatch(queue);
  }

  /** A message handed back: to its place in the queue, or to the DLQ past the limit. */
  #requeue(message: Message): void {
    const queue = message.queue;
    if (!this.queues.has(queue.name) && queue.kind !== "topic-subscription") {
      this.#settle(message);
      return;
    }
    if (message.deliveries >= this.deliveriesMax && !queue.name.endsWith(".dlq")) {
      this.#deadLetter(message, "delivery-limit");
      return;
    }
    queue.stats.redelivered++;
    queue.putReady(message);
  }

  /**
   * ACK: the message is done (and every earlier one, for ack:client).
   * Resolves once the acknowledgement is on disk, so a RECEIPT means it
   * will not come back after a crash.
   */
  ack(connectionId: string, id: string): Promise<void> {
    for (const flight of this.#flights(connectionId, id)) {
      flight.message.queue.stats.acked++;
      this.#settle(flight.message);
    }
    return this.log ? this.log.durable() : Promise.resolve();
  }

  /** NACK: requeue (redelivered), or dead-letter with `requeue: false`. */
  nack(connectionId: string, id: string, requeue: boolean): Promise<void> {
    for (const flight of this.#flights(connectionId, id)) {
      if (requeue) this.#requeue(flight.message);
      else this.#deadLetter(flight.message, "rejected");
    }
    return this.log ? this.log.durable() : Promise.resolve();
  }

  /**
   * The deliveries an ACK or NACK of `id` covers, removed from in-flight:
   * that one for ack:client-individual, it and every earlier one of its
   * subscription for ack:client (cumulative, 1.2 "SUBSCRIBE ack Header").
   * An unknown id (already redelivered elsewhere) covers nothing.
   */
  #flights(connectionId: string, id: string): InFlight[] {
    const connection = this.connections.get(connectionId);
    const flight = connection?.deliveries.get(id);
    if (connection === undefined || flight === undefined) return [];
    const consumer = flight.consumer;
    const covered: InFlight[] = [];
    if (consumer.spec.ack === "client") {
      for (const [key, each] of consumer.unacked) {
        covered.push(each);
        consumer.unacked.delete(key);
        if (key === id) break;
      }
    } else {
      covered.push(flight);
      consumer.unacked.delete(id);
    }
    for (const each of covered) {
      connection.deliveries.delete(each.message.id);
      each.message.queue.inFlight--;
    }
    queueMicrotask(() => this.dispatch(consumer.queue));
    return covered;
  }

  /** Hands ready messages to consumers with room, round-robin. */
  dispatch(queue: Queue): void {
    if (queue.consumers.length === 0) return;
    const now = this.now();
    while (true) {
      if (queue.spill !== undefined) this.#refill(queue);
      if (queue.peekReady() === undefined) break;
      const consumer = queue.nextConsumerWithRoom();
      if (consumer === undefined) break;
      const message = queue.takeReady()!;
      if (message.expiresAt > 0 && message.expiresAt <= now) {
        this.#deadLetter(message, "expired");
        continue;
      }
      this.#deliver(consumer, message, now);
    }
    this.#wakeProducers(queue);
  }

  #wakeProducers(queue: Queue): void {
    if (queue.waiters.length === 0) return;
    if (queue.depth < this.depthMax && queue.bytes < this.bytesMax) {
      for (const waiter of queue.waiters.splice(0)) waiter();
    }
  }

  #deliver(consumer: Consumer, message: Message, now: number): void {
    const queue = message.queue;
    message.deliveries++;
    queue.stats.delivered++;
    const port = consumer.port;
    const body = this.#bodyOf(message);
    const headers: Header[] = [
      ["subscription", consumer.spec.id],
      ["message-id", message.id],
      ["destination", queue.kind === "queue" ? queue.destination : consumer.spec.destinationText],
    ];
    if (queue.kind === "temp") headers[2] = ["destination", queue.destination];
    if (port.version === "1.2" && consumer.spec.ack !== "auto") headers.push(["ack", message.id]);
    headers.push(["redelivered", message.deliveries > 1 ? "true" : "false"]);
    if (message.deliveries > 1) {
      headers.push(["x-delivery-count", String(message.deliveries - 1)]);
    }
    for (const header of message.headers) {
      if (!OWN_HEADERS.has(header[0])) headers.push(header);
    }
    headers.push(["content-length", String(body.length)]);
    port.write(makeFrame("MESSAGE", headers, body));
    if (consumer.spec.ack === "auto") {
      queue.stats.acked++;
      this.#settle(message);
      return;
    }
    // Counted on disk, so a restart still knows it was handed out.
    if (message.logged !== undefined) this.log?.delivered(message.logged, message.deliveries);
    const flight: InFlight = {
      message,
      consumer,
      deadline: this.ackTimeoutMs > 0 ? now + this.ackTimeoutMs : 0,
    };
    consumer.unacked.set(message.id, flight);
    this.connections.get(port.id)?.deliveries.set(message.id, flight);
    queue.inFlight++;
  }

  /** A connection's output drained: its consumers may take more. */
  wake(connectionId: string): void {
    const connection = this.connections.get(connectionId);
    if (connection === undefined) return;
    for (const consumer of connection.consumers.values()) this.dispatch(consumer.queue);
  }

  /**
   * The periodic sweep: due delayed messages become ready, expired ones at
   * the head of a queue are dead-lettered, and deliveries past their
   * processing deadline are handed back.
   */
  tick(): void {
    const now = this.now();
    for (
      const queue of [...this.queues.values(), ...[...this.topics.values()].flatMap((s) => [...s])]
    ) {
      let moved = false;
      while (queue.delayed.length > 0 && queue.delayed[0].notBefore <= now) {
        const message = queue.delayed.shift()!;
        queue.bytes -= message.bodyBytes;
        queue.putReady(message);
        moved = true;
      }
      for (let p = 9; p >= 0; p--) {
        const list = queue.ready[p];
        let head;
        while ((head = list.peek()) !== undefined && head.expiresAt > 0 && head.expiresAt <= now) {
          list.shift();
          queue.bytes -= head.bodyBytes;
          this.#deadLetter(head, "expired");
          moved = true;
        }
      }
      if (moved) this.dispatch(queue);
    }
    if (this.ackTimeoutMs > 0) {
      for (const connection of this.connections.values()) {
        for (const [id, flight] of connection.deliveries) {
          if (flight.deadline === 0 || flight.deadline > now) continue;
          connection.deliveries.delete(id);
          flight.consumer.unacked.delete(id);
          flight.message.queue.inFlight--;
          this.#requeue(flight.message);
          this.dispatch(flight.message.queue);
        }
      }
    }
  }

  /** Ready messages of a queue, oldest first, without consuming them (admin peek). */
  peek(queue: Queue, count: number): Message[] {
    const out: Message[] = [];
    for (let p = 9; p >= 0 && out.length < count; p--) {
      out.push(...queue.ready[p].first(count - out.length));
    }
    return out;
  }

  /** The body of a message (read back from the log when paged out). */
  bodyOf(message: Message): Bytes {
    return this.#bodyOf(message);
  }

  /** Drops every waiting message of a queue; returns how many. */
  purge(queue: Queue): number {
    let n = 0;
    do {
      this.#refill(queue);
      for (const list of queue.ready) {
        for (const message of list.drain()) {
          this.#settle(message);
          n++;
        }
      }
      for (const message of queue.delayed) {
        this.#settle(message);
        n++;
      }
      queue.delayed = [];
    } while (queue.spill !== undefined);
    queue.bytes = 0;
    this.#wakeProducers(queue);
    return n;
  }

  /** Moves every waiting message of NAME.dlq back to NAME; returns how many. */
  redrive(queue: Queue): number {
    const dlq = this.queues.get(`${queue.name}.dlq`);
    if (dlq === undefined) return 0;
    let n = 0;
    while (true) {
      this.#refill(dlq);
      const message = dlq.takeReady();
      if (message === undefined) break;
      const headers = message.headers.filter(([name]) => !name.startsWith("x-death-"));
      this.#accept(queue, headers, this.#bodyOf(message));
      this.#settle(message);
      n++;
    }
    return n;
  }

  /**
   * Publishes from the admin API (no connection), under the same queue
   * bounds; a full queue throws whatever the overflow policy (an HTTP
   * request is not a connection to stop reading).
   */
  publishDirect(queueName: string, headers: Header[], body: Bytes): Promise<void> {
    const result = this.publish("", {
      destination: { kind: "queue", name: queueName },
      destinationText: `/queue/${queueName}`,
      headers,
      body,
    });
    if (result.kind === "blocked") {
      throw new StompProtocolError(`queue ${queueName} is full`);
    }
    return result.durable;
  }
}

/** A connection's consumers, deliveries and temp queues. */
export class ConnectionState {
  readonly port: ConnectionPort;
  readonly consumers = new Map<string, Consumer>();
  /** In-flight deliveries by message-id (the id ACK and NACK name). */
  readonly deliveries = new Map<string, InFlight>();
  readonly tempQueues = new Map<string, Queue>();

  constructor(port: ConnectionPort) {
    this.port = port;
  }
}

function headerValue(headers: readonly Header[], name: string): string | undefined {
  for (const [key, value] of headers) if (key === name) return value;
  return undefined;
}

/** `priority` 0-9 (JMS); anything else is the default, 4. */
function priorityOf(headers: readonly Header[]): number {
  const text = headerValue(headers, "priority");
  if (text === undefined || !/^[0-9]$/.test(text.trim())) return DEFAULT_PRIORITY;
  return Number(text.trim());
}

/** `expires` (ms since the epoch; 0: never) or `expiration` (a TTL in ms). */
function expiryOf(headers: readonly Header[], now: number): number {
  const expires = headerValue(headers, "expires");
  if (expires !== undefined && /^[0-9]{1,15}$/.test(expires.trim())) return Number(expires);
  const ttl = headerValue(headers, "expiration");
  if (ttl !== undefined && /^[0-9]{1,12}$/.test(ttl.trim())) return now + Number(ttl);
  return 0;
}

/** `x-delay` or `AMQ_SCHEDULED_DELAY` (ms): when the message becomes deliverable. */
function delayOf(headers: readonly Header[], now: number): number {
  const delay = headerValue(headers, "x-delay") ?? headerValue(headers, "AMQ_SCHEDULED_DELAY");
  if (delay === undefined || !/^[0-9]{1,12}$/.test(delay.trim())) return 0;
  const ms = Number(delay);
  return ms > 0 ? now + ms : 0;
}
