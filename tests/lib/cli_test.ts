import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { COMMANDS } from "../../commands.ts";
import {
  defaultConfig,
  envName,
  envNamesOf,
  type FlagEnvironment,
  type FlagSpecs,
  formatHelp,
  parseFlags,
  SHARED_ENV_FLAGS,
  sharedEnvName,
  UsageError,
} from "../../lib/cli.ts";
import { adminPortOf, commonFlags } from "../../lib/service.ts";
import { service as dnsService } from "../../services/dns/mod.ts";
import { startService } from "../_support/service.ts";

const FLAGS = {
  ...commonFlags("dns", 1053),
  zone: { type: "strings", default: [], help: "zone file to serve" },
  "max-ttl": { type: "integer", default: 3600, help: "cap on TTLs" },
  verbose: { type: "boolean", default: false, help: "say more", short: "v" },
  upstream: { type: "string", help: "optional upstream" },
} as const satisfies FlagSpecs;

Deno.test("parseFlags() gives defaults, typed and camelCased", () => {
  const { config, positionals, help } = parseFlags(FLAGS, []);
  assert.equal(config.host, "127.0.0.1");
  assert.equal(config.port, 1053);
  assert.equal(config.adminPort, undefined);
  assert.equal(config.dataDir, "./data/dns");
  assert.equal(config.logLevel, "info");
  assert.equal(config.logFormat, "text");
  assert.deepEqual(config.zone, []);
  assert.equal(config.maxTtl, 3600);
  assert.equal(config.verbose, false);
  assert.equal(config.upstream, undefined);
  assert.deepEqual(positionals, []);
  assert.equal(help, false);
});

Deno.test("parseFlags() reads every flag type, repeated flags and short aliases", () => {
  const { config } = parseFlags(FLAGS, [
    "--port=0",
    "--zone",
    "a.zone",
    "--zone=b.zone",
    "--max-ttl",
    "60",
    "-v",
    "--log-format",
    "json",
    "--upstream",
    "127.0.0.1:53",
  ]);
  assert.equal(config.port, 0);
  assert.deepEqual(config.zone, ["a.zone", "b.zone"]);
  assert.equal(config.maxTtl, 60);
  assert.equal(config.verbose, true);
  assert.equal(config.logFormat, "json");
  assert.equal(config.upstream, "127.0.0.1:53");
});

const BAD_ARGS: { args: string[]; message: RegExp }[] = [
  { args: ["--nope"], message: /nope/ },
  { args: ["--port", "http"], message: /--port: expected an integer/ },
  { args: ["--port", "70000"], message: /--port: a port is 0-65535/ },
  { args: ["--port", "-1"], message: /--port/ },
  { args: ["--max-ttl", "1.5"], message: /--max-ttl: expected an integer/ },
  { args: ["--log-level", "loud"], message: /--log-level: expected one of trace, debug/ },
  { args: ["--log-format", "xml"], message: /--log-format: expected one of text, json/ },
  { args: ["stray"], message: /stray/ },
  { args: ["--port"], message: /port/ },
];

for (const { args, message } of BAD_ARGS) {
  Deno.test(`parseFlags() rejects ${JSON.stringify(args)} with a UsageError`, () => {
    assert.throws(() => parseFlags(FLAGS, args), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.match(error.message, message);
      return true;
    });
  });
}

Deno.test("parseFlags() allows positionals only when asked", () => {
  const { positionals } = parseFlags({}, ["example.com", "MX", "@127.0.0.1", "+tcp"], {
    allowPositionals: true,
  });
  assert.deepEqual(positionals, ["example.com", "MX", "@127.0.0.1", "+tcp"]);
});

Deno.test("parseFlags() reports --help and -h", () => {
  assert.equal(parseFlags(FLAGS, ["--help"]).help, true);
  assert.equal(parseFlags(FLAGS, ["-h"]).help, true);
});

Deno.test("defaultConfig() applies overrides over the defaults", () => {
  const config = defaultConfig(FLAGS, { port: 0, zone: ["x.zone"] });
  assert.equal(config.port, 0);
  assert.deepEqual(config.zone, ["x.zone"]);
  assert.equal(config.host, "127.0.0.1");
});

Deno.test("defaultConfig() returns fresh arrays, never the table's own", () => {
  const a = defaultConfig(FLAGS);
  a.zone.push("mutated");
  assert.deepEqual(defaultConfig(FLAGS).zone, []);
});

