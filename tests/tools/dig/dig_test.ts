import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { UsageError } from "../../../lib/cli.ts";
import { RecordType } from "../../../lib/dns/types.ts";
import { parseDigArgs } from "../../../tools/dig/mod.ts";
import { service } from "../../../services/dns/mod.ts";
import { DEAD_PORT } from "../../_support/dead_port.ts";
import { runClient } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";

const MAIN = fileURLToPath(new URL("../../../main.ts", import.meta.url));
const EXAMPLE = fileURLToPath(new URL("../../../config/zones/example.com.zone", import.meta.url));

function dig(args: string[]) {
  return runClient(Deno.execPath(), ["run", "-A", MAIN, "dig", ...args], { timeoutMs: 60_000 });
}

Deno.test("parseDigArgs() reads dig's argument order", { permissions: "none" }, () => {
  assert.deepEqual(parseDigArgs(["example.com", "MX", "@::1", "+tcp", "+short", "+norec"]), {
    name: "example.com",
    type: RecordType.MX,
    class: 1,
    server: "::1",
    tcp: true,
    short: true,
    recurse: false,
    edns: true,
  });
  assert.equal(parseDigArgs(["@127.0.0.2", "a.example", "txt", "CH"]).class, 3);
  assert.throws(() => parseDigArgs([]), UsageError);
  assert.throws(() => parseDigArgs(["a.example", "+frobnicate"]), UsageError);
  assert.throws(() => parseDigArgs(["a.example", "A", "what"]), UsageError);
});

Deno.test("deno task dig prints the dig layout, +short, and clear errors", async () => {
  await using svc = await startService(service, { zone: [EXAMPLE], rrlRate: 0 });
  const port = String(svc.addresses.udp.port);
  const full = await dig(["example.com", "MX", "@127.0.0.1", "-p", port]);
  assert.equal(full.code, 0, full.stderr);
  assert.match(full.stdout, /;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: \d+/);
  assert.match(full.stdout, /;; flags: qr aa rd; QUERY: 1, ANSWER: 1, AUTHORITY: 1, ADDITIONAL: 4/);
  assert.match(full.stdout, /;; QUESTION SECTION:\n;example\.com\.\t\t\tIN\tMX\n/);
  assert.match(
    full.stdout,
    /;; ANSWER SECTION:\nexample\.com\.\t\t3600\tIN\tMX\t10 mail\.example\.com\.\n/,
  );
  assert.match(full.stdout, /;; SERVER: 127\.0\.0\.1#\d+\(127\.0\.0\.1\) \(UDP\)/);

  const short = await dig(["www.example.com", "AAAA", "+short", "+tcp", "-p", port]);
  assert.equal(short.stdout, "::1\n");

  const nx = await dig(["nope.example.com", "-p", port]);
  assert.match(nx.stdout, /status: NXDOMAIN/);
  assert.match(nx.stdout, /;; AUTHORITY SECTION:\nexample\.com\.\t\t300\tIN\tSOA\t/);

  const closed = String(DEAD_PORT);
  const refused = await dig(["www.example.com", "+tcp", "-p", closed]);
  assert.equal(refused.code, 9);
  assert.match(refused.stdout, /communications error to 127\.0\.0\.1#\d+: connection refused/);
  const silent = await dig(["www.example.com", "-p", closed, "--timeout-ms", "300"]);
  assert.equal(silent.code, 9);
  assert.match(silent.stdout, /communications error .*: timed out\n;; no servers could be reached/);

  const usage = await dig(["-p", port]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /which name\?/);
});
