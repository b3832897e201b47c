// Command-line flags, declared once per command.
//
// A command declares its flags as a table (name, type, default, help); from
// that one table come the parser (node:util parseArgs, strict), the typed
// config object its `start()` receives, and the `--help` text. Flag names
// are kebab-case on the command line and camelCase in the config.
//
// Every flag can also be set in the environment, so containers and manifests
// need no wrapper scripts (docs/architecture.md, "Rules every service follows"):
//
// - `UNDERHOOD_<COMMAND>_<FLAG>`: the command and flag names upper-cased,
//   dashes turned into underscores (`--drain-timeout-ms` of `http-api` is
//   `UNDERHOOD_HTTP_API_DRAIN_TIMEOUT_MS`).
// - `UNDERHOOD_<FLAG>`, shared by every command that has the flag, for the
//   few flags in SHARED_ENV_FLAGS only (host, log level and format, drain
//   timeout): one line in an image or a compose file sets them for all. The
//   command's own variable wins over the shared one.
// - A flag on the command line wins over both; for a repeatable flag, the
//   flags given replace the variable's list rather than adding to it.
// - A repeatable flag's variable holds its values separated by whitespace
//   (spaces, tabs or newlines): values themselves hold commas (`--stub
//   ZONE=ADDR,ADDR`) and colons (addresses), never spaces.
// - A boolean's variable is true, false, 1, 0, yes or no. An empty variable
//   counts as unset (compose's `${VAR:-}` gives one).
// - A bad value is refused with the flag's own message, naming the variable
//   instead of the flag; a variable with the command's prefix that names no
//   flag is refused like an unknown flag (a typo would otherwise be silently
//   ignored). Variables of other commands are ignored, so one environment
//   can carry every service's settings.
//
// Old names in `aliases` have no variable of their own. On Kubernetes, no
// Service may be called `underhood-<command>`: the kubelet would inject
// `UNDERHOOD_<COMMAND>_PORT=tcp://...` into every pod (deploy/k8s sets
// enableServiceLinks: false as well).

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

/** The flags whose `UNDERHOOD_<FLAG>` variable applies to every command that has them. */
export const SHARED_ENV_FLAGS: readonly string[] = [
  "host",
  "log-level",
  "log-format",
  "drain-timeout-ms",
];

/** Prefix of every variable lib/cli.ts reads. */
export const ENV_PREFIX = "UNDERHOOD_";

/** Where environment settings come from: the command they are for, and the variables. */
export interface FlagEnvironment {
  /** The command's name, as in the command table (`http-api`). */
  readonly command: string;
  /** The process environment (`Deno.env.toObject()` in main.ts). */
  readonly variables: Readonly<Record<string, string | undefined>>;
}

/** `UNDERHOOD_HTTP_API_DRAIN_TIMEOUT_MS` for `http-api` and `drain-timeout-ms`. */
export function envName(command: string, flag: string): string {
  return `${envPrefixOf(command)}${envWord(flag)}`;
}

/** `UNDERHOOD_LOG_FORMAT`: the shared variable of a flag in SHARED_ENV_FLAGS. */
export function sharedEnvName(flag: string): string {
  return `${ENV_PREFIX}${envWord(flag)}`;
}

/** The variables a flag is read from, the command's own first. */
export function envNamesOf(command: string, flag: string): string[] {
  const own = envName(command, flag);
  return SHARED_ENV_FLAGS.includes(flag) ? [own, sharedEnvName(flag)] : [own];
}

function envPrefixOf(command: string): string {
  return `${ENV_PREFIX}${envWord(command)}_`;
}

function envWord(name: string): string {
  return name.toUpperCase().replaceAll("-", "_");
}

export interface ParsedCommandLine<S extends FlagSpecs> {
  config: ConfigOf<S>;
  positionals: string[];
  help: boolean;
}

export interface ParseFlagsOptions {
  allowPositionals?: boolean;
  /** Read flags not given on the command line from these variables (see the header). */
  env?: FlagEnvironment;
}

