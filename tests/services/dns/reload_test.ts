// The dns service as a real process: it refuses to start with a broken zone,
// reloads on SIGHUP while it keeps answering, keeps the old zones when the
// new file is broken, and drains to exit 0 on SIGTERM.

import assert from "node:assert/strict";
import { query } from "../../../lib/dns/client.ts";
import { RecordType } from "../../../lib/dns/types.ts";
import { spawnService } from "../../_support/subprocess.ts";

const zoneText = (address: string) =>
  `$ORIGIN reload.test.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 127.0.0.1\nwww A ${address}\n`;

async function addressOf(port: number): Promise<string | undefined> {
  const { message } = await query(
    { hostname: "127.0.0.1", port },
    "www.reload.test.",
    RecordType.A,
    {
      timeoutMs: 5000,
    },
  );
  const data = message.answers[0]?.data;
  return data?.kind === "A" ? data.address : undefined;
}

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`never happened: ${what}`);
}

Deno.test("a broken zone file stops the server from starting, naming file and line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/broken.zone`;
    await Deno.writeTextFile(file, zoneText("127.0.0.1") + "bad A 999.0.0.1\n");
    await assert.rejects(
      spawnService(["dns", "--zone", file, "--port", "0"]),
      (error: Error) => {
        assert.match(error.message, /broken\.zone:7: "999\.0\.0\.1" is not an IPv4 address/);
        return true;
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** GET /healthz and /metrics on the admin port. */
async function admin(port: number) {
  const health = await fetch(`http://127.0.0.1:${port}/healthz`);
  const body = await health.json();
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return { status: health.status, body, metrics };
}

function gauge(metrics: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, "m").exec(metrics);
  assert.ok(match, `${name} in /metrics`);
  return Number(match[1]);
}

Deno.test("SIGHUP reloads the zones; a broken reload keeps the old ones", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/reload.test.zone`;
  await Deno.writeTextFile(file, zoneText("127.0.0.1"));
  const svc = await spawnService(["dns", "--zone", file, "--port", "0", "--rrl-rate", "0"], {
    roles: ["udp", "tcp", "admin"],
  });
  try {
    const port = svc.ports.udp;
    assert.equal(svc.ports.tcp, port, "UDP and TCP share the port");
    assert.equal(await addressOf(port), "127.0.0.1");
    const atStart = await admin(svc.ports.admin);
    assert.equal(atStart.status, 200);
    assert.equal(atStart.body.checks.zones.ok, true);
    assert.match(atStart.body.checks.zones.detail, /^1 zone\(s\) loaded$/);
    assert.equal(atStart.body.checks.reload.ok, true);
    assert.equal(gauge(atStart.metrics, "dns_zone_reload_success"), 1);
    const startedSec = gauge(atStart.metrics, "dns_zone_reload_timestamp_seconds");
    assert.ok(Math.abs(startedSec - Date.now() / 1000) < 3600, "a unix time in seconds");
    // Queries keep flowing while the reload happens.
    let answered = 0;
    let stop = false;
    const background = (async () => {
      while (!stop && answered < 10_000) {
        if (await addressOf(port)) answered++;
      }
    })();
    await Deno.writeTextFile(file, zoneText("127.0.0.2"));
    svc.kill("SIGHUP");
    await eventually(async () => await addressOf(port) === "127.0.0.2", "the new address");
    await Deno.writeTextFile(file, zoneText("127.0.0.3") + "www CNAME oops\n");
    svc.kill("SIGHUP");
    await eventually(
      () => Promise.resolve(svc.lines.some((l) => /reload failed.*reload\.test\.zone:7/.test(l))),
      "the reload error in the log",
    );
    assert.equal(await addressOf(port), "127.0.0.2", "the old zone stays in service");
    const failed = await admin(svc.ports.admin);
    assert.equal(failed.status, 503, "a failed reload makes /healthz fail");
    assert.equal(failed.body.checks.reload.ok, false);
    assert.match(failed.body.checks.reload.detail, /failed.*reload\.test\.zone:7/);
    assert.equal(failed.body.checks.zones.ok, true, "the old zones are still loaded");
    assert.equal(gauge(failed.metrics, "dns_zone_reload_success"), 0);
    assert.ok(gauge(failed.metrics, "dns_zone_reload_timestamp_seconds") >= startedSec);
    await Deno.writeTextFile(file, zoneText("127.0.0.4"));
    svc.kill("SIGHUP");
    await eventually(async () => await addressOf(port) === "127.0.0.4", "the fixed zone");
    const fixed = await admin(svc.ports.admin);
    assert.equal(fixed.status, 200, "a good reload clears the failure");
    assert.equal(gauge(fixed.metrics, "dns_zone_reload_success"), 1);
    stop = true;
    await background;
    assert.ok(answered > 0);
    svc.kill("SIGTERM");
    const status = await svc.exited();
    assert.equal(status.code, 0, svc.lines.join("\n"));
  } finally {
    svc.kill();
    await svc.exited();
    await Deno.remove(dir, { recursive: true });
  }
});
