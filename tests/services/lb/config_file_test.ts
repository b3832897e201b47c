// Reading the configuration file: JSON, or TOML for a file named *.toml
// (through smol-toml), both validated the same way; the file name leads
// every error.

import assert from "node:assert/strict";
import { ConfigError } from "../../../services/lb/config.ts";
import { loadConfig } from "../../../services/lb/mod.ts";

Deno.test("loadConfig reads TOML and JSON into the same configuration", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const toml = `${dir}/lb.toml`;
    await Deno.writeTextFile(
      toml,
      `defaultPool = "api"

[pools.api]
algorithm = "weighted-round-robin"
backends = [{ url = "http://127.0.0.1:8001", weight = 2 }, "http://127.0.0.1:8002"]

[pools.api.healthCheck]
path = "/healthz"
intervalMs = 500

[[routes]]
prefix = "/files/"
pool = "api"
stripPrefix = true
`,
    );
    const json = `${dir}/lb.json`;
    await Deno.writeTextFile(
      json,
      JSON.stringify({
        defaultPool: "api",
        pools: {
          api: {
            algorithm: "weighted-round-robin",
            backends: [{ url: "http://127.0.0.1:8001", weight: 2 }, "http://127.0.0.1:8002"],
            healthCheck: { path: "/healthz", intervalMs: 500 },
          },
        },
        routes: [{ prefix: "/files/", pool: "api", stripPrefix: true }],
      }),
    );
    assert.deepEqual(await loadConfig({ config: toml }), await loadConfig({ config: json }));
    await Deno.writeTextFile(toml, "pools = [");
    await assert.rejects(
      loadConfig({ config: toml }),
      (e) => e instanceof ConfigError && e.message.startsWith(`${toml}: not TOML`),
    );
    await Deno.writeTextFile(json, JSON.stringify({ pools: { api: { backends: ["x"] } } }));
    await assert.rejects(
      loadConfig({ config: json }),
      (e) =>
        e instanceof ConfigError &&
        e.message === `${json}: pools.api.backends[0].url: not a URL: "x"`,
    );
    await assert.rejects(
      loadConfig({ config: json, backend: ["http://127.0.0.1:1"] }),
      /--config or --backend\/--route, not both/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
