// The object store side by side with MinIO (when `minio` is on PATH): each
// server in its own process on a temporary data directory, driven in turn by
// the same client loop (lib/http's HttpClient signing SigV4 with
// UNSIGNED-PAYLOAD, as SDKs do over TLS) with 16 concurrent requests: PUTs
// then GETs of 4 KiB objects (requests/s), then of 1 MiB objects (MiB/s).
// Prints each figure and the ratio ours/MinIO.
//
//   deno run -A bench/objects.ts [--duration 5] [--concurrency 16]
//
// No standard S3 load tool is installed on our machines (MinIO's warp is
// not packaged), hence the small driver; it is the same for both servers.
// MinIO is skipped with a message when missing. Every PUT is fsynced by us
// before it is acknowledged; MinIO syncs too (its default). Figures depend
// on the machine and its disk; record them with the command in
// docs/benchmarks.md.

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { HttpClient } from "../lib/http/client.ts";
import { authorizationHeader, type Credentials, UNSIGNED_PAYLOAD } from "../lib/s3/sigv4.ts";
import { startTarget, type Target } from "./http.ts";
import { freePort } from "./_ports.ts";

const SELF = fileURLToPath(import.meta.url);
const CREDENTIALS: Credentials = { accessKey: "benchkey", secretKey: "bench-secret-key" };

async function serveOurs(dataDir: string): Promise<void> {
  const { setupLogging } = await import("../lib/log.ts");
  const { service } = await import("../services/objects/mod.ts");
  const { defaultConfig } = await import("../lib/cli.ts");
  setupLogging({ level: "warning", format: "text" });
  const handle = await service.start({
    ...defaultConfig(service.flags),
    port: 0,
    adminPort: 0,
    dataDir,
    accessKey: CREDENTIALS.accessKey,
    secretKey: CREDENTIALS.secretKey,
  });
  console.log(`PORT ${handle.addresses.http.port}`);
}

function has(binary: string): boolean {
  const { success } = new Deno.Command("sh", {
    args: ["-c", `command -v ${binary}`],
    stdout: "null",
    stderr: "null",
  }).outputSync();
  return success;
}

function minioTarget(dataDir: string): Target {
  const port = freePort();
  return {
    name: "MinIO",
    command: "sh",
    args: [
      "-c",
      `MINIO_ROOT_USER=${CREDENTIALS.accessKey} MINIO_ROOT_PASSWORD=${CREDENTIALS.secretKey} ` +
      `minio server --quiet --address 127.0.0.1:${port} "${dataDir}" >&2 & ` +
      `sleep 3; echo PORT ${port}; wait`,
    ],
  };
}

class Driver {
  readonly #client = new HttpClient({ idlePerOriginMax: 256 });
  readonly #host: string;
  constructor(port: number) {
    this.#host = `127.0.0.1:${port}`;
  }

