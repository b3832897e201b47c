// compose.yaml and deploy/k8s cannot drift from the code: every container
// runs a command of the command table (commands.ts) whose flag table accepts
// its arguments and UNDERHOOD_* variables (parsed exactly as main.ts parses
// them), listens on the ports its manifest declares, and gets every flag
// the local stack (tools/stack/mod.ts, STACK) gives that service. Commands
// not built yet are checked by name only until they are.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { parse } from "yaml";
import { COMMANDS } from "../../commands.ts";
import {
  type ConfigOf,
  defaultConfig,
  envName,
  type FlagSpecs,
  parseFlags,
  SHARED_ENV_FLAGS,
  sharedEnvName,
} from "../../lib/cli.ts";
import { adminPortOf } from "../../lib/service.ts";
import { HTTP_SERVICES } from "../../scripts/healthcheck.ts";
import { parseConfig as parseLbConfig } from "../../services/lb/config.ts";
import { defaultPorts, STACK, type StackMember } from "../../tools/stack/mod.ts";
import { type K8sObject, kustomize } from "./_kustomize.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const K8S = join(ROOT, "deploy/k8s");

// deno-lint-ignore no-explicit-any
type Compose = Record<string, any>;

/** compose.yaml with `${VAR:-default}` replaced by its default, as compose does with VAR unset. */
function readCompose(): Compose {
  const text = Deno.readTextFileSync(join(ROOT, "compose.yaml"));
  const interpolated = text.replace(/\$\{([A-Z0-9_]+):-([^}]*)\}/g, (_, _name, value) => value);
  assert.doesNotMatch(interpolated, /\$\{/, "every variable in compose.yaml has a default");
  return parse(interpolated, { merge: true });
}

const compose = readCompose();
const k8s = kustomize(join(K8S, "overlays/dev"));
const STACK_PORTS = defaultPorts(STACK);
/** Commands that listen on no service port, only their admin port (their --port is nominal). */
const NO_SERVICE_PORT = new Set(["worker"]);

/** The command's flag table, or undefined while it is not built. */
async function flagsOf(command: string): Promise<FlagSpecs | undefined> {
  const entry = COMMANDS[command];
  assert.ok(entry, `${command} is in the command table`);
  assert.equal(entry.kind, "service", `${command} is a service`);
  return entry.load === undefined ? undefined : (await entry.load()).flags;
}

type Config = ConfigOf<FlagSpecs> & { port: number; adminPort?: number };

/** Parses a container's arguments and environment as main.ts would (throws on any mismatch). */
function configOf(
  flags: FlagSpecs,
  command: string,
  args: readonly string[],
  variables: Record<string, string>,
): Config {
  return parseFlags(flags, args, { env: { command, variables } }).config as Config;
}

/** Variables a not-built command's container may carry: its own prefix, or a shared one. */
function assertOwnVariables(command: string, variables: Record<string, string>, where: string) {
  const shared = SHARED_ENV_FLAGS.map(sharedEnvName);
  for (const name of Object.keys(variables)) {
    if (!name.startsWith("UNDERHOOD_")) continue;
    assert.ok(
      name.startsWith(envName(command, "")) || shared.includes(name),
      `${where}: ${name} is not a variable of ${command}`,
    );
  }
}

/**
 * Every flag the local stack gives a member (its port aside) is given here
 * too: with the same value where the value is a plain word or a boolean
 * (`--local-only`, `--public-bucket files`, `--domain example.com`), with any
 * value where it is a path or an address, which differ by environment.
 */
function assertStackFlags(member: StackMember, flags: FlagSpecs, config: Config, where: string) {
  const stack = parseFlags(flags, member.args(STACK_PORTS)).config as Config;
  const defaults = defaultConfig(flags) as Config;
  for (const [key, value] of Object.entries(stack)) {
    if (key === "port" || key === "adminPort") continue;
    if (JSON.stringify(value) === JSON.stringify(defaults[key])) continue;
    const text = JSON.stringify(value);
    const plain = typeof value === "boolean" || !/[/:=]/.test(text);
    if (plain) assert.deepEqual(config[key], value, `${where}: ${key} as the stack gives it`);
    else assert.notDeepEqual(config[key], defaults[key], `${where}: ${key} is given`);
  }
}

