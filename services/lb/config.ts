// The load balancer's configuration: its shape, its defaults, and the one
// validator every source goes through (a JSON file, or --backend/--route
// flags). Pure. Errors name the field that is wrong ("pools.api.backends[1].url:
// must be an http:// URL"), so a bad file is fixed at the first try.
//
// {
//   "pools": {
//     "api": {
//       "algorithm": "round-robin",            // see balancer.ts
//       "backends": [{ "url": "http://127.0.0.1:8001", "weight": 1 }],
//       "hash": { "on": "cookie", "name": "session" },   // consistent-hash only
//       "healthCheck": { "path": "/healthz", "intervalMs": 2000, "timeoutMs": 1000,
//                        "expectStatus": 200, "rise": 2, "fall": 3 },
//       "passive": { "failures": 3, "cooldownMs": 10000, "failureStatuses": [] },
//       "slowStartMs": 0,
//       "connectionsMax": 256,                  // per backend
//       "timeouts": { "connectMs": 2000, "responseHeaderMs": 30000, "idleMs": 60000 },
//       "retries": 2
//     }
//   },
//   "routes": [{ "prefix": "/files/", "pool": "objects", "stripPrefix": false }],
//   "defaultPool": "api",
//   "retryBudget": { "ratio": 0.2, "minPerSecond": 10 },
//   "debugHeader": false
// }

import { type Algorithm, ALGORITHMS } from "./balancer.ts";
import { checkTarget } from "../../lib/http/request_check.ts";
import type { RouteRule } from "./routes.ts";

export interface BackendConfig {
  /** "http://host:port": the origin requests go to. */
  readonly url: string;
  readonly weight: number;
}

export interface HealthCheckConfig {
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly expectStatus: number;
  /** Consecutive passes that bring a down backend up. */
  readonly rise: number;
  /** Consecutive failures that take an up backend down. */
  readonly fall: number;
}

export interface PoolConfig {
  readonly algorithm: Algorithm;
  readonly backends: readonly BackendConfig[];
  readonly hash?: { readonly on: "client" | "header" | "cookie"; readonly name?: string };
  readonly healthCheck?: HealthCheckConfig;
  /**
   * Consecutive failed requests that eject a backend, and for how long. A
   * failure is a connection-level one, or an answer whose status is in
   * `failureStatuses` (expanded: "5xx" becomes 500 to 599).
   */
  readonly passive: {
    readonly failures: number;
    readonly cooldownMs: number;
    readonly failureStatuses: readonly number[];
  };
  /** A backend coming back ramps from 10% to its full share over this long (0: at once). */
  readonly slowStartMs: number;
  /** Requests in flight per backend at most; past it the backend counts as full. */
  readonly connectionsMax: number;
  readonly timeouts: {
    readonly connectMs: number;
    readonly responseHeaderMs: number;
    readonly idleMs: number;
  };
  /** Further attempts on other backends for a request that may be retried. */
  readonly retries: number;
}

export interface LbConfig {
  readonly pools: Readonly<Record<string, PoolConfig>>;
  readonly routes: readonly RouteRule[];
  readonly defaultPool?: string;
  /** Retries may add at most `ratio` of the requests, plus `minPerSecond`. */
  readonly retryBudget: { readonly ratio: number; readonly minPerSecond: number };
  /** Adds `x-lb-debug: rule=..; backend=..; attempt=..` to responses. */
  readonly debugHeader: boolean;
}

export const POOL_DEFAULTS = {
  algorithm: "round-robin" as Algorithm,
  // Answers count as answers unless a pool lists statuses: nginx's max_fails
  // counts errors and timeouts only, and a backend that answers 503 because its
  // own database is down (the stack's http-api) should not lose the reads it
  // can still serve from its cache.
  passive: { failures: 3, cooldownMs: 10_000, failureStatuses: [] as readonly string[] },
  slowStartMs: 0,
  connectionsMax: 256,
  timeouts: { connectMs: 2_000, responseHeaderMs: 30_000, idleMs: 60_000 },
  retries: 2,
};

export const HEALTH_DEFAULTS: HealthCheckConfig = {
  path: "/healthz",
  intervalMs: 2_000,
  timeoutMs: 1_000,
  expectStatus: 200,
  rise: 2,
  fall: 3,
};

