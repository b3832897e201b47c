// The `objects` service: an S3-compatible object store over HTTP/1.1, so
// the aws CLI and the AWS SDKs work against it with only an endpoint URL
// changed. The S3 API is services/objects/api.ts, storage store.ts, the
// signature check auth.ts. /healthz, /readyz and /metrics are on the admin
// port (port + 10000): every path of the S3 port belongs to S3. See
// docs/objects.md.

import { join } from "node:path";
import { type AdminServer, type CheckResult, startAdminServer } from "../../lib/admin.ts";
import type { FlagSpecs } from "../../lib/cli.ts";
import { type FileLayer, realFiles } from "../../lib/fs/file_layer.ts";
import { serveHttp } from "../../lib/http/server.ts";
import { logger } from "../../lib/log.ts";
import { MetricsRegistry } from "../../lib/metrics.ts";
import { bucketNameProblem } from "../../lib/s3/names.ts";
import { adminPortOf, commonFlags, defineService, type ServiceHandle } from "../../lib/service.ts";
import { s3Handler } from "./api.ts";
import { MultipartUploads } from "./multipart.ts";
import { nativeMd5Available } from "./md5_native.ts";
import { keepHashThread } from "./md5_worker.ts";
import { ObjectStore } from "./store.ts";

export const OBJECTS_PORT = 8007;
/**
 * The documented default key pair of the local stack (docs/objects.md):
 * give these to the aws CLI (`aws configure`) or an SDK. Change them with
 * --access-key and --secret-key anywhere that is not a laptop.
 */
export const DEFAULT_ACCESS_KEY = "underhood";
export const DEFAULT_SECRET_KEY = "underhood-secret-key";

export const objectsFlags = {
  ...commonFlags("objects", OBJECTS_PORT),
  "access-key": {
    type: "string",
    default: DEFAULT_ACCESS_KEY,
    help: "access key id clients sign with (AWS_ACCESS_KEY_ID)",
  },
  "secret-key": {
    type: "string",
    default: DEFAULT_SECRET_KEY,
    help: "secret access key clients sign with (AWS_SECRET_ACCESS_KEY)",
  },
  region: { type: "string", default: "us-east-1", help: "the region this store says it is in" },
  domain: {
    type: "string",
    help: "also serve virtual-hosted-style requests to <bucket>.<domain> (path style always works)",
  },
  "upload-max-age-hours": {
    type: "integer",
    default: 168,
    help: "multipart uploads older than this are aborted and their parts removed (0: never)",
  },
  "public-bucket": {
    type: "strings",
    default: [],
    help: "bucket anonymous clients may read, list and write (created if missing; repeatable)",
  },
} as const satisfies FlagSpecs;

export interface ObjectsOptions {
  /** The file layer (default: the real disk); power-loss tests pass a simulated one. */
  files?: FileLayer;
  /** The clock (default Date.now); tests move it to check skew and expiry. */
  now?: () => number;
}

export const service = defineService({
  name: "objects",
  summary: "object storage over the S3 REST API (port 8007)",
  flags: objectsFlags,
  start(config): Promise<ServiceHandle> {
    return startObjects(config, {});
  },
});

type ObjectsConfig = Parameters<typeof service.start>[0];

