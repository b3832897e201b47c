// The object store side by side with s3rver (npm, a popular local S3
// stand-in; MinIO too when `minio` is on PATH), against the disk's own
// limit, as issue #16 asks:
//
//   1. the disk: dd writes a file of the large object's size with
//      conv=fdatasync, then reads it with iflag=direct (no page cache), in
//      the directory the servers write to (--disk-rounds N: N times, each
//      figure printed, the ratios against the medians);
//   2. per server, each in its own process on a fresh data directory: one
//      large PUT (1 GiB by default, streamed from a small buffer, never
//      held whole by the client) and its GET, with the server's peak RSS
//      (VmHWM) read right after the PUT; then N small PUTs (10k of 4 KiB)
//      and N GETs of them, from 16 concurrent clients.
//
// Every request goes through the same lean client: lib/http's HttpClient
// signing SigV4 with UNSIGNED-PAYLOAD (as SDKs do over TLS). Prints MiB/s,
// objects/s, each large figure as a fraction of the disk's, the peak RSS,
// and ours/reference for every workload. The goal: the 1 GiB PUT
// at 0.7 of the disk's sequential write or better with a peak RSS under
// 150 MiB, and ahead of s3rver everywhere.
//
//   deno run -A bench/objects.ts [--large-mib 1024] [--small-count 10000]
//     [--small-kib 4] [--concurrency 16] [--reference s3rver,minio]
//     [--dir /path/on/the/disk/to/test] [--profile DIR] [--large-put-only]
//     [--large-only] [--disk-rounds 1]
//
// --large-put-only measures the disk and the large PUT alone (no GET, no
// small objects): for alternating builds while working on the PUT;
// --large-only the large PUT and GET, without the small objects. With
// every run the CPU time (user + system, /proc/PID/stat) the server and
// this client spent on the large PUT and on the large GET is printed per
// MiB: on a busy machine that says more about a change than the throughput
// does.
//
// --profile DIR runs our server with --cpu-prof into DIR (written when it
// exits on the benchmark's SIGTERM): where a workload's time goes.
//
// s3rver runs with `deno run npm:s3rver@3` (downloaded once into Deno's
// cache); it checks signatures against its fixed key pair S3RVER/S3RVER.
// Every PUT is fsynced by us before it is acknowledged; s3rver writes with
// plain fs calls and never fsyncs, so on PUTs it is measured doing less
// work than we do (say so next to its figures). So the large PUT is also
// measured to the point where it is on the disk: the Dirty + Writeback pages
// left right after the server answered ("unflushed") and the PUT's time plus
// that of a sync(1) run at once after it ("PUT+sync"), the sync also run
// before the PUT so that it starts clean. Run on a quiet machine and
// record the output with the command in docs/benchmarks.md.

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { HttpClient } from "../lib/http/client.ts";
import { authorizationHeader, type Credentials, UNSIGNED_PAYLOAD } from "../lib/s3/sigv4.ts";
import { freePort, waitForPort } from "./_ports.ts";
import { cpuMicros } from "./_process.ts";

const SELF = fileURLToPath(import.meta.url);
const OURS: Credentials = { accessKey: "benchkey", secretKey: "bench-secret-key" };
const MiB = 1024 * 1024;

/** Runs our server in this process (the child side of the benchmark). */
async function serveOurs(dataDir: string, port: number): Promise<void> {
  const { setupLogging } = await import("../lib/log.ts");
  const { service } = await import("../services/objects/mod.ts");
  const { defaultConfig } = await import("../lib/cli.ts");
  setupLogging({ level: "warning", format: "text" });
  const running = await service.start({
    ...defaultConfig(service.flags),
    port,
    adminPort: 0,
    dataDir,
    accessKey: OURS.accessKey,
    secretKey: OURS.secretKey,
  });
  // Exit (not die) on SIGTERM, so a --cpu-prof profile gets written.
  Deno.addSignalListener("SIGTERM", () => {
    running.close().finally(() => Deno.exit(0));
  });
}

interface Target {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  credentials: Credentials;
  cwd?: string;
}

function has(binary: string): boolean {
  return new Deno.Command("sh", {
    args: ["-c", `command -v "$1"`, "sh", binary],
    stdout: "null",
    stderr: "null",
  }).outputSync().success;
}

