// The message log: every durable queue's messages and acknowledgements in
// one segmented append-only log, as RabbitMQ's shared message store and
// Kafka's segments keep them.
//
//   data-dir/00000001.seg, 00000002.seg, ...   (rolled at segmentBytesMax)
//
//   record = u32 payloadBytes | u32 crc32(payload) | payload      (big-endian)
//   payload = 0x01 ENQUEUE  f64 seq | u16 queueBytes | queue | u32 metaBytes | meta JSON | body
//           | 0x02 ACK      f64 seq
//           | 0x03 DELIVER  f64 seq | u32 deliveries
//
// Sequence numbers are global and increasing, so an ACK names its message
// alone. A SEND is answered only once its record is fsynced: `append()`
// writes at once and `durable()` resolves at the next group commit, which
// fsyncs once for every record appended in the same event-loop turn by any
// producer. A new segment's name is made durable (directory fsync) before
// anything acknowledged is written into it.
//
// Reclaiming: each segment counts its live (unacknowledged) messages; only
// the oldest segments whose counts reached zero are removed, in order, so an
// ACK record never disappears while the message it cancels is still on disk
// (that would bring the message back at the next recovery).
//
// Compaction: one old unacknowledged message would keep its segment, and
// every later one, on disk. So when the oldest segment's live records fill
// at most half of it, they are copied to the end of the log (same sequence
// numbers, current delivery counts), fsynced, and only then is the segment
// removed: disk use tracks the live messages, at a write cost of at most
// half a segment per segment reclaimed, one segment per ACK at most. Why
// only the oldest: every copy of a message is written while it is live, so
// before its ACK; an ACK in the oldest segment therefore cancels copies in
// that segment only, and removing it cannot bring anything back. A copy
// made before a crash may coexist with its original: recovery keeps the
// later one (and the higher delivery count). Only messages the broker holds
// in memory (`hold()`) are moved; a segment with messages known only by
// their place in the log (a spilled queue tail) waits until they are read.
//
// Delivery counts: a DELIVER record notes each delivery that waits for an
// acknowledgement, so a message handed out before a restart comes back
// `redelivered`, counted, and still reaches the dead-letter queue at its
// limit. It is written, not fsynced (the next group commit carries it): a
// power cut may lose the last count, never a message.
//
// Recovery reads every segment in order, checks each record's length and
// checksum, and stops at the first torn one: in the last segment the file
// is cut there (a power cut mid-append); elsewhere the rest of that segment
// is skipped with a warning. Recovery keeps a few numbers per live message
// (RecoveredMessages), not its headers or body: the broker reads back the
// records it indexes, bodies are read when delivered, and `scan()` reads a
// queue's records back in order for a broker that keeps only a window of
// each queue indexed.
//

import type { Bytes } from "../../lib/bytes.ts";
import type { FileHandle, FileLayer } from "../../lib/fs/file_layer.ts";
import type { Header } from "../../lib/stomp/types.ts";
import { crc32 } from "./crc32.ts";

const ENQUEUE = 1;
const ACK = 2;
const DELIVER = 3;
const RECORD_HEAD_BYTES = 8;
/** A record longer than this is garbage, whatever its length field says. */
const RECORD_BYTES_MAX = 256 * 1024 * 1024;

export interface MessageMeta {
  /** Headers of the message as sent (user headers). */
  headers: Header[];
  priority: number;
  /** ms since the epoch; 0: never. */
  expiresAt: number;
  /** Not delivered before (ms since the epoch); 0: at once. */
  notBefore: number;
  /** When the broker took it (ms since the epoch). */
  timestamp: number;
  /** Deliveries before it was written (a dead-lettered message keeps its count). */
  deliveries: number;
}

export interface LoggedMessage extends MessageMeta {
  seq: number;
  queue: string;
  bodyBytes: number;
  /** Undefined when paged out: read it back with `readBody()`. */
  body: Bytes | undefined;
  /** Where the body is on disk. */
  segment: number;
  offset: number;
  /** Where this record starts, and where the next one does, in the same segment (for `scan`). */
  recordOffset: number;
  nextOffset: number;
}

/** A place in the log: a segment and a byte offset in it. */
export interface LogPosition {
  segment: number;
  offset: number;
}

