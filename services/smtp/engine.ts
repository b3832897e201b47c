// The bytes side of one SMTP connection, still without I/O: takes what the
// client sent, runs command lines through the session (session.ts) and
// message bodies through the DATA and BDAT machines (lib/smtp/data.ts), and
// returns the reply bytes plus the one effect the server must carry out
// before it can go on (store a message, start TLS, close). The server
// (server.ts) only reads, writes and stores; the transcript tests drive this
// engine directly, with no socket.
//
// Pipelining (RFC 2920): every complete command in the input is answered in
// one pass and the replies go out in one write; the engine stops at an
// effect, so a message is stored before the commands pipelined after it run.

import type { Bytes } from "../../lib/bytes.ts";
import { utf8 } from "../../lib/bytes.ts";
import { isIncomplete } from "../../lib/decode.ts";
import { DecodeError, LimitError } from "../../lib/errors.ts";
import { type CommandLimits, decodeCommandLine } from "../../lib/smtp/command.ts";
import { ChunkReader, DotDecoder } from "../../lib/smtp/data.ts";
import { formatReply, type Reply } from "../../lib/smtp/reply.ts";
import {
  abortTransaction,
  badLine,
  chunkEnded,
  dataEnded,
  type Envelope,
  handleLine,
  type Outcome,
  type SessionConfig,
  type SessionState,
  stored,
} from "./session.ts";

/** Where a message body goes while it arrives (the spool, or memory in tests). */
export interface BodySink {
  /** A new message body starts. */
  begin(): void;
  /** The next piece of the body: a view valid only during the call. */
  write(bytes: Bytes): void;
  /** The body is dropped (refused, or the connection ended). */
  discard(): void;
}

/** Replies forced on commands by fault injection (faults.ts); "DATA-END" for the final reply. */
export interface FaultSource {
  take(command: string): Reply | undefined;
}

/** What the server must do before feeding the engine again. */
export type Pending =
  | { kind: "store"; envelope: Envelope }
  | { kind: "start-tls" }
  | { kind: "close" };

export interface Step {
  /** Input bytes used. */
  bytesUsed: number;
  /** Reply text to write (may be empty). */
  output: string;
  /** Set when the server must act before feeding more. */
  pending: Pending | undefined;
}

export class SmtpEngine {
  readonly config: SessionConfig;
  readonly state: SessionState;
  readonly limits: CommandLimits;
  #sink: BodySink;
  #faults: FaultSource | undefined;
  #data: DotDecoder | undefined;
  #chunk: { reader: ChunkReader; sizeBytes: number; last: boolean } | undefined;

  constructor(
    config: SessionConfig,
    state: SessionState,
    options: { sink: BodySink; limits: CommandLimits; faults?: FaultSource },
  ) {
    this.#faults = options.faults;
    this.config = config;
    this.state = state;
    this.limits = options.limits;
    this.#sink = options.sink;
  }

  /** True while a message body is being read (the idle timeout is then the data one). */
  get inBody(): boolean {
    return this.#data !== undefined || this.#chunk !== undefined;
  }

