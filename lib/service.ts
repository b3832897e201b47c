// The contract every command follows, so main.ts, the stack supervisor and
// the tests start them all the same way.
//
// A service declares its flags once and exports `start(config)`, which
// resolves once the service is listening and answers. Port 0 picks a free
// port; the handle's `addresses` say which were chosen; `close()` stops
// accepting, drains in-flight work and releases every resource.

import { type ConfigOf, type FlagSpecs, UsageError } from "./cli.ts";
import { LOG_FORMATS, LOG_LEVELS } from "./log.ts";

export interface ServiceHandle {
  /** Where the service listens, by role ("tcp", "udp", "http", "admin", ...). */
  readonly addresses: Readonly<Record<string, Deno.NetAddr>>;
  /** Resolved once the service answers; `start()` only returns after it. */
  readonly ready: Promise<void>;
  /** Stops accepting, drains in-flight work, releases ports and files. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A long-running server command such as `dns` or `cache`. */
export interface ServiceDefinition<S extends FlagSpecs = FlagSpecs> {
  readonly kind: "service";
  readonly name: string;
  readonly summary: string;
  readonly flags: S;
  start(config: ConfigOf<S>): Promise<ServiceHandle>;
}

/** A command that runs to completion, such as `dig`, `curl` or `start`. */
export interface ToolDefinition<S extends FlagSpecs = FlagSpecs> {
  readonly kind: "tool";
  readonly name: string;
  readonly summary: string;
  readonly flags: S;
  /** Shown after `[flags]` in the usage line, e.g. "NAME [TYPE] [@SERVER]". */
  readonly usage?: string;
  readonly allowPositionals?: boolean;
  /** Returns the process exit code. */
  run(config: ConfigOf<S>, positionals: string[]): Promise<number>;
}

// deno-lint-ignore no-explicit-any
export type Command = ServiceDefinition<any> | ToolDefinition<any>;

/**
 * One line of the command table (commands.ts). Lives here rather than in
 * commands.ts so a command that needs the table (the stack) receives it as a
 * parameter and imports nothing back: no import cycle.
 */
export interface CommandEntry {
  readonly summary: string;
  /** What the command is: a long-running service or a tool. */
  readonly kind: "service" | "tool";
  /** Loads the command's module; absent while it is not written yet. */
  readonly load?: () => Promise<Command>;
}

export type CommandTable = Readonly<Record<string, CommandEntry>>;

/** Declares a service, keeping its flag table's literal types for ConfigOf. */
export function defineService<S extends FlagSpecs>(
  definition: Omit<ServiceDefinition<S>, "kind">,
): ServiceDefinition<S> {
  return { kind: "service", ...definition };
}

/** Declares a tool command. */
export function defineTool<S extends FlagSpecs>(
  definition: Omit<ToolDefinition<S>, "kind">,
): ToolDefinition<S> {
  return { kind: "tool", ...definition };
}

/** Offset from a service's port to its admin port, when it does not speak HTTP. */
export const ADMIN_PORT_OFFSET = 10000;

/**
 * The flags every service shares, spelled the same everywhere (docs/architecture.md).
 * `--admin-port` defaults to the service port + 10000 when not given; port 0
 * picks a free admin port too.
 */
export function commonFlags(service: string, defaultPort: number) {
  return {
    host: { type: "string", default: "127.0.0.1", help: "address to listen on" },
    port: { type: "port", default: defaultPort, help: "port to listen on (0 picks a free one)" },
    "admin-port": {
      type: "port",
      help: `port for /healthz and /metrics (default: port + ${ADMIN_PORT_OFFSET})`,
    },
    "data-dir": {
      type: "string",
      default: `./data/${service}`,
      help: "directory for this service's data",
    },
    "log-level": {
      type: "string",
      default: "info",
      choices: LOG_LEVELS,
      help: "lowest level logged",
    },
    "log-format": {
      type: "string",
      default: "text",
      choices: LOG_FORMATS,
      help: "log line format",
    },
    "drain-timeout-ms": {
      type: "integer",
      default: 10_000,
      help: "how long in-flight work may take to finish on shutdown",
    },
  } as const satisfies FlagSpecs;
}

export type CommonConfig = ConfigOf<ReturnType<typeof commonFlags>>;

const PORT_MAX = 65535;

/**
 * The admin port a service should use: the flag, or port + offset (0 stays
 * 0). Throws a UsageError saying so, and what to do, when port + offset is
 * past 65535; main.ts checks it before starting a service.
 */
export function adminPortOf(config: { port: number; adminPort?: number }): number {
  if (config.adminPort !== undefined) return config.adminPort;
  if (config.port === 0) return 0;
  const adminPort = config.port + ADMIN_PORT_OFFSET;
  if (adminPort > PORT_MAX) {
    throw new UsageError(
      `--port ${config.port}: the admin port would be ${adminPort} (port + ${ADMIN_PORT_OFFSET}), ` +
        `past ${PORT_MAX}; give --admin-port PORT as well (0 picks a free one)`,
    );
  }
  return adminPort;
}
