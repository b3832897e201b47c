// The `smtp` service: accepts mail over SMTP/ESMTP on port 2525 (and
// submission on 2587), delivers it durably to Maildirs for the local
// domains, and queues the rest (from authenticated or trusted clients only).
// See docs/smtp.md.

import { type CheckResult, mountAdmin } from "../../lib/admin.ts";
import { Router } from "../../lib/http/router.ts";
import { type HttpServer, serveHttp } from "../../lib/http/server.ts";
import type { FlagSpecs } from "../../lib/cli.ts";
import { type FileLayer, realFiles } from "../../lib/fs/file_layer.ts";
import { logger } from "../../lib/log.ts";
import { MetricsRegistry, syncCounter } from "../../lib/metrics.ts";
import { adminPortOf, commonFlags, defineService, type ServiceHandle } from "../../lib/service.ts";
import { isMailbox } from "../../lib/smtp/command.ts";
import { Delivery } from "./delivery.ts";
import { Faults, mountFaultApi } from "./faults.ts";
import { mountMailboxApi } from "./mailbox_api.ts";
import { type Cidr, parseCidr } from "./networks.ts";
import { SmtpServer } from "./server.ts";
import { MailStore } from "./store.ts";
import { TlsTerminator } from "./tls.ts";
import { parseUsers } from "../../lib/users_file.ts";

export const SMTP_PORT = 2525;
export const SUBMISSION_PORT = 2587;

export const smtpFlags = {
  ...commonFlags("smtp", SMTP_PORT),
  "submission-port": {
    type: "port",
    help:
      `submission port (RFC 6409: AUTH required to send; default ${SUBMISSION_PORT}, 0 with --port 0)`,
  },
  hostname: { type: "string", default: "localhost", help: "our name in the greeting and headers" },
  domain: {
    type: "strings",
    default: [],
    help: "a local domain, delivered to Maildirs (repeatable; none: localhost)",
  },
  mailbox: {
    type: "strings",
    default: [],
    help: "a mailbox user@domain (repeatable; none: any user of a local domain)",
  },
  user: { type: "string", help: "submission user name (with --password)" },
  password: { type: "string", help: "submission password for --user" },
  "users-file": { type: "string", help: "file of user:password lines for submission" },
  "tls-cert": {
    type: "string",
    help: "PEM certificate file: STARTTLS is offered (with --tls-key)",
  },
  "tls-key": { type: "string", help: "PEM private key file for --tls-cert" },
  "allow-auth-without-tls": {
    type: "boolean",
    default: false,
    help: "allow AUTH over a connection without TLS (local use and tests)",
  },
  "trusted-network": {
    type: "strings",
    default: [],
    help: "a CIDR whose clients may relay without AUTH (repeatable)",
  },
  "max-message-size": {
    type: "integer",
    default: 10_240_000,
    help: "largest message accepted, in bytes (Postfix's default)",
  },
  "max-recipients": { type: "integer", default: 100, help: "recipients per message" },
  "max-errors": { type: "integer", default: 20, help: "error replies before a client is closed" },
  "max-connections": { type: "integer", default: 1_000, help: "open connections at most" },
  "max-connections-per-client": {
    type: "integer",
    default: 20,
    help: "open connections from one address at most",
  },
  resolver: {
    type: "string",
    help: "DNS resolver ADDR:PORT for MX lookups; without it mail for other domains stays queued",
  },
  "delivery-port": {
    type: "port",
    default: 25,
    help: "port of the mail exchangers mail is delivered to",
  },
  "delivery-ca-cert": {
    type: "string",
    help: "PEM CA certificate trusted for STARTTLS when delivering (default: the system's)",
  },
  "retry-base-ms": {
    type: "integer",
    default: 60_000,
    help: "first retry delay after a temporary failure, doubled each attempt",
  },
  "retry-max-ms": { type: "integer", default: 3_600_000, help: "longest retry delay" },
  "give-up-ms": {
    type: "integer",
    default: 432_000_000,
    help: "bounce mail still undelivered this long after it was queued (5 days)",
  },
  "delay-warning-ms": {
    type: "integer",
    default: 14_400_000,
    help: "tell a sender who asked NOTIFY=DELAY once mail waits this long (4 hours)",
  },
  "greet-delay-ms": {
    type: "integer",
    default: 0,
    help: "wait before the greeting; a client that talks first is refused (0: none)",
  },
  "command-timeout-ms": {
    type: "integer",
    default: 300_000,
    help: "wait for the next command (RFC 5321 4.5.3.2.7: 5 minutes)",
  },
  "data-timeout-ms": {
    type: "integer",
    default: 180_000,
    help: "wait for each piece of a message body (RFC 5321 4.5.3.2.6: 3 minutes)",
  },
} as const satisfies FlagSpecs;

