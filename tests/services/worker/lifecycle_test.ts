// SIGTERM while a message waits for its next retry: the worker cuts the
// wait short, exits 0 within its drain timeout, and the message goes back
// to the queue unacknowledged (no mail was sent, none is lost).

import assert from "node:assert/strict";
import { DEAD_PORT } from "../../_support/dead_port.ts";
import { spawnService } from "../../_support/subprocess.ts";
import { waitFor } from "../cache/wait.ts";
import { Fixture, NOTIFY_TO, spellEvent } from "./_fixture.ts";

const WAIT = { attempts: 1_500, intervalMs: 20 };

Deno.test("worker: SIGTERM during a retry wait exits 0 and hands the message back", async () => {
  await using stack = await Fixture.start();
  await stack.stopSmtp();
  const config = stack.workerConfig();
  const worker = await spawnService([
    "worker",
    "--port=0",
    "--admin-port=0",
    `--mq=${config.mq}`,
    `--resolver=${config.resolver}`,
    // The smtp is down; not its released port, which a test running
    // alongside could be given, but one where nothing ever listens.
    `--smtp-port=${DEAD_PORT}`,
    `--notify-to=${NOTIFY_TO}`,
    // A retry wait far longer than the drain timeout: only cutting it short exits in time.
    "--retry-base-ms=120000",
    "--retry-max-ms=120000",
    "--drain-timeout-ms=5000",
  ], { roles: ["admin"] });
  let status: Deno.CommandStatus;
  try {
    await stack.publish(spellEvent(8, "Silencio"));
    await waitFor(
      "the first attempt's failure",
      () => worker.lines.some((line) => /spell 8: attempt 1 failed/.test(line)),
      WAIT,
    );
    assert.equal((await stack.queue()).inFlight, 1);
    worker.kill("SIGTERM");
    status = await worker.exited();
  } finally {
    worker.kill("SIGKILL");
  }
  assert.equal(status.code, 0, worker.lines.join("\n"));
  await waitFor("the message back in the queue", async () => {
    const queue = await stack.queue();
    return queue.depth === 1 && queue.inFlight === 0;
  }, WAIT);
  assert.equal((await stack.queue()).stats.acked, 0);
});
