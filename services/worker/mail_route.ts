// Where mail for a domain goes, asked of our resolver (lib/dns/client.ts):
// the MX records in preference order (RFC 5321 5.1), then each exchanger's
// A and AAAA addresses. No MX record at all means the domain itself is the
// exchanger (the implicit MX); a null MX ("MX 0 .", RFC 7505) or NXDOMAIN
// means the domain takes no mail, a permanent failure. A timeout, a
// SERVFAIL or REFUSED, or exchangers without any address are temporary: the
// worker tries again later.

import { query, QueryError, type ServerAddress } from "../../lib/dns/client.ts";
import { parseName } from "../../lib/dns/name.ts";
import { type Message, Rcode, RecordType } from "../../lib/dns/types.ts";

export interface MailHost {
  /** The exchanger's name, without the final dot. */
  readonly host: string;
  readonly address: string;
}

export type MailRoute =
  | { readonly kind: "hosts"; readonly hosts: readonly MailHost[] }
  | { readonly kind: "permanent"; readonly reason: string }
  | { readonly kind: "temporary"; readonly reason: string };

export interface RouteOptions {
  /** Per query (each of MX, A, AAAA). */
  timeoutMs: number;
}

/** Exchangers beyond this many are not tried (RFC 5321 5.1 lets a sender cap the list). */
const EXCHANGERS_MAX = 10;

/** The addresses to try for `domain`, in order. */
export async function findMailRoute(
  resolver: ServerAddress,
  domain: string,
  options: RouteOptions,
): Promise<MailRoute> {
  let mx: Message;
  try {
    mx = await ask(resolver, domain, RecordType.MX, options);
  } catch (error) {
    return { kind: "temporary", reason: `DNS MX ${domain}: ${describe(error)}` };
  }
  if (mx.rcode === Rcode.NXDOMAIN) {
    return { kind: "permanent", reason: `DNS: ${domain} does not exist (NXDOMAIN)` };
  }
  if (mx.rcode !== Rcode.NOERROR) {
    return { kind: "temporary", reason: `DNS MX ${domain}: rcode ${mx.rcode}` };
  }
  const records = mx.answers.flatMap((r) =>
    r.data.kind === "MX" ? [{ preference: r.data.preference, exchange: r.data.exchange }] : []
  );
  if (records.some((r) => r.exchange === ".")) {
    return { kind: "permanent", reason: `${domain} accepts no mail (null MX, RFC 7505)` };
  }
  records.sort((a, b) => a.preference - b.preference);
  const names = records.length > 0
    ? records.slice(0, EXCHANGERS_MAX).map((r) => r.exchange)
    : [domain];
  const hosts: MailHost[] = [];
  let lastError = "";
  for (const name of names) {
    for (const type of [RecordType.A, RecordType.AAAA]) {
      try {
        const answer = await ask(resolver, name, type, options);
        for (const r of answer.answers) {
          if (r.data.kind === "A" || r.data.kind === "AAAA") {
            hosts.push({ host: name.replace(/\.$/, ""), address: r.data.address });
          }
        }
      } catch (error) {
        lastError = `: ${describe(error)}`;
      }
    }
  }
  if (hosts.length === 0) {
    return { kind: "temporary", reason: `no address for the exchangers of ${domain}${lastError}` };
  }
  return { kind: "hosts", hosts };
}

async function ask(
  resolver: ServerAddress,
  name: string,
  type: number,
  options: RouteOptions,
): Promise<Message> {
  return (await query(resolver, parseName(name), type, { timeoutMs: options.timeoutMs })).message;
}

function describe(error: unknown): string {
  if (error instanceof QueryError) return `${error.reason}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
