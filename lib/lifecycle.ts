// Runs one service as a process: start it, report where it listens, wait for
// SIGINT or SIGTERM, then stop accepting and drain within a deadline.
//
// Stop signals are counted, not raced: the first starts the drain, the
// second is only logged (a real Ctrl-C reaches every process of the
// foreground group, and the supervisor then sends its own SIGTERM: that
// second signal must not cut the drain short), the third stops at once
// without finishing the drain.
//
// A supervised process (started by lib/supervisor.ts) stops on SIGTERM only
// and ignores SIGINT: a Ctrl-C reaches every process of the foreground group,
// and a child that stopped on it by itself could exit before the supervisor
// had seen the same Ctrl-C, which would then take the exit for a crash and
// restart it. The supervisor turns the Ctrl-C into one SIGTERM per child.
//
// A process started by the supervisor also watches the
// pipe the supervisor holds on its stdin, announced by the environment
// variable UNDERHOOD_SUPERVISOR_PIPE=stdin. The kernel closes that pipe
// whatever ends the supervisor (SIGKILL, the OOM killer, a crash), so end of
// file on it means "your supervisor is gone": drain and exit like on SIGTERM
// rather than live on as an orphan holding the stack's ports.
//
// Exit codes: 0 after a clean drain; 1 when startup failed, the drain ran
// past its deadline or a third signal forced the stop (the reason is logged
// in every case).

import type { ConfigOf, FlagSpecs } from "./cli.ts";
import { type LogFormat, logger, type LogLevel, setupLogging } from "./log.ts";
import type { ServiceDefinition, ServiceHandle } from "./service.ts";

interface LifecycleConfig {
  logLevel?: string;
  logFormat?: string;
  drainTimeoutMs?: number;
}

const SIGNALS = ["SIGINT", "SIGTERM"] as const;

/** The environment variable the supervisor sets on its children, and its one value. */
export const SUPERVISOR_PIPE_ENV = "UNDERHOOD_SUPERVISOR_PIPE";
export const SUPERVISOR_PIPE_STDIN = "stdin";

/** How many stop signals force an immediate stop. */
export const FORCE_AFTER_SIGNALS = 3;

/**
 * Runs `service` until a stop signal arrives; resolves to the exit code, for
 * the caller to exit with (its stop-signal listeners stay installed).
 */
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
  // Not disposed: the listeners stay until the process exits, so a stop
  // signal that arrives after the drain (the supervisor's SIGTERM following a
  // Ctrl-C that was quicker) cannot turn a clean exit into death by signal.
  // The caller (main.ts) exits with the code this returns.
  const supervised = isSupervised();
  const signals = watchStopSignals({
    signals: supervised ? ["SIGTERM"] : SIGNALS,
    ignore: supervised ? ["SIGINT"] : [],
    onRepeat(signal, count) {
      log.warning(
        "{signal} received again ({count} of {max}); a third stop signal stops at once, without finishing the drain",
        { signal, count, max: FORCE_AFTER_SIGNALS },
      );
    },
  });
  using supervisorGone = watchSupervisorPipe();
  let handle: ServiceHandle;
  try {
    handle = await service.start(config);
  } catch (error) {
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
  const reason = await Promise.race([
    signals.first,
    supervisorGone.closed.then(() => "supervisor gone (its pipe on stdin closed)"),
  ]);
  log.info("{signal} received, draining", { signal: reason });
  const drainTimeoutMs = lifecycle.drainTimeoutMs ?? 10_000;
  const outcome = await withDeadline(handle.close(), drainTimeoutMs, signals.forced);
  if (outcome === "timeout") {
    log.error("drain did not finish within {ms} ms", { ms: drainTimeoutMs });
    return 1;
  }
  if (outcome === "forced") {
    log.error("stop forced by a third stop signal; the drain did not finish");
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

export interface StopSignals extends Disposable {
  /** Resolves with the name of the first SIGINT or SIGTERM. */
  readonly first: Promise<string>;
  /** Resolves with the name of the stop signal that forces the stop (the third). */
  readonly forced: Promise<string>;
}

export type StopSignal = typeof SIGNALS[number];

export interface StopSignalOptions {
  /** Which signals count as stop signals: SIGINT and SIGTERM by default. */
  signals?: readonly StopSignal[];
  /** Signals caught and ignored, so their default action (exit) never runs. */
  ignore?: readonly StopSignal[];
  /** Called for every stop signal after the first that does not yet force the stop. */
  onRepeat?: (signal: string, count: number) => void;
}

/**
 * Counts SIGINT and SIGTERM from now until disposed: `first` resolves on the
 * first, `forced` on the third; the ones between go to `onRepeat`. The
 * listeners stay installed, so no stop signal falls back to the default
 * action (exit) while a drain is running.
 */
export function watchStopSignals(options: StopSignalOptions = {}): StopSignals {
  let resolveFirst!: (signal: string) => void;
  let resolveForced!: (signal: string) => void;
  const first = new Promise<string>((resolve) => resolveFirst = resolve);
  const forced = new Promise<string>((resolve) => resolveForced = resolve);
  let count = 0;
  const counted = (options.signals ?? SIGNALS).map((signal) => {
    const handler = () => {
      count++;
      if (count === 1) resolveFirst(signal);
      else if (count >= FORCE_AFTER_SIGNALS) resolveForced(signal);
      else options.onRepeat?.(signal, count);
    };
    return [signal, handler] as const;
  });
  const ignored = (options.ignore ?? []).map((signal) => [signal, () => {}] as const);
  const handlers = [...counted, ...ignored];
  for (const [signal, handler] of handlers) Deno.addSignalListener(signal, handler);
  return {
    first,
    forced,
    [Symbol.dispose]() {
      for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
    },
  };
}

export interface SupervisorPipe extends Disposable {
  /** Resolves when the supervisor's pipe reaches end of file; never when unsupervised. */
  readonly closed: Promise<void>;
}

/** True when lib/supervisor.ts started this process (it says so in the environment). */
export function isSupervised(
  env: { get(name: string): string | undefined } = Deno.env,
): boolean {
  return env.get(SUPERVISOR_PIPE_ENV) === SUPERVISOR_PIPE_STDIN;
}

/**
 * Watches stdin for end of file when the supervisor said it holds the other
 * end (SUPERVISOR_PIPE_ENV); otherwise does nothing, so a service run by hand
 * or by a container runtime ignores its stdin as before.
 */
export function watchSupervisorPipe(
  env: { get(name: string): string | undefined } = Deno.env,
): SupervisorPipe {
  if (!isSupervised(env)) {
    return { closed: new Promise(() => {}), [Symbol.dispose]() {} };
  }
  const reader = Deno.stdin.readable.getReader();
  const closed = (async () => {
    try {
      // The supervisor never writes; anything that arrives is read and ignored.
      while (!(await reader.read()).done);
    } catch {
      // A read error on the pipe means the same thing as end of file.
    }
  })();
  return {
    closed,
    [Symbol.dispose]() {
      reader.cancel().catch(() => {});
    },
  };
}

async function withDeadline(
  work: Promise<void>,
  timeoutMs: number,
  forced: Promise<string>,
): Promise<"done" | "timeout" | "forced" | Error> {
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
      forced.then(() => "forced" as const),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
