// Side-by-side benchmark: our smtp service against Postfix, both accepting
// mail on loopback for one domain and delivering it to a Maildir, driven by
// Postfix's own load generator smtp-source with the same arguments. Prints
// messages/s until the last 250 (what the client sees) and until the last
// message is in the Maildir (for us the same moment: our 250 comes after
// the Maildir fsync; Postfix answers 250 once its queue file is fsynced and
// delivers afterwards), and the ratios ours/postfix.
//
//   deno run -A bench/smtp.ts [--messages 10000] [--sessions 16] [--size 4096] [--rounds 3]
//
// The defaults are the issue's: 10k messages of 4 KiB over 16 connections.
//
// Needs smtp-source and postfix (Debian package postfix) and root (Postfix's
// master runs as root). Postfix runs as a private instance in a temporary
// directory (`postfix -c DIR`), its smtpd on a free loopback port, its
// virtual delivery agent writing one Maildir. Figures depend on the machine;
// docs/benchmarks.md records them with the command. Keep runs short on
// shared machines.

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { freePort, waitForPort } from "./_ports.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    messages: { type: "string", default: "10000" },
    sessions: { type: "string", default: "16" },
    size: { type: "string", default: "4096" },
    rounds: { type: "string", default: "3" },
  },
  strict: true,
});
const MESSAGES = Number(values.messages);
const SESSIONS = Number(values.sessions);
const SIZE = Number(values.size);
const ROUNDS = Number(values.rounds);
const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
/** Waiting for a Maildir to fill: a failsafe, not a measurement. */
const DELIVERY_WAIT_MS = 600_000;