/** A configuration that is not valid; the message names the field. */
export class ConfigError extends TypeError {
  override name = "ConfigError";
}

type Json = Record<string, unknown>;

/** Validates parsed JSON into an LbConfig, with defaults filled in. */
export function parseConfig(input: unknown): LbConfig {
  const root = object(input, "config");
  known(root, "config", ["pools", "routes", "defaultPool", "retryBudget", "debugHeader"]);
  const poolsIn = object(root.pools, "pools");
  const pools: Record<string, PoolConfig> = {};
  for (const [name, value] of Object.entries(poolsIn)) {
    pools[name] = parsePool(value, `pools.${name}`);
  }
  if (Object.keys(pools).length === 0) throw new ConfigError("pools: at least one pool is needed");
  const routesIn = root.routes === undefined ? [] : array(root.routes, "routes");
  const routes = routesIn.map((r, i) => parseRoute(r, `routes[${i}]`, pools));
  const defaultPool = optionalString(root.defaultPool, "defaultPool");
  if (defaultPool !== undefined && !(defaultPool in pools)) {
    throw new ConfigError(`defaultPool: no pool named ${JSON.stringify(defaultPool)}`);
  }
  const budgetIn = root.retryBudget === undefined ? {} : object(root.retryBudget, "retryBudget");
  known(budgetIn, "retryBudget", ["ratio", "minPerSecond"]);
  const retryBudget = {
    ratio: num(budgetIn.ratio ?? 0.2, "retryBudget.ratio", 0, 1),
    minPerSecond: num(budgetIn.minPerSecond ?? 10, "retryBudget.minPerSecond", 0, 1e6),
  };
  const debugHeader = bool(root.debugHeader ?? false, "debugHeader");
  return { pools, routes, defaultPool, retryBudget, debugHeader };
}

/**
 * The configuration the quick flags describe: `--backend URL` (repeatable)
 * makes the default round-robin pool "default"; each `--route PREFIX=URL`
 * adds a pool of one backend for that prefix.
 */
export function configFromFlags(backends: readonly string[], routes: readonly string[]): LbConfig {
  const pools: Record<string, unknown> = {};
  const rules: unknown[] = [];
  if (backends.length > 0) pools.default = { backends: backends.map((url) => ({ url })) };
  routes.forEach((text, i) => {
    const eq = text.indexOf("=");
    if (eq <= 0) throw new ConfigError(`--route ${text}: expected PREFIX=URL`);
    const name = `route${i}`;
    pools[name] = { backends: [{ url: text.slice(eq + 1) }] };
    rules.push({ prefix: text.slice(0, eq), pool: name });
  });
  return parseConfig({
    pools,
    routes: rules,
    defaultPool: backends.length > 0 ? "default" : undefined,
  });
}

