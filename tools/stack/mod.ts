// `deno task start`: the whole stack on one machine, no Docker.
//
// Each service runs as its own supervised child process (lib/supervisor.ts)
// in the topology of docs/architecture.md: two http-api copies behind the
// load balancer, the resolver answering example.com from our own
// authoritative server. Services whose modules are not written yet are
// listed and skipped.
//
// - Hermetic: the resolver runs with --local-only, so it answers the local
//   zones and refuses every other name instead of asking the public root
//   servers.
// - Paths to the repository's own files (zones, lb config) resolve from this
//   module, so the stack runs from any directory; data directories
//   (`--data-dir`, default ./data/<service>) stay relative to the directory
//   it is started from.
// - `--free-ports` puts every service and admin port on a port the kernel
//   says is free at start (listed in the log), so tests and a second stack
//   never collide with a running one.
// - SIGHUP reloads the children that reload (dns re-reads its zones, lb its configuration); the
//   first SIGINT/SIGTERM stops every child, the second is only logged, the
//   third kills them without waiting for their drain.
// - `--log-format json` makes every line one JSON object with a `service`
//   field: the children's lines, and the stack's own (service "stack").
// - Dependency order: members start in waves (dns, datastore, cache, mq,
//   objects, smtp; then the resolver and the http-api copies; then the lb
//   and the worker), each wave once every /readyz of the one before answers
//   200 (each dependency reachable, recovery done). Once the last wave is
//   ready the stack prints what runs where and which standard client to
//   point at each. They stop in the reverse order. Every service also
//   reconnects by itself, so a member restarted later needs no order.
// - The lb's configuration names its backends by port: on the default ports
//   it reads config/lb.json itself; with --free-ports the stack writes a
//   copy with each default port replaced by the member's chosen one (in a
//   temporary directory removed at stop).
//
// The command table comes in as a parameter (`stackCommand(COMMANDS)`), so
// this module does not import commands.ts back.

import { fileURLToPath } from "node:url";
import { type FlagSpecs, parseFlags, UsageError } from "../../lib/cli.ts";
import { watchStopSignals } from "../../lib/lifecycle.ts";
import {
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  logger,
  type LogLevel,
  setupLogging,
  writeStdout,
} from "../../lib/log.ts";
import type { Logger } from "@logtape/logtape";
import { HttpClient } from "../../lib/http/client.ts";
import { type CommandTable, defineTool, type ToolDefinition } from "../../lib/service.ts";
import { type ChildSpec, isCleanStop, stopInOrder, Supervisor } from "../../lib/supervisor.ts";
import { V8_FLAGS_ARG } from "../../lib/v8_flags.ts";

/** The ports one member listens on: its service port, and its admin port when chosen. */
export interface MemberPorts {
  readonly port: number;
  readonly adminPort?: number;
}

/** One process of the stack: which command, under which label, with which flags. */
export interface StackMember {
  readonly label: string;
  readonly command: string;
  /** The port it listens on by default (docs/architecture.md, "Default ports"). */
  readonly port: number;
  /** Needs its port free on UDP as well as TCP (the DNS servers). */
  readonly udp?: boolean;
  /** Reloads its configuration on SIGHUP, so the stack forwards its SIGHUP. */
  readonly reloads?: boolean;
  /** Its own flags (beyond --port and --admin-port), given every member's ports. */
  args(ports: Readonly<Record<string, MemberPorts>>, files?: StackFiles): string[];
  /** Serves /readyz on its own port rather than its admin port (the HTTP services). */
  readyzOnPort?: boolean;
  /** Labels of the members it needs: it starts once they are ready (dependency order). */
  after?: readonly string[];
  /** What to try against it with a standard client, given its ports (printed once ready). */
  tryWith?(ports: Readonly<Record<string, MemberPorts>>): string;
}

/** Files the stack writes for its members at start. */
export interface StackFiles {
  /** The lb configuration to use (config/lb.json, or a copy on the chosen ports). */
  lbConfig: string;
}

const REPOSITORY = new URL("../../", import.meta.url);

/** A file of the repository, as an absolute path (independent of the current directory). */
export function repositoryPath(relative: string): string {
  return fileURLToPath(new URL(relative, REPOSITORY));
}

const MAIN_PATH = repositoryPath("main.ts");
export const ZONE_FILE = repositoryPath("config/zones/example.com.zone");
export const LB_CONFIG_FILE = repositoryPath("config/lb.json");
const HOST = "127.0.0.1";

