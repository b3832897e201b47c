// underhood's single entry point: `deno run -A main.ts <command> [flags]`.
//
// Dispatches through the table in commands.ts. `help` lists every command;
// `<command> --help` shows that command's flags. A bad command or flag
// prints the problem and the usage and exits with code 2. Flags can also
// come from the environment (UNDERHOOD_<COMMAND>_<FLAG>, lib/cli.ts).

import { COMMANDS } from "./commands.ts";
import { formatHelp, parseFlags, UsageError } from "./lib/cli.ts";
import { runService } from "./lib/lifecycle.ts";
import { adminPortOf, type Command } from "./lib/service.ts";

const USAGE_EXIT = 2;

export async function main(args: readonly string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    if (rest[0] !== undefined && rest[0] in COMMANDS) return await main([rest[0], "--help"]);
    print(overview());
    return name === undefined ? USAGE_EXIT : 0;
  }
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (entry === undefined) {
    printError(`unknown command "${name}"\n\n${overview()}`);
    return USAGE_EXIT;
  }
  if (entry.load === undefined) {
    printError(`${name}: not built yet (${entry.summary})`);
    return 1;
  }
  const command: Command = await entry.load();
  let parsed;
  try {
    parsed = parseFlags(command.flags, rest, {
      allowPositionals: command.kind === "tool" && command.allowPositionals === true,
      // Every flag also reads UNDERHOOD_<COMMAND>_<FLAG> (lib/cli.ts); flags win.
      env: { command: name, variables: Deno.env.toObject() },
    });
    // A derived admin port past 65535 is a bad command line: say so before starting.
    if (command.kind === "service" && "admin-port" in command.flags) {
      adminPortOf(parsed.config as { port: number; adminPort?: number });
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    printError(`${name}: ${error.message}\n\n${helpFor(command)}`);
    return USAGE_EXIT;
  }
  if (parsed.help) {
    print(helpFor(command));
    return 0;
  }
  if (command.kind === "service") return await runService(command, parsed.config);
  try {
    return await command.run(parsed.config, parsed.positionals);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    printError(`${name}: ${error.message}\n\n${helpFor(command)}`);
    return USAGE_EXIT;
  }
}

function helpFor(command: Command): string {
  const usage = command.kind === "tool" ? command.usage : undefined;
  return formatHelp(command.name, command.summary, command.flags, usage);
}

function overview(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length)) + 2;
  const lines = names.map((n) => {
    const entry = COMMANDS[n];
    const status = entry.load ? "" : " (not built yet)";
    return `  ${n.padEnd(width)}${entry.summary}${status}`;
  });
  return [
    "underhood: web services from scratch",
    "",
    "usage: deno run -A main.ts <command> [flags]   (or: deno task <command>)",
    "",
    "commands:",
    `  ${"help".padEnd(width)}list the commands; <command> --help shows its flags`,
    ...lines,
  ].join("\n");
}

function print(text: string): void {
  console.log(text);
}

function printError(text: string): void {
  console.error(text);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
