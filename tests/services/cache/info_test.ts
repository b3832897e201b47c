// INFO and CLIENT LIST as dashboards and client libraries read them: the
// same sections for each INFO argument, every field redis-server 7.0.15
// shows in its order, error counts by code, and CLIENT LIST's fields and
// flags for blocked, subscribed and MULTI clients (the same script runs
// against both servers).

import assert from "node:assert/strict";
import { fromUtf8 } from "../../../lib/bytes.ts";
import { RespClient } from "../../../lib/resp/client.ts";
import { type RespValue, RespVerbatim } from "../../../lib/resp/types.ts";
import { service } from "../../../services/cache/mod.ts";
import { interopTest } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";
import { startRedis } from "./redis_server.ts";
import { waitFor } from "./wait.ts";

function text(value: RespValue): string {
  if (value instanceof RespVerbatim) return fromUtf8(value.text);
  if (value instanceof Uint8Array) return fromUtf8(value);
  return String(value);
}

/** Field names of INFO text; per-command and per-database lines are left to their values. */
function fieldNames(info: string): string[] {
  return info.split("\r\n")
    .filter((line) => line !== "")
    .map((line) => line.startsWith("#") ? line : line.slice(0, line.indexOf(":")))
    .filter((name) => !/^(cmdstat_|errorstat_|latency_percentiles_usec_|db\d+$)/.test(name));
}

function errorCounts(info: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const match of info.matchAll(/errorstat_(\w+):count=(\d+)/g)) {
    counts.set(match[1], Number(match[2]));
  }
  return counts;
}

/** What the script sees on one server. */
async function observe(port: number): Promise<Record<string, unknown>> {
  using client = await RespClient.connect({ port });
  const seen: Record<string, unknown> = {};
  for (const argument of [[], ["default"], ["all"], ["everything"], ["memory", "cpu"]]) {
    const info = text(await client.send("INFO", ...argument));
    seen[`sections ${argument.join(" ")}`] = fieldNames(info).filter((n) => n.startsWith("#"));
  }
  seen.fields = fieldNames(text(await client.send("INFO", "everything")));
  const before = errorCounts(text(await client.send("INFO", "errorstats")));
  await client.send("NOSUCHCOMMAND").catch(() => {});
  await client.send("SET", "s", "v");
  await client.send("LPUSH", "s", "x").catch(() => {});
  await client.send("GET").catch(() => {});
  const after = errorCounts(text(await client.send("INFO", "errorstats")));
  seen.errors = [...after].map(([code, n]) => `${code} +${n - (before.get(code) ?? 0)}`).sort();
  // A blocked, a subscribed and a MULTI client next to this one.
  using blocked = await RespClient.connect({ port });
  const popped = blocked.send("BLPOP", "never", 0).catch(() => {});
  using subscriber = await RespClient.connect({ port });
  await subscriber.send("SUBSCRIBE", "news");
  using transaction = await RespClient.connect({ port });
  await transaction.send("MULTI");
  await transaction.send("GET", "s");
  await waitFor("the BLPOP to park", async () => {
    return /blocked_clients:1\b/.test(text(await client.send("INFO", "clients")));
  });
  const lines = text(await client.send("CLIENT", "LIST")).trim().split("\n");
  seen.clientFields = lines[0].split(" ").map((field) => field.slice(0, field.indexOf("=")));
  seen.clients = lines.map((line) => {
    const flags = /flags=(\S+)/.exec(line)![1];
    const cmd = /cmd=(\S+)/.exec(line)![1];
    const multi = /multi=(\S+)/.exec(line)![1];
    return `${cmd} flags=${flags} multi=${multi}`;
  }).sort();
  blocked.close();
  await popped;
  return seen;
}

interopTest("INFO sections and fields, error stats and CLIENT LIST match redis-server", {
  binaries: ["redis-server"],
  async fn() {
    await using redis = await startRedis();
    await using cache = await startService(service);
    const theirs = await observe(redis.port);
    const ours = await observe(cache.addresses.tcp.port);
    assert.deepEqual(ours, theirs);
  },
});