function memberOf(label: string): StackMember {
  const member = STACK.find((m) => m.label === label);
  assert.ok(member, `${label} is a member of the stack`);
  return member;
}

// ---- compose.yaml ----

Deno.test("compose.yaml has one service per member of the stack, running its command", () => {
  assert.deepEqual(Object.keys(compose.services).sort(), STACK.map((m) => m.label).sort());
  for (const [name, service] of Object.entries<Compose>(compose.services)) {
    assert.equal(service.command[0], memberOf(name).command, name);
  }
});

function composeEnv(service: Compose): Record<string, string> {
  return Object.fromEntries(
    Object.entries<unknown>(service.environment ?? {}).map(([k, v]) => [k, String(v)]),
  );
}

/** "8080:8080" or "1053:53/udp" as the container port and protocol. */
function composeTargets(service: Compose): string[] {
  return (service.ports ?? []).map((p: string) => {
    const [mapping, protocol = "tcp"] = String(p).split("/");
    return `${mapping.split(":").pop()}/${protocol}`;
  });
}

Deno.test("compose.yaml: each container's flags and variables parse; ports match; stack flags given", async () => {
  for (const [name, service] of Object.entries<Compose>(compose.services)) {
    const member = memberOf(name);
    const command = service.command[0];
    const variables = composeEnv(service);
    const flags = await flagsOf(command);
    if (flags === undefined) {
      assertOwnVariables(command, variables, `compose ${name}`);
      continue;
    }
    const config = configOf(flags, command, service.command.slice(1), {
      UNDERHOOD_HOST: "0.0.0.0", // the image's ENV
      ...variables,
    });
    assert.equal(config.host, "0.0.0.0");
    const dns = member.udp === true;
    // DNS listens on 53 inside the network; everything else on the stack's
    // port; a member with no service port (the worker: port 0) publishes none.
    if (member.port !== 0) {
      assert.equal(config.port, dns ? 53 : member.port, `compose ${name}: port`);
    }
    const expected = NO_SERVICE_PORT.has(command) || member.port === 0
      ? []
      : dns
      ? [`${config.port}/udp`, `${config.port}/tcp`]
      : [`${config.port}/tcp`];
    // Its admin port may be published too (smtp's mailbox API).
    const admin = `${adminPortOf(config)}/tcp`;
    for (const target of composeTargets(service)) {
      assert.ok([...expected, admin].includes(target), `compose ${name}: publishes ${target}`);
    }
    for (const target of expected) {
      assert.ok(composeTargets(service).includes(target), `compose ${name}: publishes ${target}`);
    }
    assertStackFlags(member, flags, config, `compose ${name}`);
    // Stores: their data directory is a named volume.
    if (config.dataDir === "/data") {
      const volume = (service.volumes ?? []).find((v: string) => v.endsWith(":/data"));
      assert.ok(volume, `compose ${name}: a volume on /data`);
      assert.ok(volume.split(":")[0] in compose.volumes, `compose ${name}: a named volume`);
    }
    assert.ok(
      Number.parseInt(service.stop_grace_period) * 1000 > Number(config.drainTimeoutMs),
      `compose ${name}: stop_grace_period above the drain timeout`,
    );
  }
});

Deno.test("compose.yaml: each service waits for what it starts after in the stack", () => {
  for (const member of STACK) {
    const dependsOn = Object.keys(compose.services[member.label].depends_on ?? {}).sort();
    assert.deepEqual(dependsOn, [...(member.after ?? [])].sort(), member.label);
  }
});

