// Configuration validation, pure: defaults filled in, every error names its field.

import assert from "node:assert/strict";
import {
  ConfigError,
  configFromFlags,
  parseConfig,
  POOL_DEFAULTS,
} from "../../../services/lb/config.ts";

Deno.test({ name: "parseConfig fills in defaults", permissions: "none" }, () => {
  const config = parseConfig({
    pools: {
      api: { backends: ["http://127.0.0.1:8001", { url: "http://127.0.0.1:8002/", weight: 3 }] },
    },
    defaultPool: "api",
  });
  const api = config.pools.api;
  assert.equal(api.algorithm, "round-robin");
  assert.deepEqual(api.backends, [
    { url: "http://127.0.0.1:8001", weight: 1 },
    { url: "http://127.0.0.1:8002", weight: 3 },
  ]);
  assert.deepEqual(api.timeouts, POOL_DEFAULTS.timeouts);
  assert.equal(api.healthCheck, undefined);
  assert.deepEqual(config.retryBudget, { ratio: 0.2, minPerSecond: 10 });
  assert.deepEqual(config.routes, []);
});

Deno.test({ name: "parseConfig refuses bad input naming the field", permissions: "none" }, () => {
  const pool = { backends: ["http://127.0.0.1:8001"] };
  const table: [unknown, RegExp][] = [
    [null, /^config: expected an object/],
    [{ pools: {} }, /^pools: at least one pool/],
    [{ pools: { api: { backends: [] } } }, /^pools\.api\.backends: at least one/],
    [
      { pools: { api: { backends: ["ftp://x"] } } },
      /^pools\.api\.backends\[0\]\.url: must be an http/,
    ],
    [{ pools: { api: { backends: ["http://127.0.0.1:1/path"] } } }, /backends\[0\]\.url: must be/],
    [{ pools: { api: { backends: ["nope"] } } }, /backends\[0\]\.url: not a URL/],
    [
      { pools: { api: { ...pool, algorithm: "random" } } },
      /^pools\.api\.algorithm: expected one of/,
    ],
    [{ pools: { api: { ...pool, healthcheck: {} } } }, /^pools\.api\.healthcheck: unknown field/],
    [
      { pools: { api: { ...pool, healthCheck: { rise: 0 } } } },
      /healthCheck\.rise: expected an integer/,
    ],
    [{ pools: { api: { ...pool, healthCheck: { path: "x" } } } }, /healthCheck\.path: must start/],
    [
      { pools: { api: { ...pool, hash: { on: "header" } } } },
      /^pools\.api\.hash\.name: the header/,
    ],
    [
      { pools: { api: pool }, routes: [{ prefix: "/a", pool: "b" }] },
      /^routes\[0\]\.pool: no pool named "b"/,
    ],
    [
      { pools: { api: pool }, routes: [{ prefix: "a", pool: "api" }] },
      /^routes\[0\]\.prefix: must start/,
    ],
    [
      { pools: { api: pool }, routes: [{ path: "/a", stripPrefix: true, pool: "api" }] },
      /need a prefix/,
    ],
    [
      { pools: { api: pool }, routes: [{ prefix: "/a", rewritePrefix: "/b c", pool: "api" }] },
      /rewritePrefix: must start/,
    ],
    [{ pools: { api: pool }, defaultPool: "web" }, /^defaultPool: no pool named "web"/],
    [{ pools: { api: pool }, retryBudget: { ratio: 2 } }, /^retryBudget\.ratio: expected a number/],
  ];
  for (const [input, message] of table) {
    assert.throws(
      () => parseConfig(input),
      (e) => e instanceof ConfigError && message.test(e.message),
      JSON.stringify(input),
    );
  }
});

Deno.test({ name: "configFromFlags builds the same shape as a file", permissions: "none" }, () => {
  const config = configFromFlags(
    ["http://127.0.0.1:8001", "http://127.0.0.1:8002"],
    ["/files/=http://127.0.0.1:8007"],
  );
  assert.equal(config.defaultPool, "default");
  assert.equal(config.pools.default.backends.length, 2);
  assert.deepEqual(config.routes[0], {
    path: undefined,
    prefix: "/files/",
    host: undefined,
    methods: undefined,
    pool: "route0",
    stripPrefix: false,
    rewritePrefix: undefined,
  });
  assert.throws(() => configFromFlags([], ["/files"]), /--route \/files: expected PREFIX=URL/);
});