export interface MessageLogOptions {
  files: FileLayer;
  dir: string;
  /** Roll to a new segment past this size (default 64 MiB). */
  segmentBytesMax?: number;
  onWarning?: (message: string) => void;
  /** Recovery reads segments this many bytes at a time (default 4 MiB; tests use less). */
  recoveryChunkBytes?: number;
}

export interface Recovered {
  /** Live messages, in sequence order. */
  messages: RecoveredMessages;
  segments: number;
  /** Bytes cut from a torn tail. */
  tornBytes: number;
}

interface Segment {
  id: number;
  handle: FileHandle;
  size: number;
  live: number;
  /** Bytes of the live messages' records. */
  liveBytes: number;
  /** Live messages the broker holds in memory: compaction may move them. */
  held: Set<LoggedMessage>;
}

/** Compact the oldest segment once its live records fill at most this share of it. */
const COMPACT_LIVE_SHARE = 0.5;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class MessageLog {
  #files: FileLayer;
  #dir: string;
  #segmentBytesMax: number;
  #segments: Segment[] = [];
  #nextSeq = 1;
  #dirty = false;
  #flush: Promise<void> | undefined;
  #closed = false;
  /** Records appended since start, fsyncs, and segments compacted: for /metrics. */
  appended = 0;
  syncs = 0;
  compactions = 0;

  private constructor(options: MessageLogOptions) {
    this.#files = options.files;
    this.#dir = options.dir;
    this.#segmentBytesMax = options.segmentBytesMax ?? 64 * 1024 * 1024;
  }

  /** Opens (creating) the log in `dir` and recovers its live messages. */
  static open(options: MessageLogOptions): { log: MessageLog; recovered: Recovered } {
    const log = new MessageLog(options);
    const recovered = log.#recover(options);
    return { log, recovered };
  }

  /** The next sequence number `append()` will use. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  get segmentCount(): number {
    return this.#segments.length;
  }

  /** Bytes on disk over every segment. */
  get sizeBytes(): number {
    return this.#segments.reduce((n, s) => n + s.size, 0);
  }

  /** Appends a message (written, durable at the next `durable()`); it is held (see `hold`). */
  append(queue: string, meta: MessageMeta, body: Bytes): LoggedMessage {
    const message = this.#writeEnqueue(this.#nextSeq++, queue, meta, body);
    message.body = body;
    return message;
  }

  #writeEnqueue(seq: number, queue: string, meta: MessageMeta, body: Bytes): LoggedMessage {
    const queueBytes = encoder.encode(queue);
    const metaBytes = encoder.encode(JSON.stringify({
      h: meta.headers,
      p: meta.priority,
      e: meta.expiresAt,
      n: meta.notBefore,
      t: meta.timestamp,
      d: meta.deliveries,
    }));
    const payloadBytes = 1 + 8 + 2 + queueBytes.length + 4 + metaBytes.length + body.length;
    const record = new Uint8Array(RECORD_HEAD_BYTES + payloadBytes);
    const view = new DataView(record.buffer);
    let at = RECORD_HEAD_BYTES;
    record[at++] = ENQUEUE;
    view.setFloat64(at, seq);
    at += 8;
    view.setUint16(at, queueBytes.length);
    at += 2;
    record.set(queueBytes, at);
    at += queueBytes.length;
    view.setUint32(at, metaBytes.length);
    at += 4;
    record.set(metaBytes, at);
    at += metaBytes.length;
    const bodyAt = at;
    record.set(body, at);
    const segment = this.#write(record, payloadBytes);
    const message: LoggedMessage = {
      headers: meta.headers,
      priority: meta.priority,
      expiresAt: meta.expiresAt,
      notBefore: meta.notBefore,
      timestamp: meta.timestamp,
      deliveries: meta.deliveries,
      seq,
      queue,
      bodyBytes: body.length,
      body: undefined,
      segment: segment.id,
      offset: segment.size - record.length + bodyAt,
      recordOffset: segment.size - record.length,
      nextOffset: segment.size,
    };
    segment.live++;
    segment.liveBytes += record.length;
    segment.held.add(message);
    return message;
  }

  /**
   * The broker holds `message` in memory: compaction may move it (and
   * updates its place in it). Recovered and appended messages start held.
   */
  hold(message: LoggedMessage): void {
    this.#segmentOf(message)?.held.add(message);
  }

  /** The broker keeps only `message`'s place in the log (spilled): it must stay where it is. */
  release(message: LoggedMessage): void {
    this.#segmentOf(message)?.held.delete(message);
  }

  /** Notes a delivery that waits for an acknowledgement (written; durable at the next commit). */
  delivered(message: LoggedMessage, deliveries: number): void {
    message.deliveries = deliveries;
    const record = new Uint8Array(RECORD_HEAD_BYTES + 13);
    const view = new DataView(record.buffer);
    record[RECORD_HEAD_BYTES] = DELIVER;
    view.setFloat64(RECORD_HEAD_BYTES + 1, message.seq);
    view.setUint32(RECORD_HEAD_BYTES + 9, deliveries);
    this.#write(record, 13);
  }

  #segmentOf(message: { segment: number }): Segment | undefined {
    // Few segments are open at once: a short scan from the newest.
    for (let i = this.#segments.length - 1; i >= 0; i--) {
      if (this.#segments[i].id === message.segment) return this.#segments[i];
    }
    return undefined;
  }

  /** Records that `message` was acknowledged (or moved): it will not come back. */
  ack(message: LoggedMessage): void {
    const record = new Uint8Array(RECORD_HEAD_BYTES + 9);
    record[RECORD_HEAD_BYTES] = ACK;
    new DataView(record.buffer).setFloat64(RECORD_HEAD_BYTES + 1, message.seq);
    this.#write(record, 9);
    const segment = this.#segmentOf(message);
    if (segment !== undefined) {
      segment.live--;
      segment.liveBytes -= message.nextOffset - message.recordOffset;
      segment.held.delete(message);
      if (!(segment.live >= 0)) throw new Error(`segment ${segment.id}: live count below zero`);
    }
    this.#reclaim();
    this.#compactOldest();
    this.#retireActive();
  }

  /**
   * When every message ever written is acknowledged, the active segment
   * holds nothing live: past a quarter of the segment size it is rolled
   * and removed, so a drained log takes almost no disk instead of up to a
   * segment of dead records (a file made and one removed, with their
   * directory fsyncs, per quarter segment of traffic at most).
   */
  #retireActive(): void {
    const active = this.#active();
    if (this.#segments.length !== 1 || active.live !== 0) return;
    if (active.size < this.#segmentBytesMax / 4) return;
    this.#roll();
    this.#reclaim();
  }

  /**
   * Copies the oldest segment's live messages to the end of the log when
   * they fill at most COMPACT_LIVE_SHARE of it and the broker holds them
   * all, fsyncs the copies, then removes the segment (see the file's head).
   */
  #compactOldest(): void {
    if (this.#segments.length < 2) return;
    const oldest = this.#segments[0];
    if (oldest.live === 0 || oldest.held.size !== oldest.live) return;
    if (oldest.liveBytes > oldest.size * COMPACT_LIVE_SHARE) return;
    const moving = [...oldest.held].sort((a, b) => a.seq - b.seq);
    for (const message of moving) {
      const body = message.body ?? this.readBody(message);
      const copy = this.#writeEnqueue(message.seq, message.queue, message, body);
      // The broker's object follows its record: bodies are read from here on.
      message.segment = copy.segment;
      message.offset = copy.offset;
      message.recordOffset = copy.recordOffset;
      message.nextOffset = copy.nextOffset;
      const target = this.#segmentOf(copy)!;
      target.held.delete(copy);
      target.held.add(message);
    }
    // The copies are durable before the originals go: a power cut between
    // the two leaves both, and recovery keeps one.
    this.flush();
    oldest.live = 0;
    oldest.liveBytes = 0;
    oldest.held.clear();
    this.compactions++;
    this.#reclaim();
  }

  /** Reads a paged-out body back from its segment. */
  readBody(message: LoggedMessage): Bytes {
    if (message.body !== undefined) return message.body;
    const segment = this.#segments.find((s) => s.id === message.segment);
    if (segment === undefined) throw new Error(`segment ${message.segment} is gone`);
    const body = new Uint8Array(message.bodyBytes);
    const n = segment.handle.readAt(body, message.offset);
    if (n !== body.length) throw new Error(`segment ${message.segment}: short read of a body`);
    return body;
  }

  /**
   * Resolves once every record appended so far is on disk: the group
   * commit. Records appended before the flush runs share its fsync.
   */
  durable(): Promise<void> {
    if (!this.#dirty) return this.#flush ?? Promise.resolve();
    return this.#flush ??= new Promise<void>((resolve, reject) => {
      setTimeout(() => {
        this.#flush = undefined;
        try {
          this.flush();
          resolve();
        } catch (error) {
          reject(error);
        }
      }, 0);
    });
  }

  /**
   * Reads the log forward from `from` and calls `visit` with each ENQUEUE
   * record of `queue` (body not read) until it returns false or the log
   * ends. Records were checked when written or recovered, so no checksum
   * here; other queues' records are skipped by their length, reading only
   * their heads.
   */
  scan(queue: string, from: LogPosition, visit: (message: LoggedMessage) => boolean): void {
    const head = new Uint8Array(RECORD_HEAD_BYTES + 11);
    const headView = new DataView(head.buffer);
    for (const segment of this.#segments) {
      if (segment.id < from.segment) continue;
      let at = segment.id === from.segment ? from.offset : 0;
      while (at + head.length <= segment.size) {
        segment.handle.readAt(head, at);
        const payloadBytes = headView.getUint32(0);
        const end = at + RECORD_HEAD_BYTES + payloadBytes;
        if (head[RECORD_HEAD_BYTES] === ENQUEUE) {
          const queueBytes = headView.getUint16(RECORD_HEAD_BYTES + 9);
          const payload = new Uint8Array(payloadBytes);
          // The queue name first; the rest only when it is ours.
          segment.handle.readAt(payload.subarray(0, 11 + queueBytes), at + RECORD_HEAD_BYTES);
          const name = decoder.decode(payload.subarray(11, 11 + queueBytes));
          if (name === queue) {
            const metaAt = 11 + queueBytes;
            const metaLength = new Uint8Array(4);
            segment.handle.readAt(metaLength, at + RECORD_HEAD_BYTES + metaAt);
            const metaBytes = new DataView(metaLength.buffer).getUint32(0);
            const meta = new Uint8Array(metaBytes);
            segment.handle.readAt(meta, at + RECORD_HEAD_BYTES + metaAt + 4);
            const bodyAt = at + RECORD_HEAD_BYTES + metaAt + 4 + metaBytes;
            const message = toLogged(
              headView.getFloat64(RECORD_HEAD_BYTES + 1),
              queue,
              JSON.parse(decoder.decode(meta)),
              segment.id,
              at,
              bodyAt,
              end,
            );
            if (!visit(message)) return;
          }
        }
        at = end;
      }
    }
  }

  /**
   * Reads the ENQUEUE record at `at` (body not read), for a broker that
   * kept only a recovered message's place. Checked when recovered.
   */
  readRecord(at: LogPosition): LoggedMessage {
    const segment = this.#segmentOf(at);
    if (segment === undefined) throw new Error(`segment ${at.segment} is gone`);
    const head = new Uint8Array(RECORD_HEAD_BYTES + 11);
    const headView = new DataView(head.buffer);
    segment.handle.readAt(head, at.offset);
    const payloadBytes = headView.getUint32(0);
    if (head[RECORD_HEAD_BYTES] !== ENQUEUE) {
      throw new Error(`segment ${at.segment} at ${at.offset}: not an ENQUEUE record`);
    }
    const queueBytes = headView.getUint16(RECORD_HEAD_BYTES + 9);
    const rest = new Uint8Array(queueBytes + 4);
    segment.handle.readAt(rest, at.offset + head.length);
    const metaBytes = new DataView(rest.buffer).getUint32(queueBytes);
    const meta = new Uint8Array(metaBytes);
    const metaAt = at.offset + head.length + rest.length;
    segment.handle.readAt(meta, metaAt);
    return toLogged(
      headView.getFloat64(RECORD_HEAD_BYTES + 1),
      decoder.decode(rest.subarray(0, queueBytes)),
      JSON.parse(decoder.decode(meta)),
      segment.id,
      at.offset,
      metaAt + metaBytes,
      at.offset + RECORD_HEAD_BYTES + payloadBytes,
    );
  }

  /** Syncs and closes every segment. */
  close(): void {
    if (this.#closed) return;
    if (this.#dirty) this.flush();
    this.#closed = true;
    for (const segment of this.#segments) segment.handle.close();
    this.#segments = [];
  }

  /** Fsyncs now what `durable()` would at its group commit. */
  flush(): void {
    if (!this.#dirty || this.#closed) return;
    this.#dirty = false;
    this.#active().handle.syncData();
    this.syncs++;
  }

  #active(): Segment {
    return this.#segments[this.#segments.length - 1];
  }

  #write(record: Uint8Array, payloadBytes: number): Segment {
    if (this.#closed) throw new Error("the message log is closed");
    const view = new DataView(record.buffer, record.byteOffset);
    view.setUint32(0, payloadBytes);
    view.setUint32(4, crc32(record, RECORD_HEAD_BYTES));
    let segment = this.#active();
    if (segment.size > 0 && segment.size + record.length > this.#segmentBytesMax) {
      segment = this.#roll();
    }
    segment.handle.writeAt(record, segment.size);
    segment.size += record.length;
    this.#dirty = true;
    this.appended++;
    return segment;
  }

  /** Syncs the active segment, then starts the next one with a durable name. */
  #roll(): Segment {
    const previous = this.#active();
    previous.handle.syncData();
    this.syncs++;
    return this.#create(previous.id + 1);
  }

  #create(id: number): Segment {
    const handle = this.#files.open(this.#path(id), { create: true, truncate: true });
    this.#files.syncDirectory(this.#dir);
    const segment: Segment = { id, handle, size: 0, live: 0, liveBytes: 0, held: new Set() };
    this.#segments.push(segment);
    return segment;
  }

  #reclaim(): void {
    let removed = false;
    while (this.#segments.length > 1 && this.#segments[0].live === 0) {
      const segment = this.#segments.shift()!;
      segment.handle.close();
      this.#files.remove(this.#path(segment.id));
      removed = true;
    }
    if (removed) this.#files.syncDirectory(this.#dir);
  }

  #path(id: number): string {
    return `${this.#dir}/${String(id).padStart(8, "0")}.seg`;
  }

  #recover(options: MessageLogOptions): Recovered {
    const files = this.#files;
    files.makeDirectory(this.#dir);
    const ids = files.list(this.#dir)
      .map((name) => /^(\d{8})\.seg$/.exec(name))
      .filter((m) => m !== null)
      .map((m) => Number(m![1]));
    const index = new RecoveryIndex();
    // ACK records may name the highest sequence numbers: never reuse one.
    let maxSeq = 0;
    let tornBytes = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const handle = files.open(this.#path(id));
      const fileBytes = handle.size();
      const chunkBytes = options.recoveryChunkBytes ?? RECOVERY_CHUNK_BYTES;
      const { end, seqMax } = readSegment(handle, fileBytes, id, index, chunkBytes);
      maxSeq = Math.max(maxSeq, seqMax);
      const last = i === ids.length - 1;
      if (end < fileBytes) {
        if (last) {
          tornBytes = fileBytes - end;
          handle.truncate(end);
          handle.syncData();
        } else {
          options.onWarning?.(
            `segment ${id}: a bad record at byte ${end}; the rest of the segment is skipped`,
          );
        }
      }
      this.#segments.push({
        id,
        handle,
        size: last ? end : fileBytes,
        live: 0,
        liveBytes: 0,
        held: new Set(),
      });
    }
    if (this.#segments.length === 0) this.#create(1);
    const order = index.liveInSeqOrder();
    const byId = new Map(this.#segments.map((segment) => [segment.id, segment]));
    for (const slot of order) {
      const segment = byId.get(index.segment[slot])!;
      segment.live++;
      segment.liveBytes += index.recordBytes[slot];
    }
    this.#nextSeq = maxSeq + 1;
    this.#reclaim();
    return {
      messages: new RecoveredMessages(this, index, order),
      segments: ids.length,
      tornBytes,
    };
  }
}