function parsePool(input: unknown, at: string): PoolConfig {
  const p = object(input, at);
  known(p, at, [
    "algorithm",
    "backends",
    "hash",
    "healthCheck",
    "passive",
    "slowStartMs",
    "connectionsMax",
    "timeouts",
    "retries",
  ]);
  const algorithm = (p.algorithm ?? POOL_DEFAULTS.algorithm) as Algorithm;
  if (!ALGORITHMS.includes(algorithm)) {
    throw new ConfigError(`${at}.algorithm: expected one of ${ALGORITHMS.join(", ")}`);
  }
  const backends = array(p.backends, `${at}.backends`).map((b, i) =>
    parseBackend(b, `${at}.backends[${i}]`)
  );
  if (backends.length === 0) throw new ConfigError(`${at}.backends: at least one is needed`);
  const seen = new Set<string>();
  for (const [i, b] of backends.entries()) {
    if (seen.has(b.url)) throw new ConfigError(`${at}.backends[${i}].url: listed twice`);
    seen.add(b.url);
  }
  let hash: PoolConfig["hash"];
  if (p.hash !== undefined) {
    const h = object(p.hash, `${at}.hash`);
    known(h, `${at}.hash`, ["on", "name"]);
    const on = h.on;
    if (on !== "client" && on !== "header" && on !== "cookie") {
      throw new ConfigError(`${at}.hash.on: expected client, header or cookie`);
    }
    const name = optionalString(h.name, `${at}.hash.name`);
    if (on !== "client" && (name === undefined || name === "")) {
      throw new ConfigError(`${at}.hash.name: the ${on} to hash on is needed`);
    }
    hash = { on, name: on === "header" ? name!.toLowerCase() : name };
  }
  if (algorithm === "consistent-hash" && hash === undefined) hash = { on: "client" };
  let healthCheck: HealthCheckConfig | undefined;
  if (p.healthCheck !== undefined) {
    const h = object(p.healthCheck, `${at}.healthCheck`);
    const hat = `${at}.healthCheck`;
    known(h, hat, ["path", "intervalMs", "timeoutMs", "expectStatus", "rise", "fall"]);
    const d = HEALTH_DEFAULTS;
    const path = string(h.path ?? d.path, `${hat}.path`);
    if (!path.startsWith("/")) throw new ConfigError(`${hat}.path: must start with /`);
    healthCheck = {
      path,
      intervalMs: int(h.intervalMs ?? d.intervalMs, `${hat}.intervalMs`, 10, 3_600_000),
      timeoutMs: int(h.timeoutMs ?? d.timeoutMs, `${hat}.timeoutMs`, 1, 600_000),
      expectStatus: int(h.expectStatus ?? d.expectStatus, `${hat}.expectStatus`, 100, 599),
      rise: int(h.rise ?? d.rise, `${hat}.rise`, 1, 100),
      fall: int(h.fall ?? d.fall, `${hat}.fall`, 1, 100),
    };
  }
  const passiveIn = p.passive === undefined ? {} : object(p.passive, `${at}.passive`);
  known(passiveIn, `${at}.passive`, ["failures", "cooldownMs", "failureStatuses"]);
  const passive = {
    failures: int(
      passiveIn.failures ?? POOL_DEFAULTS.passive.failures,
      `${at}.passive.failures`,
      0,
      1000,
    ),
    cooldownMs: int(
      passiveIn.cooldownMs ?? POOL_DEFAULTS.passive.cooldownMs,
      `${at}.passive.cooldownMs`,
      0,
      3_600_000,
    ),
    failureStatuses: statuses(
      passiveIn.failureStatuses ?? POOL_DEFAULTS.passive.failureStatuses,
      `${at}.passive.failureStatuses`,
    ),
  };
  const t = p.timeouts === undefined ? {} : object(p.timeouts, `${at}.timeouts`);
  known(t, `${at}.timeouts`, ["connectMs", "responseHeaderMs", "idleMs"]);
  const td = POOL_DEFAULTS.timeouts;
  return {
    algorithm,
    backends,
    hash,
    healthCheck,
    passive,
    slowStartMs: int(p.slowStartMs ?? POOL_DEFAULTS.slowStartMs, `${at}.slowStartMs`, 0, 3_600_000),
    connectionsMax: int(
      p.connectionsMax ?? POOL_DEFAULTS.connectionsMax,
      `${at}.connectionsMax`,
      1,
      100_000,
    ),
    timeouts: {
      connectMs: int(t.connectMs ?? td.connectMs, `${at}.timeouts.connectMs`, 1, 600_000),
      responseHeaderMs: int(
        t.responseHeaderMs ?? td.responseHeaderMs,
        `${at}.timeouts.responseHeaderMs`,
        1,
        3_600_000,
      ),
      idleMs: int(t.idleMs ?? td.idleMs, `${at}.timeouts.idleMs`, 1, 3_600_000),
    },
    retries: int(p.retries ?? POOL_DEFAULTS.retries, `${at}.retries`, 0, 10),
  };
}

function parseBackend(input: unknown, at: string): BackendConfig {
  const b = typeof input === "string" ? { url: input } : object(input, at);
  known(b, at, ["url", "weight"]);
  const text = string(b.url, `${at}.url`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`${at}.url: not a URL: ${JSON.stringify(text)}`);
  }
  if (
    url.protocol !== "http:" || (url.pathname !== "/" && url.pathname !== "") ||
    url.search !== "" || url.hash !== ""
  ) {
    throw new ConfigError(`${at}.url: must be an http:// URL with no path`);
  }
  return {
    url: `http://${url.host}`,
    weight: int(b.weight ?? 1, `${at}.weight`, 1, 1000),
  };
}

