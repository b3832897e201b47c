// The conformance check against the reference: the same zone files served by
// NSD and by our server, the same queries asked through dig and kdig, over
// UDP and TCP; rcode, flags and every section must match (records compared
// as sorted sets, since record order within a section is not significant).
// Both clients must exit 0 with a real status, and the answer section must
// be non-empty exactly where it should be, so two silent servers (or two
// empty answers) can never compare equal.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { service } from "../../../services/dns/mod.ts";
import { interopTest, runClient } from "../../_support/interop.ts";
import { listenBoth } from "../../_support/listen_both.ts";
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

/** The queries whose answer section is rightly empty (NXDOMAIN, NODATA, referral, REFUSED). */
const EMPTY_ANSWER = new Set([
  "nope.interop.example A",
  "www.interop.example TXT",
  "b.ent.interop.example A",
  "wild.interop.example A",
  "deep.sub.interop.example A",
  "sub.interop.example NS",
  "outside.test A",
]);

/**
 * Whether the answer section should hold records. The big TXT RRset (about
 * 750 octets) fits over TCP and in dig's default 1232-octet EDNS size, and
 * comes back truncated and empty in 512 octets (kdig sends no OPT unless
 * asked) or 600.
 */
function answerExpected(binary: string, transport: string, query: readonly string[]): boolean {
  if (EMPTY_ANSWER.has(query.join(" "))) return false;
  const [name, , ...extra] = query;
  if (name !== "big.interop.example" || transport === "tcp") return true;
  return binary === "dig" && extra.length === 0;
}

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

/**
 * Asks the same question of both servers with one client and asserts equal
 * replies: each client exits 0 with a status, and the answer section is
 * empty exactly when `answerExpected` is false.
 */
async function assertSameAnswers(
  binary: string,
  args: readonly string[],
  ports: { ours: number; reference: number },
  answerExpected: boolean,
): Promise<void> {
  const [mine, theirs] = await Promise.all([
    runClient(binary, ["@127.0.0.1", "-p", String(ports.ours), ...args]),
    runClient(binary, ["@127.0.0.1", "-p", String(ports.reference), ...args]),
  ]);
  const what = `${binary} ${args.join(" ")}\n--- ours:\n${mine.stdout}${mine.stderr}` +
    `\n--- NSD:\n${theirs.stdout}${theirs.stderr}`;
  assert.equal(mine.code, 0, `our server: ${binary} exited ${mine.code}: ${what}`);
  assert.equal(theirs.code, 0, `NSD: ${binary} exited ${theirs.code}: ${what}`);
  const [ours, reference] = [summarize(mine.stdout), summarize(theirs.stdout)];
  for (const [who, summary] of [["our server", ours], ["NSD", reference]] as const) {
    assert.notEqual(summary.status, "none", `${who}: no status in the reply: ${what}`);
    assert.equal(
      (summary.sections.ANSWER ?? []).length > 0,
      answerExpected,
      `${who}: ${answerExpected ? "an empty" : "a non-empty"} answer section: ${what}`,
    );
  }
  assert.deepEqual(ours, reference, what);
}

interopTest("the interop comparison fails against a silent server", {
  binaries: ["dig", "kdig"],
  async fn() {
    // Takes UDP and TCP on one port and never answers either.
    const { socket: udp, listener: tcp } = listenBoth("127.0.0.1", 0);
    const port = tcp.addr.port;
    try {
      const ports = { ours: port, reference: port };
      for (
        const [binary, base] of [
          ["dig", ["+norec", "+tries=1", "+time=1"]],
          ["kdig", ["+norec", "+retry=0", "+timeout=1"]],
        ] as const
      ) {
        for (const transport of [[], ["+tcp"]]) {
          await assert.rejects(
            assertSameAnswers(
              binary,
              [...base, "www.interop.example", "A", ...transport],
              ports,
              true,
            ),
            assert.AssertionError,
          );
        }
      }
    } finally {
      udp.close();
      tcp.close();
    }
  },
});

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
      // The second UDP pass is answered from our answer cache.
      for (const transport of ["udp", "tcp", "udp again"]) {
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
            await assertSameAnswers(
              binary,
              args,
              { ours: ourPort, reference: nsd.port },
              answerExpected(binary, transport, [name, type, ...extra]),
            );
          }
        });
      }
    }
  },
});
