// Side-by-side benchmark: our mq against RabbitMQ's STOMP plugin, both
// driven by the same load generator (lib/stomp/client.ts, so the client's
// cost is the same on both sides). For each shape PxC: P producers SEND
// --messages persistent messages of --size bytes in all to one durable queue,
// each with a receipt (durable on both: RabbitMQ publisher confirms, our
// group commit), --window in flight per producer; C consumers with
// ack:client-individual and prefetch-count 100 ACK every one.
// Prints messages/s end to end (first SEND to last ACK), the p99 of SEND to
// delivery (each body carries its send time) and ours/RabbitMQ.
//
//   deno run -A bench/mq.ts [--shapes 1x1,8x8] [--messages 100000]
//                           [--size 1024] [--window 32] [--rounds 3]
//
// RabbitMQ is started from Debian's rabbitmq-server package (`apt-get install
// rabbitmq-server`; stop the package's own daemon, or keep it from starting
// with a policy-rc.d that exits 101) in a temporary directory: its own epmd on
// a free loopback port, AMQP, STOMP and Erlang distribution on free loopback
// ports, only the STOMP plugin enabled; everything is stopped by PID at the
// end. When it is not installed, only ours runs and no ratio is printed.
// Figures depend on the machine; docs/benchmarks.md records them with the
// command. Keep runs short on shared machines.

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { StompClient } from "../lib/stomp/client.ts";
import { freePort } from "./_ports.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    shapes: { type: "string", default: "1x1,8x8" },
    messages: { type: "string", default: "100000" },
    size: { type: "string", default: "1024" },
    window: { type: "string", default: "32" },
    rounds: { type: "string", default: "3" },
  },
  strict: true,
});
const SHAPES = values.shapes.split(",").map((shape) => {
  const [producers, consumers] = shape.split("x").map(Number);
  if (!(producers > 0 && consumers > 0)) throw new Error(`bad shape ${shape} (want PxC)`);
  return { producers, consumers };
});
const MESSAGES = Number(values.messages);
const SIZE = Number(values.size);
const WINDOW = Number(values.window);
const ROUNDS = Number(values.rounds);
const RABBIT_START_TIMEOUT_MS = 120_000;

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

interface Server {
  name: string;
  port: number;
  login?: string;
  passcode?: string;
  stop(): Promise<void>;
}

async function waitForStomp(
  port: number,
  timeoutMs: number,
  exited: () => boolean,
  login?: string,
  passcode?: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !exited()) {
    try {
      const client = await StompClient.connect({ port, login, passcode, host: "/" });
      await client.disconnect();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`no STOMP broker on ${port}`);
}

function watch(child: Deno.ChildProcess): () => boolean {
  let exited = false;
  child.status.then(() => exited = true);
  return () => exited;
}

async function startOurs(): Promise<Server> {
  const port = freePort();
  const dataDir = await Deno.makeTempDir({ prefix: "bench-mq-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "mq",
      "--port",
      String(port),
      "--admin-port",
      "0",
      "--data-dir",
      dataDir,
      "--log-level",
      "warning",
    ],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
    await Deno.remove(dataDir, { recursive: true });
  };
  try {
    await waitForStomp(port, 30_000, watch(child));
  } catch (error) {
    await stop();
    throw error;
  }
  return { name: "mq", port, stop };
}

const RABBIT_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server";