/** How to start server `name` on `port` with its data in `dir`; undefined when it is missing. */
function targetFor(
  name: string,
  dir: string,
  port: number,
  profileDir?: string,
): Target | undefined {
  switch (name) {
    case "objects":
      return {
        name,
        command: Deno.execPath(),
        args: [
          "run",
          "-A",
          ...(profileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${profileDir}`]),
          SELF,
          "--serve",
          dir,
          "--port",
          String(port),
        ],
        credentials: OURS,
      };
    case "s3rver":
      return {
        name,
        command: Deno.execPath(),
        args: [
          "run",
          "-A",
          "--no-config",
          "--no-lock",
          "npm:s3rver@3",
          "--directory",
          dir,
          "--address",
          "127.0.0.1",
          "--port",
          String(port),
          "--silent",
        ],
        cwd: dir,
        credentials: { accessKey: "S3RVER", secretKey: "S3RVER" },
      };
    case "minio":
      if (!has("minio")) {
        console.log("MinIO skipped: minio not on PATH");
        return undefined;
      }
      return {
        name,
        command: "minio",
        args: ["server", "--quiet", "--address", `127.0.0.1:${port}`, dir],
        env: { MINIO_ROOT_USER: OURS.accessKey, MINIO_ROOT_PASSWORD: OURS.secretKey },
        credentials: OURS,
      };
    default:
      throw new TypeError(`--reference ${name}: s3rver or minio`);
  }
}

class Driver {
  readonly #client = new HttpClient({ idlePerOriginMax: 256 });
  readonly #sink = new Uint8Array(MiB);
  readonly #host: string;
  readonly #credentials: Credentials;
  constructor(port: number, credentials: Credentials) {
    this.#host = `127.0.0.1:${port}`;
    this.#credentials = credentials;
  }

  /** Sends one signed request; returns the response body's length. */
  async send(
    method: string,
    path: string,
    body?: Uint8Array | ReadableStream<Uint8Array>,
    bodyBytes?: number,
  ): Promise<number> {
    const timeMs = Date.now();
    const amzDate = new Date(timeMs).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
    const signed = {
      host: this.#host,
      "x-amz-content-sha256": UNSIGNED_PAYLOAD,
      "x-amz-date": amzDate,
    };
    const headers: Record<string, string> = {
      ...signed,
      authorization: authorizationHeader({
        method,
        rawPath: path,
        headers: signed,
        payloadHash: UNSIGNED_PAYLOAD,
        credentials: this.#credentials,
        timeMs,
      }),
    };
    if (bodyBytes !== undefined) headers["content-length"] = String(bodyBytes);
    const response = await this.#client.request(`http://${this.#host}${path}`, {
      method,
      headers,
      body: body ?? null,
    });
    // Counted, not kept: read into one reused buffer, one read per MiB.
    let bytes = 0;
    for (let n; (n = await response.readBodyInto(this.#sink)) !== null;) bytes += n;
    if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status}`);
    return bytes;
  }

  close(): Promise<void> {
    return this.#client.close();
  }
}

/**
 * `totalBytes` of a repeating 1 MiB pattern, as a stream (the client holds 1 MiB).
 * The same piece is enqueued every time: nothing writes to it, and a fresh
 * 1 MiB copy per MiB cost the client 1.2 ms of CPU per MiB (a new mapping and
 * its page faults each time), CPU the server then lacked on two cores.
 */
function patternStream(totalBytes: number): ReadableStream<Uint8Array> {
  const piece = new Uint8Array(MiB).map((_, i) => (i * 31 + 7) & 0xff);
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const n = Math.min(piece.length, totalBytes - sent);
      controller.enqueue(n === piece.length ? piece : piece.subarray(0, n));
      sent += n;
      if (sent >= totalBytes) controller.close();
    },
  }, { highWaterMark: 0 });
}

/** Peak resident set of a process (VmHWM), in MiB; NaN where /proc has none. */
function peakRssMiB(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
  } catch {
    return NaN;
  }
}

/** Dirty plus Writeback from /proc/meminfo, in MiB; NaN where there is none. */
function unflushedPagesMiB(): number {
  try {
    const info = Deno.readTextFileSync("/proc/meminfo");
    const kib = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(info)?.[1]);
    return (kib("Dirty") + kib("Writeback")) / 1024;
  } catch {
    return NaN;
  }
}

/** sync(1): writes every dirty page of the machine to its disk. */
async function syncAll(): Promise<void> {
  await new Deno.Command("sync", { stdout: "null", stderr: "inherit" }).output();
}

/** Runs `count` operations from `concurrency` loops; returns operations per second. */
async function spread(
  count: number,
  concurrency: number,
  op: (i: number) => Promise<unknown>,
): Promise<number> {
  let next = 0;
  const startMs = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await op(next++);
  }));
  return count / ((performance.now() - startMs) / 1000);
}

interface Figures {
  name: string;
  largePutMiBs: number;
  /** Dirty + Writeback pages right after the large PUT was acknowledged, in MiB. */
  unflushedMiB: number;
  /** The large PUT counting the `sync` that makes it durable, in MiB/s. */
  durablePutMiBs: number;
  largeGetMiBs: number;
  peakRssMiB: number;
  /** CPU (user + system) the server spent on the large PUT, in ms per MiB. */
  serverCpuMsPerMiB: number;
  /** CPU this process (the client) spent on the large PUT, in ms per MiB. */
  clientCpuMsPerMiB: number;
  /** The same two for the large GET. */
  getServerCpuMsPerMiB: number;
  getClientCpuMsPerMiB: number;
  smallPutPerS: number;
  smallGetPerS: number;
}

interface Workload {
  largeBytes: number;
  smallCount: number;
  smallBytes: number;
  concurrency: number;
  /** Only the large PUT (and the disk): for working on it, alternating builds. */
  largePutOnly: boolean;
  /** The large PUT and GET without the small objects. */
  largeOnly: boolean;
}

async function measure(target: Target, port: number, work: Workload): Promise<Figures> {
  const child = new Deno.Command(target.command, {
    args: target.args,
    env: target.env,
    cwd: target.cwd,
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const driver = new Driver(port, target.credentials);
  try {
    await waitForPort(port, 120_000);
    await driver.send("PUT", "/bench");
    await syncAll();
    const serverCpuBefore = cpuMicros(child.pid);
    const clientCpuBefore = cpuMicros(Deno.pid);
    let startMs = performance.now();
    await driver.send("PUT", "/bench/large", patternStream(work.largeBytes), work.largeBytes);
    const putMs = performance.now() - startMs;
    const largeMiB = work.largeBytes / MiB;
    const serverCpuMsPerMiB = (cpuMicros(child.pid) - serverCpuBefore) / 1000 / largeMiB;
    const clientCpuMsPerMiB = (cpuMicros(Deno.pid) - clientCpuBefore) / 1000 / largeMiB;
    const largePutMiBs = work.largeBytes / MiB / (putMs / 1000);
    // What the server acknowledged but the disk does not hold yet, and what
    // the PUT costs once it is on the disk: a server that fsyncs before it
    // answers leaves ~0 MiB behind and its sync takes no time.
    const unflushedMiB = unflushedPagesMiB();
    const syncStartMs = performance.now();
    await syncAll();
    const durablePutMiBs = work.largeBytes / MiB /
      ((putMs + performance.now() - syncStartMs) / 1000);
    // The server's pid is the child's: each target runs as one process.
    const peak = peakRssMiB(child.pid);
    if (work.largePutOnly) {
      return {
        name: target.name,
        largePutMiBs,
        unflushedMiB,
        durablePutMiBs,
        largeGetMiBs: NaN,
        peakRssMiB: peak,
        serverCpuMsPerMiB,
        clientCpuMsPerMiB,
        getServerCpuMsPerMiB: NaN,
        getClientCpuMsPerMiB: NaN,
        smallPutPerS: NaN,
        smallGetPerS: NaN,
      };
    }
    const getServerCpuBefore = cpuMicros(child.pid);
    const getClientCpuBefore = cpuMicros(Deno.pid);
    startMs = performance.now();
    const got = await driver.send("GET", "/bench/large");
    if (got !== work.largeBytes) throw new Error(`${target.name}: GET gave ${got} bytes`);
    const largeGetMiBs = work.largeBytes / MiB / ((performance.now() - startMs) / 1000);
    const getServerCpuMsPerMiB = (cpuMicros(child.pid) - getServerCpuBefore) / 1000 / largeMiB;
    const getClientCpuMsPerMiB = (cpuMicros(Deno.pid) - getClientCpuBefore) / 1000 / largeMiB;
    const large = {
      name: target.name,
      largePutMiBs,
      unflushedMiB,
      durablePutMiBs,
      largeGetMiBs,
      peakRssMiB: peak,
      serverCpuMsPerMiB,
      clientCpuMsPerMiB,
      getServerCpuMsPerMiB,
      getClientCpuMsPerMiB,
    };
    if (work.largeOnly) return { ...large, smallPutPerS: NaN, smallGetPerS: NaN };
    const small = new Uint8Array(work.smallBytes).fill(0x61);
    const smallPutPerS = await spread(
      work.smallCount,
      work.concurrency,
      (i) => driver.send("PUT", `/bench/small-${i}`, small),
    );
    const smallGetPerS = await spread(work.smallCount, work.concurrency, async (i) => {
      const n = await driver.send("GET", `/bench/small-${i}`);
      if (n !== work.smallBytes) throw new Error(`${target.name}: small GET gave ${n} bytes`);
    });
    return { ...large, smallPutPerS, smallGetPerS };
  } finally {
    await driver.close();
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
  }
}

/** The middle value (the mean of the two middle ones for an even count). */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * dd's write and read `rounds` times, each figure the median of them: on a
 * virtual disk one dd run can be far off the next, and the ratios divide by
 * it. On the development VM (ext4 mounted with `discard` on a thin virtual
 * disk) the write is bimodal: 240-530 MiB/s, or 0.95-1.3 GB/s when the
 * blocks ext4 picks are still allocated on the host (mostly a run right
 * after another). Which of the two a server's upload meets is not under
 * the benchmark's control either, so the default stays one run (the
 * issue's measure) and --disk-rounds shows the spread.
 */
async function diskLimits(
  dir: string,
  bytes: number,
  rounds: number,
): Promise<{ write: number; read: number; writes: number[]; reads: number[] }> {
  const writes: number[] = [], reads: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const { write, read } = await diskLimit(dir, bytes);
    writes.push(write);
    reads.push(read);
  }
  return { write: median(writes), read: median(reads), writes, reads };
}

/** dd's sequential write (fdatasync) and direct read of `bytes` in `dir`, in MiB/s. */
async function diskLimit(dir: string, bytes: number): Promise<{ write: number; read: number }> {
  const file = join(dir, "dd.bench");
  const count = Math.max(1, Math.round(bytes / MiB));
  const dd = async (args: string[]) => {
    const out = await new Deno.Command("dd", { args, stdout: "null", stderr: "piped" }).output();
    const text = new TextDecoder().decode(out.stderr);
    // "1073741824 bytes (1.1 GB, 1.0 GiB) copied, 2.5 s, 430 MB/s"
    const m = /(\d+) bytes.*copied, ([\d.]+) s/.exec(text);
    if (!out.success || m === null) throw new Error(`dd ${args.join(" ")}: ${text}`);
    return Number(m[1]) / MiB / Number(m[2]);
  };
  try {
    const write = await dd([
      "if=/dev/zero",
      `of=${file}`,
      "bs=1M",
      `count=${count}`,
      "conv=fdatasync",
    ]);
    const read = await dd([`if=${file}`, "of=/dev/null", "bs=1M", "iflag=direct"]);
    return { write, read };
  } finally {
    await Deno.remove(file).catch(() => {});
  }
}

if (import.meta.main) {
  const args = parseArgs({
    args: Deno.args,
    options: {
      serve: { type: "string" },
      port: { type: "string" },
      "large-mib": { type: "string", default: "1024" },
      "small-count": { type: "string", default: "10000" },
      "small-kib": { type: "string", default: "4" },
      concurrency: { type: "string", default: "16" },
      reference: { type: "string", default: "s3rver,minio" },
      dir: { type: "string" },
      profile: { type: "string" },
      "large-put-only": { type: "boolean", default: false },
      "large-only": { type: "boolean", default: false },
      "disk-rounds": { type: "string", default: "1" },
    },
    strict: true,
  });
  if (args.values.serve !== undefined) {
    await serveOurs(args.values.serve, Number(args.values.port));
  } else {
    const work: Workload = {
      largeBytes: Number(args.values["large-mib"]) * MiB,
      smallCount: Number(args.values["small-count"]),
      smallBytes: Number(args.values["small-kib"]) * 1024,
      concurrency: Number(args.values.concurrency),
      largePutOnly: args.values["large-put-only"],
      largeOnly: args.values["large-only"],
    };
    const root = await Deno.makeTempDir({
      prefix: "underhood-bench-objects-",
      dir: args.values.dir,
    });
    try {
      const disk = await diskLimits(
        root,
        work.largeBytes,
        Math.max(1, Number(args.values["disk-rounds"])),
      );
      const references = args.values.reference.split(",").filter((r) => r !== "");
      const results: Figures[] = [];
      for (const name of ["objects", ...references]) {
        const dir = join(root, name);
        await Deno.mkdir(dir);
        const port = freePort();
        const target = targetFor(name, dir, port, args.values.profile);
        if (target !== undefined) results.push(await measure(target, port, work));
        await Deno.remove(dir, { recursive: true });
      }
      const largeMiB = work.largeBytes / MiB;
      const each = (values: number[]) =>
        values.length > 1 ? ` (median of ${values.map((v) => v.toFixed(0)).join(", ")})` : "";
      console.log(
        `disk (dd, ${largeMiB} MiB): write ${disk.write.toFixed(0)} MiB/s (fdatasync)${
          each(disk.writes)
        }, ` +
          `read ${disk.read.toFixed(0)} MiB/s (direct)${each(disk.reads)}\n` +
          `${largeMiB} MiB object; ${work.smallCount} objects of ${work.smallBytes / 1024} KiB ` +
          `from ${work.concurrency} concurrent clients\n` +
          "server     PUT MiB/s (of disk)   unflushed MiB   PUT+sync MiB/s   " +
          "GET MiB/s (of disk)   peak RSS MiB   small PUT/s   small GET/s",
      );
      for (const r of results) {
        console.log(
          `${r.name.padEnd(10)} ${r.largePutMiBs.toFixed(0).padStart(9)} (${
            (r.largePutMiBs / disk.write).toFixed(2)
          })   ${r.unflushedMiB.toFixed(0).padStart(13)}   ${
            r.durablePutMiBs.toFixed(0).padStart(14)
          }   ${r.largeGetMiBs.toFixed(0).padStart(9)} (${
            (r.largeGetMiBs / disk.read).toFixed(2)
          })` +
            `   ${r.peakRssMiB.toFixed(0).padStart(12)}   ${
              r.smallPutPerS.toFixed(0).padStart(11)
            }` +
            `   ${r.smallGetPerS.toFixed(0).padStart(11)}`,
        );
      }
      console.log("server     CPU ms/MiB: large PUT server   client   large GET server   client");
      for (const r of results) {
        const ms = (x: number) => x.toFixed(2).padStart(6);
        console.log(
          `${r.name.padEnd(10)} ${" ".repeat(22)}${ms(r.serverCpuMsPerMiB)}   ${
            ms(r.clientCpuMsPerMiB)
          }   ${" ".repeat(10)}${ms(r.getServerCpuMsPerMiB)}   ${ms(r.getClientCpuMsPerMiB)}`,
        );
      }
      const ours = results[0];
      for (const ref of results.slice(1)) {
        console.log(
          `ours/${ref.name}: large PUT ${(ours.largePutMiBs / ref.largePutMiBs).toFixed(2)} ` +
            `(until on disk: ${(ours.durablePutMiBs / ref.durablePutMiBs).toFixed(2)}), ` +
            `large GET ${(ours.largeGetMiBs / ref.largeGetMiBs).toFixed(2)}, ` +
            `small PUT ${(ours.smallPutPerS / ref.smallPutPerS).toFixed(2)}, ` +
            `small GET ${(ours.smallGetPerS / ref.smallGetPerS).toFixed(2)}`,
        );
      }
    } finally {
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  }
}
