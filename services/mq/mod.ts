// The `mq` service: a durable message queue over STOMP 1.0/1.1/1.2 (port
// 8006), with its admin API, /healthz, /readyz and /metrics on port + 10000.
// See docs/mq.md.

import { mountAdmin } from "../../lib/admin.ts";
import type { FlagSpecs } from "../../lib/cli.ts";
import { type FileLayer, realFiles } from "../../lib/fs/file_layer.ts";
import { Router } from "../../lib/http/router.ts";
import { serveHttp } from "../../lib/http/server.ts";
import { logger } from "../../lib/log.ts";
import { adminPortOf, commonFlags, defineService, type ServiceHandle } from "../../lib/service.ts";
import { DEFAULT_LIMITS } from "../../lib/stomp/types.ts";
import { MqAdmin, mqMetrics } from "./admin.ts";
import { Broker, OVERFLOW_POLICIES, type OverflowPolicy } from "./broker.ts";
import { MessageLog } from "./message_log.ts";
import { MqServer } from "./server.ts";
import { DEFAULT_SESSION_LIMITS } from "./session.ts";
import { parseUsers } from "../../lib/users_file.ts";

export const MQ_PORT = 8006;

export const mqFlags = {
  ...commonFlags("mq", MQ_PORT),
  user: { type: "string", help: "login clients must CONNECT with (default: none needed)" },
  password: { type: "string", help: "passcode for --user" },
  "users-file": {
    type: "string",
    help: "file of login:passcode lines, each allowed to CONNECT (with or without --user)",
  },
  "ack-timeout-ms": {
    type: "integer",
    default: 1_800_000,
    help:
      "how long a consumer may hold a message unacknowledged before it is redelivered (0: forever)",
  },
  "max-deliveries": {
    type: "integer",
    default: 20,
    help: "deliveries after which a message moves to /queue/NAME.dlq",
  },
  "queue-depth-max": { type: "integer", default: 1_000_000, help: "messages waiting per queue" },
  "queue-bytes-max": {
    type: "integer",
    default: 1024 * 1024 * 1024,
    help: "body bytes waiting per queue",
  },
  overflow: {
    type: "string",
    default: "reject-publish",
    choices: OVERFLOW_POLICIES,
    help: "past a queue bound: reject-publish, drop-head or block",
  },
  "frame-bytes-max": {
    type: "integer",
    default: DEFAULT_LIMITS.frameBytesMax,
    help: "largest frame accepted",
  },
  "index-window": {
    type: "integer",
    default: 10_000,
    help: "messages per queue indexed in memory; the rest wait in the log only",
  },
  "queues-max": {
    type: "integer",
    default: 10_000,
    help: "queues at most (each new name makes one)",
  },
  "connections-max": { type: "integer", default: 10_000, help: "open connections at most" },
  "segment-bytes-max": {
    type: "integer",
    default: 64 * 1024 * 1024,
    help: "message log segment size",
  },
  "heart-beat-min-ms": {
    type: "integer",
    default: 1_000,
    help: "shortest heart-beat period agreed to",
  },
} as const satisfies FlagSpecs;

/** How often the broker sweeps delays, expiries and processing deadlines. */
const TICK_INTERVAL_MS = 100;