const API_DEPENDENCIES = ["datastore", "cache", "mq", "objects"];
/** Where the worker sends its notifications: a mailbox of the stack's smtp. */
export const NOTIFY_TO = "dev@example.com";

/** The http-api's flags pointing it at the stack's datastore, cache, mq and objects. */
function apiArgs(ports: Readonly<Record<string, MemberPorts>>): string[] {
  const at = (label: string) => `${HOST}:${ports[label]?.port}`;
  return [
    "--datastore",
    at("datastore"),
    "--cache",
    at("cache"),
    "--mq",
    at("mq"),
    "--objects",
    `http://${at("objects")}`,
  ];
}

/** The local topology, in start order (dependencies first). */
export const STACK: readonly StackMember[] = [
  {
    label: "dns",
    command: "dns",
    port: 1053,
    udp: true,
    reloads: true,
    args: () => ["--zone", ZONE_FILE],
    tryWith: (p) => `dig @${HOST} -p ${p.dns.port} example.com MX`,
  },
  {
    label: "resolver",
    command: "resolver",
    port: 5354,
    udp: true,
    after: ["dns"],
    args: (ports) => ["--stub", `example.com=${HOST}:${ports.dns.port}`, "--local-only"],
    tryWith: (p) => `dig @${HOST} -p ${p.resolver.port} www.example.com`,
  },
  {
    label: "datastore",
    command: "datastore",
    port: 8004,
    args: () => [],
    tryWith: (p) =>
      `psql -h ${HOST} -p ${p.datastore.port} -U spells spells -c 'SELECT id, name FROM spells'`,
  },
  {
    label: "cache",
    command: "cache",
    port: 8005,
    args: () => [],
    tryWith: (p) => `redis-cli -p ${p.cache.port} INFO stats`,
  },
  {
    label: "mq",
    command: "mq",
    port: 8006,
    args: () => [],
    tryWith: (p) =>
      `python3 -m stomp -H ${HOST} -P ${p.mq.port}  (the worker consumes /queue/spell.created)`,
  },
  // The lb routes /files/* here: anyone may GET and PUT in the "files" bucket, as the seed's store.
  {
    label: "objects",
    command: "objects",
    port: 8007,
    args: () => ["--public-bucket", "files"],
    tryWith: (p) =>
      `AWS_ACCESS_KEY_ID=underhood AWS_SECRET_ACCESS_KEY=underhood-secret-key aws --endpoint-url http://${HOST}:${p.objects.port} s3 ls`,
  },
  // The zone's MX (mail.example.com) is this server: mail for example.com stays here.
  {
    label: "smtp",
    command: "smtp",
    port: 2525,
    args: () => ["--domain", "example.com"],
    tryWith: (p) =>
      `swaks --server ${HOST}:${p.smtp.port} --to dev@example.com; curl ${HOST}:${
        p.smtp.adminPort ?? p.smtp.port + 10000
      }/api/mailboxes`,
  },
  {
    label: "http-api-1",
    command: "http-api",
    port: 8001,
    readyzOnPort: true,
    after: API_DEPENDENCIES,
    args: apiArgs,
    tryWith: (p) => `curl ${HOST}:${p["http-api-1"].port}/api/spells/1`,
  },
  {
    label: "http-api-2",
    command: "http-api",
    port: 8002,
    readyzOnPort: true,
    after: API_DEPENDENCIES,
    args: apiArgs,
    tryWith: (p) => `curl ${HOST}:${p["http-api-2"].port}/readyz`,
  },
  {
    label: "lb",
    command: "lb",
    port: 8080,
    reloads: true,
    after: ["http-api-1", "http-api-2", "objects"],
    args: (_ports, files) => ["--config", files?.lbConfig ?? LB_CONFIG_FILE],
    tryWith: (p) =>
      `deno task curl http://example.com:${p.lb.port}/api/spells --resolver ${HOST}:${p.resolver?.port}` +
      `   or: curl -H 'content-type: application/json' -d '{"name":"Nox","incantation":"Nox!"}' ${HOST}:${p.lb.port}/api/spells`,
  },
  // Mail for each new spell to dev@example.com: its MX (mail.example.com) is found through the
  // stack's resolver, and is the stack's smtp.
  {
    label: "worker",
    command: "worker",
    port: 8009,
    after: ["mq", "resolver", "smtp"],
    args: (ports) => [
      "--mq",
      `${HOST}:${ports.mq.port}`,
      "--resolver",
      `${HOST}:${ports.resolver.port}`,
      "--smtp-port",
      String(ports.smtp.port),
      "--notify-to",
      NOTIFY_TO,
    ],
    tryWith: (p) =>
      `curl ${HOST}:${
        p.smtp.adminPort ?? p.smtp.port + 10000
      }/api/mailboxes/${NOTIFY_TO}/messages   (a mail per new spell)`,
  },
];

