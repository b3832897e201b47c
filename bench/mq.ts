// Side-by-side benchmark: our mq against RabbitMQ's STOMP plugin, both
// driven by the same load generator (lib/stomp/client.ts, so the client's
// cost is the same on both sides): P producers each SEND M persistent
// messages of S bytes to one queue, each with a receipt (durable on both:
// RabbitMQ publisher confirms, our group commit), W in flight per producer;
// C consumers with ack:client-individual and prefetch 100 ACK every one.
// Prints messages/s end to end (first SEND to last ACK) and ours/RabbitMQ.
//
//   deno run -A bench/mq.ts [--producers 4] [--consumers 4] [--messages 20000]
//                           [--size 256] [--window 32] [--rounds 3]
//
// RabbitMQ is started from `rabbitmq-server` (Debian's rabbitmq-server
// package) in a temporary directory with only the STOMP plugin enabled;
// when it is not installed, only ours runs and no ratio is printed.
// Figures depend on the machine; docs/benchmarks.md records them with the
// command. Keep runs short on shared machines.

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { StompClient } from "../lib/stomp/client.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    producers: { type: "string", default: "4" },
    consumers: { type: "string", default: "4" },
    messages: { type: "string", default: "20000" },
    size: { type: "string", default: "256" },
    window: { type: "string", default: "32" },
    rounds: { type: "string", default: "3" },
  },
  strict: true,
});
const PRODUCERS = Number(values.producers);
const CONSUMERS = Number(values.consumers);
const MESSAGES = Number(values.messages);
const SIZE = Number(values.size);
const WINDOW = Number(values.window);
const ROUNDS = Number(values.rounds);

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

interface Server {
  name: string;
  port: number;
  login?: string;
  passcode?: string;
  stop(): Promise<void>;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function waitForStomp(port: number, login?: string, passcode?: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
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
  await waitForStomp(port);
  return {
    name: "mq",
    port,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

function hasBinary(name: string): boolean {
  return new Deno.Command("sh", {
    args: ["-c", `command -v ${name}`],
    stdout: "null",
    stderr: "null",
  })
    .outputSync().success;
}

async function startRabbit(): Promise<Server | undefined> {
  if (!hasBinary("rabbitmq-server")) return undefined;
  const base = await Deno.makeTempDir({ prefix: "bench-rabbit-" });
  const port = freePort();
  await Deno.writeTextFile(`${base}/enabled_plugins`, "[rabbitmq_stomp].\n");
  await Deno.writeTextFile(
    `${base}/rabbitmq.conf`,
    [
      `listeners.tcp.default = 127.0.0.1:${freePort()}`,
      `stomp.listeners.tcp.1 = 127.0.0.1:${port}`,
      "loopback_users = none",
      "management.tcp.port = 0",
    ].join("\n") + "\n",
  );
  const env = {
    RABBITMQ_BASE: base,
    RABBITMQ_MNESIA_BASE: `${base}/mnesia`,
    RABBITMQ_LOG_BASE: `${base}/log`,
    RABBITMQ_ENABLED_PLUGINS_FILE: `${base}/enabled_plugins`,
    RABBITMQ_CONFIG_FILE: `${base}/rabbitmq`,
    RABBITMQ_NODENAME: `bench${port}@localhost`,
    RABBITMQ_DIST_PORT: String(freePort()),
  };
  const child = new Deno.Command("rabbitmq-server", { env, stdout: "null", stderr: "null" })
    .spawn();
  await waitForStomp(port, "guest", "guest");
  return {
    name: "RabbitMQ",
    port,
    login: "guest",
    passcode: "guest",
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
      await Deno.remove(base, { recursive: true }).catch(() => {});
    },
  };
}

/** One round: messages/s from the first SEND to the last ACK. */
async function run(server: Server, queue: string): Promise<number> {
  const connect = () =>
    StompClient.connect({
      port: server.port,
      login: server.login,
      passcode: server.passcode,
      host: "/",
    });
  const consumers = await Promise.all(Array.from({ length: CONSUMERS }, connect));
  const producers = await Promise.all(Array.from({ length: PRODUCERS }, connect));
  const total = PRODUCERS * MESSAGES;
  let acked = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => resolveDone = resolve);
  for (const consumer of consumers) {
    const sub = consumer.subscribe(queue, {
      ack: "client-individual",
      headers: { "prefetch-count": 100 },
    });
    (async () => {
      for await (const message of sub) {
        consumer.ack(message).catch(() => {});
        if (++acked === total) resolveDone();
      }
    })();
  }
  const body = new Uint8Array(SIZE).fill(0x61);
  const started = performance.now();
  await Promise.all(producers.map(async (producer) => {
    let next = 0;
    const lane = async () => {
      while (next < MESSAGES) {
        next++;
        await producer.send(queue, body, { receipt: true, headers: { persistent: "true" } });
      }
    };
    await Promise.all(Array.from({ length: WINDOW }, lane));
  }));
  await done;
  const seconds = (performance.now() - started) / 1000;
  for (const client of [...producers, ...consumers]) await client.disconnect().catch(() => {});
  return total / seconds;
}

const results: Record<string, number> = {};
for (const start of [startOurs, startRabbit]) {
  const server = await start();
  if (server === undefined) {
    console.log("RabbitMQ: rabbitmq-server not installed, skipped");
    continue;
  }
  try {
    const rates: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      rates.push(await run(server, `/queue/bench-${round}`));
    }
    rates.sort((a, b) => a - b);
    results[server.name] = rates[Math.floor(rates.length / 2)];
    console.log(
      `${server.name.padEnd(9)} ${
        results[server.name].toFixed(0)
      } messages/s (median of ${ROUNDS}; ` +
        `${PRODUCERS} producers x ${MESSAGES} x ${SIZE} B with receipts, ${CONSUMERS} consumers acking)`,
    );
  } finally {
    await server.stop();
  }
}
if (results.mq && results.RabbitMQ) {
  console.log(`ours/RabbitMQ: ${(results.mq / results.RabbitMQ).toFixed(2)}`);
}
