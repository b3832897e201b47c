// The container image's HEALTHCHECK (Dockerfile): GET /readyz of the service
// running in this container, with Deno itself (the image has no curl).
//
// One image runs every service, and the HEALTHCHECK line cannot know which
// one, nor on which port its /readyz answers. So this finds the service's
// process (`deno ... main.ts <command> [flags]`) in /proc, parses its
// command line and the environment with the command's own flag table
// (exactly as main.ts did), and asks the admin port (port + 10000 unless
// --admin-port says otherwise), or the service port for a service that
// speaks HTTP itself. Exit 0 when /readyz answers 200, 1 otherwise, with
// one line saying why (docker inspect shows it).
//
//   deno run -A scripts/healthcheck.ts           the service in this container
//   deno run -A scripts/healthcheck.ts cache     a cache started with no flags

import { COMMANDS } from "../commands.ts";
import { parseFlags } from "../lib/cli.ts";
import { adminPortOf } from "../lib/service.ts";

/** Services whose own port speaks HTTP and serves /readyz there (docs/architecture.md). */
export const HTTP_SERVICES: readonly string[] = ["http-api"];

const TIMEOUT_MS = 3_000;

/** How the service was started: its flags and its environment. */
export interface StartedWith {
  args: readonly string[];
  variables: Readonly<Record<string, string | undefined>>;
}

/** The readiness URL of `command` started with these flags and environment. */
export async function readinessUrl(command: string, started: StartedWith): Promise<string> {
  const { args, variables } = started;
  const entry = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (entry?.load === undefined || entry.kind !== "service") {
    throw new Error(`${command}: not a built service`);
  }
  const { config } = parseFlags((await entry.load()).flags, args, {
    env: { command, variables },
  });
  const { host, port, adminPort } = config as { host: string; port: number; adminPort?: number };
  const target = HTTP_SERVICES.includes(command) ? port : adminPortOf({ port, adminPort });
  const hostname = host === "0.0.0.0" || host === "::" || host === "" ? "127.0.0.1" : host;
  const bracketed = hostname.includes(":") ? `[${hostname}]` : hostname;
  return `http://${bracketed}:${target}/readyz`;
}

/** `main.ts <command> [flags]` from a process's argv, or undefined when it runs something else. */
export function serviceCommandLine(
  argv: readonly string[],
): { command: string; args: string[] } | undefined {
  const main = argv.findIndex((arg) => arg === "main.ts" || arg.endsWith("/main.ts"));
  if (main === -1 || argv[main + 1] === undefined) return undefined;
  const command = argv[main + 1];
  if (!Object.hasOwn(COMMANDS, command) || COMMANDS[command].kind !== "service") return undefined;
  return { command, args: argv.slice(main + 2) };
}

/** The first process in /proc running a service of main.ts, with its environment. */
async function findService(): Promise<
  { command: string; args: string[]; variables: Record<string, string> } | undefined
> {
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name) || Number(entry.name) === Deno.pid) continue;
    try {
      const argv = splitNul(await Deno.readTextFile(`/proc/${entry.name}/cmdline`));
      const found = serviceCommandLine(argv);
      if (found === undefined) continue;
      const variables = Object.fromEntries(
        splitNul(await Deno.readTextFile(`/proc/${entry.name}/environ`)).map((pair) => {
          const eq = pair.indexOf("=");
          return [pair.slice(0, eq), pair.slice(eq + 1)];
        }),
      );
      return { ...found, variables };
    } catch {
      // Gone meanwhile, or not ours to read: look further.
    }
  }
  return undefined;
}

function splitNul(text: string): string[] {
  return text.split("\0").filter((part) => part !== "");
}

async function main(args: readonly string[]): Promise<number> {
  const service = args.length > 0
    ? { command: args[0], args: args.slice(1), variables: Deno.env.toObject() }
    : await findService();
  if (service === undefined) {
    console.error("healthcheck: no service of main.ts runs here");
    return 1;
  }
  let url;
  try {
    url = await readinessUrl(service.command, service);
  } catch (error) {
    console.error(`healthcheck: ${error instanceof Error ? error.message : error}`);
    return 1;
  }
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    const body = await response.text();
    if (response.status === 200) return 0;
    console.error(`healthcheck: ${url} answered ${response.status}: ${body.slice(0, 300)}`);
    return 1;
  } catch (error) {
    console.error(`healthcheck: ${url}: ${error instanceof Error ? error.message : error}`);
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