/** Every member on its default port; the admin port is left to the service (port + 10000). */
export function defaultPorts(members: readonly StackMember[]): Record<string, MemberPorts> {
  return Object.fromEntries(members.map((m) => [m.label, { port: m.port }]));
}

/** Free ports chosen for the members, held bound until each member is about to start. */
export interface HeldPorts {
  readonly ports: Record<string, MemberPorts>;
  /** Releases the ports of these members, for their children to bind. */
  release(labels: readonly string[]): void;
  releaseAll(): void;
}

/**
 * A free port for every member and its admin port: each one bound on
 * port 0 (UDP too for the DNS servers), so no two members get the same one,
 * and held until `release()` just before that member's wave starts. Another
 * process could take one in the moment between the release and the child's
 * bind (a client's ephemeral port, or a server given it by bind(0)): the
 * child then logs that it cannot listen, and the supervisor keeps retrying
 * it with backoff. Holding them until then keeps that moment short: the
 * last wave starts seconds after the first.
 */
export function holdFreePorts(members: readonly StackMember[]): HeldPorts {
  const held = new Map<string, { close(): void }[]>();
  const pick = (label: string, udp: boolean): number => {
    const mine = held.get(label) ?? [];
    held.set(label, mine);
    for (let attempt = 0; attempt < 100; attempt++) {
      const listener = Deno.listen({ hostname: HOST, port: 0 });
      mine.push(listener);
      const port = (listener.addr as Deno.NetAddr).port;
      if (!udp) return port;
      try {
        mine.push(Deno.listenDatagram({ transport: "udp", hostname: HOST, port }));
        return port;
      } catch {
        // Taken on UDP: try another.
      }
    }
    throw new Error("no port free on both TCP and UDP after 100 tries");
  };
  const release = (labels: readonly string[]) => {
    for (const label of labels) {
      for (const socket of held.get(label) ?? []) socket.close();
      held.delete(label);
    }
  };
  const releaseAll = () => release([...held.keys()]);
  try {
    const ports = Object.fromEntries(
      members.map((
        m,
      ) => [m.label, { port: pick(m.label, m.udp === true), adminPort: pick(m.label, false) }]),
    );
    return { ports, release, releaseAll };
  } catch (error) {
    releaseAll();
    throw error;
  }
}

/** `holdFreePorts()` released at once. */
export function freePorts(members: readonly StackMember[]): Record<string, MemberPorts> {
  const held = holdFreePorts(members);
  held.releaseAll();
  return held.ports;
}

/** A member's arguments after its command: its ports, its own flags, the shared ones. */
export function memberArgs(
  member: StackMember,
  ports: Readonly<Record<string, MemberPorts>>,
  sharedArgs: readonly string[] = [],
  files?: StackFiles,
): string[] {
  const { port, adminPort } = ports[member.label];
  return [
    "--port",
    String(port),
    ...(adminPort === undefined ? [] : ["--admin-port", String(adminPort)]),
    ...member.args(ports, files),
    ...sharedArgs,
  ];
}

/**
 * The lb configuration for these ports: config/lb.json with every backend
 * URL on a member's default port moved to that member's chosen port.
 */
export function lbConfigFor(
  text: string,
  stack: { members: readonly StackMember[]; ports: Readonly<Record<string, MemberPorts>> },
): string {
  const { members, ports } = stack;
  const moved = new Map<number, number>();
  for (const m of members) {
    if (m.port !== 0 && ports[m.label] !== undefined) moved.set(m.port, ports[m.label].port);
  }
  const config = JSON.parse(text);
  for (const pool of Object.values(config.pools ?? {}) as { backends?: { url: string }[] }[]) {
    for (const backend of pool.backends ?? []) {
      const url = new URL(backend.url);
      const port = moved.get(Number(url.port));
      if (port !== undefined) {
        url.port = String(port);
        backend.url = url.href.replace(/\/$/, "");
      }
    }
  }
  return JSON.stringify(config, null, 2) + "\n";
}