  /** Runs `buf[from, to)` until the input is used up or an effect is pending. */
  feed(buf: Bytes, from: number, to: number): Step {
    let at = from;
    let output = "";
    while (true) {
      if (this.state.phase === "closed") {
        return { bytesUsed: to - from, output, pending: undefined };
      }
      if (this.#data !== undefined) {
        const data = this.#data;
        at += data.push(buf, at, to);
        if (!data.done) return { bytesUsed: at - from, output, pending: undefined };
        this.#data = undefined;
        const forced = this.#forcedEnd(data.tooLarge || data.bareLineEnds || data.nul);
        if (forced !== undefined) {
          output += forced;
          continue;
        }
        const outcome = dataEnded(this.config, this.state, data);
        if (outcome.effects.length === 0 || outcome.effects[0].kind !== "store") {
          this.#sink.discard();
        }
        const r = this.#apply(outcome);
        output += r.output;
        if (r.pending !== undefined) return { bytesUsed: at - from, output, pending: r.pending };
        continue;
      }
      if (this.#chunk !== undefined) {
        const chunk = this.#chunk;
        at += chunk.reader.push(buf, at, to);
        if (!chunk.reader.done) return { bytesUsed: at - from, output, pending: undefined };
        this.#chunk = undefined;
        const forced = chunk.last && !this.state.bdatFailed ? this.#forcedEnd(false) : undefined;
        if (forced !== undefined) {
          output += forced;
          continue;
        }
        const outcome = chunkEnded(this.config, this.state, chunk);
        const storing = outcome.effects.some((e) => e.kind === "store");
        if (!storing && (chunk.last || this.state.bdatFailed)) this.#sink.discard();
        const r = this.#apply(outcome);
        output += r.output;
        if (r.pending !== undefined) return { bytesUsed: at - from, output, pending: r.pending };
        continue;
      }
      if (at >= to) return { bytesUsed: at - from, output, pending: undefined };
      let decoded;
      try {
        decoded = decodeCommandLine(buf, this.limits, at, to);
      } catch (error) {
        if (!(error instanceof DecodeError || error instanceof LimitError)) throw error;
        const r = this.#apply(
          badLine(this.state, error instanceof LimitError ? "too-long" : "bare-line-end"),
        );
        return { bytesUsed: to - from, output: output + r.output, pending: r.pending };
      }
      if (isIncomplete(decoded)) return { bytesUsed: at - from, output, pending: undefined };
      at += decoded.bytesUsed;
      const forced = this.state.phase === "command"
        ? this.#faults?.take(decoded.value.verb)
        : undefined;
      if (forced !== undefined) {
        output += formatReply(forced);
        continue;
      }
      const r = this.#apply(handleLine(this.config, this.state, decoded.value));
      output += r.output;
      if (r.pending !== undefined) return { bytesUsed: at - from, output, pending: r.pending };
    }
  }

  /** An injected failure of the final reply: the message is dropped, the transaction too. */
  #forcedEnd(refusedAnyway: boolean): string | undefined {
    if (refusedAnyway) return undefined;
    const forced = this.#faults?.take("DATA-END");
    if (forced === undefined) return undefined;
    this.#sink.discard();
    abortTransaction(this.state);
    return formatReply(forced);
  }

  /** The store finished: the transaction's final reply. */
  stored(result: { ok: true; id: string } | { ok: false; message: string }): string {
    return this.#apply(stored(this.config, this.state, result)).output;
  }

  /** The connection ended: drop any body half received. */
  abort(): void {
    if (this.inBody || this.state.phase === "storing") this.#sink.discard();
    this.#data = undefined;
    this.#chunk = undefined;
  }

  #apply(outcome: Outcome): { output: string; pending: Pending | undefined } {
    let output = "";
    for (const r of outcome.replies) output += formatReply(r);
    let pending: Pending | undefined;
    for (const effect of outcome.effects) {
      switch (effect.kind) {
        case "read-data":
          this.#sink.begin();
          this.#data = new DotDecoder({
            sizeBytesMax: this.config.sizeBytesMax,
            onData: (bytes) => this.#sink.write(bytes),
          });
          break;
        case "read-chunk": {
          const { sizeBytes, last, discard } = effect;
          if (!discard && this.state.bdatBytes === 0) this.#sink.begin();
          const onData = discard ? () => {} : (bytes: Bytes) => this.#sink.write(bytes);
          // A zero-length chunk ("BDAT 0 LAST") is complete at once.
          this.#chunk = { reader: new ChunkReader(sizeBytes, onData), sizeBytes, last };
          break;
        }
        case "store":
        case "start-tls":
        case "close":
          pending = effect;
          break;
      }
    }
    return { output, pending };
  }
}

/** Reply text as bytes for the socket. */
export function replyBytes(text: string): Bytes {
  return utf8(text);
}

/** One reply's wire text (for the server's own messages: greeting, 421). */
export function replyText(r: Reply): string {
  return formatReply(r);
}