export const service = defineService({
  name: "smtp",
  summary: "SMTP server that accepts, stores and delivers mail (port 2525)",
  flags: smtpFlags,
  async start(config): Promise<ServiceHandle> {
    const files: FileLayer = realFiles;
    const users = new Map<string, string>();
    if (config.user !== undefined) {
      if (config.password === undefined) throw new TypeError("--user needs --password");
      users.set(config.user, config.password);
    }
    if (config.usersFile !== undefined) {
      for (const [user, password] of parseUsers(await Deno.readTextFile(config.usersFile))) {
        users.set(user, password);
      }
    }
    const trusted: Cidr[] = [];
    for (const text of config.trustedNetwork) {
      const cidr = parseCidr(text);
      if (cidr === undefined) throw new TypeError(`--trusted-network: not a CIDR: ${text}`);
      trusted.push(cidr);
    }
    const mailboxes = new Set<string>();
    for (const mailbox of config.mailbox) {
      if (!isMailbox(mailbox)) throw new TypeError(`--mailbox: not an address: ${mailbox}`);
      mailboxes.add(mailbox.toLowerCase());
    }
    const domains = new Set(config.domain.map((d) => d.toLowerCase()));
    for (const mailbox of mailboxes) domains.add(mailbox.slice(mailbox.lastIndexOf("@") + 1));
    if (domains.size === 0) domains.add("localhost");
    for (
      const [name, value] of [
        ["--max-message-size", config.maxMessageSize],
        ["--max-recipients", config.maxRecipients],
        ["--max-errors", config.maxErrors],
        ["--max-connections", config.maxConnections],
        ["--max-connections-per-client", config.maxConnectionsPerClient],
        ["--command-timeout-ms", config.commandTimeoutMs],
        ["--data-timeout-ms", config.dataTimeoutMs],
      ] as const
    ) {
      if (!(value >= 1)) throw new RangeError(`${name} must be at least 1`);
    }
    let tls: TlsTerminator | undefined;
    if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
      throw new TypeError("--tls-cert and --tls-key go together");
    }
    if (config.tlsCert !== undefined && config.tlsKey !== undefined) {
      tls = new TlsTerminator({
        cert: await Deno.readTextFile(config.tlsCert),
        key: await Deno.readTextFile(config.tlsKey),
      });
    }
    const store = new MailStore({ files, dataDir: config.dataDir, hostname: config.hostname });
    store.open();
    const log = logger("smtp");
    const faults = new Faults();
    let delivery: Delivery | undefined;
    if (config.resolver !== undefined) {
      const resolver = parseHostPort(config.resolver);
      if (resolver === undefined) {
        throw new TypeError(`--resolver: expected ADDR:PORT: ${config.resolver}`);
      }
      delivery = new Delivery({
        store,
        resolver,
        port: config.deliveryPort,
        hostname: config.hostname,
        localDomains: domains,
        log,
        retryBaseMs: config.retryBaseMs,
        retryMaxMs: config.retryMaxMs,
        giveUpMs: config.giveUpMs,
        delayWarningMs: config.delayWarningMs,
        caCerts: config.deliveryCaCert === undefined
          ? undefined
          : [await Deno.readTextFile(config.deliveryCaCert)],
      });
    }
    const server = new SmtpServer({
      session: {
        hostname: config.hostname,
        localDomains: domains,
        mailboxes,
        sizeBytesMax: config.maxMessageSize,
        recipientsMax: config.maxRecipients,
        errorsMax: config.maxErrors,
        tlsAvailable: false,
        authWithoutTls: config.allowAuthWithoutTls,
        users,
      },
      store,
      log,
      connectionsMax: config.maxConnections,
      connectionsPerClientMax: config.maxConnectionsPerClient,
      greetDelayMs: config.greetDelayMs,
      commandTimeoutMs: config.commandTimeoutMs,
      dataTimeoutMs: config.dataTimeoutMs,
      trustedNetworks: trusted,
      tls,
      afterStore: () => delivery?.kick(),
      faults,
    });
    let admin: HttpServer;
    let tcp: Deno.NetAddr;
    let submission: Deno.NetAddr;
    try {
      tcp = server.listen(config.host, config.port, false);
      submission = server.listen(config.host, submissionPortOf(config), true);
      const router = mountAdmin(new Router({ bodyLimitBytes: 0 }), {
        registry: smtpMetrics(server, store),
        checks: () => smtpChecks(server, store),
      });
      mountMailboxApi(router, store);
      mountFaultApi(router, faults);
      admin = serveHttp({
        hostname: config.host,
        port: adminPortOf(config),
        handler: router.handle,
        name: "smtp",
        label: "smtp admin port",
        headerTimeoutMs: 2_000,
      });
    } catch (error) {
      await server.close(0);
      await tls?.close();
      throw error;
    }
    delivery?.start();
    let closing: Promise<void> | undefined;
    const close = () =>
      closing ??= server.close(config.drainTimeoutMs).then(() => delivery?.close()).then(() =>
        admin.close(2_000)
      ).then(() => tls?.close());
    return {
      addresses: { tcp, submission, admin: admin.addr },
      ready: Promise.resolve(),
      close,
      [Symbol.asyncDispose]: close,
    };
  },
});

