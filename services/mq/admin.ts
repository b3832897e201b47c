// The mq admin API, JSON over HTTP on the admin port (lib/http Router, with
// lib/admin.ts's /healthz, /readyz and /metrics mounted beside it):
//
//   GET    /api/queues                       every durable queue: depth, consumers,
//                                            in-flight, bytes, dead letters, counters, rates
//   GET    /api/queues/:name                 one queue
//   POST   /api/queues/:name/messages        publish the request body (content-type kept);
//                                            201 once it is durable
//   GET    /api/queues/:name/messages?count=N  peek at the first N waiting messages
//                                            (default 10, at most 100) without consuming
//   DELETE /api/queues/:name/messages        purge the waiting messages
//   POST   /api/queues/:name/redrive         move NAME.dlq's messages back to NAME
//
// Rates are per second over the last sampling interval (`sample()`, called
// once a second by the service). Names are the queue's name without /queue/.

import type { Bytes } from "../../lib/bytes.ts";
import { type HttpResponse, json, jsonError, readBody } from "../../lib/http/message.ts";
import type { Router } from "../../lib/http/router.ts";
import { MetricsRegistry, syncCounter } from "../../lib/metrics.ts";
import type { Header } from "../../lib/stomp/types.ts";
import type { Broker, Queue } from "./broker.ts";
import { DEFAULT_SESSION_LIMITS, parseDestination, StompProtocolError } from "./session.ts";

const PEEK_MAX = 100;
/** A message published through the admin API: at most 1 MiB. */
const PUBLISH_BODY_BYTES_MAX = 1024 * 1024;

interface Sample {
  at: number;
  published: number;
  delivered: number;
  acked: number;
  rates: { published: number; delivered: number; acked: number };
}

export class MqAdmin {
  #broker: Broker;
  #samples = new Map<string, Sample>();

  constructor(broker: Broker) {
    this.#broker = broker;
  }

  /** Records counters to compute rates from. */
  sample(): void {
    const now = this.#broker.now();
    for (const queue of this.#broker.queues.values()) {
      const last = this.#samples.get(queue.name);
      const s = queue.stats;
      const rates = { published: 0, delivered: 0, acked: 0 };
      if (last !== undefined && now > last.at) {
        const seconds = (now - last.at) / 1000;
        rates.published = (s.published - last.published) / seconds;
        rates.delivered = (s.delivered - last.delivered) / seconds;
        rates.acked = (s.acked - last.acked) / seconds;
      }
      this.#samples.set(queue.name, {
        at: now,
        published: s.published,
        delivered: s.delivered,
        acked: s.acked,
        rates,
      });
    }
    for (const name of this.#samples.keys()) {
      if (!this.#broker.queues.has(name)) this.#samples.delete(name);
    }
  }

  describe(queue: Queue): Record<string, unknown> {
    const dlq = this.#broker.queues.get(`${queue.name}.dlq`);
    return {
      name: queue.name,
      destination: queue.destination,
      durable: queue.durable,
      depth: queue.depth,
      bytes: queue.bytes,
      consumers: queue.consumers.length,
      inFlight: queue.inFlight,
      deadLetters: dlq?.depth ?? 0,
      stats: { ...queue.stats },
      rates: this.#samples.get(queue.name)?.rates ?? { published: 0, delivered: 0, acked: 0 },
    };
  }

  /** Adds the /api routes to `router`. */
  mount(router: Router): Router {
    const broker = this.#broker;
    const durableQueues = () => [...broker.queues.values()].filter((q) => q.durable);
    const found = (name: string): Queue | undefined => {
      const queue = broker.queue(name);
      return queue?.durable ? queue : undefined;
    };
    const missing = (name: string): HttpResponse => jsonError(404, `no queue ${name}`);
    router.get("/api/queues", () => json({ queues: durableQueues().map((q) => this.describe(q)) }));
    router.get("/api/queues/:name", (request) => {
      const queue = found(request.params.name);
      return queue ? json(this.describe(queue)) : missing(request.params.name);
    });
    router.post("/api/queues/:name/messages", async (request) => {
      const name = request.params.name;
      try {
        parseDestination(`/queue/${name}`, DEFAULT_SESSION_LIMITS);
      } catch (error) {
        return jsonError(400, error instanceof Error ? error.message : String(error));
      }
      const body = await readBody(request, PUBLISH_BODY_BYTES_MAX) as Bytes;
      const headers: Header[] = [];
      const contentType = request.headers.get("content-type");
      if (contentType) headers.push(["content-type", contentType]);
      try {
        await broker.publishDirect(name, headers, body);
      } catch (error) {
        if (!(error instanceof StompProtocolError)) throw error;
        return jsonError(503, error.message);
      }
      return json({ queue: name, published: 1 }, 201);
    }, { bodyLimitBytes: PUBLISH_BODY_BYTES_MAX });
    router.get("/api/queues/:name/messages", (request) => {
      const queue = found(request.params.name);
      if (queue === undefined) return missing(request.params.name);
      const count = Math.min(
        PEEK_MAX,
        Math.max(1, Number(new URLSearchParams(request.query).get("count") ?? 10) || 10),
      );
      const messages = broker.peek(queue, count).map((m) => ({
        id: m.id,
        headers: Object.fromEntries(m.headers),
        priority: m.priority,
        deliveries: m.deliveries,
        timestamp: m.timestamp,
        body: new TextDecoder().decode(broker.bodyOf(m)),
      }));
      return json({ queue: queue.name, messages });
    });
    router.delete("/api/queues/:name/messages", (request) => {
      const queue = found(request.params.name);
      if (queue === undefined) return missing(request.params.name);
      return json({ queue: queue.name, purged: broker.purge(queue) });
    });
    router.post("/api/queues/:name/redrive", (request) => {
      const queue = found(request.params.name);
      if (queue === undefined) return missing(request.params.name);
      return json({ queue: queue.name, moved: broker.redrive(queue) });
    });
    return router;
  }
}

