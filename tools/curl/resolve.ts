// Host names to addresses through our resolver (lib/dns/client.ts), not the
// system's: `deno task curl http://example.com:8080/` finds example.com in the
// stack's zone. A then AAAA, as curl tries IPv4 first by default; an IP
// literal is used as is, and "localhost" is 127.0.0.1 without asking, as
// curl does (RFC 6761 6.3: it never goes to a DNS server).

import { query, QueryError, type ServerAddress } from "../../lib/dns/client.ts";
import { parseName } from "../../lib/dns/name.ts";
import { Rcode, RecordType } from "../../lib/dns/types.ts";

/** Resolving failed: curl's exit code 6. */
export class ResolveError extends Error {
  override name = "ResolveError";
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** The host's addresses, IPv4 first; throws ResolveError when there is none. */
export async function resolveHost(
  hostname: string,
  resolver: ServerAddress,
  timeoutMs: number,
): Promise<string[]> {
  const bare = hostname.startsWith("[") ? hostname.slice(1, -1) : hostname;
  if (IPV4.test(bare) || bare.includes(":")) return [bare];
  if (bare.toLowerCase() === "localhost" || bare.toLowerCase().endsWith(".localhost")) {
    return ["127.0.0.1"];
  }
  const addresses: string[] = [];
  let problem = "";
  for (const type of [RecordType.A, RecordType.AAAA]) {
    try {
      const { message } = await query(resolver, parseName(bare), type, { timeoutMs });
      if (message.rcode === Rcode.NXDOMAIN) {
        throw new ResolveError(`Could not resolve host: ${bare} (NXDOMAIN)`);
      }
      if (message.rcode !== Rcode.NOERROR) problem = ` (rcode ${message.rcode})`;
      for (const r of message.answers) {
        if (r.data.kind === "A" || r.data.kind === "AAAA") addresses.push(r.data.address);
      }
    } catch (error) {
      if (error instanceof ResolveError) throw error;
      const why = error instanceof QueryError ? error.reason : String(error);
      throw new ResolveError(
        `Could not resolve host: ${bare} (resolver ${resolver.hostname}:${resolver.port}: ${why})`,
      );
    }
    if (addresses.length > 0) return addresses;
  }
  throw new ResolveError(`Could not resolve host: ${bare}${problem}`);
}
