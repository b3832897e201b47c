// The differential corpus (corpus.ts) run against our cache and against
// redis-server 7, over raw sockets in RESP2 and in RESP3: every reply must
// be the same bytes. Skipped visibly when redis-server is missing, a
// failure under REQUIRE_INTEROP=1.

import assert from "node:assert/strict";
import { isIncomplete } from "../../../lib/decode.ts";
import { decodeReply, encodeCommand, splitInline } from "../../../lib/resp/codec.ts";
import { DEFAULT_LIMITS, RespMap, RespSet, type RespValue } from "../../../lib/resp/types.ts";
import { utf8 } from "../../../lib/bytes.ts";
import { service } from "../../../services/cache/mod.ts";
import { interopTest } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";
import { corpusLines } from "./corpus.ts";
import { startRedis } from "./redis_server.ts";

interface Reply {
  raw: string;
  value: RespValue;
}

/** Sends each corpus line on one connection and captures each raw reply. */
async function runCorpus(port: number, protocol: 2 | 3): Promise<Reply[]> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let buf = new Uint8Array(0);
  const chunk = new Uint8Array(64 * 1024);
  async function readReply(): Promise<Reply> {
    while (true) {
      const result = decodeReply(buf, DEFAULT_LIMITS);
      if (!isIncomplete(result)) {
        const raw = String.fromCharCode(...buf.subarray(0, result.bytesUsed));
        buf = buf.slice(result.bytesUsed);
        return { raw, value: result.value };
      }
      const n = await conn.read(chunk);
      if (n === null) throw new Error("connection closed");
      const next = new Uint8Array(buf.length + n);
      next.set(buf);
      next.set(chunk.subarray(0, n), buf.length);
      buf = next;
    }
  }
  async function send(args: Uint8Array[]): Promise<Reply> {
    await conn.write(encodeCommand(args));
    return await readReply();
  }
  if (protocol === 3) await send([utf8("HELLO"), utf8("3")]);
  await send([utf8("FLUSHALL")]);
  const replies: Reply[] = [];
  for (const { line } of corpusLines()) replies.push(await send(splitInline(utf8(line))));
  return replies;
}

function sortedItems(value: RespValue): string {
  let items: RespValue[] = [];
  if (Array.isArray(value)) items = value;
  else if (value instanceof RespSet) items = value.items;
  else if (value instanceof RespMap) items = value.entries.flat();
  return items.map((item) => JSON.stringify(item)).sort().join("|");
}

for (const protocol of [2, 3] as const) {
  interopTest(`cache replies match redis-server byte for byte (RESP${protocol}, corpus)`, {
    binaries: ["redis-server"],
    async fn() {
      await using redis = await startRedis();
      await using cache = await startService(service);
      const ours = await runCorpus(cache.addresses.tcp.port, protocol);
      const theirs = await runCorpus(redis.port, protocol);
      const lines = corpusLines();
      assert.ok(lines.length >= 300, `corpus has ${lines.length} commands`);
      const mismatches: string[] = [];
      lines.forEach(({ line, unordered }, i) => {
        const same = unordered
          ? ours[i].raw.slice(0, 4) === theirs[i].raw.slice(0, 4) &&
            sortedItems(ours[i].value) === sortedItems(theirs[i].value)
          : ours[i].raw === theirs[i].raw;
        if (!same) {
          mismatches.push(
            `${line}\n   ours:  ${JSON.stringify(ours[i].raw)}\n   redis: ${
              JSON.stringify(theirs[i].raw)
            }`,
          );
        }
      });
      assert.deepEqual(
        mismatches,
        [],
        `${mismatches.length} replies differ:\n${mismatches.join("\n")}`,
      );
    },
  });
}
