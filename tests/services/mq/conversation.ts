// Scripted STOMP conversations over raw sockets, recorded as normalised
// transcripts, so the same script can run against our broker and against
// RabbitMQ's STOMP plugin and the two transcripts be compared line by line
// (rabbit_differential_test.ts).
//
// A transcript line is one frame a peer received (or "closed"), with what
// legitimately differs between brokers taken out: `server`, `session`,
// timestamps and RabbitMQ's own extra headers are dropped; message ids
// become <id> (and a 1.2 `ack` equal to its message-id too);
// an ERROR keeps its command and `receipt-id` / `version` only (the wording
// of `message` and of the body is each broker's own). Frames read in one
// batch are recorded MESSAGEs first (in arrival order per subscription),
// then RECEIPTs: a broker may write a RECEIPT before or after deliveries
// that the same frame caused (RabbitMQ's queue processes run apart from
// the connection's), and STOMP does not order them.

import { utf8 } from "../../../lib/bytes.ts";
import { type Frame, headerOf } from "../../../lib/stomp/types.ts";
import { RawStomp } from "./raw.ts";

/** How long one expected frame may take before the conversation fails (never a pass/fail timing). */
const READ_TIMEOUT_MS = 15_000;

/** Headers one broker writes and the other does not, by design (see docs/mq.md). */
const IGNORED_HEADERS = new Set([
  "server",
  "session",
  "timestamp",
  // RabbitMQ: AMQP properties surfaced as STOMP headers.
  "persistent",
  "priority",
  "x-death",
  // Ours: a delivery count on redelivery (RabbitMQ's classic queues have none).
  "x-delivery-count",
]);

/** Headers RabbitMQ copies from a SEND into its MESSAGE that are the SEND frame's own. */
const SEND_FRAME_HEADERS = new Set(["receipt", "transaction"]);

export interface Target {
  name: string;
  port: number;
  login: string;
  passcode: string;
  /**
   * True for our broker: an ERROR must carry the bad frame's receipt as
   * `receipt-id` and be followed by the close, as STOMP 1.2 says ("ERROR").
   * RabbitMQ does neither (its ERRORs after CONNECTED leave the connection
   * open and carry no receipt-id; after a failed CONNECT it closes 10 s
   * later): for it the harness closes the socket itself. docs/mq.md lists it.
   */
  strict: boolean;
}

export class Conversation {
  readonly lines: string[] = [];
  readonly target: Target;
  /** Prefix making this run's destination names unique on a long-lived broker. */
  readonly prefix: string;
  #peers: Peer[] = [];

  constructor(target: Target, prefix: string) {
    this.target = target;
    this.prefix = prefix;
  }

  /** `{q}` in a script stands for this run's unique prefix. */
  expand(text: string): string {
    return text.replaceAll("{q}", this.prefix).replaceAll("{login}", this.target.login)
      .replaceAll("{passcode}", this.target.passcode);
  }

  /** Opens a connection and sends CONNECT with exactly `headers`. */
  async open(label: string, headers = "accept-version:1.2\nhost:/\n"): Promise<Peer> {
    const peer = await this.raw(label);
    await peer.write(`CONNECT\n${headers}\n\0`);
    return peer;
  }

  /** Opens a connection that has sent nothing yet. */
  async raw(label: string): Promise<Peer> {
    const peer = new Peer(this, label, await RawStomp.open(this.target.port));
    this.#peers.push(peer);
    return peer;
  }

  /** Opens, logs in and reads CONNECTED (recorded). */
  async connect(label: string, headers = "accept-version:1.2\nhost:/\n"): Promise<Peer> {
    const peer = await this.open(
      label,
      `${headers}login:${this.target.login}\npasscode:${this.target.passcode}\n`,
    );
    const [connected] = await peer.expect(1);
    if (connected?.command === "CONNECTED") {
      peer.raw.version = (headerOf(connected, "version") ?? "1.0") as RawStomp["version"];
    }
    return peer;
  }

  note(text: string): void {
    this.lines.push(`# ${text}`);
  }

  record(label: string, frame: Frame): void {
    this.lines.push(`${label} < ${this.normalise(frame)}`);
  }

