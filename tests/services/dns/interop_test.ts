// The conformance check against the reference: the same zone files served by
// NSD and by our server, the same queries asked through dig and kdig, over
// UDP and TCP; rcode, flags and every section must match (records compared
// as sorted sets, since record order within a section is not significant).

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { service } from "../../../services/dns/mod.ts";
import { interopTest, runClient } from "../../_support/interop.ts";
import { startNsd } from "../../_support/nsd.ts";
import { startService } from "../../_support/service.ts";

const FIXTURE = fileURLToPath(new URL("./fixtures/interop.example.zone", import.meta.url));
const EXAMPLE = fileURLToPath(
  new URL("../../../config/zones/example.com.zone", import.meta.url),
);

/** [name, type, extra client options] */
const QUERIES: readonly [string, string, ...string[]][] = [
  ["www.interop.example", "A"],
  ["WwW.InTeRoP.eXaMpLe", "AAAA"],
  ["interop.example", "NS"],
  ["interop.example", "MX"],
  ["interop.example", "SOA"],
  ["chain.interop.example", "A"],
  ["alias.interop.example", "CNAME"],
  ["ext.interop.example", "A"],
  ["dangling.interop.example", "A"],
  ["nope.interop.example", "A"],
  ["www.interop.example", "TXT"],
  ["b.ent.interop.example", "A"],
  ["x.y.wild.interop.example", "TXT"],
  ["x.wild.interop.example", "A"],
  ["wild.interop.example", "A"],
  ["deep.sub.interop.example", "A"],
  ["sub.interop.example", "NS"],
  ["_sip._tcp.interop.example", "SRV"],
  ["txt.interop.example", "TXT"],
  ["caa.interop.example", "CAA"],
  ["opaque.interop.example", "TYPE65280"],
  ["www.interop.example", "ANY"],
  ["interop.example", "ANY"],
  ["big.interop.example", "TXT"],
  ["big.interop.example", "TXT", "+noedns"],
  ["big.interop.example", "TXT", "+bufsize=600"],
  ["outside.test", "A"],
  ["example.com", "MX"],
  ["www.example.com", "AAAA"],
  ["example.com", "TXT"],
];

interface Summary {
  status: string;
  flags: string[];
  sections: Record<string, string[]>;
}

/** Reads dig's or kdig's text output into rcode, flags and sorted sections. */
function summarize(output: string): Summary {
  const status = /status: (\w+)/.exec(output)?.[1] ?? "none";
  const flags = (/;; [Ff]lags: ([^;]*);/.exec(output)?.[1] ?? "").trim().split(/\s+/).sort();
  const sections: Record<string, string[]> = {};
  let current: string | undefined;
  for (const line of output.split("\n")) {
    const header = /^;; (ANSWER|AUTHORITY|ADDITIONAL) SECTION:/.exec(line);
    if (header) {
      current = header[1];
      sections[current] = [];
    } else if (line.trim() === "" || line.startsWith(";")) {
      current = undefined;
    } else if (current) {
      sections[current].push(line.trim().split(/\s+/).join(" ").toLowerCase());
    }
  }
  for (const list of Object.values(sections)) list.sort();
  return { status, flags, sections };
}

interopTest("dig and kdig get the same answers from our server as from NSD", {
  binaries: ["dig", "kdig", "nsd"],
  async fn(t) {
    await using ours = await startService(service, {
      zone: [FIXTURE, EXAMPLE],
      rrlRate: 0,
    });
    await using nsd = await startNsd([
      { name: "interop.example", file: FIXTURE },
      { name: "example.com", file: EXAMPLE },
    ]);
    const ourPort = ours.addresses.udp.port;
    const clients = [
      { binary: "dig", base: ["+norec", "+ignore", "+tries=2", "+time=5"] },
      { binary: "kdig", base: ["+norec", "+ignore", "+retry=1", "+timeout=5"] },
    ];
    for (const { binary, base } of clients) {
      for (const transport of ["udp", "tcp"]) {
        await t.step(`${binary} over ${transport}`, async () => {
          for (const [name, type, ...extra] of QUERIES) {
            // kdig sends no OPT unless asked; dig's +noedns is kdig's default.
            const options = binary === "kdig"
              ? extra.map((o) => o === "+noedns" ? "+noedns" : o)
              : extra;
            const args = [
              ...base,
              ...options,
              name,
              type,
              ...(transport === "tcp" ? ["+tcp"] : []),
            ];
            const [mine, theirs] = await Promise.all([
              runClient(binary, ["@127.0.0.1", "-p", String(ourPort), ...args]),
              runClient(binary, ["@127.0.0.1", "-p", String(nsd.port), ...args]),
            ]);
            assert.deepEqual(
              summarize(mine.stdout),
              summarize(theirs.stdout),
              `${binary} ${args.join(" ")}\n--- ours:\n${mine.stdout}\n--- NSD:\n${theirs.stdout}`,
            );
          }
        });
      }
    }
  },
});
