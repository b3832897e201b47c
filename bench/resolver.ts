// bench/resolver.ts: our resolver against Unbound, side by side, both
// answering from their caches.
//
// Both resolvers get the same stub zone (example.com served by our
// authoritative server), are primed with every query in the list, then
// dnsperf drives each for the same time with the same list (all cache
// hits). Prints queries/s for both and the ratio ours/Unbound.
//
//   deno run -A bench/resolver.ts [--seconds 10] [--clients 10] [--rounds N]
//
// Needs dnsperf and unbound (Debian packages).

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { service as dnsService } from "../services/dns/mod.ts";
import { service as resolverService } from "../services/resolver/mod.ts";
import { defaultConfig } from "../lib/cli.ts";
import { setupLogging } from "../lib/log.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    clients: { type: "string", default: "10" },
    rounds: { type: "string", default: "1" },
  },
  strict: true,
});
const seconds = Number(values.seconds);
const clients = Number(values.clients);

const ZONE = fileURLToPath(new URL("../config/zones/example.com.zone", import.meta.url));
const QUERIES = [
  "example.com A",
  "example.com AAAA",
  "example.com MX",
  "example.com TXT",
  "example.com NS",
  "www.example.com A",
  "www.example.com AAAA",
  "mail.example.com A",
  "mail.example.com AAAA",
  "ns1.example.com A",
];

setupLogging({ level: "error", format: "text" });
const dir = await Deno.makeTempDir({ prefix: "bench-resolver-" });
const queryFile = `${dir}/queries.txt`;
await Deno.writeTextFile(queryFile, QUERIES.join("\n") + "\n");

const dns = await dnsService.start(
  defaultConfig(dnsService.flags, { port: 0, zone: [ZONE], rrlRate: 0, dataDir: dir }),
);
const authPort = dns.addresses.udp.port;
const ours = await resolverService.start(
  defaultConfig(resolverService.flags, {
    port: 0,
    dataDir: dir,
    stub: [`example.com=127.0.0.1:${authPort}`],
  }),
);
const unboundPort = freeUdpPort();
const unbound = await startUnbound(dir, unboundPort, authPort);

try {
  const ourPort = ours.addresses.udp.port;
  await prime(ourPort);
  await prime(unboundPort);
  // Rounds alternate which resolver goes first, so a burst of load from
  // elsewhere on a shared machine does not always land on the same side;
  // the median of the per-round ratios is the figure to quote.
  console.log(`resolver (cache hits, dnsperf -c ${clients}, ${seconds} s per side per round)`);
  const ratios: number[] = [];
  for (let round = 0; round < Number(values.rounds); round++) {
    const first = round % 2 === 0 ? ourPort : unboundPort;
    const second = first === ourPort ? unboundPort : ourPort;
    const a = await dnsperf(first);
    const b = await dnsperf(second);
    const [oursQps, unboundQps] = first === ourPort ? [a, b] : [b, a];
    ratios.push(oursQps / unboundQps);
    console.log(
      `  round ${round + 1}: ours ${oursQps.toFixed(0)}, unbound ${
        unboundQps.toFixed(0)
      } queries/s, ` +
        `ours/unbound ${(oursQps / unboundQps).toFixed(2)}`,
    );
  }
  ratios.sort((x, y) => x - y);
  const median = medianOf(ratios);
  console.log(
    `  ours/unbound ${median.toFixed(2)}` +
      (ratios.length > 1
        ? ` (median of ${ratios.length} rounds; range ${ratios[0].toFixed(2)}-${
          ratios.at(-1)!.toFixed(2)
        })`
        : ""),
  );
} finally {
  unbound.kill("SIGTERM");
  await unbound.status;
  await ours.close();
  await dns.close();
  await Deno.remove(dir, { recursive: true });
}

async function dnsperf(port: number): Promise<number> {
  const output = await new Deno.Command("dnsperf", {
    args: [
      "-s",
      "127.0.0.1",
      "-p",
      String(port),
      "-d",
      queryFile,
      "-l",
      String(seconds),
      "-c",
      String(clients),
      "-q",
      "200",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  const match = /Queries per second:\s+([\d.]+)/.exec(text);
  if (!match) {
    throw new Error(`dnsperf gave no rate:\n${text}\n${new TextDecoder().decode(output.stderr)}`);
  }
  return Number(match[1]);
}

async function prime(port: number): Promise<void> {
  for (const line of QUERIES) {
    const [name, type] = line.split(" ");
    await new Deno.Command("dig", {
      args: ["@127.0.0.1", "-p", String(port), name, type, "+short"],
      stdout: "null",
    })
      .output();
  }
}

async function startUnbound(
  dir: string,
  port: number,
  authPort: number,
): Promise<Deno.ChildProcess> {
  const config = `${dir}/unbound.conf`;
  await Deno.writeTextFile(
    config,
    `server:
  interface: 127.0.0.1
  port: ${port}
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "${dir}"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 0
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  module-config: "iterator"
  do-ip6: no
stub-zone:
  name: "example.com"
  stub-addr: 127.0.0.1@${authPort}
`,
  );
  const child = new Deno.Command("unbound", {
    args: ["-d", "-c", config],
    stdout: "null",
    stderr: "inherit",
  })
    .spawn();
  // Wait until it answers.
  for (let i = 0; i < 50; i++) {
    const out = await new Deno.Command("dig", {
      args: ["@127.0.0.1", "-p", String(port), "example.com", "+short", "+time=1", "+tries=1"],
      stdout: "piped",
    }).output();
    if (new TextDecoder().decode(out.stdout).trim() !== "") return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  throw new Error("unbound did not start");
}

function freeUdpPort(): number {
  const socket = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const port = (socket.addr as Deno.NetAddr).port;
  socket.close();
  return port;
}

/** The middle value of a sorted list (the mean of the two middle ones for an even count). */
function medianOf(sorted: readonly number[]): number {
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
