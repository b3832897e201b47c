// The http-api's flags: dependency addresses and bounds are checked before anything starts.

import assert from "node:assert/strict";
import { defaultConfig, UsageError } from "../../../lib/cli.ts";
import { parseHostPort, service } from "../../../services/http_api/mod.ts";

Deno.test("parseHostPort() reads ADDR:PORT and names the flag when it cannot", () => {
  assert.deepEqual(parseHostPort("127.0.0.1:8004", "datastore"), {
    hostname: "127.0.0.1",
    port: 8004,
  });
  assert.deepEqual(parseHostPort("datastore:8004", "datastore"), {
    hostname: "datastore",
    port: 8004,
  });
  assert.deepEqual(parseHostPort("[::1]:8005", "cache"), { hostname: "::1", port: 8005 });
  for (const bad of ["127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", ":8004", "host:port", ""]) {
    assert.throws(() => parseHostPort(bad, "mq"), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.match(error.message, /^--mq /);
      return true;
    }, bad);
  }
});

Deno.test("the http-api refuses to start on a bad address or bound, before it listens", async () => {
  const base = { ...defaultConfig(service.flags), port: 0, adminPort: 0 };
  await assert.rejects(() => service.start({ ...base, cache: "nowhere" }), /--cache/);
  await assert.rejects(
    async () => await service.start({ ...base, cacheTtlMs: 0 }),
    /--cache-ttl-ms/,
  );
  await assert.rejects(
    async () => await service.start({ ...base, datastoreConnections: 0 }),
    /--datastore-connections/,
  );
});