Deno.test("formatHelp() lists every flag with its default and choices", () => {
  const help = formatHelp("dns", "authoritative DNS server", FLAGS);
  // How it is really run: there is no `underhood` executable.
  assert.match(help, /^usage: deno task dns \[flags\]\n {7}deno run -A main\.ts dns \[flags\]$/m);
  assert.doesNotMatch(help, /underhood/);
  assert.match(help, /--port PORT\s+port to listen on .*\(default: 1053\)/);
  assert.match(help, /--log-format VALUE\s+log line format \[text\|json\] \(default: text\)/);
  assert.match(help, /-v, --verbose\s+say more \[env: UNDERHOOD_DNS_VERBOSE\]\n/);
  assert.match(help, /--zone VALUE\s+zone file to serve \[env: UNDERHOOD_DNS_ZONE\]\n/);
  assert.match(help, /-h, --help\s+show this help/);
});

Deno.test("adminPortOf() is the flag, or port + 10000, and port 0 stays 0", () => {
  assert.equal(adminPortOf({ port: 8005 }), 18005);
  assert.equal(adminPortOf({ port: 8005, adminPort: 9999 }), 9999);
  assert.equal(adminPortOf({ port: 0 }), 0);
  assert.equal(adminPortOf({ port: 55535 }), 65535);
  assert.equal(adminPortOf({ port: 60000, adminPort: 0 }), 0);
});

Deno.test("adminPortOf() says clearly when port + 10000 is past 65535, and what to do", () => {
  assert.throws(() => adminPortOf({ port: 60000 }), (error: unknown) => {
    assert.ok(error instanceof UsageError);
    assert.match(error.message, /--port 60000: the admin port would be 70000 \(port \+ 10000\)/);
    assert.match(error.message, /past 65535; give --admin-port/);
    return true;
  });
});

// ---- Configuration by environment (UNDERHOOD_<COMMAND>_<FLAG>) ----

function env(variables: Record<string, string>, command = "dns"): { env: FlagEnvironment } {
  return { env: { command, variables } };
}

Deno.test("envName() upper-cases command and flag and turns dashes into underscores", () => {
  assert.equal(envName("dns", "port"), "UNDERHOOD_DNS_PORT");
  assert.equal(envName("http-api", "drain-timeout-ms"), "UNDERHOOD_HTTP_API_DRAIN_TIMEOUT_MS");
  assert.equal(sharedEnvName("log-format"), "UNDERHOOD_LOG_FORMAT");
  assert.deepEqual(envNamesOf("cache", "host"), ["UNDERHOOD_CACHE_HOST", "UNDERHOOD_HOST"]);
  assert.deepEqual(envNamesOf("cache", "port"), ["UNDERHOOD_CACHE_PORT"]);
});

Deno.test("parseFlags() reads every flag type from the environment", () => {
  const { config } = parseFlags(
    FLAGS,
    [],
    env({
      UNDERHOOD_DNS_HOST: "0.0.0.0",
      UNDERHOOD_DNS_PORT: "53",
      UNDERHOOD_DNS_ADMIN_PORT: "8053",
      UNDERHOOD_DNS_ZONE: " a.zone  b.zone\n\tc.zone ",
      UNDERHOOD_DNS_MAX_TTL: "60",
      UNDERHOOD_DNS_VERBOSE: "yes",
      UNDERHOOD_DNS_LOG_FORMAT: "json",
      UNDERHOOD_DNS_UPSTREAM: "127.0.0.1:53",
    }),
  );
  assert.equal(config.host, "0.0.0.0");
  assert.equal(config.port, 53);
  assert.equal(config.adminPort, 8053);
  assert.deepEqual(config.zone, ["a.zone", "b.zone", "c.zone"]);
  assert.equal(config.maxTtl, 60);
  assert.equal(config.verbose, true);
  assert.equal(config.logFormat, "json");
  assert.equal(config.upstream, "127.0.0.1:53");
});

Deno.test("parseFlags() reads booleans from true/false, 1/0 and yes/no", () => {
  for (const [text, value] of [["true", true], ["1", true], ["YES", true], ["false", false]]) {
    const { config } = parseFlags(FLAGS, [], env({ UNDERHOOD_DNS_VERBOSE: String(text) }));
    assert.equal(config.verbose, value, String(text));
  }
  assert.equal(
    parseFlags(FLAGS, ["-v"], env({ UNDERHOOD_DNS_VERBOSE: "no" })).config.verbose,
    true,
  );
});