/** Starts the service; `options` swap the disk and the clock for tests. */
export function startObjects(
  config: ObjectsConfig,
  options: ObjectsOptions,
): Promise<ServiceHandle> {
  for (const name of config.publicBucket) {
    const problem = bucketNameProblem(name);
    if (problem !== undefined) {
      return Promise.reject(new TypeError(`--public-bucket ${name}: ${problem}`));
    }
  }
  const log = logger("objects");
  const files = options.files ?? realFiles;
  const now = options.now ?? Date.now;
  const store = new ObjectStore({ files, dataDir: config.dataDir });
  const opened = store.open();
  const multipart = new MultipartUploads(store);
  const uploads = multipart.open();
  log.info(
    "opened {dir}: {objects} objects, {uploads} multipart uploads, {tmp} unfinished writes removed",
    {
      dir: config.dataDir,
      objects: opened.objects,
      uploads,
      tmp: opened.tmpRemoved,
    },
  );
  for (const name of config.publicBucket) {
    if (store.bucket(name) === undefined) store.createBucket(name, "", now());
  }
  const uploadMaxAgeHours = config.uploadMaxAgeHours;
  if (uploadMaxAgeHours < 0) {
    return Promise.reject(new TypeError(`--upload-max-age-hours ${uploadMaxAgeHours}: negative`));
  }
  // Abandoned multipart uploads: swept at start, then a few times per age
  // (at most hourly), so one outlives its age by at most a quarter of it.
  const uploadMaxAgeMs = uploadMaxAgeHours * 3600_000;
  const sweep = () => {
    const removed = multipart.expire(now(), uploadMaxAgeMs);
    if (removed > 0) log.info("removed {n} abandoned multipart uploads", { n: removed });
  };
  let sweeper: ReturnType<typeof setInterval> | undefined;
  if (uploadMaxAgeMs > 0) {
    sweep();
    const timer = setInterval(() => {
      try {
        sweep();
      } catch (error) {
        log.error("sweeping abandoned uploads failed: {error}", { error: String(error) });
      }
    }, Math.min(uploadMaxAgeMs / 4, 3600_000));
    Deno.unrefTimer(timer);
    sweeper = timer;
  }
  const registry = objectsMetrics(store);
  const server = serveHttp({
    hostname: config.host,
    port: config.port,
    handler: s3Handler({
      store,
      multipart,
      keys: [{ accessKey: config.accessKey, secretKey: config.secretKey }],
      publicBuckets: new Set(config.publicBucket),
      region: config.region,
      domain: config.domain?.toLowerCase().replace(/^\./, ""),
      log,
      now,
    }),
    registry,
    name: "objects",
    label: "objects S3 port",
  });
  let admin: AdminServer;
  try {
    admin = startAdminServer({
      hostname: config.host,
      port: adminPortOf(config),
      registry,
      label: "objects admin port",
      checks: () => ({ store: { ok: true, detail: `${store.listBuckets().length} buckets` } }),
      readiness: () => ({ dataDir: dataDirWritable(files, config.dataDir) }),
    });
  } catch (error) {
    return server.close(0).then(() => Promise.reject(error));
  }
  // Where large uploads hash on the MD5 thread (no libcrypto,
  // md5_native.ts), it starts now, not on the first one's event loop
  // (md5_worker.ts), and runs until close.
  const hashThread = nativeMd5Available() ? { release() {} } : keepHashThread();
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= server.close(config.drainTimeoutMs).then(() => {
      clearInterval(sweeper);
      hashThread.release();
      return admin.close();
    });
  return Promise.resolve({
    addresses: { http: server.addr, admin: admin.addr },
    ready: Promise.resolve(),
    close,
    [Symbol.asyncDispose]: close,
  });
}

/** /readyz: a file can be created, written, synced and removed in the data directory. */
function dataDirWritable(files: FileLayer, dataDir: string): CheckResult {
  const probe = join(dataDir, ".readyz-probe");
  try {
    const handle = files.open(probe, { create: true, truncate: true });
    try {
      handle.writeAt(new Uint8Array([1]), 0);
      handle.sync();
    } finally {
      handle.close();
    }
    files.remove(probe);
    return { ok: true, detail: dataDir };
  } catch (error) {
    return { ok: false, detail: `${dataDir}: ${error instanceof Error ? error.message : error}` };
  }
}

function objectsMetrics(store: ObjectStore): MetricsRegistry {
  const registry = new MetricsRegistry();
  const buckets = registry.gauge("objects_buckets", "buckets");
  const objects = registry.gauge("objects_objects", "objects stored, by bucket", ["bucket"]);
  registry.onCollect(() => {
    const all = store.listBuckets();
    buckets.set(undefined, all.length);
    for (const b of all) objects.set({ bucket: b.name }, store.objectCount(b.name));
  });
  return registry;
}
