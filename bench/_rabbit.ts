// A private RabbitMQ with only its STOMP plugin, for the differential test
// (and bench/mq.ts): Debian's rabbitmq-server package, started in a
// temporary directory with its own epmd, every listener on a free loopback
// port, stopped by PID. Nothing of the machine's own RabbitMQ (if one runs)
// is touched: its node name, cookie, database and logs all live in the
// temporary directory.

import { freePort } from "./_ports.ts";

export const RABBIT_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server";

export interface Rabbit {
  /** The STOMP port. */
  port: number;
  login: string;
  passcode: string;
  /** Where its log is (read it when something looks wrong). */
  logPath: string;
  stop(): Promise<void>;
}

/** True when Debian's rabbitmq-server is installed. */
export function rabbitInstalled(): boolean {
  try {
    Deno.statSync(RABBIT_SERVER);
    return true;
  } catch {
    return false;
  }
}

/** Starts on new ports at most this many times when RabbitMQ exits before it is ready. */
const START_ATTEMPTS = 3;

/**
 * Starts RabbitMQ and resolves once its log says the STOMP listener is up.
 * `stompConfig` lines are added to rabbitmq.conf (`stomp.` settings).
 *
 * Its ports are probed (bound on port 0 and released) and handed over, so a
 * process running alongside (a test's server, a client's ephemeral port) may
 * take one before RabbitMQ binds it, during a boot of several seconds. So
 * readiness is RabbitMQ's own "started STOMP TCP listener" line, never a
 * connect that could reach whoever took the port, and a RabbitMQ that exits
 * before that line is started again on new ports.
 */
export async function startRabbit(
  options: { timeoutMs?: number; stompConfig?: string[] } = {},
): Promise<Rabbit> {
  const failures: string[] = [];
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    const started = await startRabbitOnce(options);
    if (typeof started !== "string") return started;
    failures.push(started);
  }
  throw new Error(
    `RabbitMQ did not start in ${START_ATTEMPTS} attempts:\n${failures.join("\n---\n")}`,
  );
}

/** One start on new ports: the running RabbitMQ, or why it is not (its log's end). */
async function startRabbitOnce(
  options: { timeoutMs?: number; stompConfig?: string[] },
): Promise<Rabbit | string> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const base = await Deno.makeTempDir({ prefix: "underhood-rabbit-" });
  const port = freePort();
  const epmdPort = freePort();
  const node = `uh${port}@localhost`;
  await Deno.writeTextFile(`${base}/enabled_plugins`, "[rabbitmq_stomp].\n");
  await Deno.writeTextFile(
    `${base}/rabbitmq.conf`,
    [
      `listeners.tcp.default = 127.0.0.1:${freePort()}`,
      `stomp.listeners.tcp.1 = 127.0.0.1:${port}`,
      "loopback_users = none",
      ...(options.stompConfig ?? []),
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
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
    RABBITMQ_DIST_PORT: String(freePort()),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
    RABBITMQ_CTL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
  };
  // Our own epmd, so the one Erlang would start (and leave running) never
  // starts, and it listens on loopback only.
  const epmd = new Deno.Command("epmd", {
    args: ["-address", "127.0.0.1", "-port", String(epmdPort)],
    env,
    stdout: "null",
    stderr: "null",
  }).spawn();
  const child = new Deno.Command(RABBIT_SERVER, {
    env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = child.status.then(() => exited = true);
  const stop = async () => {
    // SIGTERM makes the script stop the node and wait for it.
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await status;
    try {
      epmd.kill("SIGTERM");
    } catch { /* gone */ }
    await epmd.status;
    await Deno.remove(base, { recursive: true }).catch(() => {});
  };
  const logPath = `${base}/log/${node}.log`;
  const listening = `started STOMP TCP listener on 127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  while (!(await Deno.readTextFile(logPath).catch(() => "")).includes(listening)) {
    if (exited || Date.now() > deadline) {
      const log = await Deno.readTextFile(logPath).catch(() => "");
      await stop();
      return `${exited ? "exited" : "timed out"}: ${log.slice(-2000)}`;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { port, login: "guest", passcode: "guest", logPath, stop };
}
