// kill -9 the mq process at seeded random moments while a producer sends
// with receipts and a consumer acknowledges with receipts, then restart on
// the same data directory, 20 times over. Afterwards:
//   - every message whose SEND was receipted was delivered at least once;
//   - no message whose ACK was receipted is ever delivered again;
//   - within each run of the broker, first deliveries come in the single
//     producer's order (per-queue FIFO, recovered in order).
//
//   MQ_CRASH_SEED=n  replay a run (printed on failure)

import assert from "node:assert/strict";
import { seededRandom } from "../../_support/power_loss_fs.ts";
import { StompClient, type StompMessage } from "../../../lib/stomp/client.ts";
import { spawnService } from "../../_support/subprocess.ts";

const SEED = Number(Deno.env.get("MQ_CRASH_SEED") ?? Math.floor(Math.random() * 2 ** 31));
const KILLS = 20;
const QUEUE = "/queue/crash";

Deno.test(`mq survives kill -9 ${KILLS} times (seed ${SEED})`, async () => {
  const random = seededRandom(SEED);
  const dataDir = await Deno.makeTempDir({ prefix: "underhood-mq-crash-" });
  const receipted = new Set<number>();
  const delivered = new Set<number>();
  const ackReceipted = new Set<number>();
  let next = 0;
  try {
    for (let round = 0; round <= KILLS; round++) {
      // A small index window, so queue tails in the log only are part of every crash.
      const mq = await spawnService([
        "mq",
        "--port",
        "0",
        "--data-dir",
        dataDir,
        "--index-window",
        "8",
        // Small segments: rolls, reclaims and compactions (of the
        // unacknowledged tenth) happen in every run.
        "--segment-bytes-max",
        "4096",
      ], {
        roles: ["tcp", "admin"],
        timeoutMs: 60_000,
      });
      const port = mq.ports.tcp;
      const producer = await StompClient.connect({ port });
      const consumer = await StompClient.connect({ port });
      const seenThisRun: number[] = [];
      const problems: string[] = [];
      const sub = consumer.subscribe(QUEUE, {
        ack: "client-individual",
        headers: { "prefetch-count": 50 },
      });
      const consume = (async () => {
        let message: StompMessage | undefined;
        try {
          while ((message = await sub.next()) !== undefined) {
            const n = Number(message.text);
            if (ackReceipted.has(n)) problems.push(`message ${n} came back after its ACK receipt`);
            const first = !delivered.has(n);
            delivered.add(n);
            if (first) seenThisRun.push(n);
            if (random() < 0.9) {
              await consumer.ack(message, { receipt: true });
              ackReceipted.add(n);
            }
          }
        } catch { /* the broker died */ }
      })();
      const produce = (async () => {
        try {
          while (true) {
            const n = next++;
            await producer.send(QUEUE, String(n), { receipt: true });
            receipted.add(n);
          }
        } catch { /* the broker died */ }
      })();
      if (round < KILLS) {
        await new Promise((resolve) => setTimeout(resolve, 30 + Math.floor(random() * 250)));
        mq.kill("SIGKILL");
      } else {
        // The last run: stop producing, drain what is left, then stop cleanly.
        await new Promise((resolve) => setTimeout(resolve, 200));
        producer.close();
        await produce;
        await waitFor(() => [...receipted].every((n) => delivered.has(n)), 20_000);
        mq.kill("SIGTERM");
      }
      await mq.exited();
      await produce;
      await consume;
      producer.close();
      consumer.close();
      assert.deepEqual(problems, [], `seed ${SEED}, round ${round}`);
      for (let i = 1; i < seenThisRun.length; i++) {
        assert.ok(
          seenThisRun[i] > seenThisRun[i - 1],
          `seed ${SEED}, round ${round}: ${seenThisRun[i]} delivered after ${seenThisRun[i - 1]}`,
        );
      }
    }
    const lost = [...receipted].filter((n) => !delivered.has(n));
    assert.deepEqual(lost, [], `seed ${SEED}: receipted messages never delivered`);
    assert.ok(receipted.size > KILLS, `only ${receipted.size} messages receipted`);
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("mq process drains on SIGTERM and exits 0; what was receipted is there after", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "underhood-mq-term-" });
  try {
    const first = await spawnService(["mq", "--port", "0", "--data-dir", dataDir], {
      roles: ["tcp", "admin"],
    });
    const producer = await StompClient.connect({ port: first.ports.tcp });
    await producer.send(QUEUE, "kept", { receipt: true });
    first.kill("SIGTERM");
    assert.equal((await first.exited()).code, 0);
    producer.close();
    const second = await spawnService(["mq", "--port", "0", "--data-dir", dataDir], {
      roles: ["tcp", "admin"],
    });
    try {
      const consumer = await StompClient.connect({ port: second.ports.tcp });
      const message = await consumer.subscribe(QUEUE).next();
      assert.equal(message?.text, "kept");
      await consumer.disconnect();
    } finally {
      second.kill("SIGTERM");
      await second.exited();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});
