// The `worker` service: turns `spell.created` events from the mq into
// notification mail (docs/worker.md). It listens on no service port; its
// admin port (default 18009, `--port` + 10000 as for every service that
// does not speak HTTP) answers /healthz, /readyz and /metrics.
//
//   mq /queue/spell.created ──STOMP──> worker ──DNS MX──> resolver
//                                         └──SMTP──> the MX host (the stack's smtp)

import { type CheckResult, startAdminServer } from "../../lib/admin.ts";
import type { FlagSpecs } from "../../lib/cli.ts";
import { query, type ServerAddress } from "../../lib/dns/client.ts";
import { parseName } from "../../lib/dns/name.ts";
import { Rcode, RecordType } from "../../lib/dns/types.ts";
import { logger } from "../../lib/log.ts";
import { MetricsRegistry, syncCounter } from "../../lib/metrics.ts";
import { adminPortOf, commonFlags, defineService, type ServiceHandle } from "../../lib/service.ts";
import { domainOf, isMailbox } from "../../lib/smtp/command.ts";
import { Consumer, type ConsumerStats } from "./consumer.ts";
import { Notifier } from "./notifier.ts";

/** Nominal: the worker listens on no service port; its admin port is this + 10000. */
export const WORKER_PORT = 8009;

export const workerFlags = {
  ...commonFlags("worker", WORKER_PORT),
  port: {
    type: "port",
    default: WORKER_PORT,
    help: "nominal: the worker listens on no service port; the admin port defaults to port + 10000",
  },
  mq: { type: "string", default: "127.0.0.1:8006", help: "the mq's STOMP address ADDR:PORT" },
  "mq-user": { type: "string", help: "login for the mq (its --user)" },
  "mq-password": { type: "string", help: "passcode for --mq-user" },
  queue: {
    type: "string",
    default: "/queue/spell.created",
    help: "destination the events arrive on",
  },
  prefetch: {
    type: "integer",
    default: 8,
    help: "messages worked on at once (the subscription's prefetch-count)",
  },
  resolver: {
    type: "string",
    default: "127.0.0.1:5354",
    help: "DNS resolver ADDR:PORT asked for the recipient domain's MX",
  },
  "notify-to": {
    type: "string",
    default: "dev@example.com",
    help: "where the notification mail goes",
  },
  "notify-from": {
    type: "string",
    default: "spells@example.com",
    help: "the notification's sender (and the Message-ID's domain)",
  },
  "smtp-port": { type: "port", default: 25, help: "port of the mail exchangers" },
  helo: { type: "string", default: "localhost", help: "our name in SMTP's EHLO" },
  attempts: {
    type: "integer",
    default: 4,
    help: "mail attempts per delivery of a message before it goes back to the mq",
  },
  "retry-base-ms": {
    type: "integer",
    default: 500,
    help: "wait before the first retry, doubled per retry (with jitter)",
  },
  "retry-max-ms": { type: "integer", default: 30_000, help: "longest wait between retries" },
  "dns-timeout-ms": { type: "integer", default: 2_000, help: "per DNS query" },
  "smtp-timeout-ms": { type: "integer", default: 30_000, help: "per SMTP reply" },
} as const satisfies FlagSpecs;

/** Reconnects to the mq: from 100 ms, doubling, at most 5 s apart. */
const RECONNECT = { baseMs: 100, maxMs: 5_000 };
const MQ_CONNECT_TIMEOUT_MS = 10_000;
/** /readyz asks the resolver once per probe; probes come every few seconds. */
const READINESS_DNS_TIMEOUT_MS = 1_000;

