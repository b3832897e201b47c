// Root hints: where iteration starts when nothing better is cached.
//
// A hints file is the usual named.root master file (as shipped by IANA and
// by Debian's dns-root-data): NS records for "." and A/AAAA records for the
// servers. Without a file, the addresses of the 13 root servers (IANA's
// root.hints, 2024) are used.

import { parseZoneText } from "../../lib/dns/zone.ts";
import type { ServerAddress } from "./iterator.ts";

/** IPv4 addresses of a.root-servers.net through m.root-servers.net. */
export const BUILTIN_ROOT_SERVERS: readonly string[] = [
  "198.41.0.4",
  "170.247.170.2",
  "192.33.4.12",
  "199.7.91.13",
  "192.203.230.10",
  "192.5.5.241",
  "192.112.36.4",
  "198.97.190.53",
  "192.36.148.17",
  "192.58.128.30",
  "193.0.14.129",
  "199.7.83.42",
  "202.12.27.33",
];

/** Reads the server addresses of a root hints file. */
export function parseRootHints(text: string, file: string, port = 53): ServerAddress[] {
  const records = parseZoneText(text, { file, origin: "." });
  const servers = new Set(
    records.filter((r) => r.type === 2 && r.name === "." && r.data.kind === "NAME")
      .map((r) => (r.data.kind === "NAME" ? r.data.target.toLowerCase() : "")),
  );
  const addresses: ServerAddress[] = [];
  for (const record of records) {
    if (record.data.kind !== "A" && record.data.kind !== "AAAA") continue;
    if (servers.size > 0 && !servers.has(record.name.toLowerCase())) continue;
    addresses.push({ address: record.data.address, port });
  }
  if (addresses.length === 0) throw new SyntaxError(`${file}: no root server addresses`);
  return addresses;
}
