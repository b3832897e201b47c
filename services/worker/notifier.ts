// Sends one notification mail: finds the recipient domain's exchangers
// through the resolver (mail_route.ts), then hands the message to the first
// one that takes it, over SMTP (lib/smtp/client.ts).
//
// Each attempt ends in one of three outcomes, which decide what happens to
// the queue message (consumer.ts):
//   sent       the exchanger answered 250 to the end of the data: ACK
//   permanent  a 5xx, NXDOMAIN or a null MX: no retry can help: dead letter
//   temporary  a 4xx, a refused or dropped connection, a DNS timeout: retry
// A temporary failure at one exchanger moves on to the next; a 5xx stops.
//
// Left out: STARTTLS (the stack's smtp speaks plain SMTP on loopback),
// AUTH, sending several events in one SMTP session.

import type { ServerAddress } from "../../lib/dns/client.ts";
import { type Reply } from "../../lib/smtp/reply.ts";
import { SmtpClient } from "../../lib/smtp/client.ts";
import { domainOf } from "../../lib/smtp/command.ts";
import type { Spell } from "./event.ts";
import { composeNotification } from "./mail.ts";
import { findMailRoute, type MailHost } from "./mail_route.ts";

export type Outcome =
  | { readonly kind: "sent"; readonly host: string; readonly reply: string }
  | { readonly kind: "permanent"; readonly reason: string }
  | { readonly kind: "temporary"; readonly reason: string };

export interface NotifierOptions {
  resolver: ServerAddress;
  /** Port the exchangers listen on: 25 on the Internet, the stack's smtp on 2525. */
  smtpPort: number;
  /** Our name in EHLO. */
  helo: string;
  from: string;
  to: string;
  dnsTimeoutMs: number;
  /** Per SMTP reply (RFC 5321 4.5.3.2 suggests minutes; a worker retries sooner). */
  smtpTimeoutMs: number;
  now?: () => Date;
}

export class Notifier {
  readonly options: NotifierOptions;

  constructor(options: NotifierOptions) {
    this.options = options;
  }

  /** One attempt at mailing `spell`. Never throws. */
  async send(spell: Spell): Promise<Outcome> {
    const { options } = this;
    const route = await findMailRoute(options.resolver, domainOf(options.to), {
      timeoutMs: options.dnsTimeoutMs,
    });
    if (route.kind !== "hosts") return route;
    const message = composeNotification(spell, {
      from: options.from,
      to: options.to,
      date: (options.now ?? (() => new Date()))(),
    });
    const failures: string[] = [];
    for (const host of route.hosts) {
      const outcome = await this.#sendTo(host, message);
      if (outcome.kind !== "temporary") return outcome;
      failures.push(outcome.reason);
    }
    return { kind: "temporary", reason: failures.join("; ") };
  }

  async #sendTo(host: MailHost, message: Uint8Array): Promise<Outcome> {
    const { options } = this;
    const where = `${host.host} [${host.address}]:${options.smtpPort}`;
    let client: SmtpClient;
    try {
      client = await SmtpClient.connect({
        hostname: host.address,
        port: options.smtpPort,
        helo: options.helo,
        timeoutMs: options.smtpTimeoutMs,
      });
    } catch (error) {
      return { kind: "temporary", reason: `${where}: ${describe(error)}` };
    }
    try {
      const result = await client.send(options.from, [options.to], [message]);
      const final = result.mail ?? result.recipients.get(options.to);
      const reply = final !== undefined && final.code !== 250 && final.code !== 251
        ? final
        : result.data;
      await client.quit();
      if (reply === undefined) return { kind: "temporary", reason: `${where}: no final reply` };
      const text = `${where}: ${replyText(reply)}`;
      if (reply.code === 250) return { kind: "sent", host: host.host, reply: replyText(reply) };
      return reply.code >= 500 ? { kind: "permanent", reason: text } : {
        kind: "temporary",
        reason: text,
      };
    } catch (error) {
      client.close();
      return { kind: "temporary", reason: `${where}: ${describe(error)}` };
    }
  }
}

function replyText(reply: Reply): string {
  return `${reply.code} ${reply.enhanced ?? ""} ${reply.lines.join(" ")}`.replace(/ +/g, " ")
    .trim();
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