/**
 * Recovery's record of every ENQUEUE it read: a few numbers per message in
 * typed arrays (32 bytes) and a sequence number -> slot map for the ACK and
 * DELIVER records that follow, instead of an object with parsed headers per
 * message (about 500 bytes each: 580 MB of heap for a 1M-message backlog).
 */
class RecoveryIndex {
  seq = new Float64Array(1024);
  segment = new Uint32Array(1024);
  recordOffset = new Float64Array(1024);
  recordBytes = new Uint32Array(1024);
  bodyBytes = new Uint32Array(1024);
  deliveries = new Uint32Array(1024);
  queue = new Uint32Array(1024);
  size = 0;
  /** Live messages: sequence number -> slot (the latest copy's). */
  live = new Map<number, number>();
  queues: string[] = [];
  #queueIds = new Map<string, number>();

  add(
    seq: number,
    queue: string,
    segment: number,
    recordOffset: number,
    recordBytes: number,
    bodyBytes: number,
    deliveries: number,
  ): void {
    if (this.size === this.seq.length) this.#grow();
    const slot = this.size++;
    let queueId = this.#queueIds.get(queue);
    if (queueId === undefined) {
      this.#queueIds.set(queue, queueId = this.queues.length);
      this.queues.push(queue);
    }
    const earlier = this.live.get(seq);
    this.seq[slot] = seq;
    this.segment[slot] = segment;
    this.recordOffset[slot] = recordOffset;
    this.recordBytes[slot] = recordBytes;
    this.bodyBytes[slot] = bodyBytes;
    // A compaction's copy comes after its original: the later place wins,
    // with the higher count.
    this.deliveries[slot] = Math.max(
      deliveries,
      earlier === undefined ? 0 : this.deliveries[earlier],
    );
    this.queue[slot] = queueId;
    this.live.set(seq, slot);
  }

