// findMailRoute() against our dns and resolver: MX preference order, A
// before AAAA, the implicit MX, and which failures are permanent (null MX,
// NXDOMAIN) and which temporary (a resolver that never answers).

import assert from "node:assert/strict";
import { service as dnsService } from "../../../services/dns/mod.ts";
import { service as resolverService } from "../../../services/resolver/mod.ts";
import { findMailRoute } from "../../../services/worker/mail_route.ts";
import { startService } from "../../_support/service.ts";

const ZONES: Record<string, string[]> = {
  "two.test": [
    "@ IN MX 20 backup.two.test.",
    "@ IN MX 10 primary.two.test.",
    "primary IN AAAA ::1",
    "primary IN A 127.0.0.2",
    "backup IN A 127.0.0.3",
  ],
  "nomx.test": ["@ IN A 127.0.0.4"],
  "nullmx.test": ["@ IN MX 0 ."],
};

async function startDns() {
  const dir = await Deno.makeTempDir({ prefix: "underhood-worker-zones-" });
  const paths: string[] = [];
  for (const [zone, records] of Object.entries(ZONES)) {
    const path = `${dir}/${zone}.zone`;
    await Deno.writeTextFile(
      path,
      [
        `$ORIGIN ${zone}.`,
        "$TTL 60",
        `@ IN SOA ns1.${zone}. hostmaster.${zone}. 1 3600 900 604800 60`,
        `@ IN NS ns1.${zone}.`,
        "ns1 IN A 127.0.0.1",
        ...records,
      ].join("\n") + "\n",
    );
    paths.push(path);
  }
  const dns = await startService(dnsService, { zone: paths, rrlRate: 0 });
  const resolver = await startService(resolverService, {
    stub: Object.keys(ZONES).map((zone) => `${zone}=127.0.0.1:${dns.addresses.udp.port}`),
    localOnly: true,
  });
  return {
    address: { hostname: "127.0.0.1", port: resolver.addresses.udp.port },
    async [Symbol.asyncDispose]() {
      await resolver.close();
      await dns.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const OPTIONS = { timeoutMs: 2_000 };

Deno.test("findMailRoute() orders exchangers by preference, A before AAAA", async () => {
  await using dns = await startDns();
  assert.deepEqual(await findMailRoute(dns.address, "two.test", OPTIONS), {
    kind: "hosts",
    hosts: [
      { host: "primary.two.test", address: "127.0.0.2" },
      { host: "primary.two.test", address: "::1" },
      { host: "backup.two.test", address: "127.0.0.3" },
    ],
  });
});

Deno.test("findMailRoute() falls back to the domain's own address without MX (implicit MX)", async () => {
  await using dns = await startDns();
  assert.deepEqual(await findMailRoute(dns.address, "nomx.test", OPTIONS), {
    kind: "hosts",
    hosts: [{ host: "nomx.test", address: "127.0.0.4" }],
  });
});

Deno.test("findMailRoute() is permanent for a null MX and for NXDOMAIN", async () => {
  await using dns = await startDns();
  const nullMx = await findMailRoute(dns.address, "nullmx.test", OPTIONS);
  assert.equal(nullMx.kind, "permanent");
  assert.match((nullMx as { reason: string }).reason, /null MX/);
  const missing = await findMailRoute(dns.address, "nowhere.two.test", OPTIONS);
  assert.equal(missing.kind, "permanent");
  assert.match((missing as { reason: string }).reason, /NXDOMAIN/);
});

Deno.test("findMailRoute() is temporary when the resolver does not answer", async () => {
  // A UDP socket that reads nothing: every query to it times out.
  const silent = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const address = { hostname: "127.0.0.1", port: (silent.addr as Deno.NetAddr).port };
    const route = await findMailRoute(address, "two.test", { timeoutMs: 100 });
    assert.equal(route.kind, "temporary");
    assert.match((route as { reason: string }).reason, /timeout/);
  } finally {
    silent.close();
  }
});
