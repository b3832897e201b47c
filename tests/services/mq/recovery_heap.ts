// Run by backlog_test.ts as a subprocess with --v8-flags=--expose-gc:
// writes COUNT small messages to a message log in DIR, reopens it, and
// prints the memory (heap and external) that recovery's result holds per live message (collected
// before each reading, so it is what stays reachable, not garbage).
//
//   deno run -A --v8-flags=--expose-gc tests/services/mq/recovery_heap.ts DIR COUNT

import { realFiles } from "../../../lib/fs/file_layer.ts";
import { MessageLog } from "../../../services/mq/message_log.ts";

const [dir, countText] = Deno.args;
const count = Number(countText);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");

const first = MessageLog.open({ files: realFiles, dir });
const body = new Uint8Array(100);
for (let n = 0; n < count; n++) {
  first.log.append("deep", {
    headers: [["n", String(n)], ["content-type", "text/plain"]],
    priority: 4,
    expiresAt: 0,
    notBefore: 0,
    timestamp: 1_700_000_000_000 + n,
    deliveries: 0,
  }, body);
}
first.log.close();
gc();
// The heap and what lives outside it (typed arrays' buffers).
const used = () => Deno.memoryUsage().heapUsed + Deno.memoryUsage().external;
const before = used();
const second = MessageLog.open({ files: realFiles, dir });
// Twice, a turn apart: the segments' read buffers are freed after the first.
gc();
await new Promise((resolve) => setTimeout(resolve, 50));
gc();
const after = used();
if (second.recovered.messages.length !== count) throw new Error("not every message recovered");
console.log(JSON.stringify({ bytesPerMessage: (after - before) / count }));
second.log.close();