  delivered(seq: number, deliveries: number): void {
    const slot = this.live.get(seq);
    if (slot !== undefined) this.deliveries[slot] = Math.max(this.deliveries[slot], deliveries);
  }

  liveInSeqOrder(): Uint32Array {
    const order = Uint32Array.from(this.live.values());
    this.live.clear();
    return order.sort((a, b) => this.seq[a] - this.seq[b]);
  }

  #grow(): void {
    const grow = <T extends Float64Array | Uint32Array>(array: T): T => {
      const bigger = new (array.constructor as { new (n: number): T })(array.length * 2);
      bigger.set(array);
      return bigger;
    };
    this.seq = grow(this.seq);
    this.segment = grow(this.segment);
    this.recordOffset = grow(this.recordOffset);
    this.recordBytes = grow(this.recordBytes);
    this.bodyBytes = grow(this.bodyBytes);
    this.deliveries = grow(this.deliveries);
    this.queue = grow(this.queue);
  }
}

/**
 * The live messages recovery found, in sequence order, kept as numbers:
 * `read(i)` reads one's record back (headers and all, body not read) when
 * the broker indexes it; a spilled tail needs only `placeOf(i)`.
 */
export class RecoveredMessages implements Iterable<LoggedMessage> {
  #log: MessageLog;
  #index: RecoveryIndex;
  #order: Uint32Array;