export const service = defineService({
  name: "worker",
  summary: "background worker: spell.created events to mail",
  flags: workerFlags,
  start(config): Promise<ServiceHandle> {
    const log = logger("worker");
    const mq = parseHostPort(config.mq);
    const resolver = parseHostPort(config.resolver);
    const problems = [
      mq === undefined && `--mq: expected ADDR:PORT, got "${config.mq}"`,
      resolver === undefined && `--resolver: expected ADDR:PORT, got "${config.resolver}"`,
      !isMailbox(config.notifyTo) && `--notify-to: not an address: ${config.notifyTo}`,
      !isMailbox(config.notifyFrom) && `--notify-from: not an address: ${config.notifyFrom}`,
      config.mqPassword !== undefined && config.mqUser === undefined &&
      "--mq-password needs --mq-user",
      !(config.prefetch >= 1 && config.prefetch <= 65535) && "--prefetch must be 1-65535",
      !(config.attempts >= 1) && "--attempts must be at least 1",
      !(config.retryBaseMs >= 1 && config.retryMaxMs >= config.retryBaseMs) &&
      "--retry-base-ms must be at least 1 and at most --retry-max-ms",
    ].filter((p): p is string => typeof p === "string");
    if (problems.length > 0 || mq === undefined || resolver === undefined) {
      return Promise.reject(new TypeError(problems.join("; ")));
    }
    const notifier = new Notifier({
      resolver,
      smtpPort: config.smtpPort,
      helo: config.helo,
      from: config.notifyFrom,
      to: config.notifyTo,
      dnsTimeoutMs: config.dnsTimeoutMs,
      smtpTimeoutMs: config.smtpTimeoutMs,
    });
    const consumer = new Consumer({
      mq: { ...mq, login: config.mqUser, passcode: config.mqPassword },
      destination: config.queue,
      prefetch: config.prefetch,
      notifier,
      attemptsMax: config.attempts,
      retry: { baseMs: config.retryBaseMs, maxMs: config.retryMaxMs },
      reconnect: RECONNECT,
      connectTimeoutMs: MQ_CONNECT_TIMEOUT_MS,
      log,
    });
    const notifyDomain = domainOf(config.notifyTo);
    let admin;
    try {
      admin = startAdminServer({
        hostname: config.host,
        port: adminPortOf(config),
        label: "worker admin port",
        registry: workerMetrics(consumer),
        checks: () => ({ loop: { ok: true, detail: lastErrorText(consumer.stats) } }),
        readiness: async () => ({
          mq: consumer.connected
            ? { ok: true, detail: `consuming ${config.queue} on ${config.mq}` }
            : { ok: false, detail: `not connected to the mq at ${config.mq}` },
          resolver: await resolverCheck(resolver, notifyDomain),
        }),
      });
    } catch (error) {
      return Promise.reject(error);
    }
    consumer.start();
    log.info("mailing {to} about each event on {queue}; MX through {resolver}, port {port}", {
      to: config.notifyTo,
      queue: config.queue,
      resolver: config.resolver,
      port: config.smtpPort,
    });
    let closing: Promise<void> | undefined;
    const close = () =>
      closing ??= (async () => {
        await consumer.close();
        await admin.close();
      })();
    return Promise.resolve({
      addresses: { admin: admin.addr },
      ready: Promise.resolve(),
      close,
      [Symbol.asyncDispose]: close,
    });
  },
});

/** "127.0.0.1:5354" or "[::1]:5354"; undefined when malformed. */
export function parseHostPort(text: string): ServerAddress | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  if (match === null || Number(match[3]) > 65535) return undefined;
  return { hostname: match[1] ?? match[2], port: Number(match[3]) };
}

/** Readiness of the resolver: it answers the notify domain's MX question. */
async function resolverCheck(resolver: ServerAddress, domain: string): Promise<CheckResult> {
  try {
    const { message, elapsedMs } = await query(resolver, parseName(domain), RecordType.MX, {
      timeoutMs: READINESS_DNS_TIMEOUT_MS,
    });
    const ok = message.rcode === Rcode.NOERROR;
    const mx = message.answers.flatMap((r) => r.data.kind === "MX" ? [r.data.exchange] : []);
    return {
      ok,
      detail: ok
        ? `MX ${domain}: ${mx.join(", ") || "none (the domain itself)"} (${
          elapsedMs.toFixed(1)
        } ms)`
        : `MX ${domain}: rcode ${message.rcode}`,
    };
  } catch (error) {
    return { ok: false, detail: `MX ${domain}: ${error instanceof Error ? error.message : error}` };
  }
}

function lastErrorText(stats: ConsumerStats): string {
  const last = stats.lastError;
  return last === undefined
    ? "no error yet"
    : `last error at ${new Date(last.atMs).toISOString()}: ${last.message}`;
}

function workerMetrics(consumer: Consumer): MetricsRegistry {
  const registry = new MetricsRegistry();
  const processed = registry.counter(
    "worker_events_processed_total",
    "events mailed (250 after the data) and acknowledged",
  );
  const retried = registry.counter(
    "worker_retries_total",
    "mail attempts made after a temporary failure",
  );
  const requeued = registry.counter(
    "worker_events_requeued_total",
    "events handed back to the mq (NACK) after the attempts failed",
  );
  const deadLettered = registry.counter(
    "worker_events_dead_lettered_total",
    "events sent to the dead-letter queue, by reason",
    ["reason"],
  );
  // Both series from the start, so a dashboard sees 0 rather than nothing.
  for (const reason of ["poison", "permanent"]) deadLettered.inc({ reason }, 0);
  const ackLost = registry.counter(
    "worker_acks_lost_total",
    "events mailed whose ACK was lost: they come back and are mailed again",
  );
  const reconnects = registry.counter("worker_mq_reconnects_total", "reconnections to the mq");
  const connected = registry.gauge("worker_mq_connected", "1 while subscribed to the mq");
  const inFlight = registry.gauge("worker_events_in_flight", "events being worked on");
  const lastError = registry.gauge(
    "worker_last_error_timestamp_seconds",
    "when the last error happened (its text is in /healthz); 0: none yet",
  );
  registry.onCollect(() => {
    const s = consumer.stats;
    syncCounter(processed, s.processed);
    syncCounter(retried, s.retried);
    syncCounter(requeued, s.requeued);
    syncCounter(deadLettered, s.deadLettered.poison, { reason: "poison" });
    syncCounter(deadLettered, s.deadLettered.permanent, { reason: "permanent" });
    syncCounter(ackLost, s.ackLost);
    syncCounter(reconnects, s.reconnects);
    connected.set(undefined, consumer.connected ? 1 : 0);
    inFlight.set(undefined, consumer.inFlight);
    lastError.set(undefined, (s.lastError?.atMs ?? 0) / 1000);
  });
  return registry;
}
