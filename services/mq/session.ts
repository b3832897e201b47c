// One STOMP connection's protocol state, as a pure function (STYLE.md habit 6):
//
//   const step = sessionStep(state, frame, config);
//   // step.frames: sent back at once (CONNECTED, ERROR)
//   // step.effects: what the broker must do (send, subscribe, ack, ...)
//   // step.receipt: a RECEIPT to send once every effect is done (and durable)
//   // step.close: close the connection after writing
//
// `state` is owned by the session and updated in place; nothing here does
// I/O or reads a clock, so scripted transcripts run as unit tests.
//
// Follows STOMP 1.2 (stomp.github.io), with 1.0 and 1.1 negotiated through
// `accept-version` ("Protocol Negotiation"): CONNECT/STOMP, SEND, SUBSCRIBE
// (ack auto, client, client-individual; RabbitMQ's `prefetch-count`),
// UNSUBSCRIBE, ACK/NACK (the id header each version uses), BEGIN/COMMIT/ABORT
// (SENDs, ACKs and NACKs inside a transaction wait for its COMMIT), and
// DISCONNECT. Every ERROR frame says what was wrong in `message`, carries the
// bad frame's receipt as `receipt-id`, and closes the connection, as the
// spec requires.
//
// Destinations: /queue/NAME (durable, competing consumers; RabbitMQ's
// /amq/queue/NAME is the same), /topic/NAME (fan-out), /temp-queue/NAME
// (this connection's private reply queue) and /reply-queue/NAME (a temp
// queue of another connection, as reply-to rewrites it).
//
// Left out: RabbitMQ's /exchange/ destinations, selectors, durable topic
// subscriptions.

import {
  type Frame,
  type Header,
  headerOf,
  makeFrame,
  type StompVersion,
} from "../../lib/stomp/types.ts";
import { DecodeError } from "../../lib/errors.ts";
import { parseHeartBeat } from "../../lib/stomp/codec.ts";

export type AckMode = "auto" | "client" | "client-individual";

/** Where a frame points, parsed from its `destination` header. */
export type Destination =
  | { kind: "queue"; name: string }
  | { kind: "topic"; name: string }
  | { kind: "temp-queue"; name: string }
  | { kind: "reply-queue"; name: string };

export interface SessionLimits {
  /** Subscriptions per connection at most (RabbitMQ has none; one client rarely needs 100s). */
  readonly subscriptionsMax: number;
  /** Largest prefetch a subscription may ask for: unacknowledged messages per subscription. */
  readonly unackedPerSubscriptionMax: number;
  /** Open transactions per connection at most. */
  readonly transactionsMax: number;
  /** SEND/ACK/NACK frames buffered in one transaction at most (they are held in memory). */
  readonly transactionFramesMax: number;
  /**
   * Body bytes held by a connection's open transactions at most: they wait
   * in memory until COMMIT, so without this bound one client could hold
   * transactionsMax x transactionFramesMax frames.
   */
  readonly transactionBytesMax: number;
  /** Queue and topic names at most this many bytes (RabbitMQ's queue names: 255). */
  readonly destinationBytesMax: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = Object.freeze({
  subscriptionsMax: 1024,
  unackedPerSubscriptionMax: 65_535,
  transactionsMax: 64,
  transactionFramesMax: 10_000,
  transactionBytesMax: 64 * 1024 * 1024,
  destinationBytesMax: 255,
});

/** Prefetch when a subscription names none: ActiveMQ's queue prefetch, 1000. */
export const DEFAULT_PREFETCH = 1000;

export interface SessionConfig {
  /** When set, CONNECT must carry this login and `passcode`. */
  readonly login?: string;
  readonly passcode?: string;
  /** More logins and their passcodes (`--users-file`); any one of them may connect. */
  readonly users?: ReadonlyMap<string, string>;
  /** Shortest heart-beat period the broker agrees to, either way (ms). */
  readonly heartBeatMinMs: number;
  /** The `server` header of CONNECTED. */
  readonly serverName: string;
  /** The `session` header of CONNECTED. */
  readonly sessionId: string;
  readonly limits: SessionLimits;
}

export interface SubscriptionSpec {
  readonly id: string;
  readonly destination: Destination;
  /** The destination header as the client wrote it (echoed in MESSAGE frames). */
  readonly destinationText: string;
  readonly ack: AckMode;
  readonly prefetch: number;
}

/** A message as a SEND frame gives it. */
export interface Publish {
  readonly destination: Destination;
  readonly destinationText: string;
  /** User headers, in order: everything but the frame's own control headers. */
  readonly headers: Header[];
  readonly body: Uint8Array;
}

export type Effect =
  | { kind: "heart-beat"; sendEveryMs: number; expectEveryMs: number }
  | { kind: "send"; publish: Publish }
  | { kind: "subscribe"; subscription: SubscriptionSpec }
  | { kind: "unsubscribe"; id: string }
  | { kind: "ack"; id: string; subscription?: string }
  | { kind: "nack"; id: string; subscription?: string; requeue: boolean };

export interface Step {
  frames: Frame[];
  effects: Effect[];
  /** Answer with RECEIPT receipt-id:<this> once the effects are done. */
  receipt?: string;
  close: boolean;
}

export interface SessionState {
  phase: "connecting" | "connected" | "closed";
  version: StompVersion;
  subscriptions: Map<string, SubscriptionSpec>;
  transactions: Map<string, Effect[]>;
  /** Body bytes buffered in open transactions. */
  transactionBytes: number;
}

export function newSession(): SessionState {
  return {
    phase: "connecting",
    version: "1.2",
    subscriptions: new Map(),
    transactions: new Map(),
    transactionBytes: 0,
  };
}

/** A protocol error: becomes an ERROR frame and closes the connection. */
export class StompProtocolError extends Error {
  override name = "StompProtocolError";
  readonly detail: string;
  constructor(message: string, detail = "") {
    super(message);
    this.detail = detail;
  }
}

/** The one wire-error mapper (STYLE.md habit 5): an error to an ERROR frame. */
export function errorFrame(error: unknown, receiptId?: string, version?: string): Frame {
  const message = error instanceof Error ? error.message : String(error);
  const detail = error instanceof StompProtocolError ? error.detail : "";
  const headers: Header[] = [["message", oneLine(message)]];
  if (receiptId !== undefined) headers.push(["receipt-id", receiptId]);
  if (version !== undefined) headers.push(["version", version]);
  const body = new TextEncoder().encode(detail);
  headers.push(["content-type", "text/plain"], ["content-length", String(body.length)]);
  return makeFrame("ERROR", headers, body as Uint8Array<ArrayBuffer>);
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, " ").slice(0, 512);
}

