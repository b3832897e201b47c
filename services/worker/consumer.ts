// The worker's queue loop: one STOMP connection to the mq, one
// subscription to /queue/spell.created with `ack:client-individual` and a
// prefetch, each message handled on its own (at most `prefetch` at once,
// since the broker sends no more until some are settled).
//
// For each message:
//   1. parse the body (event.ts); not a spell.created event: NACK with
//      `requeue:false`, which the mq turns into a move to
//      /queue/spell.created.dlq (x-death-reason: rejected). Never retried.
//   2. mail it (notifier.ts), retrying a temporary failure up to
//      `attemptsMax` times with backoff and jitter (backoff.ts). The
//      backoff continues across redeliveries: a message the mq hands back
//      for the k-th time (its `x-delivery-count`) starts waiting as if it
//      had already failed k times, so a long outage slows every message
//      down instead of spinning.
//   3. sent (250 after the data): ACK, with a receipt. Permanent failure
//      (5xx, null MX, NXDOMAIN): NACK requeue:false, to the dead-letter
//      queue. Still failing after the attempts: plain NACK, and the mq
//      redelivers it; past the mq's --max-deliveries it dead-letters it
//      (x-death-reason: delivery-limit). Nothing loops forever.
//
// At least once: the ACK goes out only after the 250, so a crash (or a
// lost connection) between the two leaves the message unacknowledged, the
// mq hands it back, and the mail is sent again. The copies carry the same
// Message-ID (mail.ts) for the receiver to drop the duplicate.
//
// When the connection drops (the mq restarts, a network error), messages
// still being worked on are abandoned (the broker has handed them back
// already) and the loop reconnects with backoff until the mq answers.

import type { Logger } from "../../lib/log.ts";
import { StompClient, type StompClientOptions, type StompMessage } from "../../lib/stomp/client.ts";
import { backoffDelayMs, type BackoffOptions, sleep } from "./backoff.ts";
import { parseSpellCreated } from "./event.ts";
import type { Notifier, Outcome } from "./notifier.ts";

export interface ConsumerOptions {
  /** How to reach the mq (port, login, passcode, ...). */
  mq: StompClientOptions;
  /** The queue's destination, e.g. "/queue/spell.created". */
  destination: string;
  /** Unacknowledged messages the broker may send us at once. */
  prefetch: number;
  notifier: Notifier;
  /** Mail attempts per delivery of a message before handing it back to the mq. */
  attemptsMax: number;
  retry: BackoffOptions;
  /** Between reconnects to the mq. */
  reconnect: BackoffOptions;
  /** How long connecting to the mq may take. */
  connectTimeoutMs: number;
  log: Logger;
  random?: () => number;
}

/** What the worker has done so far; the metrics read it. */
export interface ConsumerStats {
  /** Mails sent and their messages acknowledged. */
  processed: number;
  /** Attempts that followed a temporary failure. */
  retried: number;
  /** Messages handed back to the mq after `attemptsMax` temporary failures. */
  requeued: number;
  /** Messages sent to the dead-letter queue, by why. */
  deadLettered: { poison: number; permanent: number };
  /** Mails sent whose ACK was lost (the message will come back: a duplicate). */
  ackLost: number;
  /** Connections made to the mq after the first. */
  reconnects: number;
  lastError: { message: string; atMs: number } | undefined;
}

export class Consumer {
  readonly options: ConsumerOptions;
  readonly stats: ConsumerStats = {
    processed: 0,
    retried: 0,
    requeued: 0,
    deadLettered: { poison: 0, permanent: 0 },
    ackLost: 0,
    reconnects: 0,
    lastError: undefined,
  };
  #client: StompClient | undefined;
  #subscribed = false;
  #stopping = new AbortController();
  #inFlight = new Set<Promise<void>>();
  #loop: Promise<void> | undefined;

  constructor(options: ConsumerOptions) {
    this.options = options;
  }

  /** True while connected to the mq with the subscription in place. */
  get connected(): boolean {
    return this.#subscribed && this.#client !== undefined && !this.#client.closed;
  }

  /** Messages being worked on right now. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Starts consuming in the background (connecting, and reconnecting, by itself). */
  start(): void {
    this.#loop ??= this.#run();
  }

  /**
   * Stops taking messages; lets the ones being mailed finish (their retry
   * waits are cut short and they go back to the mq unacknowledged), then
   * disconnects.
   */
  async close(): Promise<void> {
    this.#stopping.abort();
    await Promise.all(this.#inFlight);
    await this.#disconnect();
    await this.#loop;
    // A connection made while the first disconnect ran.
    await this.#disconnect();
  }

  /** DISCONNECT with a receipt: every ACK sent before it is done. */
  async #disconnect(): Promise<void> {
    const client = this.#client;
    if (client !== undefined) await client.disconnect().catch(() => client.close());
  }

