// Starts a throwaway redis-server (persistence off) on a free loopback
// port, for differential tests. redis-server has no "--port 0", so the port
// is probed and handed over; tests/_support/reference_port.ts waits for its
// "Ready to accept connections" and starts it again on another port when
// someone took that one first.

import { startOnFreePort } from "../../_support/reference_port.ts";

export interface RedisServer {
  readonly port: number;
  readonly process: Deno.ChildProcess;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startRedis(extraArgs: string[] = []): Promise<RedisServer> {
  const redis = await startOnFreePort((port) =>
    new Deno.Command("redis-server", {
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
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn(), { ready: /Ready to accept connections/ });
  return {
    port: redis.port,
    process: redis.process,
    async [Symbol.asyncDispose]() {
      try {
        redis.process.kill("SIGKILL");
      } catch { /* already gone */ }
      await redis.exited;
    },
  };
}
