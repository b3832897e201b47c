import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { readinessUrl, serviceCommandLine } from "../../scripts/healthcheck.ts";
import { service as cacheService } from "../../services/cache/mod.ts";
import { startService } from "../_support/service.ts";
import { DEAD_PORT } from "../_support/dead_port.ts";

const SCRIPT = fileURLToPath(new URL("../../scripts/healthcheck.ts", import.meta.url));

Deno.test("serviceCommandLine() finds `main.ts <service> [flags]` in a process's argv", () => {
  assert.deepEqual(
    serviceCommandLine(["deno", "run", "-A", "--cached-only", "main.ts", "cache", "--port", "1"]),
    { command: "cache", args: ["--port", "1"] },
  );
  assert.deepEqual(serviceCommandLine(["/usr/bin/deno", "run", "-A", "/app/main.ts", "dns"]), {
    command: "dns",
    args: [],
  });
  assert.equal(serviceCommandLine(["deno", "run", "-A", "main.ts", "dig", "x"]), undefined);
  assert.equal(serviceCommandLine(["deno", "run", "scripts/healthcheck.ts"]), undefined);
});

Deno.test("readinessUrl() reads the admin port from flags and environment like main.ts", async () => {
  assert.equal(
    await readinessUrl("cache", { args: [], variables: { UNDERHOOD_HOST: "0.0.0.0" } }),
    "http://127.0.0.1:18005/readyz",
  );
  assert.equal(
    await readinessUrl("dns", { args: [], variables: { UNDERHOOD_DNS_PORT: "53" } }),
    "http://127.0.0.1:10053/readyz",
  );
  assert.equal(
    await readinessUrl("cache", {
      args: ["--admin-port", "9000"],
      variables: { UNDERHOOD_CACHE_ADMIN_PORT: "1" },
    }),
    "http://127.0.0.1:9000/readyz",
  );
  await assert.rejects(
    () => readinessUrl("start", { args: [], variables: {} }),
    /not a built service/,
  );
});

async function healthcheck(args: string[]): Promise<{ code: number; stderr: string }> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SCRIPT, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code, stderr: new TextDecoder().decode(stderr) };
}

Deno.test("scripts/healthcheck.ts exits 0 on a ready service, 1 with one line otherwise", async () => {
  await using cache = await startService(cacheService);
  const port = String(cache.addresses.tcp.port);
  const admin = String(cache.addresses.admin.port);
  const ok = await healthcheck(["cache", "--port", port, "--admin-port", admin]);
  assert.equal(ok.code, 0, ok.stderr);
  const closedPort = String(DEAD_PORT);
  const down = await healthcheck(["cache", "--admin-port", closedPort]);
  assert.equal(down.code, 1);
  assert.match(
    down.stderr,
    new RegExp(`^healthcheck: http://127\\.0\\.0\\.1:${closedPort}/readyz: `),
  );
  assert.equal(down.stderr.trimEnd().split("\n").length, 1, down.stderr);
});