type Handler = (state: SessionState, frame: Frame, config: SessionConfig) => Step;

/** Handles one frame; never throws (a bad frame becomes an ERROR step). */
export function sessionStep(state: SessionState, frame: Frame, config: SessionConfig): Step {
  const receipt = headerOf(frame, "receipt");
  try {
    if (state.phase === "closed") throw new StompProtocolError("the session is closed");
    if (state.phase === "connecting") {
      if (frame.command !== "CONNECT" && frame.command !== "STOMP") {
        throw new StompProtocolError(`expected CONNECT, got ${frame.command}`);
      }
      return connect(state, frame, config);
    }
    const handler = HANDLERS[frame.command];
    if (handler === undefined) {
      throw new StompProtocolError(`unknown command ${frame.command}`);
    }
    return handler(state, frame, config);
  } catch (error) {
    const connecting = state.phase === "connecting";
    state.phase = "closed";
    if (!(error instanceof StompProtocolError || error instanceof DecodeError)) throw error;
    // Before CONNECTED the client does not know our versions yet: say them
    // (1.2 "Protocol Negotiation"; RabbitMQ does the same).
    const versions = connecting ? SUPPORTED_VERSIONS : undefined;
    return { frames: [errorFrame(error, receipt, versions)], effects: [], close: true };
  }
}

const HANDLERS: Readonly<Record<string, Handler>> = {
  CONNECT: () => {
    throw new StompProtocolError("already connected");
  },
  STOMP: () => {
    throw new StompProtocolError("already connected");
  },
  SEND: send,
  SUBSCRIBE: subscribe,
  UNSUBSCRIBE: unsubscribe,
  ACK: (state, frame, config) => ackOrNack(state, frame, config, "ack"),
  NACK: (state, frame, config) => ackOrNack(state, frame, config, "nack"),
  BEGIN: begin,
  COMMIT: commit,
  ABORT: abort,
  DISCONNECT: (state, frame) => {
    state.phase = "closed";
    return { frames: [], effects: [], receipt: headerOf(frame, "receipt"), close: true };
  },
};

function done(frame: Frame, effects: Effect[] = [], frames: Frame[] = []): Step {
  return { frames, effects, receipt: headerOf(frame, "receipt"), close: false };
}

function required(frame: Frame, name: string): string {
  const value = headerOf(frame, name);
  if (value === undefined || value === "") {
    throw new StompProtocolError(`${frame.command} without a ${name} header`);
  }
  return value;
}

/**
 * The `version` header of an ERROR refusing a CONNECT: "the versions the
 * server supports, comma separated" (1.2 "Protocol Negotiation").
 */
export const SUPPORTED_VERSIONS = "1.0,1.1,1.2";

