// The outbox relay: publishes the spell.created events that POST could not
// (the mq was down or slow, or this process stopped between the commit and
// the receipt). Each event is a row of spell_events, inserted in the same
// transaction as its spell (datastore.ts), so none is lost; this loop is
// what gets it to the mq afterwards.
//
// Every interval, a cheap read asks whether any event is unclaimed; if so,
// up to BATCH of them are claimed (claimed_until moves forward, one UPDATE,
// so two API copies never claim the same row at once), and each is
// published with a receipt and then deleted. A claim runs out after
// claimMs: an event whose publisher died or failed is claimed again then.
// The relay stops at the first failure (the mq is down again; the
// publisher's backoff spaces the attempts) and tries again at the next tick.
//
// Delivery is at least once: a crash between the receipt and the delete
// publishes an event twice, which the worker already allows for (its mail
// carries a Message-ID made from the spell's id, docs/worker.md). The body
// is built from the spell's row as it is when the event goes out, so a
// spell renamed meanwhile is announced with its new name, and the event of a
// spell deleted meanwhile is dropped (there is nothing left to announce).

import type { Logger } from "@logtape/logtape";
import type { SpellsTable } from "./datastore.ts";
import { type EventPublisher, SPELL_CREATED_DESTINATION } from "./events.ts";
import { describe } from "./pool.ts";
import { spellCreatedEvent } from "./spells.ts";

/** Events claimed at a time. */
const BATCH = 100;

export interface OutboxRelayOptions {
  spells: SpellsTable;
  events: EventPublisher;
  log: Logger;
  /** Time between two looks at the outbox. */
  intervalMs: number;
  /** How long a claim holds: longer than a publish can take (its receipt timeout). */
  claimMs: number;
  /** Called for each event the relay published. */
  onRelayed?: () => void;
}

export class OutboxRelay {
  readonly #options: OutboxRelayOptions;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<number> | undefined;
  #closed = false;

  constructor(options: OutboxRelayOptions) {
    this.#options = options;
  }

  /** Starts the periodic relay (the timer does not keep the process alive). */
  start(): void {
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed) return;
    const timer = setTimeout(async () => {
      await this.runOnce();
      this.#schedule();
    }, this.#options.intervalMs);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  /**
   * One pass: publishes what is claimable now; resolves with the number of
   * events published. Never throws (a failure is logged and retried later).
   * Concurrent calls share one pass.
   */
  runOnce(): Promise<number> {
    this.#running ??= this.#pass().finally(() => this.#running = undefined);
    return this.#running;
  }

  async #pass(): Promise<number> {
    const { spells, events, log, claimMs } = this.#options;
    let published = 0;
    try {
      if (!spells.pool.up || !(await spells.anyClaimableEvent(new Date()))) return 0;
      const now = Date.now();
      const claimed = await spells.claimEvents(new Date(now), new Date(now + claimMs), BATCH);
      for (const { eventId, spellId } of claimed) {
        if (this.#closed) break;
        const spell = await spells.get(spellId);
        if (spell !== undefined) {
          await events.publish(SPELL_CREATED_DESTINATION, spellCreatedEvent(spell));
          published++;
          this.#options.onRelayed?.();
        } else {
          log.info("spell {id} was deleted before its spell.created event went out: dropped", {
            id: spellId,
          });
        }
        await spells.deleteEvent(eventId);
      }
      if (published > 0) log.info("relayed {n} spell.created events", { n: published });
    } catch (error) {
      log.debug("outbox relay: {error}; trying again later", { error: describe(error) });
    }
    return published;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}