/** Where a member answers /readyz. */
export function readyzUrl(member: StackMember, ports: MemberPorts): string {
  const port = member.readyzOnPort ? ports.port : (ports.adminPort ?? ports.port + 10000);
  return `http://${HOST}:${port}/readyz`;
}

/** The child process for a member: `deno run -A --v8-flags=... main.ts <command> <args>`. */
export function childSpec(member: StackMember, args: readonly string[]): ChildSpec {
  return {
    name: member.label,
    reloads: member.reloads === true,
    command: [Deno.execPath(), "run", "-A", V8_FLAGS_ARG, MAIN_PATH, member.command, ...args],
  };
}

const flags = {
  "free-ports": {
    type: "boolean",
    default: false,
    help: "put every service on a free port chosen at start (listed in the log)",
  },
  "log-format": {
    type: "string",
    default: "text",
    choices: LOG_FORMATS,
    help: "log line format of the stack and every service (json: one object per line)",
  },
  "log-level": {
    type: "string",
    default: "info",
    choices: LOG_LEVELS,
    help: "lowest level logged, by the stack and every service",
  },
  "services-log-level": {
    type: "string",
    choices: LOG_LEVELS,
    help: "lowest level the services log, when it should differ from --log-level " +
      "(warning: no access log lines under load)",
  },
} as const satisfies FlagSpecs;

/** The `start` command, for the services `commands` lists. */
export function stackCommand(commands: CommandTable): ToolDefinition<typeof flags> {
  return defineTool({
    name: "start",
    summary: "run the whole stack, one supervised process per service; Ctrl-C stops it",
    flags,
    run: (config) => runStack(commands, config),
  });
}

interface StackConfig {
  freePorts: boolean;
  logFormat: LogFormat;
  logLevel: LogLevel;
  servicesLogLevel?: LogLevel;
}