async function run(binary: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(binary, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (out.code !== 0) throw new Error(`${binary} ${args.join(" ")} failed:\n${text}`);
  return text;
}

function hasBinary(binary: string): boolean {
  return new Deno.Command("sh", { args: ["-c", `command -v ${binary}`], stdout: "null" })
    .outputSync().success;
}

function countFiles(dir: string): number {
  try {
    return [...Deno.readDirSync(dir)].length;
  } catch {
    return 0;
  }
}

interface Target {
  name: string;
  port: number;
  /** The Maildir's new/ directory. */
  newDir: string;
  stop(): Promise<void>;
}

async function startOurs(): Promise<Target> {
  const dir = await Deno.makeTempDir({ prefix: "bench-smtp-ours-" });
  const port = freePort();
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "smtp",
      "--port",
      String(port),
      "--submission-port",
      String(freePort()),
      "--admin-port",
      "0",
      "--data-dir",
      dir,
      "--domain",
      "bench.test",
      "--max-connections-per-client",
      "1000",
      "--log-level",
      "warning",
    ],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  await waitForPort(port);
  return {
    name: "smtp",
    port,
    newDir: `${dir}/mail/bench.test/rcpt/new`,
    async stop() {
      process.kill("SIGTERM");
      await process.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function startPostfix(): Promise<Target> {
  const dir = await Deno.makeTempDir({ prefix: "bench-smtp-postfix-" });
  const port = freePort();
  for (const sub of ["etc", "spool", "data", "mail"]) await Deno.mkdir(`${dir}/${sub}`);
  // The postfix user must reach its data directory and the delivery agent (as nobody) the Maildir.
  await Deno.chmod(dir, 0o755);
  await Deno.chmod(`${dir}/mail`, 0o777);
  await run("chown", ["postfix", `${dir}/data`]);
  const services = (await Deno.readTextFile("/etc/postfix/master.cf"))
    .replace(/^smtp\s+inet\s.*$/m, `127.0.0.1:${port} inet n - y - - smtpd`);
  await Deno.writeTextFile(`${dir}/etc/master.cf`, services);
  await Deno.writeTextFile(
    `${dir}/etc/main.cf`,
    [
      "compatibility_level = 3.6",
      `queue_directory = ${dir}/spool`,
      `data_directory = ${dir}/data`,
      "maillog_file = /dev/stdout",
      "inet_interfaces = 127.0.0.1",
      "inet_protocols = ipv4",
      "myhostname = bench.localhost",
      "mydestination =",
      "mynetworks = 127.0.0.0/8",
      "smtpd_recipient_restrictions = permit_mynetworks, reject",
      "virtual_mailbox_domains = bench.test",
      `virtual_mailbox_base = ${dir}/mail`,
      "virtual_mailbox_maps = static:rcpt/",
      "virtual_minimum_uid = 1",
      "virtual_uid_maps = static:65534",
      "virtual_gid_maps = static:65534",
      "smtpd_client_connection_count_limit = 0",
      "smtpd_client_connection_rate_limit = 0",
      "default_process_limit = 200",
      "message_size_limit = 10240000",
      "",
    ].join("\n"),
  );
  // In the foreground, logging to stdout (dropped): no syslog needed.
  const master = new Deno.Command("postfix", {
    args: ["-c", `${dir}/etc`, "start-fg"],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  await waitForPort(port);
  return {
    name: "postfix",
    port,
    newDir: `${dir}/mail/rcpt/new`,
    async stop() {
      await run("postfix", ["-c", `${dir}/etc`, "stop"]).catch((e) => console.error(String(e)));
      await master.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** Sends MESSAGES messages; returns seconds until the last 250, and until all are in new/. */
async function load(target: Target): Promise<{ acceptedS: number; deliveredS: number }> {
  const before = countFiles(target.newDir);
  const started = performance.now();
  await run("smtp-source", [
    "-s",
    String(SESSIONS),
    "-m",
    String(MESSAGES),
    "-l",
    String(SIZE),
    "-f",
    "bench@client.test",
    "-t",
    "rcpt@bench.test",
    `127.0.0.1:${target.port}`,
  ]);
  const acceptedS = (performance.now() - started) / 1000;
  const deadline = performance.now() + DELIVERY_WAIT_MS;
  while (countFiles(target.newDir) - before < MESSAGES) {
    if (performance.now() > deadline) throw new Error(`${target.name}: not all messages delivered`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { acceptedS, deliveredS: (performance.now() - started) / 1000 };
}

for (const binary of ["smtp-source", "postfix"]) {
  if (!hasBinary(binary)) {
    console.error(`${binary} not installed (Debian package postfix)`);
    Deno.exit(1);
  }
}

console.log(
  `${MESSAGES} messages of ${SIZE} bytes, ${SESSIONS} sessions (smtp-source), ${ROUNDS} rounds`,
);
const results: Record<string, { accepted: number[]; delivered: number[] }> = {};
for (const start of [startOurs, startPostfix]) {
  const target = await start();
  try {
    const r: { accepted: number[]; delivered: number[] } = { accepted: [], delivered: [] };
    results[target.name] = r;
    for (let round = 0; round < ROUNDS; round++) {
      const { acceptedS, deliveredS } = await load(target);
      r.accepted.push(MESSAGES / acceptedS);
      r.delivered.push(MESSAGES / deliveredS);
      console.log(
        `${target.name.padEnd(8)} round ${round + 1}: ${(MESSAGES / acceptedS).toFixed(0)} msg/s ` +
          `accepted, ${(MESSAGES / deliveredS).toFixed(0)} msg/s in the Maildir`,
      );
    }
  } finally {
    await target.stop();
  }
}
const best = (xs: number[]) => Math.max(...xs);
const ours = results.smtp;
const postfix = results.postfix;
console.log(
  `best of ${ROUNDS}: accepted ${best(ours.accepted).toFixed(0)} vs ${
    best(postfix.accepted).toFixed(0)
  } msg/s (ours/postfix ${(best(ours.accepted) / best(postfix.accepted)).toFixed(2)}); ` +
    `in the Maildir ${best(ours.delivered).toFixed(0)} vs ${best(postfix.delivered).toFixed(0)} ` +
    `msg/s (ours/postfix ${(best(ours.delivered) / best(postfix.delivered)).toFixed(2)})`,
);
