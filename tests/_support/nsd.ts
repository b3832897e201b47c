// Runs NSD, the reference authoritative server, on a free loopback port with
// its own temporary config and state, for interop tests and the benchmark.
// NSD runs in the foreground (-d) as the current user with rate limiting off
// (Debian's default would throttle a benchmark), and is killed on close.

import { query } from "../../lib/dns/client.ts";
import { RecordType } from "../../lib/dns/types.ts";
import { probePort, startOnFreePort } from "./reference_port.ts";

export interface NsdZone {
  /** Zone name, e.g. "example.com". */
  readonly name: string;
  /** Absolute path of the zone file. */
  readonly file: string;
}

export interface RunningNsd {
  readonly port: number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A port free for both UDP and TCP right now (another process may take it later). */
export function freePort(): number {
  return probePort({ udp: true });
}

export async function startNsd(
  zones: readonly NsdZone[],
  options: { serverCount?: number; timeoutMs?: number } = {},
): Promise<RunningNsd> {
  const dir = await Deno.makeTempDir({ prefix: "underhood-nsd-" });
  const config = (port: number) =>
    [
      "server:",
      "  ip-address: 127.0.0.1",
      `  port: ${port}`,
      '  username: ""',
      '  chroot: ""',
      `  zonesdir: "${dir}"`,
      `  pidfile: "${dir}/nsd.pid"`,
      '  database: ""',
      `  zonelistfile: "${dir}/zone.list"`,
      `  xfrdfile: "${dir}/xfrd.state"`,
      `  xfrdir: "${dir}"`,
      `  server-count: ${options.serverCount ?? 1}`,
      "  rrl-ratelimit: 0",
      "  do-ip6: no",
      "  verbosity: 0",
      "remote-control:",
      "  control-enable: no",
      ...zones.flatMap((z) => ["zone:", `  name: ${z.name}`, `  zonefile: "${z.file}"`]),
    ].join("\n");
  // NSD logs to stderr with -d and no logfile: "nsd started" comes once its
  // sockets are bound and its zones loaded (tests/_support/reference_port.ts).
  const nsd = await startOnFreePort(async (port) => {
    await Deno.writeTextFile(`${dir}/nsd.conf`, config(port) + "\n");
    return new Deno.Command("nsd", {
      args: ["-d", "-c", `${dir}/nsd.conf`],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  }, { ready: /nsd started/, udp: true, timeoutMs: options.timeoutMs ?? 20_000 }).catch(
    async (error) => {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw error;
    },
  );
  const { port } = nsd;
  let exited = false;
  nsd.exited.then(() => exited = true);
  const close = async () => {
    if (!exited) {
      try {
        nsd.process.kill("SIGKILL");
      } catch { /* gone */ }
    }
    await nsd.exited;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  // Ready once it answers a query for the first zone.
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  for (;;) {
    if (exited) {
      await close();
      throw new Error(`nsd exited before answering:\n${nsd.lines.join("\n")}`);
    }
    try {
      await query({ hostname: "127.0.0.1", port }, `${zones[0].name}.`, RecordType.SOA, {
        tcp: true,
        timeoutMs: 1000,
      });
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        await close();
        throw new Error(`nsd did not answer in time: ${error}\n${nsd.lines.join("\n")}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return { port, close, [Symbol.asyncDispose]: close };
}
