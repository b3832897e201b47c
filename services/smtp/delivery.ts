// Outbound delivery: the queue in <data-dir>/queue/ (store.ts) worked off in
// the background, one message at a time.
//
// For each due message, recipients are grouped by domain and each domain's
// mail exchangers found through the configured resolver (lib/dns client):
// MX records in preference order (RFC 5321 5.1), each exchanger's A and
// AAAA addresses; no MX at all means the domain's own A/AAAA (the implicit
// MX); a null MX ("MX 0 .", RFC 7505) or NXDOMAIN fails the recipients at
// once. Hosts are tried in order until one answers; STARTTLS is used when
// offered (opportunistic: a failed handshake falls back to the next host).
//
// Each recipient ends delivered (2xx), failed (5xx, or the checks above),
// or deferred (4xx, no host reachable, DNS temporary failure). Deferred
// ones are retried with exponential backoff (`retryBaseMs` doubled per
// attempt, at most `retryMaxMs`); the attempt count and the next time are
// written to the .env file before anything else happens, so retries go on
// after a restart. Past `giveUpMs` since queueing, deferred recipients
// fail. The sender gets RFC 3464 reports as the recipients' DSN parameters
// ask (dsn.ts): failures (by default), delays past `delayWarningMs` (once
// per recipient, remembered in the .env file), and success when the next
// hop does not speak DSN itself ("relayed"; one that does is given NOTIFY,
// ORCPT, RET and ENVID and reports on its own). Never to the null sender <>.

import { query, type ServerAddress } from "../../lib/dns/client.ts";
import { parseName } from "../../lib/dns/name.ts";
import { Rcode, RecordType } from "../../lib/dns/types.ts";
import type { Logger } from "../../lib/log.ts";
import { SmtpClient } from "../../lib/smtp/client.ts";
import { domainOf } from "../../lib/smtp/command.ts";
import { utf8 } from "../../lib/bytes.ts";
import type { MailStore, QueuedEnvelope } from "./store.ts";
import { deliveryReport, mailParamsFor, rcptParamsFor, type ReportEntry, wants } from "./dsn.ts";

export interface DeliveryOptions {
  store: MailStore;
  /** The resolver asked for MX, A and AAAA records. */
  resolver: ServerAddress;
  /** Port of the exchangers (25 on the Internet; tests point it at another instance). */
  port: number;
  hostname: string;
  localDomains: ReadonlySet<string>;
  log: Logger;
  retryBaseMs: number;
  retryMaxMs: number;
  giveUpMs: number;
  /** A deferred recipient that asked NOTIFY=DELAY is told once it has waited this long. */
  delayWarningMs?: number;
  /** CA certificates trusted for STARTTLS (PEM); default the system's. */
  caCerts?: string[];
  now?: () => number;
  /** How often the queue is looked at when nothing is due sooner. */
  pollMs?: number;
}

type Outcome =
  /** `dsnPassed`: the next hop took the DSN parameters (it reports success itself). */
  | { kind: "delivered"; remoteMta: string; dsnPassed: boolean }
  | { kind: "failed"; status: string; diagnostic: string }
  | { kind: "deferred"; diagnostic: string };

type Route =
  | { kind: "hosts"; addresses: { host: string; address: string }[] }
  | { kind: "failed"; status: string; diagnostic: string }
  | { kind: "deferred"; diagnostic: string };

const DNS_TIMEOUT_MS = 5_000;
/** Sendmail's Timeout.queuewarn (Postfix's delay_warning_time is off unless set). */
const DELAY_WARNING_MS = 4 * 3_600_000;

export class Delivery {
  readonly options: DeliveryOptions;
  delivered = 0;
  failed = 0;
  deferred = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #closed = false;

  constructor(options: DeliveryOptions) {
    this.options = options;
  }

  /** Starts working off the queue in the background. */
  start(): void {
    this.#schedule(0);
  }

