// Runs one service as a process: start it, report where it listens, wait for
// SIGINT or SIGTERM, then stop accepting and drain within a deadline.
//
// Exit codes: 0 after a clean drain; 1 when startup failed or the drain ran
// past its deadline (the reason is logged either way).

import type { ConfigOf, FlagSpecs } from "./cli.ts";
import { type LogFormat, logger, type LogLevel, setupLogging } from "./log.ts";
import type { ServiceDefinition, ServiceHandle } from "./service.ts";

interface LifecycleConfig {
  logLevel?: string;
  logFormat?: string;
  drainTimeoutMs?: number;
}

const SIGNALS = ["SIGINT", "SIGTERM"] as const;

/** Runs `service` until a stop signal arrives; resolves to the exit code. */
export async function runService<S extends FlagSpecs>(
  service: ServiceDefinition<S>,
  config: ConfigOf<S>,
): Promise<number> {
  const lifecycle = config as LifecycleConfig;
  setupLogging({
    level: (lifecycle.logLevel ?? "info") as LogLevel,
    format: (lifecycle.logFormat ?? "text") as LogFormat,
  });
  const log = logger(service.name);
  const stopSignal = waitForStopSignal();
  let handle: ServiceHandle;
  try {
    handle = await service.start(config);
  } catch (error) {
    stopSignal.cancel();
    log.fatal("{service} failed to start: {error}", {
      service: service.name,
      error: describe(error),
    });
    return 1;
  }
  for (const [role, address] of Object.entries(handle.addresses)) {
    // Tests and the supervisor read this line: "<service> listening <role> on <host:port>".
    log.info("{service} listening {role} on {address}", {
      service: service.name,
      role,
      address: formatAddress(address),
    });
  }
  const signal = await stopSignal.promise;
  log.info("{signal} received, draining", { signal });
  const drainTimeoutMs = lifecycle.drainTimeoutMs ?? 10_000;
  const outcome = await withDeadline(handle.close(), drainTimeoutMs);
  if (outcome === "timeout") {
    log.error("drain did not finish within {ms} ms", { ms: drainTimeoutMs });
    return 1;
  }
  if (outcome instanceof Error) {
    log.error("error while stopping: {error}", { error: describe(outcome) });
    return 1;
  }
  log.info("{service} stopped", { service: service.name });
  return 0;
}

/** "127.0.0.1:8080", or "[::1]:8080" for IPv6. */
export function formatAddress(address: Deno.NetAddr): string {
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  return `${host}:${address.port}`;
}

interface StopSignal {
  promise: Promise<string>;
  cancel(): void;
}

/** Resolves with the first SIGINT/SIGTERM; a second one is left to the default (exit). */
export function waitForStopSignal(): StopSignal {
  let resolve!: (signal: string) => void;
  const promise = new Promise<string>((r) => resolve = r);
  const handlers = SIGNALS.map((signal) => {
    const handler = () => {
      cancel();
      resolve(signal);
    };
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  const cancel = () => {
    for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
  };
  return { promise, cancel };
}

async function withDeadline(
  work: Promise<void>,
  timeoutMs: number,
): Promise<"done" | "timeout" | Error> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    return await Promise.race([
      work.then(
        () => "done" as const,
        (error) => error instanceof Error ? error : new Error(String(error)),
      ),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
