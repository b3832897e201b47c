// Logging, set up once per process through LogTape.
//
// Every service logs under its own category (["underhood", "<service>"]) so
// the supervisor's merged output says who spoke. Lines go to stderr: human
// readable by default, one JSON object per line with `--log-format json`.
// Writes are synchronous so a crash never loses the line that explains it.

import {
  configureSync,
  getJsonLinesFormatter,
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
    ? getJsonLinesFormatter()
    : getTextFormatter({ timestamp: "date-time", category: "." });
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