Deno.test("parseFlags(): a flag on the command line wins over the environment", () => {
  const { config } = parseFlags(
    FLAGS,
    ["--port", "0", "--zone", "flag.zone"],
    env({ UNDERHOOD_DNS_PORT: "53", UNDERHOOD_DNS_ZONE: "env1.zone env2.zone" }),
  );
  assert.equal(config.port, 0);
  // A repeatable flag given replaces the variable's list, it does not add to it.
  assert.deepEqual(config.zone, ["flag.zone"]);
});

Deno.test("parseFlags(): a bad variable is never read when its flag is given", () => {
  const { config } = parseFlags(FLAGS, ["--port", "0"], env({ UNDERHOOD_DNS_PORT: "http" }));
  assert.equal(config.port, 0);
});

Deno.test("parseFlags(): the shared UNDERHOOD_<FLAG> applies to the shared flags only", () => {
  const variables = {
    UNDERHOOD_HOST: "0.0.0.0",
    UNDERHOOD_LOG_LEVEL: "debug",
    UNDERHOOD_LOG_FORMAT: "json",
    UNDERHOOD_DRAIN_TIMEOUT_MS: "25000",
    UNDERHOOD_PORT: "1",
    UNDERHOOD_MAX_TTL: "1",
  };
  const { config } = parseFlags(FLAGS, [], env(variables));
  assert.equal(config.host, "0.0.0.0");
  assert.equal(config.logLevel, "debug");
  assert.equal(config.logFormat, "json");
  assert.equal(config.drainTimeoutMs, 25000);
  assert.equal(config.port, 1053, "UNDERHOOD_PORT is not shared: each service has its own");
  assert.equal(config.maxTtl, 3600);
  assert.deepEqual([...SHARED_ENV_FLAGS], ["host", "log-level", "log-format", "drain-timeout-ms"]);
});

Deno.test("parseFlags(): the command's own variable wins over the shared one", () => {
  const { config } = parseFlags(
    FLAGS,
    [],
    env({ UNDERHOOD_LOG_FORMAT: "json", UNDERHOOD_DNS_LOG_FORMAT: "text" }),
  );
  assert.equal(config.logFormat, "text");
});

Deno.test("parseFlags(): an empty variable counts as unset", () => {
  const { config } = parseFlags(
    FLAGS,
    [],
    env({ UNDERHOOD_DNS_PORT: "", UNDERHOOD_DNS_ZONE: " ", UNDERHOOD_DNS_NOPE: "" }),
  );
  assert.equal(config.port, 1053);
  assert.deepEqual(config.zone, []);
});

Deno.test("parseFlags(): other commands' variables are ignored", () => {
  const { config } = parseFlags(
    FLAGS,
    [],
    env({
      UNDERHOOD_CACHE_PORT: "x",
      UNDERHOOD_RESOLVER_NOPE: "1",
      UNDERHOOD_SUPERVISOR_PIPE: "stdin",
    }),
  );
  assert.equal(config.port, 1053);
});

/** The same bad value as a flag and as a variable: the same message, naming its source. */
const BAD_ENV: { flag: string; value: string }[] = [
  { flag: "port", value: "http" },
  { flag: "port", value: "70000" },
  { flag: "max-ttl", value: "1.5" },
  { flag: "log-level", value: "loud" },
  { flag: "log-format", value: "xml" },
];

for (const { flag, value } of BAD_ENV) {
  Deno.test(`parseFlags() refuses ${envName("dns", flag)}=${value} with the flag's message`, () => {
    const message = (fn: () => unknown): string => {
      try {
        fn();
      } catch (error) {
        assert.ok(error instanceof UsageError);
        return error.message;
      }
      assert.fail("no UsageError");
    };
    const fromFlag = message(() => parseFlags(FLAGS, [`--${flag}`, value]));
    const fromEnv = message(() => parseFlags(FLAGS, [], env({ [envName("dns", flag)]: value })));
    assert.equal(fromEnv, fromFlag.replace(`--${flag}`, envName("dns", flag)));
    assert.ok(fromEnv.startsWith(`${envName("dns", flag)}: `), fromEnv);
  });
}

Deno.test("parseFlags() refuses a bad boolean variable, naming it", () => {
  assert.throws(
    () => parseFlags(FLAGS, [], env({ UNDERHOOD_DNS_VERBOSE: "maybe" })),
    /^UsageError: UNDERHOOD_DNS_VERBOSE: expected one of true, 1, yes, false, 0, no, got "maybe"$/,
  );
});

