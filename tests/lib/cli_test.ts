import assert from "node:assert/strict";
import {
  defaultConfig,
  type FlagSpecs,
  formatHelp,
  parseFlags,
  UsageError,
} from "../../lib/cli.ts";
import { adminPortOf, commonFlags } from "../../lib/service.ts";

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
  assert.match(help, /-v, --verbose\s+say more\n/);
  assert.match(help, /--zone VALUE\s+zone file to serve\n/);
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