/** Picks the highest version both sides speak; none in common is an ERROR. */
export function negotiateVersion(acceptVersion: string | undefined): StompVersion | undefined {
  if (acceptVersion === undefined) return "1.0";
  const offered = acceptVersion.split(",").map((v) => v.trim());
  for (const version of ["1.2", "1.1", "1.0"] as const) {
    if (offered.includes(version)) return version;
  }
  return undefined;
}

function connect(state: SessionState, frame: Frame, config: SessionConfig): Step {
  const version = negotiateVersion(headerOf(frame, "accept-version"));
  if (version === undefined) {
    state.phase = "closed";
    const error = new StompProtocolError(
      `Supported protocol versions are ${SUPPORTED_VERSIONS}`,
      `accept-version was ${headerOf(frame, "accept-version")}`,
    );
    return {
      frames: [errorFrame(error, headerOf(frame, "receipt"), SUPPORTED_VERSIONS)],
      effects: [],
      close: true,
    };
  }
  if (config.login !== undefined || (config.users?.size ?? 0) > 0) {
    const login = headerOf(frame, "login");
    const passcode = headerOf(frame, "passcode");
    const known = login !== undefined &&
      ((login === config.login && passcode === config.passcode) ||
        (config.users?.has(login) === true && config.users.get(login) === passcode));
    if (!known) throw new StompProtocolError("Access refused", "bad login or passcode");
  }
  // 1.1 "Heart-beating": CONNECT says cx (can send), cy (wants to receive).
  const [cx, cy] = parseHeartBeat(headerOf(frame, "heart-beat"));
  const expectEveryMs = cx === 0 ? 0 : Math.max(cx, config.heartBeatMinMs);
  const sendEveryMs = cy === 0 ? 0 : Math.max(cy, config.heartBeatMinMs);
  state.phase = "connected";
  state.version = version;
  const connected = makeFrame("CONNECTED", {
    version,
    "heart-beat": `${sendEveryMs},${expectEveryMs}`,
    server: config.serverName,
    session: config.sessionId,
  });
  return {
    frames: [connected],
    effects: [{ kind: "heart-beat", sendEveryMs, expectEveryMs }],
    close: false,
  };
}

/** Parses a destination header; unknown prefixes are an ERROR, as RabbitMQ's are. */
export function parseDestination(text: string, limits: SessionLimits): Destination {
  const match = /^\/(queue|amq\/queue|topic|temp-queue|reply-queue)\/(.+)$/.exec(text);
  if (match === null) {
    throw new StompProtocolError(
      `Unknown destination ${text}`,
      "destinations are /queue/NAME, /topic/NAME, /temp-queue/NAME or /reply-queue/NAME",
    );
  }
  const name = match[2];
  if (new TextEncoder().encode(name).length > limits.destinationBytesMax) {
    throw new StompProtocolError(
      `destination name longer than ${limits.destinationBytesMax} bytes`,
    );
  }
  if (name.includes("/") || hasControlCharacter(name)) {
    throw new StompProtocolError(`destination name ${name} has a '/' or a control character`);
  }
  const kind = match[1] === "amq/queue" ? "queue" : match[1] as Destination["kind"];
  return { kind, name } as Destination;
}

/** Headers of SEND that are the frame's own, not the message's. */
const CONTROL_HEADERS = new Set(["destination", "receipt", "transaction", "content-length"]);

function send(state: SessionState, frame: Frame, config: SessionConfig): Step {
  const destinationText = required(frame, "destination");
  const destination = parseDestination(destinationText, config.limits);
  const headers: Header[] = [];
  const seen = new Set<string>();
  for (const header of frame.headers) {
    if (CONTROL_HEADERS.has(header[0]) || seen.has(header[0])) continue;
    seen.add(header[0]);
    headers.push(header);
  }
  const effect: Effect = {
    kind: "send",
    publish: { destination, destinationText, headers, body: frame.body },
  };
  return inTransaction(state, frame, config, effect);
}

function inTransaction(
  state: SessionState,
  frame: Frame,
  config: SessionConfig,
  effect: Effect,
): Step {
  const transaction = headerOf(frame, "transaction");
  if (transaction === undefined) return done(frame, [effect]);
  const buffered = state.transactions.get(transaction);
  if (buffered === undefined) throw new StompProtocolError(`unknown transaction ${transaction}`);
  if (buffered.length >= config.limits.transactionFramesMax) {
    throw new StompProtocolError(
      `transaction ${transaction} holds more than ${config.limits.transactionFramesMax} frames`,
    );
  }
  const bytes = effect.kind === "send" ? effect.publish.body.length : 0;
  if (state.transactionBytes + bytes > config.limits.transactionBytesMax) {
    throw new StompProtocolError(
      `open transactions hold more than ${config.limits.transactionBytesMax} body bytes`,
    );
  }
  state.transactionBytes += bytes;
  buffered.push(effect);
  return done(frame);
}

