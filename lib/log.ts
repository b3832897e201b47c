// Logging, set up once per process through LogTape.
//
// Every service logs under its own category (["underhood", "<service>"]) so
// the supervisor's merged output says who spoke. Lines go to stderr: human
// readable by default, one JSON object per line with `--log-format json`.
// Writes are synchronous so a crash never loses the line that explains it;
// a line that cannot be written (the reader of our stderr is gone) is
// dropped, never thrown into the code that logged it.
//
// The stack (tools/stack) sends its own records through `write` to the same
// stream as its children's lines, with `fields: { service: "stack" }`.

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
  /** Where formatted lines go; default: stderr. */
  write?: (line: string) => void;
  /** Fields added to every JSON line (ignored in text format). */
  fields?: Readonly<Record<string, unknown>>;
}

const encoder = new TextEncoder();

/** Configures logging for this process; calling it again replaces the setup. */
export function setupLogging(options: LogOptions): void {
  const fields = options.fields ?? {};
  const formatter = options.format === "json"
    ? (record: LogRecord) => formatJsonLine(record, fields)
    : getTextFormatter({ timestamp: "date-time", category: ".", value: "bare" });
  const write = options.write ?? writeStderr;
  resetSync();
  configureSync({
    reset: true,
    sinks: {
      stderr: (record: LogRecord) => write(formatter(record)),
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

/** Writes `text` to stderr whole; drops it when stderr is gone (a broken pipe). */
export function writeStderr(text: string): void {
  writeAllSync(Deno.stderr, text);
}

/** Writes `text` to stdout whole; drops it when stdout is gone (a broken pipe). */
export function writeStdout(text: string): void {
  writeAllSync(Deno.stdout, text);
}

function writeAllSync(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  let offset = 0;
  try {
    while (offset < bytes.length) offset += stream.writeSync(bytes.subarray(offset));
  } catch {
    // Nobody is reading any more: losing a log line beats crashing mid-drain.
  }
}

/**
 * One JSON object per line: time, level, logger, the message with its values
 * filled in (strings bare), and the values again as fields for machines.
 */
export function formatJsonLine(
  record: LogRecord,
  fields: Readonly<Record<string, unknown>> = {},
): string {
  let message = "";
  record.message.forEach((part, i) => {
    message += i % 2 === 0 ? part : renderValue(part);
  });
  return JSON.stringify({
    time: new Date(record.timestamp).toISOString(),
    level: record.level,
    logger: record.category.join("."),
    message,
    ...fields,
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
