// Ports for the side-by-side benchmarks: a free loopback port to hand a
// server, and a wait until something listens there. Shared by every
// bench/<service>.ts that starts servers as processes.

/** A loopback port nothing listens on right now (bound on port 0, then released). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Resolves once a TCP connect to 127.0.0.1:`port` succeeds; throws after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`nothing listening on port ${port}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