/** The submission port: the flag, else 2587 (port + 62), or 0 when --port is 0 (tests). */
export function submissionPortOf(config: { port: number; submissionPort?: number }): number {
  if (config.submissionPort !== undefined) return config.submissionPort;
  return config.port === 0 ? 0 : config.port + (SUBMISSION_PORT - SMTP_PORT);
}

/** "127.0.0.1:5354" or "[::1]:5354"; undefined when malformed. */
export function parseHostPort(text: string): { hostname: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  if (match === null || Number(match[3]) > 65535) return undefined;
  return { hostname: match[1] ?? match[2], port: Number(match[3]) };
}

/** /healthz: the spool takes a write; connections under the cap. */
export function smtpChecks(server: SmtpServer, store: MailStore): Record<string, CheckResult> {
  let spool: CheckResult;
  try {
    store.checkWritable();
    spool = { ok: true, detail: `${store.dataDir}/spool writable` };
  } catch (error) {
    spool = { ok: false, detail: error instanceof Error ? error.message : String(error) };
  }
  const open = server.connections;
  const cap = server.options.connectionsMax;
  return {
    spool,
    connections: { ok: open < cap * 2, detail: `${open} open (cap ${cap} per port)` },
    queue: { ok: true, detail: `${store.queued().length} messages queued for other servers` },
  };
}

function smtpMetrics(server: SmtpServer, store: MailStore): MetricsRegistry {
  const registry = new MetricsRegistry();
  const connections = registry.counter("smtp_connections_total", "connections accepted");
  const messages = registry.counter("smtp_messages_total", "messages by outcome", ["outcome"]);
  const refused = registry.counter(
    "smtp_clients_refused_total",
    "clients refused before the greeting",
    ["reason"],
  );
  const open = registry.gauge("smtp_connections", "open connections");
  const queued = registry.gauge("smtp_queue_messages", "messages queued for other servers");
  registry.onCollect(() => {
    const s = server.stats;
    syncCounter(connections, s.connections);
    syncCounter(messages, s.messagesAccepted, { outcome: "accepted" });
    syncCounter(messages, s.messagesRefused, { outcome: "store_failed" });
    syncCounter(refused, s.earlyTalkers, { reason: "early_talker" });
    syncCounter(refused, s.perClientRefused, { reason: "per_client_limit" });
    syncCounter(refused, s.rateLimited, { reason: "rate_limit" });
    open.set(undefined, server.connections);
    queued.set(undefined, store.queued().length);
  });
  return registry;
}
