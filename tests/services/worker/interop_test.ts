// The worker between two programs we did not write: the event is published
// by Debian's python3-stomp (stomp.py, as the mq's own interop test uses it)
// the way the http-api publishes it, and the mail is taken by aiosmtpd
// (python3-aiosmtpd, the asyncio SMTP server of the Python project), which
// first answers 451 to the data and then 250: the worker retries, and
// acknowledges only after the 250.

import assert from "node:assert/strict";
import { interopRequired, interopTest } from "../../_support/interop.ts";
import { waitFor } from "../cache/wait.ts";
import { Fixture, NOTIFY_TO } from "./_fixture.ts";

const PUBLISH = `
import sys, stomp
conn = stomp.Connection12([("127.0.0.1", int(sys.argv[1]))], heartbeats=(0, 0))
conn.connect(wait=True)
conn.send("/queue/spell.created", body=sys.argv[2],
          headers={"content-type": "application/json", "persistent": "true", "receipt": "r1"})
conn.disconnect()
print("sent")
`;

// aiosmtpd's own asyncio server on port 0, without its Controller (which
// needs a port given in advance): the port it got is the first line.
const SMTP_SERVER = `
import asyncio, sys, json
from aiosmtpd.smtp import SMTP
refusals = int(sys.argv[1])
class Handler:
    async def handle_DATA(self, server, session, envelope):
        global refusals
        if refusals > 0:
            refusals -= 1
            print(json.dumps({"refused": True}), flush=True)
            return "451 4.3.0 try again later"
        print(json.dumps({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                          "content": envelope.content.decode("utf-8")}), flush=True)
        return "250 2.0.0 queued"
async def main():
    loop = asyncio.get_running_loop()
    handler = Handler()
    server = await loop.create_server(lambda: SMTP(handler), host="127.0.0.1", port=0)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"ready": True, "port": port}), flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()
    await server.wait_closed()
asyncio.run(main())
`;

/** A python3 that can import every module named, or undefined. */
function pythonWith(modules: string[]): string | undefined {
  for (const python of ["/usr/bin/python3", "python3"]) {
    try {
      const { success } = new Deno.Command(python, {
        args: ["-c", modules.map((m) => `import ${m}`).join("; ")],
        stdout: "null",
        stderr: "null",
      }).outputSync();
      if (success) return python;
    } catch { /* not there */ }
  }
  return undefined;
}

/**
 * aiosmtpd on the port it bound (never a port released for it to bind, which
 * a test running alongside could take first); its JSON lines (refusals,
 * mail) collected as they come.
 */
async function startAiosmtpd(python: string, refusals: number) {
  const child = new Deno.Command(python, {
    args: ["-c", SMTP_SERVER, String(refusals)],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const events: Record<string, unknown>[] = [];
  const stderr = new Response(child.stderr).text();
  const reading = (async () => {
    let pending = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      let newline;
      while ((newline = pending.indexOf("\n")) !== -1) {
        events.push(JSON.parse(pending.slice(0, newline)));
        pending = pending.slice(newline + 1);
      }
    }
  })();
  await waitFor("aiosmtpd ready", () => events.some((e) => e.ready), {
    attempts: 1_000,
    intervalMs: 20,
  });
  const port = events.find((e) => e.ready)!.port as number;
  return {
    port,
    events,
    async [Symbol.asyncDispose]() {
      await child.stdin.close();
      await child.status;
      await reading;
      await stderr;
    },
  };
}

const python = pythonWith(["stomp", "aiosmtpd"]);

if (python === undefined && !interopRequired()) {
  console.warn("skipped: python3-stomp or python3-aiosmtpd not installed (worker interop)");
  Deno.test({
    name: "worker: python3-stomp to aiosmtpd (skipped: not installed)",
    ignore: true,
    fn() {},
  });
} else {
  interopTest("worker: an event published by python3-stomp is mailed to aiosmtpd, after a 451", {
    binaries: ["python3"],
    async fn() {
      assert.ok(python, "python3-stomp and python3-aiosmtpd are needed");
      await using stack = await Fixture.start();
      await using smtpd = await startAiosmtpd(python, 1);
      await stack.startWorker({ smtpPort: smtpd.port });
      const event = JSON.stringify({
        event: "spell.created",
        spell: {
          id: 12,
          name: "Accio",
          incantation: "Accio!",
          description: "Summons an object.",
          createdAt: "2026-12-02T07:00:00.000Z",
        },
      });
      const published = await new Deno.Command(python, {
        args: ["-c", PUBLISH, String(stack.mqPort), event],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(published.code, 0, new TextDecoder().decode(published.stderr));
      await waitFor("the mail at aiosmtpd", () => smtpd.events.some((e) => "content" in e), {
        attempts: 1_000,
        intervalMs: 20,
      });
      assert.deepEqual(smtpd.events.filter((e) => !e.ready).map((e) => Object.keys(e)), [
        ["refused"],
        ["from", "to", "content"],
      ]);
      const mail = smtpd.events.find((e) => "content" in e) as {
        from: string;
        to: string[];
        content: string;
      };
      assert.equal(mail.from, "spells@example.com");
      assert.deepEqual(mail.to, [NOTIFY_TO]);
      assert.match(mail.content, /\r\nSubject: New spell: Accio\r\n/);
      assert.match(mail.content, /\r\nMessage-ID: <spell-12\.created@example\.com>\r\n/);
      await waitFor("the ACK", async () => (await stack.queue()).stats.acked === 1, {
        attempts: 1_000,
        intervalMs: 20,
      });
      assert.equal(await stack.workerMetric("worker_retries_total"), 1);
      assert.equal(await stack.workerMetric("worker_events_processed_total"), 1);
    },
  });
}