  constructor(log: MessageLog, index: RecoveryIndex, order: Uint32Array) {
    this.#log = log;
    this.#index = index;
    this.#order = order;
  }

  get length(): number {
    return this.#order.length;
  }

  seqOf(i: number): number {
    return this.#index.seq[this.#order[i]];
  }

  queueOf(i: number): string {
    return this.#index.queues[this.#index.queue[this.#order[i]]];
  }

  placeOf(i: number): LogPosition {
    const slot = this.#order[i];
    return { segment: this.#index.segment[slot], offset: this.#index.recordOffset[slot] };
  }

  bodyBytesOf(i: number): number {
    return this.#index.bodyBytes[this.#order[i]];
  }

  deliveriesOf(i: number): number {
    return this.#index.deliveries[this.#order[i]];
  }

  /** The message's record, with its delivery count as the log last said it. */
  read(i: number): LoggedMessage {
    const message = this.#log.readRecord(this.placeOf(i));
    message.deliveries = Math.max(message.deliveries, this.deliveriesOf(i));
    return message;
  }

  /** Every one read back (tests, small logs). */
  all(): LoggedMessage[] {
    return Array.from({ length: this.length }, (_, i) => this.read(i));
  }

  *[Symbol.iterator](): Iterator<LoggedMessage> {
    for (let i = 0; i < this.length; i++) yield this.read(i);
  }
}

/** Recovery reads a segment this many bytes at a time (more for a larger record). */
const RECOVERY_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Reads a segment's records into `index`, a chunk at a time (so recovery
 * holds one chunk, not the whole segment), until the end or the first bad
 * or torn record; returns where it stopped.
 */