async function runStack(commands: CommandTable, config: StackConfig): Promise<number> {
  const out = stackOutput(config.logFormat);
  setupLogging({
    level: config.logLevel,
    format: config.logFormat,
    write: out.own,
    fields: { service: "stack" },
  });
  const log = logger("stack");
  const built = STACK.filter((m) => commands[m.command]?.load !== undefined);
  const skipped = STACK.filter((m) => !built.includes(m));
  if (skipped.length > 0) {
    log.info("not built yet: {skipped}", { skipped: skipped.map((m) => m.label).join(", ") });
  }
  if (built.length === 0) {
    log.info("nothing to run yet");
    return 0;
  }
  const held = config.freePorts ? holdFreePorts(built) : undefined;
  const ports = held?.ports ?? defaultPorts(built);
  const shared = [
    "--log-format",
    config.logFormat,
    "--log-level",
    config.servicesLogLevel ?? config.logLevel,
  ];
  // On the default ports the lb reads config/lb.json itself (so SIGHUP picks up edits to it).
  const tmp = config.freePorts ? await Deno.makeTempDir({ prefix: "underhood-stack-" }) : undefined;
  const files: StackFiles = { lbConfig: LB_CONFIG_FILE };
  if (tmp !== undefined) {
    files.lbConfig = `${tmp}/lb.json`;
    await Deno.writeTextFile(
      files.lbConfig,
      lbConfigFor(await Deno.readTextFile(LB_CONFIG_FILE), { members: built, ports }),
    );
  }
  try {
    return await superviseStack(commands, built, ports, shared, files, out, log, held);
  } finally {
    held?.releaseAll();
    if (tmp !== undefined) await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

async function superviseStack(
  commands: CommandTable,
  built: readonly StackMember[],
  ports: Readonly<Record<string, MemberPorts>>,
  shared: readonly string[],
  files: StackFiles,
  out: StackOutput,
  log: Logger,
  held?: HeldPorts,
): Promise<number> {
  let specs: ChildSpec[];
  try {
    specs = await checkedChildSpecs(commands, built, ports, shared, files);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    log.error("bad stack configuration: {error}", { error: error.message });
    return 2;
  }
  const specOf = new Map(built.map((m, i) => [m.label, specs[i]]));
  const waves = startWaves(built);
  // One supervisor per wave, so a wave starts only once the one before it is ready.
  const supervisors: Supervisor[] = [];
  // Not disposed, as in lib/lifecycle.ts: a stop signal arriving between the
  // last child's exit and ours must not kill the stack with that signal.
  const signals = watchStopSignals({
    onRepeat(signal) {
      log.warning(
        "{signal} received again: still stopping; a third stop signal kills every service now",
        { signal },
      );
    },
  });
  const onHangup = () => {
    const reloaded = supervisors.flatMap((supervisor) => supervisor.reload());
    log.info("SIGHUP received: reload sent to {children}", {
      children: reloaded.length > 0 ? reloaded.join(", ") : "no one (no service reloads)",
    });
  };
  Deno.addSignalListener("SIGHUP", onHangup);
  try {
    for (const member of built) {
      const { port, adminPort } = ports[member.label];
      log.info("{child}: port {port}, admin port {adminPort}", {
        child: member.label,
        port,
        adminPort: adminPort ?? "port + 10000",
      });
    }
    const readiness = new AbortController();
    const starting = (async () => {
      const started = performance.now();
      for (const wave of waves) {
        if (readiness.signal.aborted) return;
        log.info("starting {members}", { members: wave.map((m) => m.label).join(", ") });
        const supervisor = new Supervisor(wave.map((m) => specOf.get(m.label)!), {
          onOutput: out.child,
          log,
        });
        supervisors.push(supervisor);
        held?.release(wave.map((m) => m.label));
        supervisor.start();
        if (await waitUntilReady(wave, { ports, log, signal: readiness.signal }) === undefined) {
          return;
        }
      }
      printReady(built, ports, performance.now() - started, log);
    })();
    const signal = await signals.first;
    readiness.abort();
    await starting;
    log.info("{signal} received, stopping every service", { signal });
    // The last wave first: the lb stops taking requests before the APIs behind it go.
    const stopAll = () => stopInOrder([...supervisors].reverse());
    const report = await Promise.race([
      stopAll(),
      signals.forced.then((forcedBy) => {
        log.error("{signal}: third stop signal, killing every service now", { signal: forcedBy });
        for (const supervisor of supervisors) supervisor.kill();
        return stopAll();
      }),
    ]);
    if (report.clean) {
      log.info("stopped");
      return 0;
    }
    const unclean = Object.entries(report.exits).filter(([, how]) => !isCleanStop(how));
    log.error("stopped, not cleanly: {exits}", {
      exits: unclean.map(([name, how]) => `${name} (${how})`).join(", "),
    });
    return 1;
  } finally {
    Deno.removeSignalListener("SIGHUP", onHangup);
  }
}

/**
 * The members in start order, grouped in waves: a member starts once every
 * member it depends on (`after`) is ready; members whose dependencies are
 * not in the stack start with the first wave.
 */
export function startWaves(members: readonly StackMember[]): StackMember[][] {
  const labels = new Set(members.map((m) => m.label));
  const waveOf = new Map<string, number>();
  const resolve = (member: StackMember, seen: Set<string>): number => {
    const known = waveOf.get(member.label);
    if (known !== undefined) return known;
    if (seen.has(member.label)) throw new Error(`the stack's dependencies loop at ${member.label}`);
    seen.add(member.label);
    let wave = 0;
    for (const dependency of member.after ?? []) {
      if (!labels.has(dependency)) continue;
      const other = members.find((m) => m.label === dependency)!;
      wave = Math.max(wave, resolve(other, seen) + 1);
    }
    waveOf.set(member.label, wave);
    return wave;
  };
  const waves: StackMember[][] = [];
  for (const member of members) (waves[resolve(member, new Set())] ??= []).push(member);
  return waves.filter((wave) => wave !== undefined);
}

/**
 * The child of every member, after checking its arguments against its
 * command's own flag table: a stack whose configuration a service would
 * reject fails at once with a UsageError naming the member, instead of
 * starting a child that exits on a usage error.
 */
export async function checkedChildSpecs(
  commands: CommandTable,
  members: readonly StackMember[],
  ports: Readonly<Record<string, MemberPorts>>,
  sharedArgs: readonly string[] = [],
  files?: StackFiles,
): Promise<ChildSpec[]> {
  const specs: ChildSpec[] = [];
  for (const member of members) {
    const load = commands[member.command]?.load;
    if (load === undefined) throw new UsageError(`${member.label}: ${member.command} is not built`);
    const args = memberArgs(member, ports, sharedArgs, files);
    try {
      parseFlags((await load()).flags, args);
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      throw new UsageError(`${member.label} (${member.command}): ${error.message}`);
    }
    specs.push(childSpec(member, args));
  }
  return specs;
}

/** How often the stack asks every member's /readyz while waiting, and how often it says who it waits for. */
const READY_POLL_MS = 250;
const READY_REPORT_MS = 10_000;

/**
 * Polls every member's /readyz until all answer 200 at once; resolves with
 * the time it took, or undefined when aborted (a stop signal came first).
 * Logs who it is still waiting for every 10 s, with their failing checks.
 */
export async function waitUntilReady(
  members: readonly StackMember[],
  options: { ports: Readonly<Record<string, MemberPorts>>; log: Logger; signal: AbortSignal },
): Promise<number | undefined> {
  const { ports, log, signal } = options;
  const started = performance.now();
  let reportAt = started + READY_REPORT_MS;
  await using http = new HttpClient({ connectTimeoutMs: 1_000, headerTimeoutMs: 3_000 });
  const pending = new Map(members.map((m) => [m.label, readyzUrl(m, ports[m.label])]));
  const why = new Map<string, string>();
  while (!signal.aborted) {
    await Promise.all([...pending].map(async ([label, url]) => {
      try {
        const response = await http.request(url);
        const body = await response.text();
        if (response.status === 200) pending.delete(label);
        else why.set(label, failingChecks(body));
      } catch (error) {
        why.set(label, error instanceof Error ? error.message : String(error));
      }
    }));
    if (pending.size === 0) return performance.now() - started;
    if (performance.now() >= reportAt) {
      reportAt += READY_REPORT_MS;
      log.info("waiting for {members} to be ready", {
        members: [...pending.keys()].map((label) => `${label} (${why.get(label)})`).join(", "),
      });
    }
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
  return undefined;
}

/** The failing checks of a /readyz body, for the waiting message. */
function failingChecks(body: string): string {
  try {
    const checks = JSON.parse(body).checks as Record<string, { ok: boolean; detail?: string }>;
    return Object.entries(checks).filter(([, c]) => !c.ok)
      .map(([name, c]) => `${name}: ${c.detail ?? "failing"}`).join("; ");
  } catch {
    return "not ready";
  }
}

/** What runs where, and what to try against each with a standard client. */
function printReady(
  members: readonly StackMember[],
  ports: Readonly<Record<string, MemberPorts>>,
  readyInMs: number,
  log: Logger,
): void {
  log.info("every service is ready ({seconds} s); what runs where, and what to try:", {
    seconds: (readyInMs / 1000).toFixed(1),
  });
  const width = Math.max(...members.map((m) => m.label.length));
  for (const member of members) {
    const { port } = ports[member.label];
    log.info("  {label} {address}  try: {command}", {
      label: member.label.padEnd(width),
      address: `${HOST}:${port}`.padEnd(15),
      command: member.tryWith?.(ports) ?? "-",
    });
  }
}

interface StackOutput {
  /** A line (or several) from the stack's own logger, newline-terminated. */
  own(text: string): void;
  /** One line a child printed. */
  child(name: string, line: string): void;
}

/** How lines reach stdout: "name | line" in text, one JSON object with `service` in JSON. */
function stackOutput(format: LogFormat): StackOutput {
  const width = Math.max("stack".length, ...STACK.map((m) => m.label.length));
  if (format === "json") {
    return {
      own: (text) => writeStdout(text),
      child: (name, line) => writeStdout(jsonLineOf(name, line) + "\n"),
    };
  }
  const prefixed = (name: string, line: string) => `${name.padEnd(width)} | ${line}\n`;
  return {
    own: (text) =>
      writeStdout(text.replace(/\n$/, "").split("\n").map((l) => prefixed("stack", l)).join("")),
    child: (name, line) => writeStdout(prefixed(name, line)),
  };
}

/**
 * A child's line as one JSON object carrying `service`: its own JSON record
 * with the field added, or (for anything else it printed, such as Deno's
 * report of an uncaught error) the text wrapped in a record of its own.
 */
export function jsonLineOf(service: string, line: string): string {
  try {
    const record: unknown = JSON.parse(line);
    if (typeof record === "object" && record !== null && !Array.isArray(record)) {
      return JSON.stringify({ ...record, service });
    }
  } catch {
    // Not JSON: wrapped below.
  }
  return JSON.stringify({
    time: new Date().toISOString(),
    level: "info",
    logger: "underhood.stack",
    message: line,
    service,
  });
}