  async send(method: string, path: string, body?: Uint8Array): Promise<number> {
    const timeMs = Date.now();
    const amzDate = new Date(timeMs).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
    const signed = {
      host: this.#host,
      "x-amz-content-sha256": UNSIGNED_PAYLOAD,
      "x-amz-date": amzDate,
    };
    const response = await this.#client.request(`http://${this.#host}${path}`, {
      method,
      headers: {
        ...signed,
        authorization: authorizationHeader({
          method,
          rawPath: path,
          headers: signed,
          payloadHash: UNSIGNED_PAYLOAD,
          credentials: CREDENTIALS,
          timeMs,
        }),
      },
      body: body ?? null,
    });
    let bytes = 0;
    for await (const chunk of response.body) bytes += chunk.length;
    if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status}`);
    return bytes;
  }

  close(): Promise<void> {
    return this.#client.close();
  }
}

/** Runs `op` from `concurrency` loops for `seconds`; returns operations and bytes per second. */
async function load(
  seconds: number,
  concurrency: number,
  op: (worker: number, i: number) => Promise<number>,
): Promise<{ opsPerSecond: number; bytesPerSecond: number }> {
  const endMs = Date.now() + seconds * 1000;
  let ops = 0, bytes = 0;
  const startMs = Date.now();
  await Promise.all(Array.from({ length: concurrency }, async (_, worker) => {
    for (let i = 0; Date.now() < endMs; i++) {
      bytes += await op(worker, i);
      ops++;
    }
  }));
  const elapsed = (Date.now() - startMs) / 1000;
  return { opsPerSecond: ops / elapsed, bytesPerSecond: bytes / elapsed };
}

interface Figures {
  name: string;
  put4k: number;
  get4k: number;
  put1m: number;
  get1m: number;
}

async function measure(target: Target, seconds: number, concurrency: number): Promise<Figures> {
  const { port, child } = await startTarget(target);
  const driver = new Driver(port);
  try {
    await driver.send("PUT", "/bench");
    const small = new Uint8Array(4096).fill(0x61);
    const large = new Uint8Array(1024 * 1024).fill(0x62);
    const keys = 64;
    const put4k = await load(seconds, concurrency, async (w, i) => {
      await driver.send("PUT", `/bench/small-${(w * 7919 + i) % keys}`, small);
      return small.length;
    });
    // Every key read below exists, however few writes the PUT phase made.
    for (let k = 0; k < keys; k++) await driver.send("PUT", `/bench/small-${k}`, small);
    const get4k = await load(
      seconds,
      concurrency,
      (w, i) => driver.send("GET", `/bench/small-${(w + i) % keys}`),
    );
    const put1m = await load(seconds, concurrency, async (w, i) => {
      await driver.send("PUT", `/bench/large-${(w * 31 + i) % 16}`, large);
      return large.length;
    });
    for (let k = 0; k < 16; k++) await driver.send("PUT", `/bench/large-${k}`, large);
    const get1m = await load(
      seconds,
      concurrency,
      (w, i) => driver.send("GET", `/bench/large-${(w + i) % 16}`),
    );
    return {
      name: target.name,
      put4k: put4k.opsPerSecond,
      get4k: get4k.opsPerSecond,
      put1m: put1m.bytesPerSecond / 1024 / 1024,
      get1m: get1m.bytesPerSecond / 1024 / 1024,
    };
  } finally {
    await driver.close();
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
  }
}

if (import.meta.main) {
  const args = parseArgs({
    args: Deno.args,
    options: {
      serve: { type: "string" },
      duration: { type: "string", default: "5" },
      concurrency: { type: "string", default: "16" },
    },
    strict: true,
  });
  if (args.values.serve !== undefined) {
    await serveOurs(args.values.serve);
  } else {
    const seconds = Number(args.values.duration);
    const concurrency = Number(args.values.concurrency);
    const dirs: string[] = [];
    const dir = async () => {
      dirs.push(await Deno.makeTempDir({ prefix: "underhood-bench-objects-" }));
      return dirs[dirs.length - 1];
    };
    try {
      const targets: Target[] = [{
        name: "objects",
        command: Deno.execPath(),
        args: ["run", "-A", SELF, "--serve", await dir()],
      }];
      if (has("minio")) targets.push(minioTarget(await dir()));
      else console.log("MinIO skipped: minio not on PATH");
      const results: Figures[] = [];
      for (const target of targets) results.push(await measure(target, seconds, concurrency));
      console.log(
        `${seconds}s per phase, ${concurrency} concurrent requests\n` +
          "server       PUT 4KiB/s   GET 4KiB/s   PUT 1MiB MiB/s   GET 1MiB MiB/s",
      );
      for (const r of results) {
        console.log(
          `${r.name.padEnd(12)} ${r.put4k.toFixed(0).padStart(10)}   ${
            r.get4k.toFixed(0).padStart(10)
          }   ${r.put1m.toFixed(1).padStart(14)}   ${r.get1m.toFixed(1).padStart(14)}`,
        );
      }
      if (results.length === 2) {
        const [ours, ref] = results;
        console.log(
          `ratio ours/MinIO: PUT 4KiB ${(ours.put4k / ref.put4k).toFixed(2)}, GET 4KiB ${
            (ours.get4k / ref.get4k).toFixed(2)
          }, PUT 1MiB ${(ours.put1m / ref.put1m).toFixed(2)}, GET 1MiB ${
            (ours.get1m / ref.get1m).toFixed(2)
          }`,
        );
      }
    } finally {
      for (const d of dirs) await Deno.remove(d, { recursive: true }).catch(() => {});
    }
  }
}