function readSegment(
  handle: FileHandle,
  fileBytes: number,
  segment: number,
  index: RecoveryIndex,
  chunkBytes: number,
): { end: number; seqMax: number } {
  let chunk = new Uint8Array(Math.min(chunkBytes, fileBytes));
  let at = 0;
  let seqMax = 0;
  while (at < fileBytes) {
    const n = Math.min(chunk.length, fileBytes - at);
    const window = chunk.subarray(0, n);
    if (handle.readAt(window, at) !== n) break;
    const parsed = parseRecords(window, segment, index, at);
    seqMax = Math.max(seqMax, parsed.seqMax);
    at += parsed.end;
    if (parsed.stop === "bad") break;
    if (parsed.stop === "incomplete") {
      // A record runs past the chunk: read on from it, in a chunk big
      // enough for it; past the file's end it is a torn tail.
      const recordBytes = parsed.needBytes;
      if (at + recordBytes > fileBytes) break;
      if (recordBytes > chunk.length) chunk = new Uint8Array(recordBytes);
    }
  }
  return { end: at, seqMax };
}

/**
 * Reads the records of `bytes` (at file offset `base`) into `index`; stops
 * at the end, at a bad record, or at one that runs past `bytes`.
 */
function parseRecords(
  bytes: Uint8Array,
  segment: number,
  index: RecoveryIndex,
  base: number,
): { end: number; seqMax: number; stop: "end" | "bad" | "incomplete"; needBytes: number } {
  let seqMax = 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const stopped = (stop: "end" | "bad" | "incomplete", needBytes = 0) => ({
    end: at,
    seqMax,
    stop,
    needBytes,
  });
  while (at < bytes.length) {
    if (at + RECORD_HEAD_BYTES > bytes.length) return stopped("incomplete", RECORD_HEAD_BYTES);
    const payloadBytes = view.getUint32(at);
    if (payloadBytes < 9 || payloadBytes > RECORD_BYTES_MAX) return stopped("bad");
    const start = at + RECORD_HEAD_BYTES;
    const end = start + payloadBytes;
    if (end > bytes.length) return stopped("incomplete", RECORD_HEAD_BYTES + payloadBytes);
    if (crc32(bytes, start, end) !== view.getUint32(at + 4)) return stopped("bad");
    const type = bytes[start];
    const seq = view.getFloat64(start + 1);
    seqMax = Math.max(seqMax, seq);
    if (type === ACK) {
      index.live.delete(seq);
    } else if (type === DELIVER) {
      if (payloadBytes < 13) return stopped("bad");
      index.delivered(seq, view.getUint32(start + 9));
    } else if (type === ENQUEUE) {
      let p = start + 9;
      const queueBytes = view.getUint16(p);
      p += 2;
      const queue = decoder.decode(bytes.subarray(p, p + queueBytes));
      p += queueBytes;
      const metaBytes = view.getUint32(p);
      p += 4;
      // Only the delivery count is kept; headers are read again when the
      // broker indexes the message, bodies when it delivers it.
      const meta: StoredMeta = JSON.parse(decoder.decode(bytes.subarray(p, p + metaBytes)));
      p += metaBytes;
      index.add(seq, queue, segment, base + at, end - at, end - p, meta.d);
    } else {
      return stopped("bad");
    }
    at = end;
  }
  return stopped("end");
}

interface StoredMeta {
  h: Header[];
  p: number;
  e: number;
  n: number;
  t: number;
  d: number;
}

function toLogged(
  seq: number,
  queue: string,
  meta: StoredMeta,
  segment: number,
  recordAt: number,
  bodyAt: number,
  end: number,
): LoggedMessage {
  return {
    seq,
    queue,
    headers: meta.h,
    priority: meta.p,
    expiresAt: meta.e,
    notBefore: meta.n,
    timestamp: meta.t,
    deliveries: meta.d,
    bodyBytes: end - bodyAt,
    body: undefined,
    segment,
    offset: bodyAt,
    recordOffset: recordAt,
    nextOffset: end,
  };
}