  async #run(): Promise<void> {
    const { log } = this.options;
    let failures = 0;
    let connections = 0;
    while (!this.#stopping.signal.aborted) {
      let subscribed = false;
      try {
        const client = await this.#connect();
        if (connections++ > 0) this.stats.reconnects++;
        await this.#consume(client);
      } catch (error) {
        this.#noteError(`mq: ${describe(error)}`);
        if (failures === 0) log.warn("mq connection failed: {error}", { error: describe(error) });
      } finally {
        subscribed = this.#subscribed;
        this.#subscribed = false;
      }
      if (this.#stopping.signal.aborted) break;
      // Only a connection that got as far as consuming resets the backoff: a broker that
      // accepts CONNECT and then refuses the SUBSCRIBE is retried slower and slower.
      if (subscribed) failures = 0;
      const delayMs = backoffDelayMs(failures++, this.options.reconnect, this.options.random);
      log.debug("reconnecting to the mq in {ms} ms", { ms: delayMs });
      await sleep(delayMs, this.#stopping.signal);
    }
  }

  async #connect(): Promise<StompClient> {
    const connecting = StompClient.connect(this.options.mq);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        connecting,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            connecting.then((client) => client.close(), () => {});
            reject(new Error(`no CONNECTED within ${this.options.connectTimeoutMs} ms`));
          }, this.options.connectTimeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Subscribes and handles messages until the connection ends. */
  async #consume(client: StompClient): Promise<void> {
    const { log, destination, prefetch } = this.options;
    this.#client = client;
    if (this.#stopping.signal.aborted) return;
    const subscription = client.subscribe(destination, {
      ack: "client-individual",
      headers: { "prefetch-count": prefetch },
      receipt: true,
    });
    await subscription.ready;
    this.#subscribed = true;
    log.info("consuming {destination} (prefetch {prefetch})", { destination, prefetch });
    for await (const message of subscription) {
      // Stopping: left unacknowledged, the broker hands it back at DISCONNECT.
      if (this.#stopping.signal.aborted) continue;
      const handling = this.#handle(client, message).catch((error) => {
        this.#noteError(describe(error));
        log.error("handling {id} failed: {error}", {
          id: message.messageId,
          error: describe(error),
        });
      });
      this.#inFlight.add(handling);
      handling.finally(() => this.#inFlight.delete(handling));
    }
    if (!this.#stopping.signal.aborted) {
      log.warn("mq connection lost: {error}", { error: describe(client.error ?? "closed") });
      this.#noteError(`mq connection lost: ${describe(client.error ?? "closed")}`);
    }
  }

  async #handle(client: StompClient, message: StompMessage): Promise<void> {
    const { log, attemptsMax, notifier } = this.options;
    const parsed = parseSpellCreated(message.body);
    if (!parsed.ok) {
      log.warn("poison message {id} to the dead-letter queue: {reason}", {
        id: message.messageId,
        reason: parsed.reason,
      });
      this.#noteError(`poison message: ${parsed.reason}`);
      await client.nack(message, { requeue: false, receipt: true });
      this.stats.deadLettered.poison++;
      return;
    }
    const { spell } = parsed;
    const previous = Number(message.header("x-delivery-count") ?? "0") || 0;
    let outcome: Outcome | undefined;
    for (let attempt = 0; attempt < attemptsMax; attempt++) {
      // Retry n overall (across redeliveries) waits backoff(n - 1).
      const overall = previous * attemptsMax + attempt;
      if (overall > 0) {
        if (attempt > 0) this.stats.retried++;
        const delayMs = backoffDelayMs(overall - 1, this.options.retry, this.options.random);
        if (!await sleep(delayMs, this.#stopping.signal)) return;
      }
      // The broker handed the message back when the connection ended: stop here.
      if (client.closed) return;
      outcome = await notifier.send(spell);
      if (outcome.kind !== "temporary") break;
      this.#noteError(outcome.reason);
      log.info("spell {id}: attempt {attempt} failed: {reason}", {
        id: spell.id,
        attempt: overall + 1,
        reason: outcome.reason,
      });
    }
    if (outcome === undefined) return;
    await this.#settle(client, message, spell.id, outcome);
  }

  async #settle(
    client: StompClient,
    message: StompMessage,
    spellId: string,
    outcome: Outcome,
  ): Promise<void> {
    const { log } = this.options;
    switch (outcome.kind) {
      case "sent":
        try {
          await client.ack(message, { receipt: true });
        } catch (error) {
          this.stats.ackLost++;
          this.#noteError(`ACK lost: ${describe(error)}`);
          log.warn(
            "spell {id}: mailed, but the ACK was lost ({error}); the mq will redeliver it and the mail will go out again with the same Message-ID",
            { id: spellId, error: describe(error) },
          );
          return;
        }
        this.stats.processed++;
        log.info("spell {id}: mailed via {host}: {reply}", {
          id: spellId,
          host: outcome.host,
          reply: outcome.reply,
        });
        return;
      case "permanent":
        this.#noteError(outcome.reason);
        log.warn("spell {id}: permanent failure, to the dead-letter queue: {reason}", {
          id: spellId,
          reason: outcome.reason,
        });
        await client.nack(message, { requeue: false, receipt: true });
        this.stats.deadLettered.permanent++;
        return;
      case "temporary":
        log.warn("spell {id}: still failing after {n} attempts, handed back to the mq: {reason}", {
          id: spellId,
          n: this.options.attemptsMax,
          reason: outcome.reason,
        });
        await client.nack(message, { receipt: true });
        this.stats.requeued++;
        return;
    }
  }

  #noteError(message: string): void {
    this.stats.lastError = { message, atMs: Date.now() };
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