function subscribe(state: SessionState, frame: Frame, config: SessionConfig): Step {
  const destinationText = required(frame, "destination");
  const destination = parseDestination(destinationText, config.limits);
  if (destination.kind === "reply-queue") {
    throw new StompProtocolError("cannot subscribe to another connection's /reply-queue/");
  }
  // 1.0 made `id` optional; the destination then names the subscription.
  const id = state.version === "1.0"
    ? headerOf(frame, "id") ?? destinationText
    : required(frame, "id");
  if (state.subscriptions.has(id)) {
    throw new StompProtocolError(`subscription ${id} already exists`);
  }
  if (state.subscriptions.size >= config.limits.subscriptionsMax) {
    throw new StompProtocolError(`more than ${config.limits.subscriptionsMax} subscriptions`);
  }
  const ack = headerOf(frame, "ack") ?? "auto";
  if (ack !== "auto" && ack !== "client" && ack !== "client-individual") {
    throw new StompProtocolError(`unknown ack mode ${ack}`);
  }
  const prefetchText = headerOf(frame, "prefetch-count") ??
    headerOf(frame, "activemq.prefetchSize");
  let prefetch = DEFAULT_PREFETCH;
  if (prefetchText !== undefined) {
    if (!/^[0-9]{1,9}$/.test(prefetchText)) {
      throw new StompProtocolError(`prefetch-count is not a number: ${prefetchText}`);
    }
    // RabbitMQ reads 0 as "no limit": ours is the per-subscription bound.
    prefetch = Number(prefetchText) === 0
      ? config.limits.unackedPerSubscriptionMax
      : Number(prefetchText);
  }
  if (prefetch > config.limits.unackedPerSubscriptionMax) {
    throw new StompProtocolError(
      `prefetch-count ${prefetch} is above the ${config.limits.unackedPerSubscriptionMax} unacknowledged messages a subscription may hold`,
    );
  }
  const subscription: SubscriptionSpec = { id, destination, destinationText, ack, prefetch };
  state.subscriptions.set(id, subscription);
  return done(frame, [{ kind: "subscribe", subscription }]);
}

function unsubscribe(state: SessionState, frame: Frame): Step {
  let id = headerOf(frame, "id");
  if (id === undefined && state.version === "1.0") id = headerOf(frame, "destination");
  if (id === undefined) throw new StompProtocolError("UNSUBSCRIBE without an id header");
  if (!state.subscriptions.delete(id)) throw new StompProtocolError(`no subscription ${id}`);
  return done(frame, [{ kind: "unsubscribe", id }]);
}

function ackOrNack(
  state: SessionState,
  frame: Frame,
  config: SessionConfig,
  kind: "ack" | "nack",
): Step {
  if (kind === "nack" && state.version === "1.0") {
    throw new StompProtocolError("NACK is not part of STOMP 1.0");
  }
  // 1.2 acknowledges by the MESSAGE's `ack` header, sent back as `id`;
  // 1.0 and 1.1 by `message-id` (1.1 adds `subscription`).
  const id = state.version === "1.2" ? required(frame, "id") : required(frame, "message-id");
  const subscription = headerOf(frame, "subscription");
  const effect: Effect = kind === "ack"
    ? { kind, id, subscription }
    : { kind, id, subscription, requeue: headerOf(frame, "requeue") !== "false" };
  return inTransaction(state, frame, config, effect);
}

function begin(state: SessionState, frame: Frame, config: SessionConfig): Step {
  const transaction = required(frame, "transaction");
  if (state.transactions.has(transaction)) {
    throw new StompProtocolError(`transaction ${transaction} already begun`);
  }
  if (state.transactions.size >= config.limits.transactionsMax) {
    throw new StompProtocolError(`more than ${config.limits.transactionsMax} open transactions`);
  }
  state.transactions.set(transaction, []);
  return done(frame);
}

function commit(state: SessionState, frame: Frame): Step {
  const transaction = required(frame, "transaction");
  const effects = state.transactions.get(transaction);
  if (effects === undefined) throw new StompProtocolError(`unknown transaction ${transaction}`);
  state.transactions.delete(transaction);
  state.transactionBytes -= bodyBytes(effects);
  return done(frame, effects);
}

function abort(state: SessionState, frame: Frame): Step {
  const transaction = required(frame, "transaction");
  const effects = state.transactions.get(transaction);
  if (effects === undefined) throw new StompProtocolError(`unknown transaction ${transaction}`);
  state.transactions.delete(transaction);
  state.transactionBytes -= bodyBytes(effects);
  return done(frame);
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 0x20) return true;
  return false;
}

function bodyBytes(effects: readonly Effect[]): number {
  let n = 0;
  for (const effect of effects) if (effect.kind === "send") n += effect.publish.body.length;
  return n;
}
