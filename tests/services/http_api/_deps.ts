// The http-api's four dependencies, the real services, in-process on port 0
// with temporary data directories; each can be stopped and started again on
// the same port and data (what a crashed-and-restarted dependency looks like
// to the API), plus the API itself on top of them.

import { defaultConfig, type FlagSpecs } from "../../../lib/cli.ts";
import { HttpClient } from "../../../lib/http/client.ts";
import type { ServiceDefinition, ServiceHandle } from "../../../lib/service.ts";
import { service as cacheService } from "../../../services/cache/mod.ts";
import { service as datastoreService } from "../../../services/datastore/mod.ts";
import { service as httpApiService } from "../../../services/http_api/mod.ts";
import { service as mqService } from "../../../services/mq/mod.ts";
import { service as objectsService } from "../../../services/objects/mod.ts";

/** One dependency that can be stopped and started again on its port and data directory. */
export class Restartable {
  readonly name: string;
  readonly dataDir: string;
  // deno-lint-ignore no-explicit-any
  readonly #service: ServiceDefinition<any>;
  #handle: ServiceHandle | undefined;
  port = 0;

  // deno-lint-ignore no-explicit-any
  constructor(service: ServiceDefinition<any>, dataDir: string) {
    this.name = service.name;
    this.#service = service;
    this.dataDir = dataDir;
  }

  get running(): boolean {
    return this.#handle !== undefined;
  }

  async start(): Promise<void> {
    const config = {
      ...defaultConfig(this.#service.flags as FlagSpecs),
      host: "127.0.0.1",
      port: this.port,
      adminPort: 0,
      dataDir: this.dataDir,
      logLevel: "warning",
    };
    // A restart takes the port it had, so the API's flags stay true; on a
    // busy machine another test may have been given that port meanwhile
    // (port 0), so a taken port is tried again for a while.
    for (let waitedMs = 0;; waitedMs += 100) {
      try {
        this.#handle = await this.#service.start(config);
        break;
      } catch (error) {
        if (!(error instanceof Deno.errors.AddrInUse) || this.port === 0 || waitedMs >= 15_000) {
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const address = this.#handle.addresses.tcp ?? this.#handle.addresses.http;
    this.port = address.port;
  }

  async stop(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
  }
}

export interface Deps extends AsyncDisposable {
  datastore: Restartable;
  cache: Restartable;
  mq: Restartable;
  objects: Restartable;
  /** The flags that point an http-api at these. */
  apiFlags(): Record<string, string>;
}

export async function startDeps(): Promise<Deps> {
  const root = await Deno.makeTempDir({ prefix: "underhood-http-api-deps-" });
  const deps = {
    datastore: new Restartable(datastoreService, `${root}/datastore`),
    cache: new Restartable(cacheService, `${root}/cache`),
    mq: new Restartable(mqService, `${root}/mq`),
    objects: new Restartable(objectsService, `${root}/objects`),
  };
  const all = Object.values(deps);
  try {
    for (const dep of all) await dep.start();
  } catch (error) {
    for (const dep of all) await dep.stop();
    throw error;
  }
  return {
    ...deps,
    apiFlags: () => ({
      datastore: `127.0.0.1:${deps.datastore.port}`,
      cache: `127.0.0.1:${deps.cache.port}`,
      mq: `127.0.0.1:${deps.mq.port}`,
      objects: `http://127.0.0.1:${deps.objects.port}`,
    }),
    async [Symbol.asyncDispose]() {
      for (const dep of all) await dep.stop();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}

/** An http-api on port 0 over `deps`, with a client that speaks to it. */
export interface Api extends AsyncDisposable {
  handle: ServiceHandle;
  base: string;
  client: HttpClient;
  /** A request; the body read whole (JSON when the response is JSON). */
  call(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; headers: Headers; body: unknown; text: string }>;
}

export async function startApi(
  deps: Deps,
  extra: Record<string, string | number> = {},
): Promise<Api> {
  const config = {
    ...defaultConfig(httpApiService.flags),
    host: "127.0.0.1",
    port: 0,
    adminPort: 0,
    logLevel: "error",
    ...deps.apiFlags(),
    ...extra,
  };
  // deno-lint-ignore no-explicit-any
  const handle = await httpApiService.start(config as any);
  const base = `http://127.0.0.1:${handle.addresses.http.port}`;
  const client = new HttpClient();
  return {
    handle,
    base,
    client,
    async call(method, path, body, headers = {}) {
      const isBytes = body instanceof Uint8Array;
      const response = await client.request(base + path, {
        method,
        headers: body === undefined || isBytes
          ? headers
          : { "content-type": "application/json", ...headers },
        body: body === undefined ? null : isBytes ? body : JSON.stringify(body),
      });
      const text = await response.text();
      const type = response.headers.get("content-type") ?? "";
      const plain = new Headers();
      for (const name of ["content-type", "location", "x-cache", "retry-after", "allow", "etag"]) {
        const value = response.headers.get(name);
        if (value !== undefined) plain.set(name, value);
      }
      return {
        status: response.status,
        headers: plain,
        body: type.includes("json") && text !== "" ? JSON.parse(text) : text,
        text,
      };
    },
    async [Symbol.asyncDispose]() {
      await client.close();
      await handle.close();
    },
  };
}

/** Polls `check` until it holds (bounded), for conditions that settle on their own. */
export async function eventually(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
