// DNS authoritative benchmark: dnsperf against our `dns` service and against
// NSD serving the same zone file, one after the other on loopback, printing
// queries per second for each and the ratio ours/NSD.
//
//   deno run -A bench/dns.ts [--seconds 10] [--clients 4] [--outstanding 100] [--no-cache]
//                            [--rounds N]
//
// Both servers get one process and no rate limiting (NSD: `rrl-ratelimit: 0`
// and `server-count: 1`; ours: `--rrl-rate 0`). The query mix cycles through
// positive answers, a referral-free NXDOMAIN, NODATA and an MX with
// additional records. Figures come from a shared 2-core machine: compare the
// ratio, not the absolute numbers.

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { query } from "../lib/dns/client.ts";
import { RecordType } from "../lib/dns/types.ts";
import { freePort, startNsd } from "../tests/_support/nsd.ts";

const ZONE = fileURLToPath(new URL("../config/zones/example.com.zone", import.meta.url));
const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

const QUERIES = [
  "www.example.com A",
  "example.com MX",
  "mail.example.com AAAA",
  "nope.example.com A",
  "www.example.com TXT",
  "example.com NS",
].join("\n") + "\n";

interface Run {
  qps: number;
  lost: number;
  summary: string;
}

async function dnsperf(port: number, seconds: number, clients: number, outstanding: number) {
  const dir = await Deno.makeTempDir({ prefix: "underhood-dnsperf-" });
  try {
    await Deno.writeTextFile(`${dir}/queries.txt`, QUERIES);
    const args = ["-s", "127.0.0.1", "-p", String(port), "-d", `${dir}/queries.txt`].concat(
      ["-l", String(seconds), "-c", String(clients), "-q", String(outstanding)],
    );
    const output = await new Deno.Command("dnsperf", { args, stdout: "piped", stderr: "piped" })
      .output();
    const text = new TextDecoder().decode(output.stdout);
    const qps = Number(/Queries per second:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
    const lost = Number(/Queries lost:\s+(\d+)/.exec(text)?.[1] ?? NaN);
    if (!output.success || Number.isNaN(qps)) {
      throw new Error(`dnsperf failed:\n${text}\n${new TextDecoder().decode(output.stderr)}`);
    }
    const summary = text.split("\n").filter((l) =>
      /Queries (sent|completed|lost)|per second|Average Latency/.test(l)
    )
      .map((l) => l.trim()).join("; ");
    return { qps, lost, summary } satisfies Run;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function waitForAnswer(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      await query({ hostname: "127.0.0.1", port }, "example.com.", RecordType.SOA, {
        timeoutMs: 500,
      });
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`nothing answers on port ${port}`);
}

async function benchOurs(
  seconds: number,
  clients: number,
  outstanding: number,
  cacheEntries: number,
): Promise<Run> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "dns", "--zone", ZONE, "--port", String(port)].concat(
      // Admin port 0: port + 10000 is past 65535 for a high free port.
      ["--rrl-rate", "0", "--log-level", "warning", "--admin-port", "0"],
      ["--answer-cache-entries", String(cacheEntries)],
    ),
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  try {
    await waitForAnswer(port);
    return await dnsperf(port, seconds, clients, outstanding);
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
}

async function benchNsd(seconds: number, clients: number, outstanding: number): Promise<Run> {
  await using nsd = await startNsd([{ name: "example.com", file: ZONE }]);
  return await dnsperf(nsd.port, seconds, clients, outstanding);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: "10" },
      clients: { type: "string", default: "4" },
      outstanding: { type: "string", default: "100" },
      "no-cache": { type: "boolean", default: false },
      rounds: { type: "string", default: "1" },
    },
    strict: true,
  });
  const seconds = Number(values.seconds);
  const clients = Number(values.clients);
  const outstanding = Number(values.outstanding);
  console.log(`dnsperf -l ${seconds} -c ${clients} -q ${outstanding}, zone ${ZONE}`);
  const cacheEntries = values["no-cache"] ? 0 : 10_000;
  const label = cacheEntries ? "ours" : "ours (answer cache off)";
  // Rounds alternate which server goes first, so a burst of load from
  // elsewhere on a shared machine does not always land on the same side;
  // the median of the per-round ratios is the figure to quote.
  const ratios: number[] = [];
  for (let round = 0; round < Number(values.rounds); round++) {
    const sides = [
      async () => ["ours", await benchOurs(seconds, clients, outstanding, cacheEntries)] as const,
      async () => ["nsd", await benchNsd(seconds, clients, outstanding)] as const,
    ];
    if (round % 2 === 1) sides.reverse();
    const results = new Map<string, Run>();
    for (const side of sides) {
      const [name, run] = await side();
      results.set(name, run);
      console.log(
        `${name === "ours" ? label : "nsd "}: ${run.qps.toFixed(0)} queries/s (${run.summary})`,
      );
    }
    const ratio = results.get("ours")!.qps / results.get("nsd")!.qps;
    ratios.push(ratio);
    console.log(`round ${round + 1}: ratio ours/nsd ${ratio.toFixed(2)}`);
  }
  ratios.sort((x, y) => x - y);
  console.log(
    `ratio ours/nsd: ${medianOf(ratios).toFixed(2)}` +
      (ratios.length > 1
        ? ` (median of ${ratios.length} rounds; range ${ratios[0].toFixed(2)}-${
          ratios.at(-1)!.toFixed(2)
        })`
        : ""),
  );
}

/** The middle value of a sorted list (the mean of the two middle ones for an even count). */
function medianOf(sorted: readonly number[]): number {
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