function parseRoute(input: unknown, at: string, pools: Record<string, PoolConfig>): RouteRule {
  const r = object(input, at);
  known(r, at, ["path", "prefix", "host", "methods", "pool", "stripPrefix", "rewritePrefix"]);
  const pool = string(r.pool, `${at}.pool`);
  if (!(pool in pools)) throw new ConfigError(`${at}.pool: no pool named ${JSON.stringify(pool)}`);
  const path = optionalString(r.path, `${at}.path`);
  const prefix = optionalString(r.prefix, `${at}.prefix`);
  if (path !== undefined && prefix !== undefined) {
    throw new ConfigError(`${at}: give path or prefix, not both`);
  }
  for (const [field, value] of [["path", path], ["prefix", prefix]] as const) {
    if (value !== undefined && !value.startsWith("/")) {
      throw new ConfigError(`${at}.${field}: must start with /`);
    }
  }
  const host = optionalString(r.host, `${at}.host`)?.toLowerCase();
  const methods = r.methods === undefined
    ? undefined
    : array(r.methods, `${at}.methods`).map((m, i) =>
      string(m, `${at}.methods[${i}]`).toUpperCase()
    );
  const stripPrefix = bool(r.stripPrefix ?? false, `${at}.stripPrefix`);
  const rewritePrefix = optionalString(r.rewritePrefix, `${at}.rewritePrefix`);
  if ((stripPrefix || rewritePrefix !== undefined) && prefix === undefined) {
    throw new ConfigError(`${at}: stripPrefix and rewritePrefix need a prefix`);
  }
  if (rewritePrefix !== undefined && !isTargetPrefix(rewritePrefix)) {
    throw new ConfigError(`${at}.rewritePrefix: must start with / and be visible ASCII`);
  }
  return { path, prefix, host, methods, pool, stripPrefix, rewritePrefix };
}

/** A prefix that may start a request target: "/" then visible ASCII (request_check.ts). */
function isTargetPrefix(text: string): boolean {
  if (!text.startsWith("/")) return false;
  try {
    checkTarget(text);
    return true;
  } catch {
    return false;
  }
}

function object(value: unknown, at: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError(`${at}: expected an object`);
  }
  return value as Json;
}

function array(value: unknown, at: string): unknown[] {
  if (!Array.isArray(value)) throw new ConfigError(`${at}: expected an array`);
  return value;
}

function string(value: unknown, at: string): string {
  if (typeof value !== "string") throw new ConfigError(`${at}: expected a string`);
  return value;
}

function optionalString(value: unknown, at: string): string | undefined {
  return value === undefined ? undefined : string(value, at);
}

function bool(value: unknown, at: string): boolean {
  if (typeof value !== "boolean") throw new ConfigError(`${at}: expected true or false`);
  return value;
}

function num(value: unknown, at: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    throw new ConfigError(`${at}: expected a number from ${min} to ${max}`);
  }
  return value;
}

function int(value: unknown, at: string, min: number, max: number): number {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw new ConfigError(`${at}: expected an integer from ${min} to ${max}`);
  }
  return value as number;
}

/**
 * Status codes (100 to 599) or classes ("4xx", "5xx"), expanded and sorted;
 * [] counts no answer as a failure (nginx's default: answers are answers).
 */
function statuses(value: unknown, at: string): number[] {
  const out = new Set<number>();
  for (const [i, item] of array(value, at).entries()) {
    if (typeof item === "string" && /^[1-5]xx$/.test(item)) {
      const base = Number(item[0]) * 100;
      for (let s = base; s < base + 100; s++) out.add(s);
    } else if (Number.isInteger(item) && (item as number) >= 100 && (item as number) <= 599) {
      out.add(item as number);
    } else {
      throw new ConfigError(`${at}[${i}]: expected a status from 100 to 599 or a class like "5xx"`);
    }
  }
  return [...out].sort((a, b) => a - b);
}

/** Unknown fields are refused: a typo ("healthcheck") must not be silently ignored. */
function known(value: Json, at: string, fields: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!fields.includes(key)) {
      throw new ConfigError(`${at}.${key}: unknown field (expected one of ${fields.join(", ")})`);
    }
  }
}
