// At least once: the worker killed with SIGKILL after the SMTP server said
// 250 and before its ACK reached the mq. The mq hands the message back, the
// next worker mails it again, and both copies carry the same Message-ID
// (docs/worker.md: the one duplicate at-least-once allows, and how a
// receiver drops it).
//
// The moment is made exact, not raced: the worker's STOMP connection goes
// through a small proxy that splits the client's bytes into frames with the
// real codec and holds back every ACK. Once the mail is in the mailbox and
// the ACK is held, the ACK has left the worker but the mq never saw it:
// precisely a crash between the send and the ack.

import assert from "node:assert/strict";
import { isIncomplete } from "../../../lib/decode.ts";
import { closeQuietly } from "../../../lib/net/close.ts";
import { ReadBuffer } from "../../../lib/net/read_buffer.ts";
import { writeAll } from "../../../lib/net/write_all.ts";
import { decodeFrame } from "../../../lib/stomp/codec.ts";
import { DEFAULT_LIMITS } from "../../../lib/stomp/types.ts";
import { spawnService } from "../../_support/subprocess.ts";
import { waitFor } from "../cache/wait.ts";
import { Fixture, NOTIFY_TO, spellEvent } from "./_fixture.ts";

const WAIT = { attempts: 1_500, intervalMs: 20 };

/** A TCP proxy to the mq that forwards every client frame but ACK (held from the first one on). */
function ackHoldingProxy(mqPort: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const state = { acksHeld: 0 };
  const pipeToClient = async (from: Deno.Conn, to: Deno.Conn) => {
    const buffer = new Uint8Array(16 * 1024);
    try {
      for (let n = await from.read(buffer); n !== null; n = await from.read(buffer)) {
        await writeAll(to, buffer.subarray(0, n));
      }
    } catch { /* either side gone */ }
    closeQuietly(from);
    closeQuietly(to);
  };
  const pipeToBroker = async (client: Deno.Conn, broker: Deno.Conn) => {
    const input = new ReadBuffer({ sizeBytesMax: DEFAULT_LIMITS.frameBytesMax + 1024 });
    let holding = false;
    try {
      while (true) {
        const decoded = decodeFrame(input.bytes, DEFAULT_LIMITS, input.start, input.end);
        if (isIncomplete(decoded)) {
          if (await input.fill(client, decoded.bytesNeeded) === null) break;
          continue;
        }
        const frame = input.bytes.slice(input.start, input.start + decoded.bytesUsed);
        input.consume(decoded.bytesUsed);
        if (decoded.value?.command === "ACK") {
          holding = true;
          state.acksHeld++;
        }
        if (!holding) await writeAll(broker, frame);
      }
    } catch { /* either side gone */ }
    closeQuietly(client);
    closeQuietly(broker);
  };
  const accepting = (async () => {
    for await (const client of listener) {
      const broker = await Deno.connect({ hostname: "127.0.0.1", port: mqPort });
      conns.add(client).add(broker);
      pipeToBroker(client, broker);
      pipeToClient(broker, client);
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    state,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of conns) closeQuietly(conn);
      await accepting.catch(() => {});
    },
  };
}

Deno.test("worker: kill -9 between the 250 and the ACK mails the event again, with the same Message-ID", async () => {
  await using stack = await Fixture.start();
  await using proxy = ackHoldingProxy(stack.mqPort);
  const config = stack.workerConfig();
  const worker = await spawnService([
    "worker",
    "--port=0",
    "--admin-port=0",
    `--mq=127.0.0.1:${proxy.port}`,
    `--resolver=${config.resolver}`,
    `--smtp-port=${config.smtpPort}`,
    `--notify-to=${NOTIFY_TO}`,
  ], { roles: ["admin"] });
  try {
    await stack.publish(spellEvent(42, "Obliviate"));
    await waitFor(
      "the mail and the held ACK",
      async () => (await stack.mails()).length === 1 && proxy.state.acksHeld === 1,
      WAIT,
    );
  } finally {
    worker.kill("SIGKILL");
    await worker.exited();
  }
  let queue = await stack.queue();
  assert.equal(queue.stats.acked, 0, "the mq never saw the ACK");

  await stack.startWorker();
  await waitFor("the second copy", async () => (await stack.mails()).length === 2, WAIT);
  await waitFor("the ACK", async () => (await stack.queue()).stats.acked === 1, WAIT);
  queue = await stack.queue();
  assert.equal(queue.depth + queue.inFlight, 0);
  assert.ok(queue.stats.redelivered >= 1);
  const mails = await stack.mails();
  const ids = await Promise.all(
    mails.map(async (m) => /\r\nMessage-ID: (.*)\r\n/i.exec(await stack.rawMail(m.id))?.[1]),
  );
  assert.deepEqual(ids, ["<spell-42.created@example.com>", "<spell-42.created@example.com>"]);
});