Deno.test("compose.yaml: every store has a named volume; every dependency waits for health", () => {
  for (const store of ["datastore", "cache", "mq", "objects", "smtp"]) {
    assert.ok(store in compose.volumes, store);
  }
  for (const [name, service] of Object.entries<Compose>(compose.services)) {
    for (const [dependency, how] of Object.entries<Compose>(service.depends_on ?? {})) {
      assert.equal(how.condition, "service_healthy", `${name} -> ${dependency}`);
      assert.ok(dependency in compose.services);
    }
  }
});

Deno.test("config/lb.compose.json routes to compose services on their ports", async () => {
  const config = parseLbConfig(
    JSON.parse(await Deno.readTextFile(join(ROOT, "config/lb.compose.json"))),
  );
  const urls = Object.values(config.pools).flatMap((p) => p.backends.map((b) => new URL(b.url)));
  assert.ok(urls.length > 0);
  for (const url of urls) {
    assert.ok(url.hostname in compose.services, `${url.hostname} is a compose service`);
    assert.equal(Number(url.port), memberOf(url.hostname).port, `${url}`);
  }
  const lb = compose.services.lb;
  assert.equal(composeEnv(lb).UNDERHOOD_LB_CONFIG, "config/lb.compose.json");
});

// ---- Kubernetes ----

function containerPort(container: K8sObject, name: string): number | undefined {
  return container.ports?.find((p: K8sObject) => p.name === name)?.containerPort;
}

Deno.test("deploy/k8s: each container's flags and variables parse; ports and probes match", async () => {
  const workloads = k8s.filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet");
  const commands = new Set(workloads.map((w) => w.spec.template.spec.containers[0].args[0]));
  assert.deepEqual([...commands].sort(), [...new Set(STACK.map((m) => m.command))].sort());
  for (const w of workloads) {
    const [container] = w.spec.template.spec.containers;
    const [command, ...args] = container.args;
    const where = `k8s ${w.kind}/${w.metadata.name}`;
    assert.equal(w.metadata.name, command, where);
    const variables = Object.fromEntries(
      (container.env ?? []).map((e: K8sObject) => [e.name, String(e.value)]),
    );
    const flags = await flagsOf(command);
    if (flags === undefined) {
      assertOwnVariables(command, variables, where);
      continue;
    }
    const member = STACK.find((m) => m.command === command)!;
    const config = configOf(flags, command, args, { UNDERHOOD_HOST: "0.0.0.0", ...variables });
    if (member.port !== 0) assert.equal(config.port, member.port, `${where}: the stack's port`);
    const servicePorts = (container.ports as K8sObject[]).filter((p) => p.name !== "admin");
    for (const p of servicePorts) assert.equal(p.containerPort, config.port, `${where}: ${p.name}`);
    // /healthz and /readyz: on the service's own port where it speaks HTTP, else the admin port.
    const http = HTTP_SERVICES.includes(command);
    const probed = http ? config.port : adminPortOf(config);
    if (!http) assert.equal(containerPort(container, "admin"), probed, `${where}: admin port`);
    for (const probe of ["livenessProbe", "readinessProbe"]) {
      const port = containerPort(container, container[probe].httpGet.port);
      assert.equal(port, probed, `${where} ${probe}`);
    }
    assertStackFlags(member, flags, config, where);
    // Every Service port leads to a port the container declares (the worker has no Service).
    if (NO_SERVICE_PORT.has(command)) continue;
    const service = k8s.find((o) => o.kind === "Service" && o.metadata.name === command);
    assert.ok(service, `${where}: has a Service`);
    for (const p of service.spec.ports) {
      assert.ok(
        (container.ports as K8sObject[]).some((c) =>
          c.name === p.targetPort && (c.protocol ?? "TCP") === (p.protocol ?? "TCP")
        ),
        `${where}: Service port ${p.name} -> ${p.targetPort}`,
      );
    }
  }
});