Deno.test("parseFlags() refuses a variable of its own command that names no flag", () => {
  assert.throws(
    () => parseFlags(FLAGS, [], env({ UNDERHOOD_DNS_PROT: "53" })),
    /UNDERHOOD_DNS_PROT: dns has no flag --prot \(unknown variable\)/,
  );
  // Old names (aliases) have no variable.
  const aliased = {
    "cache-bytes-max": { type: "integer", help: "", aliases: ["cache-max-bytes"] },
  } as const;
  assert.throws(
    () => parseFlags(aliased, [], env({ UNDERHOOD_DNS_CACHE_MAX_BYTES: "1" })),
    /unknown variable/,
  );
});

Deno.test("parseFlags() without `env` ignores the environment entirely", () => {
  assert.equal(parseFlags(FLAGS, []).config.port, 1053);
});

Deno.test("formatHelp() shows each flag's variables and how lists and booleans are written", () => {
  const help = formatHelp("http-api", "the API", FLAGS);
  assert.match(help, /--port PORT .*\[env: UNDERHOOD_HTTP_API_PORT\]\n/);
  assert.match(
    help,
    /--log-format VALUE .*\[env: UNDERHOOD_HTTP_API_LOG_FORMAT, UNDERHOOD_LOG_FORMAT\]\n/,
  );
  for (const flag of Object.keys(FLAGS)) {
    assert.ok(help.includes(envName("http-api", flag)), flag);
  }
  assert.match(help, /separated by spaces/);
  assert.match(help, /a flag given wins/);
});

Deno.test("every command's variables are its own: no command's prefix is another's", async () => {
  const names = Object.keys(COMMANDS);
  for (const a of names) {
    for (const b of names) {
      if (a === b) continue;
      const prefix = envName(a, "");
      assert.ok(!envName(b, "x").startsWith(prefix), `${b}'s variables start with ${prefix}`);
    }
  }
  // And no flag's own variable is another command's shared one.
  const shared = new Set(SHARED_ENV_FLAGS.map(sharedEnvName));
  for (const [name, entry] of Object.entries(COMMANDS)) {
    if (entry.load === undefined) continue;
    for (const flag of Object.keys((await entry.load()).flags)) {
      assert.ok(!shared.has(envName(name, flag)), `${name} --${flag}`);
    }
  }
});

// ---- Through main.ts, in a subprocess ----

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
const ZONE = fileURLToPath(new URL("../../config/zones/example.com.zone", import.meta.url));

async function runMainWithEnv(
  args: string[],
  variables: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: variables,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

Deno.test("main.ts takes flags from UNDERHOOD_<COMMAND>_<FLAG>; a flag given wins", async () => {
  await using dns = await startService(dnsService, { zone: [ZONE], rrlRate: 0 });
  const port = String(dns.addresses.udp.port);
  const question = ["@127.0.0.1", "example.com", "SOA", "+short"];
  const fromEnv = await runMainWithEnv(["dig", ...question], {
    UNDERHOOD_DIG_PORT: port,
    UNDERHOOD_DIG_TIMEOUT_MS: "5000",
  });
  assert.equal(fromEnv.code, 0, fromEnv.stderr);
  assert.match(fromEnv.stdout, /^ns1\.example\.com\. hostmaster\.example\.com\. 2026/m);
  // The variable is wrong, the flag right: the flag wins.
  const flagWins = await runMainWithEnv(["dig", "-p", port, ...question], {
    UNDERHOOD_DIG_PORT: "1",
  });
  assert.equal(flagWins.code, 0, flagWins.stderr);
  assert.match(flagWins.stdout, /^ns1\.example\.com\./m);
});

Deno.test("main.ts refuses a bad variable like a bad flag: its name, the usage, exit 2", async () => {
  const bad = await runMainWithEnv(["cache"], { UNDERHOOD_CACHE_PORT: "http" });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^cache: UNDERHOOD_CACHE_PORT: expected an integer, got "http"$/m);
  assert.match(bad.stderr, /usage: deno task cache/);
  const unknown = await runMainWithEnv(["cache", "--help"], { UNDERHOOD_CACHE_PROT: "1" });
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /UNDERHOOD_CACHE_PROT: cache has no flag --prot/);
});

Deno.test("main.ts <service> --help lists the variable of every flag", async () => {
  const { code, stdout } = await runMainWithEnv(["cache", "--help"], {});
  assert.equal(code, 0);
  assert.match(stdout, /--port PORT .*\[env: UNDERHOOD_CACHE_PORT\]/);
  assert.match(
    stdout,
    /--log-format VALUE .*\[env: UNDERHOOD_CACHE_LOG_FORMAT, UNDERHOOD_LOG_FORMAT\]/,
  );
});
