// Command-line flags, declared once per command.
//
// A command declares its flags as a table (name, type, default, help); from
// that one table come the parser (node:util parseArgs, strict), the typed
// config object its `start()` receives, and the `--help` text. Flag names
// are kebab-case on the command line and camelCase in the config.

import { parseArgs } from "node:util";

export type FlagType = "string" | "integer" | "port" | "boolean" | "strings";

export interface FlagSpec {
  type: FlagType;
  help: string;
  /** Default value; flags without one are optional (undefined in config). */
  default?: string | number | boolean | readonly string[];
  /** One-letter alias, as in `-p`. */
  short?: string;
  /** For "string": the accepted values. */
  choices?: readonly string[];
  /** Older long names still accepted (kebab-case, without "--"), e.g. after a rename. */
  aliases?: readonly string[];
}

export type FlagSpecs = Record<string, FlagSpec>;

type KebabToCamel<S extends string> = S extends `${infer Head}-${infer Tail}`
  ? `${Head}${Capitalize<KebabToCamel<Tail>>}`
  : S;

type ValueOf<F extends FlagSpec> = F["type"] extends "integer" | "port" ? number
  : F["type"] extends "boolean" ? boolean
  : F["type"] extends "strings" ? string[]
  : F["choices"] extends readonly (infer C)[] ? C
  : string;

/** The typed config object a flag table produces. */
export type ConfigOf<S extends FlagSpecs> = {
  -readonly [K in keyof S as KebabToCamel<K & string>]: S[K] extends { default: unknown }
    ? ValueOf<S[K]>
    : ValueOf<S[K]> | undefined;
};

/** A bad command line: printed with the usage, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

export interface ParsedCommandLine<S extends FlagSpecs> {
  config: ConfigOf<S>;
  positionals: string[];
  help: boolean;
}

/** Parses `args` against `specs`; throws UsageError on anything unknown or malformed. */
export function parseFlags<S extends FlagSpecs>(
  specs: S,
  args: readonly string[],
  options: { allowPositionals?: boolean } = {},
): ParsedCommandLine<S> {
  const parseOptions: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean }
  > = {
    help: { type: "boolean", short: "h" },
  };
  for (const [name, spec] of Object.entries(specs)) {
    parseOptions[name] = {
      type: spec.type === "boolean" ? "boolean" : "string",
      ...(spec.short ? { short: spec.short } : {}),
      ...(spec.type === "strings" ? { multiple: true } : {}),
    };
    for (const alias of spec.aliases ?? []) {
      const { short: _short, ...long } = parseOptions[name];
      parseOptions[alias] = long;
    }
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: parseOptions,
      strict: true,
      allowPositionals: options.allowPositionals ?? false,
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const config: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    config[camelCase(name)] = convert(name, spec, withAliases(name, spec, values));
  }
  return {
    config: config as ConfigOf<S>,
    positionals: parsed.positionals,
    help: values.help === true,
  };
}

/** The config a flag table gives with no arguments at all, plus overrides. */
export function defaultConfig<S extends FlagSpecs>(
  specs: S,
  overrides: Partial<ConfigOf<S>> = {},
): ConfigOf<S> {
  return { ...parseFlags(specs, []).config, ...overrides };
}

/**
 * The `--help` text for one command. The usage shows the two ways it really
 * runs: the deno.json task of the same name, and main.ts itself (from the
 * repository; give main.ts's path from anywhere else).
 */
export function formatHelp(command: string, summary: string, specs: FlagSpecs, usage = ""): string {
  const rest = `[flags]${usage ? " " + usage : ""}`;
  const lines = [
    `${summary}`,
    "",
    `usage: deno task ${command} ${rest}`,
    `       deno run -A main.ts ${command} ${rest}`,
  ];
  const entries = Object.entries(specs);
  if (entries.length > 0) lines.push("", "flags:");
  const labels = entries.map(([name, spec]) => {
    const short = spec.short ? `-${spec.short}, ` : "";
    const value = spec.type === "boolean" ? "" : ` ${placeholder(spec)}`;
    return `  ${short}--${name}${value}`;
  });
  const width = Math.max(0, ...labels.map((label) => label.length)) + 2;
  entries.forEach(([, spec], i) => {
    const shown = spec.default === undefined ||
        (Array.isArray(spec.default) && spec.default.length === 0) ||
        spec.default === false
      ? ""
      : ` (default: ${Array.isArray(spec.default) ? spec.default.join(",") : spec.default})`;
    const choices = spec.choices ? ` [${spec.choices.join("|")}]` : "";
    const aliases = spec.aliases?.length
      ? ` (also ${spec.aliases.map((alias) => `--${alias}`).join(", ")})`
      : "";
    lines.push(`${labels[i].padEnd(width)}${spec.help}${choices}${shown}${aliases}`);
  });
  lines.push(`  ${"-h, --help".padEnd(width - 2)}show this help`);
  return lines.join("\n");
}

function placeholder(spec: FlagSpec): string {
  switch (spec.type) {
    case "integer":
      return "N";
    case "port":
      return "PORT";
    case "strings":
      return "VALUE";
    default:
      return "VALUE";
  }
}

function convert(
  name: string,
  spec: FlagSpec,
  raw: string | boolean | string[] | undefined,
): unknown {
  if (raw === undefined) {
    return Array.isArray(spec.default) ? [...spec.default] : spec.default;
  }
  switch (spec.type) {
    case "boolean":
      return raw;
    case "strings":
      return raw as string[];
    case "integer":
    case "port": {
      const text = String(raw);
      const value = /^-?\d+$/.test(text) ? Number(text) : NaN;
      if (!Number.isSafeInteger(value)) {
        throw new UsageError(`--${name}: expected an integer, got "${text}"`);
      }
      if (spec.type === "port" && (value < 0 || value > 65535)) {
        throw new UsageError(`--${name}: a port is 0-65535, got ${value}`);
      }
      return value;
    }
    case "string": {
      const text = String(raw);
      if (spec.choices && !spec.choices.includes(text)) {
        throw new UsageError(
          `--${name}: expected one of ${spec.choices.join(", ")}, got "${text}"`,
        );
      }
      return text;
    }
  }
}

/** The flag's value, taking its aliases' too (the canonical name wins; lists join). */
function withAliases(
  name: string,
  spec: FlagSpec,
  values: Record<string, string | boolean | string[] | undefined>,
): string | boolean | string[] | undefined {
  let value = values[name];
  for (const alias of spec.aliases ?? []) {
    const other = values[alias];
    if (other === undefined) continue;
    if (value === undefined) value = other;
    else if (Array.isArray(value) && Array.isArray(other)) value = [...other, ...value];
  }
  return value;
}

function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