async function startRabbit(): Promise<Server | undefined> {
  try {
    await Deno.stat(RABBIT_SERVER);
  } catch {
    return undefined;
  }
  const base = await Deno.makeTempDir({ prefix: "bench-rabbit-" });
  const port = freePort();
  const epmdPort = freePort();
  await Deno.writeTextFile(`${base}/enabled_plugins`, "[rabbitmq_stomp].\n");
  await Deno.writeTextFile(
    `${base}/rabbitmq.conf`,
    [
      `listeners.tcp.default = 127.0.0.1:${freePort()}`,
      `stomp.listeners.tcp.1 = 127.0.0.1:${port}`,
      "loopback_users = none",
    ].join("\n") + "\n",
  );
  const env = {
    HOME: base, // the Erlang cookie goes here, not in the caller's home
    ERL_EPMD_ADDRESS: "127.0.0.1",
    ERL_EPMD_PORT: String(epmdPort),
    RABBITMQ_BASE: base,
    RABBITMQ_MNESIA_BASE: `${base}/mnesia`,
    RABBITMQ_LOG_BASE: `${base}/log`,
    RABBITMQ_ENABLED_PLUGINS_FILE: `${base}/enabled_plugins`,
    RABBITMQ_CONFIG_FILE: `${base}/rabbitmq.conf`,
    RABBITMQ_NODENAME: `bench${port}@localhost`,
    RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
    RABBITMQ_DIST_PORT: String(freePort()),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
    RABBITMQ_CTL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
  };
  // Our own epmd, so that the one Erlang would start (and leave running) is
  // never started, and so that it listens on loopback only.
  const epmd = new Deno.Command("epmd", {
    args: ["-address", "127.0.0.1", "-port", String(epmdPort)],
    env,
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const child = new Deno.Command(RABBIT_SERVER, {
    env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    // SIGTERM makes the script run `rabbitmqctl stop` and wait for the node.
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
    try {
      epmd.kill("SIGTERM");
    } catch { /* gone */ }
    await epmd.status;
    await Deno.remove(base, { recursive: true }).catch(() => {});
  };
  try {
    await waitForStomp(port, RABBIT_START_TIMEOUT_MS, watch(child), "guest", "guest");
  } catch (error) {
    const log = await Deno.readTextFile(`${base}/log/bench${port}@localhost.log`).catch(() => "");
    await stop();
    throw new Error(`RabbitMQ did not start: ${log.slice(-2000)}`, { cause: error });
  }
  return { name: "RabbitMQ", port, login: "guest", passcode: "guest", stop };
}

interface Round {
  rate: number;
  p99Ms: number;
}

/** One round: messages/s from the first SEND to the last ACK, p99 SEND to delivery. */
async function run(
  server: Server,
  queue: string,
  shape: { producers: number; consumers: number },
): Promise<Round> {
  const connect = () =>
    StompClient.connect({
      port: server.port,
      login: server.login,
      passcode: server.passcode,
      host: "/",
    });
  const consumers = await Promise.all(Array.from({ length: shape.consumers }, connect));
  const producers = await Promise.all(Array.from({ length: shape.producers }, connect));
  const total = MESSAGES;
  const latencies = new Float64Array(total);
  let acked = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => resolveDone = resolve);
  const subscribed: Promise<void>[] = [];
  for (const consumer of consumers) {
    const sub = consumer.subscribe(queue, {
      ack: "client-individual",
      headers: { "prefetch-count": 100, durable: "true", "auto-delete": "false" },
      receipt: true,
    });
    subscribed.push(sub.ready);
    (async () => {
      for await (const message of sub) {
        const sentAt = new DataView(message.body.buffer, message.body.byteOffset, 8)
          .getFloat64(0);
        consumer.ack(message).catch(() => {});
        if (acked < total) latencies[acked] = performance.now() - sentAt;
        if (++acked === total) resolveDone();
      }
    })();
  }
  await Promise.all(subscribed);
  const started = performance.now();
  let sent = 0;
  await Promise.all(producers.map(async (producer) => {
    const lane = async () => {
      while (sent < total) {
        sent++;
        const body = new Uint8Array(SIZE).fill(0x61);
        new DataView(body.buffer).setFloat64(0, performance.now());
        await producer.send(queue, body, { receipt: true, headers: { persistent: "true" } });
      }
    };
    await Promise.all(Array.from({ length: WINDOW }, lane));
  }));
  await done;
  const seconds = (performance.now() - started) / 1000;
  for (const client of [...producers, ...consumers]) await client.disconnect().catch(() => {});
  latencies.sort();
  return { rate: total / seconds, p99Ms: latencies[Math.floor(total * 0.99)] };
}

const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)];

// results[shape][server] = median round
const results = new Map<string, Map<string, Round>>();
for (const start of [startOurs, startRabbit]) {
  const server = await start();
  if (server === undefined) {
    console.log(`RabbitMQ: ${RABBIT_SERVER} not installed, skipped`);
    continue;
  }
  try {
    for (const shape of SHAPES) {
      const key = `${shape.producers}x${shape.consumers}`;
      const rounds: Round[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        rounds.push(await run(server, `/queue/bench-${key}-${round}`, shape));
      }
      const result = {
        rate: median(rounds.map((r) => r.rate)),
        p99Ms: median(rounds.map((r) => r.p99Ms)),
      };
      if (!results.has(key)) results.set(key, new Map());
      results.get(key)!.set(server.name, result);
      console.log(
        `${key.padEnd(5)} ${server.name.padEnd(9)} ${
          result.rate.toFixed(0).padStart(7)
        } messages/s` +
          `   p99 ${
            result.p99Ms.toFixed(1).padStart(7)
          } ms   (median of ${ROUNDS}; ${MESSAGES} x ${SIZE} B` +
          ` persistent with receipts, ${shape.producers} producers, ${shape.consumers} consumers acking)`,
      );
    }
  } finally {
    await server.stop();
  }
}
for (const [key, byServer] of results) {
  const ours = byServer.get("mq");
  const theirs = byServer.get("RabbitMQ");
  if (ours && theirs) {
    console.log(
      `${key.padEnd(5)} ours/RabbitMQ: messages/s ${(ours.rate / theirs.rate).toFixed(2)}, ` +
        `p99 ${(ours.p99Ms / theirs.p99Ms).toFixed(2)}`,
    );
  }
}
