// The real services a worker test stands on, all in-process on port 0 and on
// 127.0.0.1: dns serving the stack's own zone (config/zones/example.com.zone,
// whose MX is mail.example.com at 127.0.0.1 and ::1), our resolver answering
// only that zone from it, the mq, and the smtp that takes example.com's mail.
// The smtp and the mq keep their data directories across restarts, so a
// test can stop one and start it again on the same port.

import { fileURLToPath } from "node:url";
import { service as dnsService } from "../../../services/dns/mod.ts";
import { service as mqService } from "../../../services/mq/mod.ts";
import { service as resolverService } from "../../../services/resolver/mod.ts";
import { service as smtpService } from "../../../services/smtp/mod.ts";
import { service as workerService, workerFlags } from "../../../services/worker/mod.ts";
import type { ConfigOf } from "../../../lib/cli.ts";
import { StompClient } from "../../../lib/stomp/client.ts";
import { startService, type TestService } from "../../_support/service.ts";

const ZONE_FILE = fileURLToPath(
  new URL("../../../config/zones/example.com.zone", import.meta.url),
);

export const NOTIFY_TO = "dev@example.com";
export const QUEUE = "/queue/spell.created";

export function spellEvent(id: number, name: string): string {
  return JSON.stringify({
    event: "spell.created",
    spell: {
      id,
      name,
      incantation: `${name}!`,
      description: `What ${name} does.`,
      createdAt: "2026-12-02T07:00:00.000Z",
    },
  });
}

export interface MailSummary {
  id: string;
  subject: string;
}

export interface QueueInfo {
  depth: number;
  inFlight: number;
  deadLetters: number;
  stats: { published: number; delivered: number; acked: number; redelivered: number };
}

/** How long a restart keeps trying a port that is still held. */
const REBIND_MS = 20_000;
const REBIND_INTERVAL_MS = 50;

/**
 * Starts a service again on the port it had. Between the stop and the
 * restart, the released port can be taken by a socket of a test running
 * alongside (mostly a client's ephemeral port, held for the length of its
 * connection): retried on AddrInUse for a bounded time. The first start
 * (port 0) never meets that.
 */
async function startAgain(start: () => Promise<TestService>): Promise<TestService> {
  const deadline = Date.now() + REBIND_MS;
  for (;;) {
    try {
      return await start();
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, REBIND_INTERVAL_MS));
    }
  }
}

export class Fixture implements AsyncDisposable {
  dns!: TestService;
  resolver!: TestService;
  mq!: TestService;
  smtp: TestService | undefined;
  worker: TestService | undefined;
  readonly mqDir: string;
  readonly smtpDir: string;
  mqPort = 0;
  smtpPort = 0;
  smtpAdminPort = 0;
  #mqOverrides: Record<string, unknown>;

  private constructor(mqDir: string, smtpDir: string, mqOverrides: Record<string, unknown>) {
    this.mqDir = mqDir;
    this.smtpDir = smtpDir;
    this.#mqOverrides = mqOverrides;
  }

  static async start(options: { mq?: { maxDeliveries?: number } } = {}): Promise<Fixture> {
    const fixture = new Fixture(
      await Deno.makeTempDir({ prefix: "underhood-worker-mq-" }),
      await Deno.makeTempDir({ prefix: "underhood-worker-smtp-" }),
      options.mq ?? {},
    );
    try {
      fixture.dns = await startService(dnsService, {
        zone: [ZONE_FILE],
        rrlRate: 0,
      });
      fixture.resolver = await startService(resolverService, {
        stub: [`example.com=127.0.0.1:${fixture.dns.addresses.udp.port}`],
        localOnly: true,
      });
      await fixture.startMq();
      await fixture.startSmtp();
    } catch (error) {
      await fixture[Symbol.asyncDispose]();
      throw error;
    }
    return fixture;
  }

  get resolverAddress(): string {
    return `127.0.0.1:${this.resolver.addresses.udp.port}`;
  }