  normalise(frame: Frame): string {
    const headers: [string, string][] = [];
    for (const [name, value] of frame.headers) {
      if (IGNORED_HEADERS.has(name)) continue;
      if (frame.command === "MESSAGE" && SEND_FRAME_HEADERS.has(name)) continue;
      if (frame.command === "ERROR" && name !== "receipt-id" && name !== "version") continue;
      if (headers.some(([seen]) => seen === name)) continue;
      let shown = value.replaceAll(this.prefix, "{q}");
      // RabbitMQ gives every delivery a new message-id; ours names the
      // message, so a redelivery keeps its id. Both are unique per message
      // as the spec asks; the transcript keeps only that `ack` repeats it.
      if (name === "message-id") shown = "<id>";
      if (name === "ack") shown = value === headerOf(frame, "message-id") ? "<id>" : "<ack>";
      // A temp queue's name is each broker's own (RabbitMQ: amq.gen-...).
      if (name === "reply-to") shown = shown.replace(/^\/reply-queue\/.*$/, "/reply-queue/<id>");
      if (
        name === "destination" && headerOf(frame, "subscription")?.startsWith("/temp-queue/")
      ) shown = "<temp queue>";
      headers.push([name, shown]);
    }
    headers.sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
    const body = frame.command === "ERROR" ? "" : new TextDecoder().decode(frame.body);
    return [frame.command, ...headers.map(([n, v]) => `${n}:${JSON.stringify(v)}`)].join(" ") +
      (body.length > 0 ? ` | ${JSON.stringify(body)}` : "");
  }

  close(): void {
    for (const peer of this.#peers) peer.raw.close();
  }
}

export class Peer {
  readonly conversation: Conversation;
  readonly label: string;
  readonly raw: RawStomp;
  /** Frames read but not yet recorded (read ahead of an expect). */
  #closed = false;
  #connected = false;

  constructor(conversation: Conversation, label: string, raw: RawStomp) {
    this.conversation = conversation;
    this.label = label;
    this.raw = raw;
  }

  async write(text: string | Uint8Array<ArrayBuffer>): Promise<void> {
    const bytes = typeof text === "string" ? utf8(this.conversation.expand(text)) : text;
    await this.raw.write(bytes);
  }

  /** Sends a frame and records what the peer sent (for the reader of a failing diff). */
  async send(text: string): Promise<void> {
    this.conversation.lines.push(
      `${this.label} > ${JSON.stringify(text.replace(/\0$/, "").split("\n", 1)[0])}`,
    );
    await this.write(text);
  }

  async #read(): Promise<Frame | null> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => {
        timedOut = true;
        this.raw.close();
        resolve(null);
      }, READ_TIMEOUT_MS);
    });
    try {
      const frame = await Promise.race([this.raw.read(), timeout]);
      if (timedOut) {
        throw new Error(
          `${this.conversation.target.name}: ${this.label} waited in vain for a frame; so far:\n${
            this.conversation.lines.join("\n")
          }`,
        );
      }
      return frame;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Reads `count` frames (recorded MESSAGEs first, then the rest), or fewer if it closes. */
  async expect(count: number): Promise<Frame[]> {
    const frames: Frame[] = [];
    while (frames.length < count) {
      const frame = await this.#read();
      if (frame === null) {
        this.#closed = true;
        break;
      }
      frames.push(frame);
    }
    const rank = (f: Frame) => f.command === "MESSAGE" ? 0 : f.command === "RECEIPT" ? 1 : 2;
    const ordered = frames.map((frame, i) => ({ frame, i })).sort((a, b) =>
      rank(a.frame) - rank(b.frame) ||
      (headerOf(a.frame, "subscription") ?? "").localeCompare(
        headerOf(b.frame, "subscription") ?? "",
      ) || a.i - b.i
    );
    for (const { frame } of ordered) {
      if (frame.command === "CONNECTED") this.#connected = true;
      this.conversation.record(this.label, frame);
    }
    if (this.#closed) this.conversation.lines.push(`${this.label} closed`);
    return ordered.map(({ frame }) => frame);
  }

  /**
   * Reads an ERROR (recorded as the command alone: each broker words its own
   * `message`), checks `receipt-id` and the close on a strict target, and
   * closes the socket.
   */
  async expectError(receipt?: string): Promise<void> {
    const frame = await this.#read();
    const target = this.conversation.target;
    if (frame === null) {
      this.conversation.lines.push(`${this.label} closed without an ERROR`);
      this.#closed = true;
      return;
    }
    if (frame.command !== "ERROR") {
      this.conversation.record(this.label, frame);
      return;
    }
    const version = headerOf(frame, "version");
    this.conversation.lines.push(
      `${this.label} < ERROR` + (this.#connected ? "" : ` version:${JSON.stringify(version)}`),
    );
    if (target.strict) {
      if (headerOf(frame, "receipt-id") !== receipt) {
        throw new Error(
          `${target.name}: ERROR with receipt-id ${headerOf(frame, "receipt-id")}, want ${receipt}`,
        );
      }
      await this.expectClosed();
      return;
    }
    this.raw.close();
    this.#closed = true;
    this.conversation.lines.push(`${this.label} closed`);
  }

  /** Reads every frame until the broker closes the connection. */
  async expectClosed(): Promise<void> {
    while (!this.#closed) {
      const frame = await this.#read();
      if (frame === null) break;
      this.conversation.record(this.label, frame);
    }
    this.#closed = true;
    this.conversation.lines.push(`${this.label} closed`);
  }
}
