// Logging, set up once per process through LogTape.
//
// Every service logs under its own category (["underhood", "<service>"]) so
// the supervisor's merged output says who spoke. Lines go to stderr: human
// readable by default, one JSON object per line with `--log-format json`.
// Writes are synchronous so a crash never loses the line that explains it.

import {
  configureSync,
  getLogger,
  getTextFormatter,
  type Logger,
  type LogLevel,
  type LogRecord,
  resetSync,
} from "@logtape/logtape";

export type { Logger, LogLevel };

export const LOG_LEVELS = ["trace", "debug", "info", "warning", "error", "fatal"] as const;
export const LOG_FORMATS = ["text", "json"] as const;
export type LogFormat = typeof LOG_FORMATS[number];

export interface LogOptions {
  level: LogLevel;
  format: LogFormat;
}

const encoder = new TextEncoder();

/** Configures logging for this process; calling it again replaces the setup. */
export function setupLogging(options: LogOptions): void {
  const formatter = options.format === "json"
    ? formatJsonLine
    : getTextFormatter({ timestamp: "date-time", category: ".", value: "bare" });
  resetSync();
  configureSync({
    reset: true,
    sinks: {
      stderr: (record: LogRecord) => writeAll(encoder.encode(formatter(record))),
    },
    loggers: [
      { category: ["underhood"], lowestLevel: options.level, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/** The logger for one service or library, e.g. `logger("dns")`. */
export function logger(...category: string[]): Logger {
  return getLogger(["underhood", ...category]);
}

function writeAll(bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += Deno.stderr.writeSync(bytes.subarray(offset));
}

/**
 * One JSON object per line: time, level, logger, the message with its values
 * filled in (strings bare), and the values again as fields for machines.
 */
export function formatJsonLine(record: LogRecord): string {
  let message = "";
  record.message.forEach((part, i) => {
    message += i % 2 === 0 ? part : renderValue(part);
  });
  return JSON.stringify({
    time: new Date(record.timestamp).toISOString(),
    level: record.level,
    logger: record.category.join("."),
    message,
    ...record.properties,
  }, jsonSafe) + "\n";
}

function renderValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof Error) return value.message;
  try {
    return JSON.stringify(value, jsonSafe) ?? String(value);
  } catch {
    return String(value);
  }
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}
