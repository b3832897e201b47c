// Starts a throwaway redis-server (persistence off) on a free loopback
// port, for differential tests. redis-server has no "--port 0", so we bind
// port 0, note the port, close, and hand it over.

export interface RedisServer {
  readonly port: number;
  readonly process: Deno.ChildProcess;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bind port 0, read it, release it). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

export async function startRedis(extraArgs: string[] = []): Promise<RedisServer> {
  const port = freePort();
  const process = new Deno.Command("redis-server", {
    args: [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      ...extraArgs,
    ],
    stdout: "null",
    stderr: "null",
    stdin: "null",
  }).spawn();
  const deadline = Date.now() + 10_000;
  while (true) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        process.kill("SIGKILL");
        await process.status;
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    port,
    process,
    async [Symbol.asyncDispose]() {
      try {
        process.kill("SIGKILL");
      } catch { /* already gone */ }
      await process.status;
    },
  };
}