export const service = defineService({
  name: "mq",
  summary: "durable message queue over STOMP 1.2 (port 8006)",
  flags: mqFlags,
  start(config): Promise<ServiceHandle> {
    const log = logger("mq");
    if (config.user === undefined && config.password !== undefined) {
      return Promise.reject(new TypeError("--password needs --user"));
    }
    const files = realFiles;
    let users: Map<string, string> | undefined;
    if (config.usersFile !== undefined) {
      try {
        users = parseUsers(Deno.readTextFileSync(config.usersFile));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    let opened;
    try {
      opened = MessageLog.open({
        files,
        dir: config.dataDir,
        segmentBytesMax: config.segmentBytesMax,
        onWarning: (message) => log.warn("{message}", { message }),
      });
    } catch (error) {
      return Promise.reject(error);
    }
    const { log: messageLog, recovered } = opened;
    // Only figures outlive the broker's start: the recovery index is dropped.
    const recoveredCount = recovered.messages.length;
    const recoveredSegments = recovered.segments;
    if (recovered.tornBytes > 0) {
      log.warn("message log: cut a torn tail of {bytes} bytes", { bytes: recovered.tornBytes });
    }
    const broker = new Broker({
      log: messageLog,
      recovered: recovered.messages,
      deliveriesMax: config.maxDeliveries,
      ackTimeoutMs: config.ackTimeoutMs,
      depthMax: config.queueDepthMax,
      bytesMax: config.queueBytesMax,
      overflow: config.overflow as OverflowPolicy,
      queuesMax: config.queuesMax,
      indexWindow: config.indexWindow,
    });
    const server = new MqServer({
      broker,
      session: {
        login: config.user,
        passcode: config.password ?? "",
        users,
        heartBeatMinMs: config.heartBeatMinMs,
        serverName: "underhood-mq",
        limits: DEFAULT_SESSION_LIMITS,
      },
      limits: { ...DEFAULT_LIMITS, frameBytesMax: config.frameBytesMax },
      connectionsMax: config.connectionsMax,
      connectTimeoutMs: 10_000,
      log,
    });
    const admin = new MqAdmin(broker);
    let tcp;
    try {
      tcp = server.listen(config.host, config.port);
    } catch (error) {
      messageLog.close();
      return Promise.reject(error);
    }
    let ticks = 0;
    const timer = setInterval(() => {
      broker.tick();
      if (++ticks % Math.round(1000 / TICK_INTERVAL_MS) === 0) admin.sample();
    }, TICK_INTERVAL_MS);
    const router = admin.mount(new Router({ bodyLimitBytes: 0 }));
    mountAdmin(router, {
      checks: () => ({ broker: { ok: true } }),
      readiness: () => ({
        recovery: {
          ok: true,
          detail: `${recoveredCount} messages recovered from ${recoveredSegments} segments`,
        },
        disk: diskWritable(files, config.dataDir),
      }),
      registry: mqMetrics(broker, () => ({
        connections: server.openConnections,
        log_segments: messageLog.segmentCount,
        log_bytes: messageLog.sizeBytes,
        log_syncs: messageLog.syncs,
        log_compactions: messageLog.compactions,
      })),
    });
    let http;
    try {
      http = serveHttp({
        hostname: config.host,
        port: adminPortOf(config),
        handler: router.handle,
        name: "mq",
        label: "mq admin port",
        headerTimeoutMs: 2_000,
      });
    } catch (error) {
      clearInterval(timer);
      return server.close(0).then(() => {
        messageLog.close();
        return Promise.reject(error);
      });
    }
    let closing: Promise<void> | undefined;
    const close = () =>
      closing ??= (async () => {
        await server.close(config.drainTimeoutMs);
        await http.close(2_000);
        clearInterval(timer);
        messageLog.close();
      })();
    return Promise.resolve({
      addresses: { tcp: tcp.addr, admin: http.addr },
      ready: Promise.resolve(),
      close,
      [Symbol.asyncDispose]: close,
    });
  },
});

/** Readiness: a probe file can be written, synced and removed in the data directory. */
function diskWritable(files: FileLayer, dir: string): { ok: boolean; detail?: string } {
  const path = `${dir}/.readyz-probe`;
  try {
    const handle = files.open(path, { create: true, truncate: true });
    try {
      handle.writeAt(new Uint8Array([1]), 0);
      handle.syncData();
    } finally {
      handle.close();
    }
    files.remove(path);
    return { ok: true };
  } catch (error) {
    return { ok: false, detail: String(error) };
  }
}
