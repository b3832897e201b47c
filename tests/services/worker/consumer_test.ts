// The consumer's reconnect loop against the real mq: a broker that accepts
// CONNECT but refuses the SUBSCRIBE (an unknown destination prefix is an
// ERROR, as in RabbitMQ) is retried with a growing backoff, not in a tight
// loop. The waits are read from the consumer's own debug log, so nothing
// here depends on timing.

import assert from "node:assert/strict";
import type { Logger } from "../../../lib/log.ts";
import { service as mqService } from "../../../services/mq/mod.ts";
import { Consumer } from "../../../services/worker/consumer.ts";
import { Notifier } from "../../../services/worker/notifier.ts";
import { startService } from "../../_support/service.ts";
import { waitFor } from "../cache/wait.ts";

/** A logger that keeps the `ms` of every "reconnecting" debug line. */
function recordingLogger(delaysMs: number[]): Logger {
  const ignore = () => {};
  return {
    debug(message: string, props?: { ms?: number }) {
      if (message.startsWith("reconnecting") && props?.ms !== undefined) delaysMs.push(props.ms);
    },
    info: ignore,
    warn: ignore,
    warning: ignore,
    error: ignore,
  } as unknown as Logger;
}

Deno.test("consumer: a refused SUBSCRIBE is retried with a doubling backoff, never in a tight loop", async () => {
  await using mq = await startService(mqService);
  const delaysMs: number[] = [];
  const consumer = new Consumer({
    mq: { port: mq.addresses.tcp.port },
    destination: "/bogus/spell.created",
    prefetch: 1,
    notifier: new Notifier({
      resolver: { hostname: "127.0.0.1", port: 1 },
      smtpPort: 1,
      helo: "test",
      from: "a@example.com",
      to: "b@example.com",
      dnsTimeoutMs: 100,
      smtpTimeoutMs: 100,
    }),
    attemptsMax: 1,
    retry: { baseMs: 1, maxMs: 1 },
    reconnect: { baseMs: 10, maxMs: 100_000 },
    connectTimeoutMs: 5_000,
    log: recordingLogger(delaysMs),
    random: () => 1,
  });
  consumer.start();
  try {
    await waitFor("five reconnects", () => delaysMs.length >= 5, { attempts: 500, intervalMs: 10 });
  } finally {
    await consumer.close();
  }
  assert.deepEqual(delaysMs.slice(0, 5), [10, 20, 40, 80, 160]);
  assert.equal(consumer.connected, false);
  assert.match(consumer.stats.lastError?.message ?? "", /Unknown destination/);
});