  /** Looks at the queue now (e.g. right after a message was queued). */
  kick(): void {
    if (this.#closed) return;
    this.#schedule(0);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** Runs every due message once; returns when the pass is over. */
  async runOnce(): Promise<void> {
    const now = this.#now();
    for (const record of this.options.store.queued()) {
      if (this.#closed) return;
      if (record.nextAttemptAtMs <= now) await this.#attempt(record);
    }
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (this.#running !== undefined) return this.#schedule(50);
      this.#running = this.runOnce().catch((error) => {
        this.options.log.error("delivery pass failed: {error}", { error: String(error) });
      }).finally(() => {
        this.#running = undefined;
        if (!this.#closed) this.#schedule(this.#nextDelayMs());
      });
    }, delayMs);
    Deno.unrefTimer(this.#timer);
  }

  #nextDelayMs(): number {
    const poll = this.options.pollMs ?? 1_000;
    const next = Math.min(...this.options.store.queued().map((r) => r.nextAttemptAtMs));
    return Math.max(0, Math.min(poll, next - this.#now()));
  }

  #now(): number {
    return (this.options.now ?? Date.now)();
  }

  async #attempt(record: QueuedEnvelope): Promise<void> {
    const { store, log } = this.options;
    const message = store.queuedMessage(record.id);
    if (message === null) {
      store.removeQueued(record.id);
      return;
    }
    // Count the attempt durably first: a crash mid-attempt still backs off.
    const attempts = record.attempts + 1;
    const backoff = Math.min(
      this.options.retryMaxMs,
      this.options.retryBaseMs * 2 ** record.attempts,
    );
    store.updateQueued({ ...record, attempts, nextAttemptAtMs: this.#now() + backoff });

    const outcomes = new Map<string, Outcome>();
    const byDomain = new Map<string, string[]>();
    for (const to of record.recipients) {
      const domain = domainOf(to);
      byDomain.set(domain, [...(byDomain.get(domain) ?? []), to]);
    }
    for (const [domain, recipients] of byDomain) {
      for (
        const [to, outcome] of await this.#deliverToDomain(domain, recipients, record, message)
      ) {
        outcomes.set(to, outcome);
      }
    }
    const deferred = record.recipients.filter((r) => outcomes.get(r)?.kind === "deferred");
    const failed = record.recipients.filter((r) => outcomes.get(r)?.kind === "failed");
    const givingUp = deferred.length > 0 &&
      this.#now() - record.queuedAtMs >= this.options.giveUpMs;
    if (givingUp) {
      for (const to of deferred) {
        const last = outcomes.get(to) as { diagnostic: string };
        outcomes.set(to, {
          kind: "failed",
          status: "4.4.7",
          diagnostic: `gave up: ${last.diagnostic}`,
        });
        failed.push(to);
      }
    }
    this.delivered += record.recipients.filter((r) => outcomes.get(r)?.kind === "delivered").length;
    this.failed += failed.length;
    this.#report(record, message, "failed", failed, outcomes);
    const relayed = record.recipients.filter((r) => {
      const o = outcomes.get(r);
      return o?.kind === "delivered" && !o.dsnPassed;
    });
    this.#report(record, message, "relayed", relayed, outcomes);
    const delayWarningMs = this.options.delayWarningMs ?? DELAY_WARNING_MS;
    const late = givingUp || this.#now() - record.queuedAtMs < delayWarningMs
      ? []
      : deferred.filter((r) => !(record.delayNotified ?? []).includes(r));
    const delayNotified = [
      ...(record.delayNotified ?? []),
      ...this.#report(record, message, "delayed", late, outcomes),
    ];
    if (givingUp || deferred.length === 0) {
      store.removeQueued(record.id);
    } else {
      this.deferred += deferred.length;
      store.updateQueued({
        ...record,
        recipients: deferred,
        delayNotified: delayNotified.filter((r) => deferred.includes(r)),
        attempts,
        nextAttemptAtMs: this.#now() + backoff,
      });
      log.info("{id}: {count} recipients deferred, attempt {attempts}, next in {ms} ms", {
        id: record.id,
        count: deferred.length,
        attempts,
        ms: backoff,
      });
    }
  }

  async #deliverToDomain(
    domain: string,
    recipients: string[],
    record: QueuedEnvelope,
    message: Uint8Array,
  ): Promise<Map<string, Outcome>> {
    const out = new Map<string, Outcome>();
    const route = await this.#route(domain);
    if (route.kind !== "hosts") {
      for (const to of recipients) out.set(to, route);
      return out;
    }
    let lastError = "no mail exchanger reachable";
    for (const { host, address } of route.addresses) {
      // Opportunistic TLS (RFC 7435; Postfix's smtp_tls_security_level=may):
      // STARTTLS when offered, and if the handshake fails (an untrusted
      // certificate, say), once more in plain text.
      for (const tls of [true, false]) {
        const attempt = await this.#sendTo({ host, address }, tls, record, recipients, message);
        if ("outcomes" in attempt) return attempt.outcomes;
        lastError = attempt.error;
        if (!attempt.tlsFailed) break;
      }
    }
    for (const to of recipients) out.set(to, { kind: "deferred", diagnostic: lastError });
    return out;
  }

  /** One connection to one exchanger; `tlsFailed` when only the handshake went wrong. */
  async #sendTo(
    exchanger: { host: string; address: string },
    tls: boolean,
    record: QueuedEnvelope,
    recipients: string[],
    message: Uint8Array,
  ): Promise<{ outcomes: Map<string, Outcome> } | { error: string; tlsFailed: boolean }> {
    const { host, address } = exchanger;
    let client: SmtpClient;
    try {
      client = await SmtpClient.connect({
        hostname: address,
        port: this.options.port,
        helo: this.options.hostname,
        timeoutMs: 60_000,
      });
    } catch (error) {
      return { error: `${address}: ${describe(error)}`, tlsFailed: false };
    }
    if (tls && client.extensions.has("STARTTLS")) {
      try {
        // The certificate must name the exchanger (RFC 7672 would also accept DANE).
        await client.startTls({ caCerts: this.options.caCerts, hostname: host });
      } catch (error) {
        client.close();
        this.options.log.info("{address}: STARTTLS failed ({error}); trying without TLS", {
          address,
          error: describe(error),
        });
        return { error: `${address}: STARTTLS: ${describe(error)}`, tlsFailed: true };
      }
    }
    try {
      // RFC 3461 5.2: a next hop that speaks DSN gets the parameters.
      const dsnPassed = client.extensions.has("DSN");
      const result = await client.send(
        record.from,
        recipients,
        [message],
        dsnPassed
          ? {
            mailParams: mailParamsFor(record.dsn ?? {}),
            rcptParams: (to) => rcptParamsFor(to, record.recipientDsn?.[to]),
          }
          : {},
      );
      const outcomes = new Map<string, Outcome>();
      for (const to of recipients) outcomes.set(to, outcomeOf(result, to, host, dsnPassed));
      await client.quit();
      return { outcomes };
    } catch (error) {
      client.close();
      return { error: `${address}: ${describe(error)}`, tlsFailed: false };
    }
  }

  /** The addresses to try for `domain`, in order. */
  async #route(domain: string): Promise<Route> {
    let mx;
    try {
      mx = await this.#ask(domain, RecordType.MX);
    } catch (error) {
      return { kind: "deferred", diagnostic: `DNS: ${String(error)}` };
    }
    if (mx.rcode === Rcode.NXDOMAIN) {
      return { kind: "failed", status: "5.1.2", diagnostic: `${domain}: no such domain` };
    }
    if (mx.rcode !== Rcode.NOERROR) {
      return { kind: "deferred", diagnostic: `DNS: MX ${domain}: rcode ${mx.rcode}` };
    }
    const records = mx.answers.flatMap((r) =>
      r.data.kind === "MX" ? [{ preference: r.data.preference, exchange: r.data.exchange }] : []
    );
    if (records.some((r) => r.exchange === ".")) {
      return {
        kind: "failed",
        status: "5.1.10",
        diagnostic: `${domain} accepts no mail (null MX, RFC 7505)`,
      };
    }
    records.sort((a, b) => a.preference - b.preference);
    const hosts = records.length > 0 ? records.map((r) => r.exchange) : [domain];
    const addresses: { host: string; address: string }[] = [];
    for (const host of hosts) {
      for (const type of [RecordType.A, RecordType.AAAA]) {
        try {
          const answer = await this.#ask(host, type);
          for (const r of answer.answers) {
            if (r.data.kind === "A" || r.data.kind === "AAAA") {
              addresses.push({ host: host.replace(/\.$/, ""), address: r.data.address });
            }
          }
        } catch { /* this host has no address we can get now */ }
      }
    }
    if (addresses.length === 0) {
      return { kind: "deferred", diagnostic: `no address for the mail exchangers of ${domain}` };
    }
    return { kind: "hosts", addresses };
  }