  /** Starts the mq, on the port it had before when restarted. */
  async startMq(): Promise<void> {
    this.mq = await startAgain(() =>
      startService(mqService, {
        port: this.mqPort,
        dataDir: this.mqDir,
        ...this.#mqOverrides,
      })
    );
    this.mqPort = this.mq.addresses.tcp.port;
  }

  /** Starts the smtp (local domain example.com), on the ports it had before when restarted. */
  async startSmtp(): Promise<void> {
    this.smtp = await startAgain(() =>
      startService(smtpService, {
        port: this.smtpPort,
        adminPort: this.smtpAdminPort,
        dataDir: this.smtpDir,
        domain: ["example.com"],
        hostname: "mail.example.com",
      })
    );
    this.smtpPort = this.smtp.addresses.tcp.port;
    this.smtpAdminPort = this.smtp.addresses.admin.port;
  }

  async stopSmtp(): Promise<void> {
    await this.smtp?.close();
    this.smtp = undefined;
  }

  /** The worker in-process, pointed at these services, with short retry waits. */
  async startWorker(overrides: Partial<ConfigOf<typeof workerFlags>> = {}): Promise<TestService> {
    this.worker = await startService(workerService, { ...this.workerConfig(), ...overrides });
    return this.worker;
  }

  workerConfig(): Partial<ConfigOf<typeof workerFlags>> {
    return {
      mq: `127.0.0.1:${this.mqPort}`,
      resolver: this.resolverAddress,
      smtpPort: this.smtpPort,
      notifyTo: NOTIFY_TO,
      attempts: 2,
      retryBaseMs: 20,
      retryMaxMs: 200,
      smtpTimeoutMs: 5_000,
    };
  }

  async publish(body: string, destination = QUEUE): Promise<void> {
    await using client = await StompClient.connect({ port: this.mqPort });
    await client.send(destination, body, {
      receipt: true,
      headers: { "content-type": "application/json", persistent: "true" },
    });
    await client.disconnect();
  }

  async queue(name = "spell.created"): Promise<QueueInfo> {
    const response = await fetch(
      `http://127.0.0.1:${this.mq.addresses.admin.port}/api/queues/${name}`,
    );
    if (response.status === 404) {
      await response.body?.cancel();
      return {
        depth: 0,
        inFlight: 0,
        deadLetters: 0,
        stats: { published: 0, delivered: 0, acked: 0, redelivered: 0 },
      };
    }
    return await response.json();
  }

  /** The first waiting messages of a queue, peeked (not consumed). */
  async peek(name: string): Promise<{ headers: Record<string, string>; body: string }[]> {
    const response = await fetch(
      `http://127.0.0.1:${this.mq.addresses.admin.port}/api/queues/${name}/messages?count=100`,
    );
    return (await response.json()).messages;
  }

  /** Mail in dev@example.com's mailbox (none while the smtp is stopped). */
  async mails(): Promise<MailSummary[]> {
    if (this.smtp === undefined) return [];
    const response = await fetch(
      `http://127.0.0.1:${this.smtpAdminPort}/api/mailboxes/${NOTIFY_TO}/messages`,
    );
    if (response.status === 404) {
      await response.body?.cancel();
      return [];
    }
    return await response.json();
  }

  async rawMail(id: string): Promise<string> {
    return await (await fetch(
      `http://127.0.0.1:${this.smtpAdminPort}/api/mailboxes/${NOTIFY_TO}/messages/${id}/raw`,
    )).text();
  }

  async workerMetric(name: string): Promise<number> {
    const port = this.worker!.addresses.admin.port;
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`${name} `));
    return line === undefined ? NaN : Number(line.slice(name.length + 1));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.worker?.close();
    await this.smtp?.close();
    await this.mq?.close();
    await this.resolver?.close();
    await this.dns?.close();
    await Deno.remove(this.mqDir, { recursive: true }).catch(() => {});
    await Deno.remove(this.smtpDir, { recursive: true }).catch(() => {});
  }
}