/** The mq's /metrics: per-queue gauges and counters, read at scrape time. */
export function mqMetrics(broker: Broker, extra: () => Record<string, number>): MetricsRegistry {
  const registry = new MetricsRegistry();
  const depth = registry.gauge("mq_queue_depth", "messages waiting", ["queue"]);
  const bytes = registry.gauge("mq_queue_bytes", "body bytes waiting", ["queue"]);
  const consumers = registry.gauge("mq_queue_consumers", "subscriptions", ["queue"]);
  const inFlight = registry.gauge("mq_queue_in_flight", "delivered, not yet acknowledged", [
    "queue",
  ]);
  const counters = {
    published: registry.counter("mq_messages_published_total", "messages accepted", ["queue"]),
    delivered: registry.counter("mq_messages_delivered_total", "deliveries", ["queue"]),
    acked: registry.counter("mq_messages_acked_total", "messages acknowledged", ["queue"]),
    redelivered: registry.counter("mq_messages_redelivered_total", "messages handed back", [
      "queue",
    ]),
    deadLettered: registry.counter("mq_messages_dead_lettered_total", "moved to the DLQ", [
      "queue",
    ]),
    expired: registry.counter("mq_messages_expired_total", "expired", ["queue"]),
    dropped: registry.counter("mq_messages_dropped_total", "dropped by overflow", ["queue"]),
  };
  const server = registry.gauge("mq_server", "server-wide figures", ["name"]);
  registry.onCollect(() => {
    for (const queue of broker.queues.values()) {
      if (!queue.durable) continue;
      const labels = { queue: queue.name };
      depth.set(labels, queue.depth);
      bytes.set(labels, queue.bytes);
      consumers.set(labels, queue.consumers.length);
      inFlight.set(labels, queue.inFlight);
      for (const [key, counter] of Object.entries(counters)) {
        syncCounter(counter, queue.stats[key as keyof typeof counters], labels);
      }
    }
    for (const [name, value] of Object.entries(extra())) server.set({ name }, value);
  });
  return registry;
}
