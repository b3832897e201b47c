// Publishes `spell.created` to the mq over STOMP (lib/stomp/client.ts): one
// SEND to /queue/spell.created, persistent, with a receipt, so the event is
// durable in the broker before POST answers 201 (docs/http_api.md, the
// contract with the worker).
//
// The row is the source of truth and the event a notification: when the mq
// is down or does not answer in time, the spell is still created, the
// failure is logged and counted (http_api_events_unpublished_total), and
// the answer is still 201; the event waits in the outbox table, which
// outbox.ts relays.
//
// One connection, opened on first use and again after it breaks, no sooner
// than the backoff allows (pool.ts Backoff): a dead mq costs a POST nothing.

import type { Logger } from "@logtape/logtape";
import { StompClient } from "../../lib/stomp/client.ts";
import { Backoff, DependencyDown, describe } from "./pool.ts";

export const SPELL_CREATED_DESTINATION = "/queue/spell.created";

export interface EventPublisherOptions {
  hostname: string;
  port: number;
  login?: string;
  passcode?: string;
  log: Logger;
  /** Time for the connect and for the RECEIPT: 2 s. */
  timeoutMs?: number;
}

export class EventPublisher {
  readonly #options: EventPublisherOptions;
  readonly #backoff = new Backoff();
  #client: Promise<StompClient> | undefined;
  #closed = false;
  /** The last failure, while the mq is down. */
  lastError: string | undefined;

  constructor(options: EventPublisherOptions) {
    this.#options = options;
  }

  get up(): boolean {
    return this.lastError === undefined;
  }

  /** Sends one persistent message and waits for its receipt; throws DependencyDown on failure. */
  async publish(destination: string, body: string): Promise<void> {
    const client = await this.#connected();
    try {
      await this.#withTimeout(
        client.send(destination, body, {
          receipt: true,
          headers: { "content-type": "application/json", persistent: "true" },
        }),
        "receipt",
      );
      this.#recovered();
    } catch (error) {
      client.close();
      this.#client = undefined;
      this.#failed(error);
      throw new DependencyDown("mq", `mq: ${describe(error)}`, { cause: error });
    }
  }

  /** For /readyz: a connection is open (or can be opened now). */
  async ping(): Promise<void> {
    await this.#connected();
  }

  #connected(): Promise<StompClient> {
    if (this.#closed) return Promise.reject(new DependencyDown("mq", "mq: publisher closed"));
    if (this.#client !== undefined) {
      const current = this.#client;
      return current.then((client) => {
        if (!client.closed) return client;
        // The broker went away since (EOF seen by the reader loop): reconnect.
        if (this.#client === current) this.#client = undefined;
        return this.#connected();
      });
    }
    if (!this.#backoff.open) {
      return Promise.reject(
        new DependencyDown(
          "mq",
          `mq is down (${this.lastError}); next reconnect in ${this.#backoff.waitMs} ms`,
        ),
      );
    }
    const { hostname, port, login, passcode } = this.#options;
    const connecting = StompClient.connect({ hostname, port, login, passcode });
    const connected = this.#withTimeout(connecting, "connect").then(
      (client) => {
        this.#recovered();
        return client;
      },
      (error) => {
        connecting.then((late) => late.close(), () => {});
        if (this.#client === connected) this.#client = undefined;
        this.#failed(error);
        throw new DependencyDown("mq", `mq: ${describe(error)}`, { cause: error });
      },
    );
    this.#client = connected;
    return connected;
  }

  async #withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
    const timeoutMs = this.#options.timeoutMs ?? 2_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        promise,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no ${what} within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  #failed(error: unknown): void {
    const wasUp = this.up;
    this.lastError = describe(error);
    this.#backoff.failed();
    if (wasUp) {
      this.#options.log.warn("mq is down: {error}; reconnecting with backoff", {
        error: this.lastError,
      });
    }
  }

  #recovered(): void {
    if (this.up) return;
    this.#backoff.succeeded();
    this.lastError = undefined;
    this.#options.log.info("mq is back");
  }

  async close(): Promise<void> {
    this.#closed = true;
    const client = await this.#client?.catch(() => undefined);
    this.#client = undefined;
    if (client !== undefined && !client.closed) {
      await client.disconnect().catch(() => client.close());
    }
  }
}
