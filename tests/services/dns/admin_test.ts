import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { query } from "../../../lib/dns/client.ts";
import { RecordType } from "../../../lib/dns/types.ts";
import { service } from "../../../services/dns/mod.ts";
import { startService } from "../../_support/service.ts";

const ZONE = fileURLToPath(new URL("../../../config/zones/example.com.zone", import.meta.url));

Deno.test("dns serves /healthz and /metrics on its admin port", async () => {
  await using dns = await startService(service, { zone: [ZONE] });
  const server = { hostname: "127.0.0.1", port: dns.addresses.udp.port };
  await query(server, "www.example.com.", RecordType.A);
  await query(server, "nope.example.com.", RecordType.A, { tcp: true });
  await query(server, "www.example.org.", RecordType.A);
  const admin = `http://127.0.0.1:${dns.addresses.admin.port}`;
  const health = await fetch(`${admin}/healthz`);
  assert.equal(health.status, 200);
  await health.body?.cancel();
  const metrics = await (await fetch(`${admin}/metrics`)).text();
  assert.match(metrics, /^dns_queries_total\{transport="udp"\} 2$/m);
  assert.match(metrics, /^dns_queries_total\{transport="tcp"\} 1$/m);
  assert.match(metrics, /^dns_replies_total\{rcode="NOERROR"\} 1$/m);
  assert.match(metrics, /^dns_replies_total\{rcode="NXDOMAIN"\} 1$/m);
  assert.match(metrics, /^dns_replies_total\{rcode="REFUSED"\} 1$/m);
  assert.match(metrics, /^dns_zones 1$/m);
});
