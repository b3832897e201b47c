// Runs NSD, the reference authoritative server, on a free loopback port with
// its own temporary config and state, for interop tests and the benchmark.
// NSD runs in the foreground (-d) as the current user with rate limiting off
// (Debian's default would throttle a benchmark), and is killed on close.

import { query } from "../../lib/dns/client.ts";
import { RecordType } from "../../lib/dns/types.ts";

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
  for (let attempt = 0; attempt < 20; attempt++) {
    const udp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const port = (udp.addr as Deno.NetAddr).port;
    try {
      const tcp = Deno.listen({ hostname: "127.0.0.1", port });
      tcp.close();
      return port;
    } catch {
      // taken for TCP: try another
    } finally {
      udp.close();
    }
  }
  throw new Error("no free port found");
}

export async function startNsd(
  zones: readonly NsdZone[],
  options: { serverCount?: number; timeoutMs?: number } = {},
): Promise<RunningNsd> {
  const dir = await Deno.makeTempDir({ prefix: "underhood-nsd-" });
  const port = freePort();
  const config = [
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
    `  logfile: "${dir}/nsd.log"`,
    `  server-count: ${options.serverCount ?? 1}`,
    "  rrl-ratelimit: 0",
    "  do-ip6: no",
    "  verbosity: 0",
    "remote-control:",
    "  control-enable: no",
    ...zones.flatMap((z) => ["zone:", `  name: ${z.name}`, `  zonefile: "${z.file}"`]),
  ].join("\n");
  await Deno.writeTextFile(`${dir}/nsd.conf`, config + "\n");
  const child = new Deno.Command("nsd", {
    args: ["-d", "-c", `${dir}/nsd.conf`],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const collected: string[] = [];
  const pump = (async () => {
    for (;;) {
      const { value, done } = await stderr.read();
      if (done) return;
      collected.push(value);
    }
  })();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const close = async () => {
    if (!exited) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }
    await status;
    await pump;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  // Ready once it answers a query for the first zone.
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  for (;;) {
    if (exited) {
      await close();
      throw new Error(`nsd exited before answering:\n${collected.join("")}`);
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
        throw new Error(`nsd did not answer in time: ${error}\n${collected.join("")}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return { port, close, [Symbol.asyncDispose]: close };
}
