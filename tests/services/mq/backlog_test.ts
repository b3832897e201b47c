// Memory and disk under a deep backlog: the broker and its log on a real
// disk (in a temporary directory), MQ_BACKLOG messages (default 50000; the
// issue's 1M: MQ_BACKLOG=1000000, a few minutes) published to one queue with
// nobody consuming, then a restart on that log, then every message consumed
// and acknowledged, in order. Checked at each stage, from the broker's and
// the log's own accounting (not timings):
//   - a queue indexes at most --index-window messages and holds at most the
//     body window in memory, whatever the backlog;
//   - recovery keeps no per-message object for the spilled tail;
//   - disk use tracks the live messages: about one record per message while
//     they wait, one segment once they are all acknowledged.
// The heap is printed with MQ_BACKLOG_PRINT=1 (add --v8-flags=--expose-gc
// to collect first; it depends on the collector, so it is reported, not
// asserted).

import assert from "node:assert/strict";
import { realFiles } from "../../../lib/fs/file_layer.ts";
import { type Frame, headerOf } from "../../../lib/stomp/types.ts";
import { Broker, type ConnectionPort } from "../../../services/mq/broker.ts";
import { MessageLog } from "../../../services/mq/message_log.ts";
import { DEFAULT_SESSION_LIMITS, parseDestination } from "../../../services/mq/session.ts";

const BACKLOG = Number(Deno.env.get("MQ_BACKLOG") ?? 50_000);
const PRINT = Deno.env.get("MQ_BACKLOG_PRINT") === "1";
const BODY_BYTES = 100;
const INDEX_WINDOW = 10_000;
const BODY_WINDOW_BYTES = 8 * 1024 * 1024;
const SEGMENT_BYTES_MAX = 64 * 1024 * 1024;

function heapMb(): string {
  // Collected first when run with --v8-flags=--expose-gc.
  (globalThis as { gc?: () => void }).gc?.();
  const { heapUsed, external } = Deno.memoryUsage();
  return `${(heapUsed / 1e6).toFixed(1)} MB + external ${(external / 1e6).toFixed(1)}`;
}

function note(text: string): void {
  if (PRINT) console.log(`backlog ${BACKLOG}: ${text}, heap ${heapMb()} MB`);
}

class Sink implements ConnectionPort {
  readonly id = "c";
  readonly version = "1.2" as const;
  frames: Frame[] = [];
  hasRoom(): boolean {
    return this.frames.length < 1000;
  }
  write(frame: Frame): void {
    this.frames.push(frame);
  }
}

Deno.test(`mq: a backlog of ${BACKLOG} messages stays within the memory and disk bounds`, async () => {
  const dir = await Deno.makeTempDir({ prefix: "underhood-mq-backlog-" });
  try {
    const destination = parseDestination("/queue/deep", DEFAULT_SESSION_LIMITS);
    const body = new Uint8Array(BODY_BYTES).fill(0x61);
    const options = {
      indexWindow: INDEX_WINDOW,
      bodyWindowBytes: BODY_WINDOW_BYTES,
      depthMax: 2_000_000,
    };
    note("start");
    let opened = MessageLog.open({ files: realFiles, dir, segmentBytesMax: SEGMENT_BYTES_MAX });
    let broker = new Broker({ log: opened.log, ...options });
    for (let n = 0; n < BACKLOG; n++) {
      const headers: [string, string][] = [["n", String(n)]];
      broker.publish("", { destination, destinationText: "/queue/deep", headers, body });
      if (n % 10_000 === 9_999) opened.log.flush();
    }
    opened.log.flush();
    let queue = broker.queue("deep")!;
    assert.equal(queue.depth, BACKLOG);
    assert.ok(queue.indexed <= INDEX_WINDOW, `${queue.indexed} indexed`);
    assert.ok(queue.memoryBytes <= BODY_WINDOW_BYTES, `${queue.memoryBytes} body bytes held`);
    const recordBytes = opened.log.sizeBytes / BACKLOG;
    assert.ok(
      recordBytes < BODY_BYTES + 100,
      `${recordBytes.toFixed(0)} bytes on disk per message`,
    );
    note(`published, ${(opened.log.sizeBytes / 1e6).toFixed(0)} MB on disk`);
    opened.log.close();

    // A restart on the deep log.
    opened = MessageLog.open({ files: realFiles, dir, segmentBytesMax: SEGMENT_BYTES_MAX });
    assert.equal(opened.recovered.messages.length, BACKLOG);
    note("log reopened");
    broker = new Broker({ log: opened.log, recovered: opened.recovered.messages, ...options });
    opened.recovered = undefined as never; // as the service does: only the broker keeps what it needs
    queue = broker.queue("deep")!;
    assert.equal(queue.depth, BACKLOG);
    assert.ok(queue.indexed <= INDEX_WINDOW, `${queue.indexed} indexed after recovery`);
    note("recovered");

    // Drain in order, acknowledging each.
    const sink = new Sink();
    broker.connect(sink);
    broker.subscribe("c", {
      id: "s",
      destination,
      destinationText: "/queue/deep",
      ack: "client-individual",
      prefetch: 1000,
    });
    let next = 0;
    while (next < BACKLOG) {
      const frames = sink.frames.splice(0);
      assert.ok(frames.length > 0, `stalled after ${next}`);
      for (const frame of frames) {
        assert.equal(headerOf(frame, "n"), String(next++));
        broker.ack("c", headerOf(frame, "ack")!);
      }
      await Promise.resolve(); // the ACKs' dispatch runs in a microtask
      if (next % 100_000 < 1000) {
        assert.ok(queue.indexed <= INDEX_WINDOW, `${queue.indexed} indexed while draining`);
      }
    }
    opened.log.flush();
    assert.equal(queue.depth, 0);
    assert.equal(opened.log.segmentCount, 1, "every acknowledged segment reclaimed");
    assert.ok(
      opened.log.sizeBytes <= SEGMENT_BYTES_MAX / 4,
      `${opened.log.sizeBytes} bytes of acknowledged records kept`,
    );
    note(`drained, ${(opened.log.sizeBytes / 1e6).toFixed(1)} MB on disk`);
    opened.log.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mq: recovery holds a few numbers per live message, not an object with its headers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "underhood-mq-recovery-heap-" });
  try {
    const script = new URL("./recovery_heap.ts", import.meta.url).pathname;
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--v8-flags=--expose-gc", script, dir, "50000"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(stdout);
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const { bytesPerMessage } = JSON.parse(out);
    // Measured: 691 bytes per message with an object per message
    // (LoggedMessage and its parsed headers), 42 with RecoveryIndex.
    assert.ok(
      bytesPerMessage < 200,
      `recovery holds ${bytesPerMessage.toFixed(0)} bytes per message`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