/**
 * Parses `args` against `specs`, then the environment for the flags not
 * given; throws UsageError on anything unknown or malformed.
 */
export function parseFlags<S extends FlagSpecs>(
  specs: S,
  args: readonly string[],
  options: ParseFlagsOptions = {},
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
  if (options.env) checkEnvNames(specs, options.env);
  const config: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const given = withAliases(name, spec, values);
    const fromEnv = given === undefined && options.env
      ? envValue(name, spec, options.env)
      : undefined;
    config[camelCase(name)] = fromEnv === undefined
      ? convert(`--${name}`, spec, given)
      : convert(fromEnv.variable, spec, fromEnv.value);
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

/** Refuses a variable with the command's own prefix that names none of its flags. */
function checkEnvNames(specs: FlagSpecs, env: FlagEnvironment): void {
  const prefix = envPrefixOf(env.command);
  const known = new Set(Object.keys(specs).map((flag) => envName(env.command, flag)));
  for (const [variable, value] of Object.entries(env.variables)) {
    if (!variable.startsWith(prefix) || known.has(variable) || !value) continue;
    throw new UsageError(
      `${variable}: ${env.command} has no flag --${
        variable.slice(prefix.length).toLowerCase().replaceAll("_", "-")
      } (unknown variable)`,
    );
  }
}

/** The first set (non-empty) variable of a flag, parsed to what parseArgs would give. */
function envValue(
  flag: string,
  spec: FlagSpec,
  env: FlagEnvironment,
): { variable: string; value: string | boolean | string[] } | undefined {
  for (const variable of envNamesOf(env.command, flag)) {
    const text = env.variables[variable];
    if (text === undefined || text.trim() === "") continue;
    switch (spec.type) {
      case "strings":
        return { variable, value: text.trim().split(/\s+/) };
      case "boolean": {
        const word = text.trim().toLowerCase();
        if (TRUE_WORDS.includes(word)) return { variable, value: true };
        if (FALSE_WORDS.includes(word)) return { variable, value: false };
        throw new UsageError(
          `${variable}: expected one of ${[...TRUE_WORDS, ...FALSE_WORDS].join(", ")}, ` +
            `got "${text}"`,
        );
      }
      default:
        return { variable, value: text };
    }
  }
  return undefined;
}

const TRUE_WORDS = ["true", "1", "yes"];
const FALSE_WORDS = ["false", "0", "no"];

/**
 * The `--help` text for one command. The usage shows the two ways it really
 * runs: the deno.json task of the same name, and main.ts itself (from the
 * repository; give main.ts's path from anywhere else). Each flag's line ends
 * with the variables it is also read from.
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
    const env = ` [env: ${envNamesOf(command, entries[i][0]).join(", ")}]`;
    lines.push(`${labels[i].padEnd(width)}${spec.help}${choices}${shown}${aliases}${env}`);
  });
  lines.push(`  ${"-h, --help".padEnd(width - 2)}show this help`);
  if (entries.length > 0) {
    lines.push(
      "",
      "Each flag can also be set in the environment variable in brackets; a flag given wins.",
      "A repeatable flag's variable holds its values separated by spaces; a boolean's is",
      "true/false, 1/0 or yes/no.",
    );
  }
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

/** `label` is how an error names the source: `--port` or `UNDERHOOD_DNS_PORT`. */
function convert(
  label: string,
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
        throw new UsageError(`${label}: expected an integer, got "${text}"`);
      }
      if (spec.type === "port" && (value < 0 || value > 65535)) {
        throw new UsageError(`${label}: a port is 0-65535, got ${value}`);
      }
      return value;
    }
    case "string": {
      const text = String(raw);
      if (spec.choices && !spec.choices.includes(text)) {
        throw new UsageError(
          `${label}: expected one of ${spec.choices.join(", ")}, got "${text}"`,
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