  async #ask(name: string, type: number) {
    const result = await query(this.options.resolver, parseName(name), type, {
      timeoutMs: DNS_TIMEOUT_MS,
    });
    return result.message;
  }

  /**
   * Sends the sender one RFC 3464 report on the `recipients` that asked for
   * this kind (dsn.ts `wants`); returns those reported on.
   */
  #report(
    record: QueuedEnvelope,
    message: Uint8Array,
    action: "failed" | "delayed" | "relayed",
    recipients: string[],
    outcomes: Map<string, Outcome>,
  ): string[] {
    const { store, log, hostname } = this.options;
    const kind = action === "failed" ? "FAILURE" : action === "delayed" ? "DELAY" : "SUCCESS";
    const told = recipients.filter((to) => wants(record.recipientDsn?.[to], kind));
    if (told.length === 0) return [];
    if (record.from === "") {
      log.warn("{id}: {action} report dropped (never to the null sender)", {
        id: record.id,
        action,
      });
      return told;
    }
    const now = this.#now();
    const entries: ReportEntry[] = told.map((to) => {
      const o = outcomes.get(to)!;
      const entry: ReportEntry = {
        recipient: to,
        dsn: record.recipientDsn?.[to],
        action,
        status: o.kind === "failed" ? o.status : o.kind === "deferred" ? "4.0.0" : "2.0.0",
      };
      if (o.kind !== "delivered") entry.diagnostic = o.diagnostic;
      else entry.remoteMta = o.remoteMta;
      if (action === "delayed") entry.willRetryUntilMs = record.queuedAtMs + this.options.giveUpMs;
      return entry;
    });
    const body = deliveryReport({
      hostname,
      id: record.id,
      to: record.from,
      message: record.dsn ?? {},
      arrivalMs: record.queuedAtMs,
      nowMs: now,
      entries,
      original: message,
    });
    const local = this.options.localDomains.has(domainOf(record.from));
    store.submit(
      {
        from: "",
        recipients: [{ address: record.from, local, params: new Map() }],
        mailParams: new Map(),
        helo: hostname,
        protocol: "ESMTP",
        authUser: undefined,
      },
      utf8(body),
      { clientAddress: "127.0.0.1", receivedAtMs: now },
    );
    log.info("{id}: {action} report sent to <{from}> for {count} recipients", {
      id: record.id,
      action,
      from: record.from,
      count: told.length,
    });
    return told;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function outcomeOf(
  result: Awaited<ReturnType<SmtpClient["send"]>>,
  to: string,
  remoteMta: string,
  dsnPassed: boolean,
): Outcome {
  const reply = result.mail ?? result.recipients.get(to);
  const accepted = reply !== undefined && (reply.code === 250 || reply.code === 251);
  const final = accepted && result.mail === undefined ? result.data : reply;
  if (final === undefined) return { kind: "deferred", diagnostic: "no reply" };
  const text = `${final.code} ${final.enhanced ?? ""} ${final.lines.join(" ")}`.replace(/ +/g, " ");
  if (final.code >= 200 && final.code < 300) return { kind: "delivered", remoteMta, dsnPassed };
  if (final.code >= 500) {
    return { kind: "failed", status: final.enhanced ?? "5.0.0", diagnostic: text };
  }
  return { kind: "deferred", diagnostic: text };
}
